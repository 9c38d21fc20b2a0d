package pki

import (
	"cmp"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Status is a certificate's state in the registry.
type Status string

// Statuses. Only Active and Revoked are stored; Expired and NotYetValid
// follow from the validity window and a time (Record.StatusAt).
const (
	StatusActive      Status = "active"
	StatusRevoked     Status = "revoked"
	StatusExpired     Status = "expired"
	StatusNotYetValid Status = "not-yet-valid"
)

// ParseStatus parses a status name, for list filters.
func ParseStatus(s string) (Status, error) {
	for _, st := range []Status{StatusActive, StatusRevoked, StatusExpired, StatusNotYetValid} {
		if strings.EqualFold(s, string(st)) {
			return st, nil
		}
	}
	return "", fmt.Errorf("pki: unknown certificate status %q (want active, revoked, expired or not-yet-valid)", s)
}

// Record is what the certificate registry keeps of one certificate: plain
// data (strings, times, no crypto handles), so it can be replicated through
// raft and printed as JSON. Times are UTC with second precision, as in the
// certificate.
type Record struct {
	Serial string `json:"serial"`
	// Subject is the full subject, RFC 2253 (as principal rules see it).
	Subject string `json:"subject"`
	// Principal is the subject CommonName.
	Principal string `json:"principal"`
	// Role is "" for a CA or a certificate without a (valid) role.
	Role   Role   `json:"role,omitempty"`
	SANs   SANs   `json:"sans,omitzero"`
	Issuer string `json:"issuer"`
	// AuthorityKeyID and SubjectKeyID (hex) tie a certificate to its CA:
	// a CA's CRL lists the revoked records whose AuthorityKeyID is its
	// SubjectKeyID.
	AuthorityKeyID string    `json:"authority_key_id,omitempty"`
	SubjectKeyID   string    `json:"subject_key_id,omitempty"`
	NotBefore      time.Time `json:"not_before"`
	NotAfter       time.Time `json:"not_after"`
	IsCA           bool      `json:"is_ca,omitempty"`
	KeyAlgorithm   string    `json:"key_algorithm"`
	// Fingerprint is the SHA-256 of the certificate's DER, hex.
	Fingerprint string `json:"fingerprint_sha256"`
	// PublicKey is the SHA-256 of its SubjectPublicKeyInfo, hex: the same
	// across a renewal, new after a rotation.
	PublicKey string `json:"public_key_sha256"`
	// Replaces is the serial this certificate renewed or rotated, if any.
	Replaces string `json:"replaces,omitempty"`
	// Status is Active or Revoked; see StatusAt for the status at a time.
	Status           Status    `json:"status"`
	RevocationReason Reason    `json:"revocation_reason,omitempty"`
	RevokedAt        time.Time `json:"revoked_at,omitzero"`
}

// RecordOf describes cert, with status Active. A certificate without a valid
// role gets Role "" (Validate says why).
func RecordOf(cert *x509.Certificate) Record {
	role, _ := RoleOf(cert)
	return Record{
		Serial:         SerialString(cert.SerialNumber),
		Subject:        SubjectString(cert),
		Principal:      cert.Subject.CommonName,
		Role:           role,
		SANs:           sansOf(cert),
		Issuer:         IssuerString(cert),
		AuthorityKeyID: hex.EncodeToString(cert.AuthorityKeyId),
		SubjectKeyID:   hex.EncodeToString(cert.SubjectKeyId),
		NotBefore:      cert.NotBefore.UTC(),
		NotAfter:       cert.NotAfter.UTC(),
		IsCA:           cert.IsCA,
		KeyAlgorithm:   keyAlgorithmOf(cert.PublicKey),
		Fingerprint:    Fingerprint(cert),
		PublicKey:      PublicKeyFingerprint(cert),
		Status:         StatusActive,
	}
}

// SubjectString is cert's subject in RFC 2253 form, in the certificate's own
// attribute order (most specific first: "CN=app,OU=payments,O=Example").
func SubjectString(cert *x509.Certificate) string { return rdnString(cert.RawSubject, cert.Subject) }

// IssuerString is cert's issuer in RFC 2253 form.
func IssuerString(cert *x509.Certificate) string { return rdnString(cert.RawIssuer, cert.Issuer) }

func rdnString(raw []byte, parsed pkix.Name) string {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(raw, &seq); err != nil || len(rest) != 0 {
		return parsed.String() // cannot happen for a parsed certificate
	}
	return seq.String()
}

// StatusAt is the record's status at now: Revoked if revoked, else Expired
// after NotAfter, NotYetValid before NotBefore, and Active.
func (r Record) StatusAt(now time.Time) Status {
	switch {
	case r.Status == StatusRevoked:
		return StatusRevoked
	case now.After(r.NotAfter):
		return StatusExpired
	case now.Before(r.NotBefore):
		return StatusNotYetValid
	}
	return StatusActive
}

// Revoke marks the record revoked for reason at a time. A revoked record
// cannot be revoked again, except that a certificateHold may be made
// permanent with another reason.
func (r *Record) Revoke(reason Reason, at time.Time) error {
	if err := reason.checkRevoke(); err != nil {
		return err
	}
	if r.Status == StatusRevoked && r.RevocationReason != ReasonCertificateHold {
		return fmt.Errorf("pki: certificate %s was already revoked (%s) at %s", r.Serial, r.RevocationReason, stamp(r.RevokedAt))
	}
	if r.Status == StatusRevoked && reason == ReasonCertificateHold {
		return fmt.Errorf("pki: certificate %s is already on hold since %s", r.Serial, stamp(r.RevokedAt))
	}
	r.Status, r.RevocationReason, r.RevokedAt = StatusRevoked, reason, at.UTC().Truncate(time.Second)
	return nil
}

// ReleaseHold makes a certificate on hold (certificateHold) active again.
// Any other revocation is permanent.
func (r *Record) ReleaseHold() error {
	if r.Status != StatusRevoked || r.RevocationReason != ReasonCertificateHold {
		return fmt.Errorf("pki: certificate %s is not on hold (status %s, reason %q); only a certificateHold can be released", r.Serial, r.Status, r.RevocationReason)
	}
	r.Status, r.RevocationReason, r.RevokedAt = StatusActive, "", time.Time{}
	return nil
}

// Revocation is the revocation of a Record, as a CRL or a RevokedSet lists it.
func (r Record) Revocation() (Revocation, bool) {
	if r.Status != StatusRevoked {
		return Revocation{}, false
	}
	return Revocation{Serial: r.Serial, Reason: r.RevocationReason, At: r.RevokedAt}, true
}

// Filter selects records; zero fields match everything.
type Filter struct {
	// Status is matched against StatusAt(now).
	Status    Status
	Role      Role
	Principal string
	// IssuerKeyID (hex) selects certificates one CA issued.
	IssuerKeyID string
}

// Match reports whether r passes f at now.
func (f Filter) Match(r Record, now time.Time) bool {
	return (f.Status == "" || r.StatusAt(now) == f.Status) &&
		(f.Role == "" || r.Role == f.Role) &&
		(f.Principal == "" || r.Principal == f.Principal) &&
		(f.IssuerKeyID == "" || strings.EqualFold(r.AuthorityKeyID, f.IssuerKeyID))
}

// Select returns the records passing f at now, sorted by NotAfter, then
// serial.
func Select(records []Record, f Filter, now time.Time) []Record {
	var out []Record
	for _, r := range records {
		if f.Match(r, now) {
			out = append(out, r)
		}
	}
	sortByExpiry(out)
	return out
}

// Expiring returns the certificates that are active at now and expire
// within d of it (NotAfter in [now, now+d]), soonest first. Revoked and
// already expired ones are not expiring.
func Expiring(records []Record, now time.Time, d time.Duration) []Record {
	var out []Record
	end := now.Add(d)
	for _, r := range records {
		if st := r.StatusAt(now); (st == StatusActive || st == StatusNotYetValid) && !r.NotAfter.After(end) {
			out = append(out, r)
		}
	}
	sortByExpiry(out)
	return out
}

func sortByExpiry(rs []Record) {
	slices.SortFunc(rs, func(a, b Record) int {
		if c := a.NotAfter.Compare(b.NotAfter); c != 0 {
			return c
		}
		return cmp.Compare(a.Serial, b.Serial)
	})
}

// Revocations lists the revocations among records issued by the CA whose
// SubjectKeyID is issuerKeyID ("" for all), sorted by serial: the entries
// of that CA's CRL.
func Revocations(records []Record, issuerKeyID string) []Revocation {
	var out []Revocation
	for _, r := range records {
		if issuerKeyID != "" && !strings.EqualFold(r.AuthorityKeyID, issuerKeyID) {
			continue
		}
		if rv, ok := r.Revocation(); ok {
			out = append(out, rv)
		}
	}
	slices.SortFunc(out, func(a, b Revocation) int { return cmp.Compare(a.Serial, b.Serial) })
	return out
}
