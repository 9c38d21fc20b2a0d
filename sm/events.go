package sm

import pb "go.etcd.io/raft/v3/raftpb"

// Event is one input to a node's state machine. Time arrives beside it (see
// runtime.Node.Step); the set is closed.
type Event interface{ isEvent() }

// Received is a message that arrived from the network.
type Received struct {
	From NodeID
	Msg  Message
}

// TimerFired is delivered once the time a node asked for in Ready.TimerAt has
// come. It may also arrive early or late; handlers compare against Now.
type TimerFired struct{}

// DiskDone is the completion of Ready.Disk operation ID. Operations complete in
// the order they were issued. A non-empty Err means the operation failed and
// what it wrote may be partial; nodes treat that as fatal (see Ready.Fatal),
// unless Refused is set.
type DiskDone struct {
	ID  uint64
	Err string
	// Refused, with Err, says the operation was refused before it wrote
	// anything, for a reason that may pass: the log's capacity is used up,
	// or the process is out of file descriptors. Only appends are refused;
	// every later append to the same log that does not start where the log
	// now ends is refused too. The node carries on: nothing on disk changed.
	Refused bool
}

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
func (DiskDone) isEvent()       {}
func (HealthObserved) isEvent() {}

// DiskKind is what a DiskOp does.
type DiskKind uint8

// Disk operations.
const (
	// DiskAppend appends encoded batches (EncodeBatch frames) to TP's log.
	DiskAppend DiskKind = iota
	// DiskTruncate removes every batch of TP's log at or after Offset
	// (a batch boundary), making the log end exactly Offset. It also cuts
	// any torn or corrupt bytes at or after that point; recovery relies on
	// it.
	DiskTruncate
	// DiskDelete removes TP's log entirely (topic deleted).
	DiskDelete
	// DiskRaft persists Raft entries and hard state (controller).
	DiskRaft
)

// DiskOp is one durable write. Its completion (DiskDone with the same ID)
// arrives only after the data is durable when Sync is set: a state machine
// never acts on a write — acknowledges it, reports it to a leader, votes on it
// — before that completion.
type DiskOp struct {
	ID   uint64
	Kind DiskKind
	TP   TopicPartition
	// Data holds whole EncodeBatch frames for DiskAppend.
	Data []byte
	// Offset is the new log end for DiskTruncate.
	Offset Offset
	// HardState and Entries are for DiskRaft: entries overwrite any stored
	// entries at the same or later indexes.
	HardState *pb.HardState
	Entries   []*pb.Entry
	Sync      bool
}

// Ready is what a state machine asks its caller to do, in field order:
// execute Disk operations (asynchronously; each completes with DiskDone), send
// Messages, then arrange a TimerFired at TimerAt. Messages never depend on an
// uncompleted Disk operation of the same Ready — the state machine holds them
// back until the completion arrives.
type Ready struct {
	Disk     []DiskOp
	Messages []Envelope
	// TimerAt is the earliest time the node needs TimerFired; zero means none.
	TimerAt Time
	// Fatal, when set, says the node hit an environmental dead end (an I/O
	// error, a corrupt log it cannot serve). The caller stops the process; it
	// may restart from disk.
	Fatal string
}

// Empty reports whether the Ready asks for nothing beyond a timer.
func (r *Ready) Empty() bool {
	return len(r.Disk) == 0 && len(r.Messages) == 0 && r.Fatal == ""
}

// Durable is what a node found on its disk at start; the runtime reads it and
// hands it to the node's constructor, which recovers from it.
type Durable struct {
	// Logs holds each partition log's bytes: EncodeBatch frames, possibly
	// ending in a torn or corrupt frame that recovery truncates.
	Logs map[TopicPartition][]byte
	// Damaged names partition logs whose disk lost data that may have been
	// acknowledged: a bad record below what was synced, in a sealed
	// segment, or a gap. Logs holds each one's valid prefix; the value
	// names the file and byte. Nothing was cut: the broker leaves the ISR,
	// and cuts and rebuilds the replica from the leader only when another
	// replica leads (see sm/broker).
	Damaged map[TopicPartition]string
	// FreshDisk says the node's disk held no state at all: a first start, or
	// a lost or replaced disk. A broker that was registered before then
	// holds none of its replicas' data.
	FreshDisk bool
	// HardState and Entries are the controller's Raft state.
	HardState *pb.HardState
	Entries   []*pb.Entry
}
