package controller

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"pgregory.net/rapid"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/acl"
)

// sameMetadata fails unless a and b are the same state, field by field
// (reflect.DeepEqual over the whole struct, so a field added to metadata and
// forgotten by the snapshot shows up here), probes aside.
func sameMetadata(a, b *metadata) error {
	ac, bc := *a, *b
	ac.probes, bc.probes = nil, nil
	ac.aclSnap, bc.aclSnap = nil, nil // a cache
	if !bytes.Equal(a.acls.Snapshot(), b.acls.Snapshot()) {
		return fmt.Errorf("ACL rules differ:\n%s\n%s", a.acls.Snapshot(), b.acls.Snapshot())
	}
	ac.acls, bc.acls = nil, nil // compared by their encoding: equal rule sets may differ in slice capacity
	if !reflect.DeepEqual(ac, bc) {
		return fmt.Errorf("metadata differs:\n%s\n%s", encodeSnapshot(a), encodeSnapshot(b))
	}
	return nil
}

// drawCommand draws one command, as TestMetadataProperties does.
func drawCommand(t *rapid.T, md *metadata) (command, bool) {
	brokerIDs := []sm.NodeID{0, 101, 102, 103, 104, 105}
	names := []string{"a", "b", "c", ".", "d/e"}
	switch rapid.IntRange(0, 10).Draw(t, "kind") {
	case 0:
		return command{Register: &registerBroker{
			ID:             rapid.SampledFrom(brokerIDs).Draw(t, "id"),
			Incarnation:    rapid.Uint64Range(0, 3).Draw(t, "inc"),
			Rack:           rapid.SampledFrom([]string{"", "x", "y"}).Draw(t, "rack"),
			LostDisk:       rapid.IntRange(0, 5).Draw(t, "lost") == 0,
			AcceptDataLoss: rapid.IntRange(0, 5).Draw(t, "accept") == 0,
		}}, true
	case 1:
		id := rapid.SampledFrom(brokerIDs).Draw(t, "id")
		inc := rapid.Uint64Range(0, 3).Draw(t, "inc")
		if b := md.brokers[id]; b != nil && rapid.Bool().Draw(t, "current") {
			inc = b.info.Incarnation
		}
		return command{Fence: &fenceBroker{ID: id, Incarnation: inc}}, true
	case 2:
		return command{Create: drawCreate(t, names)}, true
	case 3:
		return command{Delete: &deleteTopic{Name: rapid.SampledFrom(names).Draw(t, "name")}}, true
	case 4:
		return command{AlterISR: drawAlterISR(t, md)}, true
	case 5:
		key := rapid.SampledFrom(sm.TopicConfigKeys()).Draw(t, "key")
		value := rapid.SampledFrom([]int64{-1, 0, 1, 60_000, 1 << 20, 1 << 30}).Draw(t, "value")
		return command{AlterConfig: &alterTopicConfig{Name: rapid.SampledFrom(names).Draw(t, "name"), Set: []sm.TopicConfigEntry{{Key: key, Value: value}}}}, true
	case 6:
		return command{CommitSegment: drawCommit(t, md)}, true
	case 7:
		return command{DropRemote: drawDrop(t, md)}, true
	case 8:
		return command{ACL: drawACL(t, md)}, true
	case 9:
		serial := rapid.SampledFrom([]string{"", "a1", "b2", "c3"}).Draw(t, "serial")
		if rapid.Bool().Draw(t, "register") {
			return command{Cert: &certChange{Register: &sm.CertRecord{Serial: serial, Principal: "p"}}}, true
		}
		return command{Cert: &certChange{Revoke: &sm.CertRecord{Serial: serial, Reason: rapid.SampledFrom([]string{"", "superseded"}).Draw(t, "reason")}}}, true
	}
	return command{}, false // an empty entry (a new leader's first)
}

