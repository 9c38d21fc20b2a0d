//go:build linux

package wal

import (
	"golang.org/x/sys/unix"

	"github.com/weirmq/weir/io/uring"
)

func uringAvailable() error { return uring.Available() }

// adviseHugePages asks the kernel to back b with transparent huge pages
// (MADV_HUGEPAGE; a hint, ignored where THP is off): a read slab is then
// faulted in 2 MiB at a time instead of 4 KiB.
func adviseHugePages(b []byte) { _ = unix.Madvise(b, unix.MADV_HUGEPAGE) }
