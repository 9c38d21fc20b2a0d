package walfs

import (
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Mem is a strict in-memory file system. Every file keeps the bytes written
// to it and the bytes its last Datasync made durable; every directory keeps
// its entries and the entries its last SyncDir made durable. PowerLoss
// returns the file system a machine crash at that instant would leave.
// Its methods are safe for concurrent use (one mutex serializes them all,
// so a power-loss image is always taken between two operations).
type Mem struct {
	mu    sync.Mutex
	root  *node
	locks map[string]bool
	free  int64
}

type node struct {
	dir     bool
	modTime time.Time
	// A file: data is what reads see; synced is what a power loss keeps.
	// data[:dirtyFrom] equals synced[:dirtyFrom]; every byte at or after
	// dirtyFrom (and the size) may differ.
	data, synced []byte
	dirtyFrom    int
	// A directory: its entries, and the entries as of its last SyncDir.
	kids, syncedKids map[string]*node
}

// NewMem returns an empty Mem whose Free reports 1 TiB.
func NewMem() *Mem {
	return &Mem{root: newDir(), locks: map[string]bool{}, free: 1 << 40}
}

func newDir() *node { return &node{dir: true, kids: map[string]*node{}} }

// SetFree sets what Free reports.
func (m *Mem) SetFree(n int64) {
	m.mu.Lock()
	m.free = n
	m.mu.Unlock()
}

// PowerLoss returns the file system a power loss now would leave behind; m
// itself is unchanged and stays usable (the process that used it is gone,
// as far as the image is concerned: the image holds no locks).
//
// With r nil the image holds exactly what was synced: each file's data as
// of its last Datasync, each directory's entries as of its last SyncDir.
// With r set, some of what was not synced survives too, drawn from r, as a
// real disk may have written it before the power went: per directory,
// either its synced entries or all its current ones; per file, a torn
// prefix of the unsynced bytes written past its synced size (none, all, or
// a random cut), unsynced overwrites kept per 512-byte sector, an unsynced
// truncation kept or lost, and, in one file in three that has unsynced
// bytes, a run of garbage (random bytes or zeros) anywhere in the unsynced
// range, not only at its end. Synced bytes are never changed.
func (m *Mem) PowerLoss(r *rand.Rand) *Mem {
	m.mu.Lock()
	defer m.mu.Unlock()
	memo := map[*node]*node{}
	return &Mem{root: m.root.crash(r, memo), locks: map[string]bool{}, free: m.free}
}

// ProcessCrash returns the file system as a crash of the process using it
// leaves it: everything written, synced or not, is still there (in the
// page cache) and still unsynced, and no lock is held. m is unchanged.
func (m *Mem) ProcessCrash() *Mem {
	m.mu.Lock()
	defer m.mu.Unlock()
	memo := map[*node]*node{}
	return &Mem{root: m.root.copy(memo), locks: map[string]bool{}, free: m.free}
}

func (n *node) copy(memo map[*node]*node) *node {
	if c, ok := memo[n]; ok {
		return c
	}
	c := &node{dir: n.dir, modTime: n.modTime, data: slices.Clone(n.data), synced: slices.Clone(n.synced), dirtyFrom: n.dirtyFrom}
	memo[n] = c
	if n.dir {
		c.kids = make(map[string]*node, len(n.kids))
		for name, k := range n.kids {
			c.kids[name] = k.copy(memo)
		}
		if n.syncedKids != nil {
			c.syncedKids = make(map[string]*node, len(n.syncedKids))
			for name, k := range n.syncedKids {
				c.syncedKids[name] = k.copy(memo)
			}
		}
	}
	return c
}

func (n *node) crash(r *rand.Rand, memo map[*node]*node) *node {
	if c, ok := memo[n]; ok {
		return c
	}
	c := &node{dir: n.dir, modTime: n.modTime}
	memo[n] = c
	if n.dir {
		kids := n.syncedKids
		if r != nil && !maps.Equal(n.kids, n.syncedKids) && r.IntN(2) == 0 {
			kids = n.kids
		}
		c.kids = make(map[string]*node, len(kids))
		for name, k := range kids {
			c.kids[name] = k.crash(r, memo)
		}
		c.syncedKids = maps.Clone(c.kids)
		return c
	}
	data := slices.Clone(n.synced)
	if r != nil && !n.clean() {
		data = n.tear(r)
	}
	c.data, c.synced, c.dirtyFrom = data, slices.Clone(data), len(data)
	return c
}

func (n *node) clean() bool {
	return n.dirtyFrom == len(n.data) && len(n.data) == len(n.synced)
}

// tear draws what a power loss leaves of a file with unsynced changes.
func (n *node) tear(r *rand.Rand) []byte {
	from := n.dirtyFrom
	size := len(n.synced) // the unsynced size change lost
	switch {
	case len(n.data) < len(n.synced):
		if r.IntN(2) == 0 { // the unsynced truncation kept
			size = len(n.data)
		}
	case len(n.data) > len(n.synced):
		switch r.IntN(3) {
		case 0: // nothing past the synced size
		case 1:
			size = len(n.data)
		default:
			size = len(n.synced) + r.IntN(len(n.data)-len(n.synced)+1)
		}
	}
	out := make([]byte, size)
	copy(out, n.synced)
	// Bytes at or after from were written (or cut) after the last sync.
	// Below the synced size each 512-byte sector is old or new; past it,
	// the kept prefix is new.
	const sector = 512
	for s := from - from%sector; s < size; s += sector {
		lo, hi := max(s, from), min(s+sector, size)
		if lo >= hi {
			continue
		}
		if hi > len(n.synced) || r.IntN(2) == 0 {
			// New where there is new data; past the data's end (an
			// unsynced truncation lost) the old bytes stay.
			copy(out[lo:hi], n.data[min(lo, len(n.data)):min(hi, len(n.data))])
		}
	}
	if size > from && r.IntN(3) == 0 {
		lo := from + r.IntN(size-from)
		hi := lo + 1 + r.IntN(min(size-lo, 64))
		zero := r.IntN(2) == 0
		for i := lo; i < hi; i++ {
			if zero {
				out[i] = 0
			} else {
				out[i] = byte(r.Uint32())
			}
		}
	}
	return out
}

// split cleans name into its components ("/" and "." are the root).
func split(name string) []string {
	p := strings.Trim(path.Clean("/"+name), "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// lookup finds name's parent directory and name's node (nil if absent).
func (m *Mem) lookup(op, name string) (parent *node, base string, n *node, err error) {
	parts := split(name)
	if len(parts) == 0 {
		return nil, "", m.root, nil
	}
	dir := m.root
	for _, p := range parts[:len(parts)-1] {
		next := dir.kids[p]
		if next == nil {
			return nil, "", nil, pathErr(op, name, syscall.ENOENT)
		}
		if !next.dir {
			return nil, "", nil, pathErr(op, name, syscall.ENOTDIR)
		}
		dir = next
	}
	base = parts[len(parts)-1]
	return dir, base, dir.kids[base], nil
}

func (m *Mem) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	parent, base, n, err := m.lookup("open", name)
	if err != nil {
		return nil, err
	}
	switch {
	case n == nil && flag&os.O_CREATE == 0:
		return nil, pathErr("open", name, syscall.ENOENT)
	case n == nil && parent == nil:
		return nil, pathErr("open", name, syscall.EISDIR)
	case n == nil:
		n = &node{modTime: time.Now()}
		parent.kids[base] = n
	case flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL:
		return nil, pathErr("open", name, syscall.EEXIST)
	case n.dir:
		return nil, pathErr("open", name, syscall.EISDIR)
	}
	writable := flag&(os.O_WRONLY|os.O_RDWR) != 0
	if flag&os.O_TRUNC != 0 && writable {
		n.truncate(0)
	}
	return &memFile{m: m, n: n, name: name, writable: writable}, nil
}

func (m *Mem) Mkdir(name string, perm fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	parent, base, n, err := m.lookup("mkdir", name)
	switch {
	case err != nil:
		return err
	case n != nil:
		return pathErr("mkdir", name, syscall.EEXIST)
	}
	parent.kids[base] = newDir()
	return nil
}

func (m *Mem) MkdirAll(name string, perm fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir := m.root
	for _, p := range split(name) {
		next := dir.kids[p]
		if next == nil {
			next = newDir()
			dir.kids[p] = next
		}
		if !next.dir {
			return pathErr("mkdir", name, syscall.ENOTDIR)
		}
		dir = next
	}
	return nil
}

func (m *Mem) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	parent, base, n, err := m.lookup("remove", name)
	switch {
	case err != nil:
		return err
	case n == nil:
		return pathErr("remove", name, syscall.ENOENT)
	case parent == nil:
		return pathErr("remove", name, syscall.EBUSY)
	case n.dir && len(n.kids) > 0:
		return pathErr("remove", name, syscall.ENOTEMPTY)
	}
	delete(parent.kids, base)
	return nil
}

func (m *Mem) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	parent, base, n, err := m.lookup("unlinkat", name)
	if err != nil || n == nil {
		return nil
	}
	if parent == nil {
		return pathErr("unlinkat", name, syscall.EBUSY)
	}
	var empty func(*node)
	empty = func(d *node) { // each unlink changes the directory, unsynced
		for _, k := range d.kids {
			if k.dir {
				empty(k)
			}
		}
		d.kids = map[string]*node{}
	}
	if n.dir {
		empty(n)
	}
	delete(parent.kids, base)
	return nil
}

