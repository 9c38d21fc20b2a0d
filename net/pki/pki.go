// Package pki is Weir's certificate authority: root and intermediate CAs,
// certificates issued to principals in a role, renewal and rotation,
// revocation with RFC 5280 reasons and CRLs, validation with structured
// problems, the rule that maps a verified certificate to a principal, and
// the tls.Config hook that refuses revoked certificates at the handshake.
//
// It runs in the admin process and in adapters (it draws randomness from
// crypto/rand and reads the clock), never in sm/. What the controller keeps
// in raft is Record, which is plain data.
//
// # Roles
//
// A certificate's role (broker, controller, client, admin) is a URI subject
// alternative name of the exact form
//
//	weir://role/<role>
//
// A certificate carries exactly one URI with scheme "weir", and it is that
// one (RoleOf refuses two, or any other weir: URI; Issue refuses a weir: URI
// among the requested SANs). The role never lives in the subject, so
// it cannot be confused with the CommonName or forged by a principal-mapping
// rule over the subject, and a standard tool (openssl x509 -text) shows it.
// Key usage follows the role: broker and controller certificates are issued
// for server and client authentication, client and admin certificates for
// client authentication only, and Validate checks both agree.
//
// # Files
//
// A CA directory (mode 0700) holds:
//
//	ca.pem        the CA's certificate (for a root, every node's trust root)
//	ca-key.pem    its private key, PKCS #8, mode 0600
//	chain.pem     intermediates only: the issuing CAs up to and including the root
//
// The names match net/tlsutil, so tlsutil.LoadCA reads a root made here.
// Keys are written with exclusive create and never overwritten; LoadCA
// refuses a key file readable by group or others.
//
// # Serials
//
// Serial numbers are random 127-bit positive integers, written as lowercase
// hexadecimal without separators (SerialString); ParseSerial also accepts
// upper case and colon-separated octets as openssl prints them.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
)

// Role is what a certificate's holder is. The zero value is no role.
type Role string

// Roles.
const (
	RoleBroker     Role = "broker"
	RoleController Role = "controller"
	RoleClient     Role = "client"
	RoleAdmin      Role = "admin"
)

// Roles lists every role, in a fixed order.
var Roles = []Role{RoleBroker, RoleController, RoleClient, RoleAdmin}

// ParseRole parses a role name ("broker", "controller", "client", "admin").
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if s == string(r) {
			return r, nil
		}
	}
	return "", fmt.Errorf("pki: unknown role %q (want broker, controller, client or admin)", s)
}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool {
	_, err := ParseRole(string(r))
	return err == nil
}

// Server reports whether the role's certificates are also server
// certificates (brokers and controllers accept connections; clients and
// admins only dial).
func (r Role) Server() bool { return r == RoleBroker || r == RoleController }

// extKeyUsages is the extended key usage a role's certificates carry.
func (r Role) extKeyUsages() []x509.ExtKeyUsage {
	if r.Server() {
		return []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	return []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
}

// KeyAlgorithm is the kind of key pair a CA or certificate gets.
type KeyAlgorithm string

// Key algorithms. The zero value means ECDSAP256.
const (
	ECDSAP256 KeyAlgorithm = "ecdsa-p256"
	ECDSAP384 KeyAlgorithm = "ecdsa-p384"
	Ed25519   KeyAlgorithm = "ed25519"
	RSA2048   KeyAlgorithm = "rsa-2048"
	RSA3072   KeyAlgorithm = "rsa-3072"
	RSA4096   KeyAlgorithm = "rsa-4096"
)

var keyAlgorithms = []KeyAlgorithm{ECDSAP256, ECDSAP384, Ed25519, RSA2048, RSA3072, RSA4096}

// ParseKeyAlgorithm parses a key algorithm name; "" is ECDSAP256.
func ParseKeyAlgorithm(s string) (KeyAlgorithm, error) {
	if s == "" {
		return ECDSAP256, nil
	}
	for _, a := range keyAlgorithms {
		if strings.EqualFold(s, string(a)) {
			return a, nil
		}
	}
	names := make([]string, len(keyAlgorithms))
	for i, a := range keyAlgorithms {
		names[i] = string(a)
	}
	return "", fmt.Errorf("pki: unknown key algorithm %q (want one of %s)", s, strings.Join(names, ", "))
}

// GenerateKey makes a new key pair of algorithm a.
func GenerateKey(a KeyAlgorithm) (crypto.Signer, error) {
	a, err := ParseKeyAlgorithm(string(a))
	if err != nil {
		return nil, err
	}
	var key crypto.Signer
	switch a {
	case ECDSAP256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case Ed25519:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case RSA2048:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	case RSA4096:
		key, err = rsa.GenerateKey(rand.Reader, 4096)
	}
	if err != nil {
		return nil, fmt.Errorf("pki: generate %s key: %w", a, err)
	}
	return key, nil
}

// keyAlgorithmOf names the algorithm of a public key, or describes it.
func keyAlgorithmOf(pub any) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return string(ECDSAP256)
		case elliptic.P384():
			return string(ECDSAP384)
		}
		return "ecdsa-" + k.Curve.Params().Name
	case ed25519.PublicKey:
		return string(Ed25519)
	case *rsa.PublicKey:
		return fmt.Sprintf("rsa-%d", k.N.BitLen())
	}
	return fmt.Sprintf("%T", pub)
}

