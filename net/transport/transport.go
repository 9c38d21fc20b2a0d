// Package transport carries sm.Messages between Weir nodes over QUIC with
// mutual TLS. It is the production side of the runtime's Send effect and the
// source of its sm.Received events.
//
// Messages are one-way envelopes. Each connection carries one long-lived
// unidirectional stream per direction; each stream opens with a wire.Hello
// (who the sender claims to be) and then carries wire frames in order. The
// accepting side checks the dialler's claim against its verified certificate
// (Authorize) before it answers with its own Hello; the dialler checks the
// server's certificate and Hello against the node it meant to reach. Only
// then does the connection carry messages, and only then are messages from it
// delivered, with the authenticated id as the sender.
//
// Routing: a message goes over a live connection with its destination,
// whichever side opened it (that reverse route is how replies reach clients,
// which do not listen); otherwise the transport dials Config.Addresses(to).
// Send never blocks: each peer has a bounded queue (oldest dropped when
// full), drained by a writer goroutine per connection. A peer that cannot be
// reached is retried with exponential backoff and jitter; messages to it are
// dropped meanwhile. Every drop is counted (Stats): the protocols above
// tolerate loss and retry on their own timers.
//
// Order: messages to one peer keep their order while one connection carries
// them. When two nodes dial each other at once both connections stay up
// (each side sends on the newer one); when a connection is replaced or lost,
// messages may be lost or, around the switch, reordered — as the simulator's
// network already does. Nothing is ever duplicated. Messages to the node
// itself or to NoNode are dropped.
//
// A peer that sends a frame that does not decode, or announces one above
// MaxFrameBytes, is disconnected with an application error naming the
// problem; other connections are unaffected.
//
// Wiring a node (cmd/ does this):
//
//	var loop *runtime.Loop
//	tr, err := transport.New(transport.Config{
//		Self: 101, Role: wire.RoleBroker, Listen: ":9092",
//		ServerTLS: serverTLS, ClientTLS: clientTLS, // tlsutil.Load*Config
//		Addresses: metadata.Address,
//		Deliver: func(from transport.Peer, m sm.Message) {
//			loop.Post(ctx, sm.Received{From: from.ID, Msg: m, Principal: from.Principal, Serial: from.Serial, Source: from.Addr}) // back-pressure, not loss
//		},
//	})
//	loop = runtime.NewLoop(node, adapters{disk, tr}, 1024) // tr.Send is Adapters.Send
//	defer tr.Close() // after the loop has stopped, or Post must see ctx done
package transport

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/weirmq/weir/net/pki"
	"github.com/weirmq/weir/net/wire"
	"github.com/weirmq/weir/sm"
)

// Application error codes a transport closes connections with; the peer
// sees them in a *quic.ApplicationError with the reason as ErrorMessage.
const (
	// CodeClosed is an orderly close: shutdown, or the peer finished its
	// stream.
	CodeClosed quic.ApplicationErrorCode = 0
	// CodeProtocol means the Hello was missing, malformed or late, or the
	// streams were not used as the protocol says.
	CodeProtocol quic.ApplicationErrorCode = 1
	// CodeIdentity means the certificate was missing or does not allow the
	// identity the Hello claimed, or the id is held by another certificate.
	CodeIdentity quic.ApplicationErrorCode = 2
	// CodeMalformed means a frame did not decode; the message names why.
	CodeMalformed quic.ApplicationErrorCode = 3
	// CodeFrameTooLarge means a frame's length prefix exceeded MaxFrameBytes.
	CodeFrameTooLarge quic.ApplicationErrorCode = 4
	// CodeOverloaded means the node already has ConnsMax connections.
	CodeOverloaded quic.ApplicationErrorCode = 5
	// CodeForbidden means the peer sent a message its role may not send at
	// all (sm.MaySend: a client sending raft or broker traffic); the
	// message names it. Nothing of it was delivered.
	CodeForbidden quic.ApplicationErrorCode = 6
	// CodeRevoked means the peer's certificate is revoked (Config.Revoked):
	// refused at the handshake, or a live connection closed by
	// CloseRevoked. The message names the serial.
	CodeRevoked quic.ApplicationErrorCode = 7
)

