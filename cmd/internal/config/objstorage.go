package config

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/weirmq/weir/cloud"
	"github.com/weirmq/weir/cloud/local"
)

// ObjectStore is the [object_storage] keys brokers and controllers share:
// which store holds the tiered log's cold copy. The reference's keys where
// they apply; access_key and secret_key do not (GCS credentials come from
// Application Default Credentials, GOOGLE_APPLICATION_CREDENTIALS).
type ObjectStore struct {
	// StorageType is gcs, local or none (case-insensitive; the reference's
	// Gcs and Local are accepted). none keeps every log whole on the
	// brokers' disks.
	StorageType string `toml:"storage_type"`
	// Bucket, Region and Endpoint locate a GCS bucket; Endpoint is for an
	// emulator (empty: Google's). Region, when set, must be the bucket's
	// location (the adapter checks).
	Bucket   string `toml:"bucket"`
	Region   string `toml:"region"`
	Endpoint string `toml:"endpoint"`
	// Prefix is prepended to every object name (a bucket shared by
	// clusters); it must end with "/" when set.
	Prefix string `toml:"prefix"`
	// Path is the directory of a local store.
	Path string `toml:"path"`
}

// BrokerObjectStorage is the broker's [object_storage] section.
type BrokerObjectStorage struct {
	ObjectStore
	// MultipartThreshold: a GCS put of at least this many bytes is a
	// resumable (chunked) upload, a smaller one a single request (the
	// reference's multipart upload threshold).
	MultipartThreshold int64 `toml:"multipart_threshold"`
	// MaxConcurrentUploads bounds the broker's uploads in flight.
	MaxConcurrentUploads int `toml:"max_concurrent_uploads"`
	// UploadBandwidthBytesPerSec bounds the broker's upload bandwidth (0:
	// unlimited).
	UploadBandwidthBytesPerSec int64 `toml:"upload_bandwidth_bytes_per_sec"`
	// LocalRetentionMs and LocalRetentionBytes are the local window for
	// topics that do not set local_retention_ms/bytes: uploaded segments
	// stay on the brokers' disks while newer than this, or while the local
	// log is within this size; -1 keeps them until retention_ms/bytes.
	LocalRetentionMs    int64 `toml:"local_retention_ms"`
	LocalRetentionBytes int64 `toml:"local_retention_bytes"`
}

// ControllerObjectStorage is the controller's [object_storage] section: the
// store its garbage collector lists and deletes orphaned segments in (the
// brokers' store).
type ControllerObjectStorage struct {
	ObjectStore
	// GCGraceMs is how long an orphan must have been seen unreferenced
	// before it is deleted; GCIntervalMs how often a pass starts.
	GCGraceMs    int64 `toml:"gc_grace_ms"`
	GCIntervalMs int64 `toml:"gc_interval_ms"`
}

// Storage types.
const (
	StorageNone  = "none"
	StorageLocal = "local"
	StorageGCS   = "gcs"
)

// Defaults and bounds of the object-storage keys.
const (
	DefaultMultipartThreshold   = 100 << 20 // the reference's 100 MB
	multipartThresholdMin       = 256 << 10 // GCS's resumable chunk unit
	multipartThresholdMax       = 5 << 30
	DefaultMaxConcurrentUploads = 10
	maxConcurrentUploadsMax     = 1000
	uploadBandwidthMin          = 64 << 10
	DefaultLocalRetentionMs     = 3600 * 1000
	DefaultUploadIntervalMs     = 600000 // the reference's 10 minutes
	uploadIntervalMsMin         = 1000
	uploadIntervalMsMax         = 7 * 24 * 3600 * 1000
	DefaultReadCacheSizeBytes   = 256 << 20
	readCacheSizeBytesMin       = 1 << 20
	DefaultGCGraceMs            = 600000
	DefaultGCIntervalMs         = 300000
	gcMsMin                     = 1000
)

// Type is the normalised storage type: gcs, local or none (empty is none);
// anything else is returned lowercased, for Validate to refuse.
func (o ObjectStore) Type() string {
	t := strings.ToLower(strings.TrimSpace(o.StorageType))
	if t == "" {
		return StorageNone
	}
	return t
}

// Enabled says a store is configured.
func (o ObjectStore) Enabled() bool { return o.Type() != StorageNone }

