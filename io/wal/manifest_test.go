package wal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/weirmq/weir/io/wal/walfs"
	"github.com/weirmq/weir/sm"
)

// manifestLog writes a log of segs segments (rolled by the test, as the
// state machine would) on fsys and returns its model and the segment files.
func manifestLog(t *testing.T, cfg Config, segs int) (*model, []string) {
	t.Helper()
	w, _ := mustOpen(t, cfg)
	m := &model{tp: tp0}
	var files []string
	for i := range segs {
		for j := range 5 {
			appendModelRoll(t, w, m, i > 0 && j == 0, 1, 2, 9000) // ~18 KiB: several index entries per segment
		}
		files = append(files, w.parts[tp0].active().path)
	}
	mustClose(t, w)
	return m, files
}

// wantManifest is what a scan of the model's bytes gives, segment by
// segment: the index the state machine built while appending.
func wantManifest(t *testing.T, m *model) sm.LogManifest {
	t.Helper()
	var out sm.LogManifest
	bounds := append(append([]int{0}, m.segs...), len(m.data))
	base, epoch := sm.Offset(0), sm.Epoch(0)
	for i := 0; i+1 < len(bounds); i++ {
		idx, err := sm.ScanSegment(m.data[bounds[i]:bounds[i+1]], base, epoch)
		if err != nil {
			t.Fatal(err)
		}
		idx.Sealed = i+2 < len(bounds)
		out.Segments = append(out.Segments, idx)
		base, epoch = idx.Next, max(epoch, lastEpochOf(idx))
	}
	return out
}

func lastEpochOf(idx sm.SegmentIndex) sm.Epoch {
	if n := len(idx.Epochs); n > 0 {
		return idx.Epochs[n-1].Epoch
	}
	return 0
}

func checkManifest(t *testing.T, got, want sm.LogManifest) {
	t.Helper()
	if err := got.Check(); err != nil {
		t.Fatalf("recovered manifest is invalid: %v", err)
	}
	if len(got.Segments) != len(want.Segments) || got.TopicID != want.TopicID {
		t.Fatalf("manifest: %d segments of topic %v, want %d of %v", len(got.Segments), got.TopicID, len(want.Segments), want.TopicID)
	}
	for i := range got.Segments {
		if g, w := got.Segments[i], want.Segments[i]; !sameIndex(&g, &w) || g.Sealed != w.Sealed {
			t.Fatalf("segment %d: %+v, want %+v", i, g, w)
		}
	}
}

// Open reads no byte of a sealed segment whose index file matches it: the
// manifest comes from index files and the active segment alone, so start-up
// does not grow with the data retained. The manifest is the index
// sm.IndexBuilder built.
func TestOpenReadsOnlyIndexesAndTheActiveSegment(t *testing.T) {
	mem := walfs.NewMem()
	cfg := memConfig(mem)
	cfg.ReadLogBytes = false
	m, files := manifestLog(t, cfg, 4)
	fy := walfs.NewFaulty(mem)
	var mu sync.Mutex
	opened := map[string]int{}
	fy.SetInjector(func(op walfs.Op) walfs.Fault {
		if op.Kind == walfs.OpRead {
			mu.Lock()
			opened[op.Path]++
			mu.Unlock()
		}
		return walfs.Fault{}
	})
	cfg.FS = fy
	w, rec := mustOpen(t, cfg)
	defer mustClose(t, w)
	fy.SetInjector(nil)
	for _, f := range files[:len(files)-1] {
		if opened[f] > 0 {
			t.Fatalf("Open read the sealed segment %s %d times", f, opened[f])
		}
		if opened[strings.TrimSuffix(f, ".log")+".index"] == 0 {
			t.Fatalf("Open did not read the index of %s", f)
		}
	}
	if opened[files[len(files)-1]] == 0 {
		t.Fatalf("Open did not scan the active segment")
	}
	if rec.Logs != nil || len(rec.Repairs) > 0 || len(rec.Damaged) > 0 {
		t.Fatalf("logs %v, repairs %q, damage %v", rec.Logs != nil, rec.Repairs, rec.Damaged)
	}
	checkManifest(t, rec.Manifests[tp0], wantManifest(t, m))
}

