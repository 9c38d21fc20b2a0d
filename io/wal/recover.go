package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/weirmq/weir/io/wal/walfs"
	"github.com/weirmq/weir/sm"
)

// recoverAll reads every partition directory under the root; see the
// package comment for what it repairs and what it refuses.
func (w *WAL) recoverAll() (Recovery, error) {
	rec := Recovery{Manifests: map[sm.TopicPartition]sm.LogManifest{}, Damaged: map[sm.TopicPartition]*CorruptError{}}
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
		p, err := w.recoverPartition(tp, full, &rec)
		if err != nil {
			return rec, err
		}
		w.parts[tp] = p
	}
	if tombs {
		if err := w.syncDir(w.root); err != nil {
			return rec, err
		}
	}
	rec.UsedBytes = w.used
	return rec, nil
}

// dirListing is a partition directory's files by kind.
type dirListing struct {
	checkpoints []string             // checkpoint files
	logs        []sm.Offset          // segment bases, in order
	sizes       map[sm.Offset]int64  // segment file sizes
	indexes     map[sm.Offset]string // index files by base
}

// listPartition sorts a partition directory's entries: segments, index
// files, the PARTITION file; it removes leftovers of interrupted operations
// (renamed-aside segments, a temporary PARTITION file) and reports, without
// touching them, files the WAL did not write. Ignoring them is safe: every
// file the WAL relies on is accounted for by name (a segment it needs that
// was renamed or replaced shows as a missing segment, which is damage).
func (w *WAL) listPartition(p *partition, rec *Recovery) (dirListing, bool, error) {
	l := dirListing{sizes: map[sm.Offset]int64{}, indexes: map[sm.Offset]string{}}
	entries, err := w.fs.ReadDir(p.dir)
	if err != nil {
		return l, false, fmt.Errorf("wal: read partition directory %s: %w", p.dir, err)
	}
	removed := false
	for _, e := range entries {
		name, full := e.Name(), filepath.Join(p.dir, e.Name())
		if e.IsDir() {
			rec.Warnings = append(rec.Warnings, fmt.Sprintf("ignored directory %s: the WAL writes no directories there", full))
			continue
		}
		if base, ok := parseSegmentName(name); ok {
			info, err := e.Info()
			if err != nil {
				return l, false, fmt.Errorf("wal: stat segment %s: %w", full, err)
			}
			l.logs = append(l.logs, base) // ReadDir sorts by name, and zero-padded names sort by offset
			l.sizes[base] = info.Size()
			continue
		}
		if base, ok := parseBaseName(name, indexSuffix); ok {
			l.indexes[base] = full
			continue
		}
		if _, ok := parseBaseName(name, checkpointSuffix); ok {
			l.checkpoints = append(l.checkpoints, full) // recoverActive takes the last segment's
			continue
		}
		switch {
		case name == partitionFileName:
			data, err := walfs.ReadFile(w.fs, full)
			if err != nil {
				return l, false, fmt.Errorf("wal: read %s: %w", full, err)
			}
			tp, id, err := decodePartitionFile(data)
			if err == nil && tp != p.tp {
				err = fmt.Errorf("%w: it names partition %v", errBadPartitionFile, tp)
			}
			if err != nil {
				rec.Warnings = append(rec.Warnings, fmt.Sprintf("%s: %v; the log's topic ID is unknown (reported as zero) until an operation names one", full, err))
				continue
			}
			p.id = id
			continue
		case name == damagedFileName:
			data, err := walfs.ReadFile(w.fs, full)
			if err != nil {
				return l, false, fmt.Errorf("wal: read %s: %w", full, err)
			}
			r, err := decodeDamagedFile(data)
			if err != nil {
				// Something was found corrupt, but not where: all of it.
				r = damageRecord{note: fmt.Sprintf("%s is unreadable (%v): the whole log is suspect", full, err)}
			}
			p.damaged = &r
			continue
		case name == partitionFileName+".tmp" || name == damagedFileName+".tmp" ||
			strings.HasSuffix(name, deletedSuffix) && isWALName(strings.TrimSuffix(name, deletedSuffix)):
			if err := w.fs.Remove(full); err != nil {
				return l, false, fmt.Errorf("wal: remove leftover %s: %w", full, err)
			}
			rec.Repairs = append(rec.Repairs, fmt.Sprintf("removed %s, left by an interrupted operation", full))
			removed = true
			continue
		}
		rec.Warnings = append(rec.Warnings, fmt.Sprintf("ignored %s: not a file the WAL writes (segments are <20-digit base offset>.log)", full))
	}
	return l, removed, nil
}

