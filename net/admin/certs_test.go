package admin

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/net/pki"
	"github.com/weirmq/weir/sm"
)

// Goal: the registry endpoints register and revoke by serial (openssl's
// colon form accepted), refuse bad serials and a revocation without a
// reason naming the field, and a registered serial twice with the
// controller's message.
func TestCertRegistryEndpoints(t *testing.T) {
	ss := newSec(t)
	a := ss.do(t, "POST", "/api/v1/certs", `{"serial":"3A:0F","principal":"app@example.com","role":"client","not_after":"2027-12-03T00:00:00Z"}`)
	expect(t, a, 201, "")
	if rec := data[sm.CertRecord](t, a); rec.Serial != "3a0f" || rec.Principal != "app@example.com" || rec.Revoked || rec.NotAfterMs == 0 {
		t.Fatalf("register: %s", a.env.Data)
	}
	expect(t, ss.do(t, "POST", "/api/v1/certs", `{"serial":"3a0f"}`), 400, "registered already")
	expect(t, ss.do(t, "POST", "/api/v1/certs/revoke", `{"serial":"xyz","reason":"keyCompromise"}`), 400, `serial: "xyz" is not a hexadecimal serial number`)
	expect(t, ss.do(t, "POST", "/api/v1/certs/revoke", `{"serial":"3a0f"}`), 400, "reason: required")
	expect(t, ss.do(t, "POST", "/api/v1/certs/revoke", `{"serial":"3a0f","reason":"keyCompromise","extra":1}`), 400, "unknown field")
	a = ss.do(t, "POST", "/api/v1/certs/revoke", `{"serial":"003a0f","reason":"keyCompromise"}`)
	expect(t, a, 200, "")
	if rec := data[sm.CertRecord](t, a); rec.Serial != "3a0f" || !rec.Revoked || rec.Reason != "keyCompromise" || rec.RevokedAtMs == 0 {
		t.Fatalf("revoke: %s", a.env.Data)
	}
	expect(t, ss.do(t, "GET", "/api/v1/certs/revoke", ""), 405, "")
}

// Certs lists the fake registry, sorted by serial; its revocation version
// counts the revoked records.
func (f *fakeBackend) Certs(context.Context) (CertRegistry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var reg CertRegistry
	for _, serial := range slices.Sorted(maps.Keys(f.certs)) {
		reg.Records = append(reg.Records, f.certs[serial])
		if f.certs[serial].Revoked {
			reg.RevokedVersion++
		}
	}
	return reg, f.mdErr
}

// caBackend is a fake controller that holds a CA key (or fails to load
// one).
type caBackend struct {
	*fakeBackend
	ca    *pki.CA
	caErr error
}

func (b caBackend) CA() (*pki.CA, error) { return b.ca, b.caErr }

// seedRegistry fills the fake registry: an active certificate expiring in
// 10 days, one expiring in 100 days, one already expired, one revoked.
func seedRegistry(f *fakeBackend) {
	ms := func(d time.Duration) int64 { return secNow.Add(d).UnixMilli() }
	f.certs = map[string]sm.CertRecord{
		"a1": {Serial: "a1", Principal: "app@example.com", Role: "client", NotAfterMs: ms(10 * 24 * time.Hour)},
		"b2": {Serial: "b2", Principal: "app@example.com", Role: "client", NotAfterMs: ms(100 * 24 * time.Hour)},
		"c3": {Serial: "c3", Principal: "old@example.com", Role: "client", NotAfterMs: ms(-time.Hour)},
		"d4": {Serial: "d4", Principal: "app@example.com", Role: "client", NotAfterMs: ms(time.Hour), Revoked: true, Reason: "keyCompromise", RevokedAtMs: ms(-time.Minute)},
	}
}

func serialsOf(l certList) []string {
	var out []string
	for _, c := range l.Certificates {
		out = append(out, c.Serial)
	}
	return out
}

