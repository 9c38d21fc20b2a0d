package sdk

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirmq/weir/sm"
)

// idemFixture is a one-broker fake cluster with topic "orders" (one
// partition) and an idempotent producer on a client whose requests time
// out after reqTimeout.
func idemFixture(t *testing.T, reqTimeout time.Duration, cfg ProducerConfig) (*fakeCluster, *Client, *Producer) {
	t.Helper()
	f := newFakeCluster(t, 101)
	f.createTopic("orders", 1, 101)
	ccfg := f.clientConfig()
	ccfg.RequestTimeout = reqTimeout
	c := f.newClient(ccfg)
	cfg.Idempotent = true
	p := newProducer(t, c, cfg)
	t.Cleanup(func() { p.Close(context.Background()) })
	return f, c, p
}

// idemProduces are the idempotent produce requests the fake saw.
func (f *fakeCluster) idemProduces() []sm.ProduceRequest {
	var out []sm.ProduceRequest
	for _, s := range f.producesSeen() {
		if s.req.Idempotent {
			out = append(out, s.req)
		}
	}
	return out
}

func values(recs []sm.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
	}
	return out
}

// sendAll sends values to orders0 asynchronously and returns, in callback
// order, what each callback got, once all came.
type outcome struct {
	value string
	r     Result
	err   error
}

func sendAll(t *testing.T, p *Producer, vals []string) []outcome {
	t.Helper()
	var mu sync.Mutex
	var got []outcome
	for _, v := range vals {
		p.SendAsync(Message{Topic: "orders", Partition: 0, Value: []byte(v)}, func(r Result, err error) {
			mu.Lock()
			got = append(got, outcome{v, r, err})
			mu.Unlock()
		})
	}
	if err := p.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(got)
}

// checkInOrder fails unless every record was acknowledged, in the order
// sent, at the offset the log holds it at, and the log holds each once.
func checkInOrder(t *testing.T, f *fakeCluster, vals []string, got []outcome) {
	t.Helper()
	if len(got) != len(vals) {
		t.Fatalf("%d callbacks for %d records", len(got), len(vals))
	}
	log := values(f.logOf(orders0))
	for i, o := range got {
		if o.err != nil {
			t.Fatalf("record %q: %v", o.value, o.err)
		}
		if o.value != vals[i] {
			t.Fatalf("callback %d is for %q, want %q (acked out of order)", i, o.value, vals[i])
		}
		if int(o.r.Offset) >= len(log) || log[o.r.Offset] != o.value {
			t.Fatalf("record %q acked at offset %d, which holds something else (log %q)", o.value, o.r.Offset, log)
		}
	}
	if !slices.Equal(log, vals) {
		t.Fatalf("log holds %q, want %q (each once, in order)", log, vals)
	}
}

// Goal: a batch whose reply was lost is retried with the same numbers, the
// leader answers DUPLICATE_SEQUENCE_NUMBER, and the record is acked once at
// the original's offset.
func TestIdempotentLostReplyWrittenOnce(t *testing.T) {
	f, c, p := idemFixture(t, 300*time.Millisecond, ProducerConfig{})
	if r, err := p.Send(testCtx(t), Message{Topic: "orders", Partition: 0, Value: []byte("a")}); err != nil || r.Offset != 0 {
		t.Fatalf("first send: %+v %v", r, err)
	}
	dropped := false
	f.setOnProduce(func(self sm.NodeID, req sm.ProduceRequest) (sm.Message, bool) {
		if dropped || string(req.Records[0].Value) != "b" {
			return nil, false
		}
		dropped = true
		f.produceLocked(self, req) // written, and the reply lost
		return nil, true
	})
	r, err := p.Send(testCtx(t), Message{Topic: "orders", Partition: 0, Value: []byte("b")})
	if err != nil || r.Offset != 1 {
		t.Fatalf("send after a lost reply: %+v %v, want offset 1", r, err)
	}
	if log := values(f.logOf(orders0)); !slices.Equal(log, []string{"a", "b"}) {
		t.Fatalf("log %q, want [a b]", log)
	}
	reqs := f.idemProduces()
	if len(reqs) != 3 || reqs[1].BaseSequence != 1 || reqs[2].BaseSequence != 1 || reqs[1].ProducerID != reqs[2].ProducerID || reqs[0].ProducerID != reqs[1].ProducerID {
		t.Fatalf("requests %+v: want seq 0, then seq 1 twice, one producer ID", reqs)
	}
	if reqs[0].Acks.Kind != sm.AckAll {
		t.Errorf("acks %v, want all", reqs[0].Acks)
	}
	if s := c.Stats(); s.DuplicatesAnswered != 1 || s.SequenceResets != 0 || s.ProducerIDs != 1 {
		t.Errorf("stats %+v: want 1 duplicate, no reset, one producer ID", s)
	}
}

