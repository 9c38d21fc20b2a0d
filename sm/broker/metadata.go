package broker

import (
	"maps"
	"slices"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/assert"
	"github.com/weirmq/weir/sm/host"
)

// metadata is the broker's copy of the controller's state, as of version.
type metadata struct {
	version uint64
	brokers map[sm.NodeID]sm.BrokerInfo
	topics  map[string]sm.TopicInfo
	parts   map[sm.TopicPartition]sm.PartitionState
}

func newMetadata() metadata {
	return metadata{
		brokers: map[sm.NodeID]sm.BrokerInfo{},
		topics:  map[string]sm.TopicInfo{},
		parts:   map[sm.TopicPartition]sm.PartitionState{},
	}
}

// apply folds a delta in and reports whether it changed the held version.
// A Full delta replaces everything unless it is not newer; an incremental
// one applies only when it starts at or before the held version and ends
// after it (the controller's deltas are idempotent upserts and deletes).
func (m *metadata) apply(d sm.MetadataDelta) bool {
	switch {
	case d.Full && m.version != 0 && d.ToVersion <= m.version:
		return false
	case d.Full:
		*m = newMetadata()
	case d.FromVersion > m.version || d.ToVersion <= m.version:
		return false
	}
	for _, name := range d.DeletedTopics {
		delete(m.topics, name)
		maps.DeleteFunc(m.parts, func(tp sm.TopicPartition, _ sm.PartitionState) bool { return tp.Topic == name })
	}
	for _, b := range d.Brokers {
		m.brokers[b.ID] = b
	}
	for _, t := range d.Topics {
		m.topics[t.Name] = t
	}
	for _, st := range d.Partitions {
		st.Replicas, st.ISR = slices.Clone(st.Replicas), slices.Clone(st.ISR)
		m.parts[st.TP] = st
	}
	m.version = d.ToVersion
	return true
}

// delta is the broker's whole view as a Full delta, in a stable order, or an
// empty delta when the asker already holds this version or a newer one.
// (The broker keeps no per-entry versions, so it never sends partial
// deltas.)
func (m *metadata) delta(since uint64) sm.MetadataDelta {
	if since >= m.version {
		return sm.MetadataDelta{FromVersion: since, ToVersion: max(since, m.version)}
	}
	d := sm.MetadataDelta{ToVersion: m.version, Full: true}
	for _, id := range slices.Sorted(maps.Keys(m.brokers)) {
		d.Brokers = append(d.Brokers, m.brokers[id])
	}
	for _, name := range slices.Sorted(maps.Keys(m.topics)) {
		d.Topics = append(d.Topics, m.topics[name])
	}
	tps := slices.SortedFunc(maps.Keys(m.parts), sm.CompareTP)
	for _, tp := range tps {
		st := m.parts[tp]
		st.Replicas, st.ISR = slices.Clone(st.Replicas), slices.Clone(st.ISR)
		d.Partitions = append(d.Partitions, st)
	}
	return d
}

// known reports whether metadata names tp as an existing partition.
func (m *metadata) known(tp sm.TopicPartition) bool {
	t, ok := m.topics[tp.Topic]
	return ok && tp.Partition >= 0 && tp.Partition < t.Partitions
}

// minISR is the topic's min_in_sync_replicas, or the broker default.
func (n *Node) minISR(topic string) int32 {
	if t := n.meta.topics[topic]; t.Config.MinInSyncReplicas > 0 {
		return t.Config.MinInSyncReplicas
	}
	return n.cfg.DefaultMinISR
}

// reconcile brings the hosted replicas in line with metadata after d was
// applied: replicas of deleted topics go (with their logs), assigned ones
// are created, and every replica learns its partition's state.
//
// Logs are deleted only while registered: metadata that shows this
// incarnation registered was produced after the process started, so a
// topic missing from it is really gone. Before that, a delayed answer
// meant for the previous incarnation could show an old state in which a
// newer topic does not exist yet.
func (n *Node) reconcile(d sm.MetadataDelta) {
	self, ok := n.meta.brokers[n.cfg.ID]
	n.registered = ok && self.Incarnation == n.cfg.Incarnation && !self.Fenced
	n.reported = n.reported || n.registered
	for _, tp := range n.sortedParts() {
		_, exists := n.meta.topics[tp.Topic]
		gone := !exists || slices.Contains(d.DeletedTopics, tp.Topic)
		switch {
		case gone && n.registered:
			n.drop(tp)
		case gone:
			// Unregistered: keep the log (the delta may be stale for this
			// incarnation) but serve nothing: stop leading or following.
			n.parts[tp].Close(n.now)
			n.drain(tp)
		}
	}
	for _, tp := range slices.SortedFunc(maps.Keys(n.meta.parts), sm.CompareTP) {
		st := n.meta.parts[tp]
		if n.parts[tp] == nil && slices.Contains(st.Replicas, n.cfg.ID) {
			err := n.host(tp, nil)
			assert.That(err == nil, "broker: hosting %v: %v", tp, err) // the config was validated
		}
		h := n.parts[tp]
		if h != nil && n.damaged[tp] != "" && !n.repairable(st) {
			continue // serves nothing, keeps its bytes: see damaged
		}
		if h != nil && n.damaged[tp] != "" {
			delete(n.damaged, tp)
			h.Repair() // issued before anything ApplyState makes it append
		}
		if h != nil {
			h.ApplyState(n.now, st, n.minISR(tp.Topic), n.registered)
			n.drain(tp)
		}
	}
}

// repairable reports whether a damaged replica may cut its log and rebuild
// from the leader: this incarnation is registered (the controller has taken
// it out of the ISR) and another replica leads. With no leader, the bad
// bytes stay on disk for the operator: the partition is offline, and this
// copy may be the best there is.
func (n *Node) repairable(st sm.PartitionState) bool {
	return n.registered && st.Leader != sm.NoNode && st.Leader != n.cfg.ID && !slices.Contains(st.ISR, n.cfg.ID)
}

// drop ends a replica of a deleted topic and removes its log.
func (n *Node) drop(tp sm.TopicPartition) {
	n.parts[tp].Close(n.now)
	n.drain(tp)
	delete(n.parts, tp)
	n.hosts.Remove(host.PartitionKey(tp))
	n.probe(sm.ProbeReplicaDropped)
	delete(n.damaged, tp)
	n.issueLog(sm.LogOp{Kind: sm.LogDelete, TP: tp, Sync: true})
}
