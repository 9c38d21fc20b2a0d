package tlsutil

import (
	"crypto/tls"
	"errors"
	"io/fs"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// handshake runs a TLS handshake over loopback TCP and returns what each side
// saw of the other. TLS 1.3 clients finish their handshake before the server
// has checked their certificate, so each side also exchanges a byte: that is
// where the server's verdict surfaces on the client.
func handshake(t *testing.T, server, client *tls.Config) (serverSaw, clientSaw tls.ConnectionState, serverErr, clientErr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		raw, err := ln.Accept()
		if err != nil {
			serverErr = err
			return
		}
		raw.SetDeadline(time.Now().Add(10 * time.Second))
		s := tls.Server(raw, server)
		defer s.Close()
		if serverErr = s.Handshake(); serverErr == nil {
			if _, serverErr = s.Read(make([]byte, 1)); serverErr == nil {
				_, serverErr = s.Write([]byte{2})
			}
		}
		serverSaw = s.ConnectionState()
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	c := tls.Client(raw, client)
	if clientErr = c.Handshake(); clientErr == nil {
		if _, clientErr = c.Write([]byte{1}); clientErr == nil {
			_, clientErr = c.Read(make([]byte, 1))
		}
	}
	clientSaw = c.ConnectionState()
	c.Close()
	<-done
	return serverSaw, clientSaw, serverErr, clientErr
}

func issue(t *testing.T, ca *CA, name string, hosts ...string) Paths {
	t.Helper()
	p, err := IssueCert(ca, name, hosts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A broker and a client from one CA authenticate each other, each learns
// the other's name, and the connection is TLS 1.3 with ALPN weir/1.
func TestMutualTLS(t *testing.T) {
	ca, err := GenerateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	broker, client := issue(t, ca, "broker-101", "127.0.0.1", "localhost"), issue(t, ca, "client-xyz")
	sc, err := LoadServerConfig(broker)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := LoadClientConfig(client)
	if err != nil {
		t.Fatal(err)
	}
	cc.ServerName = "localhost"
	ss, cs, serr, cerr := handshake(t, sc, cc)
	if serr != nil {
		t.Fatalf("server: %v", serr)
	}
	if cerr != nil {
		t.Fatalf("client: %v", cerr)
	}
	if name, err := PeerName(ss); err != nil || name != "client-xyz" {
		t.Fatalf("server saw %q, %v", name, err)
	}
	if name, err := PeerName(cs); err != nil || name != "broker-101" {
		t.Fatalf("client saw %q, %v", name, err)
	}
	if cs.Version != tls.VersionTLS13 || cs.NegotiatedProtocol != NextProto {
		t.Fatalf("version %x, ALPN %q", cs.Version, cs.NegotiatedProtocol)
	}
}

// A client without a certificate, or with one from another CA, is refused by
// the server, and PeerName never yields an identity for it.
func TestServerRefusesUnauthenticatedClients(t *testing.T) {
	ca, _ := GenerateCA(t.TempDir())
	other, _ := GenerateCA(t.TempDir())
	sc, _ := LoadServerConfig(issue(t, ca, "broker-101", "127.0.0.1"))
	foreign := issue(t, other, "broker-102")
	foreign.CA = PathsFor(ca.Dir, "x").CA // trusts the right CA, presents a foreign certificate

	anon, _ := LoadClientConfig(issue(t, ca, "client-a"))
	anon.Certificates = nil
	stranger, err := LoadClientConfig(foreign)
	if err != nil {
		t.Fatal(err)
	}
	for name, cc := range map[string]*tls.Config{"no certificate": anon, "foreign CA": stranger} {
		cc.ServerName = "127.0.0.1"
		ss, _, serr, _ := handshake(t, sc, cc)
		if serr == nil {
			t.Fatalf("%s: server accepted", name)
		}
		if n, err := PeerName(ss); err == nil {
			t.Fatalf("%s: identity %q", name, n)
		}
	}
}

// The client checks the server's name against the host it dialled.
func TestClientChecksServerName(t *testing.T) {
	ca, _ := GenerateCA(t.TempDir())
	sc, _ := LoadServerConfig(issue(t, ca, "broker-101", "10.0.0.1"))
	cc, _ := LoadClientConfig(issue(t, ca, "client-a"))
	cc.ServerName = "127.0.0.1"
	if _, _, _, cerr := handshake(t, sc, cc); cerr == nil {
		t.Fatal("client accepted a server certificate for another host")
	}
}

func TestGenerateCARefusesOverwriteAndLoadCAIssues(t *testing.T) {
	dir := t.TempDir()
	ca, err := GenerateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateCA(dir); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second GenerateCA: %v", err)
	}
	again, err := LoadCA(dir)
	if err != nil || !again.Cert.Equal(ca.Cert) {
		t.Fatalf("LoadCA: %v", err)
	}
	p := issue(t, again, "controller-1", "127.0.0.1")
	if _, err := LoadServerConfig(p); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p.Key)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v, %v", st.Mode(), err)
	}
	if _, err := LoadCA(t.TempDir()); err == nil {
		t.Fatal("LoadCA of an empty dir succeeded")
	}
}

func TestIssueCertRejectsBadNames(t *testing.T) {
	ca, _ := GenerateCA(t.TempDir())
	for _, name := range []string{"", "ca", "../x", "a/b", ".hidden", "-x", strings.Repeat("a", 65)} {
		if _, err := IssueCert(ca, name, nil); err == nil {
			t.Errorf("IssueCert(%q) succeeded", name)
		}
	}
}
