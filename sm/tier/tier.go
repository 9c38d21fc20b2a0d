package tier

import (
	"fmt"
	"slices"
	"sort"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/host"
)

// The tier component exists on a broker while it leads a partition, one per
// leader epoch (the broker replaces it when the epoch changes and removes it
// when leadership goes). It does three things:
//
//   - Upload. The first sealed segment that holds data past the uploaded end
//     (RemoteLog.End) and is wholly committed (below the high watermark, its
//     roll durable) is put to the object store under a name no other upload
//     can choose (sm.ObjectName: topic ID, partition, base, epoch, broker,
//     incarnation, effect ID) with a create-only precondition, the segment's
//     frames read by the adapter from the local disk, followed by its index.
//     When the put succeeds the component asks the controller to record it
//     (CommitSegmentRequest); the controller does so only for the current
//     leader epoch and when it continues the uploaded range. Uploads of one
//     partition go one at a time, in offset order; the broker bounds how
//     many run at once (Budget). A failed or unknown put is tried again
//     under a new name; what it may have left is an orphan for the
//     controller's garbage collector: the component never deletes.
//   - Remote retention. With the recorded segments loaded
//     (RemoteSegmentsRequest), every retention interval it asks the
//     controller to drop the oldest segments that retention_ms /
//     retention_bytes of the whole log (remote and local) no longer keep.
//   - Cold reads, through the ColdReader (cold.go).
//
// A segment whose base is below the uploaded end (a new leader whose segment
// boundaries differ from the old one's) is uploaded whole; its record starts
// at the uploaded end, and readers never serve below a record's Base.

// Settings are a tier component's fixed parameters.
type Settings struct {
	Self        sm.NodeID
	Incarnation uint64
	TP          sm.TopicPartition
	// CommitTimeout is when an unanswered controller request is sent again.
	CommitTimeout sm.Duration
	// RetentionCheckInterval is how often remote retention runs.
	RetentionCheckInterval sm.Duration
	// RetryMin and RetryMax bound the backoff after a failed upload.
	RetryMin, RetryMax sm.Duration
	// FetchMaxRecords bounds a cold fetch as the replica bounds a hot one.
	FetchMaxRecords int32
	// UploadInterval is how long committed data may wait before it is
	// uploaded: a partition that receives nothing more (so never rolls) has
	// its active segment's committed bytes uploaded once its first batch is
	// this old. Zero: never.
	UploadInterval sm.Duration
}

// ReplicaView is the hosting replica's state the component works from; the broker
// hands a fresh one with every call.
type ReplicaView struct {
	Leading bool
	Epoch   sm.Epoch
	TopicID sm.TopicID
	// HW is the high watermark, Durable the log end the disk confirmed,
	// LocalStart the local log's start.
	HW, Durable, LocalStart sm.Offset
	// Sealed are the replica's sealed segments, oldest first (read only);
	// Active the active segment and ActiveFirstTs its first batch's
	// timestamp (Unix ms).
	Sealed        []sm.SegmentIndex
	Active        sm.SegmentIndex
	ActiveFirstTs int64
	// LocalBytes is the size of the local log; Wall the wall clock (ms).
	LocalBytes int64
	Wall       int64
	// RetentionMs and RetentionBytes are the topic's limits for the whole
	// log (0 or -1: none).
	RetentionMs, RetentionBytes int64
}

// Budget bounds the uploads one broker runs at once
// (max_concurrent_uploads). Components that find it full try again on a
// timer.
type Budget struct {
	Max, used int
}

// NewBudget returns a budget of max concurrent uploads.
func NewBudget(max int) *Budget { return &Budget{Max: max} }

func (b *Budget) acquire() bool {
	if b.used >= b.Max {
		return false
	}
	b.used++
	return true
}

func (b *Budget) release() {
	if b.used > 0 {
		b.used--
	}
}

// Used is the number of uploads in flight.
func (b *Budget) Used() int { return b.used }

