package broker_test

import (
	"fmt"
	"testing"

	"github.com/weirmq/weir/io/codec"
	"github.com/weirmq/weir/runtime/testkit"
	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/broker"
)

// tieredWorld is three brokers sharing an object store, a topic of one
// partition with tiny segments, and a local window of about two segments.
func tieredWorld(t *testing.T) (*world, sm.TopicPartition) {
	w := &world{t: t}
	*w = *newWorld(t)
	w.objects = testkit.NewObjects()
	w.tierCfg = func(c *broker.Config) {
		c.SegmentBytes = 400
		c.RetentionCheckInterval = 100 * sm.Millisecond
		c.Tier.LocalRetentionMs = -1
		c.Tier.LocalRetentionBytes = 900
	}
	for _, id := range []sm.NodeID{101, 102, 103} {
		w.start(id, 1, nil)
	}
	w.topic("t", 1, 101, 102, 103)
	c := w.ctrl[ctrl1]
	ti := c.topics["t"]
	ti.ID = sm.TopicID{7, 7, 7}
	c.topics["t"] = ti
	c.version++
	w.run(ms(500))
	return w, sm.TopicPartition{Topic: "t", Partition: 0}
}

func ms(n int64) sm.Duration { return sm.Duration(n) * sm.Millisecond }

