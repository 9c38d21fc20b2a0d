package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/sm"
)

// fakeClock is a settable Config.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var t0 = time.Date(2024, 1, 15, 9, 30, 0, 0, time.UTC)

// newOpServer is newServer with the operator settings: version 0.1.0,
// started at t0 on a fake clock, and cfg's edits.
func newOpServer(t *testing.T, b Backend, urls map[sm.NodeID]string, edit func(*Config)) (*Server, *logBuf, *fakeClock) {
	t.Helper()
	logs, clock := &logBuf{}, &fakeClock{now: t0}
	self, _ := b.Leader()
	cfg := Config{Self: self, RequestTimeout: 2 * time.Second, Log: zerolog.New(logs), Version: "0.1.0", Started: t0, Now: clock.Now}
	if urls != nil {
		cfg.LeaderURL = func(id sm.NodeID) (string, bool) { u, ok := urls[id]; return u, ok }
	}
	if edit != nil {
		edit(&cfg)
	}
	s := New(cfg, b)
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s, logs, clock
}

// sampleStatus is the reference's cluster example in Weir's terms: two
// brokers (listed out of order), the second offline, controller 1 leading.
func sampleStatus() ClusterStatus {
	return ClusterStatus{
		Term: 1, CommitIndex: 42, AppliedIndex: 41, Healthy: true,
		Metadata: sm.MetadataDelta{Full: true},
		Brokers: []BrokerStatus{
			{Info: sm.BrokerInfo{ID: 2, Host: "localhost:9192", Rack: "rack-2", Fenced: true}},
			{Info: sm.BrokerInfo{ID: 1, Host: "localhost:9092", Rack: "rack-1"}, Online: true, LastReport: t0.Add(-2 * time.Second),
				Health: BrokerHealth{
					WAL:           WALHealth{Healthy: true, UsedBytes: 1 << 20, CapacityBytes: 10 << 30, Backend: "uring"},
					Cache:         CacheHealth{Healthy: true, UsedBytes: 4096, CapacityBytes: 1 << 30},
					ObjectStorage: ObjectStorageHealth{},
					Network:       NetworkHealth{Healthy: true, Connections: 7},
					Replication:   ReplicationHealth{MaxLagRecords: 12, UnderReplicatedPartitions: 1},
					Resources:     ResourceUsage{MemoryBytes: 64 << 20, Goroutines: 93, CPUPercent: 12.5},
				}},
		},
	}
}

// healthAnswer is a /health response: the reference's bare object with
// exactly its six keys.
type healthAnswer struct {
	status int
	header http.Header
	raw    string
	body   struct {
		Status        string          `json:"status"`
		Version       string          `json:"version"`
		UptimeSeconds int64           `json:"uptime_seconds"`
		IsLeader      bool            `json:"is_leader"`
		RaftTerm      uint64          `json:"raft_term"`
		RateLimiting  json.RawMessage `json:"rate_limiting"`
	}
}

func getHealth(t *testing.T, h http.Handler) *healthAnswer {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/health", nil))
	a := &healthAnswer{status: w.Code, header: w.Header(), raw: strings.TrimSpace(w.Body.String())}
	if ct := w.Header().Get("Content-Type"); ct != jsonType {
		t.Fatalf("status %d: Content-Type %q: %s", w.Code, ct, a.raw)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &keys); err != nil {
		t.Fatalf("/health is not a JSON object: %v: %s", err, a.raw)
	}
	want := []string{"is_leader", "raft_term", "rate_limiting", "status", "uptime_seconds", "version"}
	if got := slices.Sorted(maps.Keys(keys)); !slices.Equal(got, want) {
		t.Fatalf("/health keys %q, want %q", got, want)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &a.body); err != nil {
		t.Fatal(err)
	}
	return a
}

