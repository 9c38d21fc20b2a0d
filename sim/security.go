package sim

import (
	"fmt"

	"github.com/weirmq/weir/linearizability"
	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/acl"
)

// ACLs in the workload. In the seeds that draw them (secure), every
// workload client has a principal (alice, bob or carol: the transport's
// authenticated identity, as sm.Received.Principal), a base rule lets
// everyone do everything on every topic, and an ACL director changes the
// rules through the controller during the safety phase: deny rules for a
// principal (or everyone) writing or reading one workload topic come and
// go. Deny wins, so a produce or fetch they cover is refused with
// TOPIC_AUTHORIZATION_FAILED, and nothing of it happens.
//
// The security checker (judge) judges every produce and fetch the
// brokers decided — an OK answer is an allow, TOPIC_AUTHORIZATION_FAILED a
// deny — against the rule sets the controllers applied: a decision taken
// between the request's call and its answer must agree with a rule set
// that may have been in effect then, that is one applied by then and not
// superseded by a version applied more than aclPropagationBound earlier.
// So no request is allowed once the change that forbids it has been
// applied for longer than the bound, and none is denied that every
// possibly-effective rule set allows. The bound is what a broker's lease
// allows: it serves only within a session timeout of the controller's
// last answer, which carried the leader's rules, plus raft's election
// slack and the clock skew the run injected.

// simPrincipals are the workload clients' principals, by client ID.
var simPrincipals = []string{"alice", "bob", "carol"}

// principal is the authenticated principal of node id's messages.
func (w *World) principal(id sm.NodeID) string {
	switch {
	case id == adminClientID:
		return "admin"
	case id.IsClient():
		return simPrincipals[int(id)%len(simPrincipals)]
	case id.IsBroker():
		return fmt.Sprintf("broker-%d", uint64(id))
	}
	return fmt.Sprintf("controller-%d", uint64(id))
}

// aclVersion is one rule set a controller applied, and when one first did.
type aclVersion struct {
	at    sm.Time
	rules *acl.State
}

// aclDecision is one broker decision a client saw.
type aclDecision struct {
	principal string
	topic     string
	op        acl.Operation
	allowed   bool
	call, ret sm.Time
	client    sm.NodeID
}

// security is the run's ACL state.
type security struct {
	on        bool
	versions  []aclVersion // by version: versions[0] is the empty set
	decisions int          // judged
	resendAt  sm.Time      // the liveness phase's rule reset, resent until applied
}

// aclOptions are the authorizer options every node of the run uses.
var aclOptions = acl.Options{AllowIfNoRules: true}

// baseRule lets everyone do everything on every topic.
func baseRule() acl.Rule {
	r, err := acl.ParseRule("*", "topic:*", "all", "allow", "")
	if err != nil {
		panic(err)
	}
	return r
}

// baseRules are the rules the run starts and ends with: baseRule, and with
// the group workload one letting everyone use every group (the director's
// deny rules cover topics only).
func (w *World) baseRules() []acl.Rule {
	rules := []acl.Rule{baseRule()}
	if w.grp.on {
		r, err := acl.ParseRule("*", "group:*", "all", "allow", "")
		if err != nil {
			panic(err)
		}
		rules = append(rules, r)
	}
	return rules
}

// noteACLs records a controller's rule set once it applied a new version.
func (w *World) noteACLs(h *host) {
	if !w.sec.on || h.kind != kindController || !h.up {
		return
	}
	c := w.controllerNode(h.id)
	if c == nil {
		return
	}
	st := c.ACLs()
	for v := uint64(len(w.sec.versions)); v <= st.Version(); v++ {
		ver := aclVersion{at: w.now}
		if v == st.Version() {
			ver.rules = st.Clone()
		} // else skipped (restored from a snapshot): what it held is unknown here
		w.sec.versions = append(w.sec.versions, ver)
	}
}

// sendACL hands the controller leader an ACL change from the admin client
// (the admin API's own requests are not checked against the rules).
func (w *World) sendACL(cmd acl.Command) {
	id := w.ControllerLeader()
	if id == sm.NoNode {
		return
	}
	h := w.hosts[id]
	inc := h.incarnation
	w.after(sm.Millisecond, func() {
		h.deliver(inc, sm.Received{From: adminClientID, Msg: sm.ACLRequest{ReqID: 1, Command: cmd}, Principal: "admin"})
	})
}

// startACLs installs the base rule and starts the director, from stream r.
func (w *World) startACLs(r *rng) {
	w.sendACL(acl.Command{Create: w.baseRules()})
	var direct func()
	direct = func() {
		if !w.faultsOn {
			return
		}
		w.directACLs(r)
		w.after(sm.Duration(r.between(int64(sm.Second), int64(4*sm.Second))), direct)
	}
	w.after(sm.Duration(r.between(int64(sm.Second), int64(3*sm.Second))), direct)
}

