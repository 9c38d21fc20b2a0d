//go:build !linux

package uring

import "errors"

// ErrUnsupported is returned on systems without io_uring.
var ErrUnsupported = errors.New("uring: io_uring requires Linux")

// ErrRingFull is kept for API parity with Linux.
var ErrRingFull = errors.New("uring: ring full")

// Ring is a placeholder so that callers compile on every system.
type Ring struct{}

// CQE mirrors the Linux completion for API parity.
type CQE struct {
	UserData uint64
	Res      int32
	Flags    uint32
}

// New always fails outside Linux: there is no io_uring to set up.
func New(entries uint32) (*Ring, error) { return nil, ErrUnsupported }

// Available reports why io_uring cannot be used here.
func Available() error { return ErrUnsupported }
