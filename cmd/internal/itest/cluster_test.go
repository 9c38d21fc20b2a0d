package itest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weirmq/weir/cmd/internal/testnet"
	"github.com/weirmq/weir/net/tlsutil"
	"github.com/weirmq/weir/sdk"
)

// cluster is a set of weir-controller and weir-broker processes.
type cluster struct {
	t        *testing.T
	dir      string
	bin      map[string]string
	certs    string
	procs    map[string]*exec.Cmd
	ctlPorts map[int][3]int // id -> rpc, raft, http
	brkPorts map[int]int    // id -> quic
	// objects, when set, is the local object store every node uses
	// (tiered storage); brokerObjects and walExtra are more lines for the
	// brokers' [object_storage] and [wal] sections.
	objects, brokerObjects, walExtra string

	adminOnce sync.Once
	admin     *http.Client
}

// buildBinaries compiles the two server binaries once per test run.
func buildBinaries(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range []string{"weir-broker", "weir-controller"} {
		path := filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", path, "github.com/weirmq/weir/cmd/"+name)
		cmd.Env = os.Environ()
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", name, err, b)
		}
		out[name] = path
	}
	return out
}

func newCluster(t *testing.T, controllers, brokers int) *cluster {
	dir := t.TempDir()
	c := &cluster{t: t, dir: dir, bin: buildBinaries(t, dir), certs: filepath.Join(dir, "certs"),
		procs: map[string]*exec.Cmd{}, ctlPorts: map[int][3]int{}, brkPorts: map[int]int{}}
	ca, err := tlsutil.GenerateCA(c.certs)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"client-itest"}
	for i := 1; i <= controllers; i++ {
		names = append(names, fmt.Sprintf("controller-%d", i))
		c.ctlPorts[i] = [3]int{testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t)}
	}
	for i := 0; i < brokers; i++ {
		names = append(names, fmt.Sprintf("broker-%d", 101+i))
		c.brkPorts[101+i] = testnet.FreePort(t)
	}
	for _, n := range names {
		if _, err := tlsutil.IssueCert(ca, n, []string{"127.0.0.1", "localhost"}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(c.stopAll)
	return c
}

// objectBlock is the nodes' [object_storage] section: none unless the
// cluster is tiered, else the local store every node shares, with
// c.brokerObjects appended for brokers.
func (c *cluster) objectBlock(broker bool) string {
	if c.objects == "" {
		return ""
	}
	b := fmt.Sprintf("[object_storage]\nstorage_type = \"local\"\npath = %q\n", c.objects)
	if broker {
		b += c.brokerObjects
	}
	return b
}

func (c *cluster) tlsBlock(name string) string {
	p := tlsutil.PathsFor(c.certs, name)
	return fmt.Sprintf("[tls]\nca_file = %q\ncert_file = %q\nkey_file = %q\n", p.CA, p.Cert, p.Key)
}

func (c *cluster) controllerConfig(id int) string {
	ports := c.ctlPorts[id]
	var peers, urls []string
	for pid := 1; pid <= len(c.ctlPorts); pid++ {
		pp := c.ctlPorts[pid]
		peers = append(peers, fmt.Sprintf("%q", fmt.Sprintf("%d@127.0.0.1:%d", pid, pp[1])))
		urls = append(urls, fmt.Sprintf("%q", fmt.Sprintf("%d@https://127.0.0.1:%d", pid, pp[2])))
	}
	return fmt.Sprintf(`[controller]
node_id = %d
rpc_listen = "127.0.0.1:%d"
raft_listen = "127.0.0.1:%d"
http_listen = "127.0.0.1:%d"
data_dir = %q

[raft]
peers = [%s]
heartbeat_interval_ms = 100
election_timeout_ms = 1000

[admin]
peer_urls = [%s]

# The test polls the admin API every 100 ms; limits are tested elsewhere.
[admin.rate_limiting]
enabled = false

[cluster]
session_timeout_ms = 3000
min_in_sync_replicas = 2

[log]
level = "info"
format = "json"

%s
%s`, id, ports[0], ports[1], ports[2], filepath.Join(c.dir, fmt.Sprintf("controller-%d", id)),
		strings.Join(peers, ", "), strings.Join(urls, ", "), c.tlsBlock(fmt.Sprintf("controller-%d", id)), c.objectBlock(false))
}

func (c *cluster) brokerConfig(id int) string {
	var eps []string
	for pid := 1; pid <= len(c.ctlPorts); pid++ {
		eps = append(eps, fmt.Sprintf("%q", fmt.Sprintf("%d@127.0.0.1:%d", pid, c.ctlPorts[pid][0])))
	}
	return fmt.Sprintf(`[broker]
id = %d
rack_id = "rack-%d"

[network]
quic_listen = "127.0.0.1:%d"

[wal]
path = %q
capacity_bytes = 1073741824
segment_size_bytes = 8388608
%s
[controller]
endpoints = [%s]
heartbeat_interval_ms = 200

[replication]
min_in_sync_replicas = 2
ack_timeout_ms = 3000
heartbeat_timeout_ms = 2000

[metrics]
listen = "127.0.0.1:0"

[log]
level = "info"
format = "json"

%s
%s`, id, id%3, c.brkPorts[id], filepath.Join(c.dir, fmt.Sprintf("broker-%d", id), "wal"), c.walExtra,
		strings.Join(eps, ", "), c.tlsBlock(fmt.Sprintf("broker-%d", id)), c.objectBlock(true))
}

// start launches (or relaunches) a node by name: "controller-2", "broker-101".
func (c *cluster) start(name string) {
	c.t.Helper()
	var bin, conf string
	var id int
	if _, err := fmt.Sscanf(name, "controller-%d", &id); err == nil {
		bin, conf = c.bin["weir-controller"], c.controllerConfig(id)
	} else if _, err := fmt.Sscanf(name, "broker-%d", &id); err == nil {
		bin, conf = c.bin["weir-broker"], c.brokerConfig(id)
	} else {
		c.t.Fatalf("bad node name %q", name)
	}
	path := filepath.Join(c.dir, name+".toml")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		c.t.Fatal(err)
	}
	logf, err := os.OpenFile(filepath.Join(c.dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", path)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); logf.Close() }()
	c.procs[name] = cmd
}

// kill sends SIGKILL: no graceful anything.
func (c *cluster) kill(name string) {
	c.t.Helper()
	p := c.procs[name]
	if p == nil || p.Process == nil {
		c.t.Fatalf("%s is not running", name)
	}
	_ = p.Process.Signal(syscall.SIGKILL)
	time.Sleep(100 * time.Millisecond)
	delete(c.procs, name)
	c.t.Logf("killed %s with SIGKILL", name)
}

func (c *cluster) stopAll() {
	for name, p := range c.procs {
		if p.Process != nil {
			_ = p.Process.Signal(syscall.SIGTERM)
		}
		delete(c.procs, name)
	}
	time.Sleep(300 * time.Millisecond)
	if c.t.Failed() {
		entries, _ := filepath.Glob(filepath.Join(c.dir, "*.log"))
		for _, e := range entries {
			b, _ := os.ReadFile(e)
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) > 15 {
				lines = lines[len(lines)-15:]
			}
			c.t.Logf("--- %s (tail)\n%s", filepath.Base(e), strings.Join(lines, "\n"))
		}
	}
}

// adminClient talks to the controllers' admin API as production runs it
// ([admin] tls, the default): HTTPS, presenting the client-itest
// certificate (no ACL rules: allowed). Writes sent to a follower are
// forwarded to the leader over HTTPS with the follower's certificate.
func (c *cluster) adminClient() *http.Client {
	c.adminOnce.Do(func() {
		tc, err := sdk.TLSFromDir(c.certs, "client-itest")
		if err != nil {
			c.t.Fatalf("admin client certificate: %v", err)
		}
		tc = tc.Clone()
		tc.NextProtos = nil
		c.admin = &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	})
	return c.admin
}

// api calls any controller's admin API, trying each until one answers
// successfully.
func (c *cluster) api(method, path string, body string) (json.RawMessage, error) {
	var last error
	for id := 1; id <= len(c.ctlPorts); id++ {
		u := fmt.Sprintf("https://127.0.0.1:%d%s", c.ctlPorts[id][2], path)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, method, u, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.adminClient().Do(req)
		if err != nil {
			cancel()
			last = err
			continue
		}
		var env struct {
			Success bool            `json:"success"`
			Data    json.RawMessage `json:"data"`
			Error   *string         `json:"error"`
		}
		err = json.NewDecoder(resp.Body).Decode(&env)
		resp.Body.Close()
		cancel()
		switch {
		case err != nil:
			last = err
		case env.Success:
			return env.Data, nil
		case env.Error != nil && resp.StatusCode >= 400 && resp.StatusCode < 500:
			// A definite answer (conflict, bad request, not found): asking
			// the other controllers would only bury it under theirs.
			return nil, &apiError{status: resp.StatusCode, msg: fmt.Sprintf("%s: %s", resp.Status, *env.Error)}
		case env.Error != nil:
			last = fmt.Errorf("%s: %s", resp.Status, *env.Error)
		default:
			last = fmt.Errorf("%s", resp.Status)
		}
	}
	return nil, last
}

// apiError is a definite 4xx answer of the admin API.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

// waitFor polls cond until it holds or the deadline passes.
func (c *cluster) waitFor(what string, d time.Duration, cond func() error) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("%s: not within %v: %v", what, d, err)
}

