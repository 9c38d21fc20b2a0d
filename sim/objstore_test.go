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