// upload is the segment being uploaded or committed.
type upload struct {
	put        sm.EffectID
	src        sm.Offset // the local segment's base
	seg        sm.RemoteSegment
	committing bool
	reqID      uint64
	sentAt     sm.Time
}

// Tier is one partition leader's tiered-storage component.
type Tier struct {
	cfg    Settings
	cold   *ColdReader
	cache  *ColdCache // the broker's, shared: cold's, and where dropped segments are forgotten
	budget *Budget
	ids    *host.IDs
	now    sm.Time
	epoch  sm.Epoch
	view   ReplicaView

	remote sm.RemoteLog
	// segs are the recorded segments from the controller, valid once
	// loaded; appended on every commit this component makes.
	segs     []sm.RemoteSegment
	loaded   bool
	listReq  uint64 // outstanding RemoteSegmentsRequest (0: none)
	listAt   sm.Time
	listFrom sm.Offset

	up      *upload
	retryAt sm.Time // no new upload before (zero: any time)
	backoff sm.Duration
	// fenced: the controller said this epoch is over; the component waits
	// to be replaced.
	fenced bool

	drop        *sm.DropRemoteSegmentsRequest
	dropAt      sm.Time
	retentionAt sm.Time

	// corrupt is a source-corrupt put's reason, for the broker to hand to
	// the replica (TakeCorruption).
	corrupt     string
	corruptSeg  sm.Offset
	out         host.Output
	remoteDirty bool // remote changed since the broker last took it
}

// New starts the component of a leader at epoch, with the uploaded range
// metadata shows; cold reads go through cache, the broker's.
func New(cfg Settings, epoch sm.Epoch, remote sm.RemoteLog, budget *Budget, cache *ColdCache, ids *host.IDs) *Tier {
	cold := NewColdReader(ColdReaderConfig{TP: cfg.TP, Self: cfg.Self, FetchMaxRecords: cfg.FetchMaxRecords}, cache)
	return &Tier{cfg: cfg, epoch: epoch, remote: remote, budget: budget, ids: ids, cold: cold, cache: cache}
}

// coldView is what a cold answer carries, from the latest replica view.
func (t *Tier) coldView() View {
	start := t.view.LocalStart
	if t.remote.Segments > 0 && t.remote.Start < start {
		start = t.remote.Start
	}
	return View{HighWatermark: t.view.HW, LogStart: start, LeaderEpoch: t.epoch}
}

// ColdFetch serves a consumer fetch below the local log start, which the
// replica checked (status is its answer without batches: code OK, high
// watermark, log start), from the object store.
func (t *Tier) ColdFetch(now sm.Time, from sm.NodeID, req sm.FetchRequest, status sm.FetchResponse, v ReplicaView) {
	t.setNow(now)
	t.view = v
	t.step()
	reply := func(code sm.Code, msg string) {
		resp := status
		resp.Code, resp.Message = code, msg
		t.out.Messages = append(t.out.Messages, sm.Envelope{From: t.cfg.Self, To: from, Msg: resp})
	}
	if !t.loaded {
		reply(sm.CodeLeaderNotAvailable, "the leader is loading the partition's uploaded segment records")
		return
	}
	i := sort.Search(len(t.segs), func(i int) bool { return t.segs[i].Next > req.Offset })
	if i == len(t.segs) || t.segs[i].Base > req.Offset {
		// The records do not hold it although the replica's range says it
		// is uploaded: they are behind (a commit seen in metadata first).
		t.reload()
		t.step()
		reply(sm.CodeLeaderNotAvailable, fmt.Sprintf("the leader is catching up with the uploaded segment records (offset %d; uploaded [%d, %d), local log from %d)", req.Offset, t.remote.Start, t.remote.End, v.LocalStart))
		return
	}
	cv := View{HighWatermark: status.HighWatermark, LogStart: status.LogStart, LeaderEpoch: status.LeaderEpoch}
	// The covering segment and the ones a fetch may read on into, and one
	// more for read-ahead.
	t.cold.Fetch(now, from, req, t.segs[i:min(i+DefaultColdFetchSegments+readAheadSegments, len(t.segs))], cv)
}

