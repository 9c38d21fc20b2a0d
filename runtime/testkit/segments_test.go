package testkit

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/weirmq/weir/sm"
)

// rollOp seals tp's active segment and appends n records at base to a new
// one, synced.
func rollOp(id sm.EffectID, tp sm.TopicPartition, base sm.Offset, n int) sm.LogOp {
	op := appendOp(id, tp, base, n, true)
	op.Roll = true
	return op
}

// completeAll completes every pending log operation OK and fails on any
// other outcome.
func completeAll(t *testing.T, d *Disk) {
	t.Helper()
	for {
		done, ok := d.CompleteNext(sm.OutcomeOK, "")
		if !ok {
			return
		}
		if done.Outcome != sm.OutcomeOK {
			t.Fatalf("op %d: %v %s", done.ID, done.Outcome, done.Reason)
		}
	}
}

// Goal: reads wait for the test, take the bytes of the operations completed
// before they were issued, complete in the order the test picks, fail for a
// segment gone by then or when the test fails them, and go with a crash.
func TestDiskReads(t *testing.T) {
	d := NewDisk()
	d.StartLog([]sm.LogOp{appendOp(1, tpA, 0, 2, true), appendOp(2, tpA, 2, 1, true)})
	completeAll(t, d)
	d.StartLog([]sm.LogOp{appendOp(3, tpA, 3, 1, true)}) // not completed: unseen
	f0, f1 := frames(0, 2), frames(2, 1)
	d.StartRead([]sm.LogRead{
		{ID: 10, TP: tpA, Segment: 0, MaxBytes: 1},
		{ID: 11, TP: tpA, Segment: 0, MaxBytes: 1 << 20},
		{ID: 12, TP: tpA, Segment: 0, Pos: int64(len(f0)), MaxBytes: 1},
		{ID: 13, TP: tpA, Segment: 5, MaxBytes: 1},
		{ID: 14, TP: tpA, Segment: 0, MaxBytes: 1},
	})
	completeAll(t, d)
	if got := d.PendingReads(); len(got) != 5 {
		t.Fatalf("%d reads pending, want 5", len(got))
	}
	want := map[sm.EffectID][]byte{10: f0, 11: slices.Concat(f0, f1), 12: f1}
	for _, id := range []sm.EffectID{12, 10, 11} {
		done, ok := d.CompleteReadID(id, sm.OutcomeOK, "")
		if !ok || done.Outcome != sm.OutcomeOK || !bytes.Equal(done.Data, want[id]) {
			t.Fatalf("read %d: %+v", id, done)
		}
	}
	if done, _ := d.CompleteReadID(13, sm.OutcomeOK, ""); done.Outcome != sm.OutcomeFailed || done.Reason == "" {
		t.Fatalf("read of segment 5, which does not exist: %+v", done)
	}
	if done, _ := d.CompleteReadID(14, sm.OutcomeFailed, ""); done.Outcome != sm.OutcomeFailed || !strings.Contains(done.Reason, "EIO") {
		t.Fatalf("failed read: %+v", done)
	}
	if _, ok := d.CompleteReadID(14, sm.OutcomeOK, ""); ok {
		t.Fatal("completed a read twice")
	}

	// A read issued before a roll and a trim of its segment fails; one
	// issued before a truncation of it returns the old bytes.
	d.StartLog([]sm.LogOp{rollOp(5, tpA, 4, 1)})
	completeAll(t, d)
	d.StartRead([]sm.LogRead{{ID: 20, TP: tpA, Segment: 0, MaxBytes: 1 << 20}, {ID: 21, TP: tpA, Segment: 4, MaxBytes: 1 << 20}})
	d.StartLog([]sm.LogOp{{ID: 6, Kind: sm.LogTrim, TP: tpA, Offset: 4}, {ID: 7, Kind: sm.LogTruncate, TP: tpA, Offset: 4}})
	completeAll(t, d)
	got := d.CompleteReads()
	if len(got) != 2 || got[0].Outcome != sm.OutcomeFailed || got[1].Outcome != sm.OutcomeOK || !bytes.Equal(got[1].Data, frames(4, 1)) {
		t.Fatalf("reads across a trim and a truncation: %+v", got)
	}
	d.StartRead([]sm.LogRead{{ID: 30, TP: tpA, Segment: 4}})
	d.Crash(0)
	if len(d.PendingReads()) != 0 {
		t.Fatal("a read survived a crash")
	}
}

