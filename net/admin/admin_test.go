package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/acl"
)

// fakeBackend is a controller whose answers each test scripts. By default
// it leads, and creates and deletes succeed.
type fakeBackend struct {
	mu         sync.Mutex
	acls       *acl.State
	aclOptions acl.Options
	auditLog   string
	certs      map[string]sm.CertRecord
	self       sm.NodeID
	leader     sm.NodeID
	md         sm.MetadataDelta
	mdErr      error
	createFn   func(context.Context, sm.CreateTopicRequest) (sm.CreateTopicResponse, error)
	deleteFn   func(context.Context, sm.DeleteTopicRequest) (sm.DeleteTopicResponse, error)
	creates    []sm.CreateTopicRequest
	deletes    []sm.DeleteTopicRequest
	alterFn    func(context.Context, sm.AlterTopicConfigRequest) (sm.AlterTopicConfigResponse, error)
	alters     []sm.AlterTopicConfigRequest
	// status is what ClusterStatus answers, with IsLeader and Leader
	// filled from self and leader; a linearizable call on a follower gets
	// *NotLeaderError, as from a real controller. statusFn overrides it.
	status      ClusterStatus
	statusFn    func(ctx context.Context, stale bool) (ClusterStatus, error)
	statusCalls []bool // each call's stale argument
}

func newFake(self, leader sm.NodeID) *fakeBackend {
	return &fakeBackend{self: self, leader: leader, md: sm.MetadataDelta{Full: true},
		status: ClusterStatus{Metadata: sm.MetadataDelta{Full: true}}}
}

func (f *fakeBackend) ClusterStatus(ctx context.Context, stale bool) (ClusterStatus, error) {
	f.mu.Lock()
	f.statusCalls = append(f.statusCalls, stale)
	fn, st, self, leader := f.statusFn, f.status, f.self, f.leader
	f.mu.Unlock()
	if fn != nil {
		return fn(ctx, stale)
	}
	if !stale && leader != self {
		return ClusterStatus{}, &NotLeaderError{Leader: leader}
	}
	st.IsLeader, st.Leader = leader == self, leader
	return st, nil
}

// stales returns each ClusterStatus call's stale argument so far.
func (f *fakeBackend) stales() []bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.statusCalls)
}

func (f *fakeBackend) CreateTopic(ctx context.Context, req sm.CreateTopicRequest) (sm.CreateTopicResponse, error) {
	f.mu.Lock()
	f.creates = append(f.creates, req)
	fn := f.createFn
	f.mu.Unlock()
	if fn != nil {
		return fn(ctx, req)
	}
	return sm.CreateTopicResponse{LeaderHint: f.self}, nil
}

func (f *fakeBackend) DeleteTopic(ctx context.Context, req sm.DeleteTopicRequest) (sm.DeleteTopicResponse, error) {
	f.mu.Lock()
	f.deletes = append(f.deletes, req)
	fn := f.deleteFn
	f.mu.Unlock()
	if fn != nil {
		return fn(ctx, req)
	}
	return sm.DeleteTopicResponse{LeaderHint: f.self}, nil
}

func (f *fakeBackend) AlterTopicConfig(ctx context.Context, req sm.AlterTopicConfigRequest) (sm.AlterTopicConfigResponse, error) {
	f.mu.Lock()
	f.alters = append(f.alters, req)
	fn := f.alterFn
	f.mu.Unlock()
	if fn != nil {
		return fn(ctx, req)
	}
	return sm.AlterTopicConfigResponse{LeaderHint: f.self}, nil
}

func (f *fakeBackend) Metadata(context.Context) (sm.MetadataDelta, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.md, f.mdErr
}

func (f *fakeBackend) Leader() (sm.NodeID, sm.NodeID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.self, f.leader
}

// ApplyACL applies req to the fake's own rule set, as a leader would.
func (f *fakeBackend) ApplyACL(_ context.Context, req sm.ACLRequest) (sm.ACLResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.acls == nil {
		f.acls = &acl.State{}
	}
	res, err := f.acls.Apply(req.Command)
	if err != nil {
		return sm.ACLResponse{ReqID: req.ReqID, Code: sm.CodeInvalidRequest, Message: err.Error(), LeaderHint: f.leader}, nil
	}
	return sm.ACLResponse{ReqID: req.ReqID, Code: sm.CodeOK, LeaderHint: f.leader, Result: res}, nil
}

func (f *fakeBackend) ACLs(context.Context) (*acl.State, acl.Options, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.acls == nil {
		return &acl.State{}, f.aclOptions, nil
	}
	return f.acls.Clone(), f.aclOptions, nil
}

func (f *fakeBackend) AuditLog() string { return f.auditLog }

// Cert keeps a registry as the controller does, without raft.
func (f *fakeBackend) Cert(_ context.Context, req sm.CertRequest) (sm.CertResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.certs == nil {
		f.certs = map[string]sm.CertRecord{}
	}
	switch {
	case req.Register != nil && f.certs[req.Register.Serial].Serial != "":
		return sm.CertResponse{ReqID: req.ReqID, Code: sm.CodeInvalidRequest, Message: "registered already", LeaderHint: f.leader}, nil
	case req.Register != nil:
		f.certs[req.Register.Serial] = *req.Register
		return sm.CertResponse{ReqID: req.ReqID, Code: sm.CodeOK, LeaderHint: f.leader, Record: *req.Register}, nil
	}
	rec := f.certs[req.Revoke.Serial]
	rec.Serial, rec.Revoked, rec.Reason, rec.RevokedAtMs = req.Revoke.Serial, true, req.Revoke.Reason, req.Revoke.RevokedAtMs
	f.certs[rec.Serial] = rec
	return sm.CertResponse{ReqID: req.ReqID, Code: sm.CodeOK, LeaderHint: f.leader, Record: rec}, nil
}

