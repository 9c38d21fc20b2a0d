package sim

import (
	"container/heap"
	"encoding/binary"
	"fmt"
	"io"
	"slices"

	"github.com/cespare/xxhash/v2"

	"github.com/weirmq/weir/linearizability"
	"github.com/weirmq/weir/net/wire"
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
	readRNG                            *rng // log read latencies and errors (StartRead)

	hosts   map[sm.NodeID]*host
	hostIDs []sm.NodeID // sorted
	net     *network
	clients map[sm.NodeID]*client
	zombies map[sm.NodeID]*zombie // old processes of replaced brokers, still running
	// objects is the one object store every host shares (objectStore
	// creates it on first use): also the checkers' oracle.
	objects *objectStore
	// diskVictims are the brokers whose disk was lost (at most
	// Config.LostDisks of them).
	diskVictims []sm.NodeID

	history    *linearizability.History
	knownHW    map[sm.TopicPartition]sm.Offset // highest HW any client saw, to aim fetches
	replyHooks map[sm.NodeID]func(linearizability.Op)
	faultsOn   bool
	times      timeLookups // the time-lookup director and checker (timelookup.go)
	grp        groupRun    // the consumer-group workload and checker (groups.go)
	idem       idemRun     // the idempotent producers and duplicate checker (idempotent.go)
	heals      int         // counts healAll; faults scheduled before a heal do not start after it
	inv        invariants
	sec        security
	rev        revocations

	trace   tracer
	stats   Stats
	failure error
	events  uint64

	// tamper, when set (by tests), may change each envelope as it is sent:
	// TestDeterminismSeesOneByte changes one byte of one message.
	tamper func(*sm.Envelope)
}

// Simulated node IDs, in the sm ranges: controllers c1.., brokers b101..,
// workload clients cl1000001.. and the harness's own client adm1.
const (
	firstBrokerID = sm.BrokerIDMin + 1
	firstClientID = sm.ClientIDMin + 1
	adminClientID = sm.AdminClientIDMin + 1
)

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
	// acceptDataLoss starts the broker with --accept-data-loss (the
	// operator's answer to losing every copy: see World.wipeAll).
	acceptDataLoss bool
	// tlsRevoked is the set of revoked certificate serials the process's
	// transport refuses (what its node last reported, after the adapter's
	// lag; nil until then), and conns the serial of each client's live
	// connection to it (sim/revoke.go). A process starts with neither.
	tlsRevoked map[string]bool
	conns      map[sm.NodeID]string
}

// diskFaults are a host's active disk fault windows.
type diskFaults struct {
	errorsUntil sm.Time // each op fails with probability errRate until then
	errRate     float64
	slowUntil   sm.Time // syncs take up to slowMax until then
	lieUntil    sm.Time // partition-log syncs are acknowledged but not made durable until then
	slowMax     sm.Duration
	// Read faults (readerr): each log read fails with EIO with probability
	// readErrRate until readErrUntil, and takes up to readSlowMax longer
	// (heavy-tailed) until readSlowUntil.
	readErrUntil  sm.Time
	readErrRate   float64
	readSlowUntil sm.Time
	readSlowMax   sm.Duration
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
	h.w.noteACLs(h)
	h.w.noteRevocations(h)
	if h.up && h.incarnation == inc && h.w.nodeCheckDue() {
		if err := h.node.CheckInvariants(); err != nil {
			h.w.fail("%v invariant: %v", h.id, err)
		}
		if h.lossPending && h.node.(*broker.Node).LossReported() {
			h.lossPending = false
			delete(h.disk.files, lostMarker) // removed and the directory synced
		}
	}
}

