package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/cmd/internal/dev"
	"github.com/weirmq/weir/cmd/internal/testnet"
)

// runIO executes the weir CLI in-process with stdin (a pipe; the test's
// own stdin when empty) and returns stdout, stderr and the error.
func runIO(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	root := newRoot()
	root.SetArgs(args)
	var out, errOut bytes.Buffer
	oldOut, oldErr, oldIn := os.Stdout, os.Stderr, os.Stdin
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	er, ew, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout, os.Stderr = w, ew
	if stdin != "" {
		ir, iw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		go func() { io.WriteString(iw, stdin); iw.Close() }()
		os.Stdin = ir
		defer ir.Close()
	}
	done := make(chan struct{}, 2)
	go func() { io.Copy(&out, r); done <- struct{}{} }()
	go func() { io.Copy(&errOut, er); done <- struct{}{} }()
	err = root.Execute()
	w.Close()
	ew.Close()
	<-done
	<-done
	r.Close()
	er.Close()
	os.Stdout, os.Stderr, os.Stdin = oldOut, oldErr, oldIn
	return out.String(), errOut.String(), err
}

// run is runIO without stderr.
func run(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	out, _, err := runIO(t, stdin, args...)
	return out, err
}

// devCluster is a dev cluster on free ports, and the flags that point
// the CLI at it.
type devCluster struct {
	*dev.Cluster
	apiURL string
	flags  []string
}

func startDev(t *testing.T) *devCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a cluster; skipped with -short")
	}
	o := dev.DefaultOptions()
	o.NoRateLimit, o.MetricsPort = true, 0
	o.Dir = t.TempDir()
	o.ControllerPort, o.RaftPort, o.HTTPPort, o.BrokerPort = testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t)
	c, err := dev.Start(o, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Shutdown() })
	api := "http://" + c.Controller.HTTPAddr
	return &devCluster{Cluster: c, apiURL: api, flags: []string{"--data", o.Dir, "--api-url", api, "--bootstrap", c.BrokerAddrs()[0]}}
}

// cli runs the CLI against the cluster.
func (d *devCluster) cli(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	return runIO(t, stdin, append(args, d.flags...)...)
}

// fakeTerminal makes the CLI take stdin and stdout for terminals, and
// clears the environment that would turn colors off.
func fakeTerminal(t *testing.T) {
	old := isTerminal
	isTerminal = func(*os.File) bool { return true }
	t.Cleanup(func() { isTerminal = old })
	t.Setenv("NO_COLOR", "")
	t.Setenv("TERM", "xterm-256color")
}

// TestQuickStart is the README's quick start against a dev cluster: create
// a topic, produce 1000 lines, consume them all back; plus the errors a
// newcomer meets first.
func TestQuickStart(t *testing.T) {
	d := startDev(t)
	cli := func(stdin string, args ...string) (string, error) { return run(t, stdin, append(args, d.flags...)...) }

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
	if out, err := cli("", "delete-topic", "t", "--force"); err != nil || !strings.Contains(out, "deleted") {
		t.Fatalf("delete-topic: %q %v", out, err)
	}
	if _, err := run(t, "", "list-topics", "--api-url", "http://127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "weir dev") {
		t.Fatalf("unreachable controller: %v", err)
	}
}

// esc is the byte every ANSI escape sequence starts with.
const esc = "\x1b"

var sgrRE = regexp.MustCompile("\x1b\\[[0-9;]*m")

// parseCSV parses out as CSV with a header row, checking the header.
func parseCSV(t *testing.T, out string, header ...string) [][]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("csv: %v in %q", err, out)
	}
	if len(recs) == 0 || !slices.Equal(recs[0], header) {
		t.Fatalf("csv header: got %q, want %q", recs, header)
	}
	return recs[1:]
}

// parseJSON decodes out, which must be one JSON document, into v.
func parseJSON(t *testing.T, out string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("json: %v in %q", err, out)
	}
	if dec.More() {
		t.Fatalf("json: more than one document in %q", out)
	}
}

