package sim

import (
	"slices"
	"testing"

	"github.com/weirmq/weir/runtime/objtest"
	"github.com/weirmq/weir/sm"
)

// Goal: the simulator's object store keeps the object-store contract the
// production executor keeps (runtime/objtest), driven through a host's
// real effect path: drawn latencies, ops landing inside them in any order,
// sources read from the host's simulated disk. Faults are off: the
// contract is what a store promises once the adapter's retries succeed.
func TestObjectStoreContract(t *testing.T) {
	objtest.Run(t, func(t *testing.T) objtest.Subject { return &objContract{o: newObjWorld(uint64(len(t.Name())))} })
}

type objContract struct {
	o    *objWorld
	seen int // completions of host 0 already handed out
}

func (s *objContract) StartObject(ops []sm.ObjectOp) { s.o.h[0].StartObject(ops) }

func (s *objContract) Next(t *testing.T) sm.ObjectDone {
	rec := s.o.recs[0]
	s.o.w.runUntil(s.o.w.now.Add(3600*sm.Second), func() bool { return len(rec.events) > s.seen })
	if len(rec.events) <= s.seen {
		t.Fatal("sim: no object op completed within an hour of virtual time")
	}
	s.seen++
	return rec.events[s.seen-1].(sm.ObjectDone)
}

func (s *objContract) Plant(t *testing.T, tp sm.TopicPartition, base sm.Offset, data []byte) {
	d := s.o.h[0].disk
	l := d.logs[walFile(tp)]
	if l == nil {
		l = d.newLog(tp, sm.TopicID{}, base, true)
		l.segs = nil
	}
	l.segs = slices.DeleteFunc(l.segs, func(s *segment) bool { return s.base == base })
	l.segs = append(l.segs, &segment{base: base, data: file{content: slices.Clone(data), durable: slices.Clone(data)}})
	slices.SortFunc(l.segs, func(a, b *segment) int { return compareOffset(a.base, b.base) })
	l.durSegs, l.activeOK = slices.Clone(l.segs), false
}

func (s *objContract) Unplant(t *testing.T, tp sm.TopicPartition, base sm.Offset) {
	if l := s.o.h[0].disk.logs[walFile(tp)]; l != nil {
		l.segs = slices.DeleteFunc(l.segs, func(s *segment) bool { return s.base == base })
		l.durSegs = slices.Clone(l.segs)
	}
}
