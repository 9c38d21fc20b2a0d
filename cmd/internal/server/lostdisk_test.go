package server

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/broker"
)

// A broker that starts on an empty disk keeps reporting a lost disk on every
// start until one registers: a crash before registering must not make the
// next start look like an ordinary restart.
func TestLostDiskSurvivesRestartUntilRegistered(t *testing.T) {
	dir := t.TempDir()
	for start := 1; start <= 2; start++ {
		_, fresh, err := nextIncarnation(dir, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if fresh != (start == 1) {
			t.Fatalf("start %d: fresh=%v", start, fresh)
		}
		lost, err := lostDisk(dir, fresh)
		if err != nil || !lost {
			t.Fatalf("start %d (no registration yet): lost=%v err=%v", start, lost, err)
		}
	}

	n, err := broker.New(broker.DefaultConfig(101, 7, []sm.NodeID{1}), sm.Durable{FreshDisk: true})
	if err != nil {
		t.Fatal(err)
	}
	tr := &lossTracker{Node: n, dir: dir, pending: true, log: zerolog.Nop()}
	now := sm.Time(sm.Second)
	if err := tr.Step(now, sm.TimerFired{}); err != nil {
		t.Fatal(err)
	}
	var hb sm.BrokerHeartbeat
	for _, e := range tr.Ready().Messages {
		if m, ok := e.Msg.(sm.BrokerHeartbeat); ok {
			hb = m
		}
	}
	tr.Advance()
	if !hb.LostDisk {
		t.Fatalf("registration heartbeat does not report the lost disk: %+v", hb)
	}
	if _, err := os.Stat(filepath.Join(dir, lostDiskFile)); err != nil {
		t.Fatalf("marker gone before registering: %v", err)
	}
	resp := sm.BrokerHeartbeatResponse{Incarnation: 7, Code: sm.CodeOK, SentAt: hb.SentAt, SessionTimeout: sm.Second,
		Delta: sm.MetadataDelta{Full: true, ToVersion: 1, Brokers: []sm.BrokerInfo{{ID: 101, Incarnation: 7}}}}
	if err := tr.Step(now, sm.Received{From: 1, Msg: resp}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, lostDiskFile)); !os.IsNotExist(err) {
		t.Fatalf("marker kept after registering: %v", err)
	}
	if lost, err := lostDisk(dir, false); err != nil || lost {
		t.Fatalf("after registering: lost=%v err=%v", lost, err)
	}
}
