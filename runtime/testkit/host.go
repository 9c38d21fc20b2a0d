// Package testkit is the one small world the unit and property tests of
// sm/... drive their state machines in: a manual clock, a fake disk that
// completes nothing until the test says so (Disk), a network queue the test
// delivers from, drops and reorders (Network), an object store with GCS's
// semantics that the test completes operations through (Objects: OK,
// failed, unknown, applied with the reply lost), an Env per simulated process
// that executes a node's effects on them, and a Host that steps one node
// through runtime.Handle — the driver the simulator and production use — so
// no test calls Ready or Advance by hand and every test exercises the
// runtime contract: effects in field order, timers through runtime.Alarm,
// Ready.Fatal stopping the process, completions routed by ID.
//
// testkit imports runtime and sm only (never sim/), so tests inside sm/...
// packages can use it. A state machine that is not a whole node (a hosted
// component such as a partition replica) is driven through Component.
package testkit

import (
	"fmt"
	"slices"

	"github.com/weirmq/weir/runtime"
	"github.com/weirmq/weir/sm"
)

// TB is what both *testing.T and *rapid.T offer.
type TB interface {
	Fatalf(format string, args ...any)
}

// Clock is a test world's manual clock: time moves only when the test moves
// it.
type Clock struct{ now sm.Time }

// NewClock returns a clock showing start.
func NewClock(start sm.Time) *Clock { return &Clock{now: start} }

// Now is the current time.
func (c *Clock) Now() sm.Time { return c.now }

// Advance moves time forward by d.
func (c *Clock) Advance(d sm.Duration) {
	if d < 0 {
		panic(fmt.Sprintf("testkit: clock moved back by %v", -d))
	}
	c.now = c.now.Add(d)
}

// Set moves time forward to t (never back).
func (c *Clock) Set(t sm.Time) {
	if t < c.now {
		panic(fmt.Sprintf("testkit: clock moved back from %v to %v", c.now, t))
	}
	c.now = t
}

// Effect is one batch of effects a node handed its Env (one Env call), for
// tests that print or check what a node did (Env.Observe).
type Effect struct {
	Log      []sm.LogOp
	Reads    []sm.LogRead
	Raft     []sm.RaftSave
	Objects  []sm.ObjectOp
	Messages []sm.Envelope
	// Timer is set when the node reported its timer wish TimerAt.
	Timer   bool
	TimerAt sm.Time
	Fatal   string
	// Probes are the protocol paths the node reported (sm.Probe).
	Probes []sm.Probe
}

// Env is one simulated process's environment: it implements runtime.Env
// and runtime.ProbeSink with its Disk, the world's Network and a
// runtime.Alarm for the timer, as sim's host does.
type Env struct {
	ID   sm.NodeID
	Disk *Disk
	Net  *Network
	// Probes counts the protocol paths the node reported.
	Probes map[sm.Probe]int
	// Security collects the security events the node reported
	// (runtime.AuditSink); Revoked is the revoked certificate serials it
	// last reported (runtime.RevocationSink; nil: none yet).
	Security []sm.SecurityEvent
	Revoked  []string
	// Observe, when set, sees every effect batch before it is executed.
	Observe func(Effect)
	// CheckSend, when set, vets every envelope before it is queued (for
	// example that nothing is sent before the write it depends on is
	// durable); an error fails the test.
	CheckSend func(sm.Envelope) error
	// PendingObjects are the object-store operations the node started and
	// the test has not completed (Host.CompleteObject and its siblings, or
	// the test posts sm.ObjectDone itself).
	PendingObjects []sm.ObjectOp
	// InFlightObjects are operations a crashed process left pending: their
	// completions are lost, but they may still land (LandObject).
	InFlightObjects []sm.ObjectOp
	// Store is the object store the helpers complete operations through
	// (ObjectStore creates it on first use; Envs may share one).
	Store *Objects

	alarm  runtime.Alarm
	wake   sm.Time // the armed wake-up (zero: none)
	gen    uint64
	fatal  string
	broken error // a broken contract, reported by the Host
}

// NewEnv returns the environment of process id.
func NewEnv(id sm.NodeID, disk *Disk, net *Network) *Env {
	return &Env{ID: id, Disk: disk, Net: net, Probes: map[sm.Probe]int{}}
}

func (e *Env) observe(x Effect) {
	if e.Observe != nil {
		e.Observe(x)
	}
}

// StartLog implements runtime.LogStore.
func (e *Env) StartLog(ops []sm.LogOp) {
	e.observe(Effect{Log: ops})
	e.Disk.StartLog(ops)
}

