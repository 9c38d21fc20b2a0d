package server

import (
	"context"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/cloud"
	"github.com/weirmq/weir/cloud/gcs"
	"github.com/weirmq/weir/cmd/internal/config"
	"github.com/weirmq/weir/sm/controller"
	"github.com/weirmq/weir/sm/tier"
)

// The GCS adapter, linked into every binary that runs nodes (config only
// names it, so that packages reading configuration need not link the
// client).
func init() {
	config.OpenGCS = func(ctx context.Context, o config.ObjectStore, opt config.StoreOptions) (cloud.Store, error) {
		s, err := gcs.Open(ctx, gcs.Config{Bucket: o.Bucket, Prefix: o.Prefix, Endpoint: o.Endpoint, Region: o.Region, MultipartThreshold: opt.MultipartThreshold})
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

// openObjectStore opens the configured object store (nil for none), checks
// that it answers a list of its prefix, and pushes its Close on undo.
func openObjectStore(log zerolog.Logger, o *config.ObjectStore, opt config.StoreOptions, undo *cleanups) (cloud.Store, error) {
	if !o.Enabled() {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), config.ReachTimeout)
	defer cancel()
	s, err := o.Open(ctx, opt)
	if err != nil {
		return nil, err
	}
	undo.push(s.Close)
	if err := o.Reach(ctx, s); err != nil {
		return nil, err
	}
	log.Info().Str("storage_type", o.Type()).Str("bucket", o.Bucket).Str("path", o.Path).Str("prefix", o.Prefix).Msg("object store reachable")
	return s, nil
}

// objectExecutorConfig is a broker's object-store executor: its uploads
// bounded by max_concurrent_uploads and upload_bandwidth_bytes_per_sec.
func objectExecutorConfig(o config.BrokerObjectStorage) cloud.ExecutorConfig {
	return cloud.ExecutorConfig{MaxConcurrentUploads: o.MaxConcurrentUploads, UploadBytesPerSecond: o.UploadBandwidthBytesPerSec}
}

// tierConfig is the broker's tiered-storage configuration.
func tierConfig(cfg config.Broker) tier.Config {
	o := cfg.ObjectStorage
	return tier.Config{
		Enabled:              o.Enabled(),
		UploadInterval:       ms(cfg.WAL.UploadIntervalMs),
		MaxConcurrentUploads: o.MaxConcurrentUploads,
		UploadBytesPerSecond: o.UploadBandwidthBytesPerSec,
		LocalRetentionMs:     o.LocalRetentionMs,
		LocalRetentionBytes:  o.LocalRetentionBytes,
		ColdCacheBytes:       cfg.Cache.ReadCacheSizeBytes,
	}
}

// tieringConfig is the controller's side: the garbage collector runs when
// the controller has a store.
func tieringConfig(o config.ControllerObjectStorage, store bool) controller.TieringConfig {
	return controller.TieringConfig{GC: store, GCGrace: ms(o.GCGraceMs), GCInterval: ms(o.GCIntervalMs)}
}
