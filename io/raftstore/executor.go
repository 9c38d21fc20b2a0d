package raftstore

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/weirmq/weir/sm"
)

// ErrExecutorClosed is the completion error of every operation an Executor
// did not run because it was closed first, so that a node still waiting on
// one learns why instead of waiting forever.
var ErrExecutorClosed = errors.New("raftstore: executor closed")

// Executor runs a controller node's disk operations against a Store. It is
// the disk half of runtime.Adapters (StartDisk) for a controller: the loop
// goroutine hands it operations without blocking, and one executor goroutine
// runs them in issue order, reporting each with the completion callback, in
// the same order — the order sm.DiskDone promises.
//
// It does no group commit: the controller issues one DiskRaft operation at a
// time and waits for its completion, so there is never a queue to merge.
type Executor struct {
	store *Store
	done  func(sm.DiskDone)

	mu     sync.Mutex
	cond   *sync.Cond  // signalled when queue grows or closed is set
	queue  []sm.DiskOp // issued, not yet taken by the goroutine
	closed bool
	// tail is closed once every completion issued so far has been reported:
	// first when the goroutine exits, then by each goroutine StartDisk
	// starts after Close to fail its operations in order.
	tail chan struct{}
	exit chan struct{} // closed when the executor goroutine has returned
}

// NewExecutor starts the executor goroutine. done receives each completion
// (typically a closure over runtime.Loop.Post); it is called from the
// executor's goroutines (never from StartDisk), one call at a time, and may
// block — that is how the loop's back-pressure reaches the disk. The Executor does not own store:
// close the Executor first, then the Store.
func NewExecutor(store *Store, done func(sm.DiskDone)) *Executor {
	exit := make(chan struct{})
	e := &Executor{store: store, done: done, tail: exit, exit: exit}
	e.cond = sync.NewCond(&e.mu)
	go e.run()
	return e
}

// StartDisk queues ops and returns at once; each later completes through the
// callback, in order. Only sm.DiskRaft is supported: any other kind completes
// with an "unsupported disk op kind" error (which a node treats as fatal).
// After Close, every op completes with ErrExecutorClosed, still in order and
// still from another goroutine, so StartDisk never calls the callback itself.
func (e *Executor) StartDisk(ops []sm.DiskOp) {
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
			e.done(sm.DiskDone{ID: op.ID, Err: ErrExecutorClosed.Error()})
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
	// Wait for the goroutine only, not for failures reported by StartDisk
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
		e.queue[0] = sm.DiskOp{} // drop references to the entries
		e.queue = e.queue[1:]
		closed := e.closed
		e.mu.Unlock()
		if closed {
			e.done(sm.DiskDone{ID: op.ID, Err: ErrExecutorClosed.Error()})
			continue
		}
		e.done(e.execute(op))
	}
}

// execute runs one operation and describes its outcome.
func (e *Executor) execute(op sm.DiskOp) sm.DiskDone {
	if op.Kind != sm.DiskRaft {
		return sm.DiskDone{ID: op.ID, Err: fmt.Sprintf("raftstore: unsupported disk op kind %d", op.Kind)}
	}
	if err := e.store.Save(op.HardState, op.Entries, op.Sync); err != nil {
		return sm.DiskDone{ID: op.ID, Err: err.Error()}
	}
	return sm.DiskDone{ID: op.ID}
}
