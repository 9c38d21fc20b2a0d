package admin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/net/tlsutil"
	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/acl"
)

// mtlsCA is a CA and the certificates the tests present.
type mtlsCA struct {
	pool  *x509.CertPool
	certs map[string]tls.Certificate
}

func newMTLSCA(t *testing.T, names ...string) *mtlsCA {
	t.Helper()
	dir := t.TempDir()
	ca, err := tlsutil.GenerateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := &mtlsCA{pool: x509.NewCertPool(), certs: map[string]tls.Certificate{}}
	m.pool.AddCert(ca.Cert)
	for _, n := range names {
		p, err := tlsutil.IssueCert(ca, n, []string{"127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.LoadX509KeyPair(p.Cert, p.Key)
		if err != nil {
			t.Fatal(err)
		}
		m.certs[n] = pair
	}
	return m
}

// serve starts s on an https listener that asks for (and verifies) client
// certificates, presenting the certificate named server.
func (m *mtlsCA) serve(t *testing.T, s *Server, server string) *httptest.Server {
	t.Helper()
	ts := httptest.NewUnstartedServer(s.Handler())
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{m.certs[server]}, ClientCAs: m.pool, ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS13}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts
}

// client dials with the named certificate ("" for none).
func (m *mtlsCA) client(name string) *http.Client {
	c := &tls.Config{RootCAs: m.pool, MinVersion: tls.VersionTLS13}
	if name != "" {
		c.Certificates = []tls.Certificate{m.certs[name]}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: c}, Timeout: 10 * time.Second}
}

type auditSink struct {
	mu   sync.Mutex
	recs []AuditRecord
}

func (a *auditSink) add(r AuditRecord) { a.mu.Lock(); a.recs = append(a.recs, r); a.mu.Unlock() }

func (a *auditSink) find(typ, principal, msg string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.recs {
		if r.Type == typ && r.Principal == principal && strings.Contains(r.Message, msg) {
			return true
		}
	}
	return false
}

// callerBackend records who the API says each create came from.
type callerBackend struct {
	*fakeBackend
	mu      sync.Mutex
	callers []Caller
}

func (b *callerBackend) CreateTopic(ctx context.Context, req sm.CreateTopicRequest) (sm.CreateTopicResponse, error) {
	c, _ := CallerFrom(ctx)
	b.mu.Lock()
	b.callers = append(b.callers, c)
	b.mu.Unlock()
	return b.fakeBackend.CreateTopic(ctx, req)
}

