package group

import (
	"fmt"
	"strings"
	"testing"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/group/assign"
)

// stableGroup brings members (client IDs) into one Stable generation with
// the range assignor over t's 8 partitions; returns member IDs and the
// generation.
func stableGroup(t *testing.T, w *world, group string, clients ...string) ([]string, int32) {
	t.Helper()
	var ids []string
	var hs []Handle
	for i, cl := range clients {
		h := w.join(group, "", cl, sub("t"))
		if i == 0 {
			jr := w.joinResp(h)
			ids = append(ids, jr.MemberID)
			continue
		}
		hs = append(hs, h)
	}
	if len(clients) > 1 {
		// The first member learns of the rebalance and rejoins.
		hs = append([]Handle{w.join(group, ids[0], clients[0], sub("t"))}, hs...)
		ids = nil
		for _, h := range hs {
			ids = append(ids, w.joinResp(h).MemberID)
		}
	}
	d := w.c.Describe([]string{group})[0]
	if d.State != StateCompletingRebalance {
		t.Fatalf("after joins: %v", d.State)
	}
	var leaderJR JoinResponse
	// Re-fetch the leader's view: describe gives the leader, a rejoin with
	// the same metadata in CompletingRebalance returns its join reply.
	leaderJR = w.joinResp(w.join(group, d.Leader, "x", sub("t")))
	syncs := map[string]Handle{}
	for _, id := range ids {
		if id == d.Leader {
			continue
		}
		syncs[id] = w.sync(group, d.Generation, id, nil)
		if r := w.take(syncs[id]); r != nil {
			t.Fatalf("follower sync answered before the leader's: %+v", r)
		}
	}
	lh := w.sync(group, d.Generation, d.Leader, rangeAssign(t, leaderJR, map[string]int32{"t": 8}))
	syncs[d.Leader] = lh
	for id, h := range syncs {
		r := w.take(h).(SyncResponse)
		if r.Code != None {
			t.Fatalf("sync of %s: %v %s", id, r.Code, r.Message)
		}
	}
	if d := w.c.Describe([]string{group})[0]; d.State != StateStable {
		t.Fatalf("after sync: %v", d.State)
	}
	return ids, d.Generation
}

func assignmentOf(t *testing.T, w *world, group, member string) []sm.TopicPartition {
	for _, m := range w.c.Describe([]string{group})[0].Members {
		if m.MemberID == member {
			a, err := assign.DecodeAssignment(m.Assignment)
			if err != nil {
				t.Fatal(err)
			}
			return a.Partitions
		}
	}
	t.Fatalf("no member %s", member)
	return nil
}

// Goal: the classic protocol's happy path and every commit refusal.
func TestJoinSyncCommit(t *testing.T) {
	w := newWorld(t, testConfig())
	ids, gen := stableGroup(t, w, "g", "c1", "c2")
	if gen != 2 || len(ids) != 2 {
		t.Fatalf("generation %d, members %v", gen, ids)
	}
	if !strings.HasPrefix(ids[0], "c1-0-") || !strings.HasPrefix(ids[1], "c2-0-") {
		t.Fatalf("member IDs %v not derived from client IDs", ids)
	}
	mine := assignmentOf(t, w, "g", ids[0])
	theirs := assignmentOf(t, w, "g", ids[1])
	if len(mine) != 4 || len(theirs) != 4 {
		t.Fatalf("range split %v / %v", mine, theirs)
	}
	if c := w.heartbeat("g", gen, ids[0]); c != None {
		t.Fatalf("heartbeat: %v", c)
	}
	r := w.commit("g", gen, ids[0], false, off(mine[0], 10))
	if r.Code != None || r.Partitions[0].Code != None {
		t.Fatalf("commit: %+v", r)
	}
	f := w.c.FetchOffsets("g", []sm.TopicPartition{mine[0], mine[1]})
	if f.Partitions[0].Offset != 10 || f.Partitions[1].Offset != -1 {
		t.Fatalf("fetch: %+v", f)
	}
	cases := []struct {
		name   string
		gen    int32
		member string
		seek   bool
		o      OffsetCommit
		want   Code
	}{
		{"stale generation", gen - 1, ids[0], false, off(mine[0], 11), IllegalGeneration},
		{"unknown member", gen, "nobody", false, off(mine[0], 11), UnknownMemberID},
		{"not assigned", gen, ids[0], false, off(theirs[0], 1), PartitionNotAssigned},
		{"beyond high watermark", gen, ids[0], false, off(mine[0], 1001), OffsetOutOfRange},
		{"negative", gen, ids[0], false, off(mine[0], -1), OffsetOutOfRange},
		{"unknown partition", gen, ids[0], false, off(tp("nope", 0), 1), UnknownTopicOrPartition},
		{"regression", gen, ids[0], false, off(mine[0], 9), OffsetRegression},
		{"metadata too large", gen, ids[0], false, OffsetCommit{TP: mine[0], Offset: 12, Metadata: strings.Repeat("x", 4097)}, OffsetMetadataTooLarge},
		{"seek back", gen, ids[0], true, off(mine[0], 3), None},
	}
	for _, tc := range cases {
		r := w.commit("g", tc.gen, tc.member, tc.seek, tc.o)
		if got := r.Partitions[0].Code; got != tc.want {
			t.Errorf("%s: got %v (%s), want %v", tc.name, got, r.Partitions[0].Message, tc.want)
		}
	}
	if o, _ := w.c.Committed("g", mine[0]); o.Offset != 3 || !o.Seek || o.MemberID != ids[0] || o.Generation != gen {
		t.Fatalf("after seek: %+v", o)
	}
	// Duplicates in one commit: the second is refused, the first stored.
	r = w.commit("g", gen, ids[0], false, off(mine[1], 5), off(mine[1], 6))
	if r.Partitions[0].Code != None || r.Partitions[1].Code != InvalidRequest {
		t.Fatalf("duplicate: %+v", r)
	}
}

