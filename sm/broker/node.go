// Package broker is the broker node: the components hosted on one process
// (partition replicas, sm/partition, behind sm/host's component interface),
// the heartbeat session with the controller that carries metadata back, and
// the routing of messages, effect completions and timers to components. It
// implements runtime.Node.
//
// It is pure: Step consumes one event with the time, Ready reports the
// effects (disk operations, messages, the next timer, a fatal stop) and
// Advance acknowledges them. It never blocks, starts goroutines, reads a
// clock, draws randomness or touches I/O.
//
// Every event doubles as a tick, so deadlines that passed while a process
// was paused are handled at the next event; component timers live in a heap
// (sm/host), so an event costs O(log P) in the number of hosted partitions.
// A log operation that ends with an unknown outcome (an I/O error) is an
// environmental dead end (Ready.Fatal); the runtime restarts the process,
// which recovers its logs from disk.
//
// Known limit: topics are named, not numbered. Deletions travel in metadata
// deltas (DeletedTopics), so a topic deleted and re-created within one delta
// is dropped and hosted anew; but a broker that was fenced across a delete
// and re-create and then gets a full snapshot cannot tell the new topic
// from the old one (topic IDs will fix it).
package broker

import (
	"fmt"
	"maps"
	"slices"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/assert"
	"github.com/weirmq/weir/sm/host"
	"github.com/weirmq/weir/sm/partition"
	"github.com/weirmq/weir/sm/tier"
)

// PartitionStatus is one hosted replica's state as the simulator, tests and
// the admin API see it: TP, Role, Leader, LeaderEpoch, LEO, DurableLEO, HW,
// ISR.
type PartitionStatus = partition.Status

// Node is one broker process. See the package comment.
type Node struct {
	cfg        Config
	now        sm.Time
	meta       metadata
	registered bool
	// authz decides client requests by the cluster's ACL rules.
	authz authz
	// revokedGen is the metadata generation of the revoked serials last
	// reported in Ready.Revoked; revoked is that set, which client requests
	// are checked against (Received.Serial).
	revokedGen uint64
	revoked    map[string]bool

	// hosts holds every component (its effects, routes and timers); parts
	// indexes the partition replicas among them.
	hosts *host.Set
	parts map[sm.TopicPartition]*partition.Partition
	// cache bounds the batches all replicas keep in memory together.
	cache *partition.Cache
	// tiers are the tiered-storage components of the partitions this
	// broker leads (with an object store); uploads bounds their uploads.
	tiers   map[sm.TopicPartition]*tier.Tier
	uploads *tier.Budget
	// cold caches what cold reads got from the object store, for all the
	// broker's partitions together.
	cold *tier.ColdCache
	// groups are the group coordinators of the offsets partitions this
	// broker leads (groups.go); self holds the messages the node sent
	// itself (their internal produces' and fetches' answers) until the end
	// of the Step; selfReq numbers those requests, groupSeq the requests
	// the coordinators hold; createdAt is when the offsets topic's creation
	// was last asked for.
	groups    map[sm.TopicPartition]*groupHost
	self      []sm.Message
	selfReq   uint64
	groupSeq  uint64
	createdAt sm.Time
	// coordinators counts the coordinators this process created (their
	// member IDs' Instance).
	coordinators uint64
	// pids is the block of producer IDs InitProducerID answers from.
	pids producerIDs

	ctrlIdx int       // position in cfg.Controllers of the last rotation
	ctrl    sm.NodeID // the controller believed to lead
	hb      heartbeat
	// observed is the runtime's latest health measurement (HealthObserved);
	// zero until the first one.
	observed sm.BrokerHealth

	// damaged holds the replicas recovered from damaged logs (sm.Durable)
	// with the damage found; such a replica serves nothing and its log is
	// not cut until metadata shows another replica leading, to rebuild it
	// from. lostDisk says the process started on an empty disk. Both are
	// reported to the controller until this incarnation registers.
	damaged  map[sm.TopicPartition]string
	lostDisk bool
	reported bool // registered once: losses were reported

	// leaseUntil is the end of the leader lease: the send time of the last
	// heartbeat a controller leader answered OK, plus the session timeout
	// it named. The controller fences a broker only after a session timeout
	// without heartbeats, counted from when it received one, so until then
	// no newer incarnation can have been elected in this one's place by
	// session expiry; after it, this process may be a zombie (frozen while a
	// replacement took over) and serves no produce or fetch as leader until
	// a controller answers again.
	leaseUntil sm.Time

	rd    sm.Ready // effects since the last Advance (TimerAt computed in Ready)
	fatal string
}

