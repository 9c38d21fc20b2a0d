// Package broker is the broker node: every partition replica hosted on one
// process, the heartbeat session with the controller that carries metadata
// back, and the routing of messages, disk completions and timers to
// replicas (sm/partition). It implements runtime.Node.
//
// It is pure: Step consumes one event with the time, Ready reports the
// effects (disk operations, messages, the next timer, a fatal stop) and
// Advance acknowledges them. It never blocks, starts goroutines, reads a
// clock, draws randomness or touches I/O.
//
// Every event doubles as a tick, so deadlines that passed while a process
// was paused are handled at the next event. A failed disk operation is an
// environmental dead end (Ready.Fatal); the runtime restarts the process,
// which recovers its logs from disk.
//
// Known limit: topics are named, not numbered. A topic deleted and
// re-created between two metadata versions this broker saw looks the same
// as the old one, so its old log would be kept; the controller should send
// the deletion in a delta (or topics should carry IDs).
package broker

import (
	"fmt"
	"maps"
	"slices"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/partition"
)

// PartitionStatus is one hosted replica's state as the simulator, tests and
// the admin API see it: TP, Role, Leader, LeaderEpoch, LEO, DurableLEO, HW,
// ISR.
type PartitionStatus = partition.Status

// hosted is a replica this broker holds. gen tells one replica of a TP from
// a later one (topic deleted and re-created), so a disk completion issued by
// the first never reaches the second.
type hosted struct {
	p   *partition.Partition
	gen uint64
}

// diskRoute remembers who issued a disk operation (gen 0: the broker).
type diskRoute struct {
	id  uint64
	tp  sm.TopicPartition
	gen uint64
}

// Node is one broker process. See the package comment.
type Node struct {
	cfg        Config
	now        sm.Time
	meta       metadata
	registered bool

	parts  map[sm.TopicPartition]*hosted
	gen    uint64
	disk   []diskRoute // issued, uncompleted, in issue order
	diskID uint64

	ctrlIdx int       // position in cfg.Controllers of the last rotation
	ctrl    sm.NodeID // the controller believed to lead
	hb      heartbeat
	// observed is the runtime's latest health measurement (HealthObserved);
	// zero until the first one.
	observed sm.BrokerHealth

	// damaged holds the replicas recovered from damaged logs (sm.Durable)
	// with the damage found; such a replica serves nothing and its log is
	// not cut until metadata shows another replica leading, to rebuild it
	// from. lostDisk says the process started on an empty disk. Both are
	// reported to the controller until this incarnation registers.
	damaged  map[sm.TopicPartition]string
	lostDisk bool
	reported bool // registered once: losses were reported

	rd    sm.Ready // effects since the last Advance (TimerAt computed in Ready)
	fatal string
}

// New starts a broker from what its disk holds: every partition log in d is
// recovered (a torn tail is cut by a DiskTruncate in the first Ready). The
// caller must take Ready before the first Step; the first heartbeat goes out
// at the first timer.
func New(cfg Config, d sm.Durable) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.HealthInterval == 0 {
		cfg.HealthInterval = DefaultHealthInterval
	}
	n := &Node{
		cfg: cfg, parts: map[sm.TopicPartition]*hosted{},
		ctrl: cfg.Controllers[0], meta: newMetadata(),
		hb:       heartbeat{nextAt: 1},
		damaged:  map[sm.TopicPartition]string{},
		lostDisk: d.FreshDisk,
	}
	for _, tp := range slices.SortedFunc(maps.Keys(d.Logs), sm.CompareTP) {
		if _, err := n.host(tp, d.Logs[tp]); err != nil {
			return nil, err
		}
	}
	for _, tp := range slices.SortedFunc(maps.Keys(d.Damaged), sm.CompareTP) {
		if n.parts[tp] == nil {
			return nil, fmt.Errorf("broker: %v is reported damaged but has no log", tp)
		}
		n.damaged[tp] = d.Damaged[tp]
	}
	return n, nil
}

