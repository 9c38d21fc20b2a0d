package sim

import (
	"strings"
	"testing"
)

// The raft checker fails when a controller's committed entry differs from
// the cluster's, or when two controllers lead one term: plant each in the
// checker's reference after a real run and check again.
func TestRaftCheckerCatches(t *testing.T) {
	for _, plant := range []struct {
		name, want string
		do         func(w *World)
	}{
		{"changed entry", "holds committed entry", func(w *World) {
			for i, e := range w.inv.raft {
				e.term += 100
				w.inv.raft[i] = e
			}
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
			if w.failure == nil || !strings.Contains(w.failure.Error(), plant.want) {
				t.Fatalf("checker said %v, want %q", w.failure, plant.want)
			}
		})
	}
}
