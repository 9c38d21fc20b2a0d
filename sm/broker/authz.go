package broker

import (
	"fmt"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/acl"
)

// Client requests are authorized here, in the state machine, before they
// act: a produce needs write on its topic, a fetch read, a list-offsets
// describe; a metadata answer lists only the topics the principal may
// describe (and never the rule set itself). A refusal is an answer with
// TOPIC_AUTHORIZATION_FAILED naming the principal, the operation and the
// topic, never a dropped connection. The rules arrive in metadata
// (sm.MetadataDelta.ACL); the broker compiles them into an acl.Authorizer
// whenever the rule set changes, so a decision costs tens of nanoseconds
// whatever the number of rules.

// authz is the compiled rule set and the metadata ACL generation it came
// from.
type authz struct {
	a   *acl.Authorizer
	gen uint64
	// version is the rule set's version (acl.State.Version); broken says
	// the rule set in metadata did not decode, so the broker denies all but
	// super users until a good one arrives.
	version uint64
	broken  string
}

// syncAuthz recompiles the authorizer when metadata holds a new rule set.
func (n *Node) syncAuthz() {
	snap, gen := n.meta.ACL()
	if n.authz.a != nil && (gen == n.authz.gen || n.cfg.CanaryStaleACL && n.authz.version > 0) {
		return
	}
	st, broken := &acl.State{}, ""
	if snap != nil {
		restored, err := acl.Restore(snap)
		if err == nil {
			st = restored
		} else {
			broken = err.Error()
		}
	}
	opt := n.cfg.ACL
	if broken != "" {
		opt.AllowIfNoRules = false // fail closed
	}
	a, err := acl.Compile(st, opt)
	if err != nil { // opt was validated with the config; the rule set passed its invariants
		panic(fmt.Sprintf("broker: %v: compile ACL rules: %v", n.cfg.ID, err))
	}
	if n.authz.a != nil {
		n.probe(sm.ProbeACLRulesApplied)
	}
	n.authz = authz{a: a, gen: gen, version: st.Version(), broken: broken}
}

// syncRevoked takes in the revoked certificate serials when metadata holds
// a new set: client requests with them are refused from now on (refused),
// and the set is reported for the process to enforce at its transport.
func (n *Node) syncRevoked() {
	serials, gen := n.meta.Revoked()
	if gen == n.revokedGen || serials == nil || n.cfg.CanaryIgnoreRevocations {
		return
	}
	n.revokedGen = gen
	n.revoked = make(map[string]bool, len(serials))
	for _, s := range serials {
		n.revoked[s] = true
	}
	n.rd.Revoked = serials
}

// refused answers a client request that came with a revoked certificate
// (CodeCertificateRevoked, audited) and reports whether it did. The
// transport refuses such certificates too, but only once this broker has
// reported the set (a restarted process, a request read before the
// report); this check holds from the moment the set arrived.
func (n *Node) refused(ev sm.Received) bool {
	if ev.Serial == "" || !n.revoked[ev.Serial] {
		return false
	}
	reply, ok := sm.RefuseRevoked(ev.Msg, ev.Serial, sm.NoNode)
	if !ok {
		return false // peers' traffic: the transport's to cut off
	}
	n.probe(sm.ProbeRevokedCertRefused)
	n.rd.Security = append(n.rd.Security, sm.RevokedEvent(ev))
	n.send(ev.From, reply)
	return true
}

// ACLVersion is the version of the ACL rule set the broker enforces.
func (n *Node) ACLVersion() uint64 { return n.authz.version }

// authorize decides one operation on a topic for the request in ev.
func (n *Node) authorize(ev sm.Received, topic string, op acl.Operation) acl.Decision {
	return n.authz.a.Authorize(acl.Request{
		Principal: ev.Principal, Resource: acl.Resource{Type: acl.ResourceTopic, Name: topic}, Operation: op,
		Source: ev.Source, Time: acl.TimeOfDayFromUnixNano((n.cfg.WallClockAtStart + int64(n.now)/int64(sm.Millisecond)) * 1e6),
	})
}

// audit reports a refusal for the audit log.
func (n *Node) audit(ev sm.Received, topic string, op acl.Operation, d acl.Decision, msg string) {
	n.rd.Security = append(n.rd.Security, sm.SecurityEvent{Kind: sm.SecurityDenied, Principal: ev.Principal, Source: ev.Source,
		Resource: "topic:" + topic, Operation: op.String(), RuleID: uint64(d.RuleID), Reason: d.Reason.String(), Message: msg})
}

// denied is the Message of a TOPIC_AUTHORIZATION_FAILED answer.
func (n *Node) denied(ev sm.Received, topic string, op acl.Operation, d acl.Decision) string {
	who := ev.Principal
	if who == "" {
		who = "(no principal)"
	}
	msg := fmt.Sprintf("principal %q may not %v topic %q (%v", who, op, topic, d.Reason)
	if d.RuleID != 0 {
		msg += fmt.Sprintf(", rule %d", d.RuleID)
	}
	if n.authz.broken != "" {
		msg += "; the broker's ACL rule set is unreadable: " + n.authz.broken
	}
	return msg + ")"
}

// visible is the metadata delta a client may see: the topics and
// partitions its principal may describe, and no ACL rules.
func (n *Node) visible(ev sm.Received, d sm.MetadataDelta) sm.MetadataDelta {
	return d.Visible(func(topic string) bool { return n.authorize(ev, topic, acl.OpDescribe).Allowed })
}