func (f *fakeBackend) calls() (creates, deletes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.creates), len(f.deletes)
}

// logBuf collects Config.Log's JSON lines.
type logBuf struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newServer(t *testing.T, b Backend, urls map[sm.NodeID]string) (*Server, *logBuf) {
	t.Helper()
	self, _ := b.Leader()
	logs := &logBuf{}
	cfg := Config{Self: self, RequestTimeout: 2 * time.Second, Log: zerolog.New(logs)}
	if urls != nil {
		cfg.LeaderURL = func(id sm.NodeID) (string, bool) { u, ok := urls[id]; return u, ok }
	}
	s := New(cfg, b)
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s, logs
}

// answer is a response as a client sees it.
type answer struct {
	status int
	header http.Header
	raw    string
	env    struct {
		Success    bool            `json:"success"`
		Data       json.RawMessage `json:"data"`
		Error      *string         `json:"error"`
		LeaderHint *string         `json:"leader_hint"`
	}
}

func (a *answer) err() string {
	if a.env.Error == nil {
		return "<null>"
	}
	return *a.env.Error
}

func (a *answer) hint() string {
	if a.env.LeaderHint == nil {
		return "<null>"
	}
	return *a.env.LeaderHint
}

const jsonType = "application/json"

func do(t *testing.T, h http.Handler, method, path, contentType, body string) *answer {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return parseAnswer(t, w.Code, w.Header(), w.Body.Bytes())
}

// parseAnswer checks that every answer is an envelope with exactly the
// reference's four keys, and that success agrees with the status.
func parseAnswer(t *testing.T, status int, h http.Header, body []byte) *answer {
	t.Helper()
	a := &answer{status: status, header: h, raw: strings.TrimSpace(string(body))}
	if ct := h.Get("Content-Type"); ct != jsonType {
		t.Fatalf("status %d: Content-Type %q, want %q; body %s", status, ct, jsonType, body)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(body, &keys); err != nil {
		t.Fatalf("status %d: body is not a JSON object: %v: %s", status, err, body)
	}
	for _, k := range []string{"success", "data", "error", "leader_hint"} {
		if _, ok := keys[k]; !ok {
			t.Fatalf("status %d: envelope lacks %q: %s", status, k, body)
		}
	}
	if len(keys) != 4 {
		t.Fatalf("status %d: envelope has extra keys: %s", status, body)
	}
	if err := json.Unmarshal(body, &a.env); err != nil {
		t.Fatal(err)
	}
	if want := status >= 200 && status < 300; a.env.Success != want {
		t.Fatalf("status %d with success %v: %s", status, a.env.Success, body)
	}
	if !a.env.Success && (a.env.Error == nil || string(a.env.Data) != "null") {
		t.Fatalf("status %d: a failure needs an error and null data: %s", status, body)
	}
	return a
}

func expect(t *testing.T, a *answer, status int, errSub string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d: %s", a.status, status, a.raw)
	}
	if errSub != "" && !strings.Contains(a.err(), errSub) {
		t.Fatalf("error %q, want it to contain %q", a.err(), errSub)
	}
}

