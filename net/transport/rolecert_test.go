package transport

import (
	"strings"
	"testing"
	"time"

	"github.com/weirmq/weir/net/pki"
	"github.com/weirmq/weir/net/wire"
	"github.com/weirmq/weir/sm"
)

// issue writes a certificate from the test CA for principal with role,
// under file name name in certDir.
func issue(t *testing.T, name, principal string, role pki.Role) (serial string) {
	t.Helper()
	ca, err := pki.LoadCA(certDir)
	if err != nil {
		t.Fatal(err)
	}
	is, err := ca.Issue(pki.IssueRequest{Principal: principal, Role: role, SANs: pki.SANs{IP: []string{"127.0.0.1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := is.WriteFiles(certDir, name); err != nil {
		t.Fatal(err)
	}
	return pki.SerialString(is.Cert.SerialNumber)
}

// Certificates that carry a role (net/pki) are held to it: a client
// certificate with any CommonName connects as a client and its principal
// reaches Deliver with its serial and the peer's address; one claiming a broker id, an
// admin certificate, or a broker certificate for another broker is refused.
func TestRoleCertificates(t *testing.T) {
	appSerial := issue(t, "rc-app", "app@example.com", pki.RoleClient)
	issue(t, "rc-client-as-broker", "broker-103", pki.RoleClient)
	issue(t, "rc-admin", "ops", pki.RoleAdmin)
	issue(t, "rc-broker-104", "broker-104", pki.RoleBroker)

	b := newBook()
	cfg, _ := nodeConfig(t, 101, "broker-101", true, b)
	peers := make(chan Peer, 4)
	cfg.Deliver = func(p Peer, m sm.Message) { peers <- p }
	refusals := make(chan string, 8)
	cfg.Refused = func(remote, name, reason string) { refusals <- name + ": " + reason }
	start(t, cfg, nil, b)
	app := newNode(t, 1_000_001, "rc-app", false, b)
	app.Send([]sm.Envelope{{To: 101, Msg: sm.MetadataRequest{ReqID: 1}}})
	p := <-peers
	if p.ID != 1_000_001 || p.Principal != "app@example.com" || p.Serial != appSerial || p.Addr.String() != "127.0.0.1" {
		t.Fatalf("delivered from %+v", p)
	}

	addr, _ := b.lookup(101)
	for _, c := range []struct {
		cert  string
		hello wire.Hello
		want  string
	}{
		{"rc-client-as-broker", wire.Hello{Node: 103, Role: wire.RoleBroker, Version: 1}, `certificate "broker-103" carries role client and may not act as broker 103`},
		{"rc-admin", wire.Hello{Node: 1_000_002, Role: wire.RoleClient, Version: 1}, `certificate "ops" carries role admin and may not act as client`},
		{"rc-broker-104", wire.Hello{Node: 105, Role: wire.RoleBroker, Version: 1}, `certificate "broker-104" may not act as broker 105 (want "broker-105")`},
		{"rc-app", wire.Hello{Node: 104, Role: wire.RoleBroker, Version: 1}, `carries role client and may not act as broker 104`},
	} {
		r := rawDial(t, addr, clientTLS(t, c.cert), c.hello)
		r.serverHello()
		if ae := r.closedBy(t); ae.ErrorCode != CodeIdentity || !strings.Contains(ae.ErrorMessage, c.want) {
			t.Errorf("%s as %v %d: closed with %d %q, want %q", c.cert, c.hello.Role, uint64(c.hello.Node), ae.ErrorCode, ae.ErrorMessage, c.want)
		}
		// Each refusal is reported (for the audit log), naming the
		// certificate and why.
		select {
		case got := <-refusals:
			if !strings.Contains(got, c.want) {
				t.Errorf("%s: refusal reported as %q", c.cert, got)
			}
		case <-time.After(wait):
			t.Errorf("%s: refusal not reported", c.cert)
		}
	}
}
