package testkit

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/weirmq/weir/runtime"
	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/host"
)

var (
	tpA = sm.TopicPartition{Topic: "a", Partition: 0}
	tpB = sm.TopicPartition{Topic: "b", Partition: 0}
)

// frames encodes one batch of n records at base.
func frames(base sm.Offset, n int) []byte {
	b := sm.Batch{BaseOffset: base, Epoch: 1}
	for range n {
		b.Records = append(b.Records, sm.Record{Value: []byte("v")})
	}
	b.Seal()
	return sm.EncodeBatch(nil, &b)
}

func appendOp(id sm.EffectID, tp sm.TopicPartition, base sm.Offset, n int, sync bool) sm.LogOp {
	return sm.LogOp{ID: id, Kind: sm.LogAppend, TP: tp, Data: frames(base, n), Sync: sync}
}

// Goal: the disk keeps runtime.LogStore's promises: one log in issue order,
// different logs in any order the test picks, effects only at completion.
func TestDiskOrder(t *testing.T) {
	d := NewDisk()
	d.StartLog([]sm.LogOp{appendOp(1, tpA, 0, 1, true), appendOp(2, tpB, 0, 1, true), appendOp(3, tpA, 1, 2, true)})
	if got := d.PendingLogs(); !slices.Equal(got, []sm.TopicPartition{tpA, tpB}) {
		t.Fatalf("pending logs %v", got)
	}
	if len(d.Log(tpA)) != 0 {
		t.Fatal("an uncompleted append took effect")
	}
	if done, _ := d.CompleteLog(tpB, sm.OutcomeOK, ""); done.ID != 2 {
		t.Fatalf("b completed %d, want 2 (logs complete in any order)", done.ID)
	}
	if done, _ := d.CompleteLog(tpA, sm.OutcomeOK, ""); done.ID != 1 {
		t.Fatalf("a completed %d, want 1 (one log in issue order)", done.ID)
	}
	if done, _ := d.CompleteNext(sm.OutcomeOK, ""); done.ID != 3 {
		t.Fatalf("next completed %d, want 3", done.ID)
	}
	if _, ok := d.CompleteNext(sm.OutcomeOK, ""); ok {
		t.Fatal("completed an operation that was never issued")
	}
	bs, _, err := sm.DecodeLog(d.Log(tpA))
	if err != nil || len(bs) != 2 || logEnd(d.Log(tpA)) != 3 {
		t.Fatalf("log a: %d batches, end %d, %v", len(bs), logEnd(d.Log(tpA)), err)
	}
	if len(d.History) != 3 {
		t.Fatalf("history %d", len(d.History))
	}
}

// Goal: a refused append leaves nothing, and the log then refuses an append
// that would leave a gap; an unknown outcome poisons every later one.
func TestDiskRefusalAndPoison(t *testing.T) {
	d := NewDisk()
	d.StartLog([]sm.LogOp{appendOp(1, tpA, 0, 1, true), appendOp(2, tpA, 1, 1, true), appendOp(3, tpA, 0, 1, true)})
	if done, _ := d.CompleteNext(sm.OutcomeFailed, ""); done.Outcome != sm.OutcomeFailed || len(d.Log(tpA)) != 0 {
		t.Fatalf("refusal: %+v, log %d bytes", done, len(d.Log(tpA)))
	}
	if done, _ := d.CompleteNext(sm.OutcomeOK, ""); done.Outcome != sm.OutcomeFailed || !strings.Contains(done.Reason, "after a refusal") {
		t.Fatalf("append at 1 onto an empty log after a refusal: %+v", done)
	}
	if done, _ := d.CompleteNext(sm.OutcomeOK, ""); done.Outcome != sm.OutcomeOK || logEnd(d.Log(tpA)) != 1 {
		t.Fatalf("append at the end: %+v", done)
	}
	d.StartLog([]sm.LogOp{appendOp(4, tpA, 1, 1, true), appendOp(5, tpB, 0, 1, true)})
	d.StartRaft([]sm.RaftSave{{ID: 6, Sync: true}})
	if done, _ := d.CompleteNext(sm.OutcomeUnknown, "EIO"); done.Outcome != sm.OutcomeUnknown || d.Poisoned() != "EIO" {
		t.Fatalf("unknown: %+v", done)
	}
	if done, _ := d.CompleteNext(sm.OutcomeOK, ""); done.Outcome != sm.OutcomeUnknown || len(d.Log(tpB)) != 0 {
		t.Fatalf("after the poison: %+v", done)
	}
	if done, _ := d.CompleteRaft(sm.OutcomeOK, ""); done.Outcome != sm.OutcomeUnknown {
		t.Fatalf("raft after the poison: %+v", done)
	}
	d.Crash(0)
	if d.Poisoned() != "" {
		t.Fatal("the poison outlived the process")
	}
}

