package sm

import (
	"errors"
	"reflect"
	"testing"
)

func segmentBytes(t testing.TB, base Offset, n int, recBytes int) ([]byte, []Batch) {
	t.Helper()
	var data []byte
	var bs []Batch
	off := base
	for i := range n {
		b := Batch{BaseOffset: off, Epoch: Epoch(1 + i/7), Timestamp: int64(1000 + 10*i - 5*(i%3)), Records: []Record{{Key: []byte("k"), Value: make([]byte, recBytes)}, {Value: []byte{byte(i)}}}}
		b.Seal()
		data = EncodeBatch(data, &b)
		bs = append(bs, b)
		off = b.NextOffset()
	}
	return data, bs
}

// The index a store rebuilds by scanning a segment is the one built while
// appending, survives its file format, and locates every batch.
func TestSegmentIndexRoundTrip(t *testing.T) {
	data, bs := segmentBytes(t, 100, 40, 3000)
	b := NewIndexBuilder(100)
	pos := 0
	for i := range bs {
		n := FrameBytes(bs[i].Records)
		b.Add(MetaOf(&bs[i], n))
		pos += n
	}
	built := b.Index()
	scanned, serr := ScanSegment(data, 100, 0)
	if serr != nil {
		t.Fatal(serr)
	}
	if !reflect.DeepEqual(built, scanned) {
		t.Fatalf("built %+v\nscanned %+v", built, scanned)
	}
	if built.Bytes != int64(len(data)) || built.Next != bs[len(bs)-1].NextOffset() || len(built.Entries) < 3 || len(built.Epochs) != 6 {
		t.Fatalf("index %+v", built)
	}
	built.Sealed = true
	file := EncodeSegmentIndex(nil, &built)
	got, err := DecodeSegmentIndex(file)
	if err != nil || !reflect.DeepEqual(got, built) {
		t.Fatalf("decoded %+v, %v", got, err)
	}
	for i := range bs {
		e, ok := built.Locate(bs[i].BaseOffset + 1)
		if !ok || e.Offset > bs[i].BaseOffset || bs[i].BaseOffset-e.Offset > Offset(2*IndexIntervalBytes/3000+2) {
			t.Fatalf("locate %d: %+v %v", bs[i].BaseOffset, e, ok)
		}
		if _, n, err := DecodeBatch(data[e.Pos:]); err != nil || n == 0 {
			t.Fatalf("entry %+v is not a frame: %v", e, err)
		}
	}
	if _, ok := built.Locate(99); ok {
		t.Fatal("located an offset below the segment")
	}
	for i := range file {
		bad := append([]byte(nil), file...)
		bad[i] ^= 0x10
		if _, err := DecodeSegmentIndex(bad); !errors.Is(err, ErrBadIndex) {
			t.Fatalf("flipped byte %d: %v", i, err)
		}
	}
}

// A scan stops at the first torn, corrupt or out-of-place frame and says
// which it is.
func TestScanSegmentStops(t *testing.T) {
	data, bs := segmentBytes(t, 0, 5, 10)
	cut := len(data) - 3
	idx, serr := ScanSegment(data[:cut], 0, 0)
	if serr == nil || !serr.Torn || idx.Next != bs[3].NextOffset() {
		t.Fatalf("torn: %+v %v", idx, serr)
	}
	flip := append([]byte(nil), data...)
	flip[FrameBytes(bs[0].Records)+20] ^= 1
	if idx, serr = ScanSegment(flip, 0, 0); serr == nil || serr.Torn || idx.Next != bs[0].NextOffset() {
		t.Fatalf("flipped: %+v %v", idx, serr)
	}
	if _, serr = ScanSegment(data, 1, 0); serr == nil || serr.Pos != 0 {
		t.Fatalf("wrong base: %v", serr)
	}
	if _, serr = ScanSegment(data, 0, 9); serr == nil {
		t.Fatal("epoch going back accepted")
	}
}

