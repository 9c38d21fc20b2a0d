package ratelimit

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// X-Forwarded-For is believed only from trusted proxies, and only up to
// the rightmost hop that is not one: what lies left of it the client
// wrote.
func TestClientIP(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TrustedProxies = []string{"10.0.0.0/8", "2001:db8::1"}
	l, _ := newTestLimiter(t, cfg)
	tests := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"untrusted peer: header ignored", "192.0.2.1:1234", []string{"6.6.6.6"}, "192.0.2.1"},
		{"untrusted peer: trusted-looking header ignored", "192.0.2.1:1234", []string{"10.0.0.9"}, "192.0.2.1"},
		{"trusted peer without header", "10.0.0.1:1", nil, "10.0.0.1"},
		{"trusted peer", "10.0.0.1:1", []string{"203.0.113.5"}, "203.0.113.5"},
		{"spoofed left part ignored", "10.0.0.1:1", []string{"6.6.6.6, 203.0.113.5"}, "203.0.113.5"},
		{"two proxies", "10.0.0.1:1", []string{"6.6.6.6, 203.0.113.5, 10.0.0.2"}, "203.0.113.5"},
		{"header lines in order", "10.0.0.1:1", []string{"6.6.6.6", "203.0.113.5"}, "203.0.113.5"},
		{"all hops trusted: leftmost", "10.0.0.1:1", []string{"10.0.0.3, 10.0.0.2"}, "10.0.0.3"},
		{"garbage hop: the proxy that wrote it", "10.0.0.1:1", []string{"203.0.113.5, garbage"}, "10.0.0.1"},
		{"garbage left of the client is never read", "10.0.0.1:1", []string{"garbage, 203.0.113.5"}, "203.0.113.5"},
		{"empty hops skipped", "10.0.0.1:1", []string{"203.0.113.5, , "}, "203.0.113.5"},
		{"hop with port", "10.0.0.1:1", []string{"203.0.113.5:4444"}, "203.0.113.5"},
		{"IPv6 hop with port", "10.0.0.1:1", []string{"[2001:db8::5]:443"}, "2001:db8::5"},
		{"bracketed IPv6 hop", "10.0.0.1:1", []string{"[2001:db8::5]"}, "2001:db8::5"},
		{"mapped hop", "10.0.0.1:1", []string{"::ffff:203.0.113.5"}, "203.0.113.5"},
		{"mapped trusted peer", "[::ffff:10.0.0.1]:1", []string{"203.0.113.5"}, "203.0.113.5"},
		{"trusted IPv6 peer", "[2001:db8::1]:1", []string{"198.51.100.7"}, "198.51.100.7"},
		{"untrusted IPv6 peer", "[2001:db8::2]:1", []string{"198.51.100.7"}, "2001:db8::2"},
		{"zone dropped", "[fe80::1%eth0]:1", nil, "fe80::1"},
		{"peer not an IP", "@", []string{"203.0.113.5"}, "invalid IP"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := l.ClientIP(r).String(); got != tt.want {
			t.Errorf("%s: ClientIP(%s, %q) = %s, want %s", tt.name, tt.remote, tt.xff, got, tt.want)
		}
	}

	noProxies, _ := newTestLimiter(t, DefaultConfig())
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.1:1"
	r.Header.Set("X-Forwarded-For", "203.0.113.5")
	if got := noProxies.ClientIP(r).String(); got != "10.0.0.1" {
		t.Errorf("no trusted proxies: ClientIP = %s, want the peer", got)
	}
}

// The walk through trusted hops is bounded.
func TestClientIPHopsBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TrustedProxies = []string{"10.0.0.0/8"}
	l, _ := newTestLimiter(t, cfg)
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.1:1"
	r.Header.Set("X-Forwarded-For", "203.0.113.5") // would be the client, past the bound
	for i := range forwardedHopsMax + 5 {
		r.Header.Add("X-Forwarded-For", fmt.Sprintf("10.1.0.%d", i))
	}
	if got := l.ClientIP(r); got == netip.MustParseAddr("203.0.113.5") || !got.IsPrivate() {
		t.Fatalf("ClientIP = %s, want a trusted hop within the bound", got)
	}
}

// A client that forges X-Forwarded-For without going through a trusted
// proxy is limited by its own address however it varies the header; two
// clients behind a trusted proxy get a bucket each.
func TestSpoofedForwardedFor(t *testing.T) {
	cfg := DefaultConfig()
	cfg.PerIPBurstSize = 2
	cfg.TrustedProxies = []string{"10.0.0.1"}
	l, _ := newTestLimiter(t, cfg)
	h := l.Middleware(&okHandler{})
	for i := range 2 {
		if w := serve(h, request{path: "/api/v1/topics", remote: "192.0.2.9:1", xff: []string{fmt.Sprintf("198.51.100.%d", i)}}); w.Code != 200 {
			t.Fatalf("spoofer request %d: %d", i, w.Code)
		}
	}
	w := serve(h, request{path: "/api/v1/topics", remote: "192.0.2.9:1", xff: []string{"198.51.100.77"}})
	var body envelope
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	if want := "Rate limit exceeded for IP 192.0.2.9. Limit: 30 requests per minute, in bursts of at most 2; retry after 2 s"; w.Code != 429 || body.Error != want {
		t.Fatalf("spoofer's third request: %d %q, want 429 %q", w.Code, body.Error, want)
	}

	for _, client := range []string{"203.0.113.1", "203.0.113.2"} {
		for i := range 2 {
			if w := serve(h, request{path: "/api/v1/topics", remote: "10.0.0.1:1", xff: []string{client}}); w.Code != 200 {
				t.Fatalf("%s via the proxy, request %d: %d, want its own bucket", client, i, w.Code)
			}
		}
	}
	if w := serve(h, request{path: "/api/v1/topics", remote: "10.0.0.1:1", xff: []string{"203.0.113.1"}}); w.Code != 429 {
		t.Fatalf("203.0.113.1's third request via the proxy: %d, want 429", w.Code)
	}
}
