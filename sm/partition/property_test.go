package partition

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/weirmq/weir/sm"
	"pgregory.net/rapid"
)

// TestReplicationProperties drives three replicas through random produces,
// message deliveries, drops, duplicates and reorders, disk completions,
// crashes (restart from durable bytes, possibly with a torn tail), clock
// jumps and clean leader elections, and checks after every step that:
//   - no record acknowledged with a durable ack level (majority, all,
//     custom) is missing from any ISR member's log;
//   - everything below the leader's high watermark is identical on every
//     ISR member, and a synced follower's log is a prefix of the leader's;
//   - the high watermark a consumer sees never goes back, and what it read
//     below it never changes;
//   - every replica's own invariants hold (checked after every step).
//
// At the end the world heals and must converge: every replica holds the
// leader's log and no produce is left pending.
func TestReplicationProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := newPropWorld(t)
		steps := rapid.IntRange(20, 300).Draw(t, "steps")
		actions := w.actions()
		var names []string
		for name, a := range actions {
			for range a.weight {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		for range steps {
			name := rapid.SampledFrom(names).Draw(t, "action")
			actions[name].do(t)
			if traceProps {
				w.trace(t, name)
			}
			w.check(t)
		}
		w.converge(t)
		for _, id := range w.c.ids {
			for pr, n := range w.c.reps[id].host.Env.Probes {
				propProbes[pr] += n
			}
		}
	})
	// The storage paths must be taken across the runs, or the draws above
	// stopped reaching them.
	for _, pr := range []sm.Probe{sm.ProbeReadFromCache, sm.ProbeReadFromDisk, sm.ProbeSegmentRolled, sm.ProbeRetentionDeleted, sm.ProbeTimeLookup} {
		if propProbes[pr] == 0 {
			t.Errorf("no run reached %v (probes reached: %v)", pr, propProbes)
		}
	}
}

// propProbes counts the probes every run of TestReplicationProperties
// reached.
var propProbes = map[sm.Probe]int{}

type propAction struct {
	weight int
	do     func(*rapid.T)
}

type propReq struct {
	acks   sm.Acks
	values []string
}

type propWorld struct {
	c         *cluster
	reqs      map[uint64]propReq
	committed map[sm.Offset]string // acked with a durable level, or read below a high watermark
	seen      map[uint64]bool      // replies already folded into committed
	readHW    sm.Offset
	readEpoch sm.Epoch
	seq       int
	states    []sm.PartitionState // every earlier controller state
}

func newPropWorld(t *rapid.T) *propWorld {
	minISR := int32(rapid.IntRange(1, 3).Draw(t, "minISR"))
	c := newClusterSetup(t, 3, minISR, func(c *cluster) {
		// Storage: a cache from none to unbounded, segments from a few
		// batches to one, retention by size and time on or off.
		c.cacheBytes = rapid.SampledFrom([]int64{-1, 0, 300, 3000}).Draw(t, "cache bytes")
		c.settings = Settings{
			SegmentBytes:   rapid.SampledFrom([]int64{0, 60, 60, 200}).Draw(t, "segment bytes"),
			RetentionBytes: rapid.SampledFrom([]int64{0, 100, 100, 300}).Draw(t, "retention bytes"),
			RetentionMs:    rapid.SampledFrom([]int64{0, 0, 4000}).Draw(t, "retention ms"),
		}
	})
	return &propWorld{c: c, reqs: map[uint64]propReq{}, committed: map[sm.Offset]string{}, seen: map[uint64]bool{}}
}

func (w *propWorld) actions() map[string]propAction {
	c := w.c
	return map[string]propAction{
		"produce":  {3, w.produce},
		"deliver":  {10, func(t *rapid.T) { w.pickMsg(t, c.deliver) }},
		"drop":     {1, func(t *rapid.T) { w.pickMsg(t, func(i int) { c.net.Drop(i) }) }},
		"dup":      {1, func(t *rapid.T) { w.pickMsg(t, func(i int) { c.net.Dup(i) }) }},
		"disk":     {6, w.disk},
		"tick":     {2, func(t *rapid.T) { c.advance(sm.Duration(rapid.Int64Range(1, 3000).Draw(t, "ms")) * sm.Millisecond) }},
		"metadata": {2, func(t *rapid.T) { c.metadata(rapid.SampledFrom(c.ids).Draw(t, "replica")) }},
		"stale":    {1, w.staleMetadata},
		"corrupt":  {1, w.corrupt},
		"crash":    {1, w.crash},
		"elect":    {1, func(t *rapid.T) { w.elect(rapid.SampledFrom(c.st.ISR).Draw(t, "leader")) }},
		"consume":  {2, w.consume},
		"time":     {2, w.timeLookup},
	}
}

