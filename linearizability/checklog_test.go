package linearizability

import (
	"slices"
	"strings"
	"testing"
)

// prod builds a produce op; off and ep matter only for OK outcomes.
func prod(c int, tp string, call, ret int64, out Outcome, off, ep int64, durable bool, vals ...string) Op {
	return Op{Client: c, Kind: Produce, TP: tp, Call: call, Return: ret, Outcome: out,
		Values: vals, Offset: off, Epoch: ep, Durable: durable}
}

// fetch builds an OK fetch reply; FetchOffset is the first record's offset.
func fetch(c int, tp string, call, ret, hw, ep int64, final bool, recs ...Rec) Op {
	op := Op{Client: c, Kind: Fetch, TP: tp, Call: call, Return: ret, Outcome: OK,
		Records: recs, HW: hw, Epoch: ep, Final: final}
	if len(recs) > 0 {
		op.FetchOffset = recs[0].Offset
	}
	return op
}

// refused is a fetch at offset off refused OFFSET_OUT_OF_RANGE by a reply
// with high watermark hw at epoch ep.
func refused(c int, tp string, call, ret, off, hw, ep int64) Op {
	return Op{Client: c, Kind: Fetch, TP: tp, Call: call, Return: ret, Outcome: Failed,
		FetchOffset: off, HW: hw, Epoch: ep, Err: ErrOffsetOutOfRange}
}

// recs returns contiguous records from offset from.
func recs(from int64, vals ...string) []Rec {
	out := make([]Rec, len(vals))
	for i, v := range vals {
		out[i] = Rec{Offset: from + int64(i), Value: v}
	}
	return out
}

func topicOp(c int, kind Kind, name string, call, ret int64, out Outcome, err string) Op {
	return Op{Client: c, Kind: kind, TP: name, Call: call, Return: ret, Outcome: out, Err: err, Partitions: 1}
}

// validOps is a history that breaks no promise: durable, non-durable, Unknown
// (applied) and Failed produces, a stale read from an older epoch, final reads.
func validOps() []Op {
	return []Op{
		topicOp(9, CreateTopic, "t", 0, 1, OK, ""),
		prod(0, "t/0", 2, 10, OK, 0, 1, true, "a", "b"),
		prod(1, "t/0", 5, 15, OK, 2, 1, true, "c"),
		prod(2, "t/0", 12, 30, Unknown, 0, 0, false, "d"),
		prod(0, "t/0", 20, 25, OK, 4, 2, false, "e"),
		prod(1, "t/0", 20, 22, Failed, 0, 0, true, "x"),
		fetch(3, "t/0", 16, 18, 3, 1, false, recs(0, "a", "b")...),
		fetch(3, "t/0", 26, 28, 5, 2, false, recs(3, "d", "e")...),
		fetch(3, "t/0", 29, 31, 3, 1, false, recs(1, "b", "c")...), // deposed leader, older prefix
		prod(4, "t/1", 3, 4, OK, 0, 1, true, "p"),
		fetch(9, "t/0", 100, 101, 5, 2, true, recs(0, "a", "b", "c")...),
		fetch(9, "t/0", 102, 103, 5, 2, true, recs(3, "d", "e")...),
		fetch(9, "t/1", 104, 105, 1, 1, true, recs(0, "p")...),
	}
}

