package tier

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/weirmq/weir/sm"
)

// variedShapes is n batches of 1-4 records of 20-150 bytes, so frames
// differ in size and, with small chunks, span chunk boundaries.
func variedShapes(n int, epochEvery int) []batchShape {
	out := make([]batchShape, n)
	for i := range out {
		out[i].epoch = 1
		if epochEvery > 0 {
			out[i].epoch = sm.Epoch(1 + i/epochEvery)
		}
		for j := range i%4 + 1 {
			out[i].values = append(out[i].values, 20+(i*37+j*53)%131)
		}
	}
	return out
}

// framePositions are the byte positions of s's frames.
func framePositions(s *testSegment) []int64 {
	var out []int64
	pos := int64(0)
	for _, b := range s.batches {
		out = append(out, pos)
		pos += int64(sm.FrameBytes(b.Records))
	}
	return out
}

// Every offset of a segment whose frames span small chunks is answered with
// exactly the batches the hot path would serve, for several record and byte
// bounds.
func TestColdFetchEveryOffset(t *testing.T) {
	s := makeSegment(t, 100, 1, variedShapes(60, 0))
	const chunk = 256
	spanning := 0
	for i, p := range framePositions(&s) {
		if p/chunk != (p+int64(sm.FrameBytes(s.batches[i].Records))-1)/chunk {
			spanning++
		}
	}
	if spanning < 10 || s.seg.DataBytes < 8*chunk {
		t.Fatalf("segment of %d bytes has %d frames spanning chunks: not the shape this test needs", s.seg.DataBytes, spanning)
	}
	for _, maxBytes := range []int64{0, 1, 700, 3000} {
		for _, maxRecords := range []int32{0, 1, 3, 25} {
			w := newColdWorld(t, ColdCacheConfig{BudgetBytes: 1 << 20, ChunkBytes: chunk}, ColdReaderConfig{FetchMaxBytes: maxBytes}, s)
			for off := s.seg.Base; off < s.seg.Next; off++ {
				req := w.fetch(off, maxRecords)
				w.drain()
				w.check(req, w.takeReply())
			}
		}
	}
}

// A fetch in the middle of a segment with several index entries reads from
// the entry at or below its offset, not from the segment's start.
func TestColdFetchStartsAtIndexEntry(t *testing.T) {
	s := makeSegment(t, 0, 1, uniformShapes(120, 4, 200)) // ~100 KiB: 4 index entries
	idx, err := sm.DecodeSegmentIndex(s.obj[s.seg.DataBytes:])
	if err != nil || len(idx.Entries) < 3 {
		t.Fatalf("index: %v, %d entries", err, len(idx.Entries))
	}
	const chunk = 4096
	w := newColdWorld(t, ColdCacheConfig{ChunkBytes: chunk}, ColdReaderConfig{FetchMaxBytes: 2000}, s)
	e := idx.Entries[2]
	off := e.Offset + 5
	req := w.fetch(off, 0)
	w.complete(0, false) // the index
	if len(w.ops) == 0 || w.ops[0].Off != e.Pos/chunk*chunk {
		t.Fatalf("after the index, gets %+v; want the chunk at %d holding entry byte %d", w.ops, e.Pos/chunk*chunk, e.Pos)
	}
	for _, op := range w.ops {
		if op.Off < e.Pos/chunk*chunk {
			t.Fatalf("get %+v reads before the index entry at byte %d", op, e.Pos)
		}
	}
	w.drain()
	w.check(req, w.takeReply())
}

// The index comes from the object's trailer and the chunks end at the data
// part's end: no get reads index bytes as data or past the object.
func TestColdGetRanges(t *testing.T) {
	s := makeSegment(t, 0, 1, variedShapes(20, 0))
	w := newColdWorld(t, ColdCacheConfig{ChunkBytes: 300}, ColdReaderConfig{}, s)
	req := w.fetch(0, 0)
	if len(w.ops) != 1 || w.ops[0].Off != s.seg.DataBytes || w.ops[0].Len != s.seg.IndexBytes || w.ops[0].Name != s.seg.Name {
		t.Fatalf("first gets %+v; want the index [%d, +%d) of %s", w.ops, s.seg.DataBytes, s.seg.IndexBytes, s.seg.Name)
	}
	w.drain()
	w.check(req, w.takeReply())
	var data int64
	for _, op := range w.issued[1:] {
		if op.Off%300 != 0 || op.Off+op.Len > s.seg.DataBytes || op.Len > 300 {
			t.Fatalf("chunk get %+v not aligned to 300 within %d data bytes", op, s.seg.DataBytes)
		}
		data += op.Len
	}
	if data != s.seg.DataBytes {
		t.Fatalf("chunk gets read %d bytes of %d (one fetch of the whole segment)", data, s.seg.DataBytes)
	}
	if got := w.count(sm.ProbeColdRead); got != 1 {
		t.Fatalf("cold-read probes %d, want 1", got)
	}
	// Again: everything is cached.
	req = w.fetch(0, 0)
	if len(w.ops) != 0 {
		t.Fatalf("cached fetch issued %+v", w.ops)
	}
	w.check(req, w.takeReply())
	if got := w.count(sm.ProbeColdCacheHit); got != 1 {
		t.Fatalf("cold-cache-hit probes %d, want 1", got)
	}
	st := w.cache.Stats()
	if st.ColdReads != 1 || st.CacheHitReads != 1 || st.Hits == 0 || st.Misses == 0 || st.Gets != uint64(len(w.issued)) {
		t.Fatalf("stats %+v", st)
	}
}

