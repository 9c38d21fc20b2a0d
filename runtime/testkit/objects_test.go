package testkit

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/weirmq/weir/sm"
)

var objTopicID = sm.TopicID{7, 7, 7}

func put(name string, data string, createOnly bool) sm.ObjectOp {
	return sm.ObjectOp{Kind: sm.ObjPut, Name: name, Data: []byte(data), CreateOnly: createOnly}
}

func listNames(d sm.ObjectDone) []string {
	var out []string
	for _, o := range d.Objects {
		out = append(out, o.Name)
	}
	return out
}

// Goal: the model keeps GCS's semantics: whole objects with growing
// generations, create-only refusing a taken name, ranged gets, deletes of
// missing objects fine, lists in byte order with Prefix, After, Limit and
// More.
func TestObjectsSemantics(t *testing.T) {
	o := NewObjects()
	d1 := o.Apply(put("a/x", "hello world", true), nil)
	if d1.Outcome != sm.OutcomeOK || d1.Size != 11 || d1.Generation <= 0 {
		t.Fatalf("put: %+v", d1)
	}
	if d := o.Apply(put("a/x", "second", true), nil); d.Outcome != sm.OutcomeFailed || d.Err != sm.ObjErrExists {
		t.Fatalf("create-only put of a taken name: %+v", d)
	}
	if got, _ := o.Get("a/x"); string(got) != "hello world" {
		t.Fatalf("a refused put changed the object: %q", got)
	}
	d2 := o.Apply(put("a/x", "replaced", false), nil)
	if d2.Outcome != sm.OutcomeOK || d2.Generation <= d1.Generation {
		t.Fatalf("overwrite: %+v after generation %d", d2, d1.Generation)
	}
	for _, c := range []struct {
		off, n int64
		want   string
		err    sm.ObjErr
	}{
		{0, 0, "replaced", 0}, {2, 3, "pla", 0}, {5, 100, "ced", 0}, {3, -1, "laced", 0}, {8, 0, "", 0},
		{9, 1, "", sm.ObjErrInvalid}, {-1, 1, "", sm.ObjErrInvalid},
	} {
		d := o.Apply(sm.ObjectOp{ID: 9, Kind: sm.ObjGet, Name: "a/x", Off: c.off, Len: c.n}, nil)
		if d.ID != 9 || d.Err != c.err || string(d.Data) != c.want || (c.err == 0) != (d.Outcome == sm.OutcomeOK) {
			t.Fatalf("get [%d,+%d): %+v, want %q err %v", c.off, c.n, d, c.want, c.err)
		}
	}
	if d := o.Apply(sm.ObjectOp{Kind: sm.ObjGet, Name: "a/"}, nil); d.Outcome != sm.OutcomeFailed || d.Err != sm.ObjErrNotFound {
		t.Fatalf("get of a missing object: %+v", d)
	}
	for _, n := range []string{"a/x-y", "a/x/1", "a/x0", "b", "a/p.z"} {
		o.Apply(put(n, n, true), nil)
	}
	all := o.Apply(sm.ObjectOp{Kind: sm.ObjList}, nil)
	if want := []string{"a/p.z", "a/x", "a/x-y", "a/x/1", "a/x0", "b"}; !slices.Equal(listNames(all), want) || all.More {
		t.Fatalf("list: %q more=%v, want %q", listNames(all), all.More, want)
	}
	page := o.Apply(sm.ObjectOp{Kind: sm.ObjList, Prefix: "a/x", Limit: 2}, nil)
	if !slices.Equal(listNames(page), []string{"a/x", "a/x-y"}) || !page.More {
		t.Fatalf("first page: %q more=%v", listNames(page), page.More)
	}
	page = o.Apply(sm.ObjectOp{Kind: sm.ObjList, Prefix: "a/x", After: "a/x-y", Limit: 2}, nil)
	if !slices.Equal(listNames(page), []string{"a/x/1", "a/x0"}) || page.More {
		t.Fatalf("second page: %q more=%v", listNames(page), page.More)
	}
	if page = o.Apply(sm.ObjectOp{Kind: sm.ObjList, Prefix: "a/", After: "a/"}, nil); len(page.Objects) != 5 {
		t.Fatalf("after the prefix itself: %q", listNames(page))
	}
	if page = o.Apply(sm.ObjectOp{Kind: sm.ObjList, After: "zz"}, nil); len(page.Objects) != 0 || page.More {
		t.Fatalf("after the last name: %q", listNames(page))
	}
	o.PageSize = 4
	if page = o.Apply(sm.ObjectOp{Kind: sm.ObjList}, nil); len(page.Objects) != 4 || !page.More {
		t.Fatalf("default page of 4: %q more=%v", listNames(page), page.More)
	}
	if d := o.Apply(sm.ObjectOp{Kind: sm.ObjDelete, Name: "a/x"}, nil); d.Outcome != sm.OutcomeOK || d.Err != sm.ObjErrNone {
		t.Fatalf("delete: %+v", d)
	}
	if d := o.Apply(sm.ObjectOp{Kind: sm.ObjDelete, Name: "a/x"}, nil); d.Outcome != sm.OutcomeOK || d.Err != sm.ObjErrNotFound {
		t.Fatalf("delete of a missing object: %+v", d)
	}
	if o.Exists("a/x") || !slices.Equal(o.Names("a/x"), []string{"a/x-y", "a/x/1", "a/x0"}) {
		t.Fatalf("after delete: %q", o.Names("a/x"))
	}
	if d := o.Apply(put("a/x", "again", true), nil); d.Generation <= d2.Generation {
		t.Fatalf("re-created with generation %d, not above %d", d.Generation, d2.Generation)
	}
	for _, bad := range []string{"", "a\nb", strings.Repeat("n", ObjectNameBytesMax+1), "\xff"} {
		if d := o.Apply(put(bad, "x", true), nil); d.Err != sm.ObjErrInvalid {
			t.Fatalf("put of %q: %+v", bad, d)
		}
	}
}

