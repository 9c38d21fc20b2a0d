// Package sm holds the vocabulary shared by Weir's pure state machines: time,
// identifiers, records and batches, the messages nodes exchange, the events a
// state machine consumes and the effects (Ready) it emits.
//
// Everything under sm/ is deterministic: it never reads a clock, draws global
// randomness, starts goroutines or touches I/O. Time arrives with every event;
// randomness comes from a Rand the caller seeds. A lint test keeps it so.
package sm

import (
	"encoding/base64"
	"fmt"
	"strconv"
)

// Time is nanoseconds of node-local monotonic time. In production it is
// wall-clock derived; in the simulator it is virtual. State machines only ever
// receive it as input.
type Time int64

// Duration is a span of Time in nanoseconds.
type Duration int64

// Common durations.
const (
	Nanosecond  Duration = 1
	Microsecond          = 1000 * Nanosecond
	Millisecond          = 1000 * Microsecond
	Second               = 1000 * Millisecond
)

// Add returns t+d.
func (t Time) Add(d Duration) Time { return t + Time(d) }

// Sub returns t-u.
func (t Time) Sub(u Time) Duration { return Duration(t - u) }

func (t Time) String() string { return fmt.Sprintf("%.6fs", float64(t)/1e9) }

func (d Duration) String() string {
	switch {
	case d%Second == 0:
		return strconv.FormatInt(int64(d/Second), 10) + "s"
	case d%Millisecond == 0:
		return strconv.FormatInt(int64(d/Millisecond), 10) + "ms"
	default:
		return strconv.FormatInt(int64(d), 10) + "ns"
	}
}

// Rand is the only source of entropy a state machine may use. The caller seeds
// it (the simulator derives it from the run seed).
type Rand interface{ Uint64() uint64 }

// NodeID names a process: controller, broker, client or admin client. Zero
// means "none". The ID alone tells the process's Role: the ranges below are
// the one definition the transport (which binds certificates to them), the
// simulator, configuration checks and traces share.
type NodeID uint64

// NoNode is the zero NodeID: no leader known, no hint.
const NoNode NodeID = 0

// Node-ID ranges, by role.
const (
	// ControllerIDMin..ControllerIDMax are controllers; the ID is also the
	// controller's raft ID.
	ControllerIDMin NodeID = 1
	ControllerIDMax NodeID = 99
	// BrokerIDMin..BrokerIDMax are brokers.
	BrokerIDMin NodeID = 100
	BrokerIDMax NodeID = 999_999
	// ClientIDMin..AdminClientIDMin-1 are clients (the SDK, the
	// simulator's workload clients): they pick their own IDs, at random in
	// production.
	ClientIDMin NodeID = 1_000_000
	// AdminClientIDMin and up are admin clients: requests that originate
	// inside a server process (the controller's admin API) or the
	// simulator's harness. No remote peer may claim one.
	AdminClientIDMin NodeID = 1 << 62
)

// Role is what kind of process a NodeID names (see the ranges above).
type Role uint8

//go:generate go tool stringer -type=Role -linecomment

// Roles. Not on any wire (net/wire has its own connection role), but
// explicit anyway: logs print them.
const (
	RoleNone       Role = 0 // none
	RoleController Role = 1 // controller
	RoleBroker     Role = 2 // broker
	RoleClient     Role = 3 // client
	RoleAdmin      Role = 4 // admin
)

// Role returns the role n's range assigns; RoleNone for NoNode.
func (n NodeID) Role() Role {
	switch {
	case n == NoNode:
		return RoleNone
	case n <= ControllerIDMax:
		return RoleController
	case n <= BrokerIDMax:
		return RoleBroker
	case n < AdminClientIDMin:
		return RoleClient
	}
	return RoleAdmin
}

// IsController reports whether n is in the controller range.
func (n NodeID) IsController() bool { return n.Role() == RoleController }

// IsBroker reports whether n is in the broker range.
func (n NodeID) IsBroker() bool { return n.Role() == RoleBroker }

// IsClient reports whether n is in the (non-admin) client range.
func (n NodeID) IsClient() bool { return n.Role() == RoleClient }

// IsAdmin reports whether n is in the admin-client range.
func (n NodeID) IsAdmin() bool { return n.Role() == RoleAdmin }

// IsServer reports whether n is a controller or a broker: a process that
// serves, as opposed to a client of either kind.
func (n NodeID) IsServer() bool { r := n.Role(); return r == RoleController || r == RoleBroker }

