package tier

import (
	"testing"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/host"
)

var testTP = sm.TopicPartition{Topic: "t", Partition: 3}
var testID = sm.TopicID{1, 2, 3}

func testSettings() Settings {
	return Settings{Self: 101, Incarnation: 7, TP: testTP, CommitTimeout: sm.Second, RetentionCheckInterval: 10 * sm.Second, RetryMin: 100 * sm.Millisecond, RetryMax: sm.Second}
}

// seg is a sealed segment [base, next) of size bytes stamped ts.
func seg(base, next sm.Offset, bytes, ts int64) sm.SegmentIndex {
	return sm.SegmentIndex{Base: base, Next: next, Bytes: bytes, MaxTimestamp: ts, Sealed: true,
		Entries: []sm.IndexEntry{{Offset: base, Pos: 0, MaxTimestamp: ts}}, Epochs: []sm.EpochStart{{Epoch: 1, Start: base}}}
}

type fixture struct {
	t    *testing.T
	tier *Tier
	ids  *host.IDs
	view ReplicaView
	now  sm.Time
	out  host.Output
}

func newFixture(t *testing.T, budget *Budget, remote sm.RemoteLog, sealed ...sm.SegmentIndex) *fixture {
	f := &fixture{t: t, ids: &host.IDs{}, now: sm.Time(sm.Second)}
	f.tier = New(testSettings(), 1, remote, budget, NewColdCache(ColdCacheConfig{}), f.ids)
	end := sm.Offset(0)
	if n := len(sealed); n > 0 {
		end = sealed[n-1].Next
	}
	f.view = ReplicaView{Leading: true, Epoch: 1, TopicID: testID, HW: end + 1, Durable: end + 1, Wall: 1000}
	// Load the (empty) records first: uploads wait for them.
	f.loadEmpty(f.poke())
	f.view.Sealed = sealed
	return f
}

func (f *fixture) poke() host.Output {
	f.tier.Poke(f.now, f.view)
	return f.take()
}

func (f *fixture) take() host.Output {
	o := f.tier.TakeOutput()
	if err := f.tier.CheckInvariants(); err != nil {
		f.t.Fatal(err)
	}
	if at := f.tier.TimerAt(); at != 0 && at <= f.now {
		f.t.Fatalf("timer %v not after now %v", at, f.now)
	}
	return o
}

// loadEmpty answers the records request with no segments.
func (f *fixture) loadEmpty(o host.Output) host.Output {
	for _, m := range o.ToController {
		if r, ok := m.(sm.RemoteSegmentsRequest); ok {
			f.tier.OnRemoteSegments(f.now, sm.RemoteSegmentsResponse{ReqID: r.ReqID, TP: testTP, Remote: f.tier.Remote()})
			return f.take()
		}
	}
	return host.Output{}
}

func onlyPut(t *testing.T, o host.Output) sm.ObjectOp {
	t.Helper()
	if len(o.Objects) != 1 || o.Objects[0].Kind != sm.ObjPut {
		t.Fatalf("want one put, got %+v", o.Objects)
	}
	return o.Objects[0]
}

func onlyCommit(t *testing.T, o host.Output) sm.CommitSegmentRequest {
	t.Helper()
	for _, m := range o.ToController {
		if c, ok := m.(sm.CommitSegmentRequest); ok {
			return c
		}
	}
	t.Fatalf("want a commit, got %+v", o.ToController)
	return sm.CommitSegmentRequest{}
}

func TestUploadCommitsInOrder(t *testing.T) {
	f := newFixture(t, NewBudget(4), sm.RemoteLog{}, seg(0, 10, 1000, 500), seg(10, 20, 900, 600))
	o := f.poke()
	put := onlyPut(t, o)
	if put.Source == nil || put.Source.Segment != 0 || put.Source.Len != 1000 || put.Source.Next != 10 || !put.CreateOnly {
		t.Fatalf("put %+v", put)
	}
	n, err := sm.ParseObjectName(put.Name)
	if err != nil || n.Base != 0 || n.Epoch != 1 || n.Broker != 101 || n.Incarnation != 7 || n.Effect != put.ID || n.TopicID != testID || n.Partition != 3 {
		t.Fatalf("name %q: %+v %v", put.Name, n, err)
	}
	if idx, err := sm.DecodeSegmentIndex(put.Data); err != nil || idx.Next != 10 {
		t.Fatalf("index trailer: %+v %v", idx, err)
	}
	if len(f.poke().Objects) != 0 {
		t.Fatal("a second upload of the partition started before the first was recorded")
	}
	f.tier.OnObjectDone(f.now, sm.ObjectDone{ID: put.ID, Size: 1000 + int64(len(put.Data))})
	c := onlyCommit(t, f.take())
	if c.Segment.Base != 0 || c.Segment.Next != 10 || c.Segment.DataBytes != 1000 || c.Segment.Name != put.Name || c.LeaderEpoch != 1 || c.TopicID != testID {
		t.Fatalf("commit %+v", c)
	}
	f.tier.OnCommitResponse(f.now, sm.CommitSegmentResponse{ReqID: c.ReqID, TP: testTP, Remote: sm.RemoteLog{Start: 0, End: 10, Bytes: 1000, Segments: 1}})
	o = f.take()
	if r, ok := f.tier.TakeRemote(); !ok || r.End != 10 {
		t.Fatalf("remote %+v %v", r, ok)
	}
	put2 := onlyPut(t, o)
	if put2.Source.Segment != 10 || put2.Name == put.Name {
		t.Fatalf("second put %+v", put2)
	}
	if got := f.tier.Segments(); len(got) != 1 || got[0].Name != put.Name {
		t.Fatalf("records %+v", got)
	}
}

