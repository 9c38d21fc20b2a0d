package sm

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// ---- object store ----------------------------------------------------------

// Object-store effects: the tiered log's cold copy (segments uploaded by
// partition leaders, deleted by the controller's garbage collector), and
// later ETL modules. The store has Google Cloud Storage's semantics, which
// runtime.ObjectStore documents: strongly consistent reads, lists and
// deletes after a completed write; a create-only write (GCS's
// ifGenerationMatch=0) that fails when the name exists; no append, no
// rename. Names are relative: the adapter adds the configured prefix.
//
// Ordering: object operations complete in any order, arbitrarily late, and
// independently of every other effect.

// ObjectOpKind is what an ObjectOp does.
type ObjectOpKind uint8

// Object operations. Not on any wire; explicit because traces print them.
const (
	// ObjPut writes object Name from Source's bytes followed by Data.
	ObjPut ObjectOpKind = 0 // put
	// ObjGet reads Len bytes of Name from Off (Len ≤ 0: to the end).
	ObjGet ObjectOpKind = 1 // get
	// ObjDelete deletes Name.
	ObjDelete ObjectOpKind = 2 // delete
	// ObjList lists, in name order, the objects whose names start with
	// Prefix and sort after After, at most Limit of them.
	ObjList ObjectOpKind = 3 // list
)

// ObjectOp is one object-store operation.
type ObjectOp struct {
	ID   EffectID
	Kind ObjectOpKind
	// Name is the object (put, get, delete).
	Name string
	// Source, on a put, names bytes of a local sealed segment that the
	// object starts with: the adapter reads them from the node's log store,
	// so segment bytes never pass through the state machine. The adapter
	// checks every frame's checksum and that the frames hold exactly
	// [Source.Base, Source.Next) before the object is created; when they do
	// not, the put fails with ObjErrSourceCorrupt (or ObjErrSourceGone for a
	// segment no longer on disk) and creates nothing.
	Source *SegmentSource
	// Data follows Source's bytes in the object (a put).
	Data []byte
	// CreateOnly makes a put fail with ObjErrExists when Name exists (GCS
	// ifGenerationMatch=0): a name is written at most once, so no writer —
	// a zombie leader included — ever replaces an object.
	CreateOnly bool
	// Off and Len are a get's byte range.
	Off, Len int64
	// Prefix, After and Limit shape a list (Limit ≤ 0: the adapter's page
	// size). A list returns one page; ObjectDone.More says whether another
	// follows, which the caller asks for with After = the last name.
	Prefix, After string
	Limit         int
}

// SegmentSource is a byte range of a sealed segment of a local partition
// log: Pos and Len in the file of the segment based at Segment, holding the
// frames of offsets [Base, Next).
type SegmentSource struct {
	TP         TopicPartition
	TopicID    TopicID
	Segment    Offset
	Pos, Len   int64
	Base, Next Offset
}

// ObjErr classifies why an object operation did not succeed.
type ObjErr uint8

// Object errors.
const (
	ObjErrNone ObjErr = 0 // none
	// ObjErrNotFound: the object does not exist (get; a delete reports
	// OutcomeOK with it: the object is gone either way).
	ObjErrNotFound ObjErr = 1 // not-found
	// ObjErrExists: a CreateOnly put found the name taken (HTTP 412).
	ObjErrExists ObjErr = 2 // exists
	// ObjErrThrottled: the store asked the caller to slow down (HTTP 429)
	// and the adapter's retries ran out. Retriable.
	ObjErrThrottled ObjErr = 3 // throttled
	// ObjErrUnavailable: the store failed or could not be reached (HTTP
	// 5xx, a timeout, a reset connection) and the adapter's retries ran
	// out. Retriable.
	ObjErrUnavailable ObjErr = 4 // unavailable
	// ObjErrSourceGone: a put's source segment is no longer on disk.
	ObjErrSourceGone ObjErr = 5 // source-gone
	// ObjErrSourceCorrupt: a put's source bytes failed their checksums or
	// do not hold the offsets it names; Reason says where.
	ObjErrSourceCorrupt ObjErr = 6 // source-corrupt
	// ObjErrInvalid: the operation itself is malformed (a bad name, a
	// range past the end); a bug in the caller, not the store.
	ObjErrInvalid ObjErr = 7 // invalid
)

//go:generate go tool stringer -type=ObjectOpKind,ObjErr -linecomment -output=object_string.go

// ObjectDone completes ObjectOp ID.
//
//   - OutcomeOK: done. A put created the object (Size, Generation); a get
//     returned Data (shorter than asked at the object's end); a delete
//     removed it or found it absent (Err = ObjErrNotFound); a list returned
//     Objects and More.
//   - OutcomeFailed: the operation did not take effect; Err and Reason say
//     why. Only failures the adapter is sure of are Failed: a precondition,
//     a missing object, a bad source, a store that refused before writing.
//     Gets and lists that fail are always Failed (they change nothing).
//   - OutcomeUnknown: a put or delete whose effect the adapter cannot know
//     (a timeout, a reset connection or a 5xx after the request was sent):
//     the object may or may not exist now. The state machine treats it as
//     "maybe", never as "no".
type ObjectDone struct {
	ID      EffectID
	Outcome Outcome
	Err     ObjErr
	Reason  string
	// Data is a get's bytes.
	Data []byte
	// Size and Generation describe the object a put created or a get read.
	Size       int64
	Generation int64
	// Objects and More are a list's page.
	Objects []ObjectInfo
	More    bool
}

