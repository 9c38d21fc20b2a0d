package sdk

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/weirmq/weir/io/codec"
	"github.com/weirmq/weir/sm"
)

// AnyPartition in Message.Partition lets the producer's Partitioner choose.
const AnyPartition int32 = -1

// Message is one record to produce.
type Message struct {
	// Topic to write to.
	Topic string
	// Partition is the target partition, or AnyPartition (-1) to let the
	// Partitioner choose (by key hash by default). Beware: the zero value is
	// partition 0, not "any".
	Partition int32
	// Key and Value are the record. The producer keeps references to them
	// until the record's outcome is reported: do not modify them before.
	Key, Value []byte
	// Headers are the record's headers (UTF-8 keys, any values), kept in
	// order; consumers get them in Record.Headers.
	Headers []Header
	// Timestamp is the record's create time, kept with it; consumers see
	// it when the topic's message_timestamp_type is create_time (else the
	// leader's append time). Zero gives none: the record counts as created
	// when its leader appends it.
	Timestamp time.Time
}

// Header is one record header: a UTF-8 key and a value.
type Header = sm.Header

// Result is where a record was written. After an error, Offset is -1 and
// Partition is -1 if none had been chosen yet.
type Result struct {
	// Topic and Partition are where the record went (the Partitioner's
	// choice for AnyPartition).
	Topic     string
	Partition int32
	// Offset is the record's offset in the partition: its place in the
	// total order the leader assigned.
	Offset sm.Offset
}

// ProducerConfig configures a Producer. Zero values mean the defaults
// documented on each field.
type ProducerConfig struct {
	// Acks is what each produce waits for (default all, the only levels
	// with a durability promise being all, majority and custom; see
	// docs/architecture.md). It is a pointer so that nil can mean "all"
	// while sm.AckNone, the zero sm.Acks, stays expressible: use AckLevel or
	// AckCustom.
	Acks *sm.Acks
	// BatchBytes bounds one produce request's records, counted as the
	// broker counts a batch (28 bytes plus 8 per record plus keys and
	// values; default 1 MiB, the broker accepts 4 MiB by default). A record
	// larger than BatchBytes is sent alone.
	BatchBytes int
	// BatchRecords bounds the records in one request (default 10000).
	BatchRecords int
	// Linger is how long a partition's first unsent record may wait for
	// more to join its batch (default 0). Even with no linger, records
	// batch naturally under load: while a partition's request is in flight
	// (MaxInflightPerPartition) its new records accumulate into the next.
	Linger time.Duration
	// Partitioner places records sent to AnyPartition (default
	// KeyHashPartitioner: Kafka-compatible murmur2 of the key, sticky
	// batches for keyless records).
	Partitioner Partitioner
	// MaxInflightPerPartition bounds the requests in flight to one
	// partition (default 1, or 5 with Idempotent). One keeps the
	// partition's records in the order they were sent, retries included;
	// more raises throughput per partition but, without Idempotent, a
	// retried batch can then land after a later one. With Idempotent it is
	// at most 5 (the batches a leader remembers per producer) and order
	// is kept.
	MaxInflightPerPartition int
	// MaxRecordBytes rejects, before sending, a record whose key plus value
	// exceeds it, with ErrMessageTooLarge (default 1 MiB, the broker's
	// default max record bytes; set it to the cluster's limit).
	MaxRecordBytes int
	// DeliveryTimeout bounds the retries of a batch: no new attempt starts
	// after it (default 60 s). It never interrupts a request in flight,
	// which would make the outcome unknown; records that run out of retries
	// fail with the last (retriable) error and were not written.
	DeliveryTimeout time.Duration
	// AckTimeout is sent with each produce: how long the leader waits for
	// the ack level before answering TIMEOUT (outcome unknown). Zero uses
	// the broker's ack timeout (5 s by default). The SDK waits this plus
	// Config.RequestTimeout for the reply.
	AckTimeout time.Duration
	// UnknownTopicRetries is how many more metadata answers may say a
	// topic does not exist before its records fail with ErrUnknownTopic
	// (default 4: with the default backoff about 1.5 s, enough for brokers
	// to learn of a topic created just before, which they do within a
	// controller heartbeat). Negative fails at the first such answer.
	// Metadata requests that fail are retried until DeliveryTimeout, as the
	// cluster may just be unreachable.
	UnknownTopicRetries int
	// Compression compresses each batch before it is sent: "none" (or
	// empty, the default), "gzip", "snappy", "lz4" or "zstd". Brokers store
	// a batch as it was sent, unless its topic's compression_type names
	// another codec. NewProducer refuses other names.
	Compression string
	// Idempotent makes every record be written once and in order, whatever
	// the retries: the producer takes a producer ID from the cluster
	// before its first send and numbers each partition's records, so a
	// leader stores a retried batch only once and never out of order. The
	// producer then retries unknown outcomes too (no reply in time, a lost
	// connection, TIMEOUT, a leader change) with the same numbers, until
	// DeliveryTimeout; a record fails with an *OutcomeUnknownError only
	// when its retries ran out. It needs Acks all (the default; NewProducer
	// refuses others) and MaxInflightPerPartition at most 5 (default 5).
	Idempotent bool
}

