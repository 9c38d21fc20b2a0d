package cloud

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/weirmq/weir/sm"
)

// ExecutorConfig tunes an Executor.
type ExecutorConfig struct {
	// MaxConcurrentUploads bounds puts in flight (the reference's
	// max_concurrent_uploads); default DefaultMaxConcurrentUploads.
	MaxConcurrentUploads int
	// MaxConcurrentReads bounds gets, lists and deletes in flight, a pool
	// of its own so cold reads never wait behind uploads; default
	// DefaultMaxConcurrentReads.
	MaxConcurrentReads int
	// UploadBytesPerSecond bounds the bytes all puts together send per
	// second (a token bucket, golang.org/x/time/rate); zero is unlimited.
	UploadBytesPerSecond int64
	// OpTimeout is the deadline of a get, list or delete; default
	// DefaultOpTimeout.
	OpTimeout time.Duration
	// PutTimeout is the deadline of a put, plus the time its bytes take at
	// UploadBytesPerSecond; default DefaultPutTimeout.
	PutTimeout time.Duration
}

// Executor defaults.
const (
	DefaultMaxConcurrentUploads = 10
	DefaultMaxConcurrentReads   = 16
	DefaultOpTimeout            = 30 * time.Second
	DefaultPutTimeout           = 2 * time.Minute
)

// Validate reports the first bad field.
func (c *ExecutorConfig) Validate() error {
	switch {
	case c.MaxConcurrentUploads < 0:
		return fmt.Errorf("cloud: max concurrent uploads must be ≥ 0 (got %d)", c.MaxConcurrentUploads)
	case c.MaxConcurrentReads < 0:
		return fmt.Errorf("cloud: max concurrent reads must be ≥ 0 (got %d)", c.MaxConcurrentReads)
	case c.UploadBytesPerSecond < 0:
		return fmt.Errorf("cloud: upload bandwidth must be ≥ 0 bytes/s (got %d)", c.UploadBytesPerSecond)
	case c.OpTimeout < 0 || c.PutTimeout < 0:
		return fmt.Errorf("cloud: timeouts must be ≥ 0 (got %v and %v)", c.OpTimeout, c.PutTimeout)
	}
	return nil
}

func (c *ExecutorConfig) defaults() {
	if c.MaxConcurrentUploads == 0 {
		c.MaxConcurrentUploads = DefaultMaxConcurrentUploads
	}
	if c.MaxConcurrentReads == 0 {
		c.MaxConcurrentReads = DefaultMaxConcurrentReads
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = DefaultOpTimeout
	}
	if c.PutTimeout == 0 {
		c.PutTimeout = DefaultPutTimeout
	}
}

// Executor runs a node's object-store effects (sm.ObjectOp) on a Store: it
// is runtime.ObjectStore for production. StartObject queues ops and
// returns at once; a pool of MaxConcurrentUploads workers runs puts and
// one of MaxConcurrentReads runs the rest, each op under its deadline, and
// each completion is posted as an sm.ObjectDone. A put with a Source reads
// the segment range through the SegmentReader and streams it through a
// verifier (every frame's CRC32C, offsets dense from Base to Next, exactly
// Len bytes) that refuses a bad source before the object can be created.
//
// Outcomes follow sm.ObjectDone: OK; Failed only when nothing happened
// (a *Error that is not Unknown, a bad source, every get and list
// failure, an op never started); Unknown for a put or delete whose request
// may have landed (a *Error marked Unknown, or an error the Store did not
// classify).
type Executor struct {
	store Store
	segs  SegmentReader
	post  func(sm.Event)
	cfg   ExecutorConfig
	limit *rate.Limiter

	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	cond    *sync.Cond
	puts    []sm.ObjectOp
	others  []sm.ObjectOp
	closed  bool
	workers sync.WaitGroup

	stats stats
}

