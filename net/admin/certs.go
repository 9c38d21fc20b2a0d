package admin

import (
	"cmp"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/weirmq/weir/net/pki"
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
	// Replaces and Rotated say the certificate renews (or, rotated, rekeys)
	// the one with that serial.
	Replaces string `json:"replaces"`
	Rotated  bool   `json:"rotated"`
}

func (b *certBody) record(revoke bool) (sm.CertRecord, *requestError) {
	serial, rerr := canonicalSerial(b.Serial, "serial")
	if rerr != nil {
		return sm.CertRecord{}, rerr
	}
	rec := sm.CertRecord{Serial: serial, Principal: b.Principal, Role: b.Role}
	if b.Replaces != "" && !revoke {
		if rec.Replaces, rerr = canonicalSerial(b.Replaces, "replaces"); rerr != nil {
			return rec, rerr
		}
		rec.Rotated = b.Rotated
	} else if b.Rotated {
		return rec, badRequest("rotated: says which certificate it replaces only with replaces (a serial)")
	}
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

// ---- reads ----

// CertRegistry is the certificate registry as one controller has applied
// it: every record, sorted by serial, and the metadata version of the last
// revocation (sm.CertResponse.RevokedVersion), which numbers CRLs.
type CertRegistry struct {
	Records        []sm.CertRecord
	RevokedVersion uint64
}

// CertAuthority is what a Backend also implements when its controller
// holds a CA's private key ([admin] ca_dir): GET /api/v1/certs/crl is
// signed with it. Without it, or when CA returns an error wrapping
// ErrNoCA, the CRL endpoint answers 501 saying why.
type CertAuthority interface {
	// CA loads the CA that signs CRLs.
	CA() (*pki.CA, error)
}

// ErrNoCA is what CertAuthority.CA wraps when the controller has no CA key
// to sign with.
var ErrNoCA = errors.New("admin: this controller holds no CA key")

// Limits of the certificate list.
const (
	// CertPageDefault and CertPageMax bound one page of GET /api/v1/certs.
	CertPageDefault = 1000
	CertPageMax     = 10_000
)

// certView is one registry record as the read endpoints show it: the
// record's fields (as POST /api/v1/certs answers them) plus its status at
// the time of the answer and its times in RFC 3339.
type certView struct {
	sm.CertRecord
	// Status is "revoked", "expired" (past not_after) or "active".
	Status    string `json:"status"`
	NotAfter  string `json:"not_after,omitempty"`
	RevokedAt string `json:"revoked_at,omitempty"`
}

// Registry statuses, as ?status= takes them.
const (
	certActive  = "active"
	certRevoked = "revoked"
	certExpired = "expired"
)

func viewCert(rec sm.CertRecord, now time.Time) certView {
	v := certView{CertRecord: rec, Status: certActive}
	if rec.NotAfterMs != 0 {
		na := time.UnixMilli(rec.NotAfterMs).UTC()
		v.NotAfter = na.Format(time.RFC3339)
		if now.After(na) {
			v.Status = certExpired
		}
	}
	if rec.Revoked {
		v.Status = certRevoked
		if rec.RevokedAtMs != 0 {
			v.RevokedAt = time.UnixMilli(rec.RevokedAtMs).UTC().Format(time.RFC3339)
		}
	}
	return v
}

// certList is GET /api/v1/certs' data.
type certList struct {
	RevokedVersion uint64 `json:"revoked_version"`
	// Count is this page's; Total every record matching the filters.
	Count int `json:"count"`
	Total int `json:"total"`
	// NextAfter is the serial to pass as ?after= for the next page; null
	// on the last.
	NextAfter    *string    `json:"next_after"`
	Certificates []certView `json:"certificates"`
}

// certFilter is GET /api/v1/certs' query.
type certFilter struct {
	status    string
	principal string
	within    time.Duration // expiring_within; 0 means no such filter
}

func (f certFilter) match(v certView, now time.Time) bool {
	if f.status != "" && v.Status != f.status {
		return false
	}
	if f.principal != "" && v.Principal != f.principal {
		return false
	}
	if f.within > 0 {
		// Expiring: active, with a known expiry within the window (as
		// weir certs expiring counts them).
		if v.Status != certActive || v.NotAfterMs == 0 || time.UnixMilli(v.NotAfterMs).After(now.Add(f.within)) {
			return false
		}
	}
	return true
}

// parseWithin reads expiring_within: a Go duration ("720h") or a number of
// days ("30d").
func parseWithin(s string) (time.Duration, *requestError) {
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if n, err = strconv.Atoi(days); err == nil {
			d = time.Duration(n) * 24 * time.Hour
		}
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 || d > 100*365*24*time.Hour {
		return 0, badRequest("expiring_within: %s, want a positive duration such as 720h or 30d", quoteBounded(s))
	}
	return d, nil
}

// onListCerts answers GET /api/v1/certs[?status=active|revoked|expired]
// [&principal=P][&expiring_within=720h][&limit=N][&after=SERIAL]: the
// registry as this controller has applied it, in the registry's order
// (serials as strings), a page at a time.
func (s *Server) onListCerts(w http.ResponseWriter, r *http.Request) {
	q, rerr := query(r, "status", "principal", "expiring_within", "limit", "after")
	var f certFilter
	limit := CertPageDefault
	if rerr == nil {
		f.status, f.principal = q.Get("status"), q.Get("principal")
		switch f.status {
		case "", certActive, certRevoked, certExpired:
		default:
			rerr = badRequest("status: %s, want active, revoked or expired", quoteBounded(f.status))
		}
	}
	if v := q.Get("expiring_within"); rerr == nil && v != "" {
		f.within, rerr = parseWithin(v)
	}
	if v := q.Get("limit"); rerr == nil && v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > CertPageMax {
			rerr = badRequest("limit: %s, want a number in 1..%d", quoteBounded(v), CertPageMax)
		}
		limit = n
	}
	after := ""
	if v := q.Get("after"); rerr == nil && v != "" {
		after, rerr = canonicalSerial(v, "after")
	}
	if s.refused(w, rerr) {
		return
	}
	reg, leader, ok := s.certs(w, r)
	if !ok {
		return
	}
	now := s.cfg.Now()
	var all []certView
	for _, rec := range reg.Records {
		if v := viewCert(rec, now); f.match(v, now) {
			all = append(all, v)
		}
	}
	start := 0
	if after != "" {
		start, _ = slices.BinarySearchFunc(all, after, func(v certView, serial string) int { return cmp.Compare(v.Serial, serial) })
		if start < len(all) && all[start].Serial == after {
			start++
		}
	}
	page := all[start:]
	var next *string
	if len(page) > limit {
		page = page[:limit]
		next = new(page[limit-1].Serial)
	}
	if page == nil {
		page = []certView{}
	}
	succeed(w, http.StatusOK, certList{RevokedVersion: reg.RevokedVersion, Count: len(page), Total: len(all), NextAfter: next, Certificates: page}, leader)
}

