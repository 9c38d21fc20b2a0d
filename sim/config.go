package sim

import (
	"fmt"
	"io"
	"strings"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/tier"
)

// Fault is a class of injected fault; every class can be switched on or off
// and is counted per run.
type Fault uint8

// Fault classes.
const (
	FaultDrop           Fault = iota // a message lost
	FaultDuplicate                   // a message delivered twice
	FaultDelay                       // heavy-tailed latency spikes (reordering)
	FaultPartition                   // symmetric partition between two groups
	FaultOneWay                      // one-way partition
	FaultIsolate                     // one node cut off from everyone
	FaultClog                        // a link holds its messages for a while
	FaultCrash                       // process killed; restarts from disk
	FaultTornWrite                   // crash that tears unsynced writes
	FaultPause                       // process stops stepping for a while
	FaultClockJump                   // node clock jumps forward
	FaultDiskError                   // write or fsync returns EIO
	FaultDiskFull                    // writes fail with ENOSPC
	FaultSlowSync                    // fsync latency spikes
	FaultSwizzle                     // links of a node subset clogged one by one, unclogged in another order
	FaultZombie                      // a paused broker resumes after it was fenced and replaced
	FaultLostDisk                    // a broker's disk is lost: it restarts on an empty one
	FaultLostSync                    // a broker's disk acknowledges syncs it does not keep, then loses power
	FaultReadError                   // log reads fail with EIO or take a heavy-tailed long time
	FaultBitRot                      // a bit flips at rest in a sealed segment
	FaultLostIndex                   // index files are deleted or corrupted at rest; the broker restarts and rebuilds them
	FaultObjSlow                     // object-store ops take a heavy-tailed long time
	FaultObjThrottle                 // object-store ops answered 429 until the adapter's retries run out
	FaultObjUnavailable              // object-store ops answered 503 until the adapter's retries run out
	FaultObjTimeout                  // object-store ops run into their deadline
	FaultObjLostReply                // an object write happens but its reply is lost (unknown outcome, object created)
	FaultObjLate                     // an object put completes unknown and lands later (an upload still in flight)
	FaultObjReadError                // ranged object reads fail or take a long time
	FaultObjPage                     // object lists return small pages
	faultCount
)

var faultNames = [...]string{
	FaultDrop: "drop", FaultDuplicate: "duplicate", FaultDelay: "delay", FaultPartition: "partition",
	FaultOneWay: "oneway", FaultIsolate: "isolate", FaultClog: "clog", FaultCrash: "crash",
	FaultTornWrite: "torn", FaultPause: "pause", FaultClockJump: "clockjump", FaultDiskError: "diskerror",
	FaultDiskFull: "diskfull", FaultSlowSync: "slowsync", FaultSwizzle: "swizzle",
	FaultZombie: "zombie", FaultLostDisk: "lostdisk", FaultLostSync: "lostsync",
	FaultReadError: "readerr", FaultBitRot: "bitrot", FaultLostIndex: "lostindex",
	FaultObjSlow: "objslow", FaultObjThrottle: "objthrottle", FaultObjUnavailable: "obj503", FaultObjTimeout: "objtimeout",
	FaultObjLostReply: "objlostreply", FaultObjLate: "objlate", FaultObjReadError: "objreaderr", FaultObjPage: "objpage",
}

// segmentFaultsWired says whether brokers roll and read segments
// (sm/partition sets LogOp.Roll and issues LogRead), which the segment fault
// classes act on: readerr fails and slows log reads, bitrot flips a bit in a
// sealed segment, lostindex damages index files. Until brokers do, those classes could never
// be injected, so they stay out of the fault director, Swarm's draws and the
// coverage gate, and every seed runs as before; ParseFaults knows them, and
// their primitives (ReadFaults, BitRot, LoseIndexes) work when called. Set
// it where the state machines issue rolls and reads.
const segmentFaultsWired = true

// segmentFaults are the fault classes that need segments (see
// segmentFaultsWired).
func segmentFaults() []Fault {
	if !segmentFaultsWired {
		return nil
	}
	return []Fault{FaultReadError, FaultBitRot, FaultLostIndex}
}

