package procmain

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirmq/weir/cmd/internal/config"
	"github.com/weirmq/weir/io/wal"
	"github.com/weirmq/weir/net/tlsutil"
)

// brokerTOML writes a broker.toml whose certificates exist and whose
// addresses are free; tests break one key with a WEIR_ override.
func brokerTOML(t *testing.T) (path, certDir string) {
	t.Helper()
	dir := t.TempDir()
	certDir = filepath.Join(dir, "certs")
	ca, err := tlsutil.GenerateCA(certDir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := tlsutil.IssueCert(ca, "broker-101", []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "broker.toml")
	doc := fmt.Sprintf("[tls]\nca_file = %q\ncert_file = %q\nkey_file = %q\n\n[network]\nquic_listen = \"127.0.0.1:0\"\n\n[metrics]\nlisten = \"\"\n\n[wal]\npath = %q\n",
		p.CA, p.Cert, p.Key, filepath.Join(dir, "wal"))
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, certDir
}

// Start problems that come from a key's value exit 1 naming the key, as
// README promises, not 2 with a bare start failure.
func TestStartProblemsExitOneNamingTheKey(t *testing.T) {
	path, _ := brokerTOML(t)
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  []string
		want []string
	}{
		{"missing TLS file", []string{"WEIR_TLS_CERT_FILE=" + filepath.Join(t.TempDir(), "gone.pem")}, []string{"tls.cert_file", "no such file"}},
		{"port in use", []string{"WEIR_NETWORK_QUIC_LISTEN=" + udp.LocalAddr().String()}, []string{"network.quic_listen", "address already in use"}},
		{"unwritable WAL path", []string{"WEIR_WAL_PATH=" + filepath.Join(file, "wal")}, []string{"wal.path", "cannot create the directory"}},
		{"unknown variable", []string{"WEIR_WAL_FSYNC=true"}, []string{"WEIR_WAL_FSYNC"}},
		{"bad value", []string{"WEIR_BROKER_ID=7"}, []string{"broker.id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := Broker([]string{"--config", path}, tt.env, &stderr)
			if code != ExitConfig {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, ExitConfig, stderr.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}

func TestControllerStartProblemsExitOne(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	env := []string{"WEIR_CONTROLLER_HTTP_LISTEN=" + tcp.Addr().String(), "WEIR_TLS_CA_FILE=/nonexistent/ca.pem",
		"WEIR_TLS_CERT_FILE=/nonexistent/c.pem", "WEIR_TLS_KEY_FILE=/nonexistent/c-key.pem", "WEIR_CONTROLLER_DATA_DIR=" + t.TempDir()}
	var stderr bytes.Buffer
	if code := Controller(nil, env, &stderr); code != ExitConfig {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, ExitConfig, stderr.String())
	}
	for _, w := range []string{"tls.ca_file", "controller.http_listen", "address already in use"} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
		}
	}
}

// Console logs written to a file carry no ANSI colour codes.
func TestConsoleLogToFileHasNoColour(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	log := newLogger(config.Log{Level: "info", Format: "console"}, f)
	log.Error().Str("node", "broker-101").Msg("wal full")
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "wal full") || strings.Contains(string(b), "\x1b[") {
		t.Fatalf("log file holds %q, want the message without escape codes", b)
	}
}

// A WAL directory another broker process holds is a start problem its key
// explains: exit 1 naming wal.path, not 2.
func TestLockedWALExitsOneNamingTheKey(t *testing.T) {
	path, _ := brokerTOML(t)
	walDir := filepath.Join(filepath.Dir(path), "wal")
	w, _, err := wal.Open(wal.DefaultConfig(walDir))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var stderr bytes.Buffer
	code := Broker([]string{"--config", path}, nil, &stderr)
	if code != ExitConfig || !strings.Contains(stderr.String(), "wal.path") || !strings.Contains(stderr.String(), "in use by another process") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
}
