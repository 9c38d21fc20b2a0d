package sim

import (
	"fmt"
	"sort"

	"github.com/weirmq/weir/sm"
)

// Time lookups (ListOffsets by timestamp). A director, its own client
// (timeClientID, outside the workload's clients and their random streams),
// asks partition leaders now and then for the first committed offset
// stamped at or after a time near the stamps clients have read, and keeps
// each OK answer. Every committed batch a client fetches is an oracle fact
// (committed batches never change: offset, extent and stamp). At the end,
// after the final reads have fetched every partition whole, the checker
// judges each answer against the facts: the batch holding the answered
// offset carries the answered stamp, at or after the time; every known
// batch between the answer's log start and it is stamped before the time;
// and an answer of none (-1) means every known batch below the answer's
// high watermark is older. Offsets a lookup may answer are exact (no
// propagation bound): the leader decides from its own log.

// timeClientID is the director's client ID: the workload's clients are
// firstClientID.., far below it.
const timeClientID = sm.ClientIDMin + 900_000

// timeFact is a committed batch as a fetch showed it.
type timeFact struct {
	base, next sm.Offset
	ts         int64
}

// timeAnswer is one OK answer to a lookup.
type timeAnswer struct {
	tp       sm.TopicPartition
	t        int64
	offset   sm.Offset
	stamp    int64
	hw       sm.Offset
	logStart sm.Offset
	from     sm.NodeID
	at       sm.Time
}

type timeLookups struct {
	facts map[sm.TopicPartition]map[sm.Offset]timeFact
	// rewritten partitions had a committed batch read with another stamp:
	// committed data was lost and its offsets reused (a run that allows
	// it; the log checker judges that), so their answers are not judged.
	rewritten map[sm.TopicPartition]bool
	asked     map[uint64]timeAnswer // by request ID: the question
	answers   []timeAnswer
	reqID     uint64
}

// isWorkloadTP reports whether tp is one of the workload's partitions
// (never deleted, so its committed batches never change).
func (w *World) isWorkloadTP(tp sm.TopicPartition) bool {
	for _, t := range w.cfg.Topics {
		if t.Name == tp.Topic && tp.Partition >= 0 && tp.Partition < t.Partitions {
			return true
		}
	}
	return false
}

// noteStamps records the committed batches of a fetch answer.
func (w *World) noteStamps(r sm.FetchResponse) {
	if w.times.facts == nil {
		w.times.facts = map[sm.TopicPartition]map[sm.Offset]timeFact{}
	}
	m := w.times.facts[r.TP]
	for _, b := range r.Batches {
		if b.BaseOffset >= r.HighWatermark {
			break
		}
		if m == nil {
			m = map[sm.Offset]timeFact{}
			w.times.facts[r.TP] = m
		}
		f := timeFact{base: b.BaseOffset, next: min(b.NextOffset(), r.HighWatermark), ts: b.Timestamp}
		if old, ok := m[f.base]; ok {
			if old.ts != f.ts {
				if w.times.rewritten == nil {
					w.times.rewritten = map[sm.TopicPartition]bool{}
				}
				w.times.rewritten[r.TP] = true
			}
			f.next = max(f.next, old.next)
		}
		m[f.base] = f
	}
}

// startTimeLookups runs the director from stream r during the safety phase.
func (w *World) startTimeLookups(r *rng) {
	var ask func()
	ask = func() {
		if !w.faultsOn {
			return
		}
		w.askTime(r)
		w.after(sm.Duration(r.between(int64(200*sm.Millisecond), int64(1500*sm.Millisecond))), ask)
	}
	w.after(sm.Duration(r.between(int64(sm.Second), int64(2*sm.Second))), ask)
}

