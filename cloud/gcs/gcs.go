// Package gcs is the cloud.Store on Google Cloud Storage, through
// cloud.google.com/go/storage (JSON API over HTTP).
//
// Credentials come from Application Default Credentials
// (GOOGLE_APPLICATION_CREDENTIALS, gcloud's user credentials, or the
// metadata server on GCP) unless Config.Endpoint names an emulator, which
// gets no authentication. Open checks that the bucket answers and the
// credentials work before the store is used.
//
// # Retries
//
// The client's own retryer is switched off (storage.WithPolicy(RetryNever))
// and every operation runs in this package's loop (retry.go): exponential
// backoff with full jitter (gax.Backoff, Config.RetryInitial to RetryMax)
// on 408, 429, 5xx and transport errors, each attempt bounded by
// Config.AttemptTimeout, the whole op by the caller's deadline or else
// Config.OpTimeout (and Config.MaxAttempts if set). One loop that sees
// every attempt is what lets a put or delete say whether an earlier attempt
// may have reached the server, which the client's retryer does not report;
// and a single-request upload (Writer.ChunkSize 0) is not retried by the
// client at all. The one exception is a resumable upload (an object of at
// least MultipartThreshold bytes): only the client can resume its session,
// so its chunks are retried by the client, with the same backoff and a
// per-op error function that classifies every failed attempt. Only the
// last chunk can create the object, and it is sent only after every other
// chunk was acknowledged, so the acknowledged progress says whether a
// failure may have landed.
//
// Outcomes: a status the server sent before acting (408, 429, other 4xx)
// changed nothing; a 5xx, a timeout or a reset after the request left may
// have, and a put or delete that ends after one is reported Unknown. A
// delete whose retry finds the object gone after such an attempt reports
// the removal.
//
// # Create-only puts whose reply was lost
//
// Every put carries a random token in its object metadata (weir-put) and
// sends the CRC32C of its bytes. When a create-only put gets 412 after an
// earlier attempt that may have created the object (a 5xx, a timeout, a
// reset connection), the store reads the object's attributes: if token,
// size and CRC32C are the put's own, the object is ours and the put
// completes OK with its generation; otherwise — or when the attributes
// cannot be read — it fails with ObjErrExists and Unknown set, never a
// plain "exists", because the name may hold our own bytes. (The same check
// resolves a resumable upload whose last chunk's answer was lost and whose
// repeat finds the session gone: fake-gcs-server answers 404 there, where
// GCS answers with the object.)
//
// A body is read whole before a single-request upload starts (so a body
// that fails, such as a SegmentReader refusing a corrupt source, never
// reaches the store, and retries resend the same bytes); a resumable
// upload streams it, and a body that fails cancels the upload before its
// last chunk, so nothing is created.
package gcs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/credentials"
	"cloud.google.com/go/storage"
	gax "github.com/googleapis/gax-go/v2"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/weirmq/weir/cloud"
	"github.com/weirmq/weir/sm"
)

// Defaults for the zero values of Config.
const (
	DefaultMultipartThreshold = 16 << 20
	DefaultChunkSize          = 16 << 20
	DefaultOpTimeout          = 60 * time.Second
	DefaultAttemptTimeout     = 20 * time.Second
	DefaultRetryInitial       = 100 * time.Millisecond
	DefaultRetryMax           = 5 * time.Second
	DefaultListPageSize       = 1000
)

// tokenKey is the object-metadata key of a put's token.
const tokenKey = "weir-put"