// Goal: a member that stops heartbeating is removed after its session
// timeout; the others rebalance and the leader's assignment moves its
// partitions.
func TestSessionExpiryRebalances(t *testing.T) {
	w := newWorld(t, testConfig())
	ids, gen := stableGroup(t, w, "g", "a", "b")
	for range 3 {
		w.advance(3 * sm.Second)
		if c := w.heartbeat("g", gen, ids[0]); c != None {
			t.Fatalf("heartbeat: %v", c)
		}
	}
	w.advance(3 * sm.Second) // b last heard 12 s ago: gone
	d := w.c.Describe([]string{"g"})[0]
	if d.State != StatePreparingRebalance || len(d.Members) != 1 {
		t.Fatalf("after b's session expired: %v with %d members", d.State, len(d.Members))
	}
	if c := w.heartbeat("g", gen, ids[0]); c != RebalanceInProgress {
		t.Fatalf("heartbeat during rebalance: %v", c)
	}
	if c := w.heartbeat("g", gen, ids[1]); c != UnknownMemberID {
		t.Fatalf("expired member's heartbeat: %v", c)
	}
	jr := w.joinResp(w.join("g", ids[0], "a", sub("t")))
	if jr.Generation != gen+1 || jr.Leader != ids[0] || len(jr.Members) != 1 {
		t.Fatalf("rejoin: %+v", jr)
	}
	h := w.sync("g", jr.Generation, ids[0], rangeAssign(t, jr, map[string]int32{"t": 8}))
	if r := w.take(h).(SyncResponse); r.Code != None {
		t.Fatalf("sync: %v", r.Code)
	}
	if got := assignmentOf(t, w, "g", ids[0]); len(got) != 8 {
		t.Fatalf("survivor owns %v", got)
	}
	// The last member leaves: the group is Empty in a new generation, stored.
	lh := w.handle()
	w.c.Leave(lh, w.now, LeaveRequest{GroupID: "g", Members: []LeavingMember{{MemberID: ids[0]}}})
	if r := w.take(lh).(LeaveResponse); r.Members[0].Code != None {
		t.Fatalf("leave: %+v", r)
	}
	if d := w.c.Describe([]string{"g"})[0]; d.State != StateEmpty || d.Generation != gen+2 {
		t.Fatalf("after leave: %v gen %d", d.State, d.Generation)
	}
}

// Goal: a member that does not rejoin within the rebalance timeout is
// dropped and the join phase completes without it.
func TestRebalanceTimeout(t *testing.T) {
	w := newWorld(t, testConfig())
	ids, gen := stableGroup(t, w, "g", "a", "b")
	h := w.join("g", "", "c", sub("t")) // a third member starts a rebalance
	w.advance(5 * sm.Second)
	hb := w.heartbeat("g", gen, ids[0])
	if hb != RebalanceInProgress {
		t.Fatalf("heartbeat: %v", hb)
	}
	ha := w.join("g", ids[0], "a", sub("t"))
	w.advance(16 * sm.Second) // past the 20 s rebalance timeout; b never rejoined
	jr := w.joinResp(h)
	if jr.Code != None || jr.Generation != gen+1 {
		t.Fatalf("c's join: %+v", jr)
	}
	if r := w.joinResp(ha); len(r.Members) != 2 {
		t.Fatalf("leader a sees %d members", len(r.Members))
	}
}

