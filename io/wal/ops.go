package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/weirmq/weir/sm"
)

// Frame header fields a truncate reads (layout in sm/batch.go: u32 frameLen,
// u32 crc, i64 baseOffset, i64 epoch, u32 count).
const (
	frameHeaderBytes = sm.FrameHeaderBytes
	frameLenMin      = frameHeaderBytes - 4
	frameBaseAt      = 8
	frameTimestampAt = 24
	frameCountAt     = 32 // after length, crc, base, epoch, timestamp
)

// frameInfo is one frame of an append.
type frameInfo struct {
	base, next sm.Offset
	epoch      sm.Epoch
	ts         int64
	n          int
	meta       sm.BatchMeta
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
		if b.Len() == 0 {
			return nil, fmt.Errorf("wal: append to %v: frame at byte %d (offset %d) holds no record", tp, pos, b.BaseOffset)
		}
		if k := len(out); k > 0 && b.Epoch < out[k-1].epoch || b.Epoch < 0 {
			return nil, fmt.Errorf("wal: append to %v: frame at byte %d has epoch %d after epoch %d", tp, pos, b.Epoch, out[max(k-1, 0)].epoch)
		}
		out = append(out, frameInfo{base: b.BaseOffset, next: b.NextOffset(), epoch: b.Epoch, ts: b.Timestamp, n: n, meta: sm.MetaOf(&b, n)})
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
	if err := w.checkTopicID(p, op); err != nil {
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
	if last := p.lastEpoch(); frames[0].epoch < last {
		return fmt.Errorf("wal: append to %v at offset %d: epoch %d after epoch %d", tp, frames[0].base, frames[0].epoch, last)
	}
	if op.Roll {
		if err := w.sealActive(g, p, frames[0].base); err != nil {
			if errors.Is(err, ErrRefused) {
				w.stats.refused.Add(1)
				p.refused = true
			}
			return err
		}
	}
	s, err := w.activeFor(p, frames[0].base)
	if err != nil && errors.Is(err, ErrRefused) {
		w.stats.refused.Add(1)
		p.refused = true
		return err
	}
	if err != nil {
		return w.fail(err)
	}
	g.add(s, s.size, op.Data)
	for _, f := range frames {
		s.b.Add(f.meta)
	}
	s.size += int64(len(op.Data))
	w.used += int64(len(op.Data))
	p.next, p.known = frames[len(frames)-1].next, true
	if op.Sync && w.cfg.FsyncOnWrite {
		g.markSync(s)
	}
	w.touch(p)
	p.refused = false
	w.free -= int64(len(op.Data))
	w.stats.appends.Add(1)
	w.stats.bytes.Add(uint64(len(op.Data)))
	return nil
}

// lastEpoch is the epoch of p's last batch (0 for an empty log).
func (p *partition) lastEpoch() sm.Epoch {
	for i := len(p.segs) - 1; i >= 0; i-- {
		if e := p.segs[i].b.LastEpoch(); e != 0 || p.segs[i].size > 0 {
			return e
		}
	}
	return 0
}

// activeFor returns p's active segment, open for writing, creating p's
// first segment at base when it has none. The state machine decides when
// segments roll (LogOp.Roll); the WAL never rolls on its own.
func (w *WAL) activeFor(p *partition, base sm.Offset) (*segment, error) {
	if s := p.active(); s != nil {
		return s, s.openFile()
	}
	return w.createSegment(p, base)
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

// truncate cuts tp's log at off. It runs the queued I/O first, finds the cut
// (refusing an offset inside a batch before changing anything), removes the
// segments after the one holding off newest first, unseals that one (its
// index file goes) and cuts it, each step durable before the next: a crash
// at any point leaves a prefix of the log.
func (w *WAL) truncate(g *group, op *sm.LogOp) error {
	tp, off := op.TP, op.Offset
	if err := w.flush(g); err != nil {
		return err
	}
	p := w.parts[tp]
	if p != nil {
		if err := w.checkTopicID(p, op); err != nil {
			return err
		}
	}
	if p != nil && p.damage != nil {
		if err := w.repair(p); err != nil {
			return err
		}
	}
	if p != nil && p.damaged != nil && off <= p.damaged.offset && off >= p.next {
		// Nothing to cut (a damaged log recovered cut at the record's
		// offset): the truncate still accepts the loss.
		return w.clearDamage(p)
	}
	if p == nil || !p.known || off >= p.next {
		return nil
	}
	if len(p.segs) == 0 || off < p.segs[0].base {
		return fmt.Errorf("wal: truncate %v to offset %d, below its log start %d", tp, off, p.start())
	}
	k := len(p.segs) - 1
	for p.segs[k].base > off {
		k--
	}
	keep := p.segs[k]
	cut, idx, err := w.cutIndex(tp, keep, off)
	if err != nil {
		return err
	}
	// keep becomes (or stays) the last segment. Its mark must not claim
	// bytes beyond the cut before they are cut, or the next Open would take
	// the shorter file for lost synced data; a sealed segment was synced in
	// full, so its bytes up to the cut are all synced.
	m := syncMark{base: int64(keep.base), size: cut}
	if k == len(p.segs)-1 {
		m.size = min(cut, w.syncedOf(keep.dir, keep))
	}
	w.ledger.add(keep.dir, m)
	if err := w.writeLedger(); err != nil {
		return err
	}
	removed := false
	for len(p.segs) > k+1 {
		s := p.segs[len(p.segs)-1]
		if err := w.removeSegment(s, false); err != nil {
			return err
		}
		p.segs = p.segs[:len(p.segs)-1]
		removed = true
	}
	if keep.sealed {
		if err := w.fs.Remove(keep.indexPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return w.fail(fmt.Errorf("wal: truncate %v to %d: %w", tp, off, err))
		}
		keep.sealed, removed = false, true
	}
	if removed {
		if err := w.syncDir(p.dir); err != nil {
			return err
		}
	}
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
		keep.dirty = false
	}
	keep.b = sm.ResumeIndex(idx)
	p.next, p.refused = off, false
	w.touch(p)
	if p.damaged != nil && off <= p.damaged.offset {
		if err := w.clearDamage(p); err != nil {
			return err
		}
	}
	w.stats.truncates.Add(1)
	return nil
}

// removeSegment unlinks s and its index file (the index first: a crash in
// between leaves a segment without an index, which Open rebuilds, never an
// index without its segment, which would read as lost data). The caller
// syncs the directory. In the background, for trims and resets: the
// segment is renamed aside and unlinked later, since unlinking a large file
// can take long (ext4 with online discard frees blocks synchronously).
func (w *WAL) removeSegment(s *segment, background bool) error {
	if err := s.closeFile(); err != nil {
		return w.fail(err)
	}
	if err := w.fs.Remove(s.indexPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return w.fail(fmt.Errorf("wal: remove %s: %w", s.indexPath(), err))
	}
	w.used -= s.size
	if !background {
		if err := w.fs.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return w.fail(fmt.Errorf("wal: remove %s: %w", s.path, err))
		}
		return nil
	}
	aside := s.path + deletedSuffix
	if err := w.fs.Rename(s.path, aside); err != nil {
		return w.fail(fmt.Errorf("wal: remove %s: %w", s.path, err))
	}
	w.reaper.Go(func() { _ = w.fs.Remove(aside) }) // a failure leaves it to the next Open
	return nil
}

