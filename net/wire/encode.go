package wire

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/weirmq/weir/sm"
)

// encoder appends fields to buf; the first failure sticks and later writes
// are ignored, so message encoders read straight through.
type encoder struct {
	buf   []byte
	start int
	err   error
}

func (e *encoder) header(t Type) {
	e.buf = append(e.buf, 0, 0, 0, 0, Version, uint8(t))
}

func (e *encoder) finish() ([]byte, error) {
	if e.err != nil {
		return e.buf[:e.start], e.err
	}
	n := len(e.buf) - e.start - 4
	if uint64(n) > math.MaxUint32 {
		return e.buf[:e.start], fmt.Errorf("%w: message of %d bytes exceeds the u32 length prefix", ErrFrameTooLarge, n)
	}
	binary.LittleEndian.PutUint32(e.buf[e.start:], uint32(n))
	return e.buf, nil
}

func (e *encoder) u8(v uint8)    { e.buf = append(e.buf, v) }
func (e *encoder) u16(v uint16)  { e.buf = binary.LittleEndian.AppendUint16(e.buf, v) }
func (e *encoder) u32(v uint32)  { e.buf = binary.LittleEndian.AppendUint32(e.buf, v) }
func (e *encoder) u64(v uint64)  { e.buf = binary.LittleEndian.AppendUint64(e.buf, v) }
func (e *encoder) i32(v int32)   { e.u32(uint32(v)) }
func (e *encoder) i64(v int64)   { e.u64(uint64(v)) }
func (e *encoder) int(v int)     { e.i64(int64(v)) }
func (e *encoder) f64(v float64) { e.u64(math.Float64bits(v)) }

func (e *encoder) bool(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}

func (e *encoder) count(n int, what string) {
	if uint64(n) > math.MaxUint32 && e.err == nil {
		e.err = fmt.Errorf("%w: %s: %d exceeds the u32 length prefix", ErrFrameTooLarge, what, n)
	}
	e.u32(uint32(n))
}

func (e *encoder) str(s string, what string) {
	e.count(len(s), what)
	e.buf = append(e.buf, s...)
}

func (e *encoder) bytes(b []byte, what string) {
	e.count(len(b), what)
	e.buf = append(e.buf, b...)
}

// json appends v's JSON encoding as a length-prefixed byte string: ACL
// commands and results, whose rules are JSON in the controller's raft log
// too (one encoding of them everywhere).
func (e *encoder) json(v any, what string) {
	data, err := json.Marshal(v)
	if err != nil && e.err == nil {
		e.err = fmt.Errorf("wire: %s: %w", what, err)
	}
	e.bytes(data, what)
}

func (e *encoder) tp(tp sm.TopicPartition) {
	e.str(tp.Topic, "tp.topic")
	e.i32(tp.Partition)
}

func (e *encoder) tps(tps []sm.TopicPartition, what string) {
	e.count(len(tps), what)
	for _, tp := range tps {
		e.tp(tp)
	}
}

func (e *encoder) nodes(ns []sm.NodeID, what string) {
	e.count(len(ns), what)
	for _, n := range ns {
		e.u64(uint64(n))
	}
}

func (e *encoder) u64s(vs []uint64, what string) {
	e.count(len(vs), what)
	for _, v := range vs {
		e.u64(v)
	}
}

func (e *encoder) records(rs []sm.Record) {
	e.count(len(rs), "records")
	for i := range rs {
		e.bytes(rs[i].Key, "record key")
		e.bytes(rs[i].Value, "record value")
	}
}

func (e *encoder) batches(bs []sm.Batch) {
	e.count(len(bs), "batches")
	// One allocation for all the frames: appending megabytes of records
	// record by record would copy them again at every doubling.
	need := 0
	for i := range bs {
		need += bs[i].FrameSize()
	}
	e.buf = slices.Grow(e.buf, need)
	for i := range bs {
		at := len(e.buf)
		e.buf = sm.EncodeBatch(e.buf, &bs[i])
		if n := len(e.buf) - at; n > sm.BatchFrameMax+4 && e.err == nil {
			e.err = fmt.Errorf("%w: batches[%d]: frame of %d bytes exceeds sm.BatchFrameMax %d", ErrFrameTooLarge, i, n, sm.BatchFrameMax)
		}
	}
}

