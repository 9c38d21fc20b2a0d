package sim

import (
	"maps"
	"slices"
	"sort"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/broker"
	"github.com/weirmq/weir/sm/controller"
	"github.com/weirmq/weir/sm/partition"
)

// Cluster-wide invariants, checked every invariantInterval of virtual time
// on top of each node's own CheckInvariants after every step:
//
//   - no two brokers lead one partition in the same leader epoch;
//   - committed data never changes: every replica's records below its high
//     watermark agree with the cluster's committed log of that partition,
//     which only grows;
//   - a running replica never drops records below its high watermark;
//   - raft: at most one controller leads a term, and a committed entry never
//     changes (every controller's committed entries agree, by index, with
//     the cluster's committed raft log, which only grows). With compaction a
//     controller holds only the entries after its snapshot (and a few
//     before): those it holds are compared, and the snapshot stands for the
//     rest — its index and term must be the committed entry's;
//   - controllers that applied the same index hold the same metadata,
//     whether they replayed the log or restored a snapshot (the encoded
//     metadata is compared, across controllers and over time).
const invariantInterval = 100 * sm.Millisecond

type replicaKey struct {
	broker sm.NodeID
	inc    uint64
	tp     sm.TopicPartition
}

type invariants struct {
	committed map[sm.TopicPartition][]string // values by offset, committed
	verified  map[replicaKey]sm.Offset       // replica checked below this
	// raft is the cluster's committed raft log by index; raftLeaders the
	// controller seen leading each term; raftVerified how far each
	// controller process was checked.
	raft         map[uint64]raftEntry
	raftLeaders  map[uint64]sm.NodeID
	raftVerified map[replicaKey]uint64
	// raftStates is the encoded metadata some controller held at an applied
	// index (the newest raftStatesMax indexes); raftStateSeen the applied
	// index each controller process was last compared at.
	raftStates    map[uint64]raftState
	raftStateSeen map[replicaKey]uint64
}

// raftState is the metadata a controller held at an applied index.
type raftState struct {
	digest   string
	by       sm.NodeID
	restored bool // by had restored a snapshot (at start or from the leader)
}

// raftStatesMax bounds invariants.raftStates.
const raftStatesMax = 256

// raftEntry is what identifies a committed raft entry.
type raftEntry struct {
	term uint64
	data string
}

func (w *World) startInvariants() {
	w.inv = invariants{committed: map[sm.TopicPartition][]string{}, verified: map[replicaKey]sm.Offset{},
		raft: map[uint64]raftEntry{}, raftLeaders: map[uint64]sm.NodeID{}, raftVerified: map[replicaKey]uint64{},
		raftStates: map[uint64]raftState{}, raftStateSeen: map[replicaKey]uint64{}}
	var tick func()
	tick = func() {
		w.checkCluster()
		w.after(invariantInterval, tick)
	}
	w.after(invariantInterval, tick)
}

func (w *World) checkCluster() {
	for _, id := range w.controllerIDs() {
		w.checkRaft(id)
	}
	unclean := map[string]bool{}
	for _, t := range w.cfg.Topics {
		unclean[t.Name] = t.Unclean
	}
	// One status listing per broker per check: a seed may run hundreds of
	// partitions.
	brokers := w.brokerIDs()
	replicas := map[sm.NodeID]map[sm.TopicPartition]broker.PartitionStatus{}
	for _, id := range brokers {
		if b := w.brokerNode(id); b != nil {
			replicas[id] = statusByTP(b)
		}
	}
	for _, tp := range w.workloadTPs() {
		w.checkLeaders(tp, brokers, replicas)
		if !unclean[tp.Topic] {
			for _, id := range brokers {
				if st, ok := replicas[id][tp]; ok {
					w.checkCommitted(id, tp, st)
				}
			}
		}
	}
}

func (w *World) checkLeaders(tp sm.TopicPartition, brokers []sm.NodeID, replicas map[sm.NodeID]map[sm.TopicPartition]broker.PartitionStatus) {
	leaders := map[sm.Epoch]sm.NodeID{}
	for _, id := range brokers {
		st, ok := replicas[id][tp]
		if !ok || st.Role != partition.RoleLeader {
			continue
		}
		if other, dup := leaders[st.LeaderEpoch]; dup {
			w.fail("%v: %v and %v both lead epoch %d", tp, other, id, st.LeaderEpoch)
			return
		}
		leaders[st.LeaderEpoch] = id
	}
}

// checkCommitted compares the new part of one replica's committed prefix
// (st is its status) with the cluster's committed log.
// unverified marks an offset of the cluster's committed log whose value no
// check has read (retention deleted it first). No produced value equals it.
const unverified = "\x00unverified"

