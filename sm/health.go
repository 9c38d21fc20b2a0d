package sm

// BrokerHealth is what a broker reports about itself to the controller, the
// reference's component-level broker health check. It is pure data: the
// process measures its components (WAL, cache, object storage, network,
// resources) and posts them to the broker state machine as a HealthObserved
// event; the broker state machine fills Replication itself from the
// partitions it leads, and sends the result in a BrokerHeartbeat every
// health interval. The controller keeps only the latest report per broker.
//
// A component the process does not measure (yet) is left zero. Nothing in
// the state machines acts on these values: whether a broker is online
// depends only on when its last report arrived, never on what it said.
type BrokerHealth struct {
	WAL           WALHealth
	Cache         CacheHealth
	ObjectStorage ObjectStorageHealth
	Network       NetworkHealth
	Replication   ReplicationHealth
	Resources     ResourceUsage
}

// WALHealth is the state of the broker's write-ahead log.
type WALHealth struct {
	// Healthy is false once the WAL failed an operation (the broker then
	// stops, so a report with Healthy false is rare: it is the last one).
	Healthy bool
	// UsedBytes and CapacityBytes are the space the WAL holds and may hold
	// (CapacityBytes 0: unbounded).
	UsedBytes, CapacityBytes int64
	// Backend names the WAL's I/O backend, as its configuration does.
	Backend string
}

// CacheHealth is the state of the broker's cache of recent batches
// ([cache] write_cache_size_bytes), filled in by the broker itself.
type CacheHealth struct {
	Healthy bool
	// HitRate is the share of fetches served from the cache, in [0, 1],
	// since the process started.
	HitRate float64
	// UsedBytes and CapacityBytes are the cache's size and its limit.
	UsedBytes, CapacityBytes int64
}

// ObjectStorageHealth is the broker's view of its object store.
type ObjectStorageHealth struct {
	// Configured is false when the broker runs without object storage;
	// Healthy is then meaningless.
	Healthy, Configured bool
}

// NetworkHealth is the state of the broker's transport.
type NetworkHealth struct {
	// Connections counts the open peer and client connections.
	Connections int
	Healthy     bool
}

// ReplicationHealth summarises the partitions the broker leads; the broker
// state machine computes it, whatever the process posted.
type ReplicationHealth struct {
	// MaxLagRecords is how many records the furthest-behind follower of any
	// partition this broker leads lacks against the leader's log end
	// (followers not yet heard from in the current leader epoch are not
	// counted).
	MaxLagRecords int64
	// UnderReplicatedPartitions counts the partitions this broker leads
	// whose ISR is smaller than their replica set.
	UnderReplicatedPartitions int
}

// ResourceUsage is the broker process's resource consumption.
type ResourceUsage struct {
	MemoryBytes uint64
	Goroutines  int
	// CPUPercent is the process's CPU use over the last measurement
	// interval, 100 per fully used core.
	CPUPercent float64
}

// BrokerStatus is one broker as a ClusterStatusResponse shows it: its
// metadata, whether the controller leader counts it online, and its last
// health report.
type BrokerStatus struct {
	Info BrokerInfo
	// Online is true while the broker's last health report is at most the
	// controller's health timeout old. Only the controller leader receives
	// reports; on any other controller Online is false, meaning unknown (see
	// ClusterStatusResponse.IsLeader).
	Online bool
	// LastReport is when the leader received the broker's last health
	// report, in the answering controller's clock (compare with
	// ClusterStatusResponse.Now); 0 means never (since this controller
	// became leader).
	LastReport Time
	// Health is the last report's content (zero when there was none).
	Health BrokerHealth
}