// Transport is one node's endpoint. It is safe for concurrent use.
type Transport struct {
	cfg      Config
	udp      *net.UDPConn
	qt       *quic.Transport
	ln       *quic.Listener
	quicConf *quic.Config
	hello    []byte // this node's Hello frame

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	peers  map[sm.NodeID]*peer
	conns  map[*conn]struct{} // every registered (verified) connection not yet finished

	stats counters
}

// peer is the outbound state for one destination. Guarded by Transport.mu.
type peer struct {
	id       sm.NodeID
	queue    [][]byte // encoded frames, oldest first
	qBytes   int
	conns    []*conn // verified live connections; the last is current
	dialing  bool
	failures int       // consecutive failed dials
	retryAt  time.Time // no dial before this after a failure
}

// conn is one QUIC connection, from its handshake until its reader ends.
type conn struct {
	qc        *quic.Conn
	peer      sm.NodeID // set once its Hello is verified
	name      string    // the peer certificate's CommonName
	principal string    // the peer certificate's principal (Config.Principals)
	serial    string    // the peer certificate's serial (pki.SerialString)
	addr      netip.Addr
	remote    string // the peer's "host:port"
	finished  bool   // the peer finished its stream (it is shutting down); set by the reader
	send      *quic.SendStream
	wake      chan struct{} // cap 1: frames are queued for this connection
	flush     chan struct{} // closed by Close: drain, finish the stream, exit
	done      chan struct{} // closed when the reader has finished
}

// New binds the UDP socket, starts accepting if cfg.Listen is set, and
// returns a transport ready to Send.
func New(cfg Config) (*Transport, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	laddr := &net.UDPAddr{}
	if cfg.Listen != "" {
		if laddr, err = net.ResolveUDPAddr("udp", cfg.Listen); err != nil {
			return nil, fmt.Errorf("transport: listen address: %w", err)
		}
	}
	udp, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	t := &Transport{
		cfg:      cfg,
		udp:      udp,
		qt:       &quic.Transport{Conn: udp, StatelessResetKey: resetKey(&cfg)},
		quicConf: cfg.quicConfig(),
		hello:    wire.AppendHello(nil, wire.Hello{Node: cfg.Self, Role: cfg.Role, Version: wire.Version}),
		peers:    map[sm.NodeID]*peer{},
		conns:    map[*conn]struct{}{},
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	if cfg.Listen != "" {
		t.qt.ConnContext, t.quicConf.Tracer = connContext, t.traceConn // see refusals.go
		if t.ln, err = t.qt.Listen(cfg.ServerTLS, t.quicConf); err != nil {
			t.qt.Close()
			udp.Close()
			return nil, fmt.Errorf("transport: %w", err)
		}
		t.wg.Add(1)
		go t.acceptLoop()
	}
	return t, nil
}

// resetKey derives the QUIC stateless reset key from the node's private key,
// so it survives restarts: a peer that restarts on the same address tells
// old connections to go away at once instead of leaving them to time out.
func resetKey(cfg *Config) *quic.StatelessResetKey {
	der, err := x509.MarshalPKCS8PrivateKey(cfg.ClientTLS.Certificates[0].PrivateKey)
	if err != nil {
		return nil
	}
	k := quic.StatelessResetKey(sha256.Sum256(append([]byte("weir stateless reset v1\x00"), der...)))
	return &k
}

// Addr is the bound UDP address (useful with Listen ":0").
func (t *Transport) Addr() net.Addr { return t.udp.LocalAddr() }

// Send queues messages for delivery and returns at once. Envelope.From is
// ignored: receivers learn the sender from the connection. Messages are
// encoded here, on the caller's goroutine, so the caller may reuse what they
// reference as soon as Send returns.
func (t *Transport) Send(msgs []sm.Envelope) {
	for i := range msgs {
		env := &msgs[i]
		frame, err := wire.AppendFrame(nil, env.Msg)
		if err == nil && len(frame) > t.cfg.MaxFrameBytes {
			err = fmt.Errorf("%w: %d bytes, above MaxFrameBytes %d", wire.ErrFrameTooLarge, len(frame), t.cfg.MaxFrameBytes)
		}
		if err != nil {
			t.stats.droppedInvalid.Add(1)
			t.cfg.Log.Error().Stringer("to", env.To).Str("type", fmt.Sprintf("%T", env.Msg)).Err(err).Msg("transport: dropping a message that cannot be sent")
			continue
		}
		t.enqueue(env.To, frame)
	}
}

// enqueue routes one frame: onto a live connection's queue, onto the queue of
// a dial in progress, or into a new dial. Addresses is called without the
// lock, so a caller's lock order can never invert with ours; the second pass
// decides with the address in hand.
func (t *Transport) enqueue(to sm.NodeID, frame []byte) {
	if to == t.cfg.Self || to == sm.NoNode {
		t.stats.droppedUnreachable.Add(1)
		return
	}
	addr, found, looked := "", false, false
	for {
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			t.stats.droppedClosed.Add(1)
			return
		}
		p := t.peerLocked(to)
		switch {
		case len(p.conns) > 0:
			t.pushLocked(p, frame)
			signal(p.conns[len(p.conns)-1].wake)
			t.mu.Unlock()
			return
		case p.dialing:
			t.pushLocked(p, frame)
			t.mu.Unlock()
			return
		case time.Now().Before(p.retryAt):
			t.mu.Unlock()
			t.stats.droppedUnreachable.Add(1)
			return
		case looked && !found:
			t.forgetIfIdleLocked(to)
			t.mu.Unlock()
			t.stats.droppedUnreachable.Add(1)
			return
		case looked:
			p.dialing = true
			t.pushLocked(p, frame)
			t.wg.Add(1)
			t.mu.Unlock()
			go t.dial(p, addr)
			return
		}
		t.mu.Unlock()
		addr, found = t.cfg.Addresses(to)
		looked = true
	}
}

