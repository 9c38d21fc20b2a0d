package sm

import pb "go.etcd.io/raft/v3/raftpb"

// Message is anything one node sends another. The set is closed: one struct
// per request or response, each with its MsgKind. Messages are values; a
// receiver must not mutate slices it did not allocate.
type Message interface {
	// Kind names the message's type; it is the type byte of its net/wire
	// frame, and traces, metrics and probes label messages with it.
	Kind() MsgKind
}

// MsgKind identifies a message type. It is the one list of messages: the
// wire codec uses the value as the frame's type byte, and traces, metrics
// and the simulator name messages by it. Adding a message means adding a
// kind here, its struct with a Kind method below, and its codec in net/wire.
//
// The values are part of the wire protocol: append only, never change or
// reuse one (TestEnumsAppendOnly holds them to testdata/enums.golden).
type MsgKind uint8

//go:generate go tool stringer -type=MsgKind -trimprefix=Kind

// Message kinds. Zero is invalid, so that a zeroed buffer never decodes; 1
// is the wire's Hello frame (net/wire.TypeHello), which opens a connection
// and is not a Message.
const (
	KindProduceRequest          MsgKind = 2
	KindProduceResponse         MsgKind = 3
	KindFetchRequest            MsgKind = 4
	KindFetchResponse           MsgKind = 5
	KindReplicaFetchRequest     MsgKind = 6
	KindReplicaFetchResponse    MsgKind = 7
	KindBrokerHeartbeat         MsgKind = 8
	KindBrokerHeartbeatResponse MsgKind = 9
	KindAlterISRRequest         MsgKind = 10
	KindAlterISRResponse        MsgKind = 11
	KindCreateTopicRequest      MsgKind = 12
	KindCreateTopicResponse     MsgKind = 13
	KindDeleteTopicRequest      MsgKind = 14
	KindDeleteTopicResponse     MsgKind = 15
	KindMetadataRequest         MsgKind = 16
	KindMetadataResponse        MsgKind = 17
	KindRaftMessage             MsgKind = 18
	KindClusterStatusRequest    MsgKind = 19
	KindClusterStatusResponse   MsgKind = 20

	// kindEnd is one past the largest kind: a new kind goes at the end of
	// the last block below, and kindEnd names it.
	kindEnd = KindAllocateProducerIDsResponse + 1
)

// Message kinds added with bounded storage (issue 9).
const (
	KindAlterTopicConfigRequest  MsgKind = 21
	KindAlterTopicConfigResponse MsgKind = 22
	KindListOffsetsRequest       MsgKind = 23
	KindListOffsetsResponse      MsgKind = 24
)

// Message kinds added with tiered storage (issue 10).
const (
	KindCommitSegmentRequest       MsgKind = 25
	KindCommitSegmentResponse      MsgKind = 26
	KindDropRemoteSegmentsRequest  MsgKind = 27
	KindDropRemoteSegmentsResponse MsgKind = 28
	KindRemoteSegmentsRequest      MsgKind = 29
	KindRemoteSegmentsResponse     MsgKind = 30
)

// Message kinds added with security (issue 11).
const (
	KindACLRequest   MsgKind = 31
	KindACLResponse  MsgKind = 32
	KindCertRequest  MsgKind = 33
	KindCertResponse MsgKind = 34
)

// MsgKindFirst is the smallest message kind (the values below it are
// reserved, see above).
const MsgKindFirst = KindProduceRequest

// Valid reports whether k names a message type.
func (k MsgKind) Valid() bool { return k >= MsgKindFirst && k < kindEnd }

// MsgKinds lists every message kind in increasing order, so codecs, tests
// and metrics can iterate them.
func MsgKinds() []MsgKind {
	ks := make([]MsgKind, 0, kindEnd-MsgKindFirst)
	for k := MsgKindFirst; k < kindEnd; k++ {
		ks = append(ks, k)
	}
	return ks
}

