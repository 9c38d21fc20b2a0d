package wal

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/weirmq/weir/cloud"
	"github.com/weirmq/weir/cloud/local"
	"github.com/weirmq/weir/sm"
)

var segTopic = sm.TopicID{9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6}

// segLog writes three segments of four batches each (two sealed) and
// returns the model and the sources of the sealed ones, whole.
func segLog(t *testing.T, w *WAL) (*model, []sm.SegmentSource) {
	t.Helper()
	m := &model{tp: sm.TopicPartition{Topic: "up", Partition: 1}}
	var srcs []sm.SegmentSource
	for s := range 3 {
		start, base := len(m.data), m.next
		if s > 0 {
			m.roll()
		}
		if err := w.Do(sm.LogOp{Kind: sm.LogAppend, TP: m.tp, TopicID: segTopic, Data: m.add(4, 2, 300), Sync: true, Roll: s > 0}); err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, sm.SegmentSource{TP: m.tp, TopicID: segTopic, Segment: base, Pos: 0, Len: int64(len(m.data) - start), Base: base, Next: m.next})
	}
	return m, srcs[:2]
}

func readAll(t *testing.T, w *WAL, src sm.SegmentSource) []byte {
	t.Helper()
	r, err := w.ReadSegment(src)
	if err != nil {
		t.Fatalf("ReadSegment %+v: %v", src, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %+v: %v", src, err)
	}
	return b
}

func wantGone(t *testing.T, w *WAL, src sm.SegmentSource, why string) {
	t.Helper()
	r, err := w.ReadSegment(src)
	if err == nil {
		r.Close()
		t.Fatalf("ReadSegment of a segment that %s succeeded", why)
	}
	if cloud.KindOf(err) != sm.ObjErrSourceGone {
		t.Fatalf("ReadSegment of a segment that %s: %v, want source-gone", why, err)
	}
}

// ReadSegment returns exactly the asked range of a sealed segment or of the
// active one's completed bytes, and refuses a missing one, a range past the
// end and a log of another topic incarnation.
func TestReadSegment(t *testing.T) {
	forBackends(t, func(t *testing.T, be string) {
		w, _ := mustOpen(t, testConfig(t.TempDir(), be))
		defer mustClose(t, w)
		m, srcs := segLog(t, w)
		if got := readAll(t, w, srcs[0]); !bytes.Equal(got, m.data[:m.segs[0]]) {
			t.Fatalf("segment 0: %d bytes, want %d", len(got), m.segs[0])
		}
		if got := readAll(t, w, srcs[1]); !bytes.Equal(got, m.data[m.segs[0]:m.segs[1]]) {
			t.Fatalf("segment 1: %d bytes", len(got))
		}
		part := srcs[1]
		part.Pos = int64(m.starts[5] - m.segs[0])
		part.Len = int64(m.starts[7] - m.starts[5])
		if got := readAll(t, w, part); !bytes.Equal(got, m.data[m.starts[5]:m.starts[7]]) {
			t.Fatalf("part of segment 1: %d bytes", len(got))
		}
		// The active segment's completed bytes are readable (a quiet
		// partition uploads its committed active segment); beyond them not.
		active := sm.SegmentSource{TP: m.tp, TopicID: segTopic, Segment: m.bases[8], Len: int64(len(m.data) - m.segs[1]), Base: m.bases[8], Next: m.next}
		if got := readAll(t, w, active); !bytes.Equal(got, m.data[m.segs[1]:]) {
			t.Fatalf("active segment: %d bytes, want %d", len(got), len(m.data)-m.segs[1])
		}
		active.Len++
		wantGone(t, w, active, "is shorter than the range (active)")
		missing := srcs[1]
		missing.Segment = 3
		wantGone(t, w, missing, "never existed")
		long := srcs[0]
		long.Len++
		wantGone(t, w, long, "is shorter than the range")
		other := srcs[0]
		other.TopicID = sm.TopicID{1}
		wantGone(t, w, other, "belongs to another topic incarnation")
		nolog := srcs[0]
		nolog.TP.Topic = "nolog"
		wantGone(t, w, nolog, "has no log")
	})
}

// A segment trimmed while an upload reads it is still read whole (the
// reader holds its file open); a later ReadSegment finds it gone. A
// segment cut by a truncate while read fails source-gone at the cut.
func TestReadSegmentTrimmedWhileRead(t *testing.T) {
	w, _ := mustOpen(t, testConfig(t.TempDir(), BackendSync))
	defer mustClose(t, w)
	m, srcs := segLog(t, w)
	r, err := w.ReadSegment(srcs[0])
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 100)
	if _, err := io.ReadFull(r, head); err != nil {
		t.Fatal(err)
	}
	if err := w.Do(sm.LogOp{Kind: sm.LogTrim, TP: m.tp, Offset: srcs[1].Base}); err != nil {
		t.Fatal(err)
	}
	wantGone(t, w, srcs[0], "was trimmed")
	rest, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(append(head, rest...), m.data[:m.segs[0]]) {
		t.Fatalf("trimmed while read: %d bytes, %v", len(head)+len(rest), err)
	}

	r, err = w.ReadSegment(srcs[1])
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := w.Do(sm.LogOp{Kind: sm.LogTruncate, TP: m.tp, Offset: m.bases[6]}); err != nil {
		t.Fatal(err)
	}
	wantGone(t, w, srcs[1], "was truncated away (unsealed)")
	_, err = io.ReadAll(r)
	if cloud.KindOf(err) != sm.ObjErrSourceGone {
		t.Fatalf("truncated while read: %v, want source-gone", err)
	}
}

