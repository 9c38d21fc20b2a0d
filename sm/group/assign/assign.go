// Package assign holds the partition assignors a consumer group's leader
// runs (client side, as in Kafka: the coordinator only relays the leader's
// result) and the consumer protocol encoding they exchange through the
// coordinator: Kafka's ConsumerProtocolSubscription (topics, user data,
// owned partitions, generation, rack) and ConsumerProtocolAssignment, so
// Kafka clients and Weir's SDK speak the same bytes.
//
// Two assignors, under Kafka's protocol names:
//
//   - "range" is Kafka's RangeAssignor: per topic, the subscribed members
//     sorted (by group instance ID when both have one, members with one
//     first, then by member ID), the topic's partitions in order, each
//     member taking a contiguous range; the first partitions%members
//     members take one extra.
//   - "cooperative-sticky" is Kafka's CooperativeStickyAssignor: balanced
//     (for members with equal subscriptions the partition counts differ by
//     at most one), sticky (a member keeps the partitions it owned unless
//     balance requires a move) and cooperative: a partition that moves from
//     one live member to another is only revoked in this rebalance (neither
//     gets it); the old owner gives it up, rejoins, and the next rebalance
//     assigns it to the new owner. Owned partitions claimed by two members
//     go to the one with the higher generation (neither, on a tie).
//
// Everything here is pure and deterministic: inputs are sorted before use,
// and maps never reach an output in iteration order.
package assign

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	"github.com/weirmq/weir/sm"
)

// Protocol names, as Kafka's clients announce them in JoinGroup.
const (
	RangeName             = "range"
	CooperativeStickyName = "cooperative-sticky"
)

// Member is one group member as the leader sees it in the JoinGroup
// response: its ID, optional static instance ID and decoded subscription.
type Member struct {
	ID           string
	InstanceID   string
	Subscription Subscription
}

// Assignor computes a group's assignment.
type Assignor interface {
	// Name is the protocol name members announce.
	Name() string
	// Assign returns every member's partitions (sorted), every member
	// present (possibly with none). topics gives each topic's partition
	// count; subscribed topics missing from it have no partitions.
	Assign(members []Member, topics map[string]int32) map[string][]sm.TopicPartition
}

// ByName returns the assignor with protocol name name.
func ByName(name string) (Assignor, error) {
	switch name {
	case RangeName:
		return Range{}, nil
	case CooperativeStickyName:
		return CooperativeSticky{}, nil
	}
	return nil, fmt.Errorf("assign: unknown assignor %q (known: %s, %s)", name, RangeName, CooperativeStickyName)
}

// Known reports whether name is an assignor protocol whose assignments use
// the standard consumer protocol encoding (Kafka's range, roundrobin,
// sticky and cooperative-sticky all do), so the coordinator can decode
// assignments and check commits against them.
func Known(name string) bool {
	switch name {
	case RangeName, CooperativeStickyName, "roundrobin", "sticky":
		return true
	}
	return false
}

// compareMembers is Kafka's MemberInfo ordering: by instance ID when both
// have one, members with one before members without, then by member ID.
func compareMembers(a, b Member) int {
	switch {
	case a.InstanceID != "" && b.InstanceID != "":
		if c := cmp.Compare(a.InstanceID, b.InstanceID); c != 0 {
			return c
		}
	case a.InstanceID != "":
		return -1
	case b.InstanceID != "":
		return 1
	}
	return cmp.Compare(a.ID, b.ID)
}

func emptyResult(members []Member) map[string][]sm.TopicPartition {
	out := make(map[string][]sm.TopicPartition, len(members))
	for _, m := range members {
		out[m.ID] = []sm.TopicPartition{}
	}
	return out
}

func subscribes(m Member, topic string) bool { return slices.Contains(m.Subscription.Topics, topic) }

// Range is Kafka's RangeAssignor.
type Range struct{}

// Name implements Assignor.
func (Range) Name() string { return RangeName }

