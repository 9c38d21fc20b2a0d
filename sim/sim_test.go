package sim

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weirmq/weir/sm"
)

var (
	flagSeeds   = flag.Int("seeds", 0, "number of seeds to run (default 300, or WEIR_SIM_SEEDS)")
	flagSeed    = flag.Uint64("seed", 0, "replay one seed (or WEIR_SIM_SEED)")
	flagFirst   = flag.Uint64("first", 1, "first seed of the range")
	flagVerbose = flag.Bool("trace", false, "print the event trace of a single replayed seed")
	flagFaults  = flag.String("faults", "all", "fault classes: all, none, or a comma list")
	flagSave    = flag.String("save", os.Getenv("WEIR_SIM_SAVE"), "directory to write failing seeds as scenario files, with porcupine HTML (or WEIR_SIM_SAVE)")
)

func envInt(name string) (uint64, bool) {
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("%s=%q: want a number", name, v))
	}
	return n, true
}

// TestSim runs a range of seeds (safety phase with every fault class, then a
// liveness phase) and checks every history. A failing seed prints the command
// that replays it.
func TestSim(t *testing.T) {
	faults, err := ParseFaults(*flagFaults)
	if err != nil {
		t.Fatal(err)
	}
	seeds := []uint64{}
	single, ok := envInt("WEIR_SIM_SEED")
	if *flagSeed != 0 {
		single, ok = *flagSeed, true
	}
	if ok {
		seeds = append(seeds, single)
	} else {
		n := uint64(300)
		if v, ok := envInt("WEIR_SIM_SEEDS"); ok {
			n = v
		}
		if *flagSeeds > 0 {
			n = uint64(*flagSeeds)
		}
		if testing.Short() {
			n = min(n, 20)
		}
		for i := range n {
			seeds = append(seeds, *flagFirst+i)
		}
	}
	var total Stats
	start := time.Now()
	failed, durable, porcupineOps, porcupineUnknown := 0, 0, 0, 0
	for _, seed := range seeds {
		cfg := DefaultConfig(seed)
		cfg.Faults = faults
		if len(seeds) == 1 && *flagVerbose {
			cfg.Trace = os.Stdout
		}
		cfg.VizDir = *flagSave
		res := Run(cfg)
		accumulate(&total, &res.Stats)
		if res.Log != nil {
			durable += res.Log.DurableVerified
		}
		porcupineOps += res.Porcupine.LogOps + res.Porcupine.TopicOps
		if res.Porcupine.Unknown() {
			porcupineUnknown++
		}
		if res.Err != nil {
			failed++
			t.Errorf("seed %d failed: %v\nreproduce: %s", seed, res.Err, res.Reproduce())
			if *flagSave != "" {
				path, err := res.WriteScenario(*flagSave)
				if err != nil {
					t.Error(err)
				}
				t.Logf("saved as scenario %s", path)
			}
			if failed >= 3 {
				break
			}
		}
	}
	wall := time.Since(start)
	t.Logf("seeds=%d failed=%d ops=%d durable-acks-verified=%d porcupine-ops=%d porcupine-timeouts=%d",
		len(seeds), failed, total.Ops, durable, porcupineOps, porcupineUnknown)
	t.Logf("events=%d simulated=%.0fs wall=%v speed=%.0fx sim-s/wall-s",
		total.Events, float64(total.Simulated)/1e9, wall.Round(time.Millisecond), float64(total.Simulated)/1e9/wall.Seconds())
	t.Logf("faults injected: %s fatal-stops=%d", total.FaultSummary(), total.Fatals)
	t.Logf("paths reached: %s", total.ReachedSummary())
	if len(seeds) >= 100 && faults == AllFaults && failed == 0 {
		checkCoverage(t, &total)
	}
}

// mustReach are the protocol paths a default campaign must exercise; if one
// never fires, the faults have stopped testing it.
var mustReach = []string{
	"replica fetch diverging", "log truncated", "torn tail on crash",
	"produce NOT_ENOUGH_REPLICAS", "produce LEADERSHIP_LOST", "produce TIMEOUT",
	"fetch LEADER_NOT_AVAILABLE", "alter isr requested",
	"create topic OK", "create topic TOPIC_ALREADY_EXISTS", "delete topic UNKNOWN_TOPIC",
	"cluster status linearizable", "cluster status NOT_LEADER",
	"append refused", "produce STORAGE_ERROR",
	// In-code probes (sm.Probe) the state machines report.
	sm.ProbeISRShrinkLagTime.String(), sm.ProbeISRExpand.String(), sm.ProbeFollowerTruncated.String(),
	sm.ProbeStaleFetchAnswerIgnored.String(), sm.ProbeLeaderBelowEpochStart.String(),
	sm.ProbeAppendRolledBack.String(), sm.ProbeAckAfterAppendShrunk.String(), sm.ProbeParkedFetchExpired.String(),
	sm.ProbeReplicaDropped.String(), sm.ProbeSessionExpired.String(), sm.ProbeNewIncarnationFenced.String(),
	sm.ProbePartitionOffline.String(), sm.ProbeAlterISRRejected.String(), sm.ProbeProposalsLost.String(),
	sm.ProbeStaleIncarnationFetchRefused.String(), "zombie thawed",
	sm.ProbeELRElected.String(), sm.ProbeHWHeldBelowMinISR.String(),
	sm.ProbeCompletionForGoneComponent.String(), sm.ProbeLeaseExpired.String(),
}

func checkCoverage(t *testing.T, s *Stats) {
	t.Helper()
	for _, p := range mustReach {
		if s.Reached[p] == 0 {
			t.Errorf("coverage: %q never reached", p)
		}
	}
	for f := Fault(0); f < faultCount; f++ {
		if s.Faults[f] == 0 {
			t.Errorf("coverage: fault %s never injected", f)
		}
	}
}

