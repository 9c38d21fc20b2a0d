package controller

import (
	"fmt"
	"slices"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/assert"
)

// tick delivers one raft tick per TickInterval elapsed since the last one and
// reports whether any was delivered. The first call only starts the schedule.
func (n *Node) tick() bool {
	if !n.started {
		n.started = true
		n.tickNext = n.now.Add(n.cfg.TickInterval)
		return false
	}
	ticks := 0
	for n.now >= n.tickNext && ticks < tickCatchUpMax {
		n.rn.Tick()
		n.tickNext = n.tickNext.Add(n.cfg.TickInterval)
		ticks++
	}
	if n.now >= n.tickNext { // a clock jump: do not replay it tick by tick
		n.tickNext = n.now.Add(n.cfg.TickInterval)
	}
	if ticks > 0 {
		n.syncRole()
	}
	return ticks > 0
}

// pump takes raft Readies while none is waiting for the disk. A Ready with
// entries, a new HardState or a snapshot from the leader becomes one
// RaftSave and waits; one without is handled at once. As etcd's raftexample
// does, a snapshot is persisted (in the same atomic save as the entries and
// HardState) before it is applied or anything depending on it is sent.
func (n *Node) pump() {
	for n.unsynced == nil && n.out.Fatal == "" && n.rn.HasReady() {
		rd := n.rn.Ready()
		snap := !raft.IsEmptySnap(rd.Snapshot)
		if len(rd.Entries) == 0 && raft.IsEmptyHardState(rd.HardState) && !snap {
			n.finishReady(rd)
			continue
		}
		n.saveIDLast = n.nextEffect()
		op := sm.RaftSave{ID: n.saveIDLast, Entries: append([]*pb.Entry(nil), rd.Entries...), Sync: true}
		if !raft.IsEmptyHardState(rd.HardState) {
			op.HardState = rd.HardState
		}
		if snap {
			op.Snapshot = rd.Snapshot
		}
		n.out.Raft = append(n.out.Raft, op)
		n.unsynced = &unsyncedReady{id: n.saveIDLast, rd: rd}
	}
}

// onRaftDone completes the waiting Ready: its state is durable, so it may
// now act on it. A completion for any other ID (a late duplicate) is
// dropped. A save that did not end OK is an environmental dead end: the
// store cannot say what it holds.
func (n *Node) onRaftDone(ev sm.RaftDone) {
	if n.compacting != 0 && ev.ID == n.compacting {
		n.compacting = 0
		if ev.Outcome != sm.OutcomeOK {
			n.out.Fatal = fmt.Sprintf("controller: raft snapshot save %d ended %v: %s", ev.ID, ev.Outcome, ev.Reason)
			return
		}
		n.maybeSnapshot() // enough may have been applied meanwhile (a start replaying a long log)
		return
	}
	if n.unsynced == nil || n.unsynced.id != ev.ID {
		return
	}
	if ev.Outcome != sm.OutcomeOK {
		n.out.Fatal = fmt.Sprintf("controller: raft save %d ended %v: %s", ev.ID, ev.Outcome, ev.Reason)
		return
	}
	rd := n.unsynced.rd
	n.unsynced = nil
	n.finishReady(rd)
}

// finishReady handles a Ready whose snapshot, entries and HardState are
// durable, in etcd's order: it installs the snapshot (raft's storage and
// the metadata), makes the entries and HardState visible to raft's
// storage, sends the messages, applies the committed entries, answers the
// cluster-status reads that are now confirmed and applied, and advances
// raft. Then it takes a snapshot if enough entries were applied since the
// last one.
func (n *Node) finishReady(rd raft.Ready) {
	if !raft.IsEmptySnap(rd.Snapshot) {
		n.installSnapshot(rd.Snapshot)
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		_ = n.storage.SetHardState(rd.HardState)
	}
	err := n.storage.Append(rd.Entries)
	assert.That(err == nil, "controller: append %d entries to memory storage: %v", len(rd.Entries), err)
	var snapTo []uint64
	for _, m := range rd.Messages {
		if m.GetType() == pb.MsgSnap {
			n.probe(sm.ProbeSnapshotSent)
			snapTo = append(snapTo, m.GetTo())
		}
		n.send(sm.NodeID(m.GetTo()), sm.RaftMessage{M: m})
	}
	for _, e := range rd.CommittedEntries {
		n.applyEntry(e)
	}
	n.onReadStates(rd.ReadStates)
	n.answerReads()
	n.gcAfterApply()
	n.rn.Advance(rd)
	// The network gives no delivery report, so a sent snapshot is reported
	// finished at once: raft then probes the follower from the snapshot's
	// index, and if the snapshot was lost the follower's rejection makes
	// raft send it again. (Reporting nothing would leave the follower in
	// raft's snapshot state, paused, forever.)
	for _, to := range snapTo {
		n.rn.ReportSnapshot(to, raft.SnapshotFinish)
	}
	n.syncRole()
	n.maybeSnapshot()
}

// installSnapshot replaces the log and the metadata with a snapshot the
// leader sent, now durable. onRaftMessage checked its data on receipt.
func (n *Node) installSnapshot(snap *pb.Snapshot) {
	idx := snap.GetMetadata().GetIndex()
	assert.That(n.leaderTerm == 0, "controller: %v leads term %d but installs a snapshot at %d", n.cfg.ID, n.leaderTerm, idx)
	assert.That(idx > n.md.applied, "controller: snapshot at %d not after applied %d", idx, n.md.applied)
	md, err := restoreSnapshot(snap, n.voters)
	assert.That(err == nil, "controller: install %v", err)
	err = n.storage.ApplySnapshot(snap)
	assert.That(err == nil, "controller: apply snapshot at %d to memory storage: %v", idx, err)
	n.md, n.snapIndex, n.restored = md, idx, true
	n.probe(sm.ProbeSnapshotApplied)
}

