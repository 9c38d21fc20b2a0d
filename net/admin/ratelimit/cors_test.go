package ratelimit

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const console = "https://console.example"

// corsRequest is a request as a browser page on origin would send it
// (origin "" for a client that is not a browser).
func corsRequest(method, path, origin string, headers ...string) *http.Request {
	r := httptest.NewRequest(method, path, nil)
	r.RemoteAddr = "192.0.2.1:1234"
	if origin != "" {
		r.Header.Set("Origin", origin)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	return r
}

func serveReq(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// A preflight from a listed origin is answered 204 by CORS, naming that
// origin (never "*"), without reaching the API (nor the limiter inside
// it); other requests from it pass with the CORS headers, 429s included.
func TestCORSListedOrigin(t *testing.T) {
	cfg := roomyConfig()
	cfg.PerIPBurstSize = 1
	l, _ := newTestLimiter(t, cfg)
	next := &okHandler{}
	h := CORS([]string{console})(l.Middleware(next))

	w := serveReq(h, corsRequest(http.MethodOptions, "/api/v1/topics/orders", console, "Access-Control-Request-Method", "DELETE"))
	want := map[string]string{
		"Access-Control-Allow-Origin":  console,
		"Access-Control-Allow-Methods": "GET, HEAD, POST, PATCH, DELETE",
		"Access-Control-Allow-Headers": "Content-Type",
		"Access-Control-Max-Age":       "600",
		"Vary":                         "Origin",
	}
	if w.Code != http.StatusNoContent || next.Calls() != 0 || w.Body.Len() != 0 {
		t.Fatalf("preflight: %d, next called %d times, body %q; want 204, never, empty", w.Code, next.Calls(), w.Body)
	}
	for k, v := range want {
		if got := w.Header().Get(k); got != v {
			t.Errorf("preflight %s = %q, want %q", k, got, v)
		}
	}
	if s := l.Stats(); s.TotalRequests != 0 {
		t.Errorf("preflight reached the limiter: %+v", s)
	}
	for i, code := range []int{200, 429} {
		w := serveReq(h, corsRequest("DELETE", "/api/v1/topics/orders", console))
		if w.Code != code || w.Header().Get("Access-Control-Allow-Origin") != console || w.Header().Get("Access-Control-Expose-Headers") != corsExposeHeaders {
			t.Fatalf("request %d: %d %v, want %d with CORS headers", i, w.Code, w.Header(), code)
		}
	}
	w = serveReq(h, corsRequest(http.MethodOptions, "/api/v1/topics", "")) // not a preflight
	if w.Code != 429 {
		t.Fatalf("plain OPTIONS: %d, want it to reach the (exhausted) limiter", w.Code)
	}
}

// The defect: a page on any origin could delete a topic. Whether CORS is
// off or on with other origins listed, a browser request that can change
// state from an unlisted origin is refused 403 before it reaches the API —
// the "simple" requests a browser sends without a preflight (a text/plain
// POST), requests made through DNS rebinding (Origin is the attacker's
// name, Sec-Fetch-Site says same-origin), and pages whose Origin a
// browser hides (Sec-Fetch-Site cross-site). Preflights from unlisted
// origins are refused too, and no answer ever says "*".
func TestCORSUnlistedOriginCannotChangeState(t *testing.T) {
	for _, origins := range [][]string{nil, {console}} {
		next := &okHandler{}
		h := CORS(origins)(next)
		refused := []*http.Request{
			corsRequest("DELETE", "/api/v1/topics/orders", "https://evil.example"),
			corsRequest("POST", "/api/v1/topics", "https://evil.example", "Content-Type", "text/plain"),
			corsRequest("POST", "/api/v1/topics", "http://evil.example:9642", "Sec-Fetch-Site", "same-origin"),
			corsRequest("POST", "/api/v1/topics", "null"),
			corsRequest("DELETE", "/api/v1/topics/orders", "", "Sec-Fetch-Site", "cross-site"),
			corsRequest("DELETE", "/api/v1/topics/orders", "", "Sec-Fetch-Site", "same-site"),
			corsRequest("PUT", "/api/v1/topics", "https://evil.example"),
			corsRequest(http.MethodOptions, "/api/v1/topics/orders", "https://evil.example", "Access-Control-Request-Method", "DELETE"),
			corsRequest("DELETE", "/api/v1/topics/orders", console, "Origin", "https://evil.example"), // two Origin headers
		}
		for _, r := range refused {
			w := serveReq(h, r)
			var body envelope
			_ = json.Unmarshal(w.Body.Bytes(), &body)
			if w.Code != http.StatusForbidden || !strings.Contains(body.Error, "cross-origin request from") || body.Success {
				t.Errorf("CORS(%v) %s %v: %d %s, want 403 naming the refusal", origins, r.Method, r.Header, w.Code, w.Body)
			}
			if acao := w.Header().Get("Access-Control-Allow-Origin"); acao != "" {
				t.Errorf("CORS(%v) %s %v: Access-Control-Allow-Origin %q on a refusal", origins, r.Method, r.Header, acao)
			}
		}
		if next.Calls() != 0 {
			t.Fatalf("CORS(%v): %d refused requests reached the API", origins, next.Calls())
		}
		passed := []*http.Request{
			corsRequest("DELETE", "/api/v1/topics/orders", ""),                             // the CLI, curl
			corsRequest("POST", "/api/v1/topics", "", "Sec-Fetch-Site", "none"),            // typed by the user
			corsRequest("GET", "/api/v1/topics", "https://evil.example"),                   // a read: the browser withholds the answer
			corsRequest("HEAD", "/health", "https://evil.example"),                         // likewise
			corsRequest(http.MethodOptions, "/api/v1/topics", "https://evil.example"),      // not a preflight: the API answers 405
			corsRequest("GET", "/api/v1/topics", "", "Sec-Fetch-Site", "cross-site"),       // a read
			corsRequest("DELETE", "/api/v1/topics/x", "", "Sec-Fetch-Site", "same-origin"), // the API's own page (it has none)
		}
		for _, r := range passed {
			w := serveReq(h, r)
			if w.Code != 200 {
				t.Errorf("CORS(%v) %s %v: %d, want it passed", origins, r.Method, r.Header, w.Code)
			}
			if acao := w.Header().Get("Access-Control-Allow-Origin"); acao != "" {
				t.Errorf("CORS(%v) %s %v: Access-Control-Allow-Origin %q for an unlisted origin", origins, r.Method, r.Header, acao)
			}
		}
	}
}

// The refusal says what to configure, depending on whether CORS is on.
func TestCORSRefusalSaysWhatToConfigure(t *testing.T) {
	r := corsRequest("DELETE", "/api/v1/topics/orders", "https://evil.example")
	off := serveReq(CORS(nil)(&okHandler{}), r)
	if !strings.Contains(off.Body.String(), `cross-origin request from origin \"https://evil.example\" refused: admin.enable_cors is off`) {
		t.Errorf("CORS off: %s", off.Body)
	}
	on := serveReq(CORS([]string{console})(&okHandler{}), r)
	if !strings.Contains(on.Body.String(), "the origin is not in admin.allowed_origins") {
		t.Errorf("CORS on: %s", on.Body)
	}
}

// Off, CORS sets no CORS header on anything, Vary included.
func TestCORSOffSetsNoHeaders(t *testing.T) {
	w := serveReq(CORS(nil)(&okHandler{}), corsRequest("GET", "/api/v1/topics", console))
	for _, k := range []string{"Access-Control-Allow-Origin", "Access-Control-Expose-Headers", "Vary"} {
		if v := w.Header().Get(k); v != "" {
			t.Errorf("CORS off: %s = %q", k, v)
		}
	}
}

// ParseOrigin accepts origins as browsers send them, canonical, and
// refuses "*", "null" and anything that is not scheme://host[:port].
func TestParseOrigin(t *testing.T) {
	good := map[string]string{
		"https://console.example":       "https://console.example",
		"HTTPS://Console.Example:443":   "https://console.example",
		"http://localhost:3000":         "http://localhost:3000",
		"http://localhost:80/":          "http://localhost",
		"http://[::1]:8080":             "http://[::1]:8080",
		"https://console.example:08443": "https://console.example:8443",
	}
	for in, want := range good {
		if got, err := ParseOrigin(in); err != nil || got != want {
			t.Errorf("ParseOrigin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]string{
		"*":                              "every web page",
		"null":                           "sandboxed",
		"console.example":                "http:// or https://",
		"ftp://console.example":          "http:// or https://",
		"https://":                       "no host",
		"https://console.example/app":    "nothing after it",
		"https://console.example?x=1":    "nothing after it",
		"https://user@console.example":   "nothing after it",
		"https://console.example:0":      "1..65535",
		"https://console.example:99999":  "1..65535",
		"https://console.example#x":      "nothing after it",
		"https://console.example:https":  "scheme://host",
		"https://console.example/ ":      "nothing after it",
		"https://console.example:443/%2": "scheme://host",
	}
	for in, want := range bad {
		if got, err := ParseOrigin(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseOrigin(%q) = %q, %v; want an error containing %q", in, got, err, want)
		}
	}
}
