package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"

	"github.com/weirmq/weir/sm"
)

// forwardedHeader marks a request (a write or a linearizable read) a
// follower forwarded. Its receiver never forwards it again, so two
// controllers that each believe the other leads cannot bounce a request
// between them: it answers 503 instead.
const forwardedHeader = "X-Weir-Forwarded-By"

// forwarding is a request a follower sends on to the leader: what to send
// and how to word a failure.
type forwarding struct {
	// read is a GET: it changes nothing, so every failure is retryable
	// and its answer may be large.
	read bool
	// name is a write's topic, named in "check GET /api/v1/topics/<name>".
	name string
	// check, when set, replaces that check ("GET /api/v1/acls"), for
	// writes that are not about a topic.
	check string
	// body is a write's body; nil for deletes and reads.
	body []byte
}

// replyLimit bounds the leader's answer.
func (f forwarding) replyLimit() int {
	if f.read {
		return readReplyBytesMax
	}
	return replyBytesMax
}

// checkPath is where a client checks a forwarded write whose outcome is
// unknown.
func (f forwarding) checkPath() string {
	if f.check != "" {
		return f.check
	}
	return describePath(f.name)
}

// routeWrite decides where a write runs. It returns true when this
// controller leads and should run it; otherwise it has answered: relayed
// the leader's answer, or 503 with leader_hint.
func (s *Server) routeWrite(w http.ResponseWriter, r *http.Request, name string, body []byte) bool {
	self, leader := s.b.Leader()
	if leader == self {
		return true
	}
	s.toLeader(w, r, leader, forwarding{name: name, body: body})
	return false
}

// routeWriteCheck is routeWrite for a write that is not about a topic:
// check is where a client checks its outcome when it is unknown.
func (s *Server) routeWriteCheck(w http.ResponseWriter, r *http.Request, check string, body []byte) bool {
	self, leader := s.b.Leader()
	if leader == self {
		return true
	}
	s.toLeader(w, r, leader, forwarding{check: check, body: body})
	return false
}

// routeRead answers a linearizable read this controller could not serve
// (the Backend said it is not the leader, and leader leads): it relays the
// leader's answer, or answers 503 with leader_hint.
func (s *Server) routeRead(w http.ResponseWriter, r *http.Request, leader sm.NodeID) {
	s.toLeader(w, r, leader, forwarding{read: true})
}

// toLeader forwards r to leader and relays the answer, or answers 503 with
// leader as hint when it cannot: no leader is known, r was already
// forwarded once, or the leader's admin URL is unknown.
func (s *Server) toLeader(w http.ResponseWriter, r *http.Request, leader sm.NodeID, f forwarding) {
	switch {
	case leader == sm.NoNode && f.read:
		fail(w, http.StatusServiceUnavailable, "no controller leader is known (election in progress?); retry, or add ?stale=true to read this controller's possibly stale view", leader)
	case leader == sm.NoNode:
		fail(w, http.StatusServiceUnavailable, "no controller leader is known (election in progress?); nothing was done, retry", leader)
	case leader == s.cfg.Self:
		// Only a read gets here: the Backend could not confirm this
		// controller's leadership (it is being lost or just won).
		fail(w, http.StatusServiceUnavailable, "this controller could not confirm its leadership (election in progress?); retry", leader)
	case r.Header.Get(forwardedHeader) != "":
		fail(w, http.StatusServiceUnavailable, fmt.Sprintf("forwarded by %s, but this controller is not the leader either (it believes %s is); nothing was done, retry",
			quoteBounded(r.Header.Get(forwardedHeader)), controllerName(leader)), leader)
	default:
		base, ok := "", false
		if s.cfg.LeaderURL != nil {
			base, ok = s.cfg.LeaderURL(leader)
		}
		if !ok {
			fail(w, http.StatusServiceUnavailable, fmt.Sprintf("not the controller leader and the admin URL of the leader %s is unknown here; nothing was done, retry on it",
				controllerName(leader)), leader)
			return
		}
		s.forward(w, r, leader, base, f)
	}
}

