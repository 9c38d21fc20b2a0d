package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/cloud"
	"github.com/weirmq/weir/cmd/internal/auditadmin"
	"github.com/weirmq/weir/cmd/internal/config"
	"github.com/weirmq/weir/cmd/internal/metrics"
	"github.com/weirmq/weir/io/raftstore"
	"github.com/weirmq/weir/net/admin"
	"github.com/weirmq/weir/net/admin/ratelimit"
	"github.com/weirmq/weir/net/pki"
	"github.com/weirmq/weir/net/transport"
	"github.com/weirmq/weir/net/wire"
	"github.com/weirmq/weir/runtime"
	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/acl"
	"github.com/weirmq/weir/sm/controller"
)

// Controller is a running controller process: the metadata state machine in
// a loop, its raft store, two QUIC transports (raft peers on raft_listen;
// brokers and clients on rpc_listen) and the admin HTTP server.
type Controller struct {
	ID       sm.NodeID
	RPCAddr  string
	RaftAddr string
	HTTPAddr string
	// AdminURL is the admin API's base URL: https://HTTPAddr with
	// [admin] tls, else http://HTTPAddr.
	AdminURL string
	// Objects runs the garbage collector's object-store effects; nil
	// without [object_storage].
	Objects *cloud.Executor

	log     zerolog.Logger
	raft    *transport.Transport
	rpc     *transport.Transport
	api     *backend
	undo    cleanups // what StartController opened, closed by Shutdown
	done    chan struct{}
	err     error
	once    sync.Once
	stopErr error
}

