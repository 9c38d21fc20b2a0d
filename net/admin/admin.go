// Package admin is the controller's HTTP admin API: list, describe, create,
// alter (PATCH a topic's config) and delete topics under /api/v1/topics,
// ACL rules under /api/v1/acls, the audit log (/api/v1/audit) and the
// security status (/api/v1/security/status; see security.go), and the
// operator endpoints
// (GET /health, /api/v1/cluster, /api/v1/brokers and
// /api/v1/brokers/{id}/health). Every answer but /health's is in the
// reference's envelope {"success", "data", "error", "leader_hint"}; /health
// answers the reference's bare object.
//
// Every controller serves it (controller.http_listen, default
// 127.0.0.1:9642). Topic reads are answered from this controller's applied
// metadata, so a follower may answer a little behind the leader. The
// operator reads (cluster, brokers, broker health) are linearizable: the
// Backend confirms leadership before answering, and a follower that cannot
// forwards the read, at most one hop, to the leader; ?stale=true answers
// from this controller's applied state instead, with or without a leader.
// /health always reports this controller, from its applied state. Writes
// must reach the raft leader: a follower forwards them, at most one hop, to
// the leader's admin URL and relays the answer; when it cannot, it answers
// 503 with leader_hint.
//
// The status code is the retry contract, so clients need not parse errors:
//
//	200, 201  done
//	400, 404, 409, 405, 413, 415  rejected: nothing was done, do not retry as is
//	503       nothing was done: retry (on leader_hint, when set)
//	502, 504  for a write the outcome is unknown: check (describe the topic)
//	          before retrying; a read's 502 means the leader's admin URL
//	          answered something that is not this API
//	500       a bug, logged; for a write the outcome is unknown
//	501       this build cannot serve it (GET /api/v1/audit without Config.Audit)
package admin

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/net/pki"
	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/acl"
)

// Backend is what the server needs from the controller process, which wires
// it to the controller state machine's loop. Its methods are called
// concurrently, one call per HTTP request.
type Backend interface {
	// CreateTopic submits req to the local controller state machine and
	// waits for its reply. The outcome, rejections included, is in the
	// response's Code; the error is only for a request that got no reply
	// (timeout, shutdown). ReqID is left zero for the Backend to assign.
	CreateTopic(ctx context.Context, req sm.CreateTopicRequest) (sm.CreateTopicResponse, error)
	// DeleteTopic is CreateTopic's twin for deletes.
	DeleteTopic(ctx context.Context, req sm.DeleteTopicRequest) (sm.DeleteTopicResponse, error)
	// AlterTopicConfig is CreateTopic's twin for config changes.
	AlterTopicConfig(ctx context.Context, req sm.AlterTopicConfigRequest) (sm.AlterTopicConfigResponse, error)
	// Metadata returns this controller's full applied metadata (Full set).
	Metadata(ctx context.Context) (sm.MetadataDelta, error)
	// Leader returns this controller's ID and the raft leader as known
	// locally (sm.NoNode if none).
	Leader() (self sm.NodeID, leader sm.NodeID)
	// ClusterStatus returns the cluster as this controller sees it. With
	// stale false the answer must be linearizable (raft ReadIndex: the
	// leader confirms its leadership and answers once it has applied
	// through the read index); a controller that cannot serve one returns
	// a *NotLeaderError naming the leader it knows. With stale true it
	// answers from its applied state, leader or not, and never returns
	// *NotLeaderError. Errors that certainly did nothing wrap
	// ErrUnavailable.
	ClusterStatus(ctx context.Context, stale bool) (ClusterStatus, error)
	// ApplyACL submits req (an ACL change; ReqID left zero) to the local
	// controller state machine and waits for its reply, as CreateTopic
	// does: the outcome, a refused command included, is in the response's
	// Code; a follower answers CodeNotLeader with the leader's hint.
	ApplyACL(ctx context.Context, req sm.ACLRequest) (sm.ACLResponse, error)
	// ACLs returns a copy of this controller's applied ACL rule set (the
	// caller may keep it) and the authorizer options the cluster runs with
	// (super users, allow_everyone_if_no_acl_found), so "acl test" decides
	// exactly as brokers do.
	ACLs(ctx context.Context) (*acl.State, acl.Options, error)
	// AuditLog is the path of this process's audit log, which the audit
	// endpoints read with cmd/internal/audit's Query and Follow ("" when
	// auditing is off).
	AuditLog() string
	// Cert submits a certificate registry change (register or revoke; ReqID
	// left zero) and waits for its reply, as ApplyACL does.
	Cert(ctx context.Context, req sm.CertRequest) (sm.CertResponse, error)
	// Certs reads this controller's applied certificate registry (an
	// sm.CertRequest with List), as Metadata reads topics. Errors that
	// certainly did nothing wrap ErrUnavailable.
	Certs(ctx context.Context) (CertRegistry, error)
}

