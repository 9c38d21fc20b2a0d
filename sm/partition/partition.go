// Package partition is one replica of one partition log: the in-memory log
// with its leader-epoch cache, the split between what is in memory and what
// is durable, and Kafka-style ISR replication with leader epochs (both the
// leader's side and the follower's side).
//
// A Partition is pure and knows nothing of the network, the controller or
// other partitions. It is a hosted component (sm/host): its host (sm/broker)
// calls one On* handler per input with the current time, then drains
// TakeOutput (log operations, messages, AlterISR wishes for the controller)
// and asks TimerAt when it next needs OnTimer. Its log operations carry IDs
// from the host's allocator and complete in issue order (they all touch one
// log); the host reports each with OnLogDone. The replica never acknowledges
// a produce, serves a follower or reports its own log end to a leader on the
// strength of a write whose completion it has not seen.
//
// Safety rests on three rules beyond Kafka's: followers report (and the
// high watermark counts) only durable offsets; a leader serves followers
// only its own durable data; and a new leader answers no consumer until its
// high watermark reaches the start of its epoch.
//
// Replica fetch responses echo the fetch offset and the follower's
// incarnation, so a follower matches an answer to its one outstanding fetch
// and ignores late duplicates and answers meant for an earlier process.
//
// Known limit. As in Kafka, a
// deposed leader whose committed ISR is only itself can still acknowledge
// writes that are then lost (acks=all with min_in_sync_replicas 1,
// custom(1)); min_in_sync_replicas >= 2 prevents it.
package partition

import (
	"fmt"
	"slices"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/assert"
	"github.com/weirmq/weir/sm/host"
)

// Role is what this replica currently does for the partition.
type Role uint8

// Roles.
const (
	// RoleNone: not an assigned replica (or not yet told); serves nothing.
	RoleNone Role = iota
	// RoleFollower: replicates from Leader (or idles when there is none).
	RoleFollower
	// RoleLeader: accepts produces, serves fetches, manages the ISR.
	RoleLeader
)

