package main

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/cmd/internal/dev"
	"github.com/weirmq/weir/cmd/internal/testnet"
)

// run executes the weir CLI in-process with stdin and returns stdout and
// the error.
func run(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	root.SetArgs(args)
	var out bytes.Buffer
	oldOut, oldIn := os.Stdout, os.Stdin
	r, w, _ := os.Pipe()
	os.Stdout = w
	if stdin != "" {
		ir, iw, _ := os.Pipe()
		go func() { io.WriteString(iw, stdin); iw.Close() }()
		os.Stdin = ir
	}
	done := make(chan struct{})
	go func() { io.Copy(&out, r); close(done) }()
	err := root.Execute()
	w.Close()
	<-done
	os.Stdout, os.Stdin = oldOut, oldIn
	return out.String(), err
}

// TestQuickStart is the README's quick start against a dev cluster: create
// a topic, produce 1000 lines, consume them all back; plus the errors a
// newcomer meets first.
func TestQuickStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster; skipped with -short")
	}
	o := dev.DefaultOptions()
	o.Dir = t.TempDir()
	o.ControllerPort, o.RaftPort, o.HTTPPort, o.BrokerPort = testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t)
	c, err := dev.Start(o, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown()
	flags := []string{"--data", o.Dir, "--api-url", "http://" + c.Controller.HTTPAddr, "--bootstrap", c.BrokerAddrs()[0]}
	cli := func(stdin string, args ...string) (string, error) { return run(t, stdin, append(args, flags...)...) }

	if out, err := cli("", "create-topic", "t", "3", "1"); err != nil || !strings.Contains(out, "created") {
		t.Fatalf("create-topic: %q %v", out, err)
	}
	var lines []string
	for i := 1; i <= 1000; i++ {
		lines = append(lines, strconv.Itoa(i))
	}
	if _, err := cli(strings.Join(lines, "\n")+"\n", "produce", "t"); err != nil {
		t.Fatalf("produce: %v", err)
	}
	out, err := cli("", "consume", "t", "--from-beginning", "--max", "1000")
	if err != nil {
		t.Fatalf("consume: %v", err)
	}
	got := map[string]bool{}
	for _, l := range strings.Fields(out) {
		got[l] = true
	}
	if len(got) != 1000 || !got["1"] || !got["1000"] {
		t.Fatalf("consumed %d distinct lines, want 1000", len(got))
	}
	if out, err := cli("", "list-topics"); err != nil || !strings.Contains(out, "t ") {
		t.Fatalf("list-topics: %q %v", out, err)
	}
	if out, err := cli("", "describe-topic", "t"); err != nil || !strings.Contains(out, "broker-101") {
		t.Fatalf("describe-topic: %q %v", out, err)
	}
	// Errors name the cause.
	if _, err := cli("", "describe-topic", "nope"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("describe of an unknown topic: %v", err)
	}
	if _, err := cli("x\n", "produce", "nope"); err == nil || !strings.Contains(strings.ToLower(err.Error()), "unknown topic") {
		t.Fatalf("produce to an unknown topic: %v", err)
	}
	big := strings.Repeat("x", 2<<20)
	if _, err := cli(big+"\n", "produce", "t"); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("oversized record: %v", err)
	}
	if _, err := cli("", "create-topic", "t", "1", "5"); err == nil || !strings.Contains(err.Error(), "replication") {
		t.Fatalf("bad replication factor: %v", err)
	}
	if out, err := cli("", "delete-topic", "t"); err != nil || !strings.Contains(out, "deleted") {
		t.Fatalf("delete-topic: %q %v", out, err)
	}
	if _, err := run(t, "", "list-topics", "--api-url", "http://127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "weir dev") {
		t.Fatalf("unreachable controller: %v", err)
	}
}
