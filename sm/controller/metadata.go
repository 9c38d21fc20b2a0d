package controller

import (
	"fmt"
	"maps"
	"slices"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/acl"
	"github.com/weirmq/weir/sm/assert"
)

// metadata is the replicated cluster metadata: the state every controller
// rebuilds by applying the raft log in order. It is a pure function of the
// applied entries (and their indexes): no clock, no configuration, no map
// order reaches its results, so every replica holds identical state.
type metadata struct {
	// applied is the raft index of the last applied entry; version is the
	// index of the last one that changed something (the metadata version).
	applied uint64
	version uint64
	// topicsCreated counts topics ever created; it rotates replica
	// assignment so that leaders spread across topics.
	topicsCreated uint64

	brokers map[sm.NodeID]*brokerEntry
	topics  map[string]*topicEntry
	// tombstones maps a deleted topic's name to the version that deleted it,
	// so deltas can report deletions. At most tombstonesMax are kept; horizon
	// is the newest evicted one: a delta from before it must be Full.
	tombstones map[string]uint64
	horizon    uint64
	// tombstoneOrder lists the tombstones' names oldest first (by version,
	// which every delete raises), so that eviction is O(1).
	tombstoneOrder []string
	// probes are the protocol paths applying entries took (sm.Probe); the
	// node moves them to its Ready.
	probes []sm.Probe
	// acls is the ACL rule set; aclVersion the metadata version of its
	// last change (0: never changed), aclSnap its snapshot at that version
	// (what deltas carry), built on first use.
	acls       *acl.State
	aclVersion uint64
	aclSnap    []byte
	// certs is the certificate registry by serial; revokedVersion the
	// metadata version of the last revocation.
	certs          map[string]*sm.CertRecord
	revokedVersion uint64
	// nextProducerID is the first producer ID no block has taken.
	nextProducerID int64
}

// tombstonesMax bounds the deleted-topic memory; older receivers get a Full
// delta instead.
const tombstonesMax = 4096

type brokerEntry struct {
	info    sm.BrokerInfo
	version uint64
}

type topicEntry struct {
	info       sm.TopicInfo
	version    uint64
	partitions []*partitionEntry // index = partition number
}

type partitionEntry struct {
	state   sm.PartitionState
	version uint64
	// remote is the recorded uploaded segments, in offset order (nil when
	// none); state.Remote summarises them (remote.go).
	remote []sm.RemoteSegment
}

// result is the outcome of applying one command; the proposing leader turns
// it into the reply.
type result struct {
	code    sm.Code
	message string
	state   sm.PartitionState // AlterISR: the partition after the command
	remote  sm.RemoteLog      // commit_segment, drop_remote_segments: the uploaded range after the command
	acl     acl.Result        // acl: what the command did
	cert    sm.CertRecord     // cert: the record after the command
	// alloc_producer_ids: the block allocated.
	pidFirst int64
	pidCount int32
}

func newMetadata(applied uint64) *metadata {
	return &metadata{
		applied:    applied,
		brokers:    map[sm.NodeID]*brokerEntry{},
		topics:     map[string]*topicEntry{},
		tombstones: map[string]uint64{},
		acls:       &acl.State{},
		certs:      map[string]*sm.CertRecord{},
	}
}

func fail(code sm.Code, format string, args ...any) result {
	return result{code: code, message: fmt.Sprintf(format, args...)}
}

// apply applies cmd as the entry at index. Validation happens here, against
// the state the entry meets in log order: that is authoritative, and every
// replica reaches the same result.
func (md *metadata) apply(index uint64, cmd *command) result {
	assert.That(index > md.applied, "controller: apply index %d not after applied %d", index, md.applied)
	md.applied = index
	switch {
	case cmd.Register != nil:
		return md.applyRegister(cmd.Register)
	case cmd.Fence != nil:
		return md.applyFence(cmd.Fence)
	case cmd.Create != nil:
		return md.applyCreate(cmd.Create, cmd.Term)
	case cmd.Delete != nil:
		return md.applyDelete(cmd.Delete)
	case cmd.AlterISR != nil:
		return md.applyAlterISR(cmd.AlterISR)
	case cmd.AlterConfig != nil:
		return md.applyAlterConfig(cmd.AlterConfig)
	case cmd.CommitSegment != nil:
		return md.applyCommitSegment(cmd.CommitSegment)
	case cmd.DropRemote != nil:
		return md.applyDropRemote(cmd.DropRemote)
	case cmd.ACL != nil:
		return md.applyACL(cmd.ACL)
	case cmd.Cert != nil:
		return md.applyCert(cmd.Cert)
	case cmd.AllocProducerIDs != nil:
		return md.applyAllocProducerIDs(cmd.AllocProducerIDs)
	}
	panic(fmt.Sprintf("controller: apply of empty command at index %d", index))
}

