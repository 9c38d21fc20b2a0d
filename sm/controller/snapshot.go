package controller

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/acl"
	"github.com/weirmq/weir/sm/assert"
)

// The metadata snapshot is the Data of a raft snapshot: everything applying
// the log up to the snapshot's index built (brokers, topics, partitions with
// their ISR and ELR, tombstones and every version), so that a controller
// restored from it and then applying the entries after it holds exactly
// what replaying the whole log gives. Leader soft state (sessions, health
// reports, proposals, reads) is not in it: a new leader starts those fresh.
//
// Layout: one format-version byte (snapshotFormat), then the JSON encoding
// of snapshotBody, with every list sorted (brokers by ID, topics by name,
// tombstones oldest first, uploaded segments by offset), so equal metadata
// encodes to equal bytes. A reader refuses any version byte it does not
// know rather than misread it: a newer controller's snapshot reaching an
// older one during a rolling upgrade is an error naming both versions,
// never silently partial metadata.
//
// Versions: 1 (issue 9) has no tiered storage; 2 adds each partition's
// recorded uploaded segments (snapPartition.Remote) and PartitionState's
// Remote summary; 3 adds the ACL rule set (ACL, its acl.State snapshot,
// and ACLVersion); 4 the certificate registry (Certs, RevokedVersion); 5
// the next producer ID (NextProducerID). A
// version-1 snapshot reads as metadata with nothing uploaded, versions 1
// and 2 as metadata without ACL rules, and 1 to 3 without certificates,
// which is what they described; 1 to 4 have allocated no producer IDs.
const (
	snapshotFormat   = 5
	snapshotFormatV4 = 4
	snapshotFormatV3 = 3
	snapshotFormatV2 = 2
	snapshotFormatV1 = 1
)

// ErrSnapshotFormat is wrapped by decodeSnapshot's error for a snapshot of
// an unknown format version.
var ErrSnapshotFormat = errors.New("controller: unknown metadata snapshot format")

type snapshotBody struct {
	Applied       uint64          `json:"applied"`
	Version       uint64          `json:"version"`
	TopicsCreated uint64          `json:"topics_created"`
	Horizon       uint64          `json:"horizon"`
	Brokers       []snapBroker    `json:"brokers"`
	Topics        []snapTopic     `json:"topics"`
	Tombstones    []snapTombstone `json:"tombstones"`
	// ACL and ACLVersion (format 3): acl.State.Snapshot, and the metadata
	// version of its last change.
	ACL        []byte `json:"acl,omitempty"`
	ACLVersion uint64 `json:"acl_version,omitempty"`
	// Certs and RevokedVersion (format 4): the registry, by serial.
	Certs          []sm.CertRecord `json:"certs,omitempty"`
	RevokedVersion uint64          `json:"revoked_version,omitempty"`
	// NextProducerID (format 5): the first producer ID no block has taken.
	NextProducerID int64 `json:"next_producer_id,omitempty"`
}

type snapBroker struct {
	Info    sm.BrokerInfo `json:"info"`
	Version uint64        `json:"v"`
}

type snapTopic struct {
	Info       sm.TopicInfo    `json:"info"`
	Version    uint64          `json:"v"`
	Partitions []snapPartition `json:"partitions"`
}

type snapPartition struct {
	State   sm.PartitionState `json:"state"`
	Version uint64            `json:"v"`
	// Remote is the recorded uploaded segments (format 2).
	Remote []sm.RemoteSegment `json:"remote,omitempty"`
}

type snapTombstone struct {
	Name    string `json:"name"`
	Version uint64 `json:"v"`
}

// encodeSnapshot serialises md (see the layout above).
func encodeSnapshot(md *metadata) []byte {
	body := snapshotBody{Applied: md.applied, Version: md.version, TopicsCreated: md.topicsCreated, Horizon: md.horizon,
		ACL: md.acls.Snapshot(), ACLVersion: md.aclVersion, RevokedVersion: md.revokedVersion, NextProducerID: md.nextProducerID}
	for _, serial := range slices.Sorted(maps.Keys(md.certs)) {
		body.Certs = append(body.Certs, *md.certs[serial])
	}
	for _, id := range slices.Sorted(maps.Keys(md.brokers)) {
		b := md.brokers[id]
		body.Brokers = append(body.Brokers, snapBroker{Info: b.info, Version: b.version})
	}
	for _, name := range slices.Sorted(maps.Keys(md.topics)) {
		t := md.topics[name]
		st := snapTopic{Info: t.info, Version: t.version, Partitions: make([]snapPartition, len(t.partitions))}
		for i, p := range t.partitions {
			st.Partitions[i] = snapPartition{State: p.state, Version: p.version, Remote: p.remote}
		}
		body.Topics = append(body.Topics, st)
	}
	for _, name := range md.tombstoneOrder {
		body.Tombstones = append(body.Tombstones, snapTombstone{Name: name, Version: md.tombstones[name]})
	}
	out := bytes.NewBuffer([]byte{snapshotFormat})
	err := json.NewEncoder(out).Encode(&body)
	assert.That(err == nil, "controller: encode metadata snapshot at %d: %v", md.applied, err)
	return out.Bytes()
}

