package server_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/weirmq/weir/io/raftstore"
	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/controller"
)

// TestControllerRestartsFromSnapshot: a controller with a small
// [controller] snapshot_entries, restarted after many topic creations,
// starts from its snapshot — its store holds far fewer entries than were
// written — and serves every topic.
func TestControllerRestartsFromSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a controller and a broker; skipped with -short")
	}
	c := newCtlCluster(t, 1)
	cfg := c.cfgs[1]
	cfg.Controller.SnapshotEntries = 10
	c.cfgs[1] = cfg
	if err := c.start(t, 1); err != nil {
		t.Fatal(err)
	}
	c.broker(t)
	waitReady(t, c.ctls[1], 1)
	const topics = 60
	want := createTopics(t, "http://"+c.ctls[1].HTTPAddr, topics) // and deletes t01
	c.stop(t, 1)

	store, err := raftstore.Open(cfg.Controller.DataDir, raftstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := store.Load()
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	si := d.Snapshot.GetMetadata().GetIndex()
	t.Logf("store after %d creates and a delete: snapshot at %d (%d bytes), %d entries after it", topics, si, len(d.Snapshot.GetData()), len(d.Entries))
	if si < topics || len(d.Entries) > 3*int(cfg.Controller.SnapshotEntries) {
		t.Fatalf("the store holds a snapshot at %d and %d entries after %d creates; want the log compacted", si, len(d.Entries), topics)
	}

	if err := c.start(t, 1); err != nil {
		t.Fatal(err)
	}
	waitReady(t, c.ctls[1], 1)
	var got []string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got, err = topicNames("http://" + c.ctls[1].HTTPAddr); err == nil && slices.Equal(got, want) {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("after the restart the controller serves %d topics %v (err %v), want %d", len(got), got, err, len(want))
	}
	// It keeps working: one more create is applied and served.
	adminDo(t, http.MethodPost, "http://"+c.ctls[1].HTTPAddr+"/api/v1/topics", `{"name":"after","partitions":1,"replication_factor":1}`)
}

// writeLog appends to the raft store at dir a single controller's
// committed log, entries first..first+n-1 (the first real entry is 2,
// after the bootstrap snapshot): broker 101 registers, then
// topics are created and deleted in turn (so the metadata stays small and
// every entry does real work when replayed). The payloads are the
// controller's JSON commands (sm/controller/command.go).
func writeLog(b *testing.B, dir string, first uint64, n int) {
	b.Helper()
	s, err := raftstore.Open(dir, raftstore.Options{FS: vfs.Default})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var batch []*pb.Entry
	for k := range n {
		idx := first + uint64(k)
		i := int(idx - 2)
		var cmd string
		switch {
		case i == 0:
			cmd = `"register":{"id":101,"inc":1}`
		case i%2 == 1:
			cmd = fmt.Sprintf(`"create":{"name":"t%d","partitions":1,"rf":1,"config":{"MinInSyncReplicas":1}}`, i/2)
		default:
			cmd = fmt.Sprintf(`"delete":{"name":"t%d"}`, (i-1)/2)
		}
		data := fmt.Appendf(nil, `{"p":1,"t":1,"s":%d,%s}`, i+1, cmd)
		batch = append(batch, &pb.Entry{Index: proto.Uint64(idx), Term: proto.Uint64(1), Data: data})
		if len(batch) == 1000 || k == n-1 {
			hs := &pb.HardState{Term: proto.Uint64(1), Vote: proto.Uint64(1), Commit: proto.Uint64(idx)}
			if err := s.Save(hs, batch, false); err != nil {
				b.Fatal(err)
			}
			batch = nil
		}
	}
	if err := s.Save(nil, nil, true); err != nil {
		b.Fatal(err)
	}
}

// startController is a controller's start-up as StartController does it,
// without the network: open the store, load it, build the node and let it
// apply the committed log (one step: a restarted single controller has
// every entry committed already). With persist, the raft saves the node
// issues (its snapshot, when SnapshotEntries is reached) are executed
// against the store. It returns the node's applied index.
func startController(b *testing.B, dir string, snapshotEntries uint64, persist bool) (applied uint64, d sm.Durable) {
	b.Helper()
	s, err := raftstore.Open(dir, raftstore.Options{FS: vfs.Default})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if d, err = s.Load(); err != nil {
		b.Fatal(err)
	}
	n, err := controller.New(controller.Config{
		ID: 1, Peers: []sm.NodeID{1}, TickInterval: 100 * sm.Millisecond, ElectionTicks: 10, HeartbeatTicks: 1,
		SessionTimeout: 10 * sm.Second, DefaultMinISR: 1, MaxPartitions: 100, SnapshotEntries: snapshotEntries,
	}, d)
	if err != nil {
		b.Fatal(err)
	}
	ev := sm.Event(sm.TimerFired{})
	for ev != nil {
		if err := n.Step(1, ev); err != nil {
			b.Fatal(err)
		}
		rd := n.Ready()
		n.Advance()
		ev = nil
		if persist {
			for _, op := range rd.Raft {
				if err := s.SaveRaft(op); err != nil {
					b.Fatal(err)
				}
				if op.Snapshot != nil {
					ev = sm.RaftDone{ID: op.ID}
				}
			}
		}
	}
	if want := d.HardState.GetCommit(); n.AppliedIndex() != want {
		b.Fatalf("applied %d of %d committed entries in one step", n.AppliedIndex(), want)
	}
	return n.AppliedIndex(), d
}

// BenchmarkControllerStartup measures a controller's start-up (store open
// and load, node built, committed log applied) after 100,000 entries were
// written: the whole log without compaction, and the same store once the
// controller compacted it with the production SnapshotEntries (10,000): a
// snapshot and no entries after it, and that store with 9,999 more entries
// (the most a store holds after its snapshot with that setting).
//
//	go test ./cmd/internal/server -run '^$' -bench ControllerStartup -benchtime 5x
func BenchmarkControllerStartup(b *testing.B) {
	const entries = 100_000
	dir := filepath.Join(b.TempDir(), "controller-1")
	writeLog(b, dir, 2, entries)
	run := func(b *testing.B) {
		var d sm.Durable
		for b.Loop() {
			_, d = startController(b, dir, controller.DefaultSnapshotEntries, false)
		}
		b.ReportMetric(float64(len(d.Entries)), "entries")
		b.ReportMetric(float64(len(d.Snapshot.GetData())), "snapshot-bytes")
	}
	b.Run("whole-log", run)
	startController(b, dir, controller.DefaultSnapshotEntries, true) // the controller compacts its store
	b.Run("compacted", run)
	writeLog(b, dir, entries+2, controller.DefaultSnapshotEntries-1)
	b.Run("compacted+9999", run)
}
