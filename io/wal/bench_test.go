//go:build linux

package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/weirmq/weir/io/uring"
	"github.com/weirmq/weir/sm"
)

// benchRecordBytes is the frame size the benchmarks append: one record
// whose value pads the sm.EncodeBatch frame to exactly 1 KiB.
const benchRecordBytes = 1024

func benchFrame(base sm.Offset, value []byte) []byte {
	b := sm.Batch{BaseOffset: base, Epoch: 1, Records: []sm.Record{{Value: value}}}
	b.Seal()
	return sm.EncodeBatch(make([]byte, 0, benchRecordBytes), &b)
}

// benchDir is on the disk under test: $WEIR_WAL_BENCH_DIR if set (point it
// at the WAL's real volume), else the test temp dir.
func benchDir(b *testing.B) string {
	b.Helper()
	root := os.Getenv("WEIR_WAL_BENCH_DIR")
	if root == "" {
		return b.TempDir()
	}
	dir, err := os.MkdirTemp(root, "walbench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func benchBackends(b *testing.B) []string {
	if err := uring.Available(); err != nil {
		b.Logf("io_uring refused by this kernel, benchmarking sync only: %v", err)
		return []string{BackendSync}
	}
	return []string{BackendSync, BackendUring}
}

// BenchmarkAppend1KiB compares, on one disk in one run, a raw sequential
// pwrite+fdatasync loop of 1 KiB records (the cost of one fsync per record)
// with WAL appends of 1 KiB records, fsync on write, from N concurrent
// appenders (group commit). MB/s comes from b.SetBytes; fsyncs/op shows how
// many records share one fdatasync. No assertions: numbers only.
func BenchmarkAppend1KiB(b *testing.B) {
	for _, be := range benchBackends(b) {
		b.Run("raw/"+be, func(b *testing.B) { benchRaw(b, be, false) })
		b.Run("raw2/"+be, func(b *testing.B) { benchRaw(b, be, true) })
	}
	for _, be := range benchBackends(b) {
		for _, n := range []int{1, 4, 16, 64} {
			b.Run(fmt.Sprintf("wal/%s/appenders=%d", be, n), func(b *testing.B) { benchAppend(b, be, n, 1) })
		}
		b.Run(fmt.Sprintf("wal/%s/appenders=16/partitions=16", be), func(b *testing.B) { benchAppend(b, be, 16, 16) })
	}
}

// benchRaw is the raw loop: pwrite + fdatasync of each record. With mark,
// each record is followed by a 32-byte pwrite + fdatasync of a second file
// (in a second submission with io_uring): the floor for the WAL's protocol,
// whose sync ledger records how far the data was synced before anything
// completes.
func benchRaw(b *testing.B, be string, mark bool) {
	dir := benchDir(b)
	path := filepath.Join(dir, "raw.log")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	mf, err := os.OpenFile(filepath.Join(dir, "mark"), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer mf.Close()
	mfd, markRec := int(mf.Fd()), make([]byte, 32)
	rec := make([]byte, benchRecordBytes)
	var ring *uring.Ring
	if be == BackendUring {
		if ring, err = uring.New(8); err != nil {
			b.Fatal(err)
		}
		defer ring.Close()
	}
	b.SetBytes(benchRecordBytes)
	b.ResetTimer()
	for i := range b.N {
		benchWriteSync(b, ring, fd, rec, int64(i)*benchRecordBytes)
		if mark {
			benchWriteSync(b, ring, mfd, markRec, int64(i)*32)
		}
	}
}

func benchWriteSync(b *testing.B, ring *uring.Ring, fd int, rec []byte, off int64) {
	if ring == nil {
		if _, err := unix.Pwrite(fd, rec, off); err != nil {
			b.Fatal(err)
		}
		if err := unix.Fdatasync(fd); err != nil {
			b.Fatal(err)
		}
		return
	}
	if err := ring.PrepWrite(fd, rec, off, 1, uring.FlagIOLink); err != nil {
		b.Fatal(err)
	}
	if err := ring.PrepFsync(fd, uring.FsyncDatasync, 2, 0); err != nil {
		b.Fatal(err)
	}
	if err := ring.SubmitAndWait(2); err != nil {
		b.Fatal(err)
	}
	ring.Reap(func(c uring.CQE) {
		if c.Res < 0 {
			b.Fatal(c.Err())
		}
	})
}

// benchAppend runs b.N appends split over n appenders; appender k writes to
// partition k%parts. Each appender submits one op and waits for its LogDone
// before the next, as a client with one request in flight; offsets are
// assigned under the partition's lock, as its leader does.
func benchAppend(b *testing.B, be string, n, parts int) {
	cfg := Config{Path: benchDir(b), FsyncOnWrite: true, Backend: be, RingEntries: 256}
	w, _, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	value := make([]byte, benchRecordBytes-sm.FrameHeaderBytes-8) // record lengths 8
	if got := len(benchFrame(0, value)); got != benchRecordBytes {
		b.Fatalf("frame is %d bytes", got)
	}
	type part struct {
		mu   sync.Mutex
		tp   sm.TopicPartition
		next sm.Offset
	}
	ps := make([]*part, parts)
	for i := range ps {
		ps[i] = &part{tp: sm.TopicPartition{Topic: "bench", Partition: int32(i)}}
	}
	chans := make([]chan string, n)
	for i := range chans {
		chans[i] = make(chan string, 1)
	}
	exec := w.NewExecutor(func(d sm.LogDone) { chans[d.ID>>32] <- d.Reason })
	b.SetBytes(benchRecordBytes)
	b.ResetTimer()
	var wg sync.WaitGroup
	for k := range n {
		count := b.N / n
		if k < b.N%n {
			count++
		}
		wg.Go(func() {
			p := ps[k%parts]
			for i := range count {
				p.mu.Lock()
				op := sm.LogOp{ID: sm.EffectID(uint64(k)<<32 | uint64(i)), Kind: sm.LogAppend, TP: p.tp, Data: benchFrame(p.next, value), Sync: true}
				p.next++
				exec.StartLog([]sm.LogOp{op})
				p.mu.Unlock()
				if e := <-chans[k]; e != "" {
					b.Error(e)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	st := w.Stats()
	b.ReportMetric(float64(st.DataSyncs)/float64(b.N), "fsyncs/op")
	b.ReportMetric(float64(st.LedgerSyncs)/float64(b.N), "ledgersyncs/op")
	b.ReportMetric(float64(st.Appends)/float64(max(st.Groups, 1)), "appends/group")
}
