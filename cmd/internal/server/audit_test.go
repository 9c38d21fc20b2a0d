package server

import (
	"net/netip"
	"testing"

	"github.com/weirmq/weir/cmd/internal/audit"
	"github.com/weirmq/weir/sm"
)

// A request a state machine refused for its revoked certificate is an
// authentication failure in the audit log, denied, naming the certificate.
func TestAuditRevokedRefusal(t *testing.T) {
	ev := sm.RevokedEvent(sm.Received{From: 1_000_001, Msg: sm.ProduceRequest{}, Principal: "app@example.com",
		Source: netip.MustParseAddr("10.0.0.7"), Serial: "ab12"})
	got := auditEvent(ev)
	if got.Type != audit.AuthenticationFailure || got.Decision != audit.Deny || got.Principal != "app@example.com" ||
		got.Source != "10.0.0.7" || got.Resource != "certificate:ab12" || got.Operation != "ProduceRequest" || got.Message == "" {
		t.Fatalf("audit event %+v", got)
	}
}
