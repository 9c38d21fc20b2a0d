package partition

import (
	"slices"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/assert"
)

// ApplyState adopts the controller's view of the partition (from metadata or
// an AlterISR answer). minISR is the topic's min_in_sync_replicas (or the
// cluster default); canLead is false until the broker is registered and
// unfenced, so a broker leads nothing the controller would not let it lead.
// States older than the replica's (by leader epoch or partition epoch) are
// ignored: metadata can arrive late.
func (p *Partition) ApplyState(now sm.Time, st sm.PartitionState, minISR int32, canLead bool) {
	p.setNow(now)
	assert.That(st.TP == p.cfg.TP, "partition: %v: given the state of %v", p.cfg.TP, st.TP)
	p.minISR = max(minISR, 1)
	// A log holding batches of an epoch above st.LeaderEpoch means the state
	// is older than one this replica acted on before a restart: wait for
	// newer metadata rather than follow or lead an older epoch.
	if st.LeaderEpoch < p.epoch || st.PartitionEpoch < p.partitionEpoch || st.LeaderEpoch < p.log.lastEpoch() {
		return
	}
	self := p.cfg.Self
	lead := st.Leader == self && canLead
	leader := st.Leader
	if leader == self {
		leader = sm.NoNode // told to lead but may not: idle until allowed
	}
	switch {
	case !slices.Contains(st.Replicas, self):
		p.stepDown(st.LeaderEpoch)
		p.recordState(st)
		p.role, p.leader = RoleNone, sm.NoNode
	case lead && p.role == RoleLeader && st.LeaderEpoch == p.epoch:
		p.adoptISR(st)
	case lead:
		p.becomeLeader(st)
	case p.role == RoleFollower && st.LeaderEpoch == p.epoch && leader == p.leader:
		p.recordState(st)
	default:
		p.becomeFollower(st, leader)
	}
	if p.retentionAt == 0 || p.role == RoleNone {
		p.scheduleRetention()
	}
}

// recordState copies the controller's fields the replica keeps.
func (p *Partition) recordState(st sm.PartitionState) {
	assert.That(st.LeaderEpoch >= p.epoch && st.PartitionEpoch >= p.partitionEpoch,
		"partition: %v: state at epochs %d/%d replaces newer %d/%d", p.cfg.TP, st.LeaderEpoch, st.PartitionEpoch, p.epoch, p.partitionEpoch)
	p.epoch = st.LeaderEpoch
	p.leader = st.Leader
	p.partitionEpoch = st.PartitionEpoch
	p.replicas = slices.Clone(st.Replicas)
	p.isr = slices.Clone(st.ISR)
}

// becomeLeader starts leading at st.LeaderEpoch. The epoch's start is the
// current log end: consumers are not served until the high watermark reaches
// it, so the high watermark clients see never goes back across a failover.
func (p *Partition) becomeLeader(st sm.PartitionState) {
	p.stepDown(st.LeaderEpoch)
	p.recordState(st)
	if p.settings.Tiered && p.log.end() < p.remote.End {
		// Elected without the records up to the uploaded end (an unclean
		// election, or data loss the operator accepted): they are in the
		// object store, so this log continues after them instead of giving
		// their offsets to new records.
		p.resetLog(p.remote.End)
	}
	p.role = RoleLeader
	p.lead = leaderState{epochStart: p.log.end()}
	p.syncFollowers()
	p.maybeAdvanceHW()
	p.maybeAlterISR()
}

// becomeFollower starts following leader (NoNode: idle) at st.LeaderEpoch.
func (p *Partition) becomeFollower(st sm.PartitionState, leader sm.NodeID) {
	p.stepDown(st.LeaderEpoch)
	p.recordState(st)
	p.role = RoleFollower
	p.leader = leader
	p.maybeFetch()
}

// stepDown ends the current role. A leader's pending produces get
// LEADERSHIP_LOST (their records may or may not survive) and parked follower
// fetches are answered so followers learn of the change at once.
func (p *Partition) stepDown(newEpoch sm.Epoch) {
	if p.role == RoleLeader {
		for _, a := range p.lead.acks {
			p.replyAck(a, sm.CodeLeadershipLost, "leadership lost with the produce pending")
		}
		for _, f := range p.lead.followers {
			if f.parked == nil {
				continue
			}
			code := sm.CodeNotLeader
			if newEpoch > f.parked.req.LeaderEpoch {
				code = sm.CodeFencedLeaderEpoch
			}
			p.send(f.parked.from, sm.ReplicaFetchResponse{TP: p.cfg.TP, Code: code, Incarnation: f.parked.req.Incarnation, FetchOffset: f.parked.req.FetchOffset, LeaderEpoch: newEpoch})
		}
	}
	p.lead = leaderState{}
	p.follow = followerState{}
}