// /health is the reference's object: status, version, uptime from the
// configured start on the injected clock, leadership and term, and a
// rate_limiting block that says disabled when no stats are wired. It reads
// this controller's applied state (stale) and nothing else.
func TestHealth(t *testing.T) {
	b := newFake(1, 1)
	b.status = sampleStatus()
	s, _, clock := newOpServer(t, b, nil, nil)
	clock.advance(3600*time.Second + 900*time.Millisecond)
	a := getHealth(t, s.Handler())
	want := compact(t, `{"status":"ok","version":"0.1.0","uptime_seconds":3600,"is_leader":true,"raft_term":1,
		"rate_limiting":{"enabled":false,"active_limiters":0,"total_requests":0,"blocked_requests":0,"last_cleanup":null}}`)
	if a.status != http.StatusOK || a.raw != want {
		t.Fatalf("status %d\ngot  %s\nwant %s", a.status, a.raw, want)
	}
	clock.advance(100 * time.Millisecond)
	if a = getHealth(t, s.Handler()); a.body.UptimeSeconds != 3601 {
		t.Fatalf("uptime %d after the clock moved, want 3601", a.body.UptimeSeconds)
	}
	if got := b.stales(); !slices.Equal(got, []bool{true, true}) {
		t.Fatalf("ClusterStatus stale arguments %v, want only stale reads", got)
	}

	// A start in the future (a clock step back) is uptime 0, not negative.
	s, _, _ = newOpServer(t, b, nil, func(c *Config) { c.Started = t0.Add(time.Hour) })
	if a = getHealth(t, s.Handler()); a.body.UptimeSeconds != 0 {
		t.Fatalf("uptime %d, want 0", a.body.UptimeSeconds)
	}
	// No start configured: counted from New.
	s, _, clock = newOpServer(t, b, nil, func(c *Config) { c.Started = time.Time{} })
	clock.advance(90 * time.Second)
	if a = getHealth(t, s.Handler()); a.body.UptimeSeconds != 90 {
		t.Fatalf("uptime %d, want 90 (from New)", a.body.UptimeSeconds)
	}
}

// The status rule: no leader known is unhealthy, a leader with an
// unhealthy cluster is degraded. /health answers 200 without a leader (it
// reports this controller); only a controller that cannot report answers
// 503.
func TestHealthStatusRule(t *testing.T) {
	for _, tc := range []struct {
		name           string
		self, leader   sm.NodeID
		healthy        bool
		err            error
		code           int
		status         string
		isLeader       bool
		term           uint64
		logged, linear bool
	}{
		{name: "leader healthy", self: 1, leader: 1, healthy: true, code: 200, status: "ok", isLeader: true, term: 5},
		{name: "follower healthy", self: 2, leader: 1, healthy: true, code: 200, status: "ok", term: 5},
		{name: "leader degraded", self: 1, leader: 1, code: 200, status: "degraded", isLeader: true, term: 5},
		{name: "no leader", self: 1, leader: sm.NoNode, healthy: true, code: 200, status: "unhealthy", term: 5},
		{name: "backend down", self: 1, leader: 1, err: fmt.Errorf("loop stopped: %w", ErrUnavailable), code: 503, status: "unhealthy", logged: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newFake(tc.self, tc.leader)
			b.status.Term, b.status.Healthy = 5, tc.healthy
			if tc.err != nil {
				b.statusFn = func(context.Context, bool) (ClusterStatus, error) { return ClusterStatus{}, tc.err }
			}
			s, logs, _ := newOpServer(t, b, nil, nil)
			a := getHealth(t, s.Handler())
			if a.status != tc.code || a.body.Status != tc.status || a.body.IsLeader != tc.isLeader || a.body.RaftTerm != tc.term {
				t.Fatalf("got %d %s", a.status, a.raw)
			}
			if a.body.Version != "0.1.0" || string(a.body.RateLimiting) == "null" {
				t.Fatalf("version or rate_limiting missing: %s", a.raw)
			}
			if logged := strings.Contains(logs.String(), "GET /health: cluster status unavailable: loop stopped"); logged != tc.logged {
				t.Fatalf("logged %v: %q", logged, logs)
			}
			if tc.code == 503 && a.header.Get("Retry-After") != "1" {
				t.Fatal("503 without Retry-After")
			}
			if slices.Contains(b.stales(), false) {
				t.Fatal("/health asked for a linearizable read")
			}
		})
	}
}

// The rate_limiting block is whatever RateLimitStats reports, in the
// reference's shape; nothing sensible reported is logged and null.
func TestHealthRateLimiting(t *testing.T) {
	cleanup := time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		stats  func() any
		want   string
		logged bool
	}{
		{"reference example", func() any {
			return RateLimiting{Enabled: true, ActiveLimiters: 15, TotalRequests: 1250, BlockedRequests: 25, LastCleanup: &cleanup}
		}, `{"enabled":true,"active_limiters":15,"total_requests":1250,"blocked_requests":25,"last_cleanup":"2024-01-15T10:30:00Z"}`, false},
		{"pointer", func() any { return &RateLimiting{Enabled: true, TotalRequests: 3} },
			`{"enabled":true,"active_limiters":0,"total_requests":3,"blocked_requests":0,"last_cleanup":null}`, false},
		{"another package's type", func() any {
			return struct {
				Enabled bool `json:"enabled"`
			}{true}
		}, `{"enabled":true}`, false},
		{"nil answer", func() any { return nil },
			`{"enabled":false,"active_limiters":0,"total_requests":0,"blocked_requests":0,"last_cleanup":null}`, false},
		{"nil pointer", func() any { return (*RateLimiting)(nil) },
			`{"enabled":false,"active_limiters":0,"total_requests":0,"blocked_requests":0,"last_cleanup":null}`, false},
		{"not an object", func() any { return 7 }, `null`, true},
		{"not encodable", func() any { return map[string]any{"f": func() {}} }, `null`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, logs, _ := newOpServer(t, newFake(1, 1), nil, func(c *Config) { c.RateLimitStats = tc.stats })
			a := getHealth(t, s.Handler())
			if a.status != 200 || string(a.body.RateLimiting) != tc.want {
				t.Fatalf("status %d, rate_limiting %s, want %s", a.status, a.body.RateLimiting, tc.want)
			}
			if logged := strings.Contains(logs.String(), "do not encode as a JSON object"); logged != tc.logged {
				t.Fatalf("logged %v: %q", logged, logs)
			}
		})
	}
}

