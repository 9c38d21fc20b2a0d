package sim

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirmq/weir/linearizability"
	"github.com/weirmq/weir/sm"
)

// The raft checker fails when a controller's committed entry differs from
// the cluster's, or when two controllers lead one term: plant each in the
// checker's reference after a real run and check again.
func TestRaftCheckerCatches(t *testing.T) {
	for _, plant := range []struct {
		name, want string
		do         func(w *World)
	}{
		// With compaction a controller may hold no entry of the run any
		// more, only a snapshot of a committed one: either is caught.
		{"changed entry", "holds committed entry|holds a snapshot at", func(w *World) {
			for i, e := range w.inv.raft {
				e.term += 100
				w.inv.raft[i] = e
			}
		}},
		{"changed metadata", "differs from", func(w *World) {
			for i, st := range w.inv.raftStates {
				st.digest += "x"
				w.inv.raftStates[i] = st
			}
			clear(w.inv.raftStateSeen) // compare every controller again
		}},
		{"two leaders", "both lead term", func(w *World) {
			for term := range w.inv.raftLeaders {
				w.inv.raftLeaders[term] = 99
			}
		}},
	} {
		t.Run(plant.name, func(t *testing.T) {
			cfg := DefaultConfig(7)
			w, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			withSeededCrypto(cfg.Seed, func() { err = w.run() })
			if err != nil {
				t.Fatal(err)
			}
			if len(w.inv.raft) == 0 || len(w.inv.raftLeaders) == 0 {
				t.Fatalf("the run checked %d raft entries and %d terms: nothing to plant in", len(w.inv.raft), len(w.inv.raftLeaders))
			}
			plant.do(w)
			clear(w.inv.raftVerified) // re-check every entry
			w.checkCluster()
			if w.failure == nil || !slices.ContainsFunc(strings.Split(plant.want, "|"), func(want string) bool { return strings.Contains(w.failure.Error(), want) }) {
				t.Fatalf("checker said %v, want %q", w.failure, plant.want)
			}
		})
	}
}

// A porcupine search that runs out of time fails the run. The history is
// built so the search cannot finish: 40 creates of one topic with unknown
// outcomes (each may land at any time after its call, so porcupine must try
// every subset of them) before two creates that both succeeded, which no
// subset explains.
func TestPorcupineTimeoutFails(t *testing.T) {
	h := &linearizability.History{}
	for i := range 40 {
		h.Ops = append(h.Ops, linearizability.Op{Client: i, Kind: linearizability.CreateTopic, TP: "x", Partitions: 1,
			Call: int64(i), Return: 1000, Outcome: linearizability.Unknown})
	}
	for i, call := range []int64{2000, 4000} {
		h.Ops = append(h.Ops, linearizability.Op{Client: 40 + i, Kind: linearizability.CreateTopic, TP: "x", Partitions: 1,
			Call: call, Return: call + 100, Outcome: linearizability.OK})
	}
	r := &Result{Seed: 1, History: h}
	err := r.check("", 200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "porcupine timed out after 200ms") || !r.Porcupine.Unknown() {
		t.Fatalf("check = %v (porcupine %s), want a timeout failure", err, r.Porcupine.String())
	}
}

// The disk oracle reads a broker's partition log from its disk as the
// replica knows it: from its log start to its log end, with no gap, in a
// run whose logs roll and are read back, at every 100ms.
func TestDiskOracleMatchesReplica(t *testing.T) {
	w, err := NewScripted(DefaultConfig(11))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Boot(); err != nil {
		t.Fatal(err)
	}
	tp := w.workloadTPs()[0]
	if err := w.Produce(firstClientID, tp, sm.Acks{Kind: sm.AckAll}, 30); err != nil {
		t.Fatal(err)
	}
	compared := 0
	for range 30 {
		if err := w.RunFor(100 * sm.Millisecond); err != nil {
			t.Fatal(err)
		}
		for _, id := range w.brokerIDs() {
			b := w.brokerNode(id)
			if b == nil {
				continue
			}
			for tp, st := range statusByTP(b) {
				log, err := w.diskLog(id, tp, 0)
				if err != nil {
					t.Fatalf("%v %v: %v", id, tp, err)
				}
				start, end := st.LogStart, st.LogStart
				if n := len(log); n > 0 {
					start, end = log[0].BaseOffset, log[n-1].NextOffset()
				}
				if start != st.LogStart || end != st.LEO {
					t.Fatalf("%v %v: disk holds [%d,%d), the replica [%d,%d)", id, tp, start, end, st.LogStart, st.LEO)
				}
				compared += len(log)
			}
		}
	}
	if compared == 0 {
		t.Fatal("no batch compared")
	}
}
