// Package objtest is the contract test every object store runs: the
// production executor (cloud.Executor over cloud/local or cloud/gcs) and the
// simulator's store check the same promises of runtime.ObjectStore with one
// suite, so the semantics the state machines are tested against in the
// simulator cannot drift from those production runs on.
//
// The suite works at the effect level: it starts sm.ObjectOp batches and
// collects sm.ObjectDone completions, so a store driven in virtual time and
// one running goroutines both fit. A store under test implements Subject;
// its test calls
//
//	objtest.Run(t, func(t *testing.T) objtest.Subject { return newMySubject(t) })
//
// and every subtest gets a fresh, empty store (a fresh bucket or prefix).
// The suite checks:
//
//   - put then get returns the bytes; ranged gets return the part asked for,
//     shorter at the object's end, to the end with Len ≤ 0; a get starting
//     beyond the end fails with ObjErrInvalid; a missing object fails with
//     ObjErrNotFound;
//   - a CreateOnly put of an existing name fails with ObjErrExists and
//     leaves the old bytes; a plain put replaces them with a higher
//     generation;
//   - reads and lists issued after a put or delete completed see it;
//   - lists return full names in byte order across "directories", honour
//     Prefix, After and Limit, and page with More;
//   - a delete removes the object; deleting a missing object completes OK
//     with ObjErrNotFound;
//   - a put with a SegmentSource stores exactly the segment range followed
//     by Data; a source whose frames fail their checksum, skip an offset, or
//     do not hold exactly [Base, Next) fails ObjErrSourceCorrupt, and one no
//     longer on disk fails ObjErrSourceGone, and neither creates anything;
//   - every op completes exactly once, with its own ID, however many are
//     started together.
package objtest

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/weirmq/weir/runtime"
	"github.com/weirmq/weir/sm"
)

// Subject is an object store under test.
type Subject interface {
	runtime.ObjectStore
	// Next returns the next completion of the ops started so far: it waits
	// for one (a real store) or drives the store until one is ready (a
	// simulated one). The suite calls it only while an op is outstanding;
	// a store with nothing to complete within a generous deadline fails t.
	Next(t *testing.T) sm.ObjectDone
	// Plant makes data the whole content of the local sealed segment of tp
	// based at segment, the file a put's SegmentSource names; planting
	// again replaces it.
	Plant(t *testing.T, tp sm.TopicPartition, segment sm.Offset, data []byte)
	// Unplant removes that segment, as a trim does.
	Unplant(t *testing.T, tp sm.TopicPartition, segment sm.Offset)
}

// Run runs the contract suite, each subtest against a new store.
func Run(t *testing.T, newSubject func(t *testing.T) Subject) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runCase(t, t, newSubject(t), c.run)
		})
	}
}

// tb is the part of testing.TB the suite's checks use; the suite's own test
// runs it with a recorder to prove that it fails broken stores.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

func runCase(check tb, t *testing.T, s Subject, run func(h *harness)) {
	run(&harness{t: check, st: t, s: s})
}

var cases = []struct {
	name string
	run  func(h *harness)
}{
	{"PutGet", testPutGet},
	{"RangedGet", testRangedGet},
	{"CreateOnly", testCreateOnly},
	{"Overwrite", testOverwrite},
	{"ReadAndListAfterWrite", testAfterWrite},
	{"ListOrderAndPaging", testList},
	{"Delete", testDelete},
	{"SourcePut", testSourcePut},
	{"SourceCorrupt", testSourceCorrupt},
	{"SourceGone", testSourceGone},
	{"ManyAtOnce", testMany},
}

var tpA = sm.TopicPartition{Topic: "objtest", Partition: 2}

// A put's bytes come back whole; a missing object is not found.
func testPutGet(h *harness) {
	body := bytes.Repeat([]byte("weir-objtest "), 1000)
	d := h.put("a/one", body, false)
	if d.Size != int64(len(body)) {
		h.t.Fatalf("objtest: put of %d bytes completed with size %d", len(body), d.Size)
	}
	h.getEq("a/one", 0, 0, body)
	h.put("a/empty", nil, true)
	h.getEq("a/empty", 0, 0, nil)
	h.getFails("a/missing", 0, 0, sm.ObjErrNotFound)
	h.getFails("a/on", 0, 0, sm.ObjErrNotFound) // a prefix of a name is not the object
}