func TestRequestErrors(t *testing.T) {
	cfg := testConfig()
	cfg.Partitions = 4
	cfg.Partition = PartitionFor("mine", 4)
	cfg.MembersMax = 1
	w := newWorld(t, cfg)
	other := "x"
	for PartitionFor(other, 4) == cfg.Partition {
		other += "x"
	}
	jn := func(r JoinRequest) JoinResponse {
		h := w.handle()
		if r.ProtocolType == "" {
			r.ProtocolType = "consumer"
		}
		if r.SessionTimeout == 0 {
			r.SessionTimeout = 10 * sm.Second
		}
		w.c.Join(h, w.now, r)
		return w.joinResp(h)
	}
	cases := []struct {
		name string
		r    JoinRequest
		want Code
	}{
		{"empty group", JoinRequest{GroupID: "", Protocols: sub("t")}, InvalidGroupID},
		{"other partition", JoinRequest{GroupID: other, Protocols: sub("t")}, NotCoordinator},
		{"session too short", JoinRequest{GroupID: "mine", Protocols: sub("t"), SessionTimeout: 1}, InvalidSessionTimeout},
		{"session too long", JoinRequest{GroupID: "mine", Protocols: sub("t"), SessionTimeout: 3600 * sm.Second}, InvalidSessionTimeout},
		{"no protocols", JoinRequest{GroupID: "mine"}, InconsistentGroupProtocol},
		{"unknown member, no group", JoinRequest{GroupID: "mine", MemberID: "m", Protocols: sub("t")}, UnknownMemberID},
		{"metadata too large", JoinRequest{GroupID: "mine", Protocols: []Protocol{{Name: "range", Metadata: make([]byte, 2<<20)}}}, InvalidRequest},
		{"repeated protocol", JoinRequest{GroupID: "mine", Protocols: append(sub("t"), sub("t")...)}, InconsistentGroupProtocol},
		{"kip-394", JoinRequest{GroupID: "mine", Protocols: sub("t"), RequireKnownMemberID: true}, MemberIDRequired},
	}
	for _, tc := range cases {
		if got := jn(tc.r); got.Code != tc.want {
			t.Errorf("%s: got %v (%s), want %v", tc.name, got.Code, got.Message, tc.want)
		}
	}
	// KIP-394: the pending ID joins; the group is then full.
	pending := jn(JoinRequest{GroupID: "mine", Protocols: sub("t"), RequireKnownMemberID: true})
	if pending.Code != GroupMaxSizeReached {
		t.Fatalf("second pending member: %v", pending.Code)
	}
	var pendingID string
	for id := range w.c.groups["mine"].pending {
		pendingID = id
	}
	if r := jn(JoinRequest{GroupID: "mine", MemberID: pendingID, Protocols: sub("t")}); r.Code != None || r.MemberID != pendingID {
		t.Fatalf("rejoin with the given ID: %+v", r)
	}
	if r := jn(JoinRequest{GroupID: "mine", Protocols: sub("t")}); r.Code != GroupMaxSizeReached {
		t.Fatalf("full group: %v", r.Code)
	}
	if r := jn(JoinRequest{GroupID: "mine", MemberID: pendingID, ProtocolType: "connect", Protocols: sub("t")}); r.Code != InconsistentGroupProtocol {
		t.Fatalf("other protocol type: %v", r.Code)
	}
	// Loading.
	c, _ := New(cfg)
	h := w.handle()
	c.Join(h, 0, JoinRequest{GroupID: "mine", ProtocolType: "consumer", Protocols: sub("t"), SessionTimeout: 10 * sm.Second})
	if r := c.TakeOutput().Replies[0].Body.(JoinResponse); r.Code != CoordinatorLoadInProgress {
		t.Fatalf("while loading: %v", r.Code)
	}
	if f := c.FetchOffsets("mine", nil); f.Code != CoordinatorLoadInProgress {
		t.Fatalf("fetch while loading: %v", f.Code)
	}
}

