package testkit

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/weirmq/weir/sm"
)

// Disk is one simulated process's disk: its partition logs and its raft
// state. It implements runtime.LogStore, runtime.LogReader and
// runtime.RaftStore, keeping their promises the way a real store would, but
// completes nothing on its own: an operation or read waits until the test
// completes it (CompleteLog, CompleteRead, CompleteRaft).
//
//   - A partition log is a list of segments as io/wal keeps them
//     (sm/segment.go): every segment but the last sealed, with its index file
//     (sm.EncodeSegmentIndex) beside it, and the topic ID the log was created
//     with, and a LogDamaged record. Every LogOp kind does what
//     sm/effects.go says; an op the store must refuse as an I/O error
//     (another topic ID, an append that does not start at the log end, a
//     roll of an empty segment, a trim not to a segment base, a cut inside
//     a batch) completes OutcomeUnknown and poisons the disk, as a real
//     store stops.
//   - Operations on one partition log complete in issue order; the test picks
//     which log completes next, so different logs complete in any order it
//     likes.
//   - A completed operation takes effect on the log; it is durable (survives
//     PowerLoss) when it asked for Sync, and every kind but an append is
//     synced. An uncompleted one has not taken effect: Crash and PowerLoss
//     drop it (Crash may tear an append).
//   - OutcomeFailed leaves nothing behind, and from then on every append to
//     that log that does not start at its end is refused too, so the log
//     never has a gap (runtime.LogStore).
//   - OutcomeUnknown poisons the disk: this and every later completion, log
//     or raft, is unknown, and nothing more is written.
//   - A read takes the bytes of completed operations when it is issued and
//     completes when the test says, in any order; a read of a segment gone by
//     then fails (runtime.LogReader).
//   - Manifests is what a store's Open finds: the logs' manifests, torn tails
//     cut, indexes rebuilt where their files were lost, damage recorded by
//     LogDamaged reported and the manifest cut there.
//
// Raft saves complete in issue order too; a synced save makes every earlier
// save durable (one file, one fsync).
type Disk struct {
	logs    map[sm.TopicPartition]*tlog // as completed operations left them
	durable map[sm.TopicPartition]*tlog // as the last synced operation left them
	refused map[sm.TopicPartition]bool
	// pending holds issued, uncompleted log operations in issue order.
	pending []sm.LogOp
	// reads holds issued, uncompleted log reads in issue order.
	reads []pendingRead
	// History is every log operation ever issued to this disk, in order.
	History []sm.LogOp
	// IndexesRebuilt counts the index files Manifests found lost or
	// corrupt and rebuilt from their segments.
	IndexesRebuilt int

	raftPending []sm.RaftSave
	raft        raftState // completed saves
	raftSynced  raftState // what a power loss keeps
	poisoned    string
	gen         uint64 // names segments, so a read can tell its segment went
}

// tlog is one partition log. It is never changed in place once another
// holder (the durable copy, a read) may share it: every change builds a new
// one (change), and segment data only grows by appending past its capacity.
type tlog struct {
	id   sm.TopicID
	segs []tseg
	// damaged is the LogDamaged record: from damagedAt on (damaged set).
	damaged   string
	damagedAt sm.Offset
	// next caches the active segment's end and whole whether it decodes
	// whole (known: the cache is valid), so appends do not rescan it.
	next         sm.Offset
	whole, known bool
}

type tseg struct {
	gen  uint64
	base sm.Offset
	data []byte
	// index is the index file of a sealed segment (nil: active, or lost).
	index  []byte
	sealed bool
}

type pendingRead struct {
	r    sm.LogRead
	data []byte
	gen  uint64 // the segment read; 0: none
	err  string
}

type raftState struct {
	hs      *pb.HardState
	snap    *pb.Snapshot
	entries []*pb.Entry
}

