package controller

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/acl"
)

func mustRule(t *testing.T, principal, resource, ops, effect string) acl.Rule {
	t.Helper()
	r, err := acl.ParseRule(principal, resource, ops, effect, "")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Goal: ACL changes go through raft: the leader answers with what the
// command did, every controller applies it, brokers get the rule set in
// their deltas; a command that does not validate changes nothing, and a
// follower refuses with the leader's hint. The rules survive a snapshot.
func TestACLsThroughRaft(t *testing.T) {
	h := newHarness(t, 7, 3)
	l := h.waitLeader()
	h.registerBrokers(threeRacks)
	create := sm.ACLRequest{ReqID: 1, Command: acl.Command{Create: []acl.Rule{
		mustRule(t, "app@example.com", "topic:events.*", "write", "allow"),
		mustRule(t, "*", "topic:orders", "read", "deny"),
	}}}
	r := h.requestOne(client, l, create).(sm.ACLResponse)
	if r.Code != sm.CodeOK || r.ReqID != 1 || r.Result.Version != 1 || len(r.Result.Created) != 2 {
		t.Fatalf("create: %+v", r)
	}
	md := h.converge()
	st, err := acl.Restore(md.ACL)
	if err != nil || st.Len() != 2 {
		t.Fatalf("the metadata's rule set: %v, %v", st, err)
	}
	for _, id := range h.ids {
		if got := h.nodes[id].ACLs(); got.Len() != 2 || got.Version() != 1 {
			t.Errorf("%v holds %d rules at version %d", id, got.Len(), got.Version())
		}
	}
	h.advance(sm.Second)
	for _, id := range []sm.NodeID{101, 102, 103} {
		if snap, _ := h.brokers[id].view.ACL(); string(snap) != string(md.ACL) {
			t.Errorf("broker %v holds rule set %q", id, snap)
		}
	}

	bad := sm.ACLRequest{ReqID: 2, Command: acl.Command{Delete: []acl.RuleID{99}}}
	if r := h.requestOne(client, l, bad).(sm.ACLResponse); r.Code != sm.CodeInvalidRequest || !strings.Contains(r.Message, "99") {
		t.Fatalf("delete of an unknown rule: %+v", r)
	}
	f := h.followers()[0]
	if r := h.requestOne(client, f, create).(sm.ACLResponse); r.Code != sm.CodeNotLeader || r.LeaderHint != l {
		t.Fatalf("on a follower: %+v", r)
	}
	restored, err := decodeSnapshot(encodeSnapshot(h.nodes[l].md))
	if err != nil {
		t.Fatal(err)
	}
	if err := sameMetadata(restored, h.nodes[l].md); err != nil {
		t.Fatal(err)
	}
	if restored.acls.Len() != 2 || restored.aclVersion != h.nodes[l].md.aclVersion {
		t.Fatalf("restored %d rules, acl version %d", restored.acls.Len(), restored.aclVersion)
	}
}

// Goal: the certificate registry goes through raft: a registered
// certificate can be revoked (a second revocation changes nothing), an
// unknown serial can be revoked too, the revoked serials reach brokers in
// their deltas, bad changes are refused, and the registry survives a
// snapshot.
func TestCertificateRegistry(t *testing.T) {
	h := newHarness(t, 9, 3)
	l := h.waitLeader()
	h.registerBrokers(threeRacks)
	ask := func(req sm.CertRequest) sm.CertResponse {
		t.Helper()
		return h.requestOne(client, l, req).(sm.CertResponse)
	}
	if r := ask(sm.CertRequest{ReqID: 1, Register: &sm.CertRecord{Serial: "aa01", Principal: "app@example.com", Role: "client"}}); r.Code != sm.CodeOK || r.Record.Revoked {
		t.Fatalf("register: %+v", r)
	}
	if r := ask(sm.CertRequest{ReqID: 2, Register: &sm.CertRecord{Serial: "aa01"}}); r.Code != sm.CodeInvalidRequest || !strings.Contains(r.Message, "registered already") {
		t.Fatalf("register twice: %+v", r)
	}
	if r := ask(sm.CertRequest{ReqID: 3, Revoke: &sm.CertRecord{Serial: "aa01"}}); r.Code != sm.CodeInvalidRequest || !strings.Contains(r.Message, "reason") {
		t.Fatalf("revoke without a reason: %+v", r)
	}
	for i, serial := range []string{"aa01", "aa01", "bb02"} {
		r := ask(sm.CertRequest{ReqID: uint64(4 + i), Revoke: &sm.CertRecord{Serial: serial, Reason: "keyCompromise", RevokedAtMs: 7}})
		if r.Code != sm.CodeOK || !r.Record.Revoked || r.Record.Reason != "keyCompromise" {
			t.Fatalf("revoke %s: %+v", serial, r)
		}
	}
	md := h.converge()
	if !slices.Equal(md.Revoked, []string{"aa01", "bb02"}) {
		t.Fatalf("revoked in metadata: %v", md.Revoked)
	}
	h.advance(sm.Second)
	for _, id := range []sm.NodeID{101, 102, 103} {
		if got, _ := h.brokers[id].view.Revoked(); !slices.Equal(got, md.Revoked) {
			t.Errorf("broker %v holds revoked %v", id, got)
		}
	}
	// Any controller lists the registry from its applied state, sorted by
	// serial, with the version of the last revocation.
	for id := range h.nodes {
		r := h.requestOne(client, id, sm.CertRequest{ReqID: 20, List: true}).(sm.CertResponse)
		want := []sm.CertRecord{
			{Serial: "aa01", Principal: "app@example.com", Role: "client", Revoked: true, Reason: "keyCompromise", RevokedAtMs: 7},
			{Serial: "bb02", Revoked: true, Reason: "keyCompromise", RevokedAtMs: 7},
		}
		if r.Code != sm.CodeOK || !slices.Equal(r.Records, want) || r.RevokedVersion == 0 || r.RevokedVersion > md.ToVersion {
			t.Fatalf("list on %v: %+v, want %+v at a revocation version in 1..%d", id, r, want, md.ToVersion)
		}
	}
	if r := ask(sm.CertRequest{ReqID: 21, List: true, Register: &sm.CertRecord{Serial: "cc03"}}); r.Code != sm.CodeInvalidRequest || r.Records != nil {
		t.Fatalf("list and register at once: %+v", r)
	}
	restored, err := decodeSnapshot(encodeSnapshot(h.nodes[l].md))
	if err != nil {
		t.Fatal(err)
	}
	if err := sameMetadata(restored, h.nodes[l].md); err != nil {
		t.Fatal(err)
	}
}

// Goal: a controller refuses every client request that comes with a
// certificate its applied registry holds revoked — the leader and the
// followers alike, whatever the request — with CERTIFICATE_REVOKED and an
// audit event, and still serves other certificates and requests without
// one; it reports the revoked set for its transport.
func TestRevokedCertificateRefusedByControllers(t *testing.T) {
	h := newHarness(t, 11, 3)
	l := h.waitLeader()
	h.registerBrokers(threeRacks)
	if r := h.requestOne(client, l, sm.CertRequest{ReqID: 1, Revoke: &sm.CertRecord{Serial: "aa01", Reason: "keyCompromise"}}).(sm.CertResponse); r.Code != sm.CodeOK {
		t.Fatalf("revoke: %+v", r)
	}
	h.converge()
	askWith := func(id sm.NodeID, serial string, m sm.Message) []sm.Envelope {
		t.Helper()
		n := h.net.Len()
		h.step(id, sm.Received{From: client, Msg: m, Principal: "app", Serial: serial})
		out := slices.Clone(h.net.Queue[n:])
		h.net.Queue = h.net.Queue[:n]
		return out
	}
	for _, id := range h.ids {
		if got := h.hosts[id].Env.Revoked; !slices.Equal(got, []string{"aa01"}) {
			t.Errorf("%v reported revoked %v", id, got)
		}
		h.hosts[id].Env.Security = nil
		for _, m := range []sm.Message{sm.MetadataRequest{ReqID: 2}, sm.CreateTopicRequest{ReqID: 3, Name: "x", Partitions: 1, ReplicationFactor: 1},
			sm.ClusterStatusRequest{ReqID: 4}, sm.CertRequest{ReqID: 5, Revoke: &sm.CertRecord{Serial: "bb02", Reason: "keyCompromise"}}} {
			out := askWith(id, "aa01", m)
			if len(out) != 1 || out[0].To != client {
				t.Fatalf("%v: %v with a revoked certificate: %+v", id, m.Kind(), out)
			}
			if c := reflect.ValueOf(out[0].Msg).FieldByName("Code").Uint(); sm.Code(c) != sm.CodeCertificateRevoked {
				t.Errorf("%v: %v with a revoked certificate: %+v", id, m.Kind(), out[0].Msg)
			}
		}
		if sec := h.hosts[id].Env.Security; len(sec) != 4 || sec[0].Kind != sm.SecurityRevokedRefused || sec[0].Resource != "certificate:aa01" {
			t.Errorf("%v: security events %+v", id, sec)
		}
		if h.hosts[id].Env.Probes[sm.ProbeRevokedCertRefused] != 4 {
			t.Errorf("%v: probe reached %d times", id, h.hosts[id].Env.Probes[sm.ProbeRevokedCertRefused])
		}
		for _, serial := range []string{"bb02", ""} {
			out := askWith(id, serial, sm.MetadataRequest{ReqID: 6})
			if len(out) != 1 || out[0].Msg.(sm.MetadataResponse).Code != sm.CodeOK {
				t.Errorf("%v: metadata with certificate %q: %+v", id, serial, out)
			}
		}
	}
}
