package sim

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
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
	flagVerbose = flag.Bool("events", false, "print the event trace of a single replayed seed (not -trace: go test takes that for its own)")
	flagFaults  = flag.String("faults", "", "fault classes: all, none, or a comma list (default: each seed draws its own, see Swarm)")
	flagMaxFail = flag.Int("maxfail", 3, "stop a seed range (each worker) after this many failing seeds")
	flagWorkers = flag.Int("workers", 0, "worker processes for a seed range (default GOMAXPROCS; 1 runs in this process)")
	flagShared  = flag.Bool("sharedmemberids", false, "group members of every seed keep one client ID across joins (GroupWorkload.SharedClientIDs; else drawn)")
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

// seedConfig is the configuration TestSim runs for seed: Swarm's draw, with
// the fault classes replaced when -faults names them.
func seedConfig(seed uint64, faults string) (Config, error) {
	cfg := Swarm(seed)
	if faults != "" {
		set, err := ParseFaults(faults)
		if err != nil {
			return cfg, err
		}
		cfg.Faults = set
	}
	if *flagShared {
		cfg.Groups.SharedClientIDs = true
	}
	cfg.VizDir = *flagSave
	return cfg, nil
}

// seedReport is one seed's outcome as TestSim aggregates it; worker
// processes send them to the parent as JSON lines.
type seedReport struct {
	Seed             uint64
	Err              string `json:",omitempty"`
	Swarm            string
	Faults           FaultSet
	Stats            Stats
	TraceHash        uint64
	Durable          int
	PorcupineOps     int
	PorcupineUnknown bool
	CheckWall        time.Duration
}

// runSeed runs one seed in this process.
func runSeed(seed uint64, faults string, trace io.Writer) seedReport {
	cfg, err := seedConfig(seed, faults)
	if err != nil {
		return seedReport{Seed: seed, Err: err.Error()}
	}
	cfg.Trace = trace
	res := Run(cfg)
	rep := seedReport{Seed: seed, Swarm: cfg.SwarmSummary(), Faults: cfg.Faults, Stats: res.Stats, TraceHash: res.TraceHash,
		PorcupineOps: res.Porcupine.LogOps + res.Porcupine.TopicOps, PorcupineUnknown: res.Porcupine.Unknown(), CheckWall: res.CheckWall}
	if res.Log != nil {
		rep.Durable = res.Log.DurableVerified
	}
	if res.Err != nil {
		rep.Err = res.Err.Error()
	}
	return rep
}

// Worker processes. etcd raft draws election jitter from crypto/rand's
// global reader (raft.go: globalRand, no Config hook in v3.7.0), which Run
// swaps for a seeded one (withSeededCrypto), so two runs must not overlap in
// one process. To use every core, TestSim re-executes this test binary as
// worker processes, each running its share of the seeds one after another
// and writing a seedReport per seed to a JSON-lines file. A run depends on
// nothing but its seed, so a seed replays identically alone, in this process
// or in a worker (TestWorkerReplay checks it).
const (
	workerSeedsEnv = "WEIR_SIM_WORKER_SEEDS" // comma list: this process is a worker
	workerOutEnv   = "WEIR_SIM_WORKER_OUT"   // the JSON-lines file it writes
)

// runWorker is TestSim in a worker process.
func runWorker(t *testing.T, list, out string) {
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	failed := 0
	for _, s := range strings.Split(list, ",") {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", workerSeedsEnv, list, err)
		}
		rep := runSeed(seed, *flagFaults, nil)
		if err := enc.Encode(rep); err != nil {
			t.Fatal(err)
		}
		if rep.Err != "" {
			if failed++; failed >= *flagMaxFail {
				return
			}
		}
	}
}

