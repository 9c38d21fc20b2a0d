package metrics

import (
	"testing"
	"time"

	"github.com/weirmq/weir/runtime"
	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/acl"
	"github.com/weirmq/weir/sm/broker"
	"github.com/weirmq/weir/sm/controller"
)

// miniWorld drives real state machines the way cmd/internal/server does —
// each node behind a Probe, messages through ObserveInbound/ObserveSend —
// with an instant disk and network and a virtual clock, in one goroutine.
type miniWorld struct {
	t      *testing.T
	now    sm.Time
	hosts  map[sm.NodeID]*miniHost
	order  []sm.NodeID
	client []sm.Envelope // messages for IDs that are not hosts
}

type miniHost struct {
	w     *miniWorld
	id    sm.NodeID
	node  runtime.Node
	reg   *Registry
	queue []sm.Event
	timer sm.Time
}

func (h *miniHost) StartRead([]sm.LogRead) {}

func (h *miniHost) StartObject([]sm.ObjectOp) {}

func (h *miniHost) StartLog(ops []sm.LogOp) {
	for _, op := range ops {
		h.queue = append(h.queue, sm.LogDone{ID: op.ID})
	}
}

func (h *miniHost) StartRaft(saves []sm.RaftSave) {
	for _, s := range saves {
		h.queue = append(h.queue, sm.RaftDone{ID: s.ID})
	}
}

func (h *miniHost) Send(msgs []sm.Envelope) {
	h.reg.ObserveSend(msgs) // as ad.send would
	for _, m := range msgs {
		h.w.deliver(h.id, m)
	}
}

func (h *miniHost) SetTimer(at sm.Time) { h.timer = at }
func (h *miniHost) Fatal(reason string) { h.w.t.Fatalf("%v: fatal: %s", h.id, reason) }

func (w *miniWorld) add(id sm.NodeID, node runtime.Node, reg *Registry) {
	w.hosts[id] = &miniHost{w: w, id: id, node: node, reg: reg}
	w.order = append(w.order, id)
}

// deliver hands a message to its host, as the transport's Deliver would.
func (w *miniWorld) deliver(from sm.NodeID, m sm.Envelope) {
	h := w.hosts[m.To]
	if h == nil {
		w.client = append(w.client, m)
		return
	}
	h.reg.ObserveInbound(from, m.Msg)
	h.queue = append(h.queue, sm.Received{From: from, Msg: m.Msg})
}

// run steps every node until all queues are empty and then fires timers,
// for d of virtual time, advancing 1 ms per round.
func (w *miniWorld) run(d time.Duration) {
	end := w.now + sm.Time(d)
	for _, h := range w.hosts {
		_ = runtime.Handle(h.node, h, w.now, sm.TimerFired{})
	}
	for w.now < end {
		for busy := true; busy; {
			busy = false
			for _, id := range w.order {
				h := w.hosts[id]
				for len(h.queue) > 0 {
					ev := h.queue[0]
					h.queue = h.queue[1:]
					_ = runtime.Handle(h.node, h, w.now, ev)
					busy = true
				}
			}
		}
		w.now += sm.Time(sm.Millisecond)
		for _, id := range w.order {
			if h := w.hosts[id]; h.timer != 0 && h.timer <= w.now {
				h.timer = 0
				_ = runtime.Handle(h.node, h, w.now, sm.TimerFired{})
			}
		}
	}
}

