package sm

// Producer IDs (issue 12, the idempotent producer): a producer asks any
// broker for an ID (InitProducerID); brokers hand out IDs from blocks the
// controller allocates through raft (AllocateProducerIDs, Kafka's
// KIP-730), so IDs are unique across the cluster and its history, and a
// controller or broker failover never reissues one.

// Message kinds added with producer IDs (issue 12).
const (
	KindInitProducerIDRequest       MsgKind = 55
	KindInitProducerIDResponse      MsgKind = 56
	KindAllocateProducerIDsRequest  MsgKind = 57
	KindAllocateProducerIDsResponse MsgKind = 58
)

// InitProducerIDRequest asks a broker for a new producer ID.
type InitProducerIDRequest struct {
	ReqID uint64
}

// InitProducerIDResponse carries a producer ID never handed out before,
// with epoch 0. CodeLeaderNotAvailable (retriable) while the broker waits
// for the controller.
type InitProducerIDResponse struct {
	ReqID         uint64
	Code          Code
	Message       string
	ProducerID    int64
	ProducerEpoch int16
}

// AllocateProducerIDsRequest asks the controller leader for a block of
// producer IDs for broker (at its registered incarnation).
type AllocateProducerIDsRequest struct {
	ReqID       uint64
	Broker      NodeID
	Incarnation uint64
}

// AllocateProducerIDsResponse carries the block [First, First+Count),
// allocated once it is applied: never given to anyone else.
type AllocateProducerIDsResponse struct {
	ReqID      uint64
	Code       Code
	Message    string
	LeaderHint NodeID
	First      int64
	Count      int32
}

func (InitProducerIDRequest) Kind() MsgKind       { return KindInitProducerIDRequest }
func (InitProducerIDResponse) Kind() MsgKind      { return KindInitProducerIDResponse }
func (AllocateProducerIDsRequest) Kind() MsgKind  { return KindAllocateProducerIDsRequest }
func (AllocateProducerIDsResponse) Kind() MsgKind { return KindAllocateProducerIDsResponse }
