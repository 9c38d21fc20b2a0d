package broker

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/acl"
	"github.com/weirmq/weir/sm/group"
	"github.com/weirmq/weir/sm/host"
)

// Group coordinators on the broker (issue 12). A broker hosts one
// group.Coordinator for every partition of the offsets topic
// (sm.OffsetsTopic) it leads, as a component of kind host.KindGroup:
//
//   - Created when metadata shows this broker leading the partition at an
//     epoch (registered); replaced when the epoch changes; unloaded and
//     removed when leadership goes (its held requests are answered
//     NOT_COORDINATOR).
//   - Loaded from the partition: once the leader's high watermark has
//     reached its log end (nothing but the coordinator appends to the
//     partition, so the log end is then final for this epoch), the
//     component reads the committed records from the log start with
//     fetches the node delivers to itself, and serves from FinishLoad on.
//   - Its appends are acks=all produces to the partition, delivered to the
//     replica directly (no ACL: the broker itself writes); their answers
//     come back to the node like any message to itself and complete the
//     append: OK is durable (committed), a code that certainly did nothing
//     is Failed (NotLeader when the replica no longer leads), one whose
//     outcome is unknown (a timeout) fences the coordinator, and the node
//     replaces it with one loaded anew.
//   - Snapshots bound the partition: when at least SnapshotBytes of
//     records were appended since the last snapshot and no append is in
//     flight, the component appends the coordinator's whole durable state
//     (Coordinator.Snapshot) as one batch ending in sm.SnapshotMarker;
//     once it commits, the replica may delete the sealed segments below it
//     (partition.SetObsoleteBelow), and followers follow the leader's log
//     start. A state too large for one batch is not snapshotted (the log
//     then grows until it fits again).
//
// Messages a node sends itself (the internal produces' and fetches'
// answers) are held in Node.self and delivered at the end of the Step that
// produced them, so a component is never re-entered.

// GroupsConfig configures the offsets topic and the coordinators a broker
// hosts. Zero values take the defaults below.
type GroupsConfig struct {
	// OffsetsPartitions is the offsets topic's partition count when this
	// broker creates it (Kafka's offsets.topic.num.partitions; default 16).
	// Every broker must use the same value; once the topic exists its own
	// partition count is what counts.
	OffsetsPartitions int32
	// OffsetsReplication is its replication factor (Kafka's
	// offsets.topic.replication.factor; default 3), capped at the brokers
	// registered when it is created.
	OffsetsReplication int32
	// OffsetsSegmentBytes is its segment size on this broker, unless the
	// topic sets segment_bytes (default 16 MiB): snapshots free whole
	// segments only.
	OffsetsSegmentBytes int64
	// SnapshotBytes: a coordinator writes a snapshot once this many bytes
	// of records were appended since the last one (default 4 MiB).
	SnapshotBytes int64
	// Session timeouts a join may ask for (Kafka's
	// group.min/max.session.timeout.ms; defaults 1 s and 30 min), and the
	// delay of an empty group's first rebalance (Kafka's
	// group.initial.rebalance.delay.ms; default 3 s; -1: none).
	SessionTimeoutMin, SessionTimeoutMax sm.Duration
	InitialRebalanceDelay                sm.Duration
	// MembersMax caps one group's members (group.max.size; default 1000);
	// GroupsMax the groups of one coordinator (default 100,000).
	MembersMax, GroupsMax int
	// Retry is how long a coordinator waits to retry a failed load read,
	// and a broker between requests to create the offsets topic (default
	// 1 s).
	Retry sm.Duration
}

// Group defaults (see GroupsConfig).
const (
	DefaultOffsetsPartitions   = 16
	DefaultOffsetsReplication  = 3
	DefaultOffsetsSegmentBytes = 16 << 20
	DefaultGroupSnapshotBytes  = 4 << 20
)

func (g GroupsConfig) withDefaults() GroupsConfig {
	g.OffsetsPartitions = orDefault(g.OffsetsPartitions, DefaultOffsetsPartitions)
	g.OffsetsReplication = orDefault(g.OffsetsReplication, DefaultOffsetsReplication)
	g.OffsetsSegmentBytes = orDefault(g.OffsetsSegmentBytes, DefaultOffsetsSegmentBytes)
	g.SnapshotBytes = orDefault(g.SnapshotBytes, DefaultGroupSnapshotBytes)
	g.SessionTimeoutMin = orDefault(g.SessionTimeoutMin, sm.Second)
	g.SessionTimeoutMax = orDefault(g.SessionTimeoutMax, 1800*sm.Second)
	switch g.InitialRebalanceDelay {
	case 0:
		g.InitialRebalanceDelay = 3 * sm.Second
	case -1:
		g.InitialRebalanceDelay = 0
	}
	g.MembersMax = orDefault(g.MembersMax, 1000)
	g.GroupsMax = orDefault(g.GroupsMax, 100_000)
	g.Retry = orDefault(g.Retry, sm.Second)
	return g
}

