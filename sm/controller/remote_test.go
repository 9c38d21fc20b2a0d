package controller

import (
	"fmt"
	"slices"
	"testing"

	"github.com/weirmq/weir/sm"
)

// uploadOf is an upload of [base, next) of tp by its current leader (at its
// current epoch), named with effect eff.
func uploadOf(md *metadata, tp sm.TopicPartition, base, next sm.Offset, eff sm.EffectID) *commitSegment {
	st := md.partition(tp).state
	id := md.topics[tp.Topic].info.ID
	name := sm.ObjectName{TopicID: id, Partition: tp.Partition, Base: base, Epoch: st.LeaderEpoch, Broker: st.Leader, Incarnation: 1, Effect: eff}
	return &commitSegment{Broker: st.Leader, TP: tp, TopicID: id, LeaderEpoch: st.LeaderEpoch, Segment: sm.RemoteSegment{
		Name: name.String(), Base: base, Next: next, DataBytes: 10 * int64(next-base), IndexBytes: 24, MaxTimestamp: int64(next),
		LeaderEpoch: st.LeaderEpoch, Epochs: []sm.EpochStart{{Epoch: st.LeaderEpoch, Start: base}},
	}}
}

// commit records [base, next) of tp from its current leader.
func (f *fsm) commit(tp sm.TopicPartition, base, next sm.Offset) {
	f.t.Helper()
	f.ok(command{CommitSegment: uploadOf(f.md, tp, base, next, sm.EffectID(f.md.applied+1))})
}

// Goal: a commit changes the partition's version, so receivers of deltas
// see Remote, and leaves its partition epoch, so a leader's AlterISR made
// before the commit still applies.
func TestCommitKeepsPartitionEpoch(t *testing.T) {
	f := newFSM(t)
	f.register(101, 102)
	f.create("t", 1, 2, sm.TopicConfig{})
	tp := sm.TopicPartition{Topic: "t"}
	before := f.state("t", 0)
	since := f.md.version
	f.commit(tp, 0, 10)
	after := f.state("t", 0)
	if after.PartitionEpoch != before.PartitionEpoch || after.LeaderEpoch != before.LeaderEpoch {
		t.Fatalf("commit moved epochs: %+v → %+v", before, after)
	}
	d := f.md.delta(since)
	if len(d.Partitions) != 1 || d.Partitions[0].Remote != (sm.RemoteLog{Start: 0, End: 10, Bytes: 124, Segments: 1}) {
		t.Fatalf("delta after a commit: %+v", d)
	}
	f.ok(command{AlterISR: &alterISR{Broker: before.Leader, TP: tp, LeaderEpoch: before.LeaderEpoch, PartitionEpoch: before.PartitionEpoch, ISR: []sm.NodeID{before.Leader}}})
	if got := f.state("t", 0); got.Remote != after.Remote || len(got.ISR) != 1 {
		t.Fatalf("after AlterISR: %+v", got)
	}
}

