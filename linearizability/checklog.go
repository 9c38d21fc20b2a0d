package linearizability

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// Violation kinds reported by CheckLog. Each names one broken promise.
const (
	// ViolationLost: a Durable OK produce's record is missing from the final
	// log, or a read shows another value at its claimed offset.
	ViolationLost = "lost"
	// ViolationReadDisagree: two reads show different values at one offset.
	// Every returned record is below the HW, i.e. committed, so whatever the
	// ack level they must agree.
	ViolationReadDisagree = "read-disagree"
	// ViolationDuplicate: one value (produced once) seen at two offsets.
	ViolationDuplicate = "duplicate"
	// ViolationPhantom: a read shows a value no produce to this partition
	// could have written: never produced, produced by a Failed op, or
	// produced to another partition.
	ViolationPhantom = "phantom"
	// ViolationFutureRead: a read returned before the produce of a value it
	// shows was invoked.
	ViolationFutureRead = "future-read"
	// ViolationGap: one fetch reply is not a contiguous ascending run of
	// offsets starting at the requested offset.
	ViolationGap = "gap"
	// ViolationAboveHW: a fetch reply holds a record at or above its own HW.
	ViolationAboveHW = "above-hw"
	// ViolationOffsetMismatch: an OK produce's value is seen at an offset
	// other than the one the leader acknowledged.
	ViolationOffsetMismatch = "offset-mismatch"
	// ViolationBatchSplit: values of one produce batch are seen at offsets that
	// are not base+i for a single base.
	ViolationBatchSplit = "batch-split"
	// ViolationDoubleClaim: two Durable OK produces acknowledged overlapping
	// offsets; at most one of them can survive.
	ViolationDoubleClaim = "double-claim"
	// ViolationRealTime: a produce was acknowledged at an offset not above a
	// Durable produce that returned before it was invoked.
	ViolationRealTime = "real-time-order"
	// ViolationHWBackwards: a fetch saw a lower HW than a fetch that returned
	// before it was invoked, from a leader epoch at least as new.
	ViolationHWBackwards = "hw-backwards"
	// ViolationRefusedRead: a fetch was refused OFFSET_OUT_OF_RANGE at an
	// offset within its own reply's [0, HW], or at or below an HW a fetch
	// that returned before it was invoked saw, from a leader epoch at most
	// its own: committed offsets must stay readable.
	ViolationRefusedRead = "refused-committed-read"
	// ViolationBadHistory: the history itself breaks the recording contract
	// (a value produced twice, Return < Call, an OK produce without values).
	// It is a simulator bug, but it voids other checks, so it fails the run.
	ViolationBadHistory = "bad-history"
)

// ViolationsPerKindMax bounds how many violations of one kind a Report keeps;
// a systematic bug would otherwise flood it. Report.Counts has the totals.
const ViolationsPerKindMax = 20

// Violation is one broken promise, with the operations that witness it.
type Violation struct {
	Kind   string // one of the Violation* constants
	TP     string // partition (or topic) concerned
	Offset int64  // offset at issue, -1 when none
	Ops    []int  // indices into History.Ops of the witnesses
	Msg    string // human message naming offsets, values and ops
}

// String renders v on one line: kind, partition, message.
func (v Violation) String() string {
	return fmt.Sprintf("%s %s: %s", v.Kind, v.TP, v.Msg)
}

// Report is CheckLog's verdict: the violations found and how much was checked,
// so a run that checked nothing is visible as such.
type Report struct {
	// Violations holds at most ViolationsPerKindMax per kind, in a
	// deterministic order (by check, then history order).
	Violations []Violation
	// Counts is the total number of violations per kind, kept or not.
	Counts map[string]int

	Ops      int // operations in the history
	Produces int // produce ops on checked partitions
	Fetches  int // OK fetch ops on checked partitions
	Records  int // records returned by those fetches
	TPs      int // partitions checked
	// DurableVerified counts Durable OK records found at their offset in the
	// final reads; DurableUnverified those below the final HW that no final
	// read returned (not a violation: the reads stopped short), or on
	// partitions without final reads.
	DurableVerified   int
	DurableUnverified int
	// DurableDeleted counts Durable OK records below the final log start:
	// retention deleted them, which is not a loss.
	DurableDeleted int
	// SkippedTPs are partitions of topics that may have been deleted and
	// recreated (one name, several logs); CheckLog does not check them.
	SkippedTPs []string
}

