package wal

import (
	"container/list"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weirmq/weir/io/wal/walfs"
	"github.com/weirmq/weir/sm"
)

// ErrClosed completes operations submitted after Close.
var ErrClosed = errors.New("wal: closed")

// ErrLocked is wrapped by Open's error when another process holds the WAL
// directory.
var ErrLocked = walfs.ErrLocked

// ErrRefused is wrapped by every error that refuses an append before it
// wrote anything, for a reason that may pass: capacity_bytes used up, the
// file system nearly full, no file descriptor to open a segment, or an
// earlier refused append this one continues. The WAL stays usable, and an
// Executor reports such an error with sm.LogDone.Refused set.
var ErrRefused = errors.New("wal: append refused")

// refused builds an error that is ErrRefused (errors.Is) and reads as its
// message alone.
func refused(format string, args ...any) error {
	return &refusedError{msg: fmt.Sprintf(format, args...)}
}

type refusedError struct{ msg string }

func (e *refusedError) Error() string        { return e.msg }
func (e *refusedError) Is(target error) bool { return target == ErrRefused }

// freeReserveBytes is the file-system space appends never use: the broker
// refuses produces before the disk is full, so the WAL's own metadata (the
// sync ledger, directory entries) and truncates keep working.
const freeReserveBytes = 64 << 20

// WAL is an open write-ahead log: the partition segments under Config.Path
// and the committer goroutine that executes operations on them. Its methods
// are safe for concurrent use.
type WAL struct {
	cfg  Config
	root string
	fs   walfs.FS
	lock io.Closer
	be   backend
	info BackendInfo

	// Guarded by mu: what callers hand to the committer.
	mu      sync.Mutex
	queue   []request
	closing bool
	wake    chan struct{}
	stopped chan struct{}

	// Owned by the committer goroutine (and by Open before it starts).
	parts    map[sm.TopicPartition]*partition
	ledger   ledger
	lru      list.List // open segment files, most recently used first
	used     int64
	free     int64 // bytes the file system can still take this group (-1: unknown)
	failed   error
	group    group
	errs     []error
	spare    []request
	frames   []frameInfo
	scratch  []byte
	unsynced bool // some active segment may hold bytes not yet fdatasync'ed
	closeErr error
	tombs    uint64                     // deletions so far, naming tombstones
	reaper   sync.WaitGroup             // background removals of deleted partitions and segments
	touched  map[sm.TopicPartition]bool // logs whose view changes with this group

	reads reader
	// hookGroup, when set (tests only), runs before each group with the
	// number of operations in it.
	hookGroup func(n int)

	stats counters
}

// request is one queued operation and where its completion goes: an
// Executor's callback, or a channel for the blocking methods.
type request struct {
	op   sm.LogOp
	exec *Executor
	ch   chan error
}

// Stats are cumulative counters, for metrics and for tests that check group
// commit (DataSyncs well below Appends under concurrency).
type Stats struct {
	// Groups counts commit groups: batches of operations executed together.
	Groups uint64
	// Appends, Truncates, Deletes, Trims and Resets count operations that
	// succeeded.
	Appends, Truncates, Deletes, Trims, Resets uint64
	// Rolls counts segments sealed (appends with sm.LogOp.Roll).
	Rolls uint64
	// Reads counts segment reads served, BytesRead their bytes.
	Reads, BytesRead uint64
	// Writes counts pwrite / IORING_OP_WRITE operations issued.
	Writes uint64
	// DataSyncs counts fdatasyncs of segment files; DirSyncs counts fsyncs
	// of directories (segment creation and removal, partition creation);
	// LedgerSyncs counts fdatasyncs of the sync ledger (one per commit group
	// that synced, see ledger).
	DataSyncs, DirSyncs, LedgerSyncs uint64
	// BytesAppended counts frame bytes written by appends.
	BytesAppended uint64
	// Refused counts appends refused before writing anything (ErrRefused).
	Refused uint64
	// OpenFiles is the segment files open now; Evictions counts files
	// closed to stay under Config.MaxOpenFiles.
	OpenFiles int64
	Evictions uint64
	// UsedBytes is the bytes held in all segments, as CapacityBytes counts.
	UsedBytes int64
}

