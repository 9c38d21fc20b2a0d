//go:build linux

package uring

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// newRing opens a ring or skips when the kernel refuses io_uring, so the
// suite still runs (and says why) inside sandboxes that forbid it.
func newRing(t *testing.T, entries uint32) *Ring {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("io_uring refused by this kernel at runtime: %v", err)
	}
	r, err := New(entries)
	if err != nil {
		t.Fatalf("New(%d): %v", entries, err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

func tempFile(t *testing.T) *os.File {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(t.TempDir(), "f"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// waitAll submits and reaps until nothing is in flight, returning the
// completions by user data.
func waitAll(t *testing.T, r *Ring) map[uint64]CQE {
	t.Helper()
	out := map[uint64]CQE{}
	for r.Inflight() > 0 {
		if err := r.SubmitAndWait(1); err != nil {
			t.Fatalf("SubmitAndWait: %v", err)
		}
		r.Reap(func(c CQE) {
			if _, dup := out[c.UserData]; dup {
				t.Fatalf("user data %d completed twice", c.UserData)
			}
			out[c.UserData] = c
		})
	}
	return out
}

// A NOP makes a full round trip and comes back with its user data.
func TestNop(t *testing.T) {
	r := newRing(t, 4)
	if !r.Supports(OpNop) || !r.Supports(OpWrite) || !r.Supports(OpFsync) {
		t.Fatalf("probe: nop %v write %v fsync %v", r.Supports(OpNop), r.Supports(OpWrite), r.Supports(OpFsync))
	}
	if r.SQEntries() != 4 || r.CQEntries() < 4 {
		t.Fatalf("entries: sq %d cq %d", r.SQEntries(), r.CQEntries())
	}
	for round := range 3 {
		ud := uint64(0xfeed0000 + round)
		if err := r.PrepNop(ud, 0); err != nil {
			t.Fatal(err)
		}
		got := waitAll(t, r)
		if c, ok := got[ud]; !ok || c.Res != 0 || c.Err() != nil {
			t.Fatalf("round %d: completions %+v", round, got)
		}
	}
}

// Writes at explicit offsets land where asked, and a linked datasync after
// them completes after the writes.
func TestWriteFsyncLinked(t *testing.T) {
	r := newRing(t, 8)
	f := tempFile(t)
	fd := int(f.Fd())
	a, b := []byte("hello, "), []byte("ring")
	if err := r.PrepWrite(fd, a, 0, 1, FlagIOLink); err != nil {
		t.Fatal(err)
	}
	if err := r.PrepWrite(fd, b, int64(len(a)), 2, FlagIOLink); err != nil {
		t.Fatal(err)
	}
	if err := r.PrepFsync(fd, FsyncDatasync, 3, 0); err != nil {
		t.Fatal(err)
	}
	got := waitAll(t, r)
	if got[1].Res != int32(len(a)) || got[2].Res != int32(len(b)) || got[3].Res != 0 {
		t.Fatalf("results %+v", got)
	}
	content, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if string(content) != "hello, ring" {
		t.Fatalf("file holds %q", content)
	}
	// A plain (full) fsync works too.
	if err := r.PrepFsync(fd, 0, 4, 0); err != nil {
		t.Fatal(err)
	}
	if c := waitAll(t, r)[4]; c.Res != 0 {
		t.Fatalf("fsync: %v", c.Err())
	}
}

// A failing link head cancels the rest of its chain, and results carry the
// kernel's errno.
func TestErrorsAndCancelledChain(t *testing.T) {
	r := newRing(t, 4)
	buf := []byte("x")
	if err := r.PrepWrite(-1, buf, 0, 1, FlagIOLink); err != nil {
		t.Fatal(err)
	}
	if err := r.PrepFsync(-1, FsyncDatasync, 2, 0); err != nil {
		t.Fatal(err)
	}
	got := waitAll(t, r)
	if !errors.Is(got[1].Err(), unix.EBADF) {
		t.Fatalf("write to fd -1: %v", got[1].Err())
	}
	if !errors.Is(got[2].Err(), unix.ECANCELED) {
		t.Fatalf("linked fsync: %v", got[2].Err())
	}
}

// The submission queue refuses entry SQEntries+1 until a submit, and the
// ring refuses more operations in flight than the completion queue holds
// until some are reaped.
func TestRingFull(t *testing.T) {
	r := newRing(t, 4)
	for i := range r.SQEntries() {
		if err := r.PrepNop(uint64(i), 0); err != nil {
			t.Fatalf("nop %d: %v", i, err)
		}
	}
	if err := r.PrepNop(99, 0); !errors.Is(err, ErrRingFull) {
		t.Fatalf("SQ full: got %v", err)
	}
	if err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	n := r.SQEntries()
	for ; n < r.CQEntries(); n++ {
		if err := r.PrepNop(uint64(n), 0); err != nil {
			t.Fatalf("nop %d: %v", n, err)
		}
		if r.Pending() == r.SQEntries() {
			if err := r.Submit(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := r.PrepNop(999, 0); !errors.Is(err, ErrRingFull) {
		t.Fatalf("CQ bound: got %v with %d in flight", err, r.Inflight())
	}
	if got := waitAll(t, r); len(got) != int(r.CQEntries()) {
		t.Fatalf("reaped %d, want %d", len(got), r.CQEntries())
	}
	if r.Space() != r.SQEntries() {
		t.Fatalf("space after reap %d", r.Space())
	}
}

// Many more writes than ring entries, kept in flight as far as the ring
// allows, all land; buffers stay pinned until reaped.
func TestManyInFlight(t *testing.T) {
	r := newRing(t, 8)
	f := tempFile(t)
	const chunks, size = 2000, 64
	want := make([]byte, 0, chunks*size)
	results := map[uint64]int32{}
	reap := func(c CQE) { results[c.UserData] = c.Res }
	for i := range chunks {
		buf := bytes.Repeat([]byte{byte(i)}, size) // fresh, only the ring holds it
		want = append(want, buf...)
		for {
			err := r.PrepWrite(int(f.Fd()), buf, int64(i*size), uint64(i), 0)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrRingFull) {
				t.Fatal(err)
			}
			if err := r.SubmitAndWait(1); err != nil {
				t.Fatal(err)
			}
			r.Reap(reap)
		}
	}
	for r.Inflight() > 0 {
		if err := r.SubmitAndWait(r.Inflight()); err != nil {
			t.Fatal(err)
		}
		r.Reap(reap)
	}
	if len(results) != chunks {
		t.Fatalf("%d completions, want %d", len(results), chunks)
	}
	for ud, res := range results {
		if res != size {
			t.Fatalf("write %d: res %d", ud, res)
		}
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("file content differs (len %d, want %d)", len(got), len(want))
	}
	if len(r.pins) != 0 {
		t.Fatalf("%d buffers still pinned", len(r.pins))
	}
}

// A user data still in flight with a pinned buffer cannot be reused, and
// Close waits for what is in flight.
func TestUserDataReuseAndClose(t *testing.T) {
	if err := Available(); err != nil {
		t.Skipf("io_uring refused by this kernel at runtime: %v", err)
	}
	r, err := New(4)
	if err != nil {
		t.Fatal(err)
	}
	f := tempFile(t)
	if err := r.PrepWrite(int(f.Fd()), []byte("a"), 0, 7, 0); err != nil {
		t.Fatal(err)
	}
	if err := r.PrepWrite(int(f.Fd()), []byte("b"), 1, 7, 0); err == nil {
		t.Fatal("reusing in-flight user data was accepted")
	}
	if err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.PrepNop(1, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if got, _ := os.ReadFile(f.Name()); string(got) != "a" {
		t.Fatalf("file holds %q", got)
	}
}

// Bad sizes are refused before the kernel is asked.
func TestNewBounds(t *testing.T) {
	for _, n := range []uint32{0, entriesMax + 1} {
		if _, err := New(n); err == nil {
			t.Fatalf("New(%d) accepted", n)
		}
	}
}

// BenchmarkNopRoundTrip is the cost of one submit+wait+reap through the
// ring (LIBS.md §9 measured 0.85 µs).
func BenchmarkNopRoundTrip(b *testing.B) {
	if err := Available(); err != nil {
		b.Skipf("io_uring refused: %v", err)
	}
	r, err := New(8)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	for i := 0; b.Loop(); i++ {
		if err := r.PrepNop(uint64(i), 0); err != nil {
			b.Fatal(err)
		}
		if err := r.SubmitAndWait(1); err != nil {
			b.Fatal(err)
		}
		r.Reap(nil)
	}
}
