package sim

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/broker"
	"github.com/weirmq/weir/sm/group"
	"github.com/weirmq/weir/sm/group/assign"
)

// The consumer-group workload (issue 12). Simulated group members —
// clients that speak the sm group messages directly, outside the workload's
// clients, with their own random streams (decisions and network draws) —
// find their group's coordinator (any broker answers FindCoordinator), join
// with KIP-394's two-step first join, and the leader member assigns the
// group topic's partitions client side (range or cooperative-sticky, drawn
// per group). Each member syncs, heartbeats, reads its partitions from the
// committed offsets (OffsetFetch; none: from the start, and a read below
// the log start moves to it) and commits what it consumed: periodically
// and asynchronously (Kafka's commitAsync: the member carries on, so an
// answer may come back after the generation ended), synchronously before
// an eager rejoin, a cooperative revoke or a leave, and now and then late,
// tagged with the generation before the one just synced (which the
// coordinator must refuse: ILLEGAL_GENERATION). While the faults run,
// members now and then crash (all state lost: they rejoin as new
// members), pause past their session timeout (and find, when they resume,
// that they were removed: UNKNOWN_MEMBER_ID or ILLEGAL_GENERATION send
// them back to join), or leave cleanly and come back later, and 2% of
// their messages take a slow link (0.1-1.5 s more). Coordinators fail over
// with their offsets partition under the cluster's faults. In ACL seeds
// the base rules let everyone use every group (the ACL director's deny
// rules cover topics, so members' reads and commits are refused now and
// then).
//
// The group checker judges the facts members saw, as they arrive:
//
//	(a) in any generation a partition has at most one owner (the OK
//	    SyncGroup answers), and every member of a generation got what the
//	    leader's stored assignment gave it;
//	(b) every OK-committed offset was delivered to the committing member
//	    incarnation (it read the record at offset-1, or was given the
//	    position by OffsetFetch, the start or a log start), by a member of
//	    the generation that owned the partition (cooperative: or had just
//	    had it revoked and nobody held it);
//	(c) committed offsets never go backwards (the members never seek): an
//	    OK OffsetFetch sent after an OK commit of o was answered returns at
//	    least o — judged in runs that lost no disk, since the offsets topic
//	    has the controllers' default min ISR (1) and so no durability
//	    promise across a lost disk;
//
// and, after the liveness phase, (d): the members consume every partition
// to its high watermark and commit it; every offset below it was delivered
// to some member or was skipped below a log start that retention moved.
// Two members reading one offset must read the same value.

// groupMemberBase is the first member's node ID: workload clients are
// firstClientID.., far below; the time-lookup director is at +900,000.
const groupMemberBase = sm.ClientIDMin + 800_000

// GroupWorkload configures the consumer-group workload (zero Groups: off).
type GroupWorkload struct {
	// Groups is the number of groups; Members the member slots of each.
	Groups, Members int
	// Topic is the topic every group consumes: a workload topic whose
	// committed records the run never loses (min ISR above the lost-disk
	// budget, no unclean election), so offsets are never reused.
	Topic string
	// Assignors is each group's assignor (assign.RangeName or
	// assign.CooperativeStickyName), one per group.
	Assignors []string
	// SessionTimeout is every member's session timeout.
	SessionTimeout sm.Duration
	// FaultMean is the mean time between member faults (crash, pause,
	// leave) while the faults run; 0: none.
	FaultMean sm.Duration
	// Broker is the brokers' group configuration (offsets topic,
	// snapshots, session bounds, initial rebalance delay).
	Broker broker.GroupsConfig
	// CanaryCommitAhead plants a member bug: now and then a member commits
	// one past what it consumed. The group checker must catch it.
	CanaryCommitAhead bool
	// SharedClientIDs makes a member slot join with one client ID
	// (member<slot>) every time, as an application's processes do; off,
	// every join as a new member has its own (member<slot>.<n>). Swarm
	// draws it (TestSim -sharedmemberids forces it): shared IDs found
	// that a coordinator reloaded in the same epoch reissued member IDs
	// its loaded group still held (fixed: member IDs name the
	// coordinator's instance).
	SharedClientIDs bool
}

// drawGroups is Swarm's draw of the group workload, from its own stream:
// on in three seeds of four (the others run as they did before groups:
// no member, no offsets topic, the same draws).
func drawGroups(seed uint64, c *Config) GroupWorkload {
	r := newRNG(seed).child("group-config")
	if !r.chance(0.75) {
		return GroupWorkload{}
	}
	g := GroupWorkload{
		Groups:         1 + r.intn(2),
		Members:        2 + r.intn(3),
		Topic:          "t0",
		SessionTimeout: sm.Duration(r.between(1000, 3000)) * sm.Millisecond,
		FaultMean:      sm.Duration(r.between(1500, 5000)) * sm.Millisecond,
	}
	for i := 0; i < g.Groups; i++ {
		g.Assignors = append(g.Assignors, []string{assign.RangeName, assign.CooperativeStickyName}[r.intn(2)])
	}
	g.Broker = defaultGroupBrokerConfig()
	g.Broker.SnapshotBytes = int64(r.logUniform(512, 16<<10))
	if r.chance(0.5) {
		g.Broker.InitialRebalanceDelay = sm.Duration(r.between(50, 500)) * sm.Millisecond
	}
	// Drawn after the rest, so the draws above stay as they were.
	g.Broker.OffsetsSegmentBytes = int64(r.logUniform(1<<10, 32<<10))
	g.SharedClientIDs = r.chance(0.5)
	return g
}

// defaultGroupBrokerConfig is the brokers' group configuration in the
// simulator: three offsets partitions of small segments (so snapshots
// free segments and the offsets partitions' log start moves), short
// session bounds, small snapshots, quick retries.
func defaultGroupBrokerConfig() broker.GroupsConfig {
	return broker.GroupsConfig{
		OffsetsPartitions:     3,
		OffsetsSegmentBytes:   4 << 10,
		SnapshotBytes:         2 << 10,
		SessionTimeoutMin:     200 * sm.Millisecond,
		SessionTimeoutMax:     60 * sm.Second,
		InitialRebalanceDelay: -1,
		Retry:                 200 * sm.Millisecond,
	}
}

