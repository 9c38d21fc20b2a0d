// Package logtest is the contract test every partition-log store runs: the
// production WAL (io/wal) and the simulator's disk check the same promises
// of runtime.LogStore, runtime.LogReader and recovery with one suite, so the
// model the simulator tests the state machines against cannot drift from the
// store production runs.
//
// A store under test implements Store; its test calls
//
//	logtest.Run(t, func(t *testing.T) logtest.Store { return newMyStore(t) })
//
// and every subtest gets a fresh, empty store. The suite checks:
//
//   - ops on one log complete exactly once, in issue order, and those of
//     different logs complete independently;
//   - a read sees every append completed before it was issued, returns whole
//     frames from its position up to MaxBytes (at least one), none past the
//     segment's end;
//   - reads of segments trimmed, truncated away, reset or deleted fail;
//   - appends that roll (LogOp.Roll), LogTrim, LogReset and LogTruncate
//     change the segments as sm/effects.go says, and so does the manifest after a restart: it equals
//     the one sm.IndexBuilder computes from what was appended (bases,
//     sizes, sealed flags, index entries, epochs, timestamps);
//   - a log records the topic ID it was created with, an op naming another
//     one fails and changes nothing, and a LogDelete lets the name be created
//     again with a new ID.
package logtest

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/weirmq/weir/runtime"
	"github.com/weirmq/weir/sm"
)

// Store is a partition-log store under test.
type Store interface {
	runtime.LogStore
	runtime.LogReader
	// Next returns the next completion, an sm.LogDone or an sm.LogReadDone,
	// of the ops and reads started so far: it waits for one (a real store)
	// or drives the store until one is ready (a simulated one). The suite
	// calls it only while something is outstanding; a store that has
	// nothing to complete within a generous deadline fails t.
	Next(t *testing.T) sm.Event
	// Restart stops the store as a clean shutdown does, once every started
	// op and read has completed, and opens it again on the same disk. It
	// returns the manifests recovery found, one per log, as sm.Durable will
	// carry them, and fails t if recovery reported damage or refused.
	Restart(t *testing.T) map[sm.TopicPartition]sm.LogManifest
}

// Run runs the contract suite, each subtest against a new store.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runCase(t, t, newStore(t), c.run)
		})
	}
}

// tb is the part of testing.TB the suite's checks use; the suite's own test
// runs it with a recorder to prove that it fails broken stores.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

func runCase(check tb, t *testing.T, s Store, run func(h *harness)) {
	run(&harness{t: check, st: t, s: s, model: newModel(), reads: map[sm.EffectID]sm.LogReadDone{}})
}

var cases = []struct {
	name string
	run  func(h *harness)
}{
	{"AppendThenRead", testAppendThenRead},
	{"OrderPerLog", testOrderPerLog},
	{"RollAndManifest", testRollAndManifest},
	{"Trim", testTrim},
	{"TruncateAcrossSegments", testTruncate},
	{"Reset", testReset},
	{"TopicID", testTopicID},
	{"Delete", testDelete},
}

var (
	tpA = sm.TopicPartition{Topic: "logtest-a", Partition: 0}
	tpB = sm.TopicPartition{Topic: "logtest-b", Partition: 3}
	idA = sm.TopicID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	idB = sm.TopicID{0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf}
)

// A read sees completed appends: whole frames from a frame start, up to
// MaxBytes but at least one, and nothing at the segment's end.
func testAppendThenRead(h *harness) {
	f1 := h.frame(tpA, 0, 1, 1000, 3, 100)
	f2 := h.frame(tpA, 3, 1, 1001, 2, 5000)
	f3 := h.frame(tpA, 5, 2, 1002, 1, 10)
	h.ok(h.op(sm.LogOp{Kind: sm.LogAppend, TP: tpA, TopicID: idA, Data: f1, Sync: true}))
	h.ok(h.op(sm.LogOp{Kind: sm.LogAppend, TP: tpA, TopicID: idA, Data: f2}))
	h.ok(h.op(sm.LogOp{Kind: sm.LogAppend, TP: tpA, TopicID: idA, Data: f3, Sync: true}))
	all := slices.Concat(f1, f2, f3)
	h.readEq(tpA, 0, 0, len(all), all)
	h.readEq(tpA, 0, 0, 1<<20, all)
	h.readEq(tpA, 0, 0, 1, f1) // at least one frame
	h.readEq(tpA, 0, 0, len(f1)+len(f2)-1, f1)
	h.readEq(tpA, 0, int64(len(f1)), len(f2)+len(f3), slices.Concat(f2, f3))
	h.readEq(tpA, 0, int64(len(all)), 1<<20, nil) // the segment's end
	h.checkManifests(h.s.Restart(h.st))
	h.readEq(tpA, 0, 0, 1<<20, all)
}

