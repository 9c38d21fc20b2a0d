package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/acl"
)

// secServer is a leading controller with the fake backend, a fixed clock
// (13:30 UTC) and an audit reader that records its queries.
type secServer struct {
	b       *fakeBackend
	h       http.Handler
	queries []AuditQuery
	page    AuditPage
	pageErr error
}

var secNow = time.Date(2026, 12, 3, 13, 30, 0, 0, time.UTC)

func newSec(t *testing.T) *secServer {
	t.Helper()
	ss := &secServer{b: newFake(1, 1)}
	cfg := Config{Self: 1, RequestTimeout: 2 * time.Second, Log: zerolog.Nop(), Now: func() time.Time { return secNow },
		Audit: func(_ context.Context, path string, q AuditQuery) (AuditPage, error) {
			ss.queries = append(ss.queries, q)
			return ss.page, ss.pageErr
		}}
	s := New(cfg, ss.b)
	ss.h = s.Handler()
	return ss
}

func (ss *secServer) do(t *testing.T, method, path, body string) *answer {
	t.Helper()
	ct := ""
	if body != "" {
		ct = jsonType
	}
	return do(t, ss.h, method, path, ct, body)
}

func data[T any](t *testing.T, a *answer) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(a.env.Data, &v); err != nil {
		t.Fatalf("data %s: %v", a.env.Data, err)
	}
	return v
}

