package ratelimit

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// Clock is where a Limiter reads the time: the wall clock in production,
// a fake one in tests. The Limiter never calls time.Now itself.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// SystemClock is the wall clock. New uses it when given a nil Clock.
var SystemClock Clock = systemClock{}

// ipLimitersMax bounds the per-IP buckets. Beyond it, clients not yet
// tracked share one overflow bucket of the per-IP size until Cleanup
// frees room, so memory stays bounded however many addresses a client
// can use (an IPv6 /64 has 2^64).
const ipLimitersMax = 1 << 16

// Header names. They are Go's canonical spellings of the reference's
// X-RateLimit-*; header names are case-insensitive on the wire.
const (
	headerLimit     = "X-Ratelimit-Limit"
	headerRemaining = "X-Ratelimit-Remaining"
	headerReset     = "X-Ratelimit-Reset"
	headerType      = "X-Ratelimit-Type"
)

// scope is a bucket's kind: the values of X-RateLimit-Type.
type scope uint8

const (
	scopeGlobal scope = iota
	scopeIP
	scopeEndpoint
)

func (s scope) String() string {
	switch s {
	case scopeGlobal:
		return "global"
	case scopeIP:
		return "ip"
	case scopeEndpoint:
		return "endpoint"
	}
	return fmt.Sprintf("scope(%d)", uint8(s))
}

// smallCounts are the texts of 0..1023, so that X-RateLimit-Remaining of
// buckets of the reference's sizes costs no allocation.
var smallCounts = func() []string {
	s := make([]string, 1024)
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

// countText is n's decimal text.
func countText(n int) string {
	if n >= 0 && n < len(smallCounts) {
		return smallCounts[n]
	}
	return strconv.Itoa(n)
}

// endpoint is one endpoint bucket, shared by every client.
type endpoint struct {
	name   string // its Endpoints key, or "METHOD:pattern" for a category route
	limit  limit
	bucket *bucket
}

// pathEndpoints are the exact Endpoints keys of one path: with a method,
// and without ("any").
type pathEndpoints struct {
	byMethod []methodEndpoint
	any      *endpoint
}

type methodEndpoint struct {
	method string
	ep     *endpoint
}

// routeEndpoint is a category-table route with the bucket it resolves to.
type routeEndpoint struct {
	route route
	ep    *endpoint
}

// Limiter is the admin API's rate limiter: a global bucket, one bucket
// per client IP and one per endpoint (see the package doc). It is safe
// for concurrent use.
type Limiter struct {
	enabled         bool
	clock           Clock
	cleanupInterval time.Duration
	trusted         []netip.Prefix
	exact           map[string]*pathEndpoints // by path
	routes          []routeEndpoint
	globalLimit     limit
	ipLimit         limit

	// mu makes a request's check of its buckets and its take from them
	// one step, so that a refusal by one takes nothing from the others.
	// Every request passes the global bucket anyway, so one lock adds no
	// serialisation that the global bucket does not already impose.
	mu              sync.Mutex
	global          *bucket
	ips             map[clientKey]*bucket
	principalOf     func(*http.Request) string
	ipOverflow      *bucket
	totalRequests   uint64
	blockedRequests uint64
	lastCleanup     time.Time
}

// New returns a limiter for cfg reading time from clock (SystemClock if
// nil). It fails with Validate's error for a bad config.
func New(cfg Config, clock Clock) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if clock == nil {
		clock = SystemClock
	}
	now := clock.Now()
	nowNs := now.UnixNano()
	l := &Limiter{
		enabled:         cfg.Enabled,
		clock:           clock,
		cleanupInterval: time.Duration(cfg.CleanupIntervalSeconds) * time.Second,
		exact:           map[string]*pathEndpoints{},
		globalLimit:     newLimit(cfg.GlobalBurstSize, cfg.GlobalRefillRate),
		ipLimit:         newLimit(cfg.PerIPBurstSize, cfg.PerIPRefillRate),
		ips:             map[clientKey]*bucket{},
		lastCleanup:     now,
	}
	for _, s := range cfg.TrustedProxies {
		p, err := parseProxy(s)
		if err != nil {
			panic(fmt.Sprintf("ratelimit: validated trusted proxy %q: %v", s, err))
		}
		l.trusted = append(l.trusted, p)
	}
	l.global = newBucket(&l.globalLimit, nowNs)
	l.ipOverflow = newBucket(&l.ipLimit, nowNs)
	patterns := map[string]*endpoint{}
	for k, el := range cfg.Endpoints {
		ep := newEndpoint(k, newLimit(el.BurstSize, el.RefillRate), nowNs)
		t, err := resolveKey(k)
		if err != nil {
			panic(fmt.Sprintf("ratelimit: validated endpoint key %q: %v", k, err))
		}
		if t.pattern {
			patterns[t.name()] = ep
			continue
		}
		pe := l.exact[t.path]
		if pe == nil {
			pe = &pathEndpoints{}
			l.exact[t.path] = pe
		}
		if t.method == "" {
			pe.any = ep
		} else {
			pe.byMethod = append(pe.byMethod, methodEndpoint{t.method, ep})
		}
	}
	for _, r := range routes {
		ep := patterns[r.method+":"+r.pattern]
		if ep == nil {
			ep = patterns[r.pattern]
		}
		if ep == nil {
			cl := cfg.categoryLimit(r.category)
			ep = newEndpoint(r.method+":"+r.pattern, newLimit(cl.BurstSize, cl.RefillRate), nowNs)
		}
		l.routes = append(l.routes, routeEndpoint{route: r, ep: ep})
	}
	return l, nil
}