// DefaultGroupWorkload is a group workload for tests and canaries built
// on DefaultConfig: two groups of three, one per assignor.
func DefaultGroupWorkload() GroupWorkload {
	return GroupWorkload{Groups: 2, Members: 3, Topic: "t0", Assignors: []string{assign.RangeName, assign.CooperativeStickyName},
		SessionTimeout: 1500 * sm.Millisecond, FaultMean: 3 * sm.Second, Broker: defaultGroupBrokerConfig()}
}

func (g *GroupWorkload) validate(c *Config) error {
	if g.Groups == 0 {
		return nil
	}
	switch {
	case g.Groups < 0 || g.Members < 1 || g.Groups*g.Members > 10_000:
		return fmt.Errorf("sim: groups: want groups >= 0 and 1..10000 members in all (got %d groups of %d)", g.Groups, g.Members)
	case len(g.Assignors) != g.Groups:
		return fmt.Errorf("sim: groups: %d assignors for %d groups", len(g.Assignors), g.Groups)
	case g.SessionTimeout < g.Broker.SessionTimeoutMin || g.SessionTimeout <= 0:
		return fmt.Errorf("sim: groups: session timeout %v below the brokers' min %v", g.SessionTimeout, g.Broker.SessionTimeoutMin)
	case g.FaultMean < 0:
		return fmt.Errorf("sim: groups: fault mean must be >= 0 (got %v)", g.FaultMean)
	}
	for _, a := range g.Assignors {
		if _, err := assign.ByName(a); err != nil {
			return fmt.Errorf("sim: groups: %v", err)
		}
	}
	for _, t := range c.Topics {
		if t.Name == g.Topic {
			if t.Unclean || int(max(t.MinISR, 1)) <= c.LostDisks {
				return fmt.Errorf("sim: groups: topic %s may lose committed records (min isr %d, unclean %v, lost disks %d)", t.Name, t.MinISR, t.Unclean, c.LostDisks)
			}
			return nil
		}
	}
	return fmt.Errorf("sim: groups: topic %q is not a workload topic", g.Topic)
}

// ---- facts ---------------------------------------------------------------

// groupFacts is what the checker knows of one group.
type groupFacts struct {
	id       string
	assignor string
	tps      []sm.TopicPartition
	// syncs: generation → member ID → the assignment its OK SyncGroup
	// answer carried; leaders: generation → the leader's assignment, once
	// its SyncGroup was answered OK (stored).
	syncs   map[int32]map[string][]sm.TopicPartition
	leaders map[int32]map[string][]sm.TopicPartition
	// commits: the OK commits per partition, in answer order.
	commits map[sm.TopicPartition][]okCommit
	// values: every delivered record's value (any member); skipped: ranges
	// [from, to) members jumped over to a log start retention moved.
	values  map[sm.TopicPartition]map[sm.Offset]string
	skipped map[sm.TopicPartition][][2]sm.Offset
	// fetched: the highest committed offset an OK OffsetFetch returned
	// (a commit whose answer was lost shows there).
	fetched map[sm.TopicPartition]sm.Offset
}

type okCommit struct {
	offset sm.Offset
	at     sm.Time
	from   sm.NodeID // the coordinator that answered
	member string
	gen    int32
}

// memberHist is what one member incarnation was given: every offset it
// read and every position it was handed (OffsetFetch, start, log start).
type memberHist struct {
	delivered map[sm.TopicPartition]map[sm.Offset]bool
	given     map[sm.TopicPartition]map[sm.Offset]bool
}

func newMemberHist() *memberHist {
	return &memberHist{delivered: map[sm.TopicPartition]map[sm.Offset]bool{}, given: map[sm.TopicPartition]map[sm.Offset]bool{}}
}

func addOffset(m map[sm.TopicPartition]map[sm.Offset]bool, tp sm.TopicPartition, o sm.Offset) {
	if m[tp] == nil {
		m[tp] = map[sm.Offset]bool{}
	}
	m[tp][o] = true
}

// groupRun is the world's group workload.
type groupRun struct {
	w       *World
	on      bool
	stopped bool
	cfg     GroupWorkload
	rng     *rng // the director (member faults)
	netRNG  *rng // latency and loss of member traffic
	members map[sm.NodeID]*member
	ids     []sm.NodeID
	groups  []*groupFacts
}

// delay is the extra latency of a member's message: while the faults run,
// now and then a long one (a slow link), so that an async commit may
// arrive after its generation ended.
func (g *groupRun) delay(m sm.Envelope) sm.Duration {
	if !g.on || !g.w.faultsOn || !(g.isMember(m.From) || g.isMember(m.To)) || !g.netRNG.chance(0.02) {
		return 0
	}
	g.w.stats.reach("group message delayed")
	return sm.Duration(g.netRNG.between(int64(100*sm.Millisecond), int64(1500*sm.Millisecond)))
}

// isMember reports whether id is a group member's node ID.
func (g *groupRun) isMember(id sm.NodeID) bool { return g.members[id] != nil }

// ---- members -------------------------------------------------------------

type memberPhase uint8

const (
	phaseJoin    memberPhase = iota // join (MemberID "" for a new member)
	phaseSync                       // sync the generation just joined
	phaseOffsets                    // fetch the committed offsets of new partitions
	phaseStable                     // heartbeat, read, commit
	phaseDown                       // crashed or left, restarting later
)

type member struct {
	w    *World
	id   sm.NodeID
	slot int
	g    *groupFacts
	rng  *rng

	hist      *memberHist
	phase     memberPhase
	needCoord bool
	coord     sm.NodeID
	memberID  string
	gen       int32
	join      *sm.JoinGroupResponse // the leader's join answer, for its assignment
	owned     []sm.TopicPartition   // sorted
	ownedGen  int32                 // the generation owned was given in
	pos       map[sm.TopicPartition]sm.Offset
	committed map[sm.TopicPartition]sm.Offset
	toFetch   []sm.TopicPartition // partitions whose committed offsets to fetch
	revoking  []sm.TopicPartition // cooperative: revoked, to commit and drop
	prevOwned []sm.TopicPartition // owned going into the current generation
	rejoin    bool
	leaving   bool
	// finalDone: the commit before a revoke, an eager rejoin or a leave
	// was sent (once, answered or not).
	finalDone bool
	nextHB    sm.Time
	commitAt  sm.Time
	readIdx   int
	paused    sm.Time // paused until
	incarn    int
	joins     int // joins as a new member (never reset): the client ID's suffix

	reqID    uint64 // never reset: a late answer to an earlier incarnation matches nothing
	inflight *memberReq
	// async is a periodic commit in flight beside inflight (Kafka's
	// commitAsync): the member carries on, and may have joined a new
	// generation by the time it is answered.
	async *memberReq
	// stepGen: only the latest scheduled step runs (next supersedes).
	stepGen uint64
}

