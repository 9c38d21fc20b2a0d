package walfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// OS is the operating system's file system.
type OS struct{}

// osFile is an open file of OS: the *os.File and its descriptor, which the
// WAL's io_uring backend submits directly (FD).
type osFile struct {
	f  *os.File
	fd int
}

// FD returns the descriptor of a file OS opened; ok is false for files of
// any other FS.
func FD(f File) (fd int, ok bool) {
	if o, ok := f.(*osFile); ok {
		return o.fd, true
	}
	return -1, false
}

func (OS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &osFile{f: f, fd: int(f.Fd())}, nil
}

func (OS) Mkdir(name string, perm fs.FileMode) error    { return os.Mkdir(name, perm) }
func (OS) MkdirAll(name string, perm fs.FileMode) error { return os.MkdirAll(name, perm) }
func (OS) Remove(name string) error                     { return os.Remove(name) }
func (OS) RemoveAll(name string) error                  { return os.RemoveAll(name) }
func (OS) Rename(oldname, newname string) error         { return os.Rename(oldname, newname) }
func (OS) ReadDir(name string) ([]fs.DirEntry, error)   { return os.ReadDir(name) }
func (OS) Stat(name string) (fs.FileInfo, error)        { return os.Lstat(name) }

func (OS) SyncDir(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (OS) SyncAll(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	err = syncFS(int(f.Fd()))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return pathErr("syncfs", name, err)
	}
	return nil
}

func (OS) Free(name string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(name, &st); err != nil {
		return 0, pathErr("statfs", name, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// Lock takes flock(LOCK_EX|LOCK_NB) on name; the kernel drops it when the
// process dies.
func (OS) Lock(name string) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w (flock %s: %w)", ErrLocked, name, err)
	}
	return f, nil
}

func (o *osFile) ReadAt(p []byte, off int64) (int, error) { return o.f.ReadAt(p, off) }

// Pwrite is one pwrite(2), retried on EINTR; its error is the bare errno.
func (o *osFile) Pwrite(p []byte, off int64) (int, error) {
	for {
		n, err := unix.Pwrite(o.fd, p, off)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return max(n, 0), err
		}
		return n, nil
	}
}

// Datasync is fdatasync(2) (fsync(2) where there is none), retried on
// EINTR; its error is the bare errno.
func (o *osFile) Datasync() error {
	for {
		err := datasyncFD(o.fd)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

func (o *osFile) Truncate(size int64) error { return o.f.Truncate(size) }

func (o *osFile) Size() (int64, error) {
	st, err := o.f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func (o *osFile) Close() error { return o.f.Close() }
