package admin

// The security endpoints: ACL rules (list, create, delete, test), the audit
// log, and the security status.
//
//	GET    /api/v1/acls                list rules (?principal= &resource= &operation= &effect=)
//	POST   /api/v1/acls                create one rule, or many ({"rules": [...]})
//	DELETE /api/v1/acls/{id}           delete one rule
//	POST   /api/v1/acls/delete         delete the rules a filter selects
//	POST   /api/v1/acls/test           decide one request as brokers would
//	POST   /api/v1/acls/bulk-test      decide many
//	GET    /api/v1/acls/permissions    the rules whose principal pattern covers ?principal=
//	GET    /api/v1/audit               this controller's audit events
//	GET    /api/v1/security/status     rule count and version, authorizer options, audit
//
// ACL reads (list, permissions, test) answer from this controller's applied
// rule set, as topic reads do: a follower may be a little behind. Writes go
// to the leader (forwarded, at most one hop). The audit log is per process:
// GET /api/v1/audit reads the events this controller wrote.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/acl"
)

// Limits of the security endpoints.
const (
	// ACLPageDefault is GET /api/v1/acls' page size when the query names
	// none (?limit=, at most acl.RulesMax): a rule is about 250 bytes of
	// JSON, so a page stays a few MiB.
	ACLPageDefault = 10_000
	// aclCreateMax bounds the rules of one create request.
	aclCreateMax = 10_000
	// aclTestsMax bounds the requests of one bulk test.
	aclTestsMax = 10_000
	// AuditLimitDefault and AuditLimitMax bound GET /api/v1/audit.
	AuditLimitDefault = 100
	AuditLimitMax     = 10_000
	// aclsCheck is where a client checks an ACL write whose outcome is
	// unknown.
	aclsCheck = "GET /api/v1/acls"
)

// AuditQuery is GET /api/v1/audit's filter, checked and bounded: Types are
// event type names as the query gave them (the AuditReader checks them),
// Limit is in 1..AuditLimitMax.
type AuditQuery struct {
	Since, Until time.Time // zero: unbounded
	Types        []string
	Principal    string
	Limit        int
}

// AuditPage is what an AuditReader found: the most recent matching events,
// oldest first, each a JSON object (an audit line), and what the read met
// besides events.
type AuditPage struct {
	Events    []json.RawMessage
	Files     int      // files read
	Malformed int      // lines skipped as not an event
	Errors    []string // files that could not be read through
}

// AuditReader reads the audit log at path for GET /api/v1/audit. The
// process plugs in cmd/internal/audit's Query (this package cannot import
// it: it is internal to cmd/). An error wrapping ErrBadAuditQuery is the
// client's (an unknown event type) and answered 400 with its message.
type AuditReader func(ctx context.Context, path string, q AuditQuery) (AuditPage, error)

// ErrBadAuditQuery marks an AuditReader error that is the query's fault.
var ErrBadAuditQuery = errors.New("bad audit query")

// ruleView is one rule as the API shows it. resource is the canonical
// "TYPE:PATTERN"; operations are names; source_ips and time_range are the
// conditions (empty list and null when none).
type ruleView struct {
	ID          acl.RuleID `json:"id"`
	Principal   string     `json:"principal"`
	Resource    string     `json:"resource"`
	Operations  []string   `json:"operations"`
	Effect      string     `json:"effect"`
	SourceIPs   []string   `json:"source_ips"`
	TimeRange   *string    `json:"time_range"`
	Description string     `json:"description"`
}

func viewRule(r *acl.Rule) ruleView {
	v := ruleView{ID: r.ID, Principal: r.Principal.String(), Resource: r.Resource.String(), Effect: r.Effect.String(),
		Operations: []string{}, SourceIPs: []string{}, Description: r.String()}
	for _, o := range r.Operations.List() {
		v.Operations = append(v.Operations, o.String())
	}
	for _, p := range r.Conditions.SourceCIDRs {
		v.SourceIPs = append(v.SourceIPs, p.String())
	}
	if !r.Conditions.TimeUTC.IsZero() {
		v.TimeRange = new(r.Conditions.TimeUTC.String())
	}
	return v
}

func viewRules(rs []acl.Rule) []ruleView {
	out := make([]ruleView, 0, len(rs))
	for i := range rs {
		out = append(out, viewRule(&rs[i]))
	}
	return out
}

// aclList is GET /api/v1/acls' data: a page of the matching rules, in ID
// order. Count is the page's, Total every match's; NextAfter, when not
// null, is the after= of the next page.
type aclList struct {
	Version   uint64      `json:"version"`
	Count     int         `json:"count"`
	Total     int         `json:"total"`
	NextAfter *acl.RuleID `json:"next_after"`
	Rules     []ruleView  `json:"rules"`
}

