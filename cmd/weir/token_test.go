package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/cmd/internal/audit"
	"github.com/weirmq/weir/cmd/internal/dev"
	"github.com/weirmq/weir/cmd/internal/testnet"
)

// Goal: weir dev --admin-token makes the admin API require the token it
// writes to <data>/admin-token (0600): a request without it is 401, the
// CLI reads it from the data directory (or --token-file) and is served,
// and a wrong --token-file is refused.
func TestAdminToken(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster; skipped with -short")
	}
	o := dev.DefaultOptions()
	o.NoRateLimit, o.MetricsPort, o.AdminToken = true, 0, true
	o.Dir = t.TempDir()
	o.ControllerPort, o.RaftPort, o.HTTPPort, o.BrokerPort = testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t)
	c, err := dev.Start(o, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown()
	fi, err := os.Stat(o.AdminTokenFile())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
	api := "http://" + c.Controller.HTTPAddr
	resp, err := http.Get(api + "/api/v1/topics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without the token: %v", resp.Status)
	}
	flags := []string{"--data", o.Dir, "--api-url", api, "--bootstrap", c.BrokerAddrs()[0]}
	if out, errOut, err := runIO(t, "", append([]string{"create-topic", "t", "1", "1"}, flags...)...); err != nil {
		t.Fatalf("create-topic with the data directory's token: %v %q %q", err, out, errOut)
	}
	bad := t.TempDir() + "/wrong"
	if err := os.WriteFile(bad, []byte("nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, err := runIO(t, "", append([]string{"list-topics", "--token-file", bad}, flags...)...)
	if err == nil || !strings.Contains(errOut+err.Error(), "bearer token") {
		t.Fatalf("a wrong token: %v %q", err, errOut)
	}
}

// Goal (issue 11, admin API security): weir dev --admin-tls serves the
// admin API over HTTPS with mutual TLS. A caller without a certificate is
// refused; the CLI with its client certificate is served; another
// principal's certificate is held to the ACLs (refused until granted,
// the topic list filtered); a forged principal header is refused; once
// the certificate is revoked, its kept-alive connection stops being
// served; and the controller's audit log names the principals of the
// refusals and of the writes.
func TestAdminMutualTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster; skipped with -short")
	}
	o := dev.DefaultOptions()
	o.NoRateLimit, o.MetricsPort, o.AdminToken, o.AdminTLS = true, 0, false, true
	o.Dir = t.TempDir()
	o.ControllerPort, o.RaftPort, o.HTTPPort, o.BrokerPort = testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t)
	c, err := dev.Start(o, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown()
	api := c.Controller.AdminURL
	if !strings.HasPrefix(api, "https://") {
		t.Fatalf("admin URL %s", api)
	}
	certs := dev.CertDir(o.Dir)
	flags := []string{"--data", o.Dir, "--api-url", api, "--bootstrap", c.BrokerAddrs()[0]}
	cli := func(args ...string) string {
		t.Helper()
		out, errOut, err := runIO(t, "", append(args, flags...)...)
		if err != nil {
			t.Fatalf("weir %v: %v %q %q", args, err, out, errOut)
		}
		return out
	}
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(filepath.Join(certs, "ca.pem"))
	if err != nil || !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("dev CA: %v", err)
	}
	client := func(cert, key string) *http.Client {
		tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}
		if cert != "" {
			pair, err := tls.LoadX509KeyPair(cert, key)
			if err != nil {
				t.Fatal(err)
			}
			tc.Certificates = []tls.Certificate{pair}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 10 * time.Second}
	}
	get := func(hc *http.Client, path string, hdr ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", api+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	if code, body := get(client("", ""), "/api/v1/topics"); code != http.StatusUnauthorized || !strings.Contains(body, "client certificate") {
		t.Fatalf("without a certificate: %d %s", code, body)
	}
	// no rules yet, allow_everyone_if_no_acl_found: the CLI's client-cli is served
	cli("create-topic", "orders", "1", "1")
	cli("create-topic", "events.a", "1", "1")
	cli("acl", "create", "--principal", "client-cli", "--resource", "cluster", "--permissions", "all", "--effect", "allow")
	cli("acl", "create", "--principal", "client-cli", "--resource", "topic:*", "--permissions", "all", "--effect", "allow")
	cli("acl", "create", "--principal", "app@example.com", "--resource", "topic.events.*", "--permissions", "describe", "--effect", "allow")
	cli("certs", "issue", "--ca-dir", certs, "--principal", "app@example.com", "--role", "client", "--out", filepath.Join(o.Dir, "app"))
	app := client(filepath.Join(o.Dir, "app", "app@example.com.pem"), filepath.Join(o.Dir, "app", "app@example.com-key.pem"))

	if code, body := get(app, "/api/v1/brokers"); code != http.StatusForbidden || !strings.Contains(body, `principal \"app@example.com\" may not describe the cluster`) {
		t.Fatalf("app without a cluster rule: %d %s", code, body)
	}
	if code, body := get(app, "/api/v1/topics"); code != http.StatusOK || !strings.Contains(body, "events.a") || strings.Contains(body, "orders") {
		t.Fatalf("app's topic list: %d %s", code, body)
	}
	if code, body := get(app, "/api/v1/topics", "X-Weir-Principal", "client-cli"); code != http.StatusBadRequest {
		t.Fatalf("app forging client-cli: %d %s", code, body)
	}
	cli("acl", "create", "--principal", "app@example.com", "--resource", "cluster", "--permissions", "describe", "--effect", "allow")
	if code, body := get(app, "/api/v1/brokers"); code != http.StatusOK {
		t.Fatalf("app granted describe on the cluster: %d %s", code, body)
	}

	cli("certs", "revoke", "--cert", filepath.Join(o.Dir, "app", "app@example.com.pem"), "--ca-dir", certs, "--reason", "keyCompromise", "--force")
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := get(app, "/api/v1/brokers") // the same kept-alive connection
		if code == http.StatusUnauthorized && strings.Contains(body, "is revoked") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked certificate still served: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}

	cliCert := client(filepath.Join(certs, "client-cli.pem"), filepath.Join(certs, "client-cli-key.pem"))
	code, body := get(cliCert, "/api/v1/certs/crl", "Accept", "application/pkix-crl")
	crl, err := x509.ParseRevocationList([]byte(body))
	if code != http.StatusOK || err != nil {
		t.Fatalf("CRL: %d %v", code, err)
	}
	appPEM, _ := os.ReadFile(filepath.Join(o.Dir, "app", "app@example.com.pem"))
	blk, _ := pem.Decode(appPEM)
	appCert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(appCert.SerialNumber) != 0 || crl.CheckSignatureFrom(caCert(t, caPEM)) != nil {
		t.Fatalf("CRL entries %+v, want app@example.com's serial %x signed by the dev CA", crl.RevokedCertificateEntries, appCert.SerialNumber)
	}

	log := c.Node().AuditLog()
	for _, want := range []struct {
		typ       audit.Type
		principal string
	}{{audit.AuthorizationDenied, "app@example.com"}, {audit.AuthenticationFailure, "app@example.com"}, {audit.AdminWrite, "client-cli"}} {
		res, err := audit.Query(log, audit.Filter{Types: []audit.Type{want.typ}, Principal: want.principal})
		if err != nil || len(res.Events) == 0 {
			t.Errorf("no %v event for %s in %s: %v", want.typ, want.principal, log, err)
		}
	}
}

// Goal: pointing the CLI's http:// --api-url at an HTTPS admin API says so
// and gives the https URL to use, instead of "not the admin envelope".
func TestHTTPToHTTPSAdminHint(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	plain := "http://" + strings.TrimPrefix(srv.URL, "https://")
	_, errOut, err := runIO(t, "", "list-topics", "--api-url", plain, "--data", t.TempDir())
	if err == nil || !strings.Contains(errOut+err.Error(), "pass --api-url "+srv.URL) {
		t.Fatalf("want the https hint: %v %q", err, errOut)
	}
}

func caCert(t *testing.T, caPEM []byte) *x509.Certificate {
	t.Helper()
	blk, _ := pem.Decode(caPEM)
	if blk == nil {
		t.Fatal("dev CA PEM")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
