package partition

import (
	"errors"
	"fmt"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/assert"
)

// Serving fetches. Batches come from the cached suffix of the log when the
// fetch starts inside it, otherwise from a log read (sm.LogRead) positioned
// by the segment index; the fetch is answered when the read completes.
// Reads complete in any order and may be overtaken by changes to the log,
// so a completed read is checked against the state the replica is in then:
// an answer is always decided by the current role, epoch, high watermark
// and log start, never by the state when the read was issued.

// pendingRead is one issued log read and the fetch it serves.
type pendingRead struct {
	gen  uint64    // the log's generation when issued
	seg  sm.Offset // segment read
	pos  int64     // byte read from
	want sm.Offset // the fetch's offset: the answer starts with the batch holding it
	// Exactly one of consumer, replica, locate and seek is set: a consumer
	// fetch, a follower's fetch, a follower looking for the position of the
	// offset it must truncate to (want), or a time lookup (timeseek.go).
	consumer *consumerFetch
	replica  *parkedFetch
	locate   bool
	seek     *timeSeek
}

// frameAt is one frame a read returned and where it lies.
type frameAt struct {
	base sm.Offset
	pos  int64
	size int
}

// consumerFetch is a consumer's fetch waiting for a read.
type consumerFetch struct {
	from sm.NodeID
	req  sm.FetchRequest
}

// readBytes is how much one log read asks for: a fetch's worth after the
// index entry it starts from.
func (p *Partition) readBytes() int { return sm.IndexIntervalBytes + p.cfg.ReplicaFetchMaxBytes }

// issueRead reads the segment holding r.want from its indexed position.
func (p *Partition) issueRead(r pendingRead) sm.EffectID {
	r.gen = p.log.gen
	r.seg, r.pos = p.log.locate(r.want)
	return p.issueReadAt(r)
}

func (p *Partition) issueReadAt(r pendingRead) sm.EffectID {
	id := p.ids.Next()
	p.out.Reads = append(p.out.Reads, sm.LogRead{ID: id, TP: p.cfg.TP, Segment: r.seg, Pos: r.pos, MaxBytes: p.readBytes()})
	p.reads[id] = r
	return id
}

// OnLogReadDone completes one of the replica's log reads (any order). A
// read whose log changed meanwhile, or that failed because its segment went
// away, is served again from the current state; a read that failed for
// another reason answers its fetch STORAGE_ERROR (retriable). Bytes that
// fail their checksum are corruption at rest: nothing of them is served.
func (p *Partition) OnLogReadDone(now sm.Time, d sm.LogReadDone) error {
	p.setNow(now)
	r, ok := p.reads[d.ID]
	if !ok {
		return nil
	}
	delete(p.reads, d.ID)
	if r.locate {
		if p.follow.locating && p.follow.locateID == d.ID {
			p.locateDone(r, d)
		}
		return nil
	}
	if r.seek != nil {
		if r.gen != p.log.gen { // the log changed under the read: look again
			if resp, ok := p.offsetsStatus(r.seek.req); ok {
				p.seekTime(r.seek.from, r.seek.req, resp)
			} else {
				p.send(r.seek.from, resp)
			}
			return nil
		}
		p.seekDone(r, d)
		return nil
	}
	if r.gen != p.log.gen {
		p.reserve(r)
		return nil
	}
	if d.Outcome != sm.OutcomeOK {
		p.answerRead(r, sm.CodeStorageError, fmt.Sprintf("broker %d cannot read %v segment %d: %s", uint64(p.cfg.Self), p.cfg.TP, r.seg, d.Reason), nil)
		return nil
	}
	var bs []sm.Batch
	next := sm.Offset(-1)
	for pos := 0; pos < len(d.Data); {
		b, n, err := sm.DecodeBatch(d.Data[pos:])
		if err == nil && next >= 0 && b.BaseOffset != next {
			err = fmt.Errorf("batch at offset %d follows one ending at %d", b.BaseOffset, next)
		}
		if err == nil && (b.BaseOffset < r.seg || b.Len() == 0) {
			err = fmt.Errorf("batch at offset %d with %d records in the segment at %d", b.BaseOffset, b.Len(), r.seg)
		}
		if err != nil {
			p.onCorrupt(r, r.pos+int64(pos), err)
			return nil
		}
		next = b.NextOffset()
		if b.NextOffset() > r.want {
			bs = append(bs, b)
		}
		pos += n
	}
	switch {
	case len(bs) > 0 && bs[0].BaseOffset > r.want:
		p.onCorrupt(r, r.pos, fmt.Errorf("the index puts offset %d at byte %d, but the batch there starts at %d", r.want, r.pos, bs[0].BaseOffset))
	case len(bs) > 0:
		p.probe(sm.ProbeReadFromDisk)
		p.answerRead(r, sm.CodeOK, "", bs)
	case len(d.Data) > 0:
		// Everything read lies below the fetch's offset (batches larger
		// than the read): read on from where it stopped.
		r.pos += int64(len(d.Data))
		p.issueReadAt(r)
	default:
		if nx, ok := p.log.nextSegment(r.seg); ok && nx <= r.want {
			r.seg, r.pos = nx, 0
			p.issueReadAt(r)
			return nil
		}
		p.onCorrupt(r, r.pos, errors.New("the segment ends before the offset its index promises"))
	}
	return nil
}

