package pki

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"
	"testing"
	"time"
)

// t0 is the fixed "now" of most tests; CAs start a day before it.
var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return t0 }

func newRoot(t *testing.T) *CA {
	t.Helper()
	ca, err := NewRoot(CAOptions{CommonName: "Test Root", NotBefore: t0.Add(-24 * time.Hour), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func newIntermediate(t *testing.T, root *CA, cn string) *CA {
	t.Helper()
	ca, err := root.NewIntermediate(CAOptions{CommonName: cn, NotBefore: t0.Add(-24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func issue(t *testing.T, ca *CA, req IssueRequest) *Issued {
	t.Helper()
	is, err := ca.Issue(req)
	if err != nil {
		t.Fatal(err)
	}
	return is
}

// forge signs an arbitrary template with ca, for certificates Issue would
// never make (two roles, wrong key usage).
func forge(t *testing.T, ca *CA, tmpl *x509.Certificate) *x509.Certificate {
	t.Helper()
	key, err := GenerateKey(ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber, _ = newSerial()
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = t0.Add(-time.Hour), t0.Add(time.Hour)
	}
	if tmpl.Subject.CommonName == "" && len(tmpl.Subject.Organization) == 0 {
		tmpl.Subject = pkix.Name{CommonName: "forged"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wantErr(t *testing.T, err error, substr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", substr)
	}
	if !strings.Contains(err.Error(), substr) {
		t.Fatalf("error %q does not contain %q", err, substr)
	}
}
