package sim

import (
	"fmt"
	"slices"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/partition"
)

// startFaults begins the safety phase's fault injection: network loss and
// duplication rates for the whole phase, plus a stream of discrete faults at
// random intervals, each healed after a random duration. All draws come from
// the fault PRNG, so the schedule is part of the seed.
func (w *World) startFaults() {
	w.faultsOn = true
	if w.cfg.Faults.Has(FaultDrop) {
		w.net.drop = w.cfg.DropRate
	}
	if w.cfg.Faults.Has(FaultDuplicate) {
		w.net.dup = w.cfg.DupRate
	}
	if w.cfg.FaultMean > 0 && w.cfg.Faults != 0 {
		w.scheduleFault()
	}
	if w.cfg.FaultMean > 0 && len(w.enabledObjectFaults()) > 0 {
		w.scheduleObjectFault(newRNG(w.cfg.Seed).child("object-faults"))
	}
	if w.cfg.FaultMean > 0 {
		w.startForgery(newRNG(w.cfg.Seed).child("forge"))
	}
}

// enabledObjectFaults are the object-store classes this run injects.
func (w *World) enabledObjectFaults() []Fault {
	var out []Fault
	for _, f := range objectFaults() {
		if w.cfg.Faults.Has(f) {
			out = append(out, f)
		}
	}
	return out
}

// scheduleObjectFault is the object store's fault director: windows of the
// enabled object-store classes at random intervals (twice the mean of the
// other faults: each window lasts for many operations), from their own
// stream r, so that switching the classes on shifts no other draw.
func (w *World) scheduleObjectFault(r *rng) {
	d := sm.Duration(r.between(int64(w.cfg.FaultMean)/2, int64(w.cfg.FaultMean)*4))
	w.after(d, func() {
		if !w.faultsOn {
			return
		}
		enabled := w.enabledObjectFaults()
		f := enabled[r.intn(len(enabled))]
		w.ObjectFaults(f, sm.Duration(r.between(int64(500*sm.Millisecond), int64(5*sm.Second))), r)
		w.scheduleObjectFault(r)
	})
}

// ObjectFaults opens a window of object-store fault class f for d, its
// rates and sizes drawn from r: every operation the window reaches counts
// as one fault of f (objectStore.draw).
func (w *World) ObjectFaults(f Fault, d sm.Duration, r *rng) {
	s := w.objectStore()
	until := w.now.Add(d)
	rate := []float64{0.05, 0.2, 0.5, 1}[r.intn(4)]
	fl := &s.f
	switch f {
	case FaultObjSlow:
		fl.slowUntil, fl.slowMax = until, sm.Duration(r.logUniform(float64(50*sm.Millisecond), float64(5*sm.Second)))
	case FaultObjThrottle:
		fl.throttleUntil, fl.throttleRate = until, rate
	case FaultObjUnavailable:
		fl.unavailUntil, fl.unavailRate = until, rate
	case FaultObjTimeout:
		fl.timeoutUntil, fl.timeoutRate = until, rate
	case FaultObjLostReply:
		fl.lostReplyUntil, fl.lostReplyRate = until, rate
	case FaultObjLate:
		fl.lateUntil, fl.lateRate = until, rate
	case FaultObjReadError:
		fl.readErrUntil, fl.readErrRate = until, []float64{0, 0.1, 0.5, 1}[r.intn(4)]
		fl.readSlowMax = 0
		if r.chance(0.5) {
			fl.readSlowMax = sm.Duration(r.logUniform(float64(20*sm.Millisecond), float64(3*sm.Second)))
		}
	case FaultObjPage:
		fl.pageUntil, fl.pageMax = until, 1+r.intn(3)
	default:
		panic(fmt.Sprintf("sim: %v is not an object-store fault class", f))
	}
	w.trace.note(w.now, 0, "object store: %v for %v", f, d)
}

func (w *World) scheduleFault() {
	d := sm.Duration(w.faultRNG.between(int64(w.cfg.FaultMean)/4, int64(w.cfg.FaultMean)*2))
	w.after(d, func() {
		if !w.faultsOn {
			return
		}
		w.injectFault()
		w.scheduleFault()
	})
}

// discrete fault classes the director draws from (drop/duplicate/delay are
// continuous and set per phase).
var discreteFaults = append([]Fault{
	FaultPartition, FaultOneWay, FaultIsolate, FaultClog, FaultSwizzle, FaultCrash, FaultTornWrite,
	FaultPause, FaultClockJump, FaultDiskError, FaultDiskFull, FaultSlowSync, FaultDelay, FaultZombie, FaultLostDisk, FaultLostSync,
}, segmentFaults()...)

