package wire

import (
	"reflect"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/acl"
)

// Generators for every message type. Strings come from arbitrary bytes, so
// invalid UTF-8 is covered; batches are sealed, because the wire carries
// their CRC and sm.DecodeBatch verifies it.

var (
	genBytes  = rapid.SliceOfN(rapid.Byte(), 0, 40)
	genString = rapid.Custom(func(t *rapid.T) string { return string(genBytes.Draw(t, "s")) })
	genNode   = rapid.Custom(func(t *rapid.T) sm.NodeID { return sm.NodeID(rapid.Uint64().Draw(t, "node")) })
	genNodes  = rapid.SliceOfN(genNode, 0, 6)
	genTP     = rapid.Custom(func(t *rapid.T) sm.TopicPartition {
		return sm.TopicPartition{Topic: genString.Draw(t, "topic"), Partition: rapid.Int32().Draw(t, "partition")}
	})
	genCode   = rapid.Custom(func(t *rapid.T) sm.Code { return sm.Code(rapid.Uint16().Draw(t, "code")) })
	genRecord = rapid.Custom(func(t *rapid.T) sm.Record {
		return sm.Record{Key: genBytes.Draw(t, "key"), Value: genBytes.Draw(t, "value")}
	})
	genRecords = rapid.SliceOfN(genRecord, 0, 5)
	genBatch   = rapid.Custom(func(t *rapid.T) sm.Batch {
		b := sm.Batch{
			BaseOffset: sm.Offset(rapid.Int64().Draw(t, "base")),
			Epoch:      sm.Epoch(rapid.Int64().Draw(t, "epoch")),
			Records:    genRecords.Draw(t, "records"),
		}
		b.Seal()
		return b
	})
	genBatches     = rapid.SliceOfN(genBatch, 0, 3)
	genTopicConfig = rapid.Custom(func(t *rapid.T) sm.TopicConfig {
		return sm.TopicConfig{MinInSyncReplicas: rapid.Int32().Draw(t, "minISR"), UncleanLeaderElection: rapid.Bool().Draw(t, "unclean"),
			RetentionMs: rapid.Int64().Draw(t, "retention"), SegmentBytes: rapid.Int64().Draw(t, "segment"),
			CompressionType: genString.Draw(t, "compression"), RetentionBytes: rapid.Int64().Draw(t, "retentionBytes"),
			SegmentMs: rapid.Int64().Draw(t, "segmentMs"), LocalRetentionMs: rapid.Int64().Draw(t, "localMs"),
			LocalRetentionBytes: rapid.Int64().Draw(t, "localBytes")}
	})
	genTopicID = rapid.Custom(func(t *rapid.T) sm.TopicID {
		var id sm.TopicID
		copy(id[:], rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, "id"))
		return id
	})
	genRemoteLog = rapid.Custom(func(t *rapid.T) sm.RemoteLog {
		return sm.RemoteLog{Start: sm.Offset(rapid.Int64().Draw(t, "start")), End: sm.Offset(rapid.Int64().Draw(t, "end")),
			Bytes: rapid.Int64().Draw(t, "bytes"), Segments: rapid.Int32().Draw(t, "segments")}
	})
	genRemoteSegment = rapid.Custom(func(t *rapid.T) sm.RemoteSegment {
		return sm.RemoteSegment{Name: genString.Draw(t, "name"), Base: sm.Offset(rapid.Int64().Draw(t, "base")),
			Next: sm.Offset(rapid.Int64().Draw(t, "next")), DataBytes: rapid.Int64().Draw(t, "data"),
			IndexBytes: rapid.Int64().Draw(t, "index"), MaxTimestamp: rapid.Int64().Draw(t, "maxTs"),
			LeaderEpoch: sm.Epoch(rapid.Int64().Draw(t, "epoch")),
			Epochs: rapid.SliceOfN(rapid.Custom(func(t *rapid.T) sm.EpochStart {
				return sm.EpochStart{Epoch: sm.Epoch(rapid.Int64().Draw(t, "e")), Start: sm.Offset(rapid.Int64().Draw(t, "s"))}
			}), 0, 3).Draw(t, "epochs")}
	})
	genPartitionState = rapid.Custom(func(t *rapid.T) sm.PartitionState {
		return sm.PartitionState{
			TP: genTP.Draw(t, "tp"), Replicas: genNodes.Draw(t, "replicas"), Leader: genNode.Draw(t, "leader"),
			LeaderEpoch: sm.Epoch(rapid.Int64().Draw(t, "epoch")), ISR: genNodes.Draw(t, "isr"),
			PartitionEpoch: rapid.Int64().Draw(t, "pepoch"), ELR: genNodes.Draw(t, "elr"),
			Remote: genRemoteLog.Draw(t, "remote"),
		}
	})
	genDelta = rapid.Custom(func(t *rapid.T) sm.MetadataDelta {
		return sm.MetadataDelta{
			FromVersion: rapid.Uint64().Draw(t, "from"), ToVersion: rapid.Uint64().Draw(t, "to"), Full: rapid.Bool().Draw(t, "full"),
			Brokers: rapid.SliceOfN(genBrokerInfo, 0, 3).Draw(t, "brokers"),
			Topics: rapid.SliceOfN(rapid.Custom(func(t *rapid.T) sm.TopicInfo {
				return sm.TopicInfo{Name: genString.Draw(t, "name"), ID: genTopicID.Draw(t, "id"), Partitions: rapid.Int32().Draw(t, "p"),
					ReplicationFactor: rapid.Int32().Draw(t, "rf"), Config: genTopicConfig.Draw(t, "config"),
					CreatedAtMs: rapid.Int64().Draw(t, "created")}
			}), 0, 3).Draw(t, "topics"),
			DeletedTopics: rapid.SliceOfN(genString, 0, 3).Draw(t, "deleted"),
			Partitions:    rapid.SliceOfN(genPartitionState, 0, 3).Draw(t, "partitions"),
			ACL:           rapid.SliceOfN(rapid.Byte(), 0, 16).Draw(t, "acl"),
			Revoked:       rapid.OneOf(rapid.Just([]string(nil)), rapid.SliceOfN(genString, 0, 3)).Draw(t, "revoked"),
		}
	})
	genHealth = rapid.Custom(func(t *rapid.T) sm.BrokerHealth {
		b := func(l string) bool { return rapid.Bool().Draw(t, l) }
		i64 := func(l string) int64 { return rapid.Int64().Draw(t, l) }
		f64 := func(l string) float64 { return rapid.Float64().Draw(t, l) } // never NaN, so values compare equal
		return sm.BrokerHealth{
			WAL:           sm.WALHealth{Healthy: b("walOK"), UsedBytes: i64("walUsed"), CapacityBytes: i64("walCap"), Backend: genString.Draw(t, "backend")},
			Cache:         sm.CacheHealth{Healthy: b("cacheOK"), HitRate: f64("hit"), UsedBytes: i64("cacheUsed"), CapacityBytes: i64("cacheCap")},
			ObjectStorage: sm.ObjectStorageHealth{Healthy: b("osOK"), Configured: b("osConf")},
			Network:       sm.NetworkHealth{Connections: rapid.Int().Draw(t, "conns"), Healthy: b("netOK")},
			Replication:   sm.ReplicationHealth{MaxLagRecords: i64("lag"), UnderReplicatedPartitions: rapid.Int().Draw(t, "under")},
			Resources:     sm.ResourceUsage{MemoryBytes: rapid.Uint64().Draw(t, "mem"), Goroutines: rapid.Int().Draw(t, "gr"), CPUPercent: f64("cpu")},
		}
	})
	genHealthp = rapid.Custom(func(t *rapid.T) *sm.BrokerHealth {
		if rapid.Bool().Draw(t, "present") {
			h := genHealth.Draw(t, "health")
			return &h
		}
		return nil
	})
	genBrokerInfo = rapid.Custom(func(t *rapid.T) sm.BrokerInfo {
		return sm.BrokerInfo{ID: genNode.Draw(t, "id"), Incarnation: rapid.Uint64().Draw(t, "inc"),
			Rack: genString.Draw(t, "rack"), Host: genString.Draw(t, "host"), Fenced: rapid.Bool().Draw(t, "fenced")}
	})
	genBrokerStatus = rapid.Custom(func(t *rapid.T) sm.BrokerStatus {
		return sm.BrokerStatus{Info: genBrokerInfo.Draw(t, "info"), Online: rapid.Bool().Draw(t, "online"),
			LastReport: sm.Time(rapid.Int64().Draw(t, "last")), Health: genHealth.Draw(t, "health")}
	})
	genU64p = rapid.Custom(func(t *rapid.T) *uint64 {
		if rapid.Bool().Draw(t, "set") {
			return proto.Uint64(rapid.Uint64().Draw(t, "v"))
		}
		return nil
	})
	genEntry = rapid.Custom(func(t *rapid.T) *pb.Entry {
		e := &pb.Entry{Term: genU64p.Draw(t, "term"), Index: genU64p.Draw(t, "index"), Data: genBytes.Draw(t, "data")}
		if rapid.Bool().Draw(t, "typed") {
			e.Type = pb.EntryType(rapid.IntRange(0, 2).Draw(t, "type")).Enum()
		}
		return e
	})
	genRaft = rapid.Custom(func(t *rapid.T) sm.RaftMessage {
		if rapid.IntRange(0, 9).Draw(t, "nil") == 0 {
			return sm.RaftMessage{}
		}
		m := &pb.Message{
			Type: pb.MessageType(rapid.IntRange(0, 23).Draw(t, "type")).Enum(),
			To:   genU64p.Draw(t, "to"), From: genU64p.Draw(t, "from"), Term: genU64p.Draw(t, "term"),
			LogTerm: genU64p.Draw(t, "logTerm"), Index: genU64p.Draw(t, "index"), Commit: genU64p.Draw(t, "commit"),
			Vote: genU64p.Draw(t, "vote"), RejectHint: genU64p.Draw(t, "hint"), Context: genBytes.Draw(t, "ctx"),
			Entries: rapid.SliceOfN(genEntry, 0, 3).Draw(t, "entries"),
		}
		if rapid.Bool().Draw(t, "reject") {
			m.Reject = proto.Bool(rapid.Bool().Draw(t, "r"))
		}
		if rapid.Bool().Draw(t, "snap") {
			m.Snapshot = &pb.Snapshot{Data: genBytes.Draw(t, "sdata"), Metadata: &pb.SnapshotMetadata{
				Index: genU64p.Draw(t, "sindex"), Term: genU64p.Draw(t, "sterm"),
				ConfState: &pb.ConfState{Voters: rapid.SliceOfN(rapid.Uint64(), 0, 3).Draw(t, "voters")},
			}}
		}
		return sm.RaftMessage{M: m}
	})
)

