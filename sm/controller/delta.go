package controller

import (
	"maps"
	"slices"

	"github.com/weirmq/weir/sm"
)

// delta returns what changed after version since, up to the current version.
//
// A receiver applies a delta by first removing every topic in DeletedTopics
// together with its partitions, then upserting Brokers, Topics and Partitions
// (sm/metacache.Cache.Apply is the one implementation every receiver uses).
// A name may be both deleted and (re)created in one delta. since == 0, or a
// since older than the tombstone horizon, yields Full: the whole state, which
// replaces the receiver's. A since newer than this controller's version (the
// receiver heard from a replica that had applied more) yields an empty delta
// To since, so the receiver never moves backwards. Lists are sorted: brokers
// by ID, topics by name, partitions by TP.
func (md *metadata) delta(since uint64) sm.MetadataDelta {
	d := sm.MetadataDelta{FromVersion: since, ToVersion: md.version}
	switch {
	case since > md.version:
		d.ToVersion = since
		return d
	case since == 0 || since < md.horizon:
		d.Full = true
		since = 0
	}
	for _, id := range slices.Sorted(maps.Keys(md.brokers)) {
		if b := md.brokers[id]; b.version > since {
			d.Brokers = append(d.Brokers, b.info)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(md.topics)) {
		t := md.topics[name]
		if t.version > since {
			d.Topics = append(d.Topics, t.info)
		}
		for _, p := range t.partitions {
			if p.version > since {
				d.Partitions = append(d.Partitions, clonePartition(p.state))
			}
		}
	}
	if d.Full || md.aclVersion > since {
		d.ACL = md.aclSnapshot()
	}
	if d.Full || md.revokedVersion > since {
		d.Revoked = md.revoked()
	}
	if !d.Full {
		for _, name := range slices.Sorted(maps.Keys(md.tombstones)) {
			if md.tombstones[name] > since {
				d.DeletedTopics = append(d.DeletedTopics, name)
			}
		}
	}
	return d
}
