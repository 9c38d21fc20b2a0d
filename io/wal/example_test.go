package wal_test

import (
	"fmt"
	"os"

	"github.com/weirmq/weir/io/wal"
	"github.com/weirmq/weir/sm"
)

// Wiring a WAL under a node: Open recovers sm.Durable.Logs, and an Executor
// is the node's StartLog; its callback posts each LogDone back to the
// node's loop (here a channel stands in for runtime.Loop.Post).
func ExampleWAL_NewExecutor() {
	dir, _ := os.MkdirTemp("", "wal-example")
	defer os.RemoveAll(dir)
	w, rec, err := wal.Open(wal.DefaultConfig(dir))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
	durable := sm.Durable{Logs: rec.Logs} // hand to broker.New

	events := make(chan sm.LogDone, 16)
	exec := w.NewExecutor(func(d sm.LogDone) { events <- d })

	tp := sm.TopicPartition{Topic: "orders", Partition: 0}
	b := sm.Batch{BaseOffset: 0, Epoch: 1, Records: []sm.Record{{Value: []byte("hello")}}}
	b.Seal()
	exec.StartLog([]sm.LogOp{{ID: 1, Kind: sm.LogAppend, TP: tp, Data: sm.EncodeBatch(nil, &b), Sync: true}})
	d := <-events
	fmt.Println(len(durable.Logs), d.ID, d.Outcome == sm.OutcomeOK)
	// Output: 0 1 true
}
