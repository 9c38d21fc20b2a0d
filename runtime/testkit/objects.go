package testkit

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/weirmq/weir/sm"
)

// Objects is a pure in-memory model of an object store with the semantics
// runtime.ObjectStore documents (Google Cloud Storage's): one flat,
// lexicographically ordered namespace of whole objects, each with a
// generation that grows with every write; create-only puts (GCS
// ifGenerationMatch=0); ranged gets; deletes that find a missing object
// fine; lists one page at a time. It answers every operation at once and
// certainly: the faults — failures, unknown outcomes, late landings — are
// the driver's (Env's completion helpers here, the simulator's store).
//
// A put's SegmentSource bytes come from the SourceReader the caller
// passes (PutBody), each process reading its own disk: Disk.ReadSource
// here, the simulator's disk there. The body is verified before anything
// is created (VerifySource).
type Objects struct {
	// PageSize is a list's page when the op's Limit is ≤ 0 (0: 1000, GCS's
	// default maxResults).
	PageSize int
	objs     map[string]storedObject
	names    []string // sorted
	gen      int64    // the last generation handed out
}

type storedObject struct {
	data []byte
	gen  int64
}

// SourceReader reads a put's source from a process's disk: the bytes of
// the segment file based at src.Segment from src.Pos, src.Len of them or
// fewer where the file ends. ok is false when that segment is not on disk:
// no such log, a log of another topic ID (a re-created topic), no segment
// at that base (trimmed).
type SourceReader func(src sm.SegmentSource) (data []byte, ok bool)

// ObjectNameBytesMax is the longest name a store accepts (GCS: 1024 bytes).
const ObjectNameBytesMax = 1024

// DefaultObjectPageSize is a list's page when neither the op nor the store
// sets one.
const DefaultObjectPageSize = 1000

// NewObjects returns an empty store.
func NewObjects() *Objects { return &Objects{objs: map[string]storedObject{}} }

// Apply executes op on the store and returns its completion, OK or
// Failed, never Unknown: the pure semantics. A put reads its source with
// read (nil: every source is gone).
func (o *Objects) Apply(op sm.ObjectOp, read SourceReader) sm.ObjectDone {
	if op.Kind == sm.ObjPut {
		body, fail := PutBody(op, read)
		if fail != nil {
			return *fail
		}
		return o.Put(op, body)
	}
	switch op.Kind {
	case sm.ObjGet:
		return o.get(op)
	case sm.ObjDelete:
		return o.delete(op)
	case sm.ObjList:
		return o.list(op)
	}
	return failed(op, sm.ObjErrInvalid, fmt.Sprintf("unknown object op kind %d", op.Kind))
}

func failed(op sm.ObjectOp, err sm.ObjErr, reason string) sm.ObjectDone {
	return sm.ObjectDone{ID: op.ID, Outcome: sm.OutcomeFailed, Err: err, Reason: fmt.Sprintf("testkit: %v %s: %s", op.Kind, op.Name, reason)}
}

// checkName is why name is not a valid object name ("" if it is).
func checkName(name string) string {
	switch {
	case name == "":
		return "empty object name"
	case len(name) > ObjectNameBytesMax:
		return fmt.Sprintf("object name of %d bytes, above %d", len(name), ObjectNameBytesMax)
	case !utf8.ValidString(name):
		return "object name is not UTF-8"
	case strings.ContainsAny(name, "\r\n"):
		return "object name holds a line break"
	}
	return ""
}

// PutBody is the body a put writes — its source's bytes, verified
// (VerifySource), then Data — or the completion of a put that fails before
// it writes anything: a bad name, a source gone or corrupt. A driver that
// reads the source when the put starts and lands it later calls PutBody,
// then Put.
func PutBody(op sm.ObjectOp, read SourceReader) ([]byte, *sm.ObjectDone) {
	if why := checkName(op.Name); why != "" {
		d := failed(op, sm.ObjErrInvalid, why)
		return nil, &d
	}
	if op.Source == nil {
		return slices.Clone(op.Data), nil
	}
	src := *op.Source
	if src.Pos < 0 || src.Len < 0 || src.Next < src.Base {
		d := failed(op, sm.ObjErrInvalid, fmt.Sprintf("bad source range pos %d len %d offsets [%d, %d)", src.Pos, src.Len, src.Base, src.Next))
		return nil, &d
	}
	var data []byte
	ok := false
	if read != nil {
		data, ok = read(src)
	}
	if !ok {
		d := failed(op, sm.ObjErrSourceGone, fmt.Sprintf("segment %d of %v is not on disk", src.Segment, src.TP))
		return nil, &d
	}
	if why := VerifySource(src, data); why != "" {
		d := failed(op, sm.ObjErrSourceCorrupt, why)
		return nil, &d
	}
	return slices.Concat(data, op.Data), nil
}