// Envelope is a message with its route. To is always set.
type Envelope struct {
	From, To NodeID
	Msg      Message
}

// ---- client ↔ broker -------------------------------------------------------

// ProduceRequest appends records to one partition.
type ProduceRequest struct {
	ReqID   uint64
	TP      TopicPartition
	Acks    Acks
	Records []Record
	// Timeout bounds how long the leader waits for the ack level; after it the
	// reply is CodeTimeout and the outcome unknown. Zero uses the broker's
	// ack_timeout.
	Timeout Duration
	// Block, when set, carries the records instead of Records, as a
	// format-2 records block (sm.EncodeRecords: records with headers),
	// compressed with Codec (CodecNone: as it is): Count records, BlockCRC
	// its CRC32C as sent (sm.BlockChecksum). The leader stores it as it
	// came, checking the checksum but not decompressing, unless the topic's
	// compression_type names another codec. Records must then be empty.
	Codec    Codec
	Block    []byte
	Count    int32
	BlockCRC uint32
	// MaxTimestamp is the newest create time among the block's records
	// (Unix ms; zero: none), which a topic of create-time timestamps
	// stamps the batch with without decompressing it.
	MaxTimestamp int64
	// Idempotent produces (acks=all only) carry the producer's ID and
	// epoch (InitProducerID) and the sequence number of their first
	// record: each partition numbers a producer's records from 0, the
	// next batch's BaseSequence is this one's plus its record count
	// (wrapping from MaxInt32 to 0). The leader stores each batch once
	// (CodeDuplicateSequence answers a retry) and in sequence order
	// (CodeOutOfOrderSequence refuses a gap).
	Idempotent    bool
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
}

// RecordCount is the number of records a produce carries.
func (r *ProduceRequest) RecordCount() int {
	if r.Block != nil {
		return int(r.Count)
	}
	return len(r.Records)
}

// ProduceResponse answers a ProduceRequest. On CodeOK BaseOffset is the offset
// of the first record; the leader's offsets are the claimed total order.
type ProduceResponse struct {
	ReqID       uint64
	TP          TopicPartition
	Code        Code
	Message     string
	BaseOffset  Offset
	LeaderEpoch Epoch
	LeaderHint  NodeID
}

// FetchRequest reads committed records from one partition.
type FetchRequest struct {
	ReqID  uint64
	TP     TopicPartition
	Offset Offset
	// MaxRecords bounds the reply; zero means the broker's default.
	MaxRecords int32
	// CurrentLeaderEpoch is the highest epoch the client has seen for the
	// partition; a node with an older epoch answers CodeUnknownLeaderEpoch, so
	// a client never reads from a leader older than one it already used.
	CurrentLeaderEpoch Epoch
}

// FetchResponse carries batches at or after the requested offset, all below
// HighWatermark. The first batch may start before Offset.
type FetchResponse struct {
	ReqID         uint64
	TP            TopicPartition
	Code          Code
	Message       string
	Batches       []Batch
	HighWatermark Offset
	LogStart      Offset
	LeaderEpoch   Epoch
	LeaderHint    NodeID
}

// ListOffsetsRequest asks a partition's leader for its offsets: where the
// log starts, the high watermark and the log end. CurrentLeaderEpoch is as
// in FetchRequest (zero: unchecked).
type ListOffsetsRequest struct {
	ReqID              uint64
	TP                 TopicPartition
	CurrentLeaderEpoch Epoch
	// ByTime asks for the first committed offset whose batch timestamp
	// (Batch.Timestamp, Unix ms) is at or after Timestamp (Kafka's
	// ListOffsets by timestamp): the answer is in the response's Offset and
	// OffsetTimestamp, or Offset -1 when no committed batch reaches it.
	ByTime    bool
	Timestamp int64
}

