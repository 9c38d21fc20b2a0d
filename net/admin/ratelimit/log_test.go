package ratelimit

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sync"
	"testing"

	"github.com/rs/zerolog"
)

// logRecorder collects log lines.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

// Write takes one zerolog JSON event and keeps its message, checking that
// it is at info level.
func (r *logRecorder) Write(p []byte) (int, error) {
	var ev struct{ Level, Message string }
	if err := json.Unmarshal(p, &ev); err != nil {
		return 0, err
	}
	if ev.Level != "info" {
		return 0, fmt.Errorf("level %q, want info", ev.Level)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, ev.Message)
	return len(p), nil
}

// Log writes one line per request, 429s included, with the limiter's
// client IP (the forwarded one behind a trusted proxy).
func TestLog(t *testing.T) {
	cfg := DefaultConfig()
	cfg.PerIPBurstSize = 1
	cfg.TrustedProxies = []string{"10.0.0.1"}
	l, _ := newTestLimiter(t, cfg)
	rec := &logRecorder{}
	h := Log(zerolog.New(rec), true)(l.Middleware(&okHandler{}))
	serve(h, request{path: "/api/v1/topics", remote: "10.0.0.1:1", xff: []string{"203.0.113.5"}})
	serve(h, request{path: "/api/v1/topics", remote: "10.0.0.1:1", xff: []string{"203.0.113.5"}})
	serve(h, request{method: "DELETE", path: "/a%0Ab", remote: "192.0.2.1:1"})
	want := []*regexp.Regexp{
		regexp.MustCompile(`^admin: GET "/api/v1/topics" 200 [0-9.]+[µm]?s client=203\.0\.113\.5$`),
		regexp.MustCompile(`^admin: GET "/api/v1/topics" 429 [0-9.]+[µm]?s client=203\.0\.113\.5$`),
		regexp.MustCompile(`^admin: DELETE "/a\\nb" 200 [0-9.]+[µm]?s client=192\.0\.2\.1$`),
	}
	if len(rec.lines) != len(want) {
		t.Fatalf("logged %q, want %d lines", rec.lines, len(want))
	}
	for i, re := range want {
		if !re.MatchString(rec.lines[i]) {
			t.Errorf("line %d = %q, want it to match %s", i, rec.lines[i], re)
		}
	}
}

// Without a limiter inside, Log names the TCP peer; a status set by the
// handler is logged; a panic is logged as aborted and still propagates.
func TestLogWithoutLimiter(t *testing.T) {
	rec := &logRecorder{}
	h := Log(zerolog.New(rec), true)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic(http.ErrAbortHandler)
		}
		w.WriteHeader(http.StatusTeapot)
	}))
	serve(h, request{path: "/tea", remote: "[2001:db8::7]:9"})
	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("recovered %v, want the handler's panic to pass through Log", v)
			}
		}()
		serve(h, request{path: "/panic"})
	}()
	want := []*regexp.Regexp{
		regexp.MustCompile(`^admin: GET "/tea" 418 \S+ client=2001:db8::7$`),
		regexp.MustCompile(`^admin: GET "/panic" aborted \S+ client=192\.0\.2\.1$`),
	}
	if len(rec.lines) != len(want) {
		t.Fatalf("logged %q, want %d lines", rec.lines, len(want))
	}
	for i, re := range want {
		if !re.MatchString(rec.lines[i]) {
			t.Errorf("line %d = %q, want it to match %s", i, rec.lines[i], re)
		}
	}
}

// Disabled, Log is the next handler itself and logs nothing.
func TestLogDisabled(t *testing.T) {
	rec := &logRecorder{}
	next := &okHandler{}
	if h := Log(zerolog.New(rec), false)(next); h != http.Handler(next) {
		t.Fatalf("Log(false) wrapped the handler")
	}
	if h := Log(zerolog.Nop(), true)(next); h != http.Handler(next) {
		t.Fatalf("Log(zerolog.Nop()) wrapped the handler")
	}
}
