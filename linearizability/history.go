package linearizability

import (
	"fmt"
	"strconv"
	"strings"
)

// Outcome is what the client learned about an operation's effect. It decides
// which promises a checker may hold the system to: only OK replies carry a
// result, and only Failed replies promise the absence of an effect.
type Outcome uint8

const (
	// OK means the operation completed and its result is known.
	OK Outcome = iota
	// Failed means the operation definitely had no effect (NOT_LEADER, or
	// NOT_ENOUGH_REPLICAS before the append). Its values must never be read.
	Failed
	// Unknown means the operation may or may not have taken effect, possibly
	// after the client gave up (timeout, lost reply,
	// NOT_ENOUGH_REPLICAS_AFTER_APPEND).
	Unknown
)

var outcomeNames = [...]string{OK: "ok", Failed: "failed", Unknown: "unknown"}

// String names o for messages and visualizations.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Kind is the client operation type; it selects which Op fields are meaningful.
type Kind uint8

const (
	// Produce appends Values to the partition TP.
	Produce Kind = iota
	// Fetch reads committed records of the partition TP.
	Fetch
	// CreateTopic creates the topic named TP with Partitions partitions.
	CreateTopic
	// DeleteTopic deletes the topic named TP.
	DeleteTopic
)

var kindNames = [...]string{Produce: "produce", Fetch: "fetch", CreateTopic: "create", DeleteTopic: "delete"}

// String names k for messages and visualizations.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Reply code names that the topic model interprets (Op.Err). Any other
// non-empty code on a topic operation is taken as "no effect, nothing learned".
const (
	CodeTopicAlreadyExists = "TOPIC_ALREADY_EXISTS"
	CodeUnknownTopic       = "UNKNOWN_TOPIC"
)

// Rec is one record seen by a fetch: the unit the checkers compare between reads.
type Rec struct {
	Offset int64
	Value  string
}

// Op is one client operation with virtual invoke/return times (ns). The
// simulator records one Op per client request; checkers never mutate it.
type Op struct {
	Client  int    // zero-based client id (porcupine's visualization needs it)
	Kind    Kind   // selects which of the fields below are meaningful
	TP      string // "topic/partition" for Produce/Fetch; the topic name for Create/Delete
	Call    int64  // virtual invoke time
	Return  int64  // virtual return time; for Unknown outcomes the time the client gave up
	Outcome Outcome

	// Produce: Values are the records' values in order; every value produced
	// in a run is unique. On OK, Offset is the base offset the leader returned
	// (record i is at Offset+i) and Epoch the leader epoch. Durable is true when
	// the ack level promises survival across a clean leader failover
	// (acks=all/majority/custom(N) on a topic without unclean election);
	// acks=leader/none promise nothing across failover.
	Values  []string
	Offset  int64
	Epoch   int64
	Durable bool

	// Fetch: FetchOffset is the offset requested; Records exactly the records
	// the reply held at or after FetchOffset (a correct broker returns only
	// records below HW, contiguous from FetchOffset; CheckLog checks both);
	// HW the high watermark in the reply; Epoch the leader epoch that
	// answered. A fetch refused OFFSET_OUT_OF_RANGE (Failed, Err
	// ErrOffsetOutOfRange) also carries the HW and epoch of its reply.
	// Final marks the end-of-run reads, done after the liveness phase healed
	// everything, that together read each partition's whole committed log.
	FetchOffset int64
	Records     []Rec
	HW          int64
	Final       bool
	// LogStart is the log start offset the reply named: retention deleted
	// every record below it, so a fetch below it is refused out of range
	// and records below it are gone by design, not lost.
	LogStart int64

	// Create/Delete topic: Partitions for create; Err is the reply code name
	// ("" on success, e.g. "TOPIC_ALREADY_EXISTS", "UNKNOWN_TOPIC").
	Partitions int
	Err        string
}

// ErrOffsetOutOfRange is the Err of a fetch the leader refused because its
// offset lies outside [LogStart, HW].
const ErrOffsetOutOfRange = "OFFSET_OUT_OF_RANGE"

