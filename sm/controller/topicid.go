package controller

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/weirmq/weir/sm"
)

// topicIDDomain separates topic IDs from any other SHA-256 use, and
// versions the derivation: a later scheme changes the prefix.
const topicIDDomain = "weir/topic-id/v1\x00"

// topicID derives the ID of the topic name created by the raft entry at
// (term, index): the first 16 bytes of SHA-256 over the domain, the name,
// the term and the index. It is a pure function of the entry, so every
// replica — and every replay of the log — computes the same ID without
// drawing randomness. A committed index holds one entry forever, so two
// creations never share (term, index): a topic deleted and created again
// gets a new ID. IDs are unique within one cluster, which is what its
// brokers need to tell incarnations of a name apart; two clusters whose
// logs are alike mint the same IDs (there is no cluster ID to mix in).
func topicID(name string, term, index uint64) sm.TopicID {
	h := sha256.New()
	h.Write([]byte(topicIDDomain))
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(name)))
	h.Write(n[:])
	h.Write([]byte(name))
	binary.LittleEndian.PutUint64(n[:], term)
	h.Write(n[:])
	binary.LittleEndian.PutUint64(n[:], index)
	h.Write(n[:])
	var id sm.TopicID
	copy(id[:], h.Sum(nil))
	if id == (sm.TopicID{}) {
		id[0] = 1 // the zero ID means "unknown"; 2^-128, but never mint it
	}
	return id
}
