package ratelimit

import (
	"reflect"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// The reference's [admin.rate_limiting] example decodes, with unknown keys
// refused, into DefaultConfig plus its "/health" key: the TOML tags are
// the reference's keys and the defaults are its values. That one key is
// refused, by name, because /health is never limited.
func TestReferenceTOMLIsDefault(t *testing.T) {
	const reference = `
[admin.rate_limiting]
enabled = true                      # Enable/disable rate limiting (default: true)
global_burst_size = 1000           # Global burst capacity (default: 1000)
global_refill_rate = 60            # Global refill rate per minute (default: 60)
per_ip_burst_size = 100            # Per-IP burst capacity (default: 100)
per_ip_refill_rate = 30            # Per-IP refill rate per minute (default: 30)
cleanup_interval_seconds = 3600    # Cleanup interval in seconds (default: 3600)

# Endpoint-specific configuration
[admin.rate_limiting.endpoints]
"/health" = { burst_size = 50, refill_rate = 100 }
"/api/v1/cluster" = { burst_size = 50, refill_rate = 100 }
"/api/v1/topics" = { burst_size = 20, refill_rate = 30 }
"/api/v1/brokers" = { burst_size = 20, refill_rate = 30 }
"POST:/api/v1/topics" = { burst_size = 5, refill_rate = 10 }
"DELETE:/api/v1/topics" = { burst_size = 5, refill_rate = 10 }
`
	var file struct {
		Admin struct {
			RateLimiting Config `toml:"rate_limiting"`
		} `toml:"admin"`
	}
	def := DefaultConfig()
	file.Admin.RateLimiting.HighFrequency = def.HighFrequency // not in the reference's example
	file.Admin.RateLimiting.MediumFrequency = def.MediumFrequency
	file.Admin.RateLimiting.LowFrequency = def.LowFrequency
	dec := toml.NewDecoder(strings.NewReader(reference))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("decoding the reference's TOML: %v", err)
	}
	got := file.Admin.RateLimiting
	err := got.Validate()
	if want := `admin.rate_limiting.endpoints."/health" /health is never rate limited, so that liveness probes never see 429; remove this key`; err == nil || err.Error() != want {
		t.Fatalf("reference config: Validate() = %v, want exactly\n%s", err, want)
	}
	delete(got.Endpoints, "/health")
	if !reflect.DeepEqual(got, def) {
		t.Fatalf("reference TOML decodes to\n%+v\nwant DefaultConfig\n%+v", got, def)
	}
	if err := def.Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
}

