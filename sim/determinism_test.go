package sim

import (
	"bytes"
	"testing"

	"github.com/weirmq/weir/net/wire"
	"github.com/weirmq/weir/sm"
)

// TestDeterminismSeesOneByte shows that the trace hash covers message
// contents, not only who sent what kind when: one run changes a single
// byte of one message — a health report no state machine acts on, so the
// run is otherwise event for event the same — and its hash differs from
// the untouched run's, while two untouched runs hash the same.
func TestDeterminismSeesOneByte(t *testing.T) {
	const seed = 3
	type outcome struct {
		hash, events uint64
		ops          int
	}
	var before, after []byte // the tampered message's frames
	run := func(tamper bool) outcome {
		w, err := NewScripted(DefaultConfig(seed))
		if err != nil {
			t.Fatal(err)
		}
		done := false
		if tamper {
			w.tamper = func(m *sm.Envelope) {
				hb, ok := m.Msg.(sm.BrokerHeartbeat)
				if done || !ok || hb.Health == nil || hb.Health.Resources.Goroutines != 1 {
					return
				}
				done = true
				before = wireFrame(t, hb)
				h := *hb.Health // the broker's own report: change a copy
				h.Resources.Goroutines = 2
				hb.Health = &h
				m.Msg = hb
				after = wireFrame(t, hb)
			}
		}
		if err := w.Boot(); err != nil {
			t.Fatal(err)
		}
		tp := w.workloadTPs()[0]
		if err := w.Produce(firstClientID, tp, sm.Acks{Kind: sm.AckAll}, 20); err != nil {
			t.Fatal(err)
		}
		if err := w.RunFor(3 * sm.Second); err != nil {
			t.Fatal(err)
		}
		if err := w.Stabilize(); err != nil {
			t.Fatal(err)
		}
		if tamper && !done {
			t.Fatal("no heartbeat with a health report was sent")
		}
		return outcome{hash: w.trace.sum(), events: w.events, ops: len(w.history.Ops)}
	}
	a, b, c := run(false), run(false), run(true)
	if a != b {
		t.Fatalf("the same seed ran differently: %+v vs %+v", a, b)
	}
	if diff := differingBytes(before, after); diff != 1 {
		t.Fatalf("the tampered heartbeat differs in %d bytes of its frame, want exactly 1", diff)
	}
	if c.events != a.events || c.ops != a.ops {
		t.Fatalf("the tampered run behaved differently (%+v vs %+v): the test must change contents only", c, a)
	}
	if c.hash == a.hash {
		t.Fatalf("one byte of one message changed, but the trace hash %x did not", a.hash)
	}
}

func wireFrame(t *testing.T, m sm.Message) []byte {
	t.Helper()
	f, err := wire.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// differingBytes counts the positions where a and b differ (a length
// difference counts in full).
func differingBytes(a, b []byte) int {
	if len(a) != len(b) {
		return max(len(a), len(b))
	}
	if bytes.Equal(a, b) {
		return 0
	}
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}
