package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weirmq/weir/sm"
)

var (
	tp0 = sm.TopicPartition{Topic: "orders", Partition: 0}
	tp1 = sm.TopicPartition{Topic: "orders", Partition: 1}
	tp2 = sm.TopicPartition{Topic: "audit-log", Partition: 7} // a '-' in the topic
)

// What is appended is what Open returns, byte for byte, across reopenings,
// and appending continues where the recovered log ends.
func TestAppendReadBack(t *testing.T) {
	forBackends(t, func(t *testing.T, be string) {
		dir := t.TempDir()
		cfg := testConfig(dir, be)
		ms := []*model{{tp: tp0}, {tp: tp1}, {tp: tp2}}
		w, rec := mustOpen(t, cfg)
		if len(rec.Logs) != 0 {
			t.Fatalf("fresh WAL recovered %d logs", len(rec.Logs))
		}
		for round := range 5 {
			for i, m := range ms {
				appendModel(t, w, m, 1+round%3, 1+i, 10+50*round) // several frames per op sometimes
			}
		}
		if st := w.Stats(); st.Appends != 15 || st.BytesAppended == 0 || st.UsedBytes <= 0 {
			t.Fatalf("stats %+v", st)
		}
		mustClose(t, w)

		w, rec = mustOpen(t, cfg)
		for _, m := range ms {
			checkLog(t, rec, m)
		}
		appendModel(t, w, ms[0], 2, 3, 100)
		mustClose(t, w)
		_, rec = mustOpen(t, cfg)
		checkLog(t, rec, ms[0])
	})
}

// A segment rolls only when an append says so (sm.LogOp.Roll): the sealed
// segment gets its index file, exactly the index sm.IndexBuilder computes,
// and the append starts the new one; files are named by their first
// offset; a new log's first append has nothing to seal.
func TestSegmentRoll(t *testing.T) {
	forBackends(t, func(t *testing.T, be string) {
		dir := t.TempDir()
		cfg := testConfig(dir, be)
		w, _ := mustOpen(t, cfg)
		m := &model{tp: tp0, rollAt: 512}
		for range 20 {
			appendModel(t, w, m, 1, 2, 30)
		}
		appendModel(t, w, m, 6, 1, 40)
		appendModel(t, w, m, 1, 1, 900) // bigger than a segment: one of its own
		appendModel(t, w, m, 1, 1, 10)
		appendModelRoll(t, w, m, true, 1, 1, 10)
		other := &model{tp: tp1}
		appendModelRoll(t, w, other, true, 1, 1, 10) // a new log: nothing to seal
		st := w.Stats()
		mustClose(t, w)

		files := segments(t, dir, tp0)
		if len(files) < 4 || st.Rolls != uint64(len(files)-1) || m.rolls != len(files)-1 || len(segments(t, dir, tp1)) != 1 {
			t.Fatalf("%d segment files, %d rolls, the model rolled %d times", len(files), st.Rolls, m.rolls)
		}
		for i, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if i == len(files)-1 {
				continue // active: no index file
			}
			batches, n, err := sm.DecodeLog(data)
			if err != nil || n != len(data) || len(batches) == 0 {
				t.Fatalf("%s: %d batches, %d of %d bytes, err %v", f, len(batches), n, len(data), err)
			}
			if want := segmentName(batches[0].BaseOffset); filepath.Base(f) != want {
				t.Fatalf("segment %s starts at offset %d (want name %s)", f, batches[0].BaseOffset, want)
			}
			raw, err := os.ReadFile(strings.TrimSuffix(f, ".log") + ".index")
			if err != nil {
				t.Fatalf("sealed segment without its index file: %v", err)
			}
			idx, err := sm.DecodeSegmentIndex(raw)
			want, serr := sm.ScanSegment(data, batches[0].BaseOffset, 0)
			want.Sealed = true
			if err != nil || serr != nil || !sameIndex(&idx, &want) || !idx.Sealed {
				t.Fatalf("%s: index file %+v (%v), want %+v", f, idx, err, want)
			}
		}
		_, rec := mustOpen(t, cfg)
		checkLog(t, rec, m)
	})
}

