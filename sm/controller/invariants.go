package controller

import (
	"fmt"
	"maps"
	"slices"

	"go.etcd.io/raft/v3"

	"github.com/weirmq/weir/sm"
)

// check verifies the metadata's invariants, all of them: what a snapshot
// read from disk or a peer must pass. It returns the first violation.
func (md *metadata) check() error { return md.checkDepth(true) }

// checkDepth is check; without deep it skips re-parsing every recorded
// segment's object name, which applying the commit checked and nothing
// changes afterwards (the simulator checks a node after every step, and
// a partition may record many segments).
func (md *metadata) checkDepth(deep bool) error {
	if md.version > md.applied {
		return fmt.Errorf("controller: version %d beyond applied %d", md.version, md.applied)
	}
	if err := md.checkACLs(); err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	if md.horizon > md.version {
		return fmt.Errorf("controller: tombstone horizon %d beyond version %d", md.horizon, md.version)
	}
	if len(md.tombstones) > tombstonesMax {
		return fmt.Errorf("controller: %d tombstones above limit %d", len(md.tombstones), tombstonesMax)
	}
	if len(md.tombstoneOrder) != len(md.tombstones) {
		return fmt.Errorf("controller: %d tombstones but %d in their order", len(md.tombstones), len(md.tombstoneOrder))
	}
	prev := md.horizon
	for _, name := range md.tombstoneOrder { // every tombstone, since the lengths match and versions are distinct
		v, ok := md.tombstones[name]
		switch {
		case !ok:
			return fmt.Errorf("controller: tombstone order names %q, which has no tombstone", name)
		case v > md.version || v <= prev:
			return fmt.Errorf("controller: tombstone %q at version %d outside (%d, %d] (the previous tombstone's or the horizon, and the version)", name, v, prev, md.version)
		}
		prev = v
	}
	for _, id := range slices.Sorted(maps.Keys(md.brokers)) {
		if err := md.checkBroker(id, md.brokers[id]); err != nil {
			return err
		}
	}
	ids := make(map[sm.TopicID]string, len(md.topics))
	for _, name := range slices.Sorted(maps.Keys(md.topics)) {
		if err := md.checkTopic(name, md.topics[name], deep); err != nil {
			return err
		}
		id := md.topics[name].info.ID
		if other, dup := ids[id]; dup {
			return fmt.Errorf("controller: topics %q and %q share topic id %v", other, name, id)
		}
		ids[id] = name
	}
	return nil
}

func (md *metadata) checkBroker(id sm.NodeID, b *brokerEntry) error {
	switch {
	case b.info.ID != id:
		return fmt.Errorf("controller: broker %v stored under %v", b.info.ID, id)
	case id == sm.NoNode:
		return fmt.Errorf("controller: broker with id none")
	case b.version == 0 || b.version > md.version:
		return fmt.Errorf("controller: broker %v version %d outside (0, %d]", id, b.version, md.version)
	}
	return nil
}

func (md *metadata) checkTopic(name string, t *topicEntry, deep bool) error {
	switch {
	case t.info.Name != name:
		return fmt.Errorf("controller: topic %q stored under %q", t.info.Name, name)
	case t.info.ID == (sm.TopicID{}):
		return fmt.Errorf("controller: topic %q has no topic id", name)
	case int(t.info.Partitions) != len(t.partitions):
		return fmt.Errorf("controller: topic %q has %d partitions, info says %d", name, len(t.partitions), t.info.Partitions)
	case t.version == 0 || t.version > md.version:
		return fmt.Errorf("controller: topic %q version %d outside (0, %d]", name, t.version, md.version)
	case t.info.Config.MinInSyncReplicas < 1 || t.info.Config.MinInSyncReplicas > t.info.ReplicationFactor:
		return fmt.Errorf("controller: topic %q min isr %d outside 1..%d", name, t.info.Config.MinInSyncReplicas, t.info.ReplicationFactor)
	}
	if r, ok := validateTopicConfig(&t.info.Config); !ok {
		return fmt.Errorf("controller: topic %q holds an invalid config: %s", name, r.message)
	}
	for i, p := range t.partitions {
		if p.version < t.version || p.version > md.version {
			return fmt.Errorf("controller: partition %v version %d outside [%d, %d]", p.state.TP, p.version, t.version, md.version)
		}
		if want := (sm.TopicPartition{Topic: name, Partition: int32(i)}); p.state.TP != want {
			return fmt.Errorf("controller: partition %v stored as %v", p.state.TP, want)
		}
		if err := md.checkPartition(t, &p.state); err != nil {
			return err
		}
		if err := checkRemote(t, p, deep); err != nil {
			return err
		}
	}
	return nil
}

