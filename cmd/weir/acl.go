package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// The security commands that talk to the controller's admin API: acl,
// audit and security status.

// aclRule is one rule as the admin API shows it.
type aclRule struct {
	ID          uint64   `json:"id"`
	Principal   string   `json:"principal"`
	Resource    string   `json:"resource"`
	Operations  []string `json:"operations"`
	Effect      string   `json:"effect"`
	SourceIPs   []string `json:"source_ips"`
	TimeRange   *string  `json:"time_range"`
	Description string   `json:"description"`
}

// conditions is the rule's conditions in --conditions' form.
func (r aclRule) conditions() string {
	var parts []string
	for _, p := range r.SourceIPs {
		parts = append(parts, "source_ip="+p)
	}
	if r.TimeRange != nil {
		parts = append(parts, "time_range="+*r.TimeRange)
	}
	return strings.Join(parts, ",")
}

var aclHeader = []string{"ID", "PRINCIPAL", "RESOURCE", "OPERATIONS", "EFFECT", "CONDITIONS"}
var aclCSVHeader = []string{"id", "principal", "resource", "operations", "effect", "conditions"}

// rulesView renders rules: a table (deny rules in red), csv with the
// operations comma-separated in one field.
func rulesView(data any, rules []aclRule, preface ...string) view {
	v := view{data: data, preface: preface, table: table{header: aclHeader}, csv: [][]string{aclCSVHeader}}
	for _, r := range rules {
		row := []string{strconv.FormatUint(r.ID, 10), r.Principal, r.Resource, strings.Join(r.Operations, ","), r.Effect, dash(r.conditions())}
		v.table.rows = append(v.table.rows, row)
		c := slicesClone(row)
		c[5] = r.conditions()
		v.csv = append(v.csv, c)
	}
	v.table.paint = func(row, col int) string {
		if col == 4 && rules[row].Effect == "deny" {
			return sgrRed
		}
		return ""
	}
	return v
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// aclHint adds the next step to an ACL command's error.
func aclHint(err error, command string) error {
	ae, ok := errors.AsType[*apiError](err)
	if !ok {
		return err
	}
	switch ae.status {
	case http.StatusNotFound:
		if !strings.Contains(ae.msg, "acl list") && !strings.Contains(ae.msg, "\nhint:") {
			return fmt.Errorf("%w\nhint: `weir acl list` lists the rules", err)
		}
	case http.StatusBadRequest:
		if command == "create" {
			return fmt.Errorf("%w\nhint: `weir acl create --help` shows the forms (resource topic:events.*, permissions read,write, conditions source_ip=10.0.0.0/8,time_range=09:00-17:00)", err)
		}
		return fmt.Errorf("%w\nhint: `weir acl %s --help` shows the flags and their forms", err, command)
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		return fmt.Errorf("%w\nhint: `weir acl list` shows whether it happened", err)
	}
	return err
}

func newACL(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "acl",
		Short: "Manage ACL rules: create, list, delete, test, permissions, bulk-test",
		Long: `Manage the cluster's ACL rules. Rules are stored by the controllers (through
raft) and enforced by every broker: a principal pattern (exact, prefix* or *)
may (allow) or may not (deny) do operations on a resource pattern, optionally
only from source CIDRs and within a UTC time window. Deny wins.

Resources are TYPE:PATTERN (topic:events.*, group:billing, cluster,
transactional_id:tx-*); the reference's topic.events.* form is accepted.
Operations: read, write, create, delete, describe, alter, admin, all.`,
	}
	cmd.AddCommand(newACLCreate(g), newACLList(g), newACLDelete(g), newACLTest(g), newACLPermissions(g), newACLBulkTest(g))
	return cmd
}

// aclWrite is a create's or delete's data.
type aclWrite struct {
	Version uint64    `json:"version"`
	Created []uint64  `json:"created"`
	Deleted []uint64  `json:"deleted"`
	Rules   []aclRule `json:"rules"`
	Message string    `json:"message"`
}

