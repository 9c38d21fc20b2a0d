package metrics

import (
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weirmq/weir/io/wal"
	"github.com/weirmq/weir/net/transport"
)

// PartitionStat is one replica a broker hosts, as its metrics need it.
type PartitionStat struct {
	Topic     string
	Partition int32
	// Leader is true when this broker leads the partition; ISR size,
	// replica count and under-replication are reported for led partitions
	// only (the leader is the replica that knows them).
	Leader bool
	// ISRSize is the committed ISR's size.
	ISRSize int
	// Replicas is the assigned replica count; 0 means unknown: the
	// partition gets no weir_partition_replicas, and the broker exports no
	// weir_under_replicated_partitions while any led partition's count is
	// unknown (a partial count would read as healthy).
	Replicas int
	// HW is the high watermark; LEO the log end offset; LogStart the log
	// start offset (retention deleted what lies below it).
	HW, LEO, LogStart int64
}

// BrokerSources are the snapshots a broker's collectors read at scrape
// time. Each function must be safe to call from the scrape goroutine (the
// transport's and WAL's Stats are; partition state must come from a Probe,
// never from the state machine directly). Nil functions are skipped.
type BrokerSources struct {
	Transport  func() transport.Stats
	WAL        func() wal.Stats
	Partitions func() []PartitionStat
	// WALCapacityBytes is wal.Config.CapacityBytes, exported beside
	// weir_wal_used_bytes so an alert can fire before the WAL fills up
	// (0: not exported).
	WALCapacityBytes int64
}

// ControllerSources are the snapshots a controller's collectors read at
// scrape time; see ControllerSourcesFrom for the ones a Probe provides.
// Nil functions are skipped.
type ControllerSources struct {
	IsLeader func() bool
	// Raft returns the current term, the commit index and the applied
	// index.
	Raft func() (term, commit, applied uint64)
	// Partitions counts the partitions in this controller's applied
	// metadata: all, those with no leader, and those whose ISR is smaller
	// than their replica set.
	Partitions func() (total, offline, underReplicated int)
	// Brokers counts registered brokers and those not fenced.
	Brokers func() (registered, online int)
	// RateLimit returns the admin requests the rate limiter checked and
	// the ones it refused.
	RateLimit func() (total, blocked uint64)
	// Transports names the controller's transports ("raft", "rpc"), for
	// the weir_transport_* families.
	Transports map[string]func() transport.Stats
}

// RegisterBroker adds the broker's scrape-time collectors: the transport
// (labelled transport="broker"), the WAL and the hosted partitions. It
// fails if called twice on one Registry or after RegisterController with a
// transport of the same name.
func (r *Registry) RegisterBroker(src BrokerSources) error {
	cs := []prometheus.Collector{}
	if src.Transport != nil {
		cs = append(cs, newTransportCollector(map[string]func() transport.Stats{"broker": src.Transport}))
	}
	if src.WAL != nil {
		cs = append(cs, &walCollector{stats: src.WAL, capacity: src.WALCapacityBytes})
	}
	if src.Partitions != nil {
		cs = append(cs, &partitionCollector{parts: src.Partitions})
	}
	return r.register(cs)
}

// RegisterController adds the controller's scrape-time collectors.
func (r *Registry) RegisterController(src ControllerSources) error {
	cs := []prometheus.Collector{&controllerCollector{src: src}}
	if len(src.Transports) > 0 {
		cs = append(cs, newTransportCollector(src.Transports))
	}
	return r.register(cs)
}