func (w *World) injectFault() {
	var enabled []Fault
	for _, f := range discreteFaults {
		if w.cfg.Faults.Has(f) {
			enabled = append(enabled, f)
		}
	}
	if len(enabled) == 0 {
		return
	}
	r := w.faultRNG
	f := enabled[r.intn(len(enabled))]
	heal := sm.Duration(r.between(int64(200*sm.Millisecond), int64(3*sm.Second)))
	w.inject(f, heal)
}

// inject injects one discrete fault of class f, healed after heal where it
// heals.
func (w *World) inject(f Fault, heal sm.Duration) {
	r := w.faultRNG
	switch f {
	case FaultPartition:
		a, b := w.splitHosts()
		w.Partition(a, b, true, heal)
	case FaultOneWay:
		a, b := w.splitHosts()
		w.Partition(a, b, false, heal)
	case FaultIsolate:
		w.Isolate(w.randomHost(), heal)
	case FaultSwizzle:
		w.Swizzle(heal / 2)
	case FaultClog:
		ids := w.allIDs()
		from, to := ids[r.intn(len(ids))], ids[r.intn(len(ids))]
		if from == to {
			return
		}
		w.Clog(from, to, heal)
	case FaultCrash:
		w.Crash(w.randomHost(), false, heal)
	case FaultTornWrite:
		w.CrashDuringWrite(w.randomHost(), heal)
	case FaultPause:
		w.Pause(w.randomHost(), heal)
	case FaultClockJump:
		w.ClockJump(w.randomHost(), sm.Duration(r.between(int64(100*sm.Millisecond), int64(5*sm.Second))))
	case FaultDiskError:
		h := w.hosts[w.randomHost()]
		h.faults.errorsUntil = w.now.Add(heal)
		h.faults.errRate = []float64{0.01, 0.1, 1}[r.intn(3)]
	case FaultDiskFull:
		w.DiskFull(w.randomHost(), heal)
	case FaultSlowSync:
		h := w.hosts[w.randomHost()]
		h.faults.slowUntil = w.now.Add(heal)
		h.faults.slowMax = sm.Duration(r.between(int64(10*sm.Millisecond), int64(500*sm.Millisecond)))
		w.stats.Faults[FaultSlowSync]++
	case FaultZombie:
		brokers := w.brokerIDs()
		// The replacement starts on a copy of what the old disk synced,
		// or, within the run's lost-disk budget, on an empty disk.
		id, fresh := brokers[r.intn(len(brokers))], false
		if r.chance(0.3) {
			if v, ok := w.diskVictim(); ok {
				id, fresh = v, true
			}
		}
		w.Zombie(id, fresh, heal)
	case FaultLostDisk:
		if v, ok := w.diskVictim(); ok {
			w.LoseDisk(v, heal)
		}
	case FaultLostSync:
		if v, ok := w.diskVictim(); ok {
			w.LoseSyncs(v, heal)
		}
	case FaultReadError:
		slow := sm.Duration(0)
		if r.chance(0.5) {
			slow = sm.Duration(r.logUniform(float64(10*sm.Millisecond), float64(2*sm.Second)))
		}
		w.ReadFaults(w.randomBroker(), []float64{0, 0.01, 0.1, 1}[r.intn(4)], slow, heal)
	case FaultBitRot:
		if v, ok := w.diskVictim(); ok {
			w.BitRot(v)
		}
	case FaultLostIndex:
		w.LoseIndexes(w.randomBroker(), heal)
	case FaultDelay:
		// A burst of latency on every link out of one node: messages
		// reorder against those sent before and after.
		id := w.randomHost()
		for _, to := range w.allIDs() {
			if to != id {
				w.net.clog(link{id, to}, w.now.Add(sm.Duration(r.between(0, int64(heal)))))
			}
		}
		w.stats.Faults[FaultDelay]++
	}
}

func (w *World) randomHost() sm.NodeID {
	return w.hostIDs[w.faultRNG.intn(len(w.hostIDs))]
}

func (w *World) randomBroker() sm.NodeID {
	ids := w.brokerIDs()
	return ids[w.faultRNG.intn(len(ids))]
}

