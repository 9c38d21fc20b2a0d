package metrics

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weirmq/weir/sm"
)

// Direction label values.
const (
	dirIn  = 0
	dirOut = 1
)

var dirNames = [2]string{"in", "out"}

// typeUnknown labels a message whose Kind names no message type (a bug).
const typeUnknown = "unknown"

// codesCached is how many reply codes get a pre-resolved histogram child;
// larger codes (none today) resolve per call.
const codesCached = 64

// responseOf maps the request kinds timed from arrival to response — client
// requests whose ReqID one response to the same peer echoes — to that
// response's kind.
var responseOf = [256]sm.MsgKind{
	sm.KindProduceRequest:     sm.KindProduceResponse,
	sm.KindFetchRequest:       sm.KindFetchResponse,
	sm.KindMetadataRequest:    sm.KindMetadataResponse,
	sm.KindCreateTopicRequest: sm.KindCreateTopicResponse,
	sm.KindDeleteTopicRequest: sm.KindDeleteTopicResponse,
}

// requestOf is responseOf reversed, for the latency label; slotOf numbers
// the response kinds densely for the observer cache.
var requestOf, slotOf = func() (req [256]sm.MsgKind, slot [256]uint8) {
	n := uint8(0)
	for q, resp := range responseOf {
		if resp != 0 {
			req[resp] = sm.MsgKind(q)
			slot[resp] = n
			n++
		}
	}
	return req, slot
}()

// trackedTypes is how many request kinds the tracker times.
const trackedTypes = 5

type wireMetrics struct {
	// messages[dir][kind]; index 0 holds "unknown".
	messages [2][256]prometheus.Counter

	produceRecords, produceBytes prometheus.Counter
	fetchRecords, fetchBytes     prometheus.Counter
	replicaBytes                 [2]prometheus.Counter

	latency *prometheus.HistogramVec
	// obs[slotOf[response kind]][code] caches latency children.
	obs       [trackedTypes][codesCached]atomic.Pointer[prometheus.Observer]
	evicted   prometheus.Counter
	unmatched prometheus.Counter

	pending *pending
	since   func() int64
}

func newWireMetrics(reg prometheus.Registerer, pendingMax int, since func() int64) *wireMetrics {
	m := &wireMetrics{since: since, pending: newPending(pendingMax)}
	msgs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "wire_messages_total",
		Help: "Messages by wire type: in = delivered by the transport to the node, out = handed by the node to the transport (drops are counted in weir_transport_dropped_messages_total). Shows the request mix and replication and heartbeat chatter.",
	}, []string{"direction", "type"})
	for d := range dirNames {
		m.messages[d][0] = msgs.WithLabelValues(dirNames[d], typeUnknown)
		for _, k := range sm.MsgKinds() {
			m.messages[d][k] = msgs.WithLabelValues(dirNames[d], k.String())
		}
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help})
	}
	m.produceRecords = counter("produce_records_total", "Records in produce requests received from clients, accepted or not: the offered write load.")
	m.produceBytes = counter("produce_bytes_total", "Record bytes (keys plus values) in produce requests received from clients, accepted or not: the offered write load.")
	m.fetchRecords = counter("fetch_records_total", "Records in fetch responses sent to consumers: the read load served.")
	m.fetchBytes = counter("fetch_bytes_total", "Record bytes (keys plus values) in fetch responses sent to consumers: the read load served.")
	replica := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "replica_fetch_bytes_total",
		Help: "Record bytes in replica fetch responses: out = served to followers as leader, in = received from leaders as follower. Replication traffic, RF-1 times the produce volume when healthy.",
	}, []string{"direction"})
	for d := range dirNames {
		m.replicaBytes[d] = replica.WithLabelValues(dirNames[d])
	}
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "request_duration_seconds",
		Help:    "Time from a client request's arrival at this node (transport delivery) to its response leaving the node, by request type and reply code: the server's share of client latency, acks included for produces.",
		Buckets: requestBuckets,
	}, []string{"type", "code"})
	m.evicted = counter("request_tracker_evictions_total", "Client requests the latency tracker forgot unanswered because more than its bound were pending; nonzero means requests go unanswered (or the bound is too small) and their latency is missing.")
	m.unmatched = counter("request_unmatched_responses_total", "Responses to client requests that matched no tracked request: evicted, duplicated, or the request bypassed ObserveInbound.")
	pendingGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "requests_pending",
		Help: "Client requests received and not yet answered; a steady rise means the node is not answering (e.g. acks that cannot be met).",
	}, func() float64 { return float64(m.pending.len()) })
	reg.MustRegister(msgs, m.produceRecords, m.produceBytes, m.fetchRecords, m.fetchBytes, replica, m.latency, m.evicted, m.unmatched, pendingGauge)
	return m
}

// ObserveInbound records a message the transport delivered to this node
// from a peer; call it from the transport's Deliver callback. It counts the
// message by wire type, adds produce volume, and starts the latency clock of
// a client request (produce, fetch, metadata, create and delete topic).
func (r *Registry) ObserveInbound(from sm.NodeID, m sm.Message) {
	w := r.wire
	t := m.Kind()
	if !t.Valid() {
		w.messages[dirIn][0].Inc()
		return
	}
	w.messages[dirIn][t].Inc()
	var id uint64
	switch v := m.(type) {
	case sm.ProduceRequest:
		id = v.ReqID
		w.produceRecords.Add(float64(len(v.Records)))
		w.produceBytes.Add(float64(recordBytes(v.Records)))
	case sm.FetchRequest:
		id = v.ReqID
	case sm.MetadataRequest:
		id = v.ReqID
	case sm.CreateTopicRequest:
		id = v.ReqID
	case sm.DeleteTopicRequest:
		id = v.ReqID
	case sm.ReplicaFetchResponse:
		w.replicaBytes[dirIn].Add(float64(batchBytes(v.Batches)))
		return
	default:
		return
	}
	if w.pending.add(pendingKey{peer: from, typ: responseOf[t], req: id}, w.since()) {
		w.evicted.Inc()
	}
}

