package ratelimit

import (
	"math"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
	"pgregory.net/rapid"
)

// bucket is golang.org/x/time/rate's arithmetic: over any sequence of
// waits and requests, it holds the same tokens as a rate.Limiter of the
// same size and admits the same requests (except within rounding of the
// one-token boundary, where the two may round either way).
func TestBucketMatchesXTimeRate(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		burst := rapid.IntRange(1, 1000).Draw(t, "burst")
		perMinute := rapid.IntRange(1, 100_000).Draw(t, "perMinute")
		l := newLimit(burst, perMinute)
		now := epoch
		b := newBucket(&l, now.UnixNano())
		oracle := rate.NewLimiter(rate.Limit(float64(perMinute)/60), burst)
		for range rapid.IntRange(1, 100).Draw(t, "steps") {
			wait := time.Duration(rapid.Int64Range(0, int64(time.Minute)).Draw(t, "wait")) >> rapid.IntRange(0, 30).Draw(t, "scale")
			now = now.Add(wait)
			for range rapid.IntRange(0, 5).Draw(t, "requests") {
				got, want := b.tokensAt(&l, now.UnixNano()), oracle.TokensAt(now)
				if math.Abs(got-want) > 1e-6 {
					t.Fatalf("at +%v: bucket holds %v tokens, x/time/rate %v", now.Sub(epoch), got, want)
				}
				if math.Abs(want-1) < 1e-6 {
					break // at the boundary; neither takes
				}
				admit := got >= 1
				if admit != oracle.AllowN(now, 1) {
					t.Fatalf("at +%v with %v tokens: bucket admits=%v, x/time/rate the opposite", now.Sub(epoch), got, admit)
				}
				if admit {
					b.take(now.UnixNano(), got)
				}
			}
		}
	})
}

// A clock that steps back earns nothing until it passes its last time.
func TestBucketClockStepsBack(t *testing.T) {
	l := newLimit(2, 60)
	b := newBucket(&l, int64(10*time.Second))
	b.take(int64(10*time.Second), 2)
	b.take(int64(10*time.Second), 1)
	if got := b.tokensAt(&l, int64(5*time.Second)); got != 0 {
		t.Fatalf("5 s before the last take: %v tokens, want 0", got)
	}
	if got := b.tokensAt(&l, int64(11*time.Second)); got != 1 {
		t.Fatalf("1 s after the last take: %v tokens, want 1", got)
	}
}

// BenchmarkBucket is the evidence for bucket: a request's check-then-take
// on three buckets under one lock, with x/time/rate (TokensAt, then
// AllowN, each taking the limiter's own lock and doing time.Time
// arithmetic) and with bucket.
func BenchmarkBucket(b *testing.B) {
	const n = 3
	b.Run("x-time-rate", func(b *testing.B) {
		var mu sync.Mutex
		var lims [n]*rate.Limiter
		for i := range lims {
			lims[i] = rate.NewLimiter(1e6, 1e6)
		}
		clock := &steppingClock{}
		for range b.N {
			now := clock.Now()
			mu.Lock()
			var tokens [n]float64
			ok := true
			for i, lim := range lims {
				tokens[i] = lim.TokensAt(now)
				ok = ok && tokens[i] >= 1
			}
			if ok {
				for _, lim := range lims {
					lim.AllowN(now, 1)
				}
			}
			mu.Unlock()
		}
	})
	b.Run("bucket", func(b *testing.B) {
		var mu sync.Mutex
		l := newLimit(1_000_000, 60_000_000)
		var bs [n]*bucket
		for i := range bs {
			bs[i] = newBucket(&l, epoch.UnixNano())
		}
		clock := &steppingClock{}
		for range b.N {
			now := clock.Now().UnixNano()
			mu.Lock()
			var tokens [n]float64
			ok := true
			for i, bk := range bs {
				tokens[i] = bk.tokensAt(&l, now)
				ok = ok && tokens[i] >= 1
			}
			if ok {
				for i, bk := range bs {
					bk.take(now, tokens[i])
				}
			}
			mu.Unlock()
		}
	})
}