// VerifySource checks the bytes read for src as every store does before a
// put creates anything: exactly src.Len bytes, whole frames whose CRC32C
// holds (sm.ScanSegment), offsets dense from src.Base to exactly src.Next.
// It returns why they are not ("" when they are).
func VerifySource(src sm.SegmentSource, data []byte) string {
	if int64(len(data)) != src.Len {
		return fmt.Sprintf("segment %d of %v holds %d bytes from byte %d, not %d", src.Segment, src.TP, len(data), src.Pos, src.Len)
	}
	idx, serr := sm.ScanSegment(data, src.Base, 0)
	if serr != nil {
		return fmt.Sprintf("segment %d of %v at byte %d: %s", src.Segment, src.TP, src.Pos+serr.Pos, serr.Reason)
	}
	if idx.Next != src.Next {
		return fmt.Sprintf("segment %d of %v bytes [%d, %d) hold offsets [%d, %d), not [%d, %d)",
			src.Segment, src.TP, src.Pos, src.Pos+src.Len, src.Base, idx.Next, src.Base, src.Next)
	}
	return ""
}

// Put writes body under op.Name, as op says (CreateOnly), and returns the
// completion; body is the store's from now on (PutBody's result).
func (o *Objects) Put(op sm.ObjectOp, body []byte) sm.ObjectDone {
	if why := checkName(op.Name); why != "" {
		return failed(op, sm.ObjErrInvalid, why)
	}
	o.init()
	old, exists := o.objs[op.Name]
	if exists && op.CreateOnly {
		return failed(op, sm.ObjErrExists, fmt.Sprintf("exists at generation %d", old.gen))
	}
	o.gen++
	o.objs[op.Name] = storedObject{data: body, gen: o.gen}
	if !exists {
		i, _ := slices.BinarySearch(o.names, op.Name)
		o.names = slices.Insert(o.names, i, op.Name)
	}
	return sm.ObjectDone{ID: op.ID, Size: int64(len(body)), Generation: o.gen}
}

func (o *Objects) init() {
	if o.objs == nil {
		o.objs = map[string]storedObject{}
	}
}

func (o *Objects) get(op sm.ObjectOp) sm.ObjectDone {
	if why := checkName(op.Name); why != "" {
		return failed(op, sm.ObjErrInvalid, why)
	}
	obj, ok := o.objs[op.Name]
	if !ok {
		return failed(op, sm.ObjErrNotFound, "no such object")
	}
	size := int64(len(obj.data))
	if op.Off < 0 || op.Off > size {
		return failed(op, sm.ObjErrInvalid, fmt.Sprintf("range from byte %d of an object of %d bytes", op.Off, size))
	}
	end := size
	if op.Len > 0 {
		end = min(size, op.Off+op.Len)
	}
	return sm.ObjectDone{ID: op.ID, Data: slices.Clone(obj.data[op.Off:end]), Size: size, Generation: obj.gen}
}

func (o *Objects) delete(op sm.ObjectOp) sm.ObjectDone {
	if why := checkName(op.Name); why != "" {
		return failed(op, sm.ObjErrInvalid, why)
	}
	if _, ok := o.objs[op.Name]; !ok {
		return sm.ObjectDone{ID: op.ID, Err: sm.ObjErrNotFound}
	}
	delete(o.objs, op.Name)
	i, _ := slices.BinarySearch(o.names, op.Name)
	o.names = slices.Delete(o.names, i, i+1)
	return sm.ObjectDone{ID: op.ID}
}