// Goal: a rule created from the CLI's strings is listed in the API's shape
// with its ID, filters select by principal, resource, operation and effect,
// and deletes by ID and by filter remove exactly what they name.
func TestACLCreateListDelete(t *testing.T) {
	ss := newSec(t)
	a := ss.do(t, "POST", "/api/v1/acls", `{"principal":"app@example.com","resource":"topic.events.*","permissions":"read,write","effect":"allow","conditions":"source_ip=10.0.0.0/8,time_range=09:00-17:00"}`)
	expect(t, a, 201, "")
	wr := data[aclWriteResult](t, a)
	if wr.Version != 1 || !slices.Equal(wr.Created, []acl.RuleID{1}) || len(wr.Rules) != 1 || wr.Message != "ACL rule 1 created (version 1)" {
		t.Fatalf("create: %s", a.env.Data)
	}
	got := compact(t, string(mustJSON(t, wr.Rules[0])))
	want := `{"id":1,"principal":"app@example.com","resource":"topic:events.*","operations":["read","write"],"effect":"allow","source_ips":["10.0.0.0/8"],"time_range":"09:00-17:00","description":"#1 allow app@example.com read,write on topic:events.* from 10.0.0.0/8 at 09:00-17:00 UTC"}`
	if got != want {
		t.Fatalf("rule view\n got %s\nwant %s", got, want)
	}
	a = ss.do(t, "POST", "/api/v1/acls", `{"rules":[{"principal":"*","resource":"group:billing","operations":["read"],"effect":"allow"},
		{"principal":"bad-*","resource":"topic:orders","operations":"write","effect":"deny"}]}`)
	expect(t, a, 201, "")
	if wr := data[aclWriteResult](t, a); !slices.Equal(wr.Created, []acl.RuleID{2, 3}) || wr.Version != 2 || wr.Message != "2 ACL rule(s) created (version 2)" {
		t.Fatalf("bulk create: %s", a.env.Data)
	}

	list := func(q string) []acl.RuleID {
		t.Helper()
		a := ss.do(t, "GET", "/api/v1/acls"+q, "")
		expect(t, a, 200, "")
		l := data[aclList](t, a)
		var ids []acl.RuleID
		for _, r := range l.Rules {
			ids = append(ids, r.ID)
		}
		if l.Count != len(ids) || l.Version != 2 {
			t.Fatalf("list%s: %s", q, a.env.Data)
		}
		return ids
	}
	for q, want := range map[string][]acl.RuleID{
		"":                                         {1, 2, 3},
		"?principal=app@example.com":               {1},
		"?principal=*":                             {2},
		"?resource=topic":                          {1, 3},
		"?resource=topic:events.*":                 {1},
		"?resource=topic.orders":                   {3},
		"?operation=read":                          {1, 2},
		"?effect=deny":                             {3},
		"?effect=allow&resource=group":             {2},
		"?principal=nobody":                        nil,
		"?operation=describe&effect=allow":         nil,
		"?resource=transactional_id:x&effect=deny": nil,
	} {
		if got := list(q); !slices.Equal(got, want) {
			t.Errorf("list%s: %v, want %v", q, got, want)
		}
	}

	// pages
	a = ss.do(t, "GET", "/api/v1/acls?limit=2", "")
	expect(t, a, 200, "")
	if l := data[aclList](t, a); l.Count != 2 || l.Total != 3 || l.NextAfter == nil || *l.NextAfter != 2 {
		t.Fatalf("page 1: %s", a.env.Data)
	}
	a = ss.do(t, "GET", "/api/v1/acls?limit=2&after=2", "")
	if l := data[aclList](t, a); l.Count != 1 || l.Rules[0].ID != 3 || l.NextAfter != nil || l.Total != 3 {
		t.Fatalf("page 2: %s", a.env.Data)
	}
	a = ss.do(t, "GET", "/api/v1/acls?after=1&operation=read", "")
	if l := data[aclList](t, a); l.Count != 1 || l.Rules[0].ID != 2 || l.Total != 2 {
		t.Fatalf("filtered page: %s", a.env.Data)
	}
	a = ss.do(t, "GET", "/api/v1/acls?after=99", "")
	if l := data[aclList](t, a); l.Count != 0 || l.Rules == nil || l.NextAfter != nil {
		t.Fatalf("past the end: %s", a.env.Data)
	}
	expect(t, ss.do(t, "GET", "/api/v1/acls?limit=0", ""), 400, "limit: ")
	expect(t, ss.do(t, "GET", "/api/v1/acls?limit=300000", ""), 400, "limit: ")
	expect(t, ss.do(t, "GET", "/api/v1/acls?after=-1", ""), 400, "after: ")

	a = ss.do(t, "DELETE", "/api/v1/acls/2", "")
	expect(t, a, 200, "")
	if wr := data[aclWriteResult](t, a); !slices.Equal(wr.Deleted, []acl.RuleID{2}) || wr.Version != 3 || wr.Message != "ACL rule 2 deleted (version 3)" {
		t.Fatalf("delete: %s", a.env.Data)
	}
	expect(t, ss.do(t, "DELETE", "/api/v1/acls/2", ""), 404, "no such rule: rule 2")

	a = ss.do(t, "POST", "/api/v1/acls/delete", `{"effect":"deny"}`)
	expect(t, a, 200, "")
	if wr := data[aclWriteResult](t, a); !slices.Equal(wr.Deleted, []acl.RuleID{3}) || wr.Message != "1 ACL rule(s) deleted (version 4)" {
		t.Fatalf("delete matching: %s", a.env.Data)
	}
	a = ss.do(t, "POST", "/api/v1/acls/delete", `{"principal":"nobody"}`)
	expect(t, a, 200, "")
	if wr := data[aclWriteResult](t, a); len(wr.Deleted) != 0 || wr.Version != 4 {
		t.Fatalf("delete matching nothing: %s", a.env.Data)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Goal: every malformed input is a 400 naming its field, before anything
// reaches the controller.
func TestACLBadInput(t *testing.T) {
	ss := newSec(t)
	rule := func(mod string) string {
		return `{"principal":"p","resource":"topic:t","operations":"read","effect":"allow"` + mod + `}`
	}
	cases := []struct{ method, path, body, want string }{
		{"POST", "/api/v1/acls", rule(`,"conditions":"source_ip=10.0.0.1/8"`), "conditions: "},
		{"POST", "/api/v1/acls", rule(`,"conditions":"source_ip=10.0.0.300/8"`), "conditions: "},
		{"POST", "/api/v1/acls", rule(`,"conditions":"weekday=mon"`), `unknown condition "weekday"`},
		{"POST", "/api/v1/acls", `{"principal":"p","resource":"topic:t","operations":"read,fly","effect":"allow"}`, `operations: unknown operation "fly"`},
		{"POST", "/api/v1/acls", `{"principal":"p","resource":"topic:t","operations":[],"effect":"allow"}`, "operations: empty list"},
		{"POST", "/api/v1/acls", `{"principal":"p","resource":"topic:t","operations":7,"effect":"allow"}`, "operations: want a string"},
		{"POST", "/api/v1/acls", `{"principal":"p","resource":"topic:t","operations":"read","permissions":"read","effect":"allow"}`, "operations: given with permissions"},
		{"POST", "/api/v1/acls", `{"principal":"a*b","resource":"topic:t","operations":"read","effect":"allow"}`, "principal: "},
		{"POST", "/api/v1/acls", `{"principal":"","resource":"topic:t","operations":"read","effect":"allow"}`, "principal: "},
		{"POST", "/api/v1/acls", `{"principal":"p","resource":"queue:t","operations":"read","effect":"allow"}`, "resource: "},
		{"POST", "/api/v1/acls", `{"principal":"p","resource":"topic:a**","operations":"read","effect":"allow"}`, "resource: "},
		{"POST", "/api/v1/acls", `{"principal":"p","resource":"topic:t","operations":"read","effect":"maybe"}`, "effect: "},
		{"POST", "/api/v1/acls", `{"resource":"topic:t","operations":"read","effect":"allow"}`, "principal: required"},
		{"POST", "/api/v1/acls", `{"principal":"p","operations":"read","effect":"allow"}`, "resource: required"},
		{"POST", "/api/v1/acls", `{"principal":"p","resource":"topic:t","effect":"allow"}`, "operations: required"},
		{"POST", "/api/v1/acls", `{"principal":"p","resource":"topic:t","operations":"read"}`, "effect: required"},
		{"POST", "/api/v1/acls", rule(`,"colour":"red"`), `"colour": unknown field`},
		{"POST", "/api/v1/acls", `{"rules":[]}`, "rules: empty"},
		{"POST", "/api/v1/acls", `{"rules":[{"principal":"p","resource":"topic:t","operations":"read","effect":"allow"},{"principal":"p"}]}`, "rules[1].resource: required"},
		{"POST", "/api/v1/acls", `{"principal":"p","rules":[]}`, "rules: given with a rule's own fields"},
		{"POST", "/api/v1/acls", `{"principal":`, "malformed JSON"},
		{"POST", "/api/v1/acls", `[]`, "want"},
		{"POST", "/api/v1/acls", rule("") + "{}", "data after the JSON value"},
		{"POST", "/api/v1/acls", `{"principal":"` + strings.Repeat("x", 2000) + `","resource":"topic:t","operations":"read","effect":"allow"}`, "principal: "},
		{"GET", "/api/v1/acls?principle=x", "", `"principle": unknown query parameter`},
		{"GET", "/api/v1/acls?principal=a&principal=b", "", "principal: given 2 times"},
		{"GET", "/api/v1/acls?operation=fly", "", "operation: "},
		{"GET", "/api/v1/acls?resource=queue", "", "resource: "},
		{"GET", "/api/v1/acls?effect=x", "", "effect: "},
		{"GET", "/api/v1/acls?principal=a**", "", "principal: "},
		{"DELETE", "/api/v1/acls/abc", "", `id: "abc" is not a rule ID`},
		{"DELETE", "/api/v1/acls/0", "", "id: "},
		{"DELETE", "/api/v1/acls/99999999999999999999999", "", "id: "},
		{"POST", "/api/v1/acls/delete", `{}`, "empty filter would delete every rule"},
		{"POST", "/api/v1/acls/delete", `{"operation":"fly"}`, "operation: "},
		{"POST", "/api/v1/acls/delete", `{"all":true}`, `"all": unknown field`},
		{"GET", "/api/v1/acls/permissions", "", "principal: required"},
		{"GET", "/api/v1/acls/permissions?principal=" + strings.Repeat("x", 1100), "", "principal: longer than"},
		{"GET", "/api/v1/security/status?x=1", "", `"x": unknown query parameter`},
	}
	for _, c := range cases {
		a := ss.do(t, c.method, c.path, c.body)
		if a.status != 400 || !strings.Contains(a.err(), c.want) {
			t.Errorf("%s %s %.80s: %d %q, want 400 with %q", c.method, c.path, c.body, a.status, a.err(), c.want)
		}
	}
	if st, _, _ := ss.b.ACLs(context.Background()); st.Version() != 0 {
		t.Fatalf("a refused request changed the rules: version %d", st.Version())
	}
	a := do(t, ss.h, "POST", "/api/v1/acls", "text/plain", rule(""))
	expect(t, a, 415, "Content-Type must be application/json")
}

// Goal: hostile sizes are refused with their limit named.
func TestACLHostileSizes(t *testing.T) {
	ss := newSec(t)
	one := `{"principal":"p","resource":"topic:t","operations":"read","effect":"allow"}`
	many := "[" + strings.TrimSuffix(strings.Repeat(`{"principal":"p","resource":"topic:t","operation":"read"},`, aclTestsMax+1), ",") + "]"
	expect(t, ss.do(t, "POST", "/api/v1/acls/bulk-test", many), 400, fmt.Sprintf("more than %d", aclTestsMax))
	rules := `{"rules":[` + strings.TrimSuffix(strings.Repeat(one+",", aclCreateMax+1), ",") + `]}`
	expect(t, ss.do(t, "POST", "/api/v1/acls", rules), 400, fmt.Sprintf("rules: %d, more than %d", aclCreateMax+1, aclCreateMax))
	expect(t, ss.do(t, "POST", "/api/v1/acls", `{"rules":[`+strings.Repeat(" ", 1<<20)+`]}`), 413, "request body above")
	rules = `{"rules":[` + strings.TrimSuffix(strings.Repeat(`{"principal":"p","resource":"topic:t","operations":"read","effect":"allow"},`, 1000), ",") + `]}`
	expect(t, ss.do(t, "POST", "/api/v1/acls", rules), 201, "")
	expect(t, ss.do(t, "GET", "/api/v1/audit?limit=10001", ""), 400, "limit: ")
}

// Goal: a command the controller refuses is a 400 carrying its message;
// a follower forwards ACL writes to the leader; no reply is 503 or 504
// pointing at GET /api/v1/acls.
func TestACLControllerAnswers(t *testing.T) {
	ss := newSec(t)
	ss.b.acls = &acl.State{}
	ss.b.aclOptions = acl.Options{}
	// a full rule set: the state refuses the command
	big := make([]acl.Rule, 0, acl.RulesMax)
	for range acl.RulesMax {
		r, _ := acl.ParseRule("p", "topic:t", "read", "allow", "")
		big = append(big, r)
	}
	if _, err := ss.b.acls.Create(big...); err != nil {
		t.Fatal(err)
	}
	expect(t, ss.do(t, "POST", "/api/v1/acls", `{"principal":"p","resource":"topic:t","operations":"read","effect":"allow"}`), 400, "too many rules")

	f := newFake(1, 1)
	fs := New(Config{Self: 1, Log: zerolog.Nop()}, &aclErrBackend{f, ErrUnavailable})
	expect(t, do(t, fs.Handler(), "DELETE", "/api/v1/acls/1", "", ""), 503, "nothing was done")
	fs = New(Config{Self: 1, Log: zerolog.Nop()}, &aclErrBackend{f, context.DeadlineExceeded})
	expect(t, do(t, fs.Handler(), "DELETE", "/api/v1/acls/1", "", ""), 504, "check GET /api/v1/acls")
	fs = New(Config{Self: 1, Log: zerolog.Nop()}, &aclErrBackend{f, errors.New("down")})
	expect(t, do(t, fs.Handler(), "GET", "/api/v1/acls", "", ""), 503, "ACL rules unavailable")
	expect(t, do(t, fs.Handler(), "GET", "/api/v1/security/status", "", ""), 503, "ACL rules unavailable")
	expect(t, do(t, fs.Handler(), "GET", "/api/v1/acls/permissions?principal=p", "", ""), 503, "ACL rules unavailable")
	expect(t, do(t, fs.Handler(), "POST", "/api/v1/acls/test", jsonType, `{"principal":"p","resource":"topic:t","operation":"read"}`), 503, "ACL rules unavailable")
	expect(t, do(t, fs.Handler(), "POST", "/api/v1/acls/bulk-test", jsonType, `[{"principal":"p","resource":"topic:t","operation":"read"}]`), 503, "ACL rules unavailable")
	expect(t, do(t, fs.Handler(), "POST", "/api/v1/acls", jsonType, `{"principal":"p","resource":"topic:t","operations":"read","effect":"allow"}`), 504, "outcome unknown")

	// forwarding: the follower relays the leader's answer
	leader := newSec(t)
	srv := httptest.NewServer(leader.h)
	defer srv.Close()
	fol := newFake(2, 1)
	fsrv := New(Config{Self: 2, Log: zerolog.Nop(), LeaderURL: func(id sm.NodeID) (string, bool) { return srv.URL, id == 1 }}, fol)
	a := do(t, fsrv.Handler(), "POST", "/api/v1/acls", jsonType, `{"principal":"p","resource":"topic:t","operations":"read","effect":"allow"}`)
	expect(t, a, 201, "")
	if st, _, _ := leader.b.ACLs(context.Background()); st.Len() != 1 {
		t.Fatalf("leader has %d rules", st.Len())
	}
	if st, _, _ := fol.ACLs(context.Background()); st.Len() != 0 {
		t.Fatal("the follower applied the write itself")
	}
	expect(t, do(t, fsrv.Handler(), "DELETE", "/api/v1/acls/1", "", ""), 200, "")
	expect(t, do(t, fsrv.Handler(), "POST", "/api/v1/acls/delete", jsonType, `{"principal":"p"}`), 200, "")
	// bad input is refused on the follower itself
	expect(t, do(t, fsrv.Handler(), "POST", "/api/v1/acls", jsonType, `{}`), 400, "principal: required")
	// a follower that cannot reach a leader
	lost := New(Config{Self: 2, Log: zerolog.Nop()}, newFake(2, sm.NoNode))
	expect(t, do(t, lost.Handler(), "DELETE", "/api/v1/acls/1", "", ""), 503, "no controller leader is known")
	// the leader answers, but not as this API: outcome unknown, check the ACLs
	bogus := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) }))
	defer bogus.Close()
	bad := New(Config{Self: 2, Log: zerolog.Nop(), LeaderURL: func(sm.NodeID) (string, bool) { return bogus.URL, true }}, newFake(2, 1))
	expect(t, do(t, bad.Handler(), "DELETE", "/api/v1/acls/1", "", ""), 502, "check GET /api/v1/acls before retrying")
}

