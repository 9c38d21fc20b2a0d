package sdk

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/group/assign"
)

// A group consumer (ConsumerConfig.Group set) has its partitions assigned
// by its group, Kafka's classic consumer protocol:
//
//   - The first Poll (or Receive) starts the membership goroutine: it finds
//     the group's coordinator, joins (KIP-394: the first join is answered
//     MEMBER_ID_REQUIRED with the member ID to join again with), and, when
//     the coordinator names this consumer the group's leader, runs the
//     assignor (sm/group/assign) over every member's subscription and the
//     topics' partition counts from metadata; then it syncs, receiving its
//     assignment once the coordinator has stored it.
//   - Newly assigned partitions start from the group's committed offsets
//     (OffsetFetch), or, without one, from StartOffset; then OnAssigned
//     runs and Poll reads them.
//   - It heartbeats every HeartbeatInterval. REBALANCE_IN_PROGRESS means
//     join again: with "range" (eager) every partition is first revoked
//     (committed when AutoCommit, then OnRevoked); with
//     "cooperative-sticky" the consumer keeps reading what it owns while
//     it rejoins, and after the sync revokes only the partitions the new
//     assignment took away, then joins once more so the leader can hand
//     them to their new owner (KIP-429).
//   - ILLEGAL_GENERATION and UNKNOWN_MEMBER_ID (the group moved on without
//     it: it was out of touch longer than the session timeout) lose every
//     partition (OnLost; nothing can be committed for them) and the
//     consumer joins again, as a new member for UNKNOWN_MEMBER_ID; so does
//     a consumer that has had no heartbeat answered for SessionTimeout.
//     FENCED_INSTANCE_ID and the coordinator's refusals of the
//     configuration (ErrInvalidGroup) end the membership: Poll returns
//     the error.
//   - With AutoCommit, the positions the application has been given are
//     committed every AutoCommitInterval, before partitions are revoked,
//     and at Close: for Poll, the records a Poll returned count as given
//     once Poll is called again (Close counts all); with Mark or Receive,
//     what was marked or acknowledged. Close then leaves the group (a
//     static member, InstanceID set, does not: it keeps its assignment
//     through a restart within the session timeout).

// consumerProtocolType is the protocol type of consumer groups.
const consumerProtocolType = "consumer"

// StartOffset is where a group consumer starts reading a partition for
// which the group has no committed offset.
type StartOffset uint8

const (
	// StartEarliest reads from the log start: nothing is skipped. It is the
	// zero value.
	StartEarliest StartOffset = iota
	// StartLatest reads only records committed after the partition was
	// assigned (its high watermark then).
	StartLatest
)

func (s StartOffset) String() string {
	switch s {
	case StartEarliest:
		return "earliest"
	case StartLatest:
		return "latest"
	}
	return fmt.Sprintf("StartOffset(%d)", uint8(s))
}

// RebalanceFunc is a rebalance callback: the partitions assigned, revoked
// or lost. Callbacks run on the consumer's membership goroutine, one at a
// time, and no heartbeat is sent while one runs: keep them well within
// SessionTimeout. ctx ends when the consumer closes. They may call the
// consumer's methods (Commit, Seek, Position, Pause) but not Close, which
// waits for them.
type RebalanceFunc func(ctx context.Context, tps []TopicPartition)

// Group consumer defaults.
const (
	DefaultSessionTimeout     = 10 * time.Second
	DefaultRebalanceTimeout   = 30 * time.Second
	DefaultAutoCommitInterval = 5 * time.Second
	// DefaultAssignor is ConsumerConfig.Assignor's default.
	DefaultAssignor = assign.CooperativeStickyName
)

// initialRebalanceDelay is the brokers' hold on an empty group's first
// join phase (Kafka's group.initial.rebalance.delay.ms), part of the wait
// for a join reply.
const initialRebalanceDelay = 3 * time.Second

