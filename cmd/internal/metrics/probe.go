package metrics

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weirmq/weir/runtime"
	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/broker"
	"github.com/weirmq/weir/sm/controller"
	"github.com/weirmq/weir/sm/partition"
)

// DefaultSampleEvery is how often a Probe samples when NewProbe is given 0.
const DefaultSampleEvery = time.Second

// diskIssuedMax bounds the disk effects a Probe remembers awaiting
// completion; beyond it new ones are not timed (a disk that never completes
// stops the node anyway).
const diskIssuedMax = 1 << 16

// diskKind is the kind label of a timed disk effect.
type diskKind uint8

const (
	diskAppend   = diskKind(sm.LogAppend)
	diskTruncate = diskKind(sm.LogTruncate)
	diskDelete   = diskKind(sm.LogDelete)
	diskRaft     = diskKind(3)
)

var diskKindNames = [...]string{
	diskAppend:   "append",
	diskTruncate: "truncate",
	diskDelete:   "delete",
	diskRaft:     "raft",
}

// Probe wraps the runtime.Node a runtime.Loop drives; give the Probe to
// runtime.NewLoop in the node's place. Its work happens on the loop
// goroutine, the only one that may read a state machine:
//
//   - it times each disk effect (log operation, raft save) from the step
//     that issued it to the step that delivers its completion
//     (weir_disk_op_duration_seconds);
//   - it notes the raft term and commit index of every hard state the node
//     hands to disk (Raft);
//   - after a step, when `every` of loop time has passed since the last
//     sample (and after the first step), it calls take and publishes the
//     result for Load.
//
// It adds no goroutine and no lock; the steps it adds to the loop are a few
// field updates per event, plus take once per `every`.
type Probe[T any] struct {
	node  runtime.Node
	take  func() T
	every sm.Duration
	disk  *prometheus.HistogramVec
	obs   [len(diskKindNames)][2]prometheus.Observer // resolved on first use

	// Owned by the loop goroutine.
	now     sm.Time
	last    sm.Time
	sampled bool
	ready   sm.Ready                 // the Ready not yet advanced
	issued  map[sm.EffectID]issuedOp // started, not completed

	v            atomic.Pointer[T]
	term, commit atomic.Uint64
}

var _ runtime.Node = (*Probe[struct{}])(nil)

type issuedOp struct {
	at   sm.Time
	kind diskKind
	sync bool
}

// NewProbe wraps node. take (nil: no sampling) runs on the loop goroutine
// at most once per every (0: DefaultSampleEvery) of loop time; it may read
// the state machine freely but must return a value that does not alias
// state the node will mutate.
func NewProbe[T any](reg *Registry, node runtime.Node, every time.Duration, take func() T) *Probe[T] {
	if every <= 0 {
		every = DefaultSampleEvery
	}
	return &Probe[T]{node: node, take: take, every: sm.Duration(every), disk: reg.disk, issued: map[sm.EffectID]issuedOp{}}
}

// Load returns the latest sample (T's zero value before the first).
func (p *Probe[T]) Load() T {
	if v := p.v.Load(); v != nil {
		return *v
	}
	var zero T
	return zero
}

// Raft returns the term and commit index of the last raft hard state the
// node handed to disk (zero for nodes without raft, and until the first).
func (p *Probe[T]) Raft() (term, commit uint64) { return p.term.Load(), p.commit.Load() }

// Step notes the time and any disk completion, then steps the node.
func (p *Probe[T]) Step(now sm.Time, ev sm.Event) error {
	p.now = now
	switch d := ev.(type) {
	case sm.LogDone:
		p.completed(d.ID)
	case sm.RaftDone:
		p.completed(d.ID)
	}
	return p.node.Step(now, ev)
}

// Ready returns the node's Ready; its disk operations are recorded as
// started when the driver advances.
func (p *Probe[T]) Ready() sm.Ready {
	rd := p.node.Ready()
	p.ready = rd
	return rd
}

// Advance records the advanced Ready's disk operations, advances the node
// and samples when due.
func (p *Probe[T]) Advance() {
	for _, op := range p.ready.Log {
		p.issue(op.ID, diskKind(op.Kind), op.Sync)
	}
	for _, s := range p.ready.Raft {
		if s.HardState != nil {
			p.term.Store(s.HardState.GetTerm())
			p.commit.Store(s.HardState.GetCommit())
		}
		p.issue(s.ID, diskRaft, s.Sync)
	}
	p.ready = sm.Ready{}
	p.node.Advance()
	if p.take != nil && (!p.sampled || p.now-p.last >= sm.Time(p.every)) {
		v := p.take()
		p.v.Store(&v)
		p.sampled, p.last = true, p.now
	}
}

// CheckInvariants passes through.
func (p *Probe[T]) CheckInvariants() error { return p.node.CheckInvariants() }

