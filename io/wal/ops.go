package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/weirmq/weir/sm"
)

// Frame header fields a truncate reads (layout in sm/batch.go: u32 frameLen,
// u32 crc, i64 baseOffset, i64 epoch, u32 count).
const (
	frameHeaderBytes = sm.FrameHeaderBytes
	frameLenMin      = frameHeaderBytes - 4
	frameBaseAt      = 8
	frameCountAt     = 32 // after length, crc, base, epoch, timestamp
)

// frameInfo is one frame of an append.
type frameInfo struct {
	base, next sm.Offset
	n          int
}

// parseFrames decodes an append's frames with the decoder recovery uses, so
// the WAL never writes what it would refuse to read back: a bad frame in the
// middle of the log would stop the next Open.
func (w *WAL) parseFrames(tp sm.TopicPartition, data []byte) ([]frameInfo, error) {
	out := w.frames[:0]
	for pos := 0; pos < len(data); {
		b, n, err := sm.DecodeBatch(data[pos:])
		if err != nil {
			return nil, fmt.Errorf("wal: append to %v: frame at byte %d of the append: %w", tp, pos, err)
		}
		if b.BaseOffset < 0 {
			return nil, fmt.Errorf("wal: append to %v: frame at byte %d has negative base offset %d", tp, pos, b.BaseOffset)
		}
		if k := len(out); k > 0 && b.BaseOffset != out[k-1].next {
			return nil, fmt.Errorf("wal: append to %v: frame at byte %d has base offset %d, the frame before it ends at %d",
				tp, pos, b.BaseOffset, out[k-1].next)
		}
		out = append(out, frameInfo{base: b.BaseOffset, next: b.NextOffset(), n: n})
		pos += n
	}
	w.frames = out
	return out, nil
}

// queueAppend validates an append in full (frames, offsets, capacity) before
// queueing any of it, so a refused append writes nothing.
func (w *WAL) queueAppend(g *group, op *sm.LogOp) error {
	tp := op.TP
	frames, err := w.parseFrames(tp, op.Data)
	if err != nil || len(frames) == 0 {
		return err
	}
	p, err := w.partitionFor(tp)
	if err != nil {
		return err
	}
	if err := w.checkSpace(p, op, frames[0].base); err != nil {
		w.stats.refused.Add(1)
		p.refused = true
		return err
	}
	if p.damage != nil {
		return fmt.Errorf("wal: append to %v at offset %d refused: the log is damaged (%v); truncate it to at most offset %d first",
			tp, frames[0].base, p.damage.err, p.damage.err.Offset)
	}
	if p.known && frames[0].base != p.next && p.refused {
		// It continues an append that was refused: refused with it.
		w.stats.refused.Add(1)
		return refused("wal: append to %v at offset %d continues a refused append (the log ends at %d)", tp, frames[0].base, p.next)
	}
	if p.known && frames[0].base != p.next {
		return fmt.Errorf("wal: append to %v: batch base offset %d, log ends at %d", tp, frames[0].base, p.next)
	}
	pos := 0
	for i, f := range frames {
		s, err := w.segmentFor(g, p, f)
		if err != nil && i == 0 && errors.Is(err, ErrRefused) {
			w.stats.refused.Add(1)
			p.refused = true
			return err
		}
		if err != nil {
			// A later frame of one append cannot be refused alone: the
			// frames before it are queued. Open segments beforehand.
			return w.fail(err)
		}
		g.add(s, s.size, op.Data[pos:pos+f.n])
		s.note(f.base, s.size)
		s.size += int64(f.n)
		w.used += int64(f.n)
		p.next, p.known = f.next, true
		if op.Sync && w.cfg.FsyncOnWrite {
			g.markSync(s)
		}
		pos += f.n
	}
	p.refused = false
	w.free -= int64(len(op.Data))
	w.stats.appends.Add(1)
	w.stats.bytes.Add(uint64(len(op.Data)))
	return nil
}

