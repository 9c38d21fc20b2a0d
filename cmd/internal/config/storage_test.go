package config

import (
	"strings"
	"testing"
)

// Goal: the storage keys — [cache] write_cache_size_bytes, [wal]
// segment_size_bytes, segment_ms, retention_check_interval_ms — load from
// TOML and the environment with the reference's defaults, and bad values
// are refused naming the key and its bounds; the reference's other [cache]
// key eviction_policy is refused as not implemented.
func TestStorageKeys(t *testing.T) {
	b := DefaultBroker()
	if b.Cache.WriteCacheSizeBytes != 1<<30 || b.WAL.SegmentSizeBytes != 1<<30 || b.WAL.SegmentMs != 604800000 || b.WAL.RetentionCheckIntervalMs != 300000 {
		t.Fatalf("defaults: cache %+v wal %+v", b.Cache, b.WAL)
	}
	path := write(t, "[cache]\nwrite_cache_size_bytes = 67108864\n[wal]\nsegment_ms = 60000\n")
	if err := Load(path, &b, []string{"WEIR_WAL_RETENTION_CHECK_INTERVAL_MS=1000", "WEIR_CACHE_WRITE_CACHE_SIZE_BYTES=33554432"}); err != nil {
		t.Fatal(err)
	}
	if b.Cache.WriteCacheSizeBytes != 32<<20 || b.WAL.SegmentMs != 60000 || b.WAL.RetentionCheckIntervalMs != 1000 {
		t.Fatalf("loaded: cache %+v wal %+v", b.Cache, b.WAL)
	}

	for _, c := range []struct {
		set  func(*Broker)
		want string
	}{
		{func(b *Broker) { b.Cache.WriteCacheSizeBytes = 1000 }, "cache.write_cache_size_bytes: must be >= 1048576 (1 MiB) (got 1000)"},
		{func(b *Broker) { b.WAL.SegmentSizeBytes = 4096 }, "wal.segment_size_bytes: must be in 1048576..17179869184 (1 MiB..16 GiB) (got 4096)"},
		{func(b *Broker) { b.WAL.SegmentMs = 10 }, "wal.segment_ms: must be 0 (never by age) or in 1000..31536000000 (1 s..365 d) (got 10)"},
		{func(b *Broker) { b.WAL.RetentionCheckIntervalMs = 0 }, "wal.retention_check_interval_ms: must be >= 100 (got 0)"},
	} {
		b := DefaultBroker()
		b.TLS = TLS{CAFile: "a", CertFile: "b", KeyFile: "c"}
		c.set(&b)
		if err := b.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate = %v, want %q", err, c.want)
		}
	}
	b = DefaultBroker()
	b.TLS = TLS{CAFile: "a", CertFile: "b", KeyFile: "c"}
	b.WAL.SegmentMs = 0
	if err := b.Validate(); err != nil {
		t.Errorf("segment_ms 0 (never by age): %v", err)
	}
	for _, doc := range []string{"[cache]\neviction_policy = \"Moka\"\n"} {
		b := DefaultBroker()
		if err := Load(write(t, doc), &b, nil); err == nil || !strings.Contains(err.Error(), "does not implement") {
			t.Errorf("%q: Load = %v, want it refused as not implemented", doc, err)
		}
	}
}