// A sealed segment's index file that is missing, corrupt, or describes other
// bytes is rebuilt from the segment and rewritten, and Open says which file
// it rebuilt; the next Open needs nothing.
func TestIndexRebuilt(t *testing.T) {
	for _, c := range []struct {
		name  string
		spoil func(t *testing.T, index, other string)
		why   string
	}{
		{"missing", func(t *testing.T, index, _ string) { os.Remove(index) }, "missing"},
		{"corrupt", func(t *testing.T, index, _ string) {
			data, _ := os.ReadFile(index)
			data[len(data)/2] ^= 0x40
			os.WriteFile(index, data, 0o644)
		}, "checksum mismatch"},
		{"short", func(t *testing.T, index, _ string) {
			data, _ := os.ReadFile(index)
			os.WriteFile(index, data[:len(data)-3], 0o644)
		}, "bad segment index"},
		{"another segment's", func(t *testing.T, index, other string) {
			data, _ := os.ReadFile(other)
			os.WriteFile(index, data, 0o644)
		}, "the segment holds"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(dir, BackendSync)
			cfg.ReadLogBytes = false
			m, files := manifestLog(t, cfg, 3)
			index := strings.TrimSuffix(files[1], ".log") + ".index"
			c.spoil(t, index, strings.TrimSuffix(files[0], ".log")+".index")
			w, rec := mustOpen(t, cfg)
			if len(rec.Repairs) != 1 || !strings.Contains(rec.Repairs[0], "rebuilt index file "+index) || !strings.Contains(rec.Repairs[0], c.why) {
				t.Fatalf("repairs %q, want the rebuild of %s (%s)", rec.Repairs, index, c.why)
			}
			checkManifest(t, rec.Manifests[tp0], wantManifest(t, m))
			mustClose(t, w)
			w, rec = mustOpen(t, cfg)
			if len(rec.Repairs) > 0 {
				t.Fatalf("second Open repaired again: %q", rec.Repairs)
			}
			checkManifest(t, rec.Manifests[tp0], wantManifest(t, m))
			mustClose(t, w)
		})
	}
}

