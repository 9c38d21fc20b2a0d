package broker

import (
	"github.com/weirmq/weir/sm"
)

// Producer IDs: the broker answers InitProducerID from a block of IDs the
// controller allocated it through raft (AllocateProducerIDs), asking for
// the next block when one runs out; requests that find none wait for it
// (at most pidWaitMax, then they are refused, retriable).

// refusedAsk stands for a block request the controller refused: none is
// in flight, but the next waits for tickPIDs.
const refusedAsk = ^uint64(0)

// pidWaitMax bounds the InitProducerID requests waiting for a block.
const pidWaitMax = 10_000

type pidCall struct {
	from  sm.NodeID
	reqID uint64
}

// producerIDs is the broker's block and what waits on it.
type producerIDs struct {
	next, end int64 // [next, end): the IDs left
	waiting   []pidCall
	asked     uint64 // ReqID of the block request in flight (0: none)
	askedAt   sm.Time
}

func (n *Node) onInitProducerID(ev sm.Received, m sm.InitProducerIDRequest) {
	refuse := func(msg string) {
		n.send(ev.From, sm.InitProducerIDResponse{ReqID: m.ReqID, Code: sm.CodeLeaderNotAvailable, Message: msg, ProducerID: -1, ProducerEpoch: -1})
	}
	switch {
	case !n.registered || !n.leased():
		refuse("the broker is not registered with a controller leader: retry")
		return
	case len(n.pids.waiting) >= pidWaitMax:
		refuse("too many producers waiting for IDs: retry")
		return
	}
	n.pids.waiting = append(n.pids.waiting, pidCall{from: ev.From, reqID: m.ReqID})
	n.servePIDs()
}

// servePIDs answers waiting requests from the block and asks for the next
// block when it runs out.
func (n *Node) servePIDs() {
	p := &n.pids
	for len(p.waiting) > 0 && p.next < p.end {
		c := p.waiting[0]
		p.waiting = p.waiting[1:]
		n.send(c.from, sm.InitProducerIDResponse{ReqID: c.reqID, ProducerID: p.next, ProducerEpoch: 0})
		p.next++
	}
	if len(p.waiting) > 0 && p.asked == 0 {
		n.selfReq++
		p.asked, p.askedAt = n.selfReq, n.now
		n.send(n.ctrl, sm.AllocateProducerIDsRequest{ReqID: p.asked, Broker: n.cfg.ID, Incarnation: n.cfg.Incarnation})
	}
}

// onAllocateProducerIDsResponse takes a block (or a refusal: the waiting
// requests ask again at the next tick).
func (n *Node) onAllocateProducerIDsResponse(from sm.NodeID, m sm.AllocateProducerIDsResponse) {
	p := &n.pids
	if m.ReqID != p.asked || p.asked == 0 {
		return
	}
	p.asked = 0
	switch {
	case m.Code == sm.CodeNotLeader && from == n.ctrl && m.LeaderHint != sm.NoNode:
		n.ctrl = m.LeaderHint
		n.servePIDs()
	case m.Code == sm.CodeOK && m.Count > 0 && m.First >= 0:
		p.next, p.end = m.First, m.First+int64(m.Count)
		n.servePIDs()
	default:
		// Refused: no answer matches this ReqID, so tickPIDs asks again
		// after a pause.
		p.asked, p.askedAt = refusedAsk, n.now
	}
}

// tickPIDs asks again for a block whose request went unanswered or was
// refused.
func (n *Node) tickPIDs() {
	p := &n.pids
	if p.asked != 0 && n.now >= p.askedAt.Add(n.cfg.AlterISRTimeout) {
		p.asked = 0
		n.servePIDs()
	}
}

// pidTimerAt is when tickPIDs needs to run (zero: never).
func (n *Node) pidTimerAt() sm.Time {
	if n.pids.asked == 0 {
		return 0
	}
	return n.pids.askedAt.Add(n.cfg.AlterISRTimeout)
}
