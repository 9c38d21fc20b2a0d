// Package metacache is the one copy of the controller's metadata that every
// receiver keeps: brokers, the SDK and the simulator's clients. It folds in
// the deltas sm/controller sends (sm.MetadataDelta) with exactly the
// controller's semantics, so every receiver sees the same state for the same
// version.
//
// It is pure: no clock, no I/O, no randomness, and no map order reaches a
// result. It is not safe for concurrent use; a caller that shares one (the
// SDK) guards it.
package metacache

import (
	"maps"
	"slices"

	"github.com/weirmq/weir/sm"
)

// Cache is a receiver's copy of the cluster metadata as of Version. The zero
// value is an empty cache at version 0, ready to use.
//
// Values returned by the read methods share their slices (Replicas, ISR)
// with the cache: callers must not modify them, as with sm.Message.
type Cache struct {
	version uint64
	brokers map[sm.NodeID]sm.BrokerInfo
	topics  map[string]sm.TopicInfo
	// ids maps each topic's ID (sm.TopicInfo.ID) to its name; a topic with
	// the zero ID (from a controller before topic IDs) is not in it.
	ids map[sm.TopicID]string
	// parts holds partition states by topic, then partition index, so a
	// deletion costs the deleted topic's partitions, not all of them.
	parts map[string]map[int32]sm.PartitionState
	// acl is the ACL rule set as the last delta that carried one had it
	// (acl.State.Snapshot; nil: none yet); aclGen counts the times it was
	// replaced, so a holder of a compiled authorizer knows to recompile.
	acl    []byte
	aclGen uint64
	// revoked is the revoked certificate serials as the last delta that
	// carried them had them (nil: none yet); revokedGen counts the times
	// the set was replaced.
	revoked    []string
	revokedGen uint64
}

// New returns an empty cache at version 0.
func New() *Cache { return &Cache{} }

func (c *Cache) reset() {
	c.version = 0
	c.brokers = map[sm.NodeID]sm.BrokerInfo{}
	c.topics = map[string]sm.TopicInfo{}
	c.ids = map[sm.TopicID]string{}
	c.parts = map[string]map[int32]sm.PartitionState{}
	c.setACL(nil)
	c.setRevoked(nil)
}

// deleteTopic removes the topic named name and its partitions.
func (c *Cache) deleteTopic(name string) {
	if t, ok := c.topics[name]; ok && c.ids[t.ID] == name {
		delete(c.ids, t.ID)
	}
	delete(c.topics, name)
	delete(c.parts, name)
}

// Apply folds d in and reports whether it did; a refused delta changes
// nothing. The rules are the controller's (sm/controller delta):
//
//   - A Full delta is the whole state at d.ToVersion and replaces the
//     cache's, unless the cache already holds a version at or after it (a
//     stale controller replica or a late reply must not move the cache
//     back). An empty cache (version 0) takes any Full delta.
//   - An incremental delta holds the current state of everything that
//     changed after d.FromVersion, up to d.ToVersion. It applies only when
//     FromVersion <= Version < ToVersion: everything it does not name is
//     unchanged since FromVersion, so the cache's copy is current, and what
//     it names is overwritten. One that starts after Version would leave a
//     gap and is refused; the receiver asks again from its own version (the
//     controller then answers from there, or with a Full delta). One that
//     ends at or before Version is old news (including the empty answer a
//     controller behind the receiver gives) and is refused.
//   - Deletions go first, each removing the topic and all its partitions;
//     then brokers, topics and partitions are upserted. A name may be both
//     deleted and created in one delta: the topic was re-created, and only
//     the new topic's partitions remain. A topic upserted with another ID
//     than the one held (not the zero ID: a copy from before topic IDs) is a
//     new incarnation of the name even when the delta does not list its
//     deletion: the old one's partitions go too.
//
// Brokers are never removed except by a Full delta (the controller keeps
// fenced brokers). Apply never fails on malformed input; it stores what it is
// given (partitions of an unknown topic are kept but Known reports false).
func (c *Cache) Apply(d sm.MetadataDelta) bool {
	switch {
	case d.Full && c.version != 0 && d.ToVersion <= c.version:
		return false
	case d.Full:
		c.reset()
	case d.FromVersion > c.version || d.ToVersion <= c.version:
		return false
	case c.brokers == nil:
		c.reset() // the zero value meeting its first delta
	}
	if d.ACL != nil {
		c.setACL(d.ACL)
	}
	if d.Revoked != nil {
		c.setRevoked(d.Revoked)
	}
	for _, name := range d.DeletedTopics {
		c.deleteTopic(name)
	}
	for _, b := range d.Brokers {
		c.brokers[b.ID] = b
	}
	for _, t := range d.Topics {
		if old, ok := c.topics[t.Name]; ok && old.ID != t.ID && old.ID != (sm.TopicID{}) {
			c.deleteTopic(t.Name)
		}
		c.topics[t.Name] = t
		if t.ID != (sm.TopicID{}) {
			c.ids[t.ID] = t.Name
		}
	}
	for _, st := range d.Partitions {
		st.Replicas, st.ISR = slices.Clone(st.Replicas), slices.Clone(st.ISR)
		byIndex := c.parts[st.TP.Topic]
		if byIndex == nil {
			byIndex = map[int32]sm.PartitionState{}
			c.parts[st.TP.Topic] = byIndex
		}
		byIndex[st.TP.Partition] = st
	}
	c.version = d.ToVersion
	return true
}

// Version is the controller metadata version the cache holds (the raft index
// of the last change it includes); 0 before any delta.
func (c *Cache) Version() uint64 { return c.version }