// isWALName reports a segment or index file name.
func isWALName(name string) bool {
	_, seg := parseSegmentName(name)
	_, idx := parseBaseName(name, indexSuffix)
	_, cp := parseBaseName(name, checkpointSuffix)
	return seg || idx || cp
}

// recoverPartition rebuilds one partition's state. Sealed segments are
// known by their index files, checked against the segment's size (a missing,
// corrupt or mismatched index is rebuilt from the segment and rewritten);
// only the active segment is read, against the sync ledger: bytes beyond
// the mark that do not decode are a torn tail and are cut; a bad frame
// below the mark or in a sealed segment being rebuilt, a missing segment or
// a gap in offsets is damage: the partition is recovered up to it and
// reported in rec.Damaged (or, with Config.TruncateCorrupt, cut there and
// reported in rec.Repairs).
func (w *WAL) recoverPartition(tp sm.TopicPartition, dir string, rec *Recovery) (*partition, error) {
	p := &partition{tp: tp, dir: dir, dirMade: true}
	l, removed, err := w.listPartition(p, rec)
	if err != nil {
		return nil, err
	}
	if removed {
		if err := w.syncDir(dir); err != nil {
			return nil, err
		}
	}
	name := filepath.Base(dir)
	var segs []*segment
	for _, base := range l.logs {
		segs = append(segs, &segment{w: w, base: base, dir: name, path: filepath.Join(dir, segmentName(base)), size: l.sizes[base]})
	}
	for _, cp := range l.checkpoints { // only the last segment's can be current
		if len(segs) > 0 && cp == segs[len(segs)-1].checkpointPath() {
			continue
		}
		if err := w.fs.Remove(cp); err != nil {
			return nil, fmt.Errorf("wal: remove stale checkpoint %s: %w", cp, err)
		}
		rec.Repairs = append(rec.Repairs, fmt.Sprintf("removed %s, a checkpoint of a segment that is no longer active", cp))
	}
	// Index files without their segment: a segment deleted by hand (the WAL
	// removes a segment's index before the segment).
	var orphan *sm.Offset
	for base := range l.indexes {
		if _, ok := l.sizes[base]; !ok && (orphan == nil || base < *orphan) {
			orphan = &base
		}
	}
	var next sm.Offset
	epoch := sm.Epoch(0)
	for i, s := range segs {
		last := i == len(segs)-1
		if orphan != nil && *orphan < s.base {
			return w.damaged(p, segs, i, false, &CorruptError{Path: filepath.Join(dir, segmentName(*orphan)), Offset: max(next, *orphan),
				Reason: fmt.Sprintf("segment file missing: its index file %s remains (deleted while the WAL was down?)", l.indexes[*orphan])}, rec)
		}
		if i > 0 && s.base != next {
			return w.damaged(p, segs, i, false, &CorruptError{Path: filepath.Join(dir, segmentName(next)), Offset: next, Reason: fmt.Sprintf(
				"segment file missing: offset gap: %s starts at offset %d, the previous segment ends at %d", s.path, s.base, next)}, rec)
		}
		var dmg *CorruptError
		if last {
			dmg, err = w.recoverActive(p, s, l.indexes[s.base], epoch, rec)
		} else {
			dmg, err = w.recoverSealed(s, l.indexes[s.base], epoch, rec)
		}
		if err != nil {
			return nil, err
		}
		if dmg != nil {
			return w.damaged(p, segs, i, true, dmg, rec)
		}
		w.used += s.size
		next = s.b.Index().Next
		if e := s.b.LastEpoch(); s.size > 0 {
			epoch = e
		}
	}
	if orphan != nil {
		return w.damaged(p, segs, len(segs), false, &CorruptError{Path: filepath.Join(dir, segmentName(*orphan)), Offset: max(next, *orphan),
			Reason: fmt.Sprintf("segment file missing: its index file %s remains (deleted while the WAL was down?)", l.indexes[*orphan])}, rec)
	}
	// The ledger's mark names the active segment, which exists from before
	// the mark is written until after it is replaced: a mark naming a later
	// segment than the last file means that file is gone.
	if m, ok := w.ledger.marks[name]; ok && m.base >= 0 && (len(segs) == 0 || sm.Offset(m.base) > segs[len(segs)-1].base) && !w.ledger.legacy {
		return w.damaged(p, segs, len(segs), false, &CorruptError{Path: filepath.Join(dir, segmentName(sm.Offset(m.base))), Offset: next,
			Reason: fmt.Sprintf("the active segment is missing: the sync ledger records %d synced bytes of it (deleted while the WAL was down?)", m.size)}, rec)
	}
	p.segs = segs
	p.next, p.known = next, len(segs) > 0
	if err := w.activate(p, next); err != nil {
		return nil, err
	}
	if p.damaged != nil {
		return w.recordedDamage(p, rec)
	}
	return p, nil
}

