package partition

import (
	"fmt"
	"slices"
	"testing"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/host"
)

// The harness is a tiny world for one partition: replicas with in-memory
// disks that complete operations only when told, a network of envelopes the
// test delivers, drops or duplicates one by one, and a fake controller that
// owns the partition state and answers AlterISR. Unit tests drive it by
// hand; the property test drives it from rapid.

// tb is what both *testing.T and *rapid.T offer.
type tb interface {
	Fatalf(format string, args ...any)
}

const ctrlID sm.NodeID = 1

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

// testDisk is a replica's disk: file holds completed operations' bytes
// (every op syncs), pending the issued ones in order.
type testDisk struct {
	file    []byte
	pending []sm.LogOp
	history []sm.LogOp
}

func (d *testDisk) complete(t tb) sm.LogOp {
	op := d.pending[0]
	d.pending = d.pending[1:]
	d.file = applyOp(t, d.file, op)
	return op
}

// applyOp executes one disk operation on file bytes the way a log store
// must: a truncation cuts at the first frame at or after the offset, or at
// the first frame it cannot decode (a torn tail).
func applyOp(t tb, file []byte, op sm.LogOp) []byte {
	switch op.Kind {
	case sm.LogAppend:
		return append(slices.Clip(file), op.Data...)
	case sm.LogTruncate:
		pos := 0
		for pos < len(file) {
			b, n, err := sm.DecodeBatch(file[pos:])
			if err != nil || b.BaseOffset >= op.Offset {
				break
			}
			pos += n
		}
		return slices.Clip(file[:pos])
	case sm.LogDelete:
		return nil
	}
	t.Fatalf("unexpected disk op %v", op.Kind)
	return nil
}

type replica struct {
	id   sm.NodeID
	inc  uint64
	p    *Partition
	disk testDisk
	// hw is the highest high watermark seen while leading at epoch hwEpoch.
	hw      sm.Offset
	hwEpoch sm.Epoch
	// startPE is the controller's partition epoch when this incarnation
	// started: a broker leads only on metadata showing its incarnation
	// registered, which is never older than that.
	startPE int64
}

type cluster struct {
	t        tb
	now      sm.Time
	ids      []sm.NodeID
	reps     map[sm.NodeID]*replica
	net      []sm.Envelope
	isolated map[sm.NodeID]bool
	st       sm.PartitionState
	minISR   int32
	replies  map[uint64]sm.ProduceResponse
	reqSeq   uint64
	// mutate, when set, adjusts each replica's Config before New.
	mutate func(*Config)
}

// newCluster starts n replicas 101.. with 101 leading epoch 1, everyone in
// the ISR, and delivers the state to everyone.
func newCluster(t tb, n int, minISR int32) *cluster {
	c := &cluster{t: t, now: sm.Time(sm.Second), reps: map[sm.NodeID]*replica{}, isolated: map[sm.NodeID]bool{}, minISR: minISR, replies: map[uint64]sm.ProduceResponse{}}
	for i := range n {
		c.ids = append(c.ids, sm.NodeID(101+i))
	}
	c.st = sm.PartitionState{TP: testTP, Replicas: slices.Clone(c.ids), Leader: c.ids[0], LeaderEpoch: 1, ISR: slices.Clone(c.ids), PartitionEpoch: 1}
	for _, id := range c.ids {
		c.start(id, nil)
	}
	c.metadataAll()
	return c
}

func (c *cluster) start(id sm.NodeID, file []byte) {
	r := c.reps[id]
	if r == nil {
		r = &replica{id: id}
		c.reps[id] = r
	}
	r.inc++
	cfg := testConfig(id, r.inc)
	if c.mutate != nil {
		c.mutate(&cfg)
	}
	p, err := New(cfg, file, &host.IDs{})
	if err != nil {
		c.t.Fatalf("new %v: %v", id, err)
	}
	r.p, r.disk.file, r.disk.pending, r.hw, r.hwEpoch = p, file, nil, 0, 0
	r.startPE = c.st.PartitionEpoch
	c.collect(r)
}

// collect drains a replica's output into the world and checks it.
func (c *cluster) collect(r *replica) {
	out := r.p.TakeOutput()
	r.disk.pending = append(r.disk.pending, out.Log...)
	r.disk.history = append(r.disk.history, out.Log...)
	c.net = append(c.net, out.Messages...)
	for _, a := range out.ToController {
		c.net = append(c.net, sm.Envelope{From: r.id, To: ctrlID, Msg: a})
	}
	if err := r.p.CheckInvariants(); err != nil {
		c.t.Fatalf("%v: %v", r.id, err)
	}
	if s := r.p.Status(); s.Role == RoleLeader {
		if s.LeaderEpoch == r.hwEpoch && s.HW < r.hw {
			c.t.Fatalf("%v: leader high watermark went back from %d to %d in epoch %d", r.id, r.hw, s.HW, s.LeaderEpoch)
		}
		r.hw, r.hwEpoch = s.HW, s.LeaderEpoch
	}
}

