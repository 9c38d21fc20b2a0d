package acl

import (
	"maps"
	"math/bits"
	"net/netip"
	"slices"

	"github.com/weirmq/weir/sm/assert"
)

// Authorizer answers Requests from a rule set compiled once. It is
// immutable, so any number of goroutines may share one; when the State's
// version changes the caller compiles a new one and swaps it in (the old
// one keeps answering for the old version meanwhile).
//
// Layout: per resource type, a hash table of literal resource names, a
// hash table of prefix patterns probed once per distinct prefix length not
// longer than the name (skipped without hashing when the name's first or
// last byte at that length cannot match), and the wildcard's bucket. Each
// bucket holds the rules of one resource pattern: up to bucketSmallMax are
// scanned directly; more are indexed by principal the same way (exact
// table, prefix table with its lengths, wildcard span), and rules that can
// never decide are pruned (see prune). A decision hashes the name once (the
// principal only if a principal index is visited) and probes O(1 +
// distinct prefix lengths) slots, whatever the number of rules; conditions
// are evaluated only on candidate rules, those that match principal,
// resource and operation. No decision allocates.
//
// There is no decision cache: a cache lookup would hash the same strings
// and probe a table as the index does, so it could not be much faster,
// and in sm/ it could not be shared between goroutines without locks.
type Authorizer struct {
	version  uint64
	allowNo  bool
	super    superUsers
	types    [resourceTypeCount]resIndex
	indexes  []principalIndex
	rules    []crule
	rulesLen int
}

// resIndex is level 1: resource name pattern → bucket.
type resIndex struct {
	exact  table       // literal name → bucket
	prefix table       // prefix value → bucket
	lens   []prefixLen // distinct prefix lengths, ascending
	any    bucket      // the "*" pattern's bucket
	hasAny bool
}

// bucket is the rules of one resource pattern, packed in a word that
// sits in the table slot itself: a decision goes from the slot straight to
// the rules. A small bucket (top bit clear: lo<<32 | hi, a span of
// a.rules) is scanned with each rule's principal pattern checked; a large
// one (top bit set: an index into a.indexes) is indexed by principal.
type bucket uint64

const bucketIndexed bucket = 1 << 63

func smallBucket(sp span) bucket    { return bucket(uint64(sp.lo)<<32 | uint64(uint32(sp.hi))) }
func indexedBucket(i int) bucket    { return bucketIndexed | bucket(i) }
func (b bucket) span() span         { return span{int32(b >> 32), int32(uint32(b))} }
func (b bucket) index() (int, bool) { return int(b &^ bucketIndexed), b&bucketIndexed != 0 }
func spanValue(sp span) uint64      { return uint64(smallBucket(sp)) }
func valueSpan(v uint64) span       { return bucket(v).span() }

// principalIndex is level 2: a large bucket's rules by principal pattern.
type principalIndex struct {
	exact  table // literal principal → span (spanValue)
	prefix table // principal prefix → span (spanValue)
	lens   []prefixLen
	any    span // principal "*"
}

// span is a run of a.rules, in ID order.
type span struct{ lo, hi int32 }

// crule is a compiled rule.
type crule struct {
	id     RuleID
	ops    OpSet
	deny   bool
	pkind  PatternKind // used in small buckets only
	pvalue string
	window TimeWindow
	cidrs  []netip.Prefix
}

// bucketSmallMax is the rule count up to which a bucket is scanned rather
// than indexed by principal: a short scan beats hashing and probing.
const bucketSmallMax = 8

// Compile builds an Authorizer for the state's current rules and version.
// Its error is only for invalid options.
func Compile(s *State, opt Options) (*Authorizer, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	return compileRules(s.rules, s.version, opt), nil
}

// Version is the state version the authorizer was compiled from.
func (a *Authorizer) Version() uint64 { return a.version }

// Len is the number of rules in the state compiled (pruned ones included).
func (a *Authorizer) Len() int { return a.rulesLen }

type patKey struct {
	kind  PatternKind
	value string
}

type resKey struct {
	typ ResourceType
	patKey
}