func (o *ObjectStore) validate(p *Problems) {
	const k = "object_storage."
	switch o.Type() {
	case StorageNone:
		return
	case "s3", "azure":
		p.Add(true, k+"storage_type", "%q is not supported: Weir's object-store adapters are Google Cloud Storage (gcs) and a directory (local); use gcs, local or none", o.StorageType)
		return
	case StorageLocal:
		p.Add(o.Path == "", k+"path", "must name the directory of the local store (storage_type = \"local\")")
		for _, f := range [][2]string{{"bucket", o.Bucket}, {"region", o.Region}, {"endpoint", o.Endpoint}} {
			p.Add(f[1] != "", k+f[0], "applies to storage_type = \"gcs\" only, not to a local store (got %q): remove it", f[1])
		}
	case StorageGCS:
		p.Add(o.Bucket == "", k+"bucket", "must name the GCS bucket (storage_type = \"gcs\")")
		p.Add(o.Path != "", k+"path", "applies to storage_type = \"local\" only (got %q): remove it", o.Path)
		p.Add(o.Endpoint != "" && !strings.HasPrefix(o.Endpoint, "http://") && !strings.HasPrefix(o.Endpoint, "https://"), k+"endpoint",
			"want an http:// or https:// URL (got %q)", o.Endpoint)
	default:
		p.Add(true, k+"storage_type", "want gcs, local or none (got %q)", o.StorageType)
		return
	}
	if o.Prefix != "" {
		p.Add(!strings.HasSuffix(o.Prefix, "/"), k+"prefix", "must end with \"/\" (got %q)", o.Prefix)
		p.Add(local.ValidateName(strings.TrimSuffix(o.Prefix, "/")) != nil, k+"prefix", "must be a relative name of non-empty components without \".\" or \"..\" (got %q)", o.Prefix)
	}
}

func (o *BrokerObjectStorage) validate(p *Problems) {
	const k = "object_storage."
	o.ObjectStore.validate(p)
	p.Add(o.MultipartThreshold < multipartThresholdMin || o.MultipartThreshold > multipartThresholdMax, k+"multipart_threshold",
		"must be in %d..%d (256 KiB..5 GiB) (got %d)", multipartThresholdMin, int64(multipartThresholdMax), o.MultipartThreshold)
	p.Add(o.Type() == StorageLocal && o.MultipartThreshold != DefaultMultipartThreshold, k+"multipart_threshold",
		"applies to storage_type = \"gcs\" only (a local store writes whole files); remove it")
	p.Add(o.MaxConcurrentUploads < 1 || o.MaxConcurrentUploads > maxConcurrentUploadsMax, k+"max_concurrent_uploads",
		"must be in 1..%d (got %d)", maxConcurrentUploadsMax, o.MaxConcurrentUploads)
	p.Add(o.UploadBandwidthBytesPerSec != 0 && o.UploadBandwidthBytesPerSec < uploadBandwidthMin, k+"upload_bandwidth_bytes_per_sec",
		"must be 0 (unlimited) or >= %d (64 KiB/s) (got %d)", uploadBandwidthMin, o.UploadBandwidthBytesPerSec)
	p.Add(o.LocalRetentionMs != -1 && o.LocalRetentionMs < 1, k+"local_retention_ms",
		"must be -1 (keep uploaded segments until retention_ms deletes them) or >= 1 (got %d)", o.LocalRetentionMs)
	p.Add(o.LocalRetentionBytes != -1 && o.LocalRetentionBytes < 1, k+"local_retention_bytes",
		"must be -1 (no size bound on the local window) or >= 1 (got %d)", o.LocalRetentionBytes)
}

func (o *ControllerObjectStorage) validate(p *Problems) {
	const k = "object_storage."
	o.ObjectStore.validate(p)
	p.Add(o.GCGraceMs < gcMsMin, k+"gc_grace_ms", "must be >= %d (got %d)", gcMsMin, o.GCGraceMs)
	p.Add(o.GCIntervalMs < gcMsMin, k+"gc_interval_ms", "must be >= %d (got %d)", gcMsMin, o.GCIntervalMs)
}

