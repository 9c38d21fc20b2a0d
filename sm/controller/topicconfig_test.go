package controller

import (
	"strings"
	"testing"

	"github.com/weirmq/weir/sm"
)

// Goal: every topic gets an ID from the entry that created it — the same on
// every replica and every replay, never zero — and a topic deleted and
// created again under its name gets a new one.
func TestTopicIDs(t *testing.T) {
	run := func() (first, again, other sm.TopicID) {
		f := newFSM(t)
		f.register(101)
		f.create("orders", 1, 1, sm.TopicConfig{})
		f.create("audit", 1, 1, sm.TopicConfig{})
		first = f.md.topics["orders"].info.ID
		other = f.md.topics["audit"].info.ID
		f.ok(command{Delete: &deleteTopic{Name: "orders"}})
		f.create("orders", 1, 1, sm.TopicConfig{})
		again = f.md.topics["orders"].info.ID
		if d := f.md.delta(0); d.Topics[1].Name != "orders" || d.Topics[1].ID != again {
			t.Fatalf("full delta carries %+v, want orders with id %v", d.Topics, again)
		}
		return first, again, other
	}
	first, again, other := run()
	switch {
	case first == (sm.TopicID{}) || again == (sm.TopicID{}) || other == (sm.TopicID{}):
		t.Fatalf("zero topic id: %v %v %v", first, again, other)
	case first == again:
		t.Fatalf("re-created topic kept its id %v", first)
	case first == other || again == other:
		t.Fatalf("two topics share an id: %v %v %v", first, again, other)
	}
	if f2, a2, o2 := run(); f2 != first || a2 != again || o2 != other {
		t.Fatalf("ids differ between two applications of one log: %v %v %v, then %v %v %v", first, again, other, f2, a2, o2)
	}
	// The derivation itself: term and index both count.
	if topicID("t", 1, 5) == topicID("t", 2, 5) || topicID("t", 1, 5) == topicID("t", 1, 6) || topicID("t", 1, 5) == topicID("u", 1, 5) {
		t.Fatal("topic id ignores part of its entry")
	}
	if s := first.String(); len(s) != 22 {
		t.Fatalf("topic id prints as %q, want 22 base64url characters", s)
	}
}

// Goal: through real raft entries, every controller derives the same topic
// ID, a restarted controller derives it again from its log, brokers get it
// through heartbeat deltas (sm/metacache), and a delete and re-create moves
// every view to the new ID.
func TestTopicIDsReplicated(t *testing.T) {
	h := newHarness(t, 11, 3)
	h.waitLeader()
	h.registerBrokers(threeRacks)
	createTopicOK(t, h, sm.CreateTopicRequest{ReqID: 1, Name: "orders", Partitions: 2, ReplicationFactor: 3})
	md := h.converge()
	info, _ := findTopic(md, "orders")
	if info.ID == (sm.TopicID{}) {
		t.Fatal("replicated topic has no id")
	}
	f := h.followers()[0]
	h.crash(f)
	h.start(f)
	if md := h.converge(); !equalMetadata(md, h.nodes[f].Metadata()) {
		t.Fatal("restarted controller disagrees")
	}
	if got, _ := findTopic(h.nodes[f].Metadata(), "orders"); got.ID != info.ID {
		t.Fatalf("replayed id %v, first applied as %v", got.ID, info.ID)
	}

	r := h.requestOne(client, h.leader(), sm.DeleteTopicRequest{ReqID: 2, Name: "orders"}).(sm.DeleteTopicResponse)
	if r.Code != sm.CodeOK {
		t.Fatalf("delete: %+v", r)
	}
	createTopicOK(t, h, sm.CreateTopicRequest{ReqID: 3, Name: "orders", Partitions: 1, ReplicationFactor: 3})
	md = h.converge()
	again, _ := findTopic(md, "orders")
	if again.ID == info.ID || again.ID == (sm.TopicID{}) {
		t.Fatalf("re-created topic id %v (was %v)", again.ID, info.ID)
	}
	h.advance(sm.Second)
	for _, id := range []sm.NodeID{101, 102, 103} {
		got, ok := h.brokers[id].view.Topic("orders")
		if !ok || got.ID != again.ID || got.Partitions != 1 {
			t.Errorf("broker %v sees %+v, want the new topic %v", id, got, again.ID)
		}
	}
}

