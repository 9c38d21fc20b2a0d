package audit

import (
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// writeLog writes events as lines into path (and its backups when rotating
// by hand), without a Logger, so reader tests control every byte.
func writeLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o700)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
}

func line(t *testing.T, ev Event) string {
	t.Helper()
	b, err := ev.AppendLine(nil)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func gzipFile(t *testing.T, path string, data string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	zw.Write([]byte(data))
	zw.Close()
	f.Close()
}

func TestQueryFilters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	evs := []Event{
		{Time: at(0), Type: AuthorizationDenied, Principal: "alice", Node: "b1"},
		{Time: at(1), Type: AdminWrite, Principal: "admin", Node: "c1"},
		{Time: at(2), Type: AuthorizationDenied, Principal: "bob", Node: "b1"},
		{Time: at(3), Type: CertificateIssued, Principal: "admin", Node: "c1"},
		{Time: at(4), Type: AuthorizationDenied, Principal: "alice", Node: "b2"},
		{Time: at(5), Type: CertificateRevoked, Principal: "admin", Node: "c1"},
	}
	// Backups out of write order on purpose (a node with a clock step):
	// Query orders by event time, not by file.
	dir := filepath.Dir(path)
	writeLines(t, backupName(path, at(10)), line(t, evs[0]), line(t, evs[2]))
	gzipFile(t, backupName(path, at(20))+gzSuffix, line(t, evs[1])+line(t, evs[3]))
	writeLines(t, path, line(t, evs[5]), line(t, evs[4]))
	os.WriteFile(filepath.Join(dir, "unrelated.log"), []byte("junk\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "audit-notatime.log"), []byte("junk\n"), 0o600)
	os.Mkdir(filepath.Join(dir, "audit-2026-12-03T13-18-58.000000000.log"), 0o700) // a directory with a backup's name

	seqs := func(f Filter) string {
		t.Helper()
		res := query(t, path, f)
		var s []string
		for _, ev := range res.Events {
			for i, want := range evs {
				if ev.Time.Equal(want.Time) {
					s = append(s, string(rune('0'+i)))
				}
			}
		}
		return strings.Join(s, "")
	}
	for _, tc := range []struct {
		name string
		f    Filter
		want string
	}{
		{"all, time order", Filter{}, "012345"},
		{"since inclusive", Filter{Since: at(2)}, "2345"},
		{"until exclusive", Filter{Until: at(2)}, "01"},
		{"window", Filter{Since: at(1), Until: at(4)}, "123"},
		{"types", Filter{Types: []Type{AuthorizationDenied}}, "024"},
		{"two types", Filter{Types: []Type{CertificateIssued, CertificateRevoked}}, "35"},
		{"principal", Filter{Principal: "alice"}, "04"},
		{"principal and type", Filter{Principal: "admin", Types: []Type{AdminWrite}}, "1"},
		{"limit keeps the most recent", Filter{Limit: 2}, "45"},
		{"limit with filter", Filter{Types: []Type{AuthorizationDenied}, Limit: 2}, "24"},
		{"limit beyond", Filter{Limit: 100}, "012345"},
		{"nothing", Filter{Principal: "eve"}, ""},
	} {
		if got := seqs(tc.f); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestQueryLimitOverManyEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	var b strings.Builder
	for i := range 10000 {
		b.WriteString(line(t, Event{Time: t0.Add(time.Duration(i)), Type: AdminWrite, Details: map[string]string{"seq": itoa(uint64(i))}}))
	}
	writeLines(t, path, b.String())
	res := query(t, path, Filter{Limit: 3})
	if len(res.Events) != 3 || seqOf(t, res.Events[0]) != 9997 || seqOf(t, res.Events[2]) != 9999 {
		t.Fatalf("limit 3 of 10000: %+v", res.Events)
	}
}

func TestQueryBadFilter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	for f, want := range map[*Filter]string{
		{Limit: -1}:                    "limit must be >= 0 (got -1)",
		{Since: t0, Until: t0}:         "is not after since",
		{Types: []Type{AdminWrite, 0}}: "invalid event type 0",
	} {
		if _, err := Query(path, *f); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: error %v, want %q", *f, err, want)
		}
		if _, err := Follow(context.Background(), path, *f, func(Event) error { return nil }); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("follow %+v: error %v, want %q", *f, err, want)
		}
	}
}

func TestQueryNoLogIsEmpty(t *testing.T) {
	res, err := Query(filepath.Join(t.TempDir(), "missing", "audit.log"), Filter{})
	if err != nil || len(res.Events) != 0 || res.Files != 0 {
		t.Fatalf("%+v, %v", res, err)
	}
}

