package sim

import (
	"fmt"
	"maps"
	"slices"

	"github.com/weirmq/weir/sm"
)

// Certificate revocation in the workload. In the seeds that draw it
// (Config.Revocations), every workload client holds a certificate: a
// serial from the revocation stream, registered in the controllers'
// registry (sm.CertRequest) at the start. A revocation director revokes
// one client's certificate at a time during the safety phase (resending
// until a controller applied it), and sometimes issues that client a new
// one a while later, which it then connects with.
//
// The network models what the production transport does with the set a
// node reports in sm.Ready.Revoked (runtime.RevocationSink): after a small
// adapter lag, the node's process closes its live connections from revoked
// certificates — replies in flight on them are lost, and a client waiting
// for an answer on one sees the disconnect (outcome unknown) — and refuses
// them at the handshake from then on: a request that arrives with a revoked
// serial is not delivered, and its client sees the refusal (the request
// certainly did nothing). A revoked client keeps trying (after a reconnect
// backoff), so it meets every node. A restarted process starts with an
// empty set until its node reports one; in that window, and in the adapter
// lag, requests reach the state machines, which refuse them themselves
// (CERTIFICATE_REVOKED, sm.ProbeRevokedCertRefused).
//
// The revocation checker (judgeServed) holds brokers to the bound the ACL
// judge uses: no produce or fetch that came with a certificate is answered
// OK when it reached the broker later than aclPropagationBound after a
// controller first applied that certificate's revocation. The revocation
// travels exactly as the rules do (a metadata version in the controller's
// answers to the brokers' heartbeats), and a broker serves only within its
// lease, so the same argument bounds it.

// revocations is the run's certificate state.
type revocations struct {
	on  bool
	rng *rng // the director's draws and the serials
	lag *rng // the transport adapters' lag
	// serials is each workload client's current certificate serial.
	serials map[sm.NodeID]string
	// revokedAt is when a controller first applied each revocation;
	// pending the revocations sent and not yet applied anywhere, with
	// when they were last sent.
	revokedAt map[string]sm.Time
	pending   map[string]sm.Time
	// requests are the produces and fetches with a certificate that
	// reached a broker, until it answered them.
	requests map[reqKey]reqSeen
	// revoked counts the director's revocations; judged the OK answers to
	// requests of revoked certificates the checker judged.
	revoked, judged int
	reqID           uint64
}

type reqKey struct {
	client sm.NodeID
	reqID  uint64
}

// reqSeen is a request as it reached a broker.
type reqSeen struct {
	serial string
	at     sm.Time
}

// revocationsMax bounds the director's revocations per run; revokeEvery
// is how often it acts, and revokeResend how long it waits before it
// resends a revocation no controller applied.
const (
	revocationsMax   = 3
	revokeResend     = 1500 * sm.Millisecond
	reconnectBackoff = 200 * sm.Millisecond
	transportLagMax  = 30 * sm.Millisecond
)

func newRevocations(cfg Config) revocations {
	root := newRNG(cfg.Seed)
	return revocations{on: cfg.Revocations, rng: root.child("revoke"), lag: root.child("revoke-lag"),
		serials: map[sm.NodeID]string{}, revokedAt: map[string]sm.Time{}, pending: map[string]sm.Time{}, requests: map[reqKey]reqSeen{}}
}

// newSerial is a fresh certificate serial in the registry's form (lowercase
// hex, as pki.SerialString writes it).
func (r *revocations) newSerial() string {
	return fmt.Sprintf("%x", r.rng.Uint64()|1<<62)
}

// serialOf is the certificate a message between a client and a server
// travels under: the client's current one ("" for the harness's admin
// client and between servers).
func (w *World) serialOf(m sm.Envelope) string {
	if !w.rev.on {
		return ""
	}
	if s, ok := w.rev.serials[m.From]; ok {
		return s
	}
	return w.rev.serials[m.To]
}