// groupConfig checks and completes the group fields of cfg.
func groupConfig(cfg ConsumerConfig) (ConsumerConfig, assign.Assignor, error) {
	bad := func(format string, args ...any) (ConsumerConfig, assign.Assignor, error) {
		return cfg, nil, fmt.Errorf("%w: ConsumerConfig.%s", ErrInvalidRequest, fmt.Sprintf(format, args...))
	}
	if cfg.Group == "" {
		switch {
		case len(cfg.Topics) > 0:
			return bad("Topics needs Group (without a group, Assign or AssignTopic say what to read)")
		case cfg.AutoCommit || cfg.InstanceID != "" || cfg.OnAssigned != nil || cfg.OnRevoked != nil || cfg.OnLost != nil:
			return bad("AutoCommit, InstanceID and the rebalance callbacks need Group")
		}
		return cfg, nil, nil
	}
	switch {
	case len(cfg.Group) > 32767:
		return bad("Group is %d bytes (at most 32767)", len(cfg.Group))
	case len(cfg.Topics) == 0:
		return bad("Topics is empty: a group consumer subscribes to at least one topic")
	case cfg.SessionTimeout < 0 || cfg.HeartbeatInterval < 0 || cfg.RebalanceTimeout < 0 || cfg.AutoCommitInterval < 0:
		return bad("SessionTimeout, HeartbeatInterval, RebalanceTimeout and AutoCommitInterval must not be negative")
	case cfg.StartOffset > StartLatest:
		return bad("StartOffset %d is neither StartEarliest nor StartLatest", cfg.StartOffset)
	}
	for _, t := range cfg.Topics {
		if t == "" {
			return bad("Topics holds an empty topic name")
		}
	}
	cfg.Topics = slices.Compact(slices.Sorted(slices.Values(cfg.Topics)))
	if cfg.Assignor == "" {
		cfg.Assignor = DefaultAssignor
	}
	a, err := assign.ByName(cfg.Assignor)
	if err != nil {
		return bad("Assignor %q is unknown (valid: %q, %q)", cfg.Assignor, assign.CooperativeStickyName, assign.RangeName)
	}
	cfg.SessionTimeout = orDefault(cfg.SessionTimeout, DefaultSessionTimeout)
	cfg.HeartbeatInterval = orDefault(cfg.HeartbeatInterval, cfg.SessionTimeout/3)
	cfg.RebalanceTimeout = orDefault(cfg.RebalanceTimeout, DefaultRebalanceTimeout)
	cfg.AutoCommitInterval = orDefault(cfg.AutoCommitInterval, DefaultAutoCommitInterval)
	if cfg.HeartbeatInterval >= cfg.SessionTimeout {
		return bad("HeartbeatInterval %v must be below SessionTimeout %v", cfg.HeartbeatInterval, cfg.SessionTimeout)
	}
	return cfg, a, nil
}

// groupState is a group consumer's membership and commit state, guarded
// by the Consumer's mu.
type groupState struct {
	assignor    assign.Assignor
	cooperative bool
	started     bool
	loopDone    chan struct{} // closed when the membership goroutine ends
	// fatal ends the membership for good; Poll returns it.
	fatal error

	memberID   string
	generation int32 // -1: not in a generation
	// owned is the assignment held (sorted), received in ownedGen.
	owned    []TopicPartition
	ownedGen int32

	// delivered is, per partition, the position after the records Polls
	// returned; consumed what Poll had returned before its latest call (the
	// application came back for more, so it has processed them).
	delivered map[TopicPartition]sm.Offset
	consumed  map[TopicPartition]sm.Offset
	// marking: Mark or Receive was used, so commits take marked.
	marking bool
	marked  map[TopicPartition]sm.Offset
	// committed is what this consumer last committed or fetched.
	committed map[TopicPartition]sm.Offset
	// seeks are partitions moved by Seek since their last commit: the next
	// commit of each is flagged as a seek.
	seeks map[TopicPartition]bool
	// counts are the partition counts the leader assigned over (nil when
	// this member is not the leader): a change starts a rebalance.
	counts map[string]int32
}

func newGroupState(a assign.Assignor) *groupState {
	return &groupState{
		assignor: a, cooperative: a.Name() == assign.CooperativeStickyName, loopDone: make(chan struct{}), generation: -1, ownedGen: -1,
		delivered: map[TopicPartition]sm.Offset{}, consumed: map[TopicPartition]sm.Offset{}, marked: map[TopicPartition]sm.Offset{},
		committed: map[TopicPartition]sm.Offset{}, seeks: map[TopicPartition]bool{},
	}
}

// forgetLocked drops what the consumer knew of partitions it no longer
// owns.
func (g *groupState) forgetLocked(tps []TopicPartition) {
	for _, tp := range tps {
		delete(g.delivered, tp)
		delete(g.consumed, tp)
		delete(g.marked, tp)
		delete(g.committed, tp)
		delete(g.seeks, tp)
	}
}

