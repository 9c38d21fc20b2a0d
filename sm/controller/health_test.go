package controller

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/weirmq/weir/sm"
)

// healthTimeout is the tests' HealthTimeout: shorter than the harness's 2 s
// session timeout, so a silent broker goes offline before it is fenced.
const healthTimeout = sm.Second

func withHealthTimeout(c *Config) { c.HealthTimeout = healthTimeout }

// status asks controller to for the cluster status and returns its answer.
func (h *harness) status(to sm.NodeID, stale bool) sm.ClusterStatusResponse {
	h.t.Helper()
	r := h.requestOne(client, to, sm.ClusterStatusRequest{ReqID: uint64(h.now()), Stale: stale}).(sm.ClusterStatusResponse)
	if r.ReqID != uint64(h.now()) {
		h.t.Fatalf("status answer %d to request %d", r.ReqID, uint64(h.now()))
	}
	return r
}

// reportHealth makes every broker agent attach a health report (naming the
// broker in Network.Connections) to each heartbeat.
func (h *harness) reportHealth() {
	for id, b := range h.brokers {
		b.health = &sm.BrokerHealth{Network: sm.NetworkHealth{Connections: int(id), Healthy: true}}
	}
}

// follow points every broker agent at leader (agents follow hints but do
// not time out on a crashed controller).
func (h *harness) follow(leader sm.NodeID) {
	for _, b := range h.brokers {
		b.target = leader
	}
}

func brokerStatus(t *testing.T, r sm.ClusterStatusResponse, id sm.NodeID) sm.BrokerStatus {
	t.Helper()
	i := slices.IndexFunc(r.Brokers, func(b sm.BrokerStatus) bool { return b.Info.ID == id })
	if i < 0 {
		t.Fatalf("broker %v not in status %+v", id, r.Brokers)
	}
	return r.Brokers[i]
}

// online lists the brokers the answer counts online.
func online(r sm.ClusterStatusResponse) []sm.NodeID {
	var out []sm.NodeID
	for _, b := range r.Brokers {
		if b.Online {
			out = append(out, b.Info.ID)
		}
	}
	return out
}

// Goal: a broker is online exactly while its last report is at most
// HealthTimeout old — whatever its session says — and back online with its
// next report; the cluster verdict follows the majority rule.
func TestHealthOnlineOffline(t *testing.T) {
	h := newHarnessWith(t, 11, 3, withHealthTimeout)
	l := h.waitLeader()
	h.registerBrokers(threeRacks)
	h.reportHealth()
	h.advance(300 * sm.Millisecond)

	r := h.status(l, false)
	if r.Code != sm.CodeOK || !r.IsLeader || r.Leader != l || r.Now != h.now() || !r.Healthy {
		t.Fatalf("status: %+v", r)
	}
	for _, id := range []sm.NodeID{101, 102, 103} {
		b := brokerStatus(t, r, id)
		if !b.Online || b.LastReport == 0 || h.now().Sub(b.LastReport) > heartbeatInterval || b.Health.Network.Connections != int(id) {
			t.Errorf("%v: %+v at %v", id, b, h.now())
		}
	}

	// 101 keeps heartbeating (its session lives) but stops reporting: online
	// through exactly HealthTimeout after its last report, offline after.
	h.brokers[101].health = nil
	h.advance(20 * sm.Millisecond) // let a report sent just before land
	last := brokerStatus(t, h.status(l, false), 101).LastReport
	h.advance(last.Add(healthTimeout).Sub(h.now()))
	if b := brokerStatus(t, h.status(l, false), 101); !b.Online {
		t.Fatalf("101 offline at exactly HealthTimeout after its last report: %+v (now %v)", b, h.now())
	}
	h.advance(harnessStep)
	r = h.status(l, false)
	if b := brokerStatus(t, r, 101); b.Online || b.Info.Fenced || b.LastReport != last {
		t.Fatalf("101 just past HealthTimeout: %+v (now %v)", b, h.now())
	}
	if !r.Healthy || !slices.Equal(online(r), []sm.NodeID{102, 103}) {
		t.Fatalf("2 of 3 online: healthy=%v online=%v", r.Healthy, online(r))
	}

	// 102 dies: 1 of 3 online is not a majority.
	h.brokers[102].alive = false
	h.advance(healthTimeout + heartbeatInterval)
	r = h.status(l, false)
	if r.Healthy || !slices.Equal(online(r), []sm.NodeID{103}) {
		t.Fatalf("1 of 3 online: healthy=%v online=%v", r.Healthy, online(r))
	}

	// Both report again (102 after re-registering): online at once.
	h.brokers[101].health = &sm.BrokerHealth{WAL: sm.WALHealth{Healthy: true, Backend: "sync"}}
	h.brokers[102].alive = true
	h.advance(sm.Second)
	r = h.status(l, false)
	if !r.Healthy || len(online(r)) != 3 || brokerStatus(t, r, 101).Health.WAL.Backend != "sync" {
		t.Fatalf("after recovery: healthy=%v online=%v %+v", r.Healthy, online(r), r.Brokers)
	}
}

