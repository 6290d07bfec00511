package rpc

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error the package returns for a peer's or caller's
// mistake wraps one of these; match them with errors.Is.
var (
	// ErrBadMagic: the other side does not speak the lockd protocol.
	ErrBadMagic = errors.New("rpc: bad handshake magic")
	// ErrHTTPPort: an HTTP server answered the handshake, so the address
	// is an HTTP port (lockd's --http-addr, say), not a lockd port. It
	// comes wrapped with ErrBadMagic.
	ErrHTTPPort = errors.New("rpc: an HTTP server answered: that is an HTTP port, not a lockd port")
	// ErrVersionMismatch: both sides speak lockd, but different versions.
	ErrVersionMismatch = errors.New("rpc: protocol version mismatch")
	// ErrBadKind: the connection kind is unknown or not served here.
	ErrBadKind = errors.New("rpc: bad connection kind")
	// ErrBadNodeID: a peer handshake without a usable node id.
	ErrBadNodeID = errors.New("rpc: bad node id in handshake")
	// ErrRefused: the server refused the handshake (it is closing, or a
	// test's fault injector blocks this peer).
	ErrRefused = errors.New("rpc: connection refused by server")
	// ErrTLSRequired: a plain connection reached a server that requires
	// TLS (Config.TLS is set on the server and not on the dial side).
	ErrTLSRequired = errors.New("rpc: the server requires TLS; give this side a TLS configuration (CA, certificate and key)")
	// ErrServerNotTLS: a TLS dial side reached a lockd server that does
	// not use TLS.
	ErrServerNotTLS = errors.New("rpc: the server does not use TLS (it was started without certificates)")
	// ErrUnauthenticated: the certificate is valid, but the identity it
	// names may not use the node id sent in the handshake (a peer claiming
	// another node's id), or names no identity of the kind this port
	// serves. Returned on the side that decided, and on the dial side when
	// the server decided.
	ErrUnauthenticated = errors.New("rpc: identity not accepted")
	// ErrFrameTooLarge: a frame's declared body length exceeds MaxFrameSize.
	ErrFrameTooLarge = errors.New("rpc: frame too large")
	// ErrUnknownType: a frame type that this side does not accept.
	ErrUnknownType = errors.New("rpc: unknown message type")
	// ErrDecode: a body that is not well-formed msgpack or does not decode
	// into the expected value.
	ErrDecode = errors.New("rpc: undecodable body")
	// ErrTooDeep: a msgpack body nested deeper than MaxDepth.
	ErrTooDeep = errors.New("rpc: msgpack nesting too deep")
	// ErrTooManyInFlight: the peer sent more concurrent requests than
	// MaxInFlight allows.
	ErrTooManyInFlight = errors.New("rpc: too many requests in flight")
	// ErrProtocol: any other violation of the framing rules (a response to
	// an unknown request id, a duplicate request id, a body where none is
	// allowed).
	ErrProtocol = errors.New("rpc: protocol violation")
	// ErrQueueFull: a one-way Send found the outbound queue full
	// (SendQueueLen frames or MaxQueueBytes bytes); the message was
	// dropped and the connection stays up.
	ErrQueueFull = errors.New("rpc: outbound queue full")
	// ErrSlowConsumer: the other side does not read fast enough (answers
	// and pushes past the server's MaxQueueBytes, or a full push queue on
	// either side); the connection is closed.
	ErrSlowConsumer = errors.New("rpc: slow consumer disconnected")
	// ErrClosed: the connection or server was closed locally.
	ErrClosed = errors.New("rpc: connection closed")
	// ErrConnLost: the connection broke (remote close, I/O error, a
	// protocol error, or a test's fault injector cutting it); it wraps the
	// cause.
	ErrConnLost = errors.New("rpc: connection lost")
	// ErrBadType: the caller used a message type outside 1..MaxUserType.
	ErrBadType = errors.New("rpc: message type out of range")
	// ErrChunk: a chunk of a large payload is out of order or over limit.
	ErrChunk = errors.New("rpc: bad chunk")
)

// Error codes below FirstUserCode are reserved for rpc itself; higher
// layers define their own codes from FirstUserCode up and map them back
// to their sentinels.
const (
	// CodeInternal: the handler returned an error without a code.
	CodeInternal uint32 = 1
	// CodeCanceled: the handler returned context.Canceled.
	CodeCanceled uint32 = 2
	// CodeDeadlineExceeded: the handler returned context.DeadlineExceeded.
	CodeDeadlineExceeded uint32 = 3
	// CodeShuttingDown: the server is shutting down and took no new
	// request; the caller may retry elsewhere.
	CodeShuttingDown uint32 = 4
	// FirstUserCode is the first code available to other packages.
	FirstUserCode uint32 = 100
)

// RemoteError is an error returned by the remote handler, carried over the
// wire as a numeric code and a message. A handler returns one (or any error
// that implements Coder) to choose the code; Call returns it to the caller,
// who finds it with errors.As.
type RemoteError struct {
	Code    uint32
	Message string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("rpc: remote error %d: %s", e.Code, e.Message)
}

// Errorf returns a *RemoteError with the given code and formatted message.
func Errorf(code uint32, format string, args ...any) *RemoteError {
	return &RemoteError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Coder is implemented by errors that carry their own wire code. Packages
// that must not import rpc can still choose their code by implementing it.
type Coder interface {
	RPCCode() uint32
}

// wireError is the body of a TypeError frame.
type wireError struct {
	Code    uint32
	Message string
}
