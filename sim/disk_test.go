package sim

import (
	"bytes"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/weirmq/weir/sm"
)

var tpA = sm.TopicPartition{Topic: "a", Partition: 0}

func frame(off sm.Offset, v string) []byte {
	b := sm.Batch{BaseOffset: off, Epoch: 1, Records: []sm.Record{{Value: []byte(v)}}}
	b.Seal()
	return sm.EncodeBatch(nil, &b)
}

// Synced bytes survive a crash; unsynced bytes never do without tearing.
func TestDiskCrashKeepsSyncedOnly(t *testing.T) {
	d := newDisk(0)
	d.applyLog(sm.LogOp{Kind: sm.LogAppend, TP: tpA, Data: frame(0, "x")})
	d.sync(walFile(tpA))
	d.applyLog(sm.LogOp{Kind: sm.LogAppend, TP: tpA, Data: frame(1, "y")})
	d.crash(newRNG(1), false)
	got, err := d.recover()
	if err != nil {
		t.Fatal(err)
	}
	bs, _, err := sm.DecodeLog(got.Logs[tpA])
	if err != nil || len(bs) != 1 || string(bs[0].Records[0].Value) != "x" {
		t.Fatalf("after crash: %d batches, %v", len(bs), err)
	}
}

// A torn crash keeps the synced prefix and at most a prefix of the rest,
// which the decoder stops at; over many seeds every outcome occurs.
func TestDiskTornCrash(t *testing.T) {
	outcomes := map[string]bool{}
	for seed := uint64(1); seed <= 200; seed++ {
		d := newDisk(0)
		d.applyLog(sm.LogOp{Kind: sm.LogAppend, TP: tpA, Data: frame(0, "x")})
		d.sync(walFile(tpA))
		d.applyLog(sm.LogOp{Kind: sm.LogAppend, TP: tpA, Data: frame(1, "yyyyyyyy")})
		torn := d.crash(newRNG(seed), true)
		got, _ := d.recover()
		bs, _, err := sm.DecodeLog(got.Logs[tpA])
		if len(bs) == 0 || string(bs[0].Records[0].Value) != "x" {
			t.Fatalf("seed %d: synced batch lost", seed)
		}
		switch {
		case torn > 0 && err != nil && len(bs) == 1:
			outcomes["torn"] = true
		case err == nil && len(bs) == 2:
			outcomes["all"] = true
		case err == nil && len(bs) == 1:
			outcomes["none"] = true
		default:
			t.Fatalf("seed %d: torn=%d batches=%d err=%v", seed, torn, len(bs), err)
		}
	}
	if len(outcomes) != 3 {
		t.Fatalf("outcomes %v, want torn, all and none", outcomes)
	}
}

// Recovery of the raft store cuts a torn record so that records written
// after the restart are not hidden behind it at the next recovery.
func TestRaftStoreCutsTornTail(t *testing.T) {
	d := newDisk(0)
	ent := func(i uint64) []*pb.Entry { return []*pb.Entry{{Index: new(i), Term: new(uint64(1))}} }
	d.applyRaft(sm.RaftSave{Entries: ent(2)})
	d.sync(raftFile)
	f := d.files[raftFile]
	torn := encodeRaftRecord(nil, nil, ent(3))
	f.content = append(f.content, torn[:len(torn)-3]...)
	f.durable = append([]byte(nil), f.content...)
	if got, _ := d.recover(); len(got.Entries) != 1 {
		t.Fatalf("first recovery: %d entries", len(got.Entries))
	}
	_ = d.applyRaft(sm.RaftSave{Entries: ent(3)})
	d.sync(raftFile)
	got, err := d.recover()
	if err != nil || len(got.Entries) != 2 || got.Entries[1].GetIndex() != 3 {
		t.Fatalf("second recovery: %d entries, %v", len(got.Entries), err)
	}
}

