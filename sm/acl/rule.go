package acl

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Limits on one rule. They bound the work of validating, storing and
// evaluating a rule, and name the largest input a client may send.
const (
	// PatternBytesMax bounds a principal or resource-name pattern.
	PatternBytesMax = 1024
	// SourceCIDRsMax bounds the source prefixes of one rule.
	SourceCIDRsMax = 64
	// MinutesPerDay is the length of the time-of-day axis of TimeWindow.
	MinutesPerDay = 24 * 60
)

// RuleID names a rule. The state assigns IDs in sequence from 1 and never
// reuses one, so an audit line's rule ID means one rule forever. 0 means
// "no rule" (a default decision).
type RuleID uint64

// PatternKind is how a Pattern matches a name.
type PatternKind uint8

// Pattern kinds. The zero value is no pattern (unset, invalid in a rule; in
// a Filter it means "any pattern").
const (
	// PatternLiteral matches exactly Value (byte equality, case-sensitive).
	PatternLiteral PatternKind = 1
	// PatternPrefix matches every name that starts with Value, Value itself
	// included (Kafka's PREFIXED). Value is not empty.
	PatternPrefix PatternKind = 2
	// PatternAny matches every name, the empty one included. Value is empty.
	PatternAny PatternKind = 3
)

// Pattern matches principals or resource names. Its text form is the value
// for a literal, the value followed by one '*' for a prefix, and a lone '*'
// for any; a '*' anywhere else is an error, so the text form is
// unambiguous (topic names and principals cannot contain '*' literally).
type Pattern struct {
	Kind  PatternKind
	Value string
}

// Literal, Prefix and Any build patterns (unvalidated; see Pattern.Validate).
func Literal(v string) Pattern { return Pattern{Kind: PatternLiteral, Value: v} }

// Prefix builds a prefix pattern matching names that start with v.
func Prefix(v string) Pattern { return Pattern{Kind: PatternPrefix, Value: v} }

// Any builds the wildcard pattern.
func Any() Pattern { return Pattern{Kind: PatternAny} }

// ParsePattern reads a pattern's text form: "*" (any), "foo*" (prefix foo),
// "topic.users.*" (prefix "topic.users."), or a literal. It refuses an empty
// string, two '*' and a '*' that is not last.
func ParsePattern(s string) (Pattern, error) {
	var p Pattern
	switch {
	case s == "*":
		p = Any()
	case strings.HasSuffix(s, "*"):
		p = Prefix(s[:len(s)-1])
	default:
		p = Literal(s)
	}
	if err := p.Validate(); err != nil {
		return Pattern{}, fmt.Errorf("pattern %q: %w", s, err)
	}
	return p, nil
}

// Validate reports what is wrong with p, if anything.
func (p Pattern) Validate() error {
	if len(p.Value) > PatternBytesMax {
		return fmt.Errorf("longer than %d bytes (%d)", PatternBytesMax, len(p.Value))
	}
	star := strings.IndexByte(p.Value, '*')
	switch p.Kind {
	case PatternLiteral:
		if p.Value == "" {
			return errors.New("empty (use \"*\" to match everything)")
		}
	case PatternPrefix:
		if p.Value == "" {
			return errors.New("empty prefix (use \"*\" to match everything)")
		}
		if star >= 0 {
			return errors.New("more than one '*' (only one, at the end, is allowed)")
		}
	case PatternAny:
		if p.Value != "" {
			return fmt.Errorf("wildcard pattern with value %q", p.Value)
		}
	default:
		return fmt.Errorf("unknown pattern kind %d", p.Kind)
	}
	if star >= 0 {
		return fmt.Errorf("'*' at byte %d (only one '*', at the end, is allowed)", star)
	}
	return nil
}

// Matches reports whether name matches p. An invalid p matches nothing.
func (p Pattern) Matches(name string) bool {
	switch p.Kind {
	case PatternLiteral:
		return name == p.Value
	case PatternPrefix:
		return strings.HasPrefix(name, p.Value)
	case PatternAny:
		return true
	}
	return false
}

// String is the text form ParsePattern reads.
func (p Pattern) String() string {
	switch p.Kind {
	case PatternLiteral:
		return p.Value
	case PatternPrefix:
		return p.Value + "*"
	case PatternAny:
		return "*"
	}
	return fmt.Sprintf("<invalid pattern kind %d %q>", p.Kind, p.Value)
}

