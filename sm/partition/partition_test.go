package partition

import (
	"slices"
	"strings"
	"testing"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/host"
)

var (
	ackNone   = sm.Acks{Kind: sm.AckNone}
	ackLeader = sm.Acks{Kind: sm.AckLeader}
	ackAll    = sm.Acks{Kind: sm.AckAll}
	ackMaj    = sm.Acks{Kind: sm.AckMajority}
)

// Offsets are dense across produces and every batch is sealed with its CRC.
func TestOffsetsDenseAndSealed(t *testing.T) {
	c := newCluster(t, 1, 1)
	a := c.produce(101, ackLeader, "a", "b")
	b := c.produce(101, ackLeader, "c", "d", "e")
	d := c.produce(101, ackLeader, "f")
	c.stabilize()
	for i, want := range []sm.Offset{0, 2, 5} {
		id := []uint64{a, b, d}[i]
		if r := c.reply(t, id); r.Code != sm.CodeOK || r.BaseOffset != want || r.LeaderEpoch != 1 {
			t.Fatalf("produce %d: %+v, want OK at %d", id, r, want)
		}
	}
	log := c.reps[101].batches()
	for i, b := range log {
		if !b.Verify() || b.Epoch != 1 {
			t.Fatalf("batch %d: verify %v epoch %d", i, b.Verify(), b.Epoch)
		}
	}
	if s := c.status(101); s.LEO != 6 || s.DurableLEO != 6 || s.HW != 6 {
		t.Fatalf("status %+v", s)
	}
	// The disk holds exactly the sealed frames.
	got, _, err := sm.DecodeLog(c.reps[101].disk.Log(testTP))
	if err != nil || len(got) != 3 || got[2].BaseOffset != 5 {
		t.Fatalf("disk: %d batches, err %v", len(got), err)
	}
}

// acks=leader replies only after the leader's DiskDone; acks=none at once.
func TestAckLeaderAfterDiskDone(t *testing.T) {
	c := newCluster(t, 1, 1)
	none := c.produce(101, ackNone, "x")
	lead := c.produce(101, ackLeader, "y")
	for len(c.net.Queue) > 0 {
		c.deliver(0)
	}
	if _, ok := c.replies[none]; !ok {
		t.Fatal("acks=none not answered at once")
	}
	if _, ok := c.replies[lead]; ok {
		t.Fatal("acks=leader answered before the disk completed")
	}
	if got := c.reps[101].disk.Pending(); len(got) != 2 || got[0].Kind != sm.LogAppend || !got[0].Sync {
		t.Fatalf("pending disk ops %+v", got)
	}
	c.diskDone(101) // the acks=none batch
	for len(c.net.Queue) > 0 {
		c.deliver(0)
	}
	if _, ok := c.replies[lead]; ok {
		t.Fatal("acks=leader answered before its own batch was durable")
	}
	c.diskDone(101)
	c.stabilize()
	if r := c.reply(t, lead); r.Code != sm.CodeOK || r.BaseOffset != 1 {
		t.Fatalf("acks=leader reply %+v", r)
	}
}

// acks=all is answered only once the follower's next fetch reports the
// records durable on it.
func TestAckAllWaitsForFollowerFetchOffset(t *testing.T) {
	c := newCluster(t, 2, 2)
	c.stabilize() // follower's first fetch is parked at the leader
	id := c.produce(101, ackAll, "v")
	c.diskDone(101) // leader durable: the parked fetch is answered
	if countMsgs[sm.ReplicaFetchResponse](c, 102) != 1 {
		t.Fatalf("parked fetch not answered: %v", c.net.Queue)
	}
	c.deliver(0)
	if s := c.status(102); s.LEO != 1 || s.DurableLEO != 0 {
		t.Fatalf("follower %+v", s)
	}
	if countMsgs[sm.ReplicaFetchRequest](c, 101) != 0 {
		t.Fatal("follower fetched again before its append was durable")
	}
	c.diskDone(102)
	if _, ok := c.replies[id]; ok {
		t.Fatal("acks=all answered before the follower reported its offset")
	}
	if countMsgs[sm.ReplicaFetchRequest](c, 101) != 1 {
		t.Fatal("follower did not fetch after its append was durable")
	}
	c.deliver(0) // the fetch with FetchOffset 1
	c.stabilize()
	if r := c.reply(t, id); r.Code != sm.CodeOK || r.BaseOffset != 0 {
		t.Fatalf("reply %+v", r)
	}
	if s := c.status(101); s.HW != 1 {
		t.Fatalf("leader %+v", s)
	}
}