func compact(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func sampleMetadata() sm.MetadataDelta {
	return sm.MetadataDelta{Full: true, ToVersion: 9,
		Topics: []sm.TopicInfo{
			{Name: "user-events", ID: sm.TopicID{1}, Partitions: 2, ReplicationFactor: 3, Config: sm.TopicConfig{MinInSyncReplicas: 2}},
			{Name: "audit", ID: sm.TopicID{2}, Partitions: 1, ReplicationFactor: 1, Config: sm.TopicConfig{MinInSyncReplicas: 1, UncleanLeaderElection: true}},
		},
		Partitions: []sm.PartitionState{
			{TP: sm.TopicPartition{Topic: "user-events", Partition: 1}, Replicas: []sm.NodeID{102, 103, 101}, Leader: sm.NoNode, LeaderEpoch: 4, ISR: []sm.NodeID{}, ELR: []sm.NodeID{102}},
			{TP: sm.TopicPartition{Topic: "audit", Partition: 0}, Replicas: []sm.NodeID{101}, Leader: 101, LeaderEpoch: 1, ISR: []sm.NodeID{101}},
			{TP: sm.TopicPartition{Topic: "user-events", Partition: 0}, Replicas: []sm.NodeID{101, 102, 103}, Leader: 101, LeaderEpoch: 1, ISR: []sm.NodeID{101, 102}},
		},
	}
}

// The list is the reference's TopicSummary array, sorted by name, served
// from the applied metadata with the known leader as leader_hint.
func TestListTopics(t *testing.T) {
	b := newFake(1, 1)
	b.md = sampleMetadata()
	s, _ := newServer(t, b, nil)
	a := do(t, s.Handler(), "GET", "/api/v1/topics", "", "")
	expect(t, a, http.StatusOK, "")
	want := compact(t, `{"success":true,"data":[
		{"name":"audit","topic_id":"AgAAAAAAAAAAAAAAAAAAAA","partitions":1,"replication_factor":1,"created_at":null},
		{"name":"user-events","topic_id":"AQAAAAAAAAAAAAAAAAAAAA","partitions":2,"replication_factor":3,"created_at":null}
	],"error":null,"leader_hint":"controller-1"}`)
	if a.raw != want {
		t.Fatalf("got  %s\nwant %s", a.raw, want)
	}
	if got := b.md.Topics[0].Name; got != "user-events" {
		t.Fatalf("the backend's slice was reordered: %q first", got)
	}

	b.md = sampleMetadata()
	b.md.Topics, b.md.Partitions = nil, nil
	a = do(t, s.Handler(), "GET", "/api/v1/topics", "", "")
	if want := `{"success":true,"data":[],"error":null,"leader_hint":"controller-1"}`; a.raw != want {
		t.Fatalf("empty list: got %s, want %s", a.raw, want)
	}
}

// Describe follows the reference's shape: brokers by name, partitions in
// order, an offline leader null, unset retention, segment and compression settings null.
func TestDescribeTopic(t *testing.T) {
	b := newFake(2, 1) // a follower reads locally
	b.md = sampleMetadata()
	s, _ := newServer(t, b, nil)
	a := do(t, s.Handler(), "GET", "/api/v1/topics/user-events", "", "")
	expect(t, a, http.StatusOK, "")
	want := compact(t, `{"success":true,"data":{
		"name":"user-events","topic_id":"AQAAAAAAAAAAAAAAAAAAAA","partitions":2,"replication_factor":3,
		"config":{"retention_ms":null,"segment_bytes":null,"compression_type":null,"min_in_sync_replicas":2,"unclean_leader_election":false,"retention_bytes":null,"segment_ms":null,"local_retention_ms":null,"local_retention_bytes":null,"message_timestamp_type":"log_append_time"},
		"created_at":null,
		"partition_assignments":[
			{"partition":0,"leader":"broker-101","replicas":["broker-101","broker-102","broker-103"],"in_sync_replicas":["broker-101","broker-102"],"leader_epoch":1,
			 "uploaded":{"start_offset":0,"end_offset":0,"bytes":0,"segments":0}},
			{"partition":1,"leader":null,"replicas":["broker-102","broker-103","broker-101"],"in_sync_replicas":[],"eligible_leader_replicas":["broker-102"],"leader_epoch":4,
			 "uploaded":{"start_offset":0,"end_offset":0,"bytes":0,"segments":0}}
		]},"error":null,"leader_hint":"controller-1"}`)
	if a.raw != want {
		t.Fatalf("got  %s\nwant %s", a.raw, want)
	}
	if c, d := b.calls(); c+d != 0 {
		t.Fatalf("a read reached the write path: %d creates, %d deletes", c, d)
	}
}

func TestDescribeUnknownTopic(t *testing.T) {
	b := newFake(1, 1)
	b.md = sampleMetadata()
	s, _ := newServer(t, b, nil)
	a := do(t, s.Handler(), "GET", "/api/v1/topics/nope", "", "")
	expect(t, a, http.StatusNotFound, `topic "nope" does not exist`)
	if a.hint() != "controller-1" {
		t.Fatalf("leader_hint %s", a.hint())
	}
}

// Reads work without a leader (from applied state) and say none is known.
func TestReadsWithoutLeader(t *testing.T) {
	b := newFake(1, sm.NoNode)
	b.md = sampleMetadata()
	s, _ := newServer(t, b, nil)
	a := do(t, s.Handler(), "GET", "/api/v1/topics/audit", "", "")
	expect(t, a, http.StatusOK, "")
	if a.env.LeaderHint != nil {
		t.Fatalf("leader_hint %s, want null", a.hint())
	}
}

func TestMetadataFailures(t *testing.T) {
	b := newFake(1, 1)
	s, logs := newServer(t, b, nil)
	b.mdErr = errors.New("loop stopped")
	a := do(t, s.Handler(), "GET", "/api/v1/topics", "", "")
	expect(t, a, http.StatusServiceUnavailable, "metadata unavailable: loop stopped")
	if a.header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}

	b.mdErr, b.md = nil, sm.MetadataDelta{FromVersion: 3, ToVersion: 4}
	a = do(t, s.Handler(), "GET", "/api/v1/topics/x", "", "")
	expect(t, a, http.StatusInternalServerError, "partial metadata")
	if !strings.Contains(logs.String(), "partial metadata") {
		t.Fatalf("partial metadata not logged: %q", logs)
	}
}

// A create reaches the controller with the body's fields; the answer is
// 201 with the reference's message.
func TestCreateTopic(t *testing.T) {
	b := newFake(1, 1)
	s, _ := newServer(t, b, nil)
	body := `{"name":"user-events","partitions":12,"replication_factor":3,
		"retention_ms":null,"config":{"min_in_sync_replicas":2,"unclean_leader_election":true,"compression_type":null}}`
	a := do(t, s.Handler(), "POST", "/api/v1/topics", "application/json; charset=utf-8", body)
	expect(t, a, http.StatusCreated, "")
	if want := `{"success":true,"data":"Topic 'user-events' created","error":null,"leader_hint":"controller-1"}`; a.raw != want {
		t.Fatalf("got  %s\nwant %s", a.raw, want)
	}
	want := sm.CreateTopicRequest{Name: "user-events", Partitions: 12, ReplicationFactor: 3,
		Config: sm.TopicConfig{MinInSyncReplicas: 2, UncleanLeaderElection: true}}
	if len(b.creates) != 1 || !equalCreate(b.creates[0], want) {
		t.Fatalf("backend got %+v, want %+v", b.creates, want)
	}

	// Config absent (or null): the cluster defaults, zero in the request.
	a = do(t, s.Handler(), "POST", "/api/v1/topics", jsonType, `{"name":"t","partitions":1,"replication_factor":1,"config":null}`)
	expect(t, a, http.StatusCreated, "")
	if got := b.creates[1]; !equalCreate(got, sm.CreateTopicRequest{Name: "t", Partitions: 1, ReplicationFactor: 1}) {
		t.Fatalf("backend got %+v", got)
	}
}

