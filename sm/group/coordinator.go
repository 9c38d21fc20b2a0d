package group

import (
	"bytes"
	"container/heap"
	"fmt"
	"maps"
	"slices"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/assert"
)

// Config bounds one coordinator.
type Config struct {
	// Partition is the offsets partition this coordinator owns; Partitions
	// the offsets topic's partition count. A request for a group that
	// PartitionFor sends elsewhere gets NotCoordinator.
	Partition  int32
	Partitions int32
	// Epoch is the offsets partition's leader epoch this coordinator serves
	// in, and Instance names this coordinator among those of that epoch (a
	// reload after an unknown append, a process restarted into the same
	// epoch): the host must never reuse it for the partition and epoch.
	// Both are part of every member ID it issues, so IDs of different
	// coordinator incarnations never collide (the member counter restarts
	// with each): a member ID a dead incarnation handed out, never stored,
	// can never name a member of this one.
	Epoch    int64
	Instance string
	// SessionTimeoutMin/Max bound a join's session timeout
	// (group.min/max.session.timeout.ms; Kafka: 6 s, 30 min).
	SessionTimeoutMin sm.Duration
	SessionTimeoutMax sm.Duration
	// InitialRebalanceDelay holds the first join phase of an empty group
	// open this long (extended by each new member up to the rebalance
	// timeout) so a starting fleet lands in one generation
	// (group.initial.rebalance.delay.ms; Kafka: 3 s). Zero: none.
	InitialRebalanceDelay sm.Duration
	// MembersMax caps a group's members (group.max.size).
	MembersMax int
	// GroupsMax caps the groups one coordinator holds.
	GroupsMax int
	// OffsetMetadataBytesMax caps a commit's metadata
	// (offset.metadata.max.bytes; Kafka: 4096).
	OffsetMetadataBytesMax int
	// AppendsInflightMax caps appends awaiting OnAppended.
	AppendsInflightMax int
	// ProtocolMetadataBytesMax caps one member's protocol metadata in a
	// join (all protocols together); GroupRecordBytesMax caps a group's
	// metadata record (members' metadata and assignments), which must fit
	// the offsets partition's record size limit.
	ProtocolMetadataBytesMax int
	GroupRecordBytesMax      int
	// IDs allocates effect IDs; nil uses a counter of the coordinator's own.
	IDs IDSource
}

// DefaultConfig is Kafka's defaults for partition 0 of 50 (Kafka's
// offsets.topic.num.partitions).
func DefaultConfig() Config {
	return Config{
		Partition: 0, Partitions: 50, Epoch: 0,
		SessionTimeoutMin: 6 * sm.Second, SessionTimeoutMax: 1800 * sm.Second,
		InitialRebalanceDelay: 3 * sm.Second,
		MembersMax:            1000, GroupsMax: 100_000,
		OffsetMetadataBytesMax: 4096, AppendsInflightMax: 4096,
		ProtocolMetadataBytesMax: 1 << 20, GroupRecordBytesMax: 8 << 20,
	}
}

// Validate names the first bad field.
func (c Config) Validate() error {
	switch {
	case c.Partitions <= 0:
		return fmt.Errorf("group: offsets partitions must be > 0 (got %d)", c.Partitions)
	case c.Partition < 0 || c.Partition >= c.Partitions:
		return fmt.Errorf("group: offsets partition %d outside 0..%d", c.Partition, c.Partitions-1)
	case c.SessionTimeoutMin <= 0:
		return fmt.Errorf("group: min session timeout must be > 0 (got %v)", c.SessionTimeoutMin)
	case c.SessionTimeoutMax < c.SessionTimeoutMin:
		return fmt.Errorf("group: max session timeout %v below min %v", c.SessionTimeoutMax, c.SessionTimeoutMin)
	case c.InitialRebalanceDelay < 0:
		return fmt.Errorf("group: initial rebalance delay must be >= 0 (got %v)", c.InitialRebalanceDelay)
	case c.MembersMax <= 0 || c.GroupsMax <= 0 || c.AppendsInflightMax <= 0:
		return fmt.Errorf("group: members max %d, groups max %d, appends inflight max %d must be > 0", c.MembersMax, c.GroupsMax, c.AppendsInflightMax)
	case c.ProtocolMetadataBytesMax <= 0 || c.GroupRecordBytesMax < c.ProtocolMetadataBytesMax:
		return fmt.Errorf("group: protocol metadata bytes max %d must be > 0 and <= group record bytes max %d", c.ProtocolMetadataBytesMax, c.GroupRecordBytesMax)
	case c.OffsetMetadataBytesMax < 0 || c.OffsetMetadataBytesMax > stringMax:
		return fmt.Errorf("group: offset metadata bytes max %d outside 0..%d", c.OffsetMetadataBytesMax, stringMax)
	}
	return nil
}

