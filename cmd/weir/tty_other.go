//go:build !unix

package main

import "os"

// isTerminalFile is a best effort off Unix: a character device. (It also
// takes NUL for a terminal; delete-topic then reads an empty answer, which
// is "no".)
func isTerminalFile(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
