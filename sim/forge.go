package sim

import (
	"strings"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/weirmq/weir/runtime"
	"github.com/weirmq/weir/sm"
)

// The forger is a hostile client: during the safety phase, at random
// intervals, a workload client sends a server a message its role may not
// send at all (sm.MaySend) — raft traffic with a huge term, a heartbeat or
// ISR change for a broker, a replica fetch, a segment commit or a drop of
// every remote segment, answers nobody asked for. Each must be refused at
// the node's sender gate: the Step that takes it in returns the gate's
// error and reports sm.ProbeForbiddenSender, so nothing of it is acted on
// (the checker in deliverForged fails the run otherwise). Forgeries draw
// from their own stream and bypass the network's loss and latency draws,
// so they shift no other draw of the seed.

// forgeMeanGap is the mean time between two forgeries.
const forgeMeanGap = 2 * sm.Second

// startForgery schedules the first forgery, from stream r.
func (w *World) startForgery(r *rng) {
	d := sm.Duration(r.between(int64(forgeMeanGap)/2, int64(forgeMeanGap)*3/2))
	w.after(d, func() {
		if !w.faultsOn {
			return
		}
		w.forge(r)
		w.startForgery(r)
	})
}

// forge sends one forged message from a workload client to a server.
func (w *World) forge(r *rng) {
	clients := w.clientIDs()
	from := clients[r.intn(len(clients))]
	brokers, controllers := w.brokerIDs(), w.controllerIDs()
	tps := w.workloadTPs()
	tp := sm.TopicPartition{Topic: "forged"}
	if len(tps) > 0 {
		tp = tps[r.intn(len(tps))]
	}
	victim := brokers[r.intn(len(brokers))]
	var to sm.NodeID
	var m sm.Message
	if r.chance(0.5) {
		to = controllers[r.intn(len(controllers))]
		switch r.intn(6) {
		case 0:
			m = sm.RaftMessage{M: &pb.Message{Type: pb.MsgHeartbeat.Enum(), From: new(uint64(controllers[0])), To: new(uint64(to)), Term: new(uint64(1 << 40)), Commit: new(uint64(1 << 40))}}
		case 1:
			m = sm.BrokerHeartbeat{Broker: victim, Incarnation: 1 << 40}
		case 2:
			m = sm.AlterISRRequest{ReqID: 1, Broker: victim, TP: tp, LeaderEpoch: 1 << 40, PartitionEpoch: 1 << 40, ISR: []sm.NodeID{victim}}
		case 3:
			m = sm.CommitSegmentRequest{ReqID: 1, Broker: victim, TP: tp, LeaderEpoch: 1 << 40, Segment: sm.RemoteSegment{Name: "forged", Base: 0, Next: 1 << 40, DataBytes: 1, IndexBytes: 1}}
		case 4:
			m = sm.DropRemoteSegmentsRequest{ReqID: 1, Broker: victim, TP: tp, LeaderEpoch: 1 << 40, Below: 1 << 40}
		default:
			m = sm.CreateTopicResponse{ReqID: 1, Code: sm.CodeOK}
		}
	} else {
		to = victim
		switch r.intn(5) {
		case 0:
			m = sm.ReplicaFetchRequest{TP: tp, Replica: brokers[r.intn(len(brokers))], FetchOffset: 0}
		case 1:
			m = sm.ReplicaFetchResponse{TP: tp, HighWatermark: 1 << 40, FetchOffset: 0}
		case 2:
			m = sm.AlterISRResponse{ReqID: 1, TP: tp, Code: sm.CodeOK}
		case 3:
			m = sm.BrokerHeartbeatResponse{Code: sm.CodeOK}
		default:
			m = sm.MetadataResponse{ReqID: 1, Delta: sm.MetadataDelta{Full: true, ToVersion: 1 << 40}}
		}
	}
	h := w.hosts[to]
	if h == nil {
		return
	}
	inc := h.incarnation
	w.after(sm.Millisecond, func() { h.deliverForged(inc, sm.Received{From: from, Msg: m}) })
}

// deliverForged delivers a forged message and checks that the node's
// sender gate refused it.
func (h *host) deliverForged(inc uint64, ev sm.Received) {
	if !h.up || h.incarnation != inc {
		return
	}
	if h.w.now < h.pausedUntil {
		h.w.at(h.pausedUntil, func() { h.deliverForged(inc, ev) })
		return
	}
	if h.node.Ready().Fatal != "" {
		return // stopping: it takes in nothing
	}
	w := h.w
	w.trace.event(w.now, h.id, ev)
	w.trace.note(w.now, h.id, "forged %v from %v", ev.Msg.Kind(), ev.From)
	err := h.node.Step(h.localNow(), ev)
	refused := false
	for _, p := range h.node.Ready().Probes {
		refused = refused || p == sm.ProbeForbiddenSender
	}
	if err == nil || !strings.Contains(err.Error(), "may not send") || !refused {
		w.fail("%v took in a forged %v from %v: step error %v, forbidden-sender probe %v", h.id, ev.Msg.Kind(), ev.From, err, refused)
	}
	w.stats.StepErrors++
	runtime.Flush(h.node, h)
}