// applyEmpty records an entry that carries no command (a leader's first entry
// of its term).
func (md *metadata) applyEmpty(index uint64) {
	assert.That(index > md.applied, "controller: apply index %d not after applied %d", index, md.applied)
	md.applied = index
}

// touch marks a change at the entry being applied and returns its version.
func (md *metadata) touch() uint64 {
	assert.That(md.applied >= md.version, "controller: version %d beyond applied %d", md.version, md.applied)
	md.version = md.applied
	return md.version
}

func (md *metadata) alive(id sm.NodeID) bool {
	b := md.brokers[id]
	return b != nil && !b.info.Fenced
}

func (md *metadata) applyRegister(c *registerBroker) result {
	if c.ID == sm.NoNode {
		return fail(sm.CodeInvalidRequest, "broker id must not be none")
	}
	b := md.brokers[c.ID]
	if b != nil && c.Incarnation < b.info.Incarnation {
		return fail(sm.CodeStaleBrokerEpoch, "broker %v incarnation %d below registered %d", c.ID, c.Incarnation, b.info.Incarnation)
	}
	if b != nil && c.Incarnation == b.info.Incarnation && !b.info.Fenced {
		return result{} // already registered and live: nothing changes
	}
	// Partitions this command leaves leaderless get their new epochs once:
	// the old incarnation is fenced and the new one may be elected in the
	// same entry, and no one ever sees the state in between, so a restart
	// moves a partition's leader epoch by one, not two.
	vacated := map[sm.TopicPartition]bool{}
	if b != nil && !b.info.Fenced {
		md.fenceInto(b, vacated) // a new incarnation replaces a live one: the old one's state is gone
		md.probes = append(md.probes, sm.ProbeNewIncarnationFenced)
	}
	if b == nil {
		b = &brokerEntry{}
		md.brokers[c.ID] = b
	}
	b.info = sm.BrokerInfo{ID: c.ID, Incarnation: c.Incarnation, Rack: c.Rack, Host: c.Host}
	b.version = md.touch()
	md.dropLostCopies(c, vacated)
	md.electAfterRegister(c.ID, c.AcceptDataLoss, vacated)
	return result{}
}

// dropLostCopies takes a registering broker that lost its disk, or some of
// its logs, out of those partitions' ISRs, even when it was the last
// member: its copy no longer holds what the high watermark promised, so it
// must not be elected as if it did. The partition then stays offline until
// a replica that did not lose it returns — there is none, since the ISR
// held only this one — an unclean election is allowed, or the operator
// accepts the loss (AcceptDataLoss). After the fence of the previous
// incarnation the broker is in an ISR only as its last member.
func (md *metadata) dropLostCopies(c *registerBroker, vacated map[sm.TopicPartition]bool) {
	if !c.LostDisk && len(c.Lost) == 0 {
		return
	}
	md.eachPartition(func(t *topicEntry, p *partitionEntry) {
		st := &p.state
		if !slices.Contains(st.ISR, c.ID) && !slices.Contains(st.ELR, c.ID) || (!c.LostDisk && !slices.Contains(c.Lost, st.TP)) {
			return
		}
		st.ISR = without(st.ISR, c.ID)
		st.ELR = without(st.ELR, c.ID) // it holds nothing to be eligible with
		if len(st.ELR) == 0 {
			st.ELR = nil
		}
		assert.That(st.Leader != c.ID, "controller: %v led by %v at its own registration", st.TP, c.ID)
		if !vacated[st.TP] {
			st.PartitionEpoch++
		}
		p.version = md.touch() // electAfterRegister elects, if anyone may lead
	})
}

func (md *metadata) applyFence(c *fenceBroker) result {
	b := md.brokers[c.ID]
	if b == nil {
		return fail(sm.CodeInvalidRequest, "broker %v is not registered", c.ID)
	}
	if b.info.Incarnation != c.Incarnation || b.info.Fenced {
		return result{} // a stale fence: that incarnation is already gone
	}
	md.fence(b)
	return result{}
}

