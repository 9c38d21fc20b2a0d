package sdk

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/group/assign"
)

// Consumer-group plumbing shared by group consumers and the admin helpers:
// finding a group's coordinator and sending it requests.
//
// Any broker answers FindCoordinator with the broker leading the group's
// partition of __consumer_offsets (COORDINATOR_NOT_AVAILABLE while the
// topic is being created or that partition has no leader: retried after a
// backoff). Every other group request goes to that coordinator; its
// NOT_COORDINATOR and COORDINATOR_NOT_AVAILABLE mean "find it again",
// COORDINATOR_LOAD_IN_PROGRESS "ask again later". The Client remembers
// each group's coordinator until one of those answers.

// groupReqID is the ReqID of a group reply; ok false for other messages.
func groupReqID(m sm.Message) (uint64, bool) {
	switch r := m.(type) {
	case sm.FindCoordinatorResponse:
		return r.ReqID, true
	case sm.JoinGroupResponse:
		return r.ReqID, true
	case sm.SyncGroupResponse:
		return r.ReqID, true
	case sm.HeartbeatResponse:
		return r.ReqID, true
	case sm.LeaveGroupResponse:
		return r.ReqID, true
	case sm.OffsetCommitResponse:
		return r.ReqID, true
	case sm.OffsetFetchResponse:
		return r.ReqID, true
	case sm.ListGroupsResponse:
		return r.ReqID, true
	case sm.DescribeGroupsResponse:
		return r.ReqID, true
	case sm.DeleteGroupsResponse:
		return r.ReqID, true
	}
	return 0, false
}

// groupCode is the request-level code and message of a group reply.
func groupCode(m sm.Message) (sm.Code, string) {
	switch r := m.(type) {
	case sm.FindCoordinatorResponse:
		return r.Code, r.Message
	case sm.JoinGroupResponse:
		return r.Code, r.Message
	case sm.SyncGroupResponse:
		return r.Code, r.Message
	case sm.HeartbeatResponse:
		return r.Code, r.Message
	case sm.LeaveGroupResponse:
		return r.Code, r.Message
	case sm.OffsetCommitResponse:
		return r.Code, r.Message
	case sm.OffsetFetchResponse:
		return r.Code, r.Message
	case sm.ListGroupsResponse:
		return r.Code, r.Message
	case sm.DescribeGroupsResponse:
		if r.Code == sm.CodeOK && len(r.Groups) == 1 {
			// One group asked for: its code is the answer's (a broker that
			// does not coordinate it says so per group).
			return r.Groups[0].Code, r.Groups[0].Message
		}
		return r.Code, r.Message
	case sm.DeleteGroupsResponse:
		if r.Code == sm.CodeOK && len(r.Groups) == 1 {
			return r.Groups[0].Code, r.Groups[0].Message
		}
		return r.Code, r.Message
	}
	return sm.CodeOK, ""
}

// coordinatorCodes are the codes that send a request back to
// FindCoordinator.
func coordinatorCode(code sm.Code) bool {
	return code == sm.CodeNotCoordinator || code == sm.CodeCoordinatorNotAvailable
}

// forgetCoordinator drops the remembered coordinator of group, if it is
// still id.
func (c *Client) forgetCoordinator(group string, id sm.NodeID) {
	c.coordMu.Lock()
	if c.coords[group] == id {
		delete(c.coords, group)
	}
	c.coordMu.Unlock()
}

// coordinator returns group's coordinator: the remembered one, or one
// found by asking brokers (retrying with backoff until ctx ends).
func (c *Client) coordinator(ctx context.Context, group string) (sm.NodeID, error) {
	c.coordMu.Lock()
	id, ok := c.coords[group]
	c.coordMu.Unlock()
	if ok {
		return id, nil
	}
	for attempt := 0; ; attempt++ {
		id, retry, err := c.findCoordinatorOnce(ctx, group)
		if err == nil {
			c.coordMu.Lock()
			c.coords[group] = id
			c.coordMu.Unlock()
			return id, nil
		}
		if !retry {
			return sm.NoNode, err
		}
		if serr := sleep(ctx, c.closing, c.cfg.Backoff.Delay(attempt)); serr != nil {
			return sm.NoNode, fmt.Errorf("%w (while finding the coordinator of group %q after: %v)", serr, group, err)
		}
	}
}