func (e *encoder) delta(d *sm.MetadataDelta) {
	e.u64(d.FromVersion)
	e.u64(d.ToVersion)
	e.bool(d.Full)
	e.count(len(d.Brokers), "brokers")
	for i := range d.Brokers {
		e.brokerInfo(&d.Brokers[i])
	}
	e.count(len(d.Topics), "topics")
	for i := range d.Topics {
		e.topicInfo(&d.Topics[i])
	}
	e.count(len(d.DeletedTopics), "deleted topics")
	for _, s := range d.DeletedTopics {
		e.str(s, "deleted topic")
	}
	e.count(len(d.Partitions), "partitions")
	for i := range d.Partitions {
		e.partitionState(&d.Partitions[i])
	}
	e.bytes(d.ACL, "acl")
	e.bool(d.Revoked != nil)
	e.count(len(d.Revoked), "revoked")
	for _, serial := range d.Revoked {
		e.str(serial, "revoked serial")
	}
}

func (e *encoder) brokerInfo(b *sm.BrokerInfo) {
	e.u64(uint64(b.ID))
	e.u64(b.Incarnation)
	e.str(b.Rack, "rack")
	e.str(b.Host, "host")
	e.bool(b.Fenced)
}

func (e *encoder) health(h *sm.BrokerHealth) {
	e.bool(h.WAL.Healthy)
	e.i64(h.WAL.UsedBytes)
	e.i64(h.WAL.CapacityBytes)
	e.str(h.WAL.Backend, "wal backend")
	e.bool(h.Cache.Healthy)
	e.f64(h.Cache.HitRate)
	e.i64(h.Cache.UsedBytes)
	e.i64(h.Cache.CapacityBytes)
	e.bool(h.ObjectStorage.Healthy)
	e.bool(h.ObjectStorage.Configured)
	e.int(h.Network.Connections)
	e.bool(h.Network.Healthy)
	e.i64(h.Replication.MaxLagRecords)
	e.int(h.Replication.UnderReplicatedPartitions)
	e.u64(h.Resources.MemoryBytes)
	e.int(h.Resources.Goroutines)
	e.f64(h.Resources.CPUPercent)
}

// optionalHealth writes a presence byte, then the health if present.
func (e *encoder) optionalHealth(h *sm.BrokerHealth) {
	if h == nil {
		e.u8(0)
		return
	}
	e.u8(1)
	e.health(h)
}

func (e *encoder) clusterStatus(m *sm.ClusterStatusResponse) {
	e.u64(m.ReqID)
	e.u16(uint16(m.Code))
	e.u64(uint64(m.LeaderHint))
	e.bool(m.IsLeader)
	e.u64(m.Term)
	e.u64(m.CommitIndex)
	e.u64(m.AppliedIndex)
	e.delta(&m.Metadata)
	e.count(len(m.Brokers), "brokers")
	for i := range m.Brokers {
		b := &m.Brokers[i]
		e.brokerInfo(&b.Info)
		e.bool(b.Online)
		e.i64(int64(b.LastReport))
		e.health(&b.Health)
	}
	e.bool(m.Healthy)
	e.u64(uint64(m.Leader))
	e.i64(int64(m.Now))
}

func (e *encoder) topicInfo(t *sm.TopicInfo) {
	e.str(t.Name, "topic name")
	e.i32(t.Partitions)
	e.i32(t.ReplicationFactor)
	e.topicConfig(t.Config)
	e.i64(t.CreatedAtMs)
	e.buf = append(e.buf, t.ID[:]...)
}

func (e *encoder) topicConfig(c sm.TopicConfig) {
	e.i32(c.MinInSyncReplicas)
	e.bool(c.UncleanLeaderElection)
	e.i64(c.RetentionMs)
	e.i64(c.SegmentBytes)
	e.str(c.CompressionType, "compression type")
	e.i64(c.RetentionBytes)
	e.i64(c.SegmentMs)
	e.i64(c.LocalRetentionMs)
	e.i64(c.LocalRetentionBytes)
	e.str(c.TimestampType, "timestamp type")
}