// StartController opens the raft store and starts a controller. If it
// fails, everything it had opened is closed again (the store's directory
// lock released, the ports free).
func StartController(cfg config.Controller, log zerolog.Logger) (_ *Controller, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	id := sm.NodeID(cfg.Controller.NodeID)
	log = log.With().Str("node", fmt.Sprintf("controller-%d", id)).Logger()
	serverTLS, clientTLS, err := loadTLS(cfg.TLS)
	if err != nil {
		return nil, err
	}
	peers, _ := config.ParseEndpoints(cfg.Raft.Peers)
	peerURLs, _ := config.ParsePeerURLs(cfg.Admin.PeerURLs)
	book := newAddrBook()
	var ids []sm.NodeID
	for _, p := range peers {
		book.set(p.ID, p.Addr)
		ids = append(ids, p.ID)
	}
	c := &Controller{ID: id, log: log, done: make(chan struct{})}
	defer func() {
		if err != nil {
			_ = c.undo.run()
		}
	}()
	store, err := raftstore.Open(cfg.Controller.DataDir, raftstore.Options{Log: log})
	if errors.Is(err, raftstore.ErrCorrupt) {
		return nil, storeCorrupt(id, len(peers), cfg.Controller.DataDir, err)
	}
	if err != nil {
		return nil, err
	}
	c.undo.push(store.Close)
	durable, err := store.Load()
	if err != nil {
		return nil, err
	}
	log.Info().Int("raft_entries", len(durable.Entries)).Uint64("snapshot_index", durable.Snapshot.GetMetadata().GetIndex()).
		Int("snapshot_bytes", len(durable.Snapshot.GetData())).Msg("raft store recovered")
	objects, err := openObjectStore(log, &cfg.ObjectStorage.ObjectStore, config.StoreOptions{}, &c.undo)
	if err != nil {
		return nil, err
	}
	tick := ms(cfg.Raft.HeartbeatIntervalMs)
	node, err := controller.New(controller.Config{
		ID: id, Peers: ids, TickInterval: tick,
		ElectionTicks:    int(max(cfg.Raft.ElectionTimeoutMs/cfg.Raft.HeartbeatIntervalMs, 2)),
		HeartbeatTicks:   1,
		SessionTimeout:   ms(cfg.Cluster.SessionTimeoutMs),
		DefaultMinISR:    cfg.Cluster.MinInSyncReplicas,
		MaxPartitions:    cfg.Cluster.MaxPartitions,
		HealthTimeout:    ms(cfg.Admin.HealthTimeoutMs),
		RaftLogger:       newRaftLogger(log),
		ACL:              cfg.Security.ACLOptions(),
		WallClockAtStart: time.Now().UnixMilli(),

		SnapshotEntries: cfg.Controller.SnapshotEntries,
		// SnapshotCatchUpEntries: the default, min(5000, half of it).
		Tiering: tieringConfig(cfg.ObjectStorage, objects != nil),
	}, durable)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.undo.pushFunc(cancel)
	reg := metrics.New()
	probe := metrics.NewProbe(reg, node, time.Second, func() metrics.ControllerSnapshot { return metrics.SampleController(node) })
	ad := &adapters{}
	trail, err := openAudit(&cfg.Security, cfg.Controller.DataDir, "controller-"+strconv.FormatUint(uint64(id), 10), log, &c.undo)
	if err != nil {
		return nil, err
	}
	revs := &revocations{log: log}
	adapters := runtime.Adapters{Raft: ad, Net: ad, Audit: trail.events, Revoke: revs.update}
	if objects != nil {
		adapters.Object = ad
	}
	loop := runtime.NewLoop(probe, adapters, runtime.LoopConfig{Queue: queueEvents, Log: log})
	loc := newLocal(loop)
	exec := raftstore.NewExecutor(store, func(d sm.RaftDone) { _ = loop.Post(ctx, d) })
	c.undo.push(exec.Close) // the store finishes its write
	if objects != nil {
		// The garbage collector's lists and deletes; no segment reader (a
		// put with a Source fails invalid).
		ox, err := cloud.NewExecutor(objects, nil, func(ev sm.Event) { _ = loop.Post(ctx, ev) }, cloud.ExecutorConfig{})
		if err != nil {
			return nil, err
		}
		c.undo.push(ox.Close)
		c.Objects = ox
		ad.object = ox.StartObject
	}
	deliver := func(from transport.Peer, m sm.Message) {
		reg.ObserveInbound(from.ID, m)
		_ = loop.Post(ctx, sm.Received{From: from.ID, Msg: m, Principal: from.Principal, Serial: from.Serial, Source: from.Addr})
	}
	principals, err := cfg.Security.PrincipalMapper() // validated with the config
	if err != nil {
		return nil, err
	}
	mk := func(listen string, addrs func(sm.NodeID) (string, bool)) (*transport.Transport, error) {
		tr, err := transport.New(transport.Config{
			Self: id, Role: wire.RoleController, Listen: listen,
			ServerTLS: serverTLS, ClientTLS: clientTLS, Addresses: addrs, Deliver: deliver,
			MaxFrameBytes: cfg.Network.MaxFrameBytes, ConnsMax: cfg.Network.MaxConnections,
			QUIC: quicConfig(cfg.Network), Log: log, Principals: principals, Refused: trail.refused, Revoked: revs.revoked,
		})
		if err == nil {
			c.undo.push(tr.Close) // queued messages are flushed
		}
		return tr, err
	}
	if c.raft, err = mk(cfg.Controller.RaftListen, book.lookup); err != nil {
		return nil, err
	}
	if c.rpc, err = mk(cfg.Controller.RPCListen, func(sm.NodeID) (string, bool) { return "", false }); err != nil {
		return nil, err
	}
	c.RaftAddr, c.RPCAddr = c.raft.Addr().String(), c.rpc.Addr().String()
	revs.transports = []*transport.Transport{c.raft, c.rpc} // before the loop runs
	ad.local = loc
	ad.raft = exec.StartRaft
	ad.send = func(msgs []sm.Envelope) { reg.ObserveSend(msgs); c.route(msgs) }
	src := metrics.ControllerSourcesFrom(probe)
	src.Transports = map[string]func() transport.Stats{"raft": c.raft.Stats, "rpc": c.rpc.Stats}
	c.api = &backend{local: loc, self: id, aclOptions: cfg.Security.ACLOptions(), auditLog: trail.path, caDir: cfg.Admin.CADir}
	lim, err := ratelimit.New(cfg.Admin.RateLimiting.Limiter(), nil)
	if err != nil {
		return nil, err
	}
	lim.Start(ctx) // stops with ctx
	src.RateLimit = func() (uint64, uint64) { s := lim.Stats(); return s.TotalRequests, s.BlockedRequests }
	if err := reg.RegisterController(src); err != nil {
		return nil, err
	}
	if c.Objects != nil {
		tierSrc := metrics.TierSources{Objects: c.Objects.Stats, GC: func() controller.GCStats { return probe.Load().GC }}
		if err := reg.RegisterTier(tierSrc); err != nil {
			return nil, err
		}
	}
	go func() {
		c.err = loop.Run(ctx)
		close(c.done)
	}()
	c.undo.pushFunc(func() { cancel(); <-c.done }) // the loop stops
	adminLog := log.With().Str("component", "admin").Logger()
	var token string
	if cfg.Admin.AuthTokenFile != "" {
		if token, err = config.ReadAuthToken(cfg.Admin.AuthTokenFile); err != nil {
			return nil, fmt.Errorf("admin.auth_token_file %q: %w", cfg.Admin.AuthTokenFile, err)
		}
	}
	var listenTLS, forwardTLS *tls.Config
	if cfg.Admin.TLS {
		// HTTPS with this controller's certificate; a client certificate
		// is asked for and verified against the cluster CA when given (a
		// token caller brings none), and each request checks it for
		// revocation. Followers present their own to the leader.
		listenTLS = serverTLS.Clone()
		listenTLS.NextProtos = []string{"h2", "http/1.1"}
		listenTLS.ClientAuth = tls.VerifyClientCertIfGiven
		forwardTLS = clientTLS
	}
	srv := admin.New(admin.Config{
		AuthToken:   token,
		RequireAuth: !cfg.Admin.AllowUnauthenticated,
		Principals:  principals,
		Revoked:     func(cert *x509.Certificate) bool { return revs.revoked(pki.SerialString(cert.SerialNumber)) },
		ForwardTLS:  forwardTLS,
		AuditEvent:  trail.admin,
		Self:        id, RequestTimeout: time.Duration(cfg.Admin.RequestTimeoutMs) * time.Millisecond,
		LeaderURL:      func(n sm.NodeID) (string, bool) { u, ok := peerURLs[n]; return u, ok },
		Log:            adminLog,
		Version:        Version,
		RateLimitStats: func() any { return lim.Stats() },
		Audit:          auditadmin.Reader,
		Middleware: func(next http.Handler) http.Handler {
			limited := ratelimit.Log(adminLog, cfg.Admin.LogRequests)(ratelimit.CORS(cfg.Admin.CORSOrigins())(lim.Middleware(next)))
			return withMetrics(reg, limited)
		},
	}, c.api)
	lim.KeyByPrincipal(srv.Principal)
	ln, err := net.Listen("tcp", cfg.Controller.HTTPListen)
	if err != nil {
		return nil, fmt.Errorf("controller: admin http_listen %s: %w", cfg.Controller.HTTPListen, err)
	}
	c.HTTPAddr = ln.Addr().String()
	c.AdminURL = "http://" + c.HTTPAddr
	if listenTLS != nil {
		ln = tls.NewListener(ln, listenTLS)
		c.AdminURL = "https://" + c.HTTPAddr
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("admin server stopped")
		}
	}()
	// First on Shutdown: no new admin requests, the ones in flight finish
	// (they need the loop).
	c.undo.push(func() error {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		err := srv.Shutdown(sctx)
		<-served
		return err
	})
	log.Info().Str("rpc", c.RPCAddr).Str("raft", c.RaftAddr).Str("http", c.HTTPAddr).Msg("controller started")
	return c, nil
}

