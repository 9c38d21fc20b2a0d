//go:build !linux

package wal

import "github.com/weirmq/weir/io/uring"

func uringAvailable() error { return uring.Available() }

func newUringBackend(entries uint32) (backend, error) { return nil, uring.ErrUnsupported }

func adviseHugePages([]byte) {}
