package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/weirmq/weir/io/wal/walfs"
	"github.com/weirmq/weir/sm"
)

// recoverAll reads every partition directory under the root; see the
// package comment for what it repairs and what it refuses.
func (w *WAL) recoverAll() (Recovery, error) {
	rec := Recovery{Logs: map[sm.TopicPartition][]byte{}, Damaged: map[sm.TopicPartition]*CorruptError{}}
	entries, err := w.fs.ReadDir(w.root)
	if err != nil {
		return rec, fmt.Errorf("wal: read %s: %w", w.root, err)
	}
	tombs := false
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name, full := e.Name(), filepath.Join(w.root, e.Name())
		tp, ok := parseDirName(name)
		if !ok && strings.Contains(name, tombstoneSuffix) {
			if err := w.fs.RemoveAll(full); err != nil {
				return rec, fmt.Errorf("wal: remove leftover of a deleted partition: %w", err)
			}
			rec.Repairs = append(rec.Repairs, fmt.Sprintf("removed %s, left by an interrupted partition deletion", full))
			tombs = true
			continue
		}
		if !ok {
			continue // not ours (e.g. lost+found)
		}
		p, log, err := w.recoverPartition(tp, full, &rec)
		if err != nil {
			return rec, err
		}
		w.parts[tp] = p
		rec.Logs[tp] = log
	}
	if tombs {
		if err := w.syncDir(w.root); err != nil {
			return rec, err
		}
	}
	rec.UsedBytes = w.used
	return rec, nil
}

// recoverPartition validates one partition's segments in order and returns
// its state and the bytes of its valid log. Bytes beyond the partition's
// sync mark that do not decode are a torn tail and are cut; a bad frame
// below the mark, in a sealed segment, or a gap in offsets is damage: the
// partition is recovered up to it and reported in rec.Damaged (or, with
// Config.TruncateCorrupt, cut there and reported in rec.Repairs).
func (w *WAL) recoverPartition(tp sm.TopicPartition, dir string, rec *Recovery) (*partition, []byte, error) {
	entries, err := w.fs.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("wal: read partition directory %s: %w", dir, err)
	}
	p := &partition{tp: tp, dir: dir, dirMade: true}
	name := filepath.Base(dir)
	total := int64(0)
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".log") {
			continue
		}
		base, ok := parseSegmentName(e.Name())
		if !ok {
			return nil, nil, fmt.Errorf("wal: unexpected segment file %s: want a %d-digit base offset and .log",
				filepath.Join(dir, e.Name()), segmentNameDigits)
		}
		if info, err := e.Info(); err == nil {
			total += info.Size()
		}
		// ReadDir sorts by name, and zero-padded names sort by offset.
		p.segs = append(p.segs, &segment{w: w, base: base, dir: name, path: filepath.Join(dir, e.Name())})
	}
	log := make([]byte, 0, total)
	var next sm.Offset
	for i, s := range p.segs {
		last := i == len(p.segs)-1
		if i > 0 && s.base != next {
			dmg := &CorruptError{Path: s.path, Pos: 0, Offset: next, Reason: fmt.Sprintf(
				"offset gap: segment starts at offset %d, the previous segment ends at %d", s.base, next)}
			return w.damaged(p, i, 0, dmg, log, rec)
		}
		data, err := walfs.ReadFile(w.fs, s.path)
		if err != nil {
			return nil, nil, fmt.Errorf("wal: read segment: %w", err)
		}
		synced := int64(-1) // sealed: every byte was synced
		if last {
			synced = w.syncedOf(name, s)
		}
		good, end, dmg := scanSegment(s, data, synced, w.ledger.legacy)
		if dmg != nil {
			log = append(log, data[:good]...)
			s.size = int64(good)
			return w.damaged(p, i, good, dmg, log, rec)
		}
		if good < len(data) {
			if err := w.cutTornTail(s, good); err != nil {
				return nil, nil, err
			}
			rec.Repairs = append(rec.Repairs, fmt.Sprintf("cut a torn tail of %d bytes from %s at byte %d (%s; %d bytes were synced)",
				len(data)-good, s.path, good, frameProblem(data[good:]), max(synced, 0)))
		}
		s.size = int64(good)
		w.used += s.size
		log = append(log, data[:good]...)
		next = end
	}
	if err := w.activate(p, next); err != nil {
		return nil, nil, err
	}
	return p, log, nil
}