func newACLCreate(g *globals) *cobra.Command {
	var principal, resource, perms, effect, conds string
	cmd := &cobra.Command{
		Use:   "create --principal P --resource R --permissions OPS --effect allow|deny [--conditions C]",
		Short: "Create an ACL rule",
		Long: `Create an ACL rule. Examples:

  weir acl create --principal app@example.com --resource 'topic:events.*' --permissions read,write --effect allow
  weir acl create --principal 'ops-*' --resource cluster --permissions describe --effect allow \
      --conditions source_ip=10.0.0.0/8,time_range=09:00-17:00

Formats: table (the new rule), json and yaml (the API's answer: version,
created IDs, the rule), csv (the rule).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, f := range []string{"principal", "resource", "permissions"} {
				if !cmd.Flags().Changed(f) && (f != "permissions" || !cmd.Flags().Changed("operations")) {
					return fmt.Errorf("--%s is required\nhint: weir acl create --principal app@example.com --resource 'topic:events.*' --permissions read,write --effect allow", f)
				}
			}
			body := map[string]string{"principal": principal, "resource": resource, "operations": perms, "effect": effect}
			if conds != "" {
				body["conditions"] = conds
			}
			var raw json.RawMessage
			if err := g.api(http.MethodPost, "/api/v1/acls", body, &raw); err != nil {
				return aclHint(err, "create")
			}
			var w aclWrite
			if err := json.Unmarshal(raw, &w); err != nil {
				return dataError("ACL create answer", err)
			}
			return g.print(rulesView(raw, w.Rules, w.Message))
		},
	}
	f := cmd.Flags()
	f.StringVar(&principal, "principal", "", "principal pattern: app@example.com, app-* or *")
	f.StringVar(&resource, "resource", "", "resource pattern: topic:events.*, group:billing, cluster")
	f.StringVar(&perms, "permissions", "", "operations, comma-separated: read,write,create,delete,describe,alter,admin,all")
	f.StringVar(&perms, "operations", "", "same as --permissions")
	f.StringVar(&effect, "effect", "allow", "allow or deny (deny wins)")
	f.StringVar(&conds, "conditions", "", "source_ip=CIDR (repeatable) and time_range=HH:MM-HH:MM (UTC), comma-separated")
	return cmd
}

// dataError is an answer whose data this CLI cannot read.
func dataError(what string, err error) error {
	return fmt.Errorf("the controller's %s is not one this CLI understands: %v\nhint: the controller may run another Weir version than this CLI", what, err)
}

// aclFilterFlags are list's and delete's filter flags.
type aclFilterFlags struct{ principal, resource, operation, effect string }

func (a *aclFilterFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&a.principal, "principal", "", "rules whose principal pattern is exactly this (app@example.com, app-*, *)")
	f.StringVar(&a.resource, "resource", "", "rules on this resource type (topic) or resource pattern (topic:events.*)")
	f.StringVar(&a.operation, "operation", "", "rules listing this operation (or all)")
	f.StringVar(&a.effect, "effect", "", "allow or deny")
}

func (a *aclFilterFlags) values() map[string]string {
	m := map[string]string{}
	for k, v := range map[string]string{"principal": a.principal, "resource": a.resource, "operation": a.operation, "effect": a.effect} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}

// aclListData is a page of GET /api/v1/acls, and acl list's json and yaml
// (every page's rules; next_after then null).
type aclListData struct {
	Version   uint64    `json:"version"`
	Count     int       `json:"count"`
	Total     int       `json:"total"`
	NextAfter *uint64   `json:"next_after"`
	Rules     []aclRule `json:"rules"`
}

func newACLList(g *globals) *cobra.Command {
	var flt aclFilterFlags
	cmd := &cobra.Command{
		Use:   "list [--principal P] [--resource R] [--operation O] [--effect E]",
		Short: "List ACL rules",
		Long: `List ACL rules, in ID order, from the controller's applied rule set. Filters
select by the rule's exact fields (--principal '*' selects rules whose
principal pattern is *, not every rule; 'weir acl permissions P' shows what
covers a principal). Formats: table; json and yaml (the API's version, count
and rules); csv (id, principal, resource, operations, effect, conditions).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			for k, v := range flt.values() {
				q.Set(k, v)
			}
			// The API answers pages (10,000 rules by default): follow
			// next_after until the last one.
			var l aclListData
			for page := 0; ; page++ {
				path := "/api/v1/acls"
				if len(q) > 0 {
					path += "?" + q.Encode()
				}
				var p aclListData
				if err := g.api(http.MethodGet, path, nil, &p); err != nil {
					return aclHint(err, "list")
				}
				if page > 0 && p.Version != l.Version {
					fmt.Fprintf(os.Stderr, "warning: the rule set changed while listing (version %d, then %d); run it again for one version\n", l.Version, p.Version)
				}
				l.Version, l.Total = p.Version, p.Total
				l.Rules = append(l.Rules, p.Rules...)
				if p.NextAfter == nil || len(p.Rules) == 0 {
					break
				}
				q.Set("after", strconv.FormatUint(*p.NextAfter, 10))
			}
			if l.Rules == nil {
				l.Rules = []aclRule{}
			}
			l.Count = len(l.Rules)
			raw := l
			v := rulesView(raw, l.Rules)
			if len(l.Rules) == 0 {
				v.preface = []string{fmt.Sprintf("no ACL rules match (rule set version %d)", l.Version)}
				v.table = table{}
			}
			return g.print(v)
		},
	}
	flt.add(cmd)
	return cmd
}

