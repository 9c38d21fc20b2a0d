// Package dev runs a whole Weir cluster in one process for local
// development (`weir dev`): one controller and N brokers with real QUIC
// sockets, real disks under one data directory, and a development CA whose
// certificates are generated on first start and reused after.
package dev

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
	// many requests). By default it runs with limits a person at a
	// terminal never reaches (config.InteractiveRateLimiting);
	// ReferenceRateLimits uses the reference's production defaults instead.
	NoRateLimit, ReferenceRateLimits bool
	// MetricsPort is broker 0's GET /metrics port (broker i: +i); zero
	// picks free ports.
	MetricsPort int
	// RestartAttempts bounds the restarts of a node that stopped on its
	// own (default 5); RestartBackoff is the wait before the first, doubled
	// for each next (default 1 s). A node that cannot be restarted fails
	// the cluster (Cluster.Failed).
	RestartAttempts int
	RestartBackoff  time.Duration
	// Objects is the directory of the local object store every broker
	// uploads to and the controller collects garbage in (empty:
	// <Dir>/objects); NoObjects runs without one (logs stay whole on the
	// brokers' disks).
	Objects   string
	NoObjects bool
	// LocalRetentionMs and LocalRetentionBytes are the brokers' local
	// window for topics that set none (0: the defaults, one hour and no
	// size bound; -1: keep until retention); UploadIntervalMs bounds how
	// long data waits to be uploaded (0: the default, 10 minutes).
	LocalRetentionMs, LocalRetentionBytes, UploadIntervalMs int64
	// Security, when set, is every node's [security] section (nil: the
	// defaults: a cluster without ACL rules is open).
	Security *config.Security
	// AdminToken makes the admin API take the bearer token in
	// AdminTokenFile (created, mode 0600, on first start); AdminTLS serves
	// it over HTTPS, authenticating client certificates of the dev CA.
	// With neither the API is open (allow_unauthenticated), as tests that
	// build Options by hand want; DefaultOptions (weir dev) sets the token.
	AdminToken, AdminTLS bool

	// startBroker and startController are server.StartBroker and
	// server.StartController; tests replace them to fail restarts.
	startBroker     func(config.Broker, zerolog.Logger) (*server.Broker, error)
	startController func(config.Controller, zerolog.Logger) (*server.Controller, error)
}

// DefaultOptions is one broker on loopback in ./weir-data.
func DefaultOptions() Options {
	return Options{Dir: "weir-data", Brokers: 1, Host: "127.0.0.1", ControllerPort: 9094, RaftPort: 9095, HTTPPort: 9642, BrokerPort: 9092, MetricsPort: 9643, AdminToken: true}
}

// ObjectsDir is the dev cluster's local object store.
func (o Options) ObjectsDir() string {
	if o.Objects != "" {
		return o.Objects
	}
	return filepath.Join(o.Dir, "objects")
}

// ClientCertName is the certificate the CLI uses by default.
const ClientCertName = "client-cli"

// CertDir is where dev certificates live under dir.
func CertDir(dir string) string { return filepath.Join(dir, "certs") }

// Cluster is a running dev cluster. Every node is supervised: a node that
// stops without being asked is reported (an error in the log), restarted
// with backoff, and if it cannot be restarted the cluster fails (Failed).
type Cluster struct {
	// Controller and Brokers are the running nodes; a restart replaces its
	// node's entry (under the cluster's lock: read them with Node and
	// BrokerNode while restarts may happen).
	Controller *server.Controller
	Brokers    []*server.Broker
	Opts       Options

	log    zerolog.Logger
	failed chan error    // the first node that could not be restarted
	stop   chan struct{} // closed by Shutdown: supervisors stop restarting
	wg     sync.WaitGroup

	mu       sync.Mutex
	stopping bool
	events   []Event
	notify   chan struct{} // closed and replaced at every event
}

// Event is something a supervisor saw: a node stopping, restarting, or
// failing for good.
type Event struct {
	Node string // controller-1, broker-101, …
	Kind EventKind
	Err  error
}

// EventKind says what happened to a node.
type EventKind string

// What a supervisor reports.
const (
	NodeStopped       EventKind = "stopped"
	NodeRestarted     EventKind = "restarted"
	NodeRestartFailed EventKind = "restart failed"
	NodeGaveUp        EventKind = "gave up"
)

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
	if !o.ReferenceRateLimits {
		c.Admin.RateLimiting = config.InteractiveRateLimiting()
	}
	c.Admin.RateLimiting.Enabled = !o.NoRateLimit
	if !o.NoObjects {
		c.ObjectStorage.StorageType, c.ObjectStorage.Path = config.StorageLocal, o.ObjectsDir()
	}
	if o.Security != nil {
		c.Security = *o.Security
	}
	if o.AdminToken {
		c.Admin.AuthTokenFile = o.AdminTokenFile()
	}
	c.Admin.TLS = o.AdminTLS
	c.Admin.CADir = CertDir(o.Dir) // the dev CA signs the CRL GET /api/v1/certs/crl serves
	c.Admin.AllowUnauthenticated = !o.AdminToken && !o.AdminTLS
	return c
}

