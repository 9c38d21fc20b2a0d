package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"unicode"
)

// ruleKind is what a principal rule reads.
type ruleKind uint8

const (
	ruleCN ruleKind = iota
	ruleEmail
	ruleDNS
	ruleURI
	ruleRegex
)

// PrincipalRule turns a verified certificate into a principal. Forms
// (ParsePrincipalRule):
//
//	cn                          the subject CommonName (the default; also "DEFAULT" or "")
//	san-email                   the first email SAN  (also "SAN:email")
//	san-dns                     the first DNS SAN    (also "SAN:dns")
//	san-uri                     the first URI SAN but the role URI (also "SAN:uri")
//	regex:<re>:<replacement>    <re> must match the whole RFC 2253 subject
//	                            ("CN=app,OU=payments,O=Example"); the principal is
//	                            <replacement> with $1, ${name} expanded. The
//	                            replacement is after the last ':', so it cannot
//	                            contain one (the regex can).
//	RULE:<re>/<replacement>/[L|U]
//	                            Kafka's ssl.principal.mapping.rules form: the same,
//	                            '/' escaped as '\/' inside, optionally lower- (L) or
//	                            upper-cased (U).
type PrincipalRule struct {
	kind ruleKind
	re   *regexp.Regexp
	repl string
	fold byte // 0, 'L' or 'U'
	src  string
}

// DefaultPrincipalRule maps a certificate to its CommonName.
var DefaultPrincipalRule = PrincipalRule{kind: ruleCN, src: "cn"}

const maxRuleLen = 1024

// ParsePrincipalRule parses one rule (see PrincipalRule).
func ParsePrincipalRule(s string) (PrincipalRule, error) {
	if len(s) > maxRuleLen {
		return PrincipalRule{}, fmt.Errorf("pki: principal rule is %d bytes, more than %d", len(s), maxRuleLen)
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "cn", "default":
		return PrincipalRule{kind: ruleCN, src: s}, nil
	case "san-email", "san:email":
		return PrincipalRule{kind: ruleEmail, src: s}, nil
	case "san-dns", "san:dns":
		return PrincipalRule{kind: ruleDNS, src: s}, nil
	case "san-uri", "san:uri":
		return PrincipalRule{kind: ruleURI, src: s}, nil
	}
	if rest, ok := strings.CutPrefix(s, "regex:"); ok {
		i := strings.LastIndexByte(rest, ':')
		if i < 0 {
			return PrincipalRule{}, fmt.Errorf("pki: principal rule %q: want regex:<re>:<replacement>", s)
		}
		return regexRule(s, rest[:i], rest[i+1:], 0)
	}
	if rest, ok := strings.CutPrefix(s, "RULE:"); ok {
		re, rest, ok1 := cutUnescaped(rest)
		repl, flags, ok2 := cutUnescaped(rest)
		if !ok1 || !ok2 || (flags != "" && flags != "L" && flags != "U") {
			return PrincipalRule{}, fmt.Errorf("pki: principal rule %q: want RULE:<re>/<replacement>/ with an optional L or U after the last '/'", s)
		}
		var fold byte
		if flags != "" {
			fold = flags[0]
		}
		return regexRule(s, re, repl, fold)
	}
	return PrincipalRule{}, fmt.Errorf("pki: unknown principal rule %q (want cn, san-email, san-dns, san-uri, regex:<re>:<replacement> or RULE:<re>/<replacement>/[LU])", s)
}

// cutUnescaped splits s at the first '/' not preceded by a backslash and
// unescapes "\/" in the part before it.
func cutUnescaped(s string) (before, after string, ok bool) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '/':
			return strings.ReplaceAll(s[:i], `\/`, "/"), s[i+1:], true
		}
	}
	return "", "", false
}

func regexRule(src, re, repl string, fold byte) (PrincipalRule, error) {
	if re == "" {
		return PrincipalRule{}, fmt.Errorf("pki: principal rule %q has an empty regular expression", src)
	}
	if repl == "" {
		return PrincipalRule{}, fmt.Errorf("pki: principal rule %q has an empty replacement", src)
	}
	c, err := regexp.Compile(`^(?:` + re + `)$`)
	if err != nil {
		return PrincipalRule{}, fmt.Errorf("pki: principal rule %q: bad regular expression %q: %v", src, re, err)
	}
	return PrincipalRule{kind: ruleRegex, re: c, repl: repl, fold: fold, src: src}, nil
}

// String is the rule as parsed.
func (p PrincipalRule) String() string {
	if p.src == "" {
		return "cn"
	}
	return p.src
}

