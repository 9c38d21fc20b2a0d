package partition

import (
	"testing"

	"github.com/weirmq/weir/sm"
)

// setRemote tells every replica the partition's uploaded range, as the
// metadata delta does.
func (c *cluster) setRemote(r sm.RemoteLog) {
	for _, id := range c.ids {
		c.reps[id].p.SetRemote(c.now(), r)
		c.check(c.reps[id])
	}
}

// With tiered storage a replica deletes a segment from its disk only once it
// is uploaded, and then by the local window; consumers still see the log
// start of the remote tier.
func TestTieredLocalWindowDeletesOnlyUploaded(t *testing.T) {
	c := storageCluster(t, Settings{SegmentBytes: 100, Tiered: true, LocalRetentionMs: -1, LocalRetentionBytes: 150}, 1000)
	produceN(c, 12, "v")
	c.settle(2 * sm.Second)
	l := c.status(101)
	if l.LocalStart != 0 {
		t.Fatalf("deleted segments nothing uploaded: %+v", l)
	}
	segs := c.reps[101].p.Sealed()
	up := segs[len(segs)/2].Next
	c.setRemote(sm.RemoteLog{Start: 0, End: up, Segments: 3, Bytes: 300})
	c.settle(2 * sm.Second)
	l = c.status(101)
	if l.LocalStart == 0 || l.LocalStart > up {
		t.Fatalf("local start %d after upload to %d with a 150-byte window (%+v)", l.LocalStart, up, l)
	}
	if l.LogStart != 0 {
		t.Fatalf("consumers' log start %d, want the remote start 0", l.LogStart)
	}
	if c.reps[101].host.Env.Probes[sm.ProbeUploadedDeletedLocally] == 0 {
		t.Fatal("probe uploaded-deleted-locally not reached")
	}
	if f := c.status(102); f.LocalStart == 0 || f.LocalStart > up {
		t.Fatalf("follower kept or lost too much: %+v", f)
	}
	// Below the local start the replica does not serve: the broker hands
	// the fetch to the tier component (ColdFetch).
	if st, cold := c.reps[101].p.ColdFetch(c.now(), sm.FetchRequest{TP: testTP, Offset: 0, CurrentLeaderEpoch: 1}); !cold || st.LogStart != 0 || st.HighWatermark != l.HW {
		t.Fatalf("cold fetch status %+v cold %v", st, cold)
	}
	if _, cold := c.reps[101].p.ColdFetch(c.now(), sm.FetchRequest{TP: testTP, Offset: l.LocalStart, CurrentLeaderEpoch: 1}); cold {
		t.Fatal("a fetch at the local start went cold")
	}
	p := c.reps[101].p
	p.OnListOffsets(c.now(), consumerID, sm.ListOffsetsRequest{ReqID: 1, TP: testTP})
	out := p.TakeOutput()
	if len(out.Messages) != 1 {
		t.Fatalf("list offsets answered %+v", out.Messages)
	}
	if lo := out.Messages[0].Msg.(sm.ListOffsetsResponse); lo.LogStart != 0 || lo.LocalStart != l.LocalStart || lo.Remote.End != up || lo.LocalBytes == 0 {
		t.Fatalf("list offsets %+v", lo)
	}
}

// A follower behind the uploaded end — a replica on an empty disk — is sent
// to start there and fetches only the tail.
func TestTailOnlyRebuild(t *testing.T) {
	c := storageCluster(t, Settings{SegmentBytes: 100, Tiered: true, LocalRetentionMs: -1}, 1000)
	c.isolated[103] = true
	produceN(c, 12, "v")
	c.settle(3 * sm.Second)
	segs := c.reps[101].p.Sealed()
	up := segs[len(segs)-1].Next
	c.setRemote(sm.RemoteLog{Start: 0, End: up, Segments: 1, Bytes: 900})
	c.isolated[103] = false
	c.settle(3 * sm.Second)
	f := c.status(103)
	if f.LocalStart != up || f.LEO != c.status(101).LEO {
		t.Fatalf("rebuilt follower %+v, leader %+v, uploaded end %d", f, c.status(101), up)
	}
	if c.reps[101].host.Env.Probes[sm.ProbeTailOnlyRebuild] == 0 {
		t.Fatal("probe tail-only-rebuild not reached")
	}
	if got, want := valuesFrom(c.reps[103], up), valuesFrom(c.reps[101], up); len(got) == 0 || len(got) != len(want) {
		t.Fatalf("tail %v, leader's %v", got, want)
	}
}

