package broker

import (
	"maps"
	"slices"

	"github.com/weirmq/weir/sm"
)

// heartbeat is the broker's session with the controller.
type heartbeat struct {
	nextAt sm.Time // next regular heartbeat
	// waitingSince is when the oldest unanswered heartbeat to the current
	// controller went out (0: none); ControllerTimeout after it the broker
	// tries the next controller.
	waitingSince sm.Time
	hintedAt     sm.Time // last time a leader hint triggered an early heartbeat
	// healthAt is when the next health report is due; from then on every
	// heartbeat carries one (healthSent) until a controller leader answers,
	// and the next is due HealthInterval after that answer.
	healthAt   sm.Time
	healthSent bool
}

func (h *heartbeat) timerAt(timeout sm.Duration) sm.Time {
	t := h.nextAt
	if h.waitingSince != 0 {
		t = min(t, h.waitingSince.Add(timeout))
	}
	return t
}

// tickHeartbeat gives up on a silent controller and sends the heartbeat when
// it is due.
func (n *Node) tickHeartbeat() {
	if n.hb.waitingSince != 0 && n.now >= n.hb.waitingSince.Add(n.cfg.ControllerTimeout) {
		n.rotateController()
		n.hb.nextAt = n.now
	}
	if n.now >= n.hb.nextAt {
		n.sendHeartbeat()
	}
}

func (n *Node) sendHeartbeat() {
	hb := sm.BrokerHeartbeat{
		Broker: n.cfg.ID, Incarnation: n.cfg.Incarnation,
		Rack: n.cfg.Rack, Host: n.cfg.Host, MetadataVersion: n.meta.Version(),
		SentAt: n.now,
	}
	if !n.reported {
		// Until this incarnation registers: what it lost, so the
		// controller never elects it as if it held that data.
		hb.LostDisk, hb.AcceptDataLoss = n.lostDisk, n.cfg.AcceptDataLoss
		hb.Lost = slices.SortedFunc(maps.Keys(n.damaged), sm.CompareTP)
	}
	if n.now >= n.hb.healthAt {
		h := n.healthReport()
		hb.Health = &h
		n.hb.healthSent = true
	}
	n.send(n.ctrl, hb)
	n.hb.nextAt = n.now.Add(n.cfg.HeartbeatInterval)
	if n.hb.waitingSince == 0 {
		n.hb.waitingSince = n.now
	}
}

// rotateController moves to the next configured controller.
func (n *Node) rotateController() {
	n.ctrlIdx = (n.ctrlIdx + 1) % len(n.cfg.Controllers)
	n.ctrl = n.cfg.Controllers[n.ctrlIdx]
	n.hb.waitingSince = 0
}

// followHint switches to the controller a follower named. The first hint in
// a heartbeat interval is followed at once; later ones wait for the regular
// heartbeat, so stale hints pointing at each other cannot make a storm.
func (n *Node) followHint(hint sm.NodeID) {
	if hint == sm.NoNode || hint == n.ctrl {
		n.rotateController()
		return
	}
	n.ctrl = hint
	if i := slices.Index(n.cfg.Controllers, hint); i >= 0 {
		n.ctrlIdx = i
	}
	n.hb.waitingSince = 0
	if n.hb.hintedAt == 0 || n.now >= n.hb.hintedAt.Add(n.cfg.HeartbeatInterval) {
		n.hb.hintedAt = n.now
		n.sendHeartbeat()
	}
}

// onHeartbeatResponse applies the metadata an answer carries, follows a
// leader hint, or stops when a newer incarnation of this broker registered.
func (n *Node) onHeartbeatResponse(from sm.NodeID, resp sm.BrokerHeartbeatResponse) {
	if resp.Incarnation != n.cfg.Incarnation {
		return // an answer to this broker's previous process
	}
	switch resp.Code {
	case sm.CodeOK:
		if resp.SentAt <= n.now {
			n.leaseUntil = max(n.leaseUntil, resp.SentAt.Add(resp.SessionTimeout))
		}
		n.ctrl = from // only the leading controller answers OK
		if i := slices.Index(n.cfg.Controllers, from); i >= 0 {
			n.ctrlIdx = i
		}
		n.hb.waitingSince = 0
		if n.hb.healthSent {
			n.hb.healthSent = false
			n.hb.healthAt = n.now.Add(n.cfg.HealthInterval)
		}
		if n.meta.Apply(resp.Delta) {
			n.syncAuthz()
			n.syncRevoked()
			n.reconcile(resp.Delta)
		}
	case sm.CodeNotLeader:
		if from == n.ctrl {
			n.followHint(resp.LeaderHint)
		}
	case sm.CodeStaleBrokerEpoch:
		n.fatal = "broker: fenced by a newer incarnation"
	}
}

// healthReport is the latest health the runtime observed, with Replication
// computed from the partitions this broker leads and Cache from the
// broker's batch cache.
func (n *Node) healthReport() sm.BrokerHealth {
	h := n.observed
	h.Cache = sm.CacheHealth{Healthy: true, HitRate: n.cache.HitRate(), UsedBytes: n.cache.Used(), CapacityBytes: n.cache.Budget()}
	h.Replication = sm.ReplicationHealth{}
	for _, p := range n.parts { // a max and a count: map order does not matter
		lag, under := p.ReplicationLag()
		h.Replication.MaxLagRecords = max(h.Replication.MaxLagRecords, lag)
		if under {
			h.Replication.UnderReplicatedPartitions++
		}
	}
	return h
}
