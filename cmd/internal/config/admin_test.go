package config

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/weirmq/weir/net/admin/ratelimit"
)

// validController is the default controller with TLS files named, so that
// Validate reports only what a test breaks.
func validController() Controller {
	c := DefaultController()
	c.TLS = TLS{CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "c-key.pem"}
	return c
}

// admin.port was accepted and ignored. It now means what the reference
// means, the admin API's port: the reference's configuration (port and
// http_listen both 9642) loads, and a port that disagrees with
// controller.http_listen is refused, saying what to write instead.
func TestAdminPortAgreesOrIsRefused(t *testing.T) {
	tests := []struct {
		port   int
		listen string
		want   string // "" for valid
	}{
		{0, "127.0.0.1:9642", ""},
		{9642, "0.0.0.0:9642", ""},
		{8080, "127.0.0.1:9642", `admin.port: is 8080 but controller.http_listen is "127.0.0.1:9642": the admin API listens on controller.http_listen, so set its port (http_listen = "127.0.0.1:8080") and remove admin.port`},
		{8080, "[::1]:9642", `(http_listen = "[::1]:8080")`},
		{70000, "127.0.0.1:9642", "admin.port: must be in 1..65535, or 0 for the port of controller.http_listen (got 70000)"},
		{-1, "127.0.0.1:9642", "admin.port: must be in 1..65535"},
	}
	for _, tt := range tests {
		c := validController()
		c.Admin.Port, c.Controller.HTTPListen = tt.port, tt.listen
		err := c.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("port %d, http_listen %s: Validate = %v, want nil", tt.port, tt.listen, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("port %d, http_listen %s: Validate = %v, want %q", tt.port, tt.listen, err, tt.want)
		}
	}
	path := write(t, "[controller]\nhttp_listen = \"127.0.0.1:9642\"\n\n[admin]\nport = 9642\n")
	c := validController()
	if err := Load(path, &c, nil); err != nil || c.Validate() != nil {
		t.Fatalf("the reference's [admin] port: Load = %v, Validate = %v", err, c.Validate())
	}
	if err := Load("", &c, []string{"WEIR_ADMIN_PORT=9000"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "admin.port: is 9000") {
		t.Fatalf("WEIR_ADMIN_PORT=9000: Validate = %v, want admin.port refused", err)
	}
}

// CORS is off by default; on, it takes only listed origins, never "*",
// and allowed_origins without enable_cors is refused as changing nothing.
func TestCORSKeys(t *testing.T) {
	if c := DefaultController(); c.Admin.EnableCORS || c.Admin.CORSOrigins() != nil {
		t.Fatalf("default: enable_cors %v, origins %v; want off", c.Admin.EnableCORS, c.Admin.CORSOrigins())
	}
	bad := []struct {
		enable  bool
		origins []string
		want    string
	}{
		{true, nil, "admin.enable_cors: is true but admin.allowed_origins is empty"},
		{true, []string{"*"}, `admin.allowed_origins[0]: "*" would let every web page drive the admin API`},
		{true, []string{"http://localhost:3000", "localhost:3000"}, "admin.allowed_origins[1]: want an http:// or https:// origin"},
		{false, []string{"http://localhost:3000"}, "admin.allowed_origins: is set but admin.enable_cors is false"},
	}
	for _, tt := range bad {
		c := validController()
		c.Admin.EnableCORS, c.Admin.AllowedOrigins = tt.enable, tt.origins
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("enable_cors %v, allowed_origins %q: Validate = %v, want %q", tt.enable, tt.origins, err, tt.want)
		}
	}
	path := write(t, "[admin]\nenable_cors = true\nallowed_origins = [\"HTTPS://Console.Example:443\", \"http://localhost:3000\"]\n")
	c := validController()
	if err := Load(path, &c, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := c.Admin.CORSOrigins(), []string{"https://console.example", "http://localhost:3000"}; !slices.Equal(got, want) {
		t.Fatalf("CORSOrigins = %q, want %q", got, want)
	}
}

// The category limits were unreachable from the configuration; they are
// keys now and reach the limiter.
func TestRateLimitCategoryKeys(t *testing.T) {
	path := write(t, `
[admin.rate_limiting.low_frequency]
burst_size = 2
refill_rate = 3

[admin.rate_limiting.endpoints]
"/api/v1/cluster" = { burst_size = 50, refill_rate = 100 }
`)
	c := validController()
	if err := Load(path, &c, []string{"WEIR_ADMIN_RATE_LIMITING_HIGH_FREQUENCY_BURST_SIZE=7"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	l := c.Admin.RateLimiting.Limiter()
	if l.LowFrequency != (ratelimit.EndpointLimit{BurstSize: 2, RefillRate: 3}) || l.HighFrequency.BurstSize != 7 || len(l.Endpoints) != 1 {
		t.Fatalf("Limiter() = %+v", l)
	}
	lim, err := ratelimit.New(l, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := lim.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	var codes []int
	for range 3 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("DELETE", "/api/v1/topics/orders", nil))
		codes = append(codes, w.Code)
	}
	if !slices.Equal(codes, []int{200, 200, 429}) {
		t.Fatalf("deletes under low_frequency burst 2: %v, want 200 200 429", codes)
	}
	if d := DefaultController().Admin.RateLimiting.Limiter(); !mapsEqual(d.Endpoints, ratelimit.DefaultConfig().Endpoints) {
		t.Fatalf("no endpoints table: %v, want the reference's keys", d.Endpoints)
	}
}

func mapsEqual(a, b map[string]ratelimit.EndpointLimit) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// weir dev's limits are never reached by a person: a burst of 1,000
// requests on every route from one client passes, headers and all.
func TestInteractiveRateLimitingIsRoomy(t *testing.T) {
	c := validController()
	c.Admin.RateLimiting = InteractiveRateLimiting()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	lim, err := ratelimit.New(c.Admin.RateLimiting.Limiter(), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := lim.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	routes := []struct{ method, path string }{
		{"GET", "/api/v1/cluster"}, {"GET", "/api/v1/topics"}, {"GET", "/api/v1/brokers"},
		{"GET", "/api/v1/topics/t"}, {"GET", "/api/v1/brokers/101/health"},
		{"POST", "/api/v1/topics"}, {"DELETE", "/api/v1/topics/t"},
	}
	for _, rt := range routes {
		for i := range 1000 {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(rt.method, rt.path, nil))
			if w.Code != 200 || w.Header().Get("X-RateLimit-Limit") == "" {
				t.Fatalf("%s %s #%d: %d %v, want 200 with rate-limit headers", rt.method, rt.path, i+1, w.Code, w.Header())
			}
		}
	}
}
