package sm

import pb "go.etcd.io/raft/v3/raftpb"

// Effects and their completions.
//
// A state machine asks for work in Ready and learns how it ended from a
// completion event that names the work's EffectID. Every effect kind states
// its own ordering: some complete in issue order (appends to one partition
// log, raft saves), others in any order and arbitrarily late. A completion
// may arrive after the component that asked for it is gone; a node drops a
// completion whose ID it no longer tracks. runtime/ has one interface per
// kind (LogStore, RaftStore) that documents what an adapter promises.

// EffectID names one effect a node issued. IDs are unique and increasing
// within one process (incarnation) of a node; zero is never issued.
type EffectID uint64

// Outcome is how an effect ended.
type Outcome uint8

//go:generate go tool stringer -type=Outcome,LogOpKind -linecomment

// Outcomes. The values are not on any wire but are explicit anyway: a trace
// prints them.
const (
	// OutcomeOK: the effect took place (durably, when it asked to be synced).
	OutcomeOK Outcome = 0 // ok
	// OutcomeFailed: the effect did not take place and left nothing behind;
	// the reason says why and whether retrying can help.
	OutcomeFailed Outcome = 1 // failed
	// OutcomeUnknown: the adapter cannot tell whether the effect took place
	// (an I/O error mid-write, a failed fsync, a lost reply, a timeout).
	// The state machine must treat it as "maybe", as a client treats an
	// unknown produce outcome.
	OutcomeUnknown Outcome = 2 // unknown
)

// ---- partition logs --------------------------------------------------------

// LogOpKind is what a LogOp does to its partition log.
type LogOpKind uint8

// Log operations.
const (
	// LogAppend appends encoded batches (EncodeBatch frames) to TP's log.
	LogAppend LogOpKind = 0 // append
	// LogTruncate removes every batch of TP's log at or after Offset (a
	// batch boundary), making the log end exactly Offset. It also cuts any
	// torn or corrupt bytes at or after that point; recovery relies on it.
	LogTruncate LogOpKind = 1 // truncate
	// LogDelete removes TP's log entirely (topic deleted, replica dropped).
	LogDelete LogOpKind = 2 // delete
	// 3 is reserved: it was a separate roll operation, which could not be
	// refused without leaving the store and the state machine disagreeing
	// on byte positions. Rolls ride on appends (LogOp.Roll).
	// LogTrim deletes every sealed segment that ends at or below Offset, a
	// segment base: the log start becomes Offset (retention).
	LogTrim LogOpKind = 4 // trim
	// LogReset removes every segment and starts the log empty at Offset (a
	// follower whose leader's log starts beyond its own end). With TopicID
	// set it also creates a log that does not exist yet.
	LogReset LogOpKind = 5 // reset
	// LogDamaged records that TP's log holds corrupt bytes at rest from
	// Offset on (a batch boundary at or below them), found by a read; Note
	// says where and what. The store keeps the record durably and, at every
	// start until a LogTruncate to Offset or below (or a LogReset or
	// LogDelete), reports the log in Durable.Damaged with Note and a
	// manifest cut at Offset, so the broker's damaged-replica path (report,
	// leave the ISR, cut, refetch from the leader) repairs it. Nothing is
	// changed in the segments.
	LogDamaged LogOpKind = 6 // damaged
)