// Config configures a Store.
type Config struct {
	// Bucket is the GCS bucket (required).
	Bucket string
	// Prefix is prepended to every object name; a "/" is added when it
	// does not end with one. Empty: the bucket's root.
	Prefix string
	// Endpoint, when set, is an emulator's base URL (for example
	// http://127.0.0.1:4443, or the same ending in /storage/v1/): requests
	// go there without authentication. Empty: STORAGE_EMULATOR_HOST if the
	// environment sets it (the client library's convention), else Google
	// Cloud Storage with Application Default Credentials.
	Endpoint string
	// Region, when set, must match the bucket's location (case-insensitive,
	// for example us-central1 or US); Open refuses a mismatch.
	Region string
	// MultipartThreshold: a put of fewer bytes is sent in one request (the
	// body buffered in memory, so it can be retried); a put of at least
	// this many is a resumable upload in ChunkSize chunks. Zero:
	// DefaultMultipartThreshold.
	MultipartThreshold int64
	// ChunkSize is a resumable upload's chunk (rounded up to 256 KiB by the
	// client). Zero: DefaultChunkSize.
	ChunkSize int
	// OpTimeout bounds every operation, retries included, whose context
	// has no deadline (a caller's deadline wins: cloud.Executor sets one per
	// op). Zero: DefaultOpTimeout.
	OpTimeout time.Duration
	// AttemptTimeout bounds one attempt (one request, or one chunk of a
	// resumable upload), so a stalled request is retried within OpTimeout.
	// Zero: DefaultAttemptTimeout; it never exceeds OpTimeout.
	AttemptTimeout time.Duration
	// MaxAttempts, when positive, caps an op's attempts (a resumable
	// upload's: its failed requests, plus one); zero retries until the op's
	// deadline.
	MaxAttempts int
	// RetryInitial and RetryMax shape the exponential backoff between
	// attempts (multiplier 2, full jitter). Zero: the defaults.
	RetryInitial, RetryMax time.Duration
	// ListPageSize is a list's limit when the caller gives none (at most
	// 1000, GCS's page). Zero: DefaultListPageSize.
	ListPageSize int
	// Transport, only with Endpoint, replaces the HTTP transport under the
	// client (tests put a fault injector there). Nil: the default.
	Transport http.RoundTripper
}

func (c *Config) fill() error {
	if c.Bucket == "" {
		return errors.New("gcs: no bucket configured")
	}
	if c.Prefix != "" && !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
	if c.MultipartThreshold <= 0 {
		c.MultipartThreshold = DefaultMultipartThreshold
	}
	if c.ChunkSize <= 0 {
		c.ChunkSize = DefaultChunkSize
	}
	if c.OpTimeout <= 0 {
		c.OpTimeout = DefaultOpTimeout
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = DefaultAttemptTimeout
	}
	c.AttemptTimeout = min(c.AttemptTimeout, c.OpTimeout)
	if c.RetryInitial <= 0 {
		c.RetryInitial = DefaultRetryInitial
	}
	if c.RetryMax <= 0 {
		c.RetryMax = DefaultRetryMax
	}
	c.RetryMax = max(c.RetryMax, c.RetryInitial)
	if c.ListPageSize <= 0 || c.ListPageSize > 1000 {
		c.ListPageSize = DefaultListPageSize
	}
	if host := os.Getenv("STORAGE_EMULATOR_HOST"); c.Endpoint == "" && host != "" {
		// The client library's emulator convention: host:port or a URL.
		if !strings.Contains(host, "://") {
			host = "http://" + host
		}
		c.Endpoint = host
	}
	if c.Transport != nil && c.Endpoint == "" {
		return errors.New("gcs: a custom transport needs an emulator endpoint")
	}
	return nil
}

// Store is a cloud.Store on one bucket and prefix. It is safe for
// concurrent use.
type Store struct {
	cfg    Config
	client *storage.Client
	bucket *storage.BucketHandle
	// ctx is cancelled by Close: every in-flight call ends.
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
}

var _ cloud.Store = (*Store)(nil)

