package sdk

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/weirmq/weir/sm"
)

// The idempotent producer (ProducerConfig.Idempotent).
//
// Each partition numbers the producer's records from 0 (a batch's
// BaseSequence is its first record's) and the leader stores a batch only if
// it comes right after the last one it holds of this producer, answering a
// batch it already holds (one of the last five) with DUPLICATE_SEQUENCE_NUMBER
// and the original's offset. So the producer may retry anything, unknown
// outcomes included, as long as a batch keeps its numbers: it is numbered when
// it is first sent and never re-split or merged.
//
// At most five batches of a partition are unacknowledged at a time (sent and
// not yet delivered to callbacks in order), so a retry of any of them is still
// among the leader's last five. Their requests may arrive out of order (a
// retry after a lost reply, backoff jitter, a leader change): a batch refused
// as out of order while an earlier one is unacknowledged waits (parked) until
// every earlier one has its outcome, then goes again; so does, once, a batch
// refused right after its predecessor was acknowledged (the refusal was of
// a request that overtook it). Any other refusal of the earliest
// unacknowledged batch means the leader's numbers and the producer's
// disagree, and a batch that failed for good (a gap) or whose outcome stayed
// unknown leaves them uncertain: the partition's sequence starts again (a
// reset). Once no request of the partition is out, it takes a new producer ID
// and numbers every unacknowledged batch again from 0, in order. A new ID,
// even after UNKNOWN_PRODUCER_ID: only an ID no leader has seen is sure to
// be taken from 0 again, and a batch numbered again under the old ID could
// match an earlier one the leader holds and be taken for its duplicate.

// maxIdempotentInflight is the most batches of one partition an idempotent
// producer has unacknowledged: the batches a leader remembers per producer.
const maxIdempotentInflight = 5

func (c ProducerConfig) checkIdempotent() error {
	if !c.Idempotent {
		return nil
	}
	if c.Acks.Kind != sm.AckAll {
		return fmt.Errorf("%w: ProducerConfig.Acks is %v, but Idempotent needs acks all (leave Acks nil, or AckLevel(sm.AckAll))", ErrInvalidRequest, *c.Acks)
	}
	if c.MaxInflightPerPartition > maxIdempotentInflight {
		return fmt.Errorf("%w: ProducerConfig.MaxInflightPerPartition is %d, but Idempotent allows at most %d (the batches a leader remembers per producer)",
			ErrInvalidRequest, c.MaxInflightPerPartition, maxIdempotentInflight)
	}
	return nil
}

// seqAdd is the sequence number n records after seq: sequences wrap from
// MaxInt32 to 0.
func seqAdd(seq int32, n int) int32 {
	return int32((int64(seq) + int64(n)) % (math.MaxInt32 + 1))
}

// sequenceRefusal reports whether code is a leader's "not in sequence":
// nothing was stored, and the producer's numbers decide what happens next.
func sequenceRefusal(code sm.Code) bool {
	return code == sm.CodeOutOfOrderSequence || code == sm.CodeUnknownProducerID
}

type idemState uint8

const (
	idemReady   idemState = iota // numbered, to be sent
	idemRunning                  // a produce loop is sending it
	idemParked                   // refused as out of order behind an earlier batch: sent again once every earlier one is done
	idemDone                     // outcome known (base, err)
)

// idemBatch is a batch's sequence state once an idempotent producer sent
// it. recs and block belong to the batch's produce loop while it runs.
type idemBatch struct {
	recs     []sm.Record
	block    []byte
	encoded  bool
	seq      int32
	deadline time.Time // DeliveryTimeout after it was first sent
	state    idemState
	lastErr  error // why it goes again (after parking or a reset)
	// overtaken: it was sent again once because its refusal came after
	// its predecessor's success.
	overtaken bool
	base      sm.Offset
	err       error
}

// idemPartition is one partition's sequence state.
type idemPartition struct {
	pid      int64
	epoch    int16
	hasPID   bool
	newID    bool // the partition needs a producer ID of its own, never used before
	fetching bool // its InitProducerID is under way
	next     int32
	// acked is the sequence after the last batch acknowledged as written,
	// if one was since the last reset.
	acked      int32
	ackedValid bool
	// unacked are the numbered batches not yet delivered, in sequence
	// order; done ones leave from the front, into toDeliver.
	unacked    []*batch
	gate       chan struct{} // the last launched batch's idemTry.turn
	running    int           // batches with a produce loop running
	reset      bool          // a reset waits for the requests out
	delivering bool          // a goroutine is running toDeliver's callbacks
	toDeliver  []*batch
}

