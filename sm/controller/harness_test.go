package controller

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/cryptotest"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/weirmq/weir/runtime/testkit"
	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/acl"
	"github.com/weirmq/weir/sm/metacache"
)

// harness runs a few controllers in one deterministic world built on
// runtime/testkit: each controller in a testkit.Host (every event goes
// through runtime.Handle), a FIFO network queue, a fake disk whose writes
// become durable only when the harness completes them, virtual time, and
// broker agents that heartbeat. Everything happens in a fixed order, and
// raft's jitter is seeded, so a seed is a trace.
type harness struct {
	t     harnessT
	ids   []sm.NodeID
	cfgs  map[sm.NodeID]Config
	nodes map[sm.NodeID]*Node // nil while crashed
	hosts map[sm.NodeID]*testkit.Host
	disks map[sm.NodeID]*testkit.Disk
	clock *testkit.Clock
	net   *testkit.Network
	// cut reports whether a message is lost (a network partition).
	cut func(from, to sm.NodeID) bool
	// allowFatal lets a controller stop itself (Ready.Fatal) without failing
	// the test.
	allowFatal bool

	brokers map[sm.NodeID]*brokerAgent
	inbox   map[sm.NodeID][]sm.Message // replies to clients
	leaders map[uint64]sm.NodeID       // term → the controller that led it
	trace   *strings.Builder           // when set, every delivered message
	// objects, when set, serves the controllers' object-store operations
	// as they are issued (gc_test.go); unset, they wait in each Env's
	// PendingObjects for the test.
	objects *objStore
}

// harnessT is what both *testing.T and *rapid.T offer the harness.
type harnessT interface {
	Fatalf(format string, args ...any)
	Helper()
}

// durable reads a controller's completed raft state.
func durable(d *testkit.Disk) (*pb.HardState, []*pb.Entry) { return d.Raft() }

func lastIndex(entries []*pb.Entry) uint64 {
	if len(entries) == 0 {
		return bootstrapIndex
	}
	return entries[len(entries)-1].GetIndex()
}

const (
	harnessStep       = 10 * sm.Millisecond
	heartbeatInterval = 200 * sm.Millisecond
	settleEventsMax   = 100000
)

func testConfig(id sm.NodeID, peers []sm.NodeID) Config {
	return Config{
		ID: id, Peers: peers, TickInterval: 100 * sm.Millisecond, ElectionTicks: 10, HeartbeatTicks: 1,
		SessionTimeout: 2 * sm.Second, DefaultMinISR: 2, MaxPartitions: 1000,
		ACL: acl.Options{AllowIfNoRules: true},
	}
}

// newHarness starts n controllers (IDs 1..n) with raft's randomness seeded.
func newHarness(t harnessT, seed uint64, n int) *harness {
	return newHarnessWith(t, seed, n, nil)
}

// newHarnessWith is newHarness with each controller's configuration passed
// through adjust (when set) before it starts.
func newHarnessWith(t harnessT, seed uint64, n int, adjust func(*Config)) *harness {
	if tt, ok := t.(*testing.T); ok {
		cryptotest.SetGlobalRandom(tt, seed)
	}
	h := &harness{
		t: t, cfgs: map[sm.NodeID]Config{}, nodes: map[sm.NodeID]*Node{}, hosts: map[sm.NodeID]*testkit.Host{}, disks: map[sm.NodeID]*testkit.Disk{},
		clock: testkit.NewClock(0), net: &testkit.Network{}, brokers: map[sm.NodeID]*brokerAgent{},
		inbox: map[sm.NodeID][]sm.Message{}, leaders: map[uint64]sm.NodeID{}, cut: func(sm.NodeID, sm.NodeID) bool { return false },
	}
	for i := 1; i <= n; i++ {
		h.ids = append(h.ids, sm.NodeID(i))
	}
	for _, id := range h.ids {
		cfg := testConfig(id, h.ids)
		if adjust != nil {
			adjust(&cfg)
		}
		h.cfgs[id] = cfg
		h.disks[id] = testkit.NewDisk()
		env := testkit.NewEnv(id, h.disks[id], h.net)
		env.CheckSend = func(e sm.Envelope) error {
			if m, ok := e.Msg.(sm.RaftMessage); ok {
				return h.checkDurableBeforeSend(id, m.M)
			}
			return nil
		}
		host := testkit.NewHost(t, h.clock, env)
		host.After = func() { h.afterStep(id) }
		h.hosts[id] = host
		h.start(id)
	}
	return h
}

