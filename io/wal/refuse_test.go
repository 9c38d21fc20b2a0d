package wal

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/weirmq/weir/sm"
)

// A nearly full file system refuses appends (ErrRefused, DiskDone.Refused)
// without poisoning the WAL: nothing is written, a later append continuing
// the refused one is refused too, and once space is back the log takes the
// refused offset again.
func TestRefusesWhenFileSystemIsFull(t *testing.T) {
	forBackends(t, func(t *testing.T, be string) {
		dir := t.TempDir()
		w, _ := mustOpen(t, testConfig(dir, be))
		m := &model{tp: tp0}
		appendModel(t, w, m, 1, 1, 100)
		free := int64(freeReserveBytes) // below reserve + any append
		statfsFree = func(string) (int64, error) { return free, nil }
		defer func() { statfsFree = nil }()
		done := newCompletions()
		exec := w.NewExecutor(done.post)
		refusedFrame := frame(tp0, 1, 1, 1, 100)
		exec.StartLog([]sm.LogOp{
			{ID: 1, Kind: sm.LogAppend, TP: tp0, Data: refusedFrame, Sync: true},
			{ID: 2, Kind: sm.LogAppend, TP: tp0, Data: frame(tp0, 2, 1, 1, 100), Sync: true},
		})
		got := done.wait(t, 2)
		for _, d := range got {
			if !(d.Outcome == sm.OutcomeFailed) || d.Outcome == sm.OutcomeOK {
				t.Fatalf("append on a full file system: %+v", d)
			}
		}
		if !strings.Contains(got[0].Reason, "bytes free") {
			t.Fatalf("refusals: %q / %q", got[0].Reason, got[1].Reason)
		}
		if st := w.Stats(); st.Refused != 2 {
			t.Fatalf("refused counter %d, want 2", st.Refused)
		}
		free = 1 << 40
		m.add(1, 1, 100) // the refused offset is taken by the next record
		if err := w.Append(tp0, refusedFrame, true); err != nil {
			t.Fatalf("append after space came back: %v", err)
		}
		mustClose(t, w)
		_, rec := mustOpen(t, testConfig(dir, be))
		checkLog(t, rec, m)
	})
}

// Many partitions under a small MaxOpenFiles: the WAL closes the least
// recently used segment files, reopens them on demand, and loses nothing,
// unsynced appends included.
func TestOpenFilesBounded(t *testing.T) {
	forBackends(t, func(t *testing.T, be string) {
		dir := t.TempDir()
		cfg := testConfig(dir, be)
		cfg.MaxOpenFiles = 4
		w, _ := mustOpen(t, cfg)
		var ms []*model
		for i := range 20 {
			ms = append(ms, &model{tp: sm.TopicPartition{Topic: "orders", Partition: int32(i)}})
		}
		for round := range 3 {
			for _, m := range ms {
				if err := w.Append(m.tp, m.add(1, 1, 50), round != 1); err != nil {
					t.Fatal(err)
				}
				if st := w.Stats(); st.OpenFiles > int64(cfg.MaxOpenFiles) {
					t.Fatalf("%d files open, max %d", st.OpenFiles, cfg.MaxOpenFiles)
				}
			}
		}
		if st := w.Stats(); st.Evictions == 0 {
			t.Fatalf("no file was closed: %+v", st)
		}
		mustClose(t, w)
		_, rec := mustOpen(t, cfg)
		for _, m := range ms {
			checkLog(t, rec, m)
		}
	})
}

// Out of file descriptors (EMFILE), creating a segment is refused, not
// fatal, and works again once descriptors are free.
func TestOutOfDescriptorsRefuses(t *testing.T) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	w, _ := mustOpen(t, testConfig(dir, BackendSync))
	defer mustClose(t, w)
	// Use up every descriptor below a low soft limit.
	low := lim
	low.Cur = 64
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	var held []int
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY, 0)
		if err != nil {
			break
		}
		held = append(held, fd)
	}
	err := w.Append(tp1, frame(tp1, 0, 1, 1, 10), true)
	for _, fd := range held {
		unix.Close(fd)
	}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "too many open files") {
		t.Fatalf("append with no descriptor left: %v", err)
	}
	if err := w.Append(tp1, frame(tp1, 0, 1, 1, 10), true); err != nil {
		t.Fatalf("append once descriptors are back: %v", err)
	}
	if err := w.Append(tp0, frame(tp0, 0, 1, 1, 10), true); err != nil {
		t.Fatal(fmt.Errorf("the WAL was poisoned: %w", err))
	}
}

// A partition whose active segment was closed to stay under MaxOpenFiles
// rolls to a new segment without touching the closed file (it was synced
// when it was closed): the roll used to fdatasync a closed descriptor and
// poison the WAL with EBADF.
func TestRollAfterEviction(t *testing.T) {
	forBackends(t, func(t *testing.T, be string) {
		dir := t.TempDir()
		cfg := testConfig(dir, be)
		cfg.MaxOpenFiles = 2
		w, _ := mustOpen(t, cfg)
		var ms []*model
		for i := range 3 {
			ms = append(ms, &model{tp: sm.TopicPartition{Topic: "evict", Partition: int32(i)}, rollAt: 400})
		}
		for _, m := range ms { // the third closes the first's segment
			appendModel(t, w, m, 1, 1, 200)
		}
		appendModel(t, w, ms[0], 1, 1, 300) // does not fit: a roll
		if st := w.Stats(); st.Evictions == 0 || st.Rolls == 0 {
			t.Fatalf("no eviction before a roll: %+v", st)
		}
		mustClose(t, w)
		_, rec := mustOpen(t, cfg)
		for _, m := range ms {
			checkLog(t, rec, m)
		}
	})
}