// register registers all of cs or none.
func (r *Registry) register(cs []prometheus.Collector) error {
	for i, c := range cs {
		if err := r.reg.Register(c); err != nil {
			for _, d := range cs[:i] {
				r.reg.Unregister(d)
			}
			return err
		}
	}
	return nil
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(namespace+"_"+name, help, labels, nil)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

// ---- transport ------------------------------------------------------------

var (
	trSent          = desc("transport_sent_messages_total", "Frames the transport wrote to a QUIC stream.", "transport")
	trSentBytes     = desc("transport_sent_bytes_total", "Bytes the transport wrote, frame headers included: network egress.", "transport")
	trReceived      = desc("transport_received_messages_total", "Messages the transport decoded and delivered to the node.", "transport")
	trReceivedBytes = desc("transport_received_bytes_total", "Bytes the transport received and decoded: network ingress.", "transport")
	trDropped       = desc("transport_dropped_messages_total", "Messages the transport dropped, by reason: queue_full (a slow peer), unreachable (no address, backoff, dial failed, connection lost), invalid (would not encode or too large), closed (after shutdown). Protocols retry; a steady rate means a peer is down or slow.", "transport", "reason")
	trMalformed     = desc("transport_malformed_connections_total", "Connections closed because a peer sent an undecodable or oversized frame: a broken or hostile peer.", "transport")
	trRefused       = desc("transport_refused_connections_total", "Connections refused: bad certificate or hello, node ID in use, or the connection limit.", "transport")
	trDials         = desc("transport_dials_total", "Outgoing connections attempted.", "transport")
	trDialFailures  = desc("transport_dial_failures_total", "Outgoing connections that failed; with dials, the share of peers unreachable.", "transport")
	trConns         = desc("transport_connections", "Verified live connections now; compare with the connection limit.", "transport")
)

type transportCollector struct {
	names []string
	stats []func() transport.Stats
}

func newTransportCollector(m map[string]func() transport.Stats) *transportCollector {
	c := &transportCollector{}
	for name := range m {
		c.names = append(c.names, name)
	}
	slices.Sort(c.names)
	for _, n := range c.names {
		c.stats = append(c.stats, m[n])
	}
	return c
}

func (c *transportCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{trSent, trSentBytes, trReceived, trReceivedBytes, trDropped, trMalformed, trRefused, trDials, trDialFailures, trConns} {
		ch <- d
	}
}

func (c *transportCollector) Collect(ch chan<- prometheus.Metric) {
	for i, f := range c.stats {
		if f == nil {
			continue
		}
		s, n := f(), c.names[i]
		counter(ch, trSent, s.Sent, n)
		counter(ch, trSentBytes, s.SentBytes, n)
		counter(ch, trReceived, s.Received, n)
		counter(ch, trReceivedBytes, s.ReceivedBytes, n)
		counter(ch, trDropped, s.DroppedQueueFull, n, "queue_full")
		counter(ch, trDropped, s.DroppedUnreachable, n, "unreachable")
		counter(ch, trDropped, s.DroppedInvalid, n, "invalid")
		counter(ch, trDropped, s.DroppedClosed, n, "closed")
		counter(ch, trMalformed, s.Malformed, n)
		counter(ch, trRefused, s.Refused, n)
		counter(ch, trDials, s.Dials, n)
		counter(ch, trDialFailures, s.DialFailures, n)
		gauge(ch, trConns, float64(s.Conns), n)
	}
}

// ---- WAL ------------------------------------------------------------------

var (
	walGroups    = desc("wal_commit_groups_total", "WAL commit groups: batches of operations executed together. Operations per group is the group-commit factor.")
	walOps       = desc("wal_operations_total", "WAL operations that succeeded, by op (append, truncate, delete).", "op")
	walRolls     = desc("wal_segment_rolls_total", "WAL segments sealed because the next frame did not fit.")
	walWrites    = desc("wal_writes_total", "Write calls (pwrite or io_uring writes) the WAL issued.")
	walDataSyncs = desc("wal_data_syncs_total", "fdatasyncs of WAL segment files; well below appends under load when group commit works.")
	walDirSyncs  = desc("wal_dir_syncs_total", "fsyncs of WAL directories (segment and partition creation and removal).")
	walBytes     = desc("wal_appended_bytes_total", "Frame bytes appended to the WAL: the disk write volume.")
	walUsed      = desc("wal_used_bytes", "Bytes held in all WAL segments, as the capacity limit counts them.")
	walCapacity  = desc("wal_capacity_bytes", "The WAL's configured capacity; appends fail beyond it.")
	walRefused   = desc("wal_appends_refused_total", "Appends the WAL refused before writing anything (capacity or file system full, no file descriptor); producers got STORAGE_ERROR.")
	walLedger    = desc("wal_ledger_syncs_total", "fdatasyncs of the WAL's sync ledger, which records how far each segment was synced (one per commit group that synced).")
	walOpen      = desc("wal_open_files", "Segment files the WAL holds open (bounded by [wal] max_open_files).")
	walEvicted   = desc("wal_file_evictions_total", "Segment files closed to stay under [wal] max_open_files.")
)

type walCollector struct {
	stats    func() wal.Stats
	capacity int64
}

func (c *walCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{walGroups, walOps, walRolls, walWrites, walDataSyncs, walDirSyncs, walBytes, walUsed, walCapacity, walRefused, walLedger, walOpen, walEvicted} {
		ch <- d
	}
}

func (c *walCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	counter(ch, walGroups, s.Groups)
	counter(ch, walOps, s.Appends, "append")
	counter(ch, walOps, s.Truncates, "truncate")
	counter(ch, walOps, s.Deletes, "delete")
	counter(ch, walRolls, s.Rolls)
	counter(ch, walWrites, s.Writes)
	counter(ch, walDataSyncs, s.DataSyncs)
	counter(ch, walDirSyncs, s.DirSyncs)
	counter(ch, walBytes, s.BytesAppended)
	gauge(ch, walUsed, float64(s.UsedBytes))
	counter(ch, walRefused, s.Refused)
	counter(ch, walLedger, s.LedgerSyncs)
	gauge(ch, walOpen, float64(s.OpenFiles))
	counter(ch, walEvicted, s.Evictions)
	if c.capacity > 0 {
		gauge(ch, walCapacity, float64(c.capacity))
	}
}

// ---- partitions (broker) --------------------------------------------------

var (
	partLeader  = desc("partition_leader", "1 if this broker leads the partition, 0 if it hosts a follower replica.", "topic", "partition")
	partHW      = desc("partition_high_watermark", "The replica's high watermark: consumers read below it. Its rate is the committed write rate.", "topic", "partition")
	partLEO     = desc("partition_log_end_offset", "The replica's log end offset. On the leader, log end minus high watermark is the replication lag in records.", "topic", "partition")
	partStart   = desc("partition_log_start_offset", "The replica's log start offset: retention deleted the records below it. Log end minus log start is the records retained.", "topic", "partition")
	partISR     = desc("partition_isr_size", "In-sync replicas of a partition this broker leads. Below min_in_sync_replicas, acks=all produces fail.", "topic", "partition")
	partReps    = desc("partition_replicas", "Assigned replicas of a partition this broker leads.", "topic", "partition")
	partHosted  = desc("hosted_partitions", "Partition replicas this broker hosts, by role (leader, follower).", "role")
	underRepDsc = desc("under_replicated_partitions", "Partitions whose ISR is smaller than their replica set: one more failure loses availability or data. On a broker: the partitions it leads (sum over brokers for the cluster); on a controller: all, from its applied metadata.")
)

type partitionCollector struct{ parts func() []PartitionStat }

func (c *partitionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{partLeader, partHW, partLEO, partStart, partISR, partReps, partHosted, underRepDsc} {
		ch <- d
	}
}

func (c *partitionCollector) Collect(ch chan<- prometheus.Metric) {
	var leaders, followers, under int
	known := true // every led partition's replica count is known
	for _, p := range c.parts() {
		part := strconv.FormatInt(int64(p.Partition), 10)
		lead := 0.0
		if p.Leader {
			lead = 1
			leaders++
		} else {
			followers++
		}
		gauge(ch, partLeader, lead, p.Topic, part)
		gauge(ch, partHW, float64(p.HW), p.Topic, part)
		gauge(ch, partLEO, float64(p.LEO), p.Topic, part)
		gauge(ch, partStart, float64(p.LogStart), p.Topic, part)
		if !p.Leader {
			continue
		}
		gauge(ch, partISR, float64(p.ISRSize), p.Topic, part)
		if p.Replicas <= 0 {
			known = false
			continue
		}
		gauge(ch, partReps, float64(p.Replicas), p.Topic, part)
		if p.ISRSize < p.Replicas {
			under++
		}
	}
	gauge(ch, partHosted, float64(leaders), "leader")
	gauge(ch, partHosted, float64(followers), "follower")
	if known {
		// A count over partitions of unknown size would read as healthy.
		gauge(ch, underRepDsc, float64(under))
	}
}

// ---- controller -----------------------------------------------------------

var (
	ctlLeader      = desc("controller_is_leader", "1 on the controller that leads the raft group (and answers writes), 0 elsewhere. Exactly one should read 1.")
	raftTerm       = desc("raft_term", "The controller's current raft term; frequent increases mean elections (unstable network or overloaded leader).")
	raftCommit     = desc("raft_commit_index", "The highest raft index known committed by this controller (as last persisted).")
	raftApplied    = desc("raft_applied_index", "The raft index of the last metadata change this controller applied; a follower far behind the leader serves stale reads.")
	ctlPartitions  = desc("cluster_partitions", "Partitions in the cluster's metadata, as this controller has applied it.")
	ctlOffline     = desc("offline_partitions", "Partitions with no leader: neither produce nor fetch works on them. Alert on any.")
	ctlRegistered  = desc("brokers_registered", "Brokers known to the controller, fenced or not.")
	ctlOnline      = desc("brokers_online", "Registered brokers not fenced (their sessions are alive).")
	adminRLChecked = desc("admin_rate_limit_checks_total", "Admin API requests the rate limiter checked.")
	adminRLBlocked = desc("admin_rate_limited_requests_total", "Admin API requests the rate limiter refused (429): a client is over its budget.")
)

type controllerCollector struct{ src ControllerSources }

func (c *controllerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{ctlLeader, raftTerm, raftCommit, raftApplied, ctlPartitions, ctlOffline, underRepDsc, ctlRegistered, ctlOnline, adminRLChecked, adminRLBlocked} {
		ch <- d
	}
}

func (c *controllerCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src
	if s.IsLeader != nil {
		v := 0.0
		if s.IsLeader() {
			v = 1
		}
		gauge(ch, ctlLeader, v)
	}
	if s.Raft != nil {
		term, commit, applied := s.Raft()
		gauge(ch, raftTerm, float64(term))
		gauge(ch, raftCommit, float64(commit))
		gauge(ch, raftApplied, float64(applied))
	}
	if s.Partitions != nil {
		total, offline, under := s.Partitions()
		gauge(ch, ctlPartitions, float64(total))
		gauge(ch, ctlOffline, float64(offline))
		gauge(ch, underRepDsc, float64(under))
	}
	if s.Brokers != nil {
		reg, online := s.Brokers()
		gauge(ch, ctlRegistered, float64(reg))
		gauge(ch, ctlOnline, float64(online))
	}
	if s.RateLimit != nil {
		total, blocked := s.RateLimit()
		counter(ch, adminRLChecked, total)
		counter(ch, adminRLBlocked, blocked)
	}
}