// ListOffsetsResponse answers ListOffsetsRequest; only the leader answers
// CodeOK (others CodeNotLeader with LeaderHint). LogStart is the oldest
// offset still held (older records were deleted by retention),
// HighWatermark the end of what consumers may read, LogEnd the end of what
// the leader holds (at or above the high watermark: the difference is not
// committed yet). LeaderEpoch is the answering replica's.
type ListOffsetsResponse struct {
	ReqID         uint64
	TP            TopicPartition
	Code          Code
	Message       string
	LogStart      Offset
	HighWatermark Offset
	LogEnd        Offset
	LeaderEpoch   Epoch
	LeaderHint    NodeID
	// LocalStart and LocalBytes are the answering replica's own log on
	// disk (with tiered storage LogStart may be older: the records below
	// LocalStart are served from the object store); Remote is the uploaded
	// range as the broker's metadata has it.
	LocalStart Offset
	LocalBytes int64
	Remote     RemoteLog
	// Offset and OffsetTimestamp answer a ByTime request: the first
	// committed batch stamped at or after the asked time and its stamp;
	// Offset is -1 when there is none (yet).
	Offset          Offset
	OffsetTimestamp int64
}

// ---- broker ↔ broker (replication) ----------------------------------------

// ReplicaFetchRequest is a follower pulling from its leader. FetchOffset is the
// follower's durable log end: everything below it is on its disk, so the leader
// counts it toward the high watermark.
type ReplicaFetchRequest struct {
	TP               TopicPartition
	Replica          NodeID
	Incarnation      uint64
	LeaderEpoch      Epoch // the epoch the follower believes is current
	FetchOffset      Offset
	LastFetchedEpoch Epoch // epoch of the batch just below FetchOffset (0 if empty)
}

// ReplicaFetchResponse returns batches from FetchOffset, or tells the follower
// its log diverged: truncate to DivergingEndOffset (the end of
// DivergingEpoch in the leader's log, or the follower's end if smaller) and
// fetch again.
type ReplicaFetchResponse struct {
	TP   TopicPartition
	Code Code
	// Incarnation and FetchOffset echo the request, so a follower matches an
	// answer to its one outstanding fetch and ignores late duplicates and
	// answers meant for an earlier process.
	Incarnation        uint64
	FetchOffset        Offset
	LeaderEpoch        Epoch
	Batches            []Batch
	HighWatermark      Offset
	Diverging          bool
	DivergingEpoch     Epoch
	DivergingEndOffset Offset
	// LogStart is the leader's log start offset: a follower deletes its own
	// segments below it (retention runs on the leader's log), and one whose
	// log ends below it (CodeOffsetOutOfRange) starts over there.
	LogStart Offset
}

// ---- broker ↔ controller ---------------------------------------------------

// BrokerHeartbeat registers a broker (first heartbeat of an incarnation) and
// keeps its session alive. It carries the metadata version the broker holds
// so the reply can carry the delta since.
type BrokerHeartbeat struct {
	Broker          NodeID
	Incarnation     uint64
	Rack            string
	Host            string
	MetadataVersion uint64
	// Health is the broker's health report, attached to the first heartbeat
	// at or after each health interval (and repeated until a controller
	// leader answers one); nil when this heartbeat carries no report.
	Health *BrokerHealth
	// LostDisk and Lost are sent until this incarnation is registered: the
	// process started on an empty disk (every replica it held is gone), or
	// found the logs of Lost damaged. Registering removes the broker from
	// those partitions' ISRs even when that empties one: a replica that lost
	// acknowledged data must not lead or count toward the high watermark
	// until it has caught up again.
	LostDisk bool
	Lost     []TopicPartition
	// AcceptDataLoss, sent with the registration, is the operator's
	// explicit acceptance (weir-broker --accept-data-loss) that partitions
	// whose every in-sync copy was lost be led by this broker with what it
	// holds.
	AcceptDataLoss bool
	// SentAt is the broker's clock when it sent this heartbeat; the answer
	// echoes it, and an OK answer extends the broker's leader lease to
	// SentAt + SessionTimeout (see broker.Node's lease).
	SentAt Time
}

