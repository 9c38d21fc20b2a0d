package sdk

import (
	"maps"
	"slices"
	"time"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/group"
)

// The fake cluster's group coordinators, hosted as the brokers host them:
// the offsets topic is created by the first FindCoordinator (which answers
// COORDINATOR_NOT_AVAILABLE, as a broker does while creating it), each of
// its partitions has a real group.Coordinator on the partition's leader,
// appends complete OK at once, and a ticker drives the coordinators'
// timers. Everything runs under fakeCluster.mu.

// fakeOffsetsPartitions is the fake's __consumer_offsets partition count.
const fakeOffsetsPartitions = 3

type fakeGroups struct {
	created bool
	coords  map[int32]*group.Coordinator
	held    map[group.Handle]fakeHeld
	handles group.Handle
	start   time.Time
	// delay is the coordinators' InitialRebalanceDelay.
	delay sm.Duration
	// cut swallows a group request (no answer; refuse zero) or refuses it
	// with refuse: a member cut off from its coordinator.
	cut func(from sm.NodeID, m sm.Message) (refuse sm.Code, cut bool)
	// seen counts group requests by type name.
	seen map[string]int
}

// fakeHeld is where a coordinator's reply goes.
type fakeHeld struct {
	b     *fakeBroker
	to    sm.NodeID
	reqID uint64
}

// outMsg is a reply to send once mu is released.
type outMsg struct {
	b  *fakeBroker
	to sm.NodeID
	m  sm.Message
}

func (f *fakeCluster) now() sm.Time { return sm.Time(time.Since(f.groups.start)) }

// HighWatermark is the coordinators' Watermarks (called under mu).
func (f *fakeCluster) HighWatermark(tp sm.TopicPartition) (sm.Offset, bool) {
	if _, ok := f.parts[tp]; !ok {
		return 0, false
	}
	return f.endLocked(tp), true
}

// createOffsetsLocked creates the offsets topic and its coordinators, and
// starts the timer ticker.
func (f *fakeCluster) createOffsetsLocked() {
	g := &f.groups
	g.created = true
	g.coords = map[int32]*group.Coordinator{}
	ids := slices.Sorted(maps.Keys(f.brokers))
	f.topics[sm.OffsetsTopic] = sm.TopicInfo{Name: sm.OffsetsTopic, Partitions: fakeOffsetsPartitions, ReplicationFactor: 1}
	for p := range int32(fakeOffsetsPartitions) {
		tp := sm.TopicPartition{Topic: sm.OffsetsTopic, Partition: p}
		l := ids[int(p)%len(ids)]
		f.parts[tp] = sm.PartitionState{TP: tp, Replicas: []sm.NodeID{l}, Leader: l, LeaderEpoch: 1, ISR: []sm.NodeID{l}, PartitionEpoch: 1}
		g.coords[p] = f.newCoordinator(p, 1, nil)
	}
	f.version++
	stop := make(chan struct{})
	f.t.Cleanup(func() { close(stop) })
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			f.mu.Lock()
			now := f.now()
			var out []outMsg
			for _, p := range slices.Sorted(maps.Keys(g.coords)) {
				c := g.coords[p]
				if at := c.TimerAt(); at != 0 && at <= now {
					c.OnTimer(now)
					out = f.drainLocked(c, out)
				}
			}
			f.mu.Unlock()
			f.send(out)
		}
	}()
}

