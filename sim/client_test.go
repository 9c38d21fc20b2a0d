package sim

import (
	"testing"

	"github.com/weirmq/weir/linearizability"
	"github.com/weirmq/weir/sm"
)

// The client records exactly what the broker answered: a record at or above
// the high watermark reaches the history (where CheckLog flags it), and a
// refusal carries its reply's high watermark and epoch.
func TestClientRecordsWhatTheBrokerAnswered(t *testing.T) {
	w, err := New(DefaultConfig(1))
	if err != nil {
		t.Fatal(err)
	}
	tp := sm.TopicPartition{Topic: "t", Partition: 0}
	c := w.clients[w.clientIDs()[0]]
	ask := func(reqID uint64, resp sm.FetchResponse) linearizability.Op {
		t.Helper()
		c.inflight = &pending{reqID: reqID, kind: linearizability.Fetch, to: 101,
			op: linearizability.Op{Kind: linearizability.Fetch, TP: tp.String(), FetchOffset: 0}}
		n := len(w.history.Ops)
		resp.ReqID, resp.TP = reqID, tp
		c.receive(sm.Envelope{From: 101, To: c.id, Msg: resp})
		if len(w.history.Ops) != n+1 {
			t.Fatalf("reply %d recorded %d ops", reqID, len(w.history.Ops)-n)
		}
		return w.history.Ops[n]
	}
	b := sm.Batch{BaseOffset: 0, Epoch: 1, Records: []sm.Record{{Value: []byte("a")}, {Value: []byte("b")}}}
	op := ask(1, sm.FetchResponse{Code: sm.CodeOK, Batches: []sm.Batch{b}, HighWatermark: 1, LeaderEpoch: 1})
	if len(op.Records) != 2 {
		t.Fatalf("recorded %v; want both records, the one at the hw included", op.Records)
	}
	if rep := linearizability.CheckLog(&linearizability.History{Ops: []linearizability.Op{op}}); rep.Counts[linearizability.ViolationAboveHW] == 0 {
		t.Fatalf("CheckLog did not flag the record at the hw: %v", rep)
	}
	op = ask(2, sm.FetchResponse{Code: sm.CodeOffsetOutOfRange, HighWatermark: 7, LeaderEpoch: 3})
	if op.Outcome != linearizability.Failed || op.HW != 7 || op.Epoch != 3 || op.Err != linearizability.ErrOffsetOutOfRange {
		t.Fatalf("refusal recorded as %+v", op)
	}
}