// segmentOf writes batches of the given record counts from base and
// returns the bytes and each frame's start (plus the end).
func segmentOf(base sm.Offset, counts ...int) ([]byte, []int64) {
	var data []byte
	pos := []int64{0}
	off := base
	for _, n := range counts {
		data = append(data, frames(off, n)...)
		off += sm.Offset(n)
		pos = append(pos, int64(len(data)))
	}
	return data, pos
}

// Goal: a put from a segment source stores exactly the named range and
// Data, and one whose bytes are gone, short, out of offset order or fail
// their checksum fails creating nothing.
func TestObjectsSourcePut(t *testing.T) {
	seg, pos := segmentOf(10, 1, 2, 3)
	segs := map[sm.Offset][]byte{10: seg}
	read := func(src sm.SegmentSource) ([]byte, bool) {
		b, ok := segs[src.Segment]
		if !ok {
			return nil, false
		}
		return b[min(src.Pos, int64(len(b))):min(int64(len(b)), src.Pos+src.Len)], true
	}
	src := func(i, j int, base, next sm.Offset) *sm.SegmentSource {
		return &sm.SegmentSource{TP: tpA, TopicID: objTopicID, Segment: 10, Pos: pos[i], Len: pos[j] - pos[i], Base: base, Next: next}
	}
	o := NewObjects()
	d := o.Apply(sm.ObjectOp{Kind: sm.ObjPut, Name: "s/all", Source: src(0, 3, 10, 16), Data: []byte("idx"), CreateOnly: true}, read)
	if d.Outcome != sm.OutcomeOK || d.Size != int64(len(seg))+3 {
		t.Fatalf("source put: %+v", d)
	}
	if got, _ := o.Get("s/all"); !bytes.Equal(got, append(slices.Clone(seg), "idx"...)) {
		t.Fatal("source put stored other bytes")
	}
	if d := o.Apply(sm.ObjectOp{Kind: sm.ObjPut, Name: "s/mid", Source: src(1, 2, 11, 13)}, read); d.Outcome != sm.OutcomeOK {
		t.Fatalf("middle frame: %+v", d)
	}
	broken := slices.Clone(seg)
	broken[pos[2]-1] ^= 1
	for _, c := range []struct {
		name string
		src  *sm.SegmentSource
		data []byte
		err  sm.ObjErr
	}{
		{"next high", src(0, 3, 10, 17), seg, sm.ObjErrSourceCorrupt},
		{"next low", src(0, 3, 10, 15), seg, sm.ObjErrSourceCorrupt},
		{"base", src(1, 3, 10, 16), seg, sm.ObjErrSourceCorrupt},
		{"past the file", &sm.SegmentSource{Segment: 10, Pos: 0, Len: pos[3] + 5, Base: 10, Next: 16}, seg, sm.ObjErrSourceCorrupt},
		{"inside a frame", &sm.SegmentSource{Segment: 10, Pos: 0, Len: pos[2] - 1, Base: 10, Next: 13}, seg, sm.ObjErrSourceCorrupt},
		{"crc", src(0, 3, 10, 16), broken, sm.ObjErrSourceCorrupt},
		{"gap", src(0, 3, 10, 16), slices.Concat(seg[:pos[1]], seg[pos[2]:]), sm.ObjErrSourceCorrupt},
		{"gone", &sm.SegmentSource{Segment: 99, Len: 1, Base: 0, Next: 1}, seg, sm.ObjErrSourceGone},
		{"backwards", &sm.SegmentSource{Segment: 10, Base: 5, Next: 4}, seg, sm.ObjErrInvalid},
	} {
		segs[10] = c.data
		d := o.Apply(sm.ObjectOp{ID: 3, Kind: sm.ObjPut, Name: "bad/" + c.name, Source: c.src, CreateOnly: true}, read)
		if d.ID != 3 || d.Outcome != sm.OutcomeFailed || d.Err != c.err || d.Reason == "" {
			t.Fatalf("%s: %+v, want failed %v", c.name, d, c.err)
		}
	}
	if n := o.Names("bad/"); len(n) != 0 {
		t.Fatalf("failed source puts created %q", n)
	}
	if d := o.Apply(sm.ObjectOp{Kind: sm.ObjPut, Name: "nil-reader", Source: src(0, 1, 10, 11)}, nil); d.Err != sm.ObjErrSourceGone {
		t.Fatalf("no reader: %+v", d)
	}
}