// LogOp is one write to one partition log. Its completion, LogDone with the
// same ID, arrives after the write is durable when Sync is set: a state
// machine never acts on a write — acknowledges it, reports it to a leader —
// before that completion.
//
// Ordering: the operations on one TP complete in issue order (a log store
// may batch them — group commit — but never reorders them); operations on
// different partitions complete in any order.
//
// A log is created by its first operation (an append at offset 0, or a
// LogReset) and records TopicID; an operation naming another nonzero
// TopicID than the log's is refused as an I/O-level error, so a replica of
// a re-created topic never writes into the old topic's log (LogDelete
// first).
//
// LogTruncate may cut into sealed segments: segments after the one holding
// Offset go, and that one becomes the active segment again (its index file
// removed), cut at Offset. Truncating to a segment's base leaves it empty.
type LogOp struct {
	ID      EffectID
	Kind    LogOpKind
	TP      TopicPartition
	TopicID TopicID
	// Data holds whole EncodeBatch frames for LogAppend, all into the active
	// segment.
	Data []byte
	// Roll, on a LogAppend, first seals the active segment — durable in
	// full, with its index file (SegmentIndex, built by IndexBuilder)
	// beside it — and starts a new segment at Data's base offset, which the
	// frames then go into. The state machine decides when segments roll;
	// stores never roll on their own. The roll and the append are one
	// operation: refused together (nothing changed), or done together.
	Roll bool
	// Offset is the new log end for LogTruncate, and the new log start for
	// LogTrim and LogReset.
	Offset Offset
	// Sync asks for an append to be durable before it completes. Truncate,
	// delete, trim, reset and damaged are always durable when they
	// complete.
	Sync bool
	// Note is LogDamaged's description of the damage.
	Note string
}

// LogDone completes LogOp ID.
//
//   - OutcomeOK: done, and durable if the op asked for Sync.
//   - OutcomeFailed: refused before anything was written, for a reason that
//     may pass (the log's capacity or the file system is full, the process
//     is out of file descriptors). Only appends are refused, and every later
//     append to the same log that does not start where the log now ends is
//     refused too, so the log on disk never has a gap. The node carries on.
//   - OutcomeUnknown: an I/O error; the write may be partial and the page
//     cache cannot be trusted (fsyncgate). Nodes stop (Ready.Fatal) and
//     recover from disk after a restart.
type LogDone struct {
	ID      EffectID
	Outcome Outcome
	Reason  string
}

// ---- partition log reads ---------------------------------------------------

// LogRead reads whole batch frames from one segment of TP's log: from byte
// Pos, which the segment's index names as a frame's start, up to MaxBytes
// of whole frames (at least one frame when one starts at Pos). A read sees
// every append whose LogDone was delivered before the read was issued.
//
// Ordering: reads complete in any order, arbitrarily late, and independently
// of the log's writes. A read may race a truncate, trim, reset or delete of
// the same log: it then returns the bytes from before the change or fails;
// a state machine that changed the log since it issued a read discards the
// result.
type LogRead struct {
	ID EffectID
	TP TopicPartition
	// Segment is the base offset of the segment to read.
	Segment Offset
	// Pos is where in the segment file to start.
	Pos int64
	// MaxBytes bounds the frames returned after the first.
	MaxBytes int
}

// LogReadDone completes LogRead ID.
//
//   - OutcomeOK: Data holds whole frames from Pos (none at the segment's
//     end). The store does not check them; the state machine verifies every
//     checksum, and treats a bad frame as corruption at rest.
//   - OutcomeFailed: nothing could be read: the segment is gone (trimmed,
//     truncated away, deleted) or the read failed (EIO). Reason says which.
//
// Reads change nothing, so no outcome is unknown.
type LogReadDone struct {
	ID      EffectID
	Outcome Outcome
	Data    []byte
	Reason  string
}

// ---- raft persistence ------------------------------------------------------

// RaftSave persists raft entries and hard state (the controller). Entries
// overwrite any stored entries at the same or later indexes. Saves complete
// in issue order, each after it is durable when Sync is set.
type RaftSave struct {
	ID        EffectID
	HardState *pb.HardState
	Entries   []*pb.Entry
	// Snapshot, when set, is written first: persist it; entries at or below
	// its index may then be deleted. Stored entries above its index stay
	// only if the stored log holds the snapshot's own last entry (same index
	// and term), which raft's log matching makes a valid continuation;
	// otherwise (a snapshot from the leader replacing a divergent log) they
	// are deleted too. The save is atomic: a crash keeps all of it or none.
	Snapshot *pb.Snapshot
	Sync     bool
}

// RaftDone completes RaftSave ID: OutcomeOK (durable), or OutcomeUnknown
// (an I/O error: the node stops). Raft saves are never refused.
type RaftDone struct {
	ID      EffectID
	Outcome Outcome
	Reason  string
}
