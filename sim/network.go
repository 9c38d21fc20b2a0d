package sim

import (
	"github.com/weirmq/weir/sm"
)

// network delivers messages between hosts and clients with latency (heavy
// tailed, so messages reorder), loss, duplication, one-way and symmetric
// partitions, isolation, and clogging (FoundationDB's swizzle-clog: a clogged
// link holds its messages until it unclogs).
type network struct {
	w        *World
	blocked  map[link]bool    // from→to drops everything
	cloggedU map[link]sm.Time // from→to delayed until
	drop     float64
	dup      float64
}

type link struct{ from, to sm.NodeID }

func newNetwork(w *World) *network {
	return &network{w: w, blocked: map[link]bool{}, cloggedU: map[link]sm.Time{}}
}

// send schedules one envelope's delivery (or loses it).
func (n *network) send(m sm.Envelope) {
	w := n.w
	w.stats.Messages++
	l := link{m.From, m.To}
	if n.blocked[l] {
		w.stats.Dropped++
		return
	}
	// Client requests and replies ride a reliable stream per request (QUIC):
	// they are never duplicated, but a connection can be lost.
	clientTraffic := isClient(m.From) || isClient(m.To)
	if n.drop > 0 && w.netRNG.chance(n.drop) {
		w.stats.Dropped++
		w.stats.Faults[FaultDrop]++
		return
	}
	n.schedule(m, l)
	if !clientTraffic && n.dup > 0 && w.netRNG.chance(n.dup) {
		w.stats.Faults[FaultDuplicate]++
		n.schedule(m, l)
	}
}

func (n *network) schedule(m sm.Envelope, l link) {
	w := n.w
	lat := sm.Duration(w.netRNG.heavyTail(int64(w.cfg.NetLatency), int64(w.cfg.NetLatencyMax)))
	at := w.now.Add(lat)
	if u, ok := n.cloggedU[l]; ok && u > w.now {
		at = u.Add(lat)
	}
	w.at(at, func() { n.arrive(m) })
}

// arrive hands the envelope to its destination if the link is still open.
func (n *network) arrive(m sm.Envelope) {
	w := n.w
	if n.blocked[link{m.From, m.To}] {
		w.stats.Dropped++
		return
	}
	if c := w.clients[m.To]; c != nil {
		c.receive(m)
		return
	}
	h := w.hosts[m.To]
	if h == nil {
		w.fail("message to unknown node %v from %v: %T", m.To, m.From, m.Msg)
		return
	}
	h.deliver(h.incarnation, sm.Received{From: m.From, Msg: m.Msg})
}

func isClient(id sm.NodeID) bool { return id >= 1000 }

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
	clear(n.cloggedU)
	n.drop, n.dup = 0, 0
}
