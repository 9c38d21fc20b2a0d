package assign

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/weirmq/weir/sm"
)

// Goal: the range assignor is Kafka's, exactly: contiguous ranges per topic,
// the first partitions%members members (sorted) taking one extra.
func TestRangeMatchesKafka(t *testing.T) {
	members := []Member{
		{ID: "c", Subscription: Subscription{Topics: []string{"t0", "t1"}}},
		{ID: "a", Subscription: Subscription{Topics: []string{"t0", "t1"}}},
		{ID: "b", Subscription: Subscription{Topics: []string{"t1"}}},
	}
	got := Range{}.Assign(members, map[string]int32{"t0": 3, "t1": 4})
	want := map[string]string{
		"a": "t0/0,t0/1,t1/0,t1/1",
		"b": "t1/2",
		"c": "t0/2,t1/3",
	}
	for id, w := range want {
		if g := FormatPartitions(got[id]); g != w {
			t.Errorf("member %s: got %s, want %s", id, g, w)
		}
	}
	// Static members sort by instance ID and before dynamic ones.
	members = []Member{
		{ID: "a", Subscription: Subscription{Topics: []string{"t"}}},
		{ID: "z", InstanceID: "i2", Subscription: Subscription{Topics: []string{"t"}}},
		{ID: "y", InstanceID: "i1", Subscription: Subscription{Topics: []string{"t"}}},
	}
	got = Range{}.Assign(members, map[string]int32{"t": 3})
	if g := FormatPartitions(got["y"]) + "|" + FormatPartitions(got["z"]) + "|" + FormatPartitions(got["a"]); g != "t/0|t/1|t/2" {
		t.Errorf("static ordering: got %s", g)
	}
}

func TestSubscriptionRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := Subscription{
			Version:    rapid.Int16Range(0, SubscriptionVersionMax).Draw(t, "v"),
			Topics:     rapid.SliceOfN(rapid.StringMatching(`[a-z]{1,5}`), 0, 4).Draw(t, "topics"),
			UserData:   rapid.SliceOfN(rapid.Byte(), 0, 5).Draw(t, "ud"),
			Generation: -1,
		}
		if s.Version >= 1 {
			for _, tp := range rapid.SliceOfN(rapid.IntRange(0, 9), 0, 6).Draw(t, "owned") {
				s.Owned = append(s.Owned, sm.TopicPartition{Topic: fmt.Sprint("t", tp%3), Partition: int32(tp)})
			}
			slices.SortFunc(s.Owned, sm.CompareTP)
			s.Owned = slices.Compact(s.Owned)
		}
		if s.Version >= 2 {
			s.Generation = rapid.Int32().Draw(t, "gen")
		}
		if s.Version >= 3 {
			s.Rack = rapid.StringMatching(`[a-z]{0,3}`).Draw(t, "rack")
		}
		got, err := DecodeSubscription(EncodeSubscription(s))
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != s.Version || !slices.Equal(got.Topics, s.Topics) || !slices.Equal(got.UserData, s.UserData) ||
			!slices.Equal(got.Owned, s.Owned) || got.Generation != s.Generation || got.Rack != s.Rack {
			t.Fatalf("round trip: %+v became %+v", s, got)
		}
		a := Assignment{Version: 1, Partitions: s.Owned, UserData: s.UserData}
		ga, err := DecodeAssignment(EncodeAssignment(a))
		if err != nil || !slices.Equal(ga.Partitions, a.Partitions) || !slices.Equal(ga.UserData, a.UserData) {
			t.Fatalf("assignment round trip: %+v became %+v (%v)", a, ga, err)
		}
	})
}

