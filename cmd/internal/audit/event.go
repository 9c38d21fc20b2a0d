package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Type names what kind of security event an Event records. The zero value is
// not a type: Log refuses it and counts it as Invalid, so an event built without
// a type is visible in Stats rather than written with a made-up name.
type Type uint8

//go:generate go tool stringer -type=Type -linecomment
const (
	// AuthenticationFailure: a peer failed the TLS handshake or presented no,
	// an expired, a foreign or a revoked certificate, or a bad admin token.
	AuthenticationFailure Type = iota + 1 // authentication_failure
	// AuthorizationDenied: an ACL (or the default rule) refused a request.
	AuthorizationDenied // authorization_denied
	// AuthorizationAllowed: an ACL allowed a request. Off unless Config.LogAllowed,
	// because it is one event per authorized request.
	AuthorizationAllowed // authorization_allowed
	// ACLRuleCreated and ACLRuleDeleted: a rule change committed through raft.
	ACLRuleCreated // acl_rule_created
	ACLRuleDeleted // acl_rule_deleted
	// CertificateIssued … CertificateRevoked: the certificate authority's lifecycle.
	CertificateIssued  // certificate_issued
	CertificateRenewed // certificate_renewed
	CertificateRotated // certificate_rotated
	CertificateRevoked // certificate_revoked
	// AdminWrite: an admin API request that changed something.
	AdminWrite // admin_write
	// ConnectionClosedRevoked: a live connection closed because its certificate
	// was revoked.
	ConnectionClosedRevoked // connection_closed_revoked
	// EventsDropped is written by the Logger itself: the queue was full and the
	// count in Details["dropped"] of events was lost.
	EventsDropped // events_dropped
	// EventsSuppressed is written by the Logger itself: the repeat limiter folded
	// Details["suppressed"] events of one key into this summary.
	EventsSuppressed // events_suppressed

	typeEnd // the first value that is not a type
)

// Types lists every valid Type in order, for help texts and tests.
func Types() []Type {
	ts := make([]Type, 0, int(typeEnd)-1)
	for t := AuthenticationFailure; t < typeEnd; t++ {
		ts = append(ts, t)
	}
	return ts
}

// Valid reports whether t is one of the named types.
func (t Type) Valid() bool { return t >= AuthenticationFailure && t < typeEnd }

// ParseType maps a name ("authorization_denied") to its Type. The error lists
// the accepted names, so a CLI can pass it through unchanged.
func ParseType(s string) (Type, error) {
	for _, t := range Types() {
		if t.String() == s {
			return t, nil
		}
	}
	names := make([]string, 0, int(typeEnd))
	for _, t := range Types() {
		names = append(names, t.String())
	}
	if s == "" {
		return 0, fmt.Errorf("audit: empty event type (want one of %s)", strings.Join(names, ", "))
	}
	return 0, fmt.Errorf("audit: unknown event type %q (want one of %s)", s, strings.Join(names, ", "))
}

