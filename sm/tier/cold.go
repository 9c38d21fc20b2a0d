package tier

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/assert"
	"github.com/weirmq/weir/sm/host"
)

// The cold read path: a partition leader serves consumer fetches for
// offsets below its local log start from the uploaded segment objects
// (sm.RemoteSegment), through the broker's ColdCache.
//
// A fetch needs the segment's index (the object's trailer: IndexBytes from
// DataBytes on), then the frames from the index entry at or below the fetch
// offset. Both come from the cache or from gets: the index in one get, the
// frames in aligned chunks (ColdCacheConfig.ChunkBytes). The reader
// assembles whole frames (a frame may span chunks), checks every frame's
// checksum and that offsets run on densely from the index entry, skips the
// batches that end at or before the fetch offset, and answers once it holds
// FetchMaxBytes of frames, FetchMaxRecords records, or reaches the high
// watermark. At a segment's end with budget left it reads on into the
// following recorded segments (the caller passes them; at most
// MaxSegments per fetch), from each one's base, as the hot path reads on
// into the next local segment, so with small segments an answer still
// carries about FetchMaxBytes. It stops before a batch that starts below
// the next segment's base (an object holding records below its record's
// base): the batches of one answer never overlap, and the next fetch
// starts with that batch. The batches are the ones the hot path serves
// from that offset, whole and as stored (sealed by the leader that
// appended them), bounded by records and bytes the same way: consumers
// cannot tell the tiers apart except by latency.
//
// Round trips: a fetch asks at once for the indexes of every segment its
// budgets likely reach (estimated from the records' sizes until the
// indexes are known), and at the first chunk it misses, for every chunk
// its byte budget will likely read in all of them, so a fetch costs about
// two round trips however many segments it reads (one with the indexes
// cached).
//
// A reader holds at most MaxPending fetches waiting for gets; a fetch
// beyond that is answered LEADER_NOT_AVAILABLE (retriable) at once.
//
// Gets are deduplicated: fetches needing an index or chunk already asked
// for wait on the same get. Completions come in any order, arbitrarily late;
// one whose ID the reader does not track (it was aborted since) is not its
// own. A failed get answers the fetches that need its bytes with the
// batches they hold (a fetch that read on into a segment it cannot read
// serves what it read before; the consumer asks again from there), or
// STORAGE_ERROR (retriable) when they hold none; bytes that are not the recorded segment — a bad index, a
// frame failing its checksum, offsets out of place, a short object — answer
// STORAGE_ERROR naming the object and byte, report sm.ProbeCorruptionFound,
// and are dropped from the cache so a retry reads them again. Nothing of a
// fetch that met corrupt bytes is served.
//
// Read-ahead: after answering a fetch that used chunk k of a segment, the
// reader gets chunk k+1 into the cache, or, when k was the segment's last,
// the next segment's index and then the chunk where reads of it start (the
// caller passes the next segment). It runs within the cache's read-ahead
// share, so it never pushes out more than a quarter of the cache, and it
// never takes bytes a pending fetch holds (fetches keep the slices they
// use).
//
// Seeks by time (SeekTime, seek.go) are cold fetches in seek mode
// (coldFetch.seek): the same parts, cursor, gets and checks, positioned by
// the index's timestamps and answering the first batch at or after the
// time instead of a run of batches.

// Defaults for ColdReaderConfig.
const (
	// DefaultColdFetchMaxRecords is the broker's default fetch bound
	// (broker.Config.FetchMaxRecords), used when the caller gives none.
	DefaultColdFetchMaxRecords int32 = 10000
	// DefaultColdFetchMaxBytes bounds the frames of one answer (it always
	// carries at least one batch): one default chunk.
	DefaultColdFetchMaxBytes int64 = 1 << 20
	// DefaultColdFetchSegments bounds the recorded segments one fetch
	// reads: with small segments an answer still carries about
	// FetchMaxBytes, and a fetch never asks for more than this many
	// segments' indexes and chunks at once. A caller passes at most one
	// more segment (for read-ahead).
	DefaultColdFetchSegments = 16
	// DefaultColdMaxPending bounds the fetches one reader holds waiting for
	// the object store; beyond it a fetch is answered LEADER_NOT_AVAILABLE
	// (retriable), so a slow store cannot make a leader hold unbounded
	// requests and the bytes they keep.
	DefaultColdMaxPending = 64
)

// ColdReaderConfig configures one partition's ColdReader.
type ColdReaderConfig struct {
	// TP is the partition; Self the broker, which answers as the leader.
	TP   sm.TopicPartition
	Self sm.NodeID
	// FetchMaxRecords bounds (and defaults) a fetch's records, as the hot
	// path's partition.Config.FetchMaxRecords does; pass the same value.
	// Zero uses DefaultColdFetchMaxRecords.
	FetchMaxRecords int32
	// FetchMaxBytes bounds the frames of one answer beyond its first batch;
	// zero uses DefaultColdFetchMaxBytes.
	FetchMaxBytes int64
	// MaxSegments bounds the recorded segments one fetch reads; zero uses
	// DefaultColdFetchSegments.
	MaxSegments int
	// MaxPending bounds the fetches waiting for gets; zero uses
	// DefaultColdMaxPending.
	MaxPending int
}

// View is the partition state an answer carries: the leader's high
// watermark (nothing at or above it is served), its log start (local and
// remote: the oldest offset it can serve) and its epoch.
type View struct {
	HighWatermark, LogStart sm.Offset
	LeaderEpoch             sm.Epoch
}

