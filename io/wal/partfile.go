package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/weirmq/weir/sm"
)

// partitionFileName is the file in every partition directory that says which
// log it holds: topic, partition and topic ID. It is written, durably, when
// the directory is created (and when a log written by an older WAL, without
// one, first sees its topic ID), so a deleted and re-created topic's replica
// can never write into, or recover as, the old topic's log.
const partitionFileName = "PARTITION"

// Partition file layout (little endian):
//
//	u32 magic "WPT1"
//	u32 crc     CRC32C of everything after this field
//	u16 version (1)
//	u16 topic length, topic
//	i32 partition
//	[16] topic ID
const (
	partitionMagic   = 0x31545057 // "WPT1"
	partitionVersion = 1
)

// errBadPartitionFile is wrapped by decodePartitionFile for any defect.
var errBadPartitionFile = errors.New("wal: bad PARTITION file")

func encodePartitionFile(tp sm.TopicPartition, id sm.TopicID) []byte {
	buf := binary.LittleEndian.AppendUint32(nil, partitionMagic)
	buf = binary.LittleEndian.AppendUint32(buf, 0)
	buf = binary.LittleEndian.AppendUint16(buf, partitionVersion)
	buf = binary.LittleEndian.AppendUint16(buf, uint16(len(tp.Topic)))
	buf = append(buf, tp.Topic...)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(tp.Partition))
	buf = append(buf, id[:]...)
	binary.LittleEndian.PutUint32(buf[4:], crc32.Checksum(buf[8:], crcTable))
	return buf
}

// decodePartitionFile reads encodePartitionFile's output; anything else is
// errBadPartitionFile.
func decodePartitionFile(buf []byte) (sm.TopicPartition, sm.TopicID, error) {
	bad := func(format string, args ...any) (sm.TopicPartition, sm.TopicID, error) {
		return sm.TopicPartition{}, sm.TopicID{}, fmt.Errorf("%w: %s", errBadPartitionFile, fmt.Sprintf(format, args...))
	}
	if len(buf) < 8+2+2+4+16 {
		return bad("%d bytes", len(buf))
	}
	if m := binary.LittleEndian.Uint32(buf); m != partitionMagic {
		return bad("magic %#x", m)
	}
	if crc32.Checksum(buf[8:], crcTable) != binary.LittleEndian.Uint32(buf[4:]) {
		return bad("checksum mismatch")
	}
	if v := binary.LittleEndian.Uint16(buf[8:]); v != partitionVersion {
		return bad("version %d (this build reads version %d)", v, partitionVersion)
	}
	n := int(binary.LittleEndian.Uint16(buf[10:]))
	if len(buf) != 12+n+4+16 {
		return bad("%d bytes for a topic name of %d", len(buf), n)
	}
	tp := sm.TopicPartition{Topic: string(buf[12 : 12+n]), Partition: int32(binary.LittleEndian.Uint32(buf[12+n:]))}
	var id sm.TopicID
	copy(id[:], buf[12+n+4:])
	return tp, id, nil
}

// makePartitionDir creates p's directory and its PARTITION file, durably,
// before the first segment: the directory's entry in the root and the
// file's in the directory are synced.
func (w *WAL) makePartitionDir(p *partition) error {
	if p.dirMade {
		return nil
	}
	if err := w.fs.Mkdir(p.dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return w.fail(fmt.Errorf("wal: create partition directory for %v: %w", p.tp, err))
	}
	if err := w.writePartitionFile(p, p.id); err != nil {
		return err
	}
	if err := w.syncDirOrRefuse(w.root); err != nil {
		return err // refused: the next operation syncs it again
	}
	p.dirMade = true
	return nil
}

// writePartitionFile (re)writes p's PARTITION file with id, durably: a
// temporary file is written and synced, renamed over the old one, and the
// directory synced, so a crash leaves either file whole.
func (w *WAL) writePartitionFile(p *partition, id sm.TopicID) error {
	path := filepath.Join(p.dir, partitionFileName)
	tmp := path + ".tmp"
	if err := w.writeSmallFile(tmp, encodePartitionFile(p.tp, id)); err != nil {
		return err
	}
	if err := w.fs.Rename(tmp, path); err != nil {
		return w.fail(fmt.Errorf("wal: write %s: %w", path, err))
	}
	if err := w.syncDirOrRefuse(p.dir); err != nil {
		return err
	}
	p.id = id
	return nil
}

// writeSmallFile creates (or replaces) path holding data and fdatasyncs it.
// Running out of space or descriptors refuses the operation after removing
// what it wrote; any other error poisons the WAL.
func (w *WAL) writeSmallFile(path string, data []byte) error {
	f, err := w.fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil && (outOfDescriptors(err) || outOfSpace(err)) {
		return refused("wal: create %s: %v", path, err)
	}
	if err != nil {
		return w.fail(fmt.Errorf("wal: create %s: %w", path, err))
	}
	if err := pwriteFull(f, data, 0, path); err != nil {
		f.Close()
		if outOfSpace(err) {
			if rerr := w.fs.Remove(path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				return w.fail(fmt.Errorf("wal: remove %s after a refused write: %w", path, rerr))
			}
			return refused("%v", err)
		}
		return w.fail(err)
	}
	w.stats.dataSyncs.Add(1)
	if err := fdatasync(f, path); err != nil {
		f.Close()
		return w.fail(err)
	}
	if err := f.Close(); err != nil {
		return w.fail(fmt.Errorf("wal: close %s: %w", path, err))
	}
	return nil
}