// Ops on one log complete in issue order, each exactly once, whatever the
// other logs do; one StartLog may carry many logs' ops.
func testOrderPerLog(h *harness) {
	var ops []sm.LogOp
	next := map[sm.TopicPartition]sm.Offset{}
	for i := range 40 {
		tp := tpA
		if i%3 == 1 {
			tp = tpB
		}
		var op sm.LogOp
		switch i {
		case 31:
			// Cuts tpB's last batch, of one record (i = 28).
			op = sm.LogOp{Kind: sm.LogTruncate, TP: tpB, Offset: next[tpB] - 1}
			next[tpB]--
		default:
			op = sm.LogOp{Kind: sm.LogAppend, TP: tp, Data: h.frame(tp, next[tp], 1, int64(i), 1+i%4, 64), Sync: i%2 == 0, Roll: i == 20}
			next[tp] += sm.Offset(1 + i%4)
		}
		ops = append(ops, h.issue(op))
	}
	tr := newTracker()
	for _, op := range ops {
		tr.addOp(op)
	}
	h.await(tr, 15)
	for i := range 10 { // more ops arrive while the first ones complete
		op := h.issue(sm.LogOp{Kind: sm.LogAppend, TP: tpB, Data: h.frame(tpB, next[tpB], 1, int64(100+i), 1, 64), Sync: true})
		next[tpB]++
		tr.addOp(op)
		ops = append(ops, op)
	}
	h.await(tr, -1)
	for _, op := range ops {
		h.ok(tr.done[op.ID])
	}
	h.checkManifests(h.s.Restart(h.st))
}

// Rolls seal segments; the manifest after a restart is exactly what
// sm.IndexBuilder computes from the appends, with several index entries
// per segment, epochs changing within and across segments, and timestamps
// that go back (MaxTimestamp is a running maximum).
func testRollAndManifest(h *harness) {
	off := sm.Offset(0)
	epoch := sm.Epoch(1)
	ts := int64(1_700_000_000_000)
	for seg := range 3 {
		for i := range 14 {
			if i == 5 || i == 11 {
				epoch++
			}
			ts += int64(7 - (i%5)*3)
			n := 1 + (i+seg)%3
			h.ok(h.op(sm.LogOp{Kind: sm.LogAppend, TP: tpA, TopicID: idA, Data: h.frame(tpA, off, epoch, ts, n, 2500+300*i),
				Sync: i%4 == 0, Roll: seg > 0 && i == 0}))
			off += sm.Offset(n)
		}
	}
	h.checkSegments(tpA)
	got := h.s.Restart(h.st)
	h.checkManifests(got)
	m := got[tpA]
	if len(m.Segments) != 3 || len(m.Segments[0].Entries) < 2 || len(m.Segments[0].Epochs) < 2 {
		h.t.Fatalf("logtest: manifest %+v: want 3 segments, several index entries and epochs in the first", m)
	}
	h.checkSegments(tpA)
	// Appends continue the active segment after the restart; a roll then
	// seals it with the index the builder resumed.
	h.ok(h.op(sm.LogOp{Kind: sm.LogAppend, TP: tpA, Data: h.frame(tpA, off, epoch, ts+5, 2, 40000), Sync: true}))
	h.ok(h.op(sm.LogOp{Kind: sm.LogAppend, TP: tpA, Data: h.frame(tpA, off+2, epoch, ts+6, 1, 100), Sync: true, Roll: true}))
	h.checkManifests(h.s.Restart(h.st))
	h.checkSegments(tpA)
}