// Goal: the reference's cluster health rule — a leader and, with at most
// two brokers one online, with more a strict majority online — for 0 to 5
// brokers, as a table and end to end through ClusterStatus.
func TestClusterHealthRule(t *testing.T) {
	for brokers := range 6 {
		for up := 0; up <= brokers; up++ {
			want := up >= 1 && (brokers <= 2 || up > brokers/2)
			if got := clusterHealthy(up, brokers); got != want {
				t.Errorf("%d of %d online: healthy=%v, want %v", up, brokers, got, want)
			}
		}
	}
	cases := []struct{ brokers, up int }{
		{1, 1}, {1, 0}, {2, 2}, {2, 1}, {2, 0}, {3, 3}, {3, 2}, {3, 1}, {5, 5}, {5, 3}, {5, 2}, {5, 0},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d_of_%d", c.up, c.brokers), func(t *testing.T) {
			h := newHarnessWith(t, 29, 1, withHealthTimeout)
			l := h.waitLeader()
			racks := map[sm.NodeID]string{}
			for i := range c.brokers {
				racks[sm.NodeID(101+i)] = "a"
			}
			h.registerBrokers(racks)
			h.reportHealth()
			for i := c.up; i < c.brokers; i++ {
				h.brokers[sm.NodeID(101+i)].health = nil // heartbeats on, reports off
			}
			h.advance(healthTimeout + 2*heartbeatInterval)
			r := h.status(l, false)
			if got := len(online(r)); got != c.up || len(r.Brokers) != c.brokers {
				t.Fatalf("%d online of %d listed, want %d of %d", got, len(r.Brokers), c.up, c.brokers)
			}
			if want := clusterHealthy(c.up, c.brokers); r.Healthy != want {
				t.Fatalf("healthy=%v, want %v", r.Healthy, want)
			}
		})
	}
}

// Goal: a new leader has no reports; it counts unfenced brokers online for
// a grace of HealthTimeout from its election (LastReport 0), gives fenced
// brokers none, and judges on reports after it.
func TestHealthGraceAfterFailover(t *testing.T) {
	h := newHarnessWith(t, 13, 3, withHealthTimeout)
	l := h.waitLeader()
	h.registerBrokers(threeRacks)
	h.reportHealth()
	h.advance(300 * sm.Millisecond)
	h.brokers[103].alive = false // dies just before the failover
	h.crash(l)
	nl := h.waitLeader()
	h.follow(nl)
	since := h.nodes[nl].leaderSince
	r := h.status(nl, false)
	if b := brokerStatus(t, r, 103); b.LastReport != 0 || b.Online != (r.Now.Sub(since) <= healthTimeout) {
		t.Fatalf("103 on the new leader %v (since %v, now %v): %+v", nl, since, r.Now, b)
	}
	h.advance(since.Add(healthTimeout + harnessStep).Sub(h.now()))
	r = h.status(nl, false)
	if !slices.Equal(online(r), []sm.NodeID{101, 102}) || !r.Healthy {
		t.Fatalf("after the grace: online=%v healthy=%v", online(r), r.Healthy)
	}
	for _, id := range []sm.NodeID{101, 102} {
		if b := brokerStatus(t, r, id); b.LastReport < since {
			t.Errorf("%v last report %v before the tenure began at %v", id, b.LastReport, since)
		}
	}

	// Once 103 is fenced, the next leader gives it no grace.
	h.advance(3 * sm.Second)
	if b := brokerStatus(t, h.status(nl, false), 103); !b.Info.Fenced {
		t.Fatalf("103 not fenced: %+v", b)
	}
	h.start(l)
	h.crash(nl)
	third := h.waitLeader()
	h.follow(third)
	r = h.status(third, false)
	if b := brokerStatus(t, r, 103); b.Online {
		t.Fatalf("fenced 103 online on the new leader %v: %+v", third, b)
	}
	if h.nodes[third].now.Sub(h.nodes[third].leaderSince) <= healthTimeout && len(online(r)) != 2 {
		t.Fatalf("live brokers not online during the grace: %v", online(r))
	}
}