// genMessage draws a message of kind typ.
func genMessage(typ sm.MsgKind) *rapid.Generator[sm.Message] {
	return rapid.Custom(func(t *rapid.T) sm.Message {
		u64 := func(l string) uint64 { return rapid.Uint64().Draw(t, l) }
		i64 := func(l string) int64 { return rapid.Int64().Draw(t, l) }
		i32 := func(l string) int32 { return rapid.Int32().Draw(t, l) }
		switch typ {
		case sm.KindProduceRequest:
			return sm.ProduceRequest{ReqID: u64("req"), TP: genTP.Draw(t, "tp"),
				Acks:    sm.Acks{Kind: sm.AckKind(rapid.Uint8().Draw(t, "kind")), N: i32("n")},
				Records: genRecords.Draw(t, "records"), Timeout: sm.Duration(i64("timeout")),
				Codec: sm.Codec(rapid.Uint8().Draw(t, "codec")), Block: genBytes.Draw(t, "block"), Count: i32("count"), BlockCRC: rapid.Uint32().Draw(t, "blockCRC"),
				MaxTimestamp: i64("maxTimestamp"), Idempotent: rapid.Bool().Draw(t, "idem"), ProducerID: i64("pid"),
				ProducerEpoch: rapid.Int16().Draw(t, "pepoch"), BaseSequence: i32("seq")}
		case sm.KindProduceResponse:
			return sm.ProduceResponse{ReqID: u64("req"), TP: genTP.Draw(t, "tp"), Code: genCode.Draw(t, "code"),
				Message: genString.Draw(t, "msg"), BaseOffset: sm.Offset(i64("base")), LeaderEpoch: sm.Epoch(i64("epoch")),
				LeaderHint: genNode.Draw(t, "hint")}
		case sm.KindFetchRequest:
			return sm.FetchRequest{ReqID: u64("req"), TP: genTP.Draw(t, "tp"), Offset: sm.Offset(i64("off")),
				MaxRecords: i32("max"), CurrentLeaderEpoch: sm.Epoch(i64("epoch"))}
		case sm.KindFetchResponse:
			return sm.FetchResponse{ReqID: u64("req"), TP: genTP.Draw(t, "tp"), Code: genCode.Draw(t, "code"),
				Message: genString.Draw(t, "msg"), Batches: genBatches.Draw(t, "batches"), HighWatermark: sm.Offset(i64("hw")),
				LogStart: sm.Offset(i64("start")), LeaderEpoch: sm.Epoch(i64("epoch")), LeaderHint: genNode.Draw(t, "hint")}
		case sm.KindReplicaFetchRequest:
			return sm.ReplicaFetchRequest{TP: genTP.Draw(t, "tp"), Replica: genNode.Draw(t, "replica"), Incarnation: u64("inc"),
				LeaderEpoch: sm.Epoch(i64("epoch")), FetchOffset: sm.Offset(i64("off")), LastFetchedEpoch: sm.Epoch(i64("last"))}
		case sm.KindReplicaFetchResponse:
			return sm.ReplicaFetchResponse{TP: genTP.Draw(t, "tp"), Code: genCode.Draw(t, "code"), Incarnation: u64("inc"),
				FetchOffset: sm.Offset(i64("off")), LeaderEpoch: sm.Epoch(i64("epoch")), Batches: genBatches.Draw(t, "batches"),
				HighWatermark: sm.Offset(i64("hw")), Diverging: rapid.Bool().Draw(t, "div"),
				DivergingEpoch: sm.Epoch(i64("depoch")), DivergingEndOffset: sm.Offset(i64("dend"))}
		case sm.KindBrokerHeartbeat:
			return sm.BrokerHeartbeat{Broker: genNode.Draw(t, "broker"), Incarnation: u64("inc"), Rack: genString.Draw(t, "rack"),
				Host: genString.Draw(t, "host"), MetadataVersion: u64("ver"), Health: genHealthp.Draw(t, "health"),
				LostDisk: rapid.Bool().Draw(t, "lostDisk"), Lost: rapid.SliceOfN(genTP, 0, 4).Draw(t, "lost"),
				AcceptDataLoss: rapid.Bool().Draw(t, "accept"), SentAt: sm.Time(i64("sent"))}
		case sm.KindBrokerHeartbeatResponse:
			return sm.BrokerHeartbeatResponse{Incarnation: u64("inc"), Code: genCode.Draw(t, "code"), Message: genString.Draw(t, "msg"),
				LeaderHint: genNode.Draw(t, "hint"), Delta: genDelta.Draw(t, "delta"), SessionTimeout: sm.Duration(i64("session")),
				SentAt: sm.Time(i64("sent"))}
		case sm.KindAlterISRRequest:
			return sm.AlterISRRequest{ReqID: u64("req"), Broker: genNode.Draw(t, "broker"), TP: genTP.Draw(t, "tp"),
				LeaderEpoch: sm.Epoch(i64("epoch")), PartitionEpoch: i64("pepoch"), ISR: genNodes.Draw(t, "isr"),
				Incarnations: rapid.SliceOfN(rapid.Uint64(), 0, 4).Draw(t, "incs")}
		case sm.KindAlterISRResponse:
			return sm.AlterISRResponse{ReqID: u64("req"), TP: genTP.Draw(t, "tp"), Code: genCode.Draw(t, "code"),
				Message: genString.Draw(t, "msg"), LeaderHint: genNode.Draw(t, "hint"), State: genPartitionState.Draw(t, "state")}
		case sm.KindCreateTopicRequest:
			return sm.CreateTopicRequest{ReqID: u64("req"), Name: genString.Draw(t, "name"), Partitions: i32("p"),
				ReplicationFactor: i32("rf"), Config: genTopicConfig.Draw(t, "config")}
		case sm.KindCreateTopicResponse:
			return sm.CreateTopicResponse{ReqID: u64("req"), Code: genCode.Draw(t, "code"), Message: genString.Draw(t, "msg"), LeaderHint: genNode.Draw(t, "hint")}
		case sm.KindDeleteTopicRequest:
			return sm.DeleteTopicRequest{ReqID: u64("req"), Name: genString.Draw(t, "name")}
		case sm.KindDeleteTopicResponse:
			return sm.DeleteTopicResponse{ReqID: u64("req"), Code: genCode.Draw(t, "code"), Message: genString.Draw(t, "msg"), LeaderHint: genNode.Draw(t, "hint")}
		case sm.KindMetadataRequest:
			return sm.MetadataRequest{ReqID: u64("req"), SinceVersion: u64("since")}
		case sm.KindMetadataResponse:
			return sm.MetadataResponse{ReqID: u64("req"), Code: genCode.Draw(t, "code"), LeaderHint: genNode.Draw(t, "hint"), Delta: genDelta.Draw(t, "delta")}
		case sm.KindRaftMessage:
			return genRaft.Draw(t, "raft")
		case sm.KindClusterStatusRequest:
			return sm.ClusterStatusRequest{ReqID: u64("req"), Stale: rapid.Bool().Draw(t, "stale")}
		case sm.KindClusterStatusResponse:
			return sm.ClusterStatusResponse{ReqID: u64("req"), Code: genCode.Draw(t, "code"), LeaderHint: genNode.Draw(t, "hint"),
				IsLeader: rapid.Bool().Draw(t, "isLeader"), Term: u64("term"), CommitIndex: u64("commit"), AppliedIndex: u64("applied"),
				Metadata: genDelta.Draw(t, "metadata"), Brokers: rapid.SliceOfN(genBrokerStatus, 0, 3).Draw(t, "brokers"),
				Healthy: rapid.Bool().Draw(t, "healthy"), Leader: genNode.Draw(t, "leader"), Now: sm.Time(i64("now"))}
		case sm.KindAlterTopicConfigRequest:
			return sm.AlterTopicConfigRequest{ReqID: u64("req"), Name: genString.Draw(t, "name"),
				Set: rapid.SliceOfN(rapid.Custom(func(t *rapid.T) sm.TopicConfigEntry {
					return sm.TopicConfigEntry{Key: genString.Draw(t, "key"), Value: rapid.Int64().Draw(t, "value")}
				}), 0, 4).Draw(t, "set")}
		case sm.KindAlterTopicConfigResponse:
			return sm.AlterTopicConfigResponse{ReqID: u64("req"), Code: genCode.Draw(t, "code"), Message: genString.Draw(t, "msg"), LeaderHint: genNode.Draw(t, "hint")}
		case sm.KindListOffsetsRequest:
			return sm.ListOffsetsRequest{ReqID: u64("req"), TP: genTP.Draw(t, "tp"), CurrentLeaderEpoch: sm.Epoch(i64("epoch"))}
		case sm.KindListOffsetsResponse:
			return sm.ListOffsetsResponse{ReqID: u64("req"), TP: genTP.Draw(t, "tp"), Code: genCode.Draw(t, "code"), Message: genString.Draw(t, "msg"),
				LogStart: sm.Offset(i64("start")), HighWatermark: sm.Offset(i64("hw")), LogEnd: sm.Offset(i64("end")),
				LeaderEpoch: sm.Epoch(i64("epoch")), LeaderHint: genNode.Draw(t, "hint"), LocalStart: sm.Offset(i64("localStart")),
				LocalBytes: i64("localBytes"), Remote: genRemoteLog.Draw(t, "remote")}
		case sm.KindCommitSegmentRequest:
			return sm.CommitSegmentRequest{ReqID: u64("req"), Broker: genNode.Draw(t, "broker"), TP: genTP.Draw(t, "tp"),
				TopicID: genTopicID.Draw(t, "id"), LeaderEpoch: sm.Epoch(i64("epoch")), Segment: genRemoteSegment.Draw(t, "segment")}
		case sm.KindCommitSegmentResponse:
			return sm.CommitSegmentResponse{ReqID: u64("req"), TP: genTP.Draw(t, "tp"), Code: genCode.Draw(t, "code"),
				Message: genString.Draw(t, "msg"), LeaderHint: genNode.Draw(t, "hint"), Remote: genRemoteLog.Draw(t, "remote")}
		case sm.KindDropRemoteSegmentsRequest:
			return sm.DropRemoteSegmentsRequest{ReqID: u64("req"), Broker: genNode.Draw(t, "broker"), TP: genTP.Draw(t, "tp"),
				TopicID: genTopicID.Draw(t, "id"), LeaderEpoch: sm.Epoch(i64("epoch")), Below: sm.Offset(i64("below"))}
		case sm.KindDropRemoteSegmentsResponse:
			return sm.DropRemoteSegmentsResponse{ReqID: u64("req"), TP: genTP.Draw(t, "tp"), Code: genCode.Draw(t, "code"),
				Message: genString.Draw(t, "msg"), LeaderHint: genNode.Draw(t, "hint"), Remote: genRemoteLog.Draw(t, "remote")}
		case sm.KindRemoteSegmentsRequest:
			return sm.RemoteSegmentsRequest{ReqID: u64("req"), TP: genTP.Draw(t, "tp"), TopicID: genTopicID.Draw(t, "id"),
				From: sm.Offset(i64("from")), Max: i32("max")}
		case sm.KindCertRequest:
			rec := genCertRecord.Draw(t, "record")
			switch rapid.IntRange(0, 2).Draw(t, "op") {
			case 0:
				return sm.CertRequest{ReqID: u64("req"), Revoke: &rec}
			case 1:
				return sm.CertRequest{ReqID: u64("req"), List: true}
			}
			return sm.CertRequest{ReqID: u64("req"), Register: &rec}
		case sm.KindCertResponse:
			var recs []sm.CertRecord
			if n := rapid.IntRange(0, 3).Draw(t, "records"); n > 0 {
				recs = rapid.SliceOfN(genCertRecord, n, n).Draw(t, "list")
			}
			return sm.CertResponse{ReqID: u64("req"), Code: genCode.Draw(t, "code"), Message: genString.Draw(t, "msg"), LeaderHint: genNode.Draw(t, "hint"),
				Record: genCertRecord.Draw(t, "record"), Records: recs, RevokedVersion: u64("rv")}
		case sm.KindACLRequest:
			return sm.ACLRequest{ReqID: u64("req"), Command: genACLCommand.Draw(t, "command")}
		case sm.KindACLResponse:
			return sm.ACLResponse{ReqID: u64("req"), Code: genCode.Draw(t, "code"), Message: genString.Draw(t, "msg"), LeaderHint: genNode.Draw(t, "hint"),
				Result: acl.Result{Version: rapid.Uint64().Draw(t, "version"), Created: rapid.SliceOfN(genRuleID, 0, 3).Draw(t, "created"),
					Deleted: rapid.SliceOfN(genRuleID, 0, 3).Draw(t, "deleted")}}
		case sm.KindRemoteSegmentsResponse:
			return sm.RemoteSegmentsResponse{ReqID: u64("req"), TP: genTP.Draw(t, "tp"), Code: genCode.Draw(t, "code"),
				Message: genString.Draw(t, "msg"), LeaderHint: genNode.Draw(t, "hint"), Remote: genRemoteLog.Draw(t, "remote"),
				Segments: rapid.SliceOfN(genRemoteSegment, 0, 3).Draw(t, "segments"), More: rapid.Bool().Draw(t, "more")}
		}
		if m, ok := genGroupMessage(t, typ); ok {
			return m
		}
		panic("no generator for " + typ.String())
	})
}