// Epoch is the leader epoch the component works for.
func (t *Tier) Epoch() sm.Epoch { return t.epoch }

// Uploading reports whether an upload holds one of the budget's slots.
func (t *Tier) Uploading() bool { return t.up != nil }

// Remote is the uploaded range as the component knows it.
func (t *Tier) Remote() sm.RemoteLog { return t.remote }

// TakeRemote returns the uploaded range when it changed since the last
// call (the broker hands it to the replica).
func (t *Tier) TakeRemote() (sm.RemoteLog, bool) {
	d := t.remoteDirty
	t.remoteDirty = false
	return t.remote, d
}

// TakeCorruption returns a put's source-corrupt report, once: the segment
// base and what the adapter found.
func (t *Tier) TakeCorruption() (seg sm.Offset, reason string, ok bool) {
	if t.corrupt == "" {
		return 0, "", false
	}
	seg, reason = t.corruptSeg, t.corrupt
	t.corrupt = ""
	return seg, reason, true
}

// Segments returns the recorded segments (nil until loaded).
func (t *Tier) Segments() []sm.RemoteSegment {
	if !t.loaded {
		return nil
	}
	return t.segs
}

// Covering returns the recorded segment holding off, if loaded.
func (t *Tier) Covering(off sm.Offset) (sm.RemoteSegment, bool) {
	if !t.loaded {
		return sm.RemoteSegment{}, false
	}
	i := sort.Search(len(t.segs), func(i int) bool { return t.segs[i].Next > off })
	if i == len(t.segs) || t.segs[i].Base > off {
		return sm.RemoteSegment{}, false
	}
	return t.segs[i], true
}

// SetRemote updates the uploaded range from metadata (never backwards).
// Metadata may show this component's own commit before its answer comes:
// the commit is then done. A range that grew otherwise is read again.
func (t *Tier) SetRemote(now sm.Time, r sm.RemoteLog) {
	t.setNow(now)
	if r.End < t.remote.End || r.End == t.remote.End && r.Start <= t.remote.Start {
		return
	}
	grew := r.End > t.remote.End
	t.remote = r
	if !t.loaded {
		return
	}
	t.trimSegs(r.Start)
	if !grew {
		return
	}
	if u := t.up; u != nil && u.committing && u.seg.Next == r.End && (len(t.segs) == 0 && u.seg.Base == r.Start || len(t.segs) > 0 && t.segs[len(t.segs)-1].Next == u.seg.Base) {
		t.segs = append(t.segs, u.seg)
		t.out.Probes = append(t.out.Probes, sm.ProbeUploadOK)
		t.endUpload(false)
		t.step()
		return
	}
	if n := len(t.segs); n == 0 || t.segs[n-1].Next != r.End {
		t.reload()
		t.step()
	}
}

// Poke runs the component with the replica's current state: it starts what
// is due (an upload, the records' load, retention).
func (t *Tier) Poke(now sm.Time, v ReplicaView) {
	t.setNow(now)
	t.view = v
	t.step()
}

// Refresh hands the component the replica's current state before a call
// that does not carry it (a timer, a completion, a controller's answer).
func (t *Tier) Refresh(v ReplicaView) { t.view = v }

func (t *Tier) setNow(now sm.Time) {
	if now > t.now {
		t.now = now
	}
}

func (t *Tier) step() {
	if !t.view.Leading || t.view.Epoch != t.epoch || t.fenced {
		return
	}
	t.maybeLoad()
	t.maybeUpload()
	t.maybeRetention()
}

// ---- upload ----------------------------------------------------------------

