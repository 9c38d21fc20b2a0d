package main

import (
	"strings"
	"testing"
)

// Goal: bench fails fast on a missing topic (with the way out), creates
// its topic with --create, reports failed records apart from produced
// ones, and bench consume stops at the end of the data.
func TestBench(t *testing.T) {
	d := startDev(t)
	_, _, err := d.cli(t, "", "bench", "produce", "--topic", "nope", "--records", "100")
	if err == nil || !strings.Contains(err.Error(), `unknown topic "nope"`) || !strings.Contains(err.Error(), "--create") {
		t.Fatalf("bench produce to a missing topic: %v", err)
	}
	_, _, err = d.cli(t, "", "bench", "consume", "--topic", "nope")
	if err == nil || !strings.Contains(err.Error(), `unknown topic "nope"`) {
		t.Fatalf("bench consume of a missing topic: %v", err)
	}

	out, errOut, err := d.cli(t, "", "bench", "produce", "--topic", "b", "--create", "--partitions", "2", "--records", "300", "--size", "100")
	if err != nil || !strings.HasPrefix(out, "produce: 300 records of 100 B") || !strings.Contains(errOut, `created topic "b"`) {
		t.Fatalf("bench produce --create: %q %v (stderr %q)", out, err, errOut)
	}
	if out := d.mustCLI(t, "", "describe-topic", "b"); !strings.Contains(out, "2 partitions") {
		t.Errorf("--create --partitions 2: %q", out)
	}
	// --create on an existing topic uses it.
	d.mustCLI(t, "", "bench", "produce", "--topic", "b", "--create", "--records", "100", "--size", "100")

	out, errOut, err = d.cli(t, "", "bench", "consume", "--topic", "b", "--records", "100000")
	if err != nil || !strings.HasPrefix(out, "consume: 400 records") || !strings.Contains(errOut, "holds 400 records") {
		t.Fatalf("bench consume of fewer records than --records: %q %v (stderr %q)", out, err, errOut)
	}
	out = d.mustCLI(t, "", "bench", "consume", "--topic", "b", "--records", "50")
	if !strings.HasPrefix(out, "consume: 50 records") {
		t.Errorf("bench consume --records 50: %q", out)
	}

	// Records the producer refuses are failures, not produced records, and
	// the run stops at the first.
	out, _, err = d.cli(t, "", "bench", "produce", "--topic", "b", "--records", "1000", "--size", "2000000")
	if err == nil || !strings.Contains(err.Error(), "failed") || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("bench produce of oversized records: %v", err)
	}
	if !strings.HasPrefix(out, "produce: 0 records") || !strings.Contains(out, "failed") || strings.Contains(out, "1000 records") {
		t.Errorf("bench produce of oversized records reports %q", out)
	}

	d.mustCLI(t, "", "create-topic", "empty", "1", "1")
	_, _, err = d.cli(t, "", "bench", "consume", "--topic", "empty")
	if err == nil || !strings.Contains(err.Error(), "no records") || !strings.Contains(err.Error(), "bench produce") {
		t.Errorf("bench consume of an empty topic: %v", err)
	}
}

// Goal: bench produce --idempotent writes through the idempotent producer
// against real brokers (every record once: the topic then holds exactly
// the records sent), reports its counters, and refuses the ack levels and
// in-flight counts idempotence cannot have.
func TestBenchIdempotent(t *testing.T) {
	d := startDev(t)
	out, _, err := d.cli(t, "", "bench", "produce", "--idempotent", "--topic", "idem", "--create", "--partitions", "2", "--records", "3000", "--size", "100")
	if err != nil || !strings.HasPrefix(out, "produce: 3000 records of 100 B") || !strings.Contains(out, "idempotent: 1 producer IDs, 0 duplicates answered") {
		t.Fatalf("bench produce --idempotent: %q %v", out, err)
	}
	out, errOut, err := d.cli(t, "", "bench", "consume", "--topic", "idem", "--records", "100000")
	if err != nil || !strings.HasPrefix(out, "consume: 3000 records") || !strings.Contains(errOut, "holds 3000 records") {
		t.Fatalf("bench consume after an idempotent run: %q %v (stderr %q)", out, err, errOut)
	}
	for _, bad := range [][]string{{"--acks", "leader"}, {"--acks", "majority"}, {"--max-inflight", "6"}} {
		args := append([]string{"bench", "produce", "--idempotent", "--topic", "idem", "--records", "10"}, bad...)
		_, _, err := d.cli(t, "", args...)
		if err == nil || !strings.Contains(err.Error(), bad[0]) || !strings.Contains(err.Error(), "--idempotent") {
			t.Errorf("bench produce --idempotent %v: %v, want a refusal naming %s", bad, err, bad[0])
		}
	}
}
