package sim

import (
	"container/heap"
	"fmt"
	"io"
	"slices"

	"github.com/weirmq/weir/linearizability"
	"github.com/weirmq/weir/runtime"
	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/broker"
)

// World is one simulated cluster: a single-goroutine discrete-event scheduler
// over virtual time, with simulated processes, disks and a network. Every
// random choice derives from one seed, so a run replays exactly.
type World struct {
	cfg Config
	now sm.Time
	q   eventQueue
	seq uint64

	rng                                *rng
	netRNG, diskRNG, faultRNG, workRNG *rng

	hosts   map[sm.NodeID]*host
	hostIDs []sm.NodeID // sorted
	net     *network
	clients map[sm.NodeID]*client
	zombies map[sm.NodeID]*zombie // old processes of replaced brokers, still running
	// diskVictims are the brokers whose disk was lost (at most
	// Config.LostDisks of them).
	diskVictims []sm.NodeID

	history    *linearizability.History
	knownHW    map[sm.TopicPartition]sm.Offset // highest HW any client saw, to aim fetches
	replyHooks map[sm.NodeID]func(linearizability.Op)
	faultsOn   bool
	heals      int // counts healAll; faults scheduled before a heal do not start after it
	inv        invariants

	trace   tracer
	stats   Stats
	failure error
	events  uint64
}

// item is one scheduled event. Events at the same time run in the order they
// were scheduled (seq), which makes the schedule a total order.
type item struct {
	at  sm.Time
	seq uint64
	fn  func()
}

type eventQueue []*item

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*item)) }
func (q *eventQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return it
}

// at schedules fn at virtual time t (not before now).
func (w *World) at(t sm.Time, fn func()) {
	if t < w.now {
		t = w.now
	}
	w.seq++
	heap.Push(&w.q, &item{at: t, seq: w.seq, fn: fn})
}

func (w *World) after(d sm.Duration, fn func()) { w.at(w.now.Add(d), fn) }

// Now is the current virtual time.
func (w *World) Now() sm.Time { return w.now }

// runUntil executes events until virtual time t, the queue empties, a failure
// is recorded, or stop reports true (checked after each event).
func (w *World) runUntil(t sm.Time, stop func() bool) {
	for w.q.Len() > 0 && w.failure == nil {
		if w.q[0].at > t {
			break
		}
		it := heap.Pop(&w.q).(*item)
		w.now = it.at
		w.events++
		it.fn()
		if stop != nil && stop() {
			return
		}
	}
	if w.failure == nil && w.now < t {
		w.now = t
	}
}

// fail records the first failure; the run stops.
func (w *World) fail(format string, args ...any) {
	if w.failure == nil {
		w.failure = fmt.Errorf("t=%v: "+format, append([]any{w.now}, args...)...)
		w.trace.note(w.now, 0, "FAILURE: %v", w.failure)
	}
}

// ---- hosts ---------------------------------------------------------------

type hostKind uint8

const (
	kindController hostKind = iota
	kindBroker
)

// host is one simulated process slot: its disk outlives crashes; its state
// machine does not.
type host struct {
	w           *World
	id          sm.NodeID
	kind        hostKind
	node        runtime.Node
	disk        *Disk
	up          bool
	incarnation uint64 // bumps on every start; events for an old one are dropped
	alarm       runtime.Alarm
	diskFree    map[string]sm.Time // per file: when its queued writes finish (FIFO)
	pausedUntil sm.Time
	skew        sm.Duration // forward clock jumps accumulated
	faults      diskFaults
	// lossPending says the disk holds the lost-disk marker (lostMarker):
	// it started empty and the broker has not registered since.
	lossPending bool
	// tearRestart, when set, crashes the host in the middle of its next
	// write (tearing it) and restarts it this long after.
	tearRestart sm.Duration
}

// diskFaults are a host's active disk fault windows.
type diskFaults struct {
	errorsUntil sm.Time // each op fails with probability errRate until then
	errRate     float64
	slowUntil   sm.Time // syncs take up to slowMax until then
	slowMax     sm.Duration
}

