package wal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/weirmq/weir/sm"
)

// Whatever bytes the last segment holds, Open neither panics nor serves
// anything but a clean log: it returns the sealed segment plus a valid
// prefix of the last one, or refuses with a CorruptError.
//
//	go test ./io/wal -run '^$' -fuzz FuzzRecover -fuzztime 30s
func FuzzRecover(f *testing.F) {
	m := &model{tp: tp0}
	sealed := m.add(3, 2, 20)
	tail := m.add(3, 1, 30)
	f.Add(tail)
	f.Add(tail[:len(tail)-5])
	f.Add(append(bytes.Clone(tail[:40]), tail[60:]...))
	f.Add([]byte{})
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, last []byte) {
		dir := t.TempDir()
		pdir := filepath.Join(dir, "orders-0")
		if err := os.MkdirAll(pdir, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(pdir, segmentName(0)), sealed, 0o644)
		os.WriteFile(filepath.Join(pdir, segmentName(6)), last, 0o644)
		w, rec, err := Open(testConfig(dir, BackendSync))
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("refused with %v, not a CorruptError", err)
			}
			return
		}
		defer w.Close()
		log := rec.Logs[tp0]
		if _, n, err := sm.DecodeLog(log); err != nil || n != len(log) {
			t.Fatalf("served a log that does not decode: %d of %d bytes, %v", n, len(log), err)
		}
		if !bytes.HasPrefix(log, sealed) || !bytes.HasPrefix(last, log[len(sealed):]) {
			t.Fatal("recovered bytes are not the sealed segment plus a prefix of the last one")
		}
	})
}
