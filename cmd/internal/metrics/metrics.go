// Package metrics exposes a Weir process's state as Prometheus metrics on
// GET /metrics: HTTP API traffic, wire messages by type, client request
// latency measured at the node, produce and fetch volume, and scrape-time
// gauges read from the transport, the WAL, the partitions a broker hosts and
// the controller's raft and metadata state.
//
// Nothing under sm/ knows about it. A process feeds it from the outside:
//
//   - HTTP wraps an http.Handler (the admin API) and labels by ServeMux
//     route pattern, never by raw path, so label cardinality stays bounded.
//   - Registry.ObserveInbound and Registry.ObserveOutbound (or ObserveSend)
//     see the messages the transport delivers to the loop and the envelopes
//     the loop hands to the transport; they count by wire type and pair
//     client requests with their responses (by peer, type and ReqID) to time
//     them.
//   - NewProbe wraps the runtime.Node the loop drives. On the loop goroutine —
//     the only goroutine that may read a state machine — it times disk
//     operations from issue to completion, notes the raft hard state the node
//     persists, and periodically calls a sampling function whose result
//     scrape-time collectors read.
//   - RegisterBroker and RegisterController attach collectors that call the
//     process's Stats functions when Prometheus scrapes, so gauges are never
//     stale and nothing is updated on the hot path.
//
// Naming: every metric starts with weir_, uses base units (seconds, bytes)
// and counters end in _total. Labels take values from closed sets (wire
// types, reply codes, route patterns, reasons) except topic and partition,
// which are bounded by the cluster's partition limit.
package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "weir"

// Latency buckets, in seconds.
var (
	// requestBuckets spans a local produce (100 µs) to a request that
	// waited out a long ack timeout (30 s).
	requestBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
	// diskBuckets spans a page-cache write (10 µs) to a stalled fdatasync.
	diskBuckets = []float64{0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}
)

// DefaultPendingMax bounds how many client requests the latency tracker
// remembers while they await their response. Beyond it the oldest is
// forgotten (and counted in weir_request_tracker_evictions_total), so a
// client that never gets an answer cannot grow the process's memory. Each
// entry costs about 100 bytes.
const DefaultPendingMax = 16384

// Registry is one process's metrics: a prometheus.Registry holding the Go
// runtime and process collectors plus Weir's own. Create one per node (a
// `weir dev` process running several nodes gives each its own). Its methods
// are safe for concurrent use.
type Registry struct {
	reg   *prometheus.Registry
	clock func() time.Time
	base  time.Time

	http        *httpMetrics
	wire        *wireMetrics
	walSync     prometheus.Histogram
	walSyncOnce sync.Once
	disk        *prometheus.HistogramVec
}

// Option adjusts New.
type Option func(*options)

type options struct {
	pendingMax int
	clock      func() time.Time
}

// WithPendingMax sets how many unanswered client requests the latency
// tracker remembers (DefaultPendingMax when n <= 0).
func WithPendingMax(n int) Option { return func(o *options) { o.pendingMax = n } }

// WithClock replaces time.Now for request latency (tests).
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// New returns a Registry with the Go runtime and process collectors
// registered.
func New(opts ...Option) *Registry {
	o := options{pendingMax: DefaultPendingMax, clock: time.Now}
	for _, f := range opts {
		f(&o)
	}
	if o.pendingMax <= 0 {
		o.pendingMax = DefaultPendingMax
	}
	r := &Registry{reg: prometheus.NewRegistry(), clock: o.clock}
	r.base = r.clock()
	r.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	r.http = newHTTPMetrics(r.reg)
	r.wire = newWireMetrics(r.reg, o.pendingMax, r.since)
	r.walSync = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "wal_sync_duration_seconds",
		Help:    "Time one WAL fdatasync took. Group commit makes every produce in a group wait for it, so its tail is the floor of acks=leader latency.",
		Buckets: diskBuckets,
	})
	r.disk = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "disk_op_duration_seconds",
		Help:    "Time from the node issuing a disk operation to the node seeing it complete (queueing, group commit, write and sync), by kind and sync flag. Durable acks wait for it.",
		Buckets: diskBuckets,
	}, []string{"kind", "sync"})
	r.reg.MustRegister(r.disk)
	return r
}

// since is the tracker's clock: nanoseconds since New, monotonic.
func (r *Registry) since() int64 { return int64(r.clock().Sub(r.base)) }

// Prometheus returns the underlying registry, to register further
// collectors or to Gather in tests.
func (r *Registry) Prometheus() *prometheus.Registry { return r.reg }

// MustRegister registers further collectors; it panics on a duplicate.
func (r *Registry) MustRegister(cs ...prometheus.Collector) { r.reg.MustRegister(cs...) }

// Handler serves the registry in the Prometheus exposition formats (text,
// or protobuf/OpenMetrics when the scraper asks). A collector that fails
// does not hide the others. Scrapes themselves are counted in
// promhttp_metric_handler_requests_total.
func (r *Registry) Handler() http.Handler {
	return promhttp.InstrumentMetricHandler(r.reg, promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
}

// ObserveWALSync records one WAL fdatasync's duration in
// weir_wal_sync_duration_seconds. io/wal reports counters only (Stats has
// DataSyncs but no time), so this histogram stays empty until the WAL
// calls it from a hook around its fdatasync (e.g. a Config.OnSync func).
// Until then weir_disk_op_duration_seconds{sync="true"}, which a Probe
// measures from outside, is the closest view. The histogram is registered on
// the first call, so a process whose WAL does not report syncs does not
// expose an empty one that reads as "no syncs".
func (r *Registry) ObserveWALSync(d time.Duration) {
	r.walSyncOnce.Do(func() { r.reg.MustRegister(r.walSync) })
	r.walSync.Observe(d.Seconds())
}
