package controller

import (
	"fmt"
	"maps"
	"slices"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/assert"
)

// Tiered storage: the controller's records of uploaded segments.
//
// Per partition the metadata keeps the recorded segments (sm.RemoteSegment)
// in offset order, contiguous — each starts where the previous one ends —
// and PartitionState.Remote summarises them (Start, End, Bytes, Segments).
// Records change only through raft, like everything else in the metadata:
//
//   - commit_segment (CommitSegmentRequest) appends one segment. It is
//     accepted, in log order, only from the partition's current leader at
//     its current leader epoch, for the topic's current ID, when the
//     segment continues the uploaded range (Base == Remote.End; any Base
//     while nothing was ever uploaded) and its object name is the one an
//     upload of exactly that segment chose. A retried request for a segment
//     already recorded (a lost reply) answers OK and changes nothing.
//   - drop_remote_segments (DropRemoteSegmentsRequest) removes the oldest
//     segments up to a recorded boundary (remote retention): Remote.Start
//     moves up, Remote.End never moves back.
//
// Either bumps the partition's version, so the next metadata delta carries
// the new Remote, and never its PartitionEpoch: an uploaded segment says
// nothing about the ISR, and an AlterISR in flight must still apply.
//
// End only grows and leader epochs only grow, which is what the garbage
// collector (gc.go) relies on: an object no record refers to whose base is
// below End, or whose epoch is below the partition's leader epoch, can
// never be recorded.

// remoteSegmentsPage is the default and largest page of a
// RemoteSegmentsRequest.
const remoteSegmentsPage = 1000

// commitSegment records one uploaded segment (sm.CommitSegmentRequest).
type commitSegment struct {
	Broker      sm.NodeID         `json:"broker"`
	TP          sm.TopicPartition `json:"tp"`
	TopicID     sm.TopicID        `json:"topic_id"`
	LeaderEpoch sm.Epoch          `json:"leader_epoch"`
	Segment     sm.RemoteSegment  `json:"segment"`
}

// dropRemoteSegments removes the recorded segments below a boundary
// (sm.DropRemoteSegmentsRequest).
type dropRemoteSegments struct {
	Broker      sm.NodeID         `json:"broker"`
	TP          sm.TopicPartition `json:"tp"`
	TopicID     sm.TopicID        `json:"topic_id"`
	LeaderEpoch sm.Epoch          `json:"leader_epoch"`
	Below       sm.Offset         `json:"below"`
}

// checkSegmentShape returns why s cannot be an upload of topic id's
// partition at leader epoch epoch, whatever the state, or "".
func checkSegmentShape(s *sm.RemoteSegment, id sm.TopicID, partition int32, epoch sm.Epoch) string {
	if why := checkSegmentRange(s); why != "" {
		return why
	}
	if s.LeaderEpoch != epoch {
		return fmt.Sprintf("segment epoch %d differs from the request's leader epoch %d", s.LeaderEpoch, epoch)
	}
	n, err := sm.ParseObjectName(s.Name)
	if err != nil {
		return err.Error()
	}
	if n.TopicID != id || n.Partition != partition || n.Base != s.Base || n.Epoch != epoch {
		return fmt.Sprintf("object %q names topic %v partition %d base %d epoch %d, not topic %v partition %d base %d epoch %d",
			s.Name, n.TopicID, n.Partition, n.Base, n.Epoch, id, partition, s.Base, epoch)
	}
	return ""
}

// checkRecordShape is checkSegmentShape of a record at its own epoch;
// without deep it skips parsing the name.
func checkRecordShape(s *sm.RemoteSegment, id sm.TopicID, partition int32, deep bool) string {
	if deep {
		return checkSegmentShape(s, id, partition, s.LeaderEpoch)
	}
	return checkSegmentRange(s)
}

