package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirmq/weir/cloud"
	"github.com/weirmq/weir/sm"
)

var ctx = context.Background()

func open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func put(t *testing.T, s *Store, name, body string, createOnly bool) (sm.ObjectInfo, error) {
	t.Helper()
	return s.Put(ctx, name, strings.NewReader(body), int64(len(body)), createOnly)
}

// Names that would escape the root, alias another name or hide in the
// temporary directory are refused, each with a reason, before any I/O.
func TestNames(t *testing.T) {
	s := open(t)
	for _, bad := range []string{"", "/abs", "a//b", "a/", "./a", "a/./b", "../x", "a/../../x", "a\x00b", "a\\b",
		TempDir + "/x", strings.Repeat("n", MaxNameBytes+1), "a/" + strings.Repeat("c", MaxComponentBytes+1)} {
		_, err := put(t, s, bad, "x", false)
		if cloud.KindOf(err) != sm.ObjErrInvalid || !strings.Contains(err.Error(), "object name") {
			t.Fatalf("put %q: %v, want an invalid-name error", bad, err)
		}
		if _, err := s.Get(ctx, bad, 0, 0); cloud.KindOf(err) != sm.ObjErrInvalid {
			t.Fatalf("get %q: %v", bad, err)
		}
		if err := s.Delete(ctx, bad); cloud.KindOf(err) != sm.ObjErrInvalid {
			t.Fatalf("delete %q: %v", bad, err)
		}
	}
	for _, good := range []string{"top", "a/b/c", ".hidden/x", "a..b", "segments/AAAA/0/00000000000000000000-1-2-3-4.seg"} {
		if _, err := put(t, s, good, "x", true); err != nil {
			t.Fatalf("put %q: %v", good, err)
		}
	}
	if err := ValidateName("../x"); err == nil || !strings.Contains(err.Error(), `".."`) {
		t.Fatalf("ValidateName: %v", err)
	}
}

