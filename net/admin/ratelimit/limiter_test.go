package ratelimit

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// resetAt is the X-RateLimit-Reset value d after the epoch.
func resetAt(d time.Duration) string { return strconv.FormatInt(epoch.Add(d).Unix(), 10) }

// The headers on a first request with the reference's defaults are the
// reference's example: the endpoint bucket of GET /api/v1/topics decides.
func TestHeadersWithDefaults(t *testing.T) {
	l, _ := newTestLimiter(t, DefaultConfig())
	h := l.Middleware(&okHandler{})
	w := serve(h, request{path: "/api/v1/topics"})
	// 20-token bucket at 30/min: 19 left, full again 2 s later.
	want := rateHeaders{Limit: "30", Remaining: "19", Reset: resetAt(2 * time.Second), Type: "endpoint"}
	if w.Code != http.StatusOK || headersOf(w) != want {
		t.Fatalf("first GET /api/v1/topics: %d %+v, want 200 %+v", w.Code, headersOf(w), want)
	}
	w = serve(h, request{path: "/api/v1/topics"})
	want = rateHeaders{Limit: "30", Remaining: "18", Reset: resetAt(4 * time.Second), Type: "endpoint"}
	if headersOf(w) != want {
		t.Fatalf("second GET /api/v1/topics: %+v, want %+v", headersOf(w), want)
	}
	// A path outside the API has no endpoint bucket: the per-IP bucket
	// (98 left of 100, at 30/min) is tighter than the global one.
	w = serve(h, request{path: "/nope"})
	want = rateHeaders{Limit: "30", Remaining: "97", Reset: resetAt(6 * time.Second), Type: "ip"}
	if headersOf(w) != want {
		t.Fatalf("GET /nope: %+v, want %+v", headersOf(w), want)
	}
}

// A bucket admits its burst at once, then refills at its rate, to no more
// than its burst; fractions of a token admit nothing.
func TestBurstThenRefill(t *testing.T) {
	cfg := roomyConfig()
	cfg.PerIPBurstSize, cfg.PerIPRefillRate = 3, 60 // one token a second
	l, clock := newTestLimiter(t, cfg)
	next := &okHandler{}
	h := l.Middleware(next)
	expect := func(step string, code int, remaining, retryAfter string) {
		t.Helper()
		w := serve(h, request{path: "/x"})
		if w.Code != code || headersOf(w).Remaining != remaining || w.Header().Get("Retry-After") != retryAfter {
			t.Fatalf("%s: %d remaining=%q Retry-After=%q, want %d remaining=%q Retry-After=%q",
				step, w.Code, headersOf(w).Remaining, w.Header().Get("Retry-After"), code, remaining, retryAfter)
		}
	}
	expect("burst 1", 200, "2", "")
	expect("burst 2", 200, "1", "")
	expect("burst 3", 200, "0", "")
	expect("empty", 429, "0", "1")
	clock.Advance(time.Second)
	expect("one refilled", 200, "0", "")
	clock.Advance(500 * time.Millisecond)
	expect("half a token", 429, "0", "1")
	clock.Advance(time.Hour)
	expect("capped at burst 1", 200, "2", "")
	expect("capped at burst 2", 200, "1", "")
	expect("capped at burst 3", 200, "0", "")
	expect("capped at burst: empty", 429, "0", "1")
	if got := next.Calls(); got != 7 {
		t.Fatalf("next served %d requests, want the 7 admitted", got)
	}
	if s := l.Stats(); s.TotalRequests != 10 || s.BlockedRequests != 3 {
		t.Fatalf("Stats = %+v, want 10 total, 3 blocked", s)
	}
}