func (t *Transport) peerLocked(id sm.NodeID) *peer {
	p := t.peers[id]
	if p == nil {
		p = &peer{id: id}
		t.peers[id] = p
	}
	return p
}

// forgetIfIdle drops the state of a peer that has nothing left: no
// connection, dial, queue or backoff. It keeps the map from growing with
// every client that ever connected.
func (t *Transport) forgetIfIdle(id sm.NodeID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.forgetIfIdleLocked(id)
}

func (t *Transport) forgetIfIdleLocked(id sm.NodeID) {
	if p := t.peers[id]; p != nil && len(p.conns) == 0 && !p.dialing && len(p.queue) == 0 && p.failures == 0 {
		delete(t.peers, id)
	}
}

// pushLocked appends a frame, dropping the oldest frames while either bound
// would be exceeded (a lone frame is always kept).
func (t *Transport) pushLocked(p *peer, frame []byte) {
	for len(p.queue) > 0 && (len(p.queue) >= t.cfg.QueueMessagesMax || p.qBytes+len(frame) > t.cfg.QueueBytesMax) {
		p.qBytes -= len(p.queue[0])
		p.queue[0] = nil
		p.queue = p.queue[1:]
		t.stats.droppedQueueFull.Add(1)
	}
	p.queue = append(p.queue, frame)
	p.qBytes += len(frame)
}

// dropQueueLocked discards a peer's queue (it became unreachable).
func (t *Transport) dropQueueLocked(p *peer) {
	t.stats.droppedUnreachable.Add(uint64(len(p.queue)))
	p.queue, p.qBytes = nil, 0
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// backoff is the wait after the n-th consecutive failure: BackoffMin·2^(n-1)
// capped at BackoffMax, times a uniform factor in [0.5, 1.5).
func (t *Transport) backoff(n int) time.Duration {
	d := t.cfg.BackoffMin
	for i := 1; i < n && d < t.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, t.cfg.BackoffMax)
	return d/2 + rand.N(d)
}

