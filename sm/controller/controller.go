// Package controller is the cluster-metadata state machine: brokers and their
// sessions, topics, partition assignments, leaders, ISRs and epochs,
// replicated across controllers with etcd raft (RawNode).
//
// It is pure: Step consumes one event with the current time, Ready reports
// what the caller must do (persist raft state, send messages, arm a timer),
// Advance acknowledges it. It never blocks, starts goroutines, reads a clock,
// draws randomness of its own or touches I/O. Raft's election jitter comes
// from crypto/rand, which the simulator seeds; this package never imports it.
//
// Persistence: raft entries, HardState and a received raft snapshot go to
// disk as one sm.RaftSave per raft Ready, and nothing that depends on them —
// raft messages, applying committed entries or the snapshot, replies —
// happens before its RaftDone.
//
// Compaction (snapshot.go, raftio.go): every Config.SnapshotEntries applied
// entries the node serialises its metadata into a raft snapshot at its
// applied index, keeps Config.SnapshotCatchUpEntries entries before it in
// raft's memory for followers that lag a little, and issues the snapshot in
// a RaftSave so that the store deletes the entries it summarises. A
// follower further behind than the kept entries gets the snapshot from raft
// (MsgSnap) and replaces its metadata with it. A start restores the stored
// snapshot (or, without one, bootstraps the membership snapshot at index 1)
// and re-applies only the committed entries after it.
//
// Requests are validated where they apply (in log order, identically on every
// replica), and the leader that proposed an entry replies when it applies.
//
// Tiered storage (remote.go, gc.go): the metadata records each partition's
// uploaded segments (commit_segment, drop_remote_segments) and summarises
// them in PartitionState.Remote; the leader answers RemoteSegmentsRequest
// pages from its applied state and, with Config.Tiering.GC, runs the
// garbage collector of segment objects (object-store effects in
// Ready.Objects, completed by sm.ObjectDone).
package controller

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/acl"
	"github.com/weirmq/weir/sm/assert"
)

// TieringConfig is the controller's side of tiered storage: recording
// uploaded segments is always on (it costs nothing without uploads); the
// garbage collector needs the object store.
type TieringConfig struct {
	// GC enables the garbage collector on the leader: it lists segment
	// objects and deletes those no record refers to and none can any more.
	// It needs an object store ([object_storage] on the controller).
	GC bool
	// GCGrace is how long an object must have been seen unreferenced and
	// uncommittable before it is deleted; zero uses DefaultGCGrace.
	GCGrace sm.Duration
	// GCInterval is how often the leader starts a collection pass; zero
	// uses DefaultGCInterval.
	GCInterval sm.Duration
}

// Tiering defaults.
const (
	DefaultGCGrace    = 10 * 60 * sm.Second
	DefaultGCInterval = 5 * 60 * sm.Second
)