func newACLDelete(g *globals) *cobra.Command {
	var force bool
	var flt aclFilterFlags
	cmd := &cobra.Command{
		Use:   "delete ID | --principal P [--resource R --operation O --effect E]",
		Short: "Delete an ACL rule by ID, or the rules a filter selects",
		Long: `Delete an ACL rule by ID (as 'weir acl list' shows it), or every rule the
filter flags select. It asks for confirmation on the terminal unless --force;
when stdin is not a terminal it refuses to prompt and needs --force.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			filter := flt.values()
			switch {
			case len(args) == 1 && len(filter) > 0:
				return errors.New("give a rule ID or filter flags, not both")
			case len(args) == 0 && len(filter) == 0:
				return errors.New("give the ID of the rule to delete, or filter flags (--principal, --resource, --operation, --effect)\nhint: `weir acl list` lists the rules with their IDs")
			}
			var method, path, question string
			var body any
			if len(args) == 1 {
				id, err := strconv.ParseUint(args[0], 10, 64)
				if err != nil || id == 0 {
					return fmt.Errorf("rule ID %q: want a number ≥ 1\nhint: `weir acl list` lists the rules with their IDs", args[0])
				}
				method, path, question = http.MethodDelete, "/api/v1/acls/"+strconv.FormatUint(id, 10), fmt.Sprintf("Delete ACL rule %d?", id)
			} else {
				var desc []string
				for _, k := range []string{"principal", "resource", "operation", "effect"} {
					if v, ok := filter[k]; ok {
						desc = append(desc, k+" "+strconv.Quote(v))
					}
				}
				method, path, body = http.MethodPost, "/api/v1/acls/delete", filter
				question = "Delete every ACL rule with " + strings.Join(desc, ", ") + "?"
			}
			if !force {
				ok, err := confirm(question)
				if errors.Is(err, errNotATerminal) {
					return errors.New("refusing to prompt: stdin is not a terminal; pass --force to delete")
				}
				if err != nil {
					return err
				}
				if !ok {
					return errors.New("nothing deleted: not confirmed (answer y, or pass --force)")
				}
			}
			var raw json.RawMessage
			if err := g.api(method, path, body, &raw); err != nil {
				return aclHint(err, "delete")
			}
			var w aclWrite
			if err := json.Unmarshal(raw, &w); err != nil {
				return dataError("ACL delete answer", err)
			}
			ids := make([]string, len(w.Deleted))
			for i, id := range w.Deleted {
				ids[i] = strconv.FormatUint(id, 10)
			}
			return g.print(view{data: raw, preface: []string{w.Message},
				csv: [][]string{{"deleted", "version"}, {strings.Join(ids, ","), strconv.FormatUint(w.Version, 10)}}})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "delete without asking")
	flt.add(cmd)
	return cmd
}

// aclDecision is a test's data.
type aclDecision struct {
	Principal string   `json:"principal"`
	Resource  string   `json:"resource"`
	Operation string   `json:"operation"`
	SourceIP  *string  `json:"source_ip"`
	TimeUTC   string   `json:"time_utc"`
	Allowed   bool     `json:"allowed"`
	Decision  string   `json:"decision"`
	Reason    string   `json:"reason"`
	RuleID    *uint64  `json:"rule_id"`
	Rule      *aclRule `json:"rule"`
	Expect    *string  `json:"expect"`
	Pass      *bool    `json:"pass"`
}

func (d aclDecision) source() string {
	if d.SourceIP == nil {
		return ""
	}
	return *d.SourceIP
}

func (d aclDecision) rule() string {
	if d.RuleID == nil {
		return ""
	}
	return strconv.FormatUint(*d.RuleID, 10)
}

func newACLTest(g *globals) *cobra.Command {
	var principal, resource, operation, source, at string
	cmd := &cobra.Command{
		Use:   "test --principal P --resource R --operation O [--source-ip IP] [--time HH:MM]",
		Short: "Show whether a request would be allowed, and by which rule",
		Long: `Decide one request exactly as brokers do (the controller's applied rules and
the cluster's super users and allow_everyone_if_no_acl_found): allowed or
denied, the deciding rule and the reason (allowed_by_rule, denied_by_rule,
no_matching_allow, no_acl_found, no_acl_found_allow_everyone, super_user).
--resource is one concrete resource (topic:events.a); --time defaults to the
controller's current time; without --source-ip the source is unknown, and
rules with source_ip conditions do not allow.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, f := range []string{"principal", "resource", "operation"} {
				if !cmd.Flags().Changed(f) {
					return fmt.Errorf("--%s is required\nhint: weir acl test --principal app@example.com --resource topic:events.a --operation write", f)
				}
			}
			body := map[string]string{"principal": principal, "resource": resource, "operation": operation}
			if source != "" {
				body["source_ip"] = source
			}
			if at != "" {
				body["time"] = at
			}
			var raw json.RawMessage
			if err := g.api(http.MethodPost, "/api/v1/acls/test", body, &raw); err != nil {
				return aclHint(err, "test")
			}
			var d aclDecision
			if err := json.Unmarshal(raw, &d); err != nil {
				return dataError("ACL decision", err)
			}
			verdict := "DENIED"
			if d.Allowed {
				verdict = "ALLOWED"
			}
			rows := [][]string{{"decision", verdict}, {"reason", d.Reason}, {"rule", dash(d.rule())}}
			if d.Rule != nil {
				rows = append(rows, []string{"rule text", d.Rule.Description})
			}
			rows = append(rows, []string{"principal", d.Principal}, []string{"resource", d.Resource}, []string{"operation", d.Operation},
				[]string{"source ip", dash(d.source())}, []string{"time (UTC)", d.TimeUTC})
			return g.print(view{data: raw,
				table: table{rows: rows, keys: true, paint: func(row, col int) string {
					if row == 0 && col == 1 {
						return map[bool]string{true: sgrGreen, false: sgrRed}[d.Allowed]
					}
					return ""
				}},
				csv: [][]string{{"principal", "resource", "operation", "source_ip", "time_utc", "decision", "reason", "rule_id"},
					{d.Principal, d.Resource, d.Operation, d.source(), d.TimeUTC, d.Decision, d.Reason, d.rule()}}})
		},
	}
	f := cmd.Flags()
	f.StringVar(&principal, "principal", "", "the principal asking (\"\" for a client without a certificate)")
	f.StringVar(&resource, "resource", "", "the resource: topic:NAME, group:NAME, cluster, transactional_id:NAME")
	f.StringVar(&operation, "operation", "", "read, write, create, delete, describe, alter or admin")
	f.StringVar(&source, "source-ip", "", "the client's address (unknown if not given)")
	f.StringVar(&at, "time", "", "UTC time of day HH:MM, an RFC 3339 time, or unknown (default: now)")
	return cmd
}

