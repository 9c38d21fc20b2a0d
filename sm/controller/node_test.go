package controller

import (
	"slices"
	"strings"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/weirmq/weir/runtime"
	"github.com/weirmq/weir/runtime/testkit"
	"github.com/weirmq/weir/sm"
)

// Node is driven through the runtime's contract (sm/ may not import runtime,
// so the check lives here).
var _ runtime.Node = (*Node)(nil)

// Goal: heartbeats register brokers through raft exactly once, reject old
// incarnations, re-register new ones, and carry metadata deltas.
func TestHeartbeat(t *testing.T) {
	h := newHarness(t, 5, 3)
	l := h.waitLeader()
	hb := func(inc, version uint64) sm.BrokerHeartbeat {
		return sm.BrokerHeartbeat{Broker: 101, Incarnation: inc, Rack: "a", Host: "h", MetadataVersion: version}
	}

	// Two heartbeats of an unknown broker back to back: the second waits for
	// the first one's registration; both are answered OK after it applies.
	before := h.nodes[l].AppliedIndex()
	h.inbox[101] = nil
	h.send(101, l, hb(1, 0))
	h.send(101, l, hb(1, 0))
	h.settle()
	replies := h.inbox[101]
	if len(replies) != 2 {
		t.Fatalf("%d replies to 2 heartbeats: %+v", len(replies), replies)
	}
	for _, m := range replies {
		r := m.(sm.BrokerHeartbeatResponse)
		if r.Code != sm.CodeOK || r.SessionTimeout != 2*sm.Second || !r.Delta.Full || len(r.Delta.Brokers) != 1 || r.Delta.Brokers[0].Incarnation != 1 {
			t.Errorf("registration reply %+v", r)
		}
	}
	if got := h.nodes[l].AppliedIndex() - before; got != 1 {
		t.Errorf("%d entries applied for one registration", got)
	}
	version := h.nodes[l].Metadata().ToVersion

	r := h.requestOne(101, l, hb(1, version)).(sm.BrokerHeartbeatResponse)
	if r.Code != sm.CodeOK || !r.Delta.Empty() || r.Delta.FromVersion != version || r.Delta.ToVersion != version {
		t.Errorf("steady heartbeat: %+v", r)
	}
	r = h.requestOne(101, l, hb(1, version+5)).(sm.BrokerHeartbeatResponse)
	if r.Code != sm.CodeOK || !r.Delta.Empty() || r.Delta.ToVersion != version+5 {
		t.Errorf("heartbeat from the future: %+v", r)
	}
	r = h.requestOne(101, l, hb(2, version)).(sm.BrokerHeartbeatResponse)
	if r.Code != sm.CodeOK || len(r.Delta.Brokers) != 1 || r.Delta.Brokers[0].Incarnation != 2 || r.Delta.Full {
		t.Errorf("new incarnation: %+v", r)
	}
	r = h.requestOne(101, l, hb(1, 0)).(sm.BrokerHeartbeatResponse)
	if r.Code != sm.CodeStaleBrokerEpoch || r.LeaderHint != l {
		t.Errorf("old incarnation: %+v", r)
	}
	r = h.requestOne(101, l, sm.BrokerHeartbeat{Broker: sm.NoNode, Incarnation: 1}).(sm.BrokerHeartbeatResponse)
	if r.Code != sm.CodeInvalidRequest {
		t.Errorf("heartbeat without broker id: %+v", r)
	}
}

