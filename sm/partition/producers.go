package partition

import (
	"fmt"
	"maps"
	"slices"

	"github.com/weirmq/weir/sm"
)

// Idempotent producers (Kafka's KIP-98 idempotence without transactions).
//
// Every replica keeps, for each producer ID with batches in its log, the
// producer's epoch and its last sm.ProducerBatchesKept batches (first and
// last sequence numbers, offsets). The state is derived from the log and
// kept in step with it like the epoch cache: appends add to it, whether the
// leader wrote them or a follower fetched them, so a follower elected
// leader already has it; truncation and a refused append cut it; retention
// drops what it deletes; a replica that starts from its store reads it
// from the segment indexes (sm.SegmentIndex.Producers), which every store
// builds by the same rule as it appends. Nothing reads the log for it.
//
// The leader checks an idempotent produce against it (checkSequence): a
// retry of one of the remembered batches is answered with the original's
// offset once the original reaches the ack level; a batch whose first
// sequence is not the one after the producer's last is refused, so a
// producer's batches are stored once each and in order. Idempotence needs
// acks=all: then a producer that keeps at most ProducerBatchesKept batches
// in flight has every batch a truncation can cut (uncommitted) among the
// remembered ones, and every retry it can send is a remembered batch or
// the next.
//
// Known limits. A producer all of whose batches left the log (retention)
// or were cut by a truncation is unknown: its next batch must start at
// sequence 0 (CodeUnknownProducerID), and the SDK starts the partition's
// sequence again. A retry that arrives after its original was deleted by
// retention is stored again — a retry outliving the log's retention.

// producerState is one producer's state on this replica.
type producerState struct {
	epoch int16
	// batches are its latest batches in offset order, at most
	// sm.ProducerBatchesKept, the last one its newest.
	batches []sm.ProducerBatch
}

// producers is the replica's producer state, by producer ID.
type producers map[int64]*producerState

// add records an idempotent batch appended at the log end.
func (ps producers) add(pb sm.ProducerBatch) {
	st := ps[pb.ProducerID]
	if st == nil {
		st = &producerState{}
		ps[pb.ProducerID] = st
	}
	if pb.Epoch > st.epoch {
		st.batches, st.epoch = st.batches[:0], pb.Epoch
	}
	if len(st.batches) == sm.ProducerBatchesKept {
		copy(st.batches, st.batches[1:])
		st.batches = st.batches[:len(st.batches)-1]
	}
	st.batches = append(st.batches, pb)
}

// cut forgets the batches at or after off (a truncation); a producer left
// with none is forgotten.
func (ps producers) cut(off sm.Offset) {
	for id, st := range ps {
		st.batches = sm.CutProducers(st.batches, off)
		if len(st.batches) == 0 {
			delete(ps, id)
		} else {
			st.epoch = st.batches[len(st.batches)-1].Epoch
		}
	}
}

// trim forgets the batches below start (retention deleted them).
func (ps producers) trim(start sm.Offset) {
	for id, st := range ps {
		i := 0
		for i < len(st.batches) && st.batches[i].Last < start {
			i++
		}
		st.batches = st.batches[i:]
		if len(st.batches) == 0 {
			delete(ps, id)
		}
	}
}

// recoverProducers is the producer state of a log recovered from m: each
// segment's batches, oldest first.
func recoverProducers(m sm.LogManifest) producers {
	ps := producers{}
	for i := range m.Segments {
		for _, pb := range m.Segments[i].Producers {
			ps.add(pb)
		}
	}
	return ps
}

// batchProducer is the producer batch b records, ok false for a batch of
// no idempotent producer.
func batchProducer(b *sm.Batch) (sm.ProducerBatch, bool) {
	if !b.V2 || b.ProducerID < 0 {
		return sm.ProducerBatch{}, false
	}
	return sm.ProducerBatch{
		ProducerID: b.ProducerID, Epoch: b.ProducerEpoch,
		FirstSeq: b.BaseSequence, LastSeq: sm.SeqAdd(b.BaseSequence, int64(b.Len()-1)),
		Base: b.BaseOffset, Last: b.NextOffset() - 1,
	}, true
}