// syncedOf is how many bytes of name's last segment s the ledger says were
// synced: its mark when the mark is for s, else 0.
func (w *WAL) syncedOf(name string, s *segment) int64 {
	if m, ok := w.ledger.marks[name]; ok && m.base == int64(s.base) {
		return m.size
	}
	return 0
}

// activate opens p's last segment for appends and sets the log end.
func (w *WAL) activate(p *partition, next sm.Offset) error {
	if s := p.active(); s != nil {
		if err := s.openFile(); err != nil {
			return err
		}
		p.next, p.known = next, true
	}
	return nil
}

// damaged records damage found at byte pos of segment i of p: the log is
// everything before it (log). Later segments are doomed, removed when the
// partition is repaired. With TruncateCorrupt the repair happens now.
func (w *WAL) damaged(p *partition, i, pos int, dmg *CorruptError, log []byte, rec *Recovery) (*partition, []byte, error) {
	keep := i + 1
	if pos == 0 {
		keep = i
	}
	d := &damage{err: dmg, doomed: p.segs[keep:]}
	if keep > i {
		d.cutFrom = p.segs[i]
	}
	p.segs = p.segs[:keep]
	if d.cutFrom != nil { // the segments before it were counted as they were read
		w.used += d.cutFrom.size
	}
	p.damage = d
	if err := w.activate(p, dmg.Offset); err != nil {
		return nil, nil, err
	}
	if !p.known {
		p.next, p.known = dmg.Offset, dmg.Offset > 0
	}
	if w.cfg.TruncateCorrupt {
		if err := w.repair(p); err != nil {
			return nil, nil, err
		}
		rec.Repairs = append(rec.Repairs, fmt.Sprintf("truncate_corrupt: cut %v at offset %d: %v; the records from offset %d on are lost",
			p.tp, dmg.Offset, dmg, dmg.Offset))
		return p, log, nil
	}
	rec.Damaged[p.tp] = dmg
	return p, log, nil
}

// damage is a partition log's defect found at Open that is not a torn tail.
type damage struct {
	err *CorruptError
	// cutFrom, when set, is the kept last segment whose file continues past
	// its valid size with the bad bytes; doomed are the later segments.
	cutFrom *segment
	doomed  []*segment
}

// repair cuts a damaged partition back to its valid prefix, durably: later
// segments go first (newest first, then the directory is synced), then the
// sync mark is set to the prefix, then the bad bytes are cut. A crash at
// any point leaves a log whose valid prefix is the same.
func (w *WAL) repair(p *partition) error {
	d := p.damage
	for k := len(d.doomed) - 1; k >= 0; k-- {
		s := d.doomed[k]
		if err := s.closeFile(); err != nil {
			return w.fail(err)
		}
		if err := w.fs.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return w.fail(fmt.Errorf("wal: repair %v: %w", p.tp, err))
		}
	}
	if len(d.doomed) > 0 {
		if err := w.syncDir(p.dir); err != nil {
			return err
		}
	}
	if s := p.active(); s != nil {
		w.ledger.add(s.dir, syncMark{base: int64(s.base), size: s.size})
		if err := w.writeLedger(); err != nil {
			return err
		}
	}
	if s := d.cutFrom; s != nil {
		if err := s.openFile(); err != nil {
			return w.fail(err)
		}
		if err := s.f.Truncate(s.size); err != nil {
			return w.fail(fmt.Errorf("wal: repair %v: cut %s at byte %d: %w", p.tp, s.path, s.size, err))
		}
		w.stats.dataSyncs.Add(1)
		if err := fdatasync(s.f, s.path); err != nil {
			return w.fail(err)
		}
	}
	p.damage = nil
	return nil
}

