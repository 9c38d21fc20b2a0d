package metrics

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/weirmq/weir/runtime"
	"github.com/weirmq/weir/sm"
)

var tp = sm.TopicPartition{Topic: "orders", Partition: 3}

func records(n, size int) []sm.Record {
	rs := make([]sm.Record, n)
	for i := range rs {
		rs[i] = sm.Record{Key: make([]byte, 2), Value: make([]byte, size-2)}
	}
	return rs
}

// exercise touches every metric family the registry creates itself, so lint
// and presence tests see them all.
func exercise(reg *Registry) {
	reg.ObserveInbound(100, sm.ProduceRequest{ReqID: 1, TP: tp, Records: records(2, 10)})
	reg.ObserveOutbound(100, sm.ProduceResponse{ReqID: 1, TP: tp})
	reg.ObserveOutbound(100, sm.ProduceResponse{ReqID: 99, TP: tp})
	reg.ObserveOutbound(101, sm.FetchResponse{ReqID: 1, Batches: []sm.Batch{{Records: records(1, 10)}}})
	reg.ObserveInbound(2, sm.ReplicaFetchResponse{Batches: []sm.Batch{{Records: records(1, 10)}}})
	reg.ObserveOutbound(2, sm.ReplicaFetchResponse{Batches: []sm.Batch{{Records: records(1, 10)}}})
	HTTP(reg, http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	p := NewProbe[int](reg, &diskNode{}, 0, nil)
	_ = runtime.Handle(p, nopEnv{}, 0, sm.Received{Msg: sm.ProduceRequest{}})
	_ = runtime.Handle(p, nopEnv{}, 1, sm.LogDone{ID: 1})
}

func TestTrackedTypes(t *testing.T) {
	n := 0
	for _, resp := range responseOf {
		if resp != 0 {
			n++
		}
	}
	if n != trackedTypes {
		t.Fatalf("responseOf has %d types, trackedTypes says %d", n, trackedTypes)
	}
}

// The tracker pairs each response with its request by peer, type and
// ReqID, and labels the latency by request type and reply code.
func TestRequestLatency(t *testing.T) {
	clk := newFakeClock()
	reg := New(WithClock(clk.now))

	reg.ObserveInbound(100, sm.ProduceRequest{ReqID: 1, TP: tp, Records: records(3, 100)})
	reg.ObserveInbound(100, sm.FetchRequest{ReqID: 1, TP: tp}) // same ReqID, other type
	reg.ObserveInbound(200, sm.ProduceRequest{ReqID: 1, TP: tp, Records: records(1, 50)})
	reg.ObserveInbound(300, sm.MetadataRequest{ReqID: 9})
	clk.advance(5 * time.Millisecond)
	reg.ObserveOutbound(100, sm.ProduceResponse{ReqID: 1, TP: tp, Code: sm.CodeOK})
	clk.advance(5 * time.Millisecond)
	reg.ObserveOutbound(200, sm.ProduceResponse{ReqID: 1, TP: tp, Code: sm.CodeNotEnoughReplicas})
	reg.ObserveOutbound(100, sm.FetchResponse{ReqID: 1, TP: tp, Code: sm.CodeOK, Batches: []sm.Batch{
		{Records: records(4, 10)}, {Records: records(2, 20)},
	}})
	reg.ObserveOutbound(300, sm.MetadataResponse{ReqID: 9})
	reg.ObserveOutbound(100, sm.ProduceResponse{ReqID: 1, TP: tp}) // already answered
	reg.ObserveOutbound(400, sm.FetchResponse{ReqID: 1, TP: tp})   // never asked

	f := scrape(t, reg)
	check := func(typ, code string, count uint64, sum float64) {
		t.Helper()
		h := f.get(t, "weir_request_duration_seconds", "type", typ, "code", code).GetHistogram()
		if h.GetSampleCount() != count || h.GetSampleSum() != sum {
			t.Errorf("latency %s %s: count %d sum %v, want %d and %v", typ, code, h.GetSampleCount(), h.GetSampleSum(), count, sum)
		}
	}
	check("ProduceRequest", "OK", 1, 0.005)
	check("ProduceRequest", "NOT_ENOUGH_REPLICAS", 1, 0.010)
	check("FetchRequest", "OK", 1, 0.010)
	check("MetadataRequest", "OK", 1, 0.010)
	f.expect(t, "weir_request_unmatched_responses_total", 2)
	f.expect(t, "weir_requests_pending", 0)
	f.expect(t, "weir_request_tracker_evictions_total", 0)

	f.expect(t, "weir_produce_records_total", 4)
	f.expect(t, "weir_produce_bytes_total", 350)
	f.expect(t, "weir_fetch_records_total", 6)
	f.expect(t, "weir_fetch_bytes_total", 80)

	f.expect(t, "weir_wire_messages_total", 2, "direction", "in", "type", "ProduceRequest")
	f.expect(t, "weir_wire_messages_total", 1, "direction", "in", "type", "FetchRequest")
	f.expect(t, "weir_wire_messages_total", 3, "direction", "out", "type", "ProduceResponse")
	f.expect(t, "weir_wire_messages_total", 2, "direction", "out", "type", "FetchResponse")
	f.expect(t, "weir_wire_messages_total", 0, "direction", "in", "type", "RaftMessage")
	// Every wire type has its series from the start, so rate() works on the
	// first message.
	if n, want := len(f["weir_wire_messages_total"].GetMetric()), 2*(len(sm.MsgKinds())+1); n != want {
		t.Errorf("%d wire message series, want %d", n, want)
	}
}

func TestReplicationBytes(t *testing.T) {
	reg := New()
	batches := []sm.Batch{{Records: records(3, 10)}}
	reg.ObserveOutbound(2, sm.ReplicaFetchResponse{TP: tp, Batches: batches})
	reg.ObserveOutbound(3, sm.ReplicaFetchResponse{TP: tp, Batches: batches})
	reg.ObserveInbound(2, sm.ReplicaFetchResponse{TP: tp, Batches: batches[:1]})
	reg.ObserveInbound(2, sm.ReplicaFetchRequest{TP: tp})
	f := scrape(t, reg)
	f.expect(t, "weir_replica_fetch_bytes_total", 60, "direction", "out")
	f.expect(t, "weir_replica_fetch_bytes_total", 30, "direction", "in")
	f.expect(t, "weir_wire_messages_total", 1, "direction", "in", "type", "ReplicaFetchRequest")
	f.expect(t, "weir_requests_pending", 0) // replica fetches are not client requests
}

// A client that never gets answers cannot grow the tracker: past the bound
// the oldest unanswered request is forgotten and counted.
func TestPendingBound(t *testing.T) {
	clk := newFakeClock()
	reg := New(WithPendingMax(4), WithClock(clk.now))
	for id := uint64(1); id <= 10; id++ {
		reg.ObserveInbound(100, sm.ProduceRequest{ReqID: id, TP: tp})
		clk.advance(time.Millisecond)
	}
	f := scrape(t, reg)
	f.expect(t, "weir_requests_pending", 4)
	f.expect(t, "weir_request_tracker_evictions_total", 6)

	reg.ObserveOutbound(100, sm.ProduceResponse{ReqID: 6, TP: tp}) // evicted: oldest went first
	reg.ObserveOutbound(100, sm.ProduceResponse{ReqID: 7, TP: tp}) // kept: arrived at +6ms, answered at +10ms
	f = scrape(t, reg)
	f.expect(t, "weir_request_unmatched_responses_total", 1)
	f.expect(t, "weir_requests_pending", 3)
	if h := f.get(t, "weir_request_duration_seconds", "type", "ProduceRequest").GetHistogram(); h.GetSampleCount() != 1 || h.GetSampleSum() != 0.004 {
		t.Errorf("latency count %d sum %v, want 1 and 0.004", h.GetSampleCount(), h.GetSampleSum())
	}

	// A duplicate arrival keeps the first arrival time and takes no room.
	reg.ObserveInbound(100, sm.ProduceRequest{ReqID: 8, TP: tp})
	if n := reg.wire.pending.len(); n != 3 {
		t.Errorf("pending %d after a duplicate, want 3", n)
	}
}

// Under a long run of answered requests with a few never answered, the map
// and its FIFO stay within their bounds.
func TestPendingFIFOBounded(t *testing.T) {
	const max = 64
	p := newPending(max)
	evictions := 0
	for i := range uint64(100_000) {
		k := pendingKey{peer: sm.NodeID(i % 7), req: i, typ: sm.KindProduceResponse}
		if p.add(k, int64(i)) {
			evictions++
		}
		if i%10 != 0 { // one in ten is never answered
			if _, ok := p.take(k); !ok {
				t.Fatalf("request %d lost", i)
			}
		}
		if len(p.m) > max || len(p.fifo) > 2*max+64 {
			t.Fatalf("after %d: map %d, fifo %d; bounds %d and %d", i, len(p.m), len(p.fifo), max, 2*max+64)
		}
	}
	// The bound counts the request being added: once max unanswered are
	// held, the next arrival (answered or not) evicts one, after which
	// max-1 unanswered ones stay.
	if want := 10_000 - (max - 1); evictions != want {
		t.Errorf("%d evictions, want %d", evictions, want)
	}
	// The survivors are the newest unanswered ones.
	for i := uint64(100_000 - 10*(max-1)); i < 100_000; i += 10 {
		if _, ok := p.m[pendingKey{peer: sm.NodeID(i % 7), req: i, typ: sm.KindProduceResponse}]; !ok {
			t.Fatalf("request %d evicted before older ones", i)
		}
	}
}

// Observe functions are called from transport goroutines and the loop at
// once; run with -race.
func TestObserveConcurrent(t *testing.T) {
	reg := New(WithPendingMax(128))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range uint64(2000) {
				from := sm.NodeID(100 + g)
				reg.ObserveInbound(from, sm.ProduceRequest{ReqID: i, TP: tp, Records: records(1, 8)})
				reg.ObserveSend([]sm.Envelope{{To: from, Msg: sm.ProduceResponse{ReqID: i, TP: tp}}})
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			default:
				_, _ = reg.Prometheus().Gather()
			}
		}
	}()
	wg.Wait()
	close(done)
	f := scrape(t, reg)
	if h := f.get(t, "weir_request_duration_seconds", "type", "ProduceRequest").GetHistogram(); h.GetSampleCount() != 8000 {
		t.Errorf("%d latencies observed, want 8000", h.GetSampleCount())
	}
	f.expect(t, "weir_requests_pending", 0)
}