// dial connects to p and, on success, makes the connection p's current one.
// p stays "dialing" until the connection is registered, so concurrent Sends
// queue behind this dial instead of starting another.
func (t *Transport) dial(p *peer, addr string) {
	defer t.wg.Done()
	t.stats.dials.Add(1)
	ctx, cancel := t.handshakeContext()
	c, rs, err := t.connect(ctx, p.id, addr)
	cancel()
	registered := err == nil && t.register(c) == nil
	t.mu.Lock()
	p.dialing = false
	if !registered {
		if err != nil {
			p.failures++
			p.retryAt = time.Now().Add(t.backoff(p.failures))
		}
		t.dropQueueLocked(p)
		failures, wait := p.failures, time.Until(p.retryAt)
		t.forgetIfIdleLocked(p.id)
		t.mu.Unlock()
		if err != nil {
			t.stats.dialFailures.Add(1)
			t.cfg.Log.Warn().Stringer("to", p.id).Str("addr", addr).Int("failures", failures).Dur("retry_in", wait).Err(err).Msg("transport: dial failed")
		}
		return
	}
	p.failures, p.retryAt = 0, time.Time{}
	t.mu.Unlock()
	t.cfg.Log.Info().Stringer("to", p.id).Str("addr", addr).Msg("transport: connected")
	t.serve(c, rs)
}

// connect dials addr and runs the Hello exchange within ctx, expecting node
// `to`, or, when to is NoNode, whichever server the verified certificate
// names (see Connect).
func (t *Transport) connect(ctx context.Context, to sm.NodeID, addr string) (*conn, *quic.ReceiveStream, error) {
	udpAddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, nil, err
	}
	tc := t.cfg.ClientTLS.Clone()
	if tc.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			tc.ServerName = host
		}
	}
	qc, err := t.qt.Dial(ctx, udpAddr, tc, t.quicConf)
	if err != nil {
		return nil, nil, err
	}
	c := &conn{qc: qc, peer: to}
	fail := func(code quic.ApplicationErrorCode, err error) (*conn, *quic.ReceiveStream, error) {
		qc.CloseWithError(code, reason(err))
		return nil, nil, err
	}
	// Check the server before telling it anything: it must be the node we
	// meant to reach.
	if c.name, err = peerName(qc); err != nil {
		return fail(CodeIdentity, err)
	}
	if to == sm.NoNode {
		if to, err = ServerID(c.name); err != nil {
			return fail(CodeIdentity, err)
		}
		if to == t.cfg.Self {
			return fail(CodeIdentity, fmt.Errorf("transport: %s is this node (%s)", addr, c.name))
		}
		c.peer = to
	}
	role, _ := RoleOf(to)
	if err := t.identify(c, role, to); err != nil {
		return fail(identityCode(err), err)
	}
	if c.send, err = qc.OpenUniStreamSync(ctx); err != nil {
		return fail(CodeProtocol, refusal(c, addr, err))
	}
	if _, err := c.send.Write(t.hello); err != nil {
		return fail(CodeProtocol, refusal(c, addr, err))
	}
	// The server answers only after accepting our certificate and Hello, so
	// this read is where a refusal surfaces (a QUIC dial succeeds even when
	// the server rejects our certificate).
	rs, err := qc.AcceptUniStream(ctx)
	if err != nil {
		if r := refusal(c, addr, err); r != err {
			return fail(CodeProtocol, r) // the server said why
		}
		return fail(CodeProtocol, fmt.Errorf("waiting for the server's hello: %w", err))
	}
	h, err := t.readHello(ctx, rs)
	if err != nil {
		return fail(CodeProtocol, refusal(c, addr, err))
	}
	if h.Node != to || h.Role != role {
		return fail(CodeIdentity, fmt.Errorf("transport: dialled %v %d but the server's hello says %v %d", role, uint64(to), h.Role, uint64(h.Node)))
	}
	return c, rs, nil
}

