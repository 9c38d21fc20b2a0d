package linearizability

import (
	"math/rand/v2"
	"testing"
	"time"
)

// bench100k is a valid history of 100k client ops (16 clients, 8 partitions,
// up to 3 values per produce and 10 records per fetch) plus the final reads.
func bench100k(b *testing.B) *History {
	b.Helper()
	h, _ := genHistory(randSource{rand.New(rand.NewPCG(7, 7))},
		genConfig{tps: 8, clients: 16, opsPerClient: 6250, valuesMax: 3, fetchMax: 10, finalChunk: 64})
	if r := CheckLog(h); !r.OK() {
		b.Fatalf("generated history is not valid: %s", r)
	}
	return h
}

// BenchmarkCheckLog100k shows CheckLog ends a long run in well under a second.
func BenchmarkCheckLog100k(b *testing.B) {
	h := bench100k(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if r := CheckLog(h); !r.OK() {
			b.Fatal(r)
		}
	}
	b.ReportMetric(float64(len(h.Ops)), "ops")
}

// BenchmarkCheckPorcupine100k measures the porcupine second opinion on the
// same history, for choosing its timeout.
func BenchmarkCheckPorcupine100k(b *testing.B) {
	h := bench100k(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r, err := CheckPorcupine(h, time.Minute, "", "bench")
		if err != nil || !r.OK() || r.Unknown() {
			b.Fatal(r.String(), err)
		}
	}
}
