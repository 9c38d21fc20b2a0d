package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Goal: certs issue, rotate and register feed the cluster's certificate
// registry through the admin API, certs list --registry shows it (filters,
// formats), a revocation shows there, --local-only skips the registry, and
// an unreachable cluster leaves the certificate issued with a message
// saying it was not registered and how to register it later.
func TestCertRegistryDev(t *testing.T) {
	d := startDev(t)
	dir := d.flags[1] // --data
	ca, out := filepath.Join(dir, "certs"), filepath.Join(dir, "issued")
	cli := func(args ...string) (string, string) {
		t.Helper()
		stdout, stderr, err := d.cli(t, "", args...)
		if err != nil {
			t.Fatalf("weir %s: %v (stderr %q)", strings.Join(args, " "), err, stderr)
		}
		return stdout, stderr
	}
	registry := func(args ...string) []registryCert {
		t.Helper()
		stdout, _ := cli(append([]string{"certs", "list", "--registry", "-o", "json"}, args...)...)
		var cs []registryCert
		parseJSON(t, stdout, &cs)
		return cs
	}
	find := func(cs []registryCert, serial string) *registryCert {
		for i := range cs {
			if cs[i].Serial == serial {
				return &cs[i]
			}
		}
		return nil
	}

	var app issuedOutput
	stdout, _ := cli("certs", "issue", "--ca-dir", ca, "--principal", "app@example.com", "--role", "client", "--out", out, "--validity", "240h", "-o", "json")
	parseJSON(t, stdout, &app)
	if !app.Registry.Registered || !strings.Contains(app.Registry.Message, "registered in the cluster's certificate registry") {
		t.Fatalf("issue: registry %+v", app.Registry)
	}
	hasLines(t, func() string {
		s, _ := cli("certs", "issue", "--ca-dir", ca, "--principal", "ops@example.com", "--role", "admin", "--out", out)
		return s
	}(),
		"registered in the cluster's certificate registry ("+d.apiURL+")")
	c := find(registry(), app.Record.Serial)
	if c == nil || c.Principal != "app@example.com" || c.Role != "client" || c.Status != "active" || c.NotAfter != app.Record.NotAfter.UTC().Format("2006-01-02T15:04:05Z07:00") {
		t.Fatalf("registry after issue: %+v", c)
	}

	// --local-only skips the registry; certs register adds it later.
	var local issuedOutput
	stdout, _ = cli("certs", "issue", "--ca-dir", ca, "--principal", "batch@example.com", "--out", out, "--local-only", "-o", "json")
	parseJSON(t, stdout, &local)
	if local.Registry.Registered || !strings.Contains(local.Registry.Message, "weir certs register "+local.Certificate) || find(registry(), local.Record.Serial) != nil {
		t.Fatalf("--local-only: %+v", local.Registry)
	}
	hasLines(t, func() string { s, _ := cli("certs", "register", local.Certificate); return s }(),
		"certificate "+local.Record.Serial+" (batch@example.com) registered in the cluster's certificate registry")
	hasLines(t, func() string { s, _ := cli("certs", "register", "--cert", local.Certificate); return s }(),
		"certificate "+local.Record.Serial+" (batch@example.com) was registered already in the cluster's certificate registry")

	// Rotating registers the new serial; revoking the old one shows.
	var rotated issuedOutput
	stdout, _ = cli("certs", "rotate", app.Certificate, "--ca-dir", ca, "--out", filepath.Join(dir, "rotated"), "-o", "json")
	parseJSON(t, stdout, &rotated)
	if !rotated.Registry.Registered || find(registry(), rotated.Record.Serial) == nil {
		t.Fatalf("rotate: %+v", rotated.Registry)
	}
	cli("certs", "revoke", app.Record.Serial, "--ca-dir", ca, "--reason", "superseded", "--force")
	revoked := registry("--status", "revoked")
	if len(revoked) != 1 || revoked[0].Serial != app.Record.Serial || revoked[0].Reason != "superseded" || revoked[0].RevokedAt == "" {
		t.Fatalf("--status revoked: %+v", revoked)
	}
	if cs := registry("--status", "active", "--principal", "app@example.com"); len(cs) != 1 || cs[0].Serial != rotated.Record.Serial {
		t.Fatalf("active app@example.com: %+v", cs)
	}
	if cs := registry("--role", "admin"); len(cs) != 1 || cs[0].Principal != "ops@example.com" {
		t.Fatalf("--role admin: %+v", cs)
	}
	if cs := registry("--expiring-within", "720h"); len(cs) != 1 || cs[0].Serial != rotated.Record.Serial {
		t.Fatalf("--expiring-within 720h: %+v", cs) // the rotated one keeps the 240 h validity; the others have a year
	}
	stdout, _ = cli("certs", "list", "--registry", "-o", "csv", "--status", "revoked")
	if recs := parseCSV(t, stdout, "serial", "principal", "role", "status", "not_after", "revocation_reason", "revoked_at"); len(recs) != 1 || recs[0][3] != "revoked" || recs[0][5] != "superseded" {
		t.Fatalf("csv: %q", recs)
	}
	stdout, _ = cli("certs", "list", "--registry", "--principal", "batch@example.com")
	if rows := tableRows(stdout); len(rows) != 2 || rows[0][0] != "SERIAL" || rows[1][0] != local.Record.Serial || rows[1][3] != "active" {
		t.Fatalf("table: %q", rows)
	}
	stdout, _ = cli("certs", "list", "--registry", "-o", "yaml", "--principal", "batch@example.com")
	if !strings.Contains(stdout, "serial: "+local.Record.Serial) && !strings.Contains(stdout, `serial: "`+local.Record.Serial+`"`) {
		t.Fatalf("yaml: %q", stdout)
	}
	if _, stderr, err := d.cli(t, "", "certs", "list", "--registry", "--status", "not-yet-valid"); err == nil || !strings.Contains(err.Error(), "the registry knows active, revoked and expired") {
		t.Fatalf("--status not-yet-valid: %v %q", err, stderr)
	}

	// The admin API's read endpoints, as curl sees them.
	get := func(path string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, d.apiURL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tok, err := os.ReadFile(filepath.Join(dir, "admin-token")); err == nil {
			req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := get("/api/v1/certs/" + rotated.Record.Serial)
	var env struct {
		Success bool         `json:"success"`
		Data    registryCert `json:"data"`
	}
	err := json.NewDecoder(resp.Body).Decode(&env)
	resp.Body.Close()
	if err != nil || !env.Success || env.Data.Serial != rotated.Record.Serial || env.Data.Status != "active" {
		t.Fatalf("GET /api/v1/certs/%s: %+v %v", rotated.Record.Serial, env, err)
	}
	resp = get("/api/v1/certs/crl")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "-----BEGIN X509 CRL-----") { // weir dev signs it with its dev CA
		t.Fatalf("GET /api/v1/certs/crl: %d %s", resp.StatusCode, body)
	}

	// An unreachable cluster: issued all the same, and told how to register.
	stdout, stderr, err := runIO(t, "", "certs", "issue", "--ca-dir", ca, "--principal", "late@example.com", "--out", out, "--api-url", "http://127.0.0.1:1", "--data", dir)
	if err != nil {
		t.Fatalf("issue with the cluster unreachable: %v %q", err, stderr)
	}
	late := filepath.Join(out, "late@example.com.pem")
	for _, s := range []string{stdout, stderr} {
		if !strings.Contains(s, "NOT registered in the cluster's certificate registry") || !strings.Contains(s, "weir certs register "+late+" --api-url http://127.0.0.1:1") {
			t.Fatalf("unreachable: stdout %q stderr %q", stdout, stderr)
		}
	}
	if _, err := readLeaf(late); err != nil {
		t.Fatalf("the certificate was not written: %v", err)
	}

	var renewed issuedOutput
	stdout, _ = cli("certs", "renew", rotated.Certificate, "--ca-dir", ca, "--out", filepath.Join(dir, "renewed"), "-o", "json")
	parseJSON(t, stdout, &renewed)
	if !renewed.Registry.Registered {
		t.Fatalf("renew: %+v", renewed.Registry)
	}
	// The controller's audit log tells a rotation and a renewal from an
	// issue, naming the certificate each replaced.
	for typ, want := range map[string]string{"certificate_rotated": "a new key pair replacing " + app.Record.Serial, "certificate_renewed": "renewing " + rotated.Record.Serial} {
		if out, _ := cli("audit", "logs", "--type", typ, "-o", "json"); !strings.Contains(out, want) {
			t.Errorf("audit %s: %q, want %q", typ, out, want)
		}
	}
}