// The cluster is the reference's example: brokers by ID in the listing's
// shape, topics in the list's shape, the leader by name, term, healthy;
// plus Weir's raft positions.
func TestClusterShape(t *testing.T) {
	b := newFake(1, 1)
	b.status = sampleStatus()
	s, _, _ := newOpServer(t, b, nil, nil)
	a := do(t, s.Handler(), "GET", "/api/v1/cluster", "", "")
	expect(t, a, http.StatusOK, "")
	want := compact(t, `{"success":true,"data":{
		"brokers":[
			{"id":"broker-1","host":"localhost","port_quic":9092,"port_rpc":9092,"rack_id":"rack-1","online":true},
			{"id":"broker-2","host":"localhost","port_quic":9192,"port_rpc":9192,"rack_id":"rack-2","online":false}
		],
		"topics":[],"leader":"controller-1","term":1,"healthy":true,"commit_index":42,"applied_index":41
	},"error":null,"leader_hint":"controller-1"}`)
	if a.raw != want {
		t.Fatalf("got  %s\nwant %s", a.raw, want)
	}
	if b.status.Brokers[0].Info.ID != 2 {
		t.Fatal("the backend's broker slice was reordered")
	}

	// Topics as GET /api/v1/topics lists them; no brokers is [], not null.
	b.status.Metadata = sampleMetadata()
	b.status.Brokers, b.status.Healthy = nil, false
	a = do(t, s.Handler(), "GET", "/api/v1/cluster", "", "")
	var data struct {
		Brokers json.RawMessage `json:"brokers"`
		Topics  json.RawMessage `json:"topics"`
		Healthy bool            `json:"healthy"`
	}
	if err := json.Unmarshal(a.env.Data, &data); err != nil {
		t.Fatal(err)
	}
	wantTopics := compact(t, `[{"name":"audit","topic_id":"AgAAAAAAAAAAAAAAAAAAAA","partitions":1,"replication_factor":1,"created_at":null},
		{"name":"user-events","topic_id":"AQAAAAAAAAAAAAAAAAAAAA","partitions":2,"replication_factor":3,"created_at":null}]`)
	if string(data.Brokers) != "[]" || string(data.Topics) != wantTopics || data.Healthy {
		t.Fatalf("got %s", a.env.Data)
	}
}

// The broker list is the reference's: "broker-<id>", host and QUIC port
// split from the advertised address (IPv6 too), no RPC port, rack, online.
func TestListBrokersShape(t *testing.T) {
	b := newFake(1, 1)
	b.status = sampleStatus()
	s, _, _ := newOpServer(t, b, nil, nil)
	a := do(t, s.Handler(), "GET", "/api/v1/brokers", "", "")
	expect(t, a, http.StatusOK, "")
	want := compact(t, `{"success":true,"data":[
		{"id":"broker-1","host":"localhost","port_quic":9092,"port_rpc":9092,"rack_id":"rack-1","online":true},
		{"id":"broker-2","host":"localhost","port_quic":9192,"port_rpc":9192,"rack_id":"rack-2","online":false}
	],"error":null,"leader_hint":"controller-1"}`)
	if a.raw != want {
		t.Fatalf("got  %s\nwant %s", a.raw, want)
	}

	b.status.Brokers = []BrokerStatus{
		{Info: sm.BrokerInfo{ID: 103, Host: "[::1]:9092"}, Online: true},
		{Info: sm.BrokerInfo{ID: 101, Host: "no-port"}},
		{Info: sm.BrokerInfo{ID: 102, Host: "10.0.0.1:99999"}},
	}
	a = do(t, s.Handler(), "GET", "/api/v1/brokers", "", "")
	want = compact(t, `[
		{"id":"broker-101","host":"no-port","port_quic":null,"port_rpc":null,"rack_id":"","online":false},
		{"id":"broker-102","host":"10.0.0.1","port_quic":null,"port_rpc":null,"rack_id":"","online":false},
		{"id":"broker-103","host":"::1","port_quic":9092,"port_rpc":9092,"rack_id":"","online":true}]`)
	if string(a.env.Data) != want {
		t.Fatalf("got  %s\nwant %s", a.env.Data, want)
	}

	b.status.Brokers = nil
	if a = do(t, s.Handler(), "GET", "/api/v1/brokers", "", ""); string(a.env.Data) != "[]" {
		t.Fatalf("no brokers: %s", a.env.Data)
	}
}

