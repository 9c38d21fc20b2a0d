package broker

import (
	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/host"
	"github.com/weirmq/weir/sm/tier"
)

// Tiered storage on the broker: a tier component (sm/tier) per partition
// this broker leads, while it has an object store (Config.Tier.Enabled).
// The component uploads the replica's committed sealed segments and
// applies remote retention; the replica deletes uploaded segments outside
// its local window (sm/partition). The component is created when metadata
// shows this broker leading at an epoch, replaced when the epoch changes,
// and removed when leadership goes: its in-flight puts then complete to
// nobody, and what they leave is for the controller's garbage collector.

func tierKey(tp sm.TopicPartition) host.Key { return host.Key{Kind: host.KindTier, TP: tp} }

// tierView is what the tier component of tp works from.
func (n *Node) tierView(tp sm.TopicPartition) tier.ReplicaView {
	p := n.parts[tp]
	st := p.Status()
	s := p.Settings()
	leading, epoch := p.Leading()
	active, firstTs := p.Active()
	return tier.ReplicaView{
		Leading: leading && n.registered && n.leased(), Epoch: epoch, TopicID: p.TopicID(),
		HW: st.HW, Durable: st.DurableLEO, LocalStart: st.LocalStart,
		Sealed: p.Sealed(), LocalBytes: p.LocalBytes(), Wall: n.cfg.WallClockAtStart + int64(n.now)/int64(sm.Millisecond),
		Active: active, ActiveFirstTs: firstTs,
		RetentionMs: s.RetentionMs, RetentionBytes: s.RetentionBytes,
	}
}

// syncTier creates, replaces or removes tp's tier component to match the
// replica's leadership.
func (n *Node) syncTier(tp sm.TopicPartition) {
	p := n.parts[tp]
	leading, epoch := p.Leading()
	want := n.cfg.Tier.Enabled && leading && n.registered && p.TopicID() != (sm.TopicID{}) && tp.Topic != sm.OffsetsTopic
	t := n.tiers[tp]
	if t != nil && (!want || t.Epoch() != epoch) {
		n.dropTier(tp)
		t = nil
	}
	if !want || t != nil {
		return
	}
	t = tier.New(n.cfg.tierSettings(tp), epoch, p.Remote(), n.uploads, n.cold, &n.hosts.IDs)
	n.tiers[tp] = t
	n.hosts.Add(tierKey(tp), t)
	n.settleTier(tp)
}

// dropTier removes tp's tier component, if any.
func (n *Node) dropTier(tp sm.TopicPartition) {
	t := n.tiers[tp]
	if t == nil {
		return
	}
	t.Close()
	n.settle(tierKey(tp))
	n.hosts.Remove(tierKey(tp))
	delete(n.tiers, tp)
}

// settleTier settles tp's tier component and hands the replica what it
// learnt: a new uploaded range (segments it passes may leave the disk), or
// corruption an upload found in a local segment.
func (n *Node) settleTier(tp sm.TopicPartition) {
	t := n.tiers[tp]
	n.settle(tierKey(tp))
	p := n.parts[tp]
	if r, changed := t.TakeRemote(); changed {
		p.SetRemote(n.now, r)
		n.settle(host.PartitionKey(tp))
	}
	if seg, reason, ok := t.TakeCorruption(); ok {
		p.ReportCorruption(n.now, seg, reason)
		n.settle(host.PartitionKey(tp))
	}
	// Time lookups the component answered; one that goes on in the tier may
	// answer at once, or issue gets (settled here).
	for seeks := t.TakeSeeks(); len(seeks) > 0; seeks = t.TakeSeeks() {
		for _, res := range seeks {
			n.onSeekResult(t, res)
		}
		n.settle(tierKey(tp))
	}
}

// onObjectDone routes an object-store completion to the component that
// issued it (any order; one for a gone component is dropped).
func (n *Node) onObjectDone(e sm.ObjectDone) {
	r, known := n.hosts.RouteObject(e)
	if !n.deliverable(r, known) {
		return
	}
	u, ok := r.Component.(host.ObjectUser)
	if !ok {
		return
	}
	if r.Key.Kind == host.KindTier {
		n.tiers[r.Key.TP].Refresh(n.tierView(r.Key.TP))
	}
	if err := u.OnObjectDone(n.now, e); err != nil {
		n.fatal = "broker: " + err.Error()
		return
	}
	n.settleKey(r.Key)
}

// onTierResponse hands a controller's answer to the tier component it is
// for, following a leader hint for the next request.
func (n *Node) onTierResponse(from sm.NodeID, tp sm.TopicPartition, code sm.Code, hint sm.NodeID, deliver func(*tier.Tier)) {
	if code == sm.CodeNotLeader && from == n.ctrl && hint != sm.NoNode {
		n.ctrl = hint
	}
	if t := n.tiers[tp]; t != nil {
		t.Refresh(n.tierView(tp))
		deliver(t)
		n.settleTier(tp)
	}
}

// ColdCacheStats reports the broker's cold cache (the remote tier's reads).
func (n *Node) ColdCacheStats() tier.ColdCacheStats { return n.cold.Stats() }

// UploadsInFlight is the number of segment uploads running.
func (n *Node) UploadsInFlight() int { return n.uploads.Used() }