// seekedLocked records an explicit move of tp to off.
func (g *groupState) seekedLocked(tp TopicPartition, off sm.Offset, flag bool) {
	g.delivered[tp], g.consumed[tp] = off, off
	if g.marking || flag {
		g.marked[tp] = off
	}
	if flag {
		g.seeks[tp] = true
	}
}

// startGroup starts the membership goroutine on the first Poll; it
// returns the membership's fatal error, if any.
func (k *Consumer) startGroup() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	g := k.grp
	if !g.started && !k.closed {
		g.started = true
		go k.runGroup()
	}
	return g.fatal
}

// groupCtx is a context that ends when the consumer closes.
func (k *Consumer) groupCtx() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() {
		select {
		case <-k.done:
			cancel(ErrClosed)
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(nil) }
}

// runGroup is the membership goroutine.
func (k *Consumer) runGroup() {
	g := k.grp
	defer close(g.loopDone)
	ctx, cancel := k.groupCtx()
	defer cancel()
	log := k.c.cfg.Log.With().Str("group", k.cfg.Group).Logger()
	failures := 0
	for ctx.Err() == nil {
		rejoin, err := k.joinAndSync(ctx)
		if err == nil {
			failures = 0
			if rejoin {
				continue
			}
			err = k.stable(ctx)
		}
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			continue
		case fatalGroupError(err):
			log.Error().Err(err).Msg("sdk: group membership ended")
			k.lose(ctx)
			k.mu.Lock()
			g.fatal = err
			k.mu.Unlock()
			return
		}
		log.Warn().Err(err).Int("failures", failures).Msg("sdk: group membership: retrying")
		if sleep(ctx, k.done, k.c.cfg.Backoff.Delay(failures)) != nil {
			return
		}
		failures++
	}
}

// fatalGroupError reports errors no rejoin overcomes.
func fatalGroupError(err error) bool {
	return errors.Is(err, ErrFencedInstanceID) || errors.Is(err, ErrInvalidGroup) || errors.Is(err, ErrGroupAuthorizationFailed) || errors.Is(err, ErrInvalidRequest) || revoked(err)
}

// subscription is this member's join metadata.
func (k *Consumer) subscription() []byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	g := k.grp
	return assign.EncodeSubscription(assign.Subscription{Version: 2, Topics: k.cfg.Topics, Owned: slices.Clone(g.owned), Generation: g.ownedGen})
}

// joinWait bounds the wait for a join reply: the coordinator holds it
// until the join phase ends.
func (k *Consumer) joinWait() time.Duration {
	return k.cfg.RebalanceTimeout + initialRebalanceDelay + k.c.cfg.RequestTimeout
}

