package metacache_test

import (
	"reflect"
	"testing"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/metacache"
)

func part(topic string, i int32, leader sm.NodeID, epoch sm.Epoch, replicas ...sm.NodeID) sm.PartitionState {
	return sm.PartitionState{TP: sm.TopicPartition{Topic: topic, Partition: i}, Replicas: replicas, Leader: leader, LeaderEpoch: epoch, ISR: replicas, PartitionEpoch: int64(epoch)}
}

func full(version uint64) sm.MetadataDelta {
	return sm.MetadataDelta{
		ToVersion: version, Full: true,
		Brokers:    []sm.BrokerInfo{{ID: 101, Incarnation: 1, Host: "h1"}, {ID: 102, Incarnation: 1, Host: "h2"}},
		Topics:     []sm.TopicInfo{{Name: "a", Partitions: 2, ReplicationFactor: 2}, {Name: "b", Partitions: 1, ReplicationFactor: 1}},
		Partitions: []sm.PartitionState{part("a", 0, 101, 1, 101, 102), part("a", 1, 102, 1, 102, 101), part("b", 0, 101, 1, 101)},
	}
}

// Goal: a topic deleted and re-created within one delta is there afterwards
// with only the new topic's partitions (the simulator's client used to
// upsert before deleting, which lost it).
func TestDeleteAndRecreateInOneDelta(t *testing.T) {
	c := metacache.New()
	if !c.Apply(full(10)) {
		t.Fatal("full delta refused by an empty cache")
	}
	d := sm.MetadataDelta{
		FromVersion: 10, ToVersion: 12,
		Topics:        []sm.TopicInfo{{Name: "a", Partitions: 1, ReplicationFactor: 1}},
		DeletedTopics: []string{"a", "b"},
		Partitions:    []sm.PartitionState{part("a", 0, 102, 1, 102)},
	}
	if !c.Apply(d) {
		t.Fatal("delta from the held version refused")
	}
	if ti, ok := c.Topic("a"); !ok || ti.Partitions != 1 {
		t.Fatalf("re-created topic: %+v %v", ti, ok)
	}
	if _, ok := c.Topic("b"); ok {
		t.Fatal("deleted topic b still there")
	}
	if got := c.Partitions("a"); len(got) != 1 || got[0].Leader != 102 {
		t.Fatalf("partitions of re-created a: %+v", got)
	}
	if _, ok := c.Partition(sm.TopicPartition{Topic: "a", Partition: 1}); ok {
		t.Fatal("partition a/1 of the deleted topic survived")
	}
	if l, e := c.Leader(sm.TopicPartition{Topic: "a", Partition: 0}); l != 102 || e != 1 {
		t.Fatalf("leader of a/0: %v at %d", l, e)
	}
	if c.Version() != 12 {
		t.Fatalf("version %d", c.Version())
	}
}

// Goal: Apply refuses what would move the cache back or skip versions, and
// a refused delta changes nothing.
func TestApplyRefuses(t *testing.T) {
	moved := sm.MetadataDelta{FromVersion: 10, ToVersion: 11, Partitions: []sm.PartitionState{part("a", 0, 102, 2, 101, 102)}}
	for _, tc := range []struct {
		name  string
		delta sm.MetadataDelta
		ok    bool
	}{
		{"full older", full(9), false},
		{"full same", full(10), false},
		{"full newer", full(11), true},
		{"incremental with a gap", sm.MetadataDelta{FromVersion: 11, ToVersion: 12, DeletedTopics: []string{"a"}}, false},
		{"incremental old", sm.MetadataDelta{FromVersion: 5, ToVersion: 10, DeletedTopics: []string{"a"}}, false},
		{"empty answer of a lagging controller", sm.MetadataDelta{FromVersion: 10, ToVersion: 10}, false},
		{"incremental from the held version", moved, true},
		{"incremental from before the held version", sm.MetadataDelta{FromVersion: 3, ToVersion: 11, Partitions: moved.Partitions}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := metacache.New()
			c.Apply(full(10))
			before := c.Full()
			if got := c.Apply(tc.delta); got != tc.ok {
				t.Fatalf("Apply = %v, want %v", got, tc.ok)
			}
			if !tc.ok && !reflect.DeepEqual(c.Full(), before) {
				t.Fatalf("refused delta changed the cache:\n%+v\n%+v", c.Full(), before)
			}
			if tc.ok && c.Version() != tc.delta.ToVersion {
				t.Fatalf("version %d after applying to %d", c.Version(), tc.delta.ToVersion)
			}
		})
	}
}

