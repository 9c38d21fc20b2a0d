package gcs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/weirmq/weir/cloud"
	"github.com/weirmq/weir/sm"
)

var ctx = context.Background()

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

func mustPut(t testing.TB, s *Store, name string, data []byte, createOnly bool) sm.ObjectInfo {
	t.Helper()
	info, err := s.Put(ctx, name, bytes.NewReader(data), int64(len(data)), createOnly)
	if err != nil {
		t.Fatalf("put %s: %v", name, err)
	}
	if info.Name != name || info.Size != int64(len(data)) || info.Generation <= 0 {
		t.Fatalf("put %s: info %+v, want size %d and a generation", name, info, len(data))
	}
	return info
}

func mustGet(t testing.TB, s *Store, name string, off, n int64, want []byte) {
	t.Helper()
	got, err := s.Get(ctx, name, off, n)
	if err != nil {
		t.Fatalf("get %s [%d,+%d): %v", name, off, n, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("get %s [%d,+%d): %d bytes, want %d", name, off, n, len(got), len(want))
	}
}

// rawExists says whether the fake holds name (the store's prefix
// included), bypassing the store.
func rawExists(srv *fakestorage.Server, name string) bool {
	_, err := srv.GetObject(testBucket, name)
	return err == nil
}

func TestPutGet(t *testing.T) {
	srv := newFake(t, "")
	s := openStore(t, testConfig(srv))
	body := pattern(10000, 1)
	mustPut(t, s, "a/one", body, false)
	if !rawExists(srv, "weir/a/one") {
		t.Fatal("the object is not under the store's prefix")
	}
	mustGet(t, s, "a/one", 0, 0, body)
	mustGet(t, s, "a/one", 100, 50, body[100:150])
	mustGet(t, s, "a/one", 9990, 100, body[9990:])
	mustGet(t, s, "a/one", 4000, -1, body[4000:])
	mustGet(t, s, "a/one", 9999, 0, body[9999:])
	_, err := s.Get(ctx, "a/one", 10001, 10)
	wantErr(t, err, sm.ObjErrInvalid, false)
	_, err = s.Get(ctx, "a/one", -1, 10)
	wantErr(t, err, sm.ObjErrInvalid, false)

	mustPut(t, s, "a/empty", nil, true)
	mustGet(t, s, "a/empty", 0, 0, nil)
	_, err = s.Get(ctx, "a/missing", 0, 0)
	wantErr(t, err, sm.ObjErrNotFound, false)
	_, err = s.Get(ctx, "a/on", 0, 0) // a prefix of a name is not the object
	wantErr(t, err, sm.ObjErrNotFound, false)
}

func TestCreateOnlyAndOverwrite(t *testing.T) {
	srv := newFake(t, "")
	s := openStore(t, testConfig(srv))
	first := mustPut(t, s, "c/seg", []byte("first"), true)
	_, err := s.Put(ctx, "c/seg", strings.NewReader("second writer"), 13, true)
	wantErr(t, err, sm.ObjErrExists, false)
	mustGet(t, s, "c/seg", 0, 0, []byte("first"))
	second := mustPut(t, s, "c/seg", []byte("replaced"), false)
	if second.Generation <= first.Generation {
		t.Fatalf("overwrite generation %d, not above %d", second.Generation, first.Generation)
	}
	mustGet(t, s, "c/seg", 0, 0, []byte("replaced"))
}

// Objects of at least MultipartThreshold bytes go as resumable uploads in
// chunks; below it, in one request.
func TestResumableUpload(t *testing.T) {
	srv := newFake(t, "")
	s, in := faultyStore(t, srv, func(c *Config) { c.MultipartThreshold = 1 << 20; c.ChunkSize = 256 << 10 })
	big := pattern(1<<20+1000, 2)
	mustPut(t, s, "big", big, true)
	if n := in.count(isChunk); n != 5 {
		t.Fatalf("%d chunk requests for %d bytes in 256 KiB chunks, want 5: %q", n, len(big), in.log)
	}
	if n := in.count(isSingleUpload); n != 0 {
		t.Fatalf("%d single-request uploads for a resumable put", n)
	}
	mustGet(t, s, "big", 0, 0, big)
	mustGet(t, s, "big", 300000, 1000, big[300000:301000])
	_, err := s.Put(ctx, "big", bytes.NewReader(big), int64(len(big)), true)
	wantErr(t, err, sm.ObjErrExists, false)

	in.reset()
	small := pattern(1<<20-1, 3)
	mustPut(t, s, "small", small, true)
	if n, c := in.count(isSingleUpload), in.count(isChunk); n != 1 || c != 0 {
		t.Fatalf("a put below the threshold made %d single uploads and %d chunks, want 1 and 0", n, c)
	}
	mustGet(t, s, "small", 0, 0, small)
}

// failingReader returns data, then err instead of its end.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(b []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(b, f.data)
	f.data = f.data[n:]
	return n, nil
}