type mode uint8

const (
	modeLoading  mode = iota // New until FinishLoad
	modeActive               // serving
	modeFenced               // an append ended Unknown: reload from the log
	modeUnloaded             // Unload: another broker leads the partition
)

// Coordinator is the group coordinator of one offsets partition. See the
// package doc.
type Coordinator struct {
	cfg    Config
	mode   mode
	groups map[string]*group
	timers groupHeap
	// appends in issue order; byID indexes them.
	appends []*pendingAppend
	byID    map[sm.EffectID]*pendingAppend
	// held maps every held request to where it waits.
	held      map[Handle]holdRef
	out       Output
	memberSeq uint64
	ownIDs    sm.EffectID
	// load accumulates Load's records until FinishLoad.
	load map[string]*loadedGroup
	// checked: the generation each group had at the last CheckInvariants.
	checked   map[string]int32
	violation error
}

type holdKind uint8

const (
	holdJoin holdKind = iota + 1
	holdSync
	holdAppend
)

type holdRef struct {
	kind   holdKind
	group  string
	member string
	append sm.EffectID
}

type loadedGroup struct {
	stored  *groupValue
	offsets map[sm.TopicPartition]Committed
}

// New returns a coordinator that is loading: every request gets
// CoordinatorLoadInProgress until the host has passed the partition's
// records to Load and called FinishLoad.
func New(cfg Config) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Coordinator{
		cfg: cfg, groups: map[string]*group{}, byID: map[sm.EffectID]*pendingAppend{},
		held: map[Handle]holdRef{}, load: map[string]*loadedGroup{}, checked: map[string]int32{},
	}, nil
}

// LoadReport says what Load read.
type LoadReport struct {
	Records int
	// Skipped lists records that could not be decoded (index and reason);
	// they are left out, the rest loads.
	Skipped []string
}

// Load reads records of the offsets partition, in log order; call it as
// often as needed (chunks), then FinishLoad. The latest record per key
// wins; a tombstone deletes its key. Load the log up to its end once the
// partition's high watermark covers it, so that a record whose append
// ended Unknown is either in what is loaded or gone for good.
func (c *Coordinator) Load(records []sm.Record) LoadReport {
	assert.That(c.mode == modeLoading, "group: Load after FinishLoad (mode %d)", c.mode)
	rep := LoadReport{Records: len(records)}
	for i, rec := range records {
		if err := c.loadOne(rec); err != nil {
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("record %d: %v", i, err))
		}
	}
	return rep
}

func (c *Coordinator) loadOne(rec sm.Record) error {
	if _, ok := sm.IsSnapshotMarker(rec); ok {
		return nil // the end of a snapshot: its records were loaded
	}
	k, err := decodeKey(rec.Key)
	if err != nil {
		return err
	}
	lg := c.load[k.group]
	if lg == nil {
		lg = &loadedGroup{offsets: map[sm.TopicPartition]Committed{}}
		c.load[k.group] = lg
	}
	switch {
	case k.isOffset && rec.Value == nil:
		delete(lg.offsets, k.tp)
	case k.isOffset:
		v, err := decodeOffset(rec.Value)
		if err != nil {
			return err
		}
		lg.offsets[k.tp] = v
	case rec.Value == nil:
		lg.stored = nil
	default:
		v, err := decodeGroup(rec.Value)
		if err != nil {
			return err
		}
		lg.stored = v
	}
	if lg.stored == nil && len(lg.offsets) == 0 {
		delete(c.load, k.group)
	}
	return nil
}

