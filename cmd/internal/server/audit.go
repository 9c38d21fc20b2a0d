package server

import (
	"path/filepath"
	"strconv"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/cmd/internal/audit"
	"github.com/weirmq/weir/cmd/internal/config"
	"github.com/weirmq/weir/net/admin"
	"github.com/weirmq/weir/net/transport"
	"github.com/weirmq/weir/sm"
)

// auditTrail is a process's audit log and the adapters that write to it.
type auditTrail struct {
	path string // "" when off
	// events writes the state machine's security events (runtime
	// Adapters.Audit); refused the transport's refused connections
	// (transport.Config.Refused). Both nil when off.
	events  func([]sm.SecurityEvent)
	refused func(remote, name, reason string)
	// admin writes the admin API's events (admin.Config.AuditEvent).
	admin func(admin.AuditRecord)
}

// openAudit opens the process's audit log as [security] audit_log says:
// "off" disables it, "" puts it in dataDir/audit/audit.log.
func openAudit(sec *config.Security, dataDir, node string, log zerolog.Logger, undo *cleanups) (auditTrail, error) {
	path := sec.AuditLog
	switch path {
	case config.AuditOff:
		return auditTrail{}, nil
	case "":
		path = filepath.Join(dataDir, "audit", "audit.log")
	}
	l, err := audit.New(audit.Config{Path: path, Node: node})
	if err != nil {
		return auditTrail{}, err
	}
	undo.push(l.Close)
	log.Info().Str("path", path).Msg("audit log")
	return auditTrail{
		path: path,
		events: func(events []sm.SecurityEvent) {
			for _, e := range events {
				l.Log(auditEvent(e))
			}
		},
		refused: func(remote, name, reason string) {
			l.Log(audit.Event{Type: audit.AuthenticationFailure, Principal: name, Source: remote, Decision: audit.Deny, Message: reason})
		},
		admin: func(r admin.AuditRecord) { l.Log(adminAuditEvent(r)) },
	}, nil
}

// adminAuditEvent is an admin API event as an audit line.
func adminAuditEvent(r admin.AuditRecord) audit.Event {
	ev := audit.Event{Principal: r.Principal, Source: r.Source, Resource: r.Resource, Operation: r.Operation, RuleID: r.RuleID, Message: r.Message,
		Details: map[string]string{"status": strconv.Itoa(r.Status)}}
	switch r.Type {
	case "authentication_failure":
		ev.Type, ev.Decision = audit.AuthenticationFailure, audit.Deny
	case "authorization_denied":
		ev.Type, ev.Decision = audit.AuthorizationDenied, audit.Deny
		ev.Details["reason"] = r.Reason
	default:
		ev.Type = audit.AdminWrite
	}
	return ev
}

// auditEvent is a state machine's security event as an audit line.
func auditEvent(e sm.SecurityEvent) audit.Event {
	ev := audit.Event{Principal: e.Principal, Resource: e.Resource, Operation: e.Operation, RuleID: e.RuleID, Message: e.Message}
	if e.Source.IsValid() {
		ev.Source = e.Source.String()
	}
	switch e.Kind {
	case sm.SecurityDenied:
		ev.Type, ev.Decision = audit.AuthorizationDenied, audit.Deny
		if e.Reason != "" {
			ev.Details = map[string]string{"reason": e.Reason}
		}
	case sm.SecurityACLChanged:
		ev.Type = audit.ACLRuleCreated
		if e.Operation == "delete" {
			ev.Type = audit.ACLRuleDeleted
		}
	case sm.SecurityCertRevoked:
		ev.Type = audit.CertificateRevoked
	case sm.SecurityCertRegistered:
		switch e.Operation {
		case "renew":
			ev.Type = audit.CertificateRenewed
		case "rotate":
			ev.Type = audit.CertificateRotated
		default:
			ev.Type = audit.CertificateIssued
		}
	case sm.SecurityRevokedRefused:
		ev.Type, ev.Decision = audit.AuthenticationFailure, audit.Deny
	}
	return ev
}

// revocations is the process's set of revoked certificate serials, which
// the state machine reports (sm.Ready.Revoked) and the transports consult
// at every handshake (transport.Config.Revoked).
type revocations struct {
	set        atomic.Pointer[map[string]bool]
	transports []*transport.Transport // closed over once built
	log        zerolog.Logger
}

// revoked implements transport.Config.Revoked.
func (r *revocations) revoked(serial string) bool {
	if m := r.set.Load(); m != nil {
		return (*m)[serial]
	}
	return false
}

// update is runtime.Adapters.Revoke: the new set, then every live
// connection of a revoked certificate closed.
func (r *revocations) update(serials []string) {
	m := make(map[string]bool, len(serials))
	for _, s := range serials {
		m[s] = true
	}
	r.set.Store(&m)
	for _, tr := range r.transports {
		if n := tr.CloseRevoked(); n > 0 {
			r.log.Warn().Int("connections", n).Msg("closed the connections of revoked certificates")
		}
	}
}
