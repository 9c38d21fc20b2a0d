package broker_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/weirmq/weir/runtime/testkit"
	"github.com/weirmq/weir/sm"
)

// TestInteraction runs the stories in testdata/interaction: one broker (or a
// few) on the testkit harness, stepped one event at a time through how its
// log effects end — completions for different partitions in any order,
// refused and unknown outcomes, late completions for replicas that are gone
// — with every effect each step had in the expected output. Regenerate with
// go test ./sm/broker -run TestInteraction -rewrite.
//
// A line starting "deliver" or naming a completed log operation is an input;
// the lines indented under it are what it caused.
//
//	cluster brokers=(101,102)
//	topic name=orders partitions=2 replicas=(101) [min-isr=1]
//	delete-topic name=orders           the fake controller forgets it
//	run d=300ms                        a quiet period: disks complete (unless
//	                                   held), messages are delivered, timers fire
//	hold-disk / release-disk
//	produce to=101 tp=orders/0 [acks=leader] values=(a,b)
//	complete-log node=101 tp=orders/0 [outcome=ok|failed|unknown]
//	complete-log node=101 id=N [outcome=…]
//	                                   a completion handed over past the disk: a
//	                                   store breaking its promises, or one the
//	                                   node no longer awaits
//	deliver [from=N] [to=N] [type=…]   deliver the queued messages that match
//	tick d=100ms                       move the clock, fire due timers
//	restart node=101                   crash (pending operations lost), start
//	                                   the next incarnation from the disk
//	status node=101 / pending node=101 / net
func TestInteraction(t *testing.T) {
	datadriven.Walk(t, "testdata/interaction", func(t *testing.T, path string) {
		it := &brokerInteraction{}
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			it.out.Reset()
			it.run(t, td)
			if it.out.Len() == 0 {
				return "ok\n"
			}
			return it.out.String()
		})
	})
}

type brokerInteraction struct {
	w      *world
	out    strings.Builder
	indent string
	quiet  bool
	reqSeq uint64
	incs   map[sm.NodeID]uint64
}

func (it *brokerInteraction) observe(id sm.NodeID, e testkit.Effect) {
	if it.quiet {
		return
	}
	for _, op := range e.Log {
		fmt.Fprintf(&it.out, "%s%v: %s\n", it.indent, id, testkit.DescribeOp(op))
	}
	e.Log = nil
	for _, line := range testkit.DescribeEffect(e) {
		fmt.Fprintf(&it.out, "%s%s\n", it.indent, line)
	}
}

// under runs f with its effects shown indented under the input line.
func (it *brokerInteraction) under(f func()) {
	it.indent = "  "
	f()
	it.indent = ""
}

func (it *brokerInteraction) run(t *testing.T, td *datadriven.TestData) {
	if td.Cmd != "cluster" && it.w == nil {
		td.Fatalf(t, "no cluster yet")
	}
	w := it.w
	switch td.Cmd {
	case "cluster":
		ids := testkit.ArgNodes(t, td, "brokers")
		it.quiet = true
		it.w = newWorld(t)
		it.w.observe = it.observe
		it.incs = map[sm.NodeID]uint64{}
		for _, id := range ids {
			it.incs[id] = 1
			it.w.start(id, 1, nil)
		}
		it.quiet = false
	case "topic":
		name, parts := testkit.ArgString(t, td, "name"), testkit.ArgInt(t, td, "partitions", 1)
		replicas := testkit.ArgNodes(t, td, "replicas")
		w.topic(name, int32(parts), replicas...)
		c := w.ctrl[ctrl1]
		info := c.topics[name]
		info.Config.MinInSyncReplicas = int32(testkit.ArgInt(t, td, "min-isr", 1))
		c.topics[name] = info
	case "delete-topic":
		name := testkit.ArgString(t, td, "name")
		c := w.ctrl[ctrl1]
		delete(c.topics, name)
		maps.DeleteFunc(c.parts, func(tp sm.TopicPartition, _ sm.PartitionState) bool { return tp.Topic == name })
		c.version++
	case "run":
		it.quiet = true
		w.run(it.duration(t, td))
		it.quiet = false
		fmt.Fprintf(&it.out, "now %v\n", w.now())
	case "hold-disk", "release-disk":
		w.holdDisk = td.Cmd == "hold-disk"
	case "produce":
		it.reqSeq++
		var recs []sm.Record
		for _, v := range testkit.ArgStrings(td, "values") {
			recs = append(recs, sm.Record{Value: []byte(v)})
		}
		req := sm.ProduceRequest{ReqID: it.reqSeq, TP: testkit.ArgTP(t, td, "tp"), Acks: testkit.ArgAcks(t, td), Records: recs}
		to := testkit.ArgNode(t, td, "to")
		fmt.Fprintf(&it.out, "deliver %v→%v %s\n", client, to, testkit.Describe(req))
		it.under(func() { w.step(to, sm.Received{From: client, Msg: req}) })
	case "complete-log":
		it.completeLog(t, td)
	case "deliver":
		it.deliver(t, td)
	case "tick":
		w.clock.Advance(it.duration(t, td))
		for _, id := range w.ids() {
			w.nodes[id].host.Fire()
		}
	case "restart":
		id := testkit.ArgNode(t, td, "node")
		b := w.nodes[id]
		b.host.Crash(0)
		it.incs[id]++
		w.net.DropFunc(testkit.To(id))
		w.startFrom(id, it.incs[id], b.disk.Logs(), sm.Durable{})
	case "status":
		it.status(testkit.ArgNode(t, td, "node"))
	case "pending":
		for _, op := range w.nodes[testkit.ArgNode(t, td, "node")].disk.Pending() {
			fmt.Fprintf(&it.out, "%s\n", testkit.DescribeOp(op))
		}
	case "net":
		for _, e := range w.net.Queue {
			fmt.Fprintf(&it.out, "%v→%v %s\n", e.From, e.To, testkit.Describe(e.Msg))
		}
	default:
		td.Fatalf(t, "unknown command %q", td.Cmd)
	}
}