// recordedDamage reports a log with a damage record (sm.LogDamaged) as
// damaged from the record's offset: its manifest is cut there (segments
// after the one holding it dropped, that one's index cut), nothing changes
// on disk, and appends are refused until a truncate repairs it, as for
// damage Open finds itself.
func (w *WAL) recordedDamage(p *partition, rec *Recovery) (*partition, error) {
	off := min(max(p.damaged.offset, p.start()), p.next)
	dmg := &CorruptError{Offset: off, Reason: "damage recorded by a read: " + p.damaged.note}
	if len(p.segs) == 0 {
		dmg.Path = filepath.Join(p.dir, damagedFileName)
		p.damage = &damage{err: dmg}
		rec.Damaged[p.tp] = dmg
		return p, nil
	}
	k := len(p.segs) - 1
	for k > 0 && p.segs[k].base > off {
		k--
	}
	s := p.segs[k]
	cut, idx, err := w.cutIndex(p.tp, s, off)
	if err != nil {
		return nil, err
	}
	d := &damage{err: dmg, cutFrom: s, doomed: slices.Clone(p.segs[k+1:])}
	for _, ds := range d.doomed {
		w.used -= ds.size
		if err := ds.closeFile(); err != nil {
			return nil, err
		}
	}
	w.used -= s.size - cut
	dmg.Path, dmg.Pos = s.path, cut
	s.size, s.b, s.sealed = cut, sm.ResumeIndex(idx), false
	p.segs = p.segs[:k+1]
	p.damage = d
	p.next = off
	if err := w.activate(p, off); err != nil {
		return nil, err
	}
	if w.cfg.TruncateCorrupt {
		if err := w.repair(p); err != nil {
			return nil, err
		}
		rec.Repairs = append(rec.Repairs, fmt.Sprintf("truncate_corrupt: cut %v at offset %d: %v; the records from offset %d on are lost",
			p.tp, off, dmg, off))
		return p, nil
	}
	rec.Damaged[p.tp] = dmg
	return p, nil
}

