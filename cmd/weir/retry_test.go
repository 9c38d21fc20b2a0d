package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// rateLimited is an admin API that answers its first `refusals` requests
// 429 with Retry-After: retryAfter (the rate limiter's envelope), then the
// empty topic list.
func rateLimited(t *testing.T, refusals int64, retryAfter string) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if n.Add(1) <= refusals {
			w.Header().Set("Retry-After", retryAfter)
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"success": false, "data": null, "error": "Rate limit exceeded", "leader_hint": null}`))
			return
		}
		w.Write([]byte(`{"success": true, "data": [], "error": null, "leader_hint": null}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// Goal: a 429 with a short Retry-After is retried once, after it, and the
// command succeeds.
func TestRetryAfterIsHonouredOnce(t *testing.T) {
	srv, n := rateLimited(t, 1, "1")
	out, errOut, err := runIO(t, "", "list-topics", "--format", "json", "--api-url", srv.URL)
	if err != nil || out != "[]\n" {
		t.Fatalf("list-topics after one 429: %q %v (stderr %q)", out, err, errOut)
	}
	if got := n.Load(); got != 2 {
		t.Fatalf("%d requests, want the first and one retry", got)
	}
	if !strings.Contains(errOut, "rate limited") || !strings.Contains(errOut, "retrying in 1s") {
		t.Errorf("stderr does not say why it waits: %q", errOut)
	}
}

// Goal: a second 429, or a Retry-After too long to wait at a terminal, is
// an error that says when to retry; the CLI never loops.
func TestRetryAfterTooLongOrRepeated(t *testing.T) {
	srv, n := rateLimited(t, 100, "120")
	_, _, err := runIO(t, "", "list-topics", "--api-url", srv.URL)
	if err == nil || !strings.Contains(err.Error(), "Rate limit exceeded") || !strings.Contains(err.Error(), "retry in 2m0s") {
		t.Fatalf("429 with Retry-After 120: %v", err)
	}
	if got := n.Load(); got != 1 {
		t.Fatalf("%d requests for a Retry-After beyond the bound, want 1", got)
	}

	srv, n = rateLimited(t, 100, "1")
	_, _, err = runIO(t, "", "list-topics", "--api-url", srv.URL)
	if err == nil || !strings.Contains(err.Error(), "retry in 1s") {
		t.Fatalf("two 429s: %v", err)
	}
	if got := n.Load(); got != 2 {
		t.Fatalf("%d requests after two 429s, want 2 (one retry)", got)
	}

	srv, n = rateLimited(t, 100, "")
	_, _, err = runIO(t, "", "list-topics", "--api-url", srv.URL)
	if err == nil || !strings.Contains(err.Error(), "Rate limit exceeded") || !strings.Contains(err.Error(), "retry later") {
		t.Fatalf("429 without Retry-After: %v", err)
	}
	if got := n.Load(); got != 1 {
		t.Fatalf("%d requests for a 429 without Retry-After, want 1", got)
	}
}