// objectFaultsWired says whether nodes issue object-store operations in the
// simulator: brokers upload sealed segments (broker.Config.Tier in
// newNode), the controllers record them and collect orphans
// (controller.Config.Tiering.GC, set), and brokers read cold segments once
// local copies are gone. The object-store fault classes act on those
// operations only — objreaderr on gets (cold reads), objpage on lists (the
// GC's), the rest mostly on puts — so until nodes issue all three kinds
// the classes could not all be injected: they stay out of Swarm's draws,
// the fault director, the coverage gate and its object probes
// (objectProbes), and every seed runs as before. ParseFaults knows them,
// and their primitive (ObjectFaults) works when called
// (TestObjectStoreFaults, TestObjectFaultsPrimitive drive every class).
// Brokers upload in the simulator (Storage.Tier, drawn on in three seeds
// of four), so it is set.
const objectFaultsWired = true

// objectFaultClasses are the object-store fault classes, drawn and
// injected from their own PRNG streams (objectSwarm, scheduleObjectFault)
// so that switching them on changes no other draw.
var objectFaultClasses = []Fault{FaultObjSlow, FaultObjThrottle, FaultObjUnavailable, FaultObjTimeout, FaultObjLostReply, FaultObjLate, FaultObjReadError, FaultObjPage}

// objectFaults are the object-store classes the campaign uses (see
// objectFaultsWired).
func objectFaults() []Fault {
	if !objectFaultsWired {
		return nil
	}
	return objectFaultClasses
}

func (f Fault) String() string { return faultNames[f] }

// FaultSet is a set of enabled fault classes.
type FaultSet uint32

// AllFaults enables every class.
const AllFaults FaultSet = 1<<faultCount - 1

// Has reports whether f is enabled.
func (s FaultSet) Has(f Fault) bool { return s&(1<<f) != 0 }

// String is "all", "none" or the comma list of enabled classes.
func (s FaultSet) String() string {
	if s == 0 {
		return "none"
	}
	all := FaultSet(0)
	for _, f := range swarmClasses() {
		all |= 1 << f
	}
	if s&all == all {
		return "all"
	}
	var names []string
	for f := Fault(0); f < faultCount; f++ {
		if s.Has(f) {
			names = append(names, f.String())
		}
	}
	return strings.Join(names, ",")
}

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
	// RetentionBytes and RetentionMs are the topic's retention (0: none).
	RetentionBytes int64
	RetentionMs    int64
}