// directACLs adds a deny rule or removes one.
func (w *World) directACLs(r *rng) {
	ctl := w.leaderController()
	if ctl == nil {
		return
	}
	var denies []acl.RuleID
	for _, rule := range ctl.ACLs().Rules() {
		if rule.Effect == acl.Deny {
			denies = append(denies, rule.ID)
		}
	}
	if len(denies) > 0 && (len(denies) >= 3 || r.chance(0.4)) {
		w.sendACL(acl.Command{Delete: []acl.RuleID{denies[r.intn(len(denies))]}})
		return
	}
	tps := w.workloadTPs()
	principal := "*"
	if !r.chance(0.25) {
		principal = simPrincipals[r.intn(len(simPrincipals))]
	}
	op := []string{"write", "read"}[r.intn(2)]
	rule, err := acl.ParseRule(principal, "topic:"+tps[r.intn(len(tps))].Topic, op, "deny", "")
	if err != nil {
		panic(err)
	}
	w.sendACL(acl.Command{Create: []acl.Rule{rule}})
}

// aclsSettled is part of convergence in the liveness phase: the deny
// rules are gone (the reset is resent until the leader applied it) and
// every live broker enforces the leader's rule set.
func (w *World) aclsSettled() bool {
	if !w.sec.on {
		return true
	}
	ctl := w.leaderController()
	if ctl == nil {
		return false
	}
	st := ctl.ACLs()
	rules := st.Rules()
	settled := len(rules) == len(w.baseRules())
	for _, r := range rules {
		settled = settled && r.Effect == acl.Allow
	}
	if !settled {
		if w.now >= w.sec.resendAt {
			w.sec.resendAt = w.now.Add(500 * sm.Millisecond)
			base := w.baseRules()
			w.sendACL(acl.Command{Replace: &base})
		}
		return false
	}
	for _, id := range w.brokerIDs() {
		if b := w.brokerNode(id); b != nil && b.ACLVersion() != st.Version() {
			return false
		}
	}
	return true
}

// noteDecision records what a broker decided for a client's produce or
// fetch: OK is an allow, TOPIC_AUTHORIZATION_FAILED a deny; anything else
// decided nothing about the rules.
func (w *World) noteDecision(c *client, p *pending, code sm.Code) {
	if !w.sec.on || (code != sm.CodeOK && code != sm.CodeTopicAuthorizationFailed) {
		return
	}
	op := acl.OpRead
	if p.op.Kind == linearizability.Produce {
		op = acl.OpWrite
	}
	d := aclDecision{principal: w.principal(c.id), topic: p.tp.Topic, op: op,
		allowed: code == sm.CodeOK, call: sm.Time(p.op.Call), ret: w.now, client: c.id}
	w.sec.decisions++
	// Every rule set applied by now is known, so the decision is judged at
	// once.
	if err := w.judge(d); err != nil {
		w.fail("%v", err)
	}
}

// aclPropagationBound is how long after a rule set is superseded a broker
// may still decide by it (see the comment at the top).
func (w *World) aclPropagationBound() sm.Duration {
	var skew sm.Duration
	for _, h := range w.hosts {
		skew = max(skew, h.skew)
	}
	election := w.cfg.RaftTick * sm.Duration(w.cfg.ElectionTicks)
	return w.cfg.SessionTimeout + 2*election + w.cfg.HeartbeatInterval + skew
}

// judge checks one decision (see the comment at the top).
func (w *World) judge(d aclDecision) error {
	bound := w.aclPropagationBound()
	req := acl.Request{Principal: d.principal, Resource: acl.Resource{Type: acl.ResourceTopic, Name: d.topic}, Operation: d.op}
	var tried []uint64
	for v, ver := range w.sec.versions {
		if ver.rules == nil || ver.at > d.ret {
			continue // unknown here, or not applied anywhere yet
		}
		if v+1 < len(w.sec.versions) && w.sec.versions[v+1].at.Add(bound) < d.call {
			continue // superseded longer than the bound before the call
		}
		tried = append(tried, uint64(v))
		if ver.rules.Evaluate(aclOptions, req).Allowed == d.allowed {
			return nil
		}
	}
	verb := map[bool]string{true: "allowed", false: "denied"}[d.allowed]
	return fmt.Errorf("security: %v's %v of topic %q (principal %q) was %s between %v and %v, which no ACL rule set possibly in effect then does (versions %v, propagation bound %v)",
		d.client, d.op, d.topic, d.principal, verb, d.call, d.ret, tried, bound)
}
