package broker_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/weirmq/weir/io/codec"
	"github.com/weirmq/weir/sm"
)

// compressedProduce is a produce of recs as a records block compressed
// with c, as the SDK sends it.
func compressedProduce(t *testing.T, tp sm.TopicPartition, c sm.Codec, recs []sm.Record) sm.ProduceRequest {
	t.Helper()
	block := sm.EncodeRecords(nil, recs)
	if c != sm.CodecNone {
		var err error
		if block, err = (codec.Codecs{}).Compress(c, block); err != nil {
			t.Fatal(err)
		}
	}
	return sm.ProduceRequest{ReqID: 7, TP: tp, Acks: sm.Acks{Kind: sm.AckAll}, Codec: c, Block: block, Count: int32(len(recs)), BlockCRC: sm.BlockChecksum(block)}
}

func jsonRecords(n int) []sm.Record {
	var recs []sm.Record
	for i := range n {
		recs = append(recs, sm.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf(`{"id":%d,"event":"page_view","path":"/products/%d"}`, i, i%7)),
			Headers: []sm.Header{{Key: "trace-id", Value: []byte(fmt.Sprintf("t-%d", i))}}})
	}
	return recs
}

// fetchAll reads tp from offset 0 as a consumer and decodes every batch.
func fetchAll(t *testing.T, w *world, tp sm.TopicPartition) ([]sm.Batch, []sm.Record) {
	t.Helper()
	r := w.client(101, sm.FetchRequest{ReqID: 8, TP: tp}, 10*sm.Millisecond).(sm.FetchResponse)
	if r.Code != sm.CodeOK {
		t.Fatalf("fetch: %+v", r)
	}
	var recs []sm.Record
	for _, b := range r.Batches {
		rs, err := b.Decode(codec.Codecs{}, 1<<24)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rs...)
	}
	return r.Batches, recs
}

func sameRecords(t *testing.T, got, want []sm.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if !bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) || len(g.Headers) != len(w.Headers) ||
			g.Headers[0].Key != w.Headers[0].Key || !bytes.Equal(g.Headers[0].Value, w.Headers[0].Value) {
			t.Fatalf("record %d: %+v, want %+v", i, g, w)
		}
	}
}

// Goal: a compressed produce is stored and replicated as the producer
// compressed it (the followers' logs hold the same block), served whole,
// and decodes to the records with their headers.
func TestCompressedProduceStoredAsSent(t *testing.T) {
	for _, c := range []sm.Codec{sm.CodecNone, sm.CodecGzip, sm.CodecSnappy, sm.CodecLZ4, sm.CodecZstd} {
		t.Run(c.String(), func(t *testing.T) {
			w := newWorld(t, 101, 102, 103)
			w.topic("t", 1, 101, 102, 103)
			w.run(300 * sm.Millisecond)
			tp := sm.TopicPartition{Topic: "t"}
			recs := jsonRecords(50)
			req := compressedProduce(t, tp, c, recs)
			if r := w.client(101, req, 200*sm.Millisecond).(sm.ProduceResponse); r.Code != sm.CodeOK {
				t.Fatalf("produce: %+v", r)
			}
			bs, got := fetchAll(t, w, tp)
			sameRecords(t, got, recs)
			if len(bs) != 1 || !bs[0].V2 || bs[0].Codec != c || !bytes.Equal(bs[0].Block, req.Block) {
				t.Fatalf("served %d batches, codec %v: not the producer's block", len(bs), bs[0].Codec)
			}
			for _, id := range []sm.NodeID{102, 103} {
				log := nodeLog(w.nodes[id].n, w.nodes[id].disk, tp)
				if len(log) != 1 || !bytes.Equal(log[0].Block, req.Block) {
					t.Fatalf("%v holds %d batches, not the producer's block", id, len(log))
				}
			}
		})
	}
}