// joinAndSync joins the group and syncs, applying the assignment; rejoin
// says the consumer must join again at once (it revoked partitions a
// cooperative rebalance moved, or the group rebalanced again meanwhile).
func (k *Consumer) joinAndSync(ctx context.Context) (rejoin bool, err error) {
	c, g, group := k.c, k.grp, k.cfg.Group
	var resp sm.JoinGroupResponse
	for attempt := 0; ; attempt++ {
		if attempt > 1 { // the second join (KIP-394's) is expected; more are paced
			if err := sleep(ctx, k.done, c.cfg.Backoff.Delay(attempt-2)); err != nil {
				return false, err
			}
		}
		k.mu.Lock()
		memberID := g.memberID
		k.mu.Unlock()
		req := sm.JoinGroupRequest{
			GroupID: group, MemberID: memberID, GroupInstanceID: k.cfg.InstanceID, ClientID: c.id.String(),
			ProtocolType: consumerProtocolType, Protocols: []sm.GroupProtocol{{Name: g.assignor.Name(), Metadata: k.subscription()}},
			SessionTimeout: sm.Duration(k.cfg.SessionTimeout), RebalanceTimeout: sm.Duration(k.cfg.RebalanceTimeout), RequireKnownMemberID: true,
		}
		m, from, err := c.groupCall(ctx, group, func(reqID uint64) sm.Message { r := req; r.ReqID = reqID; return r }, k.joinWait())
		if err != nil {
			return false, err
		}
		if resp, err = replyAs[sm.JoinGroupResponse](m, from); err != nil {
			return false, err
		}
		switch resp.Code {
		case sm.CodeOK:
		case sm.CodeMemberIDRequired:
			k.mu.Lock()
			g.memberID = resp.MemberID
			k.mu.Unlock()
			continue
		case sm.CodeRebalanceInProgress:
			continue // a newer join of ours superseded it
		case sm.CodeUnknownMemberID, sm.CodeIllegalGeneration:
			k.lose(ctx)
			k.resetMember(resp.Code == sm.CodeUnknownMemberID)
			continue
		default:
			return false, &BrokerError{Code: resp.Code, Message: resp.Message, Broker: from, Group: group}
		}
		break
	}
	k.mu.Lock()
	g.memberID, g.generation, g.counts = resp.MemberID, resp.Generation, nil
	k.mu.Unlock()

	var assignments []sm.GroupAssignment
	if resp.Leader == resp.MemberID {
		var counts map[string]int32
		assignments, counts = k.runAssignor(ctx, resp.Protocol, resp.Members)
		k.mu.Lock()
		g.counts = counts
		k.mu.Unlock()
	}
	sreq := sm.SyncGroupRequest{
		GroupID: group, Generation: resp.Generation, MemberID: resp.MemberID, GroupInstanceID: k.cfg.InstanceID,
		ProtocolType: consumerProtocolType, Protocol: resp.Protocol, Assignments: assignments,
	}
	m, from, err := c.groupCall(ctx, group, func(reqID uint64) sm.Message { r := sreq; r.ReqID = reqID; return r }, k.joinWait())
	if err != nil {
		return false, err
	}
	sresp, err := replyAs[sm.SyncGroupResponse](m, from)
	if err != nil {
		return false, err
	}
	switch sresp.Code {
	case sm.CodeOK:
	case sm.CodeRebalanceInProgress:
		return true, nil
	case sm.CodeUnknownMemberID, sm.CodeIllegalGeneration:
		k.lose(ctx)
		k.resetMember(sresp.Code == sm.CodeUnknownMemberID)
		return true, nil
	default:
		return false, &BrokerError{Code: sresp.Code, Message: sresp.Message, Broker: from, Group: group}
	}
	a, err := assign.DecodeAssignment(sresp.Assignment)
	if err != nil {
		return false, fmt.Errorf("sdk: group %q: the leader's assignment does not decode: %w", group, err)
	}
	return k.apply(ctx, resp.Generation, sortTPs(a.Partitions))
}

// resetMember forgets the generation, and the member ID when the
// coordinator no longer knows it.
func (k *Consumer) resetMember(unknown bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.grp.generation = -1
	if unknown {
		k.grp.memberID = ""
	}
}

// runAssignor is the leader's part: every member's partitions for its
// subscription, over the partition counts metadata holds now (returned:
// every subscribed topic's, 0 for a topic metadata does not know).
func (k *Consumer) runAssignor(ctx context.Context, protocol string, members []sm.GroupMemberMetadata) ([]sm.GroupAssignment, map[string]int32) {
	log := k.c.cfg.Log.With().Str("group", k.cfg.Group).Logger()
	a, err := assign.ByName(protocol)
	if err != nil {
		a = k.grp.assignor
	}
	in := make([]assign.Member, 0, len(members))
	topics := map[string]bool{}
	for _, m := range members {
		s, err := assign.DecodeSubscription(m.Metadata)
		if err != nil {
			log.Warn().Str("member", m.MemberID).Err(err).Msg("sdk: a member's subscription does not decode; it gets nothing")
		}
		in = append(in, assign.Member{ID: m.MemberID, InstanceID: m.InstanceID, Subscription: s})
		for _, t := range s.Topics {
			topics[t] = true
		}
	}
	if err := k.c.refresh(ctx); err != nil {
		log.Warn().Err(err).Msg("sdk: metadata refresh before assigning failed; assigning from what is held")
	}
	counts := k.partitionCounts(slices.Sorted(maps.Keys(topics)))
	result := a.Assign(in, counts)
	out := make([]sm.GroupAssignment, 0, len(result))
	for _, id := range slices.Sorted(maps.Keys(result)) {
		out = append(out, sm.GroupAssignment{MemberID: id, Assignment: assign.EncodeAssignment(assign.Assignment{Partitions: result[id]})})
	}
	return out, counts
}

