// Package raftstore is the production raft store of a controller node: it
// persists what sm.RaftSave effects carry (raft entries, HardState and
// snapshots) in pebble, and reads it back as the sm.Durable the
// controller's constructor recovers from.
//
// It implements, on a real disk, the semantics the simulator's model of the
// raft store has (sim/disk.go): each Save is atomic — after a crash it is on
// disk entirely or not at all — and entries overwrite any stored entries at
// the same or later indexes, so the stored log is always a contiguous run of
// indexes. A save with a snapshot stores it and, in the same batch, deletes
// the entries it summarises (a range deletion), so the log is the snapshot
// followed by a contiguous run after it. A Save with sync set is durable when it returns; one without may be
// lost in a crash, but then every later Save is lost too (pebble's WAL
// replays a prefix of the batches it was given).
//
// Open refuses a store that replays fewer saves than were synced — a
// corrupt record in the middle of the WAL, which pebble would silently
// treat as the end of the log — with a *CorruptError naming the WAL file
// and byte (see synced.go for how it knows). A torn tail of unsynced saves
// still opens.
//
// Layout in the pebble keyspace:
//
//	"v"                  format version (one byte, formatVersion)
//	"s"                  uint64 BE: how many batches were committed (saves,
//	                     and the format version's); written by every Save
//	"h"                  HardState (deterministic proto)
//	"p"                  the newest raft Snapshot (deterministic proto);
//	                     absent until the first snapshot save
//	"e" + uint64 BE idx  Entry with Index idx (deterministic proto), all
//	                     above the snapshot's index
//
// Big-endian index keys make pebble's byte order the log order, so Load is one
// forward scan and the overwrite rule is one range deletion.
//
// Beside pebble's files, weir-synced records the number of the last synced
// save (synced.go).
//
// Pebble starts background goroutines and reads the wall clock, so this
// package is for production and for integration tests only; the simulator
// keeps its own deterministic model.
package raftstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/rs/zerolog"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/weirmq/weir/sm"
)

// ErrClosed is returned by Store methods called after Close, so that a
// late disk operation fails cleanly instead of panicking inside pebble.
var ErrClosed = errors.New("raftstore: store is closed")

// formatVersion is the layout described in the package comment; Open refuses
// a store with any other version rather than misreading it. Version 1 is
// the same layout without snapshots: it opens as it is, and the first
// snapshot save raises the version in its batch, so that a binary that
// knows no snapshots refuses the store instead of misreading a log that
// starts after one.
const (
	formatVersion       = 2
	formatVersionNoSnap = 1
)

var (
	formatKey    = []byte("v")
	seqKey       = []byte("s")
	hardStateKey = []byte("h")
	snapshotKey  = []byte("p")
	entryLower   = []byte("e") // every entry key has this prefix
	entryUpper   = []byte("f") // the first key past every entry key
)

// entryKey is the pebble key of the entry at index.
func entryKey(index uint64) []byte {
	return binary.BigEndian.AppendUint64(append(make([]byte, 0, 9), entryLower...), index)
}

// parseEntryKey is the inverse of entryKey.
func parseEntryKey(k []byte) (uint64, bool) {
	if len(k) != 9 || k[0] != entryLower[0] {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[1:]), true
}

// Options configures Open. The zero value is the production setting: the
// operating system's filesystem, and pebble's log lines discarded.
type Options struct {
	// FS is the filesystem pebble runs on; nil means the operating system's
	// (vfs.Default). Tests pass vfs.NewMem or vfs.NewCrashableMem to run in
	// memory and to simulate crashes.
	FS vfs.FS
	// Log receives pebble's log lines (see Logger); the zero value discards
	// them. Pebble is never given its default logger, which writes to the
	// process-global log package and exits the process on fatal errors.
	Log zerolog.Logger

	// tune adjusts the pebble options just before Open; tests use it to
	// force memtable flushes and compactions.
	tune func(*pebble.Options)
}