// Goal: AlterTopicConfig changes only the settings it names, bumps the
// metadata version so the delta carries the topic, refuses bad keys and
// values naming the key, and leaves the topic unchanged when it refuses.
func TestAlterTopicConfig(t *testing.T) {
	f := newFSM(t)
	f.register(101)
	f.create("orders", 2, 1, sm.TopicConfig{RetentionMs: 60000, SegmentBytes: 1 << 20, CompressionType: "lz4"})
	before := f.md.version
	alter := func(set ...sm.TopicConfigEntry) result {
		return f.do(command{AlterConfig: &alterTopicConfig{Name: "orders", Set: set}})
	}
	if r := alter(sm.TopicConfigEntry{Key: sm.ConfigRetentionBytes, Value: 1 << 30}, sm.TopicConfigEntry{Key: sm.ConfigSegmentMs, Value: 3600000}); r.code != sm.CodeOK {
		t.Fatalf("alter: %v %s", r.code, r.message)
	}
	got := f.md.topics["orders"].info.Config
	want := sm.TopicConfig{MinInSyncReplicas: 1, RetentionMs: 60000, SegmentBytes: 1 << 20, CompressionType: "lz4", RetentionBytes: 1 << 30, SegmentMs: 3600000}
	if got != want {
		t.Fatalf("config after alter %+v, want %+v", got, want)
	}
	if f.md.version == before {
		t.Fatal("alter did not bump the metadata version")
	}
	d := f.md.delta(before)
	if len(d.Topics) != 1 || d.Topics[0].Config != want || len(d.Partitions) != 2 {
		t.Fatalf("delta after alter: %+v", d)
	}
	v := f.md.version
	if r := alter(sm.TopicConfigEntry{Key: sm.ConfigSegmentMs, Value: 3600000}); r.code != sm.CodeOK || f.md.version != v {
		t.Fatalf("no-op alter: %v %s, version %d -> %d", r.code, r.message, v, f.md.version)
	}

	for _, c := range []struct {
		set  []sm.TopicConfigEntry
		code sm.Code
		msg  string
	}{
		{nil, sm.CodeInvalidRequest, "no settings to change"},
		{[]sm.TopicConfigEntry{{Key: "min_in_sync_replicas", Value: 1}}, sm.CodeInvalidRequest, `"min_in_sync_replicas" is not an alterable setting`},
		{[]sm.TopicConfigEntry{{Key: sm.ConfigRetentionMs, Value: 1}, {Key: sm.ConfigRetentionMs, Value: 2}}, sm.CodeInvalidRequest, "retention_ms given twice"},
		{[]sm.TopicConfigEntry{{Key: sm.ConfigRetentionMs, Value: -2}}, sm.CodeInvalidRequest, "retention_ms must be -1 (forever), 0 (unset) or positive (got -2)"},
		{[]sm.TopicConfigEntry{{Key: sm.ConfigRetentionBytes, Value: -5}}, sm.CodeInvalidRequest, "retention_bytes must be -1 (unlimited), 0 (unset) or positive (got -5)"},
		{[]sm.TopicConfigEntry{{Key: sm.ConfigSegmentBytes, Value: 4096}}, sm.CodeInvalidRequest, "segment_bytes must be 0 (unset) or in 1048576..17179869184 (1 MiB..16 GiB) (got 4096)"},
		{[]sm.TopicConfigEntry{{Key: sm.ConfigSegmentMs, Value: 10}}, sm.CodeInvalidRequest, "segment_ms must be 0 (unset) or in 1000..31536000000 (1 s..365 d) (got 10)"},
		{[]sm.TopicConfigEntry{{Key: sm.ConfigLocalRetentionMs, Value: -2}}, sm.CodeInvalidRequest, "local_retention_ms must be -1 (until retention_ms), 0 (unset) or positive (got -2)"},
		{[]sm.TopicConfigEntry{{Key: sm.ConfigLocalRetentionBytes, Value: -3}}, sm.CodeInvalidRequest, "local_retention_bytes must be -1 (until retention_bytes), 0 (unset) or positive (got -3)"},
		// One bad setting refuses the whole request.
		{[]sm.TopicConfigEntry{{Key: sm.ConfigRetentionMs, Value: 5}, {Key: sm.ConfigSegmentMs, Value: -1}}, sm.CodeInvalidRequest, "segment_ms must be"},
	} {
		r := alter(c.set...)
		if r.code != c.code || !strings.Contains(r.message, c.msg) {
			t.Errorf("alter %+v: %v %q, want %v %q", c.set, r.code, r.message, c.code, c.msg)
		}
		if f.md.topics["orders"].info.Config != want {
			t.Errorf("refused alter %+v changed the config to %+v", c.set, f.md.topics["orders"].info.Config)
		}
	}
	if r := f.do(command{AlterConfig: &alterTopicConfig{Name: "nope", Set: []sm.TopicConfigEntry{{Key: sm.ConfigRetentionMs, Value: 1}}}}); r.code != sm.CodeUnknownTopic {
		t.Errorf("alter of an unknown topic: %v %s", r.code, r.message)
	}
	// Setting a value back to 0 unsets it.
	if r := alter(sm.TopicConfigEntry{Key: sm.ConfigRetentionMs, Value: 0}); r.code != sm.CodeOK || f.md.topics["orders"].info.Config.RetentionMs != 0 {
		t.Fatalf("unset retention_ms: %v %s %+v", r.code, r.message, f.md.topics["orders"].info.Config)
	}
}

