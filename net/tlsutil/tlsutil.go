// Package tlsutil makes and loads the certificates behind Weir's mutual TLS:
// a development CA, certificates it issues to brokers, controllers and
// clients, and the *tls.Config each side of a connection needs.
//
// Every node is both a TLS server (it accepts connections) and a TLS client
// (it dials peers), so every certificate is issued for both uses. A node's
// identity is its certificate's CommonName ("broker-101", "controller-1",
// "client-orders"); the transport decides which node ids a name may claim.
//
// Files, all PEM, in one directory:
//
//	ca.pem          the CA certificate: every node's trust root
//	ca-key.pem      the CA key (keep it off the nodes in production)
//	<name>.pem      a node's certificate
//	<name>-key.pem  its key (mode 0600)
//
// The CA made here is for development and tests; production deployments
// bring their own CA and use only the Load functions.
package tlsutil

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// NextProto is the ALPN protocol both sides require, so a Weir node never
// talks to a QUIC server of another protocol (or another major version) by
// mistake.
const NextProto = "weir/1"

// Validity of what GenerateCA and IssueCert make: long, because these are
// development certificates that nobody should have to renew mid-project.
const (
	CAValidity   = 10 * 365 * 24 * time.Hour
	CertValidity = 10 * 365 * 24 * time.Hour
)

// File names inside a certificate directory.
const (
	CAFile    = "ca.pem"
	CAKeyFile = "ca-key.pem"
)

// CA is a certificate authority that can issue node certificates.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Dir is where the CA's files are; IssueCert writes beside them, so a
	// node's directory holds everything its Load call needs.
	Dir string
}

// Paths names the three files a node loads: the CA to trust and its own
// certificate and key.
type Paths struct {
	CA, Cert, Key string
}

// PathsFor returns the file names IssueCert uses for name in dir.
func PathsFor(dir, name string) Paths {
	return Paths{
		CA:   filepath.Join(dir, CAFile),
		Cert: filepath.Join(dir, name+".pem"),
		Key:  filepath.Join(dir, name+"-key.pem"),
	}
}

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// GenerateCA makes a new CA in dir (created if missing) and writes ca.pem and
// ca-key.pem. It refuses to overwrite an existing ca.pem (the error wraps
// fs.ErrExist), because certificates issued by the old CA would silently stop
// verifying; use LoadCA to reuse it.
func GenerateCA(dir string) (*CA, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tlsutil: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: ca key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Weir development CA", Organization: []string{"Weir"}},
		NotBefore:             now.Add(-time.Hour), // tolerate clock skew between nodes
		NotAfter:              now.Add(CAValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: ca certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: ca certificate: %w", err)
	}
	if err := writePEM(filepath.Join(dir, CAFile), "CERTIFICATE", der, 0o644, true); err != nil {
		return nil, err
	}
	if err := writeKey(filepath.Join(dir, CAKeyFile), key); err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, Dir: dir}, nil
}

// LoadCA reads a CA written by GenerateCA, so more certificates can be issued
// later by the same authority.
func LoadCA(dir string) (*CA, error) {
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, fmt.Errorf("tlsutil: load ca: %w", err)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok || pair.Leaf == nil || !pair.Leaf.IsCA {
		return nil, fmt.Errorf("tlsutil: %s is not a CA certificate with a signing key", filepath.Join(dir, CAFile))
	}
	return &CA{Cert: pair.Leaf, Key: signer, Dir: dir}, nil
}