var (
	genCertRecord = rapid.Custom(func(t *rapid.T) sm.CertRecord {
		text := rapid.StringMatching(`[a-z0-9@.:-]{0,12}`) // JSON text: valid UTF-8
		return sm.CertRecord{Serial: text.Draw(t, "serial"), Principal: text.Draw(t, "principal"), Role: text.Draw(t, "role"),
			NotAfterMs: rapid.Int64().Draw(t, "na"), Revoked: rapid.Bool().Draw(t, "revoked"), Reason: text.Draw(t, "reason"),
			RevokedAtMs: rapid.Int64().Draw(t, "at")}
	})
	genRuleID = rapid.Custom(func(t *rapid.T) acl.RuleID { return acl.RuleID(rapid.Uint64Range(1, 1<<40).Draw(t, "id")) })
	// genACLCommand draws commands the controller could be sent: rules
	// built from the CLI's own strings, deletes by ID and by filter.
	genACLCommand = rapid.Custom(func(t *rapid.T) acl.Command {
		rule := func(l string) acl.Rule {
			r, err := acl.ParseRule(rapid.SampledFrom([]string{"*", "app@example.com", "team-*"}).Draw(t, l+"p"),
				rapid.SampledFrom([]string{"topic:orders", "topic:events.*", "group:*", "cluster"}).Draw(t, l+"r"),
				rapid.SampledFrom([]string{"read", "read,write", "all"}).Draw(t, l+"o"),
				rapid.SampledFrom([]string{"allow", "deny"}).Draw(t, l+"e"),
				rapid.SampledFrom([]string{"", "source_ip=10.0.0.0/8", "time_range=09:00-17:00"}).Draw(t, l+"c"))
			if err != nil {
				t.Fatalf("rule: %v", err)
			}
			return r
		}
		switch rapid.IntRange(0, 3).Draw(t, "kind") {
		case 0:
			return acl.Command{Create: []acl.Rule{rule("a"), rule("b")}}
		case 1:
			return acl.Command{Delete: rapid.SliceOfN(genRuleID, 1, 3).Draw(t, "ids")}
		case 2:
			p, _ := acl.ParsePattern("app@example.com")
			return acl.Command{DeleteMatching: &acl.Filter{Principal: p}}
		}
		rules := []acl.Rule{rule("c")}
		return acl.Command{Replace: &rules}
	})
)

