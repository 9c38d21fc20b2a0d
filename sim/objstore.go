package sim

import (
	"fmt"
	"slices"

	"github.com/weirmq/weir/runtime/testkit"
	"github.com/weirmq/weir/sm"
)

// objectStore is the world's one object store, shared by every host —
// brokers upload to it, controllers collect from it — with the semantics
// runtime.ObjectStore documents (GCS's), kept by the test kit's model
// (testkit.Objects), and the faults of a real one drawn from its own PRNG
// stream:
//
//   - every op has a heavy-tailed latency (ObjectLatency up to
//     ObjectLatencyMax, the network's style); it takes effect at a drawn
//     moment inside it — the request reaching the store — and completes at
//     its end, so an op completed OK is seen by every op issued after, and
//     concurrent ops land in any order;
//   - objslow windows add long tails; objthrottle (HTTP 429) and obj503
//     make an op fail after the adapter's retries: gets and lists Failed
//     (ObjErrThrottled, ObjErrUnavailable), puts and deletes Failed when
//     the request never landed or Unknown when it may have (landed or not,
//     drawn); objtimeout makes an op run into its deadline: Unknown for
//     puts and deletes (landed or not), Failed for gets and lists;
//   - objlostreply, the nasty one: the write happened, the reply was lost:
//     Unknown with the object created (or deleted);
//   - objlate: a put completes Unknown and lands only later (a zombie's
//     upload still in flight), up to ObjectLateMax after;
//   - objreaderr: ranged gets fail (ObjErrUnavailable) or take long;
//   - objpage: lists return small pages (More set), whatever Limit asked.
//
// A put reads its source from the issuing host's disk when it starts, as
// the production executor opens the segment file then. A crash of the host
// loses the completions of its pending ops, not what they do to the store:
// the store is outside the host, and a request that left lands.
type objectStore struct {
	w     *World
	model *testkit.Objects
	rng   *rng
	f     objectWindows
	// pending counts ops issued and not yet completed (late puts: not
	// yet landed): the liveness phase's orphan check waits for them
	// (objectLiveness).
	pending int
}

// objectWindows are the store's active fault windows: until each time, the
// class hits every op it applies to with its probability.
type objectWindows struct {
	slowUntil      sm.Time
	slowMax        sm.Duration
	throttleUntil  sm.Time
	throttleRate   float64
	unavailUntil   sm.Time
	unavailRate    float64
	timeoutUntil   sm.Time
	timeoutRate    float64
	lostReplyUntil sm.Time
	lostReplyRate  float64
	lateUntil      sm.Time
	lateRate       float64
	readErrUntil   sm.Time
	readErrRate    float64
	readSlowMax    sm.Duration
	pageUntil      sm.Time
	pageMax        int
}

func newObjectStore(w *World) *objectStore {
	return &objectStore{w: w, model: testkit.NewObjects(), rng: newRNG(w.cfg.Seed).child("objects")}
}

// objects is the world's store, created on first use.
func (w *World) objectStore() *objectStore {
	if w.objects == nil {
		w.objects = newObjectStore(w)
	}
	return w.objects
}

// Exists, Names and Get are the checkers' oracle: the store as it is now.

// Exists reports whether name is stored.
func (s *objectStore) Exists(name string) bool { return s.model.Exists(name) }

// Names returns the stored names starting with prefix, in order.
func (s *objectStore) Names(prefix string) []string { return s.model.Names(prefix) }

// Get returns name's bytes (not to be changed) and whether it exists.
func (s *objectStore) Get(name string) ([]byte, bool) { return s.model.Get(name) }

// StartObject implements runtime.ObjectStore: the ops go to the world's
// store.
func (h *host) StartObject(ops []sm.ObjectOp) {
	h.w.trace.objectOps(h.w.now, h.id, ops)
	s := h.w.objectStore()
	for _, op := range ops {
		s.start(h, op)
	}
}

// fate is what the store does with one op.
type fate struct {
	land     bool        // the op takes effect in the store
	landAt   sm.Duration // when, from now
	doneAt   sm.Duration // when the completion arrives, from now
	outcome  sm.Outcome  // forced outcome (OK: the store's own answer)
	err      sm.ObjErr
	reason   string
	pageSize int // a list's page (0: as asked)
}