// holdFive makes the fake hold the first five idempotent requests, then
// handle them with process (in the order it likes; they come sorted by
// sequence) and reply in reverse order; later requests are handled at
// once.
func holdFive(f *fakeCluster, client sm.NodeID, process func(held []sm.ProduceRequest, self sm.NodeID) []sm.Message) {
	var held []sm.ProduceRequest
	done := false
	f.setOnProduce(func(self sm.NodeID, req sm.ProduceRequest) (sm.Message, bool) {
		if done || !req.Idempotent {
			return nil, false
		}
		held = append(held, req)
		if len(held) < 5 {
			return nil, true
		}
		done = true
		slices.SortFunc(held, func(a, b sm.ProduceRequest) int { return int(a.BaseSequence - b.BaseSequence) })
		replies := process(held, self)
		tr := f.brokers[self].tr
		go func() {
			for i := len(replies) - 1; i >= 0; i-- {
				tr.Send([]sm.Envelope{{To: client, Msg: replies[i]}})
			}
		}()
		return nil, true
	})
}

// Goal: five batches in flight whose replies come back in reverse order are
// acknowledged in the order sent.
func TestIdempotentRepliesOutOfOrder(t *testing.T) {
	f, c, p := idemFixture(t, 2*time.Second, ProducerConfig{BatchRecords: 1})
	holdFive(f, c.ID(), func(held []sm.ProduceRequest, self sm.NodeID) []sm.Message {
		out := make([]sm.Message, len(held))
		for i, req := range held {
			out[i] = f.produceLocked(self, req)
		}
		return out
	})
	vals := []string{"v0", "v1", "v2", "v3", "v4", "v5", "v6"}
	got := sendAll(t, p, vals)
	checkInOrder(t, f, vals, got)
	if n := len(f.idemProduces()); n != len(vals) {
		t.Errorf("%d requests for %d batches: none needed sending again", n, len(vals))
	}
}

// Goal: five batches in flight that reach the leader in reverse order: the
// four that overtook the first are refused as out of order, sent again after
// it, and everything is written once, in order, without a reset.
func TestIdempotentRequestsReordered(t *testing.T) {
	f, c, p := idemFixture(t, 2*time.Second, ProducerConfig{BatchRecords: 1})
	holdFive(f, c.ID(), func(held []sm.ProduceRequest, self sm.NodeID) []sm.Message {
		out := make([]sm.Message, len(held))
		for i := len(held) - 1; i >= 0; i-- {
			out[i] = f.produceLocked(self, held[i])
		}
		return out
	})
	vals := []string{"v0", "v1", "v2", "v3", "v4", "v5"}
	got := sendAll(t, p, vals)
	checkInOrder(t, f, vals, got)
	// Four refusals at least (v5 may go out while v1 goes again, and be
	// refused too, depending on which reply the producer handles first).
	if s := c.Stats(); s.OutOfOrderRetries < 4 || s.SequenceResets != 0 || s.ProducerIDs != 1 {
		t.Errorf("stats %+v: want 4 out-of-order retries or more, no reset, one producer ID", s)
	}
}

