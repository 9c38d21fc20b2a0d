package sim

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/weirmq/weir/linearizability"
	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/controller"
)

// The idempotent-producer workload (issue 12). Simulated producers —
// clients outside the workload's clients, with their own random streams
// (decisions and network draws) — each ask a broker for a producer ID
// (InitProducerID, retried while the broker waits for the controller),
// then write acks=all batches of unique values to a few of the workload's
// partitions, with up to InflightMax (1-5, drawn per producer) batches
// unacknowledged per partition (counted from the oldest unacknowledged
// one: the leader remembers five). Each partition numbers a producer's
// records from 0 and the next batch's BaseSequence is this one's plus its
// record count. A batch is retried with its own sequence — on a timeout,
// a lost reply, an unknown outcome, not-leader or any refusal that stored
// nothing — until a definite answer or the end of the run: a producer
// never gives up on a batch whose outcome is unknown to send something
// new in its place (that would be a duplicate the application made).
// OUT_OF_ORDER_SEQUENCE_NUMBER holds a batch until an earlier one is
// acknowledged or sent again; UNKNOWN_PRODUCER_ID renumbers the
// partition's unacknowledged batches from 0 once none is in flight
// (unless an acknowledgment came in after the refused request was sent,
// or from a newer leader epoch: then the refusal is stale, and sequence 0
// could match the producer's first batch, which the leader remembers);
// DUPLICATE_SEQUENCE_NUMBER is a success at the answer's BaseOffset.
// When the faults are healed the producers send no new batch and must get
// every outstanding batch of a partition with a durability promise and no
// retention acknowledged within the liveness timeout (idemLiveness): a
// batch whose original retention deleted before its outcome was known
// cannot be (the leader no longer remembers it, and refuses its retry out
// of order).
//
// Each batch is one operation in the history (invoked at its first send,
// returned at its acknowledgment; Unknown when the run ended without one),
// so the claimed-order checker and porcupine judge it as any produce. The
// duplicate checker (checkIdempotent) reads the cluster's committed log of
// every workload partition — every committed offset the cluster
// invariants read from the replicas' disks over the run, so records that
// retention deleted later count too — and requires:
//
//	(a) every value an idempotent producer sent appears at most once —
//	    but for sm/partition's known limit, a retry that outlived
//	    retention: a batch stored again with sequence 0 (renumbered after
//	    UNKNOWN_PRODUCER_ID, or a partition's first) while its earlier
//	    copy lay below the log start (idemBatch.retentionStart); that
//	    copy is renamed in the history for the other checkers;
//	(b) every acknowledged batch (OK, or DUPLICATE_SEQUENCE_NUMBER at its
//	    BaseOffset) on a partition with a durability promise is at the
//	    offsets it was acknowledged at;
//	(c) per producer and partition, values appear in the order they were
//	    produced.

// idemProducerBase is the first producer's node ID: workload clients are
// firstClientID.., far below; group members are at +800,000.
const idemProducerBase = sm.ClientIDMin + 700_000

// IdempotentWorkload configures the idempotent producers (zero Producers:
// none).
type IdempotentWorkload struct {
	// Producers is the number of producers; each writes to at most
	// PartitionsMax of the workload's partitions (drawn per producer).
	Producers, PartitionsMax int
	// RecordsMax bounds the records per batch (1..RecordsMax, drawn per
	// batch).
	RecordsMax int
	// IntervalMin and IntervalMax bound the time between a producer's
	// new batches (drawn per batch).
	IntervalMin, IntervalMax sm.Duration
	// InflightMax bounds the batches a producer keeps unacknowledged per
	// partition: each producer draws 1..InflightMax (0: idemInflightMax).
	InflightMax int
}

// drawIdempotent is Swarm's draw of the idempotent workload, from its own
// stream: on in half the seeds (its producers cost a seed about a fifth
// more wall time).
func drawIdempotent(seed uint64) IdempotentWorkload {
	r := newRNG(seed).child("idem-config")
	if !r.chance(0.5) {
		return IdempotentWorkload{}
	}
	return IdempotentWorkload{
		Producers:     1 + r.intn(2),
		PartitionsMax: 1 + r.intn(4),
		RecordsMax:    1 + r.intn(4),
		IntervalMin:   sm.Duration(r.between(20, 60)) * sm.Millisecond,
		IntervalMax:   sm.Duration(r.between(100, 300)) * sm.Millisecond,
	}
}

// DefaultIdempotentWorkload is an idempotent workload for tests and
// canaries built on DefaultConfig: two producers over every partition.
func DefaultIdempotentWorkload() IdempotentWorkload {
	return IdempotentWorkload{Producers: 2, PartitionsMax: 4, RecordsMax: 3, IntervalMin: 5 * sm.Millisecond, IntervalMax: 60 * sm.Millisecond}
}

