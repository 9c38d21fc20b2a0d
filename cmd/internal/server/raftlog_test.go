package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"go.etcd.io/raft/v3"
)

// logEvent is one zerolog JSON line.
type logEvent struct {
	Level, Component, Node, Message string
}

func parseEvents(t *testing.T, out string) []logEvent {
	t.Helper()
	var evs []logEvent
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var ev logEvent
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// Every raft.Logger method writes one line at its level, tagged
// component=raft, with the caller's fields kept.
func TestRaftLoggerLevels(t *testing.T) {
	var buf bytes.Buffer
	var l raft.Logger = newRaftLogger(zerolog.New(&buf).With().Str("node", "controller-1").Logger())
	l.Debug("d", 1)
	l.Debugf("d%d", 2)
	l.Info("i", 1)
	l.Infof("i%d", 2)
	l.Warning("w", 1)
	l.Warningf("w%d", 2)
	l.Error("e", 1)
	l.Errorf("e%d", 2)
	var got []string
	for _, ev := range parseEvents(t, buf.String()) {
		if ev.Component != "raft" || ev.Node != "controller-1" {
			t.Errorf("event %+v: want component raft, node controller-1", ev)
		}
		got = append(got, ev.Level+" "+ev.Message)
	}
	want := []string{"debug d1", "debug d2", "info i1", "info i2", "warn w1", "warn w2", "error e1", "error e2"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("logged %q, want %q", got, want)
	}
}

// The logger's level filters raft's lines.
func TestRaftLoggerFilters(t *testing.T) {
	var buf bytes.Buffer
	l := newRaftLogger(zerolog.New(&buf).Level(zerolog.WarnLevel))
	l.Debug("no")
	l.Debugf("no %d", 1)
	l.Info("no")
	l.Infof("no %d", 1)
	l.Warning("yes")
	var got []string
	for _, ev := range parseEvents(t, buf.String()) {
		got = append(got, ev.Level+" "+ev.Message)
	}
	if fmt.Sprint(got) != fmt.Sprint([]string{"warn yes"}) {
		t.Fatalf("logged %q, want only the warning", got)
	}
}

// Fatal and Panic never return (raft relies on it) and never exit the
// process: they log at their level, even from a logger filtering below
// it, and panic with the message.
func TestRaftLoggerFatalAndPanicPanic(t *testing.T) {
	for _, tc := range []struct {
		name, level, msg string
		call             func(raft.Logger)
	}{
		{"Fatal", "fatal", "broken 1", func(l raft.Logger) { l.Fatal("broken ", 1) }},
		{"Fatalf", "fatal", "broken 2", func(l raft.Logger) { l.Fatalf("broken %d", 2) }},
		{"Panic", "panic", "broken 3", func(l raft.Logger) { l.Panic("broken ", 3) }},
		{"Panicf", "panic", "broken 4", func(l raft.Logger) { l.Panicf("broken %d", 4) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := newRaftLogger(zerolog.New(&buf).Level(zerolog.ErrorLevel))
			returned := false
			var v any
			func() {
				defer func() { v = recover() }()
				tc.call(l)
				returned = true
			}()
			if returned || v == nil {
				t.Fatalf("%s returned (recovered %v), want a panic", tc.name, v)
			}
			if s, ok := v.(string); !ok || !strings.Contains(s, tc.msg) {
				t.Errorf("panic value %#v, want a string with %q", v, tc.msg)
			}
			evs := parseEvents(t, buf.String())
			if len(evs) != 1 || evs[0].Level != tc.level || evs[0].Message != tc.msg || evs[0].Component != "raft" {
				t.Errorf("logged %+v, want one %s line %q", evs, tc.level, tc.msg)
			}
		})
	}
}