type permissionsData struct {
	Principal      string    `json:"principal"`
	SuperUser      bool      `json:"super_user"`
	AllowIfNoRules bool      `json:"allow_everyone_if_no_acl_found"`
	Version        uint64    `json:"version"`
	Rules          []aclRule `json:"rules"`
}

func newACLPermissions(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "permissions PRINCIPAL",
		Short: "List the ACL rules that apply to a principal",
		Long: `List the rules whose principal pattern covers PRINCIPAL (exactly, by prefix,
or *), and whether it is a super user. Formats as 'weir acl list'.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var raw json.RawMessage
			if err := g.api(http.MethodGet, "/api/v1/acls/permissions?principal="+url.QueryEscape(args[0]), nil, &raw); err != nil {
				return aclHint(err, "permissions")
			}
			var p permissionsData
			if err := json.Unmarshal(raw, &p); err != nil {
				return dataError("permissions", err)
			}
			var pre []string
			if p.SuperUser {
				pre = append(pre, fmt.Sprintf("%s is a super user: allowed everything, whatever the rules", p.Principal))
			}
			if len(p.Rules) == 0 {
				msg := fmt.Sprintf("no ACL rule names %s", strconv.Quote(p.Principal))
				if p.AllowIfNoRules {
					msg += " (resources no rule covers are open to everyone: allow_everyone_if_no_acl_found)"
				}
				pre = append(pre, msg)
				v := view{data: raw, preface: pre, csv: [][]string{aclCSVHeader}}
				return g.print(v)
			}
			return g.print(rulesView(raw, p.Rules, pre...))
		},
	}
}

type bulkData struct {
	Version uint64        `json:"version"`
	Total   int           `json:"total"`
	Allowed int           `json:"allowed"`
	Denied  int           `json:"denied"`
	Failed  int           `json:"failed"`
	Results []aclDecision `json:"results"`
}

// bulkFileBytesMax bounds a bulk-test file (the admin API takes 1 MiB).
const bulkFileBytesMax = 1 << 20

func newACLBulkTest(g *globals) *cobra.Command {
	var input string
	cmd := &cobra.Command{
		Use:   "bulk-test FILE.json",
		Short: "Decide many requests from a JSON file, checking expected decisions",
		Long: `Decide every request in FILE.json (a JSON array, or {"requests": [...]}) as
'weir acl test' does. Each request is an object:

  {"principal": "app@example.com", "resource": "topic:events.a", "operation": "write",
   "source_ip": "10.1.2.3", "time": "10:00", "expect": "allow"}

source_ip, time and expect are optional. With expect, the case passes when it
gets that decision; the command exits 1 when any case fails, so a file of
expectations is a test of the rule set. Formats: table (one row per case,
failures in red); json and yaml (the API's counts and results); csv.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 1 && input != "":
				return errors.New("give the file as an argument or --input-file, not both")
			case len(args) == 1:
				input = args[0]
			case input == "":
				return errors.New("give the test file: weir acl bulk-test FILE.json")
			}
			b, err := readBounded(input, bulkFileBytesMax)
			if err != nil {
				return err
			}
			if !json.Valid(b) {
				return fmt.Errorf("%s is not valid JSON\nhint: want a JSON array of {\"principal\", \"resource\", \"operation\"} objects", input)
			}
			var raw json.RawMessage
			if err := g.api(http.MethodPost, "/api/v1/acls/bulk-test", json.RawMessage(b), &raw); err != nil {
				if ae, ok := errors.AsType[*apiError](err); ok && ae.status == http.StatusBadRequest {
					return fmt.Errorf("%s: %w", input, err)
				}
				return aclHint(err, "bulk-test")
			}
			var d bulkData
			if err := json.Unmarshal(raw, &d); err != nil {
				return dataError("bulk test results", err)
			}
			v := view{data: raw, table: table{header: []string{"#", "PRINCIPAL", "RESOURCE", "OPERATION", "DECISION", "RULE", "REASON", "EXPECTED"}},
				csv: [][]string{{"index", "principal", "resource", "operation", "source_ip", "time_utc", "decision", "rule_id", "reason", "expect", "pass"}}}
			v.preface = []string{fmt.Sprintf("%d requests: %d allowed, %d denied; %d failed their expectation (rule set version %d)", d.Total, d.Allowed, d.Denied, d.Failed, d.Version)}
			for i, r := range d.Results {
				exp, pass := "-", ""
				if r.Expect != nil {
					exp, pass = *r.Expect, strconv.FormatBool(r.Pass != nil && *r.Pass)
					if r.Pass != nil && !*r.Pass {
						exp += " (FAIL)"
					}
				}
				v.table.rows = append(v.table.rows, []string{strconv.Itoa(i), r.Principal, r.Resource, r.Operation, r.Decision, dash(r.rule()), r.Reason, exp})
				csvExp := ""
				if r.Expect != nil {
					csvExp = *r.Expect
				}
				v.csv = append(v.csv, []string{strconv.Itoa(i), r.Principal, r.Resource, r.Operation, r.source(), r.TimeUTC, r.Decision, r.rule(), r.Reason, csvExp, pass})
			}
			v.table.paint = func(row, col int) string {
				if r := d.Results[row]; col == 7 && r.Pass != nil && !*r.Pass {
					return sgrRed
				}
				return ""
			}
			if err := g.print(v); err != nil {
				return err
			}
			if d.Failed > 0 {
				return fmt.Errorf("%d of %d test cases did not get the expected decision", d.Failed, d.Total)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&input, "input-file", "", "the test file (same as the argument)")
	return cmd
}

