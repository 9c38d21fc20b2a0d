package wal

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/weirmq/weir/io/wal/walfs"
	"github.com/weirmq/weir/sm"
)

const memRoot = "/wal"

// memConfig is testConfig on fsys.
func memConfig(fsys walfs.FS) Config {
	cfg := testConfig(memRoot, BackendSync)
	cfg.FS = fsys
	return cfg
}

// once arms a one-shot fault: the first operation match accepts gets f;
// fired reports whether it has.
type once struct {
	mu    sync.Mutex
	match func(walfs.Op) bool
	fault walfs.Fault
	fired bool
}

func (o *once) inject(op walfs.Op) walfs.Fault {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fired || !o.match(op) {
		return walfs.Fault{}
	}
	o.fired = true
	return o.fault
}

func (o *once) hasFired() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.fired
}

func onSegment(kind walfs.OpKind) func(walfs.Op) bool {
	return func(op walfs.Op) bool { return op.Kind == kind && strings.HasSuffix(op.Path, ".log") }
}

func onLedger(kind walfs.OpKind) func(walfs.Op) bool {
	// The ledger's open file was created as SYNCED.tmp and renamed.
	return func(op walfs.Op) bool { return op.Kind == kind && strings.Contains(op.Path, "/"+ledgerName) }
}

// The poison path, through a faulty file system: an I/O error while a
// commit group runs fails every operation of that group — the ones batched
// with the failing one included, so nothing of it is acknowledged — and
// every later operation, with the first error; the process must restart
// from disk. A fault that writes nothing on a path that can wait (an
// out-of-space sample, no file descriptor) refuses only its operation,
// and a short write is resumed.
func TestFaultsPoisonOrRefuse(t *testing.T) {
	cases := []struct {
		name  string
		match func(walfs.Op) bool
		fault walfs.Fault
		// poison: the group and everything after fail; refused: the ops
		// that hit it are refused (ErrRefused) and the WAL goes on; neither:
		// the fault is absorbed.
		poison, refused bool
		errno           syscall.Errno
	}{
		{name: "EIO on fdatasync", match: onSegment(walfs.OpDatasync), fault: walfs.Fault{Err: syscall.EIO}, poison: true, errno: syscall.EIO},
		{name: "EIO on write", match: onSegment(walfs.OpWrite), fault: walfs.Fault{Err: syscall.EIO}, poison: true, errno: syscall.EIO},
		{name: "short write then EIO", match: onSegment(walfs.OpWrite), fault: walfs.Fault{Short: 7, Err: syscall.EIO}, poison: true, errno: syscall.EIO},
		{name: "ENOSPC on write", match: onSegment(walfs.OpWrite), fault: walfs.Fault{Err: syscall.ENOSPC}, poison: true, errno: syscall.ENOSPC},
		{name: "EIO on the ledger's fdatasync", match: onLedger(walfs.OpDatasync), fault: walfs.Fault{Err: syscall.EIO}, poison: true, errno: syscall.EIO},
		{name: "EIO on the ledger's write", match: onLedger(walfs.OpWrite), fault: walfs.Fault{Err: syscall.EIO}, poison: true, errno: syscall.EIO},
		{name: "EIO on a directory fsync", match: func(op walfs.Op) bool { return op.Kind == walfs.OpSyncDir }, fault: walfs.Fault{Err: syscall.EIO}, poison: true, errno: syscall.EIO},
		{name: "EMFILE creating a segment", match: func(op walfs.Op) bool { return op.Kind == walfs.OpOpen && strings.HasSuffix(op.Path, ".log") },
			fault: walfs.Fault{Err: syscall.EMFILE}, refused: true, errno: syscall.EMFILE},
		{name: "EMFILE opening a directory to fsync it", match: func(op walfs.Op) bool { return op.Kind == walfs.OpSyncDir },
			fault: walfs.Fault{Err: syscall.EMFILE}, refused: true, errno: syscall.EMFILE},
		{name: "short write", match: onSegment(walfs.OpWrite), fault: walfs.Fault{Short: 7}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mem := walfs.NewMem()
			fy := walfs.NewFaulty(mem)
			w, _ := mustOpen(t, memConfig(fy))
			m0, m1 := &model{tp: tp0}, &model{tp: tp1}
			appendModel(t, w, m0, 2, 1, 50) // before the fault: acknowledged, synced
			arm := &once{match: c.match, fault: c.fault}
			fy.SetInjector(arm.inject)

			// One group: two appends to tp0 (one without sync) and a first
			// append to tp1, which creates its directory and segment.
			done := newCompletions()
			exec := w.NewExecutor(done.post)
			before := *m0
			exec.StartLog([]sm.LogOp{
				{ID: 1, Kind: sm.LogAppend, TP: tp0, Data: m0.add(1, 2, 100), Sync: true},
				{ID: 2, Kind: sm.LogAppend, TP: tp1, Data: m1.add(1, 1, 30), Sync: true},
				{ID: 3, Kind: sm.LogAppend, TP: tp0, Data: m0.add(1, 1, 10), Sync: false},
			})
			got := done.wait(t, 3)
			if !arm.hasFired() {
				t.Fatal("the fault never fired")
			}
			later := w.Append(tp0, frame(tp0, m0.next, 1, 1, 10), true)
			switch {
			case c.poison:
				for _, d := range got {
					if d.Outcome == sm.OutcomeOK || (d.Outcome == sm.OutcomeFailed) {
						t.Fatalf("op %d of the failed group: %+v; want it failed, not acknowledged", d.ID, d)
					}
				}
				if !strings.Contains(got[0].Reason, c.errno.Error()) {
					t.Fatalf("the group failed with %q, want the injected %v", got[0].Reason, c.errno)
				}
				if !errors.Is(later, c.errno) || errors.Is(later, ErrRefused) {
					t.Fatalf("an append after the failure: %v; want the first error again (poisoned)", later)
				}
				if err := w.Truncate(tp0, 0); !errors.Is(err, c.errno) {
					t.Fatalf("a truncate after the failure: %v", err)
				}
				if err := w.Delete(tp1); !errors.Is(err, c.errno) {
					t.Fatalf("a delete after the failure: %v", err)
				}
				if err := w.Close(); !errors.Is(err, c.errno) {
					t.Fatalf("Close of a poisoned WAL: %v", err)
				}
				// A power loss keeps what was synced before the fault, and
				// perhaps frames of the failed group that reached the disk
				// (never acknowledged); recovery finds no damage.
				_, rec := mustOpen(t, memConfig(mem.PowerLoss(nil)))
				if len(rec.Damaged) != 0 {
					t.Fatalf("damage after a failed group: %v", rec.Damaged)
				}
				if log := rec.Logs[tp0]; !bytes.HasPrefix(log, before.data) || !bytes.HasPrefix(m0.data, log) {
					t.Fatalf("recovered %d bytes of tp0: want the %d acknowledged, and at most the %d written", len(log), len(before.data), len(m0.data))
				}
				return
			case c.refused:
				var refusedIDs []sm.EffectID
				for _, d := range got {
					if d.Outcome != sm.OutcomeOK && !(d.Outcome == sm.OutcomeFailed) {
						t.Fatalf("op %d failed instead of being refused: %+v", d.ID, d)
					}
					if d.Outcome == sm.OutcomeFailed {
						refusedIDs = append(refusedIDs, d.ID)
						if !strings.Contains(d.Reason, c.errno.Error()) {
							t.Fatalf("refusal %q does not name %v", d.Reason, c.errno)
						}
					}
				}
				if len(refusedIDs) == 0 {
					t.Fatalf("nothing refused: %+v", got)
				}
				if refusedIDs[0] == 2 { // tp1's first append: tp0's went through
					m1 = &model{tp: tp1}
				} else {
					m0 = &before
				}
			default:
				for _, d := range got {
					if d.Outcome != sm.OutcomeOK {
						t.Fatalf("op %d: %+v", d.ID, d)
					}
				}
			}
			// The WAL goes on, and the logs hold exactly what was acknowledged.
			if later != nil && !errors.Is(later, ErrRefused) {
				t.Fatalf("append after an absorbed fault: %v", later)
			}
			if later == nil {
				m0.add(1, 1, 10)
			}
			appendModel(t, w, m0, 1, 1, 10)
			appendModel(t, w, m1, 1, 1, 10)
			mustClose(t, w)
			_, rec := mustOpen(t, memConfig(mem.PowerLoss(nil)))
			checkLog(t, rec, m0)
			checkLog(t, rec, m1)
		})
	}
}

