package sim

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"maps"
	"slices"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/weirmq/weir/sm"
)

// Disk is one node's simulated disk: named files whose contents are volatile
// until synced. It models what a real disk does to a process that crashes: a
// write (or truncate) that reached the page cache but not stable storage may
// survive entirely, partially (a torn tail, possibly with garbage), or not at
// all. Synced bytes always survive.
//
// Files are written with the same byte formats the production stores use for
// partition logs (sm.EncodeBatch frames), so recovery runs the real decoder.
type Disk struct {
	files map[string]*file
	// logs are the partition logs' directories (disklog.go), by walFile.
	logs map[string]*plog
	// Used and Capacity in bytes; writes past Capacity fail with "disk full".
	capacity int64
}

type file struct {
	content []byte // what a read returns now (page cache)
	durable []byte // what survives a crash
	// mark is the production WAL's sync-ledger mark for the file: how many
	// bytes a completed sync acknowledged. It survives crashes — the ledger
	// is honest even when the data device lies about fsync (lieSync) — so
	// recovery reports a log holding less than its mark as damaged instead
	// of passing the loss off as a torn tail.
	mark int
}

func newDisk(capacity int64) *Disk {
	return &Disk{files: map[string]*file{}, logs: map[string]*plog{}, capacity: capacity}
}

// syncedCopy is a new disk holding what d has synced: a snapshot of the
// volume as stable storage holds it, for a replacement process.
func (d *Disk) syncedCopy() *Disk {
	c := newDisk(d.capacity)
	for name, f := range d.files {
		c.files[name] = &file{content: slices.Clone(f.durable), durable: slices.Clone(f.durable), mark: f.mark}
	}
	for key, l := range d.logs {
		if len(l.durSegs) > 0 {
			c.logs[key] = l.syncedCopy()
		}
	}
	return c
}

func (d *Disk) used() int64 {
	var n int64
	for _, f := range d.files {
		n += int64(max(len(f.content), len(f.durable)))
	}
	for _, l := range d.logs {
		n += l.used()
	}
	return n
}

func (d *Disk) get(name string) *file {
	f := d.files[name]
	if f == nil {
		f = &file{}
		d.files[name] = f
	}
	return f
}

const raftFile = "raft"

// lostMarker is the file a broker's empty disk gets at start (see
// host.start): a lost disk stays reported as lost until a start registers.
const lostMarker = "LOST_DISK"

// incarnationFile stands for the production INCARNATION file: a disk without
// it has never held a broker.
const incarnationFile = "INCARNATION"

// applyRaft appends a raft save to the raft file's page cache. A full disk
// is an I/O error for the raft store (pebble cannot refuse a save cleanly).
// A save with a snapshot compacts the file, as io/raftstore's range
// deletion does: the page cache then holds one record, the state after the
// save (snapshot, hard state, the entries after the snapshot). Like any
// rewrite that is not an append, a crash before the next sync keeps either
// all of it or the synced file (crash), both states the raft store may
// recover to: the saves through the last synced one, and maybe later ones.
func (d *Disk) applyRaft(s sm.RaftSave) (errText string) {
	data := encodeRaftRecord(s.Snapshot, s.HardState, s.Entries)
	f := d.get(raftFile)
	if s.Snapshot != nil {
		hs, snap, ents, _, err := decodeRaftLog(append(slices.Clip(f.content), data...))
		if err != nil {
			return fmt.Sprintf("sim: raft file: %v", err)
		}
		data = encodeRaftRecord(snap, hs, ents)
		if d.capacity > 0 && d.used()-int64(len(f.content))+int64(len(data)) > d.capacity {
			return "disk full (ENOSPC)"
		}
		f.content = data
		return ""
	}
	if d.capacity > 0 && d.used()+int64(len(data)) > d.capacity {
		return "disk full (ENOSPC)"
	}
	f.content = append(f.content, data...)
	return ""
}

// frameBase reads the base offset of the first batch frame in data (layout
// in sm/batch.go: u32 length, u32 crc, i64 base offset, ...).
func frameBase(data []byte) sm.Offset {
	if len(data) < 16 {
		return -1
	}
	return sm.Offset(binary.LittleEndian.Uint64(data[8:]))
}

// sync makes a file's current contents durable, as fsync does: everything
// written to it so far, not only one operation's bytes. For a partition log
// (a walFile name) it syncs every file of the log and its directory.
func (d *Disk) sync(name string) {
	if l := d.logs[name]; l != nil {
		l.sync(false)
	} else if f := d.files[name]; f != nil {
		f.sync()
	}
}

