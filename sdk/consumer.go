package sdk

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/weirmq/weir/io/codec"
	"github.com/weirmq/weir/sm"
)

// ConsumerConfig configures a Consumer. Zero values mean the defaults
// documented on each field.
type ConsumerConfig struct {
	// MaxRecords bounds the records one fetch returns per partition (zero:
	// the broker's default, 10000).
	MaxRecords int32
	// PollInterval is how long Poll waits before fetching again after a
	// round in which no partition had new records (default 100 ms). Brokers
	// answer fetches at once, so this is the consumer's idle latency.
	PollInterval time.Duration
	// FetchesInFlight bounds the fetches Poll keeps in flight for one
	// partition (default 4; 1 fetches one at a time). A partition with a
	// backlog (the last fetch stopped at the broker's bounds, below the
	// high watermark) is read in one round as that many consecutive
	// ranges, each as large as the last answer, so the broker prepares the
	// next answers while earlier ones travel: offsets are dense, so the
	// ranges' starts are known in advance. At the log's end it fetches one
	// at a time. Memory: up to this many answers per partition.
	FetchesInFlight int

	// Consumer groups. With Group set the consumer is group-managed: its
	// group assigns it partitions of Topics (Assign and AssignTopic are
	// ErrGroupManaged), Poll drives the membership, and Commit, Mark,
	// CommitMarked and Receive commit progress (see group.go's overview).

	// Group is the consumer group's ID ("" for explicit assignment).
	Group string
	// Topics the consumer subscribes to (required with Group).
	Topics []string
	// AutoCommit commits what the application has been given every
	// AutoCommitInterval (default 5 s), before a partition is revoked,
	// and at Close: at-least-once delivery.
	AutoCommit         bool
	AutoCommitInterval time.Duration
	// StartOffset is where to read a partition the group has no committed
	// offset for: StartEarliest (the zero value: nothing is skipped) or
	// StartLatest. It is also where a group consumer goes when its position
	// is outside the log (a committed offset retention deleted, a Seek past
	// the end): the log start, or the high watermark (Kafka's
	// auto.offset.reset).
	StartOffset StartOffset
	// SessionTimeout is how long the coordinator keeps the member without
	// a heartbeat (default 10 s; brokers bound it); HeartbeatInterval how
	// often it heartbeats (default SessionTimeout/3, below SessionTimeout).
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	// RebalanceTimeout bounds how long a rebalance waits for the members
	// to rejoin (default 30 s).
	RebalanceTimeout time.Duration
	// Assignor is the partition assignment strategy: "cooperative-sticky"
	// (the default: balanced, moves only what it must, and members keep
	// reading during a rebalance) or "range" (Kafka's eager RangeAssignor).
	Assignor string
	// InstanceID makes the consumer a static member (KIP-345): a restart
	// with the same InstanceID within SessionTimeout takes its assignment
	// back without a rebalance. Close does not leave the group then.
	InstanceID string
	// OnAssigned, OnRevoked and OnLost are told of partitions assigned,
	// given up in an orderly way (after their commit, when AutoCommit), and
	// lost (the group moved on without this consumer; nothing could be
	// committed). See RebalanceFunc.
	OnAssigned, OnRevoked, OnLost RebalanceFunc
}

// DefaultFetchesInFlight is ConsumerConfig.FetchesInFlight's default.
const DefaultFetchesInFlight = 4

// Record is one consumed record.
type Record struct {
	// TP and Offset say where the record is: offsets are dense per
	// partition, so Offset+1 is the next record.
	TP     TopicPartition
	Offset sm.Offset
	// Key and Value are the record as produced, Headers its headers (nil
	// when none). They are the caller's to keep; the SDK does not reuse
	// them.
	Key, Value []byte
	Headers    []Header
	// Timestamp is the record's time as its topic keeps it (Kafka's
	// ConsumerRecord.timestamp): its create time as the producer gave it
	// when the topic's message_timestamp_type is create_time (CreateTime
	// true), else the time its leader appended it.
	Timestamp  time.Time
	CreateTime bool
	// LeaderEpoch is the epoch of the leader that wrote the record.
	LeaderEpoch sm.Epoch
}

