package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/cmd/internal/audit"
	"github.com/weirmq/weir/cmd/internal/auditadmin"
	"github.com/weirmq/weir/net/admin"
	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/acl"
)

// secController is a leading controller's admin API (the real net/admin
// server) over an in-memory ACL state and a real audit log file, so the CLI
// is tested against the API's own answers without starting a cluster.
type secController struct {
	admin.Backend // the topic methods are not used (nil: a call would panic the handler, answered 500)
	mu            sync.Mutex
	acls          *acl.State
	opt           acl.Options
	auditPath     string
	url           string
}

func (c *secController) Leader() (sm.NodeID, sm.NodeID) { return 1, 1 }
func (c *secController) AuditLog() string               { return c.auditPath }

func (c *secController) ApplyACL(_ context.Context, req sm.ACLRequest) (sm.ACLResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	res, err := c.acls.Apply(req.Command)
	if err != nil {
		return sm.ACLResponse{Code: sm.CodeInvalidRequest, Message: err.Error()}, nil
	}
	return sm.ACLResponse{Code: sm.CodeOK, Result: res}, nil
}

func (c *secController) ACLs(context.Context) (*acl.State, acl.Options, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.acls.Clone(), c.opt, nil
}

func newSecController(t *testing.T) *secController {
	t.Helper()
	c := &secController{acls: &acl.State{}, auditPath: filepath.Join(t.TempDir(), "audit.log")}
	s := admin.New(admin.Config{Self: 1, Log: zerolog.Nop(), Audit: auditadmin.Reader}, c)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	c.url = srv.URL
	return c
}

// appendAudit writes events to the audit log as a Logger would.
func (c *secController) appendAudit(t *testing.T, evs ...audit.Event) {
	t.Helper()
	f, err := os.OpenFile(c.auditPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, ev := range evs {
		b, err := ev.AppendLine(nil)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(b)
	}
}

func (c *secController) cli(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	return runIO(t, stdin, append(args, "--api-url", c.url)...)
}

func (c *secController) ok(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := c.cli(t, "", args...)
	if err != nil {
		t.Fatalf("weir %s: %v (stderr %q)", strings.Join(args, " "), err, errOut)
	}
	return out
}

func (c *secController) fails(t *testing.T, want string, args ...string) {
	t.Helper()
	_, _, err := c.cli(t, "", args...)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("weir %s: error %v, want it to contain %q", strings.Join(args, " "), err, want)
	}
}