// MarshalText writes the text form; an invalid pattern is an error.
func (p Pattern) MarshalText() ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return []byte(p.String()), nil
}

// UnmarshalText reads the text form with ParsePattern.
func (p *Pattern) UnmarshalText(b []byte) error {
	q, err := ParsePattern(string(b))
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// ResourceType is the kind of thing a rule protects.
type ResourceType uint8

// Resource types. 0 is unset (invalid in a rule and a request; "any" in a Filter).
const (
	ResourceTopic           ResourceType = 1
	ResourceGroup           ResourceType = 2 // consumer group
	ResourceCluster         ResourceType = 3 // the cluster itself (admin operations)
	ResourceTransactionalID ResourceType = 4
	resourceTypeCount                    = 5
)

var resourceTypeNames = [resourceTypeCount]string{"", "topic", "group", "cluster", "transactional_id"}

// ParseResourceType reads a resource type: topic, group (or consumer_group,
// consumer-group), cluster, transactional_id (or transactional-id, txn).
// Case is ignored.
func ParseResourceType(s string) (ResourceType, error) {
	switch strings.ToLower(s) {
	case "topic":
		return ResourceTopic, nil
	case "group", "consumer_group", "consumer-group":
		return ResourceGroup, nil
	case "cluster":
		return ResourceCluster, nil
	case "transactional_id", "transactional-id", "txn":
		return ResourceTransactionalID, nil
	}
	return 0, fmt.Errorf("unknown resource type %q (want topic, group, cluster or transactional_id)", s)
}

func (t ResourceType) valid() bool { return t >= ResourceTopic && t < resourceTypeCount }

// String is the canonical name ParseResourceType reads.
func (t ResourceType) String() string {
	if t.valid() {
		return resourceTypeNames[t]
	}
	return fmt.Sprintf("<invalid resource type %d>", uint8(t))
}

// ResourcePattern is the set of resources a rule covers: one type and a
// name pattern.
type ResourcePattern struct {
	Type ResourceType
	Name Pattern
}

// ParseResourcePattern reads "TYPE:PATTERN" (canonical, as String writes
// it), the reference's "TYPE.PATTERN" (so "topic.events.*" is topics whose
// name starts with "events."), or a bare TYPE meaning every resource of that
// type ("cluster"). TYPE is as in ParseResourceType, PATTERN as in
// ParsePattern. A string that does not start with a resource type is an
// error: the type is never guessed.
func ParseResourcePattern(s string) (ResourcePattern, error) {
	typ, name, sep := s, "*", false
	if i := strings.IndexAny(s, ":."); i >= 0 {
		typ, name, sep = s[:i], s[i+1:], true
	}
	t, err := ParseResourceType(typ)
	if err != nil {
		return ResourcePattern{}, fmt.Errorf("resource %q: %w; write TYPE:PATTERN, e.g. topic:events.* or group:billing", s, err)
	}
	if sep && name == "" {
		return ResourcePattern{}, fmt.Errorf("resource %q: empty resource name after the type", s)
	}
	p, err := ParsePattern(name)
	if err != nil {
		return ResourcePattern{}, fmt.Errorf("resource %q: name %w", s, err)
	}
	return ResourcePattern{Type: t, Name: p}, nil
}

// Validate reports what is wrong with r, if anything.
func (r ResourcePattern) Validate() error {
	if !r.Type.valid() {
		return fmt.Errorf("unknown resource type %d", uint8(r.Type))
	}
	if err := r.Name.Validate(); err != nil {
		return fmt.Errorf("resource name %q: %w", r.Name.Value, err)
	}
	return nil
}

// Matches reports whether the resource (t, name) is covered by r.
func (r ResourcePattern) Matches(t ResourceType, name string) bool {
	return r.Type == t && r.Name.Matches(name)
}

// String is the canonical "TYPE:PATTERN" form.
func (r ResourcePattern) String() string { return r.Type.String() + ":" + r.Name.String() }

// MarshalText writes the canonical form; an invalid pattern is an error.
func (r ResourcePattern) MarshalText() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return []byte(r.String()), nil
}

// UnmarshalText reads any form ParseResourcePattern accepts.
func (r *ResourcePattern) UnmarshalText(b []byte) error {
	q, err := ParseResourcePattern(string(b))
	if err != nil {
		return err
	}
	*r = q
	return nil
}

