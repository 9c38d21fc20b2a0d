// Package scenarios replays human-readable scenario files against the
// simulator: a cluster shape and seed, a workload, faults at chosen virtual
// times, and the expected outcome, narrated. `go test ./scenarios` replays
// every *.txt file here; `-trace` prints each event with its virtual time
// and node; `-rewrite` (datadriven) regenerates expected output.
//
// Commands (one handler file each; every case has an Example line):
//
//	cluster controllers=3 brokers=3 seed=7 [racks=N] [clients=N]
//	topic name=t0 partitions=1 rf=3 [min-isr=2] [unclean]
//	boot
//	produce client=cl1000001 tp=t0/0 acks=all [n=10]
//	fetch client=cl1000001 tp=t0/0 [offset=0]
//	create-topic client=cl1000001 name=x partitions=3 rf=2
//	delete-topic client=cl1000001 name=x
//	run for=2s
//	crash node=b101|leader:t0/0|controller-leader [torn] [restart-after=1s]
//	restart node=b101
//	partition a=b101 b=c1,c2,c3 [oneway] [for=2s]
//	isolate node=b101 [for=2s]
//	clog from=b101 to=b102 for=1s
//	pause node=b101 for=1s
//	clock-jump node=b101 by=5s
//	disk-errors node=b101 rate=1 for=1s
//	disk-full node=b101 for=1s
//	loss drop=0.1 dup=0.01
//	heal
//	status
//	ops
//	stabilize
//	check
//	seed n=123          (a whole random simulator run; how failing seeds are saved)
//	_breakpoint         (a place to stop in a debugger)
package scenarios

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/weirmq/weir/sim"
	"github.com/weirmq/weir/sm"
)

// TB is the subset of testing.TB the handlers need.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
}

// Runner holds one scenario file's state as its commands run in order.
type Runner struct {
	// Path is the scenario file; porcupine visualisations go beside it.
	Path  string
	Trace io.Writer

	cfg     sim.Config
	world   *sim.World
	opsMark int
}

// Handle runs one command and returns its narrated output.
func (r *Runner) Handle(t TB, td *datadriven.TestData) string {
	t.Helper()
	h, ok := handlers[td.Cmd]
	if !ok {
		t.Fatalf("%s: unknown command %q", td.Pos, td.Cmd)
	}
	if td.Cmd != "cluster" && td.Cmd != "topic" && td.Cmd != "seed" && td.Cmd != "_breakpoint" && r.world == nil && td.Cmd != "boot" {
		t.Fatalf("%s: %q before boot", td.Pos, td.Cmd)
	}
	out, err := h(r, td)
	if err != nil {
		return "error: " + err.Error()
	}
	return out
}

type handler func(r *Runner, td *datadriven.TestData) (string, error)

var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		"cluster": handleCluster, "topic": handleTopic, "boot": handleBoot,
		"produce": handleProduce, "fetch": handleFetch, "create-topic": handleCreateTopic, "delete-topic": handleDeleteTopic,
		"run": handleRun, "crash": handleCrash, "bitrot": handleBitRot, "restart": handleRestart, "partition": handlePartition,
		"isolate": handleIsolate, "clog": handleClog, "pause": handlePause, "clock-jump": handleClockJump,
		"disk-errors": handleDiskErrors, "disk-full": handleDiskFull, "loss": handleLoss, "heal": handleHeal,
		"status": handleStatus, "logs": handleLogs, "ops": handleOps, "stabilize": handleStabilize, "check": handleCheck,
		"seed": handleSeed, "_breakpoint": handleBreakpoint,
	}
}

// ---- argument helpers ------------------------------------------------------

func arg(td *datadriven.TestData, key string) (string, bool) {
	a, ok := td.Arg(key)
	if !ok || len(a.Vals) == 0 {
		return "", ok
	}
	return strings.Join(a.Vals, ","), true
}

func argInt(td *datadriven.TestData, key string, def int) (int, error) {
	s, ok := arg(td, key)
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want an integer", key, s)
	}
	return n, nil
}

func argDuration(td *datadriven.TestData, key string, def sm.Duration) (sm.Duration, error) {
	s, ok := arg(td, key)
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want a duration like 500ms", key, s)
	}
	return sm.Duration(d), nil
}

func argFloat(td *datadriven.TestData, key string, def float64) (float64, error) {
	s, ok := arg(td, key)
	if !ok {
		return def, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want a number", key, s)
	}
	return f, nil
}

func parseTP(s string) (sm.TopicPartition, error) {
	i := strings.LastIndexByte(s, '/')
	if i <= 0 {
		return sm.TopicPartition{}, fmt.Errorf("partition %q: want topic/N", s)
	}
	p, err := strconv.Atoi(s[i+1:])
	if err != nil {
		return sm.TopicPartition{}, fmt.Errorf("partition %q: want topic/N", s)
	}
	return sm.TopicPartition{Topic: s[:i], Partition: int32(p)}, nil
}

// node resolves the names sm.NodeID prints (b101, c1, cl1000001, adm1),
// leader:t0/0 and controller-leader.
func (r *Runner) node(s string) (sm.NodeID, error) {
	switch {
	case s == "controller-leader":
		if id := r.world.ControllerLeader(); id != sm.NoNode {
			return id, nil
		}
		return 0, fmt.Errorf("no controller leader now")
	case strings.HasPrefix(s, "leader:"):
		tp, err := parseTP(strings.TrimPrefix(s, "leader:"))
		if err != nil {
			return 0, err
		}
		if id := r.world.Leader(tp); id != sm.NoNode {
			return id, nil
		}
		return 0, fmt.Errorf("%v has no leader now", tp)
	}
	id, err := sm.ParseNodeID(s)
	if err != nil || id == sm.NoNode {
		return 0, fmt.Errorf("node %q: want b101, c1, cl1000001, adm1, leader:t/0 or controller-leader", s)
	}
	return id, nil
}

func (r *Runner) nodes(td *datadriven.TestData, key string) ([]sm.NodeID, error) {
	a, ok := td.Arg(key)
	if !ok {
		return nil, fmt.Errorf("missing %s=", key)
	}
	var out []sm.NodeID
	for _, v := range a.Vals {
		for _, s := range strings.Split(v, ",") {
			id, err := r.node(s)
			if err != nil {
				return nil, err
			}
			out = append(out, id)
		}
	}
	return out, nil
}
