package sim

import (
	"slices"
	"strings"
	"testing"

	"github.com/weirmq/weir/sm"
)

// objWorld is a bare world of two broker hosts whose nodes record what
// they are handed, for driving the object store directly.
type objWorld struct {
	w    *World
	h    [2]*host
	recs [2]*recorder
	next sm.EffectID
}

func newObjWorld(seed uint64) *objWorld {
	cfg := DefaultConfig(seed)
	w := &World{cfg: cfg, hosts: map[sm.NodeID]*host{}, diskRNG: newRNG(cfg.Seed).child("disk"), faultRNG: newRNG(cfg.Seed).child("fault")}
	o := &objWorld{w: w}
	for i := range o.h {
		o.h[i] = w.addHost(firstBrokerID+sm.NodeID(i), kindBroker)
		o.recs[i] = &recorder{}
		o.h[i].node, o.h[i].up, o.h[i].incarnation = o.recs[i], true, 1
	}
	return o
}

// start issues op from host i and returns its ID.
func (o *objWorld) start(i int, op sm.ObjectOp) sm.EffectID {
	o.next++
	op.ID = o.next
	o.h[i].StartObject([]sm.ObjectOp{op})
	return op.ID
}

// wait runs the world until host i got the completion of id.
func (o *objWorld) wait(t *testing.T, i int, id sm.EffectID) sm.ObjectDone {
	t.Helper()
	var got *sm.ObjectDone
	find := func() bool {
		for _, ev := range o.recs[i].events {
			if d, ok := ev.(sm.ObjectDone); ok && d.ID == id {
				got = &d
				return true
			}
		}
		return false
	}
	o.w.runUntil(o.w.now.Add(3600*sm.Second), find)
	if got == nil && !find() {
		t.Fatalf("object op %d never completed", id)
	}
	return *got
}

func (o *objWorld) do(t *testing.T, i int, op sm.ObjectOp) sm.ObjectDone {
	t.Helper()
	return o.wait(t, i, o.start(i, op))
}

func objPut(name, data string) sm.ObjectOp {
	return sm.ObjectOp{Kind: sm.ObjPut, Name: name, Data: []byte(data), CreateOnly: true}
}

// plantSegment makes data the sealed segment of tpA at base on host i's
// disk.
func (o *objWorld) plantSegment(i int, base sm.Offset, data []byte) {
	d := o.h[i].disk
	l := d.logs[walFile(tpA)]
	if l == nil {
		l = d.newLog(tpA, idA, base, true)
		l.segs = nil
	}
	l.segs = append(l.segs, &segment{base: base, data: file{content: data, durable: data}})
	l.durSegs = slices.Clone(l.segs)
	l.activeOK = false
}

// Goal: the store is one for every host, strongly consistent: what one
// host's put completed, another host's get and list see; a put's source is
// read from the issuing host's disk, and a segment not there is gone.
func TestObjectStoreShared(t *testing.T) {
	o := newObjWorld(1)
	if d := o.do(t, 0, objPut("x/a", "from b101")); d.Outcome != sm.OutcomeOK {
		t.Fatalf("put: %+v", d)
	}
	if d := o.do(t, 1, sm.ObjectOp{Kind: sm.ObjGet, Name: "x/a"}); string(d.Data) != "from b101" {
		t.Fatalf("get from the other host: %+v", d)
	}
	if d := o.do(t, 1, objPut("x/a", "from b102")); d.Outcome != sm.OutcomeFailed || d.Err != sm.ObjErrExists {
		t.Fatalf("create-only put from the other host: %+v", d)
	}
	seg := slices.Concat(batchAt(0, 3, 0), batchAt(3, 2, 3))
	o.plantSegment(0, 0, seg)
	src := &sm.SegmentSource{TP: tpA, TopicID: idA, Segment: 0, Len: int64(len(seg)), Base: 0, Next: 5}
	d := o.do(t, 0, sm.ObjectOp{Kind: sm.ObjPut, Name: "seg/0", Source: src, Data: []byte("idx"), CreateOnly: true})
	if got, _ := o.w.objects.Get("seg/0"); d.Outcome != sm.OutcomeOK || string(got) != string(seg)+"idx" {
		t.Fatalf("source put: %+v", d)
	}
	if d := o.do(t, 1, sm.ObjectOp{Kind: sm.ObjPut, Name: "seg/1", Source: src}); d.Err != sm.ObjErrSourceGone {
		t.Fatalf("source put from a host without the segment: %+v", d)
	}
	other := *src
	other.TopicID = sm.TopicID{1, 2}
	if d := o.do(t, 0, sm.ObjectOp{Kind: sm.ObjPut, Name: "seg/2", Source: &other}); d.Err != sm.ObjErrSourceGone {
		t.Fatalf("source put of another topic ID: %+v", d)
	}
	bad := *src
	bad.Next = 4
	if d := o.do(t, 0, sm.ObjectOp{Kind: sm.ObjPut, Name: "seg/3", Source: &bad}); d.Err != sm.ObjErrSourceCorrupt {
		t.Fatalf("source put naming the wrong offsets: %+v", d)
	}
	if got := o.w.objects.Names(""); !slices.Equal(got, []string{"seg/0", "x/a"}) {
		t.Fatalf("names %q", got)
	}
	if !o.w.objects.Exists("x/a") || o.w.objects.Exists("seg/1") {
		t.Fatal("Exists disagrees with Names")
	}
}