// ColdReader serves one partition leader's fetches below its local log
// start. See the comment above DefaultColdFetchMaxRecords.
type ColdReader struct {
	cfg   ColdReaderConfig
	cache *ColdCache
	seq   uint64
	// fetches are the pending fetches by arrival.
	fetches map[uint64]*coldFetch
	// gets are the gets asked for and not completed, by what they read:
	// queued (no ID yet, until TakeOutput) or issued (in byID).
	gets   map[coldKey]*coldGet
	byID   map[sm.EffectID]*coldGet
	queued []*coldGet
	// Output since the last TakeOutput.
	replies []sm.Envelope
	seeks   []SeekResult
	probes  []sm.Probe
}

// segRef is what the reader needs of a RemoteSegment (a copy: the caller's
// records may change while a fetch waits).
type segRef struct {
	name                  string
	base, next            sm.Offset
	dataBytes, indexBytes int64
}

func refOf(s *sm.RemoteSegment) segRef {
	return segRef{name: s.Name, base: s.Base, next: s.Next, dataBytes: s.DataBytes, indexBytes: s.IndexBytes}
}

// coldGet is one get asked for: an object's index or one data chunk.
type coldGet struct {
	id       sm.EffectID // zero while queued
	key      coldKey
	seg      segRef
	off, end int64
	waiters  []coldWaiter
	// reserved is the read-ahead reservation it holds in the cache (zero:
	// a fetch asked for it).
	reserved int64
	// ahead, for a read-ahead of a segment's index: how many bytes of its
	// chunks to read ahead once it arrives, from the one where its reads
	// start.
	ahead int64
}

// coldWaiter is a fetch waiting on a get, and which of its parts the bytes
// are for.
type coldWaiter struct {
	f    *coldFetch
	part int
}

// chunkState is what a fetch has of one chunk.
type chunkState struct {
	data    []byte // nil until held
	waiting bool   // on a get
	failed  string // the get failed: why
	corrupt bool   // … because the bytes are not the recorded segment
}

// coldPart is what a fetch has of one of the segments it reads.
type coldPart struct {
	seg segRef
	// from is the first offset the part serves: the fetch offset in the
	// first part, the segment's base in the others.
	from sm.Offset
	// The index, or the get it waits on.
	idx        *sm.SegmentIndex
	idxWaiting bool
	idxFailed  string
	idxCorrupt bool
	// The cursor, once the index is known: the next frame's byte position
	// and base offset, from the index entry at or below from; first is that
	// entry's chunk and chunks what the fetch has of chunks first,
	// first+1, ….
	started bool
	pos     int64
	expect  sm.Offset
	first   int64
	chunks  []chunkState
	// A seek's (see SeekTime): seekEnd bounds the bytes it likely scans
	// (to the index entry after the first one reaching its time, or after
	// the cursor's, whichever is later). Index timestamps are upper bounds
	// (sm.IndexEntry): when the batches there do not reach the time, the
	// seek reads on.
	seekEnd int64
}

// coldFetch is one pending consumer fetch.
type coldFetch struct {
	seq        uint64
	from       sm.NodeID
	req        sm.FetchRequest
	maxRecords sm.Offset
	// view is the latest view (an abort's or a failure's answer carries
	// its epoch).
	view View
	// parts are the segments the fetch may read, from the one holding the
	// fetch offset; cur is the one the cursor is in. after are up to
	// readAheadSegments segments after them, below the high watermark
	// (for read-ahead).
	parts  []coldPart
	cur    int
	inline [2]coldPart // parts' storage for most fetches
	after  []segRef
	// The answer so far: batches, their records at or after the fetch
	// offset, and their frame bytes.
	batches []sm.Batch
	records sm.Offset
	bytes   int64
	full    bool // the answer is complete: the next frame would pass FetchMaxBytes
	missed  bool // some bytes were in no cache: the fetch asks for all its budget reaches
	waited  bool // some bytes came from a get
	done    bool
	// A seek by time (SeekTime) rather than a fetch: the request, the
	// time, the end of the range its parts cover, and once found, the
	// first batch's offset and timestamp.
	seek      bool
	sreq      sm.ListOffsetsRequest
	t         int64
	seekUntil sm.Offset
	found     bool
	foundAt   sm.Offset
	foundTS   int64
}

// NewColdReader returns a reader for cfg.TP reading through cache.
func NewColdReader(cfg ColdReaderConfig, cache *ColdCache) *ColdReader {
	if cfg.FetchMaxRecords <= 0 {
		cfg.FetchMaxRecords = DefaultColdFetchMaxRecords
	}
	if cfg.FetchMaxBytes <= 0 {
		cfg.FetchMaxBytes = DefaultColdFetchMaxBytes
	}
	if cfg.MaxSegments <= 0 {
		cfg.MaxSegments = DefaultColdFetchSegments
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultColdMaxPending
	}
	return &ColdReader{cfg: cfg, cache: cache, fetches: map[uint64]*coldFetch{}, gets: map[coldKey]*coldGet{}, byID: map[sm.EffectID]*coldGet{}}
}

// Pending is the number of fetches waiting for gets.
func (r *ColdReader) Pending() int { return len(r.fetches) }

