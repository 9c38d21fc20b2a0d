package runtime

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/sm"
)

// echoNode replies to every message, asks for a timer 5ms out, writes one
// disk op per message, and stops itself on a LogDone error.
type echoNode struct {
	rd     sm.Ready
	timers int
	done   []sm.EffectID
	nextID sm.EffectID
	steps  int
}

func (n *echoNode) Step(now sm.Time, ev sm.Event) error {
	n.steps++
	switch e := ev.(type) {
	case sm.Received:
		if _, bad := e.Msg.(sm.ProduceRequest); bad {
			return errors.New("echo: produce requests are not routable here")
		}
		n.nextID++
		n.rd.Log = append(n.rd.Log, sm.LogOp{ID: n.nextID, Kind: sm.LogAppend, Sync: true})
		n.rd.Messages = append(n.rd.Messages, sm.Envelope{From: 1, To: e.From, Msg: e.Msg})
	case sm.TimerFired:
		n.timers++
		n.rd.Messages = append(n.rd.Messages, sm.Envelope{From: 1, To: 2, Msg: sm.MetadataRequest{ReqID: uint64(n.timers)}})
	case sm.LogDone:
		if e.Outcome != sm.OutcomeOK {
			n.rd.Fatal = e.Reason
		}
		n.done = append(n.done, e.ID)
	}
	if n.timers < 3 {
		n.rd.TimerAt = now.Add(5 * sm.Millisecond)
	}
	return nil
}
func (n *echoNode) Ready() sm.Ready        { return n.rd }
func (n *echoNode) Advance()               { n.rd = sm.Ready{} }
func (n *echoNode) CheckInvariants() error { return nil }

type recorder struct {
	mu   sync.Mutex
	sent []sm.Envelope
	ops  []sm.LogOp
	// starts counts StartLog calls.
	starts int
	loop   *Loop
	fail   bool
}

func (r *recorder) StartLog(ops []sm.LogOp) {
	r.mu.Lock()
	r.ops = append(r.ops, ops...)
	r.starts++
	fail := r.fail
	r.mu.Unlock()
	go func() {
		for _, op := range ops {
			d := sm.LogDone{ID: op.ID}
			if fail {
				d.Outcome, d.Reason = sm.OutcomeUnknown, "fsync: input/output error"
			}
			_ = r.loop.Post(context.Background(), d)
		}
	}()
}

func (r *recorder) count(to sm.NodeID) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.sent {
		if m.To == to {
			n++
		}
	}
	return n
}

func (r *recorder) Send(msgs []sm.Envelope) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, msgs...)
}

func TestLoopDrivesNode(t *testing.T) {
	node := &echoNode{}
	rec := &recorder{}
	loop := NewLoop(node, Adapters{Log: rec, Net: rec}, LoopConfig{Queue: 16})
	rec.loop = loop
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- loop.Run(ctx) }()
	for i := range 3 {
		if err := loop.Post(ctx, sm.Received{From: 1000, Msg: sm.MetadataRequest{ReqID: uint64(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	// Timers fire in real time; wait until three have, then stop the node
	// by failing a disk op.
	for rec.count(2) < 3 {
		if ctx.Err() != nil {
			t.Fatal("timers did not fire")
		}
		time.Sleep(time.Millisecond)
	}
	rec.mu.Lock()
	rec.fail = true
	rec.mu.Unlock()
	_ = loop.Post(ctx, sm.Received{From: 1000, Msg: sm.MetadataRequest{ReqID: 9}})
	err := <-errc
	if !errors.Is(err, ErrFatal) {
		t.Fatalf("Run = %v, want ErrFatal", err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.ops) != 4 {
		t.Fatalf("%d disk ops, want 4", len(rec.ops))
	}
	replies := 0
	for _, m := range rec.sent {
		if m.To == 1000 {
			replies++
		}
	}
	if replies != 4 {
		t.Fatalf("%d replies, want 4", replies)
	}
}

// The one SetTimer definition: only the latest wish fires, zero cancels,
// the same wish twice arms once, and a stopped process's wake-ups are void.
func TestAlarm(t *testing.T) {
	var a Alarm
	g1, arm := a.Set(10)
	if !arm {
		t.Fatal("first wish not armed")
	}
	if _, arm := a.Set(10); arm {
		t.Fatal("the same wish armed twice")
	}
	g2, arm := a.Set(20)
	if !arm || a.Fire(g1) {
		t.Fatal("a replaced wish fired")
	}
	if !a.Fire(g2) || a.Fire(g2) {
		t.Fatal("the current wish must fire exactly once")
	}
	g3, _ := a.Set(30)
	if _, arm := a.Set(0); !arm || a.Fire(g3) {
		t.Fatal("a cancelled wish fired")
	}
	g4, _ := a.Set(40)
	a.Reset()
	if a.Fire(g4) {
		t.Fatal("a wish of a stopped process fired")
	}
	if _, arm := a.Set(40); !arm {
		t.Fatal("after Reset the same time must arm again")
	}
}

// Every Step error is logged with its event, the loop carries on, and events
// queued together are stepped before one Ready (one StartLog call).
func TestLoopLogsStepErrorsAndBatches(t *testing.T) {
	node := &echoNode{timers: 3} // no timer traffic
	rec := &recorder{}
	var logs bytes.Buffer
	loop := NewLoop(node, Adapters{Log: rec, Net: rec}, LoopConfig{Queue: 16, Log: zerolog.New(&logs)})
	rec.loop = loop
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Queue before Run starts: the first batch holds all of them.
	_ = loop.Post(ctx, sm.Received{From: 2000000, Msg: sm.ProduceRequest{ReqID: 1}})
	for i := range 5 {
		_ = loop.Post(ctx, sm.Received{From: 2000000, Msg: sm.MetadataRequest{ReqID: uint64(i)}})
	}
	errc := make(chan error, 1)
	go func() { errc <- loop.Run(ctx) }()
	for rec.count(2000000) < 5 {
		if ctx.Err() != nil {
			t.Fatal("replies did not come")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-errc
	if loop.StepErrors() != 1 {
		t.Fatalf("%d step errors counted, want 1", loop.StepErrors())
	}
	if !strings.Contains(logs.String(), "received sm.ProduceRequest from cl2000000") || !strings.Contains(logs.String(), "not routable") {
		t.Fatalf("step error not logged with its event: %q", logs.String())
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.starts != 1 || len(rec.ops) != 5 {
		t.Fatalf("%d StartLog calls for %d ops, want 1 call (one batch) for 5", rec.starts, len(rec.ops))
	}
}

// A node that issues an effect its driver has no adapter for stops.
func TestLoopFatalWithoutAdapter(t *testing.T) {
	node := &echoNode{timers: 3}
	rec := &recorder{}
	loop := NewLoop(node, Adapters{Net: rec}, LoopConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = loop.Post(ctx, sm.Received{From: 1000, Msg: sm.MetadataRequest{}})
	err := loop.Run(ctx)
	if !errors.Is(err, ErrFatal) || !strings.Contains(err.Error(), "no log store") {
		t.Fatalf("Run = %v, want a fatal stop naming the missing log store", err)
	}
}