// aclWriteResult is the data of a create or delete.
type aclWriteResult struct {
	Version uint64       `json:"version"`
	Created []acl.RuleID `json:"created"`
	Deleted []acl.RuleID `json:"deleted"`
	Rules   []ruleView   `json:"rules,omitempty"` // a create's rules, with their IDs
	Message string       `json:"message"`
}

// ---- reads ----

// acls fetches the applied rule set, answering the request itself when it
// cannot.
func (s *Server) acls(w http.ResponseWriter, r *http.Request) (*acl.State, acl.Options, sm.NodeID, bool) {
	_, leader := s.b.Leader()
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	st, opt, err := s.b.ACLs(ctx)
	if err != nil {
		fail(w, http.StatusServiceUnavailable, fmt.Sprintf("ACL rules unavailable: %v; retry", err), leader)
		return nil, acl.Options{}, sm.NoNode, false
	}
	if st == nil {
		st = &acl.State{}
	}
	return st, opt, leader, true
}

// query reads a request's query, refusing parameters outside known and
// repeated ones, so a typo ("principle=") is not silently ignored.
func query(r *http.Request, known ...string) (url.Values, *requestError) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("query: %v", err)
	}
	for k, vs := range q {
		if !slices.Contains(known, k) {
			return nil, badRequest("%s: unknown query parameter (known: %s)", quoteBounded(k), strings.Join(known, ", "))
		}
		if len(vs) > 1 && k != "type" {
			return nil, badRequest("%s: given %d times; give it once", k, len(vs))
		}
	}
	return q, nil
}

// parseFilter reads an ACL filter's fields (the list's query or the
// delete's body): principal and resource patterns (a resource of a bare
// type, "topic", selects every rule of that type), an operation, an effect.
func parseFilter(principal, resource, operation, effect string) (acl.Filter, *requestError) {
	var f acl.Filter
	var err error
	if principal != "" {
		if f.Principal, err = acl.ParsePattern(principal); err != nil {
			return acl.Filter{}, badRequest("principal: %v", err)
		}
	}
	if resource != "" {
		if strings.ContainsAny(resource, ":.") {
			rp, err := acl.ParseResourcePattern(resource)
			if err != nil {
				return acl.Filter{}, badRequest("resource: %v", err)
			}
			f.ResourceType, f.ResourceName = rp.Type, rp.Name
		} else if f.ResourceType, err = acl.ParseResourceType(resource); err != nil {
			return acl.Filter{}, badRequest("resource: %v; write TYPE or TYPE:PATTERN, e.g. topic or topic:events.*", err)
		}
	}
	if operation != "" {
		if f.Operation, err = acl.ParseOperation(operation); err != nil {
			return acl.Filter{}, badRequest("operation: %v", err)
		}
	}
	if effect != "" {
		if f.Effect, err = acl.ParseEffect(effect); err != nil {
			return acl.Filter{}, badRequest("effect: %v", err)
		}
	}
	return f, nil
}

// onListACLs answers GET /api/v1/acls.
func (s *Server) onListACLs(w http.ResponseWriter, r *http.Request) {
	q, rerr := query(r, "principal", "resource", "operation", "effect", "limit", "after")
	var f acl.Filter
	if rerr == nil {
		f, rerr = parseFilter(q.Get("principal"), q.Get("resource"), q.Get("operation"), q.Get("effect"))
	}
	limit, after := ACLPageDefault, uint64(0)
	if v := q.Get("limit"); rerr == nil && v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > acl.RulesMax {
			rerr = badRequest("limit: %s, want a number in 1..%d", quoteBounded(v), acl.RulesMax)
		}
		limit = n
	}
	if v := q.Get("after"); rerr == nil && v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			rerr = badRequest("after: %s, want a rule ID (the next_after of the previous page)", quoteBounded(v))
		}
		after = n
	}
	if s.refused(w, rerr) {
		return
	}
	st, _, leader, ok := s.acls(w, r)
	if !ok {
		return
	}
	all := st.Find(f)
	total := len(all)
	start, _ := slices.BinarySearchFunc(all, acl.RuleID(after), func(r acl.Rule, id acl.RuleID) int { return cmp.Compare(r.ID, id) })
	if start < len(all) && all[start].ID == acl.RuleID(after) {
		start++
	}
	page := all[start:]
	var next *acl.RuleID
	if len(page) > limit {
		page = page[:limit]
		next = new(page[limit-1].ID)
	}
	rules := viewRules(page)
	succeed(w, http.StatusOK, aclList{Version: st.Version(), Count: len(rules), Total: total, NextAfter: next, Rules: rules}, leader)
}

// permissions is GET /api/v1/acls/permissions' data.
type permissions struct {
	Principal string `json:"principal"`
	// SuperUser: the principal is allowed everything, whatever the rules.
	SuperUser      bool       `json:"super_user"`
	AllowIfNoRules bool       `json:"allow_everyone_if_no_acl_found"`
	Version        uint64     `json:"version"`
	Count          int        `json:"count"`
	Rules          []ruleView `json:"rules"`
}

