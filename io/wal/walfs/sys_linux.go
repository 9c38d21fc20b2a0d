//go:build linux

package walfs

import "golang.org/x/sys/unix"

// datasyncFD is fdatasync(2): data and size, not timestamps.
func datasyncFD(fd int) error { return unix.Fdatasync(fd) }
