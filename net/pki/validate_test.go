package pki

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weirmq/weir/net/tlsutil"
)

// Validate reports each problem with a message that names it.
func TestValidate(t *testing.T) {
	root := newRoot(t)
	sub := newIntermediate(t, root, "Sub CA")
	foreign := newRoot(t)
	day := 24 * time.Hour

	broker := issue(t, root, IssueRequest{Principal: "broker-101", Role: RoleBroker})
	client := issue(t, root, IssueRequest{Principal: "broker-102", Role: RoleClient}) // a client named like a broker
	expired := issue(t, root, IssueRequest{Principal: "old", Role: RoleClient, NotBefore: t0.Add(-10 * day), NotAfter: t0.Add(-day)})
	future := issue(t, root, IssueRequest{Principal: "new", Role: RoleClient, NotBefore: t0.Add(day), NotAfter: t0.Add(10 * day)})
	alien := issue(t, foreign, IssueRequest{Principal: "broker-101", Role: RoleBroker})
	viaSub := issue(t, sub, IssueRequest{Principal: "app", Role: RoleClient})
	revoked := issue(t, root, IssueRequest{Principal: "gone", Role: RoleClient})
	checked := issue(t, root, IssueRequest{Principal: "gone2", Role: RoleAdmin})

	// An intermediate that expired: its leaf is in date, the chain is not.
	oldSub, err := root.NewIntermediate(CAOptions{CommonName: "Old Sub", NotBefore: t0.Add(-20 * day), NotAfter: t0.Add(-day)})
	if err != nil {
		t.Fatal(err)
	}
	// forged ones (Issue never makes them)
	u, _ := url.Parse("weir://role/broker")
	uc, _ := url.Parse("weir://role/client")
	orphanCert := forge(t, oldSub, &x509.Certificate{
		URIs: []*url.URL{uc}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	})
	orphan := &Issued{CertPEM: append(pemEncode("CERTIFICATE", orphanCert.Raw), oldSub.ChainPEM()...)}
	clientUsageBroker := forge(t, root, &x509.Certificate{
		URIs: []*url.URL{u}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	})
	legacyDir := t.TempDir()
	legacyCA, err := tlsutil.GenerateCA(legacyDir)
	if err != nil {
		t.Fatal(err)
	}
	paths, err := tlsutil.IssueCert(legacyCA, "broker-101", nil)
	if err != nil {
		t.Fatal(err)
	}
	legacyPEM, _ := os.ReadFile(paths.Cert)
	legacyTrust, err := ParseTrust(pemEncode("CERTIFICATE", legacyCA.Cert.Raw))
	if err != nil {
		t.Fatal(err)
	}

	set, err := NewRevokedSet([]Revocation{
		{Serial: SerialString(revoked.Cert.SerialNumber), Reason: ReasonKeyCompromise, At: t0.Add(-time.Hour)},
		{Serial: SerialString(sub.Cert.SerialNumber), Reason: ReasonCACompromise, At: t0.Add(-2 * time.Hour)},
	})
	if err != nil {
		t.Fatal(err)
	}
	checker := func(serial *big.Int) (bool, string) {
		return serial.Cmp(checked.Cert.SerialNumber) == 0, "superseded"
	}

	trust := root.Trust()
	for _, tc := range []struct {
		name  string
		pem   []byte
		trust Trust
		opts  ValidateOptions
		want  map[ProblemKind]string // kind -> message substring; empty: valid
	}{
		{name: "valid broker", pem: broker.CertPEM, opts: ValidateOptions{Role: RoleBroker}},
		{name: "valid, any role", pem: client.CertPEM},
		{name: "expired", pem: expired.CertPEM, want: map[ProblemKind]string{
			ProblemExpired: "expired at 2026-05-31T12:00:00Z"}},
		{name: "not yet valid", pem: future.CertPEM, want: map[ProblemKind]string{
			ProblemNotYetValid: "is not valid until 2026-06-02T12:00:00Z"}},
		{name: "foreign CA", pem: alien.CertPEM, want: map[ProblemKind]string{
			ProblemUnknownCA: `signed by an unknown CA (issuer "CN=Test Root")`}},
		{name: "revoked", pem: revoked.CertPEM, opts: ValidateOptions{Revoked: set}, want: map[ProblemKind]string{
			ProblemRevoked: `("gone") was revoked (keyCompromise) at 2026-06-01T11:00:00Z`}},
		{name: "revoked by checker", pem: checked.CertPEM, opts: ValidateOptions{Revoked: set, Checker: checker}, want: map[ProblemKind]string{
			ProblemRevoked: `("gone2") is revoked (superseded)`}},
		{name: "wrong role", pem: broker.CertPEM, opts: ValidateOptions{Role: RoleController}, want: map[ProblemKind]string{
			ProblemRole: `wrong role: certificate ` + SerialString(broker.Cert.SerialNumber) + ` ("broker-101") is a broker certificate, want controller`}},
		{name: "client claiming broker", pem: client.CertPEM, opts: ValidateOptions{Role: RoleBroker}, want: map[ProblemKind]string{
			ProblemRole: `("broker-102") is a client certificate, want broker`}},
		{name: "via intermediate, chain in file", pem: viaSub.CertPEM, trust: Trust{Roots: trust.Roots}},
		{name: "via intermediate, chain in trust", pem: pemEncode("CERTIFICATE", viaSub.Cert.Raw), trust: sub.Trust()},
		{name: "via intermediate, no chain", pem: pemEncode("CERTIFICATE", viaSub.Cert.Raw), trust: Trust{Roots: trust.Roots}, want: map[ProblemKind]string{
			ProblemUnknownCA: `issuer "CN=Sub CA"`}},
		{name: "revoked intermediate", pem: viaSub.CertPEM, opts: ValidateOptions{Revoked: set}, want: map[ProblemKind]string{
			ProblemRevoked: `issuing CA ` + SerialString(sub.Cert.SerialNumber) + ` ("Sub CA") was revoked (cACompromise)`}},
		{name: "expired intermediate", pem: orphan.CertPEM, want: map[ProblemKind]string{
			ProblemChain: `issuing CA "CN=Old Sub" is not valid at 2026-06-01T12:00:00Z`}},
		{name: "role and key usage disagree", pem: pemEncode("CERTIFICATE", clientUsageBroker.Raw), want: map[ProblemKind]string{
			ProblemKeyUsage: "lacks the extended key usage serverAuth a broker needs"}},
		{name: "CA as leaf", pem: pemEncode("CERTIFICATE", sub.Cert.Raw), want: map[ProblemKind]string{
			ProblemIsCA: "is a CA certificate"}},
		{name: "a trusted root as leaf", pem: pemEncode("CERTIFICATE", root.Cert.Raw), opts: ValidateOptions{Revoked: set, Checker: checker}, want: map[ProblemKind]string{
			ProblemIsCA: "is a CA certificate"}},
		{name: "no role (tlsutil certificate)", pem: legacyPEM, trust: legacyTrust, opts: ValidateOptions{Now: time.Now()}, want: map[ProblemKind]string{
			ProblemRole: "carries no role"}},
		{name: "everything at once", pem: expired.CertPEM, trust: foreign.Trust(), opts: ValidateOptions{Role: RoleBroker, Checker: func(*big.Int) (bool, string) { return true, "" }}, want: map[ProblemKind]string{
			ProblemExpired: "expired at", ProblemUnknownCA: "unknown CA", ProblemRole: "want broker", ProblemRevoked: "revoked (unspecified)"}},
		{name: "garbage", pem: []byte("hello"), want: map[ProblemKind]string{
			ProblemMalformed: "no PEM certificate found"}},
		{name: "corrupt DER", pem: pemEncode("CERTIFICATE", []byte{0x30, 0x03, 1, 2, 3}), want: map[ProblemKind]string{
			ProblemMalformed: "PEM block 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.trust.Roots == nil {
				tc.trust = trust
			}
			if tc.opts.Now.IsZero() {
				tc.opts.Now = t0
			}
			res := Validate(tc.pem, tc.trust, tc.opts)
			if res.Valid != (len(tc.want) == 0) || res.Valid != (res.Err() == nil) {
				t.Fatalf("valid %v, problems %+v", res.Valid, res.Problems)
			}
			if len(res.Problems) != len(tc.want) {
				t.Fatalf("problems %+v, want kinds %v", res.Problems, tc.want)
			}
			for _, p := range res.Problems {
				want, ok := tc.want[p.Kind]
				if !ok || !strings.Contains(p.Message, want) {
					t.Fatalf("problem %s: %q, want %q", p.Kind, p.Message, want)
				}
			}
			if tc.want[ProblemMalformed] == "" && (res.Record == nil || res.Record.Serial == "") {
				t.Fatal("no record for a parsed certificate")
			}
			if res.Valid && len(res.Chain) < 2 {
				t.Fatalf("chain %v", res.Chain)
			}
		})
	}
}

