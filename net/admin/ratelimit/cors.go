package ratelimit

import "net/http"

// CORS values. The API has no cookies or credentials, so any origin may
// call it; the rate-limit headers and Retry-After are exposed so that a
// browser client can honour them.
const (
	corsAllowMethods  = "GET, HEAD, POST, DELETE, OPTIONS"
	corsAllowHeaders  = "Content-Type"
	corsExposeHeaders = "Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, X-RateLimit-Type"
	corsMaxAgeSeconds = "600"
)

// CORS lets browsers call the admin API from any origin (enable_cors).
// Every response gets Access-Control-Allow-Origin: * and the exposed
// headers; a preflight (OPTIONS with Access-Control-Request-Method) is
// answered 204 with the allowed methods and headers and does not reach
// next. Placed outside the limiter, preflights cost no tokens and 429s
// are readable by the page. Disabled, it returns next itself.
func CORS(enabled bool) func(http.Handler) http.Handler {
	if !enabled {
		return func(next http.Handler) http.Handler { return next }
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", "*")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", corsAllowMethods)
				h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
				h.Set("Access-Control-Max-Age", corsMaxAgeSeconds)
				w.WriteHeader(http.StatusNoContent)
				return
			}
			h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
			next.ServeHTTP(w, r)
		})
	}
}
