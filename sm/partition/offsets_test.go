package partition

import (
	"testing"

	"github.com/weirmq/weir/sm"
)

// listOffsets asks replica id for its offsets (directly: the partition
// harness routes only the replication messages) and returns the answer.
func (c *cluster) listOffsets(id sm.NodeID, epoch sm.Epoch) sm.ListOffsetsResponse {
	n := c.net.Len()
	r := c.reps[id]
	r.host.Call(func(now sm.Time) {
		r.p.OnListOffsets(now, consumerID, sm.ListOffsetsRequest{ReqID: 7, TP: testTP, CurrentLeaderEpoch: epoch})
	})
	out := c.net.Queue[n:]
	c.net.Queue = c.net.Queue[:n]
	if len(out) != 1 || out[0].To != consumerID {
		c.t.Fatalf("list offsets on %v: %d messages %+v", id, len(out), out)
	}
	return out[0].Msg.(sm.ListOffsetsResponse)
}

// Goal: the leader answers the offsets query with its log start, high
// watermark and log end (the end above the high watermark while a record
// is not committed); a follower answers NOT_LEADER naming the leader; a
// request from a newer epoch is UNKNOWN_LEADER_EPOCH.
func TestListOffsets(t *testing.T) {
	c := newCluster(t, 2, 1)
	c.produce(101, ackAll, "a", "b", "c")
	c.stabilize()
	st := c.status(101)
	r := c.listOffsets(101, st.LeaderEpoch)
	if r.Code != sm.CodeOK || r.ReqID != 7 || r.TP != testTP || r.LogStart != st.LogStart || r.HighWatermark != 3 || r.LogEnd != 3 ||
		r.LeaderEpoch != st.LeaderEpoch || r.LeaderHint != 101 {
		t.Fatalf("leader after a committed produce: %+v", r)
	}
	// A produce the follower has not fetched yet: the log end moves, the
	// high watermark does not.
	c.produce(101, ackAll, "d")
	c.diskDone(101)
	if r := c.listOffsets(101, 0); r.Code != sm.CodeOK || r.HighWatermark != 3 || r.LogEnd != 4 {
		t.Fatalf("leader with an uncommitted record: %+v", r)
	}
	if r := c.listOffsets(102, 0); r.Code != sm.CodeNotLeader || r.LeaderHint != 101 || r.HighWatermark != 0 {
		t.Fatalf("follower: %+v", r)
	}
	if r := c.listOffsets(101, st.LeaderEpoch+1); r.Code != sm.CodeUnknownLeaderEpoch {
		t.Fatalf("newer epoch: %+v", r)
	}
}
