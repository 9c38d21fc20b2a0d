package sm

import "github.com/weirmq/weir/sm/acl"

// ACLRequest changes the ACL rule set through the controller's raft log: a
// create, a delete by ID or filter, or a replace (acl.Command). The
// controller leader checks that the sender's principal may alter the
// cluster, validates the command, and answers once it is applied; every
// replica applies it alike, and brokers get the new rule set in their next
// metadata delta.
type ACLRequest struct {
	ReqID   uint64
	Command acl.Command
}

// ACLResponse answers ACLRequest: Result says what the applied command did
// (the rule set's new version, created and deleted rule IDs). A command
// that does not validate is CodeInvalidRequest with the reason in Message,
// and changes nothing.
type ACLResponse struct {
	ReqID      uint64
	Code       Code
	Message    string
	LeaderHint NodeID
	Result     acl.Result
}

func (ACLRequest) Kind() MsgKind  { return KindACLRequest }
func (ACLResponse) Kind() MsgKind { return KindACLResponse }