// Open connects to the bucket and checks that it is reachable with the
// credentials (and, with Config.Region, in that region). Its errors say
// what is wrong: no credentials, the bucket missing, permission denied, the
// endpoint unreachable, a region mismatch.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	opts := []option.ClientOption{storage.WithJSONReads()}
	where := "Google Cloud Storage"
	if cfg.Endpoint != "" {
		where = cfg.Endpoint
		ep := strings.TrimSuffix(cfg.Endpoint, "/")
		if !strings.HasSuffix(ep, "/storage/v1") {
			ep += "/storage/v1"
		}
		opts = append(opts, option.WithEndpoint(ep+"/"), option.WithoutAuthentication())
		if cfg.Transport != nil {
			opts = append(opts, option.WithHTTPClient(&http.Client{Transport: cfg.Transport}))
		}
	} else {
		creds, err := credentials.DetectDefault(&credentials.DetectOptions{
			Scopes: []string{storage.ScopeReadWrite},
		})
		if err != nil {
			return nil, fmt.Errorf("gcs: no Google credentials for bucket %q: set GOOGLE_APPLICATION_CREDENTIALS to a service account key file, run on GCP with a service account, or set an emulator endpoint: %w", cfg.Bucket, err)
		}
		opts = append(opts, option.WithAuthCredentials(creds))
	}
	client, err := storage.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("gcs: client for %s: %w", where, err)
	}
	// Retries are this package's (see the package comment).
	client.SetRetry(storage.WithPolicy(storage.RetryNever))
	sctx, cancel := context.WithCancel(context.Background())
	s := &Store{cfg: cfg, client: client, bucket: client.Bucket(cfg.Bucket), ctx: sctx, cancel: cancel}
	if err := s.check(ctx, where); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// check is Open's probe: the bucket's attributes (location for Region), or,
// when the credentials may not read bucket metadata (a role with object
// permissions only), a one-object list under the prefix.
func (s *Store) check(ctx context.Context, where string) error {
	b := s.cfg.Bucket
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	attrs, err := retry(s, ctx, false, func(ctx context.Context) (*storage.BucketAttrs, error) {
		return s.bucket.Attrs(ctx)
	})
	if err == nil {
		if s.cfg.Region != "" && !strings.EqualFold(attrs.Location, s.cfg.Region) {
			return fmt.Errorf("gcs: bucket %q is in location %q, not the configured region %q", b, attrs.Location, s.cfg.Region)
		}
		return nil
	}
	var ae *auth.Error
	switch code := httpCode(err); {
	case errors.As(err, &ae):
		return fmt.Errorf("gcs: the credentials could not get a token for bucket %q: %w", b, err)
	case errors.Is(err, storage.ErrBucketNotExist) || code == http.StatusNotFound:
		return fmt.Errorf("gcs: bucket %q not found at %s: %w", b, where, err)
	case code == http.StatusUnauthorized:
		return fmt.Errorf("gcs: credentials rejected by %s (bucket %q): %w", where, b, err)
	case code == http.StatusForbidden:
		if s.cfg.Region != "" {
			return fmt.Errorf("gcs: permission denied reading bucket %q's metadata, so its region cannot be checked (grant storage.buckets.get or unset region): %w", b, err)
		}
		// Object permissions may still be enough: try a list.
		_, lerr := retry(s, ctx, false, func(ctx context.Context) (struct{}, error) {
			it := s.bucket.Objects(ctx, &storage.Query{Prefix: s.cfg.Prefix})
			it.PageInfo().MaxSize = 1
			_, err := it.Next()
			if errors.Is(err, iterator.Done) {
				err = nil
			}
			return struct{}{}, err
		})
		if lerr == nil {
			return nil
		}
		if c := httpCode(lerr); c == http.StatusForbidden || c == http.StatusUnauthorized {
			return fmt.Errorf("gcs: permission denied on bucket %q (the credentials need storage.objects.list, get, create and delete): %w", b, lerr)
		}
		return fmt.Errorf("gcs: bucket %q unreachable at %s: %w", b, where, lerr)
	default:
		return fmt.Errorf("gcs: bucket %q unreachable at %s: %w", b, where, err)
	}
}

// Close cancels every in-flight call and releases the client. It is
// idempotent; calls after it fail with ObjErrUnavailable.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		s.cancel()
		err = s.client.Close()
	})
	return err
}

// closed fails an op started after Close: nothing was sent.
func (s *Store) closed(op, name string) error {
	if s.ctx.Err() != nil {
		return &cloud.Error{Kind: sm.ObjErrUnavailable, Op: op, Name: name, Err: errors.New("store closed")}
	}
	return nil
}

func (s *Store) object(name string) *storage.ObjectHandle {
	return s.bucket.Object(s.cfg.Prefix + name)
}

