package tier

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/host"
)

// The cold-read test kit: real segment objects (EncodeBatch frames, the
// IndexBuilder's index, EncodeSegmentIndex trailer), an object store as a
// map answering gets by the op's range only when the test says so (in any
// order, failing or corrupt on demand), and a model of what a fetch must
// answer: exactly the batches the hot path would serve.

// tb is what both *testing.T and *rapid.T offer.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

var coldTP = sm.TopicPartition{Topic: "t", Partition: 3}

const (
	coldSelf     sm.NodeID = 2
	coldConsumer sm.NodeID = 1_000_001
)

// testSegment is one uploaded segment: its record, object bytes and the
// batches it holds (decoded back from the frames, as a reader returns them).
type testSegment struct {
	seg     sm.RemoteSegment
	obj     []byte
	batches []sm.Batch
}

// batchShape is one batch to build: its epoch, its records' value sizes
// and its timestamp (zero: 1000 plus its place in the segment).
type batchShape struct {
	epoch  sm.Epoch
	values []int
	ts     int64
}

// makeSegment builds the object of a segment at base holding shapes.
func makeSegment(t tb, base sm.Offset, effect sm.EffectID, shapes []batchShape) testSegment {
	t.Helper()
	var data []byte
	b := sm.NewIndexBuilder(base)
	next := base
	for i, sh := range shapes {
		bt := sm.Batch{BaseOffset: next, Epoch: sh.epoch, Timestamp: int64(1000 + i)}
		if sh.ts != 0 {
			bt.Timestamp = sh.ts
		}
		for j, n := range sh.values {
			v := make([]byte, n)
			for k := range v {
				v[k] = byte(int(next) + j*7 + k)
			}
			bt.Records = append(bt.Records, sm.Record{Key: fmt.Appendf(nil, "k%d", int(next)+j), Value: v})
		}
		bt.Seal()
		size := len(data)
		data = sm.EncodeBatch(data, &bt)
		b.Add(sm.MetaOf(&bt, len(data)-size))
		next = bt.NextOffset()
	}
	idx := b.Index()
	idx.Sealed = true
	obj := sm.EncodeSegmentIndex(slices.Clip(data), &idx)
	batches, n, err := sm.DecodeLog(data)
	if err != nil || n != len(data) {
		t.Fatalf("segment at %d does not decode: %d of %d bytes, %v", base, n, len(data), err)
	}
	name := sm.ObjectName{TopicID: sm.TopicID{1, 2, 3}, Partition: coldTP.Partition, Base: base, Epoch: shapes[0].epoch, Broker: coldSelf, Incarnation: 1, Effect: effect}.String()
	return testSegment{
		seg: sm.RemoteSegment{Name: name, Base: base, Next: next, DataBytes: int64(len(data)), IndexBytes: int64(len(obj) - len(data)),
			MaxTimestamp: idx.MaxTimestamp, LeaderEpoch: shapes[0].epoch, Epochs: idx.Epochs},
		obj: obj, batches: batches,
	}
}

// uniformShapes is n batches of per records of valueBytes, epoch 1.
func uniformShapes(n, per, valueBytes int) []batchShape {
	out := make([]batchShape, n)
	for i := range out {
		out[i].epoch = 1
		for range per {
			out[i].values = append(out[i].values, valueBytes)
		}
	}
	return out
}

// expect is the model: the batches a fetch at off must answer from segs
// (the segment holding off and the ones after it) reading at most maxSegs
// of them, with record bound maxRecords, byte bound maxBytes and high
// watermark hw: the batches the hot path serves from off, read on across
// segment boundaries, stopping before a batch that overlaps the previous
// segment (an object holding records below its record's base).
func expect(segs []testSegment, maxSegs int, off sm.Offset, maxRecords int32, maxBytes int64, hw sm.Offset) []sm.Batch {
	var out []sm.Batch
	var records sm.Offset
	var bytes int64
	for j, s := range segs[:min(len(segs), maxSegs)] {
		from := off
		if j > 0 {
			from = s.seg.Base
		}
		for _, b := range s.batches {
			if b.NextOffset() <= from {
				continue
			}
			size := int64(sm.FrameBytes(b.Records))
			if records >= sm.Offset(maxRecords) || b.BaseOffset >= hw || len(out) > 0 && (bytes+size > maxBytes || b.BaseOffset < from) {
				return out
			}
			if b.NextOffset() > hw {
				k := int(hw - b.BaseOffset)
				b.Records = b.Records[:k:k]
				b.Seal()
			}
			records += b.NextOffset() - max(from, b.BaseOffset)
			bytes += size
			out = append(out, b)
		}
	}
	return out
}