// cutIndex finds where in s the first batch at or after off starts, and the
// index of the segment cut there: the entries and epochs before off, and the
// largest timestamp before off, found by walking frame headers from the
// last index entry below off (at most sm.IndexIntervalBytes of them).
func (w *WAL) cutIndex(tp sm.TopicPartition, s *segment, off sm.Offset) (int64, sm.SegmentIndex, error) {
	old := s.b.Index()
	idx := sm.SegmentIndex{Base: s.base, Next: off}
	e, ok := old.Locate(off - 1)
	if !ok || off <= s.base {
		return 0, idx, nil
	}
	f := s.f
	if f == nil {
		var err error
		if f, err = w.fs.OpenFile(s.path, os.O_RDONLY, 0); err != nil {
			return 0, idx, w.fail(fmt.Errorf("wal: truncate %v to %d: %w", tp, off, err))
		}
		defer f.Close()
	}
	pos, maxTS := e.Pos, e.MaxTimestamp
	var hdr [frameHeaderBytes]byte
	for pos < s.size {
		if s.size-pos < frameHeaderBytes {
			return 0, idx, w.fail(&CorruptError{Path: s.path, Pos: pos, Reason: "truncated frame header"})
		}
		if _, err := f.ReadAt(hdr[:], pos); err != nil {
			return 0, idx, w.fail(fmt.Errorf("wal: truncate %v to %d: read %s at byte %d: %w", tp, off, s.path, pos, err))
		}
		n := int64(binary.LittleEndian.Uint32(hdr[:]))
		base := sm.Offset(binary.LittleEndian.Uint64(hdr[frameBaseAt:]))
		ts := int64(binary.LittleEndian.Uint64(hdr[frameTimestampAt:]))
		c, _ := sm.FrameCount(binary.LittleEndian.Uint32(hdr[frameCountAt:]))
		count := sm.Offset(c)
		if n < frameLenMin || pos+4+n > s.size {
			return 0, idx, w.fail(&CorruptError{Path: s.path, Pos: pos, Reason: fmt.Sprintf("bad frame length %d", n)})
		}
		if base >= off {
			break
		}
		if base+count > off {
			return 0, idx, fmt.Errorf("wal: truncate %v to %d: inside batch [%d,%d) at byte %d of %s",
				tp, off, base, base+count, pos, s.path)
		}
		maxTS = max(maxTS, ts)
		pos += 4 + n
	}
	idx.Bytes, idx.MaxTimestamp = pos, maxTS
	for _, en := range old.Entries {
		if en.Offset < off {
			idx.Entries = append(idx.Entries, en)
		}
	}
	for _, ep := range old.Epochs {
		if ep.Start < off {
			idx.Epochs = append(idx.Epochs, ep)
		}
	}
	idx.Producers = sm.CutProducers(old.Producers, off)
	return pos, idx, nil
}