// The ISR is checked before anything is written; bad requests are rejected
// with the field named.
func TestProduceRejections(t *testing.T) {
	c := newCluster(t, 3, 2)
	c.isolated[102], c.isolated[103] = true, true // keep them out of the ISR
	c.st.ISR = []sm.NodeID{101}
	c.st.PartitionEpoch++
	c.metadataAll()
	cases := []struct {
		acks sm.Acks
		vals []string
		code sm.Code
		msg  string
	}{
		{ackAll, []string{"x"}, sm.CodeNotEnoughReplicas, "isr has 1 replicas, acks=all needs 2"},
		{ackMaj, []string{"x"}, sm.CodeNotEnoughReplicas, "needs 2"},
		{sm.Acks{Kind: sm.AckCustom, N: 2}, []string{"x"}, sm.CodeNotEnoughReplicas, "needs 2"},
		{sm.Acks{Kind: sm.AckCustom, N: 4}, []string{"x"}, sm.CodeInvalidRequest, "replication factor 3"},
		{ackLeader, nil, sm.CodeInvalidRequest, "no records"},
		{ackLeader, []string{strings.Repeat("z", 2000)}, sm.CodeMessageTooLarge, "record 0 is 2000 bytes, above max record bytes 1024"},
		{ackLeader, []string{strings.Repeat("z", 1000), strings.Repeat("z", 1000), strings.Repeat("z", 1000), strings.Repeat("z", 1000), strings.Repeat("z", 100)}, sm.CodeMessageTooLarge, "above max batch bytes 4096"},
	}
	for _, tc := range cases {
		id := c.produce(101, tc.acks, tc.vals...)
		c.stabilize()
		r := c.reply(t, id)
		if r.Code != tc.code || !strings.Contains(r.Message, tc.msg) {
			t.Errorf("acks=%v: %v %q, want %v containing %q", tc.acks, r.Code, r.Message, tc.code, tc.msg)
		}
	}
	if s := c.status(101); s.LEO != 0 {
		t.Fatalf("rejected produces wrote: %+v", s)
	}
	// custom(1) waits for a commit, and nothing commits below min ISR
	// (the high watermark is held so the ELR misses nothing committed).
	id := c.produce(101, sm.Acks{Kind: sm.AckCustom, N: 1}, "x")
	c.stabilize()
	if r := c.reply(t, id); r.Code != sm.CodeNotEnoughReplicas || !strings.Contains(r.Message, "below min in-sync replicas 2") {
		t.Fatalf("custom(1) below min isr: %+v", r)
	}
	id = c.produce(101, ackLeader, "ok")
	c.stabilize()
	if r := c.reply(t, id); r.Code != sm.CodeOK {
		t.Fatalf("acks=leader below min isr: %+v", r)
	}
	if s := c.status(101); s.DurableLEO != 1 || s.HW != 0 {
		t.Fatalf("below min isr the high watermark must hold: %+v", s)
	}
	c.isolated[102] = false
	id = c.produce(102, ackLeader, "x")
	c.stabilize()
	if r := c.reply(t, id); r.Code != sm.CodeNotLeader || r.LeaderHint != 101 {
		t.Fatalf("follower answered a produce with %+v", r)
	}
}

