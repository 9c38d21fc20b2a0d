package sim

import (
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/weirmq/weir/sm"
)

func raftEnts(from, to, term uint64) []*pb.Entry {
	var out []*pb.Entry
	for i := from; i <= to; i++ {
		out = append(out, &pb.Entry{Index: new(i), Term: new(term), Data: []byte{byte(i)}})
	}
	return out
}

func raftSnap(index, term uint64) *pb.Snapshot {
	return &pb.Snapshot{Data: []byte("md"), Metadata: &pb.SnapshotMetadata{Index: new(index), Term: new(term), ConfState: &pb.ConfState{Voters: []uint64{1}}}}
}

// A snapshot save compacts the raft file to one record holding the state
// after it, with io/raftstore's rules: the entries the snapshot covers go,
// those after it stay when the log holds the snapshot's last entry, and a
// leader's snapshot that does not match replaces the whole log. A crash
// before the next sync keeps the compacted file or the synced one, never a
// mix; a recovery afterwards gives a consistent snapshot and entries.
func TestRaftSnapshotCompactsFile(t *testing.T) {
	d := newDisk(0)
	d.applyRaft(sm.RaftSave{Entries: raftEnts(2, 50, 1)})
	d.sync(raftFile)
	before := len(d.files[raftFile].content)
	d.applyRaft(sm.RaftSave{Snapshot: raftSnap(40, 1)})
	if after := len(d.files[raftFile].content); after >= before {
		t.Errorf("raft file %d bytes after compaction, %d before", after, before)
	}
	got, err := d.recover()
	if err != nil || got.Snapshot.GetMetadata().GetIndex() != 40 || len(got.Entries) != 10 || got.Entries[0].GetIndex() != 41 {
		t.Fatalf("after own compaction: snapshot %v, %d entries, %v", got.Snapshot.GetMetadata(), len(got.Entries), err)
	}
	d.applyRaft(sm.RaftSave{Snapshot: raftSnap(45, 2), Entries: raftEnts(46, 47, 2), HardState: &pb.HardState{Term: new(uint64(2)), Commit: new(uint64(45))}, Sync: true})
	d.sync(raftFile)
	got, _ = d.recover()
	if got.Snapshot.GetMetadata().GetIndex() != 45 || len(got.Entries) != 2 || got.Entries[0].GetTerm() != 2 {
		t.Fatalf("after a leader's snapshot: snapshot %v, entries %v", got.Snapshot.GetMetadata(), got.Entries)
	}

	// Crashes of an unsynced compaction: the outcomes are the synced state
	// or the compacted one.
	outcomes := map[uint64]int{}
	for seed := range uint64(40) {
		d := newDisk(0)
		d.applyRaft(sm.RaftSave{Entries: raftEnts(2, 30, 1)})
		d.sync(raftFile)
		d.applyRaft(sm.RaftSave{Entries: raftEnts(31, 32, 1)})
		d.applyRaft(sm.RaftSave{Snapshot: raftSnap(20, 1)})
		d.applyRaft(sm.RaftSave{Entries: raftEnts(33, 33, 1)})
		d.crash(newRNG(seed), true)
		got, err := d.recover()
		if err != nil {
			t.Fatal(err)
		}
		si := got.Snapshot.GetMetadata().GetIndex()
		switch {
		case si == 0 && len(got.Entries) == 29 && got.Entries[28].GetIndex() == 30:
		case si == 20 && len(got.Entries) == 13 && got.Entries[0].GetIndex() == 21 && got.Entries[12].GetIndex() == 33:
		default:
			t.Fatalf("seed %d: recovered snapshot %d and %d entries", seed, si, len(got.Entries))
		}
		outcomes[si]++
	}
	if len(outcomes) != 2 {
		t.Errorf("crash outcomes %v, want both the synced and the compacted state", outcomes)
	}
}
