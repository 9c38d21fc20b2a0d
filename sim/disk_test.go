package sim

import (
	"bytes"
	"slices"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/weirmq/weir/sm"
)

var tpA = sm.TopicPartition{Topic: "a", Partition: 0}

func frame(off sm.Offset, v string) []byte {
	b := sm.Batch{BaseOffset: off, Epoch: 1, Records: []sm.Record{{Value: []byte(v)}}}
	b.Seal()
	return sm.EncodeBatch(nil, &b)
}

// Synced bytes survive a crash; unsynced bytes never do without tearing.
func TestDiskCrashKeepsSyncedOnly(t *testing.T) {
	d := newDisk(0)
	d.applyLog(sm.LogOp{Kind: sm.LogAppend, TP: tpA, Data: frame(0, "x")})
	d.sync(walFile(tpA))
	d.applyLog(sm.LogOp{Kind: sm.LogAppend, TP: tpA, Data: frame(1, "y")})
	d.crash(newRNG(1), false)
	got, err := d.recover()
	if err != nil {
		t.Fatal(err)
	}
	bs, _, err := sm.DecodeLog(got.Logs[tpA])
	if err != nil || len(bs) != 1 || string(bs[0].Records[0].Value) != "x" {
		t.Fatalf("after crash: %d batches, %v", len(bs), err)
	}
}

// A torn crash keeps the synced prefix and at most a prefix of the rest,
// which the decoder stops at; over many seeds every outcome occurs.
func TestDiskTornCrash(t *testing.T) {
	outcomes := map[string]bool{}
	for seed := uint64(1); seed <= 200; seed++ {
		d := newDisk(0)
		d.applyLog(sm.LogOp{Kind: sm.LogAppend, TP: tpA, Data: frame(0, "x")})
		d.sync(walFile(tpA))
		d.applyLog(sm.LogOp{Kind: sm.LogAppend, TP: tpA, Data: frame(1, "yyyyyyyy")})
		torn := d.crash(newRNG(seed), true)
		got, _ := d.recover()
		bs, _, err := sm.DecodeLog(got.Logs[tpA])
		if len(bs) == 0 || string(bs[0].Records[0].Value) != "x" {
			t.Fatalf("seed %d: synced batch lost", seed)
		}
		switch {
		case torn > 0 && err != nil && len(bs) == 1:
			outcomes["torn"] = true
		case err == nil && len(bs) == 2:
			outcomes["all"] = true
		case err == nil && len(bs) == 1:
			outcomes["none"] = true
		default:
			t.Fatalf("seed %d: torn=%d batches=%d err=%v", seed, torn, len(bs), err)
		}
	}
	if len(outcomes) != 3 {
		t.Fatalf("outcomes %v, want torn, all and none", outcomes)
	}
}

// Recovery of the raft store cuts a torn record so that records written
// after the restart are not hidden behind it at the next recovery.
func TestRaftStoreCutsTornTail(t *testing.T) {
	d := newDisk(0)
	ent := func(i uint64) []*pb.Entry { return []*pb.Entry{{Index: new(i), Term: new(uint64(1))}} }
	d.applyRaft(sm.RaftSave{Entries: ent(2)})
	d.sync(raftFile)
	f := d.files[raftFile]
	torn := encodeRaftRecord(nil, nil, ent(3))
	f.content = append(f.content, torn[:len(torn)-3]...)
	f.durable = append([]byte(nil), f.content...)
	if got, _ := d.recover(); len(got.Entries) != 1 {
		t.Fatalf("first recovery: %d entries", len(got.Entries))
	}
	_ = d.applyRaft(sm.RaftSave{Entries: ent(3)})
	d.sync(raftFile)
	got, err := d.recover()
	if err != nil || len(got.Entries) != 2 || got.Entries[1].GetIndex() != 3 {
		t.Fatalf("second recovery: %d entries, %v", len(got.Entries), err)
	}
}

// A disk at capacity refuses appends with ENOSPC and writes nothing, as the
// production WAL does; an append that continues a refused one is refused
// too, and once there is space the refused offset is written again.
func TestDiskFull(t *testing.T) {
	d := newDisk(10)
	if err, refused := d.applyLog(sm.LogOp{Kind: sm.LogAppend, TP: tpA, Data: frame(0, "x")}); err == "" || !refused {
		t.Fatalf("append over capacity: %q refused=%v", err, refused)
	}
	if d.used() != 0 {
		t.Fatalf("used %d after a refused append", d.used())
	}
	d.capacity = 1 << 20
	if err, refused := d.applyLog(sm.LogOp{Kind: sm.LogAppend, TP: tpA, Data: frame(1, "y")}); err == "" || !refused {
		t.Fatalf("append continuing a refused one: %q refused=%v", err, refused)
	}
	if err, _ := d.applyLog(sm.LogOp{Kind: sm.LogAppend, TP: tpA, Data: frame(0, "x")}); err != "" {
		t.Fatalf("append at the refused offset once there is space: %q", err)
	}
}

// The simulated raft store's durability per save is the real store's: one
// append-only log whose fsync covers everything written before it (pebble
// syncs its WAL file, so a synced save makes earlier unsynced saves durable
// too), and an unsynced save alone does not survive a crash.
func TestRaftStoreDurabilityPerSave(t *testing.T) {
	ent := func(i uint64) []*pb.Entry { return []*pb.Entry{{Index: new(i), Term: new(uint64(1))}} }
	d := newDisk(0)
	_ = d.applyRaft(sm.RaftSave{Entries: ent(2)}) // unsynced
	d.crash(newRNG(1), false)
	if got, _ := d.recover(); len(got.Entries) != 0 {
		t.Fatalf("an unsynced save survived a crash: %d entries", len(got.Entries))
	}
	_ = d.applyRaft(sm.RaftSave{Entries: ent(2)})             // unsynced
	_ = d.applyRaft(sm.RaftSave{Entries: ent(3), Sync: true}) // synced: covers both
	d.sync(raftFile)
	d.crash(newRNG(1), true)
	if got, _ := d.recover(); len(got.Entries) != 2 {
		t.Fatalf("after a synced save %d entries survived, want 2", len(got.Entries))
	}
}

// A crash damages only the unsynced range, and anywhere in it: sometimes a
// torn prefix, sometimes a whole write of the right length with a bad byte
// in the middle, never a synced byte.
func TestCrashDamagesAnywhereUnsynced(t *testing.T) {
	var midCorrupt, fullCorrupt bool
	for seed := uint64(1); seed <= 400; seed++ {
		d := newDisk(0)
		d.applyLog(sm.LogOp{Kind: sm.LogAppend, TP: tpA, Data: frame(0, "synced")})
		d.sync(walFile(tpA))
		synced := slices.Clone(d.files[walFile(tpA)].content)
		extra := frame(1, "unsynced-value-with-some-length")
		d.applyLog(sm.LogOp{Kind: sm.LogAppend, TP: tpA, Data: extra})
		d.crash(newRNG(seed), true)
		got := d.files[walFile(tpA)].content
		if !bytes.Equal(got[:len(synced)], synced) {
			t.Fatalf("seed %d: a synced byte changed", seed)
		}
		tail := got[len(synced):]
		for i := range tail {
			if tail[i] != extra[i] && i < len(tail)-1 {
				midCorrupt = true
			}
		}
		if len(tail) == len(extra) && !bytes.Equal(tail, extra) {
			fullCorrupt = true
		}
	}
	if !midCorrupt || !fullCorrupt {
		t.Fatalf("damage before the last byte %v, full-length write with a bad byte %v: want both", midCorrupt, fullCorrupt)
	}
}