// Bad input an operator can make, each named in what Open reports, none
// read as a silent gap: an index file whose segment was deleted, the
// active segment deleted, a foreign file (ignored, left alone, named).
func TestOperatorDamage(t *testing.T) {
	setup := func(t *testing.T) (Config, *model, []string) {
		dir := t.TempDir()
		cfg := testConfig(dir, BackendSync)
		cfg.ReadLogBytes = false
		m, files := manifestLog(t, cfg, 3)
		return cfg, m, files
	}
	t.Run("segment deleted, index left", func(t *testing.T) {
		cfg, m, files := setup(t)
		os.Remove(files[1])
		w, rec := mustOpen(t, cfg)
		defer mustClose(t, w)
		dmg := rec.Damaged[tp0]
		if dmg == nil || dmg.Path != files[1] || !strings.Contains(dmg.Reason, "segment file missing") {
			t.Fatalf("damage %v, want the missing %s", dmg, files[1])
		}
		got := rec.Manifests[tp0]
		if err := got.Check(); err != nil || got.End() != m.bases[5] || len(got.Segments) != 1 {
			t.Fatalf("manifest of the valid prefix: %+v (%v)", got, err)
		}
		// Appends are refused until a truncate accepts the loss.
		if err := w.Append(tp0, frame(tp0, got.End(), 1, 1, 10), true); err == nil || !strings.Contains(err.Error(), "damaged") {
			t.Fatalf("append to a damaged log: %v", err)
		}
		if err := w.Truncate(tp0, got.End()); err != nil {
			t.Fatal(err)
		}
		if err := w.Append(tp0, frame(tp0, got.End(), 1, 1, 10), true); err != nil {
			t.Fatal(err)
		}
		for _, f := range files[1:] {
			if _, err := os.Stat(strings.TrimSuffix(f, ".log") + ".index"); err == nil {
				t.Fatalf("index file of %s survived the repair", f)
			}
		}
	})
	t.Run("active segment deleted", func(t *testing.T) {
		cfg, _, files := setup(t)
		os.Remove(files[2])
		w, rec := mustOpen(t, cfg)
		defer mustClose(t, w)
		dmg := rec.Damaged[tp0]
		if dmg == nil || dmg.Path != files[2] || !strings.Contains(dmg.Reason, "active segment is missing") {
			t.Fatalf("damage %v, want the missing %s", dmg, files[2])
		}
	})
	t.Run("first segment deleted, index left", func(t *testing.T) {
		cfg, m, files := setup(t)
		os.Remove(files[0])
		w, rec := mustOpen(t, cfg)
		defer mustClose(t, w)
		dmg := rec.Damaged[tp0]
		if dmg == nil || dmg.Path != files[0] {
			t.Fatalf("damage %v, want the missing %s", dmg, files[0])
		}
		if got := rec.Manifests[tp0]; got.Check() != nil || got.End() != 0 || m.next == 0 {
			t.Fatalf("manifest %+v", got)
		}
	})
	t.Run("foreign files", func(t *testing.T) {
		cfg, m, files := setup(t)
		pdir := filepath.Dir(files[0])
		foreign := []string{filepath.Join(pdir, "00000000000000000000.log.bak"), filepath.Join(pdir, "README")}
		for _, f := range foreign {
			os.WriteFile(f, []byte("mine"), 0o644)
		}
		os.Mkdir(filepath.Join(pdir, "old"), 0o755)
		w, rec := mustOpen(t, cfg)
		defer mustClose(t, w)
		if len(rec.Damaged) > 0 || len(rec.Repairs) > 0 || len(rec.Warnings) != 3 {
			t.Fatalf("damage %v, repairs %q, warnings %q", rec.Damaged, rec.Repairs, rec.Warnings)
		}
		for _, f := range foreign {
			if !strings.Contains(strings.Join(rec.Warnings, "\n"), f) {
				t.Fatalf("warnings %q do not name %s", rec.Warnings, f)
			}
			if data, _ := os.ReadFile(f); string(data) != "mine" {
				t.Fatalf("%s was touched", f)
			}
		}
		checkManifest(t, rec.Manifests[tp0], wantManifest(t, m))
	})
}

// A disk that fills during a roll refuses the append that rolls with nothing
// changed: the index file or the new segment it could not write are
// removed, nothing is appended, the segment stays active and takes appends,
// and the roll succeeds once there is room.
func TestRollRefusedForSpace(t *testing.T) {
	for _, c := range []struct {
		name  string
		match func(walfs.Op) bool
	}{
		{"index write", func(op walfs.Op) bool { return op.Kind == walfs.OpWrite && strings.HasSuffix(op.Path, indexSuffix) }},
		{"index create", func(op walfs.Op) bool {
			return op.Kind == walfs.OpOpen && op.Flag&os.O_CREATE != 0 && strings.HasSuffix(op.Path, indexSuffix)
		}},
		{"segment create", func(op walfs.Op) bool {
			return op.Kind == walfs.OpOpen && op.Flag&os.O_CREATE != 0 && strings.HasSuffix(op.Path, ".log")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := walfs.NewMem()
			fy := walfs.NewFaulty(mem)
			cfg := memConfig(fy)
			cfg.ReadLogBytes = false
			w, _ := mustOpen(t, cfg)
			m := &model{tp: tp0}
			appendModel(t, w, m, 3, 1, 100)
			o := &once{match: c.match, fault: walfs.Fault{Err: syscall.ENOSPC}}
			fy.SetInjector(o.inject)
			done := newCompletions()
			exec := w.NewExecutor(done.post)
			exec.StartLog([]sm.LogOp{{ID: 1, Kind: sm.LogAppend, TP: tp0, Data: frame(tp0, m.next, 1, 1, 100), Sync: true, Roll: true}})
			d := done.wait(t, 1)[0]
			if !o.hasFired() || d.Outcome != sm.OutcomeFailed || !strings.Contains(d.Reason, "no space") {
				t.Fatalf("roll on a full disk: fault fired %v, %+v", o.hasFired(), d)
			}
			ents, _ := mem.ReadDir(filepath.Join(memRoot, "orders-0"))
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			if len(names) != 2 || names[0] != segmentName(0) || names[1] != partitionFileName {
				t.Fatalf("a refused roll left %v", names)
			}
			if st := w.Stats(); st.Rolls != 0 || st.UsedBytes != int64(len(m.data)) {
				t.Fatalf("a refused roll changed the log: %+v", st)
			}
			appendModel(t, w, m, 1, 1, 100)           // the segment is still active
			appendModelRoll(t, w, m, true, 1, 1, 100) // and rolls once there is room
			appendModel(t, w, m, 1, 1, 100)
			mustClose(t, w)
			_, rec := mustOpen(t, memConfig(mem.PowerLoss(nil)))
			checkManifest(t, rec.Manifests[tp0], wantManifest(t, m))
		})
	}
}