// hasLines checks that out has each of lines as a whole line (YAML keys at
// their indentation).
func hasLines(t *testing.T, out string, lines ...string) {
	t.Helper()
	all := strings.Split(out, "\n")
	for _, l := range lines {
		if !slices.Contains(all, l) {
			t.Errorf("no line %q in:\n%s", l, out)
		}
	}
}

// tableRows splits a table into rows of fields (cells without spaces).
func tableRows(out string) [][]string {
	var rows [][]string
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		rows = append(rows, strings.Fields(l))
	}
	return rows
}

// apiTopicSummary and apiTopic are the admin API's shapes, strictly (the
// json test output is decoded with DisallowUnknownFields).
type apiTopicSummary struct {
	Name              string  `json:"name"`
	TopicID           string  `json:"topic_id"`
	Partitions        int     `json:"partitions"`
	ReplicationFactor int     `json:"replication_factor"`
	CreatedAt         *string `json:"created_at"`
}

type apiTopic struct {
	Name              string         `json:"name"`
	TopicID           string         `json:"topic_id"`
	Partitions        int            `json:"partitions"`
	ReplicationFactor int            `json:"replication_factor"`
	Config            map[string]any `json:"config"`
	CreatedAt         *string        `json:"created_at"`
	Assignments       []struct {
		Partition   int      `json:"partition"`
		Leader      *string  `json:"leader"`
		Replicas    []string `json:"replicas"`
		ISR         []string `json:"in_sync_replicas"`
		LeaderEpoch int64    `json:"leader_epoch"`
		LogStart    *int64   `json:"log_start_offset"`
		HW          *int64   `json:"high_watermark"`
		LogEnd      *int64   `json:"log_end_offset"`
		LocalStart  *int64   `json:"local_start_offset"`
		LocalBytes  *int64   `json:"local_bytes"`
		Uploaded    *struct {
			Start    int64 `json:"start_offset"`
			End      int64 `json:"end_offset"`
			Bytes    int64 `json:"bytes"`
			Segments int64 `json:"segments"`
		} `json:"uploaded"`
	} `json:"partition_assignments"`
}

// topicIDRE is a topic ID as the admin API and the CLI print it.
var topicIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