// readBounded reads a file of at most max bytes.
func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d the admin API takes; split it", path, st.Size(), max)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return buf.Bytes(), nil
}

// ---- audit ----

// auditEvent is one audit line.
type auditEvent struct {
	Time      string            `json:"time"`
	Type      string            `json:"type"`
	Principal string            `json:"principal"`
	Source    string            `json:"source"`
	Resource  string            `json:"resource"`
	Operation string            `json:"operation"`
	Decision  string            `json:"decision"`
	RuleID    uint64            `json:"rule_id"`
	Node      string            `json:"node"`
	Message   string            `json:"message"`
	Details   map[string]string `json:"details"`
}

type auditPage struct {
	Node      string            `json:"node"`
	Path      string            `json:"path"`
	Count     int               `json:"count"`
	Truncated bool              `json:"truncated"`
	Events    []json.RawMessage `json:"events"`
	Malformed int               `json:"malformed_lines"`
	Errors    []string          `json:"read_errors"`
}

var auditHeader = []string{"TIME", "TYPE", "PRINCIPAL", "SOURCE", "RESOURCE", "OPERATION", "DECISION", "RULE", "MESSAGE"}
var auditCSVHeader = []string{"time", "type", "principal", "source", "resource", "operation", "decision", "rule_id", "node", "message"}