// SerialString is the canonical text of a serial number: lowercase hex.
func SerialString(serial *big.Int) string {
	if serial == nil {
		return ""
	}
	return serial.Text(16)
}

// ParseSerial parses a serial number in hex, as SerialString writes it or as
// openssl prints it ("3A:0F:..."), with or without a "0x" prefix. It must be
// positive and at most 20 octets (RFC 5280 4.1.2.2).
func ParseSerial(s string) (*big.Int, error) {
	t := strings.ReplaceAll(strings.TrimSpace(s), ":", "")
	t = strings.TrimPrefix(strings.TrimPrefix(t, "0x"), "0X")
	if t == "" {
		return nil, fmt.Errorf("pki: empty serial number %q", s)
	}
	n, ok := new(big.Int).SetString(t, 16)
	if !ok {
		return nil, fmt.Errorf("pki: serial number %q is not hexadecimal", s)
	}
	if n.Sign() <= 0 {
		return nil, fmt.Errorf("pki: serial number %q is not positive", s)
	}
	if len(n.Bytes()) > 20 {
		return nil, fmt.Errorf("pki: serial number %q is longer than 20 octets", s)
	}
	return n, nil
}

func newSerial() (*big.Int, error) {
	for {
		n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
		if err != nil {
			return nil, fmt.Errorf("pki: serial: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// Fingerprint is the SHA-256 of a certificate's DER, lowercase hex.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// PublicKeyFingerprint is the SHA-256 of a certificate's
// SubjectPublicKeyInfo, lowercase hex: equal across a renewal, different
// after a rotation.
func PublicKeyFingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

// MarshalKey encodes a private key as a PKCS #8 PEM block.
func MarshalKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: encode key: %w", err)
	}
	return pemEncode("PRIVATE KEY", der), nil
}

// ensureDir makes dir with mode 0700 if it is missing, or sets an existing
// empty one to 0700. An existing directory with files in it must not be
// accessible by group or others: a CA key's directory is where its files
// can be swapped.
func ensureDir(dir string) error {
	if dir == "" {
		return errors.New("pki: empty directory name")
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("pki: %w", err)
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("pki: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("pki: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("pki: %s is not a directory", dir)
	case fi.Mode().Perm()&0o077 == 0:
		return nil
	}
	// An empty directory (mkdir'd for the CA, or a temporary one) is
	// tightened; one with files in it is the operator's, and refused.
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("pki: directory %s is accessible by group or others (mode %#o); make it 0700", dir, fi.Mode().Perm())
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	return nil
}

// writeFileExcl creates path with mode, refusing an existing file (the
// error wraps fs.ErrExist), writes data and syncs it.
func writeFileExcl(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("pki: %s already exists; refusing to overwrite it: %w", path, err)
		}
		return fmt.Errorf("pki: %w", err)
	}
	err = f.Chmod(mode) // the umask may have narrowed it; never widen beyond mode
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	return nil
}

// writeFiles writes each file exclusively, keys (mode 0600) first; if one
// fails, the ones written by this call are removed, so a failed write
// leaves no half-made identity behind.
func writeFiles(dir string, files []file) error {
	var done []string
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := writeFileExcl(p, f.data, f.mode); err != nil {
			for _, d := range done {
				os.Remove(d)
			}
			return err
		}
		done = append(done, p)
	}
	if d, err := os.Open(dir); err == nil { // make the new names durable
		d.Sync()
		d.Close()
	}
	return nil
}

type file struct {
	name string
	data []byte
	mode os.FileMode
}
