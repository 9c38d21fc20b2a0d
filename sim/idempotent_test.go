package sim

import (
	"strings"
	"testing"

	"github.com/weirmq/weir/sm"
)

// idemRunOK runs seed on DefaultConfig with the idempotent workload and no
// faults (so nothing is retried for a lost reply) and returns the world,
// which passed every check.
func idemRunOK(t *testing.T, seed uint64) *World {
	t.Helper()
	cfg := DefaultConfig(seed)
	cfg.Idempotent = DefaultIdempotentWorkload()
	cfg.Idempotent.InflightMax = 1 // in order whatever the leaders check
	cfg.Faults, cfg.DropRate, cfg.DupRate = 0, 0, 0
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	withSeededCrypto(cfg.Seed, func() { err = w.run() })
	if err != nil {
		t.Fatal(err)
	}
	if len(w.idem.batches) == 0 {
		t.Fatal("the producers sent no batch")
	}
	return w
}

// firstAcked is the first acknowledged batch of a durable partition with
// at least n records, whose offsets the checker read.
func firstAcked(t *testing.T, w *World, n int) *idemBatch {
	t.Helper()
	for _, b := range w.idem.batches {
		log := w.inv.committed[b.part.tp]
		if b.acked && b.part.durable && len(b.values) >= n && int(b.offset)+len(b.values) <= len(log) && log[b.offset] != unverified {
			return b
		}
	}
	t.Fatalf("no acknowledged batch of %d records or more", n)
	return nil
}

// The duplicate checker fails on a value stored twice, an acknowledged
// batch away from its offset or gone, and a producer's values out of
// order: plant each in the committed log of a run that passed.
func TestIdempotentCheckerCatches(t *testing.T) {
	for _, plant := range []struct {
		name, want string
		do         func(t *testing.T, w *World)
	}{
		{"duplicate", "idempotent: duplicate: producer", func(t *testing.T, w *World) {
			b := firstAcked(t, w, 1)
			w.inv.committed[b.part.tp] = append(w.inv.committed[b.part.tp], b.values[0])
		}},
		{"moved", "was acknowledged at offset", func(t *testing.T, w *World) {
			b := firstAcked(t, w, 1)
			b.offset++
		}},
		{"lost", "and the value nowhere", func(t *testing.T, w *World) {
			b := firstAcked(t, w, 1)
			w.inv.committed[b.part.tp][b.offset] = "not-a-produced-value"
		}},
		{"order", "idempotent: order: producer", func(t *testing.T, w *World) {
			b := firstAcked(t, w, 2)
			log := w.inv.committed[b.part.tp]
			log[b.offset], log[b.offset+1] = log[b.offset+1], log[b.offset]
		}},
	} {
		t.Run(plant.name, func(t *testing.T) {
			w := idemRunOK(t, 3)
			if err := w.checkIdempotent(); err != nil {
				t.Fatalf("before the plant: %v", err)
			}
			plant.do(t, w)
			err := w.checkIdempotent()
			if err == nil || !strings.Contains(err.Error(), plant.want) {
				t.Fatalf("checker said %v, want %q", err, plant.want)
			}
			t.Logf("caught: %v", err)
		})
	}
}

// TestIdempotentOff: a config without idempotent producers runs none.
func TestIdempotentOff(t *testing.T) {
	res := Run(DefaultConfig(1))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	for k := range res.Stats.Reached {
		if strings.HasPrefix(k, "idempotent") {
			t.Errorf("a run without idempotent producers reached %q", k)
		}
	}
}

// TestSeqAdd: sequences wrap from MaxInt32 to 0, as Kafka's do.
func TestSeqAdd(t *testing.T) {
	for _, c := range []struct {
		seq  int32
		n    int
		want int32
	}{{0, 3, 3}, {2147483646, 1, 2147483647}, {2147483647, 1, 0}, {2147483645, 5, 2}} {
		if got := seqAdd(c.seq, c.n); got != c.want {
			t.Errorf("seqAdd(%d, %d) = %d, want %d", c.seq, c.n, got, c.want)
		}
	}
}

// TestCanaryStoreDuplicates plants partition leaders that append a retried
// idempotent batch again instead of answering DUPLICATE_SEQUENCE_NUMBER,
// and requires the duplicate checker to catch it within a few seeds (and
// the same seed to pass without it).
func TestCanaryStoreDuplicates(t *testing.T) {
	const budget = 20
	for seed := uint64(1); seed <= budget; seed++ {
		cfg := DefaultConfig(seed)
		cfg.Idempotent = DefaultIdempotentWorkload()
		cfg.CanaryStoreDuplicates = true
		if res := Run(cfg); res.Err != nil {
			if !strings.Contains(res.Err.Error(), "idempotent: duplicate:") {
				t.Fatalf("seed %d failed for another reason: %v", seed, res.Err)
			}
			t.Logf("canary caught at seed %d: %v", seed, firstLine(res.Err.Error()))
			cfg.CanaryStoreDuplicates = false
			if res := Run(cfg); res.Err != nil {
				t.Fatalf("seed %d fails without the canary too: %v", seed, res.Err)
			}
			return
		}
	}
	t.Fatalf("store-duplicates canary not caught in %d seeds", budget)
}

// TestIdempotentRun runs DefaultConfig seeds with the idempotent workload:
// they pass, and together reach the idempotent paths.
func TestIdempotentRun(t *testing.T) {
	reached := map[string]int{}
	for _, seed := range []uint64{1, 2, 3, 4} {
		cfg := DefaultConfig(seed)
		cfg.Idempotent = DefaultIdempotentWorkload()
		res := Run(cfg)
		if res.Err != nil {
			t.Fatalf("seed %d: %v", seed, res.Err)
		}
		for k, v := range res.Stats.Reached {
			reached[k] += v
		}
	}
	for _, p := range []string{"idempotent producer id", "idempotent batch retried", "idempotent producers drained", "idempotent ack verified",
		sm.ProbeDuplicateSequence.String(), sm.ProbeOutOfOrderSequence.String()} {
		if reached[p] == 0 {
			t.Errorf("%q never reached", p)
		}
	}
}

// TestIdempotentDeterminism: a run with idempotent producers replays event
// for event (their decisions and network draws come from their own
// streams).
func TestIdempotentDeterminism(t *testing.T) {
	cfg := DefaultConfig(5)
	cfg.Idempotent = DefaultIdempotentWorkload()
	a, b := Run(cfg), Run(cfg)
	if a.Err != nil {
		t.Fatal(a.Err)
	}
	if a.TraceHash != b.TraceHash || a.Stats.Events != b.Stats.Events || len(a.History.Ops) != len(b.History.Ops) {
		t.Fatalf("runs differ: hash %x vs %x, events %d vs %d, ops %d vs %d", a.TraceHash, b.TraceHash, a.Stats.Events, b.Stats.Events, len(a.History.Ops), len(b.History.Ops))
	}
	if a.Stats.Reached["idempotent ack verified"] == 0 {
		t.Fatal("no idempotent batch was acknowledged")
	}
}
