package admin

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/weirmq/weir/sm"
)

// Goal: PATCH /api/v1/topics/{name} takes a JSON object of config keys and
// sends only those to the controller (null sets one back to unset); unknown
// keys, bad values, an empty object and a non-object are refused 400 naming
// the key, before anything reaches the controller; the controller's
// refusal passes through with its status.
func TestAlterTopic(t *testing.T) {
	b := newFake(1, 1)
	s, _ := newServer(t, b, nil)
	a := do(t, s.Handler(), "PATCH", "/api/v1/topics/a%2Fb", jsonType, `{"retention_ms":60000,"segment_bytes":1048576,"segment_ms":null}`)
	expect(t, a, http.StatusOK, "")
	if want := `{"success":true,"data":"Topic 'a/b' config altered","error":null,"leader_hint":"controller-1"}`; a.raw != want {
		t.Fatalf("got  %s\nwant %s", a.raw, want)
	}
	want := sm.AlterTopicConfigRequest{Name: "a/b", Set: []sm.TopicConfigEntry{
		{Key: sm.ConfigRetentionMs, Value: 60000}, {Key: sm.ConfigSegmentBytes, Value: 1 << 20}, {Key: sm.ConfigSegmentMs, Value: 0}}}
	if len(b.alters) != 1 || b.alters[0].Name != want.Name || !slices.Equal(b.alters[0].Set, want.Set) {
		t.Fatalf("backend got %+v, want %+v", b.alters, want)
	}

	for _, c := range []struct{ name, body, msg string }{
		{"unknown key", `{"retention_ms":1,"min_in_sync_replicas":2}`, `"min_in_sync_replicas": not an alterable config key (keys: retention_ms, retention_bytes, segment_bytes, segment_ms, local_retention_ms, local_retention_bytes)`},
		{"string value", `{"retention_bytes":"1GB"}`, `retention_bytes: want an integer`},
		{"fraction", `{"segment_ms":1.5}`, `segment_ms: want an integer`},
		{"empty", `{}`, "no config keys to change"},
		{"array", `[1]`, "want a JSON object of config keys"},
		{"null", `null`, "no config keys to change"},
		{"malformed", `{"retention_ms":`, "malformed JSON"},
	} {
		a := do(t, s.Handler(), "PATCH", "/api/v1/topics/t", jsonType, c.body)
		expect(t, a, http.StatusBadRequest, c.msg)
	}
	if len(b.alters) != 1 {
		t.Fatalf("refused bodies reached the controller: %+v", b.alters[1:])
	}
	a = do(t, s.Handler(), "PATCH", "/api/v1/topics/t", "text/plain", `{"retention_ms":1}`)
	expect(t, a, http.StatusUnsupportedMediaType, "Content-Type must be application/json")

	b.alterFn = func(_ context.Context, req sm.AlterTopicConfigRequest) (sm.AlterTopicConfigResponse, error) {
		if req.Name == "nope" {
			return sm.AlterTopicConfigResponse{Code: sm.CodeUnknownTopic, Message: `topic "nope" does not exist`}, nil
		}
		return sm.AlterTopicConfigResponse{Code: sm.CodeInvalidRequest, Message: "segment_bytes must be 0 (unset) or in 1048576..17179869184 (1 MiB..16 GiB) (got 5)"}, nil
	}
	a = do(t, s.Handler(), "PATCH", "/api/v1/topics/t", jsonType, `{"segment_bytes":5}`)
	expect(t, a, http.StatusBadRequest, "segment_bytes must be 0 (unset) or in 1048576..17179869184")
	a = do(t, s.Handler(), "PATCH", "/api/v1/topics/nope", jsonType, `{"segment_bytes":1048576}`)
	expect(t, a, http.StatusNotFound, `topic "nope" does not exist`)
}

// Goal: a follower forwards an alter, body and escaped name intact, to the
// leader and relays its answer, as it does creates and deletes.
func TestAlterTopicForwarded(t *testing.T) {
	c := newCluster(t)
	a := do(t, c.followerSrv.Handler(), "PATCH", "/api/v1/topics/a%2Fb", jsonType, `{"retention_bytes":-1}`)
	expect(t, a, http.StatusOK, "")
	if len(c.follower.alters) != 0 {
		t.Fatalf("the follower ran %+v", c.follower.alters)
	}
	if len(c.leader.alters) != 1 || c.leader.alters[0].Name != "a/b" ||
		!slices.Equal(c.leader.alters[0].Set, []sm.TopicConfigEntry{{Key: sm.ConfigRetentionBytes, Value: -1}}) {
		t.Fatalf("leader got %+v", c.leader.alters)
	}
	if !slices.Equal(c.forwardedBy, []string{"controller-1"}) {
		t.Fatalf("forwarded-by %q", c.forwardedBy)
	}
}

// Goal: create takes retention_bytes and segment_ms at the top level and
// under config, and refuses the two disagreeing.
func TestCreateTopicNewSettings(t *testing.T) {
	b := newFake(1, 1)
	s, _ := newServer(t, b, nil)
	a := do(t, s.Handler(), "POST", "/api/v1/topics", jsonType, `{"name":"t","partitions":1,"replication_factor":1,"retention_bytes":1073741824,"config":{"segment_ms":3600000}}`)
	expect(t, a, http.StatusCreated, "")
	if got := b.lastCreate().Config; got.RetentionBytes != 1<<30 || got.SegmentMs != 3600000 {
		t.Fatalf("backend got %+v", got)
	}
	a = do(t, s.Handler(), "POST", "/api/v1/topics", jsonType, `{"name":"t","partitions":1,"replication_factor":1,"segment_ms":1000,"config":{"segment_ms":2000}}`)
	expect(t, a, http.StatusBadRequest, "config.segment_ms: 2000 disagrees with segment_ms 1000")
}