// Goal: a crash of the issuing host loses the completions of its pending
// ops, not what they do: a put in flight lands.
func TestObjectStoreCrashKeepsLanded(t *testing.T) {
	o := newObjWorld(2)
	id := o.start(0, objPut("c/x", "in flight"))
	o.h[0].crash(false)
	o.w.runUntil(o.w.now.Add(10*sm.Second), nil)
	for _, ev := range o.recs[0].events {
		if d, ok := ev.(sm.ObjectDone); ok && d.ID == id {
			t.Fatal("a crashed process got its op's completion")
		}
	}
	if !o.w.objects.Exists("c/x") {
		t.Fatal("a put in flight when its host crashed did not land")
	}
}

// Goal: every object-store fault class does what it says, and counts.
func TestObjectStoreFaults(t *testing.T) {
	o := newObjWorld(3)
	s, w := o.w.objectStore(), o.w
	long := w.now.Add(1 << 50)
	o.do(t, 0, objPut("f/base", "base"))
	get := sm.ObjectOp{Kind: sm.ObjGet, Name: "f/base"}

	// 429 and 503: gets fail, puts fail creating nothing or end unknown.
	for _, c := range []struct {
		f   Fault
		set func()
		err sm.ObjErr
	}{
		{FaultObjThrottle, func() { s.f.throttleUntil, s.f.throttleRate = long, 1 }, sm.ObjErrThrottled},
		{FaultObjUnavailable, func() { s.f.unavailUntil, s.f.unavailRate = long, 1 }, sm.ObjErrUnavailable},
	} {
		s.heal()
		c.set()
		if d := o.do(t, 0, get); d.Outcome != sm.OutcomeFailed || d.Err != c.err {
			t.Fatalf("%v: get %+v", c.f, d)
		}
		outcomes := map[sm.Outcome]int{}
		for i := range 20 {
			name := c.f.String() + "/" + string(rune('a'+i))
			d := o.do(t, 0, objPut(name, "x"))
			outcomes[d.Outcome]++
			if d.Err != c.err || d.Outcome == sm.OutcomeOK || d.Outcome == sm.OutcomeFailed && s.Exists(name) {
				t.Fatalf("%v: put %+v (exists %v)", c.f, d, s.Exists(name))
			}
		}
		if outcomes[sm.OutcomeFailed] == 0 || outcomes[sm.OutcomeUnknown] == 0 {
			t.Fatalf("%v: puts ended %v, want both failed and unknown", c.f, outcomes)
		}
		if w.stats.Faults[c.f] != 21 {
			t.Fatalf("%v counted %d faults, want 21", c.f, w.stats.Faults[c.f])
		}
	}

	// Timeouts: at the deadline; writes unknown, reads failed.
	s.heal()
	s.f.timeoutUntil, s.f.timeoutRate = long, 1
	at := w.now
	if d := o.do(t, 0, get); d.Outcome != sm.OutcomeFailed || w.now.Sub(at) < w.cfg.ObjectTimeout {
		t.Fatalf("timed-out get: %+v after %v", d, w.now.Sub(at))
	}
	if d := o.do(t, 0, sm.ObjectOp{Kind: sm.ObjDelete, Name: "f/base"}); d.Outcome != sm.OutcomeUnknown {
		t.Fatalf("timed-out delete: %+v", d)
	}

	// The nasty one: the write happened, the reply was lost.
	s.heal()
	s.f.lostReplyUntil, s.f.lostReplyRate = long, 1
	if d := o.do(t, 0, objPut("f/lost", "x")); d.Outcome != sm.OutcomeUnknown || !s.Exists("f/lost") {
		t.Fatalf("lost reply: %+v, exists %v", d, s.Exists("f/lost"))
	}
	if d := o.do(t, 0, sm.ObjectOp{Kind: sm.ObjGet, Name: "f/lost"}); d.Outcome != sm.OutcomeOK {
		t.Fatalf("a get is never a lost write: %+v", d)
	}

	// A late put: unknown now, the object appears later.
	s.heal()
	s.f.lateUntil, s.f.lateRate = long, 1
	if d := o.do(t, 0, objPut("f/late", "x")); d.Outcome != sm.OutcomeUnknown || s.Exists("f/late") {
		t.Fatalf("late put: %+v, exists at completion %v", d, s.Exists("f/late"))
	}
	s.heal()
	w.runUntil(w.now.Add(w.cfg.ObjectLateMax), func() bool { return s.Exists("f/late") })
	if !s.Exists("f/late") || w.stats.Reached["object put landed late"] != 1 || s.pending != 0 {
		t.Fatalf("late put never landed (reached %v, pending %d)", w.stats.Reached, s.pending)
	}

	// Failing and slow ranged reads.
	s.f.readErrUntil, s.f.readErrRate = long, 1
	if d := o.do(t, 0, sm.ObjectOp{Kind: sm.ObjGet, Name: "f/lost", Off: 0, Len: 1}); d.Outcome != sm.OutcomeFailed || d.Err != sm.ObjErrUnavailable {
		t.Fatalf("failing read: %+v", d)
	}
	s.f.readErrRate, s.f.readSlowMax = 0, 30*sm.Second
	var slowest sm.Duration
	for range 20 {
		at := w.now
		o.do(t, 0, get)
		slowest = max(slowest, w.now.Sub(at))
	}
	if slowest <= w.cfg.ObjectLatencyMax {
		t.Fatalf("slow reads: the slowest took %v, no more than the store's tail %v", slowest, w.cfg.ObjectLatencyMax)
	}

	// Small pages.
	s.heal()
	s.f.pageUntil, s.f.pageMax = long, 2
	var all []string
	after := ""
	for pages := 0; ; pages++ {
		d := o.do(t, 1, sm.ObjectOp{Kind: sm.ObjList, Prefix: "obj", After: after})
		if len(d.Objects) > 2 || pages > 100 {
			t.Fatalf("page of %d objects", len(d.Objects))
		}
		for _, x := range d.Objects {
			all = append(all, x.Name)
		}
		if !d.More {
			break
		}
		after = d.Objects[len(d.Objects)-1].Name
	}
	if want := s.Names("obj"); !slices.Equal(all, want) || len(want) < 10 {
		t.Fatalf("paged list %q, want %q", all, want)
	}

	// Slow ops.
	s.heal()
	s.f.slowUntil, s.f.slowMax = long, 5*sm.Second
	o.do(t, 0, get)
	for _, f := range objectFaultClasses {
		if w.stats.Faults[f] == 0 {
			t.Errorf("%v never counted", f)
		}
	}
	for _, p := range []string{"object put unknown outcome", "object read failed", "object list paged", "object delete unknown outcome"} {
		if w.stats.Reached[p] == 0 {
			t.Errorf("%q never reached", p)
		}
	}
}

