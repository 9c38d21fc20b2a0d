package acl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/weirmq/weir/sm/assert"
)

// RulesMax bounds the rule set. A command that would leave more rules is
// refused whole.
const RulesMax = 200_000

// ErrTooManyRules is wrapped by the error of a command that would exceed RulesMax.
var ErrTooManyRules = errors.New("acl: too many rules")

// ErrNoSuchRule is wrapped by the error of a delete naming an unknown rule.
var ErrNoSuchRule = errors.New("acl: no such rule")

// State is the replicated ACL rule set. Every replica that applies the same
// commands in the same order holds the same rules, IDs and Version, and
// encodes to the same snapshot bytes. It is not safe for concurrent use; an
// Authorizer compiled from it is.
//
// The zero value is an empty state at version 0, ready to use.
type State struct {
	rules   []Rule // sorted by ID, ascending
	version uint64 // successful changes so far
	nextID  RuleID // the ID the next created rule gets, minus one
}

// Version counts the changes applied: it grows by one with every command
// that changed the rule set and never otherwise. An Authorizer remembers
// the version it was compiled from.
func (s *State) Version() uint64 { return s.version }

// Len is the number of rules.
func (s *State) Len() int { return len(s.rules) }

// Rules returns a copy of every rule in ID order.
func (s *State) Rules() []Rule {
	out := make([]Rule, len(s.rules))
	for i, r := range s.rules {
		out[i] = r.clone()
	}
	return out
}

// Clone returns an independent copy (the simulator's checker keeps the
// state of every version it needs to judge requests against).
func (s *State) Clone() *State {
	c := &State{version: s.version, nextID: s.nextID}
	if len(s.rules) > 0 {
		c.rules = s.Rules()
	}
	return c
}

// Rule returns the rule with the given ID.
func (s *State) Rule(id RuleID) (Rule, bool) {
	i, ok := s.find(id)
	if !ok {
		return Rule{}, false
	}
	return s.rules[i].clone(), true
}

func (s *State) find(id RuleID) (int, bool) {
	return slices.BinarySearchFunc(s.rules, id, func(r Rule, id RuleID) int {
		switch {
		case r.ID < id:
			return -1
		case r.ID > id:
			return 1
		}
		return 0
	})
}

// Find returns a copy of the rules f matches, in ID order (acl list).
func (s *State) Find(f Filter) []Rule {
	var out []Rule
	for i := range s.rules {
		if f.Matches(&s.rules[i]) {
			out = append(out, s.rules[i].clone())
		}
	}
	return out
}

// RulesForPrincipal returns a copy of the rules whose principal pattern
// matches principal, in ID order (acl permissions).
func (s *State) RulesForPrincipal(principal string) []Rule {
	var out []Rule
	for i := range s.rules {
		if s.rules[i].Principal.Matches(principal) {
			out = append(out, s.rules[i].clone())
		}
	}
	return out
}

// Filter selects rules by the exact value of their fields; a zero field
// selects any. It is the shape of acl list and delete-by-filter, like
// Kafka's AclBindingFilter: Principal "*" selects rules whose principal
// pattern is "*", not every rule.
type Filter struct {
	Principal    Pattern      `json:"principal,omitzero"`     // rule's principal pattern equals this
	ResourceType ResourceType `json:"resource_type,omitzero"` // rule's resource type equals this
	ResourceName Pattern      `json:"resource_name,omitzero"` // rule's resource name pattern equals this
	Operation    Operation    `json:"operation,omitzero"`     // rule lists this operation or all
	Effect       Effect       `json:"effect,omitzero"`
}

// IsZero reports whether f selects every rule.
func (f Filter) IsZero() bool { return f == Filter{} }

// Validate refuses fields that are set but invalid.
func (f Filter) Validate() error {
	if f.Principal != (Pattern{}) {
		if err := f.Principal.Validate(); err != nil {
			return fmt.Errorf("filter principal %q: %w", f.Principal.Value, err)
		}
	}
	if f.ResourceType != 0 && !f.ResourceType.valid() {
		return fmt.Errorf("filter resource type: unknown resource type %d", uint8(f.ResourceType))
	}
	if f.ResourceName != (Pattern{}) {
		if err := f.ResourceName.Validate(); err != nil {
			return fmt.Errorf("filter resource name %q: %w", f.ResourceName.Value, err)
		}
	}
	if f.Operation != 0 && !f.Operation.valid() {
		return fmt.Errorf("filter operation: unknown operation %d", uint8(f.Operation))
	}
	if f.Effect != 0 && f.Effect != Allow && f.Effect != Deny {
		return fmt.Errorf("filter effect: unknown effect %d", uint8(f.Effect))
	}
	return nil
}

