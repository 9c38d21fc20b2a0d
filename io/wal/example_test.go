package wal_test

import (
	"fmt"
	"os"

	"github.com/weirmq/weir/io/wal"
	"github.com/weirmq/weir/sm"
)

// Wiring a WAL under a node: Open recovers each log's manifest, and an
// Executor is the node's StartLog and StartRead; its callbacks post each
// LogDone and LogReadDone back to the node's loop (here a channel stands in
// for runtime.Loop.Post).
func ExampleWAL_NewExecutor() {
	dir, _ := os.MkdirTemp("", "wal-example")
	defer os.RemoveAll(dir)
	w, rec, err := wal.Open(wal.DefaultConfig(dir))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
	manifests := rec.Manifests // hand to the broker

	events := make(chan sm.Event, 16)
	exec := w.NewExecutor(func(d sm.LogDone) { events <- d }).WithReads(func(d sm.LogReadDone) { events <- d })

	tp := sm.TopicPartition{Topic: "orders", Partition: 0}
	b := sm.Batch{BaseOffset: 0, Epoch: 1, Records: []sm.Record{{Value: []byte("hello")}}}
	b.Seal()
	exec.StartLog([]sm.LogOp{{ID: 1, Kind: sm.LogAppend, TP: tp, Data: sm.EncodeBatch(nil, &b), Sync: true}})
	d := (<-events).(sm.LogDone)
	exec.StartRead([]sm.LogRead{{ID: 2, TP: tp, Segment: 0, Pos: 0, MaxBytes: 1 << 20}})
	r := (<-events).(sm.LogReadDone)
	fmt.Println(len(manifests), d.ID, d.Outcome == sm.OutcomeOK, r.ID, len(r.Data) == len(sm.EncodeBatch(nil, &b)))
	// Output: 0 1 true 2 true
}
