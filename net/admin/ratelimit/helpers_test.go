package ratelimit

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

// epoch is the fake clock's start: a whole Unix second, so that header
// values are easy to predict.
var epoch = time.Unix(1_700_000_000, 0)

func newFakeClock() *fakeClock { return &fakeClock{t: epoch} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// roomyConfig has limits nobody reaches, for tests that tighten one.
func roomyConfig() Config {
	return Config{
		Enabled:                true,
		GlobalBurstSize:        burstSizeMax,
		GlobalRefillRate:       60,
		PerIPBurstSize:         burstSizeMax,
		PerIPRefillRate:        60,
		CleanupIntervalSeconds: 60,
		Endpoints:              map[string]EndpointLimit{},
		HighFrequency:          EndpointLimit{BurstSize: burstSizeMax, RefillRate: 60},
		MediumFrequency:        EndpointLimit{BurstSize: burstSizeMax, RefillRate: 60},
		LowFrequency:           EndpointLimit{BurstSize: burstSizeMax, RefillRate: 60},
	}
}

func newTestLimiter(t testing.TB, cfg Config) (*Limiter, *fakeClock) {
	t.Helper()
	clock := newFakeClock()
	l, err := New(cfg, clock)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return l, clock
}

// okHandler answers 200 "ok" and counts its calls.
type okHandler struct {
	mu    sync.Mutex
	calls int
}

func (h *okHandler) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	h.mu.Lock()
	h.calls++
	h.mu.Unlock()
	_, _ = w.Write([]byte("ok"))
}

func (h *okHandler) Calls() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls
}

// request is one request to send through a handler.
type request struct {
	method, path, remote string
	xff                  []string
}

func serve(h http.Handler, rq request) *httptest.ResponseRecorder {
	if rq.method == "" {
		rq.method = http.MethodGet
	}
	if rq.remote == "" {
		rq.remote = "192.0.2.1:1234"
	}
	r := httptest.NewRequest(rq.method, rq.path, nil)
	r.RemoteAddr = rq.remote
	for _, v := range rq.xff {
		r.Header.Add("X-Forwarded-For", v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// rateHeaders is a response's X-RateLimit-* values, as a client reads
// them.
type rateHeaders struct {
	Limit, Remaining, Reset, Type string
}

func headersOf(w *httptest.ResponseRecorder) rateHeaders {
	h := w.Result().Header
	return rateHeaders{
		Limit:     h.Get("X-RateLimit-Limit"),
		Remaining: h.Get("X-RateLimit-Remaining"),
		Reset:     h.Get("X-RateLimit-Reset"),
		Type:      h.Get("X-RateLimit-Type"),
	}
}

// A request a peer controller forwarded was charged by that peer: from a
// trusted proxy it passes uncharged; the header from anyone else is
// ignored.
func TestForwardedByTrustedPeerNotChargedTwice(t *testing.T) {
	cfg := roomyConfig()
	cfg.PerIPBurstSize = 1
	cfg.TrustedProxies = []string{"10.0.0.2"}
	l, _ := newTestLimiter(t, cfg)
	h := l.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	send := func(remote string, forwarded bool) int {
		r := httptest.NewRequest("POST", "/api/v1/topics", nil)
		r.RemoteAddr = remote
		if forwarded {
			r.Header.Set(ForwardedByHeader, "controller-2")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for i := range 3 {
		if code := send("10.0.0.2:5000", true); code != http.StatusOK {
			t.Fatalf("forwarded request %d from the trusted peer: %d", i, code)
		}
	}
	if code := send("10.0.0.9:5000", true); code != http.StatusOK {
		t.Fatalf("first request from an untrusted peer: %d", code)
	}
	if code := send("10.0.0.9:5000", true); code != http.StatusTooManyRequests {
		t.Fatalf("the header from an untrusted peer bypassed the limit: %d", code)
	}
}