// storeCorrupt is the refusal of a controller whose raft store lost state it
// had acknowledged: the store's own error (file and byte) and what the
// operator can do, which depends on whether peers hold that state.
func storeCorrupt(id sm.NodeID, controllers int, dataDir string, err error) error {
	if controllers == 1 {
		return fmt.Errorf("controller-%d refuses to start: %w. This is the only controller, so the metadata past "+
			"that point is lost. Copy %s aside for inspection; to go on with the state before that point, delete %s "+
			"and start again, or start afresh (weir dev: remove its whole data directory, ./weir-data by default). "+
			"See docs/operations.md, \"Controller store corruption\"",
			id, err, dataDir, filepath.Join(dataDir, raftstore.SyncedFile))
	}
	return fmt.Errorf("controller-%d refuses to start: %w. Its peers hold that state: with the other controllers "+
		"running, move %s aside (do not delete it), restart the current leader (so that the leader tracks this node "+
		"afresh), then start controller-%d again with an empty data_dir; it rejoins and copies the log from the "+
		"leader. Do not stop or wipe another controller until it has caught up. "+
		"See docs/operations.md, \"Controller store corruption\"", id, err, dataDir, id)
}

// Version is the build's version, reported by /health.
var Version = "0.1.0-dev"

// withMetrics serves GET /metrics beside the admin API and instruments the
// API's requests.
func withMetrics(reg *metrics.Registry, api http.Handler) http.Handler {
	inst := metrics.HTTPWithRoute(reg, api, admin.Pattern) // the route, though Log replaces the request
	scrape := reg.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			scrape.ServeHTTP(w, r)
			return
		}
		inst.ServeHTTP(w, r)
	})
}

