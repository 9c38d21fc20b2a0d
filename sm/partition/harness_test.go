package partition

import (
	"fmt"
	"slices"
	"testing"

	"github.com/weirmq/weir/runtime/testkit"
	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/host"
)

// The harness is a tiny world for one partition, built on runtime/testkit:
// each replica runs in a testkit.Host (as a testkit.Component standing in for
// its broker) with a fake disk that completes operations only when told, a
// shared network of envelopes the test delivers, drops or duplicates one by
// one, and a fake controller that owns the partition state and answers
// AlterISR. Every event reaches a replica through runtime.Handle. Unit tests
// drive it by hand; the property test drives it from rapid; the datadriven
// interaction tests narrate it.

// tb is what both *testing.T and *rapid.T offer.
type tb interface {
	Fatalf(format string, args ...any)
}

const ctrlID sm.NodeID = 1

// The clients: producer and consumer IDs, in the client range.
const (
	producerID sm.NodeID = 1_000_000
	consumerID sm.NodeID = 1_000_001
)

var testTP = sm.TopicPartition{Topic: "t", Partition: 0}

func testConfig(self sm.NodeID, inc uint64) Config {
	return Config{
		Self: self, Incarnation: inc, TP: testTP,
		AckTimeout: 5 * sm.Second, ReplicaLagTime: 2 * sm.Second,
		ReplicaFetchWait: 200 * sm.Millisecond, ReplicaFetchTimeout: sm.Second,
		AlterISRTimeout: sm.Second,
		MaxRecordBytes:  1024, MaxBatchBytes: 4096, FetchMaxRecords: 1000,
		ReplicaFetchMaxBytes: 1 << 16, FsyncOnWrite: true,
	}
}

type replica struct {
	id   sm.NodeID
	p    *Partition
	host *testkit.Host
	disk *testkit.Disk
	// hw is the highest high watermark seen while leading at epoch hwEpoch.
	hw      sm.Offset
	hwEpoch sm.Epoch
	// startPE is the controller's partition epoch when this incarnation
	// started: a broker leads only on metadata showing its incarnation
	// registered, which is never older than that.
	startPE int64
}

// inc is the replica's incarnation.
func (r *replica) inc() uint64 { return r.host.Incarnation }

type cluster struct {
	t        tb
	clock    *testkit.Clock
	ids      []sm.NodeID
	reps     map[sm.NodeID]*replica
	net      *testkit.Network
	isolated map[sm.NodeID]bool
	st       sm.PartitionState
	minISR   int32
	replies  map[uint64]sm.ProduceResponse
	reqSeq   uint64
	// mutate, when set, adjusts each replica's Config before New.
	mutate func(*Config)
	// cacheBytes is each replica process's cache budget (-1: unbounded);
	// settings are the topic's log settings.
	cacheBytes int64
	settings   Settings
	// mayStop lets a process stop itself (Ready.Fatal) without failing.
	mayStop bool
	// observe, when set, sees every effect a replica hands its Env.
	observe func(id sm.NodeID, e testkit.Effect)
}

// newCluster starts n replicas 101.. with 101 leading epoch 1, everyone in
// the ISR, and delivers the state to everyone.
func newCluster(t tb, n int, minISR int32) *cluster {
	return newClusterWith(t, n, minISR, nil)
}

// newClusterWith is newCluster with a hook that sees every effect.
func newClusterWith(t tb, n int, minISR int32, observe func(sm.NodeID, testkit.Effect)) *cluster {
	return newClusterSetup(t, n, minISR, func(c *cluster) { c.observe = observe })
}

