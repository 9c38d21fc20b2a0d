package sim

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/weirmq/weir/sm"
)

// Partition logs on the simulated disk, in the shape io/wal keeps them (see
// sm/segment.go): a directory per partition holding a PARTITION file with
// the topic ID, one data file per segment named by its base offset, and an
// index file (sm.EncodeSegmentIndex) beside every sealed segment. The sync
// ledger's mark is kept per segment file.
//
// Each file has page-cache and durable contents, as Disk's other files do.
// The directory's structure — which segments exist, the topic ID, the
// damage record (LogDamaged) — has them too: a roll, trim, reset,
// truncation or damage record changes the page-cache structure when it
// starts and the durable one when it completes (the store syncs the files
// and the directory). A crash in between keeps one or the other, never a
// mix. A LogDelete is durable when it starts, as it always was here: the
// directory goes before the completion is posted.

// plog is one partition log's directory.
type plog struct {
	tp      sm.TopicPartition
	topicID sm.TopicID
	// segs is the page-cache structure, in base order; the last segment is
	// the active one. durSegs and durTopicID are what a crash keeps.
	segs       []*segment
	durSegs    []*segment
	durTopicID sm.TopicID
	// damage is the LogDamaged record (nil: none), durDamage its durable
	// copy: recovery reports the log damaged from damage.off on.
	damage, durDamage *damageRecord
	// refused is set by an append refused for space, as the production WAL
	// does: until an append starting at refusedAt (the log's end) or a
	// truncate, appends continue the refused one and are refused too.
	// Process state, so a crash clears it.
	refused   bool
	refusedAt sm.Offset
	// active is the index of the active segment's page-cache content, as
	// the WAL keeps it while it appends (activeOK: valid; a crash or a cut
	// invalidates it until the next operation rebuilds it).
	active   sm.IndexBuilder
	activeOK bool
}

// damageRecord is what LogDamaged wrote down.
type damageRecord struct {
	off  sm.Offset
	note string
}

// segment is one segment's data file and index file.
type segment struct {
	base sm.Offset
	data file
	// index is the index file; empty content means none (never written, or
	// removed by a truncation into the segment). Every segment but the last
	// is sealed.
	index file
}

// segmentFile and indexFile name a segment's files, as io/wal does (the
// base offset, zero-padded so names sort by offset).
func segmentFile(tp sm.TopicPartition, base sm.Offset) string {
	return fmt.Sprintf("%s/%020d.log", walFile(tp), base)
}

func indexFile(tp sm.TopicPartition, base sm.Offset) string {
	return fmt.Sprintf("%s/%020d.index", walFile(tp), base)
}

// partitionFile names the file holding the log's topic ID.
func partitionFile(tp sm.TopicPartition) string { return walFile(tp) + "/PARTITION" }

func walFile(tp sm.TopicPartition) string {
	return "wal/" + tp.Topic + "/" + strconv.Itoa(int(tp.Partition))
}

// structureSynced reports whether the page-cache structure is durable.
func (l *plog) structureSynced() bool {
	return l.topicID == l.durTopicID && l.damage == l.durDamage && slices.Equal(l.segs, l.durSegs)
}

func (l *plog) last() *segment { return l.segs[len(l.segs)-1] }

// end is the log end offset, rebuilding the active index when needed; ok
// is false when the active segment does not decode whole (a torn tail that
// recovery or a truncation must cut first).
func (l *plog) end() (sm.Offset, bool) {
	if !l.activeOK {
		a := l.last()
		idx, serr := sm.ScanSegment(a.data.content, a.base, 0)
		if serr != nil {
			return idx.Next, false
		}
		l.active, l.activeOK = sm.ResumeIndex(idx), true
	}
	return l.active.Index().Next, true
}

// start is the log start offset.
func (l *plog) start() sm.Offset { return l.segs[0].base }

// findSegment returns the page-cache segment with base.
func (l *plog) findSegment(base sm.Offset) *segment {
	i, ok := slices.BinarySearchFunc(l.segs, base, func(s *segment, b sm.Offset) int { return compareOffset(s.base, b) })
	if !ok {
		return nil
	}
	return l.segs[i]
}