// checkTopicID refuses an op naming another topic incarnation than p's log
// (the name was deleted and re-created while this replica missed it). A log
// without an ID (created without one, or by an older WAL) takes the first
// ID an op names, durably.
func (w *WAL) checkTopicID(p *partition, op *sm.LogOp) error {
	zero := sm.TopicID{}
	switch {
	case op.TopicID == zero || op.TopicID == p.id:
		return nil
	case p.id != zero:
		return fmt.Errorf("wal: %v of %v names topic ID %v, but the log on disk belongs to topic ID %v (a deleted incarnation of the topic); delete it first",
			op.Kind, p.tp, op.TopicID, p.id)
	case !p.dirMade:
		p.id = op.TopicID // written with the directory
		return nil
	}
	return w.writePartitionFile(p, op.TopicID)
}

// damagedFileName is the file in a partition directory that records
// corruption at rest a read found (sm.LogDamaged): from offset on, the log's
// bytes cannot be trusted. Open reports the log damaged, cut there, until a
// truncate to the offset or below, a reset or a delete removes the file.
const damagedFileName = "DAMAGED"

// Damaged file layout (little endian):
//
//	u32 magic "WDM1"
//	u32 crc     CRC32C of everything after this field
//	u16 version (1)
//	i64 offset
//	u32 note length, note
const damagedMagic = 0x314d4457 // "WDM1"

// damageRecord is a LogDamaged record.
type damageRecord struct {
	offset sm.Offset
	note   string
}

func encodeDamagedFile(r damageRecord) []byte {
	buf := binary.LittleEndian.AppendUint32(nil, damagedMagic)
	buf = binary.LittleEndian.AppendUint32(buf, 0)
	buf = binary.LittleEndian.AppendUint16(buf, partitionVersion)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(r.offset))
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(r.note)))
	buf = append(buf, r.note...)
	binary.LittleEndian.PutUint32(buf[4:], crc32.Checksum(buf[8:], crcTable))
	return buf
}

// errBadDamagedFile is wrapped by decodeDamagedFile for any defect.
var errBadDamagedFile = errors.New("wal: bad DAMAGED file")

func decodeDamagedFile(buf []byte) (damageRecord, error) {
	bad := func(format string, args ...any) (damageRecord, error) {
		return damageRecord{}, fmt.Errorf("%w: %s", errBadDamagedFile, fmt.Sprintf(format, args...))
	}
	if len(buf) < 8+2+8+4 {
		return bad("%d bytes", len(buf))
	}
	if m := binary.LittleEndian.Uint32(buf); m != damagedMagic {
		return bad("magic %#x", m)
	}
	if crc32.Checksum(buf[8:], crcTable) != binary.LittleEndian.Uint32(buf[4:]) {
		return bad("checksum mismatch")
	}
	if v := binary.LittleEndian.Uint16(buf[8:]); v != partitionVersion {
		return bad("version %d (this build reads version %d)", v, partitionVersion)
	}
	off := int64(binary.LittleEndian.Uint64(buf[10:]))
	n := binary.LittleEndian.Uint32(buf[18:])
	if uint64(len(buf)) != 22+uint64(n) || off < 0 {
		return bad("%d bytes for a note of %d at offset %d", len(buf), n, off)
	}
	return damageRecord{offset: sm.Offset(off), note: string(buf[22:])}, nil
}

// recordDamage executes sm.LogDamaged: the record (the lowest offset
// recorded so far wins) is made durable in the partition directory; the
// segments are left alone.
func (w *WAL) recordDamage(g *group, op *sm.LogOp) error {
	if err := w.flush(g); err != nil {
		return err
	}
	p := w.parts[op.TP]
	if p == nil || !p.dirMade {
		return fmt.Errorf("wal: damage recorded for %v, which has no log", op.TP)
	}
	if err := w.checkTopicID(p, op); err != nil {
		return err
	}
	if op.Offset < 0 || op.Offset > p.next {
		return fmt.Errorf("wal: damage recorded for %v at offset %d, outside its log [%d, %d)", op.TP, op.Offset, p.start(), p.next)
	}
	r := damageRecord{offset: op.Offset, note: op.Note}
	if p.damaged != nil && p.damaged.offset <= r.offset {
		return nil // already damaged from there
	}
	path := filepath.Join(p.dir, damagedFileName)
	if err := w.writeSmallFile(path+".tmp", encodeDamagedFile(r)); err != nil {
		return w.fail(fmt.Errorf("wal: record damage of %v: %v", op.TP, err))
	}
	if err := w.fs.Rename(path+".tmp", path); err != nil {
		return w.fail(fmt.Errorf("wal: record damage of %v: %w", op.TP, err))
	}
	if err := w.syncDir(p.dir); err != nil {
		return err
	}
	p.damaged = &r
	return nil
}

// clearDamage removes p's damage record, durably, once the bytes it
// describes are gone (a truncate to its offset or below, a reset).
func (w *WAL) clearDamage(p *partition) error {
	if p.damaged == nil {
		return nil
	}
	if err := w.fs.Remove(filepath.Join(p.dir, damagedFileName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return w.fail(fmt.Errorf("wal: clear the damage record of %v: %w", p.tp, err))
	}
	if err := w.syncDir(p.dir); err != nil {
		return err
	}
	p.damaged = nil
	return nil
}
