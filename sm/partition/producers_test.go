package partition

import (
	"slices"
	"testing"

	"github.com/weirmq/weir/sm"
)

// idem sends an idempotent produce of values from producer pid at epoch,
// its first record numbered seq.
func (c *cluster) idem(to sm.NodeID, acks sm.Acks, pid int64, epoch int16, seq int32, values ...string) uint64 {
	c.reqSeq++
	recs := make([]sm.Record, len(values))
	for i, v := range values {
		recs[i] = sm.Record{Value: []byte(v)}
	}
	c.reps[to].host.Deliver(sm.Envelope{From: producerID, To: to, Msg: sm.ProduceRequest{ReqID: c.reqSeq, TP: testTP, Acks: acks,
		Records: recs, Idempotent: true, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq}})
	return c.reqSeq
}

// wantReply delivers everything and checks produce id's answer.
func (c *cluster) wantReply(t *testing.T, id uint64, code sm.Code, base sm.Offset) {
	t.Helper()
	c.stabilize()
	r := c.reply(t, id)
	if r.Code != code || (code == sm.CodeOK || code == sm.CodeDuplicateSequence) && r.BaseOffset != base {
		t.Fatalf("produce %d: %v at %d (%s), want %v at %d", id, r.Code, r.BaseOffset, r.Message, code, base)
	}
}