// NewExecutor starts an Executor on store. segs reads put sources (nil: a
// put with a Source fails ObjErrInvalid, as on a controller). post reports
// completions, typically the node's runtime.Loop.Post with the process's
// context; it may block for back-pressure but must return once the loop
// is gone, or Close waits for it.
func NewExecutor(store Store, segs SegmentReader, post func(sm.Event), cfg ExecutorConfig) (*Executor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	e := &Executor{store: store, segs: segs, post: post, cfg: cfg}
	e.cond = sync.NewCond(&e.mu)
	e.ctx, e.cancel = context.WithCancel(context.Background())
	if cfg.UploadBytesPerSecond > 0 {
		e.limit = rate.NewLimiter(rate.Limit(cfg.UploadBytesPerSecond), int(min(cfg.UploadBytesPerSecond, 1<<20)))
	}
	for range cfg.MaxConcurrentUploads {
		e.workers.Add(1)
		go e.work(true)
	}
	for range cfg.MaxConcurrentReads {
		e.workers.Add(1)
		go e.work(false)
	}
	return e, nil
}

// StartObject implements runtime.ObjectStore: it queues ops and returns
// without blocking on I/O. The Executor reads op.Data until the op
// completes.
func (e *Executor) StartObject(ops []sm.ObjectOp) {
	if len(ops) == 0 {
		return
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		go func() {
			for _, op := range ops {
				e.post(closedDone(op))
			}
		}()
		return
	}
	for _, op := range ops {
		if op.Kind == sm.ObjPut {
			e.puts = append(e.puts, op)
		} else {
			e.others = append(e.others, op)
		}
	}
	e.cond.Broadcast()
	e.mu.Unlock()
}

// Close cancels the ops in flight (they complete Failed or Unknown, as
// their Store reports), completes the queued ones Failed, and waits for
// the workers. Later ops complete Failed.
func (e *Executor) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		e.workers.Wait()
		return nil
	}
	e.closed = true
	e.cond.Broadcast()
	e.mu.Unlock()
	e.cancel()
	e.workers.Wait()
	return nil
}

func closedDone(op sm.ObjectOp) sm.ObjectDone {
	return sm.ObjectDone{ID: op.ID, Outcome: sm.OutcomeFailed, Err: sm.ObjErrUnavailable, Reason: "cloud: executor closed before the op started"}
}

func (e *Executor) work(uploads bool) {
	defer e.workers.Done()
	for {
		e.mu.Lock()
		q := &e.others
		if uploads {
			q = &e.puts
		}
		for len(*q) == 0 && !e.closed {
			e.cond.Wait()
		}
		if len(*q) == 0 {
			e.mu.Unlock()
			return
		}
		op := (*q)[0]
		(*q)[0] = sm.ObjectOp{}
		*q = (*q)[1:]
		closed := e.closed
		e.mu.Unlock()
		if closed {
			e.post(closedDone(op))
			continue
		}
		e.post(e.exec(op))
	}
}

// exec runs one op and classifies its result.
func (e *Executor) exec(op sm.ObjectOp) sm.ObjectDone {
	switch op.Kind {
	case sm.ObjPut:
		return e.put(op)
	case sm.ObjGet:
		return e.get(op)
	case sm.ObjDelete:
		return e.delete(op)
	case sm.ObjList:
		return e.list(op)
	}
	return e.failed(op, sm.ObjErrInvalid, fmt.Sprintf("cloud: unknown object op kind %d", op.Kind))
}

func (e *Executor) failed(op sm.ObjectOp, kind sm.ObjErr, reason string) sm.ObjectDone {
	e.stats.errors[kind%numKinds].Add(1)
	e.heard(kind)
	return sm.ObjectDone{ID: op.ID, Outcome: sm.OutcomeFailed, Err: kind, Reason: reason}
}

// outcome classifies a Store error of a put or delete: Failed when the
// Store is sure nothing happened, Unknown otherwise.
func (e *Executor) outcome(op sm.ObjectOp, err error) sm.ObjectDone {
	var ce *Error
	if errors.As(err, &ce) && !ce.Unknown {
		return e.failed(op, ce.Kind, err.Error())
	}
	kind := KindOf(err)
	e.stats.errors[kind%numKinds].Add(1)
	e.heard(kind)
	e.stats.unknown.Add(1)
	return sm.ObjectDone{ID: op.ID, Outcome: sm.OutcomeUnknown, Err: kind, Reason: err.Error()}
}

