package ratelimit

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// threadCPU measures f's CPU time on its own OS thread, which other
// processes competing for the cores do not inflate the way they inflate
// wall time.
func threadCPU(f func()) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := threadRusage()
	f()
	return threadRusage() - before
}

func threadRusage() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
