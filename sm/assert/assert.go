// Package assert is the one assertion helper of Weir's state machines.
//
// An assertion guards against bugs — in the state machine or in the driver
// that feeds it — never against expected outcomes (those are reply codes) or
// the environment (a failing disk sets sm.Ready.Fatal). Assertions stay on in
// production: a replica or controller that broke an invariant must stop
// before it acknowledges or serves anything further, as TigerBeetle and
// FoundationDB do. Messages start with the package that asserts
// ("partition: …") and name both sides of the broken comparison.
package assert

import "fmt"

// That panics with the formatted message when cond is false.
func That(cond bool, format string, args ...any) {
	if !cond {
		panic(fmt.Sprintf(format, args...))
	}
}