func (e auditEvent) row() []string {
	rule := "-"
	if e.RuleID != 0 {
		rule = strconv.FormatUint(e.RuleID, 10)
	}
	return []string{e.Time, e.Type, dash(e.Principal), dash(e.Source), dash(e.Resource), dash(e.Operation), dash(e.Decision), rule, e.Message}
}

func (e auditEvent) csvRow() []string {
	rule := ""
	if e.RuleID != 0 {
		rule = strconv.FormatUint(e.RuleID, 10)
	}
	return []string{e.Time, e.Type, e.Principal, e.Source, e.Resource, e.Operation, e.Decision, rule, e.Node, e.Message}
}

// auditFlags are the filters of audit logs and audit events.
type auditFlags struct {
	since, until, types, principal string
	limit                          int
}

func (a *auditFlags) add(cmd *cobra.Command, sinceDefault string) {
	f := cmd.Flags()
	f.StringVar(&a.since, "since", sinceDefault, "events at or after: an RFC 3339 time or a duration back from now (15m, 24h)")
	f.StringVar(&a.types, "type", "", "event types, comma-separated: authentication_failure, authorization_denied, authorization_allowed, acl_rule_created, acl_rule_deleted, certificate_issued, certificate_renewed, certificate_rotated, certificate_revoked, admin_write, ...")
	f.StringVar(&a.principal, "principal", "", "only this principal's events")
}

func (a *auditFlags) query(since string) url.Values {
	q := url.Values{}
	if since != "" {
		q.Set("since", since)
	}
	if a.until != "" {
		q.Set("until", a.until)
	}
	if a.types != "" {
		q.Set("type", a.types)
	}
	if a.principal != "" {
		q.Set("principal", a.principal)
	}
	if a.limit > 0 {
		q.Set("limit", strconv.Itoa(a.limit))
	}
	return q
}

func auditHint(err error) error {
	ae, ok := errors.AsType[*apiError](err)
	if !ok {
		return err
	}
	switch {
	case ae.status == http.StatusNotFound && strings.Contains(ae.msg, "audit logging is off"):
		return fmt.Errorf("%w\nhint: enable the audit log in the controller's config and restart it", err)
	case ae.status == http.StatusBadRequest:
		return fmt.Errorf("%w\nhint: `weir audit logs --help` lists the filters", err)
	}
	return err
}

func (g *globals) auditPage(q url.Values) (json.RawMessage, auditPage, []auditEvent, error) {
	path := "/api/v1/audit"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var raw json.RawMessage
	if err := g.api(http.MethodGet, path, nil, &raw); err != nil {
		return nil, auditPage{}, nil, auditHint(err)
	}
	var p auditPage
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, auditPage{}, nil, dataError("audit events", err)
	}
	evs := make([]auditEvent, len(p.Events))
	for i, b := range p.Events {
		if err := json.Unmarshal(b, &evs[i]); err != nil {
			return nil, auditPage{}, nil, dataError("audit event", err)
		}
	}
	return raw, p, evs, nil
}