// candidate is the next segment to upload and the offset its record starts
// at: the first sealed segment with data past the uploaded end, committed
// and with its roll durable (the batch after it is on disk).
func (t *Tier) candidate() (sm.SegmentIndex, sm.Offset, bool) {
	v := &t.view
	end := t.remote.End
	never := t.remote.End == 0 && t.remote.Segments == 0
	i := sort.Search(len(v.Sealed), func(i int) bool { return v.Sealed[i].Next > end })
	var s sm.SegmentIndex
	switch {
	case i < len(v.Sealed):
		s = v.Sealed[i]
		if s.Next > v.HW || s.Next >= v.Durable || s.Bytes == 0 {
			return sm.SegmentIndex{}, 0, false
		}
	case t.quietActive():
		// Nothing more arrives to roll the active segment: its committed,
		// durable bytes go up as they are (the object is a snapshot; once
		// the segment rolls, it is uploaded whole and recorded from the
		// uploaded end).
		s = v.Active
		s.Sealed = true
	default:
		return sm.SegmentIndex{}, 0, false
	}
	start := end
	switch {
	case never:
		start = s.Base
	case s.Base > end:
		// The local log does not hold the uploaded end: the records between
		// are gone from this replica (a leader elected without them). The
		// range cannot be continued from here.
		return sm.SegmentIndex{}, 0, false
	}
	return s, start, true
}

// quietActive reports whether the active segment is uploadable as it is:
// every byte of it committed and durable, data past the uploaded end, and
// its first batch at least the upload interval old.
func (t *Tier) quietActive() bool {
	v, a := &t.view, &t.view.Active
	return t.cfg.UploadInterval > 0 && a.Bytes > 0 && a.Next > t.remote.End && a.Next <= v.HW && a.Next <= v.Durable &&
		v.Wall-v.ActiveFirstTs >= int64(t.cfg.UploadInterval/sm.Millisecond)
}

// activeDue is when the active segment becomes old enough to upload while
// the partition is quiet (zero: not pending, or due already).
func (t *Tier) activeDue() sm.Time {
	v, a := &t.view, &t.view.Active
	if t.cfg.UploadInterval <= 0 || a.Bytes == 0 || a.Next <= t.remote.End || t.up != nil {
		return 0
	}
	wait := int64(t.cfg.UploadInterval/sm.Millisecond) - (v.Wall - v.ActiveFirstTs)
	if wait <= 0 {
		return 0 // due now: the high watermark or the disk is what it waits for
	}
	return t.now.Add(sm.Duration(wait) * sm.Millisecond)
}

func (t *Tier) maybeUpload() {
	// Uploads wait for the records: a commit that lands while they load
	// could be missing from both the page and the list.
	if !t.loaded || t.up != nil || t.now < t.retryAt {
		return
	}
	s, start, ok := t.candidate()
	if !ok {
		return
	}
	if !t.budget.acquire() {
		t.retryAt = t.now.Add(t.cfg.RetryMin)
		return
	}
	id := t.ids.Next()
	name := sm.ObjectName{
		TopicID: t.view.TopicID, Partition: t.cfg.TP.Partition, Base: start, Epoch: t.epoch,
		Broker: t.cfg.Self, Incarnation: t.cfg.Incarnation, Effect: id,
	}.String()
	idx := sm.EncodeSegmentIndex(nil, &s)
	t.up = &upload{put: id, src: s.Base, seg: sm.RemoteSegment{
		Name: name, Base: start, Next: s.Next, DataBytes: s.Bytes, IndexBytes: int64(len(idx)),
		MaxTimestamp: s.MaxTimestamp, LeaderEpoch: t.epoch, Epochs: slices.Clone(s.Epochs),
	}}
	t.out.Objects = append(t.out.Objects, sm.ObjectOp{
		ID: id, Kind: sm.ObjPut, Name: name, CreateOnly: true, Data: idx,
		Source: &sm.SegmentSource{TP: t.cfg.TP, TopicID: t.view.TopicID, Segment: s.Base, Pos: 0, Len: s.Bytes, Base: s.Base, Next: s.Next},
	})
}

