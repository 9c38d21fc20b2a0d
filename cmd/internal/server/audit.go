package server

import (
	"path/filepath"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/cmd/internal/audit"
	"github.com/weirmq/weir/cmd/internal/config"
	"github.com/weirmq/weir/sm"
)

// openAudit opens the process's audit log as [security] audit_log says:
// "off" disables it, "" puts it in dataDir/audit/audit.log. It returns
// the path ("" when off) and the runtime adapter that writes the state
// machine's security events to it.
func openAudit(sec *config.Security, dataDir, node string, log zerolog.Logger, undo *cleanups) (string, func([]sm.SecurityEvent), error) {
	path := sec.AuditLog
	switch path {
	case config.AuditOff:
		return "", nil, nil
	case "":
		path = filepath.Join(dataDir, "audit", "audit.log")
	}
	l, err := audit.New(audit.Config{Path: path, Node: node})
	if err != nil {
		return "", nil, err
	}
	undo.push(l.Close)
	log.Info().Str("path", path).Msg("audit log")
	return path, func(events []sm.SecurityEvent) {
		for _, e := range events {
			l.Log(auditEvent(e))
		}
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