// Goal: the test kit's disk reads a source from its segments: gone for a
// missing log, another topic ID or a trimmed segment; short where the file
// ends.
func TestDiskReadSource(t *testing.T) {
	d := NewDisk()
	d.StartLog([]sm.LogOp{
		{ID: 1, Kind: sm.LogAppend, TP: tpA, TopicID: objTopicID, Data: frames(0, 2)},
		{ID: 2, Kind: sm.LogAppend, TP: tpA, TopicID: objTopicID, Data: frames(2, 1), Roll: true},
	})
	d.CompleteNext(sm.OutcomeOK, "")
	d.CompleteNext(sm.OutcomeOK, "")
	first := int64(len(frames(0, 2)))
	if b, ok := d.ReadSource(sm.SegmentSource{TP: tpA, TopicID: objTopicID, Segment: 0, Len: first, Base: 0, Next: 2}); !ok || VerifySource(sm.SegmentSource{Len: first, Base: 0, Next: 2}, b) != "" {
		t.Fatalf("sealed segment: ok=%v %d bytes", ok, len(b))
	}
	if b, ok := d.ReadSource(sm.SegmentSource{TP: tpA, Segment: 2, Pos: 4, Len: 1000}); !ok || len(b) != len(frames(2, 1))-4 {
		t.Fatalf("read past the end: ok=%v %d bytes", ok, len(b))
	}
	for _, src := range []sm.SegmentSource{
		{TP: tpB, Segment: 0, Len: 1},
		{TP: tpA, TopicID: sm.TopicID{9}, Segment: 0, Len: 1},
		{TP: tpA, Segment: 1, Len: 1},
	} {
		if _, ok := d.ReadSource(src); ok {
			t.Fatalf("read %+v: found", src)
		}
	}
}