// A body that fails — at its very end, as a checking SegmentReader does —
// aborts the upload: nothing is created, and the body's own *cloud.Error
// keeps its kind.
func TestBodyErrorCreatesNothing(t *testing.T) {
	srv := newFake(t, "")
	s := openStore(t, testConfig(srv))
	s.cfg.MultipartThreshold = 1 << 20
	s.cfg.ChunkSize = 256 << 10
	corrupt := &cloud.Error{Kind: sm.ObjErrSourceCorrupt, Op: "read", Name: "seg", Err: errors.New("bad frame")}
	for _, size := range []int{1000, 3 << 20} {
		for _, bodyErr := range []error{corrupt, errors.New("disk read failed")} {
			name := fmt.Sprintf("fail-%d-%v", size, bodyErr == corrupt)
			data := pattern(size, 4)
			_, err := s.Put(ctx, name, &failingReader{data: data, err: bodyErr}, int64(size), true)
			if bodyErr == corrupt {
				wantErr(t, err, sm.ObjErrSourceCorrupt, false)
			} else {
				wantErr(t, err, sm.ObjErrUnavailable, false)
			}
			// Midway too.
			_, err = s.Put(ctx, name, &failingReader{data: data[:size/2], err: bodyErr}, int64(size), true)
			if err == nil {
				t.Fatal("a put whose body failed midway succeeded")
			}
			if rawExists(srv, "weir/"+name) {
				t.Fatalf("%s: a put whose body failed created the object", name)
			}
		}
		// A body shorter or longer than its size is the caller's bug.
		_, err := s.Put(ctx, "short", bytes.NewReader(pattern(size-1, 0)), int64(size), true)
		wantErr(t, err, sm.ObjErrInvalid, false)
		_, err = s.Put(ctx, "long", bytes.NewReader(pattern(size+1, 0)), int64(size), true)
		wantErr(t, err, sm.ObjErrInvalid, false)
		if rawExists(srv, "weir/short") || rawExists(srv, "weir/long") {
			t.Fatal("a put with a body of the wrong size created the object")
		}
	}
}

// Delete removes; a missing object is not found. (The store's deletes are
// unconditional. fake-gcs-server ignores ifGenerationMatch on DELETE — it
// deletes anyway, LIBS.md pitfall #3 — so a generation-conditional delete
// could not be tested here; none is used.)
func TestDelete(t *testing.T) {
	srv := newFake(t, "")
	s := openStore(t, testConfig(srv))
	mustPut(t, s, "d/a", []byte("x"), true)
	if err := s.Delete(ctx, "d/a"); err != nil {
		t.Fatal(err)
	}
	_, err := s.Get(ctx, "d/a", 0, 0)
	wantErr(t, err, sm.ObjErrNotFound, false)
	wantErr(t, s.Delete(ctx, "d/a"), sm.ObjErrNotFound, false)
	wantErr(t, s.Delete(ctx, "d/never"), sm.ObjErrNotFound, false)
}

func names(objs []sm.ObjectInfo) []string {
	var n []string
	for _, o := range objs {
		n = append(n, o.Name)
	}
	return n
}

func TestList(t *testing.T) {
	srv := newFake(t, "")
	s := openStore(t, testConfig(srv))
	// An object outside the store's prefix is never listed.
	if err := srv.Client().Bucket(testBucket).Object("other/x").NewWriter(ctx).Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{"l/a", "l/a/b", "l/b", "l/b0", "l/c/d/e", "l0", "m"}
	for i, n := range slices.Backward(want) {
		mustPut(t, s, n, pattern(i+1, 5), true)
	}
	objs, more, err := s.List(ctx, "", "", 0)
	if err != nil || more || !slices.Equal(names(objs), want) {
		t.Fatalf("list all: %v more %v err %v, want %v", names(objs), more, err, want)
	}
	for _, o := range objs {
		if o.Size <= 0 || o.Generation <= 0 {
			t.Fatalf("listed %+v without size or generation", o)
		}
	}
	objs, more, err = s.List(ctx, "l/", "", 0)
	if err != nil || more || !slices.Equal(names(objs), want[:5]) {
		t.Fatalf("list l/: %v more %v err %v", names(objs), more, err)
	}
	// Paging: After is exclusive, More says whether others follow.
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		objs, more, err := s.List(ctx, "", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(objs) > 2 || (more && len(objs) != 2) {
			t.Fatalf("page %v more %v with limit 2", names(objs), more)
		}
		got = append(got, names(objs)...)
		if !more {
			break
		}
		after = objs[len(objs)-1].Name
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged list %v, want %v", got, want)
	}
	objs, more, err = s.List(ctx, "l/", "l/b", 10)
	if err != nil || more || !slices.Equal(names(objs), []string{"l/b0", "l/c/d/e"}) {
		t.Fatalf("list after l/b: %v more %v err %v", names(objs), more, err)
	}
	objs, more, err = s.List(ctx, "l/", "l/b0", 1)
	if err != nil || more || !slices.Equal(names(objs), []string{"l/c/d/e"}) {
		t.Fatalf("list after l/b0 limit 1: %v more %v err %v", names(objs), more, err)
	}
	objs, more, err = s.List(ctx, "zz", "", 0)
	if err != nil || more || len(objs) != 0 {
		t.Fatalf("list of nothing: %v %v %v", objs, more, err)
	}
}