// Broker returns broker id's registration, fenced or not.
func (c *Cache) Broker(id sm.NodeID) (sm.BrokerInfo, bool) {
	b, ok := c.brokers[id]
	return b, ok
}

// Live reports whether id is a registered broker that is not fenced.
func (c *Cache) Live(id sm.NodeID) bool {
	b, ok := c.brokers[id]
	return ok && !b.Fenced
}

// Brokers lists every broker, fenced ones included, sorted by ID.
func (c *Cache) Brokers() []sm.BrokerInfo {
	out := make([]sm.BrokerInfo, 0, len(c.brokers))
	for _, id := range slices.Sorted(maps.Keys(c.brokers)) {
		out = append(out, c.brokers[id])
	}
	return out
}

// Topic returns the topic named name.
func (c *Cache) Topic(name string) (sm.TopicInfo, bool) {
	t, ok := c.topics[name]
	return t, ok
}

// TopicByID returns the topic whose ID is id: false when no topic of the
// held version has it (the topic it named was deleted, or is unknown yet),
// and for the zero ID.
func (c *Cache) TopicByID(id sm.TopicID) (sm.TopicInfo, bool) {
	name, ok := c.ids[id]
	if !ok || id == (sm.TopicID{}) {
		return sm.TopicInfo{}, false
	}
	return c.topics[name], true
}

// Topics lists the topic names, sorted.
func (c *Cache) Topics() []string {
	return slices.Sorted(maps.Keys(c.topics))
}

// Known reports whether tp is a partition of an existing topic.
func (c *Cache) Known(tp sm.TopicPartition) bool {
	t, ok := c.topics[tp.Topic]
	return ok && tp.Partition >= 0 && tp.Partition < t.Partitions
}

// Partition returns tp's state as the controller last reported it.
func (c *Cache) Partition(tp sm.TopicPartition) (sm.PartitionState, bool) {
	st, ok := c.parts[tp.Topic][tp.Partition]
	return st, ok
}

// Leader returns tp's leader and leader epoch; sm.NoNode (with the epoch)
// while it is offline, sm.NoNode and 0 when the cache holds no state for tp.
// The leader may be fenced in a later version; see Live.
func (c *Cache) Leader(tp sm.TopicPartition) (sm.NodeID, sm.Epoch) {
	st := c.parts[tp.Topic][tp.Partition]
	return st.Leader, st.LeaderEpoch
}

// Partitions returns the states the cache holds for topic's partitions,
// sorted by partition index.
func (c *Cache) Partitions(topic string) []sm.PartitionState {
	byIndex := c.parts[topic]
	out := make([]sm.PartitionState, 0, len(byIndex))
	for _, i := range slices.Sorted(maps.Keys(byIndex)) {
		out = append(out, byIndex[i])
	}
	return out
}

// AllPartitions returns every partition state the cache holds, sorted by
// topic and partition.
func (c *Cache) AllPartitions() []sm.PartitionState {
	var out []sm.PartitionState
	for _, name := range slices.Sorted(maps.Keys(c.parts)) {
		out = append(out, c.Partitions(name)...)
	}
	return out
}

// Full renders the cache as the Full delta a controller at Version would
// send: brokers by ID, topics by name, partitions by topic and partition,
// with slices copied. Applying it to an empty cache rebuilds this one.
func (c *Cache) Full() sm.MetadataDelta {
	d := sm.MetadataDelta{ToVersion: c.version, Full: true}
	for _, id := range slices.Sorted(maps.Keys(c.brokers)) {
		d.Brokers = append(d.Brokers, c.brokers[id])
	}
	for _, name := range slices.Sorted(maps.Keys(c.topics)) {
		d.Topics = append(d.Topics, c.topics[name])
	}
	for _, st := range c.AllPartitions() {
		st.Replicas, st.ISR = slices.Clone(st.Replicas), slices.Clone(st.ISR)
		d.Partitions = append(d.Partitions, st)
	}
	d.ACL = slices.Clone(c.acl)
	d.Revoked = slices.Clone(c.revoked)
	return d
}

func (c *Cache) setACL(snap []byte) {
	if c.acl == nil && snap == nil {
		return
	}
	c.acl = slices.Clone(snap)
	c.aclGen++
}

func (c *Cache) setRevoked(serials []string) {
	if c.revoked == nil && serials == nil {
		return
	}
	c.revoked = slices.Clone(serials)
	c.revokedGen++
}

// Revoked is the revoked certificate serials the cache holds (nil when no
// delta carried them yet) and their generation.
func (c *Cache) Revoked() ([]string, uint64) { return c.revoked, c.revokedGen }

// ACL is the ACL rule set the cache holds (an acl.State snapshot; nil when
// no delta carried one yet) and its generation, which changes whenever the
// rule set is replaced.
func (c *Cache) ACL() ([]byte, uint64) { return c.acl, c.aclGen }

// Clone returns an independent copy.
func (c *Cache) Clone() *Cache {
	out := &Cache{version: c.version, brokers: maps.Clone(c.brokers), topics: maps.Clone(c.topics), ids: maps.Clone(c.ids),
		acl: c.acl, aclGen: c.aclGen, revoked: c.revoked, revokedGen: c.revokedGen} // never modified in place
	if c.parts != nil {
		out.parts = make(map[string]map[int32]sm.PartitionState, len(c.parts))
		for name, byIndex := range c.parts {
			out.parts[name] = maps.Clone(byIndex) // states' slices are never modified in place
		}
	}
	return out
}