// Fetch serves req, from consumer from, out of segs: segs[0] is the
// recorded segment holding req.Offset, the rest the recorded segments after
// it, in order. The fetch reads on into them while its budgets last, up to
// MaxSegments of them; up to readAheadSegments segments after those may be
// read ahead. Passing more than MaxSegments+readAheadSegments is useless.
// The caller has checked everything the hot path checks (role, epochs,
// req.Offset within [LogStart, HighWatermark)) and routed here an offset
// below its local log start. The answer comes out of TakeOutput, now or after the gets it needs
// complete. With MaxPending fetches already waiting it is answered
// LEADER_NOT_AVAILABLE at once.
func (r *ColdReader) Fetch(now sm.Time, from sm.NodeID, req sm.FetchRequest, segs []sm.RemoteSegment, v View) {
	assert.That(len(segs) > 0, "tier: %v: cold fetch at %d without a segment", r.cfg.TP, req.Offset)
	s := &segs[0]
	assert.That(req.TP == r.cfg.TP, "tier: %v: cold reader given a fetch for %v", r.cfg.TP, req.TP)
	assert.That(s.Base <= req.Offset && req.Offset < s.Next, "tier: %v: cold fetch at %d routed to segment [%d, %d)", r.cfg.TP, req.Offset, s.Base, s.Next)
	if n := len(r.fetches); n >= r.cfg.MaxPending {
		r.cache.stats.Refused++
		r.replies = append(r.replies, sm.Envelope{From: r.cfg.Self, To: from, Msg: sm.FetchResponse{
			ReqID: req.ReqID, TP: r.cfg.TP, Code: sm.CodeLeaderNotAvailable,
			Message:       fmt.Sprintf("the leader has %d fetches below its local log start waiting for the object store, the most it holds for one partition; retry", n),
			HighWatermark: v.HighWatermark, LogStart: v.LogStart, LeaderEpoch: v.LeaderEpoch, LeaderHint: r.cfg.Self,
		}})
		return
	}
	maxRecords := req.MaxRecords
	if maxRecords <= 0 || maxRecords > r.cfg.FetchMaxRecords {
		maxRecords = r.cfg.FetchMaxRecords
	}
	r.seq++
	f := &coldFetch{seq: r.seq, from: from, req: req, maxRecords: sm.Offset(maxRecords)}
	f.parts = f.inline[:0]
	// The parts: segments while the record budget and the high watermark
	// can reach them (a part is read whole, so its records are exactly what
	// it adds) and MaxSegments allows.
	records := sm.Offset(0)
	for i := range segs {
		s := &segs[i]
		if s.DataBytes <= 0 || s.IndexBytes <= 0 || i > 0 && s.Base != segs[i-1].Next { // not assert.That: its arguments would allocate per fetch
			panic(fmt.Sprintf("tier: %v: cold fetch at %d given segment %s [%d, %d) of %d data and %d index bytes after %d",
				r.cfg.TP, req.Offset, s.Name, s.Base, s.Next, s.DataBytes, s.IndexBytes, segs[max(i-1, 0)].Next))
		}
		if len(f.after) > 0 || i > 0 && (len(f.parts) == r.cfg.MaxSegments || records >= f.maxRecords || s.Base >= v.HighWatermark) {
			if len(f.after) == readAheadSegments || s.Base >= v.HighWatermark {
				break
			}
			f.after = append(f.after, refOf(s))
			continue
		}
		p := coldPart{seg: refOf(s), from: s.Base}
		if i == 0 {
			p.from = req.Offset
		}
		records += s.Next - p.from
		f.parts = append(f.parts, p)
	}
	r.fetches[f.seq] = f
	r.advance(f, v)
}

// OnObjectDone completes one of the reader's gets, answering the fetches it
// lets finish with v. mine is false for an ID the reader does not track (it
// was aborted since, or the operation is another component's).
func (r *ColdReader) OnObjectDone(now sm.Time, d sm.ObjectDone, v View) (mine bool) {
	g := r.byID[d.ID]
	if g == nil {
		return false
	}
	delete(r.byID, d.ID)
	delete(r.gets, g.key)
	if g.reserved > 0 {
		r.cache.releaseReadAhead(g.reserved)
	}
	idx, why, corrupt := r.received(g, d)
	data := d.Data
	if g.key.chunk == indexChunk {
		data = nil
	}
	if why == "" {
		r.cache.put(g.key, idx, data, int64(len(d.Data)), g.reserved > 0 && len(g.waiters) == 0)
	}
	for _, w := range g.waiters {
		if w.f.done {
			continue
		}
		r.deliver(w, g.key, idx, data, why, corrupt)
		r.advance(w.f, v)
	}
	if g.ahead > 0 && idx != nil {
		r.aheadChunks(g.seg, r.startChunk(g.seg, idx), &g.ahead)
	}
	return true
}

// received checks a get's result: the decoded index for an index get, why
// the bytes cannot be used ("" when they can), and whether that is because
// they are not the recorded segment.
func (r *ColdReader) received(g *coldGet, d sm.ObjectDone) (*sm.SegmentIndex, string, bool) {
	st := &r.cache.stats
	st.Gets++
	if d.Outcome != sm.OutcomeOK {
		st.GetFailures++
		return nil, fmt.Sprintf("object %s: get of bytes [%d, %d): %v (%v): %s", g.seg.name, g.off, g.end, d.Outcome, d.Err, d.Reason), false
	}
	st.GetBytes += uint64(len(d.Data))
	if int64(len(d.Data)) != g.end-g.off {
		r.corruptFound()
		return nil, fmt.Sprintf("object %s: get of bytes [%d, %d) returned %d bytes: the object is not the recorded segment", g.seg.name, g.off, g.end, len(d.Data)), true
	}
	if g.key.chunk != indexChunk {
		return nil, "", false
	}
	idx, err := decodeIndex(g.seg, d.Data)
	if err != nil {
		r.corruptFound()
		return nil, fmt.Sprintf("object %s: index at byte %d: %v", g.seg.name, g.off, err), true
	}
	return idx, "", false
}

