package server

import (
	"testing"

	"github.com/weirmq/weir/cmd/internal/config"
	"github.com/weirmq/weir/sm"
)

// Goal: the storage keys reach the broker state machine's configuration.
func TestBrokerConfigStorageKeys(t *testing.T) {
	c := config.DefaultBroker()
	c.WAL.SegmentSizeBytes, c.WAL.SegmentMs, c.WAL.RetentionCheckIntervalMs = 8<<20, 60000, 2500
	c.Cache.WriteCacheSizeBytes = 64 << 20
	bc := brokerConfig(c, 101, 1, []sm.NodeID{1})
	if bc.SegmentBytes != 8<<20 || bc.SegmentMs != 60000 || bc.RetentionCheckInterval != 2500*sm.Millisecond || bc.CacheBytes != 64<<20 {
		t.Fatalf("broker config: segment %d/%dms, retention check %v, cache %d", bc.SegmentBytes, bc.SegmentMs, bc.RetentionCheckInterval, bc.CacheBytes)
	}
}

// Goal: the tiered-storage keys reach broker.Config.Tier, the executor and
// controller.Config.Tiering; without a store tiering is off.
func TestTierConfigKeys(t *testing.T) {
	c := config.DefaultBroker()
	if bc := brokerConfig(c, 101, 1, []sm.NodeID{1}); bc.Tier.Enabled {
		t.Fatalf("tiering on without a store: %+v", bc.Tier)
	}
	c.ObjectStorage.StorageType, c.ObjectStorage.Path = "Local", "/x"
	c.ObjectStorage.MaxConcurrentUploads, c.ObjectStorage.UploadBandwidthBytesPerSec = 3, 1<<20
	c.ObjectStorage.LocalRetentionMs, c.ObjectStorage.LocalRetentionBytes = 5000, -1
	c.WAL.UploadIntervalMs, c.Cache.ReadCacheSizeBytes = 2000, 8<<20
	tc := brokerConfig(c, 101, 1, []sm.NodeID{1}).Tier
	if !tc.Enabled || tc.MaxConcurrentUploads != 3 || tc.UploadBytesPerSecond != 1<<20 || tc.LocalRetentionMs != 5000 || tc.LocalRetentionBytes != -1 ||
		tc.UploadInterval != 2*sm.Second || tc.ColdCacheBytes != 8<<20 {
		t.Fatalf("tier config %+v", tc)
	}
	if ec := objectExecutorConfig(c.ObjectStorage); ec.MaxConcurrentUploads != 3 || ec.UploadBytesPerSecond != 1<<20 {
		t.Fatalf("executor config %+v", ec)
	}
	cc := config.DefaultController()
	cc.ObjectStorage.GCGraceMs, cc.ObjectStorage.GCIntervalMs = 4000, 3000
	if g := tieringConfig(cc.ObjectStorage, false); g.GC {
		t.Fatalf("GC on without a store")
	}
	if g := tieringConfig(cc.ObjectStorage, true); !g.GC || g.GCGrace != 4*sm.Second || g.GCInterval != 3*sm.Second {
		t.Fatalf("tiering %+v", g)
	}
}
