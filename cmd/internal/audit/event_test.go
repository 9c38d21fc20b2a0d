package audit

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"pgregory.net/rapid"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var t0 = time.Date(2026, 12, 3, 13, 18, 58, 123456789, time.UTC)

// goldenEvents cover every type and every field, with characters JSON must
// escape and HTML characters it must not.
func goldenEvents() []Event {
	evs := []Event{
		{Time: t0, Type: AuthorizationDenied, Principal: "app@example.com", Source: "10.1.2.3:50512",
			Resource: Resource("topic", "orders"), Operation: "write", Decision: Deny, RuleID: 42,
			Node: "broker-1", Message: "write to orders denied by rule 42"},
		{Time: t0.In(time.FixedZone("CET", 3600)), Type: CertificateIssued, Principal: "admin", Node: "controller-1",
			Message: "issued", Details: map[string]string{"serial": "0x1f", "not_after": "2027-12-03T00:00:00Z", "role": "client"}},
		{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Type: AuthenticationFailure, Source: "[::1]:9000",
			Node: "broker-2", Message: "certificate signed by unknown authority \"x\" <a&b>\n"},
	}
	for _, t := range Types() {
		evs = append(evs, Event{Time: t0, Type: t, Node: "n"})
	}
	return evs
}

// The JSON shape is an interface (SIEMs parse it): field names, order, time
// format and omissions are pinned by a golden file.
func TestEventJSONGolden(t *testing.T) {
	var got []byte
	for _, ev := range goldenEvents() {
		var err error
		if got, err = ev.AppendLine(got); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join("testdata", "events.golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if string(got) != string(want) {
		t.Fatalf("JSON lines differ from %s (run with -update if intended):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
	// And each line reads back as the event, with time in UTC.
	lines := strings.Split(strings.TrimSuffix(string(want), "\n"), "\n")
	for i, ev := range goldenEvents() {
		var back Event
		if err := json.Unmarshal([]byte(lines[i]), &back); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		ev.Time = ev.Time.UTC()
		if !equalEvents(back, ev) {
			t.Fatalf("line %d round trip:\ngot  %+v\nwant %+v", i, back, ev)
		}
	}
}

func equalEvents(a, b Event) bool {
	if len(a.Details) == 0 && len(b.Details) == 0 {
		a.Details, b.Details = nil, nil
	}
	a.Time, b.Time = a.Time.UTC(), b.Time.UTC()
	return reflect.DeepEqual(a, b)
}

func TestEventRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ev := Event{
			Time:      time.Unix(0, rapid.Int64Range(0, 1<<62).Draw(t, "ns")).UTC(),
			Type:      rapid.SampledFrom(Types()).Draw(t, "type"),
			Principal: rapid.String().Draw(t, "principal"),
			Source:    rapid.String().Draw(t, "source"),
			Resource:  rapid.String().Draw(t, "resource"),
			Operation: rapid.String().Draw(t, "op"),
			Decision:  rapid.SampledFrom([]Decision{NoDecision, Allow, Deny}).Draw(t, "decision"),
			RuleID:    rapid.Uint64().Draw(t, "rule"),
			Node:      rapid.String().Draw(t, "node"),
			Message:   rapid.String().Draw(t, "msg"),
		}
		if rapid.Bool().Draw(t, "details") {
			ev.Details = rapid.MapOf(rapid.String(), rapid.String()).Draw(t, "d")
			if len(ev.Details) == 0 {
				ev.Details = nil
			}
		}
		line, err := ev.AppendLine(nil)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(string(line), "\n") != 1 || line[len(line)-1] != '\n' {
			t.Fatalf("not one line: %q", line)
		}
		var back Event
		if err := back.UnmarshalJSON(line[:len(line)-1]); err != nil {
			t.Fatal(err)
		}
		again, _ := back.AppendLine(nil)
		if string(again) != string(line) { // stable under re-encoding (invalid UTF-8 becomes U+FFFD once)
			t.Fatalf("re-encoding differs:\n%s\n%s", line, again)
		}
		if back.RuleID != ev.RuleID || back.Type != ev.Type || back.Decision != ev.Decision || !back.Time.Equal(ev.Time) {
			t.Fatalf("fields lost: %+v vs %+v", back, ev)
		}
	})
}