// sameBatches reports how got differs from want ("" when equal).
func sameBatches(got, want []sm.Batch) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d batches, want %d (%s vs %s)", len(got), len(want), spans(got), spans(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.BaseOffset != w.BaseOffset || g.Epoch != w.Epoch || g.Timestamp != w.Timestamp || g.CRC != w.CRC || len(g.Records) != len(w.Records) {
			return fmt.Sprintf("batch %d: [%d, %d) epoch %d ts %d crc %x, want [%d, %d) epoch %d ts %d crc %x", i,
				g.BaseOffset, g.NextOffset(), g.Epoch, g.Timestamp, g.CRC, w.BaseOffset, w.NextOffset(), w.Epoch, w.Timestamp, w.CRC)
		}
		for j := range g.Records {
			if !bytes.Equal(g.Records[j].Key, w.Records[j].Key) || !bytes.Equal(g.Records[j].Value, w.Records[j].Value) {
				return fmt.Sprintf("batch %d record %d differs", i, j)
			}
		}
		if !g.Verify() {
			return fmt.Sprintf("batch %d fails its checksum", i)
		}
	}
	return ""
}

func spans(bs []sm.Batch) string {
	s := ""
	for _, b := range bs {
		s += fmt.Sprintf("[%d,%d)", b.BaseOffset, b.NextOffset())
	}
	return s
}

// coldWorld is one ColdReader, its cache and an object store the test
// completes by hand.
type coldWorld struct {
	t       tb
	cache   *ColdCache
	r       *ColdReader
	ids     host.IDs
	objs    map[string][]byte
	segs    []testSegment
	ops     []sm.ObjectOp // issued, not completed, in issue order
	issued  []sm.ObjectOp // every op ever issued
	replies []sm.FetchResponse
	seeks   []SeekResult
	probes  []sm.Probe
	view    View
	reqID   uint64
}

func newColdWorld(t tb, cc ColdCacheConfig, rc ColdReaderConfig, segs ...testSegment) *coldWorld {
	rc.TP, rc.Self = coldTP, coldSelf
	w := &coldWorld{t: t, cache: NewColdCache(cc), objs: map[string][]byte{}, segs: segs}
	w.r = NewColdReader(rc, w.cache)
	for _, s := range segs {
		w.objs[s.seg.Name] = slices.Clone(s.obj)
	}
	w.view = View{HighWatermark: segs[len(segs)-1].seg.Next + 100, LogStart: segs[0].seg.Base, LeaderEpoch: 7}
	return w
}

// settle takes the reader's output and checks its and the cache's
// invariants.
func (w *coldWorld) settle() {
	w.t.Helper()
	ops, replies, probes := w.r.TakeOutput(&w.ids)
	for _, op := range ops {
		if op.Kind != sm.ObjGet || op.Len <= 0 || op.Off < 0 {
			w.t.Fatalf("reader issued %+v", op)
		}
	}
	w.ops = append(w.ops, ops...)
	w.issued = append(w.issued, ops...)
	for _, e := range replies {
		resp, ok := e.Msg.(sm.FetchResponse)
		if !ok || e.From != coldSelf || e.To != coldConsumer {
			w.t.Fatalf("reader sent %+v", e)
		}
		w.replies = append(w.replies, resp)
	}
	for _, s := range w.r.TakeSeeks() {
		if s.From != coldConsumer || s.TP != coldTP {
			w.t.Fatalf("reader answered seek %+v", s)
		}
		w.seeks = append(w.seeks, s)
	}
	w.probes = append(w.probes, probes...)
	if err := w.r.CheckInvariants(); err != nil {
		w.t.Fatalf("%v", err)
	}
	if err := w.cache.CheckInvariants(); err != nil {
		w.t.Fatalf("%v", err)
	}
}

// segIndex is the index in w.segs of the segment holding off.
func (w *coldWorld) segIndex(off sm.Offset) int {
	for i := range w.segs {
		if w.segs[i].seg.Base <= off && off < w.segs[i].seg.Next {
			return i
		}
	}
	w.t.Fatalf("no segment holds %d", off)
	return -1
}