// start (re)creates id from its disk, as a restarted process would.
func (h *harness) start(id sm.NodeID) { h.run(id, h.recover(id)) }

// recover builds id's node from its disk without running it.
func (h *harness) recover(id sm.NodeID) *Node {
	hs, entries := durable(h.disks[id])
	n, err := New(h.cfgs[id], sm.Durable{HardState: hs, Snapshot: h.disks[id].RaftSnapshot(), Entries: entries})
	if err != nil {
		h.t.Fatalf("start %v: %v", id, err)
	}
	return n
}

// run starts n as id's process; the host kicks it with its first event.
func (h *harness) run(id sm.NodeID, n *Node) {
	h.nodes[id] = n
	h.hosts[id].Start(n)
}

// crash kills id: its writes not yet durable are lost, and so are messages
// sent to it from now on.
func (h *harness) crash(id sm.NodeID) {
	h.nodes[id] = nil
	h.hosts[id].Crash(0)
	h.hosts[id].Env.PendingObjects = nil // their completions would reach no one
}

// step delivers one event to id and executes its effects.
func (h *harness) step(id sm.NodeID, ev sm.Event) {
	h.hosts[id].Handle(ev)
}

// call runs fn on id's node (a direct call, not an event), executes what
// the node then has ready, and returns the messages it sent, taken off the
// network.
func (h *harness) call(id sm.NodeID, fn func()) []sm.Envelope {
	n := h.net.Len()
	h.hosts[id].Call(func(sm.Time) { fn() })
	out := slices.Clone(h.net.Queue[n:])
	h.net.Queue = h.net.Queue[:n]
	return out
}

// afterStep runs after every step of id: the controller has not stopped
// (unless allowed), and no two controllers led one term. The host has
// checked the node's invariants and, on every send, that nothing raft sends
// claims state not yet on the fake disk.
func (h *harness) afterStep(id sm.NodeID) {
	if why := h.hosts[id].Stopped(); why != "" {
		if !h.allowFatal {
			h.t.Fatalf("%v fatal: %s", id, why)
		}
		return
	}
	if h.nodes[id] != nil {
		h.checkElectionSafety(id)
	}
}

func (h *harness) checkDurableBeforeSend(id sm.NodeID, m *pb.Message) error {
	hs, entries := durable(h.disks[id])
	switch m.GetType() {
	case pb.MsgPreVote, pb.MsgPreVoteResp:
		return nil // pre-votes carry a future term and change nothing durable
	case pb.MsgVoteResp:
		if !m.GetReject() && hs.GetVote() != m.GetTo() {
			return fmt.Errorf("%v granted a vote to %d before persisting it (disk vote %d)", id, m.GetTo(), hs.GetVote())
		}
	case pb.MsgAppResp:
		last := lastIndex(entries)
		if len(entries) == 0 {
			last = max(last, h.disks[id].RaftSnapshot().GetMetadata().GetIndex())
		}
		if !m.GetReject() && m.GetIndex() > last {
			return fmt.Errorf("%v acked index %d with only %d durable", id, m.GetIndex(), last)
		}
	}
	if m.GetTerm() > hs.GetTerm() {
		return fmt.Errorf("%v sent %v at term %d with durable term %d", id, m.GetType(), m.GetTerm(), hs.GetTerm())
	}
	return nil
}

// send queues a message from a client or broker.
func (h *harness) send(from, to sm.NodeID, m sm.Message) {
	h.net.Send([]sm.Envelope{{From: from, To: to, Msg: m}})
}

// next performs one pending event (a disk completion, then a message) and
// reports whether there was one.
func (h *harness) next() bool {
	for _, id := range h.ids {
		if h.hosts[id].Up() && len(h.disks[id].PendingRaft()) > 0 {
			h.hosts[id].CompleteRaft(sm.OutcomeOK, "")
			return true
		}
	}
	if h.objects != nil {
		for _, id := range h.ids {
			if env := h.hosts[id].Env; h.hosts[id].Up() && len(env.PendingObjects) > 0 {
				op := env.PendingObjects[0]
				env.PendingObjects = env.PendingObjects[1:]
				h.step(id, h.objects.exec(op))
				return true
			}
		}
	}
	env, ok := h.net.Pop()
	if !ok {
		return false
	}
	h.deliver(env)
	return true
}

