package raftstore

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Level is the severity of a pebble log line, so that a caller's LogFunc can
// route or filter it without parsing text.
type Level uint8

// Pebble's three severities, in increasing order.
const (
	// LevelInfo is routine progress: WAL recovery, flushes, compactions.
	LevelInfo Level = iota
	// LevelError is a problem pebble survived, such as a background error.
	LevelError
	// LevelFatal is a problem pebble cannot continue from. After the LogFunc
	// returns, the Logger panics with a *FatalError (pebble's contract is
	// that Fatalf never returns).
	LevelFatal
)

// String names the level for log output.
func (l Level) String() string {
	switch l {
	case LevelInfo:
		return "info"
	case LevelError:
		return "error"
	case LevelFatal:
		return "fatal"
	}
	return fmt.Sprintf("level(%d)", uint8(l))
}

// LogFunc receives one formatted pebble log line. It is how the caller owns
// pebble's output: pebble otherwise writes to the process-global standard
// logger, and calls os.Exit on fatal errors. It may be called from pebble's
// background goroutines, concurrently, so it must be safe for that. A nil
// LogFunc discards everything.
type LogFunc func(level Level, msg string)

// Logger adapts a LogFunc to pebble.Logger. It is exported so that callers
// running their own pebble instances can route them the same way.
type Logger struct {
	// Log receives the lines; nil discards them.
	Log LogFunc
}

var _ pebble.Logger = Logger{}

func (l Logger) emit(level Level, format string, args []any) string {
	msg := fmt.Sprintf(format, args...)
	if l.Log != nil {
		l.Log(level, msg)
	}
	return msg
}

// Infof implements pebble.Logger.
func (l Logger) Infof(format string, args ...any) { l.emit(LevelInfo, format, args) }

// Errorf implements pebble.Logger.
func (l Logger) Errorf(format string, args ...any) { l.emit(LevelError, format, args) }

// Fatalf implements pebble.Logger: it routes the line at LevelFatal and then
// panics with a *FatalError instead of exiting the process, so that
// Store.Save can turn a fatal commit error into an ordinary error (and a
// crashed background goroutine still stops the process, with a stack trace).
func (l Logger) Fatalf(format string, args ...any) {
	panic(&FatalError{Msg: l.emit(LevelFatal, format, args)})
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
