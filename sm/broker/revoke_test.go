package broker_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/weirmq/weir/sm"
)

// Goal: once metadata says a certificate is revoked, the broker reports
// the set for its transport and answers every client request that still
// comes with that certificate CERTIFICATE_REVOKED (never a silent drop),
// audited as an authentication failure; other certificates, and requests
// without one, are served as before.
func TestRevokedCertificateRefused(t *testing.T) {
	w := newWorld(t, 101)
	w.topic("events", 1, 101)
	w.run(300 * sm.Millisecond)
	tp := sm.TopicPartition{Topic: "events"}
	b := w.nodes[101]
	produceWith := func(serial string) sm.ProduceResponse {
		t.Helper()
		out := w.askWith(101, client, serial, produce(tp, sm.Acks{Kind: sm.AckLeader}, "v"))
		if len(out) == 0 {
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
	if r := produceWith("aa01"); r.Code != sm.CodeOK {
		t.Fatalf("produce before the revocation: %+v", r)
	}
	if b.host.Env.Revoked != nil {
		t.Fatalf("reported revoked %v before any revocation", b.host.Env.Revoked)
	}

	c := w.ctrl[ctrl1]
	c.revoked = []string{"aa01", "cc03"}
	c.version++
	w.run(2 * sm.Second) // a heartbeat or two
	if !slices.Equal(b.host.Env.Revoked, []string{"aa01", "cc03"}) {
		t.Fatalf("reported revoked %v, want [aa01 cc03]", b.host.Env.Revoked)
	}
	b.host.Env.Security = nil
	if r := produceWith("aa01"); r.Code != sm.CodeCertificateRevoked || !strings.Contains(r.Message, "certificate aa01 is revoked") {
		t.Fatalf("produce with the revoked certificate: %+v", r)
	}
	for _, m := range []sm.Message{sm.FetchRequest{ReqID: 3, TP: tp}, sm.ListOffsetsRequest{ReqID: 4, TP: tp}, sm.MetadataRequest{ReqID: 5}} {
		out := w.askWith(101, client, "cc03", m)
		if len(out) != 1 || out[0].To != client {
			t.Fatalf("%v with a revoked certificate: answers %+v", m.Kind(), out)
		}
		want, _ := sm.RefuseRevoked(m, "cc03", sm.NoNode)
		if !reflect.DeepEqual(out[0].Msg, want) {
			t.Errorf("%v with a revoked certificate: %+v, want %+v", m.Kind(), out[0].Msg, want)
		}
	}
	if n := b.host.Env.Probes[sm.ProbeRevokedCertRefused]; n != 4 {
		t.Errorf("%s reached %d times, want 4", sm.ProbeRevokedCertRefused, n)
	}
	if len(b.host.Env.Security) != 4 {
		t.Fatalf("security events %+v, want 4", b.host.Env.Security)
	}
	if e := b.host.Env.Security[0]; e.Kind != sm.SecurityRevokedRefused || e.Resource != "certificate:aa01" || e.Principal != "app" ||
		e.Operation != "ProduceRequest" || !strings.Contains(e.Message, "revoked") {
		t.Errorf("audit event %+v", e)
	}
	if r := produceWith("bb02"); r.Code != sm.CodeOK {
		t.Fatalf("produce with another certificate: %+v", r)
	}
	if r := produceWith(""); r.Code != sm.CodeOK {
		t.Fatalf("produce without a certificate serial: %+v", r)
	}
}
