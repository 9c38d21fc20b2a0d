package raftstore

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
)

// The benchmarks run on the real filesystem under $TMPDIR (b.TempDir), so
// they measure the disk's sync latency; on tmpfs they measure nothing useful.

const benchEntrySize = 256

// BenchmarkSaveSync is the controller's write path: one DiskRaft op with one
// 256-byte entry, committed with pebble.Sync.
func BenchmarkSaveSync(b *testing.B) {
	for _, bc := range []struct {
		name      string
		hardState bool
		sync      bool
	}{
		{"entry", false, true},
		{"entry+hardstate", true, true},
		{"entry/nosync", false, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			data := make([]byte, benchEntrySize)
			idx := uint64(0)
			b.SetBytes(benchEntrySize)
			for b.Loop() {
				idx++
				e := &pb.Entry{Index: new(idx), Term: new(uint64(1)), Data: data}
				var hs *pb.HardState
				if bc.hardState {
					hs = hardState(1, 1, idx-1)
				}
				if err := s.Save(hs, []*pb.Entry{e}, bc.sync); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFileFdatasync is the floor under BenchmarkSaveSync: the same
// bytes written to a plain file with one fdatasync each, as a hand-written
// log would. "append" grows the file, so each fdatasync also writes the new
// size; "prealloc" overwrites preallocated space, which needs no metadata
// update (pebble gets this when it recycles a WAL file).
func BenchmarkFileFdatasync(b *testing.B) {
	for _, prealloc := range []bool{false, true} {
		name := "append"
		if prealloc {
			name = "prealloc"
		}
		b.Run(name, func(b *testing.B) {
			f, err := os.OpenFile(filepath.Join(b.TempDir(), "log"), os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			rec := make([]byte, benchEntrySize+16) // entry + a small record header
			if prealloc {
				const size = 64 << 20
				if err := syscall.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
					b.Skipf("fallocate: %v", err)
				}
				// Write real zeros too: ext4 marks fallocated extents
				// unwritten, and converting them costs a journal commit.
				if _, err := f.WriteAt(make([]byte, size), 0); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
			}
			var off int64
			b.SetBytes(benchEntrySize)
			for b.Loop() {
				if _, err := f.WriteAt(rec, off); err != nil {
					b.Fatal(err)
				}
				off += int64(len(rec))
				if err := syscall.Fdatasync(int(f.Fd())); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
