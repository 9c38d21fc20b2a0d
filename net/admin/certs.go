package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/weirmq/weir/sm"
)

// The certificate registry's endpoints. Certificates are issued where the
// CA key is (weir certs issue, in the operator's process); the registry,
// through the controller's raft log, records what was issued and what is
// revoked, and every broker and controller refuses a revoked certificate
// at the handshake and closes its live connections.

// certsCheck is where a client checks a registry write whose outcome is
// unknown (revoking again is harmless).
const certsCheck = "POST /api/v1/certs/revoke (revoking again changes nothing)"

// certBody is POST /api/v1/certs and /api/v1/certs/revoke's body.
type certBody struct {
	Serial    string `json:"serial"`
	Principal string `json:"principal"`
	Role      string `json:"role"`
	NotAfter  string `json:"not_after"` // RFC 3339
	Reason    string `json:"reason"`
}

func (b *certBody) record(revoke bool) (sm.CertRecord, *requestError) {
	serial := strings.ToLower(strings.TrimSpace(strings.ReplaceAll(b.Serial, ":", "")))
	if serial == "" || strings.Trim(serial, "0123456789abcdef") != "" {
		return sm.CertRecord{}, badRequest("serial: %q is not a hexadecimal serial number (weir certs list shows them)", b.Serial)
	}
	serial = strings.TrimLeft(serial, "0")
	if serial == "" {
		serial = "0"
	}
	rec := sm.CertRecord{Serial: serial, Principal: b.Principal, Role: b.Role}
	if b.NotAfter != "" {
		at, err := time.Parse(time.RFC3339, b.NotAfter)
		if err != nil {
			return rec, badRequest("not_after: %v", err)
		}
		rec.NotAfterMs = at.UnixMilli()
	}
	if revoke {
		if b.Reason == "" {
			return rec, badRequest("reason: required (an RFC 5280 reason: keyCompromise, superseded, cessationOfOperation, ...)")
		}
		rec.Reason, rec.RevokedAtMs = b.Reason, time.Now().UnixMilli()
	}
	return rec, nil
}

func (s *Server) onRegisterCert(w http.ResponseWriter, r *http.Request) { s.certWrite(w, r, false) }
func (s *Server) onRevokeCert(w http.ResponseWriter, r *http.Request)   { s.certWrite(w, r, true) }

func (s *Server) certWrite(w http.ResponseWriter, r *http.Request, revoke bool) {
	body, rerr := readJSONBody(r)
	var b certBody
	if rerr == nil {
		rerr = decodeStrict(body, &b)
	}
	var rec sm.CertRecord
	if rerr == nil {
		rec, rerr = b.record(revoke)
	}
	if s.refused(w, rerr) {
		return
	}
	if !s.routeWriteCheck(w, r, certsCheck, body) {
		return
	}
	req := sm.CertRequest{Register: &rec}
	if revoke {
		req = sm.CertRequest{Revoke: &rec}
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	resp, err := s.b.Cert(ctx, req)
	_, leader := s.b.Leader()
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			fail(w, http.StatusServiceUnavailable, fmt.Sprintf("%v; nothing was done, retry", err), leader)
		} else {
			fail(w, http.StatusGatewayTimeout, fmt.Sprintf("outcome unknown (no reply from the controller: %v); check %s", err, certsCheck), leader)
		}
		return
	}
	if resp.LeaderHint != sm.NoNode {
		leader = resp.LeaderHint
	}
	if resp.Code != sm.CodeOK {
		msg := resp.Message
		if msg == "" {
			msg = resp.Code.String()
		}
		fail(w, codeStatus(resp.Code), codeMessage(resp.Code, msg, ""), leader)
		return
	}
	status := http.StatusCreated
	if revoke {
		status = http.StatusOK
	}
	succeed(w, status, resp.Record, leader)
}
