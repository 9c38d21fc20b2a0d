// Package runtime is the seam between Weir's pure state machines (sm/) and the
// worlds that drive them: the simulator (sim/) and production (the loop in
// this package, with adapters from io/, net/ and cloud/).
//
// The contract is etcd raft's Step/Ready/Advance, generalised to a whole node:
//
//  1. The driver hands the node one event with the current time: Step(now, ev).
//  2. It takes the node's effects: rd := Ready().
//  3. It executes them in field order — starts rd.Log and rd.Raft effects
//     (they run asynchronously and each completes later as an event naming
//     its ID: sm.LogDone, sm.RaftDone), sends rd.Messages, arranges
//     sm.TimerFired at rd.TimerAt (Alarm), and stops the process if rd.Fatal
//     is set.
//  4. It acknowledges: Advance().
//
// The ordering rule for durable effects lives in the state machines: nothing
// is acknowledged to a client, reported to a leader, or voted on that depends
// on a write before that write's completion has arrived. A driver is
// therefore free to batch the execution of effects (group commit) and to
// complete them in any order each effect kind allows (see LogStore,
// RaftStore). A completion whose ID the node no longer tracks is dropped by
// the node.
package runtime

import "github.com/weirmq/weir/sm"

// Node is one process's state machine: a broker (sm/broker) or a controller
// (sm/controller).
type Node interface {
	// Step consumes one event. It returns an error only for input that is
	// malformed or cannot be routed; the driver logs it with the event and
	// carries on.
	Step(now sm.Time, ev sm.Event) error
	// Ready returns the effects accumulated since the last Advance.
	Ready() sm.Ready
	// Advance tells the node its last Ready has been handed to the adapters.
	Advance()
	// CheckInvariants verifies the node's internal invariants; the simulator
	// calls it after every step.
	CheckInvariants() error
}

// LogStore executes partition-log writes (sm.LogOp), the broker's durable
// effect. It promises:
//
//   - Each op completes exactly once, with an sm.LogDone naming its ID,
//     delivered to the node that issued it (the driver posts it as an event).
//   - The ops on one partition log complete in issue order. A store may
//     batch ops of many logs into one write and one sync (group commit) and
//     complete different logs' ops in any order.
//   - OutcomeOK with Sync: the op's bytes are on stable storage and survive a
//     crash or power loss. Without Sync: they survive a process crash, not a
//     power loss.
//   - OutcomeFailed: nothing was written (the append was refused: capacity,
//     free space, file descriptors); every later append to that log that
//     does not start at its end is refused too, so a log never has a gap.
//   - OutcomeUnknown: an I/O error; the op may be partly written. The store
//     is poisoned (every later op completes unknown) and the node stops;
//     after a restart it recovers from what the disk really holds.
//
// A crash leaves every synced byte in place and, of the unsynced ones, any
// prefix — possibly ending in garbage — which recovery cuts as a torn tail
// (sm.Durable). Implementations: io/wal in production, sim's disk.
type LogStore interface {
	StartLog(ops []sm.LogOp)
}

// LogReader reads partition-log segments (sm.LogRead), the effect that
// serves fetches for data outside the state machine's cache. It promises:
//
//   - Each read completes exactly once, with an sm.LogReadDone naming its
//     ID, in any order relative to other reads and to the log's writes,
//     possibly late.
//   - A read sees every write to its log whose sm.LogDone was delivered
//     before the read was issued.
//   - OutcomeOK: whole frames from the requested position, as written; the
//     reader does not verify them (the state machine checks each frame's
//     CRC). OutcomeFailed: the segment is gone or the read failed; nothing
//     else changed.
//
// Implementations: io/wal in production, sim's disk, testkit.Disk.
type LogReader interface {
	StartRead(reads []sm.LogRead)
}

// RaftStore persists raft entries, hard state and snapshots (sm.RaftSave,
// whose Snapshot field says which entries a snapshot lets it delete), the
// controller's durable effect. Saves complete in issue order, each exactly
// once with an sm.RaftDone; OutcomeOK with Sync means the save survives a
// power loss, and an earlier unsynced save is then durable too (a later
// synced save covers the earlier ones, as one log file's fsync does).
// OutcomeUnknown is an I/O error: the node stops. A crash keeps every synced
// save and, of the unsynced ones after them, a prefix. Implementations:
// io/raftstore (pebble) in production, sim's disk.
type RaftStore interface {
	StartRaft(saves []sm.RaftSave)
}