func equalCreate(a, b sm.CreateTopicRequest) bool { return a == b }

func TestDeleteTopic(t *testing.T) {
	b := newFake(1, 1)
	s, _ := newServer(t, b, nil)
	a := do(t, s.Handler(), "DELETE", "/api/v1/topics/user-events", "", "")
	expect(t, a, http.StatusOK, "")
	if want := `{"success":true,"data":"Topic 'user-events' deleted","error":null,"leader_hint":"controller-1"}`; a.raw != want {
		t.Fatalf("got  %s\nwant %s", a.raw, want)
	}
	if len(b.deletes) != 1 || b.deletes[0].Name != "user-events" {
		t.Fatalf("backend got %+v", b.deletes)
	}
}

// Every bad body is a 400 (or 413/415) naming what is wrong, and never
// reaches the controller.
func TestCreateTopicBadRequests(t *testing.T) {
	const ok = `"name":"t","partitions":1,"replication_factor":1`
	cases := []struct {
		name, contentType, body string
		status                  int
		err                     string
	}{
		{"no content type", "", `{` + ok + `}`, 415, `Content-Type must be application/json (got "")`},
		{"form content type", "application/x-www-form-urlencoded", `{` + ok + `}`, 415, "application/x-www-form-urlencoded"},
		{"empty body", jsonType, ``, 400, "request body is empty"},
		{"malformed", jsonType, "{\n  \"name\": \"t\",\n  \"partitions\": 1 x\n}", 400, "malformed JSON at line 3, column 19 (byte offset 36): invalid character 'x'"},
		{"truncated", jsonType, `{"name":"t"`, 400, "malformed JSON at line 1, column 11 (byte offset 11): unexpected end of JSON input"},
		{"trailing data", jsonType, `{` + ok + `} {}`, 400, "invalid character '{' after top-level value"},
		{"not an object", jsonType, `[1]`, 400, "request body: want a JSON object, got array"},
		{"null body", jsonType, `null`, 400, "request body: want a JSON object, got null"},
		{"unknown field", jsonType, `{` + ok + `,"replicas":3}`, 400, `"replicas": unknown field (known: name, partitions, replication_factor`},
		{"case-folded field", jsonType, `{"Name":"t","partitions":1,"replication_factor":1}`, 400, `"Name": unknown field`},
		{"unknown config field", jsonType, `{` + ok + `,"config":{"cleanup_policy":"compact"}}`, 400, `"config.cleanup_policy": unknown field (known: min_in_sync_replicas,`},
		{"config not object", jsonType, `{` + ok + `,"config":"x"}`, 400, "config: want a JSON object, got string"},
		{"missing name", jsonType, `{"partitions":1,"replication_factor":1}`, 400, "name: required"},
		{"null name", jsonType, `{"name":null,"partitions":1,"replication_factor":1}`, 400, "name: required"},
		{"missing partitions", jsonType, `{"name":"t","replication_factor":1}`, 400, "partitions: required"},
		{"missing replication_factor", jsonType, `{"name":"t","partitions":1}`, 400, "replication_factor: required"},
		{"name type", jsonType, `{"name":7,"partitions":1,"replication_factor":1}`, 400, "name: want a string, got number (at byte offset 9)"},
		{"partitions type", jsonType, `{"name":"t","partitions":"1","replication_factor":1}`, 400, "partitions: want an integer in -2147483648..2147483647, got string"},
		{"partitions overflow", jsonType, `{"name":"t","partitions":3000000000,"replication_factor":1}`, 400, "partitions: want an integer in -2147483648..2147483647, got number 3000000000"},
		{"partitions fraction", jsonType, `{"name":"t","partitions":1.5,"replication_factor":1}`, 400, "partitions: want an integer"},
		{"replication_factor type", jsonType, `{"name":"t","partitions":1,"replication_factor":true}`, 400, "replication_factor: want an integer"},
		{"min isr type", jsonType, `{` + ok + `,"config":{"min_in_sync_replicas":"2"}}`, 400, "config.min_in_sync_replicas: want an integer"},
		{"unclean type", jsonType, `{` + ok + `,"config":{"unclean_leader_election":"yes"}}`, 400, "config.unclean_leader_election: want true or false, got string"},
		{"min isr zero", jsonType, `{` + ok + `,"config":{"min_in_sync_replicas":0}}`, 400, "config.min_in_sync_replicas: must be >= 1 (got 0)"},
		{"min isr above rf", jsonType, `{"name":"t","partitions":1,"replication_factor":2,"config":{"min_in_sync_replicas":3}}`, 400, "config.min_in_sync_replicas: 3 above replication_factor 2"},
		{"retention_ms disagreeing", jsonType, `{` + ok + `,"retention_ms":1,"config":{"retention_ms":2}}`, 400, "config.retention_ms: 2 disagrees with retention_ms 1"},
		{"retention_ms type", jsonType, `{` + ok + `,"retention_ms":"7d"}`, 400, "retention_ms: want an integer"},
		{"too large", jsonType, `{"name":"` + strings.Repeat("a", bodyBytesMax) + `"}`, 413, "request body above the 1048576-byte limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newFake(1, 1)
			s, _ := newServer(t, b, nil)
			a := do(t, s.Handler(), "POST", "/api/v1/topics", tc.contentType, tc.body)
			expect(t, a, tc.status, tc.err)
			if c, _ := b.calls(); c != 0 {
				t.Fatalf("a bad request reached the controller")
			}
		})
	}
}

