package sm

// Code is the outcome carried by every reply. Expected outcomes (not leader,
// unknown topic) are data, never Go errors or panics.
type Code uint16

// Reply codes. The names follow the reference's error names.
const (
	CodeOK                           Code = iota
	CodeNotLeader                         // this node does not lead the partition (or is not the controller leader); see LeaderHint
	CodeUnknownTopic                      // no such topic or partition
	CodeTopicExists                       // create of a name that exists
	CodeInvalidRequest                    // malformed or out-of-range request; Message names the field
	CodeNotEnoughReplicas                 // the ISR is smaller than the ack level needs; nothing was written
	CodeNotEnoughReplicasAfterAppend      // written, then the ISR shrank below the ack level: outcome unknown
	CodeTimeout                           // the ack level was not reached in time: outcome unknown
	CodeOffsetOutOfRange                  // fetch below the log start or above the high watermark
	CodeFencedLeaderEpoch                 // the request carried an older leader epoch than this node's
	CodeUnknownLeaderEpoch                // the request carried a newer leader epoch than this node knows
	CodeLeaderNotAvailable                // a new leader has not yet committed its first epoch offset; retry
	CodeStaleBrokerEpoch                  // a broker incarnation older than the registered one
	CodeMessageTooLarge                   // a record or batch above the configured maximum
	CodeStorageError                      // the replica's storage failed; retry elsewhere
	CodeInvalidReplicationFactor          // replication factor above the live brokers, or zero
	CodeInvalidPartitions                 // partition count zero or above the limit
	CodeInvalidTopicName                  // empty, too long, or characters outside [a-zA-Z0-9._-]
	CodeStaleRequest                      // an ISR change for an old partition epoch
	CodeLeadershipLost                    // the leader lost leadership while the request was pending: outcome unknown
)

var codeNames = [...]string{
	CodeOK:                           "OK",
	CodeNotLeader:                    "NOT_LEADER",
	CodeUnknownTopic:                 "UNKNOWN_TOPIC",
	CodeTopicExists:                  "TOPIC_ALREADY_EXISTS",
	CodeInvalidRequest:               "INVALID_REQUEST",
	CodeNotEnoughReplicas:            "NOT_ENOUGH_REPLICAS",
	CodeNotEnoughReplicasAfterAppend: "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
	CodeTimeout:                      "TIMEOUT",
	CodeOffsetOutOfRange:             "OFFSET_OUT_OF_RANGE",
	CodeFencedLeaderEpoch:            "FENCED_LEADER_EPOCH",
	CodeUnknownLeaderEpoch:           "UNKNOWN_LEADER_EPOCH",
	CodeLeaderNotAvailable:           "LEADER_NOT_AVAILABLE",
	CodeStaleBrokerEpoch:             "STALE_BROKER_EPOCH",
	CodeMessageTooLarge:              "MESSAGE_TOO_LARGE",
	CodeStorageError:                 "STORAGE_ERROR",
	CodeInvalidReplicationFactor:     "INVALID_REPLICATION_FACTOR",
	CodeInvalidPartitions:            "INVALID_PARTITIONS",
	CodeInvalidTopicName:             "INVALID_TOPIC_NAME",
	CodeStaleRequest:                 "STALE_REQUEST",
	CodeLeadershipLost:               "LEADERSHIP_LOST",
}

func (c Code) String() string {
	if int(c) < len(codeNames) && codeNames[c] != "" {
		return codeNames[c]
	}
	return "CODE_" + itoa(int(c))
}

// Retriable reports whether a client may retry the same request elsewhere or
// later without risk of a duplicate (the request certainly did nothing).
func (c Code) Retriable() bool {
	switch c {
	case CodeNotLeader, CodeLeaderNotAvailable, CodeUnknownLeaderEpoch, CodeFencedLeaderEpoch, CodeNotEnoughReplicas, CodeStorageError:
		return true
	}
	return false
}

// Unknown reports whether the request's effect is unknown: it may or may not
// have been applied.
func (c Code) Unknown() bool {
	return c == CodeTimeout || c == CodeNotEnoughReplicasAfterAppend || c == CodeLeadershipLost
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