// Goal: acl create, list, test, permissions, bulk-test and delete work
// end to end through the admin API in every format, with errors that name
// the bad field and say what to try.
func TestACLCommands(t *testing.T) {
	c := newSecController(t)
	out := c.ok(t, "acl", "create", "--principal", "app@example.com", "--resource", "topic.events.*", "--permissions", "read,write", "--effect", "allow")
	want := "" +
		"ACL rule 1 created (version 1)\n" +
		"ID  PRINCIPAL        RESOURCE        OPERATIONS  EFFECT  CONDITIONS\n" +
		"1   app@example.com  topic:events.*  read,write  allow   -\n"
	if out != want {
		t.Fatalf("create:\n%s\nwant\n%s", out, want)
	}
	var created struct {
		Version uint64    `json:"version"`
		Created []uint64  `json:"created"`
		Deleted []uint64  `json:"deleted"`
		Rules   []aclRule `json:"rules"`
		Message string    `json:"message"`
	}
	parseJSON(t, c.ok(t, "acl", "create", "--principal", "ops-*", "--resource", "cluster", "--operations", "describe", "--effect", "allow",
		"--conditions", "source_ip=10.0.0.0/8,time_range=09:00-17:00", "--format", "json"), &created)
	if created.Version != 2 || !slices.Equal(created.Created, []uint64{2}) || created.Rules[0].conditions() != "source_ip=10.0.0.0/8,time_range=09:00-17:00" {
		t.Fatalf("create json: %+v", created)
	}
	recs := parseCSV(t, c.ok(t, "acl", "create", "--principal", "app@example.com", "--resource", "topic:events.secret", "--permissions", "write", "--effect", "deny", "-o", "csv"), aclCSVHeader...)
	if !slices.Equal(recs[0], []string{"3", "app@example.com", "topic:events.secret", "write", "deny", ""}) {
		t.Fatalf("create csv: %q", recs)
	}

	// list, filtered, in every format
	rows := tableRows(c.ok(t, "acl", "list"))
	if len(rows) != 4 || rows[2][0] != "2" || rows[2][5] != "source_ip=10.0.0.0/8,time_range=09:00-17:00" {
		t.Fatalf("list: %q", rows)
	}
	recs = parseCSV(t, c.ok(t, "acl", "list", "--principal", "app@example.com", "--format", "csv"), aclCSVHeader...)
	if len(recs) != 2 || recs[0][0] != "1" || recs[1][0] != "3" {
		t.Fatalf("list --principal csv: %q", recs)
	}
	var l aclListData
	parseJSON(t, c.ok(t, "acl", "list", "--effect", "deny", "-o", "json"), &l)
	if l.Count != 1 || l.Rules[0].ID != 3 || l.Version != 3 {
		t.Fatalf("list --effect json: %+v", l)
	}
	hasLines(t, c.ok(t, "acl", "list", "--resource", "cluster", "-o", "yaml"), "version: 3", "count: 1", "- id: 2", "  source_ips:", "  - 10.0.0.0/8", "  time_range: 09:00-17:00", "  resource: cluster:*")
	if out := c.ok(t, "acl", "list", "--principal", "nobody"); out != "no ACL rules match (rule set version 3)\n" {
		t.Fatalf("empty list: %q", out)
	}

	// test
	out = c.ok(t, "acl", "test", "--principal", "app@example.com", "--resource", "topic:events.a", "--operation", "write")
	hasLines(t, out, "decision    ALLOWED", "reason      allowed_by_rule", "rule        1", "rule text   #1 allow app@example.com read,write on topic:events.*")
	out = c.ok(t, "acl", "test", "--principal", "app@example.com", "--resource", "topic.events.secret", "--operation", "write", "-o", "csv")
	recs = parseCSV(t, out, "principal", "resource", "operation", "source_ip", "time_utc", "decision", "reason", "rule_id")
	if recs[0][5] != "deny" || recs[0][6] != "denied_by_rule" || recs[0][7] != "3" {
		t.Fatalf("test csv: %q", recs)
	}
	var d aclDecision
	json.Unmarshal([]byte(c.ok(t, "acl", "test", "--principal", "ops-1", "--resource", "cluster", "--operation", "describe", "--source-ip", "10.2.3.4", "--time", "10:00", "-o", "json")), &d)
	if !d.Allowed || d.RuleID == nil || *d.RuleID != 2 || d.TimeUTC != "10:00" || d.source() != "10.2.3.4" {
		t.Fatalf("test with conditions: %+v", d)
	}
	json.Unmarshal([]byte(c.ok(t, "acl", "test", "--principal", "ops-1", "--resource", "cluster", "--operation", "describe", "--time", "10:00", "-o", "json")), &d)
	if d.Allowed || d.Reason != "no_matching_allow" {
		t.Fatalf("test without a source: %+v", d)
	}
	c.fails(t, "operation: unknown operation \"fly\"", "acl", "test", "--principal", "p", "--resource", "topic:t", "--operation", "fly")
	c.fails(t, "--operation is required", "acl", "test", "--principal", "p", "--resource", "topic:t")

	// permissions
	rows = tableRows(c.ok(t, "acl", "permissions", "app@example.com"))
	if len(rows) != 3 || rows[1][0] != "1" || rows[2][0] != "3" {
		t.Fatalf("permissions: %q", rows)
	}
	c.mu.Lock()
	c.opt = acl.Options{SuperUsers: []string{"root"}, AllowIfNoRules: true}
	c.mu.Unlock()
	if out := c.ok(t, "acl", "permissions", "root"); out != "root is a super user: allowed everything, whatever the rules\nno ACL rule names \"root\" (resources no rule covers are open to everyone: allow_everyone_if_no_acl_found)\n" {
		t.Fatalf("permissions of a super user: %q", out)
	}

	// bulk-test with expectations: one fails, so the command fails after printing
	dir := t.TempDir()
	file := filepath.Join(dir, "cases.json")
	os.WriteFile(file, []byte(`[
		{"principal": "app@example.com", "resource": "topic:events.a", "operation": "write", "expect": "allow"},
		{"principal": "app@example.com", "resource": "topic:events.secret", "operation": "write", "expect": "deny"},
		{"principal": "app@example.com", "resource": "topic:orders", "operation": "write", "expect": "deny"}]`), 0o600)
	out, _, err := c.cli(t, "", "acl", "bulk-test", file)
	if err == nil || err.Error() != "1 of 3 test cases did not get the expected decision" {
		t.Fatalf("bulk-test error: %v", err)
	}
	rows = tableRows(out)
	if !strings.HasPrefix(out, "3 requests: 2 allowed, 1 denied; 1 failed their expectation (rule set version 3)\n") || len(rows) != 5 || rows[4][len(rows[4])-1] != "(FAIL)" {
		t.Fatalf("bulk-test table:\n%s", out)
	}
	os.WriteFile(file, []byte(`{"requests": [{"principal": "app@example.com", "resource": "topic:events.a", "operation": "write", "expect": "allow"}]}`), 0o600)
	recs = parseCSV(t, c.ok(t, "acl", "bulk-test", "--input-file", file, "-o", "csv"),
		"index", "principal", "resource", "operation", "source_ip", "time_utc", "decision", "rule_id", "reason", "expect", "pass")
	if len(recs) != 1 || recs[0][6] != "allow" || recs[0][10] != "true" {
		t.Fatalf("bulk-test csv: %q", recs)
	}
	os.WriteFile(file, []byte(`[{"principal": "p", "resource": "topic:t"}]`), 0o600)
	c.fails(t, file+": requests[0].operation: required", "acl", "bulk-test", file)
	os.WriteFile(file, []byte(`[{`), 0o600)
	c.fails(t, "is not valid JSON", "acl", "bulk-test", file)
	c.fails(t, "no such file", "acl", "bulk-test", filepath.Join(dir, "none.json"))

	// bad rules name the field and point at help
	c.fails(t, "conditions: ", "acl", "create", "--principal", "p", "--resource", "topic:t", "--permissions", "read", "--conditions", "source_ip=10.0.0.1/8")
	c.fails(t, "hint: `weir acl create --help`", "acl", "create", "--principal", "p", "--resource", "queue:t", "--permissions", "read")
	c.fails(t, "effect: unknown effect", "acl", "create", "--principal", "p", "--resource", "topic:t", "--permissions", "read", "--effect", "maybe")
	c.fails(t, "--permissions is required", "acl", "create", "--principal", "p", "--resource", "topic:t")

	// delete: confirmation, by ID, by filter
	c.fails(t, "refusing to prompt: stdin is not a terminal; pass --force to delete", "acl", "delete", "1")
	fakeTerminal(t)
	out, errOut, err := c.cli(t, "n\n", "acl", "delete", "1")
	if err == nil || !strings.Contains(err.Error(), "nothing deleted: not confirmed") || !strings.Contains(errOut, "Delete ACL rule 1? [y/N]") {
		t.Fatalf("delete declined: %v %q %q", err, out, errOut)
	}
	out, _, err = c.cli(t, "y\n", "acl", "delete", "1")
	if err != nil || out != "ACL rule 1 deleted (version 4)\n" {
		t.Fatalf("delete confirmed: %v %q", err, out)
	}
	c.fails(t, "no such rule: rule 1", "acl", "delete", "1", "--force")
	c.fails(t, "rule ID \"x\": want a number", "acl", "delete", "x", "--force")
	c.fails(t, "give the ID of the rule to delete", "acl", "delete", "--force")
	recs = parseCSV(t, c.ok(t, "acl", "delete", "--principal", "app@example.com", "--force", "-o", "csv"), "deleted", "version")
	if !slices.Equal(recs[0], []string{"3", "5"}) {
		t.Fatalf("delete by filter: %q", recs)
	}
	if l := tableRows(c.ok(t, "acl", "list")); len(l) != 2 || l[1][0] != "2" {
		t.Fatalf("after deletes: %q", l)
	}
}

