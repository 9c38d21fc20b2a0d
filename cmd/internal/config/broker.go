package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/weirmq/weir/sm"
)

// Broker is broker.toml: the reference's sections where they apply.
type Broker struct {
	Broker struct {
		// ID is the broker's node ID, in the broker range 100..999999
		// (sm.BrokerIDMin..sm.BrokerIDMax).
		ID     uint64 `toml:"id"`
		RackID string `toml:"rack_id"`
		// HealthCheckIntervalMs is how often the broker reports its health
		// to the controller (the controller's admin.health_check_interval_ms).
		HealthCheckIntervalMs int64 `toml:"health_check_interval_ms"`
	} `toml:"broker"`
	Network Network `toml:"network"`
	WAL     WAL     `toml:"wal"`
	Cache   Cache   `toml:"cache"`
	// ObjectStorage is the tiered log's cold copy ([object_storage]).
	ObjectStorage BrokerObjectStorage `toml:"object_storage"`
	Controller    Controllers         `toml:"controller"`
	Replication   Replication         `toml:"replication"`
	TLS           TLS                 `toml:"tls"`
	Log           Log                 `toml:"log"`
	Security      Security            `toml:"security"`
	Metrics       Metrics             `toml:"metrics"`
	// Groups is the consumer groups' [groups] section: the offsets topic
	// and the coordinators this broker hosts.
	Groups Groups `toml:"groups"`
	// AcceptDataLoss is weir-broker's --accept-data-loss (alias
	// --truncate-corrupt), never a configuration key: start even where the
	// last in-sync copy of a partition was lost, cutting damaged logs at the
	// damage and leading with what remains. A one-off operator decision.
	AcceptDataLoss bool `toml:"-"`
}

// Metrics is the broker's [metrics] section: where GET /metrics listens
// (empty: nowhere). Controllers serve /metrics on their admin address.
type Metrics struct {
	Listen string `toml:"listen"`
}

// Network is the broker's [network] section.
type Network struct {
	// QUICListen is the UDP address every message arrives on: clients,
	// peer brokers' replication and controllers.
	QUICListen string `toml:"quic_listen"`
	NetworkLimits
}

// NetworkLimits are the [network] keys brokers and controllers share.
type NetworkLimits struct {
	MaxConnections int        `toml:"max_connections"`
	MaxFrameBytes  int        `toml:"max_frame_bytes"`
	QUIC           QUICConfig `toml:"quic_config"`
}

// QUICConfig is [network.quic_config].
type QUICConfig struct {
	MaxIdleTimeoutMs  int64 `toml:"max_idle_timeout_ms"`
	MaxStreamData     int64 `toml:"max_stream_data"`
	MaxConnectionData int64 `toml:"max_connection_data"`
}

// WAL is the [wal] section.
type WAL struct {
	Path          string `toml:"path"`
	CapacityBytes int64  `toml:"capacity_bytes"`
	FsyncOnWrite  bool   `toml:"fsync_on_write"`
	// SegmentSizeBytes is when a partition's active segment rolls, for
	// topics that do not set segment_bytes.
	SegmentSizeBytes int64 `toml:"segment_size_bytes"`
	// SegmentMs rolls a partition's active segment once its first record
	// is this old, for topics that do not set segment_ms (0: never by age),
	// so time-based retention can delete the data of a quiet partition.
	SegmentMs int64 `toml:"segment_ms"`
	// RetentionCheckIntervalMs is how often replicas apply their topic's
	// retention (Kafka's log.retention.check.interval.ms).
	RetentionCheckIntervalMs int64 `toml:"retention_check_interval_ms"`
	FlushIntervalMs          int64 `toml:"flush_interval_ms"`
	// Backend is auto, uring or sync (auto tries io_uring, falls back).
	Backend string `toml:"backend"`
	// MaxOpenFiles bounds the segment files kept open (0: half the file
	// descriptor limit); the least recently used are closed past it.
	MaxOpenFiles int `toml:"max_open_files"`
	// UploadIntervalMs bounds how long committed data waits before it is
	// uploaded to the object store: a leader rolls an active segment whose
	// first record is this old (with [object_storage]).
	UploadIntervalMs int64 `toml:"upload_interval_ms"`
}