// aclErrBackend's ACL calls fail with err.
type aclErrBackend struct {
	*fakeBackend
	err error
}

func (b *aclErrBackend) ApplyACL(context.Context, sm.ACLRequest) (sm.ACLResponse, error) {
	return sm.ACLResponse{}, b.err
}

func (b *aclErrBackend) ACLs(context.Context) (*acl.State, acl.Options, error) {
	return nil, acl.Options{}, b.err
}

func (ss *secServer) create(t *testing.T, principal, resource, ops, effect, conds string) {
	t.Helper()
	body := mustJSON(t, map[string]string{"principal": principal, "resource": resource, "operations": ops, "effect": effect, "conditions": conds})
	expect(t, ss.do(t, "POST", "/api/v1/acls", string(body)), 201, "")
}

// Goal: acl test decides as the compiled authorizer does, with the
// deciding rule and reason, the source and time conditions, super users
// and allow_everyone_if_no_acl_found; bulk-test counts and checks expect.
func TestACLTest(t *testing.T) {
	ss := newSec(t)
	ss.create(t, "app@example.com", "topic.events.*", "write", "allow", "")
	ss.create(t, "app@example.com", "topic:events.secret", "write", "deny", "")
	ss.create(t, "ops-*", "topic:*", "read", "allow", "source_ip=10.0.0.0/8,time_range=09:00-17:00")
	ss.b.aclOptions = acl.Options{SuperUsers: []string{"root"}, AllowIfNoRules: true}

	cases := []struct {
		body            string
		allowed         bool
		reason          string
		rule            uint64
		timeUTC, source string
	}{
		{`{"principal":"app@example.com","resource":"topic:events.a","operation":"write"}`, true, "allowed_by_rule", 1, "13:30", ""},
		{`{"principal":"app@example.com","resource":"topic.events.a","operation":"describe"}`, true, "allowed_by_rule", 1, "13:30", ""},
		{`{"principal":"app@example.com","resource":"topic:events.secret","operation":"write"}`, false, "denied_by_rule", 2, "13:30", ""},
		{`{"principal":"app@example.com","resource":"topic:events.a","operation":"read"}`, false, "no_matching_allow", 0, "13:30", ""},
		{`{"principal":"ops-1","resource":"topic:orders","operation":"read","source_ip":"10.1.2.3:5000","time":"10:00"}`, true, "allowed_by_rule", 3, "10:00", "10.1.2.3"},
		{`{"principal":"ops-1","resource":"topic:orders","operation":"read","source_ip":"10.1.2.3","time":"2026-12-03T20:00:00Z"}`, false, "no_matching_allow", 0, "20:00", "10.1.2.3"},
		{`{"principal":"ops-1","resource":"topic:orders","operation":"read","time":"10:00"}`, false, "no_matching_allow", 0, "10:00", ""},
		{`{"principal":"ops-1","resource":"topic:orders","operation":"read","source_ip":"10.1.2.3","time":"unknown"}`, false, "no_matching_allow", 0, "unknown", "10.1.2.3"},
		{`{"principal":"root","resource":"cluster","operation":"alter"}`, true, "super_user", 0, "13:30", ""},
		{`{"principal":"","resource":"group:g","operation":"read"}`, true, "no_acl_found_allow_everyone", 0, "13:30", ""},
	}
	for _, c := range cases {
		a := ss.do(t, "POST", "/api/v1/acls/test", c.body)
		expect(t, a, 200, "")
		var r struct {
			testResult
			Version uint64 `json:"version"`
		}
		r = data[struct {
			testResult
			Version uint64 `json:"version"`
		}](t, a)
		src := ""
		if r.SourceIP != nil {
			src = *r.SourceIP
		}
		rule := uint64(0)
		if r.RuleID != nil {
			rule = *r.RuleID
			if r.Rule == nil || uint64(r.Rule.ID) != rule {
				t.Errorf("%s: rule_id %d without its rule: %s", c.body, rule, a.env.Data)
			}
		}
		if r.Allowed != c.allowed || r.Reason != c.reason || rule != c.rule || r.TimeUTC != c.timeUTC || src != c.source || r.Version != 3 ||
			r.Decision != map[bool]string{true: "allow", false: "deny"}[c.allowed] {
			t.Errorf("%s: %s", c.body, a.env.Data)
		}
		// the reference evaluator agrees
		st, opt, _ := ss.b.ACLs(context.Background())
		var tb testBody
		json.Unmarshal([]byte(c.body), &tb)
		req, _, rerr := tb.parse("", secNow)
		if rerr != nil {
			t.Fatal(rerr.msg)
		}
		if d := st.Evaluate(opt, req); d.Allowed != c.allowed || uint64(d.RuleID) != c.rule {
			t.Errorf("%s: linear evaluator says %+v", c.body, d)
		}
	}
	for body, want := range map[string]string{
		`{"resource":"topic:t","operation":"read"}`:                                    "principal: required",
		`{"principal":"p","operation":"read"}`:                                         "resource: required",
		`{"principal":"p","resource":"topic:t"}`:                                       "operation: required",
		`{"principal":"p","resource":"topic:t*","operation":"read"}`:                   "resource: ",
		`{"principal":"p","resource":"topic:t","operation":"all"}`:                     `operation: "all" is not a request`,
		`{"principal":"p","resource":"topic:t","operation":"fly"}`:                     "operation: ",
		`{"principal":"p","resource":"topic:t","operation":"read","source_ip":"x"}`:    "source_ip: ",
		`{"principal":"p","resource":"topic:t","operation":"read","time":"25:00"}`:     "time: ",
		`{"principal":"p","resource":"topic:t","operation":"read","expect":"maybe"}`:   "expect: ",
		`{"principal":"p","resource":"topic:t","operation":"read","source":"1.2.3.4"}`: `"source": unknown field`,
	} {
		expect(t, ss.do(t, "POST", "/api/v1/acls/test", body), 400, want)
	}

	bulk := `[{"principal":"app@example.com","resource":"topic:events.a","operation":"write","expect":"allow"},
		{"principal":"app@example.com","resource":"topic:orders","operation":"write","expect":"allow"},
		{"principal":"app@example.com","resource":"topic:events.secret","operation":"write","expect":"deny"},
		{"principal":"x","resource":"topic:events.a","operation":"read"}]`
	for _, body := range []string{bulk, `{"requests":` + bulk + `}`} {
		a := ss.do(t, "POST", "/api/v1/acls/bulk-test", body)
		expect(t, a, 200, "")
		br := data[bulkResult](t, a)
		// topic:orders is covered by rule 3 (ops-* on topic:*), so no default allow
		if br.Total != 4 || br.Allowed != 1 || br.Denied != 3 || br.Failed != 1 || len(br.Results) != 4 ||
			br.Results[1].Pass == nil || *br.Results[1].Pass || br.Results[3].Pass != nil {
			t.Errorf("bulk: %s", a.env.Data)
		}
	}
	expect(t, ss.do(t, "POST", "/api/v1/acls/bulk-test", `[]`), 400, "requests: empty")
	expect(t, ss.do(t, "POST", "/api/v1/acls/bulk-test", `{}`), 400, "requests: required")
	expect(t, ss.do(t, "POST", "/api/v1/acls/bulk-test", `[{"principal":"p","resource":"topic:t","operation":"read"},{"principal":"p"}]`), 400, "requests[1].resource: required")
}