// onPermissions answers GET /api/v1/acls/permissions?principal=P: the rules
// whose principal pattern matches P (exactly, by prefix or "*"), in ID
// order.
func (s *Server) onPermissions(w http.ResponseWriter, r *http.Request) {
	q, rerr := query(r, "principal")
	if rerr == nil && !q.Has("principal") {
		rerr = badRequest("principal: required (?principal=app@example.com)")
	}
	if rerr == nil && len(q.Get("principal")) > acl.PatternBytesMax {
		rerr = badRequest("principal: longer than %d bytes (%d)", acl.PatternBytesMax, len(q.Get("principal")))
	}
	if s.refused(w, rerr) {
		return
	}
	st, opt, leader, ok := s.acls(w, r)
	if !ok {
		return
	}
	p := q.Get("principal")
	rules := viewRules(st.RulesForPrincipal(p))
	succeed(w, http.StatusOK, permissions{Principal: p, SuperUser: slices.Contains(opt.SuperUsers, p), AllowIfNoRules: opt.AllowIfNoRules,
		Version: st.Version(), Count: len(rules), Rules: rules}, leader)
}

// ---- test ----

// testBody is one request to decide. Principal is required ("" is a client
// without a certificate); Source and Time are optional: no source_ip is an
// unknown source, no time is the controller's current time, "unknown" an
// unknown one (conditions fail closed on unknown inputs).
type testBody struct {
	Principal *string `json:"principal"`
	Resource  *string `json:"resource"`
	Operation *string `json:"operation"`
	SourceIP  *string `json:"source_ip"`
	Time      *string `json:"time"`
	// Expect, for bulk tests, is the decision the test case wants
	// ("allow" or "deny"); the result says whether it got it.
	Expect *string `json:"expect"`
}

// testResult is a decision as the API shows it.
type testResult struct {
	Principal string    `json:"principal"`
	Resource  string    `json:"resource"`
	Operation string    `json:"operation"`
	SourceIP  *string   `json:"source_ip"`
	TimeUTC   string    `json:"time_utc"` // HH:MM, or "unknown"
	Allowed   bool      `json:"allowed"`
	Decision  string    `json:"decision"` // allow or deny
	Reason    string    `json:"reason"`   // acl.Reason's stable name
	RuleID    *uint64   `json:"rule_id"`  // the deciding rule, null for a default
	Rule      *ruleView `json:"rule"`
	Expect    *string   `json:"expect,omitempty"`
	Pass      *bool     `json:"pass,omitempty"` // the decision is the expected one
}

// parse checks a test body; field names the case in errors ("" or
// "requests[3].").
func (tb *testBody) parse(field string, now time.Time) (acl.Request, *acl.Effect, *requestError) {
	var req acl.Request
	switch {
	case tb.Principal == nil:
		return req, nil, badRequest("%sprincipal: required (a string; \"\" for a client without a certificate)", field)
	case tb.Resource == nil:
		return req, nil, badRequest("%sresource: required (TYPE:NAME, e.g. topic:events.a)", field)
	case tb.Operation == nil:
		return req, nil, badRequest("%soperation: required (read, write, create, delete, describe, alter or admin)", field)
	case len(*tb.Principal) > acl.PatternBytesMax:
		return req, nil, badRequest("%sprincipal: longer than %d bytes (%d)", field, acl.PatternBytesMax, len(*tb.Principal))
	}
	req.Principal = *tb.Principal
	var err error
	if req.Resource, err = acl.ParseResource(*tb.Resource); err != nil {
		return req, nil, badRequest("%sresource: %v", field, err)
	}
	if req.Operation, err = acl.ParseOperation(*tb.Operation); err != nil {
		return req, nil, badRequest("%soperation: %v", field, err)
	}
	if req.Operation == acl.OpAll {
		return req, nil, badRequest("%soperation: \"all\" is not a request; ask for one operation", field)
	}
	if tb.SourceIP != nil && *tb.SourceIP != "" {
		if req.Source, err = parseSource(*tb.SourceIP); err != nil {
			return req, nil, badRequest("%ssource_ip: %v", field, err)
		}
	}
	req.Time = acl.TimeOfDayFromUnixNano(now.UnixNano())
	if tb.Time != nil {
		if req.Time, err = parseTimeOfDay(*tb.Time); err != nil {
			return req, nil, badRequest("%stime: %v", field, err)
		}
	}
	var expect *acl.Effect
	if tb.Expect != nil {
		e, err := acl.ParseEffect(*tb.Expect)
		if err != nil {
			return req, nil, badRequest("%sexpect: %v", field, err)
		}
		expect = &e
	}
	return req, expect, nil
}

