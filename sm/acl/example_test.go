package acl_test

import (
	"fmt"
	"net/netip"

	"github.com/weirmq/weir/sm/acl"
)

// The issue's example: app@example.com may write to topic.events.* only,
// from 10.0.0.0/8. The controller applies the command through raft; a
// broker compiles the state into an Authorizer and asks it per request.
func Example() {
	rule, err := acl.ParseRule("app@example.com", "topic.events.*", "write", "allow", "source_ip=10.0.0.0/8")
	if err != nil {
		panic(err)
	}
	var st acl.State
	res, err := st.Apply(acl.Command{Create: []acl.Rule{rule}})
	fmt.Println(res.Created, res.Version, err)

	a, _ := acl.Compile(&st, acl.Options{AllowIfNoRules: true, SuperUsers: []string{"admin"}})
	ask := func(principal, resource string, op acl.Operation, src string) {
		r, _ := acl.ParseResource(resource)
		d := a.Authorize(acl.Request{Principal: principal, Resource: r, Operation: op,
			Source: netip.MustParseAddr(src), Time: acl.MinuteUTC(14 * 60)})
		fmt.Printf("%s %s %s from %s: allowed=%v rule=%d reason=%s\n", principal, op, resource, src, d.Allowed, d.RuleID, d.Reason)
	}
	ask("app@example.com", "topic:events.a", acl.OpWrite, "10.1.2.3")
	ask("app@example.com", "topic:events.a", acl.OpDescribe, "10.1.2.3")
	ask("app@example.com", "topic:events.a", acl.OpWrite, "192.0.2.1")
	ask("app@example.com", "topic:events.a", acl.OpRead, "10.1.2.3")
	ask("app@example.com", "topic:orders", acl.OpWrite, "10.1.2.3")
	ask("admin", "cluster", acl.OpAdmin, "192.0.2.1")

	// The snapshot goes into the controller's raft snapshot and to brokers.
	back, err := acl.Restore(st.Snapshot())
	fmt.Println(back.Version(), back.Len(), err)
	// Output:
	// [1] 1 <nil>
	// app@example.com write topic:events.a from 10.1.2.3: allowed=true rule=1 reason=allowed_by_rule
	// app@example.com describe topic:events.a from 10.1.2.3: allowed=true rule=1 reason=allowed_by_rule
	// app@example.com write topic:events.a from 192.0.2.1: allowed=false rule=0 reason=no_matching_allow
	// app@example.com read topic:events.a from 10.1.2.3: allowed=false rule=0 reason=no_matching_allow
	// app@example.com write topic:orders from 10.1.2.3: allowed=true rule=0 reason=no_acl_found_allow_everyone
	// admin admin cluster from 192.0.2.1: allowed=true rule=0 reason=super_user
	// 1 1 <nil>
}
