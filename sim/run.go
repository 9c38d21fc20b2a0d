package sim

import (
	crand "crypto/rand"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/weirmq/weir/io/codec"
	"github.com/weirmq/weir/linearizability"
	"github.com/weirmq/weir/runtime"
	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/acl"
	"github.com/weirmq/weir/sm/broker"
	"github.com/weirmq/weir/sm/controller"
	"github.com/weirmq/weir/sm/partition"
)

// Stats counts what a run did.
type Stats struct {
	Events     uint64
	Messages   uint64
	Dropped    uint64
	Ops        int
	Faults     [faultCount]int
	Fatals     int
	StepErrors int
	Simulated  sm.Duration
	Wall       time.Duration
	// Reached counts protocol paths the run exercised (a coverage probe in
	// the spirit of TigerBeetle's maybe and FoundationDB's CODE_PROBE):
	// a campaign whose faults never reach them tests little.
	Reached map[string]int
}

// reach counts one probe.
func (s *Stats) reach(probe string) {
	if s.Reached == nil {
		s.Reached = map[string]int{}
	}
	s.Reached[probe]++
}

// Speed is simulated seconds per wall second.
func (s *Stats) Speed() float64 {
	if s.Wall <= 0 {
		return 0
	}
	return float64(s.Simulated) / 1e9 / s.Wall.Seconds()
}

// ReachedSummary lists the coverage probes that fired, sorted.
func (s *Stats) ReachedSummary() string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(s.Reached)) {
		fmt.Fprintf(&b, "%q=%d ", k, s.Reached[k])
	}
	return strings.TrimSpace(b.String())
}

// FaultSummary lists injected faults per class ("crash=3 drop=41 ...").
func (s *Stats) FaultSummary() string {
	var b strings.Builder
	for f := Fault(0); f < faultCount; f++ {
		if s.Faults[f] > 0 {
			fmt.Fprintf(&b, "%s=%d ", f, s.Faults[f])
		}
	}
	return strings.TrimSpace(b.String())
}

// Result is the outcome of a run.
type Result struct {
	Seed      uint64
	Err       error // nil when every check passed
	Stats     Stats
	History   *linearizability.History
	TraceHash uint64
	Log       *linearizability.Report
	Porcupine linearizability.PorcupineResult
	// CheckWall is the wall time the history checks took.
	CheckWall time.Duration
}

// check runs the claimed-order checker and the porcupine models over the
// history. On a porcupine violation the HTML visualisation goes to vizDir.
// A porcupine search that does not finish within timeout fails the run: a
// history never fully checked proves nothing.
func (r *Result) check(vizDir string, timeout time.Duration) error {
	start := time.Now()
	defer func() { r.CheckWall = time.Since(start) }()
	r.Log = linearizability.CheckLog(r.History)
	if !r.Log.OK() {
		return fmt.Errorf("history check: %s", r.Log)
	}
	pr, err := linearizability.CheckPorcupine(r.History, timeout, vizDir, fmt.Sprintf("seed-%d", r.Seed))
	r.Porcupine = pr
	if err != nil {
		return err
	}
	if !pr.OK() {
		return fmt.Errorf("linearizability: %s", pr.String())
	}
	if pr.Unknown() {
		return fmt.Errorf("linearizability: porcupine timed out after %v, history not checked: %s", timeout, pr.String())
	}
	return nil
}

// PorcupineTimeout bounds porcupine's search per run, in wall-clock time; a
// search that runs out fails the seed. The default workload's checks take
// milliseconds (TestSim prints the slowest), so reaching this takes a
// pathological history or a starved machine, either worth a look.
const PorcupineTimeout = 60 * time.Second

