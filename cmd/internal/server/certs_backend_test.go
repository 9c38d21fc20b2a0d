package server

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirmq/weir/net/admin"
	"github.com/weirmq/weir/net/pki"
)

// Goal: the controller signs CRLs only with a CA it really holds: without
// [admin] ca_dir, or with a directory lacking the CA's files, CA says so
// (admin.ErrNoCA, answered 501) naming the setting; a key others may read
// is refused (500, a broken setup) rather than used; a CA made by weir ca
// init loads.
func TestBackendCA(t *testing.T) {
	if _, err := (&backend{}).CA(); !errors.Is(err, admin.ErrNoCA) || !strings.Contains(err.Error(), "[admin] ca_dir is not set") {
		t.Fatalf("no ca_dir: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "nope")
	if _, err := (&backend{caDir: missing}).CA(); !errors.Is(err, admin.ErrNoCA) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing dir: %v", err)
	}
	dir := t.TempDir()
	made, err := pki.InitRoot(dir, pki.CAOptions{CommonName: "Test CA"})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := (&backend{caDir: dir}).CA()
	if err != nil || !ca.Cert.Equal(made.Cert) {
		t.Fatalf("CA() = %v, %v", ca, err)
	}
	if err := os.Chmod(filepath.Join(dir, pki.CAKeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (&backend{caDir: dir}).CA(); err == nil || errors.Is(err, admin.ErrNoCA) || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a readable key: %v", err)
	}
}