// Goal: the leader refuses at once what its applied state refuses for good
// (a malformed segment, a stale epoch, a base below the end), answers a
// retry of a recorded segment OK, and proposes everything else; a
// follower sends the uploader to the leader. No refused request costs a
// raft entry.
func TestCommitSegmentOnTheLeader(t *testing.T) {
	h := newHarness(t, 5, 3)
	l := h.waitLeader()
	h.registerBrokers(map[sm.NodeID]string{101: "a", 102: "b"})
	createTopicOK(t, h, sm.CreateTopicRequest{ReqID: 1, Name: "t", Partitions: 1, ReplicationFactor: 2})
	h.converge()
	tp := sm.TopicPartition{Topic: "t"}
	commit := func(to sm.NodeID, c *commitSegment) sm.CommitSegmentResponse {
		return h.requestOne(900, to, sm.CommitSegmentRequest{ReqID: 7, Broker: c.Broker, TP: c.TP, TopicID: c.TopicID,
			LeaderEpoch: c.LeaderEpoch, Segment: c.Segment}).(sm.CommitSegmentResponse)
	}
	md := h.nodes[l].md
	first := uploadOf(md, tp, 0, 100, 1)
	applied := h.nodes[l].AppliedIndex()
	if r := commit(l, first); r.Code != sm.CodeOK || r.Remote.End != 100 || r.ReqID != 7 || r.TP != tp || r.LeaderHint != l {
		t.Fatalf("commit: %+v", r)
	}
	if got := h.nodes[l].AppliedIndex(); got != applied+1 {
		t.Fatalf("a commit applied %d entries", got-applied)
	}
	f := h.followers()[0]
	if r := commit(f, uploadOf(md, tp, 100, 200, 2)); r.Code != sm.CodeNotLeader || r.LeaderHint != l {
		t.Fatalf("follower: %+v", r)
	}
	applied = h.nodes[l].AppliedIndex()
	stale := uploadOf(md, tp, 100, 200, 3)
	stale.LeaderEpoch, stale.Segment.LeaderEpoch = 0, 0
	stale.Segment.Name = sm.ObjectName{TopicID: stale.TopicID, Base: 100, Broker: stale.Broker, Incarnation: 1, Effect: 3}.String()
	probes := h.hosts[l].Env.Probes[sm.ProbeZombieUploadRejected]
	bad := uploadOf(md, tp, 100, 200, 4)
	bad.Segment.DataBytes = 0
	for _, c := range []struct {
		name string
		c    *commitSegment
		code sm.Code
	}{
		{"retry", first, sm.CodeOK},
		{"stale epoch", stale, sm.CodeFencedLeaderEpoch},
		{"overlap", uploadOf(md, tp, 50, 200, 5), sm.CodeRemoteMismatch},
		{"malformed", bad, sm.CodeInvalidRequest},
	} {
		if r := commit(l, c.c); r.Code != c.code || r.Remote.End != 100 {
			t.Errorf("%s: %+v, want %v with the range", c.name, r, c.code)
		}
	}
	if got := h.nodes[l].AppliedIndex(); got != applied {
		t.Errorf("refusals applied %d entries", got-applied)
	}
	if h.hosts[l].Env.Probes[sm.ProbeZombieUploadRejected] != probes+1 {
		t.Errorf("zombie-upload-rejected fired %d times for one zombie", h.hosts[l].Env.Probes[sm.ProbeZombieUploadRejected]-probes)
	}
	// A gap is proposed: only the log decides (an earlier commit may be in
	// flight); it is refused where it applies.
	if r := commit(l, uploadOf(md, tp, 150, 200, 6)); r.Code != sm.CodeRemoteMismatch || h.nodes[l].AppliedIndex() != applied+1 {
		t.Errorf("gap: %+v (applied %d entries)", r, h.nodes[l].AppliedIndex()-applied)
	}
	if got := h.converge(); findPartition(t, got, tp).Remote != (sm.RemoteLog{End: 100, Bytes: 1024, Segments: 1}) {
		t.Errorf("replicated Remote %+v", findPartition(t, got, tp).Remote)
	}
	for _, id := range h.ids {
		if segs := h.nodes[id].RemoteSegments()[tp]; len(segs) != 1 || !sameSegment(&segs[0], &first.Segment) {
			t.Errorf("%v records %+v", id, segs)
		}
	}
}