// Goal: requests pending on a leader that loses leadership are answered as
// outcome unknown (Timeout), waiting heartbeats as NotLeader.
func TestLeadershipLossAbandonsPending(t *testing.T) {
	h := newHarness(t, 21, 3)
	l := h.waitLeader()
	h.registerBrokers(threeRacks)
	createTopicOK(t, h, sm.CreateTopicRequest{ReqID: 1, Name: "t", Partitions: 1, ReplicationFactor: 3})
	md := h.converge()
	p := findPartition(t, md, sm.TopicPartition{Topic: "t"})
	for id := range h.brokers {
		h.brokers[id].alive = false
	}
	h.cut = func(from, to sm.NodeID) bool {
		_, fc := h.cfgs[from]
		_, tc := h.cfgs[to]
		return fc && tc && (from == l) != (to == l)
	}
	h.inbox[client] = nil
	h.inbox[p.Leader] = nil
	h.inbox[109] = nil
	h.send(client, l, sm.DeleteTopicRequest{ReqID: 2, Name: "t"})
	h.send(p.Leader, l, sm.AlterISRRequest{ReqID: 3, Broker: p.Leader, TP: p.TP, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: []sm.NodeID{p.Leader}})
	for range waitersMax + 2 {
		h.send(109, l, sm.BrokerHeartbeat{Broker: 109, Incarnation: 1})
	}
	h.advance(3 * sm.Second)
	if h.nodes[l].IsLeader() {
		t.Fatalf("isolated %v still leads", l)
	}
	var codes []sm.Code
	for _, m := range append(h.inbox[client], h.inbox[p.Leader]...) {
		switch r := m.(type) {
		case sm.DeleteTopicResponse:
			codes = append(codes, r.Code)
		case sm.AlterISRResponse:
			codes = append(codes, r.Code)
		}
	}
	if !slices.Equal(codes, []sm.Code{codeLeadershipLost, codeLeadershipLost}) {
		t.Errorf("pending delete and alter isr answered %v, want two timeouts", codes)
	}
	hbs := h.inbox[109]
	if len(hbs) != waitersMax {
		t.Errorf("%d heartbeat replies, want %d (oldest dropped beyond the limit)", len(hbs), waitersMax)
	}
	for _, m := range hbs {
		if r := m.(sm.BrokerHeartbeatResponse); r.Code != sm.CodeNotLeader {
			t.Errorf("waiting heartbeat answered %+v", r)
		}
	}
}

// Goal: the leader rejects malformed creates, and creates of the reserved
// internal topic names, before raft, and resolves the default min ISR into
// the command.
func TestCreateTopicProposalChecks(t *testing.T) {
	h := newHarness(t, 23, 3)
	l := h.waitLeader()
	h.registerBrokers(threeRacks)
	tests := []struct {
		req  sm.CreateTopicRequest
		code sm.Code
		msg  string
		isr  int32
	}{
		{sm.CreateTopicRequest{Name: "big", Partitions: 1001, ReplicationFactor: 1}, sm.CodeInvalidPartitions, "partitions 1001 above the limit 1000", 0},
		{sm.CreateTopicRequest{Name: "neg", Partitions: 1, ReplicationFactor: 1, Config: sm.TopicConfig{MinInSyncReplicas: -1}}, sm.CodeInvalidRequest, "min in-sync replicas must be in 1..1 (replication factor) (got -1)", 0},
		{sm.CreateTopicRequest{Name: "bad name", Partitions: 1, ReplicationFactor: 1}, sm.CodeInvalidTopicName, `topic name "bad name"`, 0},
		{sm.CreateTopicRequest{Name: "wide", Partitions: 1, ReplicationFactor: 4}, sm.CodeInvalidReplicationFactor, "replication factor 4 above the 3 live brokers", 0},
		{sm.CreateTopicRequest{Name: "__consumer_offsets", Partitions: 1, ReplicationFactor: 1}, sm.CodeInvalidTopicName, `topic name "__consumer_offsets" is reserved for Weir's internal topics`, 0},
		{sm.CreateTopicRequest{Name: "__transaction_state", Partitions: 1, ReplicationFactor: 1}, sm.CodeInvalidTopicName, "reserved", 0},
		{sm.CreateTopicRequest{Name: "rf1", Partitions: 1, ReplicationFactor: 1}, sm.CodeOK, "", 1},
		{sm.CreateTopicRequest{Name: "rf3", Partitions: 1, ReplicationFactor: 3}, sm.CodeOK, "", 2},
		{sm.CreateTopicRequest{Name: "rf3", Partitions: 1, ReplicationFactor: 3}, sm.CodeTopicExists, `topic "rf3" already exists`, 0},
	}
	for i, tt := range tests {
		tt.req.ReqID = uint64(i)
		r := h.requestOne(client, l, tt.req).(sm.CreateTopicResponse)
		if r.Code != tt.code || !strings.Contains(r.Message, tt.msg) || r.ReqID != tt.req.ReqID {
			t.Errorf("%s: %v %q, want %v containing %q", tt.req.Name, r.Code, r.Message, tt.code, tt.msg)
		}
		if tt.isr != 0 {
			if info, _ := findTopic(h.nodes[l].Metadata(), tt.req.Name); info.Config.MinInSyncReplicas != tt.isr {
				t.Errorf("%s: min isr %d, want %d", tt.req.Name, info.Config.MinInSyncReplicas, tt.isr)
			}
		}
	}
	// A broker may create the offsets topic (on a client's first
	// FindCoordinator), and nothing else; nobody may delete it.
	const b sm.NodeID = sm.BrokerIDMin
	if r := h.requestOne(b, l, sm.CreateTopicRequest{ReqID: 90, Name: "other", Partitions: 1, ReplicationFactor: 1}).(sm.CreateTopicResponse); r.Code != sm.CodeInvalidRequest || !strings.Contains(r.Message, "only the offsets topic") {
		t.Errorf("a broker creating another topic: %v %q", r.Code, r.Message)
	}
	if r := h.requestOne(b, l, sm.CreateTopicRequest{ReqID: 91, Name: sm.OffsetsTopic, Partitions: 4, ReplicationFactor: 3}).(sm.CreateTopicResponse); r.Code != sm.CodeOK {
		t.Errorf("a broker creating the offsets topic: %v %q", r.Code, r.Message)
	}
	if info, ok := findTopic(h.nodes[l].Metadata(), sm.OffsetsTopic); !ok || info.Partitions != 4 {
		t.Errorf("offsets topic %+v %v", info, ok)
	}
	if r := h.requestOne(client, l, sm.DeleteTopicRequest{ReqID: 92, Name: sm.OffsetsTopic}).(sm.DeleteTopicResponse); r.Code != sm.CodeInvalidTopicName {
		t.Errorf("a client deleting the offsets topic: %v %q", r.Code, r.Message)
	}
}

