//go:build linux

package walfs

import "golang.org/x/sys/unix"

// datasyncFD is fdatasync(2): data and size, not timestamps.
func datasyncFD(fd int) error { return unix.Fdatasync(fd) }

// syncFS is syncfs(2) of the file system holding fd.
func syncFS(fd int) error { return unix.Syncfs(fd) }