// Connect dials addr, learns which server answers there from its verified
// certificate ("broker-N" or "controller-N", checked by Authorize) and its
// Hello, and registers the connection so that Send to that node uses it. It
// returns the node's id.
//
// It exists for clients, which start from a list of bootstrap addresses and
// cannot know the node ids behind them, and which need a definite answer
// ("this node is reachable" or an error) where Send only drops and counts.
// The handshake is bounded by ctx, HandshakeTimeout and Close. Unlike a dial
// started by Send, a failed Connect does not put any peer into backoff (its
// id is unknown), and a successful one clears the peer's backoff. Any
// connection already open to the node stays up; the new one becomes current,
// as with simultaneous dials. A certificate that names a client, or this
// node itself, is refused.
func (t *Transport) Connect(ctx context.Context, addr string) (sm.NodeID, error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return sm.NoNode, errors.New("transport: closed")
	}
	t.wg.Add(1) // handed to the reader goroutine on success
	t.mu.Unlock()
	hctx, cancel := t.handshakeContext()
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	t.stats.dials.Add(1)
	c, rs, err := t.connect(hctx, sm.NoNode, addr)
	if err != nil {
		t.wg.Done()
		t.stats.dialFailures.Add(1)
		if ctx.Err() != nil {
			err = fmt.Errorf("transport: connect %s: %w (%v)", addr, context.Cause(ctx), err)
		} else {
			err = fmt.Errorf("transport: connect %s: %w", addr, err)
		}
		return sm.NoNode, err
	}
	if err := t.register(c); err != nil {
		t.wg.Done()
		return sm.NoNode, fmt.Errorf("transport: connect %s: %w", addr, err)
	}
	t.mu.Lock()
	if p := t.peers[c.peer]; p != nil {
		p.failures, p.retryAt = 0, time.Time{}
	}
	t.mu.Unlock()
	t.cfg.Log.Info().Stringer("to", c.peer).Str("addr", addr).Msg("transport: connected")
	go func() {
		defer t.wg.Done()
		t.serve(c, rs)
	}()
	return c.peer, nil
}

// readHello reads a stream's first frame, which must be a Hello, within ctx.
func (t *Transport) readHello(ctx context.Context, rs *quic.ReceiveStream) (wire.Hello, error) {
	if dl, ok := ctx.Deadline(); ok {
		rs.SetReadDeadline(dl)
	}
	frame, err := wire.ReadFrame(rs, wire.HelloFrameBytes)
	if err != nil {
		return wire.Hello{}, fmt.Errorf("transport: reading hello: %w", err)
	}
	rs.SetReadDeadline(time.Time{})
	return wire.DecodeHello(frame)
}

// acceptLoop accepts connections until Close.
func (t *Transport) acceptLoop() {
	defer t.wg.Done()
	for {
		qc, err := t.ln.Accept(t.ctx)
		if err != nil {
			if t.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				t.cfg.Log.Error().Err(err).Msg("transport: accept stopped")
			}
			return
		}
		t.wg.Add(1)
		go t.accept(qc)
	}
}

// accept verifies an inbound connection and serves it.
func (t *Transport) accept(qc *quic.Conn) {
	defer t.wg.Done()
	c, rs, err := t.handshakeInbound(qc)
	if err != nil {
		t.stats.refused.Add(1)
		t.cfg.Log.Warn().Str("remote", qc.RemoteAddr().String()).Err(err).Msg("transport: refused connection")
		if t.cfg.Refused != nil {
			name := ""
			if certs := qc.ConnectionState().TLS.PeerCertificates; len(certs) > 0 {
				name = certs[0].Subject.CommonName
			}
			t.cfg.Refused(qc.RemoteAddr().String(), name, err.Error())
		}
		return
	}
	t.cfg.Log.Info().Stringer("from", c.peer).Str("name", c.name).Str("remote", qc.RemoteAddr().String()).Msg("transport: accepted")
	t.serve(c, rs)
}

// handshakeInbound checks the client's certificate and Hello, registers the
// connection and answers with this node's Hello.
func (t *Transport) handshakeInbound(qc *quic.Conn) (*conn, *quic.ReceiveStream, error) {
	ctx, cancel := t.handshakeContext()
	defer cancel()
	c := &conn{qc: qc}
	fail := func(code quic.ApplicationErrorCode, err error) (*conn, *quic.ReceiveStream, error) {
		qc.CloseWithError(code, reason(err))
		return nil, nil, err
	}
	var err error
	if c.name, err = peerName(qc); err != nil {
		return fail(CodeIdentity, err)
	}
	rs, err := qc.AcceptUniStream(ctx)
	if err != nil {
		return fail(CodeProtocol, fmt.Errorf("transport: waiting for hello: %w", err))
	}
	h, err := t.readHello(ctx, rs)
	if err != nil {
		return fail(CodeProtocol, err)
	}
	if err := t.identify(c, h.Role, h.Node); err != nil {
		return fail(identityCode(err), err)
	}
	if h.Node == t.cfg.Self {
		return fail(CodeIdentity, fmt.Errorf("transport: peer claims this node's own id %d", uint64(h.Node)))
	}
	c.peer = h.Node
	if c.send, err = qc.OpenUniStreamSync(ctx); err != nil {
		return fail(CodeProtocol, err)
	}
	if _, err := c.send.Write(t.hello); err != nil {
		return fail(CodeProtocol, err)
	}
	if err := t.register(c); err != nil {
		return nil, nil, err
	}
	return c, rs, nil
}