// locateDone hands a locating read's frames to onLocated.
func (p *Partition) locateDone(r pendingRead, d sm.LogReadDone) {
	var frames []frameAt
	if d.Outcome == sm.OutcomeOK && r.gen == p.log.gen {
		for pos := 0; pos < len(d.Data); {
			b, n, err := sm.DecodeBatch(d.Data[pos:])
			if err != nil {
				// This log is damaged below where it must be cut: record
				// it, and the restart's damaged-replica path rebuilds it.
				p.follow.locating = false
				p.onCorrupt(r, r.pos+int64(pos), err)
				return
			}
			frames = append(frames, frameAt{base: b.BaseOffset, pos: r.pos + int64(pos), size: n})
			pos += n
		}
	}
	seg := p.log.segmentAt(p.log.segment(r.seg))
	more := len(frames) > 0 && frames[len(frames)-1].pos+int64(frames[len(frames)-1].size) < seg.Bytes
	p.onLocated(r, frames, more)
}

// onCorrupt handles bytes at rest that cannot be what was written. The
// replica serves nothing more: its host reports the log as damaged, so the
// controller takes it out of the ISR and another replica leads; the damage
// is then cut and refetched (see sm/broker).
func (p *Partition) onCorrupt(r pendingRead, pos int64, err error) {
	if p.damaged == "" {
		p.damaged = fmt.Sprintf("segment %d of %v at byte %d: %v", r.seg, p.cfg.TP, pos, err)
		p.probe(sm.ProbeCorruptionFound)
		// Damage from the last indexed batch at or below the bad bytes:
		// the store reports the log cut there after the restart that
		// follows this op's completion (see OnLogDone).
		cut := r.seg
		s := p.log.segmentAt(p.log.segment(r.seg))
		for _, e := range s.Entries {
			if e.Pos > pos {
				break
			}
			cut = e.Offset
		}
		end := p.log.end()
		p.issueDisk(sm.LogOp{Kind: sm.LogDamaged, Offset: cut, Note: p.damaged, Sync: true}, end, end)
	}
	if !r.locate && r.seek == nil { // a time lookup answers for itself (seekDone)
		p.answerRead(r, sm.CodeStorageError, fmt.Sprintf("broker %d holds corrupt data for %v (%s); another replica will serve it", uint64(p.cfg.Self), p.cfg.TP, p.damaged), nil)
	}
}

// ReportCorruption handles corruption found in sealed segment seg by
// someone else (an upload's adapter verifying the frames it read): as a
// read finding it, the replica serves nothing more and records the damage
// from the segment's start, then restarts into the damaged-replica path.
func (p *Partition) ReportCorruption(now sm.Time, seg sm.Offset, reason string) {
	p.setNow(now)
	if i := p.log.segment(seg); i < 0 || p.log.segmentAt(i).Base != seg {
		return // the segment is gone (trimmed, truncated): nothing to report
	}
	p.onCorrupt(pendingRead{seg: seg, locate: true}, 0, errors.New(reason))
}

