package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/weirmq/weir/io/wal/walfs"
	"github.com/weirmq/weir/sm"
)

// ledgerName is the sync ledger's file under the WAL root.
const ledgerName = "SYNCED"

// ledgerCompactBytes is the ledger size past which the committer rewrites
// it with one record per partition (it also always does at Open).
const ledgerCompactBytes = 4 << 20

// ledgerRecordMax bounds one record (a partition directory name is at most
// 255 bytes on every file system we run on).
const ledgerRecordMax = 4 + 4 + 2 + 255 + 8 + 8

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// syncMark is how far a partition's active segment is known to be on stable
// storage: the segment's base offset and its synced byte count.
type syncMark struct {
	base int64
	size int64
}

// ledger is the sync ledger: a durable record of how far each partition's
// active segment was fdatasync'ed. It is what lets recovery tell a torn
// write from corruption. Bytes below a partition's mark were on stable
// storage before any operation that wrote them completed, so a bad frame
// there is corruption (refused, or repaired from a replica), never a torn
// tail; only what lies beyond the mark may be cut. Sealed segments are
// synced in full before the next one is created, so they need no mark.
//
// The file is a sequence of records, each
//
//	u32 length of the rest | u32 CRC32C of the payload | payload
//	payload: u16 dir length | dir (the partition directory name) | i64 segment base | i64 synced bytes
//
// appended and fdatasync'ed by the committer: after each commit group's
// segment fdatasyncs and before any of the group's operations complete;
// before a segment is created (mark 0, so a stale mark of an earlier file
// with the same name never applies to the new one); and before a truncate
// cuts a segment. The last record for a directory wins. A torn or corrupt
// ledger tail is ignored: its marks were not yet relied on by any completion.
// A mark whose base is not the directory's last segment does not apply (that
// segment was created or exposed by a truncate after the mark; it counts as
// synced from 0).
type ledger struct {
	path  string
	f     walfs.File
	size  int64
	marks map[string]syncMark // by partition directory name
	buf   []byte              // records queued for the next write
	// legacy is set when the WAL had segments but no ledger (written by an
	// older version): marks are unknown, so recovery falls back to cutting
	// any bad tail of the last segment.
	legacy bool
}

// readLedger loads the marks under root; a missing file is an empty ledger.
func readLedger(fsys walfs.FS, root string) (map[string]syncMark, bool, error) {
	data, err := walfs.ReadFile(fsys, filepath.Join(root, ledgerName))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]syncMark{}, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("wal: read sync ledger: %w", err)
	}
	marks := map[string]syncMark{}
	for pos := 0; pos+8 <= len(data); {
		n := int(binary.LittleEndian.Uint32(data[pos:]))
		if n < 4+2+16 || n > ledgerRecordMax-4 || pos+4+n > len(data) {
			break // a torn tail
		}
		payload := data[pos+8 : pos+4+n]
		if crc32.Checksum(payload, crcTable) != binary.LittleEndian.Uint32(data[pos+4:]) {
			break
		}
		dl := int(binary.LittleEndian.Uint16(payload))
		if 2+dl+16 != len(payload) {
			break
		}
		dir := string(payload[2 : 2+dl])
		marks[dir] = syncMark{
			base: int64(binary.LittleEndian.Uint64(payload[2+dl:])),
			size: int64(binary.LittleEndian.Uint64(payload[2+dl+8:])),
		}
		pos += 4 + n
	}
	return marks, true, nil
}

// add queues a record setting dir's mark.
func (l *ledger) add(dir string, m syncMark) {
	l.marks[dir] = m
	l.buf = appendLedgerRecord(l.buf, dir, m)
}

func appendLedgerRecord(buf []byte, dir string, m syncMark) []byte {
	n := 4 + 2 + len(dir) + 16
	buf = binary.LittleEndian.AppendUint32(buf, uint32(n))
	crcAt := len(buf)
	buf = binary.LittleEndian.AppendUint32(buf, 0)
	start := len(buf)
	buf = binary.LittleEndian.AppendUint16(buf, uint16(len(dir)))
	buf = append(buf, dir...)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(m.base))
	buf = binary.LittleEndian.AppendUint64(buf, uint64(m.size))
	binary.LittleEndian.PutUint32(buf[crcAt:], crc32.Checksum(buf[start:], crcTable))
	return buf
}

// writeLedger makes the queued records durable, compacting the file first
// when it has grown large. It syncs with FsyncOnWrite off too: a record that
// lowers or resets a mark (a truncate, a delete, a new segment) must be
// durable before the change it announces, or a power loss could keep the
// change and an older, higher mark, which the next Open reads as lost
// acknowledged data. Records come only with fdatasyncs of segments or
// directory syncs, so this adds one sync where there are already some.
func (w *WAL) writeLedger() error {
	l := &w.ledger
	if len(l.buf) == 0 || w.failed != nil {
		return w.failed
	}
	if l.size+int64(len(l.buf)) > ledgerCompactBytes {
		return w.rewriteLedger()
	}
	w.be.write(l.f, l.buf, l.size, l.path)
	w.be.datasync(l.f, l.path)
	w.stats.ledgerSyncs.Add(1)
	if err := w.be.run(); err != nil {
		return w.fail(err)
	}
	l.size += int64(len(l.buf))
	l.buf = l.buf[:0]
	return nil
}

