package partition

import (
	"fmt"
	"slices"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/assert"
)

// leaderState is what only a leader keeps; it is reset on every role change.
type leaderState struct {
	// epochStart is the log end when this epoch's leadership began.
	epochStart sm.Offset
	followers  []*progress // one per other replica, sorted by ID
	acks       []pendingAck
	// acksDue is the earliest deadline in acks (zero: none), kept by
	// addAck and keepAcks so TimerAt does not scan every pending produce.
	acksDue sm.Time
	alter   alterState
}

// addAck queues a produce waiting for its ack level.
func (p *Partition) addAck(a pendingAck) {
	p.lead.acks = append(p.lead.acks, a)
	p.lead.acksDue = earliest(p.lead.acksDue, a.deadline)
}

// keepAcks replaces the pending produces by kept, a prefix-compacted subset
// of them, and recomputes the earliest deadline.
func (p *Partition) keepAcks(kept []pendingAck) {
	clear(p.lead.acks[len(kept):])
	p.lead.acks = kept
	p.lead.acksDue = 0
	for _, a := range kept {
		p.lead.acksDue = earliest(p.lead.acksDue, a.deadline)
	}
}

// progress is the leader's view of one follower in the current epoch.
type progress struct {
	id          sm.NodeID
	incarnation uint64
	known       bool      // fetched (without diverging) in this epoch
	offset      sm.Offset // its durable log end, as last reported
	// lastFetch and lastFetchLEO are the time of its last fetch and the
	// leader's durable end then; lastCaughtUp is the last time it had
	// everything the leader had durable (Kafka's lastCaughtUpTimeMs).
	lastFetch    sm.Time
	lastFetchLEO sm.Offset
	lastCaughtUp sm.Time
	parked       *parkedFetch
}

// parkedFetch is a follower fetch with nothing to return yet (long poll).
type parkedFetch struct {
	from     sm.NodeID
	req      sm.ReplicaFetchRequest
	deadline sm.Time
}

// pendingAck is an appended produce waiting for its ack level.
type pendingAck struct {
	client     sm.NodeID
	reqID      uint64
	acks       sm.Acks
	base, next sm.Offset
	deadline   sm.Time
	// dup: an idempotent retry of the batch [base, next), which it
	// already holds (answered CodeDuplicateSequence on success).
	dup bool
}

// syncFollowers makes lead.followers match the replica set, keeping what is
// known of followers that stay. A new follower gets ReplicaLagTime from now
// to show up before it counts as lagging.
func (p *Partition) syncFollowers() {
	var fs []*progress
	for _, id := range p.replicas {
		if id == p.cfg.Self || slices.ContainsFunc(fs, func(f *progress) bool { return f.id == id }) {
			continue
		}
		f := p.progress(id)
		if f == nil {
			f = &progress{id: id, lastFetch: p.now, lastCaughtUp: p.now}
		}
		fs = append(fs, f)
	}
	slices.SortFunc(fs, func(a, b *progress) int { return cmpNode(a.id, b.id) })
	p.lead.followers = fs
}

func (p *Partition) progress(id sm.NodeID) *progress {
	for _, f := range p.lead.followers {
		if f.id == id {
			return f
		}
	}
	return nil
}

