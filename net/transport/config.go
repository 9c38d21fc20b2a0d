package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/rs/zerolog"

	"github.com/weirmq/weir/net/pki"
	"github.com/weirmq/weir/net/tlsutil"
	"github.com/weirmq/weir/net/wire"
	"github.com/weirmq/weir/sm"
)

// Config is one node's transport. Zero values of the tuning fields mean the
// defaults documented on each.
type Config struct {
	// Self and Role are this node's identity, sent in every Hello; the
	// certificate in ClientTLS must be allowed to claim them (Authorize).
	Self sm.NodeID
	Role wire.Role
	// Listen is the UDP address to accept connections on (the reference's
	// quic_listen, e.g. ":9092"); empty for a client, which only dials and
	// receives its replies over the connections it opened.
	Listen string
	// ServerTLS is the listener's config (tlsutil.LoadServerConfig); it must
	// require and verify client certificates. Needed only with Listen.
	ServerTLS *tls.Config
	// ClientTLS is the dialer's config (tlsutil.LoadClientConfig), with this
	// node's certificate. Required: every node dials.
	ClientTLS *tls.Config
	// Addresses says where to dial a node ("host:port"): controllers from
	// configuration, brokers from metadata. It is called from Send without
	// the transport's lock held, and must not block. Clients have no address:
	// messages to them go only over their own connections.
	Addresses func(sm.NodeID) (string, bool)
	// Deliver receives every decoded message, from the connection's reader
	// goroutine; from is the peer as its certificate authenticated it,
	// never a claimed field. Blocking in Deliver (say, Loop.Post on a full
	// queue) stalls only that connection, and QUIC flow control pushes back
	// on its sender. It must return eventually: Close waits for it.
	Deliver func(from Peer, m sm.Message)
	// Principals maps a verified peer certificate to its principal (the
	// name ACLs grant to); nil uses the certificate's CommonName.
	Principals pki.PrincipalMapper
	// Refused, when set, hears of every inbound connection refused (a TLS
	// handshake that failed: no certificate, an unknown CA, an expired
	// one; or an identity the certificate does not allow): the remote
	// address, the certificate's CommonName when one was verified, and
	// why. The process writes it to its audit log. It must not block.
	Refused func(remote, name, reason string)
	// Revoked, when set, says whether a certificate serial (lowercase hex,
	// pki.SerialString) is revoked: such a certificate is refused at the
	// handshake, and CloseRevoked closes its live connections.
	Revoked func(serial string) bool
	// Disconnected, when set, hears of every verified connection that
	// ended, once it is unregistered: the peer, why (who closed it, with
	// which code and reason: a revoked certificate, a shutdown, a refused
	// message, an idle timeout), and how many live connections the peer
	// still has. A client uses it to fail the requests waiting on a
	// connection the broker closed at once, rather than at their
	// timeouts. It is called from the connection's reader goroutine and
	// must not block.
	Disconnected func(peer Peer, why *CloseError, remaining int)
	// MaxFrameBytes bounds one frame in either direction (default
	// wire.DefaultMaxFrameBytes). Larger outgoing messages are dropped and
	// counted; a peer announcing a larger frame is disconnected before the
	// body is read.
	MaxFrameBytes int
	// QueueMessagesMax and QueueBytesMax bound each peer's outbound queue
	// (defaults 4096 messages, 32 MiB). When either would be exceeded the
	// oldest queued messages are dropped: the state machines retry on their
	// own timers, and the newest message (the latest heartbeat, fetch or
	// reply) is the one worth delivering.
	QueueMessagesMax int
	QueueBytesMax    int
	// HandshakeTimeout bounds a dial or an accept from the first packet to
	// the verified Hello (default 5 s).
	HandshakeTimeout time.Duration
	// BackoffMin and BackoffMax bound the wait before redialling a peer after
	// consecutive failed dials: it doubles per failure from BackoffMin, capped
	// at BackoffMax, with ±50% jitter (defaults 100 ms, 10 s). Messages to a
	// peer in backoff are dropped and counted.
	BackoffMin, BackoffMax time.Duration
	// FlushTimeout bounds how long Close waits for queued messages to be
	// written and read by peers (default 1 s).
	FlushTimeout time.Duration
	// ConnsMax bounds live connections, inbound and outbound together
	// (default 10000, the reference's max_connections); a connection beyond
	// it is closed with CodeOverloaded as soon as its handshake completes.
	ConnsMax int
	// QUIC holds the QUIC tuning knobs.
	QUIC QUICConfig
	// Log receives the transport's connection events (connects, refusals,
	// dial failures, lost connections) and messages it had to drop; never
	// one line per delivered message. The zero value discards them.
	Log zerolog.Logger
}