// LogTrim deletes whole sealed segments from the front; their reads fail.
func testTrim(h *harness) {
	bases := h.segments(tpA, idA, 4, 3)
	h.ok(h.op(sm.LogOp{Kind: sm.LogTrim, TP: tpA, TopicID: idA, Offset: bases[2]}))
	h.readFails(tpA, bases[0])
	h.readFails(tpA, bases[1])
	h.checkSegments(tpA)
	got := h.s.Restart(h.st)
	h.checkManifests(got)
	if m := got[tpA]; m.Start() != bases[2] {
		h.t.Fatalf("logtest: log start %d after trimming to %d", m.Start(), bases[2])
	}
	h.readFails(tpA, bases[0])
	// Trimming to the active segment's base leaves it alone.
	h.ok(h.op(sm.LogOp{Kind: sm.LogTrim, TP: tpA, Offset: bases[3]}))
	h.readFails(tpA, bases[2])
	h.checkSegments(tpA)
	h.checkManifests(h.s.Restart(h.st))
}

// LogTruncate removes the segments after the one holding Offset and cuts
// that one, unsealing it; truncating to a base leaves that segment empty.
func testTruncate(h *harness) {
	bases := h.segments(tpA, idA, 3, 4) // batches of 1 record each
	// Beyond the end: nothing changes.
	h.ok(h.op(sm.LogOp{Kind: sm.LogTruncate, TP: tpA, Offset: h.model.end(tpA) + 10}))
	mid := bases[1] + 2
	h.ok(h.op(sm.LogOp{Kind: sm.LogTruncate, TP: tpA, Offset: mid}))
	h.readFails(tpA, bases[2])
	h.checkSegments(tpA)
	got := h.s.Restart(h.st)
	h.checkManifests(got)
	if m := got[tpA]; len(m.Segments) != 2 || m.Segments[1].Sealed || m.End() != mid {
		h.t.Fatalf("logtest: after truncating to %d: %+v", mid, m)
	}
	// The cut segment is active again: appends continue it.
	h.ok(h.op(sm.LogOp{Kind: sm.LogAppend, TP: tpA, Data: h.frame(tpA, mid, 3, 99, 1, 300), Sync: true}))
	h.checkSegments(tpA)
	// Truncating to a segment's base leaves it empty.
	h.ok(h.op(sm.LogOp{Kind: sm.LogTruncate, TP: tpA, Offset: bases[1]}))
	h.readEq(tpA, bases[1], 0, 1<<20, nil)
	got = h.s.Restart(h.st)
	h.checkManifests(got)
	if m := got[tpA]; len(m.Segments) != 2 || m.Segments[1].Bytes != 0 || m.Segments[1].Base != bases[1] {
		h.t.Fatalf("logtest: after truncating to base %d: %+v", bases[1], m)
	}
	h.ok(h.op(sm.LogOp{Kind: sm.LogAppend, TP: tpA, Data: h.frame(tpA, bases[1], 3, 99, 2, 300), Sync: true}))
	// Truncating into the first segment, then to the log start.
	h.ok(h.op(sm.LogOp{Kind: sm.LogTruncate, TP: tpA, Offset: 1}))
	h.readFails(tpA, bases[1])
	h.checkManifests(h.s.Restart(h.st))
	h.ok(h.op(sm.LogOp{Kind: sm.LogTruncate, TP: tpA, Offset: 0}))
	h.checkManifests(h.s.Restart(h.st))
	h.ok(h.op(sm.LogOp{Kind: sm.LogAppend, TP: tpA, Data: h.frame(tpA, 0, 4, 5, 1, 10), Sync: true}))
	h.checkSegments(tpA)
	h.checkManifests(h.s.Restart(h.st))
}

// LogReset removes every segment and starts the log empty at Offset; with
// a TopicID it creates a log that does not exist.
func testReset(h *harness) {
	bases := h.segments(tpA, idA, 2, 2)
	h.ok(h.op(sm.LogOp{Kind: sm.LogReset, TP: tpA, TopicID: idA, Offset: 1000}))
	h.readFails(tpA, bases[0])
	h.readFails(tpA, bases[1])
	h.readEq(tpA, 1000, 0, 1<<20, nil)
	h.ok(h.op(sm.LogOp{Kind: sm.LogAppend, TP: tpA, Data: h.frame(tpA, 1000, 7, 1, 3, 100), Sync: true}))
	h.ok(h.op(sm.LogOp{Kind: sm.LogReset, TP: tpB, TopicID: idB, Offset: 77}))
	got := h.s.Restart(h.st)
	h.checkManifests(got)
	if m := got[tpB]; m.Start() != 77 || m.End() != 77 || m.TopicID != idB {
		h.t.Fatalf("logtest: reset created %+v, want an empty log at 77 of topic %v", m, idB)
	}
	h.checkSegments(tpA)
	h.ok(h.op(sm.LogOp{Kind: sm.LogAppend, TP: tpB, Data: h.frame(tpB, 77, 1, 1, 1, 100), Sync: true}))
	// A reset to an offset below the log end starts over too.
	h.ok(h.op(sm.LogOp{Kind: sm.LogReset, TP: tpB, Offset: 5}))
	h.checkManifests(h.s.Restart(h.st))
}

