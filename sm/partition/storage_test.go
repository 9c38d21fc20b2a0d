package partition

import (
	"slices"
	"strconv"
	"testing"

	"github.com/weirmq/weir/sm"
)

// storageCluster is a cluster whose replicas roll a segment per batch or
// two and keep a tiny cache, so most reads go to disk.
func storageCluster(t *testing.T, s Settings, cache int64) *cluster {
	return newClusterSetup(t, 3, 1, func(c *cluster) {
		c.cacheBytes = cache
		c.settings = s
	})
}

func produceN(c *cluster, n int, prefix string) {
	for i := range n {
		c.produce(101, ackAll, prefix+strconv.Itoa(i))
		c.stabilize()
	}
}

// Segments roll by size, every replica holds the same log, and a consumer
// reading from offset 0 gets every record back through disk reads when the
// cache holds almost nothing.
func TestSegmentsRollAndReadsComeFromDisk(t *testing.T) {
	c := storageCluster(t, Settings{SegmentBytes: 100}, 50)
	produceN(c, 12, "v")
	m := c.reps[101].p.Manifest()
	if len(m.Segments) < 5 {
		t.Fatalf("leader has %d segments, want a roll every batch or two: %+v", len(m.Segments), m.Segments)
	}
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
	want := values(c.reps[101])
	for _, id := range c.ids[1:] {
		if got := values(c.reps[id]); !slices.Equal(got, want) {
			t.Fatalf("%v holds %v, leader %v", id, got, want)
		}
	}
	var got []string
	for off := sm.Offset(0); off < 12; {
		r := c.consume(101, off, 1)
		if r.Code != sm.CodeOK || len(r.Batches) == 0 {
			t.Fatalf("fetch at %d: %+v", off, r)
		}
		for _, b := range r.Batches {
			for i, rec := range b.Records {
				if o := b.BaseOffset + sm.Offset(i); o >= off {
					got = append(got, string(rec.Value))
				}
			}
			off = b.NextOffset()
		}
	}
	if len(got) != 12 || got[0] != "v0" || got[11] != "v11" {
		t.Fatalf("read back %v", got)
	}
	if c.reps[101].host.Env.Probes[sm.ProbeReadFromDisk] == 0 || c.reps[101].host.Env.Probes[sm.ProbeSegmentRolled] == 0 {
		t.Fatalf("probes %v", c.reps[101].host.Env.Probes)
	}
	if used := c.reps[101].p.cfg.Cache.Used(); used > 50 {
		t.Fatalf("cache holds %d bytes, budget 50", used)
	}
}

// Retention by size deletes whole sealed segments below the high watermark
// on every replica; a consumer below the log start is told where it is; a
// follower that was away while its leader deleted what it lacks starts over
// at the leader's log start and converges.
func TestRetentionAndFollowerReset(t *testing.T) {
	c := storageCluster(t, Settings{SegmentBytes: 100, RetentionBytes: 200}, 1000)
	c.isolated[103] = true
	produceN(c, 4, "a")
	c.settle(3 * sm.Second) // 103 leaves the ISR; retention runs
	produceN(c, 10, "b")
	c.settle(2 * sm.Second)
	l := c.status(101)
	if l.LogStart == 0 || l.HW != l.LEO {
		t.Fatalf("leader after retention: %+v", l)
	}
	if s := c.status(102); s.LogStart == 0 {
		t.Fatalf("in-sync follower kept its old segments: %+v", s)
	}
	if m := c.reps[101].p.Manifest(); m.Bytes() > 200+100 {
		t.Fatalf("leader keeps %d bytes, retention 200 (+ one segment)", m.Bytes())
	}
	r := c.consume(101, 0, 1)
	if r.Code != sm.CodeOffsetOutOfRange || r.LogStart != l.LogStart {
		t.Fatalf("fetch below the log start: %+v, want OFFSET_OUT_OF_RANGE with log start %d", r, l.LogStart)
	}
	if r := c.consume(101, l.LogStart, 1); r.Code != sm.CodeOK || len(r.Batches) == 0 || r.LogStart != l.LogStart {
		t.Fatalf("fetch at the log start: %+v", r)
	}
	c.isolated[103] = false
	c.settle(3 * sm.Second)
	f := c.status(103)
	if f.LogStart < l.LogStart || f.LEO != c.status(101).LEO || c.reps[103].host.Env.Probes[sm.ProbeFollowerReset] == 0 {
		t.Fatalf("returning follower %+v (probes %v), leader %+v", f, c.reps[103].host.Env.Probes, c.status(101))
	}
	from := max(f.LogStart, c.status(101).LogStart)
	if got, want := valuesFrom(c.reps[103], from), valuesFrom(c.reps[101], from); !slices.Equal(got, want) {
		t.Fatalf("reset follower %v, leader %v", got, want)
	}
}

// Retention by time deletes segments whose newest batch is older than
// retention_ms by the wall clock the leader stamps batches with.
func TestRetentionByTime(t *testing.T) {
	c := storageCluster(t, Settings{SegmentBytes: 100, RetentionMs: 10_000}, 1000)
	produceN(c, 6, "old")
	c.settle(11 * sm.Second)
	produceN(c, 1, "new") // rolls the last old segment
	c.settle(sm.Second)
	s := c.status(101)
	if s.LogStart < 5 {
		t.Fatalf("old segments kept past retention: %+v (segments %+v)", s, c.reps[101].p.Manifest().Segments)
	}
	if bs := c.reps[101].batches(); bs[len(bs)-1].Timestamp < 1_767_225_600_000 {
		t.Fatalf("batch timestamp %d is not wall-clock time", bs[len(bs)-1].Timestamp)
	}
}

// A read that finds bytes failing their checksum serves nothing of them,
// and the replica records the damage and stops, so that after a restart it
// is reported and rebuilt.
func TestCorruptReadServesNothing(t *testing.T) {
	c := storageCluster(t, Settings{SegmentBytes: 100}, 0)
	produceN(c, 4, "v")
	r := c.reps[101]
	c.net.Queue = nil
	r.host.Deliver(sm.Envelope{From: consumerID, To: 101, Msg: sm.FetchRequest{ReqID: 9, TP: testTP, Offset: 0, CurrentLeaderEpoch: 1}})
	reads := r.disk.PendingReads()
	if len(reads) != 1 {
		t.Fatalf("reads %+v", reads)
	}
	d, _ := r.disk.CompleteRead(sm.OutcomeOK, "")
	d.Data = slices.Clone(d.Data)
	d.Data[len(d.Data)-1] ^= 1
	r.host.Handle(d)
	resp := c.net.Queue[len(c.net.Queue)-1].Msg.(sm.FetchResponse)
	if resp.Code != sm.CodeStorageError || len(resp.Batches) != 0 || r.p.Damaged() == "" {
		t.Fatalf("corrupt read answered %+v, damaged %q", resp, r.p.Damaged())
	}
	ops := r.disk.Pending()
	if len(ops) != 1 || ops[0].Kind != sm.LogDamaged || ops[0].Offset != 0 {
		t.Fatalf("pending %+v, want a LogDamaged at 0", ops)
	}
	c.mayStop = true
	r.host.CompleteNext(sm.OutcomeOK, "")
	if why := r.host.Stopped(); why == "" {
		t.Fatal("the replica carried on after recording damage")
	}
}