func TestUploadWaitsForCommitAndDurableRoll(t *testing.T) {
	f := newFixture(t, NewBudget(1), sm.RemoteLog{}, seg(0, 10, 1000, 500))
	f.view.HW = 9 // not all committed
	if o := f.poke(); len(o.Objects) != 0 {
		t.Fatalf("uploaded an uncommitted segment: %+v", o.Objects)
	}
	f.view.HW, f.view.Durable = 10, 10 // committed, but the roll's batch not durable
	if o := f.poke(); len(o.Objects) != 0 {
		t.Fatalf("uploaded a segment whose roll is not durable: %+v", o.Objects)
	}
	f.view.Durable = 11
	onlyPut(t, f.poke())
}

func TestUnknownPutRetriesUnderANewName(t *testing.T) {
	b := NewBudget(1)
	f := newFixture(t, b, sm.RemoteLog{}, seg(0, 10, 1000, 500))
	put := onlyPut(t, f.poke())
	f.tier.OnObjectDone(f.now, sm.ObjectDone{ID: put.ID, Outcome: sm.OutcomeUnknown, Err: sm.ObjErrUnavailable})
	o := f.take()
	if len(o.Probes) == 0 || o.Probes[0] != sm.ProbeUploadUnknown || b.Used() != 0 {
		t.Fatalf("probes %v used %d", o.Probes, b.Used())
	}
	if len(o.Objects) != 0 {
		t.Fatal("retried without backing off")
	}
	at := f.tier.TimerAt()
	if at == 0 {
		t.Fatal("no retry timer")
	}
	f.now = at
	f.tier.OnTimer(f.now)
	again := onlyPut(t, f.take())
	if again.Name == put.Name {
		t.Fatal("retried under the same name: a late first put would make it fail")
	}
}

func TestBudgetBoundsUploadsAcrossPartitions(t *testing.T) {
	b := NewBudget(1)
	f1 := newFixture(t, b, sm.RemoteLog{}, seg(0, 10, 1000, 500))
	f2 := newFixture(t, b, sm.RemoteLog{}, seg(0, 10, 1000, 500))
	f2.ids = f1.ids
	f2.tier.ids = f1.ids
	put := onlyPut(t, f1.poke())
	if o := f2.poke(); len(o.Objects) != 0 {
		t.Fatal("a second partition uploaded past the budget")
	}
	f1.tier.OnObjectDone(f1.now, sm.ObjectDone{ID: put.ID, Outcome: sm.OutcomeFailed, Err: sm.ObjErrThrottled})
	f1.take()
	f2.now = f2.tier.TimerAt()
	f2.tier.OnTimer(f2.now)
	onlyPut(t, f2.take())
}

func TestFencedCommitStops(t *testing.T) {
	f := newFixture(t, NewBudget(1), sm.RemoteLog{}, seg(0, 10, 1000, 500), seg(10, 20, 1000, 500))
	put := onlyPut(t, f.poke())
	f.tier.OnObjectDone(f.now, sm.ObjectDone{ID: put.ID})
	c := onlyCommit(t, f.take())
	f.tier.OnCommitResponse(f.now, sm.CommitSegmentResponse{ReqID: c.ReqID, TP: testTP, Code: sm.CodeFencedLeaderEpoch})
	if o := f.take(); len(o.Objects) != 0 || f.tier.TimerAt() != 0 {
		t.Fatalf("a fenced uploader carried on: %+v timer %v", o, f.tier.TimerAt())
	}
}

func TestCommitResentUntilAnswered(t *testing.T) {
	f := newFixture(t, NewBudget(1), sm.RemoteLog{}, seg(0, 10, 1000, 500))
	put := onlyPut(t, f.poke())
	f.tier.OnObjectDone(f.now, sm.ObjectDone{ID: put.ID})
	c := onlyCommit(t, f.take())
	f.tier.OnCommitResponse(f.now, sm.CommitSegmentResponse{ReqID: c.ReqID, TP: testTP, Code: sm.CodeNotLeader})
	f.take()
	f.now = f.tier.TimerAt()
	f.tier.OnTimer(f.now)
	c2 := onlyCommit(t, f.take())
	if c2.ReqID != c.ReqID || c2.Segment.Name != c.Segment.Name {
		t.Fatalf("resent commit differs: %+v vs %+v", c2, c)
	}
}