// The wiring pattern end to end: a controller and a broker behind Probes,
// a client creating a topic and producing; the scrapes show what the
// state machines did.
func TestClusterWiring(t *testing.T) {
	w := &miniWorld{t: t, hosts: map[sm.NodeID]*miniHost{}}

	ctlReg := New()
	ctl, err := controller.New(controller.Config{
		ID: 1, Peers: []sm.NodeID{1}, TickInterval: 10 * sm.Millisecond, ElectionTicks: 10, HeartbeatTicks: 1,
		ACL:            acl.Options{AllowIfNoRules: true},
		SessionTimeout: 10 * sm.Second, DefaultMinISR: 1, MaxPartitions: 100,
	}, sm.Durable{})
	if err != nil {
		t.Fatal(err)
	}
	ctlProbe := NewProbe(ctlReg, ctl, 0, func() ControllerSnapshot { return SampleController(ctl) })
	must(t, ctlReg.RegisterController(ControllerSourcesFrom(ctlProbe)))
	w.add(1, ctlProbe, ctlReg)

	brReg := New()
	bc := broker.DefaultConfig(100, 1, []sm.NodeID{1})
	bc.DefaultMinISR = 1
	br, err := broker.New(bc, sm.Durable{})
	if err != nil {
		t.Fatal(err)
	}
	brProbe := NewProbe(brReg, br, 0, func() []PartitionStat { return SampleBroker(br) })
	must(t, brReg.RegisterBroker(BrokerSources{Partitions: brProbe.Load}))
	w.add(100, brProbe, brReg)

	w.run(3 * time.Second) // election, broker registration
	w.deliver(sm.ClientIDMin, sm.Envelope{To: 1, Msg: sm.CreateTopicRequest{ReqID: 1, Name: "orders", Partitions: 2, ReplicationFactor: 1}})
	w.run(3 * time.Second) // topic created, broker learns it and leads both partitions
	tp0 := sm.TopicPartition{Topic: "orders", Partition: 0}
	for i := range uint64(3) {
		w.deliver(sm.ClientIDMin, sm.Envelope{To: 100, Msg: sm.ProduceRequest{ReqID: 10 + i, TP: tp0, Acks: sm.Acks{Kind: sm.AckAll}, Records: records(2, 10)}})
	}
	w.run(2 * time.Second) // and the probes sample again

	codes := map[string]sm.Code{}
	for _, m := range w.client {
		switch r := m.Msg.(type) {
		case sm.CreateTopicResponse:
			codes["create"] = r.Code
		case sm.ProduceResponse:
			codes["produce"] = r.Code
		}
	}
	if codes["create"] != sm.CodeOK || codes["produce"] != sm.CodeOK {
		t.Fatalf("client got %v; want create and produce OK", codes)
	}

	f := scrape(t, ctlReg)
	f.expect(t, "weir_controller_is_leader", 1)
	if term := f.value(t, "weir_raft_term"); term < 1 {
		t.Errorf("raft term %v", term)
	}
	applied, commit := f.value(t, "weir_raft_applied_index"), f.value(t, "weir_raft_commit_index")
	if applied < 3 || commit < applied {
		t.Errorf("applied %v, commit %v: want a few entries applied, commit >= applied", applied, commit)
	}
	f.expect(t, "weir_cluster_partitions", 2)
	f.expect(t, "weir_offline_partitions", 0)
	f.expect(t, "weir_under_replicated_partitions", 0)
	f.expect(t, "weir_brokers_registered", 1)
	f.expect(t, "weir_brokers_online", 1)
	if h := f.get(t, "weir_request_duration_seconds", "type", "CreateTopicRequest", "code", "OK").GetHistogram(); h.GetSampleCount() != 1 {
		t.Errorf("create latency count %d, want 1", h.GetSampleCount())
	}
	if h := f.get(t, "weir_disk_op_duration_seconds", "kind", "raft", "sync", "true").GetHistogram(); h.GetSampleCount() < 3 {
		t.Errorf("raft disk ops timed: %d", h.GetSampleCount())
	}
	if n := f.value(t, "weir_wire_messages_total", "direction", "in", "type", "BrokerHeartbeat"); n < 3 {
		t.Errorf("%v heartbeats counted", n)
	}

	f = scrape(t, brReg)
	p0 := []string{"topic", "orders", "partition", "0"}
	f.expect(t, "weir_partition_leader", 1, p0...)
	f.expect(t, "weir_partition_isr_size", 1, p0...)
	f.expect(t, "weir_partition_high_watermark", 6, p0...)
	f.expect(t, "weir_partition_log_end_offset", 6, p0...)
	f.expect(t, "weir_partition_high_watermark", 0, "topic", "orders", "partition", "1")
	f.expect(t, "weir_hosted_partitions", 2, "role", "leader")
	f.expect(t, "weir_produce_records_total", 6)
	f.expect(t, "weir_produce_bytes_total", 60)
	f.expect(t, "weir_requests_pending", 0)
	if h := f.get(t, "weir_request_duration_seconds", "type", "ProduceRequest", "code", "OK").GetHistogram(); h.GetSampleCount() != 3 {
		t.Errorf("produce latency count %d, want 3", h.GetSampleCount())
	}
	if h := f.get(t, "weir_disk_op_duration_seconds", "kind", "append", "sync", "true").GetHistogram(); h.GetSampleCount() < 1 {
		t.Error("no append timed")
	}
}