func (r raftState) apply(s sm.RaftSave) raftState {
	if s.Snapshot != nil {
		// sm.RaftSave: entries up to the snapshot go; those after it stay
		// only if the log holds the snapshot's last entry.
		idx, term := s.Snapshot.GetMetadata().GetIndex(), s.Snapshot.GetMetadata().GetTerm()
		keep := slices.ContainsFunc(r.entries, func(e *pb.Entry) bool { return e.GetIndex() == idx && e.GetTerm() == term })
		r.entries = slices.DeleteFunc(slices.Clone(r.entries), func(e *pb.Entry) bool { return e.GetIndex() <= idx || !keep })
		r.snap = s.Snapshot
	}
	if len(s.Entries) > 0 {
		first := s.Entries[0].GetIndex()
		r.entries = slices.DeleteFunc(slices.Clone(r.entries), func(e *pb.Entry) bool { return e.GetIndex() >= first })
		r.entries = append(r.entries, s.Entries...)
	}
	if s.HardState != nil {
		r.hs = s.HardState
	}
	return r
}

// NewDisk returns an empty disk.
func NewDisk() *Disk {
	return &Disk{logs: map[sm.TopicPartition]*tlog{}, durable: map[sm.TopicPartition]*tlog{}, refused: map[sm.TopicPartition]bool{}}
}

// NewDiskFrom returns a disk holding logs, all of it synced, each log one
// segment from its first batch's offset (0 when empty).
func NewDiskFrom(logs map[sm.TopicPartition][]byte) *Disk {
	d := NewDisk()
	for tp, b := range logs {
		base := dataStart(b)
		if base < 0 {
			base = 0
		}
		l := &tlog{segs: []tseg{d.newSeg(base)}}
		l.segs[0].data = slices.Clip(slices.Clone(b))
		d.logs[tp], d.durable[tp] = l, l
	}
	return d
}

func (d *Disk) newSeg(base sm.Offset) tseg {
	d.gen++
	return tseg{gen: d.gen, base: base}
}

// StartLog implements runtime.LogStore: the operations wait for the test.
func (d *Disk) StartLog(ops []sm.LogOp) {
	d.pending = append(d.pending, ops...)
	d.History = append(d.History, ops...)
}

// StartRead implements runtime.LogReader: each read takes the bytes of the
// operations completed so far and waits for the test.
func (d *Disk) StartRead(reads []sm.LogRead) {
	for _, r := range reads {
		d.reads = append(d.reads, d.snapshot(r))
	}
}

// StartRaft implements runtime.RaftStore: the saves wait for the test.
func (d *Disk) StartRaft(saves []sm.RaftSave) {
	d.raftPending = append(d.raftPending, saves...)
}

// Pending returns the uncompleted log operations in issue order.
func (d *Disk) Pending() []sm.LogOp { return slices.Clone(d.pending) }

// PendingOn returns tp's uncompleted log operations in issue order.
func (d *Disk) PendingOn(tp sm.TopicPartition) []sm.LogOp {
	var out []sm.LogOp
	for _, op := range d.pending {
		if op.TP == tp {
			out = append(out, op)
		}
	}
	return out
}

// PendingLogs returns the logs with uncompleted operations, sorted.
func (d *Disk) PendingLogs() []sm.TopicPartition {
	var tps []sm.TopicPartition
	for _, op := range d.pending {
		if !slices.Contains(tps, op.TP) {
			tps = append(tps, op.TP)
		}
	}
	slices.SortFunc(tps, sm.CompareTP)
	return tps
}

// PendingReads returns the uncompleted log reads in issue order.
func (d *Disk) PendingReads() []sm.LogRead {
	out := make([]sm.LogRead, len(d.reads))
	for i, p := range d.reads {
		out[i] = p.r
	}
	return out
}

// PendingRaft returns the uncompleted raft saves in issue order.
func (d *Disk) PendingRaft() []sm.RaftSave { return slices.Clone(d.raftPending) }

// Log returns tp's bytes as completed operations left them, its segments'
// one after the other (nil: no log).
func (d *Disk) Log(tp sm.TopicPartition) []byte { return d.logs[tp].bytes() }

// Logs returns a copy of every log's bytes.
func (d *Disk) Logs() map[sm.TopicPartition][]byte {
	out := make(map[sm.TopicPartition][]byte, len(d.logs))
	for tp, l := range d.logs {
		out[tp] = slices.Clone(l.bytes())
	}
	return out
}

