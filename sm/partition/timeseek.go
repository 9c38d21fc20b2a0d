package partition

import (
	"fmt"
	"sort"

	"github.com/weirmq/weir/sm"
)

// Time lookups (ListOffsets by timestamp): the first committed batch
// stamped at or after t. Each segment's index carries the cumulative
// largest timestamp at each entry, so the first entry reaching t bounds the
// search: every batch up to the entry before it is older, and the answer
// lies between the two. The cached suffix answers at once; elsewhere one
// log read from the entry before (usually under an index interval of
// bytes) finds it. Batch timestamps can go down (a new leader's clock may
// be behind the old one's), so the answer is the first batch by offset
// that reaches t, not a binary search over timestamps.
//
// Records below the local log start (tiered storage) are the broker's to
// look up in the object store (sm/tier); this covers the local log.

// timeSeek is a time lookup waiting for a log read.
type timeSeek struct {
	from sm.NodeID
	req  sm.ListOffsetsRequest
}

// timeStart is where the first local batch stamped at or after t can be:
// the segment, the byte to read from and the offset there. ok is false when
// no local batch reaches t. Index timestamps are upper bounds
// (sm.IndexEntry): the batches there may still all be older, and the
// search then goes on (timeStartFrom).
func (l *replicaLog) timeStart(t int64) (seg sm.Offset, pos int64, off sm.Offset, ok bool) {
	return l.timeStartFrom(t, 0)
}

// timeStartFrom is timeStart among the segments from the one based at
// from on (from a segment base, or 0 for all).
func (l *replicaLog) timeStartFrom(t int64, from sm.Offset) (seg sm.Offset, pos int64, off sm.Offset, ok bool) {
	for i := l.segment(from); i <= len(l.sealed); i++ {
		s := l.segmentAt(i)
		if s.Next == s.Base || s.MaxTimestamp < t {
			continue
		}
		k := sort.Search(len(s.Entries), func(k int) bool { return s.Entries[k].MaxTimestamp >= t })
		if k == 0 {
			return s.Base, 0, s.Base, true
		}
		e := s.Entries[k-1]
		return s.Base, e.Pos, e.Offset, true
	}
	return 0, 0, 0, false
}

// firstAtOrAfter is the first of bs (in offset order, from offset from on)
// stamped at or after t and starting below limit; ok false if none. With
// skip (the simulator's canary) it is the one after.
func firstAtOrAfter(bs []sm.Batch, from sm.Offset, t int64, limit sm.Offset, skip bool) (sm.Batch, bool) {
	for i, b := range bs {
		if b.BaseOffset >= limit {
			break
		}
		if b.NextOffset() > from && b.Timestamp >= t {
			if skip && i+1 < len(bs) && bs[i+1].BaseOffset < limit {
				return bs[i+1], true
			}
			return b, true
		}
	}
	return sm.Batch{}, false
}

// seekTime answers a ByTime ListOffsets from the local log: at once when
// the answer is known (none, or in the cached suffix), else after a read.
func (p *Partition) seekTime(from sm.NodeID, req sm.ListOffsetsRequest, resp sm.ListOffsetsResponse) {
	resp.Offset = -1
	seg, pos, off, ok := p.log.timeStart(req.Timestamp)
	if !ok || off >= p.hw {
		p.send(from, resp)
		return
	}
	if off >= p.log.cacheStart() {
		bs, _ := p.log.cached(off, p.log.end(), int(^uint(0)>>1))
		if b, found := firstAtOrAfter(bs, off, req.Timestamp, p.hw, p.cfg.CanaryTimeLookupNext); found {
			resp.Offset, resp.OffsetTimestamp = max(b.BaseOffset, p.log.start()), b.Timestamp
		}
		p.probe(sm.ProbeTimeLookup)
		p.send(from, resp)
		return
	}
	p.issueReadAt(pendingRead{gen: p.log.gen, seg: seg, pos: pos, want: off, seek: &timeSeek{from: from, req: req}})
}