func compareOffset(a, b sm.Offset) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// newLog creates a log directory holding one empty segment at base. An
// append creates it durably, as the WAL creates a file and syncs its
// directory before it writes; a reset's creation is durable when the reset
// completes.
func (d *Disk) newLog(tp sm.TopicPartition, id sm.TopicID, base sm.Offset, durable bool) *plog {
	l := &plog{tp: tp, topicID: id}
	l.segs = []*segment{{base: base}}
	if durable {
		l.durSegs, l.durTopicID = slices.Clone(l.segs), id
	}
	l.active, l.activeOK = sm.NewIndexBuilder(base), true
	d.logs[walFile(tp)] = l
	return l
}

// applyLog performs op on the page cache, as the WAL's syscalls do when the
// operation starts. It returns an error text the way a failing syscall
// would, and whether the operation was refused before it wrote anything (an
// append onto a full disk: the production WAL checks space first, so the
// broker carries on). Stable storage changes only in sync.
func (d *Disk) applyLog(op sm.LogOp) (errText string, refused bool) {
	l := d.logs[walFile(op.TP)]
	if l != nil && op.TopicID != (sm.TopicID{}) && l.topicID != (sm.TopicID{}) && op.TopicID != l.topicID {
		return fmt.Sprintf("%v %v: %s names topic ID %v, not %v", op.Kind, op.TP, partitionFile(op.TP), l.topicID, op.TopicID), false
	}
	switch op.Kind {
	case sm.LogAppend:
		return d.appendLog(l, op)
	case sm.LogDelete:
		delete(d.logs, walFile(op.TP))
		return "", false
	case sm.LogReset:
		if l == nil {
			l = d.newLog(op.TP, op.TopicID, op.Offset, false)
		} else {
			l.segs = []*segment{{base: op.Offset}}
			l.active, l.activeOK = sm.NewIndexBuilder(op.Offset), true
			l.refused = false
			l.damage = nil
		}
		l.adoptTopicID(op.TopicID)
		return "", false
	}
	if l == nil {
		return fmt.Sprintf("%v %v: no such log", op.Kind, op.TP), false
	}
	l.adoptTopicID(op.TopicID)
	switch op.Kind {
	case sm.LogTruncate:
		return l.truncate(op.Offset), false
	case sm.LogTrim:
		return l.trim(op.Offset), false
	case sm.LogDamaged:
		if l.damage == nil || op.Offset < l.damage.off {
			l.damage = &damageRecord{off: op.Offset, note: op.Note}
		}
		return "", false
	}
	return fmt.Sprintf("sim: unknown log op kind %d", op.Kind), false
}

// adoptTopicID records id for a log written before it had one.
func (l *plog) adoptTopicID(id sm.TopicID) {
	if l.topicID == (sm.TopicID{}) {
		l.topicID = id
	}
}

