// Package tier is a partition leader's tiered-storage component: it uploads
// sealed, fully committed segments to the object store, proposes them to
// the controller, applies retention to the remote tier, and serves fetches
// below the local log start from the object store through a broker-wide
// cold cache. It is pure: object-store operations are effects
// (sm.ObjectOp) and completions (sm.ObjectDone).
package tier

import "github.com/weirmq/weir/sm"

// Config is a broker's tiered-storage configuration (its [object_storage]
// section, [wal] upload_interval_ms and [cache] read_cache_size_bytes).
type Config struct {
	// Enabled says the broker has an object store: partition leaders
	// upload, and replicas delete uploaded segments outside the local
	// window. Off, logs stay whole on the brokers' disks.
	Enabled bool
	// UploadInterval bounds how long committed data waits before it is
	// uploaded: a leader rolls an active segment whose first batch is this
	// old so it can be uploaded (the reference's [wal] upload_interval_ms);
	// zero uses DefaultUploadInterval.
	UploadInterval sm.Duration
	// MaxConcurrentUploads bounds the broker's uploads in flight (the
	// reference's [object_storage] max_concurrent_uploads); zero uses
	// DefaultMaxConcurrentUploads.
	MaxConcurrentUploads int
	// UploadBytesPerSecond bounds the broker's upload bandwidth; zero is
	// unlimited.
	UploadBytesPerSecond int64
	// LocalRetentionMs and LocalRetentionBytes are the local window for
	// topics that do not set local_retention_ms/bytes: uploaded segments
	// stay on disk while newer than this or while the local log is within
	// this size; -1 keeps them until retention_ms/bytes delete them. Zero
	// uses DefaultLocalRetentionMs and no size bound.
	LocalRetentionMs    int64
	LocalRetentionBytes int64
	// ColdCacheBytes bounds the broker-wide cache of bytes read from the
	// object store (the reference's [cache] read_cache_size_bytes); zero
	// uses DefaultColdCacheBytes.
	ColdCacheBytes int64
}

// Defaults.
const (
	DefaultUploadInterval       = 10 * 60 * sm.Second // the reference's 10 minutes
	DefaultMaxConcurrentUploads = 10                  // the reference's default
	DefaultLocalRetentionMs     = 60 * 60 * 1000      // one hour of hot tail
	DefaultColdCacheBytes       = 256 << 20
)