// Whichever of the global, per-IP and endpoint buckets is smallest decides,
// and names itself in X-RateLimit-Type, X-RateLimit-Limit and the 429.
func TestMostRestrictiveDecides(t *testing.T) {
	tests := []struct {
		name                      string
		global, perIP, endpoint   int // bursts; rates are 6, 12 and 18 per minute
		wantType, wantLimit, want string
	}{
		{"global", 2, 5, 10, "global", "6", "Rate limit exceeded for all clients. Limit: 6 requests per minute, in bursts of at most 2; retry after 10 s"},
		{"ip", 10, 2, 5, "ip", "12", "Rate limit exceeded for IP 192.0.2.1. Limit: 12 requests per minute, in bursts of at most 2; retry after 5 s"},
		{"endpoint", 10, 5, 2, "endpoint", "18", "Rate limit exceeded for endpoint /api/v1/cluster. Limit: 18 requests per minute, in bursts of at most 2; retry after 4 s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := roomyConfig()
			cfg.GlobalBurstSize, cfg.GlobalRefillRate = tt.global, 6
			cfg.PerIPBurstSize, cfg.PerIPRefillRate = tt.perIP, 12
			cfg.Endpoints["/api/v1/cluster"] = EndpointLimit{BurstSize: tt.endpoint, RefillRate: 18}
			l, _ := newTestLimiter(t, cfg)
			h := l.Middleware(&okHandler{})
			for i := range 2 {
				w := serve(h, request{path: "/api/v1/cluster"})
				got := headersOf(w)
				if w.Code != 200 || got.Type != tt.wantType || got.Limit != tt.wantLimit || got.Remaining != strconv.Itoa(1-i) {
					t.Fatalf("request %d: %d %+v, want 200 type %s limit %s remaining %d", i+1, w.Code, got, tt.wantType, tt.wantLimit, 1-i)
				}
			}
			w := serve(h, request{path: "/api/v1/cluster"})
			var body envelope
			_ = json.Unmarshal(w.Body.Bytes(), &body)
			if got := headersOf(w); w.Code != 429 || got.Type != tt.wantType || got.Limit != tt.wantLimit || body.Error != tt.want {
				t.Fatalf("third request: %d %+v %q, want 429 type %s limit %s %q", w.Code, got, body.Error, tt.wantType, tt.wantLimit, tt.want)
			}
		})
	}
}

// Ties on whole tokens go to the slower bucket, then to the more specific.
func TestMostRestrictiveTies(t *testing.T) {
	cfg := roomyConfig()
	cfg.GlobalBurstSize, cfg.GlobalRefillRate = 3, 60
	cfg.PerIPBurstSize, cfg.PerIPRefillRate = 3, 30
	l, _ := newTestLimiter(t, cfg)
	if got := headersOf(serve(l.Middleware(&okHandler{}), request{path: "/x"})); got.Type != "ip" || got.Limit != "30" {
		t.Fatalf("global and ip both at 2: %+v, want the slower ip bucket", got)
	}

	cfg.GlobalRefillRate = 30
	cfg.Endpoints["/api/v1/brokers"] = EndpointLimit{BurstSize: 3, RefillRate: 30}
	l, _ = newTestLimiter(t, cfg)
	h := l.Middleware(&okHandler{})
	if got := headersOf(serve(h, request{path: "/api/v1/brokers"})); got.Type != "endpoint" {
		t.Fatalf("all three at 2 and 30/min: %+v, want the most specific, endpoint", got)
	}
	if got := headersOf(serve(h, request{path: "/x"})); got.Type != "ip" || got.Remaining != "1" {
		t.Fatalf("global and ip at 1, 30/min: %+v, want ip", got)
	}
}

// A refusal takes no token from any bucket, including those that had one.
func TestRefusalTakesNothing(t *testing.T) {
	cfg := roomyConfig()
	cfg.GlobalBurstSize = 10
	cfg.PerIPBurstSize = 5
	cfg.Endpoints["/api/v1/cluster"] = EndpointLimit{BurstSize: 1, RefillRate: 60}
	l, clock := newTestLimiter(t, cfg)
	h := l.Middleware(&okHandler{})
	serve(h, request{path: "/api/v1/cluster"})
	for range 3 {
		if w := serve(h, request{path: "/api/v1/cluster"}); w.Code != 429 || headersOf(w).Type != "endpoint" {
			t.Fatalf("GET /api/v1/cluster again: %d %+v, want 429 by the endpoint", w.Code, headersOf(w))
		}
	}
	now := clock.Now().UnixNano()
	ip := netip.MustParseAddr("192.0.2.1")
	if g, i := l.global.tokensAt(&l.globalLimit, now), l.ips[clientKey{ip: ip}].tokensAt(&l.ipLimit, now); g != 9 || i != 4 {
		t.Fatalf("after 1 admitted and 3 refused: global %v, ip %v tokens; want 9 and 4", g, i)
	}
}