// A flipped byte in a frame is never served: the fetch answers
// STORAGE_ERROR naming the object and the byte, with no batches, even when
// the corrupt frame comes after good ones; the chunk is dropped, so a read
// after the object is repaired succeeds.
func TestColdCorruptFrame(t *testing.T) {
	s := makeSegment(t, 0, 1, variedShapes(30, 0))
	pos := framePositions(&s)
	const victim = 12
	w := newColdWorld(t, ColdCacheConfig{ChunkBytes: 512}, ColdReaderConfig{}, s)
	flip := pos[victim] + 30
	w.objs[s.seg.Name][flip] ^= 0x40
	for _, off := range []sm.Offset{s.batches[victim].BaseOffset, s.batches[victim-3].BaseOffset} {
		w.fetch(off, 0)
		w.drain()
		resp := w.takeReply()
		if resp.Code != sm.CodeStorageError || len(resp.Batches) != 0 || !strings.Contains(resp.Message, s.seg.Name) ||
			!strings.Contains(resp.Message, "byte "+strconv.FormatInt(pos[victim], 10)) {
			t.Fatalf("fetch at %d over a flipped byte %d: %v %q with %d batches", off, flip, resp.Code, resp.Message, len(resp.Batches))
		}
	}
	if got := w.count(sm.ProbeCorruptionFound); got != 2 {
		t.Fatalf("corruption probes %d, want 2", got)
	}
	// A fetch that stops before the corrupt frame is served.
	req := w.fetch(0, 3)
	w.drain()
	w.check(req, w.takeReply())
	// Repaired: the corrupt chunk is not cached, so it is read again.
	w.objs[s.seg.Name][flip] ^= 0x40
	req = w.fetch(s.batches[victim].BaseOffset, 0)
	if len(w.ops) == 0 {
		t.Fatalf("the corrupt chunk stayed cached")
	}
	w.drain()
	w.check(req, w.takeReply())
	if st := w.cache.Stats(); st.Corruptions != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// An object whose bytes are not the recorded segment is refused with a
// clear STORAGE_ERROR: a corrupt index, an index of other offsets, a short
// object, frames that end before the recorded end.
func TestColdBadObject(t *testing.T) {
	s := makeSegment(t, 50, 1, variedShapes(10, 0))
	cases := []struct {
		name string
		seg  func(sm.RemoteSegment) sm.RemoteSegment
		obj  func([]byte) []byte
		want string
	}{
		{"flipped index byte", nil, func(o []byte) []byte { o[len(o)-3] ^= 1; return o }, "index"},
		{"index of other offsets", func(r sm.RemoteSegment) sm.RemoteSegment { r.Next++; return r }, nil, "recorded segment"},
		{"truncated object", nil, func(o []byte) []byte { return o[:len(o)-5] }, "returned"},
		{"missing object", nil, func([]byte) []byte { return nil }, "no such object"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := s
			if c.seg != nil {
				ts.seg = c.seg(ts.seg)
			}
			w := newColdWorld(t, ColdCacheConfig{ChunkBytes: 128}, ColdReaderConfig{}, ts)
			if c.obj != nil {
				if o := c.obj(w.objs[s.seg.Name]); o == nil {
					delete(w.objs, s.seg.Name)
				} else {
					w.objs[s.seg.Name] = o
				}
			}
			w.fetch(ts.seg.Base+2, 0)
			w.drain()
			resp := w.takeReply()
			if resp.Code != sm.CodeStorageError || len(resp.Batches) != 0 || !strings.Contains(resp.Message, s.seg.Name) || !strings.Contains(resp.Message, c.want) {
				t.Fatalf("answer %v %q with %d batches; want STORAGE_ERROR naming the object and %q", resp.Code, resp.Message, len(resp.Batches), c.want)
			}
			if w.cache.Stats().Items != 0 {
				t.Fatalf("cached %d items of a bad object", w.cache.Stats().Items)
			}
		})
	}
}

