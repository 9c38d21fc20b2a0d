// Package acl is Weir's access control: the rule model, the rule set as a
// pure deterministic state machine (State, applied through the controller's
// raft log and shipped to brokers in the metadata delta), a reference
// evaluator (EvaluateLinear) and the compiled Authorizer brokers ask on every
// request. Like everything under sm/ it reads no clock, draws no randomness
// and does no I/O: the request's time of day and source address come in
// with the Request.
//
// # Rules
//
// A Rule says that a principal pattern may (Allow) or may not (Deny) do a
// set of operations on a resource pattern, optionally only from some source
// CIDRs and within a UTC time-of-day window.
//
// Patterns (principals and resource names alike): "*" matches every name
// (the empty one too); "foo*" matches every name starting with "foo", "foo"
// itself included (Kafka's PREFIXED); anything else is a literal, matched
// byte for byte, case-sensitively. Only one '*' is allowed, and only at the
// end: "a*b" and "a**" are errors, as are empty patterns and patterns longer
// than PatternBytesMax. The reference's "topic.users.*" is, as a name
// pattern (ParsePattern), the prefix "topic.users."; as a resource
// (ParseResourcePattern, the CLI's --resource) its first segment is the
// resource type, so it is topics whose name starts with "users.". The
// canonical resource form is "TYPE:PATTERN" ("topic:users.*").
//
// Resource types: topic, group (consumer group), cluster, transactional_id.
// Operations: read, write, create, delete, describe, alter, admin, and all
// (every operation, in rules only).
//
// # Decisions
//
//  1. A request with an unknown operation or resource type (or asking for
//     "all") is denied (ReasonBadRequest).
//  2. A super user (Options.SuperUsers, exact principals) is allowed.
//  3. A rule applies to a request when its resource pattern matches the
//     resource, its principal pattern the principal, its operations the
//     operation, and its conditions hold.
//  4. Deny wins: if any deny rule applies, the request is denied and the
//     lowest such rule ID is reported. Otherwise, if any allow rule applies,
//     it is allowed with the lowest such rule ID.
//  5. Otherwise it is denied, unless no rule at all covers the resource
//     (no rule's resource pattern matches it, whatever that rule's
//     principal, operations, effect or conditions) and
//     Options.AllowIfNoRules is set (Kafka's
//     allow.everyone.if.no.acl.found): then it is allowed.
//
// Operation implication follows Kafka: an allow of read, write, delete or
// alter also allows describe; "all" covers every operation. Implication
// only widens allows: a deny of read does not deny describe, and a deny
// applies only to the operations it lists (or all). admin and create imply
// nothing.
//
// Conditions fail closed when the input is unknown (the zero netip.Addr, or
// TimeUnknown): an allow rule with a source CIDR or a time window does not
// apply to a request whose source or time is unknown, and a deny rule with
// one does apply unless a known input shows the condition false. A source
// is matched in its IPv4 form when it is IPv4-mapped IPv6, and its zone is
// ignored. A rule with several CIDRs needs the source in any one of them;
// a rule with CIDRs and a window needs both.
//
// A request with an empty principal (no certificate) matches only rules
// whose principal pattern is "*".
//
// # State
//
// State holds the rules in ID order with a Version that grows by one with
// every command that changes the set. IDs are assigned in sequence and
// never reused. Commands are validated when applied; a refused command
// changes nothing. Snapshot encodes a state deterministically (equal states,
// equal bytes); Restore refuses anything malformed.
//
// # Authorizer
//
// Compile turns a State into an immutable Authorizer whose Authorize costs
// O(len(principal) + len(name)) hashing plus one table probe per distinct
// prefix length, independent of the number of rules, and never allocates.
// Rules that can never decide (an unconditional rule of a principal and
// resource pattern for which a lower-ID rule with the same effect already
// covers each of its operations) are left out of the compiled form. It is
// safe for concurrent use; compile a new one when the version changes
// (about 70 ms at 100,000 rules).
package acl