// Goal: UNKNOWN_PRODUCER_ID (the leader lost the producer's state) makes
// the partition start again from 0, under a new producer ID, and the
// batch is written once.
func TestIdempotentUnknownProducerRenumbers(t *testing.T) {
	f, c, p := idemFixture(t, 2*time.Second, ProducerConfig{})
	got := sendAll(t, p, []string{"a", "b"})
	f.forgetProducers(orders0)
	got = append(got, sendAll(t, p, []string{"c", "d"})...)
	checkInOrder(t, f, []string{"a", "b", "c", "d"}, got)
	reqs := f.idemProduces()
	i := slices.IndexFunc(reqs, func(r sm.ProduceRequest) bool { return r.ProducerID != reqs[0].ProducerID })
	if i < 0 || reqs[i].BaseSequence != 0 || string(reqs[i].Records[0].Value) != "c" {
		t.Fatalf("requests %+v: want c sent again as sequence 0 under a new producer ID", reqs)
	}
	if !slices.ContainsFunc(reqs, func(r sm.ProduceRequest) bool {
		return r.ProducerID == reqs[0].ProducerID && r.BaseSequence == 2 && string(r.Records[0].Value) == "c"
	}) {
		t.Errorf("requests %+v: want c sent first as sequence 2 of the first producer ID", reqs)
	}
	if s := c.Stats(); s.SequenceResets != 1 || s.ProducerIDs != 2 {
		t.Errorf("stats %+v: want one reset, two producer IDs", s)
	}
}