// New starts a broker from what its disk holds: every partition log in d is
// recovered (a torn tail is cut by a LogTruncate in the first Ready). The
// caller must take Ready before the first Step; the first heartbeat goes out
// at the first timer.
func New(cfg Config, d sm.Durable) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	n := &Node{
		cfg: cfg, hosts: host.NewSet(), parts: map[sm.TopicPartition]*partition.Partition{},
		tiers: map[sm.TopicPartition]*tier.Tier{}, groups: map[sm.TopicPartition]*groupHost{}, uploads: tier.NewBudget(cfg.Tier.MaxConcurrentUploads),
		ctrl: cfg.Controllers[0], meta: newMetadata(),
		hb:       heartbeat{nextAt: 1},
		damaged:  map[sm.TopicPartition]string{},
		lostDisk: d.FreshDisk,
	}
	n.cache = partition.NewCache(cfg.CacheBytes)
	n.cold = tier.NewColdCache(tier.ColdCacheConfig{BudgetBytes: cfg.Tier.ColdCacheBytes})
	n.syncAuthz()
	for _, tp := range slices.SortedFunc(maps.Keys(d.Manifests), sm.CompareTP) {
		m := d.Manifests[tp]
		if err := n.host(tp, &m); err != nil {
			return nil, err
		}
	}
	for _, tp := range slices.SortedFunc(maps.Keys(d.Damaged), sm.CompareTP) {
		if n.parts[tp] == nil {
			return nil, fmt.Errorf("broker: %v is reported damaged but has no log", tp)
		}
		n.damaged[tp] = d.Damaged[tp]
	}
	return n, nil
}

// Damaged reports the hosted replicas whose logs are damaged and not yet
// repaired, with the damage found, for the process to log and the admin
// API to show.
func (n *Node) Damaged() map[sm.TopicPartition]string { return maps.Clone(n.damaged) }

// host creates the replica of tp from its log's manifest (nil: a new one).
func (n *Node) host(tp sm.TopicPartition, m *sm.LogManifest) error {
	assert.That(n.parts[tp] == nil, "broker: hosting %v twice", tp)
	pc := n.cfg.partitionConfig(tp)
	pc.Cache = n.cache
	switch t, ok := n.meta.Topic(tp.Topic); {
	case m != nil:
		pc.TopicID = m.TopicID // what the log on disk belongs to
	case ok:
		pc.TopicID = t.ID
	}
	p, err := partition.New(pc, n.settings(tp.Topic), m, &n.hosts.IDs)
	if err != nil {
		return fmt.Errorf("broker: recovering %v: %w", tp, err)
	}
	n.parts[tp] = p
	n.hosts.Add(host.PartitionKey(tp), p)
	n.drain(tp)
	return nil
}

// Step consumes one event. It returns an error only for a message it cannot
// route; everything else is handled as data.
func (n *Node) Step(now sm.Time, ev sm.Event) error {
	if n.fatal != "" {
		return nil // stopped: the runtime is about to restart the process
	}
	if now > n.now {
		n.now = now
	}
	var err error
	switch e := ev.(type) {
	case sm.Received:
		err = n.onReceived(e)
	case sm.TimerFired:
	case sm.LogDone:
		n.onLogDone(e)
	case sm.LogReadDone:
		n.onLogReadDone(e)
	case sm.ObjectDone:
		n.onObjectDone(e)
	case sm.HealthObserved:
		n.observed = e.Health
	default:
		err = fmt.Errorf("broker: unknown event %T", ev)
	}
	n.deliverSelf()
	// Every event doubles as a tick: a TimerFired may come late (a paused
	// process, a clock jump) behind other events, and deadlines that have
	// passed are handled now, so after any Step every timer is in the future.
	if n.fatal == "" {
		n.onTimer()
		n.deliverSelf()
	}
	return err
}

