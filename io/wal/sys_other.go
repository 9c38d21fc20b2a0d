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