// Damaged reports the hosted replicas whose logs are damaged and not yet
// repaired, with the damage found, for the process to log and the admin
// API to show.
func (n *Node) Damaged() map[sm.TopicPartition]string { return maps.Clone(n.damaged) }

// host creates the replica of tp from its log bytes (nil: a new one).
func (n *Node) host(tp sm.TopicPartition, logBytes []byte) (*hosted, error) {
	assertf(n.parts[tp] == nil, "hosting %v twice", tp)
	p, err := partition.New(n.cfg.partitionConfig(tp), logBytes)
	if err != nil {
		return nil, fmt.Errorf("broker: recovering %v: %w", tp, err)
	}
	n.gen++
	h := &hosted{p: p, gen: n.gen}
	n.parts[tp] = h
	n.drain(tp, h)
	return h, nil
}

// Step consumes one event. It returns an error only for a message it cannot
// route; everything else is handled as data.
func (n *Node) Step(now sm.Time, ev sm.Event) error {
	if n.fatal != "" {
		return nil // stopped: the runtime is about to restart the process
	}
	if now > n.now {
		n.now = now
	}
	var err error
	switch e := ev.(type) {
	case sm.Received:
		err = n.onReceived(e.From, e.Msg)
	case sm.TimerFired:
	case sm.DiskDone:
		n.onDiskDone(e)
	case sm.HealthObserved:
		n.observed = e.Health
	default:
		err = fmt.Errorf("broker: unknown event %T", ev)
	}
	// Every event doubles as a tick: a TimerFired may come late (a paused
	// process, a clock jump) behind other events, and deadlines that have
	// passed are handled now, so after any Step every timer is in the future.
	if n.fatal == "" {
		n.onTimer()
	}
	return err
}

// Ready returns the effects accumulated since the last Advance, with the
// earliest time any heartbeat or replica deadline needs a TimerFired.
func (n *Node) Ready() sm.Ready {
	rd := n.rd
	rd.Fatal = n.fatal
	if n.fatal == "" {
		rd.TimerAt = n.timerAt()
	}
	return rd
}

// Advance acknowledges the last Ready: its effects are with the adapters.
func (n *Node) Advance() {
	n.rd = sm.Ready{}
}

// Registered reports whether the controller's metadata shows this broker's
// incarnation registered and unfenced; until then it leads nothing.
func (n *Node) Registered() bool { return n.registered }

// Controller is the controller this broker currently believes leads.
func (n *Node) Controller() sm.NodeID { return n.ctrl }

// Partitions reports every hosted replica, sorted by TP.
func (n *Node) Partitions() []PartitionStatus {
	out := make([]PartitionStatus, 0, len(n.parts))
	for _, tp := range n.sortedParts() {
		out = append(out, n.parts[tp].p.Status())
	}
	return out
}

// Log returns a hosted replica's in-memory batches (nil when not hosted),
// for the simulator's checkers. Callers must not modify them.
func (n *Node) Log(tp sm.TopicPartition) []sm.Batch {
	if h := n.parts[tp]; h != nil {
		return h.p.Log()
	}
	return nil
}

func (n *Node) sortedParts() []sm.TopicPartition {
	return slices.SortedFunc(maps.Keys(n.parts), sm.CompareTP)
}

// drain moves a replica's output into the node's Ready: disk operations get
// IDs and routes, AlterISR requests go to the controller believed to lead.
func (n *Node) drain(tp sm.TopicPartition, h *hosted) {
	out := h.p.TakeOutput()
	for _, op := range out.Disk {
		n.issueDisk(op, h.gen)
	}
	n.rd.Messages = append(n.rd.Messages, out.Messages...)
	for _, req := range out.AlterISR {
		n.send(n.ctrl, req)
	}
}

func (n *Node) issueDisk(op sm.DiskOp, gen uint64) {
	n.diskID++
	op.ID = n.diskID
	n.rd.Disk = append(n.rd.Disk, op)
	n.disk = append(n.disk, diskRoute{id: op.ID, tp: op.TP, gen: gen})
}

func (n *Node) send(to sm.NodeID, m sm.Message) {
	n.rd.Messages = append(n.rd.Messages, sm.Envelope{From: n.cfg.ID, To: to, Msg: m})
}