// A broker's health: its components as of its last report, named as the
// listing names it, by "broker-<n>" or "<n>".
func TestBrokerHealth(t *testing.T) {
	b := newFake(1, 1)
	b.status = sampleStatus()
	s, _, _ := newOpServer(t, b, nil, nil)
	want := compact(t, `{"success":true,"data":{
		"id":"broker-1","online":true,"healthy":true,"last_report":"2024-01-15T09:29:58Z",
		"wal":{"healthy":true,"backend":"uring","used_bytes":1048576,"capacity_bytes":10737418240},
		"cache":{"healthy":true,"used_bytes":4096,"capacity_bytes":1073741824},
		"object_storage":{"healthy":false,"configured":false},
		"network":{"healthy":true,"connections":7},
		"replication_lag":{"max_lag_records":12,"under_replicated_partitions":1},
		"resource_usage":{"memory_bytes":67108864,"goroutines":93,"cpu_percent":12.5}
	},"error":null,"leader_hint":"controller-1"}`)
	for _, p := range []string{"/api/v1/brokers/broker-1/health", "/api/v1/brokers/1/health"} {
		a := do(t, s.Handler(), "GET", p, "", "")
		expect(t, a, http.StatusOK, "")
		if a.raw != want {
			t.Fatalf("%s:\ngot  %s\nwant %s", p, a.raw, want)
		}
	}

	// Never reported (and offline): no time, not healthy, zero components.
	a := do(t, s.Handler(), "GET", "/api/v1/brokers/broker-2/health", "", "")
	expect(t, a, http.StatusOK, "")
	wantData := compact(t, `{"id":"broker-2","online":false,"healthy":false,"last_report":null,
		"wal":{"healthy":false,"backend":"","used_bytes":0,"capacity_bytes":0},
		"cache":{"healthy":false,"used_bytes":0,"capacity_bytes":0},
		"object_storage":{"healthy":false,"configured":false},
		"network":{"healthy":false,"connections":0},
		"replication_lag":{"max_lag_records":0,"under_replicated_partitions":0},
		"resource_usage":{"memory_bytes":0,"goroutines":0,"cpu_percent":0}}`)
	if string(a.env.Data) != wantData {
		t.Fatalf("got  %s\nwant %s", a.env.Data, wantData)
	}
}

// Healthy is online, reported, and every judged component healthy; an
// object store counts only when configured; a CPU figure that is not a
// number is null rather than a broken answer.
func TestBrokerHealthVerdict(t *testing.T) {
	base := sampleStatus().Brokers[1]
	for _, tc := range []struct {
		name    string
		edit    func(*BrokerStatus)
		healthy bool
	}{
		{"all good", func(*BrokerStatus) {}, true},
		{"offline", func(b *BrokerStatus) { b.Online = false }, false},
		{"never reported", func(b *BrokerStatus) { b.LastReport = time.Time{} }, false},
		{"wal", func(b *BrokerStatus) { b.Health.WAL.Healthy = false }, false},
		{"cache", func(b *BrokerStatus) { b.Health.Cache.Healthy = false }, false},
		{"network", func(b *BrokerStatus) { b.Health.Network.Healthy = false }, false},
		{"object storage configured, failing", func(b *BrokerStatus) { b.Health.ObjectStorage.Configured = true }, false},
		{"object storage configured, fine", func(b *BrokerStatus) { b.Health.ObjectStorage = ObjectStorageHealth{Healthy: true, Configured: true} }, true},
		{"lagging replicas are reported, not judged", func(b *BrokerStatus) { b.Health.Replication.MaxLagRecords = 1 << 40 }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bs := base
			tc.edit(&bs)
			if got := brokerHealthOf(bs).Healthy; got != tc.healthy {
				t.Fatalf("healthy %v, want %v", got, tc.healthy)
			}
		})
	}
	for _, c := range []float64{math.NaN(), math.Inf(1)} {
		bs := base
		bs.Health.Resources.CPUPercent = c
		b := newFake(1, 1)
		b.status.Brokers = []BrokerStatus{bs}
		s, _, _ := newOpServer(t, b, nil, nil)
		a := do(t, s.Handler(), "GET", "/api/v1/brokers/1/health", "", "")
		expect(t, a, http.StatusOK, "")
		if !strings.Contains(string(a.env.Data), `"cpu_percent":null`) {
			t.Fatalf("cpu %v: %s", c, a.env.Data)
		}
	}
}

