package broker_test

import (
	"fmt"
	"testing"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/broker"
)

// benchNode drives one broker that leads every partition of one topic
// (replicas 101 and 102) with the events a busy broker sees: produces,
// their log completions, replica fetches from the follower, and timers.
// The bench plays the controller (it answers heartbeats and AlterISR), the
// follower 102 and the producers.
type benchNode struct {
	n       *broker.Node
	now     sm.Time
	parts   int
	fetched []sm.Offset // follower 102's log end per partition
	events  int
	rng     uint64
	value   []byte
}

const benchTopic = "bench"

func newBenchNode(tb testing.TB, parts int) *benchNode {
	cfg := broker.DefaultConfig(101, 1, []sm.NodeID{1})
	cfg.ReplicaLagTime = 3600 * sm.Second // a steady ISR: no shrink traffic
	n, err := broker.New(cfg, sm.Durable{})
	if err != nil {
		tb.Fatal(err)
	}
	b := &benchNode{n: n, now: sm.Time(sm.Second), parts: parts, fetched: make([]sm.Offset, parts), rng: 1, value: make([]byte, 100)}
	b.step(tb, sm.TimerFired{})
	d := sm.MetadataDelta{Full: true, ToVersion: 2,
		Brokers: []sm.BrokerInfo{{ID: 101, Incarnation: 1}, {ID: 102, Incarnation: 1}},
		Topics:  []sm.TopicInfo{{Name: benchTopic, Partitions: int32(parts), ReplicationFactor: 2, Config: sm.TopicConfig{MinInSyncReplicas: 1}}},
	}
	for i := range parts {
		tp := sm.TopicPartition{Topic: benchTopic, Partition: int32(i)}
		d.Partitions = append(d.Partitions, sm.PartitionState{TP: tp, Replicas: []sm.NodeID{101, 102}, Leader: 101, LeaderEpoch: 1, ISR: []sm.NodeID{101, 102}, PartitionEpoch: 1})
	}
	b.step(tb, sm.Received{From: 1, Msg: sm.BrokerHeartbeatResponse{Code: sm.CodeOK, Incarnation: 1, Delta: d, SentAt: b.now, SessionTimeout: 3600 * sm.Second}})
	for i := range parts {
		b.fetch(tb, i)
	}
	b.events = 0
	return b
}

// step delivers one event and plays every other party's immediate part:
// log operations complete (each as its own event), the controller answers,
// and the follower's state follows the fetch answers it gets.
func (b *benchNode) step(tb testing.TB, ev sm.Event) {
	b.events++
	b.now += sm.Time(20 * sm.Microsecond)
	if err := b.n.Step(b.now, ev); err != nil {
		tb.Fatal(err)
	}
	rd := b.n.Ready()
	b.n.Advance()
	if rd.Fatal != "" {
		tb.Fatal(rd.Fatal)
	}
	for _, m := range rd.Messages {
		switch msg := m.Msg.(type) {
		case sm.BrokerHeartbeat:
			defer b.step(tb, sm.Received{From: 1, Msg: sm.BrokerHeartbeatResponse{Code: sm.CodeOK, Incarnation: 1, Delta: sm.MetadataDelta{FromVersion: msg.MetadataVersion, ToVersion: msg.MetadataVersion}, SentAt: msg.SentAt, SessionTimeout: 3600 * sm.Second}})
		case sm.ReplicaFetchResponse:
			if msg.Code == sm.CodeOK && len(msg.Batches) > 0 {
				b.fetched[msg.TP.Partition] = msg.Batches[len(msg.Batches)-1].NextOffset()
			}
		}
	}
	for _, op := range rd.Log {
		defer b.step(tb, sm.LogDone{ID: op.ID})
	}
}

func (b *benchNode) next() int {
	b.rng = b.rng*6364136223846793005 + 1442695040888963407
	return int(b.rng>>33) % b.parts
}

func (b *benchNode) fetch(tb testing.TB, i int) {
	b.step(tb, sm.Received{From: 102, Msg: sm.ReplicaFetchRequest{
		TP: sm.TopicPartition{Topic: benchTopic, Partition: int32(i)}, Replica: 102, Incarnation: 1,
		LeaderEpoch: 1, FetchOffset: b.fetched[i], LastFetchedEpoch: epochBelow(b.fetched[i]),
	}})
}

func epochBelow(off sm.Offset) sm.Epoch {
	if off == 0 {
		return 0
	}
	return 1
}

// round is one produce to a random partition (and its log completion), the
// follower's fetch of it, and a timer.
func (b *benchNode) round(tb testing.TB) {
	i := b.next()
	b.step(tb, sm.Received{From: 1_000_000, Msg: sm.ProduceRequest{
		ReqID: uint64(b.events), TP: sm.TopicPartition{Topic: benchTopic, Partition: int32(i)},
		Acks: sm.Acks{Kind: sm.AckAll}, Records: []sm.Record{{Value: b.value}},
	}})
	b.fetch(tb, i)
	b.step(tb, sm.TimerFired{})
}

// BenchmarkBrokerEvent reports the cost of one event to a broker hosting 10,
// 1,000 and 10,000 partitions; the goal is a flat line (within 2×), since
// timers live in a heap and no event scans every partition.
//
//	go test ./sm/broker -run '^$' -bench BrokerEvent -benchtime 200000x
func BenchmarkBrokerEvent(b *testing.B) {
	for _, parts := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("partitions=%d", parts), func(b *testing.B) {
			bn := newBenchNode(b, parts)
			b.ReportAllocs()
			b.ResetTimer()
			for bn.events < b.N {
				bn.round(b)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(bn.events), "ns/event")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// The bench itself must exercise what it claims: produces are acknowledged
// through the follower's fetches (acks=all), so every path runs.
func TestBenchNodeAcknowledges(t *testing.T) {
	bn := newBenchNode(t, 10)
	acked := 0
	for range 200 {
		bn.round(t)
	}
	for _, s := range bn.n.Partitions() {
		if s.HW > 0 {
			acked++
		}
		if s.Role.String() != "leader" || len(s.ISR) != 2 {
			t.Fatalf("%v: %+v", s.TP, s)
		}
	}
	if acked == 0 {
		t.Fatal("no partition's high watermark moved: the follower fetches do not work")
	}
}