// Node-name prefixes, by role; see NodeID.String.
var rolePrefix = [...]string{RoleController: "c", RoleBroker: "b", RoleClient: "cl", RoleAdmin: "adm"}

// String names n for traces and logs: c1 (controller 1), b101 (broker 101),
// cl1000001 (client 1000001), adm7 (admin client AdminClientIDMin+7) and
// "none". ParseNodeID reads the same forms back.
func (n NodeID) String() string {
	r := n.Role()
	switch r {
	case RoleNone:
		return "none"
	case RoleAdmin:
		return rolePrefix[r] + strconv.FormatUint(uint64(n-AdminClientIDMin), 10)
	}
	return rolePrefix[r] + strconv.FormatUint(uint64(n), 10)
}

// ParseNodeID reads a name String prints ("c1", "b101", "cl1000001",
// "adm7", "none") and refuses a number outside its prefix's range.
func ParseNodeID(s string) (NodeID, error) {
	if s == "none" {
		return NoNode, nil
	}
	// Longest prefixes first: "cl" before "c".
	for _, r := range []Role{RoleAdmin, RoleClient, RoleController, RoleBroker} {
		p := rolePrefix[r]
		if len(s) <= len(p) || s[:len(p)] != p {
			continue
		}
		digits := s[len(p):]
		v, err := strconv.ParseUint(digits, 10, 64)
		if err != nil || (len(digits) > 1 && digits[0] == '0') {
			return NoNode, fmt.Errorf("sm: node %q: want %s followed by a decimal number", s, p)
		}
		n := NodeID(v)
		if r == RoleAdmin {
			if v > uint64(^NodeID(0)-AdminClientIDMin) {
				return NoNode, fmt.Errorf("sm: node %q: admin number out of range", s)
			}
			n = AdminClientIDMin + NodeID(v)
		}
		if n.Role() != r {
			return NoNode, fmt.Errorf("sm: node %q is not a %v id (%v ids are %s)", s, r, r, r.rangeText())
		}
		return n, nil
	}
	return NoNode, fmt.Errorf("sm: node %q: want c<id>, b<id>, cl<id>, adm<n> or none", s)
}

// IDRange returns the smallest and the largest NodeID of role r (both
// NoNode for RoleNone).
func (r Role) IDRange() (lo, hi NodeID) {
	switch r {
	case RoleController:
		return ControllerIDMin, ControllerIDMax
	case RoleBroker:
		return BrokerIDMin, BrokerIDMax
	case RoleClient:
		return ClientIDMin, AdminClientIDMin - 1
	case RoleAdmin:
		return AdminClientIDMin, ^NodeID(0)
	}
	return NoNode, NoNode
}

// rangeText describes r's ID range for error messages, e.g. "100..999999".
func (r Role) rangeText() string {
	lo, hi := r.IDRange()
	return strconv.FormatUint(uint64(lo), 10) + ".." + strconv.FormatUint(uint64(hi), 10)
}

// Offset is a record's position in a partition log; offsets are dense from 0.
type Offset int64

// Epoch is a partition's leader epoch. Every leader change increments it; every
// replication request carries it, so a deposed leader is fenced.
type Epoch int64

// TopicID names one incarnation of a topic: a topic deleted and created again
// under the same name gets a new ID, so a broker that was down meanwhile can
// tell its old log from the new topic's. The controller derives it from the
// raft entry that created the topic (see sm/controller), never from
// randomness. The zero ID is "unknown" (logs written before topic IDs).
type TopicID [16]byte

// String is the ID in base64url without padding (22 characters), as Kafka
// prints topic IDs; the zero ID prints as "-".
func (id TopicID) String() string {
	if id == (TopicID{}) {
		return "-"
	}
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// ParseTopicID reads String's form back.
func ParseTopicID(s string) (TopicID, error) {
	var id TopicID
	if s == "-" {
		return id, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("sm: topic ID %q: want 22 base64url characters", s)
	}
	copy(id[:], b)
	return id, nil
}

// TopicPartition names one partition of one topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string {
	return tp.Topic + "/" + strconv.Itoa(int(tp.Partition))
}

// Less orders partitions by topic, then index, so that iteration is stable.
func (tp TopicPartition) Less(o TopicPartition) bool {
	if tp.Topic != o.Topic {
		return tp.Topic < o.Topic
	}
	return tp.Partition < o.Partition
}

// CompareTP is a three-way comparison for slices.SortFunc.
func CompareTP(a, b TopicPartition) int {
	switch {
	case a.Less(b):
		return -1
	case b.Less(a):
		return 1
	}
	return 0
}