// checkSegmentRange returns why s's offsets and sizes are impossible, or "".
func checkSegmentRange(s *sm.RemoteSegment) string {
	switch {
	case s.Base < 0:
		return fmt.Sprintf("base %d is negative", s.Base)
	case s.Next <= s.Base:
		return fmt.Sprintf("next %d not after base %d", s.Next, s.Base)
	case s.DataBytes <= 0:
		return fmt.Sprintf("data bytes %d not positive", s.DataBytes)
	case s.IndexBytes < 0:
		return fmt.Sprintf("index bytes %d negative", s.IndexBytes)
	}
	return ""
}

// sameSegment reports whether a and b are the same record.
func sameSegment(a, b *sm.RemoteSegment) bool {
	return a.Name == b.Name && a.Base == b.Base && a.Next == b.Next && a.DataBytes == b.DataBytes &&
		a.IndexBytes == b.IndexBytes && a.MaxTimestamp == b.MaxTimestamp && a.LeaderEpoch == b.LeaderEpoch &&
		slices.Equal(a.Epochs, b.Epochs)
}

// remotePartition finds the partition a tiering command names, checking
// the topic's current ID.
func (md *metadata) remotePartition(tp sm.TopicPartition, id sm.TopicID) (*topicEntry, *partitionEntry, result) {
	p := md.partition(tp)
	if p == nil {
		return nil, nil, fail(sm.CodeUnknownTopic, "partition %v does not exist", tp)
	}
	t := md.topics[tp.Topic]
	if t.info.ID != id {
		return nil, nil, fail(sm.CodeUnknownTopic, "topic %q has id %v, not %v (deleted and created again)", tp.Topic, t.info.ID, id)
	}
	return t, p, result{}
}

// fenceTiering refuses a tiering command from anyone but the partition's
// current leader at its current leader epoch.
func fenceTiering(broker sm.NodeID, epoch sm.Epoch, st *sm.PartitionState) (result, bool) {
	if broker == sm.NoNode || broker != st.Leader || epoch != st.LeaderEpoch {
		return fail(sm.CodeFencedLeaderEpoch, "broker %v at leader epoch %d is not the leader of %v (leader %v, epoch %d)",
			broker, epoch, st.TP, st.Leader, st.LeaderEpoch), false
	}
	return result{}, true
}

// recorded returns the index of the record of p based at base, or -1.
func (p *partitionEntry) recorded(base sm.Offset) int {
	i, found := slices.BinarySearchFunc(p.remote, base, func(s sm.RemoteSegment, b sm.Offset) int {
		switch {
		case s.Base < b:
			return -1
		case s.Base > b:
			return 1
		}
		return 0
	})
	if !found {
		return -1
	}
	return i
}

// refers reports whether a record of p names object name based at base.
func (p *partitionEntry) refers(name string, base sm.Offset) bool {
	i := p.recorded(base)
	return i >= 0 && p.remote[i].Name == name
}

// uploadedEver reports whether p ever recorded a segment: after that a
// commit must continue at Remote.End.
func uploadedEver(r sm.RemoteLog) bool { return r.End != 0 || r.Segments != 0 }

// checkContinues returns why s does not continue st's uploaded range, or "".
func checkContinues(s *sm.RemoteSegment, st *sm.PartitionState) string {
	if uploadedEver(st.Remote) && s.Base != st.Remote.End {
		return fmt.Sprintf("segment [%d, %d) of %v does not continue the uploaded range [%d, %d)",
			s.Base, s.Next, st.TP, st.Remote.Start, st.Remote.End)
	}
	return ""
}

// applyCommitSegment records c's segment if it may be (see the top of this
// file). Every answer for an existing partition carries its uploaded range
// after the command.
func (md *metadata) applyCommitSegment(c *commitSegment) result {
	_, p, r := md.remotePartition(c.TP, c.TopicID)
	if p == nil {
		return r
	}
	r = md.commitSegment(c, p)
	r.remote = p.state.Remote
	return r
}