// Config is one controller's configuration. Peers and the raft timing must be
// the same on every controller; the metadata itself never depends on Config,
// so replicas agree even if other fields differ.
type Config struct {
	// ID is this controller's raft ID (1..99, see sm.NodeID).
	ID sm.NodeID
	// Peers lists every controller ID, ID included; it is the fixed raft
	// membership (no membership changes yet).
	Peers []sm.NodeID
	// TickInterval is the time one raft tick stands for.
	TickInterval sm.Duration
	// ElectionTicks and HeartbeatTicks are raft's election timeout and
	// heartbeat interval in ticks.
	ElectionTicks  int
	HeartbeatTicks int
	// SessionTimeout is how long the leader waits after a broker's last
	// heartbeat before fencing it (the reference's heartbeat_timeout_ms).
	SessionTimeout sm.Duration
	// DefaultMinISR is the min_in_sync_replicas given to topics created
	// with 0, capped at the topic's replication factor.
	DefaultMinISR int32
	// MaxPartitions bounds the partitions of one topic.
	MaxPartitions int32
	// HealthTimeout is how long after a broker's last health report the
	// leader still counts it online (the reference's health_timeout_ms);
	// zero uses DefaultHealthTimeout. It should be at least twice the
	// brokers' health interval, so that one lost report does not flap.
	HealthTimeout sm.Duration
	// CanaryStatusWithoutReadIndex is a deliberate bug for the simulator's
	// self-test: a leader answers linearizable cluster-status requests at
	// once from its applied state, skipping the ReadIndex round. Never set
	// it in production.
	CanaryStatusWithoutReadIndex bool
	// Tiering configures the controller's side of tiered storage.
	Tiering TieringConfig
	// ACL is how the controller decides clients' requests (topic create,
	// delete and alter, ACL changes, cluster status, metadata) against the
	// ACL rules it holds, as brokers do (broker.Config.ACL). Requests of
	// the process's own admin API (admin IDs) are not checked here: the
	// admin listener authenticates them.
	ACL acl.Options
	// WallClockAtStart is the wall-clock time, in Unix ms, at node time 0,
	// for the ACLs' time-of-day conditions (zero: unknown, so time-windowed
	// allow rules grant nothing and time-windowed deny rules apply).
	WallClockAtStart int64
	// SnapshotEntries is how many entries applied since the last snapshot
	// make the node take the next one and compact its log; zero uses
	// DefaultSnapshotEntries.
	SnapshotEntries uint64
	// SnapshotCatchUpEntries is how many entries before a new snapshot stay
	// in raft's memory, so that a follower slightly behind catches up from
	// the log instead of receiving the whole snapshot (etcd's
	// SnapshotCatchUpEntries); zero uses DefaultSnapshotCatchUpEntries or
	// half of SnapshotEntries, whichever is smaller. The stored log keeps
	// only the entries after the snapshot.
	SnapshotCatchUpEntries uint64
	// RaftLogger receives etcd raft's own log lines (elections, term
	// changes, rejected appends). Nil keeps raft quiet. The process passes
	// an adapter to its logger (cmd/internal/server); sm/ does no I/O
	// itself. Its Panic and Fatal methods must not return (raft calls them
	// on broken invariants), and Fatal must not exit the process.
	RaftLogger raft.Logger
}

// DefaultHealthTimeout is the reference's health_timeout_ms (30 s).
const DefaultHealthTimeout = 30 * sm.Second

// Compaction defaults: a snapshot every 10,000 applied entries, keeping
// 5,000 before it for slow followers (etcd's SnapshotCatchUpEntries).
const (
	DefaultSnapshotEntries        = 10_000
	DefaultSnapshotCatchUpEntries = 5_000
)

// Validate reports the first invalid field, naming it, so a bad deployment
// fails at start rather than as a confusing raft panic later.
func (c *Config) Validate() error {
	if err := c.ACL.Validate(); err != nil {
		return fmt.Errorf("controller: acl: %w", err)
	}
	switch {
	case !c.ID.IsController():
		return fmt.Errorf("controller: id must be in 1..99 (got %d)", c.ID)
	case !slices.Contains(c.Peers, c.ID):
		return fmt.Errorf("controller: peers %v must include id %d", c.Peers, c.ID)
	case c.TickInterval <= 0:
		return fmt.Errorf("controller: tick interval must be > 0 (got %v)", c.TickInterval)
	case c.HeartbeatTicks < 1:
		return fmt.Errorf("controller: heartbeat ticks must be >= 1 (got %d)", c.HeartbeatTicks)
	case c.ElectionTicks <= c.HeartbeatTicks:
		return fmt.Errorf("controller: election ticks must be > heartbeat ticks (got %d <= %d)", c.ElectionTicks, c.HeartbeatTicks)
	case c.SessionTimeout <= 0:
		return fmt.Errorf("controller: session timeout must be > 0 (got %v)", c.SessionTimeout)
	case c.DefaultMinISR < 1:
		return fmt.Errorf("controller: default min isr must be >= 1 (got %d)", c.DefaultMinISR)
	case c.MaxPartitions < 1:
		return fmt.Errorf("controller: max partitions must be >= 1 (got %d)", c.MaxPartitions)
	case c.HealthTimeout < 0:
		return fmt.Errorf("controller: health timeout must be >= 0 (got %v); 0 uses %v", c.HealthTimeout, DefaultHealthTimeout)
	case c.Tiering.GCGrace < 0:
		return fmt.Errorf("controller: gc grace must be >= 0 (got %v); 0 uses %v", c.Tiering.GCGrace, DefaultGCGrace)
	case c.Tiering.GCInterval < 0:
		return fmt.Errorf("controller: gc interval must be >= 0 (got %v); 0 uses %v", c.Tiering.GCInterval, DefaultGCInterval)
	}
	for i, p := range c.Peers {
		if !p.IsController() || slices.Contains(c.Peers[:i], p) {
			return fmt.Errorf("controller: peers %v must be distinct ids in 1..99 (bad %d)", c.Peers, p)
		}
	}
	return nil
}