// Store is one node's raft store: a pebble database holding the HardState
// and the raft log. Its methods are safe for concurrent use (they are
// serialized); in production one Executor goroutine calls Save.
type Store struct {
	mu sync.Mutex
	db *pebble.DB // nil once closed
	// last is the highest stored entry index, 0 if there are none. It lets
	// Save delete only when entries are really overwritten, instead of
	// adding a range tombstone to every append.
	last uint64
	// snapIndex is the stored snapshot's index, 0 if there is none;
	// version the store's format version.
	snapIndex uint64
	version   byte
	// failed is set when a write may or may not have reached the database
	// (pebble's commit pipeline broke); from then on last is unreliable and
	// every Save fails. Reopening recovers.
	failed error
	buf    []byte // marshal scratch space, reused across Saves
	// seq is the number of the last committed batch (seqKey); synced
	// records each synced one in the marker.
	seq    uint64
	synced *syncedWriter
}

// Open opens (creating if needed) the raft store in directory dir. Opening
// replays pebble's WAL, which cuts a torn tail left by a crash, as the
// simulator's recover does. If the store then holds fewer saves than the
// synced-save marker says were synced, Open changes nothing and returns a
// *CorruptError (errors.Is(err, ErrCorrupt)) naming where replay stopped.
func Open(dir string, opts Options) (s *Store, err error) {
	defer catchFatal(&err)
	fs := opts.FS
	if fs == nil {
		fs = vfs.Default
	}
	markPath := fs.PathJoin(dir, SyncedFile)
	mark, err := readSynced(fs, markPath)
	if err != nil {
		return nil, fmt.Errorf("raftstore: open %q: %w", dir, err)
	}
	if mark.synced > 0 {
		// Read-only first: a read-write open would flush what it replayed
		// and retire the WAL it stopped in, destroying the evidence.
		if err := checkReplay(dir, opts, fs, mark.synced); err != nil {
			return nil, err
		}
	}
	w := &stopWatcher{}
	db, err := pebble.Open(dir, pebbleOptions(opts, fs, w, false))
	if err != nil {
		return nil, openFailed(fs, dir, err, w, mark.synced)
	}
	s = &Store{db: db}
	if err = s.init(); err == nil && s.seq < mark.synced {
		// checkReplay saw enough saves; the files changed since.
		e := &CorruptError{Dir: dir, Replayed: s.seq, Synced: mark.synced}
		w.fill(fs, e)
		err = e
	}
	if err == nil && !mark.found {
		err = createSynced(fs, dir, markPath, s.seq)
	}
	if err == nil {
		s.synced, err = openSyncedWriter(fs, markPath)
	}
	if err != nil {
		_ = db.Close()
		if errors.Is(err, ErrCorrupt) {
			return nil, err
		}
		return nil, fmt.Errorf("raftstore: open %q: %w", dir, err)
	}
	return s, nil
}

// pebbleOptions are the options of every pebble.Open of the store; w
// watches the log lines for where WAL replay stopped. A read-only open
// passes on only pebble's errors (the read-write open that follows logs
// the same replay).
func pebbleOptions(opts Options, fs vfs.FS, w *stopWatcher, readOnly bool) *pebble.Options {
	po := &pebble.Options{FS: fs, Logger: Logger{Log: opts.Log, tap: w.observe, quietInfo: readOnly}, ReadOnly: readOnly}
	if opts.tune != nil {
		opts.tune(po)
	}
	return po
}

