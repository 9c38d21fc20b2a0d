package tier

import (
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/weirmq/weir/sm"
)

// Random segments (rising or arbitrary timestamps, objects holding records
// below their record's base), chunk sizes, budgets, bounds, log starts and
// high watermarks; random seeks interleaved with fetches that share their
// gets, completions in random order, failed gets and aborts: every seek is
// answered exactly once, an OK answer (following End as a caller does)
// equals the brute-force scan of every batch, an error only follows a
// failed get, an abort or a full reader, and the invariants hold after
// every step; then, quiet, seeks for times across the timestamps. Across
// the cases at least ten seeks per case are compared (1,000 by default).
func TestColdSeekProperties(t *testing.T) {
	compared, cases := 0, 0
	rapid.Check(t, func(t *rapid.T) {
		cases++
		var segs []testSegment
		base := sm.Offset(rapid.IntRange(20, 500).Draw(t, "base"))
		rising := rapid.Bool().Draw(t, "rising timestamps")
		ts := int64(rapid.IntRange(1, 100).Draw(t, "first timestamp"))
		maxBatches, maxValue := 25, 300
		if rapid.Bool().Draw(t, "small segments") {
			maxBatches, maxValue = 4, 40
		}
		for i := range rapid.IntRange(1, 6).Draw(t, "segments") {
			shapes := make([]batchShape, rapid.IntRange(1, maxBatches).Draw(t, "batches"))
			records := 0
			for j := range shapes {
				shapes[j].epoch = 1
				shapes[j].values = rapid.SliceOfN(rapid.IntRange(0, maxValue), 1, 4).Draw(t, "values")
				if rising {
					ts += int64(rapid.IntRange(0, 3).Draw(t, "timestamp step"))
				} else {
					ts = int64(rapid.IntRange(1, 60).Draw(t, "timestamp"))
				}
				shapes[j].ts = ts
				records += len(shapes[j].values)
			}
			below := rapid.IntRange(0, min(8, records-1)).Draw(t, "records below the base")
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
			FetchMaxBytes: int64(rapid.IntRange(1, 3000).Draw(t, "max bytes")),
			MaxSegments:   rapid.IntRange(0, 3).Draw(t, "max segments"),
		}
		if rapid.IntRange(0, 3).Draw(t, "bounded pending") == 0 {
			rc.MaxPending = rapid.IntRange(1, 4).Draw(t, "max pending")
		}
		w := newColdWorld(t, cc, rc, segs...)
		first, end := segs[0].seg.Base, segs[len(segs)-1].seg.Next
		w.view.HighWatermark = sm.Offset(rapid.Int64Range(int64(end)-3, int64(end)+3).Draw(t, "hw"))
		if rapid.Bool().Draw(t, "log start inside") {
			w.view.LogStart = sm.Offset(rapid.Int64Range(int64(first), int64(end)-1).Draw(t, "log start"))
		}
		var lo, hi int64 = 1 << 62, 0
		for _, s := range segs {
			for _, b := range s.batches {
				lo, hi = min(lo, b.Timestamp), max(hi, b.Timestamp)
			}
		}

		// A seek's search: its time and where the current request searches
		// from (the log start, then each not-found answer's End).
		type search struct {
			t    int64
			from sm.Offset
			full bool // the reader held its most pending fetches when it came
		}
		seeks := map[uint64]*search{}
		fetches := map[uint64]sm.FetchRequest{}
		answered := map[uint64]bool{}
		partial := map[uint64]bool{}
		stale := map[sm.EffectID]bool{}
		failed, aborted := 0, 0
		final := func(s *search, found bool, off sm.Offset, ts int64) {
			moff, mts, mfound := seekModel(segs, s.t, w.view.LogStart, w.view.HighWatermark)
			if found != mfound || found && (off != moff || ts != mts) {
				t.Fatalf("seek for %d: found %v offset %d ts %d; the model: found %v offset %d ts %d", s.t, found, off, ts, mfound, moff, mts)
			}
			compared++
		}
		ask := func(s *search) {
			segs := w.seekSegs(s.t, s.from)
			if segs == nil {
				final(s, false, 0, 0) // the caller answers from the local log
				return
			}
			s.full = w.r.Pending() >= w.r.cfg.MaxPending
			w.reqID++
			seeks[w.reqID] = s
			w.r.SeekTime(0, coldConsumer, sm.ListOffsetsRequest{ReqID: w.reqID, TP: coldTP}, s.t, segs, w.view)
			w.settle()
		}
		take := func() {
			for len(w.seeks) > 0 {
				res := w.seeks[0]
				w.seeks = w.seeks[1:]
				s, ok := seeks[res.ReqID]
				if !ok || answered[res.ReqID] {
					t.Fatalf("answer to seek %d, unknown or answered before", res.ReqID)
				}
				answered[res.ReqID] = true
				if s.full != (res.Code == sm.CodeLeaderNotAvailable) {
					t.Fatalf("seek %d: %v %q with the reader full: %v", res.ReqID, res.Code, res.Message, s.full)
				}
				switch res.Code {
				case sm.CodeOK:
					if res.Found {
						final(s, true, res.Offset, res.Timestamp)
						continue
					}
					stop := min(end, w.view.HighWatermark)
					if res.End > stop || res.End < stop && res.End <= s.from {
						t.Fatalf("seek %d for %d from %d: not found ending at %d (segments end at %d, hw %d)", res.ReqID, s.t, s.from, res.End, end, w.view.HighWatermark)
					}
					if res.End == stop {
						final(s, false, 0, 0)
						continue
					}
					if off, _, found := seekModel(segs, s.t, max(w.view.LogStart, s.from), w.view.HighWatermark); found && off < res.End {
						t.Fatalf("seek %d for %d from %d: not found before %d, the model finds %d", res.ReqID, s.t, s.from, res.End, off)
					}
					ask(&search{t: s.t, from: res.End})
				case sm.CodeLeaderNotAvailable:
					if !strings.Contains(res.Message, "waiting for the object store") {
						t.Fatalf("seek %d refused with %q", res.ReqID, res.Message)
					}
				case sm.CodeStorageError:
					if failed == 0 || !strings.Contains(res.Message, "503 from the test") || res.Found {
						t.Fatalf("seek %d: %v %q with no get failed", res.ReqID, res.Code, res.Message)
					}
				case sm.CodeNotLeader:
					if aborted == 0 {
						t.Fatalf("seek %d answered NOT_LEADER without an abort", res.ReqID)
					}
				default:
					t.Fatalf("seek %d: %v %q", res.ReqID, res.Code, res.Message)
				}
			}
			for _, resp := range w.replies {
				req, ok := fetches[resp.ReqID]
				if !ok || answered[resp.ReqID] {
					t.Fatalf("answer to fetch %d, unknown or answered before", resp.ReqID)
				}
				answered[resp.ReqID] = true
				if resp.Code == sm.CodeOK {
					w.checkUpTo(req, resp, partial[resp.ReqID])
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
				for id := range fetches {
					partial[id] = partial[id] || !answered[id]
				}
			}
			w.complete(i, fail)
		}
		t.Repeat(map[string]func(*rapid.T){
			"seek": func(t *rapid.T) {
				ask(&search{t: rapid.Int64Range(lo-2, hi+2).Draw(t, "time"), from: w.view.LogStart})
			},
			"fetch": func(t *rapid.T) {
				off := sm.Offset(rapid.Int64Range(int64(w.view.LogStart), int64(end)-1).Draw(t, "offset"))
				if off >= w.view.HighWatermark || w.r.Pending() >= w.r.cfg.MaxPending {
					t.Skip("the caller answers it, or the reader refuses it")
				}
				req := w.fetch(off, 0)
				fetches[req.ReqID] = req
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
		for len(w.ops) > 0 || len(w.seeks) > 0 || len(w.replies) > 0 {
			for len(w.ops) > 0 {
				completeAt(0, false)
			}
			take()
		}
		// Quiet: every time across the timestamps (about 12 of them), one
		// seek at a time.
		for tm, step := lo-1, max(1, (hi-lo+3)/12); tm <= hi+1; tm += step {
			ask(&search{t: tm, from: w.view.LogStart})
			for len(w.ops) > 0 || len(w.seeks) > 0 {
				for len(w.ops) > 0 {
					completeAt(0, false)
				}
				take()
			}
		}
		for id := range seeks {
			if !answered[id] {
				t.Fatalf("seek %d never answered", id)
			}
		}
		if w.r.Pending() != 0 {
			t.Fatalf("%d fetches and seeks pending with nothing in flight", w.r.Pending())
		}
	})
	// At least ten per case rapid ran: 1,000 at its default of 100 cases
	// (fewer with -short, more with -rapid.checks).
	if want := 10 * cases; compared < want {
		t.Fatalf("%d seeks compared with the model, want at least %d", compared, want)
	}
	t.Logf("%d seeks compared with the model", compared)
}
