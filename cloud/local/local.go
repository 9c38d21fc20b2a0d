// Package local is a cloud.Store on a directory: the embedded default
// object store of `weir dev` (./weir-data/objects), and a store for tests
// and single-machine deployments. It keeps the semantics runtime.ObjectStore
// documents with plain POSIX calls:
//
//   - An object is one file, named by the object's name below the root
//     ("segments/x/0/…" is the file segments/x/0/…); directories are made as
//     names need them and removed when a delete empties them.
//   - A put writes a temporary file in the hidden directory .weir-tmp,
//     fsyncs it and moves it into place: create-only with link(2), which
//     fails with EEXIST when the name exists (atomic: two writers of one name
//     cannot both succeed, and none replaces the other), an overwrite with
//     rename(2). The directory that gained the name is fsynced before the
//     put completes, so a completed put survives a power loss. No reader
//     ever sees part of an object.
//   - Generations are the files' modification times in nanoseconds, set
//     explicitly before the file is moved into place to the later of the
//     wall clock and one more than the generation of the object it replaces
//     (see generation). Open checks that the filesystem keeps nanosecond
//     times exactly.
//   - List walks the tree in the byte order of full names (a directory "x"
//     sorts as "x/", after "x-y" and before "x0"), skipping subtrees outside
//     the prefix or at or before After.
//
// Temporary files are in .weir-tmp, which List never shows and Open cleans
// of leftovers (puts a crash interrupted, older than LeftoverAge). Several
// Stores (processes)
// may share a directory: link and rename keep create-only atomic between
// them.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/weirmq/weir/cloud"
	"github.com/weirmq/weir/sm"
)

// TempDir is the hidden directory of in-progress puts under the root; no
// object name may start with it.
const TempDir = ".weir-tmp"

// LeftoverAge is how old a temporary file must be for Open to remove it as
// the leftover of an interrupted put: a younger one may be another
// process's put in progress (puts take at most the executor's put
// deadline, minutes).
const LeftoverAge = time.Hour

// DefaultPageSize is a list's page when the caller sets no limit (GCS's
// default page of 1000).
const DefaultPageSize = 1000

// MaxNameBytes bounds a name (GCS's limit); MaxComponentBytes one path
// component (the filesystem's NAME_MAX).
const (
	MaxNameBytes      = 1024
	MaxComponentBytes = 255
)

// Store is a directory holding objects.
type Store struct {
	root string
	tmp  string
	// mu serialises generation choices and the moves into place of this
	// Store's writes, so generations of one name increase in the order
	// its writes land.
	mu      sync.Mutex
	lastGen int64
}

var _ cloud.Store = (*Store)(nil)

// Open opens (creating) the store at dir and removes temporary files left
// by interrupted puts.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("cloud/local: no directory")
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("cloud/local: %s: %w", dir, err)
	}
	s := &Store{root: root, tmp: filepath.Join(root, TempDir)}
	if err := os.MkdirAll(s.tmp, 0o755); err != nil {
		return nil, fmt.Errorf("cloud/local: %w", err)
	}
	ents, err := os.ReadDir(s.tmp)
	if err != nil {
		return nil, fmt.Errorf("cloud/local: %w", err)
	}
	for _, e := range ents {
		// Only leftovers: another process sharing the directory (weir dev's
		// nodes do) may be writing a put's temporary file right now.
		if fi, err := e.Info(); err != nil || time.Since(fi.ModTime()) < LeftoverAge {
			continue
		}
		if err := os.RemoveAll(filepath.Join(s.tmp, e.Name())); err != nil {
			return nil, fmt.Errorf("cloud/local: removing a leftover temporary file: %w", err)
		}
	}
	if err := s.checkTimes(); err != nil {
		return nil, err
	}
	return s, nil
}

// checkTimes verifies that the filesystem stores modification times to the
// nanosecond: generations live there.
func (s *Store) checkTimes() error {
	f, err := os.CreateTemp(s.tmp, "probe-*")
	if err != nil {
		return fmt.Errorf("cloud/local: %w", err)
	}
	name := f.Name()
	f.Close()
	defer os.Remove(name)
	want := time.Unix(0, 1_700_000_000_123_456_789)
	if err := os.Chtimes(name, want, want); err != nil {
		return fmt.Errorf("cloud/local: %w", err)
	}
	fi, err := os.Stat(name)
	if err != nil {
		return fmt.Errorf("cloud/local: %w", err)
	}
	if got := fi.ModTime().UnixNano(); got != want.UnixNano() {
		return fmt.Errorf("cloud/local: %s keeps file times to %v, not to the nanosecond; object generations need nanosecond times (use ext4, xfs, btrfs or tmpfs)",
			s.root, time.Duration(want.UnixNano()-got))
	}
	return nil
}