// Goal: permissions lists the rules whose principal pattern covers the
// principal, and says whether it is a super user.
func TestACLPermissions(t *testing.T) {
	ss := newSec(t)
	ss.create(t, "app@example.com", "topic:a", "read", "allow", "")
	ss.create(t, "app*", "topic:b", "read", "allow", "")
	ss.create(t, "*", "topic:c", "read", "deny", "")
	ss.create(t, "other", "topic:d", "read", "allow", "")
	ss.b.aclOptions.SuperUsers = []string{"app@example.com"}
	a := ss.do(t, "GET", "/api/v1/acls/permissions?principal=app@example.com", "")
	expect(t, a, 200, "")
	p := data[permissions](t, a)
	var ids []acl.RuleID
	for _, r := range p.Rules {
		ids = append(ids, r.ID)
	}
	if !slices.Equal(ids, []acl.RuleID{1, 2, 3}) || !p.SuperUser || p.Count != 3 || p.Principal != "app@example.com" || p.Version != 4 {
		t.Fatalf("permissions: %s", a.env.Data)
	}
	a = ss.do(t, "GET", "/api/v1/acls/permissions?principal=", "")
	expect(t, a, 200, "")
	if p := data[permissions](t, a); p.Count != 1 || p.SuperUser {
		t.Fatalf("permissions of no principal: %s", a.env.Data)
	}
}

