package broker_test

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/weirmq/weir/io/codec"
	"github.com/weirmq/weir/runtime/testkit"
	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/broker"
	"github.com/weirmq/weir/sm/partition"
	"pgregory.net/rapid"
)

// TestBrokerNodeProperty is the broker node's state-machine property test:
// three broker processes (101..103) with in-memory disks (durable and
// volatile bytes; a completion is durable when the operation syncs), a
// message pool the test delivers in any order, and a fake controller the
// test drives: it registers brokers (fencing an older incarnation), answers
// heartbeats with full or incremental metadata deltas, and applies AlterISR
// by the real rules. Random actions produce (every ack level, from three
// clients), consume, deliver, drop and duplicate messages, complete disk
// operations, move time, crash brokers (losing pending disk operations, bar
// a possibly torn first one, and everything in flight to them) and restart
// them with a new incarnation from their durable bytes, move leadership to
// another live ISR member, fence brokers, push metadata, and create and
// delete a second topic. After every action ("") it checks that:
//   - every node's own invariants hold;
//   - records below any replica's high watermark agree across replicas and
//     never change (one global committed map, fed also by durable acks and
//     consumer reads);
//   - a produce acknowledged at majority, all or custom(2) is at its offset
//     on every ISR member whose high watermark passed it, and with every
//     other committed record in the controller's leader's log;
//   - the high watermark consumer fetches report never goes back, within a
//     leader epoch or across epochs;
//   - no two brokers (or incarnations) lead one partition in one epoch, and
//     a broker leads only an epoch the controller gave it.
//
// A run alternates one to four such safety phases with healing: everyone
// restarts, every message and disk operation completes and time runs, and
// the world must converge (one leader per partition, in sync with every
// replica, deleted topics gone from every broker and disk) with every
// durable ack readable from the leader.
//
// BROKER_PROP_TRACE=1 logs every action and the world after it.
func TestBrokerNodeProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := newPropWorld(t)
		for range rapid.IntRange(1, 4).Draw(t, "rounds") {
			t.Repeat(w.actions())
			w.heal()
		}
	})
}

var propTrace = os.Getenv("BROKER_PROP_TRACE") != ""

var propBrokers = []sm.NodeID{101, 102, 103}

// propAckLevels are the ack levels producers draw from.
var propAckLevels = []sm.Acks{
	{Kind: sm.AckNone}, {Kind: sm.AckLeader}, {Kind: sm.AckMajority},
	{Kind: sm.AckAll}, {Kind: sm.AckCustom, N: 2},
}

// propNode is one broker process in its testkit host, and its disk
// (testkit.Disk: what reads see is what completed operations left; a crash
// here is a power loss and keeps only what synced). The node's messages go
// to out, from where flush binds them to incarnations (propMsg). n is nil
// while the process is down.
type propNode struct {
	id   sm.NodeID
	inc  uint64
	n    *broker.Node
	host *testkit.Host
	disk *testkit.Disk
	out  *testkit.Network
}

// pending is the disk operations issued and not yet completed.
func (nd *propNode) pending() []sm.LogOp { return nd.disk.Pending() }

// propMsg is a message in flight. toInc binds a message for a broker to one
// process: the one running when it was sent, or for a response the one that
// sent the request. A restarted process never receives it (its connections
// died with the old one).
type propMsg struct {
	env     sm.Envelope
	fromInc uint64
	toInc   uint64
}

type propTPEpoch struct {
	tp    sm.TopicPartition
	epoch sm.Epoch
}

type propLeader struct {
	id  sm.NodeID
	inc uint64
}

// propRec is a record as the checks compare it: its value and the epoch of
// the batch holding it.
type propRec struct {
	epoch sm.Epoch
	value string
}

// propHWRange is the lowest and highest high watermark consumer fetches
// reported in one leader epoch.
type propHWRange struct{ lo, hi sm.Offset }

type propProduce struct {
	tp     sm.TopicPartition
	acks   sm.Acks
	values []string
}

// propAck is a produce acknowledged at a durable ack level.
type propAck struct {
	reqID  uint64
	tp     sm.TopicPartition
	base   sm.Offset
	epoch  sm.Epoch
	acks   sm.Acks
	values []string
}

// propKnobs are configuration choices drawn once per run (swarm testing):
// short ack timeouts, a small replication lag limit, small batches and
// fetches.
type propKnobs struct {
	ackTimeout sm.Duration
	maxLag     int64
	small      bool
}

type propWorld struct {
	t     *rapid.T
	knobs propKnobs
	clock *testkit.Clock
	nodes map[sm.NodeID]*propNode
	ctrl  *propCtrl
	pool  []propMsg

	reqSeq    uint64
	produces  map[uint64]propProduce
	acked     []propAck
	committed map[sm.TopicPartition]map[sm.Offset]propRec
	leaders   map[propTPEpoch]propLeader // who was seen leading (tp, epoch)
	fetchHW   map[sm.TopicPartition]map[sm.Epoch]propHWRange
	maxHW     map[sm.TopicPartition]sm.Offset
	// consumerEpoch is the newest leader epoch a consumer has seen per
	// partition; its fetches carry it.
	consumerEpoch map[sm.TopicPartition]sm.Epoch
}

func newPropWorld(t *rapid.T) *propWorld {
	w := &propWorld{
		t: t, clock: testkit.NewClock(sm.Time(sm.Second)), nodes: map[sm.NodeID]*propNode{}, ctrl: newPropCtrl(),
		produces: map[uint64]propProduce{}, committed: map[sm.TopicPartition]map[sm.Offset]propRec{},
		leaders: map[propTPEpoch]propLeader{}, fetchHW: map[sm.TopicPartition]map[sm.Epoch]propHWRange{},
		maxHW: map[sm.TopicPartition]sm.Offset{}, consumerEpoch: map[sm.TopicPartition]sm.Epoch{},
	}
	w.knobs = propKnobs{
		ackTimeout: rapid.SampledFrom([]sm.Duration{5 * sm.Second, sm.Second, 300 * sm.Millisecond}).Draw(t, "ack timeout"),
		maxLag:     rapid.SampledFrom([]int64{1000, 0, 3}).Draw(t, "max replication lag"),
		small:      rapid.Bool().Draw(t, "small batches"),
	}
	minISR := rapid.SampledFrom([]int32{0, 1, 2, 3}).Draw(t, "t0 minISR")
	w.ctrl.createTopic("t0", 1, minISR)
	for _, id := range propBrokers {
		nd := &propNode{id: id, disk: testkit.NewDisk(), out: &testkit.Network{}}
		nd.host = testkit.NewHost(t, w.clock, testkit.NewEnv(id, nd.disk, nd.out))
		nd.host.After = func() { w.flush(nd) }
		w.nodes[id] = nd
		w.start(id)
	}
	if rapid.Bool().Draw(t, "bootstrap") {
		w.settle(300 * sm.Millisecond) // registered, leaders known, fetches parked
	}
	return w
}