// Goal: stale entries go — reports of brokers unknown to the metadata, and
// reports older than healthForgetFactor × HealthTimeout — and a follower or
// a deposed leader holds none.
func TestHealthReportsForgotten(t *testing.T) {
	h := newHarnessWith(t, 31, 3, withHealthTimeout)
	l := h.waitLeader()
	h.registerBrokers(threeRacks)
	h.reportHealth()
	h.advance(300 * sm.Millisecond)
	n := h.nodes[l]
	if got := slices.Sorted(maps.Keys(n.reports)); !slices.Equal(got, []sm.NodeID{101, 102, 103}) {
		t.Fatalf("reports held for %v", got)
	}
	for _, id := range h.followers() {
		if len(h.nodes[id].reports) != 0 {
			t.Fatalf("follower %v holds %d reports", id, len(h.nodes[id].reports))
		}
	}
	h.brokers[103].alive = false
	h.advance(5 * healthTimeout)
	if b := brokerStatus(t, h.status(l, false), 103); b.Online || !b.Info.Fenced || b.LastReport == 0 {
		t.Fatalf("103 after %v silent: %+v", 5*healthTimeout, b)
	}
	h.advance((healthForgetFactor - 5 + 1) * healthTimeout)
	if _, ok := n.reports[103]; ok {
		t.Fatalf("103's report kept after %v of silence", healthForgetFactor*healthTimeout)
	}
	if b := brokerStatus(t, h.status(l, false), 103); b.Online || b.LastReport != 0 {
		t.Fatalf("103 after its report was forgotten: %+v", b)
	}

	// A report of a broker the metadata does not know goes at the next sweep.
	n.reports[999] = report{at: n.now}
	n.sweepAt = n.now
	n.sweepReports()
	if _, ok := n.reports[999]; ok || len(n.reports) != 2 {
		t.Fatalf("reports after the sweep: %v", slices.Sorted(maps.Keys(n.reports)))
	}
}

