// Package runtime is the seam between Weir's pure state machines (sm/) and the
// worlds that drive them: the simulator (sim/) and production (the loop in
// this package, with adapters from io/, net/ and cloud/).
//
// The contract is etcd raft's Step/Ready/Advance, generalised to a whole node:
//
//  1. The driver hands the node one event with the current time: Step(now, ev).
//  2. It takes the node's effects: rd := Ready().
//  3. It executes them in field order — starts rd.Disk operations (they run
//     asynchronously and each completes later as a sm.DiskDone event, in issue
//     order), sends rd.Messages, arranges sm.TimerFired at rd.TimerAt, and stops
//     the process if rd.Fatal is set.
//  4. It acknowledges: Advance().
//
// The ordering rule for durable effects lives in the state machines: nothing
// is acknowledged to a client, reported to a leader, or voted on that depends
// on a write before that write's DiskDone has arrived. A driver is therefore
// free to batch and reorder the *execution* of disk operations across nodes
// (group commit), as long as it completes one node's operations in order.
package runtime

import "github.com/weirmq/weir/sm"

// Node is one process's state machine: a broker (sm/broker) or a controller
// (sm/controller).
type Node interface {
	// Step consumes one event. It returns an error only for input that is
	// malformed or cannot be routed; the driver logs and drops it.
	Step(now sm.Time, ev sm.Event) error
	// Ready returns the effects accumulated since the last Advance.
	Ready() sm.Ready
	// Advance tells the node its last Ready has been handed to the adapters.
	Advance()
	// CheckInvariants verifies the node's internal invariants; the simulator
	// calls it after every step.
	CheckInvariants() error
}

// Env executes a node's effects. The simulator implements it with its
// virtual network and disk; production with QUIC, the WAL and pebble.
type Env interface {
	// StartDisk begins the operations; each completes later with a DiskDone
	// event delivered to the node, in the order given.
	StartDisk(ops []sm.DiskOp)
	// Send transmits messages; delivery is best effort.
	Send(msgs []sm.Envelope)
	// SetTimer asks for a TimerFired at or after at (zero: no timer). A later
	// call replaces an earlier one.
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
func Flush(node Node, env Env) {
	rd := node.Ready()
	if rd.Fatal != "" {
		env.Fatal(rd.Fatal)
		node.Advance()
		return
	}
	if len(rd.Disk) > 0 {
		env.StartDisk(rd.Disk)
	}
	if len(rd.Messages) > 0 {
		env.Send(rd.Messages)
	}
	env.SetTimer(rd.TimerAt)
	node.Advance()
}