// AdminTokenFile is where the admin API's bearer token lives (the CLI
// reads it there too: <data>/admin-token).
func (o Options) AdminTokenFile() string { return filepath.Join(o.Dir, "admin-token") }

// ensureAdminToken writes a fresh random token to o.AdminTokenFile unless
// one is there.
func ensureAdminToken(o Options) error {
	path := o.AdminTokenFile()
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(hex.EncodeToString(b[:])+"\n"), 0o600)
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
	b.WAL.RetentionCheckIntervalMs = 5000
	b.Cache.WriteCacheSizeBytes = 64 << 20
	b.Controller.Endpoints = []string{"1@" + addr(o.Host, o.ControllerPort)}
	b.Controller.HeartbeatIntervalMs = 500
	b.Broker.HealthCheckIntervalMs = 2000
	b.Replication.MinInSyncReplicas = 1
	b.Replication.HeartbeatTimeoutMs = 5000
	b.Replication.AckTimeoutMs = 5000
	b.TLS = tlsFor(o, "broker-"+strconv.Itoa(id))
	if !o.NoObjects {
		b.ObjectStorage.StorageType, b.ObjectStorage.Path = config.StorageLocal, o.ObjectsDir()
	}
	if o.LocalRetentionMs != 0 {
		b.ObjectStorage.LocalRetentionMs = o.LocalRetentionMs
	}
	if o.LocalRetentionBytes != 0 {
		b.ObjectStorage.LocalRetentionBytes = o.LocalRetentionBytes
	}
	if o.UploadIntervalMs != 0 {
		b.WAL.UploadIntervalMs = o.UploadIntervalMs
	}
	if o.Security != nil {
		b.Security = *o.Security
	}
	return b
}

func (o Options) withDefaults() Options {
	if o.RestartAttempts <= 0 {
		o.RestartAttempts = 5
	}
	if o.RestartBackoff <= 0 {
		o.RestartBackoff = time.Second
	}
	if o.startBroker == nil {
		o.startBroker = server.StartBroker
	}
	if o.startController == nil {
		o.startController = server.StartController
	}
	return o
}

// Preflight checks every node's files and addresses before any starts, so
// a port in use is named with its node and key, and nothing half-starts.
func Preflight(o Options) error {
	var p config.Preflight
	ctl := ControllerConfig(o)
	p.Merge("controller-1", ctl.Preflight())
	for i := range o.Brokers {
		b := BrokerConfig(o, i)
		p.Merge("broker-"+strconv.Itoa(101+i), b.Preflight())
	}
	return p.Err("weir dev")
}

// Ports lists what weir dev listens on, for hints.
func Ports(o Options) []string {
	out := []string{
		fmt.Sprintf("%d (admin API)", o.HTTPPort),
		fmt.Sprintf("%d (controller rpc)", o.ControllerPort),
		fmt.Sprintf("%d (controller raft)", o.RaftPort),
	}
	for i := range o.Brokers {
		out = append(out, fmt.Sprintf("%d (broker-%d)", o.BrokerPort+100*i, 101+i))
	}
	switch {
	case o.MetricsPort > 0 && o.Brokers == 1:
		out = append(out, fmt.Sprintf("%d (broker metrics)", o.MetricsPort))
	case o.MetricsPort > 0:
		out = append(out, fmt.Sprintf("%d-%d (broker metrics)", o.MetricsPort, o.MetricsPort+o.Brokers-1))
	}
	return out
}

// StartHint is what to add to a start error: for an address in use, which
// ports weir dev needs; nothing for any other error (a corrupt WAL is not
// a port problem).
func StartHint(o Options, err error) string {
	if !errors.Is(err, config.ErrAddrInUse) && !errors.Is(err, syscall.EADDRINUSE) {
		return ""
	}
	return fmt.Sprintf("hint: is another `weir dev` running? It listens on %s", strings.Join(Ports(o), ", "))
}