// StartRead implements runtime.LogReader. Each read takes its bytes from the
// segment's page cache when it is issued — so it sees every append that
// completed before, and nothing a later truncate, reset or bit flip does —
// and completes after its own drawn latency, so reads complete in any order
// and independently of the log's writes. A read of a segment that is gone
// by its completion (trimmed, truncated away, reset, deleted), or that an
// injected fault fails (readerr: EIO), completes OutcomeFailed; a crash
// loses it.
func (h *host) StartRead(reads []sm.LogRead) {
	w := h.w
	w.trace.logReads(w.now, h.id, reads)
	if w.readRNG == nil {
		// Its own stream, so reads never shift the draws of writes.
		w.readRNG = newRNG(w.cfg.Seed).child("read")
	}
	r := w.readRNG
	inc := h.incarnation
	for _, rd := range reads {
		if w.trace.verbose != nil {
			w.trace.note(w.now, h.id, "read #%d %v segment=%d pos=%d max=%d", rd.ID, rd.TP, rd.Segment, rd.Pos, rd.MaxBytes)
		}
		data, seg, errText := h.disk.readLog(rd)
		if errText == "" && w.now < h.faults.readErrUntil && r.chance(h.faults.readErrRate) {
			w.stats.Faults[FaultReadError]++
			errText = "read: input/output error (EIO)"
		}
		lat := sm.Duration(r.heavyTail(int64(max(w.cfg.DiskLatencyMin, 1)), int64(w.cfg.DiskLatencyMax)*20))
		if w.now < h.faults.readSlowUntil {
			w.stats.Faults[FaultReadError]++
			lat += sm.Duration(r.heavyTail(int64(h.faults.readSlowMax)/50+1, int64(h.faults.readSlowMax)))
		}
		id, tp := rd.ID, rd.TP
		w.after(lat, func() {
			if !h.up || h.incarnation != inc {
				return
			}
			d := sm.LogReadDone{ID: id}
			switch {
			case errText != "":
				d.Outcome, d.Reason = sm.OutcomeFailed, errText
				w.stats.reach("log read failed")
			case !h.disk.segmentExists(tp, seg):
				d.Outcome, d.Reason = sm.OutcomeFailed, fmt.Sprintf("read %v: segment %d is gone", tp, seg.base)
				w.stats.reach("log read of a gone segment")
			default:
				d.Data = slices.Clone(data) // the node's own buffer, as a real read fills
			}
			h.deliver(inc, d)
		})
	}
}