// Synced returns a copy of every log as a power loss would leave it.
func (d *Disk) Synced() map[sm.TopicPartition][]byte {
	out := make(map[sm.TopicPartition][]byte, len(d.durable))
	for tp, l := range d.durable {
		out[tp] = slices.Clone(l.bytes())
	}
	return out
}

// Segments returns the bases of tp's segments, in order (nil: no log).
func (d *Disk) Segments(tp sm.TopicPartition) []sm.Offset {
	l := d.logs[tp]
	if l == nil {
		return nil
	}
	out := make([]sm.Offset, len(l.segs))
	for i, s := range l.segs {
		out[i] = s.base
	}
	return out
}

// TopicID returns the topic ID tp's log was created with.
func (d *Disk) TopicID(tp sm.TopicPartition) sm.TopicID {
	if l := d.logs[tp]; l != nil {
		return l.id
	}
	return sm.TopicID{}
}

func (l *tlog) bytes() []byte {
	switch {
	case l == nil:
		return nil
	case len(l.segs) == 1:
		return l.segs[0].data
	}
	var out []byte
	for _, s := range l.segs {
		out = append(out, s.data...)
	}
	return out
}

// Raft returns the completed raft hard state and entries.
func (d *Disk) Raft() (*pb.HardState, []*pb.Entry) { return d.raft.hs, slices.Clone(d.raft.entries) }

// RaftSnapshot returns the completed raft snapshot (nil if none).
func (d *Disk) RaftSnapshot() *pb.Snapshot { return d.raft.snap }

// Durable is what a process restarting from this disk finds (the runtime
// hands it to the node's constructor): the logs' manifests and damage as a
// store's Open finds them (Manifests: torn tails cut, indexes rebuilt, a
// log with a LogDamaged record reported damaged and cut there) and the raft
// state.
func (d *Disk) Durable() sm.Durable {
	d.reads = nil // reads in flight went with the process
	hs, ents := d.Raft()
	ms, damaged := d.Manifests()
	return sm.Durable{Manifests: ms, Damaged: damaged, HardState: hs, Snapshot: d.raft.snap, Entries: ents}
}

// Poisoned reports why the disk answers every operation unknown ("" if it
// does not).
func (d *Disk) Poisoned() string { return d.poisoned }

// CompleteNext completes the oldest uncompleted log operation of any log;
// ok is false when none is pending.
func (d *Disk) CompleteNext(outcome sm.Outcome, reason string) (done sm.LogDone, ok bool) {
	if len(d.pending) == 0 {
		return sm.LogDone{}, false
	}
	return d.complete(0, outcome, reason), true
}

// CompleteLog completes tp's oldest uncompleted operation; ok is false when
// tp has none. The outcome may be turned into another one the store's
// promises require (a refused log refuses a gap; an op a store must refuse
// as an I/O error, or a poisoned disk, answers unknown): the returned
// completion is the one to deliver.
func (d *Disk) CompleteLog(tp sm.TopicPartition, outcome sm.Outcome, reason string) (done sm.LogDone, ok bool) {
	i := slices.IndexFunc(d.pending, func(op sm.LogOp) bool { return op.TP == tp })
	if i < 0 {
		return sm.LogDone{}, false
	}
	return d.complete(i, outcome, reason), true
}

func (d *Disk) complete(i int, outcome sm.Outcome, reason string) sm.LogDone {
	op := d.pending[i]
	d.pending = slices.Delete(d.pending, i, i+1)
	if d.poisoned != "" {
		return sm.LogDone{ID: op.ID, Outcome: sm.OutcomeUnknown, Reason: d.poisoned}
	}
	if outcome == sm.OutcomeOK && op.Kind == sm.LogAppend && d.refused[op.TP] {
		if end, start := d.logs[op.TP].end(), dataStart(op.Data); start != end {
			outcome, reason = sm.OutcomeFailed, fmt.Sprintf("testkit: append at %d to %v, which ends at %d after a refusal", start, op.TP, end)
		}
	}
	switch outcome {
	case sm.OutcomeOK:
		if err := d.apply(op); err != "" {
			outcome, reason = sm.OutcomeUnknown, "testkit: "+err
			d.poisoned = reason
		}
	case sm.OutcomeFailed:
		if op.Kind != sm.LogAppend {
			panic(fmt.Sprintf("testkit: only appends can be refused, not %v %d on %v", op.Kind, op.ID, op.TP))
		}
		d.refused[op.TP] = true
	case sm.OutcomeUnknown:
		if reason == "" {
			reason = "testkit: input/output error"
		}
		d.poisoned = reason
	}
	if reason == "" && outcome == sm.OutcomeFailed {
		reason = "testkit: append refused"
	}
	return sm.LogDone{ID: op.ID, Outcome: outcome, Reason: reason}
}

