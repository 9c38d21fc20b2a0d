// Package wal is Weir's segmented write-ahead log for partition logs: the
// production executor of the state machines' disk effects (sm.DiskAppend,
// sm.DiskTruncate, sm.DiskDelete) and the reader that turns a node's disk
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
// # Durability
//
// With Config.FsyncOnWrite (the default) a Sync append's DiskDone means the
// bytes are on stable storage. Without it, DiskDone means "in the page
// cache": the bytes survive a process crash but not a machine crash. The
// state machines cannot tell the two apart. A follower reports any offset
// whose DiskDone has arrived to its leader as durable, and the high
// watermark counts it. Config.FsyncOnWrite spells out what that costs.
//
// # Recovery
//
// Open reads every partition directory in full. A torn tail — the last
// segment ending in a partial frame, or in a frame whose checksum fails with
// no valid frame anywhere after it — is cut off and the file fdatasync'ed. A
// bad frame with a valid frame after it, a bad frame in a sealed segment, or
// a gap in offsets is refused with an error naming the file and byte offset:
// the log is never served past corruption.
//
// One case this rule gets wrong: a power loss during an unsynced multi-page
// write may persist a later page of it but not an earlier one, leaving a bad
// frame followed by a valid one that was never acknowledged. Open refuses
// that log too. It cannot tell unsynced data from synced data (nothing on
// disk records how far the last fdatasync reached), so it will not guess.
// The operator cuts the file at the byte the error names, or re-replicates
// the partition.
//
// Memory: Open returns every partition's bytes in memory (Recovery.Logs), as
// sm.Durable wants them today, so a WAL holding N bytes costs N bytes of heap
// at start, up to CapacityBytes (10 GiB by default), plus the decoded
// batches the broker builds from them. A later issue moves sealed segments
// to object storage and reads them lazily. In steady state the WAL keeps, per
// segment, one index entry per 64 KiB and one open descriptor per partition.
package wal
