package controller

import (
	"fmt"
	"maps"
	"slices"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/assert"
	"github.com/weirmq/weir/sm/group"
)

// proposal is a request waiting for its entry to apply. Broker operations
// (register, fence) carry the heartbeats that wait on them instead of a
// client: those are handled again once the operation applies.
type proposal struct {
	kind    kind
	client  sm.NodeID
	reqID   uint64
	tp      sm.TopicPartition // alter_isr, commit_segment, drop_remote_segments
	broker  sm.NodeID         // register, fence
	waiters []heartbeat       // register, fence
	// principal is who asked (acl), for the audit log.
	principal string
}

// heartbeat is a BrokerHeartbeat with the node it came from.
type heartbeat struct {
	from sm.NodeID
	hb   sm.BrokerHeartbeat
}

// outcomeUnknown is the message of replies to requests whose entry may still
// commit after this node lost leadership.
const outcomeUnknown = "outcome unknown: leadership lost"

// codeLeadershipLost answers such requests; clients treat it (like
// CodeTimeout) as "outcome unknown".
const codeLeadershipLost = sm.CodeLeadershipLost

func (n *Node) onReceived(ev sm.Received) error {
	if !sm.SenderAllowed(ev.From, ev.Msg) {
		// Not for a peer of that role to send (a client forging raft or
		// broker traffic): nothing of it is acted on.
		n.probe(sm.ProbeForbiddenSender)
		return fmt.Errorf("controller: %v: a %v may not send %v (from %v)", n.cfg.ID, ev.From.Role(), ev.Msg.Kind(), ev.From)
	}
	if n.refused(ev) || !n.permitted(ev) {
		return nil
	}
	switch m := ev.Msg.(type) {
	case sm.RaftMessage:
		return n.onRaftMessage(ev.From, m)
	case sm.BrokerHeartbeat:
		n.onHeartbeat(heartbeat{from: ev.From, hb: m})
	case sm.CreateTopicRequest:
		n.onCreateTopic(ev.From, m)
	case sm.DeleteTopicRequest:
		n.onDeleteTopic(ev.From, m)
	case sm.AlterISRRequest:
		n.onAlterISR(ev.From, m)
	case sm.AlterTopicConfigRequest:
		n.onAlterTopicConfig(ev.From, m)
	case sm.MetadataRequest:
		n.onMetadata(ev, m)
	case sm.ClusterStatusRequest:
		n.onClusterStatus(ev.From, m)
	case sm.CommitSegmentRequest:
		n.onCommitSegment(ev.From, m)
	case sm.DropRemoteSegmentsRequest:
		n.onDropRemoteSegments(ev.From, m)
	case sm.RemoteSegmentsRequest:
		n.onRemoteSegments(ev.From, m)
	case sm.ACLRequest:
		n.onACL(ev, m)
	case sm.CertRequest:
		n.onCert(ev, m)
	case sm.AllocateProducerIDsRequest:
		n.onAllocateProducerIDs(ev.From, m)
	default:
		return fmt.Errorf("controller: unexpected message %T from %v", ev.Msg, ev.From)
	}
	return nil
}

// onMetadata answers from the applied state on any controller; it may be
// stale, which clients tolerate.
func (n *Node) onMetadata(ev sm.Received, req sm.MetadataRequest) {
	n.send(ev.From, sm.MetadataResponse{ReqID: req.ReqID, LeaderHint: n.Leader(), Delta: n.visible(ev, n.md.delta(req.SinceVersion))})
}

// onHeartbeat registers a broker incarnation (through raft) or refreshes its
// session. A heartbeat of a broker whose register or fence is pending waits
// for it and is then handled again.
func (n *Node) onHeartbeat(h heartbeat) {
	if !n.IsLeader() {
		n.send(h.from, sm.BrokerHeartbeatResponse{Incarnation: h.hb.Incarnation, Code: sm.CodeNotLeader, LeaderHint: n.Leader()})
		return
	}
	id := h.hb.Broker
	if id == sm.NoNode {
		n.send(h.from, sm.BrokerHeartbeatResponse{Incarnation: h.hb.Incarnation, Code: sm.CodeInvalidRequest, LeaderHint: n.cfg.ID})
		return
	}
	if seq, ok := n.brokerOps[id]; ok {
		n.wait(n.proposals[seq], h)
		return
	}
	b := n.md.brokers[id]
	switch {
	case b != nil && h.hb.Incarnation < b.info.Incarnation:
		n.send(h.from, sm.BrokerHeartbeatResponse{Incarnation: h.hb.Incarnation, Code: sm.CodeStaleBrokerEpoch, LeaderHint: n.cfg.ID})
	case b == nil || h.hb.Incarnation > b.info.Incarnation || b.info.Fenced:
		n.proposeRegister(h)
	default:
		n.heartbeatAt[id] = n.now
		if h.hb.Health != nil {
			n.reports[id] = report{at: n.now, health: *h.hb.Health}
		}
		n.replyHeartbeat(h)
	}
}