// OK reports whether no violation was found.
func (r *Report) OK() bool { return len(r.Violations) == 0 }

// Err returns nil if r is OK, else an error summarising the violations.
func (r *Report) Err() error {
	if r.OK() {
		return nil
	}
	return fmt.Errorf("linearizability: %s", r.String())
}

// String summarises r: counts per kind, then the kept violations, one a line.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "checked %d ops (%d produces, %d fetches, %d records) on %d partitions",
		r.Ops, r.Produces, r.Fetches, r.Records, r.TPs)
	if len(r.SkippedTPs) > 0 {
		fmt.Fprintf(&b, ", skipped %v", r.SkippedTPs)
	}
	if r.OK() {
		b.WriteString(": ok")
		return b.String()
	}
	b.WriteString(": violations")
	var broken []string
	for _, k := range slices.Sorted(maps.Keys(r.Counts)) {
		fmt.Fprintf(&b, " %s=%d", k, r.Counts[k])
		if p := PromiseOf(k); !slices.Contains(broken, p) {
			broken = append(broken, p)
		}
	}
	fmt.Fprintf(&b, " (promises broken: %s)", strings.Join(broken, ", "))
	for _, v := range r.Violations {
		b.WriteString("\n  ")
		b.WriteString(v.String())
	}
	return b.String()
}

// seen is the first read of one offset: its value and the op that read it.
type seen struct {
	value string
	op    int32
}

// offsetIndex maps offsets to seen: a dense slice for offsets a valid log can
// hold (below the number of values produced to the partition), a map for the
// rest, so a buggy huge offset costs no memory and the common case no hashing.
type offsetIndex struct {
	dense  []seen
	opPlus []int32 // op+1 per dense slot, 0 = empty
	sparse map[int64]seen
	limit  int64
}

func (x *offsetIndex) get(off int64) (seen, bool) {
	if off >= 0 && off < int64(len(x.dense)) {
		if x.opPlus[off] == 0 {
			return seen{}, false
		}
		return seen{value: x.dense[off].value, op: x.opPlus[off] - 1}, true
	}
	if off >= 0 && off < x.limit {
		return seen{}, false
	}
	s, ok := x.sparse[off]
	return s, ok
}

func (x *offsetIndex) put(off int64, s seen) {
	if off >= 0 && off < x.limit {
		if off >= int64(len(x.dense)) {
			n := min(max(2*int64(len(x.dense)), off+1, 64), x.limit)
			x.dense = append(x.dense, make([]seen, n-int64(len(x.dense)))...)
			x.opPlus = append(x.opPlus, make([]int32, n-int64(len(x.opPlus)))...)
		}
		x.dense[off].value, x.opPlus[off] = s.value, s.op+1
		return
	}
	if x.sparse == nil {
		x.sparse = map[int64]seen{}
	}
	x.sparse[off] = s
}

// valueInfo tracks one produced value: its producer (fields copied so the hot
// loop stays off the large Op array) and where reads first saw it.
type valueInfo struct {
	tp      *tpLog // producer's partition, nil if skipped
	call    int64  // producer's Call
	want    int64  // acknowledged offset of this value if the producer is OK
	op      int32  // producing op
	pos     int32  // index within the op's Values
	outcome Outcome
	seenOp  int32 // first read showing it in its own partition, -1 if none
	seenOff int64
}

// tpLog is everything CheckLog learns about one partition.
type tpLog struct {
	name     string
	observed offsetIndex // every OK read
	final    offsetIndex // Final reads only
	produced int64       // values produced to the partition: bounds a valid log
	finalHW  int64       // max HW over Final reads, -1 if none
	// finalStart is the highest log start a Final read's reply named:
	// retention deleted the records below it.
	finalStart int64
	produces   []int32 // OK produces
	fetches    []int32 // OK fetches
	refused    []int32 // fetches refused OFFSET_OUT_OF_RANGE (with their reply's HW and epoch)
}