// Resource is one concrete resource a request acts on.
type Resource struct {
	Type ResourceType
	Name string
}

// Operation is what a request does to a resource.
type Operation uint8

// Operations. 0 is unset. OpAll is not a request operation: in a rule it
// covers every operation.
const (
	OpRead     Operation = 1
	OpWrite    Operation = 2
	OpCreate   Operation = 3
	OpDelete   Operation = 4
	OpDescribe Operation = 5
	OpAlter    Operation = 6
	OpAdmin    Operation = 7
	OpAll      Operation = 8
	opCount              = 9
)

var opNames = [opCount]string{"", "read", "write", "create", "delete", "describe", "alter", "admin", "all"}

// ParseOperation reads an operation name (case ignored; "*" is all).
func ParseOperation(s string) (Operation, error) {
	l := strings.ToLower(strings.TrimSpace(s))
	if l == "*" {
		return OpAll, nil
	}
	for i := OpRead; i < opCount; i++ {
		if opNames[i] == l {
			return i, nil
		}
	}
	return 0, fmt.Errorf("unknown operation %q (want read, write, create, delete, describe, alter, admin or all)", s)
}

func (o Operation) valid() bool { return o >= OpRead && o < opCount }

// String is the name ParseOperation reads.
func (o Operation) String() string {
	if o.valid() {
		return opNames[o]
	}
	return fmt.Sprintf("<invalid operation %d>", uint8(o))
}

// MarshalText writes the name; an invalid operation is an error.
func (o Operation) MarshalText() ([]byte, error) {
	if !o.valid() {
		return nil, fmt.Errorf("unknown operation %d", uint8(o))
	}
	return []byte(o.String()), nil
}

// UnmarshalText reads a name with ParseOperation.
func (o *Operation) UnmarshalText(b []byte) error {
	q, err := ParseOperation(string(b))
	if err != nil {
		return err
	}
	*o = q
	return nil
}

// OpSet is a set of operations, one bit per Operation (bit 1<<op).
type OpSet uint16

// Ops builds a set.
func Ops(ops ...Operation) OpSet {
	var s OpSet
	for _, o := range ops {
		s |= 1 << o
	}
	return s
}

const opSetValid OpSet = (1<<opCount - 1) &^ 1

// Has reports whether s holds o itself (OpAll is not expanded).
func (s OpSet) Has(o Operation) bool { return o.valid() && s&(1<<o) != 0 }

// List returns the operations in s in Operation order.
func (s OpSet) List() []Operation {
	var out []Operation
	for o := OpRead; o < opCount; o++ {
		if s.Has(o) {
			out = append(out, o)
		}
	}
	return out
}

// Validate refuses an empty set and unknown bits.
func (s OpSet) Validate() error {
	if s == 0 {
		return errors.New("no operations (want at least one of read, write, create, delete, describe, alter, admin, all)")
	}
	if s&^opSetValid != 0 {
		return fmt.Errorf("unknown operation bits %#x", uint16(s&^opSetValid))
	}
	return nil
}

// ParseOperations reads a comma-separated list ("read,write"). Repeats are
// allowed; an empty list or an unknown name is an error.
func ParseOperations(s string) (OpSet, error) {
	var set OpSet
	for part := range strings.SplitSeq(s, ",") {
		o, err := ParseOperation(part)
		if err != nil {
			return 0, err
		}
		set |= 1 << o
	}
	return set, nil
}

// String is the comma-separated form ParseOperations reads.
func (s OpSet) String() string {
	var b strings.Builder
	for _, o := range s.List() {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(o.String())
	}
	return b.String()
}

// MarshalText writes the comma-separated form; an invalid set is an error.
func (s OpSet) MarshalText() ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return []byte(s.String()), nil
}

// UnmarshalText reads the comma-separated form.
func (s *OpSet) UnmarshalText(b []byte) error {
	q, err := ParseOperations(string(b))
	if err != nil {
		return err
	}
	*s = q
	return nil
}

// Effect is what a matching rule decides.
type Effect uint8

// Effects. 0 is unset.
const (
	Allow Effect = 1
	Deny  Effect = 2
)

// ParseEffect reads "allow" or "deny" (case ignored).
func ParseEffect(s string) (Effect, error) {
	switch strings.ToLower(s) {
	case "allow":
		return Allow, nil
	case "deny":
		return Deny, nil
	}
	return 0, fmt.Errorf("unknown effect %q (want allow or deny)", s)
}

