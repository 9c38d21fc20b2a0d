package broker_test

import (
	"cmp"
	"maps"
	"slices"
	"testing"

	"github.com/weirmq/weir/runtime"
	"github.com/weirmq/weir/runtime/testkit"
	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/broker"
)

// The harness is a small cluster on runtime/testkit: brokers in testkit
// hosts (every event goes through runtime.Handle) with fake disks (an
// operation completes on the step after it was issued, or when the test
// says), a FIFO network the test can cut, and a fake controller whose metadata the
// test edits by hand and publishes as full deltas on the next heartbeat.

var _ runtime.Node = (*broker.Node)(nil)

const ctrl1, ctrl2 sm.NodeID = 1, 2

// bnode is one broker process in its testkit host.
type bnode struct {
	n    *broker.Node
	cfg  broker.Config
	host *testkit.Host
	disk *testkit.Disk
}

// fatal is why the process stopped itself ("" while it runs).
func (b *bnode) fatal() string { return b.host.Stopped() }

// pending is the disk operations issued and not yet completed.
func (b *bnode) pending() []sm.LogOp { return b.disk.Pending() }

// fakeController registers brokers and answers heartbeats with the whole
// state whenever the broker's version is behind; it applies AlterISR for the
// current epochs.
type fakeController struct {
	version uint64
	brokers map[sm.NodeID]sm.BrokerInfo
	topics  map[string]sm.TopicInfo
	parts   map[sm.TopicPartition]sm.PartitionState
	down    bool        // answers nothing
	session sm.Duration // session timeout it names (0: an hour)
	notLead sm.NodeID
	// heartbeats records every heartbeat that reached the controller (even
	// while down), with its arrival time.
	heartbeats []timedHeartbeat
	// remote are the recorded uploaded segments (tiered storage).
	remote map[sm.TopicPartition][]sm.RemoteSegment
	// acl is the ACL rule set it sends (acl.State.Snapshot; nil: none).
	acl []byte
	// revoked is the revoked certificate serials it sends (nil: none).
	revoked []string
	// creates counts CreateTopicRequests (brokers creating the offsets
	// topic).
	creates int
	// Producer ID blocks (of 3) it hands out from nextPID, unless
	// refusePIDs; pidRequests counts the requests.
	nextPID     int64
	refusePIDs  bool
	pidRequests int
}

type timedHeartbeat struct {
	at sm.Time
	hb sm.BrokerHeartbeat
}

type world struct {
	t        *testing.T
	clock    *testkit.Clock
	nodes    map[sm.NodeID]*bnode
	ctrl     map[sm.NodeID]*fakeController
	net      *testkit.Network
	cut      map[sm.NodeID]bool
	replies  []sm.Envelope // to clients
	holdDisk bool          // when set, disk ops wait for completeDisk
	// refuse makes a broker's appends complete refused (a full WAL).
	refuse map[sm.NodeID]bool
	// tap, when set, sees every message before it is delivered.
	tap func(sm.Envelope)
	// observe, when set, sees every effect a broker hands its Env.
	observe func(id sm.NodeID, e testkit.Effect)
	// objects, when set, is the object store every broker shares: brokers
	// start with tiering on, and run completes their object operations.
	objects *testkit.Objects
	// tierCfg adjusts the tier configuration of brokers started with
	// objects set.
	tierCfg func(*broker.Config)
}

// The clients: IDs in the client range.
const (
	client  sm.NodeID = 1_000_000
	client2 sm.NodeID = 1_000_001
)

func testConfig(id sm.NodeID, inc uint64) broker.Config {
	cfg := broker.DefaultConfig(id, inc, []sm.NodeID{ctrl1, ctrl2})
	cfg.HeartbeatInterval = 100 * sm.Millisecond
	cfg.ControllerTimeout = 300 * sm.Millisecond
	cfg.ReplicaLagTime = sm.Second
	cfg.ReplicaFetchWait = 100 * sm.Millisecond
	cfg.ReplicaFetchTimeout = 500 * sm.Millisecond
	cfg.AlterISRTimeout = 500 * sm.Millisecond
	cfg.HealthInterval = 500 * sm.Millisecond
	cfg.Groups.OffsetsPartitions = 4
	cfg.Groups.InitialRebalanceDelay = -1
	cfg.Groups.Retry = 100 * sm.Millisecond
	return cfg
}

