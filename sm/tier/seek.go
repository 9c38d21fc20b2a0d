package tier

import (
	"fmt"
	"math"
	"sort"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/assert"
)

// Seek by time in the object-store tier: ListOffsets by timestamp for a
// time whose first batch lies below the local log start. SeekTime answers
// the base offset of the first batch, by offset, whose Timestamp (the
// leader's append time, Unix ms) is at or after the time, with that
// timestamp: Kafka's ListOffsets by timestamp. Timestamps need not rise
// with offsets (a leader change with clock skew can make them go down);
// the answer is still the first such batch by offset.
//
// A seek is a cold fetch in seek mode (coldFetch.seek): it shares the
// reader's gets, cache, deduplication, MaxPending bound, failure and
// corruption handling and Abort. Segment indexes carry cumulative
// MaxTimestamp per entry, so a seek positions its cursor at the entry
// before the first one reaching the time (the batches up to that entry are
// all earlier), asks at once for the chunks up to the end of the first
// entry's frame after the one reaching it (one round trip for the chunks,
// one for an uncached index), scans the frames there, checking each one as
// a fetch does, without buffering them, and stops at the first batch at or
// after the time. A recorded segment whose MaxTimestamp is below the time
// is passed over unread. Index timestamps are upper bounds (a replica that
// truncated into batches it no longer held in memory keeps the old
// maximum: sm.IndexEntry), so a seek whose batches there do not reach the
// time reads on, through the segment and the next ones.

// SeekResult answers one SeekTime, out of TakeSeeks. The lead maps it onto
// sm.ListOffsetsResponse for ReqID, sent to From: Code and Message as the
// response's (OK; STORAGE_ERROR, retriable, when a get failed or the
// object is corrupt, naming the object and byte; LEADER_NOT_AVAILABLE,
// retriable, when the reader held MaxPending fetches and seeks, or when
// retention moved the log start past the answer while the seek waited;
// Abort's code with LeaderHint), and with Code OK:
//   - Found: Offset is the base offset of the first batch whose Timestamp
//     is at or after Time (raised to the part's first offset when the batch
//     starts below it: LogStart, or the base of a segment whose object holds
//     records below it), and Timestamp that batch's.
//   - Not found: no batch holding records in [max(segs[0].Base, LogStart),
//     End) reaches Time. End is the high watermark when the search reached
//     it (Kafka answers offset -1, timestamp -1); below it, the search
//     stopped at the end of the segments it was given or allowed
//     (MaxSegments segments that can hold the time), and the caller goes
//     on from End (the local log, or another SeekTime).
//
// HighWatermark, LogStart and LeaderEpoch are the view the answer was made
// with.
type SeekResult struct {
	ReqID      uint64
	TP         sm.TopicPartition
	From       sm.NodeID
	Code       sm.Code
	Message    string
	Time       int64
	Found      bool
	Offset     sm.Offset
	Timestamp  int64
	End        sm.Offset
	LeaderHint sm.NodeID

	HighWatermark, LogStart sm.Offset
	LeaderEpoch             sm.Epoch
}