// Storage is how brokers keep partition logs in a run: the cache that
// bounds the batches they hold in memory, the segment size they roll at
// (the broker default: topics do not set one, since a topic's
// segment_bytes may not go below 1 MiB), and how often retention runs.
type Storage struct {
	CacheBytes             int64
	SegmentBytes           int64
	RetentionCheckInterval sm.Duration
	// Tier is the brokers' tiered storage (sm/tier): when enabled, leaders
	// upload committed segments to the world's object store, replicas keep
	// only the local window, and reads below it are cold.
	Tier tier.Config
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
	// (lostdisk faults, zombies replaced on an empty disk, lostsync, and
	// bitrot: a flipped bit makes a broker's copy of a segment's records
	// bad until it is repaired, a lost copy like a lost disk). The
	// checker's durability promise holds for records that wait for a commit
	// on topics whose min_in_sync_replicas is above it: a committed record
	// is on at least that many in-sync or eligible copies (sm ELR).
	LostDisks int
	// Storage is how brokers keep their logs (cache, segments, retention).
	Storage Storage
	// WipeAll, with tiered storage, wipes every broker's disk after the
	// liveness phase and requires the final reads to return everything
	// that was uploaded (World.wipeAll).
	WipeAll bool
	// ACLs gives the workload clients principals and changes ACL rules
	// during the safety phase, and checks every broker decision against
	// the rule sets the controllers applied (sim/security.go).
	ACLs bool
	// Revocations gives every workload client a certificate serial and
	// revokes some of them through the controller during the safety phase;
	// the network closes and refuses revoked certificates' connections as
	// the transport does, and the revocation checker holds brokers to the
	// propagation bound (sim/revoke.go).
	Revocations bool
	// Groups is the consumer-group workload (sim/groups.go; zero: none).
	Groups GroupWorkload
	// Idempotent is the idempotent-producer workload and its duplicate
	// checker (sim/idempotent.go; zero: none).
	Idempotent IdempotentWorkload
	// Format2 makes clients send every third produce with record headers
	// and every third as an lz4 records block (sim/client.go formatted):
	// format-2 batches beside format-1 ones. Swarm sets it; scenario files
	// keep the byte sizes they were written against.
	Format2 bool

	NetLatency, NetLatencyMax sm.Duration
	// ObjectLatency is the object store's typical operation latency and
	// ObjectLatencyMax the cap of its heavy tail (the network's style);
	// ObjectTimeout is an operation's deadline (objtimeout) and
	// ObjectLateMax how long after its unknown completion a late put may
	// still land (objlate).
	ObjectLatency, ObjectLatencyMax sm.Duration
	ObjectTimeout, ObjectLateMax    sm.Duration
	// GCGrace and GCInterval are the controllers' tiered-storage garbage
	// collection (controller.Config.Tiering): small virtual values, so that
	// the liveness phase sees orphans collected (objectLiveness).
	GCGrace, GCInterval            sm.Duration
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

	// Node timing. ElectionTicks and HeartbeatTicks are the controllers'
	// raft election timeout and heartbeat interval in RaftTicks;
	// MaxReplicationLag shrinks ISR followers that many records behind (0:
	// off).
	RaftTick          sm.Duration
	ElectionTicks     int
	HeartbeatTicks    int
	SessionTimeout    sm.Duration
	HeartbeatInterval sm.Duration
	AckTimeout        sm.Duration
	ReplicaLagTime    sm.Duration
	MaxReplicationLag int64
	// HealthInterval is how often brokers report health (and how often the
	// simulator posts them synthetic HealthObserved values); HealthTimeout
	// is how long the controller leader counts a silent broker online.
	HealthInterval sm.Duration
	HealthTimeout  sm.Duration
	// SnapshotEntries and SnapshotCatchUpEntries are the controllers'
	// compaction policy (controller.Config): small, so that a run takes
	// many snapshots and lagging controllers get them by MsgSnap.
	SnapshotEntries        uint64
	SnapshotCatchUpEntries uint64

	// NodeCheckEvery, when above 1, runs each node's own CheckInvariants
	// after every NodeCheckEvery-th event instead of after every step: a
	// broker's check walks all its partitions, which dominates seeds with
	// hundreds of them. The cluster-wide invariants still run every
	// invariantInterval.
	NodeCheckEvery int

	// Canary plants a known bug (acks=all acknowledged before the ISR has
	// the record) so a test can show the simulator catches it.
	Canary bool
	// CanaryReadIndex plants another: controller leaders answer
	// linearizable cluster-status requests without a ReadIndex round.
	CanaryReadIndex bool
	// CanaryZombie plants a third: brokers serve and count replica fetches
	// from replaced incarnations (zombies).
	CanaryZombie bool
	// CanaryStaleACL plants a fourth: brokers keep the first ACL rule set
	// they compiled (broker.Config.CanaryStaleACL); the security checker
	// must catch it.
	CanaryStaleACL bool
	// CanaryIgnoreRevocations plants a fifth: brokers never take in the
	// revoked certificates metadata carries
	// (broker.Config.CanaryIgnoreRevocations); the revocation checker must
	// catch it.
	CanaryIgnoreRevocations bool
	// CanaryTimeLookupNext plants a sixth: a time lookup on the local log
	// answers the batch after the right one
	// (partition.Config.CanaryTimeLookupNext); the time-lookup checker
	// must catch it.
	CanaryTimeLookupNext bool
	// CanaryStoreDuplicates plants a seventh: partition leaders append a
	// retried idempotent batch again instead of answering
	// DUPLICATE_SEQUENCE_NUMBER (broker.Config.CanaryStoreDuplicates); the
	// duplicate checker must catch it.
	CanaryStoreDuplicates bool

	// VizDir, when set, receives porcupine's HTML visualisation of a
	// violation.
	VizDir string

	// Trace, when set, receives every event with its virtual time and node.
	Trace io.Writer
}

