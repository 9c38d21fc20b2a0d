package linearizability

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/anishathalye/porcupine"
	"pgregory.net/rapid"
)

// mutation breaks a valid history in one way that CheckLog must report with
// kind want; porcupine says whether LogModel must find it illegal too.
type mutation struct {
	name      string
	want      string // "" = any violation
	porcupine bool
	// pick returns the candidate op indices; apply breaks h at one of them.
	pick  func(h *History, logs map[string][]string) []int
	apply func(t *rapid.T, h *History, logs map[string][]string, i int)
}

func okFetches(h *History, minRecs int) []int {
	var out []int
	for i, op := range h.Ops {
		if op.Kind == Fetch && op.Outcome == OK && len(op.Records) >= minRecs {
			out = append(out, i)
		}
	}
	return out
}

func okProduces(h *History, durable bool) []int {
	var out []int
	for i, op := range h.Ops {
		if op.Kind == Produce && op.Outcome == OK && (op.Durable || !durable) {
			out = append(out, i)
		}
	}
	return out
}

// orderedPairs returns i*len+j for ops i, j of the same partition with i
// returning before j is invoked, both matching sel.
func orderedPairs(h *History, sel func(*Op) bool) []int {
	var out []int
	for i := range h.Ops {
		for j := range h.Ops {
			a, b := &h.Ops[i], &h.Ops[j]
			if sel(a) && sel(b) && a.TP == b.TP && a.Return < b.Call {
				out = append(out, i*len(h.Ops)+j)
			}
		}
	}
	return out
}

var mutations = []mutation{
	{name: "swap-value", want: ViolationDuplicate, porcupine: true,
		pick: func(h *History, logs map[string][]string) []int {
			return slices.DeleteFunc(okFetches(h, 1), func(i int) bool { return len(logs[h.Ops[i].TP]) < 2 })
		},
		apply: func(t *rapid.T, h *History, logs map[string][]string, i int) {
			op := &h.Ops[i]
			j := rapid.IntRange(0, len(op.Records)-1).Draw(t, "record")
			log := logs[op.TP]
			y := rapid.IntRange(0, len(log)-2).Draw(t, "other")
			if int64(y) >= op.Records[j].Offset {
				y++
			}
			op.Records[j].Value = log[y]
		}},
	{name: "shift-produce", want: ViolationOffsetMismatch,
		pick: func(h *History, _ map[string][]string) []int { return okProduces(h, false) },
		apply: func(t *rapid.T, h *History, _ map[string][]string, i int) {
			h.Ops[i].Offset++
		}},
	{name: "shift-read",
		pick: func(h *History, _ map[string][]string) []int { return okFetches(h, 1) },
		apply: func(t *rapid.T, h *History, _ map[string][]string, i int) {
			op := &h.Ops[i]
			op.FetchOffset++
			for k := range op.Records {
				op.Records[k].Offset++
			}
		}},
	{name: "drop-middle", want: ViolationGap,
		pick: func(h *History, _ map[string][]string) []int { return okFetches(h, 3) },
		apply: func(t *rapid.T, h *History, _ map[string][]string, i int) {
			op := &h.Ops[i]
			k := rapid.IntRange(1, len(op.Records)-2).Draw(t, "drop")
			op.Records = slices.Delete(slices.Clone(op.Records), k, k+1)
		}},
	{name: "phantom", want: ViolationPhantom,
		pick: func(h *History, _ map[string][]string) []int { return okFetches(h, 1) },
		apply: func(t *rapid.T, h *History, _ map[string][]string, i int) {
			op := &h.Ops[i]
			op.Records[rapid.IntRange(0, len(op.Records)-1).Draw(t, "record")].Value = "never-produced"
		}},
	{name: "lose-durable", want: ViolationLost, porcupine: true,
		pick: func(h *History, _ map[string][]string) []int { return okProduces(h, true) },
		apply: func(t *rapid.T, h *History, _ map[string][]string, i int) {
			p := &h.Ops[i]
			for k := range h.Ops {
				if op := &h.Ops[k]; op.Final && op.TP == p.TP {
					for r := range op.Records {
						if op.Records[r].Offset == p.Offset {
							op.Records[r].Value = "overwriter"
						}
					}
				}
			}
		}},
	{name: "reorder-acks", want: ViolationRealTime, porcupine: true,
		pick: func(h *History, _ map[string][]string) []int {
			return orderedPairs(h, func(op *Op) bool { return op.Kind == Produce && op.Outcome == OK && op.Durable })
		},
		apply: func(t *rapid.T, h *History, _ map[string][]string, ij int) {
			a, b := &h.Ops[ij/len(h.Ops)], &h.Ops[ij%len(h.Ops)]
			a.Offset, b.Offset = b.Offset, a.Offset
		}},
	{name: "hw-back", want: ViolationHWBackwards,
		pick: func(h *History, _ map[string][]string) []int {
			return slices.DeleteFunc(orderedPairs(h, func(op *Op) bool { return op.Kind == Fetch && op.Outcome == OK }),
				func(ij int) bool {
					a, b := &h.Ops[ij/len(h.Ops)], &h.Ops[ij%len(h.Ops)]
					return b.Epoch < a.Epoch || a.HW == 0
				})
		},
		apply: func(t *rapid.T, h *History, _ map[string][]string, ij int) {
			a, b := &h.Ops[ij/len(h.Ops)], &h.Ops[ij%len(h.Ops)]
			b.HW = a.HW - 1
			b.Records = slices.DeleteFunc(slices.Clone(b.Records), func(r Rec) bool { return r.Offset >= b.HW })
		}},
}