// seekDone continues a time lookup with a completed read of r: answers it
// when the read holds the answer (or shows there is none below the high
// watermark), else reads on.
func (p *Partition) seekDone(r pendingRead, d sm.LogReadDone) {
	if d.Outcome != sm.OutcomeOK {
		p.answerSeek(r.seek, sm.CodeStorageError, fmt.Sprintf("broker %d cannot read %v segment %d: %s", uint64(p.cfg.Self), p.cfg.TP, r.seg, d.Reason), sm.Batch{}, false)
		return
	}
	t := r.seek.req.Timestamp
	next := sm.Offset(-1)
	skipped := false
	for at := 0; at < len(d.Data); {
		b, n, err := sm.DecodeBatch(d.Data[at:])
		if err == nil && next >= 0 && b.BaseOffset != next {
			err = fmt.Errorf("batch at offset %d follows one ending at %d", b.BaseOffset, next)
		}
		if err == nil && (b.BaseOffset < r.seg || b.Len() == 0) {
			err = fmt.Errorf("batch at offset %d with %d records in the segment at %d", b.BaseOffset, b.Len(), r.seg)
		}
		if err != nil {
			p.onCorrupt(r, r.pos+int64(at), err)
			p.answerSeek(r.seek, sm.CodeStorageError, fmt.Sprintf("broker %d holds corrupt data for %v (%s)", uint64(p.cfg.Self), p.cfg.TP, p.damaged), sm.Batch{}, false)
			return
		}
		next = b.NextOffset()
		if b.BaseOffset >= p.hw {
			p.answerSeek(r.seek, sm.CodeOK, "", sm.Batch{}, false)
			return
		}
		if skipped || b.NextOffset() > r.want && b.Timestamp >= t {
			if p.cfg.CanaryTimeLookupNext && !skipped && at+n < len(d.Data) {
				skipped = true // the canary answers the batch after
				at += n
				continue
			}
			p.answerSeek(r.seek, sm.CodeOK, "", b, true)
			return
		}
		at += n
	}
	switch {
	case len(d.Data) > 0:
		r.pos += int64(len(d.Data))
		p.issueReadAt(r)
	default:
		// The segment's end, and nothing reached t (its index timestamps
		// claimed more than its batches hold): the next segments that can.
		nx, ok := p.log.nextSegment(r.seg)
		if ok {
			r.seg, r.pos, r.want, ok = p.log.timeStartFrom(t, nx)
		}
		switch {
		case !ok || r.want >= p.hw:
			p.answerSeek(r.seek, sm.CodeOK, "", sm.Batch{}, false) // none yet
		case r.want >= p.log.cacheStart():
			p.seekCached(r.seek, r.want)
		default:
			p.issueReadAt(r)
		}
	}
}

// seekCached finishes a time lookup that reached the cached suffix at off.
func (p *Partition) seekCached(s *timeSeek, off sm.Offset) {
	bs, _ := p.log.cached(off, p.log.end(), int(^uint(0)>>1))
	b, found := firstAtOrAfter(bs, off, s.req.Timestamp, p.hw, p.cfg.CanaryTimeLookupNext)
	p.answerSeek(s, sm.CodeOK, "", b, found)
}

// answerSeek answers a time lookup, deciding by the replica's state now
// (it may have stopped leading while the read ran).
func (p *Partition) answerSeek(s *timeSeek, code sm.Code, msg string, b sm.Batch, found bool) {
	resp, ok := p.offsetsStatus(s.req)
	if ok && code != sm.CodeOK {
		resp.Code, resp.Message = code, msg
	}
	if ok && code == sm.CodeOK {
		resp.Offset = -1
		if found && b.BaseOffset < p.hw {
			resp.Offset, resp.OffsetTimestamp = max(b.BaseOffset, p.log.start()), b.Timestamp
		}
		p.probe(sm.ProbeTimeLookup)
	}
	p.send(s.from, resp)
}