// findCoordinatorOnce asks the brokers in turn until one answers.
func (c *Client) findCoordinatorOnce(ctx context.Context, group string) (id sm.NodeID, retry bool, err error) {
	if c.isClosed() {
		return sm.NoNode, false, ErrClosed
	}
	var errs []error
	for _, b := range c.metadataCandidates() {
		if err := c.connect(ctx, b); err != nil {
			errs = append(errs, err)
			continue
		}
		reqID := c.nextReqID()
		m, _, err := c.roundTrip(ctx, b, reqID, sm.FindCoordinatorRequest{ReqID: reqID, GroupID: group}, min(c.cfg.RequestTimeout, metadataWaitMax))
		if err != nil {
			if ctx.Err() != nil || c.isClosed() {
				return sm.NoNode, false, err
			}
			errs = append(errs, err)
			continue
		}
		resp, ok := m.(sm.FindCoordinatorResponse)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("sdk: %v answered FindCoordinator with %T", b, m))
			continue
		case resp.Code.Retriable():
			// The offsets topic is being created, or its partition has no
			// leader yet.
			return sm.NoNode, true, &BrokerError{Code: resp.Code, Message: resp.Message, Broker: b, Group: group}
		case resp.Code != sm.CodeOK:
			return sm.NoNode, false, &BrokerError{Code: resp.Code, Message: resp.Message, Broker: b, Group: group}
		case resp.Coordinator == sm.NoNode:
			return sm.NoNode, true, &BrokerError{Code: sm.CodeCoordinatorNotAvailable, Message: "no coordinator named", Broker: b, Group: group}
		}
		if _, known := c.address(resp.Coordinator); !known {
			c.refresh(ctx) // a broker metadata does not list yet
		}
		return resp.Coordinator, false, nil
	}
	if len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%w: no broker to ask", ErrUnreachable))
	}
	return sm.NoNode, ctx.Err() == nil && !c.isClosed(), fmt.Errorf("sdk: find coordinator of group %q: %w", group, errors.Join(errs...))
}

// groupCall sends the request mk builds (for the ReqID it is given) to
// group's coordinator and returns the reply, whatever its code, except
// that coordinator moves (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE),
// loading (COORDINATOR_LOAD_IN_PROGRESS), lost replies and unreachable
// coordinators are retried, after finding the coordinator again and a
// backoff, until ctx ends. Group requests can be repeated safely: a
// repeated join supersedes the first, a repeated commit commits the same
// offsets. wait bounds each reply.
func (c *Client) groupCall(ctx context.Context, group string, mk func(reqID uint64) sm.Message, wait time.Duration) (reply sm.Message, from sm.NodeID, err error) {
	stopped := func() bool { return ctx.Err() != nil || c.isClosed() }
	var last error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if serr := sleep(ctx, c.closing, c.cfg.Backoff.Delay(attempt-1)); serr != nil {
				return nil, sm.NoNode, fmt.Errorf("%w (while retrying after: %v)", serr, last)
			}
		}
		coord, cerr := c.coordinator(ctx, group)
		if cerr != nil {
			return nil, sm.NoNode, cerr
		}
		if cerr := c.connect(ctx, coord); cerr != nil {
			if stopped() || revoked(cerr) {
				return nil, coord, cerr
			}
			c.forgetCoordinator(group, coord)
			c.refresh(ctx)
			last = cerr
			continue
		}
		reqID := c.nextReqID()
		m, _, rerr := c.roundTrip(ctx, coord, reqID, mk(reqID), wait)
		if rerr != nil {
			if stopped() || !(errors.Is(rerr, ErrTimeout) || errors.Is(rerr, ErrConnectionLost)) {
				return nil, coord, rerr
			}
			c.forgetCoordinator(group, coord)
			last = rerr
			continue
		}
		if _, ok := groupReqID(m); !ok {
			return nil, coord, fmt.Errorf("sdk: %v answered a group request with %T", coord, m)
		}
		code, msg := groupCode(m)
		switch {
		case coordinatorCode(code):
			c.forgetCoordinator(group, coord)
			last = &BrokerError{Code: code, Message: msg, Broker: coord, Group: group}
			continue
		case code == sm.CodeCoordinatorLoadInProgress:
			last = &BrokerError{Code: code, Message: msg, Broker: coord, Group: group}
			continue
		}
		return m, coord, nil
	}
}