// BrokerHeartbeatResponse answers a heartbeat. Code is CodeNotLeader (with
// LeaderHint) on a controller follower and CodeStaleBrokerEpoch for an old
// incarnation. Delta holds metadata changes since the broker's version.
type BrokerHeartbeatResponse struct {
	// Incarnation echoes the heartbeat's, so a restarted broker ignores
	// answers meant for its previous process (a late STALE_BROKER_EPOCH
	// must not stop the new one).
	Incarnation uint64
	Code        Code
	Message     string
	LeaderHint  NodeID
	Delta       MetadataDelta
	// SessionTimeout is how long the controller waits for the next heartbeat
	// before fencing the broker.
	SessionTimeout Duration
	// SentAt echoes the heartbeat's.
	SentAt Time
}

// AlterISRRequest is a partition leader asking the controller to change the
// ISR. It is accepted only for the current leader epoch and partition epoch.
type AlterISRRequest struct {
	ReqID          uint64
	Broker         NodeID
	TP             TopicPartition
	LeaderEpoch    Epoch
	PartitionEpoch int64
	ISR            []NodeID
	// Incarnations, parallel to ISR, names the process incarnation of each
	// member whose fetches the leader counted (its own for itself). The
	// controller adds a replica to the ISR only if that is the incarnation
	// it has registered (Kafka's KIP-903): a leader that has not heard of a
	// replica's restart must not vouch for the new process with what the old
	// one held.
	Incarnations []uint64
}

// AlterISRResponse carries the partition's state after the request (the new
// state on success, the current one on rejection).
type AlterISRResponse struct {
	ReqID      uint64
	TP         TopicPartition
	Code       Code
	Message    string
	LeaderHint NodeID
	State      PartitionState
}

// ---- broker ↔ controller: tiered storage ----------------------------------

// CommitSegmentRequest is a partition leader's uploader proposing an
// uploaded segment. The controller records it (through raft) only if
// LeaderEpoch is the partition's current leader epoch, TopicID its topic's,
// and Segment continues the partition's uploaded range: its Base is the
// recorded RemoteLog.End (any Base when nothing was ever uploaded), Next >
// Base, and its Name parses as a segment object of that topic, partition,
// base and epoch. A rejected upload's object is an orphan for the garbage
// collector; the uploader never deletes an object itself.
type CommitSegmentRequest struct {
	ReqID       uint64
	Broker      NodeID
	TP          TopicPartition
	TopicID     TopicID
	LeaderEpoch Epoch
	Segment     RemoteSegment
}

// CommitSegmentResponse answers a CommitSegmentRequest once its entry
// applied (or at once when the leader rejects it): CodeOK (recorded),
// CodeFencedLeaderEpoch (not the current leader epoch), CodeRemoteMismatch
// (it does not continue the uploaded range; Remote says where it is),
// CodeUnknownTopic, CodeNotLeader / CodeLeadershipLost (ask again). Remote
// is the partition's uploaded range after the request.
type CommitSegmentResponse struct {
	ReqID      uint64
	TP         TopicPartition
	Code       Code
	Message    string
	LeaderHint NodeID
	Remote     RemoteLog
}

// DropRemoteSegmentsRequest is a partition leader applying retention to
// the remote tier: drop every recorded segment whose Next is at or below
// Below (a recorded segment boundary). The controller removes them from
// its records (raft), so no reader is directed to them again, and the
// garbage collector deletes the objects after its grace period. Accepted
// for the current leader epoch only.
type DropRemoteSegmentsRequest struct {
	ReqID       uint64
	Broker      NodeID
	TP          TopicPartition
	TopicID     TopicID
	LeaderEpoch Epoch
	Below       Offset
}

// DropRemoteSegmentsResponse answers a DropRemoteSegmentsRequest with the
// range after it (codes as CommitSegmentResponse).
type DropRemoteSegmentsResponse struct {
	ReqID      uint64
	TP         TopicPartition
	Code       Code
	Message    string
	LeaderHint NodeID
	Remote     RemoteLog
}

