package controller

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/metacache"
)

// Goal: whatever sequence of commands the log holds, applying it keeps every
// metadata invariant and versions never go back; and a metadata cache
// (sm/metacache, what brokers, the SDK and simulated clients keep) fed the
// deltas this code really produces holds, at every version it reaches,
// exactly the controller's Full snapshot at that version. Receivers get
// deltas in order (one after every command), from their own version now and
// then (several commands at once, so a topic deleted and re-created in
// between arrives as one delta naming it in both lists), as Full snapshots
// that skip versions, and late (a delayed reply, an older one than what
// they hold, in any order).
func TestMetadataProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		md := newMetadata(bootstrapIndex)
		snapshots := map[uint64]sm.MetadataDelta{md.version: md.delta(0)}
		var sent []sm.MetadataDelta // every delta a receiver was given, for late delivery
		inOrder := metacache.New()
		lagging := []*metacache.Cache{metacache.New(), metacache.New(), metacache.New()}
		versionLast := uint64(0)
		held := make([]uint64, 1+len(lagging)) // each receiver's last version: it never goes back
		brokerIDs := []sm.NodeID{0, 101, 102, 103, 104, 105}
		names := []string{"a", "b", "c", ".", "d/e"}
		apply := func(cmd command) {
			md.apply(md.applied+1, &cmd)
		}
		give := func(c *metacache.Cache, d sm.MetadataDelta) {
			sent = append(sent, d)
			c.Apply(d)
		}
		drawLagging := func(t *rapid.T) *metacache.Cache {
			return lagging[rapid.IntRange(0, len(lagging)-1).Draw(t, "receiver")]
		}
		t.Repeat(map[string]func(*rapid.T){
			"register": func(t *rapid.T) {
				apply(command{Register: &registerBroker{
					ID:          rapid.SampledFrom(brokerIDs).Draw(t, "id"),
					Incarnation: rapid.Uint64Range(0, 3).Draw(t, "inc"),
					Rack:        rapid.SampledFrom([]string{"", "x", "y"}).Draw(t, "rack"),
				}})
			},
			"fence": func(t *rapid.T) {
				id := rapid.SampledFrom(brokerIDs).Draw(t, "id")
				inc := rapid.Uint64Range(0, 3).Draw(t, "inc")
				if b := md.brokers[id]; b != nil && rapid.Bool().Draw(t, "current") {
					inc = b.info.Incarnation
				}
				apply(command{Fence: &fenceBroker{ID: id, Incarnation: inc}})
			},
			"create": func(t *rapid.T) {
				apply(command{Create: drawCreate(t, names)})
			},
			"delete": func(t *rapid.T) {
				apply(command{Delete: &deleteTopic{Name: rapid.SampledFrom(names).Draw(t, "name")}})
			},
			"recreate": func(t *rapid.T) {
				existing := slices.Sorted(maps.Keys(md.topics))
				if len(existing) == 0 {
					t.Skip("no topic to re-create")
				}
				c := drawCreate(t, names)
				c.Name = rapid.SampledFrom(existing).Draw(t, "name")
				apply(command{Delete: &deleteTopic{Name: c.Name}})
				apply(command{Create: c})
			},
			"alter_isr": func(t *rapid.T) {
				apply(command{AlterISR: drawAlterISR(t, md)})
			},
			"empty": func(t *rapid.T) {
				md.applyEmpty(md.applied + 1)
			},
			"sync": func(t *rapid.T) {
				c := drawLagging(t)
				give(c, md.delta(c.Version()))
			},
			"snapshot": func(t *rapid.T) {
				give(drawLagging(t), md.delta(0))
			},
			"late": func(t *rapid.T) {
				if len(sent) == 0 {
					t.Skip("no delta sent yet")
				}
				drawLagging(t).Apply(rapid.SampledFrom(sent).Draw(t, "delta"))
			},
			"": func(t *rapid.T) {
				if err := md.check(); err != nil {
					t.Fatal(err)
				}
				if md.version < versionLast {
					t.Fatalf("version went back %d → %d", versionLast, md.version)
				}
				versionLast = md.version
				snapshots[md.version] = md.delta(0)
				give(inOrder, md.delta(inOrder.Version()))
				checkReceivers(t, snapshots, append([]*metacache.Cache{inOrder}, lagging...), held)
				if got, want := inOrder.Full(), md.delta(0); !equalMetadata(got, want) {
					t.Fatalf("receiver given every delta in order:\ngot  %+v\nwant %+v", got, want)
				}
				checkDeltas(t, md, lagging)
			},
		})
	})
}

// checkReceivers: every receiver holds the controller's Full snapshot at
// the version it holds, and that version is not older than the one it held
// at the last check (held).
func checkReceivers(t *rapid.T, snapshots map[uint64]sm.MetadataDelta, receivers []*metacache.Cache, held []uint64) {
	for i, c := range receivers {
		if c.Version() < held[i] {
			t.Fatalf("receiver %d went back from version %d to %d", i, held[i], c.Version())
		}
		held[i] = c.Version()
		want, ok := snapshots[c.Version()]
		if !ok {
			t.Fatalf("receiver %d at version %d, which the controller never held", i, c.Version())
		}
		if got := c.Full(); !equalMetadata(got, want) {
			t.Fatalf("receiver %d at version %d differs from the controller's snapshot:\ngot  %+v\nwant %+v", i, c.Version(), got, want)
		}
	}
}

