package testkit

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/weirmq/weir/runtime/objtest"
	"github.com/weirmq/weir/sm"
)

// Goal: the test kit's object store keeps the object-store contract the
// production executor and the simulator's store keep (runtime/objtest),
// driven through an Env's helpers: pending ops complete in an order drawn
// from a seed, each through the model, sources read from the Env's disk.
func TestObjectsContract(t *testing.T) {
	objtest.Run(t, func(t *testing.T) objtest.Subject {
		return &objContract{env: NewEnv(101, NewDisk(), &Network{}), r: rand.New(rand.NewPCG(uint64(len(t.Name())), 11))}
	})
}

type objContract struct {
	env *Env
	r   *rand.Rand
}

func (s *objContract) StartObject(ops []sm.ObjectOp) { s.env.StartObject(ops) }

func (s *objContract) Next(t *testing.T) sm.ObjectDone {
	p := s.env.PendingObjects
	if len(p) == 0 {
		t.Fatal("testkit: Next with nothing pending")
	}
	d, _ := s.env.CompleteObject(p[s.r.IntN(len(p))].ID)
	return d
}

func (s *objContract) Plant(t *testing.T, tp sm.TopicPartition, segment sm.Offset, data []byte) {
	d := s.env.Disk
	l := d.logs[tp]
	if l == nil {
		l = &tlog{}
		d.logs[tp] = l
	}
	i := slices.IndexFunc(l.segs, func(s tseg) bool { return s.base == segment })
	if i < 0 {
		l.segs = append(l.segs, d.newSeg(segment))
		slices.SortFunc(l.segs, func(a, b tseg) int { return int(a.base - b.base) })
		i = slices.IndexFunc(l.segs, func(s tseg) bool { return s.base == segment })
	}
	l.segs[i].data, l.segs[i].sealed = slices.Clone(data), true
}

func (s *objContract) Unplant(t *testing.T, tp sm.TopicPartition, segment sm.Offset) {
	if l := s.env.Disk.logs[tp]; l != nil {
		l.segs = slices.DeleteFunc(l.segs, func(s tseg) bool { return s.base == segment })
	}
}