// sendCert hands the controller leader a registry change from the admin
// client (the admin API's requests are not checked against the ACLs).
func (w *World) sendCert(req sm.CertRequest) {
	id := w.ControllerLeader()
	if id == sm.NoNode {
		return
	}
	w.rev.reqID++
	req.ReqID = w.rev.reqID
	h := w.hosts[id]
	inc := h.incarnation
	w.after(sm.Millisecond, func() {
		h.deliver(inc, sm.Received{From: adminClientID, Msg: req, Principal: "admin"})
	})
}

// issueCert gives client id a new certificate and registers it.
func (w *World) issueCert(id sm.NodeID) {
	s := w.rev.newSerial()
	w.rev.serials[id] = s
	w.sendCert(sm.CertRequest{Register: &sm.CertRecord{Serial: s, Principal: w.principal(id), Role: "client"}})
}

// startRevocations issues every workload client a certificate and starts
// the director.
func (w *World) startRevocations() {
	r := w.rev.rng
	for _, id := range w.clientIDs() {
		if id != adminClientID {
			w.issueCert(id)
		}
	}
	var direct func()
	direct = func() {
		if !w.faultsOn {
			return
		}
		w.directRevocations()
		w.after(500*sm.Millisecond, direct)
	}
	w.after(sm.Duration(r.between(int64(sm.Second), int64(3*sm.Second))), direct)
}

// directRevocations resends revocations no controller applied yet and,
// now and then, revokes another client's certificate (and may issue it a
// new one later).
func (w *World) directRevocations() {
	r := w.rev.rng
	for _, s := range slices.Sorted(maps.Keys(w.rev.pending)) {
		if w.now >= w.rev.pending[s].Add(revokeResend) {
			w.revoke(s)
		}
	}
	if w.rev.revoked >= revocationsMax || len(w.rev.pending) > 0 || !r.chance(0.25) {
		return
	}
	var live []sm.NodeID
	for _, id := range slices.Sorted(maps.Keys(w.rev.serials)) {
		if _, done := w.rev.revokedAt[w.rev.serials[id]]; !done {
			live = append(live, id)
		}
	}
	if len(live) == 0 {
		return
	}
	id := live[r.intn(len(live))]
	w.rev.revoked++
	w.revoke(w.rev.serials[id])
	if r.chance(0.5) {
		w.after(sm.Duration(r.between(int64(sm.Second), int64(4*sm.Second))), func() {
			if w.faultsOn {
				w.issueCert(id)
			}
		})
	}
}

// revoke sends the revocation of serial (again).
func (w *World) revoke(serial string) {
	w.rev.pending[serial] = w.now
	w.sendCert(sm.CertRequest{Revoke: &sm.CertRecord{Serial: serial, Role: "client", Reason: "keyCompromise", RevokedAtMs: int64(w.now / sm.Time(sm.Millisecond))}})
}

// noteRevocations records when a controller first applied a pending
// revocation.
func (w *World) noteRevocations(h *host) {
	if !w.rev.on || len(w.rev.pending) == 0 || h.kind != kindController || !h.up {
		return
	}
	c := w.controllerNode(h.id)
	if c == nil {
		return
	}
	for _, s := range slices.Sorted(maps.Keys(w.rev.pending)) {
		if rec := c.Certs()[s]; rec != nil && rec.Revoked {
			delete(w.rev.pending, s)
			w.rev.revokedAt[s] = w.now
			w.stats.reach("certificate revoked")
		}
	}
}

// Revoke implements runtime.RevocationSink as the production process does:
// after the adapter's lag, the set is what the process's transport
// enforces, and the live connections of revoked certificates are closed.
func (h *host) Revoke(serials []string) {
	w := h.w
	if !w.rev.on {
		return
	}
	set := make(map[string]bool, len(serials))
	for _, s := range serials {
		set[s] = true
	}
	inc := h.incarnation
	w.after(sm.Duration(w.rev.lag.between(0, int64(transportLagMax))), func() {
		if h.up && h.incarnation == inc {
			h.enforce(set)
		}
	})
}

