package raftstore

import (
	"errors"
	"slices"
	"sync"

	"github.com/weirmq/weir/sm"
)

// ErrExecutorClosed is the completion error of every operation an Executor
// did not run because it was closed first, so that a node still waiting on
// one learns why instead of waiting forever.
var ErrExecutorClosed = errors.New("raftstore: executor closed")

// Executor runs a controller node's raft saves against a Store: it
// implements runtime.RaftStore. The loop goroutine hands it saves without
// blocking, and one executor goroutine runs them in issue order, reporting
// each with the completion callback, in the same order — the order
// runtime.RaftStore promises. A save that fails ends sm.OutcomeUnknown (a
// failed pebble commit may or may not have reached the disk).
//
// It does no group commit: the controller issues one RaftSave at a time and
// waits for its completion, so there is never a queue to merge.
type Executor struct {
	store *Store
	done  func(sm.RaftDone)

	mu     sync.Mutex
	cond   *sync.Cond    // signalled when queue grows or closed is set
	queue  []sm.RaftSave // issued, not yet taken by the goroutine
	closed bool
	// tail is closed once every completion issued so far has been reported:
	// first when the goroutine exits, then by each goroutine StartRaft
	// starts after Close to fail its saves in order.
	tail chan struct{}
	exit chan struct{} // closed when the executor goroutine has returned
}

// NewExecutor starts the executor goroutine. done receives each completion
// (typically a closure over runtime.Loop.Post); it is called from the
// executor's goroutines (never from StartRaft), one call at a time, and may
// block — that is how the loop's back-pressure reaches the disk. The Executor does not own store:
// close the Executor first, then the Store.
func NewExecutor(store *Store, done func(sm.RaftDone)) *Executor {
	exit := make(chan struct{})
	e := &Executor{store: store, done: done, tail: exit, exit: exit}
	e.cond = sync.NewCond(&e.mu)
	go e.run()
	return e
}

// StartRaft queues saves and returns at once; each later completes through
// the callback, in order. After Close, every save completes OutcomeUnknown
// with ErrExecutorClosed, still in order and still from another goroutine,
// so StartRaft never calls the callback itself.
func (e *Executor) StartRaft(ops []sm.RaftSave) {
	if len(ops) == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.closed {
		e.queue = append(e.queue, ops...)
		e.cond.Signal()
		return
	}
	prev, next := e.tail, make(chan struct{})
	e.tail = next
	ops = slices.Clone(ops)
	go func() {
		<-prev
		for _, op := range ops {
			e.done(failed(op.ID, ErrExecutorClosed))
		}
		close(next)
	}()
}

// Close stops the executor: an operation already running finishes and is
// reported normally; queued ones complete with ErrExecutorClosed. It waits
// for the goroutine to report them (so done must not block forever), and is
// safe to call more than once.
func (e *Executor) Close() error {
	e.mu.Lock()
	e.closed = true
	e.cond.Signal()
	e.mu.Unlock()
	// Wait for the goroutine only, not for failures reported by StartRaft
	// calls after Close.
	<-e.exit
	return nil
}

// run is the executor goroutine.
func (e *Executor) run() {
	defer close(e.exit)
	for {
		e.mu.Lock()
		for len(e.queue) == 0 && !e.closed {
			e.cond.Wait()
		}
		if len(e.queue) == 0 {
			e.mu.Unlock()
			return
		}
		op := e.queue[0]
		e.queue[0] = sm.RaftSave{} // drop references to the entries
		e.queue = e.queue[1:]
		closed := e.closed
		e.mu.Unlock()
		if closed {
			e.done(failed(op.ID, ErrExecutorClosed))
			continue
		}
		e.done(e.execute(op))
	}
}

// execute runs one save and describes its outcome.
func (e *Executor) execute(op sm.RaftSave) sm.RaftDone {
	if err := e.store.SaveRaft(op); err != nil {
		return failed(op.ID, err)
	}
	return sm.RaftDone{ID: op.ID}
}

// failed is the completion of a save that may or may not have happened.
func failed(id sm.EffectID, err error) sm.RaftDone {
	return sm.RaftDone{ID: id, Outcome: sm.OutcomeUnknown, Reason: err.Error()}
}
