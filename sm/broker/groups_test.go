package broker_test

import (
	"fmt"
	"testing"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/group"
	"github.com/weirmq/weir/sm/group/assign"
)

// groupWorld is a three-broker world with topic "t" (6 partitions, RF 3,
// led by 101) holding records, and the offsets topic created through the
// first FindCoordinator.
func groupWorld(t *testing.T) (*world, sm.NodeID) {
	t.Helper()
	w := newWorld(t, 101, 102, 103)
	w.topic("t", 6, 101, 102, 103)
	w.run(300 * sm.Millisecond)
	for p := range int32(6) {
		tp := sm.TopicPartition{Topic: "t", Partition: p}
		if r := w.client(101, produce(tp, sm.Acks{Kind: sm.AckAll}, "a", "b", "c"), 200*sm.Millisecond).(sm.ProduceResponse); r.Code != sm.CodeOK {
			t.Fatalf("produce %v: %v %s", tp, r.Code, r.Message)
		}
	}
	first := w.client(102, sm.FindCoordinatorRequest{ReqID: 1, GroupID: "g"}, 10*sm.Millisecond).(sm.FindCoordinatorResponse)
	if first.Code != sm.CodeCoordinatorNotAvailable {
		t.Fatalf("first FindCoordinator: %+v, want COORDINATOR_NOT_AVAILABLE while the topic is created", first)
	}
	w.run(500 * sm.Millisecond)
	if c := w.ctrl[ctrl1].creates; c != 1 {
		t.Fatalf("%d create requests for the offsets topic, want 1", c)
	}
	found := w.client(102, sm.FindCoordinatorRequest{ReqID: 2, GroupID: "g"}, 10*sm.Millisecond).(sm.FindCoordinatorResponse)
	want := sm.TopicPartition{Topic: sm.OffsetsTopic, Partition: group.PartitionFor("g", 4)}
	if found.Code != sm.CodeOK || found.Partition != want.Partition {
		t.Fatalf("FindCoordinator: %+v, want partition %d", found, want.Partition)
	}
	if leader, _ := w.nodes[101].n.BrokerInfo(101); leader.ID == 0 {
		t.Fatal("no metadata")
	}
	return w, found.Coordinator
}

func subscription(topics ...string) []sm.GroupProtocol {
	return []sm.GroupProtocol{{Name: "range", Metadata: assign.EncodeSubscription(assign.Subscription{Topics: topics, Generation: -1})}}
}

// joinSync joins one member alone and syncs its assignment of every
// partition of "t".
func joinSync(t *testing.T, w *world, coord sm.NodeID, id string) (member string, gen int32) {
	t.Helper()
	j := w.client(coord, sm.JoinGroupRequest{ReqID: 10, GroupID: "g", MemberID: id, ClientID: "app", ProtocolType: "consumer",
		Protocols: subscription("t"), SessionTimeout: 2 * sm.Second, RebalanceTimeout: 2 * sm.Second}, 100*sm.Millisecond).(sm.JoinGroupResponse)
	if j.Code != sm.CodeOK || j.Leader != j.MemberID {
		t.Fatalf("join: %+v", j)
	}
	var tps []sm.TopicPartition
	for p := range int32(6) {
		tps = append(tps, sm.TopicPartition{Topic: "t", Partition: p})
	}
	s := w.client(coord, sm.SyncGroupRequest{ReqID: 11, GroupID: "g", Generation: j.Generation, MemberID: j.MemberID,
		Assignments: []sm.GroupAssignment{{MemberID: j.MemberID, Assignment: assign.EncodeAssignment(assign.Assignment{Partitions: tps})}}},
		100*sm.Millisecond).(sm.SyncGroupResponse)
	if s.Code != sm.CodeOK {
		t.Fatalf("sync: %+v", s)
	}
	if a, err := assign.DecodeAssignment(s.Assignment); err != nil || len(a.Partitions) != 6 {
		t.Fatalf("assignment %v %v", a, err)
	}
	return j.MemberID, j.Generation
}

