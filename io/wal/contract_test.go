package wal

import (
	"testing"
	"time"

	"github.com/weirmq/weir/io/wal/walfs"
	"github.com/weirmq/weir/runtime/logtest"
	"github.com/weirmq/weir/sm"
)

// The WAL keeps the log-store contract every store shares (runtime/logtest),
// on each backend and on the strict in-memory file system, recovering by
// manifest (without ReadLogBytes).
func TestLogStoreContract(t *testing.T) {
	forBackends(t, func(t *testing.T, be string) {
		logtest.Run(t, func(t *testing.T) logtest.Store {
			cfg := testConfig(t.TempDir(), be)
			cfg.ReadLogBytes = false
			return openContractStore(t, cfg)
		})
	})
	t.Run("mem", func(t *testing.T) {
		logtest.Run(t, func(t *testing.T) logtest.Store {
			cfg := memConfig(walfs.NewMem())
			cfg.ReadLogBytes = false
			return openContractStore(t, cfg)
		})
	})
}

// contractStore is a WAL as a logtest.Store.
type contractStore struct {
	cfg    Config
	w      *WAL
	exec   *Executor
	events chan sm.Event
}

func openContractStore(t *testing.T, cfg Config) *contractStore {
	s := &contractStore{cfg: cfg, events: make(chan sm.Event, 4096)}
	s.open(t)
	t.Cleanup(func() {
		if s.w != nil {
			_ = s.w.Close()
		}
	})
	return s
}

func (s *contractStore) open(t *testing.T) Recovery {
	t.Helper()
	w, rec, err := Open(s.cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	s.w = w
	s.exec = w.NewExecutor(func(d sm.LogDone) { s.events <- d }).WithReads(func(d sm.LogReadDone) { s.events <- d })
	return rec
}

func (s *contractStore) StartLog(ops []sm.LogOp)   { s.exec.StartLog(ops) }
func (s *contractStore) StartRead(rs []sm.LogRead) { s.exec.StartRead(rs) }

func (s *contractStore) Next(t *testing.T) sm.Event {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-time.After(30 * time.Second):
		t.Fatalf("wal: no completion within 30s")
		return nil
	}
}

func (s *contractStore) Restart(t *testing.T) map[sm.TopicPartition]sm.LogManifest {
	t.Helper()
	if err := s.w.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	s.w = nil
	rec := s.open(t)
	if len(rec.Damaged) > 0 || len(rec.Repairs) > 0 || len(rec.Warnings) > 0 {
		t.Fatalf("restart after a clean close: damage %v, repairs %q, warnings %q", rec.Damaged, rec.Repairs, rec.Warnings)
	}
	if rec.Logs != nil {
		t.Fatalf("Recovery.Logs filled without ReadLogBytes")
	}
	return rec.Manifests
}