func (s *objectStore) start(h *host, op sm.ObjectOp) {
	w := s.w
	if w.trace.verbose != nil {
		w.trace.note(w.now, h.id, "object %v #%d %s prefix=%q after=%q off=%d len=%d source=%v create-only=%v", op.Kind, op.ID, op.Name, op.Prefix, op.After, op.Off, op.Len, op.Source != nil, op.CreateOnly)
	}
	var body []byte
	if op.Kind == sm.ObjPut {
		var fail *sm.ObjectDone
		body, fail = testkit.PutBody(op, h.disk.readSource)
		if fail != nil {
			// The adapter checks the source before it sends anything.
			w.stats.reach("object put source refused")
			s.complete(h, h.incarnation, *fail, sm.Duration(s.rng.between(int64(w.cfg.DiskLatencyMin), int64(w.cfg.DiskLatencyMax))))
			return
		}
	}
	f := s.draw(op)
	s.pending++
	inc := h.incarnation
	var result sm.ObjectDone
	landed := false
	if f.land {
		w.at(w.now.Add(f.landAt), func() {
			landed = true
			result = s.apply(op, body, f.pageSize)
			if f.doneAt < f.landAt { // a late put: it completed before it landed
				s.pending--
				w.stats.reach("object put landed late")
			}
			if w.trace.verbose != nil {
				w.trace.note(w.now, h.id, "object %v #%d %s landed: %v %v", op.Kind, op.ID, op.Name, result.Outcome, result.Err)
			}
		})
	}
	w.at(w.now.Add(f.doneAt), func() {
		d := sm.ObjectDone{ID: op.ID, Outcome: f.outcome, Err: f.err, Reason: f.reason}
		if f.outcome == sm.OutcomeOK {
			if !landed {
				panic(fmt.Sprintf("sim: object op %d completes OK before it landed", op.ID))
			}
			d = result
		}
		if f.land && f.doneAt >= f.landAt || !f.land {
			s.pending--
		}
		s.count(op, d)
		s.deliver(h, inc, d)
	})
}

// draw decides one op's latency and fate from the store's faults.
func (s *objectStore) draw(op sm.ObjectOp) fate {
	w, r, fl := s.w, s.rng, &s.f
	now := w.now
	lat := sm.Duration(r.heavyTail(int64(max(w.cfg.ObjectLatency, 1)), int64(max(w.cfg.ObjectLatencyMax, w.cfg.ObjectLatency))))
	if now < fl.slowUntil {
		w.stats.Faults[FaultObjSlow]++
		lat += sm.Duration(r.heavyTail(int64(fl.slowMax)/50+1, int64(fl.slowMax)))
	}
	write := op.Kind == sm.ObjPut || op.Kind == sm.ObjDelete
	f := fate{land: true, doneAt: lat, landAt: sm.Duration(r.between(0, int64(lat)))}
	// unknown lands the op or not (drawn) and completes it Unknown with err.
	unknown := func(err sm.ObjErr, why string) {
		f.outcome, f.err, f.reason = sm.OutcomeUnknown, err, "sim: "+why
		f.land = r.chance(0.5)
	}
	fail := func(err sm.ObjErr, why string) {
		f.outcome, f.err, f.reason, f.land = sm.OutcomeFailed, err, "sim: "+why, false
	}
	switch {
	case now < fl.throttleUntil && r.chance(fl.throttleRate):
		w.stats.Faults[FaultObjThrottle]++
		if write && r.chance(0.5) {
			unknown(sm.ObjErrThrottled, "429 Too Many Requests after retries; an earlier attempt may have landed")
		} else {
			fail(sm.ObjErrThrottled, "429 Too Many Requests after retries")
		}
	case now < fl.unavailUntil && r.chance(fl.unavailRate):
		w.stats.Faults[FaultObjUnavailable]++
		if write && r.chance(0.5) {
			unknown(sm.ObjErrUnavailable, "503 Service Unavailable after the request was sent")
		} else {
			fail(sm.ObjErrUnavailable, "503 Service Unavailable after retries")
		}
	case now < fl.timeoutUntil && r.chance(fl.timeoutRate):
		w.stats.Faults[FaultObjTimeout]++
		f.doneAt = max(f.doneAt, w.cfg.ObjectTimeout)
		if write {
			unknown(sm.ObjErrUnavailable, "deadline exceeded")
			f.landAt = sm.Duration(r.between(0, int64(f.doneAt)))
		} else {
			fail(sm.ObjErrUnavailable, "deadline exceeded")
		}
	case write && now < fl.lostReplyUntil && r.chance(fl.lostReplyRate):
		w.stats.Faults[FaultObjLostReply]++
		f.outcome, f.err, f.reason = sm.OutcomeUnknown, sm.ObjErrUnavailable, "sim: connection reset after the request was sent"
	case op.Kind == sm.ObjPut && now < fl.lateUntil && r.chance(fl.lateRate):
		w.stats.Faults[FaultObjLate]++
		f.outcome, f.err, f.reason = sm.OutcomeUnknown, sm.ObjErrUnavailable, "sim: deadline exceeded; the upload is still in flight"
		f.landAt = f.doneAt + sm.Duration(r.between(1, int64(max(w.cfg.ObjectLateMax, 1))))
	case op.Kind == sm.ObjGet && now < fl.readErrUntil:
		if r.chance(fl.readErrRate) {
			w.stats.Faults[FaultObjReadError]++
			fail(sm.ObjErrUnavailable, "ranged read: 503 after retries")
		} else if fl.readSlowMax > 0 {
			w.stats.Faults[FaultObjReadError]++
			f.doneAt += sm.Duration(r.heavyTail(int64(fl.readSlowMax)/50+1, int64(fl.readSlowMax)))
		}
	}
	if op.Kind == sm.ObjList && now < fl.pageUntil {
		w.stats.Faults[FaultObjPage]++
		f.pageSize = 1 + r.intn(max(fl.pageMax, 1))
		if op.Limit > 0 {
			f.pageSize = min(f.pageSize, op.Limit)
		}
	}
	return f
}