type partitionInfo struct {
	Partition   int      `json:"partition"`
	Leader      *string  `json:"leader"`
	Replicas    []string `json:"replicas"`
	ISR         []string `json:"in_sync_replicas"`
	LeaderEpoch int64    `json:"leader_epoch"`
	Uploaded    struct {
		Start    int64 `json:"start_offset"`
		End      int64 `json:"end_offset"`
		Bytes    int64 `json:"bytes"`
		Segments int32 `json:"segments"`
	} `json:"uploaded"`
}

func (c *cluster) describe(topic string) ([]partitionInfo, error) {
	data, err := c.api(http.MethodGet, "/api/v1/topics/"+topic, "")
	if err != nil {
		return nil, err
	}
	var t struct {
		Assignments []partitionInfo `json:"partition_assignments"`
	}
	return t.Assignments, json.Unmarshal(data, &t)
}

// controllerLeader asks each controller's /api/v1/topics for its
// leader_hint, returning the leader's node name.
func (c *cluster) controllerLeader() (string, error) {
	for id := 1; id <= len(c.ctlPorts); id++ {
		if c.procs[fmt.Sprintf("controller-%d", id)] == nil {
			continue
		}
		resp, err := c.adminClient().Get(fmt.Sprintf("https://127.0.0.1:%d/api/v1/topics", c.ctlPorts[id][2]))
		if err != nil {
			continue
		}
		var env struct {
			LeaderHint *string `json:"leader_hint"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&env)
		resp.Body.Close()
		if env.LeaderHint != nil && *env.LeaderHint != "" {
			return *env.LeaderHint, nil
		}
	}
	return "", fmt.Errorf("no controller names a leader")
}

// startCluster runs 3 controllers and 3 brokers and creates topic with
// replication factor 3 and min ISR 2, waiting for its full ISR.
func startCluster(t *testing.T, topic string, partitions int) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts processes; skipped with -short")
	}
	c := newCluster(t, 3, 3)
	for id := 1; id <= 3; id++ {
		c.start(fmt.Sprintf("controller-%d", id))
	}
	for id := 101; id <= 103; id++ {
		c.start(fmt.Sprintf("broker-%d", id))
	}
	c.waitFor("topic created", 30*time.Second, func() error {
		_, err := c.api(http.MethodPost, "/api/v1/topics", fmt.Sprintf(`{"name":%q,"partitions":%d,"replication_factor":3,"config":{"min_in_sync_replicas":2}}`, topic, partitions))
		if err != nil && !isExists(err) {
			return err
		}
		return nil
	})
	c.waitFor("full ISR", 30*time.Second, func() error { return fullISR(c, topic) })
	return c
}
