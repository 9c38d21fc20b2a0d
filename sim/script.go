package sim

import (
	"fmt"
	"slices"
	"strings"

	"github.com/weirmq/weir/linearizability"
	"github.com/weirmq/weir/sm"
)

// This file is the scripted face of the simulator that scenario files use:
// build a cluster, boot it, drive clients and faults by hand at chosen
// virtual times, and narrate what happened.

// NewScripted builds a world for a scenario: no random faults and no random
// workload; clients act only when told.
func NewScripted(cfg Config) (*World, error) {
	cfg.Faults = 0
	cfg.DropRate, cfg.DupRate = 0, 0
	w, err := New(cfg)
	if err != nil {
		return nil, err
	}
	for _, c := range w.clients {
		c.stopped = true
	}
	return w, nil
}

// Boot starts every process and runs setup: controller election, broker
// registration, workload topics created and led. It runs with crypto/rand
// seeded, like Run.
func (w *World) Boot() error {
	var err error
	w.seeded(func() {
		for _, id := range w.hostIDs {
			w.hosts[id].start()
		}
		if err = w.setup(); err == nil {
			w.startInvariants()
		}
	})
	return err
}

// seeded runs fn with crypto/rand fed from the seed and the event counter,
// so scripted steps replay exactly too.
func (w *World) seeded(fn func()) {
	withSeededCrypto(w.cfg.Seed^w.events<<20, fn)
}

// RunFor advances virtual time by d.
func (w *World) RunFor(d sm.Duration) error {
	w.seeded(func() { w.runUntil(w.now.Add(d), nil) })
	return w.failure
}

// Stabilize is the liveness phase: heal everything, let in-flight client
// work finish, require convergence, then read every workload partition
// from the start.
func (w *World) Stabilize() error {
	var err error
	w.seeded(func() {
		for _, id := range w.clientIDs() {
			c := w.clients[id]
			c.script = nil
		}
		if err = w.liveness(); err == nil {
			err = w.finalReads()
		}
	})
	return err
}

// Produce queues n produce requests (one record each) on client for tp.
func (w *World) Produce(client sm.NodeID, tp sm.TopicPartition, acks sm.Acks, n int) error {
	c, err := w.client(client)
	if err != nil {
		return err
	}
	for range n {
		c.script = append(c.script, action{kind: linearizability.Produce, tp: tp, acks: acks, n: 1})
	}
	c.next(0)
	return nil
}

// Fetch queues a fetch from offset on client.
func (w *World) Fetch(client sm.NodeID, tp sm.TopicPartition, offset sm.Offset) error {
	c, err := w.client(client)
	if err != nil {
		return err
	}
	c.script = append(c.script, action{kind: linearizability.Fetch, tp: tp, offset: offset})
	c.next(0)
	return nil
}

// CreateTopic queues a topic creation on client.
func (w *World) CreateTopic(client sm.NodeID, t sm.TopicInfo) error {
	c, err := w.client(client)
	if err != nil {
		return err
	}
	c.script = append(c.script, action{kind: linearizability.CreateTopic, topic: t})
	c.next(0)
	return nil
}

// DeleteTopic queues a topic deletion on client.
func (w *World) DeleteTopic(client sm.NodeID, name string) error {
	c, err := w.client(client)
	if err != nil {
		return err
	}
	c.script = append(c.script, action{kind: linearizability.DeleteTopic, topic: sm.TopicInfo{Name: name}})
	c.next(0)
	return nil
}

func (w *World) client(id sm.NodeID) (*client, error) {
	c := w.clients[id]
	if c == nil {
		return nil, fmt.Errorf("sim: no client %v (clients are %v)", id, w.clientIDs())
	}
	return c, nil
}

// Heal removes every network fault (partitions, clogs, loss).
func (w *World) Heal() {
	w.net.healAll()
	w.heals++
	w.trace.note(w.now, 0, "heal network")
}

// SetLoss sets the message drop and duplication rates.
func (w *World) SetLoss(drop, dup float64) { w.net.drop, w.net.dup = drop, dup }

// DiskErrors makes id's disk operations fail with probability rate for d.
func (w *World) DiskErrors(id sm.NodeID, rate float64, d sm.Duration) {
	h := w.hosts[id]
	h.faults.errorsUntil = w.now.Add(d)
	h.faults.errRate = rate
}