// TestCheckLog checks that each violation class is reported with its kind,
// and that what the system does not promise is not.
func TestCheckLog(t *testing.T) {
	cases := []struct {
		name string
		ops  []Op
		want []string // kinds, sorted; nil = OK
	}{
		{"valid", validOps(), nil},
		{"lost durable record", []Op{
			prod(0, "t/0", 0, 10, OK, 0, 1, true, "a"),
			prod(0, "t/0", 20, 30, OK, 1, 1, true, "b"),
			fetch(9, "t/0", 100, 101, 1, 1, true, recs(0, "a")...),
		}, []string{ViolationLost}},
		{"durable record overwritten in a read", []Op{
			prod(0, "t/0", 0, 10, OK, 0, 1, true, "a"),
			prod(1, "t/0", 0, 10, Unknown, 0, 0, false, "b"),
			fetch(2, "t/0", 20, 30, 1, 2, false, recs(0, "b")...),
		}, []string{ViolationLost}},
		{"lost non-durable record not flagged", []Op{
			prod(0, "t/0", 0, 10, OK, 0, 1, true, "a"),
			prod(0, "t/0", 20, 30, OK, 1, 1, false, "b"),
			prod(0, "t/0", 40, 50, OK, 1, 2, true, "c"),
			fetch(9, "t/0", 100, 101, 2, 2, true, recs(0, "a", "c")...),
		}, nil},
		{"two reads disagree", []Op{
			prod(0, "t/0", 0, 10, Unknown, 0, 0, false, "a"),
			prod(1, "t/0", 0, 10, Unknown, 0, 0, false, "b"),
			fetch(2, "t/0", 20, 30, 1, 1, false, recs(0, "a")...),
			fetch(2, "t/0", 40, 50, 1, 1, false, recs(0, "b")...),
		}, []string{ViolationReadDisagree}},
		{"duplicate value", []Op{
			prod(0, "t/0", 0, 10, Unknown, 0, 0, false, "a"),
			fetch(9, "t/0", 100, 101, 2, 1, true, recs(0, "a", "a")...),
		}, []string{ViolationDuplicate}},
		{"failed produce visible", []Op{
			prod(0, "t/0", 0, 10, Failed, 0, 0, true, "a"),
			fetch(9, "t/0", 100, 101, 1, 1, true, recs(0, "a")...),
		}, []string{ViolationPhantom}},
		{"value never produced", []Op{
			fetch(9, "t/0", 100, 101, 1, 1, true, recs(0, "zz")...),
		}, []string{ViolationPhantom}},
		{"value produced to another partition", []Op{
			prod(0, "t/1", 0, 10, Unknown, 0, 0, false, "a"),
			fetch(9, "t/0", 100, 101, 1, 1, true, recs(0, "a")...),
		}, []string{ViolationPhantom}},
		{"read before the produce was invoked", []Op{
			fetch(1, "t/0", 0, 5, 1, 1, false, recs(0, "a")...),
			prod(0, "t/0", 10, 20, Unknown, 0, 0, false, "a"),
		}, []string{ViolationFutureRead}},
		{"gap inside one reply", []Op{
			prod(0, "t/0", 0, 10, Unknown, 0, 0, false, "a", "b", "c"),
			fetch(9, "t/0", 100, 101, 3, 1, true, Rec{0, "a"}, Rec{2, "c"}),
		}, []string{ViolationGap}},
		{"reply starts after the requested offset", []Op{
			prod(0, "t/0", 0, 10, Unknown, 0, 0, false, "a", "b"),
			func() Op {
				op := fetch(9, "t/0", 100, 101, 2, 1, false, recs(1, "b")...)
				op.FetchOffset = 0
				return op
			}(),
		}, []string{ViolationGap}},
		{"record at the hw", []Op{
			prod(0, "t/0", 0, 10, Unknown, 0, 0, false, "a"),
			fetch(9, "t/0", 100, 101, 0, 1, false, recs(0, "a")...),
		}, []string{ViolationAboveHW}},
		{"committed offset refused within the reply's own hw", []Op{
			refused(1, "t/0", 100, 101, 2, 5, 1),
		}, []string{ViolationRefusedRead}},
		{"committed offset refused after a read saw it committed", []Op{
			prod(0, "t/0", 0, 10, Unknown, 0, 0, false, "a", "b", "c"),
			fetch(1, "t/0", 20, 30, 3, 1, false, recs(0, "a", "b", "c")...),
			refused(1, "t/0", 40, 41, 3, 2, 1),
		}, []string{ViolationHWBackwards, ViolationRefusedRead}},
		{"a refusal by a deposed leader's older epoch binds nothing", []Op{
			prod(0, "t/0", 0, 10, Unknown, 0, 0, false, "a", "b", "c"),
			fetch(1, "t/0", 20, 30, 3, 2, false, recs(0, "a", "b", "c")...),
			refused(1, "t/0", 40, 41, 3, 2, 1),
		}, nil},
		{"a refusal beyond the hw is fine", []Op{
			prod(0, "t/0", 0, 10, Unknown, 0, 0, false, "a"),
			fetch(1, "t/0", 20, 30, 1, 1, false, recs(0, "a")...),
			refused(1, "t/0", 40, 41, 2, 1, 1),
		}, nil},
		{"acked value at another offset", []Op{
			prod(0, "t/0", 0, 10, OK, 3, 1, false, "a"),
			fetch(9, "t/0", 100, 101, 1, 1, true, recs(0, "a")...),
		}, []string{ViolationOffsetMismatch}},
		{"batch split", []Op{
			prod(0, "t/0", 0, 10, Unknown, 0, 0, false, "a", "b"),
			prod(1, "t/0", 0, 10, Unknown, 0, 0, false, "c"),
			fetch(9, "t/0", 100, 101, 3, 1, true, recs(0, "a", "c", "b")...),
		}, []string{ViolationBatchSplit}},
		{"one offset acked to two durable produces", []Op{
			prod(0, "t/0", 0, 10, OK, 0, 1, true, "a"),
			prod(1, "t/0", 5, 15, OK, 0, 1, true, "b"),
			fetch(9, "t/0", 100, 101, 1, 1, true, recs(0, "a")...),
		}, []string{ViolationDoubleClaim, ViolationLost}},
		{"real-time order", []Op{
			prod(0, "t/0", 0, 10, OK, 1, 1, true, "a"),
			prod(0, "t/0", 20, 30, OK, 0, 1, true, "b"),
			fetch(9, "t/0", 100, 101, 2, 1, true, recs(0, "b", "a")...),
		}, []string{ViolationRealTime}},
		{"real-time order: non-durable ack from the same epoch", []Op{
			prod(0, "t/0", 0, 10, OK, 0, 2, true, "a", "b"),
			prod(1, "t/0", 20, 30, OK, 1, 2, false, "c"),
		}, []string{ViolationRealTime}},
		{"real-time order: non-durable ack from an older epoch not flagged", []Op{
			prod(0, "t/0", 0, 10, OK, 0, 2, true, "a", "b"),
			prod(1, "t/0", 20, 30, OK, 1, 1, false, "c"),
		}, nil},
		{"real-time order: a non-durable earlier ack binds nothing", []Op{
			prod(0, "t/0", 0, 10, OK, 5, 1, false, "a"),
			prod(1, "t/0", 20, 30, OK, 0, 2, true, "b"),
		}, nil},
		{"hw backwards in the same epoch", []Op{
			fetch(0, "t/0", 0, 10, 5, 2, false),
			fetch(1, "t/0", 20, 30, 3, 2, false),
		}, []string{ViolationHWBackwards}},
		{"hw lower from an older epoch not flagged", []Op{
			fetch(0, "t/0", 0, 10, 5, 2, false),
			fetch(1, "t/0", 20, 30, 3, 1, false),
		}, nil},
		{"concurrent fetches may see hws in any order", []Op{
			fetch(0, "t/0", 0, 10, 5, 2, false),
			fetch(1, "t/0", 10, 30, 3, 2, false),
		}, nil},
		{"recreated topic skipped", []Op{
			topicOp(9, CreateTopic, "t", 0, 1, OK, ""),
			prod(0, "t/0", 2, 3, Unknown, 0, 0, false, "a"),
			fetch(0, "t/0", 4, 5, 1, 1, false, recs(0, "a")...),
			topicOp(9, DeleteTopic, "t", 6, 7, OK, ""),
			topicOp(9, CreateTopic, "t", 8, 9, OK, ""),
			prod(0, "t/0", 10, 11, Unknown, 0, 0, false, "b"),
			fetch(0, "t/0", 12, 13, 1, 1, false, recs(0, "b")...),
		}, nil},
		{"value produced twice by the recorder", []Op{
			prod(0, "t/0", 0, 10, Unknown, 0, 0, false, "a"),
			prod(1, "t/0", 0, 10, Unknown, 0, 0, false, "a"),
		}, []string{ViolationBadHistory}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &History{Ops: tc.ops}
			r := CheckLog(h)
			var got []string
			for k := range r.Counts {
				got = append(got, k)
			}
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if testing.Verbose() {
				t.Log(r)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("kinds = %v, want %v\n%s\nhistory:\n%s", got, want, r, dump(h))
			}
			if r.OK() != (len(want) == 0) {
				t.Fatalf("OK() = %v with kinds %v", r.OK(), got)
			}
			for _, v := range r.Violations {
				if v.Msg == "" || len(v.Ops) == 0 || v.TP == "" {
					t.Fatalf("violation lacks detail: %+v", v)
				}
			}
		})
	}
}