// route sends raft traffic over the peer transport and everything else
// over the rpc transport (replies reach brokers and clients over the
// connections they opened).
func (c *Controller) route(msgs []sm.Envelope) {
	var peers, others []sm.Envelope
	for _, m := range msgs {
		if m.To.IsController() {
			peers = append(peers, m)
		} else {
			others = append(others, m)
		}
	}
	if len(peers) > 0 {
		c.raft.Send(peers)
	}
	if len(others) > 0 {
		c.rpc.Send(others)
	}
}

// WaitReady waits until a controller leader is known and at least brokers
// brokers are registered and unfenced in its applied metadata.
// AuditLog is the path of the controller's audit log ("" when off).
func (c *Controller) AuditLog() string { return c.api.auditLog }

// CreateTopic creates a topic through this controller as its admin API
// does.
func (c *Controller) CreateTopic(ctx context.Context, req sm.CreateTopicRequest) (sm.CreateTopicResponse, error) {
	return c.api.CreateTopic(ctx, req)
}

// RevokeCert revokes a certificate by serial (lowercase hex) through this
// controller: brokers and controllers refuse it from their next metadata
// round on and close its live connections.
func (c *Controller) RevokeCert(ctx context.Context, serial, reason string) (sm.CertResponse, error) {
	return c.api.Cert(ctx, sm.CertRequest{Revoke: &sm.CertRecord{Serial: serial, Reason: reason, RevokedAtMs: time.Now().UnixMilli()}})
}

// ApplyACL changes the ACL rules through this controller as its admin API
// does (the command goes through raft; a follower answers NOT_LEADER).
func (c *Controller) ApplyACL(ctx context.Context, cmd acl.Command) (sm.ACLResponse, error) {
	return c.api.ApplyACL(ctx, sm.ACLRequest{Command: cmd})
}

