package pki

import (
	"bytes"
	"math/big"
	"testing"

	"pgregory.net/rapid"
)

// Parsers of operator input answer every string with a value or an error,
// never a panic, and what they accept round-trips.
func TestParsersTotal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.OneOf(
			rapid.String(),
			rapid.StringMatching(`(regex:|RULE:|san-|SAN:)[\^$()*.,=/:\\A-Za-z0-9?]{0,30}`),
			rapid.StringMatching(`(dns:|ip:|email:|uri:)?[a-z0-9.:@/*-]{0,20}`),
		).Draw(t, "s")
		if r, err := ParsePrincipalRule(s); err == nil && r.String() == "" {
			t.Fatalf("rule %q has no text", s)
		}
		if r, err := ParseReason(s); err == nil {
			if back, err := ParseReason(string(r)); err != nil || back != r {
				t.Fatalf("reason %q -> %q does not round trip: %v", s, r, err)
			}
		}
		if n, err := ParseSerial(s); err == nil {
			if back, err := ParseSerial(SerialString(n)); err != nil || back.Cmp(n) != 0 {
				t.Fatalf("serial %q does not round trip", s)
			}
		}
		ParseSANs([]string{s})
		ParseRole(s)
		ParseKeyAlgorithm(s)
		ParseStatus(s)
		ParseCRL([]byte(s))
		if res := Validate([]byte(s), Trust{}, ValidateOptions{}); res.Valid || len(res.Problems) == 0 {
			t.Fatalf("Validate(%q) without problems", s)
		}
	})
}

func TestSerialRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b := rapid.SliceOfN(rapid.Byte(), 1, 20).Draw(t, "bytes")
		n := new(big.Int).SetBytes(b)
		if n.Sign() == 0 {
			return
		}
		back, err := ParseSerial(SerialString(n))
		if err != nil || back.Cmp(n) != 0 {
			t.Fatalf("%x: %v %v", b, back, err)
		}
	})
}

// A certificate with any byte changed is refused or still valid, never a
// panic; a change inside the signed part is always refused (the signature
// covers it).
func TestValidateMutatedCertificate(t *testing.T) {
	root := newRoot(t)
	is := issue(t, root, IssueRequest{Principal: "broker-1", Role: RoleBroker, SANs: SANs{DNS: []string{"b1"}}})
	der := is.Cert.Raw
	tbs := is.Cert.RawTBSCertificate
	tbsStart := bytes.Index(der, tbs)
	if tbsStart < 0 {
		t.Fatal("TBS not found in DER")
	}
	rapid.Check(t, func(t *rapid.T) {
		i := rapid.IntRange(0, len(der)-1).Draw(t, "i")
		flip := rapid.ByteRange(1, 255).Draw(t, "flip")
		m := bytes.Clone(der)
		m[i] ^= flip
		res := Validate(pemEncode("CERTIFICATE", m), root.Trust(), ValidateOptions{Now: t0})
		if res.Valid && i >= tbsStart && i < tbsStart+len(tbs) {
			t.Fatalf("byte %d of the signed part changed (^%#x) and the certificate still validates", i, flip)
		}
	})
}