func (e *Executor) put(op sm.ObjectOp) sm.ObjectDone {
	start := time.Now()
	size := int64(len(op.Data))
	if op.Source != nil {
		if op.Source.Len < 0 || op.Source.Pos < 0 || op.Source.Next < op.Source.Base {
			return e.failed(op, sm.ObjErrInvalid, fmt.Sprintf("cloud: put %s: bad source range %+v", op.Name, *op.Source))
		}
		size += op.Source.Len
	}
	timeout := e.cfg.PutTimeout
	if e.cfg.UploadBytesPerSecond > 0 {
		timeout += time.Duration(float64(size) / float64(e.cfg.UploadBytesPerSecond) * float64(time.Second))
	}
	ctx, cancel := context.WithTimeout(e.ctx, timeout)
	defer cancel()
	var body io.Reader = bytes.NewReader(op.Data)
	var ver *verifier
	if op.Source != nil {
		if e.segs == nil {
			return e.failed(op, sm.ObjErrInvalid, fmt.Sprintf("cloud: put %s: a segment source, on a node without a log store", op.Name))
		}
		r, err := e.segs.ReadSegment(*op.Source)
		if err != nil {
			kind := KindOf(err)
			if kind == sm.ObjErrUnavailable {
				kind = sm.ObjErrSourceGone // the local disk, not the store
			}
			return e.failed(op, kind, err.Error())
		}
		defer r.Close()
		ver = newVerifier(*op.Source, r, cancel)
		body = io.MultiReader(ver, body)
	}
	if e.limit != nil {
		body = &limitedReader{ctx: ctx, r: body, l: e.limit}
	}
	info, err := e.store.Put(ctx, op.Name, body, size, op.CreateOnly)
	if ver != nil && ver.err != nil && ver.err != io.EOF {
		var ce *Error
		errors.As(ver.err, &ce)
		ce.Name = op.Name
		if err == nil {
			// The Store created an object from a body that failed: a Store
			// bug. Report what is true: it may exist.
			e.stats.unknown.Add(1)
			return sm.ObjectDone{ID: op.ID, Outcome: sm.OutcomeUnknown, Err: ce.Kind, Reason: "cloud: the store accepted a refused source: " + ce.Error()}
		}
		return e.failed(op, ce.Kind, ce.Error())
	}
	if err != nil {
		return e.outcome(op, err)
	}
	e.heard(sm.ObjErrNone)
	e.stats.puts.Add(1)
	e.stats.putBytes.Add(uint64(size))
	d := time.Since(start)
	e.stats.putLatencyNs.Add(uint64(d))
	for {
		m := e.stats.putLatencyMaxNs.Load()
		if uint64(d) <= m || e.stats.putLatencyMaxNs.CompareAndSwap(m, uint64(d)) {
			break
		}
	}
	return sm.ObjectDone{ID: op.ID, Size: info.Size, Generation: info.Generation}
}

func (e *Executor) get(op sm.ObjectOp) sm.ObjectDone {
	ctx, cancel := context.WithTimeout(e.ctx, e.cfg.OpTimeout)
	defer cancel()
	data, err := e.store.Get(ctx, op.Name, op.Off, op.Len)
	if err != nil {
		return e.failed(op, KindOf(err), err.Error()) // a get changes nothing
	}
	e.heard(sm.ObjErrNone)
	e.stats.gets.Add(1)
	e.stats.getBytes.Add(uint64(len(data)))
	return sm.ObjectDone{ID: op.ID, Data: data}
}

func (e *Executor) delete(op sm.ObjectOp) sm.ObjectDone {
	ctx, cancel := context.WithTimeout(e.ctx, e.cfg.OpTimeout)
	defer cancel()
	err := e.store.Delete(ctx, op.Name)
	e.stats.deletes.Add(1)
	switch {
	case err == nil:
		e.heard(sm.ObjErrNone)
		return sm.ObjectDone{ID: op.ID}
	case KindOf(err) == sm.ObjErrNotFound:
		e.heard(sm.ObjErrNone)
		return sm.ObjectDone{ID: op.ID, Err: sm.ObjErrNotFound}
	}
	return e.outcome(op, err)
}

