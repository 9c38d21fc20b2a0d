package sim

import (
	"cmp"
	"slices"

	"github.com/weirmq/weir/sm"
)

// network delivers messages between hosts and clients with latency (heavy
// tailed, so messages reorder), loss, duplication, one-way and symmetric
// partitions, isolation, and clogging (FoundationDB's swizzle-clog: a clogged
// link holds its messages until it unclogs).
type network struct {
	w        *World
	blocked  map[link]bool    // from→to drops everything
	cloggedU map[link]sm.Time // from→to holds messages until
	held     map[link][]packet
	drop     float64
	dup      float64
}

type link struct{ from, to sm.NodeID }

// packet is an envelope on its way, with the client certificate its
// connection was made with (serialOf, "" for none).
type packet struct {
	sm.Envelope
	serial string
}

func newNetwork(w *World) *network {
	return &network{w: w, blocked: map[link]bool{}, cloggedU: map[link]sm.Time{}, held: map[link][]packet{}}
}

// send schedules one envelope's delivery (or loses it).
func (n *network) send(m sm.Envelope) {
	w := n.w
	if w.tamper != nil {
		w.tamper(&m)
	}
	w.stats.Messages++
	probe(&w.stats, m.Msg)
	w.judgeServed(m)
	l := link{m.From, m.To}
	if n.blocked[l] {
		w.stats.Dropped++
		return
	}
	// Client requests and replies ride a reliable stream per request (QUIC):
	// they are never duplicated, but a connection can be lost.
	clientTraffic := !m.From.IsServer() || !m.To.IsServer()
	if n.drop > 0 && n.rngFor(m).chance(n.drop) {
		w.stats.Dropped++
		w.stats.Faults[FaultDrop]++
		return
	}
	p := packet{Envelope: m, serial: w.serialOf(m)}
	n.schedule(p, l)
	if !clientTraffic && n.dup > 0 && w.netRNG.chance(n.dup) {
		w.stats.Faults[FaultDuplicate]++
		n.schedule(p, l)
	}
}

func (n *network) schedule(m packet, l link) {
	w := n.w
	if u, ok := n.cloggedU[l]; ok && u > w.now {
		n.held[l] = append(n.held[l], m)
		return
	}
	lat := sm.Duration(n.rngFor(m.Envelope).heavyTail(int64(w.cfg.NetLatency), int64(w.cfg.NetLatencyMax))) + w.grp.delay(m.Envelope)
	w.at(w.now.Add(lat), func() { n.arrive(m) })
}

// rngFor is the stream a message's loss and latency are drawn from: group
// members' traffic has its own (sim/groups.go), so the group workload
// shifts no draw of the rest.
func (n *network) rngFor(m sm.Envelope) *rng {
	if g := &n.w.grp; g.on && (g.isMember(m.From) || g.isMember(m.To)) {
		return g.netRNG
	}
	if g := &n.w.idem; g.on && (g.isProducer(m.From) || g.isProducer(m.To)) {
		return g.netRNG
	}
	return n.w.netRNG
}

// clog holds from→to's messages until until (or until unclog).
func (n *network) clog(l link, until sm.Time) {
	n.cloggedU[l] = until
	n.w.at(until, func() {
		if n.cloggedU[l] == until {
			n.unclog(l)
		}
	})
}

// unclog releases a link's held messages, each with a fresh latency.
func (n *network) unclog(l link) {
	delete(n.cloggedU, l)
	held := n.held[l]
	delete(n.held, l)
	for _, m := range held {
		n.schedule(m, l)
	}
}

// arrive hands the envelope to its destination if the link is still open
// (and, for a client's, its connection: sim/revoke.go).
func (n *network) arrive(p packet) {
	w := n.w
	m := p.Envelope
	if n.blocked[link{m.From, m.To}] {
		w.stats.Dropped++
		return
	}
	if m.To == timeClientID {
		w.onTimeAnswer(m)
		return
	}
	if mb := w.grp.members[m.To]; mb != nil {
		w.trace.event(w.now, m.To, sm.Received{From: m.From, Msg: m.Msg})
		mb.receive(m)
		return
	}
	if p := w.idem.producers[m.To]; p != nil {
		w.trace.event(w.now, m.To, sm.Received{From: m.From, Msg: m.Msg})
		p.receive(m)
		return
	}
	if c := w.clients[m.To]; c != nil {
		if w.closedOn(m, p.serial) {
			return // the server closed the connection the reply was on
		}
		w.trace.event(w.now, m.To, sm.Received{From: m.From, Msg: m.Msg})
		c.receive(m)
		return
	}
	h := w.routeTo(m.From, m.To)
	if h == nil {
		w.fail("message to unknown node %v from %v: %v", m.To, m.From, m.Msg.Kind())
		return
	}
	if !h.admit(m, p.serial) {
		return
	}
	h.deliver(h.incarnation, sm.Received{From: m.From, Msg: m.Msg, Principal: w.principal(m.From), Serial: p.serial})
}

// probe counts the protocol outcomes a message shows.
func probe(s *Stats, m sm.Message) {
	switch r := m.(type) {
	case sm.ProduceResponse:
		if r.Code != sm.CodeOK {
			s.reach("produce " + r.Code.String())
		}
	case sm.FetchResponse:
		if r.Code != sm.CodeOK {
			s.reach("fetch " + r.Code.String())
		}
	case sm.ReplicaFetchResponse:
		if r.Diverging {
			s.reach("replica fetch diverging")
		}
	case sm.AlterISRRequest:
		s.reach("alter isr requested")
	case sm.AlterISRResponse:
		if r.Code != sm.CodeOK {
			s.reach("alter isr " + r.Code.String())
		}
	case sm.CreateTopicResponse:
		s.reach("create topic " + r.Code.String())
	case sm.DeleteTopicResponse:
		s.reach("delete topic " + r.Code.String())
	case sm.BrokerHeartbeatResponse:
		if r.Code != sm.CodeOK {
			s.reach("heartbeat " + r.Code.String())
		}
	case sm.ClusterStatusResponse:
		s.reach("cluster status " + r.Code.String())
	}
}

// partition cuts from→to (and to→from when symmetric).
func (n *network) partition(a, b []sm.NodeID, symmetric bool) {
	for _, x := range a {
		for _, y := range b {
			n.blocked[link{x, y}] = true
			if symmetric {
				n.blocked[link{y, x}] = true
			}
		}
	}
}

// isolate cuts a node off from everyone, clients included.
func (n *network) isolate(x sm.NodeID) {
	for _, y := range n.w.allIDs() {
		if y != x {
			n.blocked[link{x, y}] = true
			n.blocked[link{y, x}] = true
		}
	}
}

func (n *network) healAll() {
	clear(n.blocked)
	links := make([]link, 0, len(n.cloggedU))
	for l := range n.cloggedU {
		links = append(links, l)
	}
	slices.SortFunc(links, func(a, b link) int {
		if a.from != b.from {
			return cmp.Compare(a.from, b.from)
		}
		return cmp.Compare(a.to, b.to)
	})
	for _, l := range links {
		n.unclog(l)
	}
	n.drop, n.dup = 0, 0
}