func (g *IdempotentWorkload) validate() error {
	switch {
	case g.Producers == 0:
		return nil
	case g.Producers < 0 || g.Producers > 1000:
		return fmt.Errorf("sim: idempotent: producers must be 0..1000 (got %d)", g.Producers)
	case g.PartitionsMax < 1 || g.RecordsMax < 1:
		return fmt.Errorf("sim: idempotent: partitions max and records max must be >= 1 (got %d, %d)", g.PartitionsMax, g.RecordsMax)
	case g.InflightMax < 0 || g.InflightMax > idemInflightMax:
		return fmt.Errorf("sim: idempotent: inflight max must be 0..%d (got %d)", idemInflightMax, g.InflightMax)
	case g.IntervalMin <= 0 || g.IntervalMax < g.IntervalMin:
		return fmt.Errorf("sim: idempotent: interval must be > 0 and min <= max (got %v, %v)", g.IntervalMin, g.IntervalMax)
	}
	return nil
}

// idemInflightMax is the most batches a producer keeps unacknowledged per
// partition: the leader remembers a producer's last five batches, so a
// retry of any of them is recognised.
const idemInflightMax = 5

// idemRun is the world's idempotent workload.
type idemRun struct {
	w  *World
	on bool
	// draining: no new batches (the faults are healed); stopped: nothing
	// is sent any more and answers are ignored.
	draining, stopped bool
	netRNG            *rng // latency and loss of producer traffic
	producers         map[sm.NodeID]*producer
	ids               []sm.NodeID
	// values indexes every value sent by the batch that carries it.
	values  map[string]idemValue
	batches []*idemBatch // every batch sent, in creation order
	// metaLeaders caches the partition leaders of metaCtl's metadata at
	// metaVersion.
	metaCtl     *controller.Node
	metaVersion uint64
	metaLeaders map[sm.TopicPartition]sm.NodeID
	// renamed: the copies renameCopy rewrote, by batch and base.
	renamed map[string]bool
}

type idemValue struct {
	b *idemBatch
	i int // its position in the batch
}

type producer struct {
	w           *World
	id          sm.NodeID
	rng         *rng
	pid         int64
	epoch       int16
	havePID     bool
	initReq     uint64 // the InitProducerID request in flight (0: none)
	inflightMax int
	parts       []*idemPart
	reqID       uint64
	attempts    map[uint64]*idemAttempt // produce requests in flight, by request ID
	values      int
	nextBatchAt sm.Time
	// leaders overrides the controller's metadata after a reply named a
	// leader (a hint) or none, until the next ack.
	leaders map[sm.TopicPartition]sm.NodeID
	wakeAt  sm.Time // the step scheduled (0: none)
	wakeGen uint64
}

// idemPart is a producer's sequence state on one partition.
type idemPart struct {
	tp      sm.TopicPartition
	durable bool // the topic's durability promise holds (see client.issue)
	nextSeq int32
	batches int          // batches created
	unacked []*idemBatch // in sequence order
	acks    int          // acknowledgments received
	// renumber: UNKNOWN_PRODUCER_ID was answered when acks was
	// renumberAcks; once nothing is in flight the unacknowledged batches
	// are numbered from 0.
	renumber     bool
	renumberAcks int
	// lastAckAt and lastAckEpoch are when the last acknowledgment came
	// and the leader epoch that gave it: an UNKNOWN_PRODUCER_ID answer to
	// a request sent before it, or from an older epoch, is stale (the
	// leader that acknowledged knows the producer).
	lastAckAt    sm.Time
	lastAckEpoch sm.Epoch
	// unknownLogStart is the highest log start of the replicas that
	// answered UNKNOWN_PRODUCER_ID (see idemBatch.retentionStart).
	unknownLogStart sm.Offset
	// retention: the topic deletes by size or time.
	retention bool
}

type idemBatch struct {
	p      *producer
	part   *idemPart
	ord    int // its position among the partition's batches
	values []string
	seq    int32
	// attempt is the request in flight (nil: none); held waits for an
	// earlier batch (OUT_OF_ORDER_SEQUENCE_NUMBER); retryAt is when it
	// may be sent again.
	attempt *idemAttempt
	held    bool
	retryAt sm.Time
	sends   int
	// maybe: some attempt may have taken effect (no answer, or an
	// unknown one).
	maybe  bool
	call   sm.Time
	acked  bool
	dup    bool // acknowledged by DUPLICATE_SEQUENCE_NUMBER
	offset sm.Offset
	epoch  sm.Epoch
	ackBy  sm.NodeID
	ackAt  sm.Time
	// recorded: its operation is in the history.
	recorded bool
	// last is the last answer, for failure reports; refusals counts the
	// answers (the retry backoff grows with them).
	last     sm.ProduceResponse
	refusals int
	// retentionStart is a log start a leader had when the batch was
	// stored again with sequence 0: renumbered after UNKNOWN_PRODUCER_ID
	// (the answering replica's, then), or the partition's first batch
	// acknowledged after an unknown outcome (the acknowledging
	// replica's). A copy of the batch below it may have been deleted by
	// retention before the retry came, which the leader then stores
	// again: a retry outliving the log's retention (sm/partition's known
	// limit), the one duplicate the checker allows.
	retentionStart sm.Offset
}

