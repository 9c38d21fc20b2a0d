package sim

import (
	"fmt"
	"io"
	"strings"

	"github.com/weirmq/weir/sm"
)

// Fault is a class of injected fault; every class can be switched on or off
// and is counted per run.
type Fault uint8

// Fault classes.
const (
	FaultDrop      Fault = iota // a message lost
	FaultDuplicate              // a message delivered twice
	FaultDelay                  // heavy-tailed latency spikes (reordering)
	FaultPartition              // symmetric partition between two groups
	FaultOneWay                 // one-way partition
	FaultIsolate                // one node cut off from everyone
	FaultClog                   // a link holds its messages for a while
	FaultCrash                  // process killed; restarts from disk
	FaultTornWrite              // crash that tears unsynced writes
	FaultPause                  // process stops stepping for a while
	FaultClockJump              // node clock jumps forward
	FaultDiskError              // write or fsync returns EIO
	FaultDiskFull               // writes fail with ENOSPC
	FaultSlowSync               // fsync latency spikes
	FaultSwizzle                // links of a node subset clogged one by one, unclogged in another order
	FaultZombie                 // a paused broker resumes after it was fenced and replaced
	FaultLostDisk               // a broker's disk is lost: it restarts on an empty one
	faultCount
)

var faultNames = [...]string{
	FaultDrop: "drop", FaultDuplicate: "duplicate", FaultDelay: "delay", FaultPartition: "partition",
	FaultOneWay: "oneway", FaultIsolate: "isolate", FaultClog: "clog", FaultCrash: "crash",
	FaultTornWrite: "torn", FaultPause: "pause", FaultClockJump: "clockjump", FaultDiskError: "diskerror",
	FaultDiskFull: "diskfull", FaultSlowSync: "slowsync", FaultSwizzle: "swizzle",
	FaultZombie: "zombie", FaultLostDisk: "lostdisk",
}

func (f Fault) String() string { return faultNames[f] }

// FaultSet is a set of enabled fault classes.
type FaultSet uint32

// AllFaults enables every class.
const AllFaults FaultSet = 1<<faultCount - 1

// Has reports whether f is enabled.
func (s FaultSet) Has(f Fault) bool { return s&(1<<f) != 0 }