func (md *metadata) checkPartition(t *topicEntry, st *sm.PartitionState) error {
	if err := checkMembers(st); err != nil {
		return err
	}
	for _, r := range st.Replicas {
		if md.brokers[r] == nil {
			return fmt.Errorf("controller: %v replica %v is not a registered broker", st.TP, r)
		}
	}
	switch {
	case st.LeaderEpoch < 1:
		return fmt.Errorf("controller: %v leader epoch %d below 1", st.TP, st.LeaderEpoch)
	case st.PartitionEpoch < int64(st.LeaderEpoch):
		return fmt.Errorf("controller: %v partition epoch %d below leader epoch %d", st.TP, st.PartitionEpoch, st.LeaderEpoch)
	case st.Leader != sm.NoNode && !slices.Contains(st.ISR, st.Leader):
		return fmt.Errorf("controller: %v leader %v not in isr %v", st.TP, st.Leader, st.ISR)
	case st.Leader != sm.NoNode && !md.alive(st.Leader):
		return fmt.Errorf("controller: %v leader %v is fenced", st.TP, st.Leader)
	}
	for _, r := range st.ISR {
		if !md.alive(r) && (len(st.ISR) != 1 || st.Leader != sm.NoNode) {
			return fmt.Errorf("controller: %v fenced %v in isr %v (leader %v)", st.TP, r, st.ISR, st.Leader)
		}
	}
	if err := checkELR(t, st); err != nil {
		return err
	}
	if st.Leader == sm.NoNode {
		return md.checkOffline(t, st)
	}
	return nil
}

// checkELR: the ELR holds distinct replicas outside the ISR, and only while
// the ISR is smaller than min_in_sync_replicas.
func checkELR(t *topicEntry, st *sm.PartitionState) error {
	if len(st.ELR) > 0 && int32(len(st.ISR)) >= t.info.Config.MinInSyncReplicas {
		return fmt.Errorf("controller: %v elr %v beside isr %v of at least min isr %d", st.TP, st.ELR, st.ISR, t.info.Config.MinInSyncReplicas)
	}
	for i, r := range st.ELR {
		if slices.Contains(st.ELR[:i], r) || !slices.Contains(st.Replicas, r) || slices.Contains(st.ISR, r) {
			return fmt.Errorf("controller: %v elr %v has duplicates, non-replicas or isr members (isr %v, replicas %v)", st.TP, st.ELR, st.ISR, st.Replicas)
		}
	}
	return nil
}

// checkMembers checks the shape of replicas and ISR.
func checkMembers(st *sm.PartitionState) error {
	for i, r := range st.Replicas {
		if r == sm.NoNode || slices.Contains(st.Replicas[:i], r) {
			return fmt.Errorf("controller: %v replicas %v not distinct brokers", st.TP, st.Replicas)
		}
	}
	if len(st.ISR) == 0 && st.Leader != sm.NoNode {
		// Empty only while offline: every in-sync copy was lost.
		return fmt.Errorf("controller: %v isr is empty under leader %v", st.TP, st.Leader)
	}
	for i, r := range st.ISR {
		if slices.Contains(st.ISR[:i], r) || !slices.Contains(st.Replicas, r) {
			return fmt.Errorf("controller: %v isr %v has duplicates or non-replicas (replicas %v)", st.TP, st.ISR, st.Replicas)
		}
	}
	return nil
}

// checkOffline: a partition is offline only when no eligible replica lives.
func (md *metadata) checkOffline(t *topicEntry, st *sm.PartitionState) error {
	for _, r := range st.Replicas {
		if md.alive(r) && (slices.Contains(st.ISR, r) || slices.Contains(st.ELR, r) || t.info.Config.UncleanLeaderElection) {
			return fmt.Errorf("controller: %v offline although replica %v is alive and eligible (isr %v, elr %v)", st.TP, r, st.ISR, st.ELR)
		}
	}
	return nil
}

// CheckInvariants verifies the metadata and the node's own bookkeeping; the
// simulator calls it after every step. It returns the first violation.
func (n *Node) CheckInvariants() error {
	if err := n.md.checkDepth(false); err != nil {
		return err
	}
	if n.md.version < n.versionSeen {
		return fmt.Errorf("controller: %v metadata version went back from %d to %d", n.cfg.ID, n.versionSeen, n.md.version)
	}
	n.versionSeen = n.md.version
	if err := n.checkRemoteEnds(); err != nil {
		return err
	}
	if err := n.checkRole(); err != nil {
		return err
	}
	if err := n.checkPending(); err != nil {
		return err
	}
	if n.snapIndex > n.md.applied || n.snapIndex < bootstrapIndex {
		return fmt.Errorf("controller: %v snapshot at %d outside [%d, applied %d]", n.cfg.ID, n.snapIndex, bootstrapIndex, n.md.applied)
	}
	if n.compacting > n.saveIDLast {
		return fmt.Errorf("controller: %v awaits snapshot save %d but issued up to %d", n.cfg.ID, n.compacting, n.saveIDLast)
	}
	if n.unsynced != nil && n.unsynced.id != n.saveIDLast {
		return fmt.Errorf("controller: %v awaits raft save %d but issued up to %d", n.cfg.ID, n.unsynced.id, n.saveIDLast)
	}
	if n.started && n.tickNext <= n.now {
		return fmt.Errorf("controller: %v next tick %v not after now %v", n.cfg.ID, n.tickNext, n.now)
	}
	return nil
}

