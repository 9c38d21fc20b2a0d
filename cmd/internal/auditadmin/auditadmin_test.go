package auditadmin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weirmq/weir/cmd/internal/audit"
	"github.com/weirmq/weir/net/admin"
	"github.com/weirmq/weir/sm"
)

func writeLog(t *testing.T, evs ...audit.Event) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	var b []byte
	for _, ev := range evs {
		var err error
		if b, err = ev.AppendLine(b); err != nil {
			t.Fatal(err)
		}
	}
	b = append(b, "not json\n"...)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var t0 = time.Date(2026, 12, 3, 13, 0, 0, 0, time.UTC)

// Goal: Reader filters by type, principal and time, keeps the most recent
// Limit, counts malformed lines, and refuses unknown types as the query's
// fault.
func TestReader(t *testing.T) {
	path := writeLog(t,
		audit.Event{Time: t0, Type: audit.AuthorizationDenied, Principal: "app", Resource: "topic:orders", Operation: "write", Decision: audit.Deny, RuleID: 2},
		audit.Event{Time: t0.Add(time.Minute), Type: audit.ACLRuleCreated, Principal: "admin"},
		audit.Event{Time: t0.Add(2 * time.Minute), Type: audit.AuthorizationDenied, Principal: "app"},
		audit.Event{Time: t0.Add(3 * time.Minute), Type: audit.AuthorizationDenied, Principal: "other"},
	)
	page, err := Reader(context.Background(), path, admin.AuditQuery{Types: []string{"authorization_denied"}, Principal: "app", Limit: 10})
	if err != nil || len(page.Events) != 2 || page.Malformed != 1 || page.Files != 1 {
		t.Fatalf("page %+v, %v", page, err)
	}
	var first map[string]any
	json.Unmarshal(page.Events[0], &first)
	if first["rule_id"] != 2.0 || first["type"] != "authorization_denied" || first["decision"] != "deny" {
		t.Fatalf("event: %s", page.Events[0])
	}
	page, _ = Reader(context.Background(), path, admin.AuditQuery{Since: t0.Add(time.Minute), Limit: 2})
	if len(page.Events) != 2 || !strings.Contains(string(page.Events[1]), `"principal":"other"`) {
		t.Fatalf("since+limit: %s", page.Events)
	}
	_, err = Reader(context.Background(), path, admin.AuditQuery{Types: []string{"nope"}, Limit: 1})
	if !errors.Is(err, admin.ErrBadAuditQuery) || !strings.Contains(err.Error(), `unknown event type "nope"`) {
		t.Fatalf("bad type: %v", err)
	}
	page, err = Reader(context.Background(), filepath.Join(t.TempDir(), "none.log"), admin.AuditQuery{Limit: 5})
	if err != nil || len(page.Events) != 0 {
		t.Fatalf("no log: %+v %v", page, err)
	}
}

// backend is just enough of a controller for the audit endpoint.
type backend struct {
	admin.Backend
	path string
}

func (b backend) Leader() (sm.NodeID, sm.NodeID) { return 1, 1 }
func (b backend) AuditLog() string               { return b.path }

// Goal: through the admin API, GET /api/v1/audit answers the log's events
// and a 400 naming an unknown type.
func TestThroughAdminAPI(t *testing.T) {
	path := writeLog(t, audit.Event{Time: t0, Type: audit.AdminWrite, Principal: "ops", Operation: "POST /api/v1/acls"})
	s := admin.New(admin.Config{Self: 1, Audit: Reader}, backend{path: path})
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/audit?type=admin_write&since=2026-12-03T12:00:00Z", nil))
	var env struct {
		Data struct {
			Count  int               `json:"count"`
			Events []json.RawMessage `json:"events"`
		} `json:"data"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || w.Code != 200 || env.Data.Count != 1 || !strings.Contains(string(env.Data.Events[0]), `"operation":"POST /api/v1/acls"`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	w = httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/audit?type=bogus", nil))
	if w.Code != 400 || !strings.Contains(w.Body.String(), `unknown event type \"bogus\"`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}