// A nearly full file system (statfs through the FS seam) refuses appends
// with ErrRefused and does not poison the WAL.
func TestFullFileSystemRefusesThroughFS(t *testing.T) {
	mem := walfs.NewMem()
	w, _ := mustOpen(t, memConfig(mem))
	m := &model{tp: tp0}
	appendModel(t, w, m, 1, 1, 10)
	mem.SetFree(freeReserveBytes)
	err := w.Append(tp0, frame(tp0, m.next, 1, 1, 10), true)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "bytes free") {
		t.Fatalf("append on a full file system: %v", err)
	}
	mem.SetFree(1 << 40)
	appendModel(t, w, m, 1, 1, 10)
	mustClose(t, w)
	_, rec := mustOpen(t, memConfig(mem.PowerLoss(nil)))
	checkLog(t, rec, m)
}

// Config.FS other than the OS runs on the sync backend: auto says why, and
// uring is refused.
func TestNonOSFileSystemBackend(t *testing.T) {
	cfg := memConfig(walfs.NewMem())
	cfg.Backend = BackendAuto
	w, _ := mustOpen(t, cfg)
	if b := w.Backend(); b.Name != BackendSync || !strings.Contains(b.FallbackReason, "Config.FS") {
		t.Fatalf("backend on walfs.Mem: %+v", b)
	}
	mustClose(t, w)
	cfg.Backend = BackendUring
	if _, _, err := Open(cfg); err == nil || !strings.Contains(err.Error(), "operating system's file system") {
		t.Fatalf("uring on walfs.Mem: %v", err)
	}
}
