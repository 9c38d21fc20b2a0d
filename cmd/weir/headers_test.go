package main

import (
	"strings"
	"testing"
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