// Damaged reports corruption a read found at rest ("" when none): the file
// position and what is wrong.
func (p *Partition) Damaged() string { return p.damaged }

// reserve serves a read's fetch again from the current state.
func (p *Partition) reserve(r pendingRead) {
	if r.consumer != nil {
		p.serveFetch(r.consumer.from, r.consumer.req)
		return
	}
	p.serveReplica(r.replica)
}

// answerRead answers the fetch a read served with code, or, when OK, with
// the batches read (from the one holding the fetch's offset).
func (p *Partition) answerRead(r pendingRead, code sm.Code, msg string, bs []sm.Batch) {
	if r.consumer != nil {
		c := r.consumer
		resp := p.fetchStatus(c.req)
		switch {
		case resp.Code != sm.CodeOK:
		case code != sm.CodeOK:
			resp.Code, resp.Message = code, msg
		default:
			resp.Batches = p.consumerBatches(c.req.Offset, c.req.MaxRecords, bs)
		}
		p.send(c.from, resp)
		return
	}
	pf := r.replica
	if c := p.replicaFetchCode(pf.req); c != sm.CodeOK || code != sm.CodeOK {
		if c == sm.CodeOK {
			c = code
		}
		p.send(pf.from, sm.ReplicaFetchResponse{TP: p.cfg.TP, Code: c, Incarnation: pf.req.Incarnation, FetchOffset: pf.req.FetchOffset, LeaderEpoch: p.epoch, HighWatermark: p.hw, LogStart: p.log.start()})
		return
	}
	p.replyReplica(pf, p.replicaBatches(bs))
}

// answerReads answers every fetch waiting for a read with code (the
// replica is closing) and forgets the reads.
func (p *Partition) answerReads(code sm.Code, msg string) {
	for id, r := range p.reads {
		if r.consumer != nil {
			p.send(r.consumer.from, sm.FetchResponse{ReqID: r.consumer.req.ReqID, TP: p.cfg.TP, Code: code, Message: msg, LeaderEpoch: p.epoch, LeaderHint: p.leader})
		}
		if r.seek != nil {
			p.send(r.seek.from, sm.ListOffsetsResponse{ReqID: r.seek.req.ReqID, TP: p.cfg.TP, Code: code, Message: msg, LeaderEpoch: p.epoch, LeaderHint: p.leader})
		}
		delete(p.reads, id)
	}
}

// tailStart is where a follower rebuilt from the tail starts: the
// uploaded end, or the base of the segment holding the producer pin when
// that is lower (it is local: the local window keeps it), never below the
// log start.
func (p *Partition) tailStart() sm.Offset {
	start := p.remote.End
	if pin := p.producerPin(); pin < start {
		start = max(p.log.segmentAt(p.log.segment(pin)).Base, p.log.start())
	}
	return start
}

