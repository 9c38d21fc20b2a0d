package wal

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/weirmq/weir/io/wal/walfs"
)

// backend executes the file I/O of one commit group. write and datasync
// queue work; run executes everything queued and returns the first error.
// Within one file, a datasync covers every write queued before it for that
// file; across files run promises no order, so the WAL runs the queue before
// anything that needs one (a segment roll, a truncate, a delete).
//
// Buffers handed to write must stay untouched until run returns.
type backend interface {
	name() string
	write(f walfs.File, buf []byte, off int64, path string)
	datasync(f walfs.File, path string)
	run() error
	close() error
}

// BackendInfo says which backend Open chose and, when it fell back from
// io_uring, why; the caller logs it (this package has no logger).
type BackendInfo struct {
	// Name is BackendUring or BackendSync.
	Name string
	// Requested is Config.Backend as given (empty reads as auto).
	Requested string
	// FallbackReason is empty unless auto fell back to sync; then it is the
	// kernel's refusal, e.g. "uring: io_uring_setup(2 entries): function
	// not implemented" or "uring: io_uring disabled by
	// /proc/sys/kernel/io_uring_disabled=2".
	FallbackReason string
}

// String is the one line the caller logs at start, e.g. "sync (fell back
// from io_uring: …)".
func (b BackendInfo) String() string {
	if b.FallbackReason != "" {
		return fmt.Sprintf("%s (fell back from io_uring: %s)", b.Name, b.FallbackReason)
	}
	return b.Name
}

// probeUring is replaced in tests to exercise the fallback.
var probeUring = uringAvailable

// selectBackend picks the backend; osFS says the WAL runs on the operating
// system's file system (Config.FS nil), the only one io_uring can reach.
func selectBackend(cfg *Config, osFS bool) (backend, BackendInfo, error) {
	info := BackendInfo{Requested: cfg.Backend}
	if !osFS && cfg.Backend == BackendUring {
		return nil, info, fmt.Errorf("wal: backend %q needs the operating system's file system, and Config.FS is set", BackendUring)
	}
	if !osFS {
		info.Name = BackendSync
		if cfg.Backend != BackendSync {
			info.FallbackReason = "Config.FS is not the operating system's file system"
		}
		return &syncBackend{}, info, nil
	}
	if cfg.Backend == BackendSync {
		info.Name = BackendSync
		return &syncBackend{}, info, nil
	}
	err := probeUring()
	if err == nil {
		var be backend
		if be, err = newUringBackend(cfg.RingEntries); err == nil {
			info.Name = BackendUring
			return be, info, nil
		}
	}
	if cfg.Backend == BackendUring {
		return nil, info, fmt.Errorf("wal: backend %q requested but unavailable: %w", BackendUring, err)
	}
	info.Name, info.FallbackReason = BackendSync, err.Error()
	return &syncBackend{}, info, nil
}

// syncBackend performs each operation when it is queued, with plain system
// calls; run only reports the first failure.
type syncBackend struct{ err error }

func (b *syncBackend) name() string { return BackendSync }

func (b *syncBackend) write(f walfs.File, buf []byte, off int64, path string) {
	if b.err == nil {
		b.err = pwriteFull(f, buf, off, path)
	}
}

func (b *syncBackend) datasync(f walfs.File, path string) {
	if b.err == nil {
		b.err = fdatasync(f, path)
	}
}

func (b *syncBackend) run() error {
	err := b.err
	b.err = nil
	return err
}

func (b *syncBackend) close() error { return nil }

// pwriteFull writes all of buf at off, resuming short writes.
func pwriteFull(f walfs.File, buf []byte, off int64, path string) error {
	for len(buf) > 0 {
		n, err := f.Pwrite(buf, off)
		if err != nil {
			return &os.PathError{Op: fmt.Sprintf("wal: pwrite %d bytes at byte %d of", len(buf), off), Path: path, Err: err}
		}
		if n <= 0 {
			return &os.PathError{Op: fmt.Sprintf("wal: pwrite %d bytes at byte %d of", len(buf), off), Path: path, Err: unix.EIO}
		}
		buf, off = buf[n:], off+int64(n)
	}
	return nil
}

// fdatasync makes f's data durable (its errors name the file).
func fdatasync(f walfs.File, path string) error {
	if err := f.Datasync(); err != nil {
		return &os.PathError{Op: "wal: fdatasync", Path: path, Err: err}
	}
	return nil
}
