package server

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// The defect: the transport's events reached the log as
// `transport: refused connection err={}`, because an error value went
// through zerolog's Interface, which encodes it as an empty JSON object.
// Errors print their message; other values as before.
func TestSlogToPrintsErrors(t *testing.T) {
	var buf bytes.Buffer
	logf := slogTo(zerolog.New(&buf))
	logf(slog.LevelWarn, "transport: refused connection", "remote", "127.0.0.1:5000", "err", fmt.Errorf("transport: hello: %w", errors.New("bad version")), "n", 3)
	got := strings.TrimSpace(buf.String())
	want := `{"level":"warn","remote":"127.0.0.1:5000","err":"transport: hello: bad version","n":3,"message":"transport: refused connection"}`
	if got != want {
		t.Fatalf("log line\n%s\nwant\n%s", got, want)
	}
}
