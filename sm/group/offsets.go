package group

import (
	"fmt"
	"maps"
	"slices"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/assert"
)

type appendKind uint8

const (
	appendCommit appendKind = iota + 1 // offsets of a commit or reset
	appendSync                         // the group with the leader's assignment
	appendEmpty                        // the group after its last member went
	appendDelete                       // tombstones of deleted groups
)

// pendingAppend is an append awaiting OnAppended.
type pendingAppend struct {
	id        sm.EffectID
	kind      appendKind
	group     string
	records   []sm.Record
	handle    Handle
	hasHandle bool
	done      bool
	outcome   sm.Outcome
	notLeader bool
	reason    string
	// appendCommit: what to apply, and the reply with the refused
	// partitions' codes already in (the rest wait for the outcome).
	commits []pendingCommit
	resp    CommitResponse
	// appendSync, appendEmpty.
	generation int32
	value      *groupValue
	assign     map[string][]byte
	// appendDelete.
	deletes []string
	delResp DeleteResponse
}

type pendingCommit struct {
	index int // into resp.Partitions
	tp    sm.TopicPartition
	c     Committed
}

// failedResponse is the reply when the append did not take place.
func (p *pendingAppend) failedResponse(code Code, msg string) Response {
	switch p.kind {
	case appendCommit:
		resp := p.resp
		resp.Partitions = slices.Clone(resp.Partitions)
		for _, pc := range p.commits {
			resp.Partitions[pc.index].Code = code
			resp.Partitions[pc.index].Message = msg
		}
		return resp
	case appendDelete:
		resp := DeleteResponse{Groups: slices.Clone(p.delResp.Groups)}
		for i := range resp.Groups {
			if resp.Groups[i].Code == None {
				resp.Groups[i].Code, resp.Groups[i].Message = code, msg
			}
		}
		return resp
	}
	panic(fmt.Sprintf("group: append kind %d has no reply", p.kind))
}

// complete applies a finished append, in issue order.
func (c *Coordinator) complete(now sm.Time, p *pendingAppend) {
	ok := p.outcome == sm.OutcomeOK
	code, msg := None, ""
	if !ok {
		code, msg = CoordinatorNotAvailable, fmt.Sprintf("group: append to offsets partition %d failed: %s", c.cfg.Partition, p.reason)
		if p.notLeader {
			code = NotCoordinator
		}
	}
	if p.kind == appendDelete {
		c.completeDelete(p, ok, code, msg)
		return
	}
	g := c.groups[p.group]
	assert.That(g != nil, "group: append %d completed for group %q, which is gone", p.id, p.group)
	g.appendsInflight--
	if p.kind == appendCommit {
		defer c.touchLight(g)
	} else {
		defer c.touch(g)
	}
	switch p.kind {
	case appendCommit:
		for _, pc := range p.commits {
			delete(g.inflight[pc.tp], p.id)
			if len(g.inflight[pc.tp]) == 0 {
				delete(g.inflight, pc.tp)
			}
			if !ok {
				continue
			}
			if old, had := g.offsets[pc.tp]; had && pc.c.Offset < old.Offset && !pc.c.Seek && c.violation == nil {
				c.violation = fmt.Errorf("group: %q %s committed offset went back from %d to %d without a seek", g.id, pc.tp, old.Offset, pc.c.Offset)
			}
			g.offsets[pc.tp] = pc.c
		}
		if p.hasHandle {
			if ok {
				c.reply(p.handle, p.resp)
			} else {
				c.reply(p.handle, p.failedResponse(code, msg))
			}
		}
	case appendSync:
		current := g.state == StateCompletingRebalance && g.syncAppend == p.id
		switch {
		case ok:
			g.stored = p.value
			if current {
				c.installSync(now, g, p)
			}
		case current:
			g.syncAppend = 0
			for _, m := range g.sortedMembers() {
				if m.syncHeld {
					m.syncHeld = false
					c.reply(m.sync, SyncResponse{Code: code, Message: msg})
				}
			}
			c.prepareRebalance(g, now)
		}
	case appendEmpty:
		if ok {
			g.stored = p.value
		}
	}
}

func (c *Coordinator) completeDelete(p *pendingAppend, ok bool, code Code, msg string) {
	for _, id := range p.deletes {
		g := c.groups[id]
		assert.That(g != nil && g.state == StateDead, "group: deleted group %q gone or not dead", id)
		g.appendsInflight--
		if ok {
			delete(c.groups, id)
			delete(c.checked, id)
			c.touch(g)
			continue
		}
		g.state = StateEmpty
		c.touch(g)
	}
	if !p.hasHandle {
		return
	}
	if ok {
		c.reply(p.handle, p.delResp)
	} else {
		c.reply(p.handle, p.failedResponse(code, msg))
	}
}

