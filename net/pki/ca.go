package pki

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// File names inside a CA directory (see the package documentation).
const (
	CAFile      = "ca.pem"
	CAKeyFile   = "ca-key.pem"
	ChainFile   = "chain.pem"
	backdate    = 5 * time.Minute // tolerated clock skew: certificates start this far in the past
	maxNameLen  = 64              // RFC 5280 ub-common-name
	defaultRoot = "Weir Root CA"
)

// Default validities.
const (
	RootValidity         = 10 * 365 * 24 * time.Hour
	IntermediateValidity = 5 * 365 * 24 * time.Hour
	CertValidity         = 365 * 24 * time.Hour
)

// LeafOnly, as a PathLen, makes a CA that may sign certificates but no
// intermediate CAs.
const LeafOnly = -1

// CA is a certificate authority: its certificate, its signing key and the
// CAs above it.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Chain is the issuing CAs above Cert, nearest first, ending at the
	// root; empty for a root.
	Chain []*x509.Certificate
	// Dir is where the CA's files are ("" for one built in memory).
	Dir string
	// Now is the clock for default validity windows; nil means time.Now.
	Now func() time.Time
}

// CAOptions describes a new root or intermediate CA.
type CAOptions struct {
	// CommonName names the CA; a root defaults to "Weir Root CA", an
	// intermediate must have one.
	CommonName   string
	Organization []string
	Country      []string
	// NotBefore and NotAfter bound the validity; zero values mean now minus
	// five minutes and NotBefore plus Validity.
	NotBefore, NotAfter time.Time
	// Validity defaults to RootValidity or IntermediateValidity.
	Validity time.Duration
	// KeyAlgorithm defaults to ECDSAP256.
	KeyAlgorithm KeyAlgorithm
	// PathLen is how many intermediate CAs may follow this one in a chain.
	// Zero means the default: 1 for a root (it may sign intermediates that
	// sign only leaves), 0 for an intermediate. LeafOnly makes a root that
	// signs no intermediates. An intermediate's PathLen must be below its
	// parent's.
	PathLen int
	// Now is the clock (nil means time.Now); the returned CA keeps it.
	Now func() time.Time
}

func (o *CAOptions) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (ca *CA) now() time.Time {
	if ca.Now != nil {
		return ca.Now()
	}
	return time.Now()
}

// IsRoot reports whether the CA is self-signed.
func (ca *CA) IsRoot() bool { return len(ca.Chain) == 0 }

// Root is the root certificate at the top of the CA's chain.
func (ca *CA) Root() *x509.Certificate {
	if len(ca.Chain) == 0 {
		return ca.Cert
	}
	return ca.Chain[len(ca.Chain)-1]
}

// Trust is what a validator trusts: the root and the intermediates between
// it and a leaf this CA issues.
func (ca *CA) Trust() Trust {
	t := Trust{Roots: []*x509.Certificate{ca.Root()}}
	if !ca.IsRoot() {
		t.Intermediates = append(t.Intermediates, ca.Cert)
		t.Intermediates = append(t.Intermediates, ca.Chain[:len(ca.Chain)-1]...)
	}
	return t
}

// ChainPEM is the CA's certificate followed by the intermediates above it,
// without the root: what a certificate holder presents after its own.
func (ca *CA) ChainPEM() []byte {
	if ca.IsRoot() {
		return nil
	}
	var b bytes.Buffer
	b.Write(pemEncode("CERTIFICATE", ca.Cert.Raw))
	for _, c := range ca.Chain[:len(ca.Chain)-1] {
		b.Write(pemEncode("CERTIFICATE", c.Raw))
	}
	return b.Bytes()
}

// Record is the CA certificate's registry record.
func (ca *CA) Record() Record { return RecordOf(ca.Cert) }

// NewRoot makes a self-signed root CA in memory.
func NewRoot(opts CAOptions) (*CA, error) {
	if opts.CommonName == "" {
		opts.CommonName = defaultRoot
	}
	pathLen := opts.PathLen
	switch {
	case pathLen == 0:
		pathLen = 1
	case pathLen == LeafOnly:
		pathLen = 0
	case pathLen < 0:
		return nil, fmt.Errorf("pki: path length %d is negative (use LeafOnly for a CA that signs no intermediates)", opts.PathLen)
	}
	key, err := GenerateKey(opts.KeyAlgorithm)
	if err != nil {
		return nil, err
	}
	tmpl, err := caTemplate(opts, RootValidity, pathLen, nil)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: root certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: root certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key, Now: opts.Now}, nil
}