func (e *encoder) partitionState(p *sm.PartitionState) {
	e.tp(p.TP)
	e.nodes(p.Replicas, "replicas")
	e.u64(uint64(p.Leader))
	e.i64(int64(p.LeaderEpoch))
	e.nodes(p.ISR, "isr")
	e.i64(p.PartitionEpoch)
	e.nodes(p.ELR, "elr")
	e.remoteLog(&p.Remote)
}

func (e *encoder) remoteLog(r *sm.RemoteLog) {
	e.i64(int64(r.Start))
	e.i64(int64(r.End))
	e.i64(r.Bytes)
	e.i32(r.Segments)
}

func (e *encoder) remoteSegment(s *sm.RemoteSegment) {
	e.str(s.Name, "segment name")
	e.i64(int64(s.Base))
	e.i64(int64(s.Next))
	e.i64(s.DataBytes)
	e.i64(s.IndexBytes)
	e.i64(s.MaxTimestamp)
	e.i64(int64(s.LeaderEpoch))
	e.count(len(s.Epochs), "segment epochs")
	for _, es := range s.Epochs {
		e.i64(int64(es.Epoch))
		e.i64(int64(es.Start))
	}
}

func (e *encoder) raft(m sm.RaftMessage) {
	if m.M == nil {
		e.u8(0)
		return
	}
	e.u8(1)
	at := len(e.buf)
	e.u32(0)
	out, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend(e.buf, m.M)
	if err != nil {
		if e.err == nil {
			e.err = fmt.Errorf("wire: RaftMessage: %w", err)
		}
		return
	}
	e.buf = out
	n := len(e.buf) - at - 4
	if uint64(n) > math.MaxUint32 && e.err == nil {
		e.err = fmt.Errorf("%w: raft message of %d bytes", ErrFrameTooLarge, n)
	}
	binary.LittleEndian.PutUint32(e.buf[at:], uint32(n))
}

