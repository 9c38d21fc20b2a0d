package sdk

import (
	"context"
	"crypto/x509"
	"maps"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/net/pki"

	"github.com/weirmq/weir/net/tlsutil"
	"github.com/weirmq/weir/net/transport"
	"github.com/weirmq/weir/net/wire"
	"github.com/weirmq/weir/sm"
)

// wait bounds what should happen at once on loopback, generously so a loaded
// machine does not make tests flaky.
const wait = 10 * time.Second

// fakeCluster is brokers on real loopback QUIC transports that share one
// metadata state and one log per partition. Each answers MetadataRequest
// with a Full delta, ProduceRequest by appending (if it leads the
// partition), FetchRequest by reading; hooks override answers.
type fakeCluster struct {
	t       testing.TB
	certDir string
	brokers map[sm.NodeID]*fakeBroker

	mu         sync.Mutex
	version    uint64
	topics     map[string]sm.TopicInfo
	parts      map[sm.TopicPartition]sm.PartitionState
	logs       map[sm.TopicPartition][]sm.Batch
	produces   []seenProduce
	fetches    []seenFetch
	metaReqs   int
	offsetReqs []seenOffsets
	noMetadata map[sm.NodeID]bool // answer NOT_LEADER, as a broker without metadata does
	// Hooks run with mu held; returning true means "answered with resp".
	// A nil response with true means "no answer at all".
	onProduce func(self sm.NodeID, req sm.ProduceRequest) (sm.Message, bool)
	onFetch   func(self sm.NodeID, req sm.FetchRequest) (sm.Message, bool)
	// groups hosts the group coordinators (fakegroup_test.go).
	groups fakeGroups
	// producers is the leaders' idempotence state (fakeidem_test.go);
	// lastPID the last producer ID handed out.
	producers map[fakeProducerKey]*fakeProducerState
	lastPID   int64

	// revoked is the brokers' Config.Revoked set, under its own lock:
	// the transports consult it at handshakes, hooks may change it.
	revMu   sync.Mutex
	revoked map[string]bool
}

type fakeBroker struct {
	id   sm.NodeID
	tr   *transport.Transport
	addr string
}

type seenProduce struct {
	broker sm.NodeID
	req    sm.ProduceRequest
}

type seenOffsets struct {
	broker sm.NodeID
	req    sm.ListOffsetsRequest
}

// listOffsetsLocked answers as a leader does: log start 0, the high
// watermark and the log end both at the log's end.
func (f *fakeCluster) listOffsetsLocked(self sm.NodeID, req sm.ListOffsetsRequest) sm.ListOffsetsResponse {
	resp := sm.ListOffsetsResponse{ReqID: req.ReqID, TP: req.TP}
	st, ok := f.parts[req.TP]
	switch {
	case !ok:
		resp.Code = sm.CodeUnknownTopic
	case st.Leader != self:
		resp.Code, resp.LeaderHint = sm.CodeNotLeader, st.Leader
	default:
		end := f.endLocked(req.TP)
		resp.HighWatermark, resp.LogEnd, resp.LeaderEpoch, resp.LeaderHint = end, end, st.LeaderEpoch, self
	}
	return resp
}

type seenFetch struct {
	broker sm.NodeID
	req    sm.FetchRequest
}

// newFakeCluster starts brokers with a fresh CA and certificates in
// t.TempDir(), including the client certificate "client-test".
func newFakeCluster(t testing.TB, ids ...sm.NodeID) *fakeCluster {
	t.Helper()
	dir := t.TempDir()
	ca, err := tlsutil.GenerateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"client-test"}
	for _, id := range ids {
		names = append(names, transport.CertName(wire.RoleBroker, id))
	}
	for _, name := range names {
		if _, err := tlsutil.IssueCert(ca, name, []string{"127.0.0.1", "localhost"}); err != nil {
			t.Fatal(err)
		}
	}
	f := &fakeCluster{
		t: t, certDir: dir, brokers: map[sm.NodeID]*fakeBroker{},
		version: 1, topics: map[string]sm.TopicInfo{}, parts: map[sm.TopicPartition]sm.PartitionState{},
		logs: map[sm.TopicPartition][]sm.Batch{}, noMetadata: map[sm.NodeID]bool{},
		producers: map[fakeProducerKey]*fakeProducerState{}, lastPID: 1000,
		groups: fakeGroups{start: time.Now(), delay: 50 * sm.Millisecond},
	}
	for _, id := range ids {
		f.startBroker(id)
	}
	return f
}