// Truncate removes later segments and cuts one, refuses an offset inside a
// batch without changing anything, and the log continues from the cut.
func TestTruncateAcrossSegments(t *testing.T) {
	forBackends(t, func(t *testing.T, be string) {
		dir := t.TempDir()
		cfg := testConfig(dir, be)
		w, _ := mustOpen(t, cfg)
		m := &model{tp: tp0, rollAt: 512}
		for range 60 {
			appendModel(t, w, m, 1, 2, 30) // batch i holds offsets [2i, 2i+2)
		}
		before := len(segments(t, dir, tp0))
		if err := w.Truncate(tp0, 500); err != nil { // beyond the end: nothing
			t.Fatal(err)
		}
		err := w.Truncate(tp0, 41)
		if err == nil || !strings.Contains(err.Error(), "inside batch [40,42)") {
			t.Fatalf("truncate inside a batch: %v", err)
		}
		if got := len(segments(t, dir, tp0)); got != before {
			t.Fatalf("refused truncate changed segments: %d -> %d", before, got)
		}
		if err := w.Truncate(tp0, 40); err != nil {
			t.Fatal(err)
		}
		m.truncate(40)
		for _, f := range segments(t, dir, tp0) {
			base, _ := parseSegmentName(filepath.Base(f))
			if base > 40 || base == 40 && fileSize(t, f) != 0 {
				t.Fatalf("segment %s survived a truncate to 40", f)
			}
		}
		if got := len(segments(t, dir, tp0)); got >= before {
			t.Fatalf("truncate to 40 kept %d of %d segments", got, before)
		}
		appendModel(t, w, m, 3, 2, 30)
		if err := w.Truncate(sm.TopicPartition{Topic: "none", Partition: 0}, 3); err != nil {
			t.Fatalf("truncating an unknown partition: %v", err)
		}
		mustClose(t, w)

		w, rec := mustOpen(t, cfg)
		checkLog(t, rec, m)
		if err := w.Truncate(tp0, 0); err != nil {
			t.Fatal(err)
		}
		m.truncate(0)
		if files := segments(t, dir, tp0); len(files) != 1 || fileSize(t, files[0]) != 0 {
			t.Fatalf("truncate to 0 left %v, want one empty segment", files)
		}
		appendModel(t, w, m, 2, 1, 10)
		if st := w.Stats(); st.UsedBytes != int64(len(m.data)) {
			t.Fatalf("used %d bytes, log holds %d", st.UsedBytes, len(m.data))
		}
		mustClose(t, w)
		_, rec = mustOpen(t, cfg)
		checkLog(t, rec, m)
	})
}

// Delete removes the partition's directory durably; the name can be used
// again from offset 0, and Open clears a deletion a crash interrupted.
func TestDelete(t *testing.T) {
	forBackends(t, func(t *testing.T, be string) {
		dir := t.TempDir()
		cfg := testConfig(dir, be)
		w, _ := mustOpen(t, cfg)
		m0, m1 := &model{tp: tp0, rollAt: 256}, &model{tp: tp1, rollAt: 256}
		for range 10 {
			appendModel(t, w, m0, 1, 2, 40)
			appendModel(t, w, m1, 1, 2, 40)
		}
		if err := w.Delete(tp0); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, "orders-0")); !os.IsNotExist(err) {
			t.Fatalf("partition directory still there: %v", err)
		}
		if err := w.Delete(tp0); err != nil { // again: nothing to do
			t.Fatal(err)
		}
		if st := w.Stats(); st.UsedBytes != int64(len(m1.data)) {
			t.Fatalf("used %d, want %d", st.UsedBytes, len(m1.data))
		}
		mustClose(t, w)

		tomb := filepath.Join(dir, "orders-3"+tombstoneSuffix+"1")
		if err := os.MkdirAll(tomb, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tomb, segmentName(0)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		w, rec := mustOpen(t, cfg)
		if _, ok := rec.Logs[tp0]; ok {
			t.Fatal("deleted partition recovered")
		}
		if _, err := os.Stat(tomb); !os.IsNotExist(err) || len(rec.Repairs) != 1 {
			t.Fatalf("tombstone: stat %v, repairs %q", err, rec.Repairs)
		}
		checkLog(t, rec, m1)
		m0 = &model{tp: tp0}
		appendModel(t, w, m0, 2, 1, 10)
		mustClose(t, w)
		_, rec = mustOpen(t, cfg)
		checkLog(t, rec, m0)
	})
}

