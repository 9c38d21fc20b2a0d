package tier

import (
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/weirmq/weir/sm"
)

// Random segments (from a few batches to many, so fetches read on across
// segment boundaries, some objects holding records below their record's
// base), chunk sizes, budgets and bounds; random fetches, completions in
// random order, failed gets and aborts: every fetch is answered exactly
// once, an OK answer always equals the model (or, for a fetch pending when
// a get failed, a prefix of it), an error only follows a failed get, an
// abort or (LEADER_NOT_AVAILABLE) a full reader, and the
// reader's and cache's invariants hold after every step.
func TestColdProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var segs []testSegment
		base := sm.Offset(rapid.IntRange(20, 1000).Draw(t, "base"))
		epoch := sm.Epoch(1)
		// Frames all of one size (but for key lengths), so byte bounds fall
		// on frame edges.
		maxBatches, maxValue := 25, 300
		if rapid.Bool().Draw(t, "small segments") {
			maxBatches, maxValue = 4, 40
		}
		var uniform []int
		if rapid.Bool().Draw(t, "uniform frames") {
			uniform = rapid.SliceOfN(rapid.IntRange(0, maxValue), 1, 5).Draw(t, "uniform values")
		}
		for i := range rapid.IntRange(1, 6).Draw(t, "segments") {
			shapes := make([]batchShape, rapid.IntRange(1, maxBatches).Draw(t, "batches"))
			records := 0
			for j := range shapes {
				epoch += sm.Epoch(rapid.IntRange(0, 1).Draw(t, "epoch step"))
				shapes[j].epoch = epoch
				shapes[j].values = uniform
				if uniform == nil {
					shapes[j].values = rapid.SliceOfN(rapid.IntRange(0, maxValue), 1, 5).Draw(t, "values")
				}
				records += len(shapes[j].values)
			}
			// The object may hold records below its record's base (a leader
			// uploaded a local segment that began below the uploaded end),
			// the base even inside a batch.
			below := rapid.IntRange(0, min(15, records-1)).Draw(t, "records below the base")
			s := makeSegment(t, base-sm.Offset(below), sm.EffectID(i+1), shapes)
			s.seg.Base = base
			segs = append(segs, s)
			base = s.seg.Next
		}
		cc := ColdCacheConfig{
			ChunkBytes:  int64(rapid.IntRange(16, 2048).Draw(t, "chunk")),
			BudgetBytes: int64(rapid.IntRange(1, 20000).Draw(t, "budget")),
		}
		rc := ColdReaderConfig{
			FetchMaxBytes:   int64(rapid.IntRange(1, 3000).Draw(t, "max bytes")),
			FetchMaxRecords: int32(rapid.IntRange(0, 40).Draw(t, "max records")),
			MaxSegments:     rapid.IntRange(0, 4).Draw(t, "max segments"),
		}
		if rapid.IntRange(0, 3).Draw(t, "bounded pending") == 0 {
			rc.MaxPending = rapid.IntRange(1, 4).Draw(t, "max pending")
		}
		if uniform != nil {
			// Exactly k frames, or one byte off.
			k := int64(rapid.IntRange(1, 6).Draw(t, "frames"))
			rc.FetchMaxBytes = max(1, k*int64(sm.FrameBytes(segs[0].batches[0].Records))+int64(rapid.IntRange(-1, 1).Draw(t, "edge")))
		}
		w := newColdWorld(t, cc, rc, segs...)
		first, end := segs[0].seg.Base, segs[len(segs)-1].seg.Next
		w.view.HighWatermark = sm.Offset(rapid.Int64Range(int64(end)-3, int64(end)+3).Draw(t, "hw"))
		reqs := map[uint64]sm.FetchRequest{}
		full := map[uint64]bool{} // the reader held its most pending fetches when it came
		answered := map[uint64]bool{}
		partial := map[uint64]bool{} // pending when a get failed: may answer what it holds
		stale := map[sm.EffectID]bool{}
		failed, aborted := 0, 0
		take := func() {
			for _, resp := range w.replies {
				req, ok := reqs[resp.ReqID]
				if !ok || answered[resp.ReqID] {
					t.Fatalf("answer to fetch %d, unknown or answered before", resp.ReqID)
				}
				answered[resp.ReqID] = true
				if full[resp.ReqID] != (resp.Code == sm.CodeLeaderNotAvailable) {
					t.Fatalf("fetch %d at %d: %v %q with the reader full: %v", req.ReqID, req.Offset, resp.Code, resp.Message, full[resp.ReqID])
				}
				switch resp.Code {
				case sm.CodeLeaderNotAvailable:
					if !strings.Contains(resp.Message, "waiting for the object store") {
						t.Fatalf("fetch %d refused with %q", req.ReqID, resp.Message)
					}
				case sm.CodeOK:
					w.checkUpTo(req, resp, partial[resp.ReqID])
				case sm.CodeStorageError:
					if failed == 0 || !strings.Contains(resp.Message, "503 from the test") || len(resp.Batches) != 0 {
						t.Fatalf("fetch %d at %d: %v %q with no get failed", req.ReqID, req.Offset, resp.Code, resp.Message)
					}
				case sm.CodeNotLeader:
					if aborted == 0 {
						t.Fatalf("fetch %d answered NOT_LEADER without an abort", req.ReqID)
					}
				default:
					t.Fatalf("fetch %d: %v %q", req.ReqID, resp.Code, resp.Message)
				}
			}
			w.replies = nil
		}
		completeAt := func(i int, fail bool) {
			op := w.ops[i]
			if stale[op.ID] {
				w.ops = slices.Delete(w.ops, i, i+1)
				if w.r.OnObjectDone(0, w.serve(op), w.view) {
					t.Fatalf("aborted get %d still the reader's", op.ID)
				}
				return
			}
			if fail {
				failed++
				for id := range reqs {
					partial[id] = partial[id] || !answered[id]
				}
			}
			w.complete(i, fail)
		}
		t.Repeat(map[string]func(*rapid.T){
			"fetch": func(t *rapid.T) {
				off := sm.Offset(rapid.Int64Range(int64(first), int64(end)-1).Draw(t, "offset"))
				if rapid.Bool().Draw(t, "near a segment's end") {
					// Where reading on into the next segments matters most.
					s := segs[rapid.IntRange(0, len(segs)-1).Draw(t, "segment")].seg
					off = max(s.Base, s.Next-sm.Offset(rapid.IntRange(1, 3).Draw(t, "before the end")))
				}
				if off >= w.view.HighWatermark {
					t.Skip("the caller answers fetches at or above the high watermark")
				}
				refuse := w.r.Pending() >= w.r.cfg.MaxPending
				req := w.fetch(off, int32(rapid.IntRange(0, 30).Draw(t, "fetch max records")))
				reqs[req.ReqID] = req
				full[req.ReqID] = refuse
				if refuse && (len(w.replies) == 0 || w.replies[len(w.replies)-1].ReqID != req.ReqID) {
					t.Fatalf("fetch %d not refused at once with %d pending", req.ReqID, w.r.Pending())
				}
			},
			"complete": func(t *rapid.T) {
				if len(w.ops) == 0 {
					t.Skip("nothing in flight")
				}
				completeAt(rapid.IntRange(0, len(w.ops)-1).Draw(t, "op"), rapid.IntRange(0, 9).Draw(t, "fail") == 0)
			},
			"abort": func(t *rapid.T) {
				if rapid.IntRange(0, 19).Draw(t, "abort chance") != 0 {
					t.Skip("aborts are rare")
				}
				for _, op := range w.ops {
					stale[op.ID] = true
				}
				aborted++
				w.r.Abort(sm.CodeNotLeader, 5)
				w.settle()
			},
			"": func(t *rapid.T) { take() },
		})
		for len(w.ops) > 0 {
			completeAt(0, false)
		}
		take()
		for id := range reqs {
			if !answered[id] {
				t.Fatalf("fetch %d never answered", id)
			}
		}
		if w.r.Pending() != 0 {
			t.Fatalf("%d fetches pending with nothing in flight", w.r.Pending())
		}
		// Quiet: read-ahead holds only the prefetched items no fetch used.
		var unused int64
		for it := w.cache.lru.next; it != &w.cache.lru; it = it.next {
			if it.speculative {
				unused += it.size
			}
		}
		if unused != w.cache.speculative {
			t.Fatalf("read-ahead accounts %d bytes with %d in unused items and nothing in flight", w.cache.speculative, unused)
		}
	})
}

