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
	err = c.Validate()
	for _, key := range []string{"raft.peers", "raft.election_timeout_ms"} {
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
"/health" = { burst_size = 50, refill_rate = 100 }
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
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "admin.rate_limiting.endpoints./bad") {
		t.Fatalf("Validate = %v", err)
	}
}
