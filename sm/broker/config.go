package broker

import (
	"fmt"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/acl"
	"github.com/weirmq/weir/sm/partition"
	"github.com/weirmq/weir/sm/tier"
)

// Config is a broker's static configuration. Durations are sm.Duration
// (virtual in the simulator). Names follow the reference's [replication]
// section where one exists.
type Config struct {
	// ID is this broker's node ID (in the broker range, see sm.BrokerIDMin).
	ID sm.NodeID
	// Incarnation distinguishes this process from earlier runs of the same
	// broker: the controller fences older incarnations, and leaders use it to
	// tell a restarted follower's fetches from stale ones. It must grow with
	// every restart.
	Incarnation uint64
	// Rack and Host are reported to the controller for placement and clients.
	Rack, Host string
	// Controllers are the controller nodes to register with, in the order
	// they are tried.
	Controllers []sm.NodeID
	// HeartbeatInterval is how often the broker heartbeats to the controller,
	// which also carries metadata changes back (e.g. 100ms in sim, 1s prod).
	HeartbeatInterval sm.Duration
	// ControllerTimeout: a controller that has not answered a heartbeat for
	// this long is presumed gone, and the next one is tried.
	ControllerTimeout sm.Duration
	// HealthInterval is how often the broker reports its health
	// (sm.BrokerHealth) to the controller, on the first heartbeat at or
	// after each interval (the reference's health_check_interval_ms); zero
	// uses DefaultHealthInterval. The controller counts a broker online
	// while its last report is within its health timeout (30 s by default),
	// so the interval should be at most half of that.
	HealthInterval sm.Duration
	// AckTimeout is the default produce timeout (reference ack_timeout_ms).
	AckTimeout sm.Duration
	// ReplicaLagTime shrinks ISR followers that have not caught up for this
	// long (reference heartbeat_timeout_ms).
	ReplicaLagTime sm.Duration
	// ProducerStateWindow is how long an idempotent producer that sent
	// nothing pins the local copies of its last batches against the local
	// retention window (partition.Config.ProducerStateWindow; zero:
	// DefaultProducerStateWindow).
	ProducerStateWindow sm.Duration
	// MaxReplicationLag shrinks ISR followers this many records behind; 0
	// disables it (reference max_replication_lag).
	MaxReplicationLag int64
	// ReplicaFetchWait is a leader's long-poll wait for an idle follower
	// fetch; ReplicaFetchTimeout (larger) is when a follower resends; and
	// AlterISRTimeout is when a leader repeats an unanswered ISR change.
	ReplicaFetchWait, ReplicaFetchTimeout, AlterISRTimeout sm.Duration
	// DefaultMinISR is min_in_sync_replicas for topics that do not set it.
	DefaultMinISR int32
	// MaxRecordBytes and MaxBatchBytes bound a record and a produce batch.
	MaxRecordBytes, MaxBatchBytes int
	// FetchMaxRecords bounds (and defaults) a consumer fetch.
	FetchMaxRecords int32
	// SegmentBytes is when a partition's active segment rolls for topics
	// that do not set segment_bytes (the reference's [wal]
	// segment_size_bytes); SegmentMs rolls one whose first batch is older
	// (0: never by age).
	SegmentBytes int64
	SegmentMs    int64
	// CacheBytes bounds the recent batches all of the broker's replicas keep
	// in memory together (the reference's [cache] write_cache_size_bytes);
	// fetches for anything older read the disk.
	CacheBytes int64
	// Tier is the broker's tiered-storage configuration (its object store).
	Tier tier.Config
	// Groups configures the offsets topic and the group coordinators.
	Groups GroupsConfig
	// Compressor (io/codec) recompresses produced batches for topics whose
	// compression_type forces a codec, and decodes compressed batches of
	// the offsets topic; nil refuses produces to such topics.
	Compressor sm.Compressor
	// RetentionCheckInterval is how often replicas apply their topic's
	// retention (Kafka's log.retention.check.interval.ms).
	RetentionCheckInterval sm.Duration
	// WallClockAtStart is the wall-clock time, in Unix ms, at node time 0:
	// a leader stamps each batch with WallClockAtStart + now, and time-based
	// retention compares against the same clock. The process reads the clock
	// once at start; the simulator sets a fixed value.
	WallClockAtStart int64
	// ACL is how the broker decides client requests against the cluster's
	// ACL rules (which arrive in metadata): super users, and whether a
	// resource no rule covers is open (allow_everyone_if_no_acl_found). The
	// zero value allows nothing that no rule allows: a cluster without
	// rules sets AllowIfNoRules to behave as one without ACLs.
	ACL acl.Options
	// CanaryStaleACL is a deliberate bug for the simulator's self-test: the
	// broker keeps the first non-empty ACL rule set it compiled and ignores
	// every later change. Never set it in production.
	CanaryStaleACL bool
	// CanaryIgnoreRevocations is another: the broker never takes in the
	// revoked certificates metadata carries, so it neither refuses their
	// requests nor reports them for its transport to cut off. Never set it
	// in production.
	CanaryIgnoreRevocations bool
	// FsyncOnWrite syncs every log append before it counts as durable. The
	// simulator uses true; without it acks promise only "written".
	FsyncOnWrite bool
	// AcceptDataLoss is the operator's explicit acceptance (weir-broker
	// --accept-data-loss) that partitions whose every in-sync copy this
	// broker lost — on a lost disk, or in damaged logs — be led by it with
	// what it holds; the records lost are gone and their offsets will be
	// assigned to new records. Never a default.
	AcceptDataLoss bool
	// CanaryAckAllBeforeISR is a deliberate bug for the simulator's
	// self-test: acks=all is acknowledged once durable on the leader,
	// ignoring the ISR. Never set it in production.
	CanaryAckAllBeforeISR bool
	// CanaryTrustStaleIncarnations is another: replica fetches from an
	// incarnation older than the registered one are served and counted, and
	// leaders keep a replaced process's progress. Never set it in production.
	CanaryTrustStaleIncarnations bool
	// CanaryTimeLookupNext is another: the broker's partitions answer a
	// time lookup with the batch after the right one
	// (partition.Config.CanaryTimeLookupNext).
	CanaryTimeLookupNext bool
	// CanaryStoreDuplicates is another: the broker's partitions append an
	// idempotent produce's retry again instead of answering it with the
	// batch they hold (partition.Config.CanaryStoreDuplicates).
	CanaryStoreDuplicates bool
}