// Leader returns the broker the controller names leader of tp (NoNode if
// none or no controller leads).
func (w *World) Leader(tp sm.TopicPartition) sm.NodeID {
	ctl := w.leaderController()
	if ctl == nil {
		return sm.NoNode
	}
	for _, p := range ctl.Metadata().Partitions {
		if p.TP == tp {
			return p.Leader
		}
	}
	return sm.NoNode
}

// ControllerLeader returns the controller that leads, or NoNode.
func (w *World) ControllerLeader() sm.NodeID {
	for _, id := range w.controllerIDs() {
		h := w.hosts[id]
		if h.up && h.node != nil && w.leaderController() == h.node {
			return id
		}
	}
	return sm.NoNode
}

// Hosts lists every process ID (controllers, then brokers).
func (w *World) Hosts() []sm.NodeID { return slices.Clone(w.hostIDs) }

// Controllers lists controller IDs.
func (w *World) Controllers() []sm.NodeID { return w.controllerIDs() }

// Brokers lists broker IDs.
func (w *World) Brokers() []sm.NodeID { return w.brokerIDs() }

// History is every operation the clients recorded so far.
func (w *World) History() *linearizability.History { return w.history }

// Stats is what the world counted so far.
func (w *World) Stats() Stats {
	s := w.stats
	s.Events = w.events
	s.Simulated = sm.Duration(w.now)
	return s
}

// Status narrates the metadata the controller leader holds, one line per
// partition, in a stable order.
func (w *World) Status() string {
	ctl := w.leaderController()
	if ctl == nil {
		return "no controller leader"
	}
	var b strings.Builder
	md := ctl.Metadata()
	for _, p := range md.Partitions {
		fmt.Fprintf(&b, "%v leader=%v epoch=%d isr=%v\n", p.TP, p.Leader, p.LeaderEpoch, p.ISR)
	}
	for _, br := range md.Brokers {
		if br.Fenced {
			fmt.Fprintf(&b, "%v fenced\n", br.ID)
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// Logs describes every running replica of tp: role, log start, high
// watermark and log end, and how many segments the log has.
func (w *World) Logs(tp sm.TopicPartition) string {
	var b strings.Builder
	for _, id := range w.brokerIDs() {
		h := w.hosts[id]
		if !h.up {
			fmt.Fprintf(&b, "%v down\n", id)
			continue
		}
		n := w.brokerNode(id)
		for _, st := range n.Partitions() {
			if st.TP != tp {
				continue
			}
			m, _ := n.Manifest(tp)
			fmt.Fprintf(&b, "%v %v log=[%d, %d) hw=%d segments=%d\n", id, st.Role, st.LogStart, st.LEO, st.HW, len(m.Segments))
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// ClientSummary narrates each client's outcomes since the last call:
// "cl1000001 produce acks=all: 10 ok, 2 unknown".
func (w *World) ClientSummary(since int) (string, int) {
	type key struct {
		client int
		kind   linearizability.Kind
	}
	counts := map[key]map[string]int{}
	var keys []key
	ops := w.history.Ops[since:]
	for _, op := range ops {
		k := key{op.Client, op.Kind}
		if counts[k] == nil {
			counts[k] = map[string]int{}
			keys = append(keys, k)
		}
		switch {
		case op.Outcome == linearizability.OK && op.Err != "":
			counts[k][op.Err]++
		case op.Outcome == linearizability.OK:
			counts[k]["ok"]++
		case op.Outcome == linearizability.Unknown:
			counts[k]["unknown:"+op.Err]++
		default:
			counts[k]["failed:"+op.Err]++
		}
	}
	slices.SortFunc(keys, func(a, b key) int {
		if a.client != b.client {
			return a.client - b.client
		}
		return int(a.kind) - int(b.kind)
	})
	kindName := []string{"produce", "fetch", "create-topic", "delete-topic"}
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%v %s:", sm.NodeID(k.client), kindName[k.kind])
		names := make([]string, 0, len(counts[k]))
		for n := range counts[k] {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			fmt.Fprintf(&b, " %s=%d", n, counts[k][n])
		}
		b.WriteByte('\n')
	}
	return strings.TrimSuffix(b.String(), "\n"), len(w.history.Ops)
}

// Describe dumps the cluster's state for failure reports.
func (w *World) Describe() string { return w.describe() }