// A read fails, naming the file, when its segment was deleted while the WAL
// runs, and naming the file and byte on an I/O error.
func TestReadFailures(t *testing.T) {
	mem := walfs.NewMem()
	fy := walfs.NewFaulty(mem)
	cfg := memConfig(fy)
	w, _ := mustOpen(t, cfg)
	defer mustClose(t, w)
	m := &model{tp: tp0}
	appendModel(t, w, m, 3, 1, 100)
	path := w.parts[tp0].active().path
	reads := make(chan sm.LogReadDone, 4)
	exec := w.NewExecutor(func(sm.LogDone) {}).WithReads(func(d sm.LogReadDone) { reads <- d })
	read := func(id sm.EffectID, pos int64) sm.LogReadDone {
		exec.StartRead([]sm.LogRead{{ID: id, TP: tp0, Segment: 0, Pos: pos, MaxBytes: 1 << 20}})
		return <-reads
	}
	if d := read(1, 0); d.Outcome != sm.OutcomeOK || !bytes.Equal(d.Data, m.data) {
		t.Fatalf("read: %+v", d)
	}
	pos := int64(m.starts[1])
	fy.SetInjector((&once{match: onSegment(walfs.OpRead), fault: walfs.Fault{Err: syscall.EIO}}).inject)
	if d := read(2, pos); d.Outcome != sm.OutcomeFailed || !strings.Contains(d.Reason, path) || !strings.Contains(d.Reason, fmt.Sprintf("at byte %d", pos)) ||
		!strings.Contains(d.Reason, "input/output error") {
		t.Fatalf("read on EIO: %+v", d)
	}
	if err := mem.Remove(path); err != nil {
		t.Fatal(err)
	}
	if d := read(3, 0); d.Outcome != sm.OutcomeFailed || !strings.Contains(d.Reason, path+" is missing") {
		t.Fatalf("read of a deleted segment: %+v", d)
	}
	if d := read(4, 0); d.Outcome != sm.OutcomeFailed {
		t.Fatalf("read again: %+v", d)
	}
}

