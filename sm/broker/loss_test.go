package broker_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/weirmq/weir/sm"
)

// A full WAL refuses appends before writing anything: the produce is answered
// STORAGE_ERROR (retriable, naming the broker), the batch leaves the log, and
// once space is back the same offset takes the next record. The broker never
// stops.
func TestRefusedAppendAnswersStorageError(t *testing.T) {
	w := newWorld(t, 101)
	w.topic("orders", 1, 101)
	w.ctrl[ctrl1].topics["orders"] = sm.TopicInfo{Name: "orders", Partitions: 1, ReplicationFactor: 1, Config: sm.TopicConfig{MinInSyncReplicas: 1}}
	w.run(300 * sm.Millisecond)
	if r := w.client(101, produce(tp0, ackAll, "a"), 50*sm.Millisecond).(sm.ProduceResponse); r.Code != sm.CodeOK {
		t.Fatalf("first produce: %+v", r)
	}
	w.refuse[101] = true
	r := w.client(101, produce(tp0, ackAll, "b"), 50*sm.Millisecond).(sm.ProduceResponse)
	if r.Code != sm.CodeStorageError || !r.Code.Retriable() || !strings.Contains(r.Message, "broker 101") || !strings.Contains(r.Message, "capacity_bytes") {
		t.Fatalf("produce into a full WAL: %+v", r)
	}
	if got := logValues(w.nodes[101], tp0); !slices.Equal(got, []string{"a"}) || w.nodes[101].fatal() != "" {
		t.Fatalf("after the refusal: log %v, fatal %q", got, w.nodes[101].fatal())
	}
	w.refuse[101] = false
	r = w.client(101, produce(tp0, ackAll, "c"), 50*sm.Millisecond).(sm.ProduceResponse)
	if r.Code != sm.CodeOK || r.BaseOffset != 1 {
		t.Fatalf("produce after space came back: %+v", r)
	}
	if got := logValues(w.nodes[101], tp0); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("log %v", got)
	}
}

// A follower whose WAL is full falls behind without stopping and catches up
// once it has space again.
func TestRefusedFollowerAppendCatchesUpLater(t *testing.T) {
	w := newWorld(t, 101, 102)
	w.topic("orders", 1, 101, 102)
	w.ctrl[ctrl1].topics["orders"] = sm.TopicInfo{Name: "orders", Partitions: 1, ReplicationFactor: 2, Config: sm.TopicConfig{MinInSyncReplicas: 1}}
	w.run(300 * sm.Millisecond)
	w.refuse[102] = true
	w.client(101, produce(tp0, sm.Acks{Kind: sm.AckLeader}, "a"), 50*sm.Millisecond)
	w.run(500 * sm.Millisecond)
	if got := logValues(w.nodes[102], tp0); len(got) != 0 || w.nodes[102].fatal() != "" {
		t.Fatalf("full follower: log %v, fatal %q", got, w.nodes[102].fatal())
	}
	w.refuse[102] = false
	w.run(500 * sm.Millisecond)
	if got := logValues(w.nodes[102], tp0); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("follower after space came back: %v", got)
	}
}

// A replica recovered from a damaged log says so until it registers, serves
// nothing while no other replica leads, and keeps its bytes; once another
// replica leads (and it is out of the ISR, as the controller makes it), it
// cuts the bad part first and rebuilds from the leader.
func TestDamagedReplicaRebuildsOnlyFromAnotherLeader(t *testing.T) {
	w := newWorld(t, 101, 102)
	w.topic("orders", 1, 101, 102)
	w.run(300 * sm.Millisecond)
	for _, v := range []string{"a", "b", "c"} {
		if r := w.client(101, produce(tp0, ackAll, v), 50*sm.Millisecond).(sm.ProduceResponse); r.Code != sm.CodeOK {
			t.Fatalf("produce %s: %+v", v, r)
		}
	}
	w.run(300 * sm.Millisecond)
	file := w.nodes[102].disk.Log(tp0)
	_, n, err := sm.DecodeBatch(file)
	if err != nil {
		t.Fatal(err)
	}
	// 102 restarts; its log is damaged after the first batch. The
	// controller (as the real one does for a Lost registration) takes it
	// out of the ISR and, for now, the partition is offline.
	c := w.ctrl[ctrl1]
	st := c.parts[tp0]
	st.Leader, st.ISR, st.LeaderEpoch, st.PartitionEpoch = sm.NoNode, []sm.NodeID{101}, st.LeaderEpoch+1, st.PartitionEpoch+1
	c.parts[tp0] = st
	c.version++
	w.cut[101] = true
	c.heartbeats = nil
	w.startFrom(102, 2, map[sm.TopicPartition][]byte{tp0: slices.Clone(file[:n])}, sm.Durable{
		Damaged: map[sm.TopicPartition]string{tp0: "wal: corrupt record in x at byte 40"},
	})
	w.run(500 * sm.Millisecond)
	if len(c.heartbeats) == 0 || !slices.Equal(c.heartbeats[0].hb.Lost, []sm.TopicPartition{tp0}) {
		t.Fatalf("registration heartbeat did not report the damaged log: %+v", c.heartbeats)
	}
	if last := c.heartbeats[len(c.heartbeats)-1].hb; len(last.Lost) != 0 {
		t.Fatalf("heartbeat after registration still reports losses: %+v", last)
	}
	if len(w.nodes[102].disk.History) != 0 {
		t.Fatalf("damaged replica touched its disk with no leader to rebuild from: %+v", w.nodes[102].disk.History)
	}
	if d := w.nodes[102].n.Damaged(); d[tp0] == "" {
		t.Fatalf("damage not reported: %v", d)
	}
	// 101 comes back and leads.
	w.cut[101] = false
	w.elect(tp0, 101)
	w.run(time2s)
	h := w.nodes[102].disk.History
	if len(h) == 0 || h[0].Kind != sm.LogTruncate || h[0].Offset != 1 || h[0].TP != tp0 {
		t.Fatalf("the first disk operation of the repair must cut the damaged log at offset 1: %+v", h)
	}
	if got := logValues(w.nodes[102], tp0); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("rebuilt log %v", got)
	}
	if d := w.nodes[102].n.Damaged(); len(d) != 0 {
		t.Fatalf("still damaged after the repair: %v", d)
	}
}

const time2s = 2 * sm.Second

// A broker that started on an empty disk says so until it registers, so the
// controller never elects it for data it no longer holds.
func TestFreshDiskIsReported(t *testing.T) {
	w := newWorld(t)
	w.startFrom(101, 5, nil, sm.Durable{FreshDisk: true})
	w.run(300 * sm.Millisecond)
	hbs := w.ctrl[ctrl1].heartbeats
	if len(hbs) < 2 || !hbs[0].hb.LostDisk || hbs[len(hbs)-1].hb.LostDisk {
		t.Fatalf("heartbeats: first must report the lost disk, those after registration not: %+v", hbs)
	}
}
