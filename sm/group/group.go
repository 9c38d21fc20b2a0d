package group

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/assert"
	"github.com/weirmq/weir/sm/group/assign"
)

type member struct {
	id, instanceID, clientID, clientHost string
	sessionTimeout, rebalanceTimeout     sm.Duration
	protocols                            []Protocol
	seq                                  uint64 // join order: the leader is the earliest
	lastHeard                            sm.Time
	joinHeld, syncHeld                   bool
	join, sync                           Handle
	// assignment is the last one delivered (nil until Sync delivers one
	// in the current generation).
	assignment []byte
	// owned is the member's last delivered assignment, revoked what the
	// cooperative protocol took from it in that rebalance (still its to
	// commit while nobody else holds them). nil when the coordinator
	// cannot read assignments (see PartitionNotAssigned).
	owned, revoked map[sm.TopicPartition]bool
}

type group struct {
	id                             string
	state                          State
	protocolType, protocol, leader string
	generation                     int32
	members                        map[string]*member
	instances                      map[string]string  // static instance ID → member ID
	pending                        map[string]sm.Time // KIP-394 member IDs → expiry
	seq                            uint64
	joinDeadline, syncDeadline     sm.Time
	// initialUntil > 0: the first join phase of a formerly empty group,
	// held open by InitialRebalanceDelay up to this time.
	initialUntil sm.Time
	// syncAppend is the leader's assignment being stored (0: none).
	syncAppend sm.EffectID
	// assigned maps each partition of the delivered assignment to its
	// member (nil when assignments cannot be read).
	assigned map[sm.TopicPartition]string
	// offsets and stored are durable: what the partition holds.
	offsets map[sm.TopicPartition]Committed
	stored  *groupValue
	// inflight are commits appended but not yet complete.
	inflight        map[sm.TopicPartition]map[sm.EffectID]sm.Offset
	appendsInflight int
	heapIndex       int
	deadline        sm.Time
}

func newGroup(id string) *group {
	return &group{
		id: id, state: StateEmpty, members: map[string]*member{}, instances: map[string]string{},
		pending: map[string]sm.Time{}, offsets: map[sm.TopicPartition]Committed{},
		inflight: map[sm.TopicPartition]map[sm.EffectID]sm.Offset{}, heapIndex: -1,
	}
}

func (g *group) addMember(m *member) {
	g.seq++
	m.seq = g.seq
	g.members[m.id] = m
	if m.instanceID != "" {
		g.instances[m.instanceID] = m.id
	}
}

func (g *group) sortedMembers() []*member {
	out := make([]*member, 0, len(g.members))
	for _, id := range slices.Sorted(maps.Keys(g.members)) {
		out = append(out, g.members[id])
	}
	return out
}

func (g *group) firstMember() string {
	best := ""
	for id, m := range g.members {
		if best == "" || m.seq < g.members[best].seq {
			best = id
		}
	}
	return best
}

// readable reports whether the coordinator can decode the group's
// assignments.
func (g *group) readable() bool {
	return g.protocolType == "consumer" && assign.Known(g.protocol)
}

// decodeOwned rebuilds ownership from the members' assignments (after a
// load).
func (g *group) decodeOwned() {
	g.assigned = nil
	for _, m := range g.members {
		m.owned, m.revoked = nil, nil
	}
	if !g.readable() {
		return
	}
	g.assigned = map[sm.TopicPartition]string{}
	for _, m := range g.sortedMembers() {
		m.owned = map[sm.TopicPartition]bool{}
		a, err := assign.DecodeAssignment(m.assignment)
		if err != nil {
			continue
		}
		for _, tp := range a.Partitions {
			if _, taken := g.assigned[tp]; !taken {
				g.assigned[tp] = m.id
				m.owned[tp] = true
			}
		}
	}
	// What the last rebalance revoked from each member is what it owned
	// going into it (its subscription's owned partitions, in the stored
	// metadata) and was not given again: still its to commit while nobody
	// holds it, as before the reload.
	for _, m := range g.sortedMembers() {
		for _, p := range m.protocols {
			if p.Name != g.protocol {
				continue
			}
			s, err := assign.DecodeSubscription(p.Metadata)
			if err != nil {
				break
			}
			for _, tp := range s.Owned {
				if _, held := g.assigned[tp]; !held && !m.owned[tp] {
					if m.revoked == nil {
						m.revoked = map[sm.TopicPartition]bool{}
					}
					m.revoked[tp] = true
				}
			}
		}
	}
}

