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

// Goal: a simulated client keeps a topic that one metadata delta both
// deletes and re-creates, with the new topic's settings and partitions. The
// client's own copy of the delta rules used to upsert topics before
// deleting, so the re-created topic vanished from its view (here: its
// unclean-election setting was lost, so a produce was wrongly recorded as
// durable).
func TestClientKeepsTopicDeletedAndRecreatedInOneDelta(t *testing.T) {
	w, err := New(DefaultConfig(1))
	if err != nil {
		t.Fatal(err)
	}
	c := w.clients[firstClientID]
	answer := func(d sm.MetadataDelta) {
		c.refreshMetadata()
		c.receive(sm.Envelope{From: c.controller, To: c.id, Msg: sm.MetadataResponse{ReqID: c.reqID, Delta: d}})
		if c.inflight != nil {
			t.Fatal("metadata answer left the request outstanding")
		}
	}
	part := func(i int32, leader sm.NodeID) sm.PartitionState {
		return sm.PartitionState{TP: sm.TopicPartition{Topic: "a", Partition: i}, Replicas: []sm.NodeID{leader}, Leader: leader, LeaderEpoch: 1, ISR: []sm.NodeID{leader}, PartitionEpoch: 1}
	}
	answer(sm.MetadataDelta{
		ToVersion: 10, Full: true,
		Brokers:    []sm.BrokerInfo{{ID: 101, Incarnation: 1}, {ID: 102, Incarnation: 1}},
		Topics:     []sm.TopicInfo{{Name: "a", Partitions: 2, ReplicationFactor: 1, Config: sm.TopicConfig{MinInSyncReplicas: 1}}},
		Partitions: []sm.PartitionState{part(0, 101), part(1, 102)},
	})
	answer(sm.MetadataDelta{
		FromVersion: 10, ToVersion: 12,
		Topics:        []sm.TopicInfo{{Name: "a", Partitions: 1, ReplicationFactor: 1, Config: sm.TopicConfig{MinInSyncReplicas: 1, UncleanLeaderElection: true}}},
		DeletedTopics: []string{"a"},
		Partitions:    []sm.PartitionState{part(0, 102)},
	})
	if c.issue(action{kind: linearizability.Produce, tp: sm.TopicPartition{Topic: "a", Partition: 1}, acks: sm.Acks{Kind: sm.AckAll}, n: 1}) {
		t.Fatal("produce sent to a/1, a partition of the deleted topic")
	}
	if !c.issue(action{kind: linearizability.Produce, tp: sm.TopicPartition{Topic: "a", Partition: 0}, acks: sm.Acks{Kind: sm.AckAll}, n: 1}) {
		t.Fatal("no leader for a/0 of the re-created topic")
	}
	if p := c.inflight; p.to != 102 || p.op.Durable {
		t.Fatalf("produce to %v durable=%v, want to b102 and not durable (the re-created topic allows unclean election)", p.to, p.op.Durable)
	}
}