// Put writes name. See the package comment for retries and for a
// create-only put whose reply was lost.
func (s *Store) Put(ctx context.Context, name string, body io.Reader, size int64, createOnly bool) (sm.ObjectInfo, error) {
	if name == "" || size < 0 {
		return sm.ObjectInfo{}, &cloud.Error{Kind: sm.ObjErrInvalid, Op: "put", Name: name, Err: fmt.Errorf("bad name or size %d", size)}
	}
	if err := s.closed("put", name); err != nil {
		return sm.ObjectInfo{}, err
	}
	var tok [16]byte
	rand.Read(tok[:])
	p := &put{s: s, name: name, token: hex.EncodeToString(tok[:]), size: size, createOnly: createOnly}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	var attrs *storage.ObjectAttrs
	var err error
	if size < s.cfg.MultipartThreshold {
		attrs, err = p.single(ctx, body)
	} else {
		attrs, err = p.resumable(ctx, body)
	}
	if err != nil {
		return sm.ObjectInfo{}, err
	}
	return sm.ObjectInfo{Name: name, Size: attrs.Size, Generation: attrs.Generation}, nil
}

// put is one Put call.
type put struct {
	s          *Store
	name       string
	token      string
	size       int64
	crc        uint32
	createOnly bool
}

func (p *put) writer(ctx context.Context, obj *storage.ObjectHandle) *storage.Writer {
	if p.createOnly {
		obj = obj.If(storage.Conditions{DoesNotExist: true})
	}
	w := obj.NewWriter(ctx)
	w.ContentType = "application/octet-stream"
	w.Metadata = map[string]string{tokenKey: p.token}
	return w
}