// partitionCounts is each topic's partition count in the held metadata
// (0: unknown).
func (k *Consumer) partitionCounts(topics []string) map[string]int32 {
	counts := map[string]int32{}
	for _, t := range topics {
		n, _ := k.c.partitionCount(t)
		counts[t] = n
	}
	return counts
}

// countsChanged reports, for the leader, whether a subscribed topic's
// partition count changed since it assigned (a topic created, partitions
// added): the group must rebalance to assign them (Kafka's leader watches
// metadata the same way). Metadata is refreshed every MetadataMaxAge.
func (k *Consumer) countsChanged(ctx context.Context) bool {
	k.mu.Lock()
	counts := k.grp.counts
	k.mu.Unlock()
	if counts == nil {
		return false
	}
	k.c.maybeRefresh(ctx)
	return !maps.Equal(counts, k.partitionCounts(slices.Collect(maps.Keys(counts))))
}

// apply takes the assignment of generation gen: revokes what it no
// longer holds, starts what it newly holds.
func (k *Consumer) apply(ctx context.Context, gen int32, assigned []TopicPartition) (rejoin bool, err error) {
	g := k.grp
	k.mu.Lock()
	owned := slices.Clone(g.owned)
	k.mu.Unlock()
	revoked := minus(owned, assigned)
	added := minus(assigned, owned)
	if len(revoked) > 0 {
		k.revoke(ctx, revoked)
	}
	if len(added) > 0 {
		if err := k.start(ctx, added); err != nil {
			// Not started: treat them as lost, so the next join does not
			// claim them, and try again.
			k.mu.Lock()
			g.owned = minus(owned, revoked)
			g.ownedGen = gen
			k.mu.Unlock()
			return false, err
		}
	}
	k.mu.Lock()
	g.owned, g.ownedGen = assigned, gen
	k.mu.Unlock()
	if len(added) > 0 && k.cfg.OnAssigned != nil {
		k.cfg.OnAssigned(ctx, added)
	}
	// Cooperative: the revoked partitions go to their new owner in the
	// next rebalance, which this join starts.
	return g.cooperative && len(revoked) > 0, nil
}

// minus is a \ b for sorted lists.
func minus(a, b []TopicPartition) []TopicPartition {
	var out []TopicPartition
	for _, tp := range a {
		if _, found := slices.BinarySearchFunc(b, tp, sm.CompareTP); !found {
			out = append(out, tp)
		}
	}
	return out
}

