package main

import (
	"strconv"
	"strings"
	"testing"
)

// Goal: produce keeps every byte of a record (a trailing \r is data, not
// line noise), splits on --delimiter, and keyless records spread over the
// partitions; --format json reports where they went, and a format that
// makes no sense for produce is refused.
func TestProduceBytesDelimiterAndSpread(t *testing.T) {
	d := startDev(t)
	d.mustCLI(t, "", "create-topic", "t", "3", "1")
	d.mustCLI(t, "", "create-topic", "one", "1", "1")

	d.mustCLI(t, "a\r\nb\r\n\r\n", "produce", "one")
	d.mustCLI(t, "x\ny\x00z\x00", "produce", "one", "--delimiter", `\0`)
	d.mustCLI(t, "p||q", "produce", "one", "--delimiter", "||")
	out := d.mustCLI(t, "", "consume", "one", "--from-beginning", "--max", "7", "--format", "json")
	var got []string
	for _, r := range jsonLines(t, out) {
		got = append(got, *r.Value)
	}
	want := []string{"a\r", "b\r", "\r", "x\ny", "z", "p", "q"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("records %q, want %q", got, want)
	}
	// consume --delimiter writes them back as they were read.
	out = d.mustCLI(t, "", "consume", "one", "--offset", "3", "--max", "2", "--delimiter", `\0`)
	if out != "x\ny\x00z\x00" {
		t.Errorf("consume --delimiter '\\0': %q", out)
	}
	for _, bad := range []string{"", `\q`} {
		if _, _, err := d.cli(t, "x\n", "produce", "one", "--delimiter", bad); err == nil || !strings.Contains(err.Error(), "--delimiter") {
			t.Errorf("--delimiter %q: %v", bad, err)
		}
	}

	var lines []string
	for i := 1; i <= 1000; i++ {
		lines = append(lines, strconv.Itoa(i))
	}
	out = d.mustCLI(t, strings.Join(lines, "\n")+"\n", "produce", "t", "--format", "json")
	var sum produceSummary
	parseJSON(t, out, &sum)
	if sum.Topic != "t" || sum.Records != 1000 || sum.Failed != 0 || sum.Acks != "all" || len(sum.Partitions) != 3 {
		t.Fatalf("summary: %+v", sum)
	}
	for part, n := range sum.Partitions {
		if n < 1000/3/2 {
			t.Errorf("partition %s got %d of 1000 keyless records (%v)", part, n, sum.Partitions)
		}
	}
	out = d.mustCLI(t, "1\n2\n", "produce", "t", "--format", "yaml", "--key", "k")
	hasLines(t, out, "topic: t", "records: 2", "failed: 0")
	if _, _, err := d.cli(t, "1\n", "produce", "t", "--format", "csv"); err == nil || !strings.Contains(err.Error(), "--format csv") {
		t.Errorf("produce --format csv: %v", err)
	}
}
