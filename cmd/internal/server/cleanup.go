package server

import "errors"

// cleanups is the undo stack of a process start: each step that opens
// something (a WAL, a store, a listener, a goroutine) pushes the function
// that closes it. A start that fails part way runs the stack, closing in
// reverse what it had opened; a started process keeps the stack, and
// Shutdown runs it. Either way the closing is written once, beside the
// opening.
type cleanups []func() error

// push adds a step, run before every step pushed earlier.
func (c *cleanups) push(f func() error) { *c = append(*c, f) }

// pushFunc adds a step that cannot fail.
func (c *cleanups) pushFunc(f func()) { c.push(func() error { f(); return nil }) }

// run runs the steps last-pushed first, every one even when some fail,
// empties the stack and returns the steps' errors joined.
func (c *cleanups) run() error {
	var errs []error
	for i := len(*c) - 1; i >= 0; i-- {
		errs = append(errs, (*c)[i]())
	}
	*c = nil
	return errors.Join(errs...)
}