// DefaultConfig is the base configuration for seed: cluster shape and
// latencies vary with the seed, node timings are fixed and every fault class
// is enabled. Scenario files and the canary tests build on it; TestSim runs
// Swarm, which draws the rest too.
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
		ElectionTicks:     10,
		HeartbeatTicks:    1,
		SessionTimeout:    1500 * sm.Millisecond,
		HeartbeatInterval: 200 * sm.Millisecond,
		AckTimeout:        1000 * sm.Millisecond,
		ReplicaLagTime:    1000 * sm.Millisecond,
		HealthInterval:    500 * sm.Millisecond,
		HealthTimeout:     1500 * sm.Millisecond,
		// Segments of a few dozen batches and a cache of a few: fetches
		// read the disk, segments roll and sealed ones pile up.
		Storage: Storage{CacheBytes: 16 << 10, SegmentBytes: 4 << 10, RetentionCheckInterval: 500 * sm.Millisecond},
	}
	if r.chance(0.3) {
		c.Topics = append(c.Topics, TopicSpec{Name: "t2", Partitions: 1, ReplicationFactor: 1, MinISR: 1})
	}
	// From their own stream, so that the draws above stay as they were.
	snap := newRNG(seed).child("snapshot")
	c.SnapshotEntries = uint64(snap.logUniform(4, 50))
	c.SnapshotCatchUpEntries = uint64(snap.between(1, max(1, int64(c.SnapshotEntries/4))))
	// The object store's timing, from its own stream too.
	obj := newRNG(seed).child("objects-config")
	c.ObjectLatency = sm.Duration(obj.between(2, 30)) * sm.Millisecond
	c.ObjectLatencyMax = 2 * sm.Second
	c.ObjectTimeout = sm.Duration(obj.between(2, 8)) * sm.Second
	c.ObjectLateMax = sm.Duration(obj.between(1, 6)) * sm.Second
	c.GCInterval = sm.Duration(obj.between(500, 2000)) * sm.Millisecond
	c.GCGrace = sm.Duration(obj.between(1000, 4000)) * sm.Millisecond
	// Half the seeds may lose one broker's disk: their durability promise
	// covers only topics with min ISR 2 or more; the other half keep the
	// full promise with no disk ever lost.
	if r.chance(0.5) {
		c.LostDisks = 1
	}
	return c
}

// swarmClasses are the fault classes Swarm switches on and off: the
// continuous ones (message loss and duplication, at a drawn rate) and every
// discrete class the fault director injects.
func swarmClasses() []Fault {
	return append(append([]Fault{FaultDrop, FaultDuplicate}, discreteFaults...), objectFaults()...)
}

