package sim

import (
	"maps"
	"slices"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/broker"
	"github.com/weirmq/weir/sm/controller"
)

// A zombie is a broker's old process that froze — a long GC pause, a
// stopped VM, a host cut off behind a dead switch — while its supervisor
// gave up on it and started a replacement with the same broker ID and a new
// incarnation, on a copy of what the old disk had synced or on an empty
// disk. The old process then thaws, still believing what it believed
// before, still holding its connections, and acts on them until it dies.
//
// Connections are modelled per peer: every peer starts connected to the old
// process (it was the only one); a peer switches to the process that last
// sent it something (requests and their replies share a connection), so a
// peer the replacement talks to hears from the replacement, and a peer that
// only ever sends — a client — keeps talking to the zombie until it dies.
//
// The promise a zombie tests is that nothing it sends is accepted once the
// cluster fenced its incarnation: see checkZombieAccepted.
type zombie struct {
	h     *host // the old process, no longer in World.hosts
	inc   uint64
	conns map[sm.NodeID]bool // peer → its connection to this ID is the zombie's
}

// Zombie freezes broker id long enough for the controller to fence it,
// starts a replacement (on an empty disk when fresh, else on a copy of the
// old disk's synced contents) and lets the old process thaw and run for
// life before it dies. A fresh replacement registers as having lost its
// disk (it counts toward Config.LostDisks).
//
// The old process thaws only once the controller has registered the
// replacement (the freeze is extended until then, and the zombie dies if it
// never happens): "fenced and replaced". Otherwise a replacement that died
// before registering leaves the old process the registered one, writing a
// disk the replacement's copy no longer follows — a disk rolled back to a
// snapshot the broker cannot know about, which no promise covers (like a
// disk lying about fsync, see docs/architecture.md).
func (w *World) Zombie(id sm.NodeID, fresh bool, life sm.Duration) {
	old := w.hosts[id]
	if old == nil || old.kind != kindBroker || !old.up || w.zombies[id] != nil {
		return
	}
	if fresh && !slices.Contains(w.diskVictims, id) {
		w.diskVictims = append(w.diskVictims, id)
	}
	w.stats.Faults[FaultZombie]++
	freeze := w.cfg.SessionTimeout + sm.Duration(w.faultRNG.between(int64(200*sm.Millisecond), int64(2*w.cfg.SessionTimeout)))
	old.pausedUntil = w.now.Add(freeze)
	disk := newDisk(w.cfg.DiskCapacity)
	if !fresh {
		disk = old.disk.syncedCopy()
	}
	nh := &host{w: w, id: id, kind: kindBroker, disk: disk, diskFree: map[string]sm.Time{},
		incarnation: old.incarnation}
	z := &zombie{h: old, inc: old.incarnation, conns: map[sm.NodeID]bool{}}
	for _, p := range w.allIDs() {
		if p != id {
			z.conns[p] = true
		}
	}
	w.zombies[id] = z
	w.hosts[id] = nh
	w.trace.note(w.now, id, "zombie: incarnation %d frozen for %v, replaced (fresh disk=%v), dies in %v", z.inc, freeze, fresh, freeze+life)
	nh.start()
	var thaw func()
	thaw = func() {
		if w.zombies[id] != z || !z.h.up {
			return
		}
		if !w.registeredAbove(id, z.inc) {
			z.h.pausedUntil = w.now.Add(100 * sm.Millisecond)
			w.after(100*sm.Millisecond, thaw)
			return
		}
		z.h.pausedUntil = w.now
		w.stats.reach("zombie thawed")
	}
	w.after(freeze, thaw)
	w.after(freeze+life, func() { w.killZombie(id, z) })
}

// registeredAbove reports whether the leading controller has registered
// an incarnation of broker id above inc.
func (w *World) registeredAbove(id sm.NodeID, inc uint64) bool {
	c := w.leaderController()
	if c == nil {
		return false
	}
	for _, b := range c.Metadata().Brokers {
		if b.ID == id {
			return b.Incarnation > inc
		}
	}
	return false
}

// killZombie ends a zombie process; its peers' connections fall back to the
// current process.
func (w *World) killZombie(id sm.NodeID, z *zombie) {
	if w.zombies[id] != z {
		return
	}
	delete(w.zombies, id)
	z.h.pausedUntil = 0
	z.h.crash(false)
	w.trace.note(w.now, id, "zombie incarnation %d dies", z.inc)
}

// killZombies ends every zombie (the liveness phase heals everything).
func (w *World) killZombies() {
	for _, id := range slices.Sorted(maps.Keys(w.zombies)) {
		w.killZombie(id, w.zombies[id])
	}
}

// routeTo is the process a message to id arrives at: the zombie when the
// sender's connection to id is the zombie's.
func (w *World) routeTo(from, to sm.NodeID) *host {
	if z := w.zombies[to]; z != nil && z.conns[from] {
		return z.h
	}
	return w.hosts[to]
}

// sentBy notes that process h sent to peer: the peer's connection to h's ID
// is now h's.
func (w *World) sentBy(h *host, peer sm.NodeID) {
	if z := w.zombies[h.id]; z != nil {
		z.conns[peer] = z.h == h
	}
}

// checkZombieAccepted fails the run when a node accepts a zombie's request
// although it already knew the zombie's incarnation was replaced: a
// controller answering its heartbeat OK, or a partition leader counting its
// replica fetch (an OK fetch answer echoes the incarnation it served). The
// sender's own view is what counts: a zombie leader does not know.
func (w *World) checkZombieAccepted(sender *host, m sm.Envelope) {
	z := w.zombies[m.To]
	if z == nil {
		return
	}
	switch r := m.Msg.(type) {
	case sm.BrokerHeartbeatResponse:
		if r.Code != sm.CodeOK || r.Incarnation != z.inc {
			return
		}
		c, ok := sender.node.(*controller.Node)
		if !ok {
			return
		}
		for _, b := range c.Metadata().Brokers {
			if b.ID == m.To && b.Incarnation > z.inc {
				w.fail("zombie: controller %v accepted the heartbeat of %v incarnation %d after registering incarnation %d", m.From, m.To, z.inc, b.Incarnation)
			}
		}
	case sm.ReplicaFetchResponse:
		if r.Code != sm.CodeOK || r.Incarnation != z.inc {
			return
		}
		b, ok := sender.node.(*broker.Node)
		if !ok {
			return
		}
		if info, ok := b.BrokerInfo(m.To); ok && info.Incarnation > z.inc {
			w.fail("zombie: leader %v of %v served (and counted) a replica fetch of %v incarnation %d after learning of incarnation %d",
				m.From, r.TP, m.To, z.inc, info.Incarnation)
		}
	}
}
