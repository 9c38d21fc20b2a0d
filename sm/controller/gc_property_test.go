package controller

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/cryptotest"

	"pgregory.net/rapid"

	"github.com/weirmq/weir/sm"
)

// gcWorldModel is the world of TestGCNeverDeletesRecorded: three
// controllers with the collector on, two brokers, one topic, and an object
// store whose operations the test completes itself, in any order and with
// any outcome.
type gcWorldModel struct {
	h       *harness
	store   *objStore
	eff     sm.EffectID               // the uploads' effect IDs
	commits []sm.CommitSegmentRequest // every commit sent, for retries
	late    []sm.CommitSegmentRequest // uploads not proposed yet
}

// newest is the controller that applied the most: its records are the
// truth a checker compares the store with (a lagging follower may still
// hold records the log has dropped since).
func (w *gcWorldModel) newest() *Node {
	var best *Node
	for _, id := range w.h.ids {
		if n := w.h.nodes[id]; n != nil && (best == nil || n.AppliedIndex() > best.AppliedIndex()) {
			best = n
		}
	}
	return best
}

// target is the leader, or any running controller when none leads.
func (w *gcWorldModel) target(t *rapid.T) sm.NodeID {
	if l := w.h.leader(); l != sm.NoNode {
		return l
	}
	var up []sm.NodeID
	for _, id := range w.h.ids {
		if w.h.nodes[id] != nil {
			up = append(up, id)
		}
	}
	return rapid.SampledFrom(up).Draw(t, "to")
}

// partition draws one of the topic's partitions as the newest controller
// knows it (what a broker's metadata says).
func (w *gcWorldModel) partition(t *rapid.T) (sm.TopicID, sm.PartitionState, bool) {
	md := w.newest().md
	te := md.topics["t"]
	if te == nil {
		return sm.TopicID{}, sm.PartitionState{}, false
	}
	p := te.partitions[rapid.IntRange(0, len(te.partitions)-1).Draw(t, "p")]
	return te.info.ID, p.state, true
}

// complete finishes one pending object operation of a running controller,
// drawn from all of them, with a drawn outcome.
func (w *gcWorldModel) complete(t *rapid.T) {
	var ids []sm.NodeID
	for _, id := range w.h.ids {
		if w.h.hosts[id].Up() && len(w.h.hosts[id].Env.PendingObjects) > 0 {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		t.Skip("no object operation pending")
	}
	id := rapid.SampledFrom(ids).Draw(t, "node")
	env := w.h.hosts[id].Env
	i := rapid.IntRange(0, len(env.PendingObjects)-1).Draw(t, "op")
	op := env.PendingObjects[i]
	env.PendingObjects = slices.Delete(env.PendingObjects, i, i+1)
	out := rapid.SampledFrom([]sm.Outcome{sm.OutcomeOK, sm.OutcomeOK, sm.OutcomeOK, sm.OutcomeFailed, sm.OutcomeUnknown}).Draw(t, "outcome")
	apply := rapid.Bool().Draw(t, "applied")
	w.store.fault = func(sm.ObjectOp) (sm.Outcome, bool) { return out, apply }
	d := w.store.exec(op)
	w.store.fault = nil
	w.h.step(id, d)
	w.h.settle()
}

// check: every object the newest records name is in the store.
func (w *gcWorldModel) check(t *rapid.T) {
	n := w.newest()
	segs := n.RemoteSegments()
	for _, tp := range slices.SortedFunc(maps.Keys(segs), func(a, b sm.TopicPartition) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	}) {
		for _, s := range segs[tp] {
			if !w.store.has(s.Name) {
				t.Fatalf("%v (applied %d) records [%d, %d) of %v in %s, which is gone from the store (deleted: %v)",
					n.cfg.ID, n.AppliedIndex(), s.Base, s.Next, tp, s.Name, w.store.deleted)
			}
		}
	}
}

