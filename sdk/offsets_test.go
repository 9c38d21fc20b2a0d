package sdk

import (
	"errors"
	"testing"

	"github.com/weirmq/weir/sm"
)

// Goal: ListOffsets asks every partition's leader, in partition order; a
// leader that moved answers NOT_LEADER and the partition is asked again at
// its new leader, with the newer epoch; an unknown topic is ErrUnknownTopic.
// Topic returns the topic's metadata, ID included.
func TestListOffsets(t *testing.T) {
	f := newFakeCluster(t, 101, 102)
	f.createTopic("orders", 2, 101, 102) // orders/0 on 101, orders/1 on 102
	f.mu.Lock()
	info := f.topics["orders"]
	info.ID = sm.TopicID{7}
	f.topics["orders"] = info
	f.version++
	f.mu.Unlock()
	c := f.newClient(f.clientConfig())
	p := newProducer(t, c, ProducerConfig{})
	defer p.Close(testCtx(t))
	for _, v := range []string{"a", "b", "c"} {
		if _, err := p.Send(testCtx(t), Message{Topic: "orders", Partition: 0, Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	if ti, err := c.Topic(testCtx(t), "orders"); err != nil || ti.ID != (sm.TopicID{7}) || ti.Partitions != 2 {
		t.Fatalf("Topic = %+v, %v", ti, err)
	}

	f.moveLeader(orders0, 102) // the client's metadata still names 101
	got, err := c.ListOffsets(testCtx(t), "orders")
	if err != nil {
		t.Fatal(err)
	}
	want := []PartitionOffsets{
		{TP: orders0, HighWatermark: 3, LogEnd: 3, Leader: 102, LeaderEpoch: 2},
		{TP: orders1, Leader: 102, LeaderEpoch: 1},
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("ListOffsets = %+v, want %+v", got, want)
	}
	f.mu.Lock()
	seen := f.offsetReqs
	f.mu.Unlock()
	asked101 := false
	for _, s := range seen {
		if s.req.TP == orders0 && s.broker == 101 {
			asked101 = true
		}
		if s.req.TP == orders0 && s.broker == 102 && s.req.CurrentLeaderEpoch != 2 {
			t.Errorf("retry at the new leader sent epoch %d, want 2", s.req.CurrentLeaderEpoch)
		}
	}
	if !asked101 {
		t.Errorf("the stale leader was never asked (requests %+v): the retry path went untested", seen)
	}
	if _, err := c.ListOffsets(testCtx(t), "nope"); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("ListOffsets of an unknown topic: %v", err)
	}
}