// parseSource reads an address, or an address with a port
// ("10.1.2.3:5000", "[2001:db8::1]:5000").
func parseSource(s string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a, nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr(), nil
	}
	return netip.Addr{}, fmt.Errorf("%s is not an IP address (want 10.1.2.3, 2001:db8::1, or with a port)", quoteBounded(s))
}

// parseTimeOfDay reads HH:MM (UTC), an RFC 3339 time, or "unknown".
func parseTimeOfDay(s string) (acl.TimeOfDay, error) {
	if s == "unknown" {
		return acl.TimeUnknown, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return acl.TimeOfDayFromUnixNano(t.UnixNano()), nil
	}
	if t, err := time.Parse("15:04", s); err == nil {
		return acl.MinuteUTC(t.Hour()*60 + t.Minute()), nil
	}
	return acl.TimeUnknown, fmt.Errorf("%s: want HH:MM (UTC), an RFC 3339 time (2026-12-03T13:00:00Z), or unknown", quoteBounded(s))
}

func decide(a *acl.Authorizer, st *acl.State, req acl.Request, expect *acl.Effect) testResult {
	d := a.Authorize(req)
	res := testResult{Principal: req.Principal, Resource: req.Resource.Type.String() + ":" + req.Resource.Name, Operation: req.Operation.String(),
		TimeUTC: req.Time.String(), Allowed: d.Allowed, Decision: acl.Deny.String(), Reason: d.Reason.String()}
	if req.Source.IsValid() {
		res.SourceIP = new(req.Source.String())
	}
	if d.Allowed {
		res.Decision = acl.Allow.String()
	}
	if d.RuleID != 0 {
		res.RuleID = new(uint64(d.RuleID))
		if rule, ok := st.Rule(d.RuleID); ok {
			res.Rule = new(viewRule(&rule))
		}
	}
	if expect != nil {
		res.Expect = new(expect.String())
		res.Pass = new(d.Allowed == (*expect == acl.Allow))
	}
	return res
}

// compile builds the authorizer of the applied rules, answering the request
// itself when it cannot.
// refused answers a request whose input did not parse; false when rerr is
// nil.
func (s *Server) refused(w http.ResponseWriter, rerr *requestError) bool {
	if rerr == nil {
		return false
	}
	_, leader := s.b.Leader()
	fail(w, rerr.status, rerr.msg, leader)
	return true
}

// authorizer is the applied rules compiled with the cluster's options, as
// brokers decide; false when it answered the request with why not.
func (s *Server) authorizer(w http.ResponseWriter, r *http.Request) (*acl.State, *acl.Authorizer, sm.NodeID, bool) {
	st, opt, leader, ok := s.acls(w, r)
	if !ok {
		return nil, nil, leader, false
	}
	a, ok := s.compile(w, st, opt, leader)
	return st, a, leader, ok
}

func (s *Server) compile(w http.ResponseWriter, st *acl.State, opt acl.Options, leader sm.NodeID) (*acl.Authorizer, bool) {
	a, err := acl.Compile(st, opt)
	if err != nil {
		s.logf("admin: compiling the ACL rules (version %d): %v", st.Version(), err)
		fail(w, http.StatusInternalServerError, fmt.Sprintf("internal error compiling the ACL rules: %v (logged by the controller)", err), leader)
		return nil, false
	}
	return a, true
}

// decodeStrict decodes a JSON body into v, refusing unknown fields and
// trailing data, with errors that name the field.
func decodeStrict(body []byte, v any) *requestError {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return badRequest("%s: unknown field", f)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return badRequest("malformed JSON: the body ends inside a value (%d bytes)", len(body))
		}
		return jsonError(body, err)
	}
	if dec.More() {
		return badRequest("request body: data after the JSON value")
	}
	return nil
}

// onTestACL answers POST /api/v1/acls/test: the decision brokers would make
// with this controller's applied rules and the cluster's authorizer options.
func (s *Server) onTestACL(w http.ResponseWriter, r *http.Request) {
	body, rerr := readJSONBody(r)
	var tb testBody
	if rerr == nil {
		rerr = decodeStrict(body, &tb)
	}
	var req acl.Request
	var expect *acl.Effect
	if rerr == nil {
		req, expect, rerr = tb.parse("", s.cfg.Now())
	}
	if s.refused(w, rerr) {
		return
	}
	st, a, leader, ok := s.authorizer(w, r)
	if !ok {
		return
	}
	res := decide(a, st, req, expect)
	succeed(w, http.StatusOK, struct {
		testResult
		Version uint64 `json:"version"`
	}{res, st.Version()}, leader)
}

// bulkResult is POST /api/v1/acls/bulk-test's data.
type bulkResult struct {
	Version uint64       `json:"version"`
	Total   int          `json:"total"`
	Allowed int          `json:"allowed"`
	Denied  int          `json:"denied"`
	Failed  int          `json:"failed"` // cases with an expect that got the other decision
	Results []testResult `json:"results"`
}

