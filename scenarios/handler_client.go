package scenarios

import (
	"github.com/cockroachdb/datadriven"

	"github.com/weirmq/weir/sm"
)

func (r *Runner) clientTP(td *datadriven.TestData) (sm.NodeID, sm.TopicPartition, error) {
	cs, _ := arg(td, "client")
	c, err := r.node(cs)
	if err != nil {
		return 0, sm.TopicPartition{}, err
	}
	tps, _ := arg(td, "tp")
	tp, err := parseTP(tps)
	return c, tp, err
}

// handleProduce queues produce requests (one record each) on a client; they
// go out as virtual time runs.
//
// Example: produce client=cl1000001 tp=t0/0 acks=all n=10
func handleProduce(r *Runner, td *datadriven.TestData) (string, error) {
	c, tp, err := r.clientTP(td)
	if err != nil {
		return "", err
	}
	as, _ := arg(td, "acks")
	acks, err := sm.ParseAcks(as)
	if err != nil {
		return "", err
	}
	n, err := argInt(td, "n", 1)
	if err != nil {
		return "", err
	}
	return "ok", r.world.Produce(c, tp, acks, n)
}

// handleFetch queues one fetch.
//
// Example: fetch client=cl1000001 tp=t0/0 offset=0
func handleFetch(r *Runner, td *datadriven.TestData) (string, error) {
	c, tp, err := r.clientTP(td)
	if err != nil {
		return "", err
	}
	off, err := argInt(td, "offset", 0)
	if err != nil {
		return "", err
	}
	return "ok", r.world.Fetch(c, tp, sm.Offset(off))
}

// handleCreateTopic queues a topic creation through the controller.
//
// Example: create-topic client=cl1000001 name=x partitions=3 rf=2
func handleCreateTopic(r *Runner, td *datadriven.TestData) (string, error) {
	cs, _ := arg(td, "client")
	c, err := r.node(cs)
	if err != nil {
		return "", err
	}
	name, _ := arg(td, "name")
	p, err := argInt(td, "partitions", 1)
	if err != nil {
		return "", err
	}
	rf, err := argInt(td, "rf", 1)
	if err != nil {
		return "", err
	}
	return "ok", r.world.CreateTopic(c, sm.TopicInfo{Name: name, Partitions: int32(p), ReplicationFactor: int32(rf)})
}

// handleDeleteTopic queues a topic deletion.
//
// Example: delete-topic client=cl1000001 name=x
func handleDeleteTopic(r *Runner, td *datadriven.TestData) (string, error) {
	cs, _ := arg(td, "client")
	c, err := r.node(cs)
	if err != nil {
		return "", err
	}
	name, _ := arg(td, "name")
	return "ok", r.world.DeleteTopic(c, name)
}
