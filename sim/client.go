package sim

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/weirmq/weir/io/codec"
	"github.com/weirmq/weir/linearizability"
	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/metacache"
)

// client is a simulated application: it learns metadata from the controllers,
// produces, fetches and manages topics, one request at a time, and records
// every operation with its virtual invoke and return times.
type client struct {
	w   *World
	id  sm.NodeID
	rng *rng

	controller sm.NodeID // current guess of the controller leader
	meta       metacache.Cache
	// leaders overrides meta's leader of a partition after a reply named
	// another (a hint) or none, until the next metadata answer.
	leaders map[sm.TopicPartition]sm.NodeID
	epochs  map[sm.TopicPartition]sm.Epoch // highest leader epoch seen

	reqID    uint64
	inflight *pending
	values   int
	stopped  bool
	// script, when set, replaces random choices (scenario files).
	script []action
	onIdle func()
	// retry is the scripted action in flight: a retriable failure (the
	// request certainly did nothing) puts it back at the front.
	retry *action
	// probes holds the answers to scripted cluster-status requests (nil
	// until answered), by request ID.
	probes map[uint64]*sm.ClusterStatusResponse
}

// pending is the one outstanding request.
type pending struct {
	reqID    uint64
	op       linearizability.Op
	tp       sm.TopicPartition // of a produce or fetch
	kind     linearizability.Kind
	to       sm.NodeID
	deadline sm.Time
	meta     bool // a metadata refresh, not recorded in the history
	acks     sm.Acks
	// status marks a cluster-status request (not recorded in the history);
	// a linearizable (not stale) answer must have applied commitAtInvoke.
	status         bool
	stale          bool
	commitAtInvoke uint64
}

// action is one scripted client step.
type action struct {
	kind    linearizability.Kind
	tp      sm.TopicPartition
	acks    sm.Acks
	n       int // records per produce
	offset  sm.Offset
	final   bool
	topic   sm.TopicInfo
	onReply func(op linearizability.Op)
	// status asks the controller for the cluster status (stale or not)
	// instead of kind's operation.
	status, stale bool
}

func newClient(w *World, id sm.NodeID) *client {
	return &client{
		w: w, id: id, rng: w.workRNG.child(clientStream(id)),
		controller: w.controllerIDs()[0],
		leaders:    map[sm.TopicPartition]sm.NodeID{},
		epochs:     map[sm.TopicPartition]sm.Epoch{},
		probes:     map[uint64]*sm.ClusterStatusResponse{},
	}
}

// clientStream names a client's random stream. The names are the clients'
// numbers from before node IDs moved to the sm ranges (workload clients
// 1001.., the harness 9999), so each seed still draws the same workload and
// the recorded scenarios replay the same runs. (A world with 8,999 or more
// workload clients would give its last one the harness's stream.)
func clientStream(id sm.NodeID) string {
	n := uint64(id-firstClientID) + 1001
	if id.IsAdmin() {
		n = 9999
	}
	return "client" + strconv.FormatUint(n, 10)
}

func (c *client) send(to sm.NodeID, msg sm.Message) {
	c.w.net.send(sm.Envelope{From: c.id, To: to, Msg: msg})
}

// refreshMetadata asks the current controller guess for the changes since
// the version the client holds, as the SDK does, so simulated clients run
// the delta path (deletions, re-creations) and not only Full answers. An
// answer with nothing new still clears the leaders replies named, so the
// client falls back to what metadata says.
func (c *client) refreshMetadata() {
	c.reqID++
	c.inflight = &pending{reqID: c.reqID, to: c.controller, meta: true, deadline: c.w.now.Add(c.w.cfg.ClientTimeout)}
	c.send(c.controller, sm.MetadataRequest{ReqID: c.reqID, SinceVersion: c.meta.Version()})
	c.armDeadline()
}

func (c *client) armDeadline() {
	p := c.inflight
	c.w.at(p.deadline, func() {
		if c.inflight == p {
			c.timeout()
		}
	})
}

// timeout gives up on the outstanding request: its outcome is unknown.
func (c *client) timeout() {
	c.abandon("NO_REPLY")
	c.next(c.thinkTime())
}

// abandon gives up on the outstanding request without an answer (err
// says why): its outcome is unknown.
func (c *client) abandon(err string) {
	p := c.inflight
	c.inflight = nil
	c.retry = nil // no reply: the outcome is unknown, so never retried
	if p.meta || p.status {
		c.rotateController()
	} else {
		p.op.Err = err
		c.finish(p, linearizability.Unknown)
		if p.kind == linearizability.Produce || p.kind == linearizability.Fetch {
			c.leaders[p.tp] = sm.NoNode // ask metadata before trying it again
		}
	}
}

