package wal

import (
	"errors"

	"github.com/weirmq/weir/sm"
)

// Executor runs one node's disk effects on a shared WAL: it is the disk half
// of runtime.Adapters. All Executors of a WAL feed the same committer, so
// group commit spans every node (shard) in the process, while each node's
// operations still complete in the order it issued them.
type Executor struct {
	w        *WAL
	done     func(sm.LogDone)
	readDone func(sm.LogReadDone)
}

// NewExecutor returns an Executor that reports each completion by calling
// done on the WAL's committer goroutine, in issue order. done typically
// posts the event to the node's loop (runtime.Loop.Post); it may block for
// back-pressure, which holds up every Executor of this WAL meanwhile, but
// it must not wait for a later completion of the same WAL.
func (w *WAL) NewExecutor(done func(sm.LogDone)) *Executor {
	return &Executor{w: w, done: done}
}

// WithReads makes e a runtime.LogReader too: each read's completion is
// reported by calling done on a reader goroutine, in any order (see
// StartRead). done typically posts to the node's loop. It returns e; call it
// before the first StartRead.
func (e *Executor) WithReads(done func(sm.LogReadDone)) *Executor {
	e.readDone = done
	return e
}

// StartRead implements runtime.LogReader: it queues reads for the WAL's
// reader goroutines (Config.ReadConcurrency) and returns without blocking
// on I/O. Each read completes once with sm.LogReadDone: whole frames from
// the position, up to MaxBytes but at least one, never beyond what
// completed appends wrote; OutcomeFailed, naming the file (and the byte for
// an I/O error), when the segment is gone or cannot be read.
func (e *Executor) StartRead(reads []sm.LogRead) {
	if len(reads) == 0 {
		return
	}
	if e.readDone == nil {
		panic("wal: StartRead on an Executor made without WithReads")
	}
	e.w.startRead(reads, e.readDone)
}

// StartLog queues ops and returns without blocking on I/O (it takes one
// short lock), as runtime.LogStore requires. Each op later completes with
// sm.LogDone{ID: op.ID}: OutcomeOK; OutcomeFailed for a refusal that wrote
// nothing (capacity, free space, descriptors); OutcomeUnknown for any other
// error (see the package comment for which ones poison the WAL). The WAL
// reads op.Data until the completion: the caller must not modify it before
// then.
//
// An append with Sync completes after fdatasync when Config.FsyncOnWrite
// holds, after write(2) otherwise; rolls, trims, truncates, resets and
// deletes complete after they are durable.
func (e *Executor) StartLog(ops []sm.LogOp) {
	if len(ops) == 0 {
		return
	}
	w := e.w
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		ids := make([]sm.EffectID, len(ops))
		for i := range ops {
			ids[i] = ops[i].ID
		}
		go func() {
			<-w.stopped // after every earlier completion, to keep issue order
			for _, id := range ids {
				e.done(done(id, ErrClosed))
			}
		}()
		return
	}
	for i := range ops {
		w.queue = append(w.queue, request{op: ops[i], exec: e})
	}
	w.mu.Unlock()
	w.signal()
}

// done is the completion of op id that ended with err.
func done(id sm.EffectID, err error) sm.LogDone {
	switch {
	case err == nil:
		return sm.LogDone{ID: id}
	case errors.Is(err, ErrRefused):
		return sm.LogDone{ID: id, Outcome: sm.OutcomeFailed, Reason: err.Error()}
	}
	return sm.LogDone{ID: id, Outcome: sm.OutcomeUnknown, Reason: err.Error()}
}
