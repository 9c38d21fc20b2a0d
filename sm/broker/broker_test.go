package broker_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/broker"
)

var (
	tp0    = sm.TopicPartition{Topic: "orders", Partition: 0}
	ackAll = sm.Acks{Kind: sm.AckAll}
)

// Brokers register through heartbeats, learn their roles from metadata, and
// an acks=all produce is acknowledged once all three hold it durably.
func TestProduceAcksAllAcrossThreeBrokers(t *testing.T) {
	w := newWorld(t, 101, 102, 103)
	w.topic("orders", 1, 101, 102, 103)
	w.run(300 * sm.Millisecond)
	for _, id := range w.ids() {
		if !w.nodes[id].n.Registered() {
			t.Fatalf("%v not registered", id)
		}
	}
	if s := w.status(101, tp0); s.Role.String() != "leader" || s.LeaderEpoch != 1 {
		t.Fatalf("101: %+v", s)
	}
	resp := w.client(101, produce(tp0, ackAll, "a", "b"), 50*sm.Millisecond).(sm.ProduceResponse)
	if resp.Code != sm.CodeOK || resp.BaseOffset != 0 {
		t.Fatalf("produce: %+v", resp)
	}
	w.run(300 * sm.Millisecond)
	for _, id := range w.ids() {
		if got := logValues(w.nodes[id], tp0); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("%v log %v", id, got)
		}
		if s := w.status(id, tp0); s.DurableLEO != 2 || s.HW != 2 {
			t.Fatalf("%v status %+v", id, s)
		}
	}
	f := w.client(101, sm.FetchRequest{ReqID: 8, TP: tp0}, 10*sm.Millisecond).(sm.FetchResponse)
	if f.Code != sm.CodeOK || f.HighWatermark != 2 || len(f.Batches) != 1 {
		t.Fatalf("fetch: %+v", f)
	}
}

// A leader change in metadata moves leadership; the old leader redirects.
func TestLeaderChangeViaMetadata(t *testing.T) {
	w := newWorld(t, 101, 102, 103)
	w.topic("orders", 1, 101, 102, 103)
	w.run(300 * sm.Millisecond)
	w.client(101, produce(tp0, ackAll, "a"), 50*sm.Millisecond)
	w.elect(tp0, 102)
	w.run(300 * sm.Millisecond)
	r := w.client(101, produce(tp0, ackAll, "b"), 50*sm.Millisecond).(sm.ProduceResponse)
	if r.Code != sm.CodeNotLeader || r.LeaderHint != 102 {
		t.Fatalf("old leader: %+v", r)
	}
	r = w.client(102, produce(tp0, ackAll, "b"), 200*sm.Millisecond).(sm.ProduceResponse)
	if r.Code != sm.CodeOK || r.BaseOffset != 1 || r.LeaderEpoch != 2 {
		t.Fatalf("new leader: %+v", r)
	}
	f := w.client(102, sm.FetchRequest{ReqID: 8, TP: tp0, CurrentLeaderEpoch: 2}, 10*sm.Millisecond).(sm.FetchResponse)
	if f.Code != sm.CodeOK || f.HighWatermark != 2 {
		t.Fatalf("fetch: %+v", f)
	}
}