// ObjectStore executes object-store operations (sm.ObjectOp): the tiered
// log's cold copy on Google Cloud Storage (cloud/gcs), a directory
// (cloud/local) or the simulator's store. Its semantics are GCS's, and
// every implementation keeps them (runtime/objtest checks):
//
//   - Each op completes exactly once, with an sm.ObjectDone naming its ID,
//     in any order and arbitrarily late, independently of other effects.
//   - Strong consistency: once a put completed OK, every get and list
//     issued afterwards sees the object, and once a delete completed OK none
//     does. A list returns names in lexicographic order, one page at a time.
//   - A put creates the whole object or nothing (no reader ever sees part
//     of one). CreateOnly (GCS ifGenerationMatch=0) fails with
//     sm.ObjErrExists when the name exists, so a name is written at most
//     once. Generations increase with every write of a name.
//   - A put with a Source reads the named local segment range from the
//     node's log store and checks every frame (CRC32C, offsets dense over
//     [Base, Next)) before the object is created: sm.ObjErrSourceGone or
//     sm.ObjErrSourceCorrupt otherwise, nothing created.
//   - OutcomeFailed means the op certainly did nothing. OutcomeUnknown (only
//     puts and deletes) means it may have: the request left and its answer
//     was lost, or timed out. A put that completes Unknown may have created
//     its object, now or — a request still in flight — later; the caller
//     never assumes either.
//   - Adapters retry transient errors (HTTP 429 and 5xx, resets) with
//     backoff within a deadline per op, then report ObjErrThrottled or
//     ObjErrUnavailable; an op never blocks the node's loop.
//
// A crash of the node leaves the store as it is: objects put before the
// crash stay, in-flight puts may or may not land. Implementations:
// cloud.Executor (over cloud/gcs or cloud/local) in production, sim's
// object store.
type ObjectStore interface {
	StartObject(ops []sm.ObjectOp)
}

// Network sends messages, best effort: a message may be lost, delayed or
// (between servers) duplicated; state machines retry on their own timers.
// Send never blocks on the network.
type Network interface {
	Send(msgs []sm.Envelope)
}

// Env executes a node's effects. The simulator implements it with its
// virtual network and disk; production (Loop) with QUIC, the WAL and pebble.
type Env interface {
	LogStore
	LogReader
	RaftStore
	ObjectStore
	Network
	// SetTimer records when the node next needs a TimerFired; see Alarm,
	// which both drivers use to implement it.
	SetTimer(at sm.Time)
	// Fatal stops the node: an environmental dead end such as an I/O error.
	Fatal(reason string)
}

// Handle is the one driver both worlds use: it steps node with ev at now and
// executes the resulting effects through env. It returns Step's error.
func Handle(node Node, env Env, now sm.Time, ev sm.Event) error {
	err := node.Step(now, ev)
	Flush(node, env)
	return err
}

// Flush executes whatever the node has ready, in the contract's field order.
// A driver that steps several events before one Flush (Loop batches queued
// events) gets their effects together: nodes accumulate effects until
// Advance.
func Flush(node Node, env Env) {
	rd := node.Ready()
	if rd.Fatal != "" {
		env.Fatal(rd.Fatal)
		node.Advance()
		return
	}
	if len(rd.Log) > 0 {
		env.StartLog(rd.Log)
	}
	if len(rd.Reads) > 0 {
		env.StartRead(rd.Reads)
	}
	if len(rd.Raft) > 0 {
		env.StartRaft(rd.Raft)
	}
	if len(rd.Objects) > 0 {
		env.StartObject(rd.Objects)
	}
	if len(rd.Messages) > 0 {
		env.Send(rd.Messages)
	}
	if ps, ok := env.(ProbeSink); ok && len(rd.Probes) > 0 {
		ps.Reached(rd.Probes)
	}
	if as, ok := env.(AuditSink); ok && len(rd.Security) > 0 {
		as.Audit(rd.Security)
	}
	if rs, ok := env.(RevocationSink); ok && rd.Revoked != nil {
		rs.Revoke(rd.Revoked)
	}
	env.SetTimer(rd.TimerAt)
	node.Advance()
}

// ProbeSink is an Env that counts the protocol paths nodes report
// (sm.Ready.Probes); the simulator does, for its coverage gate. An Env
// without it ignores them.
type ProbeSink interface {
	Reached(probes []sm.Probe)
}

// RevocationSink is an Env that enforces revoked certificates
// (sm.Ready.Revoked) at its transport; an Env without it ignores them.
type RevocationSink interface {
	Revoke(serials []string)
}

// AuditSink is an Env that records the security events nodes report
// (sm.Ready.Security) in an audit log; an Env without it ignores them.
type AuditSink interface {
	Audit(events []sm.SecurityEvent)
}

// Alarm is the one definition of SetTimer, shared by both drivers: a node
// has at most one wish, the latest one it reported; zero means it needs no
// timer. A driver arms one wake-up per wish and delivers sm.TimerFired only
// for the current one, so a replaced or cancelled wish never fires. Nodes
// must still treat any event as a tick (a paused process, a clock jump), and
// a TimerFired as a hint, not a promise that a deadline passed.
type Alarm struct {
	at  sm.Time
	gen uint64
}

// Set records the node's wish. When it changed it returns arm true with a
// generation: the driver schedules a wake-up at at (none if at is zero)
// tagged with gen, and earlier wake-ups are void.
func (a *Alarm) Set(at sm.Time) (gen uint64, arm bool) {
	if at == a.at {
		return a.gen, false
	}
	a.at = at
	a.gen++
	return a.gen, true
}

// Fire reports whether a wake-up tagged gen is still wanted; if so the wish
// is used up and the driver delivers sm.TimerFired.
func (a *Alarm) Fire(gen uint64) bool {
	if gen != a.gen || a.at == 0 {
		return false
	}
	a.at = 0
	return true
}

// Reset forgets the wish (the process stopped); pending wake-ups are void.
func (a *Alarm) Reset() {
	a.at = 0
	a.gen++
}