func accumulate(dst, src *Stats) {
	dst.Events += src.Events
	dst.Messages += src.Messages
	dst.Dropped += src.Dropped
	dst.Ops += src.Ops
	dst.Fatals += src.Fatals
	dst.StepErrors += src.StepErrors
	dst.Simulated += src.Simulated
	dst.Wall += src.Wall
	for k, v := range src.Reached {
		dst.reach(k)
		dst.Reached[k] += v - 1
	}
	for i := range src.Faults {
		dst.Faults[i] += src.Faults[i]
	}
}

// TestDeterminism runs one seed twice and compares the hash of the full event
// trace: the same seed must give the same run, event for event.
func TestDeterminism(t *testing.T) {
	for _, seed := range []uint64{1, 7} {
		a, b := Run(DefaultConfig(seed)), Run(DefaultConfig(seed))
		if a.TraceHash != b.TraceHash || a.Stats.Events != b.Stats.Events {
			t.Fatalf("seed %d: runs differ: hash %x vs %x, events %d vs %d", seed, a.TraceHash, b.TraceHash, a.Stats.Events, b.Stats.Events)
		}
		if len(a.History.Ops) != len(b.History.Ops) {
			t.Fatalf("seed %d: histories differ: %d vs %d ops", seed, len(a.History.Ops), len(b.History.Ops))
		}
	}
}

// TestCanary plants a known bug — acks=all acknowledged once the leader has
// the record, before the ISR does — and requires the simulator to catch it
// within a bounded number of seeds.
func TestCanary(t *testing.T) {
	const budget = 60
	for seed := uint64(1); seed <= budget; seed++ {
		cfg := DefaultConfig(seed)
		cfg.Canary = true
		if res := Run(cfg); res.Err != nil {
			t.Logf("canary caught at seed %d: %v", seed, firstLine(res.Err.Error()))
			return
		}
	}
	t.Fatalf("canary bug not caught in %d seeds", budget)
}

// TestCanaryReadIndex plants a bug in linearizable cluster-status reads —
// the leader answers from its applied state without a ReadIndex round, so a
// deposed or lagging leader answers stale — and requires the clients' check
// (applied index at least the commit index when asked) to catch it.
func TestCanaryReadIndex(t *testing.T) {
	const budget = 60
	for seed := uint64(1); seed <= budget; seed++ {
		cfg := DefaultConfig(seed)
		cfg.CanaryReadIndex = true
		if res := Run(cfg); res.Err != nil {
			if !strings.Contains(res.Err.Error(), "cluster status: linearizable answer") {
				t.Fatalf("seed %d failed for another reason: %v", seed, res.Err)
			}
			t.Logf("canary caught at seed %d: %v", seed, firstLine(res.Err.Error()))
			return
		}
	}
	t.Fatalf("read-index canary not caught in %d seeds", budget)
}

// TestCanaryZombie plants trust in replaced incarnations — leaders serve
// and count a zombie's replica fetches — and requires the zombie checker
// to catch it.
func TestCanaryZombie(t *testing.T) {
	const budget = 60
	for seed := uint64(1); seed <= budget; seed++ {
		cfg := DefaultConfig(seed)
		cfg.CanaryZombie = true
		cfg.Faults = 1<<FaultZombie | 1<<FaultDrop | 1<<FaultDelay
		if res := Run(cfg); res.Err != nil {
			if !strings.Contains(res.Err.Error(), "zombie:") {
				t.Fatalf("seed %d failed for another reason: %v", seed, res.Err)
			}
			t.Logf("canary caught at seed %d: %v", seed, firstLine(res.Err.Error()))
			return
		}
	}
	t.Fatalf("zombie canary not caught in %d seeds", budget)
}

func firstLine(s string) string {
	for i := range s {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}

// BenchmarkSim reports nanoseconds per simulated event and simulated seconds
// per wall second at the default workload.
func BenchmarkSim(b *testing.B) {
	var events uint64
	var simulated float64
	start := time.Now()
	for i := 0; i < b.N; i++ {
		res := Run(DefaultConfig(uint64(i + 1)))
		if res.Err != nil {
			b.Fatalf("seed %d: %v", i+1, res.Err)
		}
		events += res.Stats.Events
		simulated += float64(res.Stats.Simulated) / 1e9
	}
	wall := time.Since(start)
	b.ReportMetric(float64(wall.Nanoseconds())/float64(events), "ns/event")
	b.ReportMetric(simulated/wall.Seconds(), "sim-s/wall-s")
}

// TestWriteScenario: a failing seed is saved as a scenario file that the
// scenarios package replays with the seed command.
func TestWriteScenario(t *testing.T) {
	res := &Result{Seed: 42, Err: fmt.Errorf("history check: lost=1\nsecond line")}
	path, err := res.WriteScenario(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for _, want := range []string{"# failed with: history check: lost=1\n", "# failed with: second line\n", "seed n=42\n----\nok\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("scenario file lacks %q:\n%s", want, s)
		}
	}
}

// TestConfigValidate names the bad field.
func TestConfigValidate(t *testing.T) {
	cfg := DefaultConfig(1)
	cfg.Brokers = 2
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "replication factor 3 above 2 brokers") {
		t.Fatalf("Validate = %v", err)
	}
	if _, err := ParseFaults("crash,bogus"); err == nil || !strings.Contains(err.Error(), `"bogus"`) {
		t.Fatalf("ParseFaults = %v", err)
	}
	if s, err := ParseFaults("crash,torn"); err != nil || !s.Has(FaultCrash) || !s.Has(FaultTornWrite) || s.Has(FaultDrop) {
		t.Fatalf("ParseFaults = %v, %v", s, err)
	}
}