func (n *Node) replyHeartbeat(h heartbeat) {
	n.send(h.from, sm.BrokerHeartbeatResponse{Incarnation: h.hb.Incarnation,
		LeaderHint:     n.cfg.ID,
		Delta:          n.md.delta(h.hb.MetadataVersion),
		SessionTimeout: n.cfg.SessionTimeout,
		SentAt:         h.hb.SentAt,
	})
}

// wait parks h on p, dropping the oldest waiter beyond waitersMax (unanswered:
// the broker's next heartbeat supersedes it anyway).
func (n *Node) wait(p *proposal, h heartbeat) {
	assert.That(p != nil && p.broker == h.hb.Broker, "controller: broker %v op without its proposal", h.hb.Broker)
	if len(p.waiters) == waitersMax {
		p.waiters = slices.Delete(p.waiters, 0, 1)
	}
	p.waiters = append(p.waiters, h)
}

func (n *Node) proposeRegister(h heartbeat) {
	hb := h.hb
	cmd := command{Register: &registerBroker{ID: hb.Broker, Incarnation: hb.Incarnation, Rack: hb.Rack, Host: hb.Host,
		LostDisk: hb.LostDisk, Lost: hb.Lost, AcceptDataLoss: hb.AcceptDataLoss}}
	p := &proposal{broker: hb.Broker, waiters: []heartbeat{h}}
	if seq, err := n.propose(&cmd, p); err == nil {
		n.brokerOps[hb.Broker] = seq
		return
	}
	n.send(h.from, sm.BrokerHeartbeatResponse{Incarnation: h.hb.Incarnation, Code: sm.CodeLeaderNotAvailable, LeaderHint: n.cfg.ID})
}

func (n *Node) onCreateTopic(from sm.NodeID, req sm.CreateTopicRequest) {
	reply := func(code sm.Code, msg string) {
		n.send(from, sm.CreateTopicResponse{ReqID: req.ReqID, Code: code, Message: msg, LeaderHint: n.Leader()})
	}
	if !n.IsLeader() {
		reply(sm.CodeNotLeader, "not the controller leader")
		return
	}
	c, r := n.createCommand(req, from.Role() == sm.RoleBroker)
	if r.code != sm.CodeOK {
		reply(r.code, r.message)
		return
	}
	p := &proposal{client: from, reqID: req.ReqID}
	if _, err := n.propose(&command{Create: c}, p); err != nil {
		reply(sm.CodeLeaderNotAvailable, err.Error())
	}
}

// createCommand checks a request's shape early, so a bad request costs no
// raft round, and resolves the default min ISR into the command. The checks
// that depend on state (existence, live brokers) happen when the entry
// applies; the partition limit only here, so that replicas never need to
// agree on configuration.
//
// A broker may create only the offsets topic (on a client's first
// FindCoordinator), and only it may: clients never name internal topics.
func (n *Node) createCommand(req sm.CreateTopicRequest, byBroker bool) (*createTopic, result) {
	c := &createTopic{Name: req.Name, Partitions: req.Partitions, ReplicationFactor: req.ReplicationFactor, Config: req.Config, CreatedAtMs: req.CreatedAtMs}
	if c.Config.MinInSyncReplicas == 0 {
		c.Config.MinInSyncReplicas = max(1, min(n.cfg.DefaultMinISR, c.ReplicationFactor))
	}
	if r, ok := validateCreate(c, int(c.ReplicationFactor)); !ok {
		return nil, r
	}
	if byBroker && c.Name != group.OffsetsTopic {
		return nil, fail(sm.CodeInvalidRequest, "a broker may create only the offsets topic %q (got %q)", group.OffsetsTopic, c.Name)
	}
	if reservedTopic(c.Name) && !byBroker {
		return nil, fail(sm.CodeInvalidTopicName, "topic name %q is reserved for Weir's internal topics (consumer group offsets, transactions); choose another name", c.Name)
	}
	if c.Partitions > n.cfg.MaxPartitions {
		return nil, fail(sm.CodeInvalidPartitions, "partitions %d above the limit %d", c.Partitions, n.cfg.MaxPartitions)
	}
	return c, result{}
}

