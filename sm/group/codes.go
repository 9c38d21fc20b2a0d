package group

import (
	"strconv"

	"github.com/weirmq/weir/sm"
)

// Code is a group-protocol error code. The values are Kafka's error codes
// (org.apache.kafka.common.protocol.Errors) wherever Kafka has one, so a
// Kafka-protocol front end can pass them through; the two Weir-only codes
// sit far above Kafka's range. The host maps them to sm.Code wire codes.
type Code int16

// Codes, with where each is returned.
const (
	None Code = 0
	// OffsetOutOfRange: a commit or reset names an offset below 0 or beyond
	// the partition's high watermark.
	OffsetOutOfRange Code = 1
	// UnknownTopicOrPartition: a commit or reset names a partition the high
	// watermark source does not know (or an empty topic, a negative index).
	UnknownTopicOrPartition Code = 3
	// OffsetMetadataTooLarge: a commit's metadata string is longer than
	// Config.OffsetMetadataBytesMax.
	OffsetMetadataTooLarge Code = 12
	// CoordinatorLoadInProgress: the coordinator is still loading its
	// offsets partition (New until FinishLoad). Retriable.
	CoordinatorLoadInProgress Code = 14
	// CoordinatorNotAvailable: the group is being deleted, an append failed,
	// the coordinator is fenced after an unknown append outcome (NeedsReload),
	// or a limit on appends in flight or groups was reached. Retriable; Kafka
	// clients rediscover the coordinator.
	CoordinatorNotAvailable Code = 15
	// NotCoordinator: the group hashes to another offsets partition, the
	// coordinator was unloaded, or an append failed because this broker no
	// longer leads the offsets partition. Retriable after FindCoordinator.
	NotCoordinator Code = 16
	// IllegalGeneration: the request's generation is not the group's current
	// one (a stale member), or a commit with a generation >= 0 names a group
	// that does not exist.
	IllegalGeneration Code = 22
	// InconsistentGroupProtocol: a join with an empty protocol type or no
	// protocols, a protocol type other than the group's, no protocol in
	// common with every member, or a sync naming another protocol.
	InconsistentGroupProtocol Code = 23
	// InvalidGroupID: the group ID is empty or longer than 32767 bytes.
	InvalidGroupID Code = 24
	// UnknownMemberID: the member ID is not in the group (never joined,
	// expired, left, or the group does not exist).
	UnknownMemberID Code = 25
	// InvalidSessionTimeout: a join's session timeout is outside
	// [SessionTimeoutMin, SessionTimeoutMax] (group.min/max.session.timeout.ms).
	InvalidSessionTimeout Code = 26
	// RebalanceInProgress: the group is rebalancing: a heartbeat in
	// PreparingRebalance (the member must rejoin), a sync before the join
	// phase ended, a commit in CompletingRebalance, a held sync when the
	// rebalance restarted, or a held request superseded by a newer one from
	// the same member.
	RebalanceInProgress Code = 27
	// InvalidRequest: a request that cannot be valid whatever the group's
	// state: a string over 32767 bytes, a partition twice in one commit.
	InvalidRequest Code = 42
	// NonEmptyGroup: delete or reset of a group with members.
	NonEmptyGroup Code = 68
	// GroupIDNotFound: delete or describe of a group that does not exist.
	// (Kafka's DescribeGroups answers None with state Dead instead; a Kafka
	// front end maps it.)
	GroupIDNotFound Code = 69
	// MemberIDRequired: KIP-394. A dynamic member joining with no member ID
	// when the request asks for the two-step join: the reply carries the
	// member ID to rejoin with.
	MemberIDRequired Code = 79
	// GroupMaxSizeReached: a new member would exceed Config.MembersMax.
	GroupMaxSizeReached Code = 81
	// FencedInstanceID: the group instance ID is held by another member ID
	// (a newer instance of the static member replaced this one).
	FencedInstanceID Code = 82
	// PartitionNotAssigned (Weir only): a member committed a partition that
	// its current assignment does not hold. Checked only when the
	// coordinator can read assignments: protocol type "consumer" and an
	// assignor that uses the standard assignment encoding (assign.Known).
	PartitionNotAssigned Code = 10001
	// OffsetRegression (Weir only): a member's commit is below the offset
	// already committed (or in flight) for the partition, and the commit is
	// not flagged as a seek.
	OffsetRegression Code = 10002
)