func TestNewLeaderContinuesMidSegment(t *testing.T) {
	// The uploaded end (15) falls inside this leader's segment [10, 20).
	f := newFixture(t, NewBudget(1), sm.RemoteLog{Start: 0, End: 15, Segments: 2, Bytes: 10}, seg(0, 10, 1000, 500), seg(10, 20, 1000, 500))
	put := onlyPut(t, f.poke())
	n, _ := sm.ParseObjectName(put.Name)
	if put.Source.Segment != 10 || n.Base != 15 {
		t.Fatalf("put %+v base %d", put.Source, n.Base)
	}
	f.tier.OnObjectDone(f.now, sm.ObjectDone{ID: put.ID})
	if c := onlyCommit(t, f.take()); c.Segment.Base != 15 || c.Segment.Next != 20 {
		t.Fatalf("commit %+v", c.Segment)
	}
}

func TestGapStopsUploads(t *testing.T) {
	// The local log starts past the uploaded end: it cannot continue it.
	f := newFixture(t, NewBudget(1), sm.RemoteLog{Start: 0, End: 5, Segments: 1, Bytes: 10}, seg(10, 20, 1000, 500))
	if o := f.poke(); len(o.Objects) != 0 {
		t.Fatalf("uploaded across a gap: %+v", o.Objects)
	}
}

func TestRemoteRetentionDropsExpired(t *testing.T) {
	f := newFixture(t, NewBudget(1), sm.RemoteLog{Start: 0, End: 30, Segments: 3, Bytes: 3000})
	f.view.Sealed, f.view.LocalStart, f.view.HW, f.view.Durable = nil, 30, 30, 30
	f.view.RetentionMs = 1000
	f.view.Wall = 3000
	f.tier.reload()
	o := f.poke()
	var req sm.RemoteSegmentsRequest
	for _, m := range o.ToController {
		req = m.(sm.RemoteSegmentsRequest)
	}
	f.tier.OnRemoteSegments(f.now, sm.RemoteSegmentsResponse{ReqID: req.ReqID, TP: testTP, Remote: f.tier.Remote(), Segments: []sm.RemoteSegment{
		{Name: "a", Base: 0, Next: 10, DataBytes: 1000, MaxTimestamp: 1000},
		{Name: "b", Base: 10, Next: 20, DataBytes: 1000, MaxTimestamp: 1500},
		{Name: "c", Base: 20, Next: 30, DataBytes: 1000, MaxTimestamp: 2500},
	}})
	f.take()
	// The broker's cold cache holds some of every segment.
	cache := f.tier.cache
	for _, name := range []string{"a", "b", "c"} {
		cache.put(coldKey{name, indexChunk}, &sm.SegmentIndex{}, nil, 10, false)
		cache.put(coldKey{name, 0}, nil, make([]byte, 100), 100, false)
	}
	f.now = f.tier.TimerAt()
	f.tier.OnTimer(f.now)
	o = f.take()
	var drop sm.DropRemoteSegmentsRequest
	for _, m := range o.ToController {
		drop, _ = m.(sm.DropRemoteSegmentsRequest)
	}
	if drop.Below != 20 || drop.LeaderEpoch != 1 {
		t.Fatalf("drop %+v", drop)
	}
	f.tier.OnDropResponse(f.now, sm.DropRemoteSegmentsResponse{ReqID: drop.ReqID, TP: testTP, Remote: sm.RemoteLog{Start: 20, End: 30, Segments: 1, Bytes: 1000}})
	o = f.take()
	if got := f.tier.Segments(); len(got) != 1 || got[0].Name != "c" {
		t.Fatalf("records after drop %+v", got)
	}
	if c, ok := f.tier.Covering(25); !ok || c.Name != "c" {
		t.Fatal("covering 25")
	}
	if _, ok := f.tier.Covering(15); ok {
		t.Fatal("a dropped segment still covers 15")
	}
	// The dropped segments are forgotten by the cache; the kept one stays.
	for _, name := range []string{"a", "b", "c"} {
		for _, k := range []coldKey{{name, indexChunk}, {name, 0}} {
			if cache.has(k) != (name == "c") {
				t.Fatalf("after dropping a and b, %v cached: %v", k, cache.has(k))
			}
		}
	}
	if st := cache.Stats(); st.Forgotten != 4 || st.Items != 2 {
		t.Fatalf("cache stats %+v", st)
	}
	if err := cache.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}