// Consumer-group generators (sm/groups.go): every field drawn, slices
// empty or not (an empty slice decodes as nil; normalize equates them).
var (
	genGroupProtocol = rapid.Custom(func(t *rapid.T) sm.GroupProtocol {
		return sm.GroupProtocol{Name: genString.Draw(t, "name"), Metadata: genBytes.Draw(t, "metadata")}
	})
	genGroupMemberMetadata = rapid.Custom(func(t *rapid.T) sm.GroupMemberMetadata {
		return sm.GroupMemberMetadata{MemberID: genString.Draw(t, "member"), InstanceID: genString.Draw(t, "instance"),
			Metadata: genBytes.Draw(t, "metadata")}
	})
	genGroupAssignment = rapid.Custom(func(t *rapid.T) sm.GroupAssignment {
		return sm.GroupAssignment{MemberID: genString.Draw(t, "member"), Assignment: genBytes.Draw(t, "assignment")}
	})
	genGroupMemberRef = rapid.Custom(func(t *rapid.T) sm.GroupMemberRef {
		return sm.GroupMemberRef{MemberID: genString.Draw(t, "member"), GroupInstanceID: genString.Draw(t, "instance")}
	})
	genGroupMemberResult = rapid.Custom(func(t *rapid.T) sm.GroupMemberResult {
		return sm.GroupMemberResult{MemberID: genString.Draw(t, "member"), GroupInstanceID: genString.Draw(t, "instance"),
			Code: genCode.Draw(t, "code"), Message: genString.Draw(t, "msg")}
	})
	genOffsetCommit = rapid.Custom(func(t *rapid.T) sm.OffsetCommit {
		return sm.OffsetCommit{TP: genTP.Draw(t, "tp"), Offset: sm.Offset(rapid.Int64().Draw(t, "offset")),
			LeaderEpoch: rapid.Int32().Draw(t, "epoch"), Metadata: genString.Draw(t, "metadata")}
	})
	genPartitionResult = rapid.Custom(func(t *rapid.T) sm.PartitionResult {
		return sm.PartitionResult{TP: genTP.Draw(t, "tp"), Code: genCode.Draw(t, "code"), Message: genString.Draw(t, "msg")}
	})
	genCommittedOffset = rapid.Custom(func(t *rapid.T) sm.CommittedOffset {
		return sm.CommittedOffset{TP: genTP.Draw(t, "tp"), Offset: sm.Offset(rapid.Int64().Draw(t, "offset")),
			LeaderEpoch: rapid.Int32().Draw(t, "epoch"), Metadata: genString.Draw(t, "metadata"), Code: genCode.Draw(t, "code")}
	})
	genGroupListing = rapid.Custom(func(t *rapid.T) sm.GroupListing {
		return sm.GroupListing{GroupID: genString.Draw(t, "group"), ProtocolType: genString.Draw(t, "ptype"), State: genString.Draw(t, "state")}
	})
	genGroupMember = rapid.Custom(func(t *rapid.T) sm.GroupMember {
		return sm.GroupMember{MemberID: genString.Draw(t, "member"), InstanceID: genString.Draw(t, "instance"),
			ClientID: genString.Draw(t, "client"), ClientHost: genString.Draw(t, "host"), Metadata: genBytes.Draw(t, "metadata"),
			Assignment: genBytes.Draw(t, "assignment")}
	})
	genGroupDescription = rapid.Custom(func(t *rapid.T) sm.GroupDescription {
		return sm.GroupDescription{GroupID: genString.Draw(t, "group"), Code: genCode.Draw(t, "code"), Message: genString.Draw(t, "msg"),
			State: genString.Draw(t, "state"), ProtocolType: genString.Draw(t, "ptype"), Protocol: genString.Draw(t, "protocol"),
			Generation: rapid.Int32().Draw(t, "generation"), Leader: genString.Draw(t, "leader"),
			Members: rapid.SliceOfN(genGroupMember, 0, 3).Draw(t, "members")}
	})
	genGroupResult = rapid.Custom(func(t *rapid.T) sm.GroupResult {
		return sm.GroupResult{GroupID: genString.Draw(t, "group"), Code: genCode.Draw(t, "code"), Message: genString.Draw(t, "msg")}
	})
)

