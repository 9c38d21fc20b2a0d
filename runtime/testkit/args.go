package testkit

import (
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/weirmq/weir/sm"
)

// Argument helpers for datadriven interaction tests.

// ArgString returns key's single value; the test fails without one.
func ArgString(t *testing.T, td *datadriven.TestData, key string) string {
	arg, ok := td.Arg(key)
	if !ok || len(arg.Vals) != 1 {
		td.Fatalf(t, "%s needs %s=", td.Cmd, key)
	}
	return arg.Vals[0]
}

// ArgStringOr returns key's single value, or def.
func ArgStringOr(td *datadriven.TestData, key, def string) string {
	if arg, ok := td.Arg(key); ok && len(arg.Vals) == 1 {
		return arg.Vals[0]
	}
	return def
}

// ArgStrings returns key's values (nil without the key).
func ArgStrings(td *datadriven.TestData, key string) []string {
	if arg, ok := td.Arg(key); ok {
		return arg.Vals
	}
	return nil
}

// ArgInt returns key's value as an integer, or def without the key.
func ArgInt(t *testing.T, td *datadriven.TestData, key string, def int) int {
	s := ArgStringOr(td, key, "")
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		td.Fatalf(t, "%s=%q: %v", key, s, err)
	}
	return n
}

// ArgNode returns key's value as a node ID; the test fails without one.
func ArgNode(t *testing.T, td *datadriven.TestData, key string) sm.NodeID {
	id := ArgNodeOr(t, td, key)
	if id == sm.NoNode {
		td.Fatalf(t, "%s needs %s=", td.Cmd, key)
	}
	return id
}

// ArgNodeOr returns key's value as a node ID, or NoNode without the key.
func ArgNodeOr(t *testing.T, td *datadriven.TestData, key string) sm.NodeID {
	return sm.NodeID(ArgInt(t, td, key, 0))
}

// ArgNodes returns key's values as node IDs.
func ArgNodes(t *testing.T, td *datadriven.TestData, key string) []sm.NodeID {
	var ids []sm.NodeID
	for _, v := range ArgStrings(td, key) {
		n, err := strconv.Atoi(v)
		if err != nil {
			td.Fatalf(t, "%s=%q: %v", key, v, err)
		}
		ids = append(ids, sm.NodeID(n))
	}
	return ids
}

// ArgTP returns key's value, topic/partition, as a TopicPartition.
func ArgTP(t *testing.T, td *datadriven.TestData, key string) sm.TopicPartition {
	s := ArgString(t, td, key)
	topic, p, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(p)
	if !ok || err != nil {
		td.Fatalf(t, "%s=%q: want topic/partition", key, s)
	}
	return sm.TopicPartition{Topic: topic, Partition: int32(n)}
}

// ArgAcks parses acks=none|leader|majority|all|N (default all).
func ArgAcks(t *testing.T, td *datadriven.TestData) sm.Acks {
	switch s := ArgStringOr(td, "acks", "all"); s {
	case "none":
		return sm.Acks{Kind: sm.AckNone}
	case "leader":
		return sm.Acks{Kind: sm.AckLeader}
	case "majority":
		return sm.Acks{Kind: sm.AckMajority}
	case "all":
		return sm.Acks{Kind: sm.AckAll}
	default:
		n, err := strconv.Atoi(s)
		if err != nil {
			td.Fatalf(t, "acks %q", s)
		}
		return sm.Acks{Kind: sm.AckCustom, N: int32(n)}
	}
}

// ArgOutcome parses outcome=ok|failed|unknown (default ok).
func ArgOutcome(t *testing.T, td *datadriven.TestData) sm.Outcome {
	switch s := ArgStringOr(td, "outcome", "ok"); s {
	case "ok":
		return sm.OutcomeOK
	case "failed":
		return sm.OutcomeFailed
	case "unknown":
		return sm.OutcomeUnknown
	default:
		td.Fatalf(t, "outcome %q: want ok, failed or unknown", s)
	}
	return sm.OutcomeOK
}
