package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/cloud"
	"github.com/weirmq/weir/cmd/internal/config"
	"github.com/weirmq/weir/cmd/internal/metrics"
	"github.com/weirmq/weir/io/codec"
	"github.com/weirmq/weir/io/wal"
	"github.com/weirmq/weir/net/tlsutil"
	"github.com/weirmq/weir/net/transport"
	"github.com/weirmq/weir/net/wire"
	"github.com/weirmq/weir/runtime"
	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/broker"
)

// Broker is a running broker process: the broker state machine in a loop,
// its WAL and its QUIC transport.
type Broker struct {
	ID          sm.NodeID
	Addr        string // the QUIC address it listens on
	MetricsAddr string // GET /metrics, when [metrics] listen is set
	// Objects runs the broker's object-store effects ([object_storage]);
	// nil without a store. Its Stats are the upload and cold-read counters.
	Objects *cloud.Executor
	// AuditLog is the path of its audit log ("" when off).
	AuditLog string

	metrics *http.Server
	log     zerolog.Logger
	undo    cleanups // what StartBroker opened, closed by Shutdown
	done    chan struct{}
	err     error
	once    sync.Once
	stopErr error
}

// ms converts configuration milliseconds.
func ms(n int64) sm.Duration { return sm.Duration(n) * sm.Millisecond }