// rewriteLedger replaces the ledger with one record per partition, durably:
// a new file is written and synced, renamed over the old one, and the root
// directory synced. A crash leaves either file, both complete.
func (w *WAL) rewriteLedger() error {
	l := &w.ledger
	var buf []byte
	for _, dir := range slices.Sorted(maps.Keys(l.marks)) {
		buf = appendLedgerRecord(buf, dir, l.marks[dir])
	}
	tmp := l.path + ".tmp"
	f, err := w.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return w.fail(fmt.Errorf("wal: create sync ledger: %w", err))
	}
	if err := pwriteFull(f, buf, 0, tmp); err != nil {
		f.Close()
		return w.fail(err)
	}
	if err := fdatasync(f, tmp); err != nil {
		f.Close()
		return w.fail(err)
	}
	w.stats.ledgerSyncs.Add(1)
	if err := w.fs.Rename(tmp, l.path); err != nil {
		f.Close()
		return w.fail(fmt.Errorf("wal: replace sync ledger: %w", err))
	}
	if err := w.syncDir(w.root); err != nil {
		f.Close()
		return err
	}
	if l.f != nil {
		_ = l.f.Close()
	}
	l.f, l.size, l.buf = f, int64(len(buf)), l.buf[:0]
	return nil
}

// recover opens the sync ledger, recovers every partition against it, makes
// each active segment's valid bytes and every directory's entries durable
// (the state machines treat what Open returns as durable), and rewrites the
// ledger with one mark per partition.
func (w *WAL) recover() (Recovery, error) {
	marks, existed, err := readLedger(w.fs, w.root)
	if err != nil {
		return Recovery{}, err
	}
	path := filepath.Join(w.root, ledgerName)
	f, err := w.fs.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return Recovery{}, fmt.Errorf("wal: open sync ledger: %w", err)
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return Recovery{}, fmt.Errorf("wal: stat sync ledger: %w", err)
	}
	w.ledger = ledger{path: path, f: f, size: size, marks: marks, legacy: !existed}
	rec, err := w.recoverAll()
	if err != nil {
		return rec, err
	}
	live := map[string]syncMark{}
	for _, tp := range slices.SortedFunc(maps.Keys(w.parts), sm.CompareTP) {
		p := w.parts[tp]
		s := p.active()
		if p.damage != nil {
			// Keep the mark as it was: until the damage is repaired, the
			// next Open must find it again.
			if m, ok := marks[filepath.Base(p.dir)]; ok {
				live[filepath.Base(p.dir)] = m
			}
			continue
		}
		if s == nil {
			continue
		}
		m := syncMark{base: int64(s.base), size: w.syncedOf(s.dir, s)}
		if s.size > m.size {
			if err := s.openFile(); err != nil {
				return rec, err
			}
			w.stats.dataSyncs.Add(1)
			if err := fdatasync(s.f, s.path); err != nil {
				return rec, w.fail(err)
			}
			m.size = s.size
		}
		live[s.dir] = m
	}
	// After a process crash the page cache may still hold what the dead
	// process never synced: directory entries it created, removed or
	// renamed (a truncate's removed segments, a roll's new file) and file
	// bytes. Open serves that state as durable, so all of it must be:
	// one syncfs covers every directory and file at once.
	if err := w.fs.SyncAll(w.root); err != nil {
		return rec, w.fail(fmt.Errorf("wal: sync the file system holding %s: %w", w.root, err))
	}
	w.ledger.marks, w.ledger.legacy = live, false
	if err := w.rewriteLedger(); err != nil {
		return rec, err
	}
	for tp, p := range w.parts {
		rec.Manifests[tp] = p.manifest()
	}
	if w.cfg.ReadLogBytes {
		if rec.Logs, err = w.readLogs(); err != nil {
			return rec, err
		}
	}
	rec.UsedBytes = w.used
	return rec, nil
}

// manifest describes p's log as recovered: an empty log has one empty
// segment at its end.
func (p *partition) manifest() sm.LogManifest {
	m := sm.LogManifest{TopicID: p.id}
	for _, s := range p.segs {
		m.Segments = append(m.Segments, s.index())
	}
	if len(m.Segments) == 0 {
		m.Segments = []sm.SegmentIndex{{Base: p.next, Next: p.next}}
	}
	return m
}

// readLogs reads every partition's valid bytes (Config.ReadLogBytes).
func (w *WAL) readLogs() (map[sm.TopicPartition][]byte, error) {
	logs := map[sm.TopicPartition][]byte{}
	for tp, p := range w.parts {
		var n int64
		for _, s := range p.segs {
			n += s.size
		}
		log := make([]byte, 0, n)
		for _, s := range p.segs {
			data, err := walfs.ReadFile(w.fs, s.path)
			if err != nil {
				return nil, fmt.Errorf("wal: read segment: %w", err)
			}
			log = append(log, data[:min(int64(len(data)), s.size)]...)
		}
		logs[tp] = log
	}
	return logs, nil
}