// Assign implements Assignor.
func (Range) Assign(members []Member, topics map[string]int32) map[string][]sm.TopicPartition {
	out := emptyResult(members)
	sorted := slices.Clone(members)
	slices.SortFunc(sorted, compareMembers)
	for _, topic := range slices.Sorted(maps.Keys(topics)) {
		var subs []Member
		for _, m := range sorted {
			if subscribes(m, topic) {
				subs = append(subs, m)
			}
		}
		n := int(max(topics[topic], 0))
		if len(subs) == 0 || n == 0 {
			continue
		}
		per, extra := n/len(subs), n%len(subs)
		for i, m := range subs {
			start := i*per + min(i, extra)
			length := per
			if i < extra {
				length++
			}
			for p := start; p < start+length; p++ {
				out[m.ID] = append(out[m.ID], sm.TopicPartition{Topic: topic, Partition: int32(p)})
			}
		}
	}
	for id := range out {
		slices.SortFunc(out[id], sm.CompareTP)
	}
	return out
}

// CooperativeSticky is Kafka's CooperativeStickyAssignor (see the package
// doc).
type CooperativeSticky struct{}

// Name implements Assignor.
func (CooperativeSticky) Name() string { return CooperativeStickyName }

// Assign implements Assignor: Sticky's balanced, sticky assignment, then
// the cooperative adjustment that withholds partitions still owned by
// another live member.
func (CooperativeSticky) Assign(members []Member, topics map[string]int32) map[string][]sm.TopicPartition {
	target, prevOwner := Sticky(members, topics)
	out := emptyResult(members)
	for _, id := range slices.Sorted(maps.Keys(target)) {
		for _, tp := range target[id] {
			if o, ok := prevOwner[tp]; ok && o != id {
				continue // revoked from o now, assigned to id next rebalance
			}
			out[id] = append(out[id], tp)
		}
	}
	return out
}

// Sticky computes the balanced, sticky target assignment (what Kafka's
// eager StickyAssignor would hand out) and the valid previous owner of each
// partition (owned by a live member that is still subscribed, the claim
// with the highest generation, no tie). Exported for tests and for a leader
// that wants the eventual target.
func Sticky(members []Member, topics map[string]int32) (target map[string][]sm.TopicPartition, prevOwner map[sm.TopicPartition]string) {
	sorted := slices.Clone(members)
	slices.SortFunc(sorted, func(a, b Member) int { return cmp.Compare(a.ID, b.ID) })
	st := newStickyState(sorted, topics)
	st.claim()
	st.keep(equalSubscriptions(sorted))
	st.place()
	st.rebalance()
	target = emptyResult(members)
	for j, tp := range st.all {
		id := sorted[st.owner[j]].ID
		target[id] = append(target[id], tp)
	}
	prevOwner = make(map[sm.TopicPartition]string, len(st.all))
	for j, tp := range st.all {
		if st.prev[j] >= 0 {
			prevOwner[tp] = sorted[st.prev[j]].ID
		}
	}
	return target, prevOwner
}

// stickyState indexes members (by ID order) and partitions (in topic,
// partition order) so the assignment works on slices, not maps.
type stickyState struct {
	members []Member
	all     []sm.TopicPartition
	index   map[sm.TopicPartition]int
	subs    [][]int // per partition: the members subscribed to its topic
	prev    []int   // per partition: the valid previous owner, -1 none
	owner   []int
	load    []int
}

func newStickyState(sorted []Member, topics map[string]int32) *stickyState {
	st := &stickyState{members: sorted, index: map[sm.TopicPartition]int{}, load: make([]int, len(sorted))}
	for _, topic := range slices.Sorted(maps.Keys(topics)) {
		var subs []int
		for i, m := range sorted {
			if subscribes(m, topic) {
				subs = append(subs, i)
			}
		}
		if len(subs) == 0 {
			continue
		}
		for p := int32(0); p < topics[topic]; p++ {
			tp := sm.TopicPartition{Topic: topic, Partition: p}
			st.index[tp] = len(st.all)
			st.all = append(st.all, tp)
			st.subs = append(st.subs, subs)
		}
	}
	st.prev = make([]int, len(st.all))
	st.owner = make([]int, len(st.all))
	for j := range st.all {
		st.prev[j], st.owner[j] = -1, -1
	}
	return st
}

