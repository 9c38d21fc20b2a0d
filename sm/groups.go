package sm

// Consumer-group messages (issue 12): a client and the group coordinator
// (sm/group) hosted by the broker that leads the group's partition of the
// internal topic __consumer_offsets. They follow Kafka's classic group
// protocol API by API (FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
// LeaveGroup, OffsetCommit, OffsetFetch, ListGroups, DescribeGroups,
// DeleteGroups), so a Kafka front end maps onto them one to one; the
// coordinator's outcomes are Codes (CodeIllegalGeneration, …).
//
// Every request but FindCoordinator and ListGroups names one group and
// goes to its coordinator; a broker that is not it answers
// CodeNotCoordinator (find it again). Replies that depend on group state
// being stored (a sync's assignment, a commit, a delete) come only once the
// offsets partition holds it as an acks=all record does.

// OffsetsTopic is the internal topic that holds group metadata and
// committed offsets, one coordinator per partition (Kafka's name, so
// Kafka tools recognise it). Clients may not produce to it or create,
// alter or delete it; brokers create it on the first FindCoordinator.
const OffsetsTopic = "__consumer_offsets"

// Message kinds added with consumer groups (issue 12).
const (
	KindFindCoordinatorRequest  MsgKind = 35
	KindFindCoordinatorResponse MsgKind = 36
	KindJoinGroupRequest        MsgKind = 37
	KindJoinGroupResponse       MsgKind = 38
	KindSyncGroupRequest        MsgKind = 39
	KindSyncGroupResponse       MsgKind = 40
	KindHeartbeatRequest        MsgKind = 41
	KindHeartbeatResponse       MsgKind = 42
	KindLeaveGroupRequest       MsgKind = 43
	KindLeaveGroupResponse      MsgKind = 44
	KindOffsetCommitRequest     MsgKind = 45
	KindOffsetCommitResponse    MsgKind = 46
	KindOffsetFetchRequest      MsgKind = 47
	KindOffsetFetchResponse     MsgKind = 48
	KindListGroupsRequest       MsgKind = 49
	KindListGroupsResponse      MsgKind = 50
	KindDescribeGroupsRequest   MsgKind = 51
	KindDescribeGroupsResponse  MsgKind = 52
	KindDeleteGroupsRequest     MsgKind = 53
	KindDeleteGroupsResponse    MsgKind = 54
)

// FindCoordinatorRequest asks any broker which broker coordinates GroupID.
type FindCoordinatorRequest struct {
	ReqID   uint64
	GroupID string
}

// FindCoordinatorResponse names the coordinator: the leader of Partition
// of OffsetsTopic. CodeCoordinatorNotAvailable while the offsets topic is
// being created or its partition has no leader (retry after a backoff).
type FindCoordinatorResponse struct {
	ReqID       uint64
	Code        Code
	Message     string
	Coordinator NodeID
	Partition   int32
}

// GroupProtocol is one assignment protocol a joining member supports, with
// its metadata (for protocol type "consumer": Kafka's subscription
// encoding, sm/group/assign).
type GroupProtocol struct {
	Name     string
	Metadata []byte
}

// JoinGroupRequest is Kafka's JoinGroup. MemberID is "" on a member's
// first join; GroupInstanceID is set for a static member (KIP-345).
// RequireKnownMemberID asks for KIP-394's two-step first join: the reply
// is CodeMemberIDRequired with the member ID to join again with.
type JoinGroupRequest struct {
	ReqID                uint64
	GroupID              string
	MemberID             string
	GroupInstanceID      string
	ClientID             string
	ProtocolType         string
	Protocols            []GroupProtocol
	SessionTimeout       Duration
	RebalanceTimeout     Duration // <= 0: SessionTimeout
	RequireKnownMemberID bool
}

// GroupMemberMetadata is one member as the leader sees it in its join
// reply.
type GroupMemberMetadata struct {
	MemberID   string
	InstanceID string
	Metadata   []byte
}

// JoinGroupResponse answers a join once the join phase is over. Members is
// set in the leader's reply only.
type JoinGroupResponse struct {
	ReqID        uint64
	Code         Code
	Message      string
	Generation   int32
	ProtocolType string
	Protocol     string
	Leader       string
	MemberID     string
	Members      []GroupMemberMetadata
}

// GroupAssignment is the leader's assignment for one member.
type GroupAssignment struct {
	MemberID   string
	Assignment []byte
}

