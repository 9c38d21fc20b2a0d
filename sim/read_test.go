package sim

import (
	"bytes"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/weirmq/weir/sm"
)

// A read returns whole frames from its position: at least one, then as many
// as fit in MaxBytes; none at the segment's end. It fails for a position
// beyond the end or a segment that does not exist, and keeps the bytes as
// they were when it was issued whatever happens to the log after.
func TestDiskRead(t *testing.T) {
	d := rolled(t) // [0,5) = frames of 3 and 2 records, [5,10), [10,12)
	f0, f1 := batchAt(0, 3, 0), batchAt(3, 2, 3)
	read := func(seg sm.Offset, pos int64, maxBytes int) ([]byte, string) {
		data, _, err := d.readLog(sm.LogRead{TP: tpA, Segment: seg, Pos: pos, MaxBytes: maxBytes})
		return data, err
	}
	for _, c := range []struct {
		pos      int64
		maxBytes int
		want     []byte
	}{
		{0, 0, f0}, {0, len(f0), f0}, {0, len(f0) + len(f1) - 1, f0}, {0, len(f0) + len(f1), slices.Concat(f0, f1)},
		{0, 1 << 20, slices.Concat(f0, f1)}, {int64(len(f0)), 1, f1}, {int64(len(f0) + len(f1)), 100, nil},
	} {
		got, err := read(0, c.pos, c.maxBytes)
		if err != "" || !bytes.Equal(got, c.want) {
			t.Fatalf("read at %d max %d: %d bytes %q, want %d", c.pos, c.maxBytes, len(got), err, len(c.want))
		}
	}
	if _, err := read(0, int64(len(f0)+len(f1))+1, 100); err == "" {
		t.Fatal("read beyond the segment's end succeeded")
	}
	if _, err := read(3, 0, 100); err == "" {
		t.Fatal("read of segment 3, which does not exist, succeeded")
	}

	// Issued before a truncation and a new append at the same place, a
	// read keeps the old bytes; the segment still exists.
	data, seg, _ := d.readLog(sm.LogRead{TP: tpA, Segment: 10, MaxBytes: 1 << 20})
	old := slices.Clone(data)
	mustApply(t, d, sm.LogOp{Kind: sm.LogTruncate, Offset: 10})
	mustApply(t, d, sm.LogOp{Kind: sm.LogAppend, Data: batchAt(10, 3, 99)})
	if !bytes.Equal(data, old) || !d.segmentExists(tpA, seg) {
		t.Fatal("a truncation and append changed an issued read's bytes")
	}
	// A trim removes the segment the read names.
	_, seg, _ = d.readLog(sm.LogRead{TP: tpA, Segment: 0, MaxBytes: 1})
	mustApply(t, d, sm.LogOp{Kind: sm.LogTrim, Offset: 5})
	if d.segmentExists(tpA, seg) {
		t.Fatal("trimmed segment still exists")
	}

	// A bit flipped at rest is read back as it is: the reader checks no
	// checksum.
	s := d.logs[walFile(tpA)].segs[0]
	s.flipBit(20, 1)
	got, _ := read(5, 0, 1<<20)
	if _, _, err := sm.DecodeBatch(got); err == nil {
		t.Fatal("a read of a flipped frame decodes")
	}
}

var readDoneRE = regexp.MustCompile(`read done #(\d+) (ok|failed)?\s*"?([^"\n]*)`)