// fence marks b fenced and takes it out of every partition: out of the ISR
// unless it is the last member, and out of leadership, electing the first
// replica (in Replicas order) that is in the ISR and alive.
func (md *metadata) fence(b *brokerEntry) {
	md.fenceInto(b, nil)
}

// fenceInto is fence, adding to vacated (when not nil) the partitions it
// leaves without a leader.
func (md *metadata) fenceInto(b *brokerEntry, vacated map[sm.TopicPartition]bool) {
	b.info.Fenced = true
	b.version = md.touch()
	md.eachPartition(func(t *topicEntry, p *partitionEntry) {
		if md.fencePartition(t, p, b.info.ID) && vacated != nil {
			vacated[p.state.TP] = true
		}
	})
}

// fencePartition takes id out of one partition and reports whether that
// left it without a leader.
func (md *metadata) fencePartition(t *topicEntry, p *partitionEntry, id sm.NodeID) bool {
	st := &p.state
	changed := false
	if len(st.ISR) > 1 && slices.Contains(st.ISR, id) {
		leaveISR(st, id, t.info.Config.MinInSyncReplicas)
		changed = true
	}
	if st.Leader == id {
		md.elect(t, st)
		st.LeaderEpoch++
		changed = true
	}
	if changed {
		st.PartitionEpoch++
		p.version = md.touch()
	}
	if changed && st.Leader == sm.NoNode {
		md.probes = append(md.probes, sm.ProbePartitionOffline)
	}
	return changed && st.Leader == sm.NoNode
}

// electAfterRegister gives every offline partition of which id is a replica
// the chance to elect a leader now that id is alive again.
//
// With acceptLoss, a partition whose ISR is empty (every in-sync copy was
// lost) is led by id with what it holds: the operator's explicit choice.
// Partitions in vacated already moved to a new epoch in this command with no
// leader; electing one there keeps that epoch.
func (md *metadata) electAfterRegister(id sm.NodeID, acceptLoss bool, vacated map[sm.TopicPartition]bool) {
	md.eachPartition(func(t *topicEntry, p *partitionEntry) {
		st := &p.state
		if st.Leader != sm.NoNode || !slices.Contains(st.Replicas, id) {
			return
		}
		md.elect(t, st)
		if st.Leader == sm.NoNode && acceptLoss && len(st.ISR) == 0 {
			// The operator's choice: what id holds is the partition now.
			st.Leader, st.ISR, st.ELR = id, []sm.NodeID{id}, nil
		}
		if st.Leader == sm.NoNode {
			return
		}
		if !vacated[st.TP] {
			st.LeaderEpoch++
			st.PartitionEpoch++
		}
		p.version = md.touch()
	})
}

// elect picks a leader for st and sets Leader, ISR and ELR: the first
// replica in the ISR that is alive (ISR unchanged); else the first live ELR
// member, with the ISR reset to it alone and the former ISR members — which
// hold every committed record too — moved to the ELR; else, if the topic
// allows unclean election, the first live replica with the ISR reset to it
// alone and the ELR emptied (committed records may be lost); otherwise
// NoNode (offline, ISR and ELR unchanged).
func (md *metadata) elect(t *topicEntry, st *sm.PartitionState) {
	for _, r := range st.Replicas {
		if md.alive(r) && slices.Contains(st.ISR, r) {
			st.Leader = r
			return
		}
	}
	for _, r := range st.Replicas {
		if md.alive(r) && slices.Contains(st.ELR, r) {
			elr := append(without(st.ELR, r), st.ISR...)
			st.Leader, st.ISR, st.ELR = r, []sm.NodeID{r}, inReplicaOrder(st, elr)
			settleELR(st, t.info.Config.MinInSyncReplicas)
			md.probes = append(md.probes, sm.ProbeELRElected)
			return
		}
	}
	if t.info.Config.UncleanLeaderElection {
		for _, r := range st.Replicas {
			if md.alive(r) {
				st.Leader, st.ISR, st.ELR = r, []sm.NodeID{r}, nil
				return
			}
		}
	}
	st.Leader = sm.NoNode
}

// eachPartition visits every partition in (topic, partition) order.
func (md *metadata) eachPartition(visit func(*topicEntry, *partitionEntry)) {
	for _, name := range slices.Sorted(maps.Keys(md.topics)) {
		t := md.topics[name]
		for _, p := range t.partitions {
			visit(t, p)
		}
	}
}

// liveBrokers returns the unfenced brokers sorted by ID.
func (md *metadata) liveBrokers() []sm.BrokerInfo {
	var live []sm.BrokerInfo
	for _, id := range slices.Sorted(maps.Keys(md.brokers)) {
		if b := md.brokers[id]; !b.info.Fenced {
			live = append(live, b.info)
		}
	}
	return live
}

