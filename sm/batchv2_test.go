package sm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func sampleV2() Batch {
	b := NewBatchV2([]Record{
		{Key: []byte("k"), Value: []byte("hello"), Headers: []Header{{Key: "trace", Value: []byte("abc")}, {Key: "empty"}}},
		{Value: []byte("world")},
	})
	b.BaseOffset, b.Epoch, b.Timestamp = 42, 3, 1700
	b.Seal()
	return b
}

// Goal: a format-2 batch with headers round-trips through its frame, keeps
// its producer fields, counts its records, and is marked so that the
// fixed header's count field still says how many records it holds.
func TestBatchV2RoundTrip(t *testing.T) {
	b := sampleV2()
	b.ProducerID, b.ProducerEpoch, b.BaseSequence = 7, 2, 100
	b.Seal()
	buf := EncodeBatch(nil, &b)
	if len(buf) != b.FrameSize() {
		t.Fatalf("frame of %d bytes, FrameSize says %d", len(buf), b.FrameSize())
	}
	got, n, err := DecodeBatch(buf)
	if err != nil || n != len(buf) || !got.Verify() {
		t.Fatalf("decode: n=%d err=%v verify=%v", n, err, got.Verify())
	}
	if !got.V2 || got.Len() != 2 || got.NextOffset() != 44 || got.ProducerID != 7 || got.ProducerEpoch != 2 || got.BaseSequence != 100 {
		t.Fatalf("decoded %+v", got)
	}
	if h := got.Records[0].Headers; len(h) != 2 || h[0].Key != "trace" || string(h[0].Value) != "abc" || h[1].Key != "empty" || h[1].Value != nil {
		t.Fatalf("headers %+v", h)
	}
	count, v2 := FrameCount(binary.LittleEndian.Uint32(buf[32:]))
	if count != 2 || !v2 {
		t.Fatalf("FrameCount: %d %v", count, v2)
	}
	// A v1 frame is not marked.
	v1 := sampleBatch()
	if _, v2 := FrameCount(binary.LittleEndian.Uint32(EncodeBatch(nil, &v1)[32:])); v2 {
		t.Fatal("a format-1 frame reads as format 2")
	}
}

// Goal: every flipped byte of a format-2 frame is caught (the frame CRC
// covers the block as stored), and a frame whose block checksum disagrees
// with its block is refused even when the frame CRC was recomputed over
// the bad bytes (a producer's block damaged before the leader sealed it).
func TestBatchV2Corruption(t *testing.T) {
	b := sampleV2()
	buf := EncodeBatch(nil, &b)
	for i := 8; i < len(buf); i++ {
		bad := bytes.Clone(buf)
		bad[i] ^= 0x40
		if _, _, err := DecodeBatch(bad); err == nil {
			t.Fatalf("byte %d flipped: decoded", i)
		}
	}
	d := b
	d.Block = bytes.Clone(b.Block)
	d.Block[3] ^= 1
	d.Seal() // the leader sealed what it got
	if _, _, err := DecodeBatch(EncodeBatch(nil, &d)); !errors.Is(err, ErrCorruptFrame) || !strings.Contains(err.Error(), "block") {
		t.Fatalf("damaged block under a fresh frame CRC: %v", err)
	}
}

// Goal: a compressed batch decodes without its records (nothing is
// decompressed), counts them from its header, and cannot be cut.
func TestBatchV2Compressed(t *testing.T) {
	block := []byte("opaque compressed bytes")
	b := Batch{V2: true, Codec: CodecZstd, Count: 5, Block: block, BlockCRC: BlockChecksum(block), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
		BaseOffset: 10, Epoch: 1}
	b.Seal()
	got, _, err := DecodeBatch(EncodeBatch(nil, &b))
	if err != nil || got.Records != nil || got.Len() != 5 || got.NextOffset() != 15 || got.Codec != CodecZstd || !bytes.Equal(got.Block, block) {
		t.Fatalf("decoded %+v, %v", got, err)
	}
	if _, ok := got.Truncated(2); ok {
		t.Fatal("a compressed batch was cut")
	}
	if _, err := got.Decode(nil, 1<<20); err == nil {
		t.Fatal("decoded a compressed batch with no decompressor")
	}
	u := sampleV2()
	cut, ok := u.Truncated(1)
	if !ok || cut.Len() != 1 || !cut.Verify() {
		t.Fatalf("cut %+v %v", cut, ok)
	}
	if back, _, err := DecodeBatch(EncodeBatch(nil, &cut)); err != nil || back.Len() != 1 || string(back.Records[0].Value) != "hello" {
		t.Fatalf("cut batch decodes to %+v, %v", back, err)
	}
}