func newWorld(t *testing.T, ids ...sm.NodeID) *world {
	w := &world{t: t, clock: testkit.NewClock(sm.Time(sm.Second)), net: &testkit.Network{}, nodes: map[sm.NodeID]*bnode{}, cut: map[sm.NodeID]bool{}, refuse: map[sm.NodeID]bool{},
		ctrl: map[sm.NodeID]*fakeController{ctrl1: newFakeController(), ctrl2: {notLead: ctrl1}}}
	for _, id := range ids {
		w.start(id, 1, nil)
	}
	return w
}

func newFakeController() *fakeController {
	return &fakeController{version: 1, brokers: map[sm.NodeID]sm.BrokerInfo{}, topics: map[string]sm.TopicInfo{}, parts: map[sm.TopicPartition]sm.PartitionState{}}
}

// start (re)starts broker id from files.
func (w *world) start(id sm.NodeID, inc uint64, files map[sm.TopicPartition][]byte) {
	w.startFrom(id, inc, files, sm.Durable{})
}

// startFrom (re)starts broker id on a disk holding files (synced), from
// what the disk's store finds there, with extra's damage and fresh-disk
// report added.
func (w *world) startFrom(id sm.NodeID, inc uint64, files map[sm.TopicPartition][]byte, extra sm.Durable) {
	w.startCfg(testConfig(id, inc), files, extra)
}

// startWith starts broker cfg.ID with an empty disk and cfg.
func (w *world) startWith(id sm.NodeID, cfg broker.Config) {
	cfg.ID = id
	w.startCfg(cfg, nil, sm.Durable{})
}

func (w *world) startCfg(cfg broker.Config, files map[sm.TopicPartition][]byte, extra sm.Durable) {
	id := cfg.ID
	if w.objects != nil {
		cfg.Tier.Enabled = true
		if w.tierCfg != nil {
			w.tierCfg(&cfg)
		}
	}
	disk := testkit.NewDiskFrom(files)
	d := disk.Durable()
	d.FreshDisk = extra.FreshDisk
	for tp, why := range extra.Damaged {
		if d.Damaged == nil {
			d.Damaged = map[sm.TopicPartition]string{}
		}
		d.Damaged[tp] = why
	}
	n, err := broker.New(cfg, d)
	if err != nil {
		w.t.Fatal(err)
	}
	env := testkit.NewEnv(id, disk, w.net)
	env.Store = w.objects
	env.Observe = func(e testkit.Effect) {
		if w.observe != nil {
			w.observe(id, e)
		}
	}
	h := testkit.NewHost(w.t, w.clock, env)
	b := &bnode{n: n, cfg: cfg, host: h, disk: disk}
	w.nodes[id] = b
	h.Start(n)
}

func (w *world) now() sm.Time { return w.clock.Now() }

// topic creates a topic whose partitions are led by the first replica.
func (w *world) topic(name string, parts int32, replicas ...sm.NodeID) {
	c := w.ctrl[ctrl1]
	c.topics[name] = sm.TopicInfo{Name: name, Partitions: parts, ReplicationFactor: int32(len(replicas))}
	for i := range parts {
		tp := sm.TopicPartition{Topic: name, Partition: i}
		c.parts[tp] = sm.PartitionState{TP: tp, Replicas: replicas, Leader: replicas[0], LeaderEpoch: 1, ISR: replicas, PartitionEpoch: 1}
	}
	c.version++
}

// elect gives tp a new leader and epoch.
func (w *world) elect(tp sm.TopicPartition, leader sm.NodeID) {
	c := w.ctrl[ctrl1]
	st := c.parts[tp]
	st.Leader, st.LeaderEpoch, st.PartitionEpoch = leader, st.LeaderEpoch+1, st.PartitionEpoch+1
	c.parts[tp] = st
	c.version++
}