// actions maps each action to its handler. t.Repeat draws keys with a
// bias toward the first in sort order, and an action's weight is how many
// keys it gets; names are chosen so that deliveries and disk completions
// come first and rarer events (kill, topic) later.
func (w *propWorld) actions() map[string]func(*rapid.T) {
	table := []struct {
		name   string
		weight int
		do     func(*rapid.T)
	}{
		{"deliver", 4, w.actDeliver},
		{"disk", 3, w.actDisk},
		{"drop", 1, w.actDrop},
		{"dup", 1, w.actDup},
		{"elect", 1, w.actElect},
		{"fence", 1, w.actFence},
		{"fetch", 2, w.actFetch},
		{"kill", 1, w.actKill},
		{"metadata", 1, w.actMetadata},
		{"produce", 4, w.actProduce},
		{"pump", 3, w.actPump},
		{"remove", 1, w.actRemove},
		{"restart", 1, w.actRestart},
		{"settle", 2, w.actSettle},
		{"tick", 2, w.actTick},
		{"topic", 1, w.actTopic},
	}
	m := map[string]func(*rapid.T){"": func(*rapid.T) { w.check() }}
	for _, a := range table {
		for i := range a.weight {
			key := a.name
			if i > 0 {
				key = fmt.Sprintf("%s#%d", a.name, i+1)
			}
			do, name := a.do, a.name
			m[key] = func(t *rapid.T) {
				do(t)
				if propTrace {
					w.dump(name)
				}
			}
		}
	}
	return m
}

// ---- actions ---------------------------------------------------------------

// actProduce sends a produce to the partition's leader (or, as a client with
// stale metadata would, to any broker).
func (w *propWorld) actProduce(t *rapid.T) {
	tp := rapid.SampledFrom(w.ctrl.tps()).Draw(t, "tp")
	acks := rapid.SampledFrom(propAckLevels).Draw(t, "acks")
	n := rapid.IntRange(1, 3).Draw(t, "records")
	to := w.ctrl.parts[tp].st.Leader
	if to == sm.NoNode || rapid.IntRange(0, 3).Draw(t, "misroute") == 0 {
		to = rapid.SampledFrom(propBrokers).Draw(t, "to")
	}
	client := client + sm.NodeID(rapid.IntRange(0, 2).Draw(t, "client"))
	w.reqSeq++
	timeout := rapid.SampledFrom([]sm.Duration{0, 0, 200 * sm.Millisecond}).Draw(t, "timeout")
	req := sm.ProduceRequest{ReqID: w.reqSeq, TP: tp, Acks: acks, Timeout: timeout}
	var values []string
	for i := range n {
		v := fmt.Sprintf("r%d.%d", w.reqSeq, i)
		values = append(values, v)
		req.Records = append(req.Records, sm.Record{Value: []byte(v)})
	}
	// Now and then a format-2 batch: records with a header, as a records
	// block, uncompressed or compressed (stored as sent, never cut).
	switch rapid.IntRange(0, 5).Draw(t, "format") {
	case 0:
		for i := range req.Records {
			req.Records[i].Headers = []sm.Header{{Key: "h", Value: []byte{byte(i)}}}
		}
	case 1:
		c := rapid.SampledFrom([]sm.Codec{sm.CodecNone, sm.CodecLZ4, sm.CodecSnappy}).Draw(t, "codec")
		block := sm.EncodeRecords(nil, req.Records)
		if c != sm.CodecNone {
			block, _ = codec.Codecs{}.Compress(c, block)
		}
		req.Records, req.Codec, req.Block, req.Count, req.BlockCRC = nil, c, block, int32(n), sm.BlockChecksum(block)
	}
	w.produces[req.ReqID] = propProduce{tp: tp, acks: acks, values: values}
	w.send(sm.Envelope{From: client, To: to, Msg: req}, 0, 0)
}

// actFetch sends a consumer fetch carrying the newest epoch it has seen.
func (w *propWorld) actFetch(t *rapid.T) {
	tp := rapid.SampledFrom(w.ctrl.tps()).Draw(t, "tp")
	to := w.ctrl.parts[tp].st.Leader
	if to == sm.NoNode || rapid.IntRange(0, 3).Draw(t, "misroute") == 0 {
		to = rapid.SampledFrom(propBrokers).Draw(t, "to")
	}
	off := sm.Offset(rapid.Int64Range(0, int64(w.maxHW[tp])+1).Draw(t, "offset"))
	w.reqSeq++
	req := sm.FetchRequest{ReqID: w.reqSeq, TP: tp, Offset: off, CurrentLeaderEpoch: w.consumerEpoch[tp]}
	w.send(sm.Envelope{From: consumer, To: to, Msg: req}, 0, 0)
}

// actDeliver delivers a few messages picked at random: any order.
func (w *propWorld) actDeliver(t *rapid.T) {
	if len(w.pool) == 0 {
		t.Skip("nothing in flight")
	}
	for range rapid.IntRange(1, 6).Draw(t, "count") {
		if len(w.pool) == 0 {
			return
		}
		i := rapid.IntRange(0, len(w.pool)-1).Draw(t, "msg")
		full := false
		if _, ok := w.pool[i].env.Msg.(sm.BrokerHeartbeat); ok && w.pool[i].env.To == ctrl1 {
			full = rapid.Bool().Draw(t, "full")
		}
		m := w.pool[i]
		w.pool = slices.Delete(w.pool, i, i+1)
		w.deliver(m, full)
	}
}

// actPump runs a few rounds of everything, without moving time: in each,
// every issued disk operation completes, then every message in flight is
// delivered in order.
func (w *propWorld) actPump(t *rapid.T) {
	for range rapid.IntRange(1, 4).Draw(t, "rounds") {
		for _, id := range propBrokers {
			for nd := w.nodes[id]; nd.n != nil && len(nd.pending()) > 0; {
				w.completeDisk(nd)
			}
		}
		batch := w.pool
		w.pool = nil
		for _, m := range batch {
			w.deliver(m, false)
		}
	}
}

// actSettle is a fault-free period: everything in flight is delivered and
// every disk operation completes while time runs (timers fire).
func (w *propWorld) actSettle(t *rapid.T) {
	w.settle(sm.Duration(rapid.Int64Range(20, 400).Draw(t, "ms")) * sm.Millisecond)
}

func (w *propWorld) actDrop(t *rapid.T) {
	if len(w.pool) == 0 {
		t.Skip("nothing in flight")
	}
	i := rapid.IntRange(0, len(w.pool)-1).Draw(t, "msg")
	w.pool = slices.Delete(w.pool, i, i+1)
}