// newClusterSetup is newCluster with a hook that adjusts the cluster before
// any replica starts.
func newClusterSetup(t tb, n int, minISR int32, setup func(*cluster)) *cluster {
	c := &cluster{t: t, clock: testkit.NewClock(sm.Time(sm.Second)), net: &testkit.Network{}, reps: map[sm.NodeID]*replica{},
		isolated: map[sm.NodeID]bool{}, minISR: minISR, replies: map[uint64]sm.ProduceResponse{}, cacheBytes: -1}
	if setup != nil {
		setup(c)
	}
	for i := range n {
		c.ids = append(c.ids, sm.NodeID(101+i))
	}
	c.st = sm.PartitionState{TP: testTP, Replicas: slices.Clone(c.ids), Leader: c.ids[0], LeaderEpoch: 1, ISR: slices.Clone(c.ids), PartitionEpoch: 1}
	for _, id := range c.ids {
		c.start(id)
	}
	c.metadataAll()
	return c
}

func (c *cluster) now() sm.Time { return c.clock.Now() }

// start (re)starts id from what its disk holds.
func (c *cluster) start(id sm.NodeID) {
	r := c.reps[id]
	if r == nil {
		r = &replica{id: id, disk: testkit.NewDisk()}
		env := testkit.NewEnv(id, r.disk, c.net)
		if c.observe != nil {
			env.Observe = func(e testkit.Effect) { c.observe(id, e) }
		}
		r.host = testkit.NewHost(c.t, c.clock, env)
		r.host.After = func() { c.check(r) }
		c.reps[id] = r
	}
	cfg := testConfig(id, r.host.Incarnation+1)
	cfg.WallClockAtStart = 1_767_225_600_000
	if c.mutate != nil {
		c.mutate(&cfg)
	}
	if c.cacheBytes >= 0 {
		cfg.Cache = NewCache(c.cacheBytes)
	}
	cfg.RetentionCheckInterval = 500 * sm.Millisecond
	var m *sm.LogManifest
	if dm, ok := r.disk.Durable().Manifests[testTP]; ok {
		m = &dm
	}
	p, err := New(cfg, c.settings, m, &host.IDs{})
	if err != nil {
		c.t.Fatalf("new %v: %v", id, err)
	}
	r.p, r.hw, r.hwEpoch = p, 0, 0
	r.startPE = c.st.PartitionEpoch
	r.host.Start(&testkit.Component{C: p, Self: id, Controller: ctrlID, Receive: receive(p)})
}

// receive routes a message to the replica's handler, as a broker does.
func receive(p *Partition) func(now sm.Time, from sm.NodeID, m sm.Message) error {
	return func(now sm.Time, from sm.NodeID, m sm.Message) error {
		switch m := m.(type) {
		case sm.ProduceRequest:
			p.OnProduce(now, from, m)
		case sm.FetchRequest:
			p.OnFetch(now, from, m)
		case sm.ListOffsetsRequest:
			p.OnListOffsets(now, from, m)
		case sm.ReplicaFetchRequest:
			p.OnReplicaFetch(now, from, m)
		case sm.ReplicaFetchResponse:
			p.OnReplicaFetchResponse(now, from, m)
		case sm.AlterISRResponse:
			p.OnAlterISRResponse(now, m)
		default:
			return fmt.Errorf("partition harness: unexpected %T", m)
		}
		return nil
	}
}

// check runs after every step of r: the process must not have stopped, and
// a leader's high watermark never goes back within an epoch.
func (c *cluster) check(r *replica) {
	if why := r.host.Stopped(); why != "" && !c.mayStop {
		c.t.Fatalf("%v stopped: %s", r.id, why)
	}
	if s := r.p.Status(); s.Role == RoleLeader {
		if s.LeaderEpoch == r.hwEpoch && s.HW < r.hw {
			c.t.Fatalf("%v: leader high watermark went back from %d to %d in epoch %d", r.id, r.hw, s.HW, s.LeaderEpoch)
		}
		r.hw, r.hwEpoch = s.HW, s.LeaderEpoch
	}
}