// splitHosts draws two disjoint non-empty groups of processes (clients stay
// connected to everyone).
func (w *World) splitHosts() (a, b []sm.NodeID) {
	for _, id := range w.hostIDs {
		if w.faultRNG.chance(0.5) {
			a = append(a, id)
		} else {
			b = append(b, id)
		}
	}
	if len(a) == 0 {
		a, b = b[:1], b[1:]
	}
	if len(b) == 0 {
		a, b = a[1:], a[:1]
	}
	return a, b
}

// ---- fault primitives (also used by scenario files) -----------------------

// Partition cuts a from b (both ways when symmetric) for d (forever if 0).
func (w *World) Partition(a, b []sm.NodeID, symmetric bool, d sm.Duration) {
	if symmetric {
		w.stats.Faults[FaultPartition]++
	} else {
		w.stats.Faults[FaultOneWay]++
	}
	w.trace.note(w.now, 0, "partition %v | %v symmetric=%v for %v", a, b, symmetric, d)
	w.net.partition(a, b, symmetric)
	if d > 0 {
		w.after(d, func() { w.unblock(a, b, symmetric) })
	}
}

func (w *World) unblock(a, b []sm.NodeID, symmetric bool) {
	for _, x := range a {
		for _, y := range b {
			delete(w.net.blocked, link{x, y})
			if symmetric {
				delete(w.net.blocked, link{y, x})
			}
		}
	}
	w.trace.note(w.now, 0, "heal %v | %v", a, b)
}

// Isolate cuts id off from everyone for d.
func (w *World) Isolate(id sm.NodeID, d sm.Duration) {
	w.stats.Faults[FaultIsolate]++
	w.trace.note(w.now, id, "isolate for %v", d)
	others := w.allIDs()
	others = others[:0:0]
	for _, x := range w.allIDs() {
		if x != id {
			others = append(others, x)
		}
	}
	w.net.isolate(id)
	if d > 0 {
		w.after(d, func() { w.unblock([]sm.NodeID{id}, others, true) })
	}
}

// Clog holds messages on from→to until d has passed.
func (w *World) Clog(from, to sm.NodeID, d sm.Duration) {
	w.stats.Faults[FaultClog]++
	w.trace.note(w.now, from, "clog -> %v for %v", to, d)
	w.net.clog(link{from, to}, w.now.Add(d))
}

// Swizzle is FoundationDB's swizzle-clog: clog every link of a random subset
// of processes, one process at a time, then unclog them one at a time in a
// different random order. It finds bugs that need several links to fail and
// recover in a particular order.
func (w *World) Swizzle(step sm.Duration) {
	w.stats.Faults[FaultSwizzle]++
	r := w.faultRNG
	ids := slices.Clone(w.hostIDs)
	r.r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	ids = ids[:1+r.intn(len(ids))]
	w.trace.note(w.now, 0, "swizzle %v", ids)
	forever := sm.Time(1 << 62)
	t := w.now
	heals := w.heals
	for _, id := range ids {
		t = t.Add(sm.Duration(r.between(0, int64(step))))
		w.at(t, func() {
			if w.heals != heals {
				return // the world was healed since: no new clogs
			}
			for _, other := range w.allIDs() {
				if other != id {
					w.net.clog(link{id, other}, forever)
					w.net.clog(link{other, id}, forever)
				}
			}
		})
	}
	order := slices.Clone(ids)
	r.r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	for _, id := range order {
		t = t.Add(sm.Duration(r.between(0, int64(step))))
		w.at(t, func() {
			for _, other := range w.allIDs() {
				if other != id {
					w.net.unclog(link{id, other})
					w.net.unclog(link{other, id})
				}
			}
		})
	}
}

// Crash kills id (tearing unsynced writes when tear) and restarts it after d
// (never, if d is 0, until the liveness phase).
func (w *World) Crash(id sm.NodeID, tear bool, d sm.Duration) {
	h := w.hosts[id]
	if !h.up {
		return
	}
	if tear {
		w.stats.Faults[FaultTornWrite]++
	} else {
		w.stats.Faults[FaultCrash]++
	}
	h.crash(tear)
	if d > 0 {
		w.after(d, func() { h.start() })
	}
}

// CrashDuringWrite kills id in the middle of its next disk write, tearing
// what it had not synced, and restarts it d later. If id writes nothing
// within a second it crashes then, torn.
func (w *World) CrashDuringWrite(id sm.NodeID, d sm.Duration) {
	h := w.hosts[id]
	if !h.up || h.tearRestart > 0 {
		return
	}
	h.tearRestart = max(d, sm.Millisecond)
	inc := h.incarnation
	w.after(sm.Second, func() {
		if h.tearRestart > 0 && h.up && h.incarnation == inc {
			h.tearRestart = 0
			w.Crash(id, true, d)
		}
	})
}