func (p *Probe[T]) issue(id sm.EffectID, kind diskKind, sync bool) {
	if len(p.issued) < diskIssuedMax {
		p.issued[id] = issuedOp{at: p.now, kind: kind, sync: sync}
	}
}

// completed observes the latency of disk effect id (effects of different
// logs complete in any order).
func (p *Probe[T]) completed(id sm.EffectID) {
	op, ok := p.issued[id]
	if !ok {
		return
	}
	delete(p.issued, id)
	p.observer(op.kind, op.sync).Observe(time.Duration(p.now - op.at).Seconds())
}

// observer returns the latency child of a kind and sync flag; children are
// made on first use, so a broker shows no raft series.
func (p *Probe[T]) observer(kind diskKind, sync bool) prometheus.Observer {
	s := 0
	if sync {
		s = 1
	}
	syncLabel := [2]string{"false", "true"}[s]
	if int(kind) >= len(p.obs) {
		return p.disk.WithLabelValues("kind("+strconv.Itoa(int(kind))+")", syncLabel)
	}
	if p.obs[kind][s] == nil {
		p.obs[kind][s] = p.disk.WithLabelValues(diskKindNames[kind], syncLabel)
	}
	return p.obs[kind][s]
}

// ---- samplers -------------------------------------------------------------

// SampleBroker reads the replicas a broker hosts (call it on the loop
// goroutine: it is a Probe's take). Replicas is left 0 (unknown): the
// broker's partition status does not carry the assignment, so the broker
// exports no under-replicated count; the controller's is authoritative.
func SampleBroker(n *broker.Node) []PartitionStat {
	st := n.Partitions()
	out := make([]PartitionStat, 0, len(st))
	for _, s := range st {
		if s.Role == partition.RoleNone {
			continue
		}
		out = append(out, PartitionStat{
			Topic: s.TP.Topic, Partition: s.TP.Partition,
			Leader: s.Role == partition.RoleLeader, ISRSize: len(s.ISR), Replicas: len(s.Replicas),
			HW: int64(s.HW), LEO: int64(s.LEO), LogStart: int64(s.LogStart),
		})
	}
	return out
}

// ControllerSnapshot is what a controller Probe samples.
type ControllerSnapshot struct {
	IsLeader bool
	Term     uint64
	Applied  uint64
	// Partitions, Offline (no leader) and UnderReplicated (led, ISR
	// smaller than the replica set) count the applied metadata's
	// partitions.
	Partitions, Offline, UnderReplicated int
	// Registered brokers, and those not fenced.
	Registered, Online int
	// GC is the garbage collector's counters (tiered storage).
	GC controller.GCStats
}

// SampleController reads a controller's state (call it on the loop
// goroutine: it is a Probe's take). It copies the full metadata, so sample
// no more than about once a second.
func SampleController(n *controller.Node) ControllerSnapshot {
	s := ControllerSnapshot{IsLeader: n.IsLeader(), Term: n.Term(), Applied: n.AppliedIndex()}
	md := n.Metadata()
	s.Partitions, s.Offline, s.UnderReplicated = CountPartitions(md.Partitions)
	s.Registered, s.Online = CountBrokers(md.Brokers)
	s.GC = n.GCStats()
	return s
}

// CountPartitions counts partitions, those with no leader, and those led
// whose ISR is smaller than their replica set (an offline partition counts
// as offline only, as in Kafka).
func CountPartitions(ps []sm.PartitionState) (total, offline, underReplicated int) {
	for i := range ps {
		switch {
		case ps[i].Leader == sm.NoNode:
			offline++
		case len(ps[i].ISR) < len(ps[i].Replicas):
			underReplicated++
		}
	}
	return len(ps), offline, underReplicated
}

// CountBrokers counts registered brokers and those not fenced.
func CountBrokers(bs []sm.BrokerInfo) (registered, online int) {
	for i := range bs {
		if !bs[i].Fenced {
			online++
		}
	}
	return len(bs), online
}

// ControllerSourcesFrom builds a controller's sources from its Probe: the
// leader flag, raft term (the newest of sample and persisted hard state),
// commit index (the persisted one, never below applied), applied index,
// partition and broker counts. RateLimit and Transports are left for the
// caller.
func ControllerSourcesFrom(p *Probe[ControllerSnapshot]) ControllerSources {
	return ControllerSources{
		IsLeader: func() bool { return p.Load().IsLeader },
		Raft: func() (term, commit, applied uint64) {
			s := p.Load()
			hsTerm, hsCommit := p.Raft()
			return max(s.Term, hsTerm), max(hsCommit, s.Applied), s.Applied
		},
		Partitions: func() (int, int, int) {
			s := p.Load()
			return s.Partitions, s.Offline, s.UnderReplicated
		},
		Brokers: func() (int, int) {
			s := p.Load()
			return s.Registered, s.Online
		},
	}
}