// String is the name ParseEffect reads.
func (e Effect) String() string {
	switch e {
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	}
	return fmt.Sprintf("<invalid effect %d>", uint8(e))
}

// MarshalText writes the name; an invalid effect is an error.
func (e Effect) MarshalText() ([]byte, error) {
	if e != Allow && e != Deny {
		return nil, fmt.Errorf("unknown effect %d", uint8(e))
	}
	return []byte(e.String()), nil
}

// UnmarshalText reads a name with ParseEffect.
func (e *Effect) UnmarshalText(b []byte) error {
	q, err := ParseEffect(string(b))
	if err != nil {
		return err
	}
	*e = q
	return nil
}

// TimeWindow is a UTC time-of-day window [Start, End) in minutes since
// midnight. Start < End is a window within one day; Start > End wraps past
// midnight (22:00-06:00 holds from 22:00 to 05:59). The zero value {0, 0}
// means no time condition; any other Start == End is an error (it would be
// empty). {0, 1440} is the whole day.
type TimeWindow struct {
	Start uint16
	End   uint16
}

// IsZero reports whether w is the zero value (no time condition).
func (w TimeWindow) IsZero() bool { return w == TimeWindow{} }

// Validate reports what is wrong with w, if anything.
func (w TimeWindow) Validate() error {
	switch {
	case w.IsZero():
		return nil
	case w.Start >= MinutesPerDay:
		return fmt.Errorf("start minute %d out of range [0, %d)", w.Start, MinutesPerDay)
	case w.End > MinutesPerDay:
		return fmt.Errorf("end minute %d out of range [0, %d]", w.End, MinutesPerDay)
	case w.Start == w.End:
		return fmt.Errorf("start equals end (%s): the window is empty; omit it for the whole day", hhmm(w.Start))
	}
	return nil
}

// Contains reports whether minute m of the UTC day lies in w; the zero
// window contains every minute.
func (w TimeWindow) Contains(m int) bool {
	if w.IsZero() {
		return true
	}
	s, e := int(w.Start), int(w.End)
	if s < e {
		return s <= m && m < e
	}
	return m >= s || m < e
}

// ParseTimeWindow reads "HH:MM-HH:MM" in UTC ("09:00-17:00"; "22:00-06:00"
// wraps midnight; "24:00" is allowed as an end).
func ParseTimeWindow(s string) (TimeWindow, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return TimeWindow{}, fmt.Errorf("time window %q: want HH:MM-HH:MM (UTC)", s)
	}
	start, err := parseHHMM(a)
	if err != nil {
		return TimeWindow{}, fmt.Errorf("time window %q: start: %w", s, err)
	}
	end, err := parseHHMM(b)
	if err != nil {
		return TimeWindow{}, fmt.Errorf("time window %q: end: %w", s, err)
	}
	w := TimeWindow{Start: start, End: end}
	if w.IsZero() || start == MinutesPerDay {
		return TimeWindow{}, fmt.Errorf("time window %q: start equals end or is 24:00: the window is empty; omit it for the whole day", s)
	}
	if err := w.Validate(); err != nil {
		return TimeWindow{}, fmt.Errorf("time window %q: %w", s, err)
	}
	return w, nil
}

func parseHHMM(s string) (uint16, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("%q is not a time between 00:00 and 24:00", s)
	}
	return uint16(hh*60 + mm), nil
}

func hhmm(m uint16) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

// String is the "HH:MM-HH:MM" form ParseTimeWindow reads ("" for the zero window).
func (w TimeWindow) String() string {
	if w.IsZero() {
		return ""
	}
	return hhmm(w.Start) + "-" + hhmm(w.End)
}

// MarshalText writes the "HH:MM-HH:MM" form; an invalid window is an error.
func (w TimeWindow) MarshalText() ([]byte, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	return []byte(w.String()), nil
}

// UnmarshalText reads the "HH:MM-HH:MM" form ("" is the zero window).
func (w *TimeWindow) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*w = TimeWindow{}
		return nil
	}
	q, err := ParseTimeWindow(string(b))
	if err != nil {
		return err
	}
	*w = q
	return nil
}