// Open removes what interrupted puts left in the temporary directory, and
// List never shows it.
func TestOpenCleansTemp(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := put(t, s, "a", "1", true); err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(dir, TempDir, "put-123")
	if err := os.WriteFile(left, []byte("half a segment"), 0o644); err != nil {
		t.Fatal(err)
	}
	objs, _, err := s.List(ctx, "", "", 0)
	if err != nil || len(objs) != 1 || objs[0].Name != "a" {
		t.Fatalf("list: %v %v", objs, err)
	}
	// A young temporary file may be another process's put in progress:
	// Open leaves it; one older than LeftoverAge is a leftover and goes.
	inFlight := filepath.Join(dir, TempDir, "put-456")
	if err := os.WriteFile(inFlight, []byte("a put in progress"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * LeftoverAge)
	if err := os.Chtimes(left, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("leftover temp file after Open: %v", err)
	}
	if _, err := os.Stat(inFlight); err != nil {
		t.Fatalf("Open removed another process's temporary file in progress: %v", err)
	}
}

// Concurrent create-only puts of one name: exactly one succeeds, the rest
// find it exists, and the object holds the winner's bytes; no temporary
// file stays behind.
func TestCreateOnlyRace(t *testing.T) {
	s := open(t)
	s2, err := Open(s.Root()) // a second process on the same directory
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won []string
	exists := 0
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := s
			if i%2 == 1 {
				st = s2
			}
			body := fmt.Sprintf("writer %02d", i)
			_, err := put(t, st, "race/obj", body, true)
			mu.Lock()
			defer mu.Unlock()
			switch cloud.KindOf(err) {
			case sm.ObjErrNone:
				won = append(won, body)
			case sm.ObjErrExists:
				exists++
			default:
				t.Errorf("writer %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if len(won) != 1 || exists != 15 {
		t.Fatalf("%d winners (%q), %d refused", len(won), won, exists)
	}
	got, err := s.Get(ctx, "race/obj", 0, 0)
	if err != nil || string(got) != won[0] {
		t.Fatalf("object holds %q (%v), winner wrote %q", got, err, won[0])
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Root(), TempDir)); len(ents) != 0 {
		t.Fatalf("%d temporary files left", len(ents))
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, &cloud.Error{Kind: sm.ObjErrSourceCorrupt, Op: "put", Err: errors.New("bad frame")}
	}
	k := min(len(p), f.n)
	f.n -= k
	return k, nil
}

// A body that fails, ends early or runs on creates nothing, and the error
// keeps the body's classification; a cancelled context too.
func TestPutBodyFailures(t *testing.T) {
	s := open(t)
	_, err := s.Put(ctx, "f/a", &failingReader{n: 5000}, 10000, true)
	if cloud.KindOf(err) != sm.ObjErrSourceCorrupt {
		t.Fatalf("failing body: %v", err)
	}
	if _, err := s.Put(ctx, "f/b", strings.NewReader("short"), 10, true); cloud.KindOf(err) != sm.ObjErrInvalid {
		t.Fatalf("short body: %v", err)
	}
	if _, err := s.Put(ctx, "f/c", strings.NewReader("too long"), 3, true); cloud.KindOf(err) != sm.ObjErrInvalid {
		t.Fatalf("long body: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Put(cctx, "f/d", strings.NewReader("x"), 1, true); err == nil {
		t.Fatalf("put with a cancelled context succeeded")
	}
	objs, _, err := s.List(ctx, "", "", 0)
	if err != nil || len(objs) != 0 {
		t.Fatalf("failed puts left %v (%v)", objs, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Root(), TempDir)); len(ents) != 0 {
		t.Fatalf("%d temporary files left", len(ents))
	}
}

// A name that is a directory of other objects, or that runs through an
// object, is invalid; a delete removes the directories it empties.
func TestDirectories(t *testing.T) {
	s := open(t)
	if _, err := put(t, s, "d/x/y", "1", true); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"d/x", "d/x/y/z"} {
		for _, createOnly := range []bool{true, false} {
			if _, err := put(t, s, name, "2", createOnly); cloud.KindOf(err) != sm.ObjErrInvalid {
				t.Fatalf("put %s (create-only %v): %v, want invalid", name, createOnly, err)
			}
		}
	}
	if _, err := s.Get(ctx, "d/x", 0, 0); cloud.KindOf(err) != sm.ObjErrNotFound {
		t.Fatalf("get of a directory: %v", err)
	}
	if err := s.Delete(ctx, "d/x"); cloud.KindOf(err) != sm.ObjErrNotFound {
		t.Fatalf("delete of a directory: %v", err)
	}
	if err := s.Delete(ctx, "d/x/y"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Root(), "d")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("emptied directories left: %v", err)
	}
	if _, err := os.Stat(s.Root()); err != nil {
		t.Fatalf("root removed: %v", err)
	}
}

// Generations survive a reopen and keep increasing for a rewritten name.
func TestGenerationsAcrossOpen(t *testing.T) {
	s := open(t)
	a, err := put(t, s, "g", "one", false)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Open(s.Root())
	if err != nil {
		t.Fatal(err)
	}
	objs, _, _ := s2.List(ctx, "g", "", 0)
	if len(objs) != 1 || objs[0].Generation != a.Generation {
		t.Fatalf("after reopen: %+v, want generation %d", objs, a.Generation)
	}
	b, err := put(t, s2, "g", "two", false)
	if err != nil || b.Generation <= a.Generation {
		t.Fatalf("rewrite: generation %d after %d (%v)", b.Generation, a.Generation, err)
	}
	got, _ := s2.Get(ctx, "g", 0, 0)
	if !bytes.Equal(got, []byte("two")) {
		t.Fatalf("got %q", got)
	}
}

// A large object streams through without being held whole.
func TestLargePut(t *testing.T) {
	s := open(t)
	const n = 8 << 20
	if _, err := s.Put(ctx, "big", io.LimitReader(zeros{}, n), n, true); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "big", n-10, 100)
	if err != nil || len(got) != 10 {
		t.Fatalf("tail: %d bytes, %v", len(got), err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