// ErrUnavailable is what a Backend error wraps when the request certainly
// never reached the controller state machine (the loop is stopping, its
// inbox is full). The server answers 503, which promises the client that
// nothing was done. Any other Backend error from a write is answered 504:
// the request may have been proposed, so its outcome is unknown.
var ErrUnavailable = errors.New("admin: controller unavailable")

// Config configures a Server.
type Config struct {
	// Self is this controller's node ID; forwarded requests carry it, so the
	// leader's logs say who forwarded.
	Self sm.NodeID
	// LeaderURL returns the admin base URL ("http://10.0.0.2:9642") of
	// another controller, used to forward writes to the leader. Nil, or
	// false for an ID, means that controller's writes are answered 503.
	LeaderURL func(sm.NodeID) (string, bool)
	// RequestTimeout bounds each Backend call and each forwarded request.
	// Zero means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Log receives what goes wrong serving requests: panics, unexpected
	// controller replies, failed forwards and net/http's own errors; never a
	// line per successful request (the access log is ratelimit.Log's). The
	// zero value discards them.
	Log zerolog.Logger
	// AuthToken, when set, is the bearer token that authenticates a
	// request as TokenPrincipal (auth.go); with it set, or RequireAuth,
	// every request but GET /health must authenticate.
	AuthToken string
	// RequireAuth refuses (401) requests that bring neither the token nor
	// a client certificate. Off, they are served as TokenPrincipal: the
	// process chose an open API.
	RequireAuth bool
	// Principals maps a verified client certificate to its principal
	// (nil: the CommonName), as the QUIC listeners do.
	Principals pki.PrincipalMapper
	// Revoked reports whether a verified client certificate is revoked;
	// it is asked on every request. Nil: none is.
	Revoked func(*x509.Certificate) bool
	// ForwardTLS, when set, is the TLS config a follower presents (its
	// controller certificate) forwarding to the leader's https admin URL;
	// a certificate caller's principal then travels in PrincipalHeader.
	ForwardTLS *tls.Config
	// AuditEvent receives the API's security events: failed
	// authentication, refused authorization, served writes. Nil drops
	// them.
	AuditEvent func(AuditRecord)
	// Version is the build's version, reported by /health.
	Version string
	// Started is when the controller process started; /health reports
	// uptime_seconds from it. Zero means when New was called.
	Started time.Time
	// RateLimitStats returns the rate_limiting block of /health: a value
	// that encodes as a JSON object with the keys of RateLimiting (a
	// RateLimiting will do). Nil, or a nil answer, reports rate limiting
	// disabled with zero counts.
	RateLimitStats func() any
	// Middleware, if set, wraps the whole API (every route, 404s and 405s
	// included), inside the body limit and panic recovery: the process
	// plugs rate limiting, CORS and request logging in here.
	Middleware func(http.Handler) http.Handler
	// Audit reads the audit log for GET /api/v1/audit (the process passes
	// an adapter over cmd/internal/audit's Query). Nil answers 501 when the
	// Backend has an audit log.
	Audit AuditReader
	// Now is the clock, for tests. Nil means time.Now.
	Now func() time.Time
}

// Limits and defaults. Everything a client sends has a bound.
const (
	// DefaultRequestTimeout is RequestTimeout when the config leaves it zero:
	// long enough for a raft round under an election, short enough that a
	// client is not left hanging.
	DefaultRequestTimeout = 10 * time.Second
	// bodyBytesMax bounds a request body (413 beyond); a create is < 1 KiB.
	bodyBytesMax = 1 << 20
	// replyBytesMax bounds a relayed answer from the leader to a write: a
	// write's envelope, a few hundred bytes.
	replyBytesMax = 1 << 20
	// readReplyBytesMax bounds a relayed answer to a forwarded read; the
	// cluster's status lists every broker and topic (about 100 bytes each).
	readReplyBytesMax = 32 << 20
	// headerBytesMax bounds request headers (net/http answers 431 beyond).
	headerBytesMax = 64 << 10
	// readHeaderTimeout and readTimeout stop slow-loris clients.
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	// forwardSlackMax caps how much longer a follower waits for a forwarded
	// write than the leader waits for its controller (a quarter of
	// RequestTimeout), so that the leader's own answer (504 with its
	// reason) arrives before the follower gives up.
	forwardSlackMax = time.Second
	// writeSlack is the margin of the server's write timeout past the
	// longest handler (a forward).
	writeSlack = 5 * time.Second
)