// enforce makes set the revoked certificates h's transport refuses and
// closes h's connections from them.
func (h *host) enforce(set map[string]bool) {
	w := h.w
	h.tlsRevoked = set
	for _, id := range slices.Sorted(maps.Keys(h.conns)) {
		serial := h.conns[id]
		if !set[serial] {
			continue
		}
		delete(h.conns, id)
		w.stats.reach("revocation-closes-connection")
		w.trace.note(w.now, h.id, "closed the connection of %v: certificate %s revoked", id, serial)
		if c := w.clients[id]; c != nil && c.inflight != nil && c.inflight.to == h.id && w.rev.serials[id] == serial {
			c.abandon("DISCONNECTED")
			c.next(reconnectBackoff)
		}
	}
}

// admit is h's transport at a client message's arrival: false when its
// certificate is revoked there (refused at the handshake; its client sees
// the refusal); otherwise the connection is live and a produce or fetch
// is noted for the checker.
func (h *host) admit(m sm.Envelope, serial string) bool {
	w := h.w
	if serial == "" || !h.up {
		return true // no certificate, or no process to connect to (lost)
	}
	if h.tlsRevoked[serial] {
		w.stats.reach("revoked handshake refused")
		if c, id := w.clients[m.From], reqIDOf(m.Msg); c != nil && id != 0 {
			w.after(w.cfg.NetLatency, func() { c.refused(id) })
		}
		return false
	}
	if h.conns == nil {
		h.conns = map[sm.NodeID]string{}
	}
	h.conns[m.From] = serial
	if h.kind == kindBroker {
		if id := reqIDOf(m.Msg); id != 0 {
			switch m.Msg.(type) {
			case sm.ProduceRequest, sm.FetchRequest:
				w.rev.requests[reqKey{m.From, id}] = reqSeen{serial: serial, at: w.now}
			}
		}
	}
	return true
}

// closedOn reports whether a server's reply to a client, sent under
// serial, is lost because the server closed that connection.
func (w *World) closedOn(m sm.Envelope, serial string) bool {
	h := w.hosts[m.From]
	return serial != "" && h != nil && h.tlsRevoked[serial]
}

// reqIDOf is the request ID of a client request the workload sends (0 for
// anything else).
func reqIDOf(m sm.Message) uint64 {
	switch r := m.(type) {
	case sm.ProduceRequest:
		return r.ReqID
	case sm.FetchRequest:
		return r.ReqID
	case sm.MetadataRequest:
		return r.ReqID
	case sm.CreateTopicRequest:
		return r.ReqID
	case sm.DeleteTopicRequest:
		return r.ReqID
	case sm.ClusterStatusRequest:
		return r.ReqID
	}
	return 0
}

// judgeServed is the revocation checker, at the moment a broker answers a
// client's produce or fetch (see the comment at the top).
func (w *World) judgeServed(m sm.Envelope) {
	if !w.rev.on || !m.From.IsBroker() {
		return
	}
	var code sm.Code
	var reqID uint64
	switch r := m.Msg.(type) {
	case sm.ProduceResponse:
		code, reqID = r.Code, r.ReqID
	case sm.FetchResponse:
		code, reqID = r.Code, r.ReqID
	default:
		return
	}
	k := reqKey{m.To, reqID}
	seen, ok := w.rev.requests[k]
	if !ok {
		return
	}
	delete(w.rev.requests, k)
	at, revoked := w.rev.revokedAt[seen.serial]
	if code != sm.CodeOK || !revoked || seen.at < at {
		return
	}
	w.rev.judged++
	w.stats.reach("revoked certificate served within the bound")
	if bound := w.aclPropagationBound(); seen.at > at.Add(bound) {
		w.fail("revocation: %v answered %v's %v (request %d) OK, which reached it at %v with certificate %s, revoked at %v: later than the propagation bound %v",
			m.From, m.To, m.Msg.Kind(), reqID, seen.at, seen.serial, at, bound)
	}
}