// ---- commit, reset ---------------------------------------------------------

// Commit handles an OffsetCommit. The reply waits until the offsets are
// durable. hw supplies the high watermarks the offsets are checked against.
func (c *Coordinator) Commit(h Handle, now sm.Time, r CommitRequest, hw Watermarks) {
	assert.That(hw != nil, "group: commit without a watermark source")
	fail := func(code Code, msg string) { c.reply(h, refuseAll(r.Offsets, code, msg)) }
	if code, msg := c.precheck(r.GroupID); code != None {
		fail(code, msg)
		return
	}
	g := c.groups[r.GroupID]
	if g == nil {
		if r.Generation >= 0 {
			fail(IllegalGeneration, fmt.Sprintf("group: generation %d of group %q, which does not exist", r.Generation, r.GroupID))
			return
		}
		var code Code
		var msg string
		if g, code, msg = c.createGroup(r.GroupID); code != None {
			fail(code, msg)
			return
		}
	}
	defer c.touchLight(g)
	standalone := r.Generation < 0 && g.state == StateEmpty
	var m *member
	switch {
	case g.state == StateDead:
		fail(CoordinatorNotAvailable, fmt.Sprintf("group: group %q is being deleted", g.id))
		return
	case g.fenced(r.GroupInstanceID, r.MemberID):
		fail(FencedInstanceID, fmt.Sprintf("group: instance %q is now member %q", r.GroupInstanceID, g.instances[r.GroupInstanceID]))
		return
	case standalone:
	case g.state == StateCompletingRebalance:
		fail(RebalanceInProgress, fmt.Sprintf("group: group %q is completing a rebalance: commit after the sync", g.id))
		return
	case g.members[r.MemberID] == nil:
		fail(UnknownMemberID, fmt.Sprintf("group: member %q is not in group %q", r.MemberID, g.id))
		return
	case r.Generation != g.generation:
		fail(IllegalGeneration, fmt.Sprintf("group: generation %d is not group %q's current %d", r.Generation, g.id, g.generation))
		return
	default:
		m = g.members[r.MemberID]
		m.lastHeard = now
	}
	c.storeOffsets(h, g, m, r.Offsets, r.Generation, r.Seek, standalone, hw)
}

// ResetOffsets sets offsets of a group with no members, as seeks (any
// direction). A group that does not exist is created.
func (c *Coordinator) ResetOffsets(h Handle, now sm.Time, r ResetRequest, hw Watermarks) {
	assert.That(hw != nil, "group: reset without a watermark source")
	fail := func(code Code, msg string) { c.reply(h, refuseAll(r.Offsets, code, msg)) }
	if code, msg := c.precheck(r.GroupID); code != None {
		fail(code, msg)
		return
	}
	g := c.groups[r.GroupID]
	if g == nil {
		var code Code
		var msg string
		if g, code, msg = c.createGroup(r.GroupID); code != None {
			fail(code, msg)
			return
		}
	}
	defer c.touch(g)
	switch g.state {
	case StateEmpty:
		c.storeOffsets(h, g, nil, r.Offsets, -1, true, true, hw)
	case StateDead:
		fail(CoordinatorNotAvailable, fmt.Sprintf("group: group %q is being deleted", g.id))
	default:
		fail(NonEmptyGroup, fmt.Sprintf("group: group %q has %d active members (%v): stop them first", g.id, len(g.members), g.state))
	}
}

func refuseAll(offsets []OffsetCommit, code Code, msg string) CommitResponse {
	resp := CommitResponse{Code: code, Message: msg}
	for _, o := range offsets {
		resp.Partitions = append(resp.Partitions, PartitionResult{TP: o.TP, Code: code, Message: msg})
	}
	return resp
}