// SyncGroupRequest is Kafka's SyncGroup: the leader sends Assignments.
type SyncGroupRequest struct {
	ReqID           uint64
	GroupID         string
	Generation      int32
	MemberID        string
	GroupInstanceID string
	ProtocolType    string
	Protocol        string
	Assignments     []GroupAssignment
}

// SyncGroupResponse carries the member's assignment, once it is stored.
type SyncGroupResponse struct {
	ReqID        uint64
	Code         Code
	Message      string
	ProtocolType string
	Protocol     string
	Assignment   []byte
}

// HeartbeatRequest is Kafka's Heartbeat.
type HeartbeatRequest struct {
	ReqID           uint64
	GroupID         string
	Generation      int32
	MemberID        string
	GroupInstanceID string
}

// HeartbeatResponse is CodeOK while the member may carry on,
// CodeRebalanceInProgress when it must join again.
type HeartbeatResponse struct {
	ReqID   uint64
	Code    Code
	Message string
}

// GroupMemberRef names one member (LeaveGroup leaves in batches).
type GroupMemberRef struct {
	MemberID        string
	GroupInstanceID string
}

// LeaveGroupRequest is Kafka's LeaveGroup.
type LeaveGroupRequest struct {
	ReqID   uint64
	GroupID string
	Members []GroupMemberRef
}

// GroupMemberResult is one member's outcome in a leave.
type GroupMemberResult struct {
	MemberID        string
	GroupInstanceID string
	Code            Code
	Message         string
}

// LeaveGroupResponse answers a leave: Code for the whole request, then per
// member.
type LeaveGroupResponse struct {
	ReqID   uint64
	Code    Code
	Message string
	Members []GroupMemberResult
}

// OffsetCommit is one partition's committed position: the offset of the
// next record to consume.
type OffsetCommit struct {
	TP          TopicPartition
	Offset      Offset
	LeaderEpoch int32
	Metadata    string
}

// OffsetCommitRequest is Kafka's OffsetCommit. Generation -1 with no
// member is the standalone commit, allowed only while the group has no
// members. Seek marks an explicit seek (it may lower a committed offset).
// Reset is `weir groups reset-offsets`: a group with no members has its
// offsets set (Generation and member fields are ignored); the client
// resolves earliest, latest and times to offsets first.
type OffsetCommitRequest struct {
	ReqID           uint64
	GroupID         string
	Generation      int32
	MemberID        string
	GroupInstanceID string
	Seek            bool
	Reset           bool
	Offsets         []OffsetCommit
}

// PartitionResult is one partition's outcome.
type PartitionResult struct {
	TP      TopicPartition
	Code    Code
	Message string
}

// OffsetCommitResponse answers once the commit is stored: Code for the
// whole request (every partition then carries it too), and one result per
// requested partition, in request order.
type OffsetCommitResponse struct {
	ReqID      uint64
	Code       Code
	Message    string
	Partitions []PartitionResult
}

// OffsetFetchRequest is Kafka's OffsetFetch: the group's stored offsets for
// Partitions (none: every partition it has one for).
type OffsetFetchRequest struct {
	ReqID      uint64
	GroupID    string
	Partitions []TopicPartition
}

// CommittedOffset is one partition's stored offset; Offset -1 when none.
type CommittedOffset struct {
	TP          TopicPartition
	Offset      Offset
	LeaderEpoch int32
	Metadata    string
	Code        Code
}

// OffsetFetchResponse answers OffsetFetchRequest.
type OffsetFetchResponse struct {
	ReqID   uint64
	Code    Code
	Message string
	Offsets []CommittedOffset
}

// ListGroupsRequest asks one broker for the groups it coordinates (a
// client asks every broker for the cluster's list).
type ListGroupsRequest struct {
	ReqID uint64
}

// GroupListing is one group in a list. State is Kafka's name for it
// ("Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead").
type GroupListing struct {
	GroupID      string
	ProtocolType string
	State        string
}

// ListGroupsResponse answers ListGroupsRequest, sorted by group ID. A
// coordinator still loading makes Code CodeCoordinatorLoadInProgress with
// what the others hold.
type ListGroupsResponse struct {
	ReqID   uint64
	Code    Code
	Message string
	Groups  []GroupListing
}