// IssueCert issues a certificate with CommonName name, valid for both server
// and client authentication, and writes <name>.pem and <name>-key.pem into
// ca.Dir. hosts are the IP addresses and DNS names peers dial the node by
// (they are checked like any TLS server name); a client that never listens
// may pass none. name is the node's identity, e.g. "broker-101"; it must be
// 1–64 characters of [A-Za-z0-9._-], not starting with a dot or dash, and
// must not collide with the CA's own files.
func IssueCert(ca *CA, name string, hosts []string) (Paths, error) {
	if !validName.MatchString(name) || name == "ca" {
		return Paths{}, fmt.Errorf("tlsutil: invalid certificate name %q (want 1-64 of [A-Za-z0-9._-], not \"ca\")", name)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Paths{}, fmt.Errorf("tlsutil: %s key: %w", name, err)
	}
	serial, err := newSerial()
	if err != nil {
		return Paths{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name, Organization: []string{"Weir"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(CertValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return Paths{}, fmt.Errorf("tlsutil: %s certificate: %w", name, err)
	}
	p := PathsFor(ca.Dir, name)
	if err := writePEM(p.Cert, "CERTIFICATE", der, 0o644, false); err != nil {
		return Paths{}, err
	}
	if err := writeKey(p.Key, key); err != nil {
		return Paths{}, err
	}
	return p, nil
}

// LoadServerConfig builds the config a node listens with: TLS 1.3 only, ALPN
// NextProto, its own certificate, and a client certificate required and
// verified against the CA. Authentication ends there; which identity a
// verified certificate may claim is the transport's decision.
func LoadServerConfig(p Paths) (*tls.Config, error) {
	pool, pair, err := load(p)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		NextProtos:   []string{NextProto},
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}, nil
}

// LoadClientConfig builds the config a node dials with: TLS 1.3 only, ALPN
// NextProto, the CA as the only trust root, and its own certificate to
// present. The server's name is checked against the dialled host as usual.
func LoadClientConfig(p Paths) (*tls.Config, error) {
	pool, pair, err := load(p)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		NextProtos:   []string{NextProto},
		Certificates: []tls.Certificate{pair},
		RootCAs:      pool,
	}, nil
}

// PeerName returns the CommonName of the peer's certificate, which must have
// been verified against a chain. The explicit checks matter: with QUIC a
// client without a certificate completes its dial before the server refuses
// it, and a mis-built config (InsecureSkipVerify, RequireAnyClientCert) would
// accept unverified certificates; neither may yield an identity.
func PeerName(cs tls.ConnectionState) (string, error) {
	if len(cs.PeerCertificates) == 0 {
		return "", errors.New("tlsutil: peer presented no certificate")
	}
	if len(cs.VerifiedChains) == 0 {
		return "", errors.New("tlsutil: peer certificate was not verified")
	}
	cn := cs.PeerCertificates[0].Subject.CommonName
	if cn == "" {
		return "", errors.New("tlsutil: peer certificate has no common name")
	}
	return cn, nil
}

func load(p Paths) (*x509.CertPool, tls.Certificate, error) {
	caPEM, err := os.ReadFile(p.CA)
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("tlsutil: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, tls.Certificate{}, fmt.Errorf("tlsutil: %s holds no PEM certificate", p.CA)
	}
	pair, err := tls.LoadX509KeyPair(p.Cert, p.Key)
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("tlsutil: %w", err)
	}
	return pool, pair, nil
}

func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("tlsutil: serial: %w", err)
	}
	return serial, nil
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("tlsutil: %w", err)
	}
	return writePEM(path, "PRIVATE KEY", der, 0o600, false)
}

// writePEM writes one PEM block; exclusive refuses an existing file.
func writePEM(path, kind string, der []byte, mode os.FileMode, exclusive bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if exclusive {
		flags = os.O_WRONLY | os.O_CREATE | os.O_EXCL
	}
	f, err := os.OpenFile(path, flags, mode)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("tlsutil: %s already exists: %w", path, err)
		}
		return fmt.Errorf("tlsutil: %w", err)
	}
	if err := f.Chmod(mode); err != nil { // O_CREATE's mode does not apply to an existing file
		f.Close()
		return fmt.Errorf("tlsutil: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: kind, Bytes: der}); err != nil {
		f.Close()
		return fmt.Errorf("tlsutil: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("tlsutil: write %s: %w", path, err)
	}
	return nil
}