// recoverSealed finds sealed segment s's index: its index file when that
// decodes and matches the segment (its base, its size, the epochs before
// it); otherwise — or with Config.ReadLogBytes, which reads every byte —
// by scanning the segment, rewriting the index file if it was wrong. A bad
// frame in a sealed segment is damage: it was synced in full before the next
// segment existed.
func (w *WAL) recoverSealed(s *segment, indexPath string, minEpoch sm.Epoch, rec *Recovery) (*CorruptError, error) {
	s.sealed = true
	var idx sm.SegmentIndex
	why := "missing"
	if indexPath != "" {
		data, err := walfs.ReadFile(w.fs, indexPath)
		if err != nil {
			return nil, fmt.Errorf("wal: read index %s: %w", indexPath, err)
		}
		idx, err = sm.DecodeSegmentIndex(data)
		switch {
		case err != nil:
			why = err.Error()
		case idx.Base != s.base || idx.Bytes != s.size:
			why = fmt.Sprintf("it describes %d bytes from offset %d, the segment holds %d from offset %d", idx.Bytes, idx.Base, s.size, s.base)
		case idx.Epochs[0].Epoch < minEpoch:
			why = fmt.Sprintf("its first epoch %d is before the previous segment's %d", idx.Epochs[0].Epoch, minEpoch)
		default:
			why = ""
		}
	}
	if why == "" && !w.cfg.ReadLogBytes {
		s.b = sm.ResumeIndex(idx)
		return nil, nil
	}
	data, err := walfs.ReadFile(w.fs, s.path)
	if err != nil {
		return nil, fmt.Errorf("wal: read segment: %w", err)
	}
	scanned, serr := sm.ScanSegment(data, s.base, minEpoch)
	if serr != nil {
		s.size = serr.Pos
		s.b = sm.ResumeIndex(scanned)
		reason := frameProblem(data[serr.Pos:])
		if reason == "valid frame" {
			reason = serr.Reason
		}
		return &CorruptError{Path: s.path, Pos: serr.Pos, Offset: scanned.Next, Reason: reason + " in a sealed segment (a later segment exists)"}, nil
	}
	s.b = sm.ResumeIndex(scanned)
	if why == "" {
		scanned.Sealed = true
		if sameIndex(&idx, &scanned) {
			return nil, nil
		}
		why = "it disagrees with the segment's frames"
	}
	scanned.Sealed = true
	ip := s.indexPath()
	if err := w.writeSmallFile(ip, sm.EncodeSegmentIndex(nil, &scanned)); err != nil {
		return nil, err
	}
	if err := w.syncDir(filepath.Dir(s.path)); err != nil {
		return nil, err
	}
	rec.Repairs = append(rec.Repairs, fmt.Sprintf("rebuilt index file %s from its segment (%s)", ip, why))
	return nil, nil
}

func sameIndex(a, b *sm.SegmentIndex) bool {
	return a.Base == b.Base && a.Next == b.Next && a.Bytes == b.Bytes && a.MaxTimestamp == b.MaxTimestamp &&
		slices.Equal(a.Entries, b.Entries) && slices.Equal(a.Epochs, b.Epochs)
}

// recoverActive scans the last segment against the sync ledger. An index
// file beside it is the leftover of a roll or a truncate a crash
// interrupted: it is removed (the segment is active), and, when it matches
// the segment, it proves the whole file was synced. A checkpoint left by a
// clean Close spares the scan of the bytes it covers; it is removed too
// (durably, by the syncfs at the end of recovery), so it is never used
// twice.
func (w *WAL) recoverActive(p *partition, s *segment, indexPath string, minEpoch sm.Epoch, rec *Recovery) (*CorruptError, error) {
	size := s.size
	synced := w.syncedOf(s.dir, s)
	if indexPath != "" {
		if raw, err := walfs.ReadFile(w.fs, indexPath); err == nil {
			if idx, err := sm.DecodeSegmentIndex(raw); err == nil && idx.Base == s.base && idx.Bytes == size {
				synced = max(synced, idx.Bytes)
			}
		}
		if err := w.fs.Remove(indexPath); err != nil {
			return nil, fmt.Errorf("wal: remove %s: %w", indexPath, err)
		}
		if err := w.syncDir(p.dir); err != nil {
			return nil, err
		}
		rec.Repairs = append(rec.Repairs, fmt.Sprintf("removed %s beside the last segment, left by an interrupted roll or truncate", indexPath))
	}
	cp, ok, err := w.takeCheckpoint(s, size, synced, minEpoch)
	if err != nil {
		return nil, err
	}
	from, next := int64(0), s.base
	if ok {
		from, next, minEpoch = cp.Bytes, cp.Next, max(minEpoch, lastEpochIn(cp))
		s.b = sm.ResumeIndex(cp)
	} else {
		s.b = sm.NewIndexBuilder(s.base)
	}
	data, err := readFrom(w, s.path, from, size)
	if err != nil {
		return nil, err
	}
	idx, serr := sm.ScanSegment(data, next, minEpoch)
	good := len(data)
	if serr != nil {
		good = int(serr.Pos)
	}
	for pos := 0; pos < good; { // the builder continues: the same rule, the same index
		bt, n, err := sm.DecodeBatch(data[pos:])
		if err != nil {
			return nil, fmt.Errorf("wal: %s at byte %d: %w after a clean scan", s.path, from+int64(pos), err)
		}
		s.b.Add(sm.MetaOf(&bt, n))
		pos += n
	}
	s.size = from + int64(good)
	if dmg := classify(s, data, good, idx.Next, serr, synced-from, w.ledger.legacy); dmg != nil {
		dmg.Pos += from
		return dmg, nil
	}
	if good < len(data) {
		if err := w.cutTornTail(s, int(s.size)); err != nil {
			return nil, err
		}
		rec.Repairs = append(rec.Repairs, fmt.Sprintf("cut a torn tail of %d bytes from %s at byte %d (%s; %d bytes were synced)",
			len(data)-good, s.path, s.size, frameProblem(data[good:]), max(synced, 0)))
	}
	return nil, nil
}

