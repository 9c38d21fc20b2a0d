package wal

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/weirmq/weir/runtime"
	"github.com/weirmq/weir/sm"
)

// diskNode is a minimal runtime.Node: at its first timer it issues a run of
// appends, a truncate and more appends in two Readies, then stops itself
// once every LogDone has arrived.
type diskNode struct {
	rd     sm.Ready
	m      *model
	nextID sm.EffectID
	issued []sm.EffectID
	done   []sm.EffectID
	failed string
}

func (n *diskNode) issue(op sm.LogOp) {
	n.nextID++
	op.ID, op.TP, op.Sync = n.nextID, n.m.tp, true
	n.rd.Log = append(n.rd.Log, op)
	n.issued = append(n.issued, op.ID)
}

func (n *diskNode) Step(now sm.Time, ev sm.Event) error {
	switch e := ev.(type) {
	case sm.TimerFired:
		if n.nextID > 0 {
			return nil
		}
		for range 20 {
			n.issue(sm.LogOp{Kind: sm.LogAppend, Data: n.m.add(1, 3, 100)})
		}
		n.m.truncate(30)
		n.issue(sm.LogOp{Kind: sm.LogTruncate, Offset: 30})
	case sm.LogDone:
		n.done = append(n.done, e.ID)
		if e.Outcome != sm.OutcomeOK {
			n.failed = e.Reason
			n.rd.Fatal = e.Reason
		}
		if e.ID == 21 { // after the truncate: a second Ready
			for range 5 {
				n.issue(sm.LogOp{Kind: sm.LogAppend, Data: n.m.add(1, 2, 50)})
			}
		}
		if len(n.done) == len(n.issued) && n.rd.Fatal == "" {
			n.rd.Fatal = "finished"
		}
	}
	return nil
}
func (n *diskNode) Ready() sm.Ready        { return n.rd }
func (n *diskNode) Advance()               { n.rd = sm.Ready{} }
func (n *diskNode) CheckInvariants() error { return nil }

// The Executor is the disk half of runtime.Adapters: a real runtime.Loop
// drives a node whose disk operations go to the WAL, and every LogDone
// comes back through Loop.Post, in issue order.
func TestRuntimeLoopWiring(t *testing.T) {
	forBackends(t, func(t *testing.T, be string) {
		dir := t.TempDir()
		cfg := testConfig(dir, be)
		w, _ := mustOpen(t, cfg)
		node := &diskNode{m: &model{tp: tp0}}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var loop *runtime.Loop
		exec := w.NewExecutor(func(d sm.LogDone) { _ = loop.Post(ctx, d) })
		loop = runtime.NewLoop(node, runtime.Adapters{Log: exec}, runtime.LoopConfig{Queue: 4}) // a small queue: the WAL feels back-pressure
		err := loop.Run(ctx)
		if !errors.Is(err, runtime.ErrFatal) || node.failed != "" || len(node.done) != 26 {
			t.Fatalf("loop ended with %v; failed %q; %d of %d done", err, node.failed, len(node.done), len(node.issued))
		}
		if !slices.Equal(node.done, node.issued) {
			t.Fatalf("completions %v, issued %v", node.done, node.issued)
		}
		mustClose(t, w)
		_, rec := mustOpen(t, cfg)
		checkLog(t, rec, node.m)
	})
}