type idemAttempt struct {
	reqID  uint64
	b      *idemBatch
	to     sm.NodeID
	seq    int32
	sentAt sm.Time
}

func (w *World) newIdempotent() {
	ic := w.cfg.Idempotent
	if ic.Producers == 0 {
		return
	}
	root := newRNG(w.cfg.Seed)
	w.idem = idemRun{w: w, on: true, netRNG: root.child("idem-net"), producers: map[sm.NodeID]*producer{}, values: map[string]idemValue{}}
	tps := w.workloadTPs()
	durable, retention := map[string]bool{}, map[string]bool{}
	for _, t := range w.cfg.Topics {
		durable[t.Name] = !t.Unclean && int(max(t.MinISR, 1)) > w.durabilityBudget()
		retention[t.Name] = t.RetentionBytes > 0 || t.RetentionMs > 0
	}
	for i := 0; i < ic.Producers; i++ {
		id := idemProducerBase + sm.NodeID(i)
		p := &producer{w: w, id: id, rng: root.child(fmt.Sprintf("producer%d", i)), attempts: map[uint64]*idemAttempt{}, leaders: map[sm.TopicPartition]sm.NodeID{}}
		p.inflightMax = 1 + p.rng.intn(cmp.Or(ic.InflightMax, idemInflightMax))
		n := min(len(tps), 1+p.rng.intn(ic.PartitionsMax))
		for _, k := range p.rng.r.Perm(len(tps))[:n] {
			p.parts = append(p.parts, &idemPart{tp: tps[k], durable: durable[tps[k].Topic], retention: retention[tps[k].Topic]})
		}
		slices.SortFunc(p.parts, func(a, b *idemPart) int { return sm.CompareTP(a.tp, b.tp) })
		w.idem.producers[id] = p
		w.idem.ids = append(w.idem.ids, id)
	}
}

// isProducer reports whether id is an idempotent producer's node ID.
func (g *idemRun) isProducer(id sm.NodeID) bool { return g.producers[id] != nil }

// startIdempotent starts every producer.
func (w *World) startIdempotent() {
	if !w.idem.on {
		return
	}
	for _, id := range w.idem.ids {
		p := w.idem.producers[id]
		p.wake(w.now.Add(sm.Duration(p.rng.between(0, int64(300*sm.Millisecond)))))
	}
}

// wake schedules the producer's step at t, unless one is due by then.
func (p *producer) wake(t sm.Time) {
	if p.wakeAt != 0 && p.wakeAt <= t {
		return
	}
	p.wakeAt = t
	p.wakeGen++
	gen := p.wakeGen
	p.w.at(t, func() {
		if p.wakeGen == gen {
			p.wakeAt = 0
			p.step()
		}
	})
}

// step sends what is due: the producer ID request, batches to retry, and
// a new batch when its time has come; then schedules the next step.
func (p *producer) step() {
	w := p.w
	g := &w.idem
	if g.stopped {
		return
	}
	if !p.havePID {
		if p.initReq == 0 {
			p.askPID()
		}
		return
	}
	for _, part := range p.parts {
		p.pump(part)
	}
	if !g.draining && !w.faultsOn && w.heals > 0 {
		g.draining = true // the liveness phase: no new batches
	}
	if !g.draining && w.now >= p.nextBatchAt {
		p.nextBatchAt = w.now.Add(sm.Duration(p.rng.between(int64(w.cfg.Idempotent.IntervalMin), int64(w.cfg.Idempotent.IntervalMax))))
		part := p.parts[p.rng.intn(len(p.parts))]
		if p.room(part) {
			p.newBatch(part)
		}
	}
	next := sm.Time(0)
	if !g.draining {
		next = p.nextBatchAt
	}
	for _, part := range p.parts {
		for _, b := range part.unacked {
			if b.attempt == nil && !b.held && !part.renumber && (next == 0 || b.retryAt < next) {
				next = max(b.retryAt, w.now)
			}
		}
	}
	if next != 0 {
		p.wake(next)
	}
}

// askPID asks a random broker for a producer ID.
func (p *producer) askPID() {
	w := p.w
	brokers := w.brokerIDs()
	p.reqID++
	p.initReq = p.reqID
	req := p.initReq
	w.net.send(sm.Envelope{From: p.id, To: brokers[p.rng.intn(len(brokers))], Msg: sm.InitProducerIDRequest{ReqID: req}})
	w.after(w.cfg.ClientTimeout, func() {
		if p.initReq == req {
			p.initReq = 0
			p.wake(w.now.Add(w.cfg.RetryBackoff))
		}
	})
}