func lastEpochIn(idx sm.SegmentIndex) sm.Epoch {
	if n := len(idx.Epochs); n > 0 {
		return idx.Epochs[n-1].Epoch
	}
	return 0
}

// readFrom reads path's bytes [from, size).
func readFrom(w *WAL, path string, from, size int64) ([]byte, error) {
	if from == 0 {
		data, err := walfs.ReadFile(w.fs, path)
		if err != nil {
			return nil, fmt.Errorf("wal: read segment: %w", err)
		}
		return data, nil
	}
	f, err := w.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("wal: read segment: %w", err)
	}
	defer f.Close()
	data := make([]byte, size-from)
	if err := readFull(f, data, from); err != nil {
		return nil, fmt.Errorf("wal: read segment %s at byte %d: %w", path, from, err)
	}
	return data, nil
}

// takeCheckpoint reads and removes the active segment's checkpoint, and
// returns it when it can be trusted: it decodes, it is for this segment,
// and every byte it covers is in the file and was synced.
func (w *WAL) takeCheckpoint(s *segment, size, synced int64, minEpoch sm.Epoch) (sm.SegmentIndex, bool, error) {
	path := s.checkpointPath()
	raw, err := walfs.ReadFile(w.fs, path)
	if errors.Is(err, fs.ErrNotExist) {
		return sm.SegmentIndex{}, false, nil
	}
	if err != nil {
		return sm.SegmentIndex{}, false, fmt.Errorf("wal: read checkpoint %s: %w", path, err)
	}
	if err := w.fs.Remove(path); err != nil {
		return sm.SegmentIndex{}, false, fmt.Errorf("wal: remove checkpoint %s: %w", path, err)
	}
	cp, err := sm.DecodeSegmentIndex(raw)
	if err != nil || cp.Base != s.base || cp.Bytes > size || cp.Bytes > synced || cp.Epochs[0].Epoch < minEpoch {
		return sm.SegmentIndex{}, false, nil
	}
	cp.Sealed = false
	return cp, true, nil
}

