package acl

import (
	"net/netip"
	"testing"
)

func mustRule(t *testing.T, principal, resource, ops, effect, conds string) Rule {
	t.Helper()
	p, err := ParsePattern(principal)
	if err != nil {
		t.Fatal(err)
	}
	rp, err := ParseResourcePattern(resource)
	if err != nil {
		t.Fatal(err)
	}
	o, err := ParseOperations(ops)
	if err != nil {
		t.Fatal(err)
	}
	e, err := ParseEffect(effect)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseConditions(conds)
	if err != nil {
		t.Fatal(err)
	}
	return Rule{Principal: p, Resource: rp, Operations: o, Effect: e, Conditions: c}
}

func req(principal string, typ ResourceType, name string, op Operation, src string, minute int) Request {
	r := Request{Principal: principal, Resource: Resource{typ, name}, Operation: op, Time: MinuteUTC(minute)}
	if src != "" {
		r.Source = netip.MustParseAddr(src)
	}
	return r
}

// TestDecisions: the semantics of the package doc, case by case, for the
// compiled authorizer and the reference alike.
func TestDecisions(t *testing.T) {
	s := &State{}
	rules := []Rule{
		/* 1 */ mustRule(t, "app@example.com", "topic.events.*", "write", "allow", ""),
		/* 2 */ mustRule(t, "app@example.com", "topic:events.secret", "write", "deny", ""),
		/* 3 */ mustRule(t, "reader*", "topic:logs", "read", "allow", ""),
		/* 4 */ mustRule(t, "*", "topic:public", "read", "allow", ""),
		/* 5 */ mustRule(t, "office", "topic:hr", "read", "allow", "source_ip=10.0.0.0/8,2001:db8::/32"),
		/* 6 */ mustRule(t, "day", "topic:hr", "read", "allow", "time_range=09:00-17:00"),
		/* 7 */ mustRule(t, "night", "topic:hr", "read", "allow", "time_range=22:00-06:00"),
		/* 8 */ mustRule(t, "*", "topic:hr", "read", "deny", "source_ip=192.168.0.0/16"),
		/* 9 */ mustRule(t, "ops", "cluster", "all", "allow", ""),
		/* 10 */ mustRule(t, "ops", "group:*", "read", "allow", ""),
		/* 11 */ mustRule(t, "app@example.com", "topic:events.*", "write", "allow", ""), // duplicate of 1
		/* 12 */ mustRule(t, "mallory", "topic:pub*", "all", "deny", ""),
		/* 13 */ mustRule(t, "mallory", "topic:public", "read", "allow", ""),
		/* 14 */ mustRule(t, "auditor", "topic:logs", "read", "deny", ""),
		/* 15 */ mustRule(t, "auditor", "topic:logs", "describe", "allow", ""),
		/* 16 */ mustRule(t, "late", "topic:hr", "read", "deny", "time_range=18:00-23:00"),
		/* 17 */ mustRule(t, "late", "topic:hr", "read", "allow", ""),
	}
	if _, err := s.Create(rules...); err != nil {
		t.Fatal(err)
	}
	opt := Options{AllowIfNoRules: true, SuperUsers: []string{"admin"}}
	noon, midnight := 12*60, 0
	for _, tc := range []struct {
		name string
		req  Request
		want Decision
	}{
		{"prefix grant", req("app@example.com", ResourceTopic, "events.a", OpWrite, "", noon), Decision{true, 1, ReasonAllowedByRule}},
		{"prefix grant covers the prefix itself", req("app@example.com", ResourceTopic, "events.", OpWrite, "", noon), Decision{true, 1, ReasonAllowedByRule}},
		{"grant is per operation", req("app@example.com", ResourceTopic, "events.a", OpRead, "", noon), Decision{false, 0, ReasonNoMatchingAllow}},
		{"write implies describe", req("app@example.com", ResourceTopic, "events.a", OpDescribe, "", noon), Decision{true, 1, ReasonAllowedByRule}},
		{"create is not implied", req("app@example.com", ResourceTopic, "events.a", OpCreate, "", noon), Decision{false, 0, ReasonNoMatchingAllow}},
		{"deny wins over allow", req("app@example.com", ResourceTopic, "events.secret", OpWrite, "", noon), Decision{false, 2, ReasonDeniedByRule}},
		{"deny write does not deny describe", req("app@example.com", ResourceTopic, "events.secret", OpDescribe, "", noon), Decision{true, 1, ReasonAllowedByRule}},
		{"uncovered resource, flag on", req("app@example.com", ResourceTopic, "orders", OpWrite, "", noon), Decision{true, 0, ReasonNoRulesAllowed}},
		{"other type is uncovered", req("app@example.com", ResourceTransactionalID, "events.a", OpRead, "", noon), Decision{true, 0, ReasonNoRulesAllowed}},
		{"principal prefix", req("reader-7", ResourceTopic, "logs", OpRead, "", noon), Decision{true, 3, ReasonAllowedByRule}},
		{"principal prefix is not substring", req("a-reader", ResourceTopic, "logs", OpRead, "", noon), Decision{false, 0, ReasonNoMatchingAllow}},
		{"wildcard principal", req("anyone", ResourceTopic, "public", OpRead, "", noon), Decision{true, 4, ReasonAllowedByRule}},
		{"anonymous matches only *", req("", ResourceTopic, "public", OpRead, "", noon), Decision{true, 4, ReasonAllowedByRule}},
		{"anonymous and a literal rule", req("", ResourceTopic, "logs", OpRead, "", noon), Decision{false, 0, ReasonNoMatchingAllow}},
		{"cidr v4 inside", req("office", ResourceTopic, "hr", OpRead, "10.2.3.4", noon), Decision{true, 5, ReasonAllowedByRule}},
		{"cidr v4-mapped inside", req("office", ResourceTopic, "hr", OpRead, "::ffff:10.2.3.4", noon), Decision{true, 5, ReasonAllowedByRule}},
		{"cidr v6 inside", req("office", ResourceTopic, "hr", OpRead, "2001:db8::9", noon), Decision{true, 5, ReasonAllowedByRule}},
		{"cidr v6 zone ignored", req("office", ResourceTopic, "hr", OpRead, "2001:db8::9%eth0", noon), Decision{true, 5, ReasonAllowedByRule}},
		{"cidr outside", req("office", ResourceTopic, "hr", OpRead, "11.0.0.1", noon), Decision{false, 0, ReasonNoMatchingAllow}},
		{"cidr unknown source: allow does not apply", req("office", ResourceTopic, "hr", OpRead, "", noon), Decision{false, 8, ReasonDeniedByRule}},
		{"cidr deny applies", req("office", ResourceTopic, "hr", OpRead, "192.168.1.1", noon), Decision{false, 8, ReasonDeniedByRule}},
		{"window inside", req("day", ResourceTopic, "hr", OpRead, "8.8.8.8", 9*60), Decision{true, 6, ReasonAllowedByRule}},
		{"window end is exclusive", req("day", ResourceTopic, "hr", OpRead, "8.8.8.8", 17*60), Decision{false, 0, ReasonNoMatchingAllow}},
		{"window unknown time", req("day", ResourceTopic, "hr", OpRead, "8.8.8.8", -1), Decision{false, 0, ReasonNoMatchingAllow}},
		{"wrapping window after midnight", req("night", ResourceTopic, "hr", OpRead, "8.8.8.8", midnight), Decision{true, 7, ReasonAllowedByRule}},
		{"wrapping window at noon", req("night", ResourceTopic, "hr", OpRead, "8.8.8.8", noon), Decision{false, 0, ReasonNoMatchingAllow}},
		{"time deny outside window", req("late", ResourceTopic, "hr", OpRead, "8.8.8.8", noon), Decision{true, 17, ReasonAllowedByRule}},
		{"time deny inside window", req("late", ResourceTopic, "hr", OpRead, "8.8.8.8", 19*60), Decision{false, 16, ReasonDeniedByRule}},
		{"time deny, unknown time: deny applies", req("late", ResourceTopic, "hr", OpRead, "8.8.8.8", -1), Decision{false, 16, ReasonDeniedByRule}},
		{"all covers admin", req("ops", ResourceCluster, "weir", OpAdmin, "", noon), Decision{true, 9, ReasonAllowedByRule}},
		{"all covers alter", req("ops", ResourceCluster, "weir", OpAlter, "", noon), Decision{true, 9, ReasonAllowedByRule}},
		{"group wildcard", req("ops", ResourceGroup, "billing", OpRead, "", noon), Decision{true, 10, ReasonAllowedByRule}},
		{"group read does not give delete", req("ops", ResourceGroup, "billing", OpDelete, "", noon), Decision{false, 0, ReasonNoMatchingAllow}},
		{"duplicate rules: lowest id", req("app@example.com", ResourceTopic, "events.b", OpWrite, "", noon), Decision{true, 1, ReasonAllowedByRule}},
		{"deny all wins over a literal allow", req("mallory", ResourceTopic, "public", OpRead, "", noon), Decision{false, 12, ReasonDeniedByRule}},
		{"deny all covers describe", req("mallory", ResourceTopic, "pubsub", OpDescribe, "", noon), Decision{false, 12, ReasonDeniedByRule}},
		{"deny read, allow describe", req("auditor", ResourceTopic, "logs", OpDescribe, "", noon), Decision{true, 15, ReasonAllowedByRule}},
		{"deny read stays", req("auditor", ResourceTopic, "logs", OpRead, "", noon), Decision{false, 14, ReasonDeniedByRule}},
		{"super user beats deny", req("admin", ResourceTopic, "hr", OpDelete, "192.168.1.1", noon), Decision{true, 0, ReasonSuperUser}},
		{"super user is exact", req("admin2", ResourceCluster, "weir", OpAdmin, "", noon), Decision{false, 0, ReasonNoMatchingAllow}},
		{"request for all is bad", req("ops", ResourceCluster, "weir", OpAll, "", noon), Decision{false, 0, ReasonBadRequest}},
		{"unknown operation", req("ops", ResourceCluster, "weir", 0, "", noon), Decision{false, 0, ReasonBadRequest}},
		{"unknown type", req("ops", 9, "weir", OpRead, "", noon), Decision{false, 0, ReasonBadRequest}},
		{"bad request even for super user", req("admin", 0, "weir", OpRead, "", noon), Decision{false, 0, ReasonBadRequest}},
	} {
		a, err := Compile(s, opt)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Authorize(tc.req); got != tc.want {
			t.Errorf("%s: authorizer %+v, want %+v", tc.name, got, tc.want)
		}
		if got := s.Evaluate(opt, tc.req); got != tc.want {
			t.Errorf("%s: reference %+v, want %+v", tc.name, got, tc.want)
		}
	}
	// With the flag off, an uncovered resource is denied.
	a, _ := Compile(s, Options{})
	r := req("app@example.com", ResourceTopic, "orders", OpWrite, "", noon)
	if d := a.Authorize(r); d != (Decision{false, 0, ReasonNoRulesDenied}) {
		t.Errorf("flag off: %+v", d)
	}
	// An empty rule set with the flag on allows everything (a cluster with
	// no ACLs behaves as one without), and with it off denies everything.
	empty, _ := Compile(&State{}, Options{AllowIfNoRules: true})
	if d := empty.Authorize(r); !d.Allowed || d.Reason != ReasonNoRulesAllowed {
		t.Errorf("empty set, flag on: %+v", d)
	}
	closed, _ := Compile(&State{}, Options{})
	if d := closed.Authorize(r); d.Allowed {
		t.Errorf("empty set, flag off: %+v", d)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, su := range []string{"", "admin*"} {
		if _, err := Compile(&State{}, Options{SuperUsers: []string{"ok", su}}); err == nil {
			t.Errorf("super user %q accepted", su)
		}
	}
}

// TestAuthorizeDoesNotAllocate: the hot path is allocation-free, whether it
// takes the small-bucket scan, the principal index, prefixes or conditions.
func TestAuthorizeDoesNotAllocate(t *testing.T) {
	s, reqs := benchState(1000)
	a, _ := Compile(s, Options{AllowIfNoRules: true, SuperUsers: []string{"root"}})
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		_ = a.Authorize(reqs[i%len(reqs)])
		i++
	}); n != 0 {
		t.Fatalf("Authorize allocates %.1f times per call", n)
	}
}