// Every reply code maps to a deliberate status. Adding a code to sm fails
// this test until the table (and codeStatus) says how to answer it.
func TestReplyCodes(t *testing.T) {
	want := map[sm.Code]struct {
		status int
		err    string
	}{
		sm.CodeOK:                           {0, ""},
		sm.CodeNotLeader:                    {503, "msg; nothing was done, retry on the controller in leader_hint"},
		sm.CodeUnknownTopic:                 {404, "msg"},
		sm.CodeTopicExists:                  {409, "msg"},
		sm.CodeInvalidRequest:               {400, "msg"},
		sm.CodeNotEnoughReplicas:            {503, "msg (NOT_ENOUGH_REPLICAS); nothing was done, retry"},
		sm.CodeNotEnoughReplicasAfterAppend: {504, "outcome unknown (NOT_ENOUGH_REPLICAS_AFTER_APPEND: msg); check GET /api/v1/topics/t before retrying"},
		sm.CodeTimeout:                      {504, "outcome unknown (TIMEOUT: msg); check GET /api/v1/topics/t before retrying"},
		sm.CodeOffsetOutOfRange:             {500, "unexpected controller reply OFFSET_OUT_OF_RANGE: msg"},
		sm.CodeFencedLeaderEpoch:            {500, "unexpected controller reply FENCED_LEADER_EPOCH: msg"},
		sm.CodeUnknownLeaderEpoch:           {500, "unexpected controller reply UNKNOWN_LEADER_EPOCH: msg"},
		sm.CodeLeaderNotAvailable:           {503, "msg (LEADER_NOT_AVAILABLE); nothing was done, retry"},
		sm.CodeStaleBrokerEpoch:             {500, "unexpected controller reply STALE_BROKER_EPOCH: msg"},
		sm.CodeMessageTooLarge:              {413, "msg"},
		sm.CodeStorageError:                 {503, "msg (STORAGE_ERROR); nothing was done, retry"},
		sm.CodeInvalidReplicationFactor:     {400, "replication_factor: msg"},
		sm.CodeInvalidPartitions:            {400, "partitions: msg"},
		sm.CodeInvalidTopicName:             {400, "name: msg"},
		sm.CodeStaleRequest:                 {500, "unexpected controller reply STALE_REQUEST: msg"},
		sm.CodeLeadershipLost:               {504, "outcome unknown (LEADERSHIP_LOST: msg); check GET /api/v1/topics/t before retrying"},
		sm.CodeRemoteMismatch:               {500, "unexpected controller reply REMOTE_MISMATCH: msg"},
		sm.CodeTopicAuthorizationFailed:     {403, "msg"},
		sm.CodeClusterAuthorizationFailed:   {403, "msg"},
		sm.CodeCertificateRevoked:           {403, "msg"},
	}
	// Consumer-group codes come from the group coordinator, never from the
	// controller's topic create or delete: unexpected, 500.
	for _, c := range []sm.Code{sm.CodeCoordinatorNotAvailable, sm.CodeNotCoordinator, sm.CodeCoordinatorLoadInProgress,
		sm.CodeIllegalGeneration, sm.CodeUnknownMemberID, sm.CodeRebalanceInProgress, sm.CodeInconsistentGroupProtocol,
		sm.CodeInvalidGroupID, sm.CodeInvalidSessionTimeout, sm.CodeNonEmptyGroup, sm.CodeGroupIDNotFound,
		sm.CodeMemberIDRequired, sm.CodeGroupMaxSizeReached, sm.CodeFencedInstanceID, sm.CodePartitionNotAssigned,
		sm.CodeOffsetRegression, sm.CodeOffsetMetadataTooLarge, sm.CodeGroupAuthorizationFailed, sm.CodeCorruptMessage,
		sm.CodeDuplicateSequence, sm.CodeOutOfOrderSequence, sm.CodeUnknownProducerID, sm.CodeInvalidProducerEpoch} {
		want[c] = struct {
			status int
			err    string
		}{500, "unexpected controller reply " + c.String() + ": msg"}
	}
	var named []sm.Code
	for c := sm.Code(0); !strings.HasPrefix(c.String(), "Code("); c++ {
		named = append(named, c)
	}
	named = append(named, sm.Code(len(named))) // one unnamed code: 500
	for _, c := range named {
		w, ok := want[c]
		if !ok && !strings.HasPrefix(c.String(), "Code(") {
			t.Fatalf("code %s has no expected status in this test", c)
		}
		if !ok {
			w.status, w.err = 500, "unexpected controller reply "+c.String()+": msg"
		}
		if c == sm.CodeOK {
			continue
		}
		if (w.status == 504) != c.Unknown() {
			t.Fatalf("%s: status %d, but Unknown() is %v", c, w.status, c.Unknown())
		}
		t.Run(c.String(), func(t *testing.T) {
			b := newFake(1, 1)
			b.createFn = func(context.Context, sm.CreateTopicRequest) (sm.CreateTopicResponse, error) {
				return sm.CreateTopicResponse{Code: c, Message: "msg", LeaderHint: 3}, nil
			}
			b.deleteFn = func(context.Context, sm.DeleteTopicRequest) (sm.DeleteTopicResponse, error) {
				return sm.DeleteTopicResponse{Code: c, Message: "msg", LeaderHint: 3}, nil
			}
			s, logs := newServer(t, b, nil)
			for _, a := range []*answer{
				do(t, s.Handler(), "POST", "/api/v1/topics", jsonType, `{"name":"t","partitions":1,"replication_factor":1}`),
				do(t, s.Handler(), "DELETE", "/api/v1/topics/t", "", ""),
			} {
				expect(t, a, w.status, "")
				if a.err() != w.err {
					t.Fatalf("error %q, want %q", a.err(), w.err)
				}
				if a.hint() != "controller-3" {
					t.Fatalf("leader_hint %s, want the reply's controller-3", a.hint())
				}
			}
			if logged := strings.Contains(logs.String(), "unexpected controller reply"); logged != (w.status == 500) {
				t.Fatalf("status %d, logged %v: %q", w.status, logged, logs)
			}
		})
	}
}