// ObserveOutbound records a message this node sends to a peer; call it
// where the loop's envelopes go to the transport (see ObserveSend). It
// counts the message by wire type, adds fetch volume, and observes the
// latency of the client request a response answers.
func (r *Registry) ObserveOutbound(to sm.NodeID, m sm.Message) {
	w := r.wire
	t := m.Kind()
	if !t.Valid() {
		w.messages[dirOut][0].Inc()
		return
	}
	w.messages[dirOut][t].Inc()
	var id uint64
	var code sm.Code
	switch v := m.(type) {
	case sm.ProduceResponse:
		id, code = v.ReqID, v.Code
	case sm.FetchResponse:
		id, code = v.ReqID, v.Code
		var recs int
		for i := range v.Batches {
			recs += len(v.Batches[i].Records)
		}
		w.fetchRecords.Add(float64(recs))
		w.fetchBytes.Add(float64(batchBytes(v.Batches)))
	case sm.MetadataResponse:
		id, code = v.ReqID, v.Code
	case sm.CreateTopicResponse:
		id, code = v.ReqID, v.Code
	case sm.DeleteTopicResponse:
		id, code = v.ReqID, v.Code
	case sm.ReplicaFetchResponse:
		w.replicaBytes[dirOut].Add(float64(batchBytes(v.Batches)))
		return
	default:
		return
	}
	start, ok := w.pending.take(pendingKey{peer: to, typ: t, req: id})
	if !ok {
		w.unmatched.Inc()
		return
	}
	w.observer(t, code).Observe(float64(w.since()-start) / 1e9)
}

// ObserveSend calls ObserveOutbound for each envelope: put it in front of
// the transport's Send.
func (r *Registry) ObserveSend(msgs []sm.Envelope) {
	for i := range msgs {
		r.ObserveOutbound(msgs[i].To, msgs[i].Msg)
	}
}

// observer returns the latency child for a response kind and code, labelled
// with the request's kind name.
func (w *wireMetrics) observer(resp sm.MsgKind, code sm.Code) prometheus.Observer {
	if int(code) >= codesCached {
		return w.latency.WithLabelValues(requestOf[resp].String(), code.String())
	}
	slot := &w.obs[slotOf[resp]][code]
	if o := slot.Load(); o != nil {
		return *o
	}
	o := w.latency.WithLabelValues(requestOf[resp].String(), code.String())
	slot.Store(&o)
	return o
}

func recordBytes(rs []sm.Record) int {
	n := 0
	for i := range rs {
		n += len(rs[i].Key) + len(rs[i].Value)
	}
	return n
}

func batchBytes(bs []sm.Batch) int {
	n := 0
	for i := range bs {
		if bs[i].Records == nil {
			n += len(bs[i].Block) // compressed: the bytes as they travel
			continue
		}
		n += recordBytes(bs[i].Records)
	}
	return n
}

// pendingKey names one outstanding client request by who sent it, the
// response kind that answers it and its ReqID.
type pendingKey struct {
	peer sm.NodeID
	req  uint64
	typ  sm.MsgKind
}

type pendingEntry struct {
	start int64
	seq   uint64
}

type queued struct {
	key pendingKey
	seq uint64
}

// pending maps outstanding requests to their arrival time, bounded: past max
// entries the oldest is dropped. A FIFO of arrivals finds the oldest in
// amortized O(1) without allocating per request; answered requests leave
// stale FIFO slots behind, swept once they outnumber the live ones (so each
// slot is swept at most once and the FIFO stays within 2*max+64).
type pending struct {
	mu    sync.Mutex
	max   int
	m     map[pendingKey]pendingEntry
	fifo  []queued // arrivals in order; entries answered since are stale
	seq   uint64
	count atomic.Int64
}

func newPending(max int) *pending {
	return &pending{max: max, m: make(map[pendingKey]pendingEntry)}
}

func (p *pending) len() int { return int(p.count.Load()) }

// live reports whether a FIFO slot still names a pending request.
func (p *pending) live(q queued) bool {
	e, ok := p.m[q.key]
	return ok && e.seq == q.seq
}

// add remembers a request's arrival; a duplicate keeps the first arrival.
// It reports whether an older request was evicted to make room.
func (p *pending) add(k pendingKey, now int64) (evicted bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, dup := p.m[k]; dup {
		return false
	}
	p.seq++
	p.m[k] = pendingEntry{start: now, seq: p.seq}
	p.fifo = append(p.fifo, queued{key: k, seq: p.seq})
	// Drop the oldest live entry (and the stale slots ahead of it).
	for len(p.m) > p.max {
		q := p.fifo[0]
		p.fifo[0] = queued{}
		p.fifo = p.fifo[1:]
		if p.live(q) {
			delete(p.m, q.key)
			evicted = true
		}
	}
	if len(p.fifo) > 2*len(p.m)+64 {
		live := p.fifo[:0]
		for _, q := range p.fifo {
			if p.live(q) {
				live = append(live, q)
			}
		}
		clear(p.fifo[len(live):])
		p.fifo = live
	}
	p.count.Store(int64(len(p.m)))
	return evicted
}

// take forgets a request and returns its arrival time.
func (p *pending) take(k pendingKey) (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.m[k]
	if !ok {
		return 0, false
	}
	delete(p.m, k)
	p.count.Store(int64(len(p.m)))
	return e.start, true
}