func (g GroupsConfig) validate() error {
	switch {
	case g.OffsetsPartitions < 0 || g.OffsetsReplication < 0 || g.OffsetsSegmentBytes < 0 || g.SnapshotBytes < 0:
		return fmt.Errorf("broker: groups: offsets partitions, replication, segment bytes and snapshot bytes must be >= 0 (got %d, %d, %d, %d)",
			g.OffsetsPartitions, g.OffsetsReplication, g.OffsetsSegmentBytes, g.SnapshotBytes)
	case g.SessionTimeoutMin < 0 || g.SessionTimeoutMax < 0 || g.InitialRebalanceDelay < -1 || g.Retry < 0:
		return fmt.Errorf("broker: groups: session timeouts, initial rebalance delay and retry must be >= 0 (got %v, %v, %v, %v)",
			g.SessionTimeoutMin, g.SessionTimeoutMax, g.InitialRebalanceDelay, g.Retry)
	case g.MembersMax < 0 || g.GroupsMax < 0:
		return fmt.Errorf("broker: groups: members max and groups max must be >= 0 (got %d, %d)", g.MembersMax, g.GroupsMax)
	}
	d := g.withDefaults()
	if d.SessionTimeoutMax < d.SessionTimeoutMin {
		return fmt.Errorf("broker: groups: max session timeout %v below the min %v", d.SessionTimeoutMax, d.SessionTimeoutMin)
	}
	return nil
}

