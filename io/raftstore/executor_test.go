package raftstore

import (
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/weirmq/weir/runtime"
	"github.com/weirmq/weir/sm"
)

// The Executor is the disk half of runtime.Adapters.
var _ runtime.RaftStore = (*Executor)(nil)

// collector gathers completions the way runtime.Loop.Post would receive
// them.
type collector chan sm.RaftDone

func (c collector) done(d sm.RaftDone) { c <- d }

func (c collector) next(t *testing.T) sm.RaftDone {
	t.Helper()
	select {
	case d := <-c:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no completion")
		return sm.RaftDone{}
	}
}

// expect takes len(want) completions and checks their IDs and errors; an
// empty want error means success, otherwise the error must contain it.
func (c collector) expect(t *testing.T, want ...sm.RaftDone) {
	t.Helper()
	for _, w := range want {
		d := c.next(t)
		if d.ID != w.ID || d.Outcome != w.Outcome || !strings.Contains(d.Reason, w.Reason) {
			t.Errorf("completion %+v, want ID %d, %v, with a reason containing %q", d, w.ID, w.Outcome, w.Reason)
		}
	}
}

func raftOp(id sm.EffectID, from, to, term uint64) sm.RaftSave {
	return sm.RaftSave{ID: id, HardState: hardState(term, 1, 0), Entries: ents(from, to, term), Sync: true}
}

func TestExecutorCompletesInOrder(t *testing.T) {
	s := openT(t, vfs.NewMem())
	defer s.Close()
	c := make(collector, 100)
	e := NewExecutor(s, c.done)

	e.StartRaft([]sm.RaftSave{raftOp(1, 1, 3, 1)})
	e.StartRaft(nil)
	e.StartRaft([]sm.RaftSave{
		raftOp(3, 7, 8, 1),              // a gap after 3: refused
		raftOp(4, 3, 5, 2),              // overwrites 3
		{ID: 5, Sync: true},             // nothing to write: a bare sync
		{ID: 6, Entries: ents(6, 6, 2)}, // unsynced
		{ID: 8, HardState: hardState(2, 2, 6)},
	})
	c.expect(t,
		sm.RaftDone{ID: 1},
		sm.RaftDone{ID: 3, Outcome: sm.OutcomeUnknown, Reason: "gap"},
		sm.RaftDone{ID: 4},
		sm.RaftDone{ID: 5},
		sm.RaftDone{ID: 6},
		sm.RaftDone{ID: 8},
	)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	checkDurable(t, loadT(t, s), hardState(2, 2, 6), append(ents(1, 2, 1), ents(3, 6, 2)...))

	// After Close every op fails, in order, from another goroutine.
	e.StartRaft([]sm.RaftSave{raftOp(9, 7, 7, 2), raftOp(10, 8, 8, 2)})
	e.StartRaft([]sm.RaftSave{raftOp(11, 9, 9, 2)})
	c.expect(t,
		sm.RaftDone{ID: 9, Outcome: sm.OutcomeUnknown, Reason: ErrExecutorClosed.Error()},
		sm.RaftDone{ID: 10, Outcome: sm.OutcomeUnknown, Reason: ErrExecutorClosed.Error()},
		sm.RaftDone{ID: 11, Outcome: sm.OutcomeUnknown, Reason: ErrExecutorClosed.Error()},
	)
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	checkDurable(t, loadT(t, s), hardState(2, 2, 6), append(ents(1, 2, 1), ents(3, 6, 2)...))

	// A closed store's error reaches the completion.
	_ = s.Close()
	e = NewExecutor(s, c.done)
	defer e.Close()
	e.StartRaft([]sm.RaftSave{raftOp(12, 7, 7, 2)})
	c.expect(t, sm.RaftDone{ID: 12, Outcome: sm.OutcomeUnknown, Reason: ErrClosed.Error()})
}

// TestExecutorCloseFailsQueued checks that StartRaft never blocks on a slow
// completion callback, and that Close lets the running op finish but fails
// the queued ones.
func TestExecutorCloseFailsQueued(t *testing.T) {
	s := openT(t, vfs.NewMem())
	defer s.Close()
	release := make(chan struct{})
	c := make(collector, 100)
	e := NewExecutor(s, func(d sm.RaftDone) {
		if d.ID == 1 {
			<-release // the loop's event queue is full
		}
		c.done(d)
	})
	e.StartRaft([]sm.RaftSave{raftOp(1, 1, 1, 1)})
	for !s.hasLast(1) { // op 1 has run; its completion is blocked
		time.Sleep(time.Millisecond)
	}
	e.StartRaft([]sm.RaftSave{raftOp(2, 2, 2, 1)}) // returns at once
	e.StartRaft([]sm.RaftSave{raftOp(3, 3, 3, 1)})
	closed := make(chan struct{})
	go func() { _ = e.Close(); close(closed) }()
	for !e.isClosed() {
		time.Sleep(time.Millisecond)
	}
	select {
	case <-closed:
		t.Fatal("Close returned before the running op's completion was delivered")
	case <-time.After(10 * time.Millisecond):
	}
	close(release)
	<-closed
	c.expect(t,
		sm.RaftDone{ID: 1},
		sm.RaftDone{ID: 2, Outcome: sm.OutcomeUnknown, Reason: ErrExecutorClosed.Error()},
		sm.RaftDone{ID: 3, Outcome: sm.OutcomeUnknown, Reason: ErrExecutorClosed.Error()},
	)
	checkDurable(t, loadT(t, s), hardState(1, 1, 0), ents(1, 1, 1))
}

func (s *Store) hasLast(i uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last == i
}

func (e *Executor) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}
