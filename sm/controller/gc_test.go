package controller

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/weirmq/weir/sm"
)

// objStore is an object store for the collector's tests: the names it
// holds, lists in name order a page at a time, deletes. fault, when set,
// decides each operation's outcome before it runs: OK runs it, Failed does
// nothing, Unknown runs it when apply says so and reports Unknown either
// way (lists never end Unknown: they change nothing).
type objStore struct {
	names   map[string]bool
	pageMax int // the store's page size (0: as the caller asks)
	fault   func(op sm.ObjectOp) (out sm.Outcome, apply bool)
	ops     []sm.ObjectOp // every operation served, in order
	deleted []string      // names deleted, in order
}

func newObjStore(names ...string) *objStore {
	s := &objStore{names: map[string]bool{}}
	for _, n := range names {
		s.names[n] = true
	}
	return s
}

func (s *objStore) exec(op sm.ObjectOp) sm.ObjectDone {
	s.ops = append(s.ops, op)
	out, apply := sm.OutcomeOK, true
	if s.fault != nil {
		out, apply = s.fault(op)
	}
	d := sm.ObjectDone{ID: op.ID, Outcome: out}
	switch op.Kind {
	case sm.ObjList:
		if out != sm.OutcomeOK {
			d.Outcome, d.Err = sm.OutcomeFailed, sm.ObjErrUnavailable
			return d
		}
		limit := op.Limit
		if s.pageMax > 0 && (limit <= 0 || limit > s.pageMax) {
			limit = s.pageMax
		}
		for _, n := range slices.Sorted(maps.Keys(s.names)) {
			if !strings.HasPrefix(n, op.Prefix) || n <= op.After {
				continue
			}
			if len(d.Objects) == limit {
				d.More = true
				break
			}
			d.Objects = append(d.Objects, sm.ObjectInfo{Name: n, Size: 1, Generation: 1})
		}
	case sm.ObjDelete:
		switch {
		case out == sm.OutcomeFailed || !apply:
		case s.names[op.Name]:
			delete(s.names, op.Name)
			s.deleted = append(s.deleted, op.Name)
		case out == sm.OutcomeOK:
			d.Err = sm.ObjErrNotFound
		}
	default:
		d.Outcome, d.Err = sm.OutcomeFailed, sm.ObjErrInvalid
	}
	return d
}

func (s *objStore) has(name string) bool { return s.names[name] }

// withGC turns the collector on with grace and interval.
func withGC(grace, interval sm.Duration) func(*Config) {
	return func(c *Config) { c.Tiering = TieringConfig{GC: true, GCGrace: grace, GCInterval: interval} }
}

// objectName is the name an upload of tp at base by its leader at epoch
// would choose, with effect eff.
func objectName(md *metadata, tp sm.TopicPartition, base sm.Offset, epoch sm.Epoch, eff sm.EffectID) string {
	return sm.ObjectName{TopicID: md.topics[tp.Topic].info.ID, Partition: tp.Partition, Base: base, Epoch: epoch, Broker: 101, Incarnation: 1, Effect: eff}.String()
}