// A disk at capacity refuses appends with ENOSPC and writes nothing, as the
// production WAL does; an append that continues a refused one is refused
// too, and once there is space the refused offset is written again.
func TestDiskFull(t *testing.T) {
	d := newDisk(10)
	if err, refused := d.applyLog(sm.LogOp{Kind: sm.LogAppend, TP: tpA, Data: frame(0, "x")}); err == "" || !refused {
		t.Fatalf("append over capacity: %q refused=%v", err, refused)
	}
	if d.used() != 0 {
		t.Fatalf("used %d after a refused append", d.used())
	}
	d.capacity = 1 << 20
	if err, refused := d.applyLog(sm.LogOp{Kind: sm.LogAppend, TP: tpA, Data: frame(1, "y")}); err == "" || !refused {
		t.Fatalf("append continuing a refused one: %q refused=%v", err, refused)
	}
	if err, _ := d.applyLog(sm.LogOp{Kind: sm.LogAppend, TP: tpA, Data: frame(0, "x")}); err != "" {
		t.Fatalf("append at the refused offset once there is space: %q", err)
	}
}

// The simulated raft store's durability per save is the real store's: one
// append-only log whose fsync covers everything written before it (pebble
// syncs its WAL file, so a synced save makes earlier unsynced saves durable
// too), and an unsynced save alone does not survive a crash.
func TestRaftStoreDurabilityPerSave(t *testing.T) {
	ent := func(i uint64) []*pb.Entry { return []*pb.Entry{{Index: new(i), Term: new(uint64(1))}} }
	d := newDisk(0)
	_ = d.applyRaft(sm.RaftSave{Entries: ent(2)}) // unsynced
	d.crash(newRNG(1), false)
	if got, _ := d.recover(); len(got.Entries) != 0 {
		t.Fatalf("an unsynced save survived a crash: %d entries", len(got.Entries))
	}
	_ = d.applyRaft(sm.RaftSave{Entries: ent(2)})             // unsynced
	_ = d.applyRaft(sm.RaftSave{Entries: ent(3), Sync: true}) // synced: covers both
	d.sync(raftFile)
	d.crash(newRNG(1), true)
	if got, _ := d.recover(); len(got.Entries) != 2 {
		t.Fatalf("after a synced save %d entries survived, want 2", len(got.Entries))
	}
}

// A crash damages only the unsynced range, and anywhere in it: sometimes a
// torn prefix, sometimes a whole write of the right length with a bad byte
// in the middle, never a synced byte.
func TestCrashDamagesAnywhereUnsynced(t *testing.T) {
	var midCorrupt, fullCorrupt bool
	for seed := uint64(1); seed <= 400; seed++ {
		d := newDisk(0)
		d.applyLog(sm.LogOp{Kind: sm.LogAppend, TP: tpA, Data: frame(0, "synced")})
		d.sync(walFile(tpA))
		synced := slices.Clone(d.logs[walFile(tpA)].last().data.content)
		extra := frame(1, "unsynced-value-with-some-length")
		d.applyLog(sm.LogOp{Kind: sm.LogAppend, TP: tpA, Data: extra})
		d.crash(newRNG(seed), true)
		got := d.logs[walFile(tpA)].last().data.content
		if !bytes.Equal(got[:len(synced)], synced) {
			t.Fatalf("seed %d: a synced byte changed", seed)
		}
		tail := got[len(synced):]
		for i := range tail {
			if tail[i] != extra[i] && i < len(tail)-1 {
				midCorrupt = true
			}
		}
		if len(tail) == len(extra) && !bytes.Equal(tail, extra) {
			fullCorrupt = true
		}
	}
	if !midCorrupt || !fullCorrupt {
		t.Fatalf("damage before the last byte %v, full-length write with a bad byte %v: want both", midCorrupt, fullCorrupt)
	}
}

// ---- segments ----------------------------------------------------------------

var idA = sm.TopicID{1}

// batchAt is a frame of n records from off, epoch 1, timestamped ts.
func batchAt(off sm.Offset, n int, ts int64) []byte {
	b := sm.Batch{BaseOffset: off, Epoch: 1, Timestamp: ts}
	for i := range n {
		b.Records = append(b.Records, sm.Record{Value: []byte(fmt.Sprintf("v%04d", int(off)+i))})
	}
	b.Seal()
	return sm.EncodeBatch(nil, &b)
}

