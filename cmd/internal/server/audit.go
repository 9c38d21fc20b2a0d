package server

import (
	"path/filepath"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/cmd/internal/audit"
	"github.com/weirmq/weir/cmd/internal/config"
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
	}, nil
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
	}
	return ev
}
