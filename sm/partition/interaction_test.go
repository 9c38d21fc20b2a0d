package partition

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/weirmq/weir/runtime/testkit"
	"github.com/weirmq/weir/sm"
)

// TestInteraction runs the stories in testdata/interaction, in the manner of
// etcd raft's interaction tests: each file steps the replicas of one
// partition, one event at a time, through a protocol path (divergence, ISR
// shrink and expand, epoch fencing, min-ISR rejection), and the expected
// output shows every effect each step had and, on request, every replica's
// state. A line starting "deliver" or naming a completed log operation is
// an input; the lines indented under it are what it caused; other lines
// are what the command itself caused. Regenerate with go test ./sm/partition -run TestInteraction -rewrite.
//
// Commands (node IDs are numbers; 101 is the first replica):
//
//	cluster replicas=3 min-isr=2     start replicas 101.. with 101 leading epoch 1
//	produce to=101 acks=all values=(a,b)
//	fetch node=101 offset=0 epoch=1  a consumer fetch, answered at once
//	replica-fetch from=N to=N epoch=E offset=O [last-epoch=L]
//	                                 a replica fetch, handed over at once
//	deliver [from=N] [to=N] [type=ReplicaFetch] [n=K]
//	                                 deliver the queued messages that match, in order
//	drop [from=N] [to=N] [type=…]    lose them
//	complete-log node=N [n=K] [outcome=ok|failed]
//	tick d=500ms                     move the clock, fire due timers
//	stabilize                        complete and deliver everything, no time passes
//	elect leader=N [tell=(N,…)]      the controller moves leadership (new epoch)
//	                                 and tells every replica (or those listed)
//	metadata node=N                  the controller's current state reaches N
//	isolate node=N / heal node=N     cut / restore every link of N
//	crash node=N [tear=B]            restart N from its disk
//	status / net / log node=N
func TestInteraction(t *testing.T) {
	datadriven.Walk(t, "testdata/interaction", func(t *testing.T, path string) {
		var it interaction
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			it.out.Reset()
			it.run(t, td)
			return it.out.String()
		})
	})
}

type interaction struct {
	c   *cluster
	out strings.Builder
	// indent prefixes effect lines: the effects of a delivered message are
	// shown under it.
	indent string
}

func (it *interaction) observe(id sm.NodeID, e testkit.Effect) {
	for _, op := range e.Log {
		fmt.Fprintf(&it.out, "%s%v: %s\n", it.indent, id, testkit.DescribeOp(op))
	}
	e.Log = nil
	for _, line := range testkit.DescribeEffect(e) {
		fmt.Fprintf(&it.out, "%s%s\n", it.indent, line)
	}
}

func (it *interaction) run(t *testing.T, td *datadriven.TestData) {
	if td.Cmd != "cluster" && it.c == nil {
		td.Fatalf(t, "no cluster yet")
	}
	c := it.c
	switch td.Cmd {
	case "cluster":
		n, minISR := testkit.ArgInt(t, td, "replicas", 3), testkit.ArgInt(t, td, "min-isr", 1)
		it.c = newClusterWith(t, n, int32(minISR), it.observe)
		it.status()
	case "produce":
		id := c.produce(testkit.ArgNode(t, td, "to"), testkit.ArgAcks(t, td), testkit.ArgStrings(td, "values")...)
		fmt.Fprintf(&it.out, "(produce req=%d)\n", id)
	case "fetch":
		c.consume(testkit.ArgNode(t, td, "node"), sm.Offset(testkit.ArgInt(t, td, "offset", 0)), sm.Epoch(testkit.ArgInt(t, td, "epoch", 0))) // its answer shows as an effect
	case "replica-fetch":
		from, to := testkit.ArgNode(t, td, "from"), testkit.ArgNode(t, td, "to")
		req := sm.ReplicaFetchRequest{TP: testTP, Replica: from, Incarnation: c.reps[from].inc(), LeaderEpoch: sm.Epoch(testkit.ArgInt(t, td, "epoch", 0)),
			FetchOffset: sm.Offset(testkit.ArgInt(t, td, "offset", 0)), LastFetchedEpoch: sm.Epoch(testkit.ArgInt(t, td, "last-epoch", 0))}
		fmt.Fprintf(&it.out, "deliver %v→%v %s\n", from, to, testkit.Describe(req))
		it.indent = "  "
		c.ask(from, to, req)
		it.indent = ""
	case "deliver":
		it.deliver(t, td)
	case "drop":
		match := it.matcher(t, td)
		for _, e := range c.net.TakeFunc(match) {
			fmt.Fprintf(&it.out, "dropped %v→%v %s\n", e.From, e.To, testkit.Describe(e.Msg))
		}
	case "complete-log":
		it.completeLog(t, td)
	case "tick":
		d, err := time.ParseDuration(testkit.ArgString(t, td, "d"))
		if err != nil {
			td.Fatalf(t, "tick: %v", err)
		}
		c.advance(sm.Duration(d))
		fmt.Fprintf(&it.out, "now %v\n", c.now())
	case "stabilize":
		it.stabilize()
	case "elect":
		it.elect(t, td)
	case "metadata":
		c.metadata(testkit.ArgNode(t, td, "node"))
	case "isolate", "heal":
		c.isolated[testkit.ArgNode(t, td, "node")] = td.Cmd == "isolate"
		fmt.Fprintf(&it.out, "ok\n")
	case "crash":
		c.crash(testkit.ArgNode(t, td, "node"), testkit.ArgInt(t, td, "tear", 0))
	case "status":
		it.status()
	case "net":
		for _, e := range c.net.Queue {
			fmt.Fprintf(&it.out, "%v→%v %s\n", e.From, e.To, testkit.Describe(e.Msg))
		}
	case "log":
		fmt.Fprintf(&it.out, "%v\n", values(c.reps[testkit.ArgNode(t, td, "node")]))
	default:
		td.Fatalf(t, "unknown command %q", td.Cmd)
	}
	if it.out.Len() == 0 {
		it.out.WriteString("ok\n")
	}
}

