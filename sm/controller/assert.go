package controller

import "fmt"

// assert panics when cond is false. It is for bugs only: a broken invariant
// means the metadata can no longer be trusted, so the process must stop, in
// production too. Expected outcomes are replies; environmental failures set
// sm.Ready.Fatal. Messages are "controller: ..." and name both sides.
func assert(cond bool, format string, args ...any) {
	if !cond {
		panic(fmt.Sprintf(format, args...))
	}
}
