package linearizability

import (
	"fmt"
	"slices"
	"strings"
)

// Promise is one safety property Weir makes to its users, and the checker
// findings that break it. Scenario files name the promises they protect
// (`check promise=...`), so a failure says which promise broke rather than
// only that some output changed.
type Promise struct {
	Name string
	Says string
	// Kinds are the CheckLog violation kinds that break it; Porcupine says
	// porcupine's verdict does.
	Kinds     []string
	Porcupine bool
}

// Promises is every promise, in the order reports list them. Every
// violation kind belongs to exactly one (TestPromisesCoverKinds).
var Promises = []Promise{
	{Name: "durable", Says: "an acknowledged durable record survives at the offset it was acknowledged at",
		Kinds: []string{ViolationLost, ViolationOffsetMismatch, ViolationBatchSplit, ViolationDoubleClaim}},
	{Name: "committed", Says: "committed records never change, stay readable, and the high watermark never goes back",
		Kinds: []string{ViolationReadDisagree, ViolationHWBackwards, ViolationRefusedRead, ViolationAboveHW, ViolationGap}},
	{Name: "no-phantoms", Says: "a read shows only records produced once, by a produce that could have written them",
		Kinds: []string{ViolationPhantom, ViolationDuplicate, ViolationFutureRead}},
	{Name: "real-time", Says: "a produce acknowledged after a durable one returned lands above it",
		Kinds: []string{ViolationRealTime}},
	{Name: "linearizable", Says: "every history has a linearization (porcupine, per partition and for topics)",
		Porcupine: true},
	{Name: "history", Says: "the recorded history itself is well formed (a harness bug otherwise)",
		Kinds: []string{ViolationBadHistory}},
}

// PromiseNamed returns the promise called name, or an error listing them.
func PromiseNamed(name string) (Promise, error) {
	for _, p := range Promises {
		if p.Name == name {
			return p, nil
		}
	}
	var names []string
	for _, p := range Promises {
		names = append(names, p.Name)
	}
	return Promise{}, fmt.Errorf("unknown promise %q (want one of %s)", name, strings.Join(names, ", "))
}

// PromiseOf names the promise a violation kind breaks.
func PromiseOf(kind string) string {
	for _, p := range Promises {
		if slices.Contains(p.Kinds, kind) {
			return p.Name
		}
	}
	return "unknown"
}

// Broken renders which of r's findings break p ("" when none do).
func (r *Report) Broken(p Promise) string {
	var parts []string
	for _, k := range p.Kinds {
		if n := r.Counts[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, n))
		}
	}
	return strings.Join(parts, " ")
}