// mustApply applies op and fails on an error.
func mustApply(t *testing.T, d *Disk, op sm.LogOp) {
	t.Helper()
	op.TP = tpA
	if op.TopicID == (sm.TopicID{}) {
		op.TopicID = idA
	}
	if err, _ := d.applyLog(op); err != "" {
		t.Fatalf("%v at %d: %s", op.Kind, op.Offset, err)
	}
}

func appendAt(t *testing.T, d *Disk, off sm.Offset, n int) {
	t.Helper()
	mustApply(t, d, sm.LogOp{Kind: sm.LogAppend, Data: batchAt(off, n, int64(off))})
}

// rollAt seals the active segment and appends a batch of n records at off
// into a new one (an append with Roll).
func rollAt(t *testing.T, d *Disk, off sm.Offset, n int) {
	t.Helper()
	mustApply(t, d, sm.LogOp{Kind: sm.LogAppend, Roll: true, Data: batchAt(off, n, int64(off))})
}

func manifestOf(t *testing.T, d *Disk) (sm.LogManifest, map[sm.TopicPartition]string, logRecovery) {
	t.Helper()
	ms, damaged, st, err := d.recoverManifests()
	if err != nil {
		t.Fatal(err)
	}
	return ms[tpA], damaged, st
}

func bounds(m sm.LogManifest) string {
	var b strings.Builder
	for _, s := range m.Segments {
		fmt.Fprintf(&b, "[%d,%d)", s.Base, s.Next)
		if s.Sealed {
			b.WriteString("s")
		}
	}
	return b.String()
}