type counters struct {
	groups, appends, truncates, deletes, rolls atomic.Uint64
	trims, resets, reads, bytesRead            atomic.Uint64
	writes, dataSyncs, dirSyncs, bytes         atomic.Uint64
	ledgerSyncs, refused, evictions            atomic.Uint64
	used, open                                 atomic.Int64
}

// Recovery is what Open found on disk.
type Recovery struct {
	// Manifests describes every partition log: its topic ID and its
	// segments with their indexes, not their bytes (sm.Durable.Manifests).
	// Sealed segments come from their index files; only the active segment
	// was read. A damaged log's manifest covers its valid prefix.
	Manifests map[sm.TopicPartition]sm.LogManifest
	// Logs holds every partition's bytes, the concatenated valid frames of
	// its segments, only with Config.ReadLogBytes (tests and tools; it
	// costs the whole WAL in memory).
	Logs map[sm.TopicPartition][]byte
	// Repairs describes, one line each, what Open changed on disk: torn
	// tails cut, index files rebuilt, leftovers of interrupted deletions,
	// trims and rolls removed. The caller logs them.
	Repairs []string
	// Warnings describes, one line each, what Open found and left alone:
	// files in a partition directory that the WAL did not write (ignored),
	// an unreadable PARTITION file. The caller logs them.
	Warnings []string
	// UsedBytes is the bytes held in all segments after repairs.
	UsedBytes int64
	// Damaged lists partitions whose log has a defect that is not a torn
	// tail: a bad frame below the sync mark (bytes that were synced before
	// an operation writing them completed, so possibly acknowledged), in a
	// sealed segment, a missing segment file, or a gap in offsets.
	// Manifests holds each one's valid prefix. The WAL refuses appends to a
	// damaged partition until a Truncate at or below the end of that prefix
	// cuts the bad bytes (the caller decides whether it may: a replica that
	// can be rebuilt from another may; the last copy of acknowledged data
	// may not). Nothing is changed on disk until then.
	Damaged map[sm.TopicPartition]*CorruptError
}

// CorruptError is a log Open refuses to serve: a bad frame that is not a
// torn tail, or a gap in offsets. It names the file and byte offset so an
// operator can inspect it; the process must not start on this disk as is.
type CorruptError struct {
	// Path is the segment file.
	Path string
	// Pos is the byte offset in the file where the bad frame starts.
	Pos int64
	// Offset is the log offset the bad frame should have started at: the
	// end of the valid log before it.
	Offset sm.Offset
	// Reason says what is wrong (e.g. "checksum mismatch").
	Reason string
}

// Error reads "wal: corrupt record in <file> at byte <n>: <reason>".
func (e *CorruptError) Error() string {
	return fmt.Sprintf("wal: corrupt record in %s at byte %d: %s", e.Path, e.Pos, e.Reason)
}

// Open locks the WAL directory (creating it if needed), chooses a backend,
// recovers every partition log (see the package comment) and starts the
// committer. The caller must Close the WAL.
func Open(cfg Config) (*WAL, Recovery, error) {
	if cfg.Backend == "" {
		cfg.Backend = BackendAuto
	}
	if cfg.RingEntries == 0 {
		cfg.RingEntries = 256
	}
	if cfg.ReadConcurrency == 0 {
		cfg.ReadConcurrency = 4
	}
	if cfg.MaxOpenFiles == 0 {
		cfg.MaxOpenFiles = DefaultMaxOpenFiles()
	}
	if err := cfg.Validate(); err != nil {
		return nil, Recovery{}, err
	}
	root := filepath.Clean(cfg.Path)
	fsys, osFS := cfg.FS, cfg.FS == nil
	if osFS {
		fsys = walfs.OS{}
	}
	if err := makeRoot(fsys, root); err != nil {
		return nil, Recovery{}, err
	}
	lock, err := lockDir(fsys, root)
	if err != nil {
		return nil, Recovery{}, err
	}
	be, info, err := selectBackend(&cfg, osFS)
	if err != nil {
		lock.Close()
		return nil, Recovery{}, err
	}
	w := &WAL{
		cfg: cfg, root: root, fs: fsys, lock: lock, be: be, info: info,
		wake: make(chan struct{}, 1), stopped: make(chan struct{}),
		parts: map[sm.TopicPartition]*partition{},
	}
	rec, err := w.recover()
	if err != nil {
		w.closeFiles()
		be.close()
		lock.Close()
		return nil, Recovery{}, err
	}
	w.stats.used.Store(w.used)
	w.reads.views = map[sm.TopicPartition]*logView{}
	for _, p := range w.parts {
		w.touch(p)
	}
	w.publish()
	w.startReaders()
	go w.run()
	return w, rec, nil
}

