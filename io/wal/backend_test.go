package wal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/weirmq/weir/io/wal/walfs"
)

func newBackend(t *testing.T, name string) backend {
	t.Helper()
	cfg := Config{Backend: name, RingEntries: 8}
	be, info, err := selectBackend(&cfg, true)
	if err != nil || info.Name != name {
		t.Fatalf("backend %s: %v (%+v)", name, err, info)
	}
	t.Cleanup(func() { be.close() })
	return be
}

func openTemp(t *testing.T, name string) (walfs.File, string) {
	t.Helper()
	return openTempFlag(t, name, os.O_RDWR|os.O_CREATE)
}

func openTempFlag(t *testing.T, name string, flag int) (walfs.File, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if flag&os.O_CREATE == 0 {
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := walfs.OS{}.OpenFile(path, flag, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, path
}

// The backend contract: writes land at their offsets, a datasync follows
// its file's writes, and it holds for groups much larger than the ring and
// for chains longer than the ring.
func TestBackendContract(t *testing.T) {
	forBackends(t, func(t *testing.T, name string) {
		be := newBackend(t, name)
		const files, chunks, size = 20, 37, 100
		want := make([][]byte, files)
		fds := make([]walfs.File, files)
		paths := make([]string, files)
		for i := range files {
			fds[i], paths[i] = openTemp(t, fmt.Sprintf("f%d", i))
		}
		for c := range chunks {
			for i := range files {
				buf := bytes.Repeat([]byte{byte('a' + (i+c)%26)}, size)
				want[i] = append(want[i], buf...)
				be.write(fds[i], buf, int64(c*size), paths[i])
			}
		}
		for i := range files {
			be.datasync(fds[i], paths[i])
		}
		if err := be.run(); err != nil {
			t.Fatal(err)
		}
		for i := range files {
			got, _ := os.ReadFile(paths[i])
			if !bytes.Equal(got, want[i]) {
				t.Fatalf("file %d: %d bytes, want %d", i, len(got), len(want[i]))
			}
		}
		if err := be.run(); err != nil { // an empty run is fine
			t.Fatal(err)
		}
		// Errors name the file and the offset (a file opened read-only
		// refuses writes with EBADF).
		ro, roPath := openTempFlag(t, "ro.log", os.O_RDONLY)
		be.write(ro, []byte("x"), 42, roPath)
		be.datasync(ro, roPath)
		err := be.run()
		if err == nil || !strings.Contains(err.Error(), "at byte 42 of "+roPath) || !errors.Is(err, unix.EBADF) {
			t.Fatalf("write to a bad descriptor: %v", err)
		}
	})
}
