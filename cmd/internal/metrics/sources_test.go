package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/weirmq/weir/io/wal"
	"github.com/weirmq/weir/net/transport"
	"github.com/weirmq/weir/sm"
)

func fakeTransport() transport.Stats {
	return transport.Stats{
		Sent: 10, SentBytes: 1000, Received: 20, ReceivedBytes: 2000,
		Dropped: 10, DroppedQueueFull: 1, DroppedUnreachable: 2, DroppedInvalid: 3, DroppedClosed: 4,
		Malformed: 5, Refused: 6, Dials: 7, DialFailures: 8, Conns: 9,
	}
}

func fakeWAL() wal.Stats {
	return wal.Stats{
		Groups: 3, Appends: 30, Truncates: 2, Deletes: 1, Rolls: 4, Writes: 33,
		DataSyncs: 5, DirSyncs: 6, BytesAppended: 4096, UsedBytes: 1 << 20,
	}
}

// The Go runtime and process collectors come with every Registry.
func TestRuntimeCollectors(t *testing.T) {
	f := scrape(t, New())
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if f[name] == nil {
			t.Errorf("%s missing", name)
		}
	}
}

func TestBrokerSources(t *testing.T) {
	reg := New()
	parts := []PartitionStat{
		{Topic: "orders", Partition: 0, Leader: true, ISRSize: 3, Replicas: 3, HW: 100, LEO: 105},
		{Topic: "orders", Partition: 1, Leader: true, ISRSize: 2, Replicas: 3, HW: 50, LEO: 50},
		{Topic: "orders", Partition: 2, Leader: false, ISRSize: 3, Replicas: 3, HW: 70, LEO: 71},
	}
	err := reg.RegisterBroker(BrokerSources{
		Transport: fakeTransport, WAL: fakeWAL,
		Partitions:       func() []PartitionStat { return parts },
		WALCapacityBytes: 1 << 30,
	})
	if err != nil {
		t.Fatal(err)
	}
	f := scrape(t, reg)

	tr := []string{"transport", "broker"}
	f.expect(t, "weir_transport_sent_messages_total", 10, tr...)
	f.expect(t, "weir_transport_sent_bytes_total", 1000, tr...)
	f.expect(t, "weir_transport_received_messages_total", 20, tr...)
	f.expect(t, "weir_transport_received_bytes_total", 2000, tr...)
	for reason, want := range map[string]float64{"queue_full": 1, "unreachable": 2, "invalid": 3, "closed": 4} {
		f.expect(t, "weir_transport_dropped_messages_total", want, "transport", "broker", "reason", reason)
	}
	f.expect(t, "weir_transport_malformed_connections_total", 5, tr...)
	f.expect(t, "weir_transport_refused_connections_total", 6, tr...)
	f.expect(t, "weir_transport_dials_total", 7, tr...)
	f.expect(t, "weir_transport_dial_failures_total", 8, tr...)
	f.expect(t, "weir_transport_connections", 9, tr...)

	f.expect(t, "weir_wal_commit_groups_total", 3)
	f.expect(t, "weir_wal_operations_total", 30, "op", "append")
	f.expect(t, "weir_wal_operations_total", 2, "op", "truncate")
	f.expect(t, "weir_wal_operations_total", 1, "op", "delete")
	f.expect(t, "weir_wal_segment_rolls_total", 4)
	f.expect(t, "weir_wal_writes_total", 33)
	f.expect(t, "weir_wal_data_syncs_total", 5)
	f.expect(t, "weir_wal_dir_syncs_total", 6)
	f.expect(t, "weir_wal_appended_bytes_total", 4096)
	f.expect(t, "weir_wal_used_bytes", 1<<20)
	f.expect(t, "weir_wal_capacity_bytes", 1<<30)

	p0 := []string{"topic", "orders", "partition", "0"}
	p1 := []string{"topic", "orders", "partition", "1"}
	p2 := []string{"topic", "orders", "partition", "2"}
	f.expect(t, "weir_partition_leader", 1, p0...)
	f.expect(t, "weir_partition_leader", 0, p2...)
	f.expect(t, "weir_partition_high_watermark", 100, p0...)
	f.expect(t, "weir_partition_high_watermark", 70, p2...)
	f.expect(t, "weir_partition_log_end_offset", 105, p0...)
	f.expect(t, "weir_partition_log_end_offset", 71, p2...)
	f.expect(t, "weir_partition_isr_size", 3, p0...)
	f.expect(t, "weir_partition_isr_size", 2, p1...)
	f.expect(t, "weir_partition_replicas", 3, p1...)
	if n := len(f["weir_partition_isr_size"].GetMetric()); n != 2 {
		t.Errorf("isr size exported for %d partitions, want the 2 this broker leads", n)
	}
	f.expect(t, "weir_under_replicated_partitions", 1)
	f.expect(t, "weir_hosted_partitions", 2, "role", "leader")
	f.expect(t, "weir_hosted_partitions", 1, "role", "follower")

	// Gauges follow the source at scrape time: a deleted partition vanishes.
	parts = parts[:1]
	f = scrape(t, reg)
	if n := len(f["weir_partition_high_watermark"].GetMetric()); n != 1 {
		t.Errorf("after deletion %d partitions exported, want 1", n)
	}
	f.expect(t, "weir_under_replicated_partitions", 0)

	// A second registration is refused, and leaves the first intact.
	if err := reg.RegisterBroker(BrokerSources{Transport: fakeTransport, WAL: fakeWAL}); err == nil {
		t.Error("second RegisterBroker succeeded")
	}
	scrape(t, reg).expect(t, "weir_wal_writes_total", 33)
}