// Goal: each rule of collectability — an object is collectable only when
// no record refers to it and it can never be recorded: its topic ID is no
// live topic's (deleted, re-created), its partition does not exist, its
// epoch is below the current leader epoch, or its base is below the
// uploaded end; anything else is kept, and names that are not segment
// objects are foreign.
func TestGCClassify(t *testing.T) {
	f := newFSM(t)
	f.register(101, 102)
	f.create("t", 2, 2, sm.TopicConfig{})
	f.create("gone", 1, 1, sm.TopicConfig{})
	tp := sm.TopicPartition{Topic: "t"}
	gone := objectName(f.md, sm.TopicPartition{Topic: "gone"}, 0, 1, 1)
	f.ok(command{Delete: &deleteTopic{Name: "gone"}})
	f.commit(tp, 0, 10)
	f.commit(tp, 10, 20)
	recorded := f.md.partition(tp).remote[1].Name
	dropped := f.md.partition(tp).remote[0].Name
	f.ok(command{DropRemote: &dropRemoteSegments{Broker: 101, TP: tp, TopicID: f.md.topics["t"].info.ID, LeaderEpoch: 1, Below: 10}})
	f.fence(101) // t/0 moves to 102 at epoch 2
	if st := f.state("t", 0); st.LeaderEpoch != 2 || st.Remote.End != 20 {
		t.Fatalf("t/0 after the fence: %+v", st)
	}
	id := f.md.topics["t"].info.ID
	other := sm.ObjectName{TopicID: id, Partition: 7, Base: 0, Epoch: 1, Broker: 101, Incarnation: 1, Effect: 1}.String()
	cases := []struct {
		name, object string
		want         gcVerdict
	}{
		{"recorded", recorded, gcKeep},
		{"recorded at an old epoch", recorded, gcKeep},
		{"dropped by retention", dropped, gcCollectable},
		{"lost the race below the end", objectName(f.md, tp, 10, 1, 99), gcCollectable},
		{"zombie at the end", objectName(f.md, tp, 20, 1, 5), gcCollectable},
		{"current epoch at the end", objectName(f.md, tp, 20, 2, 6), gcKeep},
		{"current epoch above the end", objectName(f.md, tp, 40, 2, 7), gcKeep},
		{"current epoch below the end", objectName(f.md, tp, 0, 2, 8), gcCollectable},
		{"never uploaded, current epoch", objectName(f.md, sm.TopicPartition{Topic: "t", Partition: 1}, 500, 1, 9), gcKeep},
		{"never uploaded, future epoch", objectName(f.md, sm.TopicPartition{Topic: "t", Partition: 1}, 500, 3, 9), gcKeep},
		{"deleted topic", gone, gcCollectable},
		{"no such partition", other, gcCollectable},
		{"not a segment object", sm.SegmentsPrefix + "README", gcForeign},
		{"not canonical", strings.Replace(recorded, ".seg", ".seg.tmp", 1), gcForeign},
	}
	byID := f.md.topicsByID()
	for _, c := range cases {
		if got := f.md.gcClassify(c.object, byID); got != c.want {
			t.Errorf("%s (%s): %v, want %v", c.name, c.object, got, c.want)
		}
	}
}

// gcWorld is one controller with the collector on, brokers 101 and 102,
// topic t (2 partitions, rf 2) and the store s.
func gcWorld(t *testing.T, grace, interval sm.Duration) (*harness, sm.NodeID, *objStore) {
	h := newHarnessWith(t, 11, 1, withGC(grace, interval))
	s := newObjStore()
	h.objects = s
	l := h.waitLeader()
	h.registerBrokers(map[sm.NodeID]string{101: "a", 102: "b"})
	createTopicOK(t, h, sm.CreateTopicRequest{ReqID: 1, Name: "t", Partitions: 2, ReplicationFactor: 2})
	return h, l, s
}

// commitOK uploads (into s) and commits [base, next) of tp from its leader.
func commitOK(t *testing.T, h *harness, l sm.NodeID, s *objStore, tp sm.TopicPartition, base, next sm.Offset, eff sm.EffectID) string {
	t.Helper()
	c := uploadOf(h.nodes[l].md, tp, base, next, eff)
	s.names[c.Segment.Name] = true
	r := h.requestOne(900, l, sm.CommitSegmentRequest{ReqID: uint64(eff), Broker: c.Broker, TP: tp, TopicID: c.TopicID, LeaderEpoch: c.LeaderEpoch, Segment: c.Segment})
	if r := r.(sm.CommitSegmentResponse); r.Code != sm.CodeOK {
		t.Fatalf("commit [%d, %d) of %v: %+v", base, next, tp, r)
	}
	return c.Segment.Name
}

