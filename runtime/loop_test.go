package runtime

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/weirmq/weir/sm"
)

// echoNode replies to every message, asks for a timer 5ms out, writes one
// disk op per message, and stops itself on a DiskDone error.
type echoNode struct {
	rd     sm.Ready
	timers int
	done   []uint64
	nextID uint64
}

func (n *echoNode) Step(now sm.Time, ev sm.Event) error {
	switch e := ev.(type) {
	case sm.Received:
		n.nextID++
		n.rd.Disk = append(n.rd.Disk, sm.DiskOp{ID: n.nextID, Kind: sm.DiskAppend, Sync: true})
		n.rd.Messages = append(n.rd.Messages, sm.Envelope{From: 1, To: e.From, Msg: e.Msg})
	case sm.TimerFired:
		n.timers++
		n.rd.Messages = append(n.rd.Messages, sm.Envelope{From: 1, To: 2, Msg: sm.MetadataRequest{ReqID: uint64(n.timers)}})
	case sm.DiskDone:
		if e.Err != "" {
			n.rd.Fatal = e.Err
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
	ops  []sm.DiskOp
	loop *Loop
	fail bool
}

func (r *recorder) StartDisk(ops []sm.DiskOp) {
	r.mu.Lock()
	r.ops = append(r.ops, ops...)
	fail := r.fail
	r.mu.Unlock()
	go func() {
		for _, op := range ops {
			d := sm.DiskDone{ID: op.ID}
			if fail {
				d.Err = "fsync: input/output error"
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
	loop := NewLoop(node, rec, 16)
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