type memberReq struct {
	reqID  uint64
	msg    sm.Message
	to     sm.NodeID
	sentAt sm.Time
	hist   *memberHist
	// commit: the offsets sent; sync: the leader's assignment sent.
	offsets map[sm.TopicPartition]sm.Offset
	assign  map[string][]sm.TopicPartition
	gen     int32
	// A commit of partitions just revoked (cooperative), with what the
	// member owned going into the generation.
	revoke    bool
	prevOwned []sm.TopicPartition
	async     bool
}

func (w *World) newGroups() {
	gc := w.cfg.Groups
	if gc.Groups == 0 {
		return
	}
	root := newRNG(w.cfg.Seed)
	w.grp = groupRun{w: w, on: true, cfg: gc, rng: root.child("groups"), netRNG: root.child("groups-net"), members: map[sm.NodeID]*member{}}
	var tps []sm.TopicPartition
	for _, tp := range w.workloadTPs() {
		if tp.Topic == gc.Topic {
			tps = append(tps, tp)
		}
	}
	slot := 0
	for i := 0; i < gc.Groups; i++ {
		f := &groupFacts{id: fmt.Sprintf("g%d", i), assignor: gc.Assignors[i], tps: tps,
			syncs: map[int32]map[string][]sm.TopicPartition{}, leaders: map[int32]map[string][]sm.TopicPartition{},
			commits: map[sm.TopicPartition][]okCommit{}, values: map[sm.TopicPartition]map[sm.Offset]string{},
			skipped: map[sm.TopicPartition][][2]sm.Offset{}, fetched: map[sm.TopicPartition]sm.Offset{}}
		w.grp.groups = append(w.grp.groups, f)
		for j := 0; j < gc.Members; j++ {
			id := groupMemberBase + sm.NodeID(slot)
			m := &member{w: w, id: id, slot: slot, g: f, rng: root.child(fmt.Sprintf("member%d", slot))}
			m.reset()
			w.grp.members[id] = m
			w.grp.ids = append(w.grp.ids, id)
			slot++
		}
	}
}

// reset is a member's state as a new process has it.
func (m *member) reset() {
	m.incarn++
	m.hist = newMemberHist()
	m.phase, m.needCoord, m.coord = phaseJoin, true, sm.NoNode
	m.memberID, m.gen, m.join = "", -1, nil
	m.owned, m.ownedGen, m.prevOwned, m.toFetch, m.revoking = nil, -1, nil, nil, nil
	m.pos, m.committed = map[sm.TopicPartition]sm.Offset{}, map[sm.TopicPartition]sm.Offset{}
	m.rejoin, m.leaving, m.finalDone = false, false, false
	m.inflight, m.async = nil, nil
}

// startGroups starts every member and the fault director.
func (w *World) startGroups() {
	if !w.grp.on {
		return
	}
	for _, id := range w.grp.ids {
		m := w.grp.members[id]
		m.next(sm.Duration(m.rng.between(0, int64(500*sm.Millisecond))))
	}
	if w.grp.cfg.FaultMean <= 0 {
		return
	}
	r := w.grp.rng
	heals := w.heals
	var fault func()
	fault = func() {
		if !w.faultsOn || w.heals != heals {
			return
		}
		m := w.grp.members[w.grp.ids[r.intn(len(w.grp.ids))]]
		m.fault(r)
		w.after(sm.Duration(r.between(int64(w.grp.cfg.FaultMean)/2, int64(w.grp.cfg.FaultMean)*3/2)), fault)
	}
	w.after(sm.Duration(r.between(int64(w.grp.cfg.FaultMean)/2, int64(w.grp.cfg.FaultMean)*3/2)), fault)
}

// fault injects one member fault: crash, pause past the session timeout,
// or a clean leave.
func (m *member) fault(r *rng) {
	w := m.w
	if m.phase == phaseDown || w.now < m.paused {
		return
	}
	switch u := r.float(); {
	case u < 0.4:
		w.stats.reach("group member crashed")
		m.phase = phaseDown
		m.inflight, m.async = nil, nil
		m.stepGen++
		w.after(sm.Duration(r.between(int64(200*sm.Millisecond), int64(2*sm.Second))), func() {
			m.reset()
			m.next(0)
		})
	case u < 0.75:
		w.stats.reach("group member paused")
		d := w.grp.cfg.SessionTimeout + sm.Duration(r.between(int64(200*sm.Millisecond), int64(1500*sm.Millisecond)))
		m.paused = w.now.Add(d)
		m.next(d)
	default:
		if m.memberID != "" {
			m.leaving = true
		}
	}
}

// next schedules the member's next step, superseding any scheduled
// before.
func (m *member) next(d sm.Duration) {
	m.stepGen++
	gen := m.stepGen
	m.w.after(d, func() {
		if m.stepGen == gen {
			m.step()
		}
	})
}

func (m *member) think() sm.Duration {
	return sm.Duration(m.rng.between(int64(10*sm.Millisecond), int64(100*sm.Millisecond)))
}

func (m *member) hbInterval() sm.Duration { return m.w.grp.cfg.SessionTimeout / 3 }

// send issues the one request in flight (or the async commit).
func (m *member) send(to sm.NodeID, req *memberReq, timeout sm.Duration) {
	w := m.w
	req.reqID, req.to, req.sentAt, req.hist = m.reqID, to, w.now, m.hist // every request takes the latest ID (newReq)
	slot := &m.inflight
	if req.async {
		slot = &m.async
	}
	*slot = req
	w.net.send(sm.Envelope{From: m.id, To: to, Msg: req.msg})
	var expire func()
	expire = func() {
		if *slot != req {
			return
		}
		if w.now < m.paused {
			w.at(m.paused, expire) // a paused process sees its timeouts when it resumes
			return
		}
		*slot = nil
		if !req.async {
			m.timedOut(req)
		}
	}
	w.after(timeout, expire)
}

// finalCommit commits tps once before an action; true while that commit
// is in flight.
func (m *member) finalCommit(tps []sm.TopicPartition, to sm.Duration) bool {
	if m.finalDone {
		return false
	}
	m.finalDone = true
	return m.commit(tps, to, false)
}