func (it *brokerInteraction) duration(t *testing.T, td *datadriven.TestData) sm.Duration {
	d, err := time.ParseDuration(testkit.ArgString(t, td, "d"))
	if err != nil {
		td.Fatalf(t, "%s: %v", td.Cmd, err)
	}
	return sm.Duration(d)
}

func (it *brokerInteraction) completeLog(t *testing.T, td *datadriven.TestData) {
	id := testkit.ArgNode(t, td, "node")
	b := it.w.nodes[id]
	outcome := testkit.ArgOutcome(t, td)
	reason := ""
	switch outcome {
	case sm.OutcomeFailed:
		reason = "wal: capacity_bytes exceeded"
	case sm.OutcomeUnknown:
		reason = "wal: fdatasync: input/output error"
	}
	var d sm.LogDone
	if raw := testkit.ArgInt(t, td, "id", 0); raw != 0 {
		d = sm.LogDone{ID: sm.EffectID(raw), Outcome: outcome, Reason: reason}
		fmt.Fprintf(&it.out, "%v: log %d done %v (past the disk)\n", id, d.ID, d.Outcome)
	} else {
		tp := testkit.ArgTP(t, td, "tp")
		var ok bool
		if d, ok = b.disk.CompleteLog(tp, outcome, reason); !ok {
			td.Fatalf(t, "%v has no log operation pending on %v", id, tp)
		}
		fmt.Fprintf(&it.out, "%v: log %d on %v done %v\n", id, d.ID, tp, d.Outcome)
	}
	it.under(func() { b.host.Handle(d) })
	if why := b.host.Stopped(); why != "" {
		fmt.Fprintf(&it.out, "%v stopped: %s\n", id, why)
	}
}

func (it *brokerInteraction) deliver(t *testing.T, td *datadriven.TestData) {
	w := it.w
	from, to := testkit.ArgNodeOr(t, td, "from"), testkit.ArgNodeOr(t, td, "to")
	typ := testkit.ArgStringOr(td, "type", "")
	batch := w.net.TakeFunc(func(e sm.Envelope) bool {
		return (from == sm.NoNode || e.From == from) && (to == sm.NoNode || e.To == to) &&
			(typ == "" || strings.TrimPrefix(fmt.Sprintf("%T", e.Msg), "sm.") == typ)
	})
	for _, e := range batch {
		fmt.Fprintf(&it.out, "deliver %v→%v %s\n", e.From, e.To, testkit.Describe(e.Msg))
		n := w.net.Len()
		it.under(func() { w.deliver(e) })
		if w.ctrl[e.To] != nil {
			for _, r := range w.net.Queue[n:] {
				fmt.Fprintf(&it.out, "  %v→%v %s\n", r.From, r.To, testkit.Describe(r.Msg))
			}
		}
	}
}

func (it *brokerInteraction) status(id sm.NodeID) {
	b := it.w.nodes[id]
	if why := b.fatal(); why != "" {
		fmt.Fprintf(&it.out, "%v stopped: %s\n", id, why)
		return
	}
	fmt.Fprintf(&it.out, "%v incarnation %d registered=%v\n", id, it.incs[id], b.n.Registered())
	for _, s := range b.n.Partitions() {
		fmt.Fprintf(&it.out, "  %v %v epoch=%d leo=%d durable=%d hw=%d isr=%v log=%v", s.TP, s.Role, s.LeaderEpoch, s.LEO, s.DurableLEO, s.HW, s.ISR, logValues(b, s.TP))
		if n := len(b.disk.PendingOn(s.TP)); n > 0 {
			fmt.Fprintf(&it.out, " disk-pending=%d", n)
		}
		fmt.Fprintln(&it.out)
	}
	logs := b.disk.Logs()
	for _, tp := range slices.SortedFunc(maps.Keys(logs), sm.CompareTP) {
		fmt.Fprintf(&it.out, "  disk %v: %d bytes\n", tp, len(logs[tp]))
	}
}