// Retry-After is the wait until every refusing bucket has a token: the
// slowest one decides, and a retry after it succeeds.
func TestRetryAfterIsSlowestRefusal(t *testing.T) {
	cfg := roomyConfig()
	cfg.PerIPBurstSize, cfg.PerIPRefillRate = 1, 60                                // 1 s per token
	cfg.Endpoints["/api/v1/cluster"] = EndpointLimit{BurstSize: 1, RefillRate: 15} // 4 s per token
	l, clock := newTestLimiter(t, cfg)
	h := l.Middleware(&okHandler{})
	serve(h, request{path: "/api/v1/cluster"})
	w := serve(h, request{path: "/api/v1/cluster"})
	if w.Code != 429 || w.Header().Get("Retry-After") != "4" || headersOf(w).Type != "endpoint" || headersOf(w).Reset != resetAt(4*time.Second) {
		t.Fatalf("both empty: %d Retry-After=%q %+v, want 429 Retry-After 4 by the endpoint", w.Code, w.Header().Get("Retry-After"), headersOf(w))
	}
	clock.Advance(3 * time.Second)
	w = serve(h, request{path: "/api/v1/cluster"})
	if w.Code != 429 || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("3 s later: %d Retry-After=%q, want 429 Retry-After 1", w.Code, w.Header().Get("Retry-After"))
	}
	clock.Advance(time.Second)
	if w = serve(h, request{path: "/api/v1/cluster"}); w.Code != 200 {
		t.Fatalf("after Retry-After: %d, want 200", w.Code)
	}
}