// scanSegment decodes s's frames and returns how many leading bytes are a
// valid log and the offset after them. synced is how many bytes were on
// stable storage before anything that wrote them completed (-1: all of
// them, a sealed segment). A bad frame at or beyond synced is a torn tail
// (good < len(data), no damage); below it, it is damage. So is a file that
// ends before its synced bytes. In a legacy WAL (no ledger) marks are
// unknown: a bad frame is a torn tail unless a valid frame follows it.
func scanSegment(s *segment, data []byte, synced int64, legacy bool) (int, sm.Offset, *CorruptError) {
	pos, next := 0, s.base
	for pos < len(data) {
		b, n, err := sm.DecodeBatch(data[pos:])
		if err == nil && b.BaseOffset != next {
			return pos, next, &CorruptError{Path: s.path, Pos: int64(pos), Offset: next, Reason: fmt.Sprintf(
				"batch base offset %d, expected %d", b.BaseOffset, next)}
		}
		if err == nil {
			s.note(b.BaseOffset, int64(pos))
			next = b.NextOffset()
			pos += n
			continue
		}
		reason := frameProblem(data[pos:])
		switch {
		case synced < 0:
			return pos, next, &CorruptError{Path: s.path, Pos: int64(pos), Offset: next, Reason: reason + " in a sealed segment (a later segment exists)"}
		case int64(pos) < synced:
			return pos, next, &CorruptError{Path: s.path, Pos: int64(pos), Offset: next, Reason: fmt.Sprintf(
				"%s below the synced mark (%d bytes of this segment were synced: acknowledged data)", reason, synced)}
		case legacy:
			if q := validFrameAfter(data, pos, next); q >= 0 {
				return pos, next, &CorruptError{Path: s.path, Pos: int64(pos), Offset: next, Reason: fmt.Sprintf(
					"%s (a valid batch follows at byte %d)", reason, q)}
			}
		}
		return pos, next, nil
	}
	if int64(len(data)) < synced {
		return pos, next, &CorruptError{Path: s.path, Pos: int64(len(data)), Offset: next, Reason: fmt.Sprintf(
			"the file ends at byte %d but %d bytes of it were synced: acknowledged data is missing", len(data), synced)}
	}
	return pos, next, nil
}

// frameProblem says why the frame at the front of buf does not decode.
func frameProblem(buf []byte) string {
	_, _, err := sm.DecodeBatch(buf)
	switch {
	case err == nil:
		return "valid frame"
	case errors.Is(err, sm.ErrCorruptFrame):
		return "checksum mismatch"
	case errors.Is(err, sm.ErrShortFrame):
		return fmt.Sprintf("truncated frame (%d bytes)", len(buf))
	default:
		return strings.TrimPrefix(err.Error(), "sm: ")
	}
}

// validFrameAfter looks for any valid frame starting after byte pos whose
// base offset could belong to this log (at least next, at most next plus the
// bytes left). It returns its position, or -1 if there is none: then
// everything from pos on is a torn tail.
func validFrameAfter(data []byte, pos int, next sm.Offset) int {
	for q := pos + 1; q+frameHeaderBytes <= len(data); q++ {
		n := int64(binary.LittleEndian.Uint32(data[q:]))
		if n < frameLenMin || int64(q)+4+n > int64(len(data)) {
			continue
		}
		base := int64(binary.LittleEndian.Uint64(data[q+frameBaseAt:]))
		if base < int64(next) || base > int64(next)+int64(len(data)) {
			continue
		}
		if _, _, err := sm.DecodeBatch(data[q:]); err == nil {
			return q
		}
	}
	return -1
}

// cutTornTail truncates s to good bytes and fdatasyncs it, so the torn bytes
// cannot reappear after another crash.
func (w *WAL) cutTornTail(s *segment, good int) error {
	if err := s.openFile(); err != nil {
		return err
	}
	if err := s.f.Truncate(int64(good)); err != nil {
		return fmt.Errorf("wal: cut torn tail of %s at byte %d: %w", s.path, good, err)
	}
	w.stats.dataSyncs.Add(1)
	return fdatasync(s.f, s.path)
}
