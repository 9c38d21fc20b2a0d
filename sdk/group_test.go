package sdk

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/group"
)

// groupTestConfig is a group consumer config with test-sized timeouts.
func groupTestConfig(groupID string, topics ...string) ConsumerConfig {
	return ConsumerConfig{
		Group: groupID, Topics: topics, PollInterval: 10 * time.Millisecond,
		SessionTimeout: time.Second, HeartbeatInterval: 50 * time.Millisecond, RebalanceTimeout: 2 * time.Second,
		AutoCommitInterval: 50 * time.Millisecond,
	}
}

// appendRecords appends n records to tp's log, values "tp:offset".
func (f *fakeCluster) appendRecords(tp sm.TopicPartition, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.parts[tp]
	base := f.endLocked(tp)
	recs := make([]sm.Record, n)
	for i := range recs {
		recs[i] = sm.Record{Value: fmt.Appendf(nil, "%v:%d", tp, base+sm.Offset(i))}
	}
	b := sm.Batch{BaseOffset: base, Epoch: st.LeaderEpoch, Records: recs}
	b.Seal()
	f.logs[tp] = append(f.logs[tp], b)
}

// cutOff cuts client id off from the coordinators: its group requests go
// unanswered (refuse sm.CodeOK) or are refused with refuse; none undoes it.
func (f *fakeCluster) cutOff(id sm.NodeID, refuse sm.Code) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id == sm.NoNode {
		f.groups.cut = nil
		return
	}
	f.groups.cut = func(from sm.NodeID, _ sm.Message) (sm.Code, bool) { return refuse, from == id }
}

// member is a group consumer polled in the background, with what it read
// and what its callbacks were told.
type member struct {
	t      testing.TB
	name   string
	c      *Client
	k      *Consumer
	cancel context.CancelFunc
	done   chan struct{}

	mu                      sync.Mutex
	recs                    []Record
	assigned, revoked, lost []TopicPartition
	err                     error
}

// startMember makes a consumer on its own client and polls it until the
// test (or stop) ends it.
func startMember(t testing.TB, f *fakeCluster, name string, cfg ConsumerConfig) *member {
	t.Helper()
	return startMemberOn(t, f.newClient(f.clientConfig()), name, cfg)
}

// startMemberOn is startMember on client c.
func startMemberOn(t testing.TB, c *Client, name string, cfg ConsumerConfig) *member {
	t.Helper()
	m := &member{t: t, name: name, c: c, done: make(chan struct{})}
	cfg.OnAssigned = func(_ context.Context, tps []TopicPartition) { m.note(&m.assigned, tps) }
	cfg.OnRevoked = func(_ context.Context, tps []TopicPartition) { m.note(&m.revoked, tps) }
	cfg.OnLost = func(_ context.Context, tps []TopicPartition) { m.note(&m.lost, tps) }
	m.k = newConsumer(t, m.c, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			recs, err := m.k.Poll(ctx)
			m.mu.Lock()
			m.recs = append(m.recs, recs...)
			if err != nil && ctx.Err() == nil && !errors.Is(err, ErrClosed) {
				m.err = err
			}
			m.mu.Unlock()
			if errors.Is(err, ErrClosed) || fatalGroupError(err) {
				return
			}
		}
	}()
	t.Cleanup(m.stop)
	return m
}

func (m *member) note(into *[]TopicPartition, tps []TopicPartition) {
	m.mu.Lock()
	defer m.mu.Unlock()
	*into = append(*into, tps...)
}

// stop closes the consumer (commit, leave) and ends its poll loop.
func (m *member) stop() {
	select {
	case <-m.done:
		return
	default:
	}
	if err := m.k.Close(); err != nil {
		m.t.Errorf("%s: Close: %v", m.name, err)
	}
	m.cancel()
	<-m.done
}

func (m *member) read() []Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.recs)
}

func (m *member) callbacks() (assigned, revoked, lost []TopicPartition) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.assigned), slices.Clone(m.revoked), slices.Clone(m.lost)
}

// balanced reports whether the members' assignments partition all of tps
// exactly (each partition owned by exactly one) and each member holds
// between lo and hi partitions.
func balanced(tps []TopicPartition, lo, hi int, ms ...*member) bool {
	owner := map[TopicPartition]int{}
	for _, m := range ms {
		a := m.k.Assignment()
		if len(a) < lo || len(a) > hi {
			return false
		}
		for _, tp := range a {
			owner[tp]++
		}
	}
	if len(owner) != len(tps) {
		return false
	}
	for _, tp := range tps {
		if owner[tp] != 1 {
			return false
		}
	}
	return true
}

