package pki

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
)

// Reason is an RFC 5280 CRLReason, by its RFC name.
type Reason string

// Reasons (RFC 5280 5.3.1). Code 7 is unused.
const (
	ReasonUnspecified          Reason = "unspecified"          // 0
	ReasonKeyCompromise        Reason = "keyCompromise"        // 1
	ReasonCACompromise         Reason = "cACompromise"         // 2
	ReasonAffiliationChanged   Reason = "affiliationChanged"   // 3
	ReasonSuperseded           Reason = "superseded"           // 4
	ReasonCessationOfOperation Reason = "cessationOfOperation" // 5
	ReasonCertificateHold      Reason = "certificateHold"      // 6
	ReasonRemoveFromCRL        Reason = "removeFromCRL"        // 8: delta CRLs only
	ReasonPrivilegeWithdrawn   Reason = "privilegeWithdrawn"   // 9
	ReasonAACompromise         Reason = "aACompromise"         // 10
)

var reasonCodes = map[Reason]int{
	ReasonUnspecified: 0, ReasonKeyCompromise: 1, ReasonCACompromise: 2, ReasonAffiliationChanged: 3,
	ReasonSuperseded: 4, ReasonCessationOfOperation: 5, ReasonCertificateHold: 6, ReasonRemoveFromCRL: 8,
	ReasonPrivilegeWithdrawn: 9, ReasonAACompromise: 10,
}

// Reasons a certificate may be revoked for, in code order.
var RevocationReasons = []Reason{
	ReasonUnspecified, ReasonKeyCompromise, ReasonCACompromise, ReasonAffiliationChanged, ReasonSuperseded,
	ReasonCessationOfOperation, ReasonCertificateHold, ReasonPrivilegeWithdrawn, ReasonAACompromise,
}

func foldReason(s string) string {
	return strings.ToLower(strings.NewReplacer("-", "", "_", "", " ", "").Replace(s))
}

// ParseReason parses a revocation reason: its RFC 5280 name in any case,
// with or without hyphens or underscores ("keyCompromise",
// "key-compromise", "KEY_COMPROMISE"), or its numeric code. "" is
// unspecified. removeFromCRL is refused: it belongs in delta CRLs, and a
// hold is released with Record.ReleaseHold.
func ParseReason(s string) (Reason, error) {
	if s == "" {
		return ReasonUnspecified, nil
	}
	f := foldReason(s)
	for r, code := range reasonCodes {
		if f == foldReason(string(r)) || f == fmt.Sprint(code) {
			if err := r.checkRevoke(); err != nil {
				return "", err
			}
			return r, nil
		}
	}
	names := make([]string, len(RevocationReasons))
	for i, r := range RevocationReasons {
		names[i] = string(r)
	}
	return "", fmt.Errorf("pki: unknown revocation reason %q (want one of %s)", s, strings.Join(names, ", "))
}

// Code is the reason's RFC 5280 code, or -1 for an unknown reason.
func (r Reason) Code() int {
	if c, ok := reasonCodes[r]; ok {
		return c
	}
	return -1
}

func reasonOfCode(code int) (Reason, error) {
	for r, c := range reasonCodes {
		if c == code {
			return r, nil
		}
	}
	return "", fmt.Errorf("pki: unknown CRL reason code %d", code)
}

func (r Reason) checkRevoke() error {
	switch {
	case r == ReasonRemoveFromCRL:
		return errors.New("pki: removeFromCRL is not a reason to revoke (it is for delta CRLs; release a certificateHold instead)")
	case r.Code() < 0:
		return fmt.Errorf("pki: unknown revocation reason %q", r)
	}
	return nil
}

// Revocation is one revoked certificate.
type Revocation struct {
	Serial string    `json:"serial"`
	Reason Reason    `json:"reason"`
	At     time.Time `json:"at"`
}

// Checker answers whether a certificate serial is revoked, and why. The
// controller's registry backs it on every broker and controller.
type Checker func(serial *big.Int) (revoked bool, reason string)

// RevokedSet is a set of revocations keyed by serial (SerialString).
type RevokedSet map[string]Revocation

// NewRevokedSet indexes revocations by serial, in canonical form; a serial
// that does not parse is an error.
func NewRevokedSet(rs []Revocation) (RevokedSet, error) {
	s := make(RevokedSet, len(rs))
	for i, r := range rs {
		n, err := ParseSerial(r.Serial)
		if err != nil {
			return nil, fmt.Errorf("pki: revocation %d: %w", i+1, err)
		}
		r.Serial = SerialString(n)
		s[r.Serial] = r
	}
	return s, nil
}

// Lookup returns the revocation of serial, if any.
func (s RevokedSet) Lookup(serial *big.Int) (Revocation, bool) {
	r, ok := s[SerialString(serial)]
	return r, ok
}

// Check is s as a Checker.
func (s RevokedSet) Check(serial *big.Int) (bool, string) {
	r, ok := s.Lookup(serial)
	return ok, string(r.Reason)
}

// CRLOptions are the fields of a CRL besides its entries.
type CRLOptions struct {
	// Number is the CRL number (RFC 5280 5.2.3); each CRL a CA issues needs
	// a larger one (a raft index serves).
	Number uint64
	// ThisUpdate defaults to the CA's clock; NextUpdate, when the next CRL
	// will be issued, to ThisUpdate plus a day.
	ThisUpdate, NextUpdate time.Time
}

