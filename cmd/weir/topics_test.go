package main

import (
	"strconv"
	"strings"
	"testing"
)

// Goal: against weir dev, a topic created with retention and segment flags
// shows them; describe-topic shows each partition's log start, high
// watermark and log end from its leader once records are produced;
// alter-topic changes only the settings given and refuses bad values naming
// the key; a topic deleted and created again gets a new topic ID.
func TestTopicSettingsOffsetsAndIDs(t *testing.T) {
	d := startDev(t)
	cli := func(stdin string, args ...string) string {
		t.Helper()
		out, errOut, err := d.cli(t, stdin, args...)
		if err != nil {
			t.Fatalf("weir %s: %v (stderr %q)", strings.Join(args, " "), err, errOut)
		}
		return out
	}
	cli("", "create-topic", "logs", "2", "1", "--retention-ms", "60000", "--segment-bytes", "1048576")
	var lines []string
	for i := range 30 {
		lines = append(lines, strconv.Itoa(i))
	}
	cli(strings.Join(lines, "\n")+"\n", "produce", "logs", "--partition", "1")

	var top apiTopic
	parseJSON(t, cli("", "describe-topic", "logs", "--format", "json"), &top)
	if top.Config["retention_ms"] != float64(60000) || top.Config["segment_bytes"] != float64(1<<20) || top.Config["segment_ms"] != nil {
		t.Fatalf("config: %v", top.Config)
	}
	for i, want := range []int64{0, 30} {
		p := top.Assignments[i]
		if p.LogStart == nil || *p.LogStart != 0 || p.HW == nil || *p.HW != want || p.LogEnd == nil || *p.LogEnd != want {
			t.Errorf("partition %d offsets: %v %v %v, want 0 %d %d", i, p.LogStart, p.HW, p.LogEnd, want, want)
		}
	}
	out := cli("", "describe-topic", "logs")
	hasLines(t, out, "config: retention_ms 60000, segment_bytes 1048576")
	if rows := tableRows(out); rows[len(rows)-1][0] != "1" || strings.Join(rows[len(rows)-1][5:9], " ") != "0 30 30 0" || rows[len(rows)-1][10] == "0" {
		t.Errorf("table: %q", out)
	}

	out = cli("", "alter-topic", "logs", "--retention-bytes", "1073741824", "--segment-ms", "3600000")
	if out != "Topic 'logs' config altered\n" {
		t.Errorf("alter-topic: %q", out)
	}
	parseJSON(t, cli("", "describe-topic", "logs", "--format", "json"), &top)
	if top.Config["retention_ms"] != float64(60000) || top.Config["retention_bytes"] != float64(1<<30) || top.Config["segment_ms"] != float64(3600000) {
		t.Fatalf("config after alter: %v", top.Config)
	}
	if _, _, err := d.cli(t, "", "alter-topic", "logs", "--segment-bytes", "10"); err == nil || !strings.Contains(err.Error(), "segment_bytes must be") {
		t.Errorf("bad segment_bytes: %v", err)
	}
	if _, _, err := d.cli(t, "", "alter-topic", "logs"); err == nil || !strings.Contains(err.Error(), "nothing to change") {
		t.Errorf("alter without flags: %v", err)
	}
	if _, _, err := d.cli(t, "", "alter-topic", "nope", "--retention-ms", "1"); err == nil || !strings.Contains(err.Error(), `"nope" does not exist`) {
		t.Errorf("alter of an unknown topic: %v", err)
	}

	first := top.TopicID
	cli("", "delete-topic", "logs", "--force")
	cli("", "create-topic", "logs", "1", "1")
	parseJSON(t, cli("", "describe-topic", "logs", "--format", "json"), &top)
	if !topicIDRE.MatchString(top.TopicID) || top.TopicID == first {
		t.Fatalf("re-created topic id %q (was %q)", top.TopicID, first)
	}
}