// Goal: a crash keeps completed bytes and may tear the first pending append;
// a power loss keeps only synced bytes, plus what reached the disk of the
// first pending operation.
func TestDiskCrashAndPowerLoss(t *testing.T) {
	d := NewDisk()
	d.StartLog([]sm.LogOp{appendOp(1, tpA, 0, 1, true), appendOp(2, tpA, 1, 1, false), appendOp(3, tpA, 2, 1, true)})
	d.CompleteNext(sm.OutcomeOK, "")
	d.CompleteNext(sm.OutcomeOK, "")
	synced, completed := len(frames(0, 1)), 2*len(frames(0, 1))
	if len(d.Log(tpA)) != completed || len(d.Synced()[tpA]) != synced {
		t.Fatalf("completed %d, synced %d", len(d.Log(tpA)), len(d.Synced()[tpA]))
	}
	crashed := NewDiskFrom(d.Logs())
	crashed.StartLog([]sm.LogOp{appendOp(3, tpA, 2, 1, true)})
	crashed.Crash(5)
	if got := len(crashed.Log(tpA)); got != completed+5 || len(crashed.Pending()) != 0 {
		t.Fatalf("crash with a torn tail: %d bytes, want %d", got, completed+5)
	}
	// The log has unsynced bytes, so nothing of the pending op lands.
	d.PowerLoss(100)
	if got := len(d.Log(tpA)); got != synced {
		t.Fatalf("power loss: %d bytes, want the %d synced", got, synced)
	}
	d.StartLog([]sm.LogOp{appendOp(4, tpA, 1, 1, true)})
	d.PowerLoss(7)
	if got := len(d.Log(tpA)); got != synced+7 {
		t.Fatalf("power loss during a write on a synced log: %d bytes, want %d", got, synced+7)
	}
	d.StartLog([]sm.LogOp{{ID: 5, Kind: sm.LogDelete, TP: tpA}})
	d.PowerLoss(1)
	if _, ok := d.Logs()[tpA]; ok {
		t.Fatal("a delete that reached the disk left the log")
	}
}

// Goal: raft saves complete in order and a synced one makes the earlier
// ones durable.
func TestDiskRaft(t *testing.T) {
	d := NewDisk()
	e := func(i uint64) []*pb.Entry { return []*pb.Entry{{Index: &i}} }
	d.StartRaft([]sm.RaftSave{{ID: 1, Entries: e(1)}, {ID: 2, Entries: e(2), Sync: true}, {ID: 3, Entries: e(3)}})
	for range 3 {
		d.CompleteRaft(sm.OutcomeOK, "")
	}
	if _, ents := d.Raft(); len(ents) != 3 {
		t.Fatalf("%d entries", len(ents))
	}
	d.PowerLoss(0)
	if _, ents := d.Raft(); len(ents) != 2 {
		t.Fatalf("after a power loss %d entries, want the 2 synced", len(ents))
	}
}

// fakeTB records failures instead of stopping the test.
type fakeTB struct{ fails []string }

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fails = append(f.fails, fmt.Sprintf(format, args...))
}

// counter is a node that counts its events, wants a timer at want, and can
// be told to fail its invariants or stop itself.
type counter struct {
	events  []sm.Event
	want    sm.Time
	broken  error
	fatal   string
	sendTo  sm.NodeID
	pending sm.Ready
}

func (c *counter) Step(now sm.Time, ev sm.Event) error {
	c.events = append(c.events, ev)
	if c.sendTo != sm.NoNode {
		c.pending.Messages = append(c.pending.Messages, sm.Envelope{From: 1, To: c.sendTo, Msg: sm.MetadataRequest{}})
	}
	if _, ok := ev.(sm.HealthObserved); ok {
		return errors.New("counter: refused")
	}
	return nil
}
func (c *counter) Ready() sm.Ready {
	rd := c.pending
	rd.TimerAt, rd.Fatal = c.want, c.fatal
	return rd
}
func (c *counter) Advance()               { c.pending = sm.Ready{} }
func (c *counter) CheckInvariants() error { return c.broken }

var _ runtime.Node = (*counter)(nil)