func commit(w *world, coord sm.NodeID, member string, gen int32, off sm.Offset) sm.OffsetCommitResponse {
	req := sm.OffsetCommitRequest{ReqID: 20, GroupID: "g", Generation: gen, MemberID: member}
	for p := range int32(6) {
		req.Offsets = append(req.Offsets, sm.OffsetCommit{TP: sm.TopicPartition{Topic: "t", Partition: p}, Offset: off, LeaderEpoch: -1})
	}
	r := w.client(coord, req, 100*sm.Millisecond).(sm.OffsetCommitResponse)
	for _, p := range r.Partitions {
		if r.Code == sm.CodeOK && p.Code != sm.CodeOK {
			r.Code, r.Message = p.Code, p.Message // the first partition's refusal
		}
	}
	return r
}

func fetched(t *testing.T, w *world, coord sm.NodeID) []sm.Offset {
	t.Helper()
	r := w.client(coord, sm.OffsetFetchRequest{ReqID: 30, GroupID: "g"}, 10*sm.Millisecond).(sm.OffsetFetchResponse)
	if r.Code != sm.CodeOK {
		t.Fatalf("offset fetch: %+v", r)
	}
	var out []sm.Offset
	for _, o := range r.Offsets {
		out = append(out, o.Offset)
	}
	return out
}

// TestGroupCoordinatorHosted: the offsets topic is created on the first
// FindCoordinator; a member joins, syncs, commits; the committed offsets
// survive a leader change of the offsets partition (the new leader loads
// its coordinator from the log, and the member carries on in its
// generation); another broker answers NOT_COORDINATOR.
func TestGroupCoordinatorHosted(t *testing.T) {
	w, coord := groupWorld(t)
	member, gen := joinSync(t, w, coord, "")
	if r := commit(w, coord, member, gen, 2); r.Code != sm.CodeOK {
		t.Fatalf("commit: %+v", r)
	}
	if got := fetched(t, w, coord); fmt.Sprint(got) != "[2 2 2 2 2 2]" {
		t.Fatalf("fetched %v", got)
	}
	if r := commit(w, coord, member, gen, 1); r.Code != sm.CodeOffsetRegression {
		t.Fatalf("a commit going back without a seek: %+v, want OFFSET_REGRESSION", r)
	}
	if r := commit(w, coord, member, gen+1, 3); r.Code != sm.CodeIllegalGeneration {
		t.Fatalf("a commit of another generation: %+v, want ILLEGAL_GENERATION", r)
	}
	if r := commit(w, coord, member, gen, 4); r.Code != sm.CodeOffsetOutOfRange {
		t.Fatalf("a commit beyond the high watermark: %+v, want OFFSET_OUT_OF_RANGE", r)
	}
	other := sm.NodeID(101)
	if other == coord {
		other = 102
	}
	if r := w.client(other, sm.HeartbeatRequest{ReqID: 40, GroupID: "g", Generation: gen, MemberID: member}, 10*sm.Millisecond).(sm.HeartbeatResponse); r.Code != sm.CodeNotCoordinator {
		t.Fatalf("heartbeat at a broker that does not coordinate: %+v", r)
	}
	if r := w.client(coord, sm.ProduceRequest{ReqID: 41, TP: sm.TopicPartition{Topic: sm.OffsetsTopic}, Acks: sm.Acks{Kind: sm.AckAll},
		Records: []sm.Record{{Value: []byte("x")}}}, 10*sm.Millisecond).(sm.ProduceResponse); r.Code != sm.CodeInvalidTopicName {
		t.Fatalf("a client produce to the offsets topic: %+v", r)
	}

	// Move the offsets partition's leadership to the next replica.
	tp := sm.TopicPartition{Topic: sm.OffsetsTopic, Partition: group.PartitionFor("g", 4)}
	st := w.ctrl[ctrl1].parts[tp]
	next := st.Replicas[1]
	w.elect(tp, next)
	w.run(500 * sm.Millisecond)
	if r := w.client(coord, sm.HeartbeatRequest{ReqID: 42, GroupID: "g", Generation: gen, MemberID: member}, 10*sm.Millisecond).(sm.HeartbeatResponse); r.Code != sm.CodeNotCoordinator {
		t.Fatalf("heartbeat at the old coordinator: %+v", r)
	}
	found := w.client(101, sm.FindCoordinatorRequest{ReqID: 43, GroupID: "g"}, 10*sm.Millisecond).(sm.FindCoordinatorResponse)
	if found.Coordinator != next {
		t.Fatalf("FindCoordinator after the move: %+v, want %v", found, next)
	}
	if got := fetched(t, w, next); fmt.Sprint(got) != "[2 2 2 2 2 2]" {
		t.Fatalf("fetched %v from the new coordinator", got)
	}
	if w.nodes[next].host.Env.Probes[sm.ProbeCoordinatorLoaded] == 0 {
		t.Fatal("the new coordinator reported no load")
	}
	if r := w.client(next, sm.HeartbeatRequest{ReqID: 44, GroupID: "g", Generation: gen, MemberID: member}, 10*sm.Millisecond).(sm.HeartbeatResponse); r.Code != sm.CodeOK {
		t.Fatalf("heartbeat at the new coordinator: %+v", r)
	}
	if r := commit(w, next, member, gen, 3); r.Code != sm.CodeOK {
		t.Fatalf("commit at the new coordinator: %+v", r)
	}
	nope := "nope"
	for i := 0; group.PartitionFor(nope, 4) != tp.Partition; i++ {
		nope = fmt.Sprintf("nope-%d", i) // a group the same coordinator would own
	}
	d := w.client(next, sm.DescribeGroupsRequest{ReqID: 45, GroupIDs: []string{"g", nope}}, 10*sm.Millisecond).(sm.DescribeGroupsResponse)
	if len(d.Groups) != 2 || d.Groups[0].State != "Stable" || len(d.Groups[0].Members) != 1 || d.Groups[1].Code != sm.CodeGroupIDNotFound {
		t.Fatalf("describe: %+v", d)
	}
	// The member leaves; the group, empty, can be deleted.
	if r := w.client(next, sm.LeaveGroupRequest{ReqID: 46, GroupID: "g", Members: []sm.GroupMemberRef{{MemberID: member}}}, 100*sm.Millisecond).(sm.LeaveGroupResponse); r.Code != sm.CodeOK {
		t.Fatalf("leave: %+v", r)
	}
	l := w.client(next, sm.ListGroupsRequest{ReqID: 47}, 10*sm.Millisecond).(sm.ListGroupsResponse)
	if len(l.Groups) != 1 || l.Groups[0].GroupID != "g" || l.Groups[0].State != "Empty" {
		t.Fatalf("list: %+v", l)
	}
	del := w.client(next, sm.DeleteGroupsRequest{ReqID: 48, GroupIDs: []string{"g"}}, 100*sm.Millisecond).(sm.DeleteGroupsResponse)
	if len(del.Groups) != 1 || del.Groups[0].Code != sm.CodeOK {
		t.Fatalf("delete: %+v", del)
	}
	if got := fetched(t, w, next); len(got) != 0 {
		t.Fatalf("offsets after delete: %v", got)
	}
}

