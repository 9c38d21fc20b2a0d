package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/weirmq/weir/net/tlsutil"
)

// handshake runs a TLS 1.3 handshake over loopback TCP and exchanges a byte
// each way (a TLS 1.3 client finishes before the server has judged its
// certificate; the exchange surfaces the verdict).
func handshake(t *testing.T, server, client *tls.Config) (serverSaw tls.ConnectionState, serverErr, clientErr error) {
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
	c.Close()
	<-done
	return serverSaw, serverErr, clientErr
}

func pair(t *testing.T, is *Issued) tls.Certificate {
	t.Helper()
	p, err := tls.X509KeyPair(is.CertPEM, is.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// revocations is a registry stand-in: a mutable set behind a lock.
type revocations struct {
	mu  sync.Mutex
	set map[string]string
}

func (r *revocations) revoke(c *x509.Certificate, reason Reason) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.set == nil {
		r.set = map[string]string{}
	}
	r.set[SerialString(c.SerialNumber)] = string(reason)
}

func (r *revocations) check(serial *big.Int) (bool, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	reason, ok := r.set[SerialString(serial)]
	return ok, reason
}

func TestHandshakeRevocation(t *testing.T) {
	root := newRoot(t)
	root.Now = time.Now // real handshakes check real time
	sub, err := root.NewIntermediate(CAOptions{CommonName: "Clients CA"})
	if err != nil {
		t.Fatal(err)
	}
	broker := issue(t, root, IssueRequest{Principal: "broker-101", Role: RoleBroker, SANs: SANs{DNS: []string{"localhost"}}})
	client := issue(t, sub, IssueRequest{Principal: "app", Role: RoleClient, SANs: SANs{Email: []string{"app@example.com"}}})
	pool := x509.NewCertPool()
	pool.AddCert(root.Cert)

	var reg revocations
	mk := func(cfg *tls.Config) *tls.Config {
		out, err := EnforceRevocation(cfg, reg.check)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	server := mk(&tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{pair(t, broker)}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool})
	cl := mk(&tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{pair(t, client)}, RootCAs: pool, ServerName: "localhost"})

	saw, serr, cerr := handshake(t, server, cl)
	if serr != nil || cerr != nil {
		t.Fatalf("handshake: server %v, client %v", serr, cerr)
	}
	mapper, _ := ParsePrincipalMapper("san-email")
	id, err := PeerIdentity(saw, mapper)
	if err != nil || id.Principal != "app@example.com" || id.Role != RoleClient || id.Serial.Cmp(client.Cert.SerialNumber) != 0 {
		t.Fatalf("PeerIdentity = %+v, %v", id, err)
	}
	if err := CheckConnection(saw, reg.check); err != nil {
		t.Fatal(err)
	}

	// Revoked while connected: a recheck of the live connection refuses it.
	reg.revoke(client.Cert, ReasonKeyCompromise)
	err = CheckConnection(saw, reg.check)
	if !errors.Is(err, ErrRevoked) {
		t.Fatalf("recheck: %v", err)
	}
	wantErr(t, err, `certificate `+SerialString(client.Cert.SerialNumber)+` ("app") is revoked (keyCompromise)`)
	// And it cannot reconnect.
	_, serr, cerr = handshake(t, server, cl)
	if !errors.Is(serr, ErrRevoked) || cerr == nil {
		t.Fatalf("revoked client: server %v, client %v", serr, cerr)
	}

	// A revoked intermediate refuses every certificate under it.
	var reg2 revocations
	reg2.revoke(sub.Cert, ReasonCACompromise)
	server2, _ := EnforceRevocation(server, reg2.check) // chains onto the first check, which still refuses the client
	_, serr, _ = handshake(t, server2, cl)
	wantErr(t, serr, "is revoked")
	other := issue(t, sub, IssueRequest{Principal: "other", Role: RoleClient})
	cl2 := cl.Clone()
	cl2.Certificates = []tls.Certificate{pair(t, other)}
	_, serr, _ = handshake(t, server2, cl2)
	wantErr(t, serr, `issuing CA `+SerialString(sub.Cert.SerialNumber)+` ("Clients CA") is revoked (cACompromise)`)

	// A revoked server fails the client's handshake.
	reg.revoke(broker.Cert, ReasonSuperseded)
	plain := server.Clone()
	plain.VerifyConnection = nil
	_, _, cerr = handshake(t, plain, cl2)
	if !errors.Is(cerr, ErrRevoked) {
		t.Fatalf("revoked server: client %v", cerr)
	}
	wantErr(t, cerr, `("broker-101") is revoked (superseded)`)
}