func topicTPs(topic string, n int32) []TopicPartition {
	out := make([]TopicPartition, n)
	for i := range out {
		out[i] = TopicPartition{Topic: topic, Partition: int32(i)}
	}
	return out
}

// readAll reports whether the members together read every record of tps
// (up to per records each).
func readAll(tps []TopicPartition, per int, ms ...*member) bool {
	got := map[TopicPartition]map[sm.Offset]bool{}
	for _, m := range ms {
		for _, r := range m.read() {
			if got[r.TP] == nil {
				got[r.TP] = map[sm.Offset]bool{}
			}
			got[r.TP][r.Offset] = true
		}
	}
	for _, tp := range tps {
		if len(got[tp]) < per {
			return false
		}
	}
	return true
}

func describe(ms ...*member) string {
	var b strings.Builder
	for _, m := range ms {
		id, gen := m.k.MemberID()
		fmt.Fprintf(&b, "%s(%s gen %d): %v; ", m.name, id, gen, m.k.Assignment())
	}
	return b.String()
}

func eventuallyGroup(t testing.TB, what string, cond func() bool, ms ...*member) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %s", what, describe(ms...))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestGroupSharesPartitions(t *testing.T) {
	for _, assignor := range []string{"cooperative-sticky", "range"} {
		t.Run(assignor, func(t *testing.T) {
			f := newFakeCluster(t, 101, 102, 103)
			f.createTopic("t", 6, 101, 102, 103)
			tps := topicTPs("t", 6)
			for _, tp := range tps {
				f.appendRecords(tp, 10)
			}
			cfg := groupTestConfig("g-"+assignor, "t")
			cfg.Assignor = assignor
			a := startMember(t, f, "a", cfg)
			b := startMember(t, f, "b", cfg)
			eventuallyGroup(t, "two members sharing 6 partitions 3/3", func() bool { return balanced(tps, 3, 3, a, b) }, a, b)
			c := startMember(t, f, "c", cfg)
			eventuallyGroup(t, "three members sharing 6 partitions 2/2/2", func() bool { return balanced(tps, 2, 2, a, b, c) }, a, b, c)
			eventuallyGroup(t, "every record read", func() bool { return readAll(tps, 10, a, b, c) }, a, b, c)

			// One closes: its partitions move to the other two.
			c.stop()
			eventuallyGroup(t, "two members sharing 6 partitions after one left", func() bool { return balanced(tps, 3, 3, a, b) }, a, b)
			for _, tp := range tps {
				f.appendRecords(tp, 5)
			}
			eventuallyGroup(t, "the new records read", func() bool { return readAll(tps, 15, a, b, c) }, a, b)
			for _, m := range []*member{a, b, c} {
				if m.err != nil {
					t.Errorf("%s: Poll: %v", m.name, m.err)
				}
				if _, _, lost := m.callbacks(); len(lost) > 0 {
					t.Errorf("%s lost %v in orderly rebalances", m.name, lost)
				}
			}
			gd, err := a.c.DescribeGroup(testCtx(t), cfg.Group)
			if err != nil {
				t.Fatal(err)
			}
			if gd.State != "Stable" || gd.Protocol != assignor || len(gd.Members) != 2 {
				t.Errorf("describe: %+v", gd)
			}
			var all []TopicPartition
			for _, m := range gd.Members {
				all = append(all, m.Assignment...)
				if !slices.Equal(m.Topics, []string{"t"}) {
					t.Errorf("member %s subscribes to %v", m.MemberID, m.Topics)
				}
			}
			if got := sortTPs(all); !slices.Equal(got, tps) {
				t.Errorf("described assignment %v, want %v", got, tps)
			}
		})
	}
}

func TestGroupCooperativeMovesOnlyWhatItMust(t *testing.T) {
	f := newFakeCluster(t, 101, 102)
	f.createTopic("t", 6, 101, 102)
	tps := topicTPs("t", 6)
	cfg := groupTestConfig("sticky", "t")
	a := startMember(t, f, "a", cfg)
	b := startMember(t, f, "b", cfg)
	eventuallyGroup(t, "3/3", func() bool { return balanced(tps, 3, 3, a, b) }, a, b)
	beforeA, beforeB := a.k.Assignment(), b.k.Assignment()
	// a may have held everything before b joined: count from here.
	_, revokedA, _ := a.callbacks()
	_, revokedB, _ := b.callbacks()
	c := startMember(t, f, "c", cfg)
	eventuallyGroup(t, "2/2/2", func() bool { return balanced(tps, 2, 2, a, b, c) }, a, b, c)
	for _, m := range []struct {
		m       *member
		before  []TopicPartition
		revoked int
	}{{a, beforeA, len(revokedA)}, {b, beforeB, len(revokedB)}} {
		after := sortTPs(m.m.k.Assignment())
		if len(minus(after, sortTPs(m.before))) > 0 {
			t.Errorf("%s gained %v while a member joined (had %v)", m.m.name, minus(after, sortTPs(m.before)), m.before)
		}
		_, revoked, lost := m.m.callbacks()
		if revoked = revoked[m.revoked:]; len(revoked) != 1 || len(lost) > 0 {
			t.Errorf("%s: revoked %v, lost %v: want exactly one partition revoked", m.m.name, revoked, lost)
		}
	}
	if assigned, revoked, _ := c.callbacks(); len(assigned) != 2 || len(revoked) != 0 {
		t.Errorf("c: assigned %v, revoked %v", assigned, revoked)
	}
}