type logChecker struct {
	h      *History
	r      *Report
	tps    []*tpLog
	tpIdx  map[string]int32
	values map[string]int32 // value -> index in info
	info   []valueInfo
	skip   map[string]bool // recreated topics
	// unknownBase is the base offset inferred for a not-OK produce from the
	// first of its values seen; -1 entries mark ops already reported.
	unknownBase map[int32]int64
}

// CheckLog checks h against the partition log's promises using the offsets
// leaders returned as the claimed total order (see the package comment). It
// runs in O(n log n) in the number of operations and records.
func CheckLog(h *History) *Report {
	nValues := 0
	for i := range h.Ops {
		nValues += len(h.Ops[i].Values)
	}
	c := &logChecker{
		h:           h,
		r:           &Report{Counts: map[string]int{}, Ops: len(h.Ops)},
		tpIdx:       map[string]int32{},
		values:      make(map[string]int32, nValues),
		info:        make([]valueInfo, 0, nValues),
		skip:        recreatedTopics(h),
		unknownBase: map[int32]int64{},
	}
	c.indexOps()
	c.listSkipped()
	for _, t := range c.tps {
		t.observed.limit, t.final.limit = t.produced, t.produced
	}
	for i := range h.Ops {
		if op := &h.Ops[i]; op.Kind == Fetch && op.Outcome == OK && !c.skipped(op.TP) {
			c.checkFetch(int32(i))
		}
	}
	for _, t := range c.tps {
		c.checkClaims(t)
		c.checkProduceOrder(t)
		c.checkHWOrder(t)
		c.checkRefusedReads(t)
	}
	c.r.TPs = len(c.tps)
	return c.r
}

func (c *logChecker) skipped(tp string) bool { return c.skip[topicOf(tp)] }

// listSkipped fills Report.SkippedTPs with the partitions of recreated topics.
func (c *logChecker) listSkipped() {
	if len(c.skip) == 0 {
		return
	}
	set := map[string]bool{}
	for i := range c.h.Ops {
		if op := &c.h.Ops[i]; (op.Kind == Produce || op.Kind == Fetch) && c.skipped(op.TP) {
			set[op.TP] = true
		}
	}
	c.r.SkippedTPs = slices.Sorted(maps.Keys(set))
}

func (c *logChecker) tp(name string) *tpLog {
	if i, ok := c.tpIdx[name]; ok {
		return c.tps[i]
	}
	t := &tpLog{name: name, finalHW: -1}
	c.tpIdx[name] = int32(len(c.tps))
	c.tps = append(c.tps, t)
	return t
}

func (c *logChecker) desc(i int32) string {
	return fmt.Sprintf("op#%d{%s}", i, c.h.Ops[i].String())
}

func (c *logChecker) report(kind, tp string, offset int64, ops []int32, format string, args ...any) {
	c.r.Counts[kind]++
	if c.r.Counts[kind] > ViolationsPerKindMax {
		return
	}
	v := Violation{Kind: kind, TP: tp, Offset: offset, Msg: fmt.Sprintf(format, args...)}
	for _, i := range ops {
		v.Ops = append(v.Ops, int(i))
	}
	c.r.Violations = append(c.r.Violations, v)
}

