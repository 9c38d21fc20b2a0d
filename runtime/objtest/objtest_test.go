package objtest

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/weirmq/weir/sm"
)

// The suite passes against a minimal in-memory store written from the
// contract alone: a sorted map of names, a generation counter, sources
// verified with sm.DecodeBatch.
func TestMemStore(t *testing.T) {
	Run(t, func(t *testing.T) Subject { return newMem() })
}

// The suite catches a store that breaks the contract: each broken variant
// of the in-memory store fails at least one case.
func TestSuiteFailsBrokenStores(t *testing.T) {
	for _, c := range []struct {
		name   string
		broken func(*memStore)
	}{
		{"ignores-create-only", func(s *memStore) { s.ignoreCreateOnly = true }},
		{"stale-lists", func(s *memStore) { s.staleLists = true }},
		{"unverified-sources", func(s *memStore) { s.skipVerify = true }},
		{"same-generation", func(s *memStore) { s.fixedGeneration = true }},
		{"directory-order", func(s *memStore) { s.dirOrder = true }},
		{"completes-twice", func(s *memStore) { s.duplicate = true }},
		{"short-reads", func(s *memStore) { s.shortReads = true }},
		{"delete-missing-fails", func(s *memStore) { s.deleteMissingFails = true }},
		{"no-more", func(s *memStore) { s.neverMore = true }},
	} {
		t.Run(c.name, func(t *testing.T) {
			var failures []string
			for _, tc := range cases {
				s := newMem()
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

type memObj struct {
	data []byte
	gen  int64
}

type segKey struct {
	tp  sm.TopicPartition
	seg sm.Offset
}

type memStore struct {
	objs     map[string]memObj
	snapshot map[string]memObj // what a stale list sees
	segs     map[segKey][]byte
	gen      int64
	done     []sm.ObjectDone

	ignoreCreateOnly, staleLists, skipVerify, fixedGeneration, dirOrder bool
	duplicate, shortReads, deleteMissingFails, neverMore                bool
}

func newMem() *memStore {
	return &memStore{objs: map[string]memObj{}, segs: map[segKey][]byte{}}
}

func (s *memStore) Plant(t *testing.T, tp sm.TopicPartition, seg sm.Offset, data []byte) {
	s.segs[segKey{tp, seg}] = slices.Clone(data)
}

func (s *memStore) Unplant(t *testing.T, tp sm.TopicPartition, seg sm.Offset) {
	delete(s.segs, segKey{tp, seg})
}

func (s *memStore) Next(t *testing.T) sm.ObjectDone {
	if len(s.done) == 0 {
		t.Fatalf("memstore: nothing to complete")
	}
	d := s.done[0]
	s.done = s.done[1:]
	return d
}

func (s *memStore) StartObject(ops []sm.ObjectOp) {
	for _, op := range ops {
		d := s.exec(op)
		d.ID = op.ID
		s.done = append(s.done, d)
		if s.duplicate && op.Kind == sm.ObjPut {
			s.done = append(s.done, d)
		}
	}
}

func failed(err sm.ObjErr, format string, args ...any) sm.ObjectDone {
	return sm.ObjectDone{Outcome: sm.OutcomeFailed, Err: err, Reason: fmt.Sprintf(format, args...)}
}

func (s *memStore) exec(op sm.ObjectOp) sm.ObjectDone {
	switch op.Kind {
	case sm.ObjPut:
		var body []byte
		if op.Source != nil {
			src, d, ok := s.source(*op.Source)
			if !ok {
				return d
			}
			body = src
		}
		body = append(body, op.Data...)
		if _, ok := s.objs[op.Name]; ok && op.CreateOnly && !s.ignoreCreateOnly {
			return failed(sm.ObjErrExists, "%s exists", op.Name)
		}
		if !s.fixedGeneration {
			s.gen++
		} else {
			s.gen = 1
		}
		if s.snapshot == nil {
			s.snapshot = maps(s.objs)
		}
		s.objs[op.Name] = memObj{data: body, gen: s.gen}
		return sm.ObjectDone{Size: int64(len(body)), Generation: s.gen}
	case sm.ObjGet:
		o, ok := s.objs[op.Name]
		if !ok {
			return failed(sm.ObjErrNotFound, "no %s", op.Name)
		}
		if op.Off > int64(len(o.data)) {
			return failed(sm.ObjErrInvalid, "range from %d of %d bytes", op.Off, len(o.data))
		}
		end := int64(len(o.data))
		if op.Len > 0 {
			end = min(end, op.Off+op.Len)
		}
		if s.shortReads && end-op.Off > 100 {
			end = op.Off + 100
		}
		return sm.ObjectDone{Data: slices.Clone(o.data[op.Off:end]), Size: int64(len(o.data)), Generation: o.gen}
	case sm.ObjDelete:
		if _, ok := s.objs[op.Name]; !ok {
			if s.deleteMissingFails {
				return failed(sm.ObjErrNotFound, "no %s", op.Name)
			}
			return sm.ObjectDone{Err: sm.ObjErrNotFound}
		}
		if s.snapshot == nil {
			s.snapshot = maps(s.objs)
		}
		delete(s.objs, op.Name)
		return sm.ObjectDone{}
	case sm.ObjList:
		view := s.objs
		if s.staleLists && s.snapshot != nil {
			view = s.snapshot
			s.snapshot = nil // the next list catches up
		}
		var names []string
		for n := range view {
			if strings.HasPrefix(n, op.Prefix) && n > op.After {
				names = append(names, n)
			}
		}
		if s.dirOrder {
			sort.Slice(names, func(i, j int) bool {
				// a naive directory walk: a directory's entries before its
				// siblings that sort after it by name alone
				return strings.ReplaceAll(names[i], "/", "\x00") < strings.ReplaceAll(names[j], "/", "\x00")
			})
		} else {
			slices.Sort(names)
		}
		limit := op.Limit
		if limit <= 0 {
			limit = 5
		}
		d := sm.ObjectDone{}
		if len(names) > limit {
			names, d.More = names[:limit], !s.neverMore
		}
		for _, n := range names {
			d.Objects = append(d.Objects, sm.ObjectInfo{Name: n, Size: int64(len(view[n].data)), Generation: view[n].gen})
		}
		return d
	}
	return failed(sm.ObjErrInvalid, "op kind %v", op.Kind)
}

// source reads and checks a put's source bytes.
func (s *memStore) source(src sm.SegmentSource) ([]byte, sm.ObjectDone, bool) {
	seg, ok := s.segs[segKey{src.TP, src.Segment}]
	if !ok {
		return nil, failed(sm.ObjErrSourceGone, "no segment %v/%d", src.TP, src.Segment), false
	}
	if src.Pos < 0 || src.Len < 0 || src.Pos+src.Len > int64(len(seg)) {
		return nil, failed(sm.ObjErrSourceGone, "segment holds %d bytes", len(seg)), false
	}
	data := slices.Clone(seg[src.Pos : src.Pos+src.Len])
	if s.skipVerify {
		return data, sm.ObjectDone{}, true
	}
	next := src.Base
	for pos := 0; pos < len(data); {
		b, n, err := sm.DecodeBatch(data[pos:])
		if err != nil || b.BaseOffset != next || len(b.Records) == 0 {
			return nil, failed(sm.ObjErrSourceCorrupt, "byte %d: %v (offset %d, want %d)", pos, err, b.BaseOffset, next), false
		}
		next = b.NextOffset()
		pos += n
	}
	if next != src.Next {
		return nil, failed(sm.ObjErrSourceCorrupt, "frames end at offset %d, want %d", next, src.Next), false
	}
	return data, sm.ObjectDone{}, true
}

func maps(m map[string]memObj) map[string]memObj {
	c := make(map[string]memObj, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
