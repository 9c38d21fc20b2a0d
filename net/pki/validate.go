package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// Trust is what Validate trusts: roots, and intermediates it may use to
// build a chain (a certificate file may bring more of its own).
type Trust struct {
	Roots         []*x509.Certificate
	Intermediates []*x509.Certificate
}

// ParseTrust sorts PEM certificates into a Trust: self-signed ones are
// roots, other CAs intermediates. A certificate that is not a CA is an error.
func ParseTrust(data []byte) (Trust, error) {
	certs, err := ParseCertificates(data)
	if err != nil {
		return Trust{}, fmt.Errorf("pki: trust: %w", err)
	}
	var t Trust
	for _, c := range certs {
		switch {
		case !c.IsCA:
			return Trust{}, fmt.Errorf("pki: trust: %q is not a CA certificate", SubjectString(c))
		case selfSigned(c):
			t.Roots = append(t.Roots, c)
		default:
			t.Intermediates = append(t.Intermediates, c)
		}
	}
	if len(t.Roots) == 0 {
		return Trust{}, errors.New("pki: trust: no self-signed root certificate")
	}
	return t, nil
}

// Pools are the trust as x509 pools.
func (t Trust) pools() (roots, inter *x509.CertPool) {
	roots, inter = x509.NewCertPool(), x509.NewCertPool()
	for _, c := range t.Roots {
		roots.AddCert(c)
	}
	for _, c := range t.Intermediates {
		inter.AddCert(c)
	}
	return roots, inter
}

// ProblemKind classifies a Problem.
type ProblemKind string

// Problem kinds.
const (
	ProblemMalformed   ProblemKind = "malformed"     // not a parsable certificate
	ProblemExpired     ProblemKind = "expired"       // after NotAfter
	ProblemNotYetValid ProblemKind = "not-yet-valid" // before NotBefore
	ProblemUnknownCA   ProblemKind = "unknown-ca"    // no chain to a trusted root
	ProblemChain       ProblemKind = "chain"         // a chain exists but is invalid (expired CA, path length, ...)
	ProblemRevoked     ProblemKind = "revoked"       // the certificate or a CA in its chain is revoked
	ProblemRole        ProblemKind = "role"          // no role, a malformed one, or not the role wanted
	ProblemKeyUsage    ProblemKind = "key-usage"     // key usage does not allow what the role does
	ProblemIsCA        ProblemKind = "is-ca"         // a CA certificate where a leaf is wanted
)

// Problem is one reason a certificate is not valid.
type Problem struct {
	Kind    ProblemKind `json:"kind"`
	Message string      `json:"message"`
}

// Result is the outcome of Validate.
type Result struct {
	Valid bool `json:"valid"`
	// Record describes the certificate; nil if it did not parse.
	Record *Record `json:"record,omitempty"`
	// Chain is the verified chain's subjects, leaf first, when one was
	// found (even if other problems remain).
	Chain    []string  `json:"chain,omitempty"`
	Problems []Problem `json:"problems,omitempty"`
}

// Err is nil for a valid result, else an error listing every problem.
func (r Result) Err() error {
	if r.Valid {
		return nil
	}
	msgs := make([]string, len(r.Problems))
	for i, p := range r.Problems {
		msgs[i] = p.Message
	}
	return errors.New("pki: invalid certificate: " + strings.Join(msgs, "; "))
}

// Has reports whether the result has a problem of kind k.
func (r Result) Has(k ProblemKind) bool {
	return slices.ContainsFunc(r.Problems, func(p Problem) bool { return p.Kind == k })
}

func (r *Result) add(k ProblemKind, format string, args ...any) {
	r.Problems = append(r.Problems, Problem{Kind: k, Message: fmt.Sprintf(format, args...)})
}

// ValidateOptions say what a certificate is validated for.
type ValidateOptions struct {
	// Now is the time of validation; zero means time.Now().
	Now time.Time
	// Role is the role the certificate must carry; "" accepts any valid
	// role. The role's key usage is checked either way.
	Role Role
	// Revoked lists revocations (with their times); Checker is consulted
	// for serials it does not hold. Either may be nil.
	Revoked RevokedSet
	Checker Checker
}

// ValidateFile validates the PEM certificate file at path (see Validate); the
// error is only for a file that cannot be read.
func ValidateFile(path string, t Trust, opts ValidateOptions) (Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Result{}, fmt.Errorf("pki: %w", err)
	}
	return Validate(data, t, opts), nil
}

// Validate checks a PEM certificate (the first CERTIFICATE block; any
// further ones are offered as intermediates) against t at opts.Now: its
// validity window, a chain to a trusted root through valid CAs, that it is
// not a CA, its role and key usage, and revocation of it and of the CAs in
// its chain. Every problem found is reported, not only the first.
func Validate(pemData []byte, t Trust, opts ValidateOptions) Result {
	certs, err := ParseCertificates(pemData)
	if err != nil {
		var r Result
		r.add(ProblemMalformed, "%v", err)
		return r
	}
	extra := Trust{Roots: t.Roots, Intermediates: append(slices.Clip(t.Intermediates), certs[1:]...)}
	return ValidateCert(certs[0], extra, opts)
}

