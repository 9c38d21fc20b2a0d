package sdk

import (
	"fmt"

	"github.com/weirmq/weir/sm"
)

// The fake leaders' idempotence checks, as the brief of issue 12 gives the
// real leader's: acks all only; a producer the partition knows nothing of
// starts at sequence 0; an older epoch is fenced; a newer epoch starts again
// at 0; otherwise the batch must start right after the last one, and a batch
// matching one of the last five (first and last sequence) is a duplicate,
// answered with the original's offset.

type fakeProducerKey struct {
	tp  sm.TopicPartition
	pid int64
}

type fakeProducerState struct {
	epoch   int16
	lastSeq int32
	recent  []fakeSeqBatch // the last five, oldest first
}

type fakeSeqBatch struct {
	first, last int32
	base        sm.Offset
}

// count is a request's record count.
func requestCount(req sm.ProduceRequest) int {
	if req.Block != nil {
		return int(req.Count)
	}
	return len(req.Records)
}

func (f *fakeCluster) checkSequenceLocked(req sm.ProduceRequest) (sm.Code, sm.Offset, string) {
	if req.Acks.Kind != sm.AckAll {
		return sm.CodeInvalidRequest, -1, "idempotent produce needs acks=all"
	}
	last := seqAdd(req.BaseSequence, requestCount(req)-1)
	st := f.producers[fakeProducerKey{req.TP, req.ProducerID}]
	switch {
	case st == nil && req.BaseSequence != 0:
		return sm.CodeUnknownProducerID, -1, fmt.Sprintf("no state for producer %d, sequence %d", req.ProducerID, req.BaseSequence)
	case st == nil:
		return sm.CodeOK, 0, ""
	case req.ProducerEpoch < st.epoch:
		return sm.CodeInvalidProducerEpoch, -1, fmt.Sprintf("epoch %d < %d", req.ProducerEpoch, st.epoch)
	case req.ProducerEpoch > st.epoch:
		if req.BaseSequence != 0 {
			return sm.CodeOutOfOrderSequence, -1, "a new epoch starts at 0"
		}
		return sm.CodeOK, 0, ""
	}
	for _, r := range st.recent {
		if r.first == req.BaseSequence && r.last == last {
			return sm.CodeDuplicateSequence, r.base, ""
		}
	}
	if req.BaseSequence != seqAdd(st.lastSeq, 1) {
		return sm.CodeOutOfOrderSequence, -1, fmt.Sprintf("sequence %d, expected %d", req.BaseSequence, seqAdd(st.lastSeq, 1))
	}
	return sm.CodeOK, 0, ""
}

func (f *fakeCluster) recordSequenceLocked(req sm.ProduceRequest, base sm.Offset) {
	k := fakeProducerKey{req.TP, req.ProducerID}
	st := f.producers[k]
	if st == nil || req.ProducerEpoch > st.epoch {
		st = &fakeProducerState{epoch: req.ProducerEpoch}
		f.producers[k] = st
	}
	st.lastSeq = seqAdd(req.BaseSequence, requestCount(req)-1)
	st.recent = append(st.recent, fakeSeqBatch{req.BaseSequence, st.lastSeq, base})
	if len(st.recent) > 5 {
		st.recent = st.recent[1:]
	}
}

// forgetProducers drops tp's idempotence state, as a leader whose
// producers' batches all left the log does.
func (f *fakeCluster) forgetProducers(tp sm.TopicPartition) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k := range f.producers {
		if k.tp == tp {
			delete(f.producers, k)
		}
	}
}
