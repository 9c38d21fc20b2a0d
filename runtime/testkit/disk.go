package testkit

import (
	"fmt"
	"maps"
	"slices"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/weirmq/weir/sm"
)

// Disk is one simulated process's disk: its partition logs and its raft
// state. It implements runtime.LogStore and runtime.RaftStore, keeping their
// promises the way a real store would, but completes nothing on its own: an
// operation waits until the test completes it (CompleteLog, CompleteRaft).
//
//   - Operations on one partition log complete in issue order; the test picks
//     which log completes next, so different logs complete in any order it
//     likes.
//   - A completed operation takes effect on the log's bytes; it is durable
//     (survives PowerLoss) when it asked for Sync. An uncompleted one has not
//     taken effect: Crash and PowerLoss drop it (Crash may tear an append).
//   - OutcomeFailed leaves nothing behind, and from then on every append to
//     that log that does not start at its end is refused too, so the log
//     never has a gap (runtime.LogStore).
//   - OutcomeUnknown poisons the disk: this and every later completion, log
//     or raft, is unknown, and nothing more is written.
//
// Raft saves complete in issue order too; a synced save makes every earlier
// save durable (one file, one fsync).
type Disk struct {
	logs    map[sm.TopicPartition][]byte // as completed operations left them
	durable map[sm.TopicPartition][]byte // as the last synced operation left them
	refused map[sm.TopicPartition]bool
	// pending holds issued, uncompleted log operations in issue order.
	pending []sm.LogOp
	// reads holds issued, uncompleted log reads.
	reads []sm.LogRead
	// History is every log operation ever issued to this disk, in order.
	History []sm.LogOp

	raftPending []sm.RaftSave
	raft        raftState // completed saves
	raftSynced  raftState // what a power loss keeps
	poisoned    string
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
	return &Disk{logs: map[sm.TopicPartition][]byte{}, durable: map[sm.TopicPartition][]byte{}, refused: map[sm.TopicPartition]bool{}}
}

// NewDiskFrom returns a disk holding logs, all of it synced.
func NewDiskFrom(logs map[sm.TopicPartition][]byte) *Disk {
	d := NewDisk()
	for tp, b := range logs {
		d.logs[tp] = slices.Clone(b)
		d.durable[tp] = d.logs[tp]
	}
	return d
}

// StartLog implements runtime.LogStore: the operations wait for the test.
func (d *Disk) StartLog(ops []sm.LogOp) {
	d.pending = append(d.pending, ops...)
	d.History = append(d.History, ops...)
}