// Goal: the leader stores each batch of an idempotent producer once and in
// sequence order — a retry is answered with the original's offset, a gap,
// a sequence from a producer it holds nothing of and a fenced epoch are
// refused with nothing stored — and the state follows leadership to a
// follower and a replica that restarted from its disk.
// Setup: three replicas, min ISR 2, one producer.
func TestIdempotentProduce(t *testing.T) {
	c := newCluster(t, 3, 2)
	c.stabilize()
	first := c.idem(101, ackAll, 7, 0, 0, "a", "b")
	c.stabilize()
	c.wantReply(t, first, sm.CodeOK, 0)

	// The reply was lost: the retry is the same batch.
	c.wantReply(t, c.idem(101, ackAll, 7, 0, 0, "a", "b"), sm.CodeDuplicateSequence, 0)
	gap := c.idem(101, ackAll, 7, 0, 3, "x")
	c.wantReply(t, gap, sm.CodeOutOfOrderSequence, 0)
	next := c.idem(101, ackAll, 7, 0, 2, "c")
	c.stabilize()
	c.wantReply(t, next, sm.CodeOK, 2)
	c.wantReply(t, c.idem(101, ackAll, 8, 0, 5, "y"), sm.CodeUnknownProducerID, 0)
	c.wantReply(t, c.idem(101, ackLeader, 8, 0, 0, "y"), sm.CodeInvalidRequest, 0)

	// A retry of an uncommitted batch waits for it to commit, as the
	// original does: the followers have not fetched "d" yet.
	d := c.idem(101, ackAll, 7, 0, 3, "d")
	c.diskDone(101)
	dRetry := c.idem(101, ackAll, 7, 0, 3, "d")
	if slices.ContainsFunc(c.net.Queue, func(e sm.Envelope) bool { return e.To == producerID }) {
		t.Fatalf("a produce answered before its batch committed: %+v", c.net.Queue)
	}
	c.wantReply(t, d, sm.CodeOK, 3)
	c.wantReply(t, dRetry, sm.CodeDuplicateSequence, 3)

	// 102 leads now: it built the state as it fetched.
	c.elect(102)
	c.settle(sm.Second)
	c.wantReply(t, c.idem(102, ackAll, 7, 0, 2, "c"), sm.CodeDuplicateSequence, 2)
	c.wantReply(t, c.idem(102, ackAll, 7, 0, 5, "z"), sm.CodeOutOfOrderSequence, 0)

	// 103 restarts from its disk and leads: the state comes from the
	// segment index its store rebuilt.
	c.crash(103, 0)
	if st := c.reps[103].p.log.producers[7]; st == nil || len(st.batches) != 3 || st.batches[2].Base != 3 {
		t.Fatalf("recovered producer state %+v", st)
	}
	c.metadataAll()
	c.settle(sm.Second)
	c.elect(103)
	c.settle(sm.Second)
	c.wantReply(t, c.idem(103, ackAll, 7, 0, 3, "d"), sm.CodeDuplicateSequence, 3)

	// A new epoch starts at 0 and fences the old one.
	e1 := c.idem(103, ackAll, 7, 1, 0, "e")
	c.settle(sm.Second)
	c.wantReply(t, e1, sm.CodeOK, 4)
	c.wantReply(t, c.idem(103, ackAll, 7, 0, 4, "f"), sm.CodeInvalidProducerEpoch, 0)
	c.wantReply(t, c.idem(103, ackAll, 7, 2, 1, "f"), sm.CodeOutOfOrderSequence, 0)

	want := []string{"a", "b", "c", "d", "e"}
	for _, id := range c.ids {
		var got []string
		for _, b := range c.reps[id].batches() {
			for _, r := range b.Records {
				got = append(got, string(r.Value))
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%v holds %v, want %v", id, got, want)
		}
	}
}

// Goal: the canary stores a retried batch twice, so the simulator's
// duplicate checker has something to find.
func TestCanaryStoreDuplicates(t *testing.T) {
	c := newClusterSetup(t, 1, 1, func(c *cluster) { c.mutate = func(cfg *Config) { cfg.CanaryStoreDuplicates = true } })
	c.stabilize()
	c.idem(101, ackAll, 7, 0, 0, "a")
	c.stabilize()
	c.idem(101, ackAll, 7, 0, 0, "a")
	c.stabilize()
	if got := values(c.reps[101]); len(got) != 2 {
		t.Fatalf("log %v, want the record twice", got)
	}
}

// Goal: the producer state is cut with the log — by a truncation and by
// retention — and keeps the last sm.ProducerBatchesKept batches of each
// producer; a producer left with nothing is forgotten.
func TestProducerStateFollowsLog(t *testing.T) {
	ps := producers{}
	for i := range 8 {
		ps.add(sm.ProducerBatch{ProducerID: 1, FirstSeq: int32(i), LastSeq: int32(i), Base: sm.Offset(2 * i), Last: sm.Offset(2 * i)})
		ps.add(sm.ProducerBatch{ProducerID: 2, FirstSeq: int32(i), LastSeq: int32(i), Base: sm.Offset(2*i + 1), Last: sm.Offset(2*i + 1)})
	}
	if b := ps[1].batches; len(b) != sm.ProducerBatchesKept || b[0].FirstSeq != 3 || b[4].FirstSeq != 7 {
		t.Fatalf("producer 1 keeps %+v", b)
	}
	ps.cut(13) // producer 1's seq 7 at 14 goes; 2's seq 6 at 13 and 7 at 15 go
	if b := ps[1].batches; len(b) != 4 || b[3].FirstSeq != 6 {
		t.Fatalf("after the cut, producer 1 keeps %+v", b)
	}
	if b := ps[2].batches; len(b) != 3 || b[2].FirstSeq != 5 {
		t.Fatalf("after the cut, producer 2 keeps %+v", b)
	}
	ps.trim(12)
	if b := ps[1].batches; len(b) != 1 || b[0].Base != 12 {
		t.Fatalf("after the trim, producer 1 keeps %+v", b)
	}
	if _, ok := ps[2]; ok {
		t.Fatalf("producer 2 had nothing left and is remembered: %+v", ps[2])
	}
	// A new epoch starts the producer's batches again.
	ps.add(sm.ProducerBatch{ProducerID: 1, Epoch: 1, Base: 20, Last: 20})
	if st := ps[1]; st.epoch != 1 || len(st.batches) != 1 {
		t.Fatalf("new epoch: %+v", st)
	}
}
