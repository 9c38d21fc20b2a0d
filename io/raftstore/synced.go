package raftstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// The synced-save marker is how Open tells a torn tail from lost state.
// Pebble replays its WAL up to the first record it cannot read and treats
// the rest as a torn write, whether those bytes were synced or not (a
// flipped byte in the middle of the log is indistinguishable, to it, from a
// crash in the middle of a write). Every Save writes its sequence number
// (seqKey) in its batch; after a synced Save returns from pebble, and before
// Save returns to its caller, the number is written and fdatasynced to this
// small file beside pebble's. Nothing a caller acted on is newer than the
// marker, so a store that replays fewer saves than the marker names has
// lost state it acknowledged, and one that replays at least as many lost at
// most a suffix nobody was told about.
//
// The file holds two slots of slotBytes; save n goes to slot n%2, so a torn
// write of one slot leaves the other holding the previous synced save.
// Each slot is magic (4 bytes), the save number (8, little endian) and a
// CRC-32C of the 12 bytes before it.
const (
	slotBytes  = 16
	slotsBytes = 2 * slotBytes
)

// SyncedFile is the synced-save marker's name in the store's directory.
// Deleting it is how an operator accepts the loss Open refused (the store
// then opens with what it replays); nothing else should touch it.
const SyncedFile = "weir-synced"

var (
	slotMagic  = [4]byte{'w', 's', 'y', '1'}
	slotCRCTab = crc32.MakeTable(crc32.Castagnoli)
)

func encodeSlot(n uint64) []byte {
	b := make([]byte, slotBytes)
	copy(b, slotMagic[:])
	binary.LittleEndian.PutUint64(b[4:12], n)
	binary.LittleEndian.PutUint32(b[12:], crc32.Checksum(b[:12], slotCRCTab))
	return b
}

func decodeSlot(b []byte) (uint64, bool) {
	if [4]byte(b[:4]) != slotMagic || binary.LittleEndian.Uint32(b[12:]) != crc32.Checksum(b[:12], slotCRCTab) {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b[4:12]), true
}

// syncedMark is what the marker file says.
type syncedMark struct {
	found  bool   // the file exists
	synced uint64 // the last synced save it records
}

// readSynced reads the marker at path. A missing file is no error (a new
// store, or one written before the marker existed); a file present but
// unreadable is, since it would hide how far the store was synced.
func readSynced(fs vfs.FS, path string) (syncedMark, error) {
	f, err := fs.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return syncedMark{}, nil
	}
	if err != nil {
		return syncedMark{}, fmt.Errorf("synced-save marker %s: %w", path, err)
	}
	defer func() { _ = f.Close() }()
	b := make([]byte, slotsBytes)
	if _, err := io.ReadFull(f, b); err != nil {
		return syncedMark{}, fmt.Errorf("synced-save marker %s: %w (want %d bytes)", path, err, slotsBytes)
	}
	m := syncedMark{found: true}
	valid := false
	for i := range 2 {
		if n, ok := decodeSlot(b[i*slotBytes : (i+1)*slotBytes]); ok {
			m.synced, valid = max(m.synced, n), true
		}
	}
	if !valid {
		return syncedMark{}, fmt.Errorf("synced-save marker %s: both slots are damaged, so how far the store was synced is unknown", path)
	}
	return m, nil
}

// createSynced writes a marker recording save n at path, atomically: a
// temporary file written and synced, renamed into place, and the directory
// synced, so that the marker is either absent or whole.
func createSynced(fs vfs.FS, dir, path string, n uint64) error {
	tmp := path + ".tmp"
	f, err := fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("synced-save marker: %w", err)
	}
	slot := encodeSlot(n)
	_, err = f.Write(append(slot, slot...))
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err == nil {
		err = fs.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(fs, dir)
	}
	if err != nil {
		return fmt.Errorf("synced-save marker %s: %w", path, err)
	}
	return nil
}

func syncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// syncedWriter keeps the marker open for Save.
type syncedWriter struct {
	path string
	f    vfs.File
}

func openSyncedWriter(fs vfs.FS, path string) (*syncedWriter, error) {
	f, err := fs.OpenReadWrite(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, fmt.Errorf("synced-save marker %s: %w", path, err)
	}
	return &syncedWriter{path: path, f: f}, nil
}

// record makes save n, already durable in pebble, the marker's newest: it
// overwrites slot n%2 and fdatasyncs.
func (w *syncedWriter) record(n uint64) error {
	if _, err := w.f.WriteAt(encodeSlot(n), int64(n%2)*slotBytes); err != nil {
		return fmt.Errorf("synced-save marker %s: %w", w.path, err)
	}
	if err := w.f.SyncData(); err != nil {
		return fmt.Errorf("synced-save marker %s: sync: %w", w.path, err)
	}
	return nil
}

func (w *syncedWriter) close() error { return w.f.Close() }