// A member cut off from its coordinator (its heartbeats unanswered, or
// refused) is removed after the session timeout and its partitions go to
// the others; it is told they are lost, and joins again when it can.
func TestGroupMemberThatStopsHeartbeatingIsReplaced(t *testing.T) {
	for _, mode := range []struct {
		name   string
		refuse sm.Code
	}{{"silent", sm.CodeOK}, {"refused", sm.CodeCoordinatorNotAvailable}} {
		t.Run(mode.name, func(t *testing.T) {
			f := newFakeCluster(t, 101, 102)
			f.createTopic("t", 6, 101, 102)
			tps := topicTPs("t", 6)
			cfg := groupTestConfig("hb", "t")
			a := startMember(t, f, "a", cfg)
			b := startMember(t, f, "b", cfg)
			c := startMember(t, f, "c", cfg)
			eventuallyGroup(t, "2/2/2", func() bool { return balanced(tps, 2, 2, a, b, c) }, a, b, c)
			f.cutOff(c.c.ID(), mode.refuse)
			start := time.Now()
			eventuallyGroup(t, "a and b owning everything", func() bool { return balanced(tps, 3, 3, a, b) }, a, b)
			if d := time.Since(start); d < cfg.SessionTimeout/2 {
				t.Errorf("partitions moved after %v, before the session timeout %v could have expired", d, cfg.SessionTimeout)
			}
			eventuallyGroup(t, "c told its partitions are lost", func() bool {
				_, _, lost := c.callbacks()
				return len(lost) == 2 && len(c.k.Assignment()) == 0
			}, c)
			if mode.refuse == sm.CodeOK {
				return // c's join waits out its reply timeout (RebalanceTimeout + 3 s + RequestTimeout)
			}
			// Back in touch, it joins again as a new member.
			f.cutOff(sm.NoNode, 0)
			eventuallyGroup(t, "2/2/2 again", func() bool { return balanced(tps, 2, 2, a, b, c) }, a, b, c)
		})
	}
}

func TestGroupResumesFromCommittedOffsets(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.createTopic("t", 3, 101)
	tps := topicTPs("t", 3)
	for _, tp := range tps {
		f.appendRecords(tp, 10)
	}
	cfg := groupTestConfig("resume", "t")
	cfg.AutoCommit = true
	a := startMember(t, f, "a", cfg)
	eventuallyGroup(t, "a read everything", func() bool { return readAll(tps, 10, a) }, a)
	a.stop() // commits everything delivered, leaves
	admin := f.newClient(f.clientConfig())
	got, err := admin.CommittedOffsets(testCtx(t), "resume")
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range tps {
		if got[tp] != 10 {
			t.Errorf("committed %v = %d after close, want 10 (all: %v)", tp, got[tp], got)
		}
	}
	for _, tp := range tps {
		f.appendRecords(tp, 5)
	}
	b := startMember(t, f, "b", cfg)
	eventuallyGroup(t, "b read the new records", func() bool { return readAll(tps, 5, b) }, b)
	time.Sleep(50 * time.Millisecond)
	for _, r := range b.read() {
		if r.Offset < 10 {
			t.Errorf("b read %v offset %d again: it should resume at the committed 10", r.TP, r.Offset)
		}
	}
	if n := len(b.read()); n != 15 {
		t.Errorf("b read %d records, want 15", n)
	}
}

