package scenarios

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/weirmq/weir/sm"
)

var flagTrace = flag.Bool("events", false, "print every event of each scenario with its virtual time and node")

// TestScenarios replays every scenario file in this directory.
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 12 {
		t.Fatalf("want at least 12 scenario files, found %d", len(files))
	}
	for _, path := range files {
		t.Run(path, func(t *testing.T) {
			r := &Runner{Path: path}
			if *flagTrace {
				r.Trace = os.Stdout
			}
			datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
				return r.Handle(t, td)
			})
		})
	}
}

func TestParseNodeNames(t *testing.T) {
	r := &Runner{}
	for in, want := range map[string]sm.NodeID{"b101": 101, "c2": 2, "cl1000001": 1_000_001, "adm1": sm.AdminClientIDMin + 1} {
		got, err := r.node(in)
		if err != nil || got != want {
			t.Errorf("node(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"x9", "cl1001", "b5", "c100", "none"} {
		if _, err := r.node(bad); err == nil {
			t.Errorf("node(%q) accepted", bad)
		}
	}
}

// A check must say which promise its scenario protects, by a known name.
func TestCheckNeedsPromise(t *testing.T) {
	r := &Runner{}
	if _, err := handleCheck(r, &datadriven.TestData{Cmd: "check"}); err == nil || !strings.Contains(err.Error(), "promise= is required") {
		t.Errorf("bare check: %v", err)
	}
	td := &datadriven.TestData{Cmd: "check", CmdArgs: []datadriven.CmdArg{{Key: "promise", Vals: []string{"fast"}}}}
	if _, err := handleCheck(r, td); err == nil || !strings.Contains(err.Error(), `unknown promise "fast"`) {
		t.Errorf("unknown promise: %v", err)
	}
}