// Matches reports whether f selects r.
func (f Filter) Matches(r *Rule) bool {
	return (f.Principal == Pattern{} || f.Principal == r.Principal) &&
		(f.ResourceType == 0 || f.ResourceType == r.Resource.Type) &&
		(f.ResourceName == Pattern{} || f.ResourceName == r.Resource.Name) &&
		(f.Operation == 0 || r.Operations.Has(f.Operation) || r.Operations.Has(OpAll)) &&
		(f.Effect == 0 || f.Effect == r.Effect)
}

// Command is one change to the rule set, as carried in a controller raft
// entry (JSON). Exactly one field is set.
type Command struct {
	// Create adds rules; their IDs must be 0 and are assigned in order.
	Create []Rule `json:"create,omitempty"`
	// Delete removes the rules with these IDs; an unknown ID refuses the
	// whole command.
	Delete []RuleID `json:"delete,omitempty"`
	// DeleteMatching removes every rule the filter selects (possibly none).
	// A zero filter is refused: Replace with no rules deletes everything.
	DeleteMatching *Filter `json:"delete_matching,omitempty"`
	// Replace, when not nil, replaces the whole set with these rules (new
	// IDs, as for Create). An empty list deletes every rule (and, on an
	// empty set, changes nothing).
	Replace *[]Rule `json:"replace,omitempty"`
}

// Result is what an applied command did.
type Result struct {
	Version uint64   `json:"version"`           // the state's version after the command
	Created []RuleID `json:"created,omitempty"` // IDs given to created rules, in command order
	Deleted []RuleID `json:"deleted,omitempty"` // IDs removed, ascending
}

func (c *Command) fields() int {
	n := 0
	for _, set := range []bool{c.Create != nil, c.Delete != nil, c.DeleteMatching != nil, c.Replace != nil} {
		if set {
			n++
		}
	}
	return n
}

// Apply applies one command. A command that is malformed or would break a
// limit returns an error naming what is wrong and changes nothing; a
// command that changes nothing (a filter matching no rule) succeeds without
// a new version. The error is deterministic, so every replica refuses the
// same commands.
func (s *State) Apply(c Command) (Result, error) {
	if err := s.Check(c); err != nil {
		return Result{}, err
	}
	switch {
	case c.Create != nil:
		return s.create(c.Create), nil
	case c.Delete != nil:
		gone := make(map[RuleID]bool, len(c.Delete))
		for _, id := range c.Delete {
			gone[id] = true
		}
		return s.remove(func(r *Rule) bool { return gone[r.ID] }), nil
	case c.DeleteMatching != nil:
		return s.remove(c.DeleteMatching.Matches), nil
	default:
		return s.replace(*c.Replace), nil
	}
}

// Check returns the error Apply would return for c now, changing nothing:
// a controller leader can refuse a bad request before proposing it (Apply
// checks again, as the state may change before the entry commits).
func (s *State) Check(c Command) error {
	if n := c.fields(); n != 1 {
		return fmt.Errorf("acl: command sets %d operations (want exactly one of create, delete, delete_matching, replace)", n)
	}
	switch {
	case c.Create != nil:
		if len(c.Create) == 0 {
			return errors.New("acl: create with no rules")
		}
		if err := checkNew(c.Create); err != nil {
			return err
		}
		if total := len(s.rules) + len(c.Create); total > RulesMax {
			return fmt.Errorf("%w: %d rules plus %d new would be %d, over the limit of %d", ErrTooManyRules, len(s.rules), len(c.Create), total, RulesMax)
		}
	case c.Delete != nil:
		if len(c.Delete) == 0 {
			return errors.New("acl: delete with no rule IDs")
		}
		for _, id := range c.Delete {
			if _, ok := s.find(id); !ok {
				return fmt.Errorf("%w: rule %d (nothing deleted)", ErrNoSuchRule, id)
			}
		}
	case c.DeleteMatching != nil:
		if c.DeleteMatching.IsZero() {
			return errors.New("acl: delete filter is empty and would match every rule; replace with no rules to delete all")
		}
		if err := c.DeleteMatching.Validate(); err != nil {
			return fmt.Errorf("acl: %w", err)
		}
	default:
		if err := checkNew(*c.Replace); err != nil {
			return err
		}
		if len(*c.Replace) > RulesMax {
			return fmt.Errorf("%w: replacing with %d rules, over the limit of %d", ErrTooManyRules, len(*c.Replace), RulesMax)
		}
	}
	return nil
}

// Create is Apply(Command{Create: rules}).
func (s *State) Create(rules ...Rule) (Result, error) {
	if rules == nil {
		rules = []Rule{}
	}
	return s.Apply(Command{Create: rules})
}

// Delete is Apply(Command{Delete: ids}).
func (s *State) Delete(ids ...RuleID) (Result, error) {
	if ids == nil {
		ids = []RuleID{}
	}
	return s.Apply(Command{Delete: ids})
}