// replyAs is m as the reply type T, or an error naming what came instead.
func replyAs[T sm.Message](m sm.Message, from sm.NodeID) (T, error) {
	r, ok := m.(T)
	if !ok {
		var want T
		return r, fmt.Errorf("sdk: %v answered with %T where %T was due", from, m, want)
	}
	return r, nil
}

// ---- admin helpers -----------------------------------------------------------

// GroupListing is one group in ListGroups: its ID, protocol type
// ("consumer" for Weir's and Kafka's consumers) and state, by Kafka's name
// ("Empty", "PreparingRebalance", "CompletingRebalance", "Stable",
// "Dead").
type GroupListing = sm.GroupListing

// ListGroups asks every broker for the groups it coordinates and returns
// them all, sorted by group ID. Brokers that could not answer (or were
// still loading a coordinator) are named in the error; the groups the
// others listed are returned with it.
func (c *Client) ListGroups(ctx context.Context) ([]GroupListing, error) {
	if c.isClosed() {
		return nil, ErrClosed
	}
	c.maybeRefresh(ctx)
	c.metaMu.RLock()
	var brokers []sm.NodeID
	for _, b := range c.meta.Brokers() {
		if !b.Fenced {
			brokers = append(brokers, b.ID)
		}
	}
	c.metaMu.RUnlock()
	if len(brokers) == 0 {
		brokers = slices.Sorted(maps.Keys(c.bootstrap))
	}
	lists := make([][]GroupListing, len(brokers))
	errs := make([]error, len(brokers))
	var wg sync.WaitGroup
	for i, b := range brokers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lists[i], errs[i] = c.listGroupsFrom(ctx, b)
		}()
	}
	wg.Wait()
	byID := map[string]GroupListing{}
	for _, l := range lists {
		for _, g := range l {
			byID[g.GroupID] = g
		}
	}
	out := make([]GroupListing, 0, len(byID))
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		out = append(out, byID[id])
	}
	return out, errors.Join(errs...)
}

func (c *Client) listGroupsFrom(ctx context.Context, b sm.NodeID) ([]GroupListing, error) {
	if err := c.connect(ctx, b); err != nil {
		return nil, err
	}
	reqID := c.nextReqID()
	m, _, err := c.roundTrip(ctx, b, reqID, sm.ListGroupsRequest{ReqID: reqID}, c.cfg.RequestTimeout)
	if err != nil {
		return nil, err
	}
	resp, ok := m.(sm.ListGroupsResponse)
	if !ok {
		return nil, fmt.Errorf("sdk: %v answered ListGroups with %T", b, m)
	}
	if resp.Code != sm.CodeOK {
		return resp.Groups, &BrokerError{Code: resp.Code, Message: resp.Message, Broker: b, TP: TopicPartition{Topic: sm.OffsetsTopic, Partition: -1}}
	}
	return resp.Groups, nil
}

// GroupDescription describes one group (Client.DescribeGroup).
type GroupDescription struct {
	GroupID string
	// State is Kafka's name for it ("Empty", "PreparingRebalance",
	// "CompletingRebalance", "Stable", "Dead").
	State string
	// ProtocolType is "consumer" for consumer groups; Protocol the
	// assignor the members chose ("range", "cooperative-sticky").
	ProtocolType, Protocol string
	Generation             int32
	// Leader is the member ID of the member that ran the assignor.
	Leader string
	// Coordinator is the broker that answered.
	Coordinator sm.NodeID
	// Members, in the coordinator's order.
	Members []GroupMemberDescription
}