// step hands id one event through runtime.Handle; a Step error fails the
// test.
func (w *world) step(id sm.NodeID, ev sm.Event) {
	w.nodes[id].host.Handle(ev)
}

// stepErr is step for an event the broker may refuse: it returns Step's
// error instead of failing.
func (w *world) stepErr(id sm.NodeID, ev sm.Event) error {
	h := w.nodes[id].host
	h.StepError = func(sm.Event, error) {}
	defer func() { h.StepError = nil }()
	return h.Handle(ev)
}

// askAs is ask with the sender's authenticated principal.
func (w *world) askAs(id, from sm.NodeID, principal string, m sm.Message) []sm.Envelope {
	n := w.net.Len()
	w.step(id, sm.Received{From: from, Msg: m, Principal: principal})
	out := slices.Clone(w.net.Queue[n:])
	w.net.Queue = w.net.Queue[:n]
	return out
}

// askWith hands id a message with the sender's certificate serial.
func (w *world) askWith(id, from sm.NodeID, serial string, m sm.Message) []sm.Envelope {
	n := w.net.Len()
	w.step(id, sm.Received{From: from, Msg: m, Principal: "app", Serial: serial})
	out := slices.Clone(w.net.Queue[n:])
	w.net.Queue = w.net.Queue[:n]
	return out
}

// ask hands id a message from from directly (past the network and its
// cuts) and returns what id sent in answer, taking it off the network.
func (w *world) ask(id, from sm.NodeID, m sm.Message) []sm.Envelope {
	n := w.net.Len()
	w.step(id, sm.Received{From: from, Msg: m})
	out := slices.Clone(w.net.Queue[n:])
	w.net.Queue = w.net.Queue[:n]
	return out
}

// completeDisk completes id's oldest disk operation (refused, for an
// append, while w.refuse[id]).
func (w *world) completeDisk(id sm.NodeID) {
	b := w.nodes[id]
	ops := b.disk.Pending()
	if len(ops) == 0 {
		w.t.Fatalf("%v: no disk operation pending", id)
	}
	if ops[0].Kind == sm.LogAppend && w.refuse[id] {
		b.host.CompleteNext(sm.OutcomeFailed, "wal: capacity_bytes 100 exceeded")
		return
	}
	b.host.CompleteNext(sm.OutcomeOK, "")
}

func (w *world) deliver(e sm.Envelope) {
	if w.cut[e.From] || w.cut[e.To] {
		return
	}
	if c := w.ctrl[e.To]; c != nil {
		w.controller(e.To, c, e)
		return
	}
	if b := w.nodes[e.To]; b != nil {
		b.host.Deliver(e) // lost if the process stopped
		return
	}
	w.replies = append(w.replies, e)
}