// Goal: the audit endpoint passes the parsed, bounded filter to the
// reader, returns the most recent events and says when there were more;
// it is a clear 404 when auditing is off.
func TestAudit(t *testing.T) {
	ss := newSec(t)
	expect(t, ss.do(t, "GET", "/api/v1/audit", ""), 404, "audit logging is off on controller-1")
	ss.b.auditLog = "/var/log/weir/audit.log"
	ev := func(i int) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"time":"2026-12-03T13:0%d:00Z","type":"admin_write"}`, i))
	}
	ss.page = AuditPage{Events: []json.RawMessage{ev(1), ev(2), ev(3)}, Malformed: 2, Files: 1}
	a := ss.do(t, "GET", "/api/v1/audit?since=15m&until=2026-12-03T13:29:00Z&type=authorization_denied,admin_write&type=acl_rule_created&principal=app&limit=2", "")
	expect(t, a, 200, "")
	d := data[auditData](t, a)
	if d.Count != 2 || !d.Truncated || string(d.Events[0]) != string(ev(2)) || d.Malformed != 2 || d.Path != "/var/log/weir/audit.log" || d.Node != "controller-1" || d.Errors == nil {
		t.Fatalf("audit: %s", a.env.Data)
	}
	q := ss.queries[len(ss.queries)-1]
	if !q.Since.Equal(secNow.Add(-15*time.Minute)) || !q.Until.Equal(secNow.Add(-time.Minute)) || q.Limit != 3 || q.Principal != "app" ||
		!slices.Equal(q.Types, []string{"authorization_denied", "admin_write", "acl_rule_created"}) {
		t.Fatalf("query: %+v", q)
	}
	a = ss.do(t, "GET", "/api/v1/audit", "")
	expect(t, a, 200, "")
	if d := data[auditData](t, a); d.Count != 3 || d.Truncated || ss.queries[len(ss.queries)-1].Limit != AuditLimitDefault+1 {
		t.Fatalf("audit default: %s %+v", a.env.Data, ss.queries[len(ss.queries)-1])
	}
	ss.page = AuditPage{}
	a = ss.do(t, "GET", "/api/v1/audit", "")
	if d := data[auditData](t, a); d.Count != 0 || d.Events == nil {
		t.Fatalf("empty audit: %s", a.env.Data)
	}
	for q, want := range map[string]string{
		"?since=yesterday":         "since: ",
		"?since=-5m":               "since: ",
		"?until=x":                 "until: ",
		"?since=1m&until=2m":       "until: ",
		"?limit=0":                 "limit: ",
		"?limit=abc":               "limit: ",
		"?limits=1":                `"limits": unknown query parameter`,
		"?principal=a&principal=b": "principal: given 2 times",
	} {
		expect(t, ss.do(t, "GET", "/api/v1/audit"+q, ""), 400, want)
	}
	ss.pageErr = fmt.Errorf("%w: unknown event type \"nope\"", ErrBadAuditQuery)
	expect(t, ss.do(t, "GET", "/api/v1/audit?type=nope", ""), 400, `unknown event type "nope"`)
	ss.pageErr = errors.New("disk on fire")
	expect(t, ss.do(t, "GET", "/api/v1/audit", ""), 503, "disk on fire")

	noReader := New(Config{Self: 1, Log: zerolog.Nop()}, ss.b)
	expect(t, do(t, noReader.Handler(), "GET", "/api/v1/audit", "", ""), 501, "cannot read it")
}

// Goal: security status reports the rule count and version, the
// authorizer options and the audit log.
func TestSecurityStatus(t *testing.T) {
	ss := newSec(t)
	a := ss.do(t, "GET", "/api/v1/security/status", "")
	expect(t, a, 200, "")
	if got := compact(t, string(a.env.Data)); got != `{"node":"controller-1","acl":{"rules":0,"version":0,"allow_everyone_if_no_acl_found":false,"super_users":[]},"audit":{"enabled":false,"path":null}}` {
		t.Fatalf("status: %s", got)
	}
	ss.create(t, "p", "topic:t", "read", "allow", "")
	ss.b.aclOptions = acl.Options{SuperUsers: []string{"zed", "admin"}, AllowIfNoRules: true}
	ss.b.auditLog = "/a.log"
	a = ss.do(t, "GET", "/api/v1/security/status", "")
	if got := compact(t, string(a.env.Data)); got != `{"node":"controller-1","acl":{"rules":1,"version":1,"allow_everyone_if_no_acl_found":true,"super_users":["admin","zed"]},"audit":{"enabled":true,"path":"/a.log"}}` {
		t.Fatalf("status: %s", got)
	}
}

// Goal: the security paths answer 405 with Allow for methods they do not
// serve, and Pattern labels them.
func TestSecurityMethods(t *testing.T) {
	ss := newSec(t)
	for path, allow := range map[string]string{
		"/api/v1/acls": "GET, HEAD, POST", "/api/v1/acls/7": "DELETE", "/api/v1/acls/test": "POST", "/api/v1/acls/bulk-test": "POST",
		"/api/v1/acls/delete": "POST", "/api/v1/acls/permissions": "GET, HEAD", "/api/v1/audit": "GET, HEAD", "/api/v1/security/status": "GET, HEAD",
	} {
		for _, m := range []string{"PUT", "PATCH", "DELETE", "GET"} {
			if strings.Contains(allow, m) {
				continue
			}
			a := ss.do(t, m, path, "")
			if a.status != 405 || a.header.Get("Allow") != allow || !strings.Contains(a.err(), "not allowed") {
				t.Errorf("%s %s: %d Allow %q %q", m, path, a.status, a.header.Get("Allow"), a.err())
			}
		}
	}
	for path, want := range map[string]string{
		"GET /api/v1/acls/permissions": "GET /api/v1/acls/permissions", "DELETE /api/v1/acls/3": "DELETE /api/v1/acls/{id}",
		"POST /api/v1/acls/test": "POST /api/v1/acls/test", "GET /api/v1/audit": "GET /api/v1/audit",
	} {
		m, p, _ := strings.Cut(path, " ")
		if got := Pattern(httptest.NewRequest(m, p, nil)); got != want {
			t.Errorf("Pattern(%s) = %q, want %q", path, got, want)
		}
	}
}
