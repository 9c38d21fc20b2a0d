package raftstore

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/weirmq/weir/sm"
)

// model is the simulator's raft store semantics (sim/disk.go, decodeRaftLog):
// a record's snapshot replaces the stored one and drops the entries at or
// below its index (and all of them unless the log holds the snapshot's
// last entry), its non-empty hard state replaces the stored one, and an
// entry at index i replaces everything from i on. Copied, not imported: sim
// is a consumer of this package's contract, not a dependency.
type model struct {
	hs   *pb.HardState
	snap *pb.Snapshot
	ents []*pb.Entry
}

func (m model) apply(op sm.RaftSave) model {
	hs, es := op.HardState, op.Entries
	out := model{hs: m.hs, snap: m.snap, ents: slices.Clone(m.ents)}
	if sn := op.Snapshot; sn != nil {
		idx, term := sn.GetMetadata().GetIndex(), sn.GetMetadata().GetTerm()
		keep := slices.ContainsFunc(out.ents, func(e *pb.Entry) bool { return e.GetIndex() == idx && e.GetTerm() == term })
		out.ents = slices.DeleteFunc(out.ents, func(e *pb.Entry) bool { return !keep || e.GetIndex() <= idx })
		out.snap = sn
	}
	if hs != nil {
		if b, _ := (proto.MarshalOptions{Deterministic: true}).Marshal(hs); len(b) > 0 {
			out.hs = hs
		}
	}
	for _, e := range es {
		for len(out.ents) > 0 && out.ents[len(out.ents)-1].GetIndex() >= e.GetIndex() {
			out.ents = out.ents[:len(out.ents)-1]
		}
		out.ents = append(out.ents, e)
	}
	return out
}

func (m model) equal(d sm.Durable) bool {
	return proto.Equal(m.hs, d.HardState) && proto.Equal(m.snap, d.Snapshot) && sameEntries(d.Entries, m.ents) == nil
}

// snapshot is a raft snapshot at index and term carrying data.
func snapshot(index, term uint64, data []byte) *pb.Snapshot {
	return &pb.Snapshot{Data: data, Metadata: &pb.SnapshotMetadata{Index: new(index), Term: new(term), ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}}}}
}

// checkContiguous fails unless es is a valid raft log: indexes contiguous,
// terms never decreasing.
func checkContiguous(es []*pb.Entry) error {
	for i := 1; i < len(es); i++ {
		if es[i].GetIndex() != es[i-1].GetIndex()+1 || es[i].GetTerm() < es[i-1].GetTerm() {
			return fmt.Errorf("entry %d (term %d) after %d (term %d)", es[i].GetIndex(), es[i].GetTerm(), es[i-1].GetIndex(), es[i-1].GetTerm())
		}
	}
	return nil
}

// genSave draws one save a raft node could issue on top of m: an append, an
// overwrite at a higher term (a new leader's log), a hard state alone, an
// empty sync, and with cfg.snapshots a compaction of the node's own log (a
// snapshot at a stored entry) or a snapshot from the leader (beyond the log
// or at a higher term, with the entries after it).
func genSave(r *rand.Rand, m model, term *uint64, cfg crashCfg) sm.RaftSave {
	sync := r.IntN(cfg.syncOneIn) == 0
	switch k := r.IntN(20); {
	case k == 0:
		return sm.RaftSave{Sync: true} // a sync alone: makes earlier unsynced saves durable
	case k < 4:
		*term++
		return sm.RaftSave{HardState: hardState(*term, r.Uint64N(4), 0), Sync: sync}
	case cfg.snapshots && k < 6 && len(m.ents) > 0: // compact the own log
		e := m.ents[r.IntN(len(m.ents))]
		return sm.RaftSave{Snapshot: snapshot(e.GetIndex(), e.GetTerm(), genData(r, cfg)), Sync: sync}
	}
	var snap *pb.Snapshot
	first := m.snap.GetMetadata().GetIndex() + 1
	if n := len(m.ents); n > 0 {
		first = m.ents[n-1].GetIndex() + 1
		if r.IntN(4) == 0 { // overwrite a suffix (or all) of the log
			first = m.ents[0].GetIndex() + r.Uint64N(uint64(n))
			*term++
		}
	}
	if cfg.snapshots && r.IntN(8) == 0 { // the leader's snapshot replaces the log up to first-1
		if r.IntN(2) == 0 {
			first += r.Uint64N(5) // beyond the log
		}
		*term++
		if idx := first - 1; idx > m.snap.GetMetadata().GetIndex() {
			snap = snapshot(idx, *term, genData(r, cfg))
		} else {
			first = m.snap.GetMetadata().GetIndex() + 1
		}
	}
	var es []*pb.Entry
	var hs *pb.HardState
	for i := range 1 + r.IntN(5) {
		size := r.IntN(cfg.maxData + 1)
		if cfg.big && r.IntN(10) == 0 {
			// Now and then a big entry: pebble's WAL writer keeps unsynced
			// records in memory until a 32 KiB block fills (or a sync), so
			// only volume lets unsynced saves reach the file, where a crash
			// may keep them.
			size = r.IntN(16 << 10)
		}
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		es = append(es, &pb.Entry{Index: new(first + uint64(i)), Term: new(*term), Data: data})
	}
	if r.IntN(2) == 0 || snap != nil {
		hs = hardState(*term, r.Uint64N(4), first-1)
	}
	return sm.RaftSave{Snapshot: snap, HardState: hs, Entries: es, Sync: sync || snap != nil}
}