// The 429 is the reference's example: status, headers, Retry-After and
// the envelope body, word for word, for a client behind a trusted proxy.
func TestTooManyRequestsBody(t *testing.T) {
	cfg := DefaultConfig()
	cfg.PerIPBurstSize = 2
	cfg.TrustedProxies = []string{"10.0.0.1"}
	l, _ := newTestLimiter(t, cfg)
	h := l.Middleware(&okHandler{})
	rq := request{path: "/api/v1/topics", remote: "10.0.0.1:5555", xff: []string{"192.168.1.100"}}
	serve(h, rq)
	serve(h, rq)
	w := serve(h, rq)
	const body = `{"success":false,"data":null,"error":"Rate limit exceeded for IP 192.168.1.100. Limit: 30 requests per minute, in bursts of at most 2; retry after 2 s","leader_hint":null}` + "\n"
	want := rateHeaders{Limit: "30", Remaining: "0", Reset: resetAt(4 * time.Second), Type: "ip"}
	if w.Code != http.StatusTooManyRequests || w.Body.String() != body || headersOf(w) != want {
		t.Fatalf("third request: %d %+v\n%s\nwant 429 %+v\n%s", w.Code, headersOf(w), w.Body, want, body)
	}
	for k, v := range map[string]string{"Retry-After": "2", "Content-Type": "application/json", "Content-Length": strconv.Itoa(len(body))} {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

// Each request resolves to the reference's bucket for its route.
func TestEndpointClassification(t *testing.T) {
	l, _ := newTestLimiter(t, DefaultConfig())
	tests := []struct {
		method, path, want string
		limit              limit
	}{
		{"GET", "/api/v1/cluster", "/api/v1/cluster", newLimit(50, 100)},
		{"GET", "/api/v1/topics", "/api/v1/topics", newLimit(20, 30)},
		{"GET", "/api/v1/brokers", "/api/v1/brokers", newLimit(20, 30)},
		{"GET", "/api/v1/topics/orders", "GET:/api/v1/topics/{name}", newLimit(20, 30)},
		{"POST", "/api/v1/topics", "POST:/api/v1/topics", newLimit(5, 10)},
		// The reference's "DELETE:/api/v1/topics" key limits topic deletes.
		{"DELETE", "/api/v1/topics/orders", "DELETE:/api/v1/topics", newLimit(5, 10)},
		{"DELETE", "/api/v1/topics", "/api/v1/topics", newLimit(20, 30)}, // a 405: the key without method
		{"PUT", "/api/v1/topics", "/api/v1/topics", newLimit(20, 30)},    // a key without method: any method
		{"GET", "/api/v1/brokers/broker-101/health", "GET:/api/v1/brokers/{id}/health", newLimit(20, 30)},
		{"GET", "/api/v1/topics/a%2Fb", "GET:/api/v1/topics/{name}", newLimit(20, 30)},
		{"GET", "/api/v1/topics/a/b", "", limit{}},
		{"GET", "/api/v1/topics/", "", limit{}},
		{"GET", "/healthz", "", limit{}},
		{"POST", "/health", "", limit{}},
		{"GET", "/api/v1/brokers//health", "", limit{}},
	}
	for _, tt := range tests {
		ep := l.endpointFor(tt.method, tt.path)
		switch {
		case tt.want == "" && ep != nil:
			t.Errorf("%s %s: endpoint %s, want none", tt.method, tt.path, ep.name)
		case tt.want != "" && (ep == nil || ep.name != tt.want || ep.limit != tt.limit):
			t.Errorf("%s %s: endpoint %+v, want %s %+v", tt.method, tt.path, ep, tt.want, tt.limit)
		}
	}
	if a, b := l.endpointFor("GET", "/api/v1/topics/a"), l.endpointFor("GET", "/api/v1/topics/b"); a != b {
		t.Errorf("describes of two topics use two buckets; want one per route")
	}
}

// A key naming a route pattern sizes that route's bucket; other routes of
// its category keep theirs.
func TestPatternKey(t *testing.T) {
	cfg := DefaultConfig()
	delete(cfg.Endpoints, "DELETE:/api/v1/topics") // names the same route
	cfg.Endpoints["DELETE:/api/v1/topics/{name}"] = EndpointLimit{BurstSize: 1, RefillRate: 10}
	l, _ := newTestLimiter(t, cfg)
	h := l.Middleware(&okHandler{})
	if w := serve(h, request{method: "DELETE", path: "/api/v1/topics/a"}); w.Code != 200 || headersOf(w).Remaining != "0" {
		t.Fatalf("first delete: %d %+v", w.Code, headersOf(w))
	}
	w := serve(h, request{method: "DELETE", path: "/api/v1/topics/b"})
	var body envelope
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	if want := "Rate limit exceeded for endpoint DELETE:/api/v1/topics/{name}. Limit: 10 requests per minute, in bursts of at most 1; retry after 6 s"; w.Code != 429 || body.Error != want {
		t.Fatalf("second delete: %d %q, want 429 %q", w.Code, body.Error, want)
	}
	if w := serve(h, request{path: "/api/v1/topics/a"}); w.Code != 200 {
		t.Fatalf("describe after deletes ran out: %d, want 200", w.Code)
	}
}

// The reference's key "DELETE:/api/v1/topics" limits topic deletes,
// which go to /api/v1/topics/{name}: with a burst of 1 the second delete
// is refused by that key's bucket.
func TestReferenceDeleteKeyLimitsDeletes(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Endpoints["DELETE:/api/v1/topics"] = EndpointLimit{BurstSize: 1, RefillRate: 10}
	l, _ := newTestLimiter(t, cfg)
	h := l.Middleware(&okHandler{})
	if w := serve(h, request{method: "DELETE", path: "/api/v1/topics/a"}); w.Code != 200 || headersOf(w).Type != "endpoint" || headersOf(w).Remaining != "0" {
		t.Fatalf("first delete: %d %+v, want 200 with the key's bucket empty", w.Code, headersOf(w))
	}
	w := serve(h, request{method: "DELETE", path: "/api/v1/topics/b"})
	var body envelope
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	if want := "Rate limit exceeded for endpoint DELETE:/api/v1/topics. Limit: 10 requests per minute, in bursts of at most 1; retry after 6 s"; w.Code != 429 || body.Error != want {
		t.Fatalf("second delete: %d %q, want 429 %q", w.Code, body.Error, want)
	}
}

// A liveness probe never sees 429: GET and HEAD /health pass with every
// bucket empty, uncounted and without rate-limit headers; other methods on
// /health are limited like any request.
func TestHealthIsNeverLimited(t *testing.T) {
	cfg := roomyConfig()
	cfg.GlobalBurstSize, cfg.PerIPBurstSize = 1, 1
	l, _ := newTestLimiter(t, cfg)
	next := &okHandler{}
	h := l.Middleware(next)
	if w := serve(h, request{path: "/api/v1/topics"}); w.Code != 200 {
		t.Fatalf("first request: %d", w.Code)
	}
	if w := serve(h, request{path: "/api/v1/topics"}); w.Code != 429 {
		t.Fatalf("second request: %d, want 429 (buckets empty)", w.Code)
	}
	for i := range 100 {
		for _, m := range []string{"GET", "HEAD"} {
			w := serve(h, request{method: m, path: "/health"})
			if w.Code != 200 || headersOf(w) != (rateHeaders{}) {
				t.Fatalf("%s /health #%d with every bucket empty: %d %+v, want 200 without rate-limit headers", m, i, w.Code, headersOf(w))
			}
		}
	}
	if w := serve(h, request{method: "POST", path: "/health"}); w.Code != 429 {
		t.Fatalf("POST /health: %d, want 429: only probes are exempt", w.Code)
	}
	if s := l.Stats(); s.TotalRequests != 3 || s.BlockedRequests != 2 {
		t.Fatalf("Stats = %+v, want the 3 limited requests counted, /health probes not", s)
	}
	if next.Calls() != 201 {
		t.Fatalf("next served %d, want 1 + 200 probes", next.Calls())
	}
}

// The 429's words are true of the bucket that refused: a burst of 5 at 10
// a minute refuses the 6th request at once, and says so (not only "10 a
// minute"), with the Retry-After the header carries.
func TestRefusalMessageNamesBurst(t *testing.T) {
	l, _ := newTestLimiter(t, DefaultConfig())
	h := l.Middleware(&okHandler{})
	for i := range 5 {
		if w := serve(h, request{method: "POST", path: "/api/v1/topics"}); w.Code != 200 {
			t.Fatalf("create %d: %d", i+1, w.Code)
		}
	}
	w := serve(h, request{method: "POST", path: "/api/v1/topics"})
	var body envelope
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	want := "Rate limit exceeded for endpoint POST:/api/v1/topics. Limit: 10 requests per minute, in bursts of at most 5; retry after 6 s"
	if w.Code != 429 || body.Error != want || w.Header().Get("Retry-After") != "6" {
		t.Fatalf("6th create: %d Retry-After=%q %q, want 429 Retry-After=6 %q", w.Code, w.Header().Get("Retry-After"), body.Error, want)
	}
}

// Cleanup drops exactly the per-IP buckets that refilled completely, and
// a request refused before its IP was tracked creates none.
func TestCleanupDropsIdleLimiters(t *testing.T) {
	cfg := roomyConfig()
	cfg.PerIPBurstSize, cfg.PerIPRefillRate = 2, 60
	l, clock := newTestLimiter(t, cfg)
	h := l.Middleware(&okHandler{})
	serve(h, request{path: "/x", remote: "192.0.2.1:1"}) // 1 token left
	serve(h, request{path: "/x", remote: "192.0.2.2:1"})
	serve(h, request{path: "/x", remote: "192.0.2.2:1"}) // 0 left
	if s := l.Stats(); s.ActiveLimiters != 2 || !s.LastCleanup.Equal(epoch) {
		t.Fatalf("Stats = %+v, want 2 active, last cleanup at New", s)
	}
	clock.Advance(time.Second)
	if n := l.Cleanup(clock.Now()); n != 1 {
		t.Fatalf("Cleanup after 1 s dropped %d, want 1 (192.0.2.1 full again)", n)
	}
	if _, ok := l.ips[clientKey{ip: netip.MustParseAddr("192.0.2.2")}]; !ok {
		t.Fatalf("Cleanup dropped 192.0.2.2, which is still refilling")
	}
	clock.Advance(time.Second)
	if n := l.Cleanup(clock.Now()); n != 1 {
		t.Fatalf("Cleanup after 2 s dropped %d, want 1", n)
	}
	if s := l.Stats(); s.ActiveLimiters != 0 || !s.LastCleanup.Equal(epoch.Add(2*time.Second)) {
		t.Fatalf("Stats = %+v, want 0 active, last cleanup at epoch+2s", s)
	}

	cfg.GlobalBurstSize = 1
	l, _ = newTestLimiter(t, cfg)
	h = l.Middleware(&okHandler{})
	serve(h, request{path: "/x", remote: "192.0.2.1:1"})
	for i := range 10 {
		serve(h, request{path: "/x", remote: fmt.Sprintf("198.51.100.%d:1", i)})
	}
	if s := l.Stats(); s.ActiveLimiters != 1 || s.BlockedRequests != 10 {
		t.Fatalf("Stats = %+v, want 1 active (refused IPs untracked), 10 blocked", s)
	}
}

// Beyond ipLimitersMax tracked IPs, new clients share one overflow bucket.
func TestIPLimitersBounded(t *testing.T) {
	cfg := roomyConfig()
	cfg.PerIPBurstSize = 2
	l, clock := newTestLimiter(t, cfg)
	now := clock.Now().UnixNano()
	for i := range ipLimitersMax {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if v := l.decide(now, clientKey{ip: ip}, nil); !v.allowed {
			t.Fatalf("request %d refused", i)
		}
	}
	for i, want := range []bool{true, true, false} {
		ip := netip.AddrFrom4([4]byte{172, 16, 0, byte(i)})
		if v := l.decide(now, clientKey{ip: ip}, nil); v.allowed != want || (!want && v.scope != scopeIP) {
			t.Fatalf("new IP %d past the bound: allowed=%v scope=%v, want %v (shared overflow bucket of 2)", i, v.allowed, v.scope, want)
		}
	}
	if s := l.Stats(); s.ActiveLimiters != ipLimitersMax {
		t.Fatalf("ActiveLimiters = %d, want the bound %d", s.ActiveLimiters, ipLimitersMax)
	}
}

// Start runs Cleanup every cleanup_interval_seconds until ctx ends.
func TestStartRunsCleanup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := roomyConfig()
		cfg.PerIPBurstSize, cfg.PerIPRefillRate = 2, 60
		cfg.CleanupIntervalSeconds = 60
		l, err := New(cfg, nil) // the system clock, which synctest fakes
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		ctx, cancel := context.WithCancel(t.Context())
		l.Start(ctx)
		serve(l.Middleware(&okHandler{}), request{path: "/x"})
		time.Sleep(59 * time.Second)
		synctest.Wait()
		if s := l.Stats(); s.ActiveLimiters != 1 {
			t.Fatalf("before the first tick: %+v, want 1 active", s)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if s := l.Stats(); s.ActiveLimiters != 0 || !s.LastCleanup.Equal(start.Add(60*time.Second).UTC().Truncate(time.Second)) {
			t.Fatalf("after the first tick: %+v, want 0 active, cleaned at start+60s", s)
		}
		cancel()
		synctest.Wait() // the goroutine must have ended for the bubble to close
	})
}

