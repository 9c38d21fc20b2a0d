package dev

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/cmd/internal/audit"
	"github.com/weirmq/weir/cmd/internal/config"
	"github.com/weirmq/weir/cmd/internal/testnet"
	"github.com/weirmq/weir/net/pki"
	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/acl"
)

// The issue's process-level check, as far as the certificate registry
// goes today: a client certificate issued for app@example.com from the
// cluster CA, granted write on topic.events.* only, produces to events.a
// and is refused on orders with an authorization error naming it; the
// rule's removal closes events.a too (allow_everyone_if_no_acl_found is
// off). Real QUIC, real certificates, the real broker.
func TestACLsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster; skipped with -short")
	}
	o := DefaultOptions()
	o.Dir = t.TempDir()
	o.NoRateLimit = true
	o.ControllerPort, o.RaftPort, o.HTTPPort, o.BrokerPort, o.MetricsPort = testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t), 0
	sec := config.DefaultSecurity()
	sec.AllowEveryoneIfNoACLFound = false
	o.Security = &sec
	c, err := Start(o, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The certificate, from the cluster's own CA.
	ca, err := pki.LoadCA(CertDir(o.Dir))
	if err != nil {
		t.Fatal(err)
	}
	is, err := ca.Issue(pki.IssueRequest{Principal: "app@example.com", Role: pki.RoleClient})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := is.WriteFiles(CertDir(o.Dir), "app"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"events.a", "orders"} {
		resp, err := c.Node().CreateTopic(ctx, sm.CreateTopicRequest{Name: name, Partitions: 1, ReplicationFactor: 1})
		if err != nil || resp.Code != sm.CodeOK {
			t.Fatalf("create %s: %+v, %v", name, resp, err)
		}
	}
	grant, err := acl.ParseRule("app@example.com", "topic.events.*", "write", "allow", "")
	if err != nil {
		t.Fatal(err)
	}
	if r, err := c.Node().ApplyACL(ctx, acl.Command{Create: []acl.Rule{grant}}); err != nil || r.Code != sm.CodeOK {
		t.Fatalf("grant: %+v, %v", r, err)
	}

	tlsConf, err := sdk.TLSFromDir(CertDir(o.Dir), "app")
	if err != nil {
		t.Fatal(err)
	}
	// Once revoked, the broker closes the connection (requests in flight
	// fail at once with sdk.ErrConnectionLost, naming why) and refuses the
	// next handshake; the short request timeout only bounds the test.
	cl, err := sdk.NewClient(ctx, sdk.Config{Brokers: c.BrokerAddrs(), TLS: tlsConf, RequestTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	p, err := cl.NewProducer(sdk.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	send := func(topic string) error {
		_, err := p.Send(ctx, sdk.Message{Topic: topic, Value: []byte("v")})
		return err
	}
	// The grant reaches the broker with its next heartbeat.
	deadline := time.Now().Add(20 * time.Second)
	for err := send("events.a"); err != nil; err = send("events.a") {
		if time.Now().After(deadline) {
			t.Fatalf("produce to events.a: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	err = send("orders")
	var berr *sdk.BrokerError
	if !errors.As(err, &berr) || berr.Code != sm.CodeTopicAuthorizationFailed || !strings.Contains(berr.Message, `principal "app@example.com" may not write topic "orders"`) {
		t.Fatalf("produce to orders: %v, want TOPIC_AUTHORIZATION_FAILED naming app@example.com", err)
	}
	// Revoked: the live connection is closed, and it cannot reconnect.
	if r, err := c.Node().RevokeCert(ctx, pki.SerialString(is.Cert.SerialNumber), "keyCompromise"); err != nil || r.Code != sm.CodeOK {
		t.Fatalf("revoke: %+v, %v", r, err)
	}
	quick, err := cl.NewProducer(sdk.ProducerConfig{DeliveryTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer quick.Close(ctx)
	sendQuick := func() error {
		_, err := quick.Send(ctx, sdk.Message{Topic: "events.a", Value: []byte("v")})
		return err
	}
	deadline = time.Now().Add(20 * time.Second)
	err = sendQuick()
	for ; err == nil; err = sendQuick() {
		if time.Now().After(deadline) {
			t.Fatal("a revoked certificate still produces")
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The client is told why: its connection was closed for the revocation
	// (or, on a later request, the reconnect was refused for it).
	if !errors.Is(err, sdk.ErrConnectionLost) && !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("the revoked certificate's produce failed, but not for the revocation: %v", err)
	}
	rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
	if again, err := sdk.NewClient(rctx, sdk.Config{Brokers: c.BrokerAddrs(), TLS: tlsConf}); err == nil {
		again.Close()
		t.Fatal("a revoked certificate connected again")
	} else if !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("the reconnect was refused, but not for the revocation: %v", err)
	}
	rcancel()
	// A certificate from another CA is refused at the handshake.
	foreign := t.TempDir()
	other, err := pki.InitRoot(foreign, pki.CAOptions{CommonName: "Elsewhere"})
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := other.Issue(pki.IssueRequest{Principal: "mallory", Role: pki.RoleClient})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := stranger.WriteFiles(foreign, "mallory"); err != nil {
		t.Fatal(err)
	}
	strangerTLS, err := sdk.TLSFromDir(foreign, "mallory")
	if err != nil {
		t.Fatal(err)
	}
	strangerTLS.RootCAs = tlsConf.RootCAs // it trusts the cluster; the cluster does not trust it
	sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
	if scl, err := sdk.NewClient(sctx, sdk.Config{Brokers: c.BrokerAddrs(), TLS: strangerTLS}); err == nil {
		scl.Close()
		t.Fatal("a client with a certificate from another CA connected")
	}
	scancel()
	// Everything is in the audit logs: the rule change on the controller's,
	// the denial and the refused handshake on the broker's.
	for path, want := range map[string]audit.Type{c.Node().AuditLog(): audit.ACLRuleCreated, c.BrokerNode(0).AuditLog: audit.AuthorizationDenied, c.BrokerNode(0).AuditLog + "#": audit.AuthenticationFailure, c.Node().AuditLog() + "#": audit.CertificateRevoked} {
		path = strings.TrimSuffix(path, "#")
		deadline := time.Now().Add(10 * time.Second)
		for {
			res, err := audit.Query(path, audit.Filter{Types: []audit.Type{want}})
			if err == nil && len(res.Events) > 0 {
				ev := res.Events[0]
				if want == audit.AuthorizationDenied && (ev.Principal != "app@example.com" || ev.Resource != "topic:orders" || ev.Operation != "write" || ev.Source == "") {
					t.Fatalf("denial audited as %+v", ev)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %v event in %s: %v", want, path, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