func (d *Disk) apply(op sm.LogOp) string {
	l, err := d.applyTo(d.logs[op.TP], op, true)
	if err != "" {
		return err
	}
	if l == nil {
		delete(d.logs, op.TP)
	} else {
		d.logs[op.TP] = l
	}
	if op.Kind == sm.LogAppend {
		d.refused[op.TP] = false
	}
	if op.Kind == sm.LogDelete || op.Kind == sm.LogReset {
		delete(d.refused, op.TP)
	}
	if op.Sync || op.Roll || op.Kind != sm.LogAppend {
		if l != nil {
			d.durable[op.TP] = l
		} else {
			delete(d.durable, op.TP)
		}
	}
	return ""
}

// applyTo returns log l after op, as a log store must change it, or why a
// store refuses op as an I/O error (checked only when strict: a power
// loss's partial write lands unchecked). l itself is not changed.
func (d *Disk) applyTo(l *tlog, op sm.LogOp, strict bool) (*tlog, string) {
	if strict && l != nil && op.TopicID != (sm.TopicID{}) && l.id != (sm.TopicID{}) && op.TopicID != l.id {
		return nil, fmt.Sprintf("%v %v: log belongs to topic ID %v, not %v", op.Kind, op.TP, l.id, op.TopicID)
	}
	switch op.Kind {
	case sm.LogDelete:
		return nil, ""
	case sm.LogReset:
		id := op.TopicID
		if l != nil && l.id != (sm.TopicID{}) {
			id = l.id
		}
		return &tlog{id: id, segs: []tseg{d.newSeg(op.Offset)}}, ""
	case sm.LogAppend:
		roll := op.Roll && l != nil // a roll of no log just creates it
		if l == nil {
			base := dataStart(op.Data)
			if base < 0 {
				base = 0
			}
			l = &tlog{id: op.TopicID, segs: []tseg{d.newSeg(base)}}
		}
		l = l.change(op.TopicID)
		if end, whole := l.endWhole(); strict && whole && dataStart(op.Data) != end {
			return nil, fmt.Sprintf("append to %v: batch base offset %d, log ends at %d", op.TP, dataStart(op.Data), end)
		}
		if roll {
			a := &l.segs[len(l.segs)-1]
			idx, serr := sm.ScanSegment(a.data, a.base, 0)
			switch {
			case strict && serr != nil:
				return nil, fmt.Sprintf("roll %v: segment %d: %v", op.TP, a.base, serr)
			case strict && idx.Next == a.base:
				return nil, fmt.Sprintf("roll %v at %d: the active segment is empty", op.TP, a.base)
			}
			idx.Sealed = true
			a.index, a.sealed = sm.EncodeSegmentIndex(nil, &idx), true
			base := dataStart(op.Data)
			if base < 0 { // a torn rolling append (a crash): the roll reached the disk
				base = idx.Next
			}
			l.segs = append(l.segs, d.newSeg(base))
			l.next, l.whole, l.known = base, true, true
		}
		a := &l.segs[len(l.segs)-1]
		a.data = append(slices.Clip(a.data), op.Data...)
		if l.known && l.whole {
			for pos := 0; pos < len(op.Data); {
				b, n, err := sm.DecodeBatch(op.Data[pos:])
				if err != nil {
					l.whole = false
					break
				}
				l.next, pos = b.NextOffset(), pos+n
			}
		} else {
			l.known = false
		}
		return l, ""
	}
	if l == nil {
		return nil, fmt.Sprintf("%v %v: no such log", op.Kind, op.TP)
	}
	l = l.change(op.TopicID)
	l.known = false
	switch op.Kind {
	case sm.LogTruncate:
		if op.Offset < l.segs[0].base {
			return nil, fmt.Sprintf("truncate %v to %d: below the log start %d", op.TP, op.Offset, l.segs[0].base)
		}
		k := len(l.segs) - 1
		for k > 0 && l.segs[k].base > op.Offset {
			k--
		}
		s := &l.segs[k]
		pos := cutAt(s.data, op.Offset)
		if strict && pos < len(s.data) {
			if b, _, err := sm.DecodeBatch(s.data[pos:]); err == nil && b.BaseOffset < op.Offset {
				return nil, fmt.Sprintf("truncate %v to %d: inside batch [%d,%d)", op.TP, op.Offset, b.BaseOffset, b.NextOffset())
			}
		}
		l.segs = l.segs[:k+1]
		s.data = slices.Clip(s.data[:pos])
		s.index, s.sealed = nil, false
		if l.damaged != "" && op.Offset <= l.damagedAt {
			l.damaged = "" // the damaged range is cut
		}
	case sm.LogDamaged:
		if l.damaged == "" || op.Offset < l.damagedAt {
			l.damaged, l.damagedAt = op.Note, op.Offset
			if l.damaged == "" {
				l.damaged = "testkit: damaged"
			}
		}
	case sm.LogTrim:
		i := slices.IndexFunc(l.segs, func(s tseg) bool { return s.base == op.Offset })
		switch {
		case i >= 0:
			l.segs = l.segs[i:]
		case strict && op.Offset > l.segs[0].base:
			return nil, fmt.Sprintf("trim %v to %d: not a segment base", op.TP, op.Offset)
		}
	default:
		return nil, fmt.Sprintf("unknown log op kind %d", op.Kind)
	}
	return l, ""
}