// Consumer reads assigned partitions from their leaders, each from its own
// position. It reads only committed records (below the high watermark), and
// never from a leader older than one it has already seen: every fetch
// carries the highest leader epoch seen for the partition, in metadata or in
// replies. Positions live in the Consumer; a group consumer
// (ConsumerConfig.Group) also commits them to its group. Its methods are safe for concurrent use,
// but its positions are one cursor per partition.
type Consumer struct {
	c    *Client
	cfg  ConsumerConfig
	done chan struct{} // closed by Close (or the Client's)

	mu       sync.Mutex
	closed   bool
	assigned []TopicPartition
	cursors  map[TopicPartition]*cursor

	// grp is the group membership (nil: explicit assignment).
	grp *groupState
	// inbox holds fetched records Receive has not handed out yet; acks the
	// received, unacknowledged ones per partition.
	inbox []*Delivery
	acks  map[TopicPartition]*ackState
	// toInbox: Receive is in use, polls queue records for it.
	toInbox bool
}

// cursor is one assigned partition's read state.
type cursor struct {
	pos   sm.Offset
	epoch sm.Epoch // the highest leader epoch seen
	seq   uint64   // bumped by every Seek, so a fetch from before it is discarded
	// beginning says the position is "the log start" (SeekToBeginning):
	// when retention moved the log start past pos, reading starts there.
	beginning bool
	// span is how many records the last answer held when the broker's
	// bounds, not the high watermark, ended it (zero: unknown, or the
	// partition was read to its end); hw the high watermark it named.
	span sm.Offset
	hw   sm.Offset
	// paused partitions are not fetched until resumed (Pause).
	paused bool
}

// NewConsumer makes a consumer on c's connections, with nothing assigned.
// With cfg.Group set it is a group consumer, which joins its group at the
// first Poll or Receive. It fails with ErrNoClient when c is nil, with
// ErrClosed when c is closed, and with an error wrapping
// ErrInvalidRequest naming the field when the group configuration is
// wrong (an unknown Assignor, no Topics, ...).
func (c *Client) NewConsumer(cfg ConsumerConfig) (*Consumer, error) {
	if c == nil {
		return nil, ErrNoClient
	}
	cfg.PollInterval = orDefault(cfg.PollInterval, 100*time.Millisecond)
	cfg.MaxRecords = max(cfg.MaxRecords, 0)
	cfg, assignor, err := groupConfig(cfg)
	if err != nil {
		return nil, err
	}
	k := &Consumer{c: c, cfg: cfg, done: make(chan struct{}), cursors: map[TopicPartition]*cursor{}, acks: map[TopicPartition]*ackState{}}
	if assignor != nil {
		k.grp = newGroupState(assignor)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	c.consumers[k] = struct{}{}
	return k, nil
}

func (k *Consumer) markClosed() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.closed {
		k.closed = true
		close(k.done)
	}
}

// Close ends the consumer: Poll returns ErrClosed. The Client stays open.
// A group consumer then commits what it delivered (AutoCommit), runs
// OnRevoked for its partitions and leaves the group (a static member
// stays), each step bounded by the Client's RequestTimeout; the error says
// what of that failed. Closing the Client instead
// stops a group consumer without committing or leaving (the coordinator
// removes it after SessionTimeout).
func (k *Consumer) Close() error {
	k.mu.Lock()
	already := k.closed
	k.mu.Unlock()
	k.markClosed()
	var err error
	if k.grp != nil && !already {
		err = k.closeGroup()
	}
	k.c.mu.Lock()
	delete(k.c.consumers, k)
	k.c.mu.Unlock()
	return err
}