// pump renumbers the partition's batches when UNKNOWN_PRODUCER_ID asked
// for it and nothing is in flight, then sends every batch that is due, in
// sequence order.
func (p *producer) pump(part *idemPart) {
	w := p.w
	if part.renumber {
		for _, b := range part.unacked {
			if b.attempt != nil {
				return // wait for every attempt to end
			}
		}
		part.renumber = false
		if part.acks != part.renumberAcks {
			// Acknowledged since: the leader that answered UNKNOWN_PRODUCER_ID
			// was not the one that holds the producer's batches.
			w.stats.reach("idempotent renumber cancelled")
		} else if len(part.unacked) > 0 && part.unacked[0].seq != 0 {
			w.stats.reach("idempotent renumbered from 0")
			w.trace.note(w.now, p.id, "idempotent %v: renumbering %d batches from 0 (first was batch %d seq %d)", part.tp, len(part.unacked), part.unacked[0].ord, part.unacked[0].seq)
			seq := int32(0)
			for _, b := range part.unacked {
				b.seq = seq
				b.retentionStart = max(b.retentionStart, part.unknownLogStart)
				seq = seqAdd(seq, len(b.values))
			}
			part.nextSeq = seq
		}
		for _, b := range part.unacked {
			b.held, b.retryAt = false, w.now
		}
	}
	for _, b := range part.unacked {
		if b.attempt == nil && !b.held && w.now >= b.retryAt {
			p.send(b)
		}
	}
}

// room reports whether part may take a new batch: the oldest
// unacknowledged one and every batch after it, the new one included, are
// at most inflightMax (the leader remembers a producer's last five
// batches: a retry of one older would be refused out of order, not
// recognised — however many of those after it were acknowledged).
func (p *producer) room(part *idemPart) bool {
	if part.renumber {
		return false
	}
	return len(part.unacked) == 0 || part.batches-part.unacked[0].ord < p.inflightMax
}

// seqAdd is seq advanced by n records, wrapping from MaxInt32 to 0.
func seqAdd(seq int32, n int) int32 {
	return int32((int64(seq) + int64(n)) % (1 << 31))
}

// newBatch creates and sends the partition's next batch.
func (p *producer) newBatch(part *idemPart) {
	w := p.w
	n := 1 + p.rng.intn(w.cfg.Idempotent.RecordsMax)
	b := &idemBatch{p: p, part: part, ord: part.batches, seq: part.nextSeq, retryAt: w.now}
	part.batches++
	part.nextSeq = seqAdd(part.nextSeq, n)
	for i := 0; i < n; i++ {
		p.values++
		v := fmt.Sprintf("%v-%d", p.id, p.values)
		b.values = append(b.values, v)
		w.idem.values[v] = idemValue{b: b, i: i}
	}
	part.unacked = append(part.unacked, b)
	w.idem.batches = append(w.idem.batches, b)
	p.send(b)
}

// leader is where the producer sends tp's batches: the last reply's hint,
// else what the controller's metadata says.
func (p *producer) leader(tp sm.TopicPartition) sm.NodeID {
	if l, ok := p.leaders[tp]; ok && l != sm.NoNode {
		return l
	}
	return p.w.idem.metaLeader(tp)
}

// metaLeader is tp's leader in the leading controller's metadata (cached
// per controller and metadata version: a step may look up many).
func (g *idemRun) metaLeader(tp sm.TopicPartition) sm.NodeID {
	ctl := g.w.leaderController()
	if ctl == nil {
		return sm.NoNode
	}
	if ctl != g.metaCtl || ctl.MetadataVersion() != g.metaVersion {
		g.metaCtl, g.metaVersion = ctl, ctl.MetadataVersion()
		clear(g.metaLeaders)
		if g.metaLeaders == nil {
			g.metaLeaders = map[sm.TopicPartition]sm.NodeID{}
		}
		for _, st := range ctl.Metadata().Partitions {
			g.metaLeaders[st.TP] = st.Leader
		}
	}
	if l, ok := g.metaLeaders[tp]; ok {
		return l
	}
	return sm.NoNode
}

