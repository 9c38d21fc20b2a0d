package group

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/weirmq/weir/sm"
)

// Record encoding of the offsets partition.
//
// Keys are Kafka's __consumer_offsets keys, byte for byte (big-endian,
// strings int16-length-prefixed):
//
//	offset commit key:   int16 1, string group, string topic, int32 partition
//	group metadata key:  int16 2, string group
//
// Values are Weir's own, versioned by a leading int16 (version 1 today;
// a decoder refuses versions it does not know). bytes are
// int32-length-prefixed (-1 is null), durations int64 nanoseconds:
//
//	offset value v1: int16 1, int64 offset, int32 leader epoch (-1 none),
//	                 string metadata, int32 generation (-1: standalone or
//	                 reset), string member ID, int8 flags (1 seek,
//	                 2 standalone: a commit or reset by a non-member)
//	group value v1:  int16 1, string protocol type, int32 generation,
//	                 string protocol, string leader, int32 member count, then
//	                 per member: string member ID, string instance ID,
//	                 string client ID, string client host, int64 session
//	                 timeout, int64 rebalance timeout, bytes metadata (the
//	                 chosen protocol's), bytes assignment
//
// A tombstone (nil value) deletes its key: a deleted group writes one for
// its metadata key and one per committed offset. The latest record per key
// wins, so the partition can be compacted.
const (
	keyVersionOffset int16 = 1
	keyVersionGroup  int16 = 2
	valueVersion     int16 = 1

	flagSeek       = 1
	flagStandalone = 2
)

// stringMax is the longest string the encoding (and Kafka's wire) carries.
const stringMax = 1<<15 - 1

// Committed is one committed offset as the offsets partition holds it.
type Committed struct {
	Offset      sm.Offset
	LeaderEpoch int32
	Metadata    string
	// Generation and MemberID name the committer; -1 and "" for a
	// standalone commit or a reset.
	Generation int32
	MemberID   string
	// Seek: the commit was an explicit seek (asked for, a reset, or a
	// standalone commit that moved the offset back); only such a commit may
	// lower a partition's committed offset.
	Seek bool
	// Standalone: committed by a non-member (generation -1) or a reset.
	Standalone bool
}

// groupValue is a group's durable metadata.
type groupValue struct {
	protocolType string
	generation   int32
	protocol     string
	leader       string
	members      []storedMember
}

type storedMember struct {
	id, instanceID, clientID, clientHost string
	sessionTimeout, rebalanceTimeout     sm.Duration
	metadata, assignment                 []byte
}

func offsetKey(group string, tp sm.TopicPartition) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(keyVersionOffset))
	b = putString(b, group)
	b = putString(b, tp.Topic)
	return binary.BigEndian.AppendUint32(b, uint32(tp.Partition))
}

func groupKey(group string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(keyVersionGroup))
	return putString(b, group)
}

func encodeOffset(c Committed) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(valueVersion))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Offset))
	b = binary.BigEndian.AppendUint32(b, uint32(c.LeaderEpoch))
	b = putString(b, c.Metadata)
	b = binary.BigEndian.AppendUint32(b, uint32(c.Generation))
	b = putString(b, c.MemberID)
	var flags byte
	if c.Seek {
		flags |= flagSeek
	}
	if c.Standalone {
		flags |= flagStandalone
	}
	return append(b, flags)
}

func encodeGroup(v *groupValue) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(valueVersion))
	b = putString(b, v.protocolType)
	b = binary.BigEndian.AppendUint32(b, uint32(v.generation))
	b = putString(b, v.protocol)
	b = putString(b, v.leader)
	b = binary.BigEndian.AppendUint32(b, uint32(len(v.members)))
	for _, m := range v.members {
		b = putString(b, m.id)
		b = putString(b, m.instanceID)
		b = putString(b, m.clientID)
		b = putString(b, m.clientHost)
		b = binary.BigEndian.AppendUint64(b, uint64(m.sessionTimeout))
		b = binary.BigEndian.AppendUint64(b, uint64(m.rebalanceTimeout))
		b = putBytes(b, m.metadata)
		b = putBytes(b, m.assignment)
	}
	return b
}

// decodedKey is a key read back: tp is set for an offset key.
type decodedKey struct {
	group    string
	isOffset bool
	tp       sm.TopicPartition
}

var errRecord = errors.New("group: malformed offsets-partition record")

func decodeKey(p []byte) (decodedKey, error) {
	r := rd{b: p}
	var k decodedKey
	switch v := r.int16(); v {
	case keyVersionOffset, 0: // Kafka's v0 offset key has the same layout
		k.isOffset = true
		k.group = r.string()
		k.tp.Topic = r.string()
		k.tp.Partition = r.int32()
	case keyVersionGroup:
		k.group = r.string()
	default:
		if r.err == nil {
			return k, fmt.Errorf("%w: key version %d", errRecord, v)
		}
	}
	return k, r.done("key")
}