// sealActive seals p's active segment and starts an empty one at base, for
// an append with Roll (base is its first frame's, the log end): the queued
// I/O runs, the segment is fdatasync'ed in full, its index file written and
// fdatasync'ed, then the new segment created and the directory synced (see
// createSegment). Running out of space or descriptors on the way refuses
// the append with nothing changed: the partial files are removed and the
// segment stays active. An empty active segment has nothing to seal.
func (w *WAL) sealActive(g *group, p *partition, base sm.Offset) error {
	s := p.active()
	if s == nil || s.size == 0 {
		return nil
	}
	if err := w.flush(g); err != nil {
		return err
	}
	if err := s.openFile(); err != nil {
		return err
	}
	if s.dirty {
		w.stats.dataSyncs.Add(1)
		if err := fdatasync(s.f, s.path); err != nil {
			return w.fail(err)
		}
		s.dirty = false
	}
	idx := s.b.Index()
	idx.Sealed = true
	if err := w.writeSmallFile(s.indexPath(), sm.EncodeSegmentIndex(nil, &idx)); err != nil {
		return err
	}
	if _, err := w.createSegment(p, base); err != nil {
		if errors.Is(err, ErrRefused) {
			if rerr := w.fs.Remove(s.indexPath()); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				return w.fail(fmt.Errorf("wal: remove %s after a refused roll: %w", s.indexPath(), rerr))
			}
		}
		return err
	}
	s.sealed = true
	if err := s.closeFile(); err != nil {
		return w.fail(err)
	}
	w.touch(p)
	w.stats.rolls.Add(1)
	return nil
}

// trim deletes every sealed segment of tp that ends at or below op.Offset
// (retention), oldest first, durably: the directory is synced before the
// trim completes; the files are unlinked in the background.
func (w *WAL) trim(g *group, op *sm.LogOp) error {
	if err := w.flush(g); err != nil {
		return err
	}
	p := w.parts[op.TP]
	if p == nil {
		return fmt.Errorf("wal: trim of %v, which has no log", op.TP)
	}
	if err := w.checkTopicID(p, op); err != nil {
		return err
	}
	k := 0
	for k < len(p.segs)-1 && p.segs[k].b.Index().Next <= op.Offset {
		if err := w.removeSegment(p.segs[k], true); err != nil {
			return err
		}
		k++
	}
	if k == 0 {
		return nil
	}
	p.segs = slices.Delete(p.segs, 0, k)
	if err := w.syncDir(p.dir); err != nil {
		return err
	}
	w.touch(p)
	w.stats.trims.Add(1)
	return nil
}

// reset removes every segment of tp and starts the log empty at op.Offset,
// creating the log (with op.TopicID) if it does not exist. The old sync
// mark is reset first, the segments removed (in the background), then the
// new segment created durably; a crash in between leaves a prefix of the old
// log or an empty one, never a mix.
func (w *WAL) reset(g *group, op *sm.LogOp) error {
	if err := w.flush(g); err != nil {
		return err
	}
	if op.Offset < 0 {
		return fmt.Errorf("wal: reset %v to negative offset %d", op.TP, op.Offset)
	}
	p, err := w.partitionFor(op.TP)
	if err != nil {
		return err
	}
	if err := w.checkTopicID(p, op); err != nil {
		return err
	}
	if len(p.segs) > 0 {
		w.ledger.add(filepath.Base(p.dir), syncMark{base: -1})
		if err := w.writeLedger(); err != nil {
			return err
		}
		for i := len(p.segs) - 1; i >= 0; i-- {
			if err := w.removeSegment(p.segs[i], true); err != nil {
				return err
			}
		}
		p.segs = nil
		if err := w.syncDir(p.dir); err != nil {
			return err
		}
	}
	if err := w.clearDamage(p); err != nil {
		return err
	}
	p.damage, p.refused = nil, false
	p.next, p.known = op.Offset, true
	w.touch(p)
	if _, err := w.createSegment(p, op.Offset); err != nil {
		// The old segments are gone: a reset that cannot finish is not a
		// refusal that left nothing behind.
		return w.fail(fmt.Errorf("wal: reset %v to offset %d: %v", op.TP, op.Offset, err))
	}
	w.stats.resets.Add(1)
	return nil
}

// delete removes tp's log: the directory is renamed to a tombstone and the
// rename made durable, so a crash never brings back part of a deleted log.
// The files are then unlinked in the background: unlinking a large segment
// can take long (ext4 with online discard frees blocks synchronously), and
// the committer must not stall every partition meanwhile. Open removes
// tombstones a crash left behind.
func (w *WAL) delete(g *group, op *sm.LogOp) error {
	tp := op.TP
	if err := w.flush(g); err != nil {
		return err
	}
	if p := w.parts[tp]; p != nil {
		if err := w.checkTopicID(p, op); err != nil {
			return err
		}
	}
	w.forget(tp)
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