// StartLog implements runtime.LogStore: operations take effect on the page
// cache now, complete in order per partition log (operations on different
// partition logs complete in any order, as io/wal may), and become durable
// at completion when synced — and every operation but a plain append (no
// Roll) is synced. Refusals end OutcomeFailed, I/O errors OutcomeUnknown.
func (h *host) StartLog(ops []sm.LogOp) {
	h.w.trace.logOps(h.w.now, h.id, ops)
	for _, op := range ops {
		if h.w.trace.verbose != nil {
			h.w.trace.note(h.w.now, h.id, "log %v #%d %v offset=%d base=%d bytes=%d sync=%v roll=%v", op.Kind, op.ID, op.TP, op.Offset, frameBase(op.Data), len(op.Data), op.Sync, op.Roll)
		}
		if op.Roll {
			h.w.stats.reach("log rolled")
		}
		switch op.Kind {
		case sm.LogTruncate:
			h.w.stats.reach("log truncated")
		case sm.LogDamaged:
			h.w.stats.reach("log damage recorded")
		case sm.LogTrim:
			h.w.stats.reach("log trimmed")
		case sm.LogReset:
			h.w.stats.reach("log reset")
		}
		errText, refused := h.diskError(op.Sync), false
		if errText == "" {
			errText, refused = h.disk.applyLog(op)
		}
		id := op.ID
		h.startWrite(walFile(op.TP), op.Sync || op.Roll || op.Kind != sm.LogAppend, op.Kind == sm.LogAppend, errText, func(errText string) sm.Event {
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
	h.w.trace.raftSaves(h.w.now, h.id, saves)
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
			if w.now < h.faults.lieUntil && file != raftFile {
				h.disk.lieSync(file)
			} else {
				h.disk.sync(file)
			}
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
	h.w.trace.setTimer(h.w.now, h.id, at)
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
	h.tlsRevoked, h.conns = nil, nil
	// As the production broker does, a node starts from its logs'
	// manifests (io/wal's Open), never from their bytes.
	d, err := h.disk.recoverRaft()
	if err == nil {
		d.Manifests, d.Damaged, err = h.recoverLogs()
	}
	if err != nil {
		w.fail("%v recover: %v", h.id, err)
		return
	}
	if h.kind == kindBroker {
		// As the production broker does (cmd/internal/server): a disk
		// without the incarnation file is fresh and gets a durable
		// lost-disk marker, and every start on a disk holding it reports a
		// lost disk, until a start registers.
		if h.disk.files[incarnationFile] == nil {
			h.disk.files[incarnationFile] = &file{content: []byte("1"), durable: []byte("1")}
			h.disk.files[lostMarker] = &file{content: []byte("1"), durable: []byte("1")}
		}
		h.lossPending = h.disk.files[lostMarker] != nil
		d.FreshDisk = h.lossPending
	} else {
		d.FreshDisk = h.incarnation == 1
	}
	if len(d.Damaged) > 0 {
		w.stats.reach("damaged log on recovery")
		w.trace.note(w.now, h.id, "recovered damaged logs %v", d.Damaged)
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

// recoverLogs is the manifest recovery (Disk.recoverManifests), with what it
// repaired counted as coverage probes: what start hands a broker once
// brokers recover from manifests instead of sm.Durable.Logs.
func (h *host) recoverLogs() (map[sm.TopicPartition]sm.LogManifest, map[sm.TopicPartition]string, error) {
	ms, damaged, st, err := h.disk.recoverManifests()
	if err != nil {
		return nil, nil, fmt.Errorf("%v recover: %w", h.id, err)
	}
	for range st.indexesRebuilt {
		h.w.stats.reach("index rebuilt")
	}
	if st.indexesRebuilt+st.tornCut > 0 {
		h.w.trace.note(h.w.now, h.id, "recovery: indexes rebuilt %v, %d torn tails cut", st.rebuilt, st.tornCut)
	}
	return ms, damaged, nil
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

// tracer folds every event the world delivers — to a process or to a
// client — and every effect a process starts into one hash (the
// determinism test compares it) and, when verbose, prints the events. The
// hash covers whole contents: messages as their net/wire frames, disk
// operations and completions and timers with every field, so two runs that
// differ in a single byte of anything a node saw or did hash differently.
type tracer struct {
	d       *xxhash.Digest
	buf     []byte
	verbose io.Writer
}

// Record tags: what kind of thing the bytes after them describe.
const (
	traceReceived byte = iota + 1
	traceLogDone
	traceRaftDone
	traceTimerFired
	traceHealthObserved
	traceLogOp
	traceRaftSave
	traceSetTimer
	traceUnknown
	traceLogRead
	traceLogReadDone
	traceObjectOp
	traceObjectDone
)

// sum is the hash of everything traced so far.
func (t *tracer) sum() uint64 {
	if t.d == nil {
		return xxhash.New().Sum64()
	}
	return t.d.Sum64()
}

// begin starts a record: time, node, tag.
func (t *tracer) begin(now sm.Time, node sm.NodeID, tag byte) {
	b := binary.LittleEndian.AppendUint64(t.buf[:0], uint64(now))
	b = binary.LittleEndian.AppendUint64(b, uint64(node))
	t.buf = append(b, tag)
}

func (t *tracer) u64(v uint64) { t.buf = binary.LittleEndian.AppendUint64(t.buf, v) }

func (t *tracer) bytes(p []byte) {
	t.u64(uint64(len(p)))
	t.buf = append(t.buf, p...)
}

func (t *tracer) str(s string) {
	t.u64(uint64(len(s)))
	t.buf = append(t.buf, s...)
}

func (t *tracer) bool(v bool) {
	if v {
		t.buf = append(t.buf, 1)
	} else {
		t.buf = append(t.buf, 0)
	}
}

// message appends m's wire frame, or its kind and the encoding error for a
// message the codec refuses (which a real network could not carry).
func (t *tracer) message(m sm.Message) {
	n := len(t.buf)
	var err error
	if t.buf, err = wire.AppendFrame(t.buf, m); err != nil {
		t.buf = t.buf[:n]
		t.str(fmt.Sprintf("unencodable %T: %v", m, err))
	}
}

// end folds the record into the hash.
func (t *tracer) end() {
	if t.d == nil {
		t.d = xxhash.New()
	}
	t.d.Write(t.buf)
}

func (t *tracer) event(now sm.Time, node sm.NodeID, ev sm.Event) {
	switch e := ev.(type) {
	case sm.Received:
		t.begin(now, node, traceReceived)
		t.u64(uint64(e.From))
		t.message(e.Msg)
		if e.Serial != "" { // only with revocations: other runs hash as before
			t.str(e.Serial)
		}
	case sm.LogDone:
		t.begin(now, node, traceLogDone)
		t.u64(uint64(e.ID))
		t.u64(uint64(e.Outcome))
		t.str(e.Reason)
	case sm.RaftDone:
		t.begin(now, node, traceRaftDone)
		t.u64(uint64(e.ID))
		t.u64(uint64(e.Outcome))
		t.str(e.Reason)
	case sm.LogReadDone:
		t.begin(now, node, traceLogReadDone)
		t.u64(uint64(e.ID))
		t.u64(uint64(e.Outcome))
		t.bytes(e.Data)
		t.str(e.Reason)
	case sm.ObjectDone:
		t.begin(now, node, traceObjectDone)
		t.u64(uint64(e.ID))
		t.u64(uint64(e.Outcome))
		t.u64(uint64(e.Err))
		t.str(e.Reason)
		t.bytes(e.Data)
		t.u64(uint64(e.Size))
		t.u64(uint64(e.Generation))
		t.u64(uint64(len(e.Objects)))
		for _, o := range e.Objects {
			t.str(o.Name)
			t.u64(uint64(o.Size))
			t.u64(uint64(o.Generation))
		}
		t.bool(e.More)
	case sm.TimerFired:
		t.begin(now, node, traceTimerFired)
	case sm.HealthObserved:
		// The codec's encoding of a health report, the one a heartbeat
		// carries.
		t.begin(now, node, traceHealthObserved)
		t.message(sm.BrokerHeartbeat{Health: &e.Health})
	default:
		t.begin(now, node, traceUnknown)
		t.str(fmt.Sprintf("%T%+v", ev, ev))
	}
	t.end()
	if t.verbose != nil {
		fmt.Fprintf(t.verbose, "%v %v <- %s\n", now, node, describeEvent(ev))
	}
}

// logOps folds the partition-log writes a node started.
func (t *tracer) logOps(now sm.Time, node sm.NodeID, ops []sm.LogOp) {
	for i := range ops {
		op := &ops[i]
		t.begin(now, node, traceLogOp)
		t.u64(uint64(op.ID))
		t.u64(uint64(op.Kind))
		t.str(op.TP.Topic)
		t.u64(uint64(op.TP.Partition))
		t.buf = append(t.buf, op.TopicID[:]...)
		t.bytes(op.Data)
		t.bool(op.Roll)
		t.u64(uint64(op.Offset))
		t.bool(op.Sync)
		t.str(op.Note)
		t.end()
	}
}

// logReads folds the partition-log reads a node started.
func (t *tracer) logReads(now sm.Time, node sm.NodeID, reads []sm.LogRead) {
	for i := range reads {
		r := &reads[i]
		t.begin(now, node, traceLogRead)
		t.u64(uint64(r.ID))
		t.str(r.TP.Topic)
		t.u64(uint64(r.TP.Partition))
		t.u64(uint64(r.Segment))
		t.u64(uint64(r.Pos))
		t.u64(uint64(r.MaxBytes))
		t.end()
	}
}

// objectOps folds the object-store operations a node started.
func (t *tracer) objectOps(now sm.Time, node sm.NodeID, ops []sm.ObjectOp) {
	for i := range ops {
		op := &ops[i]
		t.begin(now, node, traceObjectOp)
		t.u64(uint64(op.ID))
		t.u64(uint64(op.Kind))
		t.str(op.Name)
		t.bool(op.Source != nil)
		if src := op.Source; src != nil {
			t.str(src.TP.Topic)
			t.u64(uint64(src.TP.Partition))
			t.buf = append(t.buf, src.TopicID[:]...)
			t.u64(uint64(src.Segment))
			t.u64(uint64(src.Pos))
			t.u64(uint64(src.Len))
			t.u64(uint64(src.Base))
			t.u64(uint64(src.Next))
		}
		t.bytes(op.Data)
		t.bool(op.CreateOnly)
		t.u64(uint64(op.Off))
		t.u64(uint64(op.Len))
		t.str(op.Prefix)
		t.str(op.After)
		t.u64(uint64(op.Limit))
		t.end()
	}
}

// raftSaves folds the raft writes a controller started.
func (t *tracer) raftSaves(now sm.Time, node sm.NodeID, saves []sm.RaftSave) {
	for i := range saves {
		s := &saves[i]
		t.begin(now, node, traceRaftSave)
		t.u64(uint64(s.ID))
		t.bool(s.HardState != nil)
		if hs := s.HardState; hs != nil {
			t.u64(hs.GetTerm())
			t.u64(hs.GetVote())
			t.u64(hs.GetCommit())
		}
		t.u64(uint64(len(s.Entries)))
		for _, e := range s.Entries {
			t.u64(e.GetTerm())
			t.u64(e.GetIndex())
			t.u64(uint64(e.GetType()))
			t.bytes(e.GetData())
		}
		t.bool(s.Snapshot != nil)
		if sn := s.Snapshot; sn != nil {
			t.u64(sn.GetMetadata().GetIndex())
			t.u64(sn.GetMetadata().GetTerm())
			t.bytes(sn.GetData())
		}
		t.bool(s.Sync)
		t.end()
	}
}

// setTimer folds a node's timer wish (zero cancels).
func (t *tracer) setTimer(now sm.Time, node sm.NodeID, at sm.Time) {
	t.begin(now, node, traceSetTimer)
	t.u64(uint64(at))
	t.end()
}

func (t *tracer) note(now sm.Time, node sm.NodeID, format string, args ...any) {
	if t.verbose != nil {
		fmt.Fprintf(t.verbose, "%v %v ** %s\n", now, node, fmt.Sprintf(format, args...))
	}
}

func describeEvent(ev sm.Event) string {
	switch e := ev.(type) {
	case sm.Received:
		return fmt.Sprintf("%v %v%+v", e.From, e.Msg.Kind(), e.Msg)
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
	case sm.LogReadDone:
		if e.Outcome != sm.OutcomeOK {
			return fmt.Sprintf("read done #%d %v %q", e.ID, e.Outcome, e.Reason)
		}
		return fmt.Sprintf("read done #%d %d bytes", e.ID, len(e.Data))
	case sm.ObjectDone:
		s := fmt.Sprintf("object done #%d %v", e.ID, e.Outcome)
		if e.Err != sm.ObjErrNone {
			s += fmt.Sprintf(" %v %q", e.Err, e.Reason)
		}
		return s + fmt.Sprintf(" %d bytes, %d listed, more=%v", len(e.Data), len(e.Objects), e.More)
	case sm.TimerFired:
		return "timer"
	case sm.HealthObserved:
		return fmt.Sprintf("health observed %+v", e.Health)
	}
	return fmt.Sprintf("%T", ev)
}