func (f *fakeCluster) startBroker(id sm.NodeID) {
	t := f.t
	paths := tlsutil.PathsFor(f.certDir, transport.CertName(wire.RoleBroker, id))
	server, err := tlsutil.LoadServerConfig(paths)
	if err != nil {
		t.Fatal(err)
	}
	client, err := tlsutil.LoadClientConfig(paths)
	if err != nil {
		t.Fatal(err)
	}
	b := &fakeBroker{id: id}
	b.tr, err = transport.New(transport.Config{
		Self: id, Role: wire.RoleBroker, Listen: "127.0.0.1:0",
		ServerTLS: server, ClientTLS: client,
		Deliver: func(from transport.Peer, m sm.Message) { f.handle(b, from.ID, m) },
		Revoked: f.isRevoked,
		Log:     testLogger(t, "broker"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.tr.Close() })
	b.addr = b.tr.Addr().String()
	f.brokers[id] = b
}

func (f *fakeCluster) isRevoked(serial string) bool {
	f.revMu.Lock()
	defer f.revMu.Unlock()
	return f.revoked[serial]
}

// setRevoked revokes (or reinstates) the test client's certificate on
// every broker, closing its live connections as a revocation does.
func (f *fakeCluster) setRevoked(revoked bool) {
	tc, err := TLSFromDir(f.certDir, "client-test")
	if err != nil {
		f.t.Error(err)
		return
	}
	leaf, err := x509.ParseCertificate(tc.Certificates[0].Certificate[0])
	if err != nil {
		f.t.Error(err)
		return
	}
	f.revMu.Lock()
	if f.revoked == nil {
		f.revoked = map[string]bool{}
	}
	f.revoked[pki.SerialString(leaf.SerialNumber)] = revoked
	f.revMu.Unlock()
	for _, b := range f.brokers {
		b.tr.CloseRevoked()
	}
}

func testLogger(t testing.TB, who string) zerolog.Logger {
	if !testing.Verbose() {
		return zerolog.Nop()
	}
	return zerolog.New(zerolog.NewTestWriter(t)).With().Str("who", who).Logger()
}

// clientConfig is a Config for this cluster with test-sized timeouts.
func (f *fakeCluster) clientConfig(brokers ...string) Config {
	f.t.Helper()
	tc, err := TLSFromDir(f.certDir, "client-test")
	if err != nil {
		f.t.Fatal(err)
	}
	if len(brokers) == 0 {
		for _, id := range slices.Sorted(maps.Keys(f.brokers)) {
			brokers = append(brokers, f.brokers[id].addr)
		}
	}
	return Config{
		Brokers: brokers, TLS: tc,
		RequestTimeout: 2 * time.Second, DialTimeout: 500 * time.Millisecond,
		Backoff: BackoffConfig{Min: 5 * time.Millisecond, Max: 50 * time.Millisecond},
	}
}

// newClient connects a client to f, closed at the end of the test.
func (f *fakeCluster) newClient(cfg Config) *Client {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := NewClient(ctx, cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { c.Close() })
	return c
}

// newProducer and newConsumer make one or end the test.
func newProducer(t testing.TB, c *Client, cfg ProducerConfig) *Producer {
	t.Helper()
	p, err := c.NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newConsumer(t testing.TB, c *Client, cfg ConsumerConfig) *Consumer {
	t.Helper()
	k, err := c.NewConsumer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// createTopic adds a topic whose partition i is led by leaders[i%len].
func (f *fakeCluster) createTopic(name string, partitions int32, leaders ...sm.NodeID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.topics[name] = sm.TopicInfo{Name: name, Partitions: partitions, ReplicationFactor: 1}
	for i := range partitions {
		tp := sm.TopicPartition{Topic: name, Partition: i}
		l := leaders[int(i)%len(leaders)]
		f.parts[tp] = sm.PartitionState{TP: tp, Replicas: []sm.NodeID{l}, Leader: l, LeaderEpoch: 1, ISR: []sm.NodeID{l}, PartitionEpoch: 1}
	}
	f.version++
}

// moveLeader makes to the leader of tp, in a new epoch.
func (f *fakeCluster) moveLeader(tp sm.TopicPartition, to sm.NodeID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.parts[tp]
	st.Leader, st.Replicas, st.ISR = to, []sm.NodeID{to}, []sm.NodeID{to}
	st.LeaderEpoch++
	st.PartitionEpoch++
	f.parts[tp] = st
	f.version++
}

func (f *fakeCluster) setOnProduce(hook func(self sm.NodeID, req sm.ProduceRequest) (sm.Message, bool)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onProduce = hook
}

func (f *fakeCluster) producesSeen() []seenProduce {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.produces)
}

func (f *fakeCluster) fetchesSeen() []seenFetch {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.fetches)
}

func (f *fakeCluster) metadataRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.metaReqs
}