// Goal: delete and reset refuse a live group, work on an empty one, and a
// standalone commit needs no membership.
func TestDeleteResetStandalone(t *testing.T) {
	w := newWorld(t, testConfig())
	ids, gen := stableGroup(t, w, "g", "a")
	mine := assignmentOf(t, w, "g", ids[0])
	w.commit("g", gen, ids[0], false, off(mine[0], 50))
	del := func(groups ...string) DeleteResponse {
		h := w.handle()
		w.c.Delete(h, w.now, groups)
		return w.take(h).(DeleteResponse)
	}
	reset := func(group string, offs ...OffsetCommit) CommitResponse {
		h := w.handle()
		w.c.ResetOffsets(h, w.now, ResetRequest{GroupID: group, Offsets: offs}, w.hw)
		return w.take(h).(CommitResponse)
	}
	if r := del("g", "nope"); r.Groups[0].Code != NonEmptyGroup || r.Groups[1].Code != GroupIDNotFound {
		t.Fatalf("delete: %+v", r)
	}
	if r := reset("g", off(mine[0], 1)); r.Code != NonEmptyGroup {
		t.Fatalf("reset of a live group: %+v", r)
	}
	if r := w.commit("g", -1, "", false, off(mine[0], 1)); r.Code != UnknownMemberID {
		t.Fatalf("standalone commit to a live group: %+v", r)
	}
	lh := w.handle()
	w.c.Leave(lh, w.now, LeaveRequest{GroupID: "g", Members: []LeavingMember{{MemberID: ids[0]}}})
	w.take(lh)
	if r := reset("g", off(mine[0], 7)); r.Code != None || r.Partitions[0].Code != None {
		t.Fatalf("reset: %+v", r)
	}
	if o, _ := w.c.Committed("g", mine[0]); o.Offset != 7 || !o.Seek || !o.Standalone {
		t.Fatalf("after reset: %+v", o)
	}
	if r := w.commit("g", -1, "", false, off(mine[0], 2)); r.Code != None {
		t.Fatalf("standalone commit: %+v", r)
	}
	if o, _ := w.c.Committed("g", mine[0]); o.Offset != 2 || !o.Seek {
		t.Fatalf("standalone commit back is recorded as a seek: %+v", o)
	}
	if r := w.commit("fresh", -1, "", false, off(tp("t", 0), 4)); r.Code != None {
		t.Fatalf("standalone commit creates a group: %+v", r)
	}
	if r := w.commit("fresh2", 3, "m", false, off(tp("t", 0), 4)); r.Code != IllegalGeneration {
		t.Fatalf("member commit to a missing group: %+v", r)
	}
	if r := del("g"); r.Groups[0].Code != None {
		t.Fatalf("delete empty: %+v", r)
	}
	if f := w.c.FetchOffsets("g", []sm.TopicPartition{mine[0]}); f.Partitions[0].Offset != -1 {
		t.Fatalf("offsets survive delete: %+v", f)
	}
	if d := w.c.Describe([]string{"g"})[0]; d.Code != GroupIDNotFound {
		t.Fatalf("describe deleted: %+v", d)
	}
	l := w.c.List()
	if len(l.Groups) != 1 || l.Groups[0].GroupID != "fresh" {
		t.Fatalf("list: %+v", l)
	}
	// Rebuilt from the log: the same.
	c2 := reload(t, w.log)
	if !sameRecords(c2.Snapshot(), w.c.Snapshot()) {
		t.Fatal("reload differs")
	}
}

func reload(t testing.TB, log []sm.Record) *Coordinator {
	c, err := New(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if rep := c.Load(log); len(rep.Skipped) != 0 {
		t.Fatalf("load skipped %v", rep.Skipped)
	}
	c.FinishLoad(0)
	return c
}

func sameRecords(a, b []sm.Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if string(a[i].Key) != string(b[i].Key) || string(a[i].Value) != string(b[i].Value) {
			return false
		}
	}
	return true
}