// A malformed ID is 400 before anything is read; an unregistered one 404.
func TestBrokerHealthBadID(t *testing.T) {
	b := newFake(1, 1)
	b.status = sampleStatus()
	s, _, _ := newOpServer(t, b, nil, nil)
	for _, id := range []string{"abc", "broker-", "broker-x", "0", "broker-0", "-1", "+1", "1.5", "18446744073709551616", "controller-1", "broker-broker-1", "%20"} {
		a := do(t, s.Handler(), "GET", "/api/v1/brokers/"+id+"/health", "", "")
		expect(t, a, http.StatusBadRequest, "is not a broker ID (want broker-<n> or <n>, n >= 1)")
	}
	if n := len(b.stales()); n != 0 {
		t.Fatalf("a bad ID read the cluster status %d times", n)
	}
	for _, id := range []string{"broker-3", "99", "18446744073709551615"} {
		a := do(t, s.Handler(), "GET", "/api/v1/brokers/"+id+"/health", "", "")
		expect(t, a, http.StatusNotFound, "is not registered")
		if a.hint() != "controller-1" {
			t.Fatalf("leader_hint %s", a.hint())
		}
	}
	a := do(t, s.Handler(), "GET", "/api/v1/brokers/3/health", "", "")
	expect(t, a, http.StatusNotFound, "broker broker-3 is not registered")
}

// operatorReads are the linearizable endpoints.
var operatorReads = []string{"/api/v1/cluster", "/api/v1/brokers", "/api/v1/brokers/broker-1/health"}

// Operator reads are linearizable unless the query says stale; a stale
// read is answered locally by any controller, with or without a leader.
func TestStaleVersusLinearizable(t *testing.T) {
	for _, tc := range []struct {
		query string
		stale bool
	}{
		{"", false}, {"?stale=false", false}, {"?stale=0", false},
		{"?stale=true", true}, {"?stale=1", true}, {"?stale", true}, {"?stale=true&stale=false", true},
	} {
		b := newFake(1, 1)
		b.status = sampleStatus()
		s, _, _ := newOpServer(t, b, nil, nil)
		for _, p := range operatorReads {
			expect(t, do(t, s.Handler(), "GET", p+tc.query, "", ""), http.StatusOK, "")
		}
		if got := b.stales(); !slices.Equal(got, []bool{tc.stale, tc.stale, tc.stale}) {
			t.Fatalf("%q: stale arguments %v, want %v", tc.query, got, tc.stale)
		}
	}

	b := newFake(1, 1)
	s, _, _ := newOpServer(t, b, nil, nil)
	for _, p := range operatorReads {
		a := do(t, s.Handler(), "GET", p+"?stale=maybe", "", "")
		expect(t, a, http.StatusBadRequest, `stale: want true or false (got "maybe")`)
	}
	if len(b.stales()) != 0 {
		t.Fatal("a bad stale parameter reached the backend")
	}

	// A follower, even one that knows no leader, answers a stale read
	// itself from its own view, and says which leader it knows.
	for _, leader := range []sm.NodeID{2, sm.NoNode} {
		b := newFake(1, leader)
		b.status = sampleStatus()
		b.status.Term = 9
		s, _, _ := newOpServer(t, b, map[sm.NodeID]string{}, nil)
		for _, p := range operatorReads {
			a := do(t, s.Handler(), "GET", p+"?stale=true", "", "")
			expect(t, a, http.StatusOK, "")
			if want := fmt.Sprint(leaderHint(leader) != nil); fmt.Sprint(a.env.LeaderHint != nil) != want {
				t.Fatalf("leader %d: leader_hint %s", leader, a.hint())
			}
		}
		a := do(t, s.Handler(), "GET", "/api/v1/cluster?stale=true", "", "")
		if !strings.Contains(string(a.env.Data), `"term":9`) {
			t.Fatalf("not the follower's own view: %s", a.env.Data)
		}
	}
}

// opCluster is controller 1 (a follower) forwarding reads to controller 2,
// the leader, over loopback HTTP.
type opCluster struct {
	follower, leader *fakeBackend
	followerSrv      *Server
	mu               sync.Mutex
	seen             []string // method, path, query and forwarded-by, as the leader saw them
}

func newOpCluster(t *testing.T) *opCluster {
	c := &opCluster{follower: newFake(1, 2), leader: newFake(2, 2)}
	c.follower.status = sampleStatus()
	c.leader.status = sampleStatus()
	c.leader.status.Term = 7
	leaderSrv, _, _ := newOpServer(t, c.leader, nil, nil)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.seen = append(c.seen, r.Method+" "+r.URL.RequestURI()+" by "+r.Header.Get(forwardedHeader))
		c.mu.Unlock()
		leaderSrv.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	c.followerSrv, _, _ = newOpServer(t, c.follower, map[sm.NodeID]string{2: ts.URL}, nil)
	return c
}

