package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/weirmq/weir/sdk"
)

// Goal: `weir produce --header k=v --compression zstd` writes records with
// their headers, compressed, and `weir consume` prints them back: in json
// with a headers list, in the table format with --print-headers; bad
// flags are refused before anything is sent.
func TestProduceHeadersCompression(t *testing.T) {
	d := startDev(t)
	d.mustCLI(t, "", "create-topic", "h", "1", "1")
	for _, c := range []string{"zstd", "lz4", "gzip", "snappy", "none"} {
		d.mustCLI(t, "a-"+c+"\nb-"+c+"\n", "produce", "h", "--header", "trace=t1", "--header", "codec="+c, "--compression", c)
	}
	out := d.mustCLI(t, "", "consume", "h", "--from-beginning", "--max", "10", "--format", "json")
	recs := jsonLines(t, out)
	if len(recs) != 10 {
		t.Fatalf("%d records: %s", len(recs), out)
	}
	if !strings.Contains(out, `"headers":[{"key":"trace","value":"t1"},{"key":"codec","value":"zstd"}]`) {
		t.Fatalf("json output lacks the headers: %s", out)
	}
	table := d.mustCLI(t, "", "consume", "h", "--from-beginning", "--max", "2", "--print-headers")
	if want := "trace=t1,codec=zstd\ta-zstd\ntrace=t1,codec=zstd\tb-zstd\n"; table != want {
		t.Fatalf("table output %q, want %q", table, want)
	}
	for _, bad := range [][]string{{"--header", "novalue"}, {"--header", "=v"}, {"--compression", "brotli"}} {
		if _, errOut, err := d.cli(t, "x\n", append([]string{"produce", "h"}, bad...)...); err == nil {
			t.Errorf("produce %v: accepted (stderr %q)", bad, errOut)
		}
	}
}

// Goal: a topic created with --message-timestamp-type create_time keeps
// the producer's create times, and consume shows them as such; the
// default topic shows append times.
func TestCreateTimeTopicCLI(t *testing.T) {
	d := startDev(t)
	d.mustCLI(t, "", "create-topic", "ct", "1", "1", "--message-timestamp-type", "create_time")
	d.mustCLI(t, "", "create-topic", "at", "1", "1")
	if _, _, err := d.cli(t, "", "create-topic", "bad", "1", "1", "--message-timestamp-type", "yesterday"); err == nil {
		t.Fatal("a bad --message-timestamp-type was accepted")
	}
	c := d.sdkClient(t)
	ctx := context.Background()
	p, err := c.NewProducer(sdk.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.UnixMilli(1_600_000_000_000)
	for _, topic := range []string{"ct", "at"} {
		if _, err := p.Send(ctx, sdk.Message{Topic: topic, Partition: 0, Value: []byte("v"), Timestamp: at}); err != nil {
			t.Fatal(err)
		}
	}
	p.Close(ctx)
	ct := jsonLines(t, d.mustCLI(t, "", "consume", "ct", "--from-beginning", "--max", "1", "--format", "json"))
	if ct[0].Timestamp != at.UnixMilli() || ct[0].TimestampType != "create_time" {
		t.Fatalf("create-time topic: %+v", ct[0])
	}
	apt := jsonLines(t, d.mustCLI(t, "", "consume", "at", "--from-beginning", "--max", "1", "--format", "json"))
	if apt[0].Timestamp == at.UnixMilli() || apt[0].TimestampType != "log_append_time" {
		t.Fatalf("append-time topic: %+v", apt[0])
	}
	desc := d.mustCLI(t, "", "describe-topic", "ct", "--format", "json")
	if !strings.Contains(desc, `"message_timestamp_type": "create_time"`) {
		t.Fatalf("describe does not show the timestamp type: %s", desc)
	}
}

// Goal: producer IDs come from the real controller through a broker,
// distinct from one call to the next and from one broker block to the
// next (more calls than a block holds).
func TestInitProducerIDDev(t *testing.T) {
	d := startDev(t)
	c := d.sdkClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	seen := map[int64]bool{}
	for range 1005 {
		id, epoch, err := c.InitProducerID(ctx)
		if err != nil || epoch != 0 || id < 0 || seen[id] {
			t.Fatalf("InitProducerID: %d %d %v (after %d)", id, epoch, err, len(seen))
		}
		seen[id] = true
	}
}