// Root is the store's directory.
func (s *Store) Root() string { return s.root }

// Close implements cloud.Store; a local store holds nothing open.
func (s *Store) Close() error { return nil }

// ValidateName reports why name cannot be an object name of a local
// store: empty, absolute, with an empty, "." or ".." component, a NUL, a
// trailing slash, too long, or under TempDir.
func ValidateName(name string) error {
	bad := func(why string) error { return fmt.Errorf("object name %q: %s", name, why) }
	switch {
	case name == "":
		return bad("empty")
	case len(name) > MaxNameBytes:
		return bad(fmt.Sprintf("longer than %d bytes", MaxNameBytes))
	case strings.HasPrefix(name, "/"):
		return bad("absolute (names are relative to the store)")
	case strings.ContainsRune(name, 0):
		return bad("holds a NUL byte")
	case strings.ContainsRune(name, '\\'):
		return bad("holds a backslash")
	}
	parts := strings.Split(name, "/")
	for i, p := range parts {
		switch {
		case p == "":
			return bad("has an empty component (a doubled or trailing slash)")
		case p == "." || p == "..":
			return bad(fmt.Sprintf("has a %q component", p))
		case len(p) > MaxComponentBytes:
			return bad(fmt.Sprintf("has a component longer than %d bytes", MaxComponentBytes))
		case i == 0 && p == TempDir:
			return bad("is under the store's temporary directory " + TempDir)
		}
	}
	return nil
}

func opErr(op, name string, kind sm.ObjErr, unknown bool, err error) error {
	return &cloud.Error{Kind: kind, Unknown: unknown, Op: op, Name: name, Err: err}
}

func (s *Store) path(name string) string { return filepath.Join(s.root, filepath.FromSlash(name)) }

// Put implements cloud.Store. It reads exactly size bytes from body (a body
// that ends early or runs on fails, as does one that returns an error) into
// a temporary file, fsyncs it, and moves it into place; until then nothing
// is visible and a failure leaves nothing behind.
func (s *Store) Put(ctx context.Context, name string, body io.Reader, size int64, createOnly bool) (sm.ObjectInfo, error) {
	if err := ValidateName(name); err != nil {
		return sm.ObjectInfo{}, opErr("put", name, sm.ObjErrInvalid, false, err)
	}
	if size < 0 {
		return sm.ObjectInfo{}, opErr("put", name, sm.ObjErrInvalid, false, fmt.Errorf("size %d", size))
	}
	tmp, err := s.writeTemp(ctx, name, body, size)
	if err != nil {
		return sm.ObjectInfo{}, err
	}
	defer os.Remove(tmp) // after a link, or after a failure
	if err := ctx.Err(); err != nil {
		return sm.ObjectInfo{}, opErr("put", name, sm.ObjErrUnavailable, false, err)
	}
	gen, err := s.place(name, tmp, createOnly)
	if err != nil {
		return sm.ObjectInfo{}, err
	}
	return sm.ObjectInfo{Name: name, Size: size, Generation: gen}, nil
}

