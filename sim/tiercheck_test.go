package sim

import (
	"strings"
	"testing"

	"github.com/weirmq/weir/sm"
)

// tierWorldLive boots a scripted world with real controllers (their
// records of uploaded segments and their garbage collector) and commits
// some records to t0/0. It returns the world, the partition's topic ID and
// leader epoch, and its committed values.
func tierWorldLive(t *testing.T, seed uint64) (*World, sm.TopicID, sm.Epoch, []string) {
	t.Helper()
	w, err := NewScripted(DefaultConfig(seed))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Boot(); err != nil {
		t.Fatal(err)
	}
	if err := w.Produce(firstClientID, tp0, sm.Acks{Kind: sm.AckAll}, 6); err != nil {
		t.Fatal(err)
	}
	if err := w.RunFor(3 * sm.Second); err != nil {
		t.Fatal(err)
	}
	md := w.leaderController().Metadata()
	var id sm.TopicID
	for _, ti := range md.Topics {
		if ti.Name == tp0.Topic {
			id = ti.ID
		}
	}
	var epoch sm.Epoch
	for _, st := range md.Partitions {
		if st.TP == tp0 {
			epoch = st.LeaderEpoch
		}
	}
	values := w.inv.committed[tp0]
	if len(values) < 3 || id == (sm.TopicID{}) || epoch == 0 {
		t.Fatalf("setup: committed %q, topic ID %v, epoch %d", values, id, epoch)
	}
	return w, id, epoch, values
}

// putSegmentObject stores an object of values from base named for topic id
// at epoch, as an uploader would, and returns its record.
func putSegmentObject(t *testing.T, w *World, id sm.TopicID, epoch sm.Epoch, base sm.Offset, effect sm.EffectID, values ...string) sm.RemoteSegment {
	t.Helper()
	var data []byte
	for i, v := range values {
		b := sm.Batch{BaseOffset: base + sm.Offset(i), Epoch: epoch, Records: []sm.Record{{Value: []byte(v)}}}
		b.Seal()
		data = sm.EncodeBatch(data, &b)
	}
	idx, serr := sm.ScanSegment(data, base, 0)
	if serr != nil {
		t.Fatal(serr)
	}
	frames := int64(len(data))
	data = sm.EncodeSegmentIndex(data, &idx)
	name := sm.ObjectName{TopicID: id, Partition: tp0.Partition, Base: base, Epoch: epoch, Broker: firstBrokerID, Incarnation: 1, Effect: effect}.String()
	if d := w.objectStore().model.Put(sm.ObjectOp{Name: name, CreateOnly: true}, data); d.Outcome != sm.OutcomeOK {
		t.Fatalf("put %s: %+v", name, d)
	}
	return sm.RemoteSegment{Name: name, Base: base, Next: idx.Next, DataBytes: frames, IndexBytes: int64(len(data)) - frames, LeaderEpoch: epoch, Epochs: idx.Epochs}
}

// commit asks the controller leader to record seg, as a partition leader's
// uploader does, and runs until it applied; it returns the run's failure.
func commit(t *testing.T, w *World, id sm.TopicID, epoch sm.Epoch, seg sm.RemoteSegment) error {
	t.Helper()
	ctl := w.hosts[w.ControllerLeader()]
	ctl.deliver(ctl.incarnation, sm.Received{From: firstBrokerID, Msg: sm.CommitSegmentRequest{ReqID: 1, Broker: firstBrokerID, TP: tp0, TopicID: id, LeaderEpoch: epoch, Segment: seg}})
	err := w.RunFor(sm.Second)
	for _, st := range w.leaderController().Metadata().Partitions {
		if st.TP == tp0 && st.Remote.End != seg.Next {
			t.Fatalf("the controller did not record %s: remote %+v", seg.Name, st.Remote)
		}
	}
	return err
}

// Goal: the tiered-storage checkers read the real controllers' records:
// a recorded segment the store holds as committed passes; the store losing
// it, or holding other records, fails the run.
func TestGCSafetyWithTheController(t *testing.T) {
	for _, c := range []struct {
		name  string
		spoil func(w *World, seg sm.RemoteSegment)
		want  string
	}{
		{"kept", func(*World, sm.RemoteSegment) {}, ""},
		{"lost", func(w *World, seg sm.RemoteSegment) {
			w.objects.model.Apply(sm.ObjectOp{Kind: sm.ObjDelete, Name: seg.Name}, nil)
		}, "gc safety: t0/0 segment [0, 3)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, id, epoch, values := tierWorldLive(t, 21)
			seg := putSegmentObject(t, w, id, epoch, 0, 1, values[:3]...)
			if err := commit(t, w, id, epoch, seg); err != nil {
				t.Fatal(err)
			}
			c.spoil(w, seg)
			err := w.RunFor(sm.Second)
			switch {
			case c.want == "" && err != nil:
				t.Fatal(err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("run ended %v, want a failure saying %q", err, c.want)
			}
		})
	}
	t.Run("other records", func(t *testing.T) {
		w, id, epoch, values := tierWorldLive(t, 21)
		seg := putSegmentObject(t, w, id, epoch, 0, 1, values[0], "not what was committed", values[2])
		if err := commit(t, w, id, epoch, seg); err == nil || !strings.Contains(err.Error(), `offset 1 holds "not what was committed"`) {
			t.Fatalf("run ended %v, want a committed-records mismatch", err)
		}
	})
}

// Goal: in the liveness phase the real garbage collector deletes, through
// the simulator's store, every orphan — an object of an old epoch, one
// below the uploaded end, one of a topic ID no topic has — within the
// check's allowance, and leaves what is recorded or still committable.
func TestOrphansCollectedByTheController(t *testing.T) {
	w, id, epoch, values := tierWorldLive(t, 22)
	seg := putSegmentObject(t, w, id, epoch, 0, 1, values[:3]...)
	if err := commit(t, w, id, epoch, seg); err != nil {
		t.Fatal(err)
	}
	orphans := []sm.RemoteSegment{
		putSegmentObject(t, w, id, epoch-1, 3, 2, values[3]),                // an old leader epoch's
		putSegmentObject(t, w, id, epoch, 0, 3, values[:2]...),              // below the uploaded end
		putSegmentObject(t, w, sm.TopicID{0xde, 0xad}, epoch, 0, 4, "gone"), // no such topic
	}
	still := putSegmentObject(t, w, id, epoch, 3, 5, values[3]) // may still be recorded
	if err := w.RunFor(sm.Second); err != nil {
		t.Fatal(err)
	}
	if len(w.inv.orphanSince) != len(orphans) {
		t.Fatalf("orphans tracked %v, want %d", w.inv.orphanSince, len(orphans))
	}
	w.seeded(func() { err := w.objectLiveness(); w.failure = err })
	if w.failure != nil {
		t.Fatal(w.failure)
	}
	for _, o := range orphans {
		if w.objects.Exists(o.Name) {
			t.Errorf("orphan %s not collected", o.Name)
		}
	}
	if !w.objects.Exists(seg.Name) || !w.objects.Exists(still.Name) {
		t.Fatal("the collector deleted a recorded or still committable object")
	}
	if w.stats.Reached["orphan object collected"] != len(orphans) || w.stats.Reached[sm.ProbeOrphanCollected.String()] == 0 {
		t.Fatalf("probes %v", w.stats.ReachedSummary())
	}
}
