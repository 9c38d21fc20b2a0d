package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weirmq/weir/sdk"
)

// consumerProc is one `weir consume --group` process and what it printed.
type consumerProc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	seen []consumedJSON
	done chan struct{}
}

func (p *consumerProc) records() []consumedJSON {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]consumedJSON(nil), p.seen...)
}

// buildWeir compiles the CLI, for tests that need it as a process.
func buildWeir(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "weir")
	cmd := exec.Command("go", "build", "-o", path, "github.com/weirmq/weir/cmd/weir")
	cmd.Env = os.Environ()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build weir: %v\n%s", err, b)
	}
	return path
}

func (d *devCluster) startConsumer(t *testing.T, bin string, args ...string) *consumerProc {
	t.Helper()
	cmd := exec.Command(bin, append(args, d.flags...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &consumerProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var r consumedJSON
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				continue
			}
			p.mu.Lock()
			p.seen = append(p.seen, r)
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		cmd.Wait()
	})
	return p
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s; now %s", d, what, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestConsumeGroupProcesses is the process-level test: three
// `weir consume --group g` processes share a 6-partition topic; one is
// SIGKILLed, and its partitions move to the other two within the session
// timeout without a record skipped; after all stop and three start again,
// they resume from the committed offsets (nothing already committed is read
// again).
func TestConsumeGroupProcesses(t *testing.T) {
	d := startDev(t)
	bin := buildWeir(t)
	c := d.sdkClient(t)
	d.mustCLI(t, "", "create-topic", "t", "6", "1")
	produced := 0
	produceN := func(n int) {
		var b strings.Builder
		for range n {
			produced++
			fmt.Fprintf(&b, "r-%d\n", produced)
		}
		d.mustCLI(t, b.String(), "produce", "t")
	}
	produceN(300)

	const session = 3 * time.Second
	args := []string{"consume", "t", "--group", "g", "--from-beginning", "--format", "json", "--session-timeout", session.String()}
	procs := []*consumerProc{d.startConsumer(t, bin, args...), d.startConsumer(t, bin, args...), d.startConsumer(t, bin, args...)}
	seenValues := func(ps ...*consumerProc) map[string]int {
		m := map[string]int{}
		for _, p := range ps {
			for _, r := range p.records() {
				if r.Value != nil {
					m[*r.Value]++
				}
			}
		}
		return m
	}
	allSeen := func(ps ...*consumerProc) func() (bool, string) {
		return func() (bool, string) {
			m := seenValues(ps...)
			for i := 1; i <= produced; i++ {
				if m["r-"+strconv.Itoa(i)] == 0 {
					return false, fmt.Sprintf("%d of %d distinct records consumed (first missing r-%d)", len(m), produced, i)
				}
			}
			return true, ""
		}
	}
	members := func(n int) func() (bool, string) {
		return func() (bool, string) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			g, err := c.DescribeGroup(ctx, "g")
			if err != nil {
				return false, err.Error()
			}
			owned := map[sdk.TopicPartition]int{}
			for _, m := range g.Members {
				for _, tp := range m.Assignment {
					owned[tp]++
				}
			}
			ok := g.State == "Stable" && len(g.Members) == n && len(owned) == 6
			for _, k := range owned {
				ok = ok && k == 1
			}
			return ok, fmt.Sprintf("%s with %d members owning %v", g.State, len(g.Members), owned)
		}
	}
	waitFor(t, 30*time.Second, "three members sharing the six partitions", members(3))
	waitFor(t, 30*time.Second, "every record consumed by the group", allSeen(procs...))
	for i, p := range procs {
		if len(p.records()) == 0 {
			t.Errorf("consumer %d got no records: the group did not share the partitions", i)
		}
	}

	// SIGKILL one member mid-stream: the others take its partitions over
	// once its session expires, and miss nothing.
	produceN(300)
	if err := procs[0].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	produceN(300)
	waitFor(t, session+15*time.Second, "the two survivors owning all six partitions", members(2))
	moved := time.Since(killed)
	waitFor(t, 30*time.Second, "every record consumed by the group after the kill", allSeen(procs...))
	t.Logf("partitions moved %v after the SIGKILL (session timeout %v)", moved.Round(100*time.Millisecond), session)

	// Stop the survivors (Ctrl-C: they commit and leave), then check that
	// everything is committed.
	for _, p := range procs[1:] {
		p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			t.Fatal("a consumer did not stop on Ctrl-C")
		}
	}
	waitFor(t, 20*time.Second, "the group's offsets at the high watermarks", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		got, err := c.CommittedOffsets(ctx, "g")
		if err != nil {
			return false, err.Error()
		}
		offs, err := c.ListOffsets(ctx, "t")
		if err != nil {
			return false, err.Error()
		}
		for _, o := range offs {
			if got[o.TP] != o.HighWatermark {
				return false, fmt.Sprintf("committed %v, high watermarks %+v", got, offs)
			}
		}
		return true, ""
	})

	// All restart: they resume from the committed offsets.
	before := produced
	produceN(300)
	again := []*consumerProc{d.startConsumer(t, bin, args...), d.startConsumer(t, bin, args...), d.startConsumer(t, bin, args...)}
	waitFor(t, 30*time.Second, "the new records consumed after the restart", func() (bool, string) {
		m := seenValues(again...)
		for i := before + 1; i <= produced; i++ {
			if m["r-"+strconv.Itoa(i)] == 0 {
				return false, fmt.Sprintf("%d distinct records consumed after the restart (first missing r-%d)", len(m), i)
			}
		}
		return true, ""
	})
	for v := range seenValues(again...) {
		if n, _ := strconv.Atoi(strings.TrimPrefix(v, "r-")); n <= before {
			t.Errorf("record %s, committed before the restart, was read again", v)
		}
	}
}
