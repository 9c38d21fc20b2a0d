package partition

import (
	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/assert"
)

// OnReplicaFetch serves a follower's fetch (leader only). The fetch's offset
// is the follower's durable end: once the divergence check passes it counts
// toward the high watermark. Only data durable on the leader is returned.
func (p *Partition) OnReplicaFetch(now sm.Time, from sm.NodeID, req sm.ReplicaFetchRequest) {
	p.setNow(now)
	if from != req.Replica || req.TP != p.cfg.TP {
		return // misrouted or forged; nothing sensible to answer
	}
	if code := p.replicaFetchCode(req); code != sm.CodeOK {
		p.send(from, sm.ReplicaFetchResponse{TP: p.cfg.TP, Code: code, Incarnation: req.Incarnation, FetchOffset: req.FetchOffset, LeaderEpoch: p.epoch, HighWatermark: p.hw})
		return
	}
	f := p.progress(req.Replica)
	if f == nil {
		p.send(from, sm.ReplicaFetchResponse{TP: p.cfg.TP, Code: sm.CodeInvalidRequest, Incarnation: req.Incarnation, FetchOffset: req.FetchOffset, LeaderEpoch: p.epoch})
		return
	}
	if req.Incarnation < f.incarnation {
		return // sent before the follower restarted
	}
	if resp, diverging := p.divergence(req); diverging {
		p.send(from, resp)
		return
	}
	p.recordFetch(f, req)
	p.maybeAdvanceHW()
	p.completeAcks()
	p.maybeAlterISR()
	f.parked = &parkedFetch{from: from, req: req, deadline: p.now.Add(p.cfg.ReplicaFetchWait)}
	if req.FetchOffset < p.durable {
		p.answerParked(f)
	}
}

// replicaFetchCode fences fetches for another epoch or to a non-leader.
func (p *Partition) replicaFetchCode(req sm.ReplicaFetchRequest) sm.Code {
	switch {
	case req.LeaderEpoch < p.epoch:
		return sm.CodeFencedLeaderEpoch
	case req.LeaderEpoch > p.epoch:
		return sm.CodeUnknownLeaderEpoch
	case p.role != RoleLeader:
		return sm.CodeNotLeader
	case req.FetchOffset < 0 || req.LastFetchedEpoch < 0:
		return sm.CodeInvalidRequest
	}
	return sm.CodeOK
}

// divergence is the KIP-320/595 check: E' is the largest epoch of the
// leader's at or below the follower's last fetched epoch and end(E') where it
// ends here. A follower whose last epoch is not E', or whose log goes past
// end(E'), holds records the leader does not: it must truncate first.
func (p *Partition) divergence(req sm.ReplicaFetchRequest) (sm.ReplicaFetchResponse, bool) {
	if req.FetchOffset == 0 {
		return sm.ReplicaFetchResponse{}, false
	}
	e, end, ok := p.log.endOfEpoch(req.LastFetchedEpoch)
	switch {
	case !ok:
		e, end = 0, 0 // every epoch here is newer: the follower keeps nothing
	case e != req.LastFetchedEpoch || end < req.FetchOffset:
	case p.log.isBoundary(req.FetchOffset):
		return sm.ReplicaFetchResponse{}, false
	default:
		// Same epoch, but the offset cuts a batch here: the batches differ,
		// so have the follower drop the batch it cut.
		end = p.log.boundaryAtOrBelow(req.FetchOffset)
	}
	return sm.ReplicaFetchResponse{
		TP: p.cfg.TP, Incarnation: req.Incarnation, FetchOffset: req.FetchOffset,
		LeaderEpoch: p.epoch, HighWatermark: p.hw, Diverging: true, DivergingEpoch: e, DivergingEndOffset: end,
	}, true
}

// recordFetch notes a follower's durable end and whether it is caught up:
// caught up now when it has all the leader had durable, or caught up as of
// its previous fetch when it has all the leader had durable then.
func (p *Partition) recordFetch(f *progress, req sm.ReplicaFetchRequest) {
	if req.Incarnation > f.incarnation {
		f.incarnation, f.known, f.offset = req.Incarnation, false, 0
	}
	off := req.FetchOffset
	switch {
	case off >= p.durable:
		f.lastCaughtUp = p.now
	case f.known && off >= f.lastFetchLEO:
		f.lastCaughtUp = max(f.lastCaughtUp, f.lastFetch)
	}
	f.lastFetch, f.lastFetchLEO = p.now, p.durable
	if !f.known || off > f.offset {
		f.offset = off // a delayed older fetch never lowers it
	}
	f.known = true
}