// An unknown replica count must not make a broker look fully replicated.
func TestBrokerUnknownReplicas(t *testing.T) {
	reg := New()
	parts := []PartitionStat{{Topic: "t", Partition: 0, Leader: true, ISRSize: 1, HW: 1, LEO: 1}}
	if err := reg.RegisterBroker(BrokerSources{Partitions: func() []PartitionStat { return parts }}); err != nil {
		t.Fatal(err)
	}
	f := scrape(t, reg)
	if f["weir_under_replicated_partitions"] != nil {
		t.Error("under-replicated count exported with unknown replica counts")
	}
	if f["weir_partition_replicas"] != nil {
		t.Error("replica count exported while unknown")
	}
	f.expect(t, "weir_partition_isr_size", 1, "topic", "t", "partition", "0")
	if f["weir_wal_used_bytes"] != nil || f["weir_transport_connections"] != nil {
		t.Error("nil sources exported metrics")
	}
}

func TestControllerSources(t *testing.T) {
	reg := New()
	err := reg.RegisterController(ControllerSources{
		IsLeader:   func() bool { return true },
		Raft:       func() (uint64, uint64, uint64) { return 7, 120, 118 },
		Partitions: func() (int, int, int) { return 12, 1, 2 },
		Brokers:    func() (int, int) { return 3, 2 },
		RateLimit:  func() (uint64, uint64) { return 500, 17 },
		Transports: map[string]func() transport.Stats{"raft": fakeTransport, "rpc": fakeTransport},
	})
	if err != nil {
		t.Fatal(err)
	}
	f := scrape(t, reg)
	f.expect(t, "weir_controller_is_leader", 1)
	f.expect(t, "weir_raft_term", 7)
	f.expect(t, "weir_raft_commit_index", 120)
	f.expect(t, "weir_raft_applied_index", 118)
	f.expect(t, "weir_cluster_partitions", 12)
	f.expect(t, "weir_offline_partitions", 1)
	f.expect(t, "weir_under_replicated_partitions", 2)
	f.expect(t, "weir_brokers_registered", 3)
	f.expect(t, "weir_brokers_online", 2)
	f.expect(t, "weir_admin_rate_limit_checks_total", 500)
	f.expect(t, "weir_admin_rate_limited_requests_total", 17)
	f.expect(t, "weir_transport_connections", 9, "transport", "raft")
	f.expect(t, "weir_transport_connections", 9, "transport", "rpc")
}

func TestWALSyncHistogramAppearsWhenUsed(t *testing.T) {
	reg := New()
	if scrape(t, reg)["weir_wal_sync_duration_seconds"] != nil {
		t.Fatal("WAL sync histogram exported before any sync was reported")
	}
	reg.ObserveWALSync(3 * 1e6) // 3 ms
	h := scrape(t, reg).get(t, "weir_wal_sync_duration_seconds").GetHistogram()
	if h.GetSampleCount() != 1 || h.GetSampleSum() != 0.003 {
		t.Errorf("sync histogram count %d sum %v, want 1 and 0.003", h.GetSampleCount(), h.GetSampleSum())
	}
}

func TestCounts(t *testing.T) {
	ps := []sm.PartitionState{
		{Replicas: []sm.NodeID{1, 2, 3}, Leader: 1, ISR: []sm.NodeID{1, 2, 3}},
		{Replicas: []sm.NodeID{1, 2, 3}, Leader: 2, ISR: []sm.NodeID{2}},
		{Replicas: []sm.NodeID{1, 2, 3}, Leader: sm.NoNode, ISR: []sm.NodeID{3}},
	}
	if total, off, under := CountPartitions(ps); total != 3 || off != 1 || under != 1 {
		t.Errorf("CountPartitions = %d, %d, %d; want 3, 1, 1", total, off, under)
	}
	bs := []sm.BrokerInfo{{ID: 1}, {ID: 2, Fenced: true}, {ID: 3}}
	if reg, on := CountBrokers(bs); reg != 3 || on != 2 {
		t.Errorf("CountBrokers = %d, %d; want 3, 2", reg, on)
	}
}

// Every Weir metric follows Prometheus naming: base units, _total on
// counters, help text; promlint checks what a reviewer would.
func TestLint(t *testing.T) {
	reg := New()
	must(t, reg.RegisterBroker(BrokerSources{
		Transport: fakeTransport, WAL: fakeWAL, WALCapacityBytes: 1,
		Partitions: func() []PartitionStat {
			return []PartitionStat{{Topic: "t", Leader: true, ISRSize: 1, Replicas: 1}}
		},
	}))
	exercise(reg)
	reg.ObserveWALSync(1)
	mfs, err := reg.Prometheus().Gather()
	if err != nil {
		t.Fatal(err)
	}
	ctl := New()
	must(t, ctl.RegisterController(ControllerSources{
		IsLeader: func() bool { return true }, Raft: func() (uint64, uint64, uint64) { return 1, 1, 1 },
		Partitions: func() (int, int, int) { return 1, 0, 0 }, Brokers: func() (int, int) { return 1, 1 },
		RateLimit: func() (uint64, uint64) { return 1, 0 },
	}))
	cmfs, err := ctl.Prometheus().Gather()
	if err != nil {
		t.Fatal(err)
	}
	mfs = append(mfs, cmfs...)
	n := 0
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "weir_") {
			continue
		}
		n++
		if mf.GetHelp() == "" {
			t.Errorf("%s has no help", mf.GetName())
		}
	}
	if n < 50 {
		t.Errorf("only %d weir_ families gathered; the exercise misses some", n)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "weir_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
