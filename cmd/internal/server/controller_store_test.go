package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/cmd/internal/config"
	"github.com/weirmq/weir/cmd/internal/dev"
	"github.com/weirmq/weir/cmd/internal/server"
	"github.com/weirmq/weir/cmd/internal/testnet"
	"github.com/weirmq/weir/io/raftstore"
	"github.com/weirmq/weir/net/tlsutil"
)

// flipWAL flips 4 bytes in the middle of the one pebble WAL in dir, the
// reproduction of issue 7 item 1, and returns the WAL's path.
func flipWAL(t *testing.T, dir string) string {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(logs) != 1 {
		t.Fatalf("WAL files in %s: %v (%v), want one", dir, logs, err)
	}
	b, err := os.ReadFile(logs[0])
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		b[len(b)/2+i] ^= 0xff
	}
	if err := os.WriteFile(logs[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	return logs[0]
}

// adminDo sends one admin API request and fails the test unless it
// succeeds.
func adminDo(t *testing.T, method, url, body string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s %s", method, url, resp.Status, b)
	}
}

// topicNames lists the topics a controller serves from its own applied
// metadata.
func topicNames(base string) ([]string, error) {
	resp, err := http.Get(base + "/api/v1/topics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var env struct {
		Data []struct {
			Name string `json:"name"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return nil, err
	}
	var out []string
	for _, d := range env.Data {
		out = append(out, d.Name)
	}
	slices.Sort(out)
	return out, nil
}

// createTopics creates t00..t(n-1) through base, then deletes t01, and
// returns the names that remain.
func createTopics(t *testing.T, base string, n int) []string {
	t.Helper()
	var want []string
	for i := range n {
		name := fmt.Sprintf("t%02d", i)
		adminDo(t, http.MethodPost, base+"/api/v1/topics", fmt.Sprintf(`{"name":%q,"partitions":1,"replication_factor":1}`, name))
		if i != 1 {
			want = append(want, name)
		}
	}
	adminDo(t, http.MethodDelete, base+"/api/v1/topics/t01", "")
	return want
}

func waitReady(t *testing.T, c *server.Controller, brokers int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.WaitReady(ctx, brokers); err != nil {
		t.Fatal(err)
	}
}

// TestControllerRefusesCorruptStore is issue 7 item 1 end to end on the
// dev cluster's layout: topics created and one deleted, the controller
// stopped, 4 bytes of controller-1/000002.log flipped. The controller used
// to come back with an older state; it must refuse to start, naming the
// file and byte and, being the only controller, saying the state past
// that point is lost and how to accept it.
func TestControllerRefusesCorruptStore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a controller and a broker; skipped with -short")
	}
	o := dev.DefaultOptions()
	o.AdminToken = false // storage tests talk to an open admin API
	o.Dir = t.TempDir()
	o.NoRateLimit = true
	o.ControllerPort, o.RaftPort, o.HTTPPort, o.BrokerPort, o.MetricsPort = testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t), 0
	if _, err := dev.EnsureCerts(o); err != nil {
		t.Fatal(err)
	}
	ccfg := dev.ControllerConfig(o)
	ctl, err := server.StartController(ccfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	brk, err := server.StartBroker(dev.BrokerConfig(o, 0), zerolog.Nop())
	if err != nil {
		_ = ctl.Shutdown()
		t.Fatal(err)
	}
	waitReady(t, ctl, 1)
	createTopics(t, "http://"+ctl.HTTPAddr, 12)
	if err := errors.Join(brk.Shutdown(), ctl.Shutdown()); err != nil {
		t.Fatal(err)
	}

	wal := flipWAL(t, ccfg.Controller.DataDir)
	if filepath.Base(wal) != "000002.log" {
		t.Logf("the controller's WAL is %s, not the issue's 000002.log", wal)
	}
	ctl, err = server.StartController(ccfg, zerolog.Nop())
	if err == nil {
		_ = ctl.Shutdown()
		t.Fatal("the controller started from a store that does not replay its synced state")
	}
	var ce *raftstore.CorruptError
	if !errors.As(err, &ce) || ce.File != wal || ce.Offset <= 0 {
		t.Fatalf("start error %v, want a raftstore.CorruptError naming %s", err, wal)
	}
	msg := err.Error()
	for _, want := range []string{wal, fmt.Sprintf("byte %d", ce.Offset), "only controller", "lost",
		filepath.Join(ccfg.Controller.DataDir, raftstore.SyncedFile), "docs/operations.md"} {
		if !strings.Contains(msg, want) {
			t.Errorf("start error lacks %q: %s", want, msg)
		}
	}
	t.Logf("refusal: %s", msg)
}

// ctlCluster is n in-process controllers with a shared CA.
type ctlCluster struct {
	dir  string
	cfgs map[int]config.Controller
	ctls map[int]*server.Controller
}

func newCtlCluster(t *testing.T, n int) *ctlCluster {
	t.Helper()
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	ca, err := tlsutil.GenerateCA(certs)
	if err != nil {
		t.Fatal(err)
	}
	ports := map[int][3]int{}
	var peers, urls []string
	for id := 1; id <= n; id++ {
		ports[id] = [3]int{testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t)}
		peers = append(peers, fmt.Sprintf("%d@127.0.0.1:%d", id, ports[id][1]))
		urls = append(urls, fmt.Sprintf("%d@http://127.0.0.1:%d", id, ports[id][2]))
	}
	c := &ctlCluster{dir: dir, cfgs: map[int]config.Controller{}, ctls: map[int]*server.Controller{}}
	for id := 1; id <= n; id++ {
		name := fmt.Sprintf("controller-%d", id)
		if _, err := tlsutil.IssueCert(ca, name, []string{"127.0.0.1", "localhost"}); err != nil {
			t.Fatal(err)
		}
		cfg := config.DefaultController()
		cfg.Controller.NodeID = uint64(id)
		cfg.Controller.RPCListen = fmt.Sprintf("127.0.0.1:%d", ports[id][0])
		cfg.Controller.RaftListen = fmt.Sprintf("127.0.0.1:%d", ports[id][1])
		cfg.Controller.HTTPListen = fmt.Sprintf("127.0.0.1:%d", ports[id][2])
		cfg.Controller.DataDir = filepath.Join(dir, name)
		cfg.Raft.Peers = peers
		cfg.Raft.HeartbeatIntervalMs = 100
		cfg.Raft.ElectionTimeoutMs = 1000
		cfg.Admin.PeerURLs = urls
		cfg.Admin.TLS, cfg.Admin.AllowUnauthenticated = false, true // store tests; admin auth has its own (net/admin, cmd/weir)
		cfg.Admin.RateLimiting.Enabled = false
		cfg.Cluster.MinInSyncReplicas = 1
		p := tlsutil.PathsFor(certs, name)
		cfg.TLS = config.TLS{CAFile: p.CA, CertFile: p.Cert, KeyFile: p.Key}
		c.cfgs[id] = cfg
	}
	for _, name := range []string{"broker-101"} {
		if _, err := tlsutil.IssueCert(ca, name, []string{"127.0.0.1", "localhost"}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, ctl := range c.ctls {
			_ = ctl.Shutdown()
		}
	})
	return c
}

func (c *ctlCluster) start(t *testing.T, id int) error {
	t.Helper()
	ctl, err := server.StartController(c.cfgs[id], zerolog.Nop())
	if err == nil {
		c.ctls[id] = ctl
	}
	return err
}

func (c *ctlCluster) stop(t *testing.T, id int) {
	t.Helper()
	if err := c.ctls[id].Shutdown(); err != nil {
		t.Fatal(err)
	}
	delete(c.ctls, id)
}

// broker starts broker 101 against every controller.
func (c *ctlCluster) broker(t *testing.T) *server.Broker {
	t.Helper()
	b := config.DefaultBroker()
	b.Broker.ID = 101
	b.Network.QUICListen = fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(t))
	b.Metrics.Listen = "127.0.0.1:0"
	b.WAL.Path = filepath.Join(c.dir, "broker-101", "wal")
	b.WAL.CapacityBytes = 1 << 30
	b.WAL.SegmentSizeBytes = 1 << 20
	b.Controller.Endpoints = nil
	for id := 1; id <= len(c.cfgs); id++ {
		b.Controller.Endpoints = append(b.Controller.Endpoints, fmt.Sprintf("%d@%s", id, c.cfgs[id].Controller.RPCListen))
	}
	b.Replication.MinInSyncReplicas = 1
	p := tlsutil.PathsFor(filepath.Join(c.dir, "certs"), "broker-101")
	b.TLS = config.TLS{CAFile: p.CA, CertFile: p.Cert, KeyFile: p.Key}
	brk, err := server.StartBroker(b, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = brk.Shutdown() })
	return brk
}

// TestCorruptControllerRejoinsEmpty checks the procedure the refusal and
// docs/operations.md give for a cluster of 3: the corrupt controller
// refuses to start, naming the procedure; with its data directory moved
// aside and the leader restarted it starts empty, rejoins, and copies the
// whole metadata log from the leader (the log is never compacted, so the
// leader always has it); and the cluster keeps working with it.
func TestCorruptControllerRejoinsEmpty(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 3 controllers and a broker; skipped with -short")
	}
	c := newCtlCluster(t, 3)
	for id := 1; id <= 3; id++ {
		if err := c.start(t, id); err != nil {
			t.Fatal(err)
		}
	}
	c.broker(t)
	waitReady(t, c.ctls[1], 1)
	// Any controller forwards writes to the leader.
	want := createTopics(t, "http://"+c.ctls[1].HTTPAddr, 8)

	c.stop(t, 3)
	dir3 := c.cfgs[3].Controller.DataDir
	wal := flipWAL(t, dir3)
	err := c.start(t, 3)
	if !errors.Is(err, raftstore.ErrCorrupt) {
		t.Fatalf("corrupt controller-3 start: %v, want a refusal", err)
	}
	for _, s := range []string{wal, "move " + dir3 + " aside", "restart the current leader", "empty data_dir", "rejoins"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("refusal lacks %q: %v", s, err)
		}
	}

	// The documented procedure. The leader still remembers how far
	// controller-3's old log reached and would send it a commit index past
	// its empty log, which etcd raft answers with a panic ("tocommit(N) is
	// out of range"): restart the leader first, so that a leader elected
	// while controller-3 is away tracks it afresh.
	if err := os.Rename(dir3, dir3+".corrupt"); err != nil {
		t.Fatal(err)
	}
	lead, term := clusterLeader(t, c, 0)
	c.stop(t, lead)
	if err := c.start(t, lead); err != nil {
		t.Fatal(err)
	}
	clusterLeader(t, c, term)
	if err := c.start(t, 3); err != nil {
		t.Fatalf("controller-3 with an empty data_dir: %v", err)
	}
	base3 := "http://" + c.ctls[3].HTTPAddr
	waitTopics(t, base3, want)

	// It takes part: a topic created now reaches it, and with controller 1
	// stopped the other two still have a quorum.
	adminDo(t, http.MethodPost, "http://"+c.ctls[2].HTTPAddr+"/api/v1/topics", `{"name":"after","partitions":1,"replication_factor":1}`)
	want = append(want, "after")
	slices.Sort(want)
	waitTopics(t, base3, want)
	c.stop(t, 1)
	createRetry(t, base3, "without-1")
	want = append(want, "without-1")
	slices.Sort(want)
	waitTopics(t, base3, want)
}

// clusterLeader waits until the running controllers agree on a leader in a
// term above after, and returns it and the term.
func clusterLeader(t *testing.T, c *ctlCluster, after uint64) (int, uint64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ids, terms := map[string]bool{}, map[uint64]bool{}
		for _, ctl := range c.ctls {
			var env struct {
				Data struct {
					Leader *string `json:"leader"`
					Term   uint64  `json:"term"`
				} `json:"data"`
			}
			resp, err := http.Get("http://" + ctl.HTTPAddr + "/api/v1/cluster?stale=true")
			if err != nil {
				continue
			}
			if json.NewDecoder(resp.Body).Decode(&env) == nil && env.Data.Leader != nil {
				ids[*env.Data.Leader] = true
				terms[env.Data.Term] = true
			}
			resp.Body.Close()
		}
		if len(ids) == 1 && len(terms) == 1 {
			var id int
			var term uint64
			for l := range ids {
				_, _ = fmt.Sscanf(l, "controller-%d", &id)
			}
			for tm := range terms {
				term = tm
			}
			if _, up := c.ctls[id]; up && term > after {
				return id, term
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("controllers do not agree on a leader after term %d: %v %v", after, ids, terms)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// createRetry creates topic name through base, retrying while the
// controllers elect a leader (a 409 then means an earlier try succeeded).
func createRetry(t *testing.T, base, name string) {
	t.Helper()
	body := fmt.Sprintf(`{"name":%q,"partitions":1,"replication_factor":1}`, name)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Post(base+"/api/v1/topics", "application/json", strings.NewReader(body))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusConflict {
				return
			}
			err = fmt.Errorf("%s %s", resp.Status, b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("create %s through %s: %v", name, base, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitTopics waits until the controller at base serves exactly want from
// its local metadata.
func waitTopics(t *testing.T, base string, want []string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := topicNames(base)
		if err == nil && slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s serves topics %v (%v), want %v", base, got, err, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
