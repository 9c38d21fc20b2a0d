package sim

import (
	"sort"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/partition"
)

// Cluster-wide invariants, checked every invariantInterval of virtual time
// on top of each node's own CheckInvariants after every step:
//
//   - no two brokers lead one partition in the same leader epoch;
//   - committed data never changes: every replica's records below its high
//     watermark agree with the cluster's committed log of that partition,
//     which only grows;
//   - a running replica never drops records below its high watermark.
const invariantInterval = 100 * sm.Millisecond

type replicaKey struct {
	broker sm.NodeID
	inc    uint64
	tp     sm.TopicPartition
}

type invariants struct {
	committed map[sm.TopicPartition][]string // values by offset, committed
	verified  map[replicaKey]sm.Offset       // replica checked below this
}

func (w *World) startInvariants() {
	w.inv = invariants{committed: map[sm.TopicPartition][]string{}, verified: map[replicaKey]sm.Offset{}}
	var tick func()
	tick = func() {
		w.checkCluster()
		w.after(invariantInterval, tick)
	}
	w.after(invariantInterval, tick)
}

func (w *World) checkCluster() {
	unclean := map[string]bool{}
	for _, t := range w.cfg.Topics {
		unclean[t.Name] = t.Unclean
	}
	for _, tp := range w.workloadTPs() {
		w.checkLeaders(tp)
		if !unclean[tp.Topic] {
			for _, id := range w.brokerIDs() {
				w.checkCommitted(id, tp)
			}
		}
	}
}

func (w *World) checkLeaders(tp sm.TopicPartition) {
	leaders := map[sm.Epoch]sm.NodeID{}
	for _, id := range w.brokerIDs() {
		b := w.brokerNode(id)
		if b == nil {
			continue
		}
		st, ok := partitionStatus(b, tp)
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
// with the cluster's committed log.
func (w *World) checkCommitted(id sm.NodeID, tp sm.TopicPartition) {
	b := w.brokerNode(id)
	if b == nil {
		return
	}
	st, ok := partitionStatus(b, tp)
	if !ok {
		return
	}
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
	log := b.Log(tp)
	i := sort.Search(len(log), func(i int) bool { return log[i].NextOffset() > from })
	for ; i < len(log) && log[i].BaseOffset < st.HW; i++ {
		for j, r := range log[i].Records {
			off := log[i].BaseOffset + sm.Offset(j)
			if off < from || off >= st.HW {
				continue
			}
			switch {
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
	w.inv.verified[key] = st.HW
}