// storeOffsets checks each partition and appends the good ones.
func (c *Coordinator) storeOffsets(h Handle, g *group, m *member, offsets []OffsetCommit, generation int32, seek, standalone bool, hw Watermarks) {
	p := &pendingAppend{kind: appendCommit, group: g.id, handle: h, hasHandle: true}
	seen := map[sm.TopicPartition]bool{}
	for i, o := range offsets {
		res := PartitionResult{TP: o.TP}
		res.Code, res.Message = c.checkOffset(g, m, o, seen, standalone, seek, hw)
		seen[o.TP] = true
		p.resp.Partitions = append(p.resp.Partitions, res)
		if res.Code != None {
			continue
		}
		cm := Committed{Offset: o.Offset, LeaderEpoch: o.LeaderEpoch, Metadata: o.Metadata, Generation: generation, Seek: seek, Standalone: standalone}
		if m != nil {
			cm.MemberID = m.id
		}
		if standalone && o.Offset < c.floor(g, o.TP) {
			cm.Seek = true
		}
		p.commits = append(p.commits, pendingCommit{index: i, tp: o.TP, c: cm})
	}
	if len(p.commits) == 0 {
		c.reply(h, p.resp)
		return
	}
	if c.appendFull() {
		p.hasHandle = false
		c.reply(h, p.failedResponse(CoordinatorNotAvailable, fmt.Sprintf("group: %d appends in flight (max %d)", len(c.appends), c.cfg.AppendsInflightMax)))
		return
	}
	for _, pc := range p.commits {
		p.records = append(p.records, sm.Record{Key: offsetKey(g.id, pc.tp), Value: encodeOffset(pc.c)})
	}
	c.issue(p)
	g.appendsInflight++
	for _, pc := range p.commits {
		if g.inflight[pc.tp] == nil {
			g.inflight[pc.tp] = map[sm.EffectID]sm.Offset{}
		}
		g.inflight[pc.tp][p.id] = pc.c.Offset
	}
}

// floor is the highest offset committed or being committed for tp.
func (c *Coordinator) floor(g *group, tp sm.TopicPartition) sm.Offset {
	f := sm.Offset(-1)
	if o, ok := g.offsets[tp]; ok {
		f = o.Offset
	}
	for _, o := range g.inflight[tp] {
		f = max(f, o)
	}
	return f
}

func (c *Coordinator) checkOffset(g *group, m *member, o OffsetCommit, seen map[sm.TopicPartition]bool, standalone, seek bool, hw Watermarks) (Code, string) {
	if o.TP.Topic == "" || len(o.TP.Topic) > stringMax || o.TP.Partition < 0 {
		return UnknownTopicOrPartition, fmt.Sprintf("group: no partition %.60q/%d", o.TP.Topic, o.TP.Partition)
	}
	if seen[o.TP] {
		return InvalidRequest, fmt.Sprintf("group: partition %s named twice in one commit", o.TP)
	}
	if len(o.Metadata) > c.cfg.OffsetMetadataBytesMax {
		return OffsetMetadataTooLarge, fmt.Sprintf("group: metadata of %d bytes for %s (max %d)", len(o.Metadata), o.TP, c.cfg.OffsetMetadataBytesMax)
	}
	high, ok := hw.HighWatermark(o.TP)
	if !ok {
		return UnknownTopicOrPartition, fmt.Sprintf("group: partition %s does not exist", o.TP)
	}
	if o.Offset < 0 || o.Offset > high {
		return OffsetOutOfRange, fmt.Sprintf("group: offset %d for %s outside 0..%d (the high watermark)", o.Offset, o.TP, high)
	}
	if m != nil && g.assigned != nil {
		owner, held := g.assigned[o.TP]
		if owner != m.id && (held || !m.revoked[o.TP]) {
			return PartitionNotAssigned, fmt.Sprintf("group: member %q of generation %d is not assigned %s", m.id, g.generation, o.TP)
		}
	}
	if f := c.floor(g, o.TP); !standalone && !seek && o.Offset < f {
		return OffsetRegression, fmt.Sprintf("group: offset %d for %s is below the committed %d (commit as a seek to move back)", o.Offset, o.TP, f)
	}
	return None, ""
}

// FetchOffsets returns the durable committed offsets of tps (every
// partition with one when tps is nil), -1 where there is none.
func (c *Coordinator) FetchOffsets(groupID string, tps []sm.TopicPartition) FetchResponse {
	if code, msg := c.precheck(groupID); code != None {
		return FetchResponse{Code: code, Message: msg}
	}
	var offsets map[sm.TopicPartition]Committed
	if g := c.groups[groupID]; g != nil {
		offsets = g.offsets
	}
	if tps == nil {
		tps = slices.SortedFunc(maps.Keys(offsets), sm.CompareTP)
	}
	resp := FetchResponse{}
	for _, tp := range tps {
		f := FetchedOffset{TP: tp, Offset: -1, LeaderEpoch: -1}
		if o, ok := offsets[tp]; ok {
			f.Offset, f.LeaderEpoch, f.Metadata = o.Offset, o.LeaderEpoch, o.Metadata
		}
		resp.Partitions = append(resp.Partitions, f)
	}
	return resp
}