// runWorkers runs seeds in n worker processes (seed i goes to worker i%n)
// and returns their reports in seed order.
func runWorkers(t *testing.T, seeds []uint64, n int, faults string) []seedReport {
	t.Helper()
	dir := t.TempDir()
	args := []string{"-test.run=^TestSim$", "-test.count=1", "-faults=" + faults, "-save=" + *flagSave, "-maxfail=" + strconv.Itoa(*flagMaxFail),
		"-sharedmemberids=" + strconv.FormatBool(*flagShared)}
	if d, ok := t.Deadline(); ok {
		args = append(args, "-test.timeout="+time.Until(d).Round(time.Second).String())
	} else {
		args = append(args, "-test.timeout=0") // -timeout 0 here: none there either
	}
	type worker struct {
		cmd  *exec.Cmd
		out  string
		logs bytes.Buffer
	}
	workers := make([]*worker, n)
	for k := range workers {
		var list []string
		for i := k; i < len(seeds); i += n {
			list = append(list, strconv.FormatUint(seeds[i], 10))
		}
		wk := &worker{out: filepath.Join(dir, fmt.Sprintf("worker-%d.jsonl", k))}
		wk.cmd = exec.Command(os.Args[0], args...)
		wk.cmd.Env = append(os.Environ(), workerSeedsEnv+"="+strings.Join(list, ","), workerOutEnv+"="+wk.out)
		wk.cmd.Stdout, wk.cmd.Stderr = &wk.logs, &wk.logs
		if err := wk.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		workers[k] = wk
	}
	var reps []seedReport
	for k, wk := range workers {
		err := wk.cmd.Wait()
		data, rerr := os.ReadFile(wk.out)
		if err != nil || rerr != nil {
			t.Errorf("worker %d: %v %v\n%s", k, err, rerr, firstLines(wk.logs.String(), 40))
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		for {
			var rep seedReport
			if err := dec.Decode(&rep); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("worker %d: %v", k, err)
			}
			reps = append(reps, rep)
		}
	}
	slices.SortFunc(reps, func(a, b seedReport) int { return cmp.Compare(a.Seed, b.Seed) })
	return reps
}

// TestSim runs a range of seeds (each a Swarm configuration: its own fault
// classes, rates, timings and load; a safety phase with faults, then a
// liveness phase) and checks every history. A failing seed prints the command
// that replays it.
func TestSim(t *testing.T) {
	if list, ok := os.LookupEnv(workerSeedsEnv); ok {
		runWorker(t, list, os.Getenv(workerOutEnv))
		return
	}
	if _, err := ParseFaults(*flagFaults); *flagFaults != "" && err != nil {
		t.Fatal(err)
	}
	seeds := []uint64{}
	single, replay := envInt("WEIR_SIM_SEED")
	if *flagSeed != 0 {
		single, replay = *flagSeed, true
	}
	if replay {
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
	workers := *flagWorkers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(seeds))
	start := time.Now()
	var reps []seedReport
	if workers > 1 {
		reps = runWorkers(t, seeds, workers, *flagFaults)
	} else {
		var trace io.Writer
		if replay && *flagVerbose {
			trace = os.Stdout
		}
		for _, seed := range seeds {
			rep := runSeed(seed, *flagFaults, trace)
			reps = append(reps, rep)
			if rep.Err != "" && countFailed(reps) >= *flagMaxFail {
				break
			}
		}
	}
	wall := time.Since(start)

	var total Stats
	failed, durable, porcupineOps, porcupineUnknown := 0, 0, 0, 0
	var slowestCheck time.Duration
	var classSeeds [faultCount]int
	probeSeeds := map[string]int{} // seeds that reached each probe
	for _, rep := range reps {
		for p := range rep.Stats.Reached {
			probeSeeds[p]++
		}
		accumulate(&total, &rep.Stats)
		durable += rep.Durable
		porcupineOps += rep.PorcupineOps
		if rep.PorcupineUnknown {
			porcupineUnknown++
		}
		slowestCheck = max(slowestCheck, rep.CheckWall)
		for f := Fault(0); f < faultCount; f++ {
			if rep.Faults.Has(f) {
				classSeeds[f]++
			}
		}
		if testing.Verbose() {
			t.Logf("seed %d: %s; wall=%v sim=%.0fs events=%d; injected %s", rep.Seed, rep.Swarm, rep.Stats.Wall.Round(time.Millisecond), float64(rep.Stats.Simulated)/1e9, rep.Stats.Events, rep.Stats.FaultSummary())
		}
		if rep.Err != "" {
			failed++
			t.Errorf("seed %d failed: %v\nswarm: %s\nreproduce: %s", rep.Seed, rep.Err, rep.Swarm, (&Result{Seed: rep.Seed}).Reproduce())
			if *flagSave != "" {
				path, err := (&Result{Seed: rep.Seed, Err: errors.New(rep.Err)}).WriteScenario(*flagSave)
				if err != nil {
					t.Error(err)
				}
				t.Logf("saved as scenario %s", path)
			}
		}
	}
	t.Logf("seeds=%d failed=%d workers=%d wall=%v seeds/wall-s=%.1f", len(reps), failed, workers, wall.Round(time.Millisecond), float64(len(reps))/wall.Seconds())
	t.Logf("ops=%d durable-acks-verified=%d porcupine-ops=%d porcupine-timeouts=%d slowest-check=%v (timeout %v)",
		total.Ops, durable, porcupineOps, porcupineUnknown, slowestCheck.Round(time.Millisecond), PorcupineTimeout)
	t.Logf("events=%d simulated=%.0fs speed=%.0fx sim-s/wall-s (%.0fx per busy core)",
		total.Events, float64(total.Simulated)/1e9, float64(total.Simulated)/1e9/wall.Seconds(), total.Speed())
	var classes strings.Builder
	for _, f := range swarmClasses() {
		fmt.Fprintf(&classes, "%s=%d/%d ", f, classSeeds[f], total.Faults[f])
	}
	t.Logf("fault classes, seeds on/injected: %s", strings.TrimSpace(classes.String()))
	t.Logf("faults injected: %s fatal-stops=%d", total.FaultSummary(), total.Fatals)
	t.Logf("paths reached: %s", total.ReachedSummary())
	gated := slices.Clone(mustReach)
	slices.SortStableFunc(gated, func(a, b string) int { return cmp.Compare(probeSeeds[a], probeSeeds[b]) })
	var ps strings.Builder
	for _, p := range gated {
		fmt.Fprintf(&ps, "%q=%d ", p, probeSeeds[p])
	}
	t.Logf("seeds reaching each gated probe, rarest first: %s", strings.TrimSpace(ps.String()))
	if replay {
		return // one replayed seed: nothing to gate
	}
	if len(reps) == len(seeds) { // the range ran to its end
		checkCoverage(t, &total, len(reps), *flagFaults)
	}
}