// QUICConfig maps the reference's [network.quic_config] onto quic-go.
type QUICConfig struct {
	// IdleTimeout closes a connection without traffic (max_idle_timeout_ms;
	// default 30 s).
	IdleTimeout time.Duration
	// KeepAlivePeriod pings an idle connection so it survives quiet periods
	// (default IdleTimeout/3). Negative disables keep-alives.
	KeepAlivePeriod time.Duration
	// MaxIncomingUniStreams (max_concurrent_uni_streams) and
	// MaxIncomingStreams (max_concurrent_bidi_streams) bound the streams a
	// peer may open. Weir uses exactly one unidirectional stream per
	// direction per connection, so the defaults are 1 and none; higher
	// values only matter to a future protocol version.
	MaxIncomingUniStreams int64
	MaxIncomingStreams    int64
	// StreamReceiveWindow (max_stream_data) and ConnectionReceiveWindow
	// (max_connection_data) cap the flow-control windows, i.e. how much a
	// peer may have in flight unread (defaults: quic-go's 6 MiB and 15 MiB).
	StreamReceiveWindow     uint64
	ConnectionReceiveWindow uint64
}

// withDefaults validates c and fills in defaults.
func (c Config) withDefaults() (Config, error) {
	role, ok := RoleOf(c.Self)
	switch {
	case c.Self == sm.NoNode:
		return c, errors.New("transport: Self must be set")
	case !ok:
		return c, fmt.Errorf("transport: Self %v is an admin id, which never connects (want a controller, broker or client id)", c.Self)
	case role != c.Role:
		return c, fmt.Errorf("transport: node %d is a %v id, not a %v", uint64(c.Self), role, c.Role)
	case c.Deliver == nil:
		return c, errors.New("transport: Deliver must be set")
	case c.ClientTLS == nil:
		return c, errors.New("transport: ClientTLS must be set")
	case c.Listen != "" && c.ServerTLS == nil:
		return c, errors.New("transport: ServerTLS must be set to listen")
	case c.Listen != "" && c.ServerTLS.ClientAuth != tls.RequireAndVerifyClientCert:
		return c, errors.New("transport: ServerTLS must require and verify client certificates (tls.RequireAndVerifyClientCert)")
	case c.MaxFrameBytes < 0 || c.QueueMessagesMax < 0 || c.QueueBytesMax < 0 || c.ConnsMax < 0:
		return c, errors.New("transport: limits must not be negative")
	}
	own, err := ownCert(c.ClientTLS)
	if err != nil {
		return c, err
	}
	if err := AuthorizeCert(own, c.Role, c.Self); err != nil {
		return c, fmt.Errorf("transport: own certificate: %w", err)
	}
	if c.Addresses == nil {
		c.Addresses = func(sm.NodeID) (string, bool) { return "", false }
	}
	c.MaxFrameBytes = orDefault(c.MaxFrameBytes, wire.DefaultMaxFrameBytes)
	c.QueueMessagesMax = orDefault(c.QueueMessagesMax, 4096)
	c.QueueBytesMax = orDefault(c.QueueBytesMax, 32<<20)
	c.HandshakeTimeout = orDefault(c.HandshakeTimeout, 5*time.Second)
	c.BackoffMin = orDefault(c.BackoffMin, 100*time.Millisecond)
	c.BackoffMax = max(orDefault(c.BackoffMax, 10*time.Second), c.BackoffMin)
	c.FlushTimeout = orDefault(c.FlushTimeout, time.Second)
	c.ConnsMax = orDefault(c.ConnsMax, 10000)
	q := &c.QUIC
	q.IdleTimeout = orDefault(q.IdleTimeout, 30*time.Second)
	q.KeepAlivePeriod = orDefault(q.KeepAlivePeriod, q.IdleTimeout/3)
	q.MaxIncomingUniStreams = orDefault(q.MaxIncomingUniStreams, 1)
	q.MaxIncomingStreams = orDefault(q.MaxIncomingStreams, -1)
	return c, nil
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

func (c *Config) quicConfig() *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout:       c.HandshakeTimeout,
		MaxIdleTimeout:             c.QUIC.IdleTimeout,
		KeepAlivePeriod:            max(c.QUIC.KeepAlivePeriod, 0),
		MaxIncomingUniStreams:      c.QUIC.MaxIncomingUniStreams,
		MaxIncomingStreams:         c.QUIC.MaxIncomingStreams,
		MaxStreamReceiveWindow:     c.QUIC.StreamReceiveWindow,
		MaxConnectionReceiveWindow: c.QUIC.ConnectionReceiveWindow,
	}
}

// ownCert is the certificate a config presents.
func ownCert(tc *tls.Config) (*x509.Certificate, error) {
	if len(tc.Certificates) == 0 || len(tc.Certificates[0].Certificate) == 0 {
		return nil, errors.New("transport: ClientTLS has no certificate: mutual TLS needs one")
	}
	leaf := tc.Certificates[0].Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(tc.Certificates[0].Certificate[0]); err != nil {
			return nil, fmt.Errorf("transport: own certificate: %w", err)
		}
	}
	return leaf, nil
}

// peerName is the verified CommonName of the other side of qc.
func peerName(qc *quic.Conn) (string, error) {
	return tlsutil.PeerName(qc.ConnectionState().TLS)
}

// Peer is who sent a message: the node ID the connection's Hello claimed
// and its certificate allows, the principal the certificate maps to
// (Config.Principals), its certificate's serial (pki.SerialString, the
// registry's form), and the address the connection comes from.
type Peer struct {
	ID        sm.NodeID
	Principal string
	Serial    string
	Addr      netip.Addr
}

// handshakeContext bounds one dial or accept.
func (t *Transport) handshakeContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.ctx, t.cfg.HandshakeTimeout)
}
