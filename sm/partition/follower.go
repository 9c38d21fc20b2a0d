package partition

import (
	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/assert"
)

// followerState is what only a follower keeps; it is reset on role change.
type followerState struct {
	inflight bool // a fetch is outstanding
	// locating is set while a read looks for the byte position of the
	// offset a divergence answer said to truncate to; no fetch goes out.
	locating bool
	locateID sm.EffectID // the read doing it
	sent     sm.Offset   // the outstanding fetch's FetchOffset; answers must echo it
	deadline sm.Time     // resend the fetch after this
	retryAt  sm.Time     // non-zero: backing off after an error answer
	// synced is set once the leader answered without divergence in this
	// epoch. From then on the log is a prefix of the leader's and only
	// grows, so a later divergence answer can only be a stale duplicate.
	synced   bool
	leaderHW sm.Offset // highest high watermark the leader has reported
}

// maybeFetch sends the next fetch when none is outstanding, no disk write is
// pending (so the offset it reports is durable and nothing is fetched twice)
// and the follower is not backing off.
func (p *Partition) maybeFetch() {
	f := &p.follow
	if p.role != RoleFollower || p.leader == sm.NoNode || f.inflight || f.locating || f.retryAt != 0 || len(p.disk) > 0 {
		return
	}
	assert.That(p.durable == p.log.end(), "partition: %v: idle disk but durable end %d below log end %d", p.cfg.TP, p.durable, p.log.end())
	p.send(p.leader, sm.ReplicaFetchRequest{
		TP: p.cfg.TP, Replica: p.cfg.Self, Incarnation: p.cfg.Incarnation,
		LeaderEpoch: p.epoch, FetchOffset: p.durable, LastFetchedEpoch: p.log.epochBelow(p.durable),
	})
	f.inflight = true
	f.sent = p.durable
	f.deadline = p.now.Add(p.cfg.ReplicaFetchTimeout)
}

func (p *Partition) followerTimer() {
	f := &p.follow
	if f.inflight && p.now >= f.deadline {
		f.inflight = false
	}
	if f.retryAt != 0 && p.now >= f.retryAt {
		f.retryAt = 0
	}
	p.maybeFetch()
}

func (p *Partition) followerTimerAt() sm.Time {
	switch {
	case p.follow.inflight:
		return p.follow.deadline
	case p.follow.retryAt != 0:
		return p.follow.retryAt
	}
	return 0
}

// OnReplicaFetchResponse handles the leader's answer to this follower's
// fetch: truncate on divergence, append verified batches, or back off on an
// error code until metadata changes (or ReplicaFetchWait passes).
func (p *Partition) OnReplicaFetchResponse(now sm.Time, from sm.NodeID, resp sm.ReplicaFetchResponse) {
	p.setNow(now)
	f := &p.follow
	if p.role != RoleFollower || from != p.leader || !f.inflight || resp.TP != p.cfg.TP {
		return
	}
	if resp.Incarnation != p.cfg.Incarnation || resp.FetchOffset != f.sent {
		p.probe(sm.ProbeStaleFetchAnswerIgnored)
		return // a late or duplicated answer to another fetch, or to an earlier process
	}
	switch {
	case resp.Code == sm.CodeOffsetOutOfRange && resp.LeaderEpoch == p.epoch && resp.LogStart > p.log.end():
		p.resetTo(resp.LogStart, resp.HighWatermark)
	case resp.Code != sm.CodeOK:
		f.inflight = false
		f.retryAt = p.now.Add(p.cfg.ReplicaFetchWait)
	case resp.LeaderEpoch != p.epoch:
		return
	case resp.Diverging:
		p.onDiverging(resp)
	default:
		p.onBatches(resp)
	}
}

// onDiverging truncates to where this log stops agreeing with the leader's:
// the end of this log's largest epoch ≤ E', capped at end(E'), cut down to
// a batch boundary. A further round may follow.
//
// Answers echo the fetch's offset and the follower's incarnation, so only
// the answer to the outstanding fetch gets here. As a second line of
// defence a divergence answer must never cut below an offset already
// reported (and counted toward the high watermark): after the first
// non-diverging answer (synced) divergence answers are ignored, and a log
// that ends in the current leader's epoch is a prefix of the leader's, so it
// ignores them too.
func (p *Partition) onDiverging(resp sm.ReplicaFetchResponse) {
	if p.follow.synced || p.log.lastEpoch() == p.epoch {
		return
	}
	if resp.LogStart > 0 && resp.DivergingEndOffset == resp.LogStart {
		// The leader knows no epoch of its own at or below this log's last
		// one: retention or the local window (tiered storage) dropped their
		// history with the segments below its start, and it answers its
		// start. Everything below that start is committed there, but not
		// necessarily as this log holds it: records above this log's high
		// watermark, of an older epoch, may have been replaced by the
		// leader's own, committed and trimmed since (found by the
		// simulator). Only this log's committed prefix is known to agree,
		// and that ends at or below the leader's start (a committed record
		// at or above it would carry an epoch the leader holds), so the
		// log starts over at the leader's start.
		p.resetTo(resp.LogStart, resp.HighWatermark)
		return
	}
	target := sm.Offset(0)
	if _, end, ok := p.log.endOfEpoch(resp.DivergingEpoch); ok {
		target = max(0, min(end, resp.DivergingEndOffset))
	} else if resp.DivergingEndOffset >= p.log.start() {
		// Every epoch this log holds is newer than the leader's answer:
		// it diverges from its first batch on. Below its start everything
		// was committed (retention and the local window pass committed
		// records only), and the leader's log reaches that far, so the
		// log agrees up to its start.
		target = p.log.start()
	}
	if target < p.log.start() {
		// The leader agrees with nothing this log holds, and the log does
		// not start at 0 (retention, or a reset): it cannot be cut below its
		// start, so it starts over where the leader's log starts.
		p.resetTo(resp.LogStart, resp.HighWatermark)
		return
	}
	if target >= p.log.end() {
		return // a duplicate answer to an earlier fetch; this log already agrees
	}
	p.follow.inflight = false
	p.probe(sm.ProbeFollowerTruncated)
	// The target is a batch boundary here too: the follower's batches of
	// each epoch are a prefix of the one sequence that epoch's leader
	// wrote, and so are the leader's. Its byte position may not be known
	// (no index entry, not cached): read it first.
	if p.log.boundaryAtOrBelow(target) != target {
		p.follow.locating = true
		p.follow.locateID = p.issueRead(pendingRead{want: target, locate: true})
		return
	}
	p.truncate(target) // the next fetch goes out once the truncation is done
}

