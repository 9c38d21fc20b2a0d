package server

import (
	"fmt"

	"github.com/rs/zerolog"
	"go.etcd.io/raft/v3"
)

// raftLogger adapts etcd raft's Logger to zerolog (component=raft), so that
// raft's lines (elections, term changes, rejected appends) land in the
// process log at the matching level instead of raft's global default
// logger. Raft logs per election and per conflict, not per entry.
//
// Fatal and Panic log at their level and then panic: raft calls them on
// broken invariants and expects them not to return, but the default
// logger's Fatal exits the process without unwinding (no deferred close of
// the raft store, no stack trace); a panic does both.
type raftLogger struct{ log zerolog.Logger }

var _ raft.Logger = raftLogger{}

// newRaftLogger is the controller's raft logger, writing to log.
func newRaftLogger(log zerolog.Logger) raftLogger {
	return raftLogger{log: log.With().Str("component", "raft").Logger()}
}

func (l raftLogger) print(level zerolog.Level, v []any) string {
	msg := fmt.Sprint(v...)
	l.log.WithLevel(level).Msg(msg)
	return msg
}

func (l raftLogger) printf(level zerolog.Level, format string, v []any) string {
	msg := fmt.Sprintf(format, v...)
	l.log.WithLevel(level).Msg(msg)
	return msg
}

func (l raftLogger) Debug(v ...any) {
	if e := l.log.Debug(); e.Enabled() {
		e.Msg(fmt.Sprint(v...))
	}
}

func (l raftLogger) Debugf(format string, v ...any) { l.log.Debug().Msgf(format, v...) }
func (l raftLogger) Info(v ...any)                  { l.print(zerolog.InfoLevel, v) }
func (l raftLogger) Infof(format string, v ...any)  { l.log.Info().Msgf(format, v...) }
func (l raftLogger) Warning(v ...any)               { l.print(zerolog.WarnLevel, v) }
func (l raftLogger) Warningf(format string, v ...any) {
	l.log.Warn().Msgf(format, v...)
}
func (l raftLogger) Error(v ...any)                 { l.print(zerolog.ErrorLevel, v) }
func (l raftLogger) Errorf(format string, v ...any) { l.log.Error().Msgf(format, v...) }

// Fatal logs at fatal level and panics (it must not return).
func (l raftLogger) Fatal(v ...any) { panic("raft: fatal: " + l.print(zerolog.FatalLevel, v)) }

// Fatalf logs at fatal level and panics (it must not return).
func (l raftLogger) Fatalf(format string, v ...any) {
	panic("raft: fatal: " + l.printf(zerolog.FatalLevel, format, v))
}

// Panic logs at panic level and panics.
func (l raftLogger) Panic(v ...any) { panic("raft: " + l.print(zerolog.PanicLevel, v)) }

// Panicf logs at panic level and panics.
func (l raftLogger) Panicf(format string, v ...any) {
	panic("raft: " + l.printf(zerolog.PanicLevel, format, v))
}
