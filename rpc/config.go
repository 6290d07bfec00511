package rpc

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lockd/lockd/internal/faults"
)

// DefaultMaxQueueBytes is the outbound byte budget of a connection whose
// Config leaves MaxQueueBytes 0 (unless two largest frames, headers
// included, need more).
const DefaultMaxQueueBytes = 8 << 20

// Bounds that Validate enforces.
const (
	minFrameSize = 1 << 10
	maxFrameSize = 1 << 30
	maxDepthCap  = 1000
)

// Config holds the limits and timeouts of one side of a connection. The
// same Config type serves Server and Dial.
type Config struct {
	// NodeID is this node's identity, sent in every handshake. Required
	// when dialing with KindPeer; optional otherwise. At most 255 bytes.
	NodeID string
	// MaxFrameSize is the largest frame body accepted, in bytes. A larger
	// declared length closes the connection before anything is allocated.
	// Large payloads (snapshots) travel in chunks below it (see SplitChunks).
	MaxFrameSize int
	// MaxDepth is the deepest msgpack nesting a body may have.
	MaxDepth int
	// MaxInFlight bounds the requests outstanding on one connection: Call
	// waits for a slot, and a server closes a connection whose peer
	// exceeds it.
	MaxInFlight int
	// SendQueueLen bounds the outbound frames waiting for the writer that
	// are not responses (one-way sends, pushes, pings).
	SendQueueLen int
	// PushQueueLen bounds the server-pushed frames waiting for the push
	// handler on the dial side; overflow closes the connection.
	PushQueueLen int
	// MaxQueueBytes is the byte budget of one connection's outbound
	// queue: every frame queued for the writer (answers, pushes, sends,
	// requests, control frames) counts, header included, until the writer
	// has written it, the frame it is blocked on included. On the server side an answer, push or pong that would
	// pass it closes the connection as a slow reader (ErrSlowConsumer);
	// on the dial side Send drops the message with ErrQueueFull. Requests
	// and control frames count but are never refused (MaxInFlight and the
	// ping interval bound them). 0 means DefaultMaxQueueBytes or two
	// largest frames (MaxFrameSize + 13 each), whichever is more;
	// otherwise at least MaxFrameSize + 13, so that one largest frame fits.
	MaxQueueBytes int
	// MaxConns bounds the connections a Server holds at once, counting
	// those still in their handshake; one more is closed as soon as it is
	// accepted, before any buffer is allocated for it. 0: no limit.
	MaxConns int
	// MaxConnsPerIP bounds a Server's connections from one remote IP
	// address, counted like MaxConns. Clients behind one proxy or NAT
	// share an address. 0: no limit.
	MaxConnsPerIP int
	// HandshakeTimeout bounds the whole handshake, on both sides. A
	// Server allocates a connection's read and write buffers only after
	// its handshake succeeded.
	HandshakeTimeout time.Duration
	// ReadTimeout closes a connection on which nothing arrived for this
	// long. The dial side sends a ping every PingInterval to keep an idle
	// connection alive. Zero disables the read deadline.
	ReadTimeout time.Duration
	// WriteTimeout bounds each batched write to the socket; a peer that
	// does not read for this long is disconnected.
	WriteTimeout time.Duration
	// PingInterval is how often the dial side pings. Zero disables pings;
	// otherwise it must be less than ReadTimeout.
	PingInterval time.Duration
	// DefaultCallTimeout is the deadline applied to a Call whose context
	// has none, so that every call has a deadline.
	DefaultCallTimeout time.Duration
	// WriteBufferSize is the size of the buffered writer that batches
	// frames into syscalls.
	WriteBufferSize int
	// TLS, if set, wraps every connection in TLS (see tls.go): on a
	// Server it is the server configuration (certificates, ClientAuth,
	// ClientCAs), on the dial side the client configuration. A dial side
	// whose TLS.ServerName is empty checks the server's certificate
	// against the host of the address it dials.
	TLS *tls.Config
	// ClientTLS, if set, gives the dial side's TLS configuration for the
	// host it dials, at each Dial (so that certificates reloaded in
	// between are used); it takes precedence over TLS on the dial side.
	ClientTLS func(serverName string) *tls.Config
	// VerifyIdentity, if set with TLS, is called after the TLS handshake
	// with the verified connection state and the node id the other side
	// sent in the lockd handshake (a server sees the dial side's, a dial
	// side the server's). An error refuses the connection
	// (ErrUnauthenticated) before any frame is read.
	VerifyIdentity func(state tls.ConnectionState, remoteID string) error
	// Logger receives one line per closed connection, with the reason.
	// Nil means no logging.
	Logger hclog.Logger

	// faults, if set, cuts and refuses connections on demand. Only this
	// module's tests and harnesses set it, through faults.AttachRPC.
	faults *faults.Injector
}