func TestGroupAutoCommitCommitsWhatWasConsumed(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.createTopic("t", 1, 101)
	tp := TopicPartition{Topic: "t"}
	f.appendRecords(tp, 10)
	c := f.newClient(f.clientConfig())
	cfg := groupTestConfig("auto", "t")
	cfg.AutoCommit = true
	k := newConsumer(t, c, cfg)
	defer k.Close()
	ctx := testCtx(t)
	recs, err := k.Poll(ctx)
	if err != nil || len(recs) != 10 {
		t.Fatalf("Poll: %d records, %v", len(recs), err)
	}
	// Until the application comes back for more, what Poll returned is
	// not processed: nothing is committed.
	time.Sleep(5 * cfg.AutoCommitInterval)
	if got, err := c.CommittedOffsets(ctx, "auto", tp); err != nil || len(got) != 0 {
		t.Fatalf("committed %v (%v) before the records were consumed", got, err)
	}
	short, cancel := context.WithTimeout(ctx, 5*cfg.AutoCommitInterval)
	defer cancel()
	if recs, err := k.Poll(short); len(recs) != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Poll: %d records, %v", len(recs), err)
	}
	eventually(t, "offset 10 committed", func() bool {
		got, _ := c.CommittedOffsets(ctx, "auto", tp)
		return got[tp] == 10
	})
	// A Seek back is auto-committed as a seek.
	if err := k.Seek(tp, 2); err != nil {
		t.Fatal(err)
	}
	eventually(t, "offset 2 committed", func() bool {
		got, _ := c.CommittedOffsets(ctx, "auto", tp)
		return got[tp] == 2
	})
}

func TestGroupReceiveAckNack(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.createTopic("t", 1, 101)
	tp := TopicPartition{Topic: "t"}
	f.appendRecords(tp, 5)
	c := f.newClient(f.clientConfig())
	k := newConsumer(t, c, groupTestConfig("msgs", "t"))
	defer k.Close()
	ctx := testCtx(t)
	committed := func() (sm.Offset, bool) {
		got, err := c.CommittedOffsets(ctx, "msgs", tp)
		if err != nil {
			t.Fatal(err)
		}
		off, ok := got[tp]
		return off, ok
	}
	receive := func(want sm.Offset) *Delivery {
		t.Helper()
		d, err := k.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d.Offset != want || string(d.Value) != fmt.Sprintf("%v:%d", tp, want) {
			t.Fatalf("received %v offset %d %q, want offset %d", d.TP, d.Offset, d.Value, want)
		}
		return d
	}
	d0, d1, d2 := receive(0), receive(1), receive(2)
	if err := d1.Ack(); err != nil {
		t.Fatal(err)
	}
	if err := k.CommitMarked(ctx); err != nil {
		t.Fatal(err)
	}
	if off, _ := committed(); off != 0 {
		t.Errorf("committed %d with offset 0 unacknowledged, want 0", off)
	}
	if err := d0.Ack(); err != nil {
		t.Fatal(err)
	}
	if err := k.CommitMarked(ctx); err != nil {
		t.Fatal(err)
	}
	if off, _ := committed(); off != 2 {
		t.Errorf("committed %d after acking 0 and 1, want 2", off)
	}
	// Nack redelivers 2 (and what follows it).
	if err := d2.Nack(); err != nil {
		t.Fatal(err)
	}
	d2 = receive(2)
	d3 := receive(3)
	if err := d3.Nack(); err != nil {
		t.Fatal(err)
	}
	d3 = receive(3)
	for _, d := range []*Delivery{d2, d3} {
		if err := d.Ack(); err != nil {
			t.Fatal(err)
		}
	}
	if err := d1.Nack(); err != nil { // acknowledged: nothing to redeliver
		t.Fatal(err)
	}
	d4 := receive(4)
	if err := d4.Ack(); err != nil {
		t.Fatal(err)
	}
	if err := k.CommitMarked(ctx); err != nil {
		t.Fatal(err)
	}
	if off, _ := committed(); off != 5 {
		t.Errorf("committed %d after acking everything, want 5", off)
	}
	// An explicit Seek forgets what was received before it.
	if err := k.Seek(tp, 1); err != nil {
		t.Fatal(err)
	}
	if err := d4.Ack(); err == nil {
		t.Error("Ack of a message received before a Seek: no error")
	}
	receive(1)
}