func (m *member) newReq() uint64 {
	m.reqID++
	return m.reqID
}

// step issues the member's next request unless one is in flight.
func (m *member) step() {
	w := m.w
	if w.grp.stopped || m.inflight != nil || m.phase == phaseDown {
		return
	}
	if w.now < m.paused {
		return // step runs again when the pause ends
	}
	to := w.cfg.ClientTimeout + 500*sm.Millisecond
	if m.needCoord {
		brokers := w.brokerIDs()
		b := brokers[m.rng.intn(len(brokers))]
		m.send(b, &memberReq{msg: sm.FindCoordinatorRequest{ReqID: m.newReq(), GroupID: m.g.id}}, to)
		return
	}
	switch m.phase {
	case phaseJoin:
		sub := assign.Subscription{Version: 2, Topics: []string{w.grp.cfg.Topic}, Owned: m.owned, Generation: m.ownedGen}
		if m.memberID == "" {
			m.joins++
		}
		clientID := fmt.Sprintf("member%d.%d", m.slot, m.joins)
		if w.grp.cfg.SharedClientIDs {
			clientID = fmt.Sprintf("member%d", m.slot)
		}
		req := sm.JoinGroupRequest{ReqID: m.newReq(), GroupID: m.g.id, MemberID: m.memberID, ClientID: clientID,
			ProtocolType: "consumer", Protocols: []sm.GroupProtocol{{Name: m.g.assignor, Metadata: assign.EncodeSubscription(sub)}},
			SessionTimeout: w.grp.cfg.SessionTimeout, RebalanceTimeout: w.grp.cfg.SessionTimeout + sm.Second, RequireKnownMemberID: true}
		m.send(m.coord, &memberReq{msg: req}, w.grp.cfg.SessionTimeout+3*sm.Second)
	case phaseSync:
		req := sm.SyncGroupRequest{ReqID: m.newReq(), GroupID: m.g.id, Generation: m.gen, MemberID: m.memberID, ProtocolType: "consumer", Protocol: m.g.assignor}
		mr := &memberReq{gen: m.gen}
		if m.join != nil {
			mr.assign = m.assignment(m.join)
			for _, id := range slices.Sorted(maps.Keys(mr.assign)) {
				req.Assignments = append(req.Assignments, sm.GroupAssignment{MemberID: id, Assignment: assign.EncodeAssignment(assign.Assignment{Partitions: mr.assign[id]})})
			}
		}
		mr.msg = req
		m.send(m.coord, mr, w.grp.cfg.SessionTimeout+3*sm.Second)
	case phaseOffsets:
		m.send(m.coord, &memberReq{msg: sm.OffsetFetchRequest{ReqID: m.newReq(), GroupID: m.g.id, Partitions: slices.Clone(m.toFetch)}}, to)
	case phaseStable:
		m.stable(to)
	}
}

// stable is one step of a member holding an assignment.
func (m *member) stable(to sm.Duration) {
	w := m.w
	switch {
	case len(m.revoking) > 0:
		// Cooperative: commit what was read of the revoked partitions,
		// then give them up and join again.
		if !m.finalDone {
			m.finalDone = true
			if m.commit(m.revoking, to, false, true) {
				return
			}
		}
		m.finalDone = false
		m.drop(m.revoking)
		m.revoking = nil
		m.rejoin = true
		m.step()
	case m.leaving:
		if m.finalCommit(m.owned, to) {
			return
		}
		m.finalDone = false
		m.send(m.coord, &memberReq{msg: sm.LeaveGroupRequest{ReqID: m.newReq(), GroupID: m.g.id, Members: []sm.GroupMemberRef{{MemberID: m.memberID}}}}, to)
	case m.rejoin:
		if m.g.assignor == assign.RangeName {
			// Eager: commit, give everything up, then join.
			if m.finalCommit(m.owned, to) {
				return
			}
			m.drop(m.owned)
		}
		m.finalDone = false
		m.rejoin = false
		m.phase = phaseJoin
		m.step()
	case w.now >= m.nextHB:
		m.send(m.coord, &memberReq{msg: sm.HeartbeatRequest{ReqID: m.newReq(), GroupID: m.g.id, Generation: m.gen, MemberID: m.memberID}}, to)
	case w.now >= m.commitAt && m.async == nil && m.dirty(m.owned):
		m.commit(m.owned, to, true)
		m.next(0)
	case len(m.owned) > 0:
		m.read(to)
	default:
		m.next(min(sm.Duration(m.nextHB-w.now), 100*sm.Millisecond) + sm.Millisecond)
	}
}

// dirty reports whether any of tps was read past its last commit.
func (m *member) dirty(tps []sm.TopicPartition) bool {
	for _, tp := range tps {
		if p, ok := m.pos[tp]; ok && p > m.committed[tp] {
			return true
		}
	}
	return false
}

// commit sends the positions of tps read past their last commit; false
// when there is nothing to commit.
func (m *member) commit(tps []sm.TopicPartition, to sm.Duration, async bool, revoke ...bool) bool {
	w := m.w
	req := sm.OffsetCommitRequest{ReqID: m.newReq(), GroupID: m.g.id, Generation: m.gen, MemberID: m.memberID}
	offs := map[sm.TopicPartition]sm.Offset{}
	for _, tp := range tps {
		p, ok := m.pos[tp]
		if !ok || p <= m.committed[tp] {
			continue
		}
		if w.grp.cfg.CanaryCommitAhead && m.rng.chance(0.2) && p < w.knownHW[tp] {
			p++ // the canary: one past what was read
		}
		offs[tp] = p
		req.Offsets = append(req.Offsets, sm.OffsetCommit{TP: tp, Offset: p, LeaderEpoch: -1})
	}
	m.commitAt = w.now.Add(sm.Duration(m.rng.between(int64(200*sm.Millisecond), int64(800*sm.Millisecond))))
	if len(offs) == 0 {
		return false
	}
	m.send(m.coord, &memberReq{msg: req, offsets: offs, gen: m.gen, async: async, revoke: len(revoke) > 0 && revoke[0], prevOwned: slices.Clone(m.prevOwned)}, to)
	return true
}