// fetch asks for off (maxRecords 0: the default) and returns the request.
func (w *coldWorld) fetch(off sm.Offset, maxRecords int32) sm.FetchRequest {
	w.t.Helper()
	w.reqID++
	req := sm.FetchRequest{ReqID: w.reqID, TP: coldTP, Offset: off, MaxRecords: maxRecords}
	segs := make([]sm.RemoteSegment, 0, 2)
	for _, s := range w.segs[w.segIndex(off):] {
		segs = append(segs, s.seg)
	}
	w.r.Fetch(0, coldConsumer, req, segs, w.view)
	w.settle()
	return req
}

// serve is the store's answer to op.
func (w *coldWorld) serve(op sm.ObjectOp) sm.ObjectDone {
	obj, ok := w.objs[op.Name]
	if !ok {
		return sm.ObjectDone{ID: op.ID, Outcome: sm.OutcomeFailed, Err: sm.ObjErrNotFound, Reason: "no such object"}
	}
	if op.Off > int64(len(obj)) {
		return sm.ObjectDone{ID: op.ID, Outcome: sm.OutcomeFailed, Err: sm.ObjErrInvalid, Reason: "range past the end"}
	}
	end := min(int64(len(obj)), op.Off+op.Len)
	return sm.ObjectDone{ID: op.ID, Outcome: sm.OutcomeOK, Data: slices.Clone(obj[op.Off:end]), Size: int64(len(obj)), Generation: 1}
}

// complete answers pending op i (from the store, or failed).
func (w *coldWorld) complete(i int, fail bool) {
	w.t.Helper()
	op := w.ops[i]
	w.ops = slices.Delete(w.ops, i, i+1)
	d := w.serve(op)
	if fail {
		d = sm.ObjectDone{ID: op.ID, Outcome: sm.OutcomeFailed, Err: sm.ObjErrUnavailable, Reason: "503 from the test"}
	}
	if !w.r.OnObjectDone(0, d, w.view) {
		w.t.Fatalf("reader disowned its get %d", op.ID)
	}
	w.settle()
}

// drain completes every pending op, oldest first, until none is left.
func (w *coldWorld) drain() {
	w.t.Helper()
	for len(w.ops) > 0 {
		w.complete(0, false)
	}
}

// takeReply returns the one reply since the last call.
func (w *coldWorld) takeReply() sm.FetchResponse {
	w.t.Helper()
	if len(w.replies) != 1 {
		w.t.Fatalf("%d replies, want 1: %+v", len(w.replies), w.replies)
	}
	r := w.replies[0]
	w.replies = nil
	return r
}

// check verifies an OK reply to req against the model.
func (w *coldWorld) check(req sm.FetchRequest, resp sm.FetchResponse) {
	w.t.Helper()
	w.checkUpTo(req, resp, false)
}

// checkUpTo verifies an OK reply to req against the model; with partial,
// it may be a prefix of the model's answer (the fetch met a failed get
// after some batches), never empty.
func (w *coldWorld) checkUpTo(req sm.FetchRequest, resp sm.FetchResponse, partial bool) {
	w.t.Helper()
	if resp.Code != sm.CodeOK || resp.ReqID != req.ReqID || resp.TP != coldTP || resp.HighWatermark != w.view.HighWatermark ||
		resp.LogStart != w.view.LogStart || resp.LeaderEpoch != w.view.LeaderEpoch || resp.LeaderHint != coldSelf {
		w.t.Fatalf("fetch %d at %d: answer %v %q hw %d start %d epoch %d hint %d", req.ReqID, req.Offset, resp.Code, resp.Message,
			resp.HighWatermark, resp.LogStart, resp.LeaderEpoch, resp.LeaderHint)
	}
	segs := w.segs[w.segIndex(req.Offset):]
	maxRecords := req.MaxRecords
	if maxRecords <= 0 || maxRecords > w.r.cfg.FetchMaxRecords {
		maxRecords = w.r.cfg.FetchMaxRecords
	}
	want := expect(segs, w.r.cfg.MaxSegments, req.Offset, maxRecords, w.r.cfg.FetchMaxBytes, w.view.HighWatermark)
	if partial && len(resp.Batches) > 0 && len(resp.Batches) < len(want) {
		want = want[:len(resp.Batches)]
	}
	if why := sameBatches(resp.Batches, want); why != "" {
		w.t.Fatalf("fetch %d at %d (max records %d): %s", req.ReqID, req.Offset, req.MaxRecords, why)
	}
}

// count is how many times p was reported.
func (w *coldWorld) count(p sm.Probe) int {
	n := 0
	for _, q := range w.probes {
		if q == p {
			n++
		}
	}
	return n
}
