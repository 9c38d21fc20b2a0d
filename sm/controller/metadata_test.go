package controller

import (
	"slices"
	"strings"
	"testing"

	"github.com/weirmq/weir/sm"
)

// fsm drives metadata directly, one entry per command.
type fsm struct {
	t  testing.TB
	md *metadata
}

func newFSM(t testing.TB) *fsm { return &fsm{t: t, md: newMetadata(bootstrapIndex)} }

func (f *fsm) do(cmd command) result {
	f.t.Helper()
	res := f.md.apply(f.md.applied+1, &cmd)
	if err := f.md.check(); err != nil {
		f.t.Fatalf("after %s: %v", cmd.kind(), err)
	}
	return res
}

func (f *fsm) ok(cmd command) {
	f.t.Helper()
	if r := f.do(cmd); r.code != sm.CodeOK {
		f.t.Fatalf("%s: %v %s", cmd.kind(), r.code, r.message)
	}
}

func (f *fsm) register(ids ...sm.NodeID) {
	for _, id := range ids {
		f.ok(command{Register: &registerBroker{ID: id, Incarnation: 1}})
	}
}

func (f *fsm) fence(id sm.NodeID) {
	f.ok(command{Fence: &fenceBroker{ID: id, Incarnation: f.md.brokers[id].info.Incarnation}})
}

func (f *fsm) create(name string, partitions, rf int32, cfg sm.TopicConfig) {
	if cfg.MinInSyncReplicas == 0 {
		cfg.MinInSyncReplicas = 1
	}
	f.ok(command{Create: &createTopic{Name: name, Partitions: partitions, ReplicationFactor: rf, Config: cfg}})
}

func (f *fsm) state(topic string, p int32) sm.PartitionState {
	return clonePartition(f.md.partition(sm.TopicPartition{Topic: topic, Partition: p}).state)
}

func (f *fsm) shrink(topic string, p int32, isr ...sm.NodeID) {
	st := f.state(topic, p)
	f.ok(command{AlterISR: &alterISR{Broker: st.Leader, TP: st.TP, LeaderEpoch: st.LeaderEpoch, PartitionEpoch: st.PartitionEpoch, ISR: isr}})
}