func (c *Controller) WaitReady(ctx context.Context, brokers int) error {
	for {
		r, err := c.api.metadata(ctx)
		if err == nil && r.LeaderHint != sm.NoNode {
			live := 0
			for _, b := range r.Delta.Brokers {
				if !b.Fenced {
					live++
				}
			}
			if live >= brokers {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("controller: not ready (leader and %d brokers): %w", brokers, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Wait blocks until the controller stops and returns why (nil after
// Shutdown).
func (c *Controller) Wait() error {
	<-c.done
	if errors.Is(c.err, context.Canceled) {
		return nil
	}
	return c.err
}

// Shutdown stops the controller gracefully, undoing StartController in
// reverse: no new admin requests (those in flight finish), the loop stops,
// the transports flush, the raft store finishes its write and closes.
func (c *Controller) Shutdown() error {
	c.once.Do(func() {
		c.stopErr = c.undo.run()
		c.log.Info().Msg("controller stopped")
	})
	return c.stopErr
}

// backend answers the admin server through the controller's loop.
type backend struct {
	local *local
	self  sm.NodeID
	// aclOptions are the authorizer options the cluster runs with;
	// auditLog this process's audit log ("" when off).
	aclOptions acl.Options
	auditLog   string
	caDir      string // [admin] ca_dir: the CA that signs the admin API's CRL ("" for none)
}

func (b *backend) ApplyACL(ctx context.Context, req sm.ACLRequest) (sm.ACLResponse, error) {
	m, err := b.local.call(ctx, func(id uint64) sm.Message { req.ReqID = id; return req })
	if err != nil {
		return sm.ACLResponse{}, err
	}
	r, ok := m.(sm.ACLResponse)
	if !ok {
		return r, fmt.Errorf("controller: unexpected reply %T to an ACL change", m)
	}
	return r, nil
}

// ACLs reads the applied rule set from a full metadata answer of the loop.
func (b *backend) ACLs(ctx context.Context) (*acl.State, acl.Options, error) {
	r, err := b.metadata(ctx)
	if err != nil {
		return nil, b.aclOptions, err
	}
	if r.Delta.ACL == nil {
		return &acl.State{}, b.aclOptions, nil
	}
	st, err := acl.Restore(r.Delta.ACL)
	return st, b.aclOptions, err
}

func (b *backend) AuditLog() string { return b.auditLog }

// Cert submits a certificate registry change.
func (b *backend) Cert(ctx context.Context, req sm.CertRequest) (sm.CertResponse, error) {
	m, err := b.local.call(ctx, func(id uint64) sm.Message { req.ReqID = id; return req })
	if err != nil {
		return sm.CertResponse{}, err
	}
	r, ok := m.(sm.CertResponse)
	if !ok {
		return r, fmt.Errorf("controller: unexpected reply %T to a certificate change", m)
	}
	return r, nil
}

func (b *backend) CreateTopic(ctx context.Context, req sm.CreateTopicRequest) (sm.CreateTopicResponse, error) {
	if req.CreatedAtMs == 0 {
		req.CreatedAtMs = time.Now().UnixMilli() // the state machine reads no clock: the request carries it
	}
	m, err := b.local.call(ctx, func(id uint64) sm.Message { req.ReqID = id; return req })
	if err != nil {
		return sm.CreateTopicResponse{}, err
	}
	r, ok := m.(sm.CreateTopicResponse)
	if !ok {
		return r, fmt.Errorf("controller: unexpected reply %T to create topic", m)
	}
	return r, nil
}

func (b *backend) DeleteTopic(ctx context.Context, req sm.DeleteTopicRequest) (sm.DeleteTopicResponse, error) {
	m, err := b.local.call(ctx, func(id uint64) sm.Message { req.ReqID = id; return req })
	if err != nil {
		return sm.DeleteTopicResponse{}, err
	}
	r, ok := m.(sm.DeleteTopicResponse)
	if !ok {
		return r, fmt.Errorf("controller: unexpected reply %T to delete topic", m)
	}
	return r, nil
}

func (b *backend) AlterTopicConfig(ctx context.Context, req sm.AlterTopicConfigRequest) (sm.AlterTopicConfigResponse, error) {
	m, err := b.local.call(ctx, func(id uint64) sm.Message { req.ReqID = id; return req })
	if err != nil {
		return sm.AlterTopicConfigResponse{}, err
	}
	r, ok := m.(sm.AlterTopicConfigResponse)
	if !ok {
		return r, fmt.Errorf("controller: unexpected reply %T to alter topic config", m)
	}
	return r, nil
}

func (b *backend) Metadata(ctx context.Context) (sm.MetadataDelta, error) {
	r, err := b.metadata(ctx)
	return r.Delta, err
}

func (b *backend) metadata(ctx context.Context) (sm.MetadataResponse, error) {
	m, err := b.local.call(ctx, func(id uint64) sm.Message { return sm.MetadataRequest{ReqID: id} })
	if err != nil {
		return sm.MetadataResponse{}, errors.Join(admin.ErrUnavailable, err)
	}
	r, ok := m.(sm.MetadataResponse)
	if !ok {
		return r, fmt.Errorf("controller: unexpected reply %T to metadata", m)
	}
	return r, nil
}

// Leader asks the loop who leads (a metadata round trip carries the hint).
func (b *backend) Leader() (sm.NodeID, sm.NodeID) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	r, err := b.metadata(ctx)
	if err != nil {
		return b.self, sm.NoNode
	}
	return b.self, r.LeaderHint
}

// ClusterStatus asks the controller state machine for its status: through
// a raft ReadIndex round on the leader, or from local state when stale.
func (b *backend) ClusterStatus(ctx context.Context, stale bool) (admin.ClusterStatus, error) {
	m, err := b.local.call(ctx, func(id uint64) sm.Message { return sm.ClusterStatusRequest{ReqID: id, Stale: stale} })
	if err != nil {
		return admin.ClusterStatus{}, errors.Join(admin.ErrUnavailable, err)
	}
	r, ok := m.(sm.ClusterStatusResponse)
	if !ok {
		return admin.ClusterStatus{}, fmt.Errorf("controller: unexpected reply %T to cluster status", m)
	}
	switch r.Code {
	case sm.CodeOK:
	case sm.CodeNotLeader, sm.CodeLeaderNotAvailable:
		return admin.ClusterStatus{}, &admin.NotLeaderError{Leader: r.LeaderHint}
	default:
		return admin.ClusterStatus{}, fmt.Errorf("controller: cluster status: %v", r.Code)
	}
	st := admin.ClusterStatus{IsLeader: r.IsLeader, Leader: r.Leader, Term: r.Term, CommitIndex: r.CommitIndex,
		AppliedIndex: r.AppliedIndex, Healthy: r.Healthy, Metadata: r.Metadata}
	now := time.Now()
	for _, br := range r.Brokers {
		bs := admin.BrokerStatus{Info: br.Info, Online: br.Online, Health: br.Health}
		if br.LastReport != 0 {
			bs.LastReport = now.Add(-time.Duration(r.Now - br.LastReport))
		}
		st.Brokers = append(st.Brokers, bs)
	}
	return st, nil
}