// drawACL draws an ACL change: rules created, an existing or unknown rule
// deleted, everything replaced.
func drawACL(t *rapid.T, md *metadata) *acl.Command {
	switch rapid.IntRange(0, 3).Draw(t, "acl") {
	case 0, 1:
		r, err := acl.ParseRule(rapid.SampledFrom([]string{"*", "app", "team-*"}).Draw(t, "principal"),
			rapid.SampledFrom([]string{"topic:a", "topic:b*", "cluster"}).Draw(t, "resource"), "read,write",
			rapid.SampledFrom([]string{"allow", "deny"}).Draw(t, "effect"), "")
		if err != nil {
			t.Fatal(err)
		}
		return &acl.Command{Create: []acl.Rule{r}}
	case 2:
		ids := []acl.RuleID{99}
		for _, r := range md.acls.Rules() {
			ids = append(ids, r.ID)
		}
		return &acl.Command{Delete: []acl.RuleID{rapid.SampledFrom(ids).Draw(t, "id")}}
	}
	return &acl.Command{Replace: &[]acl.Rule{}}
}

// drawPartition picks an existing partition, or a made-up one.
func drawPartition(t *rapid.T, md *metadata) (*topicEntry, *partitionEntry) {
	var all []*partitionEntry
	md.eachPartition(func(_ *topicEntry, p *partitionEntry) { all = append(all, p) })
	if len(all) == 0 || rapid.IntRange(0, 9).Draw(t, "wild") == 0 {
		return nil, nil
	}
	p := rapid.SampledFrom(all).Draw(t, "partition")
	return md.topics[p.state.TP.Topic], p
}

// drawCommit mostly draws an upload by the current leader that continues
// the range (so that records build up), and otherwise retries, zombies,
// gaps, overlaps and other topics' IDs.
func drawCommit(t *rapid.T, md *metadata) *commitSegment {
	te, p := drawPartition(t, md)
	if p == nil {
		return &commitSegment{Broker: 101, TP: sm.TopicPartition{Topic: "z"}, LeaderEpoch: 1,
			Segment: sm.RemoteSegment{Name: "segments/x", Base: 0, Next: 1, DataBytes: 1}}
	}
	st := p.state
	if len(p.remote) > 0 && rapid.IntRange(0, 5).Draw(t, "retry") == 0 {
		s := rapid.SampledFrom(p.remote).Draw(t, "recorded")
		return &commitSegment{Broker: st.Leader, TP: st.TP, TopicID: te.info.ID, LeaderEpoch: s.LeaderEpoch, Segment: s}
	}
	base := st.Remote.End
	if !uploadedEver(st.Remote) {
		base = sm.Offset(rapid.Int64Range(0, 50).Draw(t, "first"))
	}
	base += sm.Offset(rapid.SampledFrom([]int64{0, 0, 0, -1, 1}).Draw(t, "skew"))
	c := uploadOf(md, st.TP, max(base, 0), max(base, 0)+sm.Offset(rapid.Int64Range(1, 20).Draw(t, "len")), sm.EffectID(rapid.Uint64Range(1, 1<<20).Draw(t, "eff")))
	if rapid.IntRange(0, 5).Draw(t, "zombie") == 0 && st.LeaderEpoch > 1 {
		c.LeaderEpoch--
		c.Segment.LeaderEpoch = c.LeaderEpoch
		on, _ := sm.ParseObjectName(c.Segment.Name)
		on.Epoch = c.LeaderEpoch
		c.Segment.Name = on.String()
	}
	return c
}

// drawDrop mostly drops at a recorded boundary.
func drawDrop(t *rapid.T, md *metadata) *dropRemoteSegments {
	te, p := drawPartition(t, md)
	if p == nil {
		return &dropRemoteSegments{Broker: 101, TP: sm.TopicPartition{Topic: "z"}, LeaderEpoch: 1, Below: 5}
	}
	below := sm.Offset(rapid.Int64Range(0, 100).Draw(t, "below"))
	if len(p.remote) > 0 && rapid.IntRange(0, 3).Draw(t, "boundary") > 0 {
		below = rapid.SampledFrom(p.remote).Draw(t, "segment").Next
	}
	return &dropRemoteSegments{Broker: p.state.Leader, TP: p.state.TP, TopicID: te.info.ID, LeaderEpoch: p.state.LeaderEpoch, Below: below}
}

