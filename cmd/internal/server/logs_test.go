package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/cmd/internal/server"
)

// One zerolog.Logger per process, passed down: the lines of the libraries
// (etcd raft, pebble) and of the transport land in the writer the process
// logger was built on, as JSON, tagged with the node and the component.
func TestProcessLogsLandInTheConfiguredWriter(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a controller and a broker; skipped with -short")
	}
	r := newStartFailRig(t)
	out := &syncBuffer{}
	log := zerolog.New(out).Level(zerolog.InfoLevel)
	ccfg := r.controller()
	c, err := server.StartController(ccfg, log)
	if err != nil {
		t.Fatal(err)
	}
	bcfg := r.broker()
	bcfg.Controller.Endpoints = []string{"1@" + c.RPCAddr}
	bcfg.Controller.HeartbeatIntervalMs = 100
	b, err := server.StartBroker(bcfg, log)
	if err != nil {
		_ = c.Shutdown()
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	err = c.WaitReady(ctx, 1)
	_ = b.Shutdown()
	_ = c.Shutdown()
	if err != nil {
		t.Fatal(err)
	}

	type event struct{ Level, Node, Component, Message string }
	var evs []event
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var ev event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("a line that is not zerolog JSON: %q: %v", l, err)
		}
		if ev.Level == "debug" {
			t.Errorf("a debug line from an info logger: %q", l)
		}
		evs = append(evs, ev)
	}
	for _, want := range []struct{ node, component, msg string }{
		{"controller-1", "raft", "became leader"},
		{"controller-1", "pebble", ""},
		{"controller-1", "", "controller started"},
		{"broker-101", "", "transport: connected"},
		{"broker-101", "", "broker stopped"},
		{"controller-1", "", "controller stopped"},
	} {
		found := false
		for _, ev := range evs {
			if ev.Node == want.node && (want.component == "" || ev.Component == want.component) && strings.Contains(ev.Message, want.msg) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no line from %s (component %q) with %q in:\n%s", want.node, want.component, want.msg, out.String())
		}
	}
}