// reservedTopic reports whether name is one of the internal topics (Kafka's
// names, which Kafka clients expect): requests may not create them. The
// check is the proposer's, not the apply step's, so logs written before it
// replay as they did.
func reservedTopic(name string) bool {
	return name == group.OffsetsTopic || name == "__transaction_state"
}

func (n *Node) onDeleteTopic(from sm.NodeID, req sm.DeleteTopicRequest) {
	reply := func(code sm.Code, msg string) {
		n.send(from, sm.DeleteTopicResponse{ReqID: req.ReqID, Code: code, Message: msg, LeaderHint: n.Leader()})
	}
	if !n.IsLeader() {
		reply(sm.CodeNotLeader, "not the controller leader")
		return
	}
	if reservedTopic(req.Name) {
		reply(sm.CodeInvalidTopicName, fmt.Sprintf("topic %q is internal (consumer group offsets, transactions) and cannot be deleted; delete groups with weir groups delete", req.Name))
		return
	}
	p := &proposal{client: from, reqID: req.ReqID}
	if _, err := n.propose(&command{Delete: &deleteTopic{Name: req.Name}}, p); err != nil {
		reply(sm.CodeLeaderNotAvailable, err.Error())
	}
}

// onAlterISR proposes the change; whether the epochs still match is decided
// when it applies, since this leader's applied state may lag the log.
func (n *Node) onAlterISR(from sm.NodeID, req sm.AlterISRRequest) {
	reply := func(code sm.Code) {
		n.send(from, sm.AlterISRResponse{ReqID: req.ReqID, TP: req.TP, Code: code, LeaderHint: n.Leader()})
	}
	if !n.IsLeader() {
		reply(sm.CodeNotLeader)
		return
	}
	c := &alterISR{Broker: req.Broker, TP: req.TP, LeaderEpoch: req.LeaderEpoch, PartitionEpoch: req.PartitionEpoch,
		ISR: slices.Clone(req.ISR), Incarnations: slices.Clone(req.Incarnations)}
	p := &proposal{client: from, reqID: req.ReqID, tp: req.TP}
	if _, err := n.propose(&command{AlterISR: c}, p); err != nil {
		reply(sm.CodeLeaderNotAvailable)
	}
}

// propose stamps cmd with this tenure's identity, hands it to raft and
// remembers p until the entry applies or leadership is lost.
func (n *Node) propose(cmd *command, p *proposal) (uint64, error) {
	assert.That(n.IsLeader(), "controller: %v proposes %s while not leader", n.cfg.ID, cmd.kind())
	if len(n.proposals) >= proposalsMax {
		return 0, fmt.Errorf("%w: %d proposals pending", errDropped, len(n.proposals))
	}
	n.seqLast++
	cmd.Proposer, cmd.Term, cmd.Seq = n.cfg.ID, n.leaderTerm, n.seqLast
	if err := n.rn.Propose(encodeCommand(cmd)); err != nil {
		return 0, fmt.Errorf("%w: %v", errDropped, err)
	}
	p.kind = cmd.kind()
	n.proposals[cmd.Seq] = p
	return cmd.Seq, nil
}

// afterApply does the leader's share of applying cmd: session bookkeeping,
// and the reply if this tenure proposed it.
func (n *Node) afterApply(cmd *command, res result) {
	if !n.IsLeader() {
		return
	}
	n.trackSession(cmd, res)
	if cmd.Proposer != n.cfg.ID || cmd.Term != n.leaderTerm {
		return
	}
	p := n.proposals[cmd.Seq]
	if p == nil {
		return
	}
	assert.That(p.kind == cmd.kind(), "controller: proposal %d is %s, entry is %s", cmd.Seq, p.kind, cmd.kind())
	delete(n.proposals, cmd.Seq)
	n.answer(p, res)
}

// trackSession keeps heartbeatAt to the live brokers: a broker registered
// now starts its session now; a fenced one has none.
func (n *Node) trackSession(cmd *command, res result) {
	switch {
	case cmd.Register != nil && res.code == sm.CodeOK:
		n.heartbeatAt[cmd.Register.ID] = n.now
	case cmd.Fence != nil && !n.md.alive(cmd.Fence.ID):
		delete(n.heartbeatAt, cmd.Fence.ID)
	}
}