// logOf returns the records of tp's log, in offset order.
func (f *fakeCluster) logOf(tp sm.TopicPartition) []sm.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sm.Record
	for _, b := range f.logs[tp] {
		out = append(out, b.Records...)
	}
	return out
}

func (f *fakeCluster) handle(b *fakeBroker, from sm.NodeID, m sm.Message) {
	f.mu.Lock()
	if out, ok := f.groupRequestLocked(b, from, m); ok {
		f.mu.Unlock()
		f.send(out)
		return
	}
	var reply sm.Message
	answered := false
	switch r := m.(type) {
	case sm.MetadataRequest:
		f.metaReqs++
		if f.noMetadata[b.id] {
			reply = sm.MetadataResponse{ReqID: r.ReqID, Code: sm.CodeNotLeader}
		} else {
			reply = sm.MetadataResponse{ReqID: r.ReqID, Delta: f.deltaLocked(r.SinceVersion)}
		}
	case sm.ProduceRequest:
		f.produces = append(f.produces, seenProduce{b.id, r})
		if f.onProduce != nil {
			reply, answered = f.onProduce(b.id, r)
		}
		if !answered {
			reply = f.produceLocked(b.id, r)
		}
	case sm.FetchRequest:
		f.fetches = append(f.fetches, seenFetch{b.id, r})
		if f.onFetch != nil {
			reply, answered = f.onFetch(b.id, r)
		}
		if !answered {
			reply = f.fetchLocked(b.id, r)
		}
	case sm.ListOffsetsRequest:
		f.offsetReqs = append(f.offsetReqs, seenOffsets{b.id, r})
		reply = f.listOffsetsLocked(b.id, r)
	case sm.InitProducerIDRequest:
		f.lastPID++
		reply = sm.InitProducerIDResponse{ReqID: r.ReqID, ProducerID: f.lastPID}
	default:
		f.t.Errorf("fake broker %v: unexpected %T from %v", b.id, m, from)
	}
	f.mu.Unlock()
	if reply != nil {
		b.tr.Send([]sm.Envelope{{To: from, Msg: reply}})
	}
}

// deltaLocked answers as a broker does: everything, or nothing new.
func (f *fakeCluster) deltaLocked(since uint64) sm.MetadataDelta {
	if since >= f.version {
		return sm.MetadataDelta{FromVersion: since, ToVersion: since}
	}
	d := sm.MetadataDelta{ToVersion: f.version, Full: true}
	for _, id := range slices.Sorted(maps.Keys(f.brokers)) {
		d.Brokers = append(d.Brokers, sm.BrokerInfo{ID: id, Incarnation: 1, Host: f.brokers[id].addr})
	}
	for _, name := range slices.Sorted(maps.Keys(f.topics)) {
		d.Topics = append(d.Topics, f.topics[name])
	}
	for _, tp := range slices.SortedFunc(maps.Keys(f.parts), sm.CompareTP) {
		d.Partitions = append(d.Partitions, f.parts[tp])
	}
	return d
}