// appendLog appends op's frames to the active segment, after sealing it
// first when op.Roll says so: the roll and the append are one operation,
// refused together for space (the index file counts) or done together.
func (d *Disk) appendLog(l *plog, op sm.LogOp) (string, bool) {
	base := frameBase(op.Data)
	if l != nil && l.refused && base != l.refusedAt {
		return fmt.Sprintf("append at offset %d continues a refused append (the log ends at %d)", base, l.refusedAt), true
	}
	var seal []byte // the index file a roll writes
	if op.Roll && l != nil {
		end, ok := l.end()
		a := l.last()
		switch {
		case !ok:
			return fmt.Sprintf("roll %v: segment %d does not decode at offset %d", op.TP, a.base, end), false
		case base != end:
			return fmt.Sprintf("roll %v: batch base offset %d, log ends at %d", op.TP, base, end), false
		case end == a.base:
			return fmt.Sprintf("roll %v at offset %d: the active segment is empty", op.TP, base), false
		}
		idx := l.active.Index()
		idx.Sealed = true
		seal = sm.EncodeSegmentIndex(nil, &idx)
	}
	if d.capacity > 0 && d.used()+int64(len(op.Data)+len(seal)) > d.capacity {
		if l == nil {
			l = d.newLog(op.TP, op.TopicID, base, true)
		}
		if !l.refused {
			l.refused, l.refusedAt = true, base
		}
		return "disk full (ENOSPC): append refused", true
	}
	if l == nil {
		l = d.newLog(op.TP, op.TopicID, base, true)
	}
	// As io/wal does: an append must start at the log's end; anything else
	// is an I/O-level error (the broker stops), never a silent second copy
	// of an offset. Behind a torn tail the end is unknown until a cut.
	if end, ok := l.end(); ok && base != end {
		if len(l.segs) > 1 || len(l.last().data.content) > 0 {
			return fmt.Sprintf("append: batch base offset %d, log ends at %d", base, end), false
		}
		// A log holding no batch at all starts where its first append
		// does, as an empty file does: a broker that recovered it from
		// bytes does not know where it starts.
		l.segs = []*segment{{base: base}}
		l.active, l.activeOK = sm.NewIndexBuilder(base), true
	}
	if seal != nil {
		l.last().index.content = seal
		l.segs = append(slices.Clip(l.segs), &segment{base: base})
		l.active, l.activeOK = sm.NewIndexBuilder(base), true
	}
	a := l.last()
	l.refused = false
	pos := len(a.data.content)
	a.data.content = append(a.data.content, op.Data...)
	if !l.activeOK {
		return "", false
	}
	for p := 0; p < len(op.Data); {
		b, n, err := sm.DecodeBatch(op.Data[p:])
		if err != nil {
			// Not a frame the state machine encoded: the bytes are written
			// (a real WAL does not check them either), the index is lost
			// until a cut.
			l.activeOK = false
			return fmt.Sprintf("append: frame at byte %d of segment %d: %v", pos+p, a.base, err), false
		}
		l.active.Add(sm.MetaOf(&b, n))
		p += n
	}
	return "", false
}

// truncate cuts the log at off, a batch boundary (sm.LogTruncate): later
// segments go, the segment holding off becomes active again without its
// index, cut at the first frame at or after off (or at bytes that do not
// decode).
//
// Below the log start, every batch goes and the log is empty at off: a
// broker that recovered from bytes cannot know the start of a log holding
// no batch (sm.Durable.Logs is empty for it) and takes it as 0.
func (l *plog) truncate(off sm.Offset) string {
	if off < l.start() {
		l.segs = []*segment{{base: off}}
		l.active, l.activeOK = sm.NewIndexBuilder(off), true
		l.refused, l.damage = false, nil
		return ""
	}
	i := len(l.segs) - 1
	for i > 0 && l.segs[i].base > off {
		i--
	}
	s := l.segs[i]
	pos, errText := truncatePos(s.data.content, off)
	if errText != "" {
		return fmt.Sprintf("segment %d: %s", s.base, errText)
	}
	if i < len(l.segs)-1 {
		l.segs = slices.Clip(l.segs[:i+1])
		s.index.content = nil
	}
	s.data.content = s.data.content[:pos:pos]
	s.data.mark = min(s.data.mark, pos) // the WAL records a cut before making it
	l.activeOK = false
	l.refused = false
	if l.damage != nil && off <= l.damage.off {
		l.damage = nil // the damaged range is cut
	}
	return ""
}

// trim deletes the sealed segments below off, a segment base.
func (l *plog) trim(off sm.Offset) string {
	i := slices.IndexFunc(l.segs, func(s *segment) bool { return s.base == off })
	if i < 0 {
		if off <= l.start() {
			return "" // already trimmed
		}
		return fmt.Sprintf("trim %v to offset %d: not a segment base", l.tp, off)
	}
	l.segs = slices.Clone(l.segs[i:])
	return ""
}

