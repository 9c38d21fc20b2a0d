package logtest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/weirmq/weir/sm"
)

// The suite passes against a minimal in-memory store written from the
// contract alone (not from the suite's model): segments as byte slices,
// manifests rebuilt by sm.ScanSegment at each restart.
func TestMemStore(t *testing.T) {
	Run(t, func(t *testing.T) Store { return &memStore{logs: map[sm.TopicPartition]*memLog{}} })
}

// The suite catches a store that breaks the contract: each broken variant
// of the in-memory store fails at least one case.
func TestSuiteFailsBrokenStores(t *testing.T) {
	for _, c := range []struct {
		name   string
		broken func(*memStore)
	}{
		{"reads-see-nothing", func(s *memStore) { s.readsBlind = true }},
		{"trim-keeps-segments", func(s *memStore) { s.trimNoop = true }},
		{"ignores-topic-ids", func(s *memStore) { s.ignoreIDs = true }},
		{"completes-out-of-order", func(s *memStore) { s.reorder = true }},
		{"forgets-seals", func(s *memStore) { s.forgetSeals = true }},
	} {
		t.Run(c.name, func(t *testing.T) {
			var failures []string
			for _, tc := range cases {
				s := &memStore{logs: map[sm.TopicPartition]*memLog{}}
				c.broken(s)
				r := &recorder{}
				func() {
					defer func() {
						if v := recover(); v != nil && v != errStop {
							panic(v)
						}
					}()
					runCase(r, t, s, tc.run)
				}()
				if r.msg != "" {
					failures = append(failures, tc.name+": "+r.msg)
				}
			}
			if len(failures) == 0 {
				t.Fatalf("no case failed a store that %s", c.name)
			}
			t.Logf("caught by %d cases, first: %s", len(failures), failures[0])
		})
	}
}

var errStop = new(int)

// recorder is a tb that records the first failure and stops the case.
type recorder struct{ msg string }

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	panic(errStop)
}

type memLog struct {
	id   sm.TopicID
	segs []memSeg // the last is active
}

type memSeg struct {
	base   sm.Offset
	data   []byte
	sealed bool
}

func (l *memLog) end() sm.Offset {
	s := l.segs[len(l.segs)-1]
	idx, _ := sm.ScanSegment(s.data, s.base, 0)
	return idx.Next
}

type memStore struct {
	logs                                                  map[sm.TopicPartition]*memLog
	done                                                  []sm.Event
	readsBlind, trimNoop, ignoreIDs, reorder, forgetSeals bool
}

func (s *memStore) StartLog(ops []sm.LogOp) {
	for _, op := range ops {
		d := sm.LogDone{ID: op.ID}
		if err := s.apply(op); err != nil {
			d.Outcome, d.Reason = sm.OutcomeUnknown, err.Error()
		}
		s.done = append(s.done, d)
	}
	if s.reorder && len(s.done) > 1 {
		slices.Reverse(s.done)
	}
}

func (s *memStore) apply(op sm.LogOp) error {
	l := s.logs[op.TP]
	if l != nil && op.TopicID != (sm.TopicID{}) && op.TopicID != l.id && !s.ignoreIDs {
		return fmt.Errorf("topic ID %v, log has %v", op.TopicID, l.id)
	}
	switch op.Kind {
	case sm.LogAppend:
		if l == nil {
			b, _, err := sm.DecodeBatch(op.Data)
			if err != nil {
				return err
			}
			l = &memLog{id: op.TopicID, segs: []memSeg{{base: b.BaseOffset}}}
			s.logs[op.TP] = l
		}
		if last := &l.segs[len(l.segs)-1]; op.Roll && len(last.data) > 0 {
			b, _, _ := sm.DecodeBatch(op.Data)
			last.sealed = true
			l.segs = append(l.segs, memSeg{base: b.BaseOffset})
		}
		a := &l.segs[len(l.segs)-1]
		a.data = append(slices.Clip(a.data), op.Data...)
	case sm.LogTrim:
		for len(l.segs) > 1 && l.segs[1].base <= op.Offset && !s.trimNoop {
			l.segs = l.segs[1:]
		}
	case sm.LogTruncate:
		if op.Offset >= l.end() {
			return nil
		}
		k := len(l.segs) - 1
		for l.segs[k].base > op.Offset {
			k--
		}
		l.segs = l.segs[:k+1]
		sg := &l.segs[k]
		pos := 0
		for pos < len(sg.data) {
			b, n, _ := sm.DecodeBatch(sg.data[pos:])
			if b.BaseOffset >= op.Offset {
				break
			}
			pos += n
		}
		sg.data, sg.sealed = slices.Clip(sg.data[:pos]), false
	case sm.LogReset:
		id := op.TopicID
		if l != nil {
			id = l.id
		}
		s.logs[op.TP] = &memLog{id: id, segs: []memSeg{{base: op.Offset}}}
	case sm.LogDelete:
		delete(s.logs, op.TP)
	}
	return nil
}

func (s *memStore) StartRead(reads []sm.LogRead) {
	for _, r := range reads {
		d := sm.LogReadDone{ID: r.ID, Outcome: sm.OutcomeFailed, Reason: "no such segment"}
		if l := s.logs[r.TP]; l != nil {
			for _, sg := range l.segs {
				if sg.base != r.Segment {
					continue
				}
				d = sm.LogReadDone{ID: r.ID}
				if s.readsBlind {
					break
				}
				pos := int(r.Pos)
				for pos < len(sg.data) {
					_, n, _ := sm.DecodeBatch(sg.data[pos:])
					if pos > int(r.Pos) && pos+n-int(r.Pos) > r.MaxBytes {
						break
					}
					pos += n
				}
				d.Data = slices.Clone(sg.data[r.Pos:pos])
			}
		}
		s.done = append(s.done, d)
	}
}

func (s *memStore) Next(t *testing.T) sm.Event {
	if len(s.done) == 0 {
		t.Fatalf("memstore: nothing to complete")
	}
	d := s.done[0]
	s.done = s.done[1:]
	return d
}

func (s *memStore) Restart(t *testing.T) map[sm.TopicPartition]sm.LogManifest {
	out := map[sm.TopicPartition]sm.LogManifest{}
	for tp, l := range s.logs {
		m := sm.LogManifest{TopicID: l.id}
		epoch := sm.Epoch(0)
		for _, sg := range l.segs {
			idx, err := sm.ScanSegment(sg.data, sg.base, epoch)
			if err != nil {
				t.Fatalf("memstore: %v", err)
			}
			idx.Sealed = sg.sealed && !s.forgetSeals
			if n := len(idx.Epochs); n > 0 {
				epoch = idx.Epochs[n-1].Epoch
			}
			m.Segments = append(m.Segments, idx)
		}
		out[tp] = m
	}
	return out
}
