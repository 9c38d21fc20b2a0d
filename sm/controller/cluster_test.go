package controller

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/weirmq/weir/runtime/testkit"
	"github.com/weirmq/weir/sm"
)

const client sm.NodeID = sm.ClientIDMin

var threeRacks = map[sm.NodeID]string{101: "a", 102: "b", 103: "c"}

func findTopic(md sm.MetadataDelta, name string) (sm.TopicInfo, bool) {
	i := slices.IndexFunc(md.Topics, func(t sm.TopicInfo) bool { return t.Name == name })
	if i < 0 {
		return sm.TopicInfo{}, false
	}
	return md.Topics[i], true
}

func findPartition(t *testing.T, md sm.MetadataDelta, tp sm.TopicPartition) sm.PartitionState {
	t.Helper()
	i := slices.IndexFunc(md.Partitions, func(p sm.PartitionState) bool { return p.TP == tp })
	if i < 0 {
		t.Fatalf("partition %v not in metadata", tp)
	}
	return md.Partitions[i]
}

func findBroker(t *testing.T, md sm.MetadataDelta, id sm.NodeID) sm.BrokerInfo {
	t.Helper()
	i := slices.IndexFunc(md.Brokers, func(b sm.BrokerInfo) bool { return b.ID == id })
	if i < 0 {
		t.Fatalf("broker %v not in metadata", id)
	}
	return md.Brokers[i]
}

func createTopicOK(t *testing.T, h *harness, req sm.CreateTopicRequest) {
	t.Helper()
	r := h.requestOne(client, h.leader(), req).(sm.CreateTopicResponse)
	if r.Code != sm.CodeOK || r.ReqID != req.ReqID {
		t.Fatalf("create %q: %+v", req.Name, r)
	}
}

// Goal: three controllers elect exactly one leader, and everyone knows it.
func TestClusterElectsLeader(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		h := newHarness(t, seed, 3)
		l := h.waitLeader()
		h.advance(sm.Second)
		if h.leader() != l {
			t.Fatalf("seed %d: leadership moved from %v to %v in a healthy cluster", seed, l, h.leader())
		}
		for _, id := range h.ids {
			if got := h.nodes[id].Leader(); got != l {
				t.Errorf("seed %d: %v thinks the leader is %v, want %v", seed, id, got, l)
			}
			if h.nodes[id].Term() != h.nodes[l].Term() {
				t.Errorf("seed %d: %v at term %d, leader at %d", seed, id, h.nodes[id].Term(), h.nodes[l].Term())
			}
		}
	}
}

// Goal: a created topic commits and is identical on every controller, with
// leaders spread over the brokers and replicas over the racks.
func TestCreateTopicVisibleEverywhere(t *testing.T) {
	h := newHarness(t, 7, 3)
	h.waitLeader()
	h.registerBrokers(threeRacks)
	createTopicOK(t, h, sm.CreateTopicRequest{ReqID: 1, Name: "orders", Partitions: 6, ReplicationFactor: 3})
	md := h.converge()
	info, ok := findTopic(md, "orders")
	if !ok || info.Partitions != 6 || info.ReplicationFactor != 3 || info.Config.MinInSyncReplicas != 2 {
		t.Fatalf("topic orders: %+v (found %v)", info, ok)
	}
	leads := map[sm.NodeID]int{}
	for p := range int32(6) {
		st := findPartition(t, md, sm.TopicPartition{Topic: "orders", Partition: p})
		leads[st.Leader]++
		if st.Leader != st.Replicas[0] || !slices.Equal(st.ISR, st.Replicas) || st.LeaderEpoch != 1 || st.PartitionEpoch != 1 {
			t.Errorf("%v initial state %+v", st.TP, st)
		}
	}
	for _, id := range []sm.NodeID{101, 102, 103} {
		if leads[id] != 2 {
			t.Errorf("broker %v leads %d of 6 partitions, want 2 (%v)", id, leads[id], leads)
		}
	}
	// Brokers learn it through heartbeat deltas.
	h.advance(sm.Second)
	for _, id := range []sm.NodeID{101, 102, 103} {
		if got := h.brokers[id].view.Full(); !equalMetadata(got, md) {
			t.Errorf("broker %v view differs from controller metadata:\n%+v\n%+v", id, got, md)
		}
	}
}

