package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/weirmq/weir/net/tlsutil"
)

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// InitRoot makes the directory 0700, the key 0600, and LoadCA reads back
// the same certificate and key; tlsutil.LoadCA reads it too.
func TestInitRootFilesAndLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	ca, err := InitRoot(dir, CAOptions{CommonName: "Acme Root", Organization: []string{"Acme"}})
	if err != nil {
		t.Fatal(err)
	}
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("directory mode %#o, want 0700", m)
	}
	if m := mode(t, filepath.Join(dir, CAKeyFile)); m != 0o600 {
		t.Errorf("key mode %#o, want 0600", m)
	}
	if m := mode(t, filepath.Join(dir, CAFile)); m != 0o644 {
		t.Errorf("certificate mode %#o, want 0644", m)
	}
	if _, err := os.Stat(filepath.Join(dir, ChainFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a root has a chain file: %v", err)
	}
	if !ca.IsRoot() || !ca.Cert.IsCA || ca.Cert.MaxPathLen != 1 || ca.Cert.Subject.CommonName != "Acme Root" {
		t.Fatalf("root: root %v ca %v pathlen %d cn %q", ca.IsRoot(), ca.Cert.IsCA, ca.Cert.MaxPathLen, ca.Cert.Subject.CommonName)
	}
	got, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Cert.Equal(ca.Cert) || !publicKeyEqual(got.Key.Public(), ca.Key.Public()) || len(got.Chain) != 0 || got.Dir != dir {
		t.Fatal("LoadCA returned a different CA")
	}
	legacy, err := tlsutil.LoadCA(dir)
	if err != nil {
		t.Fatalf("tlsutil.LoadCA: %v", err)
	}
	if !legacy.Cert.Equal(ca.Cert) {
		t.Fatal("tlsutil.LoadCA read a different certificate")
	}
}

// A second InitRoot into the same directory fails with fs.ErrExist and
// leaves the first CA's files as they were.
func TestInitRootRefusesOverwrite(t *testing.T) {
	dir := t.TempDir()
	if _, err := InitRoot(dir, CAOptions{}); err != nil {
		t.Fatal(err)
	}
	key, _ := os.ReadFile(filepath.Join(dir, CAKeyFile))
	cert, _ := os.ReadFile(filepath.Join(dir, CAFile))
	_, err := InitRoot(dir, CAOptions{})
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second InitRoot: %v, want fs.ErrExist", err)
	}
	wantErr(t, err, "refusing to overwrite")
	key2, _ := os.ReadFile(filepath.Join(dir, CAKeyFile))
	cert2, _ := os.ReadFile(filepath.Join(dir, CAFile))
	if !bytes.Equal(key, key2) || !bytes.Equal(cert, cert2) {
		t.Fatal("second InitRoot changed the first CA's files")
	}
	// A stray certificate without a key: the key is written first, the
	// certificate refused, and the new key removed again.
	dir2 := t.TempDir()
	os.Chmod(dir2, 0o700)
	os.WriteFile(filepath.Join(dir2, CAFile), []byte("x"), 0o644)
	if _, err := InitRoot(dir2, CAOptions{}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("InitRoot over a stray ca.pem: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir2, CAKeyFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a failed InitRoot left its key behind: %v", err)
	}
}

func TestInitRootRefusesOpenDirectory(t *testing.T) {
	// An empty open directory is tightened to 0700.
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := InitRoot(dir, CAOptions{}); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, dir); m != 0o700 {
		t.Fatalf("directory mode %#o, want 0700", m)
	}
	// One with the operator's files in it is refused.
	dir = t.TempDir()
	os.Chmod(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "notes"), nil, 0o644)
	_, err := InitRoot(dir, CAOptions{})
	wantErr(t, err, "accessible by group or others")
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o600)
	_, err = InitRoot(f, CAOptions{})
	wantErr(t, err, "is not a directory")
}

func TestLoadCARefusals(t *testing.T) {
	dir := t.TempDir()
	ca, err := InitRoot(dir, CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, CAKeyFile)

	os.Chmod(keyPath, 0o644)
	_, err = LoadCA(dir)
	wantErr(t, err, "accessible by group or others")
	os.Chmod(keyPath, 0o600)

	// Another CA's key beside this certificate.
	other := newRoot(t)
	pemKey, _ := MarshalKey(other.Key)
	os.Remove(keyPath)
	os.WriteFile(keyPath, pemKey, 0o600)
	_, err = LoadCA(dir)
	wantErr(t, err, "does not belong to certificate")

	// A leaf certificate in ca.pem.
	leaf := issue(t, ca, IssueRequest{Principal: "x", Role: RoleClient})
	os.WriteFile(filepath.Join(dir, CAFile), leaf.CertPEM, 0o644)
	_, err = LoadCA(dir)
	wantErr(t, err, "is not a CA certificate")

	_, err = LoadCA(t.TempDir())
	wantErr(t, err, "no such file")
}