// compileRules groups rules by resource pattern, then (in large buckets) by
// principal pattern, and lays each group out as one span. Groups are kept in
// first-seen order, so equal rule sets compile to equal layouts.
func compileRules(rules []Rule, version uint64, opt Options) *Authorizer {
	a := &Authorizer{version: version, allowNo: opt.AllowIfNoRules, rulesLen: len(rules)}
	a.super = newSuperUsers(opt.SuperUsers)
	// Level 1 groups, in first-seen order.
	groupOf := map[resKey]int{}
	var groups [][]*Rule
	var keys []resKey
	for i := range rules {
		r := &rules[i]
		k := resKey{r.Resource.Type, patKey{r.Resource.Name.Kind, r.Resource.Name.Value}}
		g, ok := groupOf[k]
		if !ok {
			g = len(groups)
			groupOf[k] = g
			groups = append(groups, nil)
			keys = append(keys, k)
		}
		groups[g] = append(groups[g], r)
	}
	a.rules = make([]crule, 0, len(rules))
	var exact, prefix [resourceTypeCount][]entry
	for g, rs := range groups {
		b := a.compileBucket(rs)
		k := keys[g]
		switch k.kind {
		case PatternAny:
			a.types[k.typ].any, a.types[k.typ].hasAny = b, true
		case PatternLiteral:
			exact[k.typ] = append(exact[k.typ], entry{k.value, uint64(b)})
		case PatternPrefix:
			prefix[k.typ] = append(prefix[k.typ], entry{k.value, uint64(b)})
		}
	}
	for t := range a.types {
		a.types[t].exact = newTable(exact[t])
		a.types[t].prefix = newTable(prefix[t])
		a.types[t].lens = prefixLens(prefix[t])
	}
	assert.That(len(a.rules) <= len(rules), "acl: compiled %d rules from %d", len(a.rules), len(rules))
	return a
}

func (a *Authorizer) compileBucket(rs []*Rule) bucket {
	rs = prune(rs)
	if len(rs) <= bucketSmallMax {
		return smallBucket(a.layout(rs))
	}
	groupOf := map[patKey]int{}
	var groups [][]*Rule
	var keys []patKey
	for _, r := range rs {
		k := patKey{r.Principal.Kind, r.Principal.Value}
		g, ok := groupOf[k]
		if !ok {
			g = len(groups)
			groupOf[k] = g
			groups = append(groups, nil)
			keys = append(keys, k)
		}
		groups[g] = append(groups[g], r)
	}
	var b principalIndex
	var exact, prefix []entry
	for g, grs := range groups {
		sp := a.layout(grs)
		switch keys[g].kind {
		case PatternAny:
			b.any = sp
		case PatternLiteral:
			exact = append(exact, entry{keys[g].value, spanValue(sp)})
		case PatternPrefix:
			prefix = append(prefix, entry{keys[g].value, spanValue(sp)})
		}
	}
	b.exact, b.prefix, b.lens = newTable(exact), newTable(prefix), prefixLens(prefix)
	a.indexes = append(a.indexes, b)
	return indexedBucket(len(a.indexes) - 1)
}

// prune drops rules of one resource pattern that can never decide. Rules
// with the same principal pattern match the same requests but for
// operations and conditions, so among those without conditions only the
// lowest-ID allow and the lowest-ID deny of each operation can be the
// reported rule. A principal keeps at most 2 × 8 unconditional rules per
// resource pattern however many were written, so a flood of duplicates
// cannot slow decisions. Rules with conditions are all kept; the order
// (by ID) is kept.
func prune(rs []*Rule) []*Rule {
	if len(rs) < 2 {
		return rs
	}
	type key struct {
		p      patKey
		effect Effect
		op     Operation
	}
	lowest := map[key]bool{}
	out := make([]*Rule, 0, len(rs))
	for _, r := range rs {
		keep := !r.Conditions.IsZero()
		for _, o := range r.Operations.List() {
			k := key{patKey{r.Principal.Kind, r.Principal.Value}, r.Effect, o}
			if !keep && !lowest[k] { // rs is in ID order: the first is the lowest
				keep = true
			}
			if r.Conditions.IsZero() {
				lowest[k] = true
			}
		}
		if keep {
			out = append(out, r)
		}
	}
	return out
}

// layout appends rs (in ID order) to a.rules and returns their span.
func (a *Authorizer) layout(rs []*Rule) span {
	lo := int32(len(a.rules))
	for _, r := range rs {
		a.rules = append(a.rules, crule{
			id: r.ID, ops: r.Operations, deny: r.Effect == Deny,
			pkind: r.Principal.Kind, pvalue: r.Principal.Value,
			window: r.Conditions.TimeUTC, cidrs: r.Conditions.SourceCIDRs,
		})
	}
	return span{lo, int32(len(a.rules))}
}

// prefixLen is one length of prefix keys in a table, with the sets of
// bytes those keys start and end with: a name whose byte at either end of
// that length is in neither set cannot match, and is not hashed or probed
// (prefixes mostly end in a separator: "events." at length 7 skips every
// name whose 7th byte is not '.').
type prefixLen struct {
	n           int
	first, last byteSet
}

type byteSet [4]uint64