// send sends one attempt of b with its sequence.
func (p *producer) send(b *idemBatch) {
	w := p.w
	to := p.leader(b.part.tp)
	if to == sm.NoNode {
		b.retryAt = w.now.Add(w.cfg.RetryBackoff)
		return
	}
	p.reqID++
	a := &idemAttempt{reqID: p.reqID, b: b, to: to, seq: b.seq, sentAt: w.now}
	recs := make([]sm.Record, len(b.values))
	for i, v := range b.values {
		recs[i] = sm.Record{Value: []byte(v)}
	}
	req := sm.ProduceRequest{ReqID: uint64(b.ord), TP: b.part.tp, Acks: sm.Acks{Kind: sm.AckAll}, Records: recs,
		Idempotent: true, ProducerID: p.pid, ProducerEpoch: p.epoch, BaseSequence: b.seq}
	if w.cfg.Format2 {
		req = formatted(req) // by the batch, so every retry carries the same bytes
	}
	req.ReqID = a.reqID
	if b.sends == 0 {
		b.call = w.now
	} else {
		w.stats.reach("idempotent batch retried")
	}
	b.sends++
	b.attempt = a
	p.attempts[a.reqID] = a
	// Later batches held by OUT_OF_ORDER_SEQUENCE_NUMBER follow this one.
	for _, o := range b.part.unacked {
		if o.held && o.ord > b.ord {
			o.held = false
			o.retryAt = w.now
		}
	}
	if w.trace.verbose != nil {
		w.trace.note(w.now, p.id, "idempotent send #%d %v batch %d seq %d (%d records, %s) to %v, attempt %d", a.reqID, b.part.tp, b.ord, b.seq, len(b.values), b.valueRange(), to, b.sends)
	}
	w.net.send(sm.Envelope{From: p.id, To: to, Msg: req})
	w.after(w.cfg.ClientTimeout, func() {
		if p.attempts[a.reqID] == a {
			p.timedOut(a)
		}
	})
}

// timedOut ends an attempt without an answer: its outcome is unknown, and
// the batch is sent again (with its sequence) after a backoff.
func (p *producer) timedOut(a *idemAttempt) {
	w := p.w
	delete(p.attempts, a.reqID)
	b := a.b
	b.attempt = nil
	b.maybe = true
	b.retryAt = w.now.Add(w.cfg.RetryBackoff)
	delete(p.leaders, b.part.tp)
	if w.trace.verbose != nil {
		w.trace.note(w.now, p.id, "idempotent timeout #%d %v batch %d seq %d to %v", a.reqID, b.part.tp, b.ord, a.seq, a.to)
	}
	w.stats.reach("idempotent attempt timed out")
	p.wake(b.retryAt)
}

// receive takes an answer; one for no attempt in flight (late, or to an
// attempt that timed out) is dropped.
func (p *producer) receive(env sm.Envelope) {
	w := p.w
	if w.idem.stopped {
		return
	}
	switch r := env.Msg.(type) {
	case sm.InitProducerIDResponse:
		if r.ReqID != p.initReq || p.havePID {
			return
		}
		p.initReq = 0
		if r.Code != sm.CodeOK {
			w.stats.reach("idempotent init producer id " + r.Code.String())
			p.wake(w.now.Add(w.cfg.RetryBackoff))
			return
		}
		if r.ProducerID < 0 {
			w.fail("idempotent: producer %v: %v answered InitProducerID OK with producer ID %d", p.id, env.From, r.ProducerID)
			return
		}
		for _, o := range w.idem.ids {
			if q := w.idem.producers[o]; q != p && q.havePID && q.pid == r.ProducerID {
				w.fail("idempotent: producers %v and %v were both given producer ID %d (%v answered %v)", q.id, p.id, r.ProducerID, env.From, p.id)
				return
			}
		}
		p.pid, p.epoch, p.havePID = r.ProducerID, r.ProducerEpoch, true
		w.stats.reach("idempotent producer id")
		p.wake(w.now)
	case sm.ProduceResponse:
		a := p.attempts[r.ReqID]
		if a == nil || a.to != env.From {
			return
		}
		delete(p.attempts, r.ReqID)
		a.b.attempt = nil
		p.onProduce(a, r)
		p.wake(w.now)
	}
}

