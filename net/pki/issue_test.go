package pki

import (
	"crypto/x509"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Each role gets its key usage and reads back unambiguously; SANs and the
// subject survive; the role URI is not among the SANs.
func TestIssueRoles(t *testing.T) {
	ca := newRoot(t)
	for _, tc := range []struct {
		role   Role
		server bool
	}{
		{RoleBroker, true}, {RoleController, true}, {RoleClient, false}, {RoleAdmin, false},
	} {
		t.Run(string(tc.role), func(t *testing.T) {
			sans := SANs{DNS: []string{"b1.example.com"}, IP: []string{"10.0.0.5", "::1"}, Email: []string{"ops@example.com"}, URI: []string{"spiffe://example.com/b1"}}
			is := issue(t, ca, IssueRequest{Principal: "p-" + string(tc.role), Role: tc.role, SANs: sans, OrganizationalUnit: []string{"eng"}})
			c := is.Cert
			if r, err := RoleOf(c); err != nil || r != tc.role {
				t.Fatalf("RoleOf = %q, %v", r, err)
			}
			hasServer := slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
			if hasServer != tc.server || !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
				t.Fatalf("ext key usage %v for %s", c.ExtKeyUsage, tc.role)
			}
			if c.IsCA || c.KeyUsage != x509.KeyUsageDigitalSignature {
				t.Fatalf("IsCA %v key usage %v", c.IsCA, c.KeyUsage)
			}
			rec := is.Record()
			if rec.Principal != "p-"+string(tc.role) || rec.Role != tc.role || rec.Subject != "CN=p-"+string(tc.role)+",OU=eng" {
				t.Fatalf("record %+v", rec)
			}
			if !slices.Equal(rec.SANs.DNS, sans.DNS) || !slices.Equal(rec.SANs.IP, sans.IP) || !slices.Equal(rec.SANs.Email, sans.Email) || !slices.Equal(rec.SANs.URI, sans.URI) {
				t.Fatalf("SANs %+v, want %+v", rec.SANs, sans)
			}
			if !rec.NotBefore.Equal(t0.Add(-backdate)) || !rec.NotAfter.Equal(t0.Add(CertValidity)) {
				t.Fatalf("window %v..%v", rec.NotBefore, rec.NotAfter)
			}
			if res := Validate(is.CertPEM, ca.Trust(), ValidateOptions{Now: t0, Role: tc.role}); !res.Valid {
				t.Fatal(res.Err())
			}
		})
	}
}

func TestIssueRefusals(t *testing.T) {
	ca := newRoot(t)
	ok := IssueRequest{Principal: "app", Role: RoleClient}
	with := func(f func(*IssueRequest)) IssueRequest { r := ok; f(&r); return r }
	for _, tc := range []struct {
		name string
		req  IssueRequest
		want string
	}{
		{"empty principal", with(func(r *IssueRequest) { r.Principal = "" }), "empty principal"},
		{"long principal", with(func(r *IssueRequest) { r.Principal = strings.Repeat("a", 65) }), "more than 64"},
		{"control char", with(func(r *IssueRequest) { r.Principal = "a\nb" }), "unprintable"},
		{"padded", with(func(r *IssueRequest) { r.Principal = " a" }), "starts or ends with a space"},
		{"no role", with(func(r *IssueRequest) { r.Role = "" }), "unknown role"},
		{"bad role", with(func(r *IssueRequest) { r.Role = "root" }), `unknown role "root"`},
		{"bad dns", with(func(r *IssueRequest) { r.SANs.DNS = []string{"a..b"} }), "is not a host name"},
		{"bad ip", with(func(r *IssueRequest) { r.SANs.IP = []string{"10.0.0.300"} }), "does not parse"},
		{"bad email", with(func(r *IssueRequest) { r.SANs.Email = []string{"Bob <bob@example.com>"} }), "not a bare ASCII address"},
		{"relative uri", with(func(r *IssueRequest) { r.SANs.URI = []string{"/path"} }), "absolute"},
		{"role uri", with(func(r *IssueRequest) { r.SANs.URI = []string{"weir://role/broker"} }), "reserved for the certificate's role"},
		{"inverted", with(func(r *IssueRequest) { r.NotBefore, r.NotAfter = t0, t0 }), "is not after not-before"},
		{"outlives ca", with(func(r *IssueRequest) { r.Validity = 11 * 365 * 24 * time.Hour }), "after that of the issuing CA"},
		{"bad key", with(func(r *IssueRequest) { r.KeyAlgorithm = "rsa-1024" }), "unknown key algorithm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ca.Issue(tc.req)
			wantErr(t, err, tc.want)
		})
	}
}