// register makes a verified connection its peer's current one and starts
// its writer. It refuses (and closes) a connection whose id is held by a live
// connection with another certificate (one client claiming another's id),
// one over ConnsMax, and any after Close.
func (t *Transport) register(c *conn) error {
	c.wake = make(chan struct{}, 1)
	c.flush = make(chan struct{})
	c.done = make(chan struct{})
	t.mu.Lock()
	p := t.peerLocked(c.peer)
	var code quic.ApplicationErrorCode
	var err error
	switch {
	case t.closed:
		code, err = CodeClosed, errors.New("transport: closing")
	case len(t.conns) >= t.cfg.ConnsMax:
		code, err = CodeOverloaded, fmt.Errorf("transport: %d connections, the limit", len(t.conns))
	case len(p.conns) > 0 && p.conns[0].name != c.name:
		code, err = CodeIdentity, fmt.Errorf("transport: node %d is connected with certificate %q, not %q", uint64(c.peer), p.conns[0].name, c.name)
	}
	if err != nil {
		t.forgetIfIdleLocked(c.peer)
		t.mu.Unlock()
		c.qc.CloseWithError(code, reason(err))
		return err
	}
	t.conns[c] = struct{}{}
	p.conns = append(p.conns, c)
	if len(p.queue) > 0 {
		signal(c.wake)
	}
	t.wg.Add(1)
	t.mu.Unlock()
	go t.writeLoop(c)
	return nil
}

// unregister removes a finished connection and returns how many live
// connections its peer still has. If it was the peer's last, the queue is
// dropped: the next Send redials (or, for a client, has no route).
func (t *Transport) unregister(c *conn) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.conns, c)
	p := t.peers[c.peer]
	if p == nil {
		return 0
	}
	for i, o := range p.conns {
		if o == c {
			p.conns = append(p.conns[:i], p.conns[i+1:]...)
			break
		}
	}
	if n := len(p.conns); n > 0 {
		signal(p.conns[n-1].wake)
		return n
	}
	if !p.dialing {
		t.dropQueueLocked(p)
	}
	t.forgetIfIdleLocked(c.peer)
	return 0
}

// disconnected tells Config.Disconnected that c ended, and why. Its reader
// closed it (readFailed) if the peer had not, so the cause is final.
func (t *Transport) disconnected(c *conn, remaining int) {
	if t.cfg.Disconnected == nil {
		return
	}
	<-c.qc.Context().Done()
	e := closeError(c.peer, c.remote, context.Cause(c.qc.Context()))
	if e == nil {
		e = &CloseError{Peer: c.peer, Addr: c.remote, Err: context.Cause(c.qc.Context())}
	}
	if c.finished && e.Application && !e.Remote && e.Code == CodeClosed {
		// An orderly close the peer started: it finished its stream, and
		// this node closed the connection once it had read everything.
		e.Remote, e.Reason = true, "shutting down (it finished its stream)"
	}
	t.cfg.Disconnected(Peer{ID: c.peer, Principal: c.principal, Serial: c.serial, Addr: c.addr}, e, remaining)
}

// serve reads frames from a verified connection until it ends, delivering
// each message; a frame that does not decode closes the connection.
func (t *Transport) serve(c *conn, rs *quic.ReceiveStream) {
	defer func() {
		remaining := t.unregister(c)
		close(c.done)
		t.disconnected(c, remaining)
	}()
	for {
		frame, err := wire.ReadFrame(rs, t.cfg.MaxFrameBytes)
		if err == nil {
			var m sm.Message
			if m, err = wire.Decode(frame); err == nil {
				if !sm.SenderAllowed(c.peer, m) {
					t.forbidden(c, m)
					return
				}
				t.stats.received.Add(1)
				t.stats.receivedBytes.Add(uint64(len(frame)))
				t.cfg.Deliver(Peer{ID: c.peer, Principal: c.principal, Serial: c.serial, Addr: c.addr}, m)
				continue
			}
		}
		t.readFailed(c, err)
		return
	}
}