// newCoordinator is a loaded coordinator of offsets partition p, from
// records (a failover's reload).
func (f *fakeCluster) newCoordinator(p int32, epoch int64, records []sm.Record) *group.Coordinator {
	cfg := group.DefaultConfig()
	cfg.Partition, cfg.Partitions, cfg.Epoch = p, fakeOffsetsPartitions, epoch
	cfg.SessionTimeoutMin = 100 * sm.Millisecond
	cfg.InitialRebalanceDelay = f.groups.delay
	c, err := group.New(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	c.Load(records)
	c.FinishLoad(f.now())
	return c
}

// failoverCoordinator moves offsets partition p to broker to: the old
// coordinator is unloaded, a new one loads its durable state.
func (f *fakeCluster) failoverCoordinator(p int32, to sm.NodeID) {
	f.mu.Lock()
	old := f.groups.coords[p]
	old.Unload()
	out := f.drainLocked(old, nil)
	records := old.Snapshot()
	tp := sm.TopicPartition{Topic: sm.OffsetsTopic, Partition: p}
	st := f.parts[tp]
	st.Leader, st.Replicas, st.ISR = to, []sm.NodeID{to}, []sm.NodeID{to}
	st.LeaderEpoch++
	st.PartitionEpoch++
	f.parts[tp] = st
	f.version++
	f.groups.coords[p] = f.newCoordinator(p, int64(st.LeaderEpoch), records)
	f.mu.Unlock()
	f.send(out)
}

func (f *fakeCluster) send(out []outMsg) {
	for _, o := range out {
		o.b.tr.Send([]sm.Envelope{{To: o.to, Msg: o.m}})
	}
}

// drainLocked completes c's appends and collects its replies.
func (f *fakeCluster) drainLocked(c *group.Coordinator, out []outMsg) []outMsg {
	for {
		o := c.TakeOutput()
		if len(o.Appends) == 0 && len(o.Replies) == 0 {
			return out
		}
		for _, a := range o.Appends {
			c.OnAppended(f.now(), group.Appended{ID: a.ID, Outcome: sm.OutcomeOK})
		}
		for _, r := range o.Replies {
			h, ok := f.groups.held[r.To]
			if !ok {
				continue
			}
			delete(f.groups.held, r.To)
			out = append(out, outMsg{h.b, h.to, groupWireReply(h.reqID, r.Body)})
		}
	}
}

// groupRequestLocked answers a group request at broker b: ok false when
// m is not one.
func (f *fakeCluster) groupRequestLocked(b *fakeBroker, from sm.NodeID, m sm.Message) (out []outMsg, ok bool) {
	if _, isGroup := sm.RefuseGroup(m, sm.CodeOK, ""); !isGroup {
		return nil, false
	}
	g := &f.groups
	if g.seen == nil {
		g.seen = map[string]int{}
	}
	g.seen[typeName(m)]++
	reply := func(r sm.Message) []outMsg { return []outMsg{{b, from, r}} }
	refuse := func(code sm.Code, msg string) []outMsg {
		r, _ := sm.RefuseGroup(m, code, msg)
		return reply(r)
	}
	if g.cut != nil {
		if code, cut := g.cut(from, m); cut && code == sm.CodeOK {
			return nil, true
		} else if cut {
			return refuse(code, "cut off"), true
		}
	}
	if fc, isFind := m.(sm.FindCoordinatorRequest); isFind {
		if !g.created {
			f.createOffsetsLocked()
			return refuse(sm.CodeCoordinatorNotAvailable, "creating the offsets topic"), true
		}
		p := group.PartitionFor(fc.GroupID, fakeOffsetsPartitions)
		st := f.parts[sm.TopicPartition{Topic: sm.OffsetsTopic, Partition: p}]
		return reply(sm.FindCoordinatorResponse{ReqID: fc.ReqID, Coordinator: st.Leader, Partition: p}), true
	}
	if !g.created {
		return refuse(sm.CodeCoordinatorNotAvailable, "no offsets topic yet"), true
	}
	now := f.now()
	// led is the coordinator of id's partition if b leads it.
	led := func(id string) *group.Coordinator {
		p := group.PartitionFor(id, fakeOffsetsPartitions)
		if f.parts[sm.TopicPartition{Topic: sm.OffsetsTopic, Partition: p}].Leader != b.id {
			return nil
		}
		return g.coords[p]
	}
	hold := func(reqID uint64) group.Handle {
		g.handles++
		if g.held == nil {
			g.held = map[group.Handle]fakeHeld{}
		}
		g.held[g.handles] = fakeHeld{b, from, reqID}
		return g.handles
	}
	switch r := m.(type) {
	case sm.ListGroupsRequest:
		resp := sm.ListGroupsResponse{ReqID: r.ReqID}
		for _, p := range slices.Sorted(maps.Keys(g.coords)) {
			if f.parts[sm.TopicPartition{Topic: sm.OffsetsTopic, Partition: p}].Leader != b.id {
				continue
			}
			l := g.coords[p].List()
			if l.Code != group.None {
				resp.Code, resp.Message = l.Code.Wire(), l.Message
			}
			for _, gl := range l.Groups {
				resp.Groups = append(resp.Groups, sm.GroupListing{GroupID: gl.GroupID, ProtocolType: gl.ProtocolType, State: gl.State.String()})
			}
		}
		slices.SortFunc(resp.Groups, func(a, b sm.GroupListing) int { return cmpString(a.GroupID, b.GroupID) })
		return reply(resp), true
	case sm.DescribeGroupsRequest:
		resp := sm.DescribeGroupsResponse{ReqID: r.ReqID}
		for _, id := range r.GroupIDs {
			c := led(id)
			if c == nil {
				resp.Groups = append(resp.Groups, sm.GroupDescription{GroupID: id, Code: sm.CodeNotCoordinator})
				continue
			}
			d := c.Describe([]string{id})[0]
			gd := sm.GroupDescription{GroupID: d.GroupID, Code: d.Code.Wire(), Message: d.Message, State: d.State.String(), ProtocolType: d.ProtocolType, Protocol: d.Protocol, Generation: d.Generation, Leader: d.Leader}
			for _, mem := range d.Members {
				gd.Members = append(gd.Members, sm.GroupMember{MemberID: mem.MemberID, InstanceID: mem.InstanceID, ClientID: mem.ClientID, ClientHost: mem.ClientHost, Metadata: mem.Metadata, Assignment: mem.Assignment})
			}
			resp.Groups = append(resp.Groups, gd)
		}
		return reply(resp), true
	}
	id := sm.GroupOf(m)
	if d, isDelete := m.(sm.DeleteGroupsRequest); isDelete && len(d.GroupIDs) > 0 {
		id = d.GroupIDs[0]
	}
	c := led(id)
	if c == nil {
		return refuse(sm.CodeNotCoordinator, "not the coordinator"), true
	}
	switch r := m.(type) {
	case sm.JoinGroupRequest:
		ps := make([]group.Protocol, len(r.Protocols))
		for i, p := range r.Protocols {
			ps[i] = group.Protocol{Name: p.Name, Metadata: p.Metadata}
		}
		c.Join(hold(r.ReqID), now, group.JoinRequest{GroupID: r.GroupID, MemberID: r.MemberID, GroupInstanceID: r.GroupInstanceID, ClientID: r.ClientID, ClientHost: "127.0.0.1",
			ProtocolType: r.ProtocolType, Protocols: ps, SessionTimeout: r.SessionTimeout, RebalanceTimeout: r.RebalanceTimeout, RequireKnownMemberID: r.RequireKnownMemberID})
	case sm.SyncGroupRequest:
		as := make([]group.MemberAssignment, len(r.Assignments))
		for i, a := range r.Assignments {
			as[i] = group.MemberAssignment{MemberID: a.MemberID, Assignment: a.Assignment}
		}
		c.Sync(hold(r.ReqID), now, group.SyncRequest{GroupID: r.GroupID, Generation: r.Generation, MemberID: r.MemberID, GroupInstanceID: r.GroupInstanceID, ProtocolType: r.ProtocolType, Protocol: r.Protocol, Assignments: as})
	case sm.HeartbeatRequest:
		c.Heartbeat(hold(r.ReqID), now, group.HeartbeatRequest{GroupID: r.GroupID, Generation: r.Generation, MemberID: r.MemberID, GroupInstanceID: r.GroupInstanceID})
	case sm.LeaveGroupRequest:
		ms := make([]group.LeavingMember, len(r.Members))
		for i, mem := range r.Members {
			ms[i] = group.LeavingMember{MemberID: mem.MemberID, GroupInstanceID: mem.GroupInstanceID}
		}
		c.Leave(hold(r.ReqID), now, group.LeaveRequest{GroupID: r.GroupID, Members: ms})
	case sm.OffsetCommitRequest:
		os := make([]group.OffsetCommit, len(r.Offsets))
		for i, o := range r.Offsets {
			os[i] = group.OffsetCommit{TP: o.TP, Offset: o.Offset, LeaderEpoch: o.LeaderEpoch, Metadata: o.Metadata}
		}
		if r.Reset {
			c.ResetOffsets(hold(r.ReqID), now, group.ResetRequest{GroupID: r.GroupID, Offsets: os}, f)
		} else {
			c.Commit(hold(r.ReqID), now, group.CommitRequest{GroupID: r.GroupID, Generation: r.Generation, MemberID: r.MemberID, GroupInstanceID: r.GroupInstanceID, Seek: r.Seek, Offsets: os}, f)
		}
	case sm.OffsetFetchRequest:
		fr := c.FetchOffsets(r.GroupID, r.Partitions)
		resp := sm.OffsetFetchResponse{ReqID: r.ReqID, Code: fr.Code.Wire(), Message: fr.Message}
		for _, o := range fr.Partitions {
			resp.Offsets = append(resp.Offsets, sm.CommittedOffset{TP: o.TP, Offset: o.Offset, LeaderEpoch: o.LeaderEpoch, Metadata: o.Metadata, Code: o.Code.Wire()})
		}
		return reply(resp), true
	case sm.DeleteGroupsRequest:
		for _, other := range r.GroupIDs {
			if led(other) != c {
				return refuse(sm.CodeNotCoordinator, "groups of several coordinators"), true
			}
		}
		c.Delete(hold(r.ReqID), now, r.GroupIDs)
	default:
		f.t.Errorf("fake broker %v: unexpected group request %T", b.id, m)
		return nil, true
	}
	return f.drainLocked(c, nil), true
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func typeName(m sm.Message) string {
	switch m.(type) {
	case sm.FindCoordinatorRequest:
		return "FindCoordinator"
	case sm.JoinGroupRequest:
		return "JoinGroup"
	case sm.SyncGroupRequest:
		return "SyncGroup"
	case sm.HeartbeatRequest:
		return "Heartbeat"
	case sm.LeaveGroupRequest:
		return "LeaveGroup"
	case sm.OffsetCommitRequest:
		return "OffsetCommit"
	case sm.OffsetFetchRequest:
		return "OffsetFetch"
	}
	return "other"
}

// groupWireReply turns a coordinator's reply into the wire message.
func groupWireReply(reqID uint64, body group.Response) sm.Message {
	switch r := body.(type) {
	case group.JoinResponse:
		resp := sm.JoinGroupResponse{ReqID: reqID, Code: r.Code.Wire(), Message: r.Message, Generation: r.Generation, ProtocolType: r.ProtocolType, Protocol: r.Protocol, Leader: r.Leader, MemberID: r.MemberID}
		for _, m := range r.Members {
			resp.Members = append(resp.Members, sm.GroupMemberMetadata{MemberID: m.MemberID, InstanceID: m.InstanceID, Metadata: m.Metadata})
		}
		return resp
	case group.SyncResponse:
		return sm.SyncGroupResponse{ReqID: reqID, Code: r.Code.Wire(), Message: r.Message, ProtocolType: r.ProtocolType, Protocol: r.Protocol, Assignment: r.Assignment}
	case group.HeartbeatResponse:
		return sm.HeartbeatResponse{ReqID: reqID, Code: r.Code.Wire(), Message: r.Message}
	case group.LeaveResponse:
		resp := sm.LeaveGroupResponse{ReqID: reqID, Code: r.Code.Wire(), Message: r.Message}
		for _, m := range r.Members {
			resp.Members = append(resp.Members, sm.GroupMemberResult{MemberID: m.MemberID, GroupInstanceID: m.GroupInstanceID, Code: m.Code.Wire(), Message: m.Message})
		}
		return resp
	case group.CommitResponse:
		resp := sm.OffsetCommitResponse{ReqID: reqID, Code: r.Code.Wire(), Message: r.Message}
		for _, p := range r.Partitions {
			resp.Partitions = append(resp.Partitions, sm.PartitionResult{TP: p.TP, Code: p.Code.Wire(), Message: p.Message})
		}
		return resp
	case group.DeleteResponse:
		resp := sm.DeleteGroupsResponse{ReqID: reqID}
		for _, g := range r.Groups {
			resp.Groups = append(resp.Groups, sm.GroupResult{GroupID: g.GroupID, Code: g.Code.Wire(), Message: g.Message})
		}
		return resp
	}
	panic("fake: unknown coordinator reply")
}
