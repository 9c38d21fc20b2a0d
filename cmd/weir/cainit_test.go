package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/cmd/internal/config"
	"github.com/weirmq/weir/cmd/internal/dev"
	"github.com/weirmq/weir/cmd/internal/testnet"
	"github.com/weirmq/weir/sdk"
)

// Goal (issue 11, "Done means"): the cluster runs on a CA made with `weir
// ca init`; a client certificate for app@example.com issued from it (and
// registered) is granted write on topic.events.* only, with
// allow_everyone_if_no_acl_found off: producing to events.a works, to
// orders fails with an authorization error naming it; once `weir certs
// revoke` revokes it, its live connection is closed (the next request
// fails at once, naming the revocation) and it cannot connect again.
func TestCAInitCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster; skipped with -short")
	}
	dir := t.TempDir()
	certs := dev.CertDir(dir)
	if out, errOut, err := runIO(t, "", "ca", "init", "--dir", certs, "--cn", "Acme Root CA", "--org", "Acme"); err != nil {
		t.Fatalf("ca init: %v %q %q", err, out, errOut)
	}
	o := dev.DefaultOptions()
	o.Dir, o.NoRateLimit, o.MetricsPort = dir, true, 0
	o.ControllerPort, o.RaftPort, o.HTTPPort, o.BrokerPort = testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t)
	sec := config.DefaultSecurity()
	sec.AllowEveryoneIfNoACLFound = false
	o.Security = &sec
	c, err := dev.Start(o, zerolog.Nop()) // node certificates from the CA weir ca init made
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown()
	api := c.Controller.AdminURL
	flags := []string{"--data", dir, "--api-url", api, "--bootstrap", c.BrokerAddrs()[0]}
	cli := func(stdin string, args ...string) (string, error) {
		t.Helper()
		out, errOut, err := runIO(t, stdin, append(args, flags...)...)
		if err != nil {
			err = errors.New(err.Error() + ": " + errOut)
		}
		return out + errOut, err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := cli("", args...)
		if err != nil {
			t.Fatalf("weir %v: %v", args, err)
		}
		return out
	}
	must("create-topic", "events.a", "1", "1")
	must("create-topic", "orders", "1", "1")
	app := filepath.Join(dir, "app")
	if out := must("certs", "issue", "--ca-dir", certs, "--principal", "app@example.com", "--role", "client", "--out", app); !strings.Contains(out, "registered") {
		t.Fatalf("certs issue did not register: %q", out)
	}
	must("acl", "create", "--principal", "app@example.com", "--resource", "topic.events.*", "--permissions", "write", "--effect", "allow")

	tlsConf, err := sdk.TLSFromDir(app, "app@example.com")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client, err := sdk.NewClient(ctx, sdk.Config{Brokers: c.BrokerAddrs(), TLS: tlsConf})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	p, err := client.NewProducer(sdk.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	send := func(topic string) error {
		sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
		defer scancel()
		_, err := p.Send(sctx, sdk.Message{Topic: topic, Partition: 0, Value: []byte("hello")})
		return err
	}
	deadline := time.Now().Add(15 * time.Second)
	for { // brokers learn the rule with their next metadata update
		err := send("events.a")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("produce to events.a: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := send("orders"); err == nil || !strings.Contains(err.Error(), "TOPIC_AUTHORIZATION_FAILED") || !strings.Contains(err.Error(), "app@example.com") {
		t.Fatalf("produce to orders: %v", err)
	}

	must("certs", "revoke", "--cert", filepath.Join(app, "app@example.com.pem"), "--ca-dir", certs, "--reason", "keyCompromise", "--force")
	deadline = time.Now().Add(15 * time.Second)
	for {
		err := send("events.a")
		if err != nil && (errors.Is(err, sdk.ErrConnectionLost) || strings.Contains(err.Error(), "revoked")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the revoked certificate's connection still produces: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	defer ccancel()
	if again, err := sdk.NewClient(cctx, sdk.Config{Brokers: c.BrokerAddrs(), TLS: tlsConf}); err == nil {
		again.Close()
		t.Fatal("a revoked certificate connected again")
	} else if !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("reconnect refused, but not for the revocation: %v", err)
	}
}