// lateCommit sends, beside the member's steps, an async commit of the
// partitions it kept tagged with the generation it had them in before this
// one: a commit queued before the rebalance and sent after it (Kafka's
// commitAsync from a poll that straddled the rebalance). The coordinator
// must refuse it (ILLEGAL_GENERATION).
func (m *member) lateCommit(gen int32, kept []sm.TopicPartition) {
	req := sm.OffsetCommitRequest{ReqID: m.newReq(), GroupID: m.g.id, Generation: gen, MemberID: m.memberID}
	offs := map[sm.TopicPartition]sm.Offset{}
	for _, tp := range kept {
		if p, ok := m.pos[tp]; ok && slices.Contains(m.prevOwned, tp) {
			offs[tp] = p
			req.Offsets = append(req.Offsets, sm.OffsetCommit{TP: tp, Offset: p, LeaderEpoch: -1})
		}
	}
	if len(offs) == 0 {
		return
	}
	m.w.stats.reach("group late commit sent")
	m.send(m.coord, &memberReq{msg: req, offsets: offs, gen: gen, async: true, prevOwned: slices.Clone(m.prevOwned)}, m.w.cfg.ClientTimeout+500*sm.Millisecond)
}

// read fetches the next owned partition from its leader.
func (m *member) read(to sm.Duration) {
	w := m.w
	m.readIdx = (m.readIdx + 1) % len(m.owned)
	tp := m.owned[m.readIdx]
	leader := sm.NoNode
	if ctl := w.leaderController(); ctl != nil {
		for _, st := range ctl.Metadata().Partitions {
			if st.TP == tp {
				leader = st.Leader
			}
		}
	}
	if leader == sm.NoNode {
		m.next(50 * sm.Millisecond)
		return
	}
	m.send(leader, &memberReq{msg: sm.FetchRequest{ReqID: m.newReq(), TP: tp, Offset: m.pos[tp], MaxRecords: 64}}, to)
}

// drop gives partitions up.
func (m *member) drop(tps []sm.TopicPartition) {
	for _, tp := range tps {
		delete(m.pos, tp)
		delete(m.committed, tp)
	}
	m.owned = slices.DeleteFunc(m.owned, func(tp sm.TopicPartition) bool { return slices.Contains(tps, tp) })
	if len(m.owned) == 0 {
		m.ownedGen = -1
	}
}

// lost gives up everything (the member is no longer in the generation).
func (m *member) lost() {
	m.drop(slices.Clone(m.owned))
	m.revoking, m.toFetch, m.rejoin = nil, nil, false
	m.phase = phaseJoin
}

// assignment is the leader's assignment of a join answer.
func (m *member) assignment(r *sm.JoinGroupResponse) map[string][]sm.TopicPartition {
	var ms []assign.Member
	for _, mm := range r.Members {
		sub, err := assign.DecodeSubscription(mm.Metadata)
		if err != nil {
			m.w.fail("groups: group %s generation %d: member %s's subscription does not decode: %v", m.g.id, r.Generation, mm.MemberID, err)
			return nil
		}
		ms = append(ms, assign.Member{ID: mm.MemberID, InstanceID: mm.InstanceID, Subscription: sub})
	}
	a, _ := assign.ByName(m.g.assignor)
	return a.Assign(ms, map[string]int32{m.w.grp.cfg.Topic: int32(len(m.g.tps))})
}

// timedOut handles a request that got no answer: find the coordinator
// again (it may have moved) and carry on where the member was.
func (m *member) timedOut(req *memberReq) {
	switch req.msg.(type) {
	case sm.FetchRequest:
	case sm.LeaveGroupRequest:
		m.down()
		return
	default:
		m.needCoord = true
	}
	m.next(m.think())
}

// down ends an incarnation that left: a new one starts later.
func (m *member) down() {
	m.phase = phaseDown
	m.stepGen++
	m.w.after(sm.Duration(m.rng.between(int64(300*sm.Millisecond), int64(3*sm.Second))), func() {
		m.reset()
		m.next(0)
	})
}

// receive takes an answer (a late one matches nothing and is dropped).
func (m *member) receive(env sm.Envelope) {
	w := m.w
	if w.grp.stopped {
		return
	}
	if w.now < m.paused {
		w.at(m.paused, func() { m.receive(env) })
		return
	}
	if a := m.async; a != nil && a.to == env.From && replyID(env.Msg) == a.reqID {
		m.async = nil
		if r, ok := env.Msg.(sm.OffsetCommitResponse); ok {
			m.onCommit(env.From, r, a)
		}
		return // the member's own steps carry on
	}
	req := m.inflight
	if req == nil || req.to != env.From || replyID(env.Msg) != req.reqID {
		return
	}
	m.inflight = nil
	backoff := m.think()
	switch r := env.Msg.(type) {
	case sm.FindCoordinatorResponse:
		if r.Code == sm.CodeOK && r.Coordinator != sm.NoNode {
			m.coord, m.needCoord = r.Coordinator, false
			backoff = 0
		} else {
			w.stats.reach("group find coordinator " + r.Code.String())
			backoff = 100 * sm.Millisecond
		}
	case sm.JoinGroupResponse:
		backoff = m.onJoin(r, backoff)
	case sm.SyncGroupResponse:
		backoff = m.onSync(env.From, r, req, backoff)
	case sm.OffsetFetchResponse:
		backoff = m.onOffsets(env.From, r, req, backoff)
	case sm.HeartbeatResponse:
		if r.Code == sm.CodeOK {
			m.nextHB = w.now.Add(m.hbInterval())
			backoff = 0
		} else {
			m.onGroupError("heartbeat", r.Code)
		}
	case sm.OffsetCommitResponse:
		m.onCommit(env.From, r, req)
	case sm.LeaveGroupResponse:
		w.stats.reach("group leave " + r.Code.String())
		if r.Code == sm.CodeOK || r.Code == sm.CodeUnknownMemberID {
			m.down()
			return
		}
		m.onGroupError("leave", r.Code)
	case sm.FetchResponse:
		if m.onRead(r) == 0 {
			// Caught up (or refused): look again a little later.
			backoff = sm.Duration(m.rng.between(int64(100*sm.Millisecond), int64(400*sm.Millisecond)))
		}
	}
	m.next(backoff)
}