// onProduce follows one attempt's answer.
func (p *producer) onProduce(a *idemAttempt, r sm.ProduceResponse) {
	w := p.w
	b, part := a.b, a.b.part
	b.last = r
	b.refusals++
	if w.trace.verbose != nil {
		w.trace.note(w.now, p.id, "idempotent answer #%d %v batch %d seq %d from %v: %v at %d epoch %d %q", a.reqID, part.tp, b.ord, a.seq, a.to, r.Code, r.BaseOffset, r.LeaderEpoch, r.Message)
	}
	// The backoff doubles with each answer that is not an
	// acknowledgment, up to 16 times the client's (a leader refusing for
	// a while — too few replicas, a deny rule — is not asked 20 times a
	// second).
	backoff := w.now.Add(w.cfg.RetryBackoff << min(b.refusals-1, 4))
	switch code := r.Code; {
	case code == sm.CodeOK || code == sm.CodeDuplicateSequence:
		if a.seq != b.seq {
			// Renumbering waits for every attempt to end, and answers to
			// ended attempts are dropped: a bug in the workload.
			w.fail("idempotent: workload: producer %v %v batch %d answered for sequence %d after it was renumbered to %d", p.id, part.tp, b.ord, a.seq, b.seq)
			return
		}
		if code == sm.CodeDuplicateSequence {
			w.stats.reach("idempotent duplicate answered")
			b.dup = true
		}
		p.ack(b, r, a.to)
	case code == sm.CodeOutOfOrderSequence:
		w.stats.reach("idempotent out of order")
		if b != part.unacked[0] {
			b.held = true // sent again after the earlier batch
			return
		}
		// The first unacknowledged batch: nothing earlier is missing, so
		// the leader lags what an earlier one stored (or lost it).
		w.stats.reach("idempotent first batch out of order")
		b.retryAt = backoff
	case code == sm.CodeUnknownProducerID && (part.lastAckAt >= a.sentAt || r.LeaderEpoch < part.lastAckEpoch):
		// Decided before a batch of this producer was stored, or by an
		// older leader: renumbering now would send sequence 0 to a
		// leader that remembers the producer's first batch under it.
		w.stats.reach("idempotent stale unknown producer id ignored")
		b.retryAt = backoff
	case code == sm.CodeUnknownProducerID:
		w.stats.reach("idempotent unknown producer id")
		part.unknownLogStart = max(part.unknownLogStart, w.replicaLogStart(a.to, part.tp))
		if !part.renumber {
			part.renumber, part.renumberAcks = true, part.acks
		}
	case code == sm.CodeInvalidProducerEpoch:
		w.fail("idempotent: producer %v (pid %d epoch %d) %v batch %d sequence %d: %v answered INVALID_PRODUCER_EPOCH, but the producer never had another epoch",
			p.id, p.pid, p.epoch, part.tp, b.ord, a.seq, a.to)
	case code.Unknown():
		b.maybe = true
		if code == sm.CodeLeadershipLost {
			delete(p.leaders, part.tp)
		}
		b.retryAt = backoff
	case code.Retriable() || code == sm.CodeUnknownTopic || code == sm.CodeTopicAuthorizationFailed:
		// Nothing was stored: send it again (to the leader named).
		switch code {
		case sm.CodeNotLeader:
			p.leaders[part.tp] = r.LeaderHint
		case sm.CodeFencedLeaderEpoch, sm.CodeUnknownLeaderEpoch, sm.CodeUnknownTopic, sm.CodeLeaderNotAvailable:
			delete(p.leaders, part.tp)
		}
		b.retryAt = backoff
	default:
		w.fail("idempotent: producer %v (pid %d) %v batch %d sequence %d (%d records): %v answered %v: %s",
			p.id, p.pid, part.tp, b.ord, a.seq, len(b.values), a.to, code, r.Message)
	}
}

// ack records b's acknowledgment at r.BaseOffset and lets the batches
// held after it go.
func (p *producer) ack(b *idemBatch, r sm.ProduceResponse, from sm.NodeID) {
	w := p.w
	part := b.part
	b.acked, b.offset, b.epoch, b.ackBy, b.ackAt = true, r.BaseOffset, r.LeaderEpoch, from, w.now
	if b.seq == 0 && b.maybe {
		b.retentionStart = max(b.retentionStart, w.replicaLogStart(from, part.tp))
	}
	part.acks++
	part.lastAckAt, part.lastAckEpoch = w.now, max(part.lastAckEpoch, r.LeaderEpoch)
	part.unacked = slices.DeleteFunc(part.unacked, func(o *idemBatch) bool { return o == b })
	for _, o := range part.unacked {
		if o.held && o.ord > b.ord {
			o.held, o.retryAt = false, w.now
		}
	}
	w.idem.record(b)
}

// record appends b's operation to the history: OK at its acknowledged
// offset, else Unknown (some attempt may have taken effect) or Failed
// (every attempt certainly stored nothing).
func (g *idemRun) record(b *idemBatch) {
	if b.recorded || b.sends == 0 {
		return
	}
	b.recorded = true
	w := g.w
	op := linearizability.Op{Client: int(b.p.id), Kind: linearizability.Produce, TP: b.part.tp.String(), Call: int64(b.call), Return: int64(w.now),
		Values: slices.Clone(b.values), Durable: b.part.durable}
	switch {
	case b.acked:
		op.Outcome, op.Offset, op.Epoch = linearizability.OK, int64(b.offset), int64(b.epoch)
	case b.maybe || b.attempt != nil:
		op.Outcome, op.Err = linearizability.Unknown, "NO_DEFINITE_ANSWER"
	default:
		op.Outcome, op.Err = linearizability.Failed, "NOT_SENT_SUCCESSFULLY"
	}
	w.history.Ops = append(w.history.Ops, op)
	w.stats.Ops++
}