// applyState hands id a partition state, as its broker does on metadata.
func (c *cluster) applyState(id sm.NodeID, st sm.PartitionState, canLead bool) {
	r := c.reps[id]
	r.host.Call(func(now sm.Time) { r.p.ApplyState(now, st, c.minISR, canLead) })
}

func (c *cluster) metadata(id sm.NodeID) { c.applyState(id, c.st, true) }

func (c *cluster) metadataAll() {
	for _, id := range c.ids {
		c.metadata(id)
	}
}

// elect makes id the leader of a new epoch (a clean election) and tells
// everyone.
func (c *cluster) elect(id sm.NodeID) {
	c.st.Leader = id
	c.st.LeaderEpoch++
	c.st.PartitionEpoch++
	c.st.ISR = slices.Clone(c.st.ISR)
	c.metadataAll()
}

func (c *cluster) produce(to sm.NodeID, acks sm.Acks, values ...string) uint64 {
	c.reqSeq++
	recs := make([]sm.Record, len(values))
	for i, v := range values {
		recs[i] = sm.Record{Value: []byte(v)}
	}
	c.reps[to].host.Deliver(sm.Envelope{From: producerID, To: to, Msg: sm.ProduceRequest{ReqID: c.reqSeq, TP: testTP, Acks: acks, Records: recs}})
	return c.reqSeq
}

// ask delivers m from from to id directly (past the network) and returns
// the messages id sent in answer, taking them off the network.
func (c *cluster) ask(from, id sm.NodeID, m sm.Message) []sm.Envelope {
	n := c.net.Len()
	c.reps[id].host.Deliver(sm.Envelope{From: from, To: id, Msg: m})
	out := slices.Clone(c.net.Queue[n:])
	c.net.Queue = c.net.Queue[:n]
	return out
}

func (c *cluster) consume(from sm.NodeID, off sm.Offset, epoch sm.Epoch) sm.FetchResponse {
	n := c.net.Len()
	c.reps[from].host.Deliver(sm.Envelope{From: consumerID, To: from, Msg: sm.FetchRequest{ReqID: 1, TP: testTP, Offset: off, CurrentLeaderEpoch: epoch}})
	// A fetch outside the cache is answered once its reads complete.
	answered := func() bool {
		return slices.ContainsFunc(c.net.Queue[n:], func(e sm.Envelope) bool { return e.To == consumerID })
	}
	for !answered() && c.reps[from].host.CompleteRead(sm.OutcomeOK, "") {
	}
	out := c.net.Queue[n:]
	out = slices.DeleteFunc(slices.Clone(out), func(e sm.Envelope) bool { return e.To != consumerID })
	c.net.Queue = slices.DeleteFunc(c.net.Queue, func(e sm.Envelope) bool { return e.To == consumerID })
	if len(out) != 1 {
		c.t.Fatalf("consume: %d messages", len(out))
	}
	return out[0].Msg.(sm.FetchResponse)
}

// diskDone completes the oldest pending disk operation of id.
func (c *cluster) diskDone(id sm.NodeID) {
	if !c.reps[id].host.CompleteNext(sm.OutcomeOK, "") {
		c.t.Fatalf("%v: no disk operation pending", id)
	}
}

// deliver hands message i to its destination (dropped when an end is
// isolated).
func (c *cluster) deliver(i int) {
	e := c.net.Take(i)
	if c.isolated[e.From] || c.isolated[e.To] {
		return
	}
	switch m := e.Msg.(type) {
	case sm.ProduceResponse:
		if _, dup := c.replies[m.ReqID]; !dup {
			c.replies[m.ReqID] = m
		}
		return
	case sm.AlterISRRequest:
		c.alterISR(m)
		return
	}
	r := c.reps[e.To]
	if r == nil {
		c.t.Fatalf("deliver: unexpected %T to %v", e.Msg, e.To)
	}
	r.host.Deliver(e)
}