// actDup duplicates a message between servers (client traffic rides
// per-request streams and is never duplicated).
func (w *propWorld) actDup(t *rapid.T) {
	var idx []int
	for i, m := range w.pool {
		if w.server(m.env.From) && w.server(m.env.To) {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		t.Skip("no server message in flight")
	}
	i := rapid.SampledFrom(idx).Draw(t, "msg")
	w.pool = append(w.pool, w.pool[i])
}

func (w *propWorld) actDisk(t *rapid.T) {
	var busy []sm.NodeID
	for _, id := range propBrokers {
		if nd := w.nodes[id]; nd.n != nil && len(nd.pending()) > 0 {
			busy = append(busy, id)
		}
	}
	if len(busy) == 0 {
		t.Skip("no disk operation pending")
	}
	nd := w.nodes[rapid.SampledFrom(busy).Draw(t, "broker")]
	for range rapid.IntRange(1, 4).Draw(t, "ops") {
		if nd.n == nil || len(nd.pending()) == 0 {
			return
		}
		w.completeDisk(nd)
	}
}

func (w *propWorld) actTick(t *rapid.T) {
	w.clock.Advance(sm.Duration(rapid.Int64Range(1, 500).Draw(t, "ms")) * sm.Millisecond)
	w.fire()
}

// actKill crashes a broker: its pending disk operations are lost (the first
// may have reached the disk, in part), and so is everything in flight to
// it. It restarts at once or (one time in four) stays down until
// "restart".
func (w *propWorld) actKill(t *rapid.T) {
	var alive []sm.NodeID
	for _, id := range propBrokers {
		if w.nodes[id].n != nil {
			alive = append(alive, id)
		}
	}
	if len(alive) < 2 {
		t.Skip("keep one broker up")
	}
	nd := w.nodes[rapid.SampledFrom(alive).Draw(t, "broker")]
	reached := 0
	if pending := nd.pending(); len(pending) > 0 {
		most := 1
		if op := pending[0]; op.Kind == sm.LogAppend {
			most = len(op.Data)
		}
		reached = rapid.IntRange(0, most).Draw(t, "reached")
	}
	w.crash(nd, reached)
	if rapid.IntRange(0, 3).Draw(t, "stay down") != 3 {
		w.start(nd.id)
	}
}

func (w *propWorld) actRestart(t *rapid.T) {
	var dead []sm.NodeID
	for _, id := range propBrokers {
		if w.nodes[id].n == nil {
			dead = append(dead, id)
		}
	}
	if len(dead) == 0 {
		t.Skip("every broker is up")
	}
	w.start(rapid.SampledFrom(dead).Draw(t, "broker"))
}

// actElect moves a partition's leadership to another live ISR member.
func (w *propWorld) actElect(t *rapid.T) {
	tp := rapid.SampledFrom(w.ctrl.tps()).Draw(t, "tp")
	st := w.ctrl.parts[tp].st
	var cands []sm.NodeID
	for _, id := range st.ISR {
		if id != st.Leader && w.ctrl.alive(id) {
			cands = append(cands, id)
		}
	}
	if len(cands) == 0 {
		return
	}
	w.ctrl.elect(tp, rapid.SampledFrom(cands).Draw(t, "leader"))
}

// actFence expires a broker's session (it crashed, or its heartbeats were
// lost): it leaves every ISR it is not the last member of, and its
// partitions elect new leaders.
func (w *propWorld) actFence(t *rapid.T) {
	var live []sm.NodeID
	for _, id := range propBrokers {
		if w.ctrl.alive(id) {
			live = append(live, id)
		}
	}
	if len(live) == 0 {
		t.Skip("no live broker")
	}
	w.ctrl.fence(rapid.SampledFrom(live).Draw(t, "broker"))
}

// actMetadata hands a broker a heartbeat answer now: a delta since the
// version of its last heartbeat, or the full state. It is how a broker
// sees metadata showing itself fenced (sm/controller re-registers a fenced
// broker before answering its heartbeat), an input the broker must handle
// by leading nothing (see Registered).
func (w *propWorld) actMetadata(t *rapid.T) {
	var alive []sm.NodeID
	for _, id := range propBrokers {
		if w.nodes[id].n != nil {
			alive = append(alive, id)
		}
	}
	nd := w.nodes[rapid.SampledFrom(alive).Draw(t, "broker")]
	since := w.ctrl.lastSeen[nd.id]
	if rapid.Bool().Draw(t, "full") {
		since = 0
	}
	resp := sm.BrokerHeartbeatResponse{Incarnation: nd.inc, Code: sm.CodeOK, LeaderHint: ctrl1, Delta: w.ctrl.delta(since), SessionTimeout: sm.Second, SentAt: w.now()}
	w.step(nd, sm.Received{From: ctrl1, Msg: resp})
}

// actTopic creates a second topic (two partitions, leaders on 102 and 103)
// once every broker is registered and live, as the real controller
// requires. Names are never reused (see the package's known limit).
func (w *propWorld) actTopic(t *rapid.T) {
	if len(w.ctrl.topics) > 1 {
		t.Skip("a second topic exists")
	}
	for _, id := range propBrokers {
		if !w.ctrl.alive(id) {
			t.Skip("replication factor 3 needs three live brokers")
		}
	}
	name := fmt.Sprintf("t%d", len(w.ctrl.tombstones)+1)
	w.ctrl.createTopic(name, 2, rapid.SampledFrom([]int32{0, 1, 2, 3}).Draw(t, "minISR"))
}

// actRemove deletes the second topic: brokers drop its replicas and logs,
// and its acks promise nothing any more.
func (w *propWorld) actRemove(t *rapid.T) {
	for _, name := range slices.Sorted(maps.Keys(w.ctrl.topics)) {
		if name != "t0" {
			w.ctrl.deleteTopic(name)
			return
		}
	}
	t.Skip("no topic to delete")
}

// ---- processes, disks and the network --------------------------------------

// start runs a new incarnation of id from its disk; the host kicks it with
// its first TimerFired, as the runtime does, so it arms its first timer.
func (w *propWorld) start(id sm.NodeID) {
	nd := w.nodes[id]
	nd.inc++
	n, err := broker.New(w.config(id, nd.inc), nd.disk.Durable())
	if err != nil {
		w.t.Fatalf("start %v: %v", id, err)
	}
	nd.n = n
	nd.host.Start(n)
}

func (w *propWorld) now() sm.Time { return w.clock.Now() }

// config is the harness's test configuration with this run's knobs.
func (w *propWorld) config(id sm.NodeID, inc uint64) broker.Config {
	cfg := testConfig(id, inc)
	cfg.AckTimeout, cfg.MaxReplicationLag = w.knobs.ackTimeout, w.knobs.maxLag
	if w.knobs.small {
		// A replica fetch then carries a few batches, a consumer fetch a
		// few records.
		cfg.MaxRecordBytes, cfg.MaxBatchBytes, cfg.FetchMaxRecords = 32, 96, 4
	}
	return cfg
}

// crash stops nd as a power loss does (testkit.Disk.PowerLoss): what
// survives is its synced bytes, plus reached bytes (or, for a truncate or
// delete, the whole effect) of the first pending operation when its file
// had no unsynced data.
func (w *propWorld) crash(nd *propNode, reached int) {
	nd.disk.PowerLoss(reached) // before the host's crash drops what is pending
	nd.host.Crash(0)
	nd.n = nil
	nd.out.Queue = nil
	w.pool = slices.DeleteFunc(w.pool, func(m propMsg) bool { return m.env.To == nd.id })
}

// completeRead completes nd's oldest log read; false when none is pending.
func (w *propWorld) completeRead(nd *propNode) bool {
	d, ok := nd.disk.CompleteRead(sm.OutcomeOK, "")
	if ok {
		w.step(nd, d)
	}
	return ok
}

// completeDisk completes nd's oldest disk operation.
func (w *propWorld) completeDisk(nd *propNode) {
	if !nd.host.CompleteNext(sm.OutcomeOK, "") {
		w.t.Fatalf("%v: no disk operation pending", nd.id)
	}
}

func (w *propWorld) step(nd *propNode, ev sm.Event) {
	nd.host.Handle(ev)
}

// flush runs after every step of nd (the host has executed its effects
// through runtime.Handle and checked its invariants): the process must not
// have stopped, and its messages are observed and put in flight.
func (w *propWorld) flush(nd *propNode) {
	if why := nd.host.Stopped(); why != "" {
		w.t.Fatalf("%v stopped: %s", nd.id, why)
	}
	for _, e := range nd.out.Queue {
		w.observe(nd, e)
		w.send(e, nd.inc, 0)
	}
	nd.out.Queue = nil
}

// send puts e in flight. A message for a broker is bound to the process
// running now (or to bound, the requester's incarnation, for a response);
// nothing reaches a process that is down.
func (w *propWorld) send(e sm.Envelope, fromInc, bound uint64) {
	m := propMsg{env: e, fromInc: fromInc}
	if nd := w.nodes[e.To]; nd != nil {
		if nd.n == nil {
			return
		}
		m.toInc = nd.inc
		if r, ok := e.Msg.(sm.ReplicaFetchResponse); ok {
			m.toInc = r.Incarnation
		}
		if bound != 0 {
			m.toInc = bound
		}
	}
	w.pool = append(w.pool, m)
}

func (w *propWorld) deliver(m propMsg, full bool) {
	e := m.env
	switch {
	case e.To == ctrl1 || e.To == ctrl2:
		w.ctrlReceive(m, full)
	case e.To >= client && e.To <= consumer:
		if r, ok := e.Msg.(sm.FetchResponse); ok && r.Code == sm.CodeOK {
			w.consumerEpoch[r.TP] = max(w.consumerEpoch[r.TP], r.LeaderEpoch)
		}
	default:
		nd := w.nodes[e.To]
		if nd == nil {
			w.t.Fatalf("message to unknown node %v: %T", e.To, e.Msg)
		}
		if nd.n == nil || m.toInc != nd.inc {
			return // the connection died with the process it was bound to
		}
		w.step(nd, sm.Received{From: e.From, Msg: e.Msg})
	}
}

// server reports whether id is a broker or a controller (not a client).
func (w *propWorld) server(id sm.NodeID) bool {
	return w.nodes[id] != nil || id == ctrl1 || id == ctrl2
}

// consumer is the consumer's node ID (producers are client, client+1,
// client+2).
const consumer = client + 10

// fire delivers TimerFired to every broker whose timer is due.
func (w *propWorld) fire() {
	for _, id := range propBrokers {
		if nd := w.nodes[id]; nd.n != nil {
			nd.host.Fire()
		}
	}
}

// quiesce completes every disk operation and delivers every message, in
// order, until nothing is left, without moving time.
func (w *propWorld) quiesce() {
	for range 10000 {
		progressed := false
		for _, id := range propBrokers {
			for nd := w.nodes[id]; nd.n != nil && len(nd.pending()) > 0; {
				w.completeDisk(nd)
				progressed = true
			}
			for nd := w.nodes[id]; nd.n != nil && w.completeRead(nd); {
				progressed = true
			}
		}
		for len(w.pool) > 0 {
			m := w.pool[0]
			w.pool = w.pool[1:]
			w.deliver(m, false)
			progressed = true
		}
		if !progressed {
			return
		}
	}
	w.t.Fatalf("quiesce: no quiescence")
}

// settle quiesces and lets timers run for d of virtual time.
func (w *propWorld) settle(d sm.Duration) {
	end := w.now().Add(d)
	for {
		w.quiesce()
		next := end
		for _, nd := range w.nodes {
			if at := nd.host.Env.TimerAt(); nd.n != nil && at != 0 && at < next {
				next = at // min is order-independent
			}
		}
		if next >= end {
			w.clock.Set(max(w.now(), end))
			w.fire()
			w.quiesce()
			return
		}
		w.clock.Set(max(w.now(), next))
		w.fire()
	}
}

// ---- the fake controller ---------------------------------------------------

type ctrlBroker struct {
	info sm.BrokerInfo
	ver  uint64
}

type ctrlTopic struct {
	info sm.TopicInfo
	ver  uint64
}

type ctrlPart struct {
	st  sm.PartitionState
	ver uint64
}

// propCtrl is controller 1, the leading controller, reduced to its
// metadata: the rules of sm/controller's metadata (register fences an older
// live incarnation; fencing leaves ISRs and elects the first live ISR
// replica; AlterISR needs the current epochs, the leader, live replicas) and
// its deltas (everything changed after a version). Controller 2 is a
// follower that points at it.
type propCtrl struct {
	version  uint64
	brokers  map[sm.NodeID]*ctrlBroker
	topics   map[string]*ctrlTopic
	parts    map[sm.TopicPartition]*ctrlPart
	leaderAt map[propTPEpoch]sm.NodeID // every leader it named, per epoch
	lastSeen map[sm.NodeID]uint64      // metadata version of each broker's last heartbeat
	// tombstones maps a deleted topic to the version that deleted it.
	tombstones map[string]uint64
}

func newPropCtrl() *propCtrl {
	return &propCtrl{
		brokers: map[sm.NodeID]*ctrlBroker{}, topics: map[string]*ctrlTopic{},
		parts: map[sm.TopicPartition]*ctrlPart{}, leaderAt: map[propTPEpoch]sm.NodeID{},
		lastSeen: map[sm.NodeID]uint64{}, tombstones: map[string]uint64{},
	}
}

func (c *propCtrl) touch() uint64 {
	c.version++
	return c.version
}

func (c *propCtrl) tps() []sm.TopicPartition {
	return slices.SortedFunc(maps.Keys(c.parts), sm.CompareTP)
}

func (c *propCtrl) alive(id sm.NodeID) bool {
	b := c.brokers[id]
	return b != nil && !b.info.Fenced
}

func (c *propCtrl) setPart(st sm.PartitionState) {
	st.Replicas, st.ISR = slices.Clone(st.Replicas), slices.Clone(st.ISR)
	key := propTPEpoch{st.TP, st.LeaderEpoch}
	if prev, ok := c.leaderAt[key]; ok && prev != st.Leader {
		panic(fmt.Sprintf("fake controller named %v and %v leaders of %v", prev, st.Leader, key))
	}
	c.leaderAt[key] = st.Leader
	p := c.parts[st.TP]
	if p == nil {
		p = &ctrlPart{}
		c.parts[st.TP] = p
	}
	p.st, p.ver = st, c.touch()
}

// createTopic places partition i's replicas starting at broker i, so the
// leaders spread.
func (c *propCtrl) createTopic(name string, parts int32, minISR int32) {
	c.topics[name] = &ctrlTopic{ver: c.touch(), info: sm.TopicInfo{
		Name: name, Partitions: parts, ReplicationFactor: 3, Config: sm.TopicConfig{MinInSyncReplicas: minISR},
	}}
	for i := range parts {
		var replicas []sm.NodeID
		for j := range propBrokers {
			replicas = append(replicas, propBrokers[(int(i)+j)%len(propBrokers)])
		}
		if name != "t0" {
			replicas = append(replicas[1:], replicas[0])
		}
		c.setPart(sm.PartitionState{
			TP: sm.TopicPartition{Topic: name, Partition: i}, Replicas: replicas,
			Leader: replicas[0], LeaderEpoch: 1, ISR: replicas, PartitionEpoch: 1,
		})
	}
}

func (c *propCtrl) deleteTopic(name string) {
	delete(c.topics, name)
	maps.DeleteFunc(c.parts, func(tp sm.TopicPartition, _ *ctrlPart) bool { return tp.Topic == name })
	c.tombstones[name] = c.touch()
}

// deleted reports whether tp's topic was deleted.
func (c *propCtrl) deleted(tp sm.TopicPartition) bool {
	_, ok := c.tombstones[tp.Topic]
	return ok
}

func (c *propCtrl) register(hb sm.BrokerHeartbeat) {
	b := c.brokers[hb.Broker]
	if b != nil && !b.info.Fenced {
		c.fence(hb.Broker) // a new incarnation replaces a live one
	}
	if b == nil {
		b = &ctrlBroker{}
		c.brokers[hb.Broker] = b
	}
	b.info = sm.BrokerInfo{ID: hb.Broker, Incarnation: hb.Incarnation, Rack: hb.Rack, Host: hb.Host}
	b.ver = c.touch()
	for _, tp := range c.tps() { // offline partitions may elect it now
		st := c.parts[tp].st
		if st.Leader != sm.NoNode || !slices.Contains(st.Replicas, hb.Broker) {
			continue
		}
		if l := c.electable(st); l != sm.NoNode {
			st.Leader, st.LeaderEpoch, st.PartitionEpoch = l, st.LeaderEpoch+1, st.PartitionEpoch+1
			c.setPart(st)
		}
	}
}

func (c *propCtrl) fence(id sm.NodeID) {
	b := c.brokers[id]
	b.info.Fenced = true
	b.ver = c.touch()
	for _, tp := range c.tps() {
		st := c.parts[tp].st
		changed := false
		if len(st.ISR) > 1 && slices.Contains(st.ISR, id) {
			st.ISR = slices.DeleteFunc(slices.Clone(st.ISR), func(r sm.NodeID) bool { return r == id })
			changed = true
		}
		if st.Leader == id {
			st.Leader, st.LeaderEpoch = c.electable(st), st.LeaderEpoch+1
			changed = true
		}
		if changed {
			st.PartitionEpoch++
			c.setPart(st)
		}
	}
}

// electable is the first replica that is live and in the ISR (clean
// elections only).
func (c *propCtrl) electable(st sm.PartitionState) sm.NodeID {
	for _, r := range st.Replicas {
		if c.alive(r) && slices.Contains(st.ISR, r) {
			return r
		}
	}
	return sm.NoNode
}

func (c *propCtrl) elect(tp sm.TopicPartition, leader sm.NodeID) {
	st := c.parts[tp].st
	st.Leader, st.LeaderEpoch, st.PartitionEpoch = leader, st.LeaderEpoch+1, st.PartitionEpoch+1
	c.setPart(st)
}

func (c *propCtrl) heartbeat(hb sm.BrokerHeartbeat, full bool) sm.BrokerHeartbeatResponse {
	b := c.brokers[hb.Broker]
	if b != nil && hb.Incarnation < b.info.Incarnation {
		return sm.BrokerHeartbeatResponse{Incarnation: hb.Incarnation, Code: sm.CodeStaleBrokerEpoch, LeaderHint: ctrl1}
	}
	if b == nil || hb.Incarnation > b.info.Incarnation || b.info.Fenced {
		c.register(hb)
	}
	c.lastSeen[hb.Broker] = hb.MetadataVersion
	since := hb.MetadataVersion
	if full {
		since = 0
	}
	return sm.BrokerHeartbeatResponse{Incarnation: hb.Incarnation, Code: sm.CodeOK, LeaderHint: ctrl1, Delta: c.delta(since), SessionTimeout: sm.Second, SentAt: hb.SentAt}
}

func (c *propCtrl) alterISR(req sm.AlterISRRequest) sm.AlterISRResponse {
	p := c.parts[req.TP]
	resp := sm.AlterISRResponse{ReqID: req.ReqID, TP: req.TP, LeaderHint: ctrl1}
	if p == nil {
		resp.Code = sm.CodeUnknownTopic
		return resp
	}
	st := p.st
	switch {
	case req.LeaderEpoch > st.LeaderEpoch:
		resp.Code = sm.CodeUnknownLeaderEpoch
	case req.Broker != st.Leader || req.LeaderEpoch < st.LeaderEpoch:
		resp.Code = sm.CodeFencedLeaderEpoch
	case req.PartitionEpoch != st.PartitionEpoch:
		resp.Code = sm.CodeStaleRequest
	case !c.validISR(req.ISR, st):
		resp.Code = sm.CodeInvalidRequest
	default:
		st.ISR, st.PartitionEpoch = req.ISR, st.PartitionEpoch+1
		c.setPart(st)
	}
	resp.State = p.st
	resp.State.Replicas, resp.State.ISR = slices.Clone(p.st.Replicas), slices.Clone(p.st.ISR)
	return resp
}

// validISR: non-empty, holds the leader, no duplicates, only live replicas.
func (c *propCtrl) validISR(isr []sm.NodeID, st sm.PartitionState) bool {
	if !slices.Contains(isr, st.Leader) {
		return false
	}
	for i, r := range isr {
		if slices.Contains(isr[:i], r) || !slices.Contains(st.Replicas, r) || !c.alive(r) {
			return false
		}
	}
	return true
}

// delta is everything changed after since (the whole state when since is 0).
func (c *propCtrl) delta(since uint64) sm.MetadataDelta {
	d := sm.MetadataDelta{FromVersion: since, ToVersion: c.version, Full: since == 0}
	for _, id := range slices.Sorted(maps.Keys(c.brokers)) {
		if b := c.brokers[id]; b.ver > since {
			d.Brokers = append(d.Brokers, b.info)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.topics)) {
		if t := c.topics[name]; t.ver > since {
			d.Topics = append(d.Topics, t.info)
		}
	}
	for _, tp := range c.tps() {
		if p := c.parts[tp]; p.ver > since {
			st := p.st
			st.Replicas, st.ISR = slices.Clone(st.Replicas), slices.Clone(st.ISR)
			d.Partitions = append(d.Partitions, st)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.tombstones)) {
		if v := c.tombstones[name]; v > since && !d.Full {
			d.DeletedTopics = append(d.DeletedTopics, name)
		}
	}
	return d
}

// ctrlReceive is a controller answering a broker; the answer travels back on
// the requester's connection.
func (w *propWorld) ctrlReceive(m propMsg, full bool) {
	e := m.env
	reply := func(msg sm.Message) { w.send(sm.Envelope{From: e.To, To: e.From, Msg: msg}, 0, m.fromInc) }
	switch r := e.Msg.(type) {
	case sm.BrokerHeartbeat:
		if e.To == ctrl2 {
			reply(sm.BrokerHeartbeatResponse{Incarnation: r.Incarnation, Code: sm.CodeNotLeader, LeaderHint: ctrl1})
			return
		}
		reply(w.ctrl.heartbeat(r, full))
	case sm.AlterISRRequest:
		if e.To == ctrl2 {
			reply(sm.AlterISRResponse{ReqID: r.ReqID, TP: r.TP, Code: sm.CodeNotLeader, LeaderHint: ctrl1})
			return
		}
		reply(w.ctrl.alterISR(r))
	default:
		w.t.Fatalf("controller %v got %T from %v", e.To, e.Msg, e.From)
	}
}

// ---- the model and its checks ----------------------------------------------

// observe checks what a broker says to clients as it says it: acknowledged
// records are in its log (and, at a durable level, committed), and consumer
// fetches only see committed records below a high watermark that never goes
// back within an epoch.
func (w *propWorld) observe(nd *propNode, e sm.Envelope) {
	switch m := e.Msg.(type) {
	case sm.ProduceResponse:
		if m.Code == sm.CodeOK {
			w.onProduceOK(nd, m)
		}
	case sm.FetchResponse:
		if m.Code == sm.CodeOK {
			w.onFetchOK(nd, m)
		}
	}
}

func (w *propWorld) onProduceOK(nd *propNode, m sm.ProduceResponse) {
	req, ok := w.produces[m.ReqID]
	if !ok || req.tp != m.TP {
		w.t.Fatalf("%v acknowledged unknown produce %d on %v", nd.id, m.ReqID, m.TP)
	}
	log := propRecords(nodeLog(nd.n, nd.disk, m.TP))
	for i, v := range req.values {
		off := m.BaseOffset + sm.Offset(i)
		if int(off) >= len(log) || log[off] != (propRec{m.LeaderEpoch, v}) {
			w.t.Fatalf("%v acknowledged produce %d (%v) at %d, epoch %d, but its log holds %v there", nd.id, m.ReqID, req.acks, off, m.LeaderEpoch, propAt(log, off))
		}
	}
	if !req.acks.Durable() {
		return
	}
	w.acked = append(w.acked, propAck{reqID: m.ReqID, tp: m.TP, base: m.BaseOffset, epoch: m.LeaderEpoch, acks: req.acks, values: req.values})
	for i, v := range req.values {
		w.commit(m.TP, m.BaseOffset+sm.Offset(i), propRec{m.LeaderEpoch, v}, fmt.Sprintf("acked (%v) by %v", req.acks, nd.id))
	}
}

func (w *propWorld) onFetchOK(nd *propNode, m sm.FetchResponse) {
	w.checkFetchHW(nd, m.TP, m.LeaderEpoch, m.HighWatermark)
	w.maxHW[m.TP] = max(w.maxHW[m.TP], m.HighWatermark)
	how := fmt.Sprintf("read from %v below high watermark %d", nd.id, m.HighWatermark)
	for _, b := range m.Batches {
		if !b.Verify() {
			w.t.Fatalf("%v: consumer batch of %v at %d fails its checksum", nd.id, m.TP, b.BaseOffset)
		}
		for i, r := range propDecode(w.t, b) {
			off := b.BaseOffset + sm.Offset(i)
			if off >= m.HighWatermark {
				w.t.Fatalf("%v: consumer got %v offset %d at or above high watermark %d", nd.id, m.TP, off, m.HighWatermark)
			}
			w.commit(m.TP, off, propRec{b.Epoch, string(r.Value)}, how)
		}
	}
}

// checkFetchHW: the high watermark consumers see never goes back, within an
// epoch or across epochs. A new leader answers consumers only once its high
// watermark reaches its log end at election, which holds everything the
// previous epoch ever committed, so every high watermark reported in an
// epoch is at least every one reported in an earlier epoch, even by a
// deposed leader that has not heard yet.
func (w *propWorld) checkFetchHW(nd *propNode, tp sm.TopicPartition, epoch sm.Epoch, hw sm.Offset) {
	ranges := w.fetchHW[tp]
	if ranges == nil {
		ranges = map[sm.Epoch]propHWRange{}
		w.fetchHW[tp] = ranges
	}
	if r, ok := ranges[epoch]; ok && hw < r.hi {
		w.t.Fatalf("%v: consumer high watermark of %v went back from %d to %d in epoch %d", nd.id, tp, r.hi, hw, epoch)
	}
	for _, e := range slices.Sorted(maps.Keys(ranges)) {
		switch r := ranges[e]; {
		case e < epoch && r.hi > hw:
			w.t.Fatalf("%v: consumer high watermark of %v is %d in epoch %d, below %d seen in epoch %d", nd.id, tp, hw, epoch, r.hi, e)
		case e > epoch && r.lo < hw:
			w.t.Fatalf("%v: consumer high watermark of %v is %d in epoch %d, above %d seen in later epoch %d", nd.id, tp, hw, epoch, r.lo, e)
		}
	}
	r, ok := ranges[epoch]
	if !ok {
		r = propHWRange{lo: hw, hi: hw}
	}
	ranges[epoch] = propHWRange{lo: min(r.lo, hw), hi: max(r.hi, hw)}
}

// commit records that (tp, off) holds rec for good; it must never differ.
func (w *propWorld) commit(tp sm.TopicPartition, off sm.Offset, rec propRec, how string) {
	c := w.committed[tp]
	if c == nil {
		c = map[sm.Offset]propRec{}
		w.committed[tp] = c
	}
	if old, ok := c[off]; ok && old != rec {
		w.t.Fatalf("%v offset %d was committed as %v, now %s as %v", tp, off, old, how, rec)
	}
	c[off] = rec
}

// check is the "" action: every invariant, after every step.
func (w *propWorld) check() {
	logs := map[propLeader]map[sm.TopicPartition][]propRec{}
	hws := map[propLeader]map[sm.TopicPartition]sm.Offset{}
	for _, id := range propBrokers {
		nd := w.nodes[id]
		if nd.n == nil {
			continue
		}
		if err := nd.n.CheckInvariants(); err != nil {
			w.t.Fatalf("%v", err)
		}
		key := propLeader{id, nd.inc}
		logs[key], hws[key] = map[sm.TopicPartition][]propRec{}, map[sm.TopicPartition]sm.Offset{}
		for _, s := range nd.n.Partitions() {
			log := propRecords(nodeLog(nd.n, nd.disk, s.TP))
			logs[key][s.TP], hws[key][s.TP] = log, s.HW
			if s.Role == partition.RoleLeader {
				w.checkLeading(nd, s)
			}
			how := fmt.Sprintf("below %v's high watermark %d", id, s.HW)
			for off := range s.HW {
				w.commit(s.TP, off, log[off], how)
			}
		}
	}
	for _, a := range w.acked {
		if !w.ctrl.deleted(a.tp) {
			w.checkAck(a, logs, hws)
		}
	}
	for _, tp := range w.ctrl.tps() {
		w.checkLeaderLog(tp, logs)
	}
}

// checkLeading: one leader per (partition, epoch), the one the controller
// named.
func (w *propWorld) checkLeading(nd *propNode, s broker.PartitionStatus) {
	key := propTPEpoch{s.TP, s.LeaderEpoch}
	me := propLeader{nd.id, nd.inc}
	if prev, ok := w.leaders[key]; ok && prev != me {
		w.t.Fatalf("%v (incarnation %d) and %v (incarnation %d) both lead %v in epoch %d", prev.id, prev.inc, me.id, me.inc, s.TP, s.LeaderEpoch)
	}
	w.leaders[key] = me
	if named := w.ctrl.leaderAt[key]; named != nd.id {
		w.t.Fatalf("%v leads %v in epoch %d, which the controller gave to %v", nd.id, s.TP, s.LeaderEpoch, named)
	}
}

// checkAck: a durable ack is on every ISR member whose high watermark passed
// it.
func (w *propWorld) checkAck(a propAck, logs map[propLeader]map[sm.TopicPartition][]propRec, hws map[propLeader]map[sm.TopicPartition]sm.Offset) {
	for _, id := range w.ctrl.parts[a.tp].st.ISR {
		nd := w.nodes[id]
		key := propLeader{id, nd.inc}
		log, ok := logs[key][a.tp]
		if nd.n == nil || !ok {
			continue
		}
		for i, v := range a.values {
			off := a.base + sm.Offset(i)
			if hws[key][a.tp] > off && propAt(log, off) != (propRec{a.epoch, v}) {
				w.t.Fatalf("produce %d acked (%v) at %v offset %d epoch %d as %s, but isr member %v (high watermark %d) holds %v",
					a.reqID, a.acks, a.tp, off, a.epoch, v, id, hws[key][a.tp], propAt(log, off))
			}
		}
	}
}

// checkLeaderLog: the controller's leader holds every committed record.
func (w *propWorld) checkLeaderLog(tp sm.TopicPartition, logs map[propLeader]map[sm.TopicPartition][]propRec) {
	id := w.ctrl.parts[tp].st.Leader
	nd := w.nodes[id]
	if nd == nil || nd.n == nil {
		return
	}
	log := logs[propLeader{id, nd.inc}][tp]
	for _, off := range slices.Sorted(maps.Keys(w.committed[tp])) {
		if rec := w.committed[tp][off]; propAt(log, off) != rec {
			w.t.Fatalf("%v offset %d is committed as %v, but leader %v (epoch %d) holds %v", tp, off, rec, id, w.ctrl.parts[tp].st.LeaderEpoch, propAt(log, off))
		}
	}
}

// heal restarts every broker and runs the world fault-free until it
// converges, then reads every durable ack back.
func (w *propWorld) heal() {
	for _, id := range propBrokers {
		if w.nodes[id].n == nil {
			w.start(id)
		}
	}
	for range 60 {
		w.settle(500 * sm.Millisecond)
		w.check()
		if w.converged() == "" {
			break
		}
	}
	if why := w.converged(); why != "" {
		w.dump("heal")
		w.t.Fatalf("no convergence 30s after healing: %s", why)
	}
	for _, tp := range w.ctrl.tps() {
		w.readBack(tp)
	}
}

// converged says why the healed world is not yet where it must end, or "".
func (w *propWorld) converged() string {
	for _, id := range propBrokers {
		if !w.nodes[id].n.Registered() {
			return fmt.Sprintf("%v not registered", id)
		}
	}
	for _, id := range propBrokers {
		nd := w.nodes[id]
		for _, s := range nd.n.Partitions() {
			if w.ctrl.deleted(s.TP) {
				return fmt.Sprintf("%v still hosts %v of a deleted topic", id, s.TP)
			}
		}
		for tp := range nd.disk.Synced() {
			if w.ctrl.deleted(tp) {
				return fmt.Sprintf("%v still has the log of %v of a deleted topic", id, tp)
			}
		}
	}
	for _, tp := range w.ctrl.tps() {
		st := w.ctrl.parts[tp].st
		if st.Leader == sm.NoNode {
			return fmt.Sprintf("%v offline: %+v", tp, st)
		}
		l := w.nodes[st.Leader].n
		ls, ok := propStatus(l, tp)
		switch {
		case !ok || ls.Role != partition.RoleLeader || ls.LeaderEpoch != st.LeaderEpoch:
			return fmt.Sprintf("%v: %v is not leading epoch %d: %+v", tp, st.Leader, st.LeaderEpoch, ls)
		case ls.HW != ls.LEO:
			return fmt.Sprintf("%v: leader %v high watermark %d below log end %d", tp, st.Leader, ls.HW, ls.LEO)
		case len(st.ISR) != len(st.Replicas):
			return fmt.Sprintf("%v: isr %v short of replicas %v", tp, st.ISR, st.Replicas)
		}
		want := propRecords(nodeLog(l, w.nodes[st.Leader].disk, tp))
		for _, id := range st.Replicas {
			if got := propRecords(nodeLog(w.nodes[id].n, w.nodes[id].disk, tp)); !slices.Equal(got, want) {
				return fmt.Sprintf("%v: %v holds %v, leader %v holds %v", tp, id, got, st.Leader, want)
			}
		}
	}
	return ""
}

// readBack fetches tp from its leader and finds every durable ack in it.
func (w *propWorld) readBack(tp sm.TopicPartition) {
	st := w.ctrl.parts[tp].st
	nd := w.nodes[st.Leader]
	got := map[sm.Offset]string{}
	for off, hw := sm.Offset(0), sm.Offset(1); off < hw; {
		w.reqSeq++
		w.step(nd, sm.Received{From: sm.ClientIDMin + 3000, Msg: sm.FetchRequest{ReqID: w.reqSeq, TP: tp, Offset: off, CurrentLeaderEpoch: st.LeaderEpoch}})
		answered := func(m propMsg) bool { return m.env.To == sm.ClientIDMin+3000 }
		for !slices.ContainsFunc(w.pool, answered) && w.completeRead(nd) {
		}
		i := slices.IndexFunc(w.pool, answered)
		if i < 0 {
			w.t.Fatalf("read back %v: no answer from %v", tp, st.Leader)
		}
		resp := w.pool[i].env.Msg.(sm.FetchResponse)
		w.pool = slices.Delete(w.pool, i, i+1)
		if resp.Code != sm.CodeOK {
			w.t.Fatalf("read back %v at %d from %v: %v %s", tp, off, st.Leader, resp.Code, resp.Message)
		}
		hw = resp.HighWatermark
		for _, b := range resp.Batches {
			for i, r := range propDecode(w.t, b) {
				got[b.BaseOffset+sm.Offset(i)] = string(r.Value)
				off = max(off, b.BaseOffset+sm.Offset(i)+1)
			}
		}
		if len(resp.Batches) == 0 && off < hw {
			w.t.Fatalf("read back %v at %d from %v: no records below high watermark %d", tp, off, st.Leader, hw)
		}
	}
	for _, a := range w.acked {
		for i, v := range a.values {
			if off := a.base + sm.Offset(i); a.tp == tp && got[off] != v {
				w.t.Fatalf("produce %d acked (%v) at %v offset %d as %s; reading back gives %q", a.reqID, a.acks, tp, off, v, got[off])
			}
		}
	}
}

// propDecode is b's records, decompressed; a batch that does not decode
// fails the test.
func propDecode(t interface{ Fatalf(string, ...any) }, b sm.Batch) []sm.Record {
	recs, err := b.Decode(codec.Codecs{}, sm.BatchFrameMax)
	if err != nil {
		t.Fatalf("batch at %d does not decode: %v", b.BaseOffset, err)
	}
	return recs
}

// propRecords flattens a log into records indexed by offset (logs are dense
// from 0).
func propRecords(bs []sm.Batch) []propRec {
	var out []propRec
	for _, b := range bs {
		recs, _ := b.Decode(codec.Codecs{}, sm.BatchFrameMax)
		for _, r := range recs {
			out = append(out, propRec{b.Epoch, string(r.Value)})
		}
	}
	return out
}

func propAt(log []propRec, off sm.Offset) propRec {
	if off < 0 || int(off) >= len(log) {
		return propRec{}
	}
	return log[off]
}

func propStatus(n *broker.Node, tp sm.TopicPartition) (broker.PartitionStatus, bool) {
	for _, s := range n.Partitions() {
		if s.TP == tp {
			return s, true
		}
	}
	return broker.PartitionStatus{}, false
}

// dump logs the world (BROKER_PROP_TRACE, and before a convergence failure).
func (w *propWorld) dump(action string) {
	var b strings.Builder
	fmt.Fprintf(&b, "== %s now=%v ctrl v%d\n", action, w.now(), w.ctrl.version)
	for _, tp := range w.ctrl.tps() {
		fmt.Fprintf(&b, "   ctrl %+v\n", w.ctrl.parts[tp].st)
	}
	for _, id := range propBrokers {
		nd := w.nodes[id]
		if nd.n == nil {
			fmt.Fprintf(&b, "   %v down (inc %d)\n", id, nd.inc)
			continue
		}
		fmt.Fprintf(&b, "   %v inc=%d registered=%v disk=%d\n", id, nd.inc, nd.n.Registered(), len(nd.pending()))
		for _, s := range nd.n.Partitions() {
			fmt.Fprintf(&b, "      %+v log=%v\n", s, propRecords(nodeLog(nd.n, nd.disk, s.TP)))
		}
	}
	for _, m := range w.pool {
		fmt.Fprintf(&b, "   net %v->%v (inc %d) %T %+v\n", m.env.From, m.env.To, m.toInc, m.env.Msg, m.env.Msg)
	}
	w.t.Logf("%s", b.String())
}

// TestFencedBrokerStopsLeadingDeletedTopic: metadata that shows this
// broker fenced and a topic it leads deleted must stop its replica. (Found
// by the property test: reconcile deferred the deletion while unregistered,
// to keep the log, and the partition's state was already gone from
// metadata, so nothing demoted the replica; the broker kept leading and
// acknowledged produces to the deleted topic.)
func TestFencedBrokerStopsLeadingDeletedTopic(t *testing.T) {
	w := newWorld(t, 101)
	w.topic("orders", 1, 101)
	c := w.ctrl[ctrl1]
	c.topics["orders"] = sm.TopicInfo{Name: "orders", Partitions: 1, ReplicationFactor: 1, Config: sm.TopicConfig{MinInSyncReplicas: 1}}
	w.run(300 * sm.Millisecond)
	if s := w.status(101, tp0); s.Role != partition.RoleLeader {
		t.Fatalf("setup: %+v", s)
	}
	// The session expires and the topic is deleted; the next answer the
	// broker sees carries both.
	delete(c.topics, "orders")
	delete(c.parts, tp0)
	c.brokers[101] = sm.BrokerInfo{ID: 101, Incarnation: 1, Fenced: true}
	c.version++
	// The host checks the broker's invariants after the step.
	w.step(101, sm.Received{From: ctrl1, Msg: sm.BrokerHeartbeatResponse{Incarnation: 1, Code: sm.CodeOK, Delta: c.full(), SentAt: w.now(), SessionTimeout: 3600 * sm.Second}})
	for _, e := range w.ask(101, client, produce(tp0, sm.Acks{Kind: sm.AckNone}, "x")) {
		if r, ok := e.Msg.(sm.ProduceResponse); ok && r.Code == sm.CodeOK {
			t.Errorf("fenced broker acknowledged a produce to deleted topic %v: %+v", tp0, r)
		}
	}
}
