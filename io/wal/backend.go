package wal

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
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
	write(fd int, buf []byte, off int64, path string)
	datasync(fd int, path string)
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

func selectBackend(cfg *Config) (backend, BackendInfo, error) {
	info := BackendInfo{Requested: cfg.Backend}
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

func (b *syncBackend) write(fd int, buf []byte, off int64, path string) {
	if b.err == nil {
		b.err = pwriteFull(fd, buf, off, path)
	}
}

func (b *syncBackend) datasync(fd int, path string) {
	if b.err == nil {
		b.err = fdatasync(fd, path)
	}
}

func (b *syncBackend) run() error {
	err := b.err
	b.err = nil
	return err
}

func (b *syncBackend) close() error { return nil }

// pwriteFull writes all of buf at off, resuming short writes.
func pwriteFull(fd int, buf []byte, off int64, path string) error {
	for len(buf) > 0 {
		n, err := unix.Pwrite(fd, buf, off)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return &os.PathError{Op: fmt.Sprintf("wal: pwrite %d bytes at byte %d of", len(buf), off), Path: path, Err: err}
		}
		if n == 0 {
			return &os.PathError{Op: fmt.Sprintf("wal: pwrite %d bytes at byte %d of", len(buf), off), Path: path, Err: unix.EIO}
		}
		buf, off = buf[n:], off+int64(n)
	}
	return nil
}

func fdatasync(fd int, path string) error {
	for {
		err := datasyncFD(fd)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "wal: fdatasync", Path: path, Err: err}
		}
		return nil
	}
}