// refused handles the refusal of request reqID at the handshake (its
// certificate is revoked there): it certainly did nothing. The client
// tries again after a reconnect backoff.
func (c *client) refused(reqID uint64) {
	p := c.inflight
	if p == nil || p.reqID != reqID {
		return
	}
	c.inflight = nil
	c.retry = nil
	if p.meta || p.status {
		c.rotateController()
	} else {
		p.op.Err = "HANDSHAKE_REFUSED"
		c.finish(p, linearizability.Failed)
	}
	c.next(reconnectBackoff)
}

func (c *client) rotateController() {
	ids := c.w.controllerIDs()
	i := slices.Index(ids, c.controller)
	c.controller = ids[(i+1)%len(ids)]
}

// leader is where the client sends tp's requests: what the last reply said,
// else what metadata says; sm.NoNode when it knows of none.
func (c *client) leader(tp sm.TopicPartition) sm.NodeID {
	if l, ok := c.leaders[tp]; ok {
		return l
	}
	l, _ := c.meta.Leader(tp)
	return l
}

func (c *client) thinkTime() sm.Duration {
	return sm.Duration(c.rng.between(int64(c.w.cfg.ThinkMin), int64(c.w.cfg.ThinkMax)))
}

// next schedules the client's next step.
func (c *client) next(d sm.Duration) {
	c.w.after(d, func() { c.step() })
}

// step issues the next request, unless one is outstanding.
func (c *client) step() {
	if c.inflight != nil {
		return
	}
	if c.stopped && len(c.script) == 0 {
		if c.onIdle != nil {
			c.onIdle()
		}
		return
	}
	var a action
	c.retry = nil
	if len(c.script) > 0 {
		a = c.script[0]
	} else {
		a = c.randomAction()
	}
	if a.status {
		c.requestStatus(a.stale)
		return
	}
	if !c.issue(a) {
		c.refreshMetadata()
		return
	}
	if len(c.script) > 0 {
		c.script = c.script[1:]
		c.retry = &a
	}
}

func (c *client) randomAction() action {
	w := c.w
	tps := w.workloadTPs()
	tp := tps[c.rng.intn(len(tps))]
	switch r := c.rng.float(); {
	case r < w.cfg.ProduceRatio:
		if c.rng.chance(0.1) {
			// Now and then write to a topic the admin workload creates and
			// deletes, so deletions race appends in flight (a completion
			// for a replica the broker no longer hosts).
			if ps := c.meta.Partitions("adm" + strconv.Itoa(c.rng.intn(3))); len(ps) > 0 {
				tp = ps[c.rng.intn(len(ps))].TP
			}
		}
		return action{kind: linearizability.Produce, tp: tp, acks: w.cfg.Acks[c.rng.intn(len(w.cfg.Acks))], n: 1 + c.rng.intn(3)}
	case r < w.cfg.ProduceRatio+w.cfg.AdminRatio:
		name := "adm" + strconv.Itoa(c.rng.intn(3))
		if c.rng.chance(0.5) {
			return action{kind: linearizability.CreateTopic, topic: sm.TopicInfo{Name: name, Partitions: int32(1 + c.rng.intn(3)), ReplicationFactor: int32(1 + c.rng.intn(3))}}
		}
		return action{kind: linearizability.DeleteTopic, topic: sm.TopicInfo{Name: name}}
	case r < w.cfg.ProduceRatio+w.cfg.AdminRatio+w.cfg.StatusRatio:
		return action{status: true, stale: c.rng.chance(1.0 / 3)}
	default:
		hw := c.w.knownHW[tp]
		return action{kind: linearizability.Fetch, tp: tp, offset: sm.Offset(c.rng.between(0, int64(hw)))}
	}
}