// TestGroupSnapshotBoundsOffsetsLog: with small segments and a small
// snapshot threshold, many commits roll segments, a snapshot commits, and
// retention deletes what lies below it; a coordinator loaded afterwards
// from the shortened log still has the latest offsets.
func TestGroupSnapshotBoundsOffsetsLog(t *testing.T) {
	w := newWorld(t)
	for _, id := range []sm.NodeID{101, 102, 103} {
		cfg := testConfig(id, 1)
		cfg.Groups.OffsetsSegmentBytes = 2048
		cfg.Groups.SnapshotBytes = 4096
		cfg.RetentionCheckInterval = 50 * sm.Millisecond
		w.startWith(id, cfg)
	}
	w.topic("t", 6, 101, 102, 103)
	w.run(300 * sm.Millisecond)
	for p := range int32(6) {
		tp := sm.TopicPartition{Topic: "t", Partition: p}
		vals := make([]string, 200)
		for i := range vals {
			vals[i] = "v"
		}
		if r := w.client(101, produce(tp, sm.Acks{Kind: sm.AckAll}, vals...), 200*sm.Millisecond).(sm.ProduceResponse); r.Code != sm.CodeOK {
			t.Fatalf("produce: %+v", r)
		}
	}
	w.client(102, sm.FindCoordinatorRequest{ReqID: 1, GroupID: "g"}, 500*sm.Millisecond)
	coord := w.client(102, sm.FindCoordinatorRequest{ReqID: 2, GroupID: "g"}, 10*sm.Millisecond).(sm.FindCoordinatorResponse).Coordinator
	member, gen := joinSync(t, w, coord, "")
	for i := range 150 {
		if r := commit(w, coord, member, gen, sm.Offset(i+1)); r.Code != sm.CodeOK {
			t.Fatalf("commit %d: %+v", i, r)
		}
	}
	w.run(300 * sm.Millisecond)
	tp := sm.TopicPartition{Topic: sm.OffsetsTopic, Partition: group.PartitionFor("g", 4)}
	if w.nodes[coord].host.Env.Probes[sm.ProbeGroupSnapshotWritten] == 0 {
		t.Fatal("no snapshot was written")
	}
	st := w.status(coord, tp)
	if st.LogStart == 0 {
		t.Fatalf("the offsets partition still starts at 0 (%+v): nothing below the snapshot was deleted", st)
	}
	for _, id := range w.ctrl[ctrl1].parts[tp].Replicas {
		if s := w.status(id, tp); s.LogStart == 0 {
			t.Fatalf("%v's replica still starts at 0: followers follow the leader's log start", id)
		}
	}
	next := w.ctrl[ctrl1].parts[tp].Replicas[1]
	w.elect(tp, next)
	w.run(500 * sm.Millisecond)
	if got := fetched(t, w, next); fmt.Sprint(got) != "[150 150 150 150 150 150]" {
		t.Fatalf("fetched %v from the coordinator loaded after the snapshot", got)
	}
	if r := w.client(next, sm.HeartbeatRequest{ReqID: 44, GroupID: "g", Generation: gen, MemberID: member}, 10*sm.Millisecond).(sm.HeartbeatResponse); r.Code != sm.CodeOK {
		t.Fatalf("heartbeat at the new coordinator: %+v", r)
	}
}