// SeekTime answers req, from node from, for time t out of segs: segs[0] is
// the first recorded segment whose MaxTimestamp is at or after t (every
// earlier one holds only earlier batches), the rest the recorded segments
// after it, in order. The answer (a SeekResult) comes out of TakeSeeks,
// now or after the gets it needs complete; gets come out of TakeOutput as
// a fetch's do. The caller has checked what the hot path checks (role,
// epochs). Segments at or above the high watermark, below v.LogStart, or
// whose MaxTimestamp is below t are not read; at most MaxSegments are.
func (r *ColdReader) SeekTime(now sm.Time, from sm.NodeID, req sm.ListOffsetsRequest, t int64, segs []sm.RemoteSegment, v View) {
	assert.That(len(segs) > 0, "tier: %v: seek by time %d without a segment", r.cfg.TP, t)
	assert.That(req.TP == r.cfg.TP, "tier: %v: cold reader given a seek for %v", r.cfg.TP, req.TP)
	if n := len(r.fetches); n >= r.cfg.MaxPending {
		r.cache.stats.Refused++
		r.seeks = append(r.seeks, SeekResult{
			ReqID: req.ReqID, TP: r.cfg.TP, From: from, Code: sm.CodeLeaderNotAvailable, Time: t, LeaderHint: r.cfg.Self,
			Message:       fmt.Sprintf("the leader has %d fetches and seeks below its local log start waiting for the object store, the most it holds for one partition; retry", n),
			HighWatermark: v.HighWatermark, LogStart: v.LogStart, LeaderEpoch: v.LeaderEpoch,
		})
		return
	}
	r.seq++
	f := &coldFetch{seq: r.seq, from: from, seek: true, sreq: req, t: t, maxRecords: math.MaxInt64, view: v, seekUntil: segs[0].Base}
	f.parts = f.inline[:0]
	for i := range segs {
		s := &segs[i]
		if s.DataBytes <= 0 || s.IndexBytes <= 0 || i > 0 && s.Base != segs[i-1].Next {
			panic(fmt.Sprintf("tier: %v: seek by time %d given segment %s [%d, %d) of %d data and %d index bytes after %d",
				r.cfg.TP, t, s.Name, s.Base, s.Next, s.DataBytes, s.IndexBytes, segs[max(i-1, 0)].Next))
		}
		if s.Base >= v.HighWatermark || len(f.parts) == r.cfg.MaxSegments {
			break
		}
		f.seekUntil = s.Next
		if s.Next <= v.LogStart || s.MaxTimestamp < t {
			continue
		}
		f.parts = append(f.parts, coldPart{seg: refOf(s), from: max(s.Base, v.LogStart)})
	}
	if len(f.parts) == 0 {
		r.cache.stats.Seeks++
		res := r.seekResult(f, sm.CodeOK, "", v, r.cfg.Self)
		res.End = min(f.seekUntil, v.HighWatermark)
		r.seeks = append(r.seeks, res)
		return
	}
	r.fetches[f.seq] = f
	r.advance(f, v)
}

// TakeSeeks returns the answers to seeks since the last call.
func (r *ColdReader) TakeSeeks() []SeekResult {
	s := r.seeks
	r.seeks = nil
	return s
}

// finishSeek answers f, which found its batch or searched all it may.
func (r *ColdReader) finishSeek(f *coldFetch, v View) {
	if f.found && f.foundAt < v.LogStart {
		// Retention moved the log start past the answer while the seek
		// waited for gets: a retry searches from the new start.
		r.answerSeek(f, r.seekResult(f, sm.CodeLeaderNotAvailable, fmt.Sprintf(
			"the log start moved to %d, past the answer %d, while the seek for %d read the object store; retry", v.LogStart, f.foundAt, f.t), v, r.cfg.Self))
		return
	}
	r.cache.stats.Seeks++
	res := r.seekResult(f, sm.CodeOK, "", v, r.cfg.Self)
	if f.found {
		assert.That(f.foundAt < v.HighWatermark && f.foundTS >= f.t,
			"tier: %v: seek by time %d found offset %d at %d, at or past the high watermark %d", r.cfg.TP, f.t, f.foundAt, f.foundTS, v.HighWatermark)
		res.Found, res.Offset, res.Timestamp, res.End = true, f.foundAt, f.foundTS, f.foundAt
	} else {
		res.End = min(f.seekUntil, v.HighWatermark)
	}
	r.answerSeek(f, res)
}

func (r *ColdReader) seekResult(f *coldFetch, code sm.Code, msg string, v View, hint sm.NodeID) SeekResult {
	return SeekResult{
		ReqID: f.sreq.ReqID, TP: r.cfg.TP, From: f.from, Code: code, Message: msg, Time: f.t, LeaderHint: hint,
		HighWatermark: v.HighWatermark, LogStart: v.LogStart, LeaderEpoch: v.LeaderEpoch,
	}
}

func (r *ColdReader) answerSeek(f *coldFetch, res SeekResult) {
	r.done(f)
	r.seeks = append(r.seeks, res)
}

