package config

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/weirmq/weir/net/tlsutil"
)

// certs issues a CA and certificates for names in a temporary directory.
func certs(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	ca, err := tlsutil.GenerateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, err := tlsutil.IssueCert(ca, n, []string{"127.0.0.1"}); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func tlsOf(dir, name string) TLS {
	p := tlsutil.PathsFor(dir, name)
	return TLS{CAFile: p.CA, CertFile: p.Cert, KeyFile: p.Key}
}

// okBroker is a broker configuration whose files, directories and
// addresses are all usable.
func okBroker(t *testing.T) Broker {
	b := DefaultBroker()
	b.TLS = tlsOf(certs(t, "broker-101"), "broker-101")
	b.Network.QUICListen = "127.0.0.1:0"
	b.Metrics.Listen = "127.0.0.1:0"
	b.WAL.Path = filepath.Join(t.TempDir(), "wal")
	return b
}

func wantKey(t *testing.T, err error, key, detail string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), detail) {
		t.Fatalf("Preflight = %v, want %s named with %q", err, key, detail)
	}
}

func TestPreflightPasses(t *testing.T) {
	b := okBroker(t)
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := b.Preflight(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(b.WAL.Path); err != nil {
		t.Fatalf("WAL directory not created: %v", err)
	}
}

// A missing or mismatched TLS file is named by its key.
func TestPreflightTLS(t *testing.T) {
	b := okBroker(t)
	b.TLS.CAFile = filepath.Join(t.TempDir(), "nope.pem")
	wantKey(t, b.Preflight(), "tls.ca_file", "no such file or directory")

	b = okBroker(t)
	b.TLS.KeyFile = b.TLS.CAFile // a certificate is no key
	wantKey(t, b.Preflight(), "tls.cert_file", "tls.key_file")

	b = okBroker(t)
	b.Broker.ID = 102
	wantKey(t, b.Preflight(), "tls.cert_file", `named "broker-101", but this node is broker-102`)
}

// An address another process holds is named by its key, and the error says
// so in a way callers can test (weir dev's hint).
func TestPreflightAddressInUse(t *testing.T) {
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	b := okBroker(t)
	b.Network.QUICListen = udp.LocalAddr().String()
	b.Metrics.Listen = tcp.Addr().String()
	err = b.Preflight()
	wantKey(t, err, "network.quic_listen", "address already in use")
	wantKey(t, err, "metrics.listen", "address already in use")
	var pe *PreflightError
	if !errors.As(err, &pe) || !errors.Is(err, syscall.EADDRINUSE) || !errors.Is(err, ErrAddrInUse) || len(pe.InUse()) != 2 || pe.InUse()[0] != b.Network.QUICListen {
		t.Fatalf("Preflight = %#v, want a *PreflightError matching EADDRINUSE with both addresses", err)
	}

	c := DefaultController()
	c.TLS = tlsOf(certs(t, "controller-1"), "controller-1")
	c.Controller.RaftListen, c.Controller.RPCListen, c.Controller.HTTPListen = "127.0.0.1:0", udp.LocalAddr().String(), tcp.Addr().String()
	c.Controller.DataDir = t.TempDir()
	err = c.Preflight()
	wantKey(t, err, "controller.rpc_listen", "address already in use")
	wantKey(t, err, "controller.http_listen", "address already in use")
}

// A data directory that cannot be created or written is named by its key.
func TestPreflightUnwritableDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	b := okBroker(t)
	b.WAL.Path = filepath.Join(file, "wal")
	wantKey(t, b.Preflight(), "wal.path", "cannot create the directory")

	c := DefaultController()
	c.TLS = tlsOf(certs(t, "controller-1"), "controller-1")
	c.Controller.RaftListen, c.Controller.RPCListen, c.Controller.HTTPListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	c.Controller.DataDir = file
	wantKey(t, c.Preflight(), "controller.data_dir", "cannot create the directory")
}
