package linearizability

import (
	"fmt"

	"github.com/anishathalye/porcupine"
)

// topicState is the set of possible states of one topic (a hand-made power
// set construction): bit topicAbsent and/or bit topicPresent. An Unknown
// outcome forks the state, and the set keeps both branches; a later reply
// collapses it. The empty set means no branch explains the history.
type topicState uint8

const (
	topicAbsent  topicState = 1
	topicPresent topicState = 2
)

func (s topicState) String() string {
	switch s {
	case topicAbsent:
		return "absent"
	case topicPresent:
		return "present"
	case topicAbsent | topicPresent:
		return "absent|present"
	}
	return "none"
}

// topicInput is the call half of a TopicModel operation.
type topicInput struct {
	kind       Kind // CreateTopic or DeleteTopic
	topic      string
	partitions int
}

// topicOutput is the return half: the outcome and the reply code name.
type topicOutput struct {
	outcome Outcome
	err     string
}

// TopicModel is the porcupine model of topic metadata, partitioned by topic
// name; every topic starts absent (record the setup's creates too). A create
// that succeeded needs the topic absent and makes it present, one answered
// TOPIC_ALREADY_EXISTS needs it present; a delete that succeeded needs it
// present and makes it absent, one answered UNKNOWN_TOPIC needs it absent.
//
// Unknown outcomes are sound: TopicOperations gives them a return time after
// every other operation (porcupine's pending operation, so the effect may
// land any time after the call), and Step keeps both "took effect" and "did
// not" in the state set. Other error codes say nothing about existence and
// had no effect, so TopicOperations leaves them out.
var TopicModel = porcupine.Model{
	Partition: func(ops []porcupine.Operation) [][]porcupine.Operation {
		return partitionBy(ops, func(op porcupine.Operation) string { return op.Input.(topicInput).topic })
	},
	PartitionEvent: func(evs []porcupine.Event) [][]porcupine.Event {
		return partitionEventsBy(evs, func(in any) string { return in.(topicInput).topic })
	},
	Init: func() any { return topicAbsent },
	Step: func(st, in, out any) (bool, any) {
		next := topicStep(st.(topicState), in.(topicInput), out.(topicOutput))
		return next != 0, next
	},
	Hash: func(st any) uint64 { return uint64(st.(topicState)) },
	DescribeOperation: func(in, out any) string {
		i, o := in.(topicInput), out.(topicOutput)
		s := fmt.Sprintf("%s %s", i.kind, i.topic)
		if i.kind == CreateTopic {
			s += fmt.Sprintf(" parts=%d", i.partitions)
		}
		if o.err != "" {
			return s + " -> " + o.err
		}
		return s + " -> " + o.outcome.String()
	},
	DescribeState:             func(st any) string { return st.(topicState).String() },
	DescribeOperationMetadata: describeMetadata,
}

// topicStep returns the set of states reachable from the set s.
func topicStep(s topicState, i topicInput, o topicOutput) topicState {
	absent, present := s&topicAbsent != 0, s&topicPresent != 0
	var next topicState
	switch {
	case i.kind == CreateTopic && o.err == CodeTopicAlreadyExists:
		next = s & topicPresent
	case i.kind == DeleteTopic && o.err == CodeUnknownTopic:
		next = s & topicAbsent
	case o.outcome == OK && i.kind == CreateTopic:
		if absent {
			next = topicPresent
		}
	case o.outcome == OK && i.kind == DeleteTopic:
		if present {
			next = topicAbsent
		}
	case o.outcome == Unknown && i.kind == CreateTopic:
		next = s
		if absent {
			next |= topicPresent
		}
	case o.outcome == Unknown && i.kind == DeleteTopic:
		next = s
		if present {
			next |= topicAbsent
		}
	default:
		next = s // not produced by TopicOperations; no effect
	}
	return next
}

// TopicOperations converts h's create/delete operations into TopicModel
// operations. Success, TOPIC_ALREADY_EXISTS (create) and UNKNOWN_TOPIC
// (delete) replies keep their times, whatever Outcome the recorder gave them
// (the simulator records error replies as OK with Err set); Unknown outcomes
// return after every other topic operation (pending); other codes and Failed
// outcomes are left out.
func TopicOperations(h *History) []porcupine.Operation {
	horizon := int64(0)
	for i := range h.Ops {
		if k := h.Ops[i].Kind; k == CreateTopic || k == DeleteTopic {
			horizon = max(horizon, h.Ops[i].Call+1, h.Ops[i].Return+1)
		}
	}
	var out []porcupine.Operation
	for i := range h.Ops {
		op := &h.Ops[i]
		if op.Kind != CreateTopic && op.Kind != DeleteTopic {
			continue
		}
		res := topicOutput{outcome: op.Outcome, err: op.Err}
		ret := op.Return
		switch {
		case op.Outcome == Unknown:
			res.err, ret = "", horizon // may take effect at any time after the call
		case op.Kind == CreateTopic && op.Err == CodeTopicAlreadyExists:
		case op.Kind == DeleteTopic && op.Err == CodeUnknownTopic:
		case op.Err != "" || op.Outcome == Failed:
			continue // no effect, and nothing learned about existence
		}
		out = append(out, porcupine.Operation{
			ClientId: max(op.Client, 0),
			Input:    topicInput{kind: op.Kind, topic: op.TP, partitions: op.Partitions},
			Call:     op.Call, Output: res, Return: ret, Metadata: i,
		})
	}
	return out
}
