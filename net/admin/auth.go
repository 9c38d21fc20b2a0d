package admin

import (
	"context"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/weirmq/weir/net/admin/ratelimit"
	"github.com/weirmq/weir/net/pki"
	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/acl"
)

// Authentication and authorization of the admin API.
//
// A request authenticates in one of three ways, checked before any handler
// runs (GET /health is open, so a load balancer needs no secret):
//
//   - a bearer token ("Authorization: Bearer <token>", Config.AuthToken):
//     the operator's key, trusted with everything, principal TokenPrincipal;
//   - a client certificate on a TLS listener, verified against the
//     cluster CA by the listener and mapped to a principal by
//     Config.Principals (admin and client role certificates; a revoked one
//     is refused on every request, so a kept-alive connection stops being
//     served too);
//   - a controller's certificate with PrincipalHeader: a follower forwarding
//     a caller it authenticated (the header from anyone else is refused as
//     a forgery).
//
// A certificate's principal is then checked against the cluster's ACLs,
// exactly as brokers check clients: reads need describe on the cluster
// (on the topic for topic reads, and the topic list shows only topics the
// principal may describe), writes alter on the cluster, topic writes
// create, delete or alter on the topic (create on the cluster also
// allows a create). A refusal is 403 naming the principal, the operation
// and the rule; it and every failed authentication go to Config.AuditEvent,
// as does every write that was served (admin_write).
//
// Without RequireAuth and AuthToken a request with no credentials is served
// as TokenPrincipal (the process allowed an unauthenticated API).

// TokenPrincipal is the principal of requests authenticated by the bearer
// token, or of unauthenticated requests where the process allows them;
// the controller state machine trusts the admin API's requests, and its
// audit events name this principal. No certificate may claim it.
const TokenPrincipal = "admin-api"

// PrincipalHeader and SourceHeader carry the caller's principal and address
// when one controller forwards a certificate-authenticated request to the
// leader; only a controller certificate may send them.
const (
	PrincipalHeader = "X-Weir-Principal"
	SourceHeader    = "X-Weir-Source"
)

// aclRefresh is how long the admin API decides from one copy of the
// applied rules: a rule change takes effect here within it (a write
// through this server takes effect at once).
const aclRefresh = time.Second

// Caller is who made a request, as authentication found it.
type Caller struct {
	Principal string
	// Via is how: "token", "certificate", "forwarded" or "open".
	Via string
	// Trusted callers (token, open) are not checked against the ACLs.
	Trusted bool
	// Source is the client's address (the original client's, for a
	// forwarded request); invalid when unknown.
	Source netip.Addr
}

type callerKey struct{}

// CallerFrom returns the caller of the request whose context ctx is (or
// derives from); ok is false outside a request.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// AuditRecord is one security event of the admin API, for the process's
// audit log.
type AuditRecord struct {
	// Type is "authentication_failure", "authorization_denied" or
	// "admin_write".
	Type      string
	Principal string // "" when authentication failed before naming one
	Source    string
	Resource  string // "cluster", "topic:orders"; "" for a write's route
	Operation string // the ACL operation, or "POST /api/v1/topics" for a write
	RuleID    uint64
	Reason    string
	Status    int // the HTTP status answered
	Message   string
}

// authError is a refused authentication: the status and the error text.
type authError struct {
	status int
	msg    string
	name   string // the principal or certificate name, when known
}