func TestCreateTopicValidation(t *testing.T) {
	long := strings.Repeat("x", 250)
	tests := []struct {
		name string
		cmd  createTopic
		code sm.Code
		msg  string
	}{
		{"ok", createTopic{Name: "a.b_c-D9", Partitions: 3, ReplicationFactor: 2, Config: sm.TopicConfig{MinInSyncReplicas: 2}}, sm.CodeOK, ""},
		{"empty name", createTopic{Name: "", Partitions: 1, ReplicationFactor: 1, Config: sm.TopicConfig{MinInSyncReplicas: 1}}, sm.CodeInvalidTopicName, "topic name must not be empty"},
		{"dot", createTopic{Name: ".", Partitions: 1, ReplicationFactor: 1, Config: sm.TopicConfig{MinInSyncReplicas: 1}}, sm.CodeInvalidTopicName, `topic name "." is reserved`},
		{"dotdot", createTopic{Name: "..", Partitions: 1, ReplicationFactor: 1, Config: sm.TopicConfig{MinInSyncReplicas: 1}}, sm.CodeInvalidTopicName, `topic name ".." is reserved`},
		{"bad char", createTopic{Name: "a/b", Partitions: 1, ReplicationFactor: 1, Config: sm.TopicConfig{MinInSyncReplicas: 1}}, sm.CodeInvalidTopicName, `topic name "a/b" has '/' at byte 1`},
		// A multi-byte rune is named whole, at the byte it starts at.
		{"unicode", createTopic{Name: "Ünïcode", Partitions: 1, ReplicationFactor: 1, Config: sm.TopicConfig{MinInSyncReplicas: 1}}, sm.CodeInvalidTopicName, `topic name "Ünïcode" has 'Ü' at byte 0`},
		{"unicode later", createTopic{Name: "ab€", Partitions: 1, ReplicationFactor: 1, Config: sm.TopicConfig{MinInSyncReplicas: 1}}, sm.CodeInvalidTopicName, `has '€' at byte 2`},
		{"invalid utf-8", createTopic{Name: "a\xff", Partitions: 1, ReplicationFactor: 1, Config: sm.TopicConfig{MinInSyncReplicas: 1}}, sm.CodeInvalidTopicName, `has byte 0xff (not UTF-8) at byte 1`},
		{"too long", createTopic{Name: long, Partitions: 1, ReplicationFactor: 1, Config: sm.TopicConfig{MinInSyncReplicas: 1}}, sm.CodeInvalidTopicName, "is 250 bytes, above the 249 limit"},
		{"zero partitions", createTopic{Name: "t", Partitions: 0, ReplicationFactor: 1, Config: sm.TopicConfig{MinInSyncReplicas: 1}}, sm.CodeInvalidPartitions, "partitions must be >= 1 (got 0)"},
		{"zero rf", createTopic{Name: "t", Partitions: 1, ReplicationFactor: 0, Config: sm.TopicConfig{MinInSyncReplicas: 1}}, sm.CodeInvalidReplicationFactor, "replication factor must be >= 1 (got 0)"},
		{"rf above live", createTopic{Name: "t", Partitions: 1, ReplicationFactor: 3, Config: sm.TopicConfig{MinInSyncReplicas: 1}}, sm.CodeInvalidReplicationFactor, "replication factor 3 above the 2 live brokers"},
		{"min isr above rf", createTopic{Name: "t", Partitions: 1, ReplicationFactor: 2, Config: sm.TopicConfig{MinInSyncReplicas: 3}}, sm.CodeInvalidRequest, "min in-sync replicas must be in 1..2 (replication factor) (got 3)"},
		{"exists", createTopic{Name: "taken", Partitions: 1, ReplicationFactor: 1, Config: sm.TopicConfig{MinInSyncReplicas: 1}}, sm.CodeTopicExists, `topic "taken" already exists`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFSM(t)
			f.register(101, 102, 103)
			f.fence(103)
			f.create("taken", 1, 1, sm.TopicConfig{})
			v := f.md.version
			r := f.do(command{Create: &tt.cmd})
			if r.code != tt.code || !strings.Contains(r.message, tt.msg) {
				t.Fatalf("got %v %q, want %v containing %q", r.code, r.message, tt.code, tt.msg)
			}
			if changed := f.md.version != v; changed != (tt.code == sm.CodeOK) {
				t.Errorf("version %d → %d for code %v", v, f.md.version, r.code)
			}
		})
	}
}

func TestDeleteTopic(t *testing.T) {
	f := newFSM(t)
	f.register(101)
	f.create("t", 2, 1, sm.TopicConfig{})
	if r := f.do(command{Delete: &deleteTopic{Name: "nope"}}); r.code != sm.CodeUnknownTopic || r.message != `topic "nope" does not exist` {
		t.Errorf("delete unknown: %v %q", r.code, r.message)
	}
	f.ok(command{Delete: &deleteTopic{Name: "t"}})
	if f.md.topics["t"] != nil || f.md.tombstones["t"] != f.md.version {
		t.Errorf("t not deleted: topics %v tombstones %v", f.md.topics, f.md.tombstones)
	}
	f.create("t", 1, 1, sm.TopicConfig{}) // the name is free again
}

