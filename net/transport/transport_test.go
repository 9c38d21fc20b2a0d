package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/weirmq/weir/net/tlsutil"
	"github.com/weirmq/weir/net/wire"
	"github.com/weirmq/weir/sm"
)

var tp = sm.TopicPartition{Topic: "orders", Partition: 1}

// Two listening brokers exchange messages both ways, in order, each
// learning the other's authenticated id.
func TestExchangeBothWays(t *testing.T) {
	b := newBook()
	b101, b102 := newNode(t, 101, "broker-101", true, b), newNode(t, 102, "broker-102", true, b)
	var batch []sm.Envelope
	for i := range 100 {
		batch = append(batch, sm.Envelope{To: 102, Msg: sm.ReplicaFetchRequest{TP: tp, Replica: 101, FetchOffset: sm.Offset(i)}})
	}
	b101.Send(batch)
	for i := range 100 {
		b102.expect(t, 101, sm.ReplicaFetchRequest{TP: tp, Replica: 101, FetchOffset: sm.Offset(i)})
	}
	b102.Send([]sm.Envelope{{To: 101, Msg: sm.ReplicaFetchResponse{TP: tp, FetchOffset: 99, HighWatermark: 7}}})
	b101.expect(t, 102, sm.ReplicaFetchResponse{TP: tp, FetchOffset: 99, HighWatermark: 7})
	if s := b101.Stats(); s.Sent != 100 || s.Received != 1 || s.Dropped != 0 {
		t.Fatalf("b101 stats %+v", s)
	}
}

// A client does not listen: its request reaches the broker over the
// connection the client opened, and the reply comes back over the same one.
func TestClientGetsReplyOverReverseRoute(t *testing.T) {
	b := newBook()
	broker := newNode(t, 101, "broker-101", true, b)
	client := newNode(t, 1_000_001, "client-a", false, b)
	rec := sm.Record{Key: []byte("k"), Value: []byte("v")}
	client.Send([]sm.Envelope{{From: 1_000_001, To: 101, Msg: sm.ProduceRequest{ReqID: 7, TP: tp, Records: []sm.Record{rec}}}})
	broker.expect(t, 1_000_001, sm.ProduceRequest{ReqID: 7, TP: tp, Records: []sm.Record{rec}})
	if _, ok := b.lookup(1_000_001); ok {
		t.Fatal("the client has an address; the test would not prove the reverse route")
	}
	broker.Send([]sm.Envelope{{To: 1_000_001, Msg: sm.ProduceResponse{ReqID: 7, TP: tp, BaseOffset: 42}}})
	client.expect(t, 101, sm.ProduceResponse{ReqID: 7, TP: tp, BaseOffset: 42})
}