// decodeIndex decodes an object's index trailer and checks it describes the
// recorded segment.
func decodeIndex(seg segRef, data []byte) (*sm.SegmentIndex, error) {
	idx, err := sm.DecodeSegmentIndex(data)
	if err != nil {
		return nil, err
	}
	// The record may start after the object's first batch: a leader whose
	// local segment began below the uploaded end uploads it whole, and its
	// record starts at the uploaded end.
	if idx.Base > seg.base || idx.Next != seg.next || idx.Bytes != seg.dataBytes {
		return nil, fmt.Errorf("describes offsets [%d, %d) in %d bytes; the recorded segment is [%d, %d) in %d bytes",
			idx.Base, idx.Next, idx.Bytes, seg.base, seg.next, seg.dataBytes)
	}
	return &idx, nil
}

// deliver hands w's fetch the outcome of a get it waits on.
func (r *ColdReader) deliver(w coldWaiter, k coldKey, idx *sm.SegmentIndex, data []byte, why string, corrupt bool) {
	p := &w.f.parts[w.part]
	if k.chunk == indexChunk {
		assert.That(p.idxWaiting && p.idx == nil, "tier: %v: fetch %d handed an index it did not wait for", r.cfg.TP, w.f.seq)
		p.idxWaiting, p.idx, p.idxFailed, p.idxCorrupt = false, idx, why, corrupt
		if idx != nil {
			r.start(w.f, p)
		}
		return
	}
	c := p.chunk(k.chunk)
	assert.That(c.waiting && c.data == nil, "tier: %v: fetch %d handed %v, which it did not wait for", r.cfg.TP, w.f.seq, k)
	c.waiting, c.failed, c.corrupt = false, why, corrupt
	if why == "" {
		c.data = data
	}
}

// start places p's cursor at the index entry at or below its first offset
// (a seek's: see seekStart).
func (r *ColdReader) start(f *coldFetch, p *coldPart) {
	e, ok := p.idx.Locate(p.from)
	if !ok { // not assert.That: its arguments would allocate per fetch
		panic(fmt.Sprintf("tier: %v: index of %s has no entry at or below %d (base %d)", r.cfg.TP, p.seg.name, p.from, p.idx.Base))
	}
	p.started, p.pos, p.expect = true, e.Pos, e.Offset
	if f.seek {
		r.seekStart(f, p)
	}
	p.first = r.cache.chunkOf(p.pos)
}

// seekStart places a seek's cursor by p's index: the entries' MaxTimestamp
// is cumulative, so with k the first entry reaching f.t, every batch up to
// entry k-1's is below it and the first batch at or after f.t lies after
// that one, at or before entry k's. The cursor starts at the later of entry
// k-1 and the entry at or below p.from. With no entry reaching f.t the part
// holds no such batch: the cursor is put at its end.
func (r *ColdReader) seekStart(f *coldFetch, p *coldPart) {
	es := p.idx.Entries
	k := sort.Search(len(es), func(i int) bool { return es[i].MaxTimestamp >= f.t })
	if k == len(es) && p.idx.MaxTimestamp < f.t {
		p.pos, p.expect, p.seekEnd = p.seg.dataBytes, p.seg.next, p.seg.dataBytes
		return
	}
	// (k == len(es): only the segment's MaxTimestamp reaches f.t, so the
	// batch is after the last entry's, as if the end were entry k.)
	at := sort.Search(len(es), func(i int) bool { return es[i].Offset > p.from }) - 1 // the cursor's entry
	if k > 0 && k-1 > at {
		at = k - 1
		p.pos, p.expect = es[at].Pos, es[at].Offset
	}
	p.seekEnd = p.seg.dataBytes
	if n := max(at, k) + 1; n < len(es) {
		p.seekEnd = es[n].Pos
	}
}

// chunk returns p's state of chunk k (at or after p.first).
func (p *coldPart) chunk(k int64) *chunkState {
	if !p.started || k < p.first { // not assert.That: its arguments would allocate on this hot path
		panic(fmt.Sprintf("tier: part %s asks for chunk %d before its first %d", p.seg.name, k, p.first))
	}
	for int64(len(p.chunks)) <= k-p.first {
		p.chunks = append(p.chunks, chunkState{})
	}
	return &p.chunks[k-p.first]
}

// stepResult is what one step of a fetch came to.
type stepResult uint8

const (
	stepOK       stepResult = iota // a frame decoded; go on
	stepWait                       // waiting for a get
	stepFull                       // the answer is complete before this frame
	stepAnswered                   // answered with an error
)

// advance carries f as far as the bytes it holds, the cache and its limits
// allow: it answers f, or leaves it waiting for a get.
func (r *ColdReader) advance(f *coldFetch, v View) {
	f.view = v
	r.plan(f)
	for {
		p := &f.parts[f.cur]
		if !p.started {
			if p.idxFailed != "" {
				r.getFailed(f, p.idxFailed, p.idxCorrupt)
			}
			return // or waiting for the index
		}
		if f.full || f.records >= f.maxRecords || p.expect >= v.HighWatermark {
			break
		}
		if p.pos == p.seg.dataBytes {
			// The segment's end: read on into the next one while the
			// budget can hold a frame.
			if !r.endsRight(f) {
				return
			}
			if f.cur+1 == len(f.parts) || len(f.batches) > 0 && f.bytes+sm.FrameHeaderBytes > r.cfg.FetchMaxBytes {
				break
			}
			f.cur++
			r.plan(f)
			continue
		}
		switch r.step(f, v) {
		case stepWait, stepAnswered:
			return
		case stepFull:
			f.full = true
		}
	}
	r.finish(f, v)
}