// Goal: the collector deletes every collectable object — segments dropped
// by retention, one that lost the race for its range, one of an unknown
// topic — once it has been collectable for the grace period, never
// before, and nothing else: not a recorded object, not one that may still
// be recorded, not a foreign name; an object recorded meanwhile is kept.
func TestGCCollectsAfterGrace(t *testing.T) {
	const grace, interval = 5 * sm.Second, sm.Second
	h, l, s := gcWorld(t, grace, interval)
	tp := sm.TopicPartition{Topic: "t"}
	first := commitOK(t, h, l, s, tp, 0, 10, 1)
	second := commitOK(t, h, l, s, tp, 10, 20, 2)
	kept := commitOK(t, h, l, s, tp, 20, 30, 3)
	md := h.nodes[l].md
	st := md.partition(tp).state
	r := h.requestOne(900, l, sm.DropRemoteSegmentsRequest{ReqID: 4, Broker: st.Leader, TP: tp, TopicID: md.topics["t"].info.ID, LeaderEpoch: st.LeaderEpoch, Below: 20}).(sm.DropRemoteSegmentsResponse)
	if r.Code != sm.CodeOK || r.Remote.Start != 20 {
		t.Fatalf("drop: %+v", r)
	}
	lost := objectName(md, tp, 20, 1, 50)      // lost the race to kept: below the end
	next := objectName(md, tp, 30, 1, 51)      // may still be recorded
	ahead := objectName(md, tp, 40, 1, 52)     // so may this, once the end reaches it
	foreign := sm.SegmentsPrefix + "notes.txt" // not ours to judge
	unknown := sm.ObjectName{TopicID: sm.TopicID{7}, Partition: 0, Base: 0, Epoch: 1, Broker: 101, Incarnation: 1, Effect: 1}.String()
	for _, n := range []string{lost, next, ahead, foreign, unknown} {
		s.names[n] = true
	}
	start := h.now()
	h.advance(grace - interval)
	if len(s.deleted) != 0 {
		t.Fatalf("deleted %v within %v of the first sighting (grace %v)", s.deleted, h.now().Sub(start), grace)
	}
	// The next object is recorded meanwhile: it stays, whatever its first
	// sighting said.
	if got := commitOK(t, h, l, s, tp, 30, 40, 51); got != next {
		t.Fatalf("commit named %s, want %s", got, next)
	}
	h.advance(2*grace + interval)
	want := []string{first, second, lost, unknown} // the first two dropped by retention
	slices.Sort(want)
	got := slices.Sorted(slices.Values(s.deleted))
	if !slices.Equal(got, want) {
		t.Fatalf("deleted %v\nwant    %v", got, want)
	}
	if !s.has(kept) || !s.has(next) || !s.has(ahead) || !s.has(foreign) {
		t.Fatalf("a kept object is gone: %v", s.names)
	}
	stats := h.nodes[l].GCStats()
	if stats.Deleted != 4 || stats.Passes < 5 || stats.Unparseable < stats.Passes-1 || stats.Candidates != 0 || stats.DeleteErrors != 0 {
		t.Errorf("stats %+v", stats)
	}
	if n := h.hosts[l].Env.Probes[sm.ProbeOrphanCollected]; n != 4 {
		t.Errorf("orphan-collected fired %d times, want 4", n)
	}
	for _, op := range s.ops {
		if op.Kind == sm.ObjDelete && (op.Name == kept || op.Name == next || op.Name == ahead || op.Name == foreign) {
			t.Errorf("delete issued for %s", op.Name)
		}
	}
}

