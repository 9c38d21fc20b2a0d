package gcs

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/weirmq/weir/sm"
)

// The retry loop and the classification of outcomes, with faults injected
// between the client and fake-gcs-server: statuses the server never saw
// (429, a front end's 503), a 5xx after the server processed the request, a
// reply lost after the server processed it, and a request that never
// answers (the attempt's timeout).

func retryStore(t *testing.T) (*fakestorage.Server, *Store, *injector) {
	srv := newFake(t, "")
	s, in := faultyStore(t, srv, func(c *Config) {
		c.OpTimeout = 600 * time.Millisecond
		c.AttemptTimeout = 150 * time.Millisecond
		c.MaxAttempts = 6 // "always failing" ends by count, not by a deadline cutting an attempt
		c.MultipartThreshold = 1 << 20
		c.ChunkSize = 256 << 10
	})
	return srv, s, in
}

func TestPutRetries(t *testing.T) {
	small := pattern(5000, 9)
	for _, tc := range []struct {
		name    string
		faults  func(in *injector, srv *fakestorage.Server)
		uploads int // requests of single uploads seen, -1: more than one
		kind    sm.ObjErr
		unknown bool
	}{
		{"429 then ok", func(in *injector, _ *fakestorage.Server) { in.on(isSingleUpload, 1, refuse(429)) }, 2, sm.ObjErrNone, false},
		{"503 twice then ok", func(in *injector, _ *fakestorage.Server) { in.on(isSingleUpload, 2, refuse(503)) }, 3, sm.ObjErrNone, false},
		{"timeout then ok", func(in *injector, _ *fakestorage.Server) { in.on(isSingleUpload, 1, hang) }, 2, sm.ObjErrNone, false},
		// The subtle case: the first attempt created the object but its
		// reply was lost; the retry's create-only precondition fails (412),
		// and the object's token proves it is ours: OK.
		{"reply lost then 412 on ours", func(in *injector, _ *fakestorage.Server) { in.on(isSingleUpload, 1, dropReply) }, 2, sm.ObjErrNone, false},
		{"503 after processing then 412 on ours", func(in *injector, _ *fakestorage.Server) { in.on(isSingleUpload, 1, processedThen(503)) }, 2, sm.ObjErrNone, false},
		// The same 412 on another writer's object may hide ours (lost, then
		// replaced): exists, outcome unknown — never a plain "exists".
		{"reply lost then 412 on another's", func(in *injector, srv *fakestorage.Server) {
			in.on(isSingleUpload, 1, func(req *http.Request, _ http.RoundTripper) (*http.Response, error) {
				drain(req)
				srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: testBucket, Name: "weir/obj"}, Content: []byte("theirs")})
				return dropReply(req, nopTransport{})
			})
		}, 2, sm.ObjErrExists, true},
		// When the object cannot be read to check it: unknown too.
		{"reply lost then 412, attrs unreadable", func(in *injector, _ *fakestorage.Server) {
			in.on(isSingleUpload, 1, dropReply)
			in.on(isObjectAttrs, -1, refuse(503))
		}, 2, sm.ObjErrExists, true},
		{"always 429", func(in *injector, _ *fakestorage.Server) { in.on(isSingleUpload, -1, refuse(429)) }, -1, sm.ObjErrThrottled, false},
		// A 5xx may come after the write: unknown.
		{"always 503", func(in *injector, _ *fakestorage.Server) { in.on(isSingleUpload, -1, refuse(503)) }, -1, sm.ObjErrUnavailable, true},
		{"always timing out", func(in *injector, _ *fakestorage.Server) { in.on(isSingleUpload, -1, hang) }, -1, sm.ObjErrUnavailable, true},
		{"403", func(in *injector, _ *fakestorage.Server) { in.on(isSingleUpload, -1, refuse(403)) }, 1, sm.ObjErrUnavailable, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, s, in := retryStore(t)
			tc.faults(in, srv)
			start := time.Now()
			info, err := s.Put(ctx, "obj", bytes.NewReader(small), int64(len(small)), true)
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("put took %v, beyond its op timeout", d)
			}
			n := in.count(isSingleUpload)
			if tc.uploads >= 0 && n != tc.uploads || tc.uploads < 0 && n < 2 {
				t.Fatalf("%d upload requests, want %d (log %q)", n, tc.uploads, in.log)
			}
			if tc.kind != sm.ObjErrNone {
				wantErr(t, err, tc.kind, tc.unknown)
				return
			}
			if err != nil {
				t.Fatalf("put: %v (log %q)", err, in.log)
			}
			o, gerr := srv.GetObject(testBucket, "weir/obj")
			if gerr != nil || !bytes.Equal(o.Content, small) || o.Generation != info.Generation {
				t.Fatalf("stored object %v gen %d, put reported gen %d", gerr, o.Generation, info.Generation)
			}
		})
	}
}