// localNow is the host's clock: virtual time plus its forward jumps.
func (h *host) localNow() sm.Time { return h.w.now.Add(h.skew) }

// deliver steps the host's node with ev, unless the host is down (the event
// is lost) or paused (it waits).
func (h *host) deliver(inc uint64, ev sm.Event) {
	if !h.up || h.incarnation != inc {
		return
	}
	if h.w.now < h.pausedUntil {
		h.w.at(h.pausedUntil, func() { h.deliver(inc, ev) })
		return
	}
	h.w.trace.event(h.w.now, h.id, ev)
	if err := runtime.Handle(h.node, h, h.localNow(), ev); err != nil {
		h.w.stats.StepErrors++
		h.w.trace.note(h.w.now, h.id, "step error: %v", err)
	}
	if h.up && h.incarnation == inc {
		if err := h.node.CheckInvariants(); err != nil {
			h.w.fail("%v invariant: %v", h.id, err)
		}
		if h.lossPending && h.node.(*broker.Node).LossReported() {
			h.lossPending = false
			delete(h.disk.files, lostMarker) // removed and the directory synced
		}
	}
}

// StartLog implements runtime.LogStore: operations take effect on the page
// cache now, complete in order per file (operations on different partition
// logs complete in any order, as io/wal may), and become durable at
// completion when synced. Refusals end OutcomeFailed, I/O errors
// OutcomeUnknown.
func (h *host) StartLog(ops []sm.LogOp) {
	for _, op := range ops {
		if op.Kind == sm.LogTruncate {
			h.w.stats.reach("log truncated")
		}
		errText, refused := h.diskError(op.Sync), false
		if errText == "" {
			errText, refused = h.disk.applyLog(op)
		}
		id := op.ID
		h.startWrite(walFile(op.TP), op.Sync, op.Kind == sm.LogAppend, errText, func(errText string) sm.Event {
			d := sm.LogDone{ID: id, Reason: errText}
			switch {
			case errText == "":
			case refused:
				d.Outcome = sm.OutcomeFailed
				h.w.stats.reach("append refused")
			default:
				d.Outcome = sm.OutcomeUnknown
			}
			return d
		})
	}
}

// StartRaft implements runtime.RaftStore: saves complete in order and are
// durable at completion when synced.
func (h *host) StartRaft(saves []sm.RaftSave) {
	for _, s := range saves {
		errText := h.diskError(s.Sync)
		if errText == "" {
			errText = h.disk.applyRaft(s)
		}
		id := s.ID
		h.startWrite(raftFile, s.Sync, true, errText, func(errText string) sm.Event {
			d := sm.RaftDone{ID: id, Reason: errText}
			if errText != "" {
				d.Outcome = sm.OutcomeUnknown
			}
			return d
		})
	}
}

// startWrite schedules the completion of one write to file, already applied
// to the page cache: after the file's earlier writes, with drawn latency
// (sync latency and slow-disk windows when synced). A pending tear-restart
// fault crashes the host in the middle of a write that can tear.
func (h *host) startWrite(file string, sync, canTear bool, errText string, done func(errText string) sm.Event) {
	w := h.w
	inc := h.incarnation
	lat := sm.Duration(w.diskRNG.between(int64(w.cfg.DiskLatencyMin), int64(w.cfg.DiskLatencyMax)))
	if sync {
		lat += sm.Duration(w.diskRNG.heavyTail(int64(w.cfg.SyncLatency), int64(w.cfg.SyncLatency)*50))
		if w.now < h.faults.slowUntil {
			lat += sm.Duration(w.diskRNG.between(0, int64(h.faults.slowMax)))
		}
	}
	at := max(w.now, h.diskFree[file]).Add(lat)
	h.diskFree[file] = at
	if h.tearRestart > 0 && canTear {
		restart := h.tearRestart
		h.tearRestart = 0
		w.at(w.now.Add(sm.Duration(w.diskRNG.between(0, int64(at-w.now)))), func() {
			if h.up && h.incarnation == inc {
				w.stats.Faults[FaultTornWrite]++
				h.crash(true)
				w.after(restart, func() { h.start() })
			}
		})
	}
	w.at(at, func() {
		if !h.up || h.incarnation != inc {
			return
		}
		if errText == "" && sync {
			h.disk.sync(file)
		}
		h.deliver(inc, done(errText))
	})
}