// Conditions narrow where a rule applies. Every set condition must hold for
// an allow rule to grant; see the package doc for unknown inputs.
type Conditions struct {
	// SourceCIDRs, when not empty, requires the request's source address
	// to lie in one of them. IPv4 and IPv6; each prefix is canonical (no
	// host bits set) and not IPv4-mapped IPv6 (write the IPv4 form).
	SourceCIDRs []netip.Prefix `json:"source_cidrs,omitempty"`
	// TimeUTC, when not zero, requires the request's UTC time of day to
	// lie in the window.
	TimeUTC TimeWindow `json:"time_utc,omitzero"`
}

// IsZero reports whether c has no condition.
func (c Conditions) IsZero() bool { return len(c.SourceCIDRs) == 0 && c.TimeUTC.IsZero() }

// Validate reports what is wrong with c, if anything.
func (c Conditions) Validate() error {
	if len(c.SourceCIDRs) > SourceCIDRsMax {
		return fmt.Errorf("source CIDRs: %d, more than %d", len(c.SourceCIDRs), SourceCIDRsMax)
	}
	for _, p := range c.SourceCIDRs {
		if err := validateCIDR(p); err != nil {
			return fmt.Errorf("source CIDR %s: %w", p, err)
		}
	}
	if err := c.TimeUTC.Validate(); err != nil {
		return fmt.Errorf("time window: %w", err)
	}
	return nil
}

func validateCIDR(p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return errors.New("not a valid prefix")
	case p.Addr().Zone() != "":
		return errors.New("has an IPv6 zone")
	case p.Addr().Is4In6():
		return fmt.Errorf("IPv4-mapped IPv6 prefix; write the IPv4 form")
	case p.Masked() != p:
		return fmt.Errorf("host bits set; did you mean %s?", p.Masked())
	}
	return nil
}

