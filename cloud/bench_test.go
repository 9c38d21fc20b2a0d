package cloud_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/weirmq/weir/cloud"
	"github.com/weirmq/weir/cloud/local"
	"github.com/weirmq/weir/sm"
)

// benchSegment is a 16 MiB segment of 1 MiB batches.
func benchSegment() ([]byte, sm.Offset) {
	var seg []byte
	off := sm.Offset(0)
	for range 16 {
		b := sm.Batch{BaseOffset: off, Epoch: 1}
		for range 256 {
			b.Records = append(b.Records, sm.Record{Value: bytes.Repeat([]byte{'v'}, 4096-8)})
		}
		b.Seal()
		seg = sm.EncodeBatch(seg, &b)
		off = b.NextOffset()
	}
	return seg, off
}

// BenchmarkUpload compares a verified source put through the Executor with
// the raw Store.Put of the same bytes, on a local store (same run): the
// verifier's and the executor's cost over the store's.
func BenchmarkUpload(b *testing.B) {
	seg, next := benchSegment()
	b.Run("raw-store", func(b *testing.B) {
		st, err := local.Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(seg)))
		for i := 0; b.Loop(); i++ {
			if _, err := st.Put(context.Background(), fmt.Sprintf("o/%d", i), bytes.NewReader(seg), int64(len(seg)), true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("executor-verified", func(b *testing.B) {
		st, err := local.Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		s := newSubject(b, st, cloud.ExecutorConfig{MaxConcurrentUploads: 1})
		defer s.Close()
		tp := sm.TopicPartition{Topic: "b"}
		s.Plant(nil, tp, 0, seg)
		src := sm.SegmentSource{TP: tp, Len: int64(len(seg)), Next: next}
		b.SetBytes(int64(len(seg)))
		for i := 0; b.Loop(); i++ {
			s.StartObject([]sm.ObjectOp{{ID: sm.EffectID(i + 1), Kind: sm.ObjPut, Name: fmt.Sprintf("o/%d", i), Source: &src, CreateOnly: true}})
			if d := (<-s.done).(sm.ObjectDone); d.Outcome != sm.OutcomeOK {
				b.Fatal(d.Reason)
			}
		}
	})
}