// ParseFaults reads "all", "none" or a comma list of class names.
func ParseFaults(s string) (FaultSet, error) {
	switch s {
	case "all":
		return AllFaults, nil
	case "none", "":
		return 0, nil
	}
	var set FaultSet
	for _, name := range strings.Split(s, ",") {
		found := false
		for f := Fault(0); f < faultCount; f++ {
			if faultNames[f] == strings.TrimSpace(name) {
				set |= 1 << f
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("sim: unknown fault class %q (want one of %s)", name, strings.Join(faultNames[:], ", "))
		}
	}
	return set, nil
}

// TopicSpec is a workload topic created before the faults start.
type TopicSpec struct {
	Name              string
	Partitions        int32
	ReplicationFactor int32
	MinISR            int32
	Unclean           bool
}

// Config is one simulation run. DefaultConfig draws a swarm configuration
// from the seed; tests and scenarios adjust it.
type Config struct {
	Seed        uint64
	Controllers int
	Brokers     int
	Racks       int
	Topics      []TopicSpec
	Clients     int

	// Safety phase: faults on, workload on. Liveness phase: faults healed,
	// the cluster must converge within LivenessTimeout.
	SafetyDuration  sm.Duration
	LivenessTimeout sm.Duration

	Faults    FaultSet
	DropRate  float64
	DupRate   float64
	FaultMean sm.Duration // mean time between injected faults
	// LostDisks is how many distinct brokers may lose their disk in a run
	// (lostdisk faults, and zombies replaced on an empty disk). The
	// checker's durability promise holds for records that wait for a commit
	// on topics whose min_in_sync_replicas is above it: a committed record
	// is on at least that many in-sync or eligible copies (sm ELR).
	LostDisks int

	NetLatency, NetLatencyMax      sm.Duration
	DiskLatencyMin, DiskLatencyMax sm.Duration
	SyncLatency                    sm.Duration
	DiskCapacity                   int64

	Acks         []sm.Acks
	ProduceRatio float64
	AdminRatio   float64
	// StatusRatio is the share of client steps that ask a controller for
	// the cluster status (a third of them stale); linearizable answers are
	// checked against the commit index when they were asked.
	StatusRatio   float64
	ThinkMin      sm.Duration
	ThinkMax      sm.Duration
	ClientTimeout sm.Duration
	RetryBackoff  sm.Duration

	// Node timing.
	RaftTick          sm.Duration
	SessionTimeout    sm.Duration
	HeartbeatInterval sm.Duration
	AckTimeout        sm.Duration
	ReplicaLagTime    sm.Duration
	// HealthInterval is how often brokers report health (and how often the
	// simulator posts them synthetic HealthObserved values); HealthTimeout
	// is how long the controller leader counts a silent broker online.
	HealthInterval sm.Duration
	HealthTimeout  sm.Duration

	// Canary plants a known bug (acks=all acknowledged before the ISR has
	// the record) so a test can show the simulator catches it.
	Canary bool
	// CanaryReadIndex plants another: controller leaders answer
	// linearizable cluster-status requests without a ReadIndex round.
	CanaryReadIndex bool
	// CanaryZombie plants a third: brokers serve and count replica fetches
	// from replaced incarnations (zombies).
	CanaryZombie bool

	// VizDir, when set, receives porcupine's HTML visualisation of a
	// violation.
	VizDir string

	// Trace, when set, receives every event with its virtual time and node.
	Trace io.Writer
}

// DefaultConfig is the swarm configuration for seed: cluster shape, latencies
// and fault mix vary with the seed (swarm testing), all faults enabled.
func DefaultConfig(seed uint64) Config {
	r := newRNG(seed).child("config")
	c := Config{
		Seed:        seed,
		Controllers: []int{1, 3, 3}[r.intn(3)],
		Brokers:     3 + r.intn(3),
		Racks:       1 + r.intn(3),
		Clients:     3 + r.intn(3),
		Topics: []TopicSpec{
			{Name: "t0", Partitions: 2, ReplicationFactor: 3, MinISR: 2},
			{Name: "t1", Partitions: 1, ReplicationFactor: 3, MinISR: 1},
		},
		SafetyDuration:  sm.Duration(r.between(10, 20)) * sm.Second,
		LivenessTimeout: 60 * sm.Second,
		Faults:          AllFaults,
		DropRate:        []float64{0, 0.001, 0.01, 0.05}[r.intn(4)],
		DupRate:         []float64{0, 0.001, 0.01}[r.intn(3)],
		FaultMean:       sm.Duration(r.between(300, 1500)) * sm.Millisecond,
		NetLatency:      sm.Duration(r.between(100, 2000)) * sm.Microsecond,
		NetLatencyMax:   200 * sm.Millisecond,
		DiskLatencyMin:  10 * sm.Microsecond,
		DiskLatencyMax:  100 * sm.Microsecond,
		SyncLatency:     sm.Duration(r.between(200, 2000)) * sm.Microsecond,
		DiskCapacity:    0,
		Acks: []sm.Acks{
			{Kind: sm.AckNone}, {Kind: sm.AckLeader}, {Kind: sm.AckMajority},
			{Kind: sm.AckAll}, {Kind: sm.AckAll}, {Kind: sm.AckCustom, N: 2},
		},
		ProduceRatio:      0.6,
		AdminRatio:        0.03,
		StatusRatio:       0.02,
		ThinkMin:          sm.Millisecond,
		ThinkMax:          sm.Duration(r.between(5, 50)) * sm.Millisecond,
		ClientTimeout:     1500 * sm.Millisecond,
		RetryBackoff:      50 * sm.Millisecond,
		RaftTick:          50 * sm.Millisecond,
		SessionTimeout:    1500 * sm.Millisecond,
		HeartbeatInterval: 200 * sm.Millisecond,
		AckTimeout:        1000 * sm.Millisecond,
		ReplicaLagTime:    1000 * sm.Millisecond,
		HealthInterval:    500 * sm.Millisecond,
		HealthTimeout:     1500 * sm.Millisecond,
	}
	if r.chance(0.3) {
		c.Topics = append(c.Topics, TopicSpec{Name: "t2", Partitions: 1, ReplicationFactor: 1, MinISR: 1})
	}
	// Half the seeds may lose one broker's disk: their durability promise
	// covers only topics with min ISR 2 or more; the other half keep the
	// full promise with no disk ever lost.
	if r.chance(0.5) {
		c.LostDisks = 1
	}
	return c
}

// Validate names the first bad field.
func (c *Config) Validate() error {
	switch {
	case c.Controllers < 1 || c.Controllers > 9:
		return fmt.Errorf("sim: controllers must be 1..9 (got %d)", c.Controllers)
	case c.Brokers < 1 || c.Brokers > 99:
		return fmt.Errorf("sim: brokers must be 1..99 (got %d)", c.Brokers)
	case c.Clients < 0:
		return fmt.Errorf("sim: clients must be >= 0 (got %d)", c.Clients)
	case len(c.Acks) == 0 && c.Clients > 0:
		return fmt.Errorf("sim: acks must list at least one ack level")
	case c.LostDisks < 0:
		return fmt.Errorf("sim: lost disks must be >= 0 (got %d)", c.LostDisks)
	case c.NetLatency <= 0 || c.NetLatencyMax < c.NetLatency:
		return fmt.Errorf("sim: net latency must be > 0 and <= max (got %v, max %v)", c.NetLatency, c.NetLatencyMax)
	}
	for _, t := range c.Topics {
		if t.ReplicationFactor > int32(c.Brokers) {
			return fmt.Errorf("sim: topic %s replication factor %d above %d brokers", t.Name, t.ReplicationFactor, c.Brokers)
		}
	}
	return nil
}
