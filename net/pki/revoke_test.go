package pki

import (
	"encoding/pem"
	"slices"
	"testing"
	"time"
)

func TestParseReason(t *testing.T) {
	for in, want := range map[string]Reason{
		"":                       ReasonUnspecified,
		"keyCompromise":          ReasonKeyCompromise,
		"key-compromise":         ReasonKeyCompromise,
		"KEY_COMPROMISE":         ReasonKeyCompromise,
		"ca-compromise":          ReasonCACompromise,
		"cACompromise":           ReasonCACompromise,
		"affiliation-changed":    ReasonAffiliationChanged,
		"superseded":             ReasonSuperseded,
		"cessation-of-operation": ReasonCessationOfOperation,
		"certificateHold":        ReasonCertificateHold,
		"privilege-withdrawn":    ReasonPrivilegeWithdrawn,
		"aa-compromise":          ReasonAACompromise,
		"1":                      ReasonKeyCompromise,
		"10":                     ReasonAACompromise,
	} {
		if got, err := ParseReason(in); err != nil || got != want {
			t.Errorf("ParseReason(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"stolen":        `unknown revocation reason "stolen" (want one of unspecified, keyCompromise`,
		"7":             "unknown revocation reason",
		"removeFromCRL": "delta CRLs",
		"8":             "delta CRLs",
	} {
		_, err := ParseReason(in)
		wantErr(t, err, want)
	}
	for _, r := range RevocationReasons {
		if got, err := ParseReason(string(r)); err != nil || got != r {
			t.Errorf("%s does not round trip: %v", r, err)
		}
	}
}

// A CRL made from revocations parses back to the same entries, number and
// times, verifies against its CA only, and is refused when stale.
func TestCRLRoundTrip(t *testing.T) {
	root := newRoot(t)
	sub := newIntermediate(t, root, "Sub CA")
	revoked := []Revocation{
		{Serial: "ABCDEF", Reason: ReasonKeyCompromise, At: t0.Add(-time.Hour)},
		{Serial: "12", Reason: ReasonUnspecified, At: t0.Add(-2 * time.Hour)},
		{Serial: "3a:0f", Reason: ReasonCertificateHold, At: t0.Add(-3 * time.Hour)},
		{Serial: "77", At: t0.Add(-4 * time.Hour)}, // no reason: unspecified
	}
	for _, ca := range []*CA{root, sub} {
		data, err := ca.CreateCRL(revoked, CRLOptions{Number: 42, ThisUpdate: t0, NextUpdate: t0.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := pem.Decode(data); b == nil || b.Type != "X509 CRL" {
			t.Fatalf("CRL is not PEM X509 CRL:\n%s", data)
		}
		crl, err := VerifyCRL(data, ca.Cert, t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if crl.Number.Int64() != 42 || !crl.ThisUpdate.Equal(t0) || !crl.NextUpdate.Equal(t0.Add(time.Hour)) || crl.Issuer != SubjectString(ca.Cert) {
			t.Fatalf("CRL header %v %v %v %q", crl.Number, crl.ThisUpdate, crl.NextUpdate, crl.Issuer)
		}
		want := []Revocation{
			{Serial: "12", Reason: ReasonUnspecified, At: t0.Add(-2 * time.Hour)},
			{Serial: "77", Reason: ReasonUnspecified, At: t0.Add(-4 * time.Hour)},
			{Serial: "3a0f", Reason: ReasonCertificateHold, At: t0.Add(-3 * time.Hour)},
			{Serial: "abcdef", Reason: ReasonKeyCompromise, At: t0.Add(-time.Hour)},
		}
		if !slices.Equal(crl.Entries, want) {
			t.Fatalf("entries\n%+v\nwant\n%+v", crl.Entries, want)
		}
		set := crl.Set()
		n, _ := ParseSerial("abcdef")
		if ok, reason := set.Check(n); !ok || reason != "keyCompromise" {
			t.Fatalf("Set().Check = %v %q", ok, reason)
		}
		// DER works too.
		b, _ := pem.Decode(data)
		if _, err := VerifyCRL(b.Bytes, ca.Cert, time.Time{}); err != nil {
			t.Fatalf("DER CRL: %v", err)
		}
		_, err = VerifyCRL(data, ca.Cert, t0.Add(2*time.Hour))
		wantErr(t, err, "is stale")
		_, err = VerifyCRL(data, ca.Cert, t0.Add(-time.Minute))
		wantErr(t, err, "is not valid until")
	}
	data, _ := root.CreateCRL(revoked, CRLOptions{Number: 1, ThisUpdate: t0})
	_, err := VerifyCRL(data, sub.Cert, time.Time{})
	wantErr(t, err, `not by CA "CN=Sub CA"`)
	// Another root with the same name: the names agree, the signature not.
	twin, err := NewRoot(CAOptions{CommonName: "Test Root", NotBefore: t0.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = VerifyCRL(data, twin.Cert, time.Time{})
	wantErr(t, err, "signature does not verify")
	// Tampering with a byte of the signed body breaks it as well.
	b, _ := pem.Decode(data)
	b.Bytes[len(b.Bytes)/2] ^= 1
	if _, err := VerifyCRL(b.Bytes, root.Cert, time.Time{}); err == nil {
		t.Fatal("a tampered CRL verified")
	}
	crl, err := ParseCRL(data)
	if err != nil || crl.NextUpdate != t0.Add(24*time.Hour) {
		t.Fatalf("default next update: %v %v", crl, err)
	}
}

func TestCRLRefusals(t *testing.T) {
	ca := newRoot(t)
	at := t0.Add(-time.Hour)
	for _, tc := range []struct {
		name string
		rs   []Revocation
		opts CRLOptions
		want string
	}{
		{"bad serial", []Revocation{{Serial: "zz", At: at}}, CRLOptions{}, "CRL entry 1: pki: serial number \"zz\" is not hexadecimal"},
		{"duplicate", []Revocation{{Serial: "1", At: at}, {Serial: "2", At: at}, {Serial: "01", At: at}}, CRLOptions{}, "entries 1 and 3 both revoke serial 1"},
		{"remove from crl", []Revocation{{Serial: "1", Reason: ReasonRemoveFromCRL, At: at}}, CRLOptions{}, "delta CRLs"},
		{"unknown reason", []Revocation{{Serial: "1", Reason: "lost", At: at}}, CRLOptions{}, `unknown revocation reason "lost"`},
		{"no time", []Revocation{{Serial: "1"}}, CRLOptions{}, "has no revocation time"},
		{"next before this", nil, CRLOptions{ThisUpdate: t0, NextUpdate: t0}, "is not after this update"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ca.CreateCRL(tc.rs, tc.opts)
			wantErr(t, err, tc.want)
		})
	}
	for in, want := range map[string]string{
		"":           "parse CRL",
		"garbage":    "parse CRL",
		"-----BEGIN": "malformed PEM CRL",
		string(pemEncode("CERTIFICATE", ca.Cert.Raw)): `PEM block is "CERTIFICATE"`,
	} {
		_, err := ParseCRL([]byte(in))
		wantErr(t, err, want)
	}
	if _, err := NewRevokedSet([]Revocation{{Serial: "q"}}); err == nil {
		t.Fatal("NewRevokedSet accepted serial q")
	}
	set, err := NewRevokedSet([]Revocation{{Serial: "0A:BC", Reason: ReasonSuperseded, At: at}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := set["abc"]; !ok {
		t.Fatalf("serial not canonical: %v", set)
	}
}
