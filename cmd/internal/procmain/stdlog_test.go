package procmain

import (
	"bytes"
	"encoding/json"
	stdlog "log"
	"strings"
	"testing"

	"github.com/weirmq/weir/cmd/internal/config"
)

// What libraries write to the standard library's global logger (quic-go's
// UDP buffer warning) lands in the process logger's writer, as a warning
// in the configured format, until restored.
func TestCaptureStdlogRoutesToTheProcessLogger(t *testing.T) {
	var buf, prev bytes.Buffer
	orig := stdlog.Writer()
	stdlog.SetOutput(&prev)
	defer stdlog.SetOutput(orig)
	log := newLogger(config.Log{Level: "warn", Format: "json"}, &buf)
	restore := CaptureStdlog(log)
	stdlog.Printf("failed to sufficiently increase receive buffer size (was: %d kiB)", 208)
	restore()
	stdlog.Print("after restore")

	var ev struct{ Level, Component, Message, Time string }
	line := strings.TrimSpace(buf.String())
	if err := json.Unmarshal([]byte(line), &ev); err != nil {
		t.Fatalf("captured %q: %v", line, err)
	}
	if ev.Level != "warn" || ev.Component != "stdlog" || ev.Message != "failed to sufficiently increase receive buffer size (was: 208 kiB)" || ev.Time == "" {
		t.Errorf("captured %+v, want a timestamped warning from component stdlog", ev)
	}
	if strings.Contains(buf.String(), "after restore") || !strings.Contains(prev.String(), "after restore") {
		t.Errorf("restore did not give the standard logger its writer back: process log %q, previous writer %q", buf.String(), prev.String())
	}

	// A process logging errors only drops the warning.
	buf.Reset()
	restore = CaptureStdlog(newLogger(config.Log{Level: "error", Format: "json"}, &buf))
	stdlog.Print("dropped")
	restore()
	if buf.Len() != 0 {
		t.Errorf("an error-level process logger wrote %q", buf.String())
	}
}