// A log keeps the topic ID it was created with: an op naming another one
// fails and writes nothing; ops naming none are the log's; after a
// LogDelete the name can be created again with a new ID.
func testTopicID(h *harness) {
	h.ok(h.op(sm.LogOp{Kind: sm.LogAppend, TP: tpA, TopicID: idA, Data: h.frame(tpA, 0, 1, 1, 2, 100), Sync: true}))
	for _, op := range []sm.LogOp{
		{Kind: sm.LogAppend, TP: tpA, TopicID: idB, Data: h.frame(tpA, 2, 1, 2, 1, 100), Sync: true},
		{Kind: sm.LogTruncate, TP: tpA, TopicID: idB, Offset: 0},
		{Kind: sm.LogAppend, TP: tpA, TopicID: idB, Data: h.frame(tpA, 2, 1, 2, 1, 100), Sync: true, Roll: true},
		{Kind: sm.LogReset, TP: tpA, TopicID: idB, Offset: 50},
	} {
		if d := h.op(op); d.Outcome == sm.OutcomeOK {
			h.t.Fatalf("logtest: %v naming topic %v completed ok on a log of topic %v", op.Kind, idB, idA)
		}
		h.model.undo(op) // nothing changed
	}
	got := h.s.Restart(h.st)
	h.checkManifests(got)
	if got[tpA].TopicID != idA {
		h.t.Fatalf("logtest: topic ID %v, want %v", got[tpA].TopicID, idA)
	}
	h.ok(h.op(sm.LogOp{Kind: sm.LogAppend, TP: tpA, Data: h.frame(tpA, 2, 1, 3, 1, 100), Sync: true}))
	h.ok(h.op(sm.LogOp{Kind: sm.LogDelete, TP: tpA, TopicID: idA}))
	h.ok(h.op(sm.LogOp{Kind: sm.LogAppend, TP: tpA, TopicID: idB, Data: h.frame(tpA, 0, 1, 4, 1, 100), Sync: true}))
	got = h.s.Restart(h.st)
	h.checkManifests(got)
	if got[tpA].TopicID != idB {
		h.t.Fatalf("logtest: re-created log has topic ID %v, want %v", got[tpA].TopicID, idB)
	}
}

// LogDelete removes the log: its reads fail and recovery does not find it.
func testDelete(h *harness) {
	bases := h.segments(tpA, idA, 2, 2)
	h.segments(tpB, idB, 1, 2)
	h.ok(h.op(sm.LogOp{Kind: sm.LogDelete, TP: tpA}))
	h.readFails(tpA, bases[0])
	h.readFails(tpA, bases[1])
	got := h.s.Restart(h.st)
	h.checkManifests(got)
	if _, ok := got[tpA]; ok {
		h.t.Fatalf("logtest: a deleted log was recovered")
	}
	h.checkSegments(tpB)
}

// ---- harness ---------------------------------------------------------------

type harness struct {
	t      tb // where the suite's own checks fail
	st     *testing.T
	s      Store
	model  *model
	nextID sm.EffectID
	reads  map[sm.EffectID]sm.LogReadDone
}