// Cache is the [cache] section.
type Cache struct {
	// WriteCacheSizeBytes bounds the recent batches the broker keeps in
	// memory, all partitions together; fetches for older data read the
	// disk.
	WriteCacheSizeBytes int64 `toml:"write_cache_size_bytes"`
	// ReadCacheSizeBytes bounds the broker-wide cache of data read from
	// the object store (cold reads, with [object_storage]).
	ReadCacheSizeBytes int64 `toml:"read_cache_size_bytes"`
}

// Bounds of the segment and cache keys, named in their errors.
const (
	segmentSizeBytesMin    = 1 << 20 // as a topic's segment_bytes
	segmentSizeBytesMax    = 1 << 34
	segmentMsMin           = 1000 // as a topic's segment_ms
	segmentMsMax           = 365 * 24 * 3600 * 1000
	writeCacheSizeBytesMin = 1 << 20
	retentionCheckMsMin    = 100
)

// Controllers is the broker's [controller] section: where the controllers
// are. Endpoints are "ID@host:port" or "host:port" (IDs 1, 2, … in order).
type Controllers struct {
	Endpoints           []string `toml:"endpoints"`
	HeartbeatIntervalMs int64    `toml:"heartbeat_interval_ms"`
}

// Replication is the [replication] section.
type Replication struct {
	MinInSyncReplicas  int32 `toml:"min_in_sync_replicas"`
	AckTimeoutMs       int64 `toml:"ack_timeout_ms"`
	MaxReplicationLag  int64 `toml:"max_replication_lag"`
	HeartbeatTimeoutMs int64 `toml:"heartbeat_timeout_ms"`
	// ProducerStateWindowMs is how long an idempotent producer that sent
	// nothing is remembered for certain: the local copies of its last
	// batches stay on disk that long (tiered topics), so a retry is
	// recognized on any replica, restarted or rebuilt.
	ProducerStateWindowMs int64 `toml:"producer_state_window_ms"`
}

// TLS names the files of mutual TLS, which is always on.
type TLS struct {
	CAFile   string `toml:"ca_file"`
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
}

// Groups is the [groups] section (Kafka's names in parentheses). Every
// broker of a cluster should use the same offsets topic settings: the
// first to serve a FindCoordinator creates the topic with its own.
type Groups struct {
	// OffsetsTopicPartitions is __consumer_offsets' partition count
	// (offsets.topic.num.partitions); fixed once the topic exists.
	OffsetsTopicPartitions int32 `toml:"offsets_topic_partitions"`
	// OffsetsTopicReplicationFactor (offsets.topic.replication.factor) is
	// capped at the brokers registered when the topic is created.
	OffsetsTopicReplicationFactor int32 `toml:"offsets_topic_replication_factor"`
	// OffsetsTopicSegmentBytes is its segment size (offsets.topic.segment.bytes).
	OffsetsTopicSegmentBytes int64 `toml:"offsets_topic_segment_bytes"`
	// SnapshotBytes: a coordinator restates its state once this much was
	// appended since it last did, so retention can delete what is below.
	SnapshotBytes int64 `toml:"snapshot_bytes"`
	// Session timeouts a member may ask for
	// (group.min/max.session.timeout.ms).
	MinSessionTimeoutMs int64 `toml:"min_session_timeout_ms"`
	MaxSessionTimeoutMs int64 `toml:"max_session_timeout_ms"`
	// InitialRebalanceDelayMs holds an empty group's first rebalance open
	// so a starting fleet lands in one generation
	// (group.initial.rebalance.delay.ms; 0: none).
	InitialRebalanceDelayMs int64 `toml:"initial_rebalance_delay_ms"`
	// MaxSize caps a group's members (group.max.size).
	MaxSize int `toml:"max_size"`
}