// TestAdminCommands runs every admin command in every format against a
// dev cluster, with colors, --verbose, and delete-topic's confirmation.
func TestAdminCommands(t *testing.T) {
	d := startDev(t)
	cli := func(t *testing.T, stdin string, args ...string) (string, string) {
		t.Helper()
		out, errOut, err := d.cli(t, stdin, args...)
		if err != nil {
			t.Fatalf("weir %s: %v (stderr %q)", strings.Join(args, " "), err, errOut)
		}
		return out, errOut
	}

	t.Run("create-topic", func(t *testing.T) {
		out, _ := cli(t, "", "create-topic", "a", "3", "1")
		if out != "Topic 'a' created\n" {
			t.Errorf("table: %q", out)
		}
		out, _ = cli(t, "", "create-topic", "b", "2", "1", "--format", "json")
		var res topicResult
		parseJSON(t, out, &res)
		if res != (topicResult{Topic: "b", Action: "created", Message: "Topic 'b' created"}) {
			t.Errorf("json: %+v", res)
		}
		out, _ = cli(t, "", "create-topic", "c", "1", "1", "--format", "yaml", "--min-insync-replicas", "1")
		hasLines(t, out, "topic: c", "action: created", "message: Topic 'c' created")
		out, _ = cli(t, "", "create-topic", "d", "1", "1", "-o", "csv")
		if recs := parseCSV(t, out, "topic", "action", "message"); !slices.Equal(recs[0], []string{"d", "created", "Topic 'd' created"}) {
			t.Errorf("csv: %q", recs)
		}
		_, _, err := d.cli(t, "", "create-topic", "a", "1", "1")
		if err == nil || !strings.Contains(err.Error(), "describe-topic a") {
			t.Errorf("create of an existing topic: %v", err)
		}
	})

	t.Run("list-topics", func(t *testing.T) {
		out, _ := cli(t, "", "list-topics")
		want := [][]string{{"NAME", "PARTITIONS", "REPLICATION"}, {"a", "3", "1"}, {"b", "2", "1"}, {"c", "1", "1"}, {"d", "1", "1"}}
		got := tableRows(out)
		ids := map[string]bool{}
		for i, row := range got {
			if i > 0 && (len(row) != 4 || !topicIDRE.MatchString(row[3]) || ids[row[3]]) {
				t.Errorf("table row %q: want a distinct topic id last", row)
			}
			if len(row) == 4 {
				ids[row[3]] = true
			}
		}
		if len(got) != len(want) || !slices.Equal(got[0], []string{"NAME", "PARTITIONS", "REPLICATION", "TOPIC-ID"}) ||
			!slices.EqualFunc(got[1:], want[1:], func(a, b []string) bool { return len(a) == 4 && slices.Equal(a[:3], b) }) {
			t.Errorf("table: %q", got)
		}
		if strings.Contains(out, esc) {
			t.Errorf("table to a pipe has colors: %q", out)
		}
		out, _ = cli(t, "", "list-topics", "--format", "json")
		var ts []apiTopicSummary
		parseJSON(t, out, &ts)
		if len(ts) != 4 || ts[0].Name != "a" || ts[0].Partitions != 3 || ts[0].ReplicationFactor != 1 || ts[3].Name != "d" || !topicIDRE.MatchString(ts[0].TopicID) {
			t.Errorf("json: %+v", ts)
		}
		out, _ = cli(t, "", "list-topics", "--format", "YAML")
		hasLines(t, out, "- name: a", "  partitions: 3", "  replication_factor: 1", "- name: d")
		out, _ = cli(t, "", "list-topics", "--format", "csv")
		recs := parseCSV(t, out, "name", "partitions", "replication_factor", "topic_id")
		if !slices.EqualFunc(recs, want[1:], func(a, b []string) bool { return len(a) == 4 && slices.Equal(a[:3], b) && topicIDRE.MatchString(a[3]) }) {
			t.Errorf("csv: %q", recs)
		}
	})

	t.Run("describe-topic", func(t *testing.T) {
		out, _ := cli(t, "", "describe-topic", "a")
		rows := tableRows(out)
		if len(rows) != 6 || !strings.HasPrefix(out, "topic a: 3 partitions, replication factor 1") ||
			len(rows[1]) != 3 || rows[1][0] != "topic" || rows[1][1] != "id" || !topicIDRE.MatchString(rows[1][2]) ||
			!slices.Equal(rows[2], []string{"PARTITION", "LEADER", "EPOCH", "REPLICAS", "IN-SYNC", "LOG-START", "HIGH-WATERMARK", "LOG-END", "LOCAL-START", "UPLOADED-END", "LOCAL-BYTES", "UPLOADED-BYTES"}) ||
			!slices.Equal(rows[3][:2], []string{"0", "broker-101"}) || !slices.Equal(rows[3][5:], []string{"0", "0", "0", "0", "0", "0", "0"}) || rows[5][0] != "2" {
			t.Errorf("table: %q", out)
		}
		out, _ = cli(t, "", "describe-topic", "a", "--format", "json")
		var top apiTopic
		parseJSON(t, out, &top)
		if top.Name != "a" || top.Partitions != 3 || len(top.Assignments) != 3 || top.Config["min_in_sync_replicas"] == nil || rows[1][2] != top.TopicID {
			t.Errorf("json: %+v", top)
		}
		for i, p := range top.Assignments {
			if p.Partition != i || p.Leader == nil || *p.Leader != "broker-101" || !slices.Equal(p.ISR, []string{"broker-101"}) ||
				p.LogStart == nil || *p.LogStart != 0 || p.HW == nil || *p.HW != 0 || p.LogEnd == nil || *p.LogEnd != 0 ||
				p.LocalStart == nil || *p.LocalStart != 0 || p.LocalBytes == nil || p.Uploaded == nil || p.Uploaded.End != 0 {
				t.Errorf("json partition %d: %+v", i, p)
			}
		}
		out, _ = cli(t, "", "describe-topic", "a", "--format", "yaml")
		hasLines(t, out, "name: a", "partitions: 3", "config:", "  min_in_sync_replicas: 1", "partition_assignments:",
			"- partition: 0", "  leader: broker-101", "  replicas:", "  - broker-101", "  in_sync_replicas:", "- partition: 2")
		out, _ = cli(t, "", "describe-topic", "a", "--format", "csv")
		recs := parseCSV(t, out, "topic", "partition", "leader", "leader_epoch", "replicas", "in_sync_replicas", "log_start_offset", "high_watermark", "log_end_offset",
			"local_start_offset", "uploaded_end_offset", "local_bytes", "uploaded_bytes")
		if len(recs) != 3 {
			t.Fatalf("csv: %q", recs)
		}
		for i, r := range recs {
			if r[0] != "a" || r[1] != strconv.Itoa(i) || r[2] != "broker-101" || r[4] != "broker-101" || r[5] != "broker-101" || !slices.Equal(r[6:], []string{"0", "0", "0", "0", "0", "0", "0"}) {
				t.Errorf("csv row %d: %q", i, r)
			}
		}
		_, _, err := d.cli(t, "", "describe-topic", "nope")
		if err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "weir list-topics") {
			t.Errorf("describe of an unknown topic: %v", err)
		}
	})

	t.Run("colors", func(t *testing.T) {
		plain, _ := cli(t, "", "list-topics")
		fakeTerminal(t)
		colored, _ := cli(t, "", "list-topics")
		if !strings.HasPrefix(colored, sgrBold+"NAME"+sgrReset) {
			t.Errorf("table on a terminal: header not bold: %q", colored)
		}
		if got := sgrRE.ReplaceAllString(colored, ""); got != plain {
			t.Errorf("colors change the layout:\n%s\nvs\n%s", got, plain)
		}
		for _, args := range [][]string{
			{"list-topics", "--no-color"},
			{"describe-topic", "a", "--no-color"},
			{"list-topics", "--format", "json"},
			{"list-topics", "--format", "yaml"},
			{"list-topics", "--format", "csv"},
		} {
			if out, _ := cli(t, "", args...); strings.Contains(out, esc) {
				t.Errorf("weir %s: ESC in %q", strings.Join(args, " "), out)
			}
		}
		t.Setenv("NO_COLOR", "1")
		for _, args := range [][]string{{"list-topics"}, {"describe-topic", "a"}, {"create-topic", "e", "1", "1"}} {
			if out, _ := cli(t, "", args...); strings.Contains(out, esc) {
				t.Errorf("NO_COLOR=1 weir %s: ESC in %q", strings.Join(args, " "), out)
			}
		}
	})

	t.Run("verbose", func(t *testing.T) {
		out, errOut := cli(t, "", "list-topics", "--verbose", "--format", "json")
		if !regexp.MustCompile(`(?m)^GET ` + regexp.QuoteMeta(d.apiURL) + `/api/v1/topics -> 200 OK \(\S+\)$`).MatchString(errOut) {
			t.Errorf("--verbose stderr: %q", errOut)
		}
		var ts []apiTopicSummary
		parseJSON(t, out, &ts) // the trace is not on stdout
		_, errOut = cli(t, "", "list-topics")
		if errOut != "" {
			t.Errorf("stderr without --verbose: %q", errOut)
		}
		_, errOut, err := d.cli(t, "", "list-topics", "-v", "--format", "xml")
		if err == nil || !strings.Contains(err.Error(), `"xml"`) || !strings.Contains(err.Error(), "table, json, yaml or csv") || errOut != "" {
			t.Errorf("bad --format: %v (stderr %q: no request should be made)", err, errOut)
		}
	})

	t.Run("delete-topic", func(t *testing.T) {
		exists := func(name string) bool {
			_, _, err := d.cli(t, "", "describe-topic", name)
			return err == nil
		}
		// The test's stdin is a pipe: the real terminal check says no.
		_, errOut, err := d.cli(t, "y\n", "delete-topic", "d")
		if err == nil || err.Error() != "refusing to prompt: stdin is not a terminal; pass --force to delete" || errOut != "" {
			t.Errorf("delete from a pipe: %v (stderr %q)", err, errOut)
		}
		if !exists("d") {
			t.Fatal("topic d deleted without confirmation")
		}
		fakeTerminal(t)
		// " ": end of input without a newline (Ctrl-D).
		for _, answer := range []string{"n\n", "\n", "no\n", "nope\n", "yes please\n", " "} {
			_, errOut, err = d.cli(t, answer, "delete-topic", "d")
			if err == nil || !strings.Contains(err.Error(), `topic "d" not deleted`) || !strings.Contains(err.Error(), "--force") {
				t.Errorf("answer %q: %v", answer, err)
			}
			if !strings.HasPrefix(errOut, `Delete topic "d" and all its data? [y/N] `) {
				t.Errorf("prompt: %q", errOut)
			}
		}
		if !exists("d") {
			t.Fatal("topic d deleted though the answer was no")
		}
		out, errOut := cli(t, "y\n", "delete-topic", "d")
		if out != "Topic 'd' deleted\n" || !strings.Contains(errOut, "[y/N]") || exists("d") {
			t.Errorf("answer y: %q %q", out, errOut)
		}
		out, _ = cli(t, "YES\n", "delete-topic", "e", "--format", "json")
		var res topicResult
		parseJSON(t, out, &res)
		if res.Topic != "e" || res.Action != "deleted" {
			t.Errorf("answer YES, json: %+v", res)
		}
	})

	t.Run("delete-topic --force", func(t *testing.T) {
		// No terminal, no prompt, in every format.
		out, errOut := cli(t, "", "delete-topic", "c", "--force", "--format", "json")
		var res topicResult
		parseJSON(t, out, &res)
		if res != (topicResult{Topic: "c", Action: "deleted", Message: "Topic 'c' deleted"}) || errOut != "" {
			t.Errorf("json: %+v %q", res, errOut)
		}
		out, _ = cli(t, "", "delete-topic", "b", "-f", "--format", "yaml")
		hasLines(t, out, "topic: b", "action: deleted")
		out, _ = cli(t, "", "delete-topic", "a", "--force", "--format", "csv")
		if recs := parseCSV(t, out, "topic", "action", "message"); recs[0][0] != "a" || recs[0][1] != "deleted" {
			t.Errorf("csv: %q", recs)
		}
		_, _, err := d.cli(t, "", "delete-topic", "a", "--force")
		if err == nil || !strings.Contains(err.Error(), `"a" does not exist`) || !strings.Contains(err.Error(), "weir list-topics") {
			t.Errorf("delete of an unknown topic: %v", err)
		}
		// Empty lists in every format.
		if out, _ := cli(t, "", "list-topics"); out != "NAME  PARTITIONS  REPLICATION  TOPIC-ID\n" {
			t.Errorf("empty table: %q", out)
		}
		if out, _ := cli(t, "", "list-topics", "--format", "json"); out != "[]\n" {
			t.Errorf("empty json: %q", out)
		}
		if out, _ := cli(t, "", "list-topics", "--format", "yaml"); out != "[]\n" {
			t.Errorf("empty yaml: %q", out)
		}
		if out, _ := cli(t, "", "list-topics", "--format", "csv"); len(parseCSV(t, out, "name", "partitions", "replication_factor", "topic_id")) != 0 {
			t.Errorf("empty csv: %q", out)
		}
	})

	t.Run("list-brokers", func(t *testing.T) {
		out, _ := cli(t, "", "list-brokers")
		rows := tableRows(out)
		// "QUIC PORT" and "RPC PORT" are two fields each.
		if len(rows) != 2 || strings.Join(rows[0], " ") != "ID HOST QUIC PORT RPC PORT RACK ONLINE" || len(rows[1]) != 6 || rows[1][0] != "broker-101" || rows[1][5] != "yes" {
			t.Errorf("table: %q", out)
		}
		out, _ = cli(t, "", "list-brokers", "--format", "json")
		var bs []map[string]any
		parseJSON(t, out, &bs)
		if len(bs) != 1 || bs[0]["id"] != "broker-101" || bs[0]["online"] != true || !strings.HasSuffix(d.BrokerAddrs()[0], fmt.Sprintf(":%v", bs[0]["port_quic"])) {
			t.Errorf("json: %v", bs)
		}
		out, _ = cli(t, "", "list-brokers", "--format", "yaml")
		hasLines(t, out, "- id: broker-101", "  online: true")
		for _, k := range []string{"host", "port_quic", "port_rpc", "rack_id"} {
			if !strings.Contains(out, "\n  "+k+": ") {
				t.Errorf("yaml: no key %s in %q", k, out)
			}
		}
		out, _ = cli(t, "", "list-brokers", "--format", "csv")
		recs := parseCSV(t, out, "id", "host", "port_quic", "port_rpc", "rack_id", "online")
		if len(recs) != 1 || recs[0][0] != "broker-101" || recs[0][5] != "true" {
			t.Errorf("csv: %q", recs)
		}
		out, _ = cli(t, "", "list-brokers", "--stale", "--format", "csv")
		if recs := parseCSV(t, out, "id", "host", "port_quic", "port_rpc", "rack_id", "online"); len(recs) != 1 || recs[0][0] != "broker-101" {
			t.Errorf("--stale csv: %q", recs)
		}
	})

	t.Run("cluster-health", func(t *testing.T) {
		// The broker may need a heartbeat or two to count as online.
		var h clusterHealth
		for deadline := time.Now().Add(10 * time.Second); ; {
			out, _ := cli(t, "", "cluster-health", "--format", "json")
			h = clusterHealth{}
			parseJSON(t, out, &h)
			if h.Healthy || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if !h.Healthy || h.Leader == nil || *h.Leader != "controller-1" || h.Brokers != 1 || h.BrokersOnline != 1 ||
			h.Stale || h.Controller.URL != d.apiURL || h.Controller.Status != "ok" || !h.Controller.IsLeader {
			t.Errorf("json: %+v", h)
		}
		out, _ := cli(t, "", "cluster-health", "--fail-unhealthy")
		hasLines(t, out, "HEALTHY     yes", "LEADER      controller-1", "BROKERS     1 online, 0 offline")
		out, _ = cli(t, "", "cluster-health", "--format", "yaml")
		hasLines(t, out, "healthy: true", "leader: controller-1", "brokers: 1", "brokers_online: 1", "stale: false", "controller:", "  status: ok", "  is_leader: true")
		out, _ = cli(t, "", "cluster-health", "--format", "csv")
		if recs := parseCSV(t, out, healthCSVHeader...); len(recs) != 1 || recs[0][0] != "true" || recs[0][1] != "controller-1" || recs[0][9] != "ok" {
			t.Errorf("csv: %q", recs)
		}
		out, _ = cli(t, "", "cluster-health", "--stale", "--format", "json")
		h = clusterHealth{}
		if parseJSON(t, out, &h); !h.Stale || !h.Healthy {
			t.Errorf("--stale json: %+v", h)
		}
	})
}

var healthCSVHeader = []string{"healthy", "leader", "term", "brokers", "brokers_online", "brokers_offline", "topics", "stale",
	"controller_url", "controller_status", "controller_version", "controller_uptime_seconds", "controller_is_leader", "controller_raft_term"}

func TestExitStatus(t *testing.T) {
	err := error(&exitError{code: 2, err: errors.New("x")})
	if ee, ok := errors.AsType[*exitError](err); !ok || ee.code != 2 || err.Error() != "x" {
		t.Fatal(err)
	}
}