// Ranged gets: from the middle, running past the end (shorter), to the end
// with Len ≤ 0, and beyond the end (invalid).
func testRangedGet(h *harness) {
	body := make([]byte, 10000)
	for i := range body {
		body[i] = byte(i * 7)
	}
	h.put("r/obj", body, true)
	h.getEq("r/obj", 100, 50, body[100:150])
	h.getEq("r/obj", 0, 1, body[:1])
	h.getEq("r/obj", 9990, 100, body[9990:])
	h.getEq("r/obj", 4000, 0, body[4000:])
	h.getEq("r/obj", 4000, -1, body[4000:])
	h.getEq("r/obj", 9999, 0, body[9999:])
	h.getFails("r/obj", 10001, 10, sm.ObjErrInvalid)
}

// CreateOnly refuses an existing name and leaves its bytes.
func testCreateOnly(h *harness) {
	d1 := h.put("c/seg", []byte("first"), true)
	d := h.do(sm.ObjectOp{Kind: sm.ObjPut, Name: "c/seg", Data: []byte("second writer"), CreateOnly: true})
	if d.Outcome != sm.OutcomeFailed || d.Err != sm.ObjErrExists {
		h.t.Fatalf("objtest: CreateOnly put of an existing name: %v %v (%s), want failed %v", d.Outcome, d.Err, d.Reason, sm.ObjErrExists)
	}
	h.getEq("c/seg", 0, 0, []byte("first"))
	objs := h.listAll("c/", 0)
	if len(objs) != 1 || objs[0].Generation != d1.Generation || objs[0].Size != 5 {
		h.t.Fatalf("objtest: after a refused CreateOnly put, list shows %+v, want one object of 5 bytes at generation %d", objs, d1.Generation)
	}
	// After a delete the name can be created again.
	h.del("c/seg", sm.ObjErrNone)
	h.put("c/seg", []byte("third"), true)
	h.getEq("c/seg", 0, 0, []byte("third"))
}

// A plain put replaces an object whole; every write of a name has a higher
// generation than the one before.
func testOverwrite(h *harness) {
	gen := int64(0)
	for i := range 4 {
		body := bytes.Repeat([]byte{byte('a' + i)}, 100*(4-i))
		d := h.put("o/x", body, i == 0)
		if d.Generation <= gen {
			h.t.Fatalf("objtest: write %d of o/x has generation %d, not above the previous %d", i, d.Generation, gen)
		}
		gen = d.Generation
		h.getEq("o/x", 0, 0, body)
		objs := h.listAll("o/", 0)
		if len(objs) != 1 || objs[0].Generation != gen || objs[0].Size != int64(len(body)) {
			h.t.Fatalf("objtest: list after write %d: %+v, want o/x of %d bytes at generation %d", i, objs, len(body), gen)
		}
	}
	// A name re-created after a delete also gets a higher generation.
	h.del("o/x", sm.ObjErrNone)
	if d := h.put("o/x", []byte("again"), true); d.Generation <= gen {
		h.t.Fatalf("objtest: o/x re-created with generation %d, not above %d", d.Generation, gen)
	}
}

// Every get and list issued after a put or delete completed sees it.
func testAfterWrite(h *harness) {
	for i := range 12 {
		name := fmt.Sprintf("w/%02d", i)
		h.put(name, []byte(name), true)
		h.getEq(name, 0, 0, []byte(name))
		objs := h.listAll("w/", 0)
		if len(objs) != i+1 || objs[i].Name != name {
			h.t.Fatalf("objtest: list right after putting %s: %v", name, names(objs))
		}
	}
	for i := range 12 {
		name := fmt.Sprintf("w/%02d", i)
		h.del(name, sm.ObjErrNone)
		h.getFails(name, 0, 0, sm.ObjErrNotFound)
		objs := h.listAll("w/", 0)
		if len(objs) != 11-i || slices.ContainsFunc(objs, func(o sm.ObjectInfo) bool { return o.Name == name }) {
			h.t.Fatalf("objtest: list right after deleting %s: %v", name, names(objs))
		}
	}
}