func replyID(msg sm.Message) uint64 {
	switch r := msg.(type) {
	case sm.FindCoordinatorResponse:
		return r.ReqID
	case sm.JoinGroupResponse:
		return r.ReqID
	case sm.SyncGroupResponse:
		return r.ReqID
	case sm.OffsetFetchResponse:
		return r.ReqID
	case sm.HeartbeatResponse:
		return r.ReqID
	case sm.OffsetCommitResponse:
		return r.ReqID
	case sm.LeaveGroupResponse:
		return r.ReqID
	case sm.FetchResponse:
		return r.ReqID
	}
	return 0
}

// onGroupError follows a coordinator's refusal: find it again, join again
// (keeping the member ID or, when unknown, as a new member), or retry.
func (m *member) onGroupError(what string, code sm.Code) {
	w := m.w
	w.stats.reach("group " + what + " " + code.String())
	switch code {
	case sm.CodeNotCoordinator, sm.CodeCoordinatorNotAvailable, sm.CodeCoordinatorLoadInProgress:
		m.needCoord = true
	case sm.CodeRebalanceInProgress:
		if m.phase == phaseStable {
			m.rejoin = true
		} else {
			m.phase = phaseJoin
		}
	case sm.CodeIllegalGeneration, sm.CodePartitionNotAssigned:
		m.lost()
	case sm.CodeUnknownMemberID, sm.CodeFencedInstanceID:
		m.lost()
		m.memberID = ""
	default:
		// Anything else is the workload's own fault (or a refusal a
		// coordinator must not give it).
		if code != sm.CodeGroupAuthorizationFailed && code != sm.CodeTopicAuthorizationFailed {
			w.fail("groups: group %s member %s (%v) generation %d: %s answered %v", m.g.id, m.memberID, m.id, m.gen, what, code)
		}
	}
}

func (m *member) onJoin(r sm.JoinGroupResponse, backoff sm.Duration) sm.Duration {
	switch r.Code {
	case sm.CodeMemberIDRequired:
		m.w.stats.reach("group join MEMBER_ID_REQUIRED")
		m.memberID = r.MemberID
		return 0
	case sm.CodeOK:
	case sm.CodeUnknownMemberID:
		m.w.stats.reach("group join UNKNOWN_MEMBER_ID")
		m.memberID = ""
		m.lost()
		return backoff
	default:
		m.onGroupError("join", r.Code)
		return backoff
	}
	m.memberID, m.gen = r.MemberID, r.Generation
	m.join = nil
	if r.Leader == r.MemberID {
		rr := r
		m.join = &rr
	}
	m.phase = phaseSync
	return 0
}

func (m *member) onSync(from sm.NodeID, r sm.SyncGroupResponse, req *memberReq, backoff sm.Duration) sm.Duration {
	w := m.w
	if r.Code != sm.CodeOK {
		if r.Code == sm.CodeRebalanceInProgress {
			w.stats.reach("group sync REBALANCE_IN_PROGRESS")
			m.phase = phaseJoin
			return backoff
		}
		m.onGroupError("sync", r.Code)
		return backoff
	}
	a, err := assign.DecodeAssignment(r.Assignment)
	if err != nil {
		w.fail("groups: group %s generation %d: member %s's assignment does not decode: %v", m.g.id, req.gen, m.memberID, err)
		return backoff
	}
	got := slices.Clone(a.Partitions)
	slices.SortFunc(got, sm.CompareTP)
	if err := m.g.noteSync(req.gen, m.memberID, got, req.assign); err != nil {
		w.fail("groups: %v (answered by %v)", err, from)
		return backoff
	}
	w.stats.reach("group synced")
	// Cooperative: keep what stays, revoke what went, fetch offsets of
	// what is new. Eager members own nothing here.
	m.prevOwned = slices.Clone(m.owned)
	var added []sm.TopicPartition
	m.revoking = nil
	for _, tp := range m.owned {
		if !slices.Contains(got, tp) {
			m.revoking = append(m.revoking, tp)
		}
	}
	for _, tp := range got {
		if !slices.Contains(m.owned, tp) {
			added = append(added, tp)
		}
	}
	if len(m.revoking) > 0 {
		w.stats.reach("group cooperative revoke")
	}
	m.owned = append(slices.Clone(got), m.revoking...)
	slices.SortFunc(m.owned, sm.CompareTP)
	prevGen := m.ownedGen
	m.ownedGen = req.gen
	m.nextHB = w.now.Add(m.hbInterval())
	if prevGen >= 0 && prevGen < req.gen && m.async == nil && m.rng.chance(0.25) {
		m.lateCommit(prevGen, got)
	}
	m.toFetch = added
	m.phase = phaseStable
	if len(added) > 0 {
		m.phase = phaseOffsets
	}
	return 0
}

func (m *member) onOffsets(from sm.NodeID, r sm.OffsetFetchResponse, req *memberReq, backoff sm.Duration) sm.Duration {
	w := m.w
	if r.Code != sm.CodeOK {
		m.onGroupError("offset fetch", r.Code)
		return backoff
	}
	for _, o := range r.Offsets {
		if o.Code != sm.CodeOK {
			m.onGroupError("offset fetch", o.Code)
			return backoff
		}
	}
	for _, o := range r.Offsets {
		if !slices.Contains(m.toFetch, o.TP) {
			continue
		}
		m.g.noteFetched(w, from, o.TP, o.Offset, req.sentAt, m)
		p := max(o.Offset, 0)
		m.pos[o.TP], m.committed[o.TP] = p, p
		addOffset(m.hist.given, o.TP, p)
	}
	m.toFetch = nil
	m.phase = phaseStable
	return 0
}

func (m *member) onCommit(from sm.NodeID, r sm.OffsetCommitResponse, req *memberReq) {
	w := m.w
	var refused sm.Code
	for _, p := range r.Partitions {
		o, sent := req.offsets[p.TP]
		if !sent {
			continue
		}
		if p.Code != sm.CodeOK {
			refused = p.Code
			if p.Code == sm.CodeOffsetRegression {
				// A commit raced another (a revoked partition's last
				// commit): read from what is committed.
				w.stats.reach("group commit OFFSET_REGRESSION")
				if slices.Contains(m.owned, p.TP) && !slices.Contains(m.toFetch, p.TP) {
					m.toFetch = append(m.toFetch, p.TP)
				}
			}
			continue
		}
		w.stats.reach("group committed")
		if _, ok := m.committed[p.TP]; ok || !req.async {
			m.committed[p.TP] = max(m.committed[p.TP], o)
		}
		if err := m.g.noteCommit(w, from, p.TP, o, req, m); err != nil {
			w.fail("groups: %v", err)
			return
		}
	}
	if len(m.toFetch) > 0 && m.phase == phaseStable && !m.rejoin {
		m.phase = phaseOffsets
	}
	if refused != 0 && req.async && (req.gen != m.gen || m.phase != phaseStable) {
		// An async commit of an earlier generation: the member has moved
		// on (Kafka's consumer logs these and carries on).
		if refused == sm.CodeIllegalGeneration {
			w.stats.reach("group async commit of an old generation refused")
		}
		return
	}
	switch refused {
	case 0, sm.CodeOffsetRegression:
	case sm.CodeOffsetOutOfRange:
		w.stats.reach("group commit OFFSET_OUT_OF_RANGE") // the coordinator's high watermark lags
	case sm.CodeIllegalGeneration, sm.CodeUnknownMemberID:
		w.stats.reach("group stale commit refused")
		m.onGroupError("commit", refused)
	default:
		m.onGroupError("commit", refused)
	}
}