// forgettable: an empty group that nothing durable or pending refers to
// (created by a join that failed, or a commit that stored nothing).
func (g *group) forgettable() bool {
	return g.state == StateEmpty && len(g.members) == 0 && len(g.pending) == 0 && g.stored == nil &&
		len(g.offsets) == 0 && len(g.inflight) == 0 && g.appendsInflight == 0
}

func (g *group) nextDeadline() sm.Time {
	var d sm.Time
	consider := func(t sm.Time) {
		if d == 0 || t < d {
			d = t
		}
	}
	switch {
	case g.state == StatePreparingRebalance:
		consider(g.joinDeadline)
	case g.state == StateCompletingRebalance && g.syncAppend == 0:
		consider(g.syncDeadline)
	}
	for _, m := range g.members {
		if !m.joinHeld && !m.syncHeld {
			consider(m.lastHeard.Add(m.sessionTimeout))
		}
	}
	for _, exp := range g.pending {
		consider(exp)
	}
	return d
}

func (g *group) rebalanceTimeout() sm.Duration {
	var rt sm.Duration
	for _, m := range g.members {
		rt = max(rt, m.rebalanceTimeout)
	}
	return rt
}

func (g *group) full(cfg *Config) bool { return len(g.members)+len(g.pending) >= cfg.MembersMax }

// fenced: the instance ID is held by another member ID.
func (g *group) fenced(instanceID, memberID string) bool {
	if instanceID == "" {
		return false
	}
	id, ok := g.instances[instanceID]
	return ok && id != memberID
}

