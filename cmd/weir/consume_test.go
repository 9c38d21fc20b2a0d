package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirmq/weir/cmd/internal/dev"
	"github.com/weirmq/weir/sdk"
)

// flagValue is the value after name in d's flags.
func (d *devCluster) flagValue(name string) string {
	i := slices.Index(d.flags, name)
	return d.flags[i+1]
}

// sdkClient connects to d with the CLI's certificate, as the CLI does.
func (d *devCluster) sdkClient(t *testing.T) *sdk.Client {
	t.Helper()
	tlsConf, err := sdk.TLSFromDir(dev.CertDir(d.flagValue("--data")), "client-cli")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sdk.NewClient(ctx, sdk.Config{Brokers: d.BrokerAddrs(), TLS: tlsConf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// mustCLI runs the CLI against d and fails the test on an error.
func (d *devCluster) mustCLI(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := d.cli(t, stdin, args...)
	if err != nil {
		t.Fatalf("weir %s: %v (stderr %q)", strings.Join(args, " "), err, errOut)
	}
	return out
}

// consumedJSON is one line of `weir consume --format json`.
type consumedJSON struct {
	Topic         string  `json:"topic"`
	Partition     int32   `json:"partition"`
	Offset        int64   `json:"offset"`
	LeaderEpoch   int64   `json:"leader_epoch"`
	Timestamp     int64   `json:"timestamp"`
	TimestampType string  `json:"timestamp_type"`
	Key           *string `json:"key"`
	KeyBase64     *string `json:"key_base64"`
	Value         *string `json:"value"`
	ValueBase64   *string `json:"value_base64"`
	Headers       []struct {
		Key   string  `json:"key"`
		Value *string `json:"value"`
	} `json:"headers"`
}

// jsonLines decodes consume's JSON output: one object per line.
func jsonLines(t *testing.T, out string) []consumedJSON {
	t.Helper()
	var recs []consumedJSON
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var r consumedJSON
		parseJSON(t, l, &r)
		recs = append(recs, r)
	}
	return recs
}

// Goal: `weir consume TOPIC` with no position flag starts at the end, as
// its help says (and kafka-console-consumer does): it prints only records
// produced after it started, never the old ones.
func TestConsumeStartsAtTheEnd(t *testing.T) {
	d := startDev(t)
	d.mustCLI(t, "", "create-topic", "t", "3", "1")
	d.mustCLI(t, "old-1\nold-2\nold-3\n", "produce", "t")

	// Keep producing new records until the consumer has one: however long
	// the consumer takes to find the end, some record comes after it.
	c := d.sdkClient(t)
	p, err := c.NewProducer(sdk.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for i := 0; ; i++ {
			p.Send(context.Background(), sdk.Message{Topic: "t", Partition: sdk.AnyPartition, Value: fmt.Appendf(nil, "new-%d", i)})
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	out, errOut, err := d.cli(t, "", "consume", "t", "--max", "2")
	close(stop)
	<-stopped
	p.Close(context.Background())
	if err != nil {
		t.Fatalf("consume: %v (stderr %q)", err, errOut)
	}
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if !strings.HasPrefix(l, "new-") {
			t.Fatalf("consume without --from-beginning printed %q, a record from before it started (output %q)", l, out)
		}
	}
	// --from-beginning still reads everything.
	out = d.mustCLI(t, "", "consume", "t", "--from-beginning", "--max", "1", "--format", "json")
	if r := jsonLines(t, out)[0]; r.Offset != 0 {
		t.Errorf("--from-beginning starts with %+v, want a partition's first record", r)
	}
}

// Goal: bad positions and ack levels are refused with the flag named and
// what would be right, before anything is read or written.
func TestConsumeAndProduceRefuseBadFlags(t *testing.T) {
	d := startDev(t)
	d.mustCLI(t, "", "create-topic", "t", "3", "1")
	for _, tc := range []struct {
		stdin string
		args  []string
		want  []string
	}{
		{"", []string{"consume", "t", "--offset", "-1"}, []string{"--offset -1", "≥ 0"}},
		{"", []string{"consume", "t", "--offset", "-5", "--max", "1"}, []string{"--offset -5"}},
		{"", []string{"consume", "t", "--partition", "-2"}, []string{"--partition -2", "≥ 0"}},
		{"", []string{"consume", "t", "--max", "-1"}, []string{"--max -1"}},
		{"", []string{"consume", "t", "--offset", "0", "--from-beginning"}, []string{"--offset", "--from-beginning", "one"}},
		{"", []string{"consume", "t", "--partition", "3"}, []string{"partition 3 is out of range", "topic \"t\" has 3 partitions (0-2)"}},
		{"x\n", []string{"produce", "t", "--partition", "7"}, []string{"partition 7 is out of range", "3 partitions"}},
		{"x\n", []string{"produce", "t", "--partition", "-3"}, []string{"--partition -3"}},
		{"x\n", []string{"produce", "t", "--acks", "custom(0)"}, []string{"custom(0)", "N must be at least 1"}},
		{"x\n", []string{"produce", "t", "--acks", "custom(-2)"}, []string{"custom(-2)", "N must be at least 1"}},
		{"x\n", []string{"produce", "t", "--acks", "custom(2)x"}, []string{"unknown ack level", "custom(N)"}},
		{"", []string{"bench", "produce", "--topic", "t", "--acks", "custom(0)"}, []string{"N must be at least 1"}},
	} {
		_, _, err := d.cli(t, tc.stdin, tc.args...)
		if err == nil {
			t.Errorf("weir %s: no error", strings.Join(tc.args, " "))
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("weir %s: error %q does not say %q", strings.Join(tc.args, " "), err, w)
			}
		}
	}
	// Nothing was written by the refused produces.
	out := d.mustCLI(t, "", "produce", "t", "--format", "json", "--partition", "1")
	var sum produceSummary
	parseJSON(t, out, &sum)
	if sum.Records != 0 {
		t.Errorf("empty stdin produced %d records", sum.Records)
	}
}

// Goal: --format is honoured by consume (json lines, csv, yaml documents)
// and --print-key/--print-offset give kcat-style columns.
func TestConsumeFormats(t *testing.T) {
	d := startDev(t)
	d.mustCLI(t, "", "create-topic", "t", "1", "1")
	d.mustCLI(t, "a\nb\n", "produce", "t", "--key", "k1")
	d.mustCLI(t, "c\n", "produce", "t")

	out := d.mustCLI(t, "", "consume", "t", "--from-beginning", "--max", "3", "--format", "json")
	recs := jsonLines(t, out)
	if len(recs) != 3 {
		t.Fatalf("json: %d records in %q", len(recs), out)
	}
	for i, r := range recs {
		if r.Topic != "t" || r.Partition != 0 || r.Offset != int64(i) || r.Value == nil || *r.Value != string(rune('a'+i)) {
			t.Errorf("json record %d: %+v", i, r)
		}
	}
	if recs[0].Key == nil || *recs[0].Key != "k1" || recs[2].Key != nil {
		t.Errorf("json keys: %v %v", recs[0].Key, recs[2].Key)
	}

	out = d.mustCLI(t, "", "consume", "t", "--from-beginning", "--max", "3", "--format", "csv")
	rows := parseCSV(t, out, "topic", "partition", "offset", "key", "value")
	if len(rows) != 3 || !slices.Equal(rows[0], []string{"t", "0", "0", "k1", "a"}) || !slices.Equal(rows[2], []string{"t", "0", "2", "", "c"}) {
		t.Errorf("csv: %q", rows)
	}

	out = d.mustCLI(t, "", "consume", "t", "--from-beginning", "--max", "2", "--format", "yaml")
	hasLines(t, out, "---", "topic: t", "offset: 1", "key: k1", "value: b")

	out = d.mustCLI(t, "", "consume", "t", "--from-beginning", "--max", "3", "--print-key", "--print-offset")
	if want := "0:0\tk1\ta\n0:1\tk1\tb\n0:2\t\tc\n"; out != want {
		t.Errorf("--print-key --print-offset: %q, want %q", out, want)
	}
	out = d.mustCLI(t, "", "consume", "t", "--from-beginning", "--max", "1", "--print-key")
	if want := "k1\ta\n"; out != want {
		t.Errorf("--print-key: %q, want %q", out, want)
	}
	out = d.mustCLI(t, "", "consume", "t", "--offset", "2", "--max", "1", "--print-offset")
	if want := "0:2\tc\n"; out != want {
		t.Errorf("--print-offset: %q, want %q", out, want)
	}
	_, _, err := d.cli(t, "", "consume", "t", "--from-beginning", "--max", "1", "--print-key", "--format", "json")
	if err == nil || !strings.Contains(err.Error(), "--print-key") || !strings.Contains(err.Error(), "json") {
		t.Errorf("--print-key with --format json: %v", err)
	}
	// Binary values survive json as base64.
	d.mustCLI(t, "\xff\xfe\x00", "produce", "t", "--delimiter", `\n`)
	out = d.mustCLI(t, "", "consume", "t", "--offset", "3", "--max", "1", "--format", "json")
	if r := jsonLines(t, out)[0]; r.Value != nil || r.ValueBase64 == nil || *r.ValueBase64 != "//4A" {
		b, _ := json.Marshal(r)
		t.Errorf("binary value in json: %s", b)
	}
}

// Goal (issue 12, seek by time): `weir consume --from-time T` starts each
// partition at its first record stamped at or after T, so records produced
// before T are skipped and every later one is read, in every partition;
// the SDK's OffsetForTime answers the same offsets, and says Found false
// (at the high watermark) for a time after every record. A bad time is
// refused naming the forms accepted.
func TestConsumeFromTime(t *testing.T) {
	d := startDev(t)
	d.mustCLI(t, "", "create-topic", "stamped", "3", "1")
	d.mustCLI(t, "a1\na2\na3\na4\na5\na6\n", "produce", "stamped")
	time.Sleep(20 * time.Millisecond)
	since := time.Now()
	time.Sleep(20 * time.Millisecond)
	d.mustCLI(t, "b1\nb2\nb3\nb4\nb5\nb6\n", "produce", "stamped")
	out := d.mustCLI(t, "", "consume", "stamped", "--from-time", since.UTC().Format(time.RFC3339Nano), "--max", "6")
	got := strings.Fields(out)
	slices.Sort(got)
	if want := []string{"b1", "b2", "b3", "b4", "b5", "b6"}; !slices.Equal(got, want) {
		t.Fatalf("consume --from-time: %q, want %q", got, want)
	}
	out = d.mustCLI(t, "", "consume", "stamped", "--from-time", fmt.Sprint(since.Add(-time.Hour).UnixMilli()), "--max", "12")
	if n := len(strings.Fields(out)); n != 12 {
		t.Fatalf("consume from an hour ago read %d records: %q", n, out)
	}
	c := d.sdkClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for p := range int32(3) {
		tp := sdk.TopicPartition{Topic: "stamped", Partition: p}
		to, err := c.OffsetForTime(ctx, tp, time.Now().Add(time.Hour))
		if err != nil || to.Found || to.Offset != to.HighWatermark {
			t.Fatalf("%v: a time after every record: %+v %v", tp, to, err)
		}
		to, err = c.OffsetForTime(ctx, tp, since)
		if err != nil || to.Found != (to.Offset < to.HighWatermark) || to.Found && to.Timestamp.Before(since.Truncate(time.Millisecond)) {
			t.Fatalf("%v: from since: %+v %v", tp, to, err)
		}
	}
	if _, errOut, err := d.cli(t, "", "consume", "stamped", "--from-time", "yesterday"); err == nil || !strings.Contains(errOut+err.Error(), "RFC 3339") {
		t.Fatalf("a bad --from-time: %v %q", err, errOut)
	}
}