// Goal: failed lists and failed or unknown deletes are retried by later
// passes; a delete that was done but answered unknown is found done; the
// store's short pages are followed to the end.
func TestGCRetriesAndPages(t *testing.T) {
	const grace, interval = 2 * sm.Second, sm.Second
	h, l, s := gcWorld(t, grace, interval)
	s.pageMax = 2
	md := h.nodes[l].md
	tp := sm.TopicPartition{Topic: "t"}
	var orphans []string
	for i := range 7 {
		n := objectName(md, tp, 0, 0, sm.EffectID(i+1)) // epoch 0: below the current one
		orphans = append(orphans, n)
		s.names[n] = true
	}
	kept := commitOK(t, h, l, s, tp, 0, 10, 100)
	lists, deletes := 0, 0
	s.fault = func(op sm.ObjectOp) (sm.Outcome, bool) {
		switch op.Kind {
		case sm.ObjList:
			lists++
			if lists == 2 {
				return sm.OutcomeFailed, false
			}
		case sm.ObjDelete:
			deletes++
			switch deletes {
			case 1:
				return sm.OutcomeUnknown, false // lost before it was done
			case 2:
				return sm.OutcomeUnknown, true // done, the answer lost
			case 3:
				return sm.OutcomeFailed, false
			}
		}
		return sm.OutcomeOK, true
	}
	h.advance(10 * grace)
	if len(s.names) != 1 || !s.has(kept) {
		t.Fatalf("left %v, want only %s", s.names, kept)
	}
	stats := h.nodes[l].GCStats()
	if stats.ListErrors != 1 || stats.DeleteErrors != 3 || stats.Deleted < 6 || stats.Candidates != 0 {
		t.Errorf("stats %+v", stats)
	}
	var afters []string
	for _, op := range s.ops {
		if op.Kind == sm.ObjList {
			if op.Prefix != sm.SegmentsPrefix || op.Limit != gcListPage {
				t.Fatalf("list %+v", op)
			}
			afters = append(afters, op.After)
		}
	}
	if !slices.Contains(afters, orphans[1]) || !slices.Contains(afters, orphans[3]) {
		t.Errorf("lists did not follow the pages: afters %q", afters)
	}
}

// Goal: the collector's first sighting is soft state of the tenure: a new
// leader waits a full grace from its own first sighting before it deletes,
// and a deposed leader's collector stops.
func TestGCNewLeaderWaitsFullGrace(t *testing.T) {
	const grace, interval = 4 * sm.Second, 500 * sm.Millisecond
	h := newHarnessWith(t, 12, 3, withGC(grace, interval))
	s := newObjStore()
	h.objects = s
	l := h.waitLeader()
	h.registerBrokers(map[sm.NodeID]string{101: "a", 102: "b"})
	createTopicOK(t, h, sm.CreateTopicRequest{ReqID: 1, Name: "t", Partitions: 1, ReplicationFactor: 2})
	orphan := objectName(h.nodes[l].md, sm.TopicPartition{Topic: "t"}, 0, 0, 1)
	s.names[orphan] = true
	h.advance(grace - sm.Second) // l has seen it for most of the grace
	if !s.has(orphan) {
		t.Fatalf("deleted before the grace")
	}
	h.crash(l)
	var since sm.Time
	next := sm.NoNode
	for range 400 {
		h.advance(100 * sm.Millisecond)
		if n := h.leader(); n != sm.NoNode && next == sm.NoNode {
			next, since = n, h.now()
		}
		if !s.has(orphan) {
			break
		}
	}
	if next == sm.NoNode || s.has(orphan) {
		t.Fatalf("new leader %v; orphan still there at %v", next, h.now())
	}
	if at := h.now(); at.Sub(since) < grace {
		t.Fatalf("new leader %v (since %v) deleted the orphan at %v, within the grace %v", next, since, at, grace)
	}
	for _, id := range h.followers() {
		if h.nodes[id] != nil && h.nodes[id].gc.active {
			t.Errorf("follower %v runs a collection pass", id)
		}
	}
}

// Goal: with the collector off a controller issues no object operations.
func TestGCOff(t *testing.T) {
	h := newHarness(t, 13, 1)
	s := newObjStore(sm.SegmentsPrefix + "x")
	h.objects = s
	h.waitLeader()
	h.advance(2 * sm.Second) // a pass would start at once on a new leader
	if len(s.ops) != 0 {
		t.Fatalf("collector off issued %v", s.ops)
	}
}