func TestValidateFileAndTrust(t *testing.T) {
	root := newRoot(t)
	sub := newIntermediate(t, root, "Sub")
	is := issue(t, sub, IssueRequest{Principal: "c", Role: RoleClient})
	dir := t.TempDir()
	certPath, _, err := is.WriteFiles(dir, "c")
	if err != nil {
		t.Fatal(err)
	}
	bundle := append(pemEncode("CERTIFICATE", root.Cert.Raw), sub.ChainPEM()...)
	trust, err := ParseTrust(bundle)
	if err != nil || len(trust.Roots) != 1 || len(trust.Intermediates) != 1 {
		t.Fatalf("ParseTrust: %+v %v", trust, err)
	}
	res, err := ValidateFile(certPath, trust, ValidateOptions{Now: t0, Role: RoleClient})
	if err != nil || !res.Valid {
		t.Fatalf("ValidateFile: %v %v", err, res.Err())
	}
	if want := []string{"CN=c", "CN=Sub", "CN=Test Root"}; strings.Join(res.Chain, "|") != strings.Join(want, "|") {
		t.Fatalf("chain %v", res.Chain)
	}
	if _, err := ValidateFile(filepath.Join(dir, "missing.pem"), trust, ValidateOptions{}); err == nil {
		t.Fatal("ValidateFile of a missing file")
	}
	_, err = ParseTrust(is.CertPEM)
	wantErr(t, err, "is not a CA certificate")
	_, err = ParseTrust(sub.ChainPEM())
	wantErr(t, err, "no self-signed root")
	_, err = ParseTrust(nil)
	wantErr(t, err, "no PEM certificate")
}