// TestGeneratedHistories checks both checkers accept random valid histories
// of concurrent clients, and that CheckLog reports each mutation of them.
func TestGeneratedHistories(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := genConfig{
			tps:          rapid.IntRange(1, 3).Draw(t, "tps"),
			clients:      rapid.IntRange(2, 5).Draw(t, "clients"),
			opsPerClient: rapid.IntRange(4, 30).Draw(t, "opsPerClient"),
			valuesMax:    3,
			fetchMax:     5,
			finalChunk:   rapid.IntRange(1, 8).Draw(t, "finalChunk"),
		}
		h, logs := genHistory(rapidSource{t}, cfg)
		if r := CheckLog(h); !r.OK() {
			t.Fatalf("CheckLog rejects a valid history: %s\n%s", r, dump(h))
		}
		if r, err := CheckPorcupine(h, testTimeout, "", "prop"); err != nil || !r.OK() || r.Unknown() {
			t.Fatalf("porcupine rejects a valid history: %s (err %v)\n%s", r.String(), err, dump(h))
		}
		checkSameVerdict(t, h)

		var names []string
		for _, m := range mutations {
			if len(m.pick(h, logs)) > 0 {
				names = append(names, m.name)
			}
		}
		if len(names) == 0 {
			return
		}
		name := rapid.SampledFrom(names).Draw(t, "mutation")
		m := mutations[slices.IndexFunc(mutations, func(m mutation) bool { return m.name == name })]
		m.apply(t, h, logs, rapid.SampledFrom(m.pick(h, logs)).Draw(t, "target"))
		r := CheckLog(h)
		if r.OK() || (m.want != "" && r.Counts[m.want] == 0) {
			t.Fatalf("mutation %s: want %q, got %s\n%s", name, m.want, r, dump(h))
		}
		if m.porcupine {
			if pr, err := CheckPorcupine(h, testTimeout, "", "prop"); err != nil || pr.OK() {
				t.Fatalf("mutation %s: porcupine %s (err %v)\n%s", name, pr.String(), err, dump(h))
			}
		}
		checkSameVerdict(t, h)
	})
}

// naiveLogModel is LogModel as first specified: fetches at their real times
// and produces constrained only by "offset > top". LogOperations moves reads
// and logStep adds the next-base rule to prune porcupine's search; both are
// claimed not to change any verdict, which checkSameVerdict tests.
var naiveLogModel = func() porcupine.Model {
	m := LogModel
	m.Step = func(st, in, out any) (bool, any) {
		s, i, o := st.(*logState), in.(logInput), out.(logOutput)
		if i.kind != Produce {
			ns, ok := s.assign(i.tab, o.offs, o.rvids)
			return ok, ns
		}
		if o.offset <= s.top {
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
	return m
}()

func checkSameVerdict(t *rapid.T, h *History) {
	ops := LogOperations(h)
	fast := porcupine.CheckOperations(LogModel, ops)
	for k := range ops {
		in := ops[k].Input.(logInput)
		ops[k].Call, ops[k].Return = in.call, in.ret
	}
	if naive := porcupine.CheckOperations(naiveLogModel, ops); naive != fast {
		t.Fatalf("LogModel says linearizable=%v, the naive model %v\n%s", fast, naive, dump(h))
	}
}

// TestGeneratedHistoryLarge checks a 10k-op generated history end to end.
func TestGeneratedHistoryLarge(t *testing.T) {
	h, _ := genHistory(randSource{rand.New(rand.NewPCG(1, 2))},
		genConfig{tps: 4, clients: 8, opsPerClient: 1250, valuesMax: 3, fetchMax: 10, finalChunk: 64})
	if r := CheckLog(h); !r.OK() || r.DurableVerified == 0 {
		t.Fatalf("CheckLog: %s", r)
	}
	r, err := CheckPorcupine(h, testTimeout, "", "large")
	if err != nil || !r.OK() || r.Unknown() {
		t.Fatalf("%s (err %v)", r.String(), err)
	}
}

// TestLogModelPruningKeepsVerdicts checks, on small random histories (near
// valid: offsets mostly follow on, reads mostly show the acknowledged values),
// that moving reads and the next-base rule change no verdict.
func TestLogModelPruningKeepsVerdicts(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := &History{}
		var values []string
		claimed := map[int64]string{}
		next := int64(0)
		for k := range rapid.IntRange(1, 10).Draw(t, "ops") {
			call := int64(4*k + rapid.IntRange(0, 20).Draw(t, "call"))
			ret := call + int64(rapid.IntRange(0, 15).Draw(t, "dur"))
			if len(values) == 0 || rapid.Bool().Draw(t, "produce") {
				base := next
				if rapid.IntRange(0, 4).Draw(t, "jitter") == 0 {
					base = max(0, base+int64(rapid.SampledFrom([]int{-1, 1}).Draw(t, "by")))
				}
				var vals []string
				for j := range rapid.IntRange(1, 2).Draw(t, "n") {
					v := "v" + string(rune('a'+k)) + string(rune('0'+j))
					vals = append(vals, v)
					claimed[base+int64(j)] = v
				}
				values = append(values, vals...)
				next = base + int64(len(vals))
				h.Add(prod(k, "t/0", call, ret, OK, base, 1, true, vals...))
				continue
			}
			from := int64(rapid.IntRange(0, int(next)).Draw(t, "from"))
			var rs []Rec
			for j := range rapid.IntRange(1, 3).Draw(t, "n") {
				v, ok := claimed[from+int64(j)]
				if !ok || rapid.IntRange(0, 5).Draw(t, "wrong") == 0 {
					v = rapid.SampledFrom(values).Draw(t, "value")
				}
				rs = append(rs, Rec{Offset: from + int64(j), Value: v})
			}
			h.Add(fetch(k, "t/0", call, ret, from+4, 1, false, rs...))
		}
		checkSameVerdict(t, h)
	})
}