// FinishLoad builds the groups from what Load read and starts serving. A
// stored group with members comes back Stable in its stored generation,
// with every member's session starting now; one without members comes
// back Empty; a group with offsets only comes back Empty in generation 0.
func (c *Coordinator) FinishLoad(now sm.Time) {
	assert.That(c.mode == modeLoading, "group: FinishLoad twice (mode %d)", c.mode)
	for _, id := range slices.Sorted(maps.Keys(c.load)) {
		lg := c.load[id]
		g := newGroup(id)
		g.offsets = lg.offsets
		g.stored = lg.stored
		if v := lg.stored; v != nil {
			g.generation = v.generation
			g.protocolType = v.protocolType
			if len(v.members) > 0 {
				g.state = StateStable
				g.protocol = v.protocol
				g.leader = v.leader
				for _, sv := range v.members {
					m := &member{
						id: sv.id, instanceID: sv.instanceID, clientID: sv.clientID, clientHost: sv.clientHost,
						sessionTimeout: sv.sessionTimeout, rebalanceTimeout: sv.rebalanceTimeout,
						protocols: []Protocol{{Name: v.protocol, Metadata: sv.metadata}},
						lastHeard: now, assignment: sv.assignment,
					}
					g.addMember(m)
				}
				if g.members[g.leader] == nil { // a record from an older writer: pick one
					g.leader = g.firstMember()
				}
				g.decodeOwned()
			}
		}
		c.groups[id] = g
		c.checked[id] = g.generation
		c.touch(g)
	}
	c.load = nil
	c.mode = modeActive
}

// Unload stops the coordinator (another broker leads the offsets partition
// now): every held request gets NotCoordinator and so does every later
// one. In-flight appends are forgotten; their completions are ignored.
func (c *Coordinator) Unload() { c.stop(modeUnloaded, NotCoordinator, "group: coordinator unloaded") }

// NeedsReload reports that an append ended Unknown: the coordinator can no
// longer tell what its partition holds and refuses everything with
// CoordinatorNotAvailable. The host replaces it with New + Load +
// FinishLoad from the partition (see Load for when).
func (c *Coordinator) NeedsReload() bool { return c.mode == modeFenced }

func (c *Coordinator) stop(m mode, code Code, msg string) {
	if c.mode == modeUnloaded || c.mode == modeFenced {
		c.mode = max(c.mode, m)
		return
	}
	for _, h := range slices.Sorted(maps.Keys(c.held)) {
		c.replyError(h, c.held[h].kind, code, msg)
	}
	c.mode = m
	c.appends, c.byID = nil, map[sm.EffectID]*pendingAppend{}
	c.timers = nil
	for _, g := range c.groups {
		g.heapIndex = -1
	}
}

// replyError answers a held request of kind k with an error.
func (c *Coordinator) replyError(h Handle, k holdKind, code Code, msg string) {
	ref := c.held[h]
	switch k {
	case holdJoin:
		if g := c.groups[ref.group]; g != nil {
			if m := g.members[ref.member]; m != nil {
				m.joinHeld = false
			}
		}
		c.reply(h, JoinResponse{Code: code, Message: msg, Generation: -1, MemberID: ref.member})
	case holdSync:
		if g := c.groups[ref.group]; g != nil {
			if m := g.members[ref.member]; m != nil {
				m.syncHeld = false
			}
		}
		c.reply(h, SyncResponse{Code: code, Message: msg})
	case holdAppend:
		p := c.byID[ref.append]
		if p != nil {
			p.hasHandle = false
			c.reply(h, p.failedResponse(code, msg))
		}
	}
}

// TakeOutput returns what the coordinator asked for since the last call.
func (c *Coordinator) TakeOutput() Output {
	o := c.out
	c.out = Output{}
	return o
}

// reply queues an answer and forgets the hold, if any.
func (c *Coordinator) reply(h Handle, body Response) {
	delete(c.held, h)
	c.out.Replies = append(c.out.Replies, Reply{To: h, Body: body})
}

func (c *Coordinator) hold(h Handle, ref holdRef) {
	_, dup := c.held[h]
	assert.That(!dup, "group: handle %d already held (%+v)", h, c.held[h])
	c.held[h] = ref
}