// authenticate establishes who sent r. It never consults the ACLs.
func (s *Server) authenticate(r *http.Request) (Caller, *authError) {
	source := remoteAddr(r)
	fwdPrincipal := r.Header.Get(PrincipalHeader)
	fwdSource := r.Header.Get(SourceHeader)
	hasCert := r.TLS != nil && len(r.TLS.PeerCertificates) > 0
	if tok, ok := bearer(r); ok && (s.cfg.AuthToken != "" || !hasCert) {
		// (A token sent to a controller that takes none, with a client
		// certificate, is the CLI's habit of sending the data directory's
		// token: the certificate decides.)
		if s.cfg.AuthToken == "" {
			return Caller{}, &authError{status: http.StatusUnauthorized, msg: "missing or wrong bearer token: this controller has no [admin] auth_token_file; authenticate with a client certificate instead"}
		}
		if subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.AuthToken)) != 1 {
			return Caller{}, &authError{status: http.StatusUnauthorized, msg: "missing or wrong bearer token: send Authorization: Bearer <token> with the controller's [admin] auth_token_file (weir reads it from --token-file, WEIR_ADMIN_TOKEN or <data>/admin-token)"}
		}
		if fwdPrincipal != "" && !s.fromController(r) {
			return Caller{}, &authError{status: http.StatusBadRequest, msg: PrincipalHeader + " is accepted only from a controller forwarding a request; remove it"}
		}
		return Caller{Principal: TokenPrincipal, Via: "token", Trusted: true, Source: source}, nil
	}
	if hasCert {
		if len(r.TLS.VerifiedChains) == 0 { // a listener that verifies only when asked never gets here with a bad chain
			return Caller{}, &authError{status: http.StatusUnauthorized, msg: "client certificate was not verified against the cluster CA"}
		}
		leaf := r.TLS.PeerCertificates[0]
		if s.cfg.Revoked != nil && s.cfg.Revoked(leaf) {
			return Caller{}, &authError{status: http.StatusUnauthorized, name: leaf.Subject.CommonName,
				msg: fmt.Sprintf("client certificate %s (%q) is revoked", pki.SerialString(leaf.SerialNumber), leaf.Subject.CommonName)}
		}
		role, err := certRole(leaf)
		if err != nil {
			return Caller{}, &authError{status: http.StatusForbidden, name: leaf.Subject.CommonName, msg: err.Error()}
		}
		if role == pki.RoleController {
			if fwdPrincipal == "" {
				return Caller{}, &authError{status: http.StatusUnauthorized, name: leaf.Subject.CommonName,
					msg: fmt.Sprintf("controller certificate %q forwarded a request without %s or a bearer token", leaf.Subject.CommonName, PrincipalHeader)}
			}
			src, _ := netip.ParseAddr(fwdSource)
			c := Caller{Principal: fwdPrincipal, Via: "forwarded", Source: src}
			if fwdPrincipal == TokenPrincipal {
				return Caller{}, &authError{status: http.StatusForbidden, name: fwdPrincipal, msg: fmt.Sprintf("principal %q is reserved for the bearer token", TokenPrincipal)}
			}
			return c, nil
		}
		if fwdPrincipal != "" || fwdSource != "" {
			return Caller{}, &authError{status: http.StatusBadRequest, name: leaf.Subject.CommonName,
				msg: fmt.Sprintf("%s and %s are accepted only from a controller forwarding a request; a %s certificate may not name another principal", PrincipalHeader, SourceHeader, role)}
		}
		p, err := s.cfg.Principals.Principal(leaf)
		if err != nil {
			return Caller{}, &authError{status: http.StatusForbidden, name: leaf.Subject.CommonName, msg: fmt.Sprintf("client certificate %q: %v", leaf.Subject.CommonName, err)}
		}
		if p == TokenPrincipal {
			return Caller{}, &authError{status: http.StatusForbidden, name: p, msg: fmt.Sprintf("principal %q is reserved for the bearer token", TokenPrincipal)}
		}
		return Caller{Principal: p, Via: "certificate", Source: source}, nil
	}
	if fwdPrincipal != "" || fwdSource != "" {
		return Caller{}, &authError{status: http.StatusBadRequest, msg: fmt.Sprintf("%s and %s are accepted only from a controller forwarding a request; remove them", PrincipalHeader, SourceHeader)}
	}
	if s.cfg.RequireAuth || s.cfg.AuthToken != "" {
		const cert = "a client certificate signed by the cluster CA ([admin] tls)"
		if s.cfg.AuthToken == "" {
			return Caller{}, &authError{status: http.StatusUnauthorized, msg: "this API needs authentication: send " + cert}
		}
		how := "Authorization: Bearer <token> (the controller's [admin] auth_token_file; weir reads it from --token-file, WEIR_ADMIN_TOKEN or <data>/admin-token)"
		if r.TLS != nil {
			how += ", or " + cert
		}
		return Caller{}, &authError{status: http.StatusUnauthorized, msg: "missing or wrong bearer token: this API needs authentication: send " + how}
	}
	return Caller{Principal: TokenPrincipal, Via: "open", Trusted: true, Source: source}, nil
}

// fromController reports whether r came over TLS with a verified
// controller certificate.
func (s *Server) fromController(r *http.Request) bool {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
		return false
	}
	role, err := certRole(r.TLS.PeerCertificates[0])
	return err == nil && role == pki.RoleController
}