// OnProduce appends a producer's records (leader only) and replies when the
// ack level is met. Nothing is written when the request is invalid or the
// ISR is already too small for its ack level.
func (p *Partition) OnProduce(now sm.Time, from sm.NodeID, req sm.ProduceRequest) {
	p.setNow(now)
	if p.role != RoleLeader {
		p.replyProduce(from, req.ReqID, sm.CodeNotLeader, "not the leader", 0)
		return
	}
	if code, msg := p.checkProduce(req); code != sm.CodeOK {
		p.replyProduce(from, req.ReqID, code, msg, 0)
		return
	}
	assert.That(p.log.lastEpoch() <= p.epoch, "partition: %v: leading epoch %d over a log ending in epoch %d", p.cfg.TP, p.epoch, p.log.lastEpoch())
	assert.That(p.lead.epochStart <= p.log.end(), "partition: %v: epoch start %d beyond log end %d", p.cfg.TP, p.lead.epochStart, p.log.end())
	if req.Idempotent {
		v := p.checkSequence(&req, req.RecordCount())
		switch {
		case v.code == sm.CodeDuplicateSequence && p.cfg.CanaryStoreDuplicates:
			req.Idempotent = false // the canary: stored again, as if no producer had sent it
		case v.code == sm.CodeDuplicateSequence:
			// The original may not have reached the ack level yet: the
			// retry is answered when it does, as the original would be.
			p.addAck(pendingAck{
				client: from, reqID: req.ReqID, acks: req.Acks, dup: true,
				base: v.dup.Base, next: v.dup.Last + 1, deadline: now.Add(p.ackTimeout(req)),
			})
			p.completeAcks()
			return
		case v.code != sm.CodeOK:
			p.replyProduce(from, req.ReqID, v.code, v.msg, 0)
			return
		}
	}
	b, code, msg := p.producedBatch(req)
	if code != sm.CodeOK {
		p.replyProduce(from, req.ReqID, code, msg, 0)
		return
	}
	b.BaseOffset, b.Epoch, b.Timestamp = p.log.end(), p.epoch, p.wallClock()
	if b.V2 {
		p.probe(sm.ProbeFormat2Stored)
		if b.Codec != sm.CodecNone {
			p.probe(sm.ProbeCompressedStored)
		}
	}
	if p.settings.CreateTime && b.V2 {
		// Kafka's CreateTime: the batch goes by its newest record, as the
		// producer stamped them (a compressed block's is declared with it);
		// a record without a create time counts as appended now.
		b.CreateTime = true
		if ts := createStamp(req, b.Records, b.Timestamp); ts > 0 {
			b.Timestamp = ts
		}
	}
	b.Seal()
	p.appendBatches([]sm.Batch{b})
	if req.Acks.Kind == sm.AckNone {
		p.replyProduce(from, req.ReqID, sm.CodeOK, "", b.BaseOffset)
		return
	}
	p.addAck(pendingAck{
		client: from, reqID: req.ReqID, acks: req.Acks,
		base: b.BaseOffset, next: b.NextOffset(), deadline: now.Add(p.ackTimeout(req)),
	})
}

// ackTimeout is how long a produce waits for its ack level.
func (p *Partition) ackTimeout(req sm.ProduceRequest) sm.Duration {
	if req.Timeout > 0 {
		return req.Timeout
	}
	return p.cfg.AckTimeout
}

// checkProduce validates a produce before anything is written.
func (p *Partition) checkProduce(req sm.ProduceRequest) (sm.Code, string) {
	rf := int32(len(p.replicas))
	switch {
	case req.Block != nil && len(req.Records) > 0:
		return sm.CodeInvalidRequest, "records: produce carries both records and a records block"
	case req.Block == nil && len(req.Records) == 0:
		return sm.CodeInvalidRequest, "records: produce carries no records"
	case req.Block != nil && req.Count < 1:
		return sm.CodeInvalidRequest, fmt.Sprintf("count: a records block of %d records", req.Count)
	case req.Block != nil && !req.Codec.Valid():
		return sm.CodeInvalidRequest, fmt.Sprintf("codec: unknown compression codec %d (know none, gzip, snappy, lz4, zstd)", uint8(req.Codec))
	case req.Block != nil && len(req.Block) > p.cfg.MaxBatchBytes:
		return sm.CodeMessageTooLarge, fmt.Sprintf("records block is %d bytes, above max batch bytes %d", len(req.Block), p.cfg.MaxBatchBytes)
	case req.Block != nil && sm.BlockChecksum(req.Block) != req.BlockCRC:
		return sm.CodeCorruptMessage, fmt.Sprintf("records block checksum %08x, the producer's is %08x: damaged on the way", sm.BlockChecksum(req.Block), req.BlockCRC)
	}
	switch {
	case req.Idempotent && req.Acks.Kind != sm.AckAll:
		return sm.CodeInvalidRequest, fmt.Sprintf("acks: an idempotent produce needs acks=all, not %v", req.Acks)
	case req.Idempotent && req.ProducerID < 0:
		return sm.CodeInvalidRequest, fmt.Sprintf("producer id: %d is not one InitProducerID hands out", req.ProducerID)
	case req.Idempotent && (req.ProducerEpoch < 0 || req.BaseSequence < 0):
		return sm.CodeInvalidRequest, fmt.Sprintf("producer epoch %d, base sequence %d: neither may be negative", req.ProducerEpoch, req.BaseSequence)
	case !req.Idempotent && (req.ProducerID != 0 || req.ProducerEpoch != 0 || req.BaseSequence != 0):
		return sm.CodeInvalidRequest, "producer id, epoch and base sequence: set on a produce that is not idempotent"
	}
	switch req.Acks.Kind {
	case sm.AckNone, sm.AckLeader, sm.AckMajority, sm.AckAll:
	case sm.AckCustom:
		if req.Acks.N < 1 || req.Acks.N > rf {
			return sm.CodeInvalidRequest, fmt.Sprintf("acks: %v outside [1, replication factor %d]", req.Acks, rf)
		}
	default:
		return sm.CodeInvalidRequest, fmt.Sprintf("acks: unknown level %v", req.Acks)
	}
	for i, r := range req.Records {
		if n := sm.RecordBytes(r); n > p.cfg.MaxRecordBytes {
			return sm.CodeMessageTooLarge, fmt.Sprintf("record %d is %d bytes, above max record bytes %d", i, n, p.cfg.MaxRecordBytes)
		}
	}
	n := sm.FrameBytes(req.Records)
	if sm.NeedsV2(req.Records) {
		n = sm.FrameV2HeaderBytes + sm.RecordsBlockBytes(req.Records)
	}
	if req.Block == nil && n > p.cfg.MaxBatchBytes {
		return sm.CodeMessageTooLarge, fmt.Sprintf("batch is %d bytes, above max batch bytes %d", n, p.cfg.MaxBatchBytes)
	}
	if need, have := p.isrNeeded(req.Acks), p.isrSize(); have < need {
		return sm.CodeNotEnoughReplicas, fmt.Sprintf("isr has %d replicas, acks=%v needs %d", have, req.Acks, need)
	}
	if commits(req.Acks) && p.isrSize() < p.minISR {
		return sm.CodeNotEnoughReplicas, fmt.Sprintf("isr has %d replicas, below min in-sync replicas %d: acks=%v waits for a commit, and nothing commits", p.isrSize(), p.minISR, req.Acks)
	}
	return sm.CodeOK, ""
}

