package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/weirmq/weir/sm"
)

// Smallest encodings of repeated elements: a count is accepted only if that
// many elements could fit in the remaining bytes, which bounds every
// allocation by the input.
const (
	recordBytesMin      = 4 + 4                  // key length, value length
	batchBytesMin       = sm.FrameHeaderBytes    // an empty sm batch frame
	nodeBytes           = 8                      // a NodeID
	tpBytesMin          = 4 + 4                  // topic length, partition
	stringBytesMin      = 4                      // a length
	brokerBytesMin      = 8 + 8 + 4 + 4 + 1      // id, incarnation, rack, host, fenced
	topicBytesMin       = 4 + 4 + 4 + 4 + 1 + 16 // name, partitions, rf, min ISR, unclean, id
	configEntryBytesMin = 4 + 8                  // key, value
	// partitionBytesMin: tp, replicas, leader, epoch, isr, partition epoch,
	// elr, remote.
	partitionBytesMin = 4 + 4 + 4 + 8 + 8 + 4 + 8 + 4 + remoteLogBytes
	remoteLogBytes    = 8 + 8 + 8 + 4 // start, end, bytes, segments
	// remoteSegmentBytesMin is a RemoteSegment with an empty name and no
	// epochs: name, base, next, data, index, max timestamp, epoch, epochs.
	remoteSegmentBytesMin = 4 + 8 + 8 + 8 + 8 + 8 + 8 + 4
	epochStartBytes       = 8 + 8 // epoch, start
	// healthBytes is a BrokerHealth less its WAL backend string's bytes:
	// WAL, cache, object storage, network, replication, resources.
	healthBytes          = (1 + 8 + 8 + 4) + (1 + 8 + 8 + 8) + (1 + 1) + (8 + 1) + (8 + 8) + (8 + 8 + 8)
	brokerStatusBytesMin = brokerBytesMin + 1 + 8 + healthBytes // info, online, last report, health

	// Consumer-group elements (sm/groups.go), every string and byte
	// string empty.
	groupProtocolBytesMin     = 4 + 4                             // name, metadata
	groupMemberMetaBytesMin   = 4 + 4 + 4                         // member id, instance id, metadata
	groupAssignmentBytesMin   = 4 + 4                             // member id, assignment
	groupMemberRefBytesMin    = 4 + 4                             // member id, instance id
	groupMemberResultBytesMin = 4 + 4 + 2 + 4                     // member id, instance id, code, message
	offsetCommitBytesMin      = tpBytesMin + 8 + 4 + 4            // tp, offset, leader epoch, metadata
	partitionResultBytesMin   = tpBytesMin + 2 + 4                // tp, code, message
	committedOffsetBytesMin   = tpBytesMin + 8 + 4 + 4 + 2        // tp, offset, leader epoch, metadata, code
	groupListingBytesMin      = 4 + 4 + 4                         // group id, protocol type, state
	groupMemberBytesMin       = 4 + 4 + 4 + 4 + 4 + 4             // ids, client id and host, metadata, assignment
	groupResultBytesMin       = 4 + 2 + 4                         // group id, code, message
	groupDescriptionBytesMin  = 4 + 2 + 4 + 4 + 4 + 4 + 4 + 4 + 4 // group id … protocol, generation, leader, members
)

// pathElem is one step of the field path a decoder is inside, such as
// "records[3]"; index is -1 for a plain field.
type pathElem struct {
	name  string
	index int
}

// decoder consumes buf front to back. The first failure sticks: later reads
// return zero values, so message decoders read straight through and loops
// stop early by checking err. The path is built only when a failure is
// reported, so the success path does not allocate for it.
type decoder struct {
	buf  []byte
	msg  string
	path []pathElem
	err  error
}

func (d *decoder) push(name string, index int) { d.path = append(d.path, pathElem{name, index}) }
func (d *decoder) pop()                        { d.path = d.path[:len(d.path)-1] }

func (d *decoder) fail(field, reason string, cause error) {
	if d.err != nil {
		return
	}
	var b strings.Builder
	for _, p := range d.path {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p.name)
		if p.index >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(p.index))
			b.WriteByte(']')
		}
	}
	if field != "" {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(field)
	}
	d.err = &DecodeError{Msg: d.msg, Field: b.String(), Reason: reason, cause: cause}
}

// end reports the sticky error, or trailing bytes after a complete message.
func (d *decoder) end() error {
	if d.err == nil && len(d.buf) != 0 {
		d.fail("", fmt.Sprintf("%d trailing bytes", len(d.buf)), nil)
	}
	return d.err
}

