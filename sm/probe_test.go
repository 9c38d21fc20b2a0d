package sm

import (
	"strings"
	"testing"
)

// Every probe has its own name: the coverage gate and the campaign report
// key on it.
func TestProbeNames(t *testing.T) {
	seen := map[string]Probe{}
	for _, p := range AllProbes() {
		name := p.String()
		if name == "" || strings.HasPrefix(name, "probe(") || name == "none" {
			t.Errorf("probe %d has no name", p)
		}
		if q, dup := seen[name]; dup {
			t.Errorf("probes %d and %d are both %q", q, p, name)
		}
		seen[name] = p
	}
	if len(seen) != int(probeCount)-1 {
		t.Errorf("%d probes named, %d declared", len(seen), probeCount-1)
	}
}
