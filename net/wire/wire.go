// Package wire is Weir's binary wire format: one length-prefixed, versioned
// frame per sm.Message, plus the Hello frame that opens every connection.
//
// A frame is, little endian like the batch frames of sm.EncodeBatch:
//
//	u32 length   bytes after this field (version + type + payload), at least 2
//	u8  version  encoding version of this frame (Version)
//	u8  type     Type of the payload
//	payload      the fields of the message in declaration order
//
// Field encodings: fixed-width integers (u8, u16, i32, u64, i64; Go int as
// i64); float64 as the u64 of its IEEE 754 bits; bool as one byte that must
// be 0 or 1; string and []byte as u32 length then the bytes; a slice as u32
// count then its elements; an sm.TopicID as its 16 bytes; a batch as one sm.EncodeBatch frame (its CRC is
// carried as sealed); an optional struct (BrokerHeartbeat.Health) as u8
// presence (0 or 1) then its fields; a raft message as u8 presence then u32
// length and its protobuf encoding. The encoding is canonical for every type
// but RaftMessage: a frame that decodes re-encodes to the same bytes.
//
// Decoders are total: any input yields a message or a *DecodeError naming the
// message, the field path and the problem, never a panic. No decoder allocates
// more than a small multiple of the input it was given: every length and count
// is checked against the bytes that remain before anything is allocated, and
// ReadFrame refuses a frame whose length prefix exceeds its limit before
// reading the body.
package wire

import (
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/weirmq/weir/sm"
)

// Version is the encoding version this build writes and the only one it
// reads. A frame carries it so that a future build can decode old frames and
// refuse unknown ones with a clear error instead of misreading them.
const Version uint8 = 1

// HeaderBytes is the size of a frame's header (length prefix, version, type):
// the smallest possible frame.
const HeaderBytes = 6

// DefaultMaxFrameBytes bounds a whole frame (length prefix included) when the
// caller sets no limit. It admits one batch of the largest size sm allows
// (sm.BatchFrameMax) plus the message around it, so any valid partition
// configuration can replicate; callers with smaller batch limits should set a
// smaller bound, since it is what a peer can make a receiver allocate.
const DefaultMaxFrameBytes = sm.BatchFrameMax + 1<<20

// Type identifies a frame's payload: TypeHello, or the sm.MsgKind of the
// message it carries (the one list of message types is sm.MsgKind). The
// values are part of the protocol and never reused.
type Type uint8

// TypeHello is the frame that opens every connection. Zero is invalid, so
// that a zeroed buffer never decodes; every other value is an sm.MsgKind.
const TypeHello Type = 1

// TypeFor is the frame type that carries messages of kind k.
func TypeFor(k sm.MsgKind) Type { return Type(k) }

// Kind is the message kind a frame of type t carries; false for TypeHello
// and for values that name no message.
func (t Type) Kind() (sm.MsgKind, bool) {
	k := sm.MsgKind(t)
	return k, k.Valid()
}

// valid reports whether t names a frame this build reads.
func (t Type) valid() bool {
	_, ok := t.Kind()
	return t == TypeHello || ok
}

// Types lists every valid Type in order (Hello first, then every message
// kind), so tests and tools can iterate.
func Types() []Type {
	ts := []Type{TypeHello}
	for _, k := range sm.MsgKinds() {
		ts = append(ts, TypeFor(k))
	}
	return ts
}

