package assign

import (
	"fmt"
	"testing"
)

// BenchmarkAssign: the leader's computation alone for the rebalance
// benchmark's case: 10 members × 100 partitions balanced, one leaves, the
// nine remaining (with their owned partitions) are assigned again.
func BenchmarkAssign(b *testing.B) {
	topics := map[string]int32{"t": 100}
	for _, a := range []Assignor{CooperativeSticky{}, Range{}} {
		b.Run(a.Name(), func(b *testing.B) {
			var members []Member
			for i := range 10 {
				members = append(members, Member{ID: fmt.Sprintf("m%02d", i), Subscription: Subscription{Version: 2, Topics: []string{"t"}, Generation: 1}})
			}
			first := a.Assign(members, topics)
			var rest []Member
			for _, m := range members[1:] {
				m.Subscription.Owned = first[m.ID]
				rest = append(rest, m)
			}
			for b.Loop() {
				a.Assign(rest, topics)
			}
		})
	}
}