func (w *world) controller(id sm.NodeID, c *fakeController, e sm.Envelope) {
	if hb, ok := e.Msg.(sm.BrokerHeartbeat); ok {
		c.heartbeats = append(c.heartbeats, timedHeartbeat{at: w.now(), hb: hb})
	}
	if c.down {
		return
	}
	reply := func(m sm.Message) { w.net.Send([]sm.Envelope{{From: id, To: e.From, Msg: m}}) }
	switch m := e.Msg.(type) {
	case sm.BrokerHeartbeat:
		if c.notLead != sm.NoNode {
			reply(sm.BrokerHeartbeatResponse{Incarnation: m.Incarnation, Code: sm.CodeNotLeader, LeaderHint: c.notLead})
			return
		}
		if old := c.brokers[m.Broker]; old.Incarnation > m.Incarnation {
			reply(sm.BrokerHeartbeatResponse{Incarnation: m.Incarnation, Code: sm.CodeStaleBrokerEpoch})
			return
		} else if old.Incarnation != m.Incarnation {
			c.brokers[m.Broker] = sm.BrokerInfo{ID: m.Broker, Incarnation: m.Incarnation, Rack: m.Rack, Host: m.Host}
			c.version++
		}
		resp := sm.BrokerHeartbeatResponse{Incarnation: m.Incarnation, Code: sm.CodeOK, SentAt: m.SentAt, SessionTimeout: cmp.Or(c.session, 3600*sm.Second), Delta: sm.MetadataDelta{FromVersion: m.MetadataVersion, ToVersion: c.version}}
		if m.MetadataVersion < c.version {
			resp.Delta = c.full()
		}
		reply(resp)
	case sm.AlterISRRequest:
		st := c.parts[m.TP]
		code := sm.CodeStaleRequest
		if m.LeaderEpoch == st.LeaderEpoch && m.PartitionEpoch == st.PartitionEpoch && m.Broker == st.Leader {
			st.ISR, st.PartitionEpoch, code = slices.Clone(m.ISR), st.PartitionEpoch+1, sm.CodeOK
			c.parts[m.TP] = st
			c.version++
		}
		reply(sm.AlterISRResponse{ReqID: m.ReqID, TP: m.TP, Code: code, State: st})
	case sm.CommitSegmentRequest:
		st := c.parts[m.TP]
		r := st.Remote
		code := sm.CodeOK
		switch {
		case m.LeaderEpoch != st.LeaderEpoch:
			code = sm.CodeFencedLeaderEpoch
		case len(c.remote[m.TP]) > 0 && c.remote[m.TP][len(c.remote[m.TP])-1].Name == m.Segment.Name:
		case m.Segment.Base != r.End && !(r.End == 0 && r.Segments == 0):
			code = sm.CodeRemoteMismatch
		default:
			if c.remote == nil {
				c.remote = map[sm.TopicPartition][]sm.RemoteSegment{}
			}
			if r.Segments == 0 {
				r.Start = m.Segment.Base
			}
			c.remote[m.TP] = append(c.remote[m.TP], m.Segment)
			r.End, r.Bytes, r.Segments = m.Segment.Next, r.Bytes+m.Segment.DataBytes, r.Segments+1
			st.Remote = r
			c.parts[m.TP] = st
			c.version++
		}
		reply(sm.CommitSegmentResponse{ReqID: m.ReqID, TP: m.TP, Code: code, Remote: c.parts[m.TP].Remote})
	case sm.AllocateProducerIDsRequest:
		c.pidRequests++
		if c.refusePIDs {
			reply(sm.AllocateProducerIDsResponse{ReqID: m.ReqID, Code: sm.CodeLeaderNotAvailable})
			return
		}
		reply(sm.AllocateProducerIDsResponse{ReqID: m.ReqID, First: c.nextPID, Count: 3})
		c.nextPID += 3
	case sm.CreateTopicRequest:
		// A broker creating the offsets topic: replicas the first
		// ReplicationFactor brokers, rotated per partition, the first
		// leading.
		c.creates++
		if _, ok := c.topics[m.Name]; ok {
			reply(sm.CreateTopicResponse{ReqID: m.ReqID, Code: sm.CodeTopicExists})
			return
		}
		ids := slices.Sorted(maps.Keys(c.brokers))
		c.topics[m.Name] = sm.TopicInfo{Name: m.Name, Partitions: m.Partitions, ReplicationFactor: m.ReplicationFactor, Config: m.Config,
			ID: sm.TopicID{byte(len(c.topics) + 1)}}
		for i := range m.Partitions {
			var rs []sm.NodeID
			for j := range m.ReplicationFactor {
				rs = append(rs, ids[(int(i)+int(j))%len(ids)])
			}
			tp := sm.TopicPartition{Topic: m.Name, Partition: i}
			c.parts[tp] = sm.PartitionState{TP: tp, Replicas: rs, Leader: rs[0], LeaderEpoch: 1, ISR: rs, PartitionEpoch: 1}
		}
		c.version++
		reply(sm.CreateTopicResponse{ReqID: m.ReqID})
	case sm.RemoteSegmentsRequest:
		var segs []sm.RemoteSegment
		for _, rs := range c.remote[m.TP] {
			if rs.Next > m.From {
				segs = append(segs, rs)
			}
		}
		reply(sm.RemoteSegmentsResponse{ReqID: m.ReqID, TP: m.TP, Remote: c.parts[m.TP].Remote, Segments: segs})
	}
}