// Lists are in byte order of full names, across "directories": "x-y" sorts
// before "x/1" ('-' < '/') and "x/1" before "x0". Prefix need not end at a
// slash; After is exclusive; Limit bounds a page and More says whether
// another follows.
func testList(h *harness) {
	all := []string{"l/p/x-y", "l/p/x/1", "l/p/x/2/deep", "l/p/x0", "l/p/xa", "l/p/y", "l/q", "l/p.z", "m"}
	for i, n := range all {
		h.put(n, bytes.Repeat([]byte{'k'}, i+1), i%2 == 0)
	}
	want := slices.Clone(all)
	slices.Sort(want)
	if got := names(h.listAll("", 0)); !slices.Equal(got, want) {
		h.t.Fatalf("objtest: list of everything: %q, want %q", got, want)
	}
	byName := map[string]int{}
	for i, n := range all {
		byName[n] = i + 1
	}
	for _, o := range h.listAll("", 0) {
		if o.Size != int64(byName[o.Name]) || o.Generation <= 0 {
			h.t.Fatalf("objtest: listed %+v, want size %d and a positive generation", o, byName[o.Name])
		}
	}
	for _, c := range []struct {
		prefix string
		want   []string
	}{
		{"l/p/x", []string{"l/p/x-y", "l/p/x/1", "l/p/x/2/deep", "l/p/x0", "l/p/xa"}},
		{"l/p/x/", []string{"l/p/x/1", "l/p/x/2/deep"}},
		{"l/p", []string{"l/p.z", "l/p/x-y", "l/p/x/1", "l/p/x/2/deep", "l/p/x0", "l/p/xa", "l/p/y"}},
		{"l/p/x/2/deep", []string{"l/p/x/2/deep"}},
		{"l/p/z", nil},
		{"nothing/", nil},
	} {
		for _, limit := range []int{0, 1, 2, 100} {
			if got := names(h.listAll(c.prefix, limit)); !slices.Equal(got, c.want) {
				h.t.Fatalf("objtest: list of prefix %q in pages of %d: %q, want %q", c.prefix, limit, got, c.want)
			}
		}
	}
	// After is exclusive and need not name an object.
	d := h.list("l/p/", "l/p/x/1", 0)
	if got := names(d.Objects); !slices.Equal(got, []string{"l/p/x/2/deep", "l/p/x0", "l/p/xa", "l/p/y"}) || d.More {
		h.t.Fatalf("objtest: list of l/p/ after l/p/x/1: %q (more %v)", got, d.More)
	}
	d = h.list("l/p/", "l/p/x/", 0)
	if got := names(d.Objects); !slices.Equal(got, []string{"l/p/x/1", "l/p/x/2/deep", "l/p/x0", "l/p/xa", "l/p/y"}) {
		h.t.Fatalf("objtest: list of l/p/ after l/p/x/: %q", got)
	}
	d = h.list("l/", "zzz", 0)
	if len(d.Objects) != 0 || d.More {
		h.t.Fatalf("objtest: list after the last name: %q (more %v)", names(d.Objects), d.More)
	}
	// A page that stops before the last object says More.
	d = h.list("l/p/", "", 3)
	if got := names(d.Objects); !slices.Equal(got, []string{"l/p/x-y", "l/p/x/1", "l/p/x/2/deep"}) || !d.More {
		h.t.Fatalf("objtest: first page of 3 of l/p/: %q (more %v), want 3 names and more", got, d.More)
	}
}

// A delete removes the object; deleting a missing one is OK with
// ObjErrNotFound.
func testDelete(h *harness) {
	h.put("d/a", []byte("a"), true)
	h.put("d/b", []byte("b"), true)
	h.del("d/a", sm.ObjErrNone)
	h.getFails("d/a", 0, 0, sm.ObjErrNotFound)
	h.getEq("d/b", 0, 0, []byte("b"))
	h.del("d/a", sm.ObjErrNotFound)
	h.del("d/never", sm.ObjErrNotFound)
	if got := names(h.listAll("d/", 0)); !slices.Equal(got, []string{"d/b"}) {
		h.t.Fatalf("objtest: list after deleting d/a: %q", got)
	}
}

