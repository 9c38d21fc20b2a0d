package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.toml")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBrokerLoadAndOverride(t *testing.T) {
	path := write(t, `
[broker]
id = 102
rack_id = "us-central1-a"

[wal]
path = "/tmp/w"
fsync_on_write = false

[controller]
endpoints = ["1@127.0.0.1:9094", "2@127.0.0.1:9194"]

[replication]
min_in_sync_replicas = 1

[tls]
ca_file = "ca.pem"
cert_file = "b.pem"
key_file = "b-key.pem"
`)
	b := DefaultBroker()
	env := []string{"WEIR_WAL_CAPACITY_BYTES=4096000", "WEIR_NETWORK_QUIC_CONFIG_MAX_IDLE_TIMEOUT_MS=1234", "WEIR_CONTROLLER_ENDPOINTS=127.0.0.1:1,127.0.0.1:2", "PATH=/bin"}
	if err := Load(path, &b, env); err != nil {
		t.Fatal(err)
	}
	if b.Broker.ID != 102 || b.Broker.RackID != "us-central1-a" || b.WAL.Path != "/tmp/w" || b.WAL.FsyncOnWrite {
		t.Fatalf("file values not applied: %+v", b)
	}
	if b.WAL.CapacityBytes != 4096000 || b.Network.QUIC.MaxIdleTimeoutMs != 1234 || len(b.Controller.Endpoints) != 2 || b.Controller.Endpoints[1] != "127.0.0.1:2" {
		t.Fatalf("env overrides not applied: %+v", b)
	}
	if b.WAL.SegmentSizeBytes != 1<<30 {
		t.Fatalf("default lost: segment %d", b.WAL.SegmentSizeBytes)
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	eps, _ := ParseEndpoints(b.Controller.Endpoints)
	if eps[0].ID != 1 || eps[1].ID != 2 || eps[1].Addr != "127.0.0.1:2" {
		t.Fatalf("endpoints %+v", eps)
	}
}

func TestUnknownKeyNamed(t *testing.T) {
	path := write(t, "[wal]\npath = \"x\"\nfsync_on_wirte = true\n")
	b := DefaultBroker()
	err := Load(path, &b, nil)
	if err == nil || !strings.Contains(err.Error(), "wal.fsync_on_wirte") {
		t.Fatalf("Load = %v, want the unknown key named", err)
	}
}

func TestBadValueNamed(t *testing.T) {
	path := write(t, "[wal]\ncapacity_bytes = \"lots\"\n")
	b := DefaultBroker()
	if err := Load(path, &b, nil); err == nil || !strings.Contains(err.Error(), "capacity_bytes") {
		t.Fatalf("Load = %v, want the key named", err)
	}
	b = DefaultBroker()
	if err := Load("", &b, []string{"WEIR_REPLICATION_ACK_TIMEOUT_MS=soon"}); err == nil || !strings.Contains(err.Error(), "replication.ack_timeout_ms") {
		t.Fatalf("Load = %v, want the key named", err)
	}
}

func TestValidateNamesKeys(t *testing.T) {
	b := DefaultBroker()
	b.Broker.ID = 7
	b.WAL.Backend = "fast"
	b.Controller.Endpoints = []string{"x@y"}
	err := b.Validate()
	for _, key := range []string{"broker.id", "wal.backend", "controller.endpoints", "tls.ca_file"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate = %v, want %s named", err, key)
		}
	}
	c := DefaultController()
	c.Raft.Peers = []string{"2@127.0.0.1:1"}
	c.Raft.ElectionTimeoutMs = 10
	c.Controller.SnapshotEntries = 0
	err = c.Validate()
	for _, key := range []string{"raft.peers", "raft.election_timeout_ms", "controller.snapshot_entries: must be in 10..100000000 (got 0)"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate = %v, want %s named", err, key)
		}
	}
}

// The reference spells the rate-limit overrides without their section; both
// spellings work, and endpoint tables come from TOML.
func TestRateLimitingConfig(t *testing.T) {
	path := write(t, `
[admin.rate_limiting]
enabled = true
per_ip_refill_rate = 20

[admin.rate_limiting.endpoints]
"/api/v1/cluster" = { burst_size = 50, refill_rate = 100 }
"POST:/api/v1/topics" = { burst_size = 5, refill_rate = 10 }
`)
	c := DefaultController()
	env := []string{"WEIR_ADMIN_GLOBAL_BURST_SIZE=7", "WEIR_ADMIN_RATE_LIMITING_CLEANUP_INTERVAL_SECONDS=60", "WEIR_ADMIN_RATE_LIMITING_ENABLED=false"}
	if err := Load(path, &c, env); err != nil {
		t.Fatal(err)
	}
	rl := c.Admin.RateLimiting
	if rl.GlobalBurstSize != 7 || rl.CleanupIntervalSeconds != 60 || rl.Enabled || rl.PerIPRefillRate != 20 {
		t.Fatalf("overrides: %+v", rl)
	}
	if e := rl.Endpoints["POST:/api/v1/topics"]; e.BurstSize != 5 || e.RefillRate != 10 || len(rl.Endpoints) != 2 {
		t.Fatalf("endpoints: %+v", rl.Endpoints)
	}
	c.Admin.RateLimiting.Endpoints["/bad"] = EndpointLimit{}
	c.TLS = TLS{CAFile: "a", CertFile: "b", KeyFile: "c"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `admin.rate_limiting.endpoints."/bad" matches no route`) {
		t.Fatalf("Validate = %v", err)
	}
}