func countFailed(reps []seedReport) int {
	n := 0
	for _, r := range reps {
		if r.Err != "" {
			n++
		}
	}
	return n
}

// mustReach are the protocol paths a default campaign must exercise; if one
// never fires, the faults have stopped testing it.
var mustReach = append([]string{
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
	sm.ProbeStaleIncarnationFetchRefused.String(), sm.ProbeISRShrinkMaxLag.String(), "zombie thawed",
	sm.ProbeELRElected.String(), sm.ProbeHWHeldBelowMinISR.String(),
	sm.ProbeCompletionForGoneComponent.String(), sm.ProbeLeaseExpired.String(),
	sm.ProbeDamagedReplicaRepaired.String(), "damaged log on recovery",
	sm.ProbeSnapshotSent.String(), sm.ProbeSnapshotApplied.String(), "restored metadata matches replayed",
	// The bounded log: reads from the cache and from disk, rolls,
	// retention, a follower reset to its leader's log start, and a broker
	// dropping the log of an earlier incarnation of a topic.
	sm.ProbeReadFromCache.String(), sm.ProbeReadFromDisk.String(), sm.ProbeSegmentRolled.String(),
	sm.ProbeRetentionDeleted.String(), sm.ProbeFollowerReset.String(), sm.ProbeStaleTopicLogDropped.String(),
	// Security: a hostile client's forged server traffic refused at the
	// sender gate (sim/forge.go).
	sm.ProbeForbiddenSender.String(),
	sm.ProbeProduceDenied.String(), sm.ProbeFetchDenied.String(), sm.ProbeACLRulesApplied.String(),
	// Revocation (sim/revoke.go): a node's transport closed a revoked
	// certificate's live connection, and a state machine refused a
	// request that came with one (before its transport enforced the set).
	"revocation-closes-connection", sm.ProbeRevokedCertRefused.String(),
	// Time lookups (sim/timelookup.go): answered by a leader's local log.
	sm.ProbeTimeLookup.String(), "time lookup found",
	// Format 2 (sim/client.go formatted): batches with headers and lz4
	// blocks stored as produced.
	sm.ProbeFormat2Stored.String(), sm.ProbeCompressedStored.String(),
	// Consumer groups (sim/groups.go): the offsets topic created on
	// demand, coordinators loaded (and reloaded after a fenced append),
	// rebalances completed, snapshots written, a stale generation's commit
	// refused, and a member fetching after a failover the offsets a
	// previous coordinator accepted.
	sm.ProbeOffsetsTopicCreateRequested.String(), sm.ProbeCoordinatorLoaded.String(), sm.ProbeCoordinatorReloaded.String(),
	sm.ProbeGroupRebalanced.String(), sm.ProbeGroupSnapshotWritten.String(), sm.ProbeStaleGenerationCommit.String(),
	sm.ProbeGroupAppendFailed.String(),
	"coordinator failover: offsets survived", "group consumed to the high watermark", "group member crashed", "group member paused",
	"group heartbeat UNKNOWN_MEMBER_ID", "group heartbeat REBALANCE_IN_PROGRESS", "group join MEMBER_ID_REQUIRED",
	"group cooperative revoke", "group revoked partition committed", "group stale commit refused", "group leave OK",
	"group read moved to the log start", "offsets partition log start moved",
	// Idempotent producers (sim/idempotent.go): a retry answered with the
	// batch the leader holds (lost replies, timeouts), a batch that came
	// before the one it follows (reordering, a dropped earlier batch), a
	// producer a partition lost (truncation, retention) starting again at
	// 0, and a replica starting with producer state from its segment
	// indexes (a restart with idempotent data on disk); the workload's
	// own paths: retries, renumbering, every outstanding batch
	// acknowledged after the heal, and acknowledgments verified against
	// the committed log.
	sm.ProbeDuplicateSequence.String(), sm.ProbeOutOfOrderSequence.String(), sm.ProbeUnknownProducerID.String(),
	sm.ProbeProducerStateRecovered.String(),
	"idempotent batch retried", "idempotent duplicate answered", "idempotent renumbered from 0", "idempotent producers drained",
	"idempotent ack verified",
}, append(segmentProbes(), objectProbes()...)...)

