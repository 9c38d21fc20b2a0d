package sm

import (
	"net/netip"

	pb "go.etcd.io/raft/v3/raftpb"
)

// Event is one input to a node's state machine. Time arrives beside it (see
// runtime.Node.Step); the set is closed.
type Event interface{ isEvent() }

// Received is a message that arrived from the network.
type Received struct {
	From NodeID
	Msg  Message
	// Principal is who the sender's verified certificate says it is, as the
	// process's principal rule maps it (the name ACLs grant to); Source
	// the address it connected from (invalid when unknown). Both are empty
	// for messages that do not come over the network (the admin API's
	// own requests carry the admin principal).
	Principal string
	Source    netip.Addr
	// Serial is the sender's verified certificate serial, in the
	// registry's form (lowercase hex, pki.SerialString): brokers and
	// controllers refuse a client request whose certificate they know is
	// revoked (CodeCertificateRevoked), behind the transport's own check.
	// Empty when unknown (in-process requests, certificates-free tests),
	// which no revocation concerns.
	Serial string
}

// TimerFired is delivered once the time a node asked for in Ready.TimerAt has
// come. It may also arrive early or late; handlers compare against Now.
type TimerFired struct{}

// HealthObserved is the runtime's latest measurement of the process's
// components, posted to a broker periodically (the simulator posts synthetic
// values). The broker keeps the latest one and sends it, with the
// Replication part filled from its own partitions, in its next health
// report; a broker that never received one reports zero components.
type HealthObserved struct {
	Health BrokerHealth
}

func (Received) isEvent()       {}
func (TimerFired) isEvent()     {}
func (LogDone) isEvent()        {}
func (LogReadDone) isEvent()    {}
func (RaftDone) isEvent()       {}
func (HealthObserved) isEvent() {}

// Ready is what a state machine asks its caller to do, in field order:
// start the Log, Reads, Raft and Objects effects (asynchronously; each completes later with
// an event naming its ID), send Messages, then arrange a TimerFired at
// TimerAt. Messages never depend on an uncompleted effect of the same Ready
// — the state machine holds them back until the completion arrives. A Ready
// may cover several Steps: effects accumulate until Advance.
type Ready struct {
	Log      []LogOp
	Reads    []LogRead
	Raft     []RaftSave
	Objects  []ObjectOp
	Messages []Envelope
	// TimerAt is the earliest time the node needs TimerFired; zero means none.
	TimerAt Time
	// Fatal, when set, says the node hit an environmental dead end (an I/O
	// error, a corrupt log it cannot serve). The caller stops the process; it
	// may restart from disk.
	Fatal string
	// Probes are the protocol paths taken since the last Advance (see
	// Probe): the simulator counts them; production may ignore them.
	Probes []Probe
	// Security are the security events since the last Advance — requests
	// the ACLs refused, ACL changes applied — for the process's audit log
	// (the state machine decides; the adapter writes).
	Security []SecurityEvent
	// Revoked, when not nil, is the whole set of revoked certificate
	// serials, which changed (or is reported for the first time): the
	// process refuses them at the handshake and closes their connections.
	Revoked []string
}

// Durable is what a node found on its disk at start; the runtime reads it and
// hands it to the node's constructor, which recovers from it.
type Durable struct {
	// Manifests holds each partition log's manifest: its segments and their
	// indexes, not their bytes. The store has cut torn tails; everything a
	// manifest holds is durable.
	Manifests map[TopicPartition]LogManifest
	// Damaged names partition logs whose disk lost data that may have been
	// acknowledged: a bad record below what was synced, in a sealed
	// segment, or a gap. Manifests holds each one's valid prefix; the value
	// names the file and byte. Nothing was cut: the broker leaves the ISR,
	// and cuts and rebuilds the replica from the leader only when another
	// replica leads (see sm/broker).
	Damaged map[TopicPartition]string
	// FreshDisk says the node's disk held no state at all: a first start, or
	// a lost or replaced disk. A broker that was registered before then
	// holds none of its replicas' data.
	FreshDisk bool
	// HardState, Snapshot and Entries are the controller's Raft state:
	// Snapshot (nil if none was ever saved) summarises the log up to its
	// index, and Entries are the stored entries after it.
	HardState *pb.HardState
	Snapshot  *pb.Snapshot
	Entries   []*pb.Entry
}