// Goal: a topic whose compression_type names a codec stores every batch
// with it, recompressing what producers sent otherwise (plain records,
// another codec); "none" stores them uncompressed.
func TestTopicForcesCodec(t *testing.T) {
	w := newWorld(t)
	for _, id := range []sm.NodeID{101, 102, 103} {
		cfg := testConfig(id, 1)
		cfg.Compressor = codec.Codecs{}
		w.startWith(id, cfg)
	}
	w.topic("z", 1, 101, 102, 103)
	w.topic("n", 1, 101, 102, 103)
	c := w.ctrl[ctrl1]
	z := c.topics["z"]
	z.Config.CompressionType = "zstd"
	c.topics["z"] = z
	n := c.topics["n"]
	n.Config.CompressionType = "none"
	c.topics["n"] = n
	c.version++
	w.run(300 * sm.Millisecond)
	recs := jsonRecords(20)
	zt, nt := sm.TopicPartition{Topic: "z"}, sm.TopicPartition{Topic: "n"}
	for _, req := range []sm.ProduceRequest{compressedProduce(t, zt, sm.CodecLZ4, recs), produce(zt, sm.Acks{Kind: sm.AckAll}, "plain"),
		compressedProduce(t, nt, sm.CodecGzip, recs)} {
		if r := w.client(101, req, 200*sm.Millisecond).(sm.ProduceResponse); r.Code != sm.CodeOK {
			t.Fatalf("produce to %v: %+v", req.TP, r)
		}
	}
	bs, got := fetchAll(t, w, zt)
	if len(bs) != 2 || bs[0].Codec != sm.CodecZstd || bs[1].Codec != sm.CodecZstd {
		t.Fatalf("topic z holds %d batches, codecs %v %v: want zstd", len(bs), bs[0].Codec, bs[len(bs)-1].Codec)
	}
	sameRecords(t, got[:20], recs)
	if string(got[20].Value) != "plain" {
		t.Fatalf("plain record %+v", got[20])
	}
	bs, got = fetchAll(t, w, nt)
	if len(bs) != 1 || bs[0].Codec != sm.CodecNone || bs[0].Records == nil {
		t.Fatalf("topic n holds %+v: want uncompressed", bs)
	}
	sameRecords(t, got, recs)
}

// Goal: bad produced blocks are refused with a code that names the
// problem, nothing is stored, and the broker carries on: a checksum that
// does not match, garbage under a codec, an unknown codec, a header key
// that is not UTF-8, records and a block together, a record over the size
// limit inside an uncompressed block.
func TestBadProducedBlocks(t *testing.T) {
	w := newWorld(t)
	for _, id := range []sm.NodeID{101, 102, 103} {
		cfg := testConfig(id, 1)
		cfg.Compressor = codec.Codecs{}
		cfg.MaxRecordBytes = 1000
		w.startWith(id, cfg)
	}
	w.topic("t", 1, 101, 102, 103)
	w.run(300 * sm.Millisecond)
	tp := sm.TopicPartition{Topic: "t"}
	good := compressedProduce(t, tp, sm.CodecZstd, jsonRecords(3))
	badCRC := good
	badCRC.BlockCRC ^= 1
	garbage := good
	garbage.Block = []byte("definitely not zstd")
	garbage.BlockCRC = sm.BlockChecksum(garbage.Block)
	unknown := good
	unknown.Codec = 9
	notUTF8 := compressedProduce(t, tp, sm.CodecNone, []sm.Record{{Value: []byte("v"), Headers: []sm.Header{{Key: "\xff", Value: []byte("x")}}}})
	both := good
	both.Records = []sm.Record{{Value: []byte("v")}}
	big := compressedProduce(t, tp, sm.CodecNone, []sm.Record{{Value: bytes.Repeat([]byte("x"), 2000)}})
	cases := []struct {
		name string
		req  sm.ProduceRequest
		code sm.Code
		msg  string
	}{
		{"checksum", badCRC, sm.CodeCorruptMessage, "checksum"},
		{"garbage", garbage, sm.CodeCorruptMessage, "magic"},
		{"unknown codec", unknown, sm.CodeInvalidRequest, "unknown compression codec 9"},
		{"header key", notUTF8, sm.CodeCorruptMessage, "not UTF-8"},
		{"both", both, sm.CodeInvalidRequest, "both records and a records block"},
		{"too large", big, sm.CodeMessageTooLarge, "above max record bytes 1000"},
	}
	for _, c := range cases {
		r := w.client(101, c.req, 50*sm.Millisecond).(sm.ProduceResponse)
		if r.Code != c.code || !strings.Contains(r.Message, c.msg) {
			t.Errorf("%s: %v %q, want %v with %q", c.name, r.Code, r.Message, c.code, c.msg)
		}
	}
	if st := w.status(101, tp); st.LEO != 0 {
		t.Fatalf("log end %d after refused produces", st.LEO)
	}
	if r := w.client(101, good, 200*sm.Millisecond).(sm.ProduceResponse); r.Code != sm.CodeOK {
		t.Fatalf("a good produce after the bad ones: %+v", r)
	}
}