// StartRead implements runtime.LogReader.
func (e *Env) StartRead(reads []sm.LogRead) {
	e.observe(Effect{Reads: reads})
	e.Disk.StartRead(reads)
}

// StartObject implements runtime.ObjectStore: the ops wait in
// PendingObjects until the test completes them.
func (e *Env) StartObject(ops []sm.ObjectOp) {
	e.observe(Effect{Objects: ops})
	e.PendingObjects = append(e.PendingObjects, ops...)
}

// StartRaft implements runtime.RaftStore.
func (e *Env) StartRaft(saves []sm.RaftSave) {
	e.observe(Effect{Raft: saves})
	e.Disk.StartRaft(saves)
}

// Send implements runtime.Network: every envelope must come from this
// process and name its destination.
func (e *Env) Send(msgs []sm.Envelope) {
	e.observe(Effect{Messages: msgs})
	for _, m := range msgs {
		if m.From != e.ID || m.To == sm.NoNode {
			e.breaks(fmt.Errorf("testkit: %v sent a misaddressed envelope %v→%v %T", e.ID, m.From, m.To, m.Msg))
		}
		if e.CheckSend != nil {
			if err := e.CheckSend(m); err != nil {
				e.breaks(err)
			}
		}
	}
	e.Net.Send(msgs)
}

func (e *Env) breaks(err error) {
	if e.broken == nil {
		e.broken = err
	}
}

// SetTimer implements runtime.Env with runtime.Alarm, as both drivers do.
func (e *Env) SetTimer(at sm.Time) {
	e.observe(Effect{Timer: true, TimerAt: at})
	gen, arm := e.alarm.Set(at)
	if !arm {
		return
	}
	e.wake, e.gen = at, gen
}

// Fatal implements runtime.Env: the process stops (Host.Stopped).
func (e *Env) Fatal(reason string) {
	e.observe(Effect{Fatal: reason})
	if e.fatal == "" {
		e.fatal = reason
	}
}

// Reached implements runtime.ProbeSink.
func (e *Env) Reached(probes []sm.Probe) {
	e.observe(Effect{Probes: probes})
	for _, p := range probes {
		e.Probes[p]++
	}
}

// Audit implements runtime.AuditSink.
func (e *Env) Audit(events []sm.SecurityEvent) { e.Security = append(e.Security, events...) }

// Revoke implements runtime.RevocationSink.
func (e *Env) Revoke(serials []string) { e.Revoked = slices.Clone(serials) }

// TimerAt is when the node's armed wake-up is due (zero: none).
func (e *Env) TimerAt() sm.Time { return e.wake }

// Host drives one process's node through runtime.Handle on its Env, with
// the world's clock. After every step it checks the node's invariants and
// the Env's contract checks, failing the test on a violation. A stopped
// process (Ready.Fatal) loses every event until Restart, as a dead process
// would.
type Host struct {
	t     TB
	Clock *Clock
	Env   *Env
	Node  runtime.Node
	// Incarnation counts Starts (1 for the first process).
	Incarnation uint64
	// StepError decides what a Step error means; nil fails the test.
	StepError func(ev sm.Event, err error)
	// After, when set, runs after every step (a test's own checks).
	After func()
	// Steps counts the events handled.
	Steps int
}

// NewHost returns a host for env, not yet running a process (Start).
func NewHost(t TB, clock *Clock, env *Env) *Host {
	return &Host{t: t, Clock: clock, Env: env}
}

// Start boots node as the next incarnation and kicks it with a TimerFired,
// as both drivers do (sim's host.start, runtime.Loop.Run), so it arms its
// timers and starts its protocol.
func (h *Host) Start(node runtime.Node) {
	h.Incarnation++
	h.Node = node
	h.Env.alarm.Reset()
	h.Env.wake, h.Env.fatal, h.Env.broken = 0, "", nil
	h.Handle(sm.TimerFired{})
}

// Crash kills the process (uncompleted disk operations are lost, tear bytes
// may reach the first one; see Disk.Crash; pending object operations lose
// their completions but may still land, Env.LandObject). Restart with
// Start.
func (h *Host) Crash(tear int) {
	h.Node = nil
	h.Env.alarm.Reset()
	h.Env.wake = 0
	h.Env.Disk.Crash(tear)
	h.Env.crashObjects()
}

// Up reports whether a process is running (started and not stopped).
func (h *Host) Up() bool { return h.Node != nil && h.Env.fatal == "" }

// Stopped returns why the process stopped itself ("" while it runs).
func (h *Host) Stopped() string { return h.Env.fatal }

