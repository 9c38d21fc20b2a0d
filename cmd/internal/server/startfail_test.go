package server_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/cmd/internal/config"
	"github.com/weirmq/weir/cmd/internal/server"
	"github.com/weirmq/weir/cmd/internal/testnet"
	"github.com/weirmq/weir/io/raftstore"
	"github.com/weirmq/weir/io/wal"
	"github.com/weirmq/weir/net/tlsutil"
)

// Tests that a start failing part way closes everything it had opened:
// StartBroker and StartController undo through one cleanup stack, and each
// case below fails at a later stage. Afterwards the WAL or raft store can
// be opened again (its directory lock was released), every port it bound
// can be bound again, and the goroutines it started have ended.

// startFailRig holds certificates and fresh loopback ports for one case.
type startFailRig struct {
	t   *testing.T
	dir string
	ca  *tlsutil.CA
}

func newStartFailRig(t *testing.T) *startFailRig {
	t.Helper()
	dir := t.TempDir()
	ca, err := tlsutil.GenerateCA(filepath.Join(dir, "certs"))
	if err != nil {
		t.Fatal(err)
	}
	return &startFailRig{t: t, dir: dir, ca: ca}
}

func (r *startFailRig) tls(name string) config.TLS {
	p, err := tlsutil.IssueCert(r.ca, name, []string{"127.0.0.1", "localhost"})
	if err != nil {
		r.t.Fatal(err)
	}
	return config.TLS{CAFile: p.CA, CertFile: p.Cert, KeyFile: p.Key}
}

func (r *startFailRig) addr() string { return fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(r.t)) }

// hold binds addr (UDP for QUIC, TCP for HTTP) until the test ends, so that
// a start needing it fails there.
func hold(t *testing.T, network, addr string) {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
}

// freeAgain fails unless addr can be bound again on network.
func freeAgain(t *testing.T, network, addr string) {
	t.Helper()
	var err error
	if network == "udp" {
		var pc net.PacketConn
		if pc, err = net.ListenPacket("udp", addr); err == nil {
			pc.Close()
		}
	} else {
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			ln.Close()
		}
	}
	if err != nil {
		t.Errorf("%s %s still bound after the failed start: %v", network, addr, err)
	}
}

// goroutinesBack waits until no more goroutines run than before the start.
func goroutinesBack(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for goruntime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after the failed start, %d before:\n%s", goruntime.NumGoroutine(), before, buf[:goruntime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *startFailRig) broker() config.Broker {
	b := config.DefaultBroker()
	b.Network.QUICListen = r.addr()
	b.Metrics.Listen = r.addr()
	b.WAL.Path = filepath.Join(r.dir, "broker-101", "wal")
	b.WAL.CapacityBytes, b.WAL.SegmentSizeBytes = 64<<20, 4<<20
	b.Controller.Endpoints = []string{"1@" + r.addr()}
	b.TLS = r.tls("broker-101")
	return b
}