// Goal: a failed raft write is fatal; the node then ignores everything.
func TestDiskErrorIsFatal(t *testing.T) {
	h := newHarness(t, 1, 1)
	h.allowFatal = true
	host, n := h.hosts[1], h.nodes[1]
	var op sm.RaftSave
	for i := 0; op.ID == 0 && i < 100; i++ {
		h.clock.Advance(100 * sm.Millisecond)
		host.Handle(sm.TimerFired{})
		if saves := h.disks[1].PendingRaft(); len(saves) > 0 {
			op = saves[0]
		}
	}
	if !op.Sync || op.HardState.GetTerm() == 0 {
		t.Fatalf("first disk op %+v", op)
	}
	// A completion for an ID not awaited (a late duplicate) is dropped.
	sent := h.net.Len()
	if err := host.Handle(sm.RaftDone{ID: op.ID + 1}); err != nil {
		t.Errorf("unexpected completion: %v", err)
	}
	if host.Stopped() != "" || h.net.Len() != sent {
		t.Fatalf("a stray completion acted: fatal %q, %d messages", host.Stopped(), h.net.Len()-sent)
	}
	if err := host.Handle(sm.RaftDone{ID: op.ID, Outcome: sm.OutcomeUnknown, Reason: "EIO"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(host.Stopped(), "EIO") {
		t.Fatalf("fatal %q", host.Stopped())
	}
	// The host now loses every event, as a dead process would; the node
	// itself must also refuse to act if it were stepped anyway.
	net := &testkit.Network{}
	env := testkit.NewEnv(1, testkit.NewDisk(), net)
	if err := runtime.Handle(n, env, h.now(), sm.Received{From: client, Msg: sm.MetadataRequest{}}); err != nil || net.Len() != 0 || env.TimerAt() != 0 {
		t.Errorf("a dead node answered: %v %+v (timer %v)", err, net.Queue, env.TimerAt())
	}
}

// Goal: malformed input is an error for the driver, never a panic.
func TestStepRejectsUnroutableInput(t *testing.T) {
	n, err := New(testConfig(1, []sm.NodeID{1, 2, 3}), sm.Durable{})
	if err != nil {
		t.Fatal(err)
	}
	env := testkit.NewEnv(1, testkit.NewDisk(), &testkit.Network{})
	runtime.Flush(n, env)
	if at := env.TimerAt(); at != 1 {
		t.Errorf("TimerAt before the first step = %v, want 1 (asap)", at)
	}
	bad := []sm.Event{
		sm.Received{From: 7, Msg: sm.ProduceRequest{}},
		sm.Received{From: 2, Msg: sm.RaftMessage{}},
		sm.Received{From: 2, Msg: sm.RaftMessage{M: &pb.Message{Type: pb.MsgHeartbeat.Enum(), From: new(uint64(2)), To: new(uint64(3))}}},
		sm.LogDone{ID: 1}, // a broker's effect: never issued by a controller
	}
	for _, ev := range bad {
		if err := runtime.Handle(n, env, 5*sm.Time(sm.Second), ev); err == nil {
			t.Errorf("Step(%+v) accepted", ev)
		}
	}
	if at := env.TimerAt(); at != 5*sm.Time(sm.Second)+sm.Time(100*sm.Millisecond) {
		t.Errorf("TimerAt %v after first step at 5s", at)
	}
	// A clock jump replays a bounded number of ticks and keeps the schedule ahead of now.
	if err := runtime.Handle(n, env, sm.Time(3600*sm.Second), sm.TimerFired{}); err != nil {
		t.Fatal(err)
	}
	if err := n.CheckInvariants(); err != nil {
		t.Error(err)
	}
}

// Goal: disk state raft would choke on is refused at start.
func TestNewRejectsCorruptDurable(t *testing.T) {
	entry := func(index, term uint64) *pb.Entry { return &pb.Entry{Index: new(index), Term: new(term)} }
	tests := []struct {
		name string
		d    sm.Durable
		msg  string
	}{
		{"gap", sm.Durable{Entries: []*pb.Entry{entry(3, 1)}}, "durable entry 3 (term 1) does not follow index 1"},
		{"term back", sm.Durable{Entries: []*pb.Entry{entry(2, 2), entry(3, 1)}}, "durable entry 3 (term 1) does not follow index 2 (term 2)"},
		{"commit beyond", sm.Durable{HardState: &pb.HardState{Term: new(uint64(1)), Commit: new(uint64(3))}, Entries: []*pb.Entry{entry(2, 1)}}, "durable commit 3 beyond last entry 2"},
	}
	for _, tt := range tests {
		if _, err := New(testConfig(1, []sm.NodeID{1}), tt.d); err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.msg)
		}
	}
}