// RemoteSegmentsRequest asks the controller leader for a partition's
// recorded segments: those with Next > From, in offset order, at most Max
// (0: the controller's page size).
type RemoteSegmentsRequest struct {
	ReqID   uint64
	TP      TopicPartition
	TopicID TopicID
	From    Offset
	Max     int32
}

// RemoteSegmentsResponse is a page of recorded segments; More says another
// page follows (ask again from the last segment's Next). Answered from the
// leader's applied state.
type RemoteSegmentsResponse struct {
	ReqID      uint64
	TP         TopicPartition
	Code       Code
	Message    string
	LeaderHint NodeID
	Remote     RemoteLog
	Segments   []RemoteSegment
	More       bool
}

// ---- admin client ↔ controller ---------------------------------------------

// CreateTopicRequest creates a topic.
type CreateTopicRequest struct {
	ReqID             uint64
	Name              string
	Partitions        int32
	ReplicationFactor int32
	Config            TopicConfig
	// CreatedAtMs is the requester's wall-clock time (Unix ms), recorded
	// as the topic's creation time.
	CreatedAtMs int64
}

// CreateTopicResponse answers CreateTopicRequest; Message names the bad field.
type CreateTopicResponse struct {
	ReqID      uint64
	Code       Code
	Message    string
	LeaderHint NodeID
}

// DeleteTopicRequest deletes a topic and all its partitions.
type DeleteTopicRequest struct {
	ReqID uint64
	Name  string
}

// DeleteTopicResponse answers DeleteTopicRequest.
type DeleteTopicResponse struct {
	ReqID      uint64
	Code       Code
	Message    string
	LeaderHint NodeID
}

// AlterTopicConfigRequest changes some of a topic's settings; the ones it
// does not name keep their values. Set names each setting at most once, by
// its key (TopicConfigKeys), with the new value; 0 sets it back to unset.
type AlterTopicConfigRequest struct {
	ReqID uint64
	Name  string
	Set   []TopicConfigEntry
}

// TopicConfigEntry is one setting of an AlterTopicConfigRequest.
type TopicConfigEntry struct {
	Key   string
	Value int64
}

// AlterTopicConfigResponse answers AlterTopicConfigRequest; Message names
// the bad key.
type AlterTopicConfigResponse struct {
	ReqID      uint64
	Code       Code
	Message    string
	LeaderHint NodeID
}

// MetadataRequest asks a controller for metadata changes since SinceVersion
// (zero for everything). Any controller answers from what it has applied;
// clients tolerate stale answers by retrying on CodeNotLeader.
type MetadataRequest struct {
	ReqID        uint64
	SinceVersion uint64
}

// MetadataResponse answers MetadataRequest.
type MetadataResponse struct {
	ReqID      uint64
	Code       Code
	LeaderHint NodeID
	Delta      MetadataDelta
}

// ClusterStatusRequest asks a controller for the operator's view of the
// cluster: raft state, the full metadata, every broker's health and the
// cluster health verdict.
//
// With Stale false the answer is linearizable: only the leader answers, and
// only after a raft ReadIndex round has confirmed it still leads and it has
// applied everything committed when the request arrived; a follower answers
// CodeNotLeader with LeaderHint, or CodeLeaderNotAvailable while it knows no
// leader. With Stale true any controller answers at once from what it has
// applied, even without a leader.
type ClusterStatusRequest struct {
	ReqID uint64
	Stale bool
}