// TestCheckLogCounters checks that the report says how much it checked.
func TestCheckLogCounters(t *testing.T) {
	h := &History{Ops: validOps()}
	r := CheckLog(h)
	if !r.OK() || r.Err() != nil {
		t.Fatalf("valid history: %s", r)
	}
	if r.Ops != len(h.Ops) || r.Produces != 6 || r.Fetches != 6 || r.TPs != 2 || r.Records != 12 {
		t.Fatalf("counters: %+v", r)
	}
	if r.DurableVerified != 4 || r.DurableUnverified != 0 {
		t.Fatalf("durable verified %d unverified %d, want 4 and 0", r.DurableVerified, r.DurableUnverified)
	}
	h.Ops = append(h.Ops[:len(h.Ops):len(h.Ops)], topicOp(9, DeleteTopic, "t", 200, 201, Unknown, ""),
		topicOp(9, CreateTopic, "t", 202, 203, OK, ""))
	if r := CheckLog(h); !slices.Equal(r.SkippedTPs, []string{"t/0", "t/1"}) || r.TPs != 0 || !r.OK() {
		t.Fatalf("recreated topic: skipped %v, tps %d", r.SkippedTPs, r.TPs)
	}
}

// TestCheckLogCapsViolations checks that a systematic bug does not flood the
// report, while Counts keeps the total.
func TestCheckLogCapsViolations(t *testing.T) {
	h := &History{}
	for i := range 100 {
		h.Add(fetch(0, "t/0", int64(i), int64(i), 1, 1, false, recs(0, "zz"+string(rune('a'+i%26))+strings.Repeat("x", i))...))
	}
	r := CheckLog(h)
	if r.Counts[ViolationPhantom] != 100 || len(r.Violations) > ViolationsPerKindMax*len(r.Counts) {
		t.Fatalf("counts %v, kept %d", r.Counts, len(r.Violations))
	}
	if !strings.Contains(r.String(), "phantom=100") {
		t.Fatalf("summary lacks the total: %s", r)
	}
}