// Assign sets the partitions Poll reads, replacing the previous assignment.
// Partitions assigned before keep their positions; new ones start at offset
// 0, the beginning of the log. A group consumer's partitions are its
// group's to assign: Assign is ErrGroupManaged.
func (k *Consumer) Assign(tps ...TopicPartition) error {
	if k.grp != nil {
		return fmt.Errorf("%w: Assign on a consumer of group %q", ErrGroupManaged, k.cfg.Group)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	kept := map[TopicPartition]*cursor{}
	k.assigned = k.assigned[:0]
	for _, tp := range tps {
		if _, dup := kept[tp]; dup {
			continue
		}
		cur := k.cursors[tp]
		if cur == nil {
			cur = &cursor{}
		}
		kept[tp] = cur
		k.assigned = append(k.assigned, tp)
	}
	k.cursors = kept
	return nil
}

// AssignTopic assigns exactly the partitions of topic, as metadata lists
// them (see Assign), and returns them. To read several topics, Assign the
// union of their Partitions.
func (k *Consumer) AssignTopic(ctx context.Context, topic string) ([]TopicPartition, error) {
	if k.grp != nil {
		return nil, fmt.Errorf("%w: AssignTopic on a consumer of group %q", ErrGroupManaged, k.cfg.Group)
	}
	parts, err := k.c.Partitions(ctx, topic)
	if err != nil {
		return nil, err
	}
	tps := make([]TopicPartition, len(parts))
	for i, p := range parts {
		tps[i] = p.TP
	}
	return tps, k.Assign(tps...)
}

// Assignment returns the assigned partitions, in assignment order.
func (k *Consumer) Assignment() []TopicPartition {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.assigned)
}

// Seek sets the offset the next Poll reads tp from. A Poll in progress
// discards what it fetched for tp from the old position. In a group
// consumer the next commit of tp commits the new position as an explicit
// seek (which may move the committed offset back), and records received
// from the old position are no longer acknowledged.
func (k *Consumer) Seek(tp TopicPartition, offset sm.Offset) error {
	return k.seek(tp, offset, true)
}

// seek is Seek; flag says whether a group's next commit of tp is a seek.
func (k *Consumer) seek(tp TopicPartition, offset sm.Offset, flag bool) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	cur := k.cursors[tp]
	switch {
	case cur == nil:
		return fmt.Errorf("sdk: Seek: %v is not assigned", tp)
	case offset < 0:
		return fmt.Errorf("%w: Seek: offset %d", ErrInvalidRequest, offset)
	}
	cur.pos = offset
	cur.beginning = false
	cur.seq++
	k.movedLocked(tp, offset, flag)
	return nil
}

// movedLocked updates the delivery state after tp's position moved to
// off: by an explicit seek (Seek, SeekToBeginning, ...; a group commits it
// as a seek, and messages received before are no longer acknowledged), or
// by Nack (the records from off on are received again).
func (k *Consumer) movedLocked(tp TopicPartition, off sm.Offset, explicit bool) {
	k.inbox = slices.DeleteFunc(k.inbox, func(m *Delivery) bool { return m.TP == tp })
	g := k.grp
	if explicit {
		delete(k.acks, tp)
		if g != nil {
			g.seekedLocked(tp, off, true)
		}
		return
	}
	if st := k.acks[tp]; st != nil {
		st.truncate(off)
		if g != nil {
			g.marked[tp] = st.mark()
		}
	}
	if g != nil {
		g.delivered[tp] = off
	}
}

// SeekToBeginning moves the given partitions, or all assigned ones when
// none are given, to their log start: offset 0, or the first offset
// retention kept. Unassigned partitions are ignored.
func (k *Consumer) SeekToBeginning(tps ...TopicPartition) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(tps) == 0 {
		tps = k.assigned
	}
	for _, tp := range tps {
		if cur := k.cursors[tp]; cur != nil {
			cur.pos = 0
			cur.beginning = true
			cur.seq++
			k.movedLocked(tp, 0, true)
		}
	}
}