// Goal: GET /api/v1/certs lists the registry in the envelope, each record
// with its status now; filters by status, principal and expiry window
// select exactly the matching records; pages follow next_after; bad
// filters are refused naming the parameter.
func TestListCerts(t *testing.T) {
	ss := newSec(t)
	seedRegistry(ss.b)
	a := ss.do(t, "GET", "/api/v1/certs", "")
	expect(t, a, 200, "")
	l := data[certList](t, a)
	if !slices.Equal(serialsOf(l), []string{"a1", "b2", "c3", "d4"}) || l.Count != 4 || l.Total != 4 || l.NextAfter != nil || l.RevokedVersion != 1 {
		t.Fatalf("list: %s", a.env.Data)
	}
	want := map[string]string{"a1": "active", "b2": "active", "c3": "expired", "d4": "revoked"}
	for _, c := range l.Certificates {
		if c.Status != want[c.Serial] || c.NotAfter == "" {
			t.Fatalf("%s: status %q not_after %q, want %q", c.Serial, c.Status, c.NotAfter, want[c.Serial])
		}
	}
	if d4 := l.Certificates[3]; d4.RevokedAt != "2026-12-03T13:29:00Z" || d4.Reason != "keyCompromise" {
		t.Fatalf("d4: %+v", d4)
	}
	for q, serials := range map[string][]string{
		"status=active":             {"a1", "b2"},
		"status=revoked":            {"d4"},
		"status=expired":            {"c3"},
		"principal=app@example.com": {"a1", "b2", "d4"},
		"expiring_within=720h":      {"a1"},
		"expiring_within=30d":       {"a1"},
		"expiring_within=2400h&principal=app@example.com": {"a1", "b2"},
		"principal=nobody": nil,
		"limit=2":          {"a1", "b2"},
		"limit=2&after=b2": {"c3", "d4"},
	} {
		a := ss.do(t, "GET", "/api/v1/certs?"+q, "")
		expect(t, a, 200, "")
		if got := serialsOf(data[certList](t, a)); !slices.Equal(got, serials) {
			t.Errorf("?%s: %v, want %v", q, got, serials)
		}
	}
	if l := data[certList](t, ss.do(t, "GET", "/api/v1/certs?limit=2", "")); l.NextAfter == nil || *l.NextAfter != "b2" || l.Total != 4 {
		t.Fatalf("first page: %+v", l)
	}
	if !strings.Contains(ss.do(t, "GET", "/api/v1/certs?principal=nobody", "").raw, `"certificates":[]`) {
		t.Fatal("an empty list is not []")
	}
	for q, msg := range map[string]string{
		"status=valid":          `status: "valid", want active, revoked or expired`,
		"expiring_within=soon":  `expiring_within: "soon", want a positive duration`,
		"expiring_within=-1h":   "expiring_within",
		"limit=0":               "limit: \"0\", want a number in 1..10000",
		"after=zz":              `after: "zz" is not a hexadecimal serial number`,
		"principle=app":         `"principle": unknown query parameter`,
		"status=active&status=": "given 2 times",
	} {
		expect(t, ss.do(t, "GET", "/api/v1/certs?"+q, ""), 400, msg)
	}
	ss.b.mdErr = errors.Join(ErrUnavailable, errors.New("loop stopping"))
	expect(t, ss.do(t, "GET", "/api/v1/certs", ""), 503, "certificate registry unavailable")
}

// Goal: GET /api/v1/certs/{serial} describes one record (openssl's colon
// form and leading zeros accepted), 404 naming how certificates get
// registered, 400 for a serial that is not hex, 405 for other methods.
func TestDescribeCert(t *testing.T) {
	ss := newSec(t)
	seedRegistry(ss.b)
	a := ss.do(t, "GET", "/api/v1/certs/00:D4", "")
	expect(t, a, 200, "")
	if v := data[certView](t, a); v.Serial != "d4" || v.Status != "revoked" || v.Principal != "app@example.com" || !v.Revoked {
		t.Fatalf("describe: %s", a.env.Data)
	}
	expect(t, ss.do(t, "GET", "/api/v1/certs/ee55", ""), 404, "certificate ee55 is not in the registry (weir certs issue registers")
	expect(t, ss.do(t, "GET", "/api/v1/certs/not-hex", ""), 400, `serial: "not-hex" is not a hexadecimal serial number`)
	a = ss.do(t, "DELETE", "/api/v1/certs/a1", "")
	expect(t, a, 405, `method "DELETE" not allowed on "/api/v1/certs/a1" (allowed: GET, HEAD)`)
	a = ss.do(t, "DELETE", "/api/v1/certs/revoke", "")
	expect(t, a, 405, "allowed: POST")
	if a.header.Get("Allow") != "POST" {
		t.Fatalf("Allow %q", a.header.Get("Allow"))
	}
	expect(t, ss.do(t, "DELETE", "/api/v1/certs", ""), 405, "GET, HEAD, POST")
}