// A put from a SegmentSource stores exactly the segment range followed by
// Data: a range from the segment's start, one from its middle, and one
// without Data.
func testSourcePut(h *harness) {
	seg, frames := h.segment(100, 6)
	h.s.Plant(h.st, tpA, 100, seg)
	trailer := []byte("index trailer")
	whole := h.sourceOp("s/whole", srcOf(frames, 0, 6), trailer)
	d := h.do(whole)
	h.okDone(d, whole)
	if d.Size != int64(len(seg)+len(trailer)) {
		h.t.Fatalf("objtest: source put completed with size %d, want %d", d.Size, len(seg)+len(trailer))
	}
	h.getEq("s/whole", 0, 0, slices.Concat(seg, trailer))
	mid := h.sourceOp("s/mid", srcOf(frames, 2, 5), trailer)
	h.okDone(h.do(mid), mid)
	h.getEq("s/mid", 0, 0, slices.Concat(seg[frames[2].pos:frames[5].pos], trailer))
	bare := h.sourceOp("s/bare", srcOf(frames, 5, 6), nil)
	h.okDone(h.do(bare), bare)
	h.getEq("s/bare", 0, 0, seg[frames[5].pos:])
}

// A source whose bytes fail a checksum, skip or repeat an offset, or do not
// hold exactly [Base, Next) fails ObjErrSourceCorrupt and creates nothing.
func testSourceCorrupt(h *harness) {
	seg, frames := h.segment(0, 5)
	h.s.Plant(h.st, tpA, 0, seg)
	bad := func(name string, src sm.SegmentSource, why string) {
		h.t.Helper()
		op := h.sourceOp(name, src, []byte("trailer"))
		d := h.do(op)
		if d.Outcome != sm.OutcomeFailed || d.Err != sm.ObjErrSourceCorrupt || d.Reason == "" {
			h.t.Fatalf("objtest: put from a source that %s: %v %v (%q), want failed %v with a reason", why, d.Outcome, d.Err, d.Reason, sm.ObjErrSourceCorrupt)
		}
		h.getFails(name, 0, 0, sm.ObjErrNotFound)
	}
	src := srcOf(frames, 0, 5)
	s := src
	s.Next++
	bad("x/next-high", s, "ends before Next")
	s = src
	s.Next--
	bad("x/next-low", s, "runs past Next")
	s = src
	s.Base++
	bad("x/base", s, "does not start at Base")
	s = src
	s.Len -= 3
	bad("x/short", s, "ends inside a frame")
	s = srcOf(frames, 1, 4)
	s.Pos++
	bad("x/misaligned", s, "does not start at a frame")
	// A flipped byte deep in the third frame fails its CRC32C.
	broken := slices.Clone(seg)
	broken[frames[2].pos+frames[2].len-2] ^= 0x40
	h.s.Plant(h.st, tpA, 0, broken)
	bad("x/crc", src, "fails a checksum")
	// A frame whose offsets skip: frames 0, 1 and 3 back to back.
	gap := slices.Concat(seg[:frames[2].pos], seg[frames[3].pos:frames[4].pos])
	h.s.Plant(h.st, tpA, 0, gap)
	s = sm.SegmentSource{TP: tpA, TopicID: topicID, Segment: 0, Pos: 0, Len: int64(len(gap)), Base: 0, Next: frames[4].base}
	bad("x/gap", s, "skips offsets")
	if objs := h.listAll("x/", 0); len(objs) != 0 {
		h.t.Fatalf("objtest: failed source puts created %q", names(objs))
	}
	// The store is still fine for good sources.
	h.s.Plant(h.st, tpA, 0, seg)
	op := h.sourceOp("x/good", src, nil)
	h.okDone(h.do(op), op)
}