// plan asks for what f will likely read: the indexes of the parts its
// budgets reach (all at once, so reading on into the next segments costs
// no extra round trip), and, once some of its bytes were in no cache, the
// chunks its byte budget reaches in those parts.
func (r *ColdReader) plan(f *coldFetch) {
	n := r.reach(f)
	for j := f.cur; j < n; j++ {
		p := &f.parts[j]
		if p.started || p.idxWaiting || p.idxFailed != "" {
			continue
		}
		if idx, ok := r.cache.index(p.seg.name); ok {
			p.idx = idx
			r.start(f, p)
			continue
		}
		p.idxWaiting = true
		r.ask(f, j, coldKey{p.seg.name, indexChunk}, p.seg, p.seg.dataBytes, p.seg.dataBytes+p.seg.indexBytes)
	}
	if f.missed {
		r.askAhead(f, n)
	}
}

// reach is the end of the parts f will likely read, from its cursor: those
// its byte and record budgets and the high watermark reach, estimating a
// part's bytes from its cursor, or, before its index, from its size.
func (r *ColdReader) reach(f *coldFetch) int {
	if f.seek {
		return f.cur + 1 // the next part is read only if this one holds no answer
	}
	bytes, records := f.bytes, f.records
	j := f.cur
	for ; j < len(f.parts); j++ {
		p := &f.parts[j]
		if j > f.cur && (bytes >= r.cfg.FetchMaxBytes || records >= f.maxRecords || p.seg.base >= f.view.HighWatermark) {
			break
		}
		if p.started {
			records += p.seg.next - max(p.from, p.expect)
			bytes += p.seg.dataBytes - p.pos
		} else {
			left := p.seg.next - p.from
			records += left
			bytes += p.seg.dataBytes * int64(left) / max(1, int64(p.seg.next-p.seg.base))
		}
	}
	return j
}

// askAhead asks for every chunk f's byte budget reaches from its cursor in
// parts [cur, n) that no cache holds and f does not have or wait for.
func (r *ColdReader) askAhead(f *coldFetch, n int) {
	if f.seek {
		r.seekAhead(f)
		return
	}
	left := r.cfg.FetchMaxBytes - f.bytes
	for j := f.cur; j < n && left > 0; j++ {
		p := &f.parts[j]
		if !p.started || p.pos == p.seg.dataBytes {
			return
		}
		end := min(p.seg.dataBytes, p.pos+left)
		for k := r.cache.chunkOf(p.pos); k <= r.cache.chunkOf(end-1); k++ {
			if c := p.chunk(k); c.data == nil && !c.waiting && c.failed == "" && !r.cache.has(coldKey{p.seg.name, k}) {
				r.askChunk(f, j, k)
			}
		}
		left -= p.seg.dataBytes - p.pos
	}
}

// seekAhead asks for the chunks a seek will likely scan from its cursor:
// up to the end of the frame the index says holds its answer, or, when the
// scan goes past it (the answer lies below the part's first offset or
// beyond the high watermark), FetchMaxBytes more.
func (r *ColdReader) seekAhead(f *coldFetch) {
	p := &f.parts[f.cur]
	if !p.started || p.pos == p.seg.dataBytes {
		return
	}
	end := p.seekEnd
	if end <= p.pos {
		end = min(p.seg.dataBytes, p.pos+r.cfg.FetchMaxBytes)
	}
	for k := r.cache.chunkOf(p.pos); k <= r.cache.chunkOf(end-1); k++ {
		if c := p.chunk(k); c.data == nil && !c.waiting && c.failed == "" && !r.cache.has(coldKey{p.seg.name, k}) {
			r.askChunk(f, f.cur, k)
		}
	}
}

// endsRight checks that the frames of f's current part, read to the data
// part's end, end where the recorded segment does.
func (r *ColdReader) endsRight(f *coldFetch) bool {
	p := &f.parts[f.cur]
	if p.expect == p.seg.next {
		return true
	}
	r.corrupt(f, p.pos-1, 1, fmt.Sprintf("the data part ends at offset %d, the recorded segment at %d", p.expect, p.seg.next))
	return false
}

// step decodes the frame at f's cursor and adds its batch to the answer
// when it holds records at or after the part's first offset.
func (r *ColdReader) step(f *coldFetch, v View) stepResult {
	p := &f.parts[f.cur]
	if p.pos+4 > p.seg.dataBytes {
		return r.corrupt(f, p.pos, 1, fmt.Sprintf("%d bytes left for a frame", p.seg.dataBytes-p.pos))
	}
	hdr, res := r.bytesAt(f, p.pos, 4)
	if res != stepOK {
		return res
	}
	size := 4 + int64(binary.LittleEndian.Uint32(hdr))
	if size < sm.FrameHeaderBytes || size > 4+sm.BatchFrameMax || p.pos+size > p.seg.dataBytes {
		return r.corrupt(f, p.pos, 4, fmt.Sprintf("a frame of %d bytes in a data part of %d", size, p.seg.dataBytes))
	}
	// A frame starting at or past the part's first offset is served if it
	// fits; one starting below it is either located past or, after other
	// batches, overlaps the previous part (below).
	if len(f.batches) > 0 && p.expect >= p.from && f.bytes+size > r.cfg.FetchMaxBytes {
		return stepFull
	}
	frame, res := r.bytesAt(f, p.pos, size)
	if res != stepOK {
		return res
	}
	b, _, err := sm.DecodeBatch(frame)
	switch {
	case err != nil:
		return r.corrupt(f, p.pos, size, err.Error())
	case b.BaseOffset != p.expect:
		return r.corrupt(f, p.pos, size, fmt.Sprintf("batch at offset %d, expected %d", b.BaseOffset, p.expect))
	case b.Len() == 0:
		return r.corrupt(f, p.pos, size, fmt.Sprintf("empty batch at offset %d", b.BaseOffset))
	case b.NextOffset() > p.seg.next:
		return r.corrupt(f, p.pos, size, fmt.Sprintf("batch [%d, %d) past the segment's end %d", b.BaseOffset, b.NextOffset(), p.seg.next))
	}
	if f.seek {
		return r.seekStep(f, &b, size)
	}
	if b.NextOffset() <= p.from {
		p.pos += size
		p.expect = b.NextOffset()
		return stepOK // below the part's first offset: located past
	}
	if b.BaseOffset < p.from && len(f.batches) > 0 {
		// A segment whose record starts inside this batch (its object holds
		// records below its base): the answer so far ends at the base, and
		// a batch overlapping it waits for the next fetch, which it starts.
		return stepFull
	}
	p.pos += size
	p.expect = b.NextOffset()
	if b.NextOffset() > v.HighWatermark {
		// Uploaded segments are committed, so this cannot happen while the
		// caller's view is right; cut as the hot path does, never serve
		// beyond the high watermark.
		cut, ok := b.Truncated(int(v.HighWatermark - b.BaseOffset))
		if !ok {
			return stepFull // compressed: served whole once the high watermark passes it
		}
		b = cut
	}
	f.records += b.NextOffset() - max(p.from, b.BaseOffset)
	f.bytes += size
	f.batches = append(f.batches, b)
	return stepOK
}