func httpsDo(t *testing.T, c *http.Client, method, url, body string, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Goal: on a TLS listener a client certificate authenticates its
// principal, and the ACLs decide what it may do, as brokers decide for
// clients: cluster reads need describe, writes alter, topic operations
// the topic's permission (or create on the cluster); the topic list shows
// only what the principal may describe. A forged principal header, a
// revoked certificate, a broker certificate and no credentials at all are
// refused; each refusal and each served write is audited with the
// principal, and the backend sees the principal with the request.
func TestMutualTLSPrincipalsAndACLs(t *testing.T) {
	ca := newMTLSCA(t, "controller-1", "controller-2", "client-alice", "client-bob", "broker-101")
	fb := &callerBackend{fakeBackend: newFake(1, 1)}
	fb.md.Topics = []sm.TopicInfo{{Name: "orders", Partitions: 1, ReplicationFactor: 1}, {Name: "payments", Partitions: 1, ReplicationFactor: 1}}
	var sink auditSink
	revoked := map[string]bool{}
	var revMu sync.Mutex
	s := New(Config{Self: 1, Log: zerolog.Nop(), RequestTimeout: 5 * time.Second, AuthToken: "s3cret", RequireAuth: true, AuditEvent: sink.add,
		Revoked: func(c *x509.Certificate) bool {
			revMu.Lock()
			defer revMu.Unlock()
			return revoked[c.Subject.CommonName]
		}}, fb)
	ts := ca.serve(t, s, "controller-1")
	alice, bob, none := ca.client("client-alice"), ca.client("client-bob"), ca.client("")
	token := map[string]string{"Authorization": "Bearer s3cret"}
	u := ts.URL

	if code, body := httpsDo(t, none, "GET", u+"/api/v1/cluster", "", nil); code != 401 || !strings.Contains(body, "needs authentication") {
		t.Errorf("no credentials: %d %s", code, body)
	}
	if code, body := httpsDo(t, none, "GET", u+"/health", "", nil); code != 200 {
		t.Errorf("health: %d %s", code, body)
	}
	// no rules, and allow_everyone_if_no_acl_found off: alice may do nothing
	if code, body := httpsDo(t, alice, "GET", u+"/api/v1/brokers", "", nil); code != 403 || !strings.Contains(body, `CLUSTER_AUTHORIZATION_FAILED: principal \"client-alice\" may not describe the cluster`) {
		t.Errorf("alice without rules: %d %s", code, body)
	}
	if !sink.find("authorization_denied", "client-alice", "may not describe the cluster") {
		t.Errorf("the denial was not audited: %+v", sink.recs)
	}
	// the operator grants through the token
	for _, rule := range []string{
		`{"principal":"client-alice","resource":"cluster","operations":"describe","effect":"allow"}`,
		`{"principal":"client-alice","resource":"topic:orders","operations":"create,describe","effect":"allow"}`,
		`{"principal":"client-bob","resource":"cluster","operations":"create","effect":"allow"}`,
	} {
		if code, body := httpsDo(t, none, "POST", u+"/api/v1/acls", rule, token); code != 201 {
			t.Fatalf("grant %s: %d %s", rule, code, body)
		}
	}
	if code, body := httpsDo(t, alice, "GET", u+"/api/v1/brokers", "", nil); code != 200 {
		t.Errorf("alice may describe the cluster now: %d %s", code, body)
	}
	if code, body := httpsDo(t, alice, "GET", u+"/api/v1/brokers", "", map[string]string{"Authorization": "Bearer wrong"}); code != 401 {
		t.Errorf("a wrong token beside a certificate, on a controller with a token: %d %s", code, body)
	}
	if code, body := httpsDo(t, alice, "GET", u+"/api/v1/topics", "", nil); code != 200 || !strings.Contains(body, `"orders"`) || strings.Contains(body, "payments") {
		t.Errorf("alice's topic list: %d %s", code, body)
	}
	if code, body := httpsDo(t, alice, "GET", u+"/api/v1/topics/payments", "", nil); code != 403 || !strings.Contains(body, `TOPIC_AUTHORIZATION_FAILED: principal \"client-alice\" may not describe topic \"payments\"`) {
		t.Errorf("alice describes payments: %d %s", code, body)
	}
	if code, body := httpsDo(t, alice, "POST", u+"/api/v1/topics", `{"name":"orders","partitions":1,"replication_factor":1}`, nil); code != 201 {
		t.Errorf("alice creates orders: %d %s", code, body)
	}
	if code, body := httpsDo(t, alice, "POST", u+"/api/v1/topics", `{"name":"payments","partitions":1,"replication_factor":1}`, nil); code != 403 || !strings.Contains(body, "may not create topic") {
		t.Errorf("alice creates payments: %d %s", code, body)
	}
	if code, body := httpsDo(t, bob, "POST", u+"/api/v1/topics", `{"name":"anything","partitions":1,"replication_factor":1}`, nil); code != 201 {
		t.Errorf("bob (create on the cluster) creates a topic: %d %s", code, body)
	}
	if code, body := httpsDo(t, alice, "DELETE", u+"/api/v1/topics/orders", "", nil); code != 403 || !strings.Contains(body, "may not delete topic") {
		t.Errorf("alice deletes orders: %d %s", code, body)
	}
	if code, body := httpsDo(t, alice, "POST", u+"/api/v1/acls", `{"principal":"client-alice","resource":"cluster","operations":"all","effect":"allow"}`, nil); code != 403 || !strings.Contains(body, "may not alter the cluster") {
		t.Errorf("alice grants herself everything: %d %s", code, body)
	}
	fb.mu.Lock()
	callers := append([]Caller(nil), fb.callers...)
	fb.mu.Unlock()
	if len(callers) != 2 || callers[0].Principal != "client-alice" || callers[0].Via != "certificate" || callers[1].Principal != "client-bob" {
		t.Errorf("the backend saw callers %+v", callers)
	}
	if !sink.find("admin_write", "client-alice", "POST /api/v1/topics by client-alice (certificate): 201") {
		t.Errorf("alice's write was not audited: %+v", sink.recs)
	}

	// bad input: a forged principal, a broker's certificate, a revoked one
	if code, body := httpsDo(t, alice, "GET", u+"/api/v1/brokers", "", map[string]string{PrincipalHeader: "client-bob"}); code != 400 || !strings.Contains(body, "may not name another principal") {
		t.Errorf("forged principal: %d %s", code, body)
	}
	if code, body := httpsDo(t, none, "GET", u+"/api/v1/brokers", "", map[string]string{PrincipalHeader: "admin-api"}); code != 400 {
		t.Errorf("forged principal without a certificate: %d %s", code, body)
	}
	if code, body := httpsDo(t, ca.client("broker-101"), "GET", u+"/api/v1/brokers", "", nil); code != 403 || !strings.Contains(body, "may not use the admin API") {
		t.Errorf("broker certificate: %d %s", code, body)
	}
	if code, body := httpsDo(t, ca.client("controller-2"), "GET", u+"/api/v1/brokers", "", nil); code != 401 || !strings.Contains(body, "without "+PrincipalHeader) {
		t.Errorf("controller certificate without a forwarded principal: %d %s", code, body)
	}
	revMu.Lock()
	revoked["client-alice"] = true
	revMu.Unlock()
	if code, body := httpsDo(t, alice, "GET", u+"/api/v1/brokers", "", nil); code != 401 || !strings.Contains(body, "is revoked") {
		t.Errorf("revoked, on a kept-alive connection: %d %s", code, body)
	}
	if !sink.find("authentication_failure", "client-alice", "is revoked") || !sink.find("authentication_failure", "client-alice", "may not name another principal") {
		t.Errorf("refused authentications not audited: %+v", sink.recs)
	}
}

// Goal: a follower forwards a certificate caller's write to the leader
// over TLS with its own controller certificate, the principal in
// PrincipalHeader, and the leader authorizes that principal again; a
// follower without TLS to the leader refuses to forward rather than
// lose the principal.
func TestMutualTLSForwarding(t *testing.T) {
	ca := newMTLSCA(t, "controller-1", "controller-2", "client-alice")
	lb := &callerBackend{fakeBackend: newFake(1, 1)}
	leader := New(Config{Self: 1, Log: zerolog.Nop(), RequestTimeout: 5 * time.Second, RequireAuth: true}, lb)
	lts := ca.serve(t, leader, "controller-1")
	fwd := &tls.Config{Certificates: []tls.Certificate{ca.certs["controller-2"]}, RootCAs: ca.pool, MinVersion: tls.VersionTLS13}
	fb := newFake(2, 1)
	// the follower and the leader apply the same rules
	for _, b := range []*fakeBackend{lb.fakeBackend, fb} {
		if _, err := b.ApplyACL(context.Background(), sm.ACLRequest{Command: mustRuleCommand(t, "client-alice", "topic:orders", "create")}); err != nil {
			t.Fatal(err)
		}
	}
	follower := New(Config{Self: 2, Log: zerolog.Nop(), RequestTimeout: 5 * time.Second, RequireAuth: true, ForwardTLS: fwd,
		LeaderURL: func(id sm.NodeID) (string, bool) { return lts.URL, id == 1 }}, fb)
	fts := ca.serve(t, follower, "controller-2")
	alice := ca.client("client-alice")
	// A controller without a token: a token sent beside the certificate
	// (the CLI sends its data directory's) is not in the way.
	if code, body := httpsDo(t, alice, "GET", lts.URL+"/api/v1/topics", "", map[string]string{"Authorization": "Bearer leftover"}); code != 200 {
		t.Fatalf("certificate with a leftover token: %d %s", code, body)
	}
	if code, body := httpsDo(t, ca.client(""), "GET", lts.URL+"/api/v1/topics", "", map[string]string{"Authorization": "Bearer leftover"}); code != 401 {
		t.Fatalf("a token alone to a controller that takes none: %d %s", code, body)
	}
	if code, body := httpsDo(t, alice, "POST", fts.URL+"/api/v1/topics", `{"name":"orders","partitions":1,"replication_factor":1}`, nil); code != 201 {
		t.Fatalf("forwarded create: %d %s", code, body)
	}
	lb.mu.Lock()
	callers := append([]Caller(nil), lb.callers...)
	lb.mu.Unlock()
	if len(callers) != 1 || callers[0].Principal != "client-alice" || callers[0].Via != "forwarded" || !callers[0].Source.IsLoopback() {
		t.Errorf("the leader saw %+v", callers)
	}
	if code, body := httpsDo(t, alice, "POST", fts.URL+"/api/v1/topics", `{"name":"payments","partitions":1,"replication_factor":1}`, nil); code != 403 {
		t.Errorf("forwarded create the follower refuses: %d %s", code, body)
	}
	plain := New(Config{Self: 2, Log: zerolog.Nop(), RequestTimeout: 5 * time.Second, RequireAuth: true,
		LeaderURL: func(id sm.NodeID) (string, bool) { return lts.URL, id == 1 }}, fb)
	pts := ca.serve(t, plain, "controller-2")
	if code, body := httpsDo(t, alice, "POST", pts.URL+"/api/v1/topics", `{"name":"orders","partitions":1,"replication_factor":1}`, nil); code != 503 || !strings.Contains(body, "only over TLS between controllers") {
		t.Errorf("forward without TLS: %d %s", code, body)
	}
}

func mustRuleCommand(t *testing.T, principal, resource, ops string) acl.Command {
	t.Helper()
	r, err := acl.ParseRule(principal, resource, ops, "allow", "")
	if err != nil {
		t.Fatal(err)
	}
	return acl.Command{Create: []acl.Rule{r}}
}

// Goal: a client certificate of another CA fails the admin listener's TLS
// handshake, and the failure is audited as an authentication failure
// naming the client's address (bad input: "a certificate from another CA").
func TestForeignCAHandshakeAudited(t *testing.T) {
	ours, theirs := newMTLSCA(t, "controller-1"), newMTLSCA(t, "client-mallory")
	var sink auditSink
	s := New(Config{Self: 1, Log: zerolog.Nop(), RequireAuth: true, AuditEvent: sink.add}, newFake(1, 1))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{ours.certs["controller-1"]}, ClientCAs: ours.pool, ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS13}
	go s.Serve(tls.NewListener(ln, tc))
	defer s.Shutdown(context.Background())
	mallory := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ours.pool, Certificates: []tls.Certificate{theirs.certs["client-mallory"]}, MinVersion: tls.VersionTLS13}}, Timeout: 5 * time.Second}
	if resp, err := mallory.Get("https://" + ln.Addr().String() + "/api/v1/topics"); err == nil {
		resp.Body.Close()
		t.Fatalf("a foreign CA's certificate was served: %s", resp.Status)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !sink.find("authentication_failure", "", "TLS handshake refused") {
		if time.Now().After(deadline) {
			t.Fatalf("handshake failure not audited: %+v", sink.recs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
