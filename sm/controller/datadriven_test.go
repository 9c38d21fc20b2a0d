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
//	alter-config name=t key=value...
//	commit-segment tp=t/0 broker=101 le=1 base=0 next=10 [data=100] [index=10]
//	               [name-epoch=N] [name-base=N] [name-partition=N] [seg-epoch=N] [inc=N] [eff=N]
//	               [name=S] [stale-id]
//	drop-remote tp=t/0 broker=101 le=1 below=10 [stale-id]
//	remote tp=t/0
//	empty
//	metadata [since=N]
//
// commit-segment names its object after the topic's current ID (another
// one with stale-id), the partition, base and leader epoch, broker 101,
// incarnation inc and effect eff, unless the name-* arguments say
// otherwise or name= gives it whole.
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
			if td.Cmd == "remote" {
				return renderRemote(md.partition(argTP(td)))
			}
			cmd := parseCommand(t, td, md)
			r := md.apply(md.applied+1, &cmd)
			if err := md.check(); err != nil {
				t.Fatalf("%s: %v", td.Pos, err)
			}
			out := fmt.Sprintf("index %d, version %d: %v", md.applied, md.version, r.code)
			if r.message != "" {
				out += ": " + r.message
			}
			out += "\n"
			if cmd.CommitSegment != nil || cmd.DropRemote != nil {
				out += fmt.Sprintf("remote %s\n", renderRemoteLog(r.remote))
			}
			return out
		})
	})
}

func parseCommand(t *testing.T, td *datadriven.TestData, md *metadata) command {
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
	case "alter-config":
		c := &alterTopicConfig{Name: argString(td, "name")}
		for _, arg := range td.CmdArgs {
			if arg.Key != "name" {
				v, err := strconv.ParseInt(arg.Vals[0], 10, 64)
				if err != nil {
					t.Fatalf("%s: %s: %v", td.Pos, arg.Key, err)
				}
				c.Set = append(c.Set, sm.TopicConfigEntry{Key: arg.Key, Value: v})
			}
		}
		return command{AlterConfig: c}
	case "commit-segment":
		return command{CommitSegment: parseCommitSegment(t, td, md)}
	case "drop-remote":
		tp := argTP(td)
		return command{DropRemote: &dropRemoteSegments{Broker: sm.NodeID(argInt(t, td, "broker", 0)), TP: tp, TopicID: argTopicID(td, md, tp),
			LeaderEpoch: sm.Epoch(argInt(t, td, "le", 0)), Below: sm.Offset(argInt(t, td, "below", 0))}}
	}
	t.Fatalf("%s: unknown command %q", td.Pos, td.Cmd)
	return command{}
}

func parseCommitSegment(t *testing.T, td *datadriven.TestData, md *metadata) *commitSegment {
	tp := argTP(td)
	id := argTopicID(td, md, tp)
	le := sm.Epoch(argInt(t, td, "le", 0))
	base := sm.Offset(argInt(t, td, "base", 0))
	name := sm.ObjectName{TopicID: id, Partition: int32(argInt(t, td, "name-partition", int(tp.Partition))),
		Base: sm.Offset(argInt(t, td, "name-base", int(base))), Epoch: sm.Epoch(argInt(t, td, "name-epoch", int(le))),
		Broker: 101, Incarnation: uint64(argInt(t, td, "inc", 1)), Effect: sm.EffectID(argInt(t, td, "eff", 1))}.String()
	if td.HasArg("name") {
		name = argString(td, "name")
	}
	return &commitSegment{Broker: sm.NodeID(argInt(t, td, "broker", 0)), TP: tp, TopicID: id, LeaderEpoch: le,
		Segment: sm.RemoteSegment{Name: name, Base: base, Next: sm.Offset(argInt(t, td, "next", 0)),
			DataBytes: int64(argInt(t, td, "data", 100)), IndexBytes: int64(argInt(t, td, "index", 10)),
			LeaderEpoch: sm.Epoch(argInt(t, td, "seg-epoch", int(le))), MaxTimestamp: 1000}}
}

func argTP(td *datadriven.TestData) sm.TopicPartition {
	topic, p, _ := strings.Cut(argString(td, "tp"), "/")
	partition, _ := strconv.Atoi(p)
	return sm.TopicPartition{Topic: topic, Partition: int32(partition)}
}

// argTopicID is tp's topic's current ID, or another one with stale-id.
func argTopicID(td *datadriven.TestData, md *metadata, tp sm.TopicPartition) sm.TopicID {
	id := sm.TopicID{0xde, 0xad}
	if t := md.topics[tp.Topic]; t != nil && !td.HasArg("stale-id") {
		id = t.info.ID
	}
	return id
}

// renderRemote prints a partition's recorded segments.
func renderRemote(p *partitionEntry) string {
	if p == nil {
		return "no such partition\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%v remote %s\n", p.state.TP, renderRemoteLog(p.state.Remote))
	for _, s := range p.remote {
		on, _ := sm.ParseObjectName(s.Name)
		fmt.Fprintf(&b, "  [%d, %d) epoch=%d bytes=%d+%d object=%d-%d-%d-%d-%d\n", s.Base, s.Next, s.LeaderEpoch, s.DataBytes, s.IndexBytes,
			on.Base, on.Epoch, on.Broker, on.Incarnation, on.Effect)
	}
	return b.String()
}

func renderRemoteLog(r sm.RemoteLog) string {
	return fmt.Sprintf("[%d, %d) bytes=%d segments=%d", r.Start, r.End, r.Bytes, r.Segments)
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
		fmt.Fprintf(&b, "  %v replicas=%v leader=%v le=%d isr=%v pe=%d", p.TP, p.Replicas, p.Leader, p.LeaderEpoch, p.ISR, p.PartitionEpoch)
		if p.Remote != (sm.RemoteLog{}) {
			fmt.Fprintf(&b, " remote=%s", renderRemoteLog(p.Remote))
		}
		b.WriteString("\n")
	}
	return b.String()
}