// collapse is l as one segment holding every segment's frames (l itself
// when it has one).
func (l *tlog) collapse() *tlog {
	if l == nil || len(l.segs) <= 1 {
		return l
	}
	c := &tlog{id: l.id, damaged: l.damaged, damagedAt: l.damagedAt, segs: []tseg{{gen: l.segs[0].gen, base: l.segs[0].base, data: slices.Clip(l.bytes())}}}
	return c
}

// change returns a copy of l to change (recording id if l has none yet).
func (l *tlog) change(id sm.TopicID) *tlog {
	c := &tlog{id: l.id, segs: slices.Clone(l.segs), next: l.next, whole: l.whole, known: l.known, damaged: l.damaged, damagedAt: l.damagedAt}
	if c.id == (sm.TopicID{}) {
		c.id = id
	}
	return c
}

// end is the offset after the log's last whole frame (0: no log).
func (l *tlog) end() sm.Offset {
	e, _ := l.endWhole()
	return e
}

// endWhole is end, and whether the active segment decodes whole (no torn
// tail).
func (l *tlog) endWhole() (sm.Offset, bool) {
	if l == nil {
		return 0, true
	}
	if !l.known {
		a := l.segs[len(l.segs)-1]
		idx, serr := sm.ScanSegment(a.data, a.base, 0)
		l.next, l.whole, l.known = idx.Next, serr == nil, true
	}
	return l.next, l.whole
}

// ---- reads -------------------------------------------------------------------

func (d *Disk) snapshot(r sm.LogRead) pendingRead {
	p := pendingRead{r: r}
	l := d.logs[r.TP]
	if l == nil {
		p.err = fmt.Sprintf("testkit: read %v: no such log", r.TP)
		return p
	}
	i := slices.IndexFunc(l.segs, func(s tseg) bool { return s.base == r.Segment })
	if i < 0 {
		p.err = fmt.Sprintf("testkit: read %v: no segment %d", r.TP, r.Segment)
		return p
	}
	buf := l.segs[i].data
	if r.Pos < 0 || r.Pos > int64(len(buf)) {
		p.err = fmt.Sprintf("testkit: read %v segment %d: byte %d beyond its end %d", r.TP, r.Segment, r.Pos, len(buf))
		return p
	}
	end := int(r.Pos)
	for end+4 <= len(buf) {
		n := 4 + int(binary.LittleEndian.Uint32(buf[end:]))
		if n > len(buf)-end || end > int(r.Pos) && end+n-int(r.Pos) > r.MaxBytes {
			break
		}
		end += n
	}
	p.data, p.gen = buf[r.Pos:end:end], l.segs[i].gen
	return p
}