// writeTemp copies the body into a synced temporary file.
func (s *Store) writeTemp(ctx context.Context, name string, body io.Reader, size int64) (string, error) {
	fail := func(kind sm.ObjErr, err error) (string, error) { return "", opErr("put", name, kind, false, err) }
	f, err := os.CreateTemp(s.tmp, "put-*")
	if err != nil {
		return fail(sm.ObjErrUnavailable, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	n, err := io.Copy(f, io.LimitReader(ctxReader{ctx, body}, size))
	if err != nil {
		return fail(cloud.KindOf(err), err)
	}
	if n != size {
		return fail(sm.ObjErrInvalid, fmt.Errorf("the body ended after %d of %d bytes", n, size))
	}
	var one [1]byte
	if m, err := body.Read(one[:]); m > 0 {
		return fail(sm.ObjErrInvalid, fmt.Errorf("the body holds more than %d bytes", size))
	} else if err != nil && err != io.EOF {
		return fail(cloud.KindOf(err), err)
	}
	if err := f.Sync(); err != nil {
		return fail(sm.ObjErrUnavailable, err)
	}
	if err := f.Close(); err != nil {
		return fail(sm.ObjErrUnavailable, err)
	}
	ok = true
	return tmp, nil
}

// ctxReader stops a copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// place moves the synced temporary file tmp to name: link(2) for a
// create-only put (EEXIST: the name is taken), rename(2) otherwise; then it
// fsyncs the directory. A failure before the move is certain (nothing
// happened); one after it — the directory sync — leaves the outcome unknown.
func (s *Store) place(name, tmp string, createOnly bool) (int64, error) {
	dst := s.path(name)
	if err := s.mkdirs(filepath.Dir(dst)); err != nil {
		return 0, opErr("put", name, dirErrKind(err), false, err)
	}
	s.mu.Lock()
	gen, err := s.generation(dst)
	if err == nil {
		err = os.Chtimes(tmp, time.Unix(0, gen), time.Unix(0, gen))
	}
	if err == nil {
		for attempt := 0; ; attempt++ {
			if createOnly {
				err = os.Link(tmp, dst)
			} else {
				err = os.Rename(tmp, dst)
			}
			// A concurrent delete may have removed the emptied directory
			// between mkdirs and the move: make it again.
			if !errors.Is(err, fs.ErrNotExist) || attempt == 3 {
				break
			}
			if err = s.mkdirs(filepath.Dir(dst)); err != nil {
				break
			}
		}
	}
	s.mu.Unlock()
	switch {
	case err == nil:
	case createOnly && errors.Is(err, fs.ErrExist):
		if fi, serr := os.Lstat(dst); serr == nil && fi.IsDir() {
			return 0, opErr("put", name, sm.ObjErrInvalid, false, errors.New("the name is a directory of other objects"))
		}
		return 0, opErr("put", name, sm.ObjErrExists, false, errors.New("the name exists"))
	default:
		return 0, opErr("put", name, dirErrKind(err), false, err)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return 0, opErr("put", name, sm.ObjErrUnavailable, true, err)
	}
	return gen, nil
}

// generation chooses the generation of a write to dst: the wall clock in
// nanoseconds, but above the generation of the object it replaces and of
// this Store's previous write. Generations of one name therefore increase
// with every write while this Store writes it, and across restarts unless
// the clock steps back by more than the time between the writes (a
// persisted counter would need a synced write per put, and a shared one
// between Stores on one directory, for a guarantee GCS gives and nothing in
// Weir relies on beyond "a rewrite has a higher generation"). The caller
// holds s.mu.
func (s *Store) generation(dst string) (int64, error) {
	gen := max(time.Now().UnixNano(), s.lastGen+1)
	if fi, err := os.Lstat(dst); err == nil {
		if fi.IsDir() {
			return 0, errors.New("the name is a directory of other objects")
		}
		gen = max(gen, fi.ModTime().UnixNano()+1)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	s.lastGen = gen
	return gen, nil
}

// dirErrKind classifies an error making or moving into a directory: a
// component of the name that is an object (ENOTDIR) makes the name invalid.
func dirErrKind(err error) sm.ObjErr {
	if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) || strings.Contains(err.Error(), "directory of other objects") {
		return sm.ObjErrInvalid
	}
	return sm.ObjErrUnavailable
}

// mkdirs makes dir and its missing parents below the root, fsyncing the
// parent of each directory it creates.
func (s *Store) mkdirs(dir string) error {
	if dir == s.root {
		return nil
	}
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s: %w", dir, syscall.ENOTDIR)
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if err := s.mkdirs(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // made concurrently
		}
		return err
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Get implements cloud.Store: n bytes from off (n ≤ 0: to the end); off
// beyond the object's end is invalid.
func (s *Store) Get(ctx context.Context, name string, off, n int64) ([]byte, error) {
	if err := ValidateName(name); err != nil {
		return nil, opErr("get", name, sm.ObjErrInvalid, false, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, opErr("get", name, sm.ObjErrUnavailable, false, err)
	}
	f, err := os.Open(s.path(name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, opErr("get", name, sm.ObjErrNotFound, false, errors.New("no such object"))
		}
		return nil, opErr("get", name, sm.ObjErrUnavailable, false, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, opErr("get", name, sm.ObjErrUnavailable, false, err)
	}
	if fi.IsDir() {
		return nil, opErr("get", name, sm.ObjErrNotFound, false, errors.New("no such object (a directory of other objects)"))
	}
	size := fi.Size()
	if off < 0 || off > size {
		return nil, opErr("get", name, sm.ObjErrInvalid, false, fmt.Errorf("range from byte %d of a %d-byte object", off, size))
	}
	end := size
	if n > 0 {
		end = min(size, off+n)
	}
	buf := make([]byte, end-off)
	if _, err := f.ReadAt(buf, off); err != nil && !(err == io.EOF && len(buf) == 0) {
		return nil, opErr("get", name, sm.ObjErrUnavailable, false, err)
	}
	return buf, nil
}

// Delete implements cloud.Store. It fsyncs the directory, then removes the
// directories the delete emptied.
func (s *Store) Delete(ctx context.Context, name string) error {
	if err := ValidateName(name); err != nil {
		return opErr("delete", name, sm.ObjErrInvalid, false, err)
	}
	if err := ctx.Err(); err != nil {
		return opErr("delete", name, sm.ObjErrUnavailable, false, err)
	}
	p := s.path(name)
	if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
		return opErr("delete", name, sm.ObjErrNotFound, false, errors.New("no such object (a directory of other objects)"))
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return opErr("delete", name, sm.ObjErrNotFound, false, errors.New("no such object"))
		}
		return opErr("delete", name, sm.ObjErrUnavailable, false, err)
	}
	dir := filepath.Dir(p)
	if err := syncDir(dir); err != nil {
		return opErr("delete", name, sm.ObjErrUnavailable, true, err)
	}
	for dir != s.root {
		if os.Remove(dir) != nil { // not empty (or made again): stop
			break
		}
		dir = filepath.Dir(dir)
	}
	return nil
}

// List implements cloud.Store: up to limit (≤ 0: DefaultPageSize) objects
// whose names start with prefix and sort after after, in byte order.
func (s *Store) List(ctx context.Context, prefix, after string, limit int) ([]sm.ObjectInfo, bool, error) {
	if limit <= 0 {
		limit = DefaultPageSize
	}
	w := walker{ctx: ctx, prefix: prefix, after: after, want: limit + 1}
	// Start at the deepest directory every match lies in.
	dir := ""
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dir = prefix[:i+1]
	}
	if dir != "" {
		if err := ValidateName(strings.TrimSuffix(dir, "/")); err != nil {
			return nil, false, nil // no object can have this prefix
		}
	}
	if err := w.walk(filepath.Join(s.root, filepath.FromSlash(dir)), dir); err != nil {
		return nil, false, opErr("list", prefix, sm.ObjErrUnavailable, false, err)
	}
	more := len(w.out) > limit
	if more {
		w.out = w.out[:limit]
	}
	return w.out, more, nil
}

type walker struct {
	ctx           context.Context
	prefix, after string
	want          int
	out           []sm.ObjectInfo
}

type entry struct {
	key string // the full name; a directory's ends with "/"
	de  fs.DirEntry
}

// walk visits dir (whose names start with rel) in name order until it has
// want objects.
func (w *walker) walk(dir, rel string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil // emptied and removed meanwhile, or never made
		}
		return err
	}
	ents := make([]entry, 0, len(des))
	for _, de := range des {
		key := rel + de.Name()
		if rel == "" && de.Name() == TempDir {
			continue
		}
		if de.IsDir() {
			key += "/"
		} else if !de.Type().IsRegular() {
			continue
		}
		ents = append(ents, entry{key, de})
	}
	slices.SortFunc(ents, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	for _, e := range ents {
		if len(w.out) >= w.want {
			return nil
		}
		if e.de.IsDir() {
			// Only subtrees that can hold a name both under the prefix and
			// after After.
			if !strings.HasPrefix(e.key, w.prefix) && !strings.HasPrefix(w.prefix, e.key) {
				continue
			}
			if e.key <= w.after && !strings.HasPrefix(w.after, e.key) {
				continue
			}
			if err := w.walk(filepath.Join(dir, e.de.Name()), e.key); err != nil {
				return err
			}
			continue
		}
		if !strings.HasPrefix(e.key, w.prefix) || e.key <= w.after {
			continue
		}
		fi, err := e.de.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			return err
		}
		w.out = append(w.out, sm.ObjectInfo{Name: e.key, Size: fi.Size(), Generation: fi.ModTime().UnixNano()})
	}
	return nil
}
