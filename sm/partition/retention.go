package partition

import "github.com/weirmq/weir/sm"

// Retention deletes whole sealed segments from the front of the log once
// every record in them is committed (below this replica's high watermark)
// and the topic's limits say so: by time, a segment whose newest batch is
// older than retention_ms by the wall clock (batch timestamps are the
// leader's append time); by size, the oldest segments while the log would
// still hold at least retention_bytes without them. The active segment is
// never deleted. Every replica applies retention to its own log, and a
// follower also deletes what its leader's log start has passed, so
// replicas converge on the leader's log start; a follower whose log ends
// below it starts over there (resetTo).

// A host may also allow deleting below an offset it knows is obsolete
// (SetObsoleteBelow): the offsets topic's coordinator, below the start of
// its latest committed snapshot (sm.SnapshotStart). Only whole sealed,
// committed segments go, as by any other rule.

// SetObsoleteBelow lets retention delete sealed segments that end at or
// below off (zero: no such bound), whatever the topic's limits: every
// record there is obsolete, as the records of an offsets partition below
// its latest snapshot are. It never lowers an earlier bound (an older
// snapshot's start is obsolete too) and takes effect at the next
// retention check.
func (p *Partition) SetObsoleteBelow(off sm.Offset) {
	if off <= p.obsoleteBelow {
		return
	}
	p.obsoleteBelow = off
	if p.retentionAt == 0 {
		p.scheduleRetention()
	}
}

// ObsoleteBelow is the bound SetObsoleteBelow set.
func (p *Partition) ObsoleteBelow() sm.Offset { return p.obsoleteBelow }

// scheduleRetention arms the next retention check.
func (p *Partition) scheduleRetention() {
	p.retentionAt = 0
	if p.cfg.RetentionCheckInterval > 0 && p.role != RoleNone && p.limited() {
		p.retentionAt = p.now.Add(p.cfg.RetentionCheckInterval)
	}
}

// limited reports whether the topic sets any retention limit (with tiered
// storage the local window is one).
func (p *Partition) limited() bool {
	s := &p.settings
	return s.RetentionMs > 0 || s.RetentionBytes > 0 || s.Tiered && (s.LocalRetentionMs >= 0 || s.LocalRetentionBytes > 0) ||
		p.obsoleteBelow > 0
}

// applyRetention deletes what retention allows and schedules the next check.
func (p *Partition) applyRetention() {
	p.scheduleRetention()
	if p.damaged != "" || !p.limited() {
		return
	}
	wall := p.wallClock()
	size := p.log.bytes()
	cut := p.log.start()
	st := &p.settings
	local := false
	pin := p.log.end()
	if st.Tiered {
		pin = p.producerPin()
	}
	for i := range p.log.sealed {
		s := &p.log.sealed[i]
		// Only below a durable roll: the segment after s must hold a
		// record on disk, or a failed append that created it (and sealed
		// s) would roll back onto a log already trimmed past s.
		if s.Next > p.hw || s.Next >= p.durable {
			break
		}
		// With tiered storage a segment leaves the disk only once it is
		// uploaded: retention of the whole log deletes it from the remote
		// tier too (the leader's uploader asks the controller), and the
		// local window bounds the hot tail. A segment never uploaded —
		// the object store unreachable — stays, and a full disk refuses
		// produce (retriable) rather than losing records.
		if st.Tiered && s.Next > p.remote.End {
			break
		}
		byTime := st.RetentionMs > 0 && wall-s.MaxTimestamp > st.RetentionMs
		bySize := st.RetentionBytes > 0 && size-s.Bytes >= st.RetentionBytes
		byWindow := st.Tiered && (st.LocalRetentionMs >= 0 && wall-s.MaxTimestamp > st.LocalRetentionMs ||
			st.LocalRetentionBytes > 0 && size-s.Bytes >= st.LocalRetentionBytes)
		obsolete := s.Next <= p.obsoleteBelow
		if !byTime && !bySize && !byWindow && !obsolete {
			break
		}
		if !byTime && !bySize && !obsolete && s.Next > pin {
			// Only the local window would delete it, and an idempotent
			// producer's remembered batches are in it (producerPin).
			p.probe(sm.ProbeProducerPinHeld)
			break
		}
		local = local || !byTime && !bySize && !obsolete
		size -= s.Bytes
		cut = s.Next
	}
	if local && cut > p.log.start() {
		p.probe(sm.ProbeUploadedDeletedLocally)
	}
	p.trim(cut)
}

// followLogStart deletes the sealed segments that lie wholly below the
// leader's log start.
func (p *Partition) followLogStart(leaderStart sm.Offset) {
	cut := p.log.start()
	for i := range p.log.sealed {
		if s := &p.log.sealed[i]; s.Next <= leaderStart && s.Next < p.durable { // below a durable roll, as in retention
			cut = s.Next
			continue
		}
		break
	}
	p.trim(cut)
}

// trim makes start, a segment base, the log start, on disk too.
func (p *Partition) trim(start sm.Offset) {
	if start <= p.log.start() {
		return
	}
	p.log.trimTo(start)
	p.probe(sm.ProbeRetentionDeleted)
	end := p.log.end()
	p.issueDisk(sm.LogOp{Kind: sm.LogTrim, Offset: start, Sync: true}, end, end)
	p.raiseHWTo(start)
}

// raiseHWTo lifts the high watermark to at least off when it is durable:
// records below a log start were committed (retention and a leader's log
// start only delete committed records).
func (p *Partition) raiseHWTo(off sm.Offset) {
	if p.hw < off && off <= p.durable {
		p.hw = off
	}
}