// claim resolves owned-partition claims: only partitions that exist and
// the claimant may own count; of several claims the highest generation
// wins, and a tie at the top leaves the partition unowned (Kafka treats
// same-generation double claims as invalid).
func (st *stickyState) claim() {
	gen := make([]int32, len(st.all))
	tie := make([]bool, len(st.all))
	for i, m := range st.members {
		for _, tp := range m.Subscription.Owned {
			j, ok := st.index[tp]
			if !ok || !slices.Contains(st.subs[j], i) {
				continue
			}
			g := m.Subscription.Generation
			switch {
			case st.prev[j] < 0 || g > gen[j]:
				st.prev[j], gen[j], tie[j] = i, g, false
			case g == gen[j] && st.prev[j] != i:
				tie[j] = true
			}
		}
	}
	for j := range st.all {
		if tie[j] {
			st.prev[j] = -1
		}
	}
}

// keep leaves owned partitions with their owners. With equal
// subscriptions Kafka's quotas apply: a member keeps at most P/C of them,
// and up to P%C members one more; otherwise all stay and rebalance evens
// the loads.
func (st *stickyState) keep(equal bool) {
	owned := make([][]int, len(st.members))
	for j, i := range st.prev { // ascending j: each member's list is sorted
		if i >= 0 {
			owned[i] = append(owned[i], j)
		}
	}
	n := len(st.members)
	minQ, maxQ, numMax, atMax := 0, 0, 0, 0
	if equal && n > 0 {
		minQ, numMax = len(st.all)/n, len(st.all)%n
		maxQ = minQ
		if numMax > 0 {
			maxQ++
		}
	}
	for i, js := range owned {
		k := len(js)
		if equal {
			k = min(k, minQ)
			if len(js) > minQ && maxQ > minQ && atMax < numMax {
				k = maxQ
				atMax++
			}
		}
		for _, j := range js[:k] {
			st.owner[j] = i
		}
		st.load[i] = k
	}
}

// place gives every unowned partition to its least-loaded eligible member
// (the first by ID on a tie).
func (st *stickyState) place() {
	for j := range st.all {
		if st.owner[j] >= 0 {
			continue
		}
		best := -1
		for _, i := range st.subs[j] {
			if best < 0 || st.load[i] < st.load[best] {
				best = i
			}
		}
		st.owner[j] = best
		st.load[best]++
	}
}

// rebalance moves a partition to an eligible member with at least two
// fewer, until no such move exists. Each move lowers the sum of squared
// loads, so it ends. Newly placed partitions move before previously owned
// ones (stickiness), higher partitions first.
func (st *stickyState) rebalance() {
	for {
		moved := false
		for _, sticky := range []bool{false, true} {
			for j := len(st.all) - 1; j >= 0 && !moved; j-- {
				from := st.owner[j]
				if (st.prev[j] == from) != sticky {
					continue
				}
				best := -1
				for _, i := range st.subs[j] {
					if st.load[i]+1 < st.load[from] && (best < 0 || st.load[i] < st.load[best]) {
						best = i
					}
				}
				if best >= 0 {
					st.owner[j] = best
					st.load[from]--
					st.load[best]++
					moved = true
				}
			}
			if moved {
				break
			}
		}
		if !moved {
			return
		}
	}
}

func equalSubscriptions(sorted []Member) bool {
	if len(sorted) == 0 {
		return true
	}
	first := slices.Sorted(slices.Values(sorted[0].Subscription.Topics))
	first = slices.Compact(first)
	for _, m := range sorted[1:] {
		t := slices.Compact(slices.Sorted(slices.Values(m.Subscription.Topics)))
		if !slices.Equal(first, t) {
			return false
		}
	}
	return true
}