func TestAlterISRValidation(t *testing.T) {
	f := newFSM(t)
	f.register(101, 102, 103, 104)
	f.create("t", 1, 3, sm.TopicConfig{})
	st := f.state("t", 0) // replicas [101 102 103] by assignment from rotation 0
	if !slices.Equal(st.Replicas, []sm.NodeID{101, 102, 103}) {
		t.Fatalf("unexpected assignment %v", st.Replicas)
	}
	f.fence(103) // leaves the ISR [101 102]
	st = f.state("t", 0)
	base := alterISR{Broker: 101, TP: st.TP, LeaderEpoch: st.LeaderEpoch, PartitionEpoch: st.PartitionEpoch, ISR: []sm.NodeID{101}}
	tests := []struct {
		name string
		edit func(c *alterISR)
		code sm.Code
		msg  string
	}{
		{"ok", func(c *alterISR) {}, sm.CodeOK, ""},
		{"unknown partition", func(c *alterISR) { c.TP.Partition = 1 }, sm.CodeUnknownTopic, "partition t/1 does not exist"},
		{"not leader", func(c *alterISR) { c.Broker = 102 }, sm.CodeFencedLeaderEpoch, "broker b102 at leader epoch 1 is not the leader of t/0"},
		{"old leader epoch", func(c *alterISR) { c.LeaderEpoch = 0 }, sm.CodeFencedLeaderEpoch, "is not the leader"},
		{"future leader epoch", func(c *alterISR) { c.LeaderEpoch = 9 }, sm.CodeUnknownLeaderEpoch, "leader epoch 9 of t/0 newer than current 1"},
		{"stale partition epoch", func(c *alterISR) { c.PartitionEpoch = 1 }, sm.CodeStaleRequest, "partition epoch 1 of t/0 is not current 2"},
		{"empty isr", func(c *alterISR) { c.ISR = nil }, sm.CodeInvalidRequest, "isr is empty"},
		{"without leader", func(c *alterISR) { c.ISR = []sm.NodeID{102} }, sm.CodeInvalidRequest, "leader b101 not in isr"},
		{"duplicate", func(c *alterISR) { c.ISR = []sm.NodeID{101, 101} }, sm.CodeInvalidRequest, "replica b101 listed twice"},
		{"not a replica", func(c *alterISR) { c.ISR = []sm.NodeID{101, 104} }, sm.CodeInvalidRequest, "broker b104 is not a replica"},
		{"fenced member", func(c *alterISR) { c.ISR = []sm.NodeID{101, 103} }, sm.CodeInvalidRequest, "broker b103 is fenced"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &fsm{t: t, md: cloneMetadata(f.md)}
			c := base
			c.ISR = slices.Clone(base.ISR)
			tt.edit(&c)
			r := g.do(command{AlterISR: &c})
			if r.code != tt.code || !strings.Contains(r.message, tt.msg) {
				t.Fatalf("got %v %q, want %v containing %q", r.code, r.message, tt.code, tt.msg)
			}
			want := st
			if tt.code == sm.CodeOK {
				want.ISR, want.PartitionEpoch = c.ISR, st.PartitionEpoch+1
			}
			if r.code != sm.CodeUnknownTopic && !equalPartition(r.state, want) {
				t.Errorf("reply state %+v, want %+v", r.state, want)
			}
		})
	}
}

// cloneMetadata deep-copies md by replaying nothing: it rebuilds the maps.
func cloneMetadata(md *metadata) *metadata {
	c := *md
	c.brokers, c.topics, c.tombstones = map[sm.NodeID]*brokerEntry{}, map[string]*topicEntry{}, map[string]uint64{}
	for id, b := range md.brokers {
		bb := *b
		c.brokers[id] = &bb
	}
	for name, t := range md.topics {
		tt := *t
		tt.partitions = nil
		for _, p := range t.partitions {
			tt.partitions = append(tt.partitions, &partitionEntry{state: clonePartition(p.state), version: p.version})
		}
		c.topics[name] = &tt
	}
	for name, v := range md.tombstones {
		c.tombstones[name] = v
	}
	return &c
}

func equalPartition(a, b sm.PartitionState) bool {
	return a.TP == b.TP && a.Leader == b.Leader && a.LeaderEpoch == b.LeaderEpoch && a.PartitionEpoch == b.PartitionEpoch &&
		slices.Equal(a.Replicas, b.Replicas) && slices.Equal(a.ISR, b.ISR)
}

