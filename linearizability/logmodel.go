package linearizability

import (
	"fmt"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"
)

// valueTable interns one partition's values to dense ids, so the model state
// holds small integers and DescribeState can still print the values. It also
// lists the partition's durable produce base offsets, sorted (see logStep).
// LogOperations fills it; it is read-only while porcupine runs.
type valueTable struct {
	ids   map[string]int64
	strs  []string
	bases []int64
}

func (t *valueTable) id(v string) int64 {
	if id, ok := t.ids[v]; ok {
		return id
	}
	id := int64(len(t.strs))
	t.ids[v] = id
	t.strs = append(t.strs, v)
	return id
}

// logInput is the call half of a LogModel operation.
type logInput struct {
	kind        Kind // Produce or Fetch
	tp          string
	tab         *valueTable
	op          int      // index in History.Ops
	call, ret   int64    // the op's real times (fetches are moved; see LogOperations)
	values      []string // produce
	vids        []int64  // produce: ids of values
	fetchOffset int64    // fetch
}

// logOutput is the return half of a LogModel operation.
type logOutput struct {
	offset  int64   // produce: base offset acknowledged
	epoch   int64   // leader epoch of the reply
	records []Rec   // fetch
	offs    []int64 // fetch: record offsets
	rvids   []int64 // fetch: ids of record values
	hw      int64   // fetch
}

// logState is an immutable LogModel state: the offset<->value assignments
// known so far (a bijection, kept in both directions) and the last offset of
// the latest linearized durable produce.
type logState struct {
	byOff ptrie  // offset -> value id + 1
	byVal ptrie  // value id -> offset + 1
	top   int64  // -1 before the first produce
	sum   uint64 // order-independent hash of byOff
	tab   *valueTable
}

// LogModel is the porcupine model of partition logs, partitioned by TP. It
// holds the system only to what it promises (see the package comment):
//   - one committed log: every offset holds one value and every value sits at
//     one offset, across all reads and durable acknowledgements;
//   - a Durable OK produce lands at its acknowledged offsets, above the last
//     offset of every durable produce linearized before it (real-time order).
//
// Reads are not linearizable (a deposed leader may serve an older prefix), so
// a fetch only has to agree with the assignments; returning fewer records is
// always legal. Its inputs are unexported: build them with LogOperations,
// which leaves out Failed and Unknown produces, non-durable acks and empty
// fetches (none of them constrains a sound model) and orders the search so
// porcupine stays near-linear however many clients share a partition (reads
// after the produces, durable produces only in offset order; neither changes
// a verdict, which a property test checks against the naive model). Value
// provenance (phantoms, future reads) is CheckLog's job.
var LogModel = porcupine.Model{
	Partition:      partitionLog,
	PartitionEvent: partitionLogEvents,
	Init:           func() any { return &logState{top: -1} },
	Step:           logStep,
	Equal: func(a, b any) bool {
		s, t := a.(*logState), b.(*logState)
		return s == t || (s.top == t.top && s.sum == t.sum && s.byOff.equal(t.byOff))
	},
	Hash: func(st any) uint64 {
		s := st.(*logState)
		return s.sum ^ mix64(uint64(s.top)+0x5bd1e995)
	},
	DescribeOperation:         describeLogOp,
	DescribeState:             describeLogState,
	DescribeOperationMetadata: describeMetadata,
}

func logStep(st, in, out any) (bool, any) {
	s, i, o := st.(*logState), in.(logInput), out.(logOutput)
	if i.kind == Produce {
		// Durable produces linearize in strictly increasing offset order, so
		// P may only be the next one: above top, with no base in between.
		// Every durable produce of the partition is in the history, so this
		// accepts exactly the linearizations "offset > top" would, but
		// porcupine never takes a doomed branch when a later-invoked produce
		// holds a lower offset.
		if o.offset <= s.top {
			return false, s
		}
		if k, _ := slices.BinarySearch(i.tab.bases, s.top+1); k < len(i.tab.bases) && i.tab.bases[k] < o.offset {
			return false, s
		}
		offs := make([]int64, len(i.vids))
		for k := range offs {
			offs[k] = o.offset + int64(k)
		}
		ns, ok := s.assign(i.tab, offs, i.vids)
		if !ok {
			return false, s
		}
		ns.top = o.offset + int64(len(i.vids)) - 1
		return true, ns
	}
	ns, ok := s.assign(i.tab, o.offs, o.rvids)
	if !ok {
		return false, s
	}
	return true, ns
}