func (m *Mem) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	op, np := m.mustParent(oldname), m.mustParent(newname)
	if op.err != nil {
		return op.err
	}
	if np.err != nil {
		return np.err
	}
	switch {
	case op.n == nil:
		return pathErr("rename", oldname, syscall.ENOENT)
	case op.parent == nil || np.parent == nil:
		return pathErr("rename", oldname, syscall.EBUSY)
	case op.n == np.n:
		return nil
	case np.n != nil && np.n.dir && !op.n.dir:
		return pathErr("rename", newname, syscall.EISDIR)
	case np.n != nil && !np.n.dir && op.n.dir:
		return pathErr("rename", newname, syscall.ENOTDIR)
	case np.n != nil && np.n.dir && len(np.n.kids) > 0:
		return pathErr("rename", newname, syscall.ENOTEMPTY)
	}
	delete(op.parent.kids, op.base)
	np.parent.kids[np.base] = op.n
	return nil
}

type found struct {
	parent *node
	base   string
	n      *node
	err    error
}

func (m *Mem) mustParent(name string) found {
	p, b, n, err := m.lookup("rename", name)
	return found{p, b, n, err}
}

func (m *Mem) ReadDir(name string) ([]fs.DirEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, _, n, err := m.lookup("open", name)
	switch {
	case err != nil:
		return nil, err
	case n == nil:
		return nil, pathErr("open", name, syscall.ENOENT)
	case !n.dir:
		return nil, pathErr("readdirent", name, syscall.ENOTDIR)
	}
	out := make([]fs.DirEntry, 0, len(n.kids))
	for _, k := range slices.Sorted(maps.Keys(n.kids)) {
		out = append(out, fs.FileInfoToDirEntry(n.kids[k].info(k)))
	}
	return out, nil
}

