// Package uring is a minimal io_uring ring for the write-ahead log: setup,
// the three mmapped regions, NOP/WRITE/FSYNC submission entries, optional
// linking, io_uring_enter and completion reaping. It exists because no Go
// io_uring library can be fetched for this project (docs: shared/LIBS.md §9)
// and the WAL needs only a handful of operations, so a small ring we test
// ourselves beats a large dependency.
//
// A Ring is owned by one goroutine: it is not safe for concurrent use. The
// kernel shares the ring memory, so head and tail indexes are read and
// published with sync/atomic; buffers handed to the kernel are pinned with a
// runtime.Pinner from preparation until their completion is reaped, so the
// garbage collector cannot free them while the kernel still reads them.
//
// Flow control is the caller's: Prep* returns ErrRingFull when the submission
// queue has no free entry or when as many operations are in flight as the
// completion queue holds (so completions can never overflow it). Submit,
// SubmitAndWait and Reap make room.
//
// On systems other than Linux, New reports ErrUnsupported and callers fall
// back to plain system calls.
package uring