// A source segment no longer on disk fails ObjErrSourceGone, even when the
// name exists, and creates nothing.
func testSourceGone(h *harness) {
	seg, frames := h.segment(50, 3)
	h.s.Plant(h.st, tpA, 50, seg)
	h.s.Unplant(h.st, tpA, 50)
	gone := func(name string, src sm.SegmentSource) {
		h.t.Helper()
		d := h.do(h.sourceOp(name, src, []byte("t")))
		if d.Outcome != sm.OutcomeFailed || d.Err != sm.ObjErrSourceGone {
			h.t.Fatalf("objtest: put from a missing segment: %v %v (%q), want failed %v", d.Outcome, d.Err, d.Reason, sm.ObjErrSourceGone)
		}
		h.getFails(name, 0, 0, sm.ObjErrNotFound)
	}
	gone("g/trimmed", srcOf(frames, 0, 3))
	other := srcOf(frames, 0, 3)
	other.TP.Partition = 9
	gone("g/never", other)
}

// Many ops started in one batch each complete exactly once with their own
// ID; a second batch started while the first completes does too.
func testMany(h *harness) {
	var ops []sm.ObjectOp
	for i := range 40 {
		name := fmt.Sprintf("n/%03d", i)
		ops = append(ops, sm.ObjectOp{Kind: sm.ObjPut, Name: name, Data: []byte(name), CreateOnly: true})
	}
	tr := h.start(ops)
	h.await(tr, 10)
	var more []sm.ObjectOp
	for i := range 10 {
		more = append(more, sm.ObjectOp{Kind: sm.ObjGet, Name: fmt.Sprintf("n/%03d", 100+i)},
			sm.ObjectOp{Kind: sm.ObjList, Prefix: "n/"})
	}
	tr2 := h.start(more)
	h.await(tr, -1)
	h.await(tr2, -1)
	for _, op := range ops {
		h.okDone(tr.done[op.ID], op)
	}
	for _, op := range more {
		d := tr2.done[op.ID]
		if op.Kind == sm.ObjGet && (d.Outcome != sm.OutcomeFailed || d.Err != sm.ObjErrNotFound) {
			h.t.Fatalf("objtest: get of a missing object: %v %v", d.Outcome, d.Err)
		}
		if op.Kind == sm.ObjList && d.Outcome != sm.OutcomeOK {
			h.t.Fatalf("objtest: list: %v %v: %s", d.Outcome, d.Err, d.Reason)
		}
	}
	var want []string
	for _, op := range ops {
		want = append(want, op.Name)
	}
	if got := names(h.listAll("n/", 7)); !slices.Equal(got, want) {
		h.t.Fatalf("objtest: after 40 puts, list shows %q", got)
	}
	// Deletes and gets in one batch.
	var mixed []sm.ObjectOp
	for i := range 20 {
		mixed = append(mixed, sm.ObjectOp{Kind: sm.ObjDelete, Name: fmt.Sprintf("n/%03d", 2*i)},
			sm.ObjectOp{Kind: sm.ObjGet, Name: fmt.Sprintf("n/%03d", 2*i+1)})
	}
	tr3 := h.start(mixed)
	h.await(tr3, -1)
	for _, op := range mixed {
		d := tr3.done[op.ID]
		if op.Kind == sm.ObjGet {
			h.okDone(d, op)
			if !bytes.Equal(d.Data, []byte(op.Name)) {
				h.t.Fatalf("objtest: get of %s returned %q", op.Name, d.Data)
			}
			continue
		}
		if d.Outcome != sm.OutcomeOK || d.Err != sm.ObjErrNone {
			h.t.Fatalf("objtest: delete of %s: %v %v (%s)", op.Name, d.Outcome, d.Err, d.Reason)
		}
	}
	if got := h.listAll("n/", 0); len(got) != 20 {
		h.t.Fatalf("objtest: after 20 deletes, %d objects left: %q", len(got), names(got))
	}
}

// ---- harness ---------------------------------------------------------------

type harness struct {
	t      tb // where the suite's own checks fail
	st     *testing.T
	s      Subject
	nextID sm.EffectID
	// trackers are the batches with ops outstanding.
	trackers []*tracker
}

