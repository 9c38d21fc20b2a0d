package config

import (
	"github.com/weirmq/weir/net/pki"
	"github.com/weirmq/weir/sm/acl"
)

// Security is the [security] section of brokers and controllers: how a
// verified certificate becomes a principal, and how ACL rules are decided.
type Security struct {
	// AllowEveryoneIfNoACLFound opens a resource that no ACL rule covers at
	// all (Kafka's allow.everyone.if.no.acl.found). The default is true, so
	// a cluster without rules behaves as one without ACLs; set it false
	// once rules cover everything, and a forgotten topic is closed rather
	// than open.
	AllowEveryoneIfNoACLFound bool `toml:"allow_everyone_if_no_acl_found"`
	// SuperUsers are principals allowed everything, whatever the rules.
	SuperUsers []string `toml:"super_users"`
	// PrincipalMappingRules turn a verified peer certificate into its
	// principal; the first rule that yields one wins: "cn" (the default),
	// "san-email", "san-dns", "san-uri", "regex:<re>:<replacement>" over the
	// RFC 2253 subject, or Kafka's "RULE:<re>/<replacement>/[LU]".
	PrincipalMappingRules []string `toml:"principal_mapping_rules"`
}

// DefaultSecurity is the [security] defaults.
func DefaultSecurity() Security {
	return Security{AllowEveryoneIfNoACLFound: true, SuperUsers: []string{}, PrincipalMappingRules: []string{"cn"}}
}

// ACLOptions are the state machines' authorizer options.
func (s *Security) ACLOptions() acl.Options {
	return acl.Options{AllowIfNoRules: s.AllowEveryoneIfNoACLFound, SuperUsers: s.SuperUsers}
}

// PrincipalMapper parses the principal rules.
func (s *Security) PrincipalMapper() (pki.PrincipalMapper, error) {
	return pki.ParsePrincipalMapper(s.PrincipalMappingRules...)
}

func (s *Security) validate(p *Problems) {
	if _, err := s.PrincipalMapper(); err != nil {
		p.Add(true, "security.principal_mapping_rules", "%v", err)
	}
	if err := s.ACLOptions().Validate(); err != nil {
		p.Add(true, "security.super_users", "%v", err)
	}
}