// SeekToEnd moves the given partitions, or all assigned ones when none are
// given, to their current high watermarks, so Poll returns only records
// committed from now on. It asks each leader (retrying retriable failures
// until ctx ends).
func (k *Consumer) SeekToEnd(ctx context.Context, tps ...TopicPartition) error {
	if len(tps) == 0 {
		tps = k.Assignment()
	}
	for _, tp := range tps {
		k.mu.Lock()
		cur := k.cursors[tp]
		var job fetchJob
		if cur != nil {
			job = fetchJob{tp: tp, pos: math.MaxInt64, epoch: cur.epoch}
		}
		k.mu.Unlock()
		if cur == nil {
			return fmt.Errorf("sdk: SeekToEnd: %v is not assigned", tp)
		}
		for attempt := 0; ; attempt++ {
			// Past any possible end, the leader answers OFFSET_OUT_OF_RANGE
			// with its high watermark, without reading its log.
			r := k.fetch(ctx, job)
			if errors.Is(r.err, ErrOffsetOutOfRange) {
				if err := k.Seek(tp, r.hw); err != nil {
					return err
				}
				break
			}
			if r.err == nil {
				return fmt.Errorf("sdk: SeekToEnd: %v answered a fetch at offset %d", tp, job.pos)
			}
			if r.refresh {
				k.c.refresh(ctx)
			}
			if !r.retry {
				return r.err
			}
			job.epoch = max(job.epoch, r.epoch)
			if err := sleep(ctx, k.done, k.c.cfg.Backoff.Delay(attempt)); err != nil {
				return fmt.Errorf("%w (while retrying after: %v)", err, r.err)
			}
		}
	}
	return nil
}

// SeekToTime moves the given partitions, or all assigned ones when none
// are given, to the first committed record stamped at or after t
// (Client.OffsetForTime); a partition with no record that recent yet moves
// to its high watermark, where such records will appear.
func (k *Consumer) SeekToTime(ctx context.Context, t time.Time, tps ...TopicPartition) error {
	if len(tps) == 0 {
		tps = k.Assignment()
	}
	for _, tp := range tps {
		if _, ok := k.Position(tp); !ok {
			return fmt.Errorf("sdk: SeekToTime: %v is not assigned", tp)
		}
		to, err := k.c.OffsetForTime(ctx, tp, t)
		if err != nil {
			return fmt.Errorf("sdk: SeekToTime %v: %w", tp, err)
		}
		if err := k.Seek(tp, to.Offset); err != nil {
			return err
		}
	}
	return nil
}

// Pause stops fetching the given partitions (all assigned ones when none
// are given) until Resume, keeping their positions: Poll returns no more
// of their records, including ones a Poll in progress fetched for them, and
// waits for the others' (a Poll with every partition paused waits until
// one is resumed or ctx ends). Kafka's consumer pause, for back pressure.
// A partition not assigned is an error, and nothing is paused.
func (k *Consumer) Pause(tps ...TopicPartition) error {
	return k.setPaused(true, "Pause", tps)
}

// Resume fetches paused partitions again, from where they were paused.
func (k *Consumer) Resume(tps ...TopicPartition) error {
	return k.setPaused(false, "Resume", tps)
}

// Paused returns the paused partitions, in assignment order.
func (k *Consumer) Paused() []TopicPartition {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []TopicPartition
	for _, tp := range k.assigned {
		if k.cursors[tp].paused {
			out = append(out, tp)
		}
	}
	return out
}

func (k *Consumer) setPaused(paused bool, op string, tps []TopicPartition) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(tps) == 0 {
		tps = k.assigned
	}
	for _, tp := range tps {
		if k.cursors[tp] == nil {
			return fmt.Errorf("sdk: %s: %v is not assigned", op, tp)
		}
	}
	for _, tp := range tps {
		cur := k.cursors[tp]
		if paused && !cur.paused {
			cur.seq++ // what a Poll in progress fetched for it is dropped
		}
		cur.paused = paused
	}
	return nil
}

// Position is the offset the next Poll reads tp from; false if tp is not
// assigned.
func (k *Consumer) Position(tp TopicPartition) (sm.Offset, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if cur := k.cursors[tp]; cur != nil {
		return cur.pos, true
	}
	return 0, false
}

