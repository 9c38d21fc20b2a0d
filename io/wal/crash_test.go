package wal

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/weirmq/weir/sm"
)

const (
	crashEnvDir     = "WEIR_WAL_CRASH_CHILD_DIR"
	crashEnvBackend = "WEIR_WAL_CRASH_CHILD_BACKEND"
)

func crashTP(p int32) sm.TopicPartition { return sm.TopicPartition{Topic: "crash", Partition: p} }

// Every append acknowledged with sync (Append returned, or LogDone
// arrived) by a process that is then SIGKILLed mid-stream is there after
// recovery, three crashes in a row on the same directory, with segment rolls
// in between; the recovered logs are clean and continue from where they end.
func TestCrashRecovery(t *testing.T) {
	forBackends(t, func(t *testing.T, be string) {
		dir := t.TempDir()
		acked := map[int32]sm.Offset{}
		for round, killAfter := range []int{40, 400, 150} {
			n := runCrashChild(t, dir, be, killAfter, acked)
			w, rec, err := Open(crashConfig(dir, be))
			if err != nil {
				t.Fatalf("round %d: recovery after SIGKILL: %v", round, err)
			}
			for p, end := range acked {
				checkCrashLog(t, crashTP(p), rec.Logs[crashTP(p)], end)
			}
			mustClose(t, w)
			t.Logf("round %d: killed after %d acks; recovered ends %v; repairs %q", round, n, acked, rec.Repairs)
		}
	})
}

func crashConfig(dir, be string) Config {
	cfg := testConfig(dir, be)
	return cfg
}

// runCrashChild re-executes the test binary as a writer, reads its
// acknowledgments, SIGKILLs it after killAfter of them and returns how many
// it read (the pipe holds every ack the child wrote before it died).
func runCrashChild(t *testing.T, dir, be string, killAfter int, acked map[int32]sm.Offset) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnvDir+"="+dir, crashEnvBackend+"="+be)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	watchdog := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer watchdog.Stop()
	n, killed := 0, false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var p int32
		var end int64
		if _, err := fmt.Sscanf(sc.Text(), "ACK %d %d", &p, &end); err != nil {
			continue
		}
		acked[p] = max(acked[p], sm.Offset(end))
		if n++; n == killAfter {
			cmd.Process.Kill() // SIGKILL: no deferred code, no Close
			killed = true
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatalf("writer stopped after %d acks before it was killed; stderr:\n%s", n, stderr.String())
	}
	return n
}

// checkCrashLog verifies a recovered log: clean, dense from 0, holding at
// least every acknowledged offset, each record the one written there.
func checkCrashLog(t *testing.T, tp sm.TopicPartition, log []byte, ackedEnd sm.Offset) {
	t.Helper()
	batches, n, err := sm.DecodeLog(log)
	if err != nil || n != len(log) {
		t.Fatalf("%v: recovered log does not decode cleanly: %d of %d bytes, %v", tp, n, len(log), err)
	}
	next := sm.Offset(0)
	for _, b := range batches {
		if b.BaseOffset != next {
			t.Fatalf("%v: batch at %d, expected %d", tp, b.BaseOffset, next)
		}
		for i, r := range b.Records {
			off := b.BaseOffset + sm.Offset(i)
			if string(r.Key) != fmt.Sprintf("k%d", off) || !bytes.Equal(r.Value, value(tp, off, len(r.Value))) {
				t.Fatalf("%v: record %d holds the wrong bytes", tp, off)
			}
		}
		next = b.NextOffset()
	}
	if next < ackedEnd {
		t.Fatalf("%v: lost acknowledged records: log ends at %d, acknowledged through %d", tp, next, ackedEnd)
	}
}

// TestCrashChild is the writer TestCrashRecovery kills; it does nothing
// unless re-executed by it. Partitions 1-3 use blocking Appends; partition 0
// pipelines up to 16 operations through an Executor, as a broker does.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnvDir)
	if dir == "" {
		t.Skip("writer process for TestCrashRecovery; runs only when re-executed by it")
	}
	die := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
		os.Exit(3)
	}
	w, rec, err := Open(crashConfig(dir, os.Getenv(crashEnvBackend)))
	if err != nil {
		die("open: %v", err)
	}
	var outMu sync.Mutex
	ack := func(p int32, end sm.Offset) {
		outMu.Lock()
		fmt.Fprintf(os.Stdout, "ACK %d %d\n", p, end) // unbuffered: reaches the pipe now
		outMu.Unlock()
	}
	start := func(p int32) sm.Offset {
		batches, _, _ := sm.DecodeLog(rec.Logs[crashTP(p)])
		if len(batches) == 0 {
			return 0
		}
		return batches[len(batches)-1].NextOffset()
	}
	for p := int32(1); p <= 3; p++ {
		go func() {
			tp, next := crashTP(p), start(p)
			for i := 0; ; i++ {
				recs := 1 + i%4
				// Every twelfth append rolls, as the state machine rolls segments.
				op := sm.LogOp{Kind: sm.LogAppend, TP: tp, Data: frame(tp, next, 1, recs, 20+(i*37)%300), Sync: true, Roll: i%12 == 11}
				if err := w.Do(op); err != nil {
					die("append %v at %d: %v", tp, next, err)
				}
				next += sm.Offset(recs)
				ack(p, next)
			}
		}()
	}
	var mu sync.Mutex
	ends := map[sm.EffectID]sm.Offset{}
	slots := make(chan struct{}, 16)
	exec := w.NewExecutor(func(d sm.LogDone) {
		if d.Outcome != sm.OutcomeOK {
			die("op %d: %s", d.ID, d.Reason)
		}
		mu.Lock()
		end := ends[d.ID]
		delete(ends, d.ID)
		mu.Unlock()
		ack(0, end)
		<-slots
	})
	tp, next := crashTP(0), start(0)
	for id := sm.EffectID(1); ; id++ {
		slots <- struct{}{}
		recs := 1 + int(id%3)
		data := frame(tp, next, 1, recs, 100+int(id*53)%500)
		next += sm.Offset(recs)
		mu.Lock()
		ends[id] = next
		mu.Unlock()
		exec.StartLog([]sm.LogOp{{ID: id, Kind: sm.LogAppend, TP: tp, Data: data, Sync: true, Roll: id%20 == 0}})
	}
}
