package raftstore

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// ErrCorrupt marks every error Open returns because the store cannot give
// back state it once acknowledged as durable: errors.Is(err, ErrCorrupt).
// Reopening does not help; the node must be rebuilt (from its raft peers)
// or the loss accepted (see CorruptError).
var ErrCorrupt = errors.New("raftstore: store corrupt")

// CorruptError describes a store that does not replay through its last
// synced save. Open refuses it without writing anything, so the files stay
// as they were for inspection or salvage.
type CorruptError struct {
	// Dir is the store's directory.
	Dir string
	// File is the WAL file where pebble's replay stopped, and Offset the
	// byte in it where the first record it could not read begins; File is
	// "" and Offset -1 when pebble reported no position.
	File   string
	Offset int64
	// FileBytes is File's size, to tell a replay that stopped early from
	// one that read the whole WAL (then the loss is in a table file).
	FileBytes int64
	// Replayed is the number of saves the store replays; Synced the number
	// that were synced and acknowledged (from the synced-save marker).
	Replayed, Synced uint64
	// Cause is pebble's error when pebble itself refused to open.
	Cause error
}

// Is makes errors.Is(err, ErrCorrupt) hold.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Unwrap gives pebble's error, if any.
func (e *CorruptError) Unwrap() error { return e.Cause }

// Error names the file and byte where replay stopped and what was lost.
func (e *CorruptError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "raftstore: store %s does not replay to the end", e.Dir)
	if e.File != "" {
		fmt.Fprintf(&b, ": the record at byte %d of %s cannot be read", e.Offset, e.File)
		switch {
		case e.FileBytes == 0: // its size is unknown
		case e.Offset >= e.FileBytes:
			fmt.Fprintf(&b, " (the end of its %d bytes: the lost state was in a table file)", e.FileBytes)
		default:
			fmt.Fprintf(&b, " (of %d bytes)", e.FileBytes)
		}
	}
	if e.Cause != nil {
		fmt.Fprintf(&b, ": %v", e.Cause)
	}
	if e.Synced > 0 {
		fmt.Fprintf(&b, "; it replays %d saves but %d were synced, so acknowledged raft state after save %d is lost",
			e.Replayed, e.Synced, e.Replayed)
	}
	return b.String()
}

// replayStop matches the position in pebble's "stopped reading at offset"
// line and in its replay error detail, e.g. "(/data/000002.log: 1140)".
var replayStop = regexp.MustCompile(`\(([^()]+\.log): (\d+)\)`)

// stopWatcher remembers the last replay position pebble logs while it
// opens (its Logger may be called from several goroutines).
type stopWatcher struct {
	mu     sync.Mutex
	file   string
	offset int64
}

func (w *stopWatcher) observe(msg string) {
	if !strings.Contains(msg, "stopped reading at offset") && !strings.Contains(msg, "replaying wal") {
		return
	}
	m := replayStop.FindStringSubmatch(msg)
	if m == nil {
		return
	}
	off, err := strconv.ParseInt(m[2], 10, 64)
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.file, w.offset = m[1], off
}

func (w *stopWatcher) fill(fs vfs.FS, e *CorruptError) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e.File, e.Offset = w.file, w.offset
	if w.file == "" {
		e.Offset = -1
		return
	}
	if fi, err := fs.Stat(w.file); err == nil {
		e.FileBytes = fi.Size()
	}
}

// details collects the detail strings cockroachdb/errors attaches to an
// error (pebble puts the WAL position of a replay failure there, not in
// the message).
func details(err error) []string {
	var out []string
	for q := []error{err}; len(q) > 0; {
		e := q[0]
		q = q[1:]
		if d, ok := e.(interface{ ErrorDetail() string }); ok {
			out = append(out, d.ErrorDetail())
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			if n := u.Unwrap(); n != nil {
				q = append(q, n)
			}
		case interface{ Unwrap() []error }:
			q = append(q, u.Unwrap()...)
		}
	}
	return out
}

// openFailed describes pebble's refusal to open dir: a corruption pebble
// detected itself becomes a *CorruptError naming the WAL position from the
// error's details; anything else keeps pebble's text and details.
func openFailed(fs vfs.FS, dir string, err error, w *stopWatcher, synced uint64) error {
	ds := details(err)
	for _, d := range ds {
		w.observe(d)
	}
	if errors.Is(err, pebble.ErrCorruption) {
		e := &CorruptError{Dir: dir, Synced: synced, Cause: err}
		w.fill(fs, e)
		return e
	}
	if len(ds) > 0 {
		return fmt.Errorf("raftstore: open %q: %w (%s)", dir, err, strings.Join(ds, "; "))
	}
	return fmt.Errorf("raftstore: open %q: %w", dir, err)
}

// checkReplay opens dir read-only — pebble then replays its WAL without
// flushing what it read or deleting the log it stopped in — and refuses
// the store if it replays fewer than synced saves.
func checkReplay(dir string, opts Options, fs vfs.FS, synced uint64) error {
	w := &stopWatcher{}
	db, err := pebble.Open(dir, pebbleOptions(opts, fs, w, true))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || strings.Contains(err.Error(), "does not exist") {
			return &CorruptError{Dir: dir, Offset: -1, Synced: synced, Cause: err}
		}
		return openFailed(fs, dir, err, w, synced)
	}
	n, err := readSeq(db)
	if err = errors.Join(err, db.Close()); err != nil {
		return fmt.Errorf("raftstore: open %q: read-only check: %w", dir, err)
	}
	if n >= synced {
		return nil
	}
	e := &CorruptError{Dir: dir, Replayed: n, Synced: synced}
	w.fill(fs, e)
	return e
}