// answerParked answers a follower's parked fetch with the durable batches
// from its offset (possibly none).
func (p *Partition) answerParked(f *progress) {
	pf := f.parked
	f.parked = nil
	bs := p.log.readWhole(pf.req.FetchOffset, p.durable, p.cfg.ReplicaFetchMaxBytes)
	if n := len(bs); n > 0 {
		// A leader serves followers only data it has itself synced, and only
		// batches of its epoch or older.
		assert.That(bs[n-1].NextOffset() <= p.durable && bs[n-1].Epoch <= p.epoch,
			"partition: %v: serving [%d, %d) of epoch %d to %v beyond durable end %d or epoch %d",
			p.cfg.TP, bs[0].BaseOffset, bs[n-1].NextOffset(), bs[n-1].Epoch, pf.from, p.durable, p.epoch)
	}
	assert.That(p.hw <= p.durable, "partition: %v: telling %v high watermark %d beyond durable end %d", p.cfg.TP, pf.from, p.hw, p.durable)
	p.send(pf.from, sm.ReplicaFetchResponse{
		TP: p.cfg.TP, Code: sm.CodeOK, Incarnation: pf.req.Incarnation, FetchOffset: pf.req.FetchOffset,
		LeaderEpoch: p.epoch, HighWatermark: p.hw, Batches: bs,
	})
}

// OnFetch serves a consumer (leader only): records below the high watermark.
func (p *Partition) OnFetch(now sm.Time, from sm.NodeID, req sm.FetchRequest) {
	p.setNow(now)
	resp := sm.FetchResponse{ReqID: req.ReqID, TP: p.cfg.TP, LeaderEpoch: p.epoch, LeaderHint: p.leader}
	switch {
	case p.role != RoleLeader:
		resp.Code = sm.CodeNotLeader
	case req.CurrentLeaderEpoch > p.epoch:
		resp.Code = sm.CodeUnknownLeaderEpoch
	case p.hw < p.lead.epochStart:
		resp.Code, resp.Message = sm.CodeLeaderNotAvailable, "new leader has not committed its epoch start yet"
		p.probe(sm.ProbeLeaderBelowEpochStart)
	case req.Offset < 0 || req.Offset > p.hw:
		resp.Code, resp.HighWatermark = sm.CodeOffsetOutOfRange, p.hw
		resp.Message = "offset outside [0, high watermark]"
	default:
		resp.HighWatermark = p.hw
		resp.Batches = p.consumerBatches(req.Offset, req.MaxRecords)
	}
	p.send(from, resp)
}

// consumerBatches returns the batches covering [from, hw), whole, until
// maxRecords records at or after from are included. A batch that straddles
// the high watermark is copied with its records cut at the high watermark
// and resealed, so a consumer never sees an uncommitted record; its CRC then
// covers the cut copy, not the stored batch.
func (p *Partition) consumerBatches(from sm.Offset, maxRecords int32) []sm.Batch {
	if maxRecords <= 0 || maxRecords > p.cfg.FetchMaxRecords {
		maxRecords = p.cfg.FetchMaxRecords
	}
	var out []sm.Batch
	n := sm.Offset(0)
	for i := p.log.index(from); i < len(p.log.batches) && n < sm.Offset(maxRecords); i++ {
		b := p.log.batches[i]
		if b.BaseOffset >= p.hw {
			break
		}
		if b.NextOffset() > p.hw {
			k := int(p.hw - b.BaseOffset)
			b.Records = b.Records[:k:k]
			b.Seal()
		}
		n += b.NextOffset() - max(from, b.BaseOffset)
		assert.That(b.NextOffset() <= p.hw && b.NextOffset() <= p.durable,
			"partition: %v: serving a consumer [%d, %d) beyond high watermark %d or durable end %d", p.cfg.TP, b.BaseOffset, b.NextOffset(), p.hw, p.durable)
		out = append(out, b)
	}
	return out
}
