package controller

import (
	"fmt"
	"maps"
	"slices"

	"github.com/weirmq/weir/sm"
)

// check verifies the metadata's invariants. It returns the first violation;
// the simulator calls it (via Node.CheckInvariants) after every step.
func (md *metadata) check() error {
	if md.version > md.applied {
		return fmt.Errorf("controller: version %d beyond applied %d", md.version, md.applied)
	}
	if md.horizon > md.version {
		return fmt.Errorf("controller: tombstone horizon %d beyond version %d", md.horizon, md.version)
	}
	if len(md.tombstones) > tombstonesMax {
		return fmt.Errorf("controller: %d tombstones above limit %d", len(md.tombstones), tombstonesMax)
	}
	for _, name := range slices.Sorted(maps.Keys(md.tombstones)) {
		if v := md.tombstones[name]; v > md.version || v <= md.horizon {
			return fmt.Errorf("controller: tombstone %q at version %d outside (%d, %d]", name, v, md.horizon, md.version)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(md.brokers)) {
		if err := md.checkBroker(id, md.brokers[id]); err != nil {
			return err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(md.topics)) {
		if err := md.checkTopic(name, md.topics[name]); err != nil {
			return err
		}
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

func (md *metadata) checkTopic(name string, t *topicEntry) error {
	switch {
	case t.info.Name != name:
		return fmt.Errorf("controller: topic %q stored under %q", t.info.Name, name)
	case int(t.info.Partitions) != len(t.partitions):
		return fmt.Errorf("controller: topic %q has %d partitions, info says %d", name, len(t.partitions), t.info.Partitions)
	case t.version == 0 || t.version > md.version:
		return fmt.Errorf("controller: topic %q version %d outside (0, %d]", name, t.version, md.version)
	case t.info.Config.MinInSyncReplicas < 1 || t.info.Config.MinInSyncReplicas > t.info.ReplicationFactor:
		return fmt.Errorf("controller: topic %q min isr %d outside 1..%d", name, t.info.Config.MinInSyncReplicas, t.info.ReplicationFactor)
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
	}
	return nil
}

func (md *metadata) checkPartition(t *topicEntry, st *sm.PartitionState) error {
	if err := checkMembers(st); err != nil {
		return err
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
	if st.Leader == sm.NoNode {
		return md.checkOffline(t, st)
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
	if len(st.ISR) == 0 {
		return fmt.Errorf("controller: %v isr is empty", st.TP)
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
		if md.alive(r) && (slices.Contains(st.ISR, r) || t.info.Config.UncleanLeaderElection) {
			return fmt.Errorf("controller: %v offline although replica %v is alive and eligible (isr %v)", st.TP, r, st.ISR)
		}
	}
	return nil
}
