// Package ratelimit is the admin API's rate limiter, configured by
// [admin.rate_limiting] as in the reference, plus the CORS and
// cross-origin guard (enable_cors, allowed_origins) and request-log
// (log_requests) middleware that wrap it.
//
// # Buckets
//
// Each request is checked against three token buckets, timed by an
// injected Clock: the global bucket, its client IP's bucket (see
// Limiter.ClientIP), and its endpoint's bucket, shared by all clients.
// The request is admitted only if every bucket holds a whole token, and
// then takes one from each; a refusal takes nothing from any. So the most
// restrictive bucket decides: with global 60, per-IP 30 and endpoint 10
// requests per minute, a client gets at most 10 a minute on that
// endpoint.
//
// The buckets do golang.org/x/time/rate's arithmetic (a property test
// holds them to it) but not through it: its per-bucket lock and time.Time
// handling cost ~270 ns per request for three buckets against ~45 ns here
// (BenchmarkBucket), and with it the middleware measured 0.65-1.1 µs, over
// the reference's < 1 µs budget.
//
// # Endpoints and categories
//
// GET and HEAD /health are never limited: no bucket, no header, not
// counted (see HealthPath). Any other request (HEAD counted as GET; the
// path as sent, escaped) resolves to its endpoint bucket in this order:
//
//  1. the Endpoints key "METHOD:/path", exactly;
//  2. the Endpoints key "/path", exactly (any method);
//  3. the category table's route it matches, sized by an Endpoints key
//     naming the route's pattern ("DELETE:/api/v1/topics/{name}" or
//     "/api/v1/topics/{name}") if any, else by its category's limit;
//  4. none: a path outside the API has only the global and per-IP buckets.
//
// The category table is the reference's, with Weir's paths, less /health,
// plus broker health. Defaults are burst/refill per minute:
//
//	category          route                                default
//	high_frequency    GET    /api/v1/cluster               50/100
//	medium_frequency  GET    /api/v1/topics                20/30
//	medium_frequency  GET    /api/v1/brokers               20/30
//	medium_frequency  GET    /api/v1/topics/{name}         20/30
//	medium_frequency  GET    /api/v1/brokers/{id}/health   20/30
//	low_frequency     POST   /api/v1/topics                5/10
//	low_frequency     DELETE /api/v1/topics/{name}         5/10
//	low_frequency     PATCH  /api/v1/topics/{name}         5/10
//
// DefaultConfig also holds the reference's Endpoints keys but "/health"
// ("/api/v1/cluster", "/api/v1/topics", "/api/v1/brokers",
// "POST:/api/v1/topics", "DELETE:/api/v1/topics"), with the same numbers,
// so every route has one bucket of the reference's size. Each key and
// each unkeyed route is its own bucket; a key without a method is one
// bucket for all methods. "DELETE:/api/v1/topics" means what the
// reference means by it, topic deletes: "METHOD:/collection", where the
// API serves METHOD only on /collection/{...}, names that route. A key
// that matches no route is refused, and so is "/health", and two keys
// naming one route.
//
// # Headers
//
// Every response the Middleware passes or refuses carries the headers of
// one deciding bucket. On an admitted request it is the bucket with the
// fewest whole tokens left after this request (among equals, the one with
// the lower refill rate, then the more specific: endpoint over ip over
// global). On a refusal it is the empty bucket that takes longest to earn
// a token.
//
//	X-RateLimit-Limit      the deciding bucket's refill rate, requests per minute
//	X-RateLimit-Remaining  whole tokens it holds after this request: requests that
//	                       could follow at once (0 on a 429); every other bucket
//	                       holds at least as many
//	X-RateLimit-Reset      Unix time, seconds rounded up, at which it is full again
//	                       if no request arrives
//	X-RateLimit-Type       its kind: global, ip or endpoint
//
// A 429 also has Retry-After: seconds, rounded up and at least 1, after
// which every bucket that refused holds a token again (other clients
// permitting). Its body is the admin envelope with the reference's
// message, completed with the bucket's burst and the Retry-After, so that
// a client refused on the 6th request of a burst under "10 a minute"
// learns why:
//
//	{"success":false,"data":null,"error":"Rate limit exceeded for IP 192.168.1.100. Limit: 30 requests per minute, in bursts of at most 100; retry after 2 s","leader_hint":null}
//
// with "endpoint POST:/api/v1/topics" (the key or route) or "all clients"
// in place of "IP 192.168.1.100" when that bucket refused.
//
// With enabled = false the Middleware is the next handler itself: no
// headers (their absence tells a client nothing is limited), no counting.
//
// # Memory
//
// Per-IP buckets are created on a client's first admitted request and
// dropped by Cleanup once full again (idle), every
// cleanup_interval_seconds via Start; at most 65536 are held, beyond
// which new clients share one overflow bucket of the per-IP size.
//
// # Wiring
//
// Order the middleware Log(CORS(origins)(limiter.Middleware(api))): Log
// sees every answer, 429s and 403s included, with the limiter's client
// IP; CORS answers preflights and refuses cross-origin writes before they
// cost tokens, and marks 429s readable by listed origins.
package ratelimit
