package sdk

import (
	"errors"
	"fmt"

	"github.com/weirmq/weir/net/transport"
	"github.com/weirmq/weir/sm"
)

// Sentinel errors, for errors.Is. Errors from brokers are *BrokerError
// values that match the sentinel of their code; errors the SDK decides
// locally wrap the sentinel.
var (
	// ErrClosed: the Client, Producer or Consumer was closed. Records still
	// queued when it closed were not written; records in flight fail with an
	// *OutcomeUnknownError that wraps ErrClosed.
	ErrClosed = errors.New("sdk: closed")
	// ErrTimeout: no decisive answer in time. For a produce it always comes
	// inside an *OutcomeUnknownError (the broker's TIMEOUT, LEADERSHIP_LOST
	// or NOT_ENOUGH_REPLICAS_AFTER_APPEND, or no reply within
	// RequestTimeout): the records may or may not have been written.
	ErrTimeout = errors.New("sdk: timed out")
	// ErrNotLeader: the broker asked does not lead the partition at the
	// epoch the client knows (NOT_LEADER, UNKNOWN_LEADER_EPOCH,
	// FENCED_LEADER_EPOCH). Nothing was done; the SDK refreshes metadata and
	// retries, so callers see it only when retries ran out.
	ErrNotLeader = errors.New("sdk: not the leader")
	// ErrLeaderNotAvailable: the partition has no leader able to serve yet
	// (offline, or a new leader still committing its first epoch). Nothing
	// was done; retried like ErrNotLeader.
	ErrLeaderNotAvailable = errors.New("sdk: leader not available")
	// ErrMessageTooLarge: a record above ProducerConfig.MaxRecordBytes
	// (rejected before sending) or above the broker's limits. Not written.
	ErrMessageTooLarge = errors.New("sdk: message too large")
	// ErrNotEnoughReplicas: the in-sync replicas are fewer than the ack
	// level needs, so the leader refused before writing. Retried until
	// DeliveryTimeout.
	ErrNotEnoughReplicas = errors.New("sdk: not enough in-sync replicas")
	// ErrUnknownTopic: the topic or partition does not exist. Not retried.
	ErrUnknownTopic = errors.New("sdk: unknown topic or partition")
	// ErrOffsetOutOfRange: a fetch position outside [log start, high
	// watermark]; Seek to a valid offset.
	ErrOffsetOutOfRange = errors.New("sdk: offset out of range")
	// ErrInvalidRequest: the broker rejected the request's fields (for
	// example acks=custom(N) with N above the replication factor), or the
	// SDK did before sending. Not written, not retried.
	ErrInvalidRequest = errors.New("sdk: invalid request")
	// ErrUnreachable: no connection to the broker could be made, so the
	// request was never sent. When the broker refused the connection the
	// chain holds a *transport.CloseError saying why ("connection refused
	// by broker 101 ...: certificate … is revoked (code 7, revoked)"); a
	// revoked certificate's refusal is not retried.
	ErrUnreachable = errors.New("sdk: broker unreachable")
	// ErrConnectionLost: the connection a request went out on closed
	// before the reply came, and the error says who closed it and why
	// (a *transport.CloseError in the chain: "connection closed by broker
	// 101: certificate … revoked (code 7, revoked)", a shutdown, an idle
	// timeout). Requests fail with it as soon as the connection closes,
	// not at RequestTimeout. For a produce it comes inside an
	// *OutcomeUnknownError; fetches and metadata requests are retried, and
	// the next request reconnects first (a revoked certificate's reconnect
	// fails with ErrUnreachable naming the broker's refusal).
	ErrConnectionLost = errors.New("sdk: connection lost")

	// Idempotent producers (ProducerConfig.Idempotent). The SDK handles
	// the first three itself; callers see them only inside the error of a
	// record whose delivery timeout passed.

	// ErrDuplicateSequence: the leader already held the batch
	// (DUPLICATE_SEQUENCE_NUMBER, a retry after a lost reply). The
	// producer takes it as the original's success at its offset.
	ErrDuplicateSequence = errors.New("sdk: duplicate sequence number")
	// ErrOutOfOrderSequence: the leader refused a batch whose sequence
	// number is not the one after the producer's last batch there
	// (OUT_OF_ORDER_SEQUENCE_NUMBER). Nothing was stored; the producer
	// sends it again after the earlier batch, or numbers the partition's
	// batches again.
	ErrOutOfOrderSequence = errors.New("sdk: out of order sequence number")
	// ErrUnknownProducerID: the leader holds nothing of the producer on
	// the partition and the batch did not start at sequence 0
	// (UNKNOWN_PRODUCER_ID). Nothing was stored; the producer numbers the
	// partition's batches again from 0.
	ErrUnknownProducerID = errors.New("sdk: unknown producer ID")
	// ErrProducerFenced: the leader has seen a newer epoch of the
	// producer's ID (INVALID_PRODUCER_EPOCH): the batch was not stored
	// and fails with it.
	ErrProducerFenced = errors.New("sdk: producer fenced by a newer epoch of its ID")

	// Consumer groups.

	// ErrCoordinatorNotAvailable: the group's coordinator cannot serve now
	// (COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR,
	// COORDINATOR_LOAD_IN_PROGRESS). The SDK finds the coordinator again and
	// retries, so callers see it only when their context ended first.
	ErrCoordinatorNotAvailable = errors.New("sdk: group coordinator not available")
	// ErrRebalanceInProgress: the group is rebalancing (a commit while the
	// assignment is being handed out). The consumer rejoins by itself;
	// commit again after the rebalance.
	ErrRebalanceInProgress = errors.New("sdk: group rebalance in progress")
	// ErrIllegalGeneration: the consumer's generation is no longer the
	// group's (it was out of touch while the group rebalanced without
	// it): the commit was refused, and its partitions are lost (OnLost).
	ErrIllegalGeneration = errors.New("sdk: stale group generation")
	// ErrUnknownMember: the coordinator does not know the consumer's
	// member ID (it expired after the session timeout, or left): nothing
	// was committed; the consumer joins again as a new member.
	ErrUnknownMember = errors.New("sdk: unknown group member")
	// ErrFencedInstanceID: another consumer joined with the same
	// InstanceID (static membership) and replaced this one, which stops
	// for good: Poll returns it.
	ErrFencedInstanceID = errors.New("sdk: group instance ID fenced by a newer member")
	// ErrGroupNotEmpty: delete or reset of a group that has members.
	ErrGroupNotEmpty = errors.New("sdk: group has members")
	// ErrGroupNotFound: no such group.
	ErrGroupNotFound = errors.New("sdk: group not found")
	// ErrPartitionNotAssigned: a commit for a partition the member's
	// assignment does not hold.
	ErrPartitionNotAssigned = errors.New("sdk: partition not assigned to this member")
	// ErrOffsetRegression: a commit below the committed offset that was not
	// an explicit seek (Consumer.Seek flags the next commit as one).
	ErrOffsetRegression = errors.New("sdk: commit below the committed offset")
	// ErrInvalidGroup: the coordinator refused the group or the join
	// itself: an empty or too long group ID (INVALID_GROUP_ID), an
	// assignor or protocol type the group's members do not share
	// (INCONSISTENT_GROUP_PROTOCOL), a session timeout outside the
	// brokers' bounds (INVALID_SESSION_TIMEOUT), a full group
	// (GROUP_MAX_SIZE_REACHED). Not retried: the consumer's Poll returns it.
	ErrInvalidGroup = errors.New("sdk: group refused")
	// ErrGroupAuthorizationFailed: the principal may not use the group
	// (ACLs).
	ErrGroupAuthorizationFailed = errors.New("sdk: group authorization failed")
	// ErrGroupManaged: an explicit assignment (Assign, AssignTopic) on a
	// consumer whose partitions its group assigns.
	ErrGroupManaged = errors.New("sdk: the consumer's group assigns its partitions")
	// ErrNoGroup: a group operation (Commit, CommitMarked, Mark, Receive)
	// on a consumer made without ConsumerConfig.Group.
	ErrNoGroup = errors.New("sdk: the consumer has no group")
)

