package acl

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// TimeOfDay is a UTC minute of the day as a request's time, for rules with
// a TimeWindow. The zero value is unknown. sm.Time is monotonic, not a wall
// clock, so the caller (the runtime, which reads the wall clock; the
// simulator, which derives it from virtual time) supplies it.
type TimeOfDay uint16

// TimeUnknown is the zero TimeOfDay: no time-windowed allow rule grants,
// and every time-windowed deny rule applies.
const TimeUnknown TimeOfDay = 0

// MinuteUTC is minute m of the UTC day (0 = 00:00, 1439 = 23:59); an m out
// of [0, 1440) gives TimeUnknown.
func MinuteUTC(m int) TimeOfDay {
	if m < 0 || m >= MinutesPerDay {
		return TimeUnknown
	}
	return TimeOfDay(m + 1)
}

// TimeOfDayFromUnixNano is the UTC minute of the day of a Unix time in
// nanoseconds (negative times included).
func TimeOfDayFromUnixNano(ns int64) TimeOfDay {
	m := ns / 60e9
	if ns%60e9 < 0 {
		m--
	}
	m %= MinutesPerDay
	if m < 0 {
		m += MinutesPerDay
	}
	return TimeOfDay(m + 1)
}

// Minute returns the minute of the day and whether it is known.
func (t TimeOfDay) Minute() (int, bool) {
	if t == 0 || t > MinutesPerDay {
		return 0, false
	}
	return int(t) - 1, true
}

// String is "HH:MM" or "unknown".
func (t TimeOfDay) String() string {
	m, ok := t.Minute()
	if !ok {
		return "unknown"
	}
	return hhmm(uint16(m))
}

// Request is one authorization question: may Principal do Operation on
// Resource, from Source at Time?
type Request struct {
	// Principal is the authenticated identity ("" for none: it matches
	// only rules whose principal pattern is "*").
	Principal string
	Resource  Resource
	// Operation is the one operation asked for; OpAll is not a request.
	Operation Operation
	// Source is the client's address; the zero Addr is unknown. An
	// IPv4-mapped IPv6 address is treated as its IPv4 form and a zone is
	// ignored.
	Source netip.Addr
	// Time is the UTC time of day; the zero value is unknown.
	Time TimeOfDay
}

// Reason says why a Decision came out as it did. Its String is stable, for
// audit lines and replies.
type Reason uint8

// Reasons.
const (
	// ReasonBadRequest: the request names an unknown operation (or all)
	// or resource type; denied.
	ReasonBadRequest Reason = iota + 1
	// ReasonSuperUser: the principal is a super user; allowed.
	ReasonSuperUser
	// ReasonDeniedByRule: a deny rule applies (RuleID is the lowest such);
	// denied whatever allows.
	ReasonDeniedByRule
	// ReasonAllowedByRule: an allow rule applies (RuleID is the lowest
	// such) and no deny rule does; allowed.
	ReasonAllowedByRule
	// ReasonNoMatchingAllow: rules cover the resource but none allows this
	// principal this operation here and now; denied.
	ReasonNoMatchingAllow
	// ReasonNoRulesDenied: no rule covers the resource and
	// AllowIfNoRules is off; denied.
	ReasonNoRulesDenied
	// ReasonNoRulesAllowed: no rule covers the resource and
	// AllowIfNoRules is on; allowed (Kafka's allow.everyone.if.no.acl.found).
	ReasonNoRulesAllowed
	reasonCount
)

var reasonNames = [reasonCount]string{"", "bad_request", "super_user", "denied_by_rule", "allowed_by_rule",
	"no_matching_allow", "no_acl_found", "no_acl_found_allow_everyone"}

func (r Reason) String() string {
	if r > 0 && r < reasonCount {
		return reasonNames[r]
	}
	return fmt.Sprintf("<invalid reason %d>", uint8(r))
}

// Decision is the answer to a Request.
type Decision struct {
	Allowed bool
	// RuleID is the deciding rule, 0 for a default (super user, no rules,
	// no match, bad request).
	RuleID RuleID
	Reason Reason
}

// Options are the authorizer's configuration, outside the rule set.
type Options struct {
	// AllowIfNoRules allows a request on a resource that no rule covers at
	// all (whatever the rule's principal, operation, effect or
	// conditions), as Kafka's allow.everyone.if.no.acl.found. A cluster
	// with no rules then behaves as one without ACLs.
	AllowIfNoRules bool
	// SuperUsers are principals allowed everything, exactly matched.
	SuperUsers []string
}

// Validate refuses an empty or over-long super-user principal.
func (o Options) Validate() error {
	for _, p := range o.SuperUsers {
		if p == "" {
			return errors.New("acl: super user principal is empty")
		}
		if len(p) > PatternBytesMax {
			return fmt.Errorf("acl: super user principal longer than %d bytes (%d)", PatternBytesMax, len(p))
		}
		if strings.Contains(p, "*") {
			return fmt.Errorf("acl: super user principal %q contains '*' (super users are exact principals)", p)
		}
	}
	return nil
}