// producerIdentity is the producer's own ID, which partitions take unless
// they needed a new one.
type producerIdentity struct {
	id       int64
	epoch    int16
	ok       bool
	fetching bool
}

// idemTry is what one produce loop of an idempotent batch sends, and what
// it learnt.
type idemTry struct {
	pid      int64
	epoch    int16
	seq      int32
	deadline time.Time
	lastErr  error
	// maybeStored: an attempt's outcome was unknown, and no answer since
	// said the batch is not stored.
	maybeStored bool
	// refused: the loop ended on a sequence refusal (sequenceRefusal).
	refused bool
	// after is closed once the batch launched before this one queued its
	// request (or gave up), turn once this one did: so requests leave in
	// the order launched, which is sequence order, and a connection keeps
	// that order to the leader.
	after, turn chan struct{}
	passed      bool
}

// waitTurn waits until the batch launched before this one queued its
// request (first attempt only; retries go when they are due).
func (t *idemTry) waitTurn(ctx context.Context) {
	if t.after != nil {
		select {
		case <-t.after:
		case <-ctx.Done():
		}
		t.after = nil
	}
}

// passTurn lets the batch launched after this one go.
func (t *idemTry) passTurn() {
	if !t.passed {
		t.passed = true
		close(t.turn)
	}
}

// drainIdempotentLocked is drainLocked with idempotence: it performs a
// pending reset once no request of the partition is out, gets a producer ID
// first if the partition has none, (re)sends numbered batches whose turn it
// is, then numbers and sends new batches while fewer than
// MaxInflightPerPartition are unacknowledged.
func (p *Producer) drainIdempotentLocked(pq *partQueue) {
	s := &pq.seq
	if s.reset {
		if s.running > 0 {
			return // numbers change only while nothing is out
		}
		p.expireIdleLocked(pq)
		next := int32(0)
		for _, b := range s.unacked {
			if ib := b.idem; ib.state != idemDone {
				ib.seq, ib.state, ib.overtaken = next, idemReady, false
				next = seqAdd(next, len(b.entries))
			}
		}
		s.next, s.reset, s.ackedValid = next, false, false
		s.hasPID, s.newID = false, true
		p.c.stats.seqResets.Add(1)
		p.popDoneLocked(pq)
	}
	if !s.hasPID {
		if len(s.unacked) > 0 || len(pq.batches) > 0 {
			p.needIDLocked(pq)
		}
		if !s.hasPID {
			return
		}
	}
	earlierOpen := false
	for _, b := range s.unacked {
		switch ib := b.idem; {
		case ib.state == idemReady, ib.state == idemParked && !earlierOpen:
			if !time.Now().Before(ib.deadline) {
				// Not stored, but the batches after it now have a gap
				// before them: the reset comes first.
				p.expireLocked(pq, b)
				s.reset = true
				p.drainIdempotentLocked(pq)
				return
			}
			p.launchLocked(pq, b)
		}
		if b.idem.state != idemDone {
			earlierOpen = true
		}
	}
	// New batches wait while one goes again: sent now, they would only be
	// refused as out of order.
	for len(s.unacked) < p.cfg.MaxInflightPerPartition && !p.resendingLocked(pq) {
		b := p.nextBatchLocked(pq)
		if b == nil {
			return
		}
		b.idem = &idemBatch{recs: recordsOf(b.entries), seq: s.next, deadline: time.Now().Add(p.cfg.DeliveryTimeout)}
		s.next = seqAdd(s.next, len(b.entries))
		s.unacked = append(s.unacked, b)
		p.launchLocked(pq, b)
	}
}

// resendingLocked reports whether a batch of pq waits to go again.
func (p *Producer) resendingLocked(pq *partQueue) bool {
	for _, b := range pq.seq.unacked {
		if st := b.idem.state; st == idemReady || st == idemParked {
			return true
		}
	}
	return false
}