// objNode is a node that starts the object ops it is handed at its next
// step and records the completions it gets.
type objNode struct {
	queue []sm.ObjectOp
	next  sm.EffectID
	done  []sm.ObjectDone
	rd    sm.Ready
}

func (n *objNode) issue(ops ...sm.ObjectOp) {
	for _, op := range ops {
		n.next++
		op.ID = n.next
		n.queue = append(n.queue, op)
	}
}

func (n *objNode) Step(_ sm.Time, ev sm.Event) error {
	if d, ok := ev.(sm.ObjectDone); ok {
		n.done = append(n.done, d)
	}
	n.rd.Objects = append(n.rd.Objects, n.queue...)
	n.queue = nil
	return nil
}
func (n *objNode) Ready() sm.Ready        { return n.rd }
func (n *objNode) Advance()               { n.rd = sm.Ready{} }
func (n *objNode) CheckInvariants() error { return nil }

func (n *objNode) last() sm.ObjectDone { return n.done[len(n.done)-1] }

// Goal: the Env's helpers complete a node's object ops through one shared
// store: completed ops take effect, failed ones do not, unknown ones may
// (the nasty one: applied with the reply lost), and a crash loses the
// completions of pending ops while they may still land.
func TestEnvObjectHelpers(t *testing.T) {
	clock, net := NewClock(1), &Network{}
	store := NewObjects()
	envA, envB := NewEnv(101, NewDisk(), net), NewEnv(102, NewDisk(), net)
	envA.Store, envB.Store = store, store
	a, b := NewHost(t, clock, envA), NewHost(t, clock, envB)
	na, nb := &objNode{}, &objNode{}
	a.Start(na)
	b.Start(nb)
	step := func(h *Host, n *objNode, ops ...sm.ObjectOp) {
		n.issue(ops...)
		h.Handle(sm.TimerFired{})
	}
	step(a, na, put("x/1", "one", true), put("x/2", "two", true), sm.ObjectOp{Kind: sm.ObjList, Prefix: "x/"})
	if len(envA.PendingObjects) != 3 || store.Len() != 0 {
		t.Fatalf("pending %d, stored %d: nothing completes on its own", len(envA.PendingObjects), store.Len())
	}
	if n := a.CompleteObjects(); n != 3 || len(na.done) != 3 {
		t.Fatalf("completed %d, delivered %d", n, len(na.done))
	}
	if l := na.done[2]; l.Outcome != sm.OutcomeOK || !slices.Equal(listNames(l), []string{"x/1", "x/2"}) {
		t.Fatalf("list after two puts in one batch: %+v", l)
	}
	// b sees a's objects: one store.
	step(b, nb, sm.ObjectOp{Kind: sm.ObjGet, Name: "x/1"}, put("x/1", "b's", true))
	b.CompleteObjects()
	if string(nb.done[0].Data) != "one" || nb.done[1].Err != sm.ObjErrExists {
		t.Fatalf("b: %+v", nb.done)
	}
	// Failed: nothing happens.
	step(a, na, put("x/3", "three", true))
	if !a.FailObject(na.next, sm.ObjErrThrottled) || na.last().Outcome != sm.OutcomeFailed || na.last().Err != sm.ObjErrThrottled || store.Exists("x/3") {
		t.Fatalf("failed put: %+v, exists %v", na.last(), store.Exists("x/3"))
	}
	// Unknown, not applied; then unknown, applied (the nasty one).
	step(a, na, put("x/4", "four", true))
	if !a.UnknownObject(na.next, false) || na.last().Outcome != sm.OutcomeUnknown || store.Exists("x/4") {
		t.Fatalf("unknown put, not applied: %+v", na.last())
	}
	step(a, na, put("x/5", "five", true), sm.ObjectOp{Kind: sm.ObjDelete, Name: "x/1"})
	a.UnknownObject(na.next-1, true)
	a.UnknownObject(na.next, true)
	if d := na.last(); d.Outcome != sm.OutcomeUnknown || !store.Exists("x/5") || store.Exists("x/1") {
		t.Fatalf("unknown, applied: %+v; x/5 %v, x/1 %v", d, store.Exists("x/5"), store.Exists("x/1"))
	}
	// A put whose source is gone fails certainly, even asked unknown.
	step(a, na, sm.ObjectOp{Kind: sm.ObjPut, Name: "x/6", Source: &sm.SegmentSource{TP: tpA, Len: 1, Next: 1}})
	if a.UnknownObject(na.next, true); na.last().Outcome != sm.OutcomeFailed || na.last().Err != sm.ObjErrSourceGone {
		t.Fatalf("unknown put of a gone source: %+v", na.last())
	}
	// A crash: the pending put's completion is lost, but it lands later.
	step(a, na, put("x/7", "seven", true))
	id := na.next
	a.Crash(0)
	if a.CompleteObject(id) || len(envA.PendingObjects) != 0 {
		t.Fatal("a crashed process's op is still pending")
	}
	before := len(na.done)
	if d, ok := envA.LandObject(id); !ok || d.Outcome != sm.OutcomeOK || !store.Exists("x/7") || len(na.done) != before {
		t.Fatalf("landing after the crash: %+v ok=%v", d, ok)
	}
	if a.CompleteObject(12345) || a.FailObject(12345, sm.ObjErrUnavailable) || a.UnknownObject(12345, true) {
		t.Fatal("completed an op that was never started")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a get completed unknown")
		}
	}()
	step(b, nb, sm.ObjectOp{Kind: sm.ObjGet, Name: "x/5"})
	b.UnknownObject(nb.next, false)
}