func (w *World) checkCommitted(id sm.NodeID, tp sm.TopicPartition, st broker.PartitionStatus) {
	key := replicaKey{id, w.hosts[id].incarnation, tp}
	from := w.inv.verified[key]
	if st.LEO < from {
		w.fail("%v on %v: log end %d fell below checked committed offset %d", tp, id, st.LEO, from)
		return
	}
	if st.HW <= from {
		return
	}
	ref := w.inv.committed[tp]
	// The oracle stops at a frame it cannot read (a bit flipped at rest):
	// only what it read is verified, and the next check starts there.
	log := w.diskBatches(id, tp, from)
	checked := from
	i := sort.Search(len(log), func(i int) bool { return log[i].NextOffset() > from })
	for ; i < len(log) && log[i].BaseOffset < st.HW; i++ {
		for j, r := range log[i].Records {
			off := log[i].BaseOffset + sm.Offset(j)
			if off < from || off >= st.HW {
				continue
			}
			checked = off + 1
			if int(off) > len(ref) && off == st.LogStart {
				// Retention deleted what lies below this replica's log start
				// before any check read it: those offsets stay unverified.
				for int(off) > len(ref) {
					ref = append(ref, unverified)
				}
			}
			switch {
			case int(off) < len(ref) && ref[off] == unverified:
				ref[off] = string(r.Value)
			case int(off) < len(ref):
				if ref[off] != string(r.Value) {
					w.fail("%v on %v: committed offset %d holds %q, cluster committed %q", tp, id, off, r.Value, ref[off])
					return
				}
			case int(off) == len(ref):
				ref = append(ref, string(r.Value))
			default:
				w.fail("%v on %v: committed offset %d beyond a gap at %d", tp, id, off, len(ref))
				return
			}
		}
	}
	w.inv.committed[tp] = ref
	w.inv.verified[key] = checked
}

// checkRaft checks one controller against raft's two promises: one leader
// per term, and committed entries never change.
func (w *World) checkRaft(id sm.NodeID) {
	c := w.controllerNode(id)
	if c == nil {
		return
	}
	if c.IsLeader() {
		term := c.Term()
		if other, ok := w.inv.raftLeaders[term]; ok && other != id {
			w.fail("raft: %v and %v both lead term %d", other, id, term)
			return
		}
		w.inv.raftLeaders[term] = id
	}
	key := replicaKey{broker: id, inc: w.hosts[id].incarnation}
	from := w.inv.raftVerified[key] + 1
	ents := c.CommittedEntries(from)
	for _, e := range ents {
		i := e.GetIndex()
		got := raftEntry{term: e.GetTerm(), data: string(e.GetData())}
		if ref, ok := w.inv.raft[i]; !ok {
			w.inv.raft[i] = got
		} else if ref != got {
			w.fail("raft: %v holds committed entry %d as term %d (%d bytes); the cluster committed term %d (%d bytes)",
				id, i, got.term, len(got.data), ref.term, len(ref.data))
			return
		}
	}
	if n := len(ents); n > 0 {
		w.inv.raftVerified[key] = ents[n-1].GetIndex()
	}
	w.checkRaftSnapshot(id, c, key)
}

// checkRaftSnapshot checks what a controller's snapshot summarises: the
// snapshot names a committed entry (index and term), and the metadata at
// the controller's applied index is the one every other controller held at
// that index.
func (w *World) checkRaftSnapshot(id sm.NodeID, c *controller.Node, key replicaKey) {
	if si := c.SnapshotIndex(); si > 1 {
		if ref, ok := w.inv.raft[si]; ok && ref.term != c.SnapshotTerm() {
			w.fail("raft: %v holds a snapshot at %d of term %d; the cluster committed term %d there", id, si, c.SnapshotTerm(), ref.term)
			return
		}
	}
	applied := c.AppliedIndex()
	if seen, ok := w.inv.raftStateSeen[key]; ok && seen == applied {
		return // compared at this index already
	}
	w.inv.raftStateSeen[key] = applied
	got := raftState{digest: string(c.MetadataDigest()), by: id, restored: c.Restored()}
	ref, ok := w.inv.raftStates[applied]
	if !ok {
		w.inv.raftStates[applied] = got
		for len(w.inv.raftStates) > raftStatesMax {
			delete(w.inv.raftStates, slices.Min(slices.Collect(maps.Keys(w.inv.raftStates))))
		}
		return
	}
	if ref.digest != got.digest {
		w.fail("raft: %v's metadata at applied index %d (snapshot at %d, restored from a snapshot: %v) differs from %v's at that index (restored: %v):\n%s\n%s",
			id, applied, c.SnapshotIndex(), got.restored, ref.by, ref.restored, got.digest, ref.digest)
		return
	}
	if got.restored != ref.restored {
		w.stats.reach("restored metadata matches replayed")
	}
}

// diskBatches is what the cluster invariants read of a replica's log: the
// disk oracle's batches (diskLog), since no replica holds its log in
// memory; from the segment holding offset from on at least.
func (w *World) diskBatches(id sm.NodeID, tp sm.TopicPartition, from sm.Offset) []sm.Batch {
	log, _ := w.diskLog(id, tp, from)
	return log
}

// diskLog is the disk oracle: broker id's log of tp as its disk's page cache
// holds it now — every segment's frames, decoded — skipping the segments
// that end at or below from. It stops at the first frame that does not
// decode (a torn tail recovery has not cut yet, a bit flipped at rest) or
// does not continue the log, with an error naming the file and byte.
func (w *World) diskLog(id sm.NodeID, tp sm.TopicPartition, from sm.Offset) ([]sm.Batch, error) {
	return w.hosts[id].disk.logBatches(tp, from)
}