// makeRoot creates the WAL directory and any missing parents, durably: each
// new directory's entry is synced in its parent, or a power loss soon after
// the first Open could take the whole WAL with it, however well its files
// were synced.
func makeRoot(fsys walfs.FS, root string) error {
	var made []string
	for d := root; ; d = filepath.Dir(d) {
		if _, err := fsys.Stat(d); !errors.Is(err, fs.ErrNotExist) {
			break
		}
		made = append(made, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := fsys.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("wal: create %s: %w", root, err)
	}
	for _, d := range made {
		if err := fsys.SyncDir(filepath.Dir(d)); err != nil {
			return fmt.Errorf("wal: create %s: fsync directory %s: %w", root, filepath.Dir(d), err)
		}
	}
	return nil
}

// lockDir takes an exclusive lock (flock) on <root>/LOCK so two processes
// never write one WAL; the kernel drops it when the process dies.
func lockDir(fsys walfs.FS, root string) (io.Closer, error) {
	l, err := fsys.Lock(filepath.Join(root, "LOCK"))
	if errors.Is(err, walfs.ErrLocked) {
		return nil, fmt.Errorf("wal: %s is %w", root, err)
	}
	if err != nil {
		return nil, fmt.Errorf("wal: open lock file: %w", err)
	}
	return l, nil
}

// Backend reports the backend Open chose and why, if it fell back.
func (w *WAL) Backend() BackendInfo { return w.info }

// Stats returns the counters so far.
func (w *WAL) Stats() Stats {
	c := &w.stats
	return Stats{
		Groups: c.groups.Load(), Appends: c.appends.Load(), Truncates: c.truncates.Load(),
		Deletes: c.deletes.Load(), Trims: c.trims.Load(), Resets: c.resets.Load(),
		Rolls: c.rolls.Load(), Reads: c.reads.Load(), BytesRead: c.bytesRead.Load(), Writes: c.writes.Load(),
		DataSyncs: c.dataSyncs.Load(), DirSyncs: c.dirSyncs.Load(), LedgerSyncs: c.ledgerSyncs.Load(),
		BytesAppended: c.bytes.Load(), Refused: c.refused.Load(),
		OpenFiles: c.open.Load(), Evictions: c.evictions.Load(),
		UsedBytes: c.used.Load(),
	}
}

// Append writes frames (whole sm.EncodeBatch frames, continuing tp's log)
// and returns when done: after fdatasync if sync is set and
// Config.FsyncOnWrite holds, after write(2) otherwise. Concurrent callers
// share fdatasyncs (group commit).
func (w *WAL) Append(tp sm.TopicPartition, frames []byte, sync bool) error {
	return w.do(sm.LogOp{Kind: sm.LogAppend, TP: tp, Data: frames, Sync: sync})
}

// Truncate removes every batch of tp's log at or after offset (a batch
// boundary), deleting later segments and cutting one, durably. Truncating
// at or beyond the log end does nothing.
func (w *WAL) Truncate(tp sm.TopicPartition, offset sm.Offset) error {
	return w.do(sm.LogOp{Kind: sm.LogTruncate, TP: tp, Offset: offset, Sync: true})
}

// Delete removes tp's log and directory, durably.
func (w *WAL) Delete(tp sm.TopicPartition) error {
	return w.do(sm.LogOp{Kind: sm.LogDelete, TP: tp, Sync: true})
}

// Do executes op and returns when it completed (the blocking form of an
// Executor's StartLog, for tools and tests).
func (w *WAL) Do(op sm.LogOp) error { return w.do(op) }

func (w *WAL) do(op sm.LogOp) error {
	ch := make(chan error, 1)
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		return ErrClosed
	}
	w.queue = append(w.queue, request{op: op, ch: ch})
	w.mu.Unlock()
	w.signal()
	return <-ch
}

