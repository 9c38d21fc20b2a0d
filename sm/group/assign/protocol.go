package assign

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/weirmq/weir/sm"
)

// Subscription is what a member tells the group leader in JoinGroup's
// protocol metadata: Kafka's ConsumerProtocolSubscription, byte for byte.
//
//	v0: topics [string], user_data bytes
//	v1: + owned_partitions [topic string, partitions [int32]]   (KIP-429)
//	v2: + generation_id int32                                    (KIP-792)
//	v3: + rack_id nullable string                                (KIP-881)
//
// Integers are big-endian, strings int16-length-prefixed, bytes and arrays
// int32-length-prefixed (-1 is null), as on Kafka's wire.
type Subscription struct {
	// Version is the schema version to encode (0..3); decoding records the
	// version it read.
	Version int16
	// Topics the member subscribes to.
	Topics []string
	// UserData is opaque to the assignors here (Kafka's sticky assignors
	// put their own state in it; the owned partitions field replaced that).
	UserData []byte
	// Owned is the member's current assignment: the partitions it holds
	// going into this rebalance (v1+). The cooperative assignor needs it.
	Owned []sm.TopicPartition
	// Generation is the generation in which the member was given Owned
	// (v2+), -1 when unknown. When two members claim a partition the
	// higher generation wins.
	Generation int32
	// Rack is the member's rack (v3+), "" when none.
	Rack string
}

// Assignment is what the leader hands each member in SyncGroup: Kafka's
// ConsumerProtocolAssignment (versions 0..3 share one layout).
//
//	assigned_partitions [topic string, partitions [int32]], user_data bytes
type Assignment struct {
	Version    int16
	Partitions []sm.TopicPartition
	UserData   []byte
}

// SubscriptionVersionMax is the newest subscription schema this package
// reads and writes; newer versions are read as far as this one knows
// (Kafka's forward compatibility: fields are only ever appended).
const SubscriptionVersionMax = 3

// ErrMalformed says protocol bytes could not be decoded.
var ErrMalformed = errors.New("assign: malformed consumer protocol bytes")

// EncodeSubscription writes s in its Version's schema.
func EncodeSubscription(s Subscription) []byte {
	v := min(max(s.Version, 0), SubscriptionVersionMax)
	b := binary.BigEndian.AppendUint16(nil, uint16(v))
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.Topics)))
	for _, t := range s.Topics {
		b = appendString(b, t)
	}
	b = appendBytes(b, s.UserData)
	if v >= 1 {
		b = appendTopicPartitions(b, s.Owned)
	}
	if v >= 2 {
		b = binary.BigEndian.AppendUint32(b, uint32(s.Generation))
	}
	if v >= 3 {
		if s.Rack == "" {
			b = binary.BigEndian.AppendUint16(b, 0xffff)
		} else {
			b = appendString(b, s.Rack)
		}
	}
	return b
}

// DecodeSubscription reads a subscription of any version.
func DecodeSubscription(p []byte) (Subscription, error) {
	r := reader{b: p}
	s := Subscription{Version: r.int16(), Generation: -1}
	if r.err == nil && s.Version < 0 {
		return s, fmt.Errorf("%w: subscription version %d", ErrMalformed, s.Version)
	}
	n := r.count()
	for i := 0; i < n && r.err == nil; i++ {
		s.Topics = append(s.Topics, r.string())
	}
	s.UserData = r.bytes()
	if s.Version >= 1 {
		s.Owned = r.topicPartitions()
	}
	if s.Version >= 2 {
		s.Generation = r.int32()
	}
	if s.Version >= 3 {
		s.Rack = r.nullableString()
	}
	if r.err != nil {
		return Subscription{}, fmt.Errorf("%w: subscription: %v", ErrMalformed, r.err)
	}
	if s.Version <= SubscriptionVersionMax && len(r.b) != 0 {
		return Subscription{}, fmt.Errorf("%w: subscription v%d: %d trailing bytes", ErrMalformed, s.Version, len(r.b))
	}
	return s, nil
}

// EncodeAssignment writes a.
func EncodeAssignment(a Assignment) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(max(a.Version, 0)))
	b = appendTopicPartitions(b, a.Partitions)
	return appendBytes(b, a.UserData)
}

