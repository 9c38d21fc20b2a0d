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
// the history so far and reports, first, the promises the scenario says it
// protects (promise=, required: the safety properties its story is about,
// see linearizability.Promises), each ok or BROKEN with the findings that
// break it; then any other promise a finding breaks. On a porcupine
// violation the HTML visualisation is written beside the scenario file.
//
// Example: check promise=durable,committed
func handleCheck(r *Runner, td *datadriven.TestData) (string, error) {
	names, ok := arg(td, "promise")
	if !ok || names == "" {
		var all []string
		for _, p := range linearizability.Promises {
			all = append(all, p.Name)
		}
		return "", fmt.Errorf("check: promise= is required: name the safety properties this scenario protects (%s)", strings.Join(all, ", "))
	}
	var stated []linearizability.Promise
	for _, n := range strings.Split(names, ",") {
		p, err := linearizability.PromiseNamed(strings.TrimSpace(n))
		if err != nil {
			return "", fmt.Errorf("check: %w", err)
		}
		stated = append(stated, p)
	}
	h := r.world.History()
	rep := linearizability.CheckLog(h)
	dir := filepath.Dir(r.Path)
	name := strings.TrimSuffix(filepath.Base(r.Path), filepath.Ext(r.Path))
	pr, err := linearizability.CheckPorcupine(h, 10*time.Second, dir, name)
	if err != nil {
		return "", err
	}
	verdict := func(p linearizability.Promise) string {
		broken := rep.Broken(p)
		if p.Porcupine {
			switch {
			case !pr.OK():
				broken = strings.TrimSpace(broken + " " + pr.String())
			case pr.Unknown():
				broken = strings.TrimSpace(broken + " porcupine timed out")
			}
		}
		return broken
	}
	var b strings.Builder
	for _, p := range stated {
		if v := verdict(p); v != "" {
			fmt.Fprintf(&b, "promise %s BROKEN (%s): %s\n", p.Name, p.Says, v)
		} else {
			fmt.Fprintf(&b, "promise %s: ok\n", p.Name)
		}
	}
	for _, p := range linearizability.Promises {
		if containsPromise(stated, p.Name) {
			continue
		}
		if v := verdict(p); v != "" {
			fmt.Fprintf(&b, "also broken: promise %s (%s): %s\n", p.Name, p.Says, v)
		}
	}
	if !rep.OK() {
		for _, v := range rep.Violations {
			fmt.Fprintf(&b, "  %s\n", v)
		}
	}
	return strings.TrimSpace(b.String()), nil
}

func containsPromise(ps []linearizability.Promise, name string) bool {
	for _, p := range ps {
		if p.Name == name {
			return true
		}
	}
	return false
}