func (o *Objects) list(op sm.ObjectOp) sm.ObjectDone {
	limit := op.Limit
	if limit <= 0 {
		limit = o.PageSize
	}
	if limit <= 0 {
		limit = DefaultObjectPageSize
	}
	from := max(op.Prefix, op.After)
	i, found := slices.BinarySearch(o.names, from)
	if found && from == op.After {
		i++ // After is exclusive
	}
	d := sm.ObjectDone{ID: op.ID}
	for ; i < len(o.names) && strings.HasPrefix(o.names[i], op.Prefix); i++ {
		if len(d.Objects) == limit {
			d.More = true
			break
		}
		n := o.names[i]
		d.Objects = append(d.Objects, sm.ObjectInfo{Name: n, Size: int64(len(o.objs[n].data)), Generation: o.objs[n].gen})
	}
	return d
}

// Exists reports whether name is stored.
func (o *Objects) Exists(name string) bool {
	_, ok := o.objs[name]
	return ok
}

// Get returns name's bytes (the store's own: do not change them) and
// whether it exists.
func (o *Objects) Get(name string) ([]byte, bool) {
	obj, ok := o.objs[name]
	return obj.data, ok
}

// Generation is name's generation (0: no such object).
func (o *Objects) Generation(name string) int64 { return o.objs[name].gen }

// Names returns the stored names starting with prefix, in order.
func (o *Objects) Names(prefix string) []string {
	i, _ := slices.BinarySearch(o.names, prefix)
	j := i
	for j < len(o.names) && strings.HasPrefix(o.names[j], prefix) {
		j++
	}
	return slices.Clone(o.names[i:j])
}

// Len is how many objects are stored.
func (o *Objects) Len() int { return len(o.names) }

// ReadSource implements SourceReader on this disk's logs, as completed
// operations left them.
func (d *Disk) ReadSource(src sm.SegmentSource) ([]byte, bool) {
	l := d.logs[src.TP]
	if l == nil || src.TopicID != (sm.TopicID{}) && l.id != (sm.TopicID{}) && l.id != src.TopicID {
		return nil, false
	}
	i := slices.IndexFunc(l.segs, func(s tseg) bool { return s.base == src.Segment })
	if i < 0 {
		return nil, false
	}
	data := l.segs[i].data
	if src.Pos > int64(len(data)) {
		return nil, true
	}
	return slices.Clone(data[src.Pos:min(int64(len(data)), src.Pos+src.Len)]), true
}

// ---- completing a process's object operations ------------------------------

// ObjectStore is the model e completes its process's object operations
// through: Store, created empty on first use. Tests whose processes share
// one store (brokers upload, the controller collects) set every Env's Store
// to the same Objects.
func (e *Env) ObjectStore() *Objects {
	if e.Store == nil {
		e.Store = NewObjects()
	}
	return e.Store
}

// takeObject removes pending op id.
func (e *Env) takeObject(id sm.EffectID) (sm.ObjectOp, bool) {
	i := slices.IndexFunc(e.PendingObjects, func(op sm.ObjectOp) bool { return op.ID == id })
	if i < 0 {
		return sm.ObjectOp{}, false
	}
	op := e.PendingObjects[i]
	e.PendingObjects = slices.Delete(e.PendingObjects, i, i+1)
	return op, true
}

func (e *Env) readSource() SourceReader {
	if e.Disk == nil {
		return nil
	}
	return e.Disk.ReadSource
}

// CompleteObject completes pending op id through the store (Objects.Apply:
// a put reads its source from e's disk now) and returns its completion,
// OK or Failed as the store's semantics say; ok is false when no such op
// is pending.
func (e *Env) CompleteObject(id sm.EffectID) (done sm.ObjectDone, ok bool) {
	op, ok := e.takeObject(id)
	if !ok {
		return sm.ObjectDone{}, false
	}
	return e.ObjectStore().Apply(op, e.readSource()), true
}

// FailObject completes pending op id OutcomeFailed with err (the store
// refused it, or the adapter's retries ran out before it was sent: 429,
// 503) without touching the store; ok is false when no such op is pending.
func (e *Env) FailObject(id sm.EffectID, err sm.ObjErr) (done sm.ObjectDone, ok bool) {
	op, ok := e.takeObject(id)
	if !ok {
		return sm.ObjectDone{}, false
	}
	return failed(op, err, "injected by the test"), true
}