// A linearizable read on a follower is forwarded to the leader, which
// answers it linearizably; the leader's answer (a 404 included) is relayed.
// A HEAD is forwarded as a GET. Stale reads and /health stay local.
func TestReadsForwardedToLeader(t *testing.T) {
	c := newOpCluster(t)
	h := c.followerSrv.Handler()
	a := do(t, h, "GET", "/api/v1/cluster", "", "")
	expect(t, a, http.StatusOK, "")
	if !strings.Contains(string(a.env.Data), `"term":7`) || a.hint() != "controller-2" {
		t.Fatalf("not the leader's answer: %s", a.raw)
	}
	expect(t, do(t, h, "GET", "/api/v1/brokers", "", ""), http.StatusOK, "")
	a = do(t, h, "GET", "/api/v1/brokers/broker-9/health", "", "")
	expect(t, a, http.StatusNotFound, "broker broker-9 is not registered")
	if a.hint() != "controller-2" {
		t.Fatalf("leader_hint %s", a.hint())
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("HEAD", "/api/v1/brokers/1/health?stale=false", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("HEAD: status %d: %s", w.Code, w.Body)
	}
	want := []string{
		"GET /api/v1/cluster by controller-1",
		"GET /api/v1/brokers by controller-1",
		"GET /api/v1/brokers/broker-9/health by controller-1",
		"GET /api/v1/brokers/1/health?stale=false by controller-1",
	}
	if !slices.Equal(c.seen, want) {
		t.Fatalf("the leader saw %q, want %q", c.seen, want)
	}
	if got := c.leader.stales(); !slices.Equal(got, []bool{false, false, false, false}) {
		t.Fatalf("leader's stale arguments %v", got)
	}

	expect(t, do(t, h, "GET", "/api/v1/cluster?stale=true", "", ""), http.StatusOK, "")
	if ha := getHealth(t, h); ha.status != 200 || ha.body.IsLeader || ha.body.RaftTerm != 1 {
		t.Fatalf("/health is not the follower's own: %s", ha.raw)
	}
	if len(c.seen) != 4 {
		t.Fatalf("a stale read or /health was forwarded: %q", c.seen)
	}
}

// A linearizable read that cannot be forwarded is 503 with leader_hint:
// no leader known, the leader's URL unknown, already forwarded once, or a
// controller that could not confirm its own leadership.
func TestReadsNotForwardable(t *testing.T) {
	check := func(t *testing.T, b *fakeBackend, urls map[sm.NodeID]string, hdr, errSub, hint string) {
		t.Helper()
		s, _, _ := newOpServer(t, b, urls, nil)
		for _, p := range operatorReads {
			r := httptest.NewRequest("GET", p, nil)
			if hdr != "" {
				r.Header.Set(forwardedHeader, hdr)
			}
			w := httptest.NewRecorder()
			s.Handler().ServeHTTP(w, r)
			a := parseAnswer(t, w.Code, w.Header(), w.Body.Bytes())
			expect(t, a, http.StatusServiceUnavailable, errSub)
			if a.hint() != hint || a.header.Get("Retry-After") != "1" {
				t.Fatalf("%s: leader_hint %s, Retry-After %q", p, a.hint(), a.header.Get("Retry-After"))
			}
		}
	}
	t.Run("no leader", func(t *testing.T) {
		check(t, newFake(1, sm.NoNode), map[sm.NodeID]string{}, "", "no controller leader is known (election in progress?); retry, or add ?stale=true", "<null>")
	})
	t.Run("leader URL unknown", func(t *testing.T) {
		check(t, newFake(1, 2), map[sm.NodeID]string{}, "", "the admin URL of the leader controller-2 is unknown here", "controller-2")
	})
	t.Run("one hop", func(t *testing.T) {
		check(t, newFake(2, 3), map[sm.NodeID]string{3: "http://127.0.0.1:1"}, "controller-1",
			`forwarded by "controller-1", but this controller is not the leader either (it believes controller-3 is)`, "controller-3")
	})
	t.Run("leadership unconfirmed", func(t *testing.T) {
		b := newFake(1, 1)
		b.statusFn = func(context.Context, bool) (ClusterStatus, error) { return ClusterStatus{}, &NotLeaderError{Leader: 1} }
		check(t, b, map[sm.NodeID]string{1: "http://127.0.0.1:1"}, "", "could not confirm its leadership", "controller-1")
	})
}

// Forwarding a read fails retryably: unreachable or silent leaders are
// 503 (a read changes nothing), something else at the URL 502.
func TestReadForwardFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close()
	hangup := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer hangup.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "<html>") }))
	defer other.Close()

	for _, tc := range []struct {
		name, url string
		status    int
		err       string
	}{
		{"down", down, 503, "cannot reach the controller leader controller-2 at " + down},
		{"hangup", hangup.URL, 503, "a read changes nothing, retry"},
		{"not this API", other.URL, 502, "bad answer from the controller leader controller-2 at " + other.URL + " (status 200: not an admin API envelope); a read changes nothing, retry"},
		{"malformed URL", "::nope", 503, "admin URL of the leader controller-2 is malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, _ := newOpServer(t, newFake(1, 2), map[sm.NodeID]string{2: tc.url}, nil)
			a := do(t, s.Handler(), "GET", "/api/v1/cluster", "", "")
			expect(t, a, tc.status, tc.err)
			if strings.Contains(a.err(), "outcome unknown") || a.hint() != "controller-2" {
				t.Fatalf("error %q, leader_hint %s", a.err(), a.hint())
			}
		})
	}
}