// onRead takes a fetch answer for an owned partition and returns the
// records delivered.
func (m *member) onRead(r sm.FetchResponse) (n int) {
	w := m.w
	pos, ok := m.pos[r.TP]
	if !ok || !slices.Contains(m.owned, r.TP) {
		return // given up meanwhile
	}
	switch r.Code {
	case sm.CodeOK:
	case sm.CodeOffsetOutOfRange:
		if r.LogStart > pos {
			w.stats.reach("group read moved to the log start")
			m.g.skipped[r.TP] = append(m.g.skipped[r.TP], [2]sm.Offset{pos, r.LogStart})
			m.pos[r.TP] = r.LogStart
			addOffset(m.hist.given, r.TP, r.LogStart)
		}
		return
	default:
		return
	}
	for _, rec := range flatten(r.Batches, pos) {
		off := sm.Offset(rec.Offset)
		if off >= r.HighWatermark {
			break
		}
		if off != m.pos[r.TP] {
			w.fail("groups: group %s member %s read %v from %d and got offset %d next (a gap)", m.g.id, m.memberID, r.TP, m.pos[r.TP], off)
			return
		}
		if err := m.g.noteValue(r.TP, off, rec.Value); err != nil && !w.times.rewritten[r.TP] {
			w.fail("groups: %v", err)
			return
		}
		addOffset(m.hist.delivered, r.TP, off)
		m.pos[r.TP] = off + 1
		n++
	}
	return n
}

// ---- the checker ---------------------------------------------------------

func (f *groupFacts) noteValue(tp sm.TopicPartition, off sm.Offset, v string) error {
	if f.values[tp] == nil {
		f.values[tp] = map[sm.Offset]string{}
	}
	if old, ok := f.values[tp][off]; ok && old != v {
		return fmt.Errorf("group %s: %v offset %d read as %q and as %q", f.id, tp, off, old, v)
	}
	f.values[tp][off] = v
	return nil
}

// noteSync records one OK SyncGroup answer and checks (a): one owner per
// partition in a generation, and what the leader stored.
func (f *groupFacts) noteSync(gen int32, memberID string, got []sm.TopicPartition, leaderSent map[string][]sm.TopicPartition) error {
	byMember := f.syncs[gen]
	if byMember == nil {
		byMember = map[string][]sm.TopicPartition{}
		f.syncs[gen] = byMember
	}
	if old, ok := byMember[memberID]; ok && !slices.Equal(old, got) {
		return fmt.Errorf("group %s generation %d: member %s was assigned %s and then %s", f.id, gen, memberID, assign.FormatPartitions(old), assign.FormatPartitions(got))
	}
	byMember[memberID] = got
	if leaderSent != nil {
		if prev, ok := f.leaders[gen]; ok && !equalAssignments(prev, leaderSent) {
			return fmt.Errorf("group %s generation %d: two leader assignments stored", f.id, gen)
		}
		f.leaders[gen] = leaderSent
	}
	for _, id := range slices.Sorted(maps.Keys(byMember)) {
		if id == memberID {
			continue
		}
		for _, tp := range got {
			if slices.Contains(byMember[id], tp) {
				return fmt.Errorf("group %s generation %d: partition %v owned by both %s and %s", f.id, gen, tp, id, memberID)
			}
		}
	}
	if la, ok := f.leaders[gen]; ok {
		for _, id := range slices.Sorted(maps.Keys(byMember)) {
			want := slices.Clone(la[id])
			slices.SortFunc(want, sm.CompareTP)
			if !slices.Equal(want, byMember[id]) {
				return fmt.Errorf("group %s generation %d: member %s was given %s, but the leader assigned it %s", f.id, gen, id, assign.FormatPartitions(byMember[id]), assign.FormatPartitions(want))
			}
		}
	}
	return nil
}

func equalAssignments(a, b map[string][]sm.TopicPartition) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// ownedIn reports whether memberID owned tp in generation gen, and whether
// anyone did.
func (f *groupFacts) ownedIn(gen int32, memberID string, tp sm.TopicPartition) (mine, anyone bool) {
	for id, tps := range f.syncs[gen] {
		if slices.Contains(tps, tp) {
			anyone = true
			mine = mine || id == memberID
		}
	}
	for id, tps := range f.leaders[gen] {
		if slices.Contains(tps, tp) {
			anyone = true
			mine = mine || id == memberID
		}
	}
	return mine, anyone
}

// noteCommit checks (b) for one OK-committed offset and records it.
func (f *groupFacts) noteCommit(w *World, from sm.NodeID, tp sm.TopicPartition, o sm.Offset, req *memberReq, m *member) error {
	c := req.msg.(sm.OffsetCommitRequest)
	who := fmt.Sprintf("group %s generation %d: member %s (%v) committed %v offset %d (OK from %v)", f.id, c.Generation, c.MemberID, m.id, tp, o, from)
	if !req.hist.delivered[tp][o-1] && !req.hist.given[tp][o] {
		return fmt.Errorf("%s, but it neither read offset %d nor was given position %d", who, o-1, o)
	}
	mine, anyone := f.ownedIn(c.Generation, c.MemberID, tp)
	if !mine {
		revoked := f.assignor == assign.CooperativeStickyName && req.revoke && slices.Contains(req.prevOwned, tp)
		if !revoked || anyone {
			return fmt.Errorf("%s, but it does not own the partition in that generation (owners: %s)", who, f.describeGen(c.Generation))
		}
		w.stats.reach("group revoked partition committed")
	}
	f.commits[tp] = append(f.commits[tp], okCommit{offset: o, at: w.now, from: from, member: c.MemberID, gen: c.Generation})
	return nil
}