// decodeSnapshot reads a metadata snapshot. The bytes come from disk or from
// a peer, so anything malformed is an error, never a panic: an unknown
// format version, bad JSON, unknown fields, trailing data, duplicate
// brokers or topics, and any state that breaks the metadata's invariants
// (metadata.check).
func decodeSnapshot(data []byte) (*metadata, error) {
	if len(data) == 0 {
		return nil, errors.New("controller: metadata snapshot is empty")
	}
	if data[0] < snapshotFormatV1 || data[0] > snapshotFormat {
		return nil, fmt.Errorf("%w: version %d (this controller reads versions %d to %d)", ErrSnapshotFormat, data[0], snapshotFormatV1, snapshotFormat)
	}
	var body snapshotBody
	dec := json.NewDecoder(bytes.NewReader(data[1:]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return nil, fmt.Errorf("controller: metadata snapshot: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("controller: metadata snapshot: data after the body")
	}
	md := newMetadata(body.Applied)
	md.version, md.topicsCreated, md.horizon = body.Version, body.TopicsCreated, body.Horizon
	switch {
	case body.NextProducerID < 0:
		return nil, fmt.Errorf("controller: metadata snapshot: next producer ID %d", body.NextProducerID)
	case data[0] <= snapshotFormatV4 && body.NextProducerID != 0:
		return nil, fmt.Errorf("controller: metadata snapshot: version %d holds producer IDs", data[0])
	}
	md.nextProducerID = body.NextProducerID
	for _, b := range body.Brokers {
		if md.brokers[b.Info.ID] != nil {
			return nil, fmt.Errorf("controller: metadata snapshot: broker %v listed twice", b.Info.ID)
		}
		md.brokers[b.Info.ID] = &brokerEntry{info: b.Info, version: b.Version}
	}
	for _, t := range body.Topics {
		if md.topics[t.Info.Name] != nil {
			return nil, fmt.Errorf("controller: metadata snapshot: topic %q listed twice", t.Info.Name)
		}
		te := &topicEntry{info: t.Info, version: t.Version}
		for _, p := range t.Partitions {
			if data[0] == snapshotFormatV1 && (len(p.Remote) > 0 || p.State.Remote != (sm.RemoteLog{})) {
				return nil, fmt.Errorf("controller: metadata snapshot: version %d holds uploaded segments of %v", snapshotFormatV1, p.State.TP)
			}
			te.partitions = append(te.partitions, &partitionEntry{state: p.State, version: p.Version, remote: p.Remote})
		}
		md.topics[t.Info.Name] = te
	}
	for _, ts := range body.Tombstones {
		if _, dup := md.tombstones[ts.Name]; dup {
			return nil, fmt.Errorf("controller: metadata snapshot: tombstone %q listed twice", ts.Name)
		}
		md.tombstones[ts.Name] = ts.Version
		md.tombstoneOrder = append(md.tombstoneOrder, ts.Name) // check() refuses an order that is not by version
	}
	switch { // after the topics, whose errors name older formats' limits first
	case data[0] < snapshotFormatV3 && (body.ACL != nil || body.ACLVersion != 0):
		return nil, fmt.Errorf("controller: metadata snapshot: version %d holds ACL rules", data[0])
	case body.ACL != nil:
		acls, err := acl.Restore(body.ACL)
		if err != nil {
			return nil, fmt.Errorf("controller: metadata snapshot: %w", err)
		}
		md.acls, md.aclVersion = acls, body.ACLVersion
	case data[0] >= snapshotFormatV3:
		return nil, errors.New("controller: metadata snapshot: no ACL rule set")
	}
	if data[0] < snapshotFormat && (len(body.Certs) > 0 || body.RevokedVersion != 0) {
		return nil, fmt.Errorf("controller: metadata snapshot: version %d holds certificates", data[0])
	}
	for i := range body.Certs {
		rec := body.Certs[i]
		if rec.Serial == "" || md.certs[rec.Serial] != nil {
			return nil, fmt.Errorf("controller: metadata snapshot: certificate %q empty or listed twice", rec.Serial)
		}
		md.certs[rec.Serial] = &rec
	}
	md.revokedVersion = body.RevokedVersion
	if md.applied < bootstrapIndex {
		return nil, fmt.Errorf("controller: metadata snapshot: applied index %d below the bootstrap index %d", md.applied, bootstrapIndex)
	}
	if md.topicsCreated < uint64(len(md.topics)) {
		return nil, fmt.Errorf("controller: metadata snapshot: %d topics but only %d ever created", len(md.topics), md.topicsCreated)
	}
	if err := md.check(); err != nil {
		return nil, fmt.Errorf("controller: metadata snapshot: %w", err)
	}
	return md, nil
}