// applyCreate creates the topic with the ID derived from the entry being
// applied: term is the proposer's, which raft stamped on the entry (a
// leader proposes only in the term it leads), and md.applied its index.
func (md *metadata) applyCreate(c *createTopic, term uint64) result {
	live := md.liveBrokers()
	if r, ok := validateCreate(c, len(live)); !ok {
		return r
	}
	if md.topics[c.Name] != nil {
		return fail(sm.CodeTopicExists, "topic %q already exists", c.Name)
	}
	v := md.touch()
	t := &topicEntry{
		info:    sm.TopicInfo{Name: c.Name, ID: topicID(c.Name, term, md.applied), Partitions: c.Partitions, ReplicationFactor: c.ReplicationFactor, Config: c.Config, CreatedAtMs: c.CreatedAtMs},
		version: v,
	}
	assignment := assignReplicas(live, c.Partitions, c.ReplicationFactor, md.topicsCreated)
	for i, replicas := range assignment {
		t.partitions = append(t.partitions, &partitionEntry{version: v, state: sm.PartitionState{
			TP:             sm.TopicPartition{Topic: c.Name, Partition: int32(i)},
			Replicas:       replicas,
			Leader:         replicas[0],
			LeaderEpoch:    1,
			ISR:            slices.Clone(replicas),
			PartitionEpoch: 1,
		}})
	}
	md.topics[c.Name] = t
	md.topicsCreated++
	return result{}
}

// validateCreate checks what a CreateTopic must satisfy whatever the state,
// given the number of live brokers. The proposing leader runs the same checks
// (with its view of live brokers) to reject early.
func validateCreate(c *createTopic, live int) (result, bool) {
	if err := validateTopicName(c.Name); err != "" {
		return fail(sm.CodeInvalidTopicName, "%s", err), false
	}
	if c.Partitions < 1 {
		return fail(sm.CodeInvalidPartitions, "partitions must be >= 1 (got %d)", c.Partitions), false
	}
	if c.ReplicationFactor < 1 {
		return fail(sm.CodeInvalidReplicationFactor, "replication factor must be >= 1 (got %d)", c.ReplicationFactor), false
	}
	if int(c.ReplicationFactor) > live {
		return fail(sm.CodeInvalidReplicationFactor, "replication factor %d above the %d live brokers", c.ReplicationFactor, live), false
	}
	if m := c.Config.MinInSyncReplicas; m < 1 || m > c.ReplicationFactor {
		return fail(sm.CodeInvalidRequest, "min in-sync replicas must be in 1..%d (replication factor) (got %d)", c.ReplicationFactor, m), false
	}
	if r, ok := validateTopicConfig(&c.Config); !ok {
		return r, false
	}
	return result{}, true
}

// applyDelete removes the topic with its partitions and their uploaded
// segments' records: the objects are orphans for the garbage collector,
// which finds their topic ID gone.
func (md *metadata) applyDelete(c *deleteTopic) result {
	if md.topics[c.Name] == nil {
		return fail(sm.CodeUnknownTopic, "topic %q does not exist", c.Name)
	}
	delete(md.topics, c.Name)
	if _, again := md.tombstones[c.Name]; again { // re-created and deleted again: it moves to the end
		md.tombstoneOrder = slices.DeleteFunc(md.tombstoneOrder, func(n string) bool { return n == c.Name })
	}
	md.tombstones[c.Name] = md.touch()
	md.tombstoneOrder = append(md.tombstoneOrder, c.Name)
	md.evictTombstones()
	return result{}
}

// evictTombstones keeps at most tombstonesMax, dropping the oldest and
// raising the horizon past it.
func (md *metadata) evictTombstones() {
	for len(md.tombstones) > tombstonesMax {
		oldest := md.tombstoneOrder[0]
		md.tombstoneOrder = md.tombstoneOrder[1:]
		md.horizon = max(md.horizon, md.tombstones[oldest])
		delete(md.tombstones, oldest)
	}
}

func (md *metadata) partition(tp sm.TopicPartition) *partitionEntry {
	t := md.topics[tp.Topic]
	if t == nil || tp.Partition < 0 || int(tp.Partition) >= len(t.partitions) {
		return nil
	}
	return t.partitions[tp.Partition]
}