// GroupMemberDescription is one member of a described group.
type GroupMemberDescription struct {
	MemberID   string
	InstanceID string
	ClientID   string
	ClientHost string
	// Topics the member subscribes to and the partitions assigned to it,
	// decoded from the consumer protocol (empty when the group's protocol
	// type is not "consumer" or the bytes do not decode).
	Topics     []string
	Assignment []TopicPartition
	// Metadata and RawAssignment are the bytes as the coordinator holds
	// them.
	Metadata, RawAssignment []byte
}

// DescribeGroup asks the group's coordinator for the group's state,
// members and assignment. A group that does not exist is ErrGroupNotFound.
func (c *Client) DescribeGroup(ctx context.Context, id string) (GroupDescription, error) {
	if c.isClosed() {
		return GroupDescription{}, ErrClosed
	}
	m, b, err := c.groupCall(ctx, id, func(reqID uint64) sm.Message {
		return sm.DescribeGroupsRequest{ReqID: reqID, GroupIDs: []string{id}}
	}, c.cfg.RequestTimeout)
	if err != nil {
		return GroupDescription{}, err
	}
	resp, err := replyAs[sm.DescribeGroupsResponse](m, b)
	if err != nil {
		return GroupDescription{}, err
	}
	if code, msg := groupCode(resp); code != sm.CodeOK {
		return GroupDescription{}, &BrokerError{Code: code, Message: msg, Broker: b, Group: id}
	}
	if len(resp.Groups) != 1 || resp.Groups[0].GroupID != id {
		return GroupDescription{}, fmt.Errorf("sdk: %v answered a describe of group %q with %d groups", b, id, len(resp.Groups))
	}
	g := resp.Groups[0]
	out := GroupDescription{GroupID: g.GroupID, State: g.State, ProtocolType: g.ProtocolType, Protocol: g.Protocol, Generation: g.Generation, Leader: g.Leader, Coordinator: b}
	for _, mem := range g.Members {
		d := GroupMemberDescription{MemberID: mem.MemberID, InstanceID: mem.InstanceID, ClientID: mem.ClientID, ClientHost: mem.ClientHost, Metadata: mem.Metadata, RawAssignment: mem.Assignment}
		if g.ProtocolType == consumerProtocolType {
			if s, err := assign.DecodeSubscription(mem.Metadata); err == nil {
				d.Topics = s.Topics
			}
			if a, err := assign.DecodeAssignment(mem.Assignment); err == nil {
				d.Assignment = a.Partitions
			}
		}
		out.Members = append(out.Members, d)
	}
	return out, nil
}

// DeleteGroup deletes a group without members, with its committed
// offsets. A group with members is ErrGroupNotEmpty; one that does not
// exist ErrGroupNotFound.
func (c *Client) DeleteGroup(ctx context.Context, id string) error {
	if c.isClosed() {
		return ErrClosed
	}
	m, b, err := c.groupCall(ctx, id, func(reqID uint64) sm.Message {
		return sm.DeleteGroupsRequest{ReqID: reqID, GroupIDs: []string{id}}
	}, c.cfg.RequestTimeout)
	if err != nil {
		return err
	}
	if code, msg := groupCode(m); code != sm.CodeOK {
		return &BrokerError{Code: code, Message: msg, Broker: b, Group: id}
	}
	return nil
}

// CommittedOffsets returns the group's committed offsets (the offset of
// the next record to read) for tps, or for every partition it has one for
// when none are given. Partitions with no committed offset are absent.
func (c *Client) CommittedOffsets(ctx context.Context, group string, tps ...TopicPartition) (map[TopicPartition]sm.Offset, error) {
	got, err := c.fetchCommitted(ctx, group, tps)
	if err != nil {
		return nil, err
	}
	out := map[TopicPartition]sm.Offset{}
	for _, o := range got {
		if o.Offset >= 0 {
			out[o.TP] = o.Offset
		}
	}
	return out, nil
}