// expireLocked fails a batch waiting to go again (not stored, the leader
// said so) whose delivery timeout passed.
func (p *Producer) expireLocked(pq *partQueue, b *batch) {
	ib := b.idem
	why := "the leader refused it"
	if ib.lastErr != nil {
		why = ib.lastErr.Error()
	}
	ib.state = idemDone
	ib.err = fmt.Errorf("sdk: %v: not written: DeliveryTimeout %v passed while the batch waited to be sent again (%s)", pq.tp, p.cfg.DeliveryTimeout, why)
	p.popDoneLocked(pq)
}

// expireIdleLocked fails every batch waiting to go again whose delivery
// timeout passed, before a reset numbers the rest (so it leaves no gap).
func (p *Producer) expireIdleLocked(pq *partQueue) {
	for _, b := range pq.seq.unacked {
		if ib := b.idem; ib.state != idemDone && ib.state != idemRunning && !time.Now().Before(ib.deadline) {
			p.expireLocked(pq, b)
		}
	}
}

func (p *Producer) launchLocked(pq *partQueue, b *batch) {
	s, ib := &pq.seq, b.idem
	ib.state = idemRunning
	s.running++
	try := &idemTry{pid: s.pid, epoch: s.epoch, seq: ib.seq, deadline: ib.deadline, lastErr: ib.lastErr,
		after: s.gate, turn: make(chan struct{})}
	s.gate = try.turn
	p.wg.Add(1)
	go p.sendIdempotent(pq, b, try)
}

// sendIdempotent runs one produce loop of b, then decides what its outcome
// means for the partition and delivers what is done, in order.
func (p *Producer) sendIdempotent(pq *partQueue, b *batch, try *idemTry) {
	defer p.wg.Done()
	ib := b.idem
	var err error
	if !ib.encoded {
		ib.block, err = p.encode(pq.tp, ib.recs)
		ib.encoded = err == nil
	}
	base := sm.Offset(-1)
	if err == nil {
		base, err = p.produce(pq.tp, ib.recs, ib.block, try)
	}
	try.waitTurn(p.ctx) // keep the chain in order even when this one never sent
	try.passTurn()
	p.mu.Lock()
	pq.seq.running--
	p.outcomeLocked(pq, b, try, base, err)
	p.drainLocked(pq)
	p.mu.Unlock()
	p.deliverIdempotent(pq)
}

func (p *Producer) outcomeLocked(pq *partQueue, b *batch, try *idemTry, base sm.Offset, err error) {
	s, ib := &pq.seq, b.idem
	ib.lastErr = err
	switch {
	case err == nil:
		ib.state, ib.base = idemDone, base
	case try.refused && !p.stopped:
		earlierOpen := false
		for _, o := range s.unacked {
			if o == b {
				break
			}
			earlierOpen = earlierOpen || o.idem.state != idemDone
		}
		if earlierOpen {
			ib.state = idemParked // an earlier batch has not arrived yet: after it
			p.c.stats.outOfOrder.Add(1)
			break
		}
		ib.state = idemReady
		if s.ackedValid && s.acked == ib.seq && !ib.overtaken {
			ib.overtaken = true // it went before its predecessor: again, now after it
			p.c.stats.outOfOrder.Add(1)
			break
		}
		s.reset = true
	default:
		if try.refused { // stopped meanwhile
			err = ErrClosed
		}
		// Not written (a gap before the batches after it), or unknown
		// (they may follow it or not): either way the numbers after it
		// are no longer sure.
		ib.state, ib.err = idemDone, err
		s.reset = true
	}
	if p.stopped {
		p.failUnsentLocked(pq, ErrClosed)
	}
	p.popDoneLocked(pq)
}

// popDoneLocked moves the done batches at the front of unacked to
// toDeliver, freeing their places.
func (p *Producer) popDoneLocked(pq *partQueue) {
	s := &pq.seq
	n := 0
	for n < len(s.unacked) && s.unacked[n].idem.state == idemDone {
		n++
	}
	if n == 0 {
		return
	}
	for _, b := range s.unacked[:n] {
		if b.idem.err == nil { // in order: the sequence the leader expects next
			s.acked, s.ackedValid = seqAdd(b.idem.seq, len(b.entries)), true
		}
	}
	s.toDeliver = append(s.toDeliver, s.unacked[:n]...)
	s.unacked = append(s.unacked[:0:0], s.unacked[n:]...)
}

