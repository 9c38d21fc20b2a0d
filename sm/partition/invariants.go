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
	if err := p.checkProducers(); err != nil {
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

// checkLog: segments contiguous with valid indexes (checked when they
// change), the cached suffix dense, in place and ending at the log end
// (each batch checked once), the epoch cache ordered inside the log.
func (p *Partition) checkLog() error {
	l := &p.log
	if l.version != l.checkedVersion {
		m := l.manifest()
		if err := m.Check(); err != nil {
			return fmt.Errorf("partition: %v log: %w", p.cfg.TP, err)
		}
		l.checkedVersion = l.version
	}
	a := l.activeIndex()
	if n := len(l.cache); n > 0 {
		last := &l.cache[n-1]
		if last.b.NextOffset() != a.Next || last.seg == a.Base && last.pos+int64(last.size) != a.Bytes {
			return fmt.Errorf("partition: %v cache ends with [%d, %d) at byte %d+%d of segment %d, log ends at %d (%d bytes into segment %d)",
				p.cfg.TP, last.b.BaseOffset, last.b.NextOffset(), last.pos, last.size, last.seg, a.Next, a.Bytes, a.Base)
		}
		if l.cache[0].b.BaseOffset < l.start() {
			return fmt.Errorf("partition: %v cache starts at %d below log start %d", p.cfg.TP, l.cache[0].b.BaseOffset, l.start())
		}
		for i := n - 1; i >= 0 && l.cache[i].seq > l.checkedSeq; i-- {
			cb := &l.cache[i]
			switch {
			case cb.b.Len() == 0 || cb.size != cb.b.FrameSize():
				return fmt.Errorf("partition: %v cached batch at %d: %d records, size %d", p.cfg.TP, cb.b.BaseOffset, cb.b.Len(), cb.size)
			case i > 0 && l.cache[i-1].b.NextOffset() != cb.b.BaseOffset:
				return fmt.Errorf("partition: %v cached batch at %d follows one ending at %d", p.cfg.TP, cb.b.BaseOffset, l.cache[i-1].b.NextOffset())
			case i > 0 && l.cache[i-1].seg == cb.seg && l.cache[i-1].pos+int64(l.cache[i-1].size) != cb.pos:
				return fmt.Errorf("partition: %v cached batch at %d at byte %d of segment %d, previous ends at %d", p.cfg.TP, cb.b.BaseOffset, cb.pos, cb.seg, l.cache[i-1].pos+int64(l.cache[i-1].size))
			case i > 0 && cb.b.Epoch < l.cache[i-1].b.Epoch:
				return fmt.Errorf("partition: %v cached batch at %d has epoch %d after epoch %d", p.cfg.TP, cb.b.BaseOffset, cb.b.Epoch, l.cache[i-1].b.Epoch)
			}
		}
		l.checkedSeq = last.seq
	}
	// An empty log that retention emptied keeps one entry at its start
	// (see trimTo); otherwise every entry lies inside the log.
	emptied := l.start() == l.end() && len(l.epochs) == 1 && l.epochs[0].start == l.start()
	for i, e := range l.epochs {
		if !emptied && (e.start < l.start() || e.start >= l.end()) || i > 0 && (e.epoch <= l.epochs[i-1].epoch || e.start <= l.epochs[i-1].start) {
			return fmt.Errorf("partition: %v epoch cache %v outside the log [%d, %d) or out of order", p.cfg.TP, l.epochs, l.start(), l.end())
		}
	}
	if len(l.epochs) == 0 && l.start() < l.end() || len(l.epochs) > 0 && l.epochs[0].start != l.start() {
		return fmt.Errorf("partition: %v epoch cache %v for log [%d, %d)", p.cfg.TP, l.epochs, l.start(), l.end())
	}
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
		// An idempotent retry waits on its original, anywhere in the log.
		if !a.dup && a.base <= prev || a.next <= a.base || a.next > p.log.end() {
			return fmt.Errorf("partition: %v pending ack [%d, %d) out of order (previous base %d, log end %d)", p.cfg.TP, a.base, a.next, prev, p.log.end())
		}
		if !a.dup {
			prev = a.base
		}
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