// encodeMessage writes m's fields in declaration order. TypeOf has already
// accepted m's kind.
func encodeMessage(e *encoder, m sm.Message) {
	switch m := m.(type) {
	case sm.ProduceRequest:
		e.u64(m.ReqID)
		e.tp(m.TP)
		e.u8(uint8(m.Acks.Kind))
		e.i32(m.Acks.N)
		e.records(m.Records)
		e.i64(int64(m.Timeout))
		e.u8(uint8(m.Codec))
		e.bytes(m.Block, "block")
		e.i32(m.Count)
		e.u32(m.BlockCRC)
		e.i64(m.MaxTimestamp)
		e.bool(m.Idempotent)
		e.i64(m.ProducerID)
		e.u16(uint16(m.ProducerEpoch))
		e.i32(m.BaseSequence)
	case sm.ProduceResponse:
		e.u64(m.ReqID)
		e.tp(m.TP)
		e.u16(uint16(m.Code))
		e.str(m.Message, "message")
		e.i64(int64(m.BaseOffset))
		e.i64(int64(m.LeaderEpoch))
		e.u64(uint64(m.LeaderHint))
	case sm.FetchRequest:
		e.u64(m.ReqID)
		e.tp(m.TP)
		e.i64(int64(m.Offset))
		e.i32(m.MaxRecords)
		e.i64(int64(m.CurrentLeaderEpoch))
	case sm.FetchResponse:
		e.u64(m.ReqID)
		e.tp(m.TP)
		e.u16(uint16(m.Code))
		e.str(m.Message, "message")
		e.batches(m.Batches)
		e.i64(int64(m.HighWatermark))
		e.i64(int64(m.LogStart))
		e.i64(int64(m.LeaderEpoch))
		e.u64(uint64(m.LeaderHint))
	case sm.ReplicaFetchRequest:
		e.tp(m.TP)
		e.u64(uint64(m.Replica))
		e.u64(m.Incarnation)
		e.i64(int64(m.LeaderEpoch))
		e.i64(int64(m.FetchOffset))
		e.i64(int64(m.LastFetchedEpoch))
	case sm.ReplicaFetchResponse:
		e.tp(m.TP)
		e.u16(uint16(m.Code))
		e.u64(m.Incarnation)
		e.i64(int64(m.FetchOffset))
		e.i64(int64(m.LeaderEpoch))
		e.batches(m.Batches)
		e.i64(int64(m.HighWatermark))
		e.bool(m.Diverging)
		e.i64(int64(m.DivergingEpoch))
		e.i64(int64(m.DivergingEndOffset))
		e.i64(int64(m.LogStart))
	case sm.BrokerHeartbeat:
		e.u64(uint64(m.Broker))
		e.u64(m.Incarnation)
		e.i64(int64(m.SentAt))
		e.str(m.Rack, "rack")
		e.str(m.Host, "host")
		e.u64(m.MetadataVersion)
		e.optionalHealth(m.Health)
		e.bool(m.LostDisk)
		e.tps(m.Lost, "lost")
		e.bool(m.AcceptDataLoss)
	case sm.BrokerHeartbeatResponse:
		e.u64(m.Incarnation)
		e.i64(int64(m.SentAt))
		e.u16(uint16(m.Code))
		e.str(m.Message, "message")
		e.u64(uint64(m.LeaderHint))
		e.delta(&m.Delta)
		e.i64(int64(m.SessionTimeout))
	case sm.AlterISRRequest:
		e.u64(m.ReqID)
		e.u64(uint64(m.Broker))
		e.tp(m.TP)
		e.i64(int64(m.LeaderEpoch))
		e.i64(m.PartitionEpoch)
		e.nodes(m.ISR, "isr")
		e.u64s(m.Incarnations, "incarnations")
	case sm.AlterISRResponse:
		e.u64(m.ReqID)
		e.tp(m.TP)
		e.u16(uint16(m.Code))
		e.str(m.Message, "message")
		e.u64(uint64(m.LeaderHint))
		e.partitionState(&m.State)
	case sm.CreateTopicRequest:
		e.u64(m.ReqID)
		e.str(m.Name, "name")
		e.i32(m.Partitions)
		e.i32(m.ReplicationFactor)
		e.topicConfig(m.Config)
		e.i64(m.CreatedAtMs)
	case sm.CreateTopicResponse:
		e.reply(m.ReqID, m.Code, m.Message, m.LeaderHint)
	case sm.DeleteTopicRequest:
		e.u64(m.ReqID)
		e.str(m.Name, "name")
	case sm.DeleteTopicResponse:
		e.reply(m.ReqID, m.Code, m.Message, m.LeaderHint)
	case sm.MetadataRequest:
		e.u64(m.ReqID)
		e.u64(m.SinceVersion)
	case sm.MetadataResponse:
		e.u64(m.ReqID)
		e.u16(uint16(m.Code))
		e.u64(uint64(m.LeaderHint))
		e.delta(&m.Delta)
	case sm.RaftMessage:
		e.raft(m)
	case sm.ClusterStatusRequest:
		e.u64(m.ReqID)
		e.bool(m.Stale)
	case sm.ClusterStatusResponse:
		e.clusterStatus(&m)
	case sm.AlterTopicConfigRequest:
		e.u64(m.ReqID)
		e.str(m.Name, "name")
		e.count(len(m.Set), "set")
		for _, c := range m.Set {
			e.str(c.Key, "set key")
			e.i64(c.Value)
		}
	case sm.AlterTopicConfigResponse:
		e.reply(m.ReqID, m.Code, m.Message, m.LeaderHint)
	case sm.ListOffsetsRequest:
		e.u64(m.ReqID)
		e.tp(m.TP)
		e.i64(int64(m.CurrentLeaderEpoch))
		e.bool(m.ByTime)
		e.i64(m.Timestamp)
	case sm.ListOffsetsResponse:
		e.u64(m.ReqID)
		e.tp(m.TP)
		e.u16(uint16(m.Code))
		e.str(m.Message, "message")
		e.i64(int64(m.LogStart))
		e.i64(int64(m.HighWatermark))
		e.i64(int64(m.LogEnd))
		e.i64(int64(m.LeaderEpoch))
		e.u64(uint64(m.LeaderHint))
		e.i64(int64(m.LocalStart))
		e.i64(m.LocalBytes)
		e.remoteLog(&m.Remote)
		e.i64(int64(m.Offset))
		e.i64(m.OffsetTimestamp)
	case sm.CommitSegmentRequest:
		e.u64(m.ReqID)
		e.u64(uint64(m.Broker))
		e.tp(m.TP)
		e.buf = append(e.buf, m.TopicID[:]...)
		e.i64(int64(m.LeaderEpoch))
		e.remoteSegment(&m.Segment)
	case sm.CommitSegmentResponse:
		e.tieringReply(m.ReqID, m.TP, m.Code, m.Message, m.LeaderHint, &m.Remote)
	case sm.DropRemoteSegmentsRequest:
		e.u64(m.ReqID)
		e.u64(uint64(m.Broker))
		e.tp(m.TP)
		e.buf = append(e.buf, m.TopicID[:]...)
		e.i64(int64(m.LeaderEpoch))
		e.i64(int64(m.Below))
	case sm.DropRemoteSegmentsResponse:
		e.tieringReply(m.ReqID, m.TP, m.Code, m.Message, m.LeaderHint, &m.Remote)
	case sm.RemoteSegmentsRequest:
		e.u64(m.ReqID)
		e.tp(m.TP)
		e.buf = append(e.buf, m.TopicID[:]...)
		e.i64(int64(m.From))
		e.i32(m.Max)
	case sm.ACLRequest:
		e.u64(m.ReqID)
		e.json(m.Command, "command")
	case sm.ACLResponse:
		e.reply(m.ReqID, m.Code, m.Message, m.LeaderHint)
		e.json(m.Result, "result")
	case sm.CertRequest:
		e.u64(m.ReqID)
		e.json(m.Register, "register")
		e.json(m.Revoke, "revoke")
		e.bool(m.List)
	case sm.CertResponse:
		e.reply(m.ReqID, m.Code, m.Message, m.LeaderHint)
		e.json(m.Record, "record")
		e.json(m.Records, "records")
		e.u64(m.RevokedVersion)
	case sm.RemoteSegmentsResponse:
		e.tieringReply(m.ReqID, m.TP, m.Code, m.Message, m.LeaderHint, &m.Remote)
		e.count(len(m.Segments), "segments")
		for i := range m.Segments {
			e.remoteSegment(&m.Segments[i])
		}
		e.bool(m.More)
	case sm.FindCoordinatorRequest, sm.FindCoordinatorResponse, sm.JoinGroupRequest, sm.JoinGroupResponse,
		sm.SyncGroupRequest, sm.SyncGroupResponse, sm.HeartbeatRequest, sm.HeartbeatResponse,
		sm.LeaveGroupRequest, sm.LeaveGroupResponse, sm.OffsetCommitRequest, sm.OffsetCommitResponse,
		sm.OffsetFetchRequest, sm.OffsetFetchResponse, sm.ListGroupsRequest, sm.ListGroupsResponse,
		sm.DescribeGroupsRequest, sm.DescribeGroupsResponse, sm.DeleteGroupsRequest, sm.DeleteGroupsResponse:
		encodeGroupMessage(e, m)
	case sm.InitProducerIDRequest:
		e.u64(m.ReqID)
	case sm.InitProducerIDResponse:
		e.u64(m.ReqID)
		e.u16(uint16(m.Code))
		e.str(m.Message, "message")
		e.i64(m.ProducerID)
		e.u16(uint16(m.ProducerEpoch))
	case sm.AllocateProducerIDsRequest:
		e.u64(m.ReqID)
		e.u64(uint64(m.Broker))
		e.u64(m.Incarnation)
	case sm.AllocateProducerIDsResponse:
		e.reply(m.ReqID, m.Code, m.Message, m.LeaderHint)
		e.i64(m.First)
		e.i32(m.Count)
	default:
		// A Message with a valid Kind but a type this codec does not know,
		// such as a pointer to a message struct.
		e.err = fmt.Errorf("wire: no encoder for message %T", m)
	}
}