// failUnsentLocked fails with err what of pq is not being sent: numbered
// batches waiting to go again (none was stored) and queued records. Their
// callbacks come after those of the batches before them.
func (p *Producer) failUnsentLocked(pq *partQueue, err error) {
	s := &pq.seq
	for _, b := range s.unacked {
		if ib := b.idem; ib.state == idemReady || ib.state == idemParked {
			ib.state, ib.err = idemDone, err
		}
	}
	for _, b := range pq.batches {
		var live []*entry
		for _, e := range b.entries {
			if e.state == queued {
				e.state = dropped
				live = append(live, e)
			}
		}
		if len(live) > 0 {
			s.unacked = append(s.unacked, &batch{entries: live, idem: &idemBatch{state: idemDone, err: err}})
		}
	}
	pq.batches = nil
	p.popDoneLocked(pq)
}

// deliverIdempotent runs the callbacks of pq's done batches in order, one
// goroutine at a time, outside the lock.
func (p *Producer) deliverIdempotent(pq *partQueue) {
	s := &pq.seq
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.delivering {
		return // that goroutine takes these too
	}
	s.delivering = true
	for len(s.toDeliver) > 0 {
		bs := s.toDeliver
		s.toDeliver = nil
		p.mu.Unlock()
		for _, b := range bs {
			for i, e := range b.entries {
				r := Result{Topic: pq.tp.Topic, Partition: pq.tp.Partition, Offset: b.idem.base + sm.Offset(i)}
				if b.idem.err != nil {
					r.Offset = -1
				}
				e.cb(r, b.idem.err)
			}
		}
		p.mu.Lock()
		for _, b := range bs {
			for _, e := range b.entries {
				p.untrackLocked(e)
			}
		}
	}
	s.delivering = false
}

// needIDLocked gives pq a producer ID: the producer's, or a new one of its
// own when it needs that, asking the cluster first if there is none yet.
func (p *Producer) needIDLocked(pq *partQueue) {
	s := &pq.seq
	switch {
	case !s.newID && p.ident.ok:
		s.pid, s.epoch, s.hasPID = p.ident.id, p.ident.epoch, true
	case !s.newID && !p.ident.fetching:
		p.ident.fetching = true
		p.wg.Add(1)
		go p.fetchProducerID(nil)
	case s.newID && !s.fetching:
		s.fetching = true
		p.wg.Add(1)
		go p.fetchProducerID(pq)
	}
}

// fetchProducerID asks for a producer ID: the producer's (pq nil), or pq's
// own. Records waiting for it fail if none comes within DeliveryTimeout.
func (p *Producer) fetchProducerID(pq *partQueue) {
	defer p.wg.Done()
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.DeliveryTimeout)
	id, epoch, err := p.c.InitProducerID(ctx)
	cancel()
	if err == nil {
		p.c.stats.producerIDs.Add(1)
	}
	p.mu.Lock()
	var targets []*partQueue
	if pq == nil {
		p.ident.fetching = false
		if err == nil {
			p.ident = producerIdentity{id: id, epoch: epoch, ok: true}
		}
		for _, q := range p.parts {
			if !q.seq.hasPID && !q.seq.newID {
				targets = append(targets, q)
			}
		}
	} else {
		s := &pq.seq
		s.fetching = false
		if err == nil {
			s.pid, s.epoch, s.hasPID, s.newID = id, epoch, true, false
		}
		targets = []*partQueue{pq}
	}
	if err != nil {
		if p.stopped {
			err = ErrClosed
		} else {
			err = fmt.Errorf("sdk: idempotent producer: no producer ID within DeliveryTimeout %v, nothing written: %w", p.cfg.DeliveryTimeout, err)
		}
		for _, q := range targets {
			p.failUnsentLocked(q, err)
		}
	} else {
		for _, q := range targets {
			p.drainLocked(q)
		}
	}
	p.mu.Unlock()
	for _, q := range targets {
		p.deliverIdempotent(q)
	}
}