// Record is one message as a producer sent it.
type Record struct {
	Key   []byte
	Value []byte
	// Headers are the record's (key, value) pairs in the producer's order;
	// keys are UTF-8. A batch with any header is stored in format 2 (see
	// Batch.V2).
	Headers []Header
	// Timestamp is the producer's create time in Unix milliseconds (zero:
	// none given), carried by format-2 batches; the batch's own Timestamp
	// is the leader's append time.
	Timestamp int64
}

// Header is one record header (Kafka's): a UTF-8 key and opaque bytes.
type Header struct {
	Key   string
	Value []byte
}

// Batch is the unit of replication and storage: records with dense offsets
// from BaseOffset, written by the leader of Epoch at Timestamp, protected by
// CRC (CRC32C over the encoded header fields and records; see EncodeBatch).
type Batch struct {
	BaseOffset Offset
	Epoch      Epoch
	// Timestamp is when the leader appended the batch, in Unix milliseconds
	// (Kafka's LogAppendTime): what time-based retention and segment rolls
	// and time lookups go by. State machines read no clock; the leader takes
	// it from the wall time its host derives from the event time.
	Timestamp int64
	CRC       uint32
	// Records are the batch's records. A compressed format-2 batch that was
	// not decoded holds none here (Records nil; Count and Block are the
	// batch): brokers store and serve it as the producer compressed it.
	Records []Record

	// V2 marks a format-2 batch (EncodeBatch): one produced with record
	// headers, a compression codec or a producer ID. Its records are the
	// records block Block as stored (Codec compressed, or the encoded
	// records when CodecNone), BlockCRC the producer's CRC32C of it, Count
	// the records in it. ProducerID is -1 when none, with ProducerEpoch and
	// BaseSequence -1.
	V2    bool
	Codec Codec
	// CreateTime: Timestamp is the newest create time of the records (the
	// topic's message_timestamp_type is create_time), and each record's
	// own Timestamp is what consumers see; else Timestamp is the leader's
	// append time, which consumers see for every record.
	CreateTime    bool
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
	Count         int32
	BlockCRC      uint32
	Block         []byte
}

// Len is the number of records in the batch.
func (b *Batch) Len() int {
	if b.V2 {
		return int(b.Count)
	}
	return len(b.Records)
}

// NextOffset is the offset just past the batch.
func (b *Batch) NextOffset() Offset { return b.BaseOffset + Offset(b.Len()) }

// AckKind is how many replicas must hold a produce before it is acknowledged.
// The values are part of the wire protocol (ProduceRequest): append only.
type AckKind uint8

//go:generate go tool stringer -type=AckKind -linecomment

// Ack levels, as in the reference's AcknowledgmentLevel. String prints the
// names ParseAcks reads.
const (
	// AckNone: reply as soon as the leader accepted it; no durability promise.
	AckNone AckKind = 0 // none
	// AckLeader: durable on the leader.
	AckLeader AckKind = 1 // leader
	// AckMajority: committed, and durable on a majority of the replicas.
	AckMajority AckKind = 2 // majority
	// AckAll: committed: durable on every ISR member, ISR ≥ min_in_sync_replicas.
	AckAll AckKind = 3 // all
	// AckCustom: committed, and durable on at least N replicas.
	AckCustom AckKind = 4 // custom
)

// Acks is an ack level; N is used by AckCustom only.
type Acks struct {
	Kind AckKind
	N    int32
}

func (a Acks) String() string {
	if a.Kind == AckCustom {
		return "custom(" + strconv.Itoa(int(a.N)) + ")"
	}
	return a.Kind.String()
}

// Durable reports whether an acknowledgment at this level promises that the
// record survives a clean leader failover.
func (a Acks) Durable() bool {
	return a.Kind == AckMajority || a.Kind == AckAll || a.Kind == AckCustom
}

// ParseAcks reads "none", "leader", "majority", "all" or "custom(N)".
func ParseAcks(s string) (Acks, error) {
	switch s {
	case "none", "0":
		return Acks{Kind: AckNone}, nil
	case "leader", "1":
		return Acks{Kind: AckLeader}, nil
	case "majority":
		return Acks{Kind: AckMajority}, nil
	case "all", "-1":
		return Acks{Kind: AckAll}, nil
	}
	var n int
	if _, err := fmt.Sscanf(s, "custom(%d)", &n); err == nil && n > 0 {
		return Acks{Kind: AckCustom, N: int32(n)}, nil
	}
	return Acks{}, fmt.Errorf("sm: unknown ack level %q (want none, leader, majority, all or custom(N))", s)
}