// genGroupMessage draws a consumer-group message of kind typ; false for
// any other kind.
func genGroupMessage(t *rapid.T, typ sm.MsgKind) (sm.Message, bool) {
	u64 := func(l string) uint64 { return rapid.Uint64().Draw(t, l) }
	i64 := func(l string) int64 { return rapid.Int64().Draw(t, l) }
	i32 := func(l string) int32 { return rapid.Int32().Draw(t, l) }
	str := func(l string) string { return genString.Draw(t, l) }
	code := func() sm.Code { return genCode.Draw(t, "code") }
	switch typ {
	case sm.KindFindCoordinatorRequest:
		return sm.FindCoordinatorRequest{ReqID: u64("req"), GroupID: str("group")}, true
	case sm.KindFindCoordinatorResponse:
		return sm.FindCoordinatorResponse{ReqID: u64("req"), Code: code(), Message: str("msg"), Coordinator: genNode.Draw(t, "coord"),
			Partition: i32("partition")}, true
	case sm.KindJoinGroupRequest:
		return sm.JoinGroupRequest{ReqID: u64("req"), GroupID: str("group"), MemberID: str("member"), GroupInstanceID: str("instance"),
			ClientID: str("client"), ProtocolType: str("ptype"), Protocols: rapid.SliceOfN(genGroupProtocol, 0, 3).Draw(t, "protocols"),
			SessionTimeout: sm.Duration(i64("session")), RebalanceTimeout: sm.Duration(i64("rebalance")),
			RequireKnownMemberID: rapid.Bool().Draw(t, "requireKnown")}, true
	case sm.KindJoinGroupResponse:
		return sm.JoinGroupResponse{ReqID: u64("req"), Code: code(), Message: str("msg"), Generation: i32("generation"),
			ProtocolType: str("ptype"), Protocol: str("protocol"), Leader: str("leader"), MemberID: str("member"),
			Members: rapid.SliceOfN(genGroupMemberMetadata, 0, 3).Draw(t, "members")}, true
	case sm.KindSyncGroupRequest:
		return sm.SyncGroupRequest{ReqID: u64("req"), GroupID: str("group"), Generation: i32("generation"), MemberID: str("member"),
			GroupInstanceID: str("instance"), ProtocolType: str("ptype"), Protocol: str("protocol"),
			Assignments: rapid.SliceOfN(genGroupAssignment, 0, 3).Draw(t, "assignments")}, true
	case sm.KindSyncGroupResponse:
		return sm.SyncGroupResponse{ReqID: u64("req"), Code: code(), Message: str("msg"), ProtocolType: str("ptype"),
			Protocol: str("protocol"), Assignment: genBytes.Draw(t, "assignment")}, true
	case sm.KindHeartbeatRequest:
		return sm.HeartbeatRequest{ReqID: u64("req"), GroupID: str("group"), Generation: i32("generation"), MemberID: str("member"),
			GroupInstanceID: str("instance")}, true
	case sm.KindHeartbeatResponse:
		return sm.HeartbeatResponse{ReqID: u64("req"), Code: code(), Message: str("msg")}, true
	case sm.KindLeaveGroupRequest:
		return sm.LeaveGroupRequest{ReqID: u64("req"), GroupID: str("group"),
			Members: rapid.SliceOfN(genGroupMemberRef, 0, 3).Draw(t, "members")}, true
	case sm.KindLeaveGroupResponse:
		return sm.LeaveGroupResponse{ReqID: u64("req"), Code: code(), Message: str("msg"),
			Members: rapid.SliceOfN(genGroupMemberResult, 0, 3).Draw(t, "members")}, true
	case sm.KindOffsetCommitRequest:
		return sm.OffsetCommitRequest{ReqID: u64("req"), GroupID: str("group"), Generation: i32("generation"), MemberID: str("member"),
			GroupInstanceID: str("instance"), Seek: rapid.Bool().Draw(t, "seek"), Reset: rapid.Bool().Draw(t, "reset"),
			Offsets: rapid.SliceOfN(genOffsetCommit, 0, 4).Draw(t, "offsets")}, true
	case sm.KindOffsetCommitResponse:
		return sm.OffsetCommitResponse{ReqID: u64("req"), Code: code(), Message: str("msg"),
			Partitions: rapid.SliceOfN(genPartitionResult, 0, 4).Draw(t, "partitions")}, true
	case sm.KindOffsetFetchRequest:
		return sm.OffsetFetchRequest{ReqID: u64("req"), GroupID: str("group"), Partitions: rapid.SliceOfN(genTP, 0, 4).Draw(t, "partitions")}, true
	case sm.KindOffsetFetchResponse:
		return sm.OffsetFetchResponse{ReqID: u64("req"), Code: code(), Message: str("msg"),
			Offsets: rapid.SliceOfN(genCommittedOffset, 0, 4).Draw(t, "offsets")}, true
	case sm.KindListGroupsRequest:
		return sm.ListGroupsRequest{ReqID: u64("req")}, true
	case sm.KindListGroupsResponse:
		return sm.ListGroupsResponse{ReqID: u64("req"), Code: code(), Message: str("msg"),
			Groups: rapid.SliceOfN(genGroupListing, 0, 4).Draw(t, "groups")}, true
	case sm.KindDescribeGroupsRequest:
		return sm.DescribeGroupsRequest{ReqID: u64("req"), GroupIDs: rapid.SliceOfN(genString, 0, 4).Draw(t, "groups")}, true
	case sm.KindDescribeGroupsResponse:
		return sm.DescribeGroupsResponse{ReqID: u64("req"), Code: code(), Message: str("msg"),
			Groups: rapid.SliceOfN(genGroupDescription, 0, 3).Draw(t, "groups")}, true
	case sm.KindDeleteGroupsRequest:
		return sm.DeleteGroupsRequest{ReqID: u64("req"), GroupIDs: rapid.SliceOfN(genString, 0, 4).Draw(t, "groups")}, true
	case sm.KindDeleteGroupsResponse:
		return sm.DeleteGroupsResponse{ReqID: u64("req"), Code: code(), Message: str("msg"),
			Groups: rapid.SliceOfN(genGroupResult, 0, 4).Draw(t, "groups")}, true
	case sm.KindInitProducerIDRequest:
		return sm.InitProducerIDRequest{ReqID: u64("req")}, true
	case sm.KindInitProducerIDResponse:
		return sm.InitProducerIDResponse{ReqID: u64("req"), Code: code(), Message: str("msg"), ProducerID: rapid.Int64().Draw(t, "pid"),
			ProducerEpoch: rapid.Int16().Draw(t, "epoch")}, true
	case sm.KindAllocateProducerIDsRequest:
		return sm.AllocateProducerIDsRequest{ReqID: u64("req"), Broker: sm.NodeID(u64("broker")), Incarnation: u64("inc")}, true
	case sm.KindAllocateProducerIDsResponse:
		return sm.AllocateProducerIDsResponse{ReqID: u64("req"), Code: code(), Message: str("msg"), LeaderHint: sm.NodeID(u64("hint")),
			First: rapid.Int64().Draw(t, "first"), Count: rapid.Int32().Draw(t, "count")}, true
	}
	return nil, false
}