func (f *fakeCluster) endLocked(tp sm.TopicPartition) sm.Offset {
	if bs := f.logs[tp]; len(bs) > 0 {
		return bs[len(bs)-1].NextOffset()
	}
	return 0
}

func (f *fakeCluster) produceLocked(self sm.NodeID, req sm.ProduceRequest) sm.ProduceResponse {
	resp := sm.ProduceResponse{ReqID: req.ReqID, TP: req.TP}
	st, ok := f.parts[req.TP]
	switch {
	case !ok:
		resp.Code = sm.CodeUnknownTopic
		return resp
	case st.Leader != self:
		resp.Code, resp.LeaderHint, resp.Message = sm.CodeNotLeader, st.Leader, "not the leader"
		return resp
	}
	if req.Idempotent {
		if code, base, msg := f.checkSequenceLocked(req); code != sm.CodeOK {
			resp.Code, resp.BaseOffset, resp.Message, resp.LeaderEpoch, resp.LeaderHint = code, base, msg, st.LeaderEpoch, self
			return resp
		}
	}
	b := sm.Batch{BaseOffset: f.endLocked(req.TP), Epoch: st.LeaderEpoch, Records: slices.Clone(req.Records)}
	switch {
	case req.Block != nil:
		// Stored as sent, as a broker does (format 2).
		b = sm.Batch{BaseOffset: b.BaseOffset, Epoch: b.Epoch, V2: true, Codec: req.Codec, Count: req.Count, Block: slices.Clone(req.Block),
			BlockCRC: req.BlockCRC, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, CreateTime: true}
		if req.Codec == sm.CodecNone {
			recs, err := sm.DecodeRecords(b.Block, int(b.Count))
			if err != nil {
				resp.Code, resp.Message = sm.CodeCorruptMessage, err.Error()
				return resp
			}
			b.Records = recs
		}
	case sm.NeedsV2(req.Records):
		nb := sm.NewBatchV2(b.Records)
		nb.BaseOffset, nb.Epoch, nb.CreateTime = b.BaseOffset, b.Epoch, true
		b = nb
	}
	if req.Idempotent {
		b.ProducerID, b.ProducerEpoch, b.BaseSequence = req.ProducerID, req.ProducerEpoch, req.BaseSequence
		f.recordSequenceLocked(req, b.BaseOffset)
	}
	b.Seal()
	f.logs[req.TP] = append(f.logs[req.TP], b)
	resp.BaseOffset, resp.LeaderEpoch, resp.LeaderHint = b.BaseOffset, st.LeaderEpoch, self
	return resp
}

func (f *fakeCluster) fetchLocked(self sm.NodeID, req sm.FetchRequest) sm.FetchResponse {
	resp := sm.FetchResponse{ReqID: req.ReqID, TP: req.TP}
	st, ok := f.parts[req.TP]
	if !ok {
		resp.Code = sm.CodeUnknownTopic
		return resp
	}
	resp.LeaderEpoch, resp.LeaderHint = st.LeaderEpoch, st.Leader
	end := f.endLocked(req.TP)
	switch {
	case st.Leader != self:
		resp.Code = sm.CodeNotLeader
	case req.CurrentLeaderEpoch > st.LeaderEpoch:
		resp.Code = sm.CodeUnknownLeaderEpoch
	case req.Offset < 0 || req.Offset > end:
		resp.Code, resp.HighWatermark, resp.Message = sm.CodeOffsetOutOfRange, end, "offset outside [0, high watermark]"
	default:
		resp.HighWatermark = end
		n := 0
		for _, b := range f.logs[req.TP] {
			if b.NextOffset() <= req.Offset {
				continue
			}
			if req.MaxRecords > 0 && n >= int(req.MaxRecords) {
				break
			}
			resp.Batches = append(resp.Batches, b)
			n += len(b.Records)
		}
	}
	return resp
}

// blackHole is a UDP address that swallows every packet: a dial to it hangs
// until its timeout.
func blackHole(t testing.TB) string {
	hole, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hole.Close() })
	return hole.LocalAddr().String()
}

// eventually polls cond until it holds.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}
