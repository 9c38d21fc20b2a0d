package controller

import (
	"maps"
	"reflect"
	"slices"

	"github.com/weirmq/weir/sm"
)

// view is what a metadata receiver (a broker) keeps: the state deltas build.
// Tests use it to prove that deltas reproduce the controller's metadata.
type view struct {
	version    uint64
	brokers    map[sm.NodeID]sm.BrokerInfo
	topics     map[string]sm.TopicInfo
	partitions map[sm.TopicPartition]sm.PartitionState
}

func newView() *view {
	return &view{brokers: map[sm.NodeID]sm.BrokerInfo{}, topics: map[string]sm.TopicInfo{}, partitions: map[sm.TopicPartition]sm.PartitionState{}}
}

// apply follows delta's contract: Full replaces; deletions go first.
func (v *view) apply(d sm.MetadataDelta) {
	if d.Full {
		*v = *newView()
	}
	for _, name := range d.DeletedTopics {
		delete(v.topics, name)
		maps.DeleteFunc(v.partitions, func(tp sm.TopicPartition, _ sm.PartitionState) bool { return tp.Topic == name })
	}
	for _, b := range d.Brokers {
		v.brokers[b.ID] = b
	}
	for _, t := range d.Topics {
		v.topics[t.Name] = t
	}
	for _, p := range d.Partitions {
		v.partitions[p.TP] = p
	}
	v.version = d.ToVersion
}

// full renders the view the way Metadata does.
func (v *view) full() sm.MetadataDelta {
	d := sm.MetadataDelta{ToVersion: v.version, Full: true}
	for _, id := range slices.Sorted(maps.Keys(v.brokers)) {
		d.Brokers = append(d.Brokers, v.brokers[id])
	}
	for _, name := range slices.Sorted(maps.Keys(v.topics)) {
		d.Topics = append(d.Topics, v.topics[name])
	}
	for _, tp := range slices.SortedFunc(maps.Keys(v.partitions), sm.CompareTP) {
		d.Partitions = append(d.Partitions, v.partitions[tp])
	}
	return d
}

func equalMetadata(a, b sm.MetadataDelta) bool { return reflect.DeepEqual(a, b) }