func TestParseSANs(t *testing.T) {
	got, err := ParseSANs([]string{"broker-01", "192.168.1.100", "dns:b.example.com", "ip:::1", "app@example.com", "email:x@y.z", "spiffe://td/app", "uri:urn:weir:x"})
	if err != nil {
		t.Fatal(err)
	}
	want := SANs{DNS: []string{"broker-01", "b.example.com"}, IP: []string{"192.168.1.100", "::1"}, Email: []string{"app@example.com", "x@y.z"}, URI: []string{"spiffe://td/app", "urn:weir:x"}}
	if !slices.Equal(got.DNS, want.DNS) || !slices.Equal(got.IP, want.IP) || !slices.Equal(got.Email, want.Email) || !slices.Equal(got.URI, want.URI) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for _, bad := range []string{"ip:nope", "under_score", "dns:-x", "email:nobody", "uri:weir://role/admin", "*.*.example.com"} {
		if _, err := ParseSANs([]string{bad}); err == nil {
			t.Errorf("ParseSANs(%q) succeeded", bad)
		}
	}
	if s, err := ParseSANs([]string{"*.example.com"}); err != nil || s.DNS[0] != "*.example.com" {
		t.Errorf("wildcard: %+v %v", s, err)
	}
}

// RoleOf refuses certificates whose role cannot be read unambiguously.
func TestRoleOfRefusals(t *testing.T) {
	ca := newRoot(t)
	u := func(s string) *url.URL { v, _ := url.Parse(s); return v }
	for _, tc := range []struct {
		name string
		uris []*url.URL
		want error
		msg  string
	}{
		{"none", nil, ErrNoRole, "no weir://role/"},
		{"other uri only", []*url.URL{u("spiffe://x/y")}, ErrNoRole, "carries no role"},
		{"two", []*url.URL{u("weir://role/client"), u("weir://role/broker")}, ErrBadRole, "2 role URIs"},
		{"same twice", []*url.URL{u("weir://role/client"), u("weir://role/client")}, ErrBadRole, "2 role URIs"},
		{"unknown", []*url.URL{u("weir://role/root")}, ErrBadRole, "weir://role/root"},
		{"query", []*url.URL{u("weir://role/client?x=broker")}, ErrBadRole, "is not one of"},
		{"nested", []*url.URL{u("weir://role/client/broker")}, ErrBadRole, "is not one of"},
		{"host case", []*url.URL{u("weir://ROLE/broker")}, ErrBadRole, "is not one of"},
		{"other weir uri", []*url.URL{u("weir://node/101"), u("weir://role/client")}, ErrBadRole, "2 role URIs"},
		{"scheme case", []*url.URL{u("WEIR://role/admin")}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := forge(t, ca, &x509.Certificate{URIs: tc.uris})
			_, err := RoleOf(c)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("RoleOf: %v, want %v", err, tc.want)
			}
			wantErr(t, err, tc.msg)
		})
	}
}