// issue sends a's request; false means the client must learn metadata first.
func (c *client) issue(a action) bool {
	w := c.w
	c.reqID++
	p := &pending{reqID: c.reqID, kind: a.kind, deadline: w.now.Add(w.cfg.ClientTimeout), acks: a.acks}
	p.op = linearizability.Op{Client: int(c.id), Kind: a.kind, Call: int64(w.now)}
	switch a.kind {
	case linearizability.Produce, linearizability.Fetch:
		p.to = c.leader(a.tp)
		if p.to == sm.NoNode {
			return false
		}
		p.tp, p.op.TP = a.tp, a.tp.String()
		if a.kind == linearizability.Produce {
			recs := make([]sm.Record, a.n)
			for i := range recs {
				c.values++
				v := fmt.Sprintf("%v-%d", c.id, c.values)
				recs[i] = sm.Record{Value: []byte(v)}
				p.op.Values = append(p.op.Values, v)
			}
			ti, _ := c.meta.Topic(a.tp.Topic)
			// Promised: records that wait for a commit, on a topic without
			// unclean election whose min ISR is above the disks the run may
			// lose (a committed record is on that many eligible copies).
			p.op.Durable = a.acks.Durable() && !ti.Config.UncleanLeaderElection &&
				int(max(ti.Config.MinInSyncReplicas, 1)) > c.w.durabilityBudget()
			req := sm.ProduceRequest{ReqID: c.reqID, TP: a.tp, Acks: a.acks, Records: recs}
			if w.cfg.Format2 {
				req = formatted(req)
			}
			c.send(p.to, req)
		} else {
			p.op.FetchOffset = int64(a.offset)
			p.op.Final = a.final
			c.send(p.to, sm.FetchRequest{ReqID: c.reqID, TP: a.tp, Offset: a.offset, MaxRecords: 64, CurrentLeaderEpoch: c.epochs[a.tp]})
		}
	case linearizability.CreateTopic:
		p.to = c.controller
		p.op.TP = a.topic.Name
		p.op.Partitions = int(a.topic.Partitions)
		c.send(p.to, sm.CreateTopicRequest{ReqID: c.reqID, Name: a.topic.Name, Partitions: a.topic.Partitions, ReplicationFactor: a.topic.ReplicationFactor, Config: a.topic.Config})
	case linearizability.DeleteTopic:
		p.to = c.controller
		p.op.TP = a.topic.Name
		c.send(p.to, sm.DeleteTopicRequest{ReqID: c.reqID, Name: a.topic.Name})
	}
	c.inflight = p
	if a.onReply != nil {
		c.w.replyHooks[c.id] = a.onReply
	}
	c.armDeadline()
	return true
}

// receive handles a reply. Replies that match no outstanding request (late or
// duplicated) are ignored.
func (c *client) receive(m sm.Envelope) {
	p := c.inflight
	switch r := m.Msg.(type) {
	case sm.MetadataResponse:
		if p == nil || !p.meta || r.ReqID != p.reqID {
			return
		}
		c.inflight = nil
		if r.Code == sm.CodeOK {
			clear(c.leaders) // what metadata says now wins over older replies
			c.meta.Apply(r.Delta)
			c.next(c.w.cfg.RetryBackoff)
			return
		}
		c.retryController(r.LeaderHint)
	case sm.ProduceResponse:
		if p == nil || r.ReqID != p.reqID {
			return
		}
		c.inflight = nil
		p.op.Offset, p.op.Epoch = int64(r.BaseOffset), int64(r.LeaderEpoch)
		c.noteEpoch(r.TP, r.LeaderEpoch)
		c.complete(p, r.Code, r.LeaderHint, r.TP)
	case sm.FetchResponse:
		if p == nil || r.ReqID != p.reqID {
			return
		}
		c.inflight = nil
		// Record exactly what the broker answered, so the checker sees a
		// record at or above the high watermark, or a committed offset
		// refused as out of range.
		if r.Code == sm.CodeOK || r.Code == sm.CodeOffsetOutOfRange {
			p.op.HW, p.op.Epoch, p.op.LogStart = int64(r.HighWatermark), int64(r.LeaderEpoch), int64(r.LogStart)
		}
		if r.Code == sm.CodeOK {
			if c.w.isWorkloadTP(r.TP) {
				c.w.noteStamps(r)
			}
			p.op.Records = flatten(r.Batches, sm.Offset(p.op.FetchOffset))
			c.noteEpoch(r.TP, r.LeaderEpoch)
			if r.HighWatermark > c.w.knownHW[r.TP] {
				c.w.knownHW[r.TP] = r.HighWatermark
			}
		}
		c.complete(p, r.Code, r.LeaderHint, r.TP)
	case sm.CreateTopicResponse:
		if p == nil || r.ReqID != p.reqID {
			return
		}
		c.inflight = nil
		c.completeAdmin(p, r.Code, r.LeaderHint)
	case sm.DeleteTopicResponse:
		if p == nil || r.ReqID != p.reqID {
			return
		}
		c.inflight = nil
		c.completeAdmin(p, r.Code, r.LeaderHint)
	case sm.ClusterStatusResponse:
		c.onStatus(r)
	}
}

