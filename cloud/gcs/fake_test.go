package gcs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/weirmq/weir/cloud"
	"github.com/weirmq/weir/sm"
)

const testBucket = "weir-test"

// newFake starts fake-gcs-server in-process on a loopback port (so the
// client's real HTTP transport, resets and aborted bodies included, is what
// runs) with testBucket created.
func newFake(t testing.TB, location string) *fakestorage.Server {
	t.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme: "http", Host: "127.0.0.1", PublicHost: "127.0.0.1", BucketsLocation: location,
		Writer: io.Discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: testBucket})
	return srv
}

// testConfig is a Config for srv with fast retries.
func testConfig(srv *fakestorage.Server) Config {
	return Config{
		Bucket: testBucket, Prefix: "weir/", Endpoint: srv.URL(),
		OpTimeout: 5 * time.Second, AttemptTimeout: 2 * time.Second,
		RetryInitial: time.Millisecond, RetryMax: 10 * time.Millisecond,
	}
}

func openStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// wantErr checks that err is a *cloud.Error of kind with Unknown unknown.
func wantErr(t testing.TB, err error, kind sm.ObjErr, unknown bool) *cloud.Error {
	t.Helper()
	var e *cloud.Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v (%T), want a *cloud.Error of kind %v", err, err, kind)
	}
	if e.Kind != kind || e.Unknown != unknown {
		t.Fatalf("got %v (kind %v, unknown %v), want kind %v, unknown %v", err, e.Kind, e.Unknown, kind, unknown)
	}
	return e
}

// ---- fault injection -------------------------------------------------------

// injector is an http.RoundTripper in front of fake-gcs-server that applies
// scripted faults to the requests a rule matches, and logs every request.
type injector struct {
	next  http.RoundTripper
	mu    sync.Mutex
	rules []*rule
	log   []string
}

type rule struct {
	match func(*http.Request) bool
	times int // how many matching requests it applies to; -1 all
	fault fault
	hits  int
}

// fault handles a request instead of passing it through: it may forward it
// (next) and then lie about the answer.
type fault func(req *http.Request, next http.RoundTripper) (*http.Response, error)

func newInjector() *injector {
	return &injector{next: http.DefaultTransport.(*http.Transport).Clone()}
}

// on adds a rule: the next times requests that match get fault.
func (in *injector) on(match func(*http.Request) bool, times int, f fault) *rule {
	in.mu.Lock()
	defer in.mu.Unlock()
	r := &rule{match: match, times: times, fault: f}
	in.rules = append(in.rules, r)
	return r
}

func (in *injector) reset() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules, in.log = nil, nil
}

// count is how many logged requests match.
func (in *injector) count(match func(*http.Request) bool) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := 0
	for _, l := range in.log {
		if match(fakeRequest(l)) {
			n++
		}
	}
	return n
}

func (in *injector) RoundTrip(req *http.Request) (*http.Response, error) {
	in.mu.Lock()
	in.log = append(in.log, req.Method+" "+req.URL.RequestURI())
	var f fault
	for _, r := range in.rules {
		if r.times != 0 && r.match(req) {
			if r.times > 0 {
				r.times--
			}
			r.hits++
			f = r.fault
			break
		}
	}
	in.mu.Unlock()
	if f == nil {
		return in.next.RoundTrip(req)
	}
	return f(req, in.next)
}

// fakeRequest rebuilds a request from a log line for the matchers.
func fakeRequest(line string) *http.Request {
	method, uri, _ := strings.Cut(line, " ")
	req, _ := http.NewRequest(method, "http://x"+uri, nil)
	return req
}

// Matchers.
func isUpload(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/upload/") }
func isSingleUpload(r *http.Request) bool {
	return isUpload(r) && r.URL.Query().Get("uploadType") == "multipart"
}
func isChunk(r *http.Request) bool {
	return isUpload(r) && r.URL.Query().Get("upload_id") != ""
}
func isRead(r *http.Request) bool {
	return r.Method == http.MethodGet && r.URL.Query().Get("alt") == "media"
}
func isDelete(r *http.Request) bool { return r.Method == http.MethodDelete }
func isList(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/o")
}
func isObjectAttrs(r *http.Request) bool {
	return r.Method == http.MethodGet && !isUpload(r) && strings.Contains(r.URL.Path, "/o/") && r.URL.Query().Get("alt") != "media"
}
func isBucketAttrs(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/b/"+testBucket)
}
func all(*http.Request) bool { return true }

func drain(req *http.Request) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
}

func statusResponse(req *http.Request, code int) *http.Response {
	body := fmt.Sprintf(`{"error":{"code":%d,"message":"injected %d"}}`, code, code)
	return &http.Response{
		StatusCode: code, Status: fmt.Sprintf("%d %s", code, http.StatusText(code)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)), Request: req,
	}
}

// refuse answers code without the server seeing the request (the store
// turned it away before doing anything: 429, or a 503 from a front end).
func refuse(code int) fault {
	return func(req *http.Request, _ http.RoundTripper) (*http.Response, error) {
		drain(req)
		return statusResponse(req, code), nil
	}
}

// processedThen lets the server process the request, then answers code
// instead of its reply: a 5xx after the write happened.
func processedThen(code int) fault {
	return func(req *http.Request, next http.RoundTripper) (*http.Response, error) {
		resp, err := next.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return statusResponse(req, code), nil
	}
}

// dropReply lets the server process the request and loses its reply: the
// connection resets.
func dropReply(req *http.Request, next http.RoundTripper) (*http.Response, error) {
	resp, err := next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
}

// hang never answers: the request's context ends it (a timeout).
func hang(req *http.Request, _ http.RoundTripper) (*http.Response, error) {
	drain(req)
	<-req.Context().Done()
	return nil, req.Context().Err()
}

// faultyStore is a store on srv behind a new injector.
func faultyStore(t testing.TB, srv *fakestorage.Server, edit func(*Config)) (*Store, *injector) {
	t.Helper()
	in := newInjector()
	cfg := testConfig(srv)
	cfg.Transport = in
	if edit != nil {
		edit(&cfg)
	}
	s := openStore(t, cfg)
	in.reset()
	return s, in
}