// Open says what is wrong.
func TestOpenErrors(t *testing.T) {
	srv := newFake(t, "US-CENTRAL1")
	open := func(edit func(*Config)) error {
		cfg := testConfig(srv)
		cfg.OpTimeout = time.Second
		edit(&cfg)
		s, err := Open(ctx, cfg)
		if err == nil {
			s.Close()
		}
		return err
	}
	wantMsg := func(err error, words ...string) {
		t.Helper()
		if err == nil {
			t.Fatalf("Open succeeded, want an error saying %q", words)
		}
		for _, w := range words {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("Open: %v; want it to say %q", err, w)
			}
		}
	}
	if err := open(func(c *Config) { c.Region = "us-central1" }); err != nil {
		t.Fatalf("the bucket's own region: %v", err)
	}
	wantMsg(open(func(c *Config) { c.Region = "europe-west1" }), "US-CENTRAL1", "europe-west1", "region")
	wantMsg(open(func(c *Config) { c.Bucket = "nope" }), `bucket "nope" not found`)
	wantMsg(open(func(c *Config) { c.Bucket = "" }), "no bucket")
	// Nothing listens on a closed server's port.
	dead := fakestorage.NewServer(nil)
	url := dead.URL()
	dead.Stop()
	wantMsg(open(func(c *Config) { c.Endpoint = url }), "unreachable", url)

	// Credentials allowed objects but not bucket metadata: a list probe
	// stands in, unless a region must be checked.
	in := newInjector()
	in.on(isBucketAttrs, -1, refuse(403))
	if err := open(func(c *Config) { c.Transport = in }); err != nil {
		t.Fatalf("object-only permissions: %v", err)
	}
	wantMsg(open(func(c *Config) { c.Transport = in; c.Region = "us-central1" }), "permission denied", "region")
	in.on(isList, -1, refuse(403))
	wantMsg(open(func(c *Config) { c.Transport = in }), "permission denied")
	in.reset()
	in.on(all, -1, refuse(401))
	wantMsg(open(func(c *Config) { c.Transport = in }), "credentials rejected")
}

// Without an endpoint, credentials are Application Default Credentials; a
// key file that is not there is a clear error, before any request.
func TestOpenMissingCredentials(t *testing.T) {
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", t.TempDir()+"/missing-key.json")
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	_, err := Open(ctx, Config{Bucket: "b"})
	if err == nil || !strings.Contains(err.Error(), "no Google credentials") || !strings.Contains(err.Error(), "GOOGLE_APPLICATION_CREDENTIALS") {
		t.Fatalf("Open without credentials: %v", err)
	}
	_, err = Open(ctx, Config{Bucket: "b", Transport: newInjector()})
	if err == nil || !strings.Contains(err.Error(), "endpoint") {
		t.Fatalf("a transport without an endpoint: %v", err)
	}
	// The client library's emulator variable stands in for an endpoint.
	srv := newFake(t, "")
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(srv.URL(), "http://"))
	s, err := Open(ctx, Config{Bucket: testBucket})
	if err != nil {
		t.Fatalf("Open with STORAGE_EMULATOR_HOST: %v", err)
	}
	defer s.Close()
	mustPut(t, s, "e", []byte("e"), true)
	mustGet(t, s, "e", 0, 0, []byte("e"))
}

// Close cancels in-flight calls; calls after it fail.
func TestCloseCancelsInFlight(t *testing.T) {
	srv := newFake(t, "")
	s, in := faultyStore(t, srv, func(c *Config) { c.OpTimeout = time.Minute; c.AttemptTimeout = time.Minute })
	mustPut(t, s, "x", []byte("data"), true)
	in.on(all, -1, hang)
	type result struct {
		op  string
		err error
	}
	done := make(chan result, 4)
	go func() { _, err := s.Get(ctx, "x", 0, 0); done <- result{"get", err} }()
	go func() { _, err := s.Put(ctx, "y", strings.NewReader("y"), 1, true); done <- result{"put", err} }()
	go func() { done <- result{"delete", s.Delete(ctx, "x")} }()
	go func() { _, _, err := s.List(ctx, "", "", 0); done <- result{"list", err} }()
	for in.count(all) < 4 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	s.Close()
	for range 4 {
		r := <-done
		unknown := r.op == "put" || r.op == "delete" // the request had left
		wantErr(t, r.err, sm.ObjErrUnavailable, unknown)
		if !strings.Contains(r.err.Error(), "store closed") {
			t.Fatalf("%s after Close: %v", r.op, r.err)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("in-flight calls took %v to end after Close", d)
	}
	_, err := s.Get(ctx, "x", 0, 0)
	wantErr(t, err, sm.ObjErrUnavailable, false)
	_, err = s.Put(ctx, "z", strings.NewReader("z"), 1, true)
	wantErr(t, err, sm.ObjErrUnavailable, false) // never sent
	wantErr(t, s.Delete(ctx, "x"), sm.ObjErrUnavailable, false)
	_, _, err = s.List(ctx, "", "", 0)
	wantErr(t, err, sm.ObjErrUnavailable, false)
}

var _ io.Reader = (*failingReader)(nil)
