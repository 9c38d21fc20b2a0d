package controller

import (
	"fmt"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/acl"
)

// ACL rules are metadata: an ACLRequest's command goes through the raft log
// like any other change, is validated when it applies (acl.State.Apply:
// a refused command changes nothing, on every replica alike), and a change
// bumps the metadata version, so brokers get the whole rule set in their
// next delta (sm.MetadataDelta.ACL) and recompile their authorizer.

// onACL proposes an ACL change. The leader checks the command against the
// rules it has applied first, so a malformed one is refused at once; the
// check that counts is the one at apply time.
func (n *Node) onACL(ev sm.Received, req sm.ACLRequest) {
	reply := func(code sm.Code, msg string) {
		n.send(ev.From, sm.ACLResponse{ReqID: req.ReqID, Code: code, Message: msg, LeaderHint: n.Leader()})
	}
	if !n.IsLeader() {
		reply(sm.CodeNotLeader, "not the controller leader")
		return
	}
	if err := n.md.acls.Check(req.Command); err != nil {
		reply(sm.CodeInvalidRequest, err.Error())
		return
	}
	cmd := req.Command
	p := &proposal{client: ev.From, reqID: req.ReqID, principal: ev.Principal}
	if _, err := n.propose(&command{ACL: &cmd}, p); err != nil {
		reply(sm.CodeLeaderNotAvailable, err.Error())
	}
}

// applyACL applies one ACL command.
func (md *metadata) applyACL(c *acl.Command) result {
	before := md.acls.Version()
	res, err := md.acls.Apply(*c)
	if err != nil {
		return fail(sm.CodeInvalidRequest, "%v", err)
	}
	if res.Version != before {
		md.aclVersion, md.aclSnap = md.touch(), nil
	}
	return result{acl: res}
}

// aclSnapshot is the rule set as deltas carry it.
func (md *metadata) aclSnapshot() []byte {
	if md.aclSnap == nil {
		md.aclSnap = md.acls.Snapshot()
	}
	return md.aclSnap
}

// ACLs is the applied ACL rule set (read-only: callers must not apply to
// it).
func (n *Node) ACLs() *acl.State { return n.md.acls }

// checkACLs is part of metadata.check: the rule set's own invariants, and
// a change version within the metadata's.
func (md *metadata) checkACLs() error {
	if err := md.acls.CheckInvariants(); err != nil {
		return err
	}
	if md.aclVersion > md.version || md.revokedVersion > md.version {
		return fmt.Errorf("acl version %d or revocation version %d beyond metadata version %d", md.aclVersion, md.revokedVersion, md.version)
	}
	return nil
}

// authorizer is the controller's compiled rule set, rebuilt when the
// applied rules change.
func (n *Node) authorizer() *acl.Authorizer {
	if n.authz == nil || n.authz.Version() != n.md.acls.Version() {
		a, err := acl.Compile(n.md.acls, n.cfg.ACL)
		if err != nil { // the options were validated with the config
			panic(fmt.Sprintf("controller: %v: compile ACL rules: %v", n.cfg.ID, err))
		}
		n.authz = a
	}
	return n.authz
}

// authorize decides op on r for the request in ev. The process's own admin
// requests are not checked (see Config.ACL).
func (n *Node) authorize(ev sm.Received, r acl.Resource, op acl.Operation) (acl.Decision, bool) {
	if ev.From.IsAdmin() {
		return acl.Decision{Allowed: true}, true
	}
	var tod acl.TimeOfDay
	if n.cfg.WallClockAtStart != 0 {
		tod = acl.TimeOfDayFromUnixNano((n.cfg.WallClockAtStart + int64(n.now)/int64(sm.Millisecond)) * 1e6)
	}
	d := n.authorizer().Authorize(acl.Request{Principal: ev.Principal, Resource: r, Operation: op, Source: ev.Source, Time: tod})
	return d, d.Allowed
}

// deniedMessage names who was refused what.
func deniedMessage(ev sm.Received, r acl.Resource, op acl.Operation, d acl.Decision) string {
	who := ev.Principal
	if who == "" {
		who = "(no principal)"
	}
	what := "the cluster"
	if r.Type == acl.ResourceTopic {
		what = fmt.Sprintf("topic %q", r.Name)
	}
	msg := fmt.Sprintf("principal %q may not %v %s (%v", who, op, what, d.Reason)
	if d.RuleID != 0 {
		msg += fmt.Sprintf(", rule %d", d.RuleID)
	}
	return msg + ")"
}