func (h *harness) deliver(env sm.Envelope) {
	if h.cut(env.From, env.To) {
		return
	}
	if h.trace != nil {
		fmt.Fprintf(h.trace, "%v %v→%v %s\n", h.now(), env.From, env.To, describe(env.Msg))
	}
	if _, ok := h.cfgs[env.To]; ok {
		h.hosts[env.To].Deliver(env) // lost while crashed
		return
	}
	if r, ok := env.Msg.(sm.BrokerHeartbeatResponse); ok && h.brokers[env.To] != nil {
		h.brokers[env.To].onReply(env.From, r, h.ids)
		return
	}
	h.inbox[env.To] = append(h.inbox[env.To], env.Msg)
}

// describe renders a message without pointers, so equal traces mean equal runs.
func describe(m sm.Message) string {
	if r, ok := m.(sm.RaftMessage); ok {
		return fmt.Sprintf("raft %v term=%d index=%d logterm=%d commit=%d entries=%d reject=%v",
			r.M.GetType(), r.M.GetTerm(), r.M.GetIndex(), r.M.GetLogTerm(), r.M.GetCommit(), len(r.M.GetEntries()), r.M.GetReject())
	}
	if hb, ok := m.(sm.BrokerHeartbeat); ok && hb.Health != nil {
		health := *hb.Health
		hb.Health = nil
		return fmt.Sprintf("%T%+v health=%+v", hb, hb, health)
	}
	return fmt.Sprintf("%T%+v", m, m)
}

// settle performs events until none is pending.
func (h *harness) settle() {
	for i := 0; h.next(); i++ {
		if i > settleEventsMax {
			h.t.Fatalf("no quiescence after %d events at %v", i, h.now())
		}
	}
}

// advance moves virtual time forward by d in small steps, firing timers and
// broker heartbeats and settling after each.
func (h *harness) advance(d sm.Duration) {
	end := h.now().Add(d)
	for h.now() < end {
		h.clock.Advance(harnessStep)
		for _, id := range h.ids {
			h.hosts[id].Fire()
		}
		for _, id := range slices.Sorted(maps.Keys(h.brokers)) {
			h.brokers[id].maybeHeartbeat(h)
		}
		h.settle()
	}
}

// leader returns the controller leading the highest term, or NoNode. (A
// deposed leader may not know it yet; two leaders of one term fail flush.)
func (h *harness) leader() sm.NodeID {
	leader, term := sm.NoNode, uint64(0)
	for _, id := range h.ids {
		if n := h.nodes[id]; n != nil && n.IsLeader() && n.Term() > term {
			leader, term = id, n.Term()
		}
	}
	return leader
}

// checkElectionSafety fails if two controllers ever lead the same term.
func (h *harness) checkElectionSafety(id sm.NodeID) {
	n := h.nodes[id]
	if !n.IsLeader() {
		return
	}
	if prev, ok := h.leaders[n.Term()]; ok && prev != id {
		h.t.Fatalf("two leaders of term %d: %v and %v", n.Term(), prev, id)
	}
	h.leaders[n.Term()] = id
}

// waitLeader advances until a leader exists and returns it.
func (h *harness) waitLeader() sm.NodeID {
	for range 100 {
		if l := h.leader(); l != sm.NoNode {
			return l
		}
		h.advance(100 * sm.Millisecond)
	}
	h.t.Fatalf("no leader by %v", h.now())
	return sm.NoNode
}

func (h *harness) followers() []sm.NodeID {
	l := h.leader()
	return slices.DeleteFunc(slices.Clone(h.ids), func(id sm.NodeID) bool { return id == l })
}

// request sends m from client to controller to, settles, and returns the
// replies the client received.
func (h *harness) request(client, to sm.NodeID, m sm.Message) []sm.Message {
	h.inbox[client] = nil
	h.send(client, to, m)
	h.settle()
	return h.inbox[client]
}

