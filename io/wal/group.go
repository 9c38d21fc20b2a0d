package wal

import "time"

// group is the I/O one commit group has queued and not yet run: at most one
// write per segment (frames appended to a segment in one group are
// contiguous, so they coalesce) and at most one fdatasync per segment.
type group struct {
	writes []pendingWrite
	syncs  []*segment
}

type pendingWrite struct {
	seg   *segment
	off   int64
	parts [][]byte
	n     int
}

// add queues frame for seg at byte off, which must be where seg's queued
// bytes end.
func (g *group) add(seg *segment, off int64, frame []byte) {
	if seg.pw > 0 {
		pw := &g.writes[seg.pw-1]
		if pw.off+int64(pw.n) == off {
			pw.parts = append(pw.parts, frame)
			pw.n += len(frame)
			return
		}
	}
	g.writes = append(g.writes, pendingWrite{seg: seg, off: off, parts: [][]byte{frame}, n: len(frame)})
	seg.pw = len(g.writes)
}

// markSync queues an fdatasync of seg after its writes.
func (g *group) markSync(seg *segment) {
	if !seg.syncQueued {
		seg.syncQueued = true
		g.syncs = append(g.syncs, seg)
	}
}

func (g *group) reset() {
	for i := range g.writes {
		g.writes[i].seg.pw = 0
		g.writes[i] = pendingWrite{}
	}
	g.writes = g.writes[:0]
	for i, s := range g.syncs {
		s.syncQueued = false
		g.syncs[i] = nil
	}
	g.syncs = g.syncs[:0]
}

// flush runs g's queued I/O through the backend: every write, then the
// fdatasyncs (each covers the writes before it on its file). It records
// which segments now hold unsynced bytes.
func (w *WAL) flush(g *group) error {
	defer g.reset()
	if w.failed != nil {
		return w.failed
	}
	if len(g.writes) == 0 && len(g.syncs) == 0 {
		return nil
	}
	total := 0
	for i := range g.writes {
		if len(g.writes[i].parts) > 1 {
			total += g.writes[i].n
		}
	}
	if cap(w.scratch) < total {
		w.scratch = make([]byte, 0, total)
	}
	arena := w.scratch[:0]
	for i := range g.writes {
		pw := &g.writes[i]
		buf := pw.parts[0]
		if len(pw.parts) > 1 {
			start := len(arena)
			for _, p := range pw.parts {
				arena = append(arena, p...)
			}
			buf = arena[start:len(arena):len(arena)]
		}
		w.be.write(pw.seg.f, buf, pw.off, pw.seg.path)
	}
	for _, s := range g.syncs {
		w.be.datasync(s.f, s.path)
	}
	w.stats.writes.Add(uint64(len(g.writes)))
	w.stats.dataSyncs.Add(uint64(len(g.syncs)))
	start := time.Now()
	if err := w.be.run(); err != nil {
		return w.fail(err)
	}
	if len(g.syncs) > 0 && w.cfg.OnSync != nil {
		w.cfg.OnSync(time.Since(start))
	}
	for i := range g.writes {
		g.writes[i].seg.dirty = true
	}
	for _, s := range g.syncs {
		s.dirty = false
	}
	for i := range g.writes {
		w.unsynced = w.unsynced || g.writes[i].seg.dirty
	}
	// The synced bytes' marks are durable before any operation of the
	// group completes: from then on they may be acknowledged, and recovery
	// must never take them for a torn tail.
	for _, s := range g.syncs {
		if s.f != nil && s.dir != "" {
			w.ledger.add(s.dir, syncMark{base: int64(s.base), size: s.size})
		}
	}
	return w.writeLedger()
}