// DefaultBrokerObjectStorage is no store, with the reference's defaults
// for the rest.
func DefaultBrokerObjectStorage() BrokerObjectStorage {
	return BrokerObjectStorage{ObjectStore: ObjectStore{StorageType: StorageNone},
		MultipartThreshold: DefaultMultipartThreshold, MaxConcurrentUploads: DefaultMaxConcurrentUploads,
		LocalRetentionMs: DefaultLocalRetentionMs, LocalRetentionBytes: -1}
}

// DefaultControllerObjectStorage is no store (no garbage collector).
func DefaultControllerObjectStorage() ControllerObjectStorage {
	return ControllerObjectStorage{ObjectStore: ObjectStore{StorageType: StorageNone},
		GCGraceMs: DefaultGCGraceMs, GCIntervalMs: DefaultGCIntervalMs}
}

// StoreOptions are what opening a store needs beyond its keys.
type StoreOptions struct {
	// MultipartThreshold is where GCS puts become resumable uploads
	// (brokers).
	MultipartThreshold int64
}

// OpenGCS opens a GCS store; nil until the GCS adapter is linked in (the
// server package sets it), so a gcs configuration fails clearly instead.
var OpenGCS func(ctx context.Context, o ObjectStore, opt StoreOptions) (cloud.Store, error)

// ErrGCSNotBuilt is why storage_type = "gcs" fails in a binary without the
// GCS adapter.
var ErrGCSNotBuilt = errors.New("storage_type \"gcs\": the Google Cloud Storage adapter (cloud/gcs) is not built into this binary yet; use storage_type = \"local\" or \"none\"")

// Open opens the configured store (nil for none). A local store's
// directory is created.
func (o *ObjectStore) Open(ctx context.Context, opt StoreOptions) (cloud.Store, error) {
	switch o.Type() {
	case StorageNone:
		return nil, nil
	case StorageLocal:
		// A prefix is a subdirectory: names below it are the store's.
		s, err := local.Open(filepath.Join(o.Path, filepath.FromSlash(o.Prefix)))
		if err != nil {
			return nil, &KeyError{Key: "object_storage.path", Value: o.Path, Err: err}
		}
		return s, nil
	case StorageGCS:
		if OpenGCS == nil {
			return nil, &KeyError{Key: "object_storage.storage_type", Value: o.StorageType, Err: ErrGCSNotBuilt}
		}
		s, err := OpenGCS(ctx, *o, opt)
		if err != nil {
			return nil, &KeyError{Key: "object_storage.bucket", Value: o.Bucket, Err: err}
		}
		return s, nil
	}
	return nil, &KeyError{Key: "object_storage.storage_type", Value: o.StorageType, Err: errors.New("want gcs, local or none")}
}

// ReachTimeout bounds the preflight's list of the store.
const ReachTimeout = 10 * time.Second

// Reach checks that s answers: one list of the prefix, under ReachTimeout.
// Its error names the key that locates the store.
func (o *ObjectStore) Reach(ctx context.Context, s cloud.Store) error {
	ctx, cancel := context.WithTimeout(ctx, ReachTimeout)
	defer cancel()
	if _, _, err := s.List(ctx, "", "", 1); err != nil {
		key, val := "object_storage.bucket", o.Bucket
		if o.Type() == StorageLocal {
			key, val = "object_storage.path", o.Path
		}
		return &KeyError{Key: key, Value: val, Err: fmt.Errorf("the object store is not reachable (a list of the prefix %q failed): %w", o.Prefix, err)}
	}
	return nil
}

// checkStore opens the store and lists its prefix.
func (p *Preflight) checkStore(o *ObjectStore, opt StoreOptions) {
	if !o.Enabled() {
		return
	}
	s, err := o.Open(context.Background(), opt)
	if err != nil {
		var ke *KeyError
		if errors.As(err, &ke) {
			p.Errs = append(p.Errs, ke)
		} else {
			p.add("object_storage.storage_type", o.StorageType, err)
		}
		return
	}
	defer s.Close()
	if err := o.Reach(context.Background(), s); err != nil {
		var ke *KeyError
		errors.As(err, &ke)
		p.Errs = append(p.Errs, ke)
	}
}

// StoreOptions are the broker's options for opening its store.
func (o *BrokerObjectStorage) StoreOptions() StoreOptions {
	return StoreOptions{MultipartThreshold: o.MultipartThreshold}
}