// Cancel forgets a held request whose client is gone (its connection
// closed): no reply will be sent. A member whose held join is cancelled
// no longer counts as rejoined; an append goes on, unanswered.
func (c *Coordinator) Cancel(h Handle) {
	ref, ok := c.held[h]
	if !ok {
		return
	}
	delete(c.held, h)
	switch ref.kind {
	case holdJoin, holdSync:
		g := c.groups[ref.group]
		m := g.members[ref.member]
		if ref.kind == holdJoin {
			m.joinHeld = false
		} else {
			m.syncHeld = false
		}
		c.touch(g)
	case holdAppend:
		c.byID[ref.append].hasHandle = false
	}
}

// modeCheck refuses everything unless the coordinator is serving.
func (c *Coordinator) modeCheck() (Code, string) {
	switch c.mode {
	case modeLoading:
		return CoordinatorLoadInProgress, fmt.Sprintf("group: offsets partition %d is loading", c.cfg.Partition)
	case modeFenced:
		return CoordinatorNotAvailable, fmt.Sprintf("group: offsets partition %d must be reloaded after an append of unknown outcome", c.cfg.Partition)
	case modeUnloaded:
		return NotCoordinator, fmt.Sprintf("group: this broker no longer coordinates offsets partition %d", c.cfg.Partition)
	}
	return None, ""
}

// precheck is what every group request checks first.
func (c *Coordinator) precheck(groupID string) (Code, string) {
	if code, msg := c.modeCheck(); code != None {
		return code, msg
	}
	if groupID == "" {
		return InvalidGroupID, "group: group ID is empty"
	}
	if len(groupID) > stringMax {
		return InvalidGroupID, fmt.Sprintf("group: group ID of %d bytes (max %d)", len(groupID), stringMax)
	}
	if p := PartitionFor(groupID, c.cfg.Partitions); p != c.cfg.Partition {
		return NotCoordinator, fmt.Sprintf("group: group %q belongs to offsets partition %d, not %d", groupID, p, c.cfg.Partition)
	}
	return None, ""
}

// newGroupAllowed creates an Empty group, unless the coordinator is full.
func (c *Coordinator) createGroup(id string) (*group, Code, string) {
	if len(c.groups) >= c.cfg.GroupsMax {
		return nil, CoordinatorNotAvailable, fmt.Sprintf("group: coordinator holds %d groups (max %d)", len(c.groups), c.cfg.GroupsMax)
	}
	g := newGroup(id)
	c.groups[id] = g
	c.checked[id] = 0
	return g, None, ""
}

func (c *Coordinator) nextID() sm.EffectID {
	if c.cfg.IDs != nil {
		return c.cfg.IDs.Next()
	}
	c.ownIDs++
	return c.ownIDs
}

// appendFull reports that no further append may be issued.
func (c *Coordinator) appendFull() bool { return len(c.appends) >= c.cfg.AppendsInflightMax }

// issue emits an append and tracks it.
func (c *Coordinator) issue(p *pendingAppend) {
	assert.That(!c.appendFull(), "group: %d appends in flight (max %d)", len(c.appends), c.cfg.AppendsInflightMax)
	p.id = c.nextID()
	_, dup := c.byID[p.id]
	assert.That(!dup, "group: effect ID %d issued twice", p.id)
	c.appends = append(c.appends, p)
	c.byID[p.id] = p
	c.out.Appends = append(c.out.Appends, Append{ID: p.id, Records: p.records})
	if p.hasHandle {
		c.hold(p.handle, holdRef{kind: holdAppend, group: p.group, append: p.id})
	}
}

// OnAppended completes an append. Completions are applied in issue order
// (the order of the log), whatever order they arrive in: an OK that
// arrives before an earlier append's outcome waits for it. Unknown fences
// the coordinator (NeedsReload). A completion for an ID not tracked (the
// coordinator restarted, was unloaded or fenced) is dropped.
func (c *Coordinator) OnAppended(now sm.Time, d Appended) {
	p, ok := c.byID[d.ID]
	if !ok || c.mode != modeActive {
		return
	}
	if d.Outcome == sm.OutcomeUnknown {
		c.stop(modeFenced, CoordinatorNotAvailable, fmt.Sprintf("group: append %d of offsets partition %d ended unknown (%s); reloading", d.ID, c.cfg.Partition, d.Reason))
		return
	}
	p.done, p.outcome, p.notLeader, p.reason = true, d.Outcome, d.NotLeader, d.Reason
	for len(c.appends) > 0 && c.appends[0].done {
		head := c.appends[0]
		c.appends = c.appends[1:]
		delete(c.byID, head.id)
		c.complete(now, head)
	}
}