// Goal: a controller restored from a snapshot taken at any index i, then
// applying the entries after i, holds exactly the state of one that applied
// every entry from the start — at every step, not only at the end — and a
// snapshot decodes to the state it was taken from.
func TestSnapshotRestoreThenReplayEqualsReplay(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		full := newMetadata(bootstrapIndex)
		var restored *metadata // nil until the snapshot is taken
		steps := rapid.IntRange(1, 200).Draw(t, "steps")
		at := rapid.IntRange(0, steps).Draw(t, "snapshot_at")
		for i := range steps {
			if i == at {
				md, err := decodeSnapshot(encodeSnapshot(full))
				if err != nil {
					t.Fatalf("decode a snapshot at %d: %v", full.applied, err)
				}
				if err := sameMetadata(md, full); err != nil {
					t.Fatalf("snapshot at %d: %v", full.applied, err)
				}
				restored = md
			}
			cmd, ok := drawCommand(t, full)
			for _, md := range []*metadata{full, restored} {
				if md == nil {
					continue
				}
				if ok {
					c := cmd // apply gets its own copy, as each replica decodes its own
					md.apply(md.applied+1, &c)
				} else {
					md.applyEmpty(md.applied + 1)
				}
			}
			if err := full.check(); err != nil {
				t.Fatal(err)
			}
			if restored != nil {
				if err := sameMetadata(restored, full); err != nil {
					t.Fatalf("after entry %d, restored from %d: %v", full.applied, at, err)
				}
			}
		}
	})
}