var codeNames = map[Code]string{
	None:                      "NONE",
	OffsetOutOfRange:          "OFFSET_OUT_OF_RANGE",
	UnknownTopicOrPartition:   "UNKNOWN_TOPIC_OR_PARTITION",
	OffsetMetadataTooLarge:    "OFFSET_METADATA_TOO_LARGE",
	CoordinatorLoadInProgress: "COORDINATOR_LOAD_IN_PROGRESS",
	CoordinatorNotAvailable:   "COORDINATOR_NOT_AVAILABLE",
	NotCoordinator:            "NOT_COORDINATOR",
	IllegalGeneration:         "ILLEGAL_GENERATION",
	InconsistentGroupProtocol: "INCONSISTENT_GROUP_PROTOCOL",
	InvalidGroupID:            "INVALID_GROUP_ID",
	UnknownMemberID:           "UNKNOWN_MEMBER_ID",
	InvalidSessionTimeout:     "INVALID_SESSION_TIMEOUT",
	RebalanceInProgress:       "REBALANCE_IN_PROGRESS",
	InvalidRequest:            "INVALID_REQUEST",
	NonEmptyGroup:             "NON_EMPTY_GROUP",
	GroupIDNotFound:           "GROUP_ID_NOT_FOUND",
	MemberIDRequired:          "MEMBER_ID_REQUIRED",
	GroupMaxSizeReached:       "GROUP_MAX_SIZE_REACHED",
	FencedInstanceID:          "FENCED_INSTANCE_ID",
	PartitionNotAssigned:      "PARTITION_NOT_ASSIGNED",
	OffsetRegression:          "OFFSET_REGRESSION",
}

// String is Kafka's name for the code.
func (c Code) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return "CODE_" + strconv.Itoa(int(c))
}

// Retriable reports whether a client should retry the same request (after
// rediscovering the coordinator for the coordinator codes).
func (c Code) Retriable() bool {
	switch c {
	case CoordinatorLoadInProgress, CoordinatorNotAvailable, NotCoordinator, RebalanceInProgress:
		return true
	}
	return false
}

// Wire is the sm.Code a broker answers with for c (one to one; Kafka's
// numbering stays the coordinator's own).
func (c Code) Wire() sm.Code {
	switch c {
	case None:
		return sm.CodeOK
	case OffsetOutOfRange:
		return sm.CodeOffsetOutOfRange
	case UnknownTopicOrPartition:
		return sm.CodeUnknownTopic
	case OffsetMetadataTooLarge:
		return sm.CodeOffsetMetadataTooLarge
	case CoordinatorLoadInProgress:
		return sm.CodeCoordinatorLoadInProgress
	case CoordinatorNotAvailable:
		return sm.CodeCoordinatorNotAvailable
	case NotCoordinator:
		return sm.CodeNotCoordinator
	case IllegalGeneration:
		return sm.CodeIllegalGeneration
	case InconsistentGroupProtocol:
		return sm.CodeInconsistentGroupProtocol
	case InvalidGroupID:
		return sm.CodeInvalidGroupID
	case UnknownMemberID:
		return sm.CodeUnknownMemberID
	case InvalidSessionTimeout:
		return sm.CodeInvalidSessionTimeout
	case RebalanceInProgress:
		return sm.CodeRebalanceInProgress
	case InvalidRequest:
		return sm.CodeInvalidRequest
	case NonEmptyGroup:
		return sm.CodeNonEmptyGroup
	case GroupIDNotFound:
		return sm.CodeGroupIDNotFound
	case MemberIDRequired:
		return sm.CodeMemberIDRequired
	case GroupMaxSizeReached:
		return sm.CodeGroupMaxSizeReached
	case FencedInstanceID:
		return sm.CodeFencedInstanceID
	case PartitionNotAssigned:
		return sm.CodePartitionNotAssigned
	case OffsetRegression:
		return sm.CodeOffsetRegression
	}
	return sm.CodeInvalidRequest
}