func newAudit(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read the security audit log: logs, events --follow",
		Long: `Read the controller's security audit log (authentication failures,
authorization decisions, ACL changes, certificate lifecycle, admin writes),
through the admin API. Each process writes its own log: this reads the log of
the controller at --api-url.`,
	}
	cmd.AddCommand(newAuditLogs(g), newAuditEvents(g))
	return cmd
}

func newAuditLogs(g *globals) *cobra.Command {
	var af auditFlags
	cmd := &cobra.Command{
		Use:   "logs [--since 15m] [--until T] [--type T,...] [--principal P] [--limit N]",
		Short: "Show recent audit events",
		Long: `Show the most recent audit events that match, oldest first (at most --limit,
default 100, at most 10000). Formats: table; json and yaml (the API's answer:
node, path, count, truncated, events); csv (one row per event).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, p, evs, err := g.auditPage(af.query(af.since))
			if err != nil {
				return err
			}
			v := view{data: raw, table: table{header: auditHeader}, csv: [][]string{auditCSVHeader}}
			for _, e := range evs {
				v.table.rows = append(v.table.rows, e.row())
				v.csv = append(v.csv, e.csvRow())
			}
			v.table.paint = paintDecision(evs)
			if len(evs) == 0 {
				v.table = table{}
				v.preface = []string{fmt.Sprintf("no matching audit events in %s on %s", p.Path, p.Node)}
			}
			if p.Truncated {
				fmt.Fprintf(os.Stderr, "showing the %d most recent matching events; narrow --since or raise --limit for more\n", p.Count)
			}
			if p.Malformed > 0 || len(p.Errors) > 0 {
				fmt.Fprintf(os.Stderr, "warning: %d malformed lines skipped; %d files unreadable %v\n", p.Malformed, len(p.Errors), p.Errors)
			}
			return g.print(v)
		},
	}
	af.add(cmd, "")
	cmd.Flags().StringVar(&af.until, "until", "", "events before: an RFC 3339 time or a duration back from now")
	cmd.Flags().IntVar(&af.limit, "limit", 100, "at most this many events (the most recent), 1..10000")
	return cmd
}

func paintDecision(evs []auditEvent) func(row, col int) string {
	return func(row, col int) string {
		if col == 6 && evs[row].Decision == "deny" {
			return sgrRed
		}
		return ""
	}
}

// followInterval is how often audit events --follow polls.
const followInterval = time.Second

func newAuditEvents(g *globals) *cobra.Command {
	var af auditFlags
	var follow bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "events [--follow] [--since 15m] [--type T,...] [--principal P]",
		Short: "Show audit events; --follow streams new ones",
		Long: `Show recent audit events as 'weir audit logs' does, or with --follow stream
new ones until Ctrl-C (or --limit events). The admin API has no streaming
endpoint: --follow polls GET /api/v1/audit every --interval (1s) with
since=<time of the last event seen>, so an event appears within about a
second. --since (default: now) is where following starts; times are the
controller's, so a clock far off the controller's can miss or repeat the
first events. In follow mode json prints one event per line (JSON Lines),
yaml one document per event, csv a header then one row per event, table one
line per event.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !follow {
				limit := af.limit
				if limit == 0 {
					limit = 100
				}
				af.limit = limit
				raw, _, evs, err := g.auditPage(af.query(af.since))
				if err != nil {
					return err
				}
				v := view{data: raw, table: table{header: auditHeader}, csv: [][]string{auditCSVHeader}}
				for _, e := range evs {
					v.table.rows = append(v.table.rows, e.row())
					v.csv = append(v.csv, e.csvRow())
				}
				v.table.paint = paintDecision(evs)
				return g.print(v)
			}
			if interval <= 0 {
				return fmt.Errorf("--interval %v: want a positive duration", interval)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			return g.followAudit(ctx, af, interval)
		},
	}
	af.add(cmd, "")
	cmd.Flags().BoolVarP(&follow, "follow", "F", false, "stream new events (polls every --interval)")
	cmd.Flags().DurationVar(&interval, "interval", followInterval, "with --follow, how often to poll the admin API")
	cmd.Flags().IntVar(&af.limit, "limit", 0, "without --follow, at most this many events (default 100); with --follow, stop after this many (default: never)")
	return cmd
}