// assign returns s plus offs[k] -> vids[k], or false if that contradicts s
// (an offset holding another value, a value at another offset) or itself.
// It never modifies s.
func (s *logState) assign(tab *valueTable, offs, vids []int64) (*logState, bool) {
	type pair struct{ off, vid int64 }
	var fresh []pair
	for k, x := range offs {
		v := vids[k]
		if x < 0 {
			return nil, false
		}
		if cur, ok := s.byOff.get(x); ok {
			if cur != v+1 {
				return nil, false
			}
			continue
		}
		if _, ok := s.byVal.get(v); ok {
			return nil, false // the value already sits at another offset
		}
		fresh = append(fresh, pair{x, v})
	}
	ns := *s
	ns.tab = tab
	if len(fresh) == 0 {
		return &ns, true
	}
	keys, vals := make([]int64, len(fresh)), make([]int64, len(fresh))
	slices.SortFunc(fresh, func(a, b pair) int { return cmpInt64(a.off, b.off) })
	for k, p := range fresh {
		if k > 0 && p.off == fresh[k-1].off {
			return nil, false // one reply, two records at one offset
		}
		keys[k], vals[k] = p.off, p.vid+1
		ns.sum += mix64(uint64(p.off)*0x9e3779b97f4a7c15 ^ uint64(p.vid))
	}
	ns.byOff = s.byOff.with(keys, vals)
	slices.SortFunc(fresh, func(a, b pair) int { return cmpInt64(a.vid, b.vid) })
	for k, p := range fresh {
		if k > 0 && p.vid == fresh[k-1].vid {
			return nil, false // one value at two offsets
		}
		keys[k], vals[k] = p.vid, p.off+1
	}
	ns.byVal = s.byVal.with(keys, vals)
	return &ns, true
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// mix64 is the splitmix64 finalizer: a cheap, well-spread 64-bit hash.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// logStateShownMax bounds how many assignments DescribeState prints.
const logStateShownMax = 12

func describeLogState(st any) string {
	s := st.(*logState)
	if s.byOff.size == 0 {
		return "empty"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "top=%d n=%d |", s.top, s.byOff.size)
	keys, vals := s.byOff.last(logStateShownMax)
	if s.byOff.size > len(keys) {
		b.WriteString(" …")
	}
	for k, x := range keys {
		v := fmt.Sprint(vals[k] - 1)
		if s.tab != nil && vals[k]-1 < int64(len(s.tab.strs)) {
			v = s.tab.strs[vals[k]-1]
		}
		fmt.Fprintf(&b, " %d:%s", x, v)
	}
	return b.String()
}

func describeLogOp(in, out any) string {
	i, o := in.(logInput), out.(logOutput)
	if i.kind == Produce {
		return fmt.Sprintf("produce %v -> off=%d ep=%d", i.values, o.offset, o.epoch)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "fetch from=%d -> [", i.fetchOffset)
	for k, r := range o.records {
		if k > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d:%s", r.Offset, r.Value)
	}
	fmt.Fprintf(&b, "] hw=%d ep=%d (real time [%d,%d])", o.hw, o.epoch, i.call, i.ret)
	return b.String()
}

func describeMetadata(m any) string {
	if m == nil {
		return ""
	}
	return fmt.Sprintf("op#%d", m.(int))
}

// LogOperations converts h into LogModel operations: Durable OK produces and
// OK fetches that returned records, on partitions of topics never recreated.
// The rest cannot constrain a sound model: Failed produces had no effect;
// Unknown ones and non-durable acks may or may not be in the log, and if they
// are, the reads that show them bring their records in; an empty fetch is
// always legal.
//
// Fetches are moved after every other operation, one after another in order
// of invocation (their real times stay in the description). In LogModel a
// read commutes with everything: it is legal at some point of a linearization
// iff its records agree with the union of all assignments, wherever it
// stands. So the move changes no verdict, but it spares porcupine from
// trying every subset of the reads concurrent with a produce it must
// backtrack over, which is exponential with many clients per partition.
func LogOperations(h *History) []porcupine.Operation {
	skip := recreatedTopics(h)
	tabs := map[string]*valueTable{}
	table := func(tp string) *valueTable {
		t := tabs[tp]
		if t == nil {
			t = &valueTable{ids: map[string]int64{}}
			tabs[tp] = t
		}
		return t
	}
	horizon := int64(0)
	var out, reads []porcupine.Operation
	for i := range h.Ops {
		op := &h.Ops[i]
		horizon = max(horizon, op.Call+1, op.Return+1)
		if op.Outcome != OK || skip[topicOf(op.TP)] {
			continue
		}
		in := logInput{kind: op.Kind, tp: op.TP, op: i, call: op.Call, ret: op.Return}
		res := logOutput{epoch: op.Epoch}
		switch {
		case op.Kind == Produce && op.Durable && len(op.Values) > 0:
			in.tab = table(op.TP)
			in.values = op.Values
			for _, v := range op.Values {
				in.vids = append(in.vids, in.tab.id(v))
			}
			res.offset = op.Offset
			in.tab.bases = append(in.tab.bases, op.Offset)
		case op.Kind == Fetch && len(op.Records) > 0:
			in.tab = table(op.TP)
			in.fetchOffset = op.FetchOffset
			res.records, res.hw = op.Records, op.HW
			for _, r := range op.Records {
				res.offs = append(res.offs, r.Offset)
				res.rvids = append(res.rvids, in.tab.id(r.Value))
			}
		default:
			continue
		}
		pop := porcupine.Operation{
			ClientId: max(op.Client, 0), Input: in, Call: op.Call, Output: res, Return: op.Return, Metadata: i,
		}
		if op.Kind == Fetch {
			reads = append(reads, pop)
		} else {
			out = append(out, pop)
		}
	}
	for _, t := range tabs {
		slices.Sort(t.bases)
		t.bases = slices.Compact(t.bases)
	}
	slices.SortStableFunc(reads, func(a, b porcupine.Operation) int { return cmpInt64(a.Call, b.Call) })
	for k := range reads {
		reads[k].Call, reads[k].Return = horizon+2*int64(k), horizon+2*int64(k)+1
	}
	return append(out, reads...)
}

// partitionBy groups ops by key in order of first appearance (deterministic).
func partitionBy(ops []porcupine.Operation, key func(porcupine.Operation) string) [][]porcupine.Operation {
	idx := map[string]int{}
	var out [][]porcupine.Operation
	for _, op := range ops {
		k := key(op)
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], op)
	}
	return out
}

func partitionLog(ops []porcupine.Operation) [][]porcupine.Operation {
	return partitionBy(ops, func(op porcupine.Operation) string { return op.Input.(logInput).tp })
}

// partitionEventsBy groups events by the key of their call's input.
func partitionEventsBy(evs []porcupine.Event, key func(any) string) [][]porcupine.Event {
	byID := map[int]string{}
	idx := map[string]int{}
	var out [][]porcupine.Event
	for _, ev := range evs {
		if ev.Kind == porcupine.CallEvent {
			byID[ev.Id] = key(ev.Value)
		}
		k := byID[ev.Id]
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], ev)
	}
	return out
}

func partitionLogEvents(evs []porcupine.Event) [][]porcupine.Event {
	return partitionEventsBy(evs, func(in any) string { return in.(logInput).tp })
}