// Goal: a put from a source reads the issuing process's disk when it
// completes: a segment trimmed before then is gone.
func TestEnvObjectSourceFromDisk(t *testing.T) {
	clock, disk := NewClock(1), NewDisk()
	env := NewEnv(101, disk, &Network{})
	h := NewHost(t, clock, env)
	n := &objNode{}
	h.Start(n)
	disk.StartLog([]sm.LogOp{
		{ID: 1, Kind: sm.LogAppend, TP: tpA, TopicID: objTopicID, Data: frames(0, 3)},
		{ID: 2, Kind: sm.LogAppend, TP: tpA, TopicID: objTopicID, Data: frames(3, 1), Roll: true},
	})
	disk.CompleteNext(sm.OutcomeOK, "")
	disk.CompleteNext(sm.OutcomeOK, "")
	src := &sm.SegmentSource{TP: tpA, TopicID: objTopicID, Segment: 0, Len: int64(len(frames(0, 3))), Base: 0, Next: 3}
	n.issue(sm.ObjectOp{Kind: sm.ObjPut, Name: "seg/0", Source: src, Data: []byte("trailer"), CreateOnly: true},
		sm.ObjectOp{Kind: sm.ObjPut, Name: "seg/0-again", Source: src, CreateOnly: true})
	h.Handle(sm.TimerFired{})
	h.CompleteObject(1)
	if d := n.last(); d.Outcome != sm.OutcomeOK || d.Size != src.Len+7 {
		t.Fatalf("source put: %+v", d)
	}
	disk.StartLog([]sm.LogOp{{ID: 3, Kind: sm.LogTrim, TP: tpA, Offset: 3}})
	disk.CompleteNext(sm.OutcomeOK, "")
	h.CompleteObject(2)
	if d := n.last(); d.Outcome != sm.OutcomeFailed || d.Err != sm.ObjErrSourceGone || env.Store.Exists("seg/0-again") {
		t.Fatalf("put of a trimmed segment: %+v", d)
	}
}
