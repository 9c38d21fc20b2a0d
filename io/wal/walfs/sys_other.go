//go:build !linux

package walfs

import "golang.org/x/sys/unix"

// datasyncFD falls back to fsync(2) where fdatasync is not offered.
func datasyncFD(fd int) error { return unix.Fsync(fd) }

// syncFS falls back to sync(2) where syncfs is not offered.
func syncFS(int) error { unix.Sync(); return nil }