// Validate reports the first bad field.
func (c *Config) Validate() error {
	switch {
	case c.Self == sm.NoNode:
		return errors.New("admin: self must not be none")
	case c.RequestTimeout < 0:
		return fmt.Errorf("admin: request timeout must be >= 0 (got %v)", c.RequestTimeout)
	}
	return nil
}

// Server is the admin HTTP server of one controller.
type Server struct {
	cfg     Config
	b       Backend
	client  *http.Client // forwards writes to the leader
	handler http.Handler
	authz   authzCache
	srv     *http.Server
}

// New returns a server for b. An invalid config or a nil Backend is a
// wiring bug and panics; cmd/ validates user input with Config.Validate
// first.
func New(cfg Config, b Backend) *Server {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	if b == nil {
		panic("admin: nil backend")
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Started.IsZero() {
		cfg.Started = cfg.Now()
	}
	s := &Server{cfg: cfg, b: b}
	s.client = &http.Client{
		// No proxy from the environment: controller-to-controller traffic
		// stays direct. No redirects: the leader answers, or it is an error.
		Transport:     &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4, IdleConnTimeout: idleTimeout, TLSClientConfig: forwardTLS(cfg.ForwardTLS)},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	s.handler = s.routes()
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      s.forwardTimeout() + writeSlack,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    headerBytesMax,
		ErrorLog:          log.New(logWriter{log: cfg.Log, audit: cfg.AuditEvent}, "admin: ", 0),
	}
	return s
}

// forwardTLS is c for HTTPS: a copy without the QUIC transports' ALPN.
func forwardTLS(c *tls.Config) *tls.Config {
	if c == nil {
		return nil
	}
	c = c.Clone()
	c.NextProtos = nil
	return c
}

// Handler returns the API's handler, for tests and for embedding.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers requests on ln until Shutdown; it returns nil after
// Shutdown and the listener's error otherwise.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting connections and waits, until ctx ends, for the
// requests in flight.
func (s *Server) Shutdown(ctx context.Context) error {
	s.client.CloseIdleConnections()
	return s.srv.Shutdown(ctx)
}

// endpoint is one pattern of the API and its handler.
type endpoint struct {
	pattern string
	serve   func(s *Server, w http.ResponseWriter, r *http.Request)
}

// notAllowed answers 405 with allow for the methods a path does not serve.
func notAllowed(allow string) func(*Server, http.ResponseWriter, *http.Request) {
	h := methodNotAllowed(allow)
	return func(_ *Server, w http.ResponseWriter, r *http.Request) { h(w, r) }
}

// endpoints maps the API. A method-less pattern per path catches the
// methods the path does not serve (405, with Allow), and "/" everything
// else (404), so every answer is an envelope (or /health's object).
var endpoints = []endpoint{
	{"GET /health", (*Server).onHealth},
	{"/health", notAllowed("GET, HEAD")},
	{"GET /api/v1/cluster", (*Server).onCluster},
	{"/api/v1/cluster", notAllowed("GET, HEAD")},
	{"GET /api/v1/brokers", (*Server).onListBrokers},
	{"/api/v1/brokers", notAllowed("GET, HEAD")},
	{"GET /api/v1/brokers/{id}/health", (*Server).onBrokerHealth},
	{"/api/v1/brokers/{id}/health", notAllowed("GET, HEAD")},
	{"GET /api/v1/topics", (*Server).onListTopics},
	{"POST /api/v1/topics", (*Server).onCreateTopic},
	{"/api/v1/topics", notAllowed("GET, HEAD, POST")},
	{"GET /api/v1/topics/{name}", (*Server).onDescribeTopic},
	{"DELETE /api/v1/topics/{name}", (*Server).onDeleteTopic},
	{"PATCH /api/v1/topics/{name}", (*Server).onAlterTopic},
	{"/api/v1/topics/{name}", notAllowed("GET, HEAD, DELETE, PATCH")},
	{"GET /api/v1/acls", (*Server).onListACLs},
	{"POST /api/v1/acls", (*Server).onCreateACL},
	{"/api/v1/acls", notAllowed("GET, HEAD, POST")},
	// The fixed paths under /api/v1/acls/ would conflict with a
	// method-less pattern of their own (DELETE /api/v1/acls/{id} is more
	// specific in method, they in path): their DELETE answers 405 here and
	// their other methods go to /api/v1/acls/{id}'s catch-all, which knows
	// them (aclsNotAllowed).
	{"POST /api/v1/acls/delete", (*Server).onDeleteMatchingACLs},
	{"DELETE /api/v1/acls/delete", notAllowed("POST")},
	{"POST /api/v1/acls/test", (*Server).onTestACL},
	{"DELETE /api/v1/acls/test", notAllowed("POST")},
	{"POST /api/v1/acls/bulk-test", (*Server).onBulkTestACL},
	{"DELETE /api/v1/acls/bulk-test", notAllowed("POST")},
	{"GET /api/v1/acls/permissions", (*Server).onPermissions},
	{"DELETE /api/v1/acls/permissions", notAllowed("GET, HEAD")},
	{"DELETE /api/v1/acls/{id}", (*Server).onDeleteACL},
	{"/api/v1/acls/{id}", aclsNotAllowed},
	{"GET /api/v1/audit", (*Server).onAudit},
	{"/api/v1/audit", notAllowed("GET, HEAD")},
	{"GET /api/v1/certs", (*Server).onListCerts},
	{"POST /api/v1/certs", (*Server).onRegisterCert},
	{"/api/v1/certs", notAllowed("GET, HEAD, POST")},
	// As under /api/v1/acls/, the fixed paths share /api/v1/certs/{serial}'s
	// catch-all (certsNotAllowed).
	{"POST /api/v1/certs/revoke", (*Server).onRevokeCert},
	{"GET /api/v1/certs/revoke", certsNotAllowed},
	{"GET /api/v1/certs/crl", (*Server).onCRL},
	{"GET /api/v1/certs/{serial}", (*Server).onDescribeCert},
	{"/api/v1/certs/{serial}", certsNotAllowed},
	{"GET /api/v1/security/status", (*Server).onSecurityStatus},
	{"/api/v1/security/status", notAllowed("GET, HEAD")},
	{notFoundPattern, func(_ *Server, w http.ResponseWriter, r *http.Request) { onNotFound(w, r) }},
}