// The brief's example: the controller's message passes through, prefixed
// with the field it is about.
func TestControllerMessagePassesThrough(t *testing.T) {
	b := newFake(1, 1)
	b.createFn = func(context.Context, sm.CreateTopicRequest) (sm.CreateTopicResponse, error) {
		return sm.CreateTopicResponse{Code: sm.CodeInvalidReplicationFactor, Message: "replication factor 3 above the 2 live brokers", LeaderHint: 1}, nil
	}
	s, _ := newServer(t, b, nil)
	a := do(t, s.Handler(), "POST", "/api/v1/topics", jsonType, `{"name":"t","partitions":1,"replication_factor":3}`)
	expect(t, a, http.StatusBadRequest, "")
	if want := "replication_factor: replication factor 3 above the 2 live brokers"; a.err() != want {
		t.Fatalf("error %q, want %q", a.err(), want)
	}
}

// A write with no reply: 503 only when the backend says it never submitted
// it, otherwise the outcome is unknown (504).
func TestBackendErrors(t *testing.T) {
	b := newFake(1, 1)
	s, _ := newServer(t, b, nil)
	b.createFn = func(context.Context, sm.CreateTopicRequest) (sm.CreateTopicResponse, error) {
		return sm.CreateTopicResponse{}, fmt.Errorf("inbox full: %w", ErrUnavailable)
	}
	a := do(t, s.Handler(), "POST", "/api/v1/topics", jsonType, `{"name":"t","partitions":1,"replication_factor":1}`)
	expect(t, a, http.StatusServiceUnavailable, "nothing was done, retry")

	b.deleteFn = func(ctx context.Context, _ sm.DeleteTopicRequest) (sm.DeleteTopicResponse, error) {
		<-ctx.Done() // a controller that never answers: RequestTimeout ends it
		return sm.DeleteTopicResponse{}, ctx.Err()
	}
	s.cfg.RequestTimeout = 20 * time.Millisecond
	a = do(t, s.Handler(), "DELETE", "/api/v1/topics/a%2Fb", "", "")
	expect(t, a, http.StatusGatewayTimeout, "outcome unknown (no reply from the controller: context deadline exceeded); check GET /api/v1/topics/a%2Fb before retrying")
	if b.deletes[0].Name != "a/b" {
		t.Fatalf("name %q, want the unescaped a/b", b.deletes[0].Name)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	s, _ := newServer(t, newFake(1, 1), nil)
	for _, tc := range []struct{ method, path, allow string }{
		{"PUT", "/api/v1/topics", "GET, HEAD, POST"},
		{"DELETE", "/api/v1/topics", "GET, HEAD, POST"},
		{"POST", "/api/v1/topics/x", "GET, HEAD, DELETE, PATCH"},
		{"PUT", "/api/v1/topics/x", "GET, HEAD, DELETE, PATCH"},
	} {
		a := do(t, s.Handler(), tc.method, tc.path, jsonType, `{}`)
		expect(t, a, http.StatusMethodNotAllowed, "method \""+tc.method+"\" not allowed")
		if got := a.header.Get("Allow"); got != tc.allow {
			t.Fatalf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
	}
}

func TestNotFound(t *testing.T) {
	s, _ := newServer(t, newFake(1, 1), nil)
	for _, p := range []string{"/", "/api/v1/topics/", "/api/v1/topics/x/partitions", "/healthz", "/api/v1/clusters",
		"/api/v1/brokers/", "/api/v1/brokers/1", "/api/v1/brokers/1/health/x", "/api/v1/brokers/1/metrics"} {
		a := do(t, s.Handler(), "GET", p, "", "")
		expect(t, a, http.StatusNotFound, "no such endpoint: GET")
	}
}

// With no leader known, writes are refused with 503 and a null hint;
// nothing reaches the controller.
func TestWritesWithoutLeader(t *testing.T) {
	b := newFake(1, sm.NoNode)
	s, _ := newServer(t, b, map[sm.NodeID]string{})
	for _, a := range []*answer{
		do(t, s.Handler(), "POST", "/api/v1/topics", jsonType, `{"name":"t","partitions":1,"replication_factor":1}`),
		do(t, s.Handler(), "DELETE", "/api/v1/topics/t", "", ""),
	} {
		expect(t, a, http.StatusServiceUnavailable, "no controller leader is known")
		if a.env.LeaderHint != nil || a.header.Get("Retry-After") != "1" {
			t.Fatalf("leader_hint %s, Retry-After %q", a.hint(), a.header.Get("Retry-After"))
		}
	}
	// A bad body is still a 400: shape checks need no leader.
	a := do(t, s.Handler(), "POST", "/api/v1/topics", jsonType, `{"name":"t"}`)
	expect(t, a, http.StatusBadRequest, "partitions: required")
	if c, d := b.calls(); c+d != 0 {
		t.Fatal("a write reached the controller without a leader")
	}
}

// A follower that does not know the leader's URL answers 503 naming it.
func TestFollowerWithoutLeaderURL(t *testing.T) {
	b := newFake(1, 2)
	s, _ := newServer(t, b, nil)
	a := do(t, s.Handler(), "DELETE", "/api/v1/topics/t", "", "")
	expect(t, a, http.StatusServiceUnavailable, "the admin URL of the leader controller-2 is unknown here")
	if a.hint() != "controller-2" {
		t.Fatalf("leader_hint %s", a.hint())
	}
	if c, d := b.calls(); c+d != 0 {
		t.Fatal("a follower ran a write")
	}
}

// cluster is controller 1 (a follower) forwarding to controller 2, the
// leader, over loopback HTTP.
type cluster struct {
	follower, leader *fakeBackend
	followerSrv      *Server
	leaderURL        string
	forwardedBy      []string // X-Weir-Forwarded-By as the leader saw it
	mu               sync.Mutex
}

func newCluster(t *testing.T) *cluster {
	c := &cluster{follower: newFake(1, 2), leader: newFake(2, 2)}
	leaderSrv, _ := newServer(t, c.leader, nil)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.forwardedBy = append(c.forwardedBy, r.Header.Get(forwardedHeader))
		c.mu.Unlock()
		leaderSrv.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	c.leaderURL = ts.URL
	c.followerSrv, _ = newServer(t, c.follower, map[sm.NodeID]string{2: ts.URL + "/"})
	return c
}

func TestForwardToLeader(t *testing.T) {
	c := newCluster(t)
	h := c.followerSrv.Handler()
	a := do(t, h, "POST", "/api/v1/topics", jsonType, `{"name":"user-events","partitions":3,"replication_factor":1}`)
	expect(t, a, http.StatusCreated, "")
	if a.raw != `{"success":true,"data":"Topic 'user-events' created","error":null,"leader_hint":"controller-2"}` {
		t.Fatalf("relayed %s", a.raw)
	}
	c.leader.deleteFn = func(context.Context, sm.DeleteTopicRequest) (sm.DeleteTopicResponse, error) {
		return sm.DeleteTopicResponse{Code: sm.CodeUnknownTopic, Message: `topic "a/b" does not exist`, LeaderHint: 2}, nil
	}
	a = do(t, h, "DELETE", "/api/v1/topics/a%2Fb", "", "")
	expect(t, a, http.StatusNotFound, `topic "a/b" does not exist`)

	if fc, fd := c.follower.calls(); fc+fd != 0 {
		t.Fatalf("the follower ran %d creates, %d deletes", fc, fd)
	}
	if len(c.leader.creates) != 1 || c.leader.creates[0].Name != "user-events" || c.leader.creates[0].Partitions != 3 {
		t.Fatalf("leader got %+v", c.leader.creates)
	}
	if len(c.leader.deletes) != 1 || c.leader.deletes[0].Name != "a/b" {
		t.Fatalf("leader got %+v (the escaped name must survive forwarding)", c.leader.deletes)
	}
	if !slices.Equal(c.forwardedBy, []string{"controller-1", "controller-1"}) {
		t.Fatalf("forwarded-by %q", c.forwardedBy)
	}
	// Reads are never forwarded.
	a = do(t, h, "GET", "/api/v1/topics", "", "")
	expect(t, a, http.StatusOK, "")
	if len(c.forwardedBy) != 2 {
		t.Fatal("a read was forwarded")
	}
}

// Controllers that disagree about the leader forward at most once: the
// second one answers 503 with its own hint, which the first relays.
func TestForwardOneHop(t *testing.T) {
	c := newCluster(t)
	c.leader.mu.Lock()
	c.leader.leader = 3 // controller 2 now believes controller 3 leads
	c.leader.mu.Unlock()
	a := do(t, c.followerSrv.Handler(), "DELETE", "/api/v1/topics/t", "", "")
	expect(t, a, http.StatusServiceUnavailable, `forwarded by "controller-1", but this controller is not the leader either (it believes controller-3 is)`)
	if a.hint() != "controller-3" || a.header.Get("Retry-After") != "1" {
		t.Fatalf("leader_hint %s, Retry-After %q", a.hint(), a.header.Get("Retry-After"))
	}
	if len(c.forwardedBy) != 1 || len(c.leader.deletes) != 0 {
		t.Fatalf("forwarded %d times, leader ran %d deletes", len(c.forwardedBy), len(c.leader.deletes))
	}
}

// The leader's admin endpoint is down: nothing was sent, so 503.
func TestForwardUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	s, _ := newServer(t, newFake(1, 2), map[sm.NodeID]string{2: url})
	a := do(t, s.Handler(), "POST", "/api/v1/topics", jsonType, `{"name":"t","partitions":1,"replication_factor":1}`)
	expect(t, a, http.StatusServiceUnavailable, "cannot reach the controller leader controller-2 at "+url)
	if a.hint() != "controller-2" {
		t.Fatalf("leader_hint %s", a.hint())
	}

	s, _ = newServer(t, newFake(1, 2), map[sm.NodeID]string{2: "::not a url"})
	a = do(t, s.Handler(), "DELETE", "/api/v1/topics/t", "", "")
	expect(t, a, http.StatusServiceUnavailable, "admin URL of the leader controller-2 is malformed")
}

// The request reached the leader and the answer did not come back: the
// outcome is unknown.
func TestForwardUnknownOutcome(t *testing.T) {
	hangup := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer hangup.Close()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer slow.Close()
	defer close(release)

	s, _ := newServer(t, newFake(1, 2), map[sm.NodeID]string{2: hangup.URL, 3: slow.URL})
	a := do(t, s.Handler(), "POST", "/api/v1/topics", jsonType, `{"name":"t","partitions":1,"replication_factor":1}`)
	expect(t, a, http.StatusGatewayTimeout, "outcome unknown (forwarded to the controller leader controller-2")
	if !strings.HasSuffix(a.err(), "check GET /api/v1/topics/t before retrying") {
		t.Fatalf("error %q does not say how to check", a.err())
	}

	b := newFake(1, 3)
	s, _ = newServer(t, b, map[sm.NodeID]string{3: slow.URL})
	s.cfg.RequestTimeout = 20 * time.Millisecond
	a = do(t, s.Handler(), "DELETE", "/api/v1/topics/t", "", "")
	expect(t, a, http.StatusGatewayTimeout, "context deadline exceeded")
}

// Something that is not a Weir admin API at the leader's URL: its answer
// is not relayed, and the outcome is unknown.
func TestForwardBadAnswer(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"plain text", "ok", 200},
		{"wrong success", `{"success":false,"data":null,"error":null,"leader_hint":null}`, 201},
		{"huge", `{"success":true,"data":"` + strings.Repeat("x", replyBytesMax) + `"}`, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer other.Close()
			s, logs := newServer(t, newFake(1, 2), map[sm.NodeID]string{2: other.URL})
			a := do(t, s.Handler(), "DELETE", "/api/v1/topics/t", "", "")
			expect(t, a, http.StatusBadGateway, "outcome unknown (the controller leader controller-2 at "+other.URL)
			if !strings.Contains(logs.String(), "forwarding DELETE /api/v1/topics/t to controller-2") {
				t.Fatalf("not logged: %q", logs)
			}
		})
	}
}

