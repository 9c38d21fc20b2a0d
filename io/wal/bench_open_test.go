//go:build linux

package wal

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weirmq/weir/sm"
)

// benchSegmentBytes is the segment size the start-up and read benchmarks
// roll at (the state machine's segment_bytes).
const benchSegmentBytes = 64 << 20

// benchFill writes total bytes of 1 MiB batches into parts partitions of a
// WAL at dir, rolling every benchSegmentBytes, and leaves every partition's
// active segment holding half a segment: the same active bytes to scan
// whatever the total.
func benchFill(b *testing.B, dir string, total int64, parts int) {
	b.Helper()
	cfg := DefaultConfig(dir)
	cfg.FsyncOnWrite = false
	w, _, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 1<<20-64)
	for i := range value {
		value[i] = byte(i * 7)
	}
	per := total / int64(parts)
	for p := range parts {
		tp := sm.TopicPartition{Topic: "bench", Partition: int32(p)}
		var off sm.Offset
		seg := int64(0)
		for written := int64(0); written < per+benchSegmentBytes/2; {
			bt := sm.Batch{BaseOffset: off, Epoch: 1, Timestamp: int64(off), Records: []sm.Record{{Value: value}}}
			bt.Seal()
			data := sm.EncodeBatch(nil, &bt)
			roll := seg+int64(len(data)) > benchSegmentBytes
			if roll {
				seg = 0
			}
			if err := w.Do(sm.LogOp{Kind: sm.LogAppend, TP: tp, Data: data, Roll: roll}); err != nil {
				b.Fatal(err)
			}
			off++
			seg += int64(len(data))
			written += int64(len(data))
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}

// dropCache makes every file under dir cold: synced, then dropped from the
// page cache (posix_fadvise DONTNEED drops clean pages, no root needed).
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
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			return err
		}
		return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkOpen measures start-up with 1 GiB and 4 GiB retained in one
// partition and over 64 partitions (every partition's active segment holds
// 32 MiB, which Open scans), page cache dropped before each Open: "manifest" is Open as brokers run it (index files and active
// segments only), "readall" the baseline in the same run, Open with
// ReadLogBytes (every byte read and checked, as every start did before).
//
//	WEIR_WAL_BENCH_DIR=/var/lib/weir go test ./io/wal -run '^$' -bench BenchmarkOpen -benchtime 3x
func BenchmarkOpen(b *testing.B) {
	for _, c := range []struct {
		name  string
		total int64
		parts int
	}{{"1GiB", 1 << 30, 1}, {"4GiB", 4 << 30, 1}, {"1GiB-64parts", 1 << 30, 64}, {"4GiB-64parts", 4 << 30, 64}} {
		b.Run(c.name, func(b *testing.B) {
			dir := benchDir(b)
			start := time.Now()
			benchFill(b, dir, c.total, c.parts)
			b.Logf("%s: wrote %d partitions in %v", c.name, c.parts, time.Since(start).Round(time.Millisecond))
			for _, mode := range []string{"manifest", "manifest-after-crash", "readall"} {
				b.Run(mode, func(b *testing.B) { benchOpen(b, dir, mode, c.parts) })
			}
			os.RemoveAll(dir)
		})
	}
}

func benchOpen(b *testing.B, dir, mode string, parts int) {
	cfg := DefaultConfig(dir)
	cfg.ReadLogBytes = mode == "readall"
	for b.Loop() {
		b.StopTimer()
		if mode == "manifest-after-crash" {
			// A crash leaves no checkpoint: Open scans every active segment.
			cps, _ := filepath.Glob(filepath.Join(dir, "*", "*"+checkpointSuffix))
			for _, cp := range cps {
				os.Remove(cp)
			}
		}
		dropCache(b, dir)
		b.StartTimer()
		w, rec, err := Open(cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if len(rec.Manifests) != parts || len(rec.Repairs) > 0 || len(rec.Damaged) > 0 {
			b.Fatalf("%d manifests, repairs %q, damage %v", len(rec.Manifests), rec.Repairs, rec.Damaged)
		}
		rec.Logs = nil
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkColdRead reads a cold 64 MiB sealed segment through the read
// path (sm.LogRead of 1 MiB, one at a time, each following the last, as a
// catching-up consumer does) and, as the baseline, with a raw sequential
// pread loop of 1 MiB into one buffer. Each iteration runs both passes, page
// cache dropped before each, so drift in the machine's load hits both
// alike; raw-MB/s, wal-MB/s and wal/raw-% are the figures to compare.
//
//	WEIR_WAL_BENCH_DIR=/var/lib/weir go test ./io/wal -run '^$' -bench BenchmarkColdRead -benchtime 20x
func BenchmarkColdRead(b *testing.B) {
	dir := benchDir(b)
	benchFill(b, dir, benchSegmentBytes, 1) // one sealed segment, half an active one
	seg := filepath.Join(dir, "bench-0", segmentName(0))
	st, err := os.Stat(seg)
	if err != nil {
		b.Fatal(err)
	}
	size := st.Size()
	tp := sm.TopicPartition{Topic: "bench", Partition: 0}
	const chunk = 1 << 20
	buf := make([]byte, chunk)
	raw := func() {
		f, err := os.Open(seg)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		for pos := int64(0); pos < size; {
			n, err := unix.Pread(int(f.Fd()), buf, pos)
			if err != nil || n == 0 {
				b.Fatal(err)
			}
			pos += int64(n)
		}
	}
	w, _, err := Open(DefaultConfig(dir))
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	reads := make(chan sm.LogReadDone, 1)
	exec := w.NewExecutor(func(sm.LogDone) {}).WithReads(func(d sm.LogReadDone) { reads <- d })
	id := sm.EffectID(0)
	viaWAL := func() {
		for pos := int64(0); pos < size; {
			id++
			exec.StartRead([]sm.LogRead{{ID: id, TP: tp, Segment: 0, Pos: pos, MaxBytes: chunk}})
			d := <-reads
			if d.Outcome != sm.OutcomeOK || len(d.Data) == 0 {
				b.Fatalf("read at %d: %v %s", pos, d.Outcome, d.Reason)
			}
			pos += int64(len(d.Data))
		}
	}
	var rawT, walT time.Duration
	for b.Loop() {
		for _, pass := range []struct {
			run func()
			t   *time.Duration
		}{{raw, &rawT}, {viaWAL, &walT}} {
			b.StopTimer()
			dropCache(b, dir)
			b.StartTimer()
			start := time.Now()
			pass.run()
			*pass.t += time.Since(start)
		}
	}
	mbps := func(d time.Duration) float64 { return float64(size) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(rawT), "raw-MB/s")
	b.ReportMetric(mbps(walT), "wal-MB/s")
	b.ReportMetric(100*rawT.Seconds()/walT.Seconds(), "wal/raw-%")
}