// InitRoot makes a root CA and writes ca.pem and ca-key.pem into dir
// (created with mode 0700 if missing). It refuses to overwrite either file
// (the error wraps fs.ErrExist): certificates issued by the old CA would
// silently stop verifying.
func InitRoot(dir string, opts CAOptions) (*CA, error) {
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	ca, err := NewRoot(opts)
	if err != nil {
		return nil, err
	}
	if err := ca.save(dir); err != nil {
		return nil, err
	}
	return ca, nil
}

// NewIntermediate makes an intermediate CA signed by ca, in memory.
func (ca *CA) NewIntermediate(opts CAOptions) (*CA, error) {
	if opts.CommonName == "" {
		return nil, errors.New("pki: an intermediate CA needs a common name")
	}
	if opts.PathLen < LeafOnly {
		return nil, fmt.Errorf("pki: path length %d is negative", opts.PathLen)
	}
	pathLen := max(opts.PathLen, 0)
	parent := ca.Cert
	if parent.MaxPathLen == 0 { // a parsed certificate says -1 when it sets no limit
		return nil, fmt.Errorf("pki: CA %q has path length 0: it may sign certificates but no intermediate CA", parent.Subject.CommonName)
	}
	if parent.MaxPathLen > 0 && pathLen >= parent.MaxPathLen {
		return nil, fmt.Errorf("pki: path length %d is not below the path length %d of CA %q", pathLen, parent.MaxPathLen, parent.Subject.CommonName)
	}
	if opts.Now == nil {
		opts.Now = ca.Now
	}
	key, err := GenerateKey(opts.KeyAlgorithm)
	if err != nil {
		return nil, err
	}
	tmpl, err := caTemplate(opts, IntermediateValidity, pathLen, parent)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: intermediate certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: intermediate certificate: %w", err)
	}
	chain := append([]*x509.Certificate{parent}, ca.Chain...)
	return &CA{Cert: cert, Key: key, Chain: chain, Now: opts.Now}, nil
}

// InitIntermediate makes an intermediate CA signed by ca and writes ca.pem,
// ca-key.pem and chain.pem into dir, with InitRoot's rules.
func (ca *CA) InitIntermediate(dir string, opts CAOptions) (*CA, error) {
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	sub, err := ca.NewIntermediate(opts)
	if err != nil {
		return nil, err
	}
	if err := sub.save(dir); err != nil {
		return nil, err
	}
	return sub, nil
}

func caTemplate(opts CAOptions, defValidity time.Duration, pathLen int, parent *x509.Certificate) (*x509.Certificate, error) {
	if err := checkName("CA common name", opts.CommonName); err != nil {
		return nil, err
	}
	nb, na, err := window(opts.now(), opts.NotBefore, opts.NotAfter, opts.Validity, defValidity)
	if err != nil {
		return nil, err
	}
	if parent != nil && na.After(parent.NotAfter) {
		return nil, fmt.Errorf("pki: validity ends %s, after that of the issuing CA %q (%s)", stamp(na), parent.Subject.CommonName, stamp(parent.NotAfter))
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	return &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: opts.CommonName, Organization: opts.Organization, Country: opts.Country},
		NotBefore:             nb,
		NotAfter:              na,
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            pathLen,
		MaxPathLenZero:        pathLen == 0,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}, nil
}

