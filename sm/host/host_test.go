package host

import (
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/weirmq/weir/sm"
)

// fake is a component with a settable timer that issues log ops on demand.
type fake struct {
	ids   *IDs
	tp    sm.TopicPartition
	at    sm.Time
	fired []sm.Time
	done  []sm.EffectID
	out   Output
}

func (f *fake) TimerAt() sm.Time       { return f.at }
func (f *fake) OnTimer(now sm.Time)    { f.fired = append(f.fired, now); f.at = 0 }
func (f *fake) CheckInvariants() error { return nil }
func (f *fake) TakeOutput() Output {
	o := f.out
	f.out = Output{}
	return o
}
func (f *fake) OnLogReadDone(now sm.Time, d sm.LogReadDone) error { return nil }

func (f *fake) OnLogDone(now sm.Time, d sm.LogDone) error {
	f.done = append(f.done, d.ID)
	return nil
}
func (f *fake) issue() sm.EffectID {
	op := sm.LogOp{ID: f.ids.Next(), Kind: sm.LogAppend, TP: f.tp}
	f.out.Log = append(f.out.Log, op)
	return op.ID
}

func tp(i int32) sm.TopicPartition { return sm.TopicPartition{Topic: "t", Partition: i} }

func newFake(s *Set, i int32) (*fake, Key) {
	f := &fake{ids: &s.IDs, tp: tp(i)}
	k := PartitionKey(tp(i))
	s.Add(k, f)
	s.Settle(k)
	return f, k
}

// Completions are routed by ID: different logs in any order, one log in
// issue order only; unknown IDs are dropped; a removed component's
// completions are still checked, then reported gone.
func TestRouteLog(t *testing.T) {
	s := NewSet()
	a, ka := newFake(s, 0)
	b, kb := newFake(s, 1)
	a1, a2 := a.issue(), a.issue()
	s.Settle(ka)
	b1 := b.issue()
	s.Settle(kb)

	if r, known, err := s.RouteLog(sm.LogDone{ID: b1}); err != nil || !known || r.Component != b || r.Key != kb {
		t.Fatalf("b1 before a1 (another log): %+v %v %v", r, known, err)
	}
	if _, known, err := s.RouteLog(sm.LogDone{ID: a2}); err == nil || !known || !strings.Contains(err.Error(), "before operation") {
		t.Fatalf("a2 before a1 (same log) must break the store's promise: %v %v", known, err)
	}
	if r, _, err := s.RouteLog(sm.LogDone{ID: a1}); err != nil || r.Component != a {
		t.Fatalf("a1: %+v %v", r, err)
	}
	if _, known, _ := s.RouteLog(sm.LogDone{ID: a1}); known {
		t.Fatal("a completed ID must be unknown the second time (a late duplicate)")
	}
	if _, known, _ := s.RouteLog(sm.LogDone{ID: 999}); known {
		t.Fatal("an ID never issued must be unknown")
	}
	s.Remove(ka)
	if r, known, err := s.RouteLog(sm.LogDone{ID: a2}); err != nil || !known || !r.Gone || r.Component != nil {
		t.Fatalf("a2 after its component left: %+v %v %v", r, known, err)
	}
	if s.Pending() != 0 {
		t.Fatalf("%d effects still tracked", s.Pending())
	}
	if err := s.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

// An ID not from the set's allocator is a bug in the component.
func TestSettleRefusesForeignIDs(t *testing.T) {
	s := NewSet()
	f, k := newFake(s, 0)
	f.out.Log = append(f.out.Log, sm.LogOp{ID: 7, TP: f.tp})
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "not from this set's allocator") {
			t.Fatalf("panic %v", r)
		}
	}()
	s.Settle(k)
}

// Timers fire in (time, key) order, and a component not settled after a
// change is caught by CheckInvariants.
func TestTimers(t *testing.T) {
	s := NewSet()
	fs := make([]*fake, 4)
	ks := make([]Key, 4)
	for i := range fs {
		fs[i], ks[i] = newFake(s, int32(i))
	}
	fs[3].at, fs[2].at, fs[1].at = 5, 5, 3
	for _, k := range ks {
		s.Settle(k)
	}
	if s.TimerAt() != 3 {
		t.Fatalf("TimerAt %v, want 3", s.TimerAt())
	}
	var order []Key
	for {
		k, ok := s.Due(10)
		if !ok {
			break
		}
		s.Get(k).OnTimer(10)
		s.Settle(k)
		order = append(order, k)
	}
	if want := []Key{ks[1], ks[2], ks[3]}; !slices.Equal(order, want) {
		t.Fatalf("fired %v, want %v", order, want)
	}
	fs[0].at = 50 // changed behind the set's back
	if err := s.CheckInvariants(); err == nil || !strings.Contains(err.Error(), "not settled") {
		t.Fatalf("CheckInvariants = %v", err)
	}
}

// The heap agrees with a scan of every component after any sequence of
// timer changes, removals and firings.
func TestTimerHeapMatchesScan(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := NewSet()
		fakes := map[Key]*fake{}
		now := sm.Time(0)
		for range rapid.IntRange(1, 200).Draw(t, "steps") {
			i := int32(rapid.IntRange(0, 15).Draw(t, "component"))
			k := PartitionKey(tp(i))
			switch rapid.IntRange(0, 3).Draw(t, "action") {
			case 0: // set a timer
				f := fakes[k]
				if f == nil {
					f, _ = newFake(s, i)
					fakes[k] = f
				}
				f.at = now + sm.Time(rapid.IntRange(0, 20).Draw(t, "in"))
				if f.at == now {
					f.at = 0
				}
				s.Settle(k)
			case 1: // remove
				s.Remove(k)
				delete(fakes, k)
			default: // time passes; due timers fire
				now += sm.Time(rapid.IntRange(1, 10).Draw(t, "dt"))
				var want []Key
				for k, f := range fakes {
					if f.at != 0 && f.at <= now {
						want = append(want, k)
					}
				}
				slices.SortFunc(want, func(a, b Key) int {
					if fa, fb := fakes[a].at, fakes[b].at; fa != fb {
						return int(fa - fb)
					}
					return a.Compare(b)
				})
				var got []Key
				for {
					k, ok := s.Due(now)
					if !ok {
						break
					}
					s.Get(k).OnTimer(now)
					s.Settle(k)
					got = append(got, k)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("at %v fired %v, want %v", now, got, want)
				}
			}
			var min sm.Time
			for _, f := range fakes {
				if f.at != 0 && (min == 0 || f.at < min) {
					min = f.at
				}
			}
			if s.TimerAt() != min {
				t.Fatalf("TimerAt %v, scan %v", s.TimerAt(), min)
			}
			if err := s.CheckInvariants(); err != nil {
				t.Fatal(err)
			}
		}
	})
}