// diskVictim draws a broker whose disk may be lost: a new one while the
// run's budget (Config.LostDisks) allows, else one already lost.
func (w *World) diskVictim() (sm.NodeID, bool) {
	if w.cfg.LostDisks == 0 {
		return 0, false
	}
	if len(w.diskVictims) < w.cfg.LostDisks {
		var fresh []sm.NodeID
		for _, id := range w.brokerIDs() {
			if !slices.Contains(w.diskVictims, id) {
				fresh = append(fresh, id)
			}
		}
		id := fresh[w.faultRNG.intn(len(fresh))]
		w.diskVictims = append(w.diskVictims, id)
		return id, true
	}
	return w.diskVictims[w.faultRNG.intn(len(w.diskVictims))], true
}

// LoseDisk kills broker id, replaces its disk with an empty one and
// restarts it after d: it starts reporting sm.Durable.FreshDisk, so it
// registers as having lost every replica it held.
func (w *World) LoseDisk(id sm.NodeID, d sm.Duration) {
	h := w.hosts[id]
	if h.kind != kindBroker {
		return
	}
	w.stats.Faults[FaultLostDisk]++
	if !slices.Contains(w.diskVictims, id) {
		w.diskVictims = append(w.diskVictims, id)
	}
	h.crash(false)
	h.disk = newDisk(w.cfg.DiskCapacity)
	w.trace.note(w.now, id, "disk lost")
	w.after(max(d, sm.Millisecond), func() { h.start() })
}

// LoseSyncs makes broker id's disk acknowledge partition-log syncs without
// keeping them for d, then cuts its power (restarting it shortly after):
// what it synced in the window is gone, below the sync ledger's marks, so
// recovery reports those logs damaged (sm.Durable.Damaged) and the broker
// registers as having lost them. A device that lies to the ledger too is
// outside every promise (docs/architecture.md).
func (w *World) LoseSyncs(id sm.NodeID, d sm.Duration) {
	h := w.hosts[id]
	if h.kind != kindBroker || !h.up {
		return
	}
	w.stats.Faults[FaultLostSync]++
	if !slices.Contains(w.diskVictims, id) {
		w.diskVictims = append(w.diskVictims, id)
	}
	h.faults.lieUntil = w.now.Add(d)
	w.trace.note(w.now, id, "disk acknowledges syncs it does not keep for %v", d)
	heals := w.heals
	w.after(d, func() {
		if w.heals != heals {
			return // healed first: later syncs made everything durable
		}
		if h := w.hosts[id]; h.up {
			h.crash(false)
			w.trace.note(w.now, id, "power loss after lying syncs")
			w.after(sm.Duration(w.faultRNG.between(int64(100*sm.Millisecond), int64(sm.Second))), func() { h.start() })
		}
	})
}

// durabilityBudget is how many disks the run may lose (0 when no fault
// class can lose one): the promise covers topics with min ISR above it.
func (w *World) durabilityBudget() int {
	if w.cfg.Faults.Has(FaultLostDisk) || w.cfg.Faults.Has(FaultZombie) || w.cfg.Faults.Has(FaultLostSync) ||
		w.cfg.Faults.Has(FaultBitRot) && segmentFaultsWired {
		return w.cfg.LostDisks
	}
	return 0
}

// Restart starts id if it is down.
func (w *World) Restart(id sm.NodeID) { w.hosts[id].start() }

// Pause stops id from stepping for d; events wait.
func (w *World) Pause(id sm.NodeID, d sm.Duration) {
	h := w.hosts[id]
	if !h.up {
		return
	}
	w.stats.Faults[FaultPause]++
	w.trace.note(w.now, id, "pause for %v", d)
	h.pausedUntil = w.now.Add(d)
}

// ClockJump moves id's clock forward by d (monotonic clocks never go back).
func (w *World) ClockJump(id sm.NodeID, d sm.Duration) {
	w.stats.Faults[FaultClockJump]++
	w.trace.note(w.now, id, "clock jumps %v", d)
	h := w.hosts[id]
	h.skew += d
	if h.up {
		w.at(w.now, func() { h.deliver(h.incarnation, sm.TimerFired{}) })
	}
}

// DiskFull caps id's disk at what it holds now for d.
func (w *World) DiskFull(id sm.NodeID, d sm.Duration) {
	w.stats.Faults[FaultDiskFull]++
	h := w.hosts[id]
	w.trace.note(w.now, id, "disk full for %v", d)
	h.disk.capacity = max(h.disk.used(), 1)
	w.after(d, func() { h.disk.capacity = w.cfg.DiskCapacity })
}

