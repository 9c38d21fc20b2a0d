package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/cmd/internal/config"
	"github.com/weirmq/weir/cmd/internal/server"
	"github.com/weirmq/weir/cmd/internal/testnet"
	"github.com/weirmq/weir/net/tlsutil"
)

// Tests of the operator surface as the processes wire it: a real
// controller (admin API, rate limiter, CORS, metrics) and a real broker
// reporting its health, in this process, on loopback.

// miniCluster is one controller and one broker.
type miniCluster struct {
	t    *testing.T
	base string // the admin API, http://host:port
	ctl  *server.Controller
	brk  *server.Broker
}

// startMiniCluster starts a controller (its config changed by mutate, if
// set) and a broker that reports its health every 200 ms.
func startMiniCluster(t *testing.T, mutate func(*config.Controller)) *miniCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a controller and a broker; skipped with -short")
	}
	dir := t.TempDir()
	ca, err := tlsutil.GenerateCA(filepath.Join(dir, "certs"))
	if err != nil {
		t.Fatal(err)
	}
	tlsOf := func(name string) config.TLS {
		p, err := tlsutil.IssueCert(ca, name, []string{"127.0.0.1", "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		return config.TLS{CAFile: p.CA, CertFile: p.Cert, KeyFile: p.Key}
	}
	addr := func() string { return fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(t)) }

	c := config.DefaultController()
	c.Admin.TLS, c.Admin.AllowUnauthenticated = false, true // rate limits and metrics by IP; admin auth has its own tests
	c.Controller.RPCListen, c.Controller.RaftListen, c.Controller.HTTPListen = addr(), addr(), addr()
	c.Controller.DataDir = filepath.Join(dir, "controller-1")
	c.Raft.Peers = []string{"1@" + c.Controller.RaftListen}
	c.Raft.HeartbeatIntervalMs, c.Raft.ElectionTimeoutMs = 100, 1000
	c.Admin.HealthCheckIntervalMs, c.Admin.HealthTimeoutMs = 200, 5000
	c.Cluster.MinInSyncReplicas = 1
	c.TLS = tlsOf("controller-1")
	if mutate != nil {
		mutate(&c)
	}
	ctl, err := server.StartController(c, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ctl.Shutdown() })

	b := config.DefaultBroker()
	b.Network.QUICListen = addr()
	b.Metrics.Listen = ""
	b.WAL.Path = filepath.Join(dir, "broker-101", "wal")
	b.WAL.CapacityBytes, b.WAL.SegmentSizeBytes = 64<<20, 4<<20
	b.Controller.Endpoints = []string{"1@" + ctl.RPCAddr}
	b.Controller.HeartbeatIntervalMs = 100
	b.Broker.HealthCheckIntervalMs = 200
	b.Replication.MinInSyncReplicas = 1
	b.TLS = tlsOf("broker-101")
	brk, err := server.StartBroker(b, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = brk.Shutdown() })

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := ctl.WaitReady(ctx, 1); err != nil {
		t.Fatal(err)
	}
	return &miniCluster{t: t, base: "http://" + ctl.HTTPAddr, ctl: ctl, brk: brk}
}

// do sends a request with headers (name, value, ...) and returns the
// response with its body read.
func (m *miniCluster) do(method, path, body string, headers ...string) (*http.Response, string) {
	m.t.Helper()
	req, err := http.NewRequestWithContext(m.t.Context(), method, m.base+path, strings.NewReader(body))
	if err != nil {
		m.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		m.t.Fatal(err)
	}
	return resp, string(b)
}