// renameCopy tells the history checkers about a copy of b at base that a
// retry outliving retention wrote again later (checkIdempotent allows
// it): the reads that showed that copy show values of their own, produced
// by an operation of unknown outcome, so that the claimed-order checker
// and porcupine, which hold every value to one offset, judge the rest.
func (w *World) renameCopy(b *idemBatch, tp sm.TopicPartition, base sm.Offset) {
	g := &w.idem
	key := fmt.Sprintf("%v %v %d@%d", b.p.id, tp, b.ord, base)
	if g.renamed == nil {
		g.renamed = map[string]bool{}
	}
	if g.renamed[key] {
		return
	}
	g.renamed[key] = true
	suffix := fmt.Sprintf("~copy-at-%d", base)
	op := linearizability.Op{Client: int(b.p.id), Kind: linearizability.Produce, TP: tp.String(), Call: int64(b.call), Return: int64(w.now),
		Outcome: linearizability.Unknown, Err: "RETRY_OUTLIVED_RETENTION"}
	for _, v := range b.values {
		op.Values = append(op.Values, v+suffix)
	}
	name := tp.String()
	for i := range w.history.Ops {
		rd := &w.history.Ops[i]
		if rd.Kind != linearizability.Fetch || rd.TP != name {
			continue
		}
		for j := range rd.Records {
			r := &rd.Records[j]
			if k := sm.Offset(r.Offset) - base; k >= 0 && int(k) < len(b.values) && r.Value == b.values[k] {
				r.Value += suffix
			}
		}
	}
	w.history.Ops = append(w.history.Ops, op)
}

// replicaLogStart is the log start (as consumers see it: with tiered
// storage, the oldest uploaded offset) of broker id's replica of tp; 0
// when it is down or holds none.
//
// On a topic with retention of the whole log it is the replica's local
// start: a tiered replica deletes its local copies by that retention
// before the remote tier records the deletion, and the producer state goes
// with the local copies. Without such retention only the producer state
// window (sm/partition producerPin), far longer than any run, lets local
// copies of remembered batches go, so the log start is the consumers'.
func (w *World) replicaLogStart(id sm.NodeID, tp sm.TopicPartition) sm.Offset {
	b := w.brokerNode(id)
	if b == nil {
		return 0
	}
	st := statusByTP(b)[tp]
	if slices.ContainsFunc(w.cfg.Topics, func(t TopicSpec) bool {
		return t.Name == tp.Topic && (t.RetentionBytes > 0 || t.RetentionMs > 0)
	}) {
		return max(st.LogStart, st.LocalStart)
	}
	return st.LogStart
}

// logStartNow is tp's log start on its leader now (0: none known).
func (w *World) logStartNow(tp sm.TopicPartition) sm.Offset {
	return w.replicaLogStart(w.idem.metaLeader(tp), tp)
}

func (b *idemBatch) valueRange() string {
	if len(b.values) == 1 {
		return b.values[0]
	}
	return b.values[0] + ".." + b.values[len(b.values)-1]
}

// ---- liveness ------------------------------------------------------------

// idemLiveness runs once the cluster has converged: no new batches, and
// every outstanding batch of a partition with a durability promise and no
// retention must be acknowledged within the liveness timeout.
// Then the producers stop and what is still outstanding goes into the
// history as Unknown (or Failed).
func (w *World) idemLiveness() error {
	g := &w.idem
	if !g.on {
		return nil
	}
	g.draining = true
	for _, id := range g.ids {
		g.producers[id].wake(w.now)
	}
	pending := func() []*idemBatch {
		var out []*idemBatch
		for _, id := range g.ids {
			for _, part := range g.producers[id].parts {
				// A durable partition is never lost for good
				// (checkLostForGood fails the run first).
				if part.durable && !part.retention && len(part.unacked) > 0 {
					out = append(out, part.unacked...)
				}
			}
		}
		return out
	}
	w.runUntil(w.now.Add(w.cfg.LivenessTimeout), func() bool { return len(pending()) == 0 })
	if w.failure != nil {
		return w.failure
	}
	left := pending()
	g.stopped = true
	// The committed log as it is now, before a wipe of every disk
	// (WipeAll) may lose what was not uploaded.
	w.checkCluster()
	if w.failure != nil {
		return w.failure
	}
	for _, b := range g.batches {
		g.record(b)
	}
	if len(left) > 0 {
		var s strings.Builder
		for i, b := range left {
			if i == 10 {
				fmt.Fprintf(&s, "\n  ... and %d more", len(left)-i)
				break
			}
			fmt.Fprintf(&s, "\n  producer %v (pid %d) %v batch %d sequence %d values %s: sent %d times, held=%v renumber=%v, leader %v, last answer %v %q",
				b.p.id, b.p.pid, b.part.tp, b.ord, b.seq, b.valueRange(), b.sends, b.held, b.part.renumber, b.p.leader(b.part.tp), b.last.Code, b.last.Message)
		}
		return w.stuck(fmt.Sprintf("idempotent: %d batches still unacknowledged %v after the faults were healed:%s", len(left), w.cfg.LivenessTimeout, s.String()))
	}
	w.stats.reach("idempotent producers drained")
	return nil
}