// syncLog makes l durable, as the WAL's fsyncs of its files and directory
// do: the structure, every index file, and every data file — for real, or,
// when lie, only in the sync ledger (lieSync).
func (l *plog) sync(lie bool) {
	l.durSegs = slices.Clone(l.segs)
	l.durTopicID, l.durDamage = l.topicID, l.damage
	for _, s := range l.segs {
		s.index.durable = s.index.content
		if lie {
			s.data.lieSync()
		} else {
			s.data.sync()
		}
	}
}

func (f *file) sync() {
	// Share the bytes: content only grows by append past this length or is
	// re-sliced with its capacity cut, never written in place.
	f.durable = f.content[:len(f.content):len(f.content)]
	f.mark = len(f.content)
}

// lieSync is a sync the device acknowledges without making appended data
// durable (a volatile write cache that ignores flushes): the sync ledger
// records the mark, the appended bytes stay in the page cache, and a power
// loss drops them. The lie covers appends only: a file cut since its last
// real sync is synced for real, since a device that reverts a truncate and
// keeps old bytes of the same length at the same place defeats any
// length-based ledger (outside every promise, docs/architecture.md).
func (f *file) lieSync() {
	if !f.extendsDurable() {
		f.sync()
		return
	}
	f.mark = len(f.content)
}

func (f *file) synced() bool { return string(f.content) == string(f.durable) }

func (f *file) extendsDurable() bool {
	return len(f.content) >= len(f.durable) && string(f.content[:len(f.durable)]) == string(f.durable)
}

// crashLog is what a crash leaves of l: the durable structure, or, when tear
// lets an unsynced structure change reach the disk, the new one; of each
// file, the synced bytes and none, all or a torn prefix of the unsynced
// ones (crashFile). torn counts files left with a torn tail.
func (l *plog) crash(r *rng, tear bool) (torn int) {
	l.refused, l.activeOK = false, false
	// A structure change reached the disk whole or not at all, and the
	// files it cut or removed follow its fate.
	var decided *bool
	if !l.structureSynced() {
		reached := tear && r.chance(0.5)
		decided = &reached
		if reached {
			l.durSegs, l.durTopicID, l.durDamage = slices.Clone(l.segs), l.topicID, l.damage
			// A roll makes the segment it seals durable in full, index and
			// all, before it creates the next one: a roll that reached the
			// disk brought them along.
			for _, s := range l.segs[:len(l.segs)-1] {
				if !s.data.synced() || !s.index.synced() {
					s.data.sync()
					s.index.durable = s.index.content
				}
			}
		} else {
			l.segs, l.topicID, l.damage = slices.Clone(l.durSegs), l.durTopicID, l.durDamage
		}
	}
	for _, s := range l.segs {
		// A roll writes the index file only once the segment's data is
		// durable (io/wal does the same), so an index never survives
		// beside data it does not describe.
		if !s.data.synced() && len(s.index.content) > 0 {
			s.index.content = s.index.durable
		}
		torn += s.data.crash(r, tear, decided)
		s.index.crash(r, tear, decided)
	}
	return torn
}

// crash applies the crash rule to one file and reports whether it left a
// torn tail. Of an unsynced append, none, all or a torn prefix survives; an
// unsynced cut either reached the disk or did not (decided says which when
// a structure change decided it).
func (f *file) crash(r *rng, tear bool, decided *bool) (torn int) {
	if f.extendsDurable() {
		extra := f.content[len(f.durable):]
		keep := 0
		if len(extra) > 0 && tear {
			switch r.intn(3) {
			case 0:
				keep = 0
			case 1:
				keep = len(extra)
			default:
				keep = r.intn(len(extra) + 1)
			}
		}
		next := slices.Clone(f.durable)
		next = append(next, extra[:keep]...)
		if keep > 0 && (keep < len(extra) || r.chance(0.25)) {
			torn++
			// Garbage anywhere in what survived of the unsynced range,
			// not only its last byte: a sector that was half written, or a
			// whole frame of the right length whose checksum no longer
			// matches. Synced bytes are never touched.
			if r.chance(0.5) {
				for range 1 + r.intn(3) {
					next[len(f.durable)+r.intn(keep)] ^= byte(1 + r.intn(255))
				}
			}
		}
		f.content, f.durable = next, slices.Clone(next)
		return torn
	}
	// An unsynced truncate: either it reached the disk or it did not.
	if decided != nil && *decided || decided == nil && tear && r.chance(0.5) {
		f.durable = slices.Clone(f.content)
	} else {
		f.content = slices.Clone(f.durable)
	}
	return 0
}