// AckLevel returns an ack level for ProducerConfig.Acks: sm.AckNone,
// sm.AckLeader, sm.AckMajority or sm.AckAll.
func AckLevel(kind sm.AckKind) *sm.Acks { return &sm.Acks{Kind: kind} }

// AckCustom returns the ack level "committed and durable on n replicas".
func AckCustom(n int32) *sm.Acks { return &sm.Acks{Kind: sm.AckCustom, N: n} }

func (c ProducerConfig) withDefaults() ProducerConfig {
	if c.Acks == nil {
		c.Acks = AckLevel(sm.AckAll)
	}
	c.BatchBytes = orDefault(c.BatchBytes, 1<<20)
	c.BatchRecords = orDefault(c.BatchRecords, 10000)
	if c.Idempotent && c.MaxInflightPerPartition == 0 {
		c.MaxInflightPerPartition = maxIdempotentInflight
	}
	c.MaxInflightPerPartition = max(c.MaxInflightPerPartition, 1)
	c.MaxRecordBytes = orDefault(c.MaxRecordBytes, 1<<20)
	c.DeliveryTimeout = orDefault(c.DeliveryTimeout, 60*time.Second)
	c.Linger = max(c.Linger, 0)
	c.AckTimeout = max(c.AckTimeout, 0)
	switch {
	case c.UnknownTopicRetries == 0:
		c.UnknownTopicRetries = 4
	case c.UnknownTopicRetries < 0:
		c.UnknownTopicRetries = 0
	}
	if c.Partitioner == nil {
		c.Partitioner = KeyHashPartitioner{}
	}
	return c
}

// batchHeaderBytes and recordOverhead are how the broker sizes a batch
// against its max batch bytes.
const (
	batchHeaderBytes = 4 + 4 + 8 + 8 + 4
	recordOverhead   = 8
)

// Producer batches records per partition and sends each batch as one
// ProduceRequest to the partition's leader, retrying retriable refusals.
// Records of one partition are written in the order they were sent (with
// the default MaxInflightPerPartition of 1, or with Idempotent), and their
// outcomes are reported in that order. It is safe for concurrent use.
type Producer struct {
	c    *Client
	cfg  ProducerConfig
	acks sm.Acks
	// codec compresses every batch (ProducerConfig.Compression).
	codec sm.Codec
	wait  time.Duration // for each produce reply

	// ctx is cancelled (cause ErrClosed) to abandon requests in flight.
	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup // sender and topic-resolving goroutines

	mu         sync.Mutex // guards everything below
	closed     bool       // no new records
	stopped    bool       // no more sending: timers stopped, queues failed
	flushing   int        // Flush calls waiting: every batch is ready now
	parts      map[sm.TopicPartition]*partQueue
	unresolved map[string][]*entry // records for topics metadata does not know yet, in order
	sticky     map[string]stickyState
	gen        uint64               // the current flush generation
	gens       map[uint64]*flushGen // unfinished records per generation
	ident      producerIdentity     // with Idempotent, once obtained
}

type stickyState struct {
	cur  int32
	set  bool
	prev int32 // the last sticky partition, avoided when choosing the next
}

// flushGen counts the unfinished records sent between two Flush calls;
// done is closed when the last finishes.
type flushGen struct {
	n    int
	done chan struct{}
}

type entryState uint8

