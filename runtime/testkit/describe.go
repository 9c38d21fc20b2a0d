package testkit

import (
	"fmt"
	"strings"

	"github.com/weirmq/weir/sm"
)

// Describe renders a message on one line for interaction tests and traces:
// the fields a reader follows (epochs, offsets, codes, ISR), not the bytes.
func Describe(m sm.Message) string {
	switch m := m.(type) {
	case sm.ProduceRequest:
		return fmt.Sprintf("ProduceRequest req=%d %v acks=%v records=%d", m.ReqID, m.TP, m.Acks, len(m.Records))
	case sm.ProduceResponse:
		return fmt.Sprintf("ProduceResponse req=%d %v %v base=%d epoch=%d%s%s", m.ReqID, m.TP, m.Code, m.BaseOffset, m.LeaderEpoch, hint(m.LeaderHint), note(m.Message))
	case sm.FetchRequest:
		return fmt.Sprintf("FetchRequest req=%d %v offset=%d epoch=%d", m.ReqID, m.TP, m.Offset, m.CurrentLeaderEpoch)
	case sm.FetchResponse:
		return fmt.Sprintf("FetchResponse req=%d %v %v hw=%d epoch=%d batches=%s%s%s", m.ReqID, m.TP, m.Code, m.HighWatermark, m.LeaderEpoch, Batches(m.Batches), hint(m.LeaderHint), note(m.Message))
	case sm.ReplicaFetchRequest:
		return fmt.Sprintf("ReplicaFetchRequest %v replica=%v inc=%d epoch=%d offset=%d last-epoch=%d", m.TP, m.Replica, m.Incarnation, m.LeaderEpoch, m.FetchOffset, m.LastFetchedEpoch)
	case sm.ReplicaFetchResponse:
		s := fmt.Sprintf("ReplicaFetchResponse %v %v inc=%d epoch=%d offset=%d hw=%d batches=%s", m.TP, m.Code, m.Incarnation, m.LeaderEpoch, m.FetchOffset, m.HighWatermark, Batches(m.Batches))
		if m.Diverging {
			s += fmt.Sprintf(" diverging epoch=%d end=%d", m.DivergingEpoch, m.DivergingEndOffset)
		}
		return s
	case sm.AlterISRRequest:
		return fmt.Sprintf("AlterISRRequest req=%d %v broker=%v epoch=%d pe=%d isr=%v", m.ReqID, m.TP, m.Broker, m.LeaderEpoch, m.PartitionEpoch, m.ISR)
	case sm.AlterISRResponse:
		return fmt.Sprintf("AlterISRResponse req=%d %v %v %s%s", m.ReqID, m.TP, m.Code, State(m.State), note(m.Message))
	case sm.BrokerHeartbeat:
		return fmt.Sprintf("BrokerHeartbeat broker=%v inc=%d version=%d", m.Broker, m.Incarnation, m.MetadataVersion)
	case sm.BrokerHeartbeatResponse:
		return fmt.Sprintf("BrokerHeartbeatResponse inc=%d %v version=%d→%d full=%v%s", m.Incarnation, m.Code, m.Delta.FromVersion, m.Delta.ToVersion, m.Delta.Full, hint(m.LeaderHint))
	}
	return fmt.Sprintf("%T", m)
}

// State renders a partition state.
func State(st sm.PartitionState) string {
	return fmt.Sprintf("leader=%v epoch=%d pe=%d isr=%v", st.Leader, st.LeaderEpoch, st.PartitionEpoch, st.ISR)
}

// Batches renders batches as [base,end)@epoch ranges.
func Batches(bs []sm.Batch) string {
	if len(bs) == 0 {
		return "none"
	}
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = fmt.Sprintf("[%d,%d)@%d", b.BaseOffset, b.NextOffset(), b.Epoch)
	}
	return strings.Join(parts, ",")
}

// DescribeOp renders a log operation.
func DescribeOp(op sm.LogOp) string {
	s := fmt.Sprintf("log %v %v id=%d", op.Kind, op.TP, op.ID)
	switch op.Kind {
	case sm.LogAppend:
		bs, _, err := sm.DecodeLog(op.Data)
		s += " " + Batches(bs)
		if err != nil {
			s += " (undecodable tail)"
		}
	case sm.LogTruncate:
		s += fmt.Sprintf(" to=%d", op.Offset)
	}
	if op.Sync {
		s += " sync"
	}
	return s
}

// DescribeEffect renders one effect batch as lines (none for a timer wish:
// every step reports one). Messages show as "from→to message", probes as
// "probe name".
func DescribeEffect(e Effect) []string {
	var out []string
	for _, op := range e.Log {
		out = append(out, DescribeOp(op))
	}
	for _, s := range e.Raft {
		out = append(out, fmt.Sprintf("raft save id=%d entries=%d sync=%v", s.ID, len(s.Entries), s.Sync))
	}
	for _, m := range e.Messages {
		out = append(out, fmt.Sprintf("%v→%v %s", m.From, m.To, Describe(m.Msg)))
	}
	for _, p := range e.Probes {
		out = append(out, "probe "+p.String())
	}
	if e.Fatal != "" {
		out = append(out, "fatal: "+e.Fatal)
	}
	return out
}

func hint(id sm.NodeID) string {
	if id == sm.NoNode {
		return ""
	}
	return fmt.Sprintf(" hint=%v", id)
}

func note(msg string) string {
	if msg == "" {
		return ""
	}
	return fmt.Sprintf(" (%s)", msg)
}