// objectProbes are the simulator's own paths of the object store, gated
// with its fault classes (objectFaultsWired): an upload with an unknown
// outcome, one that landed after its unknown completion, a failed ranged
// read (a cold read, once segments are recorded and local copies go), and
// an orphan collected by the controllers' GC (objectLiveness).
func objectProbes() []string {
	if !objectFaultsWired {
		return nil
	}
	return []string{"object put unknown outcome", "object put landed late", "object read failed", "orphan object collected",
		// Tiered storage in the state machines: uploads recorded, retried
		// after an unknown outcome, a zombie's commit refused, orphans
		// collected, local copies deleted past the window, reads from the
		// object store and its cache, remote retention, tail-only rebuild.
		sm.ProbeUploadOK.String(), sm.ProbeUploadUnknown.String(), sm.ProbeZombieUploadRejected.String(),
		sm.ProbeOrphanCollected.String(), sm.ProbeUploadedDeletedLocally.String(), sm.ProbeColdRead.String(),
		sm.ProbeColdCacheHit.String(), sm.ProbeRemoteRetentionDropped.String(), sm.ProbeTailOnlyRebuild.String(),
		"all disks wiped"}
}

// segmentProbes are the simulator's own paths of segmented logs, gated with
// the segment fault classes (segmentFaultsWired): rolls, the index rebuild
// after lostindex (host.recoverLogs, once brokers start from manifests), and
// reads failed by readerr.
func segmentProbes() []string {
	if !segmentFaultsWired {
		return nil
	}
	return []string{"log rolled", "index rebuilt", "log read failed"}
}

// Coverage gate sizes. A range of gateMinSeeds or more (the -short range
// is 20) must reach every mustReach probe but rareProbes, and inject every
// fault class; from fullGateSeeds (the default range) it must reach
// rareProbes too.
const (
	gateMinSeeds  = 20
	fullGateSeeds = 300
)