// requestOne is request that expects exactly one reply.
func (h *harness) requestOne(client, to sm.NodeID, m sm.Message) sm.Message {
	replies := h.request(client, to, m)
	if len(replies) != 1 {
		h.t.Fatalf("%T to %v: %d replies %+v", m, to, len(replies), replies)
	}
	return replies[0]
}

// converge advances until every running controller applied the same index
// and holds the same metadata, and returns it.
func (h *harness) converge() sm.MetadataDelta {
	for range 100 {
		h.advance(100 * sm.Millisecond)
		if md, ok := h.agreed(); ok {
			return md
		}
	}
	h.t.Fatalf("controllers did not converge by %v", h.now())
	return sm.MetadataDelta{}
}

func (h *harness) agreed() (sm.MetadataDelta, bool) {
	var first *Node
	for _, id := range h.ids {
		n := h.nodes[id]
		if n == nil {
			continue
		}
		if first == nil {
			first = n
			continue
		}
		if n.AppliedIndex() != first.AppliedIndex() || !equalMetadata(n.Metadata(), first.Metadata()) {
			return sm.MetadataDelta{}, false
		}
	}
	return first.Metadata(), true
}

// brokerAgent heartbeats to the controller it believes leads, following
// hints, and keeps the metadata view the deltas build.
type brokerAgent struct {
	id, target  sm.NodeID
	incarnation uint64
	rack        string
	alive       bool
	sentAt      sm.Time
	view        *metacache.Cache
	codes       []sm.Code
	// health, when set, rides every heartbeat as the broker's health report.
	health *sm.BrokerHealth
}

// addBroker starts a broker agent that heartbeats from now on.
func (h *harness) addBroker(id sm.NodeID, rack string) *brokerAgent {
	b := &brokerAgent{id: id, target: h.ids[0], incarnation: 1, rack: rack, alive: true, view: metacache.New(), sentAt: -sm.Time(heartbeatInterval)}
	h.brokers[id] = b
	return b
}

func (b *brokerAgent) maybeHeartbeat(h *harness) {
	if !b.alive || h.now().Sub(b.sentAt) < heartbeatInterval {
		return
	}
	b.sentAt = h.now()
	h.send(b.id, b.target, sm.BrokerHeartbeat{
		Broker: b.id, Incarnation: b.incarnation, Rack: b.rack, Host: fmt.Sprintf("host-%d", b.id), MetadataVersion: b.view.Version(),
		Health: b.health,
	})
}

func (b *brokerAgent) onReply(from sm.NodeID, r sm.BrokerHeartbeatResponse, controllers []sm.NodeID) {
	b.codes = append(b.codes, r.Code)
	switch {
	case r.Code == sm.CodeOK:
		b.view.Apply(r.Delta)
	case r.Code == sm.CodeNotLeader && r.LeaderHint != sm.NoNode:
		b.target = r.LeaderHint
	case r.Code == sm.CodeNotLeader:
		i := slices.Index(controllers, from)
		b.target = controllers[(i+1)%len(controllers)]
	}
}

// registerBrokers adds live brokers and waits until the leader applied them.
func (h *harness) registerBrokers(racks map[sm.NodeID]string) {
	for _, id := range slices.Sorted(maps.Keys(racks)) {
		h.addBroker(id, racks[id])
	}
	for range 100 {
		h.advance(100 * sm.Millisecond)
		l := h.leader()
		if l != sm.NoNode && len(h.nodes[l].md.liveBrokers()) == len(racks) {
			return
		}
	}
	h.t.Fatalf("brokers %v not registered by %v", slices.Sorted(maps.Keys(racks)), h.now())
}

func (h *harness) now() sm.Time { return h.clock.Now() }

func equalMetadata(a, b sm.MetadataDelta) bool {
	// A receiver that never heard a delta holds no rule set: the same as
	// the empty one a controller's Full delta carries.
	empty := (&acl.State{}).Snapshot()
	for _, d := range []*sm.MetadataDelta{&a, &b} {
		if d.ACL == nil {
			d.ACL = empty
		}
		if d.Revoked == nil {
			d.Revoked = []string{}
		}
	}
	return reflect.DeepEqual(a, b)
}