// Goal: a linearizable status comes only from a leader whose leadership a
// ReadIndex round confirmed, and reflects everything committed before it was
// asked; followers redirect, stale reads answer anywhere, and an isolated
// leader never answers a linearizable read.
func TestClusterStatusReadIndex(t *testing.T) {
	h := newHarness(t, 17, 3)
	l := h.waitLeader()
	h.registerBrokers(threeRacks)
	createTopicOK(t, h, sm.CreateTopicRequest{ReqID: 1, Name: "t", Partitions: 2, ReplicationFactor: 3})
	commit := h.nodes[l].CommitIndex()
	r := h.status(l, false)
	if r.Code != sm.CodeOK || !r.IsLeader || r.Leader != l || r.LeaderHint != l || r.Term != h.nodes[l].Term() {
		t.Fatalf("leader status: %+v", r)
	}
	if r.AppliedIndex < commit || r.CommitIndex < commit || !equalMetadata(r.Metadata, h.nodes[l].Metadata()) || !r.Metadata.Full {
		t.Fatalf("leader status at applied %d, commit %d (asked after commit %d)", r.AppliedIndex, r.CommitIndex, commit)
	}
	if !r.Healthy || len(online(r)) != 3 { // the grace: no reports yet
		t.Fatalf("leader status brokers: healthy=%v online=%v", r.Healthy, online(r))
	}

	md := h.converge()
	f := h.followers()[0]
	if r := h.status(f, false); r.Code != sm.CodeNotLeader || r.LeaderHint != l || r.IsLeader {
		t.Fatalf("linearizable status on follower: %+v", r)
	}
	r = h.status(f, true)
	if r.Code != sm.CodeOK || r.IsLeader || r.Leader != l || r.Healthy || len(online(r)) != 0 || len(r.Brokers) != 3 || !equalMetadata(r.Metadata, md) {
		t.Fatalf("stale status on follower: %+v", r)
	}

	// Isolate the leader from its peers: it still answers stale reads as
	// leader, but no linearizable read until it steps down, and then with a
	// redirect. Beyond readsMax waiting reads it refuses at once.
	h.cut = func(from, to sm.NodeID) bool {
		_, fc := h.cfgs[from]
		_, tc := h.cfgs[to]
		return fc && tc && (from == l) != (to == l)
	}
	if r := h.status(l, true); r.Code != sm.CodeOK || !r.IsLeader {
		t.Fatalf("stale status on the isolated leader: %+v", r)
	}
	h.inbox[client] = nil
	for i := range readsMax + 1 {
		h.send(client, l, sm.ClusterStatusRequest{ReqID: uint64(i)})
	}
	h.settle()
	if got := h.inbox[client]; len(got) != 1 || got[0].(sm.ClusterStatusResponse).Code != sm.CodeLeaderNotAvailable ||
		got[0].(sm.ClusterStatusResponse).ReqID != readsMax {
		t.Fatalf("isolated leader answered %d linearizable reads (want only the one over the limit)", len(got))
	}
	h.advance(3 * sm.Second)
	if h.nodes[l].IsLeader() {
		t.Fatalf("isolated %v still leads", l)
	}
	replies := h.inbox[client]
	if len(replies) != readsMax+1 {
		t.Fatalf("%d answers to %d reads", len(replies), readsMax+1)
	}
	for _, m := range replies[1:] {
		if r := m.(sm.ClusterStatusResponse); r.Code != sm.CodeNotLeader && r.Code != sm.CodeLeaderNotAvailable || r.IsLeader {
			t.Fatalf("read on a deposed leader answered %+v", r)
		}
	}
}

// Goal: with no leader known, a linearizable status is LEADER_NOT_AVAILABLE
// without a hint; a stale one answers, unhealthy, with no leader.
func TestClusterStatusWithoutLeader(t *testing.T) {
	h := newHarness(t, 19, 3)
	if got := h.nodes[1].cfg.HealthTimeout; got != DefaultHealthTimeout {
		t.Fatalf("health timeout 0 resolved to %v, want %v", got, DefaultHealthTimeout)
	}
	if r := h.status(1, false); r.Code != sm.CodeLeaderNotAvailable || r.LeaderHint != sm.NoNode {
		t.Fatalf("linearizable status without a leader: %+v", r)
	}
	if r := h.status(1, true); r.Code != sm.CodeOK || r.Leader != sm.NoNode || r.IsLeader || r.Healthy || r.AppliedIndex != bootstrapIndex {
		t.Fatalf("stale status without a leader: %+v", r)
	}
}

// Goal: a confirmed read waits until the applied index reaches its read
// index, then is answered in arrival order.
func TestReadWaitsForApply(t *testing.T) {
	h := newHarness(t, 23, 1)
	l := h.waitLeader()
	n := h.nodes[l]
	n.readSeqLast += 2
	n.reads[n.readSeqLast-1] = &read{client: client, reqID: 1, confirmed: true, index: n.md.applied + 1}
	n.reads[n.readSeqLast] = &read{client: client, reqID: 2, confirmed: true, index: n.md.applied}
	msgs := h.call(l, n.answerReads)
	if len(msgs) != 1 || msgs[0].Msg.(sm.ClusterStatusResponse).ReqID != 2 {
		t.Fatalf("answers before apply: %+v", msgs)
	}
	// The next entry applies for real: a broker registers.
	want := n.md.applied + 1
	h.inbox[client] = nil
	h.addBroker(101, "a")
	for i := 0; n.md.applied < want && i < 100; i++ {
		h.advance(harnessStep)
	}
	var answers []sm.ClusterStatusResponse
	for _, m := range h.inbox[client] {
		if r, ok := m.(sm.ClusterStatusResponse); ok {
			answers = append(answers, r)
		}
	}
	if len(answers) != 1 || answers[0].ReqID != 1 || len(n.reads) != 0 {
		t.Fatalf("answers after apply (applied %d, want %d): %+v", n.md.applied, want, answers)
	}
}