func decodeOffset(p []byte) (Committed, error) {
	r := rd{b: p}
	if v := r.int16(); r.err == nil && v != valueVersion {
		return Committed{}, fmt.Errorf("%w: offset value version %d (know %d)", errRecord, v, valueVersion)
	}
	c := Committed{Offset: sm.Offset(r.int64()), LeaderEpoch: r.int32(), Metadata: r.string(), Generation: r.int32(), MemberID: r.string()}
	flags := r.int8()
	c.Seek, c.Standalone = flags&flagSeek != 0, flags&flagStandalone != 0
	return c, r.done("offset value")
}

func decodeGroup(p []byte) (*groupValue, error) {
	r := rd{b: p}
	if v := r.int16(); r.err == nil && v != valueVersion {
		return nil, fmt.Errorf("%w: group value version %d (know %d)", errRecord, v, valueVersion)
	}
	v := &groupValue{protocolType: r.string(), generation: r.int32(), protocol: r.string(), leader: r.string()}
	n := r.int32()
	if r.err == nil && (n < 0 || int(n) > len(r.b)) {
		return nil, fmt.Errorf("%w: %d members in %d bytes", errRecord, n, len(r.b))
	}
	for i := int32(0); i < n && r.err == nil; i++ {
		v.members = append(v.members, storedMember{
			id: r.string(), instanceID: r.string(), clientID: r.string(), clientHost: r.string(),
			sessionTimeout: sm.Duration(r.int64()), rebalanceTimeout: sm.Duration(r.int64()),
			metadata: r.bytes(), assignment: r.bytes(),
		})
	}
	if err := r.done("group value"); err != nil {
		return nil, err
	}
	return v, nil
}

func putString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func putBytes(b, p []byte) []byte {
	if p == nil {
		return binary.BigEndian.AppendUint32(b, 0xffffffff)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
	return append(b, p...)
}

// rd decodes the primitives above, keeping the first error.
type rd struct {
	b   []byte
	err error
}

func (r *rd) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = fmt.Errorf("%w: need %d bytes, %d left", errRecord, n, len(r.b))
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *rd) int8() int8 {
	if p := r.take(1); p != nil {
		return int8(p[0])
	}
	return 0
}

func (r *rd) int16() int16 {
	if p := r.take(2); p != nil {
		return int16(binary.BigEndian.Uint16(p))
	}
	return 0
}

func (r *rd) int32() int32 {
	if p := r.take(4); p != nil {
		return int32(binary.BigEndian.Uint32(p))
	}
	return 0
}

func (r *rd) int64() int64 {
	if p := r.take(8); p != nil {
		return int64(binary.BigEndian.Uint64(p))
	}
	return 0
}

func (r *rd) string() string {
	n := r.int16()
	if r.err == nil && n < 0 {
		r.err = fmt.Errorf("%w: string length %d", errRecord, n)
	}
	return string(r.take(int(n)))
}

func (r *rd) bytes() []byte {
	n := r.int32()
	if n == -1 {
		return nil
	}
	if r.err == nil && n < 0 {
		r.err = fmt.Errorf("%w: bytes length %d", errRecord, n)
	}
	return slices.Clone(r.take(int(n)))
}

func (r *rd) done(what string) error {
	if r.err != nil {
		return fmt.Errorf("%s: %w", what, r.err)
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: %s: %d trailing bytes", errRecord, what, len(r.b))
	}
	return nil
}

// StoredMember is one member of a stored group record, for readers of the
// offsets partition (the simulator's group checker, debugging tools).
type StoredMember struct {
	MemberID, InstanceID, ClientID, ClientHost string
	SessionTimeout, RebalanceTimeout           sm.Duration
	Metadata, Assignment                       []byte
}

// Record is one offsets-partition record decoded: an offset commit
// (IsOffset, TP, Offset) or a group's metadata (Generation and the rest);
// Tombstone when it deletes its key.
type Record struct {
	Group     string
	IsOffset  bool
	TP        sm.TopicPartition
	Tombstone bool
	Offset    Committed
	// Group metadata.
	ProtocolType string
	Generation   int32
	Protocol     string
	Leader       string
	Members      []StoredMember
}

// DecodeRecord reads one record of the offsets partition.
func DecodeRecord(rec sm.Record) (Record, error) {
	k, err := decodeKey(rec.Key)
	if err != nil {
		return Record{}, err
	}
	out := Record{Group: k.group, IsOffset: k.isOffset, TP: k.tp, Tombstone: rec.Value == nil}
	switch {
	case out.Tombstone:
	case k.isOffset:
		if out.Offset, err = decodeOffset(rec.Value); err != nil {
			return Record{}, err
		}
	default:
		v, err := decodeGroup(rec.Value)
		if err != nil {
			return Record{}, err
		}
		out.ProtocolType, out.Generation, out.Protocol, out.Leader = v.protocolType, v.generation, v.protocol, v.leader
		for _, m := range v.members {
			out.Members = append(out.Members, StoredMember{
				MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost,
				SessionTimeout: m.sessionTimeout, RebalanceTimeout: m.rebalanceTimeout, Metadata: m.metadata, Assignment: m.assignment,
			})
		}
	}
	return out, nil
}