// StartRead implements runtime.LogReader: the reads wait for the test.
func (d *Disk) StartRead(reads []sm.LogRead) {
	d.reads = append(d.reads, reads...)
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

// PendingRaft returns the uncompleted raft saves in issue order.
func (d *Disk) PendingRaft() []sm.RaftSave { return slices.Clone(d.raftPending) }

// Log returns tp's bytes as completed operations left them (nil: no log).
func (d *Disk) Log(tp sm.TopicPartition) []byte { return d.logs[tp] }

// Logs returns a copy of every log's bytes.
func (d *Disk) Logs() map[sm.TopicPartition][]byte {
	out := make(map[sm.TopicPartition][]byte, len(d.logs))
	for tp, b := range d.logs {
		out[tp] = slices.Clone(b)
	}
	return out
}

// Synced returns a copy of every log as a power loss would leave it.
func (d *Disk) Synced() map[sm.TopicPartition][]byte {
	out := make(map[sm.TopicPartition][]byte, len(d.durable))
	for tp, b := range d.durable {
		out[tp] = slices.Clone(b)
	}
	return out
}

// Raft returns the completed raft hard state and entries.
func (d *Disk) Raft() (*pb.HardState, []*pb.Entry) { return d.raft.hs, slices.Clone(d.raft.entries) }

// RaftSnapshot returns the completed raft snapshot (nil if none).
func (d *Disk) RaftSnapshot() *pb.Snapshot { return d.raft.snap }

// Durable is what a process restarting from this disk finds (the runtime
// hands it to the node's constructor).
func (d *Disk) Durable() sm.Durable {
	hs, ents := d.Raft()
	return sm.Durable{Logs: d.Logs(), HardState: hs, Snapshot: d.raft.snap, Entries: ents}
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
// promises require (a refused log refuses a gap; a poisoned disk answers
// unknown): the returned completion is the one to deliver.
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
		if end, start := logEnd(d.logs[op.TP]), dataStart(op.Data); start != end {
			outcome, reason = sm.OutcomeFailed, fmt.Sprintf("testkit: append at %d to %v, which ends at %d after a refusal", start, op.TP, end)
		}
	}
	switch outcome {
	case sm.OutcomeOK:
		d.apply(op)
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

func (d *Disk) apply(op sm.LogOp) {
	applyTo(d.logs, op)
	if op.Kind == sm.LogAppend {
		d.refused[op.TP] = false
	}
	if op.Kind == sm.LogDelete {
		delete(d.refused, op.TP)
	}
	if op.Sync {
		if b, ok := d.logs[op.TP]; ok {
			d.durable[op.TP] = b
		} else {
			delete(d.durable, op.TP)
		}
	}
}

// applyTo performs op on a set of logs the way a log store must: a
// truncation cuts at the first frame at or after the offset, or at the first
// frame it cannot decode (a torn tail). Logs are never changed in place, so
// a synced copy can share their bytes.
func applyTo(logs map[sm.TopicPartition][]byte, op sm.LogOp) {
	switch op.Kind {
	case sm.LogAppend:
		logs[op.TP] = append(slices.Clip(logs[op.TP]), op.Data...)
	case sm.LogTruncate:
		logs[op.TP] = slices.Clip(logs[op.TP][:cutAt(logs[op.TP], op.Offset)])
	case sm.LogDelete:
		delete(logs, op.TP)
	}
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

// Crash is a process crash: uncompleted operations are lost, completed ones
// stay (they reached the page cache). When tear > 0, the first tear bytes
// (never the whole frame) of each log's first uncompleted append reach the
// file, a torn tail that recovery must cut. The poison goes with the process.
func (d *Disk) Crash(tear int) {
	seen := map[sm.TopicPartition]bool{}
	for _, op := range d.pending {
		if seen[op.TP] {
			continue
		}
		seen[op.TP] = true
		if tear > 0 && op.Kind == sm.LogAppend && len(op.Data) > 1 {
			d.logs[op.TP] = append(slices.Clip(d.logs[op.TP]), op.Data[:min(tear, len(op.Data)-1)]...)
		}
	}
	d.pending, d.raftPending, d.poisoned = nil, nil, ""
	clear(d.refused)
}

// PowerLoss is a machine crash: every uncompleted operation is lost, and so
// is every completed one that was not synced (a later synced operation on
// the same log covers the earlier ones). The first uncompleted operation may
// have reached the disk in part, when its log had no unsynced bytes:
// reached bytes of an append (all of it when reached is its length or
// more), or, when reached > 0, the whole truncation or deletion.
func (d *Disk) PowerLoss(reached int) {
	var first *sm.LogOp
	if len(d.pending) > 0 {
		first = &d.pending[0]
	}
	clean := first != nil && slices.Equal(d.logs[first.TP], d.durable[first.TP])
	d.logs = maps.Clone(d.durable)
	if clean && reached > 0 {
		op := *first
		if op.Kind == sm.LogAppend {
			op.Data = op.Data[:min(reached, len(op.Data))]
		}
		applyTo(d.logs, op)
	}
	d.durable = maps.Clone(d.logs)
	d.raft = d.raftSynced
	d.pending, d.raftPending, d.poisoned = nil, nil, ""
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
		end = b.BaseOffset + sm.Offset(len(b.Records))
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