// revoked reports whether err is a broker's refusal of this client's
// certificate as revoked, which no retry can overcome.
func revoked(err error) bool {
	var ce *transport.CloseError
	return errors.As(err, &ce) && ce.Revoked()
}

// sentinels maps reply codes to the sentinel their BrokerError matches.
var sentinels = map[sm.Code]error{
	sm.CodeNotLeader:                    ErrNotLeader,
	sm.CodeUnknownLeaderEpoch:           ErrNotLeader,
	sm.CodeFencedLeaderEpoch:            ErrNotLeader,
	sm.CodeLeaderNotAvailable:           ErrLeaderNotAvailable,
	sm.CodeMessageTooLarge:              ErrMessageTooLarge,
	sm.CodeNotEnoughReplicas:            ErrNotEnoughReplicas,
	sm.CodeUnknownTopic:                 ErrUnknownTopic,
	sm.CodeOffsetOutOfRange:             ErrOffsetOutOfRange,
	sm.CodeInvalidRequest:               ErrInvalidRequest,
	sm.CodeTimeout:                      ErrTimeout,
	sm.CodeLeadershipLost:               ErrTimeout,
	sm.CodeNotEnoughReplicasAfterAppend: ErrTimeout,

	sm.CodeCoordinatorNotAvailable:   ErrCoordinatorNotAvailable,
	sm.CodeNotCoordinator:            ErrCoordinatorNotAvailable,
	sm.CodeCoordinatorLoadInProgress: ErrCoordinatorNotAvailable,
	sm.CodeRebalanceInProgress:       ErrRebalanceInProgress,
	sm.CodeIllegalGeneration:         ErrIllegalGeneration,
	sm.CodeUnknownMemberID:           ErrUnknownMember,
	sm.CodeFencedInstanceID:          ErrFencedInstanceID,
	sm.CodeNonEmptyGroup:             ErrGroupNotEmpty,
	sm.CodeGroupIDNotFound:           ErrGroupNotFound,
	sm.CodePartitionNotAssigned:      ErrPartitionNotAssigned,
	sm.CodeOffsetRegression:          ErrOffsetRegression,
	sm.CodeInvalidGroupID:            ErrInvalidGroup,
	sm.CodeInconsistentGroupProtocol: ErrInvalidGroup,
	sm.CodeInvalidSessionTimeout:     ErrInvalidGroup,
	sm.CodeGroupMaxSizeReached:       ErrInvalidGroup,
	sm.CodeGroupAuthorizationFailed:  ErrGroupAuthorizationFailed,
	sm.CodeOffsetMetadataTooLarge:    ErrInvalidRequest,

	sm.CodeDuplicateSequence:    ErrDuplicateSequence,
	sm.CodeOutOfOrderSequence:   ErrOutOfOrderSequence,
	sm.CodeUnknownProducerID:    ErrUnknownProducerID,
	sm.CodeInvalidProducerEpoch: ErrProducerFenced,
}