// An intermediate's certificates carry the intermediate after the leaf.
func TestIssueFromIntermediate(t *testing.T) {
	root := newRoot(t)
	sub := newIntermediate(t, root, "Clients CA")
	is := issue(t, sub, IssueRequest{Principal: "app@example.com", Role: RoleClient})
	certs, err := ParseCertificates(is.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 2 || !certs[1].Equal(sub.Cert) {
		t.Fatalf("%d certificates in the PEM", len(certs))
	}
	if rec := is.Record(); rec.Issuer != "CN=Clients CA" || rec.AuthorityKeyID != sub.Record().SubjectKeyID || rec.AuthorityKeyID == "" {
		t.Fatalf("issuer %q aki %q ca ski %q", rec.Issuer, rec.AuthorityKeyID, sub.Record().SubjectKeyID)
	}
	// The root alone is enough to validate it: the file brings the chain.
	if res := Validate(is.CertPEM, Trust{Roots: root.Trust().Roots}, ValidateOptions{Now: t0}); !res.Valid {
		t.Fatal(res.Err())
	}
}

func TestWriteFiles(t *testing.T) {
	ca := newRoot(t)
	dir := t.TempDir()
	is := issue(t, ca, IssueRequest{Principal: "broker-101", Role: RoleBroker})
	certPath, keyPath, err := is.WriteFiles(dir, "broker-101")
	if err != nil {
		t.Fatal(err)
	}
	if m := mode(t, keyPath); m != 0o600 {
		t.Errorf("key mode %#o, want 0600", m)
	}
	if certPath != filepath.Join(dir, "broker-101.pem") || keyPath != filepath.Join(dir, "broker-101-key.pem") {
		t.Fatalf("paths %s %s", certPath, keyPath)
	}
	data, _ := os.ReadFile(keyPath)
	key, err := ParseKey(data)
	if err != nil || !publicKeyEqual(key.Public(), is.Cert.PublicKey) {
		t.Fatalf("key read back: %v", err)
	}
	again := issue(t, ca, IssueRequest{Principal: "broker-101", Role: RoleBroker})
	if _, _, err := again.WriteFiles(dir, "broker-101"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("overwrite: %v", err)
	}
	if got, _ := os.ReadFile(keyPath); string(got) != string(data) {
		t.Fatal("the key was overwritten")
	}
	for _, bad := range []string{"", "ca", "chain", "../x", ".hidden", "x-key", "a/b"} {
		if _, _, err := is.WriteFiles(dir, bad); err == nil {
			t.Errorf("WriteFiles(%q) succeeded", bad)
		}
	}
}

// Renew keeps the key, subject, role and SANs; rotate keeps all but the
// key. Both get a new serial and window.
func TestRenewAndRotate(t *testing.T) {
	ca := newRoot(t)
	old := issue(t, ca, IssueRequest{
		Principal: "broker-101", Role: RoleBroker, Organization: []string{"Acme"},
		SANs:      SANs{DNS: []string{"b101.example.com"}, IP: []string{"10.1.2.3"}},
		NotBefore: t0.Add(-30 * 24 * time.Hour), Validity: 40 * 24 * time.Hour,
	})
	ca.Now = func() time.Time { return t0.Add(5 * 24 * time.Hour) }
	renewed, err := ca.Renew(old.Cert, RenewRequest{})
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := ca.Rotate(old.Cert, RenewRequest{Validity: 90 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	o, rn, rt := old.Record(), renewed.Record(), rotated.Record()
	if rn.Replaces != o.Serial || rt.Replaces != o.Serial || o.Replaces != "" {
		t.Fatalf("Replaces: %q %q %q", rn.Replaces, rt.Replaces, o.Replaces)
	}
	if renewed.Key != nil || renewed.KeyPEM != nil {
		t.Fatal("Renew made a key")
	}
	if rn.PublicKey != o.PublicKey {
		t.Fatal("Renew changed the public key")
	}
	if rt.PublicKey == o.PublicKey || rotated.Key == nil || !publicKeyEqual(rotated.Key.Public(), rotated.Cert.PublicKey) {
		t.Fatal("Rotate kept the public key or returned a key that is not the certificate's")
	}
	for _, r := range []Record{rn, rt} {
		if r.Serial == o.Serial || r.Fingerprint == o.Fingerprint {
			t.Fatal("same serial or fingerprint after renewal")
		}
		if r.Subject != o.Subject || r.Role != o.Role || !slices.Equal(r.SANs.DNS, o.SANs.DNS) || !slices.Equal(r.SANs.IP, o.SANs.IP) || r.KeyAlgorithm != o.KeyAlgorithm {
			t.Fatalf("renewal changed identity: %+v vs %+v", r, o)
		}
	}
	now := t0.Add(5 * 24 * time.Hour)
	if !rn.NotBefore.Equal(now.Add(-backdate)) || !rn.NotAfter.Equal(now.Add(-backdate+40*24*time.Hour)) {
		t.Fatalf("renewed window %v..%v, want the old 40 days from now", rn.NotBefore, rn.NotAfter)
	}
	if !rt.NotAfter.Equal(now.Add(90 * 24 * time.Hour)) {
		t.Fatalf("rotated not-after %v", rt.NotAfter)
	}
	// The renewal is valid where the old one is not (Renew's key is the
	// old key, which the holder still has).
	later := ValidateOptions{Now: t0.Add(20 * 24 * time.Hour), Role: RoleBroker}
	if res := ValidateCert(old.Cert, ca.Trust(), later); res.Valid || !res.Has(ProblemExpired) {
		t.Fatalf("old certificate at day 20: %+v", res)
	}
	if res := ValidateCert(renewed.Cert, ca.Trust(), later); !res.Valid {
		t.Fatal(res.Err())
	}
}

func TestRenewRefusals(t *testing.T) {
	ca, other := newRoot(t), newRoot(t)
	foreign := issue(t, other, IssueRequest{Principal: "x", Role: RoleClient})
	_, err := ca.Renew(foreign.Cert, RenewRequest{})
	wantErr(t, err, "was not issued by CA")
	_, err = ca.Rotate(foreign.Cert, RenewRequest{})
	wantErr(t, err, "was not issued by CA")
	_, err = ca.Renew(ca.Cert, RenewRequest{})
	wantErr(t, err, "is a CA")
	noRole := forge(t, ca, &x509.Certificate{})
	_, err = ca.Renew(noRole, RenewRequest{})
	wantErr(t, err, "carries no role")
	mine := issue(t, ca, IssueRequest{Principal: "x", Role: RoleClient})
	_, err = ca.Rotate(mine.Cert, RenewRequest{KeyAlgorithm: "nope"})
	wantErr(t, err, "unknown key algorithm")
	_, err = ca.Renew(mine.Cert, RenewRequest{Validity: 50 * 365 * 24 * time.Hour})
	wantErr(t, err, "after that of the issuing CA")
}