// lieSync is a sync the device acknowledges without making appended data
// durable (file.lieSync); index files and the directory are synced for real.
func (d *Disk) lieSync(name string) {
	if l := d.logs[name]; l != nil {
		l.sync(true)
	} else if f := d.files[name]; f != nil {
		f.lieSync()
	}
}

// validFrames is the length of buf's prefix of whole, valid batch frames.
func validFrames(buf []byte) int {
	pos := 0
	for pos < len(buf) {
		_, n, err := sm.DecodeBatch(buf[pos:])
		if err != nil {
			break
		}
		pos += n
	}
	return pos
}

// truncatePos finds the byte position of the first frame at or after offset.
func truncatePos(buf []byte, offset sm.Offset) (int, string) {
	pos := 0
	for pos < len(buf) {
		b, n, err := sm.DecodeBatch(buf[pos:])
		if err != nil {
			return pos, "" // a torn or corrupt tail: the cut removes it too
		}
		if b.BaseOffset >= offset {
			return pos, ""
		}
		if b.NextOffset() > offset {
			return 0, fmt.Sprintf("truncate to offset %d: inside batch [%d,%d)", offset, b.BaseOffset, b.NextOffset())
		}
		pos += n
	}
	return pos, ""
}

// crash returns the disk as a restarted process finds it. For each file the
// synced bytes survive; of the unsynced change, rng decides whether none, all
// or a torn prefix survives, and torn tails may carry garbage (file.crash;
// partition logs: plog.crash).
func (d *Disk) crash(r *rng, tear bool) (torn int) {
	names := slices.Collect(maps.Keys(d.files))
	names = slices.AppendSeq(names, maps.Keys(d.logs))
	slices.Sort(names)
	for _, name := range names {
		if l := d.logs[name]; l != nil {
			torn += l.crash(r, tear)
			if len(l.segs) == 0 {
				delete(d.logs, name) // its creation never reached the disk
			}
		} else {
			torn += d.files[name].crash(r, tear, nil)
		}
	}
	return torn
}

// byteRecovery is the disk read back with partition logs as bytes: the
// raft state, the damage found, and each log merged into one byte string.
// Tests compare disks by it; nodes start from recoverManifests.
type byteRecovery struct {
	sm.Durable
	Logs map[sm.TopicPartition][]byte
}

// recover reads the disk back with its partition logs as bytes.
func (d *Disk) recover() (byteRecovery, error) {
	dur, err := d.recoverRaft()
	out := byteRecovery{Durable: dur}
	if err != nil {
		return out, err
	}
	d.recoverLogBytes(&out)
	return out, nil
}

// recoverRaft reads the raft state (a node starting from manifests takes
// its partition logs from recoverManifests).
func (d *Disk) recoverRaft() (sm.Durable, error) {
	var out sm.Durable
	for _, name := range slices.Sorted(maps.Keys(d.files)) {
		f := d.files[name]
		if name == raftFile {
			hs, snap, ents, valid, err := decodeRaftLog(f.content)
			if err != nil {
				return out, err
			}
			// Opening the raft store cuts a torn tail (and syncs the cut),
			// as pebble's WAL recovery does; later records must not land
			// behind garbage that hides them from the next recovery.
			f.content = f.content[:valid:valid]
			f.durable = slices.Clone(f.content)
			out.HardState, out.Snapshot, out.Entries = hs, snap, ents
			continue
		}
	}
	return out, nil
}

// recoverLogBytes reads the partition logs back as bytes.
func (d *Disk) recoverLogBytes(out *byteRecovery) {
	out.Logs = map[sm.TopicPartition][]byte{}
	for _, key := range slices.Sorted(maps.Keys(d.logs)) {
		l := d.logs[key]
		l.collapse()
		l.forgetTopicID()
		data, damaged := l.recoverBytes()
		if damaged != "" {
			if out.Damaged == nil {
				out.Damaged = map[sm.TopicPartition]string{}
			}
			out.Damaged[l.tp] = damaged
		}
		out.Logs[l.tp] = data
	}
}

