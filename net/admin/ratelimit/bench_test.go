package ratelimit

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// discardWriter is a ResponseWriter that keeps only its header map, so
// that the benchmark measures the middleware rather than a recorder.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }

// steppingClock advances one microsecond per reading: one token per
// request at the benchmark's refill rate, so no bucket ever runs dry and
// every request takes the admitted path.
type steppingClock struct{ n atomic.Int64 }

func (c *steppingClock) Now() time.Time {
	return epoch.Add(time.Duration(c.n.Add(1)) * time.Microsecond)
}

// newBenchLimiter has the reference's default bursts, so that the
// headers' numbers are of realistic size, refilling one token per
// steppingClock reading.
func newBenchLimiter(b *testing.B) *Limiter {
	cfg := DefaultConfig()
	const perMicrosecond = 60_000_000 // requests per minute
	cfg.GlobalRefillRate, cfg.PerIPRefillRate = perMicrosecond, perMicrosecond
	cfg.HighFrequency.RefillRate = perMicrosecond
	cfg.MediumFrequency.RefillRate = perMicrosecond
	cfg.LowFrequency.RefillRate = perMicrosecond
	cfg.TrustedProxies = []string{"10.0.0.0/8"}
	for k, e := range cfg.Endpoints {
		cfg.Endpoints[k] = EndpointLimit{BurstSize: e.BurstSize, RefillRate: perMicrosecond}
	}
	l, err := New(cfg, &steppingClock{})
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// serveLoop serves r n times through h and returns the time taken.
func serveLoop(b *testing.B, h http.Handler, r *http.Request, n int) time.Duration {
	w := &discardWriter{h: http.Header{}}
	start := time.Now()
	for range n {
		clear(w.h)
		w.status = 0
		h.ServeHTTP(w, r)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
	return time.Since(start)
}

// BenchmarkMiddleware measures the limiter's cost per admitted request
// against the same handler bare. "overhead" runs both in one benchmark
// and reports their difference as overhead-ns/op (the goal is < 1000),
// and as overhead-cpu-ns/op in thread CPU time, which stays meaningful on
// a machine whose other load inflates wall time.
// Requests are GET /api/v1/topics/{name}, the deepest classification
// (two exact misses, then the route table).
func BenchmarkMiddleware(b *testing.B) {
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	newRequest := func(remote string, xff string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/topics/orders", nil)
		r.RemoteAddr = remote
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		return r
	}
	direct := newRequest("192.0.2.1:41000", "")

	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		serveLoop(b, next, direct, b.N)
	})
	b.Run("limited", func(b *testing.B) {
		h := newBenchLimiter(b).Middleware(next)
		b.ReportAllocs()
		serveLoop(b, h, direct, b.N)
	})
	overhead := func(b *testing.B, r *http.Request) {
		h := newBenchLimiter(b).Middleware(next)
		var bare, limited time.Duration
		bareCPU := threadCPU(func() { bare = serveLoop(b, next, r, b.N) })
		limitedCPU := threadCPU(func() { limited = serveLoop(b, h, r, b.N) })
		b.ReportMetric(float64(limited-bare)/float64(b.N), "overhead-ns/op")
		b.ReportMetric(float64(limitedCPU-bareCPU)/float64(b.N), "overhead-cpu-ns/op")
	}
	b.Run("overhead", func(b *testing.B) { overhead(b, direct) })
	b.Run("overhead-trusted-proxy", func(b *testing.B) {
		overhead(b, newRequest("10.0.0.1:41000", "198.51.100.23, 10.0.0.2"))
	})
	b.Run("limited-10000-ips", func(b *testing.B) {
		h := newBenchLimiter(b).Middleware(next)
		reqs := make([]*http.Request, 10000)
		for i := range reqs {
			reqs[i] = newRequest(fmt.Sprintf("172.16.%d.%d:41000", i>>8, i&0xff), "")
		}
		w := &discardWriter{h: http.Header{}}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			clear(w.h)
			h.ServeHTTP(w, reqs[i%len(reqs)])
		}
	})
	b.Run("limited-parallel", func(b *testing.B) {
		h := newBenchLimiter(b).Middleware(next)
		var ids atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			r := newRequest(fmt.Sprintf("192.0.2.%d:41000", ids.Add(1)), "")
			w := &discardWriter{h: http.Header{}}
			for pb.Next() {
				clear(w.h)
				h.ServeHTTP(w, r)
			}
		})
	})
	b.Run("chain-parallel", func(b *testing.B) {
		// The production chain with logging off: CORS, then the limiter.
		h := Log(zerolog.Nop(), false)(CORS([]string{"https://console.example"})(newBenchLimiter(b).Middleware(next)))
		var ids atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			r := newRequest(fmt.Sprintf("192.0.2.%d:41000", ids.Add(1)), "")
			w := &discardWriter{h: http.Header{}}
			for pb.Next() {
				clear(w.h)
				h.ServeHTTP(w, r)
			}
		})
	})
}
