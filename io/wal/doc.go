// Package wal is Weir's segmented write-ahead log for partition logs: the
// production executor of the state machines' disk effects (sm.LogAppend,
// sm.LogTruncate, sm.LogDelete) and the reader that turns a node's disk
// into sm.Durable at start.
//
// # Layout
//
//	<path>/LOCK                                  flock'ed by the one process using the WAL
//	<path>/<topic>-<partition>/                  one directory per partition
//	<path>/<topic>-<partition>/<base>.log        segments, named by the offset of their first batch,
//	                                             20 digits, zero-padded (00000000000000000000.log)
//	<path>/<topic>-<partition>.deleting.<n>/     a deleted partition, being removed
//
// A segment holds exactly consecutive sm.EncodeBatch frames, nothing else:
// the format the simulator's disk models, so recovery runs the same decoder
// (sm.DecodeBatch) and the same checksums. Offsets run on without gaps from
// one segment to the next. Every segment but the last is sealed: it was
// fdatasync'ed in full before the next one was created, so a defect in a
// sealed segment is never a torn write.
//
// # Executing effects
//
// One committer goroutine executes every operation, from every Executor, in
// arrival order (so one node's operations complete in issue order). It takes
// everything queued, queues the writes (coalesced into one write per segment),
// then one fdatasync per segment that a Sync append touched, runs them through
// the backend, and only then reports completions. Appends that arrive while
// a group's fdatasync is in flight wait and form the next group: many
// produces, one fsync (group commit). Truncations, deletions and segment
// rolls run the queued I/O first and are always synced, with their directory.
// A deletion is durable once its directory is renamed to a tombstone; the
// files are unlinked in the background so that a large unlink (slow with
// ext4 online discard) does not stall every partition's appends.
//
// Any I/O error poisons the WAL: that group and every later operation fail
// with the first error, and the process must restart from disk. After a
// failed fdatasync the page cache no longer tells the truth about the disk
// (PostgreSQL's "fsyncgate"), so nothing is retried in place. Refusals that
// write nothing (capacity, malformed frames, an offset inside a batch) fail
// only their operation.
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
// stable storage (see ledger). Open reads every partition directory in full
// against it:
//
//   - Bytes of the last segment beyond its sync mark that do not decode are
//     a torn tail — a write a crash interrupted, never acknowledged — and
//     are cut, the file fdatasync'ed.
//   - A bad frame below the mark, a bad frame anywhere in a sealed segment,
//     a gap in offsets, or a file shorter than its mark is damage: bytes
//     that may have been acknowledged are gone. Open does not cut them and
//     does not refuse to start: it reports the partition in
//     Recovery.Damaged with the file and byte (CorruptError), serves the
//     valid prefix, and refuses appends to it until a Truncate repairs it.
//     The broker decides: a replica another in-sync replica can rebuild is
//     truncated and refetches; the last in-sync copy stops the broker
//     (see sm/broker). Config.TruncateCorrupt (weir-broker
//     --truncate-corrupt) is the operator's explicit acceptance: Open cuts
//     every damaged log at once and says so in Recovery.Repairs.
//
// Whatever valid bytes of the last segment lie beyond its mark (written,
// synced by a group whose ledger record a crash lost, or never synced) are
// fdatasync'ed at Open, since the state machines treat everything Open
// returns as durable; so, with one syncfs(2), is whatever else a crashed
// process left unsynced in the page cache (a truncate's unlinks, a new
// segment's directory entry); and the ledger is rewritten with one mark per
// partition. Recovery's own writes (a torn tail cut, a tombstone removed)
// are durable before Open returns. A WAL written before the ledger existed has no marks: its
// last segments are treated as unsynced once, as older versions did.
//
// Memory: Open returns every partition's bytes in memory (Recovery.Logs), as
// sm.Durable wants them today, so a WAL holding N bytes costs N bytes of heap
// at start, up to CapacityBytes (10 GiB by default), plus the decoded
// batches the broker builds from them. A later issue moves sealed segments
// to object storage and reads them lazily. In steady state the WAL keeps, per
// segment, one index entry per 64 KiB and one open descriptor per partition.
package wal