// Goal: audit logs filters and formats the controller's audit events,
// audit events --follow prints each new event once as it arrives (polling),
// and security status reports the rules and the audit log.
func TestAuditAndSecurityCommands(t *testing.T) {
	c := newSecController(t)
	now := time.Now().UTC().Truncate(time.Second)
	c.appendAudit(t,
		audit.Event{Time: now.Add(-time.Hour), Type: audit.AuthorizationDenied, Principal: "app", Source: "10.0.0.1:5000", Resource: "topic:orders", Operation: "write", Decision: audit.Deny, RuleID: 7, Node: "broker-1", Message: "write to orders denied by rule 7"},
		audit.Event{Time: now.Add(-30 * time.Minute), Type: audit.ACLRuleCreated, Principal: "admin", Node: "controller-1", Message: "rule 8 created"},
		audit.Event{Time: now.Add(-5 * time.Minute), Type: audit.AuthorizationDenied, Principal: "other", Resource: "topic:x", Operation: "read", Decision: audit.Deny, Message: "read denied"},
	)
	rows := tableRows(c.ok(t, "audit", "logs"))
	if len(rows) != 4 || rows[1][1] != "authorization_denied" || rows[1][7] != "7" || rows[2][1] != "acl_rule_created" {
		t.Fatalf("audit logs: %q", rows)
	}
	recs := parseCSV(t, c.ok(t, "audit", "logs", "--type", "authorization_denied", "--principal", "app", "-o", "csv"), auditCSVHeader...)
	if len(recs) != 1 || recs[0][2] != "app" || recs[0][3] != "10.0.0.1:5000" || recs[0][8] != "broker-1" {
		t.Fatalf("audit logs csv: %q", recs)
	}
	var page auditPage
	parseJSON(t, c.ok(t, "audit", "logs", "--since", "15m", "-o", "json"), &page)
	if page.Count != 1 || page.Path != c.auditPath || page.Node != "controller-1" {
		t.Fatalf("audit logs --since json: %+v", page)
	}
	_, errOut, err := c.cli(t, "", "audit", "logs", "--limit", "1")
	if err != nil || !strings.Contains(errOut, "showing the 1 most recent matching events") {
		t.Fatalf("audit logs --limit 1: %v %q", err, errOut)
	}
	c.fails(t, `unknown event type "nope"`, "audit", "logs", "--type", "nope")
	c.fails(t, "limit: ", "audit", "logs", "--limit", "20000")
	c.fails(t, "since: ", "audit", "logs", "--since", "yesterday")

	// follow: events appended while following are printed once each
	done := make(chan struct{})
	var out string
	go func() {
		defer close(done)
		out, _, err = c.cli(t, "", "audit", "events", "--follow", "--since", "10m", "--interval", "50ms", "--limit", "3", "-o", "json")
	}()
	time.Sleep(200 * time.Millisecond)
	later := time.Now().UTC()
	c.appendAudit(t, audit.Event{Time: later, Type: audit.AdminWrite, Principal: "ops", Operation: "POST /api/v1/acls"})
	time.Sleep(200 * time.Millisecond)
	c.appendAudit(t, audit.Event{Time: later.Add(time.Millisecond), Type: audit.CertificateIssued, Principal: "ops"})
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("audit events --follow did not stop after --limit 3")
	}
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var types []string
	for _, l := range lines {
		var e auditEvent
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("follow line %q: %v", l, err)
		}
		types = append(types, e.Type)
	}
	if !slices.Equal(types, []string{"authorization_denied", "admin_write", "certificate_issued"}) {
		t.Fatalf("follow: %q", out)
	}
	recs = parseCSV(t, c.ok(t, "audit", "events", "--type", "acl_rule_created", "-o", "csv"), auditCSVHeader...)
	if len(recs) != 1 || recs[0][1] != "acl_rule_created" {
		t.Fatalf("audit events csv: %q", recs)
	}

	// security status
	c.ok(t, "acl", "create", "--principal", "p", "--resource", "topic:t", "--permissions", "read")
	c.mu.Lock()
	c.opt = acl.Options{SuperUsers: []string{"root"}, AllowIfNoRules: true}
	c.mu.Unlock()
	out = c.ok(t, "security", "status")
	hasLines(t, out, "controller                      controller-1", "acl rules                       1", "acl version                     1",
		"allow everyone if no acl found  true", "super users                     root", "audit log                       on "+c.auditPath)
	recs = parseCSV(t, c.ok(t, "security", "status", "-o", "csv"), "node", "acl_rules", "acl_version", "allow_everyone_if_no_acl_found", "super_users", "audit_enabled", "audit_path")
	if !slices.Equal(recs[0], []string{"controller-1", "1", "1", "true", "root", "true", c.auditPath}) {
		t.Fatalf("status csv: %q", recs)
	}
	hasLines(t, c.ok(t, "security", "status", "-o", "yaml"), "node: controller-1", "acl:", "  rules: 1", "audit:", "  enabled: true")

	// audit off
	c.auditPath = ""
	c.fails(t, "hint: enable the audit log in the controller's config", "audit", "logs")
	if out := c.ok(t, "security", "status"); !strings.Contains(out, "audit log                       off\n") {
		t.Fatalf("status with audit off: %q", out)
	}
}

