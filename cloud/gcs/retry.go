package gcs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"

	"cloud.google.com/go/storage"
	gax "github.com/googleapis/gax-go/v2"
	"google.golang.org/api/googleapi"

	"github.com/weirmq/weir/cloud"
	"github.com/weirmq/weir/sm"
)

// retry runs fn until it succeeds, fails for good, or ctx ends: each
// attempt bounded by AttemptTimeout, exponential backoff with jitter between
// them.
func retry[T any](s *Store, ctx context.Context, mutating bool, fn func(context.Context) (T, error)) (T, error) {
	var ambiguous bool
	return retryRec(s, ctx, mutating, &ambiguous, fn)
}

// retryRec is retry that sets *ambiguous when an attempt of a mutating op
// (put, delete) failed in a way that may have taken effect on the server.
func retryRec[T any](s *Store, ctx context.Context, mutating bool, ambiguous *bool, fn func(context.Context) (T, error)) (T, error) {
	bo := s.backoff()
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, s.cfg.AttemptTimeout)
		v, err := fn(actx)
		cancel()
		if err == nil {
			return v, nil
		}
		retryable, applied := s.class(err)
		if mutating && applied {
			*ambiguous = true
		}
		if !retryable || ctx.Err() != nil || s.cfg.MaxAttempts > 0 && attempt >= s.cfg.MaxAttempts {
			return v, err
		}
		if gax.Sleep(ctx, bo.Pause()) != nil {
			return v, err
		}
	}
}

// recorder is the error function of a resumable upload's client-side
// retries: it classifies every failed attempt like retryRec does, counting
// a failure as possibly applied only when the last chunk may have been the
// request that failed (final), and keeps the last error it saw.
type recorder struct {
	s         *Store
	final     func() bool
	mu        sync.Mutex
	ambiguous bool
	last      error
	failures  int
}

func (r *recorder) shouldRetry(err error) bool {
	if err == nil {
		return false
	}
	retryable, applied := r.s.class(err)
	r.mu.Lock()
	r.ambiguous = r.ambiguous || applied && r.final()
	r.last = err
	r.failures++
	capped := r.s.cfg.MaxAttempts > 0 && r.failures >= r.s.cfg.MaxAttempts
	r.mu.Unlock()
	return retryable && !capped
}

func (r *recorder) wasAmbiguous() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ambiguous
}

// final_ is the error to classify an upload by: when the client gave up at
// its deadline between retries it returns only the context's error, and the
// last attempt's (a 429, say) says more.
func (r *recorder) final_(err error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) && r.s.ctx.Err() == nil {
		return fmt.Errorf("%w (last attempt: %w)", err, r.last)
	}
	return err
}

// class says whether err (one failed attempt) is worth retrying, and
// whether the request may have taken effect: a status the server sent
// before doing anything (408, 429, 4xx) did not; a 5xx, a timeout, a reset
// or a cancelled request after it left may have.
func (s *Store) class(err error) (retryable, applied bool) {
	if err == nil {
		return false, false
	}
	if code := httpCode(err); code != 0 {
		switch {
		case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests:
			return true, false
		case code >= 500:
			return true, true
		default:
			return false, false
		}
	}
	if errors.Is(err, storage.ErrObjectNotExist) || errors.Is(err, storage.ErrBucketNotExist) {
		return false, false
	}
	if s.ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return false, true // closed or cancelled: stop; it may have left
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true, true // an attempt's timeout (retryRec stops at the op's)
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" || errors.Is(err, syscall.ECONNREFUSED) {
		return true, false // never connected
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) || errors.As(err, &op) {
		return true, true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true, true
	}
	return storage.ShouldRetry(err), true
}

// httpCode is err's HTTP status, or 0.
func httpCode(err error) int {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code
	}
	return 0
}

// classify maps an op's final error to a *cloud.Error. unknown (a put or
// delete with an attempt that may have taken effect) sets Unknown, except
// for a delete that finds the object gone: gone either way.
func classify(s *Store, op, name string, err error, unknown bool) error {
	var ce *cloud.Error
	if errors.As(err, &ce) {
		return err
	}
	e := &cloud.Error{Op: op, Name: name, Err: err, Kind: sm.ObjErrUnavailable}
	switch code := httpCode(err); {
	case errors.Is(err, storage.ErrObjectNotExist) || code == http.StatusNotFound:
		e.Kind = sm.ObjErrNotFound
	case code == http.StatusPreconditionFailed:
		e.Kind = sm.ObjErrExists
	case code == http.StatusTooManyRequests:
		e.Kind = sm.ObjErrThrottled
	case code == http.StatusRequestedRangeNotSatisfiable || code == http.StatusBadRequest:
		e.Kind = sm.ObjErrInvalid
	}
	if op == "put" || op == "delete" {
		e.Unknown = unknown && e.Kind != sm.ObjErrNotFound
	}
	if s.ctx.Err() != nil {
		e.Err = errors.Join(errors.New("store closed"), err)
	}
	return e
}