// syncedCopy is what a replacement process finds of l on a copy of the
// volume: the durable structure and bytes.
func (l *plog) syncedCopy() *plog {
	c := &plog{tp: l.tp, topicID: l.durTopicID, durTopicID: l.durTopicID, damage: l.durDamage, durDamage: l.durDamage}
	for _, s := range l.durSegs {
		cs := &segment{base: s.base}
		cs.data = file{content: slices.Clone(s.data.durable), durable: slices.Clone(s.data.durable), mark: s.data.mark}
		cs.index = file{content: slices.Clone(s.index.durable), durable: slices.Clone(s.index.durable)}
		c.segs = append(c.segs, cs)
	}
	c.durSegs = slices.Clone(c.segs)
	return c
}

// used is the space l's files take (page cache or durable, the larger).
func (l *plog) used() int64 {
	var n int64
	count := func(s *segment) {
		n += int64(max(len(s.data.content), len(s.data.durable)) + max(len(s.index.content), len(s.index.durable)))
	}
	for _, s := range l.segs {
		count(s)
	}
	if !l.structureSynced() {
		for _, s := range l.durSegs {
			if !slices.Contains(l.segs, s) {
				count(s)
			}
		}
	}
	return n
}

// ---- recovery ----------------------------------------------------------------

// recoverLogBytes is what the broker recovers from before it takes
// manifests (sm.Durable.Logs): each log's segments' page-cache bytes, one
// after the other. As io/wal's Open does against its sync ledger: bytes
// below a segment's mark that are gone or do not decode are damage
// (reported, the valid prefix served, nothing cut); beyond the last
// segment's mark, a torn tail the broker cuts itself.
func (l *plog) recoverBytes() (data []byte, damaged string) {
	data, damaged = l.scanBytes()
	if r := l.damage; r != nil {
		// As the manifest recovery: the recorded damage cuts what is served.
		data = data[:damageCut(data, r.off)]
		damaged = joinDamage(r.note, damaged)
	}
	return data, damaged
}

// joinDamage is a log's damage report: the recorded note, and what
// recovery found itself.
func joinDamage(note, found string) string {
	if found == "" {
		return note
	}
	return note + "; " + found
}

func (l *plog) scanBytes() (data []byte, damaged string) {
	for i, s := range l.segs {
		last := i == len(l.segs)-1
		// Frames that do not decode, or decode but do not continue the log.
		idx, serr := sm.ScanSegment(s.data.content, s.base, 0)
		valid := int(idx.Bytes)
		if serr != nil {
			valid = int(serr.Pos)
		}
		if valid < s.data.mark {
			return append(data, s.data.content[:valid]...), fmt.Sprintf("%s: byte %d: %d of the %d bytes its sync mark covers are gone or corrupt",
				segmentFile(l.tp, s.base), valid, s.data.mark-valid, s.data.mark)
		}
		if last {
			return append(data, s.data.content...), ""
		}
		data = append(data, s.data.content[:valid]...)
		if valid < len(s.data.content) {
			return data, "" // a roll that did not complete: the log ends here
		}
	}
	return data, ""
}

// collapse makes l one active segment holding every segment's frames, as a
// broker that recovers from bytes (sm.Durable.Logs) sees its log: one
// segment from its first batch, which its reads then address. The sync
// marks add up, so data lost below any of them still shows as damage. Only
// the byte recovery does this; recoverManifests keeps the segments.
func (l *plog) collapse() {
	if len(l.segs) <= 1 {
		return
	}
	one := &segment{base: l.segs[0].base}
	for _, s := range l.segs {
		one.data.content = append(one.data.content, s.data.content...)
		one.data.durable = append(one.data.durable, s.data.durable...)
		one.data.mark += s.data.mark
	}
	l.segs, l.durSegs = []*segment{one}, []*segment{one}
	l.activeOK = false
}

