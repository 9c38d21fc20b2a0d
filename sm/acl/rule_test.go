package acl

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
)

func TestParsePattern(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Pattern
		err  string
	}{
		{in: "*", want: Any()},
		{in: "foo*", want: Prefix("foo")},
		{in: "topic.users.*", want: Prefix("topic.users.")},
		{in: "app@example.com", want: Literal("app@example.com")},
		{in: "", err: "empty"},
		{in: "**", err: "more than one '*'"},
		{in: "a*b", err: "'*' at byte 1"},
		{in: "a*b*", err: "more than one '*'"},
		{in: "*a", err: "'*' at byte 0"},
		{in: strings.Repeat("x", PatternBytesMax+1), err: "longer than 1024 bytes"},
	} {
		got, err := ParsePattern(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParsePattern(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParsePattern(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if got.String() != tc.in {
			t.Errorf("ParsePattern(%q).String() = %q", tc.in, got.String())
		}
	}
}

func TestPatternMatches(t *testing.T) {
	for _, tc := range []struct {
		p    Pattern
		name string
		want bool
	}{
		{Any(), "", true},
		{Any(), "anything", true},
		{Prefix("events."), "events.", true}, // the prefix itself matches
		{Prefix("events."), "events.a", true},
		{Prefix("events."), "events", false},
		{Prefix("events."), "Events.a", false}, // case-sensitive
		{Literal("a"), "a", true},
		{Literal("a"), "ab", false},
		{Literal("a"), "A", false},
		{Pattern{}, "a", false}, // invalid matches nothing
	} {
		if got := tc.p.Matches(tc.name); got != tc.want {
			t.Errorf("%v.Matches(%q) = %v, want %v", tc.p, tc.name, got, tc.want)
		}
		if got := linearMatch(tc.p, tc.name); got != tc.want {
			t.Errorf("linearMatch(%v, %q) = %v, want %v", tc.p, tc.name, got, tc.want)
		}
	}
}

func TestParseResourcePattern(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "topic:events.*", want: "topic:events.*"},
		{in: "topic.events.*", want: "topic:events.*"}, // the reference's form
		{in: "topic.users.data", want: "topic:users.data"},
		{in: "group:billing", want: "group:billing"},
		{in: "consumer_group:*", want: "group:*"},
		{in: "cluster", want: "cluster:*"},
		{in: "Topic:x", want: "topic:x"},
		{in: "txn:tx-1", want: "transactional_id:tx-1"},
		{in: "transactional_id:tx*", want: "transactional_id:tx*"},
		{in: "topic:", err: "empty resource name"},
		{in: "topic.", err: "empty resource name"},
		{in: "events.*", err: `unknown resource type "events"`},
		{in: "queue:x", err: `unknown resource type "queue"`},
		{in: "topic:a**", err: "more than one '*'"},
		{in: "topic:a*b", err: "'*' at byte 1"},
	} {
		got, err := ParseResourcePattern(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseResourcePattern(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("ParseResourcePattern(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	// The example: write on topic.events.* covers events.a, not orders.
	rp, _ := ParseResourcePattern("topic.events.*")
	if !rp.Matches(ResourceTopic, "events.a") || rp.Matches(ResourceTopic, "orders") || rp.Matches(ResourceGroup, "events.a") {
		t.Errorf("topic.events.* = %v matches wrongly", rp)
	}
}

func TestParseOperations(t *testing.T) {
	got, err := ParseOperations("read,Write, describe")
	if err != nil || got != Ops(OpRead, OpWrite, OpDescribe) || got.String() != "read,write,describe" {
		t.Errorf("ParseOperations = %v (%s), %v", got, got, err)
	}
	if got, err := ParseOperations("*"); err != nil || got != Ops(OpAll) {
		t.Errorf(`ParseOperations("*") = %v, %v`, got, err)
	}
	for _, bad := range []string{"", "read,", "read,publish", "readwrite"} {
		if _, err := ParseOperations(bad); err == nil || !strings.Contains(err.Error(), "unknown operation") {
			t.Errorf("ParseOperations(%q) error %v, want unknown operation", bad, err)
		}
	}
	for o := OpRead; o <= OpAll; o++ {
		if p, err := ParseOperation(o.String()); err != nil || p != o {
			t.Errorf("ParseOperation(%q) = %v, %v", o.String(), p, err)
		}
	}
	if err := OpSet(1 << 12).Validate(); err == nil || !strings.Contains(err.Error(), "unknown operation bits") {
		t.Errorf("bad bits: %v", err)
	}
	if _, err := ParseEffect("permit"); err == nil || !strings.Contains(err.Error(), `unknown effect "permit"`) {
		t.Errorf("ParseEffect(permit): %v", err)
	}
	if _, err := ParseResourceType("queue"); err == nil || !strings.Contains(err.Error(), `unknown resource type "queue"`) {
		t.Errorf("ParseResourceType(queue): %v", err)
	}
}

func TestTimeWindow(t *testing.T) {
	day, _ := ParseTimeWindow("09:00-17:00")
	night, _ := ParseTimeWindow("22:00-06:00")
	whole, _ := ParseTimeWindow("00:00-24:00")
	for _, tc := range []struct {
		w    TimeWindow
		m    int
		want bool
	}{
		{day, 9 * 60, true}, {day, 17*60 - 1, true}, {day, 17 * 60, false}, {day, 8*60 + 59, false},
		{night, 22 * 60, true}, {night, 23*60 + 59, true}, {night, 0, true}, {night, 6*60 - 1, true},
		{night, 6 * 60, false}, {night, 12 * 60, false}, {night, 22*60 - 1, false},
		{whole, 0, true}, {whole, 1439, true},
		{TimeWindow{}, 700, true},
	} {
		if got := tc.w.Contains(tc.m); got != tc.want {
			t.Errorf("%v.Contains(%s) = %v, want %v", tc.w, hhmm(uint16(tc.m)), got, tc.want)
		}
	}
	if night.String() != "22:00-06:00" || day != (TimeWindow{540, 1020}) {
		t.Errorf("night %s day %+v", night, day)
	}
	for _, tc := range []struct{ in, err string }{
		{"09:00", "want HH:MM-HH:MM"},
		{"9:00-17:00", `"9:00" is not HH:MM`},
		{"09:60-17:00", "not a time between"},
		{"25:00-01:00", "not a time between"},
		{"10:00-10:00", "window is empty"},
		{"24:00-01:00", "window is empty"},
		{"00:00-00:00", "window is empty"},
		{"24:01-01:00", "not a time between"},
	} {
		if _, err := ParseTimeWindow(tc.in); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ParseTimeWindow(%q) error %v, want %q", tc.in, err, tc.err)
		}
	}
	for _, tc := range []struct {
		w   TimeWindow
		err string
	}{
		{TimeWindow{1440, 3}, "start minute 1440 out of range"},
		{TimeWindow{3, 1441}, "end minute 1441 out of range"},
		{TimeWindow{7, 7}, "start equals end (00:07)"},
	} {
		if err := tc.w.Validate(); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%+v.Validate() = %v, want %q", tc.w, err, tc.err)
		}
	}
}

func TestParseConditions(t *testing.T) {
	c, err := ParseConditions("source_ip=10.0.0.0/8,time_range=09:00-17:00")
	if err != nil || len(c.SourceCIDRs) != 1 || c.SourceCIDRs[0].String() != "10.0.0.0/8" || c.TimeUTC != (TimeWindow{540, 1020}) {
		t.Fatalf("ParseConditions = %+v, %v", c, err)
	}
	c, err = ParseConditions("source_ip=192.168.1.0/24,10.1.0.0/16,source_ip=2001:db8::/32,source_ip=10.9.9.9")
	if err != nil || len(c.SourceCIDRs) != 4 || c.SourceCIDRs[3].String() != "10.9.9.9/32" {
		t.Fatalf("ParseConditions = %+v, %v", c, err)
	}
	if c, err := ParseConditions(" "); err != nil || !c.IsZero() {
		t.Fatalf("empty conditions = %+v, %v", c, err)
	}
	for _, tc := range []struct{ in, err string }{
		{"source_ip=10.0.0.0/33", `bad CIDR "10.0.0.0/33"`},
		{"source_ip=10.0.0.1/8", "host bits set; did you mean 10.0.0.0/8?"},
		{"source_ip=::ffff:10.0.0.0/104", "IPv4-mapped"},
		{"source_ip=banana", `bad CIDR "banana"`},
		{"time_range=09:00-17:00,time_range=01:00-02:00", "time_range given twice"},
		{"colour=red", `unknown condition "colour"`},
		{"time_range=9-5", `start: "9" is not HH:MM`},
	} {
		if _, err := ParseConditions(tc.in); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ParseConditions(%q) error %v, want %q", tc.in, err, tc.err)
		}
	}
}

func validRule() Rule {
	return Rule{Principal: Literal("app@example.com"), Resource: ResourcePattern{ResourceTopic, Prefix("events.")},
		Operations: Ops(OpWrite), Effect: Allow}
}

// TestRuleValidate: every bad field gets an error naming the field and value.
func TestRuleValidate(t *testing.T) {
	if r := validRule(); r.Validate() != nil {
		t.Fatal(r.Validate())
	}
	for _, tc := range []struct {
		name string
		edit func(*Rule)
		err  string
	}{
		{"empty principal", func(r *Rule) { r.Principal = Literal("") }, `principal "": empty`},
		{"principal two stars", func(r *Rule) { r.Principal = Prefix("a*") }, `principal "a*": more than one '*'`},
		{"principal kind", func(r *Rule) { r.Principal = Pattern{} }, "principal \"\": unknown pattern kind 0"},
		{"empty resource name", func(r *Rule) { r.Resource.Name = Literal("") }, `resource name "": empty`},
		{"resource star inside", func(r *Rule) { r.Resource.Name = Literal("a*b") }, `resource name "a*b": '*' at byte 1`},
		{"any with value", func(r *Rule) { r.Resource.Name = Pattern{Kind: PatternAny, Value: "x"} }, `wildcard pattern with value "x"`},
		{"resource type", func(r *Rule) { r.Resource.Type = 0 }, "unknown resource type 0"},
		{"no operations", func(r *Rule) { r.Operations = 0 }, "operations: no operations"},
		{"effect", func(r *Rule) { r.Effect = 3 }, "effect: unknown effect 3"},
		{"bad CIDR", func(r *Rule) { r.Conditions.SourceCIDRs = []netip.Prefix{{}} }, "not a valid prefix"},
		{"host bits", func(r *Rule) { r.Conditions.SourceCIDRs = []netip.Prefix{netip.MustParsePrefix("10.1.2.3/8")} }, "source CIDR 10.1.2.3/8: host bits set"},
		{"too many CIDRs", func(r *Rule) {
			r.Conditions.SourceCIDRs = make([]netip.Prefix, SourceCIDRsMax+1)
		}, "more than 64"},
		{"window range", func(r *Rule) { r.Conditions.TimeUTC = TimeWindow{0, 2000} }, "time window: end minute 2000 out of range"},
	} {
		r := validRule()
		tc.edit(&r)
		if err := r.Validate(); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: Validate() = %v, want %q", tc.name, err, tc.err)
		}
	}
}

