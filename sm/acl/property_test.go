package acl

import (
	"bytes"
	"flag"
	"net/netip"
	"slices"
	"strconv"
	"testing"

	"pgregory.net/rapid"
)

// The words rules and requests are built from: short, sharing prefixes, so
// that literal, prefix and wildcard patterns overlap often.
var (
	nameWords      = []string{"a", "ab", "abc", "b", "ba", "events", "events.a", "events.ab", "x.y", "users.data"}
	principalWords = []string{"alice", "al", "alex", "bob", "b", "app@x.com", "app@y.com"}
	cidrPool       = []string{"10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "192.168.0.0/16", "2001:db8::/32",
		"2001:db8:1::/48", "0.0.0.0/0", "::/0", "10.1.2.3/32"}
	sourcePool = []string{"", "10.1.2.3", "10.2.0.1", "192.168.5.5", "8.8.8.8", "::ffff:10.1.2.3",
		"2001:db8:1::5", "2001:db8:2::1", "fe80::1%eth0", "::1"}
)

func genPattern(words []string) *rapid.Generator[Pattern] {
	return rapid.Custom(func(t *rapid.T) Pattern {
		w := rapid.SampledFrom(words).Draw(t, "word")
		switch rapid.IntRange(0, 9).Draw(t, "kind") {
		case 0, 1:
			return Any()
		case 2, 3, 4:
			return Prefix(w[:rapid.IntRange(1, len(w)).Draw(t, "cut")])
		}
		return Literal(w)
	})
}

func genConditions() *rapid.Generator[Conditions] {
	return rapid.Custom(func(t *rapid.T) Conditions {
		var c Conditions
		if rapid.IntRange(0, 2).Draw(t, "cidr?") == 0 {
			for _, s := range rapid.SliceOfNDistinct(rapid.SampledFrom(cidrPool), 1, 3, rapid.ID).Draw(t, "cidrs") {
				c.SourceCIDRs = append(c.SourceCIDRs, netip.MustParsePrefix(s))
			}
		}
		if rapid.IntRange(0, 2).Draw(t, "window?") == 0 {
			start := uint16(rapid.IntRange(0, MinutesPerDay-1).Draw(t, "start"))
			end := uint16(rapid.IntRange(0, MinutesPerDay).Draw(t, "end"))
			if start == end {
				end = (start + 1) % MinutesPerDay
			}
			c.TimeUTC = TimeWindow{Start: start, End: end}
			if c.TimeUTC.IsZero() {
				c.TimeUTC.End = 60
			}
		}
		return c
	})
}

func genRule() *rapid.Generator[Rule] {
	return rapid.Custom(func(t *rapid.T) Rule {
		r := Rule{
			Principal:  genPattern(principalWords).Draw(t, "principal"),
			Resource:   ResourcePattern{Type: ResourceType(rapid.SampledFrom([]int{1, 1, 1, 2, 3}).Draw(t, "type")), Name: genPattern(nameWords).Draw(t, "name")},
			Operations: OpSet(rapid.IntRange(1, int(opSetValid)).Draw(t, "ops")) & opSetValid,
			Effect:     Allow,
		}
		if r.Operations == 0 {
			r.Operations = Ops(OpRead)
		}
		if rapid.IntRange(0, 2).Draw(t, "deny?") == 0 {
			r.Effect = Deny
		}
		if rapid.Bool().Draw(t, "cond?") {
			r.Conditions = genConditions().Draw(t, "conditions")
		}
		return r
	})
}

// scenario is one random rule set (built by commands, so IDs have gaps),
// authorizer options and a batch of requests aimed at it.
type scenario struct {
	state    *State
	opt      Options
	requests []Request
}

const requestsPerCase = 200