// StartBroker recovers the WAL and starts a broker. It returns once the
// broker listens; Wait reports how it ended. If it fails, everything it
// had opened is closed again (the WAL's directory lock released, the port
// free).
func StartBroker(cfg config.Broker, log zerolog.Logger) (_ *Broker, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	id := sm.NodeID(cfg.Broker.ID)
	log = log.With().Str("node", fmt.Sprintf("broker-%d", id)).Logger()
	serverTLS, clientTLS, err := loadTLS(cfg.TLS)
	if err != nil {
		return nil, err
	}
	eps, _ := config.ParseEndpoints(cfg.Controller.Endpoints)
	book := newAddrBook()
	var ctrls []sm.NodeID
	for _, e := range eps {
		book.set(e.ID, e.Addr)
		ctrls = append(ctrls, e.ID)
	}
	b := &Broker{ID: id, log: log, done: make(chan struct{})}
	defer func() {
		if err != nil {
			_ = b.undo.run()
		}
	}()
	reg := metrics.New()
	wc := walConfig(cfg.WAL)
	wc.OnSync = reg.ObserveWALSync
	wc.TruncateCorrupt = cfg.AcceptDataLoss
	w, rec, err := wal.Open(wc)
	if errors.Is(err, wal.ErrLocked) {
		return nil, &config.KeyError{Key: "wal.path", Value: cfg.WAL.Path, Err: err}
	}
	if err != nil {
		return nil, err
	}
	b.undo.push(w.Close) // last: disk work already issued completes and is synced
	// Bumped under the WAL's directory lock: one process per directory.
	inc, fresh, err := nextIncarnation(cfg.WAL.Path, time.Now())
	if err != nil {
		return nil, err
	}
	log.Info().Str("backend", w.Backend().String()).Int("partitions", len(rec.Manifests)).Int64("bytes", rec.UsedBytes).
		Uint64("incarnation", inc).Bool("fresh_disk", fresh).Int("max_open_files", w.MaxOpenFiles()).Msg("wal recovered")
	for _, r := range rec.Repairs {
		log.Warn().Str("repair", r).Msg("wal repaired on open")
	}
	for _, r := range rec.Warnings {
		log.Warn().Str("warning", r).Msg("wal found on open")
	}
	objects, err := openObjectStore(log, &cfg.ObjectStorage.ObjectStore, cfg.ObjectStorage.StoreOptions(), &b.undo)
	if err != nil {
		return nil, err
	}
	lost, err := lostDisk(cfg.WAL.Path, fresh)
	if err != nil {
		return nil, err
	}
	damaged := damagedLogs(log, rec.Damaged)
	if lost && !fresh {
		log.Warn().Str("wal", cfg.WAL.Path).Msg("this WAL directory started empty and its broker never registered since: reporting the lost disk again")
	}
	if fresh && !cfg.AcceptDataLoss {
		log.Warn().Str("wal", cfg.WAL.Path).Msg("the WAL directory held no state: if this broker was registered before (a lost or replaced disk), " +
			"it rebuilds its replicas from their leaders; partitions it held the last in-sync copy of stay offline " +
			"(restart with --accept-data-loss to lead them empty)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.undo.pushFunc(cancel)
	// The transport starts first, so the broker can advertise the address
	// it actually bound (port 0 picks one); messages wait for the loop.
	var loop *runtime.Loop
	ready := make(chan struct{})
	principals, err := cfg.Security.PrincipalMapper() // validated with the config
	if err != nil {
		return nil, err
	}
	trail, err := openAudit(&cfg.Security, filepath.Dir(cfg.WAL.Path), "broker-"+strconv.FormatUint(uint64(id), 10), log, &b.undo)
	if err != nil {
		return nil, err
	}
	revs := &revocations{log: log}
	tr, err := transport.New(transport.Config{
		Self: id, Role: wire.RoleBroker, Listen: cfg.Network.QUICListen,
		ServerTLS: serverTLS, ClientTLS: clientTLS,
		Addresses: book.lookup,
		Deliver: func(from transport.Peer, m sm.Message) {
			book.learn(m)
			reg.ObserveInbound(from.ID, m)
			select {
			case <-ready:
				_ = loop.Post(ctx, sm.Received{From: from.ID, Msg: m, Principal: from.Principal, Serial: from.Serial, Source: from.Addr})
			case <-ctx.Done():
			}
		},
		MaxFrameBytes: cfg.Network.MaxFrameBytes,
		ConnsMax:      cfg.Network.MaxConnections,
		QUIC:          quicConfig(cfg.Network.NetworkLimits),
		Principals:    principals,
		Refused:       trail.refused,
		Revoked:       revs.revoked,
		Log:           log,
	})
	if err != nil {
		return nil, err
	}
	b.undo.push(tr.Close) // queued replies are flushed, connections close
	b.Addr = tr.Addr().String()
	bc := brokerConfig(cfg, id, inc, ctrls)
	bc.Host = advertised(cfg.Network.QUICListen, b.Addr)
	// The loop's time zero and the wall clock the broker stamps batches
	// with come from one reading, so node time t is wall time start+t.
	start := time.Now()
	bc.WallClockAtStart = start.UnixMilli()
	node, err := broker.New(bc, sm.Durable{Manifests: rec.Manifests, Damaged: damaged, FreshDisk: lost})
	if err != nil {
		return nil, err
	}
	ad := &adapters{}
	tracked := &lossTracker{Node: node, dir: cfg.WAL.Path, pending: lost, log: log}
	probe := metrics.NewProbe(reg, tracked, time.Second, func() brokerSample {
		return brokerSample{parts: metrics.SampleBroker(node), tier: metrics.SampleTier(node)}
	})
	b.AuditLog = trail.path
	revs.transports = []*transport.Transport{tr}
	adapters := runtime.Adapters{Log: ad, Read: ad, Net: ad, Audit: trail.events, Revoke: revs.update}
	if objects != nil {
		adapters.Object = ad
	}
	loop = runtime.NewLoop(probe, adapters, runtime.LoopConfig{Queue: queueEvents, Log: log, Start: start})
	exec := w.NewExecutor(func(d sm.LogDone) { _ = loop.Post(ctx, d) }).WithReads(func(d sm.LogReadDone) { _ = loop.Post(ctx, d) })
	if objects != nil {
		// Uploads read sealed segments from the WAL; the executor closes
		// after the loop stopped (its posts then return at once) and before
		// the WAL and the store.
		ox, err := cloud.NewExecutor(objects, w, func(ev sm.Event) { _ = loop.Post(ctx, ev) }, objectExecutorConfig(cfg.ObjectStorage))
		if err != nil {
			return nil, err
		}
		b.undo.push(ox.Close)
		b.Objects = ox
		ad.object = ox.StartObject
	}
	close(ready)
	ad.log = exec.StartLog
	ad.read = exec.StartRead
	ad.send = func(ms []sm.Envelope) { reg.ObserveSend(ms); tr.Send(ms) }
	parts := func() []metrics.PartitionStat { return probe.Load().parts }
	if err := reg.RegisterBroker(metrics.BrokerSources{Transport: tr.Stats, WAL: w.Stats, Partitions: parts, WALCapacityBytes: cfg.WAL.CapacityBytes}); err != nil {
		return nil, err
	}
	if b.Objects != nil {
		tierSrc := metrics.TierSources{Objects: b.Objects.Stats, Broker: func() metrics.TierSnapshot { return probe.Load().tier }}
		if err := reg.RegisterTier(tierSrc); err != nil {
			return nil, err
		}
	}
	if cfg.Metrics.Listen != "" {
		if err := b.serveMetrics(cfg.Metrics.Listen, reg); err != nil {
			return nil, err
		}
	}
	go func() {
		b.err = loop.Run(ctx)
		close(b.done)
	}()
	b.undo.pushFunc(func() { cancel(); <-b.done }) // the loop stops taking events
	healthDone := make(chan struct{})
	go func() {
		defer close(healthDone)
		observeHealth(ctx, loop, w, tr, b.Objects, cfg.WAL.CapacityBytes, time.Duration(cfg.Broker.HealthCheckIntervalMs)*time.Millisecond)
	}()
	b.undo.pushFunc(func() { cancel(); <-healthDone })
	log.Info().Str("quic", b.Addr).Msg("broker started")
	return b, nil
}

// brokerSample is what a broker's metrics probe takes on the loop
// goroutine: the hosted replicas and tiered storage.
type brokerSample struct {
	parts []metrics.PartitionStat
	tier  metrics.TierSnapshot
}

// observeHealth samples what only the process can see — WAL, network,
// object store, memory, goroutines — and posts it to the broker, which sends it with its
// next health report (the broker adds replication lag itself). It samples
// twice per report interval so a report is never older than half of one.
func observeHealth(ctx context.Context, loop *runtime.Loop, w *wal.WAL, tr *transport.Transport, objects *cloud.Executor, capacity int64, every time.Duration) {
	t := time.NewTicker(max(every/2, 100*time.Millisecond))
	defer t.Stop()
	for {
		ws, ts := w.Stats(), tr.Stats()
		var mem goruntime.MemStats
		goruntime.ReadMemStats(&mem)
		h := sm.BrokerHealth{
			// An I/O error stops the broker (fsyncgate), so a reporting
			// broker's WAL works; it is unhealthy when nearly full.
			WAL:       sm.WALHealth{Healthy: capacity <= 0 || ws.UsedBytes < capacity/100*95, UsedBytes: ws.UsedBytes, CapacityBytes: capacity, Backend: w.Backend().Name},
			Network:   sm.NetworkHealth{Healthy: true, Connections: ts.Conns},
			Resources: sm.ResourceUsage{MemoryBytes: mem.Sys, Goroutines: goruntime.NumGoroutine()},
		}
		if objects != nil {
			// Reachable: the store answered the latest op that reached it.
			h.ObjectStorage = sm.ObjectStorageHealth{Configured: true, Healthy: objects.Reachable()}
		}
		if err := loop.Post(ctx, sm.HealthObserved{Health: observedHealth(h)}); err != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// serveMetrics starts GET /metrics on its own listener.
func (b *Broker) serveMetrics(addr string, reg *metrics.Registry) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("broker: metrics.listen %s: %w", addr, err)
	}
	b.MetricsAddr = ln.Addr().String()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", reg.Handler())
	b.metrics = &http.Server{Handler: metrics.HTTP(reg, mux), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan struct{})
	go func() { defer close(served); _ = b.metrics.Serve(ln) }()
	b.undo.push(func() error { err := b.metrics.Close(); <-served; return err })
	return nil
}

// adapters joins the disk executor and the transport: it is the
// runtime.LogStore (broker) or runtime.RaftStore (controller) and the
// runtime.Network of a loop, bound once the executor exists (the executor
// posts to the loop, so it is made after it).
type adapters struct {
	log    func([]sm.LogOp)
	read   func([]sm.LogRead)
	raft   func([]sm.RaftSave)
	object func([]sm.ObjectOp)
	send   func([]sm.Envelope)
	local  *local
}

func (a *adapters) StartLog(ops []sm.LogOp)       { a.log(ops) }
func (a *adapters) StartRead(rs []sm.LogRead)     { a.read(rs) }
func (a *adapters) StartRaft(saves []sm.RaftSave) { a.raft(saves) }
func (a *adapters) StartObject(ops []sm.ObjectOp) { a.object(ops) }

func (a *adapters) Send(msgs []sm.Envelope) {
	if a.local == nil {
		a.send(msgs)
		return
	}
	remote := msgs[:0:0]
	for _, m := range msgs {
		if isLocal(m.To) {
			a.local.deliver(m)
			continue
		}
		remote = append(remote, m)
	}
	if len(remote) > 0 {
		a.send(remote)
	}
}

// advertised is the address other nodes dial: the configured one, with the
// bound port when the configuration asked for port 0, and loopback when it
// bound every interface.
func advertised(configured, bound string) string {
	host, port, err := net.SplitHostPort(configured)
	if err != nil {
		return bound
	}
	if port == "0" {
		_, port, _ = net.SplitHostPort(bound)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func walConfig(c config.WAL) wal.Config {
	w := wal.DefaultConfig(c.Path)
	w.CapacityBytes = c.CapacityBytes
	w.FsyncOnWrite = c.FsyncOnWrite
	w.FlushInterval = time.Duration(c.FlushIntervalMs) * time.Millisecond
	w.Backend = c.Backend
	w.MaxOpenFiles = c.MaxOpenFiles
	return w
}

// damagedLogs logs every damaged partition log Open found, saying what
// happens next and how to accept the loss, and returns them for the state
// machine.
func damagedLogs(log zerolog.Logger, found map[sm.TopicPartition]*wal.CorruptError) map[sm.TopicPartition]string {
	out := map[sm.TopicPartition]string{}
	for tp, ce := range found {
		out[tp] = ce.Error()
		log.Error().Str("partition", tp.String()).Str("file", ce.Path).Int64("byte", ce.Pos).Int64("offset", int64(ce.Offset)).Str("damage", ce.Reason).
			Msgf("%v: partition %v lost acknowledged data (records from offset %d on): this replica leaves the ISR and is rebuilt "+
				"from the leader once another replica leads; if it held the last in-sync copy the partition stays offline and the file is kept "+
				"as it is; to accept the loss, restart with --accept-data-loss (the log is cut there, and offsets from %d are reused)",
				ce, tp, ce.Offset, ce.Offset)
	}
	return out
}

func brokerConfig(cfg config.Broker, id sm.NodeID, inc uint64, ctrls []sm.NodeID) broker.Config {
	bc := broker.DefaultConfig(id, inc, ctrls)
	bc.Rack = cfg.Broker.RackID
	bc.Host = cfg.Network.QUICListen
	bc.HeartbeatInterval = ms(cfg.Controller.HeartbeatIntervalMs)
	bc.ControllerTimeout = 3 * bc.HeartbeatInterval
	bc.AckTimeout = ms(cfg.Replication.AckTimeoutMs)
	bc.ReplicaLagTime = ms(cfg.Replication.HeartbeatTimeoutMs)
	bc.ProducerStateWindow = ms(cfg.Replication.ProducerStateWindowMs)
	bc.MaxReplicationLag = cfg.Replication.MaxReplicationLag
	bc.DefaultMinISR = cfg.Replication.MinInSyncReplicas
	bc.FsyncOnWrite = cfg.WAL.FsyncOnWrite
	bc.SegmentBytes = cfg.WAL.SegmentSizeBytes
	bc.SegmentMs = cfg.WAL.SegmentMs
	bc.RetentionCheckInterval = ms(cfg.WAL.RetentionCheckIntervalMs)
	bc.CacheBytes = cfg.Cache.WriteCacheSizeBytes
	bc.AcceptDataLoss = cfg.AcceptDataLoss
	bc.HealthInterval = ms(cfg.Broker.HealthCheckIntervalMs)
	bc.Tier = tierConfig(cfg)
	bc.ACL = cfg.Security.ACLOptions()
	bc.Compressor = codec.Codecs{}
	g := cfg.Groups
	bc.Groups = broker.GroupsConfig{OffsetsPartitions: g.OffsetsTopicPartitions, OffsetsReplication: g.OffsetsTopicReplicationFactor,
		OffsetsSegmentBytes: g.OffsetsTopicSegmentBytes, SnapshotBytes: g.SnapshotBytes,
		SessionTimeoutMin: ms(g.MinSessionTimeoutMs), SessionTimeoutMax: ms(g.MaxSessionTimeoutMs),
		InitialRebalanceDelay: ms(g.InitialRebalanceDelayMs), MembersMax: g.MaxSize}
	if g.InitialRebalanceDelayMs == 0 {
		bc.Groups.InitialRebalanceDelay = -1 // none (the broker's 0 means its default)
	}
	// A batch must fit in one frame with room for the envelope.
	bc.MaxBatchBytes = min(bc.MaxBatchBytes, cfg.Network.MaxFrameBytes/2)
	bc.MaxRecordBytes = min(bc.MaxRecordBytes, bc.MaxBatchBytes)
	return bc
}

func quicConfig(n config.NetworkLimits) transport.QUICConfig {
	return transport.QUICConfig{
		IdleTimeout:             time.Duration(n.QUIC.MaxIdleTimeoutMs) * time.Millisecond,
		StreamReceiveWindow:     uint64(max(n.QUIC.MaxStreamData, 0)),
		ConnectionReceiveWindow: uint64(max(n.QUIC.MaxConnectionData, 0)),
	}
}

func loadTLS(t config.TLS) (server, client *tls.Config, err error) {
	p := tlsutil.Paths{CA: t.CAFile, Cert: t.CertFile, Key: t.KeyFile}
	server, err = tlsutil.LoadServerConfig(p)
	if err != nil {
		return nil, nil, err
	}
	client, err = tlsutil.LoadClientConfig(p)
	return server, client, err
}

// Wait blocks until the broker stops and returns why (nil after Shutdown).
func (b *Broker) Wait() error {
	<-b.done
	if errors.Is(b.err, context.Canceled) {
		return nil
	}
	return b.err
}

// Shutdown stops the broker gracefully, undoing StartBroker in reverse: the
// metrics listener closes, the loop stops taking events, queued replies
// are flushed and connections close, and disk work already issued
// completes and is synced.
func (b *Broker) Shutdown() error {
	b.once.Do(func() {
		b.stopErr = b.undo.run()
		b.log.Info().Msg("broker stopped")
	})
	return b.stopErr
}