// checkSpace refuses an append the WAL's capacity or the file system cannot
// take.
func (w *WAL) checkSpace(p *partition, op *sm.LogOp, base sm.Offset) error {
	n := int64(len(op.Data))
	if c := w.cfg.CapacityBytes; c > 0 && w.used+n > c {
		return refused("wal: capacity_bytes %d exceeded (used %d, append %d): append to %v at offset %d",
			c, w.used, n, p.tp, base)
	}
	if w.free >= 0 && n+freeReserveBytes > w.free {
		return refused("wal: the file system holding %s has %d bytes free, and appends keep %d in reserve: append of %d bytes to %v at offset %d",
			w.root, max(w.free, 0), freeReserveBytes, n, p.tp, base)
	}
	return nil
}

// segmentFor returns the segment frame f goes to, rolling when f would take
// the active segment past SegmentSizeBytes. A roll seals the old segment:
// its queued writes run and it is fdatasync'ed before the new file exists,
// so only the last segment can ever hold a torn write.
func (w *WAL) segmentFor(g *group, p *partition, f frameInfo) (*segment, error) {
	s := p.active()
	if s != nil && (s.size == 0 || s.size+int64(f.n) <= w.cfg.SegmentSizeBytes) {
		return s, s.openFile()
	}
	if s != nil {
		// A segment closed to stay under MaxOpenFiles was synced in full
		// when it was closed, and has no writes queued: nothing to sync.
		if s.f != nil {
			g.markSync(s)
		}
		if err := w.flush(g); err != nil {
			return nil, err
		}
		if err := s.closeFile(); err != nil {
			return nil, w.fail(err)
		}
		w.stats.rolls.Add(1)
	}
	return w.createSegment(p, f.base)
}

// truncate cuts tp's log at off. It runs the queued I/O first, finds the cut
// (refusing an offset inside a batch before changing anything), removes
// later segments newest first and syncs the directory, then cuts and syncs
// the segment that remains last: a crash at any point leaves a prefix.
func (w *WAL) truncate(g *group, tp sm.TopicPartition, off sm.Offset) error {
	if err := w.flush(g); err != nil {
		return err
	}
	p := w.parts[tp]
	if p != nil && p.damage != nil {
		if err := w.repair(p); err != nil {
			return err
		}
	}
	if p == nil || !p.known || off >= p.next {
		return nil
	}
	if off < 0 {
		return fmt.Errorf("wal: truncate %v to negative offset %d", tp, off)
	}
	k := len(p.segs)
	for k > 0 && p.segs[k-1].base >= off {
		k--
	}
	var keep *segment
	var cut int64
	if k > 0 {
		keep = p.segs[k-1]
		var err error
		if cut, err = w.cutPos(tp, keep, off); err != nil {
			return err
		}
	}
	if keep == nil && len(p.segs) > 0 {
		w.ledger.add(filepath.Base(p.dir), syncMark{base: -1}) // no segment will remain
		if err := w.writeLedger(); err != nil {
			return err
		}
	}
	if keep != nil && (cut < keep.size || k < len(p.segs)) {
		// keep becomes (or stays) the last segment. Its mark must not claim
		// bytes beyond the cut before they are cut, or the next Open would
		// take the shorter file for lost synced data; a sealed segment was
		// synced in full, so its bytes up to the cut are all synced.
		m := syncMark{base: int64(keep.base), size: cut}
		if k == len(p.segs) {
			m.size = min(cut, w.syncedOf(keep.dir, keep))
		}
		w.ledger.add(keep.dir, m)
		if err := w.writeLedger(); err != nil {
			return err
		}
	}
	if k < len(p.segs) {
		for len(p.segs) > k {
			s := p.segs[len(p.segs)-1]
			if err := s.closeFile(); err != nil {
				return w.fail(err)
			}
			if err := w.fs.Remove(s.path); err != nil {
				return w.fail(fmt.Errorf("wal: truncate %v to %d: %w", tp, off, err))
			}
			w.used -= s.size
			p.segs = p.segs[:len(p.segs)-1]
		}
		if err := w.syncDir(p.dir); err != nil {
			return err
		}
	}
	if keep != nil {
		if err := keep.openFile(); err != nil {
			return w.fail(err)
		}
		if cut < keep.size {
			if err := keep.f.Truncate(cut); err != nil {
				return w.fail(fmt.Errorf("wal: truncate %v to %d: %w", tp, off, err))
			}
			w.stats.dataSyncs.Add(1)
			if err := fdatasync(keep.f, keep.path); err != nil {
				return w.fail(err)
			}
			w.used -= keep.size - cut
			keep.size = cut
			keep.trimIndex(off)
			keep.dirty = false
		}
	}
	p.next, p.refused = off, false
	w.stats.truncates.Add(1)
	return nil
}