var topicID = sm.TopicID{0x0b, 0x1e, 0xc7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}

// tracker follows outstanding ops: each completes once, with its own ID.
type tracker struct {
	ops  map[sm.EffectID]sm.ObjectOp
	done map[sm.EffectID]sm.ObjectDone
	left int
}

// start gives ops fresh IDs and starts them in one batch.
func (h *harness) start(ops []sm.ObjectOp) *tracker {
	tr := &tracker{ops: map[sm.EffectID]sm.ObjectOp{}, done: map[sm.EffectID]sm.ObjectDone{}}
	for i := range ops {
		h.nextID++
		ops[i].ID = h.nextID
		tr.ops[ops[i].ID] = ops[i]
		tr.left++
	}
	h.trackers = append(h.trackers, tr)
	h.s.StartObject(slices.Clone(ops))
	return tr
}

// await takes n completions of tr's ops (all outstanding ones if n < 0).
// A completion of another outstanding tracker's op goes to that tracker.
func (h *harness) await(tr *tracker, n int) {
	h.t.Helper()
	if n < 0 {
		n = tr.left
	}
	for n > 0 {
		d := h.s.Next(h.st)
		owner := h.owner(d.ID)
		if owner == nil {
			h.t.Fatalf("objtest: completion of op %d, which is not outstanding (%v %v %q)", d.ID, d.Outcome, d.Err, d.Reason)
		}
		h.take(owner, d)
		if owner == tr {
			n--
		}
	}
	if tr.left == 0 {
		h.trackers = slices.DeleteFunc(h.trackers, func(x *tracker) bool { return x == tr })
	}
}

// owner is the outstanding tracker that started op id.
func (h *harness) owner(id sm.EffectID) *tracker {
	for _, tr := range h.trackers {
		if _, ok := tr.ops[id]; ok {
			return tr
		}
	}
	return nil
}

func (h *harness) take(tr *tracker, d sm.ObjectDone) {
	h.t.Helper()
	if _, dup := tr.done[d.ID]; dup {
		h.t.Fatalf("objtest: op %d completed twice (%v, then %v)", d.ID, tr.done[d.ID].Outcome, d.Outcome)
	}
	tr.done[d.ID] = d
	tr.left--
}

// do starts one op and waits for its completion.
func (h *harness) do(op sm.ObjectOp) sm.ObjectDone {
	h.t.Helper()
	ops := []sm.ObjectOp{op}
	tr := h.start(ops)
	h.await(tr, -1)
	return tr.done[ops[0].ID]
}

func (h *harness) okDone(d sm.ObjectDone, op sm.ObjectOp) {
	h.t.Helper()
	if d.Outcome != sm.OutcomeOK || d.Err != sm.ObjErrNone {
		h.t.Fatalf("objtest: %v %s: %v %v: %s", op.Kind, op.Name, d.Outcome, d.Err, d.Reason)
	}
}

func (h *harness) put(name string, data []byte, createOnly bool) sm.ObjectDone {
	h.t.Helper()
	op := sm.ObjectOp{Kind: sm.ObjPut, Name: name, Data: data, CreateOnly: createOnly}
	d := h.do(op)
	h.okDone(d, op)
	if d.Generation <= 0 || d.Size != int64(len(data)) {
		h.t.Fatalf("objtest: put of %s (%d bytes) completed with size %d, generation %d", name, len(data), d.Size, d.Generation)
	}
	return d
}

func (h *harness) del(name string, want sm.ObjErr) {
	h.t.Helper()
	d := h.do(sm.ObjectOp{Kind: sm.ObjDelete, Name: name})
	if d.Outcome != sm.OutcomeOK || d.Err != want {
		h.t.Fatalf("objtest: delete of %s: %v %v (%s), want ok with %v", name, d.Outcome, d.Err, d.Reason, want)
	}
}

func (h *harness) getEq(name string, off, n int64, want []byte) {
	h.t.Helper()
	op := sm.ObjectOp{Kind: sm.ObjGet, Name: name, Off: off, Len: n}
	d := h.do(op)
	h.okDone(d, op)
	if !bytes.Equal(d.Data, want) {
		h.t.Fatalf("objtest: get of %s from %d len %d: got %d bytes, want %d", name, off, n, len(d.Data), len(want))
	}
}