// forgetTopicID is the byte recovery's other loss: sm.Durable.Logs carries
// no topic ID, so the broker cannot tell the log's, and the log takes the
// next one an operation names, as a log written before topic IDs does.
func (l *plog) forgetTopicID() { l.topicID, l.durTopicID = sm.TopicID{}, sm.TopicID{} }

// logRecovery counts what recoverManifests did, for the coverage probes.
type logRecovery struct {
	// rebuilt names the index files rewritten.
	rebuilt []string
	// indexesRebuilt counts sealed segments whose index file was missing or
	// could not be trusted, rebuilt by scanning the segment.
	indexesRebuilt int
	// tornCut counts active segments whose torn tail was cut.
	tornCut int
}

// recoverManifests is Open as io/wal does it: for each partition log, its
// manifest — sealed segments from their index files (rebuilt with
// sm.ScanSegment when an index is missing, corrupt or disagrees with its
// segment's length, and written back), the active segment scanned, its torn
// tail beyond the sync mark cut (and the cut made durable) — and the logs
// whose disk lost data below a mark or in a sealed segment, by file and
// byte. A damaged log's manifest is its valid prefix; nothing of it is cut.
func (d *Disk) recoverManifests() (map[sm.TopicPartition]sm.LogManifest, map[sm.TopicPartition]string, logRecovery, error) {
	out := map[sm.TopicPartition]sm.LogManifest{}
	var damaged map[sm.TopicPartition]string
	var st logRecovery
	for _, key := range slices.Sorted(maps.Keys(d.logs)) {
		l := d.logs[key]
		m, dmg, err := l.recoverManifest(&st)
		if err != nil {
			return nil, nil, st, err
		}
		if dmg != "" {
			if damaged == nil {
				damaged = map[sm.TopicPartition]string{}
			}
			damaged[l.tp] = dmg
		}
		if r := l.damage; r != nil {
			if m.End() > r.off {
				m = l.cutManifest(m, r.off)
			}
			dmg = joinDamage(r.note, dmg)
			if damaged == nil {
				damaged = map[sm.TopicPartition]string{}
			}
			damaged[l.tp] = dmg
		}
		if err := m.Check(); err != nil {
			return nil, nil, st, fmt.Errorf("sim: recovered manifest of %v: %v", l.tp, err)
		}
		out[l.tp] = m
	}
	return out, damaged, st, nil
}

