package controller

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/weirmq/weir/sm"
)

// TestMetadataDataDriven runs testdata/fsm/*.txt against the metadata state
// machine: commands in, results and metadata out (go test -rewrite updates).
//
//	register id=101 inc=1 [rack=a]
//	fence id=101 inc=1
//	create name=t partitions=2 rf=2 [min-isr=1] [unclean]
//	delete name=t
//	alter-isr tp=t/0 broker=101 le=1 pe=1 isr=(101,102)
//	empty
//	metadata [since=N]
func TestMetadataDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata/fsm", func(t *testing.T, path string) {
		md := newMetadata(bootstrapIndex)
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			if td.Cmd == "metadata" {
				return renderDelta(md.delta(uint64(argInt(t, td, "since", 0))))
			}
			if td.Cmd == "empty" {
				md.applyEmpty(md.applied + 1)
				return fmt.Sprintf("index %d, version %d\n", md.applied, md.version)
			}
			cmd := parseCommand(t, td)
			r := md.apply(md.applied+1, &cmd)
			if err := md.check(); err != nil {
				t.Fatalf("%s: %v", td.Pos, err)
			}
			out := fmt.Sprintf("index %d, version %d: %v", md.applied, md.version, r.code)
			if r.message != "" {
				out += ": " + r.message
			}
			return out + "\n"
		})
	})
}

func parseCommand(t *testing.T, td *datadriven.TestData) command {
	id := sm.NodeID(argInt(t, td, "id", 0))
	switch td.Cmd {
	case "register":
		c := &registerBroker{ID: id, Incarnation: uint64(argInt(t, td, "inc", 1)), Rack: argString(td, "rack"),
			LostDisk: td.HasArg("lost-disk"), AcceptDataLoss: td.HasArg("accept-loss")}
		if arg, ok := td.Arg("lost"); ok {
			for _, v := range arg.Vals {
				topic, p, _ := strings.Cut(v, "/")
				partition, _ := strconv.Atoi(p)
				c.Lost = append(c.Lost, sm.TopicPartition{Topic: topic, Partition: int32(partition)})
			}
		}
		return command{Register: c}
	case "fence":
		return command{Fence: &fenceBroker{ID: id, Incarnation: uint64(argInt(t, td, "inc", 1))}}
	case "create":
		return command{Create: &createTopic{
			Name: argString(td, "name"), Partitions: int32(argInt(t, td, "partitions", 1)), ReplicationFactor: int32(argInt(t, td, "rf", 1)),
			Config: sm.TopicConfig{MinInSyncReplicas: int32(argInt(t, td, "min-isr", 1)), UncleanLeaderElection: td.HasArg("unclean")},
		}}
	case "delete":
		return command{Delete: &deleteTopic{Name: argString(td, "name")}}
	case "alter-isr":
		topic, p, _ := strings.Cut(argString(td, "tp"), "/")
		partition, _ := strconv.Atoi(p)
		c := &alterISR{
			Broker: sm.NodeID(argInt(t, td, "broker", 0)), TP: sm.TopicPartition{Topic: topic, Partition: int32(partition)},
			LeaderEpoch: sm.Epoch(argInt(t, td, "le", 0)), PartitionEpoch: int64(argInt(t, td, "pe", 0)),
		}
		if arg, ok := td.Arg("isr"); ok {
			for _, v := range arg.Vals {
				n, _ := strconv.Atoi(v)
				c.ISR = append(c.ISR, sm.NodeID(n))
			}
		}
		return command{AlterISR: c}
	}
	t.Fatalf("%s: unknown command %q", td.Pos, td.Cmd)
	return command{}
}

func argString(td *datadriven.TestData, key string) string {
	if arg, ok := td.Arg(key); ok && len(arg.Vals) > 0 {
		return arg.Vals[0]
	}
	return ""
}

func argInt(t *testing.T, td *datadriven.TestData, key string, def int) int {
	s := argString(td, key)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%s: %s=%q: %v", td.Pos, key, s, err)
	}
	return n
}

// renderDelta prints a delta one fact per line, in its (sorted) order.
func renderDelta(d sm.MetadataDelta) string {
	var b strings.Builder
	fmt.Fprintf(&b, "versions %d..%d full=%v\n", d.FromVersion, d.ToVersion, d.Full)
	for _, br := range d.Brokers {
		fmt.Fprintf(&b, "broker %v inc=%d rack=%q fenced=%v\n", br.ID, br.Incarnation, br.Rack, br.Fenced)
	}
	for _, name := range d.DeletedTopics {
		fmt.Fprintf(&b, "deleted %s\n", name)
	}
	for _, tp := range d.Topics {
		fmt.Fprintf(&b, "topic %s partitions=%d rf=%d min-isr=%d unclean=%v\n",
			tp.Name, tp.Partitions, tp.ReplicationFactor, tp.Config.MinInSyncReplicas, tp.Config.UncleanLeaderElection)
	}
	for _, p := range d.Partitions {
		fmt.Fprintf(&b, "  %v replicas=%v leader=%v le=%d isr=%v pe=%d\n", p.TP, p.Replicas, p.Leader, p.LeaderEpoch, p.ISR, p.PartitionEpoch)
	}
	return b.String()
}
