package sim

import (
	"testing"

	"github.com/weirmq/weir/runtime/logtest"
	"github.com/weirmq/weir/sm"
)

// The simulated disk keeps the log-store contract the production WAL keeps
// (runtime/logtest), driven through the host's real effect path: StartLog
// and StartRead with drawn latencies, per-log completion order, syncs at
// completion, and the manifest recovery a restart runs.
func TestDiskContract(t *testing.T) {
	logtest.Run(t, func(t *testing.T) logtest.Store { return newContractStore(t) })
}

// contractStore is one broker host of a bare world whose node records the
// completions it is handed.
type contractStore struct {
	w    *World
	h    *host
	node *recorder
}

// recorder is a node that keeps every event it is stepped with.
type recorder struct{ events []sm.Event }

func (r *recorder) Step(_ sm.Time, ev sm.Event) error { r.events = append(r.events, ev); return nil }
func (r *recorder) Ready() sm.Ready                   { return sm.Ready{} }
func (r *recorder) Advance()                          {}
func (r *recorder) CheckInvariants() error            { return nil }

func newContractStore(t *testing.T) *contractStore {
	cfg := DefaultConfig(uint64(len(t.Name())))
	w := &World{cfg: cfg, hosts: map[sm.NodeID]*host{}, diskRNG: newRNG(cfg.Seed).child("disk"), faultRNG: newRNG(cfg.Seed).child("fault")}
	h := w.addHost(firstBrokerID, kindBroker)
	rec := &recorder{}
	h.node, h.up, h.incarnation = rec, true, 1
	return &contractStore{w: w, h: h, node: rec}
}

func (s *contractStore) StartLog(ops []sm.LogOp)      { s.h.StartLog(ops) }
func (s *contractStore) StartRead(reads []sm.LogRead) { s.h.StartRead(reads) }

// Next runs the world until the node has been handed a completion.
func (s *contractStore) Next(t *testing.T) sm.Event {
	s.w.runUntil(s.w.now.Add(3600*sm.Second), func() bool { return len(s.node.events) > 0 })
	if len(s.node.events) == 0 {
		t.Fatalf("sim: nothing completed within an hour of virtual time")
	}
	ev := s.node.events[0]
	s.node.events = s.node.events[1:]
	return ev
}

// Restart is a clean shutdown — the page cache reaches the disk — then a
// crash of the process and the manifest recovery of the next one.
func (s *contractStore) Restart(t *testing.T) map[sm.TopicPartition]sm.LogManifest {
	for name := range s.h.disk.logs {
		s.h.disk.sync(name)
	}
	s.h.crash(false)
	ms, damaged, err := s.h.recoverLogs()
	if err != nil || len(damaged) > 0 {
		t.Fatalf("sim: recovery: %v %v", err, damaged)
	}
	s.h.node, s.h.up = s.node, true
	s.h.incarnation++
	return ms
}
