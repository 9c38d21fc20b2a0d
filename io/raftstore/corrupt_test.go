package raftstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// walFile is the one pebble WAL in dir, which these tests' stores have
// (opened once, never flushed).
func walFile(t *testing.T, dir string) string {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(logs) != 1 {
		t.Fatalf("WAL files in %s: %v (%v), want exactly one", dir, logs, err)
	}
	return logs[0]
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// snapshotDir reads every file in dir, to check a refused Open changed
// nothing an operator would want to inspect.
func snapshotDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[de.Name()] = string(b)
	}
	return out
}

func sameDir(a, b map[string]string) error {
	for name, body := range a {
		if got, ok := b[name]; !ok || got != body {
			return fmt.Errorf("%s changed or vanished", name)
		}
	}
	for name := range b {
		if _, ok := a[name]; !ok {
			return fmt.Errorf("%s appeared", name)
		}
	}
	return nil
}

// openRealT opens the store in dir on the operating system's filesystem.
func openRealT(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkRefused fails unless err is a *CorruptError that names file and an
// offset in [lo, hi], and says so in its text.
func checkRefused(t *testing.T, err error, file string, lo, hi int64) *CorruptError {
	t.Helper()
	if err == nil {
		t.Fatal("Open succeeded on a store that does not replay its synced saves")
	}
	var ce *CorruptError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) {
		t.Fatalf("Open: %v, want a *CorruptError", err)
	}
	if ce.File != file || ce.Offset < lo || ce.Offset > hi {
		t.Errorf("refusal names %s byte %d, want %s byte in [%d, %d]", ce.File, ce.Offset, file, lo, hi)
	}
	if msg := err.Error(); !strings.Contains(msg, file) || !strings.Contains(msg, fmt.Sprintf("byte %d", ce.Offset)) {
		t.Errorf("error text does not name the file and byte: %s", msg)
	}
	return ce
}

