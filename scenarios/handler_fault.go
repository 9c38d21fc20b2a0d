package scenarios

import (
	"fmt"

	"github.com/cockroachdb/datadriven"

	"github.com/weirmq/weir/sm"
)

// nodeArg resolves node= and reads the duration under key (def if absent).
func (r *Runner) nodeArg(td *datadriven.TestData, key string, def sm.Duration) (sm.NodeID, sm.Duration, error) {
	s, _ := arg(td, "node")
	id, err := r.node(s)
	if err != nil {
		return 0, 0, err
	}
	d, err := argDuration(td, key, def)
	return id, d, err
}

// handleCrash kills a process; torn tears its unsynced writes.
//
// Example: crash node=leader:t0/0 torn restart-after=1s
func handleCrash(r *Runner, td *datadriven.TestData) (string, error) {
	id, d, err := r.nodeArg(td, "restart-after", 0)
	if err != nil {
		return "", err
	}
	r.world.Crash(id, td.HasArg("torn"), d)
	return fmt.Sprintf("crashed %v", id), nil
}

// handleRestart starts a crashed process from its disk.
//
// Example: restart node=b101
func handleRestart(r *Runner, td *datadriven.TestData) (string, error) {
	id, _, err := r.nodeArg(td, "", 0)
	if err != nil {
		return "", err
	}
	r.world.Restart(id)
	return fmt.Sprintf("restarted %v", id), nil
}

// handlePartition cuts group a from group b (a→b only with oneway).
//
// Example: partition a=b101 b=c1,c2,c3 oneway for=2s
func handlePartition(r *Runner, td *datadriven.TestData) (string, error) {
	a, err := r.nodes(td, "a")
	if err != nil {
		return "", err
	}
	b, err := r.nodes(td, "b")
	if err != nil {
		return "", err
	}
	d, err := argDuration(td, "for", 0)
	if err != nil {
		return "", err
	}
	r.world.Partition(a, b, !td.HasArg("oneway"), d)
	return fmt.Sprintf("partitioned %v | %v", a, b), nil
}

// handleBitRot flips one bit at rest in a sealed segment on a broker's
// disk (sim.World.BitRot): the next read of it must fail its checksum.
//
// Example: bitrot node=leader:t0/0
func handleBitRot(r *Runner, td *datadriven.TestData) (string, error) {
	id, _, err := r.nodeArg(td, "", 0)
	if err != nil {
		return "", err
	}
	if !r.world.BitRot(id) {
		return "", fmt.Errorf("bitrot: %v holds no sealed segment", id)
	}
	return fmt.Sprintf("flipped a bit on %v", id), nil
}

// handleIsolate cuts one process off from everyone.
//
// Example: isolate node=b101 for=2s
func handleIsolate(r *Runner, td *datadriven.TestData) (string, error) {
	id, d, err := r.nodeArg(td, "for", 0)
	if err != nil {
		return "", err
	}
	r.world.Isolate(id, d)
	return fmt.Sprintf("isolated %v", id), nil
}

// handleClog holds messages on one link for a while.
//
// Example: clog from=b101 to=b102 for=1s
func handleClog(r *Runner, td *datadriven.TestData) (string, error) {
	ends, err := r.nodes(td, "from")
	if err != nil {
		return "", err
	}
	to, err := r.nodes(td, "to")
	if err != nil {
		return "", err
	}
	d, err := argDuration(td, "for", sm.Second)
	if err != nil {
		return "", err
	}
	r.world.Clog(ends[0], to[0], d)
	return "ok", nil
}

// handlePause stops a process from stepping for a while.
//
// Example: pause node=b101 for=1s
func handlePause(r *Runner, td *datadriven.TestData) (string, error) {
	id, d, err := r.nodeArg(td, "for", sm.Second)
	if err != nil {
		return "", err
	}
	r.world.Pause(id, d)
	return "ok", nil
}

// handleClockJump moves a process's clock forward.
//
// Example: clock-jump node=b101 by=5s
func handleClockJump(r *Runner, td *datadriven.TestData) (string, error) {
	id, d, err := r.nodeArg(td, "by", sm.Second)
	if err != nil {
		return "", err
	}
	r.world.ClockJump(id, d)
	return "ok", nil
}

// handleDiskErrors makes a process's disk fail operations.
//
// Example: disk-errors node=b101 rate=1 for=1s
func handleDiskErrors(r *Runner, td *datadriven.TestData) (string, error) {
	id, d, err := r.nodeArg(td, "for", sm.Second)
	if err != nil {
		return "", err
	}
	rate, err := argFloat(td, "rate", 1)
	if err != nil {
		return "", err
	}
	r.world.DiskErrors(id, rate, d)
	return "ok", nil
}

// handleDiskFull fills a process's disk for a while.
//
// Example: disk-full node=b101 for=1s
func handleDiskFull(r *Runner, td *datadriven.TestData) (string, error) {
	id, d, err := r.nodeArg(td, "for", sm.Second)
	if err != nil {
		return "", err
	}
	r.world.DiskFull(id, d)
	return "ok", nil
}

// handleLoss sets message loss and duplication rates.
//
// Example: loss drop=0.1 dup=0.01
func handleLoss(r *Runner, td *datadriven.TestData) (string, error) {
	drop, err := argFloat(td, "drop", 0)
	if err != nil {
		return "", err
	}
	dup, err := argFloat(td, "dup", 0)
	if err != nil {
		return "", err
	}
	r.world.SetLoss(drop, dup)
	return "ok", nil
}

// handleHeal removes every network fault.
//
// Example: heal
func handleHeal(r *Runner, td *datadriven.TestData) (string, error) {
	r.world.Heal()
	return "ok", nil
}
