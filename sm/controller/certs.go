package controller

import (
	"maps"
	"slices"

	"github.com/weirmq/weir/sm"
)

// The certificate registry is metadata: what the certificate authority
// issued and what it revoked, by serial, through the raft log. A
// revocation bumps the metadata version, and every broker and controller
// gets the revoked serials in its next delta (sm.MetadataDelta.Revoked):
// their processes refuse those certificates at the handshake and close
// their live connections.

// certsMax bounds the registry (a record is a few hundred bytes in the
// snapshot).
const certsMax = 100_000

// onCert proposes a registry change.
func (n *Node) onCert(ev sm.Received, req sm.CertRequest) {
	reply := func(code sm.Code, msg string) {
		n.send(ev.From, sm.CertResponse{ReqID: req.ReqID, Code: code, Message: msg, LeaderHint: n.Leader()})
	}
	if req.List {
		if req.Register != nil || req.Revoke != nil {
			reply(sm.CodeInvalidRequest, "a certificate request lists, registers or revokes: exactly one")
			return
		}
		n.send(ev.From, sm.CertResponse{ReqID: req.ReqID, LeaderHint: n.Leader(), Records: n.md.certList(), RevokedVersion: n.md.revokedVersion})
		return
	}
	if !n.IsLeader() {
		reply(sm.CodeNotLeader, "not the controller leader")
		return
	}
	c := &certChange{Register: req.Register, Revoke: req.Revoke}
	if r := n.md.checkCert(c); r.code != sm.CodeOK {
		reply(r.code, r.message)
		return
	}
	p := &proposal{client: ev.From, reqID: req.ReqID, principal: ev.Principal}
	if _, err := n.propose(&command{Cert: c}, p); err != nil {
		reply(sm.CodeLeaderNotAvailable, err.Error())
	}
}

// certChange is the registry command: exactly one of Register and Revoke.
type certChange struct {
	Register *sm.CertRecord `json:"register,omitempty"`
	Revoke   *sm.CertRecord `json:"revoke,omitempty"`
}

// checkCert validates a change against the registry as it stands.
func (md *metadata) checkCert(c *certChange) result {
	switch {
	case (c.Register == nil) == (c.Revoke == nil):
		return fail(sm.CodeInvalidRequest, "a certificate change registers or revokes exactly one certificate")
	case c.Register != nil && c.Register.Serial == "":
		return fail(sm.CodeInvalidRequest, "register: serial is empty")
	case c.Register != nil && c.Register.Revoked:
		return fail(sm.CodeInvalidRequest, "register: a certificate is registered active; revoke it after")
	case c.Register != nil && md.certs[c.Register.Serial] != nil:
		return fail(sm.CodeInvalidRequest, "register: certificate %s is registered already", c.Register.Serial)
	case c.Revoke != nil && c.Revoke.Serial == "":
		return fail(sm.CodeInvalidRequest, "revoke: serial is empty")
	case c.Revoke != nil && c.Revoke.Reason == "":
		return fail(sm.CodeInvalidRequest, "revoke: reason is empty")
	case c.Register != nil && len(md.certs) >= certsMax,
		c.Revoke != nil && md.certs[c.Revoke.Serial] == nil && len(md.certs) >= certsMax:
		return fail(sm.CodeInvalidRequest, "the registry holds %d certificates, the most it keeps", len(md.certs))
	}
	return result{}
}

// applyCert applies a registry change. Revoking a certificate again
// changes nothing.
func (md *metadata) applyCert(c *certChange) result {
	if r := md.checkCert(c); r.code != sm.CodeOK {
		return r
	}
	if c.Register != nil {
		rec := *c.Register
		md.certs[rec.Serial] = &rec
		return result{cert: rec}
	}
	rec := md.certs[c.Revoke.Serial]
	if rec == nil {
		rec = &sm.CertRecord{Serial: c.Revoke.Serial, Principal: c.Revoke.Principal, Role: c.Revoke.Role, NotAfterMs: c.Revoke.NotAfterMs}
		md.certs[rec.Serial] = rec
	}
	if rec.Revoked {
		return result{cert: *rec}
	}
	rec.Revoked, rec.Reason, rec.RevokedAtMs = true, c.Revoke.Reason, c.Revoke.RevokedAtMs
	md.revokedVersion = md.touch()
	return result{cert: *rec}
}

// certList is a copy of every record, sorted by serial.
func (md *metadata) certList() []sm.CertRecord {
	out := make([]sm.CertRecord, 0, len(md.certs))
	for _, serial := range slices.Sorted(maps.Keys(md.certs)) {
		out = append(out, *md.certs[serial])
	}
	return out
}

// revoked is every revoked serial, sorted (empty, not nil, for none).
func (md *metadata) revoked() []string {
	out := []string{}
	for _, serial := range slices.Sorted(maps.Keys(md.certs)) {
		if md.certs[serial].Revoked {
			out = append(out, serial)
		}
	}
	return out
}

// refused answers a client request that came with a certificate the
// applied registry holds revoked (CodeCertificateRevoked, audited) and
// reports whether it did: the state machine's own check behind the
// transport's, which enforces the set only once this node reported it.
func (n *Node) refused(ev sm.Received) bool {
	if ev.Serial == "" {
		return false
	}
	if rec := n.md.certs[ev.Serial]; rec == nil || !rec.Revoked {
		return false
	}
	reply, ok := sm.RefuseRevoked(ev.Msg, ev.Serial, n.Leader())
	if !ok {
		return false // peers' traffic: the transport's to cut off
	}
	n.probe(sm.ProbeRevokedCertRefused)
	n.out.Security = append(n.out.Security, sm.RevokedEvent(ev))
	n.send(ev.From, reply)
	return true
}

// Certs is the registry, by serial (read-only).
func (n *Node) Certs() map[string]*sm.CertRecord { return n.md.certs }

// syncRevoked reports the revoked serials in Ready when they changed since
// the last report (and once after start).
func (n *Node) syncRevoked() {
	if n.revokedReported && n.md.revokedVersion == n.revokedAt {
		return
	}
	n.revokedReported, n.revokedAt = true, n.md.revokedVersion
	n.out.Revoked = n.md.revoked()
}
