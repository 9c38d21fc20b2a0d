package partition

import (
	"fmt"
	"sort"

	"github.com/weirmq/weir/sm"
)

// CheckInvariants verifies the replica's internal consistency; the
// simulator calls it after every step. It only reads.
func (p *Partition) CheckInvariants() error {
	if err := p.checkLog(); err != nil {
		return err
	}
	if err := p.checkDurable(); err != nil {
		return err
	}
	switch p.role {
	case RoleLeader:
		return p.checkLeader()
	case RoleFollower:
		if len(p.lead.acks) != 0 || len(p.lead.followers) != 0 {
			return fmt.Errorf("partition: %v follower holds leader state", p.cfg.TP)
		}
	}
	if t := p.TimerAt(); t != 0 && t <= p.now {
		return fmt.Errorf("partition: %v timer at %v not after now %v", p.cfg.TP, t, p.now)
	}
	return nil
}

// checkLog: offsets dense from 0, batches non-empty, epochs non-decreasing,
// epoch cache exactly what the batches imply.
func (p *Partition) checkLog() error {
	// Verify only the batches added since the last check (truncate lowers
	// the mark): each batch is checked once while it stays in the log.
	l := &p.log
	start := l.checked
	end, last := sm.Offset(0), sm.Epoch(0)
	if start > 0 {
		end, last = l.batches[start-1].NextOffset(), l.batches[start-1].Epoch
	}
	// Epoch cache entries for the verified prefix start below end.
	k := sort.Search(len(l.epochs), func(i int) bool { return l.epochs[i].start >= end })
	for i := start; i < len(l.batches); i++ {
		b := &l.batches[i]
		switch {
		case b.BaseOffset != end:
			return fmt.Errorf("partition: %v batch %d at offset %d, want %d", p.cfg.TP, i, b.BaseOffset, end)
		case len(b.Records) == 0:
			return fmt.Errorf("partition: %v batch %d at offset %d is empty", p.cfg.TP, i, b.BaseOffset)
		case b.Epoch < last:
			return fmt.Errorf("partition: %v batch at %d has epoch %d after epoch %d", p.cfg.TP, b.BaseOffset, b.Epoch, last)
		}
		if i == 0 || b.Epoch > last {
			if k >= len(l.epochs) || l.epochs[k] != (epochStart{epoch: b.Epoch, start: b.BaseOffset}) {
				return fmt.Errorf("partition: %v epoch cache %v lacks epoch %d starting at %d", p.cfg.TP, l.epochs, b.Epoch, b.BaseOffset)
			}
			k++
		}
		end, last = b.NextOffset(), b.Epoch
	}
	if k != len(l.epochs) {
		return fmt.Errorf("partition: %v epoch cache %v has %d entries beyond the log end %d", p.cfg.TP, l.epochs, len(l.epochs)-k, end)
	}
	l.checked = len(l.batches)
	if l.lastEpoch() > p.epoch && p.role != RoleNone {
		return fmt.Errorf("partition: %v log holds epoch %d beyond known epoch %d", p.cfg.TP, l.lastEpoch(), p.epoch)
	}
	return nil
}

// checkDurable: durable end ≤ log end, pending disk ends ordered and the
// last one is the log end; high watermark ≤ durable end.
func (p *Partition) checkDurable() error {
	leo := p.log.end()
	if p.durable > leo || p.durable < 0 {
		return fmt.Errorf("partition: %v durable end %d outside [0, log end %d]", p.cfg.TP, p.durable, leo)
	}
	prev := p.durable
	for i, d := range p.disk {
		if d.end < prev || d.end > leo {
			return fmt.Errorf("partition: %v pending disk op %d ends at %d (previous %d, log end %d)", p.cfg.TP, i, d.end, prev, leo)
		}
		prev = d.end
	}
	if prev != leo {
		return fmt.Errorf("partition: %v disk will end at %d but log ends at %d", p.cfg.TP, prev, leo)
	}
	if p.hw > p.durable || p.hw < 0 {
		return fmt.Errorf("partition: %v high watermark %d outside [0, durable end %d]", p.cfg.TP, p.hw, p.durable)
	}
	return nil
}

// checkLeader: pending produces ordered and inside the log; the leader holds
// no follower state; epoch start inside the log.
func (p *Partition) checkLeader() error {
	if p.leader != p.cfg.Self {
		return fmt.Errorf("partition: %v leader role but leader is %v", p.cfg.TP, p.leader)
	}
	if p.lead.epochStart > p.log.end() {
		return fmt.Errorf("partition: %v epoch start %d beyond log end %d", p.cfg.TP, p.lead.epochStart, p.log.end())
	}
	prev := sm.Offset(-1)
	var due sm.Time
	for _, a := range p.lead.acks {
		if a.base <= prev || a.next <= a.base || a.next > p.log.end() {
			return fmt.Errorf("partition: %v pending ack [%d, %d) out of order (previous base %d, log end %d)", p.cfg.TP, a.base, a.next, prev, p.log.end())
		}
		prev = a.base
		due = earliest(due, a.deadline)
	}
	if due != p.lead.acksDue {
		return fmt.Errorf("partition: %v earliest ack deadline cached as %v, is %v", p.cfg.TP, p.lead.acksDue, due)
	}
	if p.follow != (followerState{}) {
		return fmt.Errorf("partition: %v leader holds follower state", p.cfg.TP)
	}
	return nil
}
