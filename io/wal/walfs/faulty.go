package walfs

import (
	"io"
	"io/fs"
	"sync"
)

// OpKind names an operation Faulty sees.
type OpKind string

// The operations of FS and File.
const (
	OpOpen     OpKind = "open"
	OpMkdir    OpKind = "mkdir"
	OpRemove   OpKind = "remove"
	OpRename   OpKind = "rename"
	OpReadDir  OpKind = "readdir"
	OpStat     OpKind = "stat"
	OpSyncDir  OpKind = "syncdir"
	OpSyncAll  OpKind = "syncall"
	OpFree     OpKind = "free"
	OpLock     OpKind = "lock"
	OpRead     OpKind = "read"
	OpWrite    OpKind = "write"
	OpDatasync OpKind = "datasync"
	OpTruncate OpKind = "truncate"
	OpSize     OpKind = "size"
	OpClose    OpKind = "close"
)

// Op is one operation, as an Injector sees it before it runs.
type Op struct {
	Kind OpKind
	// Path is the file or directory (for OpRename, the old name; New is
	// the new one).
	Path, New string
	// Flag is OpenFile's flag.
	Flag int
	// Off and Len are a read's or write's position and length; Off is
	// the size for OpTruncate.
	Off int64
	Len int
}

// Mutates reports whether the operation can change what is on disk or
// what a power loss keeps (so a test choosing a crash point among
// operations need count only these).
func (o Op) Mutates() bool {
	switch o.Kind {
	case OpMkdir, OpRemove, OpRename, OpSyncDir, OpSyncAll, OpWrite, OpDatasync, OpTruncate:
		return true
	case OpOpen:
		return o.Flag&^0o3 != 0 // creating or truncating
	}
	return false
}

// Fault is an Injector's verdict on one operation. The zero Fault lets it
// run.
type Fault struct {
	// Err, when set, fails the operation with it; the operation does not
	// run (a write writes nothing, unless Short says otherwise).
	Err error
	// Short, for a write, writes only the first Short bytes (when fewer
	// than asked) and returns Short with Err: with Err nil, a short write
	// the caller must resume; with Err set, a write that failed part way.
	Short int
}

// Injector decides the fault, if any, of each operation. It runs before
// the operation, on the caller's goroutine, serialized with other calls.
type Injector func(Op) Fault

// Faulty wraps an FS and fails the operations its Injector picks. File
// operations fail with Fault.Err as is (OS returns bare errnos there); FS
// operations wrap it in an *fs.PathError.
type Faulty struct {
	fs     FS
	mu     sync.Mutex
	inject Injector
}

// NewFaulty wraps fsys; until SetInjector, every operation runs.
func NewFaulty(fsys FS) *Faulty { return &Faulty{fs: fsys} }

// SetInjector installs inj (nil: no faults).
func (f *Faulty) SetInjector(inj Injector) {
	f.mu.Lock()
	f.inject = inj
	f.mu.Unlock()
}

func (f *Faulty) check(op Op) Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inject == nil {
		return Fault{}
	}
	return f.inject(op)
}

func (f *Faulty) fsErr(op Op) error {
	if ft := f.check(op); ft.Err != nil {
		return pathErr(string(op.Kind), op.Path, ft.Err)
	}
	return nil
}

func (f *Faulty) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if err := f.fsErr(Op{Kind: OpOpen, Path: name, Flag: flag}); err != nil {
		return nil, err
	}
	file, err := f.fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultyFile{fs: f, f: file, name: name}, nil
}

func (f *Faulty) Mkdir(name string, perm fs.FileMode) error {
	if err := f.fsErr(Op{Kind: OpMkdir, Path: name}); err != nil {
		return err
	}
	return f.fs.Mkdir(name, perm)
}

func (f *Faulty) MkdirAll(name string, perm fs.FileMode) error {
	if err := f.fsErr(Op{Kind: OpMkdir, Path: name}); err != nil {
		return err
	}
	return f.fs.MkdirAll(name, perm)
}