// supports reports whether a member with these protocols may be in the
// group: the group's protocol type, and a protocol every other member
// supports too.
func (g *group) supports(protocolType string, protocols []Protocol, except string) bool {
	if len(g.members) == 0 {
		return true
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protocols {
		if g.supportedByAll(p.Name, except) {
			return true
		}
	}
	return false
}

func (g *group) supportedByAll(name, except string) bool {
	for id, m := range g.members {
		if id != except && !slices.ContainsFunc(m.protocols, func(q Protocol) bool { return q.Name == name }) {
			return false
		}
	}
	return true
}

// selectProtocol is Kafka's vote: each member votes for its most preferred
// protocol that every member supports; most votes wins, ties to the
// smallest name.
func (g *group) selectProtocol() string {
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if g.supportedByAll(p.Name, "") {
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, name := range slices.Sorted(maps.Keys(votes)) {
		if best == "" || votes[name] > votes[best] {
			best = name
		}
	}
	return best
}

func (m *member) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	if len(m.protocols) > 0 && protocol == "" {
		return m.protocols[0].Metadata
	}
	return nil
}

func sameProtocols(a, b []Protocol) bool {
	return slices.EqualFunc(a, b, func(x, y Protocol) bool { return x.Name == y.Name && bytes.Equal(x.Metadata, y.Metadata) })
}

// ---- join ------------------------------------------------------------------

// Join handles a JoinGroup. The reply is held until the join phase ends
// (every member rejoined, or the rebalance timeout), except for errors and
// for a member whose join changes nothing (it gets the current generation
// at once).
func (c *Coordinator) Join(h Handle, now sm.Time, r JoinRequest) {
	fail := func(code Code, msg string) {
		c.reply(h, JoinResponse{Code: code, Message: msg, Generation: -1, MemberID: r.MemberID})
	}
	if code, msg := c.precheck(r.GroupID); code != None {
		fail(code, msg)
		return
	}
	if code, msg := c.checkJoin(&r); code != None {
		fail(code, msg)
		return
	}
	g := c.groups[r.GroupID]
	if g == nil {
		if r.MemberID != "" {
			fail(UnknownMemberID, fmt.Sprintf("group: member %q unknown: group %q does not exist", r.MemberID, r.GroupID))
			return
		}
		var code Code
		var msg string
		if g, code, msg = c.createGroup(r.GroupID); code != None {
			fail(code, msg)
			return
		}
	}
	defer c.touch(g)
	switch {
	case g.state == StateDead:
		fail(CoordinatorNotAvailable, fmt.Sprintf("group: group %q is being deleted", g.id))
	case !g.supports(r.ProtocolType, r.Protocols, r.MemberID):
		fail(InconsistentGroupProtocol, fmt.Sprintf("group: group %q runs protocol type %q with no protocol in common with %v", g.id, g.protocolType, protocolNames(r.Protocols)))
	case r.MemberID == "":
		c.joinUnknown(h, now, g, r, fail)
	default:
		c.joinKnown(h, now, g, r, fail)
	}
}

func protocolNames(ps []Protocol) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

func (c *Coordinator) checkJoin(r *JoinRequest) (Code, string) {
	if r.SessionTimeout < c.cfg.SessionTimeoutMin || r.SessionTimeout > c.cfg.SessionTimeoutMax {
		return InvalidSessionTimeout, fmt.Sprintf("group: session timeout %v outside [%v, %v]", r.SessionTimeout, c.cfg.SessionTimeoutMin, c.cfg.SessionTimeoutMax)
	}
	if r.RebalanceTimeout <= 0 {
		r.RebalanceTimeout = r.SessionTimeout
	}
	if r.ProtocolType == "" || len(r.Protocols) == 0 {
		return InconsistentGroupProtocol, fmt.Sprintf("group: join needs a protocol type and protocols (got type %q, %d protocols)", r.ProtocolType, len(r.Protocols))
	}
	for _, s := range []string{r.MemberID, r.GroupInstanceID, r.ClientID, r.ClientHost, r.ProtocolType} {
		if len(s) > stringMax {
			return InvalidRequest, fmt.Sprintf("group: join field of %d bytes (max %d)", len(s), stringMax)
		}
	}
	seen := map[string]bool{}
	size := 0
	for _, p := range r.Protocols {
		size += len(p.Metadata)
	}
	if size > c.cfg.ProtocolMetadataBytesMax {
		return InvalidRequest, fmt.Sprintf("group: protocol metadata of %d bytes (max %d)", size, c.cfg.ProtocolMetadataBytesMax)
	}
	for _, p := range r.Protocols {
		if p.Name == "" || len(p.Name) > stringMax || seen[p.Name] {
			return InconsistentGroupProtocol, fmt.Sprintf("group: protocol name %.40q empty, too long or repeated", p.Name)
		}
		seen[p.Name] = true
	}
	return None, ""
}

// newMemberID derives a member ID: prefix (client or instance ID, cut to
// 100 bytes), the coordinator's epoch, and a counter.
func (c *Coordinator) newMemberID(prefix string) string {
	if len(prefix) > 100 {
		cut := 100
		for cut > 0 && !utf8.RuneStart(prefix[cut]) {
			cut--
		}
		prefix = prefix[:cut]
	}
	if prefix == "" {
		prefix = "member"
	}
	c.memberSeq++
	if c.cfg.Instance != "" {
		return fmt.Sprintf("%s-%d.%s-%d", prefix, c.cfg.Epoch, c.cfg.Instance, c.memberSeq)
	}
	return fmt.Sprintf("%s-%d-%d", prefix, c.cfg.Epoch, c.memberSeq)
}

func (c *Coordinator) joinUnknown(h Handle, now sm.Time, g *group, r JoinRequest, fail func(Code, string)) {
	if r.GroupInstanceID != "" {
		if old, ok := g.instances[r.GroupInstanceID]; ok {
			c.replaceStatic(h, now, g, r, old)
			return
		}
	}
	if g.full(&c.cfg) {
		fail(GroupMaxSizeReached, fmt.Sprintf("group: group %q has %d members (max %d)", g.id, len(g.members)+len(g.pending), c.cfg.MembersMax))
		return
	}
	if r.GroupInstanceID == "" && r.RequireKnownMemberID {
		id := c.newMemberID(r.ClientID)
		g.pending[id] = now.Add(r.SessionTimeout)
		c.reply(h, JoinResponse{Code: MemberIDRequired, Message: "group: join again with the member ID given", Generation: -1, MemberID: id})
		return
	}
	prefix := r.ClientID
	if r.GroupInstanceID != "" {
		prefix = r.GroupInstanceID
	}
	c.addMemberAndRebalance(h, now, g, r, c.newMemberID(prefix))
}

func (c *Coordinator) joinKnown(h Handle, now sm.Time, g *group, r JoinRequest, fail func(Code, string)) {
	if _, ok := g.pending[r.MemberID]; ok && r.GroupInstanceID == "" {
		delete(g.pending, r.MemberID)
		c.addMemberAndRebalance(h, now, g, r, r.MemberID)
		return
	}
	if g.fenced(r.GroupInstanceID, r.MemberID) {
		fail(FencedInstanceID, fmt.Sprintf("group: instance %q is now member %q, not %q", r.GroupInstanceID, g.instances[r.GroupInstanceID], r.MemberID))
		return
	}
	m := g.members[r.MemberID]
	if m == nil {
		fail(UnknownMemberID, fmt.Sprintf("group: member %q is not in group %q", r.MemberID, g.id))
		return
	}
	if m.instanceID != r.GroupInstanceID {
		fail(FencedInstanceID, fmt.Sprintf("group: member %q has instance ID %q, not %q", m.id, m.instanceID, r.GroupInstanceID))
		return
	}
	switch g.state {
	case StatePreparingRebalance:
		c.updateMember(h, now, g, m, r)
		c.tryCompleteJoin(g, now)
	case StateCompletingRebalance:
		if sameProtocols(m.protocols, r.Protocols) {
			m.lastHeard = now
			c.reply(h, c.joinResponse(g, m))
			return
		}
		c.updateMember(h, now, g, m, r)
		c.prepareRebalance(g, now)
	case StateStable:
		if m.id != g.leader && sameProtocols(m.protocols, r.Protocols) {
			m.lastHeard = now
			c.reply(h, c.joinResponse(g, m))
			return
		}
		c.updateMember(h, now, g, m, r)
		c.prepareRebalance(g, now)
	default:
		fail(UnknownMemberID, fmt.Sprintf("group: member %q is not in %v group %q", r.MemberID, g.state, g.id))
	}
}

// joinResponse is m's join reply for the current generation.
func (c *Coordinator) joinResponse(g *group, m *member) JoinResponse {
	resp := JoinResponse{Generation: g.generation, ProtocolType: g.protocolType, Protocol: g.protocol, Leader: g.leader, MemberID: m.id}
	if m.id == g.leader {
		for _, o := range g.sortedMembers() {
			resp.Members = append(resp.Members, JoinMember{MemberID: o.id, InstanceID: o.instanceID, Metadata: o.metadataFor(g.protocol)})
		}
	}
	return resp
}

func (c *Coordinator) holdJoin(h Handle, g *group, m *member) {
	if m.joinHeld {
		c.reply(m.join, JoinResponse{Code: RebalanceInProgress, Message: "group: superseded by a later join from the same member", Generation: -1, MemberID: m.id})
	}
	m.joinHeld, m.join = true, h
	c.hold(h, holdRef{kind: holdJoin, group: g.id, member: m.id})
}

func (c *Coordinator) updateMember(h Handle, now sm.Time, g *group, m *member, r JoinRequest) {
	m.protocols = slices.Clone(r.Protocols)
	m.sessionTimeout, m.rebalanceTimeout = r.SessionTimeout, r.RebalanceTimeout
	m.clientID, m.clientHost = r.ClientID, r.ClientHost
	m.lastHeard = now
	c.holdJoin(h, g, m)
}

func (c *Coordinator) addMemberAndRebalance(h Handle, now sm.Time, g *group, r JoinRequest, id string) {
	if len(g.members) == 0 {
		g.protocolType = r.ProtocolType
	}
	m := &member{id: id, instanceID: r.GroupInstanceID}
	g.addMember(m)
	c.updateMember(h, now, g, m, r)
	switch g.state {
	case StatePreparingRebalance:
		if g.initialUntil > 0 {
			g.joinDeadline = min(now.Add(c.cfg.InitialRebalanceDelay), g.initialUntil)
		}
		c.tryCompleteJoin(g, now)
	default:
		c.prepareRebalance(g, now)
	}
}

// replaceStatic: a static member rejoined without its member ID (a
// restart): it gets a new ID and the old one is fenced. In a Stable group,
// a follower with unchanged protocols gets the current generation and
// keeps its assignment without a rebalance (KIP-345).
func (c *Coordinator) replaceStatic(h Handle, now sm.Time, g *group, r JoinRequest, oldID string) {
	m := g.members[oldID]
	fence := fmt.Sprintf("group: instance %q rejoined as a new member", r.GroupInstanceID)
	if m.joinHeld {
		c.reply(m.join, JoinResponse{Code: FencedInstanceID, Message: fence, Generation: -1, MemberID: oldID})
		m.joinHeld = false
	}
	if m.syncHeld {
		c.reply(m.sync, SyncResponse{Code: FencedInstanceID, Message: fence})
		m.syncHeld = false
	}
	newID := c.newMemberID(r.GroupInstanceID)
	delete(g.members, oldID)
	m.id = newID
	g.members[newID] = m
	g.instances[r.GroupInstanceID] = newID
	if g.leader == oldID {
		g.leader = newID
	}
	for tp, id := range g.assigned {
		if id == oldID {
			g.assigned[tp] = newID
		}
	}
	if g.state == StateStable && newID != g.leader && sameProtocols(m.protocols, r.Protocols) {
		m.lastHeard = now
		m.sessionTimeout, m.rebalanceTimeout = r.SessionTimeout, r.RebalanceTimeout
		c.reply(h, c.joinResponse(g, m))
		return
	}
	c.updateMember(h, now, g, m, r)
	if g.state == StatePreparingRebalance {
		c.tryCompleteJoin(g, now)
		return
	}
	c.prepareRebalance(g, now)
}

// prepareRebalance starts a join phase: every member must rejoin.
func (c *Coordinator) prepareRebalance(g *group, now sm.Time) {
	if g.state == StateCompletingRebalance {
		for _, m := range g.sortedMembers() {
			m.assignment = nil
			if m.syncHeld {
				m.syncHeld = false
				c.reply(m.sync, SyncResponse{Code: RebalanceInProgress, Message: fmt.Sprintf("group: group %q is rebalancing again", g.id)})
			}
		}
		g.syncAppend = 0
	}
	wasEmpty := g.state == StateEmpty
	g.state = StatePreparingRebalance
	rt := g.rebalanceTimeout()
	g.initialUntil = 0
	g.joinDeadline = now.Add(rt)
	if wasEmpty && c.cfg.InitialRebalanceDelay > 0 {
		g.initialUntil = now.Add(rt)
		g.joinDeadline = now.Add(min(c.cfg.InitialRebalanceDelay, rt))
	}
	c.tryCompleteJoin(g, now)
}

func (c *Coordinator) tryCompleteJoin(g *group, now sm.Time) {
	if g.state != StatePreparingRebalance {
		return
	}
	if len(g.members) > 0 && (g.initialUntil > 0 || len(g.pending) > 0) {
		return
	}
	for _, m := range g.members {
		if !m.joinHeld {
			return
		}
	}
	c.completeJoin(g, now)
}

// completeJoin ends the join phase: members that did not rejoin are
// removed, the generation advances, and every held join is answered (the
// leader's with all members' metadata).
func (c *Coordinator) completeJoin(g *group, now sm.Time) {
	for _, m := range g.sortedMembers() {
		if !m.joinHeld {
			c.dropMember(g, m)
		}
	}
	g.initialUntil = 0
	g.generation++
	if len(g.members) == 0 {
		g.state, g.protocol, g.leader, g.assigned = StateEmpty, "", "", nil
		c.storeGroup(g, appendEmpty, nil)
		return
	}
	g.protocol = g.selectProtocol()
	if g.members[g.leader] == nil {
		g.leader = g.firstMember()
	}
	g.state = StateCompletingRebalance
	g.syncDeadline = now.Add(g.rebalanceTimeout())
	readable := g.readable()
	if !readable {
		g.assigned = nil
	} else if g.assigned == nil {
		g.assigned = map[sm.TopicPartition]string{}
	}
	for _, m := range g.sortedMembers() {
		m.assignment = nil
		m.lastHeard = now
		switch {
		case !readable:
			m.owned, m.revoked = nil, nil
		case m.owned == nil:
			m.owned = map[sm.TopicPartition]bool{}
		}
		m.joinHeld = false
		c.reply(m.join, c.joinResponse(g, m))
	}
}

// dropMember removes m without starting a rebalance; its held requests
// get UnknownMemberID.
func (c *Coordinator) dropMember(g *group, m *member) {
	msg := fmt.Sprintf("group: member %q was removed from group %q", m.id, g.id)
	if m.joinHeld {
		m.joinHeld = false
		c.reply(m.join, JoinResponse{Code: UnknownMemberID, Message: msg, Generation: -1, MemberID: m.id})
	}
	if m.syncHeld {
		m.syncHeld = false
		c.reply(m.sync, SyncResponse{Code: UnknownMemberID, Message: msg})
	}
	delete(g.members, m.id)
	if m.instanceID != "" && g.instances[m.instanceID] == m.id {
		delete(g.instances, m.instanceID)
	}
	for tp := range m.owned {
		if g.assigned[tp] == m.id {
			delete(g.assigned, tp)
		}
	}
	if g.leader == m.id {
		g.leader = ""
	}
}

// removeMember removes m and rebalances the rest.
func (c *Coordinator) removeMember(g *group, m *member, now sm.Time) {
	c.dropMember(g, m)
	switch g.state {
	case StateStable, StateCompletingRebalance:
		c.prepareRebalance(g, now)
	case StatePreparingRebalance:
		c.tryCompleteJoin(g, now)
	}
}

// groupTimer handles g's due deadlines.
func (c *Coordinator) groupTimer(g *group, now sm.Time) {
	for _, id := range slices.Sorted(maps.Keys(g.pending)) {
		if g.pending[id] <= now {
			delete(g.pending, id)
		}
	}
	for _, m := range g.sortedMembers() {
		if g.members[m.id] == m && !m.joinHeld && !m.syncHeld && m.lastHeard.Add(m.sessionTimeout) <= now {
			c.removeMember(g, m, now)
		}
	}
	switch {
	case g.state == StatePreparingRebalance && g.joinDeadline <= now:
		c.completeJoin(g, now)
	case g.state == StatePreparingRebalance:
		c.tryCompleteJoin(g, now)
	case g.state == StateCompletingRebalance && g.syncAppend == 0 && g.syncDeadline <= now:
		// Members that never synced (the leader among them) are gone.
		for _, m := range g.sortedMembers() {
			if !m.syncHeld {
				c.dropMember(g, m)
			}
		}
		c.prepareRebalance(g, now)
	}
}

// ---- sync ------------------------------------------------------------------

// requestGroup is the group a member's request names, or its refusal:
// the coordinator's own checks (precheck), then a group that does not
// exist (its member is unknown).
func (c *Coordinator) requestGroup(groupID, memberID string) (*group, Code, string) {
	if code, msg := c.precheck(groupID); code != None {
		return nil, code, msg
	}
	g := c.groups[groupID]
	if g == nil {
		return nil, UnknownMemberID, fmt.Sprintf("group: member %q unknown: group %q does not exist", memberID, groupID)
	}
	return g, None, ""
}

// currentMember is the member a sync or heartbeat names, or its refusal,
// in Kafka's order: the group being deleted, a fenced static instance, an
// unknown member, another generation.
func (g *group) currentMember(instanceID, memberID string, generation int32) (*member, Code, string) {
	m := g.members[memberID]
	switch {
	case g.state == StateDead:
		return nil, CoordinatorNotAvailable, fmt.Sprintf("group: group %q is being deleted", g.id)
	case g.fenced(instanceID, memberID):
		return nil, FencedInstanceID, fmt.Sprintf("group: instance %q is now member %q", instanceID, g.instances[instanceID])
	case m == nil:
		return nil, UnknownMemberID, fmt.Sprintf("group: member %q is not in group %q", memberID, g.id)
	case generation != g.generation:
		return nil, IllegalGeneration, fmt.Sprintf("group: generation %d is not group %q's current %d", generation, g.id, g.generation)
	}
	return m, None, ""
}

// Sync handles a SyncGroup. In CompletingRebalance every member's reply is
// held until the leader's assignment is durable; then all get theirs.
func (c *Coordinator) Sync(h Handle, now sm.Time, r SyncRequest) {
	fail := func(code Code, msg string) { c.reply(h, SyncResponse{Code: code, Message: msg}) }
	g, code, msg := c.requestGroup(r.GroupID, r.MemberID)
	if code != None {
		fail(code, msg)
		return
	}
	defer c.touch(g)
	m, code, msg := g.currentMember(r.GroupInstanceID, r.MemberID, r.Generation)
	switch {
	case code != None:
		fail(code, msg)
	case (r.ProtocolType != "" && r.ProtocolType != g.protocolType) || (r.Protocol != "" && r.Protocol != g.protocol):
		fail(InconsistentGroupProtocol, fmt.Sprintf("group: sync names protocol %q/%q, group %q runs %q/%q", r.ProtocolType, r.Protocol, g.id, g.protocolType, g.protocol))
	case g.state == StatePreparingRebalance:
		fail(RebalanceInProgress, fmt.Sprintf("group: group %q is rebalancing: join again", g.id))
	case g.state == StateStable:
		m.lastHeard = now
		c.reply(h, SyncResponse{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: m.assignment})
	case g.state == StateCompletingRebalance:
		c.syncCompleting(h, now, g, m, r)
	default:
		fail(UnknownMemberID, fmt.Sprintf("group: member %q is not in %v group %q", r.MemberID, g.state, g.id))
	}
}

func (c *Coordinator) syncCompleting(h Handle, now sm.Time, g *group, m *member, r SyncRequest) {
	m.lastHeard = now
	if m.id != g.leader || g.syncAppend != 0 {
		c.holdSync(h, g, m)
		return
	}
	assignments := map[string][]byte{}
	for _, a := range r.Assignments {
		if g.members[a.MemberID] != nil {
			assignments[a.MemberID] = a.Assignment
		}
	}
	if g.readable() {
		if msg := checkAssignments(g, assignments); msg != "" {
			c.reply(h, SyncResponse{Code: InvalidRequest, Message: msg})
			return
		}
	}
	size := 0
	for _, o := range g.members {
		size += len(o.metadataFor(g.protocol)) + len(assignments[o.id]) + 128
	}
	if size > c.cfg.GroupRecordBytesMax {
		c.reply(h, SyncResponse{Code: InvalidRequest, Message: fmt.Sprintf("group: group record of about %d bytes (max %d): assignments too large", size, c.cfg.GroupRecordBytesMax)})
		return
	}
	if c.appendFull() {
		c.reply(h, SyncResponse{Code: CoordinatorNotAvailable, Message: fmt.Sprintf("group: %d appends in flight (max %d)", len(c.appends), c.cfg.AppendsInflightMax)})
		c.prepareRebalance(g, now)
		return
	}
	c.holdSync(h, g, m)
	c.storeGroup(g, appendSync, assignments)
}

// checkAssignments refuses a leader's assignment the members could not
// read or that gives one partition to two members.
func checkAssignments(g *group, assignments map[string][]byte) string {
	owner := map[sm.TopicPartition]string{}
	for _, id := range slices.Sorted(maps.Keys(assignments)) {
		a, err := assign.DecodeAssignment(assignments[id])
		if err != nil {
			return fmt.Sprintf("group: assignment for member %q: %v", id, err)
		}
		for _, tp := range a.Partitions {
			if o, ok := owner[tp]; ok && o != id {
				return fmt.Sprintf("group: partition %s assigned to both %q and %q", tp, o, id)
			}
			owner[tp] = id
		}
	}
	return ""
}

func (c *Coordinator) holdSync(h Handle, g *group, m *member) {
	if m.syncHeld {
		c.reply(m.sync, SyncResponse{Code: RebalanceInProgress, Message: "group: superseded by a later sync from the same member"})
	}
	m.syncHeld, m.sync = true, h
	c.hold(h, holdRef{kind: holdSync, group: g.id, member: m.id})
}

// storeGroup appends g's metadata: with the leader's assignments (a sync),
// or as it is (a group that just became empty). The empty-group store is
// best effort: skipped when the append limit is reached, as its failure
// would be.
func (c *Coordinator) storeGroup(g *group, kind appendKind, assignments map[string][]byte) {
	if c.appendFull() {
		assert.That(kind == appendEmpty, "group: sync store past the append limit")
		return
	}
	v := &groupValue{protocolType: g.protocolType, generation: g.generation, protocol: g.protocol, leader: g.leader}
	for _, m := range g.sortedMembers() {
		v.members = append(v.members, storedMember{
			id: m.id, instanceID: m.instanceID, clientID: m.clientID, clientHost: m.clientHost,
			sessionTimeout: m.sessionTimeout, rebalanceTimeout: m.rebalanceTimeout,
			metadata: m.metadataFor(g.protocol), assignment: assignments[m.id],
		})
	}
	p := &pendingAppend{kind: kind, group: g.id, generation: g.generation, value: v, assign: assignments,
		records: []sm.Record{{Key: groupKey(g.id), Value: encodeGroup(v)}}}
	c.issue(p)
	g.appendsInflight++
	if kind == appendSync {
		g.syncAppend = p.id
	}
}

// installSync: the leader's assignment is durable; the group is Stable.
func (c *Coordinator) installSync(now sm.Time, g *group, p *pendingAppend) {
	g.syncAppend = 0
	g.state = StateStable
	readable := g.readable()
	if readable {
		g.assigned = map[sm.TopicPartition]string{}
	}
	for _, m := range g.sortedMembers() {
		m.assignment = p.assign[m.id]
		if readable {
			a, _ := assign.DecodeAssignment(m.assignment) // checked at sync
			next := map[sm.TopicPartition]bool{}
			for _, tp := range a.Partitions {
				next[tp] = true
				g.assigned[tp] = m.id
			}
			m.revoked = map[sm.TopicPartition]bool{}
			for tp := range m.owned {
				if !next[tp] {
					m.revoked[tp] = true
				}
			}
			m.owned = next
		}
		if m.syncHeld {
			m.syncHeld = false
			m.lastHeard = now
			c.reply(m.sync, SyncResponse{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: m.assignment})
		}
	}
}

// ---- heartbeat, leave ------------------------------------------------------

// Heartbeat keeps a member's session alive; RebalanceInProgress tells it
// to rejoin.
func (c *Coordinator) Heartbeat(h Handle, now sm.Time, r HeartbeatRequest) {
	reply := func(code Code, msg string) { c.reply(h, HeartbeatResponse{Code: code, Message: msg}) }
	g, code, msg := c.requestGroup(r.GroupID, r.MemberID)
	if code != None {
		reply(code, msg)
		return
	}
	defer c.touchLight(g)
	m, code, msg := g.currentMember(r.GroupInstanceID, r.MemberID, r.Generation)
	switch {
	case code != None:
		reply(code, msg)
	case g.state == StatePreparingRebalance:
		m.lastHeard = now
		reply(RebalanceInProgress, fmt.Sprintf("group: group %q is rebalancing: join again", g.id))
	default:
		m.lastHeard = now
		reply(None, "")
	}
}

// Leave removes members (a member may also be named by instance ID alone,
// KIP-345's admin removal); the rest rebalance.
func (c *Coordinator) Leave(h Handle, now sm.Time, r LeaveRequest) {
	if code, msg := c.precheck(r.GroupID); code != None {
		c.reply(h, LeaveResponse{Code: code, Message: msg})
		return
	}
	resp := LeaveResponse{}
	g := c.groups[r.GroupID]
	if g != nil && g.state == StateDead {
		c.reply(h, LeaveResponse{Code: CoordinatorNotAvailable, Message: fmt.Sprintf("group: group %q is being deleted", g.id)})
		return
	}
	for _, lm := range r.Members {
		res := LeaveResult{MemberID: lm.MemberID, GroupInstanceID: lm.GroupInstanceID}
		res.Code, res.Message = c.leaveOne(now, g, r.GroupID, lm)
		resp.Members = append(resp.Members, res)
	}
	if g != nil {
		c.touch(g)
	}
	c.reply(h, resp)
}

func (c *Coordinator) leaveOne(now sm.Time, g *group, groupID string, lm LeavingMember) (Code, string) {
	if g == nil {
		return UnknownMemberID, fmt.Sprintf("group: member %q unknown: group %q does not exist", lm.MemberID, groupID)
	}
	id := lm.MemberID
	if id == "" && lm.GroupInstanceID != "" {
		id = g.instances[lm.GroupInstanceID]
	}
	if _, ok := g.pending[id]; ok && lm.GroupInstanceID == "" {
		delete(g.pending, id)
		c.tryCompleteJoin(g, now)
		return None, ""
	}
	if g.fenced(lm.GroupInstanceID, id) {
		return FencedInstanceID, fmt.Sprintf("group: instance %q is now member %q", lm.GroupInstanceID, g.instances[lm.GroupInstanceID])
	}
	m := g.members[id]
	if m == nil {
		return UnknownMemberID, fmt.Sprintf("group: member %q is not in group %q", cmp.Or(id, lm.GroupInstanceID), g.id)
	}
	c.removeMember(g, m, now)
	return None, ""
}
