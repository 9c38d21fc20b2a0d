package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/weirmq/weir/sm"
)

// Reads (sm.LogRead) run on a small pool of reader goroutines, never on the
// committer: a slow or failing disk read holds up other reads, not appends.
// Readers see a log through its published view: the segments and, for each,
// how many bytes completed appends wrote. The committer publishes a group's
// changes after its I/O ran and before any of its operations complete, so a
// read issued after a completion sees that write, and no read ever sees
// bytes of an append that has not completed.

// logView is one log's segments as readers see them. It is immutable once
// published; sealed is shared between views until the segment list changes.
type logView struct {
	sealed []viewSeg
	active viewSeg
	empty  bool // the log has no segment file (active is not a segment)
	id     sm.TopicID
}

type viewSeg struct {
	base sm.Offset
	path string
	size int64
}

func (v *logView) find(base sm.Offset) (viewSeg, bool) {
	if !v.empty && v.active.base == base {
		return v.active, true
	}
	lo, hi := 0, len(v.sealed)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if v.sealed[m].base < base {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(v.sealed) && v.sealed[lo].base == base {
		return v.sealed[lo], true
	}
	return viewSeg{}, false
}

// reader is the WAL's read side.
type reader struct {
	mu      sync.Mutex
	cond    *sync.Cond
	queue   []readReq
	closing bool
	workers sync.WaitGroup

	viewMu sync.RWMutex
	views  map[sm.TopicPartition]*logView

	slabMu sync.Mutex
	slab   []byte // what is left of the current read-buffer slab
}

// readSlabBytes is the size of the slabs read buffers are carved from: one
// large allocation per many reads instead of one each, which keeps the Go
// heap's large-object path (its lock, zeroing, returning pages to the OS)
// out of a sequential read's way. A slab is freed once every read carved
// from it is garbage. Fresh memory costs a page fault per 4 KiB page, which
// on its own cost as much as the pread that fills it (BenchmarkColdRead):
// slabs are advised for transparent huge pages, one fault per 2 MiB.
const readSlabBytes = 16 << 20

// buffer returns n bytes for a read's data, owned by its completion.
func (rd *reader) buffer(n int64) []byte {
	if n > readSlabBytes/4 {
		return make([]byte, n)
	}
	rd.slabMu.Lock()
	defer rd.slabMu.Unlock()
	if int64(len(rd.slab)) < n {
		rd.slab = make([]byte, readSlabBytes)
		adviseHugePages(rd.slab)
	}
	b := rd.slab[:n:n]
	rd.slab = rd.slab[n:]
	return b
}

type readReq struct {
	r    sm.LogRead
	done func(sm.LogReadDone)
}

// touch marks p's view for publishing after the current group; restructure
// (segments added or removed) also drops its cached sealed list.
func (w *WAL) touch(p *partition) {
	if w.touched == nil {
		w.touched = map[sm.TopicPartition]bool{}
	}
	w.touched[p.tp] = true
}

func (w *WAL) forget(tp sm.TopicPartition) {
	if w.touched == nil {
		w.touched = map[sm.TopicPartition]bool{}
	}
	w.touched[tp] = true
}

// publish makes the touched logs' state visible to readers. The committer
// calls it after a group's I/O and before its completions; a failed group
// publishes nothing (none of its operations is known to have happened).
func (w *WAL) publish() {
	if len(w.touched) == 0 {
		return
	}
	if w.failed != nil {
		clear(w.touched)
		return
	}
	rd := &w.reads
	rd.viewMu.Lock()
	for tp := range w.touched {
		p := w.parts[tp]
		if p == nil {
			delete(rd.views, tp)
			continue
		}
		rd.views[tp] = w.viewOf(p, rd.views[tp])
	}
	rd.viewMu.Unlock()
	clear(w.touched)
}

// viewOf builds p's view, sharing prev's sealed list when it still holds.
func (w *WAL) viewOf(p *partition, prev *logView) *logView {
	v := &logView{empty: len(p.segs) == 0, id: p.id}
	if v.empty {
		return v
	}
	a := p.active()
	v.active = viewSeg{base: a.base, path: a.path, size: a.size}
	n := len(p.segs) - 1
	if prev != nil && len(prev.sealed) == n && !prev.empty && prev.active.base == a.base &&
		(n == 0 || prev.sealed[0].base == p.segs[0].base) {
		v.sealed = prev.sealed
		return v
	}
	v.sealed = make([]viewSeg, n)
	for i, s := range p.segs[:n] {
		v.sealed[i] = viewSeg{base: s.base, path: s.path, size: s.size}
	}
	return v
}

// startReaders starts the reader pool.
func (w *WAL) startReaders() {
	rd := &w.reads
	rd.cond = sync.NewCond(&rd.mu)
	for range w.cfg.ReadConcurrency {
		rd.workers.Add(1)
		go w.readLoop()
	}
}

// stopReaders completes the reads already queued and stops the pool.
func (w *WAL) stopReaders() {
	rd := &w.reads
	rd.mu.Lock()
	rd.closing = true
	rd.cond.Broadcast()
	rd.mu.Unlock()
	rd.workers.Wait()
}

func (w *WAL) readLoop() {
	rd := &w.reads
	defer rd.workers.Done()
	for {
		rd.mu.Lock()
		for len(rd.queue) == 0 && !rd.closing {
			rd.cond.Wait()
		}
		if len(rd.queue) == 0 {
			rd.mu.Unlock()
			return
		}
		req := rd.queue[0]
		rd.queue[0] = readReq{}
		rd.queue = rd.queue[1:]
		rd.mu.Unlock()
		req.done(w.read(req.r))
	}
}

// startRead queues reads for the pool; it never blocks on I/O.
func (w *WAL) startRead(reads []sm.LogRead, done func(sm.LogReadDone)) {
	rd := &w.reads
	rd.mu.Lock()
	if rd.closing {
		rd.mu.Unlock()
		go func() {
			for _, r := range reads {
				done(sm.LogReadDone{ID: r.ID, Outcome: sm.OutcomeFailed, Reason: ErrClosed.Error()})
			}
		}()
		return
	}
	for _, r := range reads {
		rd.queue = append(rd.queue, readReq{r: r, done: done})
	}
	rd.cond.Broadcast()
	rd.mu.Unlock()
}

// read executes one read: whole frames from r.Pos, up to r.MaxBytes but at
// least one, never past the bytes completed appends wrote.
func (w *WAL) read(r sm.LogRead) sm.LogReadDone {
	fail := func(format string, args ...any) sm.LogReadDone {
		return sm.LogReadDone{ID: r.ID, Outcome: sm.OutcomeFailed, Reason: fmt.Sprintf(format, args...)}
	}
	rd := &w.reads
	rd.viewMu.RLock()
	v := rd.views[r.TP]
	var seg viewSeg
	ok := false
	if v != nil {
		seg, ok = v.find(r.Segment)
	}
	rd.viewMu.RUnlock()
	if !ok {
		return fail("wal: read of %v segment %d: %s does not exist (trimmed, truncated away, reset or deleted)", r.TP, r.Segment, w.segmentPath(r.TP, r.Segment))
	}
	if r.Pos < 0 || r.Pos > seg.size {
		return fail("wal: read of %s at byte %d: the segment holds %d bytes", seg.path, r.Pos, seg.size)
	}
	if r.Pos == seg.size {
		return sm.LogReadDone{ID: r.ID}
	}
	f, err := w.fs.OpenFile(seg.path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return fail("wal: read of %v segment %d: %s is missing (deleted while the WAL runs?)", r.TP, r.Segment, seg.path)
	}
	if err != nil {
		return fail("wal: read of %s: open: %v", seg.path, err)
	}
	defer f.Close()
	avail := seg.size - r.Pos
	buf := rd.buffer(min(avail, max(int64(r.MaxBytes), frameHeaderBytes)))
	if err := readFull(f, buf, r.Pos); err != nil {
		return fail("wal: read of %s at byte %d (%d bytes): %v", seg.path, r.Pos, len(buf), err)
	}
	first := 4 + int64(binary.LittleEndian.Uint32(buf))
	if first > int64(len(buf)) && first <= avail {
		// The first frame is larger than MaxBytes: read all of it.
		more := make([]byte, first)
		copy(more, buf)
		if err := readFull(f, more[len(buf):], r.Pos+int64(len(buf))); err != nil {
			return fail("wal: read of %s at byte %d (%d bytes): %v", seg.path, r.Pos+int64(len(buf)), first-int64(len(buf)), err)
		}
		buf = more
	}
	// Whole frames only. A first frame whose length does not fit is handed
	// over as is: the state machine checks every frame and reports the
	// corruption.
	pos := 0
	for pos+4 <= len(buf) {
		n := 4 + int(binary.LittleEndian.Uint32(buf[pos:]))
		if n < 4 || pos+n > len(buf) {
			break
		}
		pos += n
	}
	if pos > 0 {
		buf = buf[:pos:pos]
	}
	w.stats.reads.Add(1)
	w.stats.bytesRead.Add(uint64(len(buf)))
	return sm.LogReadDone{ID: r.ID, Data: buf}
}

// readFull reads len(buf) bytes at off; a file shorter than that is an error
// (the bytes completed appends wrote are gone).
func readFull(f interface {
	ReadAt([]byte, int64) (int, error)
}, buf []byte, off int64) error {
	n, err := f.ReadAt(buf, off)
	if n == len(buf) {
		return nil
	}
	if err == nil || err == io.EOF {
		return fmt.Errorf("the file ends at byte %d, before the %d bytes completed appends wrote", off+int64(n), off+int64(len(buf)))
	}
	return err
}

// segmentPath names the file of tp's segment at base (for messages).
func (w *WAL) segmentPath(tp sm.TopicPartition, base sm.Offset) string {
	name, err := dirName(tp)
	if err != nil {
		return segmentName(base)
	}
	return filepath.Join(w.root, name, segmentName(base))
}