// maybeSnapshot takes a snapshot of the applied metadata once
// SnapshotEntries entries were applied since the last one (and the save of
// the previous one completed): raft's memory storage keeps
// SnapshotCatchUpEntries entries before it, and the store is told to keep
// the snapshot and delete the entries it covers. The save need not sync:
// until it is durable the store still holds those entries, and a later
// synced save makes it durable.
func (n *Node) maybeSnapshot() {
	applied := n.md.applied
	if n.compacting != 0 || n.out.Fatal != "" || applied < n.snapIndex+n.cfg.SnapshotEntries {
		return
	}
	snap, err := n.storage.CreateSnapshot(applied, &pb.ConfState{Voters: slices.Clone(n.voters)}, encodeSnapshot(n.md))
	assert.That(err == nil, "controller: create snapshot at %d: %v", applied, err)
	n.snapIndex = applied
	first, _ := n.storage.FirstIndex()
	if applied > n.cfg.SnapshotCatchUpEntries {
		if to := applied - n.cfg.SnapshotCatchUpEntries; to >= first {
			err := n.storage.Compact(to)
			assert.That(err == nil, "controller: compact memory storage to %d: %v", to, err)
		}
	}
	n.saveIDLast = n.nextEffect()
	n.compacting = n.saveIDLast
	n.out.Raft = append(n.out.Raft, sm.RaftSave{ID: n.saveIDLast, Snapshot: snap})
}

// applyEntry applies one committed entry and, if this node proposed it in
// its current tenure, answers the waiting request.
func (n *Node) applyEntry(e *pb.Entry) {
	assert.That(e.GetType() == pb.EntryNormal, "controller: entry %d has type %v; membership changes are not implemented", e.GetIndex(), e.GetType())
	if len(e.GetData()) == 0 {
		n.md.applyEmpty(e.GetIndex())
		return
	}
	cmd := decodeCommand(e.GetData())
	res := n.md.apply(e.GetIndex(), &cmd)
	n.out.Probes = append(n.out.Probes, n.md.probes...)
	n.md.probes = n.md.probes[:0]
	n.afterApply(&cmd, res)
}

// onRaftMessage hands a peer's raft message to raft.
func (n *Node) onRaftMessage(from sm.NodeID, m sm.RaftMessage) error {
	if m.M == nil {
		return fmt.Errorf("controller: empty raft message from %v", from)
	}
	if to := sm.NodeID(m.M.GetTo()); to != n.cfg.ID {
		return fmt.Errorf("controller: raft message for %v delivered to %v", to, n.cfg.ID)
	}
	if m.M.GetType() == pb.MsgSnap {
		// Refuse a snapshot this node could not install before raft takes
		// it: a corrupt one, or a newer controller's format.
		if _, err := restoreSnapshot(m.M.GetSnapshot(), n.voters); err != nil {
			return fmt.Errorf("controller: raft snapshot from %v: %w", from, err)
		}
	}
	err := n.rn.Step(m.M)
	n.syncRole()
	if err != nil {
		return fmt.Errorf("controller: raft message %v from %v: %w", m.M.GetType(), from, err)
	}
	return nil
}

// syncRole follows raft's role: on losing leadership (or a new term) the
// pending requests are answered as outcome unknown; on gaining it, leader
// state starts fresh.
func (n *Node) syncRole() {
	st := n.rn.BasicStatus()
	leading := st.RaftState == raft.StateLeader
	if n.leaderTerm != 0 && (!leading || st.GetTerm() != n.leaderTerm) {
		n.stepDown(sm.NodeID(st.Lead))
	}
	if leading && n.leaderTerm == 0 {
		n.stepUp(st.GetTerm())
	}
}

// send queues one message for the caller.
func (n *Node) send(to sm.NodeID, m sm.Message) {
	n.out.Messages = append(n.out.Messages, sm.Envelope{From: n.cfg.ID, To: to, Msg: m})
}

// raftLogger keeps raft quiet per node instead of touching raft's global
// logger, which other controllers in the same (simulated) process share.
// Panic and Fatal still panic: raft calls them on broken invariants and
// expects them not to return.
type raftLogger struct{ id sm.NodeID }

func (raftLogger) Debug(...any)            {}
func (raftLogger) Debugf(string, ...any)   {}
func (raftLogger) Error(...any)            {}
func (raftLogger) Errorf(string, ...any)   {}
func (raftLogger) Info(...any)             {}
func (raftLogger) Infof(string, ...any)    {}
func (raftLogger) Warning(...any)          {}
func (raftLogger) Warningf(string, ...any) {}

func (l raftLogger) Fatal(v ...any) { l.Panic(v...) }

func (l raftLogger) Fatalf(format string, v ...any) { l.Panicf(format, v...) }

func (l raftLogger) Panic(v ...any) {
	panic(fmt.Sprintf("controller: raft %v: %s", l.id, fmt.Sprint(v...)))
}

func (l raftLogger) Panicf(format string, v ...any) {
	panic(fmt.Sprintf("controller: raft %v: %s", l.id, fmt.Sprintf(format, v...)))
}
