package wal

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/weirmq/weir/io/wal/walfs"
	"github.com/weirmq/weir/sm"
)

// plTPs are the partitions the power-loss test writes.
var plTPs = []sm.TopicPartition{{Topic: "pl", Partition: 0}, {Topic: "pl", Partition: 1}, {Topic: "pl-x", Partition: 2}}

// plHistory is one partition's log states within a generation: states[0]
// is what recovery returned, states[i] the log after the i-th operation
// issued on it (completed or not). durable is the index of the last state
// a Sync append with FsyncOnWrite promised durable when it completed;
// removed, that of the last truncate or delete that completed (its removal
// is durable; it promises nothing about unsynced appends before it). Both
// are 0 if no such operation completed.
type plHistory struct {
	states           [][]byte
	durable, removed int
}

func (h *plHistory) cur() []byte { return h.states[len(h.states)-1] }

// allowed reports whether log is a state a power loss may leave: a prefix
// of some state j at or after both the durable and the removed one, no
// shorter than every state from the durable one to j+1 (an operation in
// flight at the loss is partly done: an append leaves a prefix of its
// frames, a truncate or delete may have removed only some of the bytes it
// removes). Since the log decodes cleanly, a byte prefix is a frame prefix.
func (h *plHistory) allowed(log []byte) bool {
	floor := len(h.states[h.durable]) // the shortest state from durable to j
	for j := h.durable; j < len(h.states); j++ {
		floor = min(floor, len(h.states[j]))
		if j < h.removed {
			continue
		}
		f := floor
		if j+1 < len(h.states) {
			f = min(f, len(h.states[j+1]))
		}
		if len(log) >= f && bytes.HasPrefix(h.states[j], log) {
			return true
		}
	}
	return false
}

// plFrames returns the base offset and byte position of each batch of a
// model log, and the offset after the last (0 if empty).
func plFrames(t *testing.T, log []byte) (bases []sm.Offset, pos []int, end sm.Offset) {
	t.Helper()
	for p := 0; p < len(log); {
		b, n, err := sm.DecodeBatch(log[p:])
		if err != nil {
			t.Fatalf("model log does not decode at byte %d: %v", p, err)
		}
		bases, pos, end = append(bases, b.BaseOffset), append(pos, p), b.NextOffset()
		p += n
	}
	return bases, pos, end
}

// crashPoint counts the operations that change the disk, on the committer
// goroutine, and takes the crash image just before the at-th one.
type crashPoint struct {
	mem     *walfs.Mem
	at      int
	process bool       // a process crash (the page cache survives), not a power loss
	rng     *rand.Rand // for a power loss; nil: keep exactly the synced state
	mu      sync.Mutex
	n       int
	image   *walfs.Mem
}

