package audit

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File layout. The current file is Config.Path ("audit.log"). A rotation
// renames it to "audit-2026-12-03T13-18-58.123456789.log" (the UTC time of the
// rotation, strictly increasing within one writer, so names sort in write
// order) and, with Compress, the mill later turns that into ".log.gz" through a
// ".log.gz.tmp" file that is synced and renamed into place: a reader sees either
// the plain backup or the complete archive (or, for an instant, both, which
// hold the same lines), never half an archive.
const (
	backupTimeLayout = "2006-01-02T15-04-05.000000000"
	gzSuffix         = ".gz"
	tmpSuffix        = ".tmp"
)

// backup is one rotated file.
type backup struct {
	path string    // the file to read
	base string    // the name without gzSuffix: one identity for both forms
	at   time.Time // rotation time from the name
	gz   bool
}

// splitPath cuts "dir/audit.log" into its directory, "audit-" and ".log".
func splitPath(path string) (dir, prefix, ext string) {
	dir = filepath.Dir(path)
	name := filepath.Base(path)
	ext = filepath.Ext(name)
	return dir, name[:len(name)-len(ext)] + "-", ext
}

func backupName(path string, at time.Time) string {
	dir, prefix, ext := splitPath(path)
	return filepath.Join(dir, prefix+at.UTC().Format(backupTimeLayout)+ext)
}

// listBackups returns the rotated files of path, oldest first. When both the
// plain and the compressed form of one backup exist (the mill is between its
// rename and its remove), the plain one is listed: it is complete, and the
// archive may be too, but the plain one certainly is.
func listBackups(path string) ([]backup, error) {
	dir, prefix, ext := splitPath(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: list backups in %s: %w", dir, err)
	}
	byBase := map[string]backup{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasPrefix(name, prefix) {
			continue
		}
		gz := strings.HasSuffix(name, ext+gzSuffix)
		base := strings.TrimSuffix(name, gzSuffix)
		if !strings.HasSuffix(base, ext) {
			continue
		}
		at, err := time.Parse(backupTimeLayout, base[len(prefix):len(base)-len(ext)])
		if err != nil {
			continue // not ours
		}
		if old, ok := byBase[base]; ok && !old.gz {
			continue
		}
		byBase[base] = backup{path: filepath.Join(dir, name), base: base, at: at, gz: gz}
	}
	out := make([]backup, 0, len(byBase))
	for _, b := range byBase {
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b backup) int { return a.at.Compare(b.at) })
	return out, nil
}

// openBackup opens a backup for reading, following it into its archive if the
// mill compressed it since it was listed. The caller closes the returned closer.
func openBackup(b backup) (io.Reader, io.Closer, error) {
	f, err := os.Open(b.path)
	if err != nil && !b.gz && errors.Is(err, os.ErrNotExist) {
		b.gz, b.path = true, b.path+gzSuffix
		f, err = os.Open(b.path)
	}
	if err != nil {
		return nil, nil, err
	}
	if !b.gz {
		return f, f, nil
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("audit: %s: %w", b.path, err)
	}
	return zr, f, nil
}

// file is what the writer needs of an open file; tests substitute failing ones.
type file interface {
	io.Writer
	io.ReaderAt
	Sync() error
	Close() error
	Stat() (os.FileInfo, error)
}

func openOSFile(name string) (file, error) {
	return os.OpenFile(name, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
}

// writer appends whole lines to the current file, rotating by size. It is used
// by the drain goroutine only. A failed write closes the file; the next call
// reopens it (or a new one, if it was replaced) and carries on from the first
// line not completely written, so a line is never half in one file and half in
// another: a torn fragment is ended with a newline and skipped by readers as a
// malformed line, and its line is written again whole.
type writer struct {
	path       string
	maxBytes   int64
	sync       bool
	now        func() time.Time
	open       func(string) (file, error)
	rename     func(string, string) error
	onRotate   func()
	f          file
	size       int64
	lastBackup time.Time
	buf        []byte
	rotations  uint64
}

// reopen makes w.f the file at w.path, ending a torn last line.
func (w *writer) reopen() error {
	if err := os.MkdirAll(filepath.Dir(w.path), 0o700); err != nil {
		return fmt.Errorf("audit: create directory of %s: %w", w.path, err)
	}
	f, err := w.open(w.path)
	if err != nil {
		return fmt.Errorf("audit: open %s: %w", w.path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit: stat %s: %w", w.path, err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("audit: %s is not a regular file (mode %s)", w.path, st.Mode())
	}
	w.f, w.size = f, st.Size()
	if w.size > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, w.size-1); err != nil {
			w.fail()
			return fmt.Errorf("audit: read end of %s: %w", w.path, err)
		}
		if last[0] != '\n' {
			if _, err := f.Write([]byte{'\n'}); err != nil {
				w.fail()
				return fmt.Errorf("audit: end torn line in %s: %w", w.path, err)
			}
			w.size++
		}
	}
	return nil
}

func (w *writer) fail() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
}