// DescribeGroupsRequest is Kafka's DescribeGroups, for groups this broker
// coordinates.
type DescribeGroupsRequest struct {
	ReqID    uint64
	GroupIDs []string
}

// GroupMember is one member in a describe.
type GroupMember struct {
	MemberID   string
	InstanceID string
	ClientID   string
	ClientHost string
	Metadata   []byte
	Assignment []byte
}

// GroupDescription is one group in a describe (Code per group).
type GroupDescription struct {
	GroupID      string
	Code         Code
	Message      string
	State        string
	ProtocolType string
	Protocol     string
	Generation   int32
	Leader       string
	Members      []GroupMember
}

// DescribeGroupsResponse answers DescribeGroupsRequest, one description
// per requested group in request order.
type DescribeGroupsResponse struct {
	ReqID   uint64
	Code    Code
	Message string
	Groups  []GroupDescription
}

// DeleteGroupsRequest is Kafka's DeleteGroups: groups without members and
// their offsets go.
type DeleteGroupsRequest struct {
	ReqID    uint64
	GroupIDs []string
}

// GroupResult is one group's outcome.
type GroupResult struct {
	GroupID string
	Code    Code
	Message string
}

// DeleteGroupsResponse answers once the deletions are stored.
type DeleteGroupsResponse struct {
	ReqID   uint64
	Code    Code
	Message string
	Groups  []GroupResult
}

func (FindCoordinatorRequest) Kind() MsgKind  { return KindFindCoordinatorRequest }
func (FindCoordinatorResponse) Kind() MsgKind { return KindFindCoordinatorResponse }
func (JoinGroupRequest) Kind() MsgKind        { return KindJoinGroupRequest }
func (JoinGroupResponse) Kind() MsgKind       { return KindJoinGroupResponse }
func (SyncGroupRequest) Kind() MsgKind        { return KindSyncGroupRequest }
func (SyncGroupResponse) Kind() MsgKind       { return KindSyncGroupResponse }
func (HeartbeatRequest) Kind() MsgKind        { return KindHeartbeatRequest }
func (HeartbeatResponse) Kind() MsgKind       { return KindHeartbeatResponse }
func (LeaveGroupRequest) Kind() MsgKind       { return KindLeaveGroupRequest }
func (LeaveGroupResponse) Kind() MsgKind      { return KindLeaveGroupResponse }
func (OffsetCommitRequest) Kind() MsgKind     { return KindOffsetCommitRequest }
func (OffsetCommitResponse) Kind() MsgKind    { return KindOffsetCommitResponse }
func (OffsetFetchRequest) Kind() MsgKind      { return KindOffsetFetchRequest }
func (OffsetFetchResponse) Kind() MsgKind     { return KindOffsetFetchResponse }
func (ListGroupsRequest) Kind() MsgKind       { return KindListGroupsRequest }
func (ListGroupsResponse) Kind() MsgKind      { return KindListGroupsResponse }
func (DescribeGroupsRequest) Kind() MsgKind   { return KindDescribeGroupsRequest }
func (DescribeGroupsResponse) Kind() MsgKind  { return KindDescribeGroupsResponse }
func (DeleteGroupsRequest) Kind() MsgKind     { return KindDeleteGroupsRequest }
func (DeleteGroupsResponse) Kind() MsgKind    { return KindDeleteGroupsResponse }