// Goal: a failed store of the leader's assignment answers every held sync
// with a retriable error and restarts the rebalance; a failed commit is
// refused; an unknown outcome fences the coordinator, which a reload from
// the log replaces.
func TestAppendOutcomes(t *testing.T) {
	w := newWorld(t, testConfig())
	ids, gen := stableGroup(t, w, "g", "a", "b")
	mine := assignmentOf(t, w, "g", ids[0])
	w.auto = false
	h := w.handle()
	w.c.Commit(h, w.now, CommitRequest{GroupID: "g", Generation: gen, MemberID: ids[0], Offsets: []OffsetCommit{off(mine[0], 5)}}, w.hw)
	w.settle()
	if w.take(h) != nil {
		t.Fatal("commit answered before its append completed")
	}
	w.complete(0, sm.OutcomeFailed)
	if r := w.take(h).(CommitResponse); r.Partitions[0].Code != CoordinatorNotAvailable {
		t.Fatalf("failed commit: %+v", r)
	}
	// Rebalance; the leader's sync store fails.
	ja := w.join("g", ids[0], "a", sub("t"))
	jb := w.join("g", ids[1], "b", sub("t"))
	jra, jrb := w.joinResp(ja), w.joinResp(jb)
	leader, follower := jra, jrb
	if jrb.Leader == jrb.MemberID {
		leader, follower = jrb, jra
	}
	fs := w.sync("g", follower.Generation, follower.MemberID, nil)
	ls := w.sync("g", leader.Generation, leader.MemberID, rangeAssign(t, leader, map[string]int32{"t": 8}))
	w.complete(0, sm.OutcomeFailed)
	for _, h := range []Handle{fs, ls} {
		if r := w.take(h).(SyncResponse); r.Code != CoordinatorNotAvailable {
			t.Fatalf("sync after failed store: %+v", r)
		}
	}
	if d := w.c.Describe([]string{"g"})[0]; d.State != StatePreparingRebalance {
		t.Fatalf("after failed store: %v", d.State)
	}
	// Two commits in flight, completed out of order: applied in issue order.
	ids2 := []string{leader.MemberID, follower.MemberID}
	_ = ids2
	held := w.join("g", ids[0], "a", sub("t"))
	w.settle()
	w.pending = nil
	h1 := w.handle()
	w.c.Commit(h1, w.now, CommitRequest{GroupID: "g", Generation: leader.Generation, MemberID: ids[0], Offsets: []OffsetCommit{off(mine[1], 5)}}, w.hw)
	w.settle()
	if len(w.pending) != 1 {
		t.Fatalf("%d appends", len(w.pending))
	}
	// Unknown: fenced; the held join gets a retriable error.
	w.complete(0, sm.OutcomeUnknown)
	w.settle()
	if !w.c.NeedsReload() {
		t.Fatal("not fenced after an unknown outcome")
	}
	if r := w.take(held).(JoinResponse); r.Code != CoordinatorNotAvailable {
		t.Fatalf("held join after fence: %+v", r)
	}
	if r := w.take(h1).(CommitResponse); r.Partitions[0].Code != CoordinatorNotAvailable {
		t.Fatalf("commit after fence: %+v", r)
	}
	if c := w.heartbeat("g", gen, ids[0]); c != CoordinatorNotAvailable {
		t.Fatalf("heartbeat when fenced: %v", c)
	}
	c2 := reload(t, w.log)
	if d := c2.Describe([]string{"g"})[0]; d.State != StateStable || d.Generation != gen {
		t.Fatalf("reloaded: %v gen %d (want Stable %d)", d.State, d.Generation, gen)
	}
}

// Goal: appends that complete out of order are applied in issue order.
func TestOutOfOrderCompletions(t *testing.T) {
	w := newWorld(t, testConfig())
	w.auto = false
	h1, h2 := w.handle(), w.handle()
	w.c.Commit(h1, w.now, CommitRequest{GroupID: "s", Generation: -1, Offsets: []OffsetCommit{off(tp("t", 0), 5)}}, w.hw)
	w.c.Commit(h2, w.now, CommitRequest{GroupID: "s", Generation: -1, Offsets: []OffsetCommit{off(tp("t", 0), 9)}}, w.hw)
	w.settle()
	w.complete(1, sm.OutcomeOK)
	w.settle()
	if w.take(h2) != nil {
		t.Fatal("later append answered before the earlier one completed")
	}
	w.complete(0, sm.OutcomeOK)
	w.settle()
	if w.take(h1) == nil || w.take(h2) == nil {
		t.Fatal("replies missing")
	}
	if o, _ := w.c.Committed("s", tp("t", 0)); o.Offset != 9 {
		t.Fatalf("latest issued wins: %+v", o)
	}
}

