package wal

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weirmq/weir/io/wal/walfs"
)

// Backend names accepted in Config.Backend.
const (
	// BackendAuto uses io_uring when the kernel allows it and falls back to
	// BackendSync otherwise; WAL.Backend says which was chosen and why.
	BackendAuto = "auto"
	// BackendUring submits each commit group's writes and fdatasyncs through
	// one io_uring ring: one io_uring_enter per group instead of one system
	// call per file operation, and the fdatasyncs of different segments run
	// in parallel. Open fails if the kernel refuses io_uring.
	BackendUring = "uring"
	// BackendSync issues pwrite(2) and fdatasync(2) one at a time. It works
	// everywhere and is the fallback.
	BackendSync = "sync"
)

// Config mirrors the reference's [wal] section. The zero value is not
// usable; start from DefaultConfig.
type Config struct {
	// Path is the WAL directory ([wal] path); one subdirectory per
	// partition, <topic>-<partition>, holds that partition's segments.
	Path string
	// CapacityBytes bounds the bytes held in all segments together
	// ([wal] capacity_bytes); an append that would exceed it fails and
	// writes nothing. Zero means unbounded.
	CapacityBytes int64
	// FsyncOnWrite ([wal] fsync_on_write): when true, an append the state
	// machine marks Sync completes only after fdatasync(2) of every segment
	// it touched, so its DiskDone means "on stable storage".
	//
	// When false, a Sync append completes as soon as write(2) returned: its
	// data is in the kernel page cache, which survives a crash of the
	// process (kill -9, panic, OOM kill) but not of the machine (power loss,
	// kernel panic, VM reset). The state machine cannot tell the
	// difference: it treats the completion as durable, so followers report
	// such offsets to the leader as durable, the high watermark counts them
	// and acks=all acknowledges them. A machine crash can then lose records
	// that were acknowledged, on every replica at once if they share a fate
	// (same power domain). FlushInterval bounds that window. Truncations,
	// deletions and segment rolls are always synced.
	FsyncOnWrite bool
	// Segments roll only when the state machine says so (sm.LogOp.Roll); the
	// reference's [wal] segment_size_bytes is the broker's default
	// segment size (broker.Config.SegmentBytes), not a WAL setting.

	// ReadConcurrency is how many segment reads (sm.LogRead) run at once,
	// each on its own reader goroutine, never on the committer. Zero means
	// 4.
	ReadConcurrency int
	// ReadLogBytes makes Open also return every partition's bytes
	// (Recovery.Logs), reading and checking every segment: a verification
	// mode for tests and offline tools (the broker starts from
	// Recovery.Manifests). It makes Open's time and memory grow with the
	// data retained; without it Open reads only index files and active
	// segments.
	ReadLogBytes bool
	// FlushInterval ([wal] flush_interval_ms), when positive, fdatasyncs
	// segments holding unsynced appends that long after they were written.
	// It matters only for appends that completed without fsync (FsyncOnWrite
	// false, or ops without Sync); it bounds how much a machine crash can
	// lose. Zero disables it.
	FlushInterval time.Duration
	// Backend selects the I/O backend: BackendAuto, BackendUring or
	// BackendSync. Empty means BackendAuto.
	Backend string
	// OnSync, if set, is called on the committer goroutine with the time
	// each commit group that synced took to write and fdatasync (the WAL's
	// sync latency, for metrics). It must not block.
	OnSync func(time.Duration)
	// MaxOpenFiles bounds the segment files the WAL keeps open ([wal]
	// max_open_files): past it, the least recently used are closed (and
	// reopened on their next append), so a broker with many partitions
	// does not run out of descriptors. Zero means DefaultMaxOpenFiles().
	MaxOpenFiles int
	// TruncateCorrupt makes Open cut every damaged partition log (see
	// Recovery.Damaged) back to its valid prefix at once, losing what
	// follows, instead of reporting it. It is the operator's explicit
	// acceptance of that loss (weir-broker --truncate-corrupt), never a
	// default.
	TruncateCorrupt bool
	// RingEntries sizes the io_uring submission queue (a power of two; the
	// completion queue is twice as large). Groups larger than the ring are
	// split. Zero means 256.
	RingEntries uint32
	// FS is the file system the WAL runs on; nil means the operating
	// system's (walfs.OS). With any other FS (walfs.Mem, walfs.Faulty in
	// tests and the simulator) every operation goes through it and the
	// backend is BackendSync: pwrite and fdatasync through FS, one at a
	// time; io_uring needs real descriptors, so BackendUring is refused
	// and BackendAuto says why it fell back.
	FS walfs.FS
}

// The reference's [wal] buffer_size has no field: appends are written from
// the frames the state machine encoded, coalesced per segment per commit
// group into one write; there is no staging buffer to size.

// DefaultConfig is the reference's [wal] defaults: 10 GiB capacity, fsync on
// write, a 1 s flush interval, backend auto.
func DefaultConfig(path string) Config {
	return Config{
		Path:            path,
		CapacityBytes:   10 << 30,
		FsyncOnWrite:    true,
		FlushInterval:   time.Second,
		Backend:         BackendAuto,
		RingEntries:     256,
		ReadConcurrency: 4,
	}
}

// DefaultMaxOpenFiles is half the process's file descriptor limit (Go
// raises the soft limit to the hard one at start), leaving the rest to
// sockets, the raft store and the process; at least 16.
func DefaultMaxOpenFiles() int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur == unix.RLIM_INFINITY {
		return 4096
	}
	return int(max(lim.Cur/2, 16))
}

// Validate reports the first unusable field.
func (c *Config) Validate() error {
	switch {
	case c.Path == "":
		return fmt.Errorf("wal: path must be set")
	case c.CapacityBytes < 0:
		return fmt.Errorf("wal: capacity_bytes must be >= 0 (got %d)", c.CapacityBytes)
	case c.ReadConcurrency < 0:
		return fmt.Errorf("wal: read concurrency must be >= 0 (got %d)", c.ReadConcurrency)
	case c.FlushInterval < 0:
		return fmt.Errorf("wal: flush interval must be >= 0 (got %v)", c.FlushInterval)
	case c.MaxOpenFiles < 0:
		return fmt.Errorf("wal: max_open_files must be >= 0 (got %d)", c.MaxOpenFiles)
	case c.RingEntries > 32768:
		return fmt.Errorf("wal: ring entries must be <= 32768 (got %d)", c.RingEntries)
	}
	switch c.Backend {
	case "", BackendAuto, BackendUring, BackendSync:
	default:
		return fmt.Errorf("wal: backend must be %q, %q or %q (got %q)", BackendAuto, BackendUring, BackendSync, c.Backend)
	}
	return nil
}