// RefuseGroup is the answer to group request m refusing it whole with
// code and msg (per-group and per-partition lists carry the code too, so
// a client reading either sees it); ok false when m is not a group
// request.
func RefuseGroup(m Message, code Code, msg string) (reply Message, ok bool) {
	switch r := m.(type) {
	case FindCoordinatorRequest:
		return FindCoordinatorResponse{ReqID: r.ReqID, Code: code, Message: msg, Coordinator: NoNode, Partition: -1}, true
	case JoinGroupRequest:
		return JoinGroupResponse{ReqID: r.ReqID, Code: code, Message: msg, Generation: -1, MemberID: r.MemberID}, true
	case SyncGroupRequest:
		return SyncGroupResponse{ReqID: r.ReqID, Code: code, Message: msg}, true
	case HeartbeatRequest:
		return HeartbeatResponse{ReqID: r.ReqID, Code: code, Message: msg}, true
	case LeaveGroupRequest:
		resp := LeaveGroupResponse{ReqID: r.ReqID, Code: code, Message: msg}
		for _, mem := range r.Members {
			resp.Members = append(resp.Members, GroupMemberResult{MemberID: mem.MemberID, GroupInstanceID: mem.GroupInstanceID, Code: code, Message: msg})
		}
		return resp, true
	case OffsetCommitRequest:
		resp := OffsetCommitResponse{ReqID: r.ReqID, Code: code, Message: msg}
		for _, o := range r.Offsets {
			resp.Partitions = append(resp.Partitions, PartitionResult{TP: o.TP, Code: code, Message: msg})
		}
		return resp, true
	case OffsetFetchRequest:
		return OffsetFetchResponse{ReqID: r.ReqID, Code: code, Message: msg}, true
	case ListGroupsRequest:
		return ListGroupsResponse{ReqID: r.ReqID, Code: code, Message: msg}, true
	case DescribeGroupsRequest:
		resp := DescribeGroupsResponse{ReqID: r.ReqID, Code: code, Message: msg}
		for _, id := range r.GroupIDs {
			resp.Groups = append(resp.Groups, GroupDescription{GroupID: id, Code: code, Message: msg})
		}
		return resp, true
	case DeleteGroupsRequest:
		resp := DeleteGroupsResponse{ReqID: r.ReqID, Code: code, Message: msg}
		for _, id := range r.GroupIDs {
			resp.Groups = append(resp.Groups, GroupResult{GroupID: id, Code: code, Message: msg})
		}
		return resp, true
	}
	return nil, false
}

// GroupOf is the group a group request names ("" for ListGroups and the
// multi-group requests, which name theirs in GroupIDs).
func GroupOf(m Message) string {
	switch r := m.(type) {
	case FindCoordinatorRequest:
		return r.GroupID
	case JoinGroupRequest:
		return r.GroupID
	case SyncGroupRequest:
		return r.GroupID
	case HeartbeatRequest:
		return r.GroupID
	case LeaveGroupRequest:
		return r.GroupID
	case OffsetCommitRequest:
		return r.GroupID
	case OffsetFetchRequest:
		return r.GroupID
	}
	return ""
}

// Snapshots of the offsets partition. Group state is the latest record per
// key, so a coordinator can restate all of it (group.Coordinator.Snapshot)
// and what came before that restatement is no longer needed. A snapshot is
// one batch: the restated records, then SnapshotMarker(n), n the records
// restated. Being one batch, it is in the log whole or not at all. The
// coordinator writes it with no other append in flight, so it restates
// everything before it. A replica whose host learned that such a batch
// committed may delete the sealed segments wholly below it
// (partition.SetObsoleteBelow); without one nothing is deleted. The
// marker key's version, 0x7fff, is no Kafka key version, so no Kafka record
// is mistaken for it.
var snapshotMarkerKey = []byte{0x7f, 0xff, 'w', 'e', 'i', 'r', '.', 's', 'n', 'a', 'p', 's', 'h', 'o', 't'}

// SnapshotMarker is the record that ends a snapshot of n records.
func SnapshotMarker(n int64) Record {
	v := make([]byte, 10)
	v[0], v[1] = 0, 1 // value version 1
	for i := range 8 {
		v[2+i] = byte(uint64(n) >> (56 - 8*i))
	}
	return Record{Key: append([]byte(nil), snapshotMarkerKey...), Value: v}
}

// IsSnapshotMarker reports whether rec is a snapshot marker, and the
// records the snapshot restated.
func IsSnapshotMarker(rec Record) (n int64, ok bool) {
	if string(rec.Key) != string(snapshotMarkerKey) || len(rec.Value) != 10 || rec.Value[0] != 0 || rec.Value[1] != 1 {
		return 0, false
	}
	var u uint64
	for i := range 8 {
		u = u<<8 | uint64(rec.Value[2+i])
	}
	if int64(u) < 0 {
		return 0, false
	}
	return int64(u), true
}

// SnapshotStart reports whether b is a snapshot (its last record a marker
// counting the records before it) and, if so, the offset it starts at:
// every record below it is restated in b or obsolete.
func SnapshotStart(b *Batch) (Offset, bool) {
	if len(b.Records) == 0 {
		return 0, false
	}
	n, ok := IsSnapshotMarker(b.Records[len(b.Records)-1])
	if !ok || n != int64(len(b.Records)-1) {
		return 0, false
	}
	return b.BaseOffset, true
}