func (m *Mem) Stat(name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, base, n, err := m.lookup("lstat", name)
	switch {
	case err != nil:
		return nil, err
	case n == nil:
		return nil, pathErr("lstat", name, syscall.ENOENT)
	}
	if base == "" {
		base = "/"
	}
	return n.info(base), nil
}

func (m *Mem) SyncDir(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, _, n, err := m.lookup("open", name)
	switch {
	case err != nil:
		return err
	case n == nil:
		return pathErr("open", name, syscall.ENOENT)
	case !n.dir:
		return pathErr("fsync", name, syscall.ENOTDIR)
	}
	n.syncedKids = maps.Clone(n.kids)
	return nil
}

func (m *Mem) SyncAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[*node]bool{}
	var walk func(*node)
	walk = func(n *node) {
		if seen[n] {
			return
		}
		seen[n] = true
		if !n.dir {
			n.synced = append(n.synced[:n.dirtyFrom], n.data[n.dirtyFrom:]...)
			n.dirtyFrom = len(n.data)
			return
		}
		n.syncedKids = maps.Clone(n.kids)
		for _, k := range n.kids {
			walk(k)
		}
	}
	walk(m.root)
	return nil
}

func (m *Mem) Free(name string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.free, nil
}

func (m *Mem) Lock(name string) (io.Closer, error) {
	f, err := m.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	f.Close()
	key := path.Clean("/" + name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.locks[key] {
		return nil, pathErr("flock", name, ErrLocked)
	}
	m.locks[key] = true
	return memLock{m, key}, nil
}

type memLock struct {
	m   *Mem
	key string
}

func (l memLock) Close() error {
	l.m.mu.Lock()
	delete(l.m.locks, l.key)
	l.m.mu.Unlock()
	return nil
}

func (n *node) info(name string) fs.FileInfo {
	return memInfo{name: name, size: int64(len(n.data)), dir: n.dir, mod: n.modTime}
}

type memInfo struct {
	name string
	size int64
	dir  bool
	mod  time.Time
}

func (i memInfo) Name() string { return i.name }
func (i memInfo) Size() int64  { return i.size }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (i memInfo) ModTime() time.Time { return i.mod }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }

