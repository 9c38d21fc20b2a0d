package controller

import (
	"fmt"

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
// entries or a new HardState becomes one RaftSave and waits; one without is
// handled at once.
func (n *Node) pump() {
	for n.unsynced == nil && n.out.Fatal == "" && n.rn.HasReady() {
		rd := n.rn.Ready()
		assert.That(raft.IsEmptySnap(rd.Snapshot), "controller: raft asked to install a snapshot at %d; compaction is not implemented",
			rd.Snapshot.GetMetadata().GetIndex())
		if len(rd.Entries) == 0 && raft.IsEmptyHardState(rd.HardState) {
			n.finishReady(rd)
			continue
		}
		n.saveIDLast++
		op := sm.RaftSave{ID: n.saveIDLast, Entries: append([]*pb.Entry(nil), rd.Entries...), Sync: true}
		if !raft.IsEmptyHardState(rd.HardState) {
			op.HardState = rd.HardState
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

// finishReady handles a Ready whose entries and HardState are durable: it
// makes them visible to raft's storage, sends the messages, applies the
// committed entries, answers the cluster-status reads that are now
// confirmed and applied, and advances raft.
func (n *Node) finishReady(rd raft.Ready) {
	if !raft.IsEmptyHardState(rd.HardState) {
		_ = n.storage.SetHardState(rd.HardState)
	}
	err := n.storage.Append(rd.Entries)
	assert.That(err == nil, "controller: append %d entries to memory storage: %v", len(rd.Entries), err)
	for _, m := range rd.Messages {
		n.send(sm.NodeID(m.GetTo()), sm.RaftMessage{M: m})
	}
	for _, e := range rd.CommittedEntries {
		n.applyEntry(e)
	}
	n.onReadStates(rd.ReadStates)
	n.answerReads()
	n.rn.Advance(rd)
	n.syncRole()
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
