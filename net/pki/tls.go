package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// ErrRevoked is wrapped by every revocation refusal.
var ErrRevoked = errors.New("pki: certificate revoked")

// CheckConnection refuses a connection whose peer certificate, or a CA in
// any of its verified chains (the root excepted), check reports revoked. A
// connection without a peer certificate passes: requiring one is the
// config's ClientAuth. Call it again on live connections when a revocation
// commits, and close those it refuses.
func CheckConnection(cs tls.ConnectionState, check Checker) error {
	if len(cs.PeerCertificates) == 0 {
		return nil
	}
	if err := checkOne(cs.PeerCertificates[0], check, "certificate"); err != nil {
		return err
	}
	for _, chain := range cs.VerifiedChains {
		if len(chain) < 3 {
			continue
		}
		for _, c := range chain[1 : len(chain)-1] {
			if err := checkOne(c, check, "issuing CA"); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkOne(c *x509.Certificate, check Checker, what string) error {
	if revoked, reason := check(c.SerialNumber); revoked {
		return fmt.Errorf("%w: %s %s (%q) is revoked (%s)", ErrRevoked, what, SerialString(c.SerialNumber), c.Subject.CommonName, reasonText(reason))
	}
	return nil
}

// EnforceRevocation returns a clone of cfg whose VerifyConnection also runs
// CheckConnection, after any VerifyConnection cfg already had. It runs on
// both sides after the chain is verified (for servers, with
// RequireAndVerifyClientCert), so a revoked peer fails the handshake.
func EnforceRevocation(cfg *tls.Config, check Checker) (*tls.Config, error) {
	if cfg == nil {
		return nil, errors.New("pki: nil tls.Config")
	}
	if check == nil {
		return nil, errors.New("pki: nil revocation checker")
	}
	out := cfg.Clone()
	prev := cfg.VerifyConnection
	out.VerifyConnection = func(cs tls.ConnectionState) error {
		if prev != nil {
			if err := prev(cs); err != nil {
				return err
			}
		}
		return CheckConnection(cs, check)
	}
	return out, nil
}