// DecodeAssignment reads an assignment of any version. An empty byte slice
// is the empty assignment (Kafka sends it to members the leader left out).
func DecodeAssignment(p []byte) (Assignment, error) {
	if len(p) == 0 {
		return Assignment{}, nil
	}
	r := reader{b: p}
	a := Assignment{Version: r.int16()}
	a.Partitions = r.topicPartitions()
	a.UserData = r.bytes()
	if r.err != nil {
		return Assignment{}, fmt.Errorf("%w: assignment: %v", ErrMalformed, r.err)
	}
	if a.Version < 0 {
		return Assignment{}, fmt.Errorf("%w: assignment version %d", ErrMalformed, a.Version)
	}
	return a, nil
}

// appendTopicPartitions writes tps grouped by topic, topics in first-seen
// order after sorting: deterministic bytes for equal sets.
func appendTopicPartitions(b []byte, tps []sm.TopicPartition) []byte {
	sorted := slices.Clone(tps)
	slices.SortFunc(sorted, sm.CompareTP)
	var topics []string
	for i, tp := range sorted {
		if i == 0 || tp.Topic != sorted[i-1].Topic {
			topics = append(topics, tp.Topic)
		}
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(topics)))
	i := 0
	for _, t := range topics {
		b = appendString(b, t)
		j := i
		for j < len(sorted) && sorted[j].Topic == t {
			j++
		}
		b = binary.BigEndian.AppendUint32(b, uint32(j-i))
		for _, tp := range sorted[i:j] {
			b = binary.BigEndian.AppendUint32(b, uint32(tp.Partition))
		}
		i = j
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func appendBytes(b, p []byte) []byte {
	if p == nil {
		return binary.BigEndian.AppendUint32(b, 0xffffffff)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
	return append(b, p...)
}

// reader decodes Kafka primitives, remembering the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = fmt.Errorf("need %d bytes, %d left", n, len(r.b))
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) int16() int16 {
	p := r.take(2)
	if p == nil {
		return 0
	}
	return int16(binary.BigEndian.Uint16(p))
}

func (r *reader) int32() int32 {
	p := r.take(4)
	if p == nil {
		return 0
	}
	return int32(binary.BigEndian.Uint32(p))
}

// count reads an array length; null (-1) is zero. Every element takes at
// least one byte, so a count beyond the bytes left is malformed, not a
// reason to allocate.
func (r *reader) count() int {
	n := r.int32()
	if n == -1 {
		return 0
	}
	if r.err == nil && (n < 0 || int(n) > len(r.b)) {
		r.err = fmt.Errorf("array of %d elements in %d bytes", n, len(r.b))
		return 0
	}
	return int(n)
}

func (r *reader) string() string {
	n := r.int16()
	if r.err == nil && n < 0 {
		r.err = fmt.Errorf("string length %d", n)
		return ""
	}
	return string(r.take(int(n)))
}

func (r *reader) nullableString() string {
	n := r.int16()
	if n == -1 {
		return ""
	}
	if r.err == nil && n < 0 {
		r.err = fmt.Errorf("string length %d", n)
		return ""
	}
	return string(r.take(int(n)))
}

func (r *reader) bytes() []byte {
	n := r.int32()
	if n == -1 {
		return nil
	}
	if r.err == nil && n < 0 {
		r.err = fmt.Errorf("bytes length %d", n)
		return nil
	}
	return slices.Clone(r.take(int(n)))
}

func (r *reader) topicPartitions() []sm.TopicPartition {
	var out []sm.TopicPartition
	n := r.count()
	for i := 0; i < n && r.err == nil; i++ {
		t := r.string()
		m := r.count()
		for j := 0; j < m && r.err == nil; j++ {
			out = append(out, sm.TopicPartition{Topic: t, Partition: r.int32()})
		}
	}
	return out
}

// FormatPartitions prints tps compactly ("a/0,a/1,b/3"), for messages.
func FormatPartitions(tps []sm.TopicPartition) string {
	s := make([]string, len(tps))
	for i, tp := range tps {
		s[i] = tp.String()
	}
	return strings.Join(s, ",")
}
