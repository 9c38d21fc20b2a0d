// Package wal is Weir's segmented write-ahead log for partition logs: the
// production executor of the state machines' disk effects (sm.LogAppend,
// with or without Roll, LogTrim, LogTruncate, LogReset, LogDelete,
// LogDamaged) and segment reads (sm.LogRead), and the reader that turns a
// node's disk into manifests at start.
//
// # Layout
//
//	<path>/LOCK                                  flock'ed by the one process using the WAL
//	<path>/SYNCED                                the sync ledger (see Recovery)
//	<path>/<topic>-<partition>/                  one directory per partition
//	<path>/<topic>-<partition>/PARTITION         topic, partition and sm.TopicID (versioned, CRC32C)
//	<path>/<topic>-<partition>/<base>.log        segments, named by the offset of their first batch,
//	                                             20 digits, zero-padded (00000000000000000000.log)
//	<path>/<topic>-<partition>/<base>.index      beside every sealed segment: sm.EncodeSegmentIndex
//	<path>/<topic>-<partition>/<base>.checkpoint the active segment's index, left by a clean Close
//	<path>/<topic>-<partition>/DAMAGED           corruption a read found (sm.LogDamaged), until cut
//	<path>/<topic>-<partition>/<name>.deleted    a trimmed or reset segment, being unlinked
//	<path>/<topic>-<partition>.deleting.<n>/     a deleted partition, being removed
//
// A segment holds exactly consecutive sm.EncodeBatch frames, nothing else:
// the format the simulator's disk models, so recovery runs the same decoder
// (sm.ScanSegment) and the same checksums. Offsets run on without gaps from
// one segment to the next. Every segment but the last is sealed: it was
// fdatasync'ed in full and its index file written and fdatasync'ed before
// the next one was created, so a defect in a sealed segment is never a torn
// write. The index is the one sm.IndexBuilder builds (the state machines'
// rule): the WAL builds it as it appends, keeps it in memory (one entry per
// sm.IndexIntervalBytes, about 0.1% of the data) and writes it at the roll.
//
// The PARTITION file is written (to a temporary name, synced, renamed, the
// directory synced) when the directory is created, before its first
// segment. An operation naming a nonzero TopicID other than the log's fails
// and writes nothing (a replica of a deleted and re-created topic never
// writes into the old log: the broker deletes it first); a log without an
// ID — created by an op naming none, or by a WAL older than topic IDs —
// takes the first ID an operation names.
//
// # Operations
//
// The state machine decides where segments begin and end; the WAL never
// rolls on its own.
//
//   - LogAppend writes whole frames at the end of the active segment (the
//     partition's first segment is created at its first frame's base).
//   - LogAppend with Roll first seals the active segment: it fdatasyncs it,
//     writes its index file and fdatasyncs it, creates the next segment at
//     the append's base and syncs the directory; then the frames go into the
//     new segment. The append is checked in full (frames, offsets, capacity,
//     free space) before the roll starts, and running out of space or
//     descriptors during the roll refuses the whole append
//     (sm.OutcomeFailed) after removing what the roll wrote: the segment
//     stays active, and a later rolling append succeeds. An empty active
//     segment has nothing to seal.
//   - LogTrim deletes every sealed segment ending at or below Offset, oldest
//     first, each index file before its segment; the directory is synced
//     before the trim completes, and the segments, renamed to .deleted, are
//     unlinked in the background (a large unlink is slow with ext4 online
//     discard, and must not stall the committer).
//   - LogTruncate removes the segments after the one holding Offset (newest
//     first), unseals that one (its index file goes) and cuts it; truncating
//     to a segment's base leaves it empty. The sync ledger is lowered first.
//   - LogReset removes every segment and creates an empty one at Offset,
//     creating the partition (with its PARTITION file) when it does not
//     exist.
//   - LogDelete renames the directory to a tombstone, syncs the root, and
//     removes it in the background.
//   - LogDamaged writes the DAMAGED record (offset and note; the lowest
//     offset wins) durably and changes no segment. Every Open reports the
//     log in Recovery.Damaged with the note, its manifest cut at the
//     offset, until a truncate to the offset or below cuts the bytes (the
//     record goes after the cut is durable) or a reset or delete removes
//     them.
//
// # Executing effects
//
// One committer goroutine executes every operation, from every Executor, in
// arrival order (so one node's operations complete in issue order). It takes
// everything queued, queues the writes (coalesced into one write per segment),
// then one fdatasync per segment that a Sync append touched, runs them through
// the backend, and only then reports completions. Appends that arrive while
// a group's fdatasync is in flight wait and form the next group: many
// produces, one fsync (group commit). Truncations, deletions, rolls, trims,
// resets and damage records run the queued I/O first and are always synced,
// with their directory.
//
// Any I/O error poisons the WAL: that group and every later operation fail
// with the first error, and the process must restart from disk. After a
// failed fdatasync the page cache no longer tells the truth about the disk
// (PostgreSQL's "fsyncgate"), so nothing is retried in place. Refusals that
// write nothing (capacity, free space, descriptors, malformed frames, an
// offset inside a batch, a foreign topic ID) fail only their operation.
//
// # Reads
//
// Executor.StartRead (runtime.LogReader) queues reads for a pool of
// Config.ReadConcurrency reader goroutines, never the committer: a slow or
// failing read delays other reads, not appends. Readers see each log
// through a view the committer publishes after a group's I/O and before any
// of its completions: the segments and, for each, the bytes completed
// appends wrote. A read opens the segment, preads from Pos up to MaxBytes
// (at least one whole frame) in one system call (two when the first frame
// is larger than MaxBytes), never past the view's bytes, and returns whole frames unchecked (the state machine verifies
// every CRC). A segment not in the view (trimmed, truncated away, reset,
// deleted) or missing on disk fails naming the file; an I/O error fails
// naming the file and byte. Reads go through Config.FS, so walfs.Faulty
// can fail them.
//
// # File system
//
// Every file and directory operation goes through Config.FS (package
// walfs): the operating system's by default, where commit groups may run
// through io_uring; any other FS — walfs.Mem, a strict in-memory file
// system that keeps only synced data and synced directory entries at a
// simulated power loss, or walfs.Faulty, which fails chosen operations —
// runs on the sync backend, pwrite and fdatasync through the seam. The
// tests run the WAL on both to check the durability and poisoning rules
// below through power losses and I/O errors.
//
// # Durability
//
// With Config.FsyncOnWrite (the default) a Sync append's LogDone means the
// bytes are on stable storage. Without it, LogDone means "in the page
// cache": the bytes survive a process crash but not a machine crash. The
// state machines cannot tell the two apart. A follower reports any offset
// whose LogDone has arrived to its leader as durable, and the high
// watermark counts it. Config.FsyncOnWrite spells out what that costs.
//
// # Recovery
//
// Synced bytes are never cut. The WAL keeps a sync ledger (<path>/SYNCED):
// after each commit group's fdatasyncs, and before any of its operations
// complete, it durably records how many bytes of each active segment are on
// stable storage (see ledger). Open does not read the log: it returns a
// manifest per partition (Recovery.Manifests: topic ID, segments, indexes),
// built from
//
//   - each sealed segment's index file, checked against the segment's size
//     and base and the epochs before it; the segment's bytes are not read.
//     A missing, corrupt or mismatched index is rebuilt with sm.ScanSegment
//     from the segment and rewritten durably, and Open says so in
//     Recovery.Repairs; a bad frame found then is damage;
//   - the active segment, scanned with sm.ScanSegment against the ledger:
//     bytes beyond its sync mark that do not decode are a torn tail — a
//     write a crash interrupted, never acknowledged — and are cut, the file
//     fdatasync'ed; a bad frame below the mark, or a file shorter than its
//     mark, is damage. An index file beside it is the leftover of a roll or
//     truncate a crash interrupted, and is removed. After a clean Close,
//     the <base>.checkpoint it left (the active segment's index, written
//     after the segment was synced) spares the scan of the bytes it covers:
//     the index resumes from it and only what follows is scanned. Open
//     removes it, durably before any operation, so it is used once.
//
// So start-up reads the index files and at most one active segment per
// partition (after a clean shutdown, only its bytes past the checkpoint):
// its time does not grow with the data retained (BenchmarkOpen). Damage —
// also a missing segment: an index file left without its segment, a gap in
// offsets, the active segment the ledger names gone, a DAMAGED record — is
// not cut and does not stop Open: the partition is reported in
// Recovery.Damaged with the file and byte (CorruptError), its manifest is
// the valid prefix, and appends are refused until a Truncate repairs it. The broker decides: a replica another
// in-sync replica can rebuild is truncated and refetches; the last in-sync
// copy stops the broker (see sm/broker). Config.TruncateCorrupt (weir-broker
// --truncate-corrupt) is the operator's explicit acceptance: Open cuts every
// damaged log at once and says so in Recovery.Repairs.
//
// Files in a partition directory that the WAL did not write (anything not
// named like a segment, an index, PARTITION or a leftover of its own) are
// named in Recovery.Warnings and left alone: refusing to start for an
// editor's backup or a stray note would turn a harmless file into an
// outage, and ignoring one cannot hide data loss, since every file the log
// needs is accounted for by name and offset (one renamed away shows as a
// missing segment, which is damage). An unreadable PARTITION file is a
// warning too, and the log's topic ID reads as zero.
//
// Whatever valid bytes of the last segment lie beyond its mark (written,
// synced by a group whose ledger record a crash lost, or never synced) are
// fdatasync'ed at Open, since the state machines treat everything Open
// returns as durable; so, with one syncfs(2), is whatever else a crashed
// process left unsynced in the page cache (a truncate's unlinks, a new
// segment's directory entry); and the ledger is rewritten with one mark per
// partition. Recovery's own writes (a torn tail cut, an index rebuilt, a
// tombstone removed) are durable before Open returns. A WAL written before
// the ledger existed has no marks: its last segments are treated as unsynced
// once, as older versions did; one written before index files has its sealed
// segments' indexes built (and written) at its first Open.
//
// Memory: Open holds the active segment being scanned (at most the state
// machine's segment size) and, per segment, its index. With
// Config.ReadLogBytes it also returns every partition's bytes
// (Recovery.Logs, reading and checking every segment) for callers still
// built on sm.Durable.Logs; that costs the whole WAL in memory and time and
// is meant to go. In steady state the WAL keeps one open descriptor per
// partition (up to MaxOpenFiles) and reads open the segment they read.
package wal