// The segment model applies every LogOp kind with the production semantics
// and recovers the manifest the state machine built: rolls seal segments
// with their index files, a trim drops whole sealed segments from the front,
// a truncation into a sealed segment makes it active again, a reset starts
// over at an offset, and the manifest's indexes are IndexBuilder's.
func TestDiskSegmentOps(t *testing.T) {
	d := newDisk(0)
	appendAt(t, d, 0, 3)
	appendAt(t, d, 3, 2)
	rollAt(t, d, 5, 5)
	rollAt(t, d, 10, 1)
	d.sync(walFile(tpA))
	m, damaged, st := manifestOf(t, d)
	if bounds(m) != "[0,5)s[5,10)s[10,11)" || damaged != nil || st.indexesRebuilt != 0 || m.TopicID != idA {
		t.Fatalf("after rolls: %s damaged=%v %+v id=%v", bounds(m), damaged, st, m.TopicID)
	}
	want, _ := sm.ScanSegment(slices.Concat(batchAt(0, 3, 0), batchAt(3, 2, 3)), 0, 0)
	want.Sealed = true
	if got := m.Segments[0]; !reflect.DeepEqual(got, want) {
		t.Fatalf("index of segment 0:\n got %+v\nwant %+v", got, want)
	}

	// A roll must be at the log end; an empty active segment cannot roll.
	for _, off := range []sm.Offset{10, 12} {
		if err, _ := d.applyLog(sm.LogOp{Kind: sm.LogAppend, Roll: true, TP: tpA, Data: batchAt(off, 1, 0)}); err == "" {
			t.Fatalf("roll at %d with the log ending at 11 accepted", off)
		}
	}
	e := newDisk(0)
	mustApply(t, e, sm.LogOp{Kind: sm.LogReset, Offset: 4})
	if err, _ := e.applyLog(sm.LogOp{Kind: sm.LogAppend, Roll: true, TP: tpA, Data: batchAt(4, 1, 0)}); err == "" {
		t.Fatal("roll of an empty active segment accepted")
	}
	// An append must start at the log end.
	if err, _ := d.applyLog(sm.LogOp{Kind: sm.LogAppend, TP: tpA, Data: batchAt(12, 1, 0)}); err == "" {
		t.Fatal("append at 12 with the log ending at 11 accepted")
	}
	// Another topic's ID is refused; none (zero) is not.
	if err, _ := d.applyLog(sm.LogOp{Kind: sm.LogAppend, TP: tpA, TopicID: sm.TopicID{2}, Data: batchAt(11, 1, 0)}); err == "" {
		t.Fatal("append naming another topic ID accepted")
	}
	if err, _ := d.applyLog(sm.LogOp{Kind: sm.LogAppend, TP: tpA, Data: batchAt(11, 1, 0)}); err != "" {
		t.Fatalf("append without a topic ID: %s", err)
	}

	// Truncating into a sealed segment drops the later ones and makes it
	// active, without its index; a cut inside a batch is refused.
	if err, _ := d.applyLog(sm.LogOp{Kind: sm.LogTruncate, TP: tpA, Offset: 6}); err == "" {
		t.Fatal("truncate inside batch [5,10) accepted")
	}
	mustApply(t, d, sm.LogOp{Kind: sm.LogTruncate, Offset: 3})
	d.sync(walFile(tpA))
	if m, _, _ := manifestOf(t, d); bounds(m) != "[0,3)" {
		t.Fatalf("after truncate to 3: %s", bounds(m))
	}
	if l := d.logs[walFile(tpA)]; len(l.segs) != 1 || len(l.segs[0].index.content) != 0 {
		t.Fatalf("truncated segment: %d segments, index %d bytes", len(l.segs), len(l.segs[0].index.content))
	}
	appendAt(t, d, 3, 2)
	rollAt(t, d, 5, 5)
	rollAt(t, d, 10, 1)

	// Trim to a segment base; not to an offset inside one.
	if err, _ := d.applyLog(sm.LogOp{Kind: sm.LogTrim, TP: tpA, Offset: 7}); err == "" {
		t.Fatal("trim to offset 7, not a segment base, accepted")
	}
	mustApply(t, d, sm.LogOp{Kind: sm.LogTrim, Offset: 5})
	d.sync(walFile(tpA))
	if m, _, _ := manifestOf(t, d); bounds(m) != "[5,10)s[10,11)" {
		t.Fatalf("after trim: %s", bounds(m))
	}
	// Truncating to a segment's base leaves it empty and active.
	mustApply(t, d, sm.LogOp{Kind: sm.LogTruncate, Offset: 5})
	d.sync(walFile(tpA))
	if m, _, _ := manifestOf(t, d); bounds(m) != "[5,5)" {
		t.Fatalf("after truncate to 5: %s", bounds(m))
	}
	appendAt(t, d, 5, 2)

	// A reset starts the log empty at an offset; a delete removes it.
	mustApply(t, d, sm.LogOp{Kind: sm.LogReset, Offset: 100})
	appendAt(t, d, 100, 1)
	d.sync(walFile(tpA))
	if m, _, _ := manifestOf(t, d); bounds(m) != "[100,101)" {
		t.Fatalf("after reset: %s", bounds(m))
	}
	mustApply(t, d, sm.LogOp{Kind: sm.LogDelete})
	if ms, _, _, _ := d.recoverManifests(); len(ms) != 0 {
		t.Fatalf("after delete: %v", ms)
	}
	// A reset creates a log with its topic ID.
	mustApply(t, d, sm.LogOp{Kind: sm.LogReset, Offset: 7, TopicID: sm.TopicID{9}})
	d.sync(walFile(tpA))
	if m, _, _ := manifestOf(t, d); bounds(m) != "[7,7)" || m.TopicID != (sm.TopicID{9}) {
		t.Fatalf("after reset of no log: %s %v", bounds(m), m.TopicID)
	}
}

// rolled is a synced disk holding tpA as [0,5) [5,10) sealed and [10,12)
// active.
func rolled(t *testing.T) *Disk {
	d := newDisk(0)
	appendAt(t, d, 0, 3)
	appendAt(t, d, 3, 2)
	rollAt(t, d, 5, 5)
	rollAt(t, d, 10, 2)
	d.sync(walFile(tpA))
	return d
}