// readSeq reads seqKey: how many batches the store holds (0 in a store
// written before the key existed).
func readSeq(db *pebble.DB) (uint64, error) {
	v, closer, err := db.Get(seqKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer func() { _ = closer.Close() }()
	if len(v) != 8 {
		return 0, fmt.Errorf("malformed save sequence %x", v)
	}
	return binary.BigEndian.Uint64(v), nil
}

// init checks (or, on an empty database, writes) the format version and
// finds the last stored entry index.
func (s *Store) init() error {
	v, closer, err := s.db.Get(formatKey)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		it, err := s.db.NewIter(nil)
		if err != nil {
			return err
		}
		nonEmpty := it.First()
		if err := errors.Join(it.Error(), it.Close()); err != nil {
			return err
		}
		if nonEmpty {
			return errors.New("database holds data but no raftstore format version")
		}
		b := s.db.NewBatch()
		s.version = formatVersion
		_ = b.Set(formatKey, []byte{formatVersion}, nil)
		_ = b.Set(seqKey, binary.BigEndian.AppendUint64(nil, 1), nil)
		err = b.Commit(pebble.Sync)
		if err = errors.Join(err, b.Close()); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		ok := len(v) == 1 && (v[0] == formatVersion || v[0] == formatVersionNoSnap)
		got := fmt.Sprintf("%x", v)
		if ok {
			s.version = v[0]
		}
		_ = closer.Close()
		if !ok {
			return fmt.Errorf("unsupported raftstore format version %s (want %d or %d)", got, formatVersionNoSnap, formatVersion)
		}
	}
	if s.seq, err = readSeq(s.db); err != nil {
		return err
	}
	snap, err := s.loadSnapshot()
	if err != nil {
		return err
	}
	s.snapIndex = snap.GetMetadata().GetIndex()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: entryLower, UpperBound: entryUpper})
	if err != nil {
		return err
	}
	if it.Last() {
		idx, ok := parseEntryKey(it.Key())
		if !ok {
			_ = it.Close()
			return fmt.Errorf("malformed entry key %x", it.Key())
		}
		s.last = idx
	}
	return errors.Join(it.Error(), it.Close())
}

// loadSnapshot reads snapshotKey (nil if absent).
func (s *Store) loadSnapshot() (*pb.Snapshot, error) {
	v, closer, err := s.db.Get(snapshotKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load snapshot: %w", err)
	}
	defer func() { _ = closer.Close() }()
	snap := &pb.Snapshot{}
	if err := proto.Unmarshal(v, snap); err != nil { // copies: v is only valid until closer.Close
		return nil, fmt.Errorf("load snapshot: %w", err)
	}
	if snap.GetMetadata().GetIndex() == 0 {
		return nil, errors.New("load snapshot: stored snapshot has index 0")
	}
	return snap, nil
}

// Load reads the whole durable raft state: the HardState (nil if none was
// ever saved), the snapshot (nil if none was saved) and every entry after
// it in index order (nil if none). It is what the runtime hands the
// controller's constructor, in sm.Durable; Logs stays nil because
// partition logs live elsewhere. It fails on a log that is not a contiguous
// run of indexes right after the snapshot, which Save never writes.
func (s *Store) Load() (d sm.Durable, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return d, ErrClosed
	}
	defer catchFatal(&err)
	v, closer, err := s.db.Get(hardStateKey)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return d, fmt.Errorf("raftstore: load hard state: %w", err)
	default:
		hs := &pb.HardState{}
		err := proto.Unmarshal(v, hs) // copies: v is only valid until closer.Close
		_ = closer.Close()
		if err != nil {
			return d, fmt.Errorf("raftstore: load hard state: %w", err)
		}
		d.HardState = hs
	}
	if d.Snapshot, err = s.loadSnapshot(); err != nil {
		return d, fmt.Errorf("raftstore: %w", err)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: entryLower, UpperBound: entryUpper})
	if err != nil {
		return d, fmt.Errorf("raftstore: load entries: %w", err)
	}
	defer func() { err = errors.Join(err, it.Close()) }()
	for valid := it.First(); valid; valid = it.Next() {
		idx, ok := parseEntryKey(it.Key())
		if !ok {
			return d, fmt.Errorf("raftstore: load entries: malformed key %x", it.Key())
		}
		val, err := it.ValueAndErr()
		if err != nil {
			return d, fmt.Errorf("raftstore: load entry %d: %w", idx, err)
		}
		e := &pb.Entry{}
		if err := proto.Unmarshal(val, e); err != nil {
			return d, fmt.Errorf("raftstore: load entry %d: %w", idx, err)
		}
		if e.GetIndex() != idx {
			return d, fmt.Errorf("raftstore: load entries: key %d holds entry %d", idx, e.GetIndex())
		}
		if n := len(d.Entries); n > 0 && d.Entries[n-1].GetIndex()+1 != idx {
			return d, fmt.Errorf("raftstore: load entries: gap between %d and %d", d.Entries[n-1].GetIndex(), idx)
		}
		if si := d.Snapshot.GetMetadata().GetIndex(); len(d.Entries) == 0 && d.Snapshot != nil && idx != si+1 {
			return d, fmt.Errorf("raftstore: load entries: first entry %d does not follow the snapshot at %d", idx, si)
		}
		d.Entries = append(d.Entries, e)
	}
	if err := it.Error(); err != nil {
		return d, fmt.Errorf("raftstore: load entries: %w", err)
	}
	return d, nil
}

