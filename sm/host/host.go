// Package host is how a node runs many components: partition replicas and
// tier components (uploads, cold reads) today; group coordinators and ETL
// pipelines later. A
// component is a small pure state machine with its own inputs (the node
// routes messages to it by its concrete type), effects and timers. The Set
// gives every component three things the node would otherwise hand-write
// per kind:
//
//   - effects completed by ID: the effects a component issues are routed
//     back to it by ID, in any order the effect kind allows; a completion for
//     an ID no longer tracked (its component is gone, or the ID was never
//     issued by this process) is dropped;
//   - the per-log ordering check: operations on one partition log must
//     complete in issue order (runtime.LogStore's promise), and a store that
//     breaks it stops the node;
//   - timers in a heap, so finding the next deadline and firing the due ones
//     costs O(log n) in the number of components, not O(n).
//
// After the node calls any method of a component, it calls Settle with the
// component's key: Settle takes the component's output (routing its
// effects) and re-files its timer. CheckInvariants verifies that no
// component was left unsettled.
package host

import (
	"cmp"
	"container/heap"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/weirmq/weir/sm"
)

// Kind is what sort of component a Key names.
type Kind uint8

// Component kinds.
const (
	KindPartition Kind = 1 // a partition replica (sm/partition)
	KindTier      Kind = 2 // a partition leader's tiered-storage component (sm/tier)
	KindGroup     Kind = 3 // an offsets partition leader's group coordinator (sm/group)
)