// Principal applies the rule to cert. It is an error if the rule yields
// nothing: no CommonName, no SAN of the kind, a subject the regex does not
// match, or an empty or unprintable result.
func (p PrincipalRule) Principal(cert *x509.Certificate) (string, error) {
	var out string
	switch p.kind {
	case ruleCN:
		out = cert.Subject.CommonName
		if out == "" {
			return "", errors.New("pki: certificate has no common name")
		}
	case ruleEmail:
		if len(cert.EmailAddresses) == 0 {
			return "", errors.New("pki: certificate has no email SAN")
		}
		out = cert.EmailAddresses[0]
	case ruleDNS:
		if len(cert.DNSNames) == 0 {
			return "", errors.New("pki: certificate has no DNS SAN")
		}
		out = cert.DNSNames[0]
	case ruleURI:
		for _, u := range cert.URIs {
			if u.Scheme != RoleScheme {
				out = u.String()
				break
			}
		}
		if out == "" {
			return "", errors.New("pki: certificate has no URI SAN (besides its role)")
		}
	case ruleRegex:
		subject := SubjectString(cert)
		m := p.re.FindStringSubmatchIndex(subject)
		if m == nil {
			return "", fmt.Errorf("pki: subject %q does not match principal rule %q", subject, p.src)
		}
		out = string(p.re.ExpandString(nil, p.repl, subject, m))
		switch p.fold {
		case 'L':
			out = strings.ToLower(out)
		case 'U':
			out = strings.ToUpper(out)
		}
		if out == "" {
			return "", fmt.Errorf("pki: principal rule %q maps subject %q to an empty principal", p.src, subject)
		}
	}
	if i := strings.IndexFunc(out, func(r rune) bool { return !unicode.IsPrint(r) }); i >= 0 {
		return "", fmt.Errorf("pki: principal %q contains an unprintable character", out)
	}
	return out, nil
}

// PrincipalMapper is a list of rules; the first that yields a principal
// wins (Kafka's semantics). The empty mapper is DefaultPrincipalRule.
type PrincipalMapper []PrincipalRule

// ParsePrincipalMapper parses rules in order.
func ParsePrincipalMapper(rules ...string) (PrincipalMapper, error) {
	m := make(PrincipalMapper, 0, len(rules))
	for i, s := range rules {
		r, err := ParsePrincipalRule(s)
		if err != nil {
			if len(rules) > 1 {
				return nil, fmt.Errorf("pki: principal rule %d: %w", i+1, err)
			}
			return nil, err
		}
		m = append(m, r)
	}
	return m, nil
}

// Principal applies the rules in order; if none yields a principal the
// error names each rule's failure.
func (m PrincipalMapper) Principal(cert *x509.Certificate) (string, error) {
	if len(m) == 0 {
		return DefaultPrincipalRule.Principal(cert)
	}
	var errs []string
	for _, r := range m {
		p, err := r.Principal(cert)
		if err == nil {
			return p, nil
		}
		errs = append(errs, strings.TrimPrefix(err.Error(), "pki: "))
	}
	return "", fmt.Errorf("pki: no principal rule applies: %s", strings.Join(errs, "; "))
}

// Identity is who a verified peer is.
type Identity struct {
	Principal string
	Role      Role
	Serial    *big.Int
	Cert      *x509.Certificate
}

// PeerIdentity maps the verified peer certificate of a connection to its
// principal and role. Like tlsutil.PeerName it insists the chain was
// verified: a config that skipped verification must not yield an identity.
func PeerIdentity(cs tls.ConnectionState, m PrincipalMapper) (Identity, error) {
	if len(cs.PeerCertificates) == 0 {
		return Identity{}, errors.New("pki: peer presented no certificate")
	}
	if len(cs.VerifiedChains) == 0 {
		return Identity{}, errors.New("pki: peer certificate was not verified")
	}
	leaf := cs.PeerCertificates[0]
	role, err := RoleOf(leaf)
	if err != nil {
		return Identity{}, err
	}
	p, err := m.Principal(leaf)
	if err != nil {
		return Identity{}, err
	}
	return Identity{Principal: p, Role: role, Serial: leaf.SerialNumber, Cert: leaf}, nil
}

// RequireRole is nil if cert carries role want, else an error saying what
// it carries: how a listener refuses, say, a client certificate that claims
// to be a broker.
func RequireRole(cert *x509.Certificate, want Role) error {
	got, err := RoleOf(cert)
	if err != nil {
		return fmt.Errorf("pki: certificate %s (%q) may not act as %s: %w", SerialString(cert.SerialNumber), cert.Subject.CommonName, want, err)
	}
	if got != want {
		return fmt.Errorf("pki: certificate %s (%q) is a %s certificate and may not act as %s", SerialString(cert.SerialNumber), cert.Subject.CommonName, got, want)
	}
	return nil
}
