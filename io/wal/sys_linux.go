//go:build linux

package wal

import (
	"github.com/weirmq/weir/io/uring"
	"golang.org/x/sys/unix"
)

// datasyncFD is fdatasync(2): data and size, not timestamps.
func datasyncFD(fd int) error { return unix.Fdatasync(fd) }

func uringAvailable() error { return uring.Available() }