func (k Kind) String() string {
	switch k {
	case KindPartition:
		return "partition"
	case KindTier:
		return "tier"
	case KindGroup:
		return "group"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Key names one hosted component. Keys order components deterministically:
// by kind, then partition, then name.
type Key struct {
	Kind Kind
	TP   sm.TopicPartition
	Name string
}

// PartitionKey is the key of the replica of tp.
func PartitionKey(tp sm.TopicPartition) Key { return Key{Kind: KindPartition, TP: tp} }

// Compare orders keys.
func (k Key) Compare(o Key) int {
	if c := cmp.Compare(k.Kind, o.Kind); c != 0 {
		return c
	}
	if c := sm.CompareTP(k.TP, o.TP); c != 0 {
		return c
	}
	return cmp.Compare(k.Name, o.Name)
}

func (k Key) String() string {
	s := k.Kind.String()
	if k.TP.Topic != "" {
		s += " " + k.TP.String()
	}
	if k.Name != "" {
		s += " " + k.Name
	}
	return s
}

// Component is what the Set needs of every hosted component.
type Component interface {
	// TimerAt is the earliest time the component needs OnTimer; zero means
	// never. After any call it must be zero or after that call's time.
	TimerAt() sm.Time
	// OnTimer handles every deadline that has passed by now.
	OnTimer(now sm.Time)
	// OnLogDone completes one of the component's log operations, with
	// OutcomeOK or OutcomeFailed (an unknown outcome stops the node before
	// any component sees it). An error says the component cannot carry on
	// in this process; the node stops and restarts from disk.
	OnLogDone(now sm.Time, d sm.LogDone) error
	// OnLogReadDone completes one of the component's log reads (any order).
	OnLogReadDone(now sm.Time, d sm.LogReadDone) error
	// TakeOutput returns the effects the component asked for since the last
	// call. Log operations carry IDs from the Set's allocator (IDs).
	TakeOutput() Output
	// CheckInvariants verifies the component's own invariants.
	CheckInvariants() error
}

// ObjectUser is a component that issues object-store operations: the node
// hands it their completions (any order).
type ObjectUser interface {
	OnObjectDone(now sm.Time, d sm.ObjectDone) error
}

// Output is what a component asks its node to do.
type Output struct {
	// Log operations, each with an ID from Set.IDs and its TP set.
	Log []sm.LogOp
	// Reads, each with an ID from Set.IDs; they complete in any order.
	Reads []sm.LogRead
	// Objects are object-store operations, each with an ID from Set.IDs;
	// they complete in any order. A component that issues them implements
	// ObjectUser.
	Objects []sm.ObjectOp
	// Messages go out as they are (From and To set).
	Messages []sm.Envelope
	// ToController messages go to the controller the node believes leads.
	ToController []sm.Message
	// Probes are the protocol paths the component took (sm.Probe).
	Probes []sm.Probe
}

// IDs allocates effect IDs for one node process: unique and increasing.
type IDs struct{ last sm.EffectID }

// Next returns a fresh ID.
func (ids *IDs) Next() sm.EffectID {
	ids.last++
	return ids.last
}

// Last is the most recent ID handed out (zero: none).
func (ids *IDs) Last() sm.EffectID { return ids.last }

// entry is one hosted component and its place in the timer heap.
type entry struct {
	key  Key
	c    Component
	at   sm.Time // the timer filed in the heap (zero: none)
	idx  int     // position in the heap; -1 when not in it
	gone bool
}

// route is where an issued effect's completion goes.
type route struct {
	e    *entry // nil: the node's own effect
	tp   sm.TopicPartition
	read bool // a log read, outside the per-log order
	obj  bool // an object-store operation, outside the per-log order
}

// Set is the components one node hosts. See the package comment.
type Set struct {
	IDs     IDs
	entries map[Key]*entry
	timers  timerHeap
	routes  map[sm.EffectID]route
	// logs holds each partition log's uncompleted operations in issue order.
	logs map[sm.TopicPartition][]sm.EffectID
	// reads counts the routed, uncompleted log reads; objects the
	// object-store operations.
	reads, objects int
}

// NewSet returns an empty set.
func NewSet() *Set {
	return &Set{entries: map[Key]*entry{}, routes: map[sm.EffectID]route{}, logs: map[sm.TopicPartition][]sm.EffectID{}}
}

// Len is the number of hosted components.
func (s *Set) Len() int { return len(s.entries) }

// Add hosts c under k. The node then calls Settle(k).
func (s *Set) Add(k Key, c Component) {
	if s.entries[k] != nil {
		panic(fmt.Sprintf("host: %v hosted twice", k))
	}
	s.entries[k] = &entry{key: k, c: c, idx: -1}
}

// Get returns the component hosted under k, or nil.
func (s *Set) Get(k Key) Component {
	if e := s.entries[k]; e != nil {
		return e.c
	}
	return nil
}

// Remove stops hosting k. Its uncompleted effects stay tracked, so their
// completions are checked against the store's promises and then dropped.
func (s *Set) Remove(k Key) {
	e := s.entries[k]
	if e == nil {
		return
	}
	if e.idx >= 0 {
		heap.Remove(&s.timers, e.idx)
	}
	e.gone = true
	delete(s.entries, k)
}

// Settle takes k's output, routing its effects, and files its timer. It
// returns the output for the node's Ready.
func (s *Set) Settle(k Key) Output {
	e := s.entries[k]
	if e == nil {
		panic(fmt.Sprintf("host: settling %v, which is not hosted", k))
	}
	out := e.c.TakeOutput()
	for _, op := range out.Log {
		s.track(op, e)
	}
	for _, r := range out.Reads {
		s.trackRead(r, e)
	}
	for _, op := range out.Objects {
		s.trackObject(op, e)
	}
	s.file(e)
	return out
}

// Issue tracks a log operation the node issues on its own behalf (no
// component: deleting a dropped replica's log).
func (s *Set) Issue(op sm.LogOp) {
	s.track(op, nil)
}

// checkNew panics unless id is fresh from this set's allocator.
func (s *Set) checkNew(id sm.EffectID, what string) {
	if id == 0 || id > s.IDs.last {
		panic(fmt.Sprintf("host: %s has ID %d, not from this set's allocator (last %d)", what, id, s.IDs.last))
	}
	if _, dup := s.routes[id]; dup {
		panic(fmt.Sprintf("host: effect ID %d issued twice", id))
	}
}

func (s *Set) track(op sm.LogOp, e *entry) {
	s.checkNew(op.ID, "log operation on "+op.TP.String())
	s.routes[op.ID] = route{e: e, tp: op.TP}
	s.logs[op.TP] = append(s.logs[op.TP], op.ID)
}

func (s *Set) trackRead(r sm.LogRead, e *entry) {
	s.checkNew(r.ID, "log read on "+r.TP.String())
	s.routes[r.ID] = route{e: e, tp: r.TP, read: true}
	s.reads++
}

// IssueObject tracks an object-store operation the node issues on its own
// behalf (no component).
func (s *Set) IssueObject(op sm.ObjectOp) { s.trackObject(op, nil) }

func (s *Set) trackObject(op sm.ObjectOp, e *entry) {
	s.checkNew(op.ID, "object operation "+op.Kind.String())
	s.routes[op.ID] = route{e: e, obj: true}
	s.objects++
}

// RouteObject matches an object-store completion to the operation it
// completes (any order). known is false for an ID this set does not track
// as an object operation.
func (s *Set) RouteObject(d sm.ObjectDone) (LogDone, bool) {
	rt, ok := s.routes[d.ID]
	if !ok || !rt.obj {
		return LogDone{}, false
	}
	delete(s.routes, d.ID)
	s.objects--
	return rt.done(), true
}

// RouteRead matches a read completion to the read it completes (reads
// complete in any order). known is false for an ID this set does not track
// as a read.
func (s *Set) RouteRead(d sm.LogReadDone) (LogDone, bool) {
	rt, ok := s.routes[d.ID]
	if !ok || !rt.read {
		return LogDone{}, false
	}
	delete(s.routes, d.ID)
	s.reads--
	return rt.done(), true
}

// done is where a completed effect's completion goes.
func (rt route) done() LogDone {
	r := LogDone{TP: rt.tp}
	switch {
	case rt.e == nil:
	case rt.e.gone:
		r.Gone = true
	default:
		r.Key, r.Component = rt.e.key, rt.e.c
	}
	return r
}

// file puts e's current timer in the heap.
func (s *Set) file(e *entry) {
	at := e.c.TimerAt()
	switch {
	case at == e.at && (at == 0) == (e.idx < 0):
	case at == 0:
		heap.Remove(&s.timers, e.idx)
		e.at = 0
	case e.idx < 0:
		e.at = at
		heap.Push(&s.timers, e)
	default:
		e.at = at
		heap.Fix(&s.timers, e.idx)
	}
}

// TimerAt is the earliest timer of any component (zero: none).
func (s *Set) TimerAt() sm.Time {
	if len(s.timers) == 0 {
		return 0
	}
	return s.timers[0].at
}

// Due returns the key of a component whose timer is at or before now, in
// (time, key) order; false when none is due. The node calls OnTimer and then
// Settle, which re-files the component's next timer.
func (s *Set) Due(now sm.Time) (Key, bool) {
	if len(s.timers) == 0 || s.timers[0].at > now {
		return Key{}, false
	}
	e := s.timers[0]
	heap.Pop(&s.timers)
	e.at = 0
	return e.key, true
}

// LogDone is a routed log completion: the component to tell (nil when the
// operation was the node's own, or its component is gone).
type LogDone struct {
	Key       Key
	Component Component
	TP        sm.TopicPartition
	// Gone says the operation's component was removed before it completed.
	Gone bool
}

// RouteLog matches a log completion to the operation it completes. known is
// false for an ID this set does not track (never issued by this process, or
// already completed): the node drops it. An error says the log store broke
// its ordering promise (an operation completed before an earlier one on the
// same log): the node must stop.
func (s *Set) RouteLog(d sm.LogDone) (r LogDone, known bool, err error) {
	rt, ok := s.routes[d.ID]
	if !ok || rt.read || rt.obj {
		return LogDone{}, false, nil
	}
	q := s.logs[rt.tp]
	if len(q) == 0 || q[0] != d.ID {
		return LogDone{}, true, fmt.Errorf("host: log operation %d on %v completed before operation %d issued earlier on the same log", d.ID, rt.tp, q[0])
	}
	delete(s.routes, d.ID)
	if len(q) == 1 {
		delete(s.logs, rt.tp)
	} else {
		s.logs[rt.tp] = q[1:]
	}
	return rt.done(), true, nil
}

// Pending is the number of tracked, uncompleted effects.
func (s *Set) Pending() int { return len(s.routes) }

// CheckInvariants verifies the heap, that every component's filed timer is
// its current one (no component was left unsettled), and every component's
// own invariants, visiting components in key order.
func (s *Set) CheckInvariants() error {
	for i, e := range s.timers {
		if e.idx != i {
			return fmt.Errorf("host: %v at heap slot %d thinks it is at %d", e.key, i, e.idx)
		}
		if i > 0 && s.timers.Less(i, (i-1)/2) {
			return fmt.Errorf("host: timer heap out of order at slot %d (%v)", i, e.key)
		}
	}
	// Map order first (this runs after every simulated step); only a
	// failing check pays for the sorted pass that names the first
	// violation the same way in every run.
	for k, e := range s.entries {
		if s.checkEntry(k, e) != nil {
			for _, k := range s.Keys() {
				if err := s.checkEntry(k, s.entries[k]); err != nil {
					return err
				}
			}
		}
	}
	n := 0
	for tp, q := range s.logs {
		if s.checkLogQueue(tp, q) != nil {
			for _, tp := range slices.SortedFunc(maps.Keys(s.logs), sm.CompareTP) {
				if err := s.checkLogQueue(tp, s.logs[tp]); err != nil {
					return err
				}
			}
		}
		n += len(q)
	}
	if n+s.reads+s.objects != len(s.routes) {
		return fmt.Errorf("host: %d effects routed but %d log operations queued, %d reads and %d object operations", len(s.routes), n, s.reads, s.objects)
	}
	return nil
}

func (s *Set) checkLogQueue(tp sm.TopicPartition, q []sm.EffectID) error {
	for i, id := range q {
		if i > 0 && id <= q[i-1] {
			return fmt.Errorf("host: log operations on %v out of issue order: %d after %d", tp, id, q[i-1])
		}
		if s.routes[id].tp != tp {
			return fmt.Errorf("host: log operation %d queued on %v but routed to %v", id, tp, s.routes[id].tp)
		}
	}
	return nil
}

func (s *Set) checkEntry(k Key, e *entry) error {
	if at := e.c.TimerAt(); at != e.at {
		return fmt.Errorf("host: %v wants its timer at %v but %v is filed (not settled after a call)", k, at, e.at)
	}
	return e.c.CheckInvariants()
}

// Keys returns every hosted key, sorted.
func (s *Set) Keys() []Key {
	ks := make([]Key, 0, len(s.entries))
	for k := range s.entries {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, Key.Compare)
	return ks
}

// timerHeap orders entries by (timer, key): ties fire in key order, so the
// order is deterministic.
type timerHeap []*entry

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].key.Compare(h[j].key) < 0
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx = i
	h[j].idx = j
}
func (h *timerHeap) Push(x any) {
	e := x.(*entry)
	e.idx = len(*h)
	*h = append(*h, e)
}
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.idx = -1
	return e
}