// Goal: the fault primitive the director calls opens a window of every
// object class that reaches operations (ObjectFaults, with drawn rates).
func TestObjectFaultsPrimitive(t *testing.T) {
	o := newObjWorld(4)
	r := newRNG(4).child("test")
	o.do(t, 0, objPut("p/x", "x"))
	for _, f := range objectFaultClasses {
		for try := 0; o.w.stats.Faults[f] == 0; try++ {
			if try == 50 {
				t.Fatalf("%v: 50 windows reached no operation", f)
			}
			o.w.objectStore().heal()
			o.w.ObjectFaults(f, 600*sm.Second, r)
			o.do(t, 0, sm.ObjectOp{Kind: sm.ObjGet, Name: "p/x"})
			o.do(t, 1, sm.ObjectOp{Kind: sm.ObjList, Prefix: "p/"})
			o.do(t, 0, sm.ObjectOp{Kind: sm.ObjPut, Name: "p/" + f.String() + strings.Repeat("+", try), Data: []byte("y")})
		}
	}
	if !strings.Contains(FaultSet(1<<FaultObjLostReply|1<<FaultObjLate).String(), "objlostreply,objlate") {
		t.Fatal("object classes are not named")
	}
	if s, err := ParseFaults("objlostreply,obj503,objpage"); err != nil || !s.Has(FaultObjUnavailable) || !s.Has(FaultObjPage) {
		t.Fatalf("ParseFaults = %v, %v", s, err)
	}
}