// OnObjectDone completes one of the component's object operations.
func (t *Tier) OnObjectDone(now sm.Time, d sm.ObjectDone) error {
	t.setNow(now)
	if t.up == nil || t.up.put != d.ID || t.up.committing {
		t.cold.OnObjectDone(now, d, t.coldView())
		return nil
	}
	switch {
	case d.Outcome == sm.OutcomeOK:
		t.up.committing = true
		t.sendCommit()
		return nil
	case d.Outcome == sm.OutcomeUnknown:
		t.out.Probes = append(t.out.Probes, sm.ProbeUploadUnknown)
	case d.Err == sm.ObjErrSourceCorrupt:
		t.corrupt, t.corruptSeg = fmt.Sprintf("uploading %s: %s", t.up.seg.Name, d.Reason), t.up.src
	}
	// Anything else: try again later under a new name.
	t.endUpload(true)
	t.step()
	return nil
}

func (t *Tier) endUpload(failed bool) {
	t.up = nil
	t.budget.release()
	if failed {
		if t.backoff == 0 {
			t.backoff = t.cfg.RetryMin
		} else {
			t.backoff = min(2*t.backoff, t.cfg.RetryMax)
		}
		t.retryAt = t.now.Add(t.backoff)
	} else {
		t.backoff = 0
		t.retryAt = 0
	}
}

func (t *Tier) sendCommit() {
	u := t.up
	if u.reqID == 0 {
		u.reqID = uint64(t.ids.Next())
	}
	u.sentAt = t.now
	t.out.ToController = append(t.out.ToController, sm.CommitSegmentRequest{
		ReqID: u.reqID, Broker: t.cfg.Self, TP: t.cfg.TP, TopicID: t.view.TopicID, LeaderEpoch: t.epoch, Segment: u.seg,
	})
}

// OnCommitResponse handles the controller's answer to a commit.
func (t *Tier) OnCommitResponse(now sm.Time, m sm.CommitSegmentResponse) {
	t.setNow(now)
	u := t.up
	if u == nil || !u.committing || m.ReqID != u.reqID {
		return
	}
	switch m.Code {
	case sm.CodeOK:
		t.setRemote(m.Remote)
		switch {
		case !t.loaded:
			// Loading: the pages will hold it.
		case len(t.segs) == 0 || t.segs[len(t.segs)-1].Next == u.seg.Base:
			t.segs = append(t.segs, u.seg)
		case len(t.segs) > 0 && t.segs[len(t.segs)-1].Name == u.seg.Name:
			// A repeat of the last commit, answered again.
		default:
			t.reload() // the list lost track of the range: read it again
		}
		t.out.Probes = append(t.out.Probes, sm.ProbeUploadOK)
		t.endUpload(false)
	case sm.CodeFencedLeaderEpoch, sm.CodeUnknownTopic:
		t.fenced = true
		t.endUpload(false)
	case sm.CodeRemoteMismatch, sm.CodeInvalidRequest:
		t.setRemote(m.Remote)
		t.endUpload(true)
	default:
		// NOT_LEADER, LEADERSHIP_LOST, a timeout: the commit is asked again
		// at its timer (the controller records an exact repeat once).
		return
	}
	t.step()
}

func (t *Tier) setRemote(r sm.RemoteLog) {
	if r.End < t.remote.End {
		return
	}
	if r != t.remote {
		t.remote = r
		t.remoteDirty = true
	}
	if t.loaded {
		t.trimSegs(r.Start)
	}
}

func (t *Tier) trimSegs(start sm.Offset) {
	i := sort.Search(len(t.segs), func(i int) bool { return t.segs[i].Base >= start })
	for j := range i {
		t.cache.Forget(&t.segs[j]) // dropped: its object goes
	}
	if i > 0 {
		t.segs = slices.Delete(slices.Clone(t.segs), 0, i)
	}
}

// ---- records ---------------------------------------------------------------

