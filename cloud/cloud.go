// Package cloud holds Weir's object-store adapters: Store, one bucket and
// prefix of an object store with Google Cloud Storage's semantics
// (cloud/gcs on cloud.google.com/go/storage, cloud/local on a directory),
// and Executor, which runs a node's sm.ObjectOp effects on a Store
// (runtime.ObjectStore). The semantics every Store keeps are documented on
// runtime.ObjectStore and checked by runtime/objtest.
package cloud

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/weirmq/weir/sm"
)

// Store is one bucket (and prefix) of an object store. Names are relative
// to the prefix. Every method honours ctx (deadline and cancellation).
type Store interface {
	// Put writes name from body (size bytes). With createOnly it fails
	// with an *Error of kind sm.ObjErrExists when name exists. The object
	// appears whole or not at all.
	Put(ctx context.Context, name string, body io.Reader, size int64, createOnly bool) (sm.ObjectInfo, error)
	// Get reads n bytes of name from off (n ≤ 0: to the end; fewer at the
	// object's end). A missing object is an *Error of kind
	// sm.ObjErrNotFound.
	Get(ctx context.Context, name string, off, n int64) ([]byte, error)
	// Delete removes name; a missing object is an *Error of kind
	// sm.ObjErrNotFound.
	Delete(ctx context.Context, name string) error
	// List returns, in name order, up to limit objects whose names start
	// with prefix and sort after after; more says whether others follow.
	List(ctx context.Context, prefix, after string, limit int) (objs []sm.ObjectInfo, more bool, err error)
	// Close releases the store's resources.
	Close() error
}

// SegmentReader opens a range of a local sealed segment for a put with an
// sm.SegmentSource (io/wal implements it): ReadSegment returns a reader of
// exactly src.Len bytes from src.Pos of the segment file based at
// src.Segment, or an *Error of kind sm.ObjErrSourceGone.
type SegmentReader interface {
	ReadSegment(src sm.SegmentSource) (io.ReadCloser, error)
}

// Error is a Store or Executor failure with its classification.
type Error struct {
	Kind sm.ObjErr
	// Unknown says the operation may have taken effect (a put or delete
	// whose request left but whose answer was lost or timed out).
	Unknown bool
	Op      string // "put", "get", "delete", "list"
	Name    string
	Err     error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("object store: %s %s: %v", e.Op, e.Name, e.Kind)
	if e.Unknown {
		s += " (outcome unknown)"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf classifies err: sm.ObjErrNone for nil, the *Error's kind, or
// sm.ObjErrUnavailable for anything else.
func KindOf(err error) sm.ObjErr {
	if err == nil {
		return sm.ObjErrNone
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return sm.ObjErrUnavailable
}