// Goal: a leader classifies a listed page only after a ReadIndex round
// confirmed it still leads: cut off from its followers (so that a newer
// leader could have applied creations it has not), it deletes nothing,
// even past the grace; the next leader collects after its own grace.
func TestGCDeletesOnlyConfirmed(t *testing.T) {
	const grace, interval = 3 * sm.Second, 200 * sm.Millisecond
	h := newHarnessWith(t, 14, 3, withGC(grace, interval))
	s := newObjStore()
	h.objects = s
	l := h.waitLeader()
	h.registerBrokers(map[sm.NodeID]string{101: "a", 102: "b"})
	createTopicOK(t, h, sm.CreateTopicRequest{ReqID: 1, Name: "t", Partitions: 1, ReplicationFactor: 2})
	orphan := objectName(h.nodes[l].md, sm.TopicPartition{Topic: "t"}, 0, 0, 1)
	s.names[orphan] = true
	h.advance(interval) // l's first sighting
	if h.nodes[l].GCStats().Candidates != 1 {
		t.Fatalf("leader %v has not seen the orphan: %+v", l, h.nodes[l].GCStats())
	}
	seen := h.now() // at or after the first sighting
	h.advance(grace - 3*interval)
	h.cut = func(from, to sm.NodeID) bool {
		_, fc := h.cfgs[from]
		_, tc := h.cfgs[to]
		return fc && tc && (from == l) != (to == l)
	}
	for h.nodes[l].IsLeader() {
		h.advance(100 * sm.Millisecond)
		if !s.has(orphan) {
			t.Fatalf("isolated leader %v deleted the orphan at %v", l, h.now())
		}
	}
	if h.now().Sub(seen) < grace {
		t.Fatalf("isolated leader %v stepped down at %v, before the grace ran out: the test shows nothing", l, h.now())
	}
	h.cut = func(sm.NodeID, sm.NodeID) bool { return false }
	for range 100 {
		h.advance(100 * sm.Millisecond)
		if !s.has(orphan) {
			return
		}
	}
	t.Fatalf("orphan never collected after the partition healed")
}

// Goal: a store that breaks the list contract cannot break the collector:
// a page longer than asked is cut at the page size (the rest listed
// again), and a page that does not move past the cursor ends the pass
// instead of looping.
func TestGCListContractBroken(t *testing.T) {
	h := newHarnessWith(t, 15, 1, withGC(sm.Second, sm.Second))
	l := h.waitLeader()
	env := h.hosts[l].Env
	takeList := func() sm.ObjectOp {
		t.Helper()
		for range 50 {
			if len(env.PendingObjects) > 0 {
				op := env.PendingObjects[0]
				env.PendingObjects = env.PendingObjects[1:]
				if op.Kind != sm.ObjList {
					t.Fatalf("expected a list, got %+v", op)
				}
				return op
			}
			h.advance(100 * sm.Millisecond)
		}
		t.Fatalf("no list issued by %v", h.now())
		return sm.ObjectOp{}
	}
	names := make([]sm.ObjectInfo, gcListPage+200)
	for i := range names {
		names[i] = sm.ObjectInfo{Name: sm.SegmentsPrefix + fmt.Sprintf("junk-%05d", i)}
	}
	op := takeList()
	h.step(l, sm.ObjectDone{ID: op.ID, Outcome: sm.OutcomeOK, Objects: names}) // More false, yet too long
	h.settle()
	op = takeList()
	if op.After != names[gcListPage-1].Name {
		t.Fatalf("second list after %q, want %q", op.After, names[gcListPage-1].Name)
	}
	h.step(l, sm.ObjectDone{ID: op.ID, Outcome: sm.OutcomeOK, Objects: names[:3], More: true}) // backwards
	h.settle()
	if stats := h.nodes[l].GCStats(); stats.Passes != 1 || stats.Unparseable != gcListPage+3 {
		t.Fatalf("stats %+v, want the pass ended after the backwards page", stats)
	}
	if len(env.PendingObjects) != 0 {
		t.Fatalf("listed again at once: %+v", env.PendingObjects)
	}
}
