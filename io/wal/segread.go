package wal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/weirmq/weir/cloud"
	"github.com/weirmq/weir/io/wal/walfs"
	"github.com/weirmq/weir/sm"
)

var _ cloud.SegmentReader = (*WAL)(nil)

// ReadSegment implements cloud.SegmentReader for uploads: a reader of
// exactly src.Len bytes from src.Pos of the segment of src.TP based at
// src.Segment (sealed, or the active one's completed bytes). It looks the segment up in the view readers use (see
// StartRead), never on the committer, so an upload holds up no append;
// the file is opened at once, and a segment trimmed or deleted afterwards
// stays readable through the open descriptor (its data is still whole). A
// segment that is not there — trimmed, truncated away, reset, deleted, of
// another topic incarnation, or shorter than the range —
// is an *cloud.Error of kind sm.ObjErrSourceGone; so is a file that a
// truncate cuts while it is read (the reader returns that error at the
// cut).
func (w *WAL) ReadSegment(src sm.SegmentSource) (io.ReadCloser, error) {
	gone := func(format string, args ...any) error {
		return &cloud.Error{Kind: sm.ObjErrSourceGone, Op: "put", Err: fmt.Errorf("wal: segment %v/%d: %s", src.TP, src.Segment, fmt.Sprintf(format, args...))}
	}
	if src.Pos < 0 || src.Len < 0 {
		return nil, &cloud.Error{Kind: sm.ObjErrInvalid, Op: "put", Err: fmt.Errorf("wal: segment %v/%d: range %d+%d", src.TP, src.Segment, src.Pos, src.Len)}
	}
	rd := &w.reads
	rd.viewMu.RLock()
	v := rd.views[src.TP]
	var seg viewSeg
	found := false
	if v != nil {
		// The active segment too: its completed bytes never change (a
		// quiet partition's uploader puts the committed prefix of its
		// active segment; a truncate cutting it while it is read fails the
		// read at the cut).
		seg, found = v.find(src.Segment)
	}
	rd.viewMu.RUnlock()
	switch {
	case v == nil:
		return nil, gone("no such log (deleted?)")
	case !found:
		return nil, gone("%s does not exist (trimmed, truncated away, reset or deleted)", w.segmentPath(src.TP, src.Segment))
	case src.TopicID != (sm.TopicID{}) && v.id != (sm.TopicID{}) && src.TopicID != v.id:
		return nil, gone("the log belongs to topic %v, not %v (re-created)", v.id, src.TopicID)
	case src.Pos+src.Len > seg.size:
		return nil, gone("range %d+%d beyond its %d bytes", src.Pos, src.Len, seg.size)
	}
	f, err := w.fs.OpenFile(seg.path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, gone("%s was removed", seg.path)
	}
	if err != nil {
		return nil, gone("open %s: %v", seg.path, err)
	}
	return &segReader{f: f, path: seg.path, pos: src.Pos, end: src.Pos + src.Len}, nil
}

// segReader reads [pos, end) of an open segment file.
type segReader struct {
	f        walfs.File
	path     string
	pos, end int64
}

func (r *segReader) Read(p []byte) (int, error) {
	if r.pos >= r.end {
		return 0, io.EOF
	}
	if int64(len(p)) > r.end-r.pos {
		p = p[:r.end-r.pos]
	}
	n, err := r.f.ReadAt(p, r.pos)
	r.pos += int64(n)
	if n == len(p) {
		return n, nil
	}
	if err == nil || err == io.EOF {
		err = fmt.Errorf("wal: %s ends at byte %d, before the range's end %d (cut while read)", r.path, r.pos, r.end)
	}
	return n, &cloud.Error{Kind: sm.ObjErrSourceGone, Op: "put", Err: err}
}

func (r *segReader) Close() error { return r.f.Close() }
