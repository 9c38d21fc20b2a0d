package controller

import (
	"slices"

	"github.com/weirmq/weir/sm"
)

// Eligible leader replicas (sm.PartitionState.ELR, Kafka's KIP-966).
//
// The partition leader advances the high watermark only while the ISR holds
// at least min_in_sync_replicas members (sm/partition), so a replica that
// leaves an ISR smaller than that holds every committed record, and keeps
// holding them: nothing new commits until the ISR is large enough again.
// Such replicas are the ELR. When no ISR member is alive, a live ELR member
// is elected, so losing the last in-sync copy (a lost disk) loses nothing
// committed while any ELR member survives.
//
// The rules, applied wherever the ISR changes:
//   - a replica that leaves the ISR joins the ELR when the ISR it leaves is
//     smaller than min_in_sync_replicas, unless it lost the partition's data;
//   - ISR members are never in the ELR, and the ELR empties when the ISR
//     reaches min_in_sync_replicas;
//   - a replica that reports it lost the partition's data leaves both.

// leaveISR takes r out of st's ISR; it joins the ELR when the ISR left
// behind is smaller than minISR.
func leaveISR(st *sm.PartitionState, r sm.NodeID, minISR int32) {
	st.ISR = without(st.ISR, r)
	if int32(len(st.ISR)) < minISR {
		st.ELR = inReplicaOrder(st, append(slices.Clone(st.ELR), r))
	}
	settleELR(st, minISR)
}

// settleELR drops ISR members from the ELR, and empties it once the ISR is
// at least minISR.
func settleELR(st *sm.PartitionState, minISR int32) {
	if int32(len(st.ISR)) >= minISR {
		st.ELR = nil
		return
	}
	st.ELR = slices.DeleteFunc(slices.Clone(st.ELR), func(r sm.NodeID) bool { return slices.Contains(st.ISR, r) })
	if len(st.ELR) == 0 {
		st.ELR = nil
	}
}

// setISR replaces st's ISR (an accepted AlterISR), moving members it drops
// to the ELR when the new ISR is smaller than minISR.
func setISR(st *sm.PartitionState, isr []sm.NodeID, minISR int32) {
	old := st.ISR
	st.ISR = slices.Clone(isr)
	if int32(len(st.ISR)) < minISR {
		elr := slices.Clone(st.ELR)
		for _, r := range old {
			if !slices.Contains(st.ISR, r) {
				elr = append(elr, r)
			}
		}
		st.ELR = inReplicaOrder(st, elr)
	}
	settleELR(st, minISR)
}

// inReplicaOrder returns the distinct members of set in st.Replicas order,
// so the ELR's order never depends on the order events happened in.
func inReplicaOrder(st *sm.PartitionState, set []sm.NodeID) []sm.NodeID {
	var out []sm.NodeID
	for _, r := range st.Replicas {
		if slices.Contains(set, r) {
			out = append(out, r)
		}
	}
	return out
}

func without(ids []sm.NodeID, r sm.NodeID) []sm.NodeID {
	return slices.DeleteFunc(slices.Clone(ids), func(x sm.NodeID) bool { return x == r })
}