// drawCreate mostly draws well-formed creates (which may still meet too few
// live brokers or an existing name), and otherwise anything.
func drawCreate(t *rapid.T, names []string) *createTopic {
	if rapid.IntRange(0, 3).Draw(t, "wild") == 0 {
		return &createTopic{
			Name:              rapid.SampledFrom(names).Draw(t, "name"),
			Partitions:        rapid.Int32Range(0, 4).Draw(t, "partitions"),
			ReplicationFactor: rapid.Int32Range(0, 4).Draw(t, "rf"),
			Config:            sm.TopicConfig{MinInSyncReplicas: rapid.Int32Range(0, 4).Draw(t, "min_isr")},
		}
	}
	rf := rapid.Int32Range(1, 3).Draw(t, "rf")
	return &createTopic{
		Name:              rapid.SampledFrom(names[:3]).Draw(t, "name"),
		Partitions:        rapid.Int32Range(1, 4).Draw(t, "partitions"),
		ReplicationFactor: rf,
		Config: sm.TopicConfig{
			MinInSyncReplicas:     rapid.Int32Range(1, rf).Draw(t, "min_isr"),
			UncleanLeaderElection: rapid.Bool().Draw(t, "unclean"),
		},
	}
}

// drawAlterISR mostly targets a real partition with its current epochs and
// leader (so that some succeed), and otherwise anything.
func drawAlterISR(t *rapid.T, md *metadata) *alterISR {
	var all []sm.PartitionState
	md.eachPartition(func(_ *topicEntry, p *partitionEntry) { all = append(all, p.state) })
	if len(all) == 0 || rapid.IntRange(0, 9).Draw(t, "wild") == 0 {
		return &alterISR{
			Broker:         sm.NodeID(rapid.Uint64Range(100, 105).Draw(t, "broker")),
			TP:             sm.TopicPartition{Topic: rapid.SampledFrom([]string{"a", "b", "z"}).Draw(t, "topic"), Partition: rapid.Int32Range(-1, 4).Draw(t, "p")},
			LeaderEpoch:    sm.Epoch(rapid.Int64Range(0, 5).Draw(t, "le")),
			PartitionEpoch: rapid.Int64Range(0, 5).Draw(t, "pe"),
			ISR:            rapid.SliceOfN(rapid.SampledFrom([]sm.NodeID{101, 102, 103, 104, 105}), 0, 4).Draw(t, "isr"),
		}
	}
	st := rapid.SampledFrom(all).Draw(t, "partition")
	perm := rapid.Permutation(st.Replicas).Draw(t, "perm")
	isr := perm[:rapid.IntRange(0, len(perm)).Draw(t, "isr_len")]
	if st.Leader != sm.NoNode && !slices.Contains(isr, st.Leader) && rapid.Bool().Draw(t, "with_leader") {
		isr = append(isr, st.Leader)
	}
	return &alterISR{Broker: st.Leader, TP: st.TP, LeaderEpoch: st.LeaderEpoch, PartitionEpoch: st.PartitionEpoch, ISR: isr}
}

// checkDeltas: the full delta rebuilds the metadata from nothing, and the
// delta since each lagging receiver's version brings a copy of it up to date.
func checkDeltas(t *rapid.T, md *metadata, lagging []*metacache.Cache) {
	full := md.delta(0)
	fresh := metacache.New()
	fresh.Apply(full)
	if got := fresh.Full(); !equalMetadata(got, full) {
		t.Fatalf("full delta does not rebuild the metadata:\n%+v\n%+v", got, full)
	}
	for i, v := range lagging {
		c := v.Clone()
		d := md.delta(v.Version())
		c.Apply(d)
		if got := c.Full(); !equalMetadata(got, full) {
			t.Fatalf("receiver %d at version %d with delta %+v:\ngot  %+v\nwant %+v", i, v.Version(), d, got, full)
		}
	}
	if d := md.delta(md.version); md.version > 0 && !d.Empty() {
		t.Fatalf("delta since the current version is not empty: %+v", d)
	}
}

// Goal: tombstones stay bounded; a receiver older than the evicted ones gets
// a Full delta, and one newer still gets exact deletions.
func TestTombstoneHorizon(t *testing.T) {
	f := newFSM(t)
	f.register(101)
	early := metacache.New()
	early.Apply(f.md.delta(0))
	for i := range tombstonesMax + 10 { // straight to apply: checking every step would be quadratic
		name := fmt.Sprintf("t%05d", i)
		for _, cmd := range []command{
			{Create: &createTopic{Name: name, Partitions: 1, ReplicationFactor: 1, Config: sm.TopicConfig{MinInSyncReplicas: 1}}},
			{Delete: &deleteTopic{Name: name}},
		} {
			if r := f.md.apply(f.md.applied+1, &cmd); r.code != sm.CodeOK {
				t.Fatalf("%s %s: %v %s", cmd.kind(), name, r.code, r.message)
			}
		}
	}
	if err := f.md.check(); err != nil {
		t.Fatal(err)
	}
	if len(f.md.tombstones) != tombstonesMax || f.md.horizon == 0 {
		t.Fatalf("%d tombstones, horizon %d", len(f.md.tombstones), f.md.horizon)
	}
	if d := f.md.delta(early.Version()); !d.Full {
		t.Errorf("delta from before the horizon is not full: from %d horizon %d", early.Version(), f.md.horizon)
	}
	late := f.md.version
	f.create("x", 1, 1, sm.TopicConfig{})
	if r := f.do(command{Delete: &deleteTopic{Name: "t00020"}}); r.code != sm.CodeUnknownTopic {
		t.Errorf("delete of a deleted topic: %v", r.code)
	}
	f.ok(command{Delete: &deleteTopic{Name: "x"}})
	d := f.md.delta(late)
	if d.Full || !slices.Equal(d.DeletedTopics, []string{"x"}) {
		t.Errorf("delta after the horizon: %+v", d)
	}
}