// BenchmarkObserve measures what the Observe calls add per message. The
// messages are boxed beforehand, as the transport and the loop hand them
// over already boxed.
func BenchmarkObserve(b *testing.B) {
	const ring = 1 << 12 // distinct ReqIDs in flight over the run
	box := func(mk func(id uint64) sm.Message) []sm.Message {
		ms := make([]sm.Message, ring)
		for i := range ms {
			ms[i] = mk(uint64(i))
		}
		return ms
	}
	recs := records(10, 100)
	produces := box(func(id uint64) sm.Message { return sm.ProduceRequest{ReqID: id, TP: tp, Records: recs} })
	produced := box(func(id uint64) sm.Message { return sm.ProduceResponse{ReqID: id, TP: tp} })
	fetches := box(func(id uint64) sm.Message { return sm.FetchRequest{ReqID: id, TP: tp} })
	batches := []sm.Batch{{Records: recs}}
	fetched := box(func(id uint64) sm.Message { return sm.FetchResponse{ReqID: id, TP: tp, Batches: batches} })

	b.Run("produce-pair", func(b *testing.B) {
		reg := New()
		b.ReportAllocs()
		for i := range b.N {
			reg.ObserveInbound(100, produces[i%ring])
			reg.ObserveOutbound(100, produced[i%ring])
		}
	})
	b.Run("fetch-pair", func(b *testing.B) {
		reg := New()
		b.ReportAllocs()
		for i := range b.N {
			reg.ObserveInbound(100, fetches[i%ring])
			reg.ObserveOutbound(100, fetched[i%ring])
		}
	})
	b.Run("untracked", func(b *testing.B) {
		reg := New()
		var m sm.Message = sm.ReplicaFetchRequest{TP: tp}
		b.ReportAllocs()
		for range b.N {
			reg.ObserveInbound(2, m)
		}
	})
	b.Run("produce-pair-parallel", func(b *testing.B) {
		reg := New()
		var mu sync.Mutex
		peer := sm.NodeID(100)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			mu.Lock()
			from := peer
			peer++
			mu.Unlock()
			for i := 0; pb.Next(); i++ {
				reg.ObserveInbound(from, produces[i%ring])
				reg.ObserveOutbound(from, produced[i%ring])
			}
		})
	})
	b.Run("time.Now", func(b *testing.B) { // the floor: two clock reads per pair
		for range b.N {
			_ = time.Now()
		}
	})
}