func (f *Faulty) Remove(name string) error {
	if err := f.fsErr(Op{Kind: OpRemove, Path: name}); err != nil {
		return err
	}
	return f.fs.Remove(name)
}

func (f *Faulty) RemoveAll(name string) error {
	if err := f.fsErr(Op{Kind: OpRemove, Path: name}); err != nil {
		return err
	}
	return f.fs.RemoveAll(name)
}

func (f *Faulty) Rename(oldname, newname string) error {
	if err := f.fsErr(Op{Kind: OpRename, Path: oldname, New: newname}); err != nil {
		return err
	}
	return f.fs.Rename(oldname, newname)
}

func (f *Faulty) ReadDir(name string) ([]fs.DirEntry, error) {
	if err := f.fsErr(Op{Kind: OpReadDir, Path: name}); err != nil {
		return nil, err
	}
	return f.fs.ReadDir(name)
}

func (f *Faulty) Stat(name string) (fs.FileInfo, error) {
	if err := f.fsErr(Op{Kind: OpStat, Path: name}); err != nil {
		return nil, err
	}
	return f.fs.Stat(name)
}

func (f *Faulty) SyncDir(name string) error {
	if err := f.fsErr(Op{Kind: OpSyncDir, Path: name}); err != nil {
		return err
	}
	return f.fs.SyncDir(name)
}

func (f *Faulty) SyncAll(name string) error {
	if err := f.fsErr(Op{Kind: OpSyncAll, Path: name}); err != nil {
		return err
	}
	return f.fs.SyncAll(name)
}

func (f *Faulty) Free(name string) (int64, error) {
	if err := f.fsErr(Op{Kind: OpFree, Path: name}); err != nil {
		return 0, err
	}
	return f.fs.Free(name)
}

func (f *Faulty) Lock(name string) (io.Closer, error) {
	if err := f.fsErr(Op{Kind: OpLock, Path: name}); err != nil {
		return nil, err
	}
	return f.fs.Lock(name)
}

type faultyFile struct {
	fs   *Faulty
	f    File
	name string
}

func (ff *faultyFile) ReadAt(p []byte, off int64) (int, error) {
	if ft := ff.fs.check(Op{Kind: OpRead, Path: ff.name, Off: off, Len: len(p)}); ft.Err != nil {
		return 0, ft.Err
	}
	return ff.f.ReadAt(p, off)
}

func (ff *faultyFile) Pwrite(p []byte, off int64) (int, error) {
	ft := ff.fs.check(Op{Kind: OpWrite, Path: ff.name, Off: off, Len: len(p)})
	if ft.Short > 0 && ft.Short < len(p) {
		n, err := ff.f.Pwrite(p[:ft.Short], off)
		if err != nil {
			return n, err
		}
		return n, ft.Err
	}
	if ft.Err != nil {
		return 0, ft.Err
	}
	return ff.f.Pwrite(p, off)
}

func (ff *faultyFile) Datasync() error {
	if ft := ff.fs.check(Op{Kind: OpDatasync, Path: ff.name}); ft.Err != nil {
		return ft.Err
	}
	return ff.f.Datasync()
}

func (ff *faultyFile) Truncate(size int64) error {
	if ft := ff.fs.check(Op{Kind: OpTruncate, Path: ff.name, Off: size}); ft.Err != nil {
		return pathErr("truncate", ff.name, ft.Err)
	}
	return ff.f.Truncate(size)
}

func (ff *faultyFile) Size() (int64, error) {
	if ft := ff.fs.check(Op{Kind: OpSize, Path: ff.name}); ft.Err != nil {
		return 0, ft.Err
	}
	return ff.f.Size()
}

func (ff *faultyFile) Close() error {
	if ft := ff.fs.check(Op{Kind: OpClose, Path: ff.name}); ft.Err != nil {
		_ = ff.f.Close()
		return ft.Err
	}
	return ff.f.Close()
}