// Goal: the snapshot decoder refuses what it cannot trust, naming why: an
// unknown format version, anything after the body, unknown fields, and
// state that breaks the metadata's invariants.
func TestDecodeSnapshotRefuses(t *testing.T) {
	f := newFSM(t)
	f.register(101)
	f.register(102)
	f.create("x", 2, 2, sm.TopicConfig{})
	f.commit(sm.TopicPartition{Topic: "x"}, 0, 10)
	good := encodeSnapshot(f.md)
	if _, err := decodeSnapshot(good); err != nil {
		t.Fatalf("good snapshot: %v", err)
	}
	withVersion := func(v byte) []byte { b := slices.Clone(good); b[0] = v; return b }
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "empty"},
		{"version 0", withVersion(0), "version 0 (this controller reads versions 1 to 5)"},
		{"version 6", withVersion(6), "version 6"},
		{"version 4 with producer IDs", []byte("\x04" + `{"applied":3,"next_producer_id":1000}`), "version 4 holds producer IDs"},
		{"version 2 with ACL rules", withVersion(2), "version 2 holds ACL rules"},
		{"version 1 with segments", withVersion(1), "version 1 holds uploaded segments of x/0"},
		{"trailing data", append(slices.Clone(good), "{}"...), "data after the body"},
		{"unknown field", []byte("\x01{\"applied\":3,\"surprise\":1}"), "unknown field"},
		{"not json", []byte("\x01{"), "unexpected EOF"},
		{"applied 0", []byte("\x01{\"applied\":0}"), "below the bootstrap index"},
		{"version beyond applied", []byte("\x01{\"applied\":3,\"version\":4}"), "version 4 beyond applied 3"},
		{"duplicate broker", bytes.Replace(good, []byte(`"brokers":[`), []byte(`"brokers":[{"info":{"ID":101,"Incarnation":1},"v":1},`), 1), "broker b101 listed twice"},
		{"tombstones out of order", []byte("\x01" + `{"applied":5,"version":5,"tombstones":[{"name":"a","v":5},{"name":"b","v":4}]}`), `tombstone "b" at version 4 outside (5, 5]`},
		{"partition of unknown broker", bytes.Replace(good, []byte(`"Replicas":[`), []byte(`"Replicas":[109,`), 1), "not a registered broker"},
	}
	for _, c := range cases {
		_, err := decodeSnapshot(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
	if _, err := decodeSnapshot(withVersion(7)); !errors.Is(err, ErrSnapshotFormat) {
		t.Errorf("version 7: %v is not ErrSnapshotFormat", err)
	}
}

// FuzzDecodeSnapshot: whatever the bytes, decoding never panics; what
// decodes passes the metadata's invariants and re-encodes to bytes that
// decode to the same state and encode identically (one canonical form).
func FuzzDecodeSnapshot(f *testing.F) {
	fsm := newFSM(f)
	f.Add(encodeSnapshot(fsm.md))
	fsm.register(101)
	fsm.register(102)
	fsm.register(103)
	fsm.create("x", 3, 2, sm.TopicConfig{})
	fsm.create("y", 1, 3, sm.TopicConfig{MinInSyncReplicas: 2, RetentionMs: -1})
	fsm.ok(command{Delete: &deleteTopic{Name: "x"}})
	fsm.ok(command{Fence: &fenceBroker{ID: 102, Incarnation: 1}})
	fsm.commit(sm.TopicPartition{Topic: "y"}, 5, 10)
	fsm.commit(sm.TopicPartition{Topic: "y"}, 10, 30)
	f.Add(encodeSnapshot(fsm.md))
	f.Add([]byte{2})
	f.Add([]byte("\x01null"))
	f.Fuzz(func(t *testing.T, data []byte) {
		md, err := decodeSnapshot(data)
		if err != nil {
			return
		}
		if err := md.check(); err != nil {
			t.Fatalf("decoded state breaks an invariant: %v", err)
		}
		enc := encodeSnapshot(md)
		md2, err := decodeSnapshot(enc)
		if err != nil {
			t.Fatalf("re-encoded snapshot does not decode: %v\n%s", err, enc)
		}
		if err := sameMetadata(md, md2); err != nil {
			t.Fatal(err)
		}
		if enc2 := encodeSnapshot(md2); !bytes.Equal(enc, enc2) {
			t.Fatalf("two encodings of one state:\n%s\n%s", enc, enc2)
		}
	})
}

// Goal: with a small SnapshotEntries the controllers compact their logs; a
// follower down while the leader compacted past what it holds receives the
// leader's snapshot (MsgSnap), installs it and catches up to the same
// metadata; and every controller restarted from its disk — a snapshot and
// only the few entries after it — rebuilds that metadata exactly.
func TestLaggingFollowerInstallsSnapshot(t *testing.T) {
	h := newHarnessWith(t, 5, 3, func(c *Config) { c.SnapshotEntries, c.SnapshotCatchUpEntries = 8, 2 })
	l := h.waitLeader()
	h.registerBrokers(map[sm.NodeID]string{101: "a", 102: "b", 103: "a"})
	lagger := h.followers()[0]
	h.crash(lagger)
	const topics = 40
	for i := range topics {
		createTopicOK(t, h, sm.CreateTopicRequest{ReqID: uint64(i + 1), Name: fmt.Sprintf("t%02d", i), Partitions: 2, ReplicationFactor: 2})
	}
	if got := h.nodes[l].SnapshotIndex(); got <= bootstrapIndex {
		t.Fatalf("leader %v took no snapshot after %d creates (applied %d)", l, topics, h.nodes[l].AppliedIndex())
	}
	if _, ents := durable(h.disks[l]); len(ents) > 10 {
		t.Errorf("leader %v stores %d entries after compaction; want at most SnapshotEntries+2", l, len(ents))
	}
	h.start(lagger)
	want := h.converge()
	if n := h.hosts[l].Env.Probes[sm.ProbeSnapshotSent]; n == 0 {
		t.Errorf("leader %v sent no snapshot", l)
	}
	if n := h.hosts[lagger].Env.Probes[sm.ProbeSnapshotApplied]; n == 0 {
		t.Errorf("follower %v installed no snapshot", lagger)
	}
	if len(want.Topics) != topics {
		t.Fatalf("%d topics after catch-up, want %d", len(want.Topics), topics)
	}
	if h.disks[lagger].RaftSnapshot() == nil {
		t.Errorf("follower %v did not persist the snapshot it installed", lagger)
	}
	for _, id := range h.ids {
		h.crash(id)
	}
	for _, id := range h.ids {
		if snap := h.disks[id].RaftSnapshot(); snap == nil {
			t.Errorf("%v has no snapshot on disk", id)
		}
		n := h.recover(id)
		if n.AppliedIndex() != n.SnapshotIndex() || n.AppliedIndex() <= bootstrapIndex {
			t.Errorf("%v restarted at applied %d, snapshot %d", id, n.AppliedIndex(), n.SnapshotIndex())
		}
		h.run(id, n)
	}
	if got := h.converge(); !equalMetadata(got, want) {
		t.Fatalf("metadata after restarting from snapshots differs:\nbefore %+v\nafter  %+v", want, got)
	}
}

// Goal: a durable snapshot the controller cannot read — another membership,
// a newer format, state that does not match its index — refuses the start
// with a message naming the snapshot, instead of a raft panic later.
func TestNewRejectsBadSnapshot(t *testing.T) {
	f := newFSM(t)
	f.register(101)
	data := encodeSnapshot(f.md)
	cfg := testConfig(1, []sm.NodeID{1, 2, 3})
	snap := func(index uint64, voters []uint64, data []byte) *pb.Snapshot {
		return &pb.Snapshot{Data: data, Metadata: &pb.SnapshotMetadata{Index: &index, Term: new(uint64(1)), ConfState: &pb.ConfState{Voters: voters}}}
	}
	cases := []struct {
		name string
		d    sm.Durable
		want string
	}{
		{"voters", sm.Durable{Snapshot: snap(f.md.applied, []uint64{1, 2}, data)}, "has voters [1 2]"},
		{"format", sm.Durable{Snapshot: snap(f.md.applied, []uint64{1, 2, 3}, append([]byte{9}, data[1:]...))}, "unknown metadata snapshot format: version 9"},
		{"index", sm.Durable{Snapshot: snap(f.md.applied+1, []uint64{1, 2, 3}, data)}, "holds metadata applied through"},
		{"gap", sm.Durable{Snapshot: snap(f.md.applied, []uint64{1, 2, 3}, data),
			Entries: []*pb.Entry{{Index: new(f.md.applied + 2), Term: new(uint64(1))}}}, "does not follow index"},
		{"commit", sm.Durable{Snapshot: snap(f.md.applied, []uint64{1, 2, 3}, data),
			HardState: &pb.HardState{Term: new(uint64(1)), Commit: new(uint64(1))}}, "below the snapshot"},
	}
	for _, c := range cases {
		if _, err := New(cfg, c.d); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
	if _, err := New(cfg, sm.Durable{Snapshot: snap(f.md.applied, []uint64{1, 2, 3}, data),
		HardState: &pb.HardState{Term: new(uint64(1)), Commit: new(f.md.applied)}}); err != nil {
		t.Errorf("good snapshot: %v", err)
	}
}

// Goal: a snapshot of format 1 (before tiered storage: no Remote in the
// partition states, no records) still reads, as metadata with nothing
// uploaded, and what it decodes to encodes as format 2.
func TestSnapshotReadsFormat1(t *testing.T) {
	f := newFSM(t)
	f.register(101, 102)
	f.create("x", 2, 2, sm.TopicConfig{RetentionMs: 60000})
	f.ok(command{Delete: &deleteTopic{Name: "x"}})
	f.create("y", 1, 1, sm.TopicConfig{})
	enc := encodeSnapshot(f.md)
	remote := []byte(`,"Remote":{"Start":0,"End":0,"Bytes":0,"Segments":0}`)
	if bytes.Count(enc, remote) != 1 {
		t.Fatalf("format 2 encodes Remote %d times for 1 partition:\n%s", bytes.Count(enc, remote), enc)
	}
	v1 := append([]byte{snapshotFormatV1}, bytes.ReplaceAll(enc[1:], remote, nil)...)
	v1 = regexp.MustCompile(`,"acl":"[^"]*"`).ReplaceAll(v1, nil) // format 3's ACL rule set
	md, err := decodeSnapshot(v1)
	if err != nil {
		t.Fatalf("format 1: %v\n%s", err, v1)
	}
	if err := sameMetadata(md, f.md); err != nil {
		t.Fatal(err)
	}
	if again := encodeSnapshot(md); again[0] != snapshotFormat || !bytes.Equal(again, enc) {
		t.Fatalf("re-encoded format 1 snapshot:\n%s\nwant\n%s", again, enc)
	}
}