func (t *Tier) maybeLoad() {
	if t.loaded || t.listReq != 0 && t.now < t.listAt.Add(t.cfg.CommitTimeout) {
		return
	}
	if t.listReq == 0 {
		t.listFrom = t.remote.Start
		t.segs = nil
	}
	t.listReq = uint64(t.ids.Next())
	t.listAt = t.now
	t.out.ToController = append(t.out.ToController, sm.RemoteSegmentsRequest{ReqID: t.listReq, TP: t.cfg.TP, TopicID: t.view.TopicID, From: t.listFrom})
}

// OnRemoteSegments handles a page of recorded segments.
func (t *Tier) OnRemoteSegments(now sm.Time, m sm.RemoteSegmentsResponse) {
	t.setNow(now)
	if t.loaded || m.ReqID != t.listReq {
		return
	}
	if m.Code != sm.CodeOK {
		return // asked again at the timer
	}
	for _, s := range m.Segments {
		if n := len(t.segs); n > 0 && s.Base != t.segs[n-1].Next || s.Next <= t.listFrom {
			continue // overlapping pages after a retry
		}
		t.segs = append(t.segs, s)
		t.listFrom = s.Next
	}
	t.listReq = 0
	if m.More {
		t.step()
		return
	}
	t.loaded = true
	// Commits this component made while loading are in the page; a range
	// that moved on meanwhile (drops) trims the front.
	if m.Remote.End >= t.remote.End {
		t.remote = m.Remote
		t.remoteDirty = true
	}
	t.trimSegs(t.remote.Start)
	t.step()
}

// reload forgets the records and loads them again.
func (t *Tier) reload() {
	t.loaded, t.segs, t.listReq = false, nil, 0
}

// ---- remote retention ------------------------------------------------------

func (t *Tier) maybeRetention() {
	v := &t.view
	if !t.loaded || t.drop != nil || t.cfg.RetentionCheckInterval <= 0 {
		return
	}
	if t.retentionAt == 0 {
		t.retentionAt = t.now.Add(t.cfg.RetentionCheckInterval)
	}
	if t.now < t.retentionAt {
		return
	}
	t.retentionAt = t.now.Add(t.cfg.RetentionCheckInterval)
	byTime, bySize := v.RetentionMs > 0, v.RetentionBytes > 0
	if !byTime && !bySize {
		return
	}
	// The whole log's size: the segments only in the object store, and the
	// local log (which holds the rest).
	total := v.LocalBytes
	for _, s := range t.segs {
		if s.Next <= v.LocalStart {
			total += s.DataBytes
		}
	}
	below := sm.Offset(-1)
	for _, s := range t.segs {
		old := byTime && v.Wall-s.MaxTimestamp > v.RetentionMs
		big := bySize && s.Next <= v.LocalStart && total-s.DataBytes >= v.RetentionBytes
		if !old && !big {
			break
		}
		if s.Next <= v.LocalStart {
			total -= s.DataBytes
		}
		below = s.Next
	}
	if below < 0 {
		return
	}
	t.drop = &sm.DropRemoteSegmentsRequest{ReqID: uint64(t.ids.Next()), Broker: t.cfg.Self, TP: t.cfg.TP, TopicID: v.TopicID, LeaderEpoch: t.epoch, Below: below}
	t.sendDrop()
}

func (t *Tier) sendDrop() {
	t.dropAt = t.now
	t.out.ToController = append(t.out.ToController, *t.drop)
}

// OnDropResponse handles the controller's answer to a drop.
func (t *Tier) OnDropResponse(now sm.Time, m sm.DropRemoteSegmentsResponse) {
	t.setNow(now)
	if t.drop == nil || m.ReqID != t.drop.ReqID {
		return
	}
	switch m.Code {
	case sm.CodeOK:
		t.out.Probes = append(t.out.Probes, sm.ProbeRemoteRetentionDropped)
		t.setRemote(m.Remote)
		t.trimSegs(max(t.remote.Start, t.drop.Below))
	case sm.CodeFencedLeaderEpoch, sm.CodeUnknownTopic:
		t.fenced = true
	case sm.CodeNotLeader, sm.CodeLeadershipLost, sm.CodeTimeout:
		return // asked again at the timer
	default:
		t.setRemote(m.Remote)
	}
	t.drop = nil
	t.step()
}