// DefaultGroups is Kafka's defaults where they fit one machine (16
// offsets partitions instead of 50, a 1 s minimum session timeout
// instead of 6 s).
func DefaultGroups() Groups {
	return Groups{OffsetsTopicPartitions: 16, OffsetsTopicReplicationFactor: 3, OffsetsTopicSegmentBytes: 16 << 20,
		SnapshotBytes: 4 << 20, MinSessionTimeoutMs: 1000, MaxSessionTimeoutMs: 1800000, InitialRebalanceDelayMs: 3000, MaxSize: 1000}
}

func (g Groups) validate(p *Problems) {
	p.Add(g.OffsetsTopicPartitions < 1 || g.OffsetsTopicPartitions > 1000, "groups.offsets_topic_partitions", "must be in 1..1000 (got %d)", g.OffsetsTopicPartitions)
	p.Add(g.OffsetsTopicReplicationFactor < 1, "groups.offsets_topic_replication_factor", "must be >= 1 (got %d)", g.OffsetsTopicReplicationFactor)
	p.Add(g.OffsetsTopicSegmentBytes < segmentSizeBytesMin || g.OffsetsTopicSegmentBytes > segmentSizeBytesMax, "groups.offsets_topic_segment_bytes",
		"must be in %d..%d (1 MiB..16 GiB) (got %d)", segmentSizeBytesMin, int64(segmentSizeBytesMax), g.OffsetsTopicSegmentBytes)
	p.Add(g.SnapshotBytes < 1, "groups.snapshot_bytes", "must be >= 1 (got %d)", g.SnapshotBytes)
	p.Add(g.MinSessionTimeoutMs < 1, "groups.min_session_timeout_ms", "must be >= 1 (got %d)", g.MinSessionTimeoutMs)
	p.Add(g.MaxSessionTimeoutMs < g.MinSessionTimeoutMs, "groups.max_session_timeout_ms", "must be >= groups.min_session_timeout_ms %d (got %d)", g.MinSessionTimeoutMs, g.MaxSessionTimeoutMs)
	p.Add(g.InitialRebalanceDelayMs < 0, "groups.initial_rebalance_delay_ms", "must be >= 0 (got %d)", g.InitialRebalanceDelayMs)
	p.Add(g.MaxSize < 1, "groups.max_size", "must be >= 1 (got %d)", g.MaxSize)
}

// Log is the [log] section.
type Log struct {
	Level  string `toml:"level"`
	Format string `toml:"format"` // json or console
}

// DefaultBroker is the reference's defaults, scaled for one machine.
func DefaultBroker() Broker {
	var b Broker
	b.Broker.ID = 101
	b.Broker.RackID = "default"
	b.Broker.HealthCheckIntervalMs = 15000
	b.Network.QUICListen = "127.0.0.1:9092"
	b.Network.NetworkLimits = DefaultNetworkLimits()
	b.WAL = WAL{Path: "./weir-data/broker-101/wal", CapacityBytes: 10 << 30, FsyncOnWrite: true,
		SegmentSizeBytes: 1 << 30, SegmentMs: 7 * 24 * 3600 * 1000, RetentionCheckIntervalMs: 300000,
		FlushIntervalMs: 1000, Backend: "auto", UploadIntervalMs: DefaultUploadIntervalMs}
	b.Cache = Cache{WriteCacheSizeBytes: 1 << 30, ReadCacheSizeBytes: DefaultReadCacheSizeBytes}
	b.ObjectStorage = DefaultBrokerObjectStorage()
	b.Controller = Controllers{Endpoints: []string{"1@127.0.0.1:9094"}, HeartbeatIntervalMs: 1000}
	b.Replication = Replication{MinInSyncReplicas: 2, AckTimeoutMs: 5000, MaxReplicationLag: 1000, HeartbeatTimeoutMs: 30000, ProducerStateWindowMs: 900000}
	b.Log = Log{Level: "info", Format: "console"}
	b.Security = DefaultSecurity()
	b.Metrics.Listen = "127.0.0.1:9643"
	b.Groups = DefaultGroups()
	return b
}