// Ready returns the effects accumulated since the last Advance, with the
// earliest time any heartbeat or replica deadline needs a TimerFired.
func (n *Node) Ready() sm.Ready {
	rd := n.rd
	rd.Fatal = n.fatal
	if n.fatal == "" {
		rd.TimerAt = n.timerAt()
	}
	return rd
}

// Advance acknowledges the last Ready: its effects are with the adapters.
func (n *Node) Advance() {
	n.rd = sm.Ready{}
}

// Registered reports whether the controller's metadata shows this broker's
// incarnation registered and unfenced; until then it leads nothing.
func (n *Node) Registered() bool { return n.registered }

// Controller is the controller this broker currently believes leads.
func (n *Node) Controller() sm.NodeID { return n.ctrl }

// Partitions reports every hosted replica, sorted by TP.
func (n *Node) Partitions() []PartitionStatus {
	out := make([]PartitionStatus, 0, len(n.parts))
	for _, tp := range n.sortedParts() {
		out = append(out, n.parts[tp].Status())
	}
	return out
}

// Manifest describes a hosted replica's log as the replica knows it
// (false when not hosted), for the simulator's checkers.
func (n *Node) Manifest(tp sm.TopicPartition) (sm.LogManifest, bool) {
	if p := n.parts[tp]; p != nil {
		return p.Manifest(), true
	}
	return sm.LogManifest{}, false
}

// Cached returns a hosted replica's cached batches (nil when not hosted),
// for tests: with an unbounded cache, the whole log since the start.
func (n *Node) Cached(tp sm.TopicPartition) []sm.Batch {
	if p := n.parts[tp]; p != nil {
		return p.Cached()
	}
	return nil
}

// CacheUsed is the bytes of batches the replicas keep in memory together.
func (n *Node) CacheUsed() int64 { return n.cache.Used() }

func (n *Node) sortedParts() []sm.TopicPartition {
	return slices.SortedFunc(maps.Keys(n.parts), sm.CompareTP)
}

// drain settles a replica after any call into it: its effects go into the
// node's Ready (log operations routed by ID), its AlterISR requests to the
// controller believed to lead, and its timer is re-filed.
func (n *Node) drain(tp sm.TopicPartition) {
	n.settle(host.PartitionKey(tp))
	if t := n.tiers[tp]; t != nil {
		t.Poke(n.now, n.tierView(tp))
		n.settleTier(tp)
	}
	if tp.Topic == sm.OffsetsTopic {
		n.syncGroup(tp)
		if g := n.groups[tp]; g != nil && g.phase != groupServing {
			n.loadGroup(g)
			n.settle(groupKey(tp))
		}
	}
}

func (n *Node) settle(k host.Key) {
	out := n.hosts.Settle(k)
	out.Messages = n.gateLease(out.Messages)
	n.rd.Log = append(n.rd.Log, out.Log...)
	n.rd.Reads = append(n.rd.Reads, out.Reads...)
	n.rd.Objects = append(n.rd.Objects, out.Objects...)
	for _, e := range out.Messages {
		if e.To == n.cfg.ID {
			n.self = append(n.self, e.Msg) // a coordinator's produce or fetch answered
			continue
		}
		n.rd.Messages = append(n.rd.Messages, e)
	}
	n.rd.Probes = append(n.rd.Probes, out.Probes...)
	for _, m := range out.ToController {
		n.send(n.ctrl, m)
	}
}

// issueLog issues a log operation on the node's own behalf (deleting a
// dropped replica's log).
func (n *Node) issueLog(op sm.LogOp) {
	op.ID = n.hosts.IDs.Next()
	n.hosts.Issue(op)
	n.rd.Log = append(n.rd.Log, op)
}

// leased reports whether the leader lease holds (see leaseUntil).
func (n *Node) leased() bool { return n.now < n.leaseUntil }

// leaseExpired is the message of answers refused for an expired lease.
const leaseExpired = "leader lease expired: no controller has answered a heartbeat within the session timeout"