func (h *harness) getFails(name string, off, n int64, want sm.ObjErr) {
	h.t.Helper()
	d := h.do(sm.ObjectOp{Kind: sm.ObjGet, Name: name, Off: off, Len: n})
	if d.Outcome != sm.OutcomeFailed || d.Err != want || len(d.Data) != 0 {
		h.t.Fatalf("objtest: get of %s from %d len %d: %v %v (%d bytes, %q), want failed %v", name, off, n, d.Outcome, d.Err, len(d.Data), d.Reason, want)
	}
}

func (h *harness) list(prefix, after string, limit int) sm.ObjectDone {
	h.t.Helper()
	op := sm.ObjectOp{Kind: sm.ObjList, Prefix: prefix, After: after, Limit: limit}
	d := h.do(op)
	h.okDone(d, op)
	if limit > 0 && len(d.Objects) > limit {
		h.t.Fatalf("objtest: list of %q with limit %d returned %d objects", prefix, limit, len(d.Objects))
	}
	prev := after
	for _, o := range d.Objects {
		if !strings.HasPrefix(o.Name, prefix) || o.Name <= prev {
			h.t.Fatalf("objtest: list of %q after %q: %q out of order or outside the prefix: %q", prefix, after, o.Name, names(d.Objects))
		}
		prev = o.Name
	}
	return d
}

// listAll pages through prefix with pages of limit.
func (h *harness) listAll(prefix string, limit int) []sm.ObjectInfo {
	h.t.Helper()
	var out []sm.ObjectInfo
	after := ""
	for page := 0; ; page++ {
		if page > 1000 {
			h.t.Fatalf("objtest: list of %q never ends", prefix)
		}
		d := h.list(prefix, after, limit)
		out = append(out, d.Objects...)
		if !d.More {
			return out
		}
		if len(d.Objects) == 0 {
			h.t.Fatalf("objtest: list of %q after %q: an empty page says more follow", prefix, after)
		}
		after = d.Objects[len(d.Objects)-1].Name
	}
}

func names(objs []sm.ObjectInfo) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.Name)
	}
	return out
}

// frameAt is one frame of a planted segment.
type frameAt struct {
	pos, len int
	base     sm.Offset
	next     sm.Offset
}

// segment encodes n batches from base (1 to 3 records each) as one
// segment's bytes.
func (h *harness) segment(base sm.Offset, n int) ([]byte, []frameAt) {
	var data []byte
	var frames []frameAt
	off := base
	for i := range n {
		b := sm.Batch{BaseOffset: off, Epoch: 3, Timestamp: int64(1_700_000_000_000 + i)}
		for r := range 1 + i%3 {
			b.Records = append(b.Records, sm.Record{Key: fmt.Appendf(nil, "k%d", off+sm.Offset(r)), Value: bytes.Repeat([]byte{byte(i)}, 200+50*r)})
		}
		b.Seal()
		pos := len(data)
		data = sm.EncodeBatch(data, &b)
		frames = append(frames, frameAt{pos: pos, len: len(data) - pos, base: off, next: b.NextOffset()})
		off = b.NextOffset()
	}
	// a sentinel past the last frame, for ranges ending there
	frames = append(frames, frameAt{pos: len(data), base: off, next: off})
	return data, frames
}

// srcOf is the source of frames [i, j) of the segment at frames[0].base.
func srcOf(frames []frameAt, i, j int) sm.SegmentSource {
	return sm.SegmentSource{TP: tpA, TopicID: topicID, Segment: frames[0].base,
		Pos: int64(frames[i].pos), Len: int64(frames[j].pos - frames[i].pos), Base: frames[i].base, Next: frames[j].base}
}

func (h *harness) sourceOp(name string, src sm.SegmentSource, data []byte) sm.ObjectOp {
	return sm.ObjectOp{Kind: sm.ObjPut, Name: name, Source: &src, Data: data, CreateOnly: true}
}