// A create-only put of a name that exists, with no doubt about our own
// attempts, is a plain "exists", found with one request.
func TestPutExistsWithoutDoubt(t *testing.T) {
	srv, s, in := retryStore(t)
	srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: testBucket, Name: "weir/obj"}, Content: []byte("theirs")})
	_, err := s.Put(ctx, "obj", strings.NewReader("ours"), 4, true)
	wantErr(t, err, sm.ObjErrExists, false)
	if n, a := in.count(isSingleUpload), in.count(isObjectAttrs); n != 1 || a != 0 {
		t.Fatalf("%d uploads and %d attribute reads for a plain 412", n, a)
	}
}

// A resumable upload's chunks are retried by the client within the session;
// the store's classification sees every failed attempt.
func TestResumableRetries(t *testing.T) {
	big := pattern(1<<20+5000, 10)
	for _, tc := range []struct {
		name    string
		faults  func(in *injector)
		kind    sm.ObjErr
		unknown bool
	}{
		{"429 on the session start", func(in *injector) {
			in.on(func(r *http.Request) bool { return isUpload(r) && !isChunk(r) }, 1, refuse(429))
		}, sm.ObjErrNone, false},
		{"503 on a chunk", func(in *injector) { in.on(isChunk, 1, refuse(503)) }, sm.ObjErrNone, false},
		{"timeout on a chunk", func(in *injector) { in.on(isChunk, 1, hang) }, sm.ObjErrNone, false},
		{"final chunk's reply lost", func(in *injector) { in.on(isFinalChunk, 1, dropReply) }, sm.ObjErrNone, false},
		{"final chunk 503 after processing", func(in *injector) { in.on(isFinalChunk, 1, processedThen(503)) }, sm.ObjErrNone, false},
		// Only the last chunk creates the object: a failing earlier chunk
		// leaves no doubt.
		{"chunks always 503", func(in *injector) { in.on(isChunk, -1, refuse(503)) }, sm.ObjErrUnavailable, false},
		{"last chunk always 503", func(in *injector) { in.on(isFinalChunk, -1, refuse(503)) }, sm.ObjErrUnavailable, true},
		{"last chunk always timing out", func(in *injector) { in.on(isFinalChunk, -1, hang) }, sm.ObjErrUnavailable, true},
		// The first attempt created the object, every answer was lost: the
		// object is ours, but only a read after the op's deadline could
		// tell, so the honest answer is unknown.
		{"last chunk always 503 after processing", func(in *injector) { in.on(isFinalChunk, -1, processedThen(503)) }, sm.ObjErrUnavailable, true},
		{"chunks always 429", func(in *injector) { in.on(isChunk, -1, refuse(429)) }, sm.ObjErrThrottled, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, s, in := retryStore(t)
			tc.faults(in)
			info, err := s.Put(ctx, "big", bytes.NewReader(big), int64(len(big)), true)
			if tc.kind != sm.ObjErrNone {
				wantErr(t, err, tc.kind, tc.unknown)
				return
			}
			if err != nil {
				t.Fatalf("put: %v (log %q)", err, in.log)
			}
			o, gerr := srv.GetObject(testBucket, "weir/big")
			if gerr != nil || !bytes.Equal(o.Content, big) || o.Generation != info.Generation {
				t.Fatalf("stored object %v gen %d, put reported gen %d", gerr, o.Generation, info.Generation)
			}
		})
	}
}

// isFinalChunk matches the chunk that carries the object's total size.
func isFinalChunk(r *http.Request) bool {
	cr := r.Header.Get("Content-Range")
	return isChunk(r) && cr != "" && !strings.HasSuffix(cr, "/*")
}