// checkNew validates rules about to be created.
func checkNew(rules []Rule) error {
	for i := range rules {
		r := &rules[i]
		if r.ID != 0 {
			return fmt.Errorf("acl: rule %d of %d: id %d given; the state assigns IDs (send 0)", i+1, len(rules), r.ID)
		}
		if err := r.Validate(); err != nil {
			return fmt.Errorf("acl: rule %d of %d: %w", i+1, len(rules), err)
		}
	}
	return nil
}

// create appends checked rules with the next IDs.
func (s *State) create(rules []Rule) Result {
	res := Result{Created: s.appendNew(rules)}
	s.version++
	res.Version = s.version
	return res
}

func (s *State) appendNew(rules []Rule) []RuleID {
	ids := make([]RuleID, len(rules))
	for i, r := range rules {
		s.nextID++
		r = r.clone()
		r.ID = s.nextID
		s.rules = append(s.rules, r)
		ids[i] = r.ID
	}
	return ids
}

// remove deletes the rules match selects; the version grows only if one was.
func (s *State) remove(match func(*Rule) bool) Result {
	var res Result
	kept := s.rules[:0]
	for i := range s.rules {
		if match(&s.rules[i]) {
			res.Deleted = append(res.Deleted, s.rules[i].ID)
			continue
		}
		kept = append(kept, s.rules[i])
	}
	clear(s.rules[len(kept):])
	s.rules = kept
	if len(res.Deleted) > 0 {
		s.version++
	}
	res.Version = s.version
	return res
}

// replace swaps in checked rules with new IDs.
func (s *State) replace(rules []Rule) Result {
	if len(rules) == 0 && len(s.rules) == 0 {
		return Result{Version: s.version} // nothing to replace: no new version
	}
	var res Result
	for _, r := range s.rules {
		res.Deleted = append(res.Deleted, r.ID)
	}
	s.rules = nil
	if len(rules) > 0 {
		res.Created = s.appendNew(rules)
	}
	s.version++
	res.Version = s.version
	return res
}

// CheckInvariants reports a broken invariant: IDs strictly ascending and
// at most the last assigned, the count within RulesMax, every rule valid.
func (s *State) CheckInvariants() error {
	if len(s.rules) > RulesMax {
		return fmt.Errorf("acl: %d rules, over the limit of %d", len(s.rules), RulesMax)
	}
	var prev RuleID
	for i := range s.rules {
		r := &s.rules[i]
		if r.ID <= prev {
			return fmt.Errorf("acl: rule id %d after %d (ids must ascend)", r.ID, prev)
		}
		if r.ID > s.nextID {
			return fmt.Errorf("acl: rule id %d beyond the last assigned %d", r.ID, s.nextID)
		}
		if err := r.Validate(); err != nil {
			return fmt.Errorf("acl: rule %d: %w", r.ID, err)
		}
		prev = r.ID
	}
	if s.version == 0 && (len(s.rules) > 0 || s.nextID > 0) {
		return fmt.Errorf("acl: version 0 with %d rules and last id %d", len(s.rules), s.nextID)
	}
	return nil
}

// The snapshot (for the controller's raft snapshot and the metadata delta
// to brokers) is one format byte, then JSON of snapshotBody with the rules
// in ID order: equal states encode to equal bytes. A reader refuses a
// format it does not know, unknown fields, trailing data and any state
// that breaks CheckInvariants.
const snapshotFormat = 1

type snapshotBody struct {
	Version uint64 `json:"version"`
	LastID  RuleID `json:"last_id"`
	Rules   []Rule `json:"rules"`
}

// Snapshot encodes the state (see the layout above).
func (s *State) Snapshot() []byte {
	body := snapshotBody{Version: s.version, LastID: s.nextID, Rules: s.rules}
	if body.Rules == nil {
		body.Rules = []Rule{}
	}
	out := bytes.NewBuffer([]byte{snapshotFormat})
	err := json.NewEncoder(out).Encode(&body)
	assert.That(err == nil, "acl: encode snapshot at version %d: %v", s.version, err)
	return out.Bytes()
}

// Restore decodes a snapshot written by Snapshot. The bytes come from disk
// or a peer: anything malformed is an error, never a panic.
func Restore(data []byte) (*State, error) {
	if len(data) == 0 {
		return nil, errors.New("acl: snapshot is empty")
	}
	if data[0] != snapshotFormat {
		return nil, fmt.Errorf("acl: unknown snapshot format %d (this build reads %d)", data[0], snapshotFormat)
	}
	var body snapshotBody
	dec := json.NewDecoder(bytes.NewReader(data[1:]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return nil, fmt.Errorf("acl: snapshot: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("acl: snapshot: data after the body")
	}
	s := &State{rules: body.Rules, version: body.Version, nextID: body.LastID}
	if len(s.rules) == 0 {
		s.rules = nil
	}
	if err := s.CheckInvariants(); err != nil {
		return nil, fmt.Errorf("acl: snapshot: %w", err)
	}
	return s, nil
}