// Goal: against a controller that does not serve the security endpoints
// (an older Weir), the commands say so and what to do.
func TestSecurityCommandsOldController(t *testing.T) {
	f := newFakeController(t)
	for _, args := range [][]string{{"acl", "list"}, {"security", "status"}, {"audit", "logs"}} {
		_, _, err := runIO(t, "", append(args, "--api-url", f.URL)...)
		if err == nil || !strings.Contains(err.Error(), "does not serve GET /api/v1/") || !strings.Contains(err.Error(), "older Weir") {
			t.Errorf("weir %s: %v", strings.Join(args, " "), err)
		}
	}
	_, _, err := runIO(t, "", "acl", "list", "--api-url", "http://127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "cannot reach the controller") {
		t.Errorf("unreachable: %v", err)
	}
}

// Goal: the README's security quick start against weir dev: issue a
// certificate for app@example.com from the dev CA, grant it write on
// topic.events.* (with describe for everyone and everything for the CLI's
// own principal, so every topic is covered by a rule), then producing to
// events.a works and to orders is refused; acl test, permissions and
// security status agree.
func TestSecurityQuickStartDev(t *testing.T) {
	d := startDev(t)
	dir := d.flags[1] // --data
	app := filepath.Join(dir, "app")
	run := func(stdin string, args ...string) (string, string, error) {
		t.Helper()
		return d.cli(t, stdin, args...)
	}
	cli := func(args ...string) string {
		t.Helper()
		out, errOut, err := run("", args...)
		if err != nil {
			t.Fatalf("weir %s: %v (stderr %q)", strings.Join(args, " "), err, errOut)
		}
		return out
	}
	cli("create-topic", "events.a", "1", "1")
	cli("create-topic", "orders", "1", "1")
	cli("certs", "issue", "--ca-dir", filepath.Join(dir, "certs"), "--principal", "app@example.com", "--role", "client", "--out", app)
	hasLines(t, cli("certs", "validate", filepath.Join(app, "app@example.com.pem"), "--ca-dir", filepath.Join(dir, "certs"), "--role", "client"), "result     VALID")
	if out := cli("acl", "create", "--principal", "app@example.com", "--resource", "topic.events.*", "--permissions", "write", "--effect", "allow"); !strings.HasPrefix(out, "ACL rule 1 created") {
		t.Fatalf("create: %q", out)
	}
	cli("acl", "create", "--principal", "*", "--resource", "topic:*", "--permissions", "describe", "--effect", "allow")
	cli("acl", "create", "--principal", "client-cli", "--resource", "topic:*", "--permissions", "all", "--effect", "allow")

	var dd aclDecision
	json.Unmarshal([]byte(cli("acl", "test", "--principal", "app@example.com", "--resource", "topic:events.a", "--operation", "write", "-o", "json")), &dd)
	if !dd.Allowed || dd.RuleID == nil || *dd.RuleID != 1 {
		t.Fatalf("test events.a: %+v", dd)
	}
	json.Unmarshal([]byte(cli("acl", "test", "--principal", "app@example.com", "--resource", "topic:orders", "--operation", "write", "-o", "json")), &dd)
	if dd.Allowed || dd.Reason != "no_matching_allow" {
		t.Fatalf("test orders: %+v", dd)
	}
	if rows := tableRows(cli("acl", "permissions", "app@example.com")); len(rows) != 3 {
		t.Fatalf("permissions: %q", rows)
	}
	hasLines(t, cli("security", "status"), "acl rules                       3", "acl version                     3")

	// Brokers learn the rules with their next metadata update.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, errOut, err := run("hello\n", "produce", "orders", "--certs", app, "--cert-name", "app@example.com")
		if err != nil && strings.Contains(errOut+err.Error(), "TOPIC_AUTHORIZATION_FAILED") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("produce to orders as app@example.com was not refused: %q %q %v", out, errOut, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, errOut, err := run("hello\n", "produce", "events.a", "--certs", app, "--cert-name", "app@example.com"); err != nil || !strings.Contains(out+errOut, "produced 1 records") {
		t.Fatalf("produce to events.a as app@example.com: %q %q %v", out, errOut, err)
	}
	if out, errOut, err := run("hello\n", "produce", "orders"); err != nil || !strings.Contains(out+errOut, "produced 1 records") {
		t.Fatalf("produce to orders as client-cli: %q %q %v", out, errOut, err)
	}
	// The controller's audit log holds the rule changes.
	if out := cli("audit", "logs", "--type", "acl_rule_created", "-o", "json"); strings.Count(out, "acl_rule_created") < 3 || !strings.Contains(out, "admin-api") {
		t.Fatalf("audit logs: %q", out)
	}
	cli("acl", "delete", "1", "--force")
	if rows := tableRows(cli("acl", "list")); len(rows) != 3 || rows[1][0] != "2" {
		t.Fatalf("list after delete: %q", rows)
	}
	// Revoked in the cluster's registry: the certificate is refused.
	if out := cli("certs", "revoke", "--cert", filepath.Join(app, "app@example.com.pem"), "--ca-dir", filepath.Join(dir, "certs"), "--reason", "keyCompromise", "--force"); !strings.Contains(out, "the cluster's registry revoked it") {
		t.Fatalf("revoke: %q", out)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		out, errOut, err := run("hello\n", "produce", "events.a", "--certs", app, "--cert-name", "app@example.com")
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a revoked certificate still produces: %q %q", out, errOut)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The registry lists it as revoked.
	if out := cli("certs", "list", "--registry", "--status", "revoked"); !strings.Contains(out, "app@example.com") {
		t.Fatalf("registry list: %q", out)
	}
}

// Goal: acl list follows the API's pages: every rule of a set larger than
// one page is listed once, in ID order.
func TestACLListPages(t *testing.T) {
	c := newSecController(t)
	rules := make([]acl.Rule, 0, 20_001)
	for i := range 20_001 {
		r, err := acl.ParseRule(fmt.Sprintf("p%d", i), "topic:t", "read", "allow", "")
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, r)
	}
	if _, err := c.acls.Create(rules...); err != nil {
		t.Fatal(err)
	}
	var l aclListData
	parseJSON(t, c.ok(t, "acl", "list", "-o", "json"), &l)
	if l.Count != 20_001 || l.Total != 20_001 || l.NextAfter != nil || l.Rules[0].ID != 1 || l.Rules[20_000].ID != 20_001 {
		t.Fatalf("list: count %d total %d next %v", l.Count, l.Total, l.NextAfter)
	}
	for i, r := range l.Rules {
		if r.ID != uint64(i+1) {
			t.Fatalf("rule %d has ID %d", i, r.ID)
		}
	}
}