func (r Role) String() string {
	switch r {
	case RoleNone:
		return "none"
	case RoleFollower:
		return "follower"
	case RoleLeader:
		return "leader"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// Config is everything a replica needs that does not change while it runs.
// The broker fills it from its own Config.
type Config struct {
	// Self is this replica's broker; it stamps every message it sends.
	Self sm.NodeID
	// Incarnation is Self's process incarnation. Followers send it with every
	// fetch so a leader can tell a restarted follower from a stale request.
	Incarnation uint64
	// TP names the partition; it is stamped on every message and disk op.
	TP sm.TopicPartition
	// AckTimeout bounds how long a produce waits for its ack level when the
	// request carries no Timeout (reference: ack_timeout_ms).
	AckTimeout sm.Duration
	// ReplicaLagTime is how long an ISR follower may go without catching up
	// to the leader's log end before the leader shrinks it out of the ISR
	// (reference: heartbeat_timeout_ms).
	ReplicaLagTime sm.Duration
	// MaxReplicationLag shrinks an ISR follower that is more than this many
	// records behind the leader's durable log end; 0 disables the check
	// (reference: max_replication_lag).
	MaxReplicationLag int64
	// ReplicaFetchWait is how long a leader parks a follower fetch that has
	// nothing to return (long poll), so idle partitions cost no traffic.
	ReplicaFetchWait sm.Duration
	// ReplicaFetchTimeout is how long a follower waits for a fetch response
	// before resending; it must exceed ReplicaFetchWait.
	ReplicaFetchTimeout sm.Duration
	// AlterISRTimeout is how long a leader waits for an AlterISR answer before
	// asking again; at most one request is outstanding.
	AlterISRTimeout sm.Duration
	// MaxRecordBytes bounds one record's key plus value.
	MaxRecordBytes int
	// MaxBatchBytes bounds one produce's encoded batch frame.
	MaxBatchBytes int
	// FetchMaxRecords bounds (and defaults) a consumer fetch's record count.
	FetchMaxRecords int32
	// ReplicaFetchMaxBytes bounds a replica fetch response (it always carries
	// at least one batch when one is available).
	ReplicaFetchMaxBytes int
	// TopicID is the topic incarnation this replica belongs to; it is
	// stamped on every log operation so a store never writes into another
	// incarnation's log.
	TopicID sm.TopicID
	// Cache is the broker's shared bound on cached batches; nil caches
	// without a bound (tests).
	Cache *Cache
	// WallClockAtStart is the wall-clock time (Unix ms) at node time 0: a
	// leader stamps batches with it plus the time of the produce.
	WallClockAtStart int64
	// RetentionCheckInterval is how often the replica applies retention
	// (zero: never).
	RetentionCheckInterval sm.Duration
	// FsyncOnWrite asks the disk to sync every append before completing it.
	// Without it, "durable" means "written", and acks promise less.
	FsyncOnWrite bool
	// CanaryAckAllBeforeISR is a deliberate bug for the simulator's
	// self-test: acks=all is acknowledged once durable on the leader alone.
	CanaryAckAllBeforeISR bool
	// Compressor recompresses produced batches for topics whose
	// compression_type forces a codec (Settings.Compression); nil refuses
	// such produces.
	Compressor sm.Compressor
	// CanaryTimeLookupNext is another: a time lookup answers the batch
	// after the right one.
	CanaryTimeLookupNext bool
	// CanaryStoreDuplicates is another: an idempotent produce that repeats
	// a batch the leader holds is appended again.
	CanaryStoreDuplicates bool
}

// Validate reports the first field that cannot work, naming it and its value.
func (c *Config) Validate() error {
	switch {
	case c.Self == sm.NoNode:
		return fmt.Errorf("partition: self must be set (got %v)", c.Self)
	case c.TP.Topic == "" || c.TP.Partition < 0:
		return fmt.Errorf("partition: topic partition must be named (got %q)", c.TP)
	case c.AckTimeout <= 0:
		return fmt.Errorf("partition: ack timeout must be > 0 (got %v)", c.AckTimeout)
	case c.ReplicaLagTime <= 0:
		return fmt.Errorf("partition: replica lag time must be > 0 (got %v)", c.ReplicaLagTime)
	case c.MaxReplicationLag < 0:
		return fmt.Errorf("partition: max replication lag must be >= 0 (got %d)", c.MaxReplicationLag)
	case c.ReplicaFetchWait <= 0:
		return fmt.Errorf("partition: replica fetch wait must be > 0 (got %v)", c.ReplicaFetchWait)
	case c.ReplicaFetchTimeout <= c.ReplicaFetchWait:
		return fmt.Errorf("partition: replica fetch timeout %v must exceed replica fetch wait %v", c.ReplicaFetchTimeout, c.ReplicaFetchWait)
	case c.AlterISRTimeout <= 0:
		return fmt.Errorf("partition: alter isr timeout must be > 0 (got %v)", c.AlterISRTimeout)
	case c.MaxRecordBytes <= 0:
		return fmt.Errorf("partition: max record bytes must be > 0 (got %d)", c.MaxRecordBytes)
	case c.MaxBatchBytes < c.MaxRecordBytes || c.MaxBatchBytes > sm.BatchFrameMax:
		return fmt.Errorf("partition: max batch bytes must be in [max record bytes %d, %d] (got %d)", c.MaxRecordBytes, sm.BatchFrameMax, c.MaxBatchBytes)
	case c.FetchMaxRecords <= 0:
		return fmt.Errorf("partition: fetch max records must be > 0 (got %d)", c.FetchMaxRecords)
	case c.ReplicaFetchMaxBytes <= 0:
		return fmt.Errorf("partition: replica fetch max bytes must be > 0 (got %d)", c.ReplicaFetchMaxBytes)
	}
	return nil
}

// Settings are the topic's log settings, which may change while the replica
// runs (an altered topic config reaches the broker in a metadata delta).
type Settings struct {
	// SegmentBytes rolls the active segment before it would pass this size
	// (at least one batch per segment).
	SegmentBytes int64
	// SegmentMs rolls it once its first batch is this old (0: never).
	SegmentMs int64
	// RetentionMs deletes sealed, committed segments whose newest batch is
	// older (-1 or 0: forever).
	RetentionMs int64
	// RetentionBytes deletes the oldest sealed, committed segments while
	// the log would still hold at least this much without them (-1 or 0:
	// unlimited).
	RetentionBytes int64
	// Tiered says the partition's segments are uploaded to the object
	// store (tiered storage): the replica then deletes local segments only
	// once they are uploaded (below Remote.End), by retention or outside
	// the local window LocalRetentionMs/LocalRetentionBytes (-1: no such
	// bound; the broker resolves unset values to its defaults), and its
	// consumers' log start is the remote tier's.
	Tiered              bool
	LocalRetentionMs    int64
	LocalRetentionBytes int64
	// ForceCodec makes the leader store every produced batch compressed
	// with Compression (CodecNone: uncompressed), recompressing what a
	// producer sent otherwise (the topic's compression_type names a
	// codec or "none"); false keeps the producer's (compression_type
	// "producer" or unset).
	ForceCodec  bool
	Compression sm.Codec
	// CreateTime stamps each batch with the newest create time of its
	// records instead of the append time (message_timestamp_type
	// create_time); records without one count as appended now.
	CreateTime bool
}

// DefaultSegmentBytes is the segment size when nothing sets one (the
// reference's [wal] segment_size_bytes).
const DefaultSegmentBytes = 1 << 30

// Output is what a replica asks its host to do: log operations (with IDs),
// messages (From and To set), and AlterISR requests for the controller the
// host believes leads (ToController).
type Output = host.Output

// Status is a replica's externally visible state, for the simulator, tests
// and the admin API.
type Status struct {
	TP             sm.TopicPartition
	Role           Role
	Leader         sm.NodeID
	LeaderEpoch    sm.Epoch
	PartitionEpoch int64
	LogStart       sm.Offset // log start offset: older records were deleted by retention
	LocalStart     sm.Offset // the local log's start: older records are only in the object store (tiered storage)
	LEO            sm.Offset // in-memory log end
	DurableLEO     sm.Offset // log end the disk has confirmed
	HW             sm.Offset // high watermark: consumers read below it
	ISR            []sm.NodeID
	Replicas       []sm.NodeID // the assigned replica set, as metadata gives it
}

// pendingDisk is one issued, uncompleted disk operation: what the durable log
// end becomes when it completes.
type pendingDisk struct {
	id   sm.EffectID
	kind sm.LogOpKind
	// start is the log end when the operation was issued: where an append's
	// batches begin.
	start sm.Offset
	end   sm.Offset
	// before is the active segment as it was before an append (with the
	// first batch's timestamp): what a refusal restores.
	before        sm.SegmentIndex
	beforeFirstTs int64
}

// Partition is one replica of one partition. See the package comment.
type Partition struct {
	cfg Config
	now sm.Time

	log      replicaLog
	settings Settings
	durable  sm.Offset     // log end confirmed by the disk
	hw       sm.Offset     // high watermark
	disk     []pendingDisk // issued, not completed, FIFO

	role           Role
	epoch          sm.Epoch // highest leader epoch known from metadata
	leader         sm.NodeID
	partitionEpoch int64
	replicas       []sm.NodeID
	isr            []sm.NodeID // committed ISR (controller-confirmed)
	minISR         int32

	lead   leaderState
	follow followerState
	out    Output
	ids    *host.IDs
	reqSeq uint64

	// reads are the issued, uncompleted log reads (any order).
	reads map[sm.EffectID]pendingRead
	// retentionAt is when retention next runs (zero: never).
	retentionAt sm.Time
	// obsoleteBelow lets retention delete whole segments below it (see
	// SetObsoleteBelow); zero: no such bound.
	obsoleteBelow sm.Offset
	// damaged is set once a read found corrupt bytes at rest: the file
	// and byte. The replica serves nothing more until it is rebuilt.
	damaged string
	// remote is the partition's uploaded range (tiered storage), as
	// metadata or this broker's uploader last reported it.
	remote sm.RemoteLog
}

// New recovers a replica from its log's manifest (nil for a new log, which
// starts at offset 0); its log operations take IDs from ids, the host's
// allocator. Everything in the manifest counts as durable: the store hands
// over what is on disk, torn tails already cut.
func New(cfg Config, settings Settings, m *sm.LogManifest, ids *host.IDs) (*Partition, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if ids == nil {
		return nil, fmt.Errorf("partition: %v needs an effect ID allocator", cfg.TP)
	}
	p := &Partition{cfg: cfg, ids: ids, reqSeq: cfg.Incarnation << 32, reads: map[sm.EffectID]pendingRead{}}
	if m != nil {
		if err := m.Check(); err != nil {
			return nil, fmt.Errorf("partition: %v: bad manifest: %w", cfg.TP, err)
		}
		p.log = newLog(*m, cfg.Cache)
		if len(p.log.producers) > 0 {
			p.probe(sm.ProbeProducerStateRecovered)
		}
	} else {
		p.log = newLog(sm.LogManifest{}, cfg.Cache)
	}
	p.durable = p.log.end()
	p.hw = p.log.start()
	p.SetSettings(settings)
	return p, nil
}

// SetSettings applies the topic's log settings from now on.
func (p *Partition) SetSettings(s Settings) {
	if s.SegmentBytes <= 0 {
		s.SegmentBytes = DefaultSegmentBytes
	}
	p.settings = s
	p.scheduleRetention()
}

// TopicID is the topic incarnation the replica's log belongs to (zero:
// unknown, a log from before topic IDs).
func (p *Partition) TopicID() sm.TopicID { return p.cfg.TopicID }

// AdoptTopicID names the incarnation of a log that did not know its own (a
// log written before topic IDs): later operations carry it, and the store
// records it.
func (p *Partition) AdoptTopicID(id sm.TopicID) {
	assert.That(p.cfg.TopicID == (sm.TopicID{}), "partition: %v: adopting topic ID %v over %v", p.cfg.TP, id, p.cfg.TopicID)
	p.cfg.TopicID = id
}

// Settings are the log settings in force.
func (p *Partition) Settings() Settings { return p.settings }

// SetRemote records the partition's uploaded range (from metadata or the
// broker's uploader). Its end never moves back; segments it passes may go
// from the local disk at the next retention check (applyRetention), which
// deletes them together: one trim per check, not one per upload (a trim
// syncs a directory, which on a busy disk delays the appends' syncs).
func (p *Partition) SetRemote(now sm.Time, r sm.RemoteLog) {
	p.setNow(now)
	if r.End < p.remote.End {
		return // older news
	}
	p.remote = r
}

// Remote is the uploaded range the replica knows.
func (p *Partition) Remote() sm.RemoteLog { return p.remote }

// Sealed returns the sealed segments' indexes, oldest first, for the
// uploader. The slice is the replica's own: read it, do not keep it.
func (p *Partition) Sealed() []sm.SegmentIndex { return p.log.sealed }

// Active returns the active segment's index and its first batch's
// timestamp (Unix ms; 0 when empty), for the uploader of a quiet partition.
func (p *Partition) Active() (sm.SegmentIndex, int64) {
	return p.log.activeIndex(), p.log.activeFirstTs
}

// LocalBytes is the size of the log on this replica's disk.
func (p *Partition) LocalBytes() int64 { return p.log.bytes() }

// WallClock is the replica's wall clock (Unix ms) now.
func (p *Partition) WallClock() int64 { return p.wallClock() }

// clientLogStart is the log start consumers see: with tiered storage the
// oldest uploaded offset still recorded, when that is below the local
// start.
func (p *Partition) clientLogStart() sm.Offset {
	if p.settings.Tiered && p.remote.Segments > 0 && p.remote.Start < p.log.start() {
		return p.remote.Start
	}
	return p.log.start()
}

// TakeOutput returns what the replica asked for since the last call.
func (p *Partition) TakeOutput() Output {
	o := p.out
	p.out = Output{}
	return o
}

// Status reports the replica's state.
func (p *Partition) Status() Status {
	return Status{
		TP: p.cfg.TP, Role: p.role, Leader: p.leader, LeaderEpoch: p.epoch,
		PartitionEpoch: p.partitionEpoch, LogStart: p.clientLogStart(), LocalStart: p.log.start(), LEO: p.log.end(), DurableLEO: p.durable,
		HW: p.hw, ISR: slices.Clone(p.isr), Replicas: slices.Clone(p.replicas),
	}
}

// Leading reports whether the replica leads, and at which epoch: Status
// without the copies, for checks that run after every step.
func (p *Partition) Leading() (bool, sm.Epoch) { return p.role == RoleLeader, p.epoch }

// ReplicationLag is a leader's view of its followers for health reports:
// the most records any follower lacks against the leader's log end
// (followers not heard from in this epoch are not counted, since their log
// end is unknown), and whether the committed ISR is smaller than the replica
// set. A replica that does not lead reports (0, false).
func (p *Partition) ReplicationLag() (lagMax int64, underReplicated bool) {
	if p.role != RoleLeader {
		return 0, false
	}
	end := p.log.end()
	for _, f := range p.lead.followers {
		if f.known {
			lagMax = max(lagMax, int64(end-f.offset))
		}
	}
	return lagMax, len(p.isr) < len(p.lead.followers)+1
}

// Cached returns the cached suffix of the log's batches, for tests.
func (p *Partition) Cached() []sm.Batch {
	out := make([]sm.Batch, len(p.log.cache))
	for i := range p.log.cache {
		out[i] = p.log.cache[i].b
	}
	return out
}

// Manifest describes the log as the replica knows it (segments and their
// indexes), for tests and the simulator's checkers.
func (p *Partition) Manifest() sm.LogManifest { return p.log.manifest() }

// TimerAt is the earliest time the replica needs OnTimer; zero means never.
// It is always after the time of the last input, so a host cannot spin.
func (p *Partition) TimerAt() sm.Time {
	t := p.retentionAt
	switch p.role {
	case RoleLeader:
		t = earliest(t, p.leaderTimerAt())
	case RoleFollower:
		t = earliest(t, p.followerTimerAt())
	}
	return t
}

// OnTimer handles every deadline that has passed by now.
func (p *Partition) OnTimer(now sm.Time) {
	p.setNow(now)
	if p.retentionAt != 0 && p.now >= p.retentionAt {
		p.applyRetention()
	}
	switch p.role {
	case RoleLeader:
		p.leaderTimer()
	case RoleFollower:
		p.followerTimer()
	}
}

// OnLogDone completes the replica's oldest uncompleted log operation, which
// must be d.ID (one log's operations complete in issue order): OutcomeOK
// (durable, when it was a sync op) or OutcomeFailed (a refused append, see
// onRefused). The host turns an unknown outcome (an I/O error) into a fatal
// stop before calling it. An error says the replica cannot carry on in this
// process.
func (p *Partition) OnLogDone(now sm.Time, d sm.LogDone) error {
	p.setNow(now)
	assert.That(len(p.disk) > 0, "partition: %v: log completion %d with no operation pending", p.cfg.TP, d.ID)
	assert.That(p.disk[0].id == d.ID, "partition: %v: log completion %d, but %d is the oldest pending", p.cfg.TP, d.ID, p.disk[0].id)
	switch d.Outcome {
	case sm.OutcomeOK:
		kind := p.disk[0].kind
		p.onDurable()
		if kind == sm.LogDamaged {
			return fmt.Errorf("partition: %v: corrupt data at rest (%s): restarting so the damage is reported and the replica is rebuilt from another one", p.cfg.TP, p.damaged)
		}
		return nil
	case sm.OutcomeFailed:
		if !p.onRefused(d.Reason) {
			return fmt.Errorf("partition: %v: an append from before this leader's epoch was refused (%s); restart to lead only what is on disk", p.cfg.TP, d.Reason)
		}
		return nil
	}
	return fmt.Errorf("partition: %v: log operation %d ended %v: %s", p.cfg.TP, d.ID, d.Outcome, d.Reason)
}

// onDurable pops the completed operation and moves the durable end.
func (p *Partition) onDurable() {
	op := p.disk[0]
	p.disk = p.disk[1:]
	assert.That(op.end >= p.durable, "partition: %v: disk completion moves durable end back from %d to %d", p.cfg.TP, p.durable, op.end)
	assert.That(op.end <= p.log.end(), "partition: %v: durable end %d beyond log end %d", p.cfg.TP, op.end, p.log.end())
	p.durable = op.end
	switch p.role {
	case RoleLeader:
		p.onLeaderDurable()
	case RoleFollower:
		p.onFollowerDurable()
	}
}

// Close ends the replica (its topic was deleted or the broker drops it):
// pending produces and parked fetches are answered. Later outputs are the
// host's to discard.
func (p *Partition) Close(now sm.Time) {
	p.setNow(now)
	p.stepDown(p.epoch)
	p.role = RoleNone
	p.leader = sm.NoNode
	p.retentionAt = 0
	p.log.close()
	p.answerReads(sm.CodeNotLeader, "the replica was closed")
}

func (p *Partition) setNow(now sm.Time) {
	if now > p.now {
		p.now = now
	}
}

// issueDisk queues op and records the durable end it yields on completion.
func (p *Partition) issueDisk(op sm.LogOp, start, end sm.Offset) *pendingDisk {
	op.ID = p.ids.Next()
	op.TP = p.cfg.TP
	op.TopicID = p.cfg.TopicID
	p.out.Log = append(p.out.Log, op)
	p.disk = append(p.disk, pendingDisk{id: op.ID, kind: op.Kind, start: start, end: end})
	return &p.disk[len(p.disk)-1]
}

// appendBatches adds validated batches to the log and issues their
// LogAppends: one per segment they go into, a batch that would overfill
// the active segment (or find it too old) rolling a new one first.
func (p *Partition) appendBatches(bs []sm.Batch) {
	for len(bs) > 0 {
		roll := p.log.wantsRoll(bs[0].FrameSize(), bs[0].Timestamp, p.settings.SegmentBytes, p.settings.SegmentMs)
		before, beforeTs := p.log.activeIndex(), p.log.activeFirstTs
		if roll {
			p.log.roll()
			p.probe(sm.ProbeSegmentRolled)
		}
		var data []byte
		start := p.log.end()
		n := 0
		for n < len(bs) {
			b := &bs[n]
			if n > 0 && p.log.wantsRoll(b.FrameSize(), b.Timestamp, p.settings.SegmentBytes, p.settings.SegmentMs) {
				break
			}
			assert.That(b.Verify(), "partition: %v: appending batch at %d with a bad checksum", p.cfg.TP, b.BaseOffset)
			p.log.append(*b)
			data = sm.EncodeBatch(data, b)
			n++
		}
		d := p.issueDisk(sm.LogOp{Kind: sm.LogAppend, Data: data, Roll: roll, Sync: p.cfg.FsyncOnWrite}, start, p.log.end())
		d.before, d.beforeFirstTs = before, beforeTs
		bs = bs[n:]
	}
}

// wallClock is the wall-clock time of now, in Unix ms.
func (p *Partition) wallClock() int64 {
	return p.cfg.WallClockAtStart + int64(p.now)/int64(sm.Millisecond)
}

// Repair cuts a damaged log (see sm.Durable.Damaged) on disk at its valid
// end, the prefix this replica was recovered with, so that it can take
// appends again. The host calls it once it is sure another replica can
// rebuild what was lost, before the replica follows.
func (p *Partition) Repair() {
	assert.That(p.role == RoleNone, "partition: %v: repair while %v", p.cfg.TP, p.role)
	end := p.log.end()
	p.issueDisk(sm.LogOp{Kind: sm.LogTruncate, Offset: end, Sync: true}, end, end)
}

// onRefused handles the oldest uncompleted log operation, an append, being
// refused before it wrote anything (sm.OutcomeFailed: the log is full, or
// the process is out of file descriptors). Its batches leave the
// in-memory log — the disk refuses every later pending append too, so they
// go with it — and the produces waiting on them are answered
// CodeStorageError, which is retriable: nothing was written. Followers
// never saw them (a leader serves only durable data), and the high
// watermark is below them. A follower backs off and fetches again.
//
// One refusal cannot be absorbed: a leader whose refused append began before
// its epoch (it was appending as a follower when it was elected) would lead
// a log shorter than its epoch's start, which followers may hold and which
// may be committed. onRefused then returns false and the host must stop the
// process: after a restart the replica recovers what is really on disk.
func (p *Partition) onRefused(reason string) bool {
	op := p.disk[0]
	p.disk = p.disk[1:]
	assert.That(op.kind == sm.LogAppend, "partition: %v: a %v operation was refused", p.cfg.TP, op.kind)
	cut := op.start
	if op.end <= op.start {
		// An earlier refusal (or a truncate) already cut everything this
		// append held; what the log holds now was appended after, in later
		// operations the store accepted. Cutting at its old start would
		// drop them from memory while they land on disk.
		cut = p.log.end()
	}
	if p.role == RoleLeader && cut < p.lead.epochStart {
		return false
	}
	if cut < p.log.end() {
		p.log.restore(op.before, op.beforeFirstTs)
		p.probe(sm.ProbeAppendRolledBack)
	}
	cut = min(cut, p.log.end())
	assert.That(p.durable <= cut, "partition: %v: refused append at %d below durable end %d", p.cfg.TP, cut, p.durable)
	for i := range p.disk {
		p.disk[i].start = min(p.disk[i].start, cut)
		p.disk[i].end = min(p.disk[i].end, cut)
	}
	msg := fmt.Sprintf("broker %d cannot store %v: %s; nothing was written, retry later", uint64(p.cfg.Self), p.cfg.TP, reason)
	switch p.role {
	case RoleLeader:
		kept := p.lead.acks[:0]
		for _, a := range p.lead.acks {
			if a.next > cut {
				p.replyProduce(a.client, a.reqID, sm.CodeStorageError, msg, 0)
				continue
			}
			kept = append(kept, a)
		}
		p.keepAcks(kept)
	case RoleFollower:
		p.follow.inflight = false
		if p.follow.retryAt == 0 {
			p.follow.retryAt = p.now.Add(p.cfg.ReplicaFetchWait)
		}
	}
	return true
}

// truncate cuts the log at off (a boundary) in memory and on disk. Pending
// appends that covered the cut part now only make the remainder durable.
func (p *Partition) truncate(off sm.Offset) {
	assert.That(p.role != RoleLeader, "partition: %v: leader truncating its log to %d", p.cfg.TP, off)
	p.log.truncate(off)
	p.afterTruncate(off)
}

// afterTruncate follows the log being cut at off in memory: the durable
// end, pending appends and the high watermark follow, and the cut goes to
// disk.
func (p *Partition) afterTruncate(off sm.Offset) {
	p.durable = min(p.durable, off)
	for i := range p.disk {
		p.disk[i].start = min(p.disk[i].start, off)
		p.disk[i].end = min(p.disk[i].end, off)
	}
	// Only an unclean election can cut below the high watermark.
	p.hw = min(p.hw, off)
	p.issueDisk(sm.LogOp{Kind: sm.LogTruncate, Offset: off, Sync: true}, off, off)
}

func (p *Partition) send(to sm.NodeID, m sm.Message) {
	p.out.Messages = append(p.out.Messages, sm.Envelope{From: p.cfg.Self, To: to, Msg: m})
}

// raiseHW moves the high watermark up; it never moves down except through a
// truncation after an unclean election.
func (p *Partition) raiseHW(hw sm.Offset) {
	if hw <= p.hw {
		return
	}
	assert.That(p.role != RoleFollower || hw <= p.follow.leaderHW,
		"partition: %v: follower high watermark %d beyond its leader's %d", p.cfg.TP, hw, p.follow.leaderHW)
	assert.That(hw <= p.durable, "partition: %v: high watermark %d beyond durable end %d", p.cfg.TP, hw, p.durable)
	p.hw = hw
}

var _ host.Component = (*Partition)(nil)

// probe reports that a protocol path was taken (sm.Probe).
func (p *Partition) probe(pr sm.Probe) { p.out.Probes = append(p.out.Probes, pr) }