// Malformed lines, overlong lines, a truncated archive: skipped and counted.
func TestQuerySkipsMalformed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	good := line(t, Event{Time: t0, Type: AdminWrite, Principal: "ok"})
	huge := `{"time":"2026-12-03T13:18:58Z","type":"admin_write","message":"` + strings.Repeat("x", LineBytesMax+10) + "\"}\n"
	writeLines(t, path,
		good,
		"not json\n",
		"\n", "   \n", // blank: ignored, not counted
		`{"time":"2026-12-03T13:18:58Z","type":"future_type"}`+"\n",
		`{"type":"admin_write"}`+"\n",
		huge,
		good,
		`{"time":"2026-12-03T13:18:5`, // torn, no newline
	)
	// A truncated archive: the lines before the cut are kept, the cut is an error.
	var b strings.Builder
	const archived = 5000 // distinct lines, so the archive spans many deflate blocks
	for i := range archived {
		b.WriteString(line(t, Event{Time: t0, Type: AdminWrite, Message: strings.Repeat(itoa(uint64(i*7919)), 5)}))
	}
	gz := backupName(path, t0) + gzSuffix
	gzipFile(t, gz, b.String())
	data, _ := os.ReadFile(gz)
	os.WriteFile(gz, data[:len(data)/2], 0o600)
	// A corrupt archive: not even a header.
	os.WriteFile(backupName(path, t0.Add(time.Second))+gzSuffix, []byte("not gzip"), 0o600)

	res, err := Query(path, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	// Five in the current file, and the archive's cut line unless the cut fell
	// exactly between two lines.
	if res.Malformed != 5 && res.Malformed != 6 {
		t.Fatalf("%d malformed, want 5 or 6", res.Malformed)
	}
	if len(res.Errors) != 2 {
		t.Fatalf("errors %v, want the truncated and the corrupt archive", res.Errors)
	}
	fromCurrent := 2
	if n := len(res.Events) - fromCurrent; n <= 0 || n >= archived {
		t.Fatalf("%d events from the truncated archive, want some but not all", n)
	}
}

// Between the mill's rename and remove both forms exist; they are one backup.
func TestQueryPlainAndArchiveTwinsCountOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l := line(t, Event{Time: t0, Type: AdminWrite})
	writeLines(t, backupName(path, t0), l)
	gzipFile(t, backupName(path, t0)+gzSuffix, l)
	os.WriteFile(backupName(path, t0)+gzSuffix+tmpSuffix, []byte("partial"), 0o600)
	res := query(t, path, Filter{})
	if len(res.Events) != 1 || res.Files != 1 {
		t.Fatalf("%d events from %d files, want 1 from 1", len(res.Events), res.Files)
	}
}

func TestParseSince(t *testing.T) {
	now := t0
	for in, want := range map[string]time.Time{
		"15m":                         now.Add(-15 * time.Minute),
		"24h":                         now.Add(-24 * time.Hour),
		"2026-12-03T13:00:00Z":        time.Date(2026, 12, 3, 13, 0, 0, 0, time.UTC),
		"2026-12-03T14:00:00.5+01:00": time.Date(2026, 12, 3, 13, 0, 0, 5e8, time.UTC),
	} {
		got, err := ParseSince(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, want := range map[string]string{"yesterday": "neither an RFC 3339 time", "-5m": "negative duration", "": "neither"} {
		if _, err := ParseSince(in, now); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSince(%q) error %v, want %q", in, err, want)
		}
	}
}

// collector gathers followed events.
type collector struct {
	mu  sync.Mutex
	evs []Event
}

func (c *collector) add(ev Event) error {
	c.mu.Lock()
	c.evs = append(c.evs, ev)
	c.mu.Unlock()
	return nil
}

func (c *collector) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.evs)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

type followRun struct {
	c    collector
	done chan struct{}
	st   ReadStats
	err  error
}

func startFollow(t *testing.T, ctx context.Context, path string, f Filter) *followRun {
	fr := &followRun{done: make(chan struct{})}
	go func() {
		defer close(fr.done)
		fr.st, fr.err = Reader{Path: path, Poll: 2 * time.Millisecond}.Follow(ctx, f, fr.c.add)
	}()
	return fr
}

// Follow sees every event written after it starts, in order, across many
// rotations, gzip included, whether the writer is slow (one rotation per
// poll at most) or bursts (several rotations between two polls).
func TestFollowAcrossRotation(t *testing.T) {
	for _, tc := range []struct {
		name     string
		compress bool
		burst    bool
	}{{"slow", false, false}, {"slow gzip", true, false}, {"burst", false, true}, {"burst gzip", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.MaxBytes, cfg.MaxBackups, cfg.Compress = 1200, 1000, tc.compress
			// History before Follow starts is not delivered.
			l := mustNew(t, cfg)
			for i := range 30 {
				l.Log(Event{Type: AdminWrite, Message: "history"})
				_ = i
			}
			flush(t, l)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			const n = 400
			fr := startFollow(t, ctx, cfg.Path, Filter{Types: []Type{AdminWrite}, Principal: "admin", Limit: n})
			time.Sleep(20 * time.Millisecond) // let it attach; events before would only be history anyway
			for i := range n {
				l.Log(seq(i))
				l.Log(Event{Type: CertificateIssued, Principal: "admin"}) // filtered out by type
				if !tc.burst && i%5 == 0 {
					flush(t, l)
					time.Sleep(time.Millisecond)
				}
			}
			flush(t, l)
			select {
			case <-fr.done:
			case <-time.After(5 * time.Second):
				fr.c.mu.Lock()
				var got []int
				for _, ev := range fr.c.evs {
					got = append(got, seqOf(t, ev))
				}
				fr.c.mu.Unlock()
				t.Fatalf("follow got %d of %d events: %v", len(got), n, got)
			}
			if fr.err != nil {
				t.Fatal(fr.err)
			}
			for i, ev := range fr.c.evs {
				if ev.Message == "history" || seqOf(t, ev) != i {
					t.Fatalf("event %d: %+v", i, ev)
				}
			}
			if fr.st.Malformed != 0 || len(fr.st.Errors) != 0 {
				t.Fatalf("follow stats %+v", fr.st)
			}
			if l.Stats().Rotations < 20 {
				t.Fatalf("only %d rotations", l.Stats().Rotations)
			}
		})
	}
}