// seekStep takes the batch b (size bytes) at a seek's cursor: the answer
// when it holds records at or after the part's first offset and its
// timestamp reaches the seek's time; passed over otherwise.
func (r *ColdReader) seekStep(f *coldFetch, b *sm.Batch, size int64) stepResult {
	p := &f.parts[f.cur]
	if b.NextOffset() > p.from && b.Timestamp >= f.t && max(b.BaseOffset, p.from) < f.view.HighWatermark {
		f.found, f.foundAt, f.foundTS = true, max(b.BaseOffset, p.from), b.Timestamp
		return stepFull
	}
	p.pos += size
	p.expect = b.NextOffset()
	return stepOK
}

// bytesAt returns n bytes of f's current part at pos, from the chunks f
// holds, then the cache; when some are in neither, it asks for them (and
// for the chunks after them within f's byte budget, in this part and the
// next) and f waits.
func (r *ColdReader) bytesAt(f *coldFetch, pos, n int64) ([]byte, stepResult) {
	p := &f.parts[f.cur]
	first, last := r.cache.chunkOf(pos), r.cache.chunkOf(pos+n-1)
	missing, asked := false, false
	for k := first; k <= last; k++ {
		c := p.chunk(k)
		switch {
		case c.data != nil:
			continue
		case c.failed != "":
			r.getFailed(f, c.failed, c.corrupt)
			return nil, stepAnswered
		case c.waiting:
			missing = true
			continue
		}
		if d, ok := r.cache.chunkData(p.seg.name, k); ok {
			c.data = d
			continue
		}
		missing, asked = true, true
		r.askChunk(f, f.cur, k)
	}
	if asked {
		// Ask for the chunks the budget will likely read too, in one round
		// trip.
		f.missed = true
		r.askAhead(f, r.reach(f))
	}
	if missing {
		return nil, stepWait
	}
	if first == last {
		off := first * r.cache.chunk
		return p.chunk(first).data[pos-off : pos-off+n], stepOK
	}
	buf := make([]byte, 0, n)
	for k := first; k <= last; k++ {
		off, end := r.cache.chunkSpan(p.seg.dataBytes, k)
		buf = append(buf, p.chunk(k).data[max(pos, off)-off:min(pos+n, end)-off]...)
	}
	return buf, stepOK
}

// askChunk makes f wait for chunk k of its part j.
func (r *ColdReader) askChunk(f *coldFetch, j int, k int64) {
	p := &f.parts[j]
	p.chunk(k).waiting = true
	off, end := r.cache.chunkSpan(p.seg.dataBytes, k)
	r.ask(f, j, coldKey{p.seg.name, k}, p.seg, off, end)
}

// ask adds f (for its part j) to the waiters of the get of k, asking for
// it unless it is already asked for.
func (r *ColdReader) ask(f *coldFetch, j int, k coldKey, seg segRef, off, end int64) {
	g := r.gets[k]
	if g == nil {
		g = &coldGet{key: k, seg: seg, off: off, end: end}
		r.gets[k] = g
		r.queued = append(r.queued, g)
	}
	assert.That(g.off == off && g.end == end, "tier: %v: %v asked as [%d, %d) and [%d, %d)", r.cfg.TP, k, g.off, g.end, off, end)
	g.waiters = append(g.waiters, coldWaiter{f, j})
	f.waited = true
}

// corrupt answers f STORAGE_ERROR for the n bytes at pos of its current
// part that are not the recorded segment, and drops their chunks from the
// cache.
func (r *ColdReader) corrupt(f *coldFetch, pos, n int64, why string) stepResult {
	p := &f.parts[f.cur]
	r.corruptFound()
	for k := r.cache.chunkOf(pos); k <= r.cache.chunkOf(pos+n-1); k++ {
		r.cache.remove(coldKey{p.seg.name, k})
	}
	r.fail(f, fmt.Sprintf("object %s: byte %d (offset %d): %s", p.seg.name, pos, p.expect, why))
	return stepAnswered
}

func (r *ColdReader) corruptFound() {
	r.cache.stats.Corruptions++
	r.probes = append(r.probes, sm.ProbeCorruptionFound)
}

