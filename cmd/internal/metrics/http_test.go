package metrics

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// adminLikeMux has net/admin's routes: method patterns, method-less
// fallbacks and a catch-all.
func adminLikeMux() *http.ServeMux {
	mux := http.NewServeMux()
	ok := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }
	}
	mux.HandleFunc("GET /api/v1/topics", ok(200))
	mux.HandleFunc("POST /api/v1/topics", ok(201))
	mux.HandleFunc("GET /api/v1/topics/{name}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("name") == "missing" {
			w.WriteHeader(404)
			return
		}
		_, _ = w.Write([]byte("{}")) // implicit 200
	})
	mux.HandleFunc("DELETE /api/v1/topics/{name}", ok(200))
	mux.HandleFunc("/api/v1/topics/{name}", ok(405))
	mux.HandleFunc("/", ok(404))
	return mux
}

func do(h http.Handler, method, path string) int {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Code
}

// A hundred topics make one route series, not a hundred.
func TestHTTPRouteCardinality(t *testing.T) {
	reg := New()
	h := HTTP(reg, adminLikeMux())
	for i := range 100 {
		if code := do(h, "GET", fmt.Sprintf("/api/v1/topics/topic-%d", i)); code != 200 {
			t.Fatalf("GET topic-%d: %d", i, code)
		}
	}
	do(h, "GET", "/api/v1/topics/missing")
	do(h, "DELETE", "/api/v1/topics/a")
	do(h, "PUT", "/api/v1/topics/a")
	do(h, "POST", "/api/v1/topics")
	do(h, "GET", "/no/such/path/42")
	do(h, "BREW", "/api/v1/topics")

	f := scrape(t, reg)
	f.expect(t, "weir_http_requests_total", 100, "route", "GET /api/v1/topics/{name}", "method", "GET", "code", "200")
	f.expect(t, "weir_http_requests_total", 1, "route", "GET /api/v1/topics/{name}", "method", "GET", "code", "404")
	f.expect(t, "weir_http_requests_total", 1, "route", "DELETE /api/v1/topics/{name}", "method", "DELETE", "code", "200")
	f.expect(t, "weir_http_requests_total", 1, "route", "/api/v1/topics/{name}", "method", "PUT", "code", "405")
	f.expect(t, "weir_http_requests_total", 1, "route", "POST /api/v1/topics", "method", "POST", "code", "201")
	f.expect(t, "weir_http_requests_total", 1, "route", "/", "method", "GET", "code", "404")
	f.expect(t, "weir_http_requests_total", 1, "method", "OTHER")
	if n := len(f["weir_http_requests_total"].GetMetric()); n != 7 {
		t.Errorf("%d request series, want 7", n)
	}
	if h := f.get(t, "weir_http_request_duration_seconds", "route", "GET /api/v1/topics/{name}", "code", "200").GetHistogram(); h.GetSampleCount() != 100 {
		t.Errorf("latency count %d, want 100", h.GetSampleCount())
	}
	f.expect(t, "weir_http_requests_in_flight", 0)
	for _, m := range f["weir_http_requests_total"].GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == "route" && (lp.GetValue() == "/no/such/path/42" || lp.GetValue() == "/api/v1/topics/topic-1") {
				t.Errorf("raw path %q became a label", lp.GetValue())
			}
		}
	}
}

// A mux without a catch-all leaves misses unmatched; the pattern never
// falls back to the path.
func TestHTTPUnmatched(t *testing.T) {
	reg := New()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /x", func(http.ResponseWriter, *http.Request) {})
	h := HTTP(reg, mux)
	do(h, "GET", "/y/123")
	do(h, "POST", "/x")
	f := scrape(t, reg)
	f.expect(t, "weir_http_requests_total", 1, "route", RouteUnmatched, "method", "GET", "code", "404")
	f.expect(t, "weir_http_requests_total", 1, "route", RouteUnmatched, "method", "POST", "code", "405")
}

// A layer that replaces the request hides r.Pattern from HTTP; MuxRoute
// gets it from the mux before serving.
func TestHTTPMuxRoute(t *testing.T) {
	mux := adminLikeMux()
	clone := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), struct{}{}, 1)))
	})
	reg := New()
	HTTP(reg, clone).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/v1/topics/a", nil))
	scrape(t, reg).expect(t, "weir_http_requests_total", 1, "route", RouteUnmatched)

	reg = New()
	h := HTTPWithRoute(reg, clone, MuxRoute(mux))
	do(h, "GET", "/api/v1/topics/a")
	do(h, "GET", "/api/v1/topics/b")
	scrape(t, reg).expect(t, "weir_http_requests_total", 2, "route", "GET /api/v1/topics/{name}", "code", "200")
}

// A route function that leaks raw paths is capped at 64 values.
func TestHTTPRouteCap(t *testing.T) {
	reg := New()
	h := HTTPWithRoute(reg, http.NotFoundHandler(), func(r *http.Request) string { return r.URL.Path })
	for i := range 200 {
		do(h, "GET", fmt.Sprintf("/p/%d", i))
	}
	f := scrape(t, reg)
	if n := len(f["weir_http_requests_total"].GetMetric()); n != routesMax+1 {
		t.Errorf("%d series, want %d", n, routesMax+1)
	}
	f.expect(t, "weir_http_requests_total", 200-routesMax, "route", RouteOther)
}

// A panicking handler is counted as a 500; the panic goes on to net/http.
func TestHTTPPanic(t *testing.T) {
	reg := New()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
	h := HTTP(reg, mux)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic swallowed")
			}
		}()
		do(h, "GET", "/boom")
	}()
	f := scrape(t, reg)
	f.expect(t, "weir_http_requests_total", 1, "route", "GET /boom", "code", "500")
	f.expect(t, "weir_http_requests_in_flight", 0)
}

// The wrapper keeps optional interfaces reachable.
func TestHTTPFlush(t *testing.T) {
	reg := New()
	h := HTTP(reg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush: %v", err)
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !rec.Flushed {
		t.Error("flush did not reach the writer")
	}
}