// Validate names each bad key as written in TOML, and reports all of them.
func TestValidateNamesKey(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string
	}{
		{"per-ip burst", func(c *Config) { c.PerIPBurstSize = 0 }, "admin.rate_limiting.per_ip_burst_size must be > 0"},
		{"per-ip rate", func(c *Config) { c.PerIPRefillRate = -1 }, "admin.rate_limiting.per_ip_refill_rate must be > 0"},
		{"global burst", func(c *Config) { c.GlobalBurstSize = burstSizeMax + 1 }, "admin.rate_limiting.global_burst_size must be > 0 and <= 1000000 (got 1000001)"},
		{"global rate", func(c *Config) { c.GlobalRefillRate = 0 }, "admin.rate_limiting.global_refill_rate must be > 0"},
		{"cleanup", func(c *Config) { c.CleanupIntervalSeconds = 0 }, "admin.rate_limiting.cleanup_interval_seconds must be > 0"},
		{"category", func(c *Config) { c.HighFrequency.BurstSize = 0 }, "admin.rate_limiting.high_frequency.burst_size must be > 0"},
		{"endpoint rate", func(c *Config) { c.Endpoints["/api/v1/cluster"] = EndpointLimit{BurstSize: 1} }, `admin.rate_limiting.endpoints."/api/v1/cluster".refill_rate must be > 0`},
		{"endpoint matching nothing", func(c *Config) { c.Endpoints["/x"] = EndpointLimit{1, 1} }, `admin.rate_limiting.endpoints."/x" matches no route of the admin API, so it would limit nothing; routes are GET /api/v1/cluster,`},
		{"method the path does not serve", func(c *Config) { c.Endpoints["PUT:/api/v1/topics"] = EndpointLimit{1, 1} }, `endpoints."PUT:/api/v1/topics" matches no route`},
		{"pattern with a method it does not serve", func(c *Config) { c.Endpoints["POST:/api/v1/topics/{name}"] = EndpointLimit{1, 1} }, `endpoints."POST:/api/v1/topics/{name}" the API does not serve POST /api/v1/topics/{name}`},
		{"health", func(c *Config) { c.Endpoints["GET:/health"] = EndpointLimit{1, 1} }, `endpoints."GET:/health" /health is never rate limited`},
		{"two keys, one route", func(c *Config) { c.Endpoints["DELETE:/api/v1/topics/{name}"] = EndpointLimit{1, 1} }, `endpoints."DELETE:/api/v1/topics/{name}" limits DELETE:/api/v1/topics/{name}, as endpoints."DELETE:/api/v1/topics" does; keep one`},
		{"endpoint path", func(c *Config) { c.Endpoints["x"] = EndpointLimit{1, 1} }, `admin.rate_limiting.endpoints."x" want "/path" or "METHOD:/path"`},
		{"endpoint empty method", func(c *Config) { c.Endpoints[":/x"] = EndpointLimit{1, 1} }, `admin.rate_limiting.endpoints.":/x" want "/path" or "METHOD:/path"`},
		{"endpoint method", func(c *Config) { c.Endpoints["post:/x"] = EndpointLimit{1, 1} }, `admin.rate_limiting.endpoints."post:/x" method must be upper case`},
		{"endpoint head", func(c *Config) { c.Endpoints["HEAD:/health"] = EndpointLimit{1, 1} }, `admin.rate_limiting.endpoints."HEAD:/health" HEAD is limited as GET`},
		{"endpoint pattern", func(c *Config) { c.Endpoints["/api/v1/things/{id}"] = EndpointLimit{1, 1} }, `is not a route of the category table; patterns are /api/v1/topics/{name}`},
		{"trusted proxy", func(c *Config) { c.TrustedProxies = []string{"10.0.0.1", "nope"} }, `admin.rate_limiting.trusted_proxies[1] want an IP or a CIDR (got "nope")`},
		{"disabled is still checked", func(c *Config) { c.Enabled = false; c.PerIPBurstSize = 0 }, "admin.rate_limiting.per_ip_burst_size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want it to contain %q", err, tt.want)
			}
			if _, err := New(c, newFakeClock()); err == nil {
				t.Fatalf("New accepted a config Validate refuses")
			}
		})
	}
	c := DefaultConfig()
	c.PerIPBurstSize, c.GlobalRefillRate = 0, 0
	err := c.Validate()
	for _, key := range []string{"per_ip_burst_size", "global_refill_rate"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate() = %v, want every bad key, %s among them", err, key)
		}
	}
}

// Trusted proxies accept IPs and CIDRs of both families; an IPv4-mapped
// entry means the IPv4 address.
func TestValidateTrustedProxies(t *testing.T) {
	c := DefaultConfig()
	c.TrustedProxies = []string{"10.0.0.1", "10.1.0.0/16", "2001:db8::/32", "::1", "::ffff:192.0.2.0/120"}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	p, _ := parseProxy("::ffff:192.0.2.0/120")
	if p.String() != "192.0.2.0/24" {
		t.Fatalf("mapped prefix = %v, want 192.0.2.0/24", p)
	}
}

// ApplyEnv reads the reference's variable names with WEIR_ for RUSTMQ_.
func TestApplyEnv(t *testing.T) {
	c := DefaultConfig()
	env := []string{
		"WEIR_ADMIN_RATE_LIMITING_ENABLED=false",
		"WEIR_ADMIN_GLOBAL_BURST_SIZE=10",
		"WEIR_ADMIN_GLOBAL_REFILL_RATE=11",
		"WEIR_ADMIN_PER_IP_BURST_SIZE=12",
		"WEIR_ADMIN_PER_IP_REFILL_RATE=13",
		"WEIR_ADMIN_CLEANUP_INTERVAL_SECONDS=14",
		"WEIR_ADMIN_TRUSTED_PROXIES=10.0.0.1, 10.2.0.0/16,",
		"PATH=/bin",
	}
	if err := c.ApplyEnv(env); err != nil {
		t.Fatalf("ApplyEnv: %v", err)
	}
	want := DefaultConfig()
	want.Enabled = false
	want.GlobalBurstSize, want.GlobalRefillRate = 10, 11
	want.PerIPBurstSize, want.PerIPRefillRate = 12, 13
	want.CleanupIntervalSeconds = 14
	want.TrustedProxies = []string{"10.0.0.1", "10.2.0.0/16"}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("after ApplyEnv\n%+v\nwant\n%+v", c, want)
	}
	err := c.ApplyEnv([]string{"WEIR_ADMIN_PER_IP_BURST_SIZE=lots", "WEIR_ADMIN_RATE_LIMITING_ENABLED=maybe"})
	for _, name := range []string{"WEIR_ADMIN_PER_IP_BURST_SIZE", "WEIR_ADMIN_RATE_LIMITING_ENABLED"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("ApplyEnv(bad) = %v, want it to name %s", err, name)
		}
	}
}
