package dev

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/cmd/internal/testnet"
)

// TestOperatorSurface runs a dev cluster with the reference's default rate
// limits and checks, as an operator would with curl, the rate-limit
// headers, the 429 body, /health's rate_limiting block and /metrics.
func TestOperatorSurface(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster; skipped with -short")
	}
	o := DefaultOptions()
	o.Dir = t.TempDir()
	o.ControllerPort, o.RaftPort, o.HTTPPort, o.BrokerPort, o.MetricsPort = testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t), 0
	c, err := Start(o, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown()
	base := "http://" + c.Controller.HTTPAddr

	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	resp, body := get("/api/v1/topics")
	for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-RateLimit-Type"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("response lacks %s: %v", h, resp.Header)
		}
	}
	// The low-frequency category allows a burst of 5 topic creations.
	var last *http.Response
	var lastBody string
	for i := range 7 {
		r, err := http.Post(base+"/api/v1/topics", "application/json",
			strings.NewReader(`{"name":"rl`+string(rune('a'+i))+`","partitions":1,"replication_factor":1}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		last, lastBody = r, string(b)
	}
	if last.StatusCode != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
		t.Fatalf("7th create: %s Retry-After=%q %s", last.Status, last.Header.Get("Retry-After"), lastBody)
	}
	var env struct {
		Success    bool    `json:"success"`
		Data       any     `json:"data"`
		Error      *string `json:"error"`
		LeaderHint any     `json:"leader_hint"`
	}
	if err := json.Unmarshal([]byte(lastBody), &env); err != nil || env.Success || env.Error == nil || !strings.Contains(*env.Error, "Rate limit exceeded") {
		t.Fatalf("429 body %s (%v)", lastBody, err)
	}
	_, body = get("/health")
	var health struct {
		Status       string `json:"status"`
		IsLeader     bool   `json:"is_leader"`
		RaftTerm     uint64 `json:"raft_term"`
		RateLimiting struct {
			Enabled         bool   `json:"enabled"`
			BlockedRequests uint64 `json:"blocked_requests"`
		} `json:"rate_limiting"`
	}
	if err := json.Unmarshal([]byte(body), &health); err != nil || health.Status != "ok" || !health.IsLeader || health.RaftTerm == 0 ||
		!health.RateLimiting.Enabled || health.RateLimiting.BlockedRequests == 0 {
		t.Fatalf("/health: %s (%v)", body, err)
	}
	_, body = get("/metrics")
	for _, m := range []string{"weir_raft_term", "weir_raft_commit_index", "weir_raft_applied_index", "weir_offline_partitions",
		"weir_under_replicated_partitions", "weir_admin_rate_limited_requests_total", "weir_http_request_duration_seconds", "weir_brokers_online"} {
		if !strings.Contains(body, m) {
			t.Errorf("controller /metrics lacks %s", m)
		}
	}
	resp, err = http.Get("http://" + c.Brokers[0].MetricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"weir_wal_data_syncs_total", "weir_wal_used_bytes", "weir_wire_messages_total", "weir_transport_connections", "weir_under_replicated_partitions"} {
		if !strings.Contains(string(b), m) {
			t.Errorf("broker /metrics lacks %s", m)
		}
	}
}
