package ratelimit

import (
	"math"
	"strconv"
)

// nsPerMinute converts refill rates, which are per minute.
const nsPerMinute = 60e9

// limit is a bucket's size, with what each request needs precomputed.
type limit struct {
	burst     int
	perMinute int
	text      string // perMinute, for X-RateLimit-Limit
	// resetUnix and resetText cache the last X-RateLimit-Reset this
	// bucket decided, which changes at most once a second under load.
	// Guarded by Limiter.mu.
	resetUnix int64
	resetText string
}

func newLimit(burst, perMinute int) limit {
	return limit{burst: burst, perMinute: perMinute, text: strconv.Itoa(perMinute)}
}

// untilTokens is how many nanoseconds a bucket holding have tokens takes
// to hold want, rounded up.
func (l *limit) untilTokens(have, want float64) int64 {
	if have >= want {
		return 0
	}
	return int64(math.Ceil((want - have) * nsPerMinute / float64(l.perMinute)))
}

// resetHeader is X-RateLimit-Reset for unix, from the cache when it can.
// The caller holds Limiter.mu.
func (l *limit) resetHeader(unix int64) string {
	if unix != l.resetUnix || l.resetText == "" {
		l.resetUnix, l.resetText = unix, strconv.FormatInt(unix, 10)
	}
	return l.resetText
}

// bucket is a token bucket: it holds up to limit.burst tokens and earns
// limit.perMinute a minute, continuously. It is golang.org/x/time/rate's
// arithmetic without that package's per-limiter lock and time.Time
// handling, which made a request's three buckets ~6x dearer and the
// middleware miss its 1 µs budget (see the package doc); a property test
// holds it to x/time/rate. Times are Unix nanoseconds from the Limiter's
// Clock; a clock that steps back earns nothing until it passes the last
// time again. The caller holds Limiter.mu.
type bucket struct {
	tokens float64 // at lastNs
	lastNs int64
}

// newBucket is a full bucket.
func newBucket(l *limit, nowNs int64) *bucket {
	return &bucket{tokens: float64(l.burst), lastNs: nowNs}
}

// tokensAt is what the bucket holds at nowNs.
func (b *bucket) tokensAt(l *limit, nowNs int64) float64 {
	t := b.tokens
	if e := nowNs - b.lastNs; e > 0 {
		t += float64(e) * float64(l.perMinute) / nsPerMinute
	}
	return min(t, float64(l.burst))
}

// take removes one token from the bucket, which holds have >= 1 at nowNs
// (from tokensAt).
func (b *bucket) take(nowNs int64, have float64) {
	b.tokens = have - 1
	b.lastNs = max(b.lastNs, nowNs)
}
