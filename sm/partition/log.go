package partition

import (
	"sort"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/assert"
)

// epochStart is one leader-epoch cache entry: the first offset written in
// epoch. The cache is derived from the log and kept in step with it; it is
// what the divergence check (KIP-320/595) consults.
type epochStart struct {
	epoch sm.Epoch
	start sm.Offset
}

// replicaLog is the in-memory partition log: whole sealed batches with dense
// offsets from 0 and the epoch cache that summarises them. Batches handed
// out (fetch responses) are clipped sub-slices, so later appends never write
// into memory a receiver can see.
type replicaLog struct {
	batches []sm.Batch
	epochs  []epochStart
	// checked counts the leading batches CheckInvariants has verified;
	// truncate lowers it, so each batch is verified once while it stays.
	checked int
}

// recoverLog rebuilds a log from its on-disk bytes. It keeps the longest
// prefix of well-formed frames that also form a valid log (dense offsets from
// 0, no empty batch, epochs non-decreasing); torn reports that anything after
// that prefix must be cut from the file.
func recoverLog(buf []byte) (l replicaLog, torn bool) {
	batches, _, err := sm.DecodeLog(buf)
	for i := range batches {
		b := batches[i]
		if b.BaseOffset != l.end() || len(b.Records) == 0 || b.Epoch < l.lastEpoch() || b.Epoch < 0 {
			return l, true
		}
		l.append(b)
	}
	return l, err != nil
}

// end is the log end offset (LEO): the offset the next record gets.
func (l *replicaLog) end() sm.Offset {
	if len(l.batches) == 0 {
		return 0
	}
	return l.batches[len(l.batches)-1].NextOffset()
}

// lastEpoch is the epoch of the last batch, 0 for an empty log.
func (l *replicaLog) lastEpoch() sm.Epoch {
	if len(l.epochs) == 0 {
		return 0
	}
	return l.epochs[len(l.epochs)-1].epoch
}

// append adds b at the end; the caller has validated it.
func (l *replicaLog) append(b sm.Batch) {
	assert.That(b.BaseOffset == l.end(), "partition: append at %d, log end %d", b.BaseOffset, l.end())
	assert.That(len(b.Records) > 0, "partition: append of an empty batch at %d", b.BaseOffset)
	assert.That(b.Epoch >= l.lastEpoch(), "partition: append of epoch %d after epoch %d", b.Epoch, l.lastEpoch())
	if len(l.epochs) == 0 || b.Epoch > l.lastEpoch() {
		l.epochs = append(l.epochs, epochStart{epoch: b.Epoch, start: b.BaseOffset})
	}
	l.batches = append(l.batches, b)
}

// index returns the index of the batch holding off, or len(batches) when off
// is at or past the end.
func (l *replicaLog) index(off sm.Offset) int {
	return sort.Search(len(l.batches), func(i int) bool { return l.batches[i].NextOffset() > off })
}

// boundaryAtOrBelow is the largest batch boundary ≤ off (the end if off is
// past it): truncation must cut between batches.
func (l *replicaLog) boundaryAtOrBelow(off sm.Offset) sm.Offset {
	if off >= l.end() {
		return l.end()
	}
	if off <= 0 {
		return 0
	}
	return l.batches[l.index(off)].BaseOffset
}

// isBoundary reports whether off starts a batch or is the end.
func (l *replicaLog) isBoundary(off sm.Offset) bool {
	return off >= 0 && l.boundaryAtOrBelow(off) == off
}

// truncate drops every batch at or after off, a batch boundary.
func (l *replicaLog) truncate(off sm.Offset) {
	assert.That(off <= l.end() && l.isBoundary(off), "partition: truncate to %d: not a batch boundary (log end %d)", off, l.end())
	i := l.index(off)
	l.batches = l.batches[:i:i]
	l.checked = min(l.checked, i)
	j := sort.Search(len(l.epochs), func(k int) bool { return l.epochs[k].start >= off })
	l.epochs = l.epochs[:j:j]
}

// epochBelow is the epoch of the batch holding off-1 (0 when off is 0): the
// LastFetchedEpoch a follower with durable end off reports.
func (l *replicaLog) epochBelow(off sm.Offset) sm.Epoch {
	if off <= 0 {
		return 0
	}
	return l.batches[l.index(off-1)].Epoch
}

// endOfEpoch finds the largest epoch ≤ e in the cache and the offset where it
// ends (the next epoch's start, or the log end). ok is false when every
// cached epoch is above e.
func (l *replicaLog) endOfEpoch(e sm.Epoch) (found sm.Epoch, end sm.Offset, ok bool) {
	i := sort.Search(len(l.epochs), func(k int) bool { return l.epochs[k].epoch > e }) - 1
	if i < 0 {
		return 0, 0, false
	}
	end = l.end()
	if i+1 < len(l.epochs) {
		end = l.epochs[i+1].start
	}
	return l.epochs[i].epoch, end, true
}

// readWhole returns the whole batches from the one starting at from up to
// limit (a boundary), at least one batch when any is available and at most
// maxBytes of encoded frames after the first. The result aliases the log but
// is clipped so appends never reach it.
func (l *replicaLog) readWhole(from, limit sm.Offset, maxBytes int) []sm.Batch {
	i := l.index(from)
	j, bytes := i, 0
	for j < len(l.batches) && l.batches[j].NextOffset() <= limit {
		size := batchBytes(l.batches[j].Records)
		if j > i && bytes+size > maxBytes {
			break
		}
		bytes += size
		j++
	}
	if j == i {
		return nil
	}
	return l.batches[i:j:j]
}

// batchBytes is the encoded frame size of a batch holding recs.
func batchBytes(recs []sm.Record) int { return sm.FrameBytes(recs) }