// Disabled, the middleware is the next handler itself: every request
// passes, with no rate-limit headers, and nothing is counted.
func TestDisabledPassesThrough(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Enabled = false
	l, _ := newTestLimiter(t, cfg)
	next := &okHandler{}
	h := l.Middleware(next)
	if h != http.Handler(next) {
		t.Fatalf("disabled Middleware wrapped next")
	}
	for range 500 {
		w := serve(h, request{method: "POST", path: "/api/v1/topics"})
		if w.Code != 200 || headersOf(w) != (rateHeaders{}) {
			t.Fatalf("disabled: %d %+v, want 200 without rate-limit headers", w.Code, headersOf(w))
		}
	}
	l.Start(t.Context()) // starts nothing
	if s := l.Stats(); s.Enabled || s.TotalRequests != 0 || s.ActiveLimiters != 0 {
		t.Fatalf("disabled Stats = %+v", s)
	}
}

// Stats marshal to the reference's /health rate_limiting block.
func TestStatsJSON(t *testing.T) {
	b, err := json.Marshal(Stats{Enabled: true, ActiveLimiters: 15, TotalRequests: 1250, BlockedRequests: 25,
		LastCleanup: time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"enabled":true,"active_limiters":15,"total_requests":1250,"blocked_requests":25,"last_cleanup":"2024-01-15T10:30:00Z"}`
	if string(b) != want {
		t.Fatalf("Stats JSON\n%s\nwant\n%s", b, want)
	}
}

// Concurrent requests are admitted exactly up to the burst: the check and
// the take are one step.
func TestConcurrentAdmitsExactlyBurst(t *testing.T) {
	cfg := roomyConfig()
	cfg.GlobalBurstSize = 100
	cfg.Endpoints["/api/v1/cluster"] = EndpointLimit{BurstSize: 150, RefillRate: 60}
	l, _ := newTestLimiter(t, cfg)
	next := &okHandler{}
	h := l.Middleware(next)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 50 {
				serve(h, request{path: "/api/v1/cluster", remote: fmt.Sprintf("192.0.2.%d:1", g)})
			}
		})
	}
	wg.Wait()
	now := l.clock.Now().UnixNano()
	if got := next.Calls(); got != 100 {
		t.Fatalf("admitted %d of 400, want the global burst of 100", got)
	}
	if tok := l.routeBucketTokens(now, "/api/v1/cluster"); tok != 50 {
		t.Fatalf("endpoint bucket holds %v tokens, want 150-100 = 50 (refusals took none)", tok)
	}
	if s := l.Stats(); s.TotalRequests != 400 || s.BlockedRequests != 300 {
		t.Fatalf("Stats = %+v", s)
	}
}

// routeBucketTokens is the tokens of the exact endpoint key path.
func (l *Limiter) routeBucketTokens(nowNs int64, path string) float64 {
	ep := l.exact[path].any
	return ep.bucket.tokensAt(&ep.limit, nowNs)
}

// Goal: with KeyByPrincipal, an authenticated principal has one budget
// wherever it connects from, two principals behind one address have one
// each, and the refusal names the principal; requests without one still
// draw from their IP's bucket.
func TestKeyByPrincipal(t *testing.T) {
	cfg := roomyConfig()
	cfg.PerIPBurstSize, cfg.PerIPRefillRate = 2, 1
	l, _ := newTestLimiter(t, cfg)
	l.KeyByPrincipal(func(r *http.Request) string { return r.Header.Get("X-Test-Principal") })
	h := l.Middleware(&okHandler{})
	send := func(remote, principal string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/x", nil)
		r.RemoteAddr = remote
		if principal != "" {
			r.Header.Set("X-Test-Principal", principal)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i, remote := range []string{"192.0.2.1:1", "192.0.2.2:1"} { // alice from two addresses: one budget
		if w := send(remote, "alice"); w.Code != 200 {
			t.Fatalf("alice request %d: %d", i, w.Code)
		}
	}
	w := send("192.0.2.3:1", "alice")
	if w.Code != 429 || !strings.Contains(w.Body.String(), `Rate limit exceeded for principal \"alice\"`) {
		t.Fatalf("alice's third request: %d %s", w.Code, w.Body.String())
	}
	for i := range 2 { // bob behind alice's first address has his own
		if w := send("192.0.2.1:1", "bob"); w.Code != 200 {
			t.Fatalf("bob request %d: %d", i, w.Code)
		}
	}
	for i := range 2 { // an unauthenticated client from that address too
		if w := send("192.0.2.1:1", ""); w.Code != 200 {
			t.Fatalf("anonymous request %d: %d", i, w.Code)
		}
	}
	if w := send("192.0.2.1:1", ""); w.Code != 429 || !strings.Contains(w.Body.String(), "IP 192.0.2.1") {
		t.Fatalf("anonymous third: %d %s", w.Code, w.Body.String())
	}
}

