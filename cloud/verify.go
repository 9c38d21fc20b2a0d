package cloud

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/weirmq/weir/sm"
)

// verifier streams a put's source bytes, one whole frame at a time, and
// hands a frame on only after checking it: its CRC32C (sm.DecodeBatch),
// that it is not empty and starts where the one before ended (from Base),
// that it lies within the range, and — for the last frame — that the
// frames end exactly at Next after exactly Len bytes. A failure is
// returned instead of the frame's bytes, so a store never receives the
// whole body of a bad source and creates nothing; abort (the put's context
// cancel) is called as well, so a store mid-upload gives up at once.
type verifier struct {
	src   sm.SegmentSource
	r     io.Reader
	abort func()
	read  int64     // source bytes consumed
	next  sm.Offset // the offset the next frame must start at
	buf   []byte    // the verified frame not yet handed on
	err   error
}

func newVerifier(src sm.SegmentSource, r io.Reader, abort func()) *verifier {
	return &verifier{src: src, r: r, abort: abort, next: src.Base}
}

func (v *verifier) Read(p []byte) (int, error) {
	for len(v.buf) == 0 {
		if v.err != nil {
			return 0, v.err
		}
		if v.read == v.src.Len {
			if v.next != v.src.Next {
				return 0, v.fail(sm.ObjErrSourceCorrupt, v.read, fmt.Sprintf("the frames end at offset %d, want %d", v.next, v.src.Next))
			}
			v.err = io.EOF
			return 0, io.EOF
		}
		v.frame()
	}
	n := copy(p, v.buf)
	v.buf = v.buf[n:]
	return n, nil
}

// frame reads and checks the next frame into v.buf, or sets v.err.
func (v *verifier) frame() {
	at := v.read
	left := v.src.Len - at
	if left < 4 {
		v.fail(sm.ObjErrSourceCorrupt, at, fmt.Sprintf("the range ends %d bytes into a frame header", left))
		return
	}
	var hdr [4]byte
	if !v.fill(hdr[:]) {
		return
	}
	n := int64(binary.LittleEndian.Uint32(hdr[:]))
	if n < sm.FrameHeaderBytes-4 || n > sm.BatchFrameMax {
		v.fail(sm.ObjErrSourceCorrupt, at, fmt.Sprintf("frame length %d", n))
		return
	}
	if 4+n > left {
		v.fail(sm.ObjErrSourceCorrupt, at, fmt.Sprintf("a %d-byte frame runs %d bytes past the range's end", 4+n, 4+n-left))
		return
	}
	frame := make([]byte, 4+n)
	copy(frame, hdr[:])
	if !v.fill(frame[4:]) {
		return
	}
	b, _, err := sm.DecodeBatch(frame)
	switch {
	case err != nil:
		v.fail(sm.ObjErrSourceCorrupt, at, err.Error())
		return
	case b.BaseOffset != v.next:
		v.fail(sm.ObjErrSourceCorrupt, at, fmt.Sprintf("batch at offset %d, want %d", b.BaseOffset, v.next))
		return
	case b.Len() == 0:
		v.fail(sm.ObjErrSourceCorrupt, at, fmt.Sprintf("empty batch at offset %d", b.BaseOffset))
		return
	}
	v.next = b.NextOffset()
	if v.read == v.src.Len && v.next != v.src.Next {
		v.fail(sm.ObjErrSourceCorrupt, v.read, fmt.Sprintf("the frames end at offset %d, want %d", v.next, v.src.Next))
		return
	}
	v.buf = frame
}

// fill reads len(p) source bytes or sets v.err: a source that ends early
// was cut (truncated or removed) while read.
func (v *verifier) fill(p []byte) bool {
	n, err := io.ReadFull(v.r, p)
	v.read += int64(n)
	if err == nil {
		return true
	}
	var ce *Error
	switch {
	case errors.As(err, &ce):
		v.fail(ce.Kind, v.read, err.Error())
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		v.fail(sm.ObjErrSourceGone, v.read, fmt.Sprintf("the segment ends before the range's %d bytes (cut while read)", v.src.Len))
	default:
		v.fail(sm.ObjErrSourceGone, v.read, "read: "+err.Error())
	}
	return false
}

// fail records why the source is refused, naming the segment byte.
func (v *verifier) fail(kind sm.ObjErr, at int64, why string) error {
	v.err = &Error{Kind: kind, Op: "put", Err: fmt.Errorf("source %s/%d segment %d byte %d: %s",
		v.src.TP.Topic, v.src.TP.Partition, v.src.Segment, v.src.Pos+at, why)}
	if v.abort != nil {
		v.abort()
	}
	return v.err
}