// until polls f (every 50 ms, up to a minute) until it returns true.
func (m *miniCluster) until(what string, f func() bool) {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(m.t.Context(), time.Minute)
	defer cancel()
	for !f() {
		select {
		case <-ctx.Done():
			m.t.Fatalf("gave up waiting for %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// The defect: GET /api/v1/brokers/{id}/health said "healthy": false for
// every broker of a healthy cluster, because the process never set the
// cache component's flag the verdict requires (tests injected it). A
// broker that has reported, with nothing wrong, is healthy. The listing
// names its RPC port, which is its QUIC port.
func TestBrokerHealthOfAHealthyCluster(t *testing.T) {
	m := startMiniCluster(t, nil)
	var health struct {
		Data struct {
			Online     bool            `json:"online"`
			Healthy    bool            `json:"healthy"`
			LastReport *string         `json:"last_report"`
			WAL        map[string]any  `json:"wal"`
			Cache      map[string]any  `json:"cache"`
			Network    map[string]any  `json:"network"`
			Storage    json.RawMessage `json:"object_storage"`
		} `json:"data"`
	}
	var body string
	m.until("broker-101's first health report", func() bool {
		_, body = m.do("GET", "/api/v1/brokers/broker-101/health", "")
		if err := json.Unmarshal([]byte(body), &health); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		return health.Data.Online && health.Data.LastReport != nil
	})
	if !health.Data.Healthy {
		t.Fatalf("a healthy cluster's broker reports healthy false: %s", body)
	}

	_, body = m.do("GET", "/api/v1/brokers", "")
	var list struct {
		Data []struct {
			PortQUIC *int `json:"port_quic"`
			PortRPC  *int `json:"port_rpc"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Data) != 1 {
		t.Fatalf("brokers: %v %s", err, body)
	}
	if b := list.Data[0]; b.PortRPC == nil || b.PortQUIC == nil || *b.PortRPC != *b.PortQUIC || *b.PortQUIC == 0 {
		t.Fatalf("port_rpc %v, port_quic %v: want the QUIC port in both: %s", b.PortRPC, b.PortQUIC, body)
	}
}

// The defect: every admin HTTP metric was labelled route="unmatched",
// because the request log replaces the request and hid the pattern the
// mux matched. Each request is now labelled with its route, 404s and
// 429s included.
func TestAdminMetricsLabelledByRoute(t *testing.T) {
	m := startMiniCluster(t, func(c *config.Controller) {
		c.Admin.RateLimiting.Endpoints = map[string]config.EndpointLimit{"/api/v1/brokers": {BurstSize: 1, RefillRate: 1}}
	})
	m.do("GET", "/api/v1/topics", "")
	m.do("GET", "/api/v1/topics/nope", "")
	m.do("GET", "/api/v1/brokers", "")
	if resp, _ := m.do("GET", "/api/v1/brokers", ""); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second GET /api/v1/brokers: %s, want 429", resp.Status)
	}
	m.do("GET", "/no/such/path", "")
	_, metrics := m.do("GET", "/metrics", "")
	for _, want := range []string{
		`weir_http_requests_total{code="200",method="GET",route="GET /api/v1/topics"} 1`,
		`weir_http_requests_total{code="404",method="GET",route="GET /api/v1/topics/{name}"} 1`,
		`weir_http_requests_total{code="200",method="GET",route="GET /api/v1/brokers"} 1`,
		`weir_http_requests_total{code="429",method="GET",route="GET /api/v1/brokers"} 1`,
		`weir_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("weir_http_requests_total:\n%s", strings.Join(regexp.MustCompile(`(?m)^weir_http_requests_total.*$`).FindAllString(metrics, -1), "\n"))
	}
}

// /health is never rate limited: with the per-IP budget spent, a probe
// still gets 200, and the body says "ok" as the reference's does.
func TestHealthIsNotRateLimited(t *testing.T) {
	m := startMiniCluster(t, func(c *config.Controller) {
		c.Admin.RateLimiting.PerIPBurstSize, c.Admin.RateLimiting.PerIPRefillRate = 2, 1
	})
	for range 3 {
		m.do("GET", "/api/v1/topics", "")
	}
	if resp, _ := m.do("GET", "/api/v1/topics", ""); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("per-IP budget not spent: %s", resp.Status)
	}
	for i := range 20 {
		resp, body := m.do("GET", "/health", "")
		var h struct {
			Status string `json:"status"`
		}
		if err := json.Unmarshal([]byte(body), &h); err != nil || resp.StatusCode != 200 || h.Status != "ok" {
			t.Fatalf("probe %d: %s %s (%v), want 200 with status ok", i, resp.Status, body, err)
		}
	}
}

// The defect: a web page in an operator's browser deleted a topic with a
// cross-origin DELETE (CORS answered "*" by default). By default a
// browser request from another origin cannot change anything; with
// enable_cors, only the listed origins can, and are named, never "*".
func TestCrossOriginWritesRefused(t *testing.T) {
	const page, console = "https://evil.example", "http://localhost:3000"
	m := startMiniCluster(t, nil)
	create := `{"name":"orders","partitions":1,"replication_factor":1}`
	if resp, body := m.do("POST", "/api/v1/topics", create, "Content-Type", "application/json"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %s %s", resp.Status, body)
	}
	resp, body := m.do("DELETE", "/api/v1/topics/orders", "", "Origin", page)
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("cross-origin DELETE: %s ACAO=%q %s, want 403 without CORS headers", resp.Status, resp.Header.Get("Access-Control-Allow-Origin"), body)
	}
	resp, body = m.do("POST", "/api/v1/topics", `{"name":"x","partitions":1,"replication_factor":1}`, "Origin", page, "Content-Type", "text/plain")
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin simple POST: %s %s, want 403", resp.Status, body)
	}
	if resp, body := m.do("GET", "/api/v1/topics/orders", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("the topic is gone after refused cross-origin requests: %s %s", resp.Status, body)
	}
	resp, _ = m.do("OPTIONS", "/api/v1/topics/orders", "", "Origin", page, "Access-Control-Request-Method", "DELETE")
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight with CORS off: %s %v", resp.Status, resp.Header)
	}

	m = startMiniCluster(t, func(c *config.Controller) {
		c.Admin.EnableCORS, c.Admin.AllowedOrigins = true, []string{console}
	})
	if resp, body := m.do("POST", "/api/v1/topics", create, "Content-Type", "application/json", "Origin", console); resp.StatusCode != http.StatusCreated ||
		resp.Header.Get("Access-Control-Allow-Origin") != console {
		t.Fatalf("create from the listed console: %s ACAO=%q %s", resp.Status, resp.Header.Get("Access-Control-Allow-Origin"), body)
	}
	if resp, body := m.do("DELETE", "/api/v1/topics/orders", "", "Origin", page); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("DELETE from an unlisted page with CORS on: %s %s", resp.Status, body)
	}
	if resp, body := m.do("DELETE", "/api/v1/topics/orders", "", "Origin", console); resp.StatusCode != http.StatusOK ||
		resp.Header.Get("Access-Control-Allow-Origin") != console {
		t.Fatalf("DELETE from the listed console: %s ACAO=%q %s", resp.Status, resp.Header.Get("Access-Control-Allow-Origin"), body)
	}
}
