package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// Goal: with a bearer token configured, every request but GET /health
// needs it: none or a wrong one is 401 with a challenge and an error that
// says where the token comes from; the right one is served.
func TestBearerToken(t *testing.T) {
	b := newFake(1, 1)
	s := New(Config{Self: 1, RequestTimeout: 2 * time.Second, Log: zerolog.Nop(), AuthToken: "s3cret"}, b)
	h := s.Handler()
	call := func(method, path, auth string) (int, string, http.Header) {
		r := httptest.NewRequest(method, path, strings.NewReader(""))
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code, w.Body.String(), w.Header()
	}
	for _, auth := range []string{"", "Bearer wrong", "Basic czNjcmV0", "Bearer s3cret2"} {
		code, body, hdr := call("GET", "/api/v1/topics", auth)
		if code != http.StatusUnauthorized || !strings.Contains(body, "missing or wrong bearer token") || hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("auth %q: %d %s %v", auth, code, body, hdr)
		}
	}
	if code, body, _ := call("POST", "/api/v1/acls", ""); code != http.StatusUnauthorized {
		t.Errorf("a write without the token: %d %s", code, body)
	}
	if code, body, _ := call("GET", "/api/v1/topics", "Bearer s3cret"); code != http.StatusOK {
		t.Errorf("with the token: %d %s", code, body)
	}
	if code, body, _ := call("GET", "/health", ""); code != http.StatusOK {
		t.Errorf("health without the token: %d %s", code, body)
	}
}
