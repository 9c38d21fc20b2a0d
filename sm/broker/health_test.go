package broker_test

import (
	"testing"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/broker"
)

// healthReports returns the heartbeats of broker id that reached controller
// c carrying a health report.
func (w *world) healthReports(c, id sm.NodeID) []timedHeartbeat {
	var out []timedHeartbeat
	for _, h := range w.ctrl[c].heartbeats {
		if h.hb.Broker == id && h.hb.Health != nil {
			out = append(out, h)
		}
	}
	return out
}

// Goal: health reports ride the first heartbeat at or after every
// HealthInterval, carry the latest HealthObserved with Replication computed
// by the broker from the partitions it leads, and repeat on every heartbeat
// until a controller leader answers one.
func TestHealthReports(t *testing.T) {
	w := newWorld(t, 101, 102, 103)
	w.topic("orders", 1, 101, 102, 103)
	start := w.now()
	w.run(300 * sm.Millisecond)
	first := w.healthReports(ctrl1, 101)
	if len(first) != 1 || first[0].at > start.Add(sm.Millisecond) || first[0].hb.Health.Replication != (sm.ReplicationHealth{}) {
		t.Fatalf("reports by %v: %+v (want one, on the first heartbeat)", w.now(), first)
	}

	// The process observes its components; 103 stops fetching while 101
	// takes five records: 101 leads orders/0 with 103 five records behind,
	// then shrinks it out of the ISR after ReplicaLagTime.
	observed := sm.BrokerHealth{
		WAL:         sm.WALHealth{Healthy: true, UsedBytes: 10, Backend: "sync"},
		Network:     sm.NetworkHealth{Connections: 3, Healthy: true},
		Replication: sm.ReplicationHealth{MaxLagRecords: 999}, // the broker's own figures win
		Resources:   sm.ResourceUsage{MemoryBytes: 1 << 20, Goroutines: 7, CPUPercent: 1.5},
	}
	w.step(101, sm.HealthObserved{Health: observed})
	w.cut[103] = true
	if r := w.client(101, produce(tp0, sm.Acks{Kind: sm.AckLeader}, "a", "b", "c", "d", "e"), 10*sm.Millisecond).(sm.ProduceResponse); r.Code != sm.CodeOK {
		t.Fatalf("produce: %+v", r)
	}
	w.run(1500 * sm.Millisecond)
	reports := w.healthReports(ctrl1, 101)
	last := *reports[len(reports)-1].hb.Health
	want := observed
	want.Replication = sm.ReplicationHealth{MaxLagRecords: 5, UnderReplicatedPartitions: 1}
	// The cache holds the five records' batch (one frame), and every fetch
	// the follower made was served from it.
	want.Cache = sm.CacheHealth{Healthy: true, HitRate: 1, UsedBytes: int64(sm.FrameBytes(make([]sm.Record, 5)) + 5), CapacityBytes: broker.DefaultCacheBytes}
	if last != want {
		t.Fatalf("last report\n got %+v\nwant %+v", last, want)
	}
	for i := 1; i < len(reports); i++ {
		gap := reports[i].at.Sub(reports[i-1].at)
		if gap < 500*sm.Millisecond || gap > 500*sm.Millisecond+100*sm.Millisecond {
			t.Errorf("reports %d and %d are %v apart (interval 500ms, heartbeat 100ms)", i-1, i, gap)
		}
	}
	if r := w.healthReports(ctrl1, 102); len(r) == 0 || r[len(r)-1].hb.Health.Replication != (sm.ReplicationHealth{}) {
		t.Errorf("follower 102's replication health: %+v", r)
	}

	// The controller stops answering: once due, every heartbeat carries the
	// report, to whichever controller, until a leader answers one.
	w.cut[103] = false
	w.ctrl[ctrl1].down = true
	seen := len(w.ctrl[ctrl1].heartbeats) + len(w.ctrl[ctrl2].heartbeats)
	w.run(sm.Second)
	var during []timedHeartbeat
	for _, c := range []sm.NodeID{ctrl1, ctrl2} {
		for _, h := range w.ctrl[c].heartbeats {
			if h.hb.Broker == 101 && h.at > reports[len(reports)-1].at.Add(600*sm.Millisecond) {
				during = append(during, h)
			}
		}
	}
	if len(during) < 3 {
		t.Fatalf("%d heartbeats by 101 during the outage (%d total seen before)", len(during), seen)
	}
	for _, h := range during {
		if h.hb.Health == nil {
			t.Fatalf("heartbeat at %v without the overdue report", h.at)
		}
	}
	w.ctrl[ctrl1].down = false
	w.run(300 * sm.Millisecond)
	hbs := w.ctrl[ctrl1].heartbeats
	for i := len(hbs) - 1; i >= 0; i-- {
		if hbs[i].hb.Broker == 101 {
			if hbs[i].hb.Health != nil {
				t.Fatalf("101 still attaching reports at %v after an answer", hbs[i].at)
			}
			break
		}
	}
}