// DefaultNetworkLimits is the reference's [network] limits.
func DefaultNetworkLimits() NetworkLimits {
	return NetworkLimits{MaxConnections: 10000, MaxFrameBytes: 16 << 20,
		QUIC: QUICConfig{MaxIdleTimeoutMs: 30000, MaxStreamData: 1024000, MaxConnectionData: 10240000}}
}

// Validate names every bad key.
func (b *Broker) Validate() error {
	var p Problems
	p.Add(!sm.NodeID(b.Broker.ID).IsBroker(), "broker.id", "must be in %d..%d (got %d)", sm.BrokerIDMin, sm.BrokerIDMax, b.Broker.ID)
	p.Add(b.Broker.HealthCheckIntervalMs <= 0, "broker.health_check_interval_ms", "must be > 0 (got %d)", b.Broker.HealthCheckIntervalMs)
	p.Add(!validAddr(b.Network.QUICListen), "network.quic_listen", "want host:port (got %q)", b.Network.QUICListen)
	validateNetwork(&p, b.Network.NetworkLimits)
	p.Add(b.WAL.Path == "", "wal.path", "must be set")
	p.Add(b.WAL.CapacityBytes <= 0, "wal.capacity_bytes", "must be > 0 (got %d)", b.WAL.CapacityBytes)
	p.Add(b.WAL.SegmentSizeBytes < segmentSizeBytesMin || b.WAL.SegmentSizeBytes > segmentSizeBytesMax, "wal.segment_size_bytes",
		"must be in %d..%d (1 MiB..16 GiB) (got %d)", segmentSizeBytesMin, int64(segmentSizeBytesMax), b.WAL.SegmentSizeBytes)
	p.Add(b.WAL.SegmentMs != 0 && (b.WAL.SegmentMs < segmentMsMin || b.WAL.SegmentMs > segmentMsMax), "wal.segment_ms",
		"must be 0 (never by age) or in %d..%d (1 s..365 d) (got %d)", segmentMsMin, int64(segmentMsMax), b.WAL.SegmentMs)
	p.Add(b.WAL.RetentionCheckIntervalMs < retentionCheckMsMin, "wal.retention_check_interval_ms", "must be >= %d (got %d)", retentionCheckMsMin, b.WAL.RetentionCheckIntervalMs)
	p.Add(b.Cache.WriteCacheSizeBytes < writeCacheSizeBytesMin, "cache.write_cache_size_bytes", "must be >= %d (1 MiB) (got %d)", writeCacheSizeBytesMin, b.Cache.WriteCacheSizeBytes)
	p.Add(b.WAL.UploadIntervalMs < uploadIntervalMsMin || b.WAL.UploadIntervalMs > uploadIntervalMsMax, "wal.upload_interval_ms",
		"must be in %d..%d (1 s..7 d) (got %d)", uploadIntervalMsMin, int64(uploadIntervalMsMax), b.WAL.UploadIntervalMs)
	p.Add(b.Cache.ReadCacheSizeBytes < readCacheSizeBytesMin, "cache.read_cache_size_bytes", "must be >= %d (1 MiB) (got %d)", readCacheSizeBytesMin, b.Cache.ReadCacheSizeBytes)
	b.ObjectStorage.validate(&p)
	p.Add(b.WAL.Backend != "auto" && b.WAL.Backend != "uring" && b.WAL.Backend != "sync", "wal.backend", "want auto, uring or sync (got %q)", b.WAL.Backend)
	if _, err := ParseEndpoints(b.Controller.Endpoints); err != nil {
		p.Add(true, "controller.endpoints", "%v", err)
	}
	p.Add(b.Controller.HeartbeatIntervalMs <= 0, "controller.heartbeat_interval_ms", "must be > 0 (got %d)", b.Controller.HeartbeatIntervalMs)
	p.Add(b.Replication.MinInSyncReplicas < 1, "replication.min_in_sync_replicas", "must be >= 1 (got %d)", b.Replication.MinInSyncReplicas)
	p.Add(b.Replication.AckTimeoutMs <= 0, "replication.ack_timeout_ms", "must be > 0 (got %d)", b.Replication.AckTimeoutMs)
	p.Add(b.Replication.MaxReplicationLag < 0, "replication.max_replication_lag", "must be >= 0 (got %d)", b.Replication.MaxReplicationLag)
	p.Add(b.Replication.ProducerStateWindowMs <= 0, "replication.producer_state_window_ms", "must be > 0 (got %d)", b.Replication.ProducerStateWindowMs)
	p.Add(b.Replication.HeartbeatTimeoutMs <= 0, "replication.heartbeat_timeout_ms", "must be > 0 (got %d)", b.Replication.HeartbeatTimeoutMs)
	p.Add(b.Metrics.Listen != "" && !validAddr(b.Metrics.Listen), "metrics.listen", "want host:port or empty (got %q)", b.Metrics.Listen)
	validateTLS(&p, b.TLS)
	validateLog(&p, b.Log)
	b.Security.validate(&p)
	b.Groups.validate(&p)
	return p.Err("broker")
}