// DefaultHealthInterval is the reference's health_check_interval_ms (15 s).
const DefaultHealthInterval = 15 * sm.Second

// Storage defaults: the cache and segment size weir dev uses (the
// reference's production values are 1 GiB each; set them in [cache] and
// [wal]), and Kafka's retention check interval.
const (
	DefaultCacheBytes             = 64 << 20
	DefaultSegmentBytes           = 64 << 20
	DefaultRetentionCheckInterval = 5 * 60 * sm.Second
)

// DefaultProducerStateWindow is producer_state_window_ms's default, 15
// minutes: well above any producer's delivery timeout.
const DefaultProducerStateWindow = 900 * sm.Second

// DefaultConfig is a production-shaped configuration using the reference's
// defaults (ack_timeout_ms 5000, heartbeat_timeout_ms 30000,
// max_replication_lag 1000, min_in_sync_replicas 2,
// health_check_interval_ms 15000).
func DefaultConfig(id sm.NodeID, incarnation uint64, controllers []sm.NodeID) Config {
	return Config{
		ID: id, Incarnation: incarnation, Controllers: controllers,
		HeartbeatInterval: sm.Second, ControllerTimeout: 3 * sm.Second, HealthInterval: DefaultHealthInterval,
		AckTimeout: 5 * sm.Second, ReplicaLagTime: 30 * sm.Second, MaxReplicationLag: 1000,
		ReplicaFetchWait: 500 * sm.Millisecond, ReplicaFetchTimeout: 5 * sm.Second,
		AlterISRTimeout: 5 * sm.Second, DefaultMinISR: 2,
		MaxRecordBytes: 1 << 20, MaxBatchBytes: 4 << 20, FetchMaxRecords: 10000,
		SegmentBytes: DefaultSegmentBytes, CacheBytes: DefaultCacheBytes, RetentionCheckInterval: DefaultRetentionCheckInterval,
		FsyncOnWrite: true, ACL: acl.Options{AllowIfNoRules: true},
	}
}

// withDefaults fills the storage fields left zero.
func (c Config) withDefaults() Config {
	if c.ProducerStateWindow == 0 {
		c.ProducerStateWindow = DefaultProducerStateWindow
	}
	if c.HealthInterval == 0 {
		c.HealthInterval = DefaultHealthInterval
	}
	if c.CacheBytes == 0 {
		c.CacheBytes = DefaultCacheBytes
	}
	if c.SegmentBytes == 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	if c.RetentionCheckInterval == 0 {
		c.RetentionCheckInterval = DefaultRetentionCheckInterval
	}
	c.Groups = c.Groups.withDefaults()
	t := &c.Tier
	if t.UploadInterval == 0 {
		t.UploadInterval = tier.DefaultUploadInterval
	}
	if t.MaxConcurrentUploads == 0 {
		t.MaxConcurrentUploads = tier.DefaultMaxConcurrentUploads
	}
	if t.LocalRetentionMs == 0 {
		t.LocalRetentionMs = tier.DefaultLocalRetentionMs
	}
	if t.LocalRetentionBytes == 0 {
		t.LocalRetentionBytes = -1
	}
	if t.ColdCacheBytes == 0 {
		t.ColdCacheBytes = tier.DefaultColdCacheBytes
	}
	return c
}