// certRole is the role a certificate may use the admin API as: admin or
// client certificates for callers, controller certificates for forwarding.
// A certificate without a role (net/tlsutil's) is named for it:
// "controller-N", or "client-LABEL".
func certRole(cert *x509.Certificate) (pki.Role, error) {
	role, err := pki.RoleOf(cert)
	if errors.Is(err, pki.ErrNoRole) {
		cn := cert.Subject.CommonName
		switch {
		case strings.HasPrefix(cn, "controller-"):
			return pki.RoleController, nil
		case strings.HasPrefix(cn, "client-"):
			return pki.RoleClient, nil
		}
		return "", fmt.Errorf("certificate %q has no role and is not named client-LABEL: it may not use the admin API", cn)
	}
	if err != nil {
		return "", fmt.Errorf("certificate %q: %v", cert.Subject.CommonName, err)
	}
	switch role {
	case pki.RoleAdmin, pki.RoleClient, pki.RoleController:
		return role, nil
	}
	return "", fmt.Errorf("certificate %q is a %s certificate and may not use the admin API (use an admin or client certificate)", cert.Subject.CommonName, role)
}

// bearer returns the request's bearer token, if it sends one.
func bearer(r *http.Request) (string, bool) {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return strings.TrimSpace(got), ok
}

// remoteAddr is the connection's peer address (invalid if unparseable).
func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// Principal is who r authenticates as ("" if it does not), without side
// effects: rate limiting keys its per-client budget on it.
func (s *Server) Principal(r *http.Request) string {
	if r.URL.Path == "/health" {
		return ""
	}
	c, err := s.authenticate(r)
	if err != nil || c.Via == "open" {
		return ""
	}
	return c.Principal
}

// requireAuth wraps the API with authentication and the cluster-level
// authorization of each route (topic routes check their topic in the
// handler, see mayTopic), and audits what it refuses and every write it
// serves.
func (s *Server) requireAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			next.ServeHTTP(w, r)
			return
		}
		c, aerr := s.authenticate(r)
		if aerr != nil {
			s.audit(AuditRecord{Type: "authentication_failure", Principal: aerr.name, Source: r.RemoteAddr, Operation: r.Method + " " + r.URL.Path,
				Status: aerr.status, Message: aerr.msg})
			if aerr.status == http.StatusUnauthorized && s.cfg.AuthToken != "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="weir"`)
			}
			_, leader := s.b.Leader()
			fail(w, aerr.status, aerr.msg, leader)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), callerKey{}, c))
		pattern := Pattern(r)
		if res, op, ok := routePermission(r.Method, pattern); ok && !s.permit(w, r, c, res, op) {
			return
		}
		if pattern == "" || r.Method == http.MethodGet || r.Method == http.MethodHead || readOnlyPost(pattern) {
			next.ServeHTTP(w, r)
			return
		}
		sw := &ratelimit.StatusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		s.authz.invalidate() // a rule change here takes effect here at once
		s.audit(AuditRecord{Type: "admin_write", Principal: c.Principal, Source: sourceText(c, r), Operation: r.Method + " " + r.URL.Path,
			Status: sw.Status(), Message: fmt.Sprintf("%s %s by %s (%s): %d", r.Method, r.URL.Path, c.Principal, c.Via, sw.Status())})
	})
}

// readOnlyPost are the POST routes that change nothing.
func readOnlyPost(pattern string) bool {
	return pattern == "POST /api/v1/acls/test" || pattern == "POST /api/v1/acls/bulk-test"
}

// routePermission is what a route needs on the cluster; ok false for the
// topic routes, whose handlers check the topic (mayTopic), and for
// unknown routes (404/405 need nothing).
func routePermission(method, pattern string) (acl.Resource, acl.Operation, bool) {
	cluster := acl.Resource{Type: acl.ResourceCluster}
	switch {
	case pattern == "":
		return acl.Resource{}, 0, false
	case strings.Contains(pattern, " /api/v1/topics"):
		return acl.Resource{}, 0, false
	case method == http.MethodGet || method == http.MethodHead || readOnlyPost(pattern):
		return cluster, acl.OpDescribe, true
	}
	return cluster, acl.OpAlter, true
}