// An index file that is missing, cut short, corrupt, or that disagrees with
// its segment's length is rebuilt from the segment: the same index, counted,
// and written back so the next start reads it.
func TestDiskIndexRebuilt(t *testing.T) {
	ref, _, _ := manifestOf(t, rolled(t))
	damage := map[string]func(segs []*segment){
		"deleted":   func(segs []*segment) { segs[1].index = file{} },
		"cut short": func(segs []*segment) { b := segs[1].index.durable[:20]; segs[1].index = file{content: b, durable: b} },
		"bit flip": func(segs []*segment) {
			b := slices.Clone(segs[1].index.durable)
			b[30] ^= 4
			segs[1].index = file{content: b, durable: b}
		},
		"another segment's": func(segs []*segment) { segs[1].index = segs[0].index },
	}
	for _, name := range slices.Sorted(maps.Keys(damage)) {
		t.Run(name, func(t *testing.T) {
			d := rolled(t)
			damage[name](d.logs[walFile(tpA)].segs)
			d.crash(newRNG(1), false)
			m, damaged, st := manifestOf(t, d)
			if !reflect.DeepEqual(m, ref) || damaged != nil || st.indexesRebuilt != 1 {
				t.Fatalf("manifest %s damaged=%v %+v, want %s rebuilt once", bounds(m), damaged, st, bounds(ref))
			}
			if _, _, st := manifestOf(t, d); st.indexesRebuilt != 0 {
				t.Fatal("the rebuilt index was not written back")
			}
		})
	}
}

// Recovery cuts a torn tail beyond the active segment's sync mark (and the
// cut is durable), but reports bytes below a mark that are gone or corrupt —
// in the active segment or a sealed one (a scan of it finds the damage) —
// as damage naming the file and byte, with the valid prefix as the
// manifest and nothing cut.
func TestDiskRecoveryTornAndDamaged(t *testing.T) {
	d := rolled(t)
	l := d.logs[walFile(tpA)]
	a := l.last()
	whole := len(a.data.content)
	a.data.content = append(slices.Clip(a.data.content), batchAt(12, 1, 0)[:9]...) // torn, unsynced
	m, damaged, st := manifestOf(t, d)
	if m.End() != 12 || damaged != nil || st.tornCut != 1 || len(a.data.content) != whole || len(a.data.durable) != whole {
		t.Fatalf("torn tail: end %d damaged=%v %+v, file %d/%d bytes", m.End(), damaged, st, len(a.data.content), len(a.data.durable))
	}

	// A corrupt byte below the active segment's mark.
	d = rolled(t)
	a = d.logs[walFile(tpA)].last()
	second := len(batchAt(10, 2, 10)) - 3
	a.data.content = slices.Clone(a.data.content)
	a.data.content[second] ^= 1
	m, damaged, _ = manifestOf(t, d)
	want := fmt.Sprintf("%s: byte 0:", segmentFile(tpA, 10))
	if m.End() != 10 || !strings.HasPrefix(damaged[tpA], want) || len(a.data.content) != len(a.data.durable) {
		t.Fatalf("corrupt active segment: end %d damaged=%q (want prefix %q)", m.End(), damaged[tpA], want)
	}

	// A bit flipped at rest in a sealed segment whose index is gone: the
	// rebuild scans it and finds the damage at the flipped frame.
	d = rolled(t)
	s := d.logs[walFile(tpA)].segs[0]
	pos := len(batchAt(0, 3, 0)) + 12
	s.flipBit(pos, 3)
	s.index = file{}
	m, damaged, _ = manifestOf(t, d)
	want = fmt.Sprintf("%s: byte %d:", segmentFile(tpA, 0), len(batchAt(0, 3, 0)))
	if bounds(m) != "[0,3)" || !strings.HasPrefix(damaged[tpA], want) {
		t.Fatalf("flipped sealed segment: %s damaged=%q (want prefix %q)", bounds(m), damaged[tpA], want)
	}
	// The byte recovery the broker takes today reports it too.
	if got, _ := d.recover(); !strings.HasPrefix(got.Damaged[tpA], want) {
		t.Fatalf("byte recovery: damaged=%q", got.Damaged[tpA])
	}

	// Synced data lost by a lying device: the active segment holds less
	// than its mark.
	d = rolled(t)
	a = d.logs[walFile(tpA)].last()
	appendAt(t, d, 12, 1)
	d.lieSync(walFile(tpA))
	d.crash(newRNG(1), false)
	if _, damaged, _ = manifestOf(t, d); !strings.HasPrefix(damaged[tpA], segmentFile(tpA, 10)) {
		t.Fatalf("lost sync: damaged=%q", damaged[tpA])
	}
}

