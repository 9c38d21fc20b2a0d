package metrics

import (
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/weirmq/weir/runtime"
	"github.com/weirmq/weir/sm"
)

// diskNode issues one disk operation per Received message, of the kind the
// message asks (an sm.RaftMessage issues a raft save with a hard state).
type diskNode struct {
	rd       sm.Ready
	nextID   sm.EffectID
	steps    int
	advanced int
	done     []sm.EffectID
}

func (n *diskNode) Step(now sm.Time, ev sm.Event) error {
	n.steps++
	switch e := ev.(type) {
	case sm.Received:
		n.nextID++
		if _, ok := e.Msg.(sm.RaftMessage); ok {
			term, commit := uint64(n.nextID+10), uint64(n.nextID*100)
			n.rd.Raft = append(n.rd.Raft, sm.RaftSave{ID: n.nextID, HardState: &pb.HardState{Term: &term, Commit: &commit}, Sync: true})
			break
		}
		n.rd.Log = append(n.rd.Log, sm.LogOp{ID: n.nextID, Kind: sm.LogAppend, Sync: true})
	case sm.LogDone:
		n.done = append(n.done, e.ID)
	case sm.RaftDone:
		n.done = append(n.done, e.ID)
	}
	return nil
}

func (n *diskNode) Ready() sm.Ready        { return n.rd }
func (n *diskNode) Advance()               { n.rd = sm.Ready{}; n.advanced++ }
func (n *diskNode) CheckInvariants() error { return nil }

type nopEnv struct{}

func (nopEnv) StartLog([]sm.LogOp)       {}
func (nopEnv) StartRead([]sm.LogRead)    {}
func (nopEnv) StartObject([]sm.ObjectOp) {}
func (nopEnv) StartRaft([]sm.RaftSave)   {}
func (nopEnv) Send([]sm.Envelope)        {}
func (nopEnv) SetTimer(sm.Time)          {}
func (nopEnv) Fatal(string)              {}

func TestProbe(t *testing.T) {
	reg := New()
	node := &diskNode{}
	samples := 0
	p := NewProbe(reg, node, 100*time.Millisecond, func() int { samples++; return node.steps })
	var _ runtime.Node = p
	if p.Load() != 0 {
		t.Fatal("sample before the first step")
	}
	ms := func(n int) sm.Time { return sm.Time(sm.Duration(n) * sm.Millisecond) }
	step := func(at sm.Time, ev sm.Event) {
		t.Helper()
		if err := runtime.Handle(p, nopEnv{}, at, ev); err != nil {
			t.Fatal(err)
		}
	}
	step(ms(0), sm.TimerFired{}) // the loop's first step samples at once
	if samples != 1 || p.Load() != 1 {
		t.Fatalf("after the first step: %d samples, Load %d; want 1, 1", samples, p.Load())
	}
	step(ms(10), sm.Received{Msg: sm.ProduceRequest{}})  // issues op 1 at 10 ms
	step(ms(20), sm.Received{Msg: sm.RaftMessage{}})     // op 2 (raft) at 20 ms
	step(ms(50), sm.LogDone{ID: 1})                      // 40 ms
	step(ms(120), sm.RaftDone{ID: 2})                    // 100 ms; sample due
	step(ms(130), sm.LogDone{ID: 7})                     // unknown: ignored
	step(ms(150), sm.Received{Msg: sm.ProduceRequest{}}) // op 3
	step(ms(151), sm.LogDone{ID: 3})                     // 1 ms
	if samples != 2 || p.Load() != 5 {
		t.Errorf("%d samples, Load %d; want 2 (at 0 and 120 ms), 5", samples, p.Load())
	}
	if got := node.done; len(got) != 4 {
		t.Errorf("node saw completions %v; the probe must pass every event through", got)
	}
	if term, commit := p.Raft(); term != 12 || commit != 200 {
		t.Errorf("Raft() = %d, %d; want 12, 200", term, commit)
	}
	f := scrape(t, reg)
	h := f.get(t, "weir_disk_op_duration_seconds", "kind", "append", "sync", "true").GetHistogram()
	if h.GetSampleCount() != 2 || h.GetSampleSum() != 0.041 {
		t.Errorf("append latency count %d sum %v; want 2 and 0.041", h.GetSampleCount(), h.GetSampleSum())
	}
	h = f.get(t, "weir_disk_op_duration_seconds", "kind", "raft", "sync", "true").GetHistogram()
	if h.GetSampleCount() != 1 || h.GetSampleSum() != 0.1 {
		t.Errorf("raft latency count %d sum %v; want 1 and 0.1", h.GetSampleCount(), h.GetSampleSum())
	}
	if n := len(f["weir_disk_op_duration_seconds"].GetMetric()); n != 2 {
		t.Errorf("%d disk latency series, want 2 (only kinds seen)", n)
	}
	if len(p.issued) != 0 {
		t.Errorf("%d operations still remembered", len(p.issued))
	}
}

// Operations issued past the bound while others never complete are not
// timed: memory stays bounded.
func TestProbeIssuedBound(t *testing.T) {
	node := &diskNode{}
	p := NewProbe[struct{}](New(), node, 0, nil)
	for i := range diskIssuedMax + 10 {
		_ = runtime.Handle(p, nopEnv{}, sm.Time(i), sm.Received{Msg: sm.ProduceRequest{}})
	}
	if len(p.issued) != diskIssuedMax {
		t.Fatalf("%d remembered, want %d", len(p.issued), diskIssuedMax)
	}
	if _, ok := p.issued[diskIssuedMax+1]; ok {
		t.Error("an operation past the bound is remembered")
	}
}

func TestControllerSourcesFrom(t *testing.T) {
	reg := New()
	node := &diskNode{}
	snap := ControllerSnapshot{IsLeader: true, Term: 3, Applied: 150, Partitions: 8, Offline: 1, UnderReplicated: 2, Registered: 3, Online: 3}
	p := NewProbe(reg, node, 0, func() ControllerSnapshot { return snap })
	_ = runtime.Handle(p, nopEnv{}, 0, sm.Received{Msg: sm.RaftMessage{}}) // hard state term 11, commit 100
	src := ControllerSourcesFrom(p)
	src.RateLimit = func() (uint64, uint64) { return 4, 1 }
	if err := reg.RegisterController(src); err != nil {
		t.Fatal(err)
	}
	f := scrape(t, reg)
	f.expect(t, "weir_controller_is_leader", 1)
	f.expect(t, "weir_raft_term", 11)          // the persisted term is newer
	f.expect(t, "weir_raft_commit_index", 150) // never below applied
	f.expect(t, "weir_raft_applied_index", 150)
	f.expect(t, "weir_cluster_partitions", 8)
	f.expect(t, "weir_offline_partitions", 1)
	f.expect(t, "weir_under_replicated_partitions", 2)
	f.expect(t, "weir_brokers_online", 3)
	f.expect(t, "weir_admin_rate_limited_requests_total", 1)
}