// Goal: the security endpoints are classified like the topic ones: rule
// and registry changes (raft writes) share the low-frequency budget, the
// reads and ACL decisions the medium one, and the category shows in the
// refusal.
func TestSecurityRoutesClassified(t *testing.T) {
	cfg := roomyConfig()
	cfg.LowFrequency = EndpointLimit{BurstSize: 1, RefillRate: 1}
	cfg.MediumFrequency = EndpointLimit{BurstSize: 1, RefillRate: 1}
	l, _ := newTestLimiter(t, cfg)
	h := l.Middleware(&okHandler{})
	for _, rq := range []request{{method: "POST", path: "/api/v1/acls"}, {method: "DELETE", path: "/api/v1/acls/7"}, {method: "POST", path: "/api/v1/certs/revoke"}} {
		first, second := serve(h, rq), serve(h, rq)
		if first.Code != 200 || second.Code != 429 || !strings.Contains(second.Body.String(), rq.method+":") {
			t.Errorf("%s %s: %d then %d %s, want the low-frequency budget of 1", rq.method, rq.path, first.Code, second.Code, second.Body.String())
		}
	}
	for _, rq := range []request{{method: "GET", path: "/api/v1/acls"}, {method: "POST", path: "/api/v1/acls/test"}, {method: "GET", path: "/api/v1/certs/crl"}, {method: "GET", path: "/api/v1/certs/0a1b"}} {
		first, second := serve(h, rq), serve(h, rq)
		if first.Code != 200 || second.Code != 429 {
			t.Errorf("%s %s: %d then %d, want the medium-frequency budget of 1", rq.method, rq.path, first.Code, second.Code)
		}
	}
}