// OnReplicaFetch serves a follower's fetch (leader only). The fetch's offset
// is the follower's durable end: once the divergence check passes it counts
// toward the high watermark. Only data durable on the leader is returned.
func (p *Partition) OnReplicaFetch(now sm.Time, from sm.NodeID, req sm.ReplicaFetchRequest) {
	p.setNow(now)
	if from != req.Replica || req.TP != p.cfg.TP {
		return // misrouted or forged; nothing sensible to answer
	}
	if code := p.replicaFetchCode(req); code != sm.CodeOK {
		p.send(from, sm.ReplicaFetchResponse{TP: p.cfg.TP, Code: code, Incarnation: req.Incarnation, FetchOffset: req.FetchOffset, LeaderEpoch: p.epoch, HighWatermark: p.hw, LogStart: p.log.start()})
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
	if p.settings.Tiered && req.FetchOffset < p.remote.End && p.remote.End <= p.hw && req.FetchOffset < p.tailStart() {
		// Everything below the uploaded end is in the object store: a
		// follower behind it (a new replica, a rebuilt disk) starts there
		// and fetches only the tail (tail-only rebuild) — from lower
		// where idempotent producers' remembered batches are.
		p.probe(sm.ProbeTailOnlyRebuild)
		p.send(from, sm.ReplicaFetchResponse{
			TP: p.cfg.TP, Code: sm.CodeOffsetOutOfRange, Incarnation: req.Incarnation, FetchOffset: req.FetchOffset,
			LeaderEpoch: p.epoch, HighWatermark: p.hw, LogStart: p.tailStart(),
		})
		return
	}
	if req.FetchOffset < p.log.start() {
		// Retention deleted what the follower lacks: it starts over at the
		// log start.
		p.send(from, sm.ReplicaFetchResponse{
			TP: p.cfg.TP, Code: sm.CodeOffsetOutOfRange, Incarnation: req.Incarnation, FetchOffset: req.FetchOffset,
			LeaderEpoch: p.epoch, HighWatermark: p.hw, LogStart: p.log.start(),
		})
		return
	}
	if resp, diverging := p.divergence(req, f.known && f.incarnation == req.Incarnation); diverging {
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
// end(E'), holds records the leader does not: it must truncate first. A
// follower that holds no batch (LastFetchedEpoch 0: its log is empty — new,
// reset at a log start, or emptied by its own retention, which deletes only
// committed records) has nothing to diverge while its end is within this
// log; beyond it, it must start over.
func (p *Partition) divergence(req sm.ReplicaFetchRequest, known bool) (sm.ReplicaFetchResponse, bool) {
	if req.FetchOffset == 0 || req.LastFetchedEpoch == 0 && req.FetchOffset <= p.log.end() {
		return sm.ReplicaFetchResponse{}, false
	}
	e, end, ok := p.log.endOfEpoch(req.LastFetchedEpoch)
	switch {
	case !ok:
		// Every epoch here is newer than the follower's last, and the
		// history that would say where the follower's epoch ended went with
		// the segments below this log's start. Everything below that start
		// is committed here, but the follower's records there need not be
		// those: an older epoch's records above its high watermark may have
		// been replaced by this leader's, committed and trimmed (found by
		// the simulator, seed 4475: a follower ending exactly at this log's
		// start kept them). So the follower keeps nothing after this log's
		// start, and a follower answered at the start itself starts over
		// there (onDiverging) — unless this leader already took a fetch
		// of that incarnation without a divergence in this epoch (known):
		// its log was checked then, while the history was here.
		switch start := p.log.start(); {
		case start > 0 && req.FetchOffset == start && known:
			return sm.ReplicaFetchResponse{}, false
		case start > 0:
			e, end = req.LastFetchedEpoch, start
		default:
			e, end = 0, 0
		}
	case e != req.LastFetchedEpoch || end < req.FetchOffset:
	case !p.log.cutsCachedBatch(req.FetchOffset):
		// One leader wrote every batch of an epoch, and replicas copy whole
		// batches, so the follower's batches of epoch e are a prefix of the
		// leader's: its end is a boundary here too. (Only a cached batch
		// can show otherwise; the leader keeps no other boundaries.)
		return sm.ReplicaFetchResponse{}, false
	default:
		// Same epoch, but the offset cuts a batch here: the batches differ,
		// so have the follower drop the batch it cut.
		end = p.log.boundaryAtOrBelow(req.FetchOffset)
	}
	return sm.ReplicaFetchResponse{
		TP: p.cfg.TP, Incarnation: req.Incarnation, FetchOffset: req.FetchOffset,
		LeaderEpoch: p.epoch, HighWatermark: p.hw, LogStart: p.log.start(), Diverging: true, DivergingEpoch: e, DivergingEndOffset: end,
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
// from its offset (possibly none), from the cache or after a read.
func (p *Partition) answerParked(f *progress) {
	pf := f.parked
	f.parked = nil
	p.serveReplica(pf)
}

// serveReplica answers pf now, or issues the read that will.
func (p *Partition) serveReplica(pf *parkedFetch) {
	if code := p.replicaFetchCode(pf.req); code != sm.CodeOK || pf.req.FetchOffset < p.log.start() {
		if code == sm.CodeOK {
			code = sm.CodeOffsetOutOfRange
		}
		p.send(pf.from, sm.ReplicaFetchResponse{TP: p.cfg.TP, Code: code, Incarnation: pf.req.Incarnation, FetchOffset: pf.req.FetchOffset, LeaderEpoch: p.epoch, HighWatermark: p.hw, LogStart: p.log.start()})
		return
	}
	if pf.req.FetchOffset >= p.durable {
		p.replyReplica(pf, nil)
		return
	}
	bs, ok := p.log.cached(pf.req.FetchOffset, p.durable, p.cfg.ReplicaFetchMaxBytes)
	p.cfg.Cache.lookup(ok)
	if ok {
		p.probe(sm.ProbeReadFromCache)
		p.replyReplica(pf, bs)
		return
	}
	p.issueRead(pendingRead{want: pf.req.FetchOffset, replica: pf})
}

// replicaBatches bounds batches read for a follower: whole batches below
// the durable end, at most ReplicaFetchMaxBytes after the first.
func (p *Partition) replicaBatches(bs []sm.Batch) []sm.Batch {
	bytes := 0
	for i := range bs {
		size := bs[i].FrameSize()
		if bs[i].NextOffset() > p.durable || i > 0 && bytes+size > p.cfg.ReplicaFetchMaxBytes {
			return bs[:i:i]
		}
		bytes += size
	}
	return bs
}

// replyReplica sends a follower its batches.
func (p *Partition) replyReplica(pf *parkedFetch, bs []sm.Batch) {
	if f := p.progress(pf.req.Replica); f != nil && pf.req.Incarnation < f.incarnation {
		// The follower restarted while this fetch waited (for a read, or
		// parked): it came from the replaced process, a zombie perhaps,
		// and is not answered (OnReplicaFetch drops such fetches too).
		return
	}
	if n := len(bs); n > 0 {
		// A leader serves followers only data it has itself synced, and only
		// batches of its epoch or older, from where the follower asked.
		assert.That(bs[0].BaseOffset <= pf.req.FetchOffset && bs[0].NextOffset() > pf.req.FetchOffset,
			"partition: %v: serving %v a batch [%d, %d) for fetch offset %d", p.cfg.TP, pf.from, bs[0].BaseOffset, bs[0].NextOffset(), pf.req.FetchOffset)
		assert.That(bs[n-1].NextOffset() <= p.durable && bs[n-1].Epoch <= p.epoch,
			"partition: %v: serving [%d, %d) of epoch %d to %v beyond durable end %d or epoch %d",
			p.cfg.TP, bs[0].BaseOffset, bs[n-1].NextOffset(), bs[n-1].Epoch, pf.from, p.durable, p.epoch)
	}
	assert.That(p.hw <= p.durable, "partition: %v: telling %v high watermark %d beyond durable end %d", p.cfg.TP, pf.from, p.hw, p.durable)
	p.send(pf.from, sm.ReplicaFetchResponse{
		TP: p.cfg.TP, Code: sm.CodeOK, Incarnation: pf.req.Incarnation, FetchOffset: pf.req.FetchOffset,
		LeaderEpoch: p.epoch, HighWatermark: p.hw, LogStart: p.log.start(), Batches: bs,
	})
}

// OnFetch serves a consumer (leader only): records below the high watermark.
func (p *Partition) OnFetch(now sm.Time, from sm.NodeID, req sm.FetchRequest) {
	p.setNow(now)
	p.serveFetch(from, req)
}

// fetchStatus is the answer to a consumer fetch without its batches: an
// error code, or OK with the high watermark and log start.
func (p *Partition) fetchStatus(req sm.FetchRequest) sm.FetchResponse {
	resp := sm.FetchResponse{ReqID: req.ReqID, TP: p.cfg.TP, LeaderEpoch: p.epoch, LeaderHint: p.leader}
	switch {
	case p.role != RoleLeader:
		resp.Code = sm.CodeNotLeader
	case req.CurrentLeaderEpoch > p.epoch:
		resp.Code = sm.CodeUnknownLeaderEpoch
	case p.damaged != "":
		resp.Code, resp.Message = sm.CodeStorageError, fmt.Sprintf("broker %d holds corrupt data for %v (%s)", uint64(p.cfg.Self), p.cfg.TP, p.damaged)
	case p.hw < p.lead.epochStart:
		resp.Code, resp.Message = sm.CodeLeaderNotAvailable, "new leader has not committed its epoch start yet"
		p.probe(sm.ProbeLeaderBelowEpochStart)
	case req.Offset < p.clientLogStart() || req.Offset > p.hw:
		resp.Code, resp.HighWatermark, resp.LogStart = sm.CodeOffsetOutOfRange, p.hw, p.clientLogStart()
		resp.Message = fmt.Sprintf("offset %d outside [log start %d, high watermark %d]", req.Offset, p.clientLogStart(), p.hw)
	default:
		resp.HighWatermark, resp.LogStart = p.hw, p.clientLogStart()
	}
	return resp
}

// ColdFetch answers whether a consumer fetch must be served from the
// object store (tiered storage: its offset is below the local log start
// but recorded as uploaded), with the answer's status (code, high
// watermark, log start, epoch) to fill. When cold is false the broker
// hands the fetch to OnFetch.
func (p *Partition) ColdFetch(now sm.Time, req sm.FetchRequest) (status sm.FetchResponse, cold bool) {
	p.setNow(now)
	if !p.settings.Tiered || req.Offset >= p.log.start() {
		return sm.FetchResponse{}, false
	}
	resp := p.fetchStatus(req)
	return resp, resp.Code == sm.CodeOK
}

// serveFetch answers a consumer fetch now, or issues the read that will.
func (p *Partition) serveFetch(from sm.NodeID, req sm.FetchRequest) {
	resp := p.fetchStatus(req)
	if resp.Code == sm.CodeOK && req.Offset < p.log.start() {
		// Below the local log: only the object store holds it, and this
		// broker's tier component is not serving (not registered yet, or
		// no object store): retry.
		resp.Code, resp.Message = sm.CodeLeaderNotAvailable, "records below the local log start are served from the object store, which this leader cannot read yet"
	}
	if resp.Code != sm.CodeOK || req.Offset == p.hw {
		p.send(from, resp)
		return
	}
	bs, ok := p.log.cached(req.Offset, p.log.end(), p.cfg.ReplicaFetchMaxBytes)
	p.cfg.Cache.lookup(ok)
	if !ok {
		p.issueRead(pendingRead{want: req.Offset, consumer: &consumerFetch{from: from, req: req}})
		return
	}
	p.probe(sm.ProbeReadFromCache)
	resp.Batches = p.consumerBatches(req.Offset, req.MaxRecords, bs)
	p.send(from, resp)
}

// consumerBatches returns the batches of bs (from the one holding from)
// below the high watermark, whole, until maxRecords records at or after
// from are included. A batch that straddles the high watermark is copied
// with its records cut at the high watermark and resealed, so a consumer
// never sees an uncommitted record; its CRC then covers the cut copy, not
// the stored batch.
func (p *Partition) consumerBatches(from sm.Offset, maxRecords int32, bs []sm.Batch) []sm.Batch {
	if maxRecords <= 0 || maxRecords > p.cfg.FetchMaxRecords {
		maxRecords = p.cfg.FetchMaxRecords
	}
	var out []sm.Batch
	n := sm.Offset(0)
	for i := 0; i < len(bs) && n < sm.Offset(maxRecords); i++ {
		b := bs[i]
		if b.BaseOffset >= p.hw {
			break
		}
		if b.NextOffset() > p.hw {
			cut, ok := b.Truncated(int(p.hw - b.BaseOffset))
			if !ok {
				break // compressed: served whole once the high watermark passes it
			}
			b = cut
		}
		n += b.NextOffset() - max(from, b.BaseOffset)
		assert.That(b.NextOffset() <= p.hw && b.NextOffset() <= p.durable && b.NextOffset() > from,
			"partition: %v: serving a consumer [%d, %d) for offset %d beyond high watermark %d or durable end %d", p.cfg.TP, b.BaseOffset, b.NextOffset(), from, p.hw, p.durable)
		out = append(out, b)
	}
	return out
}