// forward sends the request to the leader and relays its answer. For a
// write, whether the request could have reached the leader decides the
// failure: before its headers were written nothing can have run there
// (503); after, the leader may have acted (504, outcome unknown). A read
// is sent as GET (a HEAD's answer has no envelope to check) with its
// query, and its failures are retryable.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, leader sm.NodeID, base string, f forwarding) {
	ctx, cancel := context.WithTimeout(r.Context(), s.forwardTimeout())
	defer cancel()
	var sent atomic.Bool // hooks may run on the transport's goroutines
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteHeaders: func() { sent.Store(true) }})
	method, target := r.Method, strings.TrimSuffix(base, "/")+r.URL.EscapedPath()
	if f.read {
		method = http.MethodGet
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
	}
	var rd io.Reader
	if f.body != nil {
		rd = bytes.NewReader(f.body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		s.logf("admin: bad admin URL %q for %s: %v", base, controllerName(leader), err)
		fail(w, http.StatusServiceUnavailable, fmt.Sprintf("not the controller leader and the admin URL of the leader %s is malformed here; nothing was done, retry on it",
			controllerName(leader)), leader)
		return
	}
	if f.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set(forwardedHeader, controllerName(s.cfg.Self))
	if a := r.Header.Get("Authorization"); a != "" {
		req.Header.Set("Authorization", a) // the leader checks it too
	} else if c, ok := CallerFrom(r.Context()); ok && !c.Trusted {
		// A certificate's caller: the leader sees this controller's
		// certificate, so the principal travels in a header only a
		// controller may send, and the leader authorizes it again.
		if s.cfg.ForwardTLS == nil {
			fail(w, http.StatusServiceUnavailable, fmt.Sprintf("not the controller leader, and a certificate-authenticated request can be forwarded only over TLS between controllers ([admin] tls); nothing was done, send it to the leader %s",
				controllerName(leader)), leader)
			return
		}
		req.Header.Set(PrincipalHeader, c.Principal)
		if c.Source.IsValid() {
			req.Header.Set(SourceHeader, c.Source.String())
		}
	}
	resp, err := s.client.Do(req)
	switch {
	case err != nil && !sent.Load():
		fail(w, http.StatusServiceUnavailable, fmt.Sprintf("cannot reach the controller leader %s at %s: %v; nothing was done, retry",
			controllerName(leader), base, err), leader)
		return
	case err != nil && f.read:
		fail(w, http.StatusServiceUnavailable, fmt.Sprintf("forwarded to the controller leader %s at %s, no answer: %v; a read changes nothing, retry",
			controllerName(leader), base, err), leader)
		return
	case err != nil:
		fail(w, http.StatusGatewayTimeout, fmt.Sprintf("outcome unknown (forwarded to the controller leader %s at %s, no answer: %v); check %s before retrying",
			controllerName(leader), base, err, f.checkPath()), leader)
		return
	}
	defer resp.Body.Close()
	s.relay(w, r, resp, leader, base, f)
}

// relay copies the leader's answer if it is one of this API's envelopes.
// Anything else (another service at that URL, a cut body) may have
// followed a write running, so it is 502, for a write with the outcome
// unknown.
func (s *Server) relay(w http.ResponseWriter, r *http.Request, resp *http.Response, leader sm.NodeID, base string, f forwarding) {
	limit := f.replyLimit()
	data, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	problem := ""
	switch {
	case err != nil:
		problem = fmt.Sprintf("reading the answer: %v", err)
	case len(data) > limit:
		problem = fmt.Sprintf("answer above %d bytes", limit)
	default:
		problem = envelopeProblem(resp.StatusCode, data)
	}
	if problem != "" {
		s.logf("admin: forwarding %s %s to %s at %s: status %d, %s", r.Method, r.URL.Path, controllerName(leader), base, resp.StatusCode, problem)
		if f.read {
			fail(w, http.StatusBadGateway, fmt.Sprintf("bad answer from the controller leader %s at %s (status %d: %s); a read changes nothing, retry",
				controllerName(leader), base, resp.StatusCode, problem), leader)
			return
		}
		fail(w, http.StatusBadGateway, fmt.Sprintf("outcome unknown (the controller leader %s at %s answered status %d: %s); check %s before retrying",
			controllerName(leader), base, resp.StatusCode, problem, f.checkPath()), leader)
		return
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		w.Header().Set("Retry-After", ra)
	}
	writeJSON(w, resp.StatusCode, data)
}

// envelopeProblem says why data with status is not an answer of this API,
// or "" if it is: an envelope whose success agrees with a 2xx status.
func envelopeProblem(status int, data []byte) string {
	var env struct {
		Success *bool `json:"success"`
	}
	if err := json.Unmarshal(data, &env); err != nil || env.Success == nil {
		return "not an admin API envelope"
	}
	if ok := status >= 200 && status < 300; ok != *env.Success || status < 200 || status > 599 {
		return fmt.Sprintf("success %v disagrees with the status", *env.Success)
	}
	return ""
}
