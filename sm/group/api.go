package group

import (
	"fmt"

	"github.com/weirmq/weir/sm"
)

// Handle is the host's name for one request: every reply carries the
// handle of the request it answers, so the host can route it. Handles of
// requests the coordinator holds must be distinct (a duplicate is a host
// bug and panics).
type Handle uint64

// State is a group's state, as Kafka names them.
type State uint8

// Group states (see the package doc's diagram).
const (
	StateEmpty               State = 1
	StatePreparingRebalance  State = 2
	StateCompletingRebalance State = 3
	StateStable              State = 4
	StateDead                State = 5
)

func (s State) String() string {
	switch s {
	case StateEmpty:
		return "Empty"
	case StatePreparingRebalance:
		return "PreparingRebalance"
	case StateCompletingRebalance:
		return "CompletingRebalance"
	case StateStable:
		return "Stable"
	case StateDead:
		return "Dead"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Protocol is one assignment protocol a joining member supports, with its
// metadata (for protocol type "consumer": an assign.Subscription).
type Protocol struct {
	Name     string
	Metadata []byte
}

// JoinRequest is Kafka's JoinGroup.
type JoinRequest struct {
	GroupID string
	// MemberID is "" on a member's first join.
	MemberID string
	// GroupInstanceID is set for a static member (KIP-345).
	GroupInstanceID string
	ClientID        string
	ClientHost      string
	ProtocolType    string
	// Protocols in the member's order of preference.
	Protocols      []Protocol
	SessionTimeout sm.Duration
	// RebalanceTimeout bounds the join phase; <= 0 means SessionTimeout
	// (JoinGroup v0 has none).
	RebalanceTimeout sm.Duration
	// RequireKnownMemberID asks for KIP-394's two-step first join (Kafka
	// requires it from JoinGroup v4): a dynamic member with no ID gets
	// MemberIDRequired and its ID, and joins again with it.
	RequireKnownMemberID bool
}

// JoinMember is one member as the leader sees it in its join reply.
type JoinMember struct {
	MemberID   string
	InstanceID string
	Metadata   []byte
}

// JoinResponse answers a join once the join phase is over (or at once on
// an error or when nothing changes).
type JoinResponse struct {
	Code         Code
	Message      string
	Generation   int32
	ProtocolType string
	Protocol     string
	Leader       string
	MemberID     string
	// Members is set in the leader's reply only: every member with its
	// metadata for the chosen protocol.
	Members []JoinMember
}

// MemberAssignment is the leader's assignment for one member.
type MemberAssignment struct {
	MemberID   string
	Assignment []byte
}

// SyncRequest is Kafka's SyncGroup.
type SyncRequest struct {
	GroupID         string
	Generation      int32
	MemberID        string
	GroupInstanceID string
	// ProtocolType and Protocol are checked when set (SyncGroup v5).
	ProtocolType string
	Protocol     string
	// Assignments from the leader; ignored from other members. Members it
	// leaves out get an empty assignment; a member named twice gets the
	// last; members not in the group are ignored (as Kafka does).
	Assignments []MemberAssignment
}

// SyncResponse carries the member's assignment.
type SyncResponse struct {
	Code         Code
	Message      string
	ProtocolType string
	Protocol     string
	Assignment   []byte
}

// HeartbeatRequest is Kafka's Heartbeat.
type HeartbeatRequest struct {
	GroupID         string
	Generation      int32
	MemberID        string
	GroupInstanceID string
}

// HeartbeatResponse is None while the member may carry on,
// RebalanceInProgress when it must rejoin.
type HeartbeatResponse struct {
	Code    Code
	Message string
}

// LeavingMember names one member leaving (LeaveGroup v3 leaves in batches).
type LeavingMember struct {
	MemberID        string
	GroupInstanceID string
}

// LeaveRequest is Kafka's LeaveGroup.
type LeaveRequest struct {
	GroupID string
	Members []LeavingMember
}

// LeaveResult is one member's outcome.
type LeaveResult struct {
	MemberID        string
	GroupInstanceID string
	Code            Code
	Message         string
}

// LeaveResponse answers a leave at once: Code for the whole request, then
// per member.
type LeaveResponse struct {
	Code    Code
	Message string
	Members []LeaveResult
}

// OffsetCommit is one partition's commit.
type OffsetCommit struct {
	TP          sm.TopicPartition
	Offset      sm.Offset
	LeaderEpoch int32
	Metadata    string
}

// CommitRequest is Kafka's OffsetCommit. Generation -1 with no member is
// the standalone ("simple consumer") commit, allowed only while the group
// has no members.
type CommitRequest struct {
	GroupID         string
	Generation      int32
	MemberID        string
	GroupInstanceID string
	// Seek marks the commit as an explicit seek: it may lower a committed
	// offset, and the record says so.
	Seek    bool
	Offsets []OffsetCommit
}

// PartitionResult is one partition's outcome.
type PartitionResult struct {
	TP      sm.TopicPartition
	Code    Code
	Message string
}

// CommitResponse answers a commit (and a reset) after its append is
// durable: Code for the whole request (then every partition carries it
// too), and one result per requested partition, in request order.
type CommitResponse struct {
	Code       Code
	Message    string
	Partitions []PartitionResult
}

// ResetRequest sets offsets of a group without members (weir groups
// reset-offsets). The host resolves --to-earliest/--to-latest/--to-datetime
// to offsets (ListOffsets) first; the coordinator records them as seeks.
type ResetRequest struct {
	GroupID string
	Offsets []OffsetCommit
}

// DeleteResult is one group's outcome.
type DeleteResult struct {
	GroupID string
	Code    Code
	Message string
}

// DeleteResponse answers a delete after its tombstones are durable.
type DeleteResponse struct{ Groups []DeleteResult }

// FetchedOffset is one partition's committed offset; Offset -1 when none.
type FetchedOffset struct {
	TP          sm.TopicPartition
	Offset      sm.Offset
	LeaderEpoch int32
	Metadata    string
	Code        Code
}

// FetchResponse is Kafka's OffsetFetch answer (durable offsets only).
type FetchResponse struct {
	Code       Code
	Message    string
	Partitions []FetchedOffset
}

// GroupListing is one group in a list.
type GroupListing struct {
	GroupID      string
	ProtocolType string
	State        State
}

// ListResponse is Kafka's ListGroups answer, sorted by group ID.
type ListResponse struct {
	Code    Code
	Message string
	Groups  []GroupListing
}

// MemberDescription is one member in a describe.
type MemberDescription struct {
	MemberID   string
	InstanceID string
	ClientID   string
	ClientHost string
	// Metadata for the group's protocol (its first protocol before one is
	// chosen).
	Metadata   []byte
	Assignment []byte
}

// GroupDescription is Kafka's DescribeGroups answer for one group.
type GroupDescription struct {
	GroupID      string
	Code         Code
	Message      string
	State        State
	ProtocolType string
	Protocol     string
	Generation   int32
	Leader       string
	Members      []MemberDescription
}

// Response is one of the *Response types above.
type Response interface{ isResponse() }

func (JoinResponse) isResponse()      {}
func (SyncResponse) isResponse()      {}
func (HeartbeatResponse) isResponse() {}
func (LeaveResponse) isResponse()     {}
func (CommitResponse) isResponse()    {}
func (DeleteResponse) isResponse()    {}

// Reply answers the request the host named To.
type Reply struct {
	To   Handle
	Body Response
}

// Append asks the host to append Records, in order and atomically (one
// batch), to the offsets partition, replicated like any acks=all produce,
// and then call OnAppended with ID. Appends must reach the log in the
// order TakeOutput returned them.
type Append struct {
	ID      sm.EffectID
	Records []sm.Record
}

// Appended completes Append ID.
type Appended struct {
	ID sm.EffectID
	// Outcome: OK (durable: committed at the offsets partition's high
	// watermark), Failed (not written, nothing left behind), Unknown (may or
	// may not be in the log: the coordinator fences itself, NeedsReload).
	Outcome sm.Outcome
	// NotLeader, with Failed: this broker no longer leads the offsets
	// partition; the affected replies carry NotCoordinator instead of
	// CoordinatorNotAvailable.
	NotLeader bool
	Reason    string
}

// Output is what the coordinator asks of its host since the last
// TakeOutput: appends first (in order), then replies.
type Output struct {
	Appends []Append
	Replies []Reply
}

// Watermarks tells the coordinator each partition's high watermark: the
// host's view, passed with every commit so the coordinator stays pure.
type Watermarks interface {
	// HighWatermark is tp's high watermark; ok false when the partition
	// does not exist.
	HighWatermark(tp sm.TopicPartition) (hw sm.Offset, ok bool)
}

// IDSource allocates effect IDs (the node's allocator, host.IDs).
type IDSource interface{ Next() sm.EffectID }
