package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/rs/zerolog"

	"github.com/weirmq/weir/net/tlsutil"
	"github.com/weirmq/weir/net/wire"
	"github.com/weirmq/weir/sm"
)

// wait is how long a test waits for something that should happen at once on
// loopback: generous, so a loaded CI machine does not make tests flaky.
const wait = 10 * time.Second

// certDir holds one CA and the certificates every test uses; foreignDir a
// second CA, for certificates nobody trusts.
var certDir, foreignDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "weir-transport-certs")
	if err != nil {
		panic(err)
	}
	certDir, foreignDir = dir+"/ca", dir+"/foreign"
	ca, err := tlsutil.GenerateCA(certDir)
	if err != nil {
		panic(err)
	}
	for _, name := range []string{"controller-1", "broker-101", "broker-102", "client-a", "client-b"} {
		if _, err := tlsutil.IssueCert(ca, name, []string{"127.0.0.1", "localhost"}); err != nil {
			panic(err)
		}
	}
	foreign, err := tlsutil.GenerateCA(foreignDir)
	if err != nil {
		panic(err)
	}
	if _, err := tlsutil.IssueCert(foreign, "broker-101", []string{"127.0.0.1"}); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func serverTLS(t testing.TB, name string) *tls.Config {
	c, err := tlsutil.LoadServerConfig(tlsutil.PathsFor(certDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func clientTLS(t testing.TB, name string) *tls.Config {
	c, err := tlsutil.LoadClientConfig(tlsutil.PathsFor(certDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// book is an address book shared by the nodes of a test.
type book struct {
	mu    sync.Mutex
	addrs map[sm.NodeID]string
}

func newBook() *book { return &book{addrs: map[sm.NodeID]string{}} }

func (b *book) set(id sm.NodeID, addr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.addrs[id] = addr
}

func (b *book) lookup(id sm.NodeID) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a, ok := b.addrs[id]
	return a, ok
}

type received struct {
	from sm.NodeID
	msg  sm.Message
}

// node is a transport plus the messages it received.
type node struct {
	*Transport
	inbox chan received
}

// nodeConfig is a working config for id with certificate name; listen says
// whether it accepts connections (on a fresh loopback port unless addr is
// given in listenAt).
func nodeConfig(t testing.TB, id sm.NodeID, name string, listen bool, b *book) (Config, chan received) {
	role, _ := RoleOf(id)
	inbox := make(chan received, 4096)
	cfg := Config{
		Self: id, Role: role, ClientTLS: clientTLS(t, name), Addresses: b.lookup,
		Deliver: func(from Peer, m sm.Message) { inbox <- received{from.ID, m} },
	}
	if testing.Verbose() {
		cfg.Log = zerolog.New(zerolog.NewTestWriter(t)).With().Stringer("node", id).Logger()
	}
	if listen {
		cfg.Listen = "127.0.0.1:0"
		cfg.ServerTLS = serverTLS(t, name)
	}
	return cfg, inbox
}

func start(t testing.TB, cfg Config, inbox chan received, b *book) *node {
	t.Helper()
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	if cfg.Listen != "" {
		b.set(cfg.Self, tr.Addr().String())
	}
	return &node{Transport: tr, inbox: inbox}
}

func newNode(t testing.TB, id sm.NodeID, name string, listen bool, b *book) *node {
	cfg, inbox := nodeConfig(t, id, name, listen, b)
	return start(t, cfg, inbox, b)
}

// expect waits for the next message and checks its sender and content.
func (n *node) expect(t testing.TB, from sm.NodeID, want sm.Message) {
	t.Helper()
	select {
	case r := <-n.inbox:
		if r.from != from || fmt.Sprintf("%#v", r.msg) != fmt.Sprintf("%#v", want) {
			t.Fatalf("received %#v from %v, want %#v from %v", r.msg, r.from, want, from)
		}
	case <-time.After(wait):
		t.Fatalf("no message from %v within %v (stats %+v)", from, wait, n.Stats())
	}
}

// sendUntil re-sends msg every 50 ms until the receiver gets it, for paths
// where early sends are expected to be dropped (a peer restarting).
func sendUntil(t testing.TB, from, to *node, env sm.Envelope) {
	t.Helper()
	deadline := time.After(wait)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		from.Send([]sm.Envelope{env})
		select {
		case r := <-to.inbox:
			if r.from != env.From || fmt.Sprintf("%#v", r.msg) != fmt.Sprintf("%#v", env.Msg) {
				t.Fatalf("received %#v from %v", r.msg, r.from)
			}
			return
		case <-tick.C:
		case <-deadline:
			t.Fatalf("message never arrived (sender stats %+v)", from.Stats())
		}
	}
}

// eventually polls cond until it holds.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rawConn is a hand-driven QUIC client, for sending what a Transport never
// would.
type rawConn struct {
	qc   *quic.Conn
	send *quic.SendStream
}

// rawDial connects to addr with tc, opens the stream and writes hello. It
// does not wait for the server's answer.
func rawDial(t testing.TB, addr string, tc *tls.Config, hello wire.Hello) *rawConn {
	t.Helper()
	r, err := tryRawDial(t, addr, tc, hello)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tryRawDial is rawDial reporting failure instead of failing the test: with
// TLS 1.3 the server's refusal may arrive at any step after the dial.
func tryRawDial(t testing.TB, addr string, tc *tls.Config, hello wire.Hello) (*rawConn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	tc = tc.Clone()
	tc.ServerName = "127.0.0.1"
	qc, err := quic.DialAddr(ctx, addr, tc, &quic.Config{})
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	t.Cleanup(func() { qc.CloseWithError(0, "") })
	s, err := qc.OpenUniStreamSync(ctx)
	if err != nil {
		return nil, fmt.Errorf("open stream: %w", err)
	}
	if _, err := s.Write(wire.AppendHello(nil, hello)); err != nil {
		return nil, fmt.Errorf("write hello: %w", err)
	}
	return &rawConn{qc: qc, send: s}, nil
}

// serverHello waits for the server's Hello; an error means it refused us.
func (r *rawConn) serverHello() (wire.Hello, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	rs, err := r.qc.AcceptUniStream(ctx)
	if err != nil {
		return wire.Hello{}, err
	}
	frame, err := wire.ReadFrame(rs, wire.HelloFrameBytes)
	if err != nil {
		return wire.Hello{}, err
	}
	return wire.DecodeHello(frame)
}

// closedBy waits for the connection to close and returns the application
// error the server closed it with.
func (r *rawConn) closedBy(t testing.TB) *quic.ApplicationError {
	t.Helper()
	select {
	case <-r.qc.Context().Done():
	case <-time.After(wait):
		t.Fatal("connection still open")
	}
	var ae *quic.ApplicationError
	if err := context.Cause(r.qc.Context()); !errors.As(err, &ae) || !ae.Remote {
		t.Fatalf("closed by %v, want a remote application error", err)
	}
	return ae
}