// Goal: GET /api/v1/certs/crl is a CRL signed by the controller's CA,
// listing exactly the registry's revocations with their reasons and times,
// numbered by the revocation version, PEM by default and DER when asked;
// without a CA key it is 501 saying what to configure, never a fake CRL.
func TestCRL(t *testing.T) {
	ss := newSec(t)
	seedRegistry(ss.b)
	// A revocation whose reason is not an RFC 5280 name is listed
	// unspecified rather than breaking the CRL.
	ss.b.certs["e5"] = sm.CertRecord{Serial: "e5", Revoked: true, Reason: "because", RevokedAtMs: secNow.Add(-time.Hour).UnixMilli()}

	a := ss.do(t, "GET", "/api/v1/certs/crl", "")
	expect(t, a, 501, "no CRL: admin: this controller holds no CA key (set [admin] ca_dir")

	ca, err := pki.NewRoot(pki.CAOptions{CommonName: "Weir test CA", Now: func() time.Time { return secNow.Add(-time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	h := New(Config{Self: 1, RequestTimeout: 2 * time.Second, Log: zerolog.Nop(), Now: func() time.Time { return secNow }}, caBackend{fakeBackend: ss.b, ca: ca}).Handler()
	get := func(accept string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/api/v1/certs/crl", nil)
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for _, tc := range []struct{ accept, contentType string }{
		{"", "application/x-pem-file"},
		{"application/pkix-crl", "application/pkix-crl"},
		{"text/plain;q=0.5, application/pkix-crl;q=0.9", "application/pkix-crl"},
	} {
		w := get(tc.accept)
		if w.Code != 200 || w.Header().Get("Content-Type") != tc.contentType {
			t.Fatalf("Accept %q: %d %q: %s", tc.accept, w.Code, w.Header().Get("Content-Type"), w.Body)
		}
		if isPEM := strings.HasPrefix(w.Body.String(), "-----BEGIN X509 CRL-----"); isPEM != (tc.contentType != "application/pkix-crl") {
			t.Fatalf("Accept %q: PEM %v", tc.accept, isPEM)
		}
		crl, err := pki.VerifyCRL(w.Body.Bytes(), ca.Cert, secNow)
		if err != nil {
			t.Fatalf("Accept %q: %v", tc.accept, err)
		}
		want := []pki.Revocation{
			{Serial: "d4", Reason: pki.ReasonKeyCompromise, At: secNow.Add(-time.Minute)},
			{Serial: "e5", Reason: pki.ReasonUnspecified, At: secNow.Add(-time.Hour)},
		}
		if !slices.Equal(crl.Entries, want) || crl.Number.Uint64() != 2 {
			t.Fatalf("CRL entries %+v number %v, want %+v number 2", crl.Entries, crl.Number, want)
		}
	}

	broken := New(Config{Self: 1, Log: zerolog.Nop()}, caBackend{fakeBackend: ss.b, caErr: errors.New("ca-key.pem: permission denied")}).Handler()
	expect(t, do(t, broken, "GET", "/api/v1/certs/crl", "", ""), 500, "no CRL: ca-key.pem: permission denied")
	missing := New(Config{Self: 1, Log: zerolog.Nop()}, caBackend{fakeBackend: ss.b, caErr: fmt.Errorf("%w: [admin] ca_dir is not set", ErrNoCA)}).Handler()
	expect(t, do(t, missing, "GET", "/api/v1/certs/crl", "", ""), 501, "ca_dir is not set")
}
