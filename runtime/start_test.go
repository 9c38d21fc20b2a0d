package runtime

import (
	"testing"
	"time"

	"github.com/weirmq/weir/sm"
)

// Goal: a loop counts its time from LoopConfig.Start when one is given, so
// the process can hand its node the wall clock of the same instant.
func TestLoopStart(t *testing.T) {
	start := time.Now().Add(-time.Hour)
	l := NewLoop(nil, Adapters{}, LoopConfig{Start: start})
	if !l.StartedAt().Equal(start) || l.Now() < sm.Time(time.Hour) {
		t.Fatalf("StartedAt %v (want %v), Now %v", l.StartedAt(), start, l.Now())
	}
	if l := NewLoop(nil, Adapters{}, LoopConfig{}); l.Now() >= sm.Time(time.Hour) || l.StartedAt().IsZero() {
		t.Fatalf("a loop without Start: StartedAt %v, Now %v", l.StartedAt(), l.Now())
	}
}