// messageTypes is every message kind.
func messageTypes() []sm.MsgKind { return sm.MsgKinds() }

// normalize returns m with every empty slice set to nil, recursively, so that
// values that encode identically compare equal. It does not descend into
// pointers (raft messages are compared with proto.Equal).
func normalize(m sm.Message) sm.Message {
	v := reflect.New(reflect.TypeOf(m)).Elem()
	v.Set(reflect.ValueOf(m))
	normalizeValue(v)
	return v.Interface().(sm.Message)
}

func normalizeValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		// Copy before normalising so the caller's value is not modified.
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(c, v)
		v.Set(c)
		for i := range c.Len() {
			normalizeValue(c.Index(i))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				normalizeValue(f)
			}
		}
	}
}

// equalMessages compares modulo nil/empty slices, and raft payloads with
// proto.Equal.
func equalMessages(a, b sm.Message) bool {
	ra, aok := a.(sm.RaftMessage)
	rb, bok := b.(sm.RaftMessage)
	if aok || bok {
		return aok && bok && (ra.M == nil) == (rb.M == nil) && proto.Equal(ra.M, rb.M)
	}
	return reflect.DeepEqual(normalize(a), normalize(b))
}

// samples is one fixed, non-trivial message of every type: the fuzz seed
// corpus and the table for deterministic tests.
func samples() []sm.Message {
	b := sm.Batch{BaseOffset: 10, Epoch: 2, Records: []sm.Record{{Key: []byte("k"), Value: []byte("v1")}, {Value: []byte("v2")}}}
	b.Seal()
	tp := sm.TopicPartition{Topic: "orders", Partition: 3}
	remote := sm.RemoteLog{Start: 100, End: 4000, Bytes: 3 << 20, Segments: 3}
	ps := sm.PartitionState{TP: tp, Replicas: []sm.NodeID{101, 102, 103}, Leader: 101, LeaderEpoch: 4, ISR: []sm.NodeID{101, 102}, PartitionEpoch: 9,
		Remote: remote}
	tid := sm.TopicID{0x5e, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xff}
	seg := sm.RemoteSegment{Name: sm.ObjectName{TopicID: tid, Partition: 3, Base: 4000, Epoch: 4, Broker: 101, Incarnation: 7, Effect: 12}.String(),
		Base: 4000, Next: 4500, DataBytes: 1 << 20, IndexBytes: 96, MaxTimestamp: 1767225600000, LeaderEpoch: 4,
		Epochs: []sm.EpochStart{{Epoch: 3, Start: 4000}, {Epoch: 4, Start: 4200}}}
	delta := sm.MetadataDelta{FromVersion: 1, ToVersion: 7, Full: true,
		Brokers: []sm.BrokerInfo{{ID: 101, Incarnation: 3, Rack: "a", Host: "b101:9092"}, {ID: 102, Fenced: true}},
		Topics: []sm.TopicInfo{{Name: "orders", ID: tid, Partitions: 4, ReplicationFactor: 3,
			Config: sm.TopicConfig{MinInSyncReplicas: 2, UncleanLeaderElection: true, RetentionMs: 60000, SegmentBytes: 1 << 20, RetentionBytes: 1 << 30, SegmentMs: 3600000,
				LocalRetentionMs: 600000, LocalRetentionBytes: -1}, CreatedAtMs: 1767225600000}},
		DeletedTopics: []string{"old"}, Partitions: []sm.PartitionState{ps}}
	health := sm.BrokerHealth{
		WAL:           sm.WALHealth{Healthy: true, UsedBytes: 1 << 20, CapacityBytes: 1 << 30, Backend: "uring"},
		Cache:         sm.CacheHealth{Healthy: true, HitRate: 0.75, UsedBytes: 4096, CapacityBytes: 1 << 20},
		ObjectStorage: sm.ObjectStorageHealth{Configured: false},
		Network:       sm.NetworkHealth{Connections: 12, Healthy: true},
		Replication:   sm.ReplicationHealth{MaxLagRecords: 40, UnderReplicatedPartitions: 1},
		Resources:     sm.ResourceUsage{MemoryBytes: 64 << 20, Goroutines: 42, CPUPercent: 12.5},
	}
	raft := &pb.Message{Type: pb.MessageType_MsgApp.Enum(), To: proto.Uint64(2), From: proto.Uint64(1), Term: proto.Uint64(5),
		Entries: []*pb.Entry{{Term: proto.Uint64(5), Index: proto.Uint64(8), Data: []byte(`{"cmd":1}`)}}, Commit: proto.Uint64(7)}
	ss := []sm.Message{
		sm.ProduceRequest{ReqID: 1, TP: tp, Acks: sm.Acks{Kind: sm.AckCustom, N: 2}, Records: b.Records, Timeout: 5 * sm.Second},
		sm.ProduceResponse{ReqID: 1, TP: tp, Code: sm.CodeNotLeader, Message: "not leader", BaseOffset: 10, LeaderEpoch: 2, LeaderHint: 102},
		sm.FetchRequest{ReqID: 2, TP: tp, Offset: 10, MaxRecords: 100, CurrentLeaderEpoch: 2},
		sm.FetchResponse{ReqID: 2, TP: tp, Batches: []sm.Batch{b, b}, HighWatermark: 12, LogStart: 0, LeaderEpoch: 2, LeaderHint: 101},
		sm.ReplicaFetchRequest{TP: tp, Replica: 102, Incarnation: 4, LeaderEpoch: 2, FetchOffset: 10, LastFetchedEpoch: 1},
		sm.ReplicaFetchResponse{TP: tp, Incarnation: 4, FetchOffset: 10, LeaderEpoch: 2, Batches: []sm.Batch{b}, HighWatermark: 12, Diverging: true, DivergingEpoch: 1, DivergingEndOffset: 9},
		sm.BrokerHeartbeat{Broker: 101, Incarnation: 3, Rack: "a", Host: "b101:9092", MetadataVersion: 6, Health: &health},
		sm.BrokerHeartbeatResponse{Incarnation: 3, Code: sm.CodeOK, LeaderHint: 1, Delta: delta, SessionTimeout: 10 * sm.Second},
		sm.AlterISRRequest{ReqID: 3, Broker: 101, TP: tp, LeaderEpoch: 4, PartitionEpoch: 9, ISR: []sm.NodeID{101}},
		sm.AlterISRResponse{ReqID: 3, TP: tp, Code: sm.CodeStaleRequest, Message: "stale", LeaderHint: 1, State: ps},
		sm.CreateTopicRequest{ReqID: 4, Name: "orders", Partitions: 4, ReplicationFactor: 3, Config: sm.TopicConfig{MinInSyncReplicas: 2}},
		sm.CreateTopicResponse{ReqID: 4, Code: sm.CodeTopicExists, Message: "exists", LeaderHint: 1},
		sm.DeleteTopicRequest{ReqID: 5, Name: "orders"},
		sm.DeleteTopicResponse{ReqID: 5, Code: sm.CodeOK},
		sm.MetadataRequest{ReqID: 6, SinceVersion: 3},
		sm.MetadataResponse{ReqID: 6, LeaderHint: 1, Delta: delta},
		sm.RaftMessage{M: raft},
		sm.ClusterStatusRequest{ReqID: 7, Stale: true},
		sm.ClusterStatusResponse{ReqID: 7, LeaderHint: 1, IsLeader: true, Term: 3, CommitIndex: 12, AppliedIndex: 11, Metadata: delta,
			Brokers: []sm.BrokerStatus{{Info: delta.Brokers[0], Online: true, LastReport: 90 * sm.Time(sm.Second), Health: health},
				{Info: delta.Brokers[1]}},
			Healthy: true, Leader: 1, Now: 95 * sm.Time(sm.Second)},
		sm.AlterTopicConfigRequest{ReqID: 8, Name: "orders", Set: []sm.TopicConfigEntry{{Key: sm.ConfigRetentionMs, Value: 60000}, {Key: sm.ConfigSegmentMs, Value: 3600000}}},
		sm.AlterTopicConfigResponse{ReqID: 8, Code: sm.CodeInvalidRequest, Message: "segment_ms must be", LeaderHint: 1},
		sm.ListOffsetsRequest{ReqID: 9, TP: tp, CurrentLeaderEpoch: 2},
		sm.ListOffsetsResponse{ReqID: 9, TP: tp, LogStart: 4, HighWatermark: 12, LogEnd: 14, LeaderEpoch: 2, LeaderHint: 101,
			LocalStart: 8, LocalBytes: 4096, Remote: sm.RemoteLog{Start: 4, End: 8, Bytes: 2048, Segments: 1}},
		sm.CommitSegmentRequest{ReqID: 10, Broker: 101, TP: tp, TopicID: tid, LeaderEpoch: 4, Segment: seg},
		sm.CommitSegmentResponse{ReqID: 10, TP: tp, Code: sm.CodeRemoteMismatch, Message: "base 4000, uploaded range ends at 3900", LeaderHint: 1, Remote: remote},
		sm.DropRemoteSegmentsRequest{ReqID: 11, Broker: 101, TP: tp, TopicID: tid, LeaderEpoch: 4, Below: 1200},
		sm.DropRemoteSegmentsResponse{ReqID: 11, TP: tp, Code: sm.CodeOK, LeaderHint: 1, Remote: remote},
		sm.RemoteSegmentsRequest{ReqID: 12, TP: tp, TopicID: tid, From: 3900, Max: 100},
		sm.RemoteSegmentsResponse{ReqID: 12, TP: tp, Code: sm.CodeOK, LeaderHint: 1, Remote: remote, Segments: []sm.RemoteSegment{seg, {Name: "x", Base: 4500, Next: 4501}}, More: true},
		sm.ACLRequest{ReqID: 13, Command: acl.Command{Delete: []acl.RuleID{4, 9}}},
		sm.ACLResponse{ReqID: 13, Code: sm.CodeOK, LeaderHint: 1, Result: acl.Result{Version: 7, Deleted: []acl.RuleID{4, 9}}},
		sm.CertRequest{ReqID: 14, Revoke: &sm.CertRecord{Serial: "3a0f", Reason: "keyCompromise", RevokedAtMs: 1767225600000}},
		sm.CertResponse{ReqID: 14, Code: sm.CodeOK, LeaderHint: 1, Record: sm.CertRecord{Serial: "3a0f", Revoked: true, Reason: "keyCompromise"}},
	}
	return append(ss, groupSamples()...)
}