// Swarm is the configuration TestSim runs for seed (swarm testing, after
// Groce et al., "Swarm Testing", ISSTA 2012: a campaign of varied narrow
// configurations finds more than one wide one). On top of DefaultConfig's
// shape and latencies, the seed's "swarm" PRNG draws, in this one place:
//
//   - which fault classes are on: none (1 seed in 12), all (1 in 6), or each
//     class independently with a per-seed probability in [0.2, 0.8];
//   - the drop and duplicate rates and the mean time between discrete faults;
//   - the node timings: raft tick, election and heartbeat ticks, broker
//     heartbeat, session timeout, ack timeout, replica lag time and max
//     replication lag (off in half the seeds), and the client timeout;
//   - the load: one seed in eight adds a topic of 100-150 partitions and runs
//     12-40 clients.
//
// Every drawn value lies inside what Validate and the brokers' and
// controllers' own config validation accept.
func Swarm(seed uint64) Config {
	c := DefaultConfig(seed)
	r := newRNG(seed).child("swarm")
	classes := append([]Fault{FaultDrop, FaultDuplicate}, discreteFaults...)
	c.Faults = 0
	objects := newRNG(seed).child("swarm-objects")
	switch u := r.float(); {
	case u < 1.0/12: // none
	case u < 1.0/12+1.0/6:
		for _, f := range append(classes, objectFaults()...) {
			c.Faults |= 1 << f
		}
	default:
		p := 0.2 + 0.6*r.float()
		for _, f := range classes {
			if r.chance(p) {
				c.Faults |= 1 << f
			}
		}
		// From their own stream, so that the draws above and below stay
		// as they were.
		for _, f := range objectFaults() {
			if objects.chance(p) {
				c.Faults |= 1 << f
			}
		}
	}
	c.DropRate = r.logUniform(0.0005, 0.08)
	c.DupRate = r.logUniform(0.0005, 0.03)
	c.FaultMean = sm.Duration(r.logUniform(float64(150*sm.Millisecond), float64(3*sm.Second)))

	c.RaftTick = sm.Duration(r.between(10, 100)) * sm.Millisecond
	c.ElectionTicks = int(r.between(5, 20))
	// An election timeout under 150ms only measures the network's tail.
	for c.RaftTick*sm.Duration(c.ElectionTicks) < 150*sm.Millisecond {
		c.ElectionTicks++
	}
	c.HeartbeatTicks = int(r.between(1, int64(max(1, c.ElectionTicks/4))))
	c.HeartbeatInterval = sm.Duration(r.between(100, 400)) * sm.Millisecond
	// Timeouts log-uniform, so that in many seeds a leader is fenced and
	// replaced (session timeout) while produces still wait for their acks
	// (ack timeout): the LEADERSHIP_LOST path.
	c.SessionTimeout = max(3*c.HeartbeatInterval, sm.Duration(r.logUniform(float64(600*sm.Millisecond), float64(5*sm.Second))))
	c.AckTimeout = sm.Duration(r.logUniform(float64(300*sm.Millisecond), float64(4*sm.Second)))
	c.ReplicaLagTime = sm.Duration(r.between(400, 4000)) * sm.Millisecond
	if r.chance(0.5) {
		c.MaxReplicationLag = int64(r.logUniform(1, 64))
	}
	c.ClientTimeout = sm.Duration(r.logUniform(float64(300*sm.Millisecond), float64(5*sm.Second)))
	c.Clients = int(r.between(3, 8))

	// Storage: from no cache (every fetch reads the disk) to one that holds
	// everything, segments of a few batches to a few hundred, and, on some
	// topics, retention by size or time that deletes while the faults run.
	switch u := r.float(); {
	case u < 0.2:
		c.Storage.CacheBytes = 0
	case u < 0.8:
		c.Storage.CacheBytes = int64(r.logUniform(1<<10, 256<<10))
	default:
		c.Storage.CacheBytes = 64 << 20
	}
	c.Storage.SegmentBytes = int64(r.logUniform(256, 32<<10))
	c.Storage.RetentionCheckInterval = sm.Duration(r.between(100, 2000)) * sm.Millisecond
	// Tiered storage, from its own stream so that the draws above and
	// below stay as they were: on in three seeds of four, with upload
	// intervals, local windows and cold caches from tiny to roomy.
	ts := newRNG(seed).child("tier-config")
	if ts.chance(0.75) {
		t := &c.Storage.Tier
		t.Enabled = true
		t.UploadInterval = sm.Duration(ts.between(200, 3000)) * sm.Millisecond
		t.MaxConcurrentUploads = int(ts.between(1, 4))
		t.LocalRetentionMs, t.LocalRetentionBytes = -1, -1
		if ts.chance(0.6) {
			t.LocalRetentionMs = ts.between(300, 5000)
		}
		if ts.chance(0.6) {
			t.LocalRetentionBytes = int64(ts.logUniform(512, 32<<10))
		}
		t.ColdCacheBytes = int64(ts.logUniform(1<<10, 1<<20))
		if ts.chance(0.2) {
			t.ColdCacheBytes = 64 << 20
		}
		c.WipeAll = ts.chance(0.2)
	}
	// ACLs, from their own stream: in half the seeds.
	c.ACLs = newRNG(seed).child("acl-config").chance(0.5)
	// Revocations, from their own stream too: in half the seeds.
	c.Revocations = newRNG(seed).child("revoke-config").chance(0.5)
	// Consumer groups, from their own stream, in three seeds of four.
	c.Groups = drawGroups(seed, &c)
	// Idempotent producers, from their own stream, in half the seeds.
	c.Idempotent = drawIdempotent(seed)
	c.Format2 = true
	for i := range c.Topics {
		if r.chance(1.0 / 3) {
			c.Topics[i].RetentionBytes = int64(r.logUniform(1<<10, 64<<10))
		}
		if r.chance(1.0 / 4) {
			c.Topics[i].RetentionMs = int64(r.between(2000, 15000))
		}
	}

	if r.chance(1.0 / 16) {
		rf := int32(min(3, c.Brokers))
		c.Topics = append(c.Topics, TopicSpec{Name: "tm", Partitions: int32(r.between(100, 120)), ReplicationFactor: rf, MinISR: int32(1 + r.intn(int(rf)))})
		c.Clients = int(r.between(10, 24))
		c.NodeCheckEvery = 16
	}
	return c
}

