package sm

import (
	"bytes"
	"errors"
	"hash/crc32"
	"testing"
)

func sampleBatch() Batch {
	b := Batch{BaseOffset: 42, Epoch: 3, Records: []Record{{Key: []byte("k"), Value: []byte("hello")}, {Value: []byte("world")}}}
	b.Seal()
	return b
}

func TestBatchRoundTrip(t *testing.T) {
	b := sampleBatch()
	buf := EncodeBatch(nil, &b)
	got, n, err := DecodeBatch(buf)
	if err != nil || n != len(buf) {
		t.Fatalf("decode: n=%d err=%v", n, err)
	}
	if got.BaseOffset != 42 || got.Epoch != 3 || len(got.Records) != 2 || string(got.Records[0].Value) != "hello" || !got.Verify() {
		t.Fatalf("decoded %+v", got)
	}
	if got.NextOffset() != 44 {
		t.Fatalf("next offset %d", got.NextOffset())
	}
}

func TestBatchTornAndCorrupt(t *testing.T) {
	b := sampleBatch()
	buf := EncodeBatch(nil, &b)
	buf = EncodeBatch(buf, &b)
	one := len(buf) / 2
	for cut := 1; cut < one; cut++ {
		bs, n, err := DecodeLog(buf[:one+cut])
		if len(bs) != 1 || n != one || !errors.Is(err, ErrShortFrame) {
			t.Fatalf("cut %d: got %d batches, %d bytes, %v", cut, len(bs), n, err)
		}
	}
	bad := bytes.Clone(buf)
	bad[one+20] ^= 0x40
	bs, n, err := DecodeLog(bad)
	if len(bs) != 1 || n != one || !errors.Is(err, ErrCorruptFrame) {
		t.Fatalf("corrupt: got %d batches, %d bytes, %v", len(bs), n, err)
	}
	// A batch corrupted in memory after sealing fails Verify and, once
	// encoded, fails decoding: corruption is visible, never served.
	c := sampleBatch()
	c.Records[0].Value = []byte("HELLO")
	if c.Verify() {
		t.Fatal("verify passed a modified batch")
	}
	if _, _, err := DecodeBatch(EncodeBatch(nil, &c)); !errors.Is(err, ErrCorruptFrame) {
		t.Fatalf("decode of modified batch: %v", err)
	}
}

func TestParseAcks(t *testing.T) {
	for in, want := range map[string]Acks{"none": {Kind: AckNone}, "leader": {Kind: AckLeader}, "majority": {Kind: AckMajority}, "all": {Kind: AckAll}, "custom(3)": {Kind: AckCustom, N: 3}} {
		got, err := ParseAcks(in)
		if err != nil || got != want {
			t.Errorf("ParseAcks(%q) = %v, %v", in, got, err)
		}
		if got.String() != in {
			t.Errorf("String() = %q, want %q", got.String(), in)
		}
	}
	if _, err := ParseAcks("most"); err == nil {
		t.Error("ParseAcks accepted \"most\"")
	}
}

// FuzzDecodeBatch: any bytes decode to a batch or an error, never a panic,
// and a decoded batch re-encodes to the same bytes.
func FuzzDecodeBatch(f *testing.F) {
	b := sampleBatch()
	f.Add(EncodeBatch(nil, &b))
	v2 := sampleV2()
	f.Add(EncodeBatch(nil, &v2))
	z := Batch{V2: true, Codec: CodecZstd, Count: 3, Block: []byte("zz"), BlockCRC: BlockChecksum([]byte("zz")), BaseOffset: 1}
	z.Seal()
	f.Add(EncodeBatch(nil, &z))
	f.Add([]byte{})
	f.Add([]byte{255, 255, 255, 255, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, n, err := DecodeBatch(data)
		if err != nil {
			return
		}
		if re := EncodeBatch(nil, &got); !bytes.Equal(re, data[:n]) {
			t.Fatalf("re-encode differs")
		}
	})
}

// BatchCRC equals the checksum of the encoded body, and allocates no copy
// of it: a constant two small buffers (the header and a length, which the
// checksum's assembly makes escape), whatever the batch's size.
func TestBatchCRCStreams(t *testing.T) {
	b := Batch{BaseOffset: 7, Epoch: 3, Timestamp: 1_767_225_600_123, Records: []Record{{Key: []byte("k"), Value: []byte("v1")}, {Value: make([]byte, 3000)}, {Key: []byte("only key")}}}
	if got, want := BatchCRC(&b), crc32.Checksum(appendBatchBody(nil, &b), castagnoli); got != want {
		t.Fatalf("BatchCRC %08x, checksum of the body %08x", got, want)
	}
	if n := testing.AllocsPerRun(100, func() { BatchCRC(&b) }); n > 2 {
		t.Fatalf("BatchCRC allocates %v times per call", n)
	}
}

// BatchCRC of a 64-record batch of 1 KiB values, beside the checksum of an
// encoded copy (what it computed before) as the baseline.
func BenchmarkBatchCRC(b *testing.B) {
	bt := Batch{BaseOffset: 1, Epoch: 1, Timestamp: 1}
	for range 64 {
		bt.Records = append(bt.Records, Record{Value: make([]byte, 1024)})
	}
	b.Run("streamed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			BatchCRC(&bt)
		}
	})
	b.Run("encoded-copy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			crc32.Checksum(appendBatchBody(nil, &bt), castagnoli)
		}
	})
}
