package walfs

import (
	"bytes"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"syscall"
	"testing"
)

func mustWrite(t *testing.T, f File, p []byte, off int64) {
	t.Helper()
	if err := WriteFull(f, p, off); err != nil {
		t.Fatal(err)
	}
}

func mustCreate(t *testing.T, fsys FS, name string) File {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func read(t *testing.T, fsys FS, name string) []byte {
	t.Helper()
	b, err := ReadFile(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A strict power loss keeps exactly what was synced: file bytes after
// Datasync, directory entries after SyncDir of their directory, and an
// unsynced truncation or rename is undone.
func TestMemPowerLossKeepsOnlySynced(t *testing.T) {
	m := NewMem()
	if err := m.MkdirAll("/wal/p", 0o755); err != nil {
		t.Fatal(err)
	}
	f := mustCreate(t, m, "/wal/p/a")
	mustWrite(t, f, []byte("synced"), 0)
	if err := f.Datasync(); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f, []byte("+lost"), 6)

	// The file's entry and its directories' entries are not synced yet.
	if _, err := m.PowerLoss(nil).Stat("/wal"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("an unsynced directory entry survived: %v", err)
	}
	for _, d := range []string{"/", "/wal", "/wal/p"} {
		if err := m.SyncDir(d); err != nil {
			t.Fatal(err)
		}
	}
	img := m.PowerLoss(nil)
	if got := read(t, img, "/wal/p/a"); string(got) != "synced" {
		t.Fatalf("after power loss: %q, want the synced bytes only", got)
	}
	if got := read(t, m, "/wal/p/a"); string(got) != "synced+lost" {
		t.Fatalf("the live file system changed: %q", got)
	}

	// Unsynced truncation, rename, removal and creation are undone.
	if err := f.Truncate(2); err != nil {
		t.Fatal(err)
	}
	if err := m.Rename("/wal/p/a", "/wal/p/b"); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, m, "/wal/p/c").Close()
	img = m.PowerLoss(nil)
	if got := read(t, img, "/wal/p/a"); string(got) != "synced" {
		t.Fatalf("unsynced truncate or rename survived: %q", got)
	}
	if ents, _ := img.ReadDir("/wal/p"); len(ents) != 1 || ents[0].Name() != "a" {
		t.Fatalf("entries after power loss: %v", ents)
	}
	// Once synced, they hold.
	if err := f.Datasync(); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("/wal/p"); err != nil {
		t.Fatal(err)
	}
	img = m.PowerLoss(nil)
	if got := read(t, img, "/wal/p/b"); string(got) != "sy" {
		t.Fatalf("synced truncate: %q", got)
	}
	if _, err := img.Stat("/wal/p/a"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("renamed-away name survived a synced rename: %v", err)
	}
	// The image is a file system of its own.
	g, err := img.OpenFile("/wal/p/b", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, g, []byte("X"), 0)
	if got := read(t, m, "/wal/p/b"); string(got) != "sy" {
		t.Fatalf("writing the image changed the original: %q", got)
	}
}

// With a random source, a power loss keeps the synced bytes exactly and
// draws the rest from what was written: a torn prefix, and garbage anywhere
// in the unsynced range, not only at its end.
func TestMemPowerLossTearsUnsyncedRange(t *testing.T) {
	synced := bytes.Repeat([]byte("S"), 1000)
	written := bytes.Repeat([]byte("W"), 3000)
	var sizes = map[string]int{}
	garbageAt := map[bool]int{} // garbage seen before the last 64 bytes of what survived
	for seed := range uint64(300) {
		m := NewMem()
		f := mustCreate(t, m, "/f")
		mustWrite(t, f, synced, 0)
		if err := f.Datasync(); err != nil {
			t.Fatal(err)
		}
		if err := m.SyncDir("/"); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, f, written, int64(len(synced)))
		got := read(t, m.PowerLoss(rand.New(rand.NewPCG(seed, 1))), "/f")
		if len(got) < len(synced) || len(got) > len(synced)+len(written) || !bytes.Equal(got[:len(synced)], synced) {
			t.Fatalf("seed %d: %d bytes survived, synced prefix intact: %v", seed, len(got), bytes.Equal(got[:min(len(got), len(synced))], synced))
		}
		switch len(got) {
		case len(synced):
			sizes["none"]++
		case len(synced) + len(written):
			sizes["all"]++
		default:
			sizes["torn"]++
		}
		for i := len(synced); i < len(got); i++ {
			if got[i] != 'W' {
				garbageAt[i < len(got)-64]++
				break
			}
		}
	}
	if sizes["none"] == 0 || sizes["all"] == 0 || sizes["torn"] == 0 || garbageAt[true] == 0 {
		t.Fatalf("power losses did not cover every outcome: sizes %v, garbage before the end %d times", sizes, garbageAt[true])
	}
}

