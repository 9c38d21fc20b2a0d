package ratelimit

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Config is [admin.rate_limiting]: the reference's keys, plus the three
// category limits and trusted_proxies, which the reference leaves
// implicit. Its TOML tags let cmd/ embed it under [admin] as
// `rate_limiting`, so that the generic WEIR_<SECTION>_<KEY> overrides
// reach every scalar key (WEIR_ADMIN_RATE_LIMITING_GLOBAL_BURST_SIZE);
// ApplyEnv also accepts the reference's shorter names
// (WEIR_ADMIN_GLOBAL_BURST_SIZE).
//
// Rates are requests per minute, as in the reference; bursts are bucket
// capacities in requests.
type Config struct {
	// Enabled = false turns rate limiting off: Middleware returns the
	// next handler itself, which sets no X-RateLimit-* header.
	Enabled bool `toml:"enabled"`
	// GlobalBurstSize and GlobalRefillRate size the one bucket every
	// request draws from, so that no mix of clients can overload the
	// controller.
	GlobalBurstSize  int `toml:"global_burst_size"`
	GlobalRefillRate int `toml:"global_refill_rate"`
	// PerIPBurstSize and PerIPRefillRate size each client IP's bucket, so
	// that one client cannot take the whole global budget.
	PerIPBurstSize  int `toml:"per_ip_burst_size"`
	PerIPRefillRate int `toml:"per_ip_refill_rate"`
	// CleanupIntervalSeconds is how often Start drops idle per-IP
	// buckets, which bounds their memory.
	CleanupIntervalSeconds int `toml:"cleanup_interval_seconds"`
	// Endpoints gives an endpoint its own bucket, shared by all clients.
	// A key is an exact path ("/api/v1/topics", any method), a method and
	// an exact path ("POST:/api/v1/topics", which wins over the path
	// alone), or a route pattern of the category table with or without
	// a method ("DELETE:/api/v1/topics/{name}"); "DELETE:/api/v1/topics"
	// is the reference's name for the last. A key that matches no route
	// is refused. See the package doc.
	Endpoints map[string]EndpointLimit `toml:"endpoints"`
	// HighFrequency, MediumFrequency and LowFrequency are the limits of
	// the reference's three endpoint categories, for the category table's
	// routes that no Endpoints key names; each such route gets its own
	// bucket of its category's size.
	HighFrequency   EndpointLimit `toml:"high_frequency"`
	MediumFrequency EndpointLimit `toml:"medium_frequency"`
	LowFrequency    EndpointLimit `toml:"low_frequency"`
	// TrustedProxies are the IPs and CIDRs ("10.0.0.7", "10.1.0.0/16")
	// of reverse proxies whose X-Forwarded-For is believed. Empty means
	// the header is never read: the client is the TCP peer.
	TrustedProxies []string `toml:"trusted_proxies"`
}

// EndpointLimit sizes one endpoint's (or category's) bucket.
type EndpointLimit struct {
	// BurstSize is the bucket's capacity: the requests a quiet endpoint
	// admits at once.
	BurstSize int `toml:"burst_size"`
	// RefillRate is the sustained rate, in requests per minute.
	RefillRate int `toml:"refill_rate"`
}

// Bounds on the configuration, so that a typo cannot make a bucket whose
// arithmetic overflows or a table that costs each request a scan.
const (
	burstSizeMax              = 1_000_000
	refillRateMax             = 60_000_000 // 1,000,000 requests per second
	cleanupIntervalSecondsMax = 7 * 24 * 3600
	endpointsMax              = 256
	trustedProxiesMax         = 256
)

// DefaultConfig is the reference's configuration: enabled, a 1000-request
// global burst refilling 60 per minute, 100 per IP refilling 30 per minute,
// hourly cleanup, and its endpoint keys but "/health", which is never
// limited (see HealthPath); the category limits are the same numbers
// (high 50/100, medium 20/30, low 5/10).
func DefaultConfig() Config {
	return Config{
		Enabled:                true,
		GlobalBurstSize:        1000,
		GlobalRefillRate:       60,
		PerIPBurstSize:         100,
		PerIPRefillRate:        30,
		CleanupIntervalSeconds: 3600,
		Endpoints: map[string]EndpointLimit{
			"/api/v1/cluster":       {BurstSize: 50, RefillRate: 100},
			"/api/v1/topics":        {BurstSize: 20, RefillRate: 30},
			"/api/v1/brokers":       {BurstSize: 20, RefillRate: 30},
			"POST:/api/v1/topics":   {BurstSize: 5, RefillRate: 10},
			"DELETE:/api/v1/topics": {BurstSize: 5, RefillRate: 10},
		},
		HighFrequency:   EndpointLimit{BurstSize: 50, RefillRate: 100},
		MediumFrequency: EndpointLimit{BurstSize: 20, RefillRate: 30},
		LowFrequency:    EndpointLimit{BurstSize: 5, RefillRate: 10},
	}
}