// Goal: object ops and completions are in the trace hash: the same ops
// replay to the same hash, and one byte of one put changes it.
func TestObjectStoreTrace(t *testing.T) {
	run := func(data string) uint64 {
		o := newObjWorld(5)
		o.w.objectStore().f.lostReplyUntil, o.w.objectStore().f.lostReplyRate = 1<<50, 0.5
		for i := range 10 {
			o.do(t, i%2, objPut("t/"+string(rune('a'+i)), data))
			o.do(t, (i+1)%2, sm.ObjectOp{Kind: sm.ObjList, Prefix: "t/"})
		}
		return o.w.trace.sum()
	}
	a, b, c := run("same"), run("same"), run("samf")
	if a != b {
		t.Fatalf("the same ops hashed %x and %x", a, b)
	}
	if a == c {
		t.Fatal("one byte of the puts changed, the trace hash did not")
	}
}

// fakeRecords is a controller node that records uploaded segments, for the
// tiered-storage checkers.
type fakeRecords struct {
	recorder
	applied uint64
	recs    map[sm.TopicPartition][]sm.RemoteSegment
	md      sm.MetadataDelta
}

func (f *fakeRecords) RemoteSegments() map[sm.TopicPartition][]sm.RemoteSegment { return f.recs }
func (f *fakeRecords) AppliedIndex() uint64                                     { return f.applied }
func (f *fakeRecords) Metadata() sm.MetadataDelta                               { return f.md }

var tierTopicID = sm.TopicID{0xaa, 1}

// tierWorld is an objWorld with two fake controllers (c1, c2) whose
// metadata holds topic t0 (ID tierTopicID) at leader epoch 3.
func tierWorld(t *testing.T) (*objWorld, [2]*fakeRecords) {
	o := newObjWorld(6)
	w := o.w
	w.inv = invariants{committed: map[sm.TopicPartition][]string{}}
	var cs [2]*fakeRecords
	for i := range cs {
		h := w.addHost(sm.NodeID(1+i), kindController)
		cs[i] = &fakeRecords{applied: 10, recs: map[sm.TopicPartition][]sm.RemoteSegment{}, md: sm.MetadataDelta{
			Topics:     []sm.TopicInfo{{Name: "t0", Partitions: 2, ID: tierTopicID}},
			Partitions: []sm.PartitionState{{TP: tp0, LeaderEpoch: 3}, {TP: sm.TopicPartition{Topic: "t0", Partition: 1}, LeaderEpoch: 3}},
		}}
		h.node, h.up, h.incarnation = cs[i], true, 1
	}
	return o, cs
}

var tp0 = sm.TopicPartition{Topic: "t0", Partition: 0}