func genRequest(rules []Rule) *rapid.Generator[Request] {
	return rapid.Custom(func(t *rapid.T) Request {
		p := rapid.SampledFrom(append(slices.Clone(principalWords), "", "alice2", "bobby")).Draw(t, "principal")
		n := rapid.SampledFrom(append(slices.Clone(nameWords), "abcd", "events.abc", "zzz")).Draw(t, "name")
		if len(rules) > 0 && rapid.IntRange(0, 2).Draw(t, "aim?") > 0 {
			// Aim at a rule: its literal values, or its prefixes extended.
			r := rules[rapid.IntRange(0, len(rules)-1).Draw(t, "rule")]
			if r.Principal.Kind != PatternAny {
				p = r.Principal.Value + rapid.SampledFrom([]string{"", "", "x"}).Draw(t, "psuffix")
			}
			if r.Resource.Name.Kind != PatternAny {
				n = r.Resource.Name.Value + rapid.SampledFrom([]string{"", "", ".z"}).Draw(t, "nsuffix")
			}
		}
		req := Request{
			Principal: p,
			Resource:  Resource{Type: ResourceType(rapid.SampledFrom([]int{1, 1, 1, 2, 3, 4}).Draw(t, "type")), Name: n},
			Operation: Operation(rapid.IntRange(1, 7).Draw(t, "op")),
		}
		if rapid.IntRange(0, 50).Draw(t, "bad?") == 0 {
			req.Operation = Operation(rapid.SampledFrom([]int{0, 8, 9, 200}).Draw(t, "badop"))
		}
		if s := rapid.SampledFrom(sourcePool).Draw(t, "source"); s != "" {
			req.Source = netip.MustParseAddr(s)
		}
		if rapid.IntRange(0, 4).Draw(t, "time?") > 0 {
			req.Time = MinuteUTC(rapid.IntRange(0, MinutesPerDay-1).Draw(t, "minute"))
		}
		return req
	})
}

func genScenario() *rapid.Generator[scenario] {
	return rapid.Custom(func(t *rapid.T) scenario {
		s := &State{}
		for range rapid.IntRange(0, 4).Draw(t, "creates") {
			rules := rapid.SliceOfN(genRule(), 1, 40).Draw(t, "rules")
			if _, err := s.Create(rules...); err != nil {
				t.Fatalf("create: %v", err)
			}
			if s.Len() > 0 && rapid.Bool().Draw(t, "delete?") {
				id := s.rules[rapid.IntRange(0, s.Len()-1).Draw(t, "victim")].ID
				if _, err := s.Delete(id); err != nil {
					t.Fatalf("delete %d: %v", id, err)
				}
			}
		}
		if rapid.Bool().Draw(t, "hot?") {
			// Many rules on one resource pattern: the principal-indexed bucket.
			res := ResourcePattern{Type: ResourceTopic, Name: genPattern(nameWords).Draw(t, "hot")}
			rules := rapid.SliceOfN(genRule(), bucketSmallMax+1, 3*bucketSmallMax).Draw(t, "hotRules")
			for i := range rules {
				rules[i].Resource = res
			}
			if _, err := s.Create(rules...); err != nil {
				t.Fatalf("create: %v", err)
			}
		}
		sc := scenario{state: s, opt: Options{AllowIfNoRules: rapid.Bool().Draw(t, "allowIfNoRules")}}
		if rapid.Bool().Draw(t, "super?") {
			sc.opt.SuperUsers = rapid.SliceOfN(rapid.SampledFrom(principalWords), 1, 2).Draw(t, "super")
		}
		gen := genRequest(s.rules)
		for range requestsPerCase {
			sc.requests = append(sc.requests, gen.Draw(t, "request"))
		}
		return sc
	})
}

// disagreement returns the first request on which decide differs from the
// reference, if any.
func disagreement(sc scenario, decide func(Request) Decision) (Request, Decision, Decision, bool) {
	for _, req := range sc.requests {
		want := EvaluateLinear(sc.state.rules, sc.opt, req)
		if got := decide(req); got != want {
			return req, got, want, true
		}
	}
	return Request{}, Decision{}, Decision{}, false
}

