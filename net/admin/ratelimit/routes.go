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
}

// routes is the reference's category table with Weir's paths. HEAD is
// classified as GET, as net/http serves it.
var routes = []route{
	{"GET", "/health", CategoryHigh},
	{"GET", "/api/v1/cluster", CategoryHigh},
	{"GET", "/api/v1/topics", CategoryMedium},
	{"GET", "/api/v1/brokers", CategoryMedium},
	{"GET", "/api/v1/topics/{name}", CategoryMedium},
	{"POST", "/api/v1/topics", CategoryLow},
	{"DELETE", "/api/v1/topics/{name}", CategoryLow},
}

// match reports whether method and the escaped path fit the route. A
// wildcard matches one non-empty segment.
func (r *route) match(method, path string) bool {
	if method != r.method {
		return false
	}
	prefix, wild := strings.CutSuffix(r.pattern, "{name}")
	if !wild {
		return path == r.pattern
	}
	rest, ok := strings.CutPrefix(path, prefix)
	return ok && rest != "" && !strings.Contains(rest, "/")
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