// Committed returns the durable offset record of tp in groupID (for
// checkers and the CLI's describe).
func (c *Coordinator) Committed(groupID string, tp sm.TopicPartition) (Committed, bool) {
	if g := c.groups[groupID]; g != nil {
		o, ok := g.offsets[tp]
		return o, ok
	}
	return Committed{}, false
}

// ---- delete, list, describe ------------------------------------------------

// Delete removes groups without members and their offsets. The reply
// waits for the tombstones.
func (c *Coordinator) Delete(h Handle, now sm.Time, groupIDs []string) {
	p := &pendingAppend{kind: appendDelete, handle: h, hasHandle: true}
	var dead []*group
	for _, id := range groupIDs {
		res := DeleteResult{GroupID: id}
		res.Code, res.Message = c.precheck(id)
		g := c.groups[id]
		switch {
		case res.Code != None:
		case slices.Contains(p.deletes, id):
			res.Code, res.Message = InvalidRequest, fmt.Sprintf("group: group %q named twice", id)
		case g == nil || g.state == StateDead:
			res.Code, res.Message = GroupIDNotFound, fmt.Sprintf("group: group %q does not exist", id)
		case g.state != StateEmpty:
			res.Code, res.Message = NonEmptyGroup, fmt.Sprintf("group: group %q has %d active members (%v)", id, len(g.members), g.state)
		default:
			p.deletes = append(p.deletes, id)
			dead = append(dead, g)
		}
		p.delResp.Groups = append(p.delResp.Groups, res)
	}
	if len(dead) == 0 {
		c.reply(h, p.delResp)
		return
	}
	if c.appendFull() {
		p.hasHandle = false
		c.reply(h, p.failedResponse(CoordinatorNotAvailable, fmt.Sprintf("group: %d appends in flight (max %d)", len(c.appends), c.cfg.AppendsInflightMax)))
		return
	}
	for _, g := range dead {
		p.records = append(p.records, sm.Record{Key: groupKey(g.id)})
		keys := map[sm.TopicPartition]bool{}
		for tp := range g.offsets {
			keys[tp] = true
		}
		for tp := range g.inflight {
			keys[tp] = true
		}
		for _, tp := range slices.SortedFunc(maps.Keys(keys), sm.CompareTP) {
			p.records = append(p.records, sm.Record{Key: offsetKey(g.id, tp)})
		}
	}
	c.issue(p)
	for _, g := range dead {
		g.state = StateDead
		g.pending = map[string]sm.Time{}
		g.appendsInflight++
		c.touch(g)
	}
}

// List returns the groups (not Dead), sorted by ID, in any of states
// (all when none given).
func (c *Coordinator) List(states ...State) ListResponse {
	if code, msg := c.modeCheck(); code != None {
		return ListResponse{Code: code, Message: msg}
	}
	resp := ListResponse{}
	for _, id := range slices.Sorted(maps.Keys(c.groups)) {
		g := c.groups[id]
		if g.state == StateDead || (len(states) > 0 && !slices.Contains(states, g.state)) {
			continue
		}
		resp.Groups = append(resp.Groups, GroupListing{GroupID: id, ProtocolType: g.protocolType, State: g.state})
	}
	return resp
}

// Describe returns each group's state and members.
func (c *Coordinator) Describe(groupIDs []string) []GroupDescription {
	var out []GroupDescription
	for _, id := range groupIDs {
		d := GroupDescription{GroupID: id, State: StateDead}
		d.Code, d.Message = c.precheck(id)
		g := c.groups[id]
		switch {
		case d.Code != None:
		case g == nil:
			d.Code, d.Message = GroupIDNotFound, fmt.Sprintf("group: group %q does not exist", id)
		default:
			d.State, d.ProtocolType, d.Protocol, d.Generation, d.Leader = g.state, g.protocolType, g.protocol, g.generation, g.leader
			for _, m := range g.sortedMembers() {
				d.Members = append(d.Members, MemberDescription{
					MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost,
					Metadata: m.metadataFor(g.protocol), Assignment: m.assignment,
				})
			}
		}
		out = append(out, d)
	}
	return out
}