// Goal: the zero value works, Full round-trips, and Clone is independent.
func TestZeroValueFullAndClone(t *testing.T) {
	var c metacache.Cache
	if c.Version() != 0 || c.Known(sm.TopicPartition{Topic: "a"}) || len(c.AllPartitions()) != 0 {
		t.Fatal("zero cache is not empty")
	}
	if !c.Apply(sm.MetadataDelta{FromVersion: 0, ToVersion: 3, Brokers: []sm.BrokerInfo{{ID: 101, Fenced: true}}}) {
		t.Fatal("zero cache refused an incremental delta from version 0")
	}
	if c.Live(101) {
		t.Fatal("fenced broker reported live")
	}
	if b, ok := c.Broker(101); !ok || !b.Fenced {
		t.Fatalf("broker 101: %+v %v", b, ok)
	}
	c.Apply(full(10))
	rebuilt := metacache.New()
	rebuilt.Apply(c.Full())
	if !reflect.DeepEqual(rebuilt.Full(), full(10)) {
		t.Fatalf("full round trip:\n%+v\n%+v", rebuilt.Full(), full(10))
	}
	cl := c.Clone()
	c.Apply(sm.MetadataDelta{FromVersion: 10, ToVersion: 11, DeletedTopics: []string{"a"}})
	if !cl.Known(sm.TopicPartition{Topic: "a", Partition: 1}) || c.Known(sm.TopicPartition{Topic: "a", Partition: 1}) {
		t.Fatal("clone shares state with its original")
	}
	if got := c.Topics(); !reflect.DeepEqual(got, []string{"b"}) {
		t.Fatalf("topics %v", got)
	}
	if got := cl.Brokers(); len(got) != 2 || got[0].ID != 101 || !cl.Live(102) {
		t.Fatalf("brokers %+v", got)
	}
}

// Goal: topic IDs travel with the topics: TopicByID finds a topic by the ID
// it holds and forgets one deleted; a topic upserted with a new ID is a new
// incarnation even when the delta does not list the old one's deletion, so
// the old one's partitions do not survive into it; an update with the same
// ID (a config change) keeps the partitions.
func TestTopicIDs(t *testing.T) {
	oldID, newID := sm.TopicID{1}, sm.TopicID{2}
	c := metacache.New()
	d := full(10)
	d.Topics[0].ID = oldID
	c.Apply(d)
	if got, ok := c.TopicByID(oldID); !ok || got.Name != "a" {
		t.Fatalf("TopicByID(old): %+v %v", got, ok)
	}
	if _, ok := c.TopicByID(sm.TopicID{}); ok {
		t.Fatal("the zero id names a topic")
	}
	// Same ID, new config: partitions stay.
	c.Apply(sm.MetadataDelta{FromVersion: 10, ToVersion: 11,
		Topics: []sm.TopicInfo{{Name: "a", ID: oldID, Partitions: 2, ReplicationFactor: 2, Config: sm.TopicConfig{RetentionMs: 5}}}})
	if got := c.Partitions("a"); len(got) != 2 {
		t.Fatalf("config change dropped partitions: %+v", got)
	}
	if got, _ := c.Topic("a"); got.Config.RetentionMs != 5 {
		t.Fatalf("config change not applied: %+v", got)
	}
	// New ID without a deletion: only the new incarnation's partitions.
	c.Apply(sm.MetadataDelta{FromVersion: 11, ToVersion: 12,
		Topics:     []sm.TopicInfo{{Name: "a", ID: newID, Partitions: 1, ReplicationFactor: 1}},
		Partitions: []sm.PartitionState{part("a", 0, 102, 1, 102)}})
	if got := c.Partitions("a"); len(got) != 1 || got[0].Leader != 102 {
		t.Fatalf("partitions after re-creation: %+v", got)
	}
	if _, ok := c.TopicByID(oldID); ok {
		t.Fatal("the old incarnation's id still names a topic")
	}
	if got, ok := c.Clone().TopicByID(newID); !ok || got.Partitions != 1 {
		t.Fatalf("TopicByID(new) on a clone: %+v %v", got, ok)
	}
	c.Apply(sm.MetadataDelta{FromVersion: 12, ToVersion: 13, DeletedTopics: []string{"a"}})
	if _, ok := c.TopicByID(newID); ok {
		t.Fatal("a deleted topic's id still names it")
	}
	if !reflect.DeepEqual(c.Full(), metacacheRoundTrip(c)) {
		t.Fatal("Full does not rebuild the cache")
	}
}

func metacacheRoundTrip(c *metacache.Cache) sm.MetadataDelta {
	r := metacache.New()
	r.Apply(c.Full())
	return r.Full()
}