// ClusterStatusResponse answers ClusterStatusRequest. On any code but CodeOK
// only ReqID, Code, LeaderHint, Term and Leader are meaningful.
//
// Broker health is soft state only the leader holds (brokers report to it):
// when IsLeader is false, every broker's Online is false and Healthy is
// false, both meaning "unknown: ask the leader".
type ClusterStatusResponse struct {
	ReqID      uint64
	Code       Code
	LeaderHint NodeID
	// IsLeader tells whether the answering controller leads (a
	// linearizable answer always comes from the leader).
	IsLeader bool
	// Term, CommitIndex and AppliedIndex are the answering controller's raft
	// term, commit index and applied index; Metadata is the state at
	// AppliedIndex.
	Term, CommitIndex, AppliedIndex uint64
	Metadata                        MetadataDelta // Full
	// Brokers lists every broker in Metadata, sorted by ID.
	Brokers []BrokerStatus
	// Healthy is the cluster health verdict (the reference's rule): a leader
	// exists and, with at most two brokers, at least one is online; with
	// more, a majority is online.
	Healthy bool
	// Leader is the controller leader as the answering controller knows it
	// (NoNode: none known).
	Leader NodeID
	// Now is the answering controller's clock when it answered, so a reader
	// can turn LastReport into an age.
	Now Time
}

// ---- controller ↔ controller ---------------------------------------------

// RaftMessage carries one etcd raft message between controllers.
type RaftMessage struct {
	M *pb.Message
}

func (ProduceRequest) Kind() MsgKind          { return KindProduceRequest }
func (ProduceResponse) Kind() MsgKind         { return KindProduceResponse }
func (FetchRequest) Kind() MsgKind            { return KindFetchRequest }
func (FetchResponse) Kind() MsgKind           { return KindFetchResponse }
func (ReplicaFetchRequest) Kind() MsgKind     { return KindReplicaFetchRequest }
func (ReplicaFetchResponse) Kind() MsgKind    { return KindReplicaFetchResponse }
func (BrokerHeartbeat) Kind() MsgKind         { return KindBrokerHeartbeat }
func (BrokerHeartbeatResponse) Kind() MsgKind { return KindBrokerHeartbeatResponse }
func (AlterISRRequest) Kind() MsgKind         { return KindAlterISRRequest }
func (AlterISRResponse) Kind() MsgKind        { return KindAlterISRResponse }
func (CreateTopicRequest) Kind() MsgKind      { return KindCreateTopicRequest }
func (CreateTopicResponse) Kind() MsgKind     { return KindCreateTopicResponse }
func (DeleteTopicRequest) Kind() MsgKind      { return KindDeleteTopicRequest }
func (DeleteTopicResponse) Kind() MsgKind     { return KindDeleteTopicResponse }
func (MetadataRequest) Kind() MsgKind         { return KindMetadataRequest }
func (MetadataResponse) Kind() MsgKind        { return KindMetadataResponse }
func (ClusterStatusRequest) Kind() MsgKind    { return KindClusterStatusRequest }
func (ClusterStatusResponse) Kind() MsgKind   { return KindClusterStatusResponse }
func (RaftMessage) Kind() MsgKind             { return KindRaftMessage }

func (AlterTopicConfigRequest) Kind() MsgKind  { return KindAlterTopicConfigRequest }
func (AlterTopicConfigResponse) Kind() MsgKind { return KindAlterTopicConfigResponse }
func (ListOffsetsRequest) Kind() MsgKind       { return KindListOffsetsRequest }
func (ListOffsetsResponse) Kind() MsgKind      { return KindListOffsetsResponse }

func (CommitSegmentRequest) Kind() MsgKind       { return KindCommitSegmentRequest }
func (CommitSegmentResponse) Kind() MsgKind      { return KindCommitSegmentResponse }
func (DropRemoteSegmentsRequest) Kind() MsgKind  { return KindDropRemoteSegmentsRequest }
func (DropRemoteSegmentsResponse) Kind() MsgKind { return KindDropRemoteSegmentsResponse }
func (RemoteSegmentsRequest) Kind() MsgKind      { return KindRemoteSegmentsRequest }
func (RemoteSegmentsResponse) Kind() MsgKind     { return KindRemoteSegmentsResponse }

// ---- metadata --------------------------------------------------------------