// followAudit polls the audit endpoint, printing each new event once.
// since is inclusive, so the events at the last time seen come back on the
// next poll: they are recognised by their bytes and skipped.
func (g *globals) followAudit(ctx context.Context, af auditFlags, interval time.Duration) error {
	since := af.since
	if since == "" {
		since = time.Now().UTC().Format(time.RFC3339Nano)
	}
	stopAfter := af.limit
	af.limit = 10_000 // each poll: everything new, up to the API's maximum
	seenAtLast := map[string]bool{}
	printed := 0
	header := false
	if ctx == nil {
		ctx = context.Background()
	}
	for {
		_, p, evs, err := g.auditPage(af.query(since))
		if err != nil {
			return err
		}
		if p.Truncated {
			fmt.Fprintf(os.Stderr, "warning: more than %d new events in one poll; older ones were skipped\n", p.Count)
		}
		for i, e := range evs {
			key := string(p.Events[i])
			if e.Time == since && seenAtLast[key] {
				continue
			}
			if e.Time != since {
				since, seenAtLast = e.Time, map[string]bool{}
			}
			seenAtLast[key] = true
			if err := g.printEvent(p.Events[i], e, !header); err != nil {
				return err
			}
			header = true
			printed++
			if stopAfter > 0 && printed >= stopAfter {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// printEvent prints one event of a stream in the --format.
func (g *globals) printEvent(raw json.RawMessage, e auditEvent, first bool) error {
	switch g.format {
	case formatJSON:
		b, err := toJSON(raw)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(os.Stdout, "%s\n", b)
		return err
	case formatYAML:
		y, err := jsonToYAML(raw)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(os.Stdout, "---\n%s", y)
		return err
	case formatCSV:
		rows := [][]string{e.csvRow()}
		if first {
			rows = append([][]string{auditCSVHeader}, rows...)
		}
		return writeReport(os.Stdout, formatCSV, view{csv: rows}, false)
	}
	_, err := fmt.Fprintln(os.Stdout, strings.Join(e.row(), "  "))
	return err
}

// ---- security status ----

type securityStatusData struct {
	Node string `json:"node"`
	ACL  struct {
		Rules          int      `json:"rules"`
		Version        uint64   `json:"version"`
		AllowIfNoRules bool     `json:"allow_everyone_if_no_acl_found"`
		SuperUsers     []string `json:"super_users"`
	} `json:"acl"`
	Audit struct {
		Enabled bool    `json:"enabled"`
		Path    *string `json:"path"`
	} `json:"audit"`
}

func newSecurity(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "security",
		Short: "Security overview: status",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Show the ACL rule set, authorizer options and audit log of the cluster",
		Long: `Show the number of ACL rules and the rule set's version, the authorizer's
options (super users, allow_everyone_if_no_acl_found) and whether the
controller at --api-url writes an audit log. Formats: table; json and yaml
(the API's answer); csv (one row).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var raw json.RawMessage
			if err := g.api(http.MethodGet, "/api/v1/security/status", nil, &raw); err != nil {
				return err
			}
			var s securityStatusData
			if err := json.Unmarshal(raw, &s); err != nil {
				return dataError("security status", err)
			}
			audit, path := "off", ""
			if s.Audit.Enabled {
				audit = "on"
				if s.Audit.Path != nil {
					path = *s.Audit.Path
				}
			}
			supers := strings.Join(s.ACL.SuperUsers, ",")
			rows := [][]string{
				{"controller", s.Node},
				{"acl rules", strconv.Itoa(s.ACL.Rules)},
				{"acl version", strconv.FormatUint(s.ACL.Version, 10)},
				{"allow everyone if no acl found", strconv.FormatBool(s.ACL.AllowIfNoRules)},
				{"super users", dash(supers)},
				{"audit log", strings.TrimSpace(audit + " " + path)},
			}
			return g.print(view{data: raw, table: table{rows: rows, keys: true},
				csv: [][]string{{"node", "acl_rules", "acl_version", "allow_everyone_if_no_acl_found", "super_users", "audit_enabled", "audit_path"},
					{s.Node, strconv.Itoa(s.ACL.Rules), strconv.FormatUint(s.ACL.Version, 10), strconv.FormatBool(s.ACL.AllowIfNoRules), supers, strconv.FormatBool(s.Audit.Enabled), path}}})
		},
	})
	return cmd
}