// classify decides whether the active segment's scan found damage: synced
// is how many bytes were on stable storage before anything that wrote them
// completed. A bad frame at or beyond synced is a torn tail (cut); below
// it, it is damage. So is a file that ends before its synced bytes. In a
// legacy WAL (no ledger) marks are unknown: a bad frame is a torn tail
// unless a valid frame follows it.
func classify(s *segment, data []byte, good int, next sm.Offset, serr *sm.ScanError, synced int64, legacy bool) *CorruptError {
	if serr != nil {
		reason := frameProblem(data[good:])
		switch {
		case reason == "valid frame":
			// A frame that decodes but does not continue the log is no torn
			// write, wherever it is.
			return &CorruptError{Path: s.path, Pos: int64(good), Offset: next, Reason: serr.Reason}
		case int64(good) < synced:
			return &CorruptError{Path: s.path, Pos: int64(good), Offset: next, Reason: fmt.Sprintf(
				"%s below the synced mark (%d bytes of this segment were synced: acknowledged data)", reason, synced)}
		case legacy:
			if q := validFrameAfter(data, good, next); q >= 0 {
				return &CorruptError{Path: s.path, Pos: int64(good), Offset: next, Reason: fmt.Sprintf(
					"%s (a valid batch follows at byte %d)", reason, q)}
			}
		}
		return nil
	}
	if int64(len(data)) < synced {
		return &CorruptError{Path: s.path, Pos: int64(len(data)), Offset: next, Reason: fmt.Sprintf(
			"the file ends at byte %d but %d bytes of it were synced: acknowledged data is missing", len(data), synced)}
	}
	return nil
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

// damaged records damage found in segment i of segs (i == len(segs): after
// the last one): the log is the segments before it, and segment i's valid
// prefix too when keepCut is set (its size is that prefix). Later segments
// are doomed, removed when the partition is repaired; nothing changes on
// disk before. With TruncateCorrupt the repair happens now.
func (w *WAL) damaged(p *partition, segs []*segment, i int, keepCut bool, dmg *CorruptError, rec *Recovery) (*partition, error) {
	keep := i
	if keepCut && i < len(segs) {
		keep = i + 1
	}
	d := &damage{err: dmg, doomed: segs[keep:]}
	if keep > i {
		d.cutFrom = segs[i]
		w.used += d.cutFrom.size // the segments before it were counted as they were read
	}
	p.segs = segs[:keep:keep]
	if s := p.active(); s != nil {
		s.sealed = false // its index file, if any, goes at the repair
	}
	p.damage = d
	p.next, p.known = dmg.Offset, true
	if err := w.activate(p, dmg.Offset); err != nil {
		return nil, err
	}
	if w.cfg.TruncateCorrupt {
		if err := w.repair(p); err != nil {
			return nil, err
		}
		rec.Repairs = append(rec.Repairs, fmt.Sprintf("truncate_corrupt: cut %v at offset %d: %v; the records from offset %d on are lost",
			p.tp, dmg.Offset, dmg, dmg.Offset))
		return p, nil
	}
	rec.Damaged[p.tp] = dmg
	return p, nil
}

// damage is a partition log's defect found at Open that is not a torn tail.
type damage struct {
	err *CorruptError
	// cutFrom, when set, is the kept last segment whose file continues past
	// its valid size with the bad bytes; doomed are the later segments.
	cutFrom *segment
	doomed  []*segment
}

// repair cuts a damaged partition back to its valid prefix, durably: the
// sync mark is set to the prefix first (so a crash never leaves a mark
// naming a removed file), later segments go (newest first, each index
// before its segment, then the directory is synced) with any index file
// whose segment is missing and the new last segment's index file, then the
// bad bytes are cut. A crash at any point leaves a log whose valid prefix is
// the same.
func (w *WAL) repair(p *partition) error {
	d := p.damage
	if s := p.active(); s != nil {
		w.ledger.add(s.dir, syncMark{base: int64(s.base), size: s.size})
	} else {
		w.ledger.add(filepath.Base(p.dir), syncMark{base: -1})
	}
	if err := w.writeLedger(); err != nil {
		return err
	}
	for k := len(d.doomed) - 1; k >= 0; k-- {
		if err := w.removeSegment(d.doomed[k], false); err != nil {
			return err
		}
	}
	entries, err := w.fs.ReadDir(p.dir)
	if err != nil {
		return w.fail(fmt.Errorf("wal: repair %v: %w", p.tp, err))
	}
	for _, e := range entries {
		base, ok := parseBaseName(e.Name(), indexSuffix)
		if !ok {
			continue
		}
		if s := p.active(); s == nil || base >= s.base {
			if err := w.fs.Remove(filepath.Join(p.dir, e.Name())); err != nil {
				return w.fail(fmt.Errorf("wal: repair %v: %w", p.tp, err))
			}
		}
	}
	if err := w.syncDir(p.dir); err != nil {
		return err
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
	// A damage record goes once the bytes it describes are cut, durably.
	if err := w.clearDamage(p); err != nil {
		return err
	}
	p.damage = nil
	w.touch(p)
	return nil
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