// commits reports whether an ack level waits for the records to commit
// (reach the high watermark).
func commits(a sm.Acks) bool {
	return a.Kind == sm.AckAll || a.Kind == sm.AckMajority || a.Kind == sm.AckCustom
}

// isrNeeded is the committed ISR size an ack level needs.
func (p *Partition) isrNeeded(a sm.Acks) int32 {
	switch a.Kind {
	case sm.AckAll:
		return p.minISR
	case sm.AckMajority:
		return int32(len(p.replicas))/2 + 1
	case sm.AckCustom:
		return a.N
	}
	return 0
}

// isrSize is the committed ISR's size, the leader always counted.
func (p *Partition) isrSize() int32 {
	n := int32(len(p.isr))
	if !slices.Contains(p.isr, p.cfg.Self) {
		n++
	}
	return n
}

// ackOutcome decides a pending produce: done reports whether to reply now.
// Majority and custom mean "committed and at least N durable copies"; all
// means committed with the ISR still at least min_in_sync_replicas.
func (p *Partition) ackOutcome(a pendingAck) (done bool, code sm.Code) {
	switch a.acks.Kind {
	case sm.AckLeader:
		return p.durable >= a.next, sm.CodeOK
	case sm.AckAll:
		if p.cfg.CanaryAckAllBeforeISR {
			return p.durable >= a.next, sm.CodeOK
		}
		if p.isrSize() < p.minISR {
			return true, sm.CodeNotEnoughReplicasAfterAppend // nothing commits until the ISR grows
		}
		if p.hw < a.next {
			return false, sm.CodeOK
		}
		return true, sm.CodeOK
	case sm.AckMajority, sm.AckCustom:
		if p.hw < a.next && p.isrSize() < p.minISR {
			return true, sm.CodeNotEnoughReplicasAfterAppend // nothing commits until the ISR grows
		}
		return p.hw >= a.next && p.durableCopies(a.next) >= p.isrNeeded(a.acks), sm.CodeOK
	}
	assert.That(false, "partition: %v: pending ack with level %v", p.cfg.TP, a.acks)
	return false, 0
}

// durableCopies counts replicas (leader included) known durable through off.
func (p *Partition) durableCopies(off sm.Offset) int32 {
	var n int32
	if p.durable >= off {
		n++
	}
	for _, f := range p.lead.followers {
		if f.known && f.offset >= off {
			n++
		}
	}
	return n
}

// completeAcks replies to every pending produce whose outcome is decided.
func (p *Partition) completeAcks() {
	kept := p.lead.acks[:0]
	for _, a := range p.lead.acks {
		if done, code := p.ackOutcome(a); done {
			p.replyAck(a, code, "")
			continue
		}
		kept = append(kept, a)
	}
	p.keepAcks(kept)
}

func (p *Partition) replyAck(a pendingAck, code sm.Code, msg string) {
	if code == sm.CodeOK && a.dup {
		code, msg = sm.CodeDuplicateSequence, fmt.Sprintf("the batch is already at offsets %d-%d", a.base, a.next-1)
	}
	if code == sm.CodeNotEnoughReplicasAfterAppend {
		p.probe(sm.ProbeAckAfterAppendShrunk)
		msg = fmt.Sprintf("isr shrank to %d replicas, below min in-sync replicas %d", p.isrSize(), p.minISR)
	}
	p.replyProduce(a.client, a.reqID, code, msg, a.base)
}