// SwarmSummary is one line naming what Swarm drew: fault classes (and their
// rates), timings and load.
func (c *Config) SwarmSummary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "faults=%s", c.Faults.String())
	if c.Faults.Has(FaultDrop) {
		fmt.Fprintf(&b, " drop=%.4f", c.DropRate)
	}
	if c.Faults.Has(FaultDuplicate) {
		fmt.Fprintf(&b, " dup=%.4f", c.DupRate)
	}
	if c.Faults&^(1<<FaultDrop|1<<FaultDuplicate) != 0 {
		fmt.Fprintf(&b, " fault-mean=%dms", c.FaultMean/sm.Millisecond)
	}
	parts := int32(0)
	for _, t := range c.Topics {
		parts += t.Partitions
	}
	ms := func(d sm.Duration) string { return fmt.Sprintf("%dms", d/sm.Millisecond) }
	fmt.Fprintf(&b, " raft=%sx%d/%d hb=%s session=%s ack=%s lag=%s max-lag=%d client-timeout=%s ctl=%d brokers=%d partitions=%d clients=%d",
		ms(c.RaftTick), c.ElectionTicks, c.HeartbeatTicks, ms(c.HeartbeatInterval), ms(c.SessionTimeout), ms(c.AckTimeout),
		ms(c.ReplicaLagTime), c.MaxReplicationLag, ms(c.ClientTimeout), c.Controllers, c.Brokers, parts, c.Clients)
	return b.String()
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
	case c.DropRate < 0 || c.DropRate >= 1 || c.DupRate < 0 || c.DupRate >= 1:
		return fmt.Errorf("sim: drop and duplicate rates must be in [0, 1) (got %v, %v)", c.DropRate, c.DupRate)
	case c.RaftTick <= 0 || c.HeartbeatTicks < 1 || c.ElectionTicks <= c.HeartbeatTicks:
		return fmt.Errorf("sim: raft tick must be > 0 and 1 <= heartbeat ticks < election ticks (got %v, %d, %d)", c.RaftTick, c.HeartbeatTicks, c.ElectionTicks)
	case c.HeartbeatInterval <= 0 || c.SessionTimeout <= c.HeartbeatInterval:
		return fmt.Errorf("sim: heartbeat interval must be > 0 and below the session timeout (got %v, %v)", c.HeartbeatInterval, c.SessionTimeout)
	case c.AckTimeout <= 0 || c.ReplicaLagTime <= 0 || c.MaxReplicationLag < 0:
		return fmt.Errorf("sim: ack timeout and replica lag time must be > 0, max replication lag >= 0 (got %v, %v, %d)", c.AckTimeout, c.ReplicaLagTime, c.MaxReplicationLag)
	case c.ObjectLatency <= 0 || c.ObjectLatencyMax < c.ObjectLatency || c.ObjectTimeout <= 0 || c.ObjectLateMax <= 0:
		return fmt.Errorf("sim: object latency must be > 0 and <= max, timeout and late max > 0 (got %v, max %v, %v, %v)", c.ObjectLatency, c.ObjectLatencyMax, c.ObjectTimeout, c.ObjectLateMax)
	case c.GCGrace <= 0 || c.GCInterval <= 0:
		return fmt.Errorf("sim: gc grace and interval must be > 0 (got %v, %v)", c.GCGrace, c.GCInterval)
	case c.ClientTimeout <= 0 && c.Clients > 0:
		return fmt.Errorf("sim: client timeout must be > 0 (got %v)", c.ClientTimeout)
	}
	for _, t := range c.Topics {
		if t.ReplicationFactor > int32(c.Brokers) {
			return fmt.Errorf("sim: topic %s replication factor %d above %d brokers", t.Name, t.ReplicationFactor, c.Brokers)
		}
	}
	if err := c.Idempotent.validate(); err != nil {
		return err
	}
	return c.Groups.validate(c)
}