func (c *crashPoint) inject(op walfs.Op) walfs.Fault {
	// The background removal of a deleted partition's tombstone runs on
	// its own goroutine; leaving it out keeps the count deterministic.
	if !op.Mutates() || strings.Contains(op.Path, tombstoneSuffix) {
		return walfs.Fault{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n++; c.n == c.at && c.image == nil {
		c.take()
	}
	return walfs.Fault{}
}

func (c *crashPoint) take() {
	if c.process {
		c.image = c.mem.ProcessCrash()
	} else {
		c.image = c.mem.PowerLoss(c.rng)
	}
}

func (c *crashPoint) crashed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.image != nil
}

type plStats struct {
	gens, midGroup, torn, damagedChecks, rolls int
}

// runPowerLosses drives the real WAL on walfs.Mem through generations of
// random appends, truncates and deletes (batched, so several share a
// commit group), each ended by a power loss at a random file-system
// operation — often inside a group, between a write and its fdatasync, or
// between the fdatasync and the ledger's — and a recovery. After each:
//
//   - every partition's log is one a power loss may leave (plHistory.allowed):
//     every operation that completed with a durability promise is there
//     byte for byte, nothing that was never written is;
//   - no damage is reported, whatever the power loss tore or garbled in the
//     unsynced range (the sync ledger's promise);
//   - what recovery served is durable: a second power loss right after Open,
//     before any operation, gives back exactly the same logs and repairs
//     nothing;
//   - a byte flipped in data that was synced is reported as damage.
func runPowerLosses(t *testing.T, seed uint64, st *plStats) {
	r := rand.New(rand.NewPCG(seed, 0x9a11))
	mem := walfs.NewMem()
	cfg := memConfig(nil)
	cfg.FsyncOnWrite = r.IntN(4) != 0
	if r.IntN(3) == 0 {
		cfg.MaxOpenFiles = 2
	}
	logs := map[sm.TopicPartition][]byte{}
	for gen := range 6 {
		where := fmt.Sprintf("seed %d gen %d (fsync_on_write %v)", seed, gen, cfg.FsyncOnWrite)
		cp := &crashPoint{mem: mem, at: 1 + r.IntN(200)} // past the ops' count now and then: a loss after them
		switch r.IntN(5) {
		case 0:
			cp.process = true
		case 1, 2:
			cp.rng = rand.New(rand.NewPCG(r.Uint64(), r.Uint64()))
		}
		fy := walfs.NewFaulty(mem)
		fy.SetInjector(cp.inject)
		cfg.FS = fy
		w, rec, err := Open(cfg)
		if err != nil {
			t.Fatalf("%s: open: %v", where, err)
		}
		// A reopen after a clean Close finds what the last one served.
		for _, tp := range plTPs {
			if !bytes.Equal(rec.Logs[tp], logs[tp]) || len(rec.Repairs) > 0 || len(rec.Damaged) > 0 {
				t.Fatalf("%s: %v: reopened with %d bytes, %d served before; repairs %q, damage %v",
					where, tp, len(rec.Logs[tp]), len(logs[tp]), rec.Repairs, rec.Damaged)
			}
		}
		hist := map[sm.TopicPartition]*plHistory{}
		for _, tp := range plTPs {
			hist[tp] = &plHistory{states: [][]byte{rec.Logs[tp]}}
		}

		var mu sync.Mutex
		type pending struct {
			tp                              sm.TopicPartition
			state                           int
			durable, durableBefore, removal bool
		}
		inflight := map[sm.EffectID]pending{}
		done := newCompletions()
		exec := w.NewExecutor(func(d sm.LogDone) {
			// On the committer goroutine, which also takes the image: a
			// completion seen before the image was taken happened before
			// the power loss.
			mu.Lock()
			p := inflight[d.ID]
			delete(inflight, d.ID)
			if d.Outcome == sm.OutcomeOK && !cp.crashed() {
				h := hist[p.tp]
				if p.durable {
					h.durable = max(h.durable, p.state)
				}
				if p.durableBefore {
					h.durable = max(h.durable, p.state-1)
				}
				if p.removal {
					h.removed = max(h.removed, p.state)
				}
			}
			mu.Unlock()
			done.post(d)
		})
		id := sm.EffectID(0)
		for batch := 0; batch < 12 && !cp.crashed(); batch++ {
			var ops []sm.LogOp
			mu.Lock()
			for range 1 + r.IntN(4) {
				id++
				tp := plTPs[r.IntN(len(plTPs))]
				h := hist[tp]
				cur := h.cur()
				op := sm.LogOp{ID: id, TP: tp, Sync: true}
				var next []byte
				switch k := r.IntN(20); {
				case k == 0:
					op.Kind = sm.LogDelete
				case k < 5:
					bases, pos, end := plFrames(t, cur)
					op.Kind, op.Offset, next = sm.LogTruncate, end, cur
					if i := r.IntN(len(bases) + 1); i < len(bases) { // else at the end: nothing to cut
						op.Offset, next = bases[i], cur[:pos[i]]
					}
				default:
					// A roll (with the append) makes the sealed segment
					// durable in full, with its index file.
					op.Kind, op.Sync, op.Roll = sm.LogAppend, r.IntN(5) != 0, len(cur) > 0 && r.IntN(6) == 0
					_, _, off := plFrames(t, cur)
					for range 1 + r.IntN(3) {
						// The epoch makes every frame unique, so a frame
						// cut and written again is never mistaken for it.
						recs := 1 + r.IntN(3)
						op.Data = append(op.Data, frame(tp, off, sm.Epoch(1+gen*1000+int(id)), recs, 1+r.IntN(150))...)
						off += sm.Offset(recs)
					}
					next = append(slices.Clip(cur), op.Data...)
				}
				h.states = append(h.states, next)
				inflight[id] = pending{tp: tp, state: len(h.states) - 1,
					durable: op.Kind == sm.LogAppend && op.Sync && cfg.FsyncOnWrite, durableBefore: op.Roll,
					removal: op.Kind == sm.LogTruncate || op.Kind == sm.LogDelete}
				ops = append(ops, op)
			}
			mu.Unlock()
			exec.StartLog(ops)
			got := done.wait(t, len(ops))
			for _, d := range got[len(got)-len(ops):] {
				if d.Outcome != sm.OutcomeOK {
					t.Fatalf("%s: op %d: %s", where, d.ID, d.Reason)
				}
			}
		}
		if cp.crashed() {
			st.midGroup++
		} else {
			cp.mu.Lock()
			cp.take()
			cp.mu.Unlock()
		}
		st.rolls += int(w.Stats().Rolls)
		fy.SetInjector(nil)
		_ = w.Close() // on the old file system: the image is what the disk kept

		mem = cp.image
		cfg.FS = mem
		w, rec, err = Open(cfg)
		if err != nil {
			t.Fatalf("%s: recovery after the power loss: %v", where, err)
		}
		for tp, dmg := range rec.Damaged {
			t.Fatalf("%s: %v reported damaged after a power loss (%v); repairs %q", where, tp, dmg, rec.Repairs)
		}
		for _, tp := range plTPs {
			if log := rec.Logs[tp]; !hist[tp].allowed(log) {
				h := hist[tp]
				var lens []int
				for _, s := range h.states {
					lens = append(lens, len(s))
				}
				t.Fatalf("%s: %v recovered %d bytes, not a state a power loss may leave (states %v, durable through state %d, removal at %d)",
					where, tp, len(log), lens, h.durable, h.removed)
			}
		}
		for _, rp := range rec.Repairs {
			if strings.Contains(rp, "torn tail") {
				st.torn++
			}
			// A sealed segment's index is synced before the next segment
			// exists: a power loss may lose its directory entry, never
			// leave it wrong.
			if strings.Contains(rp, "rebuilt index") && !strings.Contains(rp, "(missing)") {
				t.Fatalf("%s: %s", where, rp)
			}
		}
		plCheckManifests(t, where, rec)
		plCheckRecovered(t, where, mem, cfg, rec, st)
		logs = rec.Logs
		mustClose(t, w)
		st.gens++
	}
}

// plCheckManifests checks that each recovered manifest describes the bytes
// recovered with it: the index sm.ScanSegment builds from them, segment by
// segment.
func plCheckManifests(t *testing.T, where string, rec Recovery) {
	t.Helper()
	for tp, m := range rec.Manifests {
		if err := m.Check(); err != nil {
			t.Fatalf("%s: %v: invalid manifest: %v", where, tp, err)
		}
		log := rec.Logs[tp]
		if m.Bytes() != int64(len(log)) {
			t.Fatalf("%s: %v: manifest of %d bytes, log of %d", where, tp, m.Bytes(), len(log))
		}
		pos, epoch := int64(0), sm.Epoch(0)
		for i, seg := range m.Segments {
			want, serr := sm.ScanSegment(log[pos:pos+seg.Bytes], seg.Base, epoch)
			want.Sealed = seg.Sealed
			if serr != nil || !sameIndex(&seg, &want) {
				t.Fatalf("%s: %v: segment %d of the manifest %+v, its bytes scan to %+v (%v)", where, tp, i, seg, want, serr)
			}
			pos += seg.Bytes
			epoch = max(epoch, lastEpochIn(seg))
		}
	}
}

// plCheckRecovered checks what Open just served on mem: a power loss now
// gives it back exactly with nothing to repair (recovery's own writes are
// durable), and a flipped byte in it is damage.
func plCheckRecovered(t *testing.T, where string, mem *walfs.Mem, cfg Config, rec Recovery, st *plStats) {
	t.Helper()
	img := mem.PowerLoss(nil)
	cfg.FS = img
	w, again, err := Open(cfg)
	if err != nil {
		t.Fatalf("%s: open after a power loss right after recovery: %v", where, err)
	}
	if len(again.Repairs) != 0 || len(again.Damaged) != 0 {
		t.Fatalf("%s: a power loss right after recovery left something to repair: repairs %q, damage %v", where, again.Repairs, again.Damaged)
	}
	for _, tp := range plTPs {
		if !bytes.Equal(again.Logs[tp], rec.Logs[tp]) {
			t.Fatalf("%s: %v: recovery served %d bytes, a power loss right after left %d", where, tp, len(rec.Logs[tp]), len(again.Logs[tp]))
		}
	}
	mustClose(t, w)

	// Flip one byte of a synced batch (everything Open served is synced).
	var tp sm.TopicPartition
	for _, c := range plTPs {
		if len(rec.Logs[c]) > 0 {
			tp = c
		}
	}
	if tp.Topic == "" {
		return
	}
	log := rec.Logs[tp]
	pos := rand.New(rand.NewPCG(uint64(len(log)), 7)).IntN(len(log))
	flipAt(t, img, tp, pos)
	cfg.FS = img
	w, bad, err := Open(cfg)
	if err != nil {
		t.Fatalf("%s: open with a flipped synced byte: %v", where, err)
	}
	dmg := bad.Damaged[tp]
	if dmg == nil {
		t.Fatalf("%s: byte %d of %v's %d synced bytes flipped, no damage reported (repairs %q)", where, pos, tp, len(log), bad.Repairs)
	}
	if got := bad.Logs[tp]; !bytes.HasPrefix(log, got) || len(got) > pos {
		t.Fatalf("%s: damaged %v serves %d bytes; the flip is at byte %d", where, tp, len(got), pos)
	}
	st.damagedChecks++
	mustClose(t, w)
}

// flipAt inverts byte pos of tp's log (counted across its segments) on fsys,
// durably.
func flipAt(t *testing.T, fsys walfs.FS, tp sm.TopicPartition, pos int) {
	t.Helper()
	name, _ := dirName(tp)
	dir := filepath.Join(memRoot, name)
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if _, ok := parseSegmentName(e.Name()); !ok {
			continue
		}
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if int64(pos) >= info.Size() {
			pos -= int(info.Size())
			continue
		}
		f, err := fsys.OpenFile(filepath.Join(dir, e.Name()), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, int64(pos)); err != nil {
			t.Fatal(err)
		}
		b[0] ^= 0xff
		if err := walfs.WriteFull(f, b, int64(pos)); err != nil {
			t.Fatal(err)
		}
		if err := f.Datasync(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return
	}
	t.Fatalf("%v has no byte %d", tp, pos)
}

// The production WAL on a strict in-memory file system, through power
// losses at random points: see runPowerLosses.
func TestPowerLoss(t *testing.T) {
	var st plStats
	for seed := range uint64(200) {
		runPowerLosses(t, seed, &st)
	}
	t.Logf("%+v", st)
	if st.midGroup == 0 || st.midGroup == st.gens || st.torn == 0 || st.damagedChecks == 0 || st.rolls == 0 {
		t.Fatalf("the power losses did not cover every case: %+v", st)
	}
}

// With fsync_on_write off, a truncate still makes its lowered sync mark
// durable before it cuts the file: otherwise a power loss keeps the cut
// (synced) and loses the mark, and the next Open takes the shorter file for
// lost acknowledged data.
func TestTruncateMarkDurableWithoutFsyncOnWrite(t *testing.T) {
	mem := walfs.NewMem()
	cfg := memConfig(mem)
	cfg.FsyncOnWrite = false
	w, _ := mustOpen(t, cfg)
	m := &model{tp: tp0}
	appendModel(t, w, m, 4, 1, 50)
	mustClose(t, w) // syncs the appends; the reopen marks them all synced
	w, rec := mustOpen(t, cfg)
	checkLog(t, rec, m)
	if err := w.Truncate(tp0, 2); err != nil {
		t.Fatal(err)
	}
	m.truncate(2)
	_, rec = mustOpen(t, memConfig(mem.PowerLoss(nil)))
	if len(rec.Damaged) != 0 {
		t.Fatalf("a synced truncate reads as damage after a power loss: %v", rec.Damaged)
	}
	checkLog(t, rec, m)
}

// Recovery's own writes are durable before it serves anything: a torn tail
// it cuts stays cut through a power loss right after Open, before any
// operation; the next Open finds nothing to repair.
func TestRecoveryCutIsDurable(t *testing.T) {
	mem := walfs.NewMem()
	cfg := memConfig(mem)
	w, _ := mustOpen(t, cfg)
	m := &model{tp: tp0}
	appendModel(t, w, m, 3, 1, 40) // synced, and marked synced
	mustClose(t, w)
	// A group's write reached the disk, torn, and its fdatasync never
	// returned (so the ledger does not vouch for it).
	name, _ := dirName(tp0)
	path := filepath.Join(memRoot, name, segmentName(0))
	f, err := mem.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	torn := frame(tp0, m.next, 1, 2, 40)
	torn = torn[:len(torn)-9]
	if err := walfs.WriteFull(f, torn, int64(len(m.data))); err != nil {
		t.Fatal(err)
	}
	if err := f.Datasync(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	w, rec := mustOpen(t, cfg)
	checkLog(t, rec, m)
	if len(rec.Repairs) != 1 || !strings.Contains(rec.Repairs[0], "torn tail") {
		t.Fatalf("repairs %q, want the torn tail cut", rec.Repairs)
	}
	img := mem.PowerLoss(nil) // right after Open: nothing else ran
	mustClose(t, w)
	_, rec = mustOpen(t, memConfig(img))
	if len(rec.Repairs) != 0 || len(rec.Damaged) != 0 {
		t.Fatalf("after a power loss right after the cut: repairs %q, damage %v; the cut was not durable", rec.Repairs, rec.Damaged)
	}
	checkLog(t, rec, m)
	if f, err := img.Stat(path); err != nil || f.Size() != int64(len(m.data)) {
		t.Fatalf("segment after the power loss: %v, %v; want %d bytes", f, err, len(m.data))
	}
}

// After a process crash the page cache holds what the dead process never
// synced — here the unlink of a segment by a truncate that died before its
// directory fsync. Open serves the log without it, so it must make that
// durable: a power loss right after Open must not bring the segment back.
func TestRecoveryMakesPageCacheDurable(t *testing.T) {
	mem := walfs.NewMem()
	fy := walfs.NewFaulty(mem)
	cfg := memConfig(fy)
	w, _ := mustOpen(t, cfg)
	m := &model{tp: tp0, rollAt: 200}
	for range 4 {
		appendModel(t, w, m, 1, 1, 100) // one segment each
	}
	if n := len(w.parts[tp0].segs); n != 4 {
		t.Fatalf("%d segments, want 4", n)
	}
	var crashed *walfs.Mem
	removed := false
	fy.SetInjector(func(op walfs.Op) walfs.Fault {
		switch {
		case op.Kind == walfs.OpRemove && strings.HasSuffix(op.Path, ".log"):
			removed = true
		case op.Kind == walfs.OpSyncDir && removed && crashed == nil:
			crashed = mem.ProcessCrash() // the truncate dies here
		}
		return walfs.Fault{}
	})
	if err := w.Truncate(tp0, m.bases[2]); err != nil {
		t.Fatal(err)
	}
	fy.SetInjector(nil)
	mustClose(t, w)
	if crashed == nil {
		t.Fatal("the truncate never synced its directory")
	}
	w, rec := mustOpen(t, memConfig(crashed))
	img := crashed.PowerLoss(nil)
	mustClose(t, w)
	_, again := mustOpen(t, memConfig(img))
	if !bytes.Equal(again.Logs[tp0], rec.Logs[tp0]) || len(again.Damaged) > 0 {
		t.Fatalf("Open served %d bytes; after a power loss right after it, %d (damage %v)",
			len(rec.Logs[tp0]), len(again.Logs[tp0]), again.Damaged)
	}
}

// A power loss at any point of a trim or a reset leaves a log recovery
// serves without damage: for a trim, the log with some whole segments gone
// from its front (at most those the trim removes); for a reset, a prefix of
// the old log at a segment boundary (possibly empty, at offset 0: the reset
// never completed, and a follower resets again), or the empty log at the
// reset offset.
func TestTrimResetPowerLoss(t *testing.T) {
	mem := walfs.NewMem()
	w, _ := mustOpen(t, memConfig(mem))
	m := &model{tp: tp0, rollAt: 300}
	for range 12 {
		appendModel(t, w, m, 1, 2, 40)
	}
	segStarts := append([]int{0}, m.segs...) // byte starts of the segments in m.data
	segBases := []sm.Offset{0}
	for _, p := range m.segs {
		segBases = append(segBases, m.bases[slices.Index(m.starts, p)])
	}
	mustClose(t, w)
	if len(segBases) < 4 {
		t.Fatalf("want 4+ segments, got %d", len(segBases))
	}
	base := mem.PowerLoss(nil)
	for _, c := range []struct {
		name string
		op   sm.LogOp
		ok   func(start sm.Offset, log []byte) bool
	}{
		{"trim", sm.LogOp{Kind: sm.LogTrim, TP: tp0, Offset: segBases[2]}, func(start sm.Offset, log []byte) bool {
			for i := 0; i <= 2; i++ {
				if start == segBases[i] && bytes.Equal(log, m.data[segStarts[i]:]) {
					return true
				}
			}
			return false
		}},
		{"reset", sm.LogOp{Kind: sm.LogReset, TP: tp0, Offset: 1000}, func(start sm.Offset, log []byte) bool {
			if start == 1000 && len(log) == 0 {
				return true
			}
			return start == 0 && (len(log) == len(m.data) || slices.Contains(segStarts, len(log))) && bytes.HasPrefix(m.data, log)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for at := 1; ; at++ {
				img := base.PowerLoss(nil) // a copy
				cp := &crashPoint{mem: img, at: at}
				fy := walfs.NewFaulty(img)
				fy.SetInjector(cp.inject)
				w, _ := mustOpen(t, memConfig(fy))
				cp.mu.Lock()
				cp.n = 0 // count from the operation on
				cp.mu.Unlock()
				if err := w.Do(c.op); err != nil {
					t.Fatal(err)
				}
				done := !cp.crashed()
				if done {
					cp.take()
				}
				fy.SetInjector(nil)
				_ = w.Close()
				w, rec := mustOpen(t, memConfig(cp.image))
				man, log := rec.Manifests[tp0], rec.Logs[tp0]
				if len(rec.Damaged) > 0 || !c.ok(man.Start(), log) {
					t.Fatalf("power loss at mutating operation %d: log from %d, %d bytes (damage %v, repairs %q)",
						at, man.Start(), len(log), rec.Damaged, rec.Repairs)
				}
				plCheckManifests(t, fmt.Sprintf("%s at %d", c.name, at), rec)
				mustClose(t, w)
				if done {
					if at < 4 {
						t.Fatalf("the %s made only %d changes", c.name, at)
					}
					return
				}
			}
		})
	}
}
