//go:build linux

package wal

import "github.com/weirmq/weir/io/uring"

func uringAvailable() error { return uring.Available() }
