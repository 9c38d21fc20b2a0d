package sdk

import (
	"context"
	"fmt"
	"slices"

	"github.com/weirmq/weir/sm"
)

// Delivery is one record handed out by Receive, to acknowledge once
// processed: the reference SDK's message-style API (its consumer
// message) on top of Poll. (Message is the producer's record.)
type Delivery struct {
	Record
	k  *Consumer
	st *ackState // the partition's acknowledgements when it was received
}

// ackState is one partition's received, unacknowledged records, in offset
// order: the commit may not pass the first of them.
type ackState struct {
	entries []ackEntry
	next    sm.Offset // after the last record received
}

type ackEntry struct {
	off   sm.Offset
	acked bool
}

func (st *ackState) received(off sm.Offset) {
	st.entries = append(st.entries, ackEntry{off: off})
	st.next = off + 1
}

// ack acknowledges off; false when it is not outstanding.
func (st *ackState) ack(off sm.Offset) bool {
	i, found := slices.BinarySearchFunc(st.entries, off, func(e ackEntry, o sm.Offset) int { return compareOffsets(e.off, o) })
	if !found {
		return false
	}
	st.entries[i].acked = true
	n := 0
	for n < len(st.entries) && st.entries[n].acked {
		n++
	}
	st.entries = st.entries[n:]
	return true
}

func (st *ackState) outstanding(off sm.Offset) bool {
	i, found := slices.BinarySearchFunc(st.entries, off, func(e ackEntry, o sm.Offset) int { return compareOffsets(e.off, o) })
	return found && !st.entries[i].acked
}

// mark is the offset commits may advance to: the first unacknowledged
// record, or past the last received when all are acknowledged.
func (st *ackState) mark() sm.Offset {
	if len(st.entries) > 0 {
		return st.entries[0].off
	}
	return st.next
}

// truncate forgets records at or after off (they will be received again).
func (st *ackState) truncate(off sm.Offset) {
	st.entries = slices.DeleteFunc(st.entries, func(e ackEntry) bool { return e.off >= off })
	st.next = min(st.next, off)
}

func compareOffsets(a, b sm.Offset) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Receive returns the next record of the group consumer's partitions, one
// at a time (fetched a Poll's worth at a time), to acknowledge with Ack
// once processed or to redeliver with Nack. Commits (AutoCommit,
// CommitMarked) advance only over acknowledged records, contiguously: an
// unacknowledged record holds back its partition's commit, so a crash
// redelivers it and everything after it (at-least-once). Do not mix
// Receive with Poll on one consumer.
func (k *Consumer) Receive(ctx context.Context) (*Delivery, error) {
	if k.grp == nil {
		return nil, fmt.Errorf("%w: Receive", ErrNoGroup)
	}
	if err := k.startGroup(); err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.grp.marking = true
	k.mu.Unlock()
	for {
		k.mu.Lock()
		switch {
		case k.closed:
			k.mu.Unlock()
			return nil, ErrClosed
		case k.grp.fatal != nil:
			err := k.grp.fatal
			k.mu.Unlock()
			return nil, err
		case len(k.inbox) > 0:
			m := k.inbox[0]
			k.inbox = k.inbox[1:]
			st := k.acks[m.TP]
			if st == nil {
				st = &ackState{}
				k.acks[m.TP] = st
			}
			m.st = st
			st.received(m.Offset)
			k.mu.Unlock()
			return m, nil
		}
		k.mu.Unlock()
		if _, err := k.pollInto(ctx); err != nil {
			k.mu.Lock()
			buffered := len(k.inbox) > 0
			k.mu.Unlock()
			if !buffered {
				return nil, err
			}
		}
	}
}

// pollInto is poll with the records queued for Receive (under the same
// lock that advances the positions, so a revocation cannot slip between).
func (k *Consumer) pollInto(ctx context.Context) ([]Record, error) {
	k.mu.Lock()
	k.toInbox = true
	k.mu.Unlock()
	return k.poll(ctx)
}

// Ack acknowledges the delivery as processed: the group's commits may pass
// it once every earlier received record of its partition is acknowledged
// too. Acknowledging twice changes nothing; a message whose partition was
// revoked or moved by Seek since it was received is an error (its
// partition's progress is no longer this consumer's to commit).
func (m *Delivery) Ack() error {
	k := m.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.acks[m.TP] != m.st {
		return fmt.Errorf("sdk: Ack of %v offset %d: the partition was revoked or moved by Seek since it was received", m.TP, m.Offset)
	}
	m.st.ack(m.Offset)
	k.grp.marked[m.TP] = m.st.mark()
	return nil
}

// Nack hands the message back: Receive returns it again, and the records
// of its partition received after it, from this consumer (its position
// moves back to the message, not as a seek: nothing committed moves).
// Nack of an acknowledged message changes nothing.
func (m *Delivery) Nack() error {
	k := m.k
	k.mu.Lock()
	defer k.mu.Unlock()
	cur := k.cursors[m.TP]
	if k.acks[m.TP] != m.st || cur == nil {
		return fmt.Errorf("sdk: Nack of %v offset %d: the partition was revoked or moved by Seek since it was received", m.TP, m.Offset)
	}
	if !m.st.outstanding(m.Offset) {
		return nil
	}
	cur.pos = m.Offset
	cur.beginning = false
	cur.seq++
	k.movedLocked(m.TP, m.Offset, false)
	return nil
}
