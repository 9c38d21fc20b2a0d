package sm

import (
	"net/netip"

	"github.com/weirmq/weir/sm/acl"
)

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

// SecurityEventKind is what a SecurityEvent records.
type SecurityEventKind uint8

const (
	// SecurityDenied: a request was refused by the ACLs.
	SecurityDenied SecurityEventKind = 1
	// SecurityACLChanged: an ACL change this controller proposed was
	// applied (Message says what it did).
	SecurityACLChanged SecurityEventKind = 2
)

// SecurityEvent is one event for the audit log: who (Principal, from
// Source), what (Operation on Resource, "topic:orders" or "cluster"),
// the deciding RuleID (0: a default) and Reason (acl.Reason's name), and a
// Message.
type SecurityEvent struct {
	Kind      SecurityEventKind
	Principal string
	Source    netip.Addr
	Resource  string
	Operation string
	RuleID    uint64
	Reason    string
	Message   string
}
