package wal

import (
	"container/list"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/weirmq/weir/io/wal/walfs"
	"github.com/weirmq/weir/sm"
)

// segmentNameDigits is the zero-padded width of a segment's base offset.
const segmentNameDigits = 20

// partition is one partition's log on disk.
type partition struct {
	tp      sm.TopicPartition
	dir     string
	dirMade bool
	// id is the topic incarnation the log belongs to (its PARTITION file);
	// zero for a log created without one or by an older WAL.
	id   sm.TopicID
	segs []*segment // by base offset; the last is active, the others sealed
	// damage, when set, is a defect Open found below the sync mark or in a
	// sealed segment; appends are refused until a truncate repairs it.
	damage *damage
	// damaged is the durable record of corruption a read found
	// (sm.LogDamaged), reported as damage at every Open until cleared.
	damaged *damageRecord
	// refused is set by an append refused for space or descriptors: later
	// appends that do not start where the log ends continue it and are
	// refused too. A successful append or a truncate clears it.
	refused bool
	// next is the log end offset; known says whether the log has one yet
	// (a fresh partition takes its first append's base offset).
	next  sm.Offset
	known bool
}

// start is the log start offset.
func (p *partition) start() sm.Offset {
	if len(p.segs) == 0 {
		return p.next
	}
	return p.segs[0].base
}

func (p *partition) active() *segment {
	if len(p.segs) == 0 {
		return nil
	}
	return p.segs[len(p.segs)-1]
}

// segment is one file of a partition's log.
type segment struct {
	w    *WAL // whose descriptor budget the open file counts against
	lru  *list.Element
	base sm.Offset
	dir  string // the partition directory's name, keying its sync mark
	path string
	f    walfs.File // open while active; sealed segments are closed
	size int64
	// b is the segment's index, built by the state machines' rule as frames
	// are appended (sealed ones no longer change).
	b      sm.IndexBuilder
	sealed bool

	pw         int  // 1 + index of this segment's pending write in the group; 0 none
	syncQueued bool // a datasync is queued in the group
	dirty      bool // holds bytes not yet fdatasync'ed
	inDirty    bool // listed in WAL.dirty
}

// index is the segment's index as the manifest reports it.
func (s *segment) index() sm.SegmentIndex {
	idx := s.b.Index()
	idx.Sealed = s.sealed
	return idx
}

// checkpointPath is where a clean Close leaves the active segment's index.
func (s *segment) checkpointPath() string {
	return strings.TrimSuffix(s.path, ".log") + checkpointSuffix
}

// indexPath is where a sealed segment's index file lives.
func (s *segment) indexPath() string {
	return strings.TrimSuffix(s.path, ".log") + indexSuffix
}

func (s *segment) openFile() error {
	if s.f != nil {
		s.w.lru.MoveToFront(s.lru)
		return nil
	}
	if err := s.w.makeRoomForFile(); err != nil {
		return err
	}
	f, err := s.w.fs.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil && outOfDescriptors(err) {
		return refused("wal: open segment %s: %v (raise the file descriptor limit, see [wal] max_open_files)", s.path, err)
	}
	if err != nil {
		return fmt.Errorf("wal: open segment: %w", err)
	}
	s.f = f
	s.lru = s.w.lru.PushFront(s)
	return nil
}

func (s *segment) closeFile() error {
	if s.f == nil {
		return nil
	}
	s.w.lru.Remove(s.lru)
	s.lru = nil
	err := s.f.Close()
	s.f = nil
	if err != nil {
		return fmt.Errorf("wal: close segment: %w", err)
	}
	return nil
}

func segmentName(base sm.Offset) string {
	return fmt.Sprintf("%0*d.log", segmentNameDigits, base)
}

// indexSuffix names a sealed segment's index file: <base>.index beside
// <base>.log, holding sm.EncodeSegmentIndex of its index.
const indexSuffix = ".index"

// checkpointSuffix names the active segment's index as a clean Close left
// it, <base>.checkpoint: the next Open scans only the bytes after it. Open
// removes it, so one exists only while the WAL is closed.
const checkpointSuffix = ".checkpoint"

// checkpointMinBytes is the active segment size from which Close writes a
// checkpoint (below it the scan costs less than the file).
const checkpointMinBytes = 1 << 20

// deletedSuffix marks a trimmed or reset segment file renamed away to be
// unlinked in the background; Open removes any a crash left.
const deletedSuffix = ".deleted"

// parseSegmentName reads a base offset from a segment file name.
func parseSegmentName(name string) (sm.Offset, bool) {
	return parseBaseName(name, ".log")
}

// parseBaseName reads a base offset from <20 digits><suffix>.
func parseBaseName(name, suffix string) (sm.Offset, bool) {
	digits, ok := strings.CutSuffix(name, suffix)
	if !ok || len(digits) != segmentNameDigits {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, false
	}
	return sm.Offset(v), true
}

