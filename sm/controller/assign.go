package controller

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/assert"
)

// topicNameBytesMax is Kafka's limit, kept so names survive a round trip
// through tools built for it.
const topicNameBytesMax = 249

// validateTopicName returns why name cannot be a topic name, or "". Names are
// path components in storage and object keys, hence the small alphabet and
// the ban on "." and "..".
func validateTopicName(name string) string {
	switch {
	case name == "":
		return "topic name must not be empty"
	case len(name) > topicNameBytesMax:
		return fmt.Sprintf("topic name %.20q... is %d bytes, above the %d limit", name, len(name), topicNameBytesMax)
	case name == "." || name == "..":
		return fmt.Sprintf("topic name %q is reserved", name)
	}
	// Range over runes, so a multi-byte character is named whole (a byte of
	// it printed as a rune would be a different character).
	for i, r := range name {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(name[i:], "\uFFFD"):
			return fmt.Sprintf("topic name %q has byte %#x (not UTF-8) at byte %d; allowed are [a-zA-Z0-9._-]", name, name[i], i)
		case r >= utf8.RuneSelf || !topicNameByte(byte(r)):
			return fmt.Sprintf("topic name %q has %q at byte %d; allowed are [a-zA-Z0-9._-]", name, r, i)
		}
	}
	return ""
}

func topicNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

// assignReplicas places the replicas of a new topic's partitions on live
// brokers (sorted by ID). It is a pure function of its inputs so every
// replica of the metadata computes the same assignment.
//
// Brokers are ordered by alternating racks (rack-aware round robin), so
// consecutive brokers in the order sit on different racks where racks allow.
// Partition p's replicas are rf consecutive brokers starting at (rotation+p):
// leaders (the first replica) spread over brokers within a topic and, via
// rotation (the number of topics created so far), across topics.
func assignReplicas(live []sm.BrokerInfo, partitions, rf int32, rotation uint64) [][]sm.NodeID {
	assert.That(rf >= 1 && int(rf) <= len(live), "controller: replication factor %d with %d live brokers", rf, len(live))
	order := rackAlternating(live)
	n := uint64(len(order))
	out := make([][]sm.NodeID, partitions)
	for p := range out {
		start := (rotation + uint64(p)) % n
		replicas := make([]sm.NodeID, rf)
		for j := range replicas {
			replicas[j] = order[(start+uint64(j))%n]
		}
		out[p] = replicas
	}
	return out
}

// rackAlternating orders brokers rack by rack in turns: the first broker of
// each rack (racks sorted by name), then the second of each, and so on.
// Within a rack brokers keep their ID order.
func rackAlternating(live []sm.BrokerInfo) []sm.NodeID {
	byRack := map[string][]sm.NodeID{}
	for _, b := range live {
		byRack[b.Rack] = append(byRack[b.Rack], b.ID)
	}
	racks := slices.Sorted(maps.Keys(byRack))
	order := make([]sm.NodeID, 0, len(live))
	for round := 0; len(order) < len(live); round++ {
		for _, rack := range racks {
			if ids := byRack[rack]; round < len(ids) {
				order = append(order, ids[round])
			}
		}
	}
	return order
}