// Snapshot is the durable state as records, latest per key, sorted by key:
// what Load needs to rebuild exactly what the partition holds (also a
// compacted form of it).
func (c *Coordinator) Snapshot() []sm.Record {
	var out []sm.Record
	for _, id := range slices.Sorted(maps.Keys(c.groups)) {
		g := c.groups[id]
		if g.stored != nil {
			out = append(out, sm.Record{Key: groupKey(id), Value: encodeGroup(g.stored)})
		}
		for _, tp := range slices.SortedFunc(maps.Keys(g.offsets), sm.CompareTP) {
			out = append(out, sm.Record{Key: offsetKey(id, tp), Value: encodeOffset(g.offsets[tp])})
		}
	}
	slices.SortFunc(out, func(a, b sm.Record) int { return bytes.Compare(a.Key, b.Key) })
	return out
}

// ---- timers ----------------------------------------------------------------

// TimerAt is the earliest time the coordinator needs OnTimer (a session
// expiry, the end of a join or sync phase); zero means never.
func (c *Coordinator) TimerAt() sm.Time {
	if len(c.timers) == 0 {
		return 0
	}
	return c.timers[0].deadline
}

// OnTimer expires members past their session timeout and ends join and
// sync phases whose time is up.
func (c *Coordinator) OnTimer(now sm.Time) {
	if c.mode != modeActive {
		return
	}
	for len(c.timers) > 0 && c.timers[0].deadline <= now {
		g := c.timers[0]
		for range 8 {
			c.groupTimer(g, now)
			c.touch(g)
			if c.groups[g.id] != g || g.heapIndex < 0 || g.deadline > now {
				break
			}
		}
		assert.That(c.groups[g.id] != g || g.heapIndex < 0 || g.deadline > now, "group: %q deadline %v not after %v after its timer", g.id, g.deadline, now)
	}
}

// touchLight is touch after a change that can only move g's deadline
// later (a member heard from, offsets committed): the filed deadline stays
// and may wake OnTimer early, which then re-files the exact one. It keeps
// heartbeats and commits O(log groups) instead of O(members).
func (c *Coordinator) touchLight(g *group) {
	if g.forgettable() || (g.heapIndex < 0 && g.deadline == 0 && g.nextDeadline() != 0) {
		c.touch(g)
	}
}

// touch re-files g's deadline in the heap.
func (c *Coordinator) touch(g *group) {
	if c.mode != modeActive && c.mode != modeLoading {
		return
	}
	if c.groups[g.id] == g && g.forgettable() {
		delete(c.groups, g.id)
		delete(c.checked, g.id)
	}
	d := g.nextDeadline()
	switch {
	case c.groups[g.id] != g || d == 0:
		if g.heapIndex >= 0 {
			heap.Remove(&c.timers, g.heapIndex)
		}
		g.deadline = 0
	case g.heapIndex >= 0:
		g.deadline = d
		heap.Fix(&c.timers, g.heapIndex)
	default:
		g.deadline = d
		heap.Push(&c.timers, g)
	}
}

type groupHeap []*group

func (h groupHeap) Len() int { return len(h) }
func (h groupHeap) Less(i, j int) bool {
	if h[i].deadline != h[j].deadline {
		return h[i].deadline < h[j].deadline
	}
	return h[i].id < h[j].id
}
func (h groupHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIndex, h[j].heapIndex = i, j
}
func (h *groupHeap) Push(x any) {
	g := x.(*group)
	g.heapIndex = len(*h)
	*h = append(*h, g)
}
func (h *groupHeap) Pop() any {
	old := *h
	g := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	g.heapIndex = -1
	return g
}
