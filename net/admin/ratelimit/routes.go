package ratelimit

import (
	"fmt"
	"slices"
	"strings"
)

// Category is one of the reference's three endpoint classes, by how often
// an operator or a monitor may reasonably call it.
type Category uint8

// The categories, as the reference's "Rate Limiting Categories" lists
// them.
const (
	// CategoryHigh is health and cluster status: polled by monitors.
	CategoryHigh Category = iota + 1
	// CategoryMedium is listing and describing topics and brokers.
	CategoryMedium
	// CategoryLow is creating and deleting topics: each one a raft write.
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
// whose one optional wildcard is a whole last segment ("{name}").
type route struct {
	method   string
	pattern  string
	category Category
	prefix   string // pattern up to its wildcard; "" without one
}

// wildcard is the one pattern segment a route may end with.
const wildcard = "{name}"

// routes is the reference's category table with Weir's paths. HEAD is
// classified as GET, as net/http serves it.
var routes = []route{
	{method: "GET", pattern: "/health", category: CategoryHigh},
	{method: "GET", pattern: "/api/v1/cluster", category: CategoryHigh},
	{method: "GET", pattern: "/api/v1/topics", category: CategoryMedium},
	{method: "GET", pattern: "/api/v1/brokers", category: CategoryMedium},
	{method: "GET", pattern: "/api/v1/topics/{name}", category: CategoryMedium},
	{method: "POST", pattern: "/api/v1/topics", category: CategoryLow},
	{method: "DELETE", pattern: "/api/v1/topics/{name}", category: CategoryLow},
}

func init() {
	for i := range routes {
		if p, ok := strings.CutSuffix(routes[i].pattern, wildcard); ok {
			routes[i].prefix = p
		}
	}
}

// match reports whether method and the escaped path fit the route. A
// wildcard matches one non-empty segment.
func (r *route) match(method, path string) bool {
	if method != r.method {
		return false
	}
	if r.prefix == "" {
		return path == r.pattern
	}
	rest, ok := strings.CutPrefix(path, r.prefix)
	return ok && rest != "" && strings.IndexByte(rest, '/') < 0
}

// routePatterns lists the table's patterns for error messages.
func routePatterns() string {
	var seen []string
	for _, r := range routes {
		if strings.Contains(r.pattern, "{") && !slices.Contains(seen, r.pattern) {
			seen = append(seen, r.pattern)
		}
	}
	return strings.Join(seen, ", ")
}