// uploadSegment stores a segment object of values from base as an uploader
// would (frames, then their index) and returns its record.
func uploadSegment(t *testing.T, o *objWorld, base sm.Offset, epoch sm.Epoch, values ...string) sm.RemoteSegment {
	t.Helper()
	var data []byte
	for i, v := range values {
		b := sm.Batch{BaseOffset: base + sm.Offset(i), Epoch: epoch, Records: []sm.Record{{Value: []byte(v)}}}
		b.Seal()
		data = sm.EncodeBatch(data, &b)
	}
	idx, serr := sm.ScanSegment(data, base, 0)
	if serr != nil {
		t.Fatal(serr)
	}
	frames := int64(len(data))
	data = sm.EncodeSegmentIndex(data, &idx)
	name := sm.ObjectName{TopicID: tierTopicID, Partition: 0, Base: base, Epoch: epoch, Broker: 101, Incarnation: 1, Effect: sm.EffectID(base + 1)}.String()
	if d := o.w.objectStore().model.Put(sm.ObjectOp{Name: name, CreateOnly: true}, data); d.Outcome != sm.OutcomeOK {
		t.Fatalf("upload: %+v", d)
	}
	return sm.RemoteSegment{Name: name, Base: base, Next: idx.Next, DataBytes: frames, IndexBytes: int64(len(data)) - frames, LeaderEpoch: epoch}
}