func TestParseType(t *testing.T) {
	for _, typ := range Types() {
		got, err := ParseType(typ.String())
		if err != nil || got != typ {
			t.Fatalf("ParseType(%q) = %v, %v", typ.String(), got, err)
		}
	}
	names := []string{"authentication_failure", "authorization_denied", "authorization_allowed", "acl_rule_created",
		"acl_rule_deleted", "certificate_issued", "certificate_renewed", "certificate_rotated", "certificate_revoked",
		"admin_write", "connection_closed_revoked", "events_dropped", "events_suppressed"}
	for i, n := range names {
		if Types()[i].String() != n {
			t.Fatalf("type %d is %q, want %q", i, Types()[i], n)
		}
	}
	for _, bad := range []string{"", "denied", "AUTHORIZATION_DENIED", " admin_write"} {
		_, err := ParseType(bad)
		if err == nil || !strings.Contains(err.Error(), "want one of authentication_failure,") {
			t.Fatalf("ParseType(%q) error %v does not list the names", bad, err)
		}
	}
	if _, err := ParseType("nope"); !strings.Contains(err.Error(), `unknown event type "nope"`) {
		t.Fatalf("error does not name the input: %v", err)
	}
	ts, err := ParseTypes("admin_write, authorization_denied,admin_write")
	if err != nil || len(ts) != 2 || ts[0] != AdminWrite || ts[1] != AuthorizationDenied {
		t.Fatalf("ParseTypes = %v, %v", ts, err)
	}
	if _, err := ParseTypes("admin_write,,x"); err == nil {
		t.Fatal("blank item accepted")
	}
	if Type(0).Valid() || typeEnd.Valid() {
		t.Fatal("0 or typeEnd valid")
	}
	if _, err := (Event{Type: 0}).AppendLine(nil); err == nil {
		t.Fatal("invalid type encoded")
	}
	if _, err := (Event{Type: AdminWrite, Decision: "maybe"}).AppendLine(nil); err == nil {
		t.Fatal("invalid decision encoded")
	}
}

func TestUnmarshalErrorsNameTheField(t *testing.T) {
	for line, want := range map[string]string{
		`{"type":"admin_write"}`:                                              "no time",
		`{"time":"yesterday","type":"admin_write"}`:                           `time "yesterday"`,
		`{"time":"2026-12-03T13:18:58Z","type":"x"}`:                          `unknown event type "x"`,
		`{"time":"2026-12-03T13:18:58Z","type":"admin_write","decision":"y"}`: `unknown decision "y"`,
		`{"time":`: "decode event",
		`[1,2]`:    "decode event",
	} {
		var ev Event
		err := ev.UnmarshalJSON([]byte(line))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to mention %q", line, err, want)
		}
	}
	// Unknown fields from a newer writer are ignored.
	var ev Event
	if err := ev.UnmarshalJSON([]byte(`{"time":"2026-12-03T13:18:58.5Z","type":"admin_write","new_field":1}`)); err != nil {
		t.Fatal(err)
	}
}

func TestBoundedClipsHostileFields(t *testing.T) {
	long := strings.Repeat("é", FieldBytesMax) // 2 bytes a rune: the cut falls mid-rune
	d := map[string]string{}
	for i := range DetailsMax + 5 {
		d[strings.Repeat("k", i+1)] = long
	}
	d[strings.Repeat("z", 500)] = "v"
	ev := Event{Type: AuthorizationDenied, Principal: long, Message: strings.Repeat("m", 10000), Details: d}.bounded()
	if len(ev.Principal) > FieldBytesMax || !utf8.ValidString(ev.Principal) {
		t.Fatalf("principal %d bytes, valid %v", len(ev.Principal), utf8.ValidString(ev.Principal))
	}
	if len(ev.Message) != MessageBytesMax {
		t.Fatalf("message %d bytes", len(ev.Message))
	}
	if len(ev.Details) != DetailsMax+1 || ev.Details["truncated"] != "true" {
		t.Fatalf("details %d entries, truncated=%q", len(ev.Details), ev.Details["truncated"])
	}
	for k, v := range ev.Details {
		if len(k) > DetailKeyMax || len(v) > FieldBytesMax {
			t.Fatalf("detail %d/%d bytes", len(k), len(v))
		}
	}
	d["k"] = "changed" // the bounded copy does not alias the caller's map
	if ev.Details["k"] == "changed" {
		t.Fatal("details aliased")
	}
	small := Event{Type: AdminWrite, Principal: "p"}.bounded()
	if small.Details != nil {
		t.Fatalf("untruncated event grew details: %v", small.Details)
	}
}