// cutPos finds the byte in s where the first batch at or after off starts,
// walking frame headers from the nearest index entry.
func (w *WAL) cutPos(tp sm.TopicPartition, s *segment, off sm.Offset) (int64, error) {
	i := sort.Search(len(s.index), func(i int) bool { return s.index[i].off > off }) - 1
	pos := int64(0)
	if i >= 0 {
		pos = s.index[i].pos
	}
	f := s.f
	if f == nil {
		var err error
		if f, err = w.fs.OpenFile(s.path, os.O_RDONLY, 0); err != nil {
			return 0, w.fail(fmt.Errorf("wal: truncate %v to %d: %w", tp, off, err))
		}
		defer f.Close()
	}
	var hdr [frameHeaderBytes]byte
	for pos < s.size {
		if s.size-pos < frameHeaderBytes {
			return 0, w.fail(&CorruptError{Path: s.path, Pos: pos, Reason: "truncated frame header"})
		}
		if _, err := f.ReadAt(hdr[:], pos); err != nil {
			return 0, w.fail(fmt.Errorf("wal: truncate %v to %d: read %s at byte %d: %w", tp, off, s.path, pos, err))
		}
		n := int64(binary.LittleEndian.Uint32(hdr[:]))
		base := sm.Offset(binary.LittleEndian.Uint64(hdr[frameBaseAt:]))
		count := sm.Offset(binary.LittleEndian.Uint32(hdr[frameCountAt:]))
		if n < frameLenMin || pos+4+n > s.size {
			return 0, w.fail(&CorruptError{Path: s.path, Pos: pos, Reason: fmt.Sprintf("bad frame length %d", n)})
		}
		if base >= off {
			return pos, nil
		}
		if base+count > off {
			return 0, fmt.Errorf("wal: truncate %v to %d: inside batch [%d,%d) at byte %d of %s",
				tp, off, base, base+count, pos, s.path)
		}
		pos += 4 + n
	}
	return pos, nil
}

// delete removes tp's log: the directory is renamed to a tombstone and the
// rename made durable, so a crash never brings back part of a deleted log.
// The files are then unlinked in the background: unlinking a large segment
// can take long (ext4 with online discard frees blocks synchronously), and
// the committer must not stall every partition meanwhile. Open removes
// tombstones a crash left behind.
func (w *WAL) delete(g *group, tp sm.TopicPartition) error {
	if err := w.flush(g); err != nil {
		return err
	}
	name, err := dirName(tp)
	if err != nil {
		return err
	}
	// A new log of this name starts with no mark: the reset is durable
	// before the directory goes, so no mark of this log survives it.
	w.ledger.add(name, syncMark{base: -1})
	if err := w.writeLedger(); err != nil {
		return err
	}
	delete(w.ledger.marks, name)
	if p := w.parts[tp]; p != nil {
		for _, s := range p.segs {
			if err := s.closeFile(); err != nil {
				return w.fail(err)
			}
			w.used -= s.size
		}
		delete(w.parts, tp)
	}
	dir := filepath.Join(w.root, name)
	if _, err := w.fs.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		w.stats.deletes.Add(1)
		return nil
	}
	w.tombs++
	tomb := dir + tombstoneSuffix + strconv.FormatUint(w.tombs, 10)
	if err := w.fs.Rename(dir, tomb); err != nil {
		return w.fail(fmt.Errorf("wal: delete %v: %w", tp, err))
	}
	if err := w.syncDir(w.root); err != nil {
		return err
	}
	w.reaper.Go(func() { _ = w.fs.RemoveAll(tomb) }) // a failure leaves the tombstone to the next Open
	w.stats.deletes.Add(1)
	return nil
}

// tombstoneSuffix, then a sequence number, names a partition directory being
// deleted: <topic>-<partition>.deleting.<n>. It never parses as a partition
// directory, whose names end in -<digits>.
const tombstoneSuffix = ".deleting."