// timeLookup asks a replica for the first committed offset stamped at or
// after a time near one of its batches' stamps; a leader's answer must be
// the first batch by offset, below the high watermark and at or above the
// log start, that reaches it (brute force over the replica's log).
func (w *propWorld) timeLookup(t *rapid.T) {
	id := rapid.SampledFrom(w.c.ids).Draw(t, "replica")
	if l := w.leader(); l != nil && rapid.IntRange(0, 3).Draw(t, "ask the leader") > 0 {
		id = l.id
	}
	r := w.c.reps[id]
	bs := r.batches()
	ts := rapid.Int64Range(0, 3000).Draw(t, "ms") + 1_767_225_600_000
	if len(bs) > 0 && rapid.Bool().Draw(t, "near a batch") {
		ts = bs[rapid.IntRange(0, len(bs)-1).Draw(t, "batch")].Timestamp + rapid.Int64Range(-1, 1).Draw(t, "delta")
	}
	w.checkTimeLookup(t, id, ts)
}

// checkTimeLookup asks replica id for the first offset stamped at or after
// ts and checks a leader's answer by brute force over its log.
func (w *propWorld) checkTimeLookup(t *rapid.T, id sm.NodeID, ts int64) {
	r := w.c.reps[id]
	bs := r.batches()
	resp := w.c.listTime(id, ts)
	if resp.Code != sm.CodeOK {
		return
	}
	st := r.p.Status()
	want, wantTs := sm.Offset(-1), int64(0)
	for _, b := range bs {
		if b.BaseOffset >= st.HW {
			break
		}
		if b.NextOffset() > st.LocalStart && b.Timestamp >= ts {
			want, wantTs = max(b.BaseOffset, st.LocalStart), b.Timestamp
			break
		}
	}
	if resp.Offset != want || (want >= 0 && resp.OffsetTimestamp != wantTs) {
		t.Fatalf("%v: first offset stamped at or after %d: got %d (%d), want %d (%d); log start %d, hw %d", id, ts, resp.Offset, resp.OffsetTimestamp, want, wantTs, st.LocalStart, st.HW)
	}
}

// staleMetadata delivers an old partition state, as a lagging metadata
// path would; replicas must ignore it. A state from before the replica's
// restart comes without leave to lead: the broker leads only once metadata
// shows its new incarnation registered.
func (w *propWorld) staleMetadata(t *rapid.T) {
	if len(w.states) == 0 {
		return
	}
	st := rapid.SampledFrom(w.states).Draw(t, "state")
	r := w.c.reps[rapid.SampledFrom(w.c.ids).Draw(t, "replica")]
	before := r.p.Status()
	w.c.applyState(r.id, st, st.PartitionEpoch >= r.startPE)
	if st.PartitionEpoch < before.PartitionEpoch {
		if after := r.p.Status(); after.Role != before.Role || after.LeaderEpoch != before.LeaderEpoch || after.PartitionEpoch != before.PartitionEpoch {
			t.Fatalf("stale state %+v changed %v from %+v to %+v", st, r.id, before, after)
		}
	}
}