// Reads run off the committer: a read completes while a commit group is
// held up before its completions, and sees only the appends that completed before it, not
// the one whose group is still running.
func TestReadsDoNotWaitForAppends(t *testing.T) {
	cfg := memConfig(walfs.NewMem())
	release := make(chan struct{})
	inSync := make(chan struct{}, 1)
	var hold atomic.Bool
	// OnSync runs on the committer after the group's writes and fdatasyncs,
	// before its completions.
	cfg.OnSync = func(time.Duration) {
		if hold.Load() {
			inSync <- struct{}{}
			<-release
		}
	}
	w, _ := mustOpen(t, cfg)
	defer mustClose(t, w)
	m := &model{tp: tp0}
	appendModel(t, w, m, 2, 1, 100)
	completed := bytes.Clone(m.data)
	hold.Store(true)
	done := newCompletions()
	reads := make(chan sm.LogReadDone, 1)
	exec := w.NewExecutor(done.post).WithReads(func(d sm.LogReadDone) { reads <- d })
	exec.StartLog([]sm.LogOp{{ID: 1, Kind: sm.LogAppend, TP: tp0, Data: m.add(1, 1, 100), Sync: true}})
	<-inSync // the group wrote and synced its bytes and has not completed
	exec.StartRead([]sm.LogRead{{ID: 2, TP: tp0, Segment: 0, MaxBytes: 1 << 20}})
	select {
	case d := <-reads:
		if d.Outcome != sm.OutcomeOK || !bytes.Equal(d.Data, completed) {
			t.Fatalf("read during an append: %d bytes, want the %d completed", len(d.Data), len(completed))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a read waited for a commit group's fdatasync")
	}
	hold.Store(false)
	close(release)
	if d := done.wait(t, 1)[0]; d.Outcome != sm.OutcomeOK {
		t.Fatal(d.Reason)
	}
	exec.StartRead([]sm.LogRead{{ID: 3, TP: tp0, Segment: 0, MaxBytes: 1 << 20}})
	if d := <-reads; !bytes.Equal(d.Data, m.data) {
		t.Fatalf("read after the append completed: %d bytes, want %d", len(d.Data), len(m.data))
	}
}

// A log records its topic ID in its PARTITION file when it is created; a
// directory written before topic IDs recovers with the zero ID and takes
// the first ID an operation names; an op naming another ID fails and
// writes nothing.
func TestTopicIDs(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir, BackendSync)
	cfg.ReadLogBytes = false
	w, _ := mustOpen(t, cfg)
	idA, idB := sm.TopicID{1}, sm.TopicID{2}
	m := &model{tp: tp0}
	if err := w.Do(sm.LogOp{Kind: sm.LogAppend, TP: tp0, TopicID: idA, Data: m.add(1, 1, 10), Sync: true}); err != nil {
		t.Fatal(err)
	}
	err := w.Do(sm.LogOp{Kind: sm.LogAppend, TP: tp0, TopicID: idB, Data: frame(tp0, m.next, 1, 1, 10), Sync: true})
	if err == nil || !strings.Contains(err.Error(), "belongs to topic ID "+idA.String()) || errors.Is(err, ErrRefused) {
		t.Fatalf("append naming another topic: %v", err)
	}
	mustClose(t, w)
	w, rec := mustOpen(t, cfg)
	if got := rec.Manifests[tp0]; got.TopicID != idA || got.End() != m.next {
		t.Fatalf("manifest %+v", got)
	}
	mustClose(t, w)

	// An older WAL's directory: no PARTITION file.
	os.Remove(filepath.Join(dir, "orders-0", partitionFileName))
	w, rec = mustOpen(t, cfg)
	if got := rec.Manifests[tp0]; got.TopicID != (sm.TopicID{}) {
		t.Fatalf("legacy directory has topic ID %v", got.TopicID)
	}
	if err := w.Do(sm.LogOp{Kind: sm.LogAppend, TP: tp0, TopicID: idB, Data: m.add(1, 1, 10), Sync: true}); err != nil {
		t.Fatal(err)
	}
	mustClose(t, w)
	w, rec = mustOpen(t, cfg)
	defer mustClose(t, w)
	if got := rec.Manifests[tp0]; got.TopicID != idB {
		t.Fatalf("adopted topic ID %v, want %v", got.TopicID, idB)
	}

	// A corrupt PARTITION file is named and the ID reported unknown.
	data, _ := os.ReadFile(filepath.Join(dir, "orders-0", partitionFileName))
	data[len(data)-1] ^= 1
	mustClose(t, w)
	os.WriteFile(filepath.Join(dir, "orders-0", partitionFileName), data, 0o644)
	w, rec = mustOpen(t, cfg)
	if len(rec.Warnings) != 1 || !strings.Contains(rec.Warnings[0], partitionFileName+": wal: bad PARTITION file: checksum mismatch") ||
		rec.Manifests[tp0].TopicID != (sm.TopicID{}) {
		t.Fatalf("warnings %q, id %v", rec.Warnings, rec.Manifests[tp0].TopicID)
	}
}