func (p *Partition) replyProduce(to sm.NodeID, reqID uint64, code sm.Code, msg string, base sm.Offset) {
	if code != sm.CodeOK && code != sm.CodeDuplicateSequence && !code.Unknown() {
		base = 0
	}
	p.send(to, sm.ProduceResponse{
		ReqID: reqID, TP: p.cfg.TP, Code: code, Message: msg,
		BaseOffset: base, LeaderEpoch: p.epoch, LeaderHint: p.leader,
	})
}

// maximalISR is the committed ISR plus every member proposed at the current
// partition epoch: until the controller confirms a shrink, the high
// watermark keeps waiting for the members being removed (Kafka's rule).
func (p *Partition) maximalISR() []sm.NodeID {
	m := slices.Concat(p.isr, p.lead.alter.proposed, []sm.NodeID{p.cfg.Self})
	slices.Sort(m)
	return slices.Compact(m)
}

// maybeAdvanceHW raises the high watermark to the smallest durable end among
// the maximal ISR. A member that has not fetched in this epoch holds it.
func (p *Partition) maybeAdvanceHW() {
	hw := p.durable
	for _, id := range p.maximalISR() {
		if id == p.cfg.Self {
			continue
		}
		f := p.progress(id)
		if f == nil || !f.known {
			return
		}
		hw = min(hw, f.offset)
	}
	if hw > p.hw && p.isrSize() < p.minISR {
		// Nothing commits while the ISR is smaller than min in-sync
		// replicas, so the replicas that left it (the controller's ELR)
		// hold every committed record and may be elected if the last
		// in-sync copy is lost (KIP-966).
		p.probe(sm.ProbeHWHeldBelowMinISR)
		return
	}
	p.raiseHW(hw)
}

// onLeaderDurable follows the leader's durable end moving up.
func (p *Partition) onLeaderDurable() {
	p.maybeAdvanceHW()
	p.completeAcks()
	for _, f := range p.lead.followers {
		if f.parked != nil && f.parked.req.FetchOffset < p.durable {
			p.answerParked(f)
		}
	}
	p.maybeAlterISR()
}

// leaderTimer expires produces and parked fetches, and retries AlterISR.
func (p *Partition) leaderTimer() {
	kept := p.lead.acks[:0]
	for _, a := range p.lead.acks {
		if p.now >= a.deadline {
			p.replyAck(a, sm.CodeTimeout, fmt.Sprintf("ack level %v not reached in time", a.acks))
			continue
		}
		kept = append(kept, a)
	}
	p.keepAcks(kept)
	for _, f := range p.lead.followers {
		if f.parked != nil && p.now >= f.parked.deadline {
			p.probe(sm.ProbeParkedFetchExpired)
			p.answerParked(f)
		}
	}
	if p.lead.alter.inflight && p.now >= p.lead.alter.retryAt {
		p.lead.alter.inflight = false
	}
	p.maybeAlterISR()
}

// leaderTimerAt is the earliest leader deadline.
func (p *Partition) leaderTimerAt() sm.Time {
	t := p.lead.acksDue
	for _, f := range p.lead.followers {
		if f.parked != nil {
			t = earliest(t, f.parked.deadline)
		}
	}
	if p.lead.alter.inflight {
		return earliest(t, p.lead.alter.retryAt)
	}
	for _, f := range p.lead.followers {
		if slices.Contains(p.isr, f.id) {
			t = earliest(t, f.lastCaughtUp.Add(p.cfg.ReplicaLagTime+1))
		}
	}
	return t
}