// ColdSeekTime routes a ListOffsets by time ts, for the records below the
// replica's local start, to the cold reader: it searches offsets at or
// after `after` (the log start, or the End of an earlier answer to the
// same request that was not found) in the recorded segments below
// v.LocalStart, and the answer carries cv (from the replica's ListOffsets
// answer: high watermark, log start, epoch). It returns false, answering
// nothing, when no recorded segment starting below the local start and
// ending after `after` has a MaxTimestamp reaching ts: the first batch at
// or after ts, if any, is in the local log, from max(after, local start).
// Otherwise the answer comes out of TakeSeeks: a SeekResult (see there; not
// found below the high watermark with End at or above v.LocalStart means
// the caller goes on in the local log from End, below it by calling again
// with after = End), or LEADER_NOT_AVAILABLE while the component loads or
// catches up with the segment records. The result's LogStart is
// max(cv.LogStart, after).
func (t *Tier) ColdSeekTime(now sm.Time, from sm.NodeID, req sm.ListOffsetsRequest, ts int64, after sm.Offset, cv View, v ReplicaView) bool {
	t.setNow(now)
	t.view = v
	t.step()
	refuse := func(msg string) bool {
		t.cold.seeks = append(t.cold.seeks, SeekResult{
			ReqID: req.ReqID, TP: t.cfg.TP, From: from, Code: sm.CodeLeaderNotAvailable, Message: msg, Time: ts, LeaderHint: t.cfg.Self,
			HighWatermark: cv.HighWatermark, LogStart: cv.LogStart, LeaderEpoch: cv.LeaderEpoch,
		})
		return true
	}
	if !t.loaded {
		return refuse("the leader is loading the partition's uploaded segment records")
	}
	after = max(after, cv.LogStart)
	if need := min(t.remote.End, v.LocalStart); t.remote.Segments > 0 && after < need && (len(t.segs) == 0 || t.segs[0].Base > after) {
		// The records start above where the search must (the uploaded range
		// says more is uploaded below them, or retention dropped it and the
		// range has not caught up): a seek would skip the records between,
		// so as a cold fetch does, the component reloads and the client
		// retries.
		msg := fmt.Sprintf("the leader is catching up with the uploaded segment records (searching from %d; uploaded [%d, %d), records from %d)", after, t.remote.Start, t.remote.End, t.firstRecorded())
		t.reload()
		t.step()
		return refuse(msg)
	}
	if need := min(t.remote.End, v.LocalStart); t.remote.Segments > 0 && after < need && (len(t.segs) == 0 || t.segs[len(t.segs)-1].Next < need) {
		// The records end below what the range says is uploaded and not
		// local (a commit seen in metadata first): a seek would miss the
		// records between.
		t.reload()
		t.step()
		return refuse(fmt.Sprintf("the leader is catching up with the uploaded segment records (uploaded [%d, %d), local log from %d)", t.remote.Start, t.remote.End, v.LocalStart))
	}
	i := sort.Search(len(t.segs), func(i int) bool { return t.segs[i].Next > after })
	for i < len(t.segs) && t.segs[i].Base < v.LocalStart && t.segs[i].MaxTimestamp < ts {
		i++
	}
	if i == len(t.segs) || t.segs[i].Base >= v.LocalStart {
		return false
	}
	n := i + sort.Search(len(t.segs)-i, func(j int) bool { return t.segs[i+j].Base >= v.LocalStart })
	if cv.LogStart < after {
		cv.LogStart = after // the reader searches from its view's log start
	}
	t.cold.SeekTime(now, from, req, ts, t.segs[i:n], cv)
	return true
}

// TakeSeeks returns the answers to ColdSeekTime since the last call.
func (t *Tier) TakeSeeks() []SeekResult { return t.cold.TakeSeeks() }

// firstRecorded is the base of the first segment record held (-1: none).
func (t *Tier) firstRecorded() sm.Offset {
	if len(t.segs) == 0 {
		return -1
	}
	return t.segs[0].Base
}
