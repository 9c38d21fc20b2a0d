package broker

import (
	"slices"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/assert"
	"github.com/weirmq/weir/sm/host"
	"github.com/weirmq/weir/sm/metacache"
	"github.com/weirmq/weir/sm/partition"
)

// metadata is the broker's copy of the controller's state: the shared
// cache (sm/metacache applies deltas with the controller's rules), plus
// what only a broker does with it.
type metadata struct{ metacache.Cache }

func newMetadata() metadata { return metadata{} }

// delta is the broker's whole view as a Full delta, in a stable order, or an
// empty delta when the asker already holds this version or a newer one.
// (The broker keeps no per-entry versions, so it never sends partial
// deltas.)
func (m *metadata) delta(since uint64) sm.MetadataDelta {
	if v := m.Version(); since >= v {
		return sm.MetadataDelta{FromVersion: since, ToVersion: max(since, v)}
	}
	return m.Full()
}

// minISR is the topic's min_in_sync_replicas, or the broker default.
func (n *Node) minISR(topic string) int32 {
	if t, _ := n.meta.Topic(topic); t.Config.MinInSyncReplicas > 0 {
		return t.Config.MinInSyncReplicas
	}
	return n.cfg.DefaultMinISR
}

// settings are a topic's log settings: its config, or the broker's
// defaults.
func (n *Node) settings(topic string) partition.Settings {
	s := partition.Settings{SegmentBytes: n.cfg.SegmentBytes, SegmentMs: n.cfg.SegmentMs}
	if topic == sm.OffsetsTopic {
		s.SegmentBytes = n.cfg.Groups.OffsetsSegmentBytes
	}
	if t, ok := n.meta.Topic(topic); ok {
		c := t.Config
		if c.SegmentBytes > 0 {
			s.SegmentBytes = c.SegmentBytes
		}
		if c.SegmentMs > 0 {
			s.SegmentMs = c.SegmentMs
		}
		s.RetentionMs, s.RetentionBytes = c.RetentionMs, c.RetentionBytes
		s.CreateTime = c.TimestampType == sm.TimestampCreateTime
		switch c.CompressionType {
		case "", "producer":
		default:
			if codec, err := sm.ParseCodec(c.CompressionType); err == nil {
				s.ForceCodec, s.Compression = true, codec
			}
		}
		// The offsets topic stays local: its coordinator loads it from the
		// replica's own log.
		if tc := &n.cfg.Tier; tc.Enabled && topic != sm.OffsetsTopic {
			s.Tiered = true
			s.LocalRetentionMs, s.LocalRetentionBytes = tc.LocalRetentionMs, tc.LocalRetentionBytes
			if c.LocalRetentionMs != 0 {
				s.LocalRetentionMs = c.LocalRetentionMs
			}
			if c.LocalRetentionBytes != 0 {
				s.LocalRetentionBytes = c.LocalRetentionBytes
			}
			// Committed data waits at most the upload interval in the
			// active segment: a leader rolls a segment that old at its
			// next append, and the segment is uploaded once committed.
			if ms := int64(tc.UploadInterval / sm.Millisecond); ms > 0 && (s.SegmentMs == 0 || ms < s.SegmentMs) {
				s.SegmentMs = ms
			}
		}
	}
	return s
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
	self, ok := n.meta.Broker(n.cfg.ID)
	n.registered = ok && self.Incarnation == n.cfg.Incarnation && !self.Fenced
	n.reported = n.reported || n.registered
	for _, tp := range n.sortedParts() {
		t, exists := n.meta.Topic(tp.Topic)
		gone := !exists || slices.Contains(d.DeletedTopics, tp.Topic)
		// A log of an earlier incarnation of the topic (deleted and created
		// again while this broker was down or fenced) is gone too: it must
		// never be served as the new topic's.
		old := exists && t.ID != (sm.TopicID{}) && n.parts[tp].TopicID() != (sm.TopicID{}) && n.parts[tp].TopicID() != t.ID
		switch {
		case old && n.registered:
			n.probe(sm.ProbeStaleTopicLogDropped)
			n.drop(tp)
		case exists && !gone && t.ID != (sm.TopicID{}) && n.parts[tp].TopicID() == (sm.TopicID{}):
			n.parts[tp].AdoptTopicID(t.ID)
		case gone && n.registered:
			n.drop(tp)
		case gone:
			// Unregistered: keep the log (the delta may be stale for this
			// incarnation) but serve nothing: stop leading or following.
			n.parts[tp].Close(n.now)
			n.drain(tp)
		}
	}
	for _, st := range n.meta.AllPartitions() {
		tp := st.TP
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
			n.probe(sm.ProbeDamagedReplicaRepaired)
			h.Repair() // issued before anything ApplyState makes it append
		}
		if h != nil {
			if s := n.settings(tp.Topic); s != h.Settings() {
				h.SetSettings(s)
			}
			h.SetRemote(n.now, st.Remote)
			h.ApplyState(n.now, st, n.minISR(tp.Topic), n.registered)
			if t := n.tiers[tp]; t != nil {
				t.SetRemote(n.now, st.Remote)
				n.settleTier(tp)
			}
			n.syncTier(tp)
			n.drain(tp)
		}
	}
	// A broker registered anew: leaders forget what its earlier process
	// reported (see partition.OnReplicaRestarted).
	var tps []sm.TopicPartition
	for _, b := range d.Brokers {
		if b.ID == n.cfg.ID || n.cfg.CanaryTrustStaleIncarnations {
			continue
		}
		if tps == nil {
			tps = n.sortedParts()
		}
		for _, tp := range tps {
			if st, ok := n.meta.Partition(tp); ok && slices.Contains(st.Replicas, b.ID) {
				n.parts[tp].OnReplicaRestarted(n.now, b.ID, b.Incarnation)
				n.drain(tp)
			}
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
	p := n.parts[tp]
	p.Close(n.now)
	n.drain(tp)
	n.dropTier(tp)
	delete(n.parts, tp)
	n.hosts.Remove(host.PartitionKey(tp))
	n.probe(sm.ProbeReplicaDropped)
	delete(n.damaged, tp)
	n.issueLog(sm.LogOp{Kind: sm.LogDelete, TP: tp, TopicID: p.TopicID(), Sync: true})
}
