package wal

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weirmq/weir/io/uring"
	"github.com/weirmq/weir/sm"
)

// forBackends runs one test body against each backend; io_uring is skipped,
// saying why, only when the kernel refuses it at runtime.
func forBackends(t *testing.T, body func(t *testing.T, backend string)) {
	t.Helper()
	for _, be := range []string{BackendSync, BackendUring} {
		t.Run(be, func(t *testing.T) {
			if be == BackendUring {
				if err := uring.Available(); err != nil {
					t.Skipf("io_uring refused by this kernel at runtime: %v", err)
				}
			}
			body(t, be)
		})
	}
}

func testConfig(dir, backend string) Config {
	return Config{
		Path:         dir,
		FsyncOnWrite: true,
		Backend:      backend,
		RingEntries:  8, // small, so groups exercise the ring's flow control
		// The older tests check recovered bytes; the manifest tests
		// (manifest_test.go) run without it.
		ReadLogBytes: true,
	}
}

func mustOpen(t testing.TB, cfg Config) (*WAL, Recovery) {
	t.Helper()
	w, rec, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", cfg.Path, err)
	}
	if cfg.Backend != BackendAuto && w.Backend().Name != cfg.Backend {
		t.Fatalf("backend %q, asked for %q", w.Backend().Name, cfg.Backend)
	}
	return w, rec
}

func mustClose(t testing.TB, w *WAL) {
	t.Helper()
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// value is the deterministic payload of the record at off, so a test (or
// the crash test's parent) can check any recovered record.
func value(tp sm.TopicPartition, off sm.Offset, size int) []byte {
	seed := fmt.Sprintf("%s/%d@%d:", tp.Topic, tp.Partition, off)
	v := bytes.Repeat([]byte(seed), size/len(seed)+1)
	return v[:size]
}

// frame encodes one sealed batch of records starting at base.
func frame(tp sm.TopicPartition, base sm.Offset, epoch sm.Epoch, records, size int) []byte {
	// Timestamps go back now and then, as leaders' clocks may.
	b := sm.Batch{BaseOffset: base, Epoch: epoch, Timestamp: 1_700_000_000_000 + int64(base*37%500)}
	for i := range records {
		off := base + sm.Offset(i)
		b.Records = append(b.Records, sm.Record{Key: fmt.Appendf(nil, "k%d", off), Value: value(tp, off, size)})
	}
	b.Seal()
	return sm.EncodeBatch(nil, &b)
}

// model is what a partition's log should hold: its bytes and the frame
// boundaries.
type model struct {
	tp     sm.TopicPartition
	data   []byte
	starts []int       // byte position of each frame
	bases  []sm.Offset // base offset of each frame
	next   sm.Offset
	// rollAt, when set, makes appendModel roll the active segment before an
	// append that would take it past rollAt bytes, as the state machine
	// does with segment_bytes; segs are the segments' byte starts in data.
	rollAt int
	segs   []int
	rolls  int
}

// segBytes is the size of the model's active segment.
func (m *model) segBytes() int {
	if len(m.segs) == 0 {
		return len(m.data)
	}
	return len(m.data) - m.segs[len(m.segs)-1]
}

// roll records a roll at the model's end.
func (m *model) roll() {
	m.segs = append(m.segs, len(m.data))
	m.rolls++
}

// add returns frames for n batches of recs records continuing the model,
// and records them.
func (m *model) add(n, recs, size int) []byte {
	var out []byte
	for range n {
		m.starts = append(m.starts, len(m.data))
		m.bases = append(m.bases, m.next)
		f := frame(m.tp, m.next, 1, recs, size)
		m.data = append(m.data, f...)
		out = append(out, f...)
		m.next += sm.Offset(recs)
	}
	return out
}

// truncate cuts the model at off, a frame boundary.
func (m *model) truncate(off sm.Offset) {
	i, _ := slices.BinarySearch(m.bases, off)
	if i < len(m.starts) {
		m.data = m.data[:m.starts[i]]
		m.starts, m.bases = m.starts[:i], m.bases[:i]
	}
	m.next = off
	for len(m.segs) > 0 && m.segs[len(m.segs)-1] > len(m.data) {
		m.segs = m.segs[:len(m.segs)-1]
	}
}

// appendModel appends n batches to m's log, rolling first (an append with
// sm.LogOp.Roll, as the state machine rolls) when m.rollAt says so.
func appendModel(t testing.TB, w *WAL, m *model, n, recs, size int) {
	t.Helper()
	roll := m.rollAt > 0 && m.segBytes() > 0 && m.segBytes()+n*(sm.FrameHeaderBytes+recs*(12+size)) > m.rollAt
	appendModelRoll(t, w, m, roll, n, recs, size)
}

// appendModelRoll appends n batches to m's log, rolling first if roll.
func appendModelRoll(t testing.TB, w *WAL, m *model, roll bool, n, recs, size int) {
	t.Helper()
	if roll && m.segBytes() > 0 {
		m.roll()
	}
	if err := w.Do(sm.LogOp{Kind: sm.LogAppend, TP: m.tp, Data: m.add(n, recs, size), Sync: true, Roll: roll}); err != nil {
		t.Fatalf("append to %v: %v", m.tp, err)
	}
}

func checkLog(t testing.TB, rec Recovery, m *model) {
	t.Helper()
	got, ok := rec.Logs[m.tp]
	if !ok {
		t.Fatalf("recovered no log for %v", m.tp)
	}
	if !bytes.Equal(got, m.data) {
		t.Fatalf("%v: recovered %d bytes, want %d (first difference at byte %d)",
			m.tp, len(got), len(m.data), firstDiff(got, m.data))
	}
	batches, n, err := sm.DecodeLog(got)
	if err != nil || n != len(got) || len(batches) != len(m.bases) {
		t.Fatalf("%v: recovered log decodes to %d batches over %d bytes, err %v", m.tp, len(batches), n, err)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// segments lists a partition directory's segment files in order.
func segments(t testing.TB, dir string, tp sm.TopicPartition) []string {
	t.Helper()
	name, err := dirName(tp)
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, name, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	return files
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// completions collects an Executor's LogDone events.
type completions struct {
	mu   sync.Mutex
	done []sm.LogDone
	ch   chan sm.LogDone
}

func newCompletions() *completions { return &completions{ch: make(chan sm.LogDone, 1024)} }

func (c *completions) post(d sm.LogDone) {
	c.mu.Lock()
	c.done = append(c.done, d)
	c.mu.Unlock()
	c.ch <- d
}

func (c *completions) wait(t testing.TB, n int) []sm.LogDone {
	t.Helper()
	for i := range n {
		select {
		case <-c.ch:
		case <-time.After(30 * time.Second):
			t.Fatalf("waited 30s for completion %d of %d", i+1, n)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.done)
}

// setSyncMark records in the WAL at root that only size bytes of segment
// file seg were synced, as if the rest was written by a group whose
// fdatasync a crash interrupted.
func setSyncMark(t testing.TB, root, seg string, size int64) {
	t.Helper()
	base, ok := parseSegmentName(filepath.Base(seg))
	if !ok {
		t.Fatalf("%s is not a segment", seg)
	}
	f, err := os.OpenFile(filepath.Join(root, ledgerName), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rec := appendLedgerRecord(nil, filepath.Base(filepath.Dir(seg)), syncMark{base: int64(base), size: size})
	if _, err := f.Write(rec); err != nil {
		t.Fatal(err)
	}
}