// ---- the checker ---------------------------------------------------------

// checkIdempotent is the duplicate checker (see the comment at the top),
// run after the final reads on the cluster's committed log of every
// workload partition (invariants.committed, brought up to date first).
func (w *World) checkIdempotent() error {
	g := &w.idem
	if !g.on {
		return nil
	}
	w.checkCluster()
	if w.failure != nil {
		return w.failure
	}
	at := map[string]sm.Offset{}
	checked := 0
	for _, tp := range w.workloadTPs() {
		log := w.inv.committed[tp]
		// last: per producer, the value found at the highest offset so far
		// (the log is walked in offset order).
		last := map[sm.NodeID]idemValue{}
		lastOff := map[sm.NodeID]sm.Offset{}
		for i, v := range log {
			iv, ok := g.values[v]
			if !ok {
				continue
			}
			off := sm.Offset(i)
			b := iv.b
			checked++
			if b.part.tp != tp {
				return fmt.Errorf("t=%v: idempotent: producer %v (pid %d) sent %q to %v (batch %d, sequence %d), but %v holds it at offset %d",
					w.now, b.p.id, b.p.pid, v, b.part.tp, b.ord, b.seq, tp, off)
			}
			if prev, dup := at[v]; dup {
				if prev < b.retentionStart {
					// Deleted by retention before the retry came (see
					// retentionStart): not the leader's to know.
					w.stats.reach("idempotent retry outlived retention")
					w.renameCopy(b, tp, prev-sm.Offset(iv.i))
					at[v] = off
					continue
				}
				return fmt.Errorf("t=%v: idempotent: duplicate: producer %v (pid %d) value %q on %v is at offsets %d and %d (batch %d of %d records, base sequence %d, sent %d times, %s; log start when stored again %d, now %d)",
					w.now, b.p.id, b.p.pid, v, tp, prev, off, b.ord, len(b.values), b.seq, b.sends, b.answer(), b.retentionStart, w.logStartNow(tp))
			}
			at[v] = off
			if lv, ok := last[b.p.id]; ok && (lv.b.ord > b.ord || lv.b.ord == b.ord && lv.i > iv.i) {
				return fmt.Errorf("t=%v: idempotent: order: producer %v (pid %d) on %v: value %q (batch %d) is at offset %d, after %q (batch %d) at offset %d, which it produced later",
					w.now, b.p.id, b.p.pid, tp, v, b.ord, off, lv.b.values[lv.i], lv.b.ord, lastOff[b.p.id])
			}
			last[b.p.id], lastOff[b.p.id] = iv, off
		}
	}
	for _, b := range g.batches {
		if !b.acked || !b.part.durable {
			continue
		}
		log := w.inv.committed[b.part.tp]
		for i, v := range b.values {
			want := b.offset + sm.Offset(i)
			if int(want) < len(log) && log[want] == unverified {
				continue // retention deleted it before any check read it
			}
			got, ok := at[v]
			switch {
			case ok && got == want:
				continue
			case ok:
				return fmt.Errorf("t=%v: idempotent: producer %v (pid %d) value %q on %v was acknowledged at offset %d (batch %d, %s), but is at offset %d",
					w.now, b.p.id, b.p.pid, v, b.part.tp, want, b.ord, b.answer(), got)
			case int(want) < len(log):
				return fmt.Errorf("t=%v: idempotent: producer %v (pid %d) value %q on %v was acknowledged at offset %d (batch %d, %s), but the committed log holds %q there and the value nowhere",
					w.now, b.p.id, b.p.pid, v, b.part.tp, want, b.ord, b.answer(), log[want])
			default:
				return fmt.Errorf("t=%v: idempotent: producer %v (pid %d) value %q on %v was acknowledged at offset %d (batch %d, %s), but the committed log ends at %d",
					w.now, b.p.id, b.p.pid, v, b.part.tp, want, b.ord, b.answer(), len(log))
			}
		}
		w.stats.reach("idempotent ack verified")
	}
	if checked > 0 {
		w.stats.reach("idempotent values checked")
	}
	return nil
}

// answer describes how b was acknowledged.
func (b *idemBatch) answer() string {
	switch {
	case b.dup:
		return fmt.Sprintf("acknowledged DUPLICATE_SEQUENCE_NUMBER at %d by %v at %v", b.offset, b.ackBy, b.ackAt)
	case b.acked:
		return fmt.Sprintf("acknowledged OK at %d by %v at %v", b.offset, b.ackBy, b.ackAt)
	case b.maybe:
		return "outcome unknown"
	}
	return "never stored"
}
