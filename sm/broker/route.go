package broker

import (
	"fmt"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/acl"
	"github.com/weirmq/weir/sm/host"
	"github.com/weirmq/weir/sm/partition"
	"github.com/weirmq/weir/sm/tier"
)

// onReceived routes a message to the replica it concerns, or to the
// heartbeat session.
func (n *Node) onReceived(ev sm.Received) error {
	from, msg := ev.From, ev.Msg
	if !sm.SenderAllowed(from, msg) {
		// Not for a peer of that role to send (a client forging replica or
		// controller traffic): nothing of it is acted on.
		n.probe(sm.ProbeForbiddenSender)
		return fmt.Errorf("broker: %v: a %v may not send %v (from %v)", n.cfg.ID, from.Role(), msg.Kind(), from)
	}
	if n.refused(ev) {
		return nil
	}
	switch m := msg.(type) {
	case sm.ProduceRequest:
		if m.TP.Topic == sm.OffsetsTopic {
			// Only the coordinators write the offsets topic (they produce to
			// the replica directly, not through here).
			n.send(from, sm.ProduceResponse{ReqID: m.ReqID, TP: m.TP, Code: sm.CodeInvalidTopicName,
				Message: fmt.Sprintf("topic %q is internal: only the group coordinators write it", m.TP.Topic)})
			return nil
		}
		n.routeClient(ev, m.TP, acl.OpWrite, func(p *partition.Partition) { p.OnProduce(n.now, from, m) },
			func(code sm.Code, hint sm.NodeID, msg string) sm.Message {
				return sm.ProduceResponse{ReqID: m.ReqID, TP: m.TP, Code: code, LeaderHint: hint, Message: msg}
			})
	case sm.FetchRequest:
		n.routeClient(ev, m.TP, acl.OpRead, func(p *partition.Partition) {
			if t := n.tiers[m.TP]; t != nil {
				if st, cold := p.ColdFetch(n.now, m); cold {
					t.ColdFetch(n.now, from, m, st, n.tierView(m.TP))
					n.settleTier(m.TP)
					return
				}
			}
			p.OnFetch(n.now, from, m)
		},
			func(code sm.Code, hint sm.NodeID, msg string) sm.Message {
				return sm.FetchResponse{ReqID: m.ReqID, TP: m.TP, Code: code, LeaderHint: hint, Message: msg}
			})
	case sm.ListOffsetsRequest:
		n.routeClient(ev, m.TP, acl.OpDescribe, func(p *partition.Partition) { n.listOffsets(from, p, m) },
			func(code sm.Code, hint sm.NodeID, msg string) sm.Message {
				return sm.ListOffsetsResponse{ReqID: m.ReqID, TP: m.TP, Code: code, LeaderHint: hint, Message: msg}
			})
	case sm.ReplicaFetchRequest:
		if info, ok := n.meta.Broker(m.Replica); ok && m.Incarnation < info.Incarnation && !n.cfg.CanaryTrustStaleIncarnations {
			// A process the controller replaced (a zombie): its log is not
			// the replica's any more and must not count toward the ISR.
			n.probe(sm.ProbeStaleIncarnationFetchRefused)
			n.send(from, sm.ReplicaFetchResponse{TP: m.TP, Code: sm.CodeStaleBrokerEpoch, Incarnation: m.Incarnation, FetchOffset: m.FetchOffset})
			return nil
		}
		if p := n.parts[m.TP]; p != nil {
			p.OnReplicaFetch(n.now, from, m)
			n.drain(m.TP)
			return nil
		}
		code, _ := n.notHosted(m.TP)
		n.send(from, sm.ReplicaFetchResponse{TP: m.TP, Code: code, Incarnation: m.Incarnation, FetchOffset: m.FetchOffset})
	case sm.ReplicaFetchResponse:
		if p := n.parts[m.TP]; p != nil {
			p.OnReplicaFetchResponse(n.now, from, m)
			n.drain(m.TP)
		}
	case sm.AlterISRResponse:
		n.onAlterISRResponse(from, m)
	case sm.CommitSegmentResponse:
		n.onTierResponse(from, m.TP, m.Code, m.LeaderHint, func(t *tier.Tier) { t.OnCommitResponse(n.now, m) })
	case sm.DropRemoteSegmentsResponse:
		n.onTierResponse(from, m.TP, m.Code, m.LeaderHint, func(t *tier.Tier) { t.OnDropResponse(n.now, m) })
	case sm.RemoteSegmentsResponse:
		n.onTierResponse(from, m.TP, m.Code, m.LeaderHint, func(t *tier.Tier) { t.OnRemoteSegments(n.now, m) })
	case sm.BrokerHeartbeatResponse:
		n.onHeartbeatResponse(from, m)
	case sm.MetadataRequest:
		n.onMetadataRequest(ev, m)
	case sm.FindCoordinatorRequest, sm.JoinGroupRequest, sm.SyncGroupRequest, sm.HeartbeatRequest, sm.LeaveGroupRequest,
		sm.OffsetCommitRequest, sm.OffsetFetchRequest, sm.ListGroupsRequest, sm.DescribeGroupsRequest, sm.DeleteGroupsRequest:
		n.onGroupRequest(ev)
	case sm.CreateTopicResponse:
		n.onCreateTopicResponse(from, m)
	case sm.InitProducerIDRequest:
		n.onInitProducerID(ev, m)
	case sm.AllocateProducerIDsResponse:
		n.onAllocateProducerIDsResponse(from, m)
	default:
		return fmt.Errorf("broker: %v cannot route %T from %v", n.cfg.ID, msg, from)
	}
	return nil
}