// ---- host.Component --------------------------------------------------------

// TimerAt is the earliest deadline: a commit, drop or records request to
// send again, an upload to retry, the next retention check.
func (t *Tier) TimerAt() sm.Time {
	if t.fenced {
		return 0
	}
	at := sm.Time(0)
	earliest := func(x sm.Time) {
		if x > t.now && (at == 0 || x < at) {
			at = x
		}
	}
	switch {
	case t.up != nil && t.up.committing:
		earliest(t.up.sentAt.Add(t.cfg.CommitTimeout))
	case t.up == nil && t.retryAt > t.now:
		earliest(t.retryAt)
	}
	if t.listReq != 0 {
		earliest(t.listAt.Add(t.cfg.CommitTimeout))
	}
	if t.drop != nil {
		earliest(t.dropAt.Add(t.cfg.CommitTimeout))
	}
	if t.loaded && t.retentionAt > t.now {
		earliest(t.retentionAt)
	}
	if t.loaded {
		earliest(t.activeDue())
	}
	return at
}

// OnTimer resends what went unanswered and runs what is due.
func (t *Tier) OnTimer(now sm.Time) {
	t.setNow(now)
	if t.fenced {
		return
	}
	if u := t.up; u != nil && u.committing && t.now >= u.sentAt.Add(t.cfg.CommitTimeout) {
		t.sendCommit()
	}
	if t.drop != nil && t.now >= t.dropAt.Add(t.cfg.CommitTimeout) {
		t.sendDrop()
	}
	t.step()
}

// OnLogDone: the component issues no log operations.
func (t *Tier) OnLogDone(sm.Time, sm.LogDone) error { return nil }

// OnLogReadDone: the component issues no log reads.
func (t *Tier) OnLogReadDone(sm.Time, sm.LogReadDone) error { return nil }

// TakeOutput returns the effects and messages asked for since the last call.
func (t *Tier) TakeOutput() host.Output {
	o := t.out
	t.out = host.Output{}
	ops, replies, probes := t.cold.TakeOutput(t.ids)
	o.Objects = append(o.Objects, ops...)
	o.Messages = append(o.Messages, replies...)
	o.Probes = append(o.Probes, probes...)
	return o
}

// Close ends the component (leadership lost): it releases its upload slot.
// In-flight operations complete to nobody; a put that lands is an orphan.
func (t *Tier) Close() {
	t.cold.Abort(sm.CodeNotLeader, sm.NoNode)
	if t.up != nil {
		t.up = nil
		t.budget.release()
	}
	t.fenced = true
}

// CheckInvariants verifies the recorded segments are contiguous and within
// the uploaded range.
func (t *Tier) CheckInvariants() error {
	for i, s := range t.segs {
		if s.Next <= s.Base {
			return fmt.Errorf("tier: %v: recorded segment %s is empty [%d, %d)", t.cfg.TP, s.Name, s.Base, s.Next)
		}
		if i > 0 && t.segs[i-1].Next != s.Base {
			return fmt.Errorf("tier: %v: recorded segments not contiguous at %d (%d before)", t.cfg.TP, s.Base, t.segs[i-1].Next)
		}
	}
	if t.loaded && len(t.segs) > 0 && t.segs[len(t.segs)-1].Next > t.remote.End {
		return fmt.Errorf("tier: %v: recorded segments end at %d past the uploaded end %d", t.cfg.TP, t.segs[len(t.segs)-1].Next, t.remote.End)
	}
	if t.up != nil && t.budget.used == 0 {
		return fmt.Errorf("tier: %v: an upload in flight holds no budget", t.cfg.TP)
	}
	return t.cold.CheckInvariants()
}