// groupSamples is one fixed, non-trivial consumer-group message of every
// kind, in kind order.
func groupSamples() []sm.Message {
	tp := sm.TopicPartition{Topic: "orders", Partition: 3}
	tp2 := sm.TopicPartition{Topic: "orders", Partition: 4}
	sub := []byte{0, 3, 0, 0, 0, 1, 0, 6, 'o', 'r', 'd', 'e', 'r', 's'} // a consumer subscription
	assign := []byte{0, 3, 0, 0, 0, 1, 0, 6, 'o', 'r', 'd', 'e', 'r', 's', 0, 0, 0, 1, 0, 0, 0, 3}
	return []sm.Message{
		sm.FindCoordinatorRequest{ReqID: 20, GroupID: "billing"},
		sm.FindCoordinatorResponse{ReqID: 20, Code: sm.CodeOK, Coordinator: 102, Partition: 17},
		sm.JoinGroupRequest{ReqID: 21, GroupID: "billing", GroupInstanceID: "billing-0", ClientID: "weir-go", ProtocolType: "consumer",
			Protocols:      []sm.GroupProtocol{{Name: "range", Metadata: sub}, {Name: "roundrobin"}},
			SessionTimeout: 10 * sm.Second, RebalanceTimeout: 30 * sm.Second, RequireKnownMemberID: true},
		sm.JoinGroupResponse{ReqID: 21, Code: sm.CodeOK, Generation: 5, ProtocolType: "consumer", Protocol: "range", Leader: "m-1",
			MemberID: "m-1", Members: []sm.GroupMemberMetadata{{MemberID: "m-1", InstanceID: "billing-0", Metadata: sub}, {MemberID: "m-2"}}},
		sm.SyncGroupRequest{ReqID: 22, GroupID: "billing", Generation: 5, MemberID: "m-1", GroupInstanceID: "billing-0",
			ProtocolType: "consumer", Protocol: "range",
			Assignments: []sm.GroupAssignment{{MemberID: "m-1", Assignment: assign}, {MemberID: "m-2"}}},
		sm.SyncGroupResponse{ReqID: 22, Code: sm.CodeOK, ProtocolType: "consumer", Protocol: "range", Assignment: assign},
		sm.HeartbeatRequest{ReqID: 23, GroupID: "billing", Generation: 5, MemberID: "m-2"},
		sm.HeartbeatResponse{ReqID: 23, Code: sm.CodeRebalanceInProgress, Message: "group billing is rebalancing"},
		sm.LeaveGroupRequest{ReqID: 24, GroupID: "billing", Members: []sm.GroupMemberRef{{MemberID: "m-2"}, {GroupInstanceID: "billing-0"}}},
		sm.LeaveGroupResponse{ReqID: 24, Code: sm.CodeOK, Members: []sm.GroupMemberResult{{MemberID: "m-2"},
			{GroupInstanceID: "billing-0", Code: sm.CodeUnknownMemberID, Message: "no member with instance billing-0"}}},
		sm.OffsetCommitRequest{ReqID: 25, GroupID: "billing", Generation: 5, MemberID: "m-1", GroupInstanceID: "billing-0", Seek: true,
			Offsets: []sm.OffsetCommit{{TP: tp, Offset: 1200, LeaderEpoch: 4, Metadata: "batch 7"}, {TP: tp2, Offset: 0, LeaderEpoch: -1}}},
		sm.OffsetCommitResponse{ReqID: 25, Code: sm.CodeOK, Partitions: []sm.PartitionResult{{TP: tp},
			{TP: tp2, Code: sm.CodePartitionNotAssigned, Message: "orders-4 is not assigned to m-1"}}},
		sm.OffsetFetchRequest{ReqID: 26, GroupID: "billing", Partitions: []sm.TopicPartition{tp, tp2}},
		sm.OffsetFetchResponse{ReqID: 26, Code: sm.CodeOK, Offsets: []sm.CommittedOffset{{TP: tp, Offset: 1200, LeaderEpoch: 4, Metadata: "batch 7"},
			{TP: tp2, Offset: -1, LeaderEpoch: -1}}},
		sm.ListGroupsRequest{ReqID: 27},
		sm.ListGroupsResponse{ReqID: 27, Code: sm.CodeCoordinatorLoadInProgress, Message: "partition 9 loading",
			Groups: []sm.GroupListing{{GroupID: "audit", ProtocolType: "consumer", State: "Empty"}, {GroupID: "billing", ProtocolType: "consumer", State: "Stable"}}},
		sm.DescribeGroupsRequest{ReqID: 28, GroupIDs: []string{"billing", "nope"}},
		sm.DescribeGroupsResponse{ReqID: 28, Code: sm.CodeOK, Groups: []sm.GroupDescription{
			{GroupID: "billing", State: "Stable", ProtocolType: "consumer", Protocol: "range", Generation: 5, Leader: "m-1",
				Members: []sm.GroupMember{{MemberID: "m-1", InstanceID: "billing-0", ClientID: "weir-go", ClientHost: "10.0.0.7", Metadata: sub, Assignment: assign}}},
			{GroupID: "nope", Code: sm.CodeGroupIDNotFound, Message: "no group nope", Generation: -1}}},
		sm.DeleteGroupsRequest{ReqID: 29, GroupIDs: []string{"audit", "billing"}},
		sm.DeleteGroupsResponse{ReqID: 29, Code: sm.CodeOK, Groups: []sm.GroupResult{{GroupID: "audit"},
			{GroupID: "billing", Code: sm.CodeNonEmptyGroup, Message: "group billing has 1 member"}}},
		sm.InitProducerIDRequest{ReqID: 30},
		sm.InitProducerIDResponse{ReqID: 30, ProducerID: 4096, ProducerEpoch: 0},
		sm.AllocateProducerIDsRequest{ReqID: 31, Broker: 101, Incarnation: 1_764_720_000},
		sm.AllocateProducerIDsResponse{ReqID: 31, LeaderHint: 1, First: 4096, Count: 1000},
	}
}