// requeue puts the scripted action that just failed back at the front of
// the script when the failure says the request did nothing and may be
// retried (an application would retry it the same way).
func (c *client) requeue(code sm.Code) {
	a := c.retry
	c.retry = nil
	if a != nil && code.Retriable() && a.onReply == nil {
		c.script = append([]action{*a}, c.script...)
	}
}

func (c *client) noteEpoch(tp sm.TopicPartition, e sm.Epoch) {
	if e > c.epochs[tp] {
		c.epochs[tp] = e
	}
}

func (c *client) retryController(hint sm.NodeID) {
	if hint != sm.NoNode {
		c.controller = hint
	} else {
		c.rotateController()
	}
	c.next(c.w.cfg.RetryBackoff)
}

// complete records a produce or fetch outcome.
func (c *client) complete(p *pending, code sm.Code, hint sm.NodeID, tp sm.TopicPartition) {
	c.w.noteDecision(c, p, code)
	if code != sm.CodeOK {
		p.op.Err = code.String()
	}
	switch {
	case code == sm.CodeOK:
		c.finish(p, linearizability.OK)
		c.next(c.thinkTime())
		return
	case code.Unknown():
		c.finish(p, linearizability.Unknown)
	default:
		c.finish(p, linearizability.Failed)
	}
	c.requeue(code)
	if code == sm.CodeNotLeader || code == sm.CodeLeadershipLost || code == sm.CodeFencedLeaderEpoch ||
		code == sm.CodeUnknownLeaderEpoch || code == sm.CodeUnknownTopic {
		c.leaders[tp] = hint
		if code != sm.CodeNotLeader {
			c.leaders[tp] = sm.NoNode
		}
	}
	c.next(c.w.cfg.RetryBackoff)
}

func (c *client) completeAdmin(p *pending, code sm.Code, hint sm.NodeID) {
	switch {
	case code == sm.CodeNotLeader:
		p.op.Err = code.String()
		c.finish(p, linearizability.Failed)
		c.requeue(code)
		c.retryController(hint)
		return
	case code.Unknown():
		p.op.Err = code.String()
		c.finish(p, linearizability.Unknown)
	default:
		if code != sm.CodeOK {
			p.op.Err = code.String()
		}
		c.finish(p, linearizability.OK)
	}
	c.next(c.thinkTime())
}

// finish stamps the return time and appends the op to the history. Fetches
// that failed carry no information and are not recorded.
func (c *client) finish(p *pending, out linearizability.Outcome) {
	w := c.w
	p.op.Return = int64(w.now)
	p.op.Outcome = out
	if hook := w.replyHooks[c.id]; hook != nil {
		delete(w.replyHooks, c.id)
		hook(p.op)
	}
	w.history.Ops = append(w.history.Ops, p.op) // failed fetches too: the checker reads their replies
	w.stats.Ops++
}

// formatted sends every third produce (by request ID, so no random draw
// changes) as records with a header, and every third as an lz4-compressed
// records block: the brokers then store, replicate, upload and serve
// format-2 batches beside format-1 ones.
func formatted(req sm.ProduceRequest) sm.ProduceRequest {
	switch req.ReqID % 3 {
	case 1:
		for i := range req.Records {
			req.Records[i].Headers = []sm.Header{{Key: "sim", Value: []byte{byte(i)}}}
		}
	case 2:
		for i := range req.Records {
			req.Records[i].Headers = []sm.Header{{Key: "sim", Value: []byte{byte(i)}}}
		}
		block, err := codec.Codecs{}.Compress(sm.CodecLZ4, sm.EncodeRecords(nil, req.Records))
		if err != nil {
			panic(fmt.Sprintf("sim: lz4: %v", err)) // a bug in the codec, not an input
		}
		req.Count, req.Codec, req.Block, req.BlockCRC, req.Records = int32(len(req.Records)), sm.CodecLZ4, block, sm.BlockChecksum(block), nil
	}
	return req
}

// decoded is b's records, decompressing a compressed batch; one that does
// not decode reads as none (the checkers then find its records missing).
func decoded(b *sm.Batch) []sm.Record {
	recs, err := b.Decode(codec.Codecs{}, sm.BatchFrameMax)
	if err != nil {
		return nil
	}
	return recs
}

// flatten turns batches into records at or after from and below hw.
func flatten(bs []sm.Batch, from sm.Offset) []linearizability.Rec {
	var out []linearizability.Rec
	for _, b := range bs {
		for i, r := range decoded(&b) {
			off := b.BaseOffset + sm.Offset(i)
			if off < from {
				continue // the first batch may start before the offset asked
			}
			out = append(out, linearizability.Rec{Offset: int64(off), Value: string(r.Value)})
		}
	}
	return out
}