// TestCheckLogRetention: records retention deleted (below the log start the
// final reads name) are not lost, a fetch below its reply's log start is
// rightly refused, and a record lost above the log start is still found.
func TestCheckLogRetention(t *testing.T) {
	below := refused(9, "t/0", 100, 101, 0, 5, 1)
	below.LogStart, below.Final = 3, true
	final := fetch(9, "t/0", 102, 103, 5, 1, true, recs(3, "d", "e")...)
	final.LogStart = 3
	stale := refused(3, "t/0", 50, 51, 1, 4, 1) // a consumer behind retention
	stale.LogStart = 2
	ops := []Op{
		topicOp(9, CreateTopic, "t", 0, 1, OK, ""),
		prod(0, "t/0", 2, 10, OK, 0, 1, true, "a", "b", "c"),
		prod(0, "t/0", 11, 12, OK, 3, 1, true, "d", "e"),
		stale, below, final,
	}
	r := CheckLog(&History{Ops: ops})
	if !r.OK() || r.DurableDeleted != 3 || r.DurableVerified != 2 {
		t.Fatalf("retention history: %s (deleted %d, verified %d)", r, r.DurableDeleted, r.DurableVerified)
	}
	// The same final reads at hw 4 lose "e", above the log start.
	ops[5] = fetch(9, "t/0", 102, 103, 4, 1, true, recs(3, "d")...)
	ops[5].LogStart = 3
	if r := CheckLog(&History{Ops: ops}); r.Counts[ViolationLost] != 1 {
		t.Fatalf("a loss above the log start: %s", r)
	}
	// A refusal at or above the log start and within the hw is still wrong.
	ops[3].FetchOffset = 2
	if r := CheckLog(&History{Ops: ops}); r.Counts[ViolationRefusedRead] == 0 {
		t.Fatalf("a refused committed offset above the log start: %s", r)
	}
}

// After History.LossAt (every copy but the object store's lost), the high
// watermark may fall back to the uploaded end: fetches after it are ordered
// only among themselves. Before it, and among fetches after it, the order
// still binds.
func TestCheckLogLossAt(t *testing.T) {
	ops := []Op{
		fetch(0, "t/0", 0, 10, 5, 2, false),
		fetch(1, "t/0", 20, 30, 3, 3, true),
	}
	if r := CheckLog(&History{Ops: ops}); r.OK() {
		t.Fatal("hw 5 then 3 at a newer epoch was not flagged without a loss")
	}
	if r := CheckLog(&History{Ops: ops, LossAt: 15}); !r.OK() {
		t.Fatalf("hw falling back after the loss was flagged: %v", r)
	}
	ops = append(ops, fetch(1, "t/0", 40, 50, 2, 3, true))
	if r := CheckLog(&History{Ops: ops, LossAt: 15}); r.OK() {
		t.Fatal("hw going back among fetches after the loss was not flagged")
	}
}