// Limits: every queue has one.
const (
	// proposalsMax bounds requests waiting for their entry to apply.
	proposalsMax = 1024
	// waitersMax bounds heartbeats of one broker waiting for its pending
	// registration or fence; a broker sends one per interval, so more would
	// only be stale.
	waitersMax = 4
	// tickCatchUpMax bounds the raft ticks one Step delivers after a clock
	// jump; beyond it the tick schedule restarts from now.
	tickCatchUpMax = 64
	// bootstrapIndex is the index (and term) of the snapshot every
	// controller starts from; the first real entry is bootstrapIndex+1.
	bootstrapIndex = 1
	// readsMax bounds linearizable cluster-status reads waiting for their
	// ReadIndex round; beyond it requests are refused (LEADER_NOT_AVAILABLE).
	readsMax = 1024
)

// errDropped is returned by propose when raft or our own limit refuses it.
var errDropped = errors.New("controller: proposal dropped")

// Node is one controller. It implements runtime.Node; the other methods are
// read-only views for tests and the simulator.
type Node struct {
	cfg   Config
	authz *acl.Authorizer // the applied rules, compiled (authorizer)
	// revokedAt is the revocation version last reported in Ready.Revoked
	// (revokedReported: once at all).
	revokedAt       uint64
	revokedReported bool
	rn              *raft.RawNode
	storage         *raft.MemoryStorage
	md              *metadata
	voters          []uint64 // the raft membership, sorted, for snapshots' ConfState
	// snapIndex is the index of the newest raft snapshot in storage (the
	// bootstrap one, one restored at start, received or taken); compacting
	// is the ID of the RaftSave persisting a snapshot this node took, 0 when
	// none is in flight.
	snapIndex  uint64
	compacting sm.EffectID
	restored   bool // the metadata came from a snapshot (at start or from the leader)

	now      sm.Time
	started  bool
	tickNext sm.Time

	out         sm.Ready       // effects since the last Advance (TimerAt filled by Ready)
	effectLast  sm.EffectID    // the last effect ID issued (raft saves and object operations share them)
	saveIDLast  sm.EffectID    // the last RaftSave ID issued
	unsynced    *unsyncedReady // the raft Ready waiting for its RaftDone
	versionSeen uint64         // the highest metadata version CheckInvariants saw

	// Leader-only state; empty unless leaderTerm != 0.
	leaderTerm  uint64                // the term this node leads; 0 when it does not
	seqLast     uint64                // the last proposal sequence number issued
	proposals   map[uint64]*proposal  // by Seq: waiting for their entry to apply
	brokerOps   map[sm.NodeID]uint64  // broker → Seq of its pending register/fence
	heartbeatAt map[sm.NodeID]sm.Time // broker → last heartbeat (or grace start)
	leaderSince sm.Time               // when this tenure started (health grace)
	reports     map[sm.NodeID]report  // broker → last health report (see health.go)
	sweepAt     sm.Time               // next sweep of stale reports
	readSeqLast uint64                // the last ReadIndex context issued (never reused)
	reads       map[uint64]*read      // by context: cluster-status reads in flight
	gc          gcState               // the garbage collector (gc.go); stats survive tenures

	// remoteEndSeen is each partition's Remote.End when CheckInvariants
	// last ran, keyed by topic ID, so it can tell that End never went back.
	remoteEndSeen map[remoteKey]sm.Offset
}