func (c *fakeController) full() sm.MetadataDelta {
	d := sm.MetadataDelta{ToVersion: c.version, Full: true}
	for _, id := range slices.Sorted(maps.Keys(c.brokers)) {
		d.Brokers = append(d.Brokers, c.brokers[id])
	}
	for _, n := range slices.Sorted(maps.Keys(c.topics)) {
		d.Topics = append(d.Topics, c.topics[n])
	}
	for _, tp := range slices.SortedFunc(maps.Keys(c.parts), sm.CompareTP) {
		d.Partitions = append(d.Partitions, c.parts[tp])
	}
	d.ACL = c.acl
	d.Revoked = c.revoked
	return d
}

// run advances time by d in 1ms ticks: each tick completes issued disk
// operations (unless held), delivers every message, then fires due timers.
func (w *world) run(d sm.Duration) {
	end := w.now().Add(d)
	for w.now() < end {
		for range 1000 {
			progressed := false
			for _, id := range w.ids() {
				for b := w.nodes[id]; !w.holdDisk && len(b.disk.Pending()) > 0 && b.host.Up(); {
					w.completeDisk(id)
					progressed = true
				}
				if b := w.nodes[id]; w.objects != nil && b.host.Up() && b.host.CompleteObjects() > 0 {
					progressed = true
				}
			}
			for w.net.Len() > 0 {
				e, _ := w.net.Pop()
				if w.tap != nil {
					w.tap(e)
				}
				w.deliver(e)
				progressed = true
			}
			if !progressed {
				break
			}
		}
		w.clock.Advance(sm.Millisecond)
		for _, id := range w.ids() {
			w.nodes[id].host.Fire()
		}
	}
}

func (w *world) ids() []sm.NodeID { return slices.Sorted(maps.Keys(w.nodes)) }

// client sends a request from client to id and returns the reply after
// running for d.
func (w *world) client(to sm.NodeID, m sm.Message, d sm.Duration) sm.Message {
	w.replies = nil
	w.net.Send([]sm.Envelope{{From: client, To: to, Msg: m}})
	w.run(d)
	if len(w.replies) != 1 {
		w.t.Fatalf("client: %d replies to %T", len(w.replies), m)
	}
	return w.replies[0].Msg
}

func (w *world) status(id sm.NodeID, tp sm.TopicPartition) broker.PartitionStatus {
	for _, s := range w.nodes[id].n.Partitions() {
		if s.TP == tp {
			return s
		}
	}
	w.t.Fatalf("%v does not host %v", id, tp)
	return broker.PartitionStatus{}
}

func produce(tp sm.TopicPartition, acks sm.Acks, vals ...string) sm.ProduceRequest {
	var recs []sm.Record
	for _, v := range vals {
		recs = append(recs, sm.Record{Value: []byte(v)})
	}
	return sm.ProduceRequest{ReqID: 7, TP: tp, Acks: acks, Records: recs}
}

// nodeLog is a broker's log of tp: what its disk holds (completed
// operations), then the batches it appended beyond, still in its cache.
func nodeLog(n *broker.Node, d *testkit.Disk, tp sm.TopicPartition) []sm.Batch {
	bs, _, _ := sm.DecodeLog(d.Log(tp))
	end := sm.Offset(0)
	if k := len(bs); k > 0 {
		end = bs[k-1].NextOffset()
	}
	for _, b := range n.Cached(tp) {
		if b.BaseOffset >= end {
			bs = append(bs, b)
		}
	}
	return bs
}

func logValues(b *bnode, tp sm.TopicPartition) []string {
	var out []string
	for _, b := range nodeLog(b.n, b.disk, tp) {
		for _, r := range b.Records {
			out = append(out, string(r.Value))
		}
	}
	return out
}