func (b *byteSet) add(c byte)             { b[c>>6] |= 1 << (c & 63) }
func (b *byteSet) has(c byte) bool        { return b[c>>6]&(1<<(c&63)) != 0 }
func (p *prefixLen) admits(s string) bool { return p.last.has(s[p.n-1]) && p.first.has(s[0]) }

// prefixLens returns the distinct key lengths of es, ascending, with their
// first and last bytes.
func prefixLens(es []entry) []prefixLen {
	if len(es) == 0 {
		return nil
	}
	byLen := map[int]*prefixLen{}
	for _, e := range es {
		p := byLen[len(e.key)]
		if p == nil {
			p = &prefixLen{n: len(e.key)}
			byLen[len(e.key)] = p
		}
		p.first.add(e.key[0])
		p.last.add(e.key[len(e.key)-1])
	}
	out := make([]prefixLen, 0, len(byLen))
	for _, l := range slices.Sorted(maps.Keys(byLen)) {
		out = append(out, *byLen[l])
	}
	return out
}

// superUsers is the exact set of super-user principals, with a filter of
// their lengths so most principals are ruled out without hashing.
type superUsers struct {
	lens  [PatternBytesMax/64 + 1]uint64
	names table
}

func newSuperUsers(names []string) superUsers {
	var s superUsers
	seen := map[string]bool{}
	var es []entry
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			es = append(es, entry{key: n})
			s.lens[len(n)>>6] |= 1 << (len(n) & 63)
		}
	}
	s.names = newTable(es)
	return s
}

func (s *superUsers) has(p string) bool {
	if len(p) > PatternBytesMax || s.lens[len(p)>>6]&(1<<(len(p)&63)) == 0 {
		return false
	}
	_, ok := s.names.get(hashString(p), p)
	return ok
}

// eval accumulates one decision.
type eval struct {
	allowM, denyM OpSet
	src           netip.Addr // as given: normalised only for a rule with CIDRs
	minute        int
	timeKnown     bool
	covered       bool
	phKnown       bool // ph is the principal's hash (computed on first need)
	ph            uint64
	deny, allow   RuleID
}

// Authorize decides req (same semantics as EvaluateLinear, which it is
// tested against). It never allocates.
func (a *Authorizer) Authorize(req Request) Decision {
	if !requestOK(&req) {
		return Decision{Reason: ReasonBadRequest}
	}
	if a.super.has(req.Principal) {
		return Decision{Allowed: true, Reason: ReasonSuperUser}
	}
	e := eval{allowM: allowMask[req.Operation], denyM: denyMask[req.Operation], src: req.Source}
	e.minute, e.timeKnown = req.Time.Minute()
	ti := &a.types[req.Resource.Type]
	name := req.Resource.Name
	if ti.hasAny {
		a.scanBucket(ti.any, &e, req.Principal)
	}
	if ti.exact.n > 0 {
		if b, ok := ti.exact.get(hashString(name), name); ok {
			a.scanBucket(bucket(b), &e, req.Principal)
		}
	}
	for i := range ti.lens {
		l := &ti.lens[i]
		if l.n > len(name) {
			break
		}
		if !l.admits(name) {
			continue
		}
		p := name[:l.n]
		if b, ok := ti.prefix.get(hashString(p), p); ok {
			a.scanBucket(bucket(b), &e, req.Principal)
		}
	}
	switch {
	case e.deny != 0:
		return Decision{RuleID: e.deny, Reason: ReasonDeniedByRule}
	case e.allow != 0:
		return Decision{Allowed: true, RuleID: e.allow, Reason: ReasonAllowedByRule}
	case e.covered:
		return Decision{Reason: ReasonNoMatchingAllow}
	case a.allowNo:
		return Decision{Allowed: true, Reason: ReasonNoRulesAllowed}
	}
	return Decision{Reason: ReasonNoRulesDenied}
}

// scanBucket folds the rules of one resource bucket that match principal.
func (a *Authorizer) scanBucket(b bucket, e *eval, principal string) {
	e.covered = true
	if x, ok := b.index(); ok {
		a.scanIndex(&a.indexes[x], e, principal)
		return
	}
	for sp, i := b.span(), b.span().lo; i < sp.hi; i++ {
		r := &a.rules[i]
		if principalMatches(r.pkind, r.pvalue, principal) {
			e.fold(r)
		}
	}
}

func (a *Authorizer) scanIndex(b *principalIndex, e *eval, principal string) {
	a.scanSpan(b.any, e)
	if b.exact.n > 0 {
		if !e.phKnown {
			e.ph, e.phKnown = hashString(principal), true
		}
		if v, ok := b.exact.get(e.ph, principal); ok {
			a.scanSpan(valueSpan(v), e)
		}
	}
	for i := range b.lens {
		l := &b.lens[i]
		if l.n > len(principal) {
			break
		}
		if !l.admits(principal) {
			continue
		}
		p := principal[:l.n]
		if v, ok := b.prefix.get(hashString(p), p); ok {
			a.scanSpan(valueSpan(v), e)
		}
	}
}