// Group commit: appends that arrive while a group is being written share the
// next group's single fdatasync. The first group is held until the other
// appenders have queued, so the count is exact: 2 fdatasyncs for n appends.
func TestGroupCommit(t *testing.T) {
	forBackends(t, func(t *testing.T, be string) {
		const n = 64
		w, _ := mustOpen(t, testConfig(t.TempDir(), be))
		defer mustClose(t, w)
		st0 := w.Stats()
		first, firstGroup := true, 0
		w.hookGroup = func(inGroup int) {
			if !first {
				return
			}
			first, firstGroup = false, inGroup
			deadline := time.Now().Add(20 * time.Second)
			for w.queued() < n-inGroup && time.Now().Before(deadline) {
				time.Sleep(100 * time.Microsecond)
			}
		}
		done := newCompletions()
		exec := w.NewExecutor(done.post)
		var mu sync.Mutex
		m := &model{tp: tp0}
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				mu.Lock() // offsets are assigned in submission order, as a partition leader does
				op := sm.LogOp{ID: sm.EffectID(len(m.bases) + 1), Kind: sm.LogAppend, TP: tp0, Data: m.add(1, 1, 1000), Sync: true}
				exec.StartLog([]sm.LogOp{op})
				mu.Unlock()
			})
		}
		wg.Wait()
		got := done.wait(t, n)
		for i, d := range got {
			if d.ID != sm.EffectID(i+1) || d.Outcome != sm.OutcomeOK {
				t.Fatalf("completion %d: %+v", i, d)
			}
		}
		// The first group holds whatever had queued when the committer
		// woke (possibly all n); the hook makes the rest one more group.
		st := w.Stats()
		want := uint64(2)
		if firstGroup == n {
			want = 1
		}
		// One more ledger sync marks the partition's first segment, and one
		// more fdatasync writes its PARTITION file.
		if st.Appends != n || st.Groups != want || st.DataSyncs != want+1 || st.LedgerSyncs-st0.LedgerSyncs != want+1 {
			t.Fatalf("%d appends in %d groups with %d fdatasyncs and %d ledger syncs; want %d in %d with %d",
				st.Appends, st.Groups, st.DataSyncs, st.LedgerSyncs, n, want, want)
		}
	})
}

// queued reports how many operations wait for the committer (tests).
func (w *WAL) queued() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue)
}

// An append past capacity_bytes fails with the documented text and writes
// nothing; space freed by a truncate can be used again.
func TestCapacityExceeded(t *testing.T) {
	forBackends(t, func(t *testing.T, be string) {
		dir := t.TempDir()
		cfg := testConfig(dir, be)
		m := &model{tp: tp0}
		one := len(frame(tp0, 0, 1, 1, 100))
		cfg.CapacityBytes = int64(3 * one)
		w, _ := mustOpen(t, cfg)
		appendModel(t, w, m, 3, 1, 100)
		size := fileSize(t, segments(t, dir, tp0)[0])
		err := w.Append(tp0, frame(tp0, 3, 1, 1, 100), true)
		want := fmt.Sprintf("wal: capacity_bytes %d exceeded (used %d, append %d)", 3*one, 3*one, one)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("got %v, want prefix %q", err, want)
		}
		if got := fileSize(t, segments(t, dir, tp0)[0]); got != size {
			t.Fatalf("refused append changed the segment: %d -> %d bytes", size, got)
		}
		if err := w.Truncate(tp0, 2); err != nil {
			t.Fatal(err)
		}
		m.truncate(2)
		appendModel(t, w, m, 1, 1, 100)
		mustClose(t, w)
		w, rec := mustOpen(t, cfg) // usage is recounted at Open
		checkLog(t, rec, m)
		if err := w.Append(tp0, frame(tp0, 3, 1, 1, 100), true); err == nil {
			t.Fatal("append over capacity accepted after reopen")
		}
		// The reference's 10 GiB default, with usage set just under it.
		w.hookGroup = func(int) { w.cfg.CapacityBytes, w.used = 10737418240, 10737418240-10 }
		err = w.Append(tp1, frame(tp1, 0, 1, 1, 100), true)
		want = fmt.Sprintf("wal: capacity_bytes 10737418240 exceeded (used 10737418230, append %d): append to orders/1 at offset 0", one)
		if err == nil || err.Error() != want {
			t.Fatalf("got %v, want %q", err, want)
		}
		w.hookGroup = nil
		mustClose(t, w)
	})
}