// Goal: whatever the interleaving of uploads, commits (fresh, retried,
// zombie, out of range), drops, leader epoch changes, topic re-creation,
// controller crashes (their deletes in flight landing later or not),
// collection passes and object-store completions (any order, failed,
// unknown), the collector never deletes an object that the newest
// metadata's records refer to; and once faults stop, every object that
// can never be recorded is collected.
func TestGCNeverDeletesRecorded(t *testing.T) {
	const grace, interval = 400 * sm.Millisecond, 100 * sm.Millisecond
	rapid.Check(t, func(rt *rapid.T) {
		cryptotest.SetGlobalRandom(t, 1) // raft's jitter: the same for every run of one draw
		h := newHarnessWith(rt, 1, 3, withGC(grace, interval))
		w := &gcWorldModel{h: h, store: newObjStore()}
		w.store.pageMax = rapid.IntRange(1, 4).Draw(rt, "page")
		h.waitLeader()
		h.registerBrokers(map[sm.NodeID]string{101: "a", 102: "b"})
		h.requestOne(client, h.leader(), sm.CreateTopicRequest{ReqID: 1, Name: "t", Partitions: 2, ReplicationFactor: 2})
		h.converge()
		rt.Repeat(map[string]func(*rapid.T){
			"upload": func(t *rapid.T) {
				id, st, ok := w.partition(t)
				if !ok || st.Leader == sm.NoNode {
					t.Skip("no leader to upload")
				}
				epoch := st.LeaderEpoch - sm.Epoch(rapid.SampledFrom([]int{0, 0, 0, 1}).Draw(t, "zombie"))
				base := st.Remote.End + sm.Offset(rapid.SampledFrom([]int{0, 0, 0, 0, -3, 5}).Draw(t, "skew"))
				base = max(base, 0)
				w.eff++
				name := sm.ObjectName{TopicID: id, Partition: st.TP.Partition, Base: base, Epoch: epoch, Broker: st.Leader, Incarnation: 1, Effect: w.eff}.String()
				w.store.names[name] = true
				req := sm.CommitSegmentRequest{ReqID: uint64(w.eff), Broker: st.Leader, TP: st.TP, TopicID: id, LeaderEpoch: epoch,
					Segment: sm.RemoteSegment{Name: name, Base: base, Next: base + sm.Offset(rapid.IntRange(1, 10).Draw(t, "len")), DataBytes: 100, LeaderEpoch: epoch}}
				if rapid.IntRange(0, 3).Draw(t, "later") == 0 {
					w.late = append(w.late, req) // proposed later, or never (its answer was lost)
					return
				}
				w.commits = append(w.commits, req)
				h.send(900, w.target(t), req)
				h.settle()
			},
			"propose_late": func(t *rapid.T) {
				if len(w.late) == 0 {
					t.Skip("no upload waiting")
				}
				i := rapid.IntRange(0, len(w.late)-1).Draw(t, "upload")
				req := w.late[i]
				w.late = slices.Delete(w.late, i, i+1)
				w.commits = append(w.commits, req)
				h.send(900, w.target(t), req)
				h.settle()
			},
			"retry": func(t *rapid.T) {
				if len(w.commits) == 0 {
					t.Skip("nothing committed yet")
				}
				h.send(900, w.target(t), rapid.SampledFrom(w.commits).Draw(t, "commit"))
				h.settle()
			},
			"drop": func(t *rapid.T) {
				id, st, ok := w.partition(t)
				if !ok {
					t.Skip("no topic")
				}
				below := st.Remote.Start + sm.Offset(rapid.IntRange(0, 12).Draw(t, "below"))
				if p := w.newest().md.partition(st.TP); len(p.remote) > 0 && rapid.Bool().Draw(t, "boundary") {
					below = rapid.SampledFrom(p.remote).Draw(t, "segment").Next
				}
				h.send(901, w.target(t), sm.DropRemoteSegmentsRequest{ReqID: 1, Broker: st.Leader, TP: st.TP, TopicID: id, LeaderEpoch: st.LeaderEpoch, Below: below})
				h.settle()
			},
			"epoch": func(t *rapid.T) {
				b := h.brokers[rapid.SampledFrom([]sm.NodeID{101, 102}).Draw(t, "broker")]
				b.incarnation++ // a restart: its next heartbeat fences the old incarnation, moving its partitions' epochs
				h.advance(300 * sm.Millisecond)
			},
			"recreate": func(t *rapid.T) {
				to := w.target(t)
				h.send(client, to, sm.DeleteTopicRequest{ReqID: 2, Name: "t"})
				h.settle()
				h.send(client, h.leader(), sm.CreateTopicRequest{ReqID: 3, Name: "t", Partitions: 2, ReplicationFactor: 2})
				h.settle()
			},
			"advance": func(t *rapid.T) {
				h.advance(sm.Duration(rapid.IntRange(1, 15).Draw(t, "ticks")) * 100 * sm.Millisecond)
			},
			"complete": func(t *rapid.T) {
				for range rapid.IntRange(1, 8).Draw(t, "ops") {
					w.complete(t)
				}
			},
			"crash": func(t *rapid.T) {
				id := rapid.SampledFrom(h.ids).Draw(t, "controller")
				if h.nodes[id] == nil {
					t.Skip("down")
				}
				for _, op := range h.hosts[id].Env.PendingObjects {
					if op.Kind == sm.ObjDelete && rapid.Bool().Draw(t, "lands") {
						w.store.exec(op) // a delete already on its way lands after the crash
					}
				}
				h.crash(id)
				h.advance(200 * sm.Millisecond)
				h.start(id)
			},
			"": w.check,
		})
		// Liveness: faults stop; every operation, pending ones included,
		// completes OK as issued.
		h.objects = w.store
		for range 4 {
			h.advance(grace + 3*interval)
		}
		w.check(rt)
		// Uploads proposed only now (an uploader's proposal may be late by
		// any amount): whatever the collector took can never be recorded.
		if l := h.leader(); l != sm.NoNode {
			for _, req := range w.late {
				h.send(900, l, req)
				h.settle()
			}
			w.check(rt)
		}
		for range 4 {
			h.advance(grace + 3*interval)
		}
		w.check(rt)
		n := w.newest()
		byID := n.md.topicsByID()
		for _, name := range slices.Sorted(maps.Keys(w.store.names)) {
			if n.md.gcClassify(name, byID) == gcCollectable {
				rt.Fatalf("%s is collectable in %v's metadata (applied %d) but still stored after the faults stopped", name, n.cfg.ID, n.AppliedIndex())
			}
		}
	})
}
