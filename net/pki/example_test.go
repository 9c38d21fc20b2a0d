package pki_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/weirmq/weir/net/pki"
)

// The lifecycle the controller and `weir ca|certs` drive: a root and an
// intermediate on disk, a client certificate, validation, revocation
// recorded in the registry, the CRL, and the same certificate refused.
func Example() {
	dir, _ := os.MkdirTemp("", "pki-example")
	defer os.RemoveAll(dir)

	root, err := pki.InitRoot(filepath.Join(dir, "root"), pki.CAOptions{CommonName: "Acme Root CA", Organization: []string{"Acme"}})
	if err != nil {
		panic(err)
	}
	clients, err := root.InitIntermediate(filepath.Join(dir, "clients"), pki.CAOptions{CommonName: "Acme Clients CA"})
	if err != nil {
		panic(err)
	}
	is, err := clients.Issue(pki.IssueRequest{
		Principal: "app@example.com",
		Role:      pki.RoleClient,
		SANs:      pki.SANs{Email: []string{"app@example.com"}},
		Validity:  90 * 24 * time.Hour,
	})
	if err != nil {
		panic(err)
	}
	rec := is.Record() // what the registry stores, through raft
	fmt.Println(rec.Subject, rec.Role, rec.Issuer, rec.StatusAt(time.Now()))

	trust := root.Trust() // what every node trusts: the root
	res := pki.Validate(is.CertPEM, trust, pki.ValidateOptions{Role: pki.RoleClient})
	fmt.Println("valid:", res.Valid, "chain:", res.Chain)

	reason, _ := pki.ParseReason("key-compromise")
	if err := rec.Revoke(reason, time.Now()); err != nil {
		panic(err)
	}
	crlPEM, err := clients.CreateCRL(pki.Revocations([]pki.Record{rec}, clients.Record().SubjectKeyID), pki.CRLOptions{Number: 1})
	if err != nil {
		panic(err)
	}
	crl, err := pki.VerifyCRL(crlPEM, clients.Cert, time.Now())
	if err != nil {
		panic(err)
	}
	res = pki.Validate(is.CertPEM, trust, pki.ValidateOptions{Revoked: crl.Set()})
	fmt.Println("valid:", res.Valid, "problem:", res.Problems[0].Kind)

	rule, _ := pki.ParsePrincipalRule(`RULE:^CN=(.*?)@example\.com$/$1/U`)
	p, _ := rule.Principal(is.Cert)
	fmt.Println("principal:", p)
	// Output:
	// CN=app@example.com client CN=Acme Clients CA active
	// valid: true chain: [CN=app@example.com CN=Acme Clients CA CN=Acme Root CA,O=Acme]
	// valid: false problem: revoked
	// principal: APP
}