func produceValues(w *world, tp sm.TopicPartition, from, n int) {
	for i := from; i < from+n; i++ {
		r := w.client(101, produce(tp, sm.Acks{Kind: sm.AckAll}, fmt.Sprintf("record-%04d-%s", i, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")), ms(300)).(sm.ProduceResponse)
		if r.Code != sm.CodeOK {
			w.t.Fatalf("produce %d: %+v", i, r)
		}
	}
}

// consumeAll reads tp from offset 0 to the high watermark through the
// leader, whichever tier serves it.
func consumeAll(w *world, leader sm.NodeID, epoch sm.Epoch, tp sm.TopicPartition) []string {
	var got []string
	for off := sm.Offset(0); ; {
		r := w.client(leader, sm.FetchRequest{ReqID: 9, TP: tp, Offset: off, CurrentLeaderEpoch: epoch}, ms(20)).(sm.FetchResponse)
		if r.Code != sm.CodeOK {
			w.t.Fatalf("fetch at %d: %+v", off, r)
		}
		if len(r.Batches) == 0 {
			return got
		}
		for _, b := range r.Batches {
			recs, err := b.Decode(codec.Codecs{}, sm.BatchFrameMax)
			if err != nil {
				w.t.Fatalf("batch at %d: %v", b.BaseOffset, err)
			}
			for i, rec := range recs {
				if b.BaseOffset+sm.Offset(i) >= off {
					got = append(got, string(rec.Value))
				}
			}
			off = b.NextOffset()
		}
	}
}

// Committed sealed segments are uploaded and recorded, replicas keep only
// the local window, and a consumer reading from offset 0 gets every record,
// the old ones from the object store.
func TestTieredUploadAndColdRead(t *testing.T) {
	w, tp := tieredWorld(t)
	produceValues(w, tp, 0, 60)
	w.run(ms(2000))
	st := w.ctrl[ctrl1].parts[tp]
	if st.Remote.Segments < 3 || st.Remote.Start != 0 {
		t.Fatalf("uploaded range %+v", st.Remote)
	}
	for _, rs := range w.ctrl[ctrl1].remote[tp] {
		if !w.objects.Exists(rs.Name) {
			t.Fatalf("recorded segment %s is not in the store", rs.Name)
		}
	}
	for _, id := range []sm.NodeID{101, 102, 103} {
		s := w.status(id, tp)
		if s.LocalStart == 0 || s.LocalStart > st.Remote.End {
			t.Fatalf("%v: local start %d, uploaded end %d: %+v", id, s.LocalStart, st.Remote.End, s)
		}
		if s.LogStart != 0 {
			t.Fatalf("%v: consumers' log start %d, want 0", id, s.LogStart)
		}
	}
	got := consumeAll(w, 101, 1, tp)
	if len(got) != 60 {
		t.Fatalf("consumed %d records, want 60", len(got))
	}
	for i, v := range got {
		if want := fmt.Sprintf("record-%04d-", i); v[:len(want)] != want {
			t.Fatalf("record %d is %q", i, v)
		}
	}
	cs := w.nodes[101].n.ColdCacheStats()
	if cs.Gets == 0 || cs.ColdReads == 0 {
		t.Fatalf("cold cache stats %+v: no cold reads", cs)
	}
	if w.nodes[101].host.Env.Probes[sm.ProbeUploadOK] == 0 {
		t.Fatal("probe upload-ok not reached")
	}
}

// Compressed and headered (format-2) batches go to the object store as
// they were stored and come back whole from cold reads.
func TestTieredColdReadsFormat2(t *testing.T) {
	w, tp := tieredWorld(t)
	for i := range 40 {
		recs := []sm.Record{{Value: []byte(fmt.Sprintf("record-%04d-%s", i, "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy")), Headers: []sm.Header{{Key: "n", Value: []byte(fmt.Sprint(i))}}}}
		req := sm.ProduceRequest{ReqID: 5, TP: tp, Acks: sm.Acks{Kind: sm.AckAll}, Records: recs}
		if i%2 == 1 {
			block, _ := codec.Codecs{}.Compress(sm.CodecLZ4, sm.EncodeRecords(nil, recs))
			req = sm.ProduceRequest{ReqID: 5, TP: tp, Acks: sm.Acks{Kind: sm.AckAll}, Codec: sm.CodecLZ4, Block: block, Count: 1, BlockCRC: sm.BlockChecksum(block)}
		}
		if r := w.client(101, req, ms(300)).(sm.ProduceResponse); r.Code != sm.CodeOK {
			t.Fatalf("produce %d: %+v", i, r)
		}
	}
	w.run(ms(2000))
	if st := w.ctrl[ctrl1].parts[tp]; st.Remote.Segments < 2 {
		t.Fatalf("uploaded range %+v", st.Remote)
	}
	if s := w.status(101, tp); s.LocalStart == 0 {
		t.Fatalf("nothing left the local disk: %+v", s)
	}
	got := consumeAll(w, 101, 1, tp)
	if len(got) != 40 {
		t.Fatalf("consumed %d records, want 40", len(got))
	}
	for i, v := range got {
		if want := fmt.Sprintf("record-%04d-", i); v[:len(want)] != want {
			t.Fatalf("record %d is %q", i, v)
		}
	}
	if cs := w.nodes[101].n.ColdCacheStats(); cs.ColdReads == 0 {
		t.Fatalf("no cold reads: %+v", cs)
	}
}

// A broker whose disk is lost comes back, rebuilds only the tail above the
// uploaded end from the leader, and — once it leads — serves the old
// records from the object store.
func TestTieredLostDiskRebuildsOnlyTheTail(t *testing.T) {
	w, tp := tieredWorld(t)
	produceValues(w, tp, 0, 60)
	w.run(ms(2000))
	remote := w.ctrl[ctrl1].parts[tp].Remote
	var fetched int
	w.tap = func(e sm.Envelope) {
		if r, ok := e.Msg.(sm.ReplicaFetchResponse); ok && e.To == 103 {
			for _, b := range r.Batches {
				fetched += sm.FrameBytes(b.Records)
			}
		}
	}
	w.startFrom(103, 2, nil, sm.Durable{FreshDisk: true})
	w.run(ms(3000))
	s := w.status(103, tp)
	leader := w.status(101, tp)
	if s.LocalStart < remote.End || s.LEO != leader.LEO {
		t.Fatalf("rebuilt replica %+v, leader %+v, uploaded end %d", s, leader, remote.End)
	}
	var total, tail int
	for _, b := range nodeLog(w.nodes[101].n, w.nodes[101].disk, tp) {
		total += sm.FrameBytes(b.Records)
		if b.BaseOffset >= remote.End {
			tail += sm.FrameBytes(b.Records)
		}
	}
	// Everything fetched is the tail above the uploaded end (once, give or
	// take a refetch), not the leader's local window and not the log.
	if fetched == 0 || fetched > 2*tail || fetched >= total {
		t.Fatalf("the rebuilt replica fetched %d bytes from the leader; the tail above %d is %d bytes (the leader holds %d locally)", fetched, remote.End, tail, total)
	}
	if w.nodes[101].host.Env.Probes[sm.ProbeTailOnlyRebuild] == 0 {
		t.Fatal("probe tail-only-rebuild not reached")
	}
	// Led by the rebuilt replica, the partition still serves every record.
	w.tap = nil
	w.elect(tp, 103)
	w.run(ms(1000))
	if got := consumeAll(w, 103, 2, tp); len(got) != 60 {
		t.Fatalf("the rebuilt leader served %d records, want 60", len(got))
	}
}

// The only replica loses its disk (RF = 1) after its data was uploaded:
// led again, it continues the log after the uploaded range — never giving
// uploaded offsets to new records — and serves the old records from the
// object store. Only what was not uploaded is lost.
func TestTieredOnlyCopyLostContinuesAfterUploadedRange(t *testing.T) {
	w, c, tp := singleTiered(t, func(c *broker.Config) {
		c.SegmentBytes = 400
		c.RetentionCheckInterval = 100 * sm.Millisecond
		c.Tier.LocalRetentionMs = -1
	})
	produceValues(w, tp, 0, 30)
	w.run(ms(2000))
	remote := c.parts[tp].Remote
	if remote.End == 0 {
		t.Fatal("nothing uploaded")
	}
	w.startFrom(101, 2, nil, sm.Durable{FreshDisk: true})
	w.run(ms(1000))
	if s := w.status(101, tp); s.LocalStart != remote.End || s.LEO != remote.End || s.LogStart != 0 {
		t.Fatalf("after the lost disk: %+v, uploaded end %d", s, remote.End)
	}
	r := w.client(101, produce(tp, sm.Acks{Kind: sm.AckAll}, "after"), ms(300)).(sm.ProduceResponse)
	if r.Code != sm.CodeOK || r.BaseOffset != remote.End {
		t.Fatalf("produce after the loss: %+v, want offset %d", r, remote.End)
	}
	got := consumeAll(w, 101, 1, tp)
	if len(got) != int(remote.End)+1 || got[len(got)-1] != "after" {
		t.Fatalf("read back %d records (last %q), want the %d uploaded and the new one", len(got), got[len(got)-1], remote.End)
	}
}

// One append after the upload interval rolls the segment, and that is
// enough for it to be uploaded: the tier component sees the replica's state
// after the append becomes durable, not only when a message arrives.
func TestTieredOneAppendAfterTheIntervalUploads(t *testing.T) {
	w, c, tp := singleTiered(t, func(c *broker.Config) { c.Tier.UploadInterval = sm.Second })
	produceValues(w, tp, 0, 10)
	w.run(ms(1200))
	produceValues(w, tp, 10, 1)
	w.run(ms(1000))
	if r := c.parts[tp].Remote; r.End < 10 {
		t.Fatalf("uploaded range %+v, want it to reach 10", r)
	}
}

// A partition that receives nothing more still has its committed data
// uploaded within the upload interval: the active segment's committed bytes
// go up as they are, so losing every disk loses at most that window.
func TestTieredQuietPartitionUploadsActiveSegment(t *testing.T) {
	w, c, tp := singleTiered(t, func(c *broker.Config) { c.Tier.UploadInterval = sm.Second })
	produceValues(w, tp, 0, 3) // the first record is 900 ms old after this
	if r := c.parts[tp].Remote; r.End != 0 {
		t.Fatalf("uploaded %+v before the interval passed", r)
	}
	w.run(ms(2000))
	r := c.parts[tp].Remote
	if r.End != 3 {
		t.Fatalf("uploaded range %+v a while after the interval, want it to end at 3", r)
	}
	// The next records roll the segment; it is uploaded whole and recorded
	// from the uploaded end.
	produceValues(w, tp, 3, 4)
	w.run(ms(2500))
	if r := c.parts[tp].Remote; r.End != 7 {
		t.Fatalf("uploaded range %+v, want it to end at 7", r)
	}
	segs := c.remote[tp]
	for i := 1; i < len(segs); i++ {
		if segs[i].Base != segs[i-1].Next {
			t.Fatalf("records not contiguous: %+v", segs)
		}
	}
	if got := consumeAll(w, 101, 1, tp); len(got) != 7 {
		t.Fatalf("read back %d records", len(got))
	}
}

// singleTiered is one tiered broker (cfg adjusts it) leading topic "t" of
// one partition at RF 1 and min ISR 1, settled.
func singleTiered(t *testing.T, cfg func(*broker.Config)) (*world, *fakeController, sm.TopicPartition) {
	w := newWorld(t)
	w.objects = testkit.NewObjects()
	w.tierCfg = cfg
	w.start(101, 1, nil)
	w.topic("t", 1, 101)
	c := w.ctrl[ctrl1]
	ti := c.topics["t"]
	ti.ID = sm.TopicID{9}
	ti.Config.MinInSyncReplicas = 1
	c.topics["t"] = ti
	c.version++
	w.run(ms(500))
	return w, c, sm.TopicPartition{Topic: "t", Partition: 0}
}

// Goal (issue 12, seek by time, with tiered storage): a ListOffsets by
// timestamp answers the first committed batch stamped at or after the time
// whether it lies in the object store (below the local log start) or on
// the leader's disk, checked by brute force at every batch's stamp; some
// lookups must have gone to the object store.
func TestTieredTimeLookup(t *testing.T) {
	w, tp := tieredWorld(t)
	for i := range 60 {
		produceValues(w, tp, i, 1)
		w.run(ms(50 + int64(i%3)*40))
	}
	w.run(ms(2000))
	if s := w.status(101, tp); s.LocalStart == 0 {
		t.Fatalf("nothing below the local start to look up: %+v", s)
	}
	type stamp struct {
		base sm.Offset
		ts   int64
	}
	var log []stamp
	for off := sm.Offset(0); ; {
		r := w.client(101, sm.FetchRequest{ReqID: 9, TP: tp, Offset: off, CurrentLeaderEpoch: 1}, ms(20)).(sm.FetchResponse)
		if r.Code != sm.CodeOK {
			t.Fatalf("fetch at %d: %+v", off, r)
		}
		if len(r.Batches) == 0 {
			break
		}
		for _, b := range r.Batches {
			log = append(log, stamp{b.BaseOffset, b.Timestamp})
			off = b.NextOffset()
		}
	}
	first := func(ts int64) (sm.Offset, int64) {
		for _, s := range log {
			if s.ts >= ts {
				return s.base, s.ts
			}
		}
		return -1, 0
	}
	for _, s := range log {
		for _, ts := range []int64{s.ts - 1, s.ts, s.ts + 1} {
			want, wantTs := first(ts)
			r := w.client(101, sm.ListOffsetsRequest{ReqID: 11, TP: tp, ByTime: true, Timestamp: ts}, ms(20)).(sm.ListOffsetsResponse)
			if r.Code != sm.CodeOK || r.Offset != want || want >= 0 && r.OffsetTimestamp != wantTs {
				t.Fatalf("time %d: got offset %d stamped %d (%v %s), want %d stamped %d", ts, r.Offset, r.OffsetTimestamp, r.Code, r.Message, want, wantTs)
			}
		}
	}
	if cs := w.nodes[101].n.ColdCacheStats(); cs.Seeks == 0 {
		t.Fatalf("no lookup went to the object store: %+v", cs)
	}
}
