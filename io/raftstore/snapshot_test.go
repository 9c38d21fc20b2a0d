package raftstore

import (
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"google.golang.org/protobuf/proto"

	"github.com/weirmq/weir/sm"
)

// storedEntries counts the entry keys pebble really holds (not Load's view).
func storedEntries(t *testing.T, s *Store) int {
	t.Helper()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: entryLower, UpperBound: entryUpper})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for valid := it.First(); valid; valid = it.Next() {
		n++
	}
	return n
}

func saveRaftT(t *testing.T, s *Store, op sm.RaftSave) {
	t.Helper()
	if err := s.SaveRaft(op); err != nil {
		t.Fatal(err)
	}
}

// Goal: a snapshot save keeps the snapshot and deletes the entries it
// covers, in one batch; Load and a reopen give the snapshot and only the
// entries after it; a snapshot from the leader that does not match the
// stored log replaces all of it; and an older format-1 store opens and is
// raised to format 2 by its first snapshot.
func TestSnapshotCompactsEntries(t *testing.T) {
	fs := vfs.NewMem()
	s := openT(t, fs)
	saveT(t, s, hardState(1, 1, 100), ents(1, 100, 1), true)
	own := snapshot(90, 1, []byte("metadata at 90"))
	saveRaftT(t, s, sm.RaftSave{Snapshot: own})
	if n := storedEntries(t, s); n != 10 {
		t.Errorf("after a snapshot at 90 of entries 1..100 the store holds %d entries, want 10", n)
	}
	d := loadT(t, s)
	checkDurable(t, d, hardState(1, 1, 100), ents(91, 100, 1))
	if !proto.Equal(d.Snapshot, own) {
		t.Errorf("snapshot = %v, want %v", d.Snapshot, own)
	}
	for _, tc := range []struct {
		name string
		op   sm.RaftSave
		want string
	}{
		{"older snapshot", sm.RaftSave{Snapshot: snapshot(80, 1, nil)}, "not after the stored snapshot at 90"},
		{"same snapshot", sm.RaftSave{Snapshot: snapshot(90, 1, nil)}, "not after the stored snapshot at 90"},
		{"entries under the snapshot", sm.RaftSave{Entries: ents(90, 91, 2)}, "reach back to the snapshot at 90"},
		{"gap after the snapshot", sm.RaftSave{Snapshot: snapshot(120, 3, nil), Entries: ents(122, 123, 3)}, "gap after stored entry 120"},
	} {
		if err := s.SaveRaft(tc.op); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error mentioning %q", tc.name, err, tc.want)
		}
	}
	// A leader's snapshot at 95 of another term: entries 91..100 are a
	// divergent log and go; the Ready's entries after it stay.
	leader := snapshot(95, 2, []byte("leader's metadata at 95"))
	saveRaftT(t, s, sm.RaftSave{Snapshot: leader, HardState: hardState(2, 0, 95), Entries: ents(96, 97, 2), Sync: true})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, fs)
	defer s.Close()
	d = loadT(t, s)
	checkDurable(t, d, hardState(2, 0, 95), ents(96, 97, 2))
	if !proto.Equal(d.Snapshot, leader) || storedEntries(t, s) != 2 {
		t.Errorf("after the leader's snapshot: snapshot %v, %d entries stored", d.Snapshot, storedEntries(t, s))
	}
	// A snapshot beyond the log with no entries leaves none.
	saveRaftT(t, s, sm.RaftSave{Snapshot: snapshot(200, 3, nil), HardState: hardState(3, 0, 200), Sync: true})
	d = loadT(t, s)
	if len(d.Entries) != 0 || d.Snapshot.GetMetadata().GetIndex() != 200 || storedEntries(t, s) != 0 {
		t.Errorf("after a snapshot beyond the log: %d entries, snapshot at %d", len(d.Entries), d.Snapshot.GetMetadata().GetIndex())
	}
	saveT(t, s, nil, ents(201, 202, 3), true)
	checkDurable(t, loadT(t, s), hardState(3, 0, 200), ents(201, 202, 3))
}

func TestFormatOneUpgradesOnSnapshot(t *testing.T) {
	fs := vfs.NewMem()
	s := openT(t, fs)
	saveT(t, s, nil, ents(1, 5, 1), true)
	if err := s.db.Set(formatKey, []byte{formatVersionNoSnap}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, fs)
	defer s.Close()
	if s.version != formatVersionNoSnap {
		t.Fatalf("format-1 store opened as version %d", s.version)
	}
	checkDurable(t, loadT(t, s), nil, ents(1, 5, 1))
	saveRaftT(t, s, sm.RaftSave{Snapshot: snapshot(3, 1, nil), Sync: true})
	v, closer, err := s.db.Get(formatKey)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	if len(v) != 1 || v[0] != formatVersion {
		t.Errorf("format after the first snapshot: %x, want %d", v, formatVersion)
	}
}
