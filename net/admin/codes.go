package admin

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/weirmq/weir/sm"
)

// codeStatus is the HTTP status of a controller's reply to a create or
// delete. Every code is listed: a rejection is 4xx, "nothing was done,
// retry" is 503, "outcome unknown" is 504 (exactly the codes whose
// Unknown() is true), and codes of the data path, which the controller
// never answers to an admin request, are 500 (a bug, logged).
func codeStatus(c sm.Code) int {
	switch c {
	case sm.CodeOK:
		return http.StatusOK // 201 for a create, chosen by the handler
	case sm.CodeInvalidRequest, sm.CodeInvalidTopicName, sm.CodeInvalidPartitions, sm.CodeInvalidReplicationFactor:
		return http.StatusBadRequest
	case sm.CodeUnknownTopic:
		return http.StatusNotFound
	case sm.CodeTopicExists:
		return http.StatusConflict
	case sm.CodeMessageTooLarge:
		return http.StatusRequestEntityTooLarge
	case sm.CodeTopicAuthorizationFailed, sm.CodeClusterAuthorizationFailed, sm.CodeCertificateRevoked:
		return http.StatusForbidden
	case sm.CodeNotLeader, sm.CodeLeaderNotAvailable, sm.CodeNotEnoughReplicas, sm.CodeStorageError:
		return http.StatusServiceUnavailable
	case sm.CodeTimeout, sm.CodeLeadershipLost, sm.CodeNotEnoughReplicasAfterAppend:
		return http.StatusGatewayTimeout
	case sm.CodeOffsetOutOfRange, sm.CodeFencedLeaderEpoch, sm.CodeUnknownLeaderEpoch, sm.CodeStaleBrokerEpoch, sm.CodeStaleRequest:
		return http.StatusInternalServerError
	case sm.CodeCoordinatorNotAvailable, sm.CodeNotCoordinator, sm.CodeCoordinatorLoadInProgress, sm.CodeIllegalGeneration,
		sm.CodeUnknownMemberID, sm.CodeRebalanceInProgress, sm.CodeInconsistentGroupProtocol, sm.CodeInvalidGroupID,
		sm.CodeInvalidSessionTimeout, sm.CodeNonEmptyGroup, sm.CodeGroupIDNotFound, sm.CodeMemberIDRequired,
		sm.CodeGroupMaxSizeReached, sm.CodeFencedInstanceID, sm.CodePartitionNotAssigned, sm.CodeOffsetRegression,
		sm.CodeOffsetMetadataTooLarge, sm.CodeGroupAuthorizationFailed, sm.CodeCorruptMessage, sm.CodeDuplicateSequence,
		sm.CodeOutOfOrderSequence, sm.CodeUnknownProducerID, sm.CodeInvalidProducerEpoch:
		// Consumer-group codes (and produce refusals): the brokers', never the
		// controller's answer to a topic create or delete.
		return http.StatusInternalServerError
	}
	return http.StatusInternalServerError // a code newer than this table
}

// codeField is the request field a rejection code is about, so the error
// names it as the client sent it.
func codeField(c sm.Code) string {
	switch c {
	case sm.CodeInvalidTopicName:
		return "name"
	case sm.CodeInvalidPartitions:
		return "partitions"
	case sm.CodeInvalidReplicationFactor:
		return "replication_factor"
	}
	return ""
}

// codeMessage is the envelope's error for a non-OK reply about topic name:
// the controller's Message, passed through, with what the status means for
// the client.
func codeMessage(c sm.Code, msg, name string) string {
	if msg == "" {
		msg = c.String()
	}
	switch codeStatus(c) {
	case http.StatusBadRequest:
		if f := codeField(c); f != "" {
			return f + ": " + msg
		}
		return msg
	case http.StatusServiceUnavailable:
		if c == sm.CodeNotLeader {
			return msg + "; nothing was done, retry on the controller in leader_hint"
		}
		return fmt.Sprintf("%s (%s); nothing was done, retry", msg, c)
	case http.StatusGatewayTimeout:
		return fmt.Sprintf("outcome unknown (%s: %s); check %s before retrying", c, msg, describePath(name))
	case http.StatusInternalServerError:
		return fmt.Sprintf("unexpected controller reply %s: %s", c, msg)
	}
	return msg
}

// describePath is where a client checks a write whose outcome is unknown.
func describePath(name string) string {
	const nameBytesMax = 256
	if len(name) > nameBytesMax {
		name = name[:nameBytesMax]
	}
	return "GET /api/v1/topics/" + url.PathEscape(name)
}