// An isolated old leader's unreplicated write is truncated away when it
// rejoins as a follower of the new leader.
func TestFollowerTruncation(t *testing.T) {
	w := newWorld(t, 101, 102, 103)
	w.topic("orders", 1, 101, 102, 103)
	w.ctrl[ctrl1].topics["orders"] = sm.TopicInfo{Name: "orders", Partitions: 1, ReplicationFactor: 3, Config: sm.TopicConfig{MinInSyncReplicas: 1}}
	w.run(300 * sm.Millisecond)
	w.client(101, produce(tp0, ackAll, "a"), 50*sm.Millisecond)
	w.cut[101] = true
	w.net.Send([]sm.Envelope{{From: client, To: 101, Msg: produce(tp0, sm.Acks{Kind: sm.AckLeader}, "lost")}})
	w.deliverDirect()
	w.run(10 * sm.Millisecond)
	if s := w.status(101, tp0); s.DurableLEO != 2 {
		t.Fatalf("101 %+v", s)
	}
	w.elect(tp0, 102)
	w.run(300 * sm.Millisecond)
	// 101 holds the high watermark until it is shrunk out after ReplicaLagTime.
	if r := w.client(102, produce(tp0, ackAll, "b", "c"), 2*sm.Second).(sm.ProduceResponse); r.Code != sm.CodeOK {
		t.Fatalf("%+v", r)
	}
	w.cut[101] = false
	w.run(sm.Second)
	var truncated bool
	for _, op := range w.nodes[101].disk.History {
		truncated = truncated || (op.Kind == sm.LogTruncate && op.TP == tp0 && op.Offset == 1)
	}
	if !truncated {
		t.Fatalf("101 did not truncate to 1: %+v", w.nodes[101].disk.History)
	}
	for _, id := range w.ids() {
		if got := logValues(w.nodes[id], tp0); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Fatalf("%v log %v", id, got)
		}
	}
}

// deliverDirect hands client messages to a cut broker (the cut is only
// between brokers and controllers in TestFollowerTruncation).
func (w *world) deliverDirect() {
	for w.net.Len() > 0 {
		e, _ := w.net.Pop()
		if e.From == client {
			w.step(e.To, sm.Received{From: e.From, Msg: e.Msg})
		}
	}
}

// Recovery from a disk with torn tails: the store cuts them before the
// broker starts (it issues nothing for them), and the broker serves the
// recovered records once metadata makes it leader again.
func TestRecoveryFromBytesWithTornTail(t *testing.T) {
	var file []byte
	for i, v := range []string{"a", "b", "c"} {
		b := sm.Batch{BaseOffset: sm.Offset(i), Epoch: 1, Records: []sm.Record{{Value: []byte(v)}}}
		b.Seal()
		file = sm.EncodeBatch(file, &b)
	}
	file = file[:len(file)-5]
	other := sm.TopicPartition{Topic: "gone", Partition: 0}
	w := newWorld(t)
	w.topic("orders", 1, 101)
	w.ctrl[ctrl1].topics["orders"] = sm.TopicInfo{Name: "orders", Partitions: 1, ReplicationFactor: 1, Config: sm.TopicConfig{MinInSyncReplicas: 1}}
	w.start(101, 2, map[sm.TopicPartition][]byte{tp0: file, other: file[:10]})
	if ops := w.nodes[101].pending(); len(ops) != 0 {
		t.Fatalf("recovery ops %+v", ops)
	}
	if got := logEndOf(w.nodes[101].disk.Log(tp0)); got != 2 || len(w.nodes[101].disk.Log(other)) != 0 {
		t.Fatalf("the store did not cut the torn tails: %v ends at %d, %v holds %d bytes", tp0, got, other, len(w.nodes[101].disk.Log(other)))
	}
	if s := w.status(101, tp0); s.LEO != 2 || s.DurableLEO != 2 {
		t.Fatalf("recovered %+v", s)
	}
	w.run(300 * sm.Millisecond)
	// The full metadata does not know topic "gone": its log is deleted.
	if slices.ContainsFunc(w.nodes[101].disk.History, func(op sm.LogOp) bool { return op.Kind == sm.LogDelete && op.TP == other }) == false {
		t.Fatalf("no delete of %v: %+v", other, w.nodes[101].disk.History)
	}
	if _, ok := w.nodes[101].disk.Logs()[other]; ok {
		t.Fatal("deleted log still on disk")
	}
	r := w.client(101, produce(tp0, ackAll, "d"), 50*sm.Millisecond).(sm.ProduceResponse)
	if r.Code != sm.CodeOK || r.BaseOffset != 2 {
		t.Fatalf("%+v", r)
	}
	batches, _, err := sm.DecodeLog(w.nodes[101].disk.Log(tp0))
	if err != nil || len(batches) != 3 || string(batches[2].Records[0].Value) != "d" {
		t.Fatalf("file after append: %d batches, %v", len(batches), err)
	}
}