// replaced reports whether the name no longer leads to the open file (deleted,
// renamed by someone else, replaced by a directory): writing on would put
// events into a file nobody can read.
func (w *writer) replaced() bool {
	have, err := w.f.Stat()
	if err != nil {
		return true
	}
	at, err := os.Stat(w.path)
	return err != nil || !os.SameFile(have, at)
}

// writeLines writes lines, each ending in '\n', and returns how many were
// written completely (all of them when err is nil), then syncs if asked.
func (w *writer) writeLines(lines [][]byte) (int, error) {
	if w.f != nil && w.replaced() {
		w.fail()
	}
	done := 0
	for done < len(lines) {
		if w.f == nil {
			if err := w.reopen(); err != nil {
				return done, err
			}
		}
		if w.size > 0 && w.size+int64(len(lines[done])) > w.maxBytes {
			if err := w.rotate(); err != nil {
				return done, err
			}
			continue
		}
		// One write for as many lines as fit; a single line over the limit
		// goes alone into a fresh file rather than being lost.
		w.buf = append(w.buf[:0], lines[done]...)
		ends := []int{len(w.buf)}
		for i := done + 1; i < len(lines) && w.size+int64(len(w.buf)+len(lines[i])) <= w.maxBytes; i++ {
			w.buf = append(w.buf, lines[i]...)
			ends = append(ends, len(w.buf))
		}
		n, err := w.f.Write(w.buf)
		w.size += int64(n)
		for _, e := range ends {
			if e > n {
				break
			}
			done++
		}
		if err != nil {
			w.fail()
			return done, fmt.Errorf("audit: write %s: %w", w.path, err)
		}
	}
	if w.sync && w.f != nil {
		if err := w.f.Sync(); err != nil {
			w.fail()
			return done, fmt.Errorf("audit: sync %s: %w", w.path, err)
		}
	}
	return done, nil
}

// rotate moves the current file aside under a fresh backup name and starts a
// new one. On error the file is closed and the next write tries again.
func (w *writer) rotate() error {
	if w.sync {
		if err := w.f.Sync(); err != nil {
			w.fail()
			return fmt.Errorf("audit: sync %s before rotation: %w", w.path, err)
		}
	}
	w.fail()
	at := w.now().UTC()
	if !at.After(w.lastBackup) {
		at = w.lastBackup.Add(time.Nanosecond)
	}
	for {
		if _, err := os.Lstat(backupName(w.path, at)); errors.Is(err, os.ErrNotExist) {
			break
		}
		at = at.Add(time.Nanosecond)
	}
	if err := w.rename(w.path, backupName(w.path, at)); err != nil {
		return fmt.Errorf("audit: rotate %s: %w", w.path, err)
	}
	w.lastBackup = at
	w.rotations++
	if w.sync {
		syncDir(filepath.Dir(w.path))
	}
	if w.onRotate != nil {
		w.onRotate()
	}
	return w.reopen()
}

func (w *writer) close() error {
	if w.f == nil {
		return nil
	}
	var err error
	if w.sync {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	return err
}

// syncDir makes a rename in dir durable; best effort (some file systems refuse).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// mill keeps the backups: removes the oldest beyond keep, then compresses the
// rest that are still plain. It returns the first error but does all it can.
func mill(path string, keep int, compress bool) error {
	var first error
	note := func(err error) {
		if first == nil {
			first = err
		}
	}
	bs, err := listBackups(path)
	if err != nil {
		return err
	}
	if len(bs) > keep {
		for _, b := range bs[:len(bs)-keep] {
			for _, p := range []string{b.base, b.base + gzSuffix} {
				full := filepath.Join(filepath.Dir(path), p)
				if err := os.Remove(full); err != nil && !errors.Is(err, os.ErrNotExist) {
					note(fmt.Errorf("audit: remove old backup %s: %w", full, err))
				}
			}
		}
		bs = bs[len(bs)-keep:]
	}
	if compress {
		for _, b := range bs {
			if b.gz {
				continue
			}
			if err := compressFile(b.path); err != nil {
				note(err)
			}
		}
	}
	return first
}

// compressFile writes src.gz through src.gz.tmp (synced, renamed), then
// removes src.
func compressFile(src string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("audit: compress %s: %w", src, err)
	}
	defer in.Close()
	tmp := src + gzSuffix + tmpSuffix
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("audit: compress %s: %w", src, err)
	}
	defer func() {
		if err != nil {
			out.Close()
			os.Remove(tmp)
			err = fmt.Errorf("audit: compress %s: %w", src, err)
		}
	}()
	zw := gzip.NewWriter(out)
	if _, err = io.Copy(zw, in); err != nil {
		return err
	}
	if err = zw.Close(); err != nil {
		return err
	}
	if err = out.Sync(); err != nil {
		return err
	}
	if err = out.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, src+gzSuffix); err != nil {
		return err
	}
	syncDir(filepath.Dir(src))
	return os.Remove(src)
}

// removeStaleTemps deletes ".gz.tmp" files a crash left behind mid-compression;
// their source is still there and will be compressed again.
func removeStaleTemps(path string) {
	dir, prefix, _ := splitPath(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, prefix) && strings.HasSuffix(n, gzSuffix+tmpSuffix) {
			os.Remove(filepath.Join(dir, n))
		}
	}
}
