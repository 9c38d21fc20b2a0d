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

// forwardedHeader marks a write a follower forwarded. Its receiver never
// forwards it again, so two controllers that each believe the other leads
// cannot bounce a request between them: it answers 503 instead.
const forwardedHeader = "X-Weir-Forwarded-By"

// routeWrite decides where a write runs. It returns true when this
// controller leads and should run it; otherwise it has answered: relayed
// the leader's answer, or 503 with leader_hint.
func (s *Server) routeWrite(w http.ResponseWriter, r *http.Request, name string, body []byte) bool {
	self, leader := s.b.Leader()
	switch {
	case leader == sm.NoNode:
		fail(w, http.StatusServiceUnavailable, "no controller leader is known (election in progress?); nothing was done, retry", leader)
	case leader == self:
		return true
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
			return false
		}
		s.forward(w, r, leader, base, name, body)
	}
	return false
}

// forward sends the write to the leader and relays its answer. Whether the
// request could have reached the leader decides the failure: before its
// headers were written nothing can have run there (503); after, the leader
// may have acted (504, outcome unknown).
func (s *Server) forward(w http.ResponseWriter, r *http.Request, leader sm.NodeID, base, name string, body []byte) {
	ctx, cancel := context.WithTimeout(r.Context(), s.forwardTimeout())
	defer cancel()
	var sent atomic.Bool // hooks may run on the transport's goroutines
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteHeaders: func() { sent.Store(true) }})
	target := strings.TrimSuffix(base, "/") + r.URL.EscapedPath()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, target, rd)
	if err != nil {
		s.logf("admin: bad admin URL %q for %s: %v", base, controllerName(leader), err)
		fail(w, http.StatusServiceUnavailable, fmt.Sprintf("not the controller leader and the admin URL of the leader %s is malformed here; nothing was done, retry on it",
			controllerName(leader)), leader)
		return
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set(forwardedHeader, controllerName(s.cfg.Self))
	resp, err := s.client.Do(req)
	if err != nil {
		if !sent.Load() {
			fail(w, http.StatusServiceUnavailable, fmt.Sprintf("cannot reach the controller leader %s at %s: %v; nothing was done, retry",
				controllerName(leader), base, err), leader)
			return
		}
		fail(w, http.StatusGatewayTimeout, fmt.Sprintf("outcome unknown (forwarded to the controller leader %s at %s, no answer: %v); check %s before retrying",
			controllerName(leader), base, err, describePath(name)), leader)
		return
	}
	defer resp.Body.Close()
	s.relay(w, r, resp, leader, base, name)
}

// relay copies the leader's answer if it is one of this API's envelopes.
// Anything else (another service at that URL, a cut body) may have
// followed the write running, so it is 502 with the outcome unknown.
func (s *Server) relay(w http.ResponseWriter, r *http.Request, resp *http.Response, leader sm.NodeID, base, name string) {
	data, err := io.ReadAll(io.LimitReader(resp.Body, replyBytesMax+1))
	problem := ""
	switch {
	case err != nil:
		problem = fmt.Sprintf("reading the answer: %v", err)
	case len(data) > replyBytesMax:
		problem = fmt.Sprintf("answer above %d bytes", replyBytesMax)
	default:
		problem = envelopeProblem(resp.StatusCode, data)
	}
	if problem != "" {
		s.logf("admin: forwarding %s %s to %s at %s: status %d, %s", r.Method, r.URL.Path, controllerName(leader), base, resp.StatusCode, problem)
		fail(w, http.StatusBadGateway, fmt.Sprintf("outcome unknown (the controller leader %s at %s answered status %d: %s); check %s before retrying",
			controllerName(leader), base, resp.StatusCode, problem, describePath(name)), leader)
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
