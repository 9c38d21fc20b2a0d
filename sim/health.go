package sim

import (
	"github.com/weirmq/weir/sm"
)

// Broker health in the simulator: every broker process gets synthetic
// component measurements (sm.HealthObserved) every HealthInterval, as the
// production runtime posts real ones; the brokers report them to the
// controller leader, and clients and tests read the result through
// ClusterStatusRequest.

// observeHealth posts synthetic health to a broker every HealthInterval for
// as long as incarnation inc runs.
func (h *host) observeHealth(inc uint64) {
	w := h.w
	w.after(w.cfg.HealthInterval, func() {
		if !h.up || h.incarnation != inc {
			return
		}
		h.deliver(inc, sm.HealthObserved{Health: h.syntheticHealth()})
		h.observeHealth(inc)
	})
}

// syntheticHealth derives component health from the host's simulated state:
// its disk's use and injected faults, and how many processes are up. It
// draws no randomness, so it perturbs no other draw.
func (h *host) syntheticHealth() sm.BrokerHealth {
	w := h.w
	used := h.disk.used()
	diskOK := w.now >= h.faults.errorsUntil && (h.disk.capacity == 0 || used < h.disk.capacity)
	up := 0
	for _, id := range w.hostIDs {
		if w.hosts[id].up {
			up++
		}
	}
	return sm.BrokerHealth{
		WAL:     sm.WALHealth{Healthy: diskOK, UsedBytes: used, CapacityBytes: h.disk.capacity, Backend: "sim"},
		Network: sm.NetworkHealth{Connections: up - 1, Healthy: true},
		Resources: sm.ResourceUsage{
			MemoryBytes: uint64(used), Goroutines: 1, CPUPercent: float64(h.incarnation),
		},
	}
}

// ClusterStatus asks controller to for the cluster status from the
// harness's own client and runs the world until the answer arrives, for at
// most timeout of virtual time; ok is false if none came.
func (w *World) ClusterStatus(to sm.NodeID, stale bool, timeout sm.Duration) (resp sm.ClusterStatusResponse, ok bool) {
	c := w.adminClient()
	c.reqID++
	id := c.reqID
	c.probes[id] = nil
	w.seeded(func() {
		c.send(to, sm.ClusterStatusRequest{ReqID: id, Stale: stale})
		w.runUntil(w.now.Add(timeout), func() bool { return c.probes[id] != nil })
	})
	r := c.probes[id]
	delete(c.probes, id)
	if r == nil {
		return sm.ClusterStatusResponse{}, false
	}
	return *r, true
}

// maxCommit is the highest commit index of any running controller: every
// entry at or below it is committed in the cluster, so a linearizable read
// asked now must reflect it.
func (w *World) maxCommit() uint64 {
	var commit uint64
	for _, id := range w.controllerIDs() {
		if n := w.controllerNode(id); n != nil {
			commit = max(commit, n.CommitIndex())
		}
	}
	return commit
}

// requestStatus is a workload client's cluster-status request to its
// controller guess; it is not recorded in the history, but a linearizable
// answer is checked against maxCommit at invocation.
func (c *client) requestStatus(stale bool) {
	w := c.w
	c.reqID++
	c.inflight = &pending{reqID: c.reqID, to: c.controller, status: true, stale: stale,
		commitAtInvoke: w.maxCommit(), deadline: w.now.Add(w.cfg.ClientTimeout)}
	c.send(c.controller, sm.ClusterStatusRequest{ReqID: c.reqID, Stale: stale})
	c.armDeadline()
}

// onStatus handles a cluster-status answer: a scripted probe's, or the
// workload's outstanding request.
func (c *client) onStatus(r sm.ClusterStatusResponse) {
	if want, ok := c.probes[r.ReqID]; ok && want == nil {
		c.probes[r.ReqID] = &r
		return
	}
	p := c.inflight
	if p == nil || !p.status || r.ReqID != p.reqID {
		return
	}
	c.inflight = nil
	switch {
	case r.Code == sm.CodeOK && !p.stale:
		c.checkLinearizable(p, r)
		c.next(c.thinkTime())
	case r.Code == sm.CodeOK:
		c.next(c.thinkTime())
	default:
		c.retryController(r.LeaderHint)
	}
}

// checkLinearizable: a linearizable answer comes from a leader and has
// applied everything committed before it was asked.
func (c *client) checkLinearizable(p *pending, r sm.ClusterStatusResponse) {
	w := c.w
	switch {
	case !r.IsLeader:
		w.fail("cluster status: linearizable answer %d to %v from %v, which does not lead", r.ReqID, c.id, p.to)
	case r.AppliedIndex < p.commitAtInvoke:
		w.fail("cluster status: linearizable answer %d to %v from %v at applied index %d, but %d was committed when it was asked",
			r.ReqID, c.id, p.to, r.AppliedIndex, p.commitAtInvoke)
	case !r.Metadata.Full || len(r.Brokers) != len(r.Metadata.Brokers):
		w.fail("cluster status: answer %d lists %d brokers, metadata %d (full=%v)", r.ReqID, len(r.Brokers), len(r.Metadata.Brokers), r.Metadata.Full)
	default:
		w.stats.reach("cluster status linearizable")
	}
}