// Goal: producer ID blocks are disjoint and never reissued, across a
// leader crash (the new leader continues from the raft log) and for a
// broker that is not registered nothing is allocated.
func TestAllocateProducerIDs(t *testing.T) {
	h := newHarness(t, 29, 3)
	l := h.waitLeader()
	h.registerBrokers(threeRacks)
	ask := func(to, from sm.NodeID) sm.AllocateProducerIDsResponse {
		return h.requestOne(from, to, sm.AllocateProducerIDsRequest{ReqID: 1, Broker: from, Incarnation: 1}).(sm.AllocateProducerIDsResponse)
	}
	a, b := ask(l, 101), ask(l, 102)
	if a.Code != sm.CodeOK || b.Code != sm.CodeOK || a.Count != producerIDBlock || b.First != a.First+int64(a.Count) {
		t.Fatalf("blocks %+v and %+v", a, b)
	}
	if r := ask(l, 109); r.Code != sm.CodeStaleBrokerEpoch {
		t.Fatalf("an unregistered broker got %+v", r)
	}
	if r := h.requestOne(101, l, sm.AllocateProducerIDsRequest{ReqID: 2, Broker: 102}).(sm.AllocateProducerIDsResponse); r.Code != sm.CodeInvalidRequest {
		t.Fatalf("a broker asking for another's block got %+v", r)
	}
	h.crash(l)
	l2 := h.waitLeader()
	c := ask(l2, 103)
	if c.Code != sm.CodeOK || c.First < b.First+int64(b.Count) {
		t.Fatalf("after the leader's crash: %+v (the last block was [%d, %d))", c, b.First, b.First+int64(b.Count))
	}
}