// elect is a clean election; tell= limits who hears of it at once (the
// others keep their view until metadata reaches them).
func (it *interaction) elect(t *testing.T, td *datadriven.TestData) {
	c := it.c
	arg, ok := td.Arg("tell")
	if !ok {
		c.elect(testkit.ArgNode(t, td, "leader"))
		return
	}
	c.st.Leader = testkit.ArgNode(t, td, "leader")
	c.st.LeaderEpoch++
	c.st.PartitionEpoch++
	c.st.ISR = slices.Clone(c.st.ISR)
	for _, v := range arg.Vals {
		n, err := strconv.Atoi(v)
		if err != nil {
			td.Fatalf(t, "tell: %v", err)
		}
		c.metadata(sm.NodeID(n))
	}
}

// deliver hands the matching queued messages to their destinations, in
// queue order; what they cause is shown under each, and queued behind.
func (it *interaction) deliver(t *testing.T, td *datadriven.TestData) {
	c, match, limit := it.c, it.matcher(t, td), testkit.ArgInt(t, td, "n", -1)
	batch := c.net.TakeFunc(match)
	if limit >= 0 && len(batch) > limit {
		c.net.Queue = append(slices.Clone(batch[limit:]), c.net.Queue...)
		batch = batch[:limit]
	}
	for _, e := range batch {
		it.deliverOne(e)
	}
}

func (it *interaction) deliverOne(e sm.Envelope) {
	c := it.c
	cut := ""
	if c.isolated[e.From] || c.isolated[e.To] {
		cut = " (lost: isolated)"
	}
	fmt.Fprintf(&it.out, "deliver %v→%v %s%s\n", e.From, e.To, testkit.Describe(e.Msg), cut)
	n := c.net.Len()
	c.net.Queue = append([]sm.Envelope{e}, c.net.Queue...)
	it.indent = "  "
	c.deliver(0)
	it.indent = ""
	if _, ok := e.Msg.(sm.AlterISRRequest); ok && cut == "" {
		for _, r := range c.net.Queue[n:] {
			fmt.Fprintf(&it.out, "  %v→%v %s\n", r.From, r.To, testkit.Describe(r.Msg))
		}
	}
}

func (it *interaction) completeLog(t *testing.T, td *datadriven.TestData) {
	id := testkit.ArgNode(t, td, "node")
	outcome := sm.OutcomeOK
	switch s := testkit.ArgStringOr(td, "outcome", "ok"); s {
	case "ok":
	case "failed":
		outcome = sm.OutcomeFailed
	default:
		td.Fatalf(t, "outcome %q: a replica alone takes ok or failed (unknown stops its broker)", s)
	}
	r := it.c.reps[id]
	for range testkit.ArgInt(t, td, "n", 1) {
		d, ok := r.disk.CompleteNext(outcome, "testkit: log full")
		if !ok {
			td.Fatalf(t, "%v has no log operation pending", id)
		}
		fmt.Fprintf(&it.out, "%v: log %d done %v\n", id, d.ID, d.Outcome)
		it.indent = "  "
		r.host.Handle(d)
		it.indent = ""
	}
}

// stabilize is cluster.stabilize, narrated.
func (it *interaction) stabilize() {
	c := it.c
	for range 1000 {
		progressed := false
		for _, id := range c.ids {
			r := c.reps[id]
			for len(r.disk.Pending()) > 0 {
				d, _ := r.disk.CompleteNext(sm.OutcomeOK, "")
				fmt.Fprintf(&it.out, "%v: log %d done %v\n", id, d.ID, d.Outcome)
				it.indent = "  "
				r.host.Handle(d)
				it.indent = ""
				progressed = true
			}
		}
		for c.net.Len() > 0 {
			e, _ := c.net.Pop()
			it.deliverOne(e)
			progressed = true
		}
		if !progressed {
			return
		}
	}
	it.c.t.Fatalf("stabilize: no quiescence")
}

func (it *interaction) status() {
	c := it.c
	for _, id := range c.ids {
		s := c.status(id)
		fmt.Fprintf(&it.out, "%v %v leader=%v epoch=%d pe=%d leo=%d durable=%d hw=%d isr=%v", id, s.Role, s.Leader, s.LeaderEpoch, s.PartitionEpoch, s.LEO, s.DurableLEO, s.HW, s.ISR)
		if n := len(c.reps[id].disk.Pending()); n > 0 {
			fmt.Fprintf(&it.out, " disk-pending=%d", n)
		}
		if c.isolated[id] {
			fmt.Fprintf(&it.out, " isolated")
		}
		fmt.Fprintln(&it.out)
	}
	fmt.Fprintf(&it.out, "controller %s\n", testkit.State(c.st))
}

// matcher selects queued messages by from=, to= and type= (the message's
// Go type name without the package, e.g. ReplicaFetchResponse).
func (it *interaction) matcher(t *testing.T, td *datadriven.TestData) func(sm.Envelope) bool {
	from, to := testkit.ArgNodeOr(t, td, "from"), testkit.ArgNodeOr(t, td, "to")
	typ := testkit.ArgStringOr(td, "type", "")
	return func(e sm.Envelope) bool {
		return (from == sm.NoNode || e.From == from) && (to == sm.NoNode || e.To == to) &&
			(typ == "" || strings.TrimPrefix(fmt.Sprintf("%T", e.Msg), "sm.") == typ)
	}
}