// tierSettings derives a tier component's parameters.
func (c *Config) tierSettings(tp sm.TopicPartition) tier.Settings {
	return tier.Settings{
		Self: c.ID, Incarnation: c.Incarnation, TP: tp, CommitTimeout: c.AlterISRTimeout,
		RetentionCheckInterval: c.RetentionCheckInterval,
		RetryMin:               max(c.ReplicaFetchWait, sm.Millisecond), RetryMax: 30 * sm.Second,
		FetchMaxRecords: c.FetchMaxRecords, UploadInterval: c.Tier.UploadInterval,
	}
}

// Validate reports the first field that cannot work, naming it and its value.
func (c *Config) Validate() error {
	if err := c.ACL.Validate(); err != nil {
		return fmt.Errorf("broker: acl: %w", err)
	}
	switch {
	case c.ID == sm.NoNode:
		return fmt.Errorf("broker: id must be set (got %d)", uint64(c.ID))
	case c.Incarnation == 0:
		return fmt.Errorf("broker: incarnation must be > 0 (got 0)")
	case len(c.Controllers) == 0:
		return fmt.Errorf("broker: controllers must not be empty (got %v)", c.Controllers)
	case c.HeartbeatInterval <= 0:
		return fmt.Errorf("broker: heartbeat interval must be > 0 (got %v)", c.HeartbeatInterval)
	case c.ControllerTimeout < c.HeartbeatInterval:
		return fmt.Errorf("broker: controller timeout %v must be >= heartbeat interval %v", c.ControllerTimeout, c.HeartbeatInterval)
	case c.HealthInterval < 0:
		return fmt.Errorf("broker: health interval must be >= 0 (got %v); 0 uses %v", c.HealthInterval, DefaultHealthInterval)
	case c.DefaultMinISR < 1:
		return fmt.Errorf("broker: default min isr must be >= 1 (got %d)", c.DefaultMinISR)
	case c.CacheBytes < 0:
		return fmt.Errorf("broker: cache bytes must be >= 0 (got %d); 0 uses %d", c.CacheBytes, DefaultCacheBytes)
	case c.SegmentBytes < 0:
		return fmt.Errorf("broker: segment bytes must be >= 0 (got %d); 0 uses %d", c.SegmentBytes, DefaultSegmentBytes)
	case c.SegmentMs < 0 || c.RetentionCheckInterval < 0:
		return fmt.Errorf("broker: segment ms and retention check interval must be >= 0 (got %d, %v)", c.SegmentMs, c.RetentionCheckInterval)
	case c.Tier.UploadInterval < 0 || c.Tier.MaxConcurrentUploads < 0 || c.Tier.ColdCacheBytes < 0 || c.Tier.UploadBytesPerSecond < 0:
		return fmt.Errorf("broker: tier upload interval, max concurrent uploads, cold cache bytes and upload bandwidth must be >= 0 (got %v, %d, %d, %d)",
			c.Tier.UploadInterval, c.Tier.MaxConcurrentUploads, c.Tier.ColdCacheBytes, c.Tier.UploadBytesPerSecond)
	case c.Tier.LocalRetentionMs < -1 || c.Tier.LocalRetentionBytes < -1:
		return fmt.Errorf("broker: tier local retention ms and bytes must be -1, 0 or positive (got %d, %d)", c.Tier.LocalRetentionMs, c.Tier.LocalRetentionBytes)
	}
	for _, id := range c.Controllers {
		if id == sm.NoNode {
			return fmt.Errorf("broker: controllers must not contain node 0 (got %v)", c.Controllers)
		}
	}
	if err := c.Groups.validate(); err != nil {
		return err
	}
	pc := c.partitionConfig(sm.TopicPartition{Topic: "validate"})
	if err := pc.Validate(); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	return nil
}

// partitionConfig derives one replica's configuration. A replica fetch
// response carries at most four maximal batches.
func (c *Config) partitionConfig(tp sm.TopicPartition) partition.Config {
	return partition.Config{
		Self: c.ID, Incarnation: c.Incarnation, TP: tp,
		AckTimeout: c.AckTimeout, ReplicaLagTime: c.ReplicaLagTime, MaxReplicationLag: c.MaxReplicationLag,
		ProducerStateWindow: c.ProducerStateWindow,
		ReplicaFetchWait:    c.ReplicaFetchWait, ReplicaFetchTimeout: c.ReplicaFetchTimeout,
		AlterISRTimeout: c.AlterISRTimeout,
		MaxRecordBytes:  c.MaxRecordBytes, MaxBatchBytes: c.MaxBatchBytes,
		FetchMaxRecords: c.FetchMaxRecords, ReplicaFetchMaxBytes: 4 * c.MaxBatchBytes,
		WallClockAtStart: c.WallClockAtStart, RetentionCheckInterval: c.RetentionCheckInterval,
		FsyncOnWrite: c.FsyncOnWrite, CanaryAckAllBeforeISR: c.CanaryAckAllBeforeISR,
		CanaryTimeLookupNext: c.CanaryTimeLookupNext, Compressor: c.Compressor,
		CanaryStoreDuplicates: c.CanaryStoreDuplicates,
	}
}
