package audit

import (
	"cmp"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"
)

// The repeat rule. Authentication failures and authorization denials are the
// events a hostile client controls, so they pass through a limiter keyed on
// (type, principal, source host without port, resource, operation). In each
// whole UTC second, the first Config.RepeatsPerSecondMax events of a key are
// written as they are; later ones of that key in that second are only counted.
// At most Config.RepeatKeysMax keys are tracked per second; events of further
// keys in that second are counted under one overflow key (empty principal,
// resource and operation, Details["overflow"] = "true"). Once a second is over,
// each key that had events suppressed gets one EventsSuppressed summary with
// the key's fields and Details "suppressed" (how many), "suppressed_type",
// "first" and "last" (times of the first and last suppressed event). Summaries
// not yet written (the disk is failing) merge with later ones of the same key,
// so they too stay bounded by RepeatKeysMax+1. Every other type is never
// limited; the queue bound still applies to it.
type repeatKey struct {
	typ       Type
	principal string
	host      string
	resource  string
	operation string
	overflow  bool
}

type suppressed struct {
	count       uint64
	first, last time.Time
}

type repeater struct {
	perSecond int
	keysMax   int

	mu     sync.Mutex
	window time.Time // start of the current second
	seen   map[repeatKey]int
	held   map[repeatKey]*suppressed // this window's suppressed events
	ready  map[repeatKey]*suppressed // finished windows', waiting to be written
	total  uint64                    // all suppressed, ever
}

func newRepeater(perSecond, keysMax int) *repeater {
	return &repeater{
		perSecond: perSecond, keysMax: keysMax,
		seen: map[repeatKey]int{}, held: map[repeatKey]*suppressed{}, ready: map[repeatKey]*suppressed{},
	}
}

func limited(t Type) bool { return t == AuthenticationFailure || t == AuthorizationDenied }

func hostOf(source string) string {
	if h, _, err := net.SplitHostPort(source); err == nil {
		return h
	}
	return source
}

// admit reports whether ev (already bounded and timed) is to be written. The
// window follows the Logger's clock, not ev.Time, so an event stamped far in
// the future or past cannot move it.
func (r *repeater) admit(ev *Event, now time.Time) bool {
	k := repeatKey{typ: ev.Type, principal: ev.Principal, host: hostOf(ev.Source), resource: ev.Resource, operation: ev.Operation}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.roll(now)
	n, ok := r.seen[k]
	if !ok && len(r.seen) >= r.keysMax {
		k = repeatKey{typ: ev.Type, overflow: true}
		n, ok = r.seen[k]
	}
	r.seen[k] = n + 1
	if n < r.perSecond && !k.overflow {
		return true
	}
	s := r.held[k]
	if s == nil {
		s = &suppressed{first: ev.Time}
		r.held[k] = s
	}
	s.count++
	s.last = ev.Time
	r.total++
	return false
}

// roll closes the window if now is past it.
func (r *repeater) roll(now time.Time) {
	w := now.UTC().Truncate(time.Second)
	if !w.After(r.window) {
		return
	}
	r.window = w
	r.closeWindow()
}

func (r *repeater) closeWindow() {
	for k, s := range r.held {
		if to, ok := r.ready[k]; ok {
			to.count += s.count
			to.last = s.last
			continue
		}
		if len(r.ready) >= r.keysMax {
			ok2 := repeatKey{typ: k.typ, overflow: true}
			to := r.ready[ok2]
			if to == nil {
				to = &suppressed{first: s.first}
				r.ready[ok2] = to
			}
			to.count += s.count
			to.last = s.last
			continue
		}
		r.ready[k] = s
	}
	clear(r.held)
	clear(r.seen)
}

// take returns the summaries of finished windows as of now (all of them if
// final), in a fixed order, and forgets them.
func (r *repeater) take(now time.Time, node string, final bool) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.roll(now)
	if final {
		r.closeWindow()
	}
	if len(r.ready) == 0 {
		return nil
	}
	keys := make([]repeatKey, 0, len(r.ready))
	for k := range r.ready {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b repeatKey) int {
		return cmp.Or(cmp.Compare(a.typ, b.typ), cmp.Compare(a.principal, b.principal),
			cmp.Compare(a.host, b.host), cmp.Compare(a.resource, b.resource),
			cmp.Compare(a.operation, b.operation), boolCmp(a.overflow, b.overflow))
	})
	out := make([]Event, 0, len(keys))
	for _, k := range keys {
		s := r.ready[k]
		d := map[string]string{
			"suppressed": itoa(s.count), "suppressed_type": k.typ.String(),
			"first": s.first.UTC().Format(TimeLayout), "last": s.last.UTC().Format(TimeLayout),
		}
		msg := fmt.Sprintf("suppressed %d repeated %s events", s.count, k.typ)
		if k.overflow {
			d["overflow"] = "true"
			msg = fmt.Sprintf("suppressed %d %s events beyond the per-second key limit", s.count, k.typ)
		}
		dec := NoDecision
		if k.typ == AuthorizationDenied {
			dec = Deny
		}
		out = append(out, Event{
			Time: now, Type: EventsSuppressed, Principal: k.principal, Source: k.host,
			Resource: k.resource, Operation: k.operation, Decision: dec, Node: node,
			Message: msg, Details: d,
		})
	}
	clear(r.ready)
	return out
}

func (r *repeater) suppressedTotal() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}