// permit decides op on res for c, answering 403 (and auditing) when
// refused; trusted callers pass.
func (s *Server) permit(w http.ResponseWriter, r *http.Request, c Caller, res acl.Resource, op acl.Operation) bool {
	if c.Trusted {
		return true
	}
	d, err := s.decide(r.Context(), c, res, op)
	if err != nil {
		_, leader := s.b.Leader()
		fail(w, http.StatusServiceUnavailable, fmt.Sprintf("cannot read the ACL rules to authorize %q: %v; nothing was done, retry", c.Principal, err), leader)
		return false
	}
	if d.Allowed {
		return true
	}
	what, code := "the cluster", sm.CodeClusterAuthorizationFailed
	resource := "cluster"
	if res.Type == acl.ResourceTopic {
		what, code, resource = fmt.Sprintf("topic %q", res.Name), sm.CodeTopicAuthorizationFailed, "topic:"+res.Name
	}
	msg := fmt.Sprintf("%v: principal %q may not %v %s (%v", code, c.Principal, op, what, d.Reason)
	if d.RuleID != 0 {
		msg += fmt.Sprintf(", rule %d", d.RuleID)
	}
	msg += ")"
	s.audit(AuditRecord{Type: "authorization_denied", Principal: c.Principal, Source: sourceText(c, r), Resource: resource, Operation: op.String(),
		RuleID: uint64(d.RuleID), Reason: d.Reason.String(), Status: http.StatusForbidden, Message: msg})
	_, leader := s.b.Leader()
	fail(w, http.StatusForbidden, msg, leader)
	return false
}

// mayTopic is a topic handler's check of op on topic name for the
// request's caller.
func (s *Server) mayTopic(w http.ResponseWriter, r *http.Request, name string, op acl.Operation) bool {
	c, ok := CallerFrom(r.Context())
	if !ok || c.Trusted {
		return true
	}
	if op == acl.OpCreate { // Kafka's rule: create on the cluster, or on the topic
		if d, err := s.decide(r.Context(), c, acl.Resource{Type: acl.ResourceCluster}, acl.OpCreate); err == nil && d.Allowed {
			return true
		}
	}
	return s.permit(w, r, c, acl.Resource{Type: acl.ResourceTopic, Name: name}, op)
}

// describable filters topic names to those the caller may describe.
func (s *Server) describable(r *http.Request, topics []sm.TopicInfo) ([]sm.TopicInfo, error) {
	c, ok := CallerFrom(r.Context())
	if !ok || c.Trusted {
		return topics, nil
	}
	var out []sm.TopicInfo
	for _, t := range topics {
		d, err := s.decide(r.Context(), c, acl.Resource{Type: acl.ResourceTopic, Name: t.Name}, acl.OpDescribe)
		if err != nil {
			return nil, err
		}
		if d.Allowed {
			out = append(out, t)
		}
	}
	return out, nil
}

// decide runs the authorizer for c.
func (s *Server) decide(ctx context.Context, c Caller, res acl.Resource, op acl.Operation) (acl.Decision, error) {
	a, err := s.authz.get(ctx, s)
	if err != nil {
		return acl.Decision{}, err
	}
	return a.Authorize(acl.Request{Principal: c.Principal, Resource: res, Operation: op, Source: c.Source,
		Time: acl.TimeOfDayFromUnixNano(s.cfg.Now().UnixNano())}), nil
}

// authzCache is the compiled rule set the API decides with, refreshed
// from the Backend at most every aclRefresh.
type authzCache struct {
	mu sync.Mutex
	a  *acl.Authorizer
	at time.Time
}

func (c *authzCache) get(ctx context.Context, s *Server) (*acl.Authorizer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := s.cfg.Now()
	if c.a != nil && now.Sub(c.at) < aclRefresh && !now.Before(c.at) {
		return c.a, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	st, opts, err := s.b.ACLs(ctx)
	if err != nil {
		return nil, err
	}
	a, err := acl.Compile(st, opts)
	if err != nil {
		return nil, err
	}
	c.a, c.at = a, now
	return a, nil
}

func (c *authzCache) invalidate() {
	c.mu.Lock()
	c.a = nil
	c.mu.Unlock()
}

// audit hands rec to the process's audit log, if it keeps one.
func (s *Server) audit(rec AuditRecord) {
	if s.cfg.AuditEvent != nil {
		s.cfg.AuditEvent(rec)
	}
}

// sourceText is the caller's address for the audit log.
func sourceText(c Caller, r *http.Request) string {
	if c.Source.IsValid() && c.Via == "forwarded" {
		return c.Source.String()
	}
	return r.RemoteAddr
}
