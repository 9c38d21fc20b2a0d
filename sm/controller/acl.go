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
	p := &proposal{client: ev.From, reqID: req.ReqID}
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
	if md.aclVersion > md.version {
		return fmt.Errorf("acl version %d beyond metadata version %d", md.aclVersion, md.version)
	}
	return nil
}
