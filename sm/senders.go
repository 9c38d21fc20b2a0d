package sm

// Which roles may send which messages at all. A node's role follows from its
// ID's range (NodeID.Role), and the transport admits an ID only with a
// certificate for that role, so a message's sender role is authenticated.
// Roles bound what a peer may send before any ACL is consulted: a client
// certificate can never send broker-to-broker, controller or raft traffic,
// or answers it was never asked for. Brokers and controllers drop a message
// whose sender may not send it (ProbeForbiddenSender) without acting on it,
// and the transport closes a connection that sends one.
//
// What a role may send that its principal is not allowed to do (a client's
// CreateTopicRequest without the create permission) is for the ACLs to
// refuse, with an answer: roles gate message types, ACLs gate operations.

// roleSet is a set of roles, one bit per Role.
type roleSet uint8

func rolesOf(rs ...Role) roleSet {
	var s roleSet
	for _, r := range rs {
		s |= 1 << r
	}
	return s
}

var (
	clients     = rolesOf(RoleClient, RoleAdmin)
	brokers     = rolesOf(RoleBroker)
	controllers = rolesOf(RoleController)
)

// senders lists, per message kind, the roles that may send it. Every valid
// kind has an entry (TestSendersCoverEveryKind).
var senders = [kindEnd]roleSet{
	// Client requests, and their answers from the nodes that serve them.
	KindProduceRequest:           clients,
	KindProduceResponse:          brokers,
	KindFetchRequest:             clients,
	KindFetchResponse:            brokers,
	KindListOffsetsRequest:       clients,
	KindListOffsetsResponse:      brokers,
	KindMetadataRequest:          clients,
	KindMetadataResponse:         brokers | controllers,
	KindCreateTopicRequest:       clients | brokers, // brokers: the offsets topic only
	KindCreateTopicResponse:      controllers,
	KindDeleteTopicRequest:       clients,
	KindDeleteTopicResponse:      controllers,
	KindAlterTopicConfigRequest:  clients,
	KindAlterTopicConfigResponse: controllers,
	KindClusterStatusRequest:     clients,
	KindClusterStatusResponse:    controllers,
	// Replication between brokers.
	KindReplicaFetchRequest:  brokers,
	KindReplicaFetchResponse: brokers,
	// Brokers and the controller.
	KindBrokerHeartbeat:            brokers,
	KindBrokerHeartbeatResponse:    controllers,
	KindAlterISRRequest:            brokers,
	KindAlterISRResponse:           controllers,
	KindCommitSegmentRequest:       brokers,
	KindCommitSegmentResponse:      controllers,
	KindDropRemoteSegmentsRequest:  brokers,
	KindDropRemoteSegmentsResponse: controllers,
	KindRemoteSegmentsRequest:      brokers,
	KindRemoteSegmentsResponse:     controllers,
	// Controllers among themselves.
	KindRaftMessage: controllers,
	// Security: ACL changes go to the controller.
	KindACLRequest:   clients,
	KindACLResponse:  controllers,
	KindCertRequest:  clients,
	KindCertResponse: controllers,
	// Consumer groups: clients and the coordinators brokers host.
	KindFindCoordinatorRequest:  clients,
	KindFindCoordinatorResponse: brokers,
	KindJoinGroupRequest:        clients,
	KindJoinGroupResponse:       brokers,
	KindSyncGroupRequest:        clients,
	KindSyncGroupResponse:       brokers,
	KindHeartbeatRequest:        clients,
	KindHeartbeatResponse:       brokers,
	KindLeaveGroupRequest:       clients,
	KindLeaveGroupResponse:      brokers,
	KindOffsetCommitRequest:     clients,
	KindOffsetCommitResponse:    brokers,
	KindOffsetFetchRequest:      clients,
	KindOffsetFetchResponse:     brokers,
	KindListGroupsRequest:       clients,
	KindListGroupsResponse:      brokers,
	KindDescribeGroupsRequest:   clients,
	KindDescribeGroupsResponse:  brokers,
	KindDeleteGroupsRequest:     clients,
	KindDeleteGroupsResponse:    brokers,
	// Producer IDs: clients ask brokers, brokers ask the controller.
	KindInitProducerIDRequest:       clients,
	KindInitProducerIDResponse:      brokers,
	KindAllocateProducerIDsRequest:  brokers,
	KindAllocateProducerIDsResponse: controllers,
}

// MaySend reports whether a node of role r may send messages of kind k.
// Unknown kinds and RoleNone may send nothing.
func MaySend(r Role, k MsgKind) bool {
	return k.Valid() && r <= RoleAdmin && senders[k]&(1<<r) != 0
}

// SenderAllowed reports whether from may send m: MaySend for from's role.
func SenderAllowed(from NodeID, m Message) bool { return MaySend(from.Role(), m.Kind()) }
