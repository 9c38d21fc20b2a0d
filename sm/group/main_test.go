package group

import (
	"flag"
	"os"
	"testing"
)

// TestMain lengthens rapid's operation sequences (default 30 steps): a
// rebalance needs several joins, syncs and completions in a row before the
// interesting interleavings start. An explicit -rapid.steps wins.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.steps" })
	if !set {
		_ = flag.Set("rapid.steps", "150")
	}
	os.Exit(m.Run())
}