// Cutting the last frame of the last segment at every byte, or flipping any
// one of its bytes, recovers exactly the frames before it, and the file is
// cut back to them.
func TestRecoverTornTail(t *testing.T) {
	forBackends(t, func(t *testing.T, be string) {
		dir := t.TempDir()
		cfg := testConfig(dir, be)
		w, _ := mustOpen(t, cfg)
		m := &model{tp: tp0, rollAt: 300}
		for range 8 {
			appendModel(t, w, m, 1, 2, 20)
		}
		mustClose(t, w)
		files := segments(t, dir, tp0)
		if len(files) < 2 {
			t.Fatalf("want several segments, got %v", files)
		}
		lastPath := files[len(files)-1]
		orig, err := os.ReadFile(lastPath)
		if err != nil {
			t.Fatal(err)
		}
		lastStart := m.starts[len(m.starts)-1]
		inFile := len(orig) - (len(m.data) - lastStart) // where the last frame starts in its file
		prefix := &model{tp: tp0, data: m.data[:lastStart], bases: m.bases[:len(m.bases)-1]}
		// The last frame was never synced (its write was in flight at the
		// crash): only then may recovery treat its bytes as a torn tail.
		setSyncMark(t, dir, lastPath, int64(inFile))

		check := func(what string, content []byte, wantRepair bool) {
			t.Helper()
			if err := os.WriteFile(lastPath, content, 0o644); err != nil {
				t.Fatal(err)
			}
			w, rec, err := Open(cfg)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			checkLog(t, rec, prefix)
			if got := fileSize(t, lastPath); got != int64(inFile) {
				t.Fatalf("%s: file is %d bytes after recovery, want %d", what, got, inFile)
			}
			if (len(rec.Repairs) == 1) != wantRepair {
				t.Fatalf("%s: repairs %q", what, rec.Repairs)
			}
			mustClose(t, w)
		}
		for cut := inFile; cut < len(orig); cut++ {
			check(fmt.Sprintf("cut at byte %d", cut), orig[:cut], cut > inFile)
		}
		for pos := inFile; pos < len(orig); pos++ {
			bad := append([]byte(nil), orig...)
			bad[pos] ^= 0x5a
			check(fmt.Sprintf("byte %d flipped", pos), bad, true)
		}
		// Zeros where the frame should be (a torn page) are a torn tail too.
		zeroed := append(append([]byte(nil), orig[:inFile]...), make([]byte, 4096)...)
		check("zeroed tail", zeroed, true)

		// The repaired log takes appends again.
		os.WriteFile(lastPath, orig[:inFile+3], 0o644)
		w, rec := mustOpen(t, cfg)
		checkLog(t, rec, prefix)
		prefix.next = m.bases[len(m.bases)-1]
		appendModel(t, w, prefix, 2, 2, 20)
		mustClose(t, w)
		_, rec = mustOpen(t, cfg)
		checkLog(t, rec, prefix)
	})
}