func TestEnforceRevocationArgs(t *testing.T) {
	_, err := EnforceRevocation(nil, func(*big.Int) (bool, string) { return false, "" })
	wantErr(t, err, "nil tls.Config")
	_, err = EnforceRevocation(&tls.Config{}, nil)
	wantErr(t, err, "nil revocation checker")
	prev := errors.New("earlier check")
	cfg, err := EnforceRevocation(&tls.Config{VerifyConnection: func(tls.ConnectionState) error { return prev }}, func(*big.Int) (bool, string) { return false, "" })
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.VerifyConnection(tls.ConnectionState{}); err != prev {
		t.Fatalf("the earlier VerifyConnection was dropped: %v", err)
	}
	if err := CheckConnection(tls.ConnectionState{}, func(*big.Int) (bool, string) { return true, "" }); err != nil {
		t.Fatalf("no certificate: %v", err)
	}
}

func TestPeerIdentityRefusals(t *testing.T) {
	ca := newRoot(t)
	c := issue(t, ca, IssueRequest{Principal: "x", Role: RoleClient}).Cert
	_, err := PeerIdentity(tls.ConnectionState{}, nil)
	wantErr(t, err, "presented no certificate")
	_, err = PeerIdentity(tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}}, nil)
	wantErr(t, err, "was not verified")
	noRole := forge(t, ca, &x509.Certificate{})
	_, err = PeerIdentity(tls.ConnectionState{PeerCertificates: []*x509.Certificate{noRole}, VerifiedChains: [][]*x509.Certificate{{noRole, ca.Cert}}}, nil)
	wantErr(t, err, "carries no role")
	m, _ := ParsePrincipalMapper("san-dns")
	_, err = PeerIdentity(tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}, VerifiedChains: [][]*x509.Certificate{{c, ca.Cert}}}, m)
	wantErr(t, err, "no DNS SAN")
}

// A certificate issued here, written beside a root made here, loads through
// net/tlsutil's configs and handshakes with the names the transport expects.
func TestTLSUtilCompatible(t *testing.T) {
	dir := t.TempDir()
	root, err := InitRoot(dir, CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []struct {
		name string
		role Role
		dns  []string
	}{{"broker-101", RoleBroker, []string{"localhost"}}, {"client-app", RoleClient, nil}} {
		is := issue(t, root, IssueRequest{Principal: n.name, Role: n.role, SANs: SANs{DNS: n.dns}})
		if _, _, err := is.WriteFiles(dir, n.name); err != nil {
			t.Fatal(err)
		}
	}
	sc, err := tlsutil.LoadServerConfig(tlsutil.PathsFor(dir, "broker-101"))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := tlsutil.LoadClientConfig(tlsutil.PathsFor(dir, "client-app"))
	if err != nil {
		t.Fatal(err)
	}
	cc.ServerName = "localhost"
	saw, serr, cerr := handshake(t, sc, cc)
	if serr != nil || cerr != nil {
		t.Fatalf("server %v client %v", serr, cerr)
	}
	if name, err := tlsutil.PeerName(saw); err != nil || name != "client-app" {
		t.Fatalf("PeerName %q %v", name, err)
	}
	if id, err := PeerIdentity(saw, nil); err != nil || id.Principal != "client-app" || id.Role != RoleClient {
		t.Fatalf("PeerIdentity %+v %v", id, err)
	}
}