// Poll returns the next records of the assigned partitions, in assignment
// order and, within a partition, offset order, and advances the positions
// past them. It fetches every partition from its leader at once; if none
// has new records it waits PollInterval (or backoff, when a leader was
// unavailable) and tries again, until records arrive, ctx ends (then it
// returns ctx's error) or a partition fails for good.
//
// Leadership changes (NOT_LEADER, LEADER_NOT_AVAILABLE, UNKNOWN_LEADER_EPOCH,
// FENCED_LEADER_EPOCH, unknown leader, no reply) are handled inside: Poll
// refreshes metadata and fetches from the new leader. Other failures, such
// as ErrOffsetOutOfRange after a Seek past the end, are returned as
// *BrokerError values (joined, one per partition), together with the
// records other partitions returned in the same round; the failed
// partition's position is unchanged.
//
// A group consumer's Poll first starts its membership (the first call),
// counts what the previous Poll returned as consumed (what AutoCommit
// commits), and waits while the group has assigned it nothing; it returns
// the membership's error when that ended for good (ErrFencedInstanceID,
// ErrInvalidGroup).
func (k *Consumer) Poll(ctx context.Context) ([]Record, error) {
	if k.grp != nil {
		if err := k.startGroup(); err != nil {
			return nil, err
		}
		k.mu.Lock()
		maps.Copy(k.grp.consumed, k.grp.delivered)
		k.toInbox = false
		k.mu.Unlock()
	}
	return k.poll(ctx)
}

// poll is Poll's fetch loop.
func (k *Consumer) poll(ctx context.Context) ([]Record, error) {
	failures := 0
	for {
		if k.grp != nil {
			k.mu.Lock()
			err := k.grp.fatal
			k.mu.Unlock()
			if err != nil {
				return nil, err
			}
		}
		recs, retry, err := k.pollOnce(ctx)
		if len(recs) > 0 || err != nil {
			return recs, err
		}
		wait := k.cfg.PollInterval
		if retry {
			wait = k.c.cfg.Backoff.Delay(failures)
			failures++
		} else {
			failures = 0
		}
		if err := sleep(ctx, k.done, wait); err != nil {
			return nil, err
		}
	}
}

type fetchJob struct {
	tp    TopicPartition
	cur   *cursor // the cursor it reads for (a partition revoked and assigned again has a new one)
	pos   sm.Offset
	epoch sm.Epoch
	seq   uint64
	// span and hw are the cursor's (pipelining); maxRecords is the
	// request's bound.
	span, hw   sm.Offset
	maxRecords int32
}

type fetchResult struct {
	recs  []Record
	next  sm.Offset // the position after recs
	epoch sm.Epoch  // the highest leader epoch seen
	hw    sm.Offset
	// logStart is the log start the leader named with OFFSET_OUT_OF_RANGE.
	logStart sm.Offset
	// span is how many records the first answer held when the broker's
	// bounds ended it below the high watermark (zero otherwise).
	span    sm.Offset
	err     error
	retry   bool // err is transient: try again later
	refresh bool // metadata is probably stale
}