// onBulkTestACL answers POST /api/v1/acls/bulk-test: a JSON array of test
// requests, or {"requests": [...]}; each may carry "expect".
func (s *Server) onBulkTestACL(w http.ResponseWriter, r *http.Request) {
	body, rerr := readJSONBody(r)
	var tbs []testBody
	if rerr == nil {
		if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '[' {
			rerr = decodeStrict(body, &tbs)
		} else {
			var wrap struct {
				Requests *[]testBody `json:"requests"`
			}
			rerr = decodeStrict(body, &wrap)
			if rerr == nil && wrap.Requests == nil {
				rerr = badRequest("requests: required (a list of {principal, resource, operation, source_ip, time, expect})")
			}
			if rerr == nil {
				tbs = *wrap.Requests
			}
		}
	}
	if rerr == nil && len(tbs) == 0 {
		rerr = badRequest("requests: empty; give at least one")
	}
	if rerr == nil && len(tbs) > aclTestsMax {
		rerr = badRequest("requests: %d, more than %d; split the file", len(tbs), aclTestsMax)
	}
	reqs := make([]acl.Request, len(tbs))
	expects := make([]*acl.Effect, len(tbs))
	now := s.cfg.Now()
	for i := range tbs {
		if rerr != nil {
			break
		}
		reqs[i], expects[i], rerr = tbs[i].parse(fmt.Sprintf("requests[%d].", i), now)
	}
	if s.refused(w, rerr) {
		return
	}
	st, a, leader, ok := s.authorizer(w, r)
	if !ok {
		return
	}
	out := bulkResult{Version: st.Version(), Total: len(reqs), Results: make([]testResult, 0, len(reqs))}
	for i := range reqs {
		res := decide(a, st, reqs[i], expects[i])
		if res.Allowed {
			out.Allowed++
		} else {
			out.Denied++
		}
		if res.Pass != nil && !*res.Pass {
			out.Failed++
		}
		out.Results = append(out.Results, res)
	}
	succeed(w, http.StatusOK, out, leader)
}

// ---- writes ----

// ruleBody is one rule to create, in the CLI's string form.
type ruleBody struct {
	Principal *string `json:"principal"`
	Resource  *string `json:"resource"`
	// Operations is "read,write" or ["read", "write"]; permissions is the
	// reference CLI's name for it.
	Operations  json.RawMessage `json:"operations"`
	Permissions json.RawMessage `json:"permissions"`
	Effect      *string         `json:"effect"`
	// Conditions is "source_ip=10.0.0.0/8,time_range=09:00-17:00".
	Conditions *string `json:"conditions"`
}

// createACLBody is one rule, or {"rules": [...]}.
type createACLBody struct {
	ruleBody
	Rules []ruleBody `json:"rules"`
}

func (rb *ruleBody) rule(field string) (acl.Rule, *requestError) {
	ops := rb.Operations
	switch {
	case ops != nil && rb.Permissions != nil:
		return acl.Rule{}, badRequest("%soperations: given with permissions (they are the same field); give one", field)
	case ops == nil:
		ops = rb.Permissions
	}
	switch {
	case rb.Principal == nil:
		return acl.Rule{}, badRequest("%sprincipal: required (a pattern: app@example.com, app-*, or *)", field)
	case rb.Resource == nil:
		return acl.Rule{}, badRequest("%sresource: required (TYPE:PATTERN, e.g. topic:events.*)", field)
	case ops == nil:
		return acl.Rule{}, badRequest("%soperations: required (e.g. \"read,write\")", field)
	case rb.Effect == nil:
		return acl.Rule{}, badRequest("%seffect: required (allow or deny)", field)
	}
	var opList string
	var list []string
	if err := json.Unmarshal(ops, &opList); err != nil {
		if err := json.Unmarshal(ops, &list); err != nil {
			return acl.Rule{}, badRequest("%soperations: want a string (\"read,write\") or a list of strings", field)
		}
		if len(list) == 0 {
			return acl.Rule{}, badRequest("%soperations: empty list; give at least one operation", field)
		}
		opList = strings.Join(list, ",")
	}
	conds := ""
	if rb.Conditions != nil {
		conds = *rb.Conditions
	}
	// Each part is parsed on its own so the error names the field.
	if _, err := acl.ParsePattern(*rb.Principal); err != nil {
		return acl.Rule{}, badRequest("%sprincipal: %v", field, err)
	}
	if _, err := acl.ParseResourcePattern(*rb.Resource); err != nil {
		return acl.Rule{}, badRequest("%sresource: %v", field, err)
	}
	if _, err := acl.ParseOperations(opList); err != nil {
		return acl.Rule{}, badRequest("%soperations: %v", field, err)
	}
	if _, err := acl.ParseEffect(*rb.Effect); err != nil {
		return acl.Rule{}, badRequest("%seffect: %v", field, err)
	}
	if _, err := acl.ParseConditions(conds); err != nil {
		return acl.Rule{}, badRequest("%sconditions: %v", field, err)
	}
	rule, err := acl.ParseRule(*rb.Principal, *rb.Resource, opList, *rb.Effect, conds)
	if err != nil {
		return acl.Rule{}, badRequest("%srule: %v", field, err)
	}
	return rule, nil
}