// A WEIR_ variable that names no key is refused, as an unknown TOML key is,
// naming the variable; the CLI's and the harnesses' variables pass.
func TestUnknownEnvironmentVariableRefused(t *testing.T) {
	b := DefaultBroker()
	err := Load("", &b, []string{"WEIR_WAL_PATHS=/x", "WEIR_BOOTSTRAP=127.0.0.1:9092", "WEIR_SIM_SEEDS=3", "WEIRD=1"})
	if err == nil || !strings.Contains(err.Error(), "WEIR_WAL_PATHS") || strings.Contains(err.Error(), "WEIR_BOOTSTRAP") {
		t.Fatalf("Load = %v, want WEIR_WAL_PATHS (only) refused", err)
	}
	c := DefaultController()
	if err := Load("", &c, []string{"WEIR_WAL_PATH=/x"}); err == nil || !strings.Contains(err.Error(), "WEIR_WAL_PATH") || !strings.Contains(err.Error(), "controller") {
		t.Fatalf("Load = %v, want a broker key refused by a controller", err)
	}
	c = DefaultController()
	if err := Load("", &c, []string{"WEIR_ADMIN_GLOBAL_BURST_SIZE=7", "WEIR_CONTROLLER_NODE_ID=2", "WEIR_API_URL=http://x"}); err != nil {
		t.Fatalf("Load = %v, want keys and their reference spellings accepted", err)
	}
}

// Decode errors speak TOML: the key, what it wants, what the file has, and
// never a Go type such as config.WAL.CapacityBytes or int64.
func TestDecodeErrorsNameTOMLTypes(t *testing.T) {
	tests := []struct{ doc, want string }{
		{"[wal]\ncapacity_bytes = \"lots\"\n", `x.toml:2:18: key wal.capacity_bytes: want an integer, got string "lots"`},
		{"[wal]\npath = 5 # five\n", `key wal.path: want a string, got integer 5`},
		{"[wal]\nfsync_on_write = \"yes\"\n", `key wal.fsync_on_write: want true or false, got string "yes"`},
		{"[controller]\nendpoints = \"x\"\n", `key controller.endpoints: want an array of strings, got string "x"`},
		{"[broker]\nid = -1\n", `key broker.id: want a non-negative integer, got -1`},
		{"[network.quic_config]\nmax_idle_timeout_ms = 1.5\n", `key network.quic_config.max_idle_timeout_ms: want an integer, got float 1.5`},
		{"wal = 3\n", `key wal: want a table, got integer 3`},
		{"[wal\n", `x.toml:1:5: expected ']' to close table name`},
	}
	for _, tt := range tests {
		b := DefaultBroker()
		err := Load(write(t, tt.doc), &b, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: Load = %v, want %q", tt.doc, err, tt.want)
			continue
		}
		for _, goType := range []string{"config.W", "config.B", "config.N", "config.C", "int64", "uint64", "struct", "[]string"} {
			if strings.Contains(err.Error(), goType) {
				t.Errorf("%q: Load = %v, names the Go type %s", tt.doc, err, goType)
			}
		}
	}
}

// Keys of the reference that Weir does not implement are refused, saying
// so, rather than accepted and ignored.
func TestUnimplementedReferenceKeysRefused(t *testing.T) {
	for _, doc := range []string{"[network]\nrpc_listen = \"0.0.0.0:9093\"\n", "[object_storage]\naccess_key = \"k\"\n", "[network.quic_config]\nmax_concurrent_uni_streams = 1000\n"} {
		b := DefaultBroker()
		if err := Load(write(t, doc), &b, nil); err == nil || !strings.Contains(err.Error(), "does not implement") {
			t.Errorf("%q: Load = %v, want it refused as not implemented", doc, err)
		}
	}
	c := DefaultController()
	if err := Load(write(t, "[network]\nquic_listen = \"0.0.0.0:9092\"\n"), &c, nil); err == nil || !strings.Contains(err.Error(), "network.quic_listen") {
		t.Fatalf("Load = %v, want a controller's network.quic_listen refused", err)
	}
}