// onDescribeCert answers GET /api/v1/certs/{serial}.
func (s *Server) onDescribeCert(w http.ResponseWriter, r *http.Request) {
	serial, rerr := canonicalSerial(r.PathValue("serial"), "serial")
	if rerr == nil {
		_, rerr = query(r)
	}
	if s.refused(w, rerr) {
		return
	}
	reg, leader, ok := s.certs(w, r)
	if !ok {
		return
	}
	i, found := slices.BinarySearchFunc(reg.Records, serial, func(rec sm.CertRecord, serial string) int { return cmp.Compare(rec.Serial, serial) })
	if !found {
		fail(w, http.StatusNotFound, fmt.Sprintf("certificate %s is not in the registry (weir certs issue registers what it issues; POST /api/v1/certs registers one)", serial), leader)
		return
	}
	succeed(w, http.StatusOK, viewCert(reg.Records[i], s.cfg.Now()), leader)
}

// CRL validity: a CRL made now says the next comes within a day, as
// net/pki's default.
const crlValidity = 24 * time.Hour

// onCRL answers GET /api/v1/certs/crl: a CRL of every revocation in the
// registry, signed by the CA whose key this controller holds, numbered by
// the registry's revocation version. PEM by default; DER for Accept:
// application/pkix-crl. It lists every revoked serial in the registry, so
// one CA's CRL may name another's certificates (serials are random 128-bit
// numbers; they do not collide).
func (s *Server) onCRL(w http.ResponseWriter, r *http.Request) {
	if _, rerr := query(r); s.refused(w, rerr) {
		return
	}
	ca, err := s.crlCA()
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, ErrNoCA) {
			status = http.StatusNotImplemented
		}
		_, leader := s.b.Leader()
		fail(w, status, fmt.Sprintf("no CRL: %v", err), leader)
		return
	}
	reg, _, ok := s.certs(w, r)
	if !ok {
		return
	}
	now := s.cfg.Now()
	var revs []pki.Revocation
	for _, rec := range reg.Records {
		if !rec.Revoked {
			continue
		}
		rv := pki.Revocation{Serial: rec.Serial, Reason: pki.ReasonUnspecified, At: now}
		if reason, err := pki.ParseReason(rec.Reason); err == nil && reason != pki.ReasonRemoveFromCRL {
			rv.Reason = reason
		}
		if rec.RevokedAtMs != 0 {
			rv.At = time.UnixMilli(rec.RevokedAtMs)
		}
		revs = append(revs, rv)
	}
	pemCRL, err := ca.CreateCRL(revs, pki.CRLOptions{Number: reg.RevokedVersion, ThisUpdate: now, NextUpdate: now.Add(crlValidity)})
	if err != nil {
		s.logf("admin: signing the CRL: %v", err)
		_, leader := s.b.Leader()
		fail(w, http.StatusInternalServerError, fmt.Sprintf("signing the CRL: %v", err), leader)
		return
	}
	body, kind := pemCRL, "application/x-pem-file"
	if wantsDER(r.Header.Get("Accept")) {
		b, _ := pem.Decode(pemCRL)
		body, kind = b.Bytes, "application/pkix-crl"
	}
	h := w.Header()
	h.Set("Content-Type", kind)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// wantsDER reports whether an Accept header asks for a DER CRL