// Goal: followers refuse writes with a hint to the leader and serve
// metadata reads from their applied state.
func TestFollowerAnswersNotLeader(t *testing.T) {
	h := newHarness(t, 3, 3)
	l := h.waitLeader()
	h.registerBrokers(threeRacks)
	createTopicOK(t, h, sm.CreateTopicRequest{ReqID: 1, Name: "t", Partitions: 1, ReplicationFactor: 1})
	md := h.converge()
	f := h.followers()[0]
	if r := h.requestOne(client, f, sm.CreateTopicRequest{ReqID: 2, Name: "u", Partitions: 1, ReplicationFactor: 1}).(sm.CreateTopicResponse); r.Code != sm.CodeNotLeader || r.LeaderHint != l || r.ReqID != 2 {
		t.Errorf("create on follower: %+v", r)
	}
	if r := h.requestOne(client, f, sm.DeleteTopicRequest{ReqID: 3, Name: "t"}).(sm.DeleteTopicResponse); r.Code != sm.CodeNotLeader || r.LeaderHint != l {
		t.Errorf("delete on follower: %+v", r)
	}
	if r := h.requestOne(101, f, sm.AlterISRRequest{ReqID: 4, Broker: 101}).(sm.AlterISRResponse); r.Code != sm.CodeNotLeader || r.LeaderHint != l {
		t.Errorf("alter isr on follower: %+v", r)
	}
	if r := h.requestOne(150, f, sm.BrokerHeartbeat{Broker: 150, Incarnation: 1}).(sm.BrokerHeartbeatResponse); r.Code != sm.CodeNotLeader || r.LeaderHint != l {
		t.Errorf("heartbeat on follower: %+v", r)
	}
	r := h.requestOne(client, f, sm.MetadataRequest{ReqID: 5}).(sm.MetadataResponse)
	if r.Code != sm.CodeOK || r.LeaderHint != l || !equalMetadata(r.Delta, md) {
		t.Errorf("metadata on follower: %+v", r)
	}
}

// Goal: when the leader crashes while a create is in flight, the create
// either commits everywhere or nowhere, and the client never hears OK for a
// topic that does not exist. Crash points sweep the create's progress.
func TestLeaderCrashDuringCreate(t *testing.T) {
	outcomes := map[bool]int{}
	for point := range 12 {
		h := newHarness(t, uint64(100+point), 3)
		l := h.waitLeader()
		h.registerBrokers(threeRacks)
		h.inbox[client] = nil
		h.send(client, l, sm.CreateTopicRequest{ReqID: 9, Name: "crashy", Partitions: 2, ReplicationFactor: 3})
		for i := 0; i < point && h.next(); i++ {
		}
		h.crash(l)
		h.advance(3 * sm.Second) // a new leader is elected
		h.start(l)
		md := h.converge()
		_, exists := findTopic(md, "crashy")
		outcomes[exists]++
		for _, m := range h.inbox[client] {
			if r := m.(sm.CreateTopicResponse); r.Code == sm.CodeOK && !exists {
				t.Errorf("point %d: OK reply but topic absent", point)
			}
		}
	}
	t.Logf("outcomes (exists → runs): %v", outcomes)
	if outcomes[true] == 0 || outcomes[false] == 0 {
		t.Errorf("crash points did not cover both outcomes: %v", outcomes)
	}
}

// Goal: a leader cut off while a create is pending steps down (CheckQuorum)
// and answers Timeout, never OK; after healing all controllers agree.
func TestIsolatedLeaderAnswersTimeout(t *testing.T) {
	codes := map[sm.Code]int{}
	for point := range 8 {
		h := newHarness(t, uint64(200+point), 3)
		l := h.waitLeader()
		h.registerBrokers(threeRacks)
		h.inbox[client] = nil
		h.send(client, l, sm.CreateTopicRequest{ReqID: 9, Name: "cut", Partitions: 1, ReplicationFactor: 3})
		for i := 0; i < point && h.next(); i++ {
		}
		h.cut = func(from, to sm.NodeID) bool { return (from == l) != (to == l) && to != client && from != client }
		h.advance(3 * sm.Second)
		h.cut = func(sm.NodeID, sm.NodeID) bool { return false }
		md := h.converge()
		_, exists := findTopic(md, "cut")
		replies := h.inbox[client]
		if len(replies) != 1 {
			t.Fatalf("point %d: %d replies %+v", point, len(replies), replies)
		}
		r := replies[0].(sm.CreateTopicResponse)
		codes[r.Code]++
		switch {
		case r.Code == sm.CodeOK && !exists:
			t.Errorf("point %d: OK but topic absent", point)
		case r.Code != sm.CodeOK && r.Code != codeLeadershipLost:
			t.Errorf("point %d: reply %+v", point, r)
		case r.Code == codeLeadershipLost && r.Message != outcomeUnknown:
			t.Errorf("point %d: timeout message %q", point, r.Message)
		}
	}
	t.Logf("reply codes: %v", codes)
	if codes[codeLeadershipLost] == 0 {
		t.Errorf("no run answered Timeout: %v", codes)
	}
}