func TestRegisterBroker(t *testing.T) {
	f := newFSM(t)
	f.register(101, 102)
	f.create("t", 1, 2, sm.TopicConfig{}) // replicas [101 102], leader 101

	v := f.md.version
	f.ok(command{Register: &registerBroker{ID: 101, Incarnation: 1}})
	if f.md.version != v {
		t.Errorf("re-registering a live incarnation changed version %d → %d", v, f.md.version)
	}
	r := f.do(command{Register: &registerBroker{ID: 101, Incarnation: 0}})
	if r.code != sm.CodeStaleBrokerEpoch || r.message != "broker b101 incarnation 0 below registered 1" {
		t.Errorf("older incarnation: %v %q", r.code, r.message)
	}

	// A new incarnation of a live broker fences the old one first: it loses
	// leadership and the ISR, then comes back as a follower.
	f.ok(command{Register: &registerBroker{ID: 101, Incarnation: 2, Rack: "x"}})
	st := f.state("t", 0)
	want := sm.PartitionState{TP: st.TP, Replicas: []sm.NodeID{101, 102}, Leader: 102, LeaderEpoch: 2, ISR: []sm.NodeID{102}, PartitionEpoch: 2}
	if !equalPartition(st, want) {
		t.Errorf("after new incarnation: %+v, want %+v", st, want)
	}
	if b := f.md.brokers[101].info; b.Incarnation != 2 || b.Fenced || b.Rack != "x" {
		t.Errorf("broker after re-register: %+v", b)
	}
}

func TestFenceBroker(t *testing.T) {
	f := newFSM(t)
	f.register(101, 102, 103)
	f.create("t", 1, 3, sm.TopicConfig{}) // [101 102 103]

	f.ok(command{Fence: &fenceBroker{ID: 101, Incarnation: 7}}) // stale incarnation: no-op
	if f.md.brokers[101].info.Fenced {
		t.Fatalf("fence of another incarnation fenced the broker")
	}
	if r := f.do(command{Fence: &fenceBroker{ID: 109, Incarnation: 1}}); r.code != sm.CodeInvalidRequest {
		t.Errorf("fence unknown broker: %v", r.code)
	}

	f.fence(101)
	want := sm.PartitionState{TP: sm.TopicPartition{Topic: "t"}, Replicas: []sm.NodeID{101, 102, 103}, Leader: 102, LeaderEpoch: 2, ISR: []sm.NodeID{102, 103}, PartitionEpoch: 2}
	if st := f.state("t", 0); !equalPartition(st, want) {
		t.Errorf("after fencing leader: %+v, want %+v", st, want)
	}
	f.fence(103) // a follower: ISR shrinks, leader stays
	want.ISR, want.PartitionEpoch = []sm.NodeID{102}, 3
	if st := f.state("t", 0); !equalPartition(st, want) {
		t.Errorf("after fencing follower: %+v, want %+v", st, want)
	}
	f.fence(102) // the last ISR member: offline, ISR kept for its return
	want.Leader, want.LeaderEpoch, want.PartitionEpoch = sm.NoNode, 3, 4
	if st := f.state("t", 0); !equalPartition(st, want) {
		t.Errorf("after fencing last isr member: %+v, want %+v", st, want)
	}
	f.register(101) // alive but outside the ISR: clean topic stays offline
	if st := f.state("t", 0); st.Leader != sm.NoNode {
		t.Errorf("clean topic elected out-of-isr %v", st.Leader)
	}
	f.ok(command{Register: &registerBroker{ID: 102, Incarnation: 1}}) // the ISR member returns
	want.Leader, want.LeaderEpoch, want.PartitionEpoch = 102, 4, 5
	if st := f.state("t", 0); !equalPartition(st, want) {
		t.Errorf("after isr member returned: %+v, want %+v", st, want)
	}
}