// frame encodes one batch of n records of size bytes each.
func (h *harness) frame(tp sm.TopicPartition, base sm.Offset, epoch sm.Epoch, ts int64, n, size int) []byte {
	b := sm.Batch{BaseOffset: base, Epoch: epoch, Timestamp: ts}
	for i := range n {
		v := bytes.Repeat([]byte{byte(base) + byte(i)}, size)
		b.Records = append(b.Records, sm.Record{Key: fmt.Appendf(nil, "%s/%d@%d", tp.Topic, tp.Partition, base+sm.Offset(i)), Value: v})
	}
	if base%3 == 1 {
		// Every third batch in format 2 (records with headers), so stores
		// walk both formats' headers (sm.FrameCount) the same way.
		for i := range b.Records {
			b.Records[i].Headers = []sm.Header{{Key: "i", Value: []byte{byte(i)}}}
		}
		b = sm.NewBatchV2(b.Records)
		b.BaseOffset, b.Epoch, b.Timestamp = base, epoch, ts
	}
	b.Seal()
	return sm.EncodeBatch(nil, &b)
}

// issue gives op the next ID, starts it, and applies it to the model (an op
// the suite expects to fail is undone with model.undo).
func (h *harness) issue(op sm.LogOp) sm.LogOp {
	h.nextID++
	op.ID = h.nextID
	h.model.apply(h.t, op)
	h.s.StartLog([]sm.LogOp{op})
	return op
}

// op issues one op and waits for its completion.
func (h *harness) op(op sm.LogOp) sm.LogDone {
	op = h.issue(op)
	return h.collect([]sm.LogOp{op}, nil)[0]
}

func (h *harness) ok(d sm.LogDone) {
	h.t.Helper()
	if d.Outcome != sm.OutcomeOK {
		h.t.Fatalf("logtest: op %d: %v: %s", d.ID, d.Outcome, d.Reason)
	}
}

// tracker follows outstanding ops and reads: each completes once, and each
// log's ops in issue order.
type tracker struct {
	tp    map[sm.EffectID]sm.TopicPartition
	order map[sm.TopicPartition][]sm.EffectID
	reads map[sm.EffectID]bool
	done  map[sm.EffectID]sm.LogDone
	left  int
}

func newTracker() *tracker {
	return &tracker{tp: map[sm.EffectID]sm.TopicPartition{}, order: map[sm.TopicPartition][]sm.EffectID{},
		reads: map[sm.EffectID]bool{}, done: map[sm.EffectID]sm.LogDone{}}
}

func (tr *tracker) addOp(op sm.LogOp) {
	tr.tp[op.ID] = op.TP
	tr.order[op.TP] = append(tr.order[op.TP], op.ID)
	tr.left++
}

func (tr *tracker) addRead(r sm.LogRead) {
	tr.reads[r.ID] = true
	tr.left++
}

// await takes n completions from the store (all outstanding ones if n < 0).
func (h *harness) await(tr *tracker, n int) {
	h.t.Helper()
	if n < 0 {
		n = tr.left
	}
	for ; n > 0; n-- {
		switch d := h.s.Next(h.st).(type) {
		case sm.LogDone:
			tp, ok := tr.tp[d.ID]
			if !ok {
				h.t.Fatalf("logtest: completion of op %d, which is not outstanding", d.ID)
			}
			if tr.order[tp][0] != d.ID {
				h.t.Fatalf("logtest: op %d on %v completed before op %d, issued earlier", d.ID, tp, tr.order[tp][0])
			}
			tr.order[tp] = tr.order[tp][1:]
			delete(tr.tp, d.ID)
			tr.done[d.ID] = d
		case sm.LogReadDone:
			if !tr.reads[d.ID] {
				h.t.Fatalf("logtest: completion of read %d, which is not outstanding", d.ID)
			}
			delete(tr.reads, d.ID)
			h.reads[d.ID] = d
		default:
			h.t.Fatalf("logtest: Next returned %T", d)
		}
		tr.left--
	}
}

// collect waits for the completions of ops and reads and returns the ops'
// completions in issue order (the reads' are in h.reads).
func (h *harness) collect(ops []sm.LogOp, reads []sm.LogRead) []sm.LogDone {
	h.t.Helper()
	tr := newTracker()
	for _, op := range ops {
		tr.addOp(op)
	}
	for _, r := range reads {
		tr.addRead(r)
	}
	h.await(tr, -1)
	out := make([]sm.LogDone, len(ops))
	for i, op := range ops {
		out[i] = tr.done[op.ID]
	}
	return out
}

