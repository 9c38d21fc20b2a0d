//go:build !linux

package wal

import (
	"github.com/weirmq/weir/io/uring"
	"golang.org/x/sys/unix"
)

// datasyncFD falls back to fsync(2) where fdatasync is not offered.
func datasyncFD(fd int) error { return unix.Fsync(fd) }

func uringAvailable() error { return uring.Available() }

func newUringBackend(entries uint32) (backend, error) { return nil, uring.ErrUnsupported }