// TestAuthorizerAgreesWithReference is the property: on random rule
// sets (overlapping literal, prefix and wildcard patterns; deny and allow;
// CIDR and time conditions; ID gaps; large buckets) and random requests the
// compiled Authorizer decides exactly as the linear reference, rule ID and
// reason included. The default run checks 100 cases × 200 requests = 20,000
// requests (rapid's default -rapid.checks=100); the test fails if fewer
// than 10,000 were checked when run with the default count.
func TestAuthorizerAgreesWithReference(t *testing.T) {
	checked, large, rules, pruned := 0, 0, 0, 0
	reasons := map[Reason]int{}
	rapid.Check(t, func(t *rapid.T) {
		sc := genScenario().Draw(t, "scenario")
		a, err := Compile(sc.state, sc.opt)
		if err != nil {
			t.Fatal(err)
		}
		if len(a.rules) < sc.state.Len() {
			pruned++
		}
		if len(a.indexes) > 0 {
			large++
		}
		if req, got, want, bad := disagreement(sc, a.Authorize); bad {
			t.Fatalf("request %+v: authorizer %+v, reference %+v\nrules:\n%s", req, got, want, dumpRules(sc.state))
		}
		checked += len(sc.requests)
		rules += sc.state.Len()
		for _, req := range sc.requests {
			reasons[a.Authorize(req).Reason]++
		}
	})
	t.Logf("mean rules per case %.1f; decisions by reason: %v", float64(rules)/float64(max(1, checked/requestsPerCase)), reasons)
	t.Logf("checked %d requests; %d cases had a principal-indexed bucket, %d pruned rules", checked, large, pruned)
	if pruned == 0 {
		t.Error("no case pruned a rule: the generator misses that path")
	}
	if f := flag.Lookup("rapid.checks"); f != nil && f.Value.String() == "100" && !testing.Short() && checked < 10_000 {
		t.Fatalf("only %d requests checked, want at least 10,000", checked)
	}
	if large < checked/requestsPerCase/10 {
		t.Fatalf("only %d cases built a principal-indexed (large) bucket: the generator misses that path", large)
	}
	for r := ReasonBadRequest; r < reasonCount; r++ {
		if reasons[r] == 0 {
			t.Errorf("no decision with reason %s: the generator misses that path", r)
		}
	}
}

func dumpRules(s *State) string {
	var b bytes.Buffer
	for _, r := range s.rules {
		b.WriteString(r.String() + "\n")
	}
	return b.String()
}

// TestPropertyCatchesBrokenEvaluators shows the agreement property can fail:
// authorizers compiled from deliberately wrong rule sets (each one a classic
// authorizer bug) must disagree with the reference on some generated case.
func TestPropertyCatchesBrokenEvaluators(t *testing.T) {
	mapRules := func(f func(r *Rule)) func(*State) []Rule {
		return func(s *State) []Rule {
			out := s.Rules()
			for i := range out {
				f(&out[i])
			}
			return out
		}
	}
	mutants := []struct {
		name  string
		rules func(*State) []Rule
		// failOpen: use the mutant only for requests with an unknown source.
		failOpen bool
	}{
		{name: "deny ignored", rules: func(s *State) []Rule {
			return slices.DeleteFunc(s.Rules(), func(r Rule) bool { return r.Effect == Deny })
		}},
		{name: "allow wins over deny", rules: mapRules(func(r *Rule) { r.Effect = Allow })},
		{name: "conditions ignored", rules: mapRules(func(r *Rule) { r.Conditions = Conditions{} })},
		{name: "prefix matched as literal", rules: mapRules(func(r *Rule) {
			if r.Resource.Name.Kind == PatternPrefix {
				r.Resource.Name.Kind = PatternLiteral
			}
		})},
		{name: "principal prefix matched as literal", rules: mapRules(func(r *Rule) {
			if r.Principal.Kind == PatternPrefix {
				r.Principal.Kind = PatternLiteral
			}
		})},
		{name: "time window does not wrap midnight", rules: mapRules(func(r *Rule) {
			if w := r.Conditions.TimeUTC; w.Start > w.End {
				r.Conditions.TimeUTC = TimeWindow{Start: w.End, End: w.Start}
			}
		})},
		{name: "unknown source passes CIDR conditions", failOpen: true, rules: mapRules(func(r *Rule) { r.Conditions.SourceCIDRs = nil })},
	}
	gen := genScenario()
	for _, m := range mutants {
		caught := -1
		for seed := 0; seed < 500 && caught < 0; seed++ {
			sc := gen.Example(seed)
			mutant := compileRules(m.rules(sc.state), sc.state.version, sc.opt)
			right := compileRules(sc.state.rules, sc.state.version, sc.opt)
			decide := mutant.Authorize
			if m.failOpen {
				decide = func(req Request) Decision {
					if !req.Source.IsValid() {
						return mutant.Authorize(req)
					}
					return right.Authorize(req)
				}
			}
			if _, _, _, bad := disagreement(sc, decide); bad {
				caught = seed
			}
		}
		if caught < 0 {
			t.Errorf("mutant %q agreed with the reference on 500 scenarios: the property is too weak", m.name)
		} else {
			t.Logf("mutant %q caught at scenario %d", m.name, caught)
		}
	}
}

