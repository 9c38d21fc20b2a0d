//go:build linux

package wal

import (
	"github.com/weirmq/weir/io/uring"
	"golang.org/x/sys/unix"
)

// datasyncFD is fdatasync(2): data and size, not timestamps.
func datasyncFD(fd int) error { return unix.Fdatasync(fd) }

func uringAvailable() error { return uring.Available() }

// statfsFree is the space unprivileged writers may still use on the file
// system holding path; tests replace it.
var statfsFree = realStatfsFree

func realStatfsFree(path string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
