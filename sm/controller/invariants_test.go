package controller

import (
	"strings"
	"testing"

	"github.com/weirmq/weir/sm"
)

// Goal: the invariant checks are not vacuous — each corruption is caught.
func TestInvariantsCatchCorruption(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(md *metadata)
		msg     string
	}{
		{"leader outside isr", func(md *metadata) { md.topics["t"].partitions[0].state.ISR = []sm.NodeID{102} }, "leader b101 not in isr"},
		{"empty isr", func(md *metadata) { md.topics["t"].partitions[0].state.ISR = nil }, "isr is empty"},
		{"isr not replicas", func(md *metadata) { md.topics["t"].partitions[0].state.ISR = []sm.NodeID{101, 104} }, "has duplicates or non-replicas"},
		{"duplicate replicas", func(md *metadata) { md.topics["t"].partitions[0].state.Replicas = []sm.NodeID{101, 101, 103} }, "not distinct"},
		{"fenced leader", func(md *metadata) { md.brokers[101].info.Fenced = true }, "leader b101 is fenced"},
		{"needless offline", func(md *metadata) { md.topics["t"].partitions[0].state.Leader = sm.NoNode }, "offline although replica b101 is alive"},
		{"epochs", func(md *metadata) { md.topics["t"].partitions[0].state.PartitionEpoch = 0 }, "partition epoch 0 below leader epoch 1"},
		{"version ahead", func(md *metadata) { md.topics["t"].version = md.version + 1 }, "version"},
		{"partition count", func(md *metadata) { md.topics["t"].info.Partitions = 5 }, "has 2 partitions, info says 5"},
		{"tombstone ahead", func(md *metadata) {
			md.tombstones["gone"] = md.version + 1
			md.tombstoneOrder = append(md.tombstoneOrder, "gone")
		}, `tombstone "gone"`},
		{"tombstone unordered", func(md *metadata) { md.tombstones["gone"] = 1 }, `1 tombstones but 0 in their order`},
		{"unknown replica", func(md *metadata) { delete(md.brokers, 103) }, "replica b103 is not a registered broker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFSM(t)
			f.register(101, 102, 103, 104)
			f.create("t", 2, 3, sm.TopicConfig{})
			tt.corrupt(f.md)
			err := f.md.check()
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("check() = %v, want %q", err, tt.msg)
			}
		})
	}
}

// Goal: the node-level checks catch leader state on a follower.
func TestNodeInvariantsCatchStrayLeaderState(t *testing.T) {
	h := newHarness(t, 3, 3)
	h.waitLeader()
	f := h.nodes[h.followers()[0]]
	f.heartbeatAt[101] = f.now
	if err := f.CheckInvariants(); err == nil || !strings.Contains(err.Error(), "not leader with") {
		t.Fatalf("CheckInvariants() = %v", err)
	}
}