func (md *metadata) applyAlterISR(c *alterISR) result {
	p := md.partition(c.TP)
	if p == nil {
		return fail(sm.CodeUnknownTopic, "partition %v does not exist", c.TP)
	}
	if r, ok := md.checkAlterISR(c, &p.state); !ok {
		if r.code != sm.CodeInvalidRequest {
			md.probes = append(md.probes, sm.ProbeAlterISRRejected)
		}
		r.state = clonePartition(p.state)
		return r
	}
	setISR(&p.state, c.ISR, md.topics[c.TP.Topic].info.Config.MinInSyncReplicas)
	p.state.PartitionEpoch++
	p.version = md.touch()
	return result{state: clonePartition(p.state)}
}

// checkAlterISR fences requests from anyone but the current leader at the
// current epochs, then checks the new ISR's shape.
func (md *metadata) checkAlterISR(c *alterISR, st *sm.PartitionState) (result, bool) {
	switch {
	case c.LeaderEpoch > st.LeaderEpoch:
		return fail(sm.CodeUnknownLeaderEpoch, "leader epoch %d of %v newer than current %d", c.LeaderEpoch, c.TP, st.LeaderEpoch), false
	case c.Broker == sm.NoNode || c.Broker != st.Leader || c.LeaderEpoch < st.LeaderEpoch:
		return fail(sm.CodeFencedLeaderEpoch, "broker %v at leader epoch %d is not the leader of %v (leader %v, epoch %d)",
			c.Broker, c.LeaderEpoch, c.TP, st.Leader, st.LeaderEpoch), false
	case c.PartitionEpoch != st.PartitionEpoch:
		return fail(sm.CodeStaleRequest, "partition epoch %d of %v is not current %d", c.PartitionEpoch, c.TP, st.PartitionEpoch), false
	}
	if err := md.checkISR(c.ISR, st); err != "" {
		return fail(sm.CodeInvalidRequest, "isr %v for %v: %s", c.ISR, c.TP, err), false
	}
	if len(c.Incarnations) == len(c.ISR) {
		for i, r := range c.ISR {
			if slices.Contains(st.ISR, r) {
				continue // already in: its restarts take it out (fence, registration)
			}
			if inc := md.brokers[r].info.Incarnation; c.Incarnations[i] != inc {
				return fail(sm.CodeStaleBrokerEpoch, "isr %v for %v: the leader vouches for incarnation %d of %v, but %d is registered",
					c.ISR, c.TP, c.Incarnations[i], r, inc), false
			}
		}
	}
	return result{}, true
}

// checkISR returns why isr cannot be st's ISR, or "".
func (md *metadata) checkISR(isr []sm.NodeID, st *sm.PartitionState) string {
	if len(isr) == 0 {
		return "isr is empty"
	}
	if !slices.Contains(isr, st.Leader) {
		return fmt.Sprintf("leader %v not in isr", st.Leader)
	}
	for i, r := range isr {
		switch {
		case slices.Contains(isr[:i], r):
			return fmt.Sprintf("replica %v listed twice", r)
		case !slices.Contains(st.Replicas, r):
			return fmt.Sprintf("broker %v is not a replica %v", r, st.Replicas)
		case !md.alive(r):
			return fmt.Sprintf("broker %v is fenced", r)
		}
	}
	return ""
}

func clonePartition(st sm.PartitionState) sm.PartitionState {
	st.Replicas = slices.Clone(st.Replicas)
	st.ISR = slices.Clone(st.ISR)
	st.ELR = slices.Clone(st.ELR)
	return st
}

// producerIDBlock is how many producer IDs one allocation takes.
const producerIDBlock = 1000

// applyAllocProducerIDs takes the next block of producer IDs for a broker
// that is registered and alive; the block is never given out again. It
// changes no metadata brokers see (the version stays).
func (md *metadata) applyAllocProducerIDs(c *allocProducerIDs) result {
	if !md.alive(c.Broker) {
		return fail(sm.CodeStaleBrokerEpoch, "broker %v is not registered and alive", c.Broker)
	}
	if c.Count <= 0 || c.Count > producerIDBlock*10 {
		return fail(sm.CodeInvalidRequest, "a block of %d producer IDs (want 1..%d)", c.Count, producerIDBlock*10)
	}
	if md.nextProducerID > 1<<62 {
		return fail(sm.CodeInvalidRequest, "producer IDs are exhausted")
	}
	r := result{pidFirst: md.nextProducerID, pidCount: c.Count}
	md.nextProducerID += int64(c.Count)
	return r
}
