// Package dev runs a whole Weir cluster in one process for local
// development (`weir dev`): one controller and N brokers with real QUIC
// sockets, real disks under one data directory, and a development CA whose
// certificates are generated on first start and reused after.
package dev

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/cmd/internal/config"
	"github.com/weirmq/weir/cmd/internal/server"
	"github.com/weirmq/weir/net/tlsutil"
)

// Options shape the dev cluster.
type Options struct {
	// Dir holds everything: certs/, controller-1/, broker-<id>/.
	Dir     string
	Brokers int
	// Host is the address every listener binds (loopback by default).
	Host string
	// Ports: controller rpc, raft, admin HTTP; broker i listens on
	// BrokerPort + 100*i.
	ControllerPort, RaftPort, HTTPPort, BrokerPort int
	// NoRateLimit turns the admin API's rate limiting off (tests that make
	// many requests); by default it runs with the reference's limits.
	NoRateLimit bool
	// MetricsPort is broker 0's GET /metrics port (broker i: +i); zero
	// picks free ports.
	MetricsPort int
}

// DefaultOptions is one broker on loopback in ./weir-data.
func DefaultOptions() Options {
	return Options{Dir: "weir-data", Brokers: 1, Host: "127.0.0.1", ControllerPort: 9094, RaftPort: 9095, HTTPPort: 9642, BrokerPort: 9092, MetricsPort: 9643}
}

// ClientCertName is the certificate the CLI uses by default.
const ClientCertName = "client-cli"

// CertDir is where dev certificates live under dir.
func CertDir(dir string) string { return filepath.Join(dir, "certs") }

// Cluster is a running dev cluster.
type Cluster struct {
	Controller *server.Controller
	Brokers    []*server.Broker
	Opts       Options
}

// EnsureCerts creates the dev CA on first use (reusing it after) and issues
// any missing node and client certificates.
func EnsureCerts(o Options) (*tlsutil.CA, error) {
	dir := CertDir(o.Dir)
	ca, err := tlsutil.LoadCA(dir)
	if errors.Is(err, fs.ErrNotExist) {
		ca, err = tlsutil.GenerateCA(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("dev: certificates in %s: %w", dir, err)
	}
	names := []string{"controller-1", ClientCertName}
	for i := range o.Brokers {
		names = append(names, "broker-"+strconv.Itoa(101+i))
	}
	for _, name := range names {
		p := tlsutil.PathsFor(dir, name)
		if _, err := os.Stat(p.Cert); err == nil {
			continue
		}
		if _, err := tlsutil.IssueCert(ca, name, []string{o.Host, "localhost", "127.0.0.1"}); err != nil {
			return nil, err
		}
	}
	return ca, nil
}

func tlsFor(o Options, name string) config.TLS {
	p := tlsutil.PathsFor(CertDir(o.Dir), name)
	return config.TLS{CAFile: p.CA, CertFile: p.Cert, KeyFile: p.Key}
}

func addr(host string, port int) string { return host + ":" + strconv.Itoa(port) }

// ControllerConfig is the dev controller's configuration.
func ControllerConfig(o Options) config.Controller {
	c := config.DefaultController()
	c.Controller.NodeID = 1
	c.Controller.RPCListen = addr(o.Host, o.ControllerPort)
	c.Controller.RaftListen = addr(o.Host, o.RaftPort)
	c.Controller.HTTPListen = addr(o.Host, o.HTTPPort)
	c.Controller.DataDir = filepath.Join(o.Dir, "controller-1")
	c.Raft.Peers = []string{"1@" + c.Controller.RaftListen}
	// One node: elect fast, fence brokers after a few seconds.
	c.Raft.HeartbeatIntervalMs = 100
	c.Raft.ElectionTimeoutMs = 1000
	c.Cluster.SessionTimeoutMs = 6000
	c.Admin.HealthCheckIntervalMs = 2000
	c.Admin.HealthTimeoutMs = 6000
	c.Cluster.MinInSyncReplicas = 1
	c.TLS = tlsFor(o, "controller-1")
	c.Admin.RateLimiting.Enabled = !o.NoRateLimit
	return c
}

// BrokerConfig is dev broker i's configuration (ID 101+i).
func BrokerConfig(o Options, i int) config.Broker {
	b := config.DefaultBroker()
	id := 101 + i
	b.Broker.ID = uint64(id)
	b.Broker.RackID = "dev-" + strconv.Itoa(i%3)
	b.Network.QUICListen = addr(o.Host, o.BrokerPort+100*i)
	b.Metrics.Listen = addr(o.Host, 0) // any free port unless MetricsPort is set
	if o.MetricsPort > 0 {
		b.Metrics.Listen = addr(o.Host, o.MetricsPort+i)
	}
	b.WAL.Path = filepath.Join(o.Dir, "broker-"+strconv.Itoa(id), "wal")
	b.WAL.CapacityBytes = 1 << 30
	b.WAL.SegmentSizeBytes = 64 << 20
	b.Controller.Endpoints = []string{"1@" + addr(o.Host, o.ControllerPort)}
	b.Controller.HeartbeatIntervalMs = 500
	b.Broker.HealthCheckIntervalMs = 2000
	b.Replication.MinInSyncReplicas = 1
	b.Replication.HeartbeatTimeoutMs = 5000
	b.Replication.AckTimeoutMs = 5000
	b.TLS = tlsFor(o, "broker-"+strconv.Itoa(id))
	return b
}

// Start brings the cluster up.
func Start(o Options, log zerolog.Logger) (*Cluster, error) {
	if o.Brokers < 1 || o.Brokers > 9 {
		return nil, fmt.Errorf("dev: --brokers must be 1..9 (got %d)", o.Brokers)
	}
	if _, err := EnsureCerts(o); err != nil {
		return nil, err
	}
	c := &Cluster{Opts: o}
	ctl, err := server.StartController(ControllerConfig(o), log)
	if err != nil {
		return nil, err
	}
	c.Controller = ctl
	for i := range o.Brokers {
		b, err := server.StartBroker(BrokerConfig(o, i), log)
		if err != nil {
			_ = c.Shutdown()
			return nil, err
		}
		c.Brokers = append(c.Brokers, b)
	}
	// Ready means usable: a controller leader and every broker registered.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Controller.WaitReady(ctx, o.Brokers); err != nil {
		_ = c.Shutdown()
		return nil, err
	}
	return c, nil
}

// BrokerAddrs lists the brokers' QUIC addresses.
func (c *Cluster) BrokerAddrs() []string {
	var out []string
	for _, b := range c.Brokers {
		out = append(out, b.Addr)
	}
	return out
}

// MetricsAddrs lists the brokers' GET /metrics addresses.
func (c *Cluster) MetricsAddrs() []string {
	var out []string
	for _, b := range c.Brokers {
		out = append(out, b.MetricsAddr)
	}
	return out
}

// Shutdown stops brokers, then the controller.
func (c *Cluster) Shutdown() error {
	var errs []error
	for _, b := range c.Brokers {
		errs = append(errs, b.Shutdown())
	}
	if c.Controller != nil {
		errs = append(errs, c.Controller.Shutdown())
	}
	return errors.Join(errs...)
}