// remoteKey names one partition of one topic incarnation.
type remoteKey struct {
	id        sm.TopicID
	partition int32
}

// unsyncedReady is a raft Ready whose entries and HardState are on their way
// to disk: its messages, committed entries and Advance wait for RaftDone id.
type unsyncedReady struct {
	id sm.EffectID
	rd raft.Ready
}

// New starts a controller from what its disk holds (d.HardState,
// d.Snapshot and d.Entries; all empty on first start). It restores the
// metadata from the snapshot, if any, and re-applies every committed entry
// after it (from index 2 without one) to rebuild the rest.
func New(cfg Config, d sm.Durable) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	storage, md, err := newStorage(cfg.Peers, d)
	if err != nil {
		return nil, err
	}
	var logger raft.Logger = raftLogger{id: cfg.ID}
	if cfg.RaftLogger != nil {
		logger = cfg.RaftLogger
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID:                        uint64(cfg.ID),
		ElectionTick:              cfg.ElectionTicks,
		HeartbeatTick:             cfg.HeartbeatTicks,
		Storage:                   storage,
		MaxSizePerMsg:             1 << 20,
		MaxInflightMsgs:           256,
		MaxUncommittedEntriesSize: 16 << 20,
		CheckQuorum:               true,
		PreVote:                   true,
		DisableProposalForwarding: true,
		Logger:                    logger,
	})
	if err != nil {
		return nil, fmt.Errorf("controller: start raft: %w", err)
	}
	n := &Node{
		cfg:         cfg,
		rn:          rn,
		storage:     storage,
		md:          md,
		voters:      sortedVoters(cfg.Peers),
		snapIndex:   md.applied,
		restored:    md.applied > bootstrapIndex,
		proposals:   map[uint64]*proposal{},
		brokerOps:   map[sm.NodeID]uint64{},
		heartbeatAt: map[sm.NodeID]sm.Time{},
		reports:     map[sm.NodeID]report{},
		reads:       map[uint64]*read{},
	}
	if n.cfg.HealthTimeout == 0 {
		n.cfg.HealthTimeout = DefaultHealthTimeout
	}
	if n.cfg.SnapshotEntries == 0 {
		n.cfg.SnapshotEntries = DefaultSnapshotEntries
	}
	if n.cfg.SnapshotCatchUpEntries == 0 {
		n.cfg.SnapshotCatchUpEntries = min(DefaultSnapshotCatchUpEntries, n.cfg.SnapshotEntries/2)
	}
	n.cfg.Peers = slices.Clone(cfg.Peers)
	return n, nil
}

func sortedVoters(peers []sm.NodeID) []uint64 {
	voters := make([]uint64, len(peers))
	for i, p := range peers {
		voters[i] = uint64(p)
	}
	slices.Sort(voters)
	return voters
}

