package runtime

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/sm"
)

// Adapters are the production effect executors a Loop hands a node's effects
// to. They run concurrently with the loop and report completions with
// Loop.Post. A node that never issues an effect kind may leave its adapter
// nil; an effect of a kind without an adapter stops the node.
type Adapters struct {
	Log    LogStore
	Read   LogReader
	Raft   RaftStore
	Object ObjectStore
	Net    Network
	// Audit, when set, receives the node's security events (the audit
	// log); nil drops them.
	Audit func([]sm.SecurityEvent)
	// Revoke, when set, receives the revoked certificate serials whenever
	// they change (sm.Ready.Revoked).
	Revoke func([]string)
}

// LoopConfig tunes a Loop.
type LoopConfig struct {
	// Queue bounds how many posted events may wait (default 1024).
	Queue int
	// Batch is how many queued events the loop steps before it hands their
	// effects to the adapters in one Ready (default 64). Batching lets one
	// group commit cover many requests without any change to the node.
	Batch int
	// Log receives every Step error with the event that caused it.
	Log zerolog.Logger
	// Start is the loop's time zero (Now counts from it); zero means when
	// NewLoop runs. A process that hands its node the wall clock at time
	// zero (broker.Config.WallClockAtStart) reads the clock once, sets both
	// from it, and the two stay in step.
	Start time.Time
}

// ErrFatal wraps the reason a node stopped itself (Ready.Fatal).
var ErrFatal = errors.New("runtime: node stopped")

// Loop drives one node in real time: a single goroutine owns the node and
// feeds it events posted by adapters and its own timer, through the same
// Step/Flush seam the simulator uses.
type Loop struct {
	node     Node
	adapters Adapters
	cfg      LoopConfig
	events   chan sm.Event
	start    time.Time
	timer    *time.Timer
	alarm    Alarm
	armed    uint64 // generation of the armed timer
	fatal    string
	// StepErrors counts Step errors (each is also logged).
	stepErrors uint64
}

// NewLoop prepares a loop.
func NewLoop(node Node, adapters Adapters, cfg LoopConfig) *Loop {
	if cfg.Queue <= 0 {
		cfg.Queue = 1024
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 64
	}
	t := time.NewTimer(time.Hour)
	t.Stop()
	start := cfg.Start
	if start.IsZero() {
		start = time.Now()
	}
	return &Loop{node: node, adapters: adapters, cfg: cfg, events: make(chan sm.Event, cfg.Queue), start: start, timer: t}
}

// StartedAt is the loop's time zero: Now is the monotonic time since.
func (l *Loop) StartedAt() time.Time { return l.start }

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

// StepErrors reports how many events the node refused so far. It may only
// be read after Run returns.
func (l *Loop) StepErrors() uint64 { return l.stepErrors }

// Run steps the node until ctx ends or the node stops itself.
func (l *Loop) Run(ctx context.Context) error {
	env := loopEnv{l}
	if err := Handle(l.node, env, l.Now(), sm.TimerFired{}); err != nil {
		l.stepError(sm.TimerFired{}, err)
	}
	for l.fatal == "" {
		var ev sm.Event
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev = <-l.events:
		case <-l.timer.C:
			if !l.alarm.Fire(l.armed) {
				continue
			}
			ev = sm.TimerFired{}
		}
		l.step(ev)
		// Step whatever else is already queued, up to Batch events, before
		// one Ready: their effects go to the adapters together.
	batch:
		for i := 1; i < l.cfg.Batch; i++ {
			select {
			case ev = <-l.events:
				l.step(ev)
			default:
				break batch
			}
		}
		Flush(l.node, env)
	}
	return errors.Join(ErrFatal, errors.New(l.fatal))
}

func (l *Loop) step(ev sm.Event) {
	if err := l.node.Step(l.Now(), ev); err != nil {
		l.stepError(ev, err)
	}
}

func (l *Loop) stepError(ev sm.Event, err error) {
	l.stepErrors++
	l.cfg.Log.Warn().Err(err).Str("event", DescribeEvent(ev)).Msg("node refused an event")
}

// DescribeEvent is a one-line description of an event for logs and traces.
func DescribeEvent(ev sm.Event) string {
	switch e := ev.(type) {
	case sm.Received:
		return fmt.Sprintf("received %T from %v", e.Msg, e.From)
	case sm.TimerFired:
		return "timer"
	case sm.LogDone:
		return fmt.Sprintf("log effect %d done: %v %s", e.ID, e.Outcome, e.Reason)
	case sm.RaftDone:
		return fmt.Sprintf("raft save %d done: %v %s", e.ID, e.Outcome, e.Reason)
	case sm.ObjectDone:
		return fmt.Sprintf("object effect %d done: %v %v %s", e.ID, e.Outcome, e.Err, e.Reason)
	case sm.HealthObserved:
		return "health observed"
	}
	return fmt.Sprintf("%T", ev)
}

// loopEnv adapts a Loop to Env: the timer is the loop's own; the rest goes to
// the adapters.
type loopEnv struct{ l *Loop }

func (e loopEnv) StartLog(ops []sm.LogOp) {
	if e.l.adapters.Log == nil {
		e.Fatal(fmt.Sprintf("runtime: the node issued %d log operations and has no log store", len(ops)))
		return
	}
	e.l.adapters.Log.StartLog(ops)
}

func (e loopEnv) StartRead(reads []sm.LogRead) {
	if e.l.adapters.Read == nil {
		e.Fatal(fmt.Sprintf("runtime: the node issued %d log reads and has no log reader", len(reads)))
		return
	}
	e.l.adapters.Read.StartRead(reads)
}

func (e loopEnv) StartRaft(saves []sm.RaftSave) {
	if e.l.adapters.Raft == nil {
		e.Fatal(fmt.Sprintf("runtime: the node issued %d raft saves and has no raft store", len(saves)))
		return
	}
	e.l.adapters.Raft.StartRaft(saves)
}

func (e loopEnv) StartObject(ops []sm.ObjectOp) {
	if e.l.adapters.Object == nil {
		e.Fatal(fmt.Sprintf("runtime: the node issued %d object-store operations and has no object store", len(ops)))
		return
	}
	e.l.adapters.Object.StartObject(ops)
}

func (e loopEnv) Send(msgs []sm.Envelope) {
	if e.l.adapters.Net != nil {
		e.l.adapters.Net.Send(msgs)
	}
}

// Revoke implements RevocationSink.
func (e loopEnv) Revoke(serials []string) {
	if e.l.adapters.Revoke != nil {
		e.l.adapters.Revoke(serials)
	}
}

// Audit implements AuditSink.
func (e loopEnv) Audit(events []sm.SecurityEvent) {
	if e.l.adapters.Audit != nil {
		e.l.adapters.Audit(events)
	}
}

func (e loopEnv) Fatal(reason string) {
	if e.l.fatal == "" {
		e.l.fatal = reason
	}
}

func (e loopEnv) SetTimer(at sm.Time) {
	l := e.l
	gen, arm := l.alarm.Set(at)
	if !arm {
		return
	}
	l.armed = gen
	if at == 0 {
		l.timer.Stop()
		return
	}
	l.timer.Reset(max(time.Duration(at-l.Now()), 0))
}