func FuzzDecodeSegmentIndex(f *testing.F) {
	data, _ := segmentBytes(f, 7, 12, 5000)
	idx, _ := ScanSegment(data, 7, 0)
	idx.Sealed = true
	f.Add(EncodeSegmentIndex(nil, &idx))
	f.Fuzz(func(t *testing.T, buf []byte) {
		got, err := DecodeSegmentIndex(buf)
		if err != nil {
			return
		}
		again, err := DecodeSegmentIndex(EncodeSegmentIndex(nil, &got))
		if err != nil || !reflect.DeepEqual(got, again) {
			t.Fatalf("re-encoded index differs: %v", err)
		}
	})
}

// Goal: a segment index records its idempotent batches — rebuilt the same
// by a scan, kept through the index file, trimmed to the last
// ProducerBatchesKept of each producer as the list grows — and an index
// file written before producers existed still decodes.
func TestSegmentIndexProducers(t *testing.T) {
	var data []byte
	b := NewIndexBuilder(0)
	off := Offset(0)
	seqs := map[int64]int32{}
	for i := range 300 {
		pid := int64(i % 7)
		if i%5 == 4 {
			pid = -1 // not idempotent
		}
		bt := NewBatchV2([]Record{{Value: []byte{byte(i)}}, {Value: []byte("x")}})
		bt.BaseOffset, bt.Epoch, bt.Timestamp = off, 1, int64(i)
		if pid >= 0 {
			bt.ProducerID, bt.ProducerEpoch, bt.BaseSequence = pid, 0, seqs[pid]
			seqs[pid] = SeqAdd(seqs[pid], 2)
		}
		bt.Seal()
		at := len(data)
		data = EncodeBatch(data, &bt)
		b.Add(MetaOf(&bt, len(data)-at))
		off = bt.NextOffset()
	}
	built := b.Index()
	scanned, serr := ScanSegment(data, 0, 0)
	if serr != nil {
		t.Fatal(serr)
	}
	if !reflect.DeepEqual(built, scanned) {
		t.Fatalf("built %d producer batches, scanned %d", len(built.Producers), len(scanned.Producers))
	}
	// 240 idempotent batches of 7 producers: trimmed as the list doubled,
	// never below the last five of each.
	if n := len(built.Producers); n >= 240 || n < 7*ProducerBatchesKept {
		t.Fatalf("%d producer batches kept", n)
	}
	last := TrimProducers(built.Producers)
	if len(last) != 7*ProducerBatchesKept {
		t.Fatalf("trimmed to %d", len(last))
	}
	newest := map[int64]ProducerBatch{}
	for _, pb := range last {
		newest[pb.ProducerID] = pb
	}
	for _, pb := range newest {
		if pb.LastSeq != SeqAdd(seqs[pb.ProducerID], -1) || pb.Last != pb.Base+1 {
			t.Fatalf("newest batch of producer %d: %+v (its next sequence %d)", pb.ProducerID, pb, seqs[pb.ProducerID])
		}
	}
	built.Sealed = true
	got, err := DecodeSegmentIndex(EncodeSegmentIndex(nil, &built))
	if err != nil || !reflect.DeepEqual(got, built) {
		t.Fatalf("decoded %v", err)
	}
	old := built
	old.Producers = nil
	if got, err := DecodeSegmentIndex(EncodeSegmentIndex(nil, &old)); err != nil || got.Producers != nil {
		t.Fatalf("an index without producers: %+v, %v", got.Producers, err)
	}
	if cut := CutProducers(built.Producers, 560); len(cut) == 0 || cut[len(cut)-1].Base >= 560 || len(cut) == len(built.Producers) {
		t.Fatalf("cut at 560 keeps %d of %d", len(cut), len(built.Producers))
	}
	if SeqAdd(1<<31-1, 1) != 0 || SeqAdd(5, 3) != 8 {
		t.Fatalf("sequence numbers wrap at MaxInt32")
	}
}
