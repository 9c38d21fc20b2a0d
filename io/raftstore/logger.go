package raftstore

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/rs/zerolog"
)

// Logger adapts a zerolog.Logger to pebble.Logger, so that pebble's lines
// land in the process log (component=pebble) instead of the process-global
// log package, and a fatal error panics instead of exiting the process. It
// is exported so that callers running their own pebble instances can route
// them the same way. Pebble calls it from its background goroutines,
// concurrently; a zerolog.Logger is safe for that when its writer is.
//
// Pebble's three severities map to zerolog's info, error and fatal; the
// fatal line is written with WithLevel, which does not exit, and then
// Fatalf panics with a *FatalError (pebble's contract is that Fatalf never
// returns).
type Logger struct {
	// Log receives the lines; the zero value discards them.
	Log zerolog.Logger

	tap       func(msg string) // sees every line, logged or not (the store's replay watcher)
	quietInfo bool             // drop info lines (a read-only open the read-write open repeats)
}

var _ pebble.Logger = Logger{}

func (l Logger) emit(ev *zerolog.Event, format string, args []any) string {
	if ev == nil && l.tap == nil {
		return "" // disabled and unobserved: skip the formatting
	}
	msg := fmt.Sprintf(format, args...)
	if l.tap != nil {
		l.tap(msg)
	}
	ev.Str("component", "pebble").Msg(msg) // a nil event is a no-op
	return msg
}

// Infof implements pebble.Logger: routine progress such as WAL recovery,
// flushes and compactions.
func (l Logger) Infof(format string, args ...any) {
	var ev *zerolog.Event
	if !l.quietInfo {
		ev = l.Log.Info()
	}
	l.emit(ev, format, args)
}

// Errorf implements pebble.Logger: a problem pebble survived, such as a
// background error.
func (l Logger) Errorf(format string, args ...any) { l.emit(l.Log.Error(), format, args) }

// Fatalf implements pebble.Logger: it logs the line at fatal level and then
// panics with a *FatalError instead of exiting the process, so that
// Store.Save can turn a fatal commit error into an ordinary error (and a
// crashed background goroutine still stops the process, with a stack trace).
func (l Logger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if l.tap != nil {
		l.tap(msg)
	}
	l.Log.WithLevel(zerolog.FatalLevel).Str("component", "pebble").Msg(msg)
	panic(&FatalError{Msg: msg})
}

// FatalError is the panic value of Logger.Fatalf: pebble reached a state it
// cannot continue from. Store.Save recovers it and returns it as an error;
// the Store then refuses further writes.
type FatalError struct {
	// Msg is pebble's formatted fatal line, kept for the error text.
	Msg string
}

// Error makes a FatalError usable as an error.
func (e *FatalError) Error() string { return "raftstore: pebble fatal: " + e.Msg }