// newStorage loads the durable state into raft's memory storage: the stored
// snapshot, or without one the bootstrap membership snapshot, then the
// HardState and the entries after the snapshot. It returns the metadata the
// snapshot holds (empty at the bootstrap index).
func newStorage(peers []sm.NodeID, d sm.Durable) (*raft.MemoryStorage, *metadata, error) {
	voters := sortedVoters(peers)
	snap := &pb.Snapshot{Metadata: &pb.SnapshotMetadata{
		ConfState: &pb.ConfState{Voters: voters},
		Index:     new(uint64(bootstrapIndex)),
		Term:      new(uint64(bootstrapIndex)),
	}}
	md := newMetadata(bootstrapIndex)
	if d.Snapshot != nil && !raft.IsEmptySnap(d.Snapshot) {
		snap = d.Snapshot
		var err error
		if md, err = restoreSnapshot(snap, voters); err != nil {
			return nil, nil, fmt.Errorf("controller: durable %w", err)
		}
	}
	if err := checkDurable(d, snap); err != nil {
		return nil, nil, err
	}
	st := raft.NewMemoryStorage()
	err := st.ApplySnapshot(snap)
	assert.That(err == nil, "controller: apply snapshot at %d to empty storage: %v", snap.GetMetadata().GetIndex(), err)
	if !raft.IsEmptyHardState(d.HardState) {
		_ = st.SetHardState(d.HardState)
	}
	_ = st.Append(d.Entries)
	return st, md, nil
}

// restoreSnapshot checks a raft snapshot (from disk or from the leader)
// against the configured membership and decodes the metadata it carries.
func restoreSnapshot(snap *pb.Snapshot, voters []uint64) (*metadata, error) {
	meta := snap.GetMetadata()
	index := meta.GetIndex()
	if got := meta.GetConfState().GetVoters(); !slices.Equal(got, voters) || len(meta.GetConfState().GetLearners()) > 0 {
		return nil, fmt.Errorf("snapshot at %d has voters %v (learners %v), but the configured peers are %v",
			index, got, meta.GetConfState().GetLearners(), voters)
	}
	if index == bootstrapIndex && len(snap.GetData()) == 0 {
		return newMetadata(bootstrapIndex), nil
	}
	md, err := decodeSnapshot(snap.GetData())
	if err != nil {
		return nil, fmt.Errorf("snapshot at %d (term %d): %w", index, meta.GetTerm(), err)
	}
	if md.applied != index {
		return nil, fmt.Errorf("snapshot at %d (term %d) holds metadata applied through %d", index, meta.GetTerm(), md.applied)
	}
	return md, nil
}

// checkDurable rejects disk state raft would panic on: entries that do not
// follow the snapshot densely, or a commit index outside them.
func checkDurable(d sm.Durable, snap *pb.Snapshot) error {
	next, term := snap.GetMetadata().GetIndex()+1, snap.GetMetadata().GetTerm()
	for _, e := range d.Entries {
		if e.GetIndex() != next || e.GetTerm() < term {
			return fmt.Errorf("controller: durable entry %d (term %d) does not follow index %d (term %d)", e.GetIndex(), e.GetTerm(), next-1, term)
		}
		next, term = next+1, e.GetTerm()
	}
	if c := d.HardState.GetCommit(); c >= next {
		return fmt.Errorf("controller: durable commit %d beyond last entry %d", c, next-1)
	}
	if c := d.HardState.GetCommit(); !raft.IsEmptyHardState(d.HardState) && c < snap.GetMetadata().GetIndex() {
		return fmt.Errorf("controller: durable commit %d below the snapshot at %d", c, snap.GetMetadata().GetIndex())
	}
	return nil
}

// Step consumes one event at time now (see runtime.Node). It returns an error
// only for input it cannot route; after a fatal disk error it ignores
// everything, waiting for the runtime to stop the process.
func (n *Node) Step(now sm.Time, ev sm.Event) error {
	if n.out.Fatal != "" {
		return nil
	}
	n.now = max(n.now, now) // time never runs backwards inside the node
	var err error
	switch ev := ev.(type) {
	case sm.TimerFired:
	case sm.RaftDone:
		n.onRaftDone(ev)
	case sm.Received:
		err = n.onReceived(ev)
	case sm.ObjectDone:
		n.onObjectDone(ev)
	default:
		err = fmt.Errorf("controller: unexpected event %T", ev)
	}
	if n.tick() {
		n.expireSessions()
		n.sweepReports()
		n.gcTick()
	}
	n.pump()
	n.syncRevoked()
	return err
}