// Goal: a topic with message_timestamp_type create_time stamps each batch
// with its newest record's create time (read from the records, or as a
// compressed block's producer declared it), so time lookups go by create
// time; a log_append_time topic stamps the append time whatever the
// producer said.
func TestCreateTimeTopic(t *testing.T) {
	w := newWorld(t, 101, 102, 103)
	w.topic("c", 1, 101, 102, 103)
	w.topic("a", 1, 101, 102, 103)
	c := w.ctrl[ctrl1]
	ct := c.topics["c"]
	ct.Config.TimestampType = sm.TimestampCreateTime
	c.topics["c"] = ct
	c.version++
	w.run(300 * sm.Millisecond)
	const old = 1_600_000_000_000 // 2020: nothing like the world's clock
	recs := []sm.Record{{Value: []byte("x"), Timestamp: old}, {Value: []byte("y"), Timestamp: old + 5}}
	for _, topic := range []string{"c", "a"} {
		tp := sm.TopicPartition{Topic: topic}
		plain := sm.ProduceRequest{ReqID: 1, TP: tp, Acks: sm.Acks{Kind: sm.AckAll}, Records: recs}
		comp := compressedProduce(t, tp, sm.CodecLZ4, []sm.Record{{Value: []byte("z"), Timestamp: old + 9}})
		comp.MaxTimestamp = old + 9
		for _, req := range []sm.ProduceRequest{plain, comp} {
			if r := w.client(101, req, 200*sm.Millisecond).(sm.ProduceResponse); r.Code != sm.CodeOK {
				t.Fatalf("produce to %s: %+v", topic, r)
			}
		}
		bs, _ := fetchAll(t, w, tp)
		if len(bs) != 2 {
			t.Fatalf("%s: %d batches", topic, len(bs))
		}
		switch topic {
		case "c":
			if bs[0].Timestamp != old+5 || !bs[0].CreateTime || bs[1].Timestamp != old+9 || !bs[1].CreateTime {
				t.Fatalf("create-time topic stamps %d %v, %d %v", bs[0].Timestamp, bs[0].CreateTime, bs[1].Timestamp, bs[1].CreateTime)
			}
			l := w.client(101, sm.ListOffsetsRequest{ReqID: 3, TP: tp, ByTime: true, Timestamp: old + 6}, 10*sm.Millisecond).(sm.ListOffsetsResponse)
			if l.Code != sm.CodeOK || l.Offset != 2 || l.OffsetTimestamp != old+9 {
				t.Fatalf("time lookup by create time: %+v", l)
			}
		case "a":
			if bs[0].Timestamp == old+5 || bs[1].Timestamp == old+9 || bs[0].CreateTime || bs[1].CreateTime {
				t.Fatalf("append-time topic stamps %d %v", bs[0].Timestamp, bs[0].CreateTime)
			}
		}
	}
}