// start positions newly assigned partitions at the group's committed
// offsets (StartOffset without one) and adds them to what Poll reads.
func (k *Consumer) start(ctx context.Context, tps []TopicPartition) error {
	got, err := k.c.fetchCommitted(ctx, k.cfg.Group, tps)
	if err != nil {
		return err
	}
	committed := map[TopicPartition]sm.Offset{}
	for _, o := range got {
		if o.Offset >= 0 {
			committed[o.TP] = o.Offset
		}
	}
	pos := map[TopicPartition]sm.Offset{}
	for _, tp := range tps {
		if off, ok := committed[tp]; ok {
			pos[tp] = off
			continue
		}
		if k.cfg.StartOffset == StartLatest {
			po, err := k.c.listOffsets(ctx, tp)
			if err != nil {
				return err
			}
			pos[tp] = po.HighWatermark
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	g := k.grp
	for _, tp := range tps {
		off, ok := pos[tp]
		cur := &cursor{pos: off, beginning: !ok}
		if prev := k.cursors[tp]; prev != nil {
			cur.epoch = prev.epoch
		}
		if _, dup := k.cursors[tp]; !dup {
			k.assigned = append(k.assigned, tp)
		}
		k.cursors[tp] = cur
		g.forgetLocked([]TopicPartition{tp})
		if c, ok := committed[tp]; ok {
			g.committed[tp] = c
		}
	}
	return nil
}

// unassignLocked stops reading tps (a Poll in progress drops what it
// fetched for them) and drops their undelivered messages.
func (k *Consumer) unassignLocked(tps []TopicPartition) {
	gone := map[TopicPartition]bool{}
	for _, tp := range tps {
		gone[tp] = true
		delete(k.cursors, tp)
		delete(k.acks, tp)
	}
	k.assigned = slices.DeleteFunc(k.assigned, func(tp TopicPartition) bool { return gone[tp] })
	k.inbox = slices.DeleteFunc(k.inbox, func(m *Delivery) bool { return gone[m.TP] })
}

// revoke gives partitions up in an orderly way: they stop being read,
// their positions are committed (AutoCommit), then OnRevoked runs.
func (k *Consumer) revoke(ctx context.Context, tps []TopicPartition) {
	k.mu.Lock()
	offsets := k.commitOffsetsLocked(tps, fromConsumed)
	k.unassignLocked(tps)
	k.mu.Unlock()
	if k.cfg.AutoCommit {
		if err := k.commitGroup(ctx, offsets); err != nil {
			k.c.cfg.Log.Warn().Str("group", k.cfg.Group).Err(err).Msg("sdk: commit before revoking failed")
		}
	}
	if k.cfg.OnRevoked != nil {
		k.cfg.OnRevoked(ctx, tps)
	}
	k.mu.Lock()
	k.grp.owned = minus(k.grp.owned, tps)
	k.grp.forgetLocked(tps)
	k.mu.Unlock()
}

// lose drops every owned partition without committing (the group has
// moved on: another member may own them), then OnLost runs.
func (k *Consumer) lose(ctx context.Context) {
	k.mu.Lock()
	g := k.grp
	lost := g.owned
	g.owned, g.ownedGen = nil, -1
	k.unassignLocked(lost)
	g.forgetLocked(lost)
	k.mu.Unlock()
	if len(lost) > 0 && k.cfg.OnLost != nil {
		k.cfg.OnLost(ctx, lost)
	}
}

// stable heartbeats and auto-commits until the group rebalances (nil:
// join again) or the membership breaks (an error).
func (k *Consumer) stable(ctx context.Context) error {
	g := k.grp
	hb := time.NewTicker(k.cfg.HeartbeatInterval)
	defer hb.Stop()
	var commits <-chan time.Time
	if k.cfg.AutoCommit {
		t := time.NewTicker(k.cfg.AutoCommitInterval)
		defer t.Stop()
		commits = t.C
	}
	lastOK := time.Now()
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-commits:
			if err := k.autoCommit(ctx); err != nil {
				k.c.cfg.Log.Warn().Str("group", k.cfg.Group).Err(err).Msg("sdk: auto-commit failed")
			}
			continue
		case <-hb.C:
		}
		code, err := k.heartbeat(ctx, lastOK.Add(k.cfg.SessionTimeout))
		switch {
		case ctx.Err() != nil:
			return context.Cause(ctx)
		case err != nil && time.Since(lastOK) >= k.cfg.SessionTimeout:
			// Out of touch for a whole session: the coordinator has
			// removed this member by now.
			k.c.cfg.Log.Warn().Str("group", k.cfg.Group).Err(err).Msg("sdk: no heartbeat answered for the session timeout; partitions lost")
			k.lose(ctx)
			k.resetMember(true)
			return nil
		case err != nil:
			continue
		}
		if code == sm.CodeOK && k.countsChanged(ctx) {
			k.c.cfg.Log.Info().Str("group", k.cfg.Group).Msg("sdk: subscribed topics' partitions changed; rebalancing")
			code = sm.CodeRebalanceInProgress
		}
		switch code {
		case sm.CodeOK:
			lastOK = time.Now()
		case sm.CodeRebalanceInProgress:
			if !g.cooperative {
				k.mu.Lock()
				owned := slices.Clone(g.owned)
				k.mu.Unlock()
				if len(owned) > 0 {
					k.revoke(ctx, owned)
				}
				k.mu.Lock()
				g.ownedGen = -1
				k.mu.Unlock()
			}
			return nil
		case sm.CodeUnknownMemberID, sm.CodeIllegalGeneration:
			k.lose(ctx)
			k.resetMember(code == sm.CodeUnknownMemberID)
			return nil
		default:
			return &BrokerError{Code: code, Group: k.cfg.Group}
		}
	}
}

// heartbeat sends one heartbeat, retrying coordinator moves until
// deadline.
func (k *Consumer) heartbeat(ctx context.Context, deadline time.Time) (sm.Code, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	k.mu.Lock()
	req := sm.HeartbeatRequest{GroupID: k.cfg.Group, Generation: k.grp.generation, MemberID: k.grp.memberID, GroupInstanceID: k.cfg.InstanceID}
	k.mu.Unlock()
	m, from, err := k.c.groupCall(ctx, k.cfg.Group, func(reqID uint64) sm.Message { r := req; r.ReqID = reqID; return r },
		min(k.c.cfg.RequestTimeout, k.cfg.SessionTimeout))
	if err != nil {
		return 0, err
	}
	resp, err := replyAs[sm.HeartbeatResponse](m, from)
	if err != nil {
		return 0, err
	}
	return resp.Code, nil
}