// askTime sends one lookup to the partition's leader as metadata says.
func (w *World) askTime(r *rng) {
	ctl := w.leaderController()
	if ctl == nil {
		return
	}
	tps := w.workloadTPs()
	tp := tps[r.intn(len(tps))]
	var leader sm.NodeID
	for _, st := range ctl.Metadata().Partitions {
		if st.TP == tp {
			leader = st.Leader
		}
	}
	if leader == sm.NoNode {
		return
	}
	t := simWallClockAtStart + int64(w.now)/int64(sm.Millisecond) - r.between(0, 20_000)
	if facts := w.times.facts[tp]; len(facts) > 0 && r.chance(0.7) {
		bases := make([]sm.Offset, 0, len(facts))
		for b := range facts {
			bases = append(bases, b)
		}
		sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
		t = facts[bases[r.intn(len(bases))]].ts + r.between(-1, 1)
	}
	w.times.reqID++
	if w.times.asked == nil {
		w.times.asked = map[uint64]timeAnswer{}
	}
	w.times.asked[w.times.reqID] = timeAnswer{tp: tp, t: t}
	w.net.send(sm.Envelope{From: timeClientID, To: leader, Msg: sm.ListOffsetsRequest{ReqID: w.times.reqID, TP: tp, ByTime: true, Timestamp: t}})
}

// onTimeAnswer keeps an OK answer to a lookup.
func (w *World) onTimeAnswer(m sm.Envelope) {
	r, ok := m.Msg.(sm.ListOffsetsResponse)
	if !ok {
		return
	}
	q, ok := w.times.asked[r.ReqID]
	if !ok {
		return
	}
	delete(w.times.asked, r.ReqID)
	if r.Code != sm.CodeOK {
		return
	}
	q.offset, q.stamp, q.hw, q.logStart, q.from, q.at = r.Offset, r.OffsetTimestamp, r.HighWatermark, r.LogStart, m.From, w.now
	w.times.answers = append(w.times.answers, q)
	w.stats.reach("time lookup answered")
	if r.Offset >= 0 {
		w.stats.reach("time lookup found")
	}
}

// checkTimeLookups judges every answer against the committed batches the
// clients read.
func (w *World) checkTimeLookups() error {
	for _, a := range w.times.answers {
		if w.times.rewritten[a.tp] {
			continue
		}
		facts := w.times.facts[a.tp]
		if err := judgeTime(a, facts); err != nil {
			return fmt.Errorf("time lookups: %v answered %v for the first offset stamped at or after %d at %v: %v", a.from, a.tp, a.t, a.at, err)
		}
	}
	return nil
}

// judgeTime checks one answer against the known committed batches, in
// offset order (so a failure names the first offending batch, the same on
// every replay).
func judgeTime(a timeAnswer, byBase map[sm.Offset]timeFact) error {
	facts := make([]timeFact, 0, len(byBase))
	for _, f := range byBase {
		facts = append(facts, f)
	}
	sort.Slice(facts, func(i, j int) bool { return facts[i].base < facts[j].base })
	if a.offset >= 0 {
		if a.stamp < a.t {
			return fmt.Errorf("offset %d stamped %d, before the time", a.offset, a.stamp)
		}
		if a.offset < a.logStart || a.offset >= a.hw {
			return fmt.Errorf("offset %d outside [log start %d, high watermark %d)", a.offset, a.logStart, a.hw)
		}
		for _, f := range facts {
			if f.base <= a.offset && a.offset < f.next && f.ts != a.stamp {
				return fmt.Errorf("offset %d stamped %d, but its batch [%d, %d) is stamped %d", a.offset, a.stamp, f.base, f.next, f.ts)
			}
		}
	}
	for _, f := range facts {
		switch {
		case f.next <= a.logStart || f.ts < a.t: // below the log start, or older: no objection
		case a.offset < 0 && f.base < a.hw:
			return fmt.Errorf("none, but committed batch [%d, %d) below high watermark %d is stamped %d", f.base, f.next, a.hw, f.ts)
		case a.offset >= 0 && f.next <= a.offset:
			return fmt.Errorf("offset %d, but the earlier committed batch [%d, %d) is stamped %d", a.offset, f.base, f.next, f.ts)
		}
	}
	return nil
}