// gateLease turns a partition's OK produce and fetch answers into errors
// while the lease has expired: a produce answered after the lease ended
// (its records may still commit if this process is not a zombie) times out,
// a read is refused as from a non-leader. Replica fetches are held back: a
// follower whose lease expired may be a zombie whose replacement registered
// on another copy of its disk, and a leader that has not heard of the
// replacement yet would count the zombie's log as the replica's (the
// follower's fetch timer sends again once a controller has answered).
func (n *Node) gateLease(msgs []sm.Envelope) []sm.Envelope {
	if n.leased() {
		return msgs
	}
	kept := msgs[:0]
	for i, e := range msgs {
		if _, ok := e.Msg.(sm.ReplicaFetchRequest); ok {
			n.probe(sm.ProbeLeaseExpired)
			continue
		}
		kept = append(kept, msgs[i])
		i := len(kept) - 1
		switch m := e.Msg.(type) {
		case sm.ProduceResponse:
			if m.Code == sm.CodeOK {
				m.Code, m.Message = sm.CodeTimeout, leaseExpired
				kept[i].Msg = m
				n.probe(sm.ProbeLeaseExpired)
			}
		case sm.FetchResponse:
			if m.Code == sm.CodeOK {
				m = sm.FetchResponse{ReqID: m.ReqID, TP: m.TP, Code: sm.CodeNotLeader, Message: leaseExpired}
				kept[i].Msg = m
				n.probe(sm.ProbeLeaseExpired)
			}
		case sm.ListOffsetsResponse:
			if m.Code == sm.CodeOK {
				kept[i].Msg = sm.ListOffsetsResponse{ReqID: m.ReqID, TP: m.TP, Code: sm.CodeNotLeader, Message: leaseExpired}
				n.probe(sm.ProbeLeaseExpired)
			}
		}
	}
	return kept
}

func (n *Node) send(to sm.NodeID, m sm.Message) {
	n.rd.Messages = append(n.rd.Messages, sm.Envelope{From: n.cfg.ID, To: to, Msg: m})
}

// onLogDone routes a log completion to the component that issued the
// operation. A completion this process did not issue, or already had, is
// dropped. An unknown outcome (an I/O error) is an environmental dead end,
// whoever issued the operation: stop, and let the runtime restart from disk.
// A refusal (OutcomeFailed) goes to the replica, which carries on.
func (n *Node) onLogDone(e sm.LogDone) {
	r, known, err := n.hosts.RouteLog(e)
	switch {
	case err != nil:
		n.fatal = "broker: " + err.Error()
		return
	case !known:
		return // late or duplicate: nothing waits for it
	case e.Outcome == sm.OutcomeUnknown:
		n.fatal = fmt.Sprintf("broker: log operation %d on %v failed: %s", e.ID, r.TP, e.Reason)
		return
	case r.Gone:
		n.probe(sm.ProbeCompletionForGoneComponent)
		return
	case r.Component == nil:
		return // the node's own delete
	}
	if err := r.Component.OnLogDone(n.now, e); err != nil {
		n.fatal = "broker: " + err.Error()
		return
	}
	n.settleKey(r.Key)
}

// settleKey settles the component under k after a call into it; a replica's
// tier component then sees the replica's new state (a durable append moves
// the high watermark, which may make a segment uploadable).
func (n *Node) settleKey(k host.Key) {
	switch k.Kind {
	case host.KindPartition:
		n.drain(k.TP)
	case host.KindTier:
		n.settleTier(k.TP)
	default:
		n.settle(k)
	}
}

// onLogReadDone routes a read completion to the component that issued it
// (reads complete in any order; one for a gone component is dropped).
func (n *Node) onLogReadDone(e sm.LogReadDone) {
	r, known := n.hosts.RouteRead(e)
	if !n.deliverable(r, known) {
		return
	}
	if err := r.Component.OnLogReadDone(n.now, e); err != nil {
		n.fatal = "broker: " + err.Error()
		return
	}
	n.settleKey(r.Key)
}

// deliverable reports whether a routed completion (any order) goes to a
// component: not for one this process does not track, nor for the node's
// own effects; one for a gone component is counted and dropped.
func (n *Node) deliverable(r host.LogDone, known bool) bool {
	switch {
	case !known, r.Component == nil && !r.Gone:
		return false
	case r.Gone:
		n.probe(sm.ProbeCompletionForGoneComponent)
		return false
	}
	return true
}

