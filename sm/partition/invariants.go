package partition

import (
	"fmt"

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
	var want replicaLog
	for i, b := range p.log.batches {
		switch {
		case b.BaseOffset != want.end():
			return fmt.Errorf("partition: %v batch %d at offset %d, want %d", p.cfg.TP, i, b.BaseOffset, want.end())
		case len(b.Records) == 0:
			return fmt.Errorf("partition: %v batch %d at offset %d is empty", p.cfg.TP, i, b.BaseOffset)
		case b.Epoch < want.lastEpoch():
			return fmt.Errorf("partition: %v batch at %d has epoch %d after epoch %d", p.cfg.TP, b.BaseOffset, b.Epoch, want.lastEpoch())
		}
		want.append(b)
	}
	if len(want.epochs) != len(p.log.epochs) {
		return fmt.Errorf("partition: %v epoch cache %v, log implies %v", p.cfg.TP, p.log.epochs, want.epochs)
	}
	for i := range want.epochs {
		if want.epochs[i] != p.log.epochs[i] {
			return fmt.Errorf("partition: %v epoch cache %v, log implies %v", p.cfg.TP, p.log.epochs, want.epochs)
		}
	}
	if p.log.lastEpoch() > p.epoch && p.role != RoleNone {
		return fmt.Errorf("partition: %v log holds epoch %d beyond known epoch %d", p.cfg.TP, p.log.lastEpoch(), p.epoch)
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
	for _, a := range p.lead.acks {
		if a.base <= prev || a.next <= a.base || a.next > p.log.end() {
			return fmt.Errorf("partition: %v pending ack [%d, %d) out of order (previous base %d, log end %d)", p.cfg.TP, a.base, a.next, prev, p.log.end())
		}
		prev = a.base
	}
	if p.follow != (followerState{}) {
		return fmt.Errorf("partition: %v leader holds follower state", p.cfg.TP)
	}
	return nil
}