func orDefault[T ~int | ~int32 | ~int64](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

func groupKey(tp sm.TopicPartition) host.Key { return host.Key{Kind: host.KindGroup, TP: tp} }

type groupPhase uint8

const (
	groupWaiting groupPhase = iota // the high watermark is below the log end
	groupLoading                   // reading the committed records
	groupServing                   // FinishLoad done
)

// groupHost is one hosted coordinator with what the node tracks for it.
type groupHost struct {
	tp    sm.TopicPartition
	epoch sm.Epoch
	c     *group.Coordinator
	phase groupPhase
	// reloaded: this coordinator replaces a fenced one (a probe at load).
	reloaded bool
	// Loading: the next offset to read, where reading stops, the internal
	// fetch in flight (0: none) and when a failed one is tried again.
	loadNext, loadEnd sm.Offset
	fetchReq          uint64
	retryAt           sm.Time
	// appends in flight, by the ReqID of their produce (= the effect ID).
	appends map[uint64]groupAppend
	// calls held by the coordinator, by handle.
	calls map[group.Handle]groupCall
	// Snapshots: the start of the latest committed one, the record bytes
	// appended since, and the ReqID of a snapshot in flight (0: none).
	snapStart sm.Offset
	sinceSnap int64
	snapReq   uint64
	out       host.Output
}

type groupAppend struct {
	id    sm.EffectID
	bytes int64
}

// groupCall is a client request the coordinator holds: where its answer
// goes and how to build it.
type groupCall struct {
	from  sm.NodeID
	reqID uint64
	// For a multi-group request (DeleteGroups) answered by several
	// coordinators: the node's aggregate.
	multi *groupMulti
}

// groupMulti gathers the per-coordinator answers of one DeleteGroups.
type groupMulti struct {
	from    sm.NodeID
	reqID   uint64
	order   []string
	results map[string]sm.GroupResult
	waiting int
}

func (g *groupHost) TimerAt() sm.Time {
	t := g.retryAt
	if g.phase == groupServing {
		if at := g.c.TimerAt(); at != 0 && (t == 0 || at < t) {
			t = at
		}
	}
	return t
}

// OnTimer runs the coordinator's deadlines; a load retry is the node's
// (onGroupTimer), which calls this first.
func (g *groupHost) OnTimer(now sm.Time) {
	if g.phase == groupServing && g.c.TimerAt() != 0 && now >= g.c.TimerAt() {
		g.c.OnTimer(now)
	}
	if g.retryAt != 0 && now >= g.retryAt {
		g.retryAt = 0
	}
}

func (g *groupHost) OnLogDone(now sm.Time, d sm.LogDone) error {
	return fmt.Errorf("group coordinator of %v issues no log operations (got %d)", g.tp, d.ID)
}

func (g *groupHost) OnLogReadDone(now sm.Time, d sm.LogReadDone) error {
	return fmt.Errorf("group coordinator of %v issues no log reads (got %d)", g.tp, d.ID)
}

func (g *groupHost) TakeOutput() host.Output {
	out := g.out
	g.out = host.Output{}
	return out
}

func (g *groupHost) CheckInvariants() error {
	if g.phase != groupServing {
		return nil
	}
	return g.c.CheckInvariants()
}

// ---- lifecycle ---------------------------------------------------------------

// syncGroup creates, replaces or removes tp's coordinator to match the
// replica's leadership; a fenced coordinator is replaced too.
func (n *Node) syncGroup(tp sm.TopicPartition) {
	if tp.Topic != sm.OffsetsTopic {
		return
	}
	p := n.parts[tp]
	g := n.groups[tp]
	leading, epoch := false, sm.Epoch(0)
	if p != nil {
		leading, epoch = p.Leading()
	}
	want := leading && n.registered && p.Damaged() == ""
	reload := g != nil && g.phase == groupServing && g.c.NeedsReload()
	if g != nil && (!want || g.epoch != epoch || reload) {
		n.dropGroup(tp)
		g = nil
	}
	if !want || g != nil {
		return
	}
	cfg := group.DefaultConfig()
	gc := n.cfg.Groups
	cfg.Partition, cfg.Partitions, cfg.Epoch = tp.Partition, n.offsetsPartitions(), int64(epoch)
	// Unique among this partition's coordinators of this epoch: the
	// process (incarnations grow with every restart) and its count of
	// coordinators created.
	n.coordinators++
	cfg.Instance = strconv.FormatUint(n.cfg.Incarnation, 36) + "." + strconv.FormatUint(n.coordinators, 36)
	cfg.SessionTimeoutMin, cfg.SessionTimeoutMax, cfg.InitialRebalanceDelay = gc.SessionTimeoutMin, gc.SessionTimeoutMax, gc.InitialRebalanceDelay
	cfg.MembersMax, cfg.GroupsMax = gc.MembersMax, gc.GroupsMax
	// A group's record, and a member's metadata, must fit one record.
	cfg.GroupRecordBytesMax = min(cfg.GroupRecordBytesMax, n.cfg.MaxRecordBytes-1024)
	cfg.ProtocolMetadataBytesMax = min(cfg.ProtocolMetadataBytesMax, cfg.GroupRecordBytesMax)
	cfg.IDs = &n.hosts.IDs
	c, err := group.New(cfg)
	if err != nil {
		n.fatal = fmt.Sprintf("broker: group coordinator of %v: %v", tp, err)
		return
	}
	g = &groupHost{tp: tp, epoch: epoch, c: c, reloaded: reload, appends: map[uint64]groupAppend{}, calls: map[group.Handle]groupCall{}}
	if reload {
		n.probe(sm.ProbeCoordinatorReloaded)
	}
	n.groups[tp] = g
	n.hosts.Add(groupKey(tp), g)
	n.loadGroup(g)
	n.settle(groupKey(tp))
}

// offsetsPartitions is the offsets topic's partition count: the topic's
// own once it exists.
func (n *Node) offsetsPartitions() int32 {
	if t, ok := n.meta.Topic(sm.OffsetsTopic); ok && t.Partitions > 0 {
		return t.Partitions
	}
	return n.cfg.Groups.OffsetsPartitions
}

// dropGroup unloads and removes tp's coordinator: held requests get
// NOT_COORDINATOR; answers to its appends and fetches still in flight find
// nobody.
func (n *Node) dropGroup(tp sm.TopicPartition) {
	g := n.groups[tp]
	if g == nil {
		return
	}
	g.c.Unload()
	n.pumpGroup(g)
	n.settle(groupKey(tp))
	n.hosts.Remove(groupKey(tp))
	delete(n.groups, tp)
}

// loadGroup moves a loading coordinator on: waits for the high watermark,
// reads the next chunk, or finishes.
func (n *Node) loadGroup(g *groupHost) {
	if g.phase == groupServing || g.fetchReq != 0 || g.retryAt != 0 {
		return
	}
	p := n.parts[g.tp]
	st := p.Status()
	if g.phase == groupWaiting {
		if st.HW < st.LEO || !n.leased() {
			return // drain calls again as the high watermark moves
		}
		g.phase, g.loadNext, g.loadEnd = groupLoading, st.LogStart, st.HW
	}
	if g.loadNext >= g.loadEnd {
		g.c.FinishLoad(n.now)
		g.phase = groupServing
		n.probe(sm.ProbeCoordinatorLoaded)
		if g.snapStart > 0 {
			p.SetObsoleteBelow(g.snapStart)
			n.settle(host.PartitionKey(g.tp))
		}
		n.pumpGroup(g)
		return
	}
	n.selfReq++
	g.fetchReq = n.selfReq
	p.OnFetch(n.now, n.cfg.ID, sm.FetchRequest{ReqID: g.fetchReq, TP: g.tp, Offset: g.loadNext, CurrentLeaderEpoch: g.epoch})
	n.drain(g.tp)
}

// onGroupFetch takes a load read's answer.
func (n *Node) onGroupFetch(m sm.FetchResponse) {
	g := n.groups[m.TP]
	if g == nil || g.fetchReq == 0 || m.ReqID != g.fetchReq {
		return // a coordinator that is gone, or a stale answer
	}
	g.fetchReq = 0
	switch {
	case m.Code == sm.CodeOffsetOutOfRange && m.LogStart > g.loadNext:
		// Retention moved the log start (below a snapshot): what is gone
		// was obsolete.
		g.loadNext = m.LogStart
	case m.Code != sm.CodeOK || len(m.Batches) == 0:
		g.retryAt = n.now.Add(n.cfg.Groups.Retry)
		n.settle(groupKey(g.tp))
		return
	}
	var recs []sm.Record
	for i := range m.Batches {
		b := &m.Batches[i]
		if b.NextOffset() <= g.loadNext || b.BaseOffset >= g.loadEnd {
			continue
		}
		if start, ok := sm.SnapshotStart(b); ok && b.BaseOffset >= g.loadNext {
			g.snapStart, g.sinceSnap = start, 0
		} else {
			g.sinceSnap += recordBytes(b.Records)
		}
		brecs, err := b.Decode(n.cfg.Compressor, sm.BatchFrameMax)
		if err != nil {
			n.probe(sm.ProbeGroupAppendFailed) // a batch that does not decode: left out
		}
		for j, r := range brecs {
			if off := b.BaseOffset + sm.Offset(j); off >= g.loadNext && off < g.loadEnd {
				recs = append(recs, r)
			}
		}
		g.loadNext = max(g.loadNext, b.NextOffset())
	}
	if rep := g.c.Load(recs); len(rep.Skipped) > 0 {
		n.probe(sm.ProbeGroupAppendFailed) // records that do not decode: left out
	}
	n.loadGroup(g)
	n.settle(groupKey(g.tp))
}

func recordBytes(recs []sm.Record) int64 {
	var b int64
	for _, r := range recs {
		b += int64(sm.RecordBytes(r))
	}
	return b
}

// ---- appends -----------------------------------------------------------------

// pumpGroup carries out what the coordinator asked for: its appends as
// produces to the replica, its replies as messages; then a snapshot if one
// is due.
func (n *Node) pumpGroup(g *groupHost) {
	for {
		out := g.c.TakeOutput()
		if len(out.Appends) == 0 && len(out.Replies) == 0 {
			break
		}
		for _, a := range out.Appends {
			g.appends[uint64(a.ID)] = groupAppend{id: a.ID, bytes: recordBytes(a.Records)}
			n.groupProduce(g, uint64(a.ID), a.Records)
		}
		for _, r := range out.Replies {
			n.groupReply(g, r)
		}
	}
	n.maybeSnapshot(g)
}

func (n *Node) groupProduce(g *groupHost, reqID uint64, recs []sm.Record) {
	p := n.parts[g.tp]
	if p == nil {
		return
	}
	p.OnProduce(n.now, n.cfg.ID, sm.ProduceRequest{ReqID: reqID, TP: g.tp, Acks: sm.Acks{Kind: sm.AckAll}, Records: recs})
	n.drain(g.tp)
}

// maybeSnapshot appends a snapshot when one is due and nothing is in
// flight (so the snapshot restates everything before it in the log).
func (n *Node) maybeSnapshot(g *groupHost) {
	if g.phase != groupServing || g.snapReq != 0 || len(g.appends) > 0 || g.sinceSnap < n.cfg.Groups.SnapshotBytes || g.c.NeedsReload() {
		return
	}
	recs := g.c.Snapshot()
	recs = append(recs, sm.SnapshotMarker(int64(len(recs))))
	if sm.FrameBytes(recs) > n.cfg.MaxBatchBytes {
		return // too large for one batch: the log grows (see the comment above)
	}
	for _, r := range recs {
		if len(r.Key)+len(r.Value) > n.cfg.MaxRecordBytes {
			return
		}
	}
	g.snapReq = uint64(n.hosts.IDs.Next())
	n.groupProduce(g, g.snapReq, recs)
}

// onGroupProduce completes an append (or a snapshot) from the replica's
// answer.
func (n *Node) onGroupProduce(m sm.ProduceResponse) {
	g := n.groups[m.TP]
	if g == nil {
		return
	}
	if m.ReqID == g.snapReq && g.snapReq != 0 {
		g.snapReq = 0
		if m.Code == sm.CodeOK {
			g.snapStart, g.sinceSnap = m.BaseOffset, 0
			n.parts[g.tp].SetObsoleteBelow(m.BaseOffset)
			n.probe(sm.ProbeGroupSnapshotWritten)
			n.drain(g.tp)
		}
		n.settle(groupKey(g.tp))
		return
	}
	a, ok := g.appends[m.ReqID]
	if !ok {
		return
	}
	delete(g.appends, m.ReqID)
	d := group.Appended{ID: a.id, Outcome: sm.OutcomeOK}
	switch {
	case m.Code == sm.CodeOK:
		g.sinceSnap += a.bytes
	case m.Code.Unknown():
		d.Outcome, d.Reason = sm.OutcomeUnknown, fmt.Sprintf("append of group state to %v: %v %s", g.tp, m.Code, m.Message)
	default:
		d.Outcome, d.Reason = sm.OutcomeFailed, fmt.Sprintf("append of group state to %v refused: %v %s", g.tp, m.Code, m.Message)
		d.NotLeader = m.Code == sm.CodeNotLeader || m.Code == sm.CodeFencedLeaderEpoch || m.Code == sm.CodeLeaderNotAvailable
	}
	if d.Outcome != sm.OutcomeOK {
		n.probe(sm.ProbeGroupAppendFailed)
	}
	g.c.OnAppended(n.now, d)
	n.pumpGroup(g)
	n.settle(groupKey(g.tp))
	if g.c.NeedsReload() {
		n.syncGroup(g.tp)
	}
}

// deliverSelf hands the node the messages it sent itself.
func (n *Node) deliverSelf() {
	for len(n.self) > 0 && n.fatal == "" {
		msgs := n.self
		n.self = nil
		for _, m := range msgs {
			switch m := m.(type) {
			case sm.ProduceResponse:
				n.onGroupProduce(m)
			case sm.FetchResponse:
				n.onGroupFetch(m)
			}
		}
	}
}

// onGroupTimer runs a coordinator's deadlines and a load retry.
func (n *Node) onGroupTimer(tp sm.TopicPartition) {
	g := n.groups[tp]
	g.OnTimer(n.now)
	if g.phase != groupServing {
		n.loadGroup(g)
	} else {
		n.pumpGroup(g)
	}
	n.settle(groupKey(tp))
}

// ---- requests ----------------------------------------------------------------

// onGroupRequest routes a client's group request: FindCoordinator and
// ListGroups here, the rest to the coordinator of the group named.
func (n *Node) onGroupRequest(ev sm.Received) {
	switch m := ev.Msg.(type) {
	case sm.FindCoordinatorRequest:
		n.findCoordinator(ev, m)
		return
	case sm.ListGroupsRequest:
		n.listGroups(ev, m)
		return
	case sm.DescribeGroupsRequest:
		n.describeGroups(ev, m)
		return
	case sm.DeleteGroupsRequest:
		n.deleteGroups(ev, m)
		return
	}
	id := sm.GroupOf(ev.Msg)
	op := acl.OpRead
	if _, ok := ev.Msg.(sm.OffsetFetchRequest); ok {
		op = acl.OpDescribe
	}
	if !n.groupAllowed(ev, id, op) {
		return
	}
	if !n.topicsAllowed(ev) {
		return
	}
	g, code, msg := n.coordinatorFor(id)
	if code != sm.CodeOK {
		n.refuseGroup(ev, code, msg)
		return
	}
	h := n.groupHandle(g, ev)
	switch m := ev.Msg.(type) {
	case sm.JoinGroupRequest:
		protos := make([]group.Protocol, len(m.Protocols))
		for i, p := range m.Protocols {
			protos[i] = group.Protocol{Name: p.Name, Metadata: p.Metadata}
		}
		g.c.Join(h, n.now, group.JoinRequest{GroupID: m.GroupID, MemberID: m.MemberID, GroupInstanceID: m.GroupInstanceID,
			ClientID: m.ClientID, ClientHost: clientHost(ev), ProtocolType: m.ProtocolType, Protocols: protos,
			SessionTimeout: m.SessionTimeout, RebalanceTimeout: m.RebalanceTimeout, RequireKnownMemberID: m.RequireKnownMemberID})
	case sm.SyncGroupRequest:
		as := make([]group.MemberAssignment, len(m.Assignments))
		for i, a := range m.Assignments {
			as[i] = group.MemberAssignment{MemberID: a.MemberID, Assignment: a.Assignment}
		}
		g.c.Sync(h, n.now, group.SyncRequest{GroupID: m.GroupID, Generation: m.Generation, MemberID: m.MemberID,
			GroupInstanceID: m.GroupInstanceID, ProtocolType: m.ProtocolType, Protocol: m.Protocol, Assignments: as})
	case sm.HeartbeatRequest:
		g.c.Heartbeat(h, n.now, group.HeartbeatRequest{GroupID: m.GroupID, Generation: m.Generation, MemberID: m.MemberID, GroupInstanceID: m.GroupInstanceID})
	case sm.LeaveGroupRequest:
		ms := make([]group.LeavingMember, len(m.Members))
		for i, x := range m.Members {
			ms[i] = group.LeavingMember{MemberID: x.MemberID, GroupInstanceID: x.GroupInstanceID}
		}
		g.c.Leave(h, n.now, group.LeaveRequest{GroupID: m.GroupID, Members: ms})
	case sm.OffsetCommitRequest:
		os := make([]group.OffsetCommit, len(m.Offsets))
		for i, o := range m.Offsets {
			os[i] = group.OffsetCommit{TP: o.TP, Offset: o.Offset, LeaderEpoch: o.LeaderEpoch, Metadata: o.Metadata}
		}
		if m.Reset {
			g.c.ResetOffsets(h, n.now, group.ResetRequest{GroupID: m.GroupID, Offsets: os}, watermarks{n})
		} else {
			g.c.Commit(h, n.now, group.CommitRequest{GroupID: m.GroupID, Generation: m.Generation, MemberID: m.MemberID,
				GroupInstanceID: m.GroupInstanceID, Seek: m.Seek, Offsets: os}, watermarks{n})
		}
	case sm.OffsetFetchRequest:
		delete(g.calls, h) // answered at once
		r := g.c.FetchOffsets(m.GroupID, m.Partitions)
		resp := sm.OffsetFetchResponse{ReqID: m.ReqID, Code: r.Code.Wire(), Message: r.Message}
		for _, f := range r.Partitions {
			resp.Offsets = append(resp.Offsets, sm.CommittedOffset{TP: f.TP, Offset: f.Offset, LeaderEpoch: f.LeaderEpoch, Metadata: f.Metadata, Code: f.Code.Wire()})
		}
		n.send(ev.From, resp)
	}
	n.pumpGroup(g)
	n.settle(groupKey(g.tp))
}

// clientHost is how a member's client is shown in describes: its address
// (Kafka shows "/10.0.0.7"), or its node ID where the transport gave none.
func clientHost(ev sm.Received) string {
	if ev.Source.IsValid() {
		return "/" + ev.Source.String()
	}
	return ev.From.String()
}

// coordinatorFor finds the hosted coordinator of group id, serving.
func (n *Node) coordinatorFor(id string) (*groupHost, sm.Code, string) {
	if id == "" {
		return nil, sm.CodeInvalidGroupID, "group ID must not be empty"
	}
	if _, ok := n.meta.Topic(sm.OffsetsTopic); !ok {
		return nil, sm.CodeCoordinatorNotAvailable, "the offsets topic does not exist yet: send FindCoordinator"
	}
	tp := sm.TopicPartition{Topic: sm.OffsetsTopic, Partition: group.PartitionFor(id, n.offsetsPartitions())}
	g := n.groups[tp]
	switch {
	case g == nil:
		return nil, sm.CodeNotCoordinator, fmt.Sprintf("broker %v does not lead %v, which coordinates group %q", n.cfg.ID, tp, id)
	case !n.leased():
		n.probe(sm.ProbeLeaseExpired)
		return nil, sm.CodeCoordinatorNotAvailable, leaseExpired
	case g.phase != groupServing:
		return nil, sm.CodeCoordinatorLoadInProgress, fmt.Sprintf("the coordinator of %v is loading", tp)
	}
	return g, sm.CodeOK, ""
}

// groupHandle registers a request the coordinator will answer.
func (n *Node) groupHandle(g *groupHost, ev sm.Received) group.Handle {
	n.groupSeq++
	h := group.Handle(n.groupSeq)
	g.calls[h] = groupCall{from: ev.From, reqID: reqIDOf(ev.Msg)}
	return h
}

func reqIDOf(m sm.Message) uint64 {
	switch r := m.(type) {
	case sm.JoinGroupRequest:
		return r.ReqID
	case sm.SyncGroupRequest:
		return r.ReqID
	case sm.HeartbeatRequest:
		return r.ReqID
	case sm.LeaveGroupRequest:
		return r.ReqID
	case sm.OffsetCommitRequest:
		return r.ReqID
	case sm.OffsetFetchRequest:
		return r.ReqID
	case sm.DeleteGroupsRequest:
		return r.ReqID
	}
	return 0
}

// groupReply turns a coordinator reply into the client's answer.
func (n *Node) groupReply(g *groupHost, r group.Reply) {
	call, ok := g.calls[r.To]
	if !ok {
		return
	}
	delete(g.calls, r.To)
	if call.multi != nil {
		n.multiDone(call.multi, r.Body)
		return
	}
	var msg sm.Message
	switch b := r.Body.(type) {
	case group.JoinResponse:
		if b.Code == group.None && b.Generation > 1 && b.Leader == b.MemberID {
			n.probe(sm.ProbeGroupRebalanced)
		}
		resp := sm.JoinGroupResponse{ReqID: call.reqID, Code: b.Code.Wire(), Message: b.Message, Generation: b.Generation,
			ProtocolType: b.ProtocolType, Protocol: b.Protocol, Leader: b.Leader, MemberID: b.MemberID}
		for _, m := range b.Members {
			resp.Members = append(resp.Members, sm.GroupMemberMetadata{MemberID: m.MemberID, InstanceID: m.InstanceID, Metadata: m.Metadata})
		}
		msg = resp
	case group.SyncResponse:
		msg = sm.SyncGroupResponse{ReqID: call.reqID, Code: b.Code.Wire(), Message: b.Message, ProtocolType: b.ProtocolType, Protocol: b.Protocol, Assignment: b.Assignment}
	case group.HeartbeatResponse:
		msg = sm.HeartbeatResponse{ReqID: call.reqID, Code: b.Code.Wire(), Message: b.Message}
	case group.LeaveResponse:
		resp := sm.LeaveGroupResponse{ReqID: call.reqID, Code: b.Code.Wire(), Message: b.Message}
		for _, m := range b.Members {
			resp.Members = append(resp.Members, sm.GroupMemberResult{MemberID: m.MemberID, GroupInstanceID: m.GroupInstanceID, Code: m.Code.Wire(), Message: m.Message})
		}
		msg = resp
	case group.CommitResponse:
		if b.Code == group.IllegalGeneration {
			n.probe(sm.ProbeStaleGenerationCommit)
		}
		resp := sm.OffsetCommitResponse{ReqID: call.reqID, Code: b.Code.Wire(), Message: b.Message}
		for _, p := range b.Partitions {
			resp.Partitions = append(resp.Partitions, sm.PartitionResult{TP: p.TP, Code: p.Code.Wire(), Message: p.Message})
		}
		msg = resp
	case group.DeleteResponse:
		resp := sm.DeleteGroupsResponse{ReqID: call.reqID}
		for _, x := range b.Groups {
			resp.Groups = append(resp.Groups, sm.GroupResult{GroupID: x.GroupID, Code: x.Code.Wire(), Message: x.Message})
		}
		msg = resp
	default:
		return
	}
	n.send(call.from, msg)
}

// findCoordinator names the broker leading the group's offsets partition,
// creating the offsets topic on the first request.
func (n *Node) findCoordinator(ev sm.Received, m sm.FindCoordinatorRequest) {
	if m.GroupID == "" {
		n.refuseGroup(ev, sm.CodeInvalidGroupID, "group ID must not be empty")
		return
	}
	if !n.groupAllowed(ev, m.GroupID, acl.OpDescribe) {
		return
	}
	resp := sm.FindCoordinatorResponse{ReqID: m.ReqID, Coordinator: sm.NoNode, Partition: -1}
	t, ok := n.meta.Topic(sm.OffsetsTopic)
	if !ok {
		n.createOffsetsTopic()
		resp.Code, resp.Message = sm.CodeCoordinatorNotAvailable, "the offsets topic is being created: retry"
		n.send(ev.From, resp)
		return
	}
	tp := sm.TopicPartition{Topic: sm.OffsetsTopic, Partition: group.PartitionFor(m.GroupID, t.Partitions)}
	resp.Partition = tp.Partition
	leader, _ := n.meta.Leader(tp)
	if leader == sm.NoNode {
		resp.Code, resp.Message = sm.CodeCoordinatorNotAvailable, fmt.Sprintf("%v has no leader", tp)
	} else {
		resp.Coordinator = leader
	}
	n.send(ev.From, resp)
}

// createOffsetsTopic asks the controller to create the offsets topic, at
// most once per Retry.
func (n *Node) createOffsetsTopic() {
	if n.createdAt != 0 && n.now < n.createdAt.Add(n.cfg.Groups.Retry) {
		return
	}
	n.createdAt = max(n.now, 1)
	rf := n.cfg.Groups.OffsetsReplication
	live := int32(0)
	for _, b := range n.meta.Brokers() {
		if n.meta.Live(b.ID) {
			live++
		}
	}
	if live > 0 && live < rf {
		rf = live
	}
	n.probe(sm.ProbeOffsetsTopicCreateRequested)
	n.selfReq++
	n.send(n.ctrl, sm.CreateTopicRequest{ReqID: n.selfReq, Name: sm.OffsetsTopic, Partitions: n.cfg.Groups.OffsetsPartitions,
		ReplicationFactor: rf, CreatedAtMs: n.cfg.WallClockAtStart + int64(n.now)/int64(sm.Millisecond),
		// Two in-sync copies (one with a single replica) before a group's
		// state counts as stored, whatever the cluster's default: group
		// state is as durable as an acks=all record of a topic with min
		// ISR 2 (the simulator found the controllers' default of 1 losing
		// it with a disk).
		Config: sm.TopicConfig{RetentionMs: -1, RetentionBytes: -1, MinInSyncReplicas: min(2, rf)}})
}

// onCreateTopicResponse follows the controller's answer to the offsets
// topic's creation: a leader hint for the next try.
func (n *Node) onCreateTopicResponse(from sm.NodeID, m sm.CreateTopicResponse) {
	if m.Code == sm.CodeNotLeader && from == n.ctrl && m.LeaderHint != sm.NoNode {
		n.ctrl = m.LeaderHint
		n.createdAt = 0 // try the leader at the next FindCoordinator
	}
}

// listGroups lists the groups of every coordinator this broker hosts that
// the principal may describe.
func (n *Node) listGroups(ev sm.Received, m sm.ListGroupsRequest) {
	resp := sm.ListGroupsResponse{ReqID: m.ReqID}
	if !n.leased() {
		resp.Code, resp.Message = sm.CodeCoordinatorNotAvailable, leaseExpired
		n.send(ev.From, resp)
		return
	}
	for _, tp := range slices.SortedFunc(maps.Keys(n.groups), sm.CompareTP) {
		g := n.groups[tp]
		if g.phase != groupServing {
			resp.Code, resp.Message = sm.CodeCoordinatorLoadInProgress, fmt.Sprintf("the coordinator of %v is loading", tp)
			continue
		}
		for _, l := range g.c.List().Groups {
			if n.authorizeGroup(ev, l.GroupID, acl.OpDescribe).Allowed {
				resp.Groups = append(resp.Groups, sm.GroupListing{GroupID: l.GroupID, ProtocolType: l.ProtocolType, State: l.State.String()})
			}
		}
	}
	slices.SortFunc(resp.Groups, func(a, b sm.GroupListing) int { return cmp.Compare(a.GroupID, b.GroupID) })
	n.send(ev.From, resp)
}

// describeGroups describes each group by its coordinator here.
func (n *Node) describeGroups(ev sm.Received, m sm.DescribeGroupsRequest) {
	resp := sm.DescribeGroupsResponse{ReqID: m.ReqID}
	for _, id := range m.GroupIDs {
		d := sm.GroupDescription{GroupID: id}
		if dec := n.authorizeGroup(ev, id, acl.OpDescribe); !dec.Allowed {
			d.Code, d.Message = sm.CodeGroupAuthorizationFailed, n.deniedGroup(ev, id, acl.OpDescribe, dec)
			resp.Groups = append(resp.Groups, d)
			continue
		}
		g, code, msg := n.coordinatorFor(id)
		if code != sm.CodeOK {
			d.Code, d.Message = code, msg
			resp.Groups = append(resp.Groups, d)
			continue
		}
		gd := g.c.Describe([]string{id})[0]
		d = sm.GroupDescription{GroupID: id, Code: gd.Code.Wire(), Message: gd.Message, State: gd.State.String(), ProtocolType: gd.ProtocolType,
			Protocol: gd.Protocol, Generation: gd.Generation, Leader: gd.Leader}
		if gd.Code != group.None {
			d.State = ""
		}
		for _, x := range gd.Members {
			d.Members = append(d.Members, sm.GroupMember{MemberID: x.MemberID, InstanceID: x.InstanceID, ClientID: x.ClientID,
				ClientHost: x.ClientHost, Metadata: x.Metadata, Assignment: x.Assignment})
		}
		resp.Groups = append(resp.Groups, d)
	}
	n.send(ev.From, resp)
}

// deleteGroups deletes each group through its coordinator here; the answer
// waits for all of them.
func (n *Node) deleteGroups(ev sm.Received, m sm.DeleteGroupsRequest) {
	mu := &groupMulti{from: ev.From, reqID: m.ReqID, order: m.GroupIDs, results: map[string]sm.GroupResult{}}
	byCoord := map[sm.TopicPartition][]string{}
	named := map[string]bool{}
	for _, id := range m.GroupIDs {
		_, seen := mu.results[id]
		if seen || named[id] {
			mu.results[id] = sm.GroupResult{GroupID: id, Code: sm.CodeInvalidRequest, Message: fmt.Sprintf("group %q named twice", id)}
			continue
		}
		if dec := n.authorizeGroup(ev, id, acl.OpDelete); !dec.Allowed {
			mu.results[id] = sm.GroupResult{GroupID: id, Code: sm.CodeGroupAuthorizationFailed, Message: n.deniedGroup(ev, id, acl.OpDelete, dec)}
			continue
		}
		g, code, msg := n.coordinatorFor(id)
		if code != sm.CodeOK {
			mu.results[id] = sm.GroupResult{GroupID: id, Code: code, Message: msg}
			continue
		}
		byCoord[g.tp] = append(byCoord[g.tp], id)
		named[id] = true
	}
	mu.waiting = len(byCoord)
	if mu.waiting == 0 {
		n.multiSend(mu)
		return
	}
	for _, tp := range slices.SortedFunc(maps.Keys(byCoord), sm.CompareTP) {
		g := n.groups[tp]
		n.groupSeq++
		h := group.Handle(n.groupSeq)
		g.calls[h] = groupCall{from: ev.From, reqID: m.ReqID, multi: mu}
		g.c.Delete(h, n.now, byCoord[tp])
		n.pumpGroup(g)
		n.settle(groupKey(tp))
	}
}

// multiDone takes one coordinator's part of a DeleteGroups answer.
func (n *Node) multiDone(mu *groupMulti, body group.Response) {
	if b, ok := body.(group.DeleteResponse); ok {
		for _, x := range b.Groups {
			mu.results[x.GroupID] = sm.GroupResult{GroupID: x.GroupID, Code: x.Code.Wire(), Message: x.Message}
		}
	}
	if mu.waiting--; mu.waiting == 0 {
		n.multiSend(mu)
	}
}

func (n *Node) multiSend(mu *groupMulti) {
	resp := sm.DeleteGroupsResponse{ReqID: mu.reqID}
	for _, id := range mu.order {
		r, ok := mu.results[id]
		if !ok {
			r = sm.GroupResult{GroupID: id, Code: sm.CodeCoordinatorNotAvailable, Message: "no answer from the coordinator"}
		}
		resp.Groups = append(resp.Groups, r)
	}
	n.send(mu.from, resp)
}

// refuseGroup answers a group request whole with code.
func (n *Node) refuseGroup(ev sm.Received, code sm.Code, msg string) {
	if reply, ok := sm.RefuseGroup(ev.Msg, code, msg); ok {
		n.send(ev.From, reply)
	}
}

// ---- authorization -----------------------------------------------------------

// authorizeGroup decides one operation on a group for the request in ev.
func (n *Node) authorizeGroup(ev sm.Received, id string, op acl.Operation) acl.Decision {
	return n.authz.a.Authorize(acl.Request{
		Principal: ev.Principal, Resource: acl.Resource{Type: acl.ResourceGroup, Name: id}, Operation: op,
		Source: ev.Source, Time: acl.TimeOfDayFromUnixNano((n.cfg.WallClockAtStart + int64(n.now)/int64(sm.Millisecond)) * 1e6),
	})
}

// groupAllowed checks op on the group, answering a refusal
// (GROUP_AUTHORIZATION_FAILED, audited) itself.
func (n *Node) groupAllowed(ev sm.Received, id string, op acl.Operation) bool {
	if !n.leased() {
		return true // the coordinator answers; rules may be old (see routeClient)
	}
	d := n.authorizeGroup(ev, id, op)
	if d.Allowed {
		return true
	}
	msg := n.deniedGroup(ev, id, op, d)
	n.rd.Security = append(n.rd.Security, sm.SecurityEvent{Kind: sm.SecurityDenied, Principal: ev.Principal, Source: ev.Source,
		Resource: "group:" + id, Operation: op.String(), RuleID: uint64(d.RuleID), Reason: d.Reason.String(), Message: msg})
	n.refuseGroup(ev, sm.CodeGroupAuthorizationFailed, msg)
	return false
}

// topicsAllowed checks that a commit's or an offset fetch's topics may be
// read (commit) or described (fetch); a refusal answers the whole request
// TOPIC_AUTHORIZATION_FAILED.
func (n *Node) topicsAllowed(ev sm.Received) bool {
	var tps []sm.TopicPartition
	op := acl.OpRead
	switch m := ev.Msg.(type) {
	case sm.OffsetCommitRequest:
		for _, o := range m.Offsets {
			tps = append(tps, o.TP)
		}
	case sm.OffsetFetchRequest:
		tps, op = m.Partitions, acl.OpDescribe
	}
	if !n.leased() {
		return true
	}
	for _, tp := range tps {
		if d := n.authorize(ev, tp.Topic, op); !d.Allowed {
			msg := n.denied(ev, tp.Topic, op, d)
			n.audit(ev, tp.Topic, op, d, msg)
			n.refuseGroup(ev, sm.CodeTopicAuthorizationFailed, msg)
			return false
		}
	}
	return true
}

// deniedGroup is the Message of a GROUP_AUTHORIZATION_FAILED answer.
func (n *Node) deniedGroup(ev sm.Received, id string, op acl.Operation, d acl.Decision) string {
	who := ev.Principal
	if who == "" {
		who = "(no principal)"
	}
	msg := fmt.Sprintf("principal %q may not %v group %q (%v", who, op, id, d.Reason)
	if d.RuleID != 0 {
		msg += fmt.Sprintf(", rule %d", d.RuleID)
	}
	return msg + ")"
}

// ---- watermarks and codes ----------------------------------------------------

// watermarks is the node's view of high watermarks for the coordinator's
// commit checks: exact for partitions this broker leads; for the rest only
// existence is known (the leader holds the high watermark), so any offset
// passes the upper bound there.
type watermarks struct{ n *Node }

func (w watermarks) HighWatermark(tp sm.TopicPartition) (sm.Offset, bool) {
	if !w.n.meta.Known(tp) {
		return 0, false
	}
	if p := w.n.parts[tp]; p != nil {
		if leading, _ := p.Leading(); leading {
			return p.Status().HW, true
		}
	}
	return sm.Offset(1<<62 - 1), true
}