// A follower fetch that waits for a disk read while the follower restarts
// (the leader learns of its new incarnation) is not answered when the read
// completes: the old process may be a zombie whose log is no longer the
// replica's.
func TestReplicaFetchFromReplacedProcessNotAnsweredAfterRead(t *testing.T) {
	c := storageCluster(t, Settings{SegmentBytes: 100}, 0) // no cache: every fetch reads the disk
	produceN(c, 4, "v")
	l := c.reps[101]
	c.net.Queue = nil
	l.host.Deliver(sm.Envelope{From: 103, To: 101, Msg: sm.ReplicaFetchRequest{TP: testTP, Replica: 103, Incarnation: c.reps[103].inc(), LeaderEpoch: 1, FetchOffset: 0}})
	if len(l.disk.PendingReads()) != 1 {
		t.Fatalf("want the fetch waiting on a read, reads %+v", l.disk.PendingReads())
	}
	l.p.OnReplicaRestarted(c.now(), 103, c.reps[103].inc()+1)
	c.check(l)
	d, _ := l.disk.CompleteRead(sm.OutcomeOK, "")
	l.host.Handle(d)
	for _, e := range c.net.Queue {
		if r, ok := e.Msg.(sm.ReplicaFetchResponse); ok && e.To == 103 && r.Code == sm.CodeOK {
			t.Fatalf("answered the replaced process's fetch: %+v", r)
		}
	}
}

// Goal: on a tiered topic the local window keeps the segments holding an
// idempotent producer's remembered batches for ProducerStateWindow after
// its last batch, so a replica rebuilt from the leader's tail starts low
// enough to know the producer; past the window the segments go.
// Setup: three replicas, 100-byte segments, a 150-byte local window, one
// idempotent batch at offset 0 then plain records, all uploaded; 103 is
// away from the start and comes back holding nothing.
func TestProducerPinHoldsLocalWindow(t *testing.T) {
	c := newClusterSetup(t, 3, 1, func(c *cluster) {
		c.cacheBytes = 1000
		c.settings = Settings{SegmentBytes: 100, Tiered: true, LocalRetentionMs: -1, LocalRetentionBytes: 150}
		c.mutate = func(cfg *Config) { cfg.ProducerStateWindow = 30 * sm.Second }
	})
	c.isolated[103] = true
	first := c.idem(101, ackAll, 7, 0, 0, "p0")
	c.settle(3 * sm.Second) // 103 leaves the ISR
	c.wantReply(t, first, sm.CodeOK, 0)
	produceN(c, 12, "v")
	c.settle(2 * sm.Second)
	segs := c.reps[101].p.Sealed()
	up := segs[len(segs)-1].Next
	c.setRemote(sm.RemoteLog{Start: 0, End: up, Segments: int32(len(segs)), Bytes: 1200})
	c.settle(2 * sm.Second)
	if l := c.status(101); l.LocalStart != 0 {
		t.Fatalf("local start %d: the window deleted producer 7's only batch (%+v)", l.LocalStart, l)
	}
	if c.reps[101].host.Env.Probes[sm.ProbeProducerPinHeld] == 0 {
		t.Fatal("probe producer-pin-held not reached")
	}
	c.isolated[103] = false // it holds nothing, as on an empty disk
	c.settle(2 * sm.Second)
	if f := c.status(103); f.LocalStart != 0 || f.LEO != c.status(101).LEO {
		t.Fatalf("rebuilt follower %+v: it should start at the pinned segment", f)
	}
	if c.reps[103].p.log.producers[7] == nil {
		t.Fatal("the rebuilt follower does not know producer 7")
	}
	c.settle(31 * sm.Second)
	if l := c.status(101); l.LocalStart == 0 {
		t.Fatalf("local start %d past the producer state window", l.LocalStart)
	}
}