// Save writes hs and ents as one atomic pebble batch; it is SaveRaft
// without a snapshot.
func (s *Store) Save(hs *pb.HardState, ents []*pb.Entry, sync bool) error {
	return s.SaveRaft(sm.RaftSave{HardState: hs, Entries: ents, Sync: sync})
}

// SaveRaft writes op's snapshot, entries and HardState as one atomic pebble
// batch, the way an sm.RaftSave asks:
//
//   - the snapshot (when set) replaces the stored one, and the entries at or
//     below its index are deleted with one range deletion; the stored
//     entries above it stay only if the store holds the snapshot's last
//     entry (same index and term), else they are deleted too (a snapshot
//     from the leader replacing a divergent log);
//   - ents (contiguous indexes, after the snapshot) overwrite any stored
//     entries at the same or later indexes: stored entries past the last of
//     ents are deleted;
//   - hs replaces the stored HardState, unless it is nil or empty on the wire
//     (then the stored one stays, as in the simulator's model);
//   - with sync, the batch (and everything saved before it) is durable when
//     SaveRaft returns.
//
// It refuses ents that would leave a gap after the stored log or reach back
// to the snapshot, and a snapshot not newer than the stored one, since no
// valid raft log has those. If a commit fails, whether the batch reached the
// disk is unknown: the Store then fails every later save and must be
// reopened.
func (s *Store) SaveRaft(op sm.RaftSave) (err error) {
	hs, ents, sync := op.HardState, op.Entries, op.Sync
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return ErrClosed
	}
	if s.failed != nil {
		return fmt.Errorf("raftstore: an earlier write failed, reopen the store: %w", s.failed)
	}
	mo := proto.MarshalOptions{Deterministic: true}
	b := s.db.NewBatch()
	defer func() { _ = b.Close() }()
	last, snapIndex := s.last, s.snapIndex
	if op.Snapshot != nil {
		if last, err = s.batchSnapshot(b, op.Snapshot); err != nil {
			return err
		}
		snapIndex = op.Snapshot.GetMetadata().GetIndex()
	}
	newLast := last
	if len(ents) > 0 {
		first := ents[0].GetIndex()
		if first == 0 {
			return errors.New("raftstore: save: entry index 0")
		}
		for i, e := range ents {
			if e.GetIndex() != first+uint64(i) {
				return fmt.Errorf("raftstore: save: entry %d follows %d", e.GetIndex(), first+uint64(i)-1)
			}
		}
		if first <= snapIndex {
			return fmt.Errorf("raftstore: save: entries from %d reach back to the snapshot at %d", first, snapIndex)
		}
		if end := max(last, snapIndex); end != 0 && first > end+1 {
			return fmt.Errorf("raftstore: save: entries from %d would leave a gap after stored entry %d", first, end)
		}
		newLast = first + uint64(len(ents)) - 1
	}
	if hs != nil {
		if s.buf, err = mo.MarshalAppend(s.buf[:0], hs); err != nil {
			return fmt.Errorf("raftstore: save hard state: %w", err)
		}
		if len(s.buf) > 0 {
			_ = b.Set(hardStateKey, s.buf, nil) // the batch copies the value
		}
	}
	for _, e := range ents {
		if s.buf, err = mo.MarshalAppend(s.buf[:0], e); err != nil {
			return fmt.Errorf("raftstore: save entry %d: %w", e.GetIndex(), err)
		}
		_ = b.Set(entryKey(e.GetIndex()), s.buf, nil)
	}
	if len(ents) > 0 && last > newLast {
		_ = b.DeleteRange(entryKey(newLast+1), entryKey(last+1), nil)
	}
	if b.Empty() && !sync {
		return nil
	}
	// Every batch, even one that only syncs what came before, carries its
	// number, which the marker names once it is synced.
	_ = b.Set(seqKey, binary.BigEndian.AppendUint64(nil, s.seq+1), nil)

	wo := pebble.NoSync
	if sync {
		wo = pebble.Sync
	}
	defer func() {
		if err != nil {
			s.failed = err
		}
	}()
	defer catchFatal(&err)
	if err := b.Commit(wo); err != nil {
		return fmt.Errorf("raftstore: save: %w", err)
	}
	s.last, s.snapIndex = newLast, snapIndex
	if op.Snapshot != nil {
		s.version = formatVersion
	}
	s.seq++
	if sync {
		// Before the caller hears of it: nothing it acts on is newer than
		// the marker.
		if err := s.synced.record(s.seq); err != nil {
			return fmt.Errorf("raftstore: save: %w", err)
		}
	}
	return nil
}