// pollOnce runs one fetch round over the assignment.
func (k *Consumer) pollOnce(ctx context.Context) (recs []Record, retry bool, err error) {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return nil, false, ErrClosed
	}
	if len(k.assigned) == 0 {
		k.mu.Unlock()
		if k.grp != nil {
			return nil, false, nil // wait for the group to assign some
		}
		return nil, false, errors.New("sdk: Poll: no partitions assigned")
	}
	jobs := make([]fetchJob, 0, len(k.assigned))
	for _, tp := range k.assigned {
		if cur := k.cursors[tp]; !cur.paused {
			jobs = append(jobs, fetchJob{tp: tp, cur: cur, pos: cur.pos, epoch: cur.epoch, seq: cur.seq, span: cur.span, hw: cur.hw, maxRecords: k.cfg.MaxRecords})
		}
	}
	k.mu.Unlock()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() { // Close interrupts fetches in flight
		select {
		case <-k.done:
			cancel(ErrClosed)
		case <-ctx.Done():
		}
	}()
	k.c.maybeRefresh(ctx)
	results := make([]fetchResult, len(jobs))
	var wg sync.WaitGroup
	for i := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = k.fetchRanges(ctx, jobs[i])
		}()
	}
	wg.Wait()

	var errs []error
	refresh := false
	k.mu.Lock()
	for i, r := range results {
		cur := k.cursors[jobs[i].tp]
		if cur == nil || cur != jobs[i].cur {
			continue // unassigned meanwhile
		}
		cur.epoch = max(cur.epoch, r.epoch)
		if cur.seq != jobs[i].seq {
			continue // moved by Seek meanwhile
		}
		if len(r.recs) > 0 {
			recs = append(recs, r.recs...)
			cur.pos = r.next
			if k.grp != nil {
				k.grp.delivered[jobs[i].tp] = r.next
			}
			if k.toInbox {
				for _, rec := range r.recs {
					k.inbox = append(k.inbox, &Delivery{Record: rec, k: k})
				}
			}
		}
		cur.span, cur.hw = r.span, max(cur.hw, r.hw)
		if len(r.recs) > 0 {
			cur.beginning = false
		}
		switch {
		case r.err == nil:
		case cur.beginning && errors.Is(r.err, ErrOffsetOutOfRange) && r.logStart > cur.pos:
			// Retention deleted the records before the log start: the
			// beginning is there now.
			cur.pos = r.logStart
			retry = true
		case k.grp != nil && errors.Is(r.err, ErrOffsetOutOfRange):
			// The committed offset (or a Seek) is outside the log: restart
			// per StartOffset, Kafka's auto.offset.reset, and commit the
			// new position as a seek.
			to := r.logStart
			if k.cfg.StartOffset == StartLatest {
				to = max(r.hw, r.logStart)
			}
			k.c.cfg.Log.Warn().Str("group", k.cfg.Group).Stringer("tp", jobs[i].tp).Int64("from", int64(cur.pos)).Int64("to", int64(to)).
				Stringer("start", k.cfg.StartOffset).Msg("sdk: position out of range; reset")
			cur.pos, cur.beginning = to, false
			cur.seq++
			k.movedLocked(jobs[i].tp, to, true)
			retry = true
		case r.retry:
			retry = true
		default:
			errs = append(errs, r.err)
		}
		refresh = refresh || r.refresh
	}
	closed := k.closed
	k.mu.Unlock()
	switch {
	case closed:
		return recs, false, ErrClosed
	case ctx.Err() != nil: // one error, not one per partition
		return recs, false, context.Cause(ctx)
	}
	if refresh && ctx.Err() == nil {
		k.c.refresh(ctx)
	}
	return recs, retry, errors.Join(errs...)
}

// fetchRanges reads one partition in one round: one fetch, or, when the
// partition has a backlog of more than one answer, up to FetchesInFlight
// fetches at once of consecutive ranges of the last answer's size (see
// ConsumerConfig.FetchesInFlight). The answers are joined in offset order
// while each one reaches the next one's start; a later range that fails or
// leaves a gap (an answer cut short by the broker's byte bounds) ends the
// round there, and the next round reads on from the end. Only the first
// fetch's failure is reported: a later one reads ahead of the position.
func (k *Consumer) fetchRanges(ctx context.Context, job fetchJob) fetchResult {
	depth := 1
	if job.span > 0 && job.hw > job.pos {
		want := int((job.hw - job.pos + job.span - 1) / job.span)
		depth = min(want, k.depth())
	}
	if depth <= 1 {
		res := k.fetch(ctx, job)
		res.span = answerSpan(job.pos, res)
		return res
	}
	jobs := make([]fetchJob, depth)
	results := make([]fetchResult, depth)
	var wg sync.WaitGroup
	for i := range jobs {
		jobs[i] = job
		jobs[i].pos = job.pos + sm.Offset(i)*job.span
		jobs[i].maxRecords = int32(min(job.span, math.MaxInt32))
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = k.fetch(ctx, jobs[i])
		}()
	}
	wg.Wait()
	out := results[0]
	out.span = answerSpan(job.pos, out)
	for i := 1; i < depth && out.err == nil && len(out.recs) > 0; i++ {
		r := results[i]
		out.epoch, out.hw = max(out.epoch, r.epoch), max(out.hw, r.hw)
		if r.err != nil || len(r.recs) == 0 || jobs[i].pos > out.next {
			break // a failure or a gap: the next round reads on from out.next
		}
		for _, rec := range r.recs {
			if rec.Offset >= out.next {
				out.recs = append(out.recs, rec)
				out.next = rec.Offset + 1
			}
		}
	}
	return out
}