// finish answers f with its batches.
func (r *ColdReader) finish(f *coldFetch, v View) {
	if p := &f.parts[f.cur]; p.pos == p.seg.dataBytes && !r.endsRight(f) {
		return
	}
	if f.seek {
		r.finishSeek(f, v)
		return
	}
	if n := len(f.batches); n > 0 {
		assert.That(f.batches[0].BaseOffset <= f.req.Offset && f.batches[0].NextOffset() > f.req.Offset,
			"tier: %v: cold fetch at %d answered from batch [%d, %d)", r.cfg.TP, f.req.Offset, f.batches[0].BaseOffset, f.batches[0].NextOffset())
		assert.That(f.batches[n-1].NextOffset() <= v.HighWatermark,
			"tier: %v: cold fetch serving up to %d beyond high watermark %d", r.cfg.TP, f.batches[n-1].NextOffset(), v.HighWatermark)
	}
	if f.waited {
		r.cache.stats.ColdReads++
		r.probes = append(r.probes, sm.ProbeColdRead)
	} else {
		r.cache.stats.CacheHitReads++
		r.probes = append(r.probes, sm.ProbeColdCacheHit)
	}
	if f.cur > 0 {
		r.cache.stats.MultiSegmentReads++
	}
	r.readAhead(f)
	r.answer(f, sm.FetchResponse{
		ReqID: f.req.ReqID, TP: r.cfg.TP, Code: sm.CodeOK, Batches: f.batches,
		HighWatermark: v.HighWatermark, LogStart: v.LogStart, LeaderEpoch: v.LeaderEpoch, LeaderHint: r.cfg.Self,
	})
}

// getFailed answers f, whose next bytes a get could not read: with the
// batches it holds (a fetch reading on into the next segments then serves
// what it read before them), or, when it holds none or the bytes are not
// the recorded segment, STORAGE_ERROR.
func (r *ColdReader) getFailed(f *coldFetch, why string, corrupt bool) {
	if corrupt || len(f.batches) == 0 {
		r.fail(f, why)
		return
	}
	r.cache.stats.PartialReads++
	r.finish(f, f.view)
}

// fail answers f STORAGE_ERROR (retriable) saying why.
func (r *ColdReader) fail(f *coldFetch, why string) {
	if f.seek {
		r.answerSeek(f, r.seekResult(f, sm.CodeStorageError, why, f.view, r.cfg.Self))
		return
	}
	r.answer(f, sm.FetchResponse{ReqID: f.req.ReqID, TP: r.cfg.TP, Code: sm.CodeStorageError, Message: why, LeaderEpoch: f.view.LeaderEpoch, LeaderHint: r.cfg.Self})
}

func (r *ColdReader) answer(f *coldFetch, resp sm.FetchResponse) {
	r.done(f)
	r.replies = append(r.replies, sm.Envelope{From: r.cfg.Self, To: f.from, Msg: resp})
}

// done ends f: it is answered.
func (r *ColdReader) done(f *coldFetch) {
	assert.That(!f.done && r.fetches[f.seq] == f, "tier: %v: fetch %d answered twice", r.cfg.TP, f.seq)
	f.done = true
	delete(r.fetches, f.seq)
	// Gets still in flight list f until they complete: let go of its bytes.
	f.parts, f.inline = nil, [2]coldPart{}
}

// readAheadChunks is how far read-ahead reaches past the last byte a fetch
// used, in chunks of the cache's size (with the default 4 MiB chunks,
// 16 MiB: at a few hundred MB/s that covers an object store's first-byte
// latency several times over), counting the bytes of short chunks (a
// segment smaller than a chunk is one short chunk), so small segments are
// read as far ahead. The cache's read-ahead share bounds it as well.
const readAheadChunks = 4

// readAheadSegments bounds the segments after a fetch's own that its
// read-ahead may reach (a consumer reading small ranges still reads far
// enough ahead).
const readAheadSegments = 8

// readAhead gets into the cache what a sequential consumer of f asks for
// next: the chunks after the last one f used, then the segments after f's
// part, each one's index and chunks, until readAheadChunks chunks past f's
// last byte are cached or asked for, or the read-ahead share is used up.
// A segment's chunks are read ahead from the one where a fetch at its base
// starts reading (not always its first: a record may start after its
// object's first batch), so one whose index is not cached has its chunks
// asked for when its index arrives (coldGet.ahead).
func (r *ColdReader) readAhead(f *coldFetch) {
	p := &f.parts[f.cur]
	if !p.started || p.pos == 0 {
		return
	}
	left := readAheadChunks * r.cache.chunk // bytes
	if !r.aheadChunks(p.seg, r.cache.chunkOf(p.pos-1)+1, &left) {
		return
	}
	for j := f.cur + 1; left > 0; j++ {
		var n segRef
		switch {
		case j < len(f.parts):
			n = f.parts[j].seg
		case j-len(f.parts) < len(f.after):
			n = f.after[j-len(f.parts)]
		default:
			return
		}
		if it := r.cache.items[coldKey{n.name, indexChunk}]; it != nil {
			if !r.aheadChunks(n, r.startChunk(n, it.idx), &left) {
				return
			}
			continue
		}
		g, ok := r.prefetch(coldKey{n.name, indexChunk}, n, n.dataBytes, n.dataBytes+n.indexBytes)
		if !ok {
			return
		}
		bytes := min(left, n.dataBytes)
		if g != nil && g.reserved > 0 { // (a fetch's own get: that fetch asks for the chunks it reads)
			g.ahead = max(g.ahead, bytes)
		}
		left -= bytes
	}
}

// startChunk is the chunk where a fetch at seg's base starts reading, by
// seg's index.
func (r *ColdReader) startChunk(seg segRef, idx *sm.SegmentIndex) int64 {
	e, ok := idx.Locate(seg.base)
	assert.That(ok, "tier: %v: index of %s has no entry at or below its record's base %d", r.cfg.TP, seg.name, seg.base)
	return r.cache.chunkOf(e.Pos)
}