// onLocated finishes a divergence truncation whose position a read looked
// for: bs are the frames read from pos in the segment at seg (with their
// positions). It truncates at the batch boundary at or below the target
// that the read found, or reads on; a read overtaken by a change of role
// or log gives up, and the next fetch asks again.
func (p *Partition) onLocated(r pendingRead, frames []frameAt, more bool) {
	f := &p.follow
	f.locating = false
	if p.role != RoleFollower || r.gen != p.log.gen {
		p.maybeFetch()
		return
	}
	best := -1
	for i := range frames {
		if frames[i].base > r.want {
			break
		}
		best = i
	}
	switch {
	case best >= 0 && (frames[best].base == r.want || best+1 < len(frames) || !more):
		i := p.log.segment(r.seg)
		p.truncateLocated(frames[best].base, i, frames[best].pos)
	case more:
		f.locating = true
		r.pos = frames[len(frames)-1].pos + int64(frames[len(frames)-1].size)
		f.locateID = p.issueReadAt(r)
	default:
		p.maybeFetch() // nothing usable: fetch again, and be told again
	}
}

// truncateLocated is truncate at a boundary whose position a read found.
func (p *Partition) truncateLocated(off sm.Offset, seg int, pos int64) {
	p.log.truncateAt(off, seg, pos)
	p.afterTruncate(off)
}

// onBatches appends the leader's batches after checking every one; a
// response with any bad batch is dropped whole and fetched again.
func (p *Partition) onBatches(resp sm.ReplicaFetchResponse) {
	f := &p.follow
	bs := resp.Batches
	if len(bs) > 0 && bs[0].BaseOffset != p.log.end() {
		return // answers an earlier fetch
	}
	f.inflight = false
	if !p.validBatches(bs, resp.LeaderEpoch) {
		p.maybeFetch()
		return
	}
	f.synced = true
	f.leaderHW = max(f.leaderHW, resp.HighWatermark)
	p.followLogStart(resp.LogStart)
	if len(bs) > 0 {
		p.appendBatches(bs)
	}
	p.raiseHW(min(f.leaderHW, p.durable))
	p.maybeFetch()
}

// validBatches checks checksums, contiguity and epochs of fetched batches.
func (p *Partition) validBatches(bs []sm.Batch, leaderEpoch sm.Epoch) bool {
	next, last := p.log.end(), p.log.lastEpoch()
	for i := range bs {
		b := &bs[i]
		if b.BaseOffset != next || b.Len() == 0 || b.Epoch < last || b.Epoch > leaderEpoch || !b.Verify() {
			return false
		}
		next, last = b.NextOffset(), b.Epoch
	}
	return true
}

// onFollowerDurable follows the durable end moving up (or a truncation
// completing): the high watermark may follow, and the next fetch may go.
func (p *Partition) onFollowerDurable() {
	p.raiseHW(min(p.follow.leaderHW, p.durable))
	p.maybeFetch()
}

// resetTo empties the log and starts it at the leader's log start: the
// leader's retention deleted everything between this log's end and there,
// so none of it can be fetched. Those records were committed (retention
// deletes only below the leader's high watermark), so the high watermark
// moves up to the new start once the reset is durable.
func (p *Partition) resetTo(start, leaderHW sm.Offset) {
	f := &p.follow
	f.inflight = false
	f.synced = false
	f.leaderHW = max(f.leaderHW, leaderHW)
	p.probe(sm.ProbeFollowerReset)
	p.resetLog(start)
}

// resetLog empties the log and starts it at start, on disk too.
func (p *Partition) resetLog(start sm.Offset) {
	p.log.reset(start)
	for i := range p.disk {
		p.disk[i].start = min(p.disk[i].start, start)
		p.disk[i].end = min(p.disk[i].end, start)
	}
	p.durable = min(p.durable, start)
	p.hw = min(p.hw, start) // only below an unclean election's new start
	p.issueDisk(sm.LogOp{Kind: sm.LogReset, Offset: start, Sync: true}, start, start)
}
