package raftstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/rs/zerolog"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/weirmq/weir/sm"
)

func ent(index, term uint64, data string) *pb.Entry {
	e := &pb.Entry{Index: new(index), Term: new(term)}
	if data != "" {
		e.Data = []byte(data)
		e.Type = pb.EntryType_EntryNormal.Enum()
	}
	return e
}

func ents(from, to, term uint64) []*pb.Entry {
	var out []*pb.Entry
	for i := from; i <= to; i++ {
		out = append(out, ent(i, term, fmt.Sprintf("e%d-t%d", i, term)))
	}
	return out
}

func hardState(term, vote, commit uint64) *pb.HardState {
	return &pb.HardState{Term: new(term), Vote: new(vote), Commit: new(commit)}
}

func openT(t testing.TB, fs vfs.FS) *Store {
	t.Helper()
	s, err := Open("raft", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func loadT(t testing.TB, s *Store) sm.Durable {
	t.Helper()
	d, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func saveT(t testing.TB, s *Store, hs *pb.HardState, es []*pb.Entry, sync bool) {
	t.Helper()
	if err := s.Save(hs, es, sync); err != nil {
		t.Fatal(err)
	}
}

// checkDurable fails unless d holds exactly hs and es.
func checkDurable(t testing.TB, d sm.Durable, hs *pb.HardState, es []*pb.Entry) {
	t.Helper()
	if !proto.Equal(d.HardState, hs) {
		t.Errorf("hard state = %v, want %v", d.HardState, hs)
	}
	if err := sameEntries(d.Entries, es); err != nil {
		t.Error(err)
	}
}

func sameEntries(got, want []*pb.Entry) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d entries %s, want %d %s", len(got), spans(got), len(want), spans(want))
	}
	for i := range got {
		if !proto.Equal(got[i], want[i]) {
			return fmt.Errorf("entry #%d = %v, want %v", i, got[i], want[i])
		}
	}
	return nil
}

// spans summarizes a log as index ranges with their terms, for messages.
func spans(es []*pb.Entry) string {
	var b strings.Builder
	for i := 0; i < len(es); {
		j := i
		for j+1 < len(es) && es[j+1].GetTerm() == es[i].GetTerm() && es[j+1].GetIndex() == es[j].GetIndex()+1 {
			j++
		}
		fmt.Fprintf(&b, "[%d..%d]t%d ", es[i].GetIndex(), es[j].GetIndex(), es[i].GetTerm())
		i = j + 1
	}
	return strings.TrimSpace(b.String())
}

func TestEmptyStore(t *testing.T) {
	s := openT(t, vfs.NewMem())
	defer s.Close()
	d := loadT(t, s)
	if d.HardState != nil || d.Entries != nil || d.Manifests != nil {
		t.Fatalf("empty store loaded %+v", d)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	fs := vfs.NewMem()
	s := openT(t, fs)
	hs := hardState(3, 2, 4)
	want := []*pb.Entry{
		ent(2, 1, ""),
		ent(3, 2, "hello"),
		{Index: new(uint64(4)), Term: new(uint64(3)), Type: pb.EntryType_EntryConfChangeV2.Enum(), Data: []byte{0, 1, 2}},
	}
	saveT(t, s, hs, want[:2], true)
	saveT(t, s, nil, want[2:], false)
	checkDurable(t, loadT(t, s), hs, want)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, fs)
	defer s.Close()
	checkDurable(t, loadT(t, s), hs, want)
}

func TestOverwriteRule(t *testing.T) {
	fs := vfs.NewMem()
	s := openT(t, fs)
	saveT(t, s, nil, ents(1, 10, 1), true)
	saveT(t, s, nil, ents(5, 7, 2), true)
	want := append(ents(1, 4, 1), ents(5, 7, 2)...)
	checkDurable(t, loadT(t, s), nil, want)

	// Entries 8..10 of term 1 stay deleted when index 8 is written again.
	saveT(t, s, nil, ents(8, 8, 2), true)
	want = append(want, ents(8, 8, 2)...)
	checkDurable(t, loadT(t, s), nil, want)

	// The overwrite rule holds across a reopen (Open finds the last index).
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, fs)
	defer s.Close()
	checkDurable(t, loadT(t, s), nil, want)
	saveT(t, s, nil, ents(3, 4, 3), true)
	want = append(ents(1, 2, 1), ents(3, 4, 3)...)
	checkDurable(t, loadT(t, s), nil, want)

	// Rewriting the same indexes replaces them without deleting anything.
	saveT(t, s, nil, ents(1, 4, 4), true)
	checkDurable(t, loadT(t, s), nil, ents(1, 4, 4))

	// Overwriting from below the first stored index replaces the whole log.
	s2 := openT(t, vfs.NewMem())
	defer s2.Close()
	saveT(t, s2, nil, ents(5, 9, 1), true)
	saveT(t, s2, nil, ents(2, 3, 2), true)
	checkDurable(t, loadT(t, s2), nil, ents(2, 3, 2))
}