// Goal: the GC-safety checker passes a store that holds every recorded
// segment as committed, and catches a recorded segment missing, cut short,
// corrupt, or holding other records than the cluster committed; a lagging
// controller's records are not held against the store.
func TestGCSafetyChecker(t *testing.T) {
	for _, c := range []struct {
		name  string
		spoil func(o *objWorld, cs [2]*fakeRecords, seg *sm.RemoteSegment)
		want  string
	}{
		{"good", func(*objWorld, [2]*fakeRecords, *sm.RemoteSegment) {}, ""},
		{"missing", func(o *objWorld, _ [2]*fakeRecords, seg *sm.RemoteSegment) {
			o.w.objects.model.Apply(sm.ObjectOp{Kind: sm.ObjDelete, Name: seg.Name}, nil)
		}, "is not in the object store"},
		{"missing, seen by a lagging controller only", func(o *objWorld, cs [2]*fakeRecords, seg *sm.RemoteSegment) {
			o.w.objects.model.Apply(sm.ObjectOp{Kind: sm.ObjDelete, Name: seg.Name}, nil)
			o.w.inv.appliedMax = 11 // a controller applied the drop, deleted and went down
		}, ""},
		{"size", func(_ *objWorld, _ [2]*fakeRecords, seg *sm.RemoteSegment) { seg.IndexBytes++ }, "the record says"},
		{"offsets", func(_ *objWorld, _ [2]*fakeRecords, seg *sm.RemoteSegment) { seg.Next++ }, "index trailer covers [4, 8) in 184 bytes, the record [4, 9)"},
		{"base before the frames", func(_ *objWorld, _ [2]*fakeRecords, seg *sm.RemoteSegment) { seg.Base-- }, "index trailer covers [4, 8) in 184 bytes, the record [3, 8)"},
		{"base inside the frames", func(_ *objWorld, _ [2]*fakeRecords, seg *sm.RemoteSegment) { seg.Base++ }, ""}, // a new leader's straddling segment
		{"crc", func(o *objWorld, _ [2]*fakeRecords, seg *sm.RemoteSegment) {
			data, _ := o.w.objects.Get(seg.Name)
			bad := slices.Clone(data)
			bad[seg.DataBytes-1] ^= 1
			o.w.objects.model.Put(sm.ObjectOp{Name: seg.Name}, bad)
		}, "frames do not decode"},
		{"values", func(o *objWorld, _ [2]*fakeRecords, seg *sm.RemoteSegment) {
			o.w.inv.committed[tp0][6] = "other"
		}, `offset 6 holds "v6", the cluster committed "other"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			o, cs := tierWorld(t)
			o.w.inv.committed[tp0] = []string{"v0", "v1", "v2", "v3", "v4", unverified, "v6"}
			seg := uploadSegment(t, o, 4, 3, "v4", "v5", "v6", "v7")
			c.spoil(o, cs, &seg)
			cs[0].recs[tp0] = []sm.RemoteSegment{seg}
			cs[1].applied = 9 // c1 is the newest
			o.w.checkObjects()
			switch {
			case c.want == "" && o.w.failure != nil:
				t.Fatalf("failed: %v", o.w.failure)
			case c.want != "" && (o.w.failure == nil || !strings.Contains(o.w.failure.Error(), c.want)):
				t.Fatalf("failure %v, want one saying %q", o.w.failure, c.want)
			}
			if c.name == "good" {
				// The object filled what no replica could still show, and
				// is compared again once the committed log reaches offset 7.
				if got := o.w.inv.committed[tp0][5]; got != "v5" {
					t.Fatalf("unverified offset 5 now %q", got)
				}
				o.w.inv.committed[tp0] = append(o.w.inv.committed[tp0], "not v7")
				o.w.checkObjects()
				if o.w.failure == nil || !strings.Contains(o.w.failure.Error(), `offset 7 holds "v7"`) {
					t.Fatalf("a later committed offset was not compared: %v", o.w.failure)
				}
			}
		})
	}
}

// Goal: the liveness check waits for the collector to delete every orphan
// — an object no record refers to and none can any more — and fails the
// run for one it leaves past its allowance; referenced and still
// committable objects may stay.
func TestOrphanLiveness(t *testing.T) {
	setup := func(t *testing.T) (*objWorld, string) {
		o, cs := tierWorld(t)
		kept := uploadSegment(t, o, 0, 3, "a", "b")
		orphanOld := uploadSegment(t, o, 10, 2, "x")   // epoch 2 < 3: never committable
		committable := uploadSegment(t, o, 20, 3, "y") // epoch 3, base 20 ≥ end 2: may still be recorded
		_ = committable
		for _, c := range cs {
			c.recs[tp0] = []sm.RemoteSegment{kept}
			c.md.Partitions[0].Remote = sm.RemoteLog{Start: 0, End: 2, Segments: 1}
		}
		// A stray object of a deleted topic incarnation, one of a
		// partition that does not exist, and a name that is not a segment
		// object's (not the collector's business).
		o.w.objects.model.Put(sm.ObjectOp{Name: sm.ObjectName{TopicID: sm.TopicID{0xdd}, Base: 5}.String()}, []byte("gone topic"))
		o.w.objects.model.Put(sm.ObjectOp{Name: sm.ObjectName{TopicID: tierTopicID, Partition: 7, Epoch: 9}.String()}, []byte("no partition 7"))
		o.w.objects.model.Put(sm.ObjectOp{Name: sm.SegmentsPrefix + "junk"}, []byte("?"))
		var tick func()
		tick = func() { o.w.checkObjects(); o.w.after(invariantInterval, tick) }
		tick()
		if len(o.w.inv.orphanSince) != 3 {
			t.Fatalf("orphans %v, want the old epoch's, the gone topic's and partition 7's", o.w.inv.orphanSince)
		}
		return o, orphanOld.Name
	}
	t.Run("collected", func(t *testing.T) {
		o, _ := setup(t)
		// A collector that deletes every orphan a grace after it saw it.
		o.w.after(o.w.cfg.GCGrace+o.w.cfg.GCInterval, func() {
			for name := range o.w.inv.orphanSince {
				o.w.objects.model.Apply(sm.ObjectOp{Kind: sm.ObjDelete, Name: name}, nil)
			}
		})
		if err := o.w.objectLiveness(); err != nil {
			t.Fatal(err)
		}
		if o.w.stats.Reached["orphan object collected"] != 3 || len(o.w.objects.Names(sm.SegmentsPrefix)) != 3 {
			t.Fatalf("collected %d, left %q", o.w.stats.Reached["orphan object collected"], o.w.objects.Names(sm.SegmentsPrefix))
		}
	})
	t.Run("left", func(t *testing.T) {
		o, old := setup(t)
		o.w.after(o.w.cfg.GCGrace, func() {
			for name := range o.w.inv.orphanSince {
				if name != old {
					o.w.objects.model.Apply(sm.ObjectOp{Kind: sm.ObjDelete, Name: name}, nil)
				}
			}
		})
		start := o.w.now
		err := o.w.objectLiveness()
		if err == nil || !strings.Contains(err.Error(), "1 orphan objects not collected") || !strings.Contains(err.Error(), old) {
			t.Fatalf("objectLiveness = %v", err)
		}
		if o.w.now.Sub(start) < o.w.orphanAllowance() {
			t.Fatalf("gave up after %v, before the allowance %v", o.w.now.Sub(start), o.w.orphanAllowance())
		}
	})
}
