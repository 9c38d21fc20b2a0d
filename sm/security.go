package sm

import (
	"fmt"
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
	// SecurityCertRevoked, SecurityCertRegistered: a registry change this
	// controller proposed was applied (Resource is "certificate:<serial>").
	SecurityCertRevoked    SecurityEventKind = 3
	SecurityCertRegistered SecurityEventKind = 4
	// SecurityRevokedRefused: a client request came with a revoked
	// certificate (Resource is "certificate:<serial>", Operation the
	// request's kind) and was refused with CodeCertificateRevoked: an
	// authentication failure.
	SecurityRevokedRefused SecurityEventKind = 5
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

// CertRecord is one certificate in the controller's registry: what the
// certificate authority issued (Serial, lowercase hex; the Principal it
// names, its Role, when it expires) and whether it is revoked (Reason, an
// RFC 5280 reason name, and when). Brokers and controllers refuse revoked
// certificates at the handshake and close their live connections.
type CertRecord struct {
	Serial      string `json:"serial"`
	Principal   string `json:"principal,omitempty"`
	Role        string `json:"role,omitempty"`
	NotAfterMs  int64  `json:"not_after_ms,omitempty"`
	Revoked     bool   `json:"revoked,omitempty"`
	Reason      string `json:"reason,omitempty"`
	RevokedAtMs int64  `json:"revoked_at_ms,omitempty"`
	// Replaces is the serial of the certificate this one succeeds (a
	// renewal, or with Rotated a rotation to a new key pair), for the
	// audit log's certificate_renewed and certificate_rotated.
	Replaces string `json:"replaces,omitempty"`
	Rotated  bool   `json:"rotated,omitempty"`
}

// CertRequest registers an issued certificate (Register) or revokes one
// by serial (Revoke, with Reason and RevokedAtMs; a serial the registry
// does not hold is recorded revoked) through the controller's raft log,
// or reads the registry (List). Exactly one of Register, Revoke and List
// is set.
type CertRequest struct {
	ReqID    uint64
	Register *CertRecord
	Revoke   *CertRecord
	// List asks for the whole registry as this controller has applied it,
	// answered by any controller without a raft round (like metadata, a
	// follower's answer may be a little behind the leader's).
	List bool
}

// CertResponse answers CertRequest with the record as it now stands, or,
// for List, with the registry.
type CertResponse struct {
	ReqID      uint64
	Code       Code
	Message    string
	LeaderHint NodeID
	Record     CertRecord
	// Records answers List: every record, sorted by serial.
	Records []CertRecord
	// RevokedVersion answers List: the metadata version of the last
	// revocation (0 for none), which grows with every change to the
	// revoked set, so it numbers CRLs made from Records.
	RevokedVersion uint64
}

func (CertRequest) Kind() MsgKind  { return KindCertRequest }
func (CertResponse) Kind() MsgKind { return KindCertResponse }

// RefuseRevoked is the answer to a client request m that came with the
// revoked certificate serial (Received.Serial): CodeCertificateRevoked with
// a message naming the serial, and hint as the leader hint. ok is false for
// a message that is not a client request (peers' traffic is for the
// transport to cut off). Brokers and controllers both use it, so every
// client request gets the same answer wherever it lands.
func RefuseRevoked(m Message, serial string, hint NodeID) (reply Message, ok bool) {
	const code = CodeCertificateRevoked
	msg := "certificate " + serial + " is revoked"
	switch r := m.(type) {
	case ProduceRequest:
		return ProduceResponse{ReqID: r.ReqID, TP: r.TP, Code: code, Message: msg, LeaderHint: hint}, true
	case FetchRequest:
		return FetchResponse{ReqID: r.ReqID, TP: r.TP, Code: code, Message: msg, LeaderHint: hint}, true
	case ListOffsetsRequest:
		return ListOffsetsResponse{ReqID: r.ReqID, TP: r.TP, Code: code, Message: msg, LeaderHint: hint}, true
	case MetadataRequest:
		return MetadataResponse{ReqID: r.ReqID, Code: code, LeaderHint: hint}, true
	case CreateTopicRequest:
		return CreateTopicResponse{ReqID: r.ReqID, Code: code, Message: msg, LeaderHint: hint}, true
	case DeleteTopicRequest:
		return DeleteTopicResponse{ReqID: r.ReqID, Code: code, Message: msg, LeaderHint: hint}, true
	case AlterTopicConfigRequest:
		return AlterTopicConfigResponse{ReqID: r.ReqID, Code: code, Message: msg, LeaderHint: hint}, true
	case ClusterStatusRequest:
		return ClusterStatusResponse{ReqID: r.ReqID, Code: code, LeaderHint: hint}, true
	case ACLRequest:
		return ACLResponse{ReqID: r.ReqID, Code: code, Message: msg, LeaderHint: hint}, true
	case CertRequest:
		return CertResponse{ReqID: r.ReqID, Code: code, Message: msg, LeaderHint: hint}, true
	}
	if r, ok := m.(InitProducerIDRequest); ok {
		return InitProducerIDResponse{ReqID: r.ReqID, Code: code, Message: msg, ProducerID: -1, ProducerEpoch: -1}, true
	}
	return RefuseGroup(m, code, msg)
}

// RevokedEvent is the audit event of a request refused by RefuseRevoked.
func RevokedEvent(ev Received) SecurityEvent {
	return SecurityEvent{Kind: SecurityRevokedRefused, Principal: ev.Principal, Source: ev.Source,
		Resource: "certificate:" + ev.Serial, Operation: ev.Msg.Kind().String(),
		Message: fmt.Sprintf("%v from %v refused: certificate %s is revoked", ev.Msg.Kind(), ev.From, ev.Serial)}
}