// Goal: the host drives through runtime.Handle with runtime.Alarm's
// semantics (the latest wish only), kicks a started node, loses events
// while stopped, and reports broken invariants, Step errors and misaddressed
// sends as failures.
func TestHost(t *testing.T) {
	tb, clock, net := &fakeTB{}, NewClock(10), &Network{}
	h := NewHost(tb, clock, NewEnv(1, NewDisk(), net))
	n := &counter{want: 20}
	h.Start(n)
	if len(n.events) != 1 || h.Env.TimerAt() != 20 {
		t.Fatalf("start: %d events, timer %v", len(n.events), h.Env.TimerAt())
	}
	if h.Fire() {
		t.Fatal("fired early")
	}
	n.want = 30 // the wish moves: the 20 wake-up is void
	h.Handle(sm.Received{From: 2, Msg: sm.MetadataRequest{}})
	clock.Set(25)
	if h.Fire() {
		t.Fatal("a replaced wish fired")
	}
	clock.Set(30)
	n.want = 40 // handling the timer moves the wish on
	if !h.Fire() || len(n.events) != 3 {
		t.Fatalf("due wish: %d events", len(n.events))
	}
	if h.Fire() {
		t.Fatal("a wish fired twice")
	}
	if len(tb.fails) != 0 {
		t.Fatalf("failures: %v", tb.fails)
	}
	h.Handle(sm.HealthObserved{})
	n.broken = errors.New("counter: broken")
	h.Handle(sm.TimerFired{})
	n.broken, n.sendTo = nil, sm.NoNode
	n.pending.Messages = []sm.Envelope{{From: 7, To: 2, Msg: sm.MetadataRequest{}}}
	h.Handle(sm.TimerFired{})
	if len(tb.fails) != 3 || !strings.Contains(tb.fails[0], "refused") || !strings.Contains(tb.fails[1], "broken") || !strings.Contains(tb.fails[2], "misaddressed") {
		t.Fatalf("failures: %q", tb.fails)
	}
	n.fatal = "counter: disk gone"
	h.Handle(sm.TimerFired{})
	before := len(n.events)
	if h.Up() || h.Stopped() != n.fatal {
		t.Fatalf("after Fatal: up %v, stopped %q", h.Up(), h.Stopped())
	}
	h.Handle(sm.TimerFired{})
	if len(n.events) != before {
		t.Fatal("a stopped process took an event")
	}
	h.Start(&counter{})
	if !h.Up() || h.Incarnation != 2 {
		t.Fatalf("restart: up %v, incarnation %d", h.Up(), h.Incarnation)
	}
}

// comp is a component for the Component adapter test.
type comp struct {
	ids   host.IDs
	at    sm.Time
	fired int
	out   host.Output
	done  []sm.LogDone
}

func (c *comp) TimerAt() sm.Time                            { return c.at }
func (c *comp) OnTimer(now sm.Time)                         { c.fired++; c.at = 0 }
func (c *comp) CheckInvariants() error                      { return nil }
func (c *comp) TakeOutput() host.Output                     { o := c.out; c.out = host.Output{}; return o }
func (c *comp) OnLogReadDone(sm.Time, sm.LogReadDone) error { return nil }

func (c *comp) OnLogDone(now sm.Time, d sm.LogDone) error {
	c.done = append(c.done, d)
	return nil
}

// Goal: the Component adapter turns a component's output into a Ready
// (ToController addressed to the controller), runs its timer only when due,
// and stops the process on an unknown outcome before the component sees it.
func TestComponent(t *testing.T) {
	tb, clock, net := &fakeTB{}, NewClock(10), &Network{}
	disk := NewDisk()
	h := NewHost(tb, clock, NewEnv(101, disk, net))
	c := &comp{at: 50}
	node := &Component{C: c, Self: 101, Controller: 1, Receive: func(now sm.Time, from sm.NodeID, m sm.Message) error {
		c.out.Log = append(c.out.Log, sm.LogOp{ID: c.ids.Next(), TP: tpA, Data: frames(0, 1)})
		c.out.ToController = append(c.out.ToController, sm.AlterISRRequest{})
		return nil
	}}
	h.Start(node)
	if c.fired != 0 {
		t.Fatal("the kick ran a timer that was not due")
	}
	h.Deliver(sm.Envelope{From: 102, To: 101, Msg: sm.MetadataRequest{}})
	if len(disk.Pending()) != 1 || net.Len() != 1 || net.Queue[0].To != 1 || net.Queue[0].From != 101 {
		t.Fatalf("output: disk %d, net %+v", len(disk.Pending()), net.Queue)
	}
	clock.Set(50)
	if !h.Fire() || c.fired != 1 {
		t.Fatalf("timer: fired %d", c.fired)
	}
	h.CompleteLog(tpA, sm.OutcomeOK, "")
	if len(c.done) != 1 {
		t.Fatalf("completions %d", len(c.done))
	}
	h.Deliver(sm.Envelope{From: 102, To: 101, Msg: sm.MetadataRequest{}})
	h.CompleteLog(tpA, sm.OutcomeUnknown, "EIO")
	if len(c.done) != 1 || !strings.Contains(h.Stopped(), "EIO") {
		t.Fatalf("unknown outcome: %d completions, stopped %q", len(c.done), h.Stopped())
	}
	if len(tb.fails) != 0 {
		t.Fatalf("failures: %v", tb.fails)
	}
}

// Goal: the network queue delivers, drops, duplicates and reorders as told.
func TestNetwork(t *testing.T) {
	n := &Network{}
	for i := range 4 {
		n.Send([]sm.Envelope{{From: 1, To: sm.NodeID(10 + i)}})
	}
	n.Move(3, 0)
	n.Dup(1)
	n.Drop(2)
	got := []sm.NodeID{}
	for e, ok := n.Pop(); ok; e, ok = n.Pop() {
		got = append(got, e.To)
	}
	if !slices.Equal(got, []sm.NodeID{13, 10, 12, 10}) {
		t.Fatalf("order %v", got)
	}
}