// Goal: a static member restarting (no member ID, same instance) replaces
// its old ID without a rebalance; the old ID is fenced.
func TestStaticMember(t *testing.T) {
	w := newWorld(t, testConfig())
	ids, gen := stableGroup(t, w, "g", "a", "b")
	_ = ids
	h := w.handle()
	w.c.Join(h, w.now, JoinRequest{GroupID: "g", GroupInstanceID: "i1", ClientID: "c", ProtocolType: "consumer", Protocols: sub("t"), SessionTimeout: 10 * sm.Second})
	w.settle()
	// A new static member: a rebalance. Bring everyone in.
	ha := w.join("g", ids[0], "a", sub("t"))
	hb := w.join("g", ids[1], "b", sub("t"))
	jr := w.joinResp(h)
	all := []JoinResponse{w.joinResp(ha), w.joinResp(hb), jr}
	var lead JoinResponse
	for _, r := range all {
		if r.MemberID == r.Leader {
			lead = r
		}
	}
	hs := map[string]Handle{}
	for _, r := range all {
		if r.MemberID != lead.MemberID {
			hs[r.MemberID] = w.sync("g", r.Generation, r.MemberID, nil)
		}
	}
	hs[lead.MemberID] = w.sync("g", lead.Generation, lead.MemberID, rangeAssign(t, lead, map[string]int32{"t": 8}))
	for _, h := range hs {
		w.take(h)
	}
	before := assignmentOf(t, w, "g", jr.MemberID)
	// Restart of i1.
	h2 := w.handle()
	w.c.Join(h2, w.now, JoinRequest{GroupID: "g", GroupInstanceID: "i1", ClientID: "c", ProtocolType: "consumer", Protocols: sub("t"), SessionTimeout: 10 * sm.Second})
	r2 := w.joinResp(h2)
	if r2.Code != None || r2.MemberID == jr.MemberID || r2.Generation != gen+1 {
		t.Fatalf("static rejoin: %+v", r2)
	}
	if d := w.c.Describe([]string{"g"})[0]; d.State != StateStable {
		t.Fatalf("static rejoin rebalanced: %v", d.State)
	}
	hb2 := w.handle()
	w.c.Heartbeat(hb2, w.now, HeartbeatRequest{GroupID: "g", Generation: r2.Generation, MemberID: jr.MemberID, GroupInstanceID: "i1"})
	if r := w.take(hb2).(HeartbeatResponse); r.Code != FencedInstanceID {
		t.Fatalf("old instance: %v", r.Code)
	}
	if after := assignmentOf(t, w, "g", r2.MemberID); assign.FormatPartitions(after) != assign.FormatPartitions(before) {
		t.Fatalf("assignment changed: %v → %v", before, after)
	}
}

// Goal: Kafka's partitioning of group IDs (Java String.hashCode).
func TestPartitionFor(t *testing.T) {
	cases := []struct {
		id   string
		want int32
	}{
		{"", 0},
		{"hello", 99162322 % 50},
		{"polygenelubricants", 0}, // hashCode is MinInt32; Utils.abs gives 0
		{"\U0001F600", int32((0xD83D*31 + 0xDE00) % 50)},
	}
	for _, tc := range cases {
		if got := PartitionFor(tc.id, 50); got != tc.want {
			t.Errorf("PartitionFor(%q) = %d, want %d", tc.id, got, tc.want)
		}
	}
	if javaHashCode("polygenelubricants") != -1<<31 {
		t.Errorf("hashCode(polygenelubricants) = %d", javaHashCode("polygenelubricants"))
	}
}

// Goal: records round-trip and garbage is refused, never a panic.
func TestRecordEncoding(t *testing.T) {
	c := Committed{Offset: 42, LeaderEpoch: 3, Metadata: "m", Generation: 7, MemberID: "x", Seek: true, Standalone: true}
	got, err := decodeOffset(encodeOffset(c))
	if err != nil || got != c {
		t.Fatalf("offset: %+v %v", got, err)
	}
	k, err := decodeKey(offsetKey("g", tp("t", 3)))
	if err != nil || !k.isOffset || k.group != "g" || k.tp != tp("t", 3) {
		t.Fatalf("key: %+v %v", k, err)
	}
	v := &groupValue{protocolType: "consumer", generation: 4, protocol: "range", leader: "a",
		members: []storedMember{{id: "a", clientID: "c", sessionTimeout: sm.Second, rebalanceTimeout: 2 * sm.Second, metadata: []byte{1}, assignment: nil}}}
	gv, err := decodeGroup(encodeGroup(v))
	if err != nil || gv.generation != 4 || len(gv.members) != 1 || gv.members[0].rebalanceTimeout != 2*sm.Second || gv.members[0].assignment != nil {
		t.Fatalf("group: %+v %v", gv, err)
	}
	for _, bad := range [][]byte{nil, {0}, {0, 9}, {0, 2, 0, 5, 'a'}, append(groupKey("g"), 0)} {
		if _, err := decodeKey(bad); err == nil {
			t.Errorf("key %x accepted", bad)
		}
	}
	if _, err := decodeOffset([]byte{0, 2}); err == nil {
		t.Error("unknown offset value version accepted")
	}
	c2, _ := New(testConfig())
	rep := c2.Load([]sm.Record{{Key: []byte{0, 7}, Value: []byte{1}}, {Key: groupKey("g"), Value: []byte{0, 1, 0}}})
	if len(rep.Skipped) != 2 {
		t.Fatalf("load skipped %v", rep.Skipped)
	}
}