// fetchCommitted is OffsetFetch: per-partition errors are errors.
func (c *Client) fetchCommitted(ctx context.Context, group string, tps []TopicPartition) ([]sm.CommittedOffset, error) {
	if c.isClosed() {
		return nil, ErrClosed
	}
	m, b, err := c.groupCall(ctx, group, func(reqID uint64) sm.Message {
		return sm.OffsetFetchRequest{ReqID: reqID, GroupID: group, Partitions: tps}
	}, c.cfg.RequestTimeout)
	if err != nil {
		return nil, err
	}
	resp, err := replyAs[sm.OffsetFetchResponse](m, b)
	if err != nil {
		return nil, err
	}
	if resp.Code != sm.CodeOK {
		return nil, &BrokerError{Code: resp.Code, Message: resp.Message, Broker: b, Group: group}
	}
	var errs []error
	for _, o := range resp.Offsets {
		if o.Code != sm.CodeOK {
			errs = append(errs, &BrokerError{Code: o.Code, Broker: b, Group: group, TP: o.TP})
		}
	}
	return resp.Offsets, errors.Join(errs...)
}

// ResetOffsets sets committed offsets of a group that has no active
// members (`weir groups reset-offsets`; ErrGroupNotEmpty otherwise),
// creating the group if needed. Offsets are the next record to read; to
// reset to the earliest, the latest or a time, resolve them first with
// ListOffsets or OffsetForTime. Moving an offset back is allowed (it is
// recorded as a seek). Every partition's refusal is in the error.
func (c *Client) ResetOffsets(ctx context.Context, group string, offsets map[TopicPartition]sm.Offset) error {
	if c.isClosed() {
		return ErrClosed
	}
	req := sm.OffsetCommitRequest{GroupID: group, Generation: -1, Reset: true, Offsets: commitList(offsets)}
	return c.commitOffsets(ctx, req)
}

// commitList is offsets as a request's list, in partition order.
func commitList(offsets map[TopicPartition]sm.Offset) []sm.OffsetCommit {
	out := make([]sm.OffsetCommit, 0, len(offsets))
	for _, tp := range slices.SortedFunc(maps.Keys(offsets), sm.CompareTP) {
		out = append(out, sm.OffsetCommit{TP: tp, Offset: offsets[tp], LeaderEpoch: -1})
	}
	return out
}

// commitOffsets sends one OffsetCommitRequest (its ReqID filled in) and
// turns its refusals into errors: the request's code, else every
// partition's.
func (c *Client) commitOffsets(ctx context.Context, req sm.OffsetCommitRequest) error {
	if len(req.Offsets) == 0 {
		return nil
	}
	m, b, err := c.groupCall(ctx, req.GroupID, func(reqID uint64) sm.Message {
		r := req
		r.ReqID = reqID
		return r
	}, c.cfg.RequestTimeout)
	if err != nil {
		return err
	}
	resp, err := replyAs[sm.OffsetCommitResponse](m, b)
	if err != nil {
		return err
	}
	if resp.Code != sm.CodeOK {
		return &BrokerError{Code: resp.Code, Message: resp.Message, Broker: b, Group: req.GroupID}
	}
	var errs []error
	for _, p := range resp.Partitions {
		if p.Code != sm.CodeOK {
			errs = append(errs, &BrokerError{Code: p.Code, Message: p.Message, Broker: b, Group: req.GroupID, TP: p.TP})
		}
	}
	return errors.Join(errs...)
}

// sortTPs sorts and removes duplicates.
func sortTPs(tps []TopicPartition) []TopicPartition {
	tps = slices.Clone(tps)
	slices.SortFunc(tps, sm.CompareTP)
	return slices.Compact(tps)
}