func (a *Authorizer) scanSpan(s span, e *eval) {
	for i := s.lo; i < s.hi; i++ {
		e.fold(&a.rules[i])
	}
}

func principalMatches(kind PatternKind, value, principal string) bool {
	switch kind {
	case PatternAny:
		return true
	case PatternLiteral:
		return principal == value
	}
	return len(principal) >= len(value) && principal[:len(value)] == value
}

// fold applies one candidate rule: operation first, conditions last.
func (e *eval) fold(r *crule) {
	if r.deny {
		if r.ops&e.denyM != 0 && (e.deny == 0 || r.id < e.deny) && !e.condFalse(r) {
			e.deny = r.id
		}
		return
	}
	if r.ops&e.allowM != 0 && (e.allow == 0 || r.id < e.allow) && e.condTrue(r) {
		e.allow = r.id
	}
}

// condTrue: every condition of r certainly holds (what an allow needs).
func (e *eval) condTrue(r *crule) bool {
	if len(r.cidrs) > 0 && (!e.src.IsValid() || !inAny(r.cidrs, normalSource(e.src))) {
		return false
	}
	return r.window.IsZero() || (e.timeKnown && r.window.Contains(e.minute))
}

// condFalse: some condition of r certainly fails (what stops a deny).
func (e *eval) condFalse(r *crule) bool {
	if len(r.cidrs) > 0 && e.src.IsValid() && !inAny(r.cidrs, normalSource(e.src)) {
		return true
	}
	return !r.window.IsZero() && e.timeKnown && !r.window.Contains(e.minute)
}

// entry is a table key and its value.
type entry struct {
	key string
	val uint64
}

// table is an open-addressing hash table from strings to words, built once
// and read-only after: linear probing at load ≤ 1/2, each 32-byte slot
// holding the key's hash (compared before any key byte), the value and the
// key. Keys come from rules (written by administrators); lookups with any
// key cost the probe chains the rules built, so a client choosing names
// cannot lengthen them.
type table struct {
	slots []slot
	shift uint8
	n     int
}

type slot struct {
	h   uint64 // 0: empty slot
	val uint64
	key string
}

func newTable(es []entry) table {
	t := table{n: len(es)}
	if len(es) == 0 {
		return t
	}
	size := 2
	for size < 2*len(es) {
		size *= 2
	}
	t.slots = make([]slot, size)
	t.shift = uint8(64 - bits.TrailingZeros(uint(size)))
	mask := uint64(size - 1)
	for _, e := range es {
		h := hashString(e.key)
		i := h >> t.shift
		for t.slots[i].h != 0 {
			assert.That(t.slots[i].h != h || t.slots[i].key != e.key, "acl: key %q twice in one table", e.key)
			i = (i + 1) & mask
		}
		t.slots[i] = slot{h: h, val: e.val, key: e.key}
	}
	return t
}

func (t *table) get(h uint64, key string) (uint64, bool) {
	if len(t.slots) == 0 {
		return 0, false
	}
	mask := uint64(len(t.slots) - 1)
	for i := h >> t.shift; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.h == h && s.key == key {
			return s.val, true
		}
		if s.h == 0 {
			return 0, false
		}
	}
}

// hashString is a fixed-seed multiply-mix hash (wyhash's construction):
// 8 bytes per multiplication, never 0. It needs no randomness: tables hold
// only keys from rules, so a chosen lookup key cannot degrade them.
func hashString(s string) uint64 {
	const (
		p0 = 0xa0761d6478bd642f
		p1 = 0xe7037ed1a0b428db
		p2 = 0x8ebc6af09c88c6e3
	)
	n := len(s)
	seed := uint64(p0) ^ uint64(n)*p2
	var x, y uint64
	switch {
	case n == 0:
	case n < 4:
		x = uint64(s[0])<<16 | uint64(s[n>>1])<<8 | uint64(s[n-1])
	case n <= 8:
		x, y = uint64(load32(s, 0)), uint64(load32(s, n-4))
	case n <= 16:
		x, y = load64(s, 0), load64(s, n-8)
	default:
		for i := 0; n-i > 16; i += 16 {
			seed = mix(load64(s, i)^p1, load64(s, i+8)^seed)
		}
		x, y = load64(s, n-16), load64(s, n-8)
	}
	return mix(p1^uint64(n), mix(x^p1, y^seed)) | 1
}

func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func load32(s string, i int) uint32 {
	s = s[i : i+4]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}
