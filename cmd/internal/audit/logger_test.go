package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func testConfig(t *testing.T) Config {
	return Config{
		Path: filepath.Join(t.TempDir(), "audit", "audit.log"), Node: "broker-1",
		Sync: SyncNever, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond,
		CloseTimeout: 200 * time.Millisecond,
	}
}

func mustNew(t *testing.T, cfg Config) *Logger {
	t.Helper()
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func flush(t *testing.T, l *Logger) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func query(t *testing.T, path string, f Filter) Result {
	t.Helper()
	res, err := Query(path, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) > 0 {
		t.Fatalf("read errors: %v", res.Errors)
	}
	return res
}

// seq numbers events so tests can check order and completeness.
func seq(i int) Event {
	return Event{Type: AdminWrite, Principal: "admin", Operation: "POST /v1/topics", Message: "event " + strconv.Itoa(i),
		Details: map[string]string{"seq": strconv.Itoa(i)}}
}

func seqOf(t *testing.T, ev Event) int {
	t.Helper()
	n, err := strconv.Atoi(ev.Details["seq"])
	if err != nil {
		t.Fatalf("event without seq: %+v", ev)
	}
	return n
}

func TestLoggerWritesAndFills(t *testing.T) {
	cfg := testConfig(t)
	c := newClock()
	cfg.Now = c.Now
	l := mustNew(t, cfg)
	l.Log(Event{Type: AuthorizationDenied, Principal: "app", Resource: "topic:orders", Operation: "write", Decision: Deny, RuleID: 7})
	own := t0.Add(-time.Hour)
	l.Log(Event{Time: own, Type: CertificateRevoked, Node: "controller-9", Details: map[string]string{"serial": "0x2a"}})
	l.Log(Event{Type: AuthorizationAllowed, Principal: "app"}) // off by default
	l.Log(Event{Type: 0})                                      // invalid: counted, not written
	l.Log(Event{Type: AdminWrite, Decision: "perhaps"})        // invalid
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	res := query(t, cfg.Path, Filter{})
	if len(res.Events) != 2 {
		t.Fatalf("got %d events: %+v", len(res.Events), res.Events)
	}
	if ev := res.Events[0]; !ev.Time.Equal(own) || ev.Node != "controller-9" || ev.Details["serial"] != "0x2a" {
		t.Fatalf("caller's time and node not kept: %+v", ev)
	}
	if ev := res.Events[1]; !ev.Time.Equal(t0) || ev.Node != "broker-1" || ev.RuleID != 7 || ev.Decision != Deny {
		t.Fatalf("time and node not filled: %+v", ev)
	}
	st := l.Stats()
	if st.Written != 2 || st.Invalid != 2 || st.Dropped != 0 || st.WriteErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
	if fi, err := os.Stat(cfg.Path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("audit file mode %v, %v; want 0600", fi.Mode(), err)
	}
	if l.Enabled(AuthorizationAllowed) || !l.Enabled(AuthorizationDenied) || l.Enabled(0) {
		t.Fatal("Enabled wrong")
	}
	// After Close: Log counts a drop, Flush says closed, Close is idempotent.
	l.Log(seq(1))
	if l.Stats().Dropped != 1 {
		t.Fatal("log after close not counted")
	}
	if err := l.Flush(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("flush after close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestLogAllowedOption(t *testing.T) {
	cfg := testConfig(t)
	cfg.LogAllowed = true
	l := mustNew(t, cfg)
	for range 50 { // allowed events are not rate limited
		l.Log(Event{Type: AuthorizationAllowed, Principal: "app", Resource: "topic:a", Operation: "read", Decision: Allow})
	}
	l.Close()
	if n := len(query(t, cfg.Path, Filter{}).Events); n != 50 {
		t.Fatalf("%d allowed events written, want 50", n)
	}
}

func TestNilLoggerIsOff(t *testing.T) {
	var l *Logger
	l.Log(seq(1))
	if l.Enabled(AdminWrite) || l.Flush(context.Background()) != nil || l.Close() != nil || l.Stats() != (Stats{}) {
		t.Fatal("nil logger not inert")
	}
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	ok := Config{Path: filepath.Join(dir, "a.log"), Node: "n"}
	for name, tc := range map[string]struct {
		mut  func(*Config)
		want string
	}{
		"no path":     {func(c *Config) { c.Path = "" }, "path of the audit log"},
		"no node":     {func(c *Config) { c.Node = "" }, "node must be set"},
		"neg bytes":   {func(c *Config) { c.MaxBytes = -1 }, "max bytes must be >= 0 (got -1)"},
		"neg backups": {func(c *Config) { c.MaxBackups = -2 }, "max backups must be >= 0 (got -2)"},
		"neg queue":   {func(c *Config) { c.QueueMax = -1 }, "queue max"},
		"neg repeats": {func(c *Config) { c.RepeatsPerSecondMax = -1 }, "repeats per second"},
		"neg keys":    {func(c *Config) { c.RepeatKeysMax = -1 }, "repeat keys"},
		"neg retry":   {func(c *Config) { c.RetryMin = -1 }, "durations"},
		"bad sync":    {func(c *Config) { c.Sync = 9 }, "sync policy 9"},
		"path is dir": {func(c *Config) { c.Path = dir }, "is a directory"},
	} {
		c := ok
		tc.mut(&c)
		if _, err := New(c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", name, err, tc.want)
		}
	}
}

// Rotation keeps each file under MaxBytes, keeps MaxBackups backups (gzipped),
// and Query reads them all back in order.
func TestRotationAndReadingAcrossBackups(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compress=%v", compress), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.MaxBytes, cfg.MaxBackups, cfg.Compress = 2000, 4, compress
			cfg.Sync = SyncBatch
			l := mustNew(t, cfg)
			const n = 300
			for i := range n {
				l.Log(seq(i))
				if i%7 == 0 {
					flush(t, l) // many small batches as well as big ones
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			st := l.Stats()
			if st.Written != n || st.Rotations < 10 {
				t.Fatalf("stats %+v", st)
			}
			bs, err := listBackups(cfg.Path)
			if err != nil {
				t.Fatal(err)
			}
			if len(bs) != cfg.MaxBackups {
				t.Fatalf("%d backups, want %d", len(bs), cfg.MaxBackups)
			}
			for _, b := range bs {
				if b.gz != compress {
					t.Fatalf("backup %s compressed=%v", b.path, b.gz)
				}
				if !compress {
					if fi, _ := os.Stat(b.path); fi.Size() > cfg.MaxBytes {
						t.Fatalf("%s is %d bytes > %d", b.path, fi.Size(), cfg.MaxBytes)
					}
				}
			}
			entries, _ := os.ReadDir(filepath.Dir(cfg.Path))
			if len(entries) != cfg.MaxBackups+1 {
				t.Fatalf("%d files in the directory, want %d", len(entries), cfg.MaxBackups+1)
			}
			res := query(t, cfg.Path, Filter{})
			if res.Files != cfg.MaxBackups+1 || res.Malformed != 0 {
				t.Fatalf("read %d files, %d malformed", res.Files, res.Malformed)
			}
			// The newest events survive, contiguous and in order up to the last one.
			evs := res.Events
			if len(evs) < 20 || seqOf(t, evs[len(evs)-1]) != n-1 {
				t.Fatalf("%d events, last %+v", len(evs), evs[len(evs)-1])
			}
			first := seqOf(t, evs[0])
			for i, ev := range evs {
				if seqOf(t, ev) != first+i {
					t.Fatalf("event %d has seq %d, want %d", i, seqOf(t, ev), first+i)
				}
			}
		})
	}
}

// A restart appends to the current file and keeps backup names increasing.
func TestReopenAppends(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxBytes = 1500
	for round := range 3 {
		l := mustNew(t, cfg)
		for i := range 20 {
			l.Log(seq(round*20 + i))
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	evs := query(t, cfg.Path, Filter{}).Events
	if len(evs) != 60 {
		t.Fatalf("%d events after 3 runs, want 60", len(evs))
	}
	for i, ev := range evs {
		if seqOf(t, ev) != i {
			t.Fatalf("event %d has seq %d", i, seqOf(t, ev))
		}
	}
}

// A crash mid-line leaves a torn last line; the next run ends it so that its
// first event is not glued onto the fragment.
func TestTornLastLineIsEnded(t *testing.T) {
	cfg := testConfig(t)
	os.MkdirAll(filepath.Dir(cfg.Path), 0o700)
	os.WriteFile(cfg.Path, []byte(`{"time":"2026-12-03T13:18:58Z","type":"admin_write"}`+"\n"+`{"time":"2026-12`), 0o600)
	l := mustNew(t, cfg)
	l.Log(seq(1))
	l.Close()
	res := query(t, cfg.Path, Filter{})
	if len(res.Events) != 2 || res.Malformed != 1 {
		t.Fatalf("%d events, %d malformed; want 2 and 1", len(res.Events), res.Malformed)
	}
}

// blockingMirror holds the drain goroutine inside Mirror until released.
type blockingMirror struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (b *blockingMirror) mirror(Event) error {
	b.once.Do(func() {
		close(b.entered)
		<-b.release
	})
	return nil
}

// When the queue is full, Log drops and counts without blocking, and one
// EventsDropped event with the count is written once the drain catches up.
func TestQueueFullDropsAreCounted(t *testing.T) {
	cfg := testConfig(t)
	cfg.QueueMax = 16
	bm := &blockingMirror{entered: make(chan struct{}), release: make(chan struct{})}
	cfg.Mirror = bm.mirror
	l := mustNew(t, cfg)
	l.Log(seq(0))
	<-bm.entered // the drain goroutine holds event 0
	start := time.Now()
	for i := 1; i <= 16+25; i++ {
		l.Log(seq(i))
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Log blocked for %s with a full queue", d)
	}
	if st := l.Stats(); st.Dropped != 25 || st.Queued != 16 {
		t.Fatalf("stats %+v, want 25 dropped and 16 queued", st)
	}
	close(bm.release)
	flush(t, l)
	l.Log(seq(100)) // after the drain: written normally
	l.Close()
	res := query(t, cfg.Path, Filter{})
	var drops []Event
	written := 0
	for _, ev := range res.Events {
		if ev.Type == EventsDropped {
			drops = append(drops, ev)
		} else {
			written++
		}
	}
	if written != 1+16+1 || len(drops) != 1 {
		t.Fatalf("%d events and %d drop reports, want 18 and 1", written, len(drops))
	}
	if drops[0].Details["dropped"] != "25" || !strings.Contains(drops[0].Message, "dropped 25 events") || drops[0].Node != "broker-1" {
		t.Fatalf("drop report %+v", drops[0])
	}
	if st := l.Stats(); st.Written != 19 || st.Dropped != 25 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMirrorErrorsAndPanicsAreCounted(t *testing.T) {
	cfg := testConfig(t)
	var mu sync.Mutex
	var seen []string
	cfg.Mirror = func(ev Event) error {
		mu.Lock()
		seen = append(seen, ev.Message)
		mu.Unlock()
		switch ev.Message {
		case "event 1":
			return errors.New("topic unavailable")
		case "event 2":
			panic("mirror bug")
		}
		return nil
	}
	l := mustNew(t, cfg)
	for i := range 4 {
		l.Log(seq(i))
	}
	l.Close()
	if st := l.Stats(); st.MirrorErrors != 2 || st.Written != 4 {
		t.Fatalf("stats %+v", st)
	}
	if strings.Join(seen, ",") != "event 0,event 1,event 2,event 3" {
		t.Fatalf("mirror saw %v", seen)
	}
}

// The repeat rule: per (type, principal, source host, resource, operation)
// at most RepeatsPerSecondMax a second, then one summary with the count.
func TestRepeatedDenialsAreSummarised(t *testing.T) {
	cfg := testConfig(t)
	c := newClock()
	cfg.Now = c.Now
	cfg.RepeatsPerSecondMax = 3
	l := mustNew(t, cfg)
	deny := func(principal, source, topic string) Event {
		return Event{Type: AuthorizationDenied, Principal: principal, Source: source, Resource: "topic:" + topic, Operation: "write", Decision: Deny}
	}
	for i := range 100 { // one hostile client, new source port each time
		l.Log(deny("mallory", fmt.Sprintf("10.0.0.9:%d", 40000+i), "orders"))
	}
	l.Log(deny("app", "10.0.0.5:1", "orders"))    // another key: not affected
	l.Log(deny("mallory", "10.0.0.9:1", "other")) // another resource: its own key
	l.Log(Event{Type: AdminWrite, Principal: "mallory"})
	for range 10 {
		l.Log(Event{Type: AuthenticationFailure, Source: "192.0.2.1:5", Message: "no certificate"})
	}
	flush(t, l)
	res := query(t, cfg.Path, Filter{})
	if len(res.Events) != 3+1+1+1+3 {
		t.Fatalf("%d events within the second, want 9", len(res.Events))
	}
	c.Add(1500 * time.Millisecond)
	l.Log(deny("mallory", "10.0.0.9:2", "orders")) // a new second: admitted again
	flush(t, l)
	l.Close()
	res = query(t, cfg.Path, Filter{Types: []Type{EventsSuppressed}})
	if len(res.Events) != 2 {
		t.Fatalf("%d summaries, want 2: %+v", len(res.Events), res.Events)
	}
	authn, deny97 := res.Events[0], res.Events[1] // sorted by type: authentication first
	if deny97.Principal != "mallory" || deny97.Resource != "topic:orders" || deny97.Source != "10.0.0.9" ||
		deny97.Details["suppressed"] != "97" || deny97.Details["suppressed_type"] != "authorization_denied" ||
		deny97.Decision != Deny || deny97.Details["first"] == "" {
		t.Fatalf("denial summary %+v", deny97)
	}
	if authn.Details["suppressed"] != "7" || authn.Details["suppressed_type"] != "authentication_failure" {
		t.Fatalf("authentication summary %+v", authn)
	}
	if st := l.Stats(); st.Suppressed != 97+7 {
		t.Fatalf("stats %+v", st)
	}
	all := query(t, cfg.Path, Filter{Types: []Type{AuthorizationDenied}, Principal: "mallory"})
	if len(all.Events) != 3+1+1 {
		t.Fatalf("%d mallory denials written, want 5", len(all.Events))
	}
}

// A flood of distinct keys cannot grow the limiter: beyond RepeatKeysMax keys
// a second, events fold into one overflow summary.
func TestRepeatKeysAreBounded(t *testing.T) {
	cfg := testConfig(t)
	c := newClock()
	cfg.Now = c.Now
	cfg.RepeatsPerSecondMax, cfg.RepeatKeysMax = 2, 10
	l := mustNew(t, cfg)
	for i := range 500 {
		l.Log(Event{Type: AuthorizationDenied, Principal: fmt.Sprintf("p%03d", i), Resource: "topic:x", Operation: "read", Decision: Deny})
	}
	if n := len(l.rep.seen); n > 11 {
		t.Fatalf("limiter tracks %d keys", n)
	}
	l.Close()
	res := query(t, cfg.Path, Filter{})
	var denials, summaries int
	for _, ev := range res.Events {
		switch ev.Type {
		case AuthorizationDenied:
			denials++
		case EventsSuppressed:
			summaries++
			if ev.Details["overflow"] != "true" || ev.Details["suppressed"] != "490" {
				t.Fatalf("overflow summary %+v", ev)
			}
		}
	}
	if denials != 10 || summaries != 1 {
		t.Fatalf("%d denials and %d summaries, want 10 and 1", denials, summaries)
	}
}

// Many goroutines log at once (run with -race); every event is either written
// or counted as dropped.
func TestConcurrentWriters(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxBytes, cfg.MaxBackups, cfg.QueueMax = 4096, 1000, 64
	l := mustNew(t, cfg)
	const writers, each = 8, 250
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				ev := seq(w*each + i)
				ev.Principal = fmt.Sprintf("w%d", w)
				l.Log(ev)
				if i%50 == 0 {
					_ = l.Flush(context.Background())
					_ = l.Stats()
				}
			}
		}()
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	res := query(t, cfg.Path, Filter{})
	written, reported := 0, uint64(0)
	perWriter := map[string]int{}
	for _, ev := range res.Events {
		if ev.Type == EventsDropped {
			n, _ := strconv.ParseUint(ev.Details["dropped"], 10, 64)
			reported += n
			continue
		}
		written++
		// Each writer's own events stay in its order.
		s := seqOf(t, ev)
		if last, ok := perWriter[ev.Principal]; ok && s <= last {
			t.Fatalf("writer %s: seq %d after %d", ev.Principal, s, last)
		}
		perWriter[ev.Principal] = s
	}
	if uint64(written)+st.Dropped != writers*each || reported != st.Dropped {
		t.Fatalf("written %d + dropped %d != %d, or reported %d != dropped", written, st.Dropped, writers*each, reported)
	}
	if res.Malformed != 0 {
		t.Fatalf("%d malformed lines", res.Malformed)
	}
}

// The log file replaced by a directory: writes fail, are counted and retried,
// never panic; once the directory is gone, the held events are written.
func TestFileReplacedByDirectory(t *testing.T) {
	cfg := testConfig(t)
	l := mustNew(t, cfg)
	l.Log(seq(0))
	flush(t, l)
	if err := os.Remove(cfg.Path); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(cfg.Path, 0o700); err != nil {
		t.Fatal(err)
	}
	l.Log(seq(1))
	l.Log(seq(2))
	deadline := time.Now().Add(5 * time.Second)
	for l.Stats().WriteErrors < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("no write errors counted: %+v", l.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	os.Remove(cfg.Path)
	flush(t, l)
	l.Close()
	evs := query(t, cfg.Path, Filter{}).Events
	if len(evs) != 2 || seqOf(t, evs[0]) != 1 || seqOf(t, evs[1]) != 2 {
		t.Fatalf("after recovery: %+v", evs)
	}
	if st := l.Stats(); st.Written != 3 || st.Lost != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A disk that stays broken: Close gives up after CloseTimeout, counts the
// events as lost and says so.
func TestCloseGivesUpOnBrokenDisk(t *testing.T) {
	cfg := testConfig(t)
	parent := filepath.Join(t.TempDir(), "f")
	os.WriteFile(parent, nil, 0o600) // a file where the directory should be
	cfg.Path = filepath.Join(parent, "audit.log")
	l := mustNew(t, cfg)
	for i := range 5 {
		l.Log(seq(i))
	}
	start := time.Now()
	err := l.Close()
	if err == nil || !strings.Contains(err.Error(), "gave up on 5 events") {
		t.Fatalf("close error %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("close took %s", d)
	}
	if st := l.Stats(); st.Lost != 5 || st.WriteErrors == 0 || st.Written != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// faultFile fails its Nth write after writing part of it, as a full disk does.
type faultFile struct {
	*os.File
	writes *int
	failAt int
}

func (f faultFile) Write(p []byte) (int, error) {
	*f.writes++
	if *f.writes == f.failAt {
		n, _ := f.File.Write(p[:len(p)/2+3])
		return n, syscall.ENOSPC
	}
	return f.File.Write(p)
}

// A short write (disk full mid-batch) leaves a fragment; the fragment is ended
// as a malformed line and the interrupted event is written again whole, with
// none lost and none duplicated.
func TestShortWriteIsRepaired(t *testing.T) {
	cfg := testConfig(t)
	writes := 0
	cfg.openFile = func(name string) (file, error) {
		f, err := os.OpenFile(name, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		return faultFile{File: f, writes: &writes, failAt: 2}, nil
	}
	bm := &blockingMirror{entered: make(chan struct{}), release: make(chan struct{})}
	cfg.Mirror = bm.mirror
	l := mustNew(t, cfg)
	l.Log(seq(0))
	<-bm.entered
	for i := 1; i < 6; i++ {
		l.Log(seq(i)) // queued: written as one batch, which fails half way
	}
	close(bm.release)
	flush(t, l)
	l.Close()
	res := query(t, cfg.Path, Filter{})
	if res.Malformed != 1 {
		t.Fatalf("%d malformed lines, want the 1 fragment", res.Malformed)
	}
	if len(res.Events) != 6 {
		t.Fatalf("%d events, want 6", len(res.Events))
	}
	for i, ev := range res.Events {
		if seqOf(t, ev) != i {
			t.Fatalf("event %d has seq %d", i, seqOf(t, ev))
		}
	}
	if st := l.Stats(); st.WriteErrors != 1 || st.Written != 6 {
		t.Fatalf("stats %+v", st)
	}
}

// A failing rename leaves the file in place; rotation is retried.
func TestRotationFailureIsRetried(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxBytes = 600
	fails := 2
	cfg.rename = func(a, b string) error {
		if fails > 0 {
			fails--
			return &os.LinkError{Op: "rename", Old: a, New: b, Err: syscall.EIO}
		}
		return os.Rename(a, b)
	}
	l := mustNew(t, cfg)
	for i := range 10 {
		l.Log(seq(i))
	}
	l.Close()
	evs := query(t, cfg.Path, Filter{}).Events
	if len(evs) != 10 {
		t.Fatalf("%d events, want 10", len(evs))
	}
	if st := l.Stats(); st.WriteErrors != 2 || st.Rotations == 0 {
		t.Fatalf("stats %+v", st)
	}
}
