package controller

import (
	"encoding/binary"
	"maps"
	"slices"

	"go.etcd.io/raft/v3"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/assert"
)

// Broker health tracking and the operator's cluster status.
//
// Brokers attach a health report (sm.BrokerHealth) to a heartbeat every
// health interval. Like sessions, reports are the leader's soft state: they
// are not replicated, a follower holds none, and a leader forgets them when
// it steps down.
//
//   - Online: a broker is online while now − its last report ≤ HealthTimeout
//     (the reference's health_timeout_ms).
//   - A new leader has no reports: brokers reported to its predecessor. It
//     gives every unfenced broker the benefit of the doubt, online with
//     LastReport 0, until HealthTimeout has passed since it became leader —
//     by then every live broker has reported to it. So a failover never makes
//     a healthy cluster look unhealthy; the price is that a broker that died
//     just before the failover shows online for up to HealthTimeout after
//     it (at most 2 × HealthTimeout after its last report). A fenced broker
//     gets no grace: its session already expired.
//   - Stale entries: every HealthTimeout the leader forgets the reports of
//     brokers the metadata does not know and reports older than
//     healthForgetFactor × HealthTimeout (the broker then shows as never
//     reported and offline), so the table never outgrows the brokers that
//     are alive or recently were.
//   - Cluster health, the reference's rule: a controller leader exists and,
//     with at most two brokers, at least one is online; with more, a strict
//     majority is online. Every broker in the metadata counts, fenced ones
//     included (there is no decommissioning: a fenced broker is one the
//     cluster expects back); with none the cluster is unhealthy.

// healthForgetFactor: a report older than this many health timeouts is
// forgotten.
const healthForgetFactor = 10

// report is a broker's last health report and when the leader received it.
type report struct {
	at     sm.Time
	health sm.BrokerHealth
}

// read is a linearizable cluster-status request waiting for its ReadIndex
// round (confirmed, with the read index) and then for the applied index to
// reach the read index.
type read struct {
	client    sm.NodeID
	reqID     uint64
	confirmed bool
	index     uint64
}

// sweepReports forgets stale reports, at most once per HealthTimeout.
func (n *Node) sweepReports() {
	if !n.IsLeader() || n.now < n.sweepAt {
		return
	}
	n.sweepAt = n.now.Add(n.cfg.HealthTimeout)
	forget := healthForgetFactor * n.cfg.HealthTimeout
	// Deleting is order-independent, so ranging over the map is fine.
	maps.DeleteFunc(n.reports, func(id sm.NodeID, r report) bool {
		return n.md.brokers[id] == nil || n.now.Sub(r.at) > forget
	})
}

// brokerStatuses lists every broker of the metadata, sorted by ID, with its
// health as this node knows it, and the cluster health verdict. Only a
// leader knows health; elsewhere every broker is offline and the cluster
// unhealthy, meaning "unknown".
func (n *Node) brokerStatuses() ([]sm.BrokerStatus, bool) {
	ids := slices.Sorted(maps.Keys(n.md.brokers))
	out := make([]sm.BrokerStatus, 0, len(ids))
	online := 0
	for _, id := range ids {
		st := sm.BrokerStatus{Info: n.md.brokers[id].info}
		if n.IsLeader() {
			if r, ok := n.reports[id]; ok {
				st.LastReport, st.Health = r.at, r.health
				st.Online = n.now.Sub(r.at) <= n.cfg.HealthTimeout
			} else {
				st.Online = !st.Info.Fenced && n.now.Sub(n.leaderSince) <= n.cfg.HealthTimeout
			}
		}
		if st.Online {
			online++
		}
		out = append(out, st)
	}
	return out, n.IsLeader() && clusterHealthy(online, len(out))
}

// clusterHealthy is the reference's rule, given that a leader exists: with
// at most two brokers one online suffices, with more a strict majority must
// be online.
func clusterHealthy(online, brokers int) bool {
	if brokers <= 2 {
		return online >= 1
	}
	return online > brokers/2
}

// onClusterStatus answers a stale request at once, refuses a linearizable
// one on a follower, and starts a ReadIndex round for it on the leader.
func (n *Node) onClusterStatus(from sm.NodeID, req sm.ClusterStatusRequest) {
	switch {
	case req.Stale, n.cfg.CanaryStatusWithoutReadIndex && n.IsLeader():
		n.send(from, n.clusterStatus(req.ReqID))
	case !n.IsLeader():
		n.send(from, n.statusRefusal(req.ReqID, n.Leader()))
	case len(n.reads) >= readsMax:
		r := n.statusRefusal(req.ReqID, n.cfg.ID)
		r.Code = sm.CodeLeaderNotAvailable
		n.send(from, r)
	default:
		n.readSeqLast++
		n.reads[n.readSeqLast] = &read{client: from, reqID: req.ReqID}
		n.rn.ReadIndex(binary.LittleEndian.AppendUint64(nil, n.readSeqLast))
	}
}

// clusterStatus is this node's answer from its applied state.
func (n *Node) clusterStatus(reqID uint64) sm.ClusterStatusResponse {
	st := n.rn.BasicStatus()
	brokers, healthy := n.brokerStatuses()
	leader := sm.NodeID(st.Lead)
	return sm.ClusterStatusResponse{
		ReqID: reqID, LeaderHint: leader, IsLeader: n.IsLeader(),
		Term: st.GetTerm(), CommitIndex: st.GetCommit(), AppliedIndex: n.md.applied,
		Metadata: n.md.delta(0), Brokers: brokers, Healthy: healthy, Leader: leader, Now: n.now,
	}
}

// statusRefusal sends a linearizable request to the leader named by hint:
// NOT_LEADER with the hint, or LEADER_NOT_AVAILABLE while none is known.
func (n *Node) statusRefusal(reqID uint64, hint sm.NodeID) sm.ClusterStatusResponse {
	code := sm.CodeNotLeader
	if hint == sm.NoNode {
		code = sm.CodeLeaderNotAvailable
	}
	return sm.ClusterStatusResponse{ReqID: reqID, Code: code, LeaderHint: hint, Term: n.Term(), Leader: hint, Now: n.now}
}

// onReadStates marks the reads raft confirmed: leadership held at a point
// after each request arrived, and everything committed then is at or below
// its index.
func (n *Node) onReadStates(rss []raft.ReadState) {
	for _, rs := range rss {
		assert.That(len(rs.RequestCtx) == 8, "controller: %v read state with a %d-byte context", n.cfg.ID, len(rs.RequestCtx))
		seq := binary.LittleEndian.Uint64(rs.RequestCtx)
		if n.gcOnReadState(seq, rs.Index) {
			continue
		}
		if r := n.reads[seq]; r != nil {
			r.confirmed, r.index = true, rs.Index
		}
	}
}

// answerReads answers, in arrival order, every confirmed read whose index
// has been applied.
func (n *Node) answerReads() {
	if len(n.reads) == 0 {
		return
	}
	for _, seq := range slices.Sorted(maps.Keys(n.reads)) {
		if r := n.reads[seq]; r.confirmed && r.index <= n.md.applied {
			delete(n.reads, seq)
			n.send(r.client, n.clusterStatus(r.reqID))
		}
	}
}

// abandonReads refuses every read in flight: leadership was lost before it
// was confirmed (or before its index applied), so the client retries at
// the leader named by hint.
func (n *Node) abandonReads(hint sm.NodeID) {
	for _, seq := range slices.Sorted(maps.Keys(n.reads)) {
		r := n.reads[seq]
		n.send(r.client, n.statusRefusal(r.reqID, hint))
	}
	clear(n.reads)
}