// Goal: the disk keeps segments as a store does — rolls seal them with an
// index file, trims drop them from the front, truncations reopen them — and
// Manifests is what a store's Open finds: the manifest IndexBuilder built,
// a torn tail cut for good, a lost index rebuilt, a flipped bit in a sealed
// segment reported as damage.
func TestDiskSegmentsAndManifests(t *testing.T) {
	id := sm.TopicID{7}
	d := NewDisk()
	d.StartLog([]sm.LogOp{
		{ID: 1, Kind: sm.LogAppend, TP: tpA, TopicID: id, Data: frames(0, 3)},
		{ID: 3, Kind: sm.LogAppend, Roll: true, TP: tpA, Data: frames(3, 2)},
		rollOp(5, tpA, 5, 1),
	})
	completeAll(t, d)
	if got := d.Segments(tpA); !slices.Equal(got, []sm.Offset{0, 3, 5}) || d.TopicID(tpA) != id {
		t.Fatalf("segments %v, topic ID %v", got, d.TopicID(tpA))
	}
	ms, damaged := d.Manifests()
	m := ms[tpA]
	if err := m.Check(); err != nil || damaged != nil || m.TopicID != id || m.Start() != 0 || m.End() != 6 || !m.Segments[1].Sealed {
		t.Fatalf("manifest %+v: %v, damaged %v", m, err, damaged)
	}
	want, _ := sm.ScanSegment(frames(3, 2), 3, 0)
	want.Sealed = true
	if got := m.Segments[1]; got.Next != want.Next || got.Bytes != want.Bytes || !slices.Equal(got.Entries, want.Entries) {
		t.Fatalf("segment 3: %+v, want %+v", got, want)
	}

	// Another topic's ID, or an append not at the end, is an I/O error.
	d.StartLog([]sm.LogOp{{ID: 6, Kind: sm.LogAppend, TP: tpA, TopicID: sm.TopicID{8}, Data: frames(6, 1)}})
	if done, _ := d.CompleteNext(sm.OutcomeOK, ""); done.Outcome != sm.OutcomeUnknown || !strings.Contains(done.Reason, "topic ID") {
		t.Fatalf("append naming another topic: %+v", done)
	}
	d.Crash(0)
	d.StartLog([]sm.LogOp{appendOp(7, tpA, 9, 1, true)})
	if done, _ := d.CompleteNext(sm.OutcomeOK, ""); done.Outcome != sm.OutcomeUnknown || d.Poisoned() == "" {
		t.Fatalf("append at 9 with the log ending at 6: %+v", done)
	}
	d.Crash(0)

	// A torn tail is cut by recovery, durably.
	d.StartLog([]sm.LogOp{appendOp(8, tpA, 6, 4, true)})
	d.Crash(5)
	ms, _ = d.Manifests()
	if m := ms[tpA]; m.End() != 6 || len(d.Log(tpA)) != len(d.Synced()[tpA]) || logEnd(d.Log(tpA)) != 6 {
		t.Fatalf("after a torn crash: end %d", m.End())
	}
	d.StartLog([]sm.LogOp{appendOp(9, tpA, 6, 1, true)})
	completeAll(t, d)

	// A lost index is rebuilt, the same.
	d.LoseIndex(tpA, 3)
	again, damaged := d.Manifests()
	if d.IndexesRebuilt != 1 || damaged != nil || again[tpA].Segments[1].Next != m.Segments[1].Next || !again[tpA].Segments[1].Sealed {
		t.Fatalf("index rebuilt %d times: %+v %v", d.IndexesRebuilt, again[tpA].Segments[1], damaged)
	}
	if d.Manifests(); d.IndexesRebuilt != 1 {
		t.Fatal("the rebuilt index was not written back")
	}

	// A flipped bit in a sealed segment whose index must be rebuilt is
	// damage; a read returns the flipped bytes.
	d.FlipBit(tpA, 3, 20, 2)
	d.StartRead([]sm.LogRead{{ID: 40, TP: tpA, Segment: 3, MaxBytes: 1}})
	r := d.CompleteReads()[0]
	if _, _, err := sm.DecodeBatch(r.Data); err == nil {
		t.Fatal("a read of a flipped frame decodes")
	}
	d.LoseIndex(tpA, 3)
	ms, damaged = d.Manifests()
	if m := ms[tpA]; damaged[tpA] == "" || m.End() != 3 {
		t.Fatalf("flipped sealed segment: damaged %v, end %d", damaged, m.End())
	}
}