// TopicConfig is a topic's per-topic settings. The controller validates
// and stores them; brokers apply them from the metadata delta, so an
// altered setting (AlterTopicConfigRequest) takes effect on every replica
// once its broker has the new TopicInfo.
type TopicConfig struct {
	// MinInSyncReplicas is the smallest ISR with which acks=all is accepted.
	// Zero uses the cluster default.
	MinInSyncReplicas int32
	// UncleanLeaderElection lets a replica outside the ISR become leader
	// when no ISR member is alive, at the cost of losing committed records.
	UncleanLeaderElection bool
	// RetentionMs deletes sealed segments whose newest record is older
	// (Kafka's retention.ms); 0 is unset and -1 keeps records forever,
	// both meaning no time limit.
	RetentionMs int64
	// SegmentBytes rolls a partition's active segment at this size
	// (Kafka's segment.bytes); 0 is unset: the broker's
	// [wal] segment_size_bytes.
	SegmentBytes int64
	// CompressionType is the reference's setting, stored and returned;
	// Weir does not compress yet. Empty is unset.
	CompressionType string
	// RetentionBytes deletes a partition's oldest sealed segments while it
	// holds more (Kafka's retention.bytes, per partition); 0 is unset and
	// -1 unlimited (Kafka's default), both meaning no size limit.
	RetentionBytes int64
	// SegmentMs rolls the active segment once its first record is this old
	// (Kafka's segment.ms), so time-based retention can delete data of a
	// quiet partition; 0 is unset: the broker's [wal] segment_ms.
	SegmentMs int64
	// LocalRetentionMs and LocalRetentionBytes bound the hot tail a replica
	// keeps on its disk once its segments are uploaded (tiered storage,
	// Kafka's local.retention.ms/bytes): an uploaded segment is deleted
	// locally when its newest record is older, or while the local log would
	// still hold more without it. 0 is unset: the broker's [object_storage]
	// local_retention_ms/bytes; -1 keeps uploaded segments locally until
	// retention_ms/bytes delete them.
	LocalRetentionMs    int64
	LocalRetentionBytes int64
	// TimestampType is Kafka's message.timestamp.type: "create_time" makes
	// a batch's timestamp (Batch.Timestamp: what retention, segment rolls
	// and time lookups go by) the newest of its records' create times, and
	// consumers see each record's create time; "log_append_time" or empty
	// (the default) stamps batches with the leader's append time, which
	// consumers see. Set at creation.
	TimestampType string
}

// Message timestamp types (TopicConfig.TimestampType).
const (
	TimestampCreateTime    = "create_time"
	TimestampLogAppendTime = "log_append_time"
)

// Topic config keys: the names AlterTopicConfigRequest, the admin API and
// the CLI use for the alterable settings.
const (
	ConfigRetentionMs    = "retention_ms"
	ConfigRetentionBytes = "retention_bytes"
	ConfigSegmentBytes   = "segment_bytes"
	ConfigSegmentMs      = "segment_ms"
	// Tiered storage (issue 10).
	ConfigLocalRetentionMs    = "local_retention_ms"
	ConfigLocalRetentionBytes = "local_retention_bytes"
)

// TopicConfigKeys lists the alterable settings' keys.
func TopicConfigKeys() []string {
	return []string{ConfigRetentionMs, ConfigRetentionBytes, ConfigSegmentBytes, ConfigSegmentMs, ConfigLocalRetentionMs, ConfigLocalRetentionBytes}
}

// Setting returns a pointer to the setting key names, nil for a key that
// names none (or one that cannot be altered).
func (c *TopicConfig) Setting(key string) *int64 {
	switch key {
	case ConfigRetentionMs:
		return &c.RetentionMs
	case ConfigRetentionBytes:
		return &c.RetentionBytes
	case ConfigSegmentBytes:
		return &c.SegmentBytes
	case ConfigSegmentMs:
		return &c.SegmentMs
	case ConfigLocalRetentionMs:
		return &c.LocalRetentionMs
	case ConfigLocalRetentionBytes:
		return &c.LocalRetentionBytes
	}
	return nil
}