// A roll that had not completed at a crash either reached the disk — the
// sealed segment durable in full with its index, the next one created — or
// did not, and the segment it was sealing is the active one again, its
// unsynced tail subject to the crash rule. Either way recovery finds no
// damage, and every segment of the manifest decodes whole.
func TestDiskRollCrash(t *testing.T) {
	outcomes := map[string]bool{}
	for seed := uint64(1); seed <= 400; seed++ {
		d := newDisk(0)
		appendAt(t, d, 0, 3)
		d.sync(walFile(tpA))
		appendAt(t, d, 3, 4)
		rollAt(t, d, 7, 1)
		d.crash(newRNG(seed), true)
		m, damaged, _ := manifestOf(t, d)
		if damaged != nil || m.End() < 3 {
			t.Fatalf("seed %d: %s damaged=%v", seed, bounds(m), damaged)
		}
		switch bounds(m) {
		case "[0,3)", "[0,7)", "[0,7)s[7,7)", "[0,7)s[7,8)":
		default:
			t.Fatalf("seed %d: %s", seed, bounds(m))
		}
		for _, s := range m.Segments {
			seg := d.logs[walFile(tpA)].findSegment(s.Base)
			if _, n, err := sm.DecodeLog(seg.data.content); err != nil || int64(n) != s.Bytes {
				t.Fatalf("seed %d: segment %d: %d of its %d bytes decode: %v", seed, s.Base, n, s.Bytes, err)
			}
		}
		outcomes[bounds(m)] = true
	}
	if len(outcomes) != 4 {
		t.Fatalf("outcomes %v, want all four", outcomes)
	}
}

// Random operations — appends, rolls, trims, truncations, resets — with
// syncs and torn crashes: recovery never errs or reports damage (no device
// lies here), every record it recovers is one that was written at its
// offset, and nothing synced is lost.
func TestDiskSegmentsCrashProperty(t *testing.T) {
	for seed := uint64(1); seed <= 400; seed++ {
		r := newRNG(seed)
		d := newDisk(0)
		written := map[sm.Offset]map[string]bool{}
		var end sm.Offset
		var bases []sm.Offset // batch bases in the page cache
		syncedEnd, pending := sm.Offset(0), false
		write := 0
		for step := 0; step < 60; step++ {
			op := sm.LogOp{TP: tpA, TopicID: idA}
			l := d.logs[walFile(tpA)]
			switch k := r.intn(14); {
			case k < 8:
				if k >= 6 { // a roll, with the append it rides on
					if l == nil || l.last().base == end {
						continue
					}
					op.Roll, pending = true, true
				}
				n := 1 + r.intn(3)
				b := sm.Batch{BaseOffset: end, Epoch: 1}
				for i := range n {
					write++
					v := fmt.Sprintf("w%d", write)
					b.Records = append(b.Records, sm.Record{Value: []byte(v)})
					if written[end+sm.Offset(i)] == nil {
						written[end+sm.Offset(i)] = map[string]bool{}
					}
					written[end+sm.Offset(i)][v] = true
				}
				b.Seal()
				op.Kind, op.Data = sm.LogAppend, sm.EncodeBatch(nil, &b)
				bases = append(bases, end)
				end += sm.Offset(n)
			case k == 8:
				if l == nil || len(l.segs) < 2 {
					continue
				}
				op.Kind, op.Offset, pending = sm.LogTrim, l.segs[1+r.intn(len(l.segs)-1)].base, true
				bases = slices.DeleteFunc(bases, func(b sm.Offset) bool { return b < op.Offset })
			case k == 9:
				if len(bases) == 0 {
					continue
				}
				op.Kind, op.Offset, pending = sm.LogTruncate, bases[r.intn(len(bases))], true
				bases = slices.DeleteFunc(bases, func(b sm.Offset) bool { return b >= op.Offset })
				end = op.Offset
				syncedEnd = min(syncedEnd, end)
			case k == 10:
				if r.intn(4) > 0 {
					continue
				}
				op.Kind, op.Offset, pending = sm.LogReset, end+sm.Offset(r.intn(5)), true
				bases, end, syncedEnd = nil, op.Offset, 0
			case k < 13:
				d.sync(walFile(tpA))
				syncedEnd, pending = end, false
				continue
			default:
				d.crash(r, true)
				m, damaged, _, err := d.recoverManifests()
				if err != nil || damaged != nil {
					t.Fatalf("seed %d step %d: %v %v", seed, step, err, damaged)
				}
				got, ok := m[tpA]
				if !ok {
					if syncedEnd > 0 {
						t.Fatalf("seed %d step %d: log lost, synced to %d", seed, step, syncedEnd)
					}
					end, bases = 0, nil
					continue
				}
				if !pending && got.End() < syncedEnd {
					t.Fatalf("seed %d step %d: recovered end %d below synced end %d", seed, step, got.End(), syncedEnd)
				}
				checkRecords(t, d, got, written)
				bs, _ := d.logBatches(tpA, 0)
				bases = bases[:0]
				for _, b := range bs {
					bases = append(bases, b.BaseOffset)
				}
				end, syncedEnd, pending = got.End(), min(syncedEnd, got.End()), false
				continue
			}
			if err, _ := d.applyLog(op); err != "" {
				t.Fatalf("seed %d step %d: %v at %d: %s", seed, step, op.Kind, op.Offset, err)
			}
		}
	}
}