func (l *plog) recoverManifest(st *logRecovery) (sm.LogManifest, string, error) {
	m := sm.LogManifest{TopicID: l.topicID}
	if len(l.segs) == 0 {
		return m, "", fmt.Errorf("sim: log %v has no segment", l.tp)
	}
	l.activeOK = false
	lastEpoch := sm.Epoch(0)
	for i, s := range l.segs {
		name := segmentFile(l.tp, s.base)
		if i < len(l.segs)-1 {
			next := l.segs[i+1].base
			if idx, ok := trustIndex(s, next); ok {
				m.Segments = append(m.Segments, idx)
				lastEpoch = idx.Epochs[len(idx.Epochs)-1].Epoch
				continue
			}
			idx, serr := sm.ScanSegment(s.data.content, s.base, lastEpoch)
			cut, why := len(s.data.content), fmt.Sprintf("the segment ends at offset %d, the next one starts at %d", idx.Next, next)
			if serr != nil {
				cut, why = int(serr.Pos), serr.Reason
			}
			if serr != nil || idx.Next != next || idx.Next == idx.Base {
				// A sealed segment was durable in full before the segment
				// after it existed (a roll syncs it, then writes its index,
				// then creates the next): any defect is damage.
				idx.Sealed = false
				m.Segments = append(m.Segments, idx)
				return m, fmt.Sprintf("%s: byte %d: sealed segment damaged (sync mark at byte %d): %s", name, cut, s.data.mark, why), nil
			}
			st.indexesRebuilt++
			st.rebuilt = append(st.rebuilt, indexFile(l.tp, s.base))
			idx.Sealed = true
			enc := sm.EncodeSegmentIndex(nil, &idx)
			s.index = file{content: enc, durable: enc}
			m.Segments = append(m.Segments, idx)
			lastEpoch = idx.Epochs[len(idx.Epochs)-1].Epoch
			continue
		}
		// The active segment: scanned whole. An index file beside it is a
		// roll's that did not complete.
		s.index = file{}
		idx, serr := sm.ScanSegment(s.data.content, s.base, lastEpoch)
		if serr == nil && len(s.data.content) < s.data.mark {
			m.Segments = append(m.Segments, idx)
			return m, fmt.Sprintf("%s: byte %d: %d of the %d bytes its sync mark covers are gone",
				name, len(s.data.content), s.data.mark-len(s.data.content), s.data.mark), nil
		}
		if serr != nil {
			if serr.Pos < int64(s.data.mark) {
				m.Segments = append(m.Segments, idx)
				return m, fmt.Sprintf("%s: byte %d: %d of the %d bytes its sync mark covers are gone or corrupt (%s)",
					name, serr.Pos, int64(s.data.mark)-serr.Pos, s.data.mark, serr.Reason), nil
			}
			st.tornCut++
			cutFile(&s.data, int(serr.Pos))
		}
		l.active, l.activeOK = sm.ResumeIndex(idx), true
		m.Segments = append(m.Segments, idx)
	}
	return m, "", nil
}

// cutManifest is m cut at off (a LogDamaged record): the segment holding
// off becomes the last, active one, its index rebuilt from its bytes before
// off (only a damaged log's start reads a sealed segment). Nothing on disk
// changes.
func (l *plog) cutManifest(m sm.LogManifest, off sm.Offset) sm.LogManifest {
	k := len(m.Segments) - 1
	for k > 0 && m.Segments[k].Base > off {
		k--
	}
	s := m.Segments[k]
	seg := l.findSegment(s.Base)
	pos := damageCut(seg.data.content[:s.Bytes], off)
	minEpoch := sm.Epoch(0)
	if k > 0 {
		e := m.Segments[k-1].Epochs
		minEpoch = e[len(e)-1].Epoch
	}
	idx, _ := sm.ScanSegment(seg.data.content[:pos], s.Base, minEpoch)
	m.Segments = append(slices.Clip(m.Segments[:k]), idx)
	return m
}

// damageCut is where damage recorded from off cuts buf: at the first frame
// holding an offset at or after off, or the first that does not decode.
func damageCut(buf []byte, off sm.Offset) int {
	pos := 0
	for pos < len(buf) {
		b, n, err := sm.DecodeBatch(buf[pos:])
		if err != nil || b.NextOffset() > off {
			break
		}
		pos += n
	}
	return pos
}

// trustIndex decodes s's index file and checks it against what is cheap to
// check without reading the segment: its bounds and the file's length.
func trustIndex(s *segment, next sm.Offset) (sm.SegmentIndex, bool) {
	if len(s.index.content) == 0 {
		return sm.SegmentIndex{}, false
	}
	idx, err := sm.DecodeSegmentIndex(s.index.content)
	if err != nil || idx.Base != s.base || idx.Next != next || idx.Bytes != int64(len(s.data.content)) {
		return sm.SegmentIndex{}, false
	}
	return idx, true
}

// cutFile cuts f at pos on the page cache and stable storage (recovery's
// ftruncate and fsync).
func cutFile(f *file, pos int) {
	f.content = slices.Clip(f.content[:pos])
	f.durable = f.content
	f.mark = min(f.mark, pos)
}

// ---- reads -------------------------------------------------------------------

