//go:build unix

package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// isTerminalFile asks the kernel for f's terminal attributes, which only a
// terminal has (as golang.org/x/term does). A mode check alone would take
// /dev/null, a character device, for a terminal.
func isTerminalFile(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), ioctlReadTermios)
	return err == nil
}