// Whatever bytes a PARTITION file holds, the decoder does not panic, and
// what it accepts encodes back to the same bytes.
//
//	go test ./io/wal -run '^$' -fuzz FuzzPartitionFile -fuzztime 30s
func FuzzPartitionFile(f *testing.F) {
	f.Add(encodePartitionFile(tp0, sm.TopicID{1, 2, 3}))
	f.Add(encodePartitionFile(sm.TopicPartition{Topic: "x", Partition: 1 << 30}, sm.TopicID{}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		tp, id, err := decodePartitionFile(data)
		if err != nil {
			if !errors.Is(err, errBadPartitionFile) {
				t.Fatalf("error %v is not errBadPartitionFile", err)
			}
			return
		}
		if again := encodePartitionFile(tp, id); !bytes.Equal(again, data) {
			t.Fatalf("decoded %v %v from bytes that do not re-encode to themselves", tp, id)
		}
	})
}

// After a clean Close, Open scans only the active segment's bytes past the
// checkpoint Close left, and builds the same index a full scan does; a
// corrupt checkpoint costs a full scan, never a wrong manifest. The
// checkpoint is used once: Open removes it (durably, before any operation,
// so an old one can never describe a segment changed since).
func TestCheckpointSparesTheActiveScan(t *testing.T) {
	mem := walfs.NewMem()
	cfg := memConfig(mem)
	cfg.ReadLogBytes = false
	w, _ := mustOpen(t, cfg)
	m := &model{tp: tp0}
	for range 40 {
		appendModel(t, w, m, 1, 3, 10000) // 1.2 MiB, past checkpointMinBytes
	}
	active := w.parts[tp0].active()
	mustClose(t, w)
	cp := active.checkpointPath()
	if _, err := mem.Stat(cp); err != nil {
		t.Fatalf("clean Close left no checkpoint: %v", err)
	}
	reopen := func(what string, wantFrom int64) {
		t.Helper()
		fy := walfs.NewFaulty(mem)
		var mu sync.Mutex
		from := int64(-1)
		fy.SetInjector(func(op walfs.Op) walfs.Fault {
			mu.Lock()
			defer mu.Unlock()
			if op.Kind == walfs.OpRead && op.Path == active.path && (from < 0 || op.Off < from) {
				from = op.Off
			}
			return walfs.Fault{}
		})
		cfg.FS = fy
		w, rec := mustOpen(t, cfg)
		if from != wantFrom || len(rec.Repairs) > 0 {
			t.Fatalf("%s: Open read the active segment from byte %d, want %d (repairs %q)", what, from, wantFrom, rec.Repairs)
		}
		checkManifest(t, rec.Manifests[tp0], wantManifest(t, m))
		if _, err := mem.Stat(cp); err == nil {
			t.Fatalf("%s: the checkpoint survived Open", what)
		}
		appendModel(t, w, m, 1, 1, 100) // the resumed index keeps building
		mustClose(t, w)
	}
	reopen("checkpoint", int64(len(m.data)))
	raw, err := walfs.ReadFile(mem, cp)
	if err != nil {
		t.Fatal(err)
	}
	raw[20] ^= 1
	f, _ := mem.OpenFile(cp, os.O_RDWR, 0)
	f.Pwrite(raw, 0)
	f.Close()
	reopen("corrupt checkpoint", 0)
	// A power loss after a clean Close may keep the checkpoint or not (its
	// directory entry is not synced): the manifest is the same.
	_, rec := mustOpen(t, memConfig(mem.PowerLoss(nil)))
	checkManifest(t, rec.Manifests[tp0], wantManifest(t, m))
}