// reader is a node that issues one read per TimerFired and keeps the
// completions it is handed.
type reader struct {
	next  sm.EffectID
	reads []sm.LogRead
	done  []sm.LogReadDone
}

func (r *reader) Step(_ sm.Time, ev sm.Event) error {
	switch e := ev.(type) {
	case sm.TimerFired:
		r.next++
		r.reads = append(r.reads, sm.LogRead{ID: r.next, TP: tpA, Segment: 0, MaxBytes: 1})
	case sm.LogReadDone:
		r.done = append(r.done, e)
	}
	return nil
}

func (r *reader) Ready() sm.Ready {
	rd := sm.Ready{Reads: r.reads}
	return rd
}
func (r *reader) Advance()               { r.reads = nil }
func (r *reader) CheckInvariants() error { return nil }

// Goal: the host's read helpers deliver completions the disk produces: one
// by ID with the outcome asked for, or every pending read OK.
func TestHostCompleteReads(t *testing.T) {
	disk := NewDiskFrom(map[sm.TopicPartition][]byte{tpA: frames(0, 1)})
	h := NewHost(t, NewClock(1), NewEnv(101, disk, &Network{}))
	node := &reader{}
	h.Start(node) // issues read 1
	h.Handle(sm.TimerFired{})
	h.Handle(sm.TimerFired{})
	if len(disk.PendingReads()) != 3 || len(node.done) != 0 {
		t.Fatalf("%d reads pending, %d done", len(disk.PendingReads()), len(node.done))
	}
	if !h.CompleteReadID(2, sm.OutcomeFailed, "") || h.CompleteReadID(2, sm.OutcomeOK, "") {
		t.Fatal("read 2 did not complete exactly once")
	}
	if n := h.CompleteReads(); n != 2 || len(node.done) != 3 {
		t.Fatalf("completed %d, node got %d", n, len(node.done))
	}
	if d := node.done; d[0].ID != 2 || d[0].Outcome != sm.OutcomeFailed || d[1].ID != 1 || !bytes.Equal(d[1].Data, frames(0, 1)) || d[2].ID != 3 {
		t.Fatalf("completions %+v", d)
	}
}

// Goal: a LogDamaged record changes no segment, is reported with its note
// and a manifest cut before the batch holding its offset at every recovery,
// and goes with a truncation to or below that offset.
func TestDiskDamageRecord(t *testing.T) {
	d := NewDisk()
	d.StartLog([]sm.LogOp{appendOp(1, tpA, 0, 2, true), rollOp(2, tpA, 2, 3), appendOp(3, tpA, 5, 1, true),
		{ID: 4, Kind: sm.LogDamaged, TP: tpA, Offset: 3, Note: "bad crc in segment 2"}})
	completeAll(t, d)
	before := d.Log(tpA)
	for range 2 {
		d.Crash(0)
		ms, damaged := d.Manifests()
		if m := ms[tpA]; damaged[tpA] != "bad crc in segment 2" || m.End() != 2 || len(m.Segments) != 2 || m.Segments[1].Sealed {
			t.Fatalf("damaged at 3: %+v %v", m, damaged)
		}
	}
	if !bytes.Equal(d.Log(tpA), before) {
		t.Fatal("the record changed the log")
	}
	if dur := d.Durable(); dur.Damaged[tpA] == "" || func() sm.Offset { m := dur.Manifests[tpA]; return m.End() }() != 2 {
		t.Fatalf("Durable: damaged %v, manifests %+v", dur.Damaged, dur.Manifests)
	}
	d.StartLog([]sm.LogOp{{ID: 5, Kind: sm.LogTruncate, TP: tpA, Offset: 2}})
	completeAll(t, d)
	if _, damaged := d.Manifests(); damaged != nil {
		t.Fatalf("after the cut: %v", damaged)
	}
}
