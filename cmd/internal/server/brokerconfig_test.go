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