// (application/pkix-crl, RFC 5280's media type) rather than PEM.
func wantsDER(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(mt), "application/pkix-crl") {
			return true
		}
	}
	return false
}

func (s *Server) crlCA() (*pki.CA, error) {
	a, ok := s.b.(CertAuthority)
	if !ok {
		return nil, fmt.Errorf("%w (set [admin] ca_dir to the directory of ca.pem and ca-key.pem to serve one, or read the CA directory's crl.pem that weir certs revoke writes)", ErrNoCA)
	}
	return a.CA()
}

// certs reads the registry, answering 503 when it cannot.
func (s *Server) certs(w http.ResponseWriter, r *http.Request) (CertRegistry, sm.NodeID, bool) {
	_, leader := s.b.Leader()
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	reg, err := s.b.Certs(ctx)
	if err != nil {
		fail(w, http.StatusServiceUnavailable, fmt.Sprintf("certificate registry unavailable: %v; retry", err), leader)
		return CertRegistry{}, sm.NoNode, false
	}
	return reg, leader, true
}

// canonicalSerial reads a hexadecimal serial (colons allowed, as openssl
// prints them) in the registry's form: lowercase, no leading zeros.
func canonicalSerial(s, field string) (string, *requestError) {
	serial := strings.ToLower(strings.TrimSpace(strings.ReplaceAll(s, ":", "")))
	if serial == "" || len(serial) > 64 || strings.Trim(serial, "0123456789abcdef") != "" {
		return "", badRequest("%s: %s is not a hexadecimal serial number (weir certs list shows them)", field, quoteBounded(s))
	}
	serial = strings.TrimLeft(serial, "0")
	if serial == "" {
		serial = "0"
	}
	return serial, nil
}

// certsNotAllowed answers the methods /api/v1/certs/{serial} does not
// serve. The fixed paths under it (revoke, crl) share its catch-all: a
// method-less pattern of their own would conflict with GET
// /api/v1/certs/{serial}.
func certsNotAllowed(_ *Server, w http.ResponseWriter, r *http.Request) {
	allow := "GET, HEAD"
	if r.URL.Path == "/api/v1/certs/revoke" {
		allow = "POST"
	}
	w.Header().Set("Allow", allow)
	fail(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s (allowed: %s)", quoteBounded(r.Method), quoteBounded(r.URL.Path), allow), sm.NoNode)
}
