package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Route label values that do not come from a pattern.
const (
	// RouteUnmatched labels requests no ServeMux pattern matched (and
	// requests the route function gave no name).
	RouteUnmatched = "unmatched"
	// RouteOther labels requests whose route would exceed routesMax
	// distinct values: a route function that leaks raw paths cannot blow
	// up the series count.
	RouteOther = "other"
	// routesMax bounds the distinct route label values per Registry.
	routesMax = 64
)

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge

	mu     sync.RWMutex
	routes map[string]struct{}
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code: which API calls clients make and how many fail (5xx means retry or check, see net/admin).",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern, method and status code; writes include the raft round (and a forward to the leader on followers).",
			Buckets: requestBuckets,
		}, []string{"route", "method", "code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "http_requests_in_flight",
			Help: "HTTP requests being answered now; a value that keeps rising means handlers are stuck (on the admin API: waiting on the controller).",
		}),
		routes: map[string]struct{}{},
	}
	reg.MustRegister(m.requests, m.duration, m.inFlight)
	return m
}

// route bounds the route label: at most routesMax distinct values.
func (m *httpMetrics) route(r string) string {
	if r == "" {
		return RouteUnmatched
	}
	m.mu.RLock()
	_, ok := m.routes[r]
	n := len(m.routes)
	m.mu.RUnlock()
	if ok {
		return r
	}
	if n >= routesMax {
		return RouteOther
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.routes[r]; !ok {
		if len(m.routes) >= routesMax {
			return RouteOther
		}
		m.routes[r] = struct{}{}
	}
	return r
}

// HTTP instruments next: weir_http_requests_total and
// weir_http_request_duration_seconds by route, method and status code, and
// weir_http_requests_in_flight. The route is the ServeMux pattern that
// matched (http.Request.Pattern, e.g. "GET /api/v1/topics/{name}"), read
// after next returns, so next must be (or end in) a *http.ServeMux that
// receives the same *http.Request: a layer in between that replaces the
// request (r.WithContext) hides the pattern — use HTTPWithRoute and
// MuxRoute then. Unmatched requests are labelled "unmatched"; raw paths
// never become labels.
func HTTP(reg *Registry, next http.Handler) http.Handler {
	return HTTPWithRoute(reg, next, nil)
}

// HTTPWithRoute is HTTP with the route label computed by route before next
// runs; nil means the matched pattern, as HTTP. route must return values
// from a small fixed set (patterns, not paths); past 64 distinct values the
// label reads "other".
func HTTPWithRoute(reg *Registry, next http.Handler, route func(*http.Request) string) http.Handler {
	m := reg.http
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var label string
		if route != nil {
			label = route(r)
		}
		sw := &statusWriter{ResponseWriter: w}
		m.inFlight.Inc()
		done := false
		defer func() {
			m.inFlight.Dec()
			if route == nil {
				label = r.Pattern
			}
			code := sw.code
			switch {
			case code == 0 && !done:
				code = http.StatusInternalServerError // next panicked before answering
			case code == 0:
				code = http.StatusOK
			}
			lv := []string{m.route(label), method(r.Method), strconv.Itoa(code)}
			m.requests.WithLabelValues(lv...).Inc()
			m.duration.WithLabelValues(lv...).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(sw, r)
		done = true
	})
}

// MuxRoute returns a route function for HTTPWithRoute that asks mux which
// pattern it would match, before the request is served. Use it when layers
// between HTTP and the mux replace the request.
func MuxRoute(mux *http.ServeMux) func(*http.Request) string {
	return func(r *http.Request) string {
		_, p := mux.Handler(r)
		return p
	}
}

// method bounds the method label to the standard methods.
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// statusWriter remembers the status code the handler sent.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Flush passes through, so streaming handlers keep working.
func (w *statusWriter) Flush() {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection's writer
// (deadlines, hijacking).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
