package pki

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// RoleScheme and roleHost make the role URI: weir://role/<role>.
const (
	RoleScheme = "weir"
	roleHost   = "role"
)

// RoleURI is the URI subject alternative name that carries role r.
func RoleURI(r Role) *url.URL {
	return &url.URL{Scheme: RoleScheme, Host: roleHost, Path: "/" + string(r)}
}

// Errors RoleOf returns, wrapped with detail.
var (
	ErrNoRole  = errors.New("pki: certificate carries no role")
	ErrBadRole = errors.New("pki: certificate carries a malformed role")
)

// RoleOf reads the role a certificate carries (its weir://role/<role> URI).
// A certificate without a weir: URI wraps ErrNoRole; two, or one that is
// not exactly weir://role/ and a known role, wrap ErrBadRole.
func RoleOf(cert *x509.Certificate) (Role, error) {
	var found []string
	for _, u := range cert.URIs {
		if u.Scheme == RoleScheme { // Issue refuses any other weir: URI, so each is a role claim
			found = append(found, u.String())
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("%w (no %s://%s/<role> URI)", ErrNoRole, RoleScheme, roleHost)
	case 1:
	default:
		return "", fmt.Errorf("%w: %d role URIs (%s), want exactly one", ErrBadRole, len(found), strings.Join(found, ", "))
	}
	name, ok := strings.CutPrefix(found[0], RoleScheme+"://"+roleHost+"/")
	r, err := ParseRole(name)
	if !ok || err != nil || RoleURI(r).String() != found[0] {
		return "", fmt.Errorf("%w: %q is not one of weir://role/broker, controller, client, admin", ErrBadRole, found[0])
	}
	return r, nil
}

// SANs are a certificate's subject alternative names, as text. The role URI
// is not among them: it is the certificate's Role.
type SANs struct {
	DNS   []string `json:"dns,omitempty"`
	IP    []string `json:"ip,omitempty"`
	Email []string `json:"email,omitempty"`
	URI   []string `json:"uri,omitempty"`
}

// ParseSANs sorts command-line style names into SANs. Each is either typed
// ("dns:broker-1.example.com", "ip:10.0.0.5", "email:app@example.com",
// "uri:spiffe://example.com/app") or bare, and then an IP address if it
// parses as one, a URI if it contains "://", an email address if it contains
// "@", and otherwise a DNS name. Each name is checked as Issue checks it.
func ParseSANs(names []string) (SANs, error) {
	var s SANs
	for _, n := range names {
		kind, v, typed := strings.Cut(n, ":")
		if typed {
			switch strings.ToLower(kind) {
			case "dns":
				s.DNS = append(s.DNS, v)
			case "ip":
				s.IP = append(s.IP, v)
			case "email":
				s.Email = append(s.Email, v)
			case "uri":
				s.URI = append(s.URI, v)
			default:
				typed = false
			}
		}
		if !typed {
			switch {
			case net.ParseIP(n) != nil:
				s.IP = append(s.IP, n)
			case strings.Contains(n, "://"):
				s.URI = append(s.URI, n)
			case strings.Contains(n, "@"):
				s.Email = append(s.Email, n)
			default:
				s.DNS = append(s.DNS, n)
			}
		}
	}
	if _, err := s.template(); err != nil {
		return SANs{}, err
	}
	return s, nil
}

var dnsName = regexp.MustCompile(`^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$`)

// sanTemplate is SANs in the form x509.Certificate wants.
type sanTemplate struct {
	dns   []string
	ip    []net.IP
	email []string
	uri   []*url.URL
}

func (s SANs) template() (sanTemplate, error) {
	var t sanTemplate
	for _, d := range s.DNS {
		if len(d) > 253 || !dnsName.MatchString(d) {
			return t, fmt.Errorf("pki: DNS name %q is not a host name (letters, digits, hyphens; dot-separated labels of at most 63)", d)
		}
		t.dns = append(t.dns, d)
	}
	for _, i := range s.IP {
		ip := net.ParseIP(i)
		if ip == nil {
			return t, fmt.Errorf("pki: IP address %q does not parse", i)
		}
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		t.ip = append(t.ip, ip)
	}
	for _, e := range s.Email {
		a, err := mail.ParseAddress(e)
		if err != nil || a.Address != e || a.Name != "" || !isASCII(e) {
			return t, fmt.Errorf("pki: email address %q is not a bare ASCII address like app@example.com", e)
		}
		t.email = append(t.email, e)
	}
	for _, s := range s.URI {
		u, err := url.Parse(s)
		if err != nil {
			return t, fmt.Errorf("pki: URI %q does not parse: %v", s, err)
		}
		if u.Scheme == "" || !u.IsAbs() || !isASCII(s) {
			return t, fmt.Errorf("pki: URI %q is not an absolute ASCII URI with a scheme", s)
		}
		if strings.EqualFold(u.Scheme, RoleScheme) {
			return t, fmt.Errorf("pki: URI %q uses the scheme %q, reserved for the certificate's role", s, RoleScheme)
		}
		t.uri = append(t.uri, u)
	}
	return t, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf || s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// sansOf reads a certificate's SANs back as text, without the role URI.
func sansOf(c *x509.Certificate) SANs {
	var s SANs
	s.DNS = append(s.DNS, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		s.IP = append(s.IP, ip.String())
	}
	s.Email = append(s.Email, c.EmailAddresses...)
	for _, u := range c.URIs {
		if u.Scheme != RoleScheme {
			s.URI = append(s.URI, u.String())
		}
	}
	return s
}

// checkName checks a common name: 1-64 printable characters.
func checkName(what, s string) error {
	if s == "" {
		return fmt.Errorf("pki: empty %s", what)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("pki: %s %q is not valid UTF-8", what, s)
	}
	if n := utf8.RuneCountInString(s); n > maxNameLen {
		return fmt.Errorf("pki: %s %q is %d characters, more than %d", what, s, n, maxNameLen)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("pki: %s %q contains the unprintable character %U", what, s, r)
		}
	}
	if strings.TrimSpace(s) != s {
		return fmt.Errorf("pki: %s %q starts or ends with a space", what, s)
	}
	return nil
}

// IssueRequest describes a certificate to issue.
type IssueRequest struct {
	// Principal is the subject CommonName: "broker-101", "app@example.com".
	Principal    string
	Organization []string
	// OrganizationalUnit lands in the subject, where a regex principal rule
	// can see it.
	OrganizationalUnit []string
	Role               Role
	SANs               SANs
	// NotBefore and NotAfter bound the validity; zero values mean now minus
	// five minutes and NotBefore (or now) plus Validity. Past windows are
	// allowed (for tests of expiry); a window ending after the CA's is not.
	NotBefore, NotAfter time.Time
	// Validity defaults to CertValidity.
	Validity time.Duration
	// KeyAlgorithm defaults to ECDSAP256.
	KeyAlgorithm KeyAlgorithm
}

// Issued is a newly signed certificate.
type Issued struct {
	Cert *x509.Certificate
	// Key is the new private key; nil after Renew, which keeps the holder's.
	Key crypto.Signer
	// CertPEM is the certificate followed by the issuing intermediates (not
	// the root): what its holder presents.
	CertPEM []byte
	// KeyPEM is Key as PKCS #8 PEM; nil after Renew.
	KeyPEM []byte
	// Replaces is the serial of the certificate a Renew or Rotate succeeds.
	Replaces string
}

// Record is the certificate's registry record (with Replaces set after a
// renewal or rotation).
func (is *Issued) Record() Record {
	r := RecordOf(is.Cert)
	r.Replaces = is.Replaces
	return r
}

// WriteFiles writes <name>.pem and <name>-key.pem (mode 0600) into dir,
// refusing to overwrite either. After Renew there is no key and only the
// certificate is written.
func (is *Issued) WriteFiles(dir, name string) (certPath, keyPath string, err error) {
	if err := checkFileName(name); err != nil {
		return "", "", err
	}
	var files []file
	if is.KeyPEM != nil {
		files = append(files, file{name + "-key.pem", is.KeyPEM, 0o600})
		keyPath = filepath.Join(dir, name+"-key.pem")
	}
	files = append(files, file{name + ".pem", is.CertPEM, 0o644})
	if err := writeFiles(dir, files); err != nil {
		return "", "", err
	}
	return filepath.Join(dir, name+".pem"), keyPath, nil
}

var fileName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$`)

func checkFileName(name string) error {
	if !fileName.MatchString(name) || name == "ca" || name == "chain" || strings.HasSuffix(name, "-key") {
		return fmt.Errorf("pki: invalid file name %q (want 1-128 of [A-Za-z0-9._@-], not starting with . or -, not \"ca\", \"chain\" or ending in -key)", name)
	}
	return nil
}

// Issue signs a new certificate with a new key pair.
func (ca *CA) Issue(req IssueRequest) (*Issued, error) {
	tmpl, err := ca.leafTemplate(req)
	if err != nil {
		return nil, err
	}
	key, err := GenerateKey(req.KeyAlgorithm)
	if err != nil {
		return nil, err
	}
	return ca.sign(tmpl, key.Public(), key)
}

func (ca *CA) leafTemplate(req IssueRequest) (*x509.Certificate, error) {
	if err := checkName("principal", req.Principal); err != nil {
		return nil, err
	}
	if !req.Role.Valid() {
		return nil, fmt.Errorf("pki: certificate for %q: unknown role %q (want broker, controller, client or admin)", req.Principal, req.Role)
	}
	sans, err := req.SANs.template()
	if err != nil {
		return nil, err
	}
	nb, na, err := window(ca.now(), req.NotBefore, req.NotAfter, req.Validity, CertValidity)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		Subject: pkix.Name{
			CommonName:         req.Principal,
			Organization:       req.Organization,
			OrganizationalUnit: req.OrganizationalUnit,
		},
		NotBefore:      nb,
		NotAfter:       na,
		DNSNames:       sans.dns,
		IPAddresses:    sans.ip,
		EmailAddresses: sans.email,
		URIs:           append(sans.uri, RoleURI(req.Role)),
		ExtKeyUsage:    req.Role.extKeyUsages(),
	}
	return tmpl, nil
}

// sign completes tmpl (serial, key usage, constraints), checks its window
// against the CA's, and signs it for pub.
func (ca *CA) sign(tmpl *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) (*Issued, error) {
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		return nil, fmt.Errorf("pki: validity ends %s, after that of the issuing CA %q (%s)", stamp(tmpl.NotAfter), ca.Cert.Subject.CommonName, stamp(ca.Cert.NotAfter))
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.BasicConstraintsValid = true
	tmpl.IsCA = false
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	if _, ok := pub.(*rsa.PublicKey); ok {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: sign certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: sign certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	var b bytes.Buffer
	b.Write(pemEncode("CERTIFICATE", der))
	b.Write(ca.ChainPEM())
	is := &Issued{Cert: cert, CertPEM: b.Bytes()}
	if key != nil {
		is.Key = key
		if is.KeyPEM, err = MarshalKey(key); err != nil {
			return nil, err
		}
	}
	return is, nil
}

// RenewRequest is the new validity of a renewed or rotated certificate. Zero
// values keep the old certificate's window length, starting five minutes
// ago (like Issue's default).
type RenewRequest struct {
	NotBefore, NotAfter time.Time
	Validity            time.Duration
	// KeyAlgorithm is Rotate's new key's algorithm; zero keeps the old one's
	// (Renew keeps the key itself and ignores it).
	KeyAlgorithm KeyAlgorithm
}

// Renew signs a new certificate for the same public key: a new serial and
// validity, the same subject, role and SANs. The holder keeps its key, so
// Issued.Key is nil. old must have been issued by ca; whether it may be
// renewed (not revoked) is the registry's decision.
func (ca *CA) Renew(old *x509.Certificate, req RenewRequest) (*Issued, error) {
	tmpl, err := ca.successor(old, req)
	if err != nil {
		return nil, err
	}
	is, err := ca.sign(tmpl, old.PublicKey, nil)
	if err != nil {
		return nil, err
	}
	is.Replaces = SerialString(old.SerialNumber)
	return is, nil
}

// Rotate signs a new certificate with a new key pair: a new serial, key and
// validity, the same subject, role and SANs. old must have been issued by
// ca; revoking it (reason superseded) is the caller's next step.
func (ca *CA) Rotate(old *x509.Certificate, req RenewRequest) (*Issued, error) {
	tmpl, err := ca.successor(old, req)
	if err != nil {
		return nil, err
	}
	alg := req.KeyAlgorithm
	if alg == "" {
		if alg, err = ParseKeyAlgorithm(keyAlgorithmOf(old.PublicKey)); err != nil {
			return nil, fmt.Errorf("pki: rotate %s: the old key's algorithm is not one this CA makes; name one: %w", SerialString(old.SerialNumber), err)
		}
	}
	key, err := GenerateKey(alg)
	if err != nil {
		return nil, err
	}
	is, err := ca.sign(tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	is.Replaces = SerialString(old.SerialNumber)
	return is, nil
}

// successor is the template of old's renewal: its subject (byte for byte),
// SANs and role, a fresh window.
func (ca *CA) successor(old *x509.Certificate, req RenewRequest) (*x509.Certificate, error) {
	serial := SerialString(old.SerialNumber)
	if old.IsCA {
		return nil, fmt.Errorf("pki: certificate %s is a CA; renew a CA by making a new one", serial)
	}
	if !bytes.Equal(old.RawIssuer, ca.Cert.RawSubject) || old.CheckSignatureFrom(ca.Cert) != nil {
		return nil, fmt.Errorf("pki: certificate %s (%q) was not issued by CA %q", serial, old.Subject.CommonName, ca.Cert.Subject.CommonName)
	}
	role, err := RoleOf(old)
	if err != nil {
		return nil, fmt.Errorf("pki: certificate %s: %w", serial, err)
	}
	validity, start := req.Validity, req.NotBefore
	if validity == 0 && req.NotAfter.IsZero() { // the old window's length, from now
		validity = old.NotAfter.Sub(old.NotBefore)
		if start.IsZero() {
			start = ca.now().Add(-backdate)
		}
	}
	nb, na, err := window(ca.now(), start, req.NotAfter, validity, CertValidity)
	if err != nil {
		return nil, err
	}
	return &x509.Certificate{
		RawSubject:     old.RawSubject,
		Subject:        old.Subject,
		NotBefore:      nb,
		NotAfter:       na,
		DNSNames:       old.DNSNames,
		IPAddresses:    old.IPAddresses,
		EmailAddresses: old.EmailAddresses,
		URIs:           old.URIs, // includes the role URI, checked above
		ExtKeyUsage:    role.extKeyUsages(),
	}, nil
}
