package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/weirmq/weir/cloud"
	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/broker"
	"github.com/weirmq/weir/sm/controller"
	"github.com/weirmq/weir/sm/tier"
)

// Tiered storage: the object-store adapter's counters (cloud.Executor, any
// node with a store), a broker's uploads and cold reads, and a controller's
// garbage collector.

// TierSnapshot is what a broker's tiered storage looks like from its state
// machine: the cold cache and the uploads in flight (sampled on the loop
// goroutine, by a Probe).
type TierSnapshot struct {
	Cold    tier.ColdCacheStats
	Uploads int
}

// SampleTier reads a broker's tiered-storage state (call it on the loop
// goroutine).
func SampleTier(n *broker.Node) TierSnapshot {
	return TierSnapshot{Cold: n.ColdCacheStats(), Uploads: n.UploadsInFlight()}
}

// TierSources are the scrape-time snapshots of tiered storage; nil
// functions are skipped.
type TierSources struct {
	// Objects is the node's object-store executor's counters.
	Objects func() cloud.Stats
	// Broker is a broker's uploads and cold cache (from a Probe).
	Broker func() TierSnapshot
	// GC is a controller's garbage collector (from a Probe).
	GC func() controller.GCStats
}

// RegisterTier adds the tiered-storage collectors.
func (r *Registry) RegisterTier(src TierSources) error {
	return r.register([]prometheus.Collector{&tierCollector{src: src}})
}

var (
	objPuts       = desc("object_store_puts_total", "Objects the node put to the object store (segment uploads), completed OK.")
	objPutBytes   = desc("object_store_put_bytes_total", "Bytes put to the object store: upload volume.")
	objPutSeconds = desc("object_store_put_seconds_total", "Time the completed puts took (queueing excluded); with puts, the mean upload latency.")
	objPutMax     = desc("object_store_put_seconds_max", "The longest completed put so far.")
	objGets       = desc("object_store_gets_total", "Ranged gets completed OK (cold reads and their read-ahead).")
	objGetBytes   = desc("object_store_get_bytes_total", "Bytes read from the object store.")
	objDeletes    = desc("object_store_deletes_total", "Deletes issued (the controller's garbage collector).")
	objLists      = desc("object_store_lists_total", "List pages read (the controller's garbage collector).")
	objErrors     = desc("object_store_errors_total", "Object-store operations that did not complete OK, by kind (throttled, unavailable, not-found, exists, source-gone, source-corrupt, invalid).", "kind")
	objUnknown    = desc("object_store_unknown_outcomes_total", "Puts and deletes whose outcome the adapter could not know (a lost reply, a timeout): an unknown put may leave an orphan for the garbage collector.")

	tierUploads      = desc("tier_uploads_in_flight", "Segment uploads running on this broker ([object_storage] max_concurrent_uploads bounds them).")
	coldBytes        = desc("cold_cache_bytes", "Bytes the broker's cold cache holds (indexes and chunks read from the object store).")
	coldBudget       = desc("cold_cache_budget_bytes", "The cold cache's bound ([cache] read_cache_size_bytes).")
	coldHits         = desc("cold_cache_hits_total", "Cold-cache lookups of an index or chunk that found it.")
	coldMisses       = desc("cold_cache_misses_total", "Cold-cache lookups that had to get it from the object store; with hits, the hit ratio.")
	coldEvictions    = desc("cold_cache_evictions_total", "Items the cold cache's budget pushed out.")
	coldReads        = desc("cold_reads_total", "Consumer fetches below the local log start answered from the object store (at least one get).")
	coldCacheReads   = desc("cold_cache_hit_reads_total", "Consumer fetches below the local log start answered from the cold cache alone.")
	coldCorruptions  = desc("cold_read_corruptions_total", "Objects a cold read found corrupt (never served).")
	gcPasses         = desc("gc_passes_total", "Garbage-collection passes over the segment objects completed (controller leader).")
	gcListed         = desc("gc_listed_objects_total", "Objects the garbage collector listed.")
	gcCandidates     = desc("gc_candidates", "Unreferenced, uncommittable objects waiting out the grace period.")
	gcDeleted        = desc("gc_orphans_collected_total", "Orphan objects the garbage collector deleted.")
	gcErrors         = desc("gc_errors_total", "Garbage-collector lists and deletes that failed or ended unknown (retried by the next pass), by op.", "op")
	gcUnparseable    = desc("gc_unparseable_objects_total", "Objects under segments/ whose names are not segment objects (left alone).")
	tierDescriptions = []*prometheus.Desc{objPuts, objPutBytes, objPutSeconds, objPutMax, objGets, objGetBytes, objDeletes, objLists, objErrors, objUnknown,
		tierUploads, coldBytes, coldBudget, coldHits, coldMisses, coldEvictions, coldReads, coldCacheReads, coldCorruptions,
		gcPasses, gcListed, gcCandidates, gcDeleted, gcErrors, gcUnparseable}
)

type tierCollector struct{ src TierSources }

func (c *tierCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range tierDescriptions {
		ch <- d
	}
}

func (c *tierCollector) Collect(ch chan<- prometheus.Metric) {
	if f := c.src.Objects; f != nil {
		s := f()
		counter(ch, objPuts, s.Puts)
		counter(ch, objPutBytes, s.PutBytes)
		ch <- prometheus.MustNewConstMetric(objPutSeconds, prometheus.CounterValue, float64(s.PutLatencyNs)/1e9)
		gauge(ch, objPutMax, float64(s.PutLatencyMaxNs)/1e9)
		counter(ch, objGets, s.Gets)
		counter(ch, objGetBytes, s.GetBytes)
		counter(ch, objDeletes, s.Deletes)
		counter(ch, objLists, s.Lists)
		for _, k := range []sm.ObjErr{sm.ObjErrThrottled, sm.ObjErrUnavailable, sm.ObjErrNotFound, sm.ObjErrExists, sm.ObjErrSourceGone, sm.ObjErrSourceCorrupt, sm.ObjErrInvalid} {
			counter(ch, objErrors, s.Errors[k], k.String())
		}
		counter(ch, objUnknown, s.Unknown)
	}
	if f := c.src.Broker; f != nil {
		s := f()
		gauge(ch, tierUploads, float64(s.Uploads))
		gauge(ch, coldBytes, float64(s.Cold.Bytes))
		gauge(ch, coldBudget, float64(s.Cold.BudgetBytes))
		counter(ch, coldHits, s.Cold.Hits)
		counter(ch, coldMisses, s.Cold.Misses)
		counter(ch, coldEvictions, s.Cold.Evictions)
		counter(ch, coldReads, s.Cold.ColdReads)
		counter(ch, coldCacheReads, s.Cold.CacheHitReads)
		counter(ch, coldCorruptions, s.Cold.Corruptions)
	}
	if f := c.src.GC; f != nil {
		s := f()
		counter(ch, gcPasses, s.Passes)
		counter(ch, gcListed, s.Listed)
		gauge(ch, gcCandidates, float64(s.Candidates))
		counter(ch, gcDeleted, s.Deleted)
		counter(ch, gcErrors, s.ListErrors, "list")
		counter(ch, gcErrors, s.DeleteErrors, "delete")
		counter(ch, gcUnparseable, s.Unparseable)
	}
}
