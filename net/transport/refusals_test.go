package transport

import (
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/net/wire"
	"github.com/weirmq/weir/sm"
)

// logLines collects a transport's log lines.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

// Write takes one JSON line from zerolog (one call per event).
func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(p))
	return len(p), nil
}

func (l *logLines) matching(substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, s := range l.lines {
		if strings.Contains(s, substr) {
			out = append(out, s)
		}
	}
	return out
}

// The defect: a handshake that TLS refused (no client certificate, a
// certificate from a CA this node does not trust) left no log line and no
// counter, because quic-go never hands such a connection to Accept. Each
// is now logged at warning level with the remote address and TLS's
// reason, and counted in Refused.
func TestTLSRefusalsLoggedAndCounted(t *testing.T) {
	b := newBook()
	cfg, inbox := nodeConfig(t, 101, "broker-101", true, b)
	logs := &logLines{}
	cfg.Log = zerolog.New(logs)
	broker := start(t, cfg, inbox, b)
	addr, _ := b.lookup(101)

	anon := clientTLS(t, "client-a")
	anon.Certificates = nil
	if r, err := tryRawDial(t, addr, anon, wire.Hello{Node: 1_000_001, Role: wire.RoleClient, Version: 1}); err == nil {
		_, _ = r.serverHello()
	}
	eventually(t, "the anonymous handshake counted", func() bool { return broker.Stats().Refused == 1 })
	foreign := clientTLS(t, "client-a")
	foreign.Certificates = serverTLSFrom(t, foreignDir, "broker-101").Certificates
	if r, err := tryRawDial(t, addr, foreign, wire.Hello{Node: 101, Role: wire.RoleBroker, Version: 1}); err == nil {
		_, _ = r.serverHello()
	}
	eventually(t, "the foreign handshake counted", func() bool { return broker.Stats().Refused == 2 })

	// The counter and the log line are written one after the other on the
	// accept path, so the second line may land just after the count.
	eventually(t, "both refusals logged", func() bool { return len(logs.matching("transport: refused TLS handshake")) >= 2 })
	got := logs.matching("transport: refused TLS handshake")
	if len(got) != 2 {
		t.Fatalf("refusal log lines: %q, want 2", got)
	}
	for i, want := range []string{"client didn't provide a certificate", "unknown authority"} {
		if !strings.HasPrefix(got[i], `{"level":"warn"`) || !strings.Contains(got[i], `"remote":"127.0.0.1:`) || !strings.Contains(got[i], want) {
			t.Errorf("log line %d: %q, want a warning with the remote address and %q", i, got[i], want)
		}
	}
	if s := broker.Stats(); s.Received != 0 || s.Conns != 0 {
		t.Fatalf("stats %+v", s)
	}

	// A connection that completes its handshake and then closes is not a
	// refusal.
	c := newNode(t, 1_000_002, "client-b", false, b)
	c.Send([]sm.Envelope{{To: 101, Msg: sm.MetadataRequest{ReqID: 1}}})
	broker.expect(t, 1_000_002, sm.MetadataRequest{ReqID: 1})
	c.Close()
	eventually(t, "the client's connection to end", func() bool { return broker.Stats().Conns == 0 })
	if n := broker.Stats().Refused; n != 2 {
		t.Fatalf("Refused = %d after a good connection closed, want 2", n)
	}
}
