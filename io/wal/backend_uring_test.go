//go:build linux

package wal

import (
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// When io_uring reports a short write, the kernel cancels the rest of the
// chain; finish completes the write with pwrite and redoes the datasync.
func TestUringRepairsShortWrite(t *testing.T) {
	if err := uringAvailable(); err != nil {
		t.Skipf("io_uring refused by this kernel at runtime: %v", err)
	}
	b := newBackend(t, BackendUring).(*uringBackend)
	f, path := openTemp(t, "seg")
	data := []byte("0123456789abcdef")
	if _, err := f.Pwrite(data[:5], 0); err != nil { // what the "short" write managed
		t.Fatal(err)
	}
	b.write(f, data, 0, path)
	b.write(f, []byte("XYZ"), int64(len(data)), path)
	b.datasync(f, path)
	b.chains = [][]int{{0, 1, 2}}
	b.res = []int32{5, -int32(unix.ECANCELED), -int32(unix.ECANCELED)}
	if err := b.finish(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "0123456789abcdefXYZ" {
		t.Fatalf("file holds %q", got)
	}
	b.res = []int32{int32(len(data)), -int32(unix.EIO), -int32(unix.ECANCELED)}
	err := b.finish()
	if err == nil || !errors.Is(err, unix.EIO) || !strings.Contains(err.Error(), "write 3 bytes at byte 16 of "+path) {
		t.Fatalf("EIO: %v", err)
	}
	b.res = []int32{int32(len(data)), 3, resPending}
	if err := b.finish(); err == nil || !strings.Contains(err.Error(), "no completion") {
		t.Fatalf("missing completion: %v", err)
	}
	b.reset()
}