// notFoundPattern catches every path the API does not serve.
const notFoundPattern = "/"

// patterns matches requests to endpoints without serving them, for
// Pattern.
var patterns = func() *http.ServeMux {
	mux := http.NewServeMux()
	for _, e := range endpoints {
		mux.HandleFunc(e.pattern, func(http.ResponseWriter, *http.Request) {})
	}
	return mux
}()

// Pattern is the API's route pattern that r matches ("GET
// /api/v1/topics/{name}", "/api/v1/topics" for a method that path does not
// serve), or "" for a path outside the API. It does not depend on what
// wraps the API, so middleware that replaces the request (r.WithContext)
// can still label metrics by route, and it is known before the request is
// served, so requests that middleware answers itself (429, 403) are
// labelled too.
func Pattern(r *http.Request) string {
	if _, p := patterns.Handler(r); p != notFoundPattern {
		return p
	}
	return ""
}

// routes builds the API's handler.
//
// Layers, outermost first: the body limit (on net/http's own writer, see
// limitBodies), panic recovery for the middleware, the middleware, panic
// recovery for the handlers (so the middleware sees their 500s).
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	for _, e := range endpoints {
		mux.HandleFunc(e.pattern, func(w http.ResponseWriter, r *http.Request) { e.serve(s, w, r) })
	}
	h := s.recoverPanics(s.requireAuth(mux))
	if s.cfg.Middleware != nil {
		mw := s.cfg.Middleware(h)
		if mw == nil {
			panic("admin: middleware returned a nil handler")
		}
		h = s.recoverPanics(mw)
	}
	return limitBodies(h)
}

// forwardTimeout bounds a forwarded request: RequestTimeout plus the slack.
func (s *Server) forwardTimeout() time.Duration {
	return s.cfg.RequestTimeout + min(forwardSlackMax, s.cfg.RequestTimeout/4)
}

// logf logs a request that went wrong, at warning level.
func (s *Server) logf(format string, args ...any) { s.cfg.Log.Warn().Msgf(format, args...) }

// logWriter is the io.Writer net/http logs its own errors to (a log.Logger
// writes each line with one Write): they go to Log at warning level.
type logWriter struct {
	log   zerolog.Logger
	audit func(AuditRecord)
}

// handshakeError is how net/http logs a TLS handshake that failed (a
// certificate of another CA, an expired one, none where one is required):
// "http: TLS handshake error from ADDR: ERR". Each is audited as an
// authentication failure, as the QUIC listeners audit theirs.
const handshakeError = "http: TLS handshake error from "

func (w logWriter) Write(p []byte) (int, error) {
	line := strings.TrimSuffix(string(bytes.TrimPrefix(p, []byte("admin: "))), "\n")
	if rest, ok := strings.CutPrefix(line, handshakeError); ok && w.audit != nil {
		addr, reason, _ := strings.Cut(rest, ": ")
		w.audit(AuditRecord{Type: "authentication_failure", Source: addr, Operation: "tls handshake", Message: "admin API TLS handshake refused: " + reason})
	}
	w.log.Warn().Str("source", "net/http").Msg(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