// Goal: unloading (leadership of the offsets partition moved) answers
// every held request NotCoordinator, and every later one; late
// completions are dropped.
func TestUnload(t *testing.T) {
	w := newWorld(t, testConfig())
	ids, gen := stableGroup(t, w, "g", "a", "b")
	w.auto = false
	held := w.join("g", ids[0], "a", sub("t")) // leader rejoins: held
	h := w.handle()
	w.c.Commit(h, w.now, CommitRequest{GroupID: "g", Generation: gen, MemberID: ids[1], Offsets: []OffsetCommit{off(assignmentOf(t, w, "g", ids[1])[0], 1)}}, w.hw)
	w.settle()
	w.c.Unload()
	w.settle()
	if r := w.take(held).(JoinResponse); r.Code != NotCoordinator {
		t.Fatalf("held join: %v", r.Code)
	}
	if r := w.take(h).(CommitResponse); r.Partitions[0].Code != NotCoordinator {
		t.Fatalf("held commit: %v", r.Partitions[0].Code)
	}
	w.complete(0, sm.OutcomeOK) // late: dropped
	w.settle()
	if c := w.heartbeat("g", gen, ids[1]); c != NotCoordinator {
		t.Fatalf("after unload: %v", c)
	}
	if w.c.TimerAt() != 0 {
		t.Fatal("timer after unload")
	}
}

// Goal: a leader's assignment that gives a partition to two members, or
// that members could not decode, is refused; the group stays in
// CompletingRebalance for a good one.
func TestLeaderAssignmentRefused(t *testing.T) {
	w := newWorld(t, testConfig())
	jr := w.joinResp(w.join("g", "", "a", sub("t")))
	both := assign.EncodeAssignment(assign.Assignment{Partitions: []sm.TopicPartition{tp("t", 0)}})
	jb := w.join("g", "", "b", sub("t"))
	ja := w.join("g", jr.MemberID, "a", sub("t"))
	rb, ra := w.joinResp(jb), w.joinResp(ja)
	lead := ra
	if rb.Leader == rb.MemberID {
		lead = rb
	}
	bad := [][]MemberAssignment{
		{{MemberID: ra.MemberID, Assignment: both}, {MemberID: rb.MemberID, Assignment: both}},
		{{MemberID: ra.MemberID, Assignment: []byte{0, 1, 0xff}}},
	}
	for i, as := range bad {
		if r := w.take(w.sync("g", lead.Generation, lead.MemberID, as)).(SyncResponse); r.Code != InvalidRequest {
			t.Fatalf("bad assignment %d: %v", i, r.Code)
		}
	}
	if d := w.c.Describe([]string{"g"})[0]; d.State != StateCompletingRebalance {
		t.Fatalf("after refusals: %v", d.State)
	}
	if r := w.take(w.sync("g", lead.Generation, lead.MemberID, rangeAssign(t, lead, map[string]int32{"t": 8}))).(SyncResponse); r.Code != None {
		t.Fatalf("good assignment: %v", r.Code)
	}
}

