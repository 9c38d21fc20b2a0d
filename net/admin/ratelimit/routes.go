package ratelimit

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Category is one of the reference's three endpoint classes, by how often
// an operator or a monitor may reasonably call it.
type Category uint8

// The categories, as the reference's "Rate Limiting Categories" lists
// them.
const (
	// CategoryHigh is cluster status: polled by monitors.
	CategoryHigh Category = iota + 1
	// CategoryMedium is listing and describing topics and brokers.
	CategoryMedium
	// CategoryLow is creating, altering and deleting topics: each one a
	// raft write.
	CategoryLow
)

// String is the category's config key.
func (c Category) String() string {
	switch c {
	case CategoryHigh:
		return "high_frequency"
	case CategoryMedium:
		return "medium_frequency"
	case CategoryLow:
		return "low_frequency"
	}
	return fmt.Sprintf("Category(%d)", uint8(c))
}

// route is one row of the category table: a method and a path pattern
// whose "{...}" segments each match one non-empty segment, as net/http's
// ServeMux patterns do.
type route struct {
	method   string
	pattern  string
	category Category
}

// HealthPath is the liveness endpoint. GET and HEAD on it are never rate
// limited: a probe (Kubernetes' livenessProbe, a load balancer) that sees a
// 429 restarts or drains a healthy controller, and would do so exactly when
// some other client is busiest. /health is cheap (this controller's applied
// state, no raft round), so it is not worth a budget.
const HealthPath = "/health"

// routes is the reference's category table with Weir's paths, less
// /health (see HealthPath), plus the broker health endpoint, which the
// reference's table predates. HEAD is classified as GET, as net/http
// serves it.
var routes = []route{
	{method: "GET", pattern: "/api/v1/cluster", category: CategoryHigh},
	{method: "GET", pattern: "/api/v1/topics", category: CategoryMedium},
	{method: "GET", pattern: "/api/v1/brokers", category: CategoryMedium},
	{method: "GET", pattern: "/api/v1/topics/{name}", category: CategoryMedium},
	{method: "GET", pattern: "/api/v1/brokers/{id}/health", category: CategoryMedium},
	{method: "POST", pattern: "/api/v1/topics", category: CategoryLow},
	{method: "DELETE", pattern: "/api/v1/topics/{name}", category: CategoryLow},
	{method: "PATCH", pattern: "/api/v1/topics/{name}", category: CategoryLow},
	// Security (issue 11): reads and decisions are medium, rule and
	// registry changes (raft writes) low.
	{method: "GET", pattern: "/api/v1/acls", category: CategoryMedium},
	{method: "GET", pattern: "/api/v1/acls/permissions", category: CategoryMedium},
	{method: "POST", pattern: "/api/v1/acls/test", category: CategoryMedium},
	{method: "POST", pattern: "/api/v1/acls/bulk-test", category: CategoryMedium},
	{method: "GET", pattern: "/api/v1/audit", category: CategoryMedium},
	{method: "GET", pattern: "/api/v1/security/status", category: CategoryMedium},
	{method: "GET", pattern: "/api/v1/certs", category: CategoryMedium},
	{method: "GET", pattern: "/api/v1/certs/crl", category: CategoryMedium},
	{method: "GET", pattern: "/api/v1/certs/{serial}", category: CategoryMedium},
	{method: "POST", pattern: "/api/v1/acls", category: CategoryLow},
	{method: "POST", pattern: "/api/v1/acls/delete", category: CategoryLow},
	{method: "DELETE", pattern: "/api/v1/acls/{id}", category: CategoryLow},
	{method: "POST", pattern: "/api/v1/certs", category: CategoryLow},
	{method: "POST", pattern: "/api/v1/certs/revoke", category: CategoryLow},
}

// match reports whether method and the escaped path fit the route.
func (r *route) match(method, path string) bool {
	return method == r.method && matchPattern(r.pattern, path)
}

// exempt reports whether a request skips every bucket: GET or HEAD
// /health.
func exempt(method, path string) bool {
	return (method == http.MethodGet || method == http.MethodHead) && path == HealthPath
}

// matchPattern reports whether the escaped path fits pattern, segment by
// segment; a "{...}" segment matches any one non-empty segment. It
// allocates nothing.
func matchPattern(pattern, path string) bool {
	for pattern != "" {
		if pattern[0] != '/' || path == "" || path[0] != '/' {
			return false
		}
		pattern, path = pattern[1:], path[1:]
		pEnd, sEnd := segmentEnd(pattern), segmentEnd(path)
		pSeg, seg := pattern[:pEnd], path[:sEnd]
		if isWildcard(pSeg) {
			if seg == "" {
				return false
			}
		} else if pSeg != seg {
			return false
		}
		pattern, path = pattern[pEnd:], path[sEnd:]
	}
	return path == ""
}

func segmentEnd(s string) int {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return i
	}
	return len(s)
}

func isWildcard(seg string) bool {
	return len(seg) > 2 && seg[0] == '{' && seg[len(seg)-1] == '}'
}

// routePatterns lists the table's wildcard patterns for error messages.
func routePatterns() string {
	var seen []string
	for _, r := range routes {
		if strings.Contains(r.pattern, "{") && !slices.Contains(seen, r.pattern) {
			seen = append(seen, r.pattern)
		}
	}
	return strings.Join(seen, ", ")
}

// routeList lists every route as "METHOD pattern", for error messages.
func routeList() string {
	var out []string
	for _, r := range routes {
		out = append(out, r.method+" "+r.pattern)
	}
	return strings.Join(out, ", ")
}