func (b *createACLBody) rules() ([]acl.Rule, *requestError) {
	single := b.Principal != nil || b.Resource != nil || b.Operations != nil || b.Permissions != nil || b.Effect != nil || b.Conditions != nil
	switch {
	case b.Rules != nil && single:
		return nil, badRequest("rules: given with a rule's own fields; send one rule, or {\"rules\": [...]}")
	case b.Rules == nil:
		r, rerr := b.rule("")
		if rerr != nil {
			return nil, rerr
		}
		return []acl.Rule{r}, nil
	case len(b.Rules) == 0:
		return nil, badRequest("rules: empty; give at least one rule")
	case len(b.Rules) > aclCreateMax:
		return nil, badRequest("rules: %d, more than %d in one request; split it", len(b.Rules), aclCreateMax)
	}
	out := make([]acl.Rule, 0, len(b.Rules))
	for i := range b.Rules {
		r, rerr := b.Rules[i].rule(fmt.Sprintf("rules[%d].", i))
		if rerr != nil {
			return nil, rerr
		}
		out = append(out, r)
	}
	return out, nil
}

// onCreateACL answers POST /api/v1/acls. A bad body is rejected on any
// controller; a good one runs on the leader.
func (s *Server) onCreateACL(w http.ResponseWriter, r *http.Request) {
	body, rerr := readJSONBody(r)
	var b createACLBody
	if rerr == nil {
		rerr = decodeStrict(body, &b)
	}
	var rules []acl.Rule
	if rerr == nil {
		rules, rerr = b.rules()
	}
	if s.refused(w, rerr) {
		return
	}
	if !s.routeWriteCheck(w, r, aclsCheck, body) {
		return
	}
	res, ok := s.applyACL(w, r, acl.Command{Create: rules})
	if !ok {
		return
	}
	views := make([]ruleView, 0, len(rules))
	for i := range rules {
		if i < len(res.Created) {
			rules[i].ID = res.Created[i]
		}
		views = append(views, viewRule(&rules[i]))
	}
	msg := fmt.Sprintf("%d ACL rule(s) created (version %d)", len(res.Created), res.Version)
	if len(res.Created) == 1 {
		msg = fmt.Sprintf("ACL rule %d created (version %d)", res.Created[0], res.Version)
	}
	_, leader := s.b.Leader()
	succeed(w, http.StatusCreated, aclWriteResult{Version: res.Version, Created: orEmpty(res.Created), Deleted: orEmpty(res.Deleted), Rules: views, Message: msg}, leader)
}

func orEmpty(ids []acl.RuleID) []acl.RuleID {
	if ids == nil {
		return []acl.RuleID{}
	}
	return ids
}

// onDeleteACL answers DELETE /api/v1/acls/{id} on the leader.
func (s *Server) onDeleteACL(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("id")
	id, err := strconv.ParseUint(raw, 10, 64)
	if err != nil || id == 0 {
		_, leader := s.b.Leader()
		fail(w, http.StatusBadRequest, fmt.Sprintf("id: %s is not a rule ID (a number >= 1, as `acl list` shows)", quoteBounded(raw)), leader)
		return
	}
	if !s.routeWriteCheck(w, r, aclsCheck, nil) {
		return
	}
	res, ok := s.applyACL(w, r, acl.Command{Delete: []acl.RuleID{acl.RuleID(id)}})
	if !ok {
		return
	}
	_, leader := s.b.Leader()
	succeed(w, http.StatusOK, aclWriteResult{Version: res.Version, Created: []acl.RuleID{}, Deleted: orEmpty(res.Deleted),
		Message: fmt.Sprintf("ACL rule %d deleted (version %d)", id, res.Version)}, leader)
}

// filterBody is POST /api/v1/acls/delete's body: the filter's fields, at
// least one.
type filterBody struct {
	Principal string `json:"principal"`
	Resource  string `json:"resource"`
	Operation string `json:"operation"`
	Effect    string `json:"effect"`
}

