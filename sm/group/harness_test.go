package group

import (
	"fmt"
	"testing"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/group/assign"
)

// hwMap is a Watermarks from a map.
type hwMap map[sm.TopicPartition]sm.Offset

func (m hwMap) HighWatermark(tp sm.TopicPartition) (sm.Offset, bool) {
	o, ok := m[tp]
	return o, ok
}

// world drives one coordinator the way a host would: handles, appends,
// replies by handle, and a log of the records whose appends succeeded.
type world struct {
	t       testing.TB
	c       *Coordinator
	now     sm.Time
	next    Handle
	hw      hwMap
	replies map[Handle]Response
	pending []Append // issued, not yet completed
	log     []sm.Record
	auto    bool // complete appends OK as soon as they are issued
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Partitions = 1
	cfg.InitialRebalanceDelay = 0
	cfg.SessionTimeoutMin = sm.Second
	cfg.MembersMax = 200
	return cfg
}

func newWorld(t testing.TB, cfg Config) *world {
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.FinishLoad(0)
	w := &world{t: t, c: c, now: 1, hw: hwMap{}, replies: map[Handle]Response{}, auto: true}
	for p := range int32(8) {
		w.hw[sm.TopicPartition{Topic: "t", Partition: p}] = 1000
		w.hw[sm.TopicPartition{Topic: "u", Partition: p}] = 1000
	}
	return w
}

func (w *world) handle() Handle { w.next++; return w.next }

// settle takes output, completing appends OK when auto is set.
func (w *world) settle() {
	for {
		out := w.c.TakeOutput()
		for _, r := range out.Replies {
			if _, dup := w.replies[r.To]; dup {
				w.t.Fatalf("second reply to handle %d: %+v", r.To, r.Body)
			}
			w.replies[r.To] = r.Body
		}
		w.pending = append(w.pending, out.Appends...)
		if err := w.c.CheckInvariants(); err != nil {
			w.t.Fatalf("invariants: %v", err)
		}
		if w.auto && len(w.pending) > 0 {
			for len(w.pending) > 0 {
				w.complete(0, sm.OutcomeOK)
			}
			continue
		}
		return
	}
}

// complete finishes pending append i with outcome.
func (w *world) complete(i int, o sm.Outcome) {
	a := w.pending[i]
	w.pending = append(w.pending[:i:i], w.pending[i+1:]...)
	if o == sm.OutcomeOK {
		w.log = append(w.log, a.Records...)
	}
	w.c.OnAppended(w.now, Appended{ID: a.ID, Outcome: o, Reason: "test"})
}

func (w *world) take(h Handle) Response {
	w.settle()
	r, ok := w.replies[h]
	if !ok {
		return nil
	}
	delete(w.replies, h)
	return r
}

func sub(topics ...string) []Protocol {
	s := assign.EncodeSubscription(assign.Subscription{Version: 1, Topics: topics})
	return []Protocol{{Name: "range", Metadata: s}}
}

func (w *world) join(group, member, client string, protocols []Protocol) Handle {
	h := w.handle()
	w.c.Join(h, w.now, JoinRequest{GroupID: group, MemberID: member, ClientID: client, ProtocolType: "consumer",
		Protocols: protocols, SessionTimeout: 10 * sm.Second, RebalanceTimeout: 20 * sm.Second})
	w.settle()
	return h
}

func (w *world) joinResp(h Handle) JoinResponse {
	r := w.take(h)
	if r == nil {
		w.t.Fatalf("join %d: no reply yet", h)
	}
	return r.(JoinResponse)
}

func (w *world) sync(group string, gen int32, member string, as []MemberAssignment) Handle {
	h := w.handle()
	w.c.Sync(h, w.now, SyncRequest{GroupID: group, Generation: gen, MemberID: member, Assignments: as})
	w.settle()
	return h
}

func (w *world) heartbeat(group string, gen int32, member string) Code {
	h := w.handle()
	w.c.Heartbeat(h, w.now, HeartbeatRequest{GroupID: group, Generation: gen, MemberID: member})
	return w.take(h).(HeartbeatResponse).Code
}

func (w *world) commit(group string, gen int32, member string, seek bool, offs ...OffsetCommit) CommitResponse {
	h := w.handle()
	w.c.Commit(h, w.now, CommitRequest{GroupID: group, Generation: gen, MemberID: member, Seek: seek, Offsets: offs}, w.hw)
	r := w.take(h)
	if r == nil {
		w.t.Fatalf("commit %d: no reply", h)
	}
	return r.(CommitResponse)
}

func (w *world) advance(d sm.Duration) {
	w.now = w.now.Add(d)
	if at := w.c.TimerAt(); at != 0 && at <= w.now {
		w.c.OnTimer(w.now)
	}
	w.settle()
}

func tp(topic string, p int32) sm.TopicPartition {
	return sm.TopicPartition{Topic: topic, Partition: p}
}

func off(t sm.TopicPartition, o sm.Offset) OffsetCommit {
	return OffsetCommit{TP: t, Offset: o, LeaderEpoch: -1}
}

// rangeAssign is what a leader does with its join reply.
func rangeAssign(t testing.TB, jr JoinResponse, topics map[string]int32) []MemberAssignment {
	var members []assign.Member
	for _, m := range jr.Members {
		s, err := assign.DecodeSubscription(m.Metadata)
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, assign.Member{ID: m.MemberID, InstanceID: m.InstanceID, Subscription: s})
	}
	a, err := assign.ByName(jr.Protocol)
	if err != nil {
		t.Fatal(err)
	}
	res := a.Assign(members, topics)
	var out []MemberAssignment
	for _, m := range jr.Members {
		out = append(out, MemberAssignment{MemberID: m.MemberID, Assignment: assign.EncodeAssignment(assign.Assignment{Version: 1, Partitions: res[m.MemberID]})})
	}
	return out
}

func codeOf(r Response) Code {
	switch x := r.(type) {
	case JoinResponse:
		return x.Code
	case SyncResponse:
		return x.Code
	case HeartbeatResponse:
		return x.Code
	case LeaveResponse:
		return x.Code
	case CommitResponse:
		return x.Code
	}
	panic(fmt.Sprintf("no code in %T", r))
}