// diskError draws an injected I/O error for a write.
func (h *host) diskError(sync bool) string {
	w := h.w
	if w.now < h.faults.errorsUntil && w.diskRNG.chance(h.faults.errRate) {
		w.stats.Faults[FaultDiskError]++
		if sync && w.diskRNG.chance(0.5) {
			return "fsync: input/output error (EIO)"
		}
		return "write: input/output error (EIO)"
	}
	return ""
}

// Reached implements runtime.ProbeSink: the campaign counts every protocol
// path a node reports (sm.Probe) for the coverage gate.
func (h *host) Reached(probes []sm.Probe) {
	for _, p := range probes {
		h.w.stats.reach(p.String())
	}
}

// Send implements runtime.Env.
func (h *host) Send(msgs []sm.Envelope) {
	for _, m := range msgs {
		h.w.sentBy(h, m.To)
		h.w.checkZombieAccepted(h, m)
		h.w.net.send(m)
	}
}

// SetTimer implements runtime.Env with runtime.Alarm, as the production
// loop does: only the latest wish counts, zero cancels.
func (h *host) SetTimer(at sm.Time) {
	gen, arm := h.alarm.Set(at)
	if !arm || at == 0 {
		return
	}
	inc := h.incarnation
	// The node asked in its local time; convert to virtual time.
	h.w.at(at.Add(-h.skew), func() {
		if h.alarm.Fire(gen) {
			h.deliver(inc, sm.TimerFired{})
		}
	})
}

// Fatal implements runtime.Env: the process stops; the simulator restarts it
// after a while, as a supervisor would.
func (h *host) Fatal(reason string) {
	w := h.w
	w.stats.Fatals++
	w.trace.note(w.now, h.id, "fatal: %s", reason)
	h.crash(false)
	if z := w.zombies[h.id]; z != nil && z.h == h {
		w.killZombie(h.id, z) // a zombie is not restarted
		return
	}
	w.after(sm.Duration(w.faultRNG.between(int64(100*sm.Millisecond), int64(2*sm.Second))), func() { h.start() })
}

// crash kills the process: its state machine, timers, in-flight disk work and
// unsynced data are gone.
func (h *host) crash(tear bool) {
	if !h.up {
		return
	}
	h.up = false
	h.node = nil
	h.alarm.Reset()
	h.pausedUntil = 0
	if h.disk.crash(h.w.diskRNG, tear) > 0 {
		h.w.stats.reach("torn tail on crash")
	}
	h.w.trace.note(h.w.now, h.id, "crash (torn=%v)", tear)
}

// start boots the process from its disk.
func (h *host) start() {
	if h.up {
		return
	}
	w := h.w
	h.incarnation++
	clear(h.diskFree)
	d, err := h.disk.recover()
	if err != nil {
		w.fail("%v recover: %v", h.id, err)
		return
	}
	if h.kind == kindBroker {
		// As the production broker does (cmd/internal/server): an empty
		// disk gets a durable lost-disk marker, and every start on a disk
		// holding it reports a lost disk, until a start registers.
		if len(h.disk.files) == 0 {
			h.disk.files[lostMarker] = &file{content: []byte("1"), durable: []byte("1")}
		}
		h.lossPending = h.disk.files[lostMarker] != nil
		d.FreshDisk = h.lossPending
	} else {
		d.FreshDisk = h.incarnation == 1
	}
	node, err := w.newNode(h, d)
	if err != nil {
		w.fail("%v start: %v", h.id, err)
		return
	}
	h.node = node
	h.up = true
	w.trace.note(w.now, h.id, "start incarnation %d", h.incarnation)
	inc := h.incarnation
	// Kick the node so it arms its timers and starts its protocol.
	w.at(w.now, func() { h.deliver(inc, sm.TimerFired{}) })
	if h.kind == kindBroker {
		h.observeHealth(inc)
	}
}