// aheadChunks reads ahead seg's chunks from k while *left bytes remain,
// counting the cached and asked-for ones too; false when the read-ahead
// share is used up.
func (r *ColdReader) aheadChunks(seg segRef, k int64, left *int64) bool {
	for ; *left > 0 && k*r.cache.chunk < seg.dataBytes; k++ {
		off, end := r.cache.chunkSpan(seg.dataBytes, k)
		if _, ok := r.prefetch(coldKey{seg.name, k}, seg, off, end); !ok {
			return false
		}
		*left -= end - off
	}
	return true
}

// prefetch asks for k within the cache's read-ahead share unless it is
// cached (nil, true) or asked for already (that get, true); false when the
// share cannot hold it.
func (r *ColdReader) prefetch(k coldKey, seg segRef, off, end int64) (*coldGet, bool) {
	if g := r.gets[k]; g != nil {
		return g, true
	}
	if r.cache.has(k) {
		return nil, true
	}
	size := itemSize(end - off)
	if !r.cache.reserveReadAhead(size) {
		return nil, false
	}
	g := &coldGet{key: k, seg: seg, off: off, end: end, reserved: size}
	r.gets[k] = g
	r.queued = append(r.queued, g)
	return g, true
}

// TakeOutput returns what the reader asked for since the last call: gets
// (their IDs drawn from ids now), answers to consumers, and probes.
func (r *ColdReader) TakeOutput(ids *host.IDs) (ops []sm.ObjectOp, replies []sm.Envelope, probes []sm.Probe) {
	for _, g := range r.queued {
		assert.That(g.id == 0 && r.gets[g.key] == g, "tier: %v: %v queued twice", r.cfg.TP, g.key)
		g.id = ids.Next()
		r.byID[g.id] = g
		ops = append(ops, sm.ObjectOp{ID: g.id, Kind: sm.ObjGet, Name: g.seg.name, Off: g.off, Len: g.end - g.off})
	}
	r.queued = nil
	replies, probes = r.replies, r.probes
	r.replies, r.probes = nil, nil
	return ops, replies, probes
}

// Abort answers every pending fetch with code (NOT_LEADER with the new
// leader's hint when leadership is lost) and forgets every get, so their
// completions are no longer the reader's. Call it before dropping a
// reader: it returns the read-ahead reservations to the shared cache. The
// reader can serve again afterwards.
func (r *ColdReader) Abort(code sm.Code, hint sm.NodeID) {
	for _, seq := range slices.Sorted(maps.Keys(r.fetches)) {
		f := r.fetches[seq]
		if f.seek {
			r.answerSeek(f, r.seekResult(f, code, "", f.view, hint))
			continue
		}
		r.answer(f, sm.FetchResponse{ReqID: f.req.ReqID, TP: r.cfg.TP, Code: code, LeaderEpoch: f.view.LeaderEpoch, LeaderHint: hint})
	}
	for _, g := range r.gets {
		if g.reserved > 0 {
			r.cache.releaseReadAhead(g.reserved)
		}
	}
	clear(r.gets)
	clear(r.byID)
	r.queued = nil
}

// CheckInvariants verifies the reader's bookkeeping: every get is queued or
// issued, once; every pending fetch waits on a get that lists it.
func (r *ColdReader) CheckInvariants() error {
	if len(r.gets) != len(r.byID)+len(r.queued) {
		return fmt.Errorf("tier: %v: %d gets asked for, %d issued and %d queued", r.cfg.TP, len(r.gets), len(r.byID), len(r.queued))
	}
	for id, g := range r.byID {
		if g.id != id || r.gets[g.key] != g {
			return fmt.Errorf("tier: %v: get %d of %v is not tracked as issued", r.cfg.TP, id, g.key)
		}
	}
	for _, g := range r.queued {
		if g.id != 0 || r.gets[g.key] != g {
			return fmt.Errorf("tier: %v: queued get of %v is not tracked", r.cfg.TP, g.key)
		}
	}
	for seq, f := range r.fetches {
		if f.done || f.seq != seq {
			return fmt.Errorf("tier: %v: fetch %d pending after its answer", r.cfg.TP, seq)
		}
		if f.cur >= len(f.parts) {
			return fmt.Errorf("tier: %v: fetch %d reads part %d of %d", r.cfg.TP, seq, f.cur, len(f.parts))
		}
		waits := 0
		for j := range f.parts {
			p := &f.parts[j]
			if p.idxWaiting {
				waits++
				if err := r.checkWaits(f, j, coldKey{p.seg.name, indexChunk}); err != nil {
					return err
				}
			}
			if p.started == (p.idx == nil) {
				return fmt.Errorf("tier: %v: fetch %d part %s started %v with index %v", r.cfg.TP, seq, p.seg.name, p.started, p.idx != nil)
			}
			for i := range p.chunks {
				if p.chunks[i].waiting {
					waits++
					if err := r.checkWaits(f, j, coldKey{p.seg.name, p.first + int64(i)}); err != nil {
						return err
					}
				}
			}
		}
		if waits == 0 {
			return fmt.Errorf("tier: %v: fetch %d pending without waiting for a get", r.cfg.TP, seq)
		}
	}
	return nil
}

func (r *ColdReader) checkWaits(f *coldFetch, j int, k coldKey) error {
	if g := r.gets[k]; g == nil || !slices.Contains(g.waiters, coldWaiter{f, j}) {
		return fmt.Errorf("tier: %v: fetch %d waits for %v, which no get will hand it", r.cfg.TP, f.seq, k)
	}
	return nil
}