func TestMemErrors(t *testing.T) {
	m := NewMem()
	if _, err := m.OpenFile("/nope/x", os.O_RDWR|os.O_CREATE, 0o644); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("create in a missing directory: %v", err)
	}
	mustCreate(t, m, "/x").Close()
	if _, err := m.OpenFile("/x", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("O_EXCL on an existing file: %v", err)
	}
	r, err := m.OpenFile("/x", os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Pwrite([]byte("a"), 0); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("write to a read-only file: %v", err)
	}
	l, err := m.Lock("/LOCK")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Lock("/LOCK"); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v", err)
	}
	if _, err := m.PowerLoss(nil).Lock("/LOCK"); err != nil {
		t.Fatalf("a power loss keeps no lock: %v", err)
	}
	l.Close()
	if l, err = m.Lock("/LOCK"); err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	l.Close()
}

// Faulty fails the operations its injector picks, and a short write writes
// exactly the bytes it reports.
func TestFaulty(t *testing.T) {
	m := NewMem()
	fy := NewFaulty(m)
	f := mustCreate(t, fy, "/f")
	fy.SetInjector(func(op Op) Fault {
		switch {
		case op.Kind == OpWrite && op.Off == 0:
			return Fault{Short: 3}
		case op.Kind == OpWrite:
			return Fault{Short: 2, Err: syscall.ENOSPC}
		case op.Kind == OpDatasync:
			return Fault{Err: syscall.EIO}
		}
		return Fault{}
	})
	if n, err := f.Pwrite([]byte("abcdef"), 0); n != 3 || err != nil {
		t.Fatalf("short write: %d, %v", n, err)
	}
	if n, err := f.Pwrite([]byte("defg"), 3); n != 2 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("failing write: %d, %v", n, err)
	}
	if err := f.Datasync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("datasync: %v", err)
	}
	if got := read(t, m, "/f"); string(got) != "abcde" {
		t.Fatalf("file holds %q", got)
	}
	fy.SetInjector(nil)
	if err := m.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	if got := read(t, m.PowerLoss(nil), "/f"); len(got) != 0 {
		t.Fatalf("a failed datasync made %q durable", got)
	}
}

// A process crash keeps everything written, still unsynced: a power loss
// after it loses what was never synced.
func TestMemProcessCrash(t *testing.T) {
	m := NewMem()
	f := mustCreate(t, m, "/f")
	mustWrite(t, f, []byte("ab"), 0)
	if err := f.Datasync(); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f, []byte("cd"), 2)
	mustCreate(t, m, "/g").Close()
	l, err := m.Lock("/LOCK")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c := m.ProcessCrash()
	if got := read(t, c, "/f"); string(got) != "abcd" {
		t.Fatalf("after a process crash: %q", got)
	}
	if _, err := c.Lock("/LOCK"); err != nil {
		t.Fatalf("a crashed process keeps no lock: %v", err)
	}
	p := c.PowerLoss(nil)
	if got := read(t, p, "/f"); string(got) != "ab" {
		t.Fatalf("a power loss after a process crash kept unsynced bytes: %q", got)
	}
	if _, err := p.Stat("/g"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("an unsynced entry survived: %v", err)
	}
}