func TestIntermediate(t *testing.T) {
	rootDir, subDir := filepath.Join(t.TempDir(), "root"), filepath.Join(t.TempDir(), "sub")
	root, err := InitRoot(rootDir, CAOptions{CommonName: "Root"})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := root.InitIntermediate(subDir, CAOptions{CommonName: "Brokers CA"})
	if err != nil {
		t.Fatal(err)
	}
	if sub.IsRoot() || sub.Root() != root.Cert || sub.Cert.MaxPathLen != 0 || !sub.Cert.MaxPathLenZero {
		t.Fatalf("intermediate: root %v, pathlen %d zero %v", sub.IsRoot(), sub.Cert.MaxPathLen, sub.Cert.MaxPathLenZero)
	}
	if err := sub.Cert.CheckSignatureFrom(root.Cert); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, filepath.Join(subDir, CAKeyFile)); m != 0o600 {
		t.Errorf("intermediate key mode %#o", m)
	}
	loaded, err := LoadCA(subDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded.Chain) != 1 || !loaded.Chain[0].Equal(root.Cert) || !loaded.Cert.Equal(sub.Cert) {
		t.Fatal("LoadCA of the intermediate lost its chain")
	}
	// Without chain.pem the intermediate cannot be loaded.
	os.Remove(filepath.Join(subDir, ChainFile))
	_, err = LoadCA(subDir)
	wantErr(t, err, "an intermediate needs its chain")
	// With a foreign chain neither.
	os.WriteFile(filepath.Join(subDir, ChainFile), pemEncode("CERTIFICATE", newRoot(t).Cert.Raw), 0o644)
	_, err = LoadCA(subDir)
	wantErr(t, err, "did not sign")
}