func TestHardStateReplaced(t *testing.T) {
	fs := vfs.NewMem()
	s := openT(t, fs)
	saveT(t, s, hardState(1, 1, 0), nil, true)
	saveT(t, s, hardState(2, 3, 0), ents(1, 2, 2), true)
	checkDurable(t, loadT(t, s), hardState(2, 3, 0), ents(1, 2, 2))
	// nil and wire-empty hard states leave the stored one, as in the
	// simulator's model; a set field replaces it.
	saveT(t, s, nil, ents(3, 3, 2), true)
	saveT(t, s, &pb.HardState{}, nil, true)
	checkDurable(t, loadT(t, s), hardState(2, 3, 0), ents(1, 3, 2))
	saveT(t, s, &pb.HardState{Term: new(uint64(2)), Commit: new(uint64(3))}, nil, true)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, fs)
	defer s.Close()
	checkDurable(t, loadT(t, s), &pb.HardState{Term: new(uint64(2)), Commit: new(uint64(3))}, ents(1, 3, 2))
}

func TestSaveRejectsInvalidLogs(t *testing.T) {
	s := openT(t, vfs.NewMem())
	defer s.Close()
	saveT(t, s, nil, ents(3, 5, 1), true) // an empty store accepts any start
	for _, tc := range []struct {
		name string
		es   []*pb.Entry
		want string
	}{
		{"gap", ents(7, 8, 1), "gap"},
		{"index 0", []*pb.Entry{ent(0, 1, "")}, "index 0"},
		{"not contiguous", []*pb.Entry{ent(6, 1, ""), ent(8, 1, "")}, "follows"},
		{"descending", []*pb.Entry{ent(6, 1, ""), ent(5, 1, "")}, "follows"},
	} {
		err := s.Save(hardState(9, 9, 9), tc.es, true)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Save error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
	// Refused saves wrote nothing, and the store still works.
	checkDurable(t, loadT(t, s), nil, ents(3, 5, 1))
	saveT(t, s, nil, ents(6, 6, 1), true)
	checkDurable(t, loadT(t, s), nil, ents(3, 6, 1))
}

func TestClosedStore(t *testing.T) {
	s := openT(t, vfs.NewMem())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Save(nil, ents(1, 1, 1), true); !errors.Is(err, ErrClosed) {
		t.Errorf("Save after Close: %v", err)
	}
	if _, err := s.Load(); !errors.Is(err, ErrClosed) {
		t.Errorf("Load after Close: %v", err)
	}
}

func TestFormatVersion(t *testing.T) {
	for name, setup := range map[string]func(*pebble.DB) error{
		"foreign data": func(db *pebble.DB) error { return db.Set([]byte("x"), nil, pebble.Sync) },
		"newer format": func(db *pebble.DB) error { return db.Set(formatKey, []byte{formatVersion + 1}, pebble.Sync) },
	} {
		fs := vfs.NewMem()
		db, err := pebble.Open("raft", &pebble.Options{FS: fs, Logger: Logger{}})
		if err != nil {
			t.Fatal(err)
		}
		if err := errors.Join(setup(db), db.Close()); err != nil {
			t.Fatal(err)
		}
		if s, err := Open("raft", Options{FS: fs}); err == nil {
			_ = s.Close()
			t.Errorf("%s: Open succeeded", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// logBuf collects a zerolog logger's JSON lines; pebble logs from several
// goroutines.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuf) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// lines are the logged events as "level: message" (each checked to be
// tagged component=pebble).
func (b *logBuf) lines(t *testing.T) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if l == "" {
			continue
		}
		var ev struct{ Level, Component, Message string }
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if ev.Component != "pebble" {
			t.Errorf("log line %q: component %q, want pebble", l, ev.Component)
		}
		out = append(out, ev.Level+": "+ev.Message)
	}
	return out
}

func TestLoggerRoutes(t *testing.T) {
	var buf logBuf
	log := zerolog.New(&buf)
	s, err := Open("raft", Options{FS: vfs.NewMem(), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	saveT(t, s, nil, ents(1, 3, 1), true)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := buf.lines(t); len(got) == 0 {
		t.Errorf("pebble logged nothing through Options.Log")
	} else {
		t.Logf("pebble logged %d lines through Options.Log: %q", len(got), got)
	}

	buf.reset()
	l := Logger{Log: log}
	l.Infof("a %d", 1)
	l.Errorf("b %s", "x")
	func() {
		defer func() {
			fe, ok := recover().(*FatalError)
			if !ok || fe.Msg != "c 2" {
				t.Errorf("Fatalf panicked with %v, want *FatalError{c 2}", fe)
			}
		}()
		l.Fatalf("c %d", 2)
	}()
	if got, want := buf.lines(t), []string{"info: a 1", "error: b x", "fatal: c 2"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("routed %q, want %q", got, want)
	}
	Logger{}.Infof("a zero Logger discards") // must not panic

	buf.reset()
	quiet := Logger{Log: log.Level(zerolog.ErrorLevel)}
	quiet.Infof("below the level")
	quiet.Errorf("at the level")
	if got := buf.lines(t); len(got) != 1 || got[0] != "error: at the level" {
		t.Errorf("level filter: %q", got)
	}

	var err2 error
	func() {
		defer catchFatal(&err2)
		l.Fatalf("boom")
	}()
	if fe := (*FatalError)(nil); !errors.As(err2, &fe) || !strings.Contains(err2.Error(), "boom") {
		t.Errorf("catchFatal gave %v", err2)
	}
}

// TestWriteErrorIsSticky injects a WAL write failure: pebble declares its
// commit pipeline broken (Logger.Fatalf), Save returns that as an error
// instead of the process exiting, and the Store refuses later writes, since
// whether the failed batch reached the disk is unknown.
func TestWriteErrorIsSticky(t *testing.T) {
	var buf logBuf
	toggle := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if strings.HasSuffix(op.Path, ".log") && op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
			return errorfs.ErrInjected
		}
		return nil
	})}
	s, err := Open("raft", Options{FS: errorfs.Wrap(vfs.NewMem(), toggle), Log: zerolog.New(&buf)})
	if err != nil {
		t.Fatal(err)
	}
	saveT(t, s, nil, ents(1, 2, 1), true)
	toggle.On()
	err = s.Save(hardState(2, 2, 2), ents(3, 3, 2), true)
	if fe := (*FatalError)(nil); !errors.As(err, &fe) {
		t.Fatalf("Save with a failing WAL: %v, want a *FatalError", err)
	}
	t.Logf("failed Save: %v", err)
	toggle.Off()
	if err := s.Save(nil, ents(3, 3, 2), true); err == nil || !strings.Contains(err.Error(), "reopen") {
		t.Errorf("Save after a failed write: %v", err)
	}
	if lines := buf.lines(t); len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], "fatal: ") {
		t.Errorf("the fatal line was not routed to Options.Log: %q", lines)
	}
	t.Logf("Close after the failure: %v", s.Close())
}