// What a commit takes its offsets from.
type commitSource uint8

const (
	fromConsumed  commitSource = iota // AutoCommit, revocation: marks once used, else what Poll's caller consumed
	fromDelivered                     // Close: marks once used, else everything Poll returned
	fromMarked                        // CommitMarked: marks only
)

// commitOffsetsLocked is what a commit of tps (all owned partitions when
// nil) sends, from src. Offsets already committed are left out unless a
// seek is pending.
func (k *Consumer) commitOffsetsLocked(tps []TopicPartition, src commitSource) map[TopicPartition]sm.Offset {
	g := k.grp
	if tps == nil {
		tps = g.owned
	}
	from := g.consumed
	switch {
	case g.marking || src == fromMarked:
		from = g.marked
	case src == fromDelivered:
		from = g.delivered
	}
	out := map[TopicPartition]sm.Offset{}
	for _, tp := range tps {
		off, ok := from[tp]
		if !ok {
			continue
		}
		if last, done := g.committed[tp]; done && last == off && !g.seeks[tp] {
			continue
		}
		out[tp] = off
	}
	return out
}

// autoCommit commits what the application consumed.
func (k *Consumer) autoCommit(ctx context.Context) error {
	k.mu.Lock()
	offsets := k.commitOffsetsLocked(nil, fromConsumed)
	k.mu.Unlock()
	return k.commitGroup(ctx, offsets)
}