// A follower holding an uncommitted epoch the new leader never saw
// truncates to the leader's epoch boundary, then copies the leader.
func TestDivergenceTruncatesToEpochBoundary(t *testing.T) {
	c := newCluster(t, 3, 1)
	c.produce(101, ackAll, "a1", "a2")
	c.stabilize()
	c.elect(102) // epoch 2
	c.isolated[102] = true
	c.produce(102, ackLeader, "c") // epoch 2, only on 102
	c.stabilize()
	if s := c.status(102); s.DurableLEO != 3 {
		t.Fatalf("102 %+v", s)
	}
	c.isolated[102] = false
	c.elect(103) // epoch 3; 102 never replicated its epoch-2 batch
	c.produce(103, ackLeader, "d1", "d2")
	c.stabilize()
	var truncs []sm.Offset
	for _, op := range c.reps[102].disk.History {
		if op.Kind == sm.LogTruncate {
			truncs = append(truncs, op.Offset)
		}
	}
	if !slices.Equal(truncs, []sm.Offset{2}) {
		t.Fatalf("102 truncations %v, want [2] (end of epoch 1)", truncs)
	}
	want := []string{"0:1:a1", "1:1:a2", "2:3:d1", "3:3:d2"}
	for _, id := range c.ids {
		if got := values(c.reps[id]); !slices.Equal(got, want) {
			t.Fatalf("%v log %v, want %v", id, got, want)
		}
	}
}

// A deposed leader holding an uncommitted tail of an old epoch, whose new
// leader's log starts above that epoch (retention or the local window
// dropped its history) and answers the divergence at its start, starts
// over at that start: it must not keep its own tail below the leader's
// start, which the leader may have replaced with committed records (the
// simulator found a replica serving such a record as committed).
func TestDivergenceBelowLeaderStartResets(t *testing.T) {
	c := newCluster(t, 3, 1)
	c.produce(101, ackAll, "a1", "a2")
	c.stabilize()
	c.isolated[101] = true
	c.produce(101, ackLeader, "x1") // epoch 1, only on 101: batches [2,3) and [3,5)
	c.produce(101, ackLeader, "x2", "x3")
	c.stabilize()
	if s := c.status(101); s.DurableLEO != 5 || s.HW != 2 {
		t.Fatalf("101 %+v", s)
	}
	c.elect(102) // epoch 2
	c.isolated[101] = false
	// 101 asks the new leader from its end in epoch 1; the leader's log
	// (epoch 2 from offset 2) has been trimmed to start at 3, so it knows
	// nothing of epoch 1 and answers at its start.
	i := slices.IndexFunc(c.net.Queue, func(e sm.Envelope) bool {
		m, ok := e.Msg.(sm.ReplicaFetchRequest)
		return ok && e.From == 101 && m.FetchOffset == 5 && m.LastFetchedEpoch == 1
	})
	if i < 0 {
		t.Fatalf("no fetch from 101 at its end: %+v", c.net.Queue)
	}
	req := c.net.Take(i).Msg.(sm.ReplicaFetchRequest)
	c.reps[101].host.Deliver(sm.Envelope{From: 102, To: 101, Msg: sm.ReplicaFetchResponse{TP: testTP, Incarnation: req.Incarnation,
		FetchOffset: req.FetchOffset, LeaderEpoch: 2, HighWatermark: 4, LogStart: 3, Diverging: true, DivergingEpoch: 1, DivergingEndOffset: 3}})
	if s := c.status(101); s.LEO != 3 || s.LogStart != 3 || s.HW != 2 {
		t.Fatalf("101 after the answer: %+v, want its log empty from the leader's start 3, high watermark 2", s)
	}
	for c.reps[101].host.CompleteNext(sm.OutcomeOK, "") {
	}
	if got := values(c.reps[101]); len(got) != 0 {
		t.Fatalf("101 keeps %v below the leader's start", got)
	}
	if c.reps[101].host.Env.Probes[sm.ProbeFollowerReset] != 1 {
		t.Fatal("no follower reset")
	}
}

// A delayed, older fetch from a follower never moves the high watermark
// back, nor lowers what the leader knows of the follower.
func TestHighWatermarkNeverGoesBack(t *testing.T) {
	c := newCluster(t, 2, 1)
	c.stabilize()
	c.produce(101, ackLeader, "a")
	c.stabilize()
	// Hold back the follower's next fetch and duplicate an old one.
	old := sm.Envelope{From: 102, To: 101, Msg: sm.ReplicaFetchRequest{TP: testTP, Replica: 102, Incarnation: 1, LeaderEpoch: 1, FetchOffset: 0}}
	c.produce(101, ackLeader, "b")
	c.stabilize()
	hw := c.status(101).HW
	if hw != 2 {
		t.Fatalf("hw %d, want 2", hw)
	}
	c.net.Queue = append(c.net.Queue, old)
	c.stabilize()
	if got := c.status(101).HW; got != hw {
		t.Fatalf("hw moved from %d to %d", hw, got)
	}
}

