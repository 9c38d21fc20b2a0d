package controller

import (
	"slices"
	"testing"

	"github.com/weirmq/weir/sm"
)

func nodes(ids ...sm.NodeID) []sm.NodeID { return ids }

func expectPartition(t *testing.T, f *fsm, what string, leader sm.NodeID, isr, elr []sm.NodeID) sm.PartitionState {
	t.Helper()
	st := f.state("t", 0)
	if st.Leader != leader || !slices.Equal(st.ISR, isr) || !slices.Equal(st.ELR, elr) {
		t.Fatalf("%s: leader %v isr %v elr %v, want leader %v isr %v elr %v", what, st.Leader, st.ISR, st.ELR, leader, isr, elr)
	}
	return st
}

// A replica that leaves an ISR smaller than min ISR becomes an eligible
// leader replica; when the last ISR member dies, an ELR member leads; the
// ELR empties once the ISR is large enough again.
func TestELRElectedWhenLastISRMemberDies(t *testing.T) {
	f := newFSM(t)
	f.register(101, 102, 103)
	f.create("t", 1, 3, sm.TopicConfig{MinInSyncReplicas: 2})
	st := expectPartition(t, f, "created", 101, nodes(101, 102, 103), nil)
	f.shrink("t", 0, 101, 102)
	expectPartition(t, f, "shrunk to min isr", 101, nodes(101, 102), nil)
	f.shrink("t", 0, 101)
	expectPartition(t, f, "shrunk below min isr", 101, nodes(101), nodes(102))
	f.fence(103) // not in the ISR or the ELR: nothing changes
	expectPartition(t, f, "103 fenced", 101, nodes(101), nodes(102))

	f.md.probes = nil
	f.fence(101)
	after := expectPartition(t, f, "last isr member fenced", 102, nodes(102), nodes(101))
	if after.LeaderEpoch != st.LeaderEpoch+1 || !slices.Contains(f.md.probes, sm.ProbeELRElected) {
		t.Fatalf("elr election: epoch %d (was %d), probes %v", after.LeaderEpoch, st.LeaderEpoch, f.md.probes)
	}
	// 101 returns with its disk: it still holds every committed record.
	f.ok(command{Register: &registerBroker{ID: 101, Incarnation: 2}})
	expectPartition(t, f, "101 back", 102, nodes(102), nodes(101))
	f.ok(command{Register: &registerBroker{ID: 103, Incarnation: 2}})
	cur := f.state("t", 0)
	f.ok(command{AlterISR: &alterISR{Broker: 102, TP: cur.TP, LeaderEpoch: cur.LeaderEpoch, PartitionEpoch: cur.PartitionEpoch, ISR: nodes(102, 103)}})
	expectPartition(t, f, "isr back to min isr", 102, nodes(102, 103), nil)
}

// A replica that lost its disk leaves the ISR and the ELR: with the last
// in-sync copy lost, an ELR member that kept its data leads.
func TestLostDiskLeavesISRAndELR(t *testing.T) {
	f := newFSM(t)
	f.register(101, 102, 103)
	f.create("t", 1, 3, sm.TopicConfig{MinInSyncReplicas: 2})
	f.shrink("t", 0, 101, 102)
	f.shrink("t", 0, 101)
	expectPartition(t, f, "below min isr", 101, nodes(101), nodes(102))
	// The leader, the only in-sync copy, restarts on an empty disk.
	f.ok(command{Register: &registerBroker{ID: 101, Incarnation: 2, LostDisk: true}})
	expectPartition(t, f, "leader lost its disk", 102, nodes(102), nil)

	// An ELR member that lost its disk is no longer eligible.
	g := newFSM(t)
	g.register(101, 102, 103)
	g.create("t", 1, 3, sm.TopicConfig{MinInSyncReplicas: 3})
	g.shrink("t", 0, 101, 102)
	expectPartition(t, g, "below min isr 3", 101, nodes(101, 102), nodes(103))
	g.ok(command{Register: &registerBroker{ID: 103, Incarnation: 2, LostDisk: true}})
	expectPartition(t, g, "elr member lost its disk", 101, nodes(101, 102), nil)
	// With neither an ISR member nor an ELR member alive, it stays offline.
	g.ok(command{Register: &registerBroker{ID: 101, Incarnation: 2, LostDisk: true}})
	g.fence(102)
	st := g.state("t", 0)
	if st.Leader != sm.NoNode || !slices.Equal(st.ISR, nodes(102)) || len(st.ELR) != 0 {
		t.Fatalf("every copy gone or down: %+v", st)
	}
}

// With min ISR 1 there is never an ELR: the ISR is never below it.
func TestNoELRAtMinISROne(t *testing.T) {
	f := newFSM(t)
	f.register(101, 102, 103)
	f.create("t", 1, 3, sm.TopicConfig{MinInSyncReplicas: 1})
	f.shrink("t", 0, 101)
	expectPartition(t, f, "shrunk", 101, nodes(101), nil)
	f.fence(101)
	expectPartition(t, f, "fenced", sm.NoNode, nodes(101), nil)
}

// A leader vouches for the incarnation whose fetches it counted; the
// controller adds a replica to the ISR only for the incarnation it has
// registered (KIP-903), so a leader that missed a restart cannot bring the
// new process in on the old one's progress.
func TestAlterISRAddsOnlyTheRegisteredIncarnation(t *testing.T) {
	f := newFSM(t)
	f.register(101, 102, 103)
	f.create("t", 1, 3, sm.TopicConfig{MinInSyncReplicas: 1})
	f.shrink("t", 0, 101, 103)
	f.ok(command{Register: &registerBroker{ID: 102, Incarnation: 2}})
	st := f.state("t", 0)
	stale := &alterISR{Broker: 101, TP: st.TP, LeaderEpoch: st.LeaderEpoch, PartitionEpoch: st.PartitionEpoch,
		ISR: nodes(101, 102, 103), Incarnations: []uint64{1, 1, 1}}
	if r := f.do(command{AlterISR: stale}); r.code != sm.CodeStaleBrokerEpoch {
		t.Fatalf("adding 102 on incarnation 1's progress: %v %s", r.code, r.message)
	}
	current := *stale
	current.Incarnations = []uint64{1, 2, 1}
	f.ok(command{AlterISR: &current})
	expectPartition(t, f, "102 added at incarnation 2", 101, nodes(101, 102, 103), nil)
}