// commitGroup commits offsets as this member of its current generation:
// partitions with a pending seek in a request flagged Seek, the rest in
// another.
func (k *Consumer) commitGroup(ctx context.Context, offsets map[TopicPartition]sm.Offset) error {
	if len(offsets) == 0 {
		return nil
	}
	g := k.grp
	k.mu.Lock()
	gen, member := g.generation, g.memberID
	seeks, plain := map[TopicPartition]sm.Offset{}, map[TopicPartition]sm.Offset{}
	for tp, off := range offsets {
		if g.seeks[tp] {
			seeks[tp] = off
		} else {
			plain[tp] = off
		}
	}
	k.mu.Unlock()
	if member == "" || gen < 0 {
		return &BrokerError{Code: sm.CodeRebalanceInProgress, Group: k.cfg.Group, Message: "the consumer has not joined a generation of the group yet"}
	}
	var errs []error
	for _, part := range []struct {
		offsets map[TopicPartition]sm.Offset
		seek    bool
	}{{plain, false}, {seeks, true}} {
		if len(part.offsets) == 0 {
			continue
		}
		req := sm.OffsetCommitRequest{GroupID: k.cfg.Group, Generation: gen, MemberID: member, GroupInstanceID: k.cfg.InstanceID, Seek: part.seek, Offsets: commitList(part.offsets)}
		err := k.c.commitOffsets(ctx, req)
		k.mu.Lock()
		for tp, off := range part.offsets {
			if err == nil || !failedFor(err, tp) {
				g.committed[tp] = off
				if part.seek {
					delete(g.seeks, tp)
				}
			}
		}
		k.mu.Unlock()
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// failedFor reports whether err refuses tp's commit (a request-level
// refusal refuses all).
func failedFor(err error, tp TopicPartition) bool {
	var all []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		all = j.Unwrap()
	} else {
		all = []error{err}
	}
	for _, e := range all {
		var be *BrokerError
		if !errors.As(e, &be) || be.TP.Topic == "" || be.TP == tp {
			return true
		}
	}
	return false
}

// Commit commits offsets for the consumer's group: for each partition the
// offset of the next record to read (the last processed record's offset
// + 1), as a member of its current generation. A partition moved by Seek
// since its last commit is committed as an explicit seek, which may move
// the committed offset back; otherwise a commit below the committed
// offset is ErrOffsetRegression. The coordinator accepts only partitions
// this member is assigned (ErrPartitionNotAssigned), and only between
// rebalances (ErrRebalanceInProgress, ErrIllegalGeneration,
// ErrUnknownMember: commit again after the consumer rejoined). It returns
// once the offsets are stored as durably as an acks=all record; every
// refused partition is in the error.
func (k *Consumer) Commit(ctx context.Context, offsets map[TopicPartition]sm.Offset) error {
	if k.grp == nil {
		return fmt.Errorf("%w: Commit", ErrNoGroup)
	}
	for tp, off := range offsets {
		if off < 0 {
			return fmt.Errorf("%w: Commit: offset %d for %v", ErrInvalidRequest, off, tp)
		}
	}
	return k.commitGroup(ctx, offsets)
}

// Mark marks rec as processed: CommitMarked (and AutoCommit, once Mark has
// been used) commits up to it, the next offset being rec.Offset+1. Marking
// an older record than one marked before changes nothing.
func (k *Consumer) Mark(rec Record) error {
	if k.grp == nil {
		return fmt.Errorf("%w: Mark", ErrNoGroup)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	g := k.grp
	g.marking = true
	if cur, ok := g.marked[rec.TP]; !ok || rec.Offset+1 > cur {
		g.marked[rec.TP] = rec.Offset + 1
	}
	return nil
}

// CommitMarked commits what Mark (or Delivery.Ack) marked, and the
// positions Seek moved, since the last commit (see Commit).
func (k *Consumer) CommitMarked(ctx context.Context) error {
	if k.grp == nil {
		return fmt.Errorf("%w: CommitMarked", ErrNoGroup)
	}
	k.mu.Lock()
	offsets := k.commitOffsetsLocked(nil, fromMarked)
	k.mu.Unlock()
	return k.commitGroup(ctx, offsets)
}

// MemberID is the member ID the coordinator gave this consumer, "" before
// it joined; Generation the group generation it is in, -1 when none.
func (k *Consumer) MemberID() (memberID string, generation int32) {
	if k.grp == nil {
		return "", -1
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.grp.memberID, k.grp.generation
}

// closeGroup ends the membership: the goroutine stops, AutoCommit
// commits everything delivered, OnRevoked runs for the partitions held,
// and the member leaves the group (unless static).
func (k *Consumer) closeGroup() error {
	g := k.grp
	k.mu.Lock()
	started := g.started
	k.mu.Unlock()
	if !started {
		return nil
	}
	<-g.loopDone
	if k.c.isClosed() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), k.c.cfg.RequestTimeout)
	defer cancel()
	var errs []error
	k.mu.Lock()
	member, gen, owned := g.memberID, g.generation, slices.Clone(g.owned)
	offsets := k.commitOffsetsLocked(nil, fromDelivered)
	k.mu.Unlock()
	if member != "" && gen >= 0 && k.cfg.AutoCommit {
		if err := k.commitGroup(ctx, offsets); err != nil {
			errs = append(errs, fmt.Errorf("sdk: close: commit: %w", err))
		}
	}
	if len(owned) > 0 && k.cfg.OnRevoked != nil {
		k.cfg.OnRevoked(ctx, owned)
	}
	if member != "" && k.cfg.InstanceID == "" {
		if err := k.leave(ctx, member); err != nil {
			errs = append(errs, fmt.Errorf("sdk: close: leave: %w", err))
		}
	}
	return errors.Join(errs...)
}

// leave sends LeaveGroup.
func (k *Consumer) leave(ctx context.Context, member string) error {
	req := sm.LeaveGroupRequest{GroupID: k.cfg.Group, Members: []sm.GroupMemberRef{{MemberID: member, GroupInstanceID: k.cfg.InstanceID}}}
	m, from, err := k.c.groupCall(ctx, k.cfg.Group, func(reqID uint64) sm.Message { r := req; r.ReqID = reqID; return r }, k.c.cfg.RequestTimeout)
	if err != nil {
		return err
	}
	resp, err := replyAs[sm.LeaveGroupResponse](m, from)
	if err != nil {
		return err
	}
	code, msg := resp.Code, resp.Message
	if code == sm.CodeOK {
		for _, r := range resp.Members {
			if r.Code != sm.CodeOK {
				code, msg = r.Code, r.Message
			}
		}
	}
	// A member the coordinator already removed has left.
	if code != sm.CodeOK && code != sm.CodeUnknownMemberID {
		return &BrokerError{Code: code, Message: msg, Broker: from, Group: k.cfg.Group}
	}
	return nil
}