// The leader serves followers only what its own disk has confirmed.
func TestFollowerOnlyReceivesDurableLeaderData(t *testing.T) {
	c := newCluster(t, 2, 1)
	c.stabilize()
	c.produce(101, ackLeader, "a")
	c.advance(300 * sm.Millisecond) // the parked fetch times out: answered empty
	for len(c.net.Queue) > 0 {
		e := c.net.Queue[0]
		if resp, ok := e.Msg.(sm.ReplicaFetchResponse); ok && len(resp.Batches) > 0 {
			t.Fatalf("served %d batches before the leader's disk completed", len(resp.Batches))
		}
		c.deliver(0)
	}
	if s := c.status(102); s.LEO != 0 {
		t.Fatalf("follower %+v", s)
	}
	c.stabilize()
	if s := c.status(102); s.DurableLEO != 1 {
		t.Fatalf("follower after leader durable: %+v", s)
	}
}

// A follower that stops fetching is shrunk out of the ISR after
// ReplicaLagTime, and expanded back once caught up.
func TestISRShrinkAndExpand(t *testing.T) {
	c := newCluster(t, 3, 2)
	c.stabilize()
	c.isolated[103] = true
	c.produce(101, ackLeader, "a")
	c.settle(3 * sm.Second)
	if got := c.st.ISR; !slices.Equal(got, []sm.NodeID{101, 102}) {
		t.Fatalf("controller isr %v, want [101 102]", got)
	}
	if got := c.status(101).ISR; !slices.Equal(got, []sm.NodeID{101, 102}) {
		t.Fatalf("leader isr %v", got)
	}
	id := c.produce(101, ackAll, "b")
	c.settle(sm.Second)
	if r := c.reply(t, id); r.Code != sm.CodeOK {
		t.Fatalf("acks=all with isr 2: %+v", r)
	}
	c.isolated[103] = false
	c.settle(3 * sm.Second)
	if got := c.st.ISR; !slices.Equal(got, []sm.NodeID{101, 102, 103}) {
		t.Fatalf("isr after catching up %v", got)
	}
	if s := c.status(103); s.DurableLEO != 2 {
		t.Fatalf("103 %+v", s)
	}
}

// A lagging ISR member keeps holding the high watermark until the
// controller confirms the shrink (maximal ISR).
func TestHighWatermarkWaitsForPendingShrink(t *testing.T) {
	c := newCluster(t, 2, 1)
	c.stabilize()
	c.isolated[102] = true
	c.produce(101, ackLeader, "a")
	c.stabilize()
	c.isolated[ctrlID] = true // the AlterISR is lost
	c.advance(3 * sm.Second)
	c.stabilize()
	if s := c.status(101); s.HW != 0 || len(s.ISR) != 2 {
		t.Fatalf("hw advanced before the shrink was confirmed: %+v", s)
	}
	c.isolated[ctrlID] = false
	c.settle(2 * sm.Second)
	if s := c.status(101); s.HW != 1 || !slices.Equal(s.ISR, []sm.NodeID{101}) {
		t.Fatalf("after the shrink: %+v", s)
	}
}

// A new leader answers consumers LEADER_NOT_AVAILABLE until its high
// watermark reaches the start of its epoch.
func TestNewLeaderNotAvailableUntilHW(t *testing.T) {
	c := newCluster(t, 2, 1)
	c.produce(101, ackLeader, "a", "b")
	c.stabilize()
	// 102 has both records but learned a high watermark of 0 with them.
	if s := c.status(102); s.DurableLEO != 2 || s.HW != 0 {
		t.Fatalf("102 %+v", s)
	}
	c.isolated[101] = true
	c.elect(102)
	if r := c.consume(102, 0, 2); r.Code != sm.CodeLeaderNotAvailable {
		t.Fatalf("consume at new leader: %v", r.Code)
	}
	c.isolated[101] = false
	c.settle(sm.Second)
	r := c.consume(102, 0, 2)
	if r.Code != sm.CodeOK || r.HighWatermark != 2 || len(r.Batches) != 1 {
		t.Fatalf("consume after catch-up: %+v", r)
	}
	if r := c.consume(102, 3, 2); r.Code != sm.CodeOffsetOutOfRange {
		t.Fatalf("beyond hw: %v", r.Code)
	}
	if r := c.consume(101, 0, 2); r.Code != sm.CodeNotLeader || r.LeaderHint != 102 {
		t.Fatalf("old leader: %+v", r)
	}
}