// A defect that is not a torn tail — a bad frame below the sync mark (the
// issue's bit flip in the last, acknowledged batch), in a sealed segment, a
// gap in offsets, a file shorter than what was synced — is reported as
// damage with the file and byte named: Open serves the valid prefix and
// changes nothing on disk, appends are refused, and only a truncate (the
// caller's decision to rebuild) cuts the bad bytes.
func TestRecoverReportsDamage(t *testing.T) {
	forBackends(t, func(t *testing.T, be string) {
		dir := t.TempDir()
		cfg := testConfig(dir, be)
		w, _ := mustOpen(t, cfg)
		m := &model{tp: tp0, rollAt: 300}
		for range 12 {
			appendModel(t, w, m, 1, 2, 20)
		}
		mustClose(t, w)
		files := segments(t, dir, tp0)
		if len(files) < 3 {
			t.Fatalf("want 3+ segments, got %d", len(files))
		}
		orig := map[string][]byte{}
		for _, f := range files {
			orig[f], _ = os.ReadFile(f)
		}
		restore := func() {
			for _, f := range files {
				if err := os.WriteFile(f, orig[f], 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		// frameAt finds the byte positions of the frames in a file.
		frameAt := func(f string) []int {
			var pos []int
			for p, data := 0, orig[f]; p < len(data); {
				_, n, err := sm.DecodeBatch(data[p:])
				if err != nil {
					t.Fatal(err)
				}
				pos, p = append(pos, p), p+n
			}
			return pos
		}
		// prefixUntil is the model of the log before the frame at byte pos
		// of file f.
		prefixUntil := func(f string, pos int) *model {
			at := 0
			for _, g := range files {
				if g == f {
					break
				}
				at += len(orig[g])
			}
			at += pos
			i := slices.Index(m.starts, at)
			if i < 0 {
				t.Fatalf("byte %d of %s is not a frame start", pos, f)
			}
			return &model{tp: tp0, data: m.data[:at], starts: m.starts[:i], bases: m.bases[:i], next: m.bases[i]}
		}
		damaged := func(what, want string, prefix *model) {
			t.Helper()
			before := map[string][]byte{}
			for _, f := range files {
				before[f], _ = os.ReadFile(f)
			}
			w, rec, err := Open(cfg)
			if err != nil {
				t.Fatalf("%s: Open: %v", what, err)
			}
			if got := rec.Damaged[tp0]; got == nil || got.Error() != want || got.Offset != prefix.next {
				t.Fatalf("%s:\n got %v\nwant %s (offset %d)", what, got, want, prefix.next)
			}
			checkLog(t, rec, prefix)
			if err := w.Append(tp0, frame(tp0, prefix.next, 1, 1, 20), true); err == nil || !strings.Contains(err.Error(), "the log is damaged") {
				t.Fatalf("%s: append to a damaged log: %v", what, err)
			}
			mustClose(t, w)
			for _, f := range files {
				if data, _ := os.ReadFile(f); string(data) != string(before[f]) {
					t.Fatalf("%s: Open changed %s", what, f)
				}
			}
			w, rec = mustOpen(t, cfg)
			if rec.Damaged[tp0] == nil || rec.Damaged[tp0].Error() != want {
				t.Fatalf("%s: the damage was not found again by the next Open: %v", what, rec.Damaged[tp0])
			}
			mustClose(t, w)
			restore()
		}

		last := files[len(files)-1]
		pos := frameAt(last)
		if len(pos) < 2 {
			t.Fatalf("last segment holds %d frames, want 2+", len(pos))
		}
		synced := len(orig[last])
		bad := append([]byte(nil), orig[last]...)
		bad[pos[0]+30] ^= 1 // a record byte of the first frame; a valid frame follows
		os.WriteFile(last, bad, 0o644)
		damaged("middle of the last segment", fmt.Sprintf(
			"wal: corrupt record in %s at byte %d: checksum mismatch below the synced mark (%d bytes of this segment were synced: acknowledged data)",
			last, pos[0], synced), prefixUntil(last, pos[0]))

		bad = append([]byte(nil), orig[last]...)
		bad[len(bad)-5] ^= 0x10 // the last, acknowledged batch: a bit flip, not a torn write
		os.WriteFile(last, bad, 0o644)
		damaged("last batch", fmt.Sprintf(
			"wal: corrupt record in %s at byte %d: checksum mismatch below the synced mark (%d bytes of this segment were synced: acknowledged data)",
			last, pos[len(pos)-1], synced), prefixUntil(last, pos[len(pos)-1]))

		os.WriteFile(last, orig[last][:pos[len(pos)-1]], 0o644)
		damaged("synced bytes missing", fmt.Sprintf(
			"wal: corrupt record in %s at byte %d: the file ends at byte %d but %d bytes of it were synced: acknowledged data is missing",
			last, pos[len(pos)-1], pos[len(pos)-1], synced), prefixUntil(last, pos[len(pos)-1]))

		first := files[0]
		pos = frameAt(first)
		bad = append([]byte(nil), orig[first]...)
		bad[len(bad)-1] ^= 1 // the last frame of a sealed segment
		os.WriteFile(first, bad, 0o644)
		damaged("sealed segment", fmt.Sprintf(
			"wal: corrupt record in %s at byte %d: checksum mismatch in a sealed segment (a later segment exists)", first, pos[len(pos)-1]),
			prefixUntil(first, pos[len(pos)-1]))

		os.WriteFile(first, orig[first][:len(orig[first])-3], 0o644)
		damaged("short sealed segment", fmt.Sprintf(
			"wal: corrupt record in %s at byte %d: truncated frame (%d bytes) in a sealed segment (a later segment exists)",
			first, pos[len(pos)-1], len(orig[first])-3-pos[len(pos)-1]), prefixUntil(first, pos[len(pos)-1]))

		os.Remove(files[1])
		base1, _ := parseSegmentName(filepath.Base(files[1]))
		base2, _ := parseSegmentName(filepath.Base(files[2]))
		idx1 := strings.TrimSuffix(files[1], ".log") + ".index"
		damaged("missing segment", fmt.Sprintf(
			"wal: corrupt record in %s at byte 0: segment file missing: its index file %s remains (deleted while the WAL was down?)",
			files[1], idx1), prefixUntil(files[1], 0))
		idxData, err := os.ReadFile(idx1)
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(files[1])
		os.Remove(idx1)
		damaged("missing segment and index", fmt.Sprintf(
			"wal: corrupt record in %s at byte 0: segment file missing: offset gap: %s starts at offset %d, the previous segment ends at %d",
			files[1], files[2], base2, base1), prefixUntil(files[1], 0))
		os.WriteFile(idx1, idxData, 0o644)

		w, rec := mustOpen(t, cfg)
		if len(rec.Repairs) != 0 || len(rec.Damaged) != 0 {
			t.Fatalf("restored log needed repairs: %q %v", rec.Repairs, rec.Damaged)
		}
		mustClose(t, w)

		// TruncateCorrupt: the operator accepts the loss; Open cuts at once
		// and says so.
		bad = append([]byte(nil), orig[last]...)
		bad[len(bad)-5] ^= 0x10
		os.WriteFile(last, bad, 0o644)
		pos = frameAt(last)
		prefix := prefixUntil(last, pos[len(pos)-1])
		cfg.TruncateCorrupt = true
		w, rec = mustOpen(t, cfg)
		if len(rec.Damaged) != 0 || len(rec.Repairs) != 1 || !strings.Contains(rec.Repairs[0], "records from offset") {
			t.Fatalf("truncate_corrupt: damaged %v, repairs %q", rec.Damaged, rec.Repairs)
		}
		checkLog(t, rec, prefix)
		mustClose(t, w)
		cfg.TruncateCorrupt = false
		w, rec = mustOpen(t, cfg)
		if len(rec.Damaged) != 0 || len(rec.Repairs) != 0 {
			t.Fatalf("after truncate_corrupt: damaged %v, repairs %q", rec.Damaged, rec.Repairs)
		}
		mustClose(t, w)
		restore()

		// Repair: a truncate at the damage cuts the bad bytes and the later
		// segments; the log then takes appends and reopens clean.
		pos = frameAt(files[1])
		bad = append([]byte(nil), orig[files[1]]...)
		bad[pos[0]+30] ^= 1
		os.WriteFile(files[1], bad, 0o644)
		prefix = prefixUntil(files[1], pos[0])
		w, rec = mustOpen(t, cfg)
		if rec.Damaged[tp0] == nil {
			t.Fatal("damage in a sealed segment not reported")
		}
		if err := w.Truncate(tp0, prefix.next); err != nil {
			t.Fatal(err)
		}
		appendModel(t, w, prefix, 3, 2, 20)
		mustClose(t, w)
		w, rec = mustOpen(t, cfg)
		if len(rec.Damaged) != 0 || len(rec.Repairs) != 0 {
			t.Fatalf("repaired log: damaged %v, repairs %q", rec.Damaged, rec.Repairs)
		}
		checkLog(t, rec, prefix)
		mustClose(t, w)
		restore()

		mustClose(t, w)
	})
}

// With fsync_on_write=false a Sync append completes after write(2) with no
// fdatasync; FlushInterval and Close sync later.
func TestFsyncOnWriteFalse(t *testing.T) {
	forBackends(t, func(t *testing.T, be string) {
		dir := t.TempDir()
		cfg := testConfig(dir, be)
		cfg.FsyncOnWrite = false
		w, _ := mustOpen(t, cfg)
		m := &model{tp: tp0}
		for range 20 {
			appendModel(t, w, m, 1, 1, 50)
		}
		// The one fdatasync writes the partition's PARTITION file.
		if st := w.Stats(); st.DataSyncs != 1 || st.DirSyncs == 0 {
			t.Fatalf("fsync_on_write=false: %d fdatasyncs, %d directory syncs", st.DataSyncs, st.DirSyncs)
		}
		mustClose(t, w)
		if st := w.Stats(); st.DataSyncs != 2 {
			t.Fatalf("Close synced %d segments, want 1", st.DataSyncs)
		}
		cfg.FlushInterval = 10 * time.Millisecond
		w, rec := mustOpen(t, cfg)
		checkLog(t, rec, m)
		appendModel(t, w, m, 1, 1, 50)
		deadline := time.Now().Add(10 * time.Second)
		for w.Stats().DataSyncs == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if st := w.Stats(); st.DataSyncs != 1 {
			t.Fatalf("flush interval: %d fdatasyncs", st.DataSyncs)
		}
		mustClose(t, w)
	})
}

// Auto picks io_uring when the kernel allows it and falls back to sync with
// the reason reported; an explicit "uring" fails instead of falling back.
func TestBackendSelection(t *testing.T) {
	refused := fmt.Errorf("uring: io_uring_setup(2 entries): %w", unix.ENOSYS)
	real := probeUring
	t.Cleanup(func() { probeUring = real })

	cfg := testConfig(t.TempDir(), BackendAuto)
	w, _ := mustOpen(t, cfg)
	info := w.Backend()
	mustClose(t, w)
	if real() == nil && (info.Name != BackendUring || info.FallbackReason != "") {
		t.Fatalf("auto with io_uring available: %+v", info)
	}

	probeUring = func() error { return refused }
	w, _ = mustOpen(t, cfg)
	info = w.Backend()
	mustClose(t, w)
	if info.Name != BackendSync || info.Requested != BackendAuto || !strings.Contains(info.FallbackReason, "function not implemented") {
		t.Fatalf("auto fallback: %+v", info)
	}
	if s := info.String(); !strings.Contains(s, "fell back") {
		t.Fatalf("info string %q", s)
	}
	cfg.Backend = BackendUring
	if _, _, err := Open(cfg); err == nil || !errors.Is(err, unix.ENOSYS) {
		t.Fatalf("uring requested, kernel refuses: %v", err)
	}
	cfg.Backend = BackendSync
	w, _ = mustOpen(t, cfg)
	if info := w.Backend(); info.Name != BackendSync || info.FallbackReason != "" {
		t.Fatalf("sync: %+v", info)
	}
	mustClose(t, w)
}

// An Executor completes every op in issue order, whatever its outcome, and
// refuses what is not a partition-log operation.
func TestExecutorOrder(t *testing.T) {
	forBackends(t, func(t *testing.T, be string) {
		w, _ := mustOpen(t, testConfig(t.TempDir(), be))
		done := newCompletions()
		exec := w.NewExecutor(done.post)
		m := &model{tp: tp0}
		ops := []sm.LogOp{
			{ID: 10, Kind: sm.LogAppend, TP: tp0, Data: m.add(3, 1, 10), Sync: true},
			{ID: 11, Kind: sm.LogAppend, TP: tp0, Data: []byte("not a frame"), Sync: true},
			{ID: 12, Kind: sm.LogAppend, TP: tp0, Data: frame(tp0, 7, 1, 1, 10), Sync: true}, // gap
			{ID: 13, Kind: sm.LogTruncate, TP: tp0, Offset: 2, Sync: true},
			{ID: 14, Kind: sm.LogAppend, TP: tp1, Data: frame(tp1, 0, 1, 1, 10)},
			{ID: 15, Kind: sm.LogDelete, TP: tp1, Sync: true},
			{ID: 17, Kind: sm.LogAppend, TP: sm.TopicPartition{Topic: "../x", Partition: 0}, Data: frame(tp0, 0, 1, 1, 10)},
		}
		exec.StartLog(ops[:3])
		exec.StartLog(ops[3:])
		got := done.wait(t, len(ops))
		wantErr := map[sm.EffectID]string{
			11: "wal: append to orders/0: frame at byte 0 of the append: sm: malformed batch frame",
			12: "wal: append to orders/0: batch base offset 7, log ends at 3",
			17: `wal: topic name "../x" cannot name a directory`,
		}
		for i, d := range got {
			if d.ID != ops[i].ID {
				t.Fatalf("completion %d is op %d, want %d", i, d.ID, ops[i].ID)
			}
			if want := wantErr[d.ID]; (want == "") != (d.Outcome == sm.OutcomeOK) || !strings.HasPrefix(d.Reason, want) {
				t.Fatalf("op %d: err %q, want prefix %q", d.ID, d.Reason, want)
			}
		}
		mustClose(t, w)
		exec.StartLog([]sm.LogOp{{ID: 99, Kind: sm.LogAppend, TP: tp0}})
		if d := done.wait(t, 1)[len(ops)]; d.ID != 99 || d.Reason != ErrClosed.Error() {
			t.Fatalf("after Close: %+v", d)
		}
		if err := w.Append(tp0, nil, true); !errors.Is(err, ErrClosed) {
			t.Fatalf("Append after Close: %v", err)
		}
	})
}

// Only one process may use a WAL directory; foreign entries are left alone;
// a misnamed segment is refused.
func TestDirectoryRules(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir, BackendSync)
	w, _ := mustOpen(t, cfg)
	if _, _, err := Open(cfg); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("second Open: %v", err)
	}
	m := &model{tp: tp0}
	appendModel(t, w, m, 1, 1, 10)
	mustClose(t, w)

	for _, d := range []string{"lost+found", "orders-01", "orders-x", "-3"} {
		os.Mkdir(filepath.Join(dir, d), 0o755)
	}
	os.WriteFile(filepath.Join(dir, "orders-0", "notes.txt"), []byte("x"), 0o644)
	w, rec := mustOpen(t, cfg)
	if len(rec.Logs) != 1 {
		t.Fatalf("recovered %d logs: foreign directories read as partitions", len(rec.Logs))
	}
	checkLog(t, rec, m)
	mustClose(t, w)

	// Files the WAL did not write are reported by name and left alone.
	bad := filepath.Join(dir, "orders-0", "12.log")
	os.WriteFile(bad, []byte("not mine"), 0o644)
	w, rec = mustOpen(t, cfg)
	checkLog(t, rec, m)
	if len(rec.Warnings) != 2 || !strings.Contains(strings.Join(rec.Warnings, "\n"), "ignored "+bad) {
		t.Fatalf("foreign files: warnings %q", rec.Warnings)
	}
	mustClose(t, w)
	if data, err := os.ReadFile(bad); err != nil || string(data) != "not mine" {
		t.Fatalf("a foreign file was touched: %q %v", data, err)
	}
	os.Remove(bad)

	// An empty partition directory is an empty log.
	os.Mkdir(filepath.Join(dir, "empty-2"), 0o755)
	w, rec = mustOpen(t, cfg)
	if log, ok := rec.Logs[sm.TopicPartition{Topic: "empty", Partition: 2}]; !ok || len(log) != 0 {
		t.Fatalf("empty partition: %v %v", ok, log)
	}
	e := &model{tp: sm.TopicPartition{Topic: "empty", Partition: 2}}
	appendModel(t, w, e, 1, 1, 10)
	mustClose(t, w)

	for _, c := range []Config{{}, {Path: dir, ReadConcurrency: -1}, {Path: dir, Backend: "x"}, {Path: dir, CapacityBytes: -1}} {
		if _, _, err := Open(c); err == nil {
			t.Fatalf("config %+v accepted", c)
		}
	}
	if d := DefaultConfig(dir); d.Validate() != nil || d.CapacityBytes != 10737418240 || d.ReadConcurrency != 4 {
		t.Fatalf("default config %+v", d)
	}
}

// In a segment larger than the index interval, a truncate starts its header
// walk from the sparse index and still cuts at the right batch.
func TestTruncateUsesIndex(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir, BackendSync)
	w, _ := mustOpen(t, cfg)
	m := &model{tp: tp0}
	if err := w.Append(tp0, m.add(400, 1, 1000), false); err != nil { // ~400 KiB, one segment
		t.Fatal(err)
	}
	s := w.parts[tp0].active() // the committer is idle: no append in flight
	if n := len(s.b.Index().Entries); n < 5 {
		t.Fatalf("index has %d entries for %d bytes", n, s.size)
	}
	for _, off := range []sm.Offset{399, 257, 128, 1} {
		if err := w.Truncate(tp0, off); err != nil {
			t.Fatal(err)
		}
		m.truncate(off)
		if s.size != int64(len(m.data)) || fileSize(t, s.path) != int64(len(m.data)) {
			t.Fatalf("truncate to %d: segment %d bytes, file %d, want %d", off, s.size, fileSize(t, s.path), len(m.data))
		}
		// The cut index is the one a scan of what remains builds.
		want, _ := sm.ScanSegment(m.data, 0, 0)
		if got := s.b.Index(); !sameIndex(&got, &want) {
			t.Fatalf("truncate to %d: index %+v, a scan builds %+v", off, got, want)
		}
	}
	mustClose(t, w)
	_, rec := mustOpen(t, cfg)
	checkLog(t, rec, m)
}

// OnSync reports each synced commit group's latency.
func TestOnSyncReportsSyncLatency(t *testing.T) {
	var n atomic.Int64
	cfg := DefaultConfig(t.TempDir())
	cfg.Backend = BackendSync
	cfg.OnSync = func(d time.Duration) {
		if d <= 0 {
			t.Errorf("sync latency %v", d)
		}
		n.Add(1)
	}
	w, _, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	tp := sm.TopicPartition{Topic: "s", Partition: 0}
	b := sm.Batch{BaseOffset: 0, Epoch: 1, Records: []sm.Record{{Value: []byte("x")}}}
	b.Seal()
	if err := w.Append(tp, sm.EncodeBatch(nil, &b), true); err != nil {
		t.Fatal(err)
	}
	if n.Load() == 0 {
		t.Fatal("OnSync not called for a synced append")
	}
}