// TestSnapshotRoundTrip: Restore(Snapshot(s)) is s (same rules, version,
// next ID, same bytes again), and an authorizer compiled from the restored
// state decides as the original.
func TestSnapshotRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		sc := genScenario().Draw(t, "scenario")
		snap := sc.state.Snapshot()
		got, err := Restore(snap)
		if err != nil {
			t.Fatalf("restore: %v\n%s", err, snap)
		}
		if again := got.Snapshot(); !bytes.Equal(again, snap) {
			t.Fatalf("snapshot of restored state differs:\n%s\n%s", snap, again)
		}
		if got.version != sc.state.version || got.nextID != sc.state.nextID || got.Len() != sc.state.Len() {
			t.Fatalf("restored version %d next %d len %d, want %d %d %d", got.version, got.nextID, got.Len(),
				sc.state.version, sc.state.nextID, sc.state.Len())
		}
		a, _ := Compile(got, sc.opt)
		if req, d, want, bad := disagreement(sc, a.Authorize); bad {
			t.Fatalf("restored authorizer decides %+v on %+v, want %+v", d, req, want)
		}
		// The next IDs continue where the original's would.
		r1, err1 := sc.state.Create(Rule{Principal: Any(), Resource: ResourcePattern{ResourceTopic, Any()}, Operations: Ops(OpRead), Effect: Allow})
		r2, err2 := got.Create(Rule{Principal: Any(), Resource: ResourcePattern{ResourceTopic, Any()}, Operations: Ops(OpRead), Effect: Allow})
		if err1 != nil || err2 != nil || !slices.Equal(r1.Created, r2.Created) || r1.Version != r2.Version {
			t.Fatalf("after restore, create gives %+v %v; original %+v %v", r2, err2, r1, err1)
		}
	})
}

// genCommand draws a command that may be valid or not.
func genCommand(s *State) *rapid.Generator[Command] {
	return rapid.Custom(func(t *rapid.T) Command {
		switch rapid.IntRange(0, 5).Draw(t, "cmd") {
		case 0:
			rules := rapid.SliceOfN(genRule(), 0, 5).Draw(t, "rules")
			if len(rules) > 0 && rapid.Bool().Draw(t, "corrupt?") {
				i := rapid.IntRange(0, len(rules)-1).Draw(t, "at")
				corrupt(&rules[i], rapid.IntRange(0, 7).Draw(t, "how"))
			}
			return Command{Create: rules}
		case 1:
			ids := []RuleID{RuleID(rapid.IntRange(0, int(s.nextID)+2).Draw(t, "id"))}
			if s.Len() > 0 {
				ids = append(ids, s.rules[rapid.IntRange(0, s.Len()-1).Draw(t, "victim")].ID)
			}
			return Command{Delete: ids}
		case 2:
			f := Filter{Principal: genPattern(principalWords).Draw(t, "principal")}
			if rapid.Bool().Draw(t, "empty?") {
				f = Filter{}
			}
			return Command{DeleteMatching: &f}
		case 3:
			rules := rapid.SliceOfN(genRule(), 0, 3).Draw(t, "rules")
			return Command{Replace: &rules}
		case 4:
			return Command{Create: []Rule{{ID: 7, Principal: Any(), Resource: ResourcePattern{ResourceTopic, Any()}, Operations: Ops(OpRead), Effect: Allow}}}
		}
		return Command{Delete: []RuleID{1}, Create: []Rule{{}}} // two operations
	})
}

