package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/weirmq/weir/sm"
)

// recoverAll reads every partition directory under the root; see the
// package comment for what it repairs and what it refuses.
func (w *WAL) recoverAll() (Recovery, error) {
	rec := Recovery{Logs: map[sm.TopicPartition][]byte{}}
	entries, err := os.ReadDir(w.root)
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
			if err := os.RemoveAll(full); err != nil {
				return rec, fmt.Errorf("wal: remove leftover of a deleted partition: %w", err)
			}
			rec.Repairs = append(rec.Repairs, fmt.Sprintf("removed %s, left by an interrupted partition deletion", full))
			tombs = true
			continue
		}
		if !ok {
			continue // not ours (e.g. lost+found)
		}
		p, log, err := w.recoverPartition(tp, full, &rec.Repairs)
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
// its state and log bytes.
func (w *WAL) recoverPartition(tp sm.TopicPartition, dir string, repairs *[]string) (*partition, []byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("wal: read partition directory %s: %w", dir, err)
	}
	p := &partition{tp: tp, dir: dir, dirMade: true}
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
		p.segs = append(p.segs, &segment{base: base, path: filepath.Join(dir, e.Name()), fd: -1})
	}
	log := make([]byte, 0, total)
	var next sm.Offset
	for i, s := range p.segs {
		last := i == len(p.segs)-1
		if i > 0 && s.base != next {
			return nil, nil, &CorruptError{Path: s.path, Pos: 0, Reason: fmt.Sprintf(
				"offset gap: segment starts at offset %d, the previous segment ends at %d", s.base, next)}
		}
		data, err := os.ReadFile(s.path)
		if err != nil {
			return nil, nil, fmt.Errorf("wal: read segment: %w", err)
		}
		good, end, err := scanSegment(s, data, last)
		if err != nil {
			return nil, nil, err
		}
		if good < len(data) {
			if err := w.cutTornTail(s, good); err != nil {
				return nil, nil, err
			}
			*repairs = append(*repairs, fmt.Sprintf("cut a torn tail of %d bytes from %s at byte %d (%s)",
				len(data)-good, s.path, good, frameProblem(data[good:])))
		}
		s.size = int64(good)
		w.used += s.size
		log = append(log, data[:good]...)
		next = end
	}
	if s := p.active(); s != nil {
		if err := s.openFile(); err != nil {
			return nil, nil, err
		}
		p.next, p.known = next, true
	}
	return p, log, nil
}

// scanSegment decodes s's frames and returns how many leading bytes are a
// valid log and the offset after them. A bad frame is a torn tail only in
// the last segment and only with no valid frame after it.
func scanSegment(s *segment, data []byte, last bool) (int, sm.Offset, error) {
	pos, next := 0, s.base
	for pos < len(data) {
		b, n, err := sm.DecodeBatch(data[pos:])
		if err == nil {
			if b.BaseOffset != next {
				return 0, 0, &CorruptError{Path: s.path, Pos: int64(pos), Reason: fmt.Sprintf(
					"batch base offset %d, expected %d", b.BaseOffset, next)}
			}
			s.note(b.BaseOffset, int64(pos))
			next = b.NextOffset()
			pos += n
			continue
		}
		reason := frameProblem(data[pos:])
		if !last {
			return 0, 0, &CorruptError{Path: s.path, Pos: int64(pos), Reason: reason + " in a sealed segment (a later segment exists)"}
		}
		if q := validFrameAfter(data, pos, next); q >= 0 {
			return 0, 0, &CorruptError{Path: s.path, Pos: int64(pos), Reason: fmt.Sprintf(
				"%s (a valid batch follows at byte %d)", reason, q)}
		}
		return pos, next, nil
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
	return fdatasync(s.fd, s.path)
}