// TopicInfo describes a topic.
type TopicInfo struct {
	Name              string
	Partitions        int32
	ReplicationFactor int32
	Config            TopicConfig
	// CreatedAtMs is the wall-clock time (Unix ms) the creating request
	// carried; zero when it carried none. State machines never read a
	// clock: the process that accepted the request stamped it.
	CreatedAtMs int64
	// ID names this incarnation of the topic (see TopicID): the controller
	// derives it from the raft entry that created the topic, so a topic
	// deleted and created again under the same name has a new one. Brokers
	// tag partition directories and log headers with it.
	ID TopicID
}

// PartitionState is the controller's view of one partition.
type PartitionState struct {
	TP       TopicPartition
	Replicas []NodeID // assignment order; the first is the preferred leader
	Leader   NodeID   // NoNode while offline
	// LeaderEpoch increments on every leader change (including to NoNode).
	LeaderEpoch Epoch
	ISR         []NodeID
	// PartitionEpoch increments on every change of leader or ISR; AlterISR
	// must name it, so stale ISR changes are rejected.
	PartitionEpoch int64
	// ELR are the eligible leader replicas (Kafka's KIP-966): replicas out
	// of the ISR that still hold every committed record. A replica enters
	// it when it leaves an ISR that is then smaller than
	// min_in_sync_replicas — the high watermark does not advance while the
	// ISR is that small, so it misses nothing committed — and leaves it when
	// it rejoins the ISR, reports it lost the partition's data, or the ISR
	// reaches min_in_sync_replicas again. When no ISR member is alive, a
	// live ELR member is elected: the partition stays available, and loses
	// nothing committed, when the last in-sync copy is lost.
	ELR []NodeID
	// Remote is the partition's uploaded range (tiered storage); the
	// segments themselves are the controller's records
	// (RemoteSegmentsRequest). A commit or drop changes it without a new
	// PartitionEpoch.
	Remote RemoteLog
}

// BrokerInfo is the controller's view of one broker.
type BrokerInfo struct {
	ID          NodeID
	Incarnation uint64
	Rack        string
	Host        string
	// Fenced is true once the broker's session expired or it shut down; it
	// leads nothing and is not in any ISR until it registers again.
	Fenced bool
}

// MetadataDelta is what changed between FromVersion and ToVersion. When Full
// is set it holds the whole state and the receiver replaces its own.
type MetadataDelta struct {
	FromVersion   uint64
	ToVersion     uint64
	Full          bool
	Brokers       []BrokerInfo
	Topics        []TopicInfo
	DeletedTopics []string
	Partitions    []PartitionState
	// ACL is the whole ACL rule set (acl.State.Snapshot) when it changed
	// after FromVersion (or Full); nil otherwise. Brokers compile it into
	// their authorizer.
	ACL []byte
	// Revoked is every revoked certificate serial, sorted, when the set
	// changed after FromVersion (or Full); nil otherwise (an empty, non-nil
	// list is "none revoked").
	Revoked []string
}

// Visible is d as a client may see it: the topics and partitions keep
// allows (those its principal may describe), and never the ACL rules.
func (d MetadataDelta) Visible(keep func(topic string) bool) MetadataDelta {
	d.ACL, d.Revoked = nil, nil
	var topics []TopicInfo
	for _, t := range d.Topics {
		if keep(t.Name) {
			topics = append(topics, t)
		}
	}
	var parts []PartitionState
	for _, p := range d.Partitions {
		if keep(p.TP.Topic) {
			parts = append(parts, p)
		}
	}
	d.Topics, d.Partitions = topics, parts
	return d
}

// Empty reports whether the delta changes nothing.
func (d *MetadataDelta) Empty() bool {
	return !d.Full && len(d.Brokers) == 0 && len(d.Topics) == 0 && len(d.DeletedTopics) == 0 && len(d.Partitions) == 0 && d.ACL == nil && d.Revoked == nil
}