// ParseTypes parses a comma-separated list ("authorization_denied,admin_write"),
// as `weir audit logs --type` takes it. Blank items are an error; duplicates are
// kept once.
func ParseTypes(s string) ([]Type, error) {
	var out []Type
	for item := range strings.SplitSeq(s, ",") {
		t, err := ParseType(strings.TrimSpace(item))
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// MarshalText writes the type's name; an invalid type is an error, never a
// made-up name.
func (t Type) MarshalText() ([]byte, error) {
	if !t.Valid() {
		return nil, fmt.Errorf("audit: invalid event type %d", uint8(t))
	}
	return []byte(t.String()), nil
}

// UnmarshalText is ParseType.
func (t *Type) UnmarshalText(b []byte) error {
	v, err := ParseType(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// Decision is the outcome an event records: allow, deny, or empty for events
// that are not decisions (a certificate issued, a rule created).
type Decision string

const (
	NoDecision Decision = ""
	Allow      Decision = "allow"
	Deny       Decision = "deny"
)

// ParseDecision accepts "allow", "deny" and "".
func ParseDecision(s string) (Decision, error) {
	switch d := Decision(s); d {
	case NoDecision, Allow, Deny:
		return d, nil
	}
	return "", fmt.Errorf("audit: unknown decision %q (want allow, deny or empty)", s)
}

// Resource formats a resource as the log writes it: "topic:orders",
// "group:billing", "cluster:weir". The kind is the ACL resource type's name.
func Resource(kind, name string) string { return kind + ":" + name }

// Event is one security event: one JSON line in the audit log. Only Type is
// required; Log fills Time (from Config.Now) and Node (from Config.Node) when
// they are zero.
type Event struct {
	Time      time.Time         // when it happened; written as UTC RFC 3339 with nanoseconds
	Type      Type              // what happened
	Principal string            // who: the mapped certificate principal, "" if unauthenticated
	Source    string            // the client's address ("10.1.2.3:50512")
	Resource  string            // "topic:orders" (see Resource), "" if none
	Operation string            // "write", "describe", "issue", "POST /v1/topics", …
	Decision  Decision          // allow, deny, or "" for events that are not decisions
	RuleID    uint64            // the ACL rule that decided; 0 = none or the default rule
	Node      string            // the broker or controller that wrote the event
	Message   string            // a human sentence
	Details   map[string]string // free extras: certificate serials, reasons, counts
}

// TimeLayout is how Time is written: fixed width, so lines from one node sort
// as text in time order.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// wireEvent fixes the JSON field order (encoding/json writes struct fields in
// declaration order and map keys sorted, so a line is a function of the event).
type wireEvent struct {
	Time      string            `json:"time"`
	Type      string            `json:"type"`
	Principal string            `json:"principal,omitempty"`
	Source    string            `json:"source,omitempty"`
	Resource  string            `json:"resource,omitempty"`
	Operation string            `json:"operation,omitempty"`
	Decision  string            `json:"decision,omitempty"`
	RuleID    uint64            `json:"rule_id,omitempty"`
	Node      string            `json:"node,omitempty"`
	Message   string            `json:"message,omitempty"`
	Details   map[string]string `json:"details,omitempty"`
}

// AppendLine appends ev as one JSON line (with its newline) to b. HTML
// characters are not escaped, so a principal like "a<b" stays readable.
func (ev Event) AppendLine(b []byte) ([]byte, error) {
	if !ev.Type.Valid() {
		return b, fmt.Errorf("audit: invalid event type %d", uint8(ev.Type))
	}
	if _, err := ParseDecision(string(ev.Decision)); err != nil {
		return b, err
	}
	w := wireEvent{
		Time: ev.Time.UTC().Format(TimeLayout), Type: ev.Type.String(),
		Principal: ev.Principal, Source: ev.Source, Resource: ev.Resource,
		Operation: ev.Operation, Decision: string(ev.Decision), RuleID: ev.RuleID,
		Node: ev.Node, Message: ev.Message, Details: ev.Details,
	}
	buf := bytes.NewBuffer(b)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&w); err != nil {
		return b, fmt.Errorf("audit: encode event: %w", err)
	}
	return buf.Bytes(), nil
}

// MarshalJSON writes the same object as AppendLine, without the newline.
func (ev Event) MarshalJSON() ([]byte, error) {
	b, err := ev.AppendLine(nil)
	if err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b, []byte("\n")), nil
}

// UnmarshalJSON reads one line. Unknown fields are ignored (a newer writer may
// add some); a missing or bad time, type or decision is an error that names it.
func (ev *Event) UnmarshalJSON(b []byte) error {
	var w wireEvent
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("audit: decode event: %w", err)
	}
	if w.Time == "" {
		return errors.New("audit: event has no time")
	}
	tm, err := time.Parse(time.RFC3339Nano, w.Time)
	if err != nil {
		return fmt.Errorf("audit: event time %q is not RFC 3339: %w", w.Time, err)
	}
	typ, err := ParseType(w.Type)
	if err != nil {
		return err
	}
	dec, err := ParseDecision(w.Decision)
	if err != nil {
		return err
	}
	*ev = Event{
		Time: tm.UTC(), Type: typ, Principal: w.Principal, Source: w.Source,
		Resource: w.Resource, Operation: w.Operation, Decision: dec, RuleID: w.RuleID,
		Node: w.Node, Message: w.Message, Details: w.Details,
	}
	return nil
}

// Limits on what one event may carry. Principals, resources and messages can
// come from a hostile peer (a certificate's CN, a topic name in a denied
// request), so an event is bounded before it is queued.
const (
	FieldBytesMax   = 1024 // principal, source, resource, operation, node, each detail value
	MessageBytesMax = 4096
	DetailsMax      = 32  // entries; the lowest keys in sort order are kept
	DetailKeyMax    = 128 // bytes
)

// bounded returns ev with every field within the limits above and Details
// copied (the caller may reuse its map). If anything was cut, Details["truncated"]
// is "true".
func (ev Event) bounded() Event {
	cut := false
	clip := func(s string, max int) string {
		if len(s) <= max {
			return s
		}
		cut = true
		for max > 0 && !utf8.RuneStart(s[max]) {
			max-- // do not end in half a rune
		}
		return s[:max]
	}
	ev.Principal = clip(ev.Principal, FieldBytesMax)
	ev.Source = clip(ev.Source, FieldBytesMax)
	ev.Resource = clip(ev.Resource, FieldBytesMax)
	ev.Operation = clip(ev.Operation, FieldBytesMax)
	ev.Node = clip(ev.Node, FieldBytesMax)
	ev.Message = clip(ev.Message, MessageBytesMax)
	if n := len(ev.Details); n > DetailsMax {
		keys := slices.Sorted(maps.Keys(ev.Details))[:DetailsMax]
		d := make(map[string]string, DetailsMax+1)
		for _, k := range keys {
			d[clip(k, DetailKeyMax)] = clip(ev.Details[k], FieldBytesMax)
		}
		ev.Details, cut = d, true
	} else if n > 0 {
		d := make(map[string]string, n+1)
		for k, v := range ev.Details {
			d[clip(k, DetailKeyMax)] = clip(v, FieldBytesMax)
		}
		ev.Details = d
	}
	if cut {
		if ev.Details == nil {
			ev.Details = map[string]string{}
		}
		ev.Details["truncated"] = "true"
	}
	return ev
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
