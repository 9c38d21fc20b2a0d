package controller

import (
	"encoding/json"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/acl"
	"github.com/weirmq/weir/sm/assert"
)

// command is one raft entry payload. Exactly one operation field is set.
// Proposer, Term and Seq identify the proposal so that the leader that
// proposed it can find the waiting request when the entry applies: Seq is
// unique within one process, and Term tells a proposal of this tenure apart
// from one made before a restart (a node never leads the same term twice).
//
// The encoding is JSON: deterministic for structs and slices, readable in
// traces, and small next to raft's own framing. Every replica decodes and
// applies the same bytes, so the result is identical everywhere.
type command struct {
	Proposer sm.NodeID `json:"p"`
	Term     uint64    `json:"t"`
	Seq      uint64    `json:"s"`

	Register *registerBroker `json:"register,omitempty"`
	Fence    *fenceBroker    `json:"fence,omitempty"`
	Create   *createTopic    `json:"create,omitempty"`
	Delete   *deleteTopic    `json:"delete,omitempty"`
	AlterISR *alterISR       `json:"alter_isr,omitempty"`

	AlterConfig *alterTopicConfig `json:"alter_config,omitempty"`

	CommitSegment *commitSegment      `json:"commit_segment,omitempty"`
	DropRemote    *dropRemoteSegments `json:"drop_remote_segments,omitempty"`

	ACL  *acl.Command `json:"acl,omitempty"`
	Cert *certChange  `json:"cert,omitempty"`

	AllocProducerIDs *allocProducerIDs `json:"alloc_producer_ids,omitempty"`
}

// allocProducerIDs takes the next Count producer IDs for Broker.
type allocProducerIDs struct {
	Broker sm.NodeID `json:"broker"`
	Count  int32     `json:"count"`
}

// registerBroker records a broker incarnation and unfences it.
type registerBroker struct {
	ID          sm.NodeID `json:"id"`
	Incarnation uint64    `json:"inc"`
	Rack        string    `json:"rack,omitempty"`
	Host        string    `json:"host,omitempty"`
	// LostDisk and Lost name the replicas this incarnation lost (all of
	// them, or those listed); AcceptDataLoss lets it lead partitions whose
	// every in-sync copy is gone. See sm.BrokerHeartbeat.
	LostDisk       bool                `json:"lostDisk,omitempty"`
	Lost           []sm.TopicPartition `json:"lost,omitempty"`
	AcceptDataLoss bool                `json:"acceptLoss,omitempty"`
}

// fenceBroker fences one incarnation of a broker; a newer incarnation is
// untouched, so a late fence cannot hurt a broker that already re-registered.
type fenceBroker struct {
	ID          sm.NodeID `json:"id"`
	Incarnation uint64    `json:"inc"`
}

// createTopic creates a topic. Config.MinInSyncReplicas is already resolved
// (never 0) by the proposing leader, so replicas need not share the
// controller's default to agree.
type createTopic struct {
	Name              string         `json:"name"`
	Partitions        int32          `json:"partitions"`
	ReplicationFactor int32          `json:"rf"`
	Config            sm.TopicConfig `json:"config"`
	CreatedAtMs       int64          `json:"created_ms,omitempty"`
}

// deleteTopic removes a topic and its partitions.
type deleteTopic struct {
	Name string `json:"name"`
}

// alterISR is a partition leader's ISR change, checked against the current
// leader epoch and partition epoch when it applies.
type alterISR struct {
	Broker         sm.NodeID         `json:"broker"`
	TP             sm.TopicPartition `json:"tp"`
	LeaderEpoch    sm.Epoch          `json:"leader_epoch"`
	PartitionEpoch int64             `json:"partition_epoch"`
	ISR            []sm.NodeID       `json:"isr"`
	// Incarnations parallel ISR (sm.AlterISRRequest); absent in commands
	// proposed before they existed, which are applied unchecked.
	Incarnations []uint64 `json:"incs,omitempty"`
}

// kind is a command's operation; proposals remember it to shape the reply.
type kind uint8

const (
	kindNone kind = iota
	kindRegister
	kindFence
	kindCreate
	kindDelete
	kindAlterISR
	kindAlterConfig
	kindCommitSegment
	kindDropRemote
	kindACL
	kindCert
	kindAllocProducerIDs
)

var kindNames = [...]string{"none", "register", "fence", "create", "delete", "alter_isr", "alter_config", "commit_segment", "drop_remote_segments", "acl", "cert", "alloc_producer_ids"}

func (k kind) String() string { return kindNames[k] }

// kind names the operation, for replies, traces and assertions.
func (c *command) kind() kind {
	switch {
	case c.Register != nil:
		return kindRegister
	case c.Fence != nil:
		return kindFence
	case c.Create != nil:
		return kindCreate
	case c.Delete != nil:
		return kindDelete
	case c.AlterISR != nil:
		return kindAlterISR
	case c.AlterConfig != nil:
		return kindAlterConfig
	case c.CommitSegment != nil:
		return kindCommitSegment
	case c.DropRemote != nil:
		return kindDropRemote
	case c.ACL != nil:
		return kindACL
	case c.Cert != nil:
		return kindCert
	case c.AllocProducerIDs != nil:
		return kindAllocProducerIDs
	}
	return kindNone
}

// operations counts the operation fields set; a valid command has one.
func (c *command) operations() int {
	n := 0
	for _, set := range []bool{c.Register != nil, c.Fence != nil, c.Create != nil, c.Delete != nil, c.AlterISR != nil, c.AlterConfig != nil,
		c.CommitSegment != nil, c.DropRemote != nil, c.ACL != nil, c.Cert != nil, c.AllocProducerIDs != nil} {
		if set {
			n++
		}
	}
	return n
}

func encodeCommand(c *command) []byte {
	assert.That(c.operations() == 1, "controller: command with %d operations", c.operations())
	data, err := json.Marshal(c)
	assert.That(err == nil, "controller: encode %s command: %v", c.kind(), err)
	return data
}

// decodeCommand reads an entry payload. Entries are written only by this
// package, so a payload that does not decode is a bug, not an input error.
func decodeCommand(data []byte) command {
	var c command
	err := json.Unmarshal(data, &c)
	assert.That(err == nil, "controller: decode command %q: %v", data, err)
	assert.That(c.operations() == 1, "controller: command %q has %d operations", data, c.operations())
	return c
}