// Requests for partitions not hosted here are answered with a code.
func TestRouting(t *testing.T) {
	w := newWorld(t, 101, 102)
	if r := w.client(101, produce(tp0, ackAll, "a"), 1*sm.Millisecond).(sm.ProduceResponse); r.Code != sm.CodeNotLeader || r.LeaderHint != sm.NoNode {
		t.Fatalf("before metadata: %+v", r)
	}
	w.topic("orders", 1, 102)
	w.run(300 * sm.Millisecond)
	if r := w.client(101, produce(tp0, ackAll, "a"), sm.Millisecond).(sm.ProduceResponse); r.Code != sm.CodeNotLeader || r.LeaderHint != 102 {
		t.Fatalf("not hosted: %+v", r)
	}
	missing := sm.TopicPartition{Topic: "orders", Partition: 5}
	if r := w.client(101, sm.FetchRequest{TP: missing}, sm.Millisecond).(sm.FetchResponse); r.Code != sm.CodeUnknownTopic {
		t.Fatalf("unknown: %+v", r)
	}
	if err := w.stepErr(101, sm.Received{From: client, Msg: sm.CreateTopicRequest{}}); err == nil {
		t.Fatal("routed a CreateTopicRequest")
	}
}

// Until metadata shows this incarnation registered, the broker leads nothing.
func TestUnregisteredLeadsNothing(t *testing.T) {
	w := newWorld(t, 101)
	w.topic("orders", 1, 101)
	w.cut[ctrl1] = true
	w.ctrl[ctrl1].brokers[101] = sm.BrokerInfo{ID: 101, Incarnation: 1, Fenced: true}
	w.step(101, sm.Received{From: ctrl1, Msg: sm.BrokerHeartbeatResponse{Incarnation: 1, Code: sm.CodeOK, Delta: w.ctrl[ctrl1].full(), SentAt: w.now(), SessionTimeout: 3600 * sm.Second}})
	if w.nodes[101].n.Registered() {
		t.Fatal("registered while fenced")
	}
	if s := w.status(101, tp0); s.Role.String() != "follower" || s.Leader != sm.NoNode {
		t.Fatalf("%+v", s)
	}
	w.cut[ctrl1] = false
	w.ctrl[ctrl1].brokers[101] = sm.BrokerInfo{ID: 101, Incarnation: 1}
	w.ctrl[ctrl1].version++
	w.run(300 * sm.Millisecond)
	if s := w.status(101, tp0); s.Role.String() != "leader" {
		t.Fatalf("%+v", s)
	}
}

// A silent controller is abandoned after ControllerTimeout; a follower's
// leader hint is followed at once.
func TestControllerFailover(t *testing.T) {
	w := newWorld(t, 101)
	w.ctrl[ctrl1].down = true
	w.ctrl[ctrl2] = newFakeController()
	w.run(200 * sm.Millisecond)
	if w.nodes[101].n.Registered() {
		t.Fatal("registered with a down controller")
	}
	w.run(300 * sm.Millisecond)
	if got := w.nodes[101].n.Controller(); got != ctrl2 || !w.nodes[101].n.Registered() {
		t.Fatalf("controller %v registered %v", got, w.nodes[101].n.Registered())
	}
	// Controller 2 steps down and points back at 1, which is back.
	w.ctrl[ctrl1] = newFakeController()
	w.ctrl[ctrl1].version = 10
	w.ctrl[ctrl2].notLead = ctrl1
	w.run(150 * sm.Millisecond)
	if got := w.nodes[101].n.Controller(); got != ctrl1 {
		t.Fatalf("controller %v, want %v", got, ctrl1)
	}
}

// A newer incarnation fences the old process; a disk error stops it.
func TestFatalConditions(t *testing.T) {
	w := newWorld(t, 101)
	w.ctrl[ctrl1].brokers[101] = sm.BrokerInfo{ID: 101, Incarnation: 5}
	w.run(200 * sm.Millisecond)
	if got := w.nodes[101].fatal(); got != "broker: fenced by a newer incarnation" {
		t.Fatalf("fatal %q", got)
	}

	w = newWorld(t, 101)
	w.topic("orders", 1, 101)
	w.ctrl[ctrl1].topics["orders"] = sm.TopicInfo{Name: "orders", Partitions: 1, ReplicationFactor: 1, Config: sm.TopicConfig{MinInSyncReplicas: 1}}
	w.run(300 * sm.Millisecond)
	w.holdDisk = true
	w.client(101, produce(tp0, sm.Acks{Kind: sm.AckNone}, "a"), sm.Millisecond)
	op := w.nodes[101].pending()[0]
	w.step(101, sm.LogDone{ID: op.ID, Outcome: sm.OutcomeUnknown, Reason: "EIO"})
	if got := w.nodes[101].fatal(); !strings.Contains(got, "EIO") || !strings.Contains(got, "orders/0") {
		t.Fatalf("fatal %q", got)
	}
}