// apply executes op on the model (a put with its body, read at start).
func (s *objectStore) apply(op sm.ObjectOp, body []byte, pageSize int) sm.ObjectDone {
	switch op.Kind {
	case sm.ObjPut:
		return s.model.Put(op, body)
	case sm.ObjList:
		if pageSize > 0 {
			op.Limit = pageSize
		}
	}
	return s.model.Apply(op, nil)
}

// count reports the paths a completion shows.
func (s *objectStore) count(op sm.ObjectOp, d sm.ObjectDone) {
	st := &s.w.stats
	switch {
	case op.Kind == sm.ObjPut && d.Outcome == sm.OutcomeUnknown:
		st.reach("object put unknown outcome")
	case op.Kind == sm.ObjGet && d.Outcome == sm.OutcomeFailed && d.Err != sm.ObjErrNotFound:
		st.reach("object read failed")
	case op.Kind == sm.ObjList && d.More:
		st.reach("object list paged")
	case op.Kind == sm.ObjDelete && d.Outcome == sm.OutcomeUnknown:
		st.reach("object delete unknown outcome")
	}
}

// complete delivers d to h's incarnation inc after lat.
func (s *objectStore) complete(h *host, inc uint64, d sm.ObjectDone, lat sm.Duration) {
	s.w.after(lat, func() { s.deliver(h, inc, d) })
}

// deliver hands a completion to the process that issued the op; a crashed
// or replaced one never gets it.
func (s *objectStore) deliver(h *host, inc uint64, d sm.ObjectDone) {
	if !h.up || h.incarnation != inc {
		return
	}
	h.deliver(inc, d)
}

// heal ends every object fault window.
func (s *objectStore) heal() { s.f = objectWindows{} }

// readSource implements testkit.SourceReader on this disk's page cache: a
// put's source, read when the put starts.
func (d *Disk) readSource(src sm.SegmentSource) ([]byte, bool) {
	l := d.logs[walFile(src.TP)]
	if l == nil || src.TopicID != (sm.TopicID{}) && l.topicID != (sm.TopicID{}) && l.topicID != src.TopicID {
		return nil, false
	}
	seg := l.findSegment(src.Segment)
	if seg == nil {
		return nil, false
	}
	data := seg.data.content
	if src.Pos > int64(len(data)) {
		return nil, true
	}
	return slices.Clone(data[src.Pos:min(int64(len(data)), src.Pos+src.Len)]), true
}
