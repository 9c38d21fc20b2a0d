package cloud_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirmq/weir/cloud"
	"github.com/weirmq/weir/cloud/local"
	"github.com/weirmq/weir/runtime/objtest"
	"github.com/weirmq/weir/sm"
)

// segKey names a planted segment.
type segKey struct {
	tp  sm.TopicPartition
	seg sm.Offset
}

// memSegments is a cloud.SegmentReader over planted byte slices.
type memSegments struct {
	mu   sync.Mutex
	segs map[segKey][]byte
}

func (m *memSegments) ReadSegment(src sm.SegmentSource) (io.ReadCloser, error) {
	m.mu.Lock()
	data, ok := m.segs[segKey{src.TP, src.Segment}]
	m.mu.Unlock()
	if !ok || src.Pos+src.Len > int64(len(data)) {
		return nil, &cloud.Error{Kind: sm.ObjErrSourceGone, Op: "put", Err: fmt.Errorf("segment %v/%d not there", src.TP, src.Segment)}
	}
	return io.NopCloser(bytes.NewReader(data[src.Pos : src.Pos+src.Len])), nil
}

// subject is an Executor posting into a channel.
type subject struct {
	*cloud.Executor
	segs *memSegments
	done chan sm.Event
}

func newSubject(t testing.TB, store cloud.Store, cfg cloud.ExecutorConfig) *subject {
	s := &subject{segs: &memSegments{segs: map[segKey][]byte{}}, done: make(chan sm.Event, 1024)}
	e, err := cloud.NewExecutor(store, s.segs, func(ev sm.Event) { s.done <- ev }, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Executor = e
	t.Cleanup(func() { e.Close() })
	return s
}

func (s *subject) Next(t *testing.T) sm.ObjectDone {
	select {
	case ev := <-s.done:
		return ev.(sm.ObjectDone)
	case <-time.After(30 * time.Second):
		t.Fatalf("executor: no completion within 30s")
		return sm.ObjectDone{}
	}
}

func (s *subject) Plant(t *testing.T, tp sm.TopicPartition, seg sm.Offset, data []byte) {
	s.segs.mu.Lock()
	s.segs.segs[segKey{tp, seg}] = bytes.Clone(data)
	s.segs.mu.Unlock()
}

func (s *subject) Unplant(t *testing.T, tp sm.TopicPartition, seg sm.Offset) {
	s.segs.mu.Lock()
	delete(s.segs.segs, segKey{tp, seg})
	s.segs.mu.Unlock()
}

// The executor on a local store keeps the object-store contract, with
// small pools (so ops queue) and with a bandwidth limit.
func TestExecutorLocalContract(t *testing.T) {
	for _, cfg := range []cloud.ExecutorConfig{
		{},
		{MaxConcurrentUploads: 1, MaxConcurrentReads: 2, UploadBytesPerSecond: 50 << 20},
	} {
		t.Run(fmt.Sprintf("uploads=%d", cfg.MaxConcurrentUploads), func(t *testing.T) {
			objtest.Run(t, func(t *testing.T) objtest.Subject {
				st, err := local.Open(t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				return newSubject(t, st, cfg)
			})
		})
	}
}

// fakeStore returns scripted errors and can hold puts until released.
type fakeStore struct {
	putErr, delErr, getErr error
	hold                   chan struct{} // puts wait on it (or their ctx)
	inPuts, maxPuts        atomic.Int32
	read                   atomic.Int64 // body bytes puts read
}

func (f *fakeStore) Put(ctx context.Context, name string, body io.Reader, size int64, createOnly bool) (sm.ObjectInfo, error) {
	n := f.inPuts.Add(1)
	defer f.inPuts.Add(-1)
	for {
		m := f.maxPuts.Load()
		if n <= m || f.maxPuts.CompareAndSwap(m, n) {
			break
		}
	}
	if f.hold != nil {
		select {
		case <-f.hold:
		case <-ctx.Done():
			return sm.ObjectInfo{}, &cloud.Error{Kind: sm.ObjErrUnavailable, Unknown: true, Op: "put", Name: name, Err: ctx.Err()}
		}
	}
	k, err := io.Copy(io.Discard, body)
	f.read.Add(k)
	if err != nil {
		return sm.ObjectInfo{}, err
	}
	if f.putErr != nil {
		return sm.ObjectInfo{}, f.putErr
	}
	return sm.ObjectInfo{Name: name, Size: k, Generation: 1}, nil
}

func (f *fakeStore) Get(ctx context.Context, name string, off, n int64) ([]byte, error) {
	return []byte("x"), f.getErr
}

func (f *fakeStore) Delete(ctx context.Context, name string) error { return f.delErr }

func (f *fakeStore) List(ctx context.Context, prefix, after string, limit int) ([]sm.ObjectInfo, bool, error) {
	return nil, false, nil
}

func (f *fakeStore) Close() error { return nil }

func one(t *testing.T, s *subject, op sm.ObjectOp) sm.ObjectDone {
	t.Helper()
	s.StartObject([]sm.ObjectOp{op})
	d := s.Next(t)
	if d.ID != op.ID {
		t.Fatalf("completion of %d, want %d", d.ID, op.ID)
	}
	return d
}

// Store errors map to outcomes as sm.ObjectDone documents: Failed only
// when nothing happened, Unknown for a put or delete that may have landed;
// gets always Failed; a delete of a missing object OK with not-found.
func TestExecutorOutcomes(t *testing.T) {
	sure := &cloud.Error{Kind: sm.ObjErrThrottled, Op: "put", Err: errors.New("429")}
	maybe := &cloud.Error{Kind: sm.ObjErrUnavailable, Unknown: true, Op: "put", Err: errors.New("timeout after send")}
	plain := errors.New("connection reset")
	for _, c := range []struct {
		name    string
		store   *fakeStore
		op      sm.ObjectOp
		outcome sm.Outcome
		err     sm.ObjErr
	}{
		{"put-ok", &fakeStore{}, sm.ObjectOp{Kind: sm.ObjPut, Name: "a"}, sm.OutcomeOK, sm.ObjErrNone},
		{"put-sure", &fakeStore{putErr: sure}, sm.ObjectOp{Kind: sm.ObjPut, Name: "a"}, sm.OutcomeFailed, sm.ObjErrThrottled},
		{"put-exists", &fakeStore{putErr: &cloud.Error{Kind: sm.ObjErrExists}}, sm.ObjectOp{Kind: sm.ObjPut, Name: "a", CreateOnly: true}, sm.OutcomeFailed, sm.ObjErrExists},
		{"put-maybe", &fakeStore{putErr: maybe}, sm.ObjectOp{Kind: sm.ObjPut, Name: "a"}, sm.OutcomeUnknown, sm.ObjErrUnavailable},
		{"put-unclassified", &fakeStore{putErr: plain}, sm.ObjectOp{Kind: sm.ObjPut, Name: "a"}, sm.OutcomeUnknown, sm.ObjErrUnavailable},
		{"delete-maybe", &fakeStore{delErr: maybe}, sm.ObjectOp{Kind: sm.ObjDelete, Name: "a"}, sm.OutcomeUnknown, sm.ObjErrUnavailable},
		{"delete-unclassified", &fakeStore{delErr: plain}, sm.ObjectOp{Kind: sm.ObjDelete, Name: "a"}, sm.OutcomeUnknown, sm.ObjErrUnavailable},
		{"delete-sure", &fakeStore{delErr: sure}, sm.ObjectOp{Kind: sm.ObjDelete, Name: "a"}, sm.OutcomeFailed, sm.ObjErrThrottled},
		{"delete-missing", &fakeStore{delErr: &cloud.Error{Kind: sm.ObjErrNotFound}}, sm.ObjectOp{Kind: sm.ObjDelete, Name: "a"}, sm.OutcomeOK, sm.ObjErrNotFound},
		{"get-maybe", &fakeStore{getErr: maybe}, sm.ObjectOp{Kind: sm.ObjGet, Name: "a"}, sm.OutcomeFailed, sm.ObjErrUnavailable},
		{"get-unclassified", &fakeStore{getErr: plain}, sm.ObjectOp{Kind: sm.ObjGet, Name: "a"}, sm.OutcomeFailed, sm.ObjErrUnavailable},
		{"bad-kind", &fakeStore{}, sm.ObjectOp{Kind: 9, Name: "a"}, sm.OutcomeFailed, sm.ObjErrInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSubject(t, c.store, cloud.ExecutorConfig{})
			c.op.ID = 7
			d := one(t, s, c.op)
			if d.Outcome != c.outcome || d.Err != c.err {
				t.Fatalf("%v %v (%s), want %v %v", d.Outcome, d.Err, d.Reason, c.outcome, c.err)
			}
			if d.Outcome != sm.OutcomeOK && d.Reason == "" {
				t.Fatalf("no reason")
			}
		})
	}
}

// A controller's executor has no segment reader: a put with a Source fails
// invalid and reads nothing.
func TestExecutorNoSegmentReader(t *testing.T) {
	done := make(chan sm.Event, 1)
	e, err := cloud.NewExecutor(&fakeStore{}, nil, func(ev sm.Event) { done <- ev }, cloud.ExecutorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.StartObject([]sm.ObjectOp{{ID: 3, Kind: sm.ObjPut, Name: "a", Source: &sm.SegmentSource{Len: 10, Next: 1}}})
	d := (<-done).(sm.ObjectDone)
	if d.ID != 3 || d.Outcome != sm.OutcomeFailed || d.Err != sm.ObjErrInvalid {
		t.Fatalf("%+v", d)
	}
}

// Puts run at most MaxConcurrentUploads at a time, and gets are not stuck
// behind them.
func TestExecutorPools(t *testing.T) {
	f := &fakeStore{hold: make(chan struct{})}
	s := newSubject(t, f, cloud.ExecutorConfig{MaxConcurrentUploads: 2, MaxConcurrentReads: 1})
	var ops []sm.ObjectOp
	for i := range 6 {
		ops = append(ops, sm.ObjectOp{ID: sm.EffectID(i + 1), Kind: sm.ObjPut, Name: fmt.Sprint(i), Data: []byte("d")})
	}
	s.StartObject(ops)
	deadline := time.Now().Add(5 * time.Second)
	for f.inPuts.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	d := one(t, s, sm.ObjectOp{ID: 100, Kind: sm.ObjGet, Name: "g"}) // while both upload slots are taken
	if d.Outcome != sm.OutcomeOK {
		t.Fatalf("get: %+v", d)
	}
	close(f.hold)
	seen := map[sm.EffectID]bool{}
	for range ops {
		d := s.Next(t)
		if seen[d.ID] || d.Outcome != sm.OutcomeOK {
			t.Fatalf("put completion %+v (seen %v)", d, seen)
		}
		seen[d.ID] = true
	}
	if m := f.maxPuts.Load(); m != 2 {
		t.Fatalf("%d puts at once, want 2", m)
	}
	if st := s.Stats(); st.Puts != 6 || st.PutBytes != 6 || st.Gets != 1 || st.GetBytes != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// Close cancels in-flight puts (they complete with what the store reports,
// here Unknown), completes queued ones Failed, waits for its workers, and
// fails later ops.
func TestExecutorClose(t *testing.T) {
	f := &fakeStore{hold: make(chan struct{})}
	s := newSubject(t, f, cloud.ExecutorConfig{MaxConcurrentUploads: 1})
	s.StartObject([]sm.ObjectOp{{ID: 1, Kind: sm.ObjPut, Name: "a"}, {ID: 2, Kind: sm.ObjPut, Name: "b"}})
	for f.inPuts.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got := map[sm.EffectID]sm.ObjectDone{}
	for range 2 {
		d := s.Next(t)
		got[d.ID] = d
	}
	if got[1].Outcome != sm.OutcomeUnknown || got[2].Outcome != sm.OutcomeFailed {
		t.Fatalf("in flight %+v, queued %+v", got[1], got[2])
	}
	if f.inPuts.Load() != 0 {
		t.Fatalf("Close returned with a put running")
	}
	s.StartObject([]sm.ObjectOp{{ID: 3, Kind: sm.ObjGet, Name: "a"}})
	if d := s.Next(t); d.ID != 3 || d.Outcome != sm.OutcomeFailed {
		t.Fatalf("after close: %+v", d)
	}
}

// The bandwidth limit holds puts to about UploadBytesPerSecond.
func TestExecutorBandwidth(t *testing.T) {
	f := &fakeStore{}
	const bps = 4 << 20
	s := newSubject(t, f, cloud.ExecutorConfig{UploadBytesPerSecond: bps})
	start := time.Now()
	var ops []sm.ObjectOp
	for i := range 4 {
		ops = append(ops, sm.ObjectOp{ID: sm.EffectID(i + 1), Kind: sm.ObjPut, Name: fmt.Sprint(i), Data: make([]byte, 1<<20)})
	}
	s.StartObject(ops)
	for range ops {
		if d := s.Next(t); d.Outcome != sm.OutcomeOK {
			t.Fatalf("%+v", d)
		}
	}
	// 4 MiB at 4 MiB/s with a 1 MiB burst: at least 0.75 s.
	if el := time.Since(start); el < 700*time.Millisecond {
		t.Fatalf("4 MiB uploaded in %v at a limit of 4 MiB/s", el)
	}
}

// The verifier refuses a bad source before the store has read the whole
// body: a corrupt frame stops the upload at that frame, and the reason
// names the segment byte.
func TestExecutorVerifierStopsEarly(t *testing.T) {
	f := &fakeStore{}
	s := newSubject(t, f, cloud.ExecutorConfig{})
	var seg []byte
	for i := range 10 {
		b := sm.Batch{BaseOffset: sm.Offset(i), Epoch: 1, Records: []sm.Record{{Value: bytes.Repeat([]byte{1}, 1000)}}}
		b.Seal()
		seg = sm.EncodeBatch(seg, &b)
	}
	frame := len(seg) / 10
	seg[3*frame+100] ^= 1
	s.Plant(t, sm.TopicPartition{Topic: "t"}, 0, seg)
	src := sm.SegmentSource{TP: sm.TopicPartition{Topic: "t"}, Len: int64(len(seg)), Base: 0, Next: 10}
	d := one(t, s, sm.ObjectOp{ID: 1, Kind: sm.ObjPut, Name: "x", Source: &src, Data: []byte("trailer")})
	if d.Outcome != sm.OutcomeFailed || d.Err != sm.ObjErrSourceCorrupt || !strings.Contains(d.Reason, fmt.Sprintf("byte %d", 3*frame)) {
		t.Fatalf("%v %v %q, want source-corrupt at byte %d", d.Outcome, d.Err, d.Reason, 3*frame)
	}
	if n := f.read.Load(); n != int64(3*frame) {
		t.Fatalf("the store read %d bytes, want the %d before the bad frame", n, 3*frame)
	}
}

// Reachable follows the store's answers: a get the store failed makes it
// unreachable until an op it answers (a not-found included); source
// failures say nothing about the store.
func TestExecutorReachable(t *testing.T) {
	f := &fakeStore{getErr: &cloud.Error{Kind: sm.ObjErrUnavailable, Err: errors.New("503")}}
	s := newSubject(t, f, cloud.ExecutorConfig{})
	if !s.Reachable() {
		t.Fatal("unreachable before any op")
	}
	one(t, s, sm.ObjectOp{ID: 1, Kind: sm.ObjGet, Name: "a"})
	if s.Reachable() {
		t.Fatal("reachable after a 503")
	}
	one(t, s, sm.ObjectOp{ID: 2, Kind: sm.ObjPut, Name: "a", Source: &sm.SegmentSource{TP: sm.TopicPartition{Topic: "gone"}, Len: 1, Next: 1}})
	if s.Reachable() {
		t.Fatal("a missing source made the store reachable")
	}
	one(t, s, sm.ObjectOp{ID: 3, Kind: sm.ObjList})
	if !s.Reachable() {
		t.Fatal("unreachable after a list it answered")
	}
}