// Deleting a topic drops its replicas and their logs; pending produces are
// answered.
func TestTopicDeletion(t *testing.T) {
	w := newWorld(t, 101, 102)
	w.topic("orders", 1, 101, 102)
	w.run(300 * sm.Millisecond)
	w.cut[102] = true
	w.net.Send([]sm.Envelope{{From: client, To: 101, Msg: produce(tp0, ackAll, "a")}})
	w.replies = nil
	w.run(10 * sm.Millisecond)
	c := w.ctrl[ctrl1]
	delete(c.topics, "orders")
	delete(c.parts, tp0)
	c.version++
	w.run(200 * sm.Millisecond)
	if len(w.replies) != 1 || w.replies[0].Msg.(sm.ProduceResponse).Code != sm.CodeLeadershipLost {
		t.Fatalf("replies %+v", w.replies)
	}
	if len(w.nodes[101].n.Partitions()) != 0 {
		t.Fatalf("still hosting %+v", w.nodes[101].n.Partitions())
	}
	if _, ok := w.nodes[101].disk.Logs()[tp0]; ok {
		t.Fatal("log not deleted")
	}
}

// Incremental deltas apply in order; gaps and old ones are ignored.
func TestIncrementalDeltas(t *testing.T) {
	w := newWorld(t, 101)
	n := w.nodes[101].n
	self := sm.BrokerInfo{ID: 101, Incarnation: 1}
	st := sm.PartitionState{TP: tp0, Replicas: []sm.NodeID{101}, Leader: 101, LeaderEpoch: 1, ISR: []sm.NodeID{101}, PartitionEpoch: 1}
	send := func(d sm.MetadataDelta) {
		w.step(101, sm.Received{From: ctrl1, Msg: sm.BrokerHeartbeatResponse{Incarnation: 1, Code: sm.CodeOK, Delta: d, SentAt: w.now(), SessionTimeout: 3600 * sm.Second}})
	}
	send(sm.MetadataDelta{FromVersion: 0, ToVersion: 3, Brokers: []sm.BrokerInfo{self}})
	send(sm.MetadataDelta{FromVersion: 5, ToVersion: 6, Topics: []sm.TopicInfo{{Name: "orders", Partitions: 1, ReplicationFactor: 1}}, Partitions: []sm.PartitionState{st}})
	if len(n.Partitions()) != 0 {
		t.Fatal("applied a delta with a gap")
	}
	send(sm.MetadataDelta{FromVersion: 2, ToVersion: 4, Topics: []sm.TopicInfo{{Name: "orders", Partitions: 1, ReplicationFactor: 1}}, Partitions: []sm.PartitionState{st}})
	if s := w.status(101, tp0); s.Role.String() != "leader" {
		t.Fatalf("%+v", s)
	}
	old := st
	old.Leader = 102
	send(sm.MetadataDelta{FromVersion: 3, ToVersion: 4, Partitions: []sm.PartitionState{old}})
	if s := w.status(101, tp0); s.Role.String() != "leader" {
		t.Fatalf("old delta applied: %+v", s)
	}
	send(sm.MetadataDelta{FromVersion: 4, ToVersion: 5, DeletedTopics: []string{"orders"}})
	if len(n.Partitions()) != 0 {
		t.Fatal("deleted topic still hosted")
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := testConfig(101, 1)
	cfg.Controllers = nil
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "controllers") {
		t.Fatalf("%v", err)
	}
	cfg = testConfig(101, 1)
	cfg.ReplicaLagTime = 0
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "replica lag time") {
		t.Fatalf("%v", err)
	}
	if _, err := broker.New(cfg, sm.Durable{}); err == nil {
		t.Fatal("New accepted an invalid config")
	}
	cfg = testConfig(101, 1)
	cfg.HealthInterval = -1
	if err := cfg.Validate(); err == nil || err.Error() != "broker: health interval must be >= 0 (got -1ns); 0 uses 15s" {
		t.Fatalf("%v", err)
	}
	cfg.HealthInterval = 0 // the default
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if d := broker.DefaultConfig(101, 1, []sm.NodeID{ctrl1}); d.HealthInterval != 15*sm.Second {
		t.Fatalf("default health interval %v, want the reference's 15s", d.HealthInterval)
	}
}

