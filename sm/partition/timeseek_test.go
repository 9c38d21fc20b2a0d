package partition

import (
	"slices"
	"strings"
	"testing"

	"github.com/weirmq/weir/sm"
)

// listTime asks replica id for the first offset stamped at or after t,
// completing its log reads until it answers.
func (c *cluster) listTime(id sm.NodeID, t int64) sm.ListOffsetsResponse {
	n := c.net.Len()
	c.reps[id].host.Deliver(sm.Envelope{From: consumerID, To: id, Msg: sm.ListOffsetsRequest{ReqID: 9, TP: testTP, ByTime: true, Timestamp: t}})
	answered := func() bool {
		return slices.ContainsFunc(c.net.Queue[n:], func(e sm.Envelope) bool { return e.To == consumerID })
	}
	for !answered() && c.reps[id].host.CompleteRead(sm.OutcomeOK, "") {
	}
	var out []sm.Envelope
	for _, e := range c.net.Queue[n:] {
		if e.To == consumerID {
			out = append(out, e)
		}
	}
	c.net.Queue = slices.DeleteFunc(c.net.Queue, func(e sm.Envelope) bool { return e.To == consumerID })
	if len(out) != 1 {
		c.t.Fatalf("list by time %d: %d answers", t, len(out))
	}
	return out[0].Msg.(sm.ListOffsetsResponse)
}

// stamped is a batch's range and timestamp, as a consumer reads it.
type stamped struct {
	base, next sm.Offset
	ts         int64
}

// readStamps reads the whole committed log of leader id.
func (c *cluster) readStamps(id sm.NodeID, epoch sm.Epoch) []stamped {
	var out []stamped
	hw := c.status(id).HW
	for off := sm.Offset(0); off < hw; {
		r := c.consume(id, off, epoch)
		if r.Code != sm.CodeOK || len(r.Batches) == 0 {
			c.t.Fatalf("fetch at %d: %+v", off, r)
		}
		for _, b := range r.Batches {
			out = append(out, stamped{b.BaseOffset, b.NextOffset(), b.Timestamp})
			off = b.NextOffset()
		}
	}
	return out
}

// firstStamped is the answer by brute force: the first batch by offset
// stamped at or after t.
func firstStamped(log []stamped, t int64) (sm.Offset, int64) {
	for _, s := range log {
		if s.ts >= t {
			return s.base, s.ts
		}
	}
	return -1, 0
}

// Goal (issue 12, seek by time): ListOffsets by timestamp answers the first
// committed offset whose batch is stamped at or after t — from disk when the
// cache holds nothing, from the cache when it holds everything — across
// segments with several index entries, with timestamps that go down after a
// leader change (a new leader's clock 100 s behind), for times before,
// between, at and after every batch; records not yet committed are not an
// answer; a follower refuses.
func TestListOffsetsByTime(t *testing.T) {
	for _, cache := range []int64{50, -1} {
		c := newClusterSetup(t, 3, 1, func(c *cluster) {
			c.cacheBytes = cache
			c.settings = Settings{SegmentBytes: 200 << 10}
			c.mutate = func(cfg *Config) {
				cfg.MaxRecordBytes, cfg.MaxBatchBytes = 16<<10, 64<<10
				if cfg.Self == 102 {
					cfg.WallClockAtStart -= 100_000
				}
			}
		})
		value := strings.Repeat("x", 10<<10)
		for i := range 30 {
			c.advance(sm.Duration(1+i%3) * sm.Second)
			c.produce(101, ackAll, value, value)
			c.stabilize()
		}
		// A record past the high watermark is no answer (yet).
		c.advance(sm.Second)
		c.produce(101, ackAll, "late")
		c.diskDone(101)
		if st := c.status(101); st.LEO <= st.HW {
			t.Fatalf("the late record committed already: %+v", st)
		}
		if r := c.listTime(101, c.reps[101].p.wallClock()); r.Code != sm.CodeOK || r.Offset != -1 {
			t.Fatalf("cache %d: uncommitted record answered: %+v", cache, r)
		}
		c.stabilize()
		if r := c.listTime(101, c.reps[101].p.wallClock()); r.Code != sm.CodeOK || r.Offset != 60 {
			t.Fatalf("cache %d: once committed: %+v", cache, r)
		}
		c.elect(102)
		c.stabilize()
		for i := range 10 {
			c.advance(sm.Duration(1+i%2) * sm.Second)
			c.produce(102, ackAll, value)
			c.stabilize()
		}
		st := c.status(102)
		if m := c.reps[102].p.Manifest(); len(m.Segments) < 3 || len(m.Segments[0].Entries) < 3 {
			t.Fatalf("want several segments of several index entries: %+v", m.Segments)
		}
		log := c.readStamps(102, st.LeaderEpoch)
		var times []int64
		for _, s := range log {
			times = append(times, s.ts-1, s.ts, s.ts+1)
		}
		times = append(times, 0, log[0].ts-1_000_000, log[len(log)-1].ts+1_000_000)
		for _, ts := range times {
			wantOff, wantTs := firstStamped(log, ts)
			r := c.listTime(102, ts)
			if r.Code != sm.CodeOK || r.Offset != wantOff || (wantOff >= 0 && r.OffsetTimestamp != wantTs) || r.HighWatermark != st.HW {
				t.Fatalf("cache %d: time %d: got offset %d stamped %d (%v %s), want %d stamped %d; log %+v", cache, ts, r.Offset, r.OffsetTimestamp, r.Code, r.Message, wantOff, wantTs, log)
			}
		}
		if cache >= 0 { // a read that fails answers STORAGE_ERROR, naming why
			n := c.net.Len()
			c.reps[102].host.Deliver(sm.Envelope{From: consumerID, To: 102, Msg: sm.ListOffsetsRequest{ReqID: 9, TP: testTP, ByTime: true, Timestamp: log[1].ts}})
			if !c.reps[102].host.CompleteRead(sm.OutcomeFailed, "EIO") {
				t.Fatal("no read issued for a lookup outside the cache")
			}
			out := c.net.Queue[n:]
			if len(out) != 1 || out[0].Msg.(sm.ListOffsetsResponse).Code != sm.CodeStorageError || !strings.Contains(out[0].Msg.(sm.ListOffsetsResponse).Message, "EIO") {
				t.Fatalf("failed read: %+v", out)
			}
			c.net.Queue = c.net.Queue[:n]
		}
		if r := c.listTime(101, 0); r.Code != sm.CodeNotLeader {
			t.Fatalf("follower: %+v", r)
		}
	}
}
