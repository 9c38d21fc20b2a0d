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
// GET /api/v1/brokers/{id}/health: the state machine's type, so the process
// hands reports through unchanged.
type BrokerHealth = sm.BrokerHealth

// The report's components (see sm).
type (
	WALHealth           = sm.WALHealth
	CacheHealth         = sm.CacheHealth
	ObjectStorageHealth = sm.ObjectStorageHealth
	NetworkHealth       = sm.NetworkHealth
	ReplicationHealth   = sm.ReplicationHealth
	ResourceUsage       = sm.ResourceUsage
)

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