// Metadata that does not show this incarnation registered may be a delayed
// answer meant for the previous process: it never deletes a recovered log.
func TestUnregisteredMetadataKeepsLogs(t *testing.T) {
	b := sm.Batch{BaseOffset: 0, Epoch: 1, Records: []sm.Record{{Value: []byte("a")}}}
	b.Seal()
	gone := sm.TopicPartition{Topic: "gone", Partition: 0}
	w := newWorld(t)
	w.start(101, 2, map[sm.TopicPartition][]byte{gone: sm.EncodeBatch(nil, &b)})
	old := sm.MetadataDelta{Full: true, ToVersion: 5, Brokers: []sm.BrokerInfo{{ID: 101, Incarnation: 1}}}
	w.step(101, sm.Received{From: ctrl1, Msg: sm.BrokerHeartbeatResponse{Incarnation: 2, Code: sm.CodeOK, Delta: old, SentAt: w.now(), SessionTimeout: 3600 * sm.Second}})
	if len(w.nodes[101].n.Partitions()) != 1 {
		t.Fatal("stale metadata deleted a recovered log")
	}
	cur := sm.MetadataDelta{Full: true, ToVersion: 6, Brokers: []sm.BrokerInfo{{ID: 101, Incarnation: 2}}}
	w.step(101, sm.Received{From: ctrl1, Msg: sm.BrokerHeartbeatResponse{Incarnation: 2, Code: sm.CodeOK, Delta: cur, SentAt: w.now(), SessionTimeout: 3600 * sm.Second}})
	if len(w.nodes[101].n.Partitions()) != 0 || w.nodes[101].pending()[0].Kind != sm.LogDelete {
		t.Fatalf("registered metadata kept a deleted topic: %+v", w.nodes[101].pending())
	}
}

// A broker answers metadata requests from its own copy, so clients need
// only a broker list; before it has metadata it says so.
func TestBrokerAnswersMetadata(t *testing.T) {
	w := newWorld(t, 101)
	var got []sm.MetadataResponse
	for _, e := range w.ask(101, client2, sm.MetadataRequest{ReqID: 1}) {
		if r, ok := e.Msg.(sm.MetadataResponse); ok && e.To == client2 {
			got = append(got, r)
		}
	}
	if len(got) != 1 || got[0].Code != sm.CodeNotLeader {
		t.Fatalf("before metadata: %+v", got)
	}
	self := sm.BrokerInfo{ID: 101, Incarnation: 1}
	st := sm.PartitionState{TP: tp0, Replicas: []sm.NodeID{101}, Leader: 101, LeaderEpoch: 1, ISR: []sm.NodeID{101}, PartitionEpoch: 1}
	w.step(101, sm.Received{From: ctrl1, Msg: sm.BrokerHeartbeatResponse{Incarnation: 1, Code: sm.CodeOK, SentAt: w.now(), SessionTimeout: 3600 * sm.Second, Delta: sm.MetadataDelta{Full: true, ToVersion: 4,
		Brokers: []sm.BrokerInfo{self}, Topics: []sm.TopicInfo{{Name: tp0.Topic, Partitions: 1, ReplicationFactor: 1}}, Partitions: []sm.PartitionState{st}}}})
	for _, e := range w.ask(101, client2, sm.MetadataRequest{ReqID: 2}) {
		if r, ok := e.Msg.(sm.MetadataResponse); ok && e.To == client2 {
			if r.Code != sm.CodeOK || !r.Delta.Full || r.Delta.ToVersion != 4 || len(r.Delta.Partitions) != 1 || r.Delta.Partitions[0].Leader != 101 {
				t.Fatalf("after metadata: %+v", r)
			}
			return
		}
	}
	t.Fatal("no metadata response")
}

