package testkit

import (
	"slices"

	"github.com/weirmq/weir/sm"
)

// Network is a message queue shared by every Env of one test world. It
// implements runtime.Network: Send only queues; the test decides what
// happens next — deliver a message (Take, Pop), lose it (Drop, DropFunc),
// duplicate it (Dup) or reorder the queue (Move). Queue is exported so a
// test can look at (and rewrite) what is in flight.
type Network struct {
	Queue []sm.Envelope
}

// Send implements runtime.Network.
func (n *Network) Send(msgs []sm.Envelope) { n.Queue = append(n.Queue, msgs...) }

// Len is the number of messages in flight.
func (n *Network) Len() int { return len(n.Queue) }

// Pop takes the oldest message (FIFO delivery); ok is false when none.
func (n *Network) Pop() (e sm.Envelope, ok bool) {
	if len(n.Queue) == 0 {
		return sm.Envelope{}, false
	}
	return n.Take(0), true
}

// Take removes message i from the queue and returns it.
func (n *Network) Take(i int) sm.Envelope {
	e := n.Queue[i]
	n.Queue = slices.Delete(n.Queue, i, i+1)
	return e
}

// Drop loses message i.
func (n *Network) Drop(i int) { n.Take(i) }

// Dup queues a copy of message i at the end (a retransmission).
func (n *Network) Dup(i int) { n.Queue = append(n.Queue, n.Queue[i]) }

// Move moves message i to position j, shifting the messages between.
func (n *Network) Move(i, j int) {
	e := n.Take(i)
	n.Queue = slices.Insert(n.Queue, j, e)
}

// Index is the position of the first message that matches, or -1.
func (n *Network) Index(match func(sm.Envelope) bool) int { return slices.IndexFunc(n.Queue, match) }

// DropFunc loses every message that matches and reports how many.
func (n *Network) DropFunc(match func(sm.Envelope) bool) int {
	before := len(n.Queue)
	n.Queue = slices.DeleteFunc(n.Queue, match)
	return before - len(n.Queue)
}

// TakeFunc removes every message that matches and returns them in order.
func (n *Network) TakeFunc(match func(sm.Envelope) bool) []sm.Envelope {
	var out []sm.Envelope
	n.Queue = slices.DeleteFunc(n.Queue, func(e sm.Envelope) bool {
		if match(e) {
			out = append(out, e)
			return true
		}
		return false
	})
	return out
}

// To matches messages addressed to id.
func To(id sm.NodeID) func(sm.Envelope) bool { return func(e sm.Envelope) bool { return e.To == id } }

// Between matches messages with an end at id.
func Between(id sm.NodeID) func(sm.Envelope) bool {
	return func(e sm.Envelope) bool { return e.To == id || e.From == id }
}