func TestDeleteRetries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		faults   func(in *injector)
		attempts int // -1: more than one
		kind     sm.ObjErr
		unknown  bool
	}{
		{"429 then ok", func(in *injector) { in.on(isDelete, 1, refuse(429)) }, 2, sm.ObjErrNone, false},
		{"timeout then ok", func(in *injector) { in.on(isDelete, 1, hang) }, 2, sm.ObjErrNone, false},
		// The first attempt deleted it and its reply was lost: the retry
		// finds nothing, and the store reports the removal that answer
		// would have.
		{"reply lost then not found", func(in *injector) { in.on(isDelete, 1, dropReply) }, 2, sm.ObjErrNone, false},
		{"always 503 after processing", func(in *injector) { in.on(isDelete, -1, processedThen(503)) }, -1, sm.ObjErrUnavailable, true},
		{"always 429", func(in *injector) { in.on(isDelete, -1, refuse(429)) }, -1, sm.ObjErrThrottled, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, s, in := retryStore(t)
			mustPut(t, s, "obj", []byte("x"), true)
			in.reset()
			tc.faults(in)
			err := s.Delete(ctx, "obj")
			if n := in.count(isDelete); tc.attempts >= 0 && n != tc.attempts || tc.attempts < 0 && n < 2 {
				t.Fatalf("%d delete requests, want %d", n, tc.attempts)
			}
			if tc.kind == sm.ObjErrNone {
				if err != nil {
					t.Fatal(err)
				}
			} else {
				wantErr(t, err, tc.kind, tc.unknown)
			}
			if tc.kind != sm.ObjErrThrottled && rawExists(srv, "weir/obj") {
				t.Fatal("the object survived")
			}
		})
	}
}

func TestReadRetries(t *testing.T) {
	_, s, in := retryStore(t)
	data := pattern(3000, 11)
	mustPut(t, s, "obj", data, true)
	for _, tc := range []struct {
		name   string
		faults func(in *injector)
		kind   sm.ObjErr
	}{
		{"get 503 twice", func(in *injector) { in.on(isRead, 2, refuse(503)) }, sm.ObjErrNone},
		{"get reply lost", func(in *injector) { in.on(isRead, 1, dropReply) }, sm.ObjErrNone},
		{"get timeout", func(in *injector) { in.on(isRead, 1, hang) }, sm.ObjErrNone},
		{"get always 429", func(in *injector) { in.on(isRead, -1, refuse(429)) }, sm.ObjErrThrottled},
		{"get always 500", func(in *injector) { in.on(isRead, -1, refuse(500)) }, sm.ObjErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in.reset()
			tc.faults(in)
			got, err := s.Get(ctx, "obj", 1000, 500)
			if tc.kind != sm.ObjErrNone {
				wantErr(t, err, tc.kind, false) // a read is never unknown
				return
			}
			if err != nil || !bytes.Equal(got, data[1000:1500]) {
				t.Fatalf("get: %v", err)
			}
		})
	}
	for _, tc := range []struct {
		name   string
		faults func(in *injector)
		kind   sm.ObjErr
	}{
		{"list 429", func(in *injector) { in.on(isList, 1, refuse(429)) }, sm.ObjErrNone},
		{"list timeout", func(in *injector) { in.on(isList, 1, hang) }, sm.ObjErrNone},
		{"list always 503", func(in *injector) { in.on(isList, -1, refuse(503)) }, sm.ObjErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in.reset()
			tc.faults(in)
			objs, _, err := s.List(ctx, "", "", 0)
			if tc.kind != sm.ObjErrNone {
				wantErr(t, err, tc.kind, false)
				return
			}
			if err != nil || len(objs) != 1 || objs[0].Name != "obj" {
				t.Fatalf("list: %v %v", names(objs), err)
			}
		})
	}
	// A missing object is not retried.
	in.reset()
	_, err := s.Get(ctx, "missing", 0, 0)
	wantErr(t, err, sm.ObjErrNotFound, false)
	if n := in.count(isRead); n != 1 {
		t.Fatalf("%d reads of a missing object", n)
	}
}

// nopTransport answers 200 with an empty JSON object without a server.
type nopTransport struct{}

func (nopTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return statusResponse(req, 200), nil
}

// A caller's deadline replaces OpTimeout: the Executor stretches a put's by
// its bandwidth limit.
func TestCallerDeadline(t *testing.T) {
	_, s, in := retryStore(t)
	s.cfg.OpTimeout = 200 * time.Millisecond
	in.on(isSingleUpload, 2, hang)
	_, err := s.Put(ctx, "a", strings.NewReader("a"), 1, true)
	wantErr(t, err, sm.ObjErrUnavailable, true)
	in.reset()
	in.on(isSingleUpload, 2, hang)
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := s.Put(dctx, "b", strings.NewReader("b"), 1, true); err != nil {
		t.Fatalf("put within the caller's deadline: %v", err)
	}
}