// identify checks that c's verified certificate may act as node id with the
// given role (AuthorizeCert) and records the principal it maps to and the
// peer's address.
func (t *Transport) identify(c *conn, role wire.Role, id sm.NodeID) error {
	leaf := c.qc.ConnectionState().TLS.PeerCertificates[0] // peerName checked there is one, verified
	if err := AuthorizeCert(leaf, role, id); err != nil {
		return err
	}
	c.serial = pki.SerialString(leaf.SerialNumber)
	if t.cfg.Revoked != nil && t.cfg.Revoked(c.serial) {
		return fmt.Errorf("transport: certificate %s (%q) is %w", c.serial, c.name, errRevoked)
	}
	p, err := t.cfg.Principals.Principal(leaf)
	if err != nil {
		return fmt.Errorf("transport: certificate %q: %w", c.name, err)
	}
	c.principal = p
	if a, ok := c.qc.RemoteAddr().(*net.UDPAddr); ok {
		c.addr = a.AddrPort().Addr().Unmap()
	}
	c.remote = c.qc.RemoteAddr().String()
	return nil
}

// CloseRevoked closes every live connection whose peer certificate
// Config.Revoked now says is revoked (call it when the revoked set
// changes); it returns how many it closed.
func (t *Transport) CloseRevoked() int {
	if t.cfg.Revoked == nil {
		return 0
	}
	t.mu.Lock()
	var victims []*conn
	for c := range t.conns {
		if c.serial != "" && t.cfg.Revoked(c.serial) {
			victims = append(victims, c)
		}
	}
	t.mu.Unlock()
	for _, c := range victims {
		c.qc.CloseWithError(CodeRevoked, fmt.Sprintf("certificate %s (%q) revoked", c.serial, c.name))
		t.cfg.Log.Warn().Stringer("peer", c.peer).Str("serial", c.serial).Msg("transport: closed connection: certificate revoked")
	}
	return len(victims)
}

// forbidden closes a connection whose peer sent a message its role may not
// send (sm.MaySend), naming it; the message is not delivered.
func (t *Transport) forbidden(c *conn, m sm.Message) {
	t.stats.forbidden.Add(1)
	why := fmt.Sprintf("a %v may not send %v", c.peer.Role(), m.Kind())
	c.qc.CloseWithError(CodeForbidden, why)
	t.cfg.Log.Warn().Stringer("peer", c.peer).Str("kind", m.Kind().String()).Msg("transport: closed connection: " + why)
}

// readFailed closes a connection whose stream ended or failed, saying why.
func (t *Transport) readFailed(c *conn, err error) {
	switch {
	case errors.Is(err, wire.ErrFrameTooLarge):
		t.stats.malformed.Add(1)
		c.qc.CloseWithError(CodeFrameTooLarge, reason(err))
		t.cfg.Log.Warn().Stringer("peer", c.peer).Err(err).Msg("transport: closed connection: oversized frame")
	case errors.Is(err, wire.ErrMalformed):
		t.stats.malformed.Add(1)
		c.qc.CloseWithError(CodeMalformed, reason(err))
		t.cfg.Log.Warn().Stringer("peer", c.peer).Err(err).Msg("transport: closed connection: malformed frame")
	case errors.Is(err, io.EOF):
		// The peer finished its stream: it is shutting down and has sent
		// everything. Closing tells it we have read it all.
		c.finished = true
		c.qc.CloseWithError(CodeClosed, "stream finished")
	default:
		c.qc.CloseWithError(CodeClosed, "read failed")
		if t.ctx.Err() == nil {
			t.cfg.Log.Info().Stringer("peer", c.peer).Err(err).Msg("transport: connection lost")
		}
	}
}

// writeLoop writes the peer's queued frames while c is the peer's current
// connection. On Close it drains the queue and finishes the stream.
func (t *Transport) writeLoop(c *conn) {
	defer t.wg.Done()
	bw := bufio.NewWriterSize(c.send, 64<<10)
	flushing := false
	for {
		select {
		case <-c.wake:
		case <-c.flush:
			flushing = true
		case <-c.done:
			return
		}
		for {
			frames := t.take(c)
			if len(frames) == 0 {
				break
			}
			for i, f := range frames {
				if _, err := bw.Write(f); err != nil {
					t.stats.droppedUnreachable.Add(uint64(len(frames) - i))
					c.qc.CloseWithError(CodeClosed, "write failed")
					return
				}
				t.stats.sent.Add(1)
				t.stats.sentBytes.Add(uint64(len(f)))
			}
			if err := bw.Flush(); err != nil {
				c.qc.CloseWithError(CodeClosed, "write failed")
				return
			}
		}
		if flushing {
			c.send.Close() // FIN: the peer closes the connection once it has read everything
			return
		}
	}
}