// ReadFaults makes broker id's log reads fail with EIO with probability
// rate and, when slow > 0, take up to slow longer (heavy-tailed), for d.
// Each read the window reaches counts as one readerr fault.
func (w *World) ReadFaults(id sm.NodeID, rate float64, slow, d sm.Duration) {
	h := w.hosts[id]
	w.trace.note(w.now, id, "read faults for %v: EIO rate %v, slow up to %v", d, rate, slow)
	h.faults.readErrUntil, h.faults.readErrRate = w.now.Add(d), rate
	if slow > 0 {
		h.faults.readSlowUntil, h.faults.readSlowMax = w.now.Add(d), slow
	}
}

// BitRot flips one bit at rest in a sealed segment of broker id's disk —
// in its durable bytes and its page cache, so the next read returns it —
// and reports whether it found one. The state machine's checksums must
// catch it: a read returns the corrupt frame, and recovery reports the log
// damaged only if it scans the segment (an index rebuild does).
//
// A flipped bit loses the broker's copy of the records in that frame until
// it is repaired, as a lost disk loses all of them, so the director draws
// the victim from the same lost-disk budget (Config.LostDisks, diskVictim):
// the durability promise covers topics whose min ISR is above the number of
// brokers that may hold a bad copy.
func (w *World) BitRot(id sm.NodeID) bool {
	h := w.hosts[id]
	segs := h.disk.sealedAtRest()
	if h.kind != kindBroker || len(segs) == 0 {
		return false
	}
	r := w.faultRNG
	// Half the time, a segment of a partition the broker leads: only
	// leaders serve reads, so only there does a fetch meet the flipped
	// bit before the segment is deleted (the corruption path).
	if led := w.ledSegments(id, segs); len(led) > 0 && r.chance(0.5) {
		segs = led
	}
	ref := segs[r.intn(len(segs))]
	pos := r.intn(len(ref.s.data.durable))
	bit := uint(r.intn(8))
	ref.s.flipBit(pos, bit)
	if !slices.Contains(w.diskVictims, id) {
		w.diskVictims = append(w.diskVictims, id)
	}
	w.stats.Faults[FaultBitRot]++
	w.trace.note(w.now, id, "bit %d of byte %d flipped in %s", bit, pos, segmentFile(ref.l.tp, ref.s.base))
	return true
}

// LoseIndexes deletes or corrupts index files of sealed segments on broker
// id's disk (at rest: durable and page cache), then crashes the broker and
// restarts it after d, so it must rebuild them (recoverManifests). It
// reports whether it damaged any; with none on the disk it does nothing.
// Index files are derived data: losing them loses nothing.
func (w *World) LoseIndexes(id sm.NodeID, d sm.Duration) bool {
	h := w.hosts[id]
	if h.kind != kindBroker || !h.up {
		return false
	}
	r := w.faultRNG
	n := 0
	for _, ref := range h.disk.sealedAtRest() {
		ix := &ref.s.index
		if len(ix.durable) == 0 || !r.chance(0.5) {
			continue
		}
		switch r.intn(3) {
		case 0: // deleted
			ix.content, ix.durable = nil, nil
		case 1: // cut short
			b := slices.Clone(ix.durable[:r.intn(len(ix.durable))])
			ix.content, ix.durable = b, b
		default: // a flipped bit
			b := slices.Clone(ix.durable)
			b[r.intn(len(b))] ^= 1 << r.intn(8)
			ix.content, ix.durable = b, b
		}
		n++
	}
	if n == 0 {
		return false
	}
	w.stats.Faults[FaultLostIndex]++
	w.trace.note(w.now, id, "%d index files lost or corrupted; restart", n)
	h.crash(false)
	w.after(max(d, sm.Millisecond), func() { h.start() })
	return true
}

// ledSegments are the segments of segs whose partition id leads.
func (w *World) ledSegments(id sm.NodeID, segs []sealedRef) []sealedRef {
	var out []sealedRef
	n := w.brokerNode(id)
	if n == nil {
		return nil
	}
	lead := map[sm.TopicPartition]bool{}
	for _, st := range n.Partitions() {
		if st.Role == partition.RoleLeader {
			lead[st.TP] = true
		}
	}
	for _, ref := range segs {
		if lead[ref.l.tp] {
			out = append(out, ref)
		}
	}
	return out
}