// Goal: a batch whose retries all end without an answer fails as an
// unknown outcome after DeliveryTimeout, and the partition then takes a new
// producer ID and starts at 0 before anything more goes to it.
func TestIdempotentUnknownOutcomeNewProducerID(t *testing.T) {
	f, c, p := idemFixture(t, 150*time.Millisecond, ProducerConfig{DeliveryTimeout: 800 * time.Millisecond})
	if _, err := p.Send(testCtx(t), Message{Topic: "orders", Partition: 0, Value: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	f.setOnProduce(func(self sm.NodeID, req sm.ProduceRequest) (sm.Message, bool) {
		if string(req.Records[0].Value) == "lost" {
			f.produceLocked(self, req) // written (once: then duplicates), never answered
			return nil, true
		}
		return nil, false
	})
	_, err := p.Send(testCtx(t), Message{Topic: "orders", Partition: 0, Value: []byte("lost")})
	var ue *OutcomeUnknownError
	if !errors.As(err, &ue) || !errors.Is(err, ErrTimeout) {
		t.Fatalf("send never answered: %v, want an *OutcomeUnknownError", err)
	}
	r, err := p.Send(testCtx(t), Message{Topic: "orders", Partition: 0, Value: []byte("next")})
	if err != nil || r.Offset != 2 {
		t.Fatalf("send after an unknown outcome: %+v %v, want offset 2", r, err)
	}
	if log := values(f.logOf(orders0)); !slices.Equal(log, []string{"a", "lost", "next"}) {
		t.Fatalf("log %q: the unanswered batch must be written once", log)
	}
	reqs := f.idemProduces()
	first, last := reqs[0], reqs[len(reqs)-1]
	if last.BaseSequence != 0 || last.ProducerID == first.ProducerID {
		t.Fatalf("request after the unknown outcome %+v: want sequence 0 under a new producer ID", last)
	}
	if s := c.Stats(); s.SequenceResets != 1 || s.ProducerIDs != 2 || s.DuplicatesAnswered != 0 {
		t.Errorf("stats %+v", s)
	}
}

// Goal: INVALID_PRODUCER_EPOCH fails the batch with ErrProducerFenced (not
// retried); the partition carries on under a new producer ID.
func TestIdempotentFenced(t *testing.T) {
	f, _, p := idemFixture(t, 2*time.Second, ProducerConfig{})
	f.setOnProduce(func(self sm.NodeID, req sm.ProduceRequest) (sm.Message, bool) {
		if string(req.Records[0].Value) == "x" {
			return sm.ProduceResponse{ReqID: req.ReqID, TP: req.TP, Code: sm.CodeInvalidProducerEpoch, Message: "fenced"}, true
		}
		return nil, false
	})
	_, err := p.Send(testCtx(t), Message{Topic: "orders", Partition: 0, Value: []byte("x")})
	if !errors.Is(err, ErrProducerFenced) || !strings.Contains(err.Error(), "INVALID_PRODUCER_EPOCH") {
		t.Fatalf("fenced send: %v, want ErrProducerFenced", err)
	}
	if n := len(f.idemProduces()); n != 1 {
		t.Errorf("%d requests: a fenced batch is not retried", n)
	}
	if r, err := p.Send(testCtx(t), Message{Topic: "orders", Partition: 0, Value: []byte("y")}); err != nil || r.Offset != 0 {
		t.Fatalf("send after the fenced one: %+v %v", r, err)
	}
}

// Goal: with replies and requests lost at random and the leader moving,
// every record is written exactly once and acknowledged in order at its
// offset.
func TestIdempotentLossyNetwork(t *testing.T) {
	f := newFakeCluster(t, 101, 102)
	f.createTopic("orders", 1, 101)
	ccfg := f.clientConfig()
	ccfg.RequestTimeout = 150 * time.Millisecond
	c := f.newClient(ccfg)
	p := newProducer(t, c, ProducerConfig{Idempotent: true, BatchRecords: 3})
	defer p.Close(context.Background())
	rng := rand.New(rand.NewPCG(1, 2))
	n := 0
	f.setOnProduce(func(self sm.NodeID, req sm.ProduceRequest) (sm.Message, bool) {
		if n++; n%40 == 0 {
			go f.moveLeader(orders0, 203-self) // 101 <-> 102
		}
		switch x := rng.IntN(10); {
		case x == 0: // request lost
			return nil, true
		case x == 1: // reply lost
			f.produceLocked(self, req)
			return nil, true
		}
		return nil, false
	})
	var vals []string
	for i := range 300 {
		vals = append(vals, fmt.Sprintf("r%03d", i))
	}
	got := sendAll(t, p, vals)
	checkInOrder(t, f, vals, got)
	if s := c.Stats(); s.DuplicatesAnswered == 0 {
		t.Errorf("stats %+v: lost replies should have been answered as duplicates", s)
	}
}

// Goal: a Close whose context ends while batches are unanswered fails the
// sent ones as unknown and the queued ones with ErrClosed, callbacks still
// in order, and returns.
func TestIdempotentCloseAbandons(t *testing.T) {
	f, _, p := idemFixture(t, 5*time.Second, ProducerConfig{BatchRecords: 1})
	f.setOnProduce(func(self sm.NodeID, req sm.ProduceRequest) (sm.Message, bool) { return nil, true })
	var mu sync.Mutex
	var got []outcome
	for i := range 8 {
		v := fmt.Sprint(i)
		p.SendAsync(Message{Topic: "orders", Partition: 0, Value: []byte(v)}, func(r Result, err error) {
			mu.Lock()
			got = append(got, outcome{v, r, err})
			mu.Unlock()
		})
	}
	eventually(t, "five requests out", func() bool { return len(f.idemProduces()) == 5 })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want the context's error", err)
	}
	eventually(t, "every callback", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 8 })
	for i, o := range got {
		var ue *OutcomeUnknownError
		switch {
		case o.value != fmt.Sprint(i):
			t.Fatalf("callback %d for record %s: out of order", i, o.value)
		case i < 5 && !errors.As(o.err, &ue):
			t.Errorf("sent record %d: %v, want an *OutcomeUnknownError", i, o.err)
		case i >= 5 && !errors.Is(o.err, ErrClosed):
			t.Errorf("queued record %d: %v, want ErrClosed", i, o.err)
		}
	}
}