// indexOps registers every produced value, partition and the OK ops each
// later pass needs, and reports histories that break the recording contract.
func (c *logChecker) indexOps() {
	for i := range c.h.Ops {
		op, id := &c.h.Ops[i], int32(i)
		if op.Return < op.Call {
			c.report(ViolationBadHistory, op.TP, -1, []int32{id}, "%s returned before it was invoked", c.desc(id))
		}
		if op.Kind != Produce {
			if op.Kind == Fetch && op.Final && !c.skipped(op.TP) {
				t := c.tp(op.TP)
				t.finalStart = max(t.finalStart, op.LogStart)
			}
			if op.Kind == Fetch && op.Outcome == OK && !c.skipped(op.TP) {
				t := c.tp(op.TP)
				t.fetches = append(t.fetches, id)
				c.r.Fetches++
				c.r.Records += len(op.Records)
			}
			if op.Kind == Fetch && op.Outcome == Failed && op.Err == ErrOffsetOutOfRange && !c.skipped(op.TP) {
				t := c.tp(op.TP)
				t.refused = append(t.refused, id)
			}
			continue
		}
		for pos, v := range op.Values {
			if prev, dup := c.values[v]; dup {
				p := c.info[prev].op
				c.report(ViolationBadHistory, op.TP, -1, []int32{p, id},
					"value %q produced twice: %s and %s", v, c.desc(p), c.desc(id))
				continue
			}
			vi := valueInfo{call: op.Call, want: op.Offset + int64(pos), op: id, pos: int32(pos), outcome: op.Outcome, seenOp: -1}
			if !c.skipped(op.TP) {
				vi.tp = c.tp(op.TP)
			}
			c.values[v] = int32(len(c.info))
			c.info = append(c.info, vi)
		}
		if c.skipped(op.TP) {
			continue
		}
		t := c.tp(op.TP)
		t.produced += int64(len(op.Values))
		c.r.Produces++
		if op.Outcome != OK {
			continue
		}
		if len(op.Values) == 0 || op.Offset < 0 {
			c.report(ViolationBadHistory, op.TP, op.Offset, []int32{id}, "%s: OK produce without values or with a negative offset", c.desc(id))
			continue
		}
		t.produces = append(t.produces, id)
	}
}

// checkFetch checks one OK fetch reply on its own, then each of its records
// against the producers and against every earlier read.
func (c *logChecker) checkFetch(id int32) {
	op := &c.h.Ops[id]
	t := c.tp(op.TP)
	if op.Final && op.HW > t.finalHW {
		t.finalHW = op.HW
	}
	if n := len(op.Records); n > 0 {
		first := op.Records[0].Offset
		if first != op.FetchOffset {
			c.report(ViolationGap, op.TP, first, []int32{id},
				"%s: reply starts at offset %d, not at the requested offset %d", c.desc(id), first, op.FetchOffset)
		}
		for i := 1; i < n; i++ {
			if prev, cur := op.Records[i-1].Offset, op.Records[i].Offset; cur != prev+1 {
				c.report(ViolationGap, op.TP, prev+1, []int32{id},
					"%s: offset %d follows offset %d in one reply", c.desc(id), cur, prev)
				break
			}
		}
	}
	for _, rec := range op.Records {
		if rec.Offset >= op.HW {
			c.report(ViolationAboveHW, op.TP, rec.Offset, []int32{id},
				"%s: record %d:%s at or above the reply's hw %d", c.desc(id), rec.Offset, rec.Value, op.HW)
		}
		c.checkRecordValue(t, id, op.Return, rec)
		c.checkRecordOffset(&t.observed, t, id, rec)
		if op.Final {
			c.checkRecordOffset(&t.final, t, id, rec)
		}
	}
}

// checkRecordOffset checks that no earlier read showed another value at
// rec's offset, and remembers rec if it is the first read of that offset.
func (c *logChecker) checkRecordOffset(m *offsetIndex, t *tpLog, id int32, rec Rec) {
	prev, ok := m.get(rec.Offset)
	if !ok {
		m.put(rec.Offset, seen{value: rec.Value, op: id})
		return
	}
	if prev.value != rec.Value {
		c.report(ViolationReadDisagree, t.name, rec.Offset, []int32{prev.op, id},
			"offset %d holds %q in %s but %q in %s", rec.Offset, prev.value, c.desc(prev.op), rec.Value, c.desc(id))
	}
}

