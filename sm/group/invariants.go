package group

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/weirmq/weir/sm"
)

// CheckInvariants verifies the coordinator's own invariants: group states
// agree with their members, a Stable generation gives each partition at
// most one owner, generations never go back, no committed offset went back
// without a seek, every held reply belongs to a live request, appends and
// timers are consistent and within their limits.
func (c *Coordinator) CheckInvariants() error {
	if c.violation != nil {
		return c.violation
	}
	if c.mode != modeActive {
		if len(c.held) != 0 || len(c.appends) != 0 {
			return fmt.Errorf("group: %d held requests, %d appends while not serving (mode %d)", len(c.held), len(c.appends), c.mode)
		}
		return nil
	}
	var errs []error
	refs := map[Handle]bool{}
	for _, id := range slices.Sorted(maps.Keys(c.groups)) {
		g := c.groups[id]
		errs = append(errs, c.checkGroup(g, refs)...)
		if seen, ok := c.checked[id]; ok && g.generation < seen {
			errs = append(errs, fmt.Errorf("group: %q generation went back from %d to %d", id, seen, g.generation))
		}
		c.checked[id] = g.generation
	}
	for _, id := range slices.Sorted(maps.Keys(c.checked)) {
		if c.groups[id] == nil {
			errs = append(errs, fmt.Errorf("group: generation tracked for gone group %q", id))
		}
	}
	if len(c.appends) > c.cfg.AppendsInflightMax || len(c.appends) != len(c.byID) {
		errs = append(errs, fmt.Errorf("group: %d appends queued, %d indexed (max %d)", len(c.appends), len(c.byID), c.cfg.AppendsInflightMax))
	}
	perGroup := map[string]int{}
	for _, p := range c.appends {
		if c.byID[p.id] != p {
			errs = append(errs, fmt.Errorf("group: append %d not indexed", p.id))
		}
		if p.hasHandle {
			if ref, ok := c.held[p.handle]; !ok || ref.kind != holdAppend || ref.append != p.id {
				errs = append(errs, fmt.Errorf("group: append %d's handle %d not held for it", p.id, p.handle))
			}
			refs[p.handle] = true
		}
		if p.kind == appendDelete {
			for _, id := range p.deletes {
				perGroup[id]++
			}
		} else {
			perGroup[p.group]++
		}
	}
	for _, id := range slices.Sorted(maps.Keys(c.groups)) {
		if g := c.groups[id]; perGroup[id] != g.appendsInflight {
			errs = append(errs, fmt.Errorf("group: %q counts %d appends in flight, %d queued", id, g.appendsInflight, perGroup[id]))
		}
	}
	for _, h := range slices.Sorted(maps.Keys(c.held)) {
		if !refs[h] {
			errs = append(errs, fmt.Errorf("group: handle %d held for nothing (%+v)", h, c.held[h]))
		}
	}
	for i, g := range c.timers {
		if g.heapIndex != i || c.groups[g.id] != g {
			errs = append(errs, fmt.Errorf("group: timer heap slot %d holds %q (index %d)", i, g.id, g.heapIndex))
		}
	}
	return errors.Join(errs...)
}

func (c *Coordinator) checkGroup(g *group, refs map[Handle]bool) []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("group: %q (%v, generation %d): %s", g.id, g.state, g.generation, fmt.Sprintf(format, args...)))
	}
	// The filed deadline may be early (touchLight), never late or missing.
	if want := g.nextDeadline(); (want == 0 && g.deadline != 0) || (want != 0 && (g.deadline == 0 || g.deadline > want)) || (g.deadline != 0) != (g.heapIndex >= 0) {
		bad("deadline %v filed, %v due (heap index %d)", g.deadline, want, g.heapIndex)
	}
	if g.forgettable() {
		bad("forgettable but kept")
	}
	switch g.state {
	case StateEmpty, StateDead:
		if len(g.members) != 0 {
			bad("%d members", len(g.members))
		}
	case StatePreparingRebalance, StateCompletingRebalance, StateStable:
		if len(g.members) == 0 {
			bad("no members")
		}
	default:
		bad("unknown state")
	}
	if g.state != StatePreparingRebalance && g.initialUntil != 0 {
		bad("initial delay outside the join phase")
	}
	if g.state != StateCompletingRebalance && g.syncAppend != 0 {
		bad("sync store %d outside CompletingRebalance", g.syncAppend)
	}
	if g.syncAppend != 0 && c.byID[g.syncAppend] == nil {
		bad("sync store %d not in flight", g.syncAppend)
	}
	if (g.state == StateCompletingRebalance || g.state == StateStable) && g.members[g.leader] == nil {
		bad("leader %q is not a member", g.leader)
	}
	if g.stored != nil && g.stored.generation > g.generation {
		bad("stored generation %d ahead", g.stored.generation)
	}
	for _, m := range g.sortedMembers() {
		if m.joinHeld {
			if ref, ok := c.held[m.join]; !ok || ref.kind != holdJoin || ref.group != g.id || ref.member != m.id {
				bad("member %q's join %d not held for it", m.id, m.join)
			}
			refs[m.join] = true
			if g.state != StatePreparingRebalance {
				bad("member %q holds a join", m.id)
			}
		}
		if m.syncHeld {
			if ref, ok := c.held[m.sync]; !ok || ref.kind != holdSync || ref.group != g.id || ref.member != m.id {
				bad("member %q's sync %d not held for it", m.id, m.sync)
			}
			refs[m.sync] = true
			if g.state != StateCompletingRebalance {
				bad("member %q holds a sync", m.id)
			}
		}
		if m.instanceID != "" && g.instances[m.instanceID] != m.id {
			bad("instance %q maps to %q, not %q", m.instanceID, g.instances[m.instanceID], m.id)
		}
		if _, dup := g.pending[m.id]; dup {
			bad("member %q also pending", m.id)
		}
	}
	for _, inst := range slices.Sorted(maps.Keys(g.instances)) {
		id := g.instances[inst]
		if g.members[id] == nil || g.members[id].instanceID != inst {
			bad("instance %q maps to non-member %q", inst, id)
		}
	}
	if len(g.members)+len(g.pending) > c.cfg.MembersMax {
		bad("%d members and %d pending (max %d)", len(g.members), len(g.pending), c.cfg.MembersMax)
	}
	// One owner per partition: assigned and owned agree.
	if g.assigned != nil {
		for _, tp := range slices.SortedFunc(maps.Keys(g.assigned), sm.CompareTP) {
			m := g.members[g.assigned[tp]]
			if m == nil || !m.owned[tp] {
				bad("%s assigned to %q, which does not own it", tp, g.assigned[tp])
			}
		}
		for _, m := range g.sortedMembers() {
			for _, tp := range slices.SortedFunc(maps.Keys(m.owned), sm.CompareTP) {
				if g.assigned[tp] != m.id {
					bad("member %q owns %s, assigned to %q", m.id, tp, g.assigned[tp])
				}
			}
		}
	}
	for _, tp := range slices.SortedFunc(maps.Keys(g.inflight), sm.CompareTP) {
		for _, id := range slices.Sorted(maps.Keys(g.inflight[tp])) {
			if p := c.byID[id]; p == nil || p.kind != appendCommit || p.group != g.id {
				bad("commit of %s in flight as append %d, which is not", tp, id)
			}
		}
	}
	return errs
}