type panicBackend struct{ *fakeBackend }

func (panicBackend) Metadata(context.Context) (sm.MetadataDelta, error) { panic("boom") }

func TestPanicRecovered(t *testing.T) {
	s, logs := newServer(t, panicBackend{newFake(1, 1)}, nil)
	a := do(t, s.Handler(), "GET", "/api/v1/topics", "", "")
	expect(t, a, http.StatusInternalServerError, "internal error")
	if l := logs.String(); !strings.Contains(l, "admin: panic serving GET /api/v1/topics: boom") || !strings.Contains(l, "goroutine") {
		t.Fatalf("panic not logged with its stack: %q", l)
	}
}

// Over a real listener: the server's limits hold and Shutdown ends Serve
// cleanly.
func TestServeAndShutdown(t *testing.T) {
	b := newFake(1, 1)
	b.md = sampleMetadata()
	s := New(Config{Self: 1, Log: zerolog.New(zerolog.NewTestWriter(t))}, b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	base := "http://" + ln.Addr().String()

	resp, err := http.Get(base + "/api/v1/topics/audit")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	a := parseAnswer(t, resp.StatusCode, resp.Header, body)
	expect(t, a, http.StatusOK, "")

	if s.srv.ReadHeaderTimeout <= 0 || s.srv.ReadTimeout <= 0 || s.srv.WriteTimeout <= s.cfg.RequestTimeout || s.srv.IdleTimeout <= 0 || s.srv.MaxHeaderBytes <= 0 {
		t.Fatalf("server limits unset: %+v", s.srv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}

// An oversized body over a real connection is cut at the limit and
// answered 413. Parallel: net/http then lingers 500 ms before closing.
func TestBodyLimitOverTheWire(t *testing.T) {
	t.Parallel()
	s := New(Config{Self: 1, Log: zerolog.New(zerolog.NewTestWriter(t))}, newFake(1, 1))
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	big := bytes.Repeat([]byte(" "), bodyBytesMax+1024)
	resp, err := http.Post(ts.URL+"/api/v1/topics", jsonType, bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	expect(t, parseAnswer(t, resp.StatusCode, resp.Header, body), http.StatusRequestEntityTooLarge, "request body above the 1048576-byte limit")
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg Config
		err string
	}{
		{Config{}, "admin: self must not be none"},
		{Config{Self: 1, RequestTimeout: -1}, "admin: request timeout must be >= 0 (got -1ns)"},
		{Config{Self: 1}, ""},
	} {
		err := tc.cfg.Validate()
		if got := fmt.Sprint(err); (err == nil) != (tc.err == "") || err != nil && got != tc.err {
			t.Fatalf("%+v: %v, want %q", tc.cfg, err, tc.err)
		}
	}
	s := New(Config{Self: 1}, newFake(1, 1))
	if s.cfg.RequestTimeout != DefaultRequestTimeout {
		t.Fatalf("defaults not applied: %+v", s.cfg)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("New accepted a nil backend")
		}
	}()
	New(Config{Self: 1}, nil)
}

// The reference's create example, with its retention, segment and
// compression settings, is accepted and its settings reach the controller.
func TestCreateTopicReferenceExample(t *testing.T) {
	b := newFake(1, 1)
	s, _ := newServer(t, b, nil)
	body := `{"name":"user-events","partitions":12,"replication_factor":3,"retention_ms":604800000,"segment_bytes":1073741824,"compression_type":"lz4"}`
	a := do(t, s.Handler(), "POST", "/api/v1/topics", jsonType, body)
	expect(t, a, 201, "")
	req := b.lastCreate()
	if req.Config.RetentionMs != 604800000 || req.Config.SegmentBytes != 1073741824 || req.Config.CompressionType != "lz4" {
		t.Fatalf("settings not passed on: %+v", req.Config)
	}
}

func (f *fakeBackend) lastCreate() sm.CreateTopicRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.creates) == 0 {
		return sm.CreateTopicRequest{}
	}
	return f.creates[len(f.creates)-1]
}