// readLog serves r from the page cache: whole frames from r.Pos, up to
// r.MaxBytes after the first. The frames are found by their length fields
// and not checked: the state machine verifies every checksum. It returns the
// segment read (to tell later whether it still exists) or why nothing can
// be read.
func (d *Disk) readLog(r sm.LogRead) (data []byte, seg *segment, errText string) {
	l := d.logs[walFile(r.TP)]
	if l == nil {
		return nil, nil, fmt.Sprintf("read %v: no such log", r.TP)
	}
	s := l.findSegment(r.Segment)
	if s == nil {
		return nil, nil, fmt.Sprintf("read %v: no segment %d (log starts at %d)", r.TP, r.Segment, l.start())
	}
	buf := s.data.content
	if r.Pos < 0 || r.Pos > int64(len(buf)) {
		return nil, nil, fmt.Sprintf("read %s: byte %d beyond its end %d", segmentFile(r.TP, r.Segment), r.Pos, len(buf))
	}
	end := int(r.Pos)
	for end < len(buf) {
		if len(buf)-end < 4 {
			break
		}
		n := 4 + int(binary.LittleEndian.Uint32(buf[end:]))
		if n > len(buf)-end || (end > int(r.Pos) && end+n-int(r.Pos) > r.MaxBytes) {
			break
		}
		end += n
	}
	// Content is never written in place (bit flips clone it), so the slice
	// keeps the bytes as they are now.
	return buf[r.Pos:end:end], s, ""
}

// exists reports whether seg is still one of tp's segments.
func (d *Disk) segmentExists(tp sm.TopicPartition, seg *segment) bool {
	l := d.logs[walFile(tp)]
	return l != nil && slices.Contains(l.segs, seg)
}

// logBatches decodes tp's page-cache segments from the one holding from
// (see World.diskLog).
func (d *Disk) logBatches(tp sm.TopicPartition, from sm.Offset) ([]sm.Batch, error) {
	l := d.logs[walFile(tp)]
	if l == nil {
		return nil, nil
	}
	var out []sm.Batch
	next := sm.Offset(-1)
	for i, s := range l.segs {
		if i+1 < len(l.segs) && l.segs[i+1].base <= from {
			continue
		}
		if next >= 0 && s.base != next {
			return out, fmt.Errorf("%s: starts at offset %d, the log before it ends at %d", segmentFile(tp, s.base), s.base, next)
		}
		next = s.base
		for pos := 0; pos < len(s.data.content); {
			b, n, err := sm.DecodeBatch(s.data.content[pos:])
			if err == nil && b.BaseOffset != next {
				err = fmt.Errorf("batch at offset %d, expected %d", b.BaseOffset, next)
			}
			if err != nil {
				return out, fmt.Errorf("%s: byte %d: %w", segmentFile(tp, s.base), pos, err)
			}
			out = append(out, b)
			next = b.NextOffset()
			pos += n
		}
	}
	return out, nil
}

// ---- faults at rest --------------------------------------------------------------

// sealedAtRest lists d's sealed segments whose structure is durable: those
// a fault at rest can reach.
func (d *Disk) sealedAtRest() []sealedRef {
	var out []sealedRef
	for _, key := range slices.Sorted(maps.Keys(d.logs)) {
		l := d.logs[key]
		for _, s := range l.segs[:max(0, len(l.segs)-1)] {
			if slices.Contains(l.durSegs, s) && len(s.data.durable) > 0 {
				out = append(out, sealedRef{l, s})
			}
		}
	}
	return out
}

type sealedRef struct {
	l *plog
	s *segment
}

// flipBit flips one bit of s's data at byte pos, at rest: in the durable
// bytes and the page cache alike (the next read of the page returns it).
func (s *segment) flipBit(pos int, bit uint) {
	s.data.durable = slices.Clone(s.data.durable)
	s.data.durable[pos] ^= 1 << bit
	if pos < len(s.data.content) {
		s.data.content = slices.Clone(s.data.content)
		s.data.content[pos] ^= 1 << bit
	}
}