// alterISR is the fake controller: it applies a request for the current
// epochs and answers with the resulting state.
func (c *cluster) alterISR(req sm.AlterISRRequest) {
	code := sm.CodeStaleRequest
	if req.Broker == c.st.Leader && req.LeaderEpoch == c.st.LeaderEpoch && req.PartitionEpoch == c.st.PartitionEpoch {
		c.st.ISR = slices.Clone(req.ISR)
		c.st.PartitionEpoch++
		code = sm.CodeOK
	}
	st := c.st
	st.ISR, st.Replicas = slices.Clone(st.ISR), slices.Clone(st.Replicas)
	c.net.Send([]sm.Envelope{{From: ctrlID, To: req.Broker, Msg: sm.AlterISRResponse{ReqID: req.ReqID, TP: testTP, Code: code, State: st}}})
}

// fire delivers TimerFired to every replica whose timer is due.
func (c *cluster) fire() {
	for _, id := range c.ids {
		c.reps[id].host.Fire()
	}
}

func (c *cluster) advance(d sm.Duration) {
	c.clock.Advance(d)
	c.fire()
}

// stabilize completes every disk op and delivers every message (FIFO) until
// nothing is left, without moving time.
func (c *cluster) stabilize() {
	for range 100000 {
		progressed := false
		for _, id := range c.ids {
			for len(c.reps[id].disk.Pending()) > 0 {
				c.diskDone(id)
				progressed = true
			}
			for c.reps[id].host.CompleteRead(sm.OutcomeOK, "") {
				progressed = true
			}
		}
		for c.net.Len() > 0 {
			c.deliver(0)
			progressed = true
		}
		if !progressed {
			return
		}
	}
	c.t.Fatalf("stabilize: no quiescence")
}

// settle stabilizes and lets timers run for d of virtual time.
func (c *cluster) settle(d sm.Duration) {
	end := c.now().Add(d)
	for c.now() < end {
		c.stabilize()
		next := end
		for _, id := range c.ids {
			if at := c.reps[id].host.Env.TimerAt(); at != 0 && at < next {
				next = at
			}
		}
		c.clock.Set(max(c.now(), next))
		c.fire()
	}
	c.stabilize()
}

// crash restarts id from its disk: pending operations are lost, except that
// tear bytes of the first pending append may have reached the file.
// Messages in flight to the old process die with its connections (the
// transport contract: a response never reaches a later incarnation).
func (c *cluster) crash(id sm.NodeID, tear int) {
	c.net.DropFunc(testkit.To(id))
	c.reps[id].host.Crash(tear)
	c.start(id)
}

func (c *cluster) reply(t tb, id uint64) sm.ProduceResponse {
	resp, ok := c.replies[id]
	if !ok {
		t.Fatalf("no reply to produce %d", id)
	}
	return resp
}

func (c *cluster) status(id sm.NodeID) Status { return c.reps[id].p.Status() }

// batches is a replica's log: what its disk holds (completed operations),
// then the batches it appended beyond, still in its cache.
func (r *replica) batches() []sm.Batch {
	bs, _, _ := sm.DecodeLog(r.disk.Log(testTP))
	end := sm.Offset(0)
	if n := len(bs); n > 0 {
		end = bs[n-1].NextOffset()
	}
	for _, b := range r.p.Cached() {
		if b.BaseOffset >= end {
			bs = append(bs, b)
		}
	}
	return bs
}

// values renders a replica's log as "offset:epoch:value" strings.
func values(r *replica) []string {
	var out []string
	for _, b := range r.batches() {
		for i, r := range b.Records {
			out = append(out, fmt.Sprintf("%d:%d:%s", b.BaseOffset+sm.Offset(i), b.Epoch, r.Value))
		}
	}
	return out
}

func countMsgs[M sm.Message](c *cluster, to sm.NodeID) int {
	n := 0
	for _, e := range c.net.Queue {
		if _, ok := e.Msg.(M); ok && e.To == to {
			n++
		}
	}
	return n
}

var _ tb = (*testing.T)(nil)