// depth is the configured fetches in flight per partition.
func (k *Consumer) depth() int {
	if k.cfg.FetchesInFlight > 0 {
		return k.cfg.FetchesInFlight
	}
	return DefaultFetchesInFlight
}

// answerSpan is how many records a fetch at pos answered when the broker's
// bounds ended the answer below the high watermark: the size of the next
// ranges to read at once. Zero when the answer reached the high watermark
// (the log's end: nothing to read ahead) or failed.
func answerSpan(pos sm.Offset, r fetchResult) sm.Offset {
	if r.err != nil || len(r.recs) == 0 || r.next >= r.hw {
		return 0
	}
	return r.next - pos
}

// fetch reads one partition once from its leader.
func (k *Consumer) fetch(ctx context.Context, job fetchJob) fetchResult {
	c := k.c
	leader, mEpoch, err := c.leaderOf(job.tp)
	if errors.Is(err, ErrUnknownTopic) {
		c.refresh(ctx) // the topic may be new
		leader, mEpoch, err = c.leaderOf(job.tp)
	}
	res := fetchResult{epoch: max(job.epoch, mEpoch), next: job.pos}
	stopped := func() bool { return ctx.Err() != nil || c.isClosed() }
	switch {
	case errors.Is(err, ErrUnknownTopic):
		res.err = err
		return res
	case err != nil:
		res.err, res.retry, res.refresh = err, true, true
		return res
	}
	if err := c.connect(ctx, leader); err != nil {
		res.err, res.retry, res.refresh = err, !stopped() && !revoked(err), true
		return res
	}
	reqID := c.nextReqID()
	req := sm.FetchRequest{ReqID: reqID, TP: job.tp, Offset: job.pos, MaxRecords: job.maxRecords, CurrentLeaderEpoch: res.epoch}
	m, _, err := c.roundTrip(ctx, leader, reqID, req, c.cfg.RequestTimeout)
	if err != nil {
		// A fetch changes nothing, so a lost reply is only a retry.
		res.err, res.retry, res.refresh = err, (errors.Is(err, ErrTimeout) || errors.Is(err, ErrConnectionLost)) && !stopped(), true
		return res
	}
	resp, ok := m.(sm.FetchResponse)
	if !ok {
		res.err, res.retry = fmt.Errorf("sdk: %v answered a fetch with %T", leader, m), true
		return res
	}
	res.epoch = max(res.epoch, resp.LeaderEpoch)
	res.hw = resp.HighWatermark
	if resp.Code != sm.CodeOK {
		berr := &BrokerError{Code: resp.Code, Message: resp.Message, Broker: leader, TP: job.tp}
		if resp.Code == sm.CodeOffsetOutOfRange {
			if resp.Message == "" {
				berr.Message = fmt.Sprintf("offset %d outside [log start %d, high watermark %d]", job.pos, resp.LogStart, resp.HighWatermark)
			}
			res.logStart = resp.LogStart
		}
		res.err = berr
		res.retry = resp.Code.Retriable()
		res.refresh = res.retry && resp.Code != sm.CodeNotEnoughReplicas
		return res
	}
	// The first batch may start before the position: skip what was read.
	for _, b := range resp.Batches {
		recs, err := b.Decode(codec.Codecs{}, sm.BatchFrameMax)
		if err != nil {
			// A batch that does not decompress: the records before it are
			// returned; the next fetch, from it, reports the error.
			if len(res.recs) == 0 {
				res.err = fmt.Errorf("sdk: %v from %v: %w", job.tp, leader, err)
			}
			return res
		}
		for i, r := range recs {
			off := b.BaseOffset + sm.Offset(i)
			if off < res.next {
				continue
			}
			rec := Record{TP: job.tp, Offset: off, Key: r.Key, Value: r.Value, Headers: r.Headers, LeaderEpoch: b.Epoch,
				Timestamp: time.UnixMilli(b.Timestamp)}
			if b.CreateTime && r.Timestamp != 0 {
				rec.Timestamp, rec.CreateTime = time.UnixMilli(r.Timestamp), true
			}
			res.recs = append(res.recs, rec)
			res.next = off + 1
		}
	}
	return res
}