// Ready returns the effects accumulated since the last Advance. Before the
// first Step TimerAt is 1 — "as soon as possible" — so that the node learns
// the time and starts its tick schedule.
func (n *Node) Ready() sm.Ready {
	rd := n.out
	rd.TimerAt = 1
	if n.started {
		rd.TimerAt = n.tickNext
	}
	return rd
}

// Advance acknowledges the last Ready: its disk operations have started and
// its messages are sent.
func (n *Node) Advance() {
	n.out.Raft = nil
	n.out.Objects = nil
	n.out.Messages = nil
	n.out.Probes = nil
	n.out.Security = nil
	n.out.Revoked = nil
}

// IsLeader reports whether this node currently leads (and answers writes).
func (n *Node) IsLeader() bool { return n.leaderTerm != 0 }

// Leader is raft's known leader, or sm.NoNode; it is the hint non-leaders give.
func (n *Node) Leader() sm.NodeID { return sm.NodeID(n.rn.BasicStatus().Lead) }

// Term is raft's current term.
func (n *Node) Term() uint64 { return n.rn.BasicStatus().GetTerm() }

// CommitIndex is raft's commit index: every entry at or below it is
// committed in the cluster (it may not be applied yet).
func (n *Node) CommitIndex() uint64 { return n.rn.BasicStatus().GetCommit() }

// CommittedEntries returns the applied entries this node holds from index
// lo on, for the simulator's raft checker (committed entries never change).
// It stops at the applied index, not raft's commit index: a follower's
// stable storage may still hold a stale entry at a committed index whose
// replacement is on its way to disk.
func (n *Node) CommittedEntries(lo uint64) []*pb.Entry {
	first, _ := n.storage.FirstIndex()
	last, _ := n.storage.LastIndex()
	hi := min(n.md.applied, last)
	lo = max(lo, first)
	if lo > hi {
		return nil
	}
	ents, err := n.storage.Entries(lo, hi+1, math.MaxUint64)
	assert.That(err == nil, "controller: reading committed entries [%d, %d]: %v", lo, hi, err)
	return ents
}

// AppliedIndex is the raft index of the last applied entry (1, the bootstrap
// snapshot, before any).
func (n *Node) AppliedIndex() uint64 { return n.md.applied }

// SnapshotIndex is the index of the node's newest raft snapshot (1, the
// bootstrap one, before any): the entries at or below it are summarised
// by the snapshot and may no longer be in the log.
func (n *Node) SnapshotIndex() uint64 { return n.snapIndex }

// Restored reports whether this node's metadata came from a snapshot — the
// one on its disk at start or one the leader sent — rather than from
// applying every entry since the bootstrap.
func (n *Node) Restored() bool { return n.restored }

// SnapshotTerm is the term of the entry at SnapshotIndex.
func (n *Node) SnapshotTerm() uint64 {
	snap, err := n.storage.Snapshot()
	assert.That(err == nil, "controller: read memory storage snapshot: %v", err)
	return snap.GetMetadata().GetTerm()
}

// MetadataDigest is the encoded metadata snapshot of the applied state
// (what a snapshot at AppliedIndex would carry): controllers that applied
// the same index return equal bytes, whether they replayed the log or
// restored a snapshot.
func (n *Node) MetadataDigest() []byte { return encodeSnapshot(n.md) }

// Metadata is the full applied metadata (Full=true), in deterministic order;
// controllers that applied the same index return equal values.
func (n *Node) Metadata() sm.MetadataDelta { return n.md.delta(0) }

// nextEffect issues an effect ID; IDs are unique within the process
// lifetime of the node and never reused.
func (n *Node) nextEffect() sm.EffectID {
	n.effectLast++
	return n.effectLast
}

// probe reports that a protocol path was taken (sm.Probe).
func (n *Node) probe(p sm.Probe) { n.out.Probes = append(n.out.Probes, p) }