// CompleteRead completes the oldest pending read (see CompleteReadID); ok
// is false when none is pending.
func (d *Disk) CompleteRead(outcome sm.Outcome, reason string) (done sm.LogReadDone, ok bool) {
	if len(d.reads) == 0 {
		return sm.LogReadDone{}, false
	}
	return d.CompleteReadID(d.reads[0].r.ID, outcome, reason)
}

// CompleteReadID completes read id; ok is false when no such read is
// pending. OutcomeOK returns the frames the read took when it was issued,
// or fails when the segment is gone (or never existed); OutcomeFailed is an
// I/O error (reason, or EIO). Reads are never unknown.
func (d *Disk) CompleteReadID(id sm.EffectID, outcome sm.Outcome, reason string) (done sm.LogReadDone, ok bool) {
	i := slices.IndexFunc(d.reads, func(p pendingRead) bool { return p.r.ID == id })
	if i < 0 {
		return sm.LogReadDone{}, false
	}
	p := d.reads[i]
	d.reads = slices.Delete(d.reads, i, i+1)
	done = sm.LogReadDone{ID: id}
	switch {
	case outcome == sm.OutcomeUnknown:
		panic(fmt.Sprintf("testkit: reads are never unknown (read %d)", id))
	case outcome == sm.OutcomeFailed:
		if reason == "" {
			reason = "testkit: read: input/output error (EIO)"
		}
		done.Outcome, done.Reason = sm.OutcomeFailed, reason
	case p.err != "":
		done.Outcome, done.Reason = sm.OutcomeFailed, p.err
	case !d.segmentExists(p.r.TP, p.gen):
		done.Outcome, done.Reason = sm.OutcomeFailed, fmt.Sprintf("testkit: read %v: segment %d is gone", p.r.TP, p.r.Segment)
	default:
		done.Data = slices.Clone(p.data) // the node's own buffer, as a real read fills
	}
	return done, true
}

// CompleteReads completes every pending read with OutcomeOK, in issue
// order, and returns the completions.
func (d *Disk) CompleteReads() []sm.LogReadDone {
	var out []sm.LogReadDone
	for len(d.reads) > 0 {
		done, _ := d.CompleteRead(sm.OutcomeOK, "")
		out = append(out, done)
	}
	return out
}

func (d *Disk) segmentExists(tp sm.TopicPartition, gen uint64) bool {
	l := d.logs[tp]
	return l != nil && slices.ContainsFunc(l.segs, func(s tseg) bool { return s.gen == gen })
}

// ---- recovery and damage -------------------------------------------------------

// Manifests is what a log store's Open finds on this disk — what a process
// restarting from it recovers from once nodes take manifests: for each log
// its manifest (sealed segments from their index files, rebuilt from the
// segment when lost or corrupt, counted in IndexesRebuilt; the active one
// scanned, a torn tail cut — the cut durable), and the logs whose sealed
// segments do not decode (a FlipBit), by segment and byte, with the valid
// prefix as their manifest.
func (d *Disk) Manifests() (map[sm.TopicPartition]sm.LogManifest, map[sm.TopicPartition]string) {
	out := map[sm.TopicPartition]sm.LogManifest{}
	var damaged map[sm.TopicPartition]string
	for _, tp := range slices.SortedFunc(maps.Keys(d.logs), sm.CompareTP) {
		m, dmg := d.recoverLog(tp)
		if l := d.logs[tp]; l.damaged != "" {
			m = l.cut(m, l.damagedAt)
			if dmg != "" {
				dmg = l.damaged + "; " + dmg
			} else {
				dmg = l.damaged
			}
		}
		if dmg != "" {
			if damaged == nil {
				damaged = map[sm.TopicPartition]string{}
			}
			damaged[tp] = dmg
		}
		out[tp] = m
	}
	return out, damaged
}