// answer replies to p with the applied result.
func (n *Node) answer(p *proposal, res result) {
	switch p.kind {
	case kindCreate:
		n.send(p.client, sm.CreateTopicResponse{ReqID: p.reqID, Code: res.code, Message: res.message, LeaderHint: n.cfg.ID})
	case kindDelete:
		n.send(p.client, sm.DeleteTopicResponse{ReqID: p.reqID, Code: res.code, Message: res.message, LeaderHint: n.cfg.ID})
	case kindAlterISR:
		n.send(p.client, sm.AlterISRResponse{ReqID: p.reqID, TP: p.tp, Code: res.code, LeaderHint: n.cfg.ID, State: res.state})
	case kindAlterConfig:
		n.send(p.client, sm.AlterTopicConfigResponse{ReqID: p.reqID, Code: res.code, Message: res.message, LeaderHint: n.cfg.ID})
	case kindCommitSegment:
		n.send(p.client, sm.CommitSegmentResponse{ReqID: p.reqID, TP: p.tp, Code: res.code, Message: res.message, LeaderHint: n.cfg.ID, Remote: res.remote})
	case kindDropRemote:
		n.send(p.client, sm.DropRemoteSegmentsResponse{ReqID: p.reqID, TP: p.tp, Code: res.code, Message: res.message, LeaderHint: n.cfg.ID, Remote: res.remote})
	case kindACL:
		if res.code == sm.CodeOK && (len(res.acl.Created) > 0 || len(res.acl.Deleted) > 0) {
			op := "create"
			if len(res.acl.Created) == 0 {
				op = "delete"
			}
			n.out.Security = append(n.out.Security, sm.SecurityEvent{Kind: sm.SecurityACLChanged, Principal: p.principal, Resource: "cluster", Operation: op,
				Message: fmt.Sprintf("ACL rules version %d: created %v, deleted %v", res.acl.Version, res.acl.Created, res.acl.Deleted)})
		}
		n.send(p.client, sm.ACLResponse{ReqID: p.reqID, Code: res.code, Message: res.message, LeaderHint: n.cfg.ID, Result: res.acl})
	case kindCert:
		if res.code == sm.CodeOK {
			kind, op, msg := sm.SecurityCertRegistered, "issue", fmt.Sprintf("certificate %s registered for %q (%s)", res.cert.Serial, res.cert.Principal, res.cert.Role)
			switch {
			case res.cert.Revoked:
				kind, op, msg = sm.SecurityCertRevoked, "revoke", fmt.Sprintf("certificate %s revoked: %s", res.cert.Serial, res.cert.Reason)
			case res.cert.Replaces != "" && res.cert.Rotated:
				op, msg = "rotate", msg+fmt.Sprintf(", a new key pair replacing %s", res.cert.Replaces)
			case res.cert.Replaces != "":
				op, msg = "renew", msg+fmt.Sprintf(", renewing %s", res.cert.Replaces)
			}
			n.out.Security = append(n.out.Security, sm.SecurityEvent{Kind: kind, Principal: p.principal, Resource: "certificate:" + res.cert.Serial, Operation: op, Reason: res.cert.Reason, Message: msg})
		}
		n.send(p.client, sm.CertResponse{ReqID: p.reqID, Code: res.code, Message: res.message, LeaderHint: n.cfg.ID, Record: res.cert})
	case kindAllocProducerIDs:
		n.send(p.client, sm.AllocateProducerIDsResponse{ReqID: p.reqID, Code: res.code, Message: res.message, LeaderHint: n.cfg.ID,
			First: res.pidFirst, Count: res.pidCount})
	case kindRegister, kindFence:
		delete(n.brokerOps, p.broker)
		for _, h := range p.waiters {
			n.onHeartbeat(h)
		}
	default:
		panic(fmt.Sprintf("controller: answer for proposal kind %v", p.kind))
	}
}

// stepUp starts a tenure: every live broker gets a fresh session from now,
// since heartbeats went to the previous leader, and health starts from no
// reports and a grace period (see health.go).
func (n *Node) stepUp(term uint64) {
	assert.That(len(n.proposals) == 0 && len(n.brokerOps) == 0, "controller: %v steps up with %d proposals pending", n.cfg.ID, len(n.proposals))
	assert.That(len(n.reports) == 0 && len(n.reads) == 0, "controller: %v steps up with %d health reports, %d reads held", n.cfg.ID, len(n.reports), len(n.reads))
	n.leaderTerm = term
	for _, b := range n.md.liveBrokers() {
		n.heartbeatAt[b.ID] = n.now
	}
	n.leaderSince = n.now
	n.sweepAt = n.now.Add(n.cfg.HealthTimeout)
	n.gcStepUp()
}