func TestUncleanElectionFSM(t *testing.T) {
	f := newFSM(t)
	f.register(101, 102, 103)
	f.create("u", 1, 3, sm.TopicConfig{UncleanLeaderElection: true})
	f.shrink("u", 0, 101)
	f.fence(102)
	f.fence(101) // no live ISR member: first live replica, ISR reset
	st := f.state("u", 0)
	if st.Leader != 103 || !slices.Equal(st.ISR, []sm.NodeID{103}) {
		t.Errorf("unclean: %+v", st)
	}
	f.fence(103) // nobody alive
	f.register(102)
	if st := f.state("u", 0); st.Leader != 102 || !slices.Equal(st.ISR, []sm.NodeID{102}) {
		t.Errorf("unclean after register: %+v", st)
	}
}

func TestAssignmentSpreadsRacksAndLeaders(t *testing.T) {
	var live []sm.BrokerInfo
	for i, rack := range []string{"a", "a", "b", "b", "c", "c"} {
		live = append(live, sm.BrokerInfo{ID: sm.NodeID(101 + i), Rack: rack})
	}
	if got, want := rackAlternating(live), []sm.NodeID{101, 103, 105, 102, 104, 106}; !slices.Equal(got, want) {
		t.Fatalf("rack order %v, want %v", got, want)
	}
	rack := func(id sm.NodeID) string { return live[id-101].Rack }
	leads := map[sm.NodeID]int{}
	for _, replicas := range assignReplicas(live, 12, 3, 0) {
		racks := map[string]bool{}
		for _, r := range replicas {
			racks[rack(r)] = true
		}
		if len(racks) != 3 {
			t.Errorf("replicas %v span racks %v", replicas, racks)
		}
		leads[replicas[0]]++
	}
	for _, b := range live {
		if leads[b.ID] != 2 {
			t.Errorf("broker %v leads %d of 12", b.ID, leads[b.ID])
		}
	}
	if a, b := assignReplicas(live, 1, 3, 0), assignReplicas(live, 1, 3, 1); a[0][0] == b[0][0] {
		t.Errorf("rotation did not move the first leader: %v %v", a, b)
	}
}

func TestConfigValidate(t *testing.T) {
	good := testConfig(1, []sm.NodeID{1, 2, 3})
	tests := []struct {
		name string
		edit func(c *Config)
		msg  string
	}{
		{"good", func(c *Config) {}, ""},
		{"id zero", func(c *Config) { c.ID = 0 }, "controller: id must be in 1..99 (got 0)"},
		{"id not a peer", func(c *Config) { c.Peers = []sm.NodeID{2, 3} }, "controller: peers [c2 c3] must include id 1"},
		{"duplicate peer", func(c *Config) { c.Peers = []sm.NodeID{1, 2, 2} }, "controller: peers [c1 c2 c2] must be distinct ids in 1..99 (bad 2)"},
		{"tick", func(c *Config) { c.TickInterval = 0 }, "controller: tick interval must be > 0 (got 0s)"},
		{"heartbeat ticks", func(c *Config) { c.HeartbeatTicks = 0 }, "controller: heartbeat ticks must be >= 1 (got 0)"},
		{"election ticks", func(c *Config) { c.ElectionTicks = 1 }, "controller: election ticks must be > heartbeat ticks (got 1 <= 1)"},
		{"session", func(c *Config) { c.SessionTimeout = -1 }, "controller: session timeout must be > 0 (got -1ns)"},
		{"min isr", func(c *Config) { c.DefaultMinISR = 0 }, "controller: default min isr must be >= 1 (got 0)"},
		{"max partitions", func(c *Config) { c.MaxPartitions = 0 }, "controller: max partitions must be >= 1 (got 0)"},
		{"health timeout", func(c *Config) { c.HealthTimeout = -1 }, "controller: health timeout must be >= 0 (got -1ns); 0 uses 30s"},
		{"health timeout default", func(c *Config) { c.HealthTimeout = 0 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			c.Peers = slices.Clone(good.Peers)
			tt.edit(&c)
			err := c.Validate()
			if got := errString(err); got != tt.msg {
				t.Fatalf("Validate() = %q, want %q", got, tt.msg)
			}
			if _, err := New(c, sm.Durable{}); errString(err) != tt.msg {
				t.Fatalf("New() = %v, want %q", err, tt.msg)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
