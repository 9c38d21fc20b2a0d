package main

import (
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirmq/weir/net/pki"
	"github.com/weirmq/weir/net/tlsutil"
)

// noCluster points the CLI at an admin API that refuses connections, so
// that certs issue, renew and rotate, which register what they make, never
// reach a cluster another process runs on the default port.
func noCluster(t *testing.T) {
	t.Setenv("WEIR_API_URL", "http://127.0.0.1:1")
	t.Setenv("WEIR_ADMIN_TOKEN", "")
}

func pkiOK(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := runIO(t, "", args...)
	if err != nil {
		t.Fatalf("weir %s: %v (stderr %q)", strings.Join(args, " "), err, errOut)
	}
	return out
}

func pkiFails(t *testing.T, want string, args ...string) string {
	t.Helper()
	out, _, err := runIO(t, "", args...)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("weir %s: error %v, want it to contain %q", strings.Join(args, " "), err, want)
	}
	return out
}

// Goal: ca init, ca intermediate, certs issue and certs validate round-trip
// on a temporary directory: the issued certificate verifies against the
// root, carries its principal and role, and is usable as the CLI's client
// certificate directory; a wrong role, another CA and tampering are
// refused.
func TestCARoundTrip(t *testing.T) {
	noCluster(t)
	dir := t.TempDir()
	root, clients, out := filepath.Join(dir, "root"), filepath.Join(dir, "clients"), filepath.Join(dir, "certs")

	var initOut caOutput
	parseJSON(t, pkiOK(t, "ca", "init", "--dir", root, "--cn", "Acme Root CA", "--org", "Acme", "--format", "json"), &initOut)
	if initOut.Type != "root" || initOut.Record.Subject != "CN=Acme Root CA,O=Acme" || !initOut.Record.IsCA || len(initOut.Files) != 2 {
		t.Fatalf("ca init: %+v", initOut)
	}
	if fi, err := os.Stat(filepath.Join(root, pki.CAKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode: %v %v", fi, err)
	}
	pkiFails(t, "already holds a CA", "ca", "init", "--dir", root)
	hasLines(t, pkiOK(t, "ca", "intermediate", "--dir", clients, "--root-dir", root, "--cn", "Acme Clients CA"),
		`intermediate CA "Acme Clients CA" created in `+clients, "issuer                CN=Acme Root CA,O=Acme")
	pkiFails(t, "hint: make the CA first", "ca", "intermediate", "--dir", filepath.Join(dir, "x"), "--root-dir", filepath.Join(dir, "nope"))

	rows := tableRows(pkiOK(t, "ca", "list", "--dir", dir))
	if len(rows) != 3 || rows[1][1] != "intermediate" || rows[2][1] != "root" || rows[1][7] != "active" {
		t.Fatalf("ca list: %q", rows)
	}
	recs := parseCSV(t, pkiOK(t, "ca", "list", "--dir", root, "-o", "csv"), "dir", "type", "subject", "serial", "not_after", "status", "fingerprint_sha256")
	if len(recs) != 1 || recs[0][1] != "root" {
		t.Fatalf("ca list csv: %q", recs)
	}

	var issued issuedOutput
	parseJSON(t, pkiOK(t, "certs", "issue", "--ca-dir", clients, "--principal", "app@example.com", "--role", "client",
		"--san", "email:app@example.com", "--validity", "2160h", "--out", out, "-o", "json"), &issued)
	r := issued.Record
	if r.Principal != "app@example.com" || r.Role != pki.RoleClient || r.Issuer != "CN=Acme Clients CA" || !slices.Equal(r.SANs.Email, []string{"app@example.com"}) ||
		r.NotAfter.Sub(r.NotBefore) != 2160*time.Hour+5*time.Minute || issued.Certificate != filepath.Join(out, "app@example.com.pem") || issued.Key != filepath.Join(out, "app@example.com-key.pem") {
		t.Fatalf("certs issue: %+v", issued)
	}
	// the output directory is a client certificate directory the SDK loads
	if _, err := tlsutil.LoadClientConfig(tlsutil.PathsFor(out, "app@example.com")); err != nil {
		t.Fatalf("issued directory does not load as a client TLS config: %v", err)
	}
	pkiFails(t, "never overwritten", "certs", "issue", "--ca-dir", clients, "--principal", "app@example.com", "--out", out)

	cert := issued.Certificate
	hasLines(t, pkiOK(t, "certs", "validate", cert, "--ca-dir", clients, "--role", "client"), "result     VALID",
		"chain      CN=app@example.com -> CN=Acme Clients CA -> CN=Acme Root CA,O=Acme")
	// the root alone validates too: the file carries the intermediate
	var res pki.Result
	json.Unmarshal([]byte(pkiOK(t, "certs", "validate", "--cert-file", cert, "--ca-dir", root, "-o", "json")), &res)
	if !res.Valid || len(res.Chain) != 3 {
		t.Fatalf("validate against the root: %+v", res)
	}
	out2 := pkiFails(t, "is not valid", "certs", "validate", cert, "--ca-dir", clients, "--role", "broker")
	hasLines(t, out2, "result     INVALID")
	other := filepath.Join(dir, "other")
	pkiOK(t, "ca", "init", "--dir", other)
	pkiFails(t, "unknown", "certs", "validate", cert, "--ca-dir", other)
	b, _ := os.ReadFile(cert)
	tampered := filepath.Join(dir, "tampered.pem")
	os.WriteFile(tampered, []byte(strings.Replace(string(b), "M", "N", 1)), 0o644)
	pkiFails(t, "", "certs", "validate", tampered, "--ca-dir", clients)

	// bad input names the flag
	pkiFails(t, "--role: ", "certs", "issue", "--ca-dir", clients, "--principal", "x", "--role", "king", "--out", out)
	pkiFails(t, "--san: ", "certs", "issue", "--ca-dir", clients, "--principal", "x", "--san", "dns:bad_name!", "--out", out)
	pkiFails(t, "--validity", "certs", "issue", "--ca-dir", clients, "--principal", "x", "--validity", "-1h", "--out", out)
	pkiFails(t, "--ca-dir is required", "certs", "issue", "--principal", "x", "--out", out)
	var shortCA caOutput
	parseJSON(t, pkiOK(t, "ca", "init", "--dir", filepath.Join(dir, "y"), "--validity-years", "2", "-o", "json"), &shortCA)
	if d := shortCA.Record.NotAfter.Sub(shortCA.Record.NotBefore); d != 2*365*24*time.Hour+5*time.Minute {
		t.Fatalf("--validity-years 2: %v", d)
	}
	pkiFails(t, "--validity-days 0", "certs", "issue", "--ca-dir", clients, "--principal", "x", "--validity-days", "0", "--out", out)
	pkiFails(t, "--key-algorithm: ", "ca", "init", "--dir", filepath.Join(dir, "k"), "--key-algorithm", "dsa")
}

// Goal: status, renew, rotate, expiring, list and revoke work on files;
// a revocation shows in list, status and validate through the CA's CRL.
func TestCertsLifecycle(t *testing.T) {
	noCluster(t)
	dir := t.TempDir()
	ca, out := filepath.Join(dir, "ca"), filepath.Join(dir, "certs")
	pkiOK(t, "ca", "init", "--dir", ca)
	pkiOK(t, "certs", "issue", "--ca-dir", ca, "--principal", "broker-1", "--role", "broker", "--san", "broker-1.local", "--san", "10.0.0.5", "--out", out, "--validity", "240h")
	pkiOK(t, "certs", "issue", "--ca-dir", ca, "--principal", "app", "--out", out)
	cert := filepath.Join(out, "broker-1.pem")

	hasLines(t, pkiOK(t, "certs", "status", cert), "status                active", "role                  broker",
		"sans                  dns:broker-1.local,ip:10.0.0.5", "expires in            9 days")

	var renewed issuedOutput
	parseJSON(t, pkiOK(t, "certs", "renew", "--ca-dir", ca, "--cert", cert, "--out", filepath.Join(dir, "renewed"), "-o", "json"), &renewed)
	old := pki.RecordOf(mustLeaf(t, cert))
	if renewed.Record.Replaces != old.Serial || renewed.Record.PublicKey != old.PublicKey || renewed.Record.Serial == old.Serial {
		t.Fatalf("renew: %+v (old %s)", renewed.Record, old.Serial)
	}
	if _, err := tlsutil.LoadClientConfig(tlsutil.PathsFor(filepath.Join(dir, "renewed"), "broker-1")); err != nil {
		t.Fatalf("renewed directory (old key copied): %v", err)
	}
	var rotated issuedOutput
	parseJSON(t, pkiOK(t, "certs", "rotate", cert, "--ca-dir", ca, "--out", filepath.Join(dir, "rotated"), "-o", "json"), &rotated)
	if rotated.Record.Replaces != old.Serial || rotated.Record.PublicKey == old.PublicKey || rotated.Key == "" || !strings.Contains(rotated.Note, "certs revoke "+old.Serial) {
		t.Fatalf("rotate: %+v", rotated)
	}
	pkiFails(t, "never overwritten", "certs", "rotate", cert, "--ca-dir", ca, "--out", out)

	// expiring: the broker certificates (10 days) but not app's (a year)
	recs := parseCSV(t, pkiOK(t, "certs", "expiring", "--dir", dir, "--within", "720h", "-o", "csv"), "file", "principal", "role", "serial", "not_after", "expires_in")
	var files []string
	for _, r := range recs {
		files = append(files, r[0])
	}
	slices.Sort(files)
	if !slices.Equal(files, []string{cert, filepath.Join(dir, "renewed", "broker-1.pem"), filepath.Join(dir, "rotated", "broker-1.pem")}) {
		t.Fatalf("expiring: %q", recs)
	}
	pkiFails(t, "--within", "certs", "expiring", "--dir", dir, "--within", "0s")
	if recs := parseCSV(t, pkiOK(t, "certs", "expiring", "--dir", dir, "--days", "5", "-o", "csv"), "file", "principal", "role", "serial", "not_after", "expires_in"); len(recs) != 0 {
		t.Fatalf("expiring --days 5: %q", recs)
	}

	// list reads the CA's index: 4 certificates
	rows := tableRows(pkiOK(t, "certs", "list", "--ca-dir", ca))
	if len(rows) != 5 {
		t.Fatalf("list: %q", rows)
	}
	recs = parseCSV(t, pkiOK(t, "certs", "list", "--ca-dir", ca, "--role", "client", "-o", "csv"), "serial", "principal", "role", "status", "not_after", "revocation_reason", "replaces")
	if len(recs) != 1 || recs[0][1] != "app" {
		t.Fatalf("list --role client: %q", recs)
	}
	pkiFails(t, "--ca-dir is required", "certs", "list")

	// revoke: confirmation, then index, CRL, validate and status agree
	pkiFails(t, "pass --force to revoke", "certs", "revoke", old.Serial, "--ca-dir", ca, "--reason", "key-compromise")
	hasLines(t, pkiOK(t, "certs", "revoke", old.Serial, "--ca-dir", ca, "--reason", "key-compromise", "--force", "--local-only"),
		"certificate "+old.Serial+" (broker-1) revoked: keyCompromise; CRL "+filepath.Join(ca, crlFile)+" written (number 1, 1 entries)")
	recs = parseCSV(t, pkiOK(t, "certs", "list", "--ca-dir", ca, "--status", "revoked", "-o", "csv"), "serial", "principal", "role", "status", "not_after", "revocation_reason", "replaces")
	if len(recs) != 1 || recs[0][0] != old.Serial || recs[0][5] != "keyCompromise" {
		t.Fatalf("list --status revoked: %q", recs)
	}
	pkiFails(t, "revoked", "certs", "validate", cert, "--ca-dir", ca)
	hasLines(t, pkiOK(t, "certs", "status", cert, "--ca-dir", ca), "status                revoked")
	pkiOK(t, "certs", "validate", filepath.Join(dir, "rotated", "broker-1.pem"), "--ca-dir", ca)
	// by file, a second revocation: the CRL is renumbered and lists both
	pkiOK(t, "certs", "revoke", "--cert", filepath.Join(dir, "rotated", "broker-1.pem"), "--ca-dir", ca, "--reason", "superseded", "-f", "--local-only")
	b, _ := os.ReadFile(filepath.Join(ca, crlFile))
	caObj, err := pki.LoadCA(ca)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := pki.VerifyCRL(b, caObj.Cert, time.Now())
	if err != nil || crl.Number.Int64() != 2 || len(crl.Entries) != 2 {
		t.Fatalf("CRL: %+v %v", crl, err)
	}
	pkiFails(t, "already revoked", "certs", "revoke", old.Serial, "--ca-dir", ca, "--reason", "superseded", "-f")
	pkiFails(t, "is not in", "certs", "revoke", "abcdef", "--ca-dir", ca, "-f")
	pkiFails(t, "serial \"xyz\"", "certs", "revoke", "xyz", "--ca-dir", ca, "-f")
	pkiFails(t, "--reason: ", "certs", "revoke", old.Serial, "--ca-dir", ca, "--reason", "bored", "-f")
	other := filepath.Join(dir, "other")
	pkiOK(t, "ca", "init", "--dir", other)
	pkiFails(t, "was not issued by the CA", "certs", "revoke", "--cert", cert, "--ca-dir", other, "-f")
}

func mustLeaf(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	c, err := readLeaf(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