func TestReasonNames(t *testing.T) {
	seen := map[string]bool{}
	for r := ReasonBadRequest; r < reasonCount; r++ {
		n := r.String()
		if n == "" || seen[n] {
			t.Errorf("reason %d name %q", r, n)
		}
		seen[n] = true
	}
}

// TestDuplicateFlood: tens of thousands of rules on one principal and
// resource compile to a few candidates, and decide as the reference.
func TestDuplicateFlood(t *testing.T) {
	s := &State{}
	flood := make([]Rule, 50_000)
	for i := range flood {
		flood[i] = mustRule(t, "alice", "topic:orders", "read,write", "allow", "")
	}
	flood[30_000] = mustRule(t, "alice", "topic:orders", "write", "deny", "")
	flood[40_000] = mustRule(t, "alice", "topic:orders", "read", "allow", "source_ip=10.0.0.0/8")
	if _, err := s.Create(flood...); err != nil {
		t.Fatal(err)
	}
	a, _ := Compile(s, Options{})
	if len(a.rules) > 2*int(opCount) {
		t.Fatalf("%d rules compiled, want at most %d candidates", len(a.rules), 2*opCount)
	}
	for _, r := range []Request{
		req("alice", ResourceTopic, "orders", OpRead, "10.1.1.1", 0),
		req("alice", ResourceTopic, "orders", OpWrite, "", 0),
		req("alice", ResourceTopic, "orders", OpDescribe, "", 0),
		req("bob", ResourceTopic, "orders", OpRead, "", 0),
	} {
		if got, want := a.Authorize(r), s.Evaluate(Options{}, r); got != want {
			t.Errorf("%+v: authorizer %+v, reference %+v", r, got, want)
		}
	}
	if d := a.Authorize(req("alice", ResourceTopic, "orders", OpWrite, "", 0)); d.RuleID != 30_001 {
		t.Errorf("write decided by %+v, want deny rule 30001", d)
	}
}