// corrupt breaks one field of r in one of several ways.
func corrupt(r *Rule, how int) {
	switch how {
	case 0:
		r.Principal = Literal("")
	case 1:
		r.Resource.Name = Prefix("a*b")
	case 2:
		r.Operations = 0
	case 3:
		r.Effect = 0
	case 4:
		r.Conditions.SourceCIDRs = []netip.Prefix{netip.MustParsePrefix("10.1.2.3/8")}
	case 5:
		r.Conditions.TimeUTC = TimeWindow{Start: 5, End: 5}
	case 6:
		r.Resource.Type = 9
	default:
		r.Conditions.TimeUTC = TimeWindow{Start: 1500, End: 3}
	}
}

// TestApplyIsAtomic: Check predicts Apply's error; a command either succeeds (bumping the version only if
// it changed the rules) or fails leaving the snapshot byte-identical; two
// states fed the same commands stay byte-identical; invariants hold after
// every step.
func TestApplyIsAtomic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s, twin := &State{}, &State{}
		failed := 0
		for range rapid.IntRange(1, 30).Draw(t, "steps") {
			c := genCommand(s).Draw(t, "command")
			before := s.Snapshot()
			checkErr := s.Check(c)
			if !bytes.Equal(before, s.Snapshot()) {
				t.Fatal("Check changed the state")
			}
			res, err := s.Apply(c)
			if (checkErr == nil) != (err == nil) || (err != nil && err.Error() != checkErr.Error()) {
				t.Fatalf("Check said %v, Apply %v", checkErr, err)
			}
			res2, err2 := twin.Apply(c)
			if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
				t.Fatalf("twins disagree: %v vs %v", err, err2)
			}
			after := s.Snapshot()
			if err != nil {
				failed++
				if !bytes.Equal(before, after) {
					t.Fatalf("failed command %+v (%v) changed the state", c, err)
				}
			} else {
				changed := !bytes.Equal(before, after)
				if changed != (len(res.Created)+len(res.Deleted) > 0) {
					t.Fatalf("command %+v: result %+v but changed=%v", c, res, changed)
				}
				if res.Version != s.Version() || !slices.Equal(res.Created, res2.Created) {
					t.Fatalf("result %+v vs twin %+v, version %d", res, res2, s.Version())
				}
			}
			if !bytes.Equal(after, twin.Snapshot()) {
				t.Fatal("twins fed the same commands differ")
			}
			if err := s.CheckInvariants(); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("%d refused", failed)
	})
}

// FuzzRestore: arbitrary bytes never panic Restore, and whatever it accepts
// re-encodes to a snapshot it accepts again with the same meaning.
func FuzzRestore(f *testing.F) {
	s := &State{}
	f.Add(s.Snapshot())
	_, _ = s.Create(
		Rule{Principal: Literal("app@x.com"), Resource: ResourcePattern{ResourceTopic, Prefix("events.")}, Operations: Ops(OpRead, OpWrite), Effect: Allow,
			Conditions: Conditions{SourceCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, TimeUTC: TimeWindow{Start: 540, End: 1020}}},
		Rule{Principal: Any(), Resource: ResourcePattern{ResourceGroup, Any()}, Operations: Ops(OpAll), Effect: Deny})
	f.Add(s.Snapshot())
	f.Add([]byte{1})
	f.Add([]byte{2, '{', '}'})
	f.Add([]byte("\x01{\"version\":1,\"last_id\":0,\"rules\":[{\"id\":1}]}"))
	f.Add([]byte("\x01{\"version\":1,\"last_id\":3,\"rules\":[{\"id\":2,\"principal\":\"a**\"}]}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := Restore(data)
		if err != nil {
			return
		}
		again, err := Restore(st.Snapshot())
		if err != nil {
			t.Fatalf("re-encoded snapshot refused: %v", err)
		}
		if !bytes.Equal(again.Snapshot(), st.Snapshot()) {
			t.Fatal("snapshot not stable")
		}
	})
}

func TestGeneratorsAreValid(t *testing.T) {
	for i := range 200 {
		r := genRule().Example(i)
		if err := r.Validate(); err != nil {
			t.Fatalf("generated rule %d invalid: %v (%s)", i, err, strconv.Quote(r.String()))
		}
	}
}
