package transport

import (
	"context"
	"errors"
	"net"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlogwriter"
)

// Handshakes that TLS refuses — a client without a certificate, one from a
// CA this node does not trust, an expired one — never become connections
// quic-go hands to Accept, so accept cannot see them. They are observed
// from quic-go's hooks instead: ConnContext records each inbound
// connection's remote address in the connection's context, and the tracer
// hook, which quic-go calls with that context, asks to hear when it ends
// (quic-go cancels it with the reason the connection closed). A
// connection this node closed with a TLS alert was refused by TLS: it is
// logged, with the reason, and counted in Stats.Refused. The tracer
// returns no trace, so quic-go records no events: the hook costs nothing
// per packet.

type remoteAddrKey struct{}

// connContext is quic.Transport.ConnContext: it notes the client's address.
func connContext(ctx context.Context, ci *quic.ClientInfo) (context.Context, error) {
	return context.WithValue(ctx, remoteAddrKey{}, ci.RemoteAddr), nil
}

// traceConn is quic.Config.Tracer: for inbound connections, it arranges
// for onInboundEnd when the connection ends.
func (t *Transport) traceConn(ctx context.Context, isClient bool, _ quic.ConnectionID) qlogwriter.Trace {
	if !isClient {
		context.AfterFunc(ctx, func() { t.onInboundEnd(ctx) })
	}
	return nil
}

// onInboundEnd logs and counts an inbound connection that TLS refused.
func (t *Transport) onInboundEnd(ctx context.Context) {
	var te *quic.TransportError
	if !errors.As(context.Cause(ctx), &te) || te.Remote || !te.ErrorCode.IsCryptoError() {
		return // not refused by this node's TLS: closed later, or by the peer
	}
	remote := "unknown"
	if a, ok := ctx.Value(remoteAddrKey{}).(net.Addr); ok {
		remote = a.String()
	}
	t.stats.refused.Add(1)
	t.cfg.Log.Warn().Str("remote", remote).Err(te).Msg("transport: refused TLS handshake")
	if t.cfg.Refused != nil {
		t.cfg.Refused(remote, "", "TLS handshake: "+te.Error())
	}
}
