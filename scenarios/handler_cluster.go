package scenarios

import (
	"fmt"
	"strings"

	"github.com/cockroachdb/datadriven"

	"github.com/weirmq/weir/sim"
	"github.com/weirmq/weir/sm"
)

// handleCluster sets the cluster shape and seed. Timing follows
// sim.DefaultConfig for the seed; scenarios run without random faults.
//
// Example: cluster controllers=3 brokers=3 seed=7
func handleCluster(r *Runner, td *datadriven.TestData) (string, error) {
	seed, err := argInt(td, "seed", 1)
	if err != nil {
		return "", err
	}
	cfg := sim.DefaultConfig(uint64(seed))
	if cfg.Controllers, err = argInt(td, "controllers", 3); err != nil {
		return "", err
	}
	if cfg.Brokers, err = argInt(td, "brokers", 3); err != nil {
		return "", err
	}
	if cfg.Racks, err = argInt(td, "racks", 1); err != nil {
		return "", err
	}
	if cfg.Clients, err = argInt(td, "clients", 2); err != nil {
		return "", err
	}
	cfg.Topics = nil
	cfg.LostDisks = 0 // scenarios script their faults; none loses a disk unless it says so
	switch c, _ := arg(td, "canary"); c {
	case "":
	case "acks-all":
		cfg.Canary = true
	case "read-index":
		cfg.CanaryReadIndex = true
	case "zombie":
		cfg.CanaryZombie = true
	default:
		return "", fmt.Errorf("canary=%q: want acks-all, read-index or zombie (a deliberate bug, to show a check catching it)", c)
	}
	// Storage: the DefaultConfig's unless the scenario sets it.
	if v, ok := arg(td, "segment-bytes"); ok {
		if _, err := fmt.Sscan(v, &cfg.Storage.SegmentBytes); err != nil || cfg.Storage.SegmentBytes <= 0 {
			return "", fmt.Errorf("segment-bytes=%q: want a positive byte count", v)
		}
	}
	if v, ok := arg(td, "cache-bytes"); ok {
		if _, err := fmt.Sscan(v, &cfg.Storage.CacheBytes); err != nil || cfg.Storage.CacheBytes < 0 {
			return "", fmt.Errorf("cache-bytes=%q: want a byte count >= 0", v)
		}
	}
	cfg.NetLatency, cfg.NetLatencyMax = sm.Millisecond, 5*sm.Millisecond
	cfg.SyncLatency = sm.Millisecond
	cfg.Trace = r.Trace
	r.cfg = cfg
	r.world = nil
	return "ok", nil
}

// handleTopic declares a workload topic that boot creates.
//
// Example: topic name=t0 partitions=1 rf=3 min-isr=2
func handleTopic(r *Runner, td *datadriven.TestData) (string, error) {
	name, _ := arg(td, "name")
	p, err := argInt(td, "partitions", 1)
	if err != nil {
		return "", err
	}
	rf, err := argInt(td, "rf", 1)
	if err != nil {
		return "", err
	}
	minISR, err := argInt(td, "min-isr", 1)
	if err != nil {
		return "", err
	}
	retBytes, err := argInt(td, "retention-bytes", 0)
	if err != nil {
		return "", err
	}
	retMs, err := argInt(td, "retention-ms", 0)
	if err != nil {
		return "", err
	}
	r.cfg.Topics = append(r.cfg.Topics, sim.TopicSpec{Name: name, Partitions: int32(p), ReplicationFactor: int32(rf), MinISR: int32(minISR), Unclean: td.HasArg("unclean"),
		RetentionBytes: int64(retBytes), RetentionMs: int64(retMs)})
	return "ok", nil
}

// handleLogs describes every running replica of a partition: its role,
// log start, high watermark, log end and segment count.
//
// Example: logs tp=t0/0
func handleLogs(r *Runner, td *datadriven.TestData) (string, error) {
	v, _ := arg(td, "tp")
	tp, err := parseTP(v)
	if err != nil {
		return "", err
	}
	return r.world.Logs(tp), nil
}

// handleBoot starts every process and creates the declared topics.
//
// Example: boot
func handleBoot(r *Runner, td *datadriven.TestData) (string, error) {
	w, err := sim.NewScripted(r.cfg)
	if err != nil {
		return "", err
	}
	r.world = w
	if err := w.Boot(); err != nil {
		return "", err
	}
	return w.Status(), nil
}

// handleRun advances virtual time and narrates the client outcomes since the
// last narration.
//
// Example: run for=2s
func handleRun(r *Runner, td *datadriven.TestData) (string, error) {
	d, err := argDuration(td, "for", sm.Second)
	if err != nil {
		return "", err
	}
	if err := r.world.RunFor(d); err != nil {
		return "", err
	}
	return r.narrateOps(), nil
}

func (r *Runner) narrateOps() string {
	s, mark := r.world.ClientSummary(r.opsMark)
	r.opsMark = mark
	if s == "" {
		return "ok"
	}
	return s
}

// handleStatus prints the controller's view of every partition.
//
// Example: status
func handleStatus(r *Runner, td *datadriven.TestData) (string, error) {
	return r.world.Status(), nil
}

// handleOps narrates client outcomes since the last narration.
//
// Example: ops
func handleOps(r *Runner, td *datadriven.TestData) (string, error) {
	return r.narrateOps(), nil
}

// handleStabilize is the liveness phase: heal, converge, read everything.
//
// Example: stabilize
func handleStabilize(r *Runner, td *datadriven.TestData) (string, error) {
	if err := r.world.Stabilize(); err != nil {
		return "", err
	}
	return strings.TrimSpace(r.narrateOps() + "\n" + r.world.Status()), nil
}

// handleSeed runs one whole random simulator run, with the configuration
// TestSim gives the seed (sim.Swarm); failing seeds are saved as scenario
// files made of this command.
//
// Example: seed n=123
func handleSeed(r *Runner, td *datadriven.TestData) (string, error) {
	n, err := argInt(td, "n", 0)
	if err != nil {
		return "", err
	}
	cfg := sim.Swarm(uint64(n))
	cfg.Trace = r.Trace
	res := sim.Run(cfg)
	if res.Err != nil {
		return "", fmt.Errorf("seed %d: %v", n, res.Err)
	}
	return "ok", nil
}

// handleBreakpoint is a line to set a debugger breakpoint on.
//
// Example: _breakpoint
func handleBreakpoint(r *Runner, td *datadriven.TestData) (string, error) {
	return "ok", nil // set a debugger breakpoint on this line
}