// DefaultConfig returns a Config with production defaults.
func DefaultConfig() Config {
	return Config{
		MaxFrameSize:       4 << 20,
		MaxDepth:           32,
		MaxInFlight:        256,
		SendQueueLen:       8192,
		PushQueueLen:       1024,
		MaxConns:           10_000,
		MaxConnsPerIP:      1_000,
		HandshakeTimeout:   5 * time.Second,
		ReadTimeout:        30 * time.Second,
		WriteTimeout:       10 * time.Second,
		PingInterval:       5 * time.Second,
		DefaultCallTimeout: 10 * time.Second,
		WriteBufferSize:    64 << 10,
	}
}

// Validate reports the first field out of range.
func (c Config) Validate() error {
	switch {
	case len(c.NodeID) > 255:
		return fmt.Errorf("rpc: config: NodeID longer than 255 bytes")
	case c.MaxFrameSize < minFrameSize || c.MaxFrameSize > maxFrameSize:
		return fmt.Errorf("rpc: config: MaxFrameSize %d outside [%d, %d]", c.MaxFrameSize, minFrameSize, maxFrameSize)
	case c.MaxDepth < 1 || c.MaxDepth > maxDepthCap:
		return fmt.Errorf("rpc: config: MaxDepth %d outside [1, %d]", c.MaxDepth, maxDepthCap)
	case c.MaxInFlight < 1:
		return fmt.Errorf("rpc: config: MaxInFlight must be positive")
	case c.SendQueueLen < 1:
		return fmt.Errorf("rpc: config: SendQueueLen must be positive")
	case c.PushQueueLen < 1:
		return fmt.Errorf("rpc: config: PushQueueLen must be positive")
	case c.MaxQueueBytes < 0 || (c.MaxQueueBytes > 0 && c.MaxQueueBytes < c.MaxFrameSize+headerLen):
		return fmt.Errorf("rpc: config: MaxQueueBytes %d must be 0 (the default) or at least MaxFrameSize + %d (%d)", c.MaxQueueBytes, headerLen, c.MaxFrameSize+headerLen)
	case c.MaxConns < 0:
		return fmt.Errorf("rpc: config: MaxConns must not be negative (0 is no limit)")
	case c.MaxConnsPerIP < 0:
		return fmt.Errorf("rpc: config: MaxConnsPerIP must not be negative (0 is no limit)")
	case c.HandshakeTimeout <= 0:
		return fmt.Errorf("rpc: config: HandshakeTimeout must be positive")
	case c.ReadTimeout < 0:
		return fmt.Errorf("rpc: config: ReadTimeout must not be negative")
	case c.WriteTimeout <= 0:
		return fmt.Errorf("rpc: config: WriteTimeout must be positive")
	case c.PingInterval < 0:
		return fmt.Errorf("rpc: config: PingInterval must not be negative")
	case c.ReadTimeout > 0 && c.PingInterval == 0:
		return fmt.Errorf("rpc: config: ReadTimeout needs a PingInterval to keep idle connections alive")
	case c.ReadTimeout > 0 && c.PingInterval >= c.ReadTimeout:
		return fmt.Errorf("rpc: config: PingInterval %v must be less than ReadTimeout %v", c.PingInterval, c.ReadTimeout)
	case c.DefaultCallTimeout <= 0:
		return fmt.Errorf("rpc: config: DefaultCallTimeout must be positive")
	case c.WriteBufferSize < 4<<10:
		return fmt.Errorf("rpc: config: WriteBufferSize must be at least 4096")
	}
	return nil
}

// queueBudget is the outbound byte budget of a connection: MaxQueueBytes,
// or for 0 the default.
func (c Config) queueBudget() int {
	if c.MaxQueueBytes > 0 {
		return c.MaxQueueBytes
	}
	return max(DefaultMaxQueueBytes, 2*(c.MaxFrameSize+headerLen))
}

func (c Config) logger() hclog.Logger {
	if c.Logger == nil {
		return hclog.NewNullLogger()
	}
	return c.Logger
}