// sm.LogDamaged records corruption a read found, durably: every Open until
// a truncate to the offset or below (or a reset) reports the log damaged
// with the note and a manifest cut at the offset, changing nothing on disk;
// the truncate that accepts the loss cuts the bytes and clears the record.
func TestLogDamaged(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir, BackendSync)
	cfg.ReadLogBytes = false
	m, files := manifestLog(t, cfg, 3)
	at := m.bases[7] // inside the second segment (batches 5-9)
	w, _ := mustOpen(t, cfg)
	if err := w.Do(sm.LogOp{Kind: sm.LogDamaged, TP: tp0, Offset: at, Note: "crc mismatch at offset 14 (read)"}); err != nil {
		t.Fatal(err)
	}
	mustClose(t, w)
	sizes := func() []int64 {
		var out []int64
		for _, f := range files {
			out = append(out, fileSize(t, f))
		}
		return out
	}
	before := sizes()
	cut := &model{tp: tp0, data: m.data[:m.starts[7]], starts: m.starts[:7], bases: m.bases[:7], next: at, segs: m.segs[:1]}
	for range 2 { // reported at every start
		w, rec := mustOpen(t, cfg)
		dmg := rec.Damaged[tp0]
		if dmg == nil || dmg.Offset != at || !strings.Contains(dmg.Reason, "crc mismatch at offset 14") || dmg.Path != files[1] {
			t.Fatalf("damage %+v", dmg)
		}
		want := wantManifest(t, cut)
		checkManifest(t, rec.Manifests[tp0], want)
		if err := w.Append(tp0, frame(tp0, at, 1, 1, 10), true); err == nil {
			t.Fatal("append to a log with recorded damage accepted")
		}
		mustClose(t, w)
		if !slices.Equal(sizes(), before) {
			t.Fatalf("recording damage changed the segments: %v -> %v", before, sizes())
		}
	}
	w, _ = mustOpen(t, cfg)
	if err := w.Truncate(tp0, at); err != nil {
		t.Fatal(err)
	}
	appendModel(t, w, cut, 1, 1, 10)
	mustClose(t, w)
	w, rec := mustOpen(t, cfg)
	if len(rec.Damaged) > 0 {
		t.Fatalf("damage after the truncate accepted it: %v", rec.Damaged)
	}
	checkManifest(t, rec.Manifests[tp0], wantManifest(t, cut))
	// Recorded and cleared while running: a truncate below it, or a reset.
	if err := w.Do(sm.LogOp{Kind: sm.LogDamaged, TP: tp0, Offset: cut.bases[3], Note: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Truncate(tp0, cut.bases[2]); err != nil {
		t.Fatal(err)
	}
	if err := w.Do(sm.LogOp{Kind: sm.LogDamaged, TP: tp0, Offset: cut.bases[1], Note: "y"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Do(sm.LogOp{Kind: sm.LogReset, TP: tp0, Offset: 500}); err != nil {
		t.Fatal(err)
	}
	mustClose(t, w)
	w, rec = mustOpen(t, cfg)
	defer mustClose(t, w)
	if man := rec.Manifests[tp0]; len(rec.Damaged) > 0 || man.Start() != 500 {
		t.Fatalf("damage %v, manifest %+v", rec.Damaged, man)
	}
}

// Whatever bytes a DAMAGED file holds, the decoder does not panic, and what
// it accepts encodes back to the same bytes.
//
//	go test ./io/wal -run '^$' -fuzz FuzzDamagedFile -fuzztime 30s
func FuzzDamagedFile(f *testing.F) {
	f.Add(encodeDamagedFile(damageRecord{offset: 17, note: "crc mismatch"}))
	f.Add(encodeDamagedFile(damageRecord{}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeDamagedFile(data)
		if err != nil {
			if !errors.Is(err, errBadDamagedFile) {
				t.Fatalf("error %v is not errBadDamagedFile", err)
			}
			return
		}
		if again := encodeDamagedFile(r); !bytes.Equal(again, data) {
			t.Fatalf("decoded %+v from bytes that do not re-encode to themselves", r)
		}
	})
}
