// Package walfs is io/wal's file system seam: the few file and directory
// operations the WAL performs, behind two small interfaces (FS, File), with
// three implementations:
//
//   - OS, the operating system's file system, the default. Its files carry
//     their descriptors (FD), so the WAL can submit them to io_uring.
//   - Mem, a strict in-memory file system that keeps, per file, the bytes
//     written and the bytes synced, and, per directory, the entries made and
//     the entries synced. PowerLoss returns what a machine crash would leave:
//     the synced state only, or, with a random source, the synced state plus
//     a torn and possibly garbled part of what was not synced. A process
//     crash (SIGKILL) keeps the page cache and proves nothing about fsync;
//     this does.
//   - Faulty, a wrapper that lets a test fail any operation of another FS
//     (EIO on a write or an fdatasync, ENOSPC, EMFILE, short writes), or
//     act at a chosen operation (take a power-loss image there).
//
// The semantics are POSIX's on a strict journaling file system (ext4 with
// data=ordered, without its auto_da_alloc heuristics): file data and size
// are durable after Datasync of that file; a directory entry created,
// removed or renamed is durable after SyncDir of its directory, not before.
// pebble's vfs.NewStrictMem (vfs.NewCrashableMem in pebble v2) is the model.
package walfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
)

// FS is the file system the WAL runs on. Names are slash-separated paths,
// as the WAL builds them with path/filepath on Unix. Errors are
// *fs.PathError values whose Err is the system's errno where there is one
// (syscall.ENOENT, EEXIST, EMFILE, ENOSPC, EIO, ...), so errors.Is works
// with both fs.ErrNotExist and the errno.
type FS interface {
	// OpenFile opens name: flag is os.O_RDONLY or os.O_RDWR, optionally
	// with os.O_CREATE, os.O_EXCL and os.O_TRUNC; perm applies to a new
	// file. A created file's entry is durable only after SyncDir of its
	// directory.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	// Mkdir creates one directory; MkdirAll creates name and any missing
	// parents (nothing if it exists). Neither syncs the parent.
	Mkdir(name string, perm fs.FileMode) error
	MkdirAll(name string, perm fs.FileMode) error
	// Remove unlinks a file or an empty directory; RemoveAll removes name
	// and everything under it (nothing if it does not exist).
	Remove(name string) error
	RemoveAll(name string) error
	// Rename renames a file or directory, replacing a file at newname.
	Rename(oldname, newname string) error
	// ReadDir lists a directory's entries sorted by name.
	ReadDir(name string) ([]fs.DirEntry, error)
	// Stat describes name (it does not follow a final symbolic link on
	// file systems that have them: Lstat).
	Stat(name string) (fs.FileInfo, error)
	// SyncDir makes the directory's entries durable (fsync of the
	// directory).
	SyncDir(name string) error
	// SyncAll makes everything written to the file system holding name
	// durable, by any process: file data and directory entries
	// (syncfs(2); sync(2) where there is none).
	SyncAll(name string) error
	// Free is how many bytes unprivileged writers may still use on the
	// file system holding name (statfs f_bavail * f_bsize).
	Free(name string) (int64, error)
	// Lock takes an exclusive advisory lock on the file name (creating
	// it), held until the returned Closer is closed or the process ends.
	// A lock another holder has fails with an error wrapping ErrLocked.
	Lock(name string) (io.Closer, error)
}

// File is an open file.
type File interface {
	// ReadAt reads len(p) bytes at off, as io.ReaderAt (io.EOF past the end).
	ReadAt(p []byte, off int64) (int, error)
	// Pwrite writes p at off, as pwrite(2): it may write fewer bytes than
	// len(p) without an error (a short write), and the caller resumes.
	// Written bytes are durable only after Datasync.
	Pwrite(p []byte, off int64) (int, error)
	// Datasync makes the file's data and size durable (fdatasync(2)).
	Datasync() error
	// Truncate sets the file's size; durable after Datasync.
	Truncate(size int64) error
	// Size is the file's current size.
	Size() (int64, error)
	Close() error
}

// ErrLocked is wrapped by Lock's error when another holder has the lock.
var ErrLocked = errors.New("in use by another process")

// ReadFile reads the whole file name from fsys.
func ReadFile(fsys FS, name string) ([]byte, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n, err := f.Size()
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	buf := make([]byte, n)
	k, err := f.ReadAt(buf, 0)
	if err == io.EOF && k == len(buf) {
		err = nil
	}
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return buf, nil
}

// WriteFull writes all of buf at off, resuming short writes. A write that
// makes no progress and reports no error fails with io.ErrShortWrite.
func WriteFull(f File, buf []byte, off int64) error {
	for len(buf) > 0 {
		n, err := f.Pwrite(buf, off)
		if err != nil {
			return err
		}
		if n <= 0 {
			return io.ErrShortWrite
		}
		buf, off = buf[n:], off+int64(n)
	}
	return nil
}

func pathErr(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: err}
}