// TestRuleJSON: the JSON form is readable, round-trips and validates on the
// way in.
func TestRuleJSON(t *testing.T) {
	r := validRule()
	r.ID = 4
	r.Operations = Ops(OpRead, OpWrite)
	r.Conditions = Conditions{SourceCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, TimeUTC: TimeWindow{540, 1020}}
	b, err := json.Marshal(&r)
	want := `{"id":4,"principal":"app@example.com","resource":"topic:events.*","operations":"read,write","effect":"allow",` +
		`"conditions":{"source_cidrs":["10.0.0.0/8"],"time_utc":"09:00-17:00"}}`
	if err != nil || string(b) != want {
		t.Fatalf("json %s, %v\nwant %s", b, err, want)
	}
	var back Rule
	if err := json.Unmarshal(b, &back); err != nil || back.String() != r.String() {
		t.Fatalf("round trip %v, %v", back, err)
	}
	plain := validRule()
	if b, _ := json.Marshal(&plain); strings.Contains(string(b), "conditions") {
		t.Errorf("no conditions still encoded: %s", b)
	}
	for _, bad := range []string{
		`{"principal":"a**","resource":"topic:x","operations":"read","effect":"allow"}`,
		`{"principal":"a","resource":"events.*","operations":"read","effect":"allow"}`,
		`{"principal":"a","resource":"topic:x","operations":"read,fly","effect":"allow"}`,
		`{"principal":"a","resource":"topic:x","operations":"read","effect":"maybe"}`,
		`{"principal":"a","resource":"topic:x","operations":"read","effect":"allow","conditions":{"time_utc":"25:00-01:00"}}`,
	} {
		var r Rule
		if err := json.Unmarshal([]byte(bad), &r); err == nil {
			t.Errorf("json %s accepted as %v", bad, r)
		}
	}
}