// read issues one read and waits for it.
func (h *harness) read(tp sm.TopicPartition, seg sm.Offset, pos int64, maxBytes int) sm.LogReadDone {
	h.t.Helper()
	h.nextID++
	r := sm.LogRead{ID: h.nextID, TP: tp, Segment: seg, Pos: pos, MaxBytes: maxBytes}
	h.s.StartRead([]sm.LogRead{r})
	h.collect(nil, []sm.LogRead{r})
	d := h.reads[r.ID]
	delete(h.reads, r.ID)
	return d
}

func (h *harness) readEq(tp sm.TopicPartition, seg sm.Offset, pos int64, maxBytes int, want []byte) {
	h.t.Helper()
	d := h.read(tp, seg, pos, maxBytes)
	if d.Outcome != sm.OutcomeOK {
		h.t.Fatalf("logtest: read %v segment %d at byte %d: %v: %s", tp, seg, pos, d.Outcome, d.Reason)
	}
	if !bytes.Equal(d.Data, want) {
		h.t.Fatalf("logtest: read %v segment %d at byte %d max %d: got %d bytes, want %d", tp, seg, pos, maxBytes, len(d.Data), len(want))
	}
}

func (h *harness) readFails(tp sm.TopicPartition, seg sm.Offset) {
	h.t.Helper()
	if d := h.read(tp, seg, 0, 1<<20); d.Outcome != sm.OutcomeFailed || d.Reason == "" {
		h.t.Fatalf("logtest: read of %v segment %d, which is gone: %v (%d bytes, reason %q), want failed with a reason",
			tp, seg, d.Outcome, len(d.Data), d.Reason)
	}
}

// segments creates tp's log with n segments (n-1 sealed) of k one-record
// batches each, each segment's first append rolling, and returns their
// bases.
func (h *harness) segments(tp sm.TopicPartition, id sm.TopicID, n, k int) []sm.Offset {
	var bases []sm.Offset
	off := h.model.end(tp)
	for s := range n {
		bases = append(bases, off)
		for i := range k {
			h.ok(h.op(sm.LogOp{Kind: sm.LogAppend, TP: tp, TopicID: id, Data: h.frame(tp, off, sm.Epoch(1+s), int64(100*s+i), 1, 700),
				Sync: true, Roll: s > 0 && i == 0}))
			off++
		}
	}
	return bases
}

// checkSegments reads every segment of tp in full and compares it with the
// model.
func (h *harness) checkSegments(tp sm.TopicPartition) {
	h.t.Helper()
	for _, s := range h.model.logs[tp].segs {
		h.readEq(tp, s.b.Index().Base, 0, len(s.data)+1, s.data)
	}
}

// checkManifests compares recovered manifests with the model's.
func (h *harness) checkManifests(got map[sm.TopicPartition]sm.LogManifest) {
	h.t.Helper()
	want := h.model.manifests()
	for tp, m := range got {
		if err := m.Check(); err != nil {
			h.t.Fatalf("logtest: recovered manifest of %v is invalid: %v", tp, err)
		}
		w, ok := want[tp]
		if !ok {
			h.t.Fatalf("logtest: recovered a log %v that does not exist", tp)
		}
		if !sameManifest(m, w) {
			h.t.Fatalf("logtest: manifest of %v\n got  %+v\n want %+v", tp, m, w)
		}
	}
	for tp := range want {
		if _, ok := got[tp]; !ok {
			h.t.Fatalf("logtest: log %v was not recovered", tp)
		}
	}
}