// An upload through cloud.Executor from the WAL stores the segment's bytes,
// verified, while appends continue; one from a trimmed segment fails
// source-gone.
func TestUploadFromWAL(t *testing.T) {
	w, _ := mustOpen(t, testConfig(t.TempDir(), BackendSync))
	defer mustClose(t, w)
	m, srcs := segLog(t, w)
	st, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan sm.Event, 8)
	ex, err := cloud.NewExecutor(st, w, func(ev sm.Event) { done <- ev }, cloud.ExecutorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	next := func() sm.ObjectDone {
		select {
		case ev := <-done:
			return ev.(sm.ObjectDone)
		case <-time.After(30 * time.Second):
			t.Fatal("no completion")
			return sm.ObjectDone{}
		}
	}
	ex.StartObject([]sm.ObjectOp{{ID: 1, Kind: sm.ObjPut, Name: "seg/0", Source: &srcs[0], Data: []byte("idx"), CreateOnly: true}})
	if err := w.Do(sm.LogOp{Kind: sm.LogAppend, TP: m.tp, Data: m.add(1, 1, 10), Sync: true}); err != nil {
		t.Fatal(err)
	}
	if d := next(); d.Outcome != sm.OutcomeOK {
		t.Fatalf("upload: %+v", d)
	}
	got, err := st.Get(t.Context(), "seg/0", 0, 0)
	if err != nil || !bytes.Equal(got, append(bytes.Clone(m.data[:m.segs[0]]), "idx"...)) {
		t.Fatalf("object: %d bytes, %v", len(got), err)
	}
	if err := w.Do(sm.LogOp{Kind: sm.LogTrim, TP: m.tp, Offset: srcs[1].Next}); err != nil {
		t.Fatal(err)
	}
	ex.StartObject([]sm.ObjectOp{{ID: 2, Kind: sm.ObjPut, Name: "seg/1", Source: &srcs[1], CreateOnly: true}})
	if d := next(); d.Outcome != sm.OutcomeFailed || d.Err != sm.ObjErrSourceGone {
		t.Fatalf("upload of a trimmed segment: %+v", d)
	}
}