// keyPrefix is the TOML table every message names keys under.
const keyPrefix = "admin.rate_limiting."

// Validate reports every bad key, each error naming it as written in TOML
// ("admin.rate_limiting.per_ip_burst_size must be > 0 (got 0)"). Limits
// are checked even when Enabled is false, so that turning the limiter on
// later cannot surprise.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf(keyPrefix+key+" "+format, args...))
	}
	checkBucket := func(key, burstKey, rateKey string, burst, rate int) {
		if burst <= 0 || burst > burstSizeMax {
			bad(key+burstKey, "must be > 0 and <= %d (got %d)", burstSizeMax, burst)
		}
		if rate <= 0 || rate > refillRateMax {
			bad(key+rateKey, "must be > 0 and <= %d requests per minute (got %d)", refillRateMax, rate)
		}
	}
	checkBucket("", "global_burst_size", "global_refill_rate", c.GlobalBurstSize, c.GlobalRefillRate)
	checkBucket("", "per_ip_burst_size", "per_ip_refill_rate", c.PerIPBurstSize, c.PerIPRefillRate)
	if c.CleanupIntervalSeconds <= 0 || c.CleanupIntervalSeconds > cleanupIntervalSecondsMax {
		bad("cleanup_interval_seconds", "must be > 0 and <= %d (got %d)", cleanupIntervalSecondsMax, c.CleanupIntervalSeconds)
	}
	for _, cat := range []Category{CategoryHigh, CategoryMedium, CategoryLow} {
		l := c.categoryLimit(cat)
		checkBucket(cat.String()+".", "burst_size", "refill_rate", l.BurstSize, l.RefillRate)
	}
	if len(c.Endpoints) > endpointsMax {
		bad("endpoints", "must have at most %d keys (got %d)", endpointsMax, len(c.Endpoints))
	}
	targets := map[string]string{} // canonical target: the key naming it
	for _, k := range slices.Sorted(maps.Keys(c.Endpoints)) {
		key := fmt.Sprintf("endpoints.%q", k)
		t, err := resolveKey(k)
		if err != nil {
			bad(key, "%v", err)
			continue
		}
		if other, dup := targets[t.name()]; dup {
			bad(key, "limits %s, as endpoints.%q does; keep one", t.name(), other)
		}
		targets[t.name()] = k
		l := c.Endpoints[k]
		checkBucket(key+".", "burst_size", "refill_rate", l.BurstSize, l.RefillRate)
	}
	if len(c.TrustedProxies) > trustedProxiesMax {
		bad("trusted_proxies", "must have at most %d entries (got %d)", trustedProxiesMax, len(c.TrustedProxies))
	}
	for i, s := range c.TrustedProxies {
		if _, err := parseProxy(s); err != nil {
			bad(fmt.Sprintf("trusted_proxies[%d]", i), "%v", err)
		}
	}
	return errors.Join(errs...)
}

// categoryLimit is the configured limit of cat.
func (c *Config) categoryLimit(cat Category) EndpointLimit {
	switch cat {
	case CategoryHigh:
		return c.HighFrequency
	case CategoryMedium:
		return c.MediumFrequency
	case CategoryLow:
		return c.LowFrequency
	}
	panic(fmt.Sprintf("ratelimit: unknown category %d", cat))
}

// keyTarget is what an Endpoints key limits, once resolved.
type keyTarget struct {
	method  string // "" for any method
	path    string // an exact escaped path, or a route pattern
	pattern bool   // path is a route pattern of the category table
}

// name is the target as a canonical key.
func (t keyTarget) name() string {
	if t.method == "" {
		return t.path
	}
	return t.method + ":" + t.path
}