func (md *metadata) commitSegment(c *commitSegment, p *partitionEntry) result {
	st := &p.state
	if why := checkSegmentShape(&c.Segment, c.TopicID, c.TP.Partition, c.LeaderEpoch); why != "" {
		return fail(sm.CodeInvalidRequest, "segment for %v: %s", c.TP, why)
	}
	if i := p.recorded(c.Segment.Base); i >= 0 && sameSegment(&p.remote[i], &c.Segment) {
		return result{} // a retry after a lost reply: it is recorded
	}
	if r, ok := fenceTiering(c.Broker, c.LeaderEpoch, st); !ok {
		md.probes = append(md.probes, sm.ProbeZombieUploadRejected)
		return r
	}
	if why := checkContinues(&c.Segment, st); why != "" {
		return fail(sm.CodeRemoteMismatch, "%s", why)
	}
	seg := c.Segment
	seg.Epochs = slices.Clip(seg.Epochs)
	if len(seg.Epochs) == 0 {
		seg.Epochs = nil
	}
	p.remote = append(p.remote, seg)
	md.resummarise(p)
	return result{}
}

// applyDropRemote removes the recorded segments below c.Below, a recorded
// boundary (nothing when it is at or below the uploaded start).
func (md *metadata) applyDropRemote(c *dropRemoteSegments) result {
	_, p, r := md.remotePartition(c.TP, c.TopicID)
	if p == nil {
		return r
	}
	r = md.dropRemote(c, p)
	r.remote = p.state.Remote
	return r
}

func (md *metadata) dropRemote(c *dropRemoteSegments, p *partitionEntry) result {
	st := &p.state
	if r, ok := fenceTiering(c.Broker, c.LeaderEpoch, st); !ok {
		return r
	}
	if c.Below <= st.Remote.Start {
		return result{} // already dropped (or never uploaded)
	}
	i := slices.IndexFunc(p.remote, func(s sm.RemoteSegment) bool { return s.Next == c.Below })
	if i < 0 {
		return fail(sm.CodeRemoteMismatch, "%d is not a segment boundary of %v's uploaded range [%d, %d)", c.Below, c.TP, st.Remote.Start, st.Remote.End)
	}
	p.remote = slices.Clone(p.remote[i+1:])
	if len(p.remote) == 0 {
		p.remote = nil
	}
	md.resummarise(p)
	return result{}
}

// resummarise sets p's Remote from its records after a change and marks
// the change (the partition's version, not its epoch).
func (md *metadata) resummarise(p *partitionEntry) {
	r := summarise(p.remote, p.state.Remote.End)
	assert.That(r.End >= p.state.Remote.End, "controller: %v uploaded range end went back from %d to %d", p.state.TP, p.state.Remote.End, r.End)
	assert.That(r.Start >= p.state.Remote.Start, "controller: %v uploaded range start went back from %d to %d", p.state.TP, p.state.Remote.Start, r.Start)
	p.state.Remote = r
	p.version = md.touch()
}

// summarise is the RemoteLog of segs (contiguous, in order) for a
// partition whose uploaded range ended at end before: with no segments
// left it is empty at end, which the next commit must continue.
func summarise(segs []sm.RemoteSegment, end sm.Offset) sm.RemoteLog {
	if len(segs) == 0 {
		return sm.RemoteLog{Start: end, End: end}
	}
	r := sm.RemoteLog{Start: segs[0].Base, End: segs[len(segs)-1].Next, Segments: int32(len(segs))}
	for i := range segs {
		r.Bytes += segs[i].Bytes()
	}
	return r
}

