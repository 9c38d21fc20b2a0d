// Package raftstore is the production raft store of a controller node: it
// persists what sm.DiskOp operations of Kind sm.DiskRaft carry (raft entries
// and HardState) in pebble, and reads it back as the sm.Durable the
// controller's constructor recovers from.
//
// It implements, on a real disk, the semantics the simulator's model of the
// raft store has (sim/disk.go): each Save is atomic — after a crash it is on
// disk entirely or not at all — and entries overwrite any stored entries at
// the same or later indexes, so the stored log is always a contiguous run of
// indexes. A Save with sync set is durable when it returns; one without may be
// lost in a crash, but then every later Save is lost too (pebble's WAL
// replays a prefix of the batches it was given).
//
// Layout in the pebble keyspace:
//
//	"v"                  format version (one byte, formatVersion)
//	"h"                  HardState (deterministic proto)
//	"e" + uint64 BE idx  Entry with Index idx (deterministic proto)
//
// Big-endian index keys make pebble's byte order the log order, so Load is one
// forward scan and the overwrite rule is one range deletion.
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
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/weirmq/weir/sm"
)

// ErrClosed is returned by Store methods called after Close, so that a
// late disk operation fails cleanly instead of panicking inside pebble.
var ErrClosed = errors.New("raftstore: store is closed")

// formatVersion is the layout described in the package comment; Open refuses
// a store with any other version rather than misreading it.
const formatVersion = 1

var (
	formatKey    = []byte("v")
	hardStateKey = []byte("h")
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
	// Log receives pebble's log lines (see LogFunc); nil discards them.
	// Pebble is never given its default logger, which writes to the
	// process-global log package and exits the process on fatal errors.
	Log LogFunc

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
	// failed is set when a write may or may not have reached the database
	// (pebble's commit pipeline broke); from then on last is unreliable and
	// every Save fails. Reopening recovers.
	failed error
	buf    []byte // marshal scratch space, reused across Saves
}

// Open opens (creating if needed) the raft store in directory dir. Opening
// replays pebble's WAL, which cuts a torn tail left by a crash, as the
// simulator's recover does.
func Open(dir string, opts Options) (s *Store, err error) {
	defer catchFatal(&err)
	po := &pebble.Options{FS: opts.FS, Logger: Logger{Log: opts.Log}}
	if po.FS == nil {
		po.FS = vfs.Default
	}
	if opts.tune != nil {
		opts.tune(po)
	}
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("raftstore: open %q: %w", dir, err)
	}
	s = &Store{db: db}
	if err := s.init(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("raftstore: open %q: %w", dir, err)
	}
	return s, nil
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
		if err := s.db.Set(formatKey, []byte{formatVersion}, pebble.Sync); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		ok := len(v) == 1 && v[0] == formatVersion
		got := fmt.Sprintf("%x", v)
		_ = closer.Close()
		if !ok {
			return fmt.Errorf("unsupported raftstore format version %s (want %d)", got, formatVersion)
		}
	}
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

// Load reads the whole durable raft state: the HardState (nil if none was
// ever saved) and every entry in index order (nil if none). It is what the
// runtime hands the controller's constructor, in sm.Durable; Logs stays nil
// because partition logs live elsewhere. It fails on a log that is not a
// contiguous run of indexes, which Save never writes.
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
		d.Entries = append(d.Entries, e)
	}
	if err := it.Error(); err != nil {
		return d, fmt.Errorf("raftstore: load entries: %w", err)
	}
	return d, nil
}

// Save writes hs and ents as one atomic pebble batch, the way a DiskRaft
// operation asks (see sm.DiskOp):
//
//   - ents (contiguous indexes) overwrite any stored entries at the same or
//     later indexes: stored entries past the last of ents are deleted;
//   - hs replaces the stored HardState, unless it is nil or empty on the wire
//     (then the stored one stays, as in the simulator's model);
//   - with sync, the batch (and everything saved before it) is durable when
//     Save returns.
//
// It refuses ents that would leave a gap after the stored log, since no valid
// raft log has one. If a commit fails, whether the batch reached the disk is
// unknown: the Store then fails every later Save and must be reopened.
func (s *Store) Save(hs *pb.HardState, ents []*pb.Entry, sync bool) (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return ErrClosed
	}
	if s.failed != nil {
		return fmt.Errorf("raftstore: an earlier write failed, reopen the store: %w", s.failed)
	}
	newLast := s.last
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
		if s.last != 0 && first > s.last+1 {
			return fmt.Errorf("raftstore: save: entries from %d would leave a gap after stored entry %d", first, s.last)
		}
		newLast = first + uint64(len(ents)) - 1
	}

	b := s.db.NewBatch()
	defer func() { _ = b.Close() }()
	mo := proto.MarshalOptions{Deterministic: true}
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
	if len(ents) > 0 && s.last > newLast {
		_ = b.DeleteRange(entryKey(newLast+1), entryKey(s.last+1), nil)
	}
	if b.Empty() {
		if !sync {
			return nil
		}
		// Nothing to write, but the caller wants what came before durable:
		// a WAL-only record makes pebble sync the WAL.
		_ = b.LogData(nil, nil)
	}

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
	s.last = newLast
	return nil
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
	if err := db.Close(); err != nil {
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