// rareProbes fire in few seeds, so a short range can miss them by chance
// alone; TestSim prints how many seeds reached each probe. Over seeds
// 1-1000 (Swarm as of this commit) completion-for-gone-component fired in 19
// seeds (1.9%: 20 seeds miss it with probability 0.981^20 = 68%, 300 seeds
// with 0.3%); the next rarest, produce LEADERSHIP_LOST, in 188 and produce
// STORAGE_ERROR in 202 (20 seeds miss one with 1.6% and 1.1%), so those stay
// gated from 20 seeds on. Since followers whose lease expired stop fetching,
// a zombie's replica fetch reaches a leader only when it was in flight across
// the freeze: stale-incarnation-fetch-refused fired in 12 of seeds 1-1000
// (and completion-for-gone-component in 15, after a workload change).
// follower-reset (a follower down or cut off while retention deleted
// past its log end) fired in 11 of seeds 1-300.
var rareProbes = []string{sm.ProbeCompletionForGoneComponent.String(), sm.ProbeStaleIncarnationFetchRefused.String(), sm.ProbeFollowerReset.String(),
	// A zombie's commit (about one seed in ten) and the wipe of every disk
	// (drawn in about one seed in seven).
	sm.ProbeZombieUploadRejected.String(), "all disks wiped",
	// A read failed by readerr: the class is injected only when a read
	// runs inside its window (about one seed in seventeen).
	"log read failed",
	// Consumer groups: over seeds 1-1000, a synchronous commit of a member
	// already removed refused in 67 seeds, a member's read moved to a log
	// start retention raised in 172, a cooperative member's commit of a
	// partition just revoked in 182 (20 seeds miss one with 0.1-2.5%).
	"group stale commit refused", "group read moved to the log start", "group revoked partition committed",
	// A snapshot freeing offsets-partition segments, seen as a log start
	// above 0 once the group workload is done (159 of seeds 1-1000).
	"offsets partition log start moved",
	// Idempotent producers (in half the seeds): a partition that holds
	// nothing of a producer refusing its sequence (truncation, retention)
	// in 46 of seeds 1-300, and the producer renumbering from 0 after it
	// in 39 (20 seeds miss one with 4% and 6%).
	sm.ProbeUnknownProducerID.String(), "idempotent renumbered from 0"}

// rareFaults are the fault classes injected in too few seeds for a short
// range to be sure of them; like rareProbes, required from fullGateSeeds.
var rareFaults = []Fault{FaultReadError}

// checkCoverage is the coverage gate over a seed range: mustReach probes
// fired and every fault class was injected somewhere in the range (sizes
// above). It runs whenever the seeds draw their own faults (or run all of
// them). A range narrowed by -faults to some classes cannot be expected to
// reach every path, a range under gateMinSeeds (a handful of seeds picked by
// hand) is too small to expect every probe, and a single replayed seed
// (-seed=N) is never gated.
func checkCoverage(t *testing.T, s *Stats, seeds int, faults string) {
	t.Helper()
	if faults != "" && faults != "all" {
		t.Logf("coverage gate off: -faults=%s enables only some classes", faults)
		return
	}
	if seeds < gateMinSeeds {
		t.Logf("coverage gate off: %d seeds, the gate needs at least %d", seeds, gateMinSeeds)
		return
	}
	var missed, skipped []string
	gated := 0
	for _, p := range mustReach {
		if seeds < fullGateSeeds && slices.Contains(rareProbes, p) {
			skipped = append(skipped, p)
			continue
		}
		gated++
		if s.Reached[p] == 0 {
			missed = append(missed, p)
			t.Errorf("coverage: %q never reached", p)
		}
	}
	faultsMissed := 0
	classes := swarmClasses()
	for _, f := range classes {
		if seeds < fullGateSeeds && slices.Contains(rareFaults, f) {
			skipped = append(skipped, "fault "+f.String())
			continue
		}
		if s.Faults[f] == 0 {
			faultsMissed++
			missed = append(missed, "fault "+f.String())
			t.Errorf("coverage: fault %s never injected", f)
		}
	}
	t.Logf("coverage gate: %d/%d probes reached, %d/%d fault classes injected; missed: %v; not gated under %d seeds: %v",
		gated-(len(missed)-faultsMissed), gated, len(classes)-faultsMissed, len(classes), missed, fullGateSeeds, skipped)
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
		a, b := Run(Swarm(seed)), Run(Swarm(seed))
		if a.TraceHash != b.TraceHash || a.Stats.Events != b.Stats.Events {
			t.Fatalf("seed %d: runs differ: hash %x vs %x, events %d vs %d", seed, a.TraceHash, b.TraceHash, a.Stats.Events, b.Stats.Events)
		}
		if len(a.History.Ops) != len(b.History.Ops) {
			t.Fatalf("seed %d: histories differ: %d vs %d ops", seed, len(a.History.Ops), len(b.History.Ops))
		}
	}
}

