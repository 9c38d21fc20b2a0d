package ratelimit

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// CORS values. The API has no cookies or credentials; the rate-limit
// headers and Retry-After are exposed so that a browser client can honour
// them.
const (
	corsAllowMethods  = "GET, HEAD, POST, PATCH, DELETE"
	corsAllowHeaders  = "Content-Type"
	corsExposeHeaders = "Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, X-RateLimit-Type"
	corsMaxAgeSeconds = "600"
	// OriginsMax bounds allowed_origins.
	OriginsMax = 64
)

// CORS is the admin API's cross-origin policy: it lets the web pages of
// the origins listed (canonical, as ParseOrigin returns them; none means
// CORS is off) call the API, and stops every other web page from changing
// anything. A browser lends its client certificate (and an open API's
// trust) to every page, so any page open in an operator's browser could
// otherwise delete topics on a controller the browser can reach, loopback
// included.
//
//   - A request whose Origin is listed gets Access-Control-Allow-Origin
//     naming that origin (never "*") and the exposed headers; with CORS on,
//     every response has Vary: Origin.
//   - A preflight (OPTIONS with Origin and Access-Control-Request-Method)
//     from a listed origin is answered 204 with the allowed methods and
//     headers; from any other origin, 403. Neither reaches next.
//   - A request that can change state (any method but GET, HEAD and
//     OPTIONS) from a browser on another origin is refused 403 unless its
//     Origin is listed, whether or not CORS is on. Browsers send Origin
//     with every such request, and Sec-Fetch-Site with most; CORS alone
//     does not stop a "simple" cross-origin POST, which a browser sends
//     without asking (net/admin also refuses bodies not declared JSON), and
//     nothing but the Origin check stops a page that reached the API under
//     its own name through DNS rebinding. Clients that are not browsers
//     (the CLI, curl, SDKs) send neither header and pass.
//
// Placed outside the limiter, preflights and refusals cost no tokens and
// 429s are readable by listed pages.
func CORS(origins []string) func(http.Handler) http.Handler {
	allowed := make(map[string]bool, len(origins))
	for _, o := range origins {
		allowed[o] = true
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			origin, listed := requestOrigin(r, allowed)
			h := w.Header()
			if len(allowed) > 0 {
				h.Add("Vary", "Origin")
			}
			if r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != "" {
				if !listed {
					refuseOrigin(w, origin, len(allowed) > 0)
					return
				}
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Methods", corsAllowMethods)
				h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
				h.Set("Access-Control-Max-Age", corsMaxAgeSeconds)
				w.WriteHeader(http.StatusNoContent)
				return
			}
			if !listed && changesState(r.Method) && fromOtherSite(r, origin) {
				refuseOrigin(w, origin, len(allowed) > 0)
				return
			}
			if listed {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// requestOrigin is the request's Origin header and whether it is listed.
// More than one Origin header is never listed.
func requestOrigin(r *http.Request, allowed map[string]bool) (string, bool) {
	vs := r.Header.Values("Origin")
	switch len(vs) {
	case 0:
		return "", false
	case 1:
		return vs[0], allowed[vs[0]]
	}
	return strings.Join(vs, ", "), false
}

// changesState reports whether a method may change state: all but the
// safe methods the API serves.
func changesState(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// fromOtherSite reports whether a browser sent r from a page that is not
// the API itself: it carries an Origin (the API serves no pages, so any
// page is another origin), or a Sec-Fetch-Site other than "none" (typed
// in the address bar) and "same-origin".
func fromOtherSite(r *http.Request, origin string) bool {
	if origin != "" {
		return true
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "none", "same-origin":
		return false
	}
	return true
}

// refuseOrigin answers 403 in the admin API's envelope, saying what to
// configure.
func refuseOrigin(w http.ResponseWriter, origin string, corsOn bool) {
	what := "origin " + strconv.Quote(origin)
	if origin == "" {
		what = "another site"
	}
	fix := "admin.enable_cors is off; to let a web console use the API, set admin.enable_cors = true and list its origin in admin.allowed_origins"
	if corsOn {
		fix = "the origin is not in admin.allowed_origins"
	}
	msg := fmt.Sprintf("cross-origin request from %s refused: %s (a browser lends its credentials to every page, so only listed web pages may use the admin API)", what, fix)
	body, err := json.Marshal(envelope{Error: msg})
	if err != nil {
		panic(fmt.Sprintf("ratelimit: encoding origin refusal: %v", err))
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write(body) // a client that left is not an error
}

// ParseOrigin reads one allowed_origins entry, "scheme://host[:port]" as
// browsers send it in Origin, and returns it canonical: scheme and host
// lower case, a default port (80 for http, 443 for https) dropped. "*",
// "null", paths, queries, user names and other schemes are refused.
func ParseOrigin(s string) (string, error) {
	switch s {
	case "*":
		return "", errors.New(`"*" would let every web page drive the admin API with the browser's credentials; list the origins of the pages that may (e.g. "http://localhost:3000")`)
	case "null":
		return "", errors.New(`"null" is the origin of sandboxed and file:// pages, which any page can produce; list real origins`)
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", fmt.Errorf("want scheme://host[:port] (got %q: %v)", s, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("want an http:// or https:// origin, as in \"https://console.example.com\" (got %q)", s)
	case u.Host == "" || u.Opaque != "":
		return "", fmt.Errorf("want scheme://host[:port] (got %q: no host)", s)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || (u.Path != "" && u.Path != "/"):
		return "", fmt.Errorf("want scheme://host[:port] with nothing after it, as browsers send it (got %q)", s)
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return "", fmt.Errorf("port must be in 1..65535 (got %q)", s)
		}
		port = strconv.FormatUint(n, 10)
	}
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}