// single sends the object in one request per attempt (Writer.ChunkSize 0),
// from a buffer read before the first attempt: a body that fails is never
// sent at all, and every retry sends the same bytes, with their CRC32C for
// the server to check.
func (p *put) single(ctx context.Context, body io.Reader) (*storage.ObjectAttrs, error) {
	buf := make([]byte, p.size)
	if _, err := io.ReadFull(body, buf); err != nil {
		return nil, bodyError(p.name, err)
	}
	if err := atEOF(body); err != nil {
		return nil, bodyError(p.name, err)
	}
	p.crc = crc32.Checksum(buf, crcTable)
	var ambiguous bool
	attrs, err := retryRec(p.s, ctx, true, &ambiguous, func(ctx context.Context) (*storage.ObjectAttrs, error) {
		w := p.writer(ctx, p.s.object(p.name))
		w.ChunkSize = 0
		w.CRC32C, w.SendCRC32C = p.crc, true
		if _, err := w.Write(buf); err != nil {
			w.Close()
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return w.Attrs(), nil
	})
	if err != nil {
		err = classify(p.s, "put", p.name, err, ambiguous)
	}
	return p.finish(ctx, attrs, err, ambiguous)
}

// resumable streams the body in ChunkSize chunks of one upload session; the
// client retries chunks (only it can resume the session) with this store's
// backoff and classification. The session is finalised only by its last
// chunk, sent after the Writer closes at the body's end, so a body that
// fails — or runs past size — cancels the upload and nothing is created;
// and only a failure of the last chunk can leave the outcome unknown, which
// the acknowledged progress tells apart (chunks before the last one are
// acknowledged before it is sent).
func (p *put) resumable(ctx context.Context, body io.Reader) (*storage.ObjectAttrs, error) {
	chunk := (int64(p.s.cfg.ChunkSize) + googleapi.MinUploadChunkSize - 1) / googleapi.MinUploadChunkSize * googleapi.MinUploadChunkSize
	var acked atomic.Int64
	lastChunk := func() bool { return acked.Load() >= p.size-chunk }
	rec := &recorder{s: p.s, final: lastChunk}
	obj := p.s.object(p.name).Retryer(
		storage.WithPolicy(storage.RetryAlways),
		storage.WithBackoff(p.s.backoff()),
		storage.WithErrorFunc(rec.shouldRetry),
	)
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	w := p.writer(wctx, obj)
	w.ChunkSize = int(chunk)
	w.ChunkTransferTimeout = p.s.cfg.AttemptTimeout
	w.ProgressFunc = func(n int64) { acked.Store(n) }
	if dl, ok := ctx.Deadline(); ok {
		w.ChunkRetryDeadline = time.Until(dl)
	}
	h := crc32.New(crcTable)
	n, err := io.Copy(w, tagged{io.TeeReader(body, h)})
	if err == nil && n != p.size {
		err = bodyErr{fmt.Errorf("body of %d bytes, not its size %d: %w", n, p.size, io.ErrUnexpectedEOF)}
	}
	if err != nil {
		// Fail the pipe first, so Close cannot end the upload as if the body
		// were complete, and cancel (a Writer never opened then refuses to
		// open on Close); then wait for the upload to stop. The last chunk
		// was never sent: nothing can have been created.
		w.CloseWithError(err)
		wcancel()
		cerr := w.Close()
		var be bodyErr
		if errors.As(err, &be) {
			return nil, bodyError(p.name, be.err)
		}
		if cerr != nil {
			err = cerr // the upload's own error, which made Write fail
		}
		return nil, classify(p.s, "put", p.name, rec.final_(err), false)
	}
	p.crc = h.Sum32()
	if err := w.Close(); err != nil {
		// A timeout of the last chunk ends in a deadline error that the
		// error function never saw: unknown once the last chunk may have
		// been sent.
		amb := rec.wasAmbiguous() || lastChunk() && p.s.mayHaveApplied(err)
		return p.finish(ctx, nil, classify(p.s, "put", p.name, rec.final_(err), amb), amb)
	}
	return w.Attrs(), nil
}

func (s *Store) mayHaveApplied(err error) bool {
	_, applied := s.class(err)
	return applied
}

// finish resolves a put's 412 after an attempt that may have created the
// object: ours (token, size, CRC32C) completes OK; anything else stays
// ObjErrExists, with Unknown.
func (p *put) finish(ctx context.Context, attrs *storage.ObjectAttrs, err error, ambiguous bool) (*storage.ObjectAttrs, error) {
	if err == nil {
		return attrs, nil
	}
	var e *cloud.Error
	if !errors.As(err, &e) {
		return nil, err
	}
	if e.Kind == sm.ObjErrNotFound {
		// A put's 404: the bucket is gone, or the upload session (which
		// fake-gcs-server forgets once finalised, where GCS answers a
		// repeated last chunk with the object).
		e.Kind = sm.ObjErrUnavailable
	} else if e.Kind != sm.ObjErrExists {
		return nil, err
	}
	if !ambiguous {
		return nil, err
	}
	got, aerr := retry(p.s, ctx, false, func(ctx context.Context) (*storage.ObjectAttrs, error) {
		return p.s.object(p.name).Attrs(ctx)
	})
	if aerr == nil && got.Metadata[tokenKey] == p.token && got.Size == p.size && got.CRC32C == p.crc {
		return got, nil
	}
	why := "the name holds another writer's object"
	if aerr != nil {
		why = "its attributes could not be read: " + aerr.Error()
	}
	e.Unknown = true
	e.Err = fmt.Errorf("%w; an earlier attempt may have created it, but %s", e.Err, why)
	return nil, e
}

// tagged marks its reader's errors as the body's.
type tagged struct{ r io.Reader }

func (t tagged) Read(b []byte) (int, error) {
	n, err := t.r.Read(b)
	if err != nil && err != io.EOF {
		err = bodyErr{err}
	}
	return n, err
}

type bodyErr struct{ err error }

func (b bodyErr) Error() string { return "reading the body: " + b.err.Error() }
func (b bodyErr) Unwrap() error { return b.err }

var errBodyLong = errors.New("body longer than its size")

// atEOF reads body to its end, which must come now: a reader that checks
// what it streamed (a SegmentReader's) reports a bad source there.
func atEOF(body io.Reader) error {
	var one [1]byte
	for range 100 {
		n, err := body.Read(one[:])
		if n > 0 {
			return errBodyLong
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// bodyError is a put whose body failed, so nothing was created: a
// *cloud.Error from the body (a SegmentReader's source-gone or
// source-corrupt) keeps its kind; a body of the wrong length is
// ObjErrInvalid; anything else ObjErrUnavailable.
func bodyError(name string, err error) error {
	var e *cloud.Error
	if errors.As(err, &e) {
		return err
	}
	kind := sm.ObjErrUnavailable
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, errBodyLong) {
		kind = sm.ObjErrInvalid
	}
	return &cloud.Error{Kind: kind, Op: "put", Name: name, Err: fmt.Errorf("reading the body: %w", err)}
}

// Get reads n bytes of name from off (n ≤ 0: to the end).
func (s *Store) Get(ctx context.Context, name string, off, n int64) ([]byte, error) {
	if off < 0 {
		return nil, &cloud.Error{Kind: sm.ObjErrInvalid, Op: "get", Name: name, Err: fmt.Errorf("negative offset %d", off)}
	}
	if err := s.closed("get", name); err != nil {
		return nil, err
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	length := n
	if length <= 0 {
		length = -1
	}
	obj := s.object(name)
	var ambiguous bool
	data, err := retryRec(s, ctx, false, &ambiguous, func(ctx context.Context) ([]byte, error) {
		r, err := obj.NewRangeReader(ctx, off, length)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		rem := r.Remain()
		if rem < 0 {
			return io.ReadAll(r)
		}
		buf := make([]byte, rem)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return buf, nil
	})
	if err != nil {
		return nil, classify(s, "get", name, err, false)
	}
	return data, nil
}

// Delete removes name.
func (s *Store) Delete(ctx context.Context, name string) error {
	if err := s.closed("delete", name); err != nil {
		return err
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	obj := s.object(name)
	var ambiguous bool
	_, err := retryRec(s, ctx, true, &ambiguous, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, obj.Delete(ctx)
	})
	if err != nil {
		err = classify(s, "delete", name, err, ambiguous)
		if ambiguous && cloud.KindOf(err) == sm.ObjErrNotFound {
			// An earlier attempt may have deleted it (its answer lost):
			// report the removal, as if that answer had arrived.
			return nil
		}
		return err
	}
	return nil
}

// List returns up to limit objects under prefix after after, in name
// order. GCS's startOffset is inclusive, so the object named after itself
// is skipped; one more object than asked for says whether more follow.
func (s *Store) List(ctx context.Context, prefix, after string, limit int) ([]sm.ObjectInfo, bool, error) {
	if err := s.closed("list", prefix); err != nil {
		return nil, false, err
	}
	if limit <= 0 {
		limit = s.cfg.ListPageSize
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	full := s.cfg.Prefix + prefix
	start := ""
	if after != "" {
		start = s.cfg.Prefix + after
	}
	type page struct {
		objs []sm.ObjectInfo
		more bool
	}
	var ambiguous bool
	pg, err := retryRec(s, ctx, false, &ambiguous, func(ctx context.Context) (page, error) {
		q := &storage.Query{Prefix: full, StartOffset: start, Projection: storage.ProjectionNoACL}
		if err := q.SetAttrSelection([]string{"Name", "Size", "Generation"}); err != nil {
			return page{}, err
		}
		it := s.bucket.Objects(ctx, q)
		it.PageInfo().MaxSize = min(limit+2, 1000)
		var pg page
		for {
			a, err := it.Next()
			if errors.Is(err, iterator.Done) {
				return pg, nil
			}
			if err != nil {
				return page{}, err
			}
			if start != "" && a.Name <= start {
				continue
			}
			if len(pg.objs) == limit {
				pg.more = true
				return pg, nil
			}
			pg.objs = append(pg.objs, sm.ObjectInfo{Name: strings.TrimPrefix(a.Name, s.cfg.Prefix), Size: a.Size, Generation: a.Generation})
		}
	})
	if err != nil {
		return nil, false, classify(s, "list", prefix, err, false)
	}
	return pg.objs, pg.more, nil
}

// opContext bounds an op by the store's life, and by OpTimeout unless the
// caller set a deadline of its own (cloud.Executor does, stretched by its
// upload bandwidth limit).
func (s *Store) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	var cancel context.CancelFunc
	if _, ok := ctx.Deadline(); ok {
		ctx, cancel = context.WithCancel(ctx)
	} else {
		ctx, cancel = context.WithTimeout(ctx, s.cfg.OpTimeout)
	}
	stop := context.AfterFunc(s.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

func (s *Store) backoff() gax.Backoff {
	return gax.Backoff{Initial: s.cfg.RetryInitial, Max: s.cfg.RetryMax, Multiplier: 2}
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)