// Handle steps the node with ev at the clock's time and executes its
// effects (runtime.Handle). It returns Step's error after StepError saw it;
// an event for a process that is not up is lost (nil).
func (h *Host) Handle(ev sm.Event) error {
	if !h.Up() {
		return nil
	}
	err := runtime.Handle(h.Node, h.Env, h.Clock.Now(), ev)
	h.Steps++
	if err != nil {
		if h.StepError == nil {
			h.t.Fatalf("%v step %s at %v: %v", h.Env.ID, runtime.DescribeEvent(ev), h.Clock.Now(), err)
		} else {
			h.StepError(ev, err)
		}
	}
	h.check()
	return err
}

// Call runs fn — a direct call into the state machine that is not an event
// (handing a component its metadata) — and then executes whatever the node
// has ready (runtime.Flush), with the same checks as Handle.
func (h *Host) Call(fn func(now sm.Time)) {
	if !h.Up() {
		h.t.Fatalf("%v: call while the process is down", h.Env.ID)
	}
	fn(h.Clock.Now())
	runtime.Flush(h.Node, h.Env)
	h.check()
}

func (h *Host) check() {
	if err := h.Env.broken; err != nil {
		h.t.Fatalf("%v at %v: %v", h.Env.ID, h.Clock.Now(), err)
	}
	if h.Node != nil && h.Env.fatal == "" {
		if err := h.Node.CheckInvariants(); err != nil {
			h.t.Fatalf("%v at %v: %v", h.Env.ID, h.Clock.Now(), err)
		}
	}
	if h.After != nil {
		h.After()
	}
}

// Deliver hands the node a message that arrived.
func (h *Host) Deliver(e sm.Envelope) error {
	if e.To != h.Env.ID {
		h.t.Fatalf("testkit: delivering %v→%v %T to %v", e.From, e.To, e.Msg, h.Env.ID)
	}
	return h.Handle(sm.Received{From: e.From, Msg: e.Msg})
}

// CompleteNext completes the node's oldest uncompleted log operation with
// outcome and delivers the completion; false when none is pending.
func (h *Host) CompleteNext(outcome sm.Outcome, reason string) bool {
	d, ok := h.Env.Disk.CompleteNext(outcome, reason)
	if ok {
		h.Handle(d)
	}
	return ok
}

// CompleteLog completes tp's oldest uncompleted operation with outcome and
// delivers the completion; false when tp has none.
func (h *Host) CompleteLog(tp sm.TopicPartition, outcome sm.Outcome, reason string) bool {
	d, ok := h.Env.Disk.CompleteLog(tp, outcome, reason)
	if ok {
		h.Handle(d)
	}
	return ok
}

// CompleteRead completes the oldest pending log read with outcome (see
// Disk.CompleteReadID) and delivers the completion; false when none is
// pending.
func (h *Host) CompleteRead(outcome sm.Outcome, reason string) bool {
	d, ok := h.Env.Disk.CompleteRead(outcome, reason)
	if ok {
		h.Handle(d)
	}
	return ok
}

// CompleteReadID completes read id with outcome and delivers the
// completion; false when no such read is pending.
func (h *Host) CompleteReadID(id sm.EffectID, outcome sm.Outcome, reason string) bool {
	d, ok := h.Env.Disk.CompleteReadID(id, outcome, reason)
	if ok {
		h.Handle(d)
	}
	return ok
}

// CompleteReads completes every pending read OK, in issue order, delivering
// each completion, and returns how many it completed. Reads the node issues
// while handling them wait for the next call.
func (h *Host) CompleteReads() int {
	n := 0
	for _, r := range h.Env.Disk.PendingReads() {
		if h.CompleteReadID(r.ID, sm.OutcomeOK, "") {
			n++
		}
	}
	return n
}

// CompleteRaft completes the oldest raft save; false when none is pending.
func (h *Host) CompleteRaft(outcome sm.Outcome, reason string) bool {
	d, ok := h.Env.Disk.CompleteRaft(outcome, reason)
	if ok {
		h.Handle(d)
	}
	return ok
}

// Due reports whether the node's armed wake-up has come.
func (h *Host) Due() bool { return h.Up() && h.Env.wake != 0 && h.Env.wake <= h.Clock.Now() }

// Fire delivers TimerFired if the node's wake-up is due (runtime.Alarm
// decides: a replaced wish never fires) and reports whether it did.
func (h *Host) Fire() bool {
	if !h.Due() {
		return false
	}
	h.Env.wake = 0
	if !h.Env.alarm.Fire(h.Env.gen) {
		return false
	}
	h.Handle(sm.TimerFired{})
	return true
}
