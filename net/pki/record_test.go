package pki

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestRecordJSONRoundTrip(t *testing.T) {
	ca := newRoot(t)
	rec := issue(t, ca, IssueRequest{Principal: "app@example.com", Role: RoleClient, SANs: SANs{Email: []string{"app@example.com"}}}).Record()
	if err := rec.Revoke(ReasonKeyCompromise, t0.Add(time.Hour+time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	var back Record
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, rec) {
		t.Fatalf("JSON round trip:\n%+v\n%+v", back, rec)
	}
	if rec.RevokedAt != t0.Add(time.Hour) {
		t.Fatalf("revocation time %v not truncated to seconds", rec.RevokedAt)
	}
	if len(rec.Fingerprint) != 64 || len(rec.PublicKey) != 64 || rec.Serial == "" || rec.Issuer != "CN=Test Root" {
		t.Fatalf("record %+v", rec)
	}
	caRec := ca.Record()
	if !caRec.IsCA || caRec.Role != "" || caRec.SubjectKeyID == "" {
		t.Fatalf("CA record %+v", caRec)
	}
}

func TestStatusAndRevoke(t *testing.T) {
	r := Record{Serial: "1f", NotBefore: t0, NotAfter: t0.Add(time.Hour), Status: StatusActive}
	for _, tc := range []struct {
		at   time.Time
		want Status
	}{
		{t0.Add(-time.Second), StatusNotYetValid}, {t0, StatusActive}, {t0.Add(time.Hour), StatusActive}, {t0.Add(time.Hour + time.Second), StatusExpired},
	} {
		if got := r.StatusAt(tc.at); got != tc.want {
			t.Errorf("StatusAt(%v) = %s, want %s", tc.at, got, tc.want)
		}
	}
	wantErr(t, r.ReleaseHold(), "is not on hold")
	wantErr(t, r.Revoke(ReasonRemoveFromCRL, t0), "not a reason to revoke")
	wantErr(t, r.Revoke("bogus", t0), "unknown revocation reason")
	if err := r.Revoke(ReasonCertificateHold, t0); err != nil {
		t.Fatal(err)
	}
	if r.StatusAt(t0.Add(2*time.Hour)) != StatusRevoked {
		t.Fatal("revoked record not reported revoked after expiry")
	}
	wantErr(t, r.Revoke(ReasonCertificateHold, t0), "already on hold")
	if err := r.ReleaseHold(); err != nil || r.Status != StatusActive || r.RevocationReason != "" || !r.RevokedAt.IsZero() {
		t.Fatalf("ReleaseHold: %v %+v", err, r)
	}
	r.Revoke(ReasonCertificateHold, t0)
	if err := r.Revoke(ReasonKeyCompromise, t0.Add(time.Minute)); err != nil {
		t.Fatalf("a hold could not be made permanent: %v", err)
	}
	wantErr(t, r.Revoke(ReasonSuperseded, t0), "already revoked (keyCompromise)")
	wantErr(t, r.ReleaseHold(), "only a certificateHold can be released")
	if rv, ok := r.Revocation(); !ok || rv != (Revocation{Serial: "1f", Reason: ReasonKeyCompromise, At: t0.Add(time.Minute)}) {
		t.Fatalf("Revocation() = %+v %v", rv, ok)
	}
}

func TestSelectAndExpiring(t *testing.T) {
	day := 24 * time.Hour
	mk := func(serial string, role Role, expires time.Duration, revoked bool) Record {
		r := Record{Serial: serial, Principal: "p" + serial, Role: role, NotBefore: t0.Add(-day), NotAfter: t0.Add(expires), Status: StatusActive, AuthorityKeyID: "ab"}
		if revoked {
			r.Revoke(ReasonSuperseded, t0)
		}
		return r
	}
	rs := []Record{
		mk("1", RoleBroker, 40*day, false),
		mk("2", RoleClient, 10*day, false),
		mk("3", RoleClient, 5*day, true),
		mk("4", RoleBroker, -day, false),
		mk("5", RoleClient, 30*day, false),
		mk("6", RoleClient, 10*day, false),
	}
	serials := func(rs []Record) []string {
		var s []string
		for _, r := range rs {
			s = append(s, r.Serial)
		}
		return s
	}
	if got := serials(Expiring(rs, t0, 30*day)); !slices.Equal(got, []string{"2", "6", "5"}) {
		t.Errorf("expiring within 30 days: %v", got)
	}
	for _, tc := range []struct {
		f    Filter
		want []string
	}{
		{Filter{}, []string{"4", "3", "2", "6", "5", "1"}},
		{Filter{Status: StatusActive, Role: RoleClient}, []string{"2", "6", "5"}},
		{Filter{Status: StatusExpired}, []string{"4"}},
		{Filter{Status: StatusRevoked}, []string{"3"}},
		{Filter{Principal: "p5"}, []string{"5"}},
		{Filter{IssuerKeyID: "AB", Role: RoleBroker}, []string{"4", "1"}},
		{Filter{IssuerKeyID: "cd"}, nil},
	} {
		if got := serials(Select(rs, tc.f, t0)); !slices.Equal(got, tc.want) {
			t.Errorf("Select(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
	if _, err := ParseStatus("gone"); err == nil {
		t.Error("ParseStatus accepted gone")
	}
	if s, err := ParseStatus("Revoked"); err != nil || s != StatusRevoked {
		t.Errorf("ParseStatus(Revoked) = %v %v", s, err)
	}
}

func TestSerials(t *testing.T) {
	ca := newRoot(t)
	is := issue(t, ca, IssueRequest{Principal: "x", Role: RoleClient})
	s := SerialString(is.Cert.SerialNumber)
	n, err := ParseSerial(s)
	if err != nil || n.Cmp(is.Cert.SerialNumber) != 0 {
		t.Fatalf("round trip of %s: %v %v", s, n, err)
	}
	for in, want := range map[string]string{"3A:0F": "3a0f", "0x1F": "1f", " ff ": "ff"} {
		if n, err := ParseSerial(in); err != nil || SerialString(n) != want {
			t.Errorf("ParseSerial(%q) = %v, %v; want %s", in, n, err, want)
		}
	}
	for in, want := range map[string]string{"": "empty", "xyz": "not hexadecimal", "0": "not positive", "-5": "not positive", "ff112233445566778899aabbccddeeff0011223344": "longer than 20 octets"} {
		_, err := ParseSerial(in)
		wantErr(t, err, want)
	}
}

func TestRevocations(t *testing.T) {
	mk := func(serial, aki string, revoked bool) Record {
		r := Record{Serial: serial, AuthorityKeyID: aki, Status: StatusActive}
		if revoked {
			r.Revoke(ReasonSuperseded, t0)
		}
		return r
	}
	rs := []Record{mk("c", "aa", true), mk("a", "aa", true), mk("b", "aa", false), mk("d", "bb", true)}
	got := Revocations(rs, "AA")
	if len(got) != 2 || got[0].Serial != "a" || got[1].Serial != "c" || got[0].Reason != ReasonSuperseded || !got[0].At.Equal(t0) {
		t.Fatalf("Revocations(aa) = %+v", got)
	}
	if n := len(Revocations(rs, "")); n != 3 {
		t.Fatalf("Revocations of all: %d", n)
	}
}
