package partition

import "fmt"

// assertf panics when cond is false. It guards against bugs in this package or
// its host, never against expected outcomes (those are reply codes), so it
// stays on in production: a replica that broke an invariant must stop before
// it acknowledges or serves anything further.
func assertf(cond bool, format string, args ...any) {
	if !cond {
		panic(fmt.Sprintf("partition: "+format, args...))
	}
}