const (
	queued    entryState = iota // waiting in a batch or for topic metadata
	inFlight                    // its batch was handed to a sender
	cancelled                   // removed by Send's context before sending
	dropped                     // failed before sending (closed, unknown topic)
)

// entry is one record on its way.
type entry struct {
	rec       sm.Record
	topic     string
	partition int32             // as requested
	tp        sm.TopicPartition // once placed
	size      int
	cb        func(Result, error)
	state     entryState
	gen       uint64
}

// batch is records for one partition that will go in one request.
type batch struct {
	entries []*entry
	bytes   int
	created time.Time
	full    bool
	// idem is the batch's sequence state once an idempotent producer sent
	// it; nil before, and always without Idempotent.
	idem *idemBatch
}

// partQueue is one partition's unsent batches, oldest first; only the last
// takes new records.
type partQueue struct {
	tp       sm.TopicPartition
	batches  []*batch
	inflight int
	timer    *time.Timer // linger of the head batch
	// seq is the partition's sequence state with Idempotent (idempotent.go).
	seq idemPartition
}

// ErrNoClient: a Producer or Consumer was asked of a nil *Client, typically
// because NewClient failed and its error was not checked.
var ErrNoClient = errors.New("sdk: nil *Client (did NewClient fail?)")

// NewProducer makes a producer on c's connections. It fails with
// ErrNoClient when c is nil, and with ErrClosed when c is closed.
func (c *Client) NewProducer(cfg ProducerConfig) (*Producer, error) {
	if c == nil {
		return nil, ErrNoClient
	}
	cfg = cfg.withDefaults()
	if err := cfg.checkIdempotent(); err != nil {
		return nil, err
	}
	codecName := cfg.Compression
	if codecName == "" {
		codecName = "none"
	}
	cd, err := sm.ParseCodec(codecName)
	if err != nil {
		return nil, fmt.Errorf("%w: ProducerConfig.Compression: %v", ErrInvalidRequest, err)
	}
	p := &Producer{
		c: c, cfg: cfg, acks: *cfg.Acks, codec: cd,
		wait:       c.cfg.RequestTimeout + cfg.AckTimeout,
		parts:      map[sm.TopicPartition]*partQueue{},
		unresolved: map[string][]*entry{},
		sticky:     map[string]stickyState{},
		gens:       map[uint64]*flushGen{},
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	p.ctx, p.cancel = context.WithCancelCause(context.Background())
	c.producers[p] = struct{}{}
	return p, nil
}

// Send produces msg and waits for its outcome at the producer's ack level.
// The error is nil (written, at Result.Offset), an *OutcomeUnknownError
// (may or may not have been written), or anything else (not written).
//
// If ctx ends first: a record still queued is withdrawn and Send returns
// ctx's error (not written); a record already sent returns an
// *OutcomeUnknownError wrapping ctx's error, and its request completes in
// the background.
func (p *Producer) Send(ctx context.Context, msg Message) (Result, error) {
	if err := context.Cause(ctx); err != nil {
		return failedResult(msg.Topic, -1), err
	}
	type outcome struct {
		r   Result
		err error
	}
	ch := make(chan outcome, 1)
	e := p.enqueue(msg, func(r Result, err error) { ch <- outcome{r, err} })
	select {
	case o := <-ch:
		return o.r, o.err
	case <-ctx.Done():
	}
	p.mu.Lock()
	state := e.state
	if state == queued {
		e.state = cancelled
		p.untrackLocked(e)
	}
	p.mu.Unlock()
	switch state {
	case queued:
		return failedResult(msg.Topic, -1), context.Cause(ctx)
	case dropped: // failed before sending; its callback is running
		o := <-ch
		return o.r, o.err
	}
	select {
	case o := <-ch: // finished meanwhile
		return o.r, o.err
	default:
		return failedResult(e.tp.Topic, e.tp.Partition), &OutcomeUnknownError{TP: e.tp, Err: context.Cause(ctx)}
	}
}

// SendAsync queues msg and returns at once; cb receives the outcome (see
// Send for what the error means). Callbacks of one partition run in the
// order the records were sent, on the producer's goroutines, so they must
// not block for long; a record rejected before queueing (too large, closed
// producer, no such partition) has its callback run before SendAsync
// returns. cb may be nil.
func (p *Producer) SendAsync(msg Message, cb func(Result, error)) {
	if cb == nil {
		cb = func(Result, error) {}
	}
	p.enqueue(msg, cb)
}

func failedResult(topic string, partition int32) Result {
	return Result{Topic: topic, Partition: partition, Offset: -1}
}

// enqueue queues msg. It returns the entry, already completed (state
// dropped) when msg was rejected at once.
func (p *Producer) enqueue(msg Message, cb func(Result, error)) *entry {
	rec := sm.Record{Key: msg.Key, Value: msg.Value, Headers: msg.Headers}
	if !msg.Timestamp.IsZero() {
		rec.Timestamp = max(msg.Timestamp.UnixMilli(), 1) // 0 means none
	}
	e := &entry{
		rec:   rec,
		topic: msg.Topic, partition: msg.Partition, tp: sm.TopicPartition{Topic: msg.Topic, Partition: -1},
		size: recordOverhead + len(msg.Key) + len(msg.Value), cb: cb,
	}
	if sm.NeedsV2([]sm.Record{rec}) {
		e.size = sm.RecordsBlockBytes([]sm.Record{rec}) // as the broker counts a records block
	}
	reject := func(err error) *entry {
		e.state = dropped
		cb(failedResult(msg.Topic, -1), err)
		return e
	}
	for i, h := range msg.Headers {
		if !utf8.ValidString(h.Key) {
			return reject(fmt.Errorf("%w: header %d key %q is not UTF-8", ErrInvalidRequest, i, h.Key))
		}
	}
	switch n := sm.RecordBytes(rec); {
	case msg.Topic == "":
		return reject(fmt.Errorf("%w: message has no topic", ErrInvalidRequest))
	case msg.Partition < AnyPartition:
		return reject(fmt.Errorf("%w: partition %d (want >= 0, or AnyPartition)", ErrInvalidRequest, msg.Partition))
	case n > p.cfg.MaxRecordBytes:
		return reject(fmt.Errorf("%w: record is %d bytes (key, value and headers), above MaxRecordBytes %d", ErrMessageTooLarge, n, p.cfg.MaxRecordBytes))
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return reject(ErrClosed)
	}
	if q, waiting := p.unresolved[e.topic]; waiting { // keep order behind earlier records
		p.trackLocked(e)
		p.unresolved[e.topic] = append(q, e)
		p.mu.Unlock()
		return e
	}
	placed, err := p.placeLocked(e)
	switch {
	case err != nil:
		p.mu.Unlock()
		return reject(err)
	case !placed:
		p.trackLocked(e)
		p.unresolved[e.topic] = []*entry{e}
		p.wg.Add(1)
		go p.resolve(e.topic)
	default:
		p.trackLocked(e)
		p.drainLocked(p.appendLocked(e))
	}
	p.mu.Unlock()
	return e
}

// placeLocked chooses e's partition; placed is false when metadata does not
// know the topic yet.
func (p *Producer) placeLocked(e *entry) (placed bool, err error) {
	n, ok := p.c.partitionCount(e.topic)
	if !ok || n <= 0 {
		return false, nil
	}
	part := e.partition
	switch {
	case part >= n:
		return false, &BrokerError{Code: sm.CodeUnknownTopic, TP: sm.TopicPartition{Topic: e.topic, Partition: part}, Message: fmt.Sprintf("topic has %d partitions", n)}
	case part < 0:
		part = p.cfg.Partitioner.Partition(e.topic, e.rec.Key, n)
		if part >= n {
			part %= n // a partitioner out of range; stay deterministic
		}
		if part < 0 {
			part = p.stickyLocked(e.topic, n)
		}
	}
	e.tp = sm.TopicPartition{Topic: e.topic, Partition: part}
	return true, nil
}

// stickyLocked is the topic's sticky partition for keyless records, chosen
// at random among partitions with a leader, avoiding the previous one, each
// time the sticky batch is complete (see Partitioner).
func (p *Producer) stickyLocked(topic string, n int32) int32 {
	s := p.sticky[topic]
	if s.set && s.cur < n && !p.stickyBatchDoneLocked(sm.TopicPartition{Topic: topic, Partition: s.cur}) {
		return s.cur
	}
	if s.set {
		s.prev = s.cur
	}
	cands := p.c.ledPartitions(topic)
	if len(cands) == 0 {
		for i := range n {
			cands = append(cands, i)
		}
	}
	if len(cands) > 1 {
		for i, c := range cands {
			if c == s.prev {
				cands = append(cands[:i], cands[i+1:]...)
				break
			}
		}
	}
	s.cur, s.set = cands[rand.N(len(cands))], true
	p.sticky[topic] = s
	return s.cur
}

// appendLocked adds e to its partition's last batch, or a new one.
func (p *Producer) appendLocked(e *entry) *partQueue {
	pq := p.parts[e.tp]
	if pq == nil {
		pq = &partQueue{tp: e.tp}
		p.parts[e.tp] = pq
	}
	var b *batch
	if n := len(pq.batches); n > 0 && !pq.batches[n-1].full {
		b = pq.batches[n-1]
		if b.bytes+e.size > p.cfg.BatchBytes {
			b.full, b = true, nil
		}
	}
	if b == nil {
		b = &batch{created: time.Now(), bytes: batchHeaderBytes}
		pq.batches = append(pq.batches, b)
	}
	b.entries = append(b.entries, e)
	b.bytes += e.size
	if len(b.entries) >= p.cfg.BatchRecords || b.bytes >= p.cfg.BatchBytes {
		b.full = true
	}
	return pq
}

// drainLocked starts sending pq's ready batches, oldest first, while the
// partition has room in flight; it arms the linger timer for a head batch
// that is not ready yet.
func (p *Producer) drainLocked(pq *partQueue) {
	if p.stopped {
		return
	}
	if p.cfg.Idempotent {
		p.drainIdempotentLocked(pq)
		return
	}
	for pq.inflight < p.cfg.MaxInflightPerPartition {
		b := p.nextBatchLocked(pq)
		if b == nil {
			return
		}
		pq.inflight++
		p.wg.Add(1)
		go p.sendBatch(pq, b.entries)
	}
}

// nextBatchLocked takes pq's head batch if it is ready to go, its records
// marked in flight (those withdrawn meanwhile left out), or returns nil:
// nothing queued, or the head batch lingers (its timer armed).
func (p *Producer) nextBatchLocked(pq *partQueue) *batch {
	for len(pq.batches) > 0 {
		b := pq.batches[0]
		ready := len(pq.batches) > 1 || b.full || p.flushing > 0 || p.closed
		if wait := p.cfg.Linger - time.Since(b.created); !ready && wait > 0 {
			if pq.timer == nil {
				pq.timer = time.AfterFunc(wait, func() {
					p.mu.Lock()
					pq.timer = nil
					p.drainLocked(pq)
					p.mu.Unlock()
				})
			}
			return nil
		}
		pq.batches[0] = nil
		pq.batches = pq.batches[1:]
		if s := p.sticky[pq.tp.Topic]; s.set && s.cur == pq.tp.Partition {
			p.sticky[pq.tp.Topic] = stickyState{prev: s.cur} // the next keyless record moves on
		}
		live := b.entries[:0]
		for _, e := range b.entries {
			if e.state == queued {
				e.state = inFlight
				live = append(live, e)
			}
		}
		if len(live) > 0 {
			b.entries = live
			return b
		}
	}
	return nil
}

// sendBatch produces one batch, reports every record's outcome in order,
// then lets the partition's next batch go.
func (p *Producer) sendBatch(pq *partQueue, entries []*entry) {
	defer p.wg.Done()
	recs := recordsOf(entries)
	block, err := p.encode(pq.tp, recs)
	base := sm.Offset(-1)
	if err == nil {
		base, err = p.produce(pq.tp, recs, block, nil)
	}
	for i, e := range entries {
		r := Result{Topic: pq.tp.Topic, Partition: pq.tp.Partition, Offset: base + sm.Offset(i)}
		if err != nil {
			r.Offset = -1
		}
		e.cb(r, err)
	}
	p.mu.Lock()
	pq.inflight--
	for _, e := range entries {
		p.untrackLocked(e)
	}
	p.drainLocked(pq)
	p.mu.Unlock()
}

func recordsOf(entries []*entry) []sm.Record {
	recs := make([]sm.Record, len(entries))
	for i, e := range entries {
		recs[i] = e.rec
	}
	return recs
}

// encode builds the records block that records with headers, or a
// compressed batch, go as (format 2), once for every attempt; nil when the
// records go as they are.
func (p *Producer) encode(tp sm.TopicPartition, recs []sm.Record) ([]byte, error) {
	if p.codec == sm.CodecNone && !sm.NeedsV2(recs) {
		return nil, nil
	}
	block := sm.EncodeRecords(make([]byte, 0, sm.RecordsBlockBytes(recs)), recs)
	if p.codec != sm.CodecNone {
		var err error
		if block, err = (codec.Codecs{}).Compress(p.codec, block); err != nil {
			return nil, fmt.Errorf("sdk: compressing a batch of %d records for %v with %v: %w", len(recs), tp, p.codec, err)
		}
	}
	return block, nil
}

// produce sends one batch (recs, or block when not nil) to tp's leader
// until it is written, refused for good, or its outcome is unknown.
// Retriable refusals are retried with backoff until DeliveryTimeout, after
// a metadata refresh when leadership moved. Without idempotence (seq nil)
// nothing whose outcome is unknown is ever retried; with it (seq the
// batch's numbers) unknown outcomes are retried too, a duplicate is the
// original's success, and the sequence refusals return for the caller to
// decide (see idempotent.go).
func (p *Producer) produce(tp sm.TopicPartition, recs []sm.Record, block []byte, seq *idemTry) (sm.Offset, error) {
	c, ctx := p.c, p.ctx
	deadline := time.Now().Add(p.cfg.DeliveryTimeout)
	var lastErr error
	if seq != nil {
		deadline, lastErr = seq.deadline, seq.lastErr
	}
	// fail is the batch's error when it ends with err: with idempotence,
	// unknown if any attempt's outcome was.
	fail := func(err error) (sm.Offset, error) {
		if seq != nil && seq.maybeStored {
			if _, ok := errors.AsType[*OutcomeUnknownError](err); !ok {
				err = &OutcomeUnknownError{TP: tp, Err: err}
			}
		}
		return -1, err
	}
	var refused, hint sm.NodeID // the last node that said NOT_LEADER, and the leader it named
	for attempt := 0; ; attempt++ {
		if attempt == 0 && lastErr != nil && !time.Now().Before(deadline) {
			return fail(lastErr) // sent again after waiting, too late
		}
		if attempt > 0 {
			wait := c.cfg.Backoff.Delay(attempt - 1)
			if time.Until(deadline) < wait {
				return fail(lastErr)
			}
			c.cfg.Log.Debug().Stringer("tp", tp).Int("attempt", attempt).Dur("in", wait).Err(lastErr).Msg("sdk: retrying produce")
			if err := sleep(ctx, nil, wait); err != nil {
				return fail(fmt.Errorf("%w (while retrying after: %v)", err, lastErr))
			}
		}
		c.maybeRefresh(ctx)
		leader, _, err := c.leaderOf(tp)
		if errors.Is(err, ErrUnknownTopic) && attempt == 0 {
			c.refresh(ctx) // the topic may be new, or just deleted
			leader, _, err = c.leaderOf(tp)
		}
		if err != nil {
			if errors.Is(err, ErrUnknownTopic) {
				return -1, err
			}
			lastErr = err
			c.refresh(ctx)
			continue
		}
		if leader == refused && hint != sm.NoNode && hint != leader && c.knownBroker(hint) {
			leader = hint // metadata still names the node that refused; trust its hint
		}
		if err := c.connect(ctx, leader); err != nil {
			if ctx.Err() != nil || c.isClosed() {
				return fail(ErrClosed)
			}
			if revoked(err) {
				return fail(err) // refused for good: retrying cannot help
			}
			lastErr = err
			c.refresh(ctx)
			continue
		}
		reqID := c.nextReqID()
		req := sm.ProduceRequest{ReqID: reqID, TP: tp, Acks: p.acks, Records: recs, Timeout: sm.Duration(p.cfg.AckTimeout)}
		if block != nil {
			req.Records, req.Codec, req.Block, req.Count, req.BlockCRC = nil, p.codec, block, int32(len(recs)), sm.BlockChecksum(block)
			for _, r := range recs {
				req.MaxTimestamp = max(req.MaxTimestamp, r.Timestamp)
			}
		}
		var onSent func()
		if seq != nil {
			req.Idempotent, req.ProducerID, req.ProducerEpoch, req.BaseSequence = true, seq.pid, seq.epoch, seq.seq
			seq.waitTurn(ctx)
			onSent = seq.passTurn
		}
		m, sent, err := c.roundTripNotify(ctx, leader, reqID, req, p.wait, onSent)
		if err != nil {
			switch {
			case seq == nil && !sent:
				return -1, err
			case seq == nil:
				return -1, &OutcomeUnknownError{TP: tp, Err: err}
			case sent:
				seq.maybeStored = true
				err = &OutcomeUnknownError{TP: tp, Err: err}
			}
			if ctx.Err() != nil || c.isClosed() || revoked(err) {
				return fail(err)
			}
			lastErr = err // idempotent: the same numbers again cannot write twice
			c.refresh(ctx)
			continue
		}
		resp, ok := m.(sm.ProduceResponse)
		if !ok {
			return fail(&OutcomeUnknownError{TP: tp, Err: fmt.Errorf("%v answered a produce with %T", leader, m)})
		}
		switch resp.Code {
		case sm.CodeOK:
			return resp.BaseOffset, nil
		case sm.CodeDuplicateSequence:
			if seq != nil { // the original, already at the ack level
				c.stats.duplicates.Add(1)
				return resp.BaseOffset, nil
			}
		}
		berr := &BrokerError{Code: resp.Code, Message: resp.Message, Broker: leader, TP: tp}
		switch {
		case resp.Code.Unknown() && seq == nil:
			return -1, &OutcomeUnknownError{TP: tp, Err: berr}
		case resp.Code.Unknown():
			seq.maybeStored = true
			lastErr = &OutcomeUnknownError{TP: tp, Err: berr}
			c.refresh(ctx) // a leader change, or replicas behind: look again
			continue
		case seq != nil && sequenceRefusal(resp.Code):
			seq.maybeStored = false // the leader checks for duplicates first: this batch is not there
			seq.refused = true
			return -1, berr
		case !resp.Code.Retriable():
			return fail(berr)
		}
		lastErr = berr
		refused, hint = sm.NoNode, sm.NoNode
		if resp.Code == sm.CodeNotLeader {
			refused, hint = leader, resp.LeaderHint
		}
		if resp.Code != sm.CodeNotEnoughReplicas {
			c.refresh(ctx)
		}
	}
}

// resolve waits for metadata to know a topic (it may have just been
// created), then places the records queued for it in order. They fail with
// ErrUnknownTopic once UnknownTopicRetries+1 metadata answers did not know
// the topic, or when metadata could not be had before DeliveryTimeout.
func (p *Producer) resolve(topic string) {
	defer p.wg.Done()
	deadline := time.Now().Add(p.cfg.DeliveryTimeout)
	var resolveErr error
	misses := 0
	for attempt := 0; ; attempt++ {
		err := p.c.refresh(p.ctx)
		if _, ok := p.c.partitionCount(topic); ok {
			break
		}
		if err == nil {
			if misses++; misses > p.cfg.UnknownTopicRetries {
				resolveErr = &BrokerError{Code: sm.CodeUnknownTopic, TP: sm.TopicPartition{Topic: topic, Partition: -1},
					Message: fmt.Sprintf("no such topic in metadata (version %d, asked %d times); create it first (weir create-topic %s PARTITIONS RF)", p.c.metadataVersion(), misses, topic)}
				// Metadata lists only the topics this principal may
				// describe: a broker says whether writing is allowed.
				if berr := p.c.authorizationError(p.ctx, topic); berr != nil {
					resolveErr = berr
				}
				break
			}
		}
		wait := p.c.cfg.Backoff.Delay(attempt)
		if time.Until(deadline) < wait {
			resolveErr = &BrokerError{Code: sm.CodeUnknownTopic, TP: sm.TopicPartition{Topic: topic, Partition: -1}, Message: "no such topic in metadata"}
			if err != nil {
				resolveErr = fmt.Errorf("%w (metadata refresh: %w)", resolveErr, err)
			}
			break
		}
		if sleep(p.ctx, nil, wait) != nil {
			return // aborted: abort failed the queued records
		}
	}
	type failure struct {
		e   *entry
		err error
	}
	var failed []failure
	touched := map[*partQueue]bool{}
	p.mu.Lock()
	q := p.unresolved[topic]
	delete(p.unresolved, topic)
	for _, e := range q {
		if e.state != queued {
			continue
		}
		err := resolveErr
		if err == nil {
			var placed bool
			if placed, err = p.placeLocked(e); placed {
				touched[p.appendLocked(e)] = true
				continue
			}
			if err == nil { // the topic vanished again
				err = &BrokerError{Code: sm.CodeUnknownTopic, TP: sm.TopicPartition{Topic: topic, Partition: -1}, Message: "no such topic in metadata"}
			}
		}
		e.state = dropped
		failed = append(failed, failure{e, err})
	}
	for pq := range touched {
		p.drainLocked(pq)
	}
	p.mu.Unlock()
	for _, f := range failed {
		f.e.cb(failedResult(topic, -1), f.err)
	}
	p.mu.Lock()
	for _, f := range failed {
		p.untrackLocked(f.e)
	}
	p.mu.Unlock()
}

func (p *Producer) trackLocked(e *entry) {
	g := p.gens[p.gen]
	if g == nil {
		g = &flushGen{done: make(chan struct{})}
		p.gens[p.gen] = g
	}
	g.n++
	e.gen = p.gen
}

func (p *Producer) untrackLocked(e *entry) {
	g := p.gens[e.gen]
	if g.n--; g.n == 0 {
		delete(p.gens, e.gen)
		close(g.done)
	}
}

// Flush sends every queued record at once, lingering or not, and waits
// until every record sent before the call has its outcome (callbacks
// included). It returns ctx's error if ctx ends first; the records carry on.
// Records sent during a Flush do not delay it.
func (p *Producer) Flush(ctx context.Context) error {
	p.mu.Lock()
	waits := make([]chan struct{}, 0, len(p.gens))
	for _, g := range p.gens {
		waits = append(waits, g.done)
	}
	p.gen++
	p.flushing++
	for _, pq := range p.parts {
		p.drainLocked(pq)
	}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.flushing--
		p.mu.Unlock()
	}()
	for _, w := range waits {
		select {
		case <-w:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return nil
}

// Close stops taking records (Send and SendAsync then fail with ErrClosed),
// flushes, and waits for the producer's goroutines. If ctx ends before the
// flush completes, queued records fail with ErrClosed (not written) and
// requests in flight with an *OutcomeUnknownError wrapping ErrClosed, and
// Close returns ctx's error. The Client stays open.
func (p *Producer) Close(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	err := p.Flush(ctx)
	if err != nil {
		p.abort()
	}
	p.mu.Lock()
	p.stopped = true
	p.stopTimersLocked()
	p.mu.Unlock()
	p.cancel(ErrClosed)
	p.wg.Wait()
	p.c.mu.Lock()
	delete(p.c.producers, p)
	p.c.mu.Unlock()
	return err
}

// abort stops sending: queued records fail with ErrClosed, requests in
// flight are abandoned (their records get an *OutcomeUnknownError).
func (p *Producer) abort() {
	p.mu.Lock()
	p.closed, p.stopped = true, true
	p.stopTimersLocked()
	var lost []*entry
	if p.cfg.Idempotent { // in order, behind the requests still out
		for _, pq := range p.parts {
			p.failUnsentLocked(pq, ErrClosed)
		}
	}
	for _, pq := range p.parts {
		for _, b := range pq.batches {
			lost = append(lost, b.entries...)
		}
		pq.batches = nil
	}
	for _, q := range p.unresolved {
		lost = append(lost, q...)
	}
	clear(p.unresolved)
	failed := lost[:0]
	for _, e := range lost {
		if e.state == queued {
			e.state = dropped
			failed = append(failed, e)
		}
	}
	p.mu.Unlock()
	p.cancel(ErrClosed)
	for _, e := range failed {
		e.cb(failedResult(e.tp.Topic, e.tp.Partition), ErrClosed)
	}
	p.mu.Lock()
	for _, e := range failed {
		p.untrackLocked(e)
	}
	parts := slices.Collect(maps.Values(p.parts))
	p.mu.Unlock()
	if p.cfg.Idempotent {
		for _, pq := range parts {
			p.deliverIdempotent(pq)
		}
	}
}

func (p *Producer) stopTimersLocked() {
	for _, pq := range p.parts {
		if pq.timer != nil {
			pq.timer.Stop()
			pq.timer = nil
		}
	}
}
