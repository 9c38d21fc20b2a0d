package testkit

import (
	"math/rand/v2"
	"testing"

	"github.com/weirmq/weir/runtime/logtest"
	"github.com/weirmq/weir/sm"
)

// Goal: the test kit's disk keeps the log-store contract the production WAL
// and the simulator's disk keep (runtime/logtest), completing its ops and
// reads in an order drawn from a seed: reads in any order, each log's ops
// in issue order, logs interleaved.
func TestDiskContract(t *testing.T) {
	logtest.Run(t, func(t *testing.T) logtest.Store {
		return &contractStore{d: NewDisk(), r: rand.New(rand.NewPCG(uint64(len(t.Name())), 9))}
	})
}

type contractStore struct {
	d *Disk
	r *rand.Rand
}

func (s *contractStore) StartLog(ops []sm.LogOp)      { s.d.StartLog(ops) }
func (s *contractStore) StartRead(reads []sm.LogRead) { s.d.StartRead(reads) }

func (s *contractStore) Next(t *testing.T) sm.Event {
	reads, logs := s.d.PendingReads(), s.d.PendingLogs()
	switch {
	case len(reads) > 0 && (len(logs) == 0 || s.r.IntN(2) == 0):
		d, _ := s.d.CompleteReadID(reads[s.r.IntN(len(reads))].ID, sm.OutcomeOK, "")
		return d
	case len(logs) > 0:
		d, _ := s.d.CompleteLog(logs[s.r.IntN(len(logs))], sm.OutcomeOK, "")
		return d
	}
	t.Fatal("testkit: Next with nothing pending")
	return nil
}

// Restart is a clean shutdown (nothing is pending) and the next process's
// Open.
func (s *contractStore) Restart(t *testing.T) map[sm.TopicPartition]sm.LogManifest {
	s.d.Crash(0)
	ms, damaged := s.d.Manifests()
	if damaged != nil {
		t.Fatalf("testkit: recovery found damage: %v", damaged)
	}
	return ms
}