// earliest is the earlier of two times, zero meaning "none".
func earliest(a, b sm.Time) sm.Time {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

func cmpNode(a, b sm.NodeID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// OnReplicaRestarted tells the leader that the controller registered
// incarnation inc of replica id. What the replica's earlier process reported
// says nothing about the new one's log — it may have started on an empty
// disk — and the earlier process may still be running (a zombie), so the
// leader forgets the follower's progress and any parked fetch; fetches from
// older incarnations are ignored from now on, and the new process counts
// toward the high watermark and the ISR only once it has fetched.
func (p *Partition) OnReplicaRestarted(now sm.Time, id sm.NodeID, inc uint64) {
	p.setNow(now)
	if p.role != RoleLeader {
		return
	}
	f := p.progress(id)
	if f == nil || f.incarnation >= inc {
		return
	}
	f.incarnation, f.known, f.offset, f.parked = inc, false, 0, nil
}

// createStamp is the newest create time of a produce's records: read from
// them where the leader has them decoded, else as the producer declared it
// (a compressed block); now stands in for a record without one.
func createStamp(req sm.ProduceRequest, decoded []sm.Record, now int64) int64 {
	recs := req.Records
	if recs == nil {
		recs = decoded
	}
	if recs == nil {
		if req.MaxTimestamp > 0 {
			return req.MaxTimestamp
		}
		return now
	}
	var ts int64
	for _, r := range recs {
		if r.Timestamp > 0 {
			ts = max(ts, r.Timestamp)
		} else {
			ts = max(ts, now)
		}
	}
	return ts
}

// producedBatch is the batch a valid produce appends (offsets, epoch and
// timestamp still to set): format 1 for plain records, format 2 for a
// records block or records with headers. A compressed block is kept as
// the producer sent it (checksum checked, not decompressed) unless the
// topic forces another codec; then, and for a topic forcing a codec on
// uncompressed records, the leader recompresses.
func (p *Partition) producedBatch(req sm.ProduceRequest) (sm.Batch, sm.Code, string) {
	st := &p.settings
	pid, pepoch, seq := int64(-1), int16(-1), int32(-1)
	if req.Idempotent {
		pid, pepoch, seq = req.ProducerID, req.ProducerEpoch, req.BaseSequence
	}
	if req.Block == nil {
		recs := slices.Clone(req.Records)
		if !req.Idempotent && !sm.NeedsV2(recs) && (!st.ForceCodec || st.Compression == sm.CodecNone) {
			return sm.Batch{Records: recs}, sm.CodeOK, ""
		}
		b := sm.NewBatchV2(recs)
		b.ProducerID, b.ProducerEpoch, b.BaseSequence = pid, pepoch, seq
		return p.forceCodec(b)
	}
	b := sm.Batch{V2: true, Codec: req.Codec, Count: req.Count, Block: slices.Clone(req.Block), BlockCRC: req.BlockCRC,
		ProducerID: pid, ProducerEpoch: pepoch, BaseSequence: seq}
	if req.Codec == sm.CodecNone {
		recs, err := sm.DecodeRecords(b.Block, int(b.Count))
		if err != nil {
			return b, sm.CodeCorruptMessage, "records block: " + err.Error()
		}
		for i, r := range recs {
			if n := sm.RecordBytes(r); n > p.cfg.MaxRecordBytes {
				return b, sm.CodeMessageTooLarge, fmt.Sprintf("record %d is %d bytes, above max record bytes %d", i, n, p.cfg.MaxRecordBytes)
			}
		}
		b.Records = recs
	} else if p.cfg.Compressor != nil {
		if err := p.cfg.Compressor.Plausible(req.Codec, b.Block); err != nil {
			return b, sm.CodeCorruptMessage, "records block: " + err.Error()
		}
	}
	return p.forceCodec(b)
}

// forceCodec recompresses b when the topic forces a codec it does not
// have.
func (p *Partition) forceCodec(b sm.Batch) (sm.Batch, sm.Code, string) {
	st := &p.settings
	if !st.ForceCodec || b.Codec == st.Compression {
		return b, sm.CodeOK, ""
	}
	if p.cfg.Compressor == nil {
		return b, sm.CodeInvalidRequest, fmt.Sprintf("the topic forces %v compression and this broker has no compressor", st.Compression)
	}
	recs, err := b.Decode(p.cfg.Compressor, sm.BatchFrameMax)
	if err != nil {
		return b, sm.CodeCorruptMessage, "records block: " + err.Error()
	}
	block := sm.EncodeRecords(nil, recs)
	out := sm.Batch{V2: true, Count: int32(len(recs)), ProducerID: b.ProducerID, ProducerEpoch: b.ProducerEpoch, BaseSequence: b.BaseSequence}
	if st.Compression == sm.CodecNone {
		out.Records, out.Block = recs, block
	} else if out.Block, err = p.cfg.Compressor.Compress(st.Compression, block); err != nil {
		return b, sm.CodeInvalidRequest, fmt.Sprintf("recompressing with %v: %v", st.Compression, err)
	}
	out.Codec = st.Compression
	out.BlockCRC = sm.BlockChecksum(out.Block)
	if len(out.Block) > p.cfg.MaxBatchBytes {
		return b, sm.CodeMessageTooLarge, fmt.Sprintf("records block is %d bytes as %v, above max batch bytes %d", len(out.Block), st.Compression, p.cfg.MaxBatchBytes)
	}
	return out, sm.CodeOK, ""
}