func (e *encoder) reply(reqID uint64, code sm.Code, msg string, hint sm.NodeID) {
	e.u64(reqID)
	e.u16(uint16(code))
	e.str(msg, "message")
	e.u64(uint64(hint))
}

// tieringReply is the head the controller's tiered-storage answers share.
func (e *encoder) tieringReply(reqID uint64, tp sm.TopicPartition, code sm.Code, msg string, hint sm.NodeID, r *sm.RemoteLog) {
	e.u64(reqID)
	e.tp(tp)
	e.u16(uint16(code))
	e.str(msg, "message")
	e.u64(uint64(hint))
	e.remoteLog(r)
}

// groupReply is the head every consumer-group answer starts with.
func (e *encoder) groupReply(reqID uint64, code sm.Code, msg string) {
	e.u64(reqID)
	e.u16(uint16(code))
	e.str(msg, "message")
}

func (e *encoder) strs(ss []string, what string) {
	e.count(len(ss), what)
	for _, s := range ss {
		e.str(s, what)
	}
}

// encodeGroupMessage writes a consumer-group message (sm/groups.go) in
// declaration order; encodeMessage has already matched its type.
func encodeGroupMessage(e *encoder, m sm.Message) {
	switch m := m.(type) {
	case sm.FindCoordinatorRequest:
		e.u64(m.ReqID)
		e.str(m.GroupID, "group id")
	case sm.FindCoordinatorResponse:
		e.groupReply(m.ReqID, m.Code, m.Message)
		e.u64(uint64(m.Coordinator))
		e.i32(m.Partition)
	case sm.JoinGroupRequest:
		e.u64(m.ReqID)
		e.str(m.GroupID, "group id")
		e.str(m.MemberID, "member id")
		e.str(m.GroupInstanceID, "group instance id")
		e.str(m.ClientID, "client id")
		e.str(m.ProtocolType, "protocol type")
		e.count(len(m.Protocols), "protocols")
		for _, p := range m.Protocols {
			e.str(p.Name, "protocol name")
			e.bytes(p.Metadata, "protocol metadata")
		}
		e.i64(int64(m.SessionTimeout))
		e.i64(int64(m.RebalanceTimeout))
		e.bool(m.RequireKnownMemberID)
	case sm.JoinGroupResponse:
		e.groupReply(m.ReqID, m.Code, m.Message)
		e.i32(m.Generation)
		e.str(m.ProtocolType, "protocol type")
		e.str(m.Protocol, "protocol")
		e.str(m.Leader, "leader")
		e.str(m.MemberID, "member id")
		e.count(len(m.Members), "members")
		for _, mem := range m.Members {
			e.str(mem.MemberID, "member id")
			e.str(mem.InstanceID, "instance id")
			e.bytes(mem.Metadata, "member metadata")
		}
	case sm.SyncGroupRequest:
		e.u64(m.ReqID)
		e.str(m.GroupID, "group id")
		e.i32(m.Generation)
		e.str(m.MemberID, "member id")
		e.str(m.GroupInstanceID, "group instance id")
		e.str(m.ProtocolType, "protocol type")
		e.str(m.Protocol, "protocol")
		e.count(len(m.Assignments), "assignments")
		for _, a := range m.Assignments {
			e.str(a.MemberID, "member id")
			e.bytes(a.Assignment, "assignment")
		}
	case sm.SyncGroupResponse:
		e.groupReply(m.ReqID, m.Code, m.Message)
		e.str(m.ProtocolType, "protocol type")
		e.str(m.Protocol, "protocol")
		e.bytes(m.Assignment, "assignment")
	case sm.HeartbeatRequest:
		e.u64(m.ReqID)
		e.str(m.GroupID, "group id")
		e.i32(m.Generation)
		e.str(m.MemberID, "member id")
		e.str(m.GroupInstanceID, "group instance id")
	case sm.HeartbeatResponse:
		e.groupReply(m.ReqID, m.Code, m.Message)
	case sm.LeaveGroupRequest:
		e.u64(m.ReqID)
		e.str(m.GroupID, "group id")
		e.count(len(m.Members), "members")
		for _, mem := range m.Members {
			e.str(mem.MemberID, "member id")
			e.str(mem.GroupInstanceID, "group instance id")
		}
	case sm.LeaveGroupResponse:
		e.groupReply(m.ReqID, m.Code, m.Message)
		e.count(len(m.Members), "members")
		for _, mem := range m.Members {
			e.str(mem.MemberID, "member id")
			e.str(mem.GroupInstanceID, "group instance id")
			e.u16(uint16(mem.Code))
			e.str(mem.Message, "member message")
		}
	case sm.OffsetCommitRequest:
		e.u64(m.ReqID)
		e.str(m.GroupID, "group id")
		e.i32(m.Generation)
		e.str(m.MemberID, "member id")
		e.str(m.GroupInstanceID, "group instance id")
		e.bool(m.Seek)
		e.bool(m.Reset)
		e.count(len(m.Offsets), "offsets")
		for _, o := range m.Offsets {
			e.tp(o.TP)
			e.i64(int64(o.Offset))
			e.i32(o.LeaderEpoch)
			e.str(o.Metadata, "offset metadata")
		}
	case sm.OffsetCommitResponse:
		e.groupReply(m.ReqID, m.Code, m.Message)
		e.count(len(m.Partitions), "partitions")
		for _, p := range m.Partitions {
			e.tp(p.TP)
			e.u16(uint16(p.Code))
			e.str(p.Message, "partition message")
		}
	case sm.OffsetFetchRequest:
		e.u64(m.ReqID)
		e.str(m.GroupID, "group id")
		e.tps(m.Partitions, "partitions")
	case sm.OffsetFetchResponse:
		e.groupReply(m.ReqID, m.Code, m.Message)
		e.count(len(m.Offsets), "offsets")
		for _, o := range m.Offsets {
			e.tp(o.TP)
			e.i64(int64(o.Offset))
			e.i32(o.LeaderEpoch)
			e.str(o.Metadata, "offset metadata")
			e.u16(uint16(o.Code))
		}
	case sm.ListGroupsRequest:
		e.u64(m.ReqID)
	case sm.ListGroupsResponse:
		e.groupReply(m.ReqID, m.Code, m.Message)
		e.count(len(m.Groups), "groups")
		for _, g := range m.Groups {
			e.str(g.GroupID, "group id")
			e.str(g.ProtocolType, "protocol type")
			e.str(g.State, "state")
		}
	case sm.DescribeGroupsRequest:
		e.u64(m.ReqID)
		e.strs(m.GroupIDs, "group ids")
	case sm.DescribeGroupsResponse:
		e.groupReply(m.ReqID, m.Code, m.Message)
		e.count(len(m.Groups), "groups")
		for i := range m.Groups {
			g := &m.Groups[i]
			e.str(g.GroupID, "group id")
			e.u16(uint16(g.Code))
			e.str(g.Message, "group message")
			e.str(g.State, "state")
			e.str(g.ProtocolType, "protocol type")
			e.str(g.Protocol, "protocol")
			e.i32(g.Generation)
			e.str(g.Leader, "leader")
			e.count(len(g.Members), "members")
			for j := range g.Members {
				mem := &g.Members[j]
				e.str(mem.MemberID, "member id")
				e.str(mem.InstanceID, "instance id")
				e.str(mem.ClientID, "client id")
				e.str(mem.ClientHost, "client host")
				e.bytes(mem.Metadata, "member metadata")
				e.bytes(mem.Assignment, "member assignment")
			}
		}
	case sm.DeleteGroupsRequest:
		e.u64(m.ReqID)
		e.strs(m.GroupIDs, "group ids")
	case sm.DeleteGroupsResponse:
		e.groupReply(m.ReqID, m.Code, m.Message)
		e.count(len(m.Groups), "groups")
		for _, g := range m.Groups {
			e.str(g.GroupID, "group id")
			e.u16(uint16(g.Code))
			e.str(g.Message, "group message")
		}
	}
}
