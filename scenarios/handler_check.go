package scenarios

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/weirmq/weir/linearizability"
)

// handleCheck runs the claimed-order checker and the porcupine models over
// the history so far. On a porcupine violation the HTML visualisation is
// written beside the scenario file.
//
// Example: check
func handleCheck(r *Runner, td *datadriven.TestData) (string, error) {
	h := r.world.History()
	rep := linearizability.CheckLog(h)
	dir := filepath.Dir(r.Path)
	name := strings.TrimSuffix(filepath.Base(r.Path), filepath.Ext(r.Path))
	pr, err := linearizability.CheckPorcupine(h, 10*time.Second, dir, name)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if rep.OK() {
		fmt.Fprintf(&b, "claimed order: ok\n")
	} else {
		fmt.Fprintf(&b, "claimed order: %s\n", rep)
	}
	switch {
	case !pr.OK():
		fmt.Fprintf(&b, "%s\n", pr.String())
	case pr.Unknown():
		fmt.Fprintf(&b, "porcupine: timed out (unknown)\n")
	default:
		fmt.Fprintf(&b, "porcupine: ok\n")
	}
	return strings.TrimSpace(b.String()), nil
}