// checkRecordValue checks rec's value against its producer: that it exists,
// could have taken effect in this partition, and sits where it should.
func (c *logChecker) checkRecordValue(t *tpLog, id int32, readReturn int64, rec Rec) {
	vix, ok := c.values[rec.Value]
	if !ok {
		c.report(ViolationPhantom, t.name, rec.Offset, []int32{id},
			"%s shows %q at offset %d, which no op produced", c.desc(id), rec.Value, rec.Offset)
		return
	}
	vi := &c.info[vix]
	switch {
	case vi.tp != t:
		c.report(ViolationPhantom, t.name, rec.Offset, []int32{vi.op, id},
			"%s shows %q at offset %d, produced to %s by %s", c.desc(id), rec.Value, rec.Offset, c.h.Ops[vi.op].TP, c.desc(vi.op))
		return
	case vi.outcome == Failed:
		c.report(ViolationPhantom, t.name, rec.Offset, []int32{vi.op, id},
			"%s shows %q at offset %d from a failed produce %s", c.desc(id), rec.Value, rec.Offset, c.desc(vi.op))
	}
	if readReturn < vi.call {
		c.report(ViolationFutureRead, t.name, rec.Offset, []int32{vi.op, id},
			"%s returned %q before its produce %s was invoked", c.desc(id), rec.Value, c.desc(vi.op))
	}
	if vi.seenOp >= 0 {
		if vi.seenOff != rec.Offset {
			c.report(ViolationDuplicate, t.name, rec.Offset, []int32{vi.seenOp, id, vi.op},
				"value %q of %s is at offset %d in %s and at offset %d in %s",
				rec.Value, c.desc(vi.op), vi.seenOff, c.desc(vi.seenOp), rec.Offset, c.desc(id))
		}
		return // placement was checked at the first sighting
	}
	vi.seenOp, vi.seenOff = id, rec.Offset
	if vi.outcome == OK {
		if rec.Offset != vi.want {
			c.report(ViolationOffsetMismatch, t.name, rec.Offset, []int32{vi.op, id},
				"value %q acknowledged at offset %d by %s is at offset %d in %s",
				rec.Value, vi.want, c.desc(vi.op), rec.Offset, c.desc(id))
		}
		return
	}
	base := rec.Offset - int64(vi.pos)
	prev, ok := c.unknownBase[vi.op]
	switch {
	case !ok:
		c.unknownBase[vi.op] = base
	case prev >= 0 && prev != base:
		c.unknownBase[vi.op] = -1 // report each batch once
		c.report(ViolationBatchSplit, t.name, rec.Offset, []int32{vi.op, id},
			"batch %s: value %q (index %d) at offset %d in %s, but an earlier value put the batch at base %d",
			c.desc(vi.op), rec.Value, vi.pos, rec.Offset, c.desc(id), prev)
	}
}

// checkClaims checks Durable OK produces against the reads: no two claim one
// offset, no read shows another value there, and the final reads hold them.
func (c *logChecker) checkClaims(t *tpLog) {
	claims := offsetIndex{limit: t.produced}
	for _, id := range t.produces {
		op := &c.h.Ops[id]
		if !op.Durable {
			continue
		}
		reported := false
		for i := range op.Values {
			x := op.Offset + int64(i)
			if other, ok := claims.get(x); ok && !reported {
				reported = true
				c.report(ViolationDoubleClaim, t.name, x, []int32{other.op, id},
					"offset %d acknowledged to both %s and %s", x, c.desc(other.op), c.desc(id))
			}
			claims.put(x, seen{op: id})
		}
		lost, first, why := 0, int64(-1), ""
		for i, v := range op.Values {
			x := op.Offset + int64(i)
			w := c.claimLoss(t, x, v)
			if w == "" {
				continue
			}
			if lost == 0 {
				first, why = x, w
			}
			lost++
		}
		if lost > 0 {
			c.report(ViolationLost, t.name, first, []int32{id},
				"%d of %d records of durable %s lost; first at offset %d: %s", lost, len(op.Values), c.desc(id), first, why)
		}
	}
}

// claimLoss explains why the durable record v claimed at offset x is lost,
// or returns "" if it is not, counting verified and unverified records.
func (c *logChecker) claimLoss(t *tpLog, x int64, v string) string {
	if s, ok := t.observed.get(x); ok && s.value != v {
		return fmt.Sprintf("%s shows %q there", c.desc(s.op), s.value)
	}
	if t.finalHW < 0 {
		c.r.DurableUnverified++
		return ""
	}
	s, ok := t.final.get(x)
	if !ok && x < t.finalStart {
		c.r.DurableDeleted++ // below the log start: retention, not loss
		return ""
	}
	switch {
	case ok && s.value == v:
		c.r.DurableVerified++
		return ""
	case ok:
		return fmt.Sprintf("final %s shows %q there", c.desc(s.op), s.value)
	case x >= t.finalHW:
		return fmt.Sprintf("offset at or above the final hw %d", t.finalHW)
	}
	c.r.DurableUnverified++
	return ""
}