// take hands c the whole queue if c is its peer's current connection.
func (t *Transport) take(c *conn) [][]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.peers[c.peer]
	if p == nil || len(p.conns) == 0 || p.conns[len(p.conns)-1] != c {
		return nil
	}
	q := p.queue
	p.queue, p.qBytes = nil, 0
	return q
}

// Close stops accepting, gives queued messages up to FlushTimeout to be
// written and read, closes every connection and waits for the transport's
// goroutines (including Deliver calls in progress) to finish.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	conns := make([]*conn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	if t.ln != nil {
		t.ln.Close()
	}
	deadline := time.NewTimer(t.cfg.FlushTimeout)
	defer deadline.Stop()
	for _, c := range conns {
		close(c.flush)
	}
	for _, c := range conns {
		select {
		case <-c.qc.Context().Done(): // the peer read our FIN and closed
		case <-deadline.C:
			deadline.Reset(0) // expired: skip waiting for the rest
		}
	}
	t.cancel() // ends handshakes and dials in progress
	for _, c := range conns {
		c.qc.CloseWithError(CodeClosed, "transport closed")
	}
	t.wg.Wait()
	err := t.qt.Close()
	t.udp.Close()
	return err
}

// reason is err's text, bounded so it fits a CONNECTION_CLOSE frame.
func reason(err error) string {
	s := err.Error()
	if len(s) > 512 {
		s = s[:512]
	}
	return s
}

// Stats are cumulative counters since New, for metrics.
type Stats struct {
	Sent          uint64 // frames written to a stream
	SentBytes     uint64
	Received      uint64 // messages decoded and delivered
	ReceivedBytes uint64
	// Dropped is the sum of the Dropped* reasons below.
	Dropped            uint64
	DroppedQueueFull   uint64 // evicted as oldest from a full peer queue
	DroppedUnreachable uint64 // no connection and no address, peer in backoff, dial failed, or connection lost
	DroppedInvalid     uint64 // would not encode, or above MaxFrameBytes
	DroppedClosed      uint64 // sent after Close
	Malformed          uint64 // connections closed for an undecodable or oversized frame
	Forbidden          uint64 // connections closed for a message the peer's role may not send
	Refused            uint64 // connections refused: TLS handshake (certificate), hello, id in use, limits
	Dials              uint64
	DialFailures       uint64
	Conns              int // verified live connections now
}

type counters struct {
	sent, sentBytes, received, receivedBytes                            atomic.Uint64
	droppedQueueFull, droppedUnreachable, droppedInvalid, droppedClosed atomic.Uint64
	malformed, refused, dials, dialFailures, forbidden                  atomic.Uint64
}

// Stats returns a snapshot of the counters.
func (t *Transport) Stats() Stats {
	s := Stats{
		Sent: t.stats.sent.Load(), SentBytes: t.stats.sentBytes.Load(),
		Received: t.stats.received.Load(), ReceivedBytes: t.stats.receivedBytes.Load(),
		DroppedQueueFull: t.stats.droppedQueueFull.Load(), DroppedUnreachable: t.stats.droppedUnreachable.Load(),
		DroppedInvalid: t.stats.droppedInvalid.Load(), DroppedClosed: t.stats.droppedClosed.Load(),
		Malformed: t.stats.malformed.Load(), Refused: t.stats.refused.Load(), Forbidden: t.stats.forbidden.Load(),
		Dials: t.stats.dials.Load(), DialFailures: t.stats.dialFailures.Load(),
	}
	s.Dropped = s.DroppedQueueFull + s.DroppedUnreachable + s.DroppedInvalid + s.DroppedClosed
	t.mu.Lock()
	s.Conns = len(t.conns)
	t.mu.Unlock()
	return s
}
