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
)

func newBackend(t *testing.T, name string) backend {
	t.Helper()
	cfg := Config{Backend: name, RingEntries: 8}
	be, info, err := selectBackend(&cfg)
	if err != nil || info.Name != name {
		t.Fatalf("backend %s: %v (%+v)", name, err, info)
	}
	t.Cleanup(func() { be.close() })
	return be
}

func openTemp(t *testing.T, name string) (*os.File, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
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
		fds := make([]*os.File, files)
		paths := make([]string, files)
		for i := range files {
			fds[i], paths[i] = openTemp(t, fmt.Sprintf("f%d", i))
		}
		for c := range chunks {
			for i := range files {
				buf := bytes.Repeat([]byte{byte('a' + (i+c)%26)}, size)
				want[i] = append(want[i], buf...)
				be.write(int(fds[i].Fd()), buf, int64(c*size), paths[i])
			}
		}
		for i := range files {
			be.datasync(int(fds[i].Fd()), paths[i])
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
		// Errors name the file and the offset.
		be.write(-1, []byte("x"), 42, "/nowhere/seg.log")
		be.datasync(-1, "/nowhere/seg.log")
		err := be.run()
		if err == nil || !strings.Contains(err.Error(), "at byte 42 of /nowhere/seg.log") || !errors.Is(err, unix.EBADF) {
			t.Fatalf("write to a bad descriptor: %v", err)
		}
	})
}
