package transport

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirmq/weir/net/pki"
	"github.com/weirmq/weir/net/tlsutil"
	"github.com/weirmq/weir/sm"
)

// disconnects records a transport's Disconnected calls.
type disconnects struct {
	ch chan disconnect
}

type disconnect struct {
	peer      Peer
	why       *CloseError
	remaining int
}

func newDisconnects() *disconnects { return &disconnects{ch: make(chan disconnect, 16)} }

func (d *disconnects) hook(peer Peer, why *CloseError, remaining int) {
	d.ch <- disconnect{peer, why, remaining}
}

func (d *disconnects) next(t testing.TB) disconnect {
	t.Helper()
	select {
	case ev := <-d.ch:
		return ev
	case <-time.After(wait):
		t.Fatal("no Disconnected call")
		return disconnect{}
	}
}

// revocationList is a settable Config.Revoked.
type revocationList struct {
	mu  sync.Mutex
	set map[string]bool
}

func (r *revocationList) revoked(serial string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.set[serial]
}

func (r *revocationList) revoke(serial string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.set == nil {
		r.set = map[string]bool{}
	}
	r.set[serial] = true
}

func certSerial(t testing.TB, name string) string {
	t.Helper()
	tc, err := tlsutil.LoadClientConfig(tlsutil.PathsFor(certDir, name))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ownCert(tc)
	if err != nil {
		t.Fatal(err)
	}
	return pki.SerialString(leaf.SerialNumber)
}

// The defect: when a broker closed a client's connection (its certificate
// revoked), nothing on the client's side heard of it, so a request waiting
// for its reply only failed at its timeout. Disconnected now reports at
// once who closed the connection, with the code and the reason; and the
// revoked certificate's next Connect fails naming the refusal.
func TestDisconnectedReportsRevocation(t *testing.T) {
	b := newBook()
	revs := &revocationList{}
	bcfg, binbox := nodeConfig(t, 101, "broker-101", true, b)
	bcfg.Revoked = revs.revoked
	broker := start(t, bcfg, binbox, b)
	addr, _ := b.lookup(101)

	ccfg, cinbox := nodeConfig(t, 1_000_001, "client-a", false, b)
	seen := newDisconnects()
	ccfg.Disconnected = seen.hook
	client := start(t, ccfg, cinbox, b)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if id, err := client.Connect(ctx, addr); err != nil || id != 101 {
		t.Fatalf("Connect = %v, %v", id, err)
	}
	client.Send([]sm.Envelope{{To: 101, Msg: sm.MetadataRequest{ReqID: 1}}})
	broker.expect(t, 1_000_001, sm.MetadataRequest{ReqID: 1})

	serial := certSerial(t, "client-a")
	revs.revoke(serial)
	if n := broker.CloseRevoked(); n != 1 {
		t.Fatalf("CloseRevoked = %d, want 1", n)
	}
	ev := seen.next(t)
	why := ev.why
	if ev.peer.ID != 101 || ev.remaining != 0 || !why.Remote || !why.Application || why.Code != CodeRevoked || !why.Revoked() || why.Handshake {
		t.Fatalf("Disconnected(%+v, %+v, %d), want broker 101 closing with CodeRevoked", ev.peer, why, ev.remaining)
	}
	want := "connection closed by broker 101 at " + addr + `: certificate ` + serial + ` ("client-a") revoked (code 7, revoked)`
	if why.Error() != want {
		t.Fatalf("error %q, want %q", why.Error(), want)
	}
	if client.Stats().Conns != 0 {
		t.Fatalf("client still has %d connections", client.Stats().Conns)
	}

	// Reconnecting is refused, and the error says so.
	_, err := client.Connect(ctx, addr)
	var ce *CloseError
	if !errors.As(err, &ce) || !ce.Handshake || !ce.Revoked() || ce.Peer != 101 {
		t.Fatalf("reconnect: %v, want a *CloseError refusing a revoked certificate", err)
	}
	for _, part := range []string{"connection refused by broker 101", "transport: certificate " + serial + ` ("client-a") is revoked`, "(code 7, revoked)"} {
		if !strings.Contains(err.Error(), part) {
			t.Fatalf("reconnect: %q, want it to contain %q", err, part)
		}
	}
}

// A broker shutting down finishes its streams: its clients hear that it
// closed, not that they did.
func TestDisconnectedReportsShutdown(t *testing.T) {
	b := newBook()
	broker := newNode(t, 101, "broker-101", true, b)
	addr, _ := b.lookup(101)
	ccfg, cinbox := nodeConfig(t, 1_000_001, "client-a", false, b)
	seen := newDisconnects()
	ccfg.Disconnected = seen.hook
	client := start(t, ccfg, cinbox, b)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := client.Connect(ctx, addr); err != nil {
		t.Fatal(err)
	}
	broker.Close()
	why := seen.next(t).why
	if !why.Remote || why.Code != CodeClosed || why.Revoked() {
		t.Fatalf("Disconnected(%+v), want a remote orderly close", why)
	}
	t.Log(why.Error())
	if !strings.HasPrefix(why.Error(), "connection closed by broker 101 at "+addr+": ") || !strings.HasSuffix(why.Error(), "(code 0, closed)") {
		t.Fatalf("error %q", why.Error())
	}
}

// A connection closed by this node for the peer's fault (here a frame it
// may not send) is reported as this node's close, with the reason.
func TestDisconnectedReportsLocalClose(t *testing.T) {
	b := newBook()
	bcfg, binbox := nodeConfig(t, 101, "broker-101", true, b)
	seen := newDisconnects()
	bcfg.Disconnected = seen.hook
	broker := start(t, bcfg, binbox, b)
	client := newNode(t, 1_000_001, "client-a", false, b)
	// A client may not send broker heartbeats.
	client.Send([]sm.Envelope{{To: 101, Msg: sm.BrokerHeartbeat{Broker: 101}}})
	ev := seen.next(t)
	if ev.peer.ID != 1_000_001 || ev.why.Remote || ev.why.Code != CodeForbidden {
		t.Fatalf("Disconnected(%+v, %+v), want this node's close with CodeForbidden", ev.peer, ev.why)
	}
	if !strings.HasPrefix(ev.why.Error(), "connection to client 1000001 at 127.0.0.1:") || !strings.Contains(ev.why.Error(), "closed by this node: a client may not send BrokerHeartbeat (code 6, forbidden)") {
		t.Fatalf("error %q", ev.why.Error())
	}
	_ = broker
}