// The world's reads complete after a drawn latency, in any order and
// interleaved with other events; a read of a segment gone by its completion
// fails, and so do reads a readerr fault hits, which it counts.
func TestWorldReads(t *testing.T) {
	cfg := DefaultConfig(7)
	var trace bytes.Buffer
	cfg.Trace = &trace
	w, err := NewScripted(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Boot(); err != nil {
		t.Fatal(err)
	}
	h := w.hosts[w.brokerIDs()[0]]
	tp := sm.TopicPartition{Topic: "zz", Partition: 0}
	for off := sm.Offset(0); off < 20; off++ {
		if e, _ := h.disk.applyLog(sm.LogOp{Kind: sm.LogAppend, TP: tp, Data: batchAt(off, 1, 0)}); e != "" {
			t.Fatal(e)
		}
	}
	frame := len(batchAt(0, 1, 0))
	const n = 200
	var reads []sm.LogRead
	for i := range n {
		reads = append(reads, sm.LogRead{ID: sm.EffectID(1<<40 + i), TP: tp, Segment: 0, Pos: int64(frame * (i % 20)), MaxBytes: 1})
	}
	trace.Reset()
	h.StartRead(reads[:n/2])
	if e, _ := h.disk.applyLog(sm.LogOp{Kind: sm.LogReset, TP: tp, Offset: 50}); e != "" {
		t.Fatal(e)
	}
	for off := sm.Offset(50); off < 70; off++ {
		if e, _ := h.disk.applyLog(sm.LogOp{Kind: sm.LogAppend, TP: tp, Data: batchAt(off, 1, 0)}); e != "" {
			t.Fatal(e)
		}
	}
	for i := n / 2; i < n; i++ {
		reads[i].Segment = 50
	}
	w.ReadFaults(h.id, 0.5, 50*sm.Millisecond, sm.Second)
	h.StartRead(reads[n/2:])
	if err := w.RunFor(3 * sm.Second); err != nil {
		t.Fatal(err)
	}
	var order []int
	gone, eio, ok := 0, 0, 0
	for _, m := range readDoneRE.FindAllStringSubmatch(trace.String(), -1) {
		id, _ := strconv.ParseUint(m[1], 10, 64)
		if id < 1<<40 {
			continue
		}
		i := int(id - 1<<40)
		order = append(order, i)
		switch {
		case m[2] == "failed" && regexp.MustCompile("is gone").MatchString(m[3]):
			gone++
			if i >= n/2 {
				t.Fatalf("read %d, issued after the reset, failed as gone", i)
			}
		case m[2] == "failed" && i >= n/2 && regexp.MustCompile("EIO").MatchString(m[3]):
			eio++
		case m[2] == "" && i >= n/2 && m[3] == strconv.Itoa(frame)+" bytes":
			ok++
		default:
			t.Fatalf("read %d: %s", i, m[0])
		}
	}
	if len(order) != n {
		t.Fatalf("%d of %d reads completed", len(order), n)
	}
	if slices.IsSorted(order) {
		t.Fatal("reads completed in issue order")
	}
	// Issued before the reset, a read is gone at completion; issued after,
	// it returns one frame or meets an injected error, each counted (and
	// each read counted again as slowed).
	if gone != n/2 || eio == 0 || ok == 0 || w.stats.Faults[FaultReadError] != eio+n/2 {
		t.Fatalf("gone %d (want %d), eio %d, ok %d, readerr faults %d", gone, n/2, eio, ok, w.stats.Faults[FaultReadError])
	}
}

// Faults at rest: lostindex damages index files and restarts the broker,
// whose manifest recovery rebuilds them (probe "index rebuilt"); bitrot
// flips a bit in a sealed segment, which a read returns and the byte
// recovery reports as damage, and spends the lost-disk budget.
func TestFaultsAtRest(t *testing.T) {
	cfg := DefaultConfig(7)
	w, err := NewScripted(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Boot(); err != nil {
		t.Fatal(err)
	}
	id := w.brokerIDs()[0]
	h := w.hosts[id]
	tp := sm.TopicPartition{Topic: "zz", Partition: 0}
	for off := sm.Offset(0); off < 40; off++ {
		op := sm.LogOp{Kind: sm.LogAppend, TP: tp, Data: batchAt(off, 1, 0), Roll: off%10 == 0 && off > 0}
		if e, _ := h.disk.applyLog(op); e != "" {
			t.Fatal(e)
		}
	}
	h.disk.sync(walFile(tp))
	if w.BitRot(id) && len(w.diskVictims) != 1 {
		t.Fatal("bitrot without spending the lost-disk budget")
	}
	if w.stats.Faults[FaultBitRot] != 1 {
		t.Fatalf("bitrot injected %d times", w.stats.Faults[FaultBitRot])
	}
	if d, _ := h.disk.syncedCopy().recover(); d.Damaged[tp] == "" {
		t.Fatal("byte recovery did not see the flipped bit")
	}
	lost := false
	for range 20 {
		if lost = w.LoseIndexes(id, 100*sm.Millisecond); lost {
			break
		}
	}
	if !lost || h.up {
		t.Fatalf("lostindex: injected %v, broker up %v", lost, h.up)
	}
	ms, _, err := h.recoverLogs() // as the restart will
	if err != nil {
		t.Fatal(err)
	}
	if w.stats.Reached["index rebuilt"] == 0 || len(ms[tp].Segments) != 4 {
		t.Fatalf("index rebuilt %d times; manifest %s", w.stats.Reached["index rebuilt"], bounds(ms[tp]))
	}
	if err := w.RunFor(sm.Second); err != nil {
		t.Fatal(err)
	}
	if !h.up {
		t.Fatal("the broker did not restart")
	}
}

// The director's segment fault classes, injected as it injects them once
// segmentFaultsWired is set: readerr opens a read-fault window on a broker,
// bitrot flips a bit on a broker within the lost-disk budget (none when
// the budget is zero), lostindex damages index files and restarts a broker.
func TestSegmentFaultClasses(t *testing.T) {
	for _, budget := range []int{0, 1} {
		cfg := DefaultConfig(5)
		cfg.LostDisks = budget
		w, err := NewScripted(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Boot(); err != nil {
			t.Fatal(err)
		}
		tp := sm.TopicPartition{Topic: "zz", Partition: 0}
		for _, id := range w.brokerIDs() {
			d := w.hosts[id].disk
			for off := sm.Offset(0); off < 30; off++ {
				d.applyLog(sm.LogOp{Kind: sm.LogAppend, TP: tp, Data: batchAt(off, 1, 0), Roll: off%10 == 0 && off > 0})
			}
			d.sync(walFile(tp))
		}
		for range 10 {
			w.inject(FaultReadError, sm.Second)
			w.inject(FaultBitRot, sm.Second)
			w.inject(FaultLostIndex, 10*sm.Millisecond)
			if err := w.RunFor(50 * sm.Millisecond); err != nil {
				t.Fatal(err)
			}
		}
		windows := 0
		for _, id := range w.brokerIDs() {
			if w.hosts[id].faults.readErrUntil > 0 {
				windows++
			}
		}
		if windows == 0 || w.stats.Faults[FaultLostIndex] == 0 {
			t.Fatalf("budget %d: %d read-fault windows, %d lostindex", budget, windows, w.stats.Faults[FaultLostIndex])
		}
		switch flips := w.stats.Faults[FaultBitRot]; {
		case budget == 0 && (flips != 0 || len(w.diskVictims) != 0):
			t.Fatalf("bitrot with no lost-disk budget: %d flips, victims %v", flips, w.diskVictims)
		case budget == 1 && (flips == 0 || len(w.diskVictims) != 1):
			t.Fatalf("bitrot within a budget of 1: %d flips, victims %v", flips, w.diskVictims)
		}
	}
}

// Reads are in the determinism hash: the reads a node starts and their
// completions, with every byte of the data returned.
func TestTraceHashesReads(t *testing.T) {
	hash := func(reads []sm.LogRead, done sm.LogReadDone) uint64 {
		var tr tracer
		tr.logReads(5, firstBrokerID, reads)
		tr.event(6, firstBrokerID, done)
		return tr.sum()
	}
	reads := []sm.LogRead{{ID: 1, TP: tpA, Segment: 10, Pos: 64, MaxBytes: 1 << 10}}
	done := sm.LogReadDone{ID: 1, Data: batchAt(10, 2, 0)}
	base := hash(reads, done)
	if hash(reads, done) != base {
		t.Fatal("the same reads hash differently")
	}
	other := slices.Clone(reads)
	other[0].Pos = 65
	flipped := done
	flipped.Data = slices.Clone(done.Data)
	flipped.Data[len(flipped.Data)-1] ^= 1
	failed := sm.LogReadDone{ID: 1, Outcome: sm.OutcomeFailed, Reason: "gone"}
	for name, h := range map[string]uint64{"position": hash(other, done), "data byte": hash(reads, flipped), "outcome": hash(reads, failed)} {
		if h == base {
			t.Errorf("a different read %s hashes the same", name)
		}
	}
}