// Goal: create refuses the new settings' bad values too, naming the key.
func TestCreateTopicConfigBounds(t *testing.T) {
	f := newFSM(t)
	f.register(101)
	for _, c := range []struct {
		cfg sm.TopicConfig
		msg string
	}{
		{sm.TopicConfig{MinInSyncReplicas: 1, RetentionBytes: -2}, "retention_bytes must be"},
		{sm.TopicConfig{MinInSyncReplicas: 1, SegmentMs: 999}, "segment_ms must be"},
		{sm.TopicConfig{MinInSyncReplicas: 1, SegmentBytes: 1<<34 + 1}, "segment_bytes must be"},
		{sm.TopicConfig{MinInSyncReplicas: 1, LocalRetentionMs: -7}, "local_retention_ms must be"},
		{sm.TopicConfig{MinInSyncReplicas: 1, LocalRetentionBytes: -2}, "local_retention_bytes must be"},
	} {
		r := f.do(command{Create: &createTopic{Name: "t", Partitions: 1, ReplicationFactor: 1, Config: c.cfg}})
		if r.code != sm.CodeInvalidRequest || !strings.Contains(r.message, c.msg) {
			t.Errorf("create with %+v: %v %q", c.cfg, r.code, r.message)
		}
	}
	f.create("t", 1, 1, sm.TopicConfig{RetentionBytes: -1, SegmentMs: 1000, LocalRetentionMs: -1, LocalRetentionBytes: 1 << 30})
	if r := f.do(command{AlterConfig: &alterTopicConfig{Name: "t", Set: []sm.TopicConfigEntry{{Key: sm.ConfigLocalRetentionMs, Value: 3600000}, {Key: sm.ConfigLocalRetentionBytes, Value: -1}}}}); r.code != sm.CodeOK {
		t.Fatalf("alter local retention: %v %s", r.code, r.message)
	}
	if c := f.md.topics["t"].info.Config; c.LocalRetentionMs != 3600000 || c.LocalRetentionBytes != -1 {
		t.Fatalf("local retention after alter: %+v", c)
	}
}

// Goal: the leader answers an alter once its entry applies, and refuses a
// malformed one without a raft round; a follower answers NOT_LEADER.
func TestAlterTopicConfigThroughRaft(t *testing.T) {
	h := newHarness(t, 5, 3)
	h.waitLeader()
	h.registerBrokers(threeRacks)
	createTopicOK(t, h, sm.CreateTopicRequest{ReqID: 1, Name: "orders", Partitions: 1, ReplicationFactor: 3})
	h.converge()
	l := h.leader()
	applied := h.nodes[l].AppliedIndex()
	r := h.requestOne(client, l, sm.AlterTopicConfigRequest{ReqID: 2, Name: "orders", Set: []sm.TopicConfigEntry{{Key: "bogus", Value: 1}}}).(sm.AlterTopicConfigResponse)
	if r.Code != sm.CodeInvalidRequest || r.ReqID != 2 || !strings.Contains(r.Message, "bogus") || h.nodes[l].AppliedIndex() != applied {
		t.Fatalf("malformed alter: %+v (applied %d -> %d)", r, applied, h.nodes[l].AppliedIndex())
	}
	r = h.requestOne(client, h.followers()[0], sm.AlterTopicConfigRequest{ReqID: 3, Name: "orders", Set: []sm.TopicConfigEntry{{Key: sm.ConfigRetentionMs, Value: 1000}}}).(sm.AlterTopicConfigResponse)
	if r.Code != sm.CodeNotLeader || r.LeaderHint != l {
		t.Fatalf("alter on a follower: %+v", r)
	}
	r = h.requestOne(client, l, sm.AlterTopicConfigRequest{ReqID: 4, Name: "orders", Set: []sm.TopicConfigEntry{{Key: sm.ConfigRetentionMs, Value: 1000}}}).(sm.AlterTopicConfigResponse)
	if r.Code != sm.CodeOK || r.ReqID != 4 {
		t.Fatalf("alter: %+v", r)
	}
	md := h.converge()
	if info, _ := findTopic(md, "orders"); info.Config.RetentionMs != 1000 {
		t.Fatalf("retention after alter: %+v", info.Config)
	}
	h.advance(sm.Second)
	for _, id := range []sm.NodeID{101, 102, 103} {
		if got, _ := h.brokers[id].view.Topic("orders"); got.Config.RetentionMs != 1000 {
			t.Errorf("broker %v has config %+v", id, got.Config)
		}
	}
}
