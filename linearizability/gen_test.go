package linearizability

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"pgregory.net/rapid"
)

// source draws uniform ints in [0, n); rapid (for shrinking) and math/rand
// (for benchmarks) both drive the same generator.
type source interface{ intn(n int) int }

type randSource struct{ r *rand.Rand }

func (s randSource) intn(n int) int { return s.r.IntN(n) }

type rapidSource struct{ t *rapid.T }

func (s rapidSource) intn(n int) int {
	if n <= 1 {
		return 0
	}
	return rapid.IntRange(0, n-1).Draw(s.t, "n")
}

type genConfig struct {
	tps          int
	clients      int
	opsPerClient int
	valuesMax    int // values per produce
	fetchMax     int // records per fetch
	finalChunk   int // records per final fetch
}

// genOp is one generated operation and where it linearizes.
type genOp struct {
	op    Op
	lin   int64 // linearization point, in [Call, Return] (later for Unknown)
	seq   int
	apply bool // a produce that takes effect
	stale bool // a fetch served by the previous leader epoch
}

// tpRef is the reference log of one partition.
type tpRef struct {
	log      []string
	epoch    int64
	epochEnd []int64 // epochEnd[e]: HW when epoch e ended
}

func tpName(i int) string { return "t" + strconv.Itoa(i/2) + "/" + strconv.Itoa(i%2) }

// genHistory returns a valid history of sequential clients over a reference
// log per partition: each op takes effect at a point inside its interval, in
// order of those points, so every checker must accept it. It also returns the
// final reference logs, for mutations.
func genHistory(src source, cfg genConfig) (*History, map[string][]string) {
	var pend []*genOp
	value, maxT := 0, int64(0)
	for c := range cfg.clients {
		t := int64(src.intn(20))
		for range cfg.opsPerClient {
			call := t + 1 + int64(src.intn(30))
			ret := call + int64(src.intn(60))
			g := &genOp{seq: len(pend), apply: true}
			g.op = Op{Client: c, TP: tpName(src.intn(cfg.tps)), Call: call, Return: ret}
			g.lin = call + int64(src.intn(int(ret-call)+1))
			if src.intn(2) == 0 {
				g.op.Kind = Produce
				for n := 1 + src.intn(cfg.valuesMax); n > 0; n-- {
					value++
					g.op.Values = append(g.op.Values, "v"+strconv.Itoa(value))
				}
				switch r := src.intn(20); {
				case r < 10:
					g.op.Durable = true
				case r < 13:
				case r < 15:
					g.op.Outcome = Unknown
					g.lin = call + int64(src.intn(int(ret-call)+60)) // may land after the give-up
				case r < 17:
					g.op.Outcome, g.apply = Unknown, false
				default:
					g.op.Outcome, g.apply = Failed, false
				}
			} else {
				g.op.Kind = Fetch
				g.stale = src.intn(5) == 0
			}
			pend = append(pend, g)
			t, maxT = ret, max(maxT, ret)
		}
	}
	logs := applyInOrder(src, cfg, pend)
	h := &History{}
	for _, g := range pend {
		h.Add(g.op)
	}
	addFinalReads(h, cfg, logs, maxT)
	slices.SortStableFunc(h.Ops, func(a, b Op) int { return cmp.Compare(a.Return, b.Return) })
	return h, logs
}

// applyInOrder runs pend against the reference logs in linearization order,
// filling in offsets, epochs and fetch replies.
func applyInOrder(src source, cfg genConfig, pend []*genOp) map[string][]string {
	order := slices.Clone(pend)
	slices.SortStableFunc(order, func(a, b *genOp) int { return cmp.Compare(a.lin, b.lin) })
	refs := map[string]*tpRef{}
	for _, g := range order {
		r := refs[g.op.TP]
		if r == nil {
			r = &tpRef{epoch: 1, epochEnd: []int64{0}}
			refs[g.op.TP] = r
		}
		if src.intn(30) == 0 { // leader change
			r.epochEnd = append(r.epochEnd, int64(len(r.log)))
			r.epoch++
		}
		op := &g.op
		switch {
		case op.Kind == Produce && g.apply:
			op.Offset, op.Epoch = int64(len(r.log)), r.epoch
			r.log = append(r.log, op.Values...)
		case op.Kind == Fetch:
			op.Epoch, op.HW = r.epoch, int64(len(r.log))
			if g.stale && r.epoch > 1 {
				op.Epoch, op.HW = r.epoch-1, r.epochEnd[r.epoch-1]
			}
			from := src.intn(int(op.HW) + 1)
			n := src.intn(min(cfg.fetchMax, int(op.HW)-from) + 1)
			op.FetchOffset = int64(from)
			for k := range n {
				op.Records = append(op.Records, Rec{Offset: int64(from + k), Value: r.log[from+k]})
			}
		}
	}
	logs := map[string][]string{}
	for tp, r := range refs {
		logs[tp] = r.log
	}
	return logs
}

// addFinalReads appends, after every other op, chunked Final reads of each
// partition's whole log by a dedicated client, from a leader epoch above all.
func addFinalReads(h *History, cfg genConfig, logs map[string][]string, after int64) {
	t := after + 10
	for _, tp := range slices.Sorted(maps.Keys(logs)) {
		log := logs[tp]
		for from := 0; ; from += cfg.finalChunk {
			op := Op{Client: cfg.clients, Kind: Fetch, TP: tp, Call: t, Return: t + 5, Final: true,
				FetchOffset: int64(from), HW: int64(len(log)), Epoch: 1 << 20}
			for k := from; k < min(from+cfg.finalChunk, len(log)); k++ {
				op.Records = append(op.Records, Rec{Offset: int64(k), Value: log[k]})
			}
			h.Add(op)
			t += 10
			if from+cfg.finalChunk >= len(log) {
				break
			}
		}
	}
}

func dump(h *History) string {
	var b strings.Builder
	for i := range h.Ops {
		fmt.Fprintf(&b, "  op#%d %s\n", i, h.Ops[i].String())
	}
	return b.String()
}
