package admin

import (
	"testing"

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