// checkRecords decodes every segment of m from the disk and checks each
// record is one written at its offset.
func checkRecords(t *testing.T, d *Disk, m sm.LogManifest, written map[sm.Offset]map[string]bool) {
	t.Helper()
	l := d.logs[walFile(tpA)]
	for _, s := range m.Segments {
		seg := l.findSegment(s.Base)
		bs, n, err := sm.DecodeLog(seg.data.content)
		if err != nil || int64(n) != s.Bytes {
			t.Fatalf("segment %d: %d of %d bytes decode: %v", s.Base, n, s.Bytes, err)
		}
		for _, b := range bs {
			for i, rec := range b.Records {
				if off := b.BaseOffset + sm.Offset(i); !written[off][string(rec.Value)] {
					t.Fatalf("offset %d holds %q, never written there", off, rec.Value)
				}
			}
		}
	}
}

// The oracle's segment skipping: from a later segment's base on, the
// earlier segments are not decoded; a bad frame stops it with the file and
// byte.
func TestDiskLogBatches(t *testing.T) {
	d := rolled(t)
	all, err := d.logBatches(tpA, 0)
	if err != nil || len(all) != 4 {
		t.Fatalf("%d batches, %v", len(all), err)
	}
	if got, _ := d.logBatches(tpA, 10); len(got) != 1 || got[0].BaseOffset != 10 {
		t.Fatalf("from 10: %d batches", len(got))
	}
	d.logs[walFile(tpA)].segs[1].flipBit(30, 0)
	got, err := d.logBatches(tpA, 0)
	if len(got) != 2 || err == nil || !strings.Contains(err.Error(), segmentFile(tpA, 5)+": byte 0") {
		t.Fatalf("flipped: %d batches, %v", len(got), err)
	}
}