// BrokerError is a broker's refusal: the reply code, the broker's
// explanation and who said it. It matches the sentinel for its code with
// errors.Is (NOT_LEADER is ErrNotLeader, and so on), so callers need not
// switch on codes; the code is there for logs and finer decisions.
type BrokerError struct {
	// Code is the reply code.
	Code sm.Code
	// Message is the broker's explanation (or the SDK's, when Broker is
	// NoNode and the SDK decided from metadata).
	Message string
	// Broker is the node that answered; sm.NoNode when the SDK decided
	// locally from metadata (say, no leader known).
	Broker sm.NodeID
	// TP is the partition the request was for.
	TP sm.TopicPartition
	// Group is the consumer group a group request was for ("" for other
	// requests); TP is then set when the code is one partition's.
	Group string
}

func (e *BrokerError) Error() string {
	who := "metadata"
	if e.Broker != sm.NoNode {
		who = "broker " + e.Broker.String()
	}
	where := e.TP.String()
	if e.Group != "" {
		where = fmt.Sprintf("group %q", e.Group)
		if e.TP.Topic != "" {
			where += " " + e.TP.String()
		}
	}
	s := fmt.Sprintf("sdk: %s: %v from %s", where, e.Code, who)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is reports whether target is the sentinel for e's code.
func (e *BrokerError) Is(target error) bool {
	s, ok := sentinels[e.Code]
	return ok && s == target
}

// OutcomeUnknownError says a produce may or may not have been written: the
// request reached, or may have reached, the leader, and no decisive answer
// came back. Retrying could write the records twice, so the SDK never does
// unless the producer is idempotent (ProducerConfig.Idempotent: it then
// retries until DeliveryTimeout, and this error means those retries ran out);
// the caller decides (for example by reading the partition back, or by
// making records idempotent at the application level). It matches
// ErrTimeout with errors.Is, and unwraps to the reason: a *BrokerError with
// an unknown-outcome code, ErrTimeout (no reply), ErrClosed, or a context
// error.
type OutcomeUnknownError struct {
	// TP is the partition the records were sent to.
	TP sm.TopicPartition
	// Err is why the outcome is unknown.
	Err error
}

func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("sdk: %s: outcome unknown, the records may or may not have been written: %v", e.TP, e.Err)
}

// Unwrap returns the reason.
func (e *OutcomeUnknownError) Unwrap() error { return e.Err }

// Is makes every unknown outcome match ErrTimeout.
func (e *OutcomeUnknownError) Is(target error) bool { return target == ErrTimeout }