// Goal: InitProducerID answers distinct IDs from the blocks the controller
// allocates, asking for the next block when one runs out, and retrying a
// refused block request; a broker that is not registered refuses.
func TestInitProducerID(t *testing.T) {
	w := newWorld(t, 101)
	c := w.ctrl[ctrl1]
	c.nextPID = 100
	c.refusePIDs = true
	c.session = time1s
	w.run(300 * sm.Millisecond)
	w.replies = nil
	w.net.Send([]sm.Envelope{{From: client, To: 101, Msg: sm.InitProducerIDRequest{ReqID: 1}}})
	w.run(100 * sm.Millisecond)
	if len(w.replies) != 0 || c.pidRequests != 1 {
		t.Fatalf("with the controller refusing: %d replies, %d block requests", len(w.replies), c.pidRequests)
	}
	c.refusePIDs = false
	w.run(time1s)
	seen := map[int64]bool{}
	for i := range 7 {
		var r sm.InitProducerIDResponse
		if i == 0 {
			if len(w.replies) != 1 {
				t.Fatalf("the waiting request got %d replies after the retry", len(w.replies))
			}
			r = w.replies[0].Msg.(sm.InitProducerIDResponse)
		} else {
			r = w.client(101, sm.InitProducerIDRequest{ReqID: uint64(i + 1)}, 10*sm.Millisecond).(sm.InitProducerIDResponse)
		}
		if r.Code != sm.CodeOK || r.ProducerID < 100 || seen[r.ProducerID] || r.ProducerEpoch != 0 {
			t.Fatalf("request %d: %+v (seen %v)", i, r, seen)
		}
		seen[r.ProducerID] = true
	}
	if c.pidRequests != 4 { // the refused one, then three blocks of three
		t.Fatalf("%d block requests", c.pidRequests)
	}
	w.ctrl[ctrl1].down = true
	w.run(3 * time1s) // the lease runs out
	if r := w.client(101, sm.InitProducerIDRequest{ReqID: 9}, 10*sm.Millisecond).(sm.InitProducerIDResponse); r.Code != sm.CodeLeaderNotAvailable {
		t.Fatalf("without a lease: %+v", r)
	}
}

const time1s = sm.Second
