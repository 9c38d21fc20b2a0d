package sm

import "testing"

// The ranges meet without gaps, every ID has exactly one role, and String
// and ParseNodeID invert each other at every range edge.
func TestNodeIDRoles(t *testing.T) {
	cases := []struct {
		id   NodeID
		role Role
		name string
	}{
		{NoNode, RoleNone, "none"},
		{1, RoleController, "c1"},
		{99, RoleController, "c99"},
		{100, RoleBroker, "b100"},
		{101, RoleBroker, "b101"},
		{999_999, RoleBroker, "b999999"},
		{1_000_000, RoleClient, "cl1000000"},
		{1_000_001, RoleClient, "cl1000001"},
		{AdminClientIDMin - 1, RoleClient, "cl4611686018427387903"},
		{AdminClientIDMin, RoleAdmin, "adm0"},
		{AdminClientIDMin + 7, RoleAdmin, "adm7"},
		{^NodeID(0), RoleAdmin, "adm13835058055282163711"},
	}
	for _, c := range cases {
		if got := c.id.Role(); got != c.role {
			t.Errorf("%d: role %v, want %v", uint64(c.id), got, c.role)
		}
		if got := c.id.String(); got != c.name {
			t.Errorf("%d: String %q, want %q", uint64(c.id), got, c.name)
		}
		back, err := ParseNodeID(c.name)
		if err != nil || back != c.id {
			t.Errorf("ParseNodeID(%q) = %d, %v; want %d", c.name, uint64(back), err, uint64(c.id))
		}
		lo, hi := c.role.IDRange()
		if c.role != RoleNone && (c.id < lo || c.id > hi) {
			t.Errorf("%v outside its role's range %d..%d", c.id, uint64(lo), uint64(hi))
		}
		checks := map[Role]bool{RoleController: c.id.IsController(), RoleBroker: c.id.IsBroker(), RoleClient: c.id.IsClient(), RoleAdmin: c.id.IsAdmin()}
		for r, is := range checks {
			if is != (r == c.role) {
				t.Errorf("%v: Is%v is %v", c.id, r, is)
			}
		}
		if c.id.IsServer() != (c.role == RoleController || c.role == RoleBroker) {
			t.Errorf("%v: IsServer is %v", c.id, c.id.IsServer())
		}
	}
	for _, r := range []Role{RoleController, RoleBroker, RoleClient} {
		_, hi := r.IDRange()
		next, _ := (r + 1).IDRange()
		if hi+1 != next {
			t.Errorf("%v ends at %d but %v starts at %d", r, uint64(hi), r+1, uint64(next))
		}
	}
}

func TestParseNodeIDRefuses(t *testing.T) {
	for _, s := range []string{"", "c", "c0", "c100", "b99", "b1000000", "cl999999", "cl4611686018427387904",
		"adm13835058055282163712", "c01", "b+101", "x9", "cl", "adm", "b101x", "101"} {
		if id, err := ParseNodeID(s); err == nil {
			t.Errorf("ParseNodeID(%q) = %v, want an error", s, id)
		}
	}
}