func TestTimeOfDay(t *testing.T) {
	for _, tc := range []struct {
		ns   int64
		want string
	}{
		{0, "00:00"},
		{59e9, "00:00"},
		{60e9, "00:01"},
		{(17*60 + 30) * 60e9, "17:30"},
		{86400e9 + 61e9, "00:01"},
		{-1, "23:59"},
		{-60e9, "23:59"},
		{-60e9 - 1, "23:58"},
		{1_764_770_400e9, "14:00"}, // 2025-12-03T14:00:00Z
	} {
		if got := TimeOfDayFromUnixNano(tc.ns).String(); got != tc.want {
			t.Errorf("TimeOfDayFromUnixNano(%d) = %s, want %s", tc.ns, got, tc.want)
		}
	}
	if MinuteUTC(-1) != TimeUnknown || MinuteUTC(1440) != TimeUnknown || TimeUnknown.String() != "unknown" {
		t.Error("out-of-range minutes must be unknown")
	}
	if m, ok := MinuteUTC(0).Minute(); !ok || m != 0 {
		t.Errorf("MinuteUTC(0) = %d %v", m, ok)
	}
}

func TestParseRuleAndResource(t *testing.T) {
	r, err := ParseRule("app@company.com", "topic.events.*", "read,write", "allow", "source_ip=10.0.0.0/8,time_range=09:00-17:00")
	if err != nil || r.String() != "#0 allow app@company.com read,write on topic:events.* from 10.0.0.0/8 at 09:00-17:00 UTC" {
		t.Fatalf("ParseRule = %s, %v", r.String(), err)
	}
	for _, tc := range []struct{ p, res, ops, eff, cond, err string }{
		{"", "topic:x", "read", "allow", "", "principal: pattern \"\": empty"},
		{"a", "topic:x", "fly", "allow", "", `operations: unknown operation "fly"`},
		{"a", "topic:x", "read", "permit", "", `effect: unknown effect "permit"`},
		{"a", "topic:x", "read", "allow", "source_ip=10.0.0.0/40", `conditions: condition "source_ip=10.0.0.0/40": bad CIDR`},
		{"a", "x", "read", "allow", "", `unknown resource type "x"`},
	} {
		if _, err := ParseRule(tc.p, tc.res, tc.ops, tc.eff, tc.cond); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ParseRule(%q, %q, %q, %q, %q) = %v, want %q", tc.p, tc.res, tc.ops, tc.eff, tc.cond, err, tc.err)
		}
	}
	for in, want := range map[string]Resource{
		"topic.events.user-login": {ResourceTopic, "events.user-login"},
		"topic:orders":            {ResourceTopic, "orders"},
		"group:billing":           {ResourceGroup, "billing"},
		"cluster":                 {ResourceCluster, "cluster"},
	} {
		if got, err := ParseResource(in); err != nil || got != want {
			t.Errorf("ParseResource(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"topic:", "topic:a*", "orders", ""} {
		if _, err := ParseResource(bad); err == nil {
			t.Errorf("ParseResource(%q) accepted", bad)
		}
	}
}

// FuzzParse: no input string panics a parser, and whatever parses
// round-trips through its text form.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"*", "a*", "topic.events.*", "group:x", "cluster", "read,write", "09:00-17:00",
		"source_ip=10.0.0.0/8,time_range=22:00-06:00", "::ffff:1.2.3.4/128", "a**", "24:00-00:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if p, err := ParsePattern(s); err == nil {
			if q, err := ParsePattern(p.String()); err != nil || q != p {
				t.Fatalf("pattern %q → %v → %v, %v", s, p, q, err)
			}
		}
		if rp, err := ParseResourcePattern(s); err == nil {
			if q, err := ParseResourcePattern(rp.String()); err != nil || q != rp {
				t.Fatalf("resource %q → %v → %v, %v", s, rp, q, err)
			}
		}
		if o, err := ParseOperations(s); err == nil {
			if q, err := ParseOperations(o.String()); err != nil || q != o {
				t.Fatalf("ops %q → %v → %v, %v", s, o, q, err)
			}
		}
		if w, err := ParseTimeWindow(s); err == nil {
			if q, err := ParseTimeWindow(w.String()); err != nil || q != w {
				t.Fatalf("window %q → %v → %v, %v", s, w, q, err)
			}
		}
		if c, err := ParseConditions(s); err == nil {
			if err := c.Validate(); err != nil {
				t.Fatalf("conditions %q parsed invalid: %v", s, err)
			}
		}
		_, _ = ParseResource(s)
		_, _ = ParseRule(s, s, s, s, s)
	})
}