// checkRemote verifies one partition's records against its summary; deep
// also checks every record's object name (see metadata.checkDepth).
func checkRemote(t *topicEntry, p *partitionEntry, deep bool) error {
	st := &p.state
	if len(p.remote) > 0 && p.remote[0].Base < 0 {
		return fmt.Errorf("controller: %v first uploaded segment at negative base %d", st.TP, p.remote[0].Base)
	}
	for i := range p.remote {
		s := &p.remote[i]
		if why := checkRecordShape(s, t.info.ID, st.TP.Partition, deep); why != "" {
			return fmt.Errorf("controller: %v uploaded segment %d: %s", st.TP, i, why)
		}
		if i > 0 && s.Base != p.remote[i-1].Next {
			return fmt.Errorf("controller: %v uploaded segments not contiguous: [%d, %d) then [%d, %d)", st.TP, p.remote[i-1].Base, p.remote[i-1].Next, s.Base, s.Next)
		}
		if s.LeaderEpoch > st.LeaderEpoch {
			return fmt.Errorf("controller: %v uploaded segment at %d from epoch %d beyond the leader epoch %d", st.TP, s.Base, s.LeaderEpoch, st.LeaderEpoch)
		}
	}
	if want := summarise(p.remote, st.Remote.End); st.Remote != want || (len(p.remote) == 0 && st.Remote.End < 0) {
		return fmt.Errorf("controller: %v remote %+v does not summarise its %d uploaded segments (%+v)", st.TP, st.Remote, len(p.remote), want)
	}
	return nil
}

// ---- leader side -----------------------------------------------------------

// onCommitSegment rejects at once what the leader's applied state already
// refuses for good — a malformed segment, an epoch below the current one,
// a base below the uploaded end (epochs and the end only grow) — and
// proposes the rest; the entry is checked again where it applies, since
// this leader's applied state may lag the log.
func (n *Node) onCommitSegment(from sm.NodeID, req sm.CommitSegmentRequest) {
	reply := func(r result) {
		n.send(from, sm.CommitSegmentResponse{ReqID: req.ReqID, TP: req.TP, Code: r.code, Message: r.message, LeaderHint: n.Leader(), Remote: r.remote})
	}
	if !n.IsLeader() {
		reply(fail(sm.CodeNotLeader, "not the controller leader"))
		return
	}
	_, p, r := n.md.remotePartition(req.TP, req.TopicID)
	if p != nil {
		r = n.refuseCommit(&req, p)
		r.remote = p.state.Remote
	} else if why := checkSegmentShape(&req.Segment, req.TopicID, req.TP.Partition, req.LeaderEpoch); why != "" {
		r = fail(sm.CodeInvalidRequest, "segment for %v: %s", req.TP, why)
	} else {
		r = result{code: codePropose}
	}
	if r.code != codePropose {
		reply(r)
		return
	}
	seg := req.Segment
	seg.Epochs = slices.Clone(seg.Epochs)
	c := &commitSegment{Broker: req.Broker, TP: req.TP, TopicID: req.TopicID, LeaderEpoch: req.LeaderEpoch, Segment: seg}
	prop := &proposal{client: from, reqID: req.ReqID, tp: req.TP}
	if _, err := n.propose(&command{CommitSegment: c}, prop); err != nil {
		reply(fail(sm.CodeLeaderNotAvailable, "%v", err))
	}
}

// codePropose is refuseCommit's "no answer yet: propose it".
const codePropose sm.Code = 0xffff

// refuseCommit is the leader's answer to req from its applied state when
// that answer is final, else codePropose: a malformed segment, a retry of
// a recorded one (OK), an epoch below the current one, a base below the
// uploaded end (epochs and the end only grow).
func (n *Node) refuseCommit(req *sm.CommitSegmentRequest, p *partitionEntry) result {
	st := &p.state
	if why := checkSegmentShape(&req.Segment, req.TopicID, req.TP.Partition, req.LeaderEpoch); why != "" {
		return fail(sm.CodeInvalidRequest, "segment for %v: %s", req.TP, why)
	}
	switch i := p.recorded(req.Segment.Base); {
	case i >= 0 && sameSegment(&p.remote[i], &req.Segment):
		return result{}
	case req.LeaderEpoch < st.LeaderEpoch:
		n.probe(sm.ProbeZombieUploadRejected)
		r, _ := fenceTiering(req.Broker, req.LeaderEpoch, st)
		return r
	case uploadedEver(st.Remote) && req.Segment.Base < st.Remote.End:
		return fail(sm.CodeRemoteMismatch, "%s", checkContinues(&req.Segment, st))
	}
	return result{code: codePropose}
}