func (e *Executor) list(op sm.ObjectOp) sm.ObjectDone {
	ctx, cancel := context.WithTimeout(e.ctx, e.cfg.OpTimeout)
	defer cancel()
	objs, more, err := e.store.List(ctx, op.Prefix, op.After, op.Limit)
	if err != nil {
		return e.failed(op, KindOf(err), err.Error())
	}
	e.heard(sm.ObjErrNone)
	e.stats.lists.Add(1)
	return sm.ObjectDone{ID: op.ID, Objects: objs, More: more}
}

// heard records what an op learnt about the store: an answer (any outcome
// but a store that failed or throttled) shows it reachable.
func (e *Executor) heard(kind sm.ObjErr) {
	now := time.Now().UnixNano()
	switch kind {
	case sm.ObjErrUnavailable, sm.ObjErrThrottled:
		e.stats.lastFailNs.Store(now)
	case sm.ObjErrSourceGone, sm.ObjErrSourceCorrupt, sm.ObjErrInvalid:
		// decided before or without the store
	default:
		e.stats.lastOKNs.Store(now)
	}
}

// Reachable says the store answered the latest op that reached it: no op
// failed for the store's sake (unavailable, throttled) since the last one
// it answered. An Executor that has run nothing yet counts as reachable
// (its store answered the start's list).
func (e *Executor) Reachable() bool {
	return e.stats.lastFailNs.Load() <= e.stats.lastOKNs.Load()
}

// limitedReader takes tokens for every byte it hands on.
type limitedReader struct {
	ctx context.Context
	r   io.Reader
	l   *rate.Limiter
}

func (r *limitedReader) Read(p []byte) (int, error) {
	if b := r.l.Burst(); len(p) > b {
		p = p[:b]
	}
	n, err := r.r.Read(p)
	if n > 0 {
		if werr := r.l.WaitN(r.ctx, n); werr != nil {
			return n, &Error{Kind: sm.ObjErrUnavailable, Op: "put", Err: fmt.Errorf("upload bandwidth limit: %w", werr)}
		}
	}
	return n, err
}

// numKinds covers every sm.ObjErr.
const numKinds = 8

type stats struct {
	puts, putBytes, putLatencyNs, putLatencyMaxNs atomic.Uint64
	gets, getBytes, deletes, lists, unknown       atomic.Uint64
	errors                                        [numKinds]atomic.Uint64
	lastOKNs, lastFailNs                          atomic.Int64
}

// Stats is a snapshot of an Executor's counters, for metrics.
type Stats struct {
	// Puts and PutBytes count completed (OK) puts and their bytes;
	// PutLatencyNs sums their durations (queueing excluded), and
	// PutLatencyMaxNs is the longest.
	Puts, PutBytes, PutLatencyNs, PutLatencyMaxNs uint64
	// Gets and GetBytes count OK gets; Deletes every delete; Lists OK lists.
	Gets, GetBytes, Deletes, Lists uint64
	// Errors counts ops that did not complete OK, by sm.ObjErr (a delete
	// of a missing object is OK and not counted); Unknown how many of them
	// completed OutcomeUnknown.
	Errors  map[sm.ObjErr]uint64
	Unknown uint64
}

// Stats returns the counters so far.
func (e *Executor) Stats() Stats {
	s := Stats{
		Puts: e.stats.puts.Load(), PutBytes: e.stats.putBytes.Load(),
		PutLatencyNs: e.stats.putLatencyNs.Load(), PutLatencyMaxNs: e.stats.putLatencyMaxNs.Load(),
		Gets: e.stats.gets.Load(), GetBytes: e.stats.getBytes.Load(), Deletes: e.stats.deletes.Load(), Lists: e.stats.lists.Load(),
		Unknown: e.stats.unknown.Load(), Errors: map[sm.ObjErr]uint64{},
	}
	for k := range e.stats.errors {
		if n := e.stats.errors[k].Load(); n > 0 {
			s.Errors[sm.ObjErr(k)] = n
		}
	}
	return s
}
