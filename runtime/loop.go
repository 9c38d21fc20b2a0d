package runtime

import (
	"context"
	"errors"
	"time"

	"github.com/weirmq/weir/sm"
)

// Adapters are the production effect executors a Loop hands a node's effects
// to. They run concurrently with the loop and report completions with Post.
type Adapters interface {
	// StartDisk begins disk operations; each later completes with
	// Loop.Post(sm.DiskDone{...}), in the order given.
	StartDisk(ops []sm.DiskOp)
	// Send transmits messages, best effort, without blocking the loop.
	Send(msgs []sm.Envelope)
}

// ErrFatal wraps the reason a node stopped itself (Ready.Fatal).
var ErrFatal = errors.New("runtime: node stopped")

// Loop drives one node in real time: a single goroutine owns the node and
// feeds it events posted by adapters and its own timer, through Handle —
// the same function the simulator uses.
type Loop struct {
	node     Node
	adapters Adapters
	events   chan sm.Event
	start    time.Time
	timer    *time.Timer
	timerAt  sm.Time
	fatal    string
}

// NewLoop prepares a loop; queue bounds how many posted events may wait.
func NewLoop(node Node, adapters Adapters, queue int) *Loop {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &Loop{node: node, adapters: adapters, events: make(chan sm.Event, queue), start: time.Now(), timer: t}
}

// Now is the loop's clock: monotonic nanoseconds since the loop was made.
func (l *Loop) Now() sm.Time { return sm.Time(time.Since(l.start)) }

// Post queues an event for the node; it blocks while the queue is full,
// which is the back-pressure adapters feel.
func (l *Loop) Post(ctx context.Context, ev sm.Event) error {
	select {
	case l.events <- ev:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run steps the node until ctx ends or the node stops itself.
func (l *Loop) Run(ctx context.Context) error {
	env := loopEnv{l}
	if err := Handle(l.node, env, l.Now(), sm.TimerFired{}); err != nil {
		return err
	}
	for l.fatal == "" {
		var ev sm.Event
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev = <-l.events:
		case <-l.timer.C:
			l.timerAt = 0
			ev = sm.TimerFired{}
		}
		_ = Handle(l.node, env, l.Now(), ev) // Step errors are malformed input; the node already refused it
	}
	return errors.Join(ErrFatal, errors.New(l.fatal))
}

// loopEnv adapts a Loop to Env: the timer is the loop's own; the rest goes to
// the adapters.
type loopEnv struct{ l *Loop }

func (e loopEnv) StartDisk(ops []sm.DiskOp) { e.l.adapters.StartDisk(ops) }
func (e loopEnv) Send(msgs []sm.Envelope)   { e.l.adapters.Send(msgs) }
func (e loopEnv) Fatal(reason string)       { e.l.fatal = reason }
func (e loopEnv) SetTimer(at sm.Time) {
	l := e.l
	if at == 0 || at == l.timerAt {
		return
	}
	l.timerAt = at
	d := time.Duration(at - l.Now())
	l.timer.Reset(max(d, 0))
}