// Goal: sequence numbers wrap from MaxInt32 to 0.
func TestSeqAdd(t *testing.T) {
	for _, c := range []struct {
		seq  int32
		n    int
		want int32
	}{{0, 1, 1}, {5, 10, 15}, {math.MaxInt32, 1, 0}, {math.MaxInt32 - 1, 3, 1}, {math.MaxInt32, 0, math.MaxInt32}} {
		if got := seqAdd(c.seq, c.n); got != c.want {
			t.Errorf("seqAdd(%d, %d) = %d, want %d", c.seq, c.n, got, c.want)
		}
	}
}

// Goal: NewProducer refuses idempotence with acks other than all or more
// than five requests in flight, naming the field; the defaults are acks all
// and five in flight.
func TestIdempotentConfig(t *testing.T) {
	f := newFakeCluster(t, 101)
	c := f.newClient(f.clientConfig())
	for _, bad := range []struct {
		cfg   ProducerConfig
		field string
	}{
		{ProducerConfig{Idempotent: true, Acks: AckLevel(sm.AckLeader)}, "ProducerConfig.Acks"},
		{ProducerConfig{Idempotent: true, Acks: AckLevel(sm.AckMajority)}, "ProducerConfig.Acks"},
		{ProducerConfig{Idempotent: true, Acks: AckCustom(2)}, "ProducerConfig.Acks"},
		{ProducerConfig{Idempotent: true, MaxInflightPerPartition: 6}, "ProducerConfig.MaxInflightPerPartition"},
	} {
		p, err := c.NewProducer(bad.cfg)
		if err == nil || !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), bad.field) {
			t.Errorf("NewProducer(%+v) = %v, %v: want an error naming %s", bad.cfg, p, err, bad.field)
		}
	}
	p := newProducer(t, c, ProducerConfig{Idempotent: true})
	if p.acks.Kind != sm.AckAll || p.cfg.MaxInflightPerPartition != 5 {
		t.Errorf("defaults: acks %v, in flight %d; want all and 5", p.acks, p.cfg.MaxInflightPerPartition)
	}
	p = newProducer(t, c, ProducerConfig{Idempotent: true, Acks: AckLevel(sm.AckAll), MaxInflightPerPartition: 2})
	if p.cfg.MaxInflightPerPartition != 2 {
		t.Errorf("in flight %d, want 2", p.cfg.MaxInflightPerPartition)
	}
	if p := newProducer(t, c, ProducerConfig{}); p.cfg.MaxInflightPerPartition != 1 {
		t.Errorf("without idempotence: in flight %d, want 1", p.cfg.MaxInflightPerPartition)
	}
}

// BenchmarkProduceIdempotent is issue 12's idempotence overhead figure:
// produce throughput of 100-byte records to one partition of the loopback
// fake cluster, acks all and five requests in flight both ways, with
// idempotence off (the baseline) and on.
func BenchmarkProduceIdempotent(b *testing.B) {
	f := newFakeCluster(b, 101)
	f.createTopic("orders", 1, 101)
	c := f.newClient(f.clientConfig())
	value := []byte(strings.Repeat("x", 100))
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			p, err := c.NewProducer(ProducerConfig{Idempotent: on, MaxInflightPerPartition: 5, Linger: time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			var failed sync.Once
			cb := func(_ Result, err error) {
				if err != nil {
					failed.Do(func() { b.Error(err) })
				}
			}
			b.ResetTimer()
			for range b.N {
				p.SendAsync(Message{Topic: "orders", Partition: 0, Value: value}, cb)
			}
			if err := p.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
		})
	}
}