// onDropRemoteSegments proposes the drop; it is decided where it applies.
func (n *Node) onDropRemoteSegments(from sm.NodeID, req sm.DropRemoteSegmentsRequest) {
	reply := func(r result) {
		n.send(from, sm.DropRemoteSegmentsResponse{ReqID: req.ReqID, TP: req.TP, Code: r.code, Message: r.message, LeaderHint: n.Leader(), Remote: r.remote})
	}
	if !n.IsLeader() {
		reply(fail(sm.CodeNotLeader, "not the controller leader"))
		return
	}
	c := &dropRemoteSegments{Broker: req.Broker, TP: req.TP, TopicID: req.TopicID, LeaderEpoch: req.LeaderEpoch, Below: req.Below}
	p := &proposal{client: from, reqID: req.ReqID, tp: req.TP}
	if _, err := n.propose(&command{DropRemote: c}, p); err != nil {
		reply(fail(sm.CodeLeaderNotAvailable, "%v", err))
	}
}

// onRemoteSegments answers a page of a partition's records from the
// leader's applied state (a follower sends the client to the leader, so a
// broker never reads records older than what the leader answered before).
func (n *Node) onRemoteSegments(from sm.NodeID, req sm.RemoteSegmentsRequest) {
	resp := sm.RemoteSegmentsResponse{ReqID: req.ReqID, TP: req.TP, LeaderHint: n.Leader()}
	if !n.IsLeader() {
		resp.Code, resp.Message = sm.CodeNotLeader, "not the controller leader"
		n.send(from, resp)
		return
	}
	_, p, r := n.md.remotePartition(req.TP, req.TopicID)
	if p == nil {
		resp.Code, resp.Message = r.code, r.message
		n.send(from, resp)
		return
	}
	limit := int(req.Max)
	if limit <= 0 || limit > remoteSegmentsPage {
		limit = remoteSegmentsPage
	}
	i, _ := slices.BinarySearchFunc(p.remote, req.From, func(s sm.RemoteSegment, from sm.Offset) int {
		if s.Next <= from {
			return -1
		}
		return 1
	})
	page := p.remote[i:]
	if len(page) > limit {
		page, resp.More = page[:limit], true
	}
	resp.Remote = p.state.Remote
	resp.Segments = cloneSegments(page)
	n.send(from, resp)
}

func cloneSegments(segs []sm.RemoteSegment) []sm.RemoteSegment {
	if len(segs) == 0 {
		return nil
	}
	out := slices.Clone(segs)
	for i := range out {
		out[i].Epochs = slices.Clone(out[i].Epochs)
	}
	return out
}

// RemoteSegments returns every partition's recorded segments in the
// applied state (copies; partitions without records are absent), for the
// simulator's checkers: no object they name may ever be missing.
func (n *Node) RemoteSegments() map[sm.TopicPartition][]sm.RemoteSegment {
	out := map[sm.TopicPartition][]sm.RemoteSegment{}
	for _, name := range slices.Sorted(maps.Keys(n.md.topics)) {
		for _, p := range n.md.topics[name].partitions {
			if len(p.remote) > 0 {
				out[p.state.TP] = cloneSegments(p.remote)
			}
		}
	}
	return out
}

// MetadataVersion is the applied metadata's version: it changes whenever
// anything in the metadata does, records included, so a checker can skip
// RemoteSegments and Metadata (both copy everything) while it stands still.
func (n *Node) MetadataVersion() uint64 { return n.md.version }