// Goal: the leader pages a partition's records from an offset (default and
// largest page remoteSegmentsPage), names the topic's current ID only, and
// a follower sends the reader to the leader; drops through raft answer
// with the range after them.
func TestRemoteSegmentsPaging(t *testing.T) {
	h := newHarness(t, 6, 3)
	l := h.waitLeader()
	h.registerBrokers(map[sm.NodeID]string{101: "a"})
	createTopicOK(t, h, sm.CreateTopicRequest{ReqID: 1, Name: "t", Partitions: 1, ReplicationFactor: 1})
	h.converge()
	tp := sm.TopicPartition{Topic: "t"}
	const segments = remoteSegmentsPage + 5
	md := h.nodes[l].md
	h.inbox[900] = nil
	for i := range sm.Offset(segments) { // all proposed at once: they apply in order
		c := uploadOf(md, tp, 10*i, 10*i+10, sm.EffectID(i+1))
		h.send(900, l, sm.CommitSegmentRequest{ReqID: uint64(i), Broker: c.Broker, TP: tp, TopicID: c.TopicID, LeaderEpoch: c.LeaderEpoch, Segment: c.Segment})
	}
	h.settle()
	for i, m := range h.inbox[900] {
		if r := m.(sm.CommitSegmentResponse); r.Code != sm.CodeOK || r.ReqID != uint64(i) {
			t.Fatalf("commit %d: %+v", i, r)
		}
	}
	if len(h.inbox[900]) != segments {
		t.Fatalf("%d replies to %d commits", len(h.inbox[900]), segments)
	}
	id := md.topics["t"].info.ID
	page := func(to sm.NodeID, from sm.Offset, max int32) sm.RemoteSegmentsResponse {
		return h.requestOne(900, to, sm.RemoteSegmentsRequest{ReqID: 3, TP: tp, TopicID: id, From: from, Max: max}).(sm.RemoteSegmentsResponse)
	}
	var all []sm.RemoteSegment
	for from, pages := sm.Offset(0), 0; ; pages++ {
		r := page(l, from, 0)
		if r.Code != sm.CodeOK || r.Remote.End != 10*segments || len(r.Segments) == 0 || pages > 2 {
			t.Fatalf("page from %d: %v %s, %d segments, remote %+v", from, r.Code, r.Message, len(r.Segments), r.Remote)
		}
		all = append(all, r.Segments...)
		if !r.More {
			break
		}
		from = r.Segments[len(r.Segments)-1].Next
	}
	if len(all) != segments || !slices.EqualFunc(all, md.partition(tp).remote, func(a, b sm.RemoteSegment) bool { return sameSegment(&a, &b) }) {
		t.Fatalf("paged %d segments, want the %d recorded", len(all), segments)
	}
	for _, c := range []struct {
		from sm.Offset
		max  int32
		base sm.Offset
		n    int
		more bool
	}{
		{from: 0, max: 2, base: 0, n: 2, more: true},
		{from: 15, max: 2, base: 10, n: 2, more: true}, // the segment holding 15 first
		{from: 20, max: 3, base: 20, n: 3, more: true},
		{from: 10*segments - 10, max: 5, base: 10*segments - 10, n: 1},
		{from: 10 * segments, max: 5, n: 0},
		{from: -5, max: 1, base: 0, n: 1, more: true},
		{from: 0, max: 5000, base: 0, n: remoteSegmentsPage, more: true},
	} {
		r := page(l, c.from, c.max)
		if r.Code != sm.CodeOK || len(r.Segments) != c.n || r.More != c.more || (c.n > 0 && r.Segments[0].Base != c.base) {
			t.Errorf("from %d max %d: %v, %d segments (first %+v), more %v; want %d from %d, more %v", c.from, c.max, r.Code, len(r.Segments), r.Segments[:min(1, len(r.Segments))], r.More, c.n, c.base, c.more)
		}
	}
	if r := page(h.followers()[0], 0, 0); r.Code != sm.CodeNotLeader || r.LeaderHint != l || len(r.Segments) != 0 {
		t.Errorf("follower: %v hint %v, %d segments", r.Code, r.LeaderHint, len(r.Segments))
	}
	other := h.requestOne(900, l, sm.RemoteSegmentsRequest{ReqID: 4, TP: tp, TopicID: sm.TopicID{9}}).(sm.RemoteSegmentsResponse)
	if other.Code != sm.CodeUnknownTopic || len(other.Segments) != 0 {
		t.Errorf("another topic ID: %+v", other.Code)
	}

	st := md.partition(tp).state
	drop := func(below sm.Offset) sm.DropRemoteSegmentsResponse {
		return h.requestOne(901, l, sm.DropRemoteSegmentsRequest{ReqID: 5, Broker: st.Leader, TP: tp, TopicID: id, LeaderEpoch: st.LeaderEpoch, Below: below}).(sm.DropRemoteSegmentsResponse)
	}
	if r := drop(95); r.Code != sm.CodeRemoteMismatch || r.Remote.Start != 0 {
		t.Errorf("drop mid-segment: %+v", r)
	}
	if r := drop(100); r.Code != sm.CodeOK || r.Remote.Start != 100 || r.Remote.Segments != segments-10 || r.ReqID != 5 || r.TP != tp {
		t.Errorf("drop: %+v", r)
	}
	if r := page(l, 0, 1); len(r.Segments) != 1 || r.Segments[0].Base != 100 {
		t.Errorf("first page after the drop: %+v", r.Segments)
	}
	if r := h.requestOne(901, h.followers()[0], sm.DropRemoteSegmentsRequest{ReqID: 6, TP: tp}).(sm.DropRemoteSegmentsResponse); r.Code != sm.CodeNotLeader || r.LeaderHint != l {
		t.Errorf("drop at a follower: %+v", r)
	}
}