// corrupt flips one byte of a record in a fetch response in flight; the
// follower must notice the checksum and drop the response.
func (w *propWorld) corrupt(t *rapid.T) {
	var idx []int
	for i, e := range w.c.net.Queue {
		if m, ok := e.Msg.(sm.ReplicaFetchResponse); ok && len(m.Batches) > 0 {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return
	}
	i := rapid.SampledFrom(idx).Draw(t, "corrupt")
	m := w.c.net.Queue[i].Msg.(sm.ReplicaFetchResponse)
	bs := slices.Clone(m.Batches)
	b := &bs[rapid.IntRange(0, len(bs)-1).Draw(t, "batch")]
	b.Records = slices.Clone(b.Records)
	b.Records[0].Value = append([]byte("X"), b.Records[0].Value...)
	m.Batches = bs
	w.c.net.Queue[i].Msg = m
}

func (w *propWorld) produce(t *rapid.T) {
	acks := rapid.SampledFrom([]sm.Acks{
		{Kind: sm.AckNone}, {Kind: sm.AckLeader}, {Kind: sm.AckMajority}, {Kind: sm.AckAll},
		{Kind: sm.AckCustom, N: 1}, {Kind: sm.AckCustom, N: 2}, {Kind: sm.AckCustom, N: 3},
	}).Draw(t, "acks")
	var vals []string
	for range rapid.IntRange(1, 3).Draw(t, "records") {
		w.seq++
		vals = append(vals, fmt.Sprintf("v%d", w.seq))
	}
	to := rapid.SampledFrom(w.c.ids).Draw(t, "to") // clients may have stale metadata
	id := w.c.produce(to, acks, vals...)
	w.reqs[id] = propReq{acks: acks, values: vals}
}

func (w *propWorld) pickMsg(t *rapid.T, f func(int)) {
	if len(w.c.net.Queue) == 0 {
		return
	}
	f(rapid.IntRange(0, len(w.c.net.Queue)-1).Draw(t, "msg"))
}

func (w *propWorld) disk(t *rapid.T) {
	var busy []sm.NodeID
	for _, id := range w.c.ids {
		if len(w.c.reps[id].disk.Pending()) > 0 {
			busy = append(busy, id)
		}
	}
	if len(busy) > 0 {
		w.c.diskDone(rapid.SampledFrom(busy).Draw(t, "disk"))
	}
}

// crash restarts a replica from its disk. A crashed leader is replaced by a
// clean election (the controller fences the old incarnation).
func (w *propWorld) crash(t *rapid.T) {
	id := rapid.SampledFrom(w.c.ids).Draw(t, "crash")
	w.c.crash(id, rapid.IntRange(0, 64).Draw(t, "tear"))
	if id == w.c.st.Leader {
		w.elect(rapid.SampledFrom(w.c.st.ISR).Draw(t, "leader"))
	}
}

// elect bumps the epoch with a new leader from the ISR; replicas learn of it
// through "metadata" actions, one at a time.
func (w *propWorld) elect(id sm.NodeID) {
	c := w.c
	w.states = append(w.states, c.st)
	c.st.Leader = id
	c.st.LeaderEpoch++
	c.st.PartitionEpoch++
	c.st.ISR = slices.Clone(c.st.ISR)
}

func (w *propWorld) consume(t *rapid.T) {
	id := rapid.SampledFrom(w.c.ids).Draw(t, "from")
	r := w.c.consume(id, 0, w.readEpoch)
	if r.Code != sm.CodeOK {
		return
	}
	w.readEpoch = max(w.readEpoch, r.LeaderEpoch)
	if r.HighWatermark < w.readHW {
		t.Fatalf("consumer high watermark went back from %d to %d (%v, epoch %d)", w.readHW, r.HighWatermark, id, r.LeaderEpoch)
	}
	w.readHW = r.HighWatermark
	for _, b := range r.Batches {
		if !b.Verify() {
			t.Fatalf("consumer got a batch failing its checksum at %d", b.BaseOffset)
		}
		for i, rec := range b.Records {
			off := b.BaseOffset + sm.Offset(i)
			if off >= r.HighWatermark {
				t.Fatalf("consumer got offset %d at or above high watermark %d", off, r.HighWatermark)
			}
			w.commit(t, off, string(rec.Value), "read")
		}
	}
}

func (w *propWorld) commit(t *rapid.T, off sm.Offset, v, how string) {
	if old, ok := w.committed[off]; ok && old != v {
		t.Fatalf("offset %d was committed as %s, now %s %s", off, old, how, v)
	}
	w.committed[off] = v
}

// leader is the replica leading the controller's current epoch, if it knows.
func (w *propWorld) leader() *replica {
	r := w.c.reps[w.c.st.Leader]
	if s := r.p.Status(); s.Role == RoleLeader && s.LeaderEpoch == w.c.st.LeaderEpoch {
		return r
	}
	return nil
}

func (w *propWorld) check(t *rapid.T) {
	c := w.c
	for id, resp := range c.replies {
		req, ok := w.reqs[id]
		if w.seen[id] || !ok || resp.Code != sm.CodeOK || !req.acks.Durable() {
			continue
		}
		w.seen[id] = true
		for i, v := range req.values {
			w.commit(t, resp.BaseOffset+sm.Offset(i), v, "acked")
		}
	}
	logs := map[sm.NodeID]map[sm.Offset]string{}
	for _, id := range c.ids {
		logs[id] = recordMap(c.reps[id])
	}
	for _, id := range c.st.ISR {
		start := c.reps[id].p.Status().LogStart // retention deleted what lies below
		for off, v := range w.committed {
			if got := logs[id][off]; got != v && off >= start {
				t.Fatalf("committed offset %d (%s) is %q on isr member %v", off, v, got, id)
			}
		}
	}
	if l := w.leader(); l != nil {
		w.checkPrefixes(t, l)
	}
}

// checkPrefixes: the committed prefix agrees on every ISR member, and a
// synced follower of the current epoch holds a prefix of the leader's log.
func (w *propWorld) checkPrefixes(t *rapid.T, l *replica) {
	c := w.c
	hw := l.p.Status().HW
	for _, id := range c.st.ISR {
		from := max(l.p.Status().LogStart, c.reps[id].p.Status().LogStart)
		v, lv := valuesFrom(c.reps[id], from), valuesFrom(l, from)
		n := int(hw - from)
		if n > 0 && (len(v) < n || !slices.Equal(v[:n], lv[:n])) {
			t.Fatalf("isr member %v disagrees below high watermark %d:\n%v\nleader %v:\n%v", id, hw, v, l.id, lv)
		}
	}
	for _, id := range c.ids {
		f := c.reps[id].p
		if f.role == RoleFollower && f.epoch == l.p.epoch && f.follow.synced {
			from := max(l.p.Status().LogStart, f.Status().LogStart)
			v, lv := valuesFrom(c.reps[id], from), valuesFrom(l, from)
			if len(v) > len(lv) || !slices.Equal(v, lv[:len(v)]) {
				t.Fatalf("synced follower %v is not a prefix of leader %v:\n%v\n%v", id, l.id, v, lv)
			}
		}
	}
}

// valuesFrom is values from offset from on.
func valuesFrom(r *replica, from sm.Offset) []string {
	var out []string
	for _, b := range r.batches() {
		for i, rec := range b.Records {
			if off := b.BaseOffset + sm.Offset(i); off >= from {
				out = append(out, fmt.Sprintf("%d:%d:%s", off, b.Epoch, rec.Value))
			}
		}
	}
	return out
}

// converge heals the world and checks that it catches up.
func (w *propWorld) converge(t *rapid.T) {
	c := w.c
	c.isolated = map[sm.NodeID]bool{}
	c.metadataAll()
	c.settle(20 * sm.Second)
	if l := w.leader(); l != nil && c.settings.RetentionBytes > 0 && c.settings.SegmentBytes > 0 {
		// Enough records that retention by size must delete segments on
		// the healed cluster.
		for i := range 20 {
			c.produce(l.id, sm.Acks{Kind: sm.AckLeader}, fmt.Sprintf("tail%d", i))
			c.settle(100 * sm.Millisecond)
		}
		c.settle(5 * sm.Second)
	}
	w.check(t)
	l := w.leader()
	if l == nil {
		t.Fatalf("no leader after healing: %+v", c.st)
	}
	for _, id := range c.ids {
		from := max(l.p.Status().LogStart, c.reps[id].p.Status().LogStart)
		lv := valuesFrom(l, from)
		if v := valuesFrom(c.reps[id], from); !slices.Equal(v, lv) {
			w.trace(t, "not converged")
			t.Fatalf("replica %v did not converge:\n%s\nleader %v:\n%s", id, strings.Join(v, " "), l.id, strings.Join(lv, " "))
		}
	}
	if s := l.p.Status(); s.HW != s.LEO || len(l.p.lead.acks) != 0 {
		t.Fatalf("leader not settled: %+v, %d pending acks", s, len(l.p.lead.acks))
	}
	// Settled, everything is committed: time lookups at each batch's stamp
	// (and next to it) find the first batch by offset that reaches it.
	for i, b := range l.batches() {
		if i == 20 {
			break
		}
		for _, d := range []int64{-1, 0, 1} {
			w.checkTimeLookup(t, l.id, b.Timestamp+d)
		}
	}
}

func recordMap(r *replica) map[sm.Offset]string {
	m := map[sm.Offset]string{}
	for _, b := range r.batches() {
		for i, r := range b.Records {
			m[b.BaseOffset+sm.Offset(i)] = string(r.Value)
		}
	}
	return m
}

var traceProps = os.Getenv("PARTITION_TRACE") != ""

func (w *propWorld) trace(t *rapid.T, name string) {
	t.Logf("== %s  st=%+v", name, w.c.st)
	for _, id := range w.c.ids {
		p := w.c.reps[id].p
		t.Logf("   %v %+v pend=%d log=%v", id, p.Status(), len(w.c.reps[id].disk.Pending()), values(w.c.reps[id]))
	}
	for _, e := range w.c.net.Queue {
		t.Logf("   net %v->%v %T %+v", e.From, e.To, e.Msg, e.Msg)
	}
}