// stepDown ends a tenure. Pending requests may still commit under the next
// leader, so their outcome is unknown; waiting heartbeats and unanswered
// cluster-status reads go to the leader. Health reports are forgotten.
func (n *Node) stepDown(hint sm.NodeID) {
	n.leaderTerm = 0
	if len(n.proposals) > 0 {
		n.probe(sm.ProbeProposalsLost)
	}
	for _, seq := range slices.Sorted(maps.Keys(n.proposals)) {
		n.abandon(n.proposals[seq], hint)
	}
	clear(n.proposals)
	clear(n.brokerOps)
	clear(n.heartbeatAt)
	clear(n.reports)
	n.abandonReads(hint)
	n.gcStepDown()
}

func (n *Node) abandon(p *proposal, hint sm.NodeID) {
	switch p.kind {
	case kindCreate:
		n.send(p.client, sm.CreateTopicResponse{ReqID: p.reqID, Code: codeLeadershipLost, Message: outcomeUnknown, LeaderHint: hint})
	case kindDelete:
		n.send(p.client, sm.DeleteTopicResponse{ReqID: p.reqID, Code: codeLeadershipLost, Message: outcomeUnknown, LeaderHint: hint})
	case kindAlterISR:
		n.send(p.client, sm.AlterISRResponse{ReqID: p.reqID, TP: p.tp, Code: codeLeadershipLost, LeaderHint: hint})
	case kindAlterConfig:
		n.send(p.client, sm.AlterTopicConfigResponse{ReqID: p.reqID, Code: codeLeadershipLost, Message: outcomeUnknown, LeaderHint: hint})
	case kindCommitSegment:
		n.send(p.client, sm.CommitSegmentResponse{ReqID: p.reqID, TP: p.tp, Code: codeLeadershipLost, Message: outcomeUnknown, LeaderHint: hint})
	case kindDropRemote:
		n.send(p.client, sm.DropRemoteSegmentsResponse{ReqID: p.reqID, TP: p.tp, Code: codeLeadershipLost, Message: outcomeUnknown, LeaderHint: hint})
	case kindACL:
		n.send(p.client, sm.ACLResponse{ReqID: p.reqID, Code: codeLeadershipLost, Message: outcomeUnknown, LeaderHint: hint})
	case kindCert:
		n.send(p.client, sm.CertResponse{ReqID: p.reqID, Code: codeLeadershipLost, Message: outcomeUnknown, LeaderHint: hint})
	case kindAllocProducerIDs:
		// The block may still be taken: its IDs are then never used.
		n.send(p.client, sm.AllocateProducerIDsResponse{ReqID: p.reqID, Code: codeLeadershipLost, Message: outcomeUnknown, LeaderHint: hint})
	case kindRegister, kindFence:
		for _, h := range p.waiters {
			n.send(h.from, sm.BrokerHeartbeatResponse{Incarnation: h.hb.Incarnation, Code: sm.CodeNotLeader, LeaderHint: hint})
		}
	}
}

// expireSessions fences, through raft, every live broker whose last heartbeat
// is older than SessionTimeout and has no operation pending.
func (n *Node) expireSessions() {
	if !n.IsLeader() {
		return
	}
	for _, b := range n.md.liveBrokers() {
		if _, pending := n.brokerOps[b.ID]; pending {
			continue
		}
		at, ok := n.heartbeatAt[b.ID]
		if !ok {
			n.heartbeatAt[b.ID] = n.now
			continue
		}
		if n.now.Sub(at) <= n.cfg.SessionTimeout {
			continue
		}
		cmd := command{Fence: &fenceBroker{ID: b.ID, Incarnation: b.Incarnation}}
		if seq, err := n.propose(&cmd, &proposal{broker: b.ID}); err == nil {
			n.brokerOps[b.ID] = seq
			n.probe(sm.ProbeSessionExpired)
		}
	}
}

// onAllocateProducerIDs takes a block of producer IDs for the broker that
// asks, through raft (so no failover reissues one).
func (n *Node) onAllocateProducerIDs(from sm.NodeID, req sm.AllocateProducerIDsRequest) {
	reply := func(code sm.Code, msg string) {
		n.send(from, sm.AllocateProducerIDsResponse{ReqID: req.ReqID, Code: code, Message: msg, LeaderHint: n.Leader()})
	}
	switch {
	case req.Broker != from:
		reply(sm.CodeInvalidRequest, fmt.Sprintf("broker %v asked for producer IDs for %v", from, req.Broker))
		return
	case !n.IsLeader():
		reply(sm.CodeNotLeader, "not the controller leader")
		return
	}
	p := &proposal{client: from, reqID: req.ReqID}
	if _, err := n.propose(&command{AllocProducerIDs: &allocProducerIDs{Broker: from, Count: producerIDBlock}}, p); err != nil {
		reply(sm.CodeLeaderNotAvailable, err.Error())
	}
}