// ParseCIDRs reads a comma-separated list of CIDRs ("10.0.0.0/8,2001:db8::/32").
// A bare address is a single-host prefix (/32 or /128).
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		var p netip.Prefix
		var err error
		if strings.Contains(part, "/") {
			p, err = netip.ParsePrefix(part)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(part); err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			return nil, fmt.Errorf("bad CIDR %q: %w", part, err)
		}
		if err := validateCIDR(p); err != nil {
			return nil, fmt.Errorf("bad CIDR %q: %w", part, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// ParseConditions reads the reference CLI's condition list:
// "source_ip=10.0.0.0/8,time_range=09:00-17:00". source_ip may repeat and
// each value may itself be a CIDR or an address; time_range at most once.
// An empty string is no condition.
func ParseConditions(s string) (Conditions, error) {
	var c Conditions
	if strings.TrimSpace(s) == "" {
		return c, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			// "source_ip=10.0.0.0/8,10.1.0.0/16": a bare CIDR continues source_ip.
			ps, err := ParseCIDRs(part)
			if err != nil {
				return Conditions{}, fmt.Errorf("condition %q: want source_ip=CIDR or time_range=HH:MM-HH:MM", part)
			}
			c.SourceCIDRs = append(c.SourceCIDRs, ps...)
			continue
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "source_ip", "source_cidr", "ip":
			ps, err := ParseCIDRs(v)
			if err != nil {
				return Conditions{}, fmt.Errorf("condition %q: %w", part, err)
			}
			c.SourceCIDRs = append(c.SourceCIDRs, ps...)
		case "time_range", "time", "time_utc":
			if !c.TimeUTC.IsZero() {
				return Conditions{}, fmt.Errorf("condition %q: time_range given twice", part)
			}
			w, err := ParseTimeWindow(strings.TrimSpace(v))
			if err != nil {
				return Conditions{}, fmt.Errorf("condition %q: %w", part, err)
			}
			c.TimeUTC = w
		default:
			return Conditions{}, fmt.Errorf("unknown condition %q (want source_ip or time_range)", k)
		}
	}
	if err := c.Validate(); err != nil {
		return Conditions{}, err
	}
	return c, nil
}

// Rule is one ACL entry: Principal may do Operations on Resource (or may
// not, for Deny) when Conditions hold.
type Rule struct {
	// ID is assigned by State when the rule is created; a rule given to
	// a create command has ID 0.
	ID         RuleID          `json:"id"`
	Principal  Pattern         `json:"principal"`
	Resource   ResourcePattern `json:"resource"`
	Operations OpSet           `json:"operations"`
	Effect     Effect          `json:"effect"`
	Conditions Conditions      `json:"conditions,omitzero"`
}

// Validate reports the first thing wrong with r, naming the field and the
// value. It does not look at ID (the state does).
func (r *Rule) Validate() error {
	if err := r.Principal.Validate(); err != nil {
		return fmt.Errorf("principal %q: %w", r.Principal.Value, err)
	}
	if err := r.Resource.Validate(); err != nil {
		return err
	}
	if err := r.Operations.Validate(); err != nil {
		return fmt.Errorf("operations: %w", err)
	}
	if r.Effect != Allow && r.Effect != Deny {
		return fmt.Errorf("effect: unknown effect %d (want allow or deny)", uint8(r.Effect))
	}
	return r.Conditions.Validate()
}

// String is a one-line description for logs and CLI output.
func (r *Rule) String() string {
	s := fmt.Sprintf("#%d %s %s %s on %s", r.ID, r.Effect, r.Principal, r.Operations, r.Resource)
	if len(r.Conditions.SourceCIDRs) > 0 {
		parts := make([]string, len(r.Conditions.SourceCIDRs))
		for i, p := range r.Conditions.SourceCIDRs {
			parts[i] = p.String()
		}
		s += " from " + strings.Join(parts, ",")
	}
	if !r.Conditions.TimeUTC.IsZero() {
		s += " at " + r.Conditions.TimeUTC.String() + " UTC"
	}
	return s
}

// clone returns a copy of r sharing nothing mutable with it.
func (r Rule) clone() Rule {
	if r.Conditions.SourceCIDRs != nil {
		r.Conditions.SourceCIDRs = append([]netip.Prefix(nil), r.Conditions.SourceCIDRs...)
	}
	return r
}

// MarshalText writes the canonical name; an invalid type is an error.
func (t ResourceType) MarshalText() ([]byte, error) {
	if !t.valid() {
		return nil, fmt.Errorf("unknown resource type %d", uint8(t))
	}
	return []byte(t.String()), nil
}

// UnmarshalText reads a name with ParseResourceType.
func (t *ResourceType) UnmarshalText(b []byte) error {
	q, err := ParseResourceType(string(b))
	if err != nil {
		return err
	}
	*t = q
	return nil
}

// ParseRule builds a rule from the CLI's and admin API's strings
// (acl create --principal --resource --permissions --effect --conditions)
// and validates it; the error names the flag's field and value.
func ParseRule(principal, resource, operations, effect, conditions string) (Rule, error) {
	var r Rule
	var err error
	if r.Principal, err = ParsePattern(principal); err != nil {
		return Rule{}, fmt.Errorf("principal: %w", err)
	}
	if r.Resource, err = ParseResourcePattern(resource); err != nil {
		return Rule{}, err
	}
	if r.Operations, err = ParseOperations(operations); err != nil {
		return Rule{}, fmt.Errorf("operations: %w", err)
	}
	if r.Effect, err = ParseEffect(effect); err != nil {
		return Rule{}, fmt.Errorf("effect: %w", err)
	}
	if r.Conditions, err = ParseConditions(conditions); err != nil {
		return Rule{}, fmt.Errorf("conditions: %w", err)
	}
	if err := r.Validate(); err != nil {
		return Rule{}, err
	}
	return r, nil
}

// ParseResource reads one concrete resource for a request (acl test):
// "TYPE:NAME" or the reference's "TYPE.NAME" ("topic.events.user-login" is
// the topic "events.user-login"). A bare "cluster" is the cluster resource
// named "cluster". The name may not contain '*'.
func ParseResource(s string) (Resource, error) {
	typ, name := s, ""
	if i := strings.IndexAny(s, ":."); i >= 0 {
		typ, name = s[:i], s[i+1:]
	}
	t, err := ParseResourceType(typ)
	if err != nil {
		return Resource{}, fmt.Errorf("resource %q: %w; write TYPE:NAME, e.g. topic:events.a", s, err)
	}
	switch {
	case name == "" && t == ResourceCluster:
		name = "cluster"
	case name == "":
		return Resource{}, fmt.Errorf("resource %q: empty resource name after the type", s)
	case strings.Contains(name, "*"):
		return Resource{}, fmt.Errorf("resource %q: a request names one resource; '*' is for rules", s)
	case len(name) > PatternBytesMax:
		return Resource{}, fmt.Errorf("resource %q: name longer than %d bytes", s[:32]+"…", PatternBytesMax)
	}
	return Resource{Type: t, Name: name}, nil
}