// Goal: the exported decoder reads what the coordinator writes, and the
// log of a member commit, a seek and a delete says so.
func TestDecodeRecord(t *testing.T) {
	w := newWorld(t, testConfig())
	ids, gen := stableGroup(t, w, "g", "a")
	mine := assignmentOf(t, w, "g", ids[0])
	w.commit("g", gen, ids[0], false, off(mine[0], 9))
	w.commit("g", gen, ids[0], true, off(mine[0], 4))
	var kinds []string
	for _, rec := range w.log {
		r, err := DecodeRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case r.IsOffset:
			kinds = append(kinds, fmt.Sprintf("offset %s=%d seek=%v by %s/%d", r.TP, r.Offset.Offset, r.Offset.Seek, r.Offset.MemberID, r.Offset.Generation))
		default:
			kinds = append(kinds, fmt.Sprintf("group gen %d %s members %d", r.Generation, r.Protocol, len(r.Members)))
		}
	}
	want := []string{
		"group gen 1 range members 1",
		fmt.Sprintf("offset %s=9 seek=false by %s/%d", mine[0], ids[0], gen),
		fmt.Sprintf("offset %s=4 seek=true by %s/%d", mine[0], ids[0], gen),
	}
	if strings.Join(kinds, "\n") != strings.Join(want, "\n") {
		t.Fatalf("log:\n%s\nwant:\n%s", strings.Join(kinds, "\n"), strings.Join(want, "\n"))
	}
}

// Goal: two coordinators of the same epoch (a reload, a process restarted
// into the epoch) never issue the same member ID: their Instance is part
// of it.
func TestMemberIDsDifferAcrossInstances(t *testing.T) {
	a, b := testConfig(), testConfig()
	a.Epoch, b.Epoch = 5, 5
	a.Instance, b.Instance = "x.1", "x.2"
	ida, _ := stableGroup(t, newWorld(t, a), "g", "c1")
	idb, _ := stableGroup(t, newWorld(t, b), "g", "c1")
	if ida[0] == idb[0] || !strings.HasPrefix(ida[0], "c1-5.x.1-") || !strings.HasPrefix(idb[0], "c1-5.x.2-") {
		t.Fatalf("member IDs %q and %q", ida[0], idb[0])
	}
}

// Goal: a partition a cooperative rebalance revoked from a member (nobody
// holds it yet) stays the member's to commit after the coordinator is
// rebuilt from its records, as before: the revoked set comes back from
// the members' stored subscriptions (found by the simulator's group
// workload: such commits were refused PARTITION_NOT_ASSIGNED after a
// reload).
func TestRevokedCommitAfterReload(t *testing.T) {
	w := newWorld(t, testConfig())
	t0, t1 := sm.TopicPartition{Topic: "t", Partition: 0}, sm.TopicPartition{Topic: "t", Partition: 1}
	coop := func(owned ...sm.TopicPartition) []Protocol {
		return []Protocol{{Name: "cooperative-sticky", Metadata: assign.EncodeSubscription(assign.Subscription{Version: 2, Topics: []string{"t"}, Owned: owned, Generation: -1})}}
	}
	asg := func(tps ...sm.TopicPartition) []byte {
		return assign.EncodeAssignment(assign.Assignment{Partitions: tps})
	}
	a := w.joinResp(w.join("g", "", "a", coop())).MemberID
	if r := w.take(w.sync("g", 1, a, []MemberAssignment{{MemberID: a, Assignment: asg(t0, t1)}})).(SyncResponse); r.Code != None {
		t.Fatalf("first sync: %+v", r)
	}
	hb := w.join("g", "", "b", coop())
	if c := w.heartbeat("g", 1, a); c != RebalanceInProgress {
		t.Fatalf("heartbeat during the rebalance: %v", c)
	}
	ha := w.join("g", a, "a", coop(t0, t1))
	b := w.joinResp(hb).MemberID
	if jr := w.joinResp(ha); jr.Generation != 2 || jr.Leader != a {
		t.Fatalf("rejoin: %+v", jr)
	}
	hs := w.sync("g", 2, b, nil)
	if r := w.take(w.sync("g", 2, a, []MemberAssignment{{MemberID: a, Assignment: asg(t0)}, {MemberID: b, Assignment: asg()}})).(SyncResponse); r.Code != None {
		t.Fatalf("leader sync: %+v", r)
	}
	w.take(hs)
	if r := w.commit("g", 2, a, false, off(t1, 5)); r.Code != None || r.Partitions[0].Code != None {
		t.Fatalf("commit of the revoked partition before the reload: %+v", r)
	}
	c2, err := New(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	c2.Load(w.c.Snapshot())
	c2.FinishLoad(w.now)
	w.c = c2
	if r := w.commit("g", 2, a, false, off(t1, 6)); r.Code != None || r.Partitions[0].Code != None {
		t.Fatalf("commit of the revoked partition after the reload: %+v", r)
	}
	if r := w.commit("g", 2, b, false, off(t0, 1)); r.Partitions[0].Code != PartitionNotAssigned {
		t.Fatalf("a member committing a partition another holds: %+v", r)
	}
}
