package group

import (
	"unicode/utf16"

	"github.com/weirmq/weir/sm"
)

// OffsetsTopic is the internal topic whose partitions hold group state.
const OffsetsTopic = sm.OffsetsTopic

// PartitionFor is the offsets partition that owns groupID: Kafka's
// Utils.abs(groupId.hashCode()) % partitions, so a Kafka client's
// FindCoordinator lands where Kafka's would. hashCode is Java's
// String.hashCode (s[0]*31^(n-1) + ... + s[n-1] over UTF-16 code units,
// int32 arithmetic that wraps); Utils.abs maps MinInt32 to 0. Invalid
// UTF-8 bytes count as U+FFFD each (Java's decoder may merge a malformed
// sequence into fewer replacement characters; such IDs do not reach Kafka
// clients in practice). partitions <= 0 gives 0.
func PartitionFor(groupID string, partitions int32) int32 {
	if partitions <= 0 {
		return 0
	}
	return javaAbs(javaHashCode(groupID)) % partitions
}

func javaHashCode(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 {
			hi, lo := utf16.EncodeRune(r)
			h = 31*h + hi
			h = 31*h + lo
			continue
		}
		h = 31*h + r
	}
	return h
}

func javaAbs(n int32) int32 {
	switch {
	case n == -1<<31:
		return 0
	case n < 0:
		return -n
	}
	return n
}