// ValidateCert is Validate for a parsed certificate.
func ValidateCert(cert *x509.Certificate, t Trust, opts ValidateOptions) Result {
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	rec := RecordOf(cert)
	r := Result{Record: &rec}
	serial := rec.Serial

	// Time, reported on its own so that the chain check below can look
	// past it.
	if now.Before(cert.NotBefore) {
		r.add(ProblemNotYetValid, "certificate %s is not valid until %s", serial, stamp(cert.NotBefore))
	}
	if now.After(cert.NotAfter) {
		r.add(ProblemExpired, "certificate %s expired at %s", serial, stamp(cert.NotAfter))
	}
	if cert.IsCA {
		r.add(ProblemIsCA, "certificate %s is a CA certificate, not one issued to a principal", serial)
	}

	// The chain, at now if the leaf is current there and otherwise at the
	// nearest moment of the leaf's window, so that an expired leaf is not
	// also reported as unchained.
	at := now
	if at.Before(cert.NotBefore) {
		at = cert.NotBefore
	} else if at.After(cert.NotAfter) {
		at = cert.NotAfter
	}
	roots, inter := t.pools()
	chains, err := cert.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		chainProblem(&r, cert, at, err)
	} else {
		for _, c := range chains[0] {
			r.Chain = append(r.Chain, SubjectString(c))
		}
	}

	// Role and key usage.
	role, err := RoleOf(cert)
	switch {
	case err != nil && !cert.IsCA:
		r.add(ProblemRole, "certificate %s: %v", serial, strings.TrimPrefix(err.Error(), "pki: "))
	case err == nil && opts.Role != "" && role != opts.Role:
		r.add(ProblemRole, "wrong role: certificate %s (%q) is a %s certificate, want %s", serial, cert.Subject.CommonName, role, opts.Role)
	}
	if err == nil {
		keyUsageProblems(&r, cert, role)
	} else if opts.Role != "" && !cert.IsCA {
		keyUsageProblems(&r, cert, opts.Role)
	}

	// Revocation of the certificate and of every CA of the chain found
	// (but the root, whose revocation is removing it from the trust).
	revoked := func(c *x509.Certificate, what string) {
		if rv, ok := opts.Revoked.Lookup(c.SerialNumber); ok {
			r.add(ProblemRevoked, "%s %s (%q) was revoked (%s) at %s", what, SerialString(c.SerialNumber), c.Subject.CommonName, rv.Reason, stamp(rv.At))
			return
		}
		if opts.Checker != nil {
			if ok, reason := opts.Checker(c.SerialNumber); ok {
				r.add(ProblemRevoked, "%s %s (%q) is revoked (%s)", what, SerialString(c.SerialNumber), c.Subject.CommonName, reasonText(reason))
			}
		}
	}
	revoked(cert, "certificate")
	if len(chains) > 0 && len(chains[0]) > 2 {
		for _, c := range chains[0][1 : len(chains[0])-1] {
			revoked(c, "issuing CA")
		}
	}
	r.Valid = len(r.Problems) == 0
	return r
}

func reasonText(s string) string {
	if s == "" {
		return string(ReasonUnspecified)
	}
	return s
}

func chainProblem(r *Result, cert *x509.Certificate, at time.Time, err error) {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		r.add(ProblemUnknownCA, "certificate %s is signed by an unknown CA (issuer %q)", SerialString(cert.SerialNumber), IssuerString(cert))
	case errors.As(err, &invalid) && invalid.Cert != nil && invalid.Cert != cert:
		c := invalid.Cert
		what := fmt.Sprintf("issuing CA %q", SubjectString(c))
		switch invalid.Reason {
		case x509.Expired:
			r.add(ProblemChain, "%s is not valid at %s (valid %s to %s)", what, stamp(at), stamp(c.NotBefore), stamp(c.NotAfter))
		case x509.TooManyIntermediates:
			r.add(ProblemChain, "%s: too many intermediates for its path length constraint", what)
		default:
			r.add(ProblemChain, "%s: %v", what, err)
		}
	default:
		r.add(ProblemChain, "certificate %s: %v", SerialString(cert.SerialNumber), err)
	}
}

// keyUsageProblems checks that cert's key usage allows what role does.
func keyUsageProblems(r *Result, cert *x509.Certificate, role Role) {
	serial := SerialString(cert.SerialNumber)
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		r.add(ProblemKeyUsage, "certificate %s may not sign (no digitalSignature key usage), which TLS needs", serial)
	}
	has := func(u x509.ExtKeyUsage) bool {
		return slices.Contains(cert.ExtKeyUsage, u) || slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageAny)
	}
	var missing []string
	if role.Server() && !has(x509.ExtKeyUsageServerAuth) {
		missing = append(missing, "serverAuth")
	}
	if !has(x509.ExtKeyUsageClientAuth) {
		missing = append(missing, "clientAuth")
	}
	if len(missing) > 0 {
		r.add(ProblemKeyUsage, "certificate %s lacks the extended key usage %s a %s needs", serial, strings.Join(missing, " and "), role)
	}
	if !role.Server() && has(x509.ExtKeyUsageServerAuth) {
		r.add(ProblemKeyUsage, "certificate %s is a %s certificate but allows serverAuth, which only brokers and controllers have", serial, role)
	}
}