// TestCorruptRecordRefused is issue 7's reproduction: 4 bytes flipped in a
// record in the middle of the WAL make pebble stop replaying there, which
// used to open the store silently with an older state. Every save was
// synced, so Open must refuse, naming the WAL and the record's byte, leave
// the files as they were (the evidence, and the state a peer-less operator
// may want to salvage), and keep refusing.
func TestCorruptRecordRefused(t *testing.T) {
	dir := t.TempDir()
	s := openRealT(t, dir)
	for i := uint64(1); i <= 40; i++ {
		saveT(t, s, hardState(1, 1, i-1), ents(i, i, 1), true)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wal := walFile(t, dir)
	b, err := os.ReadFile(wal)
	if err != nil {
		t.Fatal(err)
	}
	flip := int64(len(b) / 2)
	for i := range int64(4) {
		b[flip+i] ^= 0xff
	}
	if err := os.WriteFile(wal, b, 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshotDir(t, dir)

	_, err = Open(dir, Options{})
	ce := checkRefused(t, err, wal, 1, flip)
	if ce.Replayed >= ce.Synced || ce.Synced != 41 { // 40 saves and the format version
		t.Errorf("replayed %d of %d synced saves, want fewer of 41", ce.Replayed, ce.Synced)
	}
	t.Logf("refusal: %v", err)
	if err := sameDir(before, snapshotDir(t, dir)); err != nil {
		t.Errorf("a refused Open modified the store: %v", err)
	}
	_, err = Open(dir, Options{})
	checkRefused(t, err, wal, 1, flip)
}

// TestTornTail cuts the WAL after a run of synced saves followed by
// unsynced ones. A cut inside the unsynced saves is a torn tail a crash can
// leave: the store opens with the synced saves and a prefix of the others.
// A cut into the synced saves loses acknowledged state: Open refuses.
func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	s := openRealT(t, dir)
	hs := hardState(2, 1, 9)
	saveT(t, s, hardState(1, 1, 0), ents(1, 5, 1), true)
	saveT(t, s, hs, ents(6, 10, 1), true)
	wal := walFile(t, dir)
	synced := fileSize(t, wal)
	big := strings.Repeat("x", 4<<10)
	for i := uint64(11); i <= 30; i++ {
		saveT(t, s, nil, []*pb.Entry{ent(i, 2, big)}, false)
	}
	if err := s.Close(); err != nil { // writes the unsynced saves out
		t.Fatal(err)
	}
	full, err := os.ReadFile(wal)
	if err != nil || int64(len(full)) <= synced+8<<10 {
		t.Fatalf("WAL %d bytes (%v), want the unsynced saves past byte %d", len(full), err, synced)
	}

	if err := os.Truncate(wal, synced+(int64(len(full))-synced)/2); err != nil {
		t.Fatal(err)
	}
	s = openRealT(t, dir)
	d := loadT(t, s)
	if !proto.Equal(d.HardState, hs) || len(d.Entries) < 10 || len(d.Entries) >= 30 || checkContiguous(d.Entries) != nil {
		t.Errorf("after a torn unsynced tail: hs %v, log %s; want hs %v and entries 1..10 plus a prefix of 11..30", d.HardState, spans(d.Entries), hs)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The same cut, this time into the synced saves.
	dir2 := t.TempDir()
	s = openRealT(t, dir2)
	saveT(t, s, hardState(1, 1, 0), ents(1, 5, 1), true)
	saveT(t, s, hs, ents(6, 10, 1), true)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wal2 := walFile(t, dir2)
	cut := fileSize(t, wal2) - 20
	if err := os.Truncate(wal2, cut); err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir2, Options{})
	checkRefused(t, err, wal2, 1, cut)
	t.Logf("refusal: %v", err)
}

// TestSyncedMarker checks the sidecar that records the last synced save:
// it survives a torn write of one slot, refuses when both are damaged, is
// recreated when missing (a store from before it existed), and a store
// whose pebble files are gone while the marker says saves were synced is
// refused rather than started empty.
func TestSyncedMarker(t *testing.T) {
	fs := vfs.NewMem()
	s := openT(t, fs)
	for i := uint64(1); i <= 3; i++ {
		saveT(t, s, nil, ents(i, i, 1), true)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	name := fs.PathJoin("raft", SyncedFile)
	m, err := readSynced(fs, name)
	if err != nil || !m.found || m.synced != 4 {
		t.Fatalf("marker %+v (%v), want synced 4", m, err)
	}

	// A torn write of the newest slot (4 → slot 0) leaves the older one.
	damage := func(slot int) {
		f, err := fs.OpenReadWrite(name, vfs.WriteCategoryUnspecified)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte{0xde, 0xad}, int64(slot*slotBytes+5)); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	damage(0)
	if m, err := readSynced(fs, name); err != nil || m.synced != 3 {
		t.Errorf("one slot damaged: marker %+v (%v), want synced 3 from the other slot", m, err)
	}
	s = openT(t, fs) // and the store opens
	checkDurable(t, loadT(t, s), nil, ents(1, 3, 1))
	saveT(t, s, nil, ents(4, 4, 1), true) // rewrites slot 1 (save 5)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	damage(0)
	damage(1)
	if _, err := Open("raft", Options{FS: fs}); err == nil || !strings.Contains(err.Error(), name) {
		t.Errorf("both slots damaged: Open error %v, want one naming %s", err, name)
	}

	// Missing: an older store opens and gets a marker.
	if err := fs.Remove(name); err != nil {
		t.Fatal(err)
	}
	s = openT(t, fs)
	checkDurable(t, loadT(t, s), nil, ents(1, 4, 1))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if m, err := readSynced(fs, name); err != nil || m.synced != 5 {
		t.Errorf("recreated marker %+v (%v), want synced 5", m, err)
	}

	// The pebble files gone, the marker left: refused, not started empty.
	fs2 := vfs.NewMem()
	if err := fs2.MkdirAll("raft", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := vfs.CopyAcrossFS(fs, name, fs2, name); err != nil {
		t.Fatal(err)
	}
	if _, err := Open("raft", Options{FS: fs2}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("store without its pebble files: Open error %v, want ErrCorrupt", err)
	}
}