// window resolves a validity window: nb defaults to now minus the skew
// allowance, na to (nb or now) plus validity (or def).
func window(now, nb, na time.Time, validity, def time.Duration) (time.Time, time.Time, error) {
	if validity < 0 {
		return time.Time{}, time.Time{}, fmt.Errorf("pki: validity %v is negative", validity)
	}
	if validity == 0 {
		validity = def
	}
	start := nb
	if nb.IsZero() {
		nb, start = now.Add(-backdate), now
	}
	if na.IsZero() {
		na = start.Add(validity)
	}
	nb, na = nb.UTC().Truncate(time.Second), na.UTC().Truncate(time.Second)
	if !na.After(nb) {
		return time.Time{}, time.Time{}, fmt.Errorf("pki: not-after %s is not after not-before %s", stamp(na), stamp(nb))
	}
	return nb, na, nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// save writes the CA's files into dir: key first, then certificate, then chain.
func (ca *CA) save(dir string) error {
	keyPEM, err := MarshalKey(ca.Key)
	if err != nil {
		return err
	}
	files := []file{
		{CAKeyFile, keyPEM, 0o600},
		{CAFile, pemEncode("CERTIFICATE", ca.Cert.Raw), 0o644},
	}
	if !ca.IsRoot() {
		var b bytes.Buffer
		for _, c := range ca.Chain {
			b.Write(pemEncode("CERTIFICATE", c.Raw))
		}
		files = append(files, file{ChainFile, b.Bytes(), 0o644})
	}
	if err := writeFiles(dir, files); err != nil {
		return err
	}
	ca.Dir = dir
	return nil
}

// LoadCA reads a CA written by InitRoot or InitIntermediate. It checks that
// the key is the certificate's, that the certificate is a CA allowed to sign
// certificates and CRLs, that each certificate in chain.pem signed the one
// below it and that the chain ends at a self-signed root, and it refuses a
// key file readable by group or others.
func LoadCA(dir string) (*CA, error) {
	certPath, keyPath, chainPath := filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile), filepath.Join(dir, ChainFile)
	certs, err := readCerts(certPath)
	if err != nil {
		return nil, err
	}
	if len(certs) != 1 {
		return nil, fmt.Errorf("pki: %s holds %d certificates, want exactly one", certPath, len(certs))
	}
	cert := certs[0]
	if !cert.IsCA || !cert.BasicConstraintsValid {
		return nil, fmt.Errorf("pki: %s is not a CA certificate", certPath)
	}
	if cert.KeyUsage&x509.KeyUsageCertSign == 0 || cert.KeyUsage&x509.KeyUsageCRLSign == 0 {
		return nil, fmt.Errorf("pki: CA certificate %s may not sign certificates and CRLs (key usage)", certPath)
	}
	fi, err := os.Stat(keyPath)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("pki: key file %s is accessible by group or others (mode %#o); chmod 600 it", keyPath, fi.Mode().Perm())
	}
	key, err := readKey(keyPath)
	if err != nil {
		return nil, err
	}
	if !publicKeyEqual(key.Public(), cert.PublicKey) {
		return nil, fmt.Errorf("pki: key %s does not belong to certificate %s", keyPath, certPath)
	}
	var chain []*x509.Certificate
	if _, err := os.Stat(chainPath); err == nil {
		if chain, err = readCerts(chainPath); err != nil {
			return nil, err
		}
		if len(chain) == 0 {
			return nil, fmt.Errorf("pki: %s holds no certificate", chainPath)
		}
	}
	below := cert
	for i, c := range chain {
		if !c.IsCA {
			return nil, fmt.Errorf("pki: certificate %d of %s (%q) is not a CA", i+1, chainPath, c.Subject.CommonName)
		}
		if err := below.CheckSignatureFrom(c); err != nil {
			return nil, fmt.Errorf("pki: %q in %s did not sign %q: %w", c.Subject.CommonName, chainPath, below.Subject.CommonName, err)
		}
		below = c
	}
	if !selfSigned(below) {
		if len(chain) == 0 {
			return nil, fmt.Errorf("pki: %s is not self-signed and %s is missing: an intermediate needs its chain", certPath, chainPath)
		}
		return nil, fmt.Errorf("pki: %s does not end at a self-signed root", chainPath)
	}
	return &CA{Cert: cert, Key: key, Chain: chain, Dir: dir}, nil
}

func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

func publicKeyEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

func readKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	return ParseKey(data)
}

// ParseKey parses a PEM private key: PKCS #8, or the older "EC PRIVATE
// KEY" and "RSA PRIVATE KEY" forms.
func ParseKey(data []byte) (crypto.Signer, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("pki: no PEM private key found")
		}
		var key any
		var err error
		switch b.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("pki: private key: %w", err)
		}
		s, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("pki: private key of type %T cannot sign", key)
		}
		return s, nil
	}
}

func readCerts(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	certs, err := ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", path, err)
	}
	return certs, nil
}

// ParseCertificates parses every CERTIFICATE block of PEM data, in order,
// skipping blocks of other types (a key bundled in the same file). It is an
// error if there is none, or if data holds no PEM at all.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for n := 1; ; n++ {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return certs, nil
}

func pemEncode(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}