// UnknownObject completes pending put or delete id OutcomeUnknown
// (ObjErrUnavailable: a timeout, a reset connection): when applied, the
// store executed it first and only the reply was lost — the nasty one —
// and otherwise the request never landed. A put whose source is gone or
// corrupt, or whose name is bad, completes Failed instead even when
// applied: the adapter checks those before it sends anything. ok is false
// when no such op is pending. Gets and lists are never unknown (they
// change nothing): asking for one panics.
func (e *Env) UnknownObject(id sm.EffectID, applied bool) (done sm.ObjectDone, ok bool) {
	i := slices.IndexFunc(e.PendingObjects, func(op sm.ObjectOp) bool { return op.ID == id })
	if i < 0 {
		return sm.ObjectDone{}, false
	}
	if k := e.PendingObjects[i].Kind; k != sm.ObjPut && k != sm.ObjDelete {
		panic(fmt.Sprintf("testkit: only puts and deletes complete unknown, not %v %d", k, id))
	}
	op, _ := e.takeObject(id)
	if op.Kind == sm.ObjPut {
		if _, fail := PutBody(op, e.readSource()); fail != nil {
			return *fail, true
		}
	}
	what := "the request timed out before it was sent"
	if applied {
		what = "the reply was lost"
		if d := e.ObjectStore().Apply(op, e.readSource()); d.Outcome == sm.OutcomeFailed {
			what += " (the store refused it: " + d.Err.String() + ")"
		}
	}
	return sm.ObjectDone{ID: id, Outcome: sm.OutcomeUnknown, Err: sm.ObjErrUnavailable, Reason: "testkit: " + op.Kind.String() + " " + op.Name + ": " + what}, true
}

// LandObject executes op id of a process that crashed while it was
// pending (InFlightObjects) — an upload still in flight when its writer
// died lands anyway — and returns what the store did; nobody receives the
// completion. ok is false when no such op is in flight.
func (e *Env) LandObject(id sm.EffectID) (done sm.ObjectDone, ok bool) {
	i := slices.IndexFunc(e.InFlightObjects, func(op sm.ObjectOp) bool { return op.ID == id })
	if i < 0 {
		return sm.ObjectDone{}, false
	}
	op := e.InFlightObjects[i]
	e.InFlightObjects = slices.Delete(e.InFlightObjects, i, i+1)
	return e.ObjectStore().Apply(op, e.readSource()), true
}

// crashObjects is the process's crash: its pending object operations lose
// their completions, but may still land (LandObject).
func (e *Env) crashObjects() {
	e.InFlightObjects = append(e.InFlightObjects, e.PendingObjects...)
	e.PendingObjects = nil
}

// CompleteObject completes the node's pending object op id through the
// store (Env.CompleteObject) and delivers the completion; false when no
// such op is pending.
func (h *Host) CompleteObject(id sm.EffectID) bool {
	d, ok := h.Env.CompleteObject(id)
	if ok {
		h.Handle(d)
	}
	return ok
}

// CompleteObjects completes every pending object op through the store, in
// issue order, delivering each completion, and returns how many it
// completed. Ops the node issues while handling them wait for the next
// call.
func (h *Host) CompleteObjects() int {
	n := 0
	for _, op := range slices.Clone(h.Env.PendingObjects) {
		if h.CompleteObject(op.ID) {
			n++
		}
	}
	return n
}

// FailObject completes pending op id Failed with err (Env.FailObject) and
// delivers the completion; false when no such op is pending.
func (h *Host) FailObject(id sm.EffectID, err sm.ObjErr) bool {
	d, ok := h.Env.FailObject(id, err)
	if ok {
		h.Handle(d)
	}
	return ok
}

// UnknownObject completes pending put or delete id Unknown, executed by
// the store first when applied (Env.UnknownObject), and delivers the
// completion; false when no such op is pending.
func (h *Host) UnknownObject(id sm.EffectID, applied bool) bool {
	d, ok := h.Env.UnknownObject(id, applied)
	if ok {
		h.Handle(d)
	}
	return ok
}