// The backend's failures: unavailable is 503, partial metadata a logged
// 500, and a *NotLeaderError on a stale read (a backend bug) is 503.
func TestClusterStatusFailures(t *testing.T) {
	b := newFake(1, 1)
	s, logs, _ := newOpServer(t, b, nil, nil)
	b.statusFn = func(context.Context, bool) (ClusterStatus, error) {
		return ClusterStatus{}, fmt.Errorf("inbox full: %w", ErrUnavailable)
	}
	for _, p := range operatorReads {
		a := do(t, s.Handler(), "GET", p, "", "")
		expect(t, a, http.StatusServiceUnavailable, "cluster status unavailable: inbox full: admin: controller unavailable; retry")
		if a.hint() != "controller-1" || a.header.Get("Retry-After") != "1" {
			t.Fatalf("leader_hint %s, Retry-After %q", a.hint(), a.header.Get("Retry-After"))
		}
	}
	b.statusFn = func(context.Context, bool) (ClusterStatus, error) {
		return ClusterStatus{Leader: 1, Metadata: sm.MetadataDelta{FromVersion: 3, ToVersion: 4}}, nil
	}
	a := do(t, s.Handler(), "GET", "/api/v1/cluster", "", "")
	expect(t, a, http.StatusInternalServerError, "partial metadata")
	if !strings.Contains(logs.String(), "partial metadata (versions 3..4) for GET /api/v1/cluster") {
		t.Fatalf("not logged: %q", logs)
	}
	b.statusFn = func(context.Context, bool) (ClusterStatus, error) { return ClusterStatus{}, &NotLeaderError{Leader: 2} }
	a = do(t, s.Handler(), "GET", "/api/v1/brokers?stale=true", "", "")
	expect(t, a, http.StatusServiceUnavailable, "cluster status unavailable: admin: not the controller leader (controller-2 is)")
}

func TestNotLeaderError(t *testing.T) {
	var err error = fmt.Errorf("read index: %w", &NotLeaderError{Leader: 3})
	nl, ok := notLeader(err)
	if !ok || nl.Leader != 3 || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("%v: as %v %v, is unavailable %v", err, nl, ok, errors.Is(err, ErrUnavailable))
	}
	if got := (&NotLeaderError{}).Error(); got != "admin: not the controller leader (no leader known)" {
		t.Fatal(got)
	}
	if _, ok := notLeader(ErrUnavailable); ok {
		t.Fatal("ErrUnavailable is not a not-leader answer")
	}
}