// addHost registers a process slot.
func (w *World) addHost(id sm.NodeID, kind hostKind) *host {
	h := &host{w: w, id: id, kind: kind, disk: newDisk(w.cfg.DiskCapacity), diskFree: map[string]sm.Time{}}
	w.hosts[id] = h
	w.hostIDs = append(w.hostIDs, id)
	slices.Sort(w.hostIDs)
	return h
}

// ---- tracing -------------------------------------------------------------

// tracer folds every delivered event into a hash (the determinism test
// compares it) and, when verbose, prints it.
type tracer struct {
	hash    uint64
	verbose io.Writer
}

func (t *tracer) mix(v uint64) {
	// FNV-1a over the 8 bytes of v.
	for i := 0; i < 8; i++ {
		t.hash ^= v & 0xff
		t.hash *= 1099511628211
		v >>= 8
	}
}

func (t *tracer) event(now sm.Time, node sm.NodeID, ev sm.Event) {
	t.mix(uint64(now))
	t.mix(uint64(node))
	switch e := ev.(type) {
	case sm.Received:
		t.mix(uint64(e.From))
		t.mix(msgKind(e.Msg))
	case sm.LogDone:
		t.mix(1<<32 | uint64(e.ID))
		t.mix(uint64(e.Outcome))
	case sm.RaftDone:
		t.mix(4<<32 | uint64(e.ID))
		t.mix(uint64(e.Outcome))
	case sm.TimerFired:
		t.mix(2 << 32)
	case sm.HealthObserved:
		t.mix(3 << 32)
	}
	if t.verbose != nil {
		fmt.Fprintf(t.verbose, "%v %v <- %s\n", now, node, describeEvent(ev))
	}
}

func (t *tracer) note(now sm.Time, node sm.NodeID, format string, args ...any) {
	if t.verbose != nil {
		fmt.Fprintf(t.verbose, "%v %v ** %s\n", now, node, fmt.Sprintf(format, args...))
	}
}

func describeEvent(ev sm.Event) string {
	switch e := ev.(type) {
	case sm.Received:
		return fmt.Sprintf("%v %T%+v", e.From, e.Msg, e.Msg)
	case sm.LogDone:
		if e.Outcome != sm.OutcomeOK {
			return fmt.Sprintf("log done #%d %v %q", e.ID, e.Outcome, e.Reason)
		}
		return fmt.Sprintf("log done #%d", e.ID)
	case sm.RaftDone:
		if e.Outcome != sm.OutcomeOK {
			return fmt.Sprintf("raft done #%d %v %q", e.ID, e.Outcome, e.Reason)
		}
		return fmt.Sprintf("raft done #%d", e.ID)
	case sm.TimerFired:
		return "timer"
	case sm.HealthObserved:
		return fmt.Sprintf("health observed %+v", e.Health)
	}
	return fmt.Sprintf("%T", ev)
}

func msgKind(m sm.Message) uint64 {
	switch m.(type) {
	case sm.ProduceRequest:
		return 1
	case sm.ProduceResponse:
		return 2
	case sm.FetchRequest:
		return 3
	case sm.FetchResponse:
		return 4
	case sm.ReplicaFetchRequest:
		return 5
	case sm.ReplicaFetchResponse:
		return 6
	case sm.BrokerHeartbeat:
		return 7
	case sm.BrokerHeartbeatResponse:
		return 8
	case sm.AlterISRRequest:
		return 9
	case sm.AlterISRResponse:
		return 10
	case sm.CreateTopicRequest:
		return 11
	case sm.CreateTopicResponse:
		return 12
	case sm.DeleteTopicRequest:
		return 13
	case sm.DeleteTopicResponse:
		return 14
	case sm.MetadataRequest:
		return 15
	case sm.MetadataResponse:
		return 16
	case sm.RaftMessage:
		return 17
	case sm.ClusterStatusRequest:
		return 18
	case sm.ClusterStatusResponse:
		return 19
	}
	return 0
}