// batchSnapshot adds to b the writes of a snapshot save (see SaveRaft) and
// returns the highest entry index the store holds after them (0 if none).
func (s *Store) batchSnapshot(b *pebble.Batch, snap *pb.Snapshot) (uint64, error) {
	idx, term := snap.GetMetadata().GetIndex(), snap.GetMetadata().GetTerm()
	if idx == 0 {
		return 0, errors.New("raftstore: save: snapshot at index 0")
	}
	if idx <= s.snapIndex {
		return 0, fmt.Errorf("raftstore: save: snapshot at %d not after the stored snapshot at %d", idx, s.snapIndex)
	}
	keep := false
	if idx <= s.last {
		v, closer, err := s.db.Get(entryKey(idx))
		switch {
		case errors.Is(err, pebble.ErrNotFound):
		case err != nil:
			return 0, fmt.Errorf("raftstore: save snapshot: read entry %d: %w", idx, err)
		default:
			e := &pb.Entry{}
			err := proto.Unmarshal(v, e)
			_ = closer.Close()
			if err != nil {
				return 0, fmt.Errorf("raftstore: save snapshot: read entry %d: %w", idx, err)
			}
			keep = e.GetTerm() == term
		}
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(snap)
	if err != nil {
		return 0, fmt.Errorf("raftstore: save snapshot: %w", err)
	}
	_ = b.Set(snapshotKey, data, nil)
	if s.version != formatVersion {
		_ = b.Set(formatKey, []byte{formatVersion}, nil)
	}
	last := s.last
	upper := idx + 1
	switch {
	case !keep:
		upper, last = max(idx, s.last)+1, 0
	case s.last == idx:
		last = 0
	}
	if s.last != 0 {
		_ = b.DeleteRange(entryLower, entryKey(upper), nil)
	}
	return last, nil
}

// Close closes the database. Later calls of Store methods return ErrClosed;
// closing twice is harmless.
func (s *Store) Close() (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	defer catchFatal(&err)
	db := s.db
	s.db = nil
	if err := errors.Join(db.Close(), s.synced.close()); err != nil {
		return fmt.Errorf("raftstore: close: %w", err)
	}
	return nil
}

// catchFatal turns a Logger.Fatalf panic (pebble's "cannot continue") in the
// calling goroutine into the function's error; any other panic goes on.
func catchFatal(err *error) {
	if r := recover(); r != nil {
		fe, ok := r.(*FatalError)
		if !ok {
			panic(r)
		}
		*err = fe
	}
}