func (w *WAL) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Close executes what is already queued, fdatasyncs any unsynced appends,
// stops the committer and closes every file. Operations submitted after
// Close fail with ErrClosed.
func (w *WAL) Close() error {
	w.mu.Lock()
	already := w.closing
	w.closing = true
	w.mu.Unlock()
	w.signal()
	<-w.stopped
	if already {
		return nil
	}
	w.stopReaders()
	w.reaper.Wait()
	err := w.closeErr
	if cerr := w.closeFiles(); err == nil {
		err = cerr
	}
	if cerr := w.be.close(); err == nil && cerr != nil {
		err = fmt.Errorf("wal: close backend: %w", cerr)
	}
	if cerr := w.lock.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("wal: close lock: %w", cerr)
	}
	return err
}

func (w *WAL) closeFiles() error {
	var err error
	if w.ledger.f != nil {
		err = w.ledger.f.Close()
		w.ledger.f = nil
	}
	for _, p := range w.parts {
		for _, s := range p.segs {
			if cerr := s.closeFile(); err == nil {
				err = cerr
			}
		}
	}
	return err
}

// run is the committer: it takes everything queued as one group, executes
// it, completes it, and repeats. While it executes a group (its fdatasync in
// particular), new operations queue up and become the next group.
func (w *WAL) run() {
	defer close(w.stopped)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false
	for {
		w.mu.Lock()
		batch := w.queue
		w.queue, w.spare = w.spare[:0], nil
		closing := w.closing
		w.mu.Unlock()
		if len(batch) == 0 {
			if closing {
				w.closeErr = w.flushDirty()
				if w.closeErr == nil {
					w.closeErr = w.writeCheckpoints()
				}
				return
			}
			select {
			case <-w.wake:
			case <-timer.C:
				armed = false
				_ = w.flushDirty() // an error poisons the WAL; the next operation reports it
			}
			w.spare = batch
			continue
		}
		w.commit(batch)
		w.publish()
		w.complete(batch)
		w.spare = batch[:0]
		if !armed && w.unsynced && w.cfg.FlushInterval > 0 {
			timer.Reset(w.cfg.FlushInterval)
			armed = true
		}
	}
}

// commit executes one group and leaves each operation's outcome in w.errs.
func (w *WAL) commit(batch []request) {
	w.errs = w.errs[:0]
	for range batch {
		w.errs = append(w.errs, nil)
	}
	if w.failed != nil {
		for i := range w.errs {
			w.errs[i] = w.failed
		}
		return
	}
	if w.hookGroup != nil {
		w.hookGroup(len(batch))
	}
	w.free = w.freeBytes()
	w.stats.groups.Add(1)
	g := &w.group
	for i := range batch {
		op := &batch[i].op
		switch op.Kind {
		case sm.LogAppend:
			w.errs[i] = w.queueAppend(g, op)
		case sm.LogTruncate:
			w.errs[i] = w.truncate(g, op)
		case sm.LogDelete:
			w.errs[i] = w.delete(g, op)
		case sm.LogTrim:
			w.errs[i] = w.trim(g, op)
		case sm.LogReset:
			w.errs[i] = w.reset(g, op)
		case sm.LogDamaged:
			w.errs[i] = w.recordDamage(g, op)
		default:
			w.errs[i] = fmt.Errorf("wal: disk op %d has unknown kind %d", op.ID, op.Kind)
		}
		if w.failed != nil {
			break
		}
	}
	if w.failed == nil {
		_ = w.flush(g)
	}
	if w.failed != nil {
		// Nothing in a failed group is known to be durable.
		for i := range w.errs {
			if w.errs[i] == nil {
				w.errs[i] = w.failed
			}
		}
		w.group.reset()
	}
	w.stats.used.Store(w.used)
	w.stats.open.Store(int64(w.lru.Len()))
}