// Consumers never see records at or above the high watermark, even when a
// batch straddles it.
func TestConsumerFetchCutsAtHW(t *testing.T) {
	c := newCluster(t, 1, 1)
	c.produce(101, ackLeader, "a", "b", "c")
	c.stabilize()
	p := c.reps[101].p
	p.hw = 2 // as if only two records were committed
	c.reps[101].hw = 2
	r := c.consume(101, 1, 1)
	if r.Code != sm.CodeOK || len(r.Batches) != 1 || len(r.Batches[0].Records) != 2 || !r.Batches[0].Verify() {
		t.Fatalf("%+v", r)
	}
	if len(p.Cached()[0].Records) != 3 {
		t.Fatal("cutting the reply changed the log")
	}
}

// A deposed leader answers its pending produces LEADERSHIP_LOST.
func TestDeposedLeaderLeadershipLost(t *testing.T) {
	c := newCluster(t, 2, 2)
	c.stabilize()
	c.isolated[102] = true
	id := c.produce(101, ackAll, "x")
	c.stabilize()
	if _, ok := c.replies[id]; ok {
		t.Fatal("answered without the follower")
	}
	c.isolated[102] = false
	c.elect(102)
	c.stabilize()
	if r := c.reply(t, id); r.Code != sm.CodeLeadershipLost || !r.Code.Unknown() {
		t.Fatalf("%+v", r)
	}
}

// acks=all that cannot reach its ISR times out with TIMEOUT.
func TestAckTimeout(t *testing.T) {
	c := newCluster(t, 2, 2)
	c.stabilize()
	c.isolated[102] = true
	c.isolated[ctrlID] = true
	id := c.produce(101, ackAll, "x")
	c.settle(6 * sm.Second)
	if r := c.reply(t, id); r.Code != sm.CodeTimeout {
		t.Fatalf("%+v", r)
	}
}

// Stale and future epochs are fenced on both fetch paths.
func TestFencedEpochs(t *testing.T) {
	c := newCluster(t, 2, 1)
	c.stabilize()
	c.elect(101) // epoch 2
	c.stabilize()
	ask := func(epoch sm.Epoch) sm.Code {
		out := c.ask(102, 101, sm.ReplicaFetchRequest{TP: testTP, Replica: 102, Incarnation: 1, LeaderEpoch: epoch})
		return out[0].Msg.(sm.ReplicaFetchResponse).Code
	}
	if got := ask(1); got != sm.CodeFencedLeaderEpoch {
		t.Fatalf("epoch 1: %v", got)
	}
	if got := ask(3); got != sm.CodeUnknownLeaderEpoch {
		t.Fatalf("epoch 3: %v", got)
	}
	if r := c.consume(101, 0, 3); r.Code != sm.CodeUnknownLeaderEpoch {
		t.Fatalf("consumer epoch 3: %v", r.Code)
	}
	// A follower told it is fenced backs off, then resumes with new metadata.
	f := c.reps[102].p
	c.ask(101, 102, sm.ReplicaFetchResponse{TP: testTP, Code: sm.CodeFencedLeaderEpoch})
	if f.follow.inflight || f.follow.retryAt == 0 {
		t.Fatalf("follower state after fenced: %+v", f.follow)
	}
}