// dirName is a partition's directory name, <topic>-<partition>. Topics that
// cannot be a single directory name are refused rather than escaped.
func dirName(tp sm.TopicPartition) (string, error) {
	if tp.Topic == "" || tp.Topic == "." || tp.Topic == ".." || strings.ContainsAny(tp.Topic, "/\x00") {
		return "", fmt.Errorf("wal: topic name %q cannot name a directory", tp.Topic)
	}
	if tp.Partition < 0 {
		return "", fmt.Errorf("wal: partition index of %v is negative", tp)
	}
	return tp.Topic + "-" + strconv.Itoa(int(tp.Partition)), nil
}

// parseDirName is dirName's inverse; names it would not produce are not
// partition directories.
func parseDirName(name string) (sm.TopicPartition, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return sm.TopicPartition{}, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || p < 0 || strconv.FormatInt(p, 10) != name[i+1:] {
		return sm.TopicPartition{}, false
	}
	tp := sm.TopicPartition{Topic: name[:i], Partition: int32(p)}
	if d, err := dirName(tp); err != nil || d != name {
		return sm.TopicPartition{}, false
	}
	return tp, true
}

// partitionFor returns tp's state, creating it (not yet its directory) for a
// first append.
func (w *WAL) partitionFor(tp sm.TopicPartition) (*partition, error) {
	if p := w.parts[tp]; p != nil {
		return p, nil
	}
	name, err := dirName(tp)
	if err != nil {
		return nil, err
	}
	p := &partition{tp: tp, dir: filepath.Join(w.root, name)}
	w.parts[tp] = p
	return p, nil
}

// createSegment starts a new active segment for p at base, durably: the
// partition directory's entry and the file's entry are fsynced before any
// byte is written to it.
func (w *WAL) createSegment(p *partition, base sm.Offset) (*segment, error) {
	if err := w.makePartitionDir(p); err != nil {
		return nil, err
	}
	name := filepath.Base(p.dir)
	path := filepath.Join(p.dir, segmentName(base))
	if err := w.makeRoomForFile(); err != nil {
		return nil, err
	}
	f, err := w.fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil && (outOfDescriptors(err) || outOfSpace(err)) {
		return nil, refused("wal: create segment for %v at offset %d: %v", p.tp, base, err)
	}
	if err != nil {
		return nil, w.fail(fmt.Errorf("wal: create segment for %v at offset %d: %w", p.tp, base, err))
	}
	if err := w.syncDirOrRefuse(p.dir); err != nil {
		// Refused: the file's entry may not be durable, so the file must
		// not take data. Remove it (unlink needs no descriptor).
		f.Close()
		if rerr := w.fs.Remove(path); rerr != nil {
			return nil, w.fail(fmt.Errorf("wal: remove segment %s after a refused directory sync: %w", path, rerr))
		}
		return nil, err
	}
	s := &segment{w: w, base: base, dir: name, path: path, f: f, b: sm.NewIndexBuilder(base)}
	s.lru = w.lru.PushFront(s)
	p.segs = append(p.segs, s)
	// The new last segment's mark (0 bytes synced) is durable before any
	// byte is written to it. Until then the previous mark names another
	// base (or was reset by a delete or a truncate), so it never vouches
	// for this file's bytes.
	w.ledger.add(name, syncMark{base: int64(base)})
	if err := w.writeLedger(); err != nil {
		return nil, err
	}
	return s, nil
}

// outOfDescriptors reports EMFILE or ENFILE: the process or the system has
// no file descriptor left. Nothing was written, so it refuses the operation
// instead of poisoning the WAL.
func outOfDescriptors(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// outOfSpace reports ENOSPC or EDQUOT: the file system (or the user's quota)
// is full. Where nothing durable was changed, the operation is refused.
func outOfSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// makeRoomForFile closes the least recently used segment files until one
// more fits under Config.MaxOpenFiles. Files with I/O queued in the current
// commit group stay open; a file holding unsynced bytes is fdatasync'ed
// before it is closed (its sync mark follows with the next ledger write),
// so FlushInterval's promise holds for it. When every open file is in use
// the budget is exceeded for this group rather than failing it.
func (w *WAL) makeRoomForFile() error {
	if w.cfg.MaxOpenFiles <= 0 {
		return nil
	}
	for e := w.lru.Back(); e != nil && w.lru.Len() >= w.cfg.MaxOpenFiles; {
		s := e.Value.(*segment)
		e = e.Prev()
		if s.pw > 0 || s.syncQueued {
			continue
		}
		if s.dirty {
			w.stats.dataSyncs.Add(1)
			if err := fdatasync(s.f, s.path); err != nil {
				return w.fail(err)
			}
			s.dirty = false
			if s.dir != "" {
				w.ledger.add(s.dir, syncMark{base: int64(s.base), size: s.size})
			}
		}
		if err := s.closeFile(); err != nil {
			return w.fail(err)
		}
		w.stats.evictions.Add(1)
	}
	return nil
}