// A leader whose lease lapsed — no controller answered a heartbeat within
// the session timeout, so a newer incarnation may lead in its place — serves
// no produce or fetch until a controller answers again.
func TestLeaderLease(t *testing.T) {
	w := newWorld(t, 101, 102, 103)
	w.ctrl[ctrl1].session = 500 * sm.Millisecond
	w.topic("orders", 1, 101, 102, 103)
	w.run(300 * sm.Millisecond)
	if r := w.client(101, produce(tp0, ackAll, "a"), 50*sm.Millisecond).(sm.ProduceResponse); r.Code != sm.CodeOK {
		t.Fatalf("produce under the lease: %+v", r)
	}
	w.ctrl[ctrl1].down = true
	w.run(600 * sm.Millisecond)
	r := w.client(101, produce(tp0, ackAll, "b"), 50*sm.Millisecond).(sm.ProduceResponse)
	if r.Code != sm.CodeNotLeader || !strings.Contains(r.Message, "lease expired") {
		t.Fatalf("produce after the lease: %+v", r)
	}
	f := w.client(101, sm.FetchRequest{ReqID: 8, TP: tp0}, 10*sm.Millisecond).(sm.FetchResponse)
	if f.Code != sm.CodeNotLeader || len(f.Batches) != 0 {
		t.Fatalf("fetch after the lease: %+v", f)
	}
	if got := logValues(w.nodes[101], tp0); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("log after a refused produce: %v", got)
	}
	w.ctrl[ctrl1].down = false
	w.run(600 * sm.Millisecond)
	if r := w.client(101, produce(tp0, ackAll, "b"), 100*sm.Millisecond).(sm.ProduceResponse); r.Code != sm.CodeOK || r.BaseOffset != 1 {
		t.Fatalf("produce after the controller answered again: %+v", r)
	}
}

// A replica fetch from an incarnation older than the one metadata names
// for its sender (a zombie process) is refused and does not count; and once
// a leader learns of a newer incarnation it forgets the old one's progress.
func TestStaleIncarnationFetchRefused(t *testing.T) {
	w := newWorld(t, 101, 102, 103)
	w.topic("orders", 1, 101, 102, 103)
	w.run(300 * sm.Millisecond)
	w.client(101, produce(tp0, ackAll, "a", "b"), 100*sm.Millisecond)
	c := w.ctrl[ctrl1]
	info := c.brokers[102]
	info.Incarnation++
	c.brokers[102] = info
	c.version++
	w.run(500 * sm.Millisecond) // 101 learns of 102's new incarnation
	if got, _ := w.nodes[101].n.BrokerInfo(102); got.Incarnation != info.Incarnation {
		t.Fatalf("101 knows 102 as %+v", got)
	}
	w.replies = nil
	w.net.Send([]sm.Envelope{{From: 102, To: 101, Msg: sm.ReplicaFetchRequest{TP: tp0, Replica: 102,
		Incarnation: info.Incarnation - 1, LeaderEpoch: 1, FetchOffset: 2, LastFetchedEpoch: 1}}})
	var got *sm.ReplicaFetchResponse
	w.tap = func(e sm.Envelope) {
		if r, ok := e.Msg.(sm.ReplicaFetchResponse); ok && e.From == 101 && e.To == 102 && r.Incarnation == info.Incarnation-1 {
			got = &r
		}
	}
	w.run(10 * sm.Millisecond)
	if got == nil || got.Code != sm.CodeStaleBrokerEpoch {
		t.Fatalf("fetch from the old incarnation answered %+v", got)
	}
}

// logEndOf is the offset after the last whole frame of file.
func logEndOf(file []byte) sm.Offset {
	bs, _, _ := sm.DecodeLog(file)
	if len(bs) == 0 {
		return 0
	}
	return bs[len(bs)-1].NextOffset()
}
