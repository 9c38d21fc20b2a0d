package cloud

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/weirmq/weir/sm"
)

func segmentOf(n int) []byte {
	var out []byte
	for i := range n {
		b := sm.Batch{BaseOffset: sm.Offset(2 * i), Epoch: 1, Records: []sm.Record{{Value: []byte("a")}, {Value: bytes.Repeat([]byte("b"), i)}}}
		b.Seal()
		out = sm.EncodeBatch(out, &b)
	}
	return out
}

// The verifier passes exactly the bytes sm.ScanSegment accepts whole, from
// Base to Next: whatever the source holds, it either hands on all of it
// with the offsets named, or refuses it with a classified error naming a
// byte, never a wrong body.
func FuzzVerifier(f *testing.F) {
	seg := segmentOf(4)
	f.Add(seg, int64(0), int64(8))
	f.Add(seg[:len(seg)-1], int64(0), int64(8))
	f.Add(seg, int64(2), int64(8))
	f.Add(append(bytes.Clone(seg), 0), int64(0), int64(8))
	f.Fuzz(func(t *testing.T, data []byte, base, next int64) {
		src := sm.SegmentSource{Len: int64(len(data)), Base: sm.Offset(base), Next: sm.Offset(next)}
		aborted := false
		v := newVerifier(src, bytes.NewReader(data), func() { aborted = true })
		got, err := io.ReadAll(v)
		idx, serr := sm.ScanSegment(data, sm.Offset(base), 0)
		// ScanSegment also checks epochs, which the verifier leaves to the
		// uploader (the frames of one segment were checked when written).
		valid := serr == nil && idx.Next == sm.Offset(next)
		if err == nil {
			if !bytes.Equal(got, data) {
				t.Fatalf("passed %d bytes of %d", len(got), len(data))
			}
			if !valid && (serr == nil || !bytes.Contains([]byte(serr.Reason), []byte("epoch"))) {
				t.Fatalf("passed a source ScanSegment refuses: %v (next %d, want %d)", serr, idx.Next, next)
			}
			return
		}
		var ce *Error
		if !errors.As(err, &ce) || ce.Kind != sm.ObjErrSourceCorrupt || !aborted || !bytes.Contains([]byte(err.Error()), []byte("byte ")) {
			t.Fatalf("refusal %v (aborted %v)", err, aborted)
		}
		if valid {
			t.Fatalf("refused a valid source: %v", err)
		}
		if len(got) >= len(data) && len(data) > 0 {
			t.Fatalf("handed on all %d bytes of a refused source", len(got))
		}
	})
}
