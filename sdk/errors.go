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
}

func (e *BrokerError) Error() string {
	who := "metadata"
	if e.Broker != sm.NoNode {
		who = "broker " + e.Broker.String()
	}
	s := fmt.Sprintf("sdk: %s: %v from %s", e.TP, e.Code, who)
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
// came back. Retrying could write the records twice, so the SDK never does;
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