// listOffsets answers a client's ListOffsets. A time lookup on a tiered
// partition whose answer may lie below the local log start (a recorded
// segment there reaches the time) goes to the tier component, which reads
// the object store (its answer comes out of settleTier, see onSeekResult);
// everything else the replica answers.
func (n *Node) listOffsets(from sm.NodeID, p *partition.Partition, m sm.ListOffsetsRequest) {
	if t := n.tiers[m.TP]; t != nil && m.ByTime {
		if st, ok := p.OffsetsStatus(n.now, m); ok {
			cv := tier.View{HighWatermark: st.HighWatermark, LogStart: st.LogStart, LeaderEpoch: st.LeaderEpoch}
			if t.ColdSeekTime(n.now, from, m, m.Timestamp, 0, cv, n.tierView(m.TP)) {
				n.settleTier(m.TP)
				return
			}
		}
	}
	p.OnListOffsets(n.now, from, m)
}

// onSeekResult answers a time lookup the tier component finished, by the
// replica's state now: found, or none below the high watermark; a search
// that stopped short goes on in the object store or, past the local log
// start, in the local log.
func (n *Node) onSeekResult(t *tier.Tier, res tier.SeekResult) {
	req := sm.ListOffsetsRequest{ReqID: res.ReqID, TP: res.TP, ByTime: true, Timestamp: res.Time}
	p := n.parts[res.TP]
	if p == nil {
		code, hint := n.notHosted(res.TP)
		n.send(res.From, sm.ListOffsetsResponse{ReqID: res.ReqID, TP: res.TP, Code: code, LeaderHint: hint, Message: "partition not hosted here"})
		return
	}
	resp, ok := p.OffsetsStatus(n.now, req)
	switch {
	case !ok:
	case !n.leased():
		n.probe(sm.ProbeLeaseExpired)
		resp = sm.ListOffsetsResponse{ReqID: req.ReqID, TP: req.TP, Code: sm.CodeNotLeader, Message: leaseExpired}
	case res.Code != sm.CodeOK:
		resp.Code, resp.Message = res.Code, res.Message
	case res.Found:
		resp.Offset, resp.OffsetTimestamp = res.Offset, res.Timestamp
	case res.End >= resp.HighWatermark:
		resp.Offset = -1
	default:
		cv := tier.View{HighWatermark: resp.HighWatermark, LogStart: resp.LogStart, LeaderEpoch: resp.LeaderEpoch}
		if res.End < resp.LocalStart && t.ColdSeekTime(n.now, res.From, req, res.Time, res.End, cv, n.tierView(res.TP)) {
			return // settleTier takes it on
		}
		p.OnListOffsets(n.now, res.From, req)
		n.settle(host.PartitionKey(res.TP))
		return
	}
	n.send(res.From, resp)
}