// Operation implication (Kafka's): a rule allowing read, write, delete or
// alter also allows describe; a rule listing all covers every operation.
// Implication widens allows only: denying read does not deny describe, and
// a deny applies to the operation it lists (or all).
var allowMask, denyMask [opCount]OpSet

func init() {
	for o := OpRead; o < OpAll; o++ {
		allowMask[o] = Ops(o, OpAll)
		denyMask[o] = Ops(o, OpAll)
	}
	allowMask[OpDescribe] |= Ops(OpRead, OpWrite, OpDelete, OpAlter)
}

// requestOK reports whether the request names a real operation and type.
func requestOK(req *Request) bool {
	return req.Operation >= OpRead && req.Operation < OpAll && req.Resource.Type.valid()
}

// normalSource is the source as conditions see it.
func normalSource(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }

// EvaluateLinear decides req against rules by looking at every rule: the
// obviously correct reference the compiled Authorizer is tested against,
// and the linear-scan baseline of the benchmarks. Semantics (the package
// doc has them in full):
//
//  1. a bad request is denied; a super user is allowed;
//  2. a rule applies when its principal pattern matches the principal, its
//     resource pattern the resource, its operations the operation (with
//     implication) and its conditions hold (unknown source or time: an
//     allow rule with that condition does not apply, a deny rule does);
//  3. any applying deny rule denies (lowest ID reported), else any applying
//     allow rule allows (lowest ID), else: if no rule's resource pattern
//     matches the resource, AllowIfNoRules decides; otherwise denied.
func EvaluateLinear(rules []Rule, opt Options, req Request) Decision {
	if !requestOK(&req) {
		return Decision{Reason: ReasonBadRequest}
	}
	for _, su := range opt.SuperUsers {
		if su == req.Principal {
			return Decision{Allowed: true, Reason: ReasonSuperUser}
		}
	}
	src := normalSource(req.Source)
	minute, timeKnown := req.Time.Minute()
	covered := false
	var deny, allow RuleID
	for i := range rules {
		r := &rules[i]
		if r.Resource.Type != req.Resource.Type || !linearMatch(r.Resource.Name, req.Resource.Name) {
			continue
		}
		covered = true
		if !linearMatch(r.Principal, req.Principal) {
			continue
		}
		if r.Effect == Deny {
			if (r.Operations.Has(req.Operation) || r.Operations.Has(OpAll)) &&
				!linearCondFalse(&r.Conditions, src, minute, timeKnown) && (deny == 0 || r.ID < deny) {
				deny = r.ID
			}
			continue
		}
		if linearAllowsOp(r.Operations, req.Operation) && linearCondTrue(&r.Conditions, src, minute, timeKnown) &&
			(allow == 0 || r.ID < allow) {
			allow = r.ID
		}
	}
	switch {
	case deny != 0:
		return Decision{RuleID: deny, Reason: ReasonDeniedByRule}
	case allow != 0:
		return Decision{Allowed: true, RuleID: allow, Reason: ReasonAllowedByRule}
	case covered:
		return Decision{Reason: ReasonNoMatchingAllow}
	case opt.AllowIfNoRules:
		return Decision{Allowed: true, Reason: ReasonNoRulesAllowed}
	}
	return Decision{Reason: ReasonNoRulesDenied}
}

// linearMatch is Pattern.Matches written out for the reference.
func linearMatch(p Pattern, name string) bool {
	switch p.Kind {
	case PatternAny:
		return true
	case PatternPrefix:
		return len(name) >= len(p.Value) && name[:len(p.Value)] == p.Value
	case PatternLiteral:
		return name == p.Value
	}
	return false
}

func linearAllowsOp(ops OpSet, op Operation) bool {
	if ops.Has(op) || ops.Has(OpAll) {
		return true
	}
	return op == OpDescribe && (ops.Has(OpRead) || ops.Has(OpWrite) || ops.Has(OpDelete) || ops.Has(OpAlter))
}

// linearCondTrue: every condition certainly holds.
func linearCondTrue(c *Conditions, src netip.Addr, minute int, timeKnown bool) bool {
	if len(c.SourceCIDRs) > 0 {
		if !src.IsValid() || !inAny(c.SourceCIDRs, src) {
			return false
		}
	}
	if !c.TimeUTC.IsZero() {
		if !timeKnown || !c.TimeUTC.Contains(minute) {
			return false
		}
	}
	return true
}

// linearCondFalse: some condition certainly fails.
func linearCondFalse(c *Conditions, src netip.Addr, minute int, timeKnown bool) bool {
	if len(c.SourceCIDRs) > 0 && src.IsValid() && !inAny(c.SourceCIDRs, src) {
		return true
	}
	return !c.TimeUTC.IsZero() && timeKnown && !c.TimeUTC.Contains(minute)
}

func inAny(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Evaluate is EvaluateLinear over the state's rules (acl test, the
// simulator's checker): slow, for answers outside the hot path.
func (s *State) Evaluate(opt Options, req Request) Decision { return EvaluateLinear(s.rules, opt, req) }