func TestPathLength(t *testing.T) {
	leafOnly, err := NewRoot(CAOptions{PathLen: LeafOnly})
	if err != nil {
		t.Fatal(err)
	}
	if leafOnly.Cert.MaxPathLen != 0 || !leafOnly.Cert.MaxPathLenZero {
		t.Fatalf("LeafOnly root has path length %d", leafOnly.Cert.MaxPathLen)
	}
	_, err = leafOnly.NewIntermediate(CAOptions{CommonName: "sub"})
	wantErr(t, err, "has path length 0")

	root := newRoot(t) // path length 1
	sub := newIntermediate(t, root, "sub")
	_, err = sub.NewIntermediate(CAOptions{CommonName: "subsub"})
	wantErr(t, err, "has path length 0")
	_, err = root.NewIntermediate(CAOptions{CommonName: "wide", PathLen: 1})
	wantErr(t, err, "is not below the path length 1")

	deep, err := NewRoot(CAOptions{PathLen: 2, NotBefore: t0.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	mid, err := deep.NewIntermediate(CAOptions{CommonName: "mid", PathLen: 1, NotBefore: t0.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	low, err := mid.NewIntermediate(CAOptions{CommonName: "low", NotBefore: t0.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(low.Chain) != 2 || low.Root() != deep.Cert {
		t.Fatalf("chain of low: %d certificates", len(low.Chain))
	}
	leaf := issue(t, low, IssueRequest{Principal: "b", Role: RoleBroker, NotBefore: t0.Add(-time.Minute)})
	if res := Validate(leaf.CertPEM, Trust{Roots: []*x509.Certificate{deep.Cert}}, ValidateOptions{Now: t0}); !res.Valid {
		t.Fatalf("three-level chain: %v", res.Err())
	}
	if len(bytes.Split(bytes.TrimSpace(leaf.CertPEM), []byte("-----END CERTIFICATE-----"))) != 4 {
		t.Fatalf("leaf PEM should carry leaf, low, mid:\n%s", leaf.CertPEM)
	}

	_, err = NewRoot(CAOptions{PathLen: -2})
	wantErr(t, err, "negative")
}

func TestCAOptionErrors(t *testing.T) {
	root := newRoot(t)
	for _, tc := range []struct {
		name string
		opts CAOptions
		want string
	}{
		{"no name", CAOptions{}, "needs a common name"},
		{"outlives root", CAOptions{CommonName: "x", Validity: 20 * 365 * 24 * time.Hour}, "after that of the issuing CA"},
		{"inverted", CAOptions{CommonName: "x", NotBefore: t0, NotAfter: t0.Add(-time.Hour)}, "is not after not-before"},
		{"negative validity", CAOptions{CommonName: "x", Validity: -time.Hour}, "negative"},
		{"bad key", CAOptions{CommonName: "x", KeyAlgorithm: "dsa"}, "unknown key algorithm"},
		{"long name", CAOptions{CommonName: string(bytes.Repeat([]byte("a"), 65))}, "more than 64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := root.NewIntermediate(tc.opts)
			wantErr(t, err, tc.want)
		})
	}
}

// Every key algorithm makes a working CA that issues a verifying
// certificate.
func TestKeyAlgorithms(t *testing.T) {
	for _, alg := range []KeyAlgorithm{"", ECDSAP256, ECDSAP384, Ed25519, RSA2048} {
		t.Run(string(alg), func(t *testing.T) {
			ca, err := NewRoot(CAOptions{KeyAlgorithm: alg, NotBefore: t0.Add(-time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			is := issue(t, ca, IssueRequest{Principal: "p", Role: RoleBroker, KeyAlgorithm: alg, NotBefore: t0.Add(-time.Minute)})
			want := alg
			if want == "" {
				want = ECDSAP256
			}
			if got := is.Record().KeyAlgorithm; got != string(want) {
				t.Fatalf("key algorithm %q, want %q", got, want)
			}
			if res := Validate(is.CertPEM, ca.Trust(), ValidateOptions{Now: t0}); !res.Valid {
				t.Fatal(res.Err())
			}
		})
	}
}

func TestParseKeyForms(t *testing.T) {
	ec, _ := GenerateKey(ECDSAP256)
	rsaKey, _ := GenerateKey(RSA2048)
	ecDER, _ := x509.MarshalECPrivateKey(ec.(*ecdsa.PrivateKey))
	rsaDER := x509.MarshalPKCS1PrivateKey(rsaKey.(*rsa.PrivateKey))
	pk8, _ := MarshalKey(ec)
	for name, data := range map[string][]byte{
		"pkcs8":               pk8,
		"ec":                  pemEncode("EC PRIVATE KEY", ecDER),
		"rsa":                 pemEncode("RSA PRIVATE KEY", rsaDER),
		"after a certificate": append(pemEncode("CERTIFICATE", []byte{1}), pk8...),
	} {
		if _, err := ParseKey(data); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	_, err := ParseKey([]byte("nothing"))
	wantErr(t, err, "no PEM private key")
	_, err = ParseKey(pemEncode("PRIVATE KEY", []byte{1, 2}))
	wantErr(t, err, "pki: private key:")
}

func TestLoadCAChainRefusals(t *testing.T) {
	root := newRoot(t)
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	if _, err := root.InitIntermediate(dir, CAOptions{CommonName: "Sub"}); err != nil {
		t.Fatal(err)
	}
	chain := filepath.Join(dir, ChainFile)
	os.WriteFile(chain, []byte("no pem here"), 0o644)
	_, err := LoadCA(dir)
	wantErr(t, err, "no PEM certificate found")
	leaf := issue(t, root, IssueRequest{Principal: "x", Role: RoleClient})
	os.WriteFile(chain, leaf.CertPEM, 0o644)
	_, err = LoadCA(dir)
	wantErr(t, err, "is not a CA")
	// A chain that stops below the root.
	mid := newIntermediate(t, root, "Mid")
	sub, err := mid.NewIntermediate(CAOptions{CommonName: "Low"})
	if err == nil {
		t.Fatalf("mid has path length 0 and signed %v", sub)
	}
	deep, _ := NewRoot(CAOptions{PathLen: 2, NotBefore: t0.Add(-time.Hour)})
	m2, _ := deep.NewIntermediate(CAOptions{CommonName: "M2", PathLen: 1, NotBefore: t0.Add(-time.Hour)})
	dir2 := t.TempDir()
	os.Chmod(dir2, 0o700)
	if _, err := m2.InitIntermediate(dir2, CAOptions{CommonName: "L2", NotBefore: t0.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir2, ChainFile), pemEncode("CERTIFICATE", m2.Cert.Raw), 0o644)
	_, err = LoadCA(dir2)
	wantErr(t, err, "does not end at a self-signed root")
	// InitIntermediate refuses the directory of an existing CA.
	_, err = root.InitIntermediate(dir2, CAOptions{CommonName: "again"})
	wantErr(t, err, "already exists")
}