// truncate sets a file's size (m.mu held).
func (n *node) truncate(size int) {
	if size < len(n.data) {
		n.data = n.data[:size]
	} else {
		n.data = append(n.data, make([]byte, size-len(n.data))...)
	}
	n.dirtyFrom = min(n.dirtyFrom, size)
}

type memFile struct {
	m        *Mem
	n        *node
	name     string
	writable bool
	closed   bool
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.closed {
		return 0, os.ErrClosed
	}
	if off < 0 {
		return 0, syscall.EINVAL
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	k := copy(p, f.n.data[off:])
	if k < len(p) {
		return k, io.EOF
	}
	return k, nil
}

func (f *memFile) Pwrite(p []byte, off int64) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	switch {
	case f.closed || !f.writable:
		return 0, syscall.EBADF
	case off < 0:
		return 0, syscall.EINVAL
	}
	n := f.n
	if end := int(off) + len(p); end > len(n.data) {
		n.data = append(n.data, make([]byte, end-len(n.data))...)
	}
	copy(n.data[off:], p)
	n.dirtyFrom = min(n.dirtyFrom, int(off))
	n.modTime = time.Now()
	return len(p), nil
}

func (f *memFile) Datasync() error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.closed {
		return syscall.EBADF
	}
	n := f.n
	n.synced = append(n.synced[:n.dirtyFrom], n.data[n.dirtyFrom:]...)
	n.dirtyFrom = len(n.data)
	return nil
}

func (f *memFile) Truncate(size int64) error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	switch {
	case f.closed || !f.writable:
		return pathErr("truncate", f.name, syscall.EBADF)
	case size < 0:
		return pathErr("truncate", f.name, syscall.EINVAL)
	}
	f.n.truncate(int(size))
	return nil
}

func (f *memFile) Size() (int64, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.closed {
		return 0, os.ErrClosed
	}
	return int64(len(f.n.data)), nil
}

func (f *memFile) Close() error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.closed {
		return os.ErrClosed
	}
	f.closed = true
	return nil
}