// The middleware wraps every route (404s, 405s and forwarded reads
// included), sees the handlers' recovered panics as 500s, can answer by
// itself, and its own panics are recovered too.
func TestMiddlewareWrapsEveryRoute(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	mw := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Test-Block") != "" {
				w.Header().Set("Retry-After", "60")
				writeEnvelope(w, http.StatusTooManyRequests, envelope{Error: new("rate limit exceeded")})
				return
			}
			if r.Header.Get("X-Test-Panic") != "" {
				panic("middleware boom")
			}
			rec := &statusRecorder{ResponseWriter: w}
			w.Header().Set("X-Test-Middleware", "1")
			next.ServeHTTP(rec, r)
			mu.Lock()
			seen = append(seen, fmt.Sprintf("%s %s %d", r.Method, r.URL.Path, rec.status))
			mu.Unlock()
		})
	}
	b := newFake(1, 1)
	b.status = sampleStatus()
	s, logs, _ := newOpServer(t, panicBackend{b}, nil, func(c *Config) { c.Middleware = mw })
	h := s.Handler()
	routes := []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/health", "", 200},
		{"GET", "/api/v1/cluster", "", 200},
		{"GET", "/api/v1/brokers", "", 200},
		{"GET", "/api/v1/brokers/1/health", "", 200},
		{"GET", "/api/v1/topics", "", 500}, // panicBackend's Metadata panics
		{"GET", "/api/v1/topics/t", "", 500},
		{"POST", "/api/v1/topics", `{"name":"t","partitions":1,"replication_factor":1}`, 201},
		{"DELETE", "/api/v1/topics/t", "", 200},
		{"GET", "/nope", "", 404},
		{"PUT", "/health", "", 405},
		{"POST", "/api/v1/cluster", "", 405},
		{"DELETE", "/api/v1/brokers", "", 405},
		{"PATCH", "/api/v1/brokers/1/health", "", 405},
	}
	var want []string
	for _, rt := range routes {
		r := httptest.NewRequest(rt.method, rt.path, strings.NewReader(rt.body))
		r.Header.Set("Content-Type", jsonType)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != rt.status || w.Header().Get("X-Test-Middleware") != "1" {
			t.Fatalf("%s %s: status %d, middleware header %q: %s", rt.method, rt.path, w.Code, w.Header().Get("X-Test-Middleware"), w.Body)
		}
		want = append(want, fmt.Sprintf("%s %s %d", rt.method, rt.path, rt.status))
	}
	if !slices.Equal(seen, want) {
		t.Fatalf("the middleware saw %q, want %q", seen, want)
	}

	// Blocked by the middleware: nothing reaches the backend.
	calls := len(b.stales())
	r := httptest.NewRequest("GET", "/api/v1/cluster", nil)
	r.Header.Set("X-Test-Block", "1")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	expect(t, parseAnswer(t, w.Code, w.Header(), w.Body.Bytes()), http.StatusTooManyRequests, "rate limit exceeded")
	if len(b.stales()) != calls {
		t.Fatal("a blocked request reached the backend")
	}

	r = httptest.NewRequest("GET", "/health", nil)
	r.Header.Set("X-Test-Panic", "1")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	expect(t, parseAnswer(t, w.Code, w.Header(), w.Body.Bytes()), http.StatusInternalServerError, "internal error")
	if !strings.Contains(logs.String(), "panic serving GET /health: middleware boom") {
		t.Fatalf("middleware panic not logged: %q", logs)
	}
}

// The middleware applies to forwarded reads on both controllers.
func TestMiddlewareOnForwardedReads(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	mark := func(name string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				seen = append(seen, name+" "+r.URL.Path)
				mu.Unlock()
				next.ServeHTTP(w, r)
			})
		}
	}
	leader := newFake(2, 2)
	leaderSrv, _, _ := newOpServer(t, leader, nil, func(c *Config) { c.Middleware = mark("leader") })
	ts := httptest.NewServer(leaderSrv.Handler())
	defer ts.Close()
	s, _, _ := newOpServer(t, newFake(1, 2), map[sm.NodeID]string{2: ts.URL}, func(c *Config) { c.Middleware = mark("follower") })
	expect(t, do(t, s.Handler(), "GET", "/api/v1/brokers", "", ""), http.StatusOK, "")
	if want := []string{"follower /api/v1/brokers", "leader /api/v1/brokers"}; !slices.Equal(seen, want) {
		t.Fatalf("seen %q, want %q", seen, want)
	}
}

// A middleware that wraps the ResponseWriter does not stop an oversized
// body from being cut, answered 413 and the connection closed (not
// drained) over a real connection.
func TestBodyLimitUnderMiddleware(t *testing.T) {
	t.Parallel()
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(&statusRecorder{ResponseWriter: w}, r)
		})
	}
	s := New(Config{Self: 1, Log: zerolog.New(zerolog.NewTestWriter(t)), Middleware: wrap}, newFake(1, 1))
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	resp, err := http.Post(ts.URL+"/api/v1/topics", jsonType, strings.NewReader(strings.Repeat(" ", bodyBytesMax+1024)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	expect(t, parseAnswer(t, resp.StatusCode, resp.Header, body), http.StatusRequestEntityTooLarge, "request body above the 1048576-byte limit")
	if !resp.Close {
		t.Fatal("the connection was kept to drain the rest of the body: the limit did not reach net/http's own writer")
	}
}

func TestMiddlewareReturningNil(t *testing.T) {
	defer func() {
		if v := recover(); fmt.Sprint(v) != "admin: middleware returned a nil handler" {
			t.Fatalf("recovered %v", v)
		}
	}()
	New(Config{Self: 1, Middleware: func(http.Handler) http.Handler { return nil }}, newFake(1, 1))
}

// statusRecorder is a middleware's wrapped writer that remembers the status.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(p)
}