// Goal: a broker that stops heartbeating is fenced after the session
// timeout; leadership moves within the ISR, never to a replica outside it on
// a clean topic, and the broker's return brings it back.
func TestBrokerFencing(t *testing.T) {
	h := newHarness(t, 11, 3)
	h.waitLeader()
	h.registerBrokers(threeRacks)
	createTopicOK(t, h, sm.CreateTopicRequest{ReqID: 1, Name: "clean", Partitions: 3, ReplicationFactor: 3})
	md := h.converge()
	p0 := findPartition(t, md, sm.TopicPartition{Topic: "clean", Partition: 0})
	p1 := findPartition(t, md, sm.TopicPartition{Topic: "clean", Partition: 1})

	// Partition 1's leader shrinks its ISR to itself.
	r := h.requestOne(p1.Leader, h.leader(), sm.AlterISRRequest{
		ReqID: 2, Broker: p1.Leader, TP: p1.TP, LeaderEpoch: p1.LeaderEpoch, PartitionEpoch: p1.PartitionEpoch, ISR: []sm.NodeID{p1.Leader},
	}).(sm.AlterISRResponse)
	if r.Code != sm.CodeOK || r.State.PartitionEpoch != 2 || !slices.Equal(r.State.ISR, []sm.NodeID{p1.Leader}) {
		t.Fatalf("alter isr: %+v", r)
	}

	// p0's leader goes silent.
	victim := p0.Leader
	h.brokers[victim].alive = false
	h.advance(3 * sm.Second)
	md = h.converge()
	if !findBroker(t, md, victim).Fenced {
		t.Fatalf("broker %v not fenced after its session timeout", victim)
	}
	for _, st := range md.Partitions {
		if slices.Contains(st.ISR, victim) && (len(st.ISR) > 1 || st.Leader != sm.NoNode) {
			t.Errorf("%v: fenced %v still in isr %v (leader %v)", st.TP, victim, st.ISR, st.Leader)
		}
		if st.Leader == victim {
			t.Errorf("%v still led by fenced %v", st.TP, victim)
		}
	}
	got := findPartition(t, md, p0.TP)
	if got.Leader != p0.Replicas[1] || got.LeaderEpoch != 2 || got.PartitionEpoch != 2 {
		t.Errorf("%v after fencing %v: %+v (want leader %v, epochs 2/2)", p0.TP, victim, got, p0.Replicas[1])
	}
	if victim == p1.Leader {
		got := findPartition(t, md, p1.TP)
		if got.Leader != sm.NoNode {
			t.Errorf("%v: out-of-ISR replica %v elected on a clean topic", p1.TP, got.Leader)
		}
	}

	// The broker comes back (same incarnation) and is unfenced.
	h.brokers[victim].alive = true
	h.advance(sm.Second)
	md = h.converge()
	if findBroker(t, md, victim).Fenced {
		t.Errorf("broker %v still fenced after heartbeating again", victim)
	}
	for _, st := range md.Partitions {
		if st.Leader == sm.NoNode {
			t.Errorf("%v still offline after %v returned: %+v", st.TP, victim, st)
		}
	}
}

// Goal: with unclean election allowed, an offline partition takes a live
// replica outside the ISR, whose ISR becomes just it.
func TestUncleanElection(t *testing.T) {
	h := newHarness(t, 13, 3)
	h.waitLeader()
	h.registerBrokers(threeRacks)
	createTopicOK(t, h, sm.CreateTopicRequest{ReqID: 1, Name: "dirty", Partitions: 1, ReplicationFactor: 3,
		Config: sm.TopicConfig{MinInSyncReplicas: 1, UncleanLeaderElection: true}})
	md := h.converge()
	p := findPartition(t, md, sm.TopicPartition{Topic: "dirty"})
	r := h.requestOne(p.Leader, h.leader(), sm.AlterISRRequest{
		ReqID: 2, Broker: p.Leader, TP: p.TP, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: []sm.NodeID{p.Leader},
	}).(sm.AlterISRResponse)
	if r.Code != sm.CodeOK {
		t.Fatalf("alter isr: %+v", r)
	}
	h.brokers[p.Leader].alive = false
	h.advance(3 * sm.Second)
	md = h.converge()
	got := findPartition(t, md, p.TP)
	if got.Leader != p.Replicas[1] || !slices.Equal(got.ISR, []sm.NodeID{p.Replicas[1]}) {
		t.Errorf("unclean election: %+v, want leader %v with isr [%v]", got, p.Replicas[1], p.Replicas[1])
	}
}