func (f *groupFacts) describeGen(gen int32) string {
	var b strings.Builder
	for _, id := range slices.Sorted(maps.Keys(f.syncs[gen])) {
		fmt.Fprintf(&b, "%s=%s ", id, assign.FormatPartitions(f.syncs[gen][id]))
	}
	return strings.TrimSpace(b.String())
}

// noteFetched checks (c) for one OK OffsetFetch answer: at least every
// commit answered OK before it was sent.
func (f *groupFacts) noteFetched(w *World, from sm.NodeID, tp sm.TopicPartition, got sm.Offset, sentAt sm.Time, m *member) {
	if old, ok := f.fetched[tp]; !ok || got > old {
		f.fetched[tp] = got
	}
	var best *okCommit
	for i := range f.commits[tp] {
		c := &f.commits[tp][i]
		if c.at < sentAt && (best == nil || c.offset > best.offset) {
			best = c
		}
	}
	if best == nil {
		return
	}
	if got >= 0 && best.from != from {
		w.stats.reach("coordinator failover: offsets survived")
	}
	if got < best.offset && len(w.diskVictims) == 0 {
		w.fail("groups: group %s: member %s (%v) fetched the committed offset of %v from %v: %d, but offset %d was committed OK at %v (generation %d, member %s, answered by %v) before the fetch was sent at %v",
			f.id, m.memberID, m.id, tp, from, got, best.offset, best.at, best.gen, best.member, best.from, sentAt)
	}
}

// ---- liveness ------------------------------------------------------------

// groupLiveness runs after the cluster converged: the members, free of
// faults, must consume and commit every partition of their topic up to its
// high watermark within the liveness timeout; then (d) is judged and the
// members stop.
func (w *World) groupLiveness() error {
	if !w.grp.on {
		return nil
	}
	hws := map[sm.TopicPartition]sm.Offset{}
	ctl := w.leaderController()
	if ctl == nil {
		return w.stuck("groups: no controller leads")
	}
	for _, st := range ctl.Metadata().Partitions {
		if b := w.brokerNode(st.Leader); b != nil && st.TP.Topic == w.grp.cfg.Topic {
			hws[st.TP] = statusByTP(b)[st.TP].HW
		}
	}
	// A group whose offsets partition lost every eligible copy (possible
	// only when the offsets topic's min ISR is within the lost-disk budget:
	// brokers create it with the controllers' default) has no coordinator
	// until an operator acts, as checkLostForGood allows for workload
	// partitions.
	offline := map[string]bool{}
	md := ctl.Metadata()
	for _, t := range md.Topics {
		if t.Name != sm.OffsetsTopic {
			continue
		}
		for _, f := range w.grp.groups {
			otp := sm.TopicPartition{Topic: sm.OffsetsTopic, Partition: group.PartitionFor(f.id, t.Partitions)}
			for _, st := range md.Partitions {
				if st.TP == otp && w.lostForGood(st) {
					if int(max(t.Config.MinInSyncReplicas, 1)) > w.durabilityBudget() {
						return fmt.Errorf("t=%v: groups: group %s's offsets partition %v lost every in-sync and eligible copy with %d of at most %d disks lost, below its min isr %d\n%s",
							w.now, f.id, otp, len(w.diskVictims), w.durabilityBudget(), t.Config.MinInSyncReplicas, w.describe())
					}
					w.stats.reach("group offsets partition lost for good")
					offline[f.id] = true
				}
			}
		}
	}
	done := func() bool {
		for _, f := range w.grp.groups {
			if offline[f.id] {
				continue
			}
			for _, tp := range f.tps {
				if hws[tp] > 0 && f.maxCommitted(tp) < hws[tp] {
					return false
				}
			}
		}
		return true
	}
	deadline := w.now.Add(w.cfg.LivenessTimeout)
	w.runUntil(deadline, done)
	if w.failure != nil {
		return w.failure
	}
	w.grp.stopped = true
	for _, st := range md.Partitions {
		if b := w.brokerNode(st.Leader); b != nil && st.TP.Topic == sm.OffsetsTopic && statusByTP(b)[st.TP].LogStart > 0 {
			w.stats.reach("offsets partition log start moved") // a snapshot freed segments
			break
		}
	}
	if !done() {
		var b strings.Builder
		for _, f := range w.grp.groups {
			for _, tp := range f.tps {
				fmt.Fprintf(&b, " group %s %v committed %d of high watermark %d;", f.id, tp, f.maxCommitted(tp), hws[tp])
			}
		}
		for _, id := range w.grp.ids {
			m := w.grp.members[id]
			fmt.Fprintf(&b, "\n  %v group %s member %q phase %d gen %d coord %v needCoord %v owned %s pos %v", id, m.g.id, m.memberID, m.phase, m.gen, m.coord, m.needCoord, assign.FormatPartitions(m.owned), m.pos)
		}
		return w.stuck("groups: the members did not consume to the high watermarks within " + w.cfg.LivenessTimeout.String() + ":" + b.String())
	}
	for _, f := range w.grp.groups {
		if offline[f.id] {
			continue
		}
		for _, tp := range f.tps {
			for o := sm.Offset(0); o < hws[tp]; o++ {
				if _, ok := f.values[tp][o]; ok || f.wasSkipped(tp, o) {
					continue
				}
				return fmt.Errorf("t=%v: groups: group %s committed %v up to %d (high watermark %d), but no member read offset %d", w.now, f.id, tp, f.maxCommitted(tp), hws[tp], o)
			}
		}
		w.stats.reach("group consumed to the high watermark")
	}
	return nil
}

// maxCommitted is the highest offset known committed: answered OK, or
// returned by an offset fetch.
func (f *groupFacts) maxCommitted(tp sm.TopicPartition) sm.Offset {
	best := sm.Offset(-1)
	if o, ok := f.fetched[tp]; ok {
		best = o
	}
	for _, c := range f.commits[tp] {
		best = max(best, c.offset)
	}
	return best
}

func (f *groupFacts) wasSkipped(tp sm.TopicPartition, o sm.Offset) bool {
	for _, s := range f.skipped[tp] {
		if s[0] <= o && o < s[1] {
			return true
		}
	}
	return false
}