func TestStartBrokerFailureClosesWhatItOpened(t *testing.T) {
	if testing.Short() {
		t.Skip("starts brokers; skipped with -short")
	}
	for _, tc := range []struct {
		stage string
		setup func(t *testing.T, cfg *config.Broker) // makes the start fail at stage
		want  string                                 // in the error
	}{
		{"wal", func(t *testing.T, cfg *config.Broker) {
			// An unwritable data directory: a regular file where the WAL's parent should be.
			parent := filepath.Dir(cfg.WAL.Path)
			if err := os.WriteFile(parent, []byte("not a directory"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "not a directory"},
		{"incarnation", func(t *testing.T, cfg *config.Broker) {
			if err := os.MkdirAll(cfg.WAL.Path, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(cfg.WAL.Path, "INCARNATION"), []byte("garbage\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "want a number"},
		{"object store", func(t *testing.T, cfg *config.Broker) {
			// A regular file where the store's directory should be.
			cfg.ObjectStorage.StorageType, cfg.ObjectStorage.Path = "local", filepath.Join(filepath.Dir(cfg.WAL.Path), "objects")
			if err := os.MkdirAll(filepath.Dir(cfg.WAL.Path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(cfg.ObjectStorage.Path, []byte("not a directory"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "object_storage.path"},
		{"transport", func(t *testing.T, cfg *config.Broker) { hold(t, "udp", cfg.Network.QUICListen) }, "address already in use"},
		{"metrics", func(t *testing.T, cfg *config.Broker) { hold(t, "tcp", cfg.Metrics.Listen) }, "metrics.listen"},
	} {
		t.Run(tc.stage, func(t *testing.T) {
			r := newStartFailRig(t)
			cfg := r.broker()
			tc.setup(t, &cfg)
			before := goruntime.NumGoroutine()
			b, err := server.StartBroker(cfg, zerolog.Nop())
			if err == nil {
				_ = b.Shutdown()
				t.Fatalf("StartBroker succeeded, want a failure at %s", tc.stage)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("StartBroker: %v, want an error with %q", err, tc.want)
			}
			t.Logf("failed as intended: %v", err)
			goroutinesBack(t, before)
			if tc.stage != "wal" {
				w, _, err := wal.Open(wal.DefaultConfig(cfg.WAL.Path))
				if err != nil {
					t.Fatalf("the WAL cannot be opened again: %v", err)
				}
				_ = w.Close()
			}
			if tc.stage == "metrics" {
				freeAgain(t, "udp", cfg.Network.QUICListen)
			}
		})
	}
}

func (r *startFailRig) controller() config.Controller {
	c := config.DefaultController()
	c.Controller.RPCListen, c.Controller.RaftListen, c.Controller.HTTPListen = r.addr(), r.addr(), r.addr()
	c.Controller.DataDir = filepath.Join(r.dir, "controller-1")
	c.Raft.Peers = []string{"1@" + c.Controller.RaftListen}
	c.Raft.HeartbeatIntervalMs, c.Raft.ElectionTimeoutMs = 100, 1000
	c.TLS = r.tls("controller-1")
	return c
}

func TestStartControllerFailureClosesWhatItOpened(t *testing.T) {
	if testing.Short() {
		t.Skip("starts controllers; skipped with -short")
	}
	for _, tc := range []struct {
		stage string
		setup func(t *testing.T, cfg *config.Controller)
		want  string
		free  func(cfg *config.Controller) [][2]string // network, address: bound before the failure
	}{
		{"store", func(t *testing.T, cfg *config.Controller) {
			if err := os.WriteFile(cfg.Controller.DataDir, []byte("not a directory"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "not a directory", nil},
		{"object store", func(t *testing.T, cfg *config.Controller) {
			cfg.ObjectStorage.StorageType, cfg.ObjectStorage.Path = "local", filepath.Join(filepath.Dir(cfg.Controller.DataDir), "objects")
			if err := os.WriteFile(cfg.ObjectStorage.Path, []byte("not a directory"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "object_storage.path", nil},
		{"raft transport", func(t *testing.T, cfg *config.Controller) { hold(t, "udp", cfg.Controller.RaftListen) },
			"address already in use", nil},
		{"rpc transport", func(t *testing.T, cfg *config.Controller) { hold(t, "udp", cfg.Controller.RPCListen) },
			"address already in use", func(cfg *config.Controller) [][2]string {
				return [][2]string{{"udp", cfg.Controller.RaftListen}}
			}},
		{"admin http", func(t *testing.T, cfg *config.Controller) { hold(t, "tcp", cfg.Controller.HTTPListen) },
			"http_listen", func(cfg *config.Controller) [][2]string {
				return [][2]string{{"udp", cfg.Controller.RaftListen}, {"udp", cfg.Controller.RPCListen}}
			}},
	} {
		t.Run(tc.stage, func(t *testing.T) {
			r := newStartFailRig(t)
			cfg := r.controller()
			tc.setup(t, &cfg)
			before := goruntime.NumGoroutine()
			c, err := server.StartController(cfg, zerolog.Nop())
			if err == nil {
				_ = c.Shutdown()
				t.Fatalf("StartController succeeded, want a failure at %s", tc.stage)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("StartController: %v, want an error with %q", err, tc.want)
			}
			t.Logf("failed as intended: %v", err)
			goroutinesBack(t, before)
			if tc.stage != "store" {
				s, err := raftstore.Open(cfg.Controller.DataDir, raftstore.Options{})
				if err != nil {
					t.Fatalf("the raft store cannot be opened again: %v", err)
				}
				_ = s.Close()
			}
			if tc.free != nil {
				for _, a := range tc.free(&cfg) {
					freeAgain(t, a[0], a[1])
				}
			}
		})
	}
}

// A started controller and broker release the same things on Shutdown,
// through the same stack.
func TestShutdownClosesWhatStartOpened(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a controller and a broker; skipped with -short")
	}
	r := newStartFailRig(t)
	ccfg := r.controller()
	// Both on a local object store: its executors stop too.
	objects := filepath.Join(r.dir, "objects")
	ccfg.ObjectStorage.StorageType, ccfg.ObjectStorage.Path = "local", objects
	before := goruntime.NumGoroutine()
	c, err := server.StartController(ccfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	bcfg := r.broker()
	bcfg.Controller.Endpoints = []string{"1@" + c.RPCAddr}
	bcfg.ObjectStorage.StorageType, bcfg.ObjectStorage.Path = "local", objects
	b, err := server.StartBroker(bcfg, zerolog.Nop())
	if err != nil {
		_ = c.Shutdown()
		t.Fatal(err)
	}
	if b.Objects == nil || c.Objects == nil {
		t.Errorf("a broker and a controller with [object_storage] run no object-store executor")
	}
	if err := b.Shutdown(); err != nil {
		t.Errorf("broker shutdown: %v", err)
	}
	if err := c.Shutdown(); err != nil {
		t.Errorf("controller shutdown: %v", err)
	}
	if err := b.Wait(); err != nil {
		t.Errorf("broker Wait after Shutdown: %v", err)
	}
	goroutinesBack(t, before)
	w, _, err := wal.Open(wal.DefaultConfig(bcfg.WAL.Path))
	if err != nil {
		t.Fatalf("the WAL cannot be opened again: %v", err)
	}
	_ = w.Close()
	s, err := raftstore.Open(ccfg.Controller.DataDir, raftstore.Options{})
	if err != nil {
		t.Fatalf("the raft store cannot be opened again: %v", err)
	}
	_ = s.Close()
	for _, a := range [][2]string{{"udp", ccfg.Controller.RaftListen}, {"udp", ccfg.Controller.RPCListen},
		{"tcp", ccfg.Controller.HTTPListen}, {"udp", bcfg.Network.QUICListen}, {"tcp", bcfg.Metrics.Listen}} {
		freeAgain(t, a[0], a[1])
	}
}