// permitted checks a client request before the controller acts on it; a
// refusal is answered here (CLUSTER_AUTHORIZATION_FAILED or
// TOPIC_AUTHORIZATION_FAILED) and permitted returns false.
func (n *Node) permitted(ev sm.Received) bool {
	cluster := acl.Resource{Type: acl.ResourceCluster}
	topic := func(name string) acl.Resource { return acl.Resource{Type: acl.ResourceTopic, Name: name} }
	var r acl.Resource
	var op acl.Operation
	var refuse func(code sm.Code, msg string) sm.Message
	switch m := ev.Msg.(type) {
	case sm.CreateTopicRequest:
		if ev.From.Role() == sm.RoleBroker {
			return true // the offsets topic, checked in createCommand
		}
		// Kafka's rule: create on the cluster, or on the topic's name.
		if _, ok := n.authorize(ev, cluster, acl.OpCreate); ok {
			return true
		}
		r, op = topic(m.Name), acl.OpCreate
		refuse = func(c sm.Code, msg string) sm.Message {
			return sm.CreateTopicResponse{ReqID: m.ReqID, Code: c, Message: msg, LeaderHint: n.Leader()}
		}
	case sm.DeleteTopicRequest:
		r, op = topic(m.Name), acl.OpDelete
		refuse = func(c sm.Code, msg string) sm.Message {
			return sm.DeleteTopicResponse{ReqID: m.ReqID, Code: c, Message: msg, LeaderHint: n.Leader()}
		}
	case sm.AlterTopicConfigRequest:
		r, op = topic(m.Name), acl.OpAlter
		refuse = func(c sm.Code, msg string) sm.Message {
			return sm.AlterTopicConfigResponse{ReqID: m.ReqID, Code: c, Message: msg, LeaderHint: n.Leader()}
		}
	case sm.ACLRequest:
		r, op = cluster, acl.OpAlter
		refuse = func(c sm.Code, msg string) sm.Message {
			return sm.ACLResponse{ReqID: m.ReqID, Code: c, Message: msg, LeaderHint: n.Leader()}
		}
	case sm.CertRequest:
		r, op = cluster, acl.OpAlter
		if m.List {
			op = acl.OpDescribe
		}
		refuse = func(c sm.Code, msg string) sm.Message {
			return sm.CertResponse{ReqID: m.ReqID, Code: c, Message: msg, LeaderHint: n.Leader()}
		}
	case sm.ClusterStatusRequest:
		r, op = cluster, acl.OpDescribe
		refuse = func(c sm.Code, msg string) sm.Message {
			return sm.ClusterStatusResponse{ReqID: m.ReqID, Code: c, LeaderHint: n.Leader()}
		}
	default:
		return true
	}
	d, ok := n.authorize(ev, r, op)
	if ok {
		return true
	}
	code := sm.CodeTopicAuthorizationFailed
	resource := "cluster"
	if r.Type == acl.ResourceCluster {
		code = sm.CodeClusterAuthorizationFailed
	} else {
		resource = "topic:" + r.Name
	}
	msg := deniedMessage(ev, r, op, d)
	n.out.Security = append(n.out.Security, sm.SecurityEvent{Kind: sm.SecurityDenied, Principal: ev.Principal, Source: ev.Source,
		Resource: resource, Operation: op.String(), RuleID: uint64(d.RuleID), Reason: d.Reason.String(), Message: msg})
	n.send(ev.From, refuse(code, msg))
	return false
}

// visible is the metadata a client may see: the topics and partitions its
// principal may describe, and no ACL rules (servers and the admin API see
// everything).
func (n *Node) visible(ev sm.Received, d sm.MetadataDelta) sm.MetadataDelta {
	if ev.From.IsServer() || ev.From.IsAdmin() {
		return d
	}
	return d.Visible(func(name string) bool {
		_, ok := n.authorize(ev, acl.Resource{Type: acl.ResourceTopic, Name: name}, acl.OpDescribe)
		return ok
	})
}