// checkProduceOrder checks real-time order: if Durable produce A returned
// before produce B was invoked, B's base offset must be above A's last offset.
// For a non-durable B this binds only if B's leader epoch is at least A's: a
// deposed leader of an older epoch may still ack acks=leader writes at
// offsets the new leader reuses. A non-durable A binds nothing (it may be lost).
func (c *logChecker) checkProduceOrder(t *tpLog) {
	ops := c.h.Ops
	var as []int32
	for _, id := range t.produces {
		if ops[id].Durable {
			as = append(as, id)
		}
	}
	if len(as) == 0 {
		return
	}
	last := func(id int32) int64 { return ops[id].Offset + int64(len(ops[id].Values)) - 1 }
	c.sweep(t.produces, as, func(id int32) int64 { return ops[id].Epoch }, last,
		func(b int32) bool { return ops[b].Durable },
		func(a, b int32) {
			c.report(ViolationRealTime, t.name, ops[b].Offset, []int32{a, b},
				"%s returned before %s was invoked, yet the later base offset %d is not above the earlier last offset %d",
				c.desc(a), c.desc(b), ops[b].Offset, last(a))
		},
		func(b int32, maxA int64) bool { return ops[b].Offset > maxA })
}

// checkHWOrder checks that the HW never goes backwards in real time: if fetch
// A returned before fetch B was invoked and B's epoch is at least A's, then
// HW(B) >= HW(A). Replies from an older epoch (a deposed leader) may lag.
func (c *logChecker) checkHWOrder(t *tpLog) {
	ops := c.h.Ops
	for _, era := range c.eras(t.fetches) {
		c.sweep(era, era, func(id int32) int64 { return ops[id].Epoch },
			func(id int32) int64 { return ops[id].HW },
			func(int32) bool { return false },
			func(a, b int32) {
				c.report(ViolationHWBackwards, t.name, ops[b].HW, []int32{a, b},
					"%s saw hw %d, but %s, invoked after it returned and answered at epoch %d >= %d, saw hw %d",
					c.desc(a), ops[a].HW, c.desc(b), ops[b].Epoch, ops[a].Epoch, ops[b].HW)
			},
			func(b int32, maxA int64) bool { return ops[b].HW >= maxA })
	}
}

// eras splits ops at History.LossAt: those invoked before it and those
// invoked after, which the order checks compare only among themselves.
func (c *logChecker) eras(ids []int32) [][]int32 {
	if c.h.LossAt == 0 {
		return [][]int32{ids}
	}
	var before, after []int32
	for _, id := range ids {
		if c.h.Ops[id].Call >= c.h.LossAt {
			after = append(after, id)
		} else {
			before = append(before, id)
		}
	}
	return [][]int32{before, after}
}

// checkRefusedReads checks that a committed offset is never refused: a
// fetch answered OFFSET_OUT_OF_RANGE must ask beyond its own reply's HW, and
// beyond every HW a fetch that returned before it was invoked saw from an
// epoch at most its own (a deposed leader's older epoch may lag). Its reply's
// HW also takes part in the HW order.
func (c *logChecker) checkRefusedReads(t *tpLog) {
	ops := c.h.Ops
	// A fetch below its reply's log start asks for records retention
	// deleted: refusing it is right, whatever the hw.
	var beyond []int32
	for _, id := range t.refused {
		op := &ops[id]
		if op.FetchOffset < op.LogStart {
			continue
		}
		beyond = append(beyond, id)
		if op.FetchOffset >= 0 && op.FetchOffset <= op.HW {
			c.report(ViolationRefusedRead, t.name, op.FetchOffset, []int32{id},
				"%s was refused OFFSET_OUT_OF_RANGE at offset %d, within its own reply's [log start %d, hw %d]", c.desc(id), op.FetchOffset, op.LogStart, op.HW)
		}
	}
	fetchEras, beyondEras, refusedEras := c.eras(t.fetches), c.eras(beyond), c.eras(t.refused)
	for k := range fetchEras {
		fetches, beyond, refused := fetchEras[k], beyondEras[k], refusedEras[k]
		c.sweep(beyond, fetches, func(id int32) int64 { return ops[id].Epoch },
			func(id int32) int64 { return ops[id].HW },
			func(int32) bool { return false },
			func(a, b int32) {
				c.report(ViolationRefusedRead, t.name, ops[b].FetchOffset, []int32{a, b},
					"%s saw hw %d, but %s, invoked after it returned and answered at epoch %d >= %d, was refused offset %d as out of range",
					c.desc(a), ops[a].HW, c.desc(b), ops[b].Epoch, ops[a].Epoch, ops[b].FetchOffset)
			},
			func(b int32, maxA int64) bool { return ops[b].FetchOffset > maxA })
		c.sweep(refused, fetches, func(id int32) int64 { return ops[id].Epoch },
			func(id int32) int64 { return ops[id].HW },
			func(int32) bool { return false },
			func(a, b int32) {
				c.report(ViolationHWBackwards, t.name, ops[b].HW, []int32{a, b},
					"%s saw hw %d, but %s, invoked after it returned and refused at epoch %d >= %d, reported hw %d",
					c.desc(a), ops[a].HW, c.desc(b), ops[b].Epoch, ops[a].Epoch, ops[b].HW)
			},
			func(b int32, maxA int64) bool { return ops[b].HW >= maxA })
	}
}