// onMetadataRequest answers a client from this broker's copy of the
// metadata, so clients need only a broker list (as the reference's SDK
// does). The copy may lag the controller; clients refresh on NOT_LEADER.
// Before the broker holds any metadata it answers NOT_LEADER with its
// controller guess as the hint.
func (n *Node) onMetadataRequest(ev sm.Received, req sm.MetadataRequest) {
	if n.meta.Version() == 0 {
		n.send(ev.From, sm.MetadataResponse{ReqID: req.ReqID, Code: sm.CodeNotLeader, LeaderHint: n.ctrl})
		return
	}
	n.send(ev.From, sm.MetadataResponse{ReqID: req.ReqID, Delta: n.visible(ev, n.meta.delta(req.SinceVersion))})
}

// notHosted answers for a partition this broker holds no replica of: before
// any metadata everything is NOT_LEADER (retry), an unknown partition is
// UNKNOWN_TOPIC, a known one is NOT_LEADER with its leader as the hint.
func (n *Node) notHosted(tp sm.TopicPartition) (sm.Code, sm.NodeID) {
	switch {
	case n.meta.Version() == 0:
		return sm.CodeNotLeader, sm.NoNode
	case !n.meta.Known(tp):
		return sm.CodeUnknownTopic, sm.NoNode
	}
	leader, _ := n.meta.Leader(tp)
	return sm.CodeNotLeader, leader
}

// onAlterISRResponse hands the controller's answer to the replica and
// follows a controller leader hint for the next request.
func (n *Node) onAlterISRResponse(from sm.NodeID, m sm.AlterISRResponse) {
	if m.Code == sm.CodeNotLeader && from == n.ctrl && m.LeaderHint != sm.NoNode {
		n.ctrl = m.LeaderHint
	}
	if p := n.parts[m.TP]; p != nil {
		p.OnAlterISRResponse(n.now, m)
		n.drain(m.TP)
	}
}

// routeClient hands a client's request for tp to its replica, unless the
// leader lease has expired (NOT_LEADER, see leaseUntil) or tp is not hosted
// here; refuse builds the answer in those cases.
func (n *Node) routeClient(ev sm.Received, tp sm.TopicPartition, op acl.Operation, deliver func(*partition.Partition), refuse func(code sm.Code, hint sm.NodeID, msg string) sm.Message) {
	from := ev.From
	p := n.parts[tp]
	if p != nil && !n.leased() {
		n.probe(sm.ProbeLeaseExpired)
		n.send(from, refuse(sm.CodeNotLeader, sm.NoNode, leaseExpired))
		return
	}
	// Authorized first, hosted here or not, so that a principal learns
	// nothing of a topic it may not use (not even that it exists: an
	// unknown topic it may not use is refused the same way); and only with
	// a lease: a broker cut off from the controller may hold old rules.
	if n.leased() {
		if d := n.authorize(ev, tp.Topic, op); !d.Allowed {
			switch op {
			case acl.OpWrite:
				n.probe(sm.ProbeProduceDenied)
			case acl.OpRead:
				n.probe(sm.ProbeFetchDenied)
			}
			msg := n.denied(ev, tp.Topic, op, d)
			n.audit(ev, tp.Topic, op, d, msg)
			n.send(from, refuse(sm.CodeTopicAuthorizationFailed, sm.NoNode, msg))
			return
		}
	}
	if p != nil {
		deliver(p)
		n.drain(tp)
		return
	}
	code, hint := n.notHosted(tp)
	n.send(from, refuse(code, hint, "partition not hosted here"))
}
