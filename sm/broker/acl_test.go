package broker_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/acl"
)

// setACL makes the fake controller send rules from now on.
func (w *world) setACL(t *testing.T, cmds ...acl.Command) {
	t.Helper()
	st := &acl.State{}
	for _, c := range cmds {
		if _, err := st.Apply(c); err != nil {
			t.Fatal(err)
		}
	}
	c := w.ctrl[ctrl1]
	c.acl = st.Snapshot()
	c.version++
}

func rule(t *testing.T, principal, resource, ops, effect string) acl.Rule {
	t.Helper()
	r, err := acl.ParseRule(principal, resource, ops, effect, "")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Goal: a broker decides client requests by the rules metadata carries,
// with the principal the transport authenticated: refusals are
// TOPIC_AUTHORIZATION_FAILED answers naming who, what and why; metadata
// lists only what the principal may describe, never the rules; a rule
// change reaches the broker with the next delta.
func TestACLEnforced(t *testing.T) {
	w := newWorld(t, 101)
	w.topic("events.a", 1, 101)
	w.topic("orders", 1, 101)
	w.run(300 * sm.Millisecond)
	events, orders := sm.TopicPartition{Topic: "events.a"}, sm.TopicPartition{Topic: "orders"}
	w.setACL(t, acl.Command{Create: []acl.Rule{
		rule(t, "app@example.com", "topic:events.*", "write", "allow"),
		rule(t, "*", "topic:orders", "write", "deny"),
	}})
	w.run(2 * sm.Second) // a heartbeat or two
	b := w.nodes[101].n
	if b.ACLVersion() != 1 {
		t.Fatalf("broker enforces ACL version %d, want 1", b.ACLVersion())
	}
	produceAs := func(who string, tp sm.TopicPartition) sm.ProduceResponse {
		t.Helper()
		out := w.askAs(101, client, who, produce(tp, sm.Acks{Kind: sm.AckLeader}, "v"))
		if len(out) != 1 {
			w.completeDisk(101)
			out = append(out, w.net.Queue...)
			w.net.Queue = nil
		}
		for _, e := range out {
			if r, ok := e.Msg.(sm.ProduceResponse); ok {
				return r
			}
		}
		t.Fatalf("no produce answer: %+v", out)
		return sm.ProduceResponse{}
	}
	if r := produceAs("app@example.com", orders); r.Code != sm.CodeTopicAuthorizationFailed ||
		!strings.Contains(r.Message, `principal "app@example.com" may not write topic "orders" (denied_by_rule, rule 2)`) {
		t.Fatalf("app produce to orders: %+v", r)
	}
	if r := produceAs("bob", events); r.Code != sm.CodeTopicAuthorizationFailed || !strings.Contains(r.Message, "no_matching_allow") {
		t.Fatalf("bob produce to events.a: %+v", r)
	}
	out := w.askAs(101, client, "app@example.com", sm.FetchRequest{ReqID: 3, TP: orders})
	if len(out) != 1 || out[0].Msg.(sm.FetchResponse).Code != sm.CodeTopicAuthorizationFailed {
		t.Fatalf("app fetch of orders (no read rule, the topic covered): %+v", out)
	}
	// Metadata: app sees events.a (write implies describe), not orders;
	// bob sees nothing; nobody sees the rules.
	for who, want := range map[string][]string{"app@example.com": {"events.a"}, "bob": nil} {
		out := w.askAs(101, client, who, sm.MetadataRequest{ReqID: 4})
		d := out[0].Msg.(sm.MetadataResponse).Delta
		var names []string
		for _, t := range d.Topics {
			names = append(names, t.Name)
		}
		if !slices.Equal(names, want) || d.ACL != nil {
			t.Errorf("%s's metadata: topics %v, rules %d bytes; want %v and none", who, names, len(d.ACL), want)
		}
		for _, p := range d.Partitions {
			if !slices.Contains(want, p.TP.Topic) {
				t.Errorf("%s's metadata lists partition %v", who, p.TP)
			}
		}
	}
	// Every rule removed: no rule covers anything, and the default
	// (allow_everyone_if_no_acl_found) opens it all again.
	w.setACL(t)
	w.run(2 * sm.Second)
	if r := produceAs("app@example.com", orders); r.Code != sm.CodeOK {
		t.Fatalf("after the rules were removed: %+v", r)
	}
}
