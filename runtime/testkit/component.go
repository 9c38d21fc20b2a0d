package testkit

import (
	"fmt"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/host"
)

// Component makes one hosted component (host.Component: a partition
// replica, later an uploader or a coordinator) a runtime.Node, so a test can
// drive it alone through a Host. It stands in for the broker around it the
// way sm/broker hosts components:
//
//   - a Received message goes to Receive (the test routes by message type,
//     as the broker does by the component's concrete type);
//   - TimerFired runs the component's OnTimer when its deadline has come;
//   - a LogDone goes to OnLogDone, except an unknown outcome, which stops
//     the process (Ready.Fatal) before the component sees it;
//   - the component's output becomes the Ready: its log operations, its
//     messages, and its ToController messages addressed to Controller.
type Component struct {
	C          host.Component
	Self       sm.NodeID
	Controller sm.NodeID
	// Receive handles a message for the component.
	Receive func(now sm.Time, from sm.NodeID, m sm.Message) error

	ready sm.Ready
}

// Step implements runtime.Node.
func (n *Component) Step(now sm.Time, ev sm.Event) error {
	var err error
	switch e := ev.(type) {
	case sm.Received:
		err = n.Receive(now, e.From, e.Msg)
	case sm.TimerFired:
		if at := n.C.TimerAt(); at != 0 && at <= now {
			n.C.OnTimer(now)
		}
	case sm.LogDone:
		if e.Outcome == sm.OutcomeUnknown {
			n.ready.Fatal = fmt.Sprintf("testkit: log operation %d ended unknown: %s", e.ID, e.Reason)
			break
		}
		if err = n.C.OnLogDone(now, e); err != nil {
			n.ready.Fatal = err.Error()
			err = nil
		}
	case sm.LogReadDone:
		if err = n.C.OnLogReadDone(now, e); err != nil {
			n.ready.Fatal = err.Error()
			err = nil
		}
	default:
		err = fmt.Errorf("testkit: a component cannot take %T", ev)
	}
	n.collect()
	return err
}

func (n *Component) collect() {
	out := n.C.TakeOutput()
	n.ready.Log = append(n.ready.Log, out.Log...)
	n.ready.Reads = append(n.ready.Reads, out.Reads...)
	n.ready.Messages = append(n.ready.Messages, out.Messages...)
	for _, m := range out.ToController {
		n.ready.Messages = append(n.ready.Messages, sm.Envelope{From: n.Self, To: n.Controller, Msg: m})
	}
	n.ready.Probes = append(n.ready.Probes, out.Probes...)
}

// Ready implements runtime.Node; it also collects output from direct calls
// (Host.Call).
func (n *Component) Ready() sm.Ready {
	n.collect()
	rd := n.ready
	rd.TimerAt = n.C.TimerAt()
	return rd
}

// Advance implements runtime.Node.
func (n *Component) Advance() { n.ready = sm.Ready{} }

// CheckInvariants implements runtime.Node.
func (n *Component) CheckInvariants() error { return n.C.CheckInvariants() }