// TestWorkerReplay: a seed run in a worker process replays, event for
// event, as it does alone in this process (so a failing seed from a parallel
// campaign reproduces with -seed=N).
func TestWorkerReplay(t *testing.T) {
	seeds := []uint64{2, 9}
	reps := runWorkers(t, seeds, 2, "")
	if len(reps) != len(seeds) {
		t.Fatalf("workers returned %d reports for %d seeds", len(reps), len(seeds))
	}
	for i, seed := range seeds {
		alone := runSeed(seed, "", nil)
		w := reps[i]
		if w.Seed != seed || w.TraceHash != alone.TraceHash || w.Stats.Events != alone.Stats.Events || w.Swarm != alone.Swarm || w.Err != alone.Err {
			t.Fatalf("seed %d: worker ran %d (hash %x, %d events, %q, err %q); alone: hash %x, %d events, %q, err %q",
				seed, w.Seed, w.TraceHash, w.Stats.Events, w.Swarm, w.Err, alone.TraceHash, alone.Stats.Events, alone.Swarm, alone.Err)
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

// TestCanaryStaleACL plants brokers that never apply an ACL change after
// their first rule set, and requires the security checker to catch a
// request allowed long after a deny rule that forbids it was applied.
func TestCanaryStaleACL(t *testing.T) {
	const budget = 30
	for seed := uint64(1); seed <= budget; seed++ {
		cfg := DefaultConfig(seed)
		cfg.ACLs, cfg.CanaryStaleACL = true, true
		if res := Run(cfg); res.Err != nil {
			if !strings.Contains(res.Err.Error(), "security:") {
				t.Fatalf("seed %d failed for another reason: %v", seed, res.Err)
			}
			t.Logf("canary caught at seed %d: %v", seed, firstLine(res.Err.Error()))
			return
		}
	}
	t.Fatalf("stale-ACL canary not caught in %d seeds", budget)
}

// TestCanaryIgnoredRevocation plants brokers that never take in a
// revocation — they neither refuse the revoked certificate's requests nor
// report it for their transport to cut off — and requires the revocation
// checker to catch a request of a revoked certificate served later than
// the propagation bound after the revocation was applied.
func TestCanaryIgnoredRevocation(t *testing.T) {
	const budget = 30
	for seed := uint64(1); seed <= budget; seed++ {
		cfg := DefaultConfig(seed)
		cfg.Revocations, cfg.CanaryIgnoreRevocations = true, true
		if res := Run(cfg); res.Err != nil {
			if !strings.Contains(res.Err.Error(), "revocation:") {
				t.Fatalf("seed %d failed for another reason: %v", seed, res.Err)
			}
			t.Logf("canary caught at seed %d: %v", seed, firstLine(res.Err.Error()))
			cfg.CanaryIgnoreRevocations = false
			if res := Run(cfg); res.Err != nil {
				t.Fatalf("seed %d fails without the canary too: %v", seed, res.Err)
			}
			return
		}
	}
	t.Fatalf("ignored-revocation canary not caught in %d seeds", budget)
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
// BenchmarkSim runs swarm seeds; BenchmarkSimDefault the fixed-timing
// DefaultConfig workload the earlier figures in docs/performance.md used.
func BenchmarkSim(b *testing.B) { benchSim(b, Swarm) }

func BenchmarkSimDefault(b *testing.B) { benchSim(b, DefaultConfig) }

func benchSim(b *testing.B, config func(uint64) Config) {
	var events uint64
	var simulated float64
	start := time.Now()
	for i := 0; i < b.N; i++ {
		res := Run(config(uint64(i + 1)))
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

// TestCanaryTimeLookup plants partitions that answer a time lookup with the
// batch after the right one, and requires the time-lookup checker to catch
// it (and the same seed to pass without it).
func TestCanaryTimeLookup(t *testing.T) {
	const budget = 30
	for seed := uint64(1); seed <= budget; seed++ {
		cfg := DefaultConfig(seed)
		cfg.CanaryTimeLookupNext = true
		if res := Run(cfg); res.Err != nil {
			if !strings.Contains(res.Err.Error(), "time lookups:") {
				t.Fatalf("seed %d failed for another reason: %v", seed, res.Err)
			}
			t.Logf("canary caught at seed %d: %v", seed, firstLine(res.Err.Error()))
			cfg.CanaryTimeLookupNext = false
			if res := Run(cfg); res.Err != nil {
				t.Fatalf("seed %d fails without the canary too: %v", seed, res.Err)
			}
			return
		}
	}
	t.Fatalf("time-lookup canary not caught in %d seeds", budget)
}
