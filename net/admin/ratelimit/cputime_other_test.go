//go:build !linux

package ratelimit

import "time"

// threadCPU falls back to wall time where per-thread CPU time is not
// available.
func threadCPU(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}