// sequenceVerdict is what the leader does with an idempotent produce.
type sequenceVerdict struct {
	code sm.Code
	msg  string
	// dup is the batch the produce repeats (code CodeDuplicateSequence).
	dup sm.ProducerBatch
}

// checkSequence decides an idempotent produce of n records against the
// producer's state: CodeOK appends it.
func (p *Partition) checkSequence(req *sm.ProduceRequest, n int) sequenceVerdict {
	first, last := req.BaseSequence, sm.SeqAdd(req.BaseSequence, int64(n-1))
	st := p.log.producers[req.ProducerID]
	if st == nil {
		if first != 0 {
			p.probe(sm.ProbeUnknownProducerID)
			return sequenceVerdict{code: sm.CodeUnknownProducerID, msg: fmt.Sprintf(
				"producer %d: no batch of it is in this partition's log, and sequence %d is not 0: start again at 0", req.ProducerID, first)}
		}
		return sequenceVerdict{code: sm.CodeOK}
	}
	switch {
	case req.ProducerEpoch < st.epoch:
		return sequenceVerdict{code: sm.CodeInvalidProducerEpoch, msg: fmt.Sprintf(
			"producer %d: epoch %d is fenced by epoch %d", req.ProducerID, req.ProducerEpoch, st.epoch)}
	case req.ProducerEpoch > st.epoch:
		if first != 0 {
			p.probe(sm.ProbeOutOfOrderSequence)
			return sequenceVerdict{code: sm.CodeOutOfOrderSequence, msg: fmt.Sprintf(
				"producer %d: epoch %d starts at sequence %d, not 0", req.ProducerID, req.ProducerEpoch, first)}
		}
		return sequenceVerdict{code: sm.CodeOK}
	}
	if i := slices.IndexFunc(st.batches, func(b sm.ProducerBatch) bool {
		return b.Epoch == req.ProducerEpoch && b.FirstSeq == first && b.LastSeq == last
	}); i >= 0 {
		p.probe(sm.ProbeDuplicateSequence)
		dup := st.batches[i]
		return sequenceVerdict{code: sm.CodeDuplicateSequence, dup: dup, msg: fmt.Sprintf(
			"producer %d: sequences %d-%d are already at offsets %d-%d", req.ProducerID, first, last, dup.Base, dup.Last)}
	}
	if want := sm.SeqAdd(st.batches[len(st.batches)-1].LastSeq, 1); first != want {
		p.probe(sm.ProbeOutOfOrderSequence)
		return sequenceVerdict{code: sm.CodeOutOfOrderSequence, msg: fmt.Sprintf(
			"producer %d: sequence %d, expected %d", req.ProducerID, first, want)}
	}
	return sequenceVerdict{code: sm.CodeOK}
}

// checkProducers checks the producer state against the log: every
// remembered batch lies in it, in offset order, at most
// sm.ProducerBatchesKept per producer.
func (p *Partition) checkProducers() error {
	ids := slices.Sorted(maps.Keys(p.log.producers)) // a violation names the same producer every run
	for _, id := range ids {
		st := p.log.producers[id]
		if len(st.batches) == 0 || len(st.batches) > sm.ProducerBatchesKept {
			return fmt.Errorf("partition: %v: producer %d remembers %d batches", p.cfg.TP, id, len(st.batches))
		}
		for i, b := range st.batches {
			switch {
			case b.ProducerID != id:
				return fmt.Errorf("partition: %v: producer %d holds a batch of producer %d", p.cfg.TP, id, b.ProducerID)
			case b.Base < p.log.start() || b.Last >= p.log.end() || b.Last < b.Base:
				return fmt.Errorf("partition: %v: producer %d batch [%d, %d] outside the log [%d, %d)", p.cfg.TP, id, b.Base, b.Last, p.log.start(), p.log.end())
			case i > 0 && b.Base <= st.batches[i-1].Last:
				return fmt.Errorf("partition: %v: producer %d batches out of order at %d", p.cfg.TP, id, b.Base)
			}
		}
	}
	return nil
}