// Goal: restarting controllers from their disks — one at a time, then all
// at once — replays the log to the very same metadata, version included.
func TestRestartReplaysIdenticalMetadata(t *testing.T) {
	h := newHarness(t, 17, 3)
	h.waitLeader()
	h.registerBrokers(map[sm.NodeID]string{101: "a", 102: "a", 103: "b", 104: "b"})
	createTopicOK(t, h, sm.CreateTopicRequest{ReqID: 1, Name: "a", Partitions: 4, ReplicationFactor: 2})
	createTopicOK(t, h, sm.CreateTopicRequest{ReqID: 2, Name: "b", Partitions: 3, ReplicationFactor: 3})
	if r := h.requestOne(client, h.leader(), sm.DeleteTopicRequest{ReqID: 3, Name: "a"}).(sm.DeleteTopicResponse); r.Code != sm.CodeOK {
		t.Fatalf("delete: %+v", r)
	}
	h.brokers[104].alive = false
	h.advance(3 * sm.Second)
	before := h.converge()
	if !findBroker(t, before, 104).Fenced {
		t.Fatalf("broker 104 not fenced")
	}

	for _, id := range h.ids {
		h.crash(id)
		n := h.recover(id)
		if got := n.Metadata(); got.ToVersion != 0 || len(got.Brokers) != 0 {
			t.Fatalf("%v applied before its first step: %+v", id, got)
		}
		h.run(id, n)
		h.advance(sm.Second)
	}
	if after := h.converge(); !equalMetadata(before, after) {
		t.Fatalf("metadata after rolling restart differs:\nbefore %+v\nafter  %+v", before, after)
	}
	for _, id := range h.ids {
		h.crash(id)
	}
	for _, id := range h.ids {
		h.start(id)
	}
	after := h.converge()
	if !equalMetadata(before, after) {
		t.Fatalf("metadata after full restart differs:\nbefore %+v\nafter  %+v", before, after)
	}
	if replayed := replayDisk(t, h.disks[1]); !equalMetadata(replayed, after) {
		t.Fatalf("replay of c1's log differs from the cluster:\nreplay  %+v\ncluster %+v", replayed, after)
	}
}

// replayDisk applies a disk's committed entries to fresh metadata.
func replayDisk(t *testing.T, d *testkit.Disk) sm.MetadataDelta {
	t.Helper()
	md := newMetadata(bootstrapIndex)
	hs, entries := durable(d)
	for _, e := range entries {
		if e.GetIndex() > hs.GetCommit() {
			break
		}
		if len(e.GetData()) == 0 {
			md.applyEmpty(e.GetIndex())
			continue
		}
		cmd := decodeCommand(e.GetData())
		md.apply(e.GetIndex(), &cmd)
	}
	return md.delta(0)
}

// Goal: one seed, one trace — byte for byte — through elections,
// registrations, creates, fencing and a crash; another seed differs.
func TestDeterministicTrace(t *testing.T) {
	run := func(seed uint64) string {
		h := newHarness(t, seed, 3)
		h.trace = &strings.Builder{}
		h.waitLeader()
		h.registerBrokers(map[sm.NodeID]string{101: "a", 102: "b", 103: "a", 104: "b"})
		createTopicOK(t, h, sm.CreateTopicRequest{ReqID: 1, Name: "x", Partitions: 5, ReplicationFactor: 3})
		h.brokers[102].alive = false
		h.advance(3 * sm.Second)
		l := h.leader()
		h.crash(l)
		h.advance(2 * sm.Second)
		h.start(l)
		md := h.converge()
		fmt.Fprintf(h.trace, "final %+v\n", md)
		return h.trace.String()
	}
	a, b := run(42), run(42)
	if a != b {
		t.Fatalf("seed 42 gave two traces (%d and %d bytes)", len(a), len(b))
	}
	if c := run(43); c == a {
		t.Errorf("seeds 42 and 43 gave the same trace; is raft's jitter seeded at all?")
	}
	t.Logf("trace: %d bytes, %d lines", len(a), strings.Count(a, "\n"))
}