// Start brings the cluster up and supervises it until Shutdown.
func Start(o Options, log zerolog.Logger) (*Cluster, error) {
	o = o.withDefaults()
	if o.Brokers < 1 || o.Brokers > 9 {
		return nil, fmt.Errorf("dev: --brokers must be 1..9 (got %d)", o.Brokers)
	}
	if _, err := EnsureCerts(o); err != nil {
		return nil, err
	}
	if o.AdminToken {
		if err := ensureAdminToken(o); err != nil {
			return nil, fmt.Errorf("dev: admin token %s: %w", o.AdminTokenFile(), err)
		}
	}
	if err := Preflight(o); err != nil {
		return nil, err
	}
	c := &Cluster{Opts: o, log: log, failed: make(chan error, 1), stop: make(chan struct{}), notify: make(chan struct{})}
	ctl, err := o.startController(ControllerConfig(o), log)
	if err != nil {
		return nil, err
	}
	c.Controller = ctl
	for i := range o.Brokers {
		b, err := o.startBroker(BrokerConfig(o, i), log)
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
	c.wg.Add(1 + len(c.Brokers))
	go c.supervise("controller-1", ctl, func() (node, error) {
		n, err := o.startController(ControllerConfig(o), log)
		if err == nil {
			c.mu.Lock()
			c.Controller = n
			c.mu.Unlock()
		}
		return n, err
	})
	for i, b := range c.Brokers {
		go c.supervise("broker-"+strconv.Itoa(101+i), b, func() (node, error) {
			n, err := o.startBroker(BrokerConfig(o, i), log)
			if err == nil {
				c.mu.Lock()
				c.Brokers[i] = n
				c.mu.Unlock()
			}
			return n, err
		})
	}
	return c, nil
}

// node is a running controller or broker.
type node interface {
	Wait() error
	Shutdown() error
}

// supervise waits for n to stop. A stop nobody asked for is reported and
// the node restarted, up to RestartAttempts times in a row with doubling
// backoff; then the cluster fails.
func (c *Cluster) supervise(name string, n node, restart func() (node, error)) {
	defer c.wg.Done()
	for {
		err := n.Wait()
		if c.isStopping() {
			return
		}
		_ = n.Shutdown() // release its directory lock and sockets
		if err == nil {
			err = errors.New("stopped without being asked to")
		}
		c.report(Event{Node: name, Kind: NodeStopped, Err: err})
		if n = c.restart(name, restart); n == nil {
			return
		}
	}
}

// restart makes up to RestartAttempts attempts; nil means it gave up (or
// the cluster is shutting down).
func (c *Cluster) restart(name string, start func() (node, error)) node {
	wait := c.Opts.RestartBackoff
	var last error
	for attempt := 1; attempt <= c.Opts.RestartAttempts; attempt++ {
		select {
		case <-c.stop:
			return nil
		case <-time.After(wait):
		}
		wait *= 2
		n, err := start()
		if err == nil {
			if c.isStopping() { // Shutdown ran meanwhile and did not see n
				_ = n.Shutdown()
				return nil
			}
			c.report(Event{Node: name, Kind: NodeRestarted})
			return n
		}
		last = err
		c.report(Event{Node: name, Kind: NodeRestartFailed, Err: fmt.Errorf("attempt %d of %d: %w", attempt, c.Opts.RestartAttempts, err)})
	}
	err := fmt.Errorf("dev: %s stopped and could not be restarted (%d attempts): %w", name, c.Opts.RestartAttempts, last)
	c.report(Event{Node: name, Kind: NodeGaveUp, Err: err})
	select {
	case c.failed <- err:
	default:
	}
	return nil
}

// report logs ev loudly (errors show at every log level weir dev uses) and
// records it for Events.
func (c *Cluster) report(ev Event) {
	switch ev.Kind {
	case NodeRestarted:
		c.log.Warn().Str("node", ev.Node).Msg("dev: node restarted")
	case NodeGaveUp:
		c.log.Error().Str("node", ev.Node).Err(ev.Err).Msg("dev: NODE DOWN for good; stopping weir dev")
	case NodeRestartFailed:
		c.log.Error().Str("node", ev.Node).Err(ev.Err).Msg("dev: restart failed")
	default:
		c.log.Error().Str("node", ev.Node).Err(ev.Err).Msg("dev: NODE STOPPED; restarting it")
	}
	c.mu.Lock()
	c.events = append(c.events, ev)
	close(c.notify)
	c.notify = make(chan struct{})
	c.mu.Unlock()
}

// Events returns what the supervisors reported so far, and a channel
// closed at the next report.
func (c *Cluster) Events() ([]Event, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.events), c.notify
}

// Failed delivers the error of a node that could not be restarted; weir
// dev then stops and exits non-zero.
func (c *Cluster) Failed() <-chan error { return c.failed }

func (c *Cluster) isStopping() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopping
}

// Node is the running controller (a restart replaces it).
func (c *Cluster) Node() *server.Controller {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Controller
}

// BrokerNode is the running broker i (a restart replaces it).
func (c *Cluster) BrokerNode(i int) *server.Broker {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Brokers[i]
}

// BrokerAddrs lists the brokers' QUIC addresses.
func (c *Cluster) BrokerAddrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, b := range c.Brokers {
		out = append(out, b.Addr)
	}
	return out
}

// MetricsAddrs lists the brokers' GET /metrics addresses.
func (c *Cluster) MetricsAddrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, b := range c.Brokers {
		out = append(out, b.MetricsAddr)
	}
	return out
}

// Shutdown stops the supervisors, then brokers, then the controller. It
// may be called more than once.
func (c *Cluster) Shutdown() error {
	c.mu.Lock()
	first := !c.stopping
	c.stopping = true
	brokers, ctl := slices.Clone(c.Brokers), c.Controller
	c.mu.Unlock()
	if first && c.stop != nil {
		close(c.stop)
	}
	var errs []error
	for _, b := range brokers {
		errs = append(errs, b.Shutdown())
	}
	if ctl != nil {
		errs = append(errs, ctl.Shutdown())
	}
	c.wg.Wait()
	return errors.Join(errs...)
}