// A LogDamaged record changes no segment but is durable: every recovery
// reports the log damaged with its note and a manifest (and byte log) cut
// at its offset, until a truncation to or below it, or a reset.
func TestDiskDamageRecord(t *testing.T) {
	d := rolled(t) // [0,5) [5,10) [10,12)
	mustApply(t, d, sm.LogOp{Kind: sm.LogDamaged, Offset: 8, Note: "crc at byte 40 of segment 5"})
	mustApply(t, d, sm.LogOp{Kind: sm.LogDamaged, Offset: 9, Note: "later"}) // the lower one stays
	d.sync(walFile(tpA))
	d.crash(newRNG(1), false)
	for range 2 {
		m, damaged, _ := manifestOf(t, d)
		if bounds(m) != "[0,5)s[5,5)" || damaged[tpA] != "crc at byte 40 of segment 5" {
			t.Fatalf("damaged at 8 (inside batch [5,10)): %s %q", bounds(m), damaged[tpA])
		}
	}
	if n := len(d.logs[walFile(tpA)].segs); n != 3 {
		t.Fatalf("the record changed the segments: %d", n)
	}
	// The byte recovery (which makes the log one segment) reports it too.
	for range 2 {
		got, _ := d.recover()
		if bs, _, _ := sm.DecodeLog(got.Logs[tpA]); len(bs) != 2 || got.Damaged[tpA] == "" {
			t.Fatalf("byte recovery: %d batches, damaged %q", len(bs), got.Damaged[tpA])
		}
	}
	// A truncation above the record keeps it; one to it or below clears it.
	mustApply(t, d, sm.LogOp{Kind: sm.LogTruncate, Offset: 10})
	d.sync(walFile(tpA))
	if _, damaged, _ := manifestOf(t, d); damaged[tpA] == "" {
		t.Fatal("a truncation above the damage cleared it")
	}
	mustApply(t, d, sm.LogOp{Kind: sm.LogTruncate, Offset: 5})
	d.sync(walFile(tpA))
	if m, damaged, _ := manifestOf(t, d); damaged != nil || bounds(m) != "[0,5)" {
		t.Fatalf("after the cut: %s %v", bounds(m), damaged)
	}
	// Unsynced, the record may be lost by a crash; a reset clears it.
	mustApply(t, d, sm.LogOp{Kind: sm.LogDamaged, Offset: 0, Note: "x"})
	d.crash(newRNG(1), false)
	if _, damaged, _ := manifestOf(t, d); damaged != nil {
		t.Fatalf("an unsynced record survived a crash that kept no change: %v", damaged)
	}
	mustApply(t, d, sm.LogOp{Kind: sm.LogDamaged, Offset: 0, Note: "x"})
	mustApply(t, d, sm.LogOp{Kind: sm.LogReset, Offset: 20})
	d.sync(walFile(tpA))
	if _, damaged, _ := manifestOf(t, d); damaged != nil {
		t.Fatalf("a reset kept the record: %v", damaged)
	}
}

// The byte recovery makes a segmented log one segment, as the broker that
// recovers from bytes sees it: the same frames, reads addressed from the
// first base, sync marks added up so a loss below any of them is damage.
func TestDiskByteRecoveryCollapses(t *testing.T) {
	d := rolled(t)
	got, _ := d.recover()
	l := d.logs[walFile(tpA)]
	if len(l.segs) != 1 || l.segs[0].base != 0 || got.Damaged != nil || !bytes.Equal(got.Logs[tpA], l.segs[0].data.content) {
		t.Fatalf("%d segments, damaged %v", len(l.segs), got.Damaged)
	}
	if data, _, err := d.readLog(sm.LogRead{TP: tpA, Segment: 0, Pos: int64(len(batchAt(0, 3, 0)) + len(batchAt(3, 2, 3))), MaxBytes: 1}); err != "" || !bytes.Equal(data, batchAt(5, 5, 5)) {
		t.Fatalf("read of the second segment's frame in the collapsed log: %q", err)
	}
	appendAt(t, d, 12, 1)

	// Synced data lost in a sealed segment (a lying device) is damage
	// after the collapse.
	d = rolled(t)
	s := d.logs[walFile(tpA)].segs[1]
	s.data.content = s.data.content[:10:10]
	s.data.durable = s.data.content
	if got, _ := d.recover(); got.Damaged[tpA] == "" {
		t.Fatal("a sealed segment short of its mark is not damage after the collapse")
	} else if bs, _, _ := sm.DecodeLog(got.Logs[tpA]); len(bs) != 2 {
		t.Fatalf("served %d batches, want the 2 before the loss", len(bs))
	}
}