// sweep finds, for each B in bs, the A in as with the largest key(A) among
// those with A.Return < B.Call and (anyEpoch(B) or epoch(A) <= epoch(B)), and
// calls bad(A, B) when ok(B, key(A)) fails. It sorts both sides by time and
// keeps a prefix-max Fenwick tree over epoch ranks: O((|as|+|bs|) log n).
func (c *logChecker) sweep(bs, as []int32, epoch, key func(int32) int64,
	anyEpoch func(int32) bool, bad func(a, b int32), ok func(b int32, maxA int64) bool) {
	ops := c.h.Ops
	if len(as) == 0 || len(bs) == 0 {
		return
	}
	epochs := make([]int64, 0, len(as)+len(bs))
	for _, id := range as {
		epochs = append(epochs, epoch(id))
	}
	for _, id := range bs {
		epochs = append(epochs, epoch(id))
	}
	slices.Sort(epochs)
	epochs = slices.Compact(epochs)
	rank := func(id int32) int { i, _ := slices.BinarySearch(epochs, epoch(id)); return i }

	byReturn := slices.Clone(as)
	sort.SliceStable(byReturn, func(i, j int) bool { return ops[byReturn[i]].Return < ops[byReturn[j]].Return })
	byCall := slices.Clone(bs)
	sort.SliceStable(byCall, func(i, j int) bool { return ops[byCall[i]].Call < ops[byCall[j]].Call })

	fw := newFenwickMax(len(epochs))
	next := 0
	for _, b := range byCall {
		for next < len(byReturn) && ops[byReturn[next]].Return < ops[b].Call {
			a := byReturn[next]
			fw.update(rank(a), key(a), a)
			next++
		}
		if next == 0 {
			continue
		}
		r := rank(b)
		if anyEpoch(b) {
			r = len(epochs) - 1
		}
		maxA, a := fw.query(r)
		if a >= 0 && !ok(b, maxA) {
			bad(a, b)
		}
	}
}

// fenwickMax is a Fenwick tree of prefix maxima with the argmax op id.
type fenwickMax struct {
	key []int64
	op  []int32
}

func newFenwickMax(n int) *fenwickMax {
	f := &fenwickMax{key: make([]int64, n+1), op: make([]int32, n+1)}
	for i := range f.op {
		f.op[i] = -1
	}
	return f
}

// update raises position i (0-based) to key k, witnessed by op.
func (f *fenwickMax) update(i int, k int64, op int32) {
	for i++; i < len(f.key); i += i & -i {
		if f.op[i] < 0 || k > f.key[i] {
			f.key[i], f.op[i] = k, op
		}
	}
}

// query returns the max key over positions 0..i and its op, or op -1 if none.
func (f *fenwickMax) query(i int) (int64, int32) {
	best, op := int64(0), int32(-1)
	for i++; i > 0; i -= i & -i {
		if f.op[i] >= 0 && (op < 0 || f.key[i] > best) {
			best, op = f.key[i], f.op[i]
		}
	}
	return best, op
}
