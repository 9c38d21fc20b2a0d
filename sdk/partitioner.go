package sdk

import (
	"time"

	"github.com/weirmq/weir/sm"
)

// Partitioner picks the partition of a record sent with Partition -1.
//
// Partition returns a partition in [0, partitions) for the record's key, or
// a negative number for "no preference", in which case the producer uses
// its sticky partition for the topic: keyless records fill one partition's
// batch, and the producer moves to another partition (one with a leader,
// chosen at random, never the one it leaves) as soon as that batch is
// complete: sent, full (ProducerConfig.BatchRecords or BatchBytes), or
// older than ProducerConfig.Linger. Keyless load so spreads over the
// partitions in whole batches rather than one record at a time (Kafka's
// KIP-480, which moves on when a batch is completed). The linger bound
// matters when the partition's request is still in flight: its next batch
// waits, and without the bound every keyless record would pile into it.
// With Linger 0 every keyless record moves on. Partition is called with
// the producer's lock held: it must be fast, must not block and must not
// call the Producer.
type Partitioner interface {
	Partition(topic string, key []byte, partitions int32) int32
}

// stickyBatchDoneLocked reports whether the batch that keyless records for
// tp are filling is complete: gone (sent), full, or lingered, so that the
// next keyless record moves to another partition.
func (p *Producer) stickyBatchDoneLocked(tp sm.TopicPartition) bool {
	pq := p.parts[tp]
	if pq == nil || len(pq.batches) == 0 {
		return true
	}
	b := pq.batches[len(pq.batches)-1]
	return b.full || time.Since(b.created) >= p.cfg.Linger
}

// KeyHashPartitioner is the default Partitioner. A record with a key goes to
//
//	(Murmur2(key) & 0x7fffffff) % partitions
//
// exactly as Kafka's Java client's default partitioner places keyed
// records, so a topic migrated from Kafka (or shared with Kafka clients'
// logic) keeps every key on the same partition. The mapping depends only on
// the key bytes and the partition count: it is stable across processes,
// restarts and SDK versions, and changes only if partitions are added. A
// record without a key (nil or empty) has no preference (sticky, see
// Partitioner).
type KeyHashPartitioner struct{}

// Partition implements Partitioner.
func (KeyHashPartitioner) Partition(_ string, key []byte, partitions int32) int32 {
	if len(key) == 0 || partitions <= 0 {
		return -1
	}
	return int32(uint32(Murmur2(key)&0x7fffffff) % uint32(partitions))
}

// Murmur2 is the 32-bit MurmurHash2 variant Kafka uses for keys (seed
// 0x9747b28c, org.apache.kafka.common.utils.Utils.murmur2), returned as the
// same signed value, so the SDK and Kafka's clients agree bit for bit.
func Murmur2(data []byte) int32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	n := len(data)
	h := seed ^ uint32(n)
	for i := 0; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[n&^3:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}