// onDeleteMatchingACLs answers POST /api/v1/acls/delete: delete every rule
// the filter selects (possibly none).
func (s *Server) onDeleteMatchingACLs(w http.ResponseWriter, r *http.Request) {
	body, rerr := readJSONBody(r)
	var fb filterBody
	if rerr == nil {
		rerr = decodeStrict(body, &fb)
	}
	var f acl.Filter
	if rerr == nil {
		f, rerr = parseFilter(fb.Principal, fb.Resource, fb.Operation, fb.Effect)
	}
	if rerr == nil && f.IsZero() {
		rerr = badRequest("request body: an empty filter would delete every rule; give at least one of principal, resource, operation, effect")
	}
	if s.refused(w, rerr) {
		return
	}
	if !s.routeWriteCheck(w, r, aclsCheck, body) {
		return
	}
	res, ok := s.applyACL(w, r, acl.Command{DeleteMatching: &f})
	if !ok {
		return
	}
	_, leader := s.b.Leader()
	succeed(w, http.StatusOK, aclWriteResult{Version: res.Version, Created: []acl.RuleID{}, Deleted: orEmpty(res.Deleted),
		Message: fmt.Sprintf("%d ACL rule(s) deleted (version %d)", len(res.Deleted), res.Version)}, leader)
}

// applyACL runs an ACL command on the local controller (the leader) and
// answers the request itself unless it was applied.
func (s *Server) applyACL(w http.ResponseWriter, r *http.Request, c acl.Command) (acl.Result, bool) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	resp, err := s.b.ApplyACL(ctx, sm.ACLRequest{Command: c})
	_, leader := s.b.Leader()
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			fail(w, http.StatusServiceUnavailable, fmt.Sprintf("%v; nothing was done, retry", err), leader)
		} else {
			fail(w, http.StatusGatewayTimeout, fmt.Sprintf("outcome unknown (no reply from the controller: %v); check %s before retrying", err, aclsCheck), leader)
		}
		return acl.Result{}, false
	}
	if resp.LeaderHint != sm.NoNode {
		leader = resp.LeaderHint
	}
	if resp.Code == sm.CodeOK {
		return resp.Result, true
	}
	msg := resp.Message
	if msg == "" {
		msg = resp.Code.String()
	}
	status := codeStatus(resp.Code)
	switch {
	case resp.Code == sm.CodeInvalidRequest && strings.Contains(msg, acl.ErrNoSuchRule.Error()):
		fail(w, http.StatusNotFound, msg+" (`weir acl list` lists the rules)", leader)
	case status == http.StatusGatewayTimeout:
		fail(w, status, fmt.Sprintf("outcome unknown (%s: %s); check %s before retrying", resp.Code, msg, aclsCheck), leader)
	case status == http.StatusInternalServerError:
		s.logf("admin: %s %s: unexpected controller reply %s: %s", r.Method, r.URL.Path, resp.Code, msg)
		fail(w, status, fmt.Sprintf("unexpected controller reply %s: %s", resp.Code, msg), leader)
	default:
		fail(w, status, codeMessage(resp.Code, msg, ""), leader)
	}
	return acl.Result{}, false
}

// ---- audit and status ----

// auditData is GET /api/v1/audit's data.
type auditData struct {
	Node  string `json:"node"`
	Path  string `json:"path"`
	Count int    `json:"count"`
	// Truncated: more events matched than the limit; these are the most
	// recent.
	Truncated bool              `json:"truncated"`
	Events    []json.RawMessage `json:"events"`
	Malformed int               `json:"malformed_lines"`
	Errors    []string          `json:"read_errors"`
}

// parseAuditTime reads since or until: an RFC 3339 time or a duration back
// from now ("15m").
func parseAuditTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%s is neither an RFC 3339 time (2026-12-03T13:00:00Z) nor a duration back from now (15m, 24h)", quoteBounded(s))
	}
	return now.Add(-d).UTC(), nil
}

func parseAuditQuery(r *http.Request, now time.Time) (AuditQuery, *requestError) {
	q, rerr := query(r, "since", "until", "type", "principal", "limit")
	if rerr != nil {
		return AuditQuery{}, rerr
	}
	aq := AuditQuery{Limit: AuditLimitDefault, Principal: q.Get("principal")}
	var err error
	if v := q.Get("since"); v != "" {
		if aq.Since, err = parseAuditTime(v, now); err != nil {
			return AuditQuery{}, badRequest("since: %v", err)
		}
	}
	if v := q.Get("until"); v != "" {
		if aq.Until, err = parseAuditTime(v, now); err != nil {
			return AuditQuery{}, badRequest("until: %v", err)
		}
	}
	if !aq.Since.IsZero() && !aq.Until.IsZero() && !aq.Until.After(aq.Since) {
		return AuditQuery{}, badRequest("until: %s is not after since %s", aq.Until.Format(time.RFC3339Nano), aq.Since.Format(time.RFC3339Nano))
	}
	for _, v := range q["type"] {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				aq.Types = append(aq.Types, t)
			}
		}
	}
	if len(aq.Types) > 64 {
		return AuditQuery{}, badRequest("type: %d types, more than 64", len(aq.Types))
	}
	if len(aq.Principal) > acl.PatternBytesMax {
		return AuditQuery{}, badRequest("principal: longer than %d bytes (%d)", acl.PatternBytesMax, len(aq.Principal))
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > AuditLimitMax {
			return AuditQuery{}, badRequest("limit: %s, want a number in 1..%d", quoteBounded(v), AuditLimitMax)
		}
		aq.Limit = n
	}
	return aq, nil
}