func (w *WAL) complete(batch []request) {
	for i := range batch {
		r, err := &batch[i], w.errs[i]
		if r.exec != nil {
			r.exec.done(done(r.op.ID, err))
		} else {
			r.ch <- err
		}
		*r = request{}
	}
}

// fail poisons the WAL with its first I/O error and returns it.
func (w *WAL) fail(err error) error {
	if w.failed == nil {
		w.failed = err
	}
	return w.failed
}

// flushDirty fdatasyncs every segment holding appends that completed
// without one (FlushInterval, Close).
func (w *WAL) flushDirty() error {
	if w.failed != nil {
		return w.failed
	}
	w.unsynced = false
	for _, p := range w.parts {
		if s := p.active(); s != nil && s.dirty && s.f != nil {
			w.group.markSync(s)
		}
	}
	return w.flush(&w.group)
}

// writeCheckpoints leaves, at a clean Close, every large enough active
// segment's index beside it (fdatasync'ed, after the segment was): the next
// Open resumes the index from it and scans only what follows. A checkpoint
// lost to a power loss (its directory entry is not synced) or unreadable
// costs only a full scan.
func (w *WAL) writeCheckpoints() error {
	for _, tp := range slices.SortedFunc(maps.Keys(w.parts), sm.CompareTP) {
		p := w.parts[tp]
		s := p.active()
		if p.damage != nil || s == nil || s.size < checkpointMinBytes || s.dirty {
			continue
		}
		idx := s.b.Index()
		if err := w.writeSmallFile(s.checkpointPath(), sm.EncodeSegmentIndex(nil, &idx)); err != nil {
			if errors.Is(err, ErrRefused) {
				continue // no room: the next Open scans
			}
			return err
		}
	}
	return nil
}

// syncDirOrRefuse is syncDir for the append path: a directory it cannot
// open for want of a descriptor refuses the append instead of poisoning the
// WAL (nothing was lost: the caller retries the sync before relying on it).
func (w *WAL) syncDirOrRefuse(dir string) error { return w.syncDirMode(dir, true) }

// syncDir makes a directory's entries (created, removed, renamed files)
// durable.
func (w *WAL) syncDir(dir string) error { return w.syncDirMode(dir, false) }

func (w *WAL) syncDirMode(dir string, refusable bool) error {
	err := w.fs.SyncDir(dir)
	if err != nil && outOfDescriptors(err) { // opening the directory failed
		if refusable {
			return refused("wal: open directory %s to fsync it: %v", dir, err)
		}
		return w.fail(fmt.Errorf("wal: open directory %s to fsync it: %w", dir, err))
	}
	w.stats.dirSyncs.Add(1)
	if err != nil {
		return w.fail(fmt.Errorf("wal: fsync directory %s: %w", dir, err))
	}
	return nil
}

// statfsFree, when set (tests only), replaces FS.Free.
var statfsFree func(path string) (int64, error)

// freeBytes samples the file system's free space once per commit group; -1
// when it cannot tell (the check is then skipped: capacity_bytes still
// holds).
func (w *WAL) freeBytes() int64 {
	free := w.fs.Free
	if statfsFree != nil {
		free = statfsFree
	}
	n, err := free(w.root)
	if err != nil {
		return -1
	}
	return n
}

// MaxOpenFiles is the descriptor budget in effect (Config.MaxOpenFiles, or
// its default).
func (w *WAL) MaxOpenFiles() int { return w.cfg.MaxOpenFiles }
