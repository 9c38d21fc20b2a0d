package audit

import (
	"context"
	"testing"
)

// BenchmarkLog is the caller's cost of Log: bound, copy, enqueue. The queue is
// large so the drain goroutine (writing with SyncNever) keeps up.
func BenchmarkLog(b *testing.B) {
	cfg := Config{Path: b.TempDir() + "/audit.log", Node: "b1", Sync: SyncNever, QueueMax: 1 << 16, MaxBytes: 64 << 20}
	l, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ev := Event{Type: AdminWrite, Principal: "admin", Source: "10.0.0.1:5000", Resource: "topic:orders",
		Operation: "create", Message: "created topic orders", Details: map[string]string{"partitions": "12"}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		l.Log(ev)
	}
	b.StopTimer()
	l.Flush(context.Background())
	st := l.Stats()
	l.Close()
	b.ReportMetric(float64(st.Dropped)/float64(b.N), "dropped/op")
}

// BenchmarkLogSuppressedDenial is a flood of identical denials: the repeat rule
// turns each into a counter increment.
func BenchmarkLogSuppressedDenial(b *testing.B) {
	cfg := Config{Path: b.TempDir() + "/audit.log", Node: "b1", Sync: SyncNever}
	l, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ev := Event{Type: AuthorizationDenied, Principal: "mallory", Source: "10.0.0.9:4000", Resource: "topic:orders",
		Operation: "write", Decision: Deny, RuleID: 3}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		l.Log(ev)
	}
	b.StopTimer()
	l.Close()
}

// BenchmarkWriteThroughput is end to end: Log then Flush per 1024, SyncBatch.
func BenchmarkWriteThroughput(b *testing.B) {
	cfg := Config{Path: b.TempDir() + "/audit.log", Node: "b1", QueueMax: 4096, MaxBytes: 8 << 20}
	l, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ev := Event{Type: AdminWrite, Principal: "admin", Resource: "topic:orders", Operation: "create"}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		l.Log(ev)
		if i%1024 == 1023 {
			l.Flush(context.Background())
		}
	}
	l.Flush(context.Background())
	b.StopTimer()
	if st := l.Stats(); st.Dropped > 0 {
		b.Fatalf("dropped %d", st.Dropped)
	}
	l.Close()
}