// A replica recovers from a store's manifest — sealed segments with their
// indexes, an active segment — without its bytes: log start and end, the
// epoch cache and every segment as the store described them, all durable,
// and it issues nothing (the store cut any torn tail). A manifest that is
// not a valid log is refused.
func TestRecoveryFromManifest(t *testing.T) {
	var segs []sm.SegmentIndex
	off, epoch := sm.Offset(10), sm.Epoch(1)
	for s := range 3 {
		var data []byte
		for i := range 4 {
			if s == 1 && i == 2 {
				epoch = 2
			}
			b := sm.Batch{BaseOffset: off, Epoch: epoch, Timestamp: int64(1000 + off), Records: []sm.Record{{Value: []byte("a")}, {Value: []byte("b")}}}
			b.Seal()
			data = sm.EncodeBatch(data, &b)
			off = b.NextOffset()
		}
		idx, serr := sm.ScanSegment(data, off-8, 0)
		if serr != nil {
			t.Fatal(serr)
		}
		idx.Sealed = s < 2
		segs = append(segs, idx)
	}
	m := sm.LogManifest{Segments: segs}
	p, err := New(testConfig(101, 1), Settings{}, &m, &host.IDs{})
	if err != nil {
		t.Fatal(err)
	}
	if out := p.TakeOutput(); len(out.Log) != 0 || len(out.Reads) != 0 {
		t.Fatalf("recovery issued %+v", out)
	}
	if s := p.Status(); s.LogStart != 10 || s.LEO != 34 || s.DurableLEO != 34 || s.HW != 10 {
		t.Fatalf("status %+v", s)
	}
	if got := p.Manifest(); len(got.Segments) != 3 || got.Segments[2].Sealed || !got.Segments[1].Sealed {
		t.Fatalf("manifest %+v", got)
	}
	if e := p.log.epochBelow(34); e != 2 {
		t.Fatalf("epoch below the end %d, want 2", e)
	}
	if _, end, ok := p.log.endOfEpoch(1); !ok || end != 22 {
		t.Fatalf("end of epoch 1: %d %v, want 22", end, ok)
	}
	if err := p.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	bad := m
	bad.Segments = slices.Clone(m.Segments)
	bad.Segments[1].Base++
	if _, err := New(testConfig(101, 1), Settings{}, &bad, &host.IDs{}); err == nil || !strings.Contains(err.Error(), "bad manifest") {
		t.Fatalf("a manifest with a gap: %v", err)
	}
}

// A restarted follower recovers from its disk and resumes replication.
func TestFollowerCrashRecovers(t *testing.T) {
	c := newCluster(t, 2, 2)
	c.produce(101, ackAll, "a")
	c.stabilize()
	id := c.produce(101, ackAll, "b", "c")
	c.diskDone(101)
	c.deliver(0)    // the batch reaches 102, its append is pending
	c.crash(102, 9) // torn: part of the frame reached the file; the store cuts it at start
	if got := c.reps[102].disk.Pending(); len(got) != 0 {
		t.Fatalf("recovery ops %+v", got)
	}
	if s := c.status(102); s.LEO != 1 || s.DurableLEO != 1 {
		t.Fatalf("recovered %+v", s)
	}
	c.metadata(102)
	c.settle(sm.Second)
	if r := c.reply(t, id); r.Code != sm.CodeOK {
		t.Fatalf("%+v", r)
	}
	if got := values(c.reps[102]); !slices.Equal(got, values(c.reps[101])) {
		t.Fatalf("102 %v", got)
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := testConfig(101, 1)
	cfg.ReplicaFetchTimeout = cfg.ReplicaFetchWait
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "replica fetch timeout") {
		t.Fatalf("%v", err)
	}
	cfg = testConfig(101, 1)
	cfg.MaxBatchBytes = 10
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "got 10") {
		t.Fatalf("%v", err)
	}
}

// The canary bug acknowledges acks=all on the leader's disk alone, which the
// property test reports as a committed record missing from an ISR member;
// here it is shown directly.
func TestCanaryAckAllBeforeISR(t *testing.T) {
	c := newCluster(t, 2, 2)
	c.mutate = func(cfg *Config) { cfg.CanaryAckAllBeforeISR = true }
	c.start(101)
	c.metadata(101)
	c.isolated[102] = true
	id := c.produce(101, ackAll, "x")
	c.stabilize()
	if r := c.reply(t, id); r.Code != sm.CodeOK {
		t.Fatalf("canary did not fire: %+v", r)
	}
	if s := c.status(102); s.LEO != 0 {
		t.Fatalf("102 %+v", s)
	}
}