func newEndpoint(name string, lim limit, nowNs int64) *endpoint {
	ep := &endpoint{name: name, limit: lim}
	ep.bucket = newBucket(&ep.limit, nowNs)
	return ep
}

// endpointFor classifies a request: the exact key "METHOD:path", then the
// exact key "path", then the category table's route (whose bucket a
// pattern key may size). Nil means no endpoint bucket applies (a path
// outside the API). HEAD is classified as GET.
func (l *Limiter) endpointFor(method, path string) *endpoint {
	if method == http.MethodHead {
		method = http.MethodGet
	}
	if pe := l.exact[path]; pe != nil {
		for _, m := range pe.byMethod {
			if m.method == method {
				return m.ep
			}
		}
		if pe.any != nil {
			return pe.any
		}
	}
	for i := range l.routes {
		if l.routes[i].route.match(method, path) {
			return l.routes[i].ep
		}
	}
	return nil
}

// Middleware rate-limits next. Every response it passes carries the
// X-RateLimit-* headers of the deciding bucket (see the package doc); a
// refused request is answered 429 with Retry-After and never reaches
// next. GET and HEAD /health pass uncounted and without headers (see
// HealthPath). With Enabled = false it returns next itself.
func (l *Limiter) Middleware(next http.Handler) http.Handler {
	if !l.enabled {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := escapedPath(r)
		if exempt(r.Method, path) || l.forwardedByPeer(r) {
			next.ServeHTTP(w, r) // a probe; or the forwarding controller already charged it
			return
		}
		ip := l.ClientIP(r)
		noteClientIP(r, ip)
		key := clientKey{ip: ip}
		if l.principalOf != nil {
			if p := l.principalOf(r); p != "" {
				key = clientKey{principal: p}
			}
		}
		ep := l.endpointFor(r.Method, path)
		v := l.decide(l.clock.Now().UnixNano(), key, ep)
		setHeaders(w.Header(), &v)
		if !v.allowed {
			refuse(w, &v, key, ep)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ForwardedByHeader marks a request one controller forwarded to the leader
// (net/admin sets it). The forwarding controller has rate-limited the
// request already, so when it comes from a trusted proxy (list the peer
// controllers in trusted_proxies) it is not charged a second time — and
// not to the forwarding controller's IP, which would make every follower
// share one client's budget.
const ForwardedByHeader = "X-Weir-Forwarded-By"

func (l *Limiter) forwardedByPeer(r *http.Request) bool {
	if r.Header.Get(ForwardedByHeader) == "" {
		return false
	}
	return l.isTrusted(parseHop(r.RemoteAddr))
}

// escapedPath is the path as the client sent it, which is what
// net/http's mux splits into segments: Path, unless the request escaped
// a character that Path shows decoded (a "%2F" in a topic name).
func escapedPath(r *http.Request) string {
	if r.URL.RawPath == "" {
		return r.URL.Path
	}
	return r.URL.EscapedPath()
}

// candidate is one bucket a request is checked against.
type candidate struct {
	scope  scope
	limit  *limit
	bucket *bucket // nil: an untracked IP, whose bucket would be full
	tokens float64 // before the request; after it, once allowed
}

// verdict is a request's outcome and the deciding bucket's headers.
type verdict struct {
	allowed    bool
	scope      scope
	perMinute  int
	burst      int
	limitText  string
	remaining  int
	resetText  string
	retryAfter int64 // seconds; refusals only
}

// newVerdict is the headers of c deciding at nowNs.
func newVerdict(nowNs int64, c *candidate, allowed bool) verdict {
	return verdict{
		allowed:   allowed,
		scope:     c.scope,
		perMinute: c.limit.perMinute,
		burst:     c.limit.burst,
		limitText: c.limit.text,
		remaining: max(0, int(math.Floor(c.tokens))),
		resetText: c.limit.resetHeader(unixCeil(nowNs + c.limit.untilTokens(c.tokens, float64(c.limit.burst)))),
	}
}

// decide checks every bucket of the request and takes one token from
// each only if all have one.
func (l *Limiter) decide(nowNs int64, ip clientKey, ep *endpoint) verdict {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.totalRequests++
	var buf [3]candidate
	cs := buf[:0]
	cs = append(cs, candidate{scope: scopeGlobal, limit: &l.globalLimit, bucket: l.global, tokens: l.global.tokensAt(&l.globalLimit, nowNs)})
	ipc := candidate{scope: scopeIP, limit: &l.ipLimit, bucket: l.ips[ip], tokens: float64(l.ipLimit.burst)}
	if ipc.bucket == nil && len(l.ips) >= ipLimitersMax {
		ipc.bucket = l.ipOverflow
	}
	if ipc.bucket != nil {
		ipc.tokens = ipc.bucket.tokensAt(&l.ipLimit, nowNs)
	}
	cs = append(cs, ipc)
	if ep != nil {
		cs = append(cs, candidate{scope: scopeEndpoint, limit: &ep.limit, bucket: ep.bucket, tokens: ep.bucket.tokensAt(&ep.limit, nowNs)})
	}
	if c, waitNs, refused := slowestRefusal(cs); refused {
		l.blockedRequests++
		v := newVerdict(nowNs, c, false)
		v.retryAfter = max(1, ceilDiv(waitNs, int64(time.Second)))
		return v
	}
	if cs[1].bucket == nil {
		cs[1].bucket = newBucket(&l.ipLimit, nowNs)
		l.ips[ip] = cs[1].bucket
	}
	for i := range cs {
		cs[i].bucket.take(nowNs, cs[i].tokens)
		cs[i].tokens--
	}
	return newVerdict(nowNs, mostRestrictive(cs), true)
}

// slowestRefusal finds the buckets without a whole token and returns the
// one that takes longest to earn it: the wait after which all of them
// would admit the request. Ties go to the more specific scope.
func slowestRefusal(cs []candidate) (c *candidate, waitNs int64, refused bool) {
	for i := range cs {
		if cs[i].tokens >= 1 {
			continue
		}
		w := cs[i].limit.untilTokens(cs[i].tokens, 1)
		if c == nil || w >= waitNs {
			c, waitNs = &cs[i], w
		}
	}
	return c, waitNs, c != nil
}

// mostRestrictive is the bucket with the fewest whole tokens left; among
// equals, the slowest to refill, then the most specific scope.
func mostRestrictive(cs []candidate) *candidate {
	best := &cs[0]
	for i := 1; i < len(cs); i++ {
		c := &cs[i]
		cr, br := math.Floor(c.tokens), math.Floor(best.tokens)
		if cr < br || (cr == br && c.limit.perMinute <= best.limit.perMinute) {
			best = c
		}
	}
	return best
}

// ceilDiv is a/b rounded up, for a >= 0 and b > 0.
func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// unixCeil is Unix nanoseconds ns in seconds, rounded up: the first
// whole second at or after it.
func unixCeil(ns int64) int64 { return ceilDiv(ns, int64(time.Second)) }

// setHeaders sets the X-RateLimit-* headers. The four values share one
// fresh array, so that no response's slice aliases another's.
func setHeaders(h http.Header, v *verdict) {
	vals := new([4]string)
	vals[0] = v.limitText
	vals[1] = countText(v.remaining)
	vals[2] = v.resetText
	vals[3] = v.scope.String()
	h[headerLimit] = vals[0:1:1]
	h[headerRemaining] = vals[1:2:2]
	h[headerReset] = vals[2:3:3]
	h[headerType] = vals[3:4:4]
}

// envelope is the admin API's answer shape (net/admin's envelope); a
// refusal has data and leader_hint null.
type envelope struct {
	Success    bool    `json:"success"`
	Data       any     `json:"data"`
	Error      string  `json:"error"`
	LeaderHint *string `json:"leader_hint"`
}

// refuse answers 429 in the reference's words.
func refuse(w http.ResponseWriter, v *verdict, ip clientKey, ep *endpoint) {
	body, err := json.Marshal(envelope{Error: refusalMessage(v, ip, ep)})
	if err != nil {
		panic(fmt.Sprintf("ratelimit: encoding refusal: %v", err))
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Retry-After", strconv.FormatInt(v.retryAfter, 10))
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = w.Write(body) // a client that left is not an error
}

// refusalMessage is the reference's "Rate limit exceeded for IP
// 192.168.1.100. Limit: 30 requests per minute", with the endpoint or
// "all clients" in place of the IP when that bucket refused, and the two
// facts a client needs that the reference's words leave out: the bucket's
// burst (a client refused on its 6th request of a burst, under a limit of
// 10 a minute, must learn why) and when to retry (Retry-After).
func refusalMessage(v *verdict, ip clientKey, ep *endpoint) string {
	var who string
	switch v.scope {
	case scopeGlobal:
		who = "all clients"
	case scopeIP:
		who = "IP " + ipString(ip.ip)
		if ip.principal != "" {
			who = fmt.Sprintf("principal %q", ip.principal)
		}
	case scopeEndpoint:
		who = "endpoint " + ep.name
	}
	return fmt.Sprintf("Rate limit exceeded for %s. Limit: %d requests per minute, in bursts of at most %d; retry after %d s",
		who, v.perMinute, v.burst, v.retryAfter)
}

// ipString is ip for messages and logs; "unknown" when the peer address
// was not an IP.
func ipString(ip netip.Addr) string {
	if !ip.IsValid() {
		return "unknown"
	}
	return ip.String()
}

// clientKey is whose per-client bucket a request draws from: its
// authenticated principal when it has one (every address of one principal
// shares its budget, and principals behind one proxy do not share one),
// else its client IP.
type clientKey struct {
	ip        netip.Addr
	principal string
}

// KeyByPrincipal makes the per-client buckets key on principalOf(r) when
// it is not "" (the admin server's authenticated principal), instead of
// the client IP. Call it before serving.
func (l *Limiter) KeyByPrincipal(principalOf func(*http.Request) string) { l.principalOf = principalOf }

// Stats is the rate_limiting block of the reference's /health answer.
type Stats struct {
	// Enabled is Config.Enabled; a disabled limiter counts nothing.
	Enabled bool `json:"enabled"`
	// ActiveLimiters is the number of per-IP buckets held: the state that
	// Cleanup bounds. The global and endpoint buckets are fixed and not
	// counted.
	ActiveLimiters int `json:"active_limiters"`
	// TotalRequests counts the requests checked; BlockedRequests, those
	// answered 429.
	TotalRequests   uint64 `json:"total_requests"`
	BlockedRequests uint64 `json:"blocked_requests"`
	// LastCleanup is when Cleanup last ran, in UTC whole seconds as the
	// reference prints it; New counts as one, since a new Limiter holds
	// no idle bucket.
	LastCleanup time.Time `json:"last_cleanup"`
}

// Stats reports the counters for /health.
func (l *Limiter) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{
		Enabled:         l.enabled,
		ActiveLimiters:  len(l.ips),
		TotalRequests:   l.totalRequests,
		BlockedRequests: l.blockedRequests,
		LastCleanup:     l.lastCleanup.UTC().Truncate(time.Second),
	}
}

// Cleanup drops the per-IP buckets that are full at now: their clients
// were idle long enough to earn back the whole burst, so a fresh bucket
// is the same bucket and dropping it loses nothing. It returns how many
// it dropped. Start calls it every CleanupIntervalSeconds; callers that
// drive time themselves (tests, a simulator) call it directly.
func (l *Limiter) Cleanup(now time.Time) int {
	nowNs := now.UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	full := float64(l.ipLimit.burst)
	n := 0
	for ip, b := range l.ips {
		if b.tokensAt(&l.ipLimit, nowNs) >= full {
			delete(l.ips, ip)
			n++
		}
	}
	l.lastCleanup = now
	return n
}

// Start runs Cleanup every CleanupIntervalSeconds, at the Clock's time,
// on a goroutine that ends with ctx. A disabled limiter starts nothing.
func (l *Limiter) Start(ctx context.Context) {
	if !l.enabled {
		return
	}
	go func() {
		t := time.NewTicker(l.cleanupInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				l.Cleanup(l.clock.Now())
			}
		}
	}()
}