func TestGroupSeekCommitsBackwards(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.createTopic("t", 1, 101)
	tp := TopicPartition{Topic: "t"}
	f.appendRecords(tp, 10)
	c := f.newClient(f.clientConfig())
	k := newConsumer(t, c, groupTestConfig("seek", "t"))
	defer k.Close()
	ctx := testCtx(t)
	recs, err := k.Poll(ctx)
	if err != nil || len(recs) != 10 {
		t.Fatalf("Poll: %d records, %v", len(recs), err)
	}
	if err := k.Commit(ctx, map[TopicPartition]sm.Offset{tp: 10}); err != nil {
		t.Fatal(err)
	}
	if err := k.Commit(ctx, map[TopicPartition]sm.Offset{tp: 4}); !errors.Is(err, ErrOffsetRegression) {
		t.Fatalf("commit below the committed offset without a seek: %v, want ErrOffsetRegression", err)
	}
	if err := k.Seek(tp, 3); err != nil {
		t.Fatal(err)
	}
	if err := k.CommitMarked(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := c.CommittedOffsets(ctx, "seek", tp)
	if err != nil || got[tp] != 3 {
		t.Fatalf("committed %v (%v) after Seek to 3, want 3", got, err)
	}
	recs, err = k.Poll(ctx)
	if err != nil || len(recs) == 0 || recs[0].Offset != 3 {
		t.Fatalf("Poll after Seek: %v, %v", recs, err)
	}
	// The seek was committed: the next commit is an ordinary one again.
	if err := k.Commit(ctx, map[TopicPartition]sm.Offset{tp: 2}); !errors.Is(err, ErrOffsetRegression) {
		t.Fatalf("commit below the sought offset: %v, want ErrOffsetRegression", err)
	}
}

func TestGroupConfigErrors(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.createTopic("t", 1, 101)
	c := f.newClient(f.clientConfig())
	for _, tc := range []struct {
		name string
		cfg  ConsumerConfig
		want string
	}{
		{"unknown assignor", ConsumerConfig{Group: "g", Topics: []string{"t"}, Assignor: "roundrobin"}, `"cooperative-sticky", "range"`},
		{"no topics", ConsumerConfig{Group: "g"}, "Topics is empty"},
		{"empty topic", ConsumerConfig{Group: "g", Topics: []string{""}}, "empty topic name"},
		{"topics without group", ConsumerConfig{Topics: []string{"t"}}, "Topics needs Group"},
		{"auto-commit without group", ConsumerConfig{AutoCommit: true}, "need Group"},
		{"heartbeat above session", ConsumerConfig{Group: "g", Topics: []string{"t"}, SessionTimeout: time.Second, HeartbeatInterval: time.Second}, "HeartbeatInterval"},
		{"negative timeout", ConsumerConfig{Group: "g", Topics: []string{"t"}, SessionTimeout: -1}, "negative"},
		{"bad start offset", ConsumerConfig{Group: "g", Topics: []string{"t"}, StartOffset: 7}, "StartOffset"},
	} {
		_, err := c.NewConsumer(tc.cfg)
		if !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrInvalidRequest naming %q", tc.name, err, tc.want)
		}
	}
	ctx := testCtx(t)
	k := newConsumer(t, c, groupTestConfig("g", "t"))
	if err := k.Assign(TopicPartition{Topic: "t"}); !errors.Is(err, ErrGroupManaged) {
		t.Errorf("Assign on a group consumer: %v", err)
	}
	if _, err := k.AssignTopic(ctx, "t"); !errors.Is(err, ErrGroupManaged) {
		t.Errorf("AssignTopic on a group consumer: %v", err)
	}
	k.Close()
	plain := newConsumer(t, c, ConsumerConfig{})
	if err := plain.Commit(ctx, nil); !errors.Is(err, ErrNoGroup) {
		t.Errorf("Commit without a group: %v", err)
	}
	if _, err := plain.Receive(ctx); !errors.Is(err, ErrNoGroup) {
		t.Errorf("Receive without a group: %v", err)
	}
	// The coordinator refuses a session timeout below its minimum: Poll
	// says so, and does not retry.
	cfg := groupTestConfig("short", "t")
	cfg.SessionTimeout, cfg.HeartbeatInterval = 50*time.Millisecond, 10*time.Millisecond
	short := newConsumer(t, c, cfg)
	defer short.Close()
	if _, err := short.Poll(ctx); !errors.Is(err, ErrInvalidGroup) || !strings.Contains(err.Error(), "INVALID_SESSION_TIMEOUT") {
		t.Errorf("Poll with a session timeout below the brokers' minimum: %v", err)
	}
}