// BenchmarkColdFetchCached serves sequential fetches from segments held
// in the cache: decoding and checking frames, no gets. One segment of
// ~4.5 MiB, or the same data in 400 segments of ~11 KiB, which fetches read
// on across (B/answer: the frames one answer carries).
func BenchmarkColdFetchCached(b *testing.B) {
	for _, c := range []struct {
		name       string
		maxRecords int32
		segments   int
	}{{"1MiB", 0, 1}, {"100rec", 100, 1}, {"1MiB-400segs", 0, 400}} {
		b.Run(c.name, func(b *testing.B) {
			var ts []testSegment
			base := sm.Offset(0)
			for i := range c.segments {
				s := makeSegment(b, base, sm.EffectID(i+1), uniformShapes(4000/c.segments, 10, 100))
				ts = append(ts, s)
				base = s.seg.Next
			}
			w := newColdWorld(b, ColdCacheConfig{}, ColdReaderConfig{}, ts...)
			end := ts[len(ts)-1].seg.Next
			for off := sm.Offset(0); off < end; {
				w.fetch(off, c.maxRecords)
				w.drain()
				resp := w.takeReply()
				off = resp.Batches[len(resp.Batches)-1].NextOffset()
			}
			segs := make([]sm.RemoteSegment, len(ts))
			for i := range ts {
				segs[i] = ts[i].seg
			}
			off, served, fetches, i := sm.Offset(0), int64(0), int64(0), 0
			var ids = w.ids
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for segs[i].Next <= off {
					i++
				}
				w.r.Fetch(0, coldConsumer, sm.FetchRequest{ReqID: 1, TP: coldTP, Offset: off, MaxRecords: c.maxRecords}, segs[i:min(i+DefaultColdFetchSegments+1, len(segs))], w.view)
				ops, replies, _ := w.r.TakeOutput(&ids)
				if len(ops) != 0 || len(replies) != 1 {
					b.Fatalf("cached fetch: %d gets, %d answers", len(ops), len(replies))
				}
				bs := replies[0].Msg.(sm.FetchResponse).Batches
				for i := range bs {
					served += int64(sm.FrameBytes(bs[i].Records))
				}
				fetches++
				if off = bs[len(bs)-1].NextOffset(); off >= end {
					off, i = 0, 0
				}
			}
			b.SetBytes(served / max(fetches, 1))
			b.ReportMetric(float64(served/max(fetches, 1)), "B/answer")
		})
	}
}
