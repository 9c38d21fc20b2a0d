package sm

// Code is the outcome carried by every reply. Expected outcomes (not leader,
// unknown topic) are data, never Go errors or panics.
type Code uint16

//go:generate go tool stringer -type=Code -linecomment

// Reply codes. The names follow the reference's error names; String prints
// them. The values are part of the wire protocol: append only, never change
// or reuse one (TestEnumsAppendOnly holds them to testdata/enums.golden).
const (
	// Success.
	CodeOK Code = 0 // OK
	// This node does not lead the partition (or is not the controller leader); see LeaderHint.
	CodeNotLeader Code = 1 // NOT_LEADER
	// No such topic or partition.
	CodeUnknownTopic Code = 2 // UNKNOWN_TOPIC
	// Create of a name that exists.
	CodeTopicExists Code = 3 // TOPIC_ALREADY_EXISTS
	// Malformed or out-of-range request; Message names the field.
	CodeInvalidRequest Code = 4 // INVALID_REQUEST
	// The ISR is smaller than the ack level needs; nothing was written.
	CodeNotEnoughReplicas Code = 5 // NOT_ENOUGH_REPLICAS
	// Written, then the ISR shrank below the ack level: outcome unknown.
	CodeNotEnoughReplicasAfterAppend Code = 6 // NOT_ENOUGH_REPLICAS_AFTER_APPEND
	// The ack level was not reached in time: outcome unknown.
	CodeTimeout Code = 7 // TIMEOUT
	// Fetch below the log start or above the high watermark.
	CodeOffsetOutOfRange Code = 8 // OFFSET_OUT_OF_RANGE
	// The request carried an older leader epoch than this node's.
	CodeFencedLeaderEpoch Code = 9 // FENCED_LEADER_EPOCH
	// The request carried a newer leader epoch than this node knows.
	CodeUnknownLeaderEpoch Code = 10 // UNKNOWN_LEADER_EPOCH
	// A new leader has not yet committed its first epoch offset; retry.
	CodeLeaderNotAvailable Code = 11 // LEADER_NOT_AVAILABLE
	// A broker incarnation older than the registered one.
	CodeStaleBrokerEpoch Code = 12 // STALE_BROKER_EPOCH
	// A record or batch above the configured maximum.
	CodeMessageTooLarge Code = 13 // MESSAGE_TOO_LARGE
	// The replica's storage failed; retry elsewhere.
	CodeStorageError Code = 14 // STORAGE_ERROR
	// Replication factor above the live brokers, or zero.
	CodeInvalidReplicationFactor Code = 15 // INVALID_REPLICATION_FACTOR
	// Partition count zero or above the limit.
	CodeInvalidPartitions Code = 16 // INVALID_PARTITIONS
	// Empty, too long, or characters outside [a-zA-Z0-9._-].
	CodeInvalidTopicName Code = 17 // INVALID_TOPIC_NAME
	// An ISR change for an old partition epoch.
	CodeStaleRequest Code = 18 // STALE_REQUEST
	// The leader lost leadership while the request was pending: outcome unknown.
	CodeLeadershipLost Code = 19 // LEADERSHIP_LOST
	// An uploaded segment does not continue the partition's uploaded range
	// (a gap or an overlap): the uploader resumes from the range it is told.
	CodeRemoteMismatch Code = 20 // REMOTE_MISMATCH
	// The principal may not do this to the topic (ACLs); Message names the
	// principal, operation and topic. Not retriable: it needs a rule change.
	CodeTopicAuthorizationFailed Code = 21 // TOPIC_AUTHORIZATION_FAILED
	// The principal may not do this to the cluster (ACLs: create topics,
	// alter, describe the cluster, change ACLs).
	CodeClusterAuthorizationFailed Code = 22 // CLUSTER_AUTHORIZATION_FAILED
	// The request came with a certificate the cluster revoked: nothing
	// was done, and nothing will be for that certificate (the transport
	// also closes its connections). Not retriable: it needs a new
	// certificate.
	CodeCertificateRevoked Code = 23 // CERTIFICATE_REVOKED

	// Consumer groups (issue 12): the coordinator's outcomes (sm/group,
	// Kafka's error of the same name unless marked Weir's).

	// The group's coordinator cannot serve now: the offsets topic is being
	// created or has no leader, an append of group state failed, or the
	// coordinator is rebuilding. Retriable (find the coordinator again).
	CodeCoordinatorNotAvailable Code = 24 // COORDINATOR_NOT_AVAILABLE
	// This broker does not coordinate the group (any more): find it again.
	CodeNotCoordinator Code = 25 // NOT_COORDINATOR
	// The coordinator is loading its offsets partition. Retriable.
	CodeCoordinatorLoadInProgress Code = 26 // COORDINATOR_LOAD_IN_PROGRESS
	// The request's generation is not the group's current one (a stale
	// member): join again.
	CodeIllegalGeneration Code = 27 // ILLEGAL_GENERATION
	// The member is not in the group (never joined, expired, left): join
	// again with no member ID.
	CodeUnknownMemberID Code = 28 // UNKNOWN_MEMBER_ID
	// The group is rebalancing: join again.
	CodeRebalanceInProgress Code = 29 // REBALANCE_IN_PROGRESS
	// No protocol in common with the group, or another protocol type.
	CodeInconsistentGroupProtocol Code = 30 // INCONSISTENT_GROUP_PROTOCOL
	// The group ID is empty or too long.
	CodeInvalidGroupID Code = 31 // INVALID_GROUP_ID
	// The session timeout is outside the broker's bounds.
	CodeInvalidSessionTimeout Code = 32 // INVALID_SESSION_TIMEOUT
	// Delete or reset of a group that has members.
	CodeNonEmptyGroup Code = 33 // NON_EMPTY_GROUP
	// No such group.
	CodeGroupIDNotFound Code = 34 // GROUP_ID_NOT_FOUND
	// KIP-394: join again with the member ID in the reply.
	CodeMemberIDRequired Code = 35 // MEMBER_ID_REQUIRED
	// The group has as many members as it may.
	CodeGroupMaxSizeReached Code = 36 // GROUP_MAX_SIZE_REACHED
	// The static member's instance ID belongs to a newer member.
	CodeFencedInstanceID Code = 37 // FENCED_INSTANCE_ID
	// Weir's: a commit for a partition the member's assignment does not
	// hold.
	CodePartitionNotAssigned Code = 38 // PARTITION_NOT_ASSIGNED
	// Weir's: a commit below the committed offset that is not a seek.
	CodeOffsetRegression Code = 39 // OFFSET_REGRESSION
	// A commit's metadata string is over the broker's limit.
	CodeOffsetMetadataTooLarge Code = 40 // OFFSET_METADATA_TOO_LARGE
	// The principal may not do this to the group (ACLs).
	CodeGroupAuthorizationFailed Code = 41 // GROUP_AUTHORIZATION_FAILED
	// A produced records block whose checksum does not match it, or that
	// does not decode as its codec's output or as records: nothing was
	// stored. Kafka's CORRUPT_MESSAGE.
	CodeCorruptMessage Code = 42 // CORRUPT_MESSAGE
	// An idempotent produce whose batch this partition already holds (the
	// producer retried after losing the reply): nothing new was stored,
	// and BaseOffset is where the original batch is. Answered once the
	// original reaches the produce's ack level, so it means what CodeOK
	// would have. Kafka's DUPLICATE_SEQUENCE_NUMBER.
	CodeDuplicateSequence Code = 43 // DUPLICATE_SEQUENCE_NUMBER
	// An idempotent produce whose first sequence number is not the one
	// after the producer's last batch here: nothing was stored. An earlier
	// batch has not arrived yet (retry this one after it), or one was lost.
	// Kafka's OUT_OF_ORDER_SEQUENCE_NUMBER.
	CodeOutOfOrderSequence Code = 44 // OUT_OF_ORDER_SEQUENCE_NUMBER
	// An idempotent produce with a sequence number other than 0 from a
	// producer this partition holds nothing of (its batches left the log,
	// or were truncated before they committed): nothing was stored; the
	// producer starts this partition's sequence again at 0.
	// Kafka's UNKNOWN_PRODUCER_ID.
	CodeUnknownProducerID Code = 45 // UNKNOWN_PRODUCER_ID
	// An idempotent produce from an epoch of its producer ID older than one
	// that has written here: the producer was fenced; nothing was stored.
	// Kafka's INVALID_PRODUCER_EPOCH.
	CodeInvalidProducerEpoch Code = 46 // INVALID_PRODUCER_EPOCH
)

// Retriable reports whether a client may retry the same request elsewhere or
// later without risk of a duplicate (the request certainly did nothing).
func (c Code) Retriable() bool {
	switch c {
	case CodeNotLeader, CodeLeaderNotAvailable, CodeUnknownLeaderEpoch, CodeFencedLeaderEpoch, CodeNotEnoughReplicas, CodeStorageError,
		CodeCoordinatorNotAvailable, CodeNotCoordinator, CodeCoordinatorLoadInProgress:
		return true
	}
	return false
}

// Unknown reports whether the request's effect is unknown: it may or may not
// have been applied.
func (c Code) Unknown() bool {
	return c == CodeTimeout || c == CodeNotEnoughReplicasAfterAppend || c == CodeLeadershipLost
}