// Goal: a commit or drop pending when the leader loses leadership is
// answered LEADERSHIP_LOST (outcome unknown): it may still commit.
func TestTieringLeadershipLost(t *testing.T) {
	h := newHarness(t, 7, 3)
	l := h.waitLeader()
	h.registerBrokers(map[sm.NodeID]string{101: "a"})
	createTopicOK(t, h, sm.CreateTopicRequest{ReqID: 1, Name: "t", Partitions: 1, ReplicationFactor: 1})
	h.converge()
	for id := range h.brokers {
		h.brokers[id].alive = false
	}
	tp := sm.TopicPartition{Topic: "t"}
	c := uploadOf(h.nodes[l].md, tp, 0, 10, 1)
	h.cut = func(from, to sm.NodeID) bool {
		_, fc := h.cfgs[from]
		_, tc := h.cfgs[to]
		return fc && tc && (from == l) != (to == l)
	}
	h.inbox[c.Broker] = nil
	h.send(c.Broker, l, sm.CommitSegmentRequest{ReqID: 8, Broker: c.Broker, TP: tp, TopicID: c.TopicID, LeaderEpoch: c.LeaderEpoch, Segment: c.Segment})
	h.send(c.Broker, l, sm.DropRemoteSegmentsRequest{ReqID: 9, Broker: c.Broker, TP: tp, TopicID: c.TopicID, LeaderEpoch: c.LeaderEpoch, Below: 10})
	h.advance(3 * sm.Second)
	if h.nodes[l].IsLeader() {
		t.Fatalf("isolated %v still leads", l)
	}
	var got []string
	for _, m := range h.inbox[c.Broker] {
		switch r := m.(type) {
		case sm.CommitSegmentResponse:
			got = append(got, fmt.Sprintf("commit %d %v %v", r.ReqID, r.TP, r.Code))
		case sm.DropRemoteSegmentsResponse:
			got = append(got, fmt.Sprintf("drop %d %v %v", r.ReqID, r.TP, r.Code))
		}
	}
	if want := []string{"commit 8 t/0 LEADERSHIP_LOST", "drop 9 t/0 LEADERSHIP_LOST"}; !slices.Equal(got, want) {
		t.Errorf("pending tiering requests answered %v, want %v", got, want)
	}
}

// Goal: MetadataVersion moves with every change of the records and only
// then (a refused commit changes nothing).
func TestMetadataVersionFollowsRecords(t *testing.T) {
	h := newHarness(t, 8, 1)
	l := h.waitLeader()
	h.registerBrokers(map[sm.NodeID]string{101: "a"})
	createTopicOK(t, h, sm.CreateTopicRequest{ReqID: 1, Name: "t", Partitions: 1, ReplicationFactor: 1})
	n := h.nodes[l]
	tp := sm.TopicPartition{Topic: "t"}
	v := n.MetadataVersion()
	if v != n.Metadata().ToVersion {
		t.Fatalf("version %d, metadata at %d", v, n.Metadata().ToVersion)
	}
	c := uploadOf(n.md, tp, 0, 10, 1)
	req := sm.CommitSegmentRequest{ReqID: 2, Broker: c.Broker, TP: tp, TopicID: c.TopicID, LeaderEpoch: c.LeaderEpoch, Segment: c.Segment}
	if r := h.requestOne(900, l, req).(sm.CommitSegmentResponse); r.Code != sm.CodeOK || n.MetadataVersion() <= v {
		t.Fatalf("commit %+v: version %d → %d", r, v, n.MetadataVersion())
	}
	v = n.MetadataVersion()
	gap := uploadOf(n.md, tp, 20, 30, 2)
	req = sm.CommitSegmentRequest{ReqID: 3, Broker: gap.Broker, TP: tp, TopicID: gap.TopicID, LeaderEpoch: gap.LeaderEpoch, Segment: gap.Segment}
	if r := h.requestOne(900, l, req).(sm.CommitSegmentResponse); r.Code != sm.CodeRemoteMismatch || n.MetadataVersion() != v {
		t.Fatalf("refused commit %+v: version %d → %d", r, v, n.MetadataVersion())
	}
}