// String names the type as its Go struct is named, for errors and logs.
func (t Type) String() string {
	if t == TypeHello {
		return "Hello"
	}
	if k, ok := t.Kind(); ok {
		return k.String()
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// Role is what a connecting process is. It decides which identities its
// certificate may claim (see the transport package). The values are part of
// the protocol (Hello): append only (TestEnumsAppendOnly).
type Role uint8

//go:generate go tool stringer -type=Role -linecomment

// Roles. Zero is invalid. String is the role's name as used in certificate
// common names. Admin clients (sm.RoleAdmin) never connect: they live
// inside server processes.
const (
	RoleClient     Role = 1 // client
	RoleBroker     Role = 2 // broker
	RoleController Role = 3 // controller
)

// Hello opens every connection, once in each direction, so that each side
// learns which node the other claims to be before any message flows. The
// claim is checked against the peer's verified certificate.
type Hello struct {
	Node sm.NodeID
	Role Role
	// Version is the highest protocol version the sender speaks. Both sides
	// speak Version today; a later build uses min(own, peer's).
	Version uint8
}

// Errors. Every decoding failure wraps ErrMalformed; a version or type this
// build does not know also wraps ErrVersion or ErrUnknownType.
var (
	// ErrMalformed marks input that does not decode: the peer is broken or
	// hostile, and the connection carrying it should be closed.
	ErrMalformed = errors.New("wire: malformed frame")
	// ErrVersion marks a frame of an encoding version this build does not read.
	ErrVersion = errors.New("wire: unsupported version")
	// ErrUnknownType marks a frame whose type byte names no message.
	ErrUnknownType = errors.New("wire: unknown frame type")
	// ErrFrameTooLarge marks a frame refused by its length prefix, before its
	// body was read or allocated, or a message too large to encode.
	ErrFrameTooLarge = errors.New("wire: frame too large")
)

// DecodeError says which message and field failed to decode and why, e.g.
// "wire: ProduceRequest: records[3].value: length 4294967295 exceeds
// remaining 12 bytes". It wraps ErrMalformed and, where it applies, ErrVersion
// or ErrUnknownType or an sm batch error.
type DecodeError struct {
	Msg    string // the message type's name, or "frame" for the header
	Field  string // the field path, e.g. "delta.partitions[2].isr"; empty for the whole message
	Reason string
	cause  error
}

// Error formats the message, field path and reason.
func (e *DecodeError) Error() string {
	if e.Field == "" {
		return "wire: " + e.Msg + ": " + e.Reason
	}
	return "wire: " + e.Msg + ": " + e.Field + ": " + e.Reason
}

// Unwrap exposes ErrMalformed and the specific cause for errors.Is.
func (e *DecodeError) Unwrap() []error {
	if e.cause != nil {
		return []error{ErrMalformed, e.cause}
	}
	return []error{ErrMalformed}
}

func headerError(reason string, cause error) error {
	return &DecodeError{Msg: "frame", Reason: reason, cause: cause}
}

// TypeOf reports the frame type that carries m: its Kind. It fails for nil
// and for a kind that names no message.
func TypeOf(m sm.Message) (Type, error) {
	if m == nil {
		return 0, errors.New("wire: no frame type for a nil message")
	}
	k := m.Kind()
	if !k.Valid() {
		return 0, fmt.Errorf("wire: no frame type for message %T (kind %v)", m, k)
	}
	return TypeFor(k), nil
}

// AppendFrame appends m's frame to dst. It fails only for a message type it
// does not know, or a field too long for its length prefix, or a batch above
// sm.BatchFrameMax (which a receiver would refuse).
func AppendFrame(dst []byte, m sm.Message) ([]byte, error) {
	t, err := TypeOf(m)
	if err != nil {
		return dst, err
	}
	e := encoder{buf: dst, start: len(dst)}
	e.header(t)
	encodeMessage(&e, m)
	return e.finish()
}

// Encode returns m's frame in a new buffer; see AppendFrame.
func Encode(m sm.Message) ([]byte, error) { return AppendFrame(nil, m) }

// AppendHello appends h's frame to dst.
func AppendHello(dst []byte, h Hello) []byte {
	e := encoder{buf: dst, start: len(dst)}
	e.header(TypeHello)
	e.u64(uint64(h.Node))
	e.u8(uint8(h.Role))
	e.u8(h.Version)
	out, _ := e.finish() // fixed size: cannot fail
	return out
}

// HelloFrameBytes is the size of a Hello frame, so a reader can bound the
// first frame of a stream tightly.
const HelloFrameBytes = HeaderBytes + 8 + 1 + 1

// PeekType returns the type of a whole frame after checking its header, so a
// reader can tell a Hello from a message without decoding either.
func PeekType(frame []byte) (Type, error) {
	if len(frame) < HeaderBytes {
		return 0, headerError(fmt.Sprintf("%d bytes, shorter than the %d-byte header", len(frame), HeaderBytes), nil)
	}
	n := uint64(frame[0]) | uint64(frame[1])<<8 | uint64(frame[2])<<16 | uint64(frame[3])<<24
	if n != uint64(len(frame)-4) {
		return 0, headerError(fmt.Sprintf("length prefix %d but %d bytes follow", n, len(frame)-4), nil)
	}
	if v := frame[4]; v != Version {
		return 0, headerError(fmt.Sprintf("version %d not supported (this build speaks %d)", v, Version), ErrVersion)
	}
	t := Type(frame[5])
	if !t.valid() {
		return 0, headerError(fmt.Sprintf("unknown type %d", frame[5]), ErrUnknownType)
	}
	return t, nil
}

// Decode decodes one whole frame (length prefix included, as ReadFrame
// returns it) into a message. Byte slices in the result (record keys and
// values) alias frame, so the caller must not reuse frame afterwards. A Hello
// frame is an error here: it is only valid as a stream's first frame (see
// DecodeHello).
func Decode(frame []byte) (sm.Message, error) {
	t, err := PeekType(frame)
	if err != nil {
		return nil, err
	}
	if t == TypeHello {
		return nil, &DecodeError{Msg: "Hello", Reason: "unexpected Hello after the stream's first frame"}
	}
	k, _ := t.Kind()
	d := decoder{buf: frame[HeaderBytes:], msg: t.String()}
	m := decodeMessage(&d, k)
	if err := d.end(); err != nil {
		return nil, err
	}
	return m, nil
}

// DecodeHello decodes a stream's first frame, which must be a Hello.
func DecodeHello(frame []byte) (Hello, error) {
	t, err := PeekType(frame)
	if err != nil {
		return Hello{}, err
	}
	if t != TypeHello {
		return Hello{}, &DecodeError{Msg: t.String(), Reason: "expected Hello as the stream's first frame"}
	}
	d := decoder{buf: frame[HeaderBytes:], msg: "Hello"}
	h := Hello{Node: sm.NodeID(d.u64("node")), Role: Role(d.u8("role")), Version: d.u8("version")}
	if d.err == nil && (h.Role < RoleClient || h.Role > RoleController) {
		d.fail("role", fmt.Sprintf("invalid role %d", h.Role), nil)
	}
	if d.err == nil && h.Version == 0 {
		d.fail("version", "invalid version 0", nil)
	}
	if d.err == nil && h.Node == sm.NoNode {
		d.fail("node", "node id 0 is reserved for none", nil)
	}
	if err := d.end(); err != nil {
		return Hello{}, err
	}
	return h, nil
}

// readChunk is how much ReadFrame allocates ahead of the bytes that actually
// arrived, so a lying length prefix costs at most this much memory.
const readChunk = 64 << 10

// ReadFrame reads one whole frame (length prefix included) from r. It
// checks the length prefix against max (the bound on the whole frame; zero
// means DefaultMaxFrameBytes) before reading the body, and grows its buffer
// (doubling) only as bytes arrive, so neither a lying nor an oversized prefix
// makes it allocate more than about twice the bytes received plus 64 KiB. It
// returns io.EOF only when r ends cleanly before a frame; a frame cut short is
// io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader, max int) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxFrameBytes
	}
	var prefix [4]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return nil, err
	}
	n := uint64(prefix[0]) | uint64(prefix[1])<<8 | uint64(prefix[2])<<16 | uint64(prefix[3])<<24
	if n < HeaderBytes-4 {
		return nil, headerError(fmt.Sprintf("length %d below the %d-byte minimum", n, HeaderBytes-4), nil)
	}
	if 4+n > uint64(max) {
		return nil, fmt.Errorf("%w: length prefix announces %d bytes, above the limit of %d", ErrFrameTooLarge, 4+n, max)
	}
	total := int(4 + n)
	buf := make([]byte, 4, min(total, 4+readChunk))
	copy(buf, prefix[:])
	for len(buf) < total {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(total, 2*cap(buf)))
			copy(grown, buf)
			buf = grown
		}
		k, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return buf, nil
}
