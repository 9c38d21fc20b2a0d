package metrics

import (
	"testing"

	"github.com/weirmq/weir/cloud"
	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/controller"
	"github.com/weirmq/weir/sm/tier"
)

func TestTierSources(t *testing.T) {
	reg := New()
	err := reg.RegisterTier(TierSources{
		Objects: func() cloud.Stats {
			return cloud.Stats{Puts: 3, PutBytes: 3 << 20, PutLatencyNs: 1.5e9, PutLatencyMaxNs: 0.8e9, Gets: 7, GetBytes: 7 << 20,
				Deletes: 2, Lists: 4, Errors: map[sm.ObjErr]uint64{sm.ObjErrThrottled: 5, sm.ObjErrUnavailable: 1}, Unknown: 1}
		},
		Broker: func() TierSnapshot {
			return TierSnapshot{Uploads: 2, Cold: tier.ColdCacheStats{Bytes: 1000, BudgetBytes: 4096, Hits: 9, Misses: 3, Evictions: 1, ColdReads: 4, CacheHitReads: 6}}
		},
		GC: func() controller.GCStats {
			return controller.GCStats{Passes: 5, Listed: 50, Candidates: 3, Deleted: 8, ListErrors: 1, DeleteErrors: 2}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	f := scrape(t, reg)
	f.expect(t, "weir_object_store_puts_total", 3)
	f.expect(t, "weir_object_store_put_bytes_total", 3<<20)
	f.expect(t, "weir_object_store_put_seconds_total", 1.5)
	f.expect(t, "weir_object_store_put_seconds_max", 0.8)
	f.expect(t, "weir_object_store_gets_total", 7)
	f.expect(t, "weir_object_store_errors_total", 5, "kind", "throttled")
	f.expect(t, "weir_object_store_errors_total", 1, "kind", "unavailable")
	f.expect(t, "weir_object_store_errors_total", 0, "kind", "source-corrupt")
	f.expect(t, "weir_object_store_unknown_outcomes_total", 1)
	f.expect(t, "weir_tier_uploads_in_flight", 2)
	f.expect(t, "weir_cold_cache_hits_total", 9)
	f.expect(t, "weir_cold_cache_misses_total", 3)
	f.expect(t, "weir_cold_cache_budget_bytes", 4096)
	f.expect(t, "weir_cold_reads_total", 4)
	f.expect(t, "weir_cold_cache_hit_reads_total", 6)
	f.expect(t, "weir_gc_orphans_collected_total", 8)
	f.expect(t, "weir_gc_candidates", 3)
	f.expect(t, "weir_gc_errors_total", 2, "op", "delete")
}