// resolveKey reads an Endpoints key: "/path" (any method), "METHOD:/path",
// or either with a category-table pattern as the path
// ("DELETE:/api/v1/topics/{name}"). Every key must limit some route of the
// API; one that could never match a request is refused. A key
// "METHOD:/collection" where the API serves METHOD only on
// /collection/{...} names that route: the reference's
// "DELETE:/api/v1/topics" limits topic deletes, which go to
// /api/v1/topics/{name}, in the reference as in Weir.
func resolveKey(k string) (keyTarget, error) {
	method, path := splitEndpointKey(k)
	switch {
	case strings.HasPrefix(k, ":") || !strings.HasPrefix(path, "/"):
		return keyTarget{}, fmt.Errorf("want \"/path\" or \"METHOD:/path\" (got %q)", k)
	case method != "" && strings.TrimFunc(method, func(r rune) bool { return r >= 'A' && r <= 'Z' }) != "":
		return keyTarget{}, fmt.Errorf("method must be upper case letters, as in \"POST:/api/v1/topics\" (got %q)", method)
	case method == "HEAD":
		return keyTarget{}, fmt.Errorf("HEAD is limited as GET; write \"GET:%s\"", path)
	case path == HealthPath:
		return keyTarget{}, fmt.Errorf("%s is never rate limited, so that liveness probes never see 429; remove this key", HealthPath)
	}
	t := keyTarget{method: method, path: path}
	if strings.ContainsAny(path, "{}") {
		t.pattern = true
		if !slices.ContainsFunc(routes, func(r route) bool { return r.pattern == path }) {
			return keyTarget{}, fmt.Errorf("pattern %q is not a route of the category table; patterns are %s", path, routePatterns())
		}
		if method != "" && !slices.ContainsFunc(routes, func(r route) bool { return r.pattern == path && r.method == method }) {
			return keyTarget{}, fmt.Errorf("the API does not serve %s %s; routes are %s", method, path, routeList())
		}
		return t, nil
	}
	if slices.ContainsFunc(routes, func(r route) bool { return (method == "" || r.method == method) && matchPattern(r.pattern, path) }) {
		return t, nil
	}
	if method != "" {
		for _, r := range routes {
			rest, ok := strings.CutPrefix(r.pattern, path+"/")
			if ok && r.method == method && isWildcard(rest) {
				return keyTarget{method: method, path: r.pattern, pattern: true}, nil
			}
		}
	}
	return keyTarget{}, fmt.Errorf("matches no route of the admin API, so it would limit nothing; routes are %s", routeList())
}

// splitEndpointKey splits "POST:/api/v1/topics" into its method and path;
// a key without a method has method "".
func splitEndpointKey(k string) (method, path string) {
	if m, p, ok := strings.Cut(k, ":"); ok && !strings.Contains(m, "/") {
		return m, p
	}
	return "", k
}

// parseProxy reads one trusted_proxies entry: an IP is a one-address
// prefix.
func parseProxy(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("want an IP or a CIDR (got %q)", s)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("want an IP or a CIDR (got %q)", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// envNames are the reference's environment variables, renamed
// RUSTMQ_ → WEIR_, with the fields they set.
var envNames = []struct {
	name string
	set  func(c *Config, s string) error
}{
	{"WEIR_ADMIN_RATE_LIMITING_ENABLED", func(c *Config, s string) error { return parseBool(s, &c.Enabled) }},
	{"WEIR_ADMIN_GLOBAL_BURST_SIZE", func(c *Config, s string) error { return parseInt(s, &c.GlobalBurstSize) }},
	{"WEIR_ADMIN_GLOBAL_REFILL_RATE", func(c *Config, s string) error { return parseInt(s, &c.GlobalRefillRate) }},
	{"WEIR_ADMIN_PER_IP_BURST_SIZE", func(c *Config, s string) error { return parseInt(s, &c.PerIPBurstSize) }},
	{"WEIR_ADMIN_PER_IP_REFILL_RATE", func(c *Config, s string) error { return parseInt(s, &c.PerIPRefillRate) }},
	{"WEIR_ADMIN_CLEANUP_INTERVAL_SECONDS", func(c *Config, s string) error { return parseInt(s, &c.CleanupIntervalSeconds) }},
	{"WEIR_ADMIN_TRUSTED_PROXIES", func(c *Config, s string) error { c.TrustedProxies = splitList(s); return nil }},
}

// ApplyEnv applies the reference's environment variables (os.Environ()
// form), renamed RUSTMQ_ → WEIR_: WEIR_ADMIN_RATE_LIMITING_ENABLED,
// WEIR_ADMIN_GLOBAL_BURST_SIZE, WEIR_ADMIN_GLOBAL_REFILL_RATE,
// WEIR_ADMIN_PER_IP_BURST_SIZE, WEIR_ADMIN_PER_IP_REFILL_RATE,
// WEIR_ADMIN_CLEANUP_INTERVAL_SECONDS, and WEIR_ADMIN_TRUSTED_PROXIES
// (comma-separated). An unparsable value is an error naming the variable;
// range checks are Validate's.
func (c *Config) ApplyEnv(env []string) error {
	vars := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "WEIR_ADMIN_") {
			vars[k] = v
		}
	}
	var errs []error
	for _, e := range envNames {
		if s, ok := vars[e.name]; ok {
			if err := e.set(c, s); err != nil {
				errs = append(errs, fmt.Errorf("%s: %v", e.name, err))
			}
		}
	}
	return errors.Join(errs...)
}

func parseBool(s string, dst *bool) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true or false, got %q", s)
	}
	*dst = b
	return nil
}

func parseInt(s string, dst *int) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("want an integer, got %q", s)
	}
	*dst = n
	return nil
}

// splitList reads a comma-separated list, dropping empty entries.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