// Goal: garbage never panics and is refused with ErrMalformed.
func TestDecodeGarbage(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b := rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "b")
		_, _ = DecodeSubscription(b)
		_, _ = DecodeAssignment(b)
	})
	for _, b := range [][]byte{{0}, {0, 1, 0x7f, 0xff, 0xff, 0xff}, {0xff, 0xff}} {
		if _, err := DecodeSubscription(b); err == nil {
			t.Errorf("subscription %x: no error", b)
		}
	}
	if _, err := DecodeSubscription(append(EncodeSubscription(Subscription{Version: 1}), 9)); err == nil {
		t.Error("trailing byte accepted")
	}
}

// genGroup draws members with equal or unequal subscriptions.
func genGroup(t *rapid.T, equal bool) ([]Member, map[string]int32) {
	nt := rapid.IntRange(1, 3).Draw(t, "topics")
	topics := map[string]int32{}
	var names []string
	for i := range nt {
		name := fmt.Sprint("t", i)
		names = append(names, name)
		topics[name] = int32(rapid.IntRange(0, 12).Draw(t, "parts"))
	}
	n := rapid.IntRange(1, 7).Draw(t, "members")
	var members []Member
	for i := range n {
		subs := names
		if !equal {
			subs = nil
			for _, nm := range names {
				if rapid.Bool().Draw(t, "sub") {
					subs = append(subs, nm)
				}
			}
		}
		members = append(members, Member{ID: fmt.Sprintf("m%02d", i), Subscription: Subscription{Version: 2, Topics: subs, Generation: 1}})
	}
	return members, topics
}

// checkCover: every partition of a topic someone subscribes to has exactly
// one owner, and that owner subscribes to the topic.
func checkCover(t *rapid.T, members []Member, topics map[string]int32, got map[string][]sm.TopicPartition) {
	owner := map[sm.TopicPartition]string{}
	byID := map[string]Member{}
	for _, m := range members {
		byID[m.ID] = m
		if _, ok := got[m.ID]; !ok {
			t.Fatalf("member %s missing from the result", m.ID)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(got)) {
		for _, tp := range got[id] {
			if o, ok := owner[tp]; ok {
				t.Fatalf("%s assigned to %s and %s", tp, o, id)
			}
			if !subscribes(byID[id], tp.Topic) {
				t.Fatalf("%s assigned to %s, which does not subscribe", tp, id)
			}
			owner[tp] = id
		}
	}
	for topic, n := range topics {
		sub := false
		for _, m := range members {
			sub = sub || subscribes(m, topic)
		}
		for p := range n {
			if _, ok := owner[sm.TopicPartition{Topic: topic, Partition: p}]; sub && !ok {
				t.Fatalf("%s/%d unassigned", topic, p)
			}
		}
	}
}

func spread(got map[string][]sm.TopicPartition) int {
	lo, hi := -1, 0
	for _, tps := range got {
		if lo < 0 || len(tps) < lo {
			lo = len(tps)
		}
		hi = max(hi, len(tps))
	}
	return hi - lo
}

func withOwned(members []Member, got map[string][]sm.TopicPartition, gen int32) []Member {
	out := slices.Clone(members)
	for i := range out {
		out[i].Subscription.Owned = got[out[i].ID]
		out[i].Subscription.Generation = gen
	}
	return out
}

func TestRangeProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		members, topics := genGroup(t, rapid.Bool().Draw(t, "equal"))
		checkCover(t, members, topics, Range{}.Assign(members, topics))
	})
}

func TestStickyProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		equal := rapid.Bool().Draw(t, "equal")
		members, topics := genGroup(t, equal)
		// From scratch: full cover; balanced when subscriptions are equal.
		target, _ := Sticky(members, topics)
		checkCover(t, members, topics, target)
		if equal && spread(target) > 1 {
			t.Fatalf("unbalanced: %v", target)
		}
		// Deterministic.
		again, _ := Sticky(members, topics)
		if fmt.Sprint(again) != fmt.Sprint(target) {
			t.Fatalf("not deterministic")
		}
		// One member leaves: the others keep everything they had.
		if len(members) < 2 {
			return
		}
		gone := rapid.IntRange(0, len(members)-1).Draw(t, "gone")
		rest := withOwned(slices.Delete(slices.Clone(members), gone, gone+1), target, 2)
		after, _ := Sticky(rest, topics)
		checkCover(t, rest, topics, after)
		if equal {
			for _, m := range rest {
				for _, tp := range target[m.ID] {
					if !slices.Contains(after[m.ID], tp) {
						t.Fatalf("%s moved away from %s after %s left", tp, m.ID, members[gone].ID)
					}
				}
			}
			if spread(after) > 1 {
				t.Fatalf("unbalanced after leave: %v", after)
			}
		}
	})
}