// onAudit answers GET /api/v1/audit from this controller's audit log: the
// most recent Limit matching events, oldest first.
func (s *Server) onAudit(w http.ResponseWriter, r *http.Request) {
	_, leader := s.b.Leader()
	aq, rerr := parseAuditQuery(r, s.cfg.Now())
	if rerr != nil {
		fail(w, rerr.status, rerr.msg, leader)
		return
	}
	path := s.b.AuditLog()
	switch {
	case path == "":
		fail(w, http.StatusNotFound, fmt.Sprintf("audit logging is off on %s: it writes no audit log (enable it in its config)", controllerName(s.cfg.Self)), leader)
		return
	case s.cfg.Audit == nil:
		s.logf("admin: GET /api/v1/audit: audit log %s but no Config.Audit reader", path)
		fail(w, http.StatusNotImplemented, fmt.Sprintf("%s writes an audit log (%s) but this build's admin API cannot read it; read the file on the controller's host", controllerName(s.cfg.Self), path), leader)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	ask := aq
	ask.Limit++ // one more than asked tells whether there were more
	page, err := s.cfg.Audit(ctx, path, ask)
	switch {
	case errors.Is(err, ErrBadAuditQuery):
		fail(w, http.StatusBadRequest, err.Error(), leader)
		return
	case err != nil:
		fail(w, http.StatusServiceUnavailable, fmt.Sprintf("reading the audit log %s: %v; retry", path, err), leader)
		return
	}
	out := auditData{Node: controllerName(s.cfg.Self), Path: path, Events: page.Events, Malformed: page.Malformed, Errors: page.Errors}
	if len(out.Events) > aq.Limit {
		out.Events, out.Truncated = out.Events[len(out.Events)-aq.Limit:], true
	}
	if out.Events == nil {
		out.Events = []json.RawMessage{}
	}
	if out.Errors == nil {
		out.Errors = []string{}
	}
	out.Count = len(out.Events)
	succeed(w, http.StatusOK, out, leader)
}

// securityStatus is GET /api/v1/security/status' data.
type securityStatus struct {
	Node  string      `json:"node"`
	ACL   aclStatus   `json:"acl"`
	Audit auditStatus `json:"audit"`
}

type aclStatus struct {
	Rules          int      `json:"rules"`
	Version        uint64   `json:"version"`
	AllowIfNoRules bool     `json:"allow_everyone_if_no_acl_found"`
	SuperUsers     []string `json:"super_users"`
}

type auditStatus struct {
	Enabled bool    `json:"enabled"`
	Path    *string `json:"path"`
}

// onSecurityStatus answers GET /api/v1/security/status from this
// controller's applied rules and its own audit configuration.
func (s *Server) onSecurityStatus(w http.ResponseWriter, r *http.Request) {
	if _, rerr := query(r); rerr != nil {
		_, leader := s.b.Leader()
		fail(w, rerr.status, rerr.msg, leader)
		return
	}
	st, opt, leader, ok := s.acls(w, r)
	if !ok {
		return
	}
	supers := slices.Clone(opt.SuperUsers)
	if supers == nil {
		supers = []string{}
	}
	slices.Sort(supers)
	path := s.b.AuditLog()
	succeed(w, http.StatusOK, securityStatus{
		Node:  controllerName(s.cfg.Self),
		ACL:   aclStatus{Rules: st.Len(), Version: st.Version(), AllowIfNoRules: opt.AllowIfNoRules, SuperUsers: supers},
		Audit: auditStatus{Enabled: path != "", Path: nonEmpty(path)},
	}, leader)
}

// aclsFixed are the methods the fixed paths under /api/v1/acls/ serve.
var aclsFixed = map[string]string{"delete": "POST", "test": "POST", "bulk-test": "POST", "permissions": "GET, HEAD"}

// aclsNotAllowed answers 405 for /api/v1/acls/{id} asked with a method
// other than DELETE, and for the fixed paths asked with one they do not
// serve.
func aclsNotAllowed(_ *Server, w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	allow, ok := aclsFixed[id]
	if !ok {
		methodNotAllowed("DELETE")(w, r)
		return
	}
	w.Header().Set("Allow", allow)
	fail(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on /api/v1/acls/%s (allowed: %s)", quoteBounded(r.Method), id, allow), sm.NoNode)
}