// Chains that break the CA rules: an intermediate under a path-length-0
// CA, and a leaf acting as a CA.
func TestValidateChainRules(t *testing.T) {
	root := newRoot(t)
	sub := newIntermediate(t, root, "Sub CA") // path length 0
	role, _ := url.Parse("weir://role/client")
	leafTmpl := func() *x509.Certificate {
		return &x509.Certificate{URIs: []*url.URL{role}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	}
	signWith := func(parent *x509.Certificate, parentKey *CA, tmpl *x509.Certificate) (*x509.Certificate, *CA) {
		key, err := GenerateKey(ECDSAP256)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.SerialNumber, _ = newSerial()
		tmpl.NotBefore, tmpl.NotAfter = t0.Add(-time.Hour), t0.Add(time.Hour)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey.Key)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c, &CA{Cert: c, Key: key}
	}
	// sub signs a CA although its path length is 0.
	deeper, deeperCA := signWith(sub.Cert, sub, &x509.Certificate{
		Subject: pkix.Name{CommonName: "Too Deep"}, IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	})
	tooDeep, _ := signWith(deeper, deeperCA, leafTmpl())
	res := ValidateCert(tooDeep, Trust{Roots: []*x509.Certificate{root.Cert}, Intermediates: []*x509.Certificate{sub.Cert, deeper}}, ValidateOptions{Now: t0})
	if res.Valid || !res.Has(ProblemChain) || !strings.Contains(res.Err().Error(), "too many intermediates") {
		t.Fatalf("path length violation: %+v", res.Problems)
	}
	// A leaf signs a certificate.
	leaf := issue(t, root, IssueRequest{Principal: "leaf", Role: RoleClient})
	leafCA := &CA{Cert: leaf.Cert, Key: leaf.Key}
	underLeaf, _ := signWith(leaf.Cert, leafCA, leafTmpl())
	res = ValidateCert(underLeaf, Trust{Roots: []*x509.Certificate{root.Cert}, Intermediates: []*x509.Certificate{leaf.Cert}}, ValidateOptions{Now: t0})
	// (crypto/x509 skips non-CA candidates, so no chain is found at all)
	if res.Valid || !res.Has(ProblemUnknownCA) || !strings.Contains(res.Err().Error(), `unknown CA (issuer "CN=leaf")`) {
		t.Fatalf("leaf as CA: %+v", res.Problems)
	}
}