// ObjectInfo is one listed object.
type ObjectInfo struct {
	Name       string
	Size       int64
	Generation int64
}

func (ObjectDone) isEvent() {}

// ---- tiered segments -------------------------------------------------------

// RemoteSegment is one uploaded segment as the controller records it: the
// object Name holds the frames of offsets [Base, Next) in its first
// DataBytes bytes, then IndexBytes of EncodeSegmentIndex — the index of
// those frames with positions from the object's start — so a cold read gets
// the index, then the frames it locates.
type RemoteSegment struct {
	Name       string
	Base, Next Offset
	DataBytes  int64
	IndexBytes int64
	// MaxTimestamp is the largest batch timestamp in it (time retention).
	MaxTimestamp int64
	// LeaderEpoch is the epoch of the leader that uploaded it; Epochs the
	// epoch starts of its batches (as SegmentIndex.Epochs).
	LeaderEpoch Epoch
	Epochs      []EpochStart
}

// Bytes is the object's size.
func (s *RemoteSegment) Bytes() int64 { return s.DataBytes + s.IndexBytes }

// RemoteLog summarises a partition's uploaded range for metadata: the
// controller's records hold segments [Start, End) of Bytes in Segments
// objects. End never decreases; Start rises as remote retention drops
// segments. Empty (Segments = 0) with End > 0 means everything uploaded was
// dropped; the next segment must still start at End.
type RemoteLog struct {
	Start, End Offset
	Bytes      int64
	Segments   int32
}

// ObjectName is the parsed name of an uploaded segment object:
//
//	segments/<topic ID>/<partition>/<base>-<epoch>-<broker>-<incarnation>-<effect>.seg
//
// with base as 20 decimal digits (names sort by base) and the rest decimal.
// The topic ID keeps a re-created topic's objects apart; base and epoch say
// what it holds and who wrote it; broker, incarnation and effect ID are
// unique to the one upload that chose the name (an incarnation is unique
// per process start, and effect IDs per process), so two uploads never pick
// the same name, a zombie's included, without the state machine drawing
// randomness.
type ObjectName struct {
	TopicID     TopicID
	Partition   int32
	Base        Offset
	Epoch       Epoch
	Broker      NodeID
	Incarnation uint64
	Effect      EffectID
}

// SegmentsPrefix is the prefix of every segment object.
const SegmentsPrefix = "segments/"

// PartitionPrefix is the prefix of partition's segment objects of topic id.
func PartitionPrefix(id TopicID, partition int32) string {
	return SegmentsPrefix + base64.RawURLEncoding.EncodeToString(id[:]) + "/" + strconv.FormatInt(int64(partition), 10) + "/"
}

// TopicPrefix is the prefix of every segment object of topic id.
func TopicPrefix(id TopicID) string {
	return SegmentsPrefix + base64.RawURLEncoding.EncodeToString(id[:]) + "/"
}

func (n ObjectName) String() string {
	return fmt.Sprintf("%s%020d-%d-%d-%d-%d.seg", PartitionPrefix(n.TopicID, n.Partition), n.Base, n.Epoch, n.Broker, n.Incarnation, n.Effect)
}

// ParseObjectName reads a segment object's name back.
func ParseObjectName(s string) (ObjectName, error) {
	var n ObjectName
	bad := func(why string) (ObjectName, error) {
		return ObjectName{}, fmt.Errorf("object name %q: %s", s, why)
	}
	rest, ok := strings.CutPrefix(s, SegmentsPrefix)
	if !ok {
		return bad("not under " + SegmentsPrefix)
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 {
		return bad("want segments/<topic>/<partition>/<file>")
	}
	id, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || len(id) != len(n.TopicID) {
		return bad("bad topic ID")
	}
	copy(n.TopicID[:], id)
	p, err := strconv.ParseInt(parts[1], 10, 32)
	if err != nil || p < 0 {
		return bad("bad partition")
	}
	n.Partition = int32(p)
	file, ok := strings.CutSuffix(parts[2], ".seg")
	if !ok {
		return bad("not a .seg file")
	}
	f := strings.Split(file, "-")
	if len(f) != 5 || len(f[0]) != 20 {
		return bad("want <base:20>-<epoch>-<broker>-<incarnation>-<effect>.seg")
	}
	var v [5]uint64
	for i, x := range f {
		if v[i], err = strconv.ParseUint(x, 10, 64); err != nil {
			return bad("field " + strconv.Itoa(i) + " is not a number")
		}
	}
	n.Base, n.Epoch, n.Broker, n.Incarnation, n.Effect = Offset(v[0]), Epoch(v[1]), NodeID(v[2]), v[3], EffectID(v[4])
	if n.String() != s {
		return bad("not in canonical form")
	}
	return n, nil
}
