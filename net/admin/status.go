package admin

import (
	"errors"
	"time"

	"github.com/weirmq/weir/sm"
)

// ClusterStatus is a controller's view of the cluster, as the operator
// endpoints (/health, /api/v1/cluster, /api/v1/brokers...) render it. The
// process fills it from the controller state machine's answer.
type ClusterStatus struct {
	// IsLeader is whether this controller is the raft leader.
	IsLeader bool
	// Leader is the raft leader as known to this controller (sm.NoNode if
	// none).
	Leader sm.NodeID
	// Term is this controller's raft term; CommitIndex and AppliedIndex its
	// raft log positions, so a stale answer says how far behind it may be.
	Term, CommitIndex, AppliedIndex uint64
	// Healthy is the process's verdict on the cluster (the reference's:
	// a leader exists and enough brokers are online). /health and
	// /api/v1/cluster report it as is.
	Healthy bool
	// Metadata is the applied metadata, Full set.
	Metadata sm.MetadataDelta
	// Brokers is every registered broker, fenced ones included, one per ID,
	// in any order.
	Brokers []BrokerStatus
}

// BrokerStatus is one broker as the controller last heard of it.
type BrokerStatus struct {
	Info sm.BrokerInfo
	// Online is whether the broker is serving: registered, unfenced and
	// heartbeating within its session timeout.
	Online bool
	// LastReport is when the controller last heard from the broker; zero
	// means never (for example on a follower controller, which brokers do
	// not heartbeat to). Health is zero when LastReport is.
	LastReport time.Time
	// Health is the broker's component health as of LastReport.
	Health BrokerHealth
}

// BrokerHealth is a broker's own report on its components, rendered by
// GET /api/v1/brokers/{id}/health.
type BrokerHealth struct {
	WAL           WALHealth
	Cache         CacheHealth
	ObjectStorage ObjectStorageHealth
	Network       NetworkHealth
	Replication   ReplicationHealth
	Resources     ResourceUsage
}

// WALHealth is the broker's write-ahead log.
type WALHealth struct {
	Healthy bool
	// UsedBytes and CapacityBytes are the WAL's disk use and its
	// configured capacity.
	UsedBytes, CapacityBytes int64
	// Backend is the I/O backend in use ("uring", "sync").
	Backend string
}

// CacheHealth is the broker's in-memory data (recent batches of the
// partitions it hosts).
type CacheHealth struct {
	Healthy bool
	// UsedBytes is the memory held; CapacityBytes its bound, 0 if none.
	UsedBytes, CapacityBytes int64
}

// ObjectStorageHealth is the broker's object store. A broker with none
// configured reports Configured false, and that is not unhealthy.
type ObjectStorageHealth struct {
	Healthy, Configured bool
}

// NetworkHealth is the broker's QUIC transport.
type NetworkHealth struct {
	Healthy bool
	// Connections is the number of open connections.
	Connections int
}

// ReplicationHealth is how far behind the broker's partitions'
// followers are, over the partitions it leads.
type ReplicationHealth struct {
	// MaxLagRecords is the largest follower lag, in records.
	MaxLagRecords int64
	// UnderReplicatedPartitions counts the partitions it leads whose ISR
	// is smaller than their replica set.
	UnderReplicatedPartitions int
}

// ResourceUsage is the broker process's resource use.
type ResourceUsage struct {
	MemoryBytes uint64
	Goroutines  int
	CPUPercent  float64
}

// NotLeaderError is what Backend.ClusterStatus returns for a linearizable
// read (stale false) on a controller that cannot serve one: it is not the
// leader. Leader is the leader it knows of (sm.NoNode if none); the server
// forwards the read there or answers 503 with it as leader_hint. Nothing
// was done, so it also matches ErrUnavailable.
type NotLeaderError struct {
	Leader sm.NodeID
}

func (e *NotLeaderError) Error() string {
	if e.Leader == sm.NoNode {
		return "admin: not the controller leader (no leader known)"
	}
	return "admin: not the controller leader (" + controllerName(e.Leader) + " is)"
}

// Unwrap makes errors.Is(err, ErrUnavailable) hold: nothing was done.
func (e *NotLeaderError) Unwrap() error { return ErrUnavailable }

// notLeader returns the error's *NotLeaderError, if it wraps one.
func notLeader(err error) (*NotLeaderError, bool) {
	var nl *NotLeaderError
	ok := errors.As(err, &nl)
	return nl, ok
}