func sameManifest(a, b sm.LogManifest) bool {
	norm := func(m sm.LogManifest) sm.LogManifest {
		m.Segments = slices.Clone(m.Segments)
		for i := range m.Segments {
			s := &m.Segments[i]
			if len(s.Entries) == 0 {
				s.Entries = nil
			}
			if len(s.Epochs) == 0 {
				s.Epochs = nil
			}
			if len(s.Producers) == 0 {
				s.Producers = nil
			}
		}
		return m
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

// ---- model -----------------------------------------------------------------

// model is the reference: what every log holds after the ops issued so far,
// with indexes built by sm.IndexBuilder.
type model struct {
	logs map[sm.TopicPartition]*modelLog
	// before holds each log as it was before the latest op on it, for undo.
	before map[sm.TopicPartition]*modelLog
}

type modelLog struct {
	id   sm.TopicID
	segs []modelSeg
}

type modelSeg struct {
	data   []byte
	b      sm.IndexBuilder
	sealed bool
}

func newModel() *model {
	return &model{logs: map[sm.TopicPartition]*modelLog{}, before: map[sm.TopicPartition]*modelLog{}}
}

func (m *model) end(tp sm.TopicPartition) sm.Offset {
	l := m.logs[tp]
	if l == nil {
		return 0
	}
	return l.segs[len(l.segs)-1].b.Index().Next
}

func (l *modelLog) clone() *modelLog {
	if l == nil {
		return nil
	}
	c := &modelLog{id: l.id, segs: slices.Clone(l.segs)}
	return c
}

func (m *model) undo(op sm.LogOp) {
	if l := m.before[op.TP]; l != nil {
		m.logs[op.TP] = l
	} else {
		delete(m.logs, op.TP)
	}
}

func (m *model) apply(t tb, op sm.LogOp) {
	t.Helper()
	l := m.logs[op.TP]
	m.before[op.TP] = l.clone()
	if l != nil {
		l = l.clone()
		m.logs[op.TP] = l
	}
	switch op.Kind {
	case sm.LogAppend:
		if l == nil {
			bt, _, err := sm.DecodeBatch(op.Data)
			if err != nil {
				t.Fatalf("logtest: model: %v", err)
			}
			l = &modelLog{id: op.TopicID, segs: []modelSeg{{b: sm.NewIndexBuilder(bt.BaseOffset)}}}
			m.logs[op.TP] = l
		}
		if last := &l.segs[len(l.segs)-1]; op.Roll && len(last.data) > 0 {
			bt, _, _ := sm.DecodeBatch(op.Data)
			last.sealed = true
			l.segs = append(l.segs, modelSeg{b: sm.NewIndexBuilder(bt.BaseOffset)})
		}
		s := &l.segs[len(l.segs)-1]
		for pos := 0; pos < len(op.Data); {
			bt, n, err := sm.DecodeBatch(op.Data[pos:])
			if err != nil {
				t.Fatalf("logtest: model: %v", err)
			}
			s.b.Add(sm.MetaOf(&bt, n))
			pos += n
		}
		s.data = append(slices.Clip(s.data), op.Data...)
	case sm.LogTrim:
		for len(l.segs) > 1 && l.segs[0].b.Index().Next <= op.Offset {
			l.segs = l.segs[1:]
		}
	case sm.LogTruncate:
		if op.Offset >= m.end(op.TP) {
			return
		}
		k := len(l.segs) - 1
		for k > 0 && l.segs[k].b.Index().Base > op.Offset {
			k--
		}
		l.segs = l.segs[:k+1]
		s := &l.segs[k]
		base := s.b.Index().Base
		cut := 0
		for cut < len(s.data) {
			bt, n, _ := sm.DecodeBatch(s.data[cut:])
			if bt.BaseOffset >= op.Offset {
				break
			}
			cut += n
		}
		minEpoch := sm.Epoch(0)
		if k > 0 {
			minEpoch = lastEpoch(l.segs[k-1].b.Index())
		}
		idx, serr := sm.ScanSegment(s.data[:cut], base, minEpoch)
		if serr != nil {
			t.Fatalf("logtest: model: %v", serr)
		}
		s.data = slices.Clip(s.data[:cut])
		s.b = sm.ResumeIndex(idx)
		s.sealed = false
	case sm.LogReset:
		id := op.TopicID
		if l != nil {
			id = l.id
		}
		m.logs[op.TP] = &modelLog{id: id, segs: []modelSeg{{b: sm.NewIndexBuilder(op.Offset)}}}
	case sm.LogDelete:
		delete(m.logs, op.TP)
	}
}

func lastEpoch(idx sm.SegmentIndex) sm.Epoch {
	if n := len(idx.Epochs); n > 0 {
		return idx.Epochs[n-1].Epoch
	}
	return 0
}

func (m *model) manifests() map[sm.TopicPartition]sm.LogManifest {
	out := map[sm.TopicPartition]sm.LogManifest{}
	for tp, l := range m.logs {
		man := sm.LogManifest{TopicID: l.id}
		for _, s := range l.segs {
			idx := s.b.Index()
			idx.Sealed = s.sealed
			man.Segments = append(man.Segments, idx)
		}
		out[tp] = man
	}
	return out
}