// genData is a snapshot's payload: small, or now and then up to 64 KiB.
func genData(r *rand.Rand, cfg crashCfg) []byte {
	size := r.IntN(cfg.maxData + 1)
	if cfg.big && r.IntN(4) == 0 {
		size = r.IntN(64 << 10)
	}
	data := make([]byte, size)
	for j := range data {
		data[j] = byte(r.Uint32())
	}
	return data
}

type crashStats struct {
	crashes, syncedOnly, someUnsynced, allUnsynced, snapshots int
	// flushes counts memtable flushes, including the one each reopen does
	// to recover the WAL; compactions counts compactions.
	flushes, compactions int64
}

// crashCfg shapes a crash test's workload.
type crashCfg struct {
	gens      int                  // crash-and-reopen cycles per seed
	maxOps    int                  // saves per generation: 1..maxOps
	maxData   int                  // entry payloads: 0..maxData bytes
	big       bool                 // one entry in 10 gets up to 16 KiB
	syncOneIn int                  // a save syncs with probability 1/syncOneIn
	snapshots bool                 // draw snapshot saves too
	pct       func(*rand.Rand) int // CrashCloneCfg.UnsyncedDataPercent
	tune      func(*pebble.Options)
}

// runCrashes drives one store through cfg.gens generations of random saves,
// on pebble v2's crashable in-memory FS (vfs.NewCrashableMem; CrashClone is
// v2's replacement for v1's NewStrictMem, SetIgnoreSyncs and
// ResetToSyncedState: with UnsyncedDataPercent 0 it keeps exactly what was
// synced, file data and directory entries). The synced-save marker goes
// through the same FS (Options.FS), so the crash applies to it too.
//
// Each generation is ended by a simulated crash (CrashClone with the
// percentage pct draws) and a reopen. After each crash the synced-save
// marker holds at least the last synced save, and the loaded state must be
// the model's state after some prefix of that generation's saves, at least
// up to the last synced one: synced saves survive, each save is atomic, and
// a lost save takes every later one with it.
func runCrashes(t *testing.T, seed uint64, cfg crashCfg, st *crashStats) {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	fs := vfs.NewCrashableMem()
	opts := Options{FS: fs, tune: cfg.tune}
	s, err := Open("raft", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	cur, term := model{}, uint64(1)
	for gen := range cfg.gens {
		states, synced := []model{cur}, 0
		// The save number the synced-save marker must hold: its number at
		// the start (a reopen may replay unsynced saves past it), then that
		// of each synced save.
		mark, err := readSynced(fs, fs.PathJoin("raft", SyncedFile))
		if err != nil {
			t.Fatal(err)
		}
		syncedSeq := mark.synced
		for range 1 + r.IntN(cfg.maxOps) {
			op := genSave(r, cur, &term, cfg)
			if err := s.SaveRaft(op); err != nil {
				t.Fatalf("seed %d gen %d: save: %v", seed, gen, err)
			}
			cur = cur.apply(op)
			if op.Snapshot != nil {
				st.snapshots++
			}
			states = append(states, cur)
			if op.Sync {
				synced = len(states) - 1
				syncedSeq = s.seq
			}
		}
		if r.IntN(2) == 0 {
			// Let pebble's WAL flusher goroutine write the unsynced tail
			// into the file (page cache), where a crash may keep it;
			// without the pause the crash usually precedes the write.
			time.Sleep(time.Millisecond)
		}
		cc := vfs.CrashCloneCfg{UnsyncedDataPercent: cfg.pct(r)}
		if cc.UnsyncedDataPercent > 0 {
			cc.RNG = rand.New(rand.NewPCG(r.Uint64(), r.Uint64()))
		}
		crashed := fs.CrashClone(cc)
		met := s.db.Metrics()
		st.flushes += met.Flush.Count
		st.compactions += met.Compact.Count
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		fs, opts.FS = crashed, crashed
		// The marker beside pebble's files (written through the same FS)
		// survives with the last synced save: a marker that lost it could
		// not tell a later loss of that save from a torn tail.
		if mark, err := readSynced(crashed, crashed.PathJoin("raft", SyncedFile)); err != nil || mark.synced < syncedSeq {
			t.Fatalf("seed %d gen %d: synced-save marker after the crash: %+v, %v; the last synced save was %d", seed, gen, mark, err, syncedSeq)
		}
		if s, err = Open("raft", opts); err != nil {
			t.Fatalf("seed %d gen %d: reopen after crash (%d%% unsynced kept): %v", seed, gen, cc.UnsyncedDataPercent, err)
		}
		d, err := s.Load()
		if err != nil {
			t.Fatalf("seed %d gen %d: load after crash: %v", seed, gen, err)
		}
		if err := checkContiguous(d.Entries); err != nil {
			t.Fatalf("seed %d gen %d: loaded log invalid: %v", seed, gen, err)
		}
		if si := d.Snapshot.GetMetadata().GetIndex(); d.Snapshot != nil && len(d.Entries) > 0 && d.Entries[0].GetIndex() != si+1 {
			t.Fatalf("seed %d gen %d: loaded log starts at %d after the snapshot at %d", seed, gen, d.Entries[0].GetIndex(), si)
		}
		k := len(states) - 1
		for k >= 0 && !states[k].equal(d) {
			k--
		}
		switch {
		case k < 0:
			t.Fatalf("seed %d gen %d: loaded state (hs %v, log %s) is no prefix of the saves (synced through %d of %d; final log %s)",
				seed, gen, d.HardState, spans(d.Entries), synced, len(states)-1, spans(cur.ents))
		case k < synced:
			t.Fatalf("seed %d gen %d: synced save lost: loaded the state after save %d, synced through %d (log %s, want %s)",
				seed, gen, k, synced, spans(d.Entries), spans(states[synced].ents))
		case k == synced:
			st.syncedOnly++
		case k == len(states)-1:
			st.allUnsynced++
		default:
			st.someUnsynced++
		}
		st.crashes++
		cur = states[k]
	}
}

func TestCrashKeepsSyncedSaves(t *testing.T) {
	var st crashStats
	for seed := range uint64(20) {
		runCrashes(t, seed, crashCfg{gens: 5, maxOps: 30, maxData: 64, syncOneIn: 4, pct: func(*rand.Rand) int { return 0 }}, &st)
	}
	t.Logf("%+v", st)
	if st.someUnsynced+st.allUnsynced > 0 {
		// With UnsyncedDataPercent 0 only synced data survives: at most
		// 30 saves of 5 small entries per generation stay far below the
		// first memtable's 256 KiB, so no flush makes unsynced saves
		// durable behind the test's back.
		t.Errorf("unsynced saves survived a crash that keeps no unsynced data: %+v", st)
	}
}

func TestCrashRandomUnsyncedPrefix(t *testing.T) {
	var st crashStats
	for seed := range uint64(40) {
		runCrashes(t, seed, crashCfg{gens: 5, maxOps: 30, maxData: 256, big: true, syncOneIn: 8, pct: func(r *rand.Rand) int { return r.IntN(101) }}, &st)
	}
	t.Logf("%+v", st)
	if st.someUnsynced+st.allUnsynced == 0 || st.syncedOnly == 0 {
		t.Errorf("the crashes did not cover all outcomes: %+v", st)
	}
}

// TestCrashWithFlushes repeats the random crashes with a tiny memtable, so
// that range deletions and overwritten entries go through flushes and
// compactions into sstables, not only the WAL.
func TestCrashWithFlushes(t *testing.T) {
	tune := func(o *pebble.Options) {
		o.MemTableSize = 64 << 10
		o.L0CompactionThreshold = 2
	}
	var st crashStats
	for seed := range uint64(10) {
		runCrashes(t, 100+seed, crashCfg{gens: 5, maxOps: 40, maxData: 2048, big: true, syncOneIn: 8, tune: tune,
			pct: func(r *rand.Rand) int { return []int{0, 50, r.IntN(101)}[r.IntN(3)] }}, &st)
	}
	t.Logf("%+v", st)
	if st.flushes <= int64(st.crashes) || st.compactions == 0 {
		t.Errorf("no memtable flushes or compactions happened beyond WAL recovery: %+v", st)
	}
}

// TestCrashAfterSnapshotSaves repeats the random crashes with snapshot saves
// among the others — compactions of the node's own log and snapshots from a
// leader that replace it — with unsynced data kept or not, a small memtable
// so that the range deletions reach sstables, and the synced-save marker
// checked at every reopen: after every crash the store holds one consistent
// snapshot and the contiguous entries after it, the state after a prefix of
// the saves at least through the last synced one.
func TestCrashAfterSnapshotSaves(t *testing.T) {
	tune := func(o *pebble.Options) {
		o.MemTableSize = 64 << 10
		o.L0CompactionThreshold = 2
	}
	var st crashStats
	for seed := range uint64(30) {
		runCrashes(t, 200+seed, crashCfg{gens: 5, maxOps: 40, maxData: 512, big: seed%2 == 0, syncOneIn: 6, snapshots: true, tune: tune,
			pct: func(r *rand.Rand) int { return []int{0, 50, r.IntN(101)}[r.IntN(3)] }}, &st)
	}
	t.Logf("%+v", st)
	if st.snapshots < 100 || st.someUnsynced+st.allUnsynced == 0 || st.syncedOnly == 0 {
		t.Errorf("the crashes did not cover snapshot saves and every outcome: %+v", st)
	}
}