// take returns the next n bytes, or fails naming field.
func (d *decoder) take(field string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.buf) < n {
		d.fail(field, fmt.Sprintf("truncated: need %d bytes, %d remaining", n, len(d.buf)), nil)
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) u8(field string) uint8 {
	if b := d.take(field, 1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) u16(field string) uint16 {
	if b := d.take(field, 2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (d *decoder) u32(field string) uint32 {
	if b := d.take(field, 4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) u64(field string) uint64 {
	if b := d.take(field, 8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (d *decoder) i32(field string) int32   { return int32(d.u32(field)) }
func (d *decoder) i64(field string) int64   { return int64(d.u64(field)) }
func (d *decoder) f64(field string) float64 { return math.Float64frombits(d.u64(field)) }

// int reads a Go int carried as i64, refusing values this platform's int
// cannot hold (so that a decoded frame re-encodes to the same bytes).
func (d *decoder) int(field string) int {
	v := d.i64(field)
	if int64(int(v)) != v {
		d.fail(field, fmt.Sprintf("%d overflows int", v), nil)
		return 0
	}
	return int(v)
}

func (d *decoder) bool(field string) bool {
	v := d.u8(field)
	if v > 1 {
		d.fail(field, fmt.Sprintf("invalid bool %d", v), nil)
	}
	return v == 1
}

// bytes reads a length-prefixed byte string; empty decodes as nil. The result
// aliases the input.
func (d *decoder) bytes(field string) []byte {
	n := d.u32(field)
	if d.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(d.buf)) {
		d.fail(field, fmt.Sprintf("length %d exceeds remaining %d bytes", n, len(d.buf)), nil)
		return nil
	}
	if n == 0 {
		return nil
	}
	return d.take(field, int(n))
}

func (d *decoder) str(field string) string { return string(d.bytes(field)) }

// count reads a slice length and checks that that many elements of at least
// elemMin bytes fit in what remains.
func (d *decoder) count(field string, elemMin int) int {
	n := d.u32(field)
	if d.err != nil {
		return 0
	}
	if uint64(n)*uint64(elemMin) > uint64(len(d.buf)) {
		d.fail(field, fmt.Sprintf("count %d needs at least %d bytes, exceeds remaining %d bytes", n, uint64(n)*uint64(elemMin), len(d.buf)), nil)
		return 0
	}
	return int(n)
}

func (d *decoder) tp(field string) sm.TopicPartition {
	d.push(field, -1)
	defer d.pop()
	return sm.TopicPartition{Topic: d.str("topic"), Partition: d.i32("partition")}
}

func (d *decoder) tps(field string) []sm.TopicPartition {
	n := d.count(field, tpBytesMin)
	if n == 0 {
		return nil
	}
	tps := make([]sm.TopicPartition, n)
	for i := 0; i < n && d.err == nil; i++ {
		d.push(field, i)
		tps[i] = d.tp("tp")
		d.pop()
	}
	return tps
}

func (d *decoder) nodes(field string) []sm.NodeID {
	n := d.count(field, nodeBytes)
	if n == 0 {
		return nil
	}
	ns := make([]sm.NodeID, n)
	for i := range ns {
		ns[i] = sm.NodeID(d.u64(field))
	}
	return ns
}

func (d *decoder) u64s(field string) []uint64 {
	n := d.count(field, 8)
	if n == 0 {
		return nil
	}
	vs := make([]uint64, n)
	for i := range vs {
		vs[i] = d.u64(field)
	}
	return vs
}

func (d *decoder) records(field string) []sm.Record {
	n := d.count(field, recordBytesMin)
	if n == 0 {
		return nil
	}
	rs := make([]sm.Record, n)
	for i := 0; i < n && d.err == nil; i++ {
		d.push(field, i)
		rs[i] = sm.Record{Key: d.bytes("key"), Value: d.bytes("value")}
		d.pop()
	}
	return rs
}

// batches decodes sm batch frames; sm.DecodeBatch verifies each frame's
// checksum, so a corrupted batch is a malformed frame.
func (d *decoder) batches(field string) []sm.Batch {
	n := d.count(field, batchBytesMin)
	if n == 0 {
		return nil
	}
	bs := make([]sm.Batch, n)
	for i := 0; i < n && d.err == nil; i++ {
		b, used, err := sm.DecodeBatch(d.buf)
		if err != nil {
			d.push(field, i)
			d.fail("", err.Error(), err)
			d.pop()
			break
		}
		bs[i] = b
		d.buf = d.buf[used:]
	}
	return bs
}

func (d *decoder) topicConfig(field string) sm.TopicConfig {
	d.push(field, -1)
	defer d.pop()
	return sm.TopicConfig{MinInSyncReplicas: d.i32("minInSyncReplicas"), UncleanLeaderElection: d.bool("uncleanLeaderElection"),
		RetentionMs: d.i64("retentionMs"), SegmentBytes: d.i64("segmentBytes"), CompressionType: d.str("compressionType"),
		RetentionBytes: d.i64("retentionBytes"), SegmentMs: d.i64("segmentMs"),
		LocalRetentionMs: d.i64("localRetentionMs"), LocalRetentionBytes: d.i64("localRetentionBytes"),
		TimestampType: d.str("timestampType")}
}

func (d *decoder) remoteLog(field string) sm.RemoteLog {
	d.push(field, -1)
	defer d.pop()
	return sm.RemoteLog{Start: sm.Offset(d.i64("start")), End: sm.Offset(d.i64("end")), Bytes: d.i64("bytes"),
		Segments: d.i32("segments")}
}

func (d *decoder) remoteSegment() sm.RemoteSegment {
	s := sm.RemoteSegment{
		Name: d.str("name"), Base: sm.Offset(d.i64("base")), Next: sm.Offset(d.i64("next")),
		DataBytes: d.i64("dataBytes"), IndexBytes: d.i64("indexBytes"), MaxTimestamp: d.i64("maxTimestamp"),
		LeaderEpoch: sm.Epoch(d.i64("leaderEpoch")),
	}
	if n := d.count("epochs", epochStartBytes); n > 0 {
		s.Epochs = make([]sm.EpochStart, n)
		for i := range s.Epochs {
			s.Epochs[i] = sm.EpochStart{Epoch: sm.Epoch(d.i64("epochs")), Start: sm.Offset(d.i64("epochs"))}
		}
	}
	return s
}

func (d *decoder) remoteSegments(field string) []sm.RemoteSegment {
	n := d.count(field, remoteSegmentBytesMin)
	if n == 0 {
		return nil
	}
	ss := make([]sm.RemoteSegment, n)
	for i := 0; i < n && d.err == nil; i++ {
		d.push(field, i)
		ss[i] = d.remoteSegment()
		d.pop()
	}
	return ss
}

func (d *decoder) topicID(field string) sm.TopicID {
	var id sm.TopicID
	copy(id[:], d.take(field, len(id)))
	return id
}

func (d *decoder) configEntries(field string) []sm.TopicConfigEntry {
	n := d.count(field, configEntryBytesMin)
	if n == 0 {
		return nil
	}
	es := make([]sm.TopicConfigEntry, n)
	for i := 0; i < n && d.err == nil; i++ {
		d.push(field, i)
		es[i] = sm.TopicConfigEntry{Key: d.str("key"), Value: d.i64("value")}
		d.pop()
	}
	return es
}

func (d *decoder) topicInfo() sm.TopicInfo {
	return sm.TopicInfo{
		Name:              d.str("name"),
		Partitions:        d.i32("partitions"),
		ReplicationFactor: d.i32("replicationFactor"),
		Config:            d.topicConfig("config"),
		CreatedAtMs:       d.i64("createdAtMs"),
		ID:                d.topicID("id"),
	}
}

func (d *decoder) partitionState() sm.PartitionState {
	return sm.PartitionState{
		TP:             d.tp("tp"),
		Replicas:       d.nodes("replicas"),
		Leader:         sm.NodeID(d.u64("leader")),
		LeaderEpoch:    sm.Epoch(d.i64("leaderEpoch")),
		ISR:            d.nodes("isr"),
		PartitionEpoch: d.i64("partitionEpoch"),
		ELR:            d.nodes("elr"),
		Remote:         d.remoteLog("remote"),
	}
}

func (d *decoder) brokerInfo() sm.BrokerInfo {
	return sm.BrokerInfo{
		ID: sm.NodeID(d.u64("id")), Incarnation: d.u64("incarnation"),
		Rack: d.str("rack"), Host: d.str("host"), Fenced: d.bool("fenced"),
	}
}

func (d *decoder) health(field string) sm.BrokerHealth {
	d.push(field, -1)
	defer d.pop()
	return sm.BrokerHealth{
		WAL: sm.WALHealth{
			Healthy: d.bool("wal.healthy"), UsedBytes: d.i64("wal.usedBytes"),
			CapacityBytes: d.i64("wal.capacityBytes"), Backend: d.str("wal.backend"),
		},
		Cache: sm.CacheHealth{
			Healthy: d.bool("cache.healthy"), HitRate: d.f64("cache.hitRate"),
			UsedBytes: d.i64("cache.usedBytes"), CapacityBytes: d.i64("cache.capacityBytes"),
		},
		ObjectStorage: sm.ObjectStorageHealth{Healthy: d.bool("objectStorage.healthy"), Configured: d.bool("objectStorage.configured")},
		Network:       sm.NetworkHealth{Connections: d.int("network.connections"), Healthy: d.bool("network.healthy")},
		Replication: sm.ReplicationHealth{
			MaxLagRecords: d.i64("replication.maxLagRecords"), UnderReplicatedPartitions: d.int("replication.underReplicatedPartitions"),
		},
		Resources: sm.ResourceUsage{
			MemoryBytes: d.u64("resources.memoryBytes"), Goroutines: d.int("resources.goroutines"),
			CPUPercent: d.f64("resources.cpuPercent"),
		},
	}
}

// optionalHealth reads a presence byte and, if set, a health report.
func (d *decoder) optionalHealth(field string) *sm.BrokerHealth {
	switch present := d.u8(field); {
	case d.err != nil || present == 0:
		return nil
	case present != 1:
		d.fail(field, fmt.Sprintf("invalid presence byte %d", present), nil)
		return nil
	}
	h := d.health(field)
	if d.err != nil {
		return nil
	}
	return &h
}

func (d *decoder) clusterStatus() sm.ClusterStatusResponse {
	m := sm.ClusterStatusResponse{
		ReqID: d.u64("reqID"), Code: sm.Code(d.u16("code")), LeaderHint: sm.NodeID(d.u64("leaderHint")),
		IsLeader: d.bool("isLeader"), Term: d.u64("term"), CommitIndex: d.u64("commitIndex"),
		AppliedIndex: d.u64("appliedIndex"), Metadata: d.delta("metadata"),
	}
	if n := d.count("brokers", brokerStatusBytesMin); n > 0 {
		m.Brokers = make([]sm.BrokerStatus, n)
		for i := 0; i < n && d.err == nil; i++ {
			d.push("brokers", i)
			m.Brokers[i] = sm.BrokerStatus{
				Info: d.brokerInfo(), Online: d.bool("online"), LastReport: sm.Time(d.i64("lastReport")),
				Health: d.health("health"),
			}
			d.pop()
		}
	}
	m.Healthy = d.bool("healthy")
	m.Leader = sm.NodeID(d.u64("leader"))
	m.Now = sm.Time(d.i64("now"))
	return m
}

func (d *decoder) delta(field string) sm.MetadataDelta {
	d.push(field, -1)
	defer d.pop()
	md := sm.MetadataDelta{FromVersion: d.u64("fromVersion"), ToVersion: d.u64("toVersion"), Full: d.bool("full")}
	if n := d.count("brokers", brokerBytesMin); n > 0 {
		md.Brokers = make([]sm.BrokerInfo, n)
		for i := 0; i < n && d.err == nil; i++ {
			d.push("brokers", i)
			md.Brokers[i] = d.brokerInfo()
			d.pop()
		}
	}
	if n := d.count("topics", topicBytesMin); n > 0 {
		md.Topics = make([]sm.TopicInfo, n)
		for i := 0; i < n && d.err == nil; i++ {
			d.push("topics", i)
			md.Topics[i] = d.topicInfo()
			d.pop()
		}
	}
	if n := d.count("deletedTopics", stringBytesMin); n > 0 {
		md.DeletedTopics = make([]string, n)
		for i := 0; i < n && d.err == nil; i++ {
			d.push("deletedTopics", i)
			md.DeletedTopics[i] = d.str("")
			d.pop()
		}
	}
	if n := d.count("partitions", partitionBytesMin); n > 0 {
		md.Partitions = make([]sm.PartitionState, n)
		for i := 0; i < n && d.err == nil; i++ {
			d.push("partitions", i)
			md.Partitions[i] = d.partitionState()
			d.pop()
		}
	}
	md.ACL = d.bytes("acl")
	if present := d.bool("revokedPresent"); present {
		n := d.count("revoked", stringBytesMin)
		md.Revoked = make([]string, n)
		for i := 0; i < n && d.err == nil; i++ {
			d.push("revoked", i)
			md.Revoked[i] = d.str("")
			d.pop()
		}
	} else {
		d.count("revoked", stringBytesMin)
	}
	return md
}

// json decodes a length-prefixed JSON value into v, refusing unknown
// fields and trailing data.
func (d *decoder) json(field string, v any) {
	data := d.bytes(field)
	if d.err != nil {
		return
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		d.fail(field, err.Error(), nil)
		return
	}
	if dec.More() {
		d.fail(field, "trailing data after the JSON value", nil)
	}
}

func (d *decoder) raft() sm.RaftMessage {
	switch present := d.u8("m"); {
	case d.err != nil || present == 0:
		return sm.RaftMessage{}
	case present != 1:
		d.fail("m", fmt.Sprintf("invalid presence byte %d", present), nil)
		return sm.RaftMessage{}
	}
	b := d.bytes("m")
	if d.err != nil {
		return sm.RaftMessage{}
	}
	m := new(pb.Message)
	if err := proto.Unmarshal(b, m); err != nil {
		d.fail("m", err.Error(), err)
		return sm.RaftMessage{}
	}
	return sm.RaftMessage{M: m}
}

func (d *decoder) reply() (uint64, sm.Code, string, sm.NodeID) {
	return d.u64("reqID"), sm.Code(d.u16("code")), d.str("message"), sm.NodeID(d.u64("leaderHint"))
}

// tieringReply reads the head the controller's tiered-storage answers share.
func (d *decoder) tieringReply() (uint64, sm.TopicPartition, sm.Code, string, sm.NodeID, sm.RemoteLog) {
	return d.u64("reqID"), d.tp("tp"), sm.Code(d.u16("code")), d.str("message"), sm.NodeID(d.u64("leaderHint")), d.remoteLog("remote")
}

// decodeMessage reads the payload of a message of kind k.
// Go evaluates composite literal fields in order, so each literal below reads
// the wire in declaration order.
func decodeMessage(d *decoder, k sm.MsgKind) sm.Message {
	switch k {
	case sm.KindProduceRequest:
		return sm.ProduceRequest{
			ReqID: d.u64("reqID"), TP: d.tp("tp"),
			Acks:    sm.Acks{Kind: sm.AckKind(d.u8("acks.kind")), N: d.i32("acks.n")},
			Records: d.records("records"), Timeout: sm.Duration(d.i64("timeout")),
			Codec: sm.Codec(d.u8("codec")), Block: d.bytes("block"), Count: d.i32("count"), BlockCRC: d.u32("blockCRC"),
			MaxTimestamp: d.i64("maxTimestamp"), Idempotent: d.bool("idempotent"), ProducerID: d.i64("producerID"),
			ProducerEpoch: int16(d.u16("producerEpoch")), BaseSequence: d.i32("baseSequence"),
		}
	case sm.KindProduceResponse:
		return sm.ProduceResponse{
			ReqID: d.u64("reqID"), TP: d.tp("tp"), Code: sm.Code(d.u16("code")), Message: d.str("message"),
			BaseOffset: sm.Offset(d.i64("baseOffset")), LeaderEpoch: sm.Epoch(d.i64("leaderEpoch")),
			LeaderHint: sm.NodeID(d.u64("leaderHint")),
		}
	case sm.KindFetchRequest:
		return sm.FetchRequest{
			ReqID: d.u64("reqID"), TP: d.tp("tp"), Offset: sm.Offset(d.i64("offset")),
			MaxRecords: d.i32("maxRecords"), CurrentLeaderEpoch: sm.Epoch(d.i64("currentLeaderEpoch")),
		}
	case sm.KindFetchResponse:
		return sm.FetchResponse{
			ReqID: d.u64("reqID"), TP: d.tp("tp"), Code: sm.Code(d.u16("code")), Message: d.str("message"),
			Batches: d.batches("batches"), HighWatermark: sm.Offset(d.i64("highWatermark")),
			LogStart: sm.Offset(d.i64("logStart")), LeaderEpoch: sm.Epoch(d.i64("leaderEpoch")),
			LeaderHint: sm.NodeID(d.u64("leaderHint")),
		}
	case sm.KindReplicaFetchRequest:
		return sm.ReplicaFetchRequest{
			TP: d.tp("tp"), Replica: sm.NodeID(d.u64("replica")), Incarnation: d.u64("incarnation"),
			LeaderEpoch: sm.Epoch(d.i64("leaderEpoch")), FetchOffset: sm.Offset(d.i64("fetchOffset")),
			LastFetchedEpoch: sm.Epoch(d.i64("lastFetchedEpoch")),
		}
	case sm.KindReplicaFetchResponse:
		return sm.ReplicaFetchResponse{
			TP: d.tp("tp"), Code: sm.Code(d.u16("code")), Incarnation: d.u64("incarnation"),
			FetchOffset: sm.Offset(d.i64("fetchOffset")), LeaderEpoch: sm.Epoch(d.i64("leaderEpoch")),
			Batches: d.batches("batches"), HighWatermark: sm.Offset(d.i64("highWatermark")),
			Diverging: d.bool("diverging"), DivergingEpoch: sm.Epoch(d.i64("divergingEpoch")),
			DivergingEndOffset: sm.Offset(d.i64("divergingEndOffset")), LogStart: sm.Offset(d.i64("logStart")),
		}
	case sm.KindBrokerHeartbeat:
		return sm.BrokerHeartbeat{
			Broker: sm.NodeID(d.u64("broker")), Incarnation: d.u64("incarnation"), SentAt: sm.Time(d.i64("sentAt")),
			Rack: d.str("rack"), Host: d.str("host"), MetadataVersion: d.u64("metadataVersion"),
			Health: d.optionalHealth("health"), LostDisk: d.bool("lostDisk"), Lost: d.tps("lost"),
			AcceptDataLoss: d.bool("acceptDataLoss"),
		}
	case sm.KindBrokerHeartbeatResponse:
		return sm.BrokerHeartbeatResponse{
			Incarnation: d.u64("incarnation"), SentAt: sm.Time(d.i64("sentAt")), Code: sm.Code(d.u16("code")), Message: d.str("message"),
			LeaderHint: sm.NodeID(d.u64("leaderHint")), Delta: d.delta("delta"),
			SessionTimeout: sm.Duration(d.i64("sessionTimeout")),
		}
	case sm.KindAlterISRRequest:
		return sm.AlterISRRequest{
			ReqID: d.u64("reqID"), Broker: sm.NodeID(d.u64("broker")), TP: d.tp("tp"),
			LeaderEpoch: sm.Epoch(d.i64("leaderEpoch")), PartitionEpoch: d.i64("partitionEpoch"), ISR: d.nodes("isr"),
			Incarnations: d.u64s("incarnations"),
		}
	case sm.KindAlterISRResponse:
		m := sm.AlterISRResponse{
			ReqID: d.u64("reqID"), TP: d.tp("tp"), Code: sm.Code(d.u16("code")), Message: d.str("message"),
			LeaderHint: sm.NodeID(d.u64("leaderHint")),
		}
		d.push("state", -1)
		m.State = d.partitionState()
		d.pop()
		return m
	case sm.KindCreateTopicRequest:
		return sm.CreateTopicRequest{
			ReqID: d.u64("reqID"), Name: d.str("name"), Partitions: d.i32("partitions"),
			ReplicationFactor: d.i32("replicationFactor"), Config: d.topicConfig("config"),
			CreatedAtMs: d.i64("createdAtMs"),
		}
	case sm.KindCreateTopicResponse:
		var m sm.CreateTopicResponse
		m.ReqID, m.Code, m.Message, m.LeaderHint = d.reply()
		return m
	case sm.KindDeleteTopicRequest:
		return sm.DeleteTopicRequest{ReqID: d.u64("reqID"), Name: d.str("name")}
	case sm.KindDeleteTopicResponse:
		var m sm.DeleteTopicResponse
		m.ReqID, m.Code, m.Message, m.LeaderHint = d.reply()
		return m
	case sm.KindMetadataRequest:
		return sm.MetadataRequest{ReqID: d.u64("reqID"), SinceVersion: d.u64("sinceVersion")}
	case sm.KindMetadataResponse:
		return sm.MetadataResponse{
			ReqID: d.u64("reqID"), Code: sm.Code(d.u16("code")),
			LeaderHint: sm.NodeID(d.u64("leaderHint")), Delta: d.delta("delta"),
		}
	case sm.KindRaftMessage:
		return d.raft()
	case sm.KindClusterStatusRequest:
		return sm.ClusterStatusRequest{ReqID: d.u64("reqID"), Stale: d.bool("stale")}
	case sm.KindClusterStatusResponse:
		return d.clusterStatus()
	case sm.KindAlterTopicConfigRequest:
		return sm.AlterTopicConfigRequest{ReqID: d.u64("reqID"), Name: d.str("name"), Set: d.configEntries("set")}
	case sm.KindAlterTopicConfigResponse:
		var m sm.AlterTopicConfigResponse
		m.ReqID, m.Code, m.Message, m.LeaderHint = d.reply()
		return m
	case sm.KindListOffsetsRequest:
		return sm.ListOffsetsRequest{ReqID: d.u64("reqID"), TP: d.tp("tp"), CurrentLeaderEpoch: sm.Epoch(d.i64("currentLeaderEpoch")),
			ByTime: d.bool("byTime"), Timestamp: d.i64("timestamp")}
	case sm.KindListOffsetsResponse:
		return sm.ListOffsetsResponse{
			ReqID: d.u64("reqID"), TP: d.tp("tp"), Code: sm.Code(d.u16("code")), Message: d.str("message"),
			LogStart: sm.Offset(d.i64("logStart")), HighWatermark: sm.Offset(d.i64("highWatermark")),
			LogEnd: sm.Offset(d.i64("logEnd")), LeaderEpoch: sm.Epoch(d.i64("leaderEpoch")),
			LeaderHint: sm.NodeID(d.u64("leaderHint")), LocalStart: sm.Offset(d.i64("localStart")),
			LocalBytes: d.i64("localBytes"), Remote: d.remoteLog("remote"),
			Offset: sm.Offset(d.i64("offset")), OffsetTimestamp: d.i64("offsetTimestamp"),
		}
	case sm.KindCommitSegmentRequest:
		m := sm.CommitSegmentRequest{
			ReqID: d.u64("reqID"), Broker: sm.NodeID(d.u64("broker")), TP: d.tp("tp"), TopicID: d.topicID("topicID"),
			LeaderEpoch: sm.Epoch(d.i64("leaderEpoch")),
		}
		d.push("segment", -1)
		m.Segment = d.remoteSegment()
		d.pop()
		return m
	case sm.KindCommitSegmentResponse:
		var m sm.CommitSegmentResponse
		m.ReqID, m.TP, m.Code, m.Message, m.LeaderHint, m.Remote = d.tieringReply()
		return m
	case sm.KindDropRemoteSegmentsRequest:
		return sm.DropRemoteSegmentsRequest{
			ReqID: d.u64("reqID"), Broker: sm.NodeID(d.u64("broker")), TP: d.tp("tp"), TopicID: d.topicID("topicID"),
			LeaderEpoch: sm.Epoch(d.i64("leaderEpoch")), Below: sm.Offset(d.i64("below")),
		}
	case sm.KindDropRemoteSegmentsResponse:
		var m sm.DropRemoteSegmentsResponse
		m.ReqID, m.TP, m.Code, m.Message, m.LeaderHint, m.Remote = d.tieringReply()
		return m
	case sm.KindRemoteSegmentsRequest:
		return sm.RemoteSegmentsRequest{
			ReqID: d.u64("reqID"), TP: d.tp("tp"), TopicID: d.topicID("topicID"), From: sm.Offset(d.i64("from")),
			Max: d.i32("max"),
		}
	case sm.KindACLRequest:
		m := sm.ACLRequest{ReqID: d.u64("reqID")}
		d.json("command", &m.Command)
		return m
	case sm.KindACLResponse:
		var m sm.ACLResponse
		m.ReqID, m.Code, m.Message, m.LeaderHint = d.reply()
		d.json("result", &m.Result)
		return m
	case sm.KindCertRequest:
		m := sm.CertRequest{ReqID: d.u64("reqID")}
		d.json("register", &m.Register)
		d.json("revoke", &m.Revoke)
		m.List = d.bool("list")
		return m
	case sm.KindCertResponse:
		var m sm.CertResponse
		m.ReqID, m.Code, m.Message, m.LeaderHint = d.reply()
		d.json("record", &m.Record)
		d.json("records", &m.Records)
		m.RevokedVersion = d.u64("revokedVersion")
		return m
	case sm.KindRemoteSegmentsResponse:
		var m sm.RemoteSegmentsResponse
		m.ReqID, m.TP, m.Code, m.Message, m.LeaderHint, m.Remote = d.tieringReply()
		m.Segments = d.remoteSegments("segments")
		m.More = d.bool("more")
		return m
	case sm.KindFindCoordinatorRequest, sm.KindFindCoordinatorResponse, sm.KindJoinGroupRequest, sm.KindJoinGroupResponse,
		sm.KindSyncGroupRequest, sm.KindSyncGroupResponse, sm.KindHeartbeatRequest, sm.KindHeartbeatResponse,
		sm.KindLeaveGroupRequest, sm.KindLeaveGroupResponse, sm.KindOffsetCommitRequest, sm.KindOffsetCommitResponse,
		sm.KindOffsetFetchRequest, sm.KindOffsetFetchResponse, sm.KindListGroupsRequest, sm.KindListGroupsResponse,
		sm.KindDescribeGroupsRequest, sm.KindDescribeGroupsResponse, sm.KindDeleteGroupsRequest, sm.KindDeleteGroupsResponse:
		return decodeGroupMessage(d, k)
	case sm.KindInitProducerIDRequest:
		return sm.InitProducerIDRequest{ReqID: d.u64("reqID")}
	case sm.KindInitProducerIDResponse:
		return sm.InitProducerIDResponse{ReqID: d.u64("reqID"), Code: sm.Code(d.u16("code")), Message: d.str("message"),
			ProducerID: d.i64("producerID"), ProducerEpoch: int16(d.u16("producerEpoch"))}
	case sm.KindAllocateProducerIDsRequest:
		return sm.AllocateProducerIDsRequest{ReqID: d.u64("reqID"), Broker: sm.NodeID(d.u64("broker")), Incarnation: d.u64("incarnation")}
	case sm.KindAllocateProducerIDsResponse:
		var m sm.AllocateProducerIDsResponse
		m.ReqID, m.Code, m.Message, m.LeaderHint = d.reply()
		m.First, m.Count = d.i64("first"), d.i32("count")
		return m
	}
	d.fail("", "no decoder for message kind "+k.String(), ErrUnknownType)
	return nil
}

// list decodes a u32 count then that many elements, each read by elem
// under the path field[i]; elemMin is an element's smallest encoding, so
// the count is checked against the remaining bytes before allocating. An
// empty list decodes as nil.
func list[T any](d *decoder, field string, elemMin int, elem func() T) []T {
	n := d.count(field, elemMin)
	if n == 0 {
		return nil
	}
	out := make([]T, n)
	for i := 0; i < n && d.err == nil; i++ {
		d.push(field, i)
		out[i] = elem()
		d.pop()
	}
	return out
}

func (d *decoder) strs(field string) []string {
	return list(d, field, stringBytesMin, func() string { return d.str("") })
}

func (d *decoder) code(field string) sm.Code { return sm.Code(d.u16(field)) }

// groupReply reads the head every consumer-group answer starts with.
func (d *decoder) groupReply() (uint64, sm.Code, string) {
	return d.u64("reqID"), d.code("code"), d.str("message")
}

// decodeGroupMessage reads the payload of a consumer-group message of kind
// k (sm/groups.go), fields in declaration order.
func decodeGroupMessage(d *decoder, k sm.MsgKind) sm.Message {
	switch k {
	case sm.KindFindCoordinatorRequest:
		return sm.FindCoordinatorRequest{ReqID: d.u64("reqID"), GroupID: d.str("groupID")}
	case sm.KindFindCoordinatorResponse:
		var m sm.FindCoordinatorResponse
		m.ReqID, m.Code, m.Message = d.groupReply()
		m.Coordinator = sm.NodeID(d.u64("coordinator"))
		m.Partition = d.i32("partition")
		return m
	case sm.KindJoinGroupRequest:
		return sm.JoinGroupRequest{
			ReqID: d.u64("reqID"), GroupID: d.str("groupID"), MemberID: d.str("memberID"),
			GroupInstanceID: d.str("groupInstanceID"), ClientID: d.str("clientID"), ProtocolType: d.str("protocolType"),
			Protocols: list(d, "protocols", groupProtocolBytesMin, func() sm.GroupProtocol {
				return sm.GroupProtocol{Name: d.str("name"), Metadata: d.bytes("metadata")}
			}),
			SessionTimeout: sm.Duration(d.i64("sessionTimeout")), RebalanceTimeout: sm.Duration(d.i64("rebalanceTimeout")),
			RequireKnownMemberID: d.bool("requireKnownMemberID"),
		}
	case sm.KindJoinGroupResponse:
		var m sm.JoinGroupResponse
		m.ReqID, m.Code, m.Message = d.groupReply()
		m.Generation = d.i32("generation")
		m.ProtocolType = d.str("protocolType")
		m.Protocol = d.str("protocol")
		m.Leader = d.str("leader")
		m.MemberID = d.str("memberID")
		m.Members = list(d, "members", groupMemberMetaBytesMin, func() sm.GroupMemberMetadata {
			return sm.GroupMemberMetadata{MemberID: d.str("memberID"), InstanceID: d.str("instanceID"), Metadata: d.bytes("metadata")}
		})
		return m
	case sm.KindSyncGroupRequest:
		return sm.SyncGroupRequest{
			ReqID: d.u64("reqID"), GroupID: d.str("groupID"), Generation: d.i32("generation"), MemberID: d.str("memberID"),
			GroupInstanceID: d.str("groupInstanceID"), ProtocolType: d.str("protocolType"), Protocol: d.str("protocol"),
			Assignments: list(d, "assignments", groupAssignmentBytesMin, func() sm.GroupAssignment {
				return sm.GroupAssignment{MemberID: d.str("memberID"), Assignment: d.bytes("assignment")}
			}),
		}
	case sm.KindSyncGroupResponse:
		var m sm.SyncGroupResponse
		m.ReqID, m.Code, m.Message = d.groupReply()
		m.ProtocolType = d.str("protocolType")
		m.Protocol = d.str("protocol")
		m.Assignment = d.bytes("assignment")
		return m
	case sm.KindHeartbeatRequest:
		return sm.HeartbeatRequest{
			ReqID: d.u64("reqID"), GroupID: d.str("groupID"), Generation: d.i32("generation"), MemberID: d.str("memberID"),
			GroupInstanceID: d.str("groupInstanceID"),
		}
	case sm.KindHeartbeatResponse:
		var m sm.HeartbeatResponse
		m.ReqID, m.Code, m.Message = d.groupReply()
		return m
	case sm.KindLeaveGroupRequest:
		return sm.LeaveGroupRequest{
			ReqID: d.u64("reqID"), GroupID: d.str("groupID"),
			Members: list(d, "members", groupMemberRefBytesMin, func() sm.GroupMemberRef {
				return sm.GroupMemberRef{MemberID: d.str("memberID"), GroupInstanceID: d.str("groupInstanceID")}
			}),
		}
	case sm.KindLeaveGroupResponse:
		var m sm.LeaveGroupResponse
		m.ReqID, m.Code, m.Message = d.groupReply()
		m.Members = list(d, "members", groupMemberResultBytesMin, func() sm.GroupMemberResult {
			return sm.GroupMemberResult{MemberID: d.str("memberID"), GroupInstanceID: d.str("groupInstanceID"),
				Code: d.code("code"), Message: d.str("message")}
		})
		return m
	case sm.KindOffsetCommitRequest:
		return sm.OffsetCommitRequest{
			ReqID: d.u64("reqID"), GroupID: d.str("groupID"), Generation: d.i32("generation"), MemberID: d.str("memberID"),
			GroupInstanceID: d.str("groupInstanceID"), Seek: d.bool("seek"), Reset: d.bool("reset"),
			Offsets: list(d, "offsets", offsetCommitBytesMin, func() sm.OffsetCommit {
				return sm.OffsetCommit{TP: d.tp("tp"), Offset: sm.Offset(d.i64("offset")), LeaderEpoch: d.i32("leaderEpoch"),
					Metadata: d.str("metadata")}
			}),
		}
	case sm.KindOffsetCommitResponse:
		var m sm.OffsetCommitResponse
		m.ReqID, m.Code, m.Message = d.groupReply()
		m.Partitions = list(d, "partitions", partitionResultBytesMin, func() sm.PartitionResult {
			return sm.PartitionResult{TP: d.tp("tp"), Code: d.code("code"), Message: d.str("message")}
		})
		return m
	case sm.KindOffsetFetchRequest:
		return sm.OffsetFetchRequest{ReqID: d.u64("reqID"), GroupID: d.str("groupID"), Partitions: d.tps("partitions")}
	case sm.KindOffsetFetchResponse:
		var m sm.OffsetFetchResponse
		m.ReqID, m.Code, m.Message = d.groupReply()
		m.Offsets = list(d, "offsets", committedOffsetBytesMin, func() sm.CommittedOffset {
			return sm.CommittedOffset{TP: d.tp("tp"), Offset: sm.Offset(d.i64("offset")), LeaderEpoch: d.i32("leaderEpoch"),
				Metadata: d.str("metadata"), Code: d.code("code")}
		})
		return m
	case sm.KindListGroupsRequest:
		return sm.ListGroupsRequest{ReqID: d.u64("reqID")}
	case sm.KindListGroupsResponse:
		var m sm.ListGroupsResponse
		m.ReqID, m.Code, m.Message = d.groupReply()
		m.Groups = list(d, "groups", groupListingBytesMin, func() sm.GroupListing {
			return sm.GroupListing{GroupID: d.str("groupID"), ProtocolType: d.str("protocolType"), State: d.str("state")}
		})
		return m
	case sm.KindDescribeGroupsRequest:
		return sm.DescribeGroupsRequest{ReqID: d.u64("reqID"), GroupIDs: d.strs("groupIDs")}
	case sm.KindDescribeGroupsResponse:
		var m sm.DescribeGroupsResponse
		m.ReqID, m.Code, m.Message = d.groupReply()
		m.Groups = list(d, "groups", groupDescriptionBytesMin, func() sm.GroupDescription {
			return sm.GroupDescription{
				GroupID: d.str("groupID"), Code: d.code("code"), Message: d.str("message"), State: d.str("state"),
				ProtocolType: d.str("protocolType"), Protocol: d.str("protocol"), Generation: d.i32("generation"),
				Leader: d.str("leader"),
				Members: list(d, "members", groupMemberBytesMin, func() sm.GroupMember {
					return sm.GroupMember{MemberID: d.str("memberID"), InstanceID: d.str("instanceID"), ClientID: d.str("clientID"),
						ClientHost: d.str("clientHost"), Metadata: d.bytes("metadata"), Assignment: d.bytes("assignment")}
				}),
			}
		})
		return m
	case sm.KindDeleteGroupsRequest:
		return sm.DeleteGroupsRequest{ReqID: d.u64("reqID"), GroupIDs: d.strs("groupIDs")}
	case sm.KindDeleteGroupsResponse:
		var m sm.DeleteGroupsResponse
		m.ReqID, m.Code, m.Message = d.groupReply()
		m.Groups = list(d, "groups", groupResultBytesMin, func() sm.GroupResult {
			return sm.GroupResult{GroupID: d.str("groupID"), Code: d.code("code"), Message: d.str("message")}
		})
		return m
	}
	d.fail("", "no decoder for message kind "+k.String(), ErrUnknownType)
	return nil
}
