package ratelimit

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// A preflight is answered 204 by CORS without reaching the API (nor the
// limiter inside it); other requests pass with the CORS headers, 429s
// included. Disabled, CORS adds nothing.
func TestCORS(t *testing.T) {
	cfg := roomyConfig()
	cfg.PerIPBurstSize = 1
	l, _ := newTestLimiter(t, cfg)
	next := &okHandler{}
	h := CORS(true)(l.Middleware(next))

	r := httptest.NewRequest(http.MethodOptions, "/api/v1/topics", nil)
	r.Header.Set("Origin", "https://console.example")
	r.Header.Set("Access-Control-Request-Method", "POST")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	want := map[string]string{
		"Access-Control-Allow-Origin":  "*",
		"Access-Control-Allow-Methods": "GET, HEAD, POST, DELETE, OPTIONS",
		"Access-Control-Allow-Headers": "Content-Type",
		"Access-Control-Max-Age":       "600",
	}
	if w.Code != http.StatusNoContent || next.Calls() != 0 || w.Body.Len() != 0 {
		t.Fatalf("preflight: %d, next called %d times, body %q; want 204, never, empty", w.Code, next.Calls(), w.Body)
	}
	for k, v := range want {
		if got := w.Header().Get(k); got != v {
			t.Errorf("preflight %s = %q, want %q", k, got, v)
		}
	}
	if s := l.Stats(); s.TotalRequests != 0 {
		t.Errorf("preflight reached the limiter: %+v", s)
	}

	for i, code := range []int{200, 429} {
		w := serve(h, request{method: "POST", path: "/api/v1/topics"})
		if w.Code != code || w.Header().Get("Access-Control-Allow-Origin") != "*" || w.Header().Get("Access-Control-Expose-Headers") != corsExposeHeaders {
			t.Fatalf("request %d: %d %v, want %d with CORS headers", i, w.Code, w.Header(), code)
		}
	}

	w = serve(h, request{method: http.MethodOptions, path: "/api/v1/topics"}) // not a preflight
	if w.Code != 429 {
		t.Fatalf("plain OPTIONS: %d, want it to reach the (exhausted) limiter", w.Code)
	}

	next = &okHandler{}
	off := CORS(false)(next)
	if off != http.Handler(next) {
		t.Fatalf("CORS(false) wrapped the handler")
	}
}
