package admin

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// Bearer-token authentication. With Config.AuthToken set, every request
// but GET /health must carry "Authorization: Bearer <token>"; anything else
// is 401 with a WWW-Authenticate challenge, before any handler runs. The
// comparison takes the same time whatever the token, and a forwarded
// request carries the caller's header on to the leader (controllers of one
// cluster share the token).

// authorized reports whether r carries the token; the health probe is
// open, so a load balancer needs no secret.
func (s *Server) authorized(r *http.Request) bool {
	if s.cfg.AuthToken == "" || r.URL.Path == "/health" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(s.cfg.AuthToken)) == 1
}

// requireToken wraps the API with the token check.
func (s *Server) requireToken(next http.Handler) http.Handler {
	if s.cfg.AuthToken == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="weir"`)
			_, leader := s.b.Leader()
			fail(w, http.StatusUnauthorized, "missing or wrong bearer token: send Authorization: Bearer <token> (the controller's [admin] auth_token_file; weir reads it from --token-file, WEIR_ADMIN_TOKEN or <data>/admin-token)", leader)
			return
		}
		next.ServeHTTP(w, r)
	})
}