// Follow started before the log exists waits for it and reads it from the
// start, including backups rotated before it noticed.
func TestFollowWaitsForTheLog(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxBytes = 800
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fr := startFollow(t, ctx, cfg.Path, Filter{Limit: 40})
	time.Sleep(10 * time.Millisecond)
	l := mustNew(t, cfg)
	for i := range 40 {
		l.Log(seq(i))
	}
	flush(t, l)
	select {
	case <-fr.done:
	case <-time.After(5 * time.Second):
		t.Fatalf("follow got %d of 40", fr.c.len())
	}
	for i, ev := range fr.c.evs {
		if seqOf(t, ev) != i {
			t.Fatalf("event %d has seq %d", i, seqOf(t, ev))
		}
	}
}

func TestFollowStopsOnContextAndCallbackError(t *testing.T) {
	cfg := testConfig(t)
	l := mustNew(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	fr := startFollow(t, ctx, cfg.Path, Filter{})
	time.Sleep(10 * time.Millisecond)
	l.Log(seq(0))
	flush(t, l)
	waitFor(t, "the first event", func() bool { return fr.c.len() == 1 })
	cancel()
	<-fr.done
	if !errors.Is(fr.err, context.Canceled) {
		t.Fatalf("follow returned %v, want context.Canceled", fr.err)
	}

	stop := errors.New("client went away")
	errc := make(chan error, 1)
	go func() {
		_, err := Reader{Path: cfg.Path, Poll: time.Millisecond}.Follow(context.Background(), Filter{}, func(Event) error { return stop })
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	l.Log(seq(1))
	flush(t, l)
	select {
	case err := <-errc:
		if !errors.Is(err, stop) {
			t.Fatalf("follow returned %v, want the callback's error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not stop on the callback's error")
	}
}

// A line the writer has not finished is held back until its newline arrives.
func TestFollowHoldsPartialLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	writeLines(t, path, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fr := startFollow(t, ctx, path, Filter{Limit: 2})
	time.Sleep(10 * time.Millisecond)
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	defer f.Close()
	l1 := line(t, Event{Time: t0, Type: AdminWrite, Message: "one"})
	f.WriteString(l1[:10])
	time.Sleep(10 * time.Millisecond)
	f.WriteString(l1[10:] + "garbage\n")
	f.WriteString(line(t, Event{Time: t0, Type: AdminWrite, Message: "two"}))
	<-fr.done
	if fr.err != nil || len(fr.c.evs) != 2 || fr.c.evs[0].Message != "one" || fr.st.Malformed != 1 {
		t.Fatalf("err %v, events %+v, stats %+v", fr.err, fr.c.evs, fr.st)
	}
}

// A directory put in the log's place is waited out, not an error: once the
// writer can create the file again, the follower carries on from it.
func TestFollowSurvivesDirectoryInPlace(t *testing.T) {
	cfg := testConfig(t)
	l := mustNew(t, cfg)
	l.Log(seq(0))
	flush(t, l)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fr := startFollow(t, ctx, cfg.Path, Filter{Limit: 2})
	time.Sleep(10 * time.Millisecond)
	l.Log(seq(1))
	flush(t, l)
	waitFor(t, "event 1", func() bool { return fr.c.len() == 1 })
	os.Remove(cfg.Path)
	os.Mkdir(cfg.Path, 0o700)
	l.Log(seq(2))
	waitFor(t, "write errors", func() bool { return l.Stats().WriteErrors > 0 })
	time.Sleep(10 * time.Millisecond) // the follower polls the directory a few times
	os.Remove(cfg.Path)
	flush(t, l)
	select {
	case <-fr.done:
	case <-time.After(5 * time.Second):
		t.Fatalf("follow got %d of 2", fr.c.len())
	}
	if fr.err != nil || seqOf(t, fr.c.evs[0]) != 1 || seqOf(t, fr.c.evs[1]) != 2 {
		t.Fatalf("err %v, events %+v", fr.err, fr.c.evs)
	}
}
