// Package sm holds the vocabulary shared by Weir's pure state machines: time,
// identifiers, records and batches, the messages nodes exchange, the events a
// state machine consumes and the effects (Ready) it emits.
//
// Everything under sm/ is deterministic: it never reads a clock, draws global
// randomness, starts goroutines or touches I/O. Time arrives with every event;
// randomness comes from a Rand the caller seeds. A lint test keeps it so.
package sm

import (
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

// NodeID names a process: controller, broker or client. Zero means "none".
//
// By convention controllers are 1..99 (their Raft IDs), brokers 100..999 and
// clients 1000 and up; nothing depends on it but traces are easier to read.
type NodeID uint64

// NoNode is the zero NodeID: no leader known, no hint.
const NoNode NodeID = 0

func (n NodeID) String() string {
	switch {
	case n == NoNode:
		return "none"
	case n < 100:
		return "c" + strconv.FormatUint(uint64(n), 10)
	case n < 1000:
		return "b" + strconv.FormatUint(uint64(n), 10)
	default:
		return "cl" + strconv.FormatUint(uint64(n), 10)
	}
}

// Offset is a record's position in a partition log; offsets are dense from 0.
type Offset int64

// Epoch is a partition's leader epoch. Every leader change increments it; every
// replication request carries it, so a deposed leader is fenced.
type Epoch int64

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
}

// Batch is the unit of replication and storage: records with dense offsets
// from BaseOffset, written by the leader of Epoch, protected by CRC (CRC32C
// over the encoded header fields and records; see EncodeBatch).
type Batch struct {
	BaseOffset Offset
	Epoch      Epoch
	CRC        uint32
	Records    []Record
}

// NextOffset is the offset just past the batch.
func (b *Batch) NextOffset() Offset { return b.BaseOffset + Offset(len(b.Records)) }

// AckKind is how many replicas must hold a produce before it is acknowledged.
type AckKind uint8

// Ack levels, as in the reference's AcknowledgmentLevel.
const (
	AckNone     AckKind = iota // reply as soon as the leader accepted it; no durability promise
	AckLeader                  // durable on the leader
	AckMajority                // committed, and durable on a majority of the replicas
	AckAll                     // committed: durable on every ISR member, ISR ≥ min_in_sync_replicas
	AckCustom                  // committed, and durable on at least N replicas
)

// Acks is an ack level; N is used by AckCustom only.
type Acks struct {
	Kind AckKind
	N    int32
}

func (a Acks) String() string {
	switch a.Kind {
	case AckNone:
		return "none"
	case AckLeader:
		return "leader"
	case AckMajority:
		return "majority"
	case AckAll:
		return "all"
	case AckCustom:
		return "custom(" + strconv.Itoa(int(a.N)) + ")"
	}
	return "acks(" + strconv.Itoa(int(a.Kind)) + ")"
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
