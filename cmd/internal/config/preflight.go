package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Preflight checks what Validate cannot see from the values alone but a
// start would trip over: the TLS files load and name this node, listen
// addresses are free, data directories are writable. Each problem names its
// key, so `weir-broker` exits 1 with "tls.cert_file: …" instead of a bare
// start failure. It changes nothing on disk beyond creating missing data
// directories (which the start would create anyway).
func (b *Broker) Preflight() error {
	var p Preflight
	p.checkTLS(b.TLS, fmt.Sprintf("broker-%d", b.Broker.ID))
	p.checkUDP("network.quic_listen", b.Network.QUICListen)
	if b.Metrics.Listen != "" {
		p.checkTCP("metrics.listen", b.Metrics.Listen)
	}
	p.checkDir("wal.path", b.WAL.Path)
	p.checkStore(&b.ObjectStorage.ObjectStore, b.ObjectStorage.StoreOptions())
	return p.Err("broker")
}

// Preflight is the controller's version of Broker.Preflight.
func (c *Controller) Preflight() error {
	var p Preflight
	p.checkTLS(c.TLS, fmt.Sprintf("controller-%d", c.Controller.NodeID))
	p.checkUDP("controller.raft_listen", c.Controller.RaftListen)
	p.checkUDP("controller.rpc_listen", c.Controller.RPCListen)
	p.checkTCP("controller.http_listen", c.Controller.HTTPListen)
	p.checkDir("controller.data_dir", c.Controller.DataDir)
	p.checkStore(&c.ObjectStorage.ObjectStore, StoreOptions{})
	if c.Admin.AuthTokenFile != "" {
		if _, err := ReadAuthToken(c.Admin.AuthTokenFile); err != nil {
			p.add("admin.auth_token_file", c.Admin.AuthTokenFile, err)
		}
	}
	return p.Err("controller")
}

// ReadAuthToken reads an admin bearer token file: one line, not empty, not
// readable by group or others.
func ReadAuthToken(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fileErr(err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("readable by others (mode %v): chmod 600 %s", fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fileErr(err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" || strings.ContainsAny(tok, " \t\n") {
		return "", errors.New("holds no token (want one line without spaces)")
	}
	return tok, nil
}

// KeyError is one preflight problem: the key and what is wrong with what it
// names. Err keeps the cause (errors.Is(err, syscall.EADDRINUSE) holds for
// an address in use).
type KeyError struct {
	Key string
	// Value is the key's value (an address, a path).
	Value string
	Err   error
}

func (e *KeyError) Error() string { return fmt.Sprintf("%s %q: %v", e.Key, e.Value, e.Err) }

// Unwrap returns the cause.
func (e *KeyError) Unwrap() error { return e.Err }

// ErrAddrInUse marks a listen address another process (or another node of
// this one) holds; the KeyError also wraps the system's EADDRINUSE.
var ErrAddrInUse = errors.New("address already in use")

// Preflight collects KeyErrors.
type Preflight struct{ Errs []*KeyError }

// PreflightError is every problem Preflight found for one node.
type PreflightError struct {
	What string // broker or controller
	Errs []*KeyError
}

func (e *PreflightError) Error() string {
	lines := make([]string, len(e.Errs))
	for i, k := range e.Errs {
		lines[i] = k.Error()
	}
	return fmt.Sprintf("config: %s cannot start:\n  %s", e.What, strings.Join(lines, "\n  "))
}

// Unwrap returns the KeyErrors, for errors.Is and errors.As.
func (e *PreflightError) Unwrap() []error {
	out := make([]error, len(e.Errs))
	for i, k := range e.Errs {
		out[i] = k
	}
	return out
}

// InUse lists the addresses of the problems that are addresses in use.
func (e *PreflightError) InUse() []string {
	var out []string
	for _, k := range e.Errs {
		if errors.Is(k, ErrAddrInUse) {
			out = append(out, k.Value)
		}
	}
	return out
}

func (p *Preflight) add(key, value string, err error) {
	p.Errs = append(p.Errs, &KeyError{Key: key, Value: value, Err: err})
}

// Err is nil or a *PreflightError.
func (p *Preflight) Err(what string) error {
	if len(p.Errs) == 0 {
		return nil
	}
	return &PreflightError{What: what, Errs: p.Errs}
}

// Merge adds the problems of node's preflight error, their keys prefixed
// with the node's name (weir dev checks every node before starting any).
func (p *Preflight) Merge(node string, err error) {
	var pe *PreflightError
	if errors.As(err, &pe) {
		for _, k := range pe.Errs {
			p.Errs = append(p.Errs, &KeyError{Key: node + " " + k.Key, Value: k.Value, Err: k.Err})
		}
	}
}

func (p *Preflight) checkTLS(t TLS, name string) {
	before := len(p.Errs)
	if pem, err := os.ReadFile(t.CAFile); err != nil {
		p.add("tls.ca_file", t.CAFile, fileErr(err))
	} else if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		p.add("tls.ca_file", t.CAFile, errors.New("holds no PEM certificate"))
	}
	for _, f := range [][2]string{{"tls.cert_file", t.CertFile}, {"tls.key_file", t.KeyFile}} {
		if _, err := os.Stat(f[1]); err != nil {
			p.add(f[0], f[1], fileErr(err))
		}
	}
	if len(p.Errs) > before {
		return
	}
	pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		p.add("tls.cert_file", t.CertFile, fmt.Errorf("with tls.key_file %q: %w", t.KeyFile, err))
		return
	}
	if cn := pair.Leaf.Subject.CommonName; cn != name {
		p.add("tls.cert_file", t.CertFile, fmt.Errorf("certificate is named %q, but this node is %s (peers would refuse it)", cn, name))
	}
}

// fileErr drops the path os errors repeat (the KeyError shows it).
func fileErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// checkUDP and checkTCP bind addr and release it at once: port 0 (any free
// port) always passes.
func (p *Preflight) checkUDP(key, addr string) {
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		p.add(key, addr, listenErr(err))
		return
	}
	_ = c.Close()
}

func (p *Preflight) checkTCP(key, addr string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		p.add(key, addr, listenErr(err))
		return
	}
	_ = l.Close()
}

func listenErr(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		err = op.Err
	}
	var sys *os.SyscallError
	if errors.As(err, &sys) {
		err = sys.Err
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return addrInUse{err}
	}
	return err
}

// addrInUse is EADDRINUSE, matching ErrAddrInUse too.
type addrInUse struct{ errno error }

func (addrInUse) Error() string     { return "address already in use: another process listens there" }
func (e addrInUse) Unwrap() []error { return []error{ErrAddrInUse, e.errno} }

// checkDir makes sure dir exists (creating it) and a file can be created in
// it.
func (p *Preflight) checkDir(key, dir string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.add(key, dir, fmt.Errorf("cannot create the directory: %w", fileErr(err)))
		return
	}
	f, err := os.CreateTemp(dir, ".preflight-*")
	if err != nil {
		p.add(key, dir, fmt.Errorf("directory is not writable: %w", fileErr(err)))
		return
	}
	name := f.Name()
	_ = f.Close()
	_ = os.Remove(filepath.Clean(name))
}