// CreateCRL makes a CRL (PEM, "X509 CRL") of revoked, signed by ca. Entries
// are sorted by serial; a serial that does not parse, a duplicate or a
// reason that may not appear is an error naming the entry.
func (ca *CA) CreateCRL(revoked []Revocation, opts CRLOptions) ([]byte, error) {
	this := opts.ThisUpdate
	if this.IsZero() {
		this = ca.now()
	}
	next := opts.NextUpdate
	if next.IsZero() {
		next = this.Add(24 * time.Hour)
	}
	if !next.After(this) {
		return nil, fmt.Errorf("pki: CRL next update %s is not after this update %s", stamp(next), stamp(this))
	}
	entries := make([]x509.RevocationListEntry, 0, len(revoked))
	seen := make(map[string]int, len(revoked))
	for i, r := range revoked {
		n, err := ParseSerial(r.Serial)
		if err != nil {
			return nil, fmt.Errorf("pki: CRL entry %d: %w", i+1, err)
		}
		if j, dup := seen[SerialString(n)]; dup {
			return nil, fmt.Errorf("pki: CRL entries %d and %d both revoke serial %s", j, i+1, SerialString(n))
		}
		seen[SerialString(n)] = i + 1
		reason := r.Reason
		if reason == "" {
			reason = ReasonUnspecified
		}
		if err := reason.checkRevoke(); err != nil {
			return nil, fmt.Errorf("pki: CRL entry %d (serial %s): %w", i+1, SerialString(n), err)
		}
		if r.At.IsZero() {
			return nil, fmt.Errorf("pki: CRL entry %d (serial %s) has no revocation time", i+1, SerialString(n))
		}
		entries = append(entries, x509.RevocationListEntry{SerialNumber: n, RevocationTime: r.At.UTC(), ReasonCode: reason.Code()})
	}
	slices.SortFunc(entries, func(a, b x509.RevocationListEntry) int { return a.SerialNumber.Cmp(b.SerialNumber) })
	tmpl := &x509.RevocationList{
		Number:                    new(big.Int).SetUint64(opts.Number),
		ThisUpdate:                this.UTC(),
		NextUpdate:                next.UTC(),
		RevokedCertificateEntries: entries,
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: create CRL: %w", err)
	}
	return pemEncode("X509 CRL", der), nil
}

// CRL is a parsed certificate revocation list.
type CRL struct {
	Number                 *big.Int
	Issuer                 string // RFC 2253
	ThisUpdate, NextUpdate time.Time
	Entries                []Revocation
	// List is the parsed x509 form, signature and all.
	List *x509.RevocationList
}

// Set indexes the CRL's entries.
func (c *CRL) Set() RevokedSet {
	s := make(RevokedSet, len(c.Entries))
	for _, e := range c.Entries {
		s[e.Serial] = e
	}
	return s
}

// ParseCRL parses a CRL, PEM ("X509 CRL") or DER. It does not check the
// signature: see VerifyCRL.
func ParseCRL(data []byte) (*CRL, error) {
	der := data
	if b, _ := pem.Decode(data); b != nil {
		if b.Type != "X509 CRL" {
			return nil, fmt.Errorf("pki: PEM block is %q, want \"X509 CRL\"", b.Type)
		}
		der = b.Bytes
	} else if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN")) {
		return nil, errors.New("pki: malformed PEM CRL")
	}
	rl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse CRL: %w", err)
	}
	c := &CRL{Number: rl.Number, ThisUpdate: rl.ThisUpdate, NextUpdate: rl.NextUpdate, List: rl}
	c.Issuer = rdnString(rl.RawIssuer, rl.Issuer)
	for i, e := range rl.RevokedCertificateEntries {
		reason, err := reasonOfCode(e.ReasonCode)
		if err != nil {
			return nil, fmt.Errorf("pki: CRL entry %d (serial %s): %w", i+1, SerialString(e.SerialNumber), err)
		}
		c.Entries = append(c.Entries, Revocation{Serial: SerialString(e.SerialNumber), Reason: reason, At: e.RevocationTime.UTC()})
	}
	return c, nil
}

// VerifyCRL parses a CRL and checks that issuer signed it (issuer name and
// signature) and, unless now is zero, that it is current: ThisUpdate not
// after now and NextUpdate not before it.
func VerifyCRL(data []byte, issuer *x509.Certificate, now time.Time) (*CRL, error) {
	c, err := ParseCRL(data)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(c.List.RawIssuer, issuer.RawSubject) {
		return nil, fmt.Errorf("pki: CRL issued by %q, not by CA %q", c.Issuer, SubjectString(issuer))
	}
	if err := c.List.CheckSignatureFrom(issuer); err != nil {
		return nil, fmt.Errorf("pki: CRL signature does not verify against CA %q: %w", SubjectString(issuer), err)
	}
	if !now.IsZero() {
		if c.ThisUpdate.After(now) {
			return nil, fmt.Errorf("pki: CRL number %v is not valid until %s", c.Number, stamp(c.ThisUpdate))
		}
		if !c.NextUpdate.IsZero() && now.After(c.NextUpdate) {
			return nil, fmt.Errorf("pki: CRL number %v is stale: its next update was due %s", c.Number, stamp(c.NextUpdate))
		}
	}
	return c, nil
}