// onDiskDone routes a completion to the replica that issued the operation.
// A failed operation, or a completion out of issue order, is an
// environmental dead end: stop, and let the runtime restart from disk.
func (n *Node) onDiskDone(e sm.DiskDone) {
	if len(n.disk) == 0 || n.disk[0].id != e.ID {
		want := uint64(0)
		if len(n.disk) > 0 {
			want = n.disk[0].id
		}
		n.fatal = fmt.Sprintf("broker: disk completion %d out of order (want %d)", e.ID, want)
		return
	}
	r := n.disk[0]
	n.disk = n.disk[1:]
	h := n.parts[r.tp]
	mine := h != nil && h.gen == r.gen
	if e.Err != "" && e.Refused && mine {
		// Refused before anything was written (the log is full): the
		// replica carries on, and its producers get a retriable error.
		if !h.p.OnDiskRefused(n.now, e.Err) {
			n.fatal = fmt.Sprintf("broker: %v: an append from before this leader's epoch was refused (%s); restarting to lead only what is on disk", r.tp, e.Err)
			return
		}
		n.drain(r.tp, h)
		return
	}
	if e.Err != "" && !(e.Refused && r.gen != 0) {
		n.fatal = fmt.Sprintf("broker: disk operation %d on %v failed: %s", e.ID, r.tp, e.Err)
		return
	}
	if e.Err != "" {
		return // a refused append of a replica that is gone
	}
	if mine {
		h.p.OnDiskDone(n.now)
		n.drain(r.tp, h)
	}
}

// onTimer runs the heartbeat and every replica deadline that has come.
func (n *Node) onTimer() {
	n.tickHeartbeat()
	if at := n.partsTimerAt(); at == 0 || at > n.now {
		return // nothing due: skip sorting the partitions
	}
	for _, tp := range n.sortedParts() {
		h := n.parts[tp]
		if at := h.p.TimerAt(); at != 0 && at <= n.now {
			h.p.OnTimer(n.now)
			n.drain(tp, h)
		}
	}
}

func (n *Node) timerAt() sm.Time {
	t := n.hb.timerAt(n.cfg.ControllerTimeout)
	if at := n.partsTimerAt(); at != 0 && at < t {
		t = at
	}
	return t
}

// partsTimerAt is the earliest replica deadline (0: none).
func (n *Node) partsTimerAt() sm.Time {
	var t sm.Time
	for _, h := range n.parts {
		if at := h.p.TimerAt(); at != 0 && (t == 0 || at < t) {
			t = at // min is order-independent, so ranging over the map is fine
		}
	}
	return t
}

// CheckInvariants verifies the node and every replica it hosts.
func (n *Node) CheckInvariants() error {
	for i := 1; i < len(n.disk); i++ {
		if n.disk[i].id <= n.disk[i-1].id {
			return fmt.Errorf("broker: %v disk routes out of order: %d after %d", n.cfg.ID, n.disk[i].id, n.disk[i-1].id)
		}
	}
	for _, tp := range n.sortedParts() {
		p := n.parts[tp].p
		if err := p.CheckInvariants(); err != nil {
			return fmt.Errorf("broker: %v: %w", n.cfg.ID, err)
		}
		s := p.Status()
		if s.Role != partition.RoleLeader {
			continue
		}
		st, ok := n.meta.Partition(tp)
		if !n.registered || !ok || st.Leader != n.cfg.ID || st.LeaderEpoch != s.LeaderEpoch {
			return fmt.Errorf("broker: %v leads %v at epoch %d; registered %v, metadata %+v", n.cfg.ID, tp, s.LeaderEpoch, n.registered, st)
		}
	}
	if t := n.timerAt(); n.fatal == "" && n.now > 0 && t <= n.now {
		return fmt.Errorf("broker: %v timer at %v not after now %v", n.cfg.ID, t, n.now)
	}
	return nil
}

func assertf(cond bool, format string, args ...any) {
	if !cond {
		panic(fmt.Sprintf("broker: "+format, args...))
	}
}
