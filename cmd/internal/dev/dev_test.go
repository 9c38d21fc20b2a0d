package dev

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/cmd/internal/config"
	"github.com/weirmq/weir/cmd/internal/server"
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
	o.ReferenceRateLimits = true
	o.Dir = t.TempDir()
	o.ControllerPort, o.RaftPort, o.HTTPPort, o.BrokerPort, o.MetricsPort = testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t), 0
	c, err := Start(o, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown()
	// Every node runs on the dev cluster's local object store.
	if c.Controller.Objects == nil || c.Brokers[0].Objects == nil {
		t.Errorf("weir dev runs without an object store")
	}
	if fi, err := os.Stat(filepath.Join(o.Dir, "objects")); err != nil || !fi.IsDir() {
		t.Errorf("no object store at %s/objects: %v", o.Dir, err)
	}
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

// testOptions is a dev cluster on free ports in a temporary directory.
func testOptions(t *testing.T) Options {
	o := DefaultOptions()
	o.Dir = t.TempDir()
	o.NoRateLimit = true
	o.ControllerPort, o.RaftPort, o.HTTPPort, o.BrokerPort, o.MetricsPort = testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t), 0
	o.RestartBackoff = 10 * time.Millisecond
	return o
}

// waitEvent waits until the supervisors reported an event of kind for node.
func waitEvent(t *testing.T, c *Cluster, node string, kind EventKind) Event {
	t.Helper()
	deadline := time.After(2 * time.Minute) // a bound on a hang, not a timing assertion
	for {
		evs, next := c.Events()
		for _, ev := range evs {
			if ev.Node == node && ev.Kind == kind {
				return ev
			}
		}
		select {
		case <-next:
		case <-deadline:
			t.Fatalf("no %q event for %s; events: %+v", kind, node, evs)
		}
	}
}

// A port in use is named with its node and key before anything starts,
// and only then does the hint about another weir dev appear, listing every
// port weir dev needs (the raft port included).
func TestStartHintOnlyForAddressInUse(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster; skipped with -short")
	}
	o := testOptions(t)
	held, err := net.ListenPacket("udp", addr(o.Host, o.BrokerPort))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	c, err := Start(o, zerolog.Nop())
	if err == nil {
		c.Shutdown()
		t.Fatal("Start succeeded with the broker's port held")
	}
	if !strings.Contains(err.Error(), "broker-101 network.quic_listen") {
		t.Errorf("Start = %v, want the node and key named", err)
	}
	hint := StartHint(o, err)
	for _, port := range []int{o.HTTPPort, o.ControllerPort, o.RaftPort, o.BrokerPort} {
		if !strings.Contains(hint, strconv.Itoa(port)) {
			t.Errorf("hint %q lacks port %d", hint, port)
		}
	}
	if h := StartHint(o, errors.New("wal: segment 0: checksum mismatch at byte 4096")); h != "" {
		t.Errorf("hint for a corrupt WAL: %q", h)
	}
}

// A broker that stops while weir dev runs is reported and restarted, and
// the restarted broker serves the cluster again.
func TestStoppedBrokerIsReportedAndRestarted(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster; skipped with -short")
	}
	var logBuf syncBuffer
	c, err := Start(testOptions(t), zerolog.New(&logBuf))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown()
	first := c.BrokerNode(0)
	if err := first.Shutdown(); err != nil { // behind weir dev's back
		t.Fatal(err)
	}
	waitEvent(t, c, "broker-101", NodeStopped)
	waitEvent(t, c, "broker-101", NodeRestarted)
	if c.BrokerNode(0) == first {
		t.Fatal("broker entry not replaced by the restarted broker")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Node().WaitReady(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logBuf.String(), `"level":"error"`) || !strings.Contains(logBuf.String(), "NODE STOPPED") {
		t.Errorf("the stop was not logged as an error:\n%s", logBuf.String())
	}
	select {
	case err := <-c.Failed():
		t.Fatalf("cluster failed: %v", err)
	default:
	}
}

// A node that cannot be restarted fails the cluster, naming it, after the
// configured attempts.
func TestUnrestartableNodeFailsTheCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster; skipped with -short")
	}
	o := testOptions(t)
	o.RestartAttempts = 2
	starts := 0
	o.startBroker = func(cfg config.Broker, log zerolog.Logger) (*server.Broker, error) {
		if starts++; starts > 1 {
			return nil, errors.New("wal: no space left on device")
		}
		return server.StartBroker(cfg, log)
	}
	c, err := Start(o, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown()
	if err := c.BrokerNode(0).Shutdown(); err != nil {
		t.Fatal(err)
	}
	var failure error
	select {
	case failure = <-c.Failed():
	case <-time.After(2 * time.Minute): // a bound on a hang
		t.Fatal("cluster did not fail")
	}
	for _, w := range []string{"broker-101", "2 attempts", "no space left"} {
		if !strings.Contains(failure.Error(), w) {
			t.Errorf("failure %q lacks %q", failure, w)
		}
	}
	if ev := waitEvent(t, c, "broker-101", NodeRestartFailed); !strings.Contains(ev.Err.Error(), "attempt 1 of 2") {
		t.Errorf("restart failure event %v", ev.Err)
	}
}