// A failed get answers the fetches waiting on it STORAGE_ERROR with its
// reason; the next fetch gets again and succeeds.
func TestColdGetFailure(t *testing.T) {
	s := makeSegment(t, 0, 1, variedShapes(10, 0))
	w := newColdWorld(t, ColdCacheConfig{ChunkBytes: 1 << 10}, ColdReaderConfig{}, s)
	w.fetch(4, 0)
	w.fetch(5, 0) // joins the index get
	if len(w.ops) != 1 {
		t.Fatalf("two fetches issued %d gets for one index", len(w.ops))
	}
	w.complete(0, false)
	w.complete(0, true) // the first chunk
	for range 2 {
		resp := w.replies[0]
		w.replies = w.replies[1:]
		if resp.Code != sm.CodeStorageError || !strings.Contains(resp.Message, "503 from the test") || !resp.Code.Retriable() {
			t.Fatalf("answer %v %q; want retriable STORAGE_ERROR with the reason", resp.Code, resp.Message)
		}
	}
	req := w.fetch(4, 0)
	w.drain()
	w.check(req, w.takeReply())
	if st := w.cache.Stats(); st.GetFailures != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// Concurrent fetches needing the same index and chunks share one get of
// each, however their answers interleave.
func TestColdDedup(t *testing.T) {
	s := makeSegment(t, 0, 1, variedShapes(40, 0))
	w := newColdWorld(t, ColdCacheConfig{ChunkBytes: 400}, ColdReaderConfig{FetchMaxBytes: 1500}, s)
	var reqs []sm.FetchRequest
	for _, off := range []sm.Offset{0, 3, 3, 8, 20} {
		reqs = append(reqs, w.fetch(off, 0))
	}
	if len(w.ops) != 1 {
		t.Fatalf("%d gets for one index", len(w.ops))
	}
	// Complete the newest first.
	for len(w.ops) > 0 {
		w.complete(len(w.ops)-1, false)
	}
	seen := map[[2]int64]bool{}
	for _, op := range w.issued {
		k := [2]int64{op.Off, op.Len}
		if seen[k] {
			t.Fatalf("bytes [%d, +%d) read twice", op.Off, op.Len)
		}
		seen[k] = true
	}
	if len(w.replies) != len(reqs) {
		t.Fatalf("%d answers to %d fetches", len(w.replies), len(reqs))
	}
	for _, resp := range w.replies {
		w.check(reqs[resp.ReqID-1], resp)
	}
}

// A sequential consumer finds the next chunk prefetched, and at a segment's
// end the next segment's index and first chunk: its next fetches need no
// get. (Fetches read one segment each here, so they stop at a's end.)
func TestColdReadAhead(t *testing.T) {
	a := makeSegment(t, 0, 1, uniformShapes(40, 1, 60))
	b := makeSegment(t, a.seg.Next, 2, uniformShapes(10, 1, 60))
	const chunk = 512
	w := newColdWorld(t, ColdCacheConfig{BudgetBytes: 1 << 20, ChunkBytes: chunk}, ColdReaderConfig{FetchMaxBytes: 400, MaxSegments: 1}, a, b)
	req := w.fetch(0, 0)
	w.complete(0, false) // index
	w.complete(0, false) // chunk 0
	resp := w.takeReply()
	w.check(req, resp)
	last := int64(0)
	for _, bt := range resp.Batches {
		last += int64(sm.FrameBytes(bt.Records))
	}
	// Read-ahead: the next readAheadChunks chunks, in order.
	if len(w.ops) != readAheadChunks {
		t.Fatalf("after a fetch ending at byte %d, gets %+v; want the read-ahead of the next %d chunks", last, w.ops, readAheadChunks)
	}
	for i, op := range w.ops {
		if want := (last-1)/chunk*chunk + chunk*int64(i+1); op.Off != want || op.Len != chunk {
			t.Fatalf("after a fetch ending at byte %d, read-ahead %d gets [%d, +%d), want [%d, +%d)", last, i, op.Off, op.Len, want, chunk)
		}
	}
	w.drain()
	// Sequential fetches through a: each finds its bytes cached.
	off := resp.Batches[len(resp.Batches)-1].NextOffset()
	hits := 0
	for off < a.seg.Next {
		req := w.fetch(off, 0)
		if len(w.replies) == 1 {
			hits++
		}
		w.drain()
		resp := w.takeReply()
		w.check(req, resp)
		off = resp.Batches[len(resp.Batches)-1].NextOffset()
	}
	if hits == 0 || w.count(sm.ProbeColdCacheHit) != hits {
		t.Fatalf("%d of the sequential fetches answered from the cache (probe %d)", hits, w.count(sm.ProbeColdCacheHit))
	}
	// The fetch that reached a's end prefetched b's index and first chunk.
	for _, k := range []coldKey{{b.seg.Name, indexChunk}, {b.seg.Name, 0}} {
		if !w.cache.has(k) {
			t.Fatalf("%v not prefetched", k)
		}
	}
	before := w.count(sm.ProbeColdCacheHit)
	req = w.fetch(b.seg.Base, 0)
	w.check(req, w.takeReply())
	if w.count(sm.ProbeColdCacheHit) != before+1 {
		t.Fatalf("the first fetch of the next segment was not a cache hit")
	}
	if st := w.cache.Stats(); st.ReadAheadBytes > st.BudgetBytes/4 {
		t.Fatalf("read-ahead holds %d of %d", st.ReadAheadBytes, st.BudgetBytes)
	}
}

// Read-ahead reaches past the segment a fetch ended in: the next
// segment's index first, and its chunks once the index arrives, up to
// readAheadChunks chunks in all.
func TestColdReadAheadIntoNextSegment(t *testing.T) {
	a := makeSegment(t, 0, 1, uniformShapes(4, 1, 60))
	b := makeSegment(t, a.seg.Next, 2, uniformShapes(40, 1, 60))
	const chunk = 512
	w := newColdWorld(t, ColdCacheConfig{BudgetBytes: 1 << 20, ChunkBytes: chunk}, ColdReaderConfig{MaxSegments: 1}, a, b)
	req := w.fetch(0, 0)
	w.complete(0, false) // a's index
	w.complete(0, false) // a's only chunk
	w.check(req, w.takeReply())
	if len(w.ops) != 1 || w.ops[0].Name != b.seg.Name || w.ops[0].Off != b.seg.DataBytes {
		t.Fatalf("after reading all of a: gets %+v, want b's index", w.ops)
	}
	w.complete(0, false)
	if int64(len(w.ops)) != min(readAheadChunks, (b.seg.DataBytes+chunk-1)/chunk) {
		t.Fatalf("after b's index arrived: %d gets, want %d of its chunks", len(w.ops), readAheadChunks)
	}
	for i, op := range w.ops {
		if op.Name != b.seg.Name || op.Off != int64(i)*chunk {
			t.Fatalf("read-ahead %d: %s at %d, want %s at %d", i, op.Name, op.Off, b.seg.Name, int64(i)*chunk)
		}
	}
	w.drain()
	// Reading b, the fetch finds the read-ahead chunks cached and asks for
	// the rest only.
	req = w.fetch(b.seg.Base, 0)
	for _, op := range w.ops {
		if op.Off < readAheadChunks*chunk {
			t.Fatalf("the fetch of b asked again for [%d, +%d), read ahead already", op.Off, op.Len)
		}
	}
	w.drain()
	w.check(req, w.takeReply())
}

// Read-ahead stays within a quarter of the budget: with a cache of four
// chunks it prefetches at most one.
func TestColdReadAheadBounded(t *testing.T) {
	s := makeSegment(t, 0, 1, uniformShapes(80, 1, 60))
	const chunk = 512
	budget := 4 * itemSize(chunk)
	w := newColdWorld(t, ColdCacheConfig{BudgetBytes: budget, ChunkBytes: chunk}, ColdReaderConfig{FetchMaxBytes: 100}, s)
	for off := sm.Offset(0); off < s.seg.Next; off += 7 {
		req := w.fetch(off, 0)
		// Answer the demand gets; leave read-ahead in flight.
		for len(w.replies) == 0 {
			w.complete(0, false)
		}
		w.check(req, w.takeReply())
		if st := w.cache.Stats(); st.ReadAheadBytes > budget/4 {
			t.Fatalf("read-ahead holds %d bytes of a %d budget", st.ReadAheadBytes, budget)
		}
	}
	w.drain()
}

// Under a budget smaller than one chunk nothing is cached and every fetch
// still gets the right answer; under a small budget the least recently used
// chunks are evicted.
func TestColdEviction(t *testing.T) {
	s := makeSegment(t, 0, 1, variedShapes(50, 0))
	const chunk = 256
	for _, budget := range []int64{100, 3 * itemSize(chunk)} {
		w := newColdWorld(t, ColdCacheConfig{BudgetBytes: budget, ChunkBytes: chunk}, ColdReaderConfig{FetchMaxBytes: 600}, s)
		for _, off := range []sm.Offset{0, 40, 5, 90, 1, 60, 0} {
			req := w.fetch(off, 0)
			w.drain()
			w.check(req, w.takeReply())
		}
		st := w.cache.Stats()
		if st.Bytes > budget {
			t.Fatalf("budget %d: cache holds %d", budget, st.Bytes)
		}
		if budget < chunk && (st.Items != 0 || st.Hits != 0) {
			t.Fatalf("budget %d: %+v", budget, st)
		}
		if budget > chunk && (st.Evictions == 0 || st.Items == 0) {
			t.Fatalf("budget %d: no eviction: %+v", budget, st)
		}
	}
}

// A fetch stops at the high watermark, cutting a batch that straddles it as
// the hot path does.
func TestColdStopsAtHighWatermark(t *testing.T) {
	s := makeSegment(t, 10, 1, uniformShapes(8, 4, 30)) // [10, 42)
	w := newColdWorld(t, ColdCacheConfig{ChunkBytes: 100}, ColdReaderConfig{}, s)
	w.view.HighWatermark = 25
	req := w.fetch(11, 0)
	w.drain()
	resp := w.takeReply()
	w.check(req, resp)
	if n := len(resp.Batches); n == 0 || resp.Batches[n-1].NextOffset() != 25 {
		t.Fatalf("answer %s; want it to end at the high watermark 25", spans(resp.Batches))
	}
}

// Abort answers every pending fetch with the code and hint, returns
// read-ahead's reservations, and disowns the gets in flight; the reader
// then serves again.
func TestColdAbort(t *testing.T) {
	s := makeSegment(t, 0, 1, variedShapes(60, 0))
	w := newColdWorld(t, ColdCacheConfig{ChunkBytes: 256}, ColdReaderConfig{FetchMaxBytes: 300}, s)
	req := w.fetch(0, 0)
	for len(w.replies) == 0 {
		w.complete(0, false)
	}
	w.check(req, w.takeReply())
	if len(w.ops) == 0 || w.cache.Stats().ReadAheadBytes == 0 {
		t.Fatalf("no read-ahead in flight after a fetch: gets %+v", w.ops)
	}
	w.fetch(40, 0)
	w.fetch(59, 0)
	stale := slices.Clone(w.ops)
	if w.r.Pending() != 2 {
		t.Fatalf("%d fetches pending, want 2", w.r.Pending())
	}
	w.r.Abort(sm.CodeNotLeader, 3)
	w.settle()
	if len(w.replies) != 2 {
		t.Fatalf("%d answers to 2 aborted fetches", len(w.replies))
	}
	for i, resp := range w.replies {
		if resp.Code != sm.CodeNotLeader || resp.LeaderHint != 3 || resp.ReqID != uint64(2+i) || len(resp.Batches) != 0 {
			t.Fatalf("aborted answer %+v", resp)
		}
	}
	w.replies = nil
	if st := w.cache.Stats(); st.ReadAheadBytes != 0 || w.r.Pending() != 0 {
		t.Fatalf("abort kept %d read-ahead bytes reserved, %d fetches", st.ReadAheadBytes, w.r.Pending())
	}
	for _, op := range stale {
		if w.r.OnObjectDone(0, w.serve(op), w.view) {
			t.Fatalf("aborted get %d still the reader's", op.ID)
		}
	}
	if w.r.OnObjectDone(0, sm.ObjectDone{ID: 999, Outcome: sm.OutcomeOK}, w.view) {
		t.Fatalf("an unknown ID was the reader's")
	}
	w.ops = nil
	req = w.fetch(40, 0)
	w.drain()
	w.check(req, w.takeReply())
}

// The byte bound is inclusive: frames that fill it exactly are served
// together; one more byte of frame waits for the next fetch. The first
// batch is always served, however large.
func TestColdByteBound(t *testing.T) {
	s := makeSegment(t, 0, 1, uniformShapes(10, 2, 40))
	frame := int64(sm.FrameBytes(s.batches[0].Records))
	for _, c := range []struct {
		maxBytes int64
		want     int
	}{{3 * frame, 3}, {3*frame - 1, 2}, {1, 1}, {frame, 1}} {
		w := newColdWorld(t, ColdCacheConfig{ChunkBytes: 64}, ColdReaderConfig{FetchMaxBytes: c.maxBytes}, s)
		req := w.fetch(1, 0)
		w.drain()
		resp := w.takeReply()
		w.check(req, resp)
		if len(resp.Batches) != c.want {
			t.Fatalf("max bytes %d with %d-byte frames: %d batches, want %d", c.maxBytes, frame, len(resp.Batches), c.want)
		}
	}
}

// A record may start after its object's first batch (a leader uploaded a
// local segment that began below the uploaded end, whole): fetches from
// the record's base on are served, and read-ahead from the previous
// segment's end (fetches reading one segment) or a fetch reading on into
// it reads from the chunk where the record's reads start, not the
// object's first.
func TestColdRecordStartsInsideObject(t *testing.T) {
	a := makeSegment(t, 0, 1, uniformShapes(10, 4, 30)) // [0, 40)
	shapes := uniformShapes(20, 2, 40)                  // [30, 70) in the object
	for i := 5; i < len(shapes); i++ {
		shapes[i].epoch = 2 // an index entry at offset 40
	}
	b := makeSegment(t, 30, 2, shapes)
	b.seg.Base = a.seg.Next
	const chunk = 128
	for _, maxSegs := range []int{1, 0} {
		w := newColdWorld(t, ColdCacheConfig{ChunkBytes: chunk}, ColdReaderConfig{FetchMaxBytes: 1 << 20, MaxSegments: maxSegs}, a, b)
		req := w.fetch(35, 0)
		w.drain()
		resp := w.takeReply()
		w.check(req, resp)
		if want := map[int]sm.Offset{1: a.seg.Next, 0: b.seg.Next}[maxSegs]; resp.Batches[len(resp.Batches)-1].NextOffset() != want {
			t.Fatalf("max segments %d: answer %s, want it to end at %d", maxSegs, spans(resp.Batches), want)
		}
		start := framePositions(&b)[5]
		if !w.cache.has(coldKey{b.seg.Name, indexChunk}) || !w.cache.has(coldKey{b.seg.Name, start / chunk}) || start/chunk == 0 {
			t.Fatalf("max segments %d: %s's index and its chunk %d holding byte %d not read", maxSegs, b.seg.Name, start/chunk, start)
		}
		if w.cache.has(coldKey{b.seg.Name, 0}) {
			t.Fatalf("max segments %d: read the object's first chunk, below the record", maxSegs)
		}
		for off := b.seg.Base; off < b.seg.Next; off++ {
			req := w.fetch(off, 0)
			w.drain()
			w.check(req, w.takeReply())
		}
	}
}

// smallSegments is n segments from base of batches batches each of per
// records of valueBytes.
func smallSegments(t *testing.T, base sm.Offset, n, batches, per, valueBytes int) []testSegment {
	var out []testSegment
	for i := range n {
		s := makeSegment(t, base, sm.EffectID(i+1), uniformShapes(batches, per, valueBytes))
		out = append(out, s)
		base = s.seg.Next
	}
	return out
}

// With small segments a fetch reads on into the following ones while its
// budgets last, so an answer carries about FetchMaxBytes (or MaxRecords),
// and at most MaxSegments segments: every offset is answered exactly as
// the model says, for several bounds.
func TestColdFetchAcrossSegments(t *testing.T) {
	segs := smallSegments(t, 100, 8, 3, 2, 50) // 8 segments of 3 frames
	frame := int64(sm.FrameBytes(segs[0].batches[0].Records))
	for _, c := range []struct {
		maxBytes    int64
		maxSegs     int
		maxRecords  int32
		chunk       int64
		wantSegsMax int // the most segments one answer spans
	}{
		{maxBytes: 10 * frame, chunk: 1 << 10, wantSegsMax: 4}, // 10 frames: 1+3+3+3
		{maxBytes: 10*frame - 1, chunk: 100, wantSegsMax: 4},
		{maxBytes: 1 << 20, maxSegs: 3, chunk: 1 << 10, wantSegsMax: 3},
		{maxBytes: 1 << 20, maxRecords: 7, chunk: 64, wantSegsMax: 2}, // 1 record, then 6
		{maxBytes: 1 << 20, chunk: 1 << 20, wantSegsMax: 8},
	} {
		w := newColdWorld(t, ColdCacheConfig{BudgetBytes: 1 << 20, ChunkBytes: c.chunk}, ColdReaderConfig{FetchMaxBytes: c.maxBytes, MaxSegments: c.maxSegs}, segs...)
		most := 0
		for off := segs[0].seg.Base; off < segs[len(segs)-1].seg.Next; off++ {
			req := w.fetch(off, c.maxRecords)
			w.drain()
			resp := w.takeReply()
			w.check(req, resp)
			spanned := w.segIndex(resp.Batches[len(resp.Batches)-1].NextOffset()-1) - w.segIndex(off) + 1
			most = max(most, spanned)
		}
		if most != c.wantSegsMax {
			t.Fatalf("%+v: answers span at most %d segments, want %d", c, most, c.wantSegsMax)
		}
		if st := w.cache.Stats(); st.MultiSegmentReads == 0 {
			t.Fatalf("%+v: stats %+v", c, st)
		}
	}
}

// A fetch reading on into the next segments asks for their indexes
// together, then for every chunk its budget reaches in all of them: two
// round trips with a cold cache, one with the indexes cached, none when
// everything is.
func TestColdFetchAcrossSegmentsRoundTrips(t *testing.T) {
	segs := smallSegments(t, 0, 6, 3, 2, 50)
	frame := int64(sm.FrameBytes(segs[0].batches[0].Records))
	w := newColdWorld(t, ColdCacheConfig{BudgetBytes: 1 << 20, ChunkBytes: 2 * frame}, ColdReaderConfig{FetchMaxBytes: 12 * frame}, segs...)
	// waves completes the gets in flight in rounds (each round: those
	// asked before it) until the fetch is answered; it returns the rounds
	// and the gets of each.
	waves := func() (rounds int, gets []int) {
		for len(w.replies) == 0 {
			if len(w.ops) == 0 {
				t.Fatalf("fetch pending with nothing in flight")
			}
			n := len(w.ops)
			gets = append(gets, n)
			for range n {
				w.complete(0, false)
			}
			rounds++
		}
		return rounds, gets
	}
	req := w.fetch(1, 0) // about 12 frames: 4 segments
	first := slices.Clone(w.ops)
	if rounds, gets := waves(); rounds != 2 {
		t.Fatalf("cold fetch across segments took %d round trips (%v gets)", rounds, gets)
	}
	resp := w.takeReply()
	w.check(req, resp)
	spanned := w.segIndex(resp.Batches[len(resp.Batches)-1].NextOffset() - 1)
	if spanned < 3 {
		t.Fatalf("answer %s spans %d segments", spans(resp.Batches), spanned+1)
	}
	for i := range spanned + 1 {
		if !slices.ContainsFunc(first, func(op sm.ObjectOp) bool {
			return op.Name == segs[i].seg.Name && op.Off == segs[i].seg.DataBytes
		}) {
			t.Fatalf("the first gets %+v do not hold segment %d's index", first, i)
		}
	}
	w.drain() // read-ahead
	// Everything cached: no get.
	req = w.fetch(1, 0)
	w.check(req, w.takeReply())
	if len(w.ops) != 0 {
		t.Fatalf("cached fetch asked for %+v", w.ops)
	}
	// Indexes cached, chunks not: one round trip.
	for i := range segs {
		for k := int64(0); k*w.cache.chunk < segs[i].seg.DataBytes; k++ {
			w.cache.remove(coldKey{segs[i].seg.Name, k})
		}
	}
	req = w.fetch(1, 0)
	if rounds, gets := waves(); rounds != 1 {
		t.Fatalf("fetch with cached indexes took %d round trips (%v gets)", rounds, gets)
	}
	w.check(req, w.takeReply())
	w.drain()
}

// A segment whose object holds records below its record's base, in a batch
// straddling the base: an answer reading on from the previous segment ends
// at the base (batches of one answer never overlap); the next fetch starts
// with the straddling batch.
func TestColdReadOnStopsAtOverlap(t *testing.T) {
	a := makeSegment(t, 0, 1, uniformShapes(5, 4, 30))  // [0, 20)
	b := makeSegment(t, 19, 2, uniformShapes(6, 2, 30)) // [19, 31) in the object: [19, 21) straddles 20
	b.seg.Base = a.seg.Next
	c := makeSegment(t, b.seg.Next, 3, uniformShapes(3, 2, 30))
	w := newColdWorld(t, ColdCacheConfig{ChunkBytes: 256}, ColdReaderConfig{}, a, b, c)
	req := w.fetch(10, 0)
	w.drain()
	resp := w.takeReply()
	w.check(req, resp)
	if last := resp.Batches[len(resp.Batches)-1].NextOffset(); last != a.seg.Next {
		t.Fatalf("answer %s, want it to end at %d, before the batch overlapping it", spans(resp.Batches), a.seg.Next)
	}
	req = w.fetch(a.seg.Next, 0)
	w.drain()
	resp = w.takeReply()
	w.check(req, resp)
	if resp.Batches[0].BaseOffset != 19 || resp.Batches[len(resp.Batches)-1].NextOffset() != c.seg.Next {
		t.Fatalf("answer %s at %d, want [19, 21) first and the rest of b and c", spans(resp.Batches), a.seg.Next)
	}
}

// A reader holds at most MaxPending fetches waiting for the object store:
// the next is answered LEADER_NOT_AVAILABLE (retriable) at once, saying
// why, and gets nothing asked; once they are answered it serves again.
func TestColdPendingBound(t *testing.T) {
	var segs []testSegment
	for i := range DefaultColdMaxPending + 1 {
		segs = append(segs, makeSegment(t, sm.Offset(10*i), sm.EffectID(i+1), uniformShapes(2, 5, 20)))
	}
	w := newColdWorld(t, ColdCacheConfig{}, ColdReaderConfig{MaxSegments: 1}, segs...)
	reqs := map[uint64]sm.FetchRequest{}
	for i := range DefaultColdMaxPending {
		req := w.fetch(segs[i].seg.Base+3, 0)
		reqs[req.ReqID] = req
	}
	if w.r.Pending() != DefaultColdMaxPending || len(w.replies) != 0 {
		t.Fatalf("%d pending, %d answered", w.r.Pending(), len(w.replies))
	}
	inflight := len(w.ops)
	w.fetch(segs[DefaultColdMaxPending].seg.Base, 0)
	resp := w.takeReply()
	if resp.Code != sm.CodeLeaderNotAvailable || !resp.Code.Retriable() || len(resp.Batches) != 0 || resp.LeaderHint != coldSelf ||
		resp.HighWatermark != w.view.HighWatermark || resp.LeaderEpoch != w.view.LeaderEpoch ||
		!strings.Contains(resp.Message, "64 fetches below its local log start waiting for the object store") {
		t.Fatalf("fetch past the bound: %v %q hint %d", resp.Code, resp.Message, resp.LeaderHint)
	}
	if len(w.ops) != inflight || w.r.Pending() != DefaultColdMaxPending || w.cache.Stats().Refused != 1 {
		t.Fatalf("a refused fetch asked for gets or is pending: %d gets (were %d), %d pending", len(w.ops), inflight, w.r.Pending())
	}
	// One answered: room for one more.
	for len(w.replies) == 0 {
		w.complete(0, false)
	}
	n := len(w.replies)
	req := w.fetch(segs[DefaultColdMaxPending].seg.Base, 0)
	if len(w.replies) != n {
		t.Fatalf("a fetch with room was answered at once: %+v", w.replies[n:])
	}
	reqs[req.ReqID] = req
	w.drain()
	if len(w.replies) != len(reqs) {
		t.Fatalf("%d answers to %d fetches", len(w.replies), len(reqs))
	}
	for _, resp := range w.replies {
		w.check(reqs[resp.ReqID], resp)
	}
}

// A get with an unknown outcome (the adapter could not tell) is a failure
// to the reader: a get changes nothing, so the fetch is answered
// STORAGE_ERROR and may be retried.
func TestColdGetUnknown(t *testing.T) {
	s := makeSegment(t, 0, 1, variedShapes(5, 0))
	w := newColdWorld(t, ColdCacheConfig{}, ColdReaderConfig{}, s)
	w.fetch(0, 0)
	op := w.ops[0]
	w.ops = nil
	if !w.r.OnObjectDone(0, sm.ObjectDone{ID: op.ID, Outcome: sm.OutcomeUnknown, Err: sm.ObjErrUnavailable, Reason: "deadline exceeded"}, w.view) {
		t.Fatalf("get %d disowned", op.ID)
	}
	w.settle()
	if resp := w.takeReply(); resp.Code != sm.CodeStorageError || !strings.Contains(resp.Message, "deadline exceeded") {
		t.Fatalf("answer %v %q", resp.Code, resp.Message)
	}
}

// A fetch reading on into the next segment whose get there fails serves
// what it read before (the consumer asks again from there); one whose bytes
// there are corrupt serves nothing.
func TestColdReadOnGetFailure(t *testing.T) {
	segs := smallSegments(t, 0, 2, 4, 2, 30)
	a, b := segs[0], segs[1]
	w := newColdWorld(t, ColdCacheConfig{ChunkBytes: 1 << 20}, ColdReaderConfig{}, a, b)
	req := w.fetch(1, 0)
	if len(w.ops) != 2 {
		t.Fatalf("gets %+v; want both indexes", w.ops)
	}
	w.complete(0, false)
	w.complete(0, false)
	// Both chunks asked: fail b's.
	i := slices.IndexFunc(w.ops, func(op sm.ObjectOp) bool { return op.Name == b.seg.Name })
	if len(w.ops) != 2 || i < 0 {
		t.Fatalf("gets %+v; want both segments' chunks", w.ops)
	}
	w.complete(i, true)
	w.drain()
	resp := w.takeReply()
	w.checkUpTo(req, resp, true)
	if resp.Batches[len(resp.Batches)-1].NextOffset() != a.seg.Next || w.cache.Stats().PartialReads != 1 {
		t.Fatalf("answer %s; want a's batches, up to %d (stats %+v)", spans(resp.Batches), a.seg.Next, w.cache.Stats())
	}
	req = w.fetch(a.seg.Next, 0)
	w.drain()
	w.check(req, w.takeReply())

	w = newColdWorld(t, ColdCacheConfig{ChunkBytes: 1 << 20}, ColdReaderConfig{}, a, b)
	w.objs[b.seg.Name][40] ^= 1
	w.fetch(1, 0)
	w.drain()
	if resp := w.takeReply(); resp.Code != sm.CodeStorageError || len(resp.Batches) != 0 || !strings.Contains(resp.Message, b.seg.Name) {
		t.Fatalf("fetch over a corrupt next segment: %v %q with %d batches", resp.Code, resp.Message, len(resp.Batches))
	}
}
