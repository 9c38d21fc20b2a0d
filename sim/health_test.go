package sim

import (
	"fmt"
	"slices"
	"testing"

	"github.com/weirmq/weir/sm"
)

// statusTimeout bounds one scripted cluster-status round trip.
const statusTimeout = 2 * sm.Second

// healthWorld boots a scripted cluster of 3 controllers and n brokers with
// the default health timing.
func healthWorld(t *testing.T, seed uint64, brokers int) *World {
	t.Helper()
	cfg := DefaultConfig(seed)
	cfg.Controllers, cfg.Brokers, cfg.Clients = 3, brokers, 0
	cfg.Topics = []TopicSpec{{Name: "t0", Partitions: 2, ReplicationFactor: int32(min(brokers, 3)), MinISR: 1}}
	w, err := NewScripted(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Boot(); err != nil {
		t.Fatal(err)
	}
	return w
}

// leaderStatus asks the controller leader for a linearizable status and
// checks what every answer must satisfy: a broker is online exactly while
// its last report is at most HealthTimeout old (or, never having reported
// to this leader, within the leader's grace), and Healthy follows the rule.
func leaderStatus(t *testing.T, w *World) sm.ClusterStatusResponse {
	t.Helper()
	for range 10 {
		l := w.ControllerLeader()
		if l == sm.NoNode {
			if err := w.RunFor(100 * sm.Millisecond); err != nil {
				t.Fatal(err)
			}
			continue
		}
		r, ok := w.ClusterStatus(l, false, statusTimeout)
		if !ok || r.Code != sm.CodeOK {
			continue // leadership moved under the request: ask again
		}
		checkStatus(t, w, r)
		return r
	}
	t.Fatalf("no linearizable status by %v", w.Now())
	return sm.ClusterStatusResponse{}
}

func checkStatus(t *testing.T, w *World, r sm.ClusterStatusResponse) {
	t.Helper()
	up := 0
	for _, b := range r.Brokers {
		if b.LastReport != 0 && b.Online != (r.Now.Sub(b.LastReport) <= w.cfg.HealthTimeout) {
			t.Fatalf("t=%v: %v online=%v with last report %v at controller time %v", w.Now(), b.Info.ID, b.Online, b.LastReport, r.Now)
		}
		if b.Online {
			up++
		}
	}
	n := len(r.Brokers)
	if want := r.IsLeader && up >= 1 && (n <= 2 || up > n/2); r.Healthy != want {
		t.Fatalf("t=%v: %d of %d online, healthy=%v", w.Now(), up, n, r.Healthy)
	}
}

func onlineOf(r sm.ClusterStatusResponse, id sm.NodeID) (sm.BrokerStatus, bool) {
	i := slices.IndexFunc(r.Brokers, func(b sm.BrokerStatus) bool { return b.Info.ID == id })
	if i < 0 {
		return sm.BrokerStatus{}, false
	}
	return r.Brokers[i], true
}

// waitOnline polls the leader every 50ms of virtual time until broker id's
// online state is want, failing after within, and returns that answer.
func waitOnline(t *testing.T, w *World, id sm.NodeID, want bool, within sm.Duration) sm.ClusterStatusResponse {
	t.Helper()
	deadline := w.Now().Add(within)
	for w.Now() <= deadline {
		r := leaderStatus(t, w)
		if b, ok := onlineOf(r, id); ok && b.Online == want {
			return r
		}
		if err := w.RunFor(50 * sm.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("broker %v not online=%v within %v (t=%v)\n%s", id, want, within, w.Now(), w.Describe())
	return sm.ClusterStatusResponse{}
}

// Goal: through ClusterStatusRequest answers, a crashed or partitioned broker
// goes offline once HealthTimeout has passed since its last report, not
// before, and comes back online with its next report; the cluster verdict
// follows the majority rule; followers give stale, health-less answers and
// redirect linearizable ones. All in virtual time.
func TestHealthTracking(t *testing.T) {
	w := healthWorld(t, 3, 3)
	timeout, interval := w.cfg.HealthTimeout, w.cfg.HealthInterval
	if err := w.RunFor(2 * interval); err != nil {
		t.Fatal(err)
	}
	r := leaderStatus(t, w)
	if !r.Healthy || len(r.Brokers) != 3 {
		t.Fatalf("booted cluster: %+v", r)
	}
	for _, b := range r.Brokers {
		if !b.Online || b.LastReport == 0 || b.Health.WAL.Backend != "sim" || b.Health.Network.Connections != 5 {
			t.Fatalf("booted broker %+v", b)
		}
	}

	// A crashed broker stays online until HealthTimeout after its last
	// report, then goes offline; two of three online is still healthy.
	crashAt := w.Now()
	w.Crash(101, false, 0)
	r = waitOnline(t, w, 101, false, timeout+interval+sm.Second)
	b, _ := onlineOf(r, 101)
	if b.LastReport == 0 || r.Now.Sub(b.LastReport) <= timeout || r.Now.Sub(b.LastReport) > timeout+sm.Second {
		t.Fatalf("101 offline %v after its last report (timeout %v): %+v", r.Now.Sub(b.LastReport), timeout, b)
	}
	if w.Now().Sub(crashAt) < timeout-interval-w.cfg.HeartbeatInterval {
		t.Fatalf("101 offline %v after the crash, before its report could have expired", w.Now().Sub(crashAt))
	}
	if !r.Healthy {
		t.Fatalf("2 of 3 brokers online but unhealthy")
	}

	// A second crash leaves one of three: unhealthy.
	w.Crash(102, false, 0)
	r = waitOnline(t, w, 102, false, timeout+interval+sm.Second)
	if r.Healthy {
		t.Fatalf("1 of 3 brokers online but healthy")
	}

	// Restarted, both report again and are online; the cluster is healthy.
	w.Restart(101)
	w.Restart(102)
	waitOnline(t, w, 101, true, interval+2*sm.Second)
	r = waitOnline(t, w, 102, true, interval+2*sm.Second)
	if !r.Healthy {
		t.Fatalf("all brokers back but unhealthy: %+v", r.Brokers)
	}

	// A broker cut off from the controllers keeps running but stops
	// reporting: offline after the timeout, online again after the heal.
	cut := []sm.NodeID{103}
	w.Partition(cut, w.Controllers(), true, 0)
	r = waitOnline(t, w, 103, false, timeout+interval+sm.Second)
	if !r.Healthy {
		t.Fatalf("partitioned 103 made the cluster unhealthy")
	}
	w.unblock(cut, w.Controllers(), true)
	waitOnline(t, w, 103, true, interval+2*sm.Second)

	// Followers: a stale answer has no health; a linearizable one redirects.
	l := w.ControllerLeader()
	for _, f := range w.Controllers() {
		if f == l {
			continue
		}
		r, ok := w.ClusterStatus(f, true, statusTimeout)
		if !ok || r.Code != sm.CodeOK || r.IsLeader || r.Healthy || r.Leader != l || len(r.Brokers) != 3 {
			t.Fatalf("stale status from follower %v: %v %+v", f, ok, r)
		}
		for _, b := range r.Brokers {
			if b.Online || b.LastReport != 0 {
				t.Fatalf("follower %v shows health %+v", f, b)
			}
		}
		r, ok = w.ClusterStatus(f, false, statusTimeout)
		if !ok || r.Code != sm.CodeNotLeader || r.LeaderHint != l {
			t.Fatalf("linearizable status from follower %v: %v %+v", f, ok, r)
		}
	}
	if err := w.Stabilize(); err != nil {
		t.Fatal(err)
	}
}

// Goal: the cluster verdict for 1, 2 and 5 brokers as brokers crash, end to
// end: with at most two brokers one online suffices, with five three must be.
func TestHealthTrackingClusterSizes(t *testing.T) {
	for _, n := range []int{1, 2, 5} {
		t.Run(fmt.Sprintf("%d_brokers", n), func(t *testing.T) {
			w := healthWorld(t, 9, n)
			timeout, interval := w.cfg.HealthTimeout, w.cfg.HealthInterval
			if err := w.RunFor(2 * interval); err != nil {
				t.Fatal(err)
			}
			for down := 0; down < n; down++ {
				r := leaderStatus(t, w)
				up := n - down
				if want := up >= 1 && (n <= 2 || up > n/2); r.Healthy != want {
					t.Fatalf("%d of %d online: healthy=%v", up, n, r.Healthy)
				}
				id := w.Brokers()[down]
				w.Crash(id, false, 0)
				waitOnline(t, w, id, false, timeout+interval+sm.Second)
			}
			if r := leaderStatus(t, w); r.Healthy {
				t.Fatalf("no broker online but healthy")
			}
		})
	}
}
