package acl

import (
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestStateCommands(t *testing.T) {
	s := &State{}
	r := validRule()
	res, err := s.Create(r, r, r)
	if err != nil || !slices.Equal(res.Created, []RuleID{1, 2, 3}) || res.Version != 1 || s.Version() != 1 {
		t.Fatalf("create: %+v, %v", res, err)
	}
	res, err = s.Delete(2)
	if err != nil || !slices.Equal(res.Deleted, []RuleID{2}) || res.Version != 2 {
		t.Fatalf("delete: %+v, %v", res, err)
	}
	// IDs are never reused.
	res, _ = s.Create(r)
	if !slices.Equal(res.Created, []RuleID{4}) {
		t.Fatalf("id after delete: %+v", res)
	}
	if got, ok := s.Rule(4); !ok || got.ID != 4 {
		t.Fatalf("Rule(4) = %v %v", got, ok)
	}
	if _, ok := s.Rule(2); ok {
		t.Fatal("deleted rule 2 still there")
	}
	// Unknown ID: nothing deleted, no new version.
	before := s.Snapshot()
	if _, err := s.Delete(1, 99); !errors.Is(err, ErrNoSuchRule) || !strings.Contains(err.Error(), "rule 99") {
		t.Fatalf("delete unknown: %v", err)
	}
	if string(before) != string(s.Snapshot()) {
		t.Fatal("failed delete changed the state")
	}
	// Delete by filter.
	other := validRule()
	other.Principal = Literal("bob")
	other.Effect = Deny
	_, _ = s.Create(other)
	res, err = s.Apply(Command{DeleteMatching: &Filter{Principal: Literal("app@example.com"), Operation: OpWrite}})
	if err != nil || !slices.Equal(res.Deleted, []RuleID{1, 3, 4}) || s.Len() != 1 {
		t.Fatalf("delete matching: %+v, %v (left %d)", res, err, s.Len())
	}
	v := s.Version()
	res, err = s.Apply(Command{DeleteMatching: &Filter{Principal: Literal("nobody")}})
	if err != nil || len(res.Deleted) != 0 || s.Version() != v {
		t.Fatalf("no-op delete matching: %+v, %v, version %d→%d", res, err, v, s.Version())
	}
	if _, err := s.Apply(Command{DeleteMatching: &Filter{}}); err == nil || !strings.Contains(err.Error(), "would match every rule") {
		t.Fatalf("empty filter: %v", err)
	}
	if _, err := s.Apply(Command{DeleteMatching: &Filter{Principal: Literal("a*b")}}); err == nil {
		t.Fatal("invalid filter accepted")
	}
	// Replace.
	rs := []Rule{validRule(), other}
	res, err = s.Apply(Command{Replace: &rs})
	if err != nil || !slices.Equal(res.Created, []RuleID{6, 7}) || !slices.Equal(res.Deleted, []RuleID{5}) {
		t.Fatalf("replace: %+v, %v", res, err)
	}
	if got := s.Find(Filter{Effect: Deny}); len(got) != 1 || got[0].ID != 7 {
		t.Fatalf("find deny: %v", got)
	}
	if got := s.RulesForPrincipal("bob"); len(got) != 1 || got[0].ID != 7 {
		t.Fatalf("rules for bob: %v", got)
	}
	if err := s.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

func TestStateRefusals(t *testing.T) {
	s := &State{}
	_, _ = s.Create(validRule())
	bad := validRule()
	bad.Conditions.TimeUTC = TimeWindow{Start: 3, End: 3}
	withID := validRule()
	withID.ID = 9
	for _, tc := range []struct {
		name string
		cmd  Command
		err  string
	}{
		{"no operation", Command{}, "sets 0 operations"},
		{"two operations", Command{Create: []Rule{validRule()}, Delete: []RuleID{1}}, "sets 2 operations"},
		{"empty create", Command{Create: []Rule{}}, "create with no rules"},
		{"empty delete", Command{Delete: []RuleID{}}, "delete with no rule IDs"},
		{"invalid rule, rest valid", Command{Create: []Rule{validRule(), bad}}, "rule 2 of 2: time window: start equals end"},
		{"id given", Command{Create: []Rule{withID}}, "id 9 given"},
		{"invalid in replace", Command{Replace: &[]Rule{bad}}, "rule 1 of 1"},
	} {
		before := s.Snapshot()
		_, err := s.Apply(tc.cmd)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
		if string(before) != string(s.Snapshot()) {
			t.Errorf("%s: refused command changed the state", tc.name)
		}
	}
}

// TestRulesMax: the limit refuses a command whole, with a clear error, and
// is reached exactly.
func TestRulesMax(t *testing.T) {
	s := &State{}
	big := make([]Rule, RulesMax)
	for i := range big {
		big[i] = validRule()
	}
	if _, err := s.Create(big[:RulesMax-1]...); err != nil {
		t.Fatal(err)
	}
	_, err := s.Create(validRule(), validRule())
	if !errors.Is(err, ErrTooManyRules) || !strings.Contains(err.Error(), "199999 rules plus 2 new would be 200001, over the limit of 200000") {
		t.Fatalf("over the limit: %v", err)
	}
	if s.Len() != RulesMax-1 {
		t.Fatalf("refused create left %d rules", s.Len())
	}
	if _, err := s.Create(validRule()); err != nil {
		t.Fatalf("exactly at the limit: %v", err)
	}
	over := append(big, validRule())
	if _, err := (&State{}).Apply(Command{Replace: &over}); !errors.Is(err, ErrTooManyRules) {
		t.Fatalf("replace over the limit: %v", err)
	}
}

// TestCommandJSON: a command survives the controller's JSON raft entry.
func TestCommandJSON(t *testing.T) {
	rs := []Rule{validRule()}
	for _, c := range []Command{
		{Create: []Rule{validRule()}},
		{Delete: []RuleID{3, 4}},
		{DeleteMatching: &Filter{Principal: Any(), ResourceType: ResourceGroup, Operation: OpRead, Effect: Deny}},
		{Replace: &rs},
		{Replace: &[]Rule{}},
	} {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var back Command
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		b2, _ := json.Marshal(back)
		if string(b) != string(b2) || back.fields() != 1 {
			t.Errorf("round trip %s → %s", b, b2)
		}
	}
}

func TestRestoreRefuses(t *testing.T) {
	for _, tc := range []struct{ in, err string }{
		{"", "snapshot is empty"},
		{"\x07{}", "unknown snapshot format 7"},
		{"\x01{\"version\":1,\"last_id\":1,\"rules\":[]} x", "data after the body"},
		{"\x01{\"version\":1,\"last_id\":1,\"rules\":[],\"extra\":1}", "unknown field"},
		{"\x01{\"version\":1,\"last_id\":1,\"rules\":[{\"id\":2,\"principal\":\"a\",\"resource\":\"topic:x\",\"operations\":\"read\",\"effect\":\"allow\"}]}", "beyond the last assigned 1"},
		{"\x01{\"version\":1,\"last_id\":5,\"rules\":[{\"id\":2,\"principal\":\"a\",\"resource\":\"topic:x\",\"operations\":\"read\",\"effect\":\"allow\"},{\"id\":2,\"principal\":\"a\",\"resource\":\"topic:x\",\"operations\":\"read\",\"effect\":\"allow\"}]}", "ids must ascend"},
		{"\x01{\"version\":0,\"last_id\":5,\"rules\":[]}", "version 0 with 0 rules and last id 5"},
		{"\x01{\"version\":1,\"last_id\":5,\"rules\":[{\"id\":2,\"principal\":\"a\",\"resource\":\"topic:x\",\"operations\":\"read\",\"effect\":\"allow\",\"conditions\":{\"source_cidrs\":[\"10.0.0.1/8\"]}}]}", "host bits set"},
	} {
		if _, err := Restore([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Restore(%q) = %v, want %q", tc.in, err, tc.err)
		}
	}
}

func TestClone(t *testing.T) {
	s := &State{}
	r := validRule()
	r.Conditions.SourceCIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	_, _ = s.Create(r, r)
	c := s.Clone()
	_, _ = s.Delete(1)
	s.rules[0].Conditions.SourceCIDRs[0] = netip.MustParsePrefix("11.0.0.0/8")
	if c.Len() != 2 || c.Version() != 1 || c.rules[1].Conditions.SourceCIDRs[0].String() != "10.0.0.0/8" {
		t.Fatalf("clone changed with the original: %s", dumpRules(c))
	}
	if string((&State{}).Clone().Snapshot()) != string((&State{}).Snapshot()) {
		t.Fatal("clone of the empty state differs")
	}
}
