package partition

import (
	"slices"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/assert"
)

// alterState tracks the leader's ISR change requests at the current
// partition epoch. A request the controller has not answered may still be
// applied, so every member it proposed counts toward the high watermark
// until a newer partition epoch arrives (proposed).
type alterState struct {
	inflight bool
	reqID    uint64
	retryAt  sm.Time
	proposed []sm.NodeID
}

// lagging reports whether an ISR follower should be shrunk out: it has not
// caught up for ReplicaLagTime, or is more than MaxReplicationLag records
// behind the leader's durable end.
func (p *Partition) lagging(f *progress) bool {
	if p.now.Sub(f.lastCaughtUp) > p.cfg.ReplicaLagTime {
		return true
	}
	return p.cfg.MaxReplicationLag > 0 && f.known && int64(p.durable-f.offset) > p.cfg.MaxReplicationLag
}

// caughtUp reports whether a follower outside the ISR may join it: it holds
// everything committed, including the start of this leader's epoch.
func (p *Partition) caughtUp(f *progress) bool {
	return f.known && f.offset >= p.hw && f.offset >= p.lead.epochStart && !p.lagging(f)
}

// desiredISR is the ISR the leader wants now, sorted; never without itself.
func (p *Partition) desiredISR() []sm.NodeID {
	want := []sm.NodeID{p.cfg.Self}
	for _, f := range p.lead.followers {
		in := slices.Contains(p.isr, f.id)
		if (in && !p.lagging(f)) || (!in && p.caughtUp(f)) {
			want = append(want, f.id)
		}
	}
	slices.Sort(want)
	return want
}

// maybeAlterISR asks the controller for the desired ISR when it differs from
// the committed one and no request is outstanding.
func (p *Partition) maybeAlterISR() {
	if p.role != RoleLeader || p.lead.alter.inflight {
		return
	}
	want := p.desiredISR()
	if sameMembers(want, p.isr) {
		return
	}
	p.probeISRChange(want)
	p.reqSeq++
	incs := make([]uint64, len(want))
	for i, id := range want {
		if id == p.cfg.Self {
			incs[i] = p.cfg.Incarnation
		} else if f := p.progress(id); f != nil {
			incs[i] = f.incarnation
		}
	}
	p.out.ToController = append(p.out.ToController, sm.AlterISRRequest{
		ReqID: p.reqSeq, Broker: p.cfg.Self, TP: p.cfg.TP,
		LeaderEpoch: p.epoch, PartitionEpoch: p.partitionEpoch, ISR: want, Incarnations: incs,
	})
	proposed := slices.Concat(p.lead.alter.proposed, want)
	slices.Sort(proposed)
	p.lead.alter = alterState{
		inflight: true, reqID: p.reqSeq,
		retryAt:  p.now.Add(p.cfg.AlterISRTimeout),
		proposed: slices.Compact(proposed),
	}
}

// probeISRChange reports why the proposed ISR differs from the committed one.
func (p *Partition) probeISRChange(want []sm.NodeID) {
	for _, f := range p.lead.followers {
		in, stays := slices.Contains(p.isr, f.id), slices.Contains(want, f.id)
		switch {
		case in && !stays && p.now.Sub(f.lastCaughtUp) > p.cfg.ReplicaLagTime:
			p.probe(sm.ProbeISRShrinkLagTime)
		case in && !stays:
			p.probe(sm.ProbeISRShrinkMaxLag)
		case !in && stays:
			p.probe(sm.ProbeISRExpand)
		}
	}
}

// OnAlterISRResponse adopts the partition state the controller returned when
// it is newer than the replica's. A rejection without newer state keeps the
// request outstanding until AlterISRTimeout, which bounds the retry rate.
func (p *Partition) OnAlterISRResponse(now sm.Time, resp sm.AlterISRResponse) {
	p.setNow(now)
	st := resp.State
	if p.role != RoleLeader || st.TP != p.cfg.TP {
		return
	}
	switch {
	case st.LeaderEpoch > p.epoch && st.Leader != p.cfg.Self:
		p.ApplyState(now, st, p.minISR, false) // deposed: step down now
		return
	case st.LeaderEpoch == p.epoch && st.Leader == p.cfg.Self && st.PartitionEpoch > p.partitionEpoch:
		p.adoptISR(st)
	case resp.Code == sm.CodeOK && p.lead.alter.inflight && resp.ReqID == p.lead.alter.reqID:
		p.lead.alter.inflight = false // already adopted through metadata
	}
	p.maybeAlterISR()
}

// adoptISR takes a newer partition state for the epoch this replica leads.
// Requests named the old partition epoch and are dead: forget them.
func (p *Partition) adoptISR(st sm.PartitionState) {
	assert.That(p.role == RoleLeader && st.LeaderEpoch == p.epoch, "partition: %v: adopting isr of epoch %d as %v of epoch %d", p.cfg.TP, st.LeaderEpoch, p.role, p.epoch)
	if st.PartitionEpoch > p.partitionEpoch {
		p.lead.alter = alterState{}
	}
	p.recordState(st)
	p.syncFollowers()
	p.maybeAdvanceHW()
	p.completeAcks()
	p.maybeAlterISR()
}

// sameMembers compares two ISRs as sets.
func sameMembers(a, b []sm.NodeID) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
