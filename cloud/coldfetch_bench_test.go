package cloud_test

// BenchmarkColdServe measures the broker's cold read path on its own: one
// partition's fetches served by tier.ColdReader and tier.ColdCache, their
// gets run by the production Executor on a cloud/local store, and every
// answer encoded as the broker sends it (wire.AppendFrame), one fetch after
// another from offset 0 as one consumer reads. The baseline, in the same
// iteration, is raw ranged reads of the same objects: Store.Get in 1 MiB
// ranges, one after another. The page cache of the objects is dropped
// before each pass, and each cold pass starts with an empty cold cache.
//
//	go test ./cloud -run '^$' -bench ColdServe -benchtime 5x
//
// What it leaves out is the transport: BenchmarkTierColdFetch in
// cmd/internal/dev measures the same reads end to end through the SDK and
// QUIC, and net/transport's BenchmarkStreamThroughput the stream's ceiling.

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weirmq/weir/cloud"
	"github.com/weirmq/weir/cloud/local"
	"github.com/weirmq/weir/net/wire"
	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/host"
	"github.com/weirmq/weir/sm/tier"
)

func BenchmarkColdServe(b *testing.B) {
	const (
		segments     = 64
		batchesEach  = 4
		recordsEach  = 256
		valueBytes   = 1024
		cacheBytes   = 256 << 20 // [cache] read_cache_size_bytes default
		rawChunk     = 1 << 20
		recsPerSeg   = batchesEach * recordsEach
		totalRecords = segments * recsPerSeg
	)
	dir := b.TempDir()
	st, err := local.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	tp := sm.TopicPartition{Topic: "cold", Partition: 0}
	value := bytes.Repeat([]byte("v"), valueBytes)
	var segs []sm.RemoteSegment
	var objBytes int64
	for s := 0; s < segments; s++ {
		base := sm.Offset(s * recsPerSeg)
		ib := sm.NewIndexBuilder(base)
		var data []byte
		for k := 0; k < batchesEach; k++ {
			bt := sm.Batch{BaseOffset: base + sm.Offset(k*recordsEach), Epoch: 1, Timestamp: int64(s)}
			for range recordsEach {
				bt.Records = append(bt.Records, sm.Record{Value: value})
			}
			bt.CRC = sm.BatchCRC(&bt)
			at := len(data)
			data = sm.EncodeBatch(data, &bt)
			ib.Add(sm.MetaOf(&bt, len(data)-at))
		}
		idx := ib.Index()
		obj := sm.EncodeSegmentIndex(bytes.Clone(data), &idx)
		name := fmt.Sprintf("segments/cold/0/%020d.seg", base)
		if _, err := st.Put(ctx, name, bytes.NewReader(obj), int64(len(obj)), true); err != nil {
			b.Fatal(err)
		}
		segs = append(segs, sm.RemoteSegment{Name: name, Base: base, Next: base + recsPerSeg,
			DataBytes: int64(len(data)), IndexBytes: int64(len(obj) - len(data)), MaxTimestamp: int64(s),
			LeaderEpoch: 1, Epochs: idx.Epochs})
		objBytes += int64(len(obj))
	}

	var rawT, coldT time.Duration
	var served int64
	for b.Loop() {
		dropCache(b, dir)
		t0 := time.Now()
		for _, s := range segs {
			for off := int64(0); off < s.Bytes(); off += rawChunk {
				if _, err := st.Get(ctx, s.Name, off, rawChunk); err != nil {
					b.Fatal(err)
				}
			}
		}
		rawT += time.Since(t0)

		dropCache(b, dir)
		t0 = time.Now()
		served = coldServe(b, st, tp, segs, cacheBytes, totalRecords)
		coldT += time.Since(t0)
	}
	n := float64(b.N)
	rawMBs := float64(objBytes) / (rawT.Seconds() / n) / 1e6
	coldMBs := float64(served) / (coldT.Seconds() / n) / 1e6
	b.ReportMetric(rawMBs, "raw-MB/s")
	b.ReportMetric(coldMBs, "cold-MB/s")
	// The ratio of times over the same objects, as BenchmarkTierColdFetch.
	b.ReportMetric(100*rawT.Seconds()/coldT.Seconds(), "cold/raw-%")
	b.ReportMetric(float64(objBytes)/1e6, "object-MB")
}

// coldServe reads the partition from offset 0 to end through a fresh
// ColdReader and cache and returns the records' value bytes answered.
func coldServe(b *testing.B, st cloud.Store, tp sm.TopicPartition, segs []sm.RemoteSegment, cacheBytes int64, end sm.Offset) int64 {
	b.Helper()
	events := make(chan sm.Event, 1024)
	ex, err := cloud.NewExecutor(st, nil, func(ev sm.Event) { events <- ev }, cloud.ExecutorConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer ex.Close()
	cache := tier.NewColdCache(tier.ColdCacheConfig{BudgetBytes: cacheBytes})
	r := tier.NewColdReader(tier.ColdReaderConfig{TP: tp, Self: 101}, cache)
	view := tier.View{HighWatermark: end, LeaderEpoch: 1}
	var ids host.IDs
	var frame []byte
	var served int64
	next, reqID := sm.Offset(0), uint64(0)
	for next < end {
		i := int((next - segs[0].Base) / (segs[0].Next - segs[0].Base))
		reqID++
		r.Fetch(0, 1_000_001, sm.FetchRequest{ReqID: reqID, TP: tp, Offset: next}, segs[i:], view)
		for answered := false; !answered; {
			ops, replies, _ := r.TakeOutput(&ids)
			ex.StartObject(ops)
			for _, env := range replies {
				resp := env.Msg.(sm.FetchResponse)
				if resp.Code != sm.CodeOK || len(resp.Batches) == 0 {
					b.Fatalf("fetch at %d: %v %s", next, resp.Code, resp.Message)
				}
				frame, _ = wire.AppendFrame(frame[:0], resp) // as the broker sends it
				for _, bt := range resp.Batches {
					for k, rec := range bt.Records {
						if off := bt.BaseOffset + sm.Offset(k); off >= next {
							served += int64(len(rec.Value))
							next = off + 1
						}
					}
				}
				answered = true
			}
			if !answered {
				r.OnObjectDone(0, (<-events).(sm.ObjectDone), view)
			}
		}
	}
	return served
}

// dropCache drops the page cache of every file under dir.
func dropCache(b *testing.B, dir string) {
	b.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_ = unix.Fdatasync(int(f.Fd()))
		return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	})
	if err != nil {
		b.Fatal(err)
	}
}
