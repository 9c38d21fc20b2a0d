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
		b.Add(bs[i].BaseOffset, bs[i].NextOffset(), bs[i].Epoch, bs[i].Timestamp, n)
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