// Raft records: u32 len, u32 crc32c, then u32 snapLen, snapshot proto, u32
// hsLen, hs proto, u32 count, count × (u32 len, entry proto). A torn or
// corrupt tail ends the log.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func encodeRaftRecord(snap *pb.Snapshot, hs *pb.HardState, ents []*pb.Entry) []byte {
	mo := proto.MarshalOptions{Deterministic: true}
	var body []byte
	var hsb, snapb []byte
	if snap != nil {
		snapb, _ = mo.Marshal(snap)
	}
	body = binary.LittleEndian.AppendUint32(body, uint32(len(snapb)))
	body = append(body, snapb...)
	if hs != nil {
		hsb, _ = mo.Marshal(hs)
	}
	body = binary.LittleEndian.AppendUint32(body, uint32(len(hsb)))
	body = append(body, hsb...)
	body = binary.LittleEndian.AppendUint32(body, uint32(len(ents)))
	for _, e := range ents {
		eb, _ := mo.Marshal(e)
		body = binary.LittleEndian.AppendUint32(body, uint32(len(eb)))
		body = append(body, eb...)
	}
	out := binary.LittleEndian.AppendUint32(nil, uint32(len(body)))
	out = binary.LittleEndian.AppendUint32(out, crc32.Checksum(body, castagnoli))
	return append(out, body...)
}

// decodeRaftLog replays the raft file's records with io/raftstore's rules
// (sm.RaftSave): a snapshot replaces the stored one and drops the entries
// at or below its index — all of them unless the log holds the snapshot's
// last entry —, a non-empty hard state replaces the stored one, and an
// entry at index i replaces everything from i on.
func decodeRaftLog(buf []byte) (hs *pb.HardState, snap *pb.Snapshot, ents []*pb.Entry, valid int, err error) {
	for len(buf[valid:]) >= 8 {
		buf := buf[valid:]
		n := binary.LittleEndian.Uint32(buf)
		if uint64(len(buf)-8) < uint64(n) {
			break // torn tail
		}
		body := buf[8 : 8+n]
		if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(buf[4:]) {
			break // corrupt tail
		}
		valid += 8 + int(n)
		sn, h, es, err := decodeRaftBody(body)
		if err != nil {
			return nil, nil, nil, 0, err
		}
		if sn != nil {
			idx, term := sn.GetMetadata().GetIndex(), sn.GetMetadata().GetTerm()
			keep := slices.ContainsFunc(ents, func(e *pb.Entry) bool { return e.GetIndex() == idx && e.GetTerm() == term })
			ents = slices.DeleteFunc(ents, func(e *pb.Entry) bool { return !keep || e.GetIndex() <= idx })
			snap = sn
		}
		if h != nil {
			hs = h
		}
		for _, e := range es {
			// An entry at index i replaces everything from i on.
			for len(ents) > 0 && ents[len(ents)-1].GetIndex() >= e.GetIndex() {
				ents = ents[:len(ents)-1]
			}
			ents = append(ents, e)
		}
	}
	return hs, snap, ents, valid, nil
}

func decodeRaftBody(body []byte) (*pb.Snapshot, *pb.HardState, []*pb.Entry, error) {
	take := func() ([]byte, bool) {
		if len(body) < 4 {
			return nil, false
		}
		n := binary.LittleEndian.Uint32(body)
		if uint64(len(body)-4) < uint64(n) {
			return nil, false
		}
		v := body[4 : 4+n]
		body = body[4+n:]
		return v, true
	}
	snapb, ok := take()
	if !ok {
		return nil, nil, nil, fmt.Errorf("sim: raft record: short snapshot")
	}
	var snap *pb.Snapshot
	if len(snapb) > 0 {
		snap = &pb.Snapshot{}
		if err := proto.Unmarshal(snapb, snap); err != nil {
			return nil, nil, nil, fmt.Errorf("sim: raft record: %w", err)
		}
	}
	hsb, ok := take()
	if !ok {
		return nil, nil, nil, fmt.Errorf("sim: raft record: short hard state")
	}
	var hs *pb.HardState
	if len(hsb) > 0 {
		hs = &pb.HardState{}
		if err := proto.Unmarshal(hsb, hs); err != nil {
			return nil, nil, nil, fmt.Errorf("sim: raft record: %w", err)
		}
	}
	if len(body) < 4 {
		return nil, nil, nil, fmt.Errorf("sim: raft record: short count")
	}
	count := binary.LittleEndian.Uint32(body)
	body = body[4:]
	ents := make([]*pb.Entry, 0, count)
	for range count {
		eb, ok := take()
		if !ok {
			return nil, nil, nil, fmt.Errorf("sim: raft record: short entry")
		}
		e := &pb.Entry{}
		if err := proto.Unmarshal(eb, e); err != nil {
			return nil, nil, nil, fmt.Errorf("sim: raft record: %w", err)
		}
		ents = append(ents, e)
	}
	return snap, hs, ents, nil
}