// WriteScenario saves the run as a scenario file in dir (replayed by
// `go test ./scenarios`), so a failing seed stays a regression test once
// fixed. It returns the file's path.
func (r *Result) WriteScenario(dir string) (string, error) {
	path := filepath.Join(dir, fmt.Sprintf("seed-%d.txt", r.Seed))
	want := "ok"
	var b strings.Builder
	fmt.Fprintf(&b, "# Simulator seed %d, saved from a failing run. Goal: the whole random run\n", r.Seed)
	fmt.Fprintf(&b, "# (swarm config, faults, workload, checks) passes.\n")
	if r.Err != nil {
		for _, line := range strings.Split(firstLines(r.Err.Error(), 8), "\n") {
			fmt.Fprintf(&b, "# failed with: %s\n", line)
		}
	}
	fmt.Fprintf(&b, "seed n=%d\n----\n%s\n", r.Seed, want)
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// Reproduce is the one-line command that replays this run.
func (r *Result) Reproduce() string {
	return fmt.Sprintf("go test ./sim -run TestSim -seed=%d -v", r.Seed)
}

// New builds a world from cfg without running it.
func New(cfg Config) (*World, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	root := newRNG(cfg.Seed)
	w := &World{
		cfg:        cfg,
		rng:        root,
		netRNG:     root.child("net"),
		diskRNG:    root.child("disk"),
		faultRNG:   root.child("fault"),
		workRNG:    root.child("work"),
		hosts:      map[sm.NodeID]*host{},
		clients:    map[sm.NodeID]*client{},
		zombies:    map[sm.NodeID]*zombie{},
		knownHW:    map[sm.TopicPartition]sm.Offset{},
		replyHooks: map[sm.NodeID]func(linearizability.Op){},
		history:    &linearizability.History{},
	}
	w.trace.verbose = cfg.Trace
	w.net = newNetwork(w)
	w.sec = security{on: cfg.ACLs, versions: []aclVersion{{rules: &acl.State{}}}}
	w.rev = newRevocations(cfg)
	for i := 1; i <= cfg.Controllers; i++ {
		w.addHost(sm.NodeID(i), kindController)
	}
	for i := 0; i < cfg.Brokers; i++ {
		w.addHost(firstBrokerID+sm.NodeID(i), kindBroker)
	}
	for i := 0; i < cfg.Clients; i++ {
		id := firstClientID + sm.NodeID(i)
		w.clients[id] = newClient(w, id)
	}
	w.newGroups()
	w.newIdempotent()
	return w, nil
}

// withSeededCrypto runs fn with crypto/rand.Reader fed from the seed: etcd
// raft draws its election jitter from it, and nothing else in a run may be
// unseeded. Runs therefore must not overlap within one process.
func withSeededCrypto(seed uint64, fn func()) {
	var key [32]byte
	for i := range 4 {
		v := seed*0x9e3779b97f4a7c15 + uint64(i)
		for j := range 8 {
			key[i*8+j] = byte(v >> (8 * j))
		}
	}
	saved := crand.Reader
	crand.Reader = chachaReader{rand.NewChaCha8(key)}
	defer func() { crand.Reader = saved }()
	fn()
}

// Run executes one whole simulation: setup, safety phase, liveness phase,
// final reads and every check.
func Run(cfg Config) *Result {
	w, err := New(cfg)
	if err != nil {
		return &Result{Seed: cfg.Seed, Err: err}
	}
	start := time.Now()
	withSeededCrypto(cfg.Seed, func() { err = w.run() })
	w.stats.Wall = time.Since(start)
	w.stats.Events = w.events
	w.stats.Simulated = sm.Duration(w.now)
	res := &Result{Seed: cfg.Seed, Err: err, Stats: w.stats, History: w.history, TraceHash: w.trace.sum()}
	if err == nil {
		res.Err = res.check(cfg.VizDir, PorcupineTimeout)
	}
	return res
}

// nodeCheckDue says whether a node's own CheckInvariants runs after the step
// just taken: after every step, or after every NodeCheckEvery-th event when
// that is set (a broker's check walks all its partitions).
func (w *World) nodeCheckDue() bool {
	return w.cfg.NodeCheckEvery <= 1 || w.events%uint64(w.cfg.NodeCheckEvery) == 0
}

func (w *World) run() error {
	for _, id := range w.hostIDs {
		w.hosts[id].start()
	}
	if err := w.setup(); err != nil {
		return err
	}
	w.startInvariants()
	w.startWorkload()
	w.startFaults()
	if w.sec.on {
		w.startACLs(newRNG(w.cfg.Seed).child("acl"))
	}
	if w.rev.on {
		w.startRevocations()
	}
	w.startTimeLookups(newRNG(w.cfg.Seed).child("time"))
	w.startGroups()
	w.startIdempotent()
	w.runUntil(w.now.Add(w.cfg.SafetyDuration), nil)
	if w.failure != nil {
		return w.failure
	}
	if err := w.liveness(); err != nil {
		return err
	}
	if err := w.idemLiveness(); err != nil {
		return err
	}
	if err := w.groupLiveness(); err != nil {
		return err
	}
	if w.cfg.WipeAll {
		if err := w.wipeAll(); err != nil {
			return err
		}
	}
	if err := w.finalReads(); err != nil {
		return err
	}
	if err := w.checkIdempotent(); err != nil {
		return err
	}
	return w.checkTimeLookups() // the final reads learned every committed batch
}

// wipeAll is the stateless-broker test: once the cluster has converged,
// every broker loses its disk at once and restarts on an empty one, and the
// operator accepts the loss (--accept-data-loss), so each partition is led
// again by a replica that holds nothing. What was uploaded must still be
// read back whole by the final reads — from the object store — and what was
// not is lost: acknowledged records at or above a partition's uploaded end
// are no longer promised. The cluster must converge again, every replica
// rebuilding only the (empty) tail above the uploaded range.
func (w *World) wipeAll() error {
	ctl := w.leaderController()
	if ctl == nil {
		return w.stuck("wipe: no controller leads")
	}
	ends := map[string]int64{}
	for _, st := range ctl.Metadata().Partitions {
		ends[st.TP.String()] = int64(st.Remote.End)
	}
	for i := range w.history.Ops {
		op := &w.history.Ops[i]
		if op.Kind == linearizability.Produce && op.Durable && op.Offset+int64(len(op.Values)) > ends[op.TP] {
			op.Durable = false // not (wholly) uploaded: lost with the disks
		}
	}
	w.history.LossAt = int64(w.now)
	w.stats.reach("all disks wiped")
	w.trace.note(w.now, sm.NoNode, "every broker's disk lost; restarting with --accept-data-loss")
	for _, id := range w.brokerIDs() {
		h := w.hosts[id]
		if h.up {
			h.crash(false)
		}
		h.disk = newDisk(w.cfg.DiskCapacity)
		h.acceptDataLoss = true
	}
	for _, id := range w.brokerIDs() {
		w.hosts[id].start()
	}
	deadline := w.now.Add(w.cfg.LivenessTimeout)
	w.runUntil(deadline, func() bool { return w.converged() })
	if w.failure != nil {
		return w.failure
	}
	if !w.converged() {
		return w.stuck("after every disk was wiped the cluster did not converge within " + w.cfg.LivenessTimeout.String())
	}
	return nil
}

// setup waits for a controller leader and registered brokers, then creates
// the workload topics.
func (w *World) setup() error {
	deadline := w.now.Add(30 * sm.Second)
	w.runUntil(deadline, func() bool { return w.brokersRegistered() })
	if !w.brokersRegistered() {
		return w.stuck("setup: brokers did not register")
	}
	for _, t := range w.cfg.Topics {
		if err := w.createTopic(t, deadline); err != nil {
			return err
		}
	}
	w.runUntil(deadline, func() bool { return w.converged() })
	if !w.converged() {
		return w.stuck("setup: workload partitions did not get leaders")
	}
	return nil
}

// createTopic creates t through an admin client, retrying until it exists.
func (w *World) createTopic(t TopicSpec, deadline sm.Time) error {
	admin := w.adminClient()
	done := false
	var try func()
	try = func() {
		admin.script = append(admin.script, action{
			kind: linearizability.CreateTopic,
			topic: sm.TopicInfo{Name: t.Name, Partitions: t.Partitions, ReplicationFactor: t.ReplicationFactor, Config: sm.TopicConfig{
				MinInSyncReplicas: t.MinISR, UncleanLeaderElection: t.Unclean, RetentionBytes: t.RetentionBytes, RetentionMs: t.RetentionMs}},
			onReply: func(op linearizability.Op) {
				if op.Outcome == linearizability.OK && (op.Err == "" || op.Err == sm.CodeTopicExists.String()) {
					done = true
					return
				}
				w.after(100*sm.Millisecond, try)
			},
		})
		admin.next(0)
	}
	try()
	w.runUntil(deadline, func() bool { return done })
	if !done {
		return w.stuck("setup: could not create topic " + t.Name)
	}
	return nil
}

// adminClient is the harness's own client (adminClientID, not part of the
// random workload): it creates the workload topics and does the final reads.
func (w *World) adminClient() *client {
	id := adminClientID
	if c := w.clients[id]; c != nil {
		return c
	}
	c := newClient(w, id)
	c.stopped = true
	w.clients[id] = c
	return c
}

func (w *World) startWorkload() {
	for _, id := range w.clientIDs() {
		c := w.clients[id]
		if id == adminClientID {
			continue
		}
		c.next(c.thinkTime())
	}
}

// liveness heals every fault, restarts every process, stops the workload and
// requires convergence within LivenessTimeout.
func (w *World) liveness() error {
	w.healAll()
	for _, id := range w.clientIDs() {
		w.clients[id].stopped = true
	}
	deadline := w.now.Add(w.cfg.LivenessTimeout)
	w.runUntil(deadline, func() bool { return w.idle() && w.converged() })
	if w.failure != nil {
		return w.failure
	}
	if !w.converged() || !w.idle() {
		return w.stuck("liveness: cluster did not converge within " + w.cfg.LivenessTimeout.String())
	}
	if err := w.objectLiveness(); err != nil {
		return err
	}
	return w.checkLostForGood()
}

// healAll ends every fault: network, disks, pauses, and restarts crashed
// processes.
func (w *World) healAll() {
	w.net.healAll()
	if w.objects != nil {
		w.objects.heal()
	}
	w.killZombies()
	w.heals++
	w.faultsOn = false
	for _, id := range w.hostIDs {
		h := w.hosts[id]
		h.faults = diskFaults{}
		h.disk.capacity = w.cfg.DiskCapacity
		h.pausedUntil = 0
		if !h.up {
			h.start()
		}
	}
}

func (w *World) idle() bool {
	for _, id := range w.clientIDs() {
		if w.clients[id].inflight != nil {
			return false
		}
	}
	return true
}

// finalReads reads every workload partition from its log start (offset 0,
// or where retention left it) to its high watermark and records the reads
// as Final.
func (w *World) finalReads() error {
	reader := w.adminClient()
	reader.stopped = true
	offline := map[sm.TopicPartition]bool{}
	if ctl := w.leaderController(); ctl != nil {
		for _, st := range ctl.Metadata().Partitions {
			offline[st.TP] = w.lostForGood(st)
		}
	}
	for _, tp := range w.workloadTPs() {
		if offline[tp] {
			continue // nothing can read it (checkLostForGood allowed it)
		}
		// Each partition has the liveness timeout to be read whole: reads
		// of cold data wait for the object store, a round trip per fetch.
		deadline := w.now.Add(w.cfg.LivenessTimeout)
		next := sm.Offset(0)
		hw := sm.Offset(-1)
		for hw < 0 || next < hw {
			if w.lostForGoodNow(tp) {
				// A final read met corruption on the only copy: the replica
				// reported the damage and the partition is offline (the
				// durability check below says whether that was allowed).
				break
			}
			got := false
			reader.script = append(reader.script, action{kind: linearizability.Fetch, tp: tp, offset: next, final: true,
				onReply: func(op linearizability.Op) {
					got = true
					if op.Err == linearizability.ErrOffsetOutOfRange && sm.Offset(op.LogStart) > next {
						next = sm.Offset(op.LogStart) // retention deleted what lies below
						return
					}
					if op.Outcome != linearizability.OK {
						return
					}
					hw = sm.Offset(op.HW)
					if n := len(op.Records); n > 0 {
						next = sm.Offset(op.Records[n-1].Offset + 1)
					}
				}})
			reader.next(0)
			w.runUntil(deadline, func() bool { return got })
			if !got || w.now >= deadline {
				return w.stuck("final read of " + tp.String() + " did not finish")
			}
			if w.failure != nil {
				return w.failure
			}
			if !w.converged() { // leadership moved: wait again
				w.runUntil(deadline, func() bool { return w.converged() })
			}
		}
	}
	if w.failure != nil {
		return w.failure
	}
	return w.checkLostForGood() // a final read may have met the only copy's corruption
}

// stuck reports a liveness failure with the cluster's state.
func (w *World) stuck(what string) error {
	if w.failure != nil {
		return w.failure
	}
	return fmt.Errorf("t=%v: %s\n%s", w.now, what, w.describe())
}

// ---- cluster views -------------------------------------------------------

func (w *World) controllerIDs() []sm.NodeID {
	var out []sm.NodeID
	for _, id := range w.hostIDs {
		if w.hosts[id].kind == kindController {
			out = append(out, id)
		}
	}
	return out
}

func (w *World) brokerIDs() []sm.NodeID {
	var out []sm.NodeID
	for _, id := range w.hostIDs {
		if w.hosts[id].kind == kindBroker {
			out = append(out, id)
		}
	}
	return out
}

func (w *World) clientIDs() []sm.NodeID {
	ids := make([]sm.NodeID, 0, len(w.clients))
	for id := range w.clients {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (w *World) allIDs() []sm.NodeID {
	return append(slices.Clone(w.hostIDs), w.clientIDs()...)
}

func (w *World) workloadTPs() []sm.TopicPartition {
	var out []sm.TopicPartition
	for _, t := range w.cfg.Topics {
		for p := int32(0); p < t.Partitions; p++ {
			out = append(out, sm.TopicPartition{Topic: t.Name, Partition: p})
		}
	}
	return out
}

// leaderController returns the up controller that leads, if exactly one
// does at the highest term.
func (w *World) leaderController() *controller.Node {
	var best *controller.Node
	for _, id := range w.controllerIDs() {
		h := w.hosts[id]
		if !h.up {
			continue
		}
		c := h.node.(*controller.Node)
		if c.IsLeader() && (best == nil || c.Term() > best.Term()) {
			best = c
		}
	}
	return best
}

func (w *World) controllerNode(id sm.NodeID) *controller.Node {
	h := w.hosts[id]
	if h == nil || !h.up {
		return nil
	}
	return h.node.(*controller.Node)
}

func (w *World) brokerNode(id sm.NodeID) *broker.Node {
	h := w.hosts[id]
	if h == nil || !h.up {
		return nil
	}
	return h.node.(*broker.Node)
}

func (w *World) brokersRegistered() bool {
	for _, id := range w.brokerIDs() {
		b := w.brokerNode(id)
		if b == nil || !b.Registered() {
			return false
		}
	}
	return w.leaderController() != nil
}

// converged: every process up, brokers registered, and every workload
// partition led by a broker that knows it, with the full replica set in the
// ISR and everything it holds committed.
func (w *World) converged() bool {
	if !w.brokersRegistered() || !w.aclsSettled() {
		return false
	}
	ctl := w.leaderController()
	md := ctl.Metadata()
	states := map[sm.TopicPartition]sm.PartitionState{}
	for _, p := range md.Partitions {
		states[p.TP] = p
	}
	// Metadata first (cheap); replica status only once it agrees, and one
	// Partitions call per leader (a seed may run hundreds of partitions).
	tps := w.workloadTPs()
	for _, tp := range tps {
		st, ok := states[tp]
		if ok && w.lostForGood(st) {
			continue // every eligible copy is gone: offline until an operator acts
		}
		if !ok || st.Leader == sm.NoNode || len(st.ISR) != len(st.Replicas) {
			return false
		}
	}
	replicas := map[sm.NodeID]map[sm.TopicPartition]broker.PartitionStatus{}
	for _, tp := range tps {
		st := states[tp]
		if w.lostForGood(st) {
			continue
		}
		byTP, ok := replicas[st.Leader]
		if !ok {
			b := w.brokerNode(st.Leader)
			if b == nil {
				return false
			}
			byTP = statusByTP(b)
			replicas[st.Leader] = byTP
		}
		ps, ok := byTP[tp]
		if !ok || ps.Role != partition.RoleLeader || ps.LeaderEpoch != st.LeaderEpoch || ps.HW != ps.LEO || len(ps.ISR) != len(st.Replicas) {
			return false
		}
	}
	return true
}

// lostForGood reports a partition the controller keeps offline because every
// in-sync and eligible copy was on a lost disk: it waits for an operator
// (unclean election, or a broker started with --accept-data-loss). Only a
// run that lost disks can have one.
func (w *World) lostForGood(st sm.PartitionState) bool {
	return len(w.diskVictims) > 0 && st.Leader == sm.NoNode && len(st.ISR) == 0 && len(st.ELR) == 0
}

// lostForGoodNow reports whether tp has lost every eligible copy in the
// leading controller's current metadata.
func (w *World) lostForGoodNow(tp sm.TopicPartition) bool {
	ctl := w.leaderController()
	if ctl == nil {
		return false
	}
	for _, st := range ctl.Metadata().Partitions {
		if st.TP == tp {
			return w.lostForGood(st)
		}
	}
	return false
}

// checkLostForGood fails the run when a partition the durability promise
// covers lost every eligible copy: with fewer lost disks than its min ISR,
// some in-sync or eligible copy of every committed record survives.
func (w *World) checkLostForGood() error {
	ctl := w.leaderController()
	if ctl == nil {
		return nil
	}
	minISR := map[string]int32{}
	for _, t := range w.cfg.Topics {
		minISR[t.Name] = max(t.MinISR, 1)
	}
	for _, st := range ctl.Metadata().Partitions {
		m, workload := minISR[st.TP.Topic]
		if workload && w.lostForGood(st) {
			w.stats.reach("partition lost for good")
			if int(m) > w.durabilityBudget() {
				return fmt.Errorf("t=%v: %v lost every in-sync and eligible copy with %d of at most %d disks lost, below its min isr %d\n%s",
					w.now, st.TP, len(w.diskVictims), w.durabilityBudget(), m, w.describe())
			}
		}
	}
	return nil
}

// statusByTP indexes a broker's replica statuses by partition.
func statusByTP(b *broker.Node) map[sm.TopicPartition]broker.PartitionStatus {
	all := b.Partitions()
	out := make(map[sm.TopicPartition]broker.PartitionStatus, len(all))
	for _, p := range all {
		out[p.TP] = p
	}
	return out
}

// describe prints the cluster state for failure reports.
func (w *World) describe() string {
	var b strings.Builder
	for _, id := range w.hostIDs {
		h := w.hosts[id]
		fmt.Fprintf(&b, "  %v up=%v inc=%d", id, h.up, h.incarnation)
		if h.up {
			switch n := h.node.(type) {
			case *controller.Node:
				fmt.Fprintf(&b, " leader=%v term=%d applied=%d", n.IsLeader(), n.Term(), n.AppliedIndex())
			case *broker.Node:
				fmt.Fprintf(&b, " registered=%v", n.Registered())
				for _, p := range n.Partitions() {
					fmt.Fprintf(&b, "\n    %+v", p)
				}
			}
		}
		b.WriteByte('\n')
	}
	if ctl := w.leaderController(); ctl != nil {
		md := ctl.Metadata()
		for _, p := range md.Partitions {
			fmt.Fprintf(&b, "  meta %v leader=%v epoch=%d isr=%v elr=%v replicas=%v\n", p.TP, p.Leader, p.LeaderEpoch, p.ISR, p.ELR, p.Replicas)
		}
		for _, br := range md.Brokers {
			fmt.Fprintf(&b, "  meta broker %v inc=%d fenced=%v\n", br.ID, br.Incarnation, br.Fenced)
		}
	}
	return b.String()
}

// simWallClockAtStart is the simulated wall clock, in Unix ms, at virtual
// time 0 (2026-01-01T00:00:00Z): brokers stamp batches with it plus their
// node time. A host's node time is the world's virtual time plus its clock
// jumps, and does not restart with the process, so one fixed value keeps a
// broker's wall clock continuous across its restarts, and every run of a
// seed stamps the same times.
const simWallClockAtStart int64 = 1767225600000

// newNode builds a host's state machine from what its disk holds.
func (w *World) newNode(h *host, d sm.Durable) (runtime.Node, error) {
	cfg := w.cfg
	if h.kind == kindController {
		return controller.New(controller.Config{
			ID:               h.id,
			Peers:            w.controllerIDs(),
			TickInterval:     cfg.RaftTick,
			ElectionTicks:    cfg.ElectionTicks,
			HeartbeatTicks:   cfg.HeartbeatTicks,
			SessionTimeout:   cfg.SessionTimeout,
			DefaultMinISR:    1,
			MaxPartitions:    1000,
			HealthTimeout:    cfg.HealthTimeout,
			Tiering:          controller.TieringConfig{GC: true, GCGrace: cfg.GCGrace, GCInterval: cfg.GCInterval},
			ACL:              acl.Options{AllowIfNoRules: true},
			WallClockAtStart: simWallClockAtStart,

			SnapshotEntries:        cfg.SnapshotEntries,
			SnapshotCatchUpEntries: cfg.SnapshotCatchUpEntries,

			CanaryStatusWithoutReadIndex: cfg.CanaryReadIndex,
		}, d)
	}
	rack := fmt.Sprintf("rack-%d", int(h.id-firstBrokerID)%max(cfg.Racks, 1))
	return broker.New(broker.Config{
		ID:                           h.id,
		Incarnation:                  h.incarnation,
		Rack:                         rack,
		Host:                         fmt.Sprintf("broker-%d.sim", h.id),
		Compressor:                   codec.Codecs{},
		Controllers:                  w.controllerIDs(),
		HeartbeatInterval:            cfg.HeartbeatInterval,
		ControllerTimeout:            3 * cfg.HeartbeatInterval,
		HealthInterval:               cfg.HealthInterval,
		AckTimeout:                   cfg.AckTimeout,
		ReplicaLagTime:               cfg.ReplicaLagTime,
		MaxReplicationLag:            cfg.MaxReplicationLag,
		ReplicaFetchWait:             200 * sm.Millisecond,
		ReplicaFetchTimeout:          500 * sm.Millisecond,
		AlterISRTimeout:              500 * sm.Millisecond,
		DefaultMinISR:                1,
		MaxRecordBytes:               1 << 20,
		MaxBatchBytes:                4 << 20,
		FetchMaxRecords:              256,
		WallClockAtStart:             simWallClockAtStart,
		ACL:                          acl.Options{AllowIfNoRules: true},
		CacheBytes:                   max(cfg.Storage.CacheBytes, 1), // 0 would mean the default
		SegmentBytes:                 cfg.Storage.SegmentBytes,
		RetentionCheckInterval:       cfg.Storage.RetentionCheckInterval,
		Tier:                         cfg.Storage.Tier,
		AcceptDataLoss:               h.acceptDataLoss,
		FsyncOnWrite:                 true,
		CanaryAckAllBeforeISR:        cfg.Canary,
		CanaryTrustStaleIncarnations: cfg.CanaryZombie,
		CanaryStaleACL:               cfg.CanaryStaleACL,
		CanaryIgnoreRevocations:      cfg.CanaryIgnoreRevocations,
		CanaryTimeLookupNext:         cfg.CanaryTimeLookupNext,
		CanaryStoreDuplicates:        cfg.CanaryStoreDuplicates,
		Groups:                       cfg.Groups.Broker,
	}, d)
}