// Goal: malformed records blocks are refused with the record named: cut,
// trailing bytes, a header key that is not UTF-8, a count that lies, an
// unknown codec.
func TestDecodeRecordsBadInput(t *testing.T) {
	good := EncodeRecords(nil, []Record{{Key: []byte("k"), Value: []byte("v"), Headers: []Header{{Key: "h", Value: []byte("x")}}}})
	if _, err := DecodeRecords(good, 1); err != nil {
		t.Fatal(err)
	}
	badKey := EncodeRecords(nil, []Record{{Value: []byte("v"), Headers: []Header{{Key: "\xff\xfe", Value: []byte("x")}}}})
	cases := []struct {
		name  string
		block []byte
		count int
		want  string
	}{
		{"cut", good[:len(good)-1], 1, "record 0 header 0 value"},
		{"trailing", append(bytes.Clone(good), 0), 1, "after the last record"},
		{"not utf-8", badKey, 1, "not UTF-8"},
		{"count too large", good, 2, "2 records in a block"},
		{"count zero", good, 0, "0 records"},
	}
	for _, c := range cases {
		if _, err := DecodeRecords(c.block, c.count); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
	b := sampleV2()
	b.Codec = Codec(6)
	b.Seal()
	if _, _, err := DecodeBatch(EncodeBatch(nil, &b)); err == nil || !strings.Contains(err.Error(), "unknown codec 6") {
		t.Fatalf("unknown codec: %v", err)
	}
}

// Property: any records with any headers round-trip through a format-2
// frame, and the frame re-encodes to the same bytes.
func TestBatchV2RoundTripProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		bs := rapid.SliceOfN(rapid.Byte(), 0, 8)
		recs := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) Record {
			r := Record{Key: bs.Draw(t, "key"), Value: bs.Draw(t, "value")}
			for i := range rapid.IntRange(0, 3).Draw(t, "headers") {
				_ = i
				r.Headers = append(r.Headers, Header{Key: rapid.StringN(0, 6, -1).Draw(t, "hkey"), Value: bs.Draw(t, "hvalue")})
			}
			return r
		}), 1, 6).Draw(t, "records")
		b := NewBatchV2(recs)
		b.BaseOffset = Offset(rapid.Int64Range(0, 1<<40).Draw(t, "base"))
		b.Epoch = Epoch(rapid.Int64Range(0, 100).Draw(t, "epoch"))
		b.Timestamp = rapid.Int64().Draw(t, "ts")
		b.Seal()
		buf := EncodeBatch(nil, &b)
		got, n, err := DecodeBatch(buf)
		if err != nil || n != len(buf) {
			t.Fatalf("decode: %v", err)
		}
		norm := func(rs []Record) []Record {
			out := make([]Record, len(rs))
			for i, r := range rs {
				out[i] = Record{Key: nilIfEmpty(r.Key), Value: nilIfEmpty(r.Value)}
				for _, h := range r.Headers {
					out[i].Headers = append(out[i].Headers, Header{Key: h.Key, Value: nilIfEmpty(h.Value)})
				}
			}
			return out
		}
		if !reflect.DeepEqual(norm(got.Records), norm(recs)) {
			t.Fatalf("records %+v, want %+v", got.Records, recs)
		}
		if again := EncodeBatch(nil, &got); !bytes.Equal(again, buf) {
			t.Fatal("re-encoding differs")
		}
	})
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// Goal: the create-time attribute round-trips, and attribute bits this
// build does not know are refused.
func TestBatchV2Attributes(t *testing.T) {
	b := sampleV2()
	b.CreateTime, b.Codec = true, CodecNone
	b.Seal()
	got, _, err := DecodeBatch(EncodeBatch(nil, &b))
	if err != nil || !got.CreateTime {
		t.Fatalf("create time lost: %+v %v", got, err)
	}
	b.Codec = Codec(0x10)
	b.Seal()
	if _, _, err := DecodeBatch(EncodeBatch(nil, &b)); err == nil || !strings.Contains(err.Error(), "unknown attributes") {
		t.Fatalf("unknown attribute bits: %v", err)
	}
}
