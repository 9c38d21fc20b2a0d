package transport

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/quic-go/quic-go"

	"github.com/weirmq/weir/sm"
)

// CloseError says why a connection ended, or why a peer refused one at the
// handshake: who the peer was, whether it (Remote) or this node closed it,
// and the application error code and reason it closed with (the Code*
// constants), or the QUIC-level cause (an idle timeout, a stateless reset
// after the peer restarted, a TLS alert). Config.Disconnected hears it for
// every verified connection that ends; Connect's errors wrap it when the
// server refused the connection. It unwraps to quic-go's error (a
// *quic.ApplicationError, *quic.TransportError, *quic.IdleTimeoutError,
// *quic.StatelessResetError, ...).
type CloseError struct {
	// Peer is the node at the other end (sm.NoNode when a handshake
	// failed before its certificate named one).
	Peer sm.NodeID
	// Addr is the peer's address, when known ("host:port").
	Addr string
	// Remote is true when the peer closed the connection or refused it.
	Remote bool
	// Application is true when the connection was closed with an
	// application error: Code and Reason are then set.
	Application bool
	Code        quic.ApplicationErrorCode
	Reason      string
	// Handshake is true when the connection never carried messages: the
	// peer refused it before answering with its Hello.
	Handshake bool
	// Err is quic-go's error.
	Err error
}

func (e *CloseError) Error() string {
	who := e.peerText()
	switch {
	case e.Application && e.Remote && e.Handshake:
		return fmt.Sprintf("connection refused by %s: %s (code %d, %s)", who, e.Reason, uint64(e.Code), CodeName(e.Code))
	case e.Application && e.Remote:
		return fmt.Sprintf("connection closed by %s: %s (code %d, %s)", who, e.Reason, uint64(e.Code), CodeName(e.Code))
	case e.Application:
		return fmt.Sprintf("connection to %s closed by this node: %s (code %d, %s)", who, e.Reason, uint64(e.Code), CodeName(e.Code))
	case e.Remote && e.Handshake:
		return fmt.Sprintf("TLS handshake refused by %s: %v", who, e.Err)
	}
	return fmt.Sprintf("connection to %s lost: %v", who, e.Err)
}

// Unwrap returns quic-go's error.
func (e *CloseError) Unwrap() error { return e.Err }

// Revoked reports whether the peer closed or refused the connection because
// this node's certificate is revoked.
func (e *CloseError) Revoked() bool {
	return e.Application && e.Remote && e.Code == CodeRevoked
}

func (e *CloseError) peerText() string {
	if r, ok := RoleOf(e.Peer); ok {
		s := r.String() + " " + strconv.FormatUint(uint64(e.Peer), 10)
		if e.Addr != "" {
			s += " at " + e.Addr
		}
		return s
	}
	if e.Addr != "" {
		return e.Addr
	}
	return "the peer"
}

// CodeName names an application error code ("revoked", "identity", ...).
func CodeName(c quic.ApplicationErrorCode) string {
	switch c {
	case CodeClosed:
		return "closed"
	case CodeProtocol:
		return "protocol"
	case CodeIdentity:
		return "identity"
	case CodeMalformed:
		return "malformed"
	case CodeFrameTooLarge:
		return "frame too large"
	case CodeOverloaded:
		return "overloaded"
	case CodeForbidden:
		return "forbidden"
	case CodeRevoked:
		return "revoked"
	}
	return "unknown code"
}

// closeError describes cause, quic-go's reason for ending a connection to
// peer. It returns nil when cause says nothing about the connection.
func closeError(peer sm.NodeID, addr string, cause error) *CloseError {
	if cause == nil {
		return nil
	}
	e := &CloseError{Peer: peer, Addr: addr, Err: cause}
	var ae *quic.ApplicationError
	var te *quic.TransportError
	var ie *quic.IdleTimeoutError
	var he *quic.HandshakeTimeoutError
	var sr *quic.StatelessResetError
	switch {
	case errors.As(cause, &ae):
		e.Application, e.Remote, e.Code, e.Reason = true, ae.Remote, ae.ErrorCode, ae.ErrorMessage
	case errors.As(cause, &te):
		e.Remote = te.Remote
	case errors.As(cause, &sr):
		e.Remote = true // the peer lost the connection's state: it restarted
	case errors.As(cause, &ie), errors.As(cause, &he):
	default:
		return nil
	}
	return e
}

// refusal turns a dial's failure into a *CloseError when the server refused
// the connection (closed it before its Hello); other errors are returned as
// they are.
func refusal(c *conn, addr string, err error) error {
	e := closeError(c.peer, addr, err)
	if e == nil || !e.Remote {
		return err
	}
	e.Handshake = true
	return e
}

// errRevoked marks identify's refusal of a revoked certificate, which is
// closed with CodeRevoked rather than CodeIdentity.
var errRevoked = errors.New("revoked")

// identityCode is the code a failed identity check closes with.
func identityCode(err error) quic.ApplicationErrorCode {
	if errors.Is(err, errRevoked) {
		return CodeRevoked
	}
	return CodeIdentity
}