func (c *cluster) metadata(id sm.NodeID) {
	r := c.reps[id]
	r.p.ApplyState(c.now, c.st, c.minISR, true)
	c.collect(r)
}

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
	r := c.reps[to]
	r.p.OnProduce(c.now, 1000, sm.ProduceRequest{ReqID: c.reqSeq, TP: testTP, Acks: acks, Records: recs})
	c.collect(r)
	return c.reqSeq
}

func (c *cluster) consume(from sm.NodeID, off sm.Offset, epoch sm.Epoch) sm.FetchResponse {
	r := c.reps[from]
	r.p.OnFetch(c.now, 2000, sm.FetchRequest{ReqID: 1, TP: testTP, Offset: off, CurrentLeaderEpoch: epoch})
	out := r.p.TakeOutput()
	if len(out.Messages) != 1 {
		c.t.Fatalf("consume: %d messages", len(out.Messages))
	}
	return out.Messages[0].Msg.(sm.FetchResponse)
}

// diskDone completes the oldest pending disk operation of id.
func (c *cluster) diskDone(id sm.NodeID) {
	r := c.reps[id]
	op := r.disk.complete(c.t)
	if err := r.p.OnLogDone(c.now, sm.LogDone{ID: op.ID}); err != nil {
		c.t.Fatalf("%v: %v", id, err)
	}
	c.collect(r)
}

// deliver hands message i to its destination (dropped when an end is
// isolated).
func (c *cluster) deliver(i int) {
	e := c.net[i]
	c.net = slices.Delete(c.net, i, i+1)
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
	switch m := e.Msg.(type) {
	case sm.ReplicaFetchRequest:
		r.p.OnReplicaFetch(c.now, e.From, m)
	case sm.ReplicaFetchResponse:
		r.p.OnReplicaFetchResponse(c.now, e.From, m)
	case sm.AlterISRResponse:
		r.p.OnAlterISRResponse(c.now, m)
	default:
		c.t.Fatalf("deliver: unexpected %T", e.Msg)
	}
	c.collect(r)
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
	c.net = append(c.net, sm.Envelope{From: ctrlID, To: req.Broker, Msg: sm.AlterISRResponse{ReqID: req.ReqID, TP: testTP, Code: code, State: st}})
}

// fire delivers OnTimer to every replica whose timer is due.
func (c *cluster) fire() {
	for _, id := range c.ids {
		r := c.reps[id]
		if at := r.p.TimerAt(); at != 0 && at <= c.now {
			r.p.OnTimer(c.now)
			c.collect(r)
		}
	}
}

func (c *cluster) advance(d sm.Duration) {
	c.now = c.now.Add(d)
	c.fire()
}

// stabilize completes every disk op and delivers every message (FIFO) until
// nothing is left, without moving time.
func (c *cluster) stabilize() {
	for range 100000 {
		progressed := false
		for _, id := range c.ids {
			for len(c.reps[id].disk.pending) > 0 {
				c.diskDone(id)
				progressed = true
			}
		}
		for len(c.net) > 0 {
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
	end := c.now.Add(d)
	for c.now < end {
		c.stabilize()
		next := end
		for _, id := range c.ids {
			if at := c.reps[id].p.TimerAt(); at != 0 && at < next {
				next = at
			}
		}
		c.now = max(c.now, next)
		c.fire()
	}
	c.stabilize()
}

// crash restarts id from its disk: pending operations are lost, except that
// tear bytes of the first pending append may have reached the file.
// Messages in flight to the old process die with its connections (the
// transport contract: a response never reaches a later incarnation).
func (c *cluster) crash(id sm.NodeID, tear int) {
	c.net = slices.DeleteFunc(c.net, func(e sm.Envelope) bool { return e.To == id })
	r := c.reps[id]
	file := r.disk.file
	if len(r.disk.pending) > 0 && r.disk.pending[0].Kind == sm.LogAppend && tear > 0 {
		data := r.disk.pending[0].Data
		file = append(slices.Clip(file), data[:min(tear, len(data)-1)]...)
	}
	c.start(id, file)
}

func (c *cluster) reply(t tb, id uint64) sm.ProduceResponse {
	resp, ok := c.replies[id]
	if !ok {
		t.Fatalf("no reply to produce %d", id)
	}
	return resp
}

func (c *cluster) status(id sm.NodeID) Status { return c.reps[id].p.Status() }

// values renders a replica's log as "offset:epoch:value" strings.
func values(p *Partition) []string {
	var out []string
	for _, b := range p.Log() {
		for i, r := range b.Records {
			out = append(out, fmt.Sprintf("%d:%d:%s", b.BaseOffset+sm.Offset(i), b.Epoch, r.Value))
		}
	}
	return out
}

func countMsgs[M sm.Message](c *cluster, to sm.NodeID) int {
	n := 0
	for _, e := range c.net {
		if _, ok := e.Msg.(M); ok && e.To == to {
			n++
		}
	}
	return n
}

var _ tb = (*testing.T)(nil)