// Goal: with the cooperative protocol a partition is never handed to a new
// owner in the rebalance that revokes it from a live old owner, and with
// equal subscriptions two rebalances without membership change settle to a
// full, balanced assignment.
func TestCooperativeProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		equal := rapid.Bool().Draw(t, "equal")
		members, topics := genGroup(t, equal)
		cur := CooperativeSticky{}.Assign(members, topics)
		for round := range 6 {
			// Membership change: someone joins or leaves.
			switch rapid.IntRange(0, 2).Draw(t, "change") {
			case 0:
				if len(members) > 1 {
					i := rapid.IntRange(0, len(members)-1).Draw(t, "leave")
					members = slices.Delete(slices.Clone(members), i, i+1)
				}
			case 1:
				m := members[0]
				m.ID = fmt.Sprintf("n%02d", round)
				m.Subscription.Owned = nil
				members = append(slices.Clone(members), m)
			}
			gen := int32(round + 2)
			in := withOwned(members, cur, gen)
			next := CooperativeSticky{}.Assign(in, topics)
			checkCooperative(t, in, next)
			cur = next
			if equal {
				// Settle: one more rebalance with the revocations done.
				in = withOwned(members, cur, gen)
				cur = CooperativeSticky{}.Assign(in, topics)
				checkCooperative(t, in, cur)
				checkCover(t, members, topics, cur)
				if spread(cur) > 1 {
					t.Fatalf("round %d: unbalanced after settling: %v", round, cur)
				}
			}
		}
	})
}

func checkCooperative(t *rapid.T, in []Member, next map[string][]sm.TopicPartition) {
	prev := map[sm.TopicPartition]string{}
	for _, m := range in {
		for _, tp := range m.Subscription.Owned {
			prev[tp] = m.ID
		}
	}
	for _, id := range slices.Sorted(maps.Keys(next)) {
		for _, tp := range next[id] {
			if o, ok := prev[tp]; ok && o != id {
				t.Fatalf("%s assigned to %s in the rebalance that revokes it from %s", tp, id, o)
			}
		}
	}
}

// Goal: of two claims on one partition the higher generation wins; a tie
// leaves it to the normal placement.
func TestStickyGenerationConflict(t *testing.T) {
	tp := sm.TopicPartition{Topic: "t", Partition: 0}
	members := []Member{
		{ID: "a", Subscription: Subscription{Topics: []string{"t"}, Owned: []sm.TopicPartition{tp}, Generation: 3}},
		{ID: "b", Subscription: Subscription{Topics: []string{"t"}, Owned: []sm.TopicPartition{tp}, Generation: 4}},
	}
	_, prev := Sticky(members, map[string]int32{"t": 2})
	if prev[tp] != "b" {
		t.Fatalf("owner %q, want b (higher generation)", prev[tp])
	}
	members[0].Subscription.Generation = 4
	_, prev = Sticky(members, map[string]int32{"t": 2})
	if o, ok := prev[tp]; ok {
		t.Fatalf("tie resolved to %q, want no owner", o)
	}
}

func TestByName(t *testing.T) {
	for _, n := range []string{RangeName, CooperativeStickyName} {
		a, err := ByName(n)
		if err != nil || a.Name() != n {
			t.Fatalf("ByName(%q) = %v, %v", n, a, err)
		}
	}
	if _, err := ByName("roundrobin2"); err == nil {
		t.Fatal("unknown assignor accepted")
	}
}