// checkRole: leaderTerm mirrors raft; applied state never passes raft's.
func (n *Node) checkRole() error {
	st := n.rn.BasicStatus()
	leading := st.RaftState == raft.StateLeader
	if leading != (n.leaderTerm != 0) || leading && st.GetTerm() != n.leaderTerm {
		return fmt.Errorf("controller: %v leader term %d but raft is %v at term %d", n.cfg.ID, n.leaderTerm, st.RaftState, st.GetTerm())
	}
	if n.md.applied > st.GetCommit() && n.md.applied > bootstrapIndex {
		return fmt.Errorf("controller: %v applied %d beyond commit %d", n.cfg.ID, n.md.applied, st.GetCommit())
	}
	return nil
}

// checkPending: nothing pending when not leader; pending state within limits
// and consistent.
func (n *Node) checkPending() error {
	if n.leaderTerm == 0 && (len(n.proposals) > 0 || len(n.brokerOps) > 0 || len(n.heartbeatAt) > 0 || len(n.reports) > 0 || len(n.reads) > 0) {
		return fmt.Errorf("controller: %v not leader with %d proposals, %d broker ops, %d sessions, %d health reports, %d reads pending",
			n.cfg.ID, len(n.proposals), len(n.brokerOps), len(n.heartbeatAt), len(n.reports), len(n.reads))
	}
	if len(n.reads) > readsMax {
		return fmt.Errorf("controller: %v has %d reads above limit %d", n.cfg.ID, len(n.reads), readsMax)
	}
	if len(n.proposals) > proposalsMax {
		return fmt.Errorf("controller: %v has %d proposals above limit %d", n.cfg.ID, len(n.proposals), proposalsMax)
	}
	for _, id := range slices.Sorted(maps.Keys(n.brokerOps)) {
		seq := n.brokerOps[id]
		p := n.proposals[seq]
		if p == nil || p.broker != id || seq > n.seqLast {
			return fmt.Errorf("controller: %v broker %v op %d has no matching proposal", n.cfg.ID, id, seq)
		}
		if len(p.waiters) > waitersMax {
			return fmt.Errorf("controller: %v broker %v has %d waiters above limit %d", n.cfg.ID, id, len(p.waiters), waitersMax)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(n.heartbeatAt)) {
		if n.heartbeatAt[id] > n.now {
			return fmt.Errorf("controller: %v broker %v heartbeat at %v after now %v", n.cfg.ID, id, n.heartbeatAt[id], n.now)
		}
	}
	if err := n.checkGC(); err != nil {
		return err
	}
	return n.checkHealth()
}

// checkRemoteEnds: no partition's uploaded end went back since the last
// check (a deleted topic's partitions are forgotten; a re-created topic
// has a new ID).
func (n *Node) checkRemoteEnds() error {
	seen := make(map[remoteKey]sm.Offset, len(n.remoteEndSeen))
	var err error
	n.md.eachPartition(func(t *topicEntry, p *partitionEntry) {
		k := remoteKey{id: t.info.ID, partition: p.state.TP.Partition}
		end := p.state.Remote.End
		if was, ok := n.remoteEndSeen[k]; ok && end < was && err == nil {
			err = fmt.Errorf("controller: %v %v uploaded end went back from %d to %d", n.cfg.ID, p.state.TP, was, end)
		}
		seen[k] = end
	})
	n.remoteEndSeen = seen
	return err
}

// checkHealth: reports come from registered brokers and are not from the
// future; reads are issued contexts.
func (n *Node) checkHealth() error {
	if len(n.reports) > len(n.md.brokers) {
		return fmt.Errorf("controller: %v holds %d health reports for %d brokers", n.cfg.ID, len(n.reports), len(n.md.brokers))
	}
	bad := func(r report) bool { return r.at > n.now || r.at < n.leaderSince }
	for _, r := range n.reports { // any order finds whether one is bad
		if bad(r) {
			for _, id := range slices.Sorted(maps.Keys(n.reports)) { // report the first, deterministically
				if bad(n.reports[id]) {
					return fmt.Errorf("controller: %v broker %v report at %v outside tenure [%v, %v]", n.cfg.ID, id, n.reports[id].at, n.leaderSince, n.now)
				}
			}
		}
	}
	first, last := uint64(0), uint64(0)
	for seq := range n.reads { // min and max: order-independent
		if first == 0 || seq < first {
			first = seq
		}
		last = max(last, seq)
	}
	if len(n.reads) > 0 && (first == 0 || last > n.readSeqLast) {
		return fmt.Errorf("controller: %v reads %d..%d outside 1..%d (the contexts issued)", n.cfg.ID, first, last, n.readSeqLast)
	}
	return nil
}