// syncBuffer is a bytes.Buffer safe for the supervisors' goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The sample broker.toml and controller.toml start a working cluster with
// the certificates weir dev writes (README: "weir-controller --config
// cmd/weir-controller/controller.toml"). Only ports and data paths are
// overridden, the way an operator would with WEIR_ variables.
func TestSampleConfigsStartACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster; skipped with -short")
	}
	brokerTOML, err := filepath.Abs("../../weir-broker/broker.toml")
	if err != nil {
		t.Fatal(err)
	}
	controllerTOML, _ := filepath.Abs("../../weir-controller/controller.toml")
	t.Chdir(t.TempDir())
	o := DefaultOptions()
	if _, err := EnsureCerts(o); err != nil { // weir-data/certs, as weir dev makes them
		t.Fatal(err)
	}
	rpc, raft, httpPort, quic := testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t)
	ctlCfg := config.DefaultController()
	err = config.Load(controllerTOML, &ctlCfg, []string{
		"WEIR_CONTROLLER_RPC_LISTEN=127.0.0.1:" + strconv.Itoa(rpc), "WEIR_CONTROLLER_RAFT_LISTEN=127.0.0.1:" + strconv.Itoa(raft),
		"WEIR_CONTROLLER_HTTP_LISTEN=127.0.0.1:" + strconv.Itoa(httpPort), "WEIR_RAFT_PEERS=1@127.0.0.1:" + strconv.Itoa(raft),
		"WEIR_RAFT_ELECTION_TIMEOUT_MS=1000", "WEIR_RAFT_HEARTBEAT_INTERVAL_MS=100"})
	if err == nil {
		err = errors.Join(ctlCfg.Validate(), ctlCfg.Preflight())
	}
	if err != nil {
		t.Fatal(err)
	}
	brkCfg := config.DefaultBroker()
	err = config.Load(brokerTOML, &brkCfg, []string{"WEIR_NETWORK_QUIC_LISTEN=127.0.0.1:" + strconv.Itoa(quic),
		"WEIR_METRICS_LISTEN=127.0.0.1:0", "WEIR_CONTROLLER_ENDPOINTS=1@127.0.0.1:" + strconv.Itoa(rpc), "WEIR_CONTROLLER_HEARTBEAT_INTERVAL_MS=200"})
	if err == nil {
		err = errors.Join(brkCfg.Validate(), brkCfg.Preflight())
	}
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := server.StartController(ctlCfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Shutdown()
	b, err := server.StartBroker(brkCfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ctl.WaitReady(ctx, 1); err != nil {
		t.Fatal(err)
	}
}

// weir dev's admin API is rate-limited with limits a person at a terminal
// never hits (issue 7 item 9): the reference's defaults refused the 6th
// topic creation in a minute.
func TestDevRateLimitsAreInteractive(t *testing.T) {
	rl := ControllerConfig(DefaultOptions()).Admin.RateLimiting
	if !rl.Enabled || rl.PerIPBurstSize < 1000 || rl.GlobalBurstSize < 1000 {
		t.Fatalf("dev rate limits: %+v", rl)
	}
	for k, e := range rl.Endpoints {
		if e.BurstSize < 1000 {
			t.Fatalf("dev endpoint limit %s: %+v", k, e)
		}
	}
	if ref := ControllerConfig(Options{ReferenceRateLimits: true}).Admin.RateLimiting; ref.PerIPBurstSize >= 1000 {
		t.Fatalf("ReferenceRateLimits did not keep the reference's limits: %+v", ref)
	}
}

// Goal: weir dev puts every node on one local object store under its data
// directory (or none), and its window flags reach the brokers.
func TestDevObjectStore(t *testing.T) {
	o := DefaultOptions()
	o.Brokers = 3
	ctl := ControllerConfig(o)
	if ctl.ObjectStorage.Type() != config.StorageLocal || ctl.ObjectStorage.Path != filepath.Join("weir-data", "objects") {
		t.Fatalf("controller object storage %+v", ctl.ObjectStorage)
	}
	for i := range o.Brokers {
		b := BrokerConfig(o, i)
		if b.ObjectStorage.Type() != config.StorageLocal || b.ObjectStorage.Path != ctl.ObjectStorage.Path {
			t.Fatalf("broker %d object storage %+v", i, b.ObjectStorage)
		}
		if b.ObjectStorage.LocalRetentionMs != config.DefaultLocalRetentionMs || b.WAL.UploadIntervalMs != config.DefaultUploadIntervalMs {
			t.Fatalf("broker %d defaults: %+v, upload interval %d", i, b.ObjectStorage, b.WAL.UploadIntervalMs)
		}
	}
	o.LocalRetentionMs, o.LocalRetentionBytes, o.UploadIntervalMs = 60000, 8<<20, 5000
	b := BrokerConfig(o, 0)
	if b.ObjectStorage.LocalRetentionMs != 60000 || b.ObjectStorage.LocalRetentionBytes != 8<<20 || b.WAL.UploadIntervalMs != 5000 {
		t.Fatalf("flags not applied: %+v, upload interval %d", b.ObjectStorage, b.WAL.UploadIntervalMs)
	}
	b.TLS = config.TLS{CAFile: "a", CertFile: "b", KeyFile: "c"}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	o.NoObjects = true
	if BrokerConfig(o, 0).ObjectStorage.Enabled() || ControllerConfig(o).ObjectStorage.Enabled() {
		t.Fatalf("--no-object-store left a store configured")
	}
}
