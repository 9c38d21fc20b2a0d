package partition

import (
	"slices"
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

// replicaLog is what a replica knows of its partition log without holding
// it: the segments with their indexes (sm.SegmentIndex; the last one active
// and still growing), the leader-epoch cache, and a cached suffix of recent
// batches bounded by the broker's Cache. Offsets are dense from the log
// start (the first segment's base) to the log end. Everything outside the
// cached suffix is read from disk by position (locate, sm.LogRead).
//
// Batch boundaries are known exactly only where the log keeps a position:
// segment bases, index entries (every epoch start is one) and cached
// batches. Truncation and the divergence check round down to a known
// boundary, which is always safe: a follower cut lower fetches the
// difference again.
type replicaLog struct {
	sealed []sm.SegmentIndex
	active sm.IndexBuilder
	// activeFirstTs is the timestamp of the active segment's first batch
	// (segment_ms rolls by it).
	activeFirstTs int64
	epochs        []epochStart
	cache         []cachedBatch
	cacheBytes    int64
	pool          *Cache
	// gen changes whenever bytes already on disk change meaning (truncate,
	// trim, reset): a read issued before describes another log.
	gen uint64
	// version changes with the segment list (CheckInvariants re-checks it
	// then); checkedSeq is the newest cached batch already checked.
	version, checkedVersion uint64
	checkedSeq              uint64
	// producers is the idempotent producers' state (producers.go), kept
	// in step with the log.
	producers producers
}

// newLog is a log recovered from m (see sm.LogManifest), caching nothing.
func newLog(m sm.LogManifest, pool *Cache) replicaLog {
	l := replicaLog{pool: pool, version: 1, producers: recoverProducers(m)}
	if len(m.Segments) == 0 {
		l.active = sm.NewIndexBuilder(0)
		return l
	}
	n := len(m.Segments)
	l.sealed = slices.Clone(m.Segments[:n-1])
	l.active = sm.ResumeIndex(m.Segments[n-1])
	if e := m.Segments[n-1].Entries; len(e) > 0 {
		l.activeFirstTs = e[0].MaxTimestamp
	}
	for i := range m.Segments {
		for _, e := range m.Segments[i].Epochs {
			if len(l.epochs) == 0 || e.Epoch > l.lastEpoch() {
				l.epochs = append(l.epochs, epochStart{epoch: e.Epoch, start: e.Start})
			}
		}
	}
	return l
}

// start is the log start offset.
func (l *replicaLog) start() sm.Offset {
	if len(l.sealed) > 0 {
		return l.sealed[0].Base
	}
	return l.activeIndex().Base
}

// end is the log end offset (LEO): the offset the next record gets.
func (l *replicaLog) end() sm.Offset { return l.activeIndex().Next }

func (l *replicaLog) activeIndex() sm.SegmentIndex { return l.active.Index() }

// bytes is the size of every segment together.
func (l *replicaLog) bytes() int64 {
	n := l.activeIndex().Bytes
	for i := range l.sealed {
		n += l.sealed[i].Bytes
	}
	return n
}

// lastEpoch is the epoch of the last batch, 0 for an empty log.
func (l *replicaLog) lastEpoch() sm.Epoch {
	if len(l.epochs) == 0 {
		return 0
	}
	return l.epochs[len(l.epochs)-1].epoch
}

// cacheStart is the first offset of the cached suffix (the end when
// nothing is cached).
func (l *replicaLog) cacheStart() sm.Offset {
	if len(l.cache) == 0 {
		return l.end()
	}
	return l.cache[0].b.BaseOffset
}

// wantsRoll reports whether a batch of frameBytes stamped ts should start a
// new segment: the active one holds something and would pass segBytes, or
// its first batch is segMs older than ts.
func (l *replicaLog) wantsRoll(frameBytes int, ts int64, segBytes, segMs int64) bool {
	a := l.activeIndex()
	if a.Bytes == 0 {
		return false
	}
	return a.Bytes+int64(frameBytes) > segBytes || segMs > 0 && ts-l.activeFirstTs >= segMs
}

// roll seals the active segment and starts an empty one at the end.
func (l *replicaLog) roll() {
	l.version++
	idx := l.activeIndex()
	assert.That(idx.Bytes > 0, "partition: rolling an empty segment at %d", idx.Base)
	idx.Sealed = true
	l.sealed = append(l.sealed, idx)
	l.active = sm.NewIndexBuilder(idx.Next)
	l.activeFirstTs = 0
}

// append adds b at the end of the active segment; the caller has validated
// it.
func (l *replicaLog) append(b sm.Batch) {
	assert.That(b.BaseOffset == l.end(), "partition: append at %d, log end %d", b.BaseOffset, l.end())
	assert.That(b.Len() > 0, "partition: append of an empty batch at %d", b.BaseOffset)
	assert.That(b.Epoch >= l.lastEpoch(), "partition: append of epoch %d after epoch %d", b.Epoch, l.lastEpoch())
	switch {
	case l.start() == l.end() && len(l.epochs) > 0 && b.Epoch > l.lastEpoch():
		// A log retention emptied kept the epoch of what it deleted; the
		// first batch after it says where its own epoch starts.
		l.epochs = []epochStart{{epoch: b.Epoch, start: b.BaseOffset}}
	case len(l.epochs) == 0 || b.Epoch > l.lastEpoch():
		l.epochs = append(l.epochs, epochStart{epoch: b.Epoch, start: b.BaseOffset})
	}
	a := l.activeIndex()
	if a.Bytes == 0 {
		l.activeFirstTs = b.Timestamp
	}
	size := b.FrameSize()
	l.active.Add(sm.MetaOf(&b, size))
	if pb, ok := batchProducer(&b); ok {
		l.producers.add(pb)
	}
	l.cache = append(l.cache, cachedBatch{b: b, seg: a.Base, pos: a.Bytes, size: size})
	l.cacheBytes += int64(size)
	if l.pool != nil {
		l.pool.admit(l, &l.cache[len(l.cache)-1])
	}
}

// evictHead drops the oldest cached batch (the Cache is over budget).
func (l *replicaLog) evictHead() {
	cb := l.cache[0]
	l.cache[0] = cachedBatch{}
	l.cache = l.cache[1:]
	l.cacheBytes -= int64(cb.size)
	l.pool.release(int64(cb.size), 1)
}

// dropCache removes cached batches at or after off (below it with below).
func (l *replicaLog) dropCache(off sm.Offset, below bool) {
	i := sort.Search(len(l.cache), func(i int) bool { return l.cache[i].b.NextOffset() > off })
	var gone []cachedBatch
	if below {
		gone = l.cache[:i]
	} else {
		gone = l.cache[i:]
	}
	var n int64
	for _, cb := range gone {
		n += int64(cb.size)
	}
	if l.pool != nil && len(gone) > 0 {
		l.pool.release(n, len(gone))
	}
	l.cacheBytes -= n
	if below {
		clear(l.cache[:i])
		l.cache = l.cache[i:]
	} else {
		clear(l.cache[i:])
		l.cache = l.cache[:i:i]
	}
}

// close releases the cached suffix (the replica goes away).
func (l *replicaLog) close() { l.dropCache(l.end(), true) }

// holds reports whether admission seq is still in the cached suffix.
func (l *replicaLog) holds(seq uint64) bool {
	_, ok := slices.BinarySearchFunc(l.cache, seq, func(cb cachedBatch, s uint64) int {
		switch {
		case cb.seq < s:
			return -1
		case cb.seq > s:
			return 1
		}
		return 0
	})
	return ok
}

// cached returns the cached batches from the one holding from, whole, up to
// limit (a boundary), at least one when any is available and at most
// maxBytes of frames after the first; ok is false when from is below the
// cached suffix.
func (l *replicaLog) cached(from, limit sm.Offset, maxBytes int) (out []sm.Batch, ok bool) {
	if from < l.cacheStart() {
		return nil, from >= l.end()
	}
	i := sort.Search(len(l.cache), func(i int) bool { return l.cache[i].b.NextOffset() > from })
	bytes := 0
	for j := i; j < len(l.cache) && l.cache[j].b.NextOffset() <= limit; j++ {
		if j > i && bytes+l.cache[j].size > maxBytes {
			break
		}
		bytes += l.cache[j].size
		out = append(out, l.cache[j].b)
	}
	return out, true
}

// segment returns the segment holding off (the active one at or past its
// base) as an index into sealed, len(sealed) for the active one.
func (l *replicaLog) segment(off sm.Offset) int {
	return sort.Search(len(l.sealed), func(i int) bool { return l.sealed[i].Next > off })
}

func (l *replicaLog) segmentAt(i int) sm.SegmentIndex {
	if i < len(l.sealed) {
		return l.sealed[i]
	}
	return l.activeIndex()
}

// locate is where a read for off starts: the segment's base and the
// position of the indexed batch at or below off.
func (l *replicaLog) locate(off sm.Offset) (seg sm.Offset, pos int64) {
	s := l.segmentAt(l.segment(off))
	e, ok := s.Locate(off)
	if !ok {
		return s.Base, 0
	}
	return s.Base, e.Pos
}

// nextSegment is the base of the segment after the one based at seg; ok is
// false for the active segment.
func (l *replicaLog) nextSegment(seg sm.Offset) (sm.Offset, bool) {
	i := l.segment(seg)
	if i >= len(l.sealed) {
		return 0, false
	}
	return l.sealed[i].Next, true
}

// knownBoundary is the largest batch boundary ≤ off whose byte position
// the log knows, with that position's segment index and byte.
func (l *replicaLog) knownBoundary(off sm.Offset) (b sm.Offset, seg int, pos int64) {
	if off >= l.end() {
		i := len(l.sealed)
		return l.end(), i, l.activeIndex().Bytes
	}
	if off <= l.start() {
		return l.start(), 0, 0
	}
	i := l.segment(off)
	s := l.segmentAt(i)
	b, pos = s.Base, 0
	if e, ok := s.Locate(off); ok {
		b, pos = e.Offset, e.Pos
	}
	if off >= l.cacheStart() {
		j := sort.Search(len(l.cache), func(j int) bool { return l.cache[j].b.NextOffset() > off })
		if cb := l.cache[j]; cb.seg == s.Base && cb.b.BaseOffset > b {
			b, pos = cb.b.BaseOffset, cb.pos
		}
	}
	return b, i, pos
}

// boundaryAtOrBelow is the largest known batch boundary ≤ off (the end if
// off is past it): truncation cuts between batches at a known position.
func (l *replicaLog) boundaryAtOrBelow(off sm.Offset) sm.Offset {
	b, _, _ := l.knownBoundary(off)
	return b
}

// cutsCachedBatch reports whether off lies strictly inside a cached batch.
func (l *replicaLog) cutsCachedBatch(off sm.Offset) bool {
	if off < l.cacheStart() || off >= l.end() {
		return false
	}
	j := sort.Search(len(l.cache), func(j int) bool { return l.cache[j].b.NextOffset() > off })
	return l.cache[j].b.BaseOffset != off
}

// truncate drops every batch at or after off, a known boundary: later
// segments go, and the segment holding off becomes the active one, cut.
func (l *replicaLog) truncate(off sm.Offset) {
	b, i, pos := l.knownBoundary(off)
	assert.That(off <= l.end() && b == off, "partition: truncate to %d: not a known batch boundary (log end %d)", off, l.end())
	l.truncateAt(off, i, pos)
}

// truncateAt is truncate with off's position given: byte pos of the
// segment at index i (found by a read when the log did not know it).
func (l *replicaLog) truncateAt(off sm.Offset, i int, pos int64) {
	if off == l.end() {
		return
	}
	l.gen++
	l.version++
	l.dropCache(off, false)
	l.producers.cut(off)
	s := l.segmentAt(i)
	k := sort.Search(len(s.Entries), func(j int) bool { return s.Entries[j].Offset >= off })
	s.Entries = s.Entries[:k:k]
	e := sort.Search(len(s.Epochs), func(j int) bool { return s.Epochs[j].Start >= off })
	s.Epochs = s.Epochs[:e:e]
	s.Producers = sm.CutProducers(s.Producers, off)
	s.Next, s.Bytes, s.Sealed = off, pos, false
	// The largest timestamp among what remains: exact (the last kept
	// entry's running maximum and the cached batches after it) when the
	// cache holds every batch after that entry; otherwise the segment's
	// old maximum, which bounds it from above. Index timestamps are upper
	// bounds, never lower ones: a time lookup may read a little more than
	// it needs, retention may keep the segment a little longer, but
	// neither skips a batch (see sm.IndexEntry).
	from := s.Base
	if k > 0 {
		from = s.Entries[k-1].Offset
	}
	if l.cacheStart() <= from || off == s.Base {
		s.MaxTimestamp = 0
		if k > 0 {
			s.MaxTimestamp = s.Entries[k-1].MaxTimestamp
		}
		for _, cb := range l.cache {
			if cb.seg == s.Base {
				s.MaxTimestamp = max(s.MaxTimestamp, cb.b.Timestamp)
			}
		}
	}
	if i < len(l.sealed) {
		l.sealed = l.sealed[:i:i]
	}
	l.active = sm.ResumeIndex(s)
	l.activeFirstTs = 0
	if k > 0 {
		l.activeFirstTs = s.Entries[0].MaxTimestamp
	}
	j := sort.Search(len(l.epochs), func(k int) bool { return l.epochs[k].start >= off })
	l.epochs = l.epochs[:j:j]
}

// restore undoes appends the store refused: the active segment goes back
// to before (as it was before the first refused append, which may have
// rolled it), and every batch at or after its end leaves the log.
func (l *replicaLog) restore(before sm.SegmentIndex, firstTs int64) {
	l.version++
	cut := before.Next
	l.dropCache(cut, false)
	l.producers.cut(cut)
	i := sort.Search(len(l.sealed), func(i int) bool { return l.sealed[i].Base >= before.Base })
	l.sealed = l.sealed[:i:i]
	l.active = sm.ResumeIndex(before)
	l.activeFirstTs = firstTs
	j := sort.Search(len(l.epochs), func(k int) bool { return l.epochs[k].start >= cut })
	l.epochs = l.epochs[:j:j]
}

// reset empties the log and starts it at off.
func (l *replicaLog) reset(off sm.Offset) {
	l.version++
	l.gen++
	l.dropCache(l.end(), true)
	l.sealed = nil
	l.active = sm.NewIndexBuilder(off)
	l.activeFirstTs = 0
	l.epochs = nil
	clear(l.producers)
}

// trimTo deletes the sealed segments that end at or below start, a segment
// base: the log start becomes start.
func (l *replicaLog) trimTo(start sm.Offset) {
	i := l.segment(start)
	assert.That(l.segmentAt(i).Base == start, "partition: trim to %d: not a segment base", start)
	if i == 0 {
		return
	}
	l.gen++
	l.version++
	l.sealed = l.sealed[i:]
	l.dropCache(start, true)
	l.producers.trim(start)
	// Keep the epoch that covers start, starting there (Kafka's
	// LeaderEpochFileCache.truncateFromStart). When the trim empties the
	// log, that is the epoch of the last batch deleted: a follower whose
	// log ends there in that epoch agrees with this log.
	j := sort.Search(len(l.epochs), func(k int) bool { return l.epochs[k].start > start })
	if j > 0 {
		l.epochs = l.epochs[j-1:]
		if l.epochs[0].start < start {
			l.epochs = slices.Clone(l.epochs)
			l.epochs[0].start = start
		}
	}
}

// epochBelow is the epoch of the batch holding off-1: the LastFetchedEpoch
// a follower with durable end off reports. At or below the log start it is
// 0 — except for a log that retention emptied, whose epoch cache keeps the
// epoch of the last batch it deleted, at the log start (Kafka's
// truncateFromStart): that is still the epoch of the batch before off.
func (l *replicaLog) epochBelow(off sm.Offset) sm.Epoch {
	if off <= l.start() {
		if off == l.start() && l.start() == l.end() && len(l.epochs) == 1 && l.epochs[0].start == off {
			return l.epochs[0].epoch
		}
		return 0
	}
	i := sort.Search(len(l.epochs), func(k int) bool { return l.epochs[k].start >= off }) - 1
	if i < 0 {
		return 0
	}
	return l.epochs[i].epoch
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

// manifest is the log as a store's manifest would describe it.
func (l *replicaLog) manifest() sm.LogManifest {
	m := sm.LogManifest{Segments: slices.Clone(l.sealed)}
	m.Segments = append(m.Segments, l.activeIndex())
	return m
}

// batchBytes is the encoded frame size of a batch holding recs.