// onTimer runs the heartbeat and every component deadline that has come, in
// (time, key) order.
func (n *Node) onTimer() {
	n.tickHeartbeat()
	n.tickPIDs()
	for {
		k, ok := n.hosts.Due(n.now)
		if !ok {
			return
		}
		if k.Kind == host.KindGroup {
			n.onGroupTimer(k.TP)
			continue
		}
		if k.Kind == host.KindTier {
			n.tiers[k.TP].Refresh(n.tierView(k.TP))
		}
		n.hosts.Get(k).OnTimer(n.now)
		n.settleKey(k)
	}
}

func (n *Node) timerAt() sm.Time {
	t := n.hb.timerAt(n.cfg.ControllerTimeout)
	if at := n.hosts.TimerAt(); at != 0 && at < t {
		t = at
	}
	if at := n.pidTimerAt(); at != 0 && at < t {
		t = at
	}
	return t
}

// CheckInvariants verifies the node and every replica it hosts.
func (n *Node) CheckInvariants() error {
	if err := n.hosts.CheckInvariants(); err != nil {
		return fmt.Errorf("broker: %v: %w", n.cfg.ID, err)
	}
	if len(n.parts)+len(n.tiers)+len(n.groups) != n.hosts.Len() {
		return fmt.Errorf("broker: %v indexes %d partitions, %d tier components and %d coordinators but hosts %d components",
			n.cfg.ID, len(n.parts), len(n.tiers), len(n.groups), n.hosts.Len())
	}
	for _, tp := range slices.SortedFunc(maps.Keys(n.groups), sm.CompareTP) { // a few: sorted, so a failure names the same one every run
		g := n.groups[tp]
		if leading, epoch := n.parts[tp].Leading(); !leading || epoch != g.epoch {
			return fmt.Errorf("broker: %v hosts the coordinator of %v at epoch %d but its replica leads %v at %d", n.cfg.ID, tp, g.epoch, leading, epoch)
		}
	}
	uploading := 0
	for _, t := range n.tiers {
		if t.Uploading() {
			uploading++
		}
	}
	if uploading != n.uploads.Used() {
		// A slot held by no upload would stall every partition's uploads.
		return fmt.Errorf("broker: %v has %d uploads in flight but %d of %d upload slots taken", n.cfg.ID, uploading, n.uploads.Used(), n.uploads.Max)
	}
	// Map order first (this runs after every simulated step); only a
	// failing check pays for the sorted pass that names the same first
	// violation in every run.
	for tp, p := range n.parts {
		if n.checkReplica(tp, p) != nil {
			for _, tp := range n.sortedParts() {
				if err := n.checkReplica(tp, n.parts[tp]); err != nil {
					return err
				}
			}
		}
	}
	if t := n.timerAt(); n.fatal == "" && n.now > 0 && t <= n.now {
		return fmt.Errorf("broker: %v timer at %v not after now %v", n.cfg.ID, t, n.now)
	}
	return nil
}

func (n *Node) checkReplica(tp sm.TopicPartition, p *partition.Partition) error {
	if n.hosts.Get(host.PartitionKey(tp)) != p {
		return fmt.Errorf("broker: %v indexes a replica of %v it does not host", n.cfg.ID, tp)
	}
	leading, epoch := p.Leading()
	if !leading {
		return nil
	}
	if leader, metaEpoch := n.meta.Leader(tp); !n.registered || leader != n.cfg.ID || metaEpoch != epoch {
		st, _ := n.meta.Partition(tp)
		return fmt.Errorf("broker: %v leads %v at epoch %d; registered %v, metadata %+v", n.cfg.ID, tp, epoch, n.registered, st)
	}
	return nil
}

// probe reports that a protocol path was taken (sm.Probe).
func (n *Node) probe(p sm.Probe) { n.rd.Probes = append(n.rd.Probes, p) }

// BrokerInfo is what this broker's metadata says of broker id (its
// registered incarnation and whether it is fenced).
func (n *Node) BrokerInfo(id sm.NodeID) (sm.BrokerInfo, bool) { return n.meta.Broker(id) }

// LossReported reports whether this incarnation has registered: what it
// lost (sm.Durable.FreshDisk, damaged logs) is then known to the controller.
// An adapter that keeps a lost-disk marker removes it only after this, so a
// process that restarts before registering still reports the loss.
func (n *Node) LossReported() bool { return n.reported }