func (d *Disk) recoverLog(tp sm.TopicPartition) (sm.LogManifest, string) {
	l := d.logs[tp]
	m := sm.LogManifest{TopicID: l.id}
	last := sm.Epoch(0)
	for i, s := range l.segs {
		if i < len(l.segs)-1 {
			idx, err := sm.DecodeSegmentIndex(s.index)
			if err != nil || idx.Base != s.base || idx.Next != l.segs[i+1].base || idx.Bytes != int64(len(s.data)) {
				var serr *sm.ScanError
				idx, serr = sm.ScanSegment(s.data, s.base, last)
				if serr != nil || idx.Next != l.segs[i+1].base {
					idx.Sealed = false
					m.Segments = append(m.Segments, idx)
					return m, fmt.Sprintf("testkit: %v segment %d: sealed segment does not decode whole (%v)", tp, s.base, serr)
				}
				d.IndexesRebuilt++
				idx.Sealed = true
				c := l.change(l.id)
				c.segs[i].index = sm.EncodeSegmentIndex(nil, &idx)
				d.setBoth(tp, c)
				l = c
			}
			m.Segments = append(m.Segments, idx)
			last = idx.Epochs[len(idx.Epochs)-1].Epoch
			continue
		}
		idx, serr := sm.ScanSegment(s.data, s.base, last)
		if serr != nil {
			c := l.change(l.id)
			c.segs[i].data = slices.Clip(s.data[:serr.Pos])
			d.setBoth(tp, c)
		}
		m.Segments = append(m.Segments, idx)
	}
	return m, ""
}

// cut is m cut at off, where a LogDamaged record says the damage starts:
// the segment holding off becomes the last, active one, cut before the
// batch holding off. Nothing on the disk changes.
func (l *tlog) cut(m sm.LogManifest, off sm.Offset) sm.LogManifest {
	if m.End() <= off {
		return m
	}
	k := len(m.Segments) - 1
	for k > 0 && m.Segments[k].Base > off {
		k--
	}
	s := m.Segments[k]
	data := l.segs[k].data[:s.Bytes]
	pos := 0
	for pos < len(data) {
		b, n, err := sm.DecodeBatch(data[pos:])
		if err != nil || b.NextOffset() > off {
			break
		}
		pos += n
	}
	minEpoch := sm.Epoch(0)
	if k > 0 {
		e := m.Segments[k-1].Epochs
		minEpoch = e[len(e)-1].Epoch
	}
	idx, _ := sm.ScanSegment(data[:pos], s.Base, minEpoch)
	m.Segments = append(slices.Clip(m.Segments[:k]), idx)
	return m
}

// setBoth replaces tp's log, completed and durable alike (recovery's cut or
// rewrite, synced).
func (d *Disk) setBoth(tp sm.TopicPartition, l *tlog) { d.logs[tp], d.durable[tp] = l, l }

// FlipBit flips bit of byte pos in segment base of tp's log, at rest: in
// what reads return and in what a power loss keeps. Tests plant corruption
// with it.
func (d *Disk) FlipBit(tp sm.TopicPartition, base sm.Offset, pos int, bit uint) {
	l := d.logs[tp].change(sm.TopicID{})
	i := slices.IndexFunc(l.segs, func(s tseg) bool { return s.base == base })
	data := slices.Clone(l.segs[i].data)
	data[pos] ^= 1 << bit
	l.segs[i].data = data
	d.setBoth(tp, l)
}

// LoseIndex deletes the index file of sealed segment base of tp's log, at
// rest: the next Manifests rebuilds it.
func (d *Disk) LoseIndex(tp sm.TopicPartition, base sm.Offset) {
	l := d.logs[tp].change(sm.TopicID{})
	i := slices.IndexFunc(l.segs, func(s tseg) bool { return s.base == base })
	l.segs[i].index = nil
	d.setBoth(tp, l)
}

