package pki

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net/url"
	"testing"
)

func TestPrincipalRules(t *testing.T) {
	ca := newRoot(t)
	full := issue(t, ca, IssueRequest{
		Principal: "App One", Role: RoleClient, Organization: []string{"Example"}, OrganizationalUnit: []string{"Payments"},
		SANs: SANs{DNS: []string{"app.example.com", "alt.example.com"}, Email: []string{"app@example.com"}, URI: []string{"spiffe://example.com/ns/app"}},
	}).Cert
	bare := issue(t, ca, IssueRequest{Principal: "bare", Role: RoleBroker}).Cert
	comma := issue(t, ca, IssueRequest{Principal: "Doe, Jane", Role: RoleClient, OrganizationalUnit: []string{"HR"}}).Cert
	noCN := forge(t, ca, &x509.Certificate{Subject: pkix.Name{Organization: []string{"X"}}, URIs: []*url.URL{RoleURI(RoleClient)}})
	if got := SubjectString(full); got != "CN=App One,OU=Payments,O=Example" {
		t.Fatalf("subject %q", got)
	}
	for _, tc := range []struct {
		rule string
		cert *x509.Certificate
		want string // principal, or error substring after "!"
	}{
		{"", full, "App One"},
		{"cn", full, "App One"},
		{"DEFAULT", full, "App One"},
		{"cn", noCN, "!has no common name"},
		{"san-email", full, "app@example.com"},
		{"SAN:email", full, "app@example.com"},
		{"san-email", bare, "!no email SAN"},
		{"san-dns", full, "app.example.com"},
		{"san-dns", bare, "!no DNS SAN"},
		{"san-uri", full, "spiffe://example.com/ns/app"},
		{"san-uri", bare, "!no URI SAN (besides its role)"},
		{`regex:^CN=(.*?),OU=(.*?),.*$:${2}/$1`, full, "Payments/App One"},
		{`regex:CN=([^,]*),OU=Payments,O=(?:Example):$1`, full, "App One"}, // anchored; (?:...) has a ':'
		{`regex:CN=([^,]*):$1`, full, "!does not match principal rule"},    // anchored: OU and O follow
		{`regex:CN=(.*?),OU=.*:$2`, full, "!to an empty principal"},
		{`regex:CN=Doe\\, (.*),OU=HR:$1`, comma, "Jane"}, // RFC 2253 escapes the comma
		{`RULE:^CN=(.*?),OU=(.*?),O=(.*?)$/$1@$3/L`, full, "app one@example"},
		{`RULE:^CN=(.*?),OU=.*$/$1/U`, full, "APP ONE"},
		{`RULE:^CN=(.*?),OU=(.*)$/$2\/$1/`, full, "Payments,O=Example/App One"},
		{`RULE:^CN=x$/y/`, full, "!does not match"},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			r, err := ParsePrincipalRule(tc.rule)
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.Principal(tc.cert)
			if tc.want[0] == '!' {
				wantErr(t, err, tc.want[1:])
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Principal = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestParsePrincipalRuleErrors(t *testing.T) {
	long := make([]byte, 2000)
	for i := range long {
		long[i] = 'a'
	}
	for in, want := range map[string]string{
		"uid":                   `unknown principal rule "uid"`,
		"regex:abc":             "want regex:<re>:<replacement>",
		"regex::$1":             "empty regular expression",
		"regex:(a):":            "empty replacement",
		"regex:(a:$1":           "bad regular expression",
		"RULE:abc":              "want RULE:<re>/<replacement>/",
		"RULE:a/b":              "want RULE:<re>/<replacement>/",
		"RULE:a/b/X":            "optional L or U",
		"RULE:(/x/":             "bad regular expression",
		"RULE:/x/":              "empty regular expression",
		"regex:" + string(long): "more than 1024",
	} {
		_, err := ParsePrincipalRule(in)
		wantErr(t, err, want)
	}
	_, err := ParsePrincipalMapper("cn", "bogus")
	wantErr(t, err, "principal rule 2: ")
}

func TestPrincipalMapper(t *testing.T) {
	ca := newRoot(t)
	withEmail := issue(t, ca, IssueRequest{Principal: "a", Role: RoleClient, SANs: SANs{Email: []string{"a@x.io"}}}).Cert
	without := issue(t, ca, IssueRequest{Principal: "b", Role: RoleClient}).Cert
	m, err := ParsePrincipalMapper("san-email", "RULE:^CN=(b)$/user-$1/")
	if err != nil {
		t.Fatal(err)
	}
	if p, err := m.Principal(withEmail); err != nil || p != "a@x.io" {
		t.Fatalf("first rule: %q %v", p, err)
	}
	if p, err := m.Principal(without); err != nil || p != "user-b" {
		t.Fatalf("second rule: %q %v", p, err)
	}
	strict, _ := ParsePrincipalMapper("san-email", "san-dns")
	_, err = strict.Principal(without)
	wantErr(t, err, "no principal rule applies: certificate has no email SAN; certificate has no DNS SAN")
	var none PrincipalMapper
	if p, err := none.Principal(without); err != nil || p != "b" {
		t.Fatalf("empty mapper: %q %v", p, err)
	}
}

func TestRequireRole(t *testing.T) {
	ca := newRoot(t)
	client := issue(t, ca, IssueRequest{Principal: "broker-101", Role: RoleClient}).Cert
	if err := RequireRole(client, RoleClient); err != nil {
		t.Fatal(err)
	}
	wantErr(t, RequireRole(client, RoleBroker), `("broker-101") is a client certificate and may not act as broker`)
	wantErr(t, RequireRole(forge(t, ca, &x509.Certificate{}), RoleBroker), "carries no role")
}