// History is the record of one run: every client operation, in any order.
type History struct {
	Ops []Op
	// LossAt, when set, is the virtual time at which every copy of the
	// logs but the object store's was lost (the simulator's wipe of every
	// broker's disk with tiered storage): the high watermark may then fall
	// back to the uploaded end, so fetches invoked after it are ordered
	// only against each other, and acknowledged records not uploaded by
	// then are no longer Durable.
	LossAt int64
}

// Add appends op and returns its index, the id violations refer to.
func (h *History) Add(op Op) int {
	h.Ops = append(h.Ops, op)
	return len(h.Ops) - 1
}

// Len is the number of operations recorded.
func (h *History) Len() int { return len(h.Ops) }

// opValuesShownMax bounds how many values or records Op.String prints, so
// messages stay readable for large batches.
const opValuesShownMax = 6

// String renders op compactly for violation messages, e.g.
// "c3 produce t/0 [a b] -> ok off=5 ep=2 durable @[100,250]".
func (op Op) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "c%d %s %s", op.Client, op.Kind, op.TP)
	switch op.Kind {
	case Produce:
		b.WriteString(" [")
		for i, v := range op.Values {
			if i == opValuesShownMax {
				fmt.Fprintf(&b, " …+%d", len(op.Values)-i)
				break
			}
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(v)
		}
		fmt.Fprintf(&b, "] -> %s", op.Outcome)
		if op.Outcome == OK {
			fmt.Fprintf(&b, " off=%d ep=%d", op.Offset, op.Epoch)
		}
		if op.Durable {
			b.WriteString(" durable")
		}
	case Fetch:
		fmt.Fprintf(&b, " from=%d -> %s [", op.FetchOffset, op.Outcome)
		for i, r := range op.Records {
			if i == opValuesShownMax {
				fmt.Fprintf(&b, " …+%d", len(op.Records)-i)
				break
			}
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%d:%s", r.Offset, r.Value)
		}
		fmt.Fprintf(&b, "] hw=%d ep=%d", op.HW, op.Epoch)
		if op.Final {
			b.WriteString(" final")
		}
	case CreateTopic, DeleteTopic:
		if op.Kind == CreateTopic {
			fmt.Fprintf(&b, " parts=%d", op.Partitions)
		}
		fmt.Fprintf(&b, " -> %s", op.Outcome)
		if op.Err != "" {
			b.WriteString(" " + op.Err)
		}
	}
	fmt.Fprintf(&b, " @[%d,%d]", op.Call, op.Return)
	return b.String()
}

// topicOf returns the topic part of a "topic/partition" string.
func topicOf(tp string) string {
	if i := strings.LastIndexByte(tp, '/'); i >= 0 {
		return tp[:i]
	}
	return tp
}

// recreatedTopics returns the topics that may have been deleted and created
// again during the run: a Delete that may have taken effect (OK or Unknown
// outcome, no error code) followed, possibly, by a Create that may have taken
// effect. A partition name then denotes more than one log, so the log checkers
// skip those partitions. Give recreated topics fresh names to keep coverage.
func recreatedTopics(h *History) map[string]bool {
	type admin struct{ deletes, creates []*Op }
	byTopic := map[string]*admin{}
	get := func(name string) *admin {
		a := byTopic[name]
		if a == nil {
			a = &admin{}
			byTopic[name] = a
		}
		return a
	}
	for i := range h.Ops {
		op := &h.Ops[i]
		// Failed ops and OK ones answered with an error (UNKNOWN_TOPIC,
		// TOPIC_ALREADY_EXISTS) changed nothing; Unknown ones, whatever
		// code they carry (TIMEOUT, LEADERSHIP_LOST), may have.
		if op.Outcome == Failed || op.Outcome == OK && op.Err != "" {
			continue
		}
		switch op.Kind {
		case DeleteTopic:
			get(op.TP).deletes = append(get(op.TP).deletes, op)
		case CreateTopic:
			get(op.TP).creates = append(get(op.TP).creates, op)
		}
	}
	out := map[string]bool{}
	for name, a := range byTopic {
	pairs:
		for _, d := range a.deletes {
			for _, c := range a.creates {
				// An Unknown create may take effect at any time after its call;
				// an OK one no later than its return.
				if c.Outcome == Unknown || c.Return >= d.Call {
					out[name] = true
					break pairs
				}
			}
		}
	}
	return out
}