// CompleteRaft completes the oldest raft save; ok is false when none is
// pending. A poisoned disk answers unknown whatever outcome is asked.
func (d *Disk) CompleteRaft(outcome sm.Outcome, reason string) (done sm.RaftDone, ok bool) {
	if len(d.raftPending) == 0 {
		return sm.RaftDone{}, false
	}
	s := d.raftPending[0]
	d.raftPending = d.raftPending[1:]
	switch {
	case d.poisoned != "":
		return sm.RaftDone{ID: s.ID, Outcome: sm.OutcomeUnknown, Reason: d.poisoned}, true
	case outcome == sm.OutcomeOK:
		d.raft = d.raft.apply(s)
		if s.Sync {
			d.raftSynced = d.raft
		}
	case outcome == sm.OutcomeFailed:
		panic(fmt.Sprintf("testkit: raft saves are never refused (save %d)", s.ID))
	default:
		if reason == "" {
			reason = "testkit: input/output error"
		}
		d.poisoned = reason
	}
	return sm.RaftDone{ID: s.ID, Outcome: outcome, Reason: reason}, true
}

// Crash is a process crash: uncompleted operations and reads are lost,
// completed operations stay (they reached the page cache). When tear > 0,
// the first tear bytes (never the whole frame) of each log's first
// uncompleted append reach the active segment, a torn tail that recovery
// must cut. The poison goes with the process.
func (d *Disk) Crash(tear int) {
	seen := map[sm.TopicPartition]bool{}
	for _, op := range d.pending {
		if seen[op.TP] {
			continue
		}
		seen[op.TP] = true
		if tear > 0 && op.Kind == sm.LogAppend && len(op.Data) > 1 {
			part := op
			part.Data = op.Data[:min(tear, len(op.Data)-1)]
			if l, _ := d.applyTo(d.logs[op.TP], part, false); l != nil {
				d.logs[op.TP] = l
			}
		}
	}
	d.pending, d.raftPending, d.reads, d.poisoned = nil, nil, nil, ""
	clear(d.refused)
}

// PowerLoss is a machine crash: every uncompleted operation and read is
// lost, and so is every completed operation that was not synced (a later
// synced operation on the same log covers the earlier ones). The first
// uncompleted operation may have reached the disk in part, when its log had
// no unsynced changes: reached bytes of an append (all of it when reached
// is its length or more), or, when reached > 0, the whole of any other
// kind.
func (d *Disk) PowerLoss(reached int) {
	var first *sm.LogOp
	if len(d.pending) > 0 {
		first = &d.pending[0]
	}
	clean := first != nil && d.logs[first.TP] == d.durable[first.TP]
	d.logs = maps.Clone(d.durable)
	if clean && reached > 0 {
		op := *first
		if op.Kind == sm.LogAppend {
			op.Data = op.Data[:min(reached, len(op.Data))]
		}
		if l, err := d.applyTo(d.logs[op.TP], op, false); err == "" {
			if l == nil {
				delete(d.logs, op.TP)
			} else {
				d.logs[op.TP] = l
			}
		}
	}
	d.durable = maps.Clone(d.logs)
	d.raft = d.raftSynced
	d.pending, d.raftPending, d.reads, d.poisoned = nil, nil, nil, ""
	clear(d.refused)
}

// cutAt is where a truncation to off cuts file: at the first frame at or
// after off, or at the first frame it cannot decode (a torn tail).
func cutAt(file []byte, off sm.Offset) int {
	pos := 0
	for pos < len(file) {
		b, n, err := sm.DecodeBatch(file[pos:])
		if err != nil || b.BaseOffset >= off {
			break
		}
		pos += n
	}
	return pos
}

// logEnd is the offset after the last whole frame of file (zero if none).
func logEnd(file []byte) sm.Offset {
	end, pos := sm.Offset(0), 0
	for pos < len(file) {
		b, n, err := sm.DecodeBatch(file[pos:])
		if err != nil {
			break
		}
		end = b.NextOffset()
		pos += n
	}
	return end
}

// dataStart is the base offset of an append's first frame.
func dataStart(data []byte) sm.Offset {
	b, _, err := sm.DecodeBatch(data)
	if err != nil {
		return -1
	}
	return b.BaseOffset
}