// A certificate that may not claim the Hello's identity is refused with
// CodeIdentity, and nothing from it is delivered.
func TestRefusesCertificateForAnotherIdentity(t *testing.T) {
	b := newBook()
	broker := newNode(t, 101, "broker-101", true, b)
	addr, _ := b.lookup(101)
	for _, c := range []struct {
		cert  string
		hello wire.Hello
		want  string
	}{
		{"broker-102", wire.Hello{Node: 103, Role: wire.RoleBroker, Version: 1}, `certificate "broker-102" may not act as broker 103`},
		{"client-a", wire.Hello{Node: 102, Role: wire.RoleBroker, Version: 1}, `certificate "client-a" may not act as broker 102`},
		{"client-a", wire.Hello{Node: 1, Role: wire.RoleClient, Version: 1}, "node 1 is not a client id"},
		{"broker-102", wire.Hello{Node: 101, Role: wire.RoleBroker, Version: 1}, `certificate "broker-102" may not act as broker 101`},
	} {
		r := rawDial(t, addr, clientTLS(t, c.cert), c.hello)
		if _, err := r.serverHello(); err == nil {
			t.Fatalf("%s claiming %+v: server answered", c.cert, c.hello)
		}
		if ae := r.closedBy(t); ae.ErrorCode != CodeIdentity || !strings.Contains(ae.ErrorMessage, c.want) {
			t.Fatalf("%s claiming %+v: closed with %d %q, want %d containing %q", c.cert, c.hello, ae.ErrorCode, ae.ErrorMessage, CodeIdentity, c.want)
		}
	}
	eventually(t, "four refusals counted", func() bool { return broker.Stats().Refused == 4 })
	if s := broker.Stats(); s.Received != 0 || s.Conns != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// The dialler checks the server too: a server whose certificate is not the
// node the dialler meant to reach gets no Hello and no messages.
func TestDiallerRefusesWrongServer(t *testing.T) {
	b := newBook()
	b101 := newNode(t, 101, "broker-101", true, b)
	b102 := newNode(t, 102, "broker-102", true, b)
	addr, _ := b.lookup(102)
	b.set(103, addr) // 103's address leads to broker-102
	b101.Send([]sm.Envelope{{To: 103, Msg: sm.MetadataRequest{ReqID: 1}}})
	eventually(t, "the dial to fail", func() bool { return b101.Stats().DialFailures == 1 })
	if s := b102.Stats(); s.Received != 0 || s.Conns != 0 {
		t.Fatalf("impostor stats %+v", s)
	}
	if s := b101.Stats(); s.DroppedUnreachable != 1 {
		t.Fatalf("dialler stats %+v", s)
	}
}

// LIBS pitfall 13: a client without a certificate usually completes its
// QUIC dial (and often opens a stream and writes) before the server's
// refusal arrives; it surfaces at whichever step comes next. The server never
// registers the connection nor delivers anything from it.
func TestRefusesClientWithoutCertificate(t *testing.T) {
	b := newBook()
	broker := newNode(t, 101, "broker-101", true, b)
	addr, _ := b.lookup(101)
	anon := clientTLS(t, "client-a")
	anon.Certificates = nil
	r, err := tryRawDial(t, addr, anon, wire.Hello{Node: 1_000_001, Role: wire.RoleClient, Version: 1})
	if err == nil {
		frame, _ := wire.Encode(sm.MetadataRequest{ReqID: 1})
		r.send.Write(frame)
		_, err = r.serverHello()
	}
	if err == nil || !strings.Contains(err.Error(), "certificate required") {
		t.Fatalf("err %v, want the server's certificate-required alert", err)
	}
	if s := broker.Stats(); s.Received != 0 || s.Conns != 0 {
		t.Fatalf("stats %+v", s)
	}
	// So is a certificate from a CA the broker does not trust.
	foreign := clientTLS(t, "client-a")
	foreign.Certificates = serverTLSFrom(t, foreignDir, "broker-101").Certificates
	r, err = tryRawDial(t, addr, foreign, wire.Hello{Node: 101, Role: wire.RoleBroker, Version: 1})
	if err == nil {
		_, err = r.serverHello()
	}
	if err == nil || !strings.Contains(err.Error(), "unknown certificate authority") {
		t.Fatalf("foreign CA: %v, want the server's unknown-authority alert", err)
	}
	if s := broker.Stats(); s.Received != 0 || s.Conns != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// A malformed frame closes that connection with CodeMalformed and a reason
// naming the problem; another client's connection keeps working.
func TestMalformedFrameClosesOnlyThatConnection(t *testing.T) {
	b := newBook()
	broker := newNode(t, 101, "broker-101", true, b)
	good := newNode(t, 1_000_002, "client-b", false, b)
	good.Send([]sm.Envelope{{To: 101, Msg: sm.MetadataRequest{ReqID: 1}}})
	broker.expect(t, 1_000_002, sm.MetadataRequest{ReqID: 1})

	addr, _ := b.lookup(101)
	r := rawDial(t, addr, clientTLS(t, "client-a"), wire.Hello{Node: 1_000_001, Role: wire.RoleClient, Version: 1})
	if _, err := r.serverHello(); err != nil {
		t.Fatal(err)
	}
	frame, _ := wire.Encode(sm.ProduceRequest{TP: tp, Records: []sm.Record{{Value: []byte("v")}}})
	binary.LittleEndian.PutUint32(frame[len(frame)-49:], 0xFFFFFFFF) // records[0].value's length (then 1 byte of value, the timeout, codec, block, count, block CRC, max timestamp, the producer fields)
	r.send.Write(frame)
	ae := r.closedBy(t)
	if ae.ErrorCode != CodeMalformed || !strings.Contains(ae.ErrorMessage, "wire: ProduceRequest: records[0].value: length 4294967295 exceeds remaining") {
		t.Fatalf("closed with %d %q", ae.ErrorCode, ae.ErrorMessage)
	}
	good.Send([]sm.Envelope{{To: 101, Msg: sm.MetadataRequest{ReqID: 2}}})
	broker.expect(t, 1_000_002, sm.MetadataRequest{ReqID: 2})
	broker.Send([]sm.Envelope{{To: 1_000_002, Msg: sm.MetadataResponse{ReqID: 2}}})
	good.expect(t, 101, sm.MetadataResponse{ReqID: 2})
	if s := broker.Stats(); s.Malformed != 1 || s.Received != 2 {
		t.Fatalf("stats %+v", s)
	}
}

// A message the peer's role may not send at all (a client sending raft or
// replica traffic, or an answer it was never asked) closes that connection
// with CodeForbidden naming it, and is not delivered.
func TestForbiddenMessageClosesConnection(t *testing.T) {
	b := newBook()
	broker := newNode(t, 101, "broker-101", true, b)
	addr, _ := b.lookup(101)
	for i, m := range []sm.Message{
		sm.RaftMessage{},
		sm.ReplicaFetchRequest{TP: tp, Replica: 102},
		sm.AlterISRResponse{TP: tp},
		sm.ProduceResponse{TP: tp},
	} {
		r := rawDial(t, addr, clientTLS(t, "client-a"), wire.Hello{Node: sm.NodeID(1_000_001 + i), Role: wire.RoleClient, Version: 1})
		if _, err := r.serverHello(); err != nil {
			t.Fatal(err)
		}
		frame, err := wire.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		r.send.Write(frame)
		ae := r.closedBy(t)
		if want := "a client may not send " + m.Kind().String(); ae.ErrorCode != CodeForbidden || ae.ErrorMessage != want {
			t.Fatalf("%v: closed with %d %q, want %d %q", m.Kind(), ae.ErrorCode, ae.ErrorMessage, CodeForbidden, want)
		}
	}
	if s := broker.Stats(); s.Forbidden != 4 || s.Received != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// A frame whose length prefix exceeds MaxFrameBytes is refused from the
// prefix alone: the test sends only the prefix, so a server that waited for
// (or allocated) the body would never close the connection.
func TestOversizedFrameRefusedFromPrefix(t *testing.T) {
	b := newBook()
	cfg, inbox := nodeConfig(t, 101, "broker-101", true, b)
	cfg.MaxFrameBytes = 1 << 20
	broker := start(t, cfg, inbox, b)
	addr, _ := b.lookup(101)
	r := rawDial(t, addr, clientTLS(t, "client-a"), wire.Hello{Node: 1_000_001, Role: wire.RoleClient, Version: 1})
	if _, err := r.serverHello(); err != nil {
		t.Fatal(err)
	}
	r.send.Write(binary.LittleEndian.AppendUint32(nil, 1<<30))
	ae := r.closedBy(t)
	if ae.ErrorCode != CodeFrameTooLarge || !strings.Contains(ae.ErrorMessage, "above the limit of 1048576") {
		t.Fatalf("closed with %d %q", ae.ErrorCode, ae.ErrorMessage)
	}
	if s := broker.Stats(); s.Malformed != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// A second client claiming a client id already connected under another
// certificate is refused: a client cannot steal another's replies.
func TestRefusesClientIDHeldByAnotherCertificate(t *testing.T) {
	b := newBook()
	broker := newNode(t, 101, "broker-101", true, b)
	owner := newNode(t, 1_000_001, "client-a", false, b)
	owner.Send([]sm.Envelope{{To: 101, Msg: sm.MetadataRequest{ReqID: 1}}})
	broker.expect(t, 1_000_001, sm.MetadataRequest{ReqID: 1})
	addr, _ := b.lookup(101)
	r := rawDial(t, addr, clientTLS(t, "client-b"), wire.Hello{Node: 1_000_001, Role: wire.RoleClient, Version: 1})
	r.serverHello() // the server answers before it registers; then refuses
	if ae := r.closedBy(t); ae.ErrorCode != CodeIdentity || !strings.Contains(ae.ErrorMessage, `connected with certificate "client-a"`) {
		t.Fatalf("closed with %d %q", ae.ErrorCode, ae.ErrorMessage)
	}
	broker.Send([]sm.Envelope{{To: 1_000_001, Msg: sm.MetadataResponse{ReqID: 1}}})
	owner.expect(t, 101, sm.MetadataResponse{ReqID: 1})
}

// peerMsg is a message one broker may send another (sm.MaySend), told
// apart by i.
func peerMsg(i int) sm.Message {
	return sm.ReplicaFetchRequest{TP: tp, Replica: 101, FetchOffset: sm.Offset(i)}
}

// After a peer restarts (same address, new process), the next sends redial
// and get through.
func TestReconnectAfterPeerRestart(t *testing.T) {
	b := newBook()
	cfg, _ := nodeConfig(t, 101, "broker-101", true, b)
	cfg.BackoffMin, cfg.BackoffMax = 20*time.Millisecond, 100*time.Millisecond
	b101 := start(t, cfg, make(chan received, 16), b)
	b102 := newNode(t, 102, "broker-102", true, b)
	env := sm.Envelope{From: 101, To: 102, Msg: peerMsg(1)}
	b101.Send([]sm.Envelope{env})
	b102.expect(t, 101, env.Msg)

	addr, _ := b.lookup(102)
	if err := b102.Close(); err != nil {
		t.Fatal(err)
	}
	cfg2, inbox2 := nodeConfig(t, 102, "broker-102", true, b)
	cfg2.Listen = addr
	restarted := start(t, cfg2, inbox2, b)
	sendUntil(t, b101, restarted, sm.Envelope{From: 101, To: 102, Msg: peerMsg(2)})
	if s := b101.Stats(); s.Dials < 2 {
		t.Fatalf("stats %+v", s)
	}
}

// Send never blocks: while a dial hangs (the address swallows packets), the
// peer's queue keeps only the newest QueueMessagesMax messages.
func TestSendDoesNotBlockAndDropsOldest(t *testing.T) {
	b := newBook()
	hole, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	b.set(102, hole.LocalAddr().String())
	cfg, inbox := nodeConfig(t, 101, "broker-101", true, b)
	cfg.QueueMessagesMax = 3
	n := start(t, cfg, inbox, b)
	t0 := time.Now()
	for i := range 10 {
		n.Send([]sm.Envelope{{To: 102, Msg: sm.MetadataRequest{ReqID: uint64(i)}}})
	}
	if d := time.Since(t0); d > time.Second {
		t.Fatalf("Send took %v", d)
	}
	if s := n.Stats(); s.DroppedQueueFull != 7 {
		t.Fatalf("stats %+v", s)
	}
	n.mu.Lock()
	var got []byte
	for _, f := range n.peers[102].queue {
		got = append(got, f[len(f)-16]) // low byte of ReqID
	}
	n.mu.Unlock()
	if !bytes.Equal(got, []byte{7, 8, 9}) {
		t.Fatalf("queue holds ReqIDs %v, want the newest 7 8 9", got)
	}
	// Unknown destinations and messages too large to send are dropped and
	// counted, not queued.
	n.Send([]sm.Envelope{{To: 555, Msg: sm.MetadataRequest{}}, {To: 101, Msg: sm.MetadataRequest{}}})
	n.Send([]sm.Envelope{{To: 102, Msg: sm.ProduceRequest{Records: []sm.Record{{Value: make([]byte, 70<<20)}}}}})
	if s := n.Stats(); s.DroppedUnreachable != 2 || s.DroppedInvalid != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// Close flushes: messages sent just before Close are written and read by the
// peer before the connection goes away.
func TestCloseFlushesQueuedMessages(t *testing.T) {
	b := newBook()
	b101, b102 := newNode(t, 101, "broker-101", true, b), newNode(t, 102, "broker-102", true, b)
	b101.Send([]sm.Envelope{{To: 102, Msg: peerMsg(0)}})
	b102.expect(t, 101, peerMsg(0))
	var batch []sm.Envelope
	for i := 1; i <= 200; i++ {
		bt := sm.Batch{BaseOffset: sm.Offset(i), Epoch: 1, Records: []sm.Record{{Value: make([]byte, 1024)}}}
		bt.CRC = sm.BatchCRC(&bt)
		batch = append(batch, sm.Envelope{To: 102, Msg: sm.ReplicaFetchResponse{TP: tp, FetchOffset: sm.Offset(i), Batches: []sm.Batch{bt}}})
	}
	b101.Send(batch)
	if err := b101.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 200; i++ {
		b102.expect(t, 101, batch[i-1].Msg)
	}
	b101.Send([]sm.Envelope{{To: 102, Msg: peerMsg(0)}})
	if s := b101.Stats(); s.DroppedClosed != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func serverTLSFrom(t testing.TB, dir, name string) *tls.Config {
	c, err := tlsutil.LoadServerConfig(tlsutil.PathsFor(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Two brokers that dial each other at the same moment end up with two
// connections; messages flow both ways over whichever each side picked.
func TestSimultaneousDials(t *testing.T) {
	b := newBook()
	b101, b102 := newNode(t, 101, "broker-101", true, b), newNode(t, 102, "broker-102", true, b)
	for i := range 20 {
		b101.Send([]sm.Envelope{{To: 102, Msg: peerMsg(i)}})
		b102.Send([]sm.Envelope{{To: 101, Msg: peerMsg(i)}})
	}
	for _, n := range []*node{b101, b102} {
		seen := 0
		for seen < 20 {
			select {
			case <-n.inbox:
				seen++
			case <-time.After(wait):
				t.Fatalf("got %d of 20 (stats %+v)", seen, n.Stats())
			}
		}
	}
}

// A peer that crashes (no CONNECTION_CLOSE) and comes back on the same
// address resets the old connection at once: its stateless reset key comes
// from its private key, so the new process can prove the old connection
// dead. Without it, the sender would write into the void until the 30 s idle
// timeout, beyond this test's patience.
func TestReconnectAfterPeerCrash(t *testing.T) {
	b := newBook()
	cfg, _ := nodeConfig(t, 101, "broker-101", true, b)
	cfg.BackoffMin, cfg.BackoffMax = 20*time.Millisecond, 100*time.Millisecond
	b101 := start(t, cfg, make(chan received, 16), b)
	b102 := newNode(t, 102, "broker-102", true, b)
	b101.Send([]sm.Envelope{{To: 102, Msg: peerMsg(1)}})
	b102.expect(t, 101, peerMsg(1))

	addr, _ := b.lookup(102)
	b102.udp.Close() // crash: the socket vanishes, nothing is said to peers
	b102.Close()
	cfg2, inbox2 := nodeConfig(t, 102, "broker-102", true, b)
	cfg2.Listen = addr
	restarted := start(t, cfg2, inbox2, b)
	sendUntil(t, b101, restarted, sm.Envelope{From: 101, To: 102, Msg: peerMsg(2)})
}

// A client that knows only an address learns the server's id from its
// certificate; Send to that id then uses the connection without any address
// for it, and the reply comes back over the same connection.
func TestConnectLearnsServerID(t *testing.T) {
	servers := newBook()
	broker := newNode(t, 101, "broker-101", true, servers)
	addr, _ := servers.lookup(101)
	client := newNode(t, 1_000_001, "client-a", false, newBook()) // an empty address book
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	id, err := client.Connect(ctx, addr)
	if err != nil || id != 101 {
		t.Fatalf("Connect = %v, %v; want 101", id, err)
	}
	client.Send([]sm.Envelope{{To: 101, Msg: sm.MetadataRequest{ReqID: 1}}})
	broker.expect(t, 1_000_001, sm.MetadataRequest{ReqID: 1})
	broker.Send([]sm.Envelope{{To: 1_000_001, Msg: sm.MetadataResponse{ReqID: 1}}})
	client.expect(t, 101, sm.MetadataResponse{ReqID: 1})
	if s := client.Stats(); s.Dials != 1 || s.DialFailures != 0 || s.Conns != 1 || s.Dropped != 0 {
		t.Fatalf("client stats %+v", s)
	}
}

// Connect refuses a listener whose certificate names no server, gives up
// when its context ends (here on an address that swallows packets), and
// refuses to start after Close.
func TestConnectFailures(t *testing.T) {
	b := newBook()
	cfg, inbox := nodeConfig(t, 1_000_002, "client-b", true, b) // a client that listens
	start(t, cfg, inbox, b)
	addr, _ := b.lookup(1_000_002)
	client := newNode(t, 1_000_001, "client-a", false, newBook())
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if id, err := client.Connect(ctx, addr); err == nil || !strings.Contains(err.Error(), `certificate "client-b" does not name a server`) {
		t.Fatalf("Connect to a client = %v, %v", id, err)
	}

	hole, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	short, cancelShort := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancelShort()
	t0 := time.Now()
	if _, err := client.Connect(short, hole.LocalAddr().String()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect to a black hole: %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("Connect ignored its context: took %v", d)
	}
	if s := client.Stats(); s.Dials != 2 || s.DialFailures != 2 || s.Conns != 0 {
		t.Fatalf("client stats %+v", s)
	}
	client.Close()
	if _, err := client.Connect(ctx, addr); err == nil {
		t.Fatal("Connect after Close succeeded")
	}
}

func TestServerID(t *testing.T) {
	for cn, want := range map[string]sm.NodeID{"broker-101": 101, "controller-1": 1, "broker-999999": 999_999} {
		if id, err := ServerID(cn); err != nil || id != want {
			t.Errorf("ServerID(%q) = %v, %v; want %v", cn, id, err, want)
		}
	}
	for _, cn := range []string{"client-a", "broker-5", "controller-100", "broker-0101", "broker-+101", "broker-", "broker", "broker-1x", ""} {
		if id, err := ServerID(cn); err == nil {
			t.Errorf("ServerID(%q) = %v, want an error", cn, id)
		}
	}
}