func TestGroupAdmin(t *testing.T) {
	f := newFakeCluster(t, 101, 102, 103)
	f.createTopic("t", 2, 101)
	tps := topicTPs("t", 2)
	for _, tp := range tps {
		f.appendRecords(tp, 4)
	}
	admin := f.newClient(f.clientConfig())
	ctx := testCtx(t)
	var ms []*member
	for i, id := range []string{"alpha", "beta", "gamma", "delta"} {
		cfg := groupTestConfig(id, "t")
		cfg.AutoCommit = true
		ms = append(ms, startMember(t, f, fmt.Sprint(i), cfg))
	}
	for _, m := range ms {
		eventuallyGroup(t, "assigned", func() bool { return len(m.k.Assignment()) == 2 }, m)
	}
	eventually(t, "every group listed", func() bool {
		l, err := admin.ListGroups(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, g := range l {
			ids = append(ids, g.GroupID)
		}
		return slices.Equal(ids, []string{"alpha", "beta", "delta", "gamma"})
	})
	if err := admin.DeleteGroup(ctx, "alpha"); !errors.Is(err, ErrGroupNotEmpty) {
		t.Errorf("delete of a group with members: %v", err)
	}
	if err := admin.ResetOffsets(ctx, "alpha", map[TopicPartition]sm.Offset{tps[0]: 1}); !errors.Is(err, ErrGroupNotEmpty) {
		t.Errorf("reset of a group with members: %v", err)
	}
	eventuallyGroup(t, "alpha read everything", func() bool { return readAll(tps, 4, ms[0]) }, ms[0])
	ms[0].stop()
	d, err := admin.DescribeGroup(ctx, "alpha")
	if err != nil || d.State != "Empty" || len(d.Members) != 0 {
		t.Fatalf("describe after the last member left: %+v, %v", d, err)
	}
	if err := admin.ResetOffsets(ctx, "alpha", map[TopicPartition]sm.Offset{tps[0]: 1, tps[1]: 0}); err != nil {
		t.Fatal(err)
	}
	got, err := admin.CommittedOffsets(ctx, "alpha")
	if err != nil || !maps.Equal(got, map[TopicPartition]sm.Offset{tps[0]: 1, tps[1]: 0}) {
		t.Fatalf("offsets after reset: %v, %v", got, err)
	}
	if err := admin.ResetOffsets(ctx, "alpha", map[TopicPartition]sm.Offset{tps[0]: 99}); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Errorf("reset beyond the high watermark: %v", err)
	}
	if err := admin.DeleteGroup(ctx, "alpha"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.DescribeGroup(ctx, "alpha"); !errors.Is(err, ErrGroupNotFound) {
		t.Errorf("describe of a deleted group: %v", err)
	}
	if err := admin.DeleteGroup(ctx, "alpha"); !errors.Is(err, ErrGroupNotFound) {
		t.Errorf("delete of a deleted group: %v", err)
	}
	if _, err := admin.DescribeGroup(ctx, ""); !errors.Is(err, ErrInvalidGroup) {
		t.Errorf("describe of the empty group ID: %v", err)
	}
}

func TestGroupSurvivesCoordinatorFailover(t *testing.T) {
	f := newFakeCluster(t, 101, 102)
	f.createTopic("t", 4, 101, 102)
	tps := topicTPs("t", 4)
	for _, tp := range tps {
		f.appendRecords(tp, 5)
	}
	cfg := groupTestConfig("failover", "t")
	cfg.AutoCommit = true
	a := startMember(t, f, "a", cfg)
	b := startMember(t, f, "b", cfg)
	eventuallyGroup(t, "2/2", func() bool { return balanced(tps, 2, 2, a, b) }, a, b)
	eventuallyGroup(t, "everything read", func() bool { return readAll(tps, 5, a, b) }, a, b)
	p := group.PartitionFor("failover", fakeOffsetsPartitions)
	f.mu.Lock()
	from := f.parts[sm.TopicPartition{Topic: sm.OffsetsTopic, Partition: p}].Leader
	f.mu.Unlock()
	to := sm.NodeID(101)
	if from == 101 {
		to = 102
	}
	f.failoverCoordinator(p, to)
	for _, tp := range tps {
		f.appendRecords(tp, 5)
	}
	eventuallyGroup(t, "the new records read and committed", func() bool {
		if !readAll(tps, 10, a, b) {
			return false
		}
		got, _ := a.c.CommittedOffsets(testCtx(t), "failover")
		for _, tp := range tps {
			if got[tp] < 5 {
				return false
			}
		}
		return true
	}, a, b)
	if !balanced(tps, 2, 2, a, b) {
		t.Errorf("assignment after the failover: %s", describe(a, b))
	}
	for _, m := range []*member{a, b} {
		if _, _, lost := m.callbacks(); len(lost) > 0 {
			t.Errorf("%s lost %v in a coordinator failover", m.name, lost)
		}
	}
}

// A static member that restarts within the session timeout gets its
// partitions back; the other member never sees them.
func TestGroupStaticMemberRestart(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.createTopic("t", 6, 101)
	tps := topicTPs("t", 6)
	cfg := groupTestConfig("static", "t")
	static := cfg
	static.InstanceID = "i-a"
	a := startMember(t, f, "a", static)
	b := startMember(t, f, "b", cfg)
	eventuallyGroup(t, "3/3", func() bool { return balanced(tps, 3, 3, a, b) }, a, b)
	had := sortTPs(a.k.Assignment())
	assignedB, revokedB, _ := b.callbacks() // b may have held everything before a joined
	a.stop()                                // a static member does not leave
	a2 := startMember(t, f, "a2", static)
	eventuallyGroup(t, "a2 holding a's partitions", func() bool { return slices.Equal(sortTPs(a2.k.Assignment()), had) }, a2, b)
	if !balanced(tps, 3, 3, a2, b) {
		t.Errorf("after the restart: %s", describe(a2, b))
	}
	if assigned, revoked, lost := b.callbacks(); len(assigned) != len(assignedB) || len(revoked) != len(revokedB) || len(lost) != 0 {
		t.Errorf("b: assigned %v, revoked %v, lost %v: a static restart moved partitions", assigned, revoked, lost)
	}
	// A second live consumer with the same instance ID fences the first.
	a3 := startMember(t, f, "a3", static)
	eventuallyGroup(t, "a2 fenced", func() bool {
		a2.mu.Lock()
		defer a2.mu.Unlock()
		return errors.Is(a2.err, ErrFencedInstanceID)
	}, a2, a3)
	eventuallyGroup(t, "a3 holding the instance's partitions", func() bool { return balanced(tps, 3, 3, a3, b) }, a3, b)
	if _, _, lost := a2.callbacks(); len(lost) != 3 {
		t.Errorf("a2 lost %v when fenced", lost)
	}
}

func TestGroupStartLatest(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.createTopic("t", 1, 101)
	tp := TopicPartition{Topic: "t"}
	f.appendRecords(tp, 5)
	cfg := groupTestConfig("latest", "t")
	cfg.StartOffset = StartLatest
	a := startMember(t, f, "a", cfg)
	eventuallyGroup(t, "assigned", func() bool { return len(a.k.Assignment()) == 1 }, a)
	f.appendRecords(tp, 3)
	eventuallyGroup(t, "the new records read", func() bool { return len(a.read()) >= 3 }, a)
	time.Sleep(50 * time.Millisecond)
	var offs []sm.Offset
	for _, r := range a.read() {
		offs = append(offs, r.Offset)
	}
	if !slices.Equal(offs, []sm.Offset{5, 6, 7}) {
		t.Errorf("read offsets %v, want only the records after the assignment [5 6 7]", offs)
	}
}

// A committed offset outside the log restarts the partition per
// StartOffset, and the new position is committed as a seek.
func TestGroupCommittedOffsetOutOfRange(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.createTopic("t", 1, 101)
	tp := TopicPartition{Topic: "t"}
	f.appendRecords(tp, 10)
	cfg := groupTestConfig("oor", "t")
	cfg.AutoCommit = true
	a := startMember(t, f, "a", cfg)
	eventuallyGroup(t, "a read everything", func() bool { return len(a.read()) == 10 }, a)
	a.stop()
	f.mu.Lock()
	f.logs[tp] = nil // the log lost its records (a recreated partition)
	f.mu.Unlock()
	f.appendRecords(tp, 3)
	b := startMember(t, f, "b", cfg)
	eventuallyGroup(t, "b read the log from its start", func() bool { return len(b.read()) == 3 }, b)
	eventually(t, "offset 3 committed (a seek back from 10)", func() bool {
		got, _ := b.c.CommittedOffsets(testCtx(t), "oor", tp)
		return got[tp] == 3
	})
}

// The leader notices subscribed topics gaining partitions (a topic
// created) and rebalances to assign them.
func TestGroupPicksUpNewPartitions(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.createTopic("t", 2, 101)
	ccfg := f.clientConfig()
	ccfg.MetadataMaxAge = 50 * time.Millisecond
	cfg := groupTestConfig("grow", "t", "later")
	a := startMemberOn(t, f.newClient(ccfg), "a", cfg)
	b := startMemberOn(t, f.newClient(ccfg), "b", cfg)
	eventuallyGroup(t, "1/1", func() bool { return balanced(topicTPs("t", 2), 1, 1, a, b) }, a, b)
	f.createTopic("later", 4, 101)
	all := append(topicTPs("later", 4), topicTPs("t", 2)...)
	eventuallyGroup(t, "3/3 over both topics", func() bool { return balanced(all, 3, 3, a, b) }, a, b)
}

func TestGroupMarkCommitMarked(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.createTopic("t", 2, 101)
	tps := topicTPs("t", 2)
	for _, tp := range tps {
		f.appendRecords(tp, 10)
	}
	c := f.newClient(f.clientConfig())
	k := newConsumer(t, c, groupTestConfig("mark", "t"))
	defer k.Close()
	ctx := testCtx(t)
	if err := k.Commit(ctx, map[TopicPartition]sm.Offset{tps[0]: 1}); !errors.Is(err, ErrRebalanceInProgress) {
		t.Errorf("Commit before joining: %v, want ErrRebalanceInProgress", err)
	}
	var recs []Record
	for len(recs) < 20 {
		got, err := k.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, got...)
	}
	if err := k.CommitMarked(ctx); err != nil { // nothing marked: nothing committed
		t.Fatal(err)
	}
	if got, err := c.CommittedOffsets(ctx, "mark"); err != nil || len(got) != 0 {
		t.Fatalf("committed %v (%v) with nothing marked", got, err)
	}
	for _, r := range recs {
		if r.TP == tps[0] && r.Offset <= 4 || r.TP == tps[1] && r.Offset == 0 {
			if err := k.Mark(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := k.Mark(recs[0]); err != nil { // older than what is marked: no change
		t.Fatal(err)
	}
	if err := k.CommitMarked(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := c.CommittedOffsets(ctx, "mark")
	if want := map[TopicPartition]sm.Offset{tps[0]: 5, tps[1]: 1}; err != nil || !maps.Equal(got, want) {
		t.Fatalf("committed %v (%v), want %v", got, err, want)
	}
	if err := k.Commit(ctx, map[TopicPartition]sm.Offset{tps[0]: -1}); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("Commit of a negative offset: %v", err)
	}
	if err := k.Commit(ctx, map[TopicPartition]sm.Offset{{Topic: "t", Partition: 7}: 1}); err == nil {
		t.Error("Commit of a partition that does not exist: no error")
	}
}

// BenchmarkGroupRebalance is issue 12's rebalance figure on the loopback
// fake cluster (real coordinators, appends instant): 10 members sharing a
// 100-partition topic with cooperative-sticky, the time from one member's
// Close (its LeaveGroup) until the other 9 own every partition again. The
// members heartbeat every 50 ms, which bounds how soon they hear of the
// rebalance.
func BenchmarkGroupRebalance(b *testing.B) {
	f := newFakeCluster(b, 101, 102, 103)
	f.createTopic("t", 100, 101, 102, 103)
	tps := topicTPs("t", 100)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		cfg := groupTestConfig(fmt.Sprintf("bench-%d", i), "t")
		var ms []*member
		for j := range 10 {
			ms = append(ms, startMember(b, f, fmt.Sprint(j), cfg))
		}
		eventuallyGroup(b, "10 members sharing 100 partitions", func() bool { return balanced(tps, 10, 10, ms...) }, ms...)
		b.StartTimer()
		ms[0].stop()
		eventuallyGroup(b, "9 members sharing 100 partitions", func() bool { return balanced(tps, 11, 12, ms[1:]...) }, ms[1:]...)
		b.StopTimer()
		for _, m := range ms {
			m.stop()
			m.c.Close()
		}
		b.StartTimer()
	}
}

// BenchmarkGroupCommit is commit throughput on the loopback fake cluster:
// members committing one partition's offset each, in a loop, one commit
// in flight per member, each a higher offset; the figure is commits/s
// over all members. The baseline is one client's sequential ListOffsets
// round trips to the same fake broker (a request with no state to store).
func BenchmarkGroupCommit(b *testing.B) {
	b.Run("baseline=list-offsets", func(b *testing.B) {
		f := newFakeCluster(b, 101)
		f.createTopic("t", 1, 101)
		c := f.newClient(f.clientConfig())
		ctx := testCtx(b)
		tp := TopicPartition{Topic: "t"}
		start := time.Now()
		for b.Loop() {
			if _, err := c.listOffsets(ctx, tp); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "requests/s")
	})
	for _, members := range []int{1, 10} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			f := newFakeCluster(b, 101)
			f.createTopic("t", int32(members), 101)
			tps := topicTPs("t", int32(members))
			per := max(b.N/members, 1)
			for _, tp := range tps {
				f.appendRecords(tp, per)
			}
			cfg := groupTestConfig("commits", "t")
			var ms []*member
			for j := range members {
				ms = append(ms, startMember(b, f, fmt.Sprint(j), cfg))
			}
			eventuallyGroup(b, "one partition each", func() bool { return balanced(tps, 1, 1, ms...) }, ms...)
			ctx := testCtx(b)
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for _, m := range ms {
				tp := m.k.Assignment()[0]
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range per {
						if err := m.k.Commit(ctx, map[TopicPartition]sm.Offset{tp: sm.Offset(i + 1)}); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(per*members)/time.Since(start).Seconds(), "commits/s")
		})
	}
}