func validateNetwork(p *Problems, n NetworkLimits) {
	p.Add(n.MaxConnections < 1, "network.max_connections", "must be >= 1 (got %d)", n.MaxConnections)
	p.Add(n.MaxFrameBytes < 1024, "network.max_frame_bytes", "must be >= 1024 (got %d)", n.MaxFrameBytes)
	p.Add(n.QUIC.MaxIdleTimeoutMs <= 0, "network.quic_config.max_idle_timeout_ms", "must be > 0 (got %d)", n.QUIC.MaxIdleTimeoutMs)
	p.Add(n.QUIC.MaxStreamData < 0, "network.quic_config.max_stream_data", "must be >= 0 (got %d)", n.QUIC.MaxStreamData)
	p.Add(n.QUIC.MaxConnectionData < 0, "network.quic_config.max_connection_data", "must be >= 0 (got %d)", n.QUIC.MaxConnectionData)
}

func validateTLS(p *Problems, t TLS) {
	p.Add(t.CAFile == "", "tls.ca_file", "must be set: mutual TLS is always on")
	p.Add(t.CertFile == "", "tls.cert_file", "must be set: mutual TLS is always on")
	p.Add(t.KeyFile == "", "tls.key_file", "must be set: mutual TLS is always on")
}

func validateLog(p *Problems, l Log) {
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		p.Add(true, "log.level", "want debug, info, warn or error (got %q)", l.Level)
	}
	p.Add(l.Format != "json" && l.Format != "console", "log.format", "want json or console (got %q)", l.Format)
}

func validAddr(s string) bool {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n < 65536
}

// Endpoint is one controller: its raft ID and address.
type Endpoint struct {
	ID   sm.NodeID
	Addr string
}

// ParseEndpoints reads "ID@host:port" or "host:port" entries; bare entries
// get IDs 1, 2, … by position.
func ParseEndpoints(list []string) ([]Endpoint, error) {
	if len(list) == 0 {
		return nil, fmt.Errorf("need at least one controller")
	}
	var out []Endpoint
	seen := map[sm.NodeID]bool{}
	for i, e := range list {
		id, addr := sm.NodeID(i+1), e
		if name, rest, ok := strings.Cut(e, "@"); ok {
			name = strings.TrimPrefix(name, "controller-")
			n, err := strconv.ParseUint(name, 10, 64)
			if err != nil || !sm.NodeID(n).IsController() {
				return nil, fmt.Errorf("entry %q: want ID@host:port with ID in %d..%d", e, sm.ControllerIDMin, sm.ControllerIDMax)
			}
			id, addr = sm.NodeID(n), rest
		}
		if !validAddr(addr) {
			return nil, fmt.Errorf("entry %q: want host:port", e)
		}
		if seen[id] {
			return nil, fmt.Errorf("entry %q: controller %d listed twice", e, id)
		}
		seen[id] = true
		out = append(out, Endpoint{ID: id, Addr: addr})
	}
	return out, nil
}
