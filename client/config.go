package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lockd/lockd/internal/faults"
	"github.com/lockd/lockd/rpc"
)

// Config configures a Client. Start from DefaultConfig; a zero field of a
// Config given to New takes its default.
type Config struct {
	// Endpoints are client addresses of cluster members ("host:port"). Any
	// one reachable member is enough: followers name the leader.
	Endpoints []string
	// Logger receives the client's structured logs. Nil: no logging.
	Logger hclog.Logger
	// DialTimeout bounds the dial of one connection attempt (TCP dial and
	// handshake). While sessions are open, the whole attempt (the dial and
	// the attach of the sessions) is also bounded by the shortest session
	// TTL divided by the number of Endpoints (but given at least 100 ms),
	// so that reconnecting past an endpoint that does not answer leaves
	// time to renew the lease at another.
	DialTimeout time.Duration
	// RequestTimeout bounds a whole call whose context has no deadline,
	// retries included, so that every call has a deadline. It does not
	// bound the wait in a lock's queue (Acquire, Campaign): only the
	// caller's context does.
	RequestTimeout time.Duration
	// AttemptTimeout bounds one attempt of a request on one connection;
	// an attempt that runs out is retried (on a new connection). Keep it
	// above the server's RequestTimeout (5 s by default), after which the
	// server answers ErrNoQuorum itself. It also bounds the attach of the
	// open sessions to a new connection, which shares with the dial
	// (DialTimeout) at most the shortest session TTL divided by the number
	// of Endpoints (but at least 100 ms).
	AttemptTimeout time.Duration
	// BackoffBase is the first delay between rounds of attempts when no
	// leader answers; it doubles up to BackoffMax, with full jitter.
	BackoffBase time.Duration
	// BackoffMax caps the delay between rounds of attempts.
	BackoffMax time.Duration
	// SessionTTL is the TTL NewSession asks for unless WithTTL says
	// otherwise; the server clamps it to its range.
	SessionTTL time.Duration
	// Grace is how long, after its local lease ran out (the TTL counted
	// from the send of the last confirmed keep-alive), a session in
	// jeopardy keeps looking for the leader before it is declared expired.
	// Jeopardy itself starts earlier, at JeopardyAfter of the lease. Zero
	// means the session's TTL.
	Grace time.Duration
	// MaxFrameSize is the largest message, in bytes, the Client sends or
	// accepts on a connection (1 KiB to 1 GiB): a larger request fails
	// before it is sent, and a larger answer closes the connection. Keep
	// it at or below the servers' --max-frame-size (4 MiB by default),
	// which bounds the lock values and listings they send.
	MaxFrameSize int
	// PingInterval is how often the Client pings the server, so that an
	// idle connection is not taken for dead by either side. It must be
	// less than ReadTimeout, and than the servers' read timeout (30 s).
	PingInterval time.Duration
	// ReadTimeout closes a connection on which nothing (an answer, a push
	// or a pong) arrived for this long, and the Client reconnects: it is
	// how a server that vanished without closing the socket is noticed.
	ReadTimeout time.Duration
	// FailFast makes a call give up at once, with the round's
	// *UnreachableError, when a few rounds of attempts in a row (about
	// 100 ms) found every endpoint failing permanently (refused, not
	// resolvable, not a lockd client port: EndpointError.Permanent),
	// instead of retrying until its deadline. Off by default: a node
	// restarting refuses connections for a moment, which a long-running
	// service should ride out. Command-line tools set it.
	FailFast bool
	// TLS, if set, connects with TLS 1.3: the CAs to trust (RootCAs) and
	// this client's certificate (Certificates or GetClientCertificate),
	// which names its principal (lockd://client/NAME). LoadTLS builds one
	// from the three PEM files. Nil: plain connections, which a cluster
	// with TLS refuses (a *TLSError). Its ServerName is not used: every
	// connection checks the server's certificate against the host of the
	// address it dials, whether a configured endpoint, a leader hint or a
	// member's advertised address, so a hint cannot lead the Client to a
	// server without a certificate for that host from a trusted CA. A
	// refused certificate is not retried (see TLSError).
	TLS *tls.Config

	// faults, if set, cuts the Client's connections on demand; only this
	// module's tests and harnesses set it, through faults.AttachClient.
	faults *faults.Injector
	// clock drives leases, jeopardy and keep-alive timing; tests inject a
	// fake one. Nil: the machine's clock.
	clock clock
	// seed seeds the backoff jitter; 0: seeded from the time.
	seed uint64
	// dialer replaces the TCP dialer of every connection attempt; tests
	// inject endpoints that never answer. Nil: net.Dialer.
	dialer func(ctx context.Context, network, addr string) (net.Conn, error)
}

// DefaultConfig returns a Config with production defaults and no
// endpoints.
func DefaultConfig() Config {
	r := rpc.DefaultConfig()
	return Config{
		DialTimeout:    2 * time.Second,
		RequestTimeout: 30 * time.Second,
		AttemptTimeout: 6 * time.Second,
		BackoffBase:    25 * time.Millisecond,
		BackoffMax:     time.Second,
		SessionTTL:     10 * time.Second,
		MaxFrameSize:   r.MaxFrameSize,
		PingInterval:   r.PingInterval,
		ReadTimeout:    r.ReadTimeout,
	}
}

// withDefaults fills the zero fields of c from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.DialTimeout == 0 {
		c.DialTimeout = d.DialTimeout
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = d.RequestTimeout
	}
	if c.AttemptTimeout == 0 {
		c.AttemptTimeout = d.AttemptTimeout
	}
	if c.BackoffBase == 0 {
		c.BackoffBase = d.BackoffBase
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = d.BackoffMax
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = d.SessionTTL
	}
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = d.MaxFrameSize
	}
	if c.PingInterval == 0 {
		c.PingInterval = d.PingInterval
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = d.ReadTimeout
	}
	if c.clock == nil {
		c.clock = realClock{}
	}
	return c
}

// Validate reports the first unusable field.
func (c Config) Validate() error {
	switch {
	case len(c.Endpoints) == 0:
		return fmt.Errorf("%w: no endpoints", ErrInvalidConfig)
	case c.DialTimeout <= 0:
		return fmt.Errorf("%w: DialTimeout must be positive", ErrInvalidConfig)
	case c.RequestTimeout <= 0:
		return fmt.Errorf("%w: RequestTimeout must be positive", ErrInvalidConfig)
	case c.AttemptTimeout <= 0:
		return fmt.Errorf("%w: AttemptTimeout must be positive", ErrInvalidConfig)
	case c.BackoffBase <= 0 || c.BackoffMax < c.BackoffBase:
		return fmt.Errorf("%w: need 0 < BackoffBase <= BackoffMax", ErrInvalidConfig)
	case c.SessionTTL <= 0:
		return fmt.Errorf("%w: SessionTTL must be positive", ErrInvalidConfig)
	case c.Grace < 0:
		return fmt.Errorf("%w: Grace must not be negative", ErrInvalidConfig)
	}
	for _, e := range c.Endpoints {
		if e == "" {
			return fmt.Errorf("%w: empty endpoint", ErrInvalidConfig)
		}
		if err := checkEndpoint(e); err != nil {
			return err
		}
	}
	if err := c.rpcConfig(nil).Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// rpcConfig is the configuration of the Client's connections: rpc's
// defaults with the Config's transport fields, a call deadline of
// AttemptTimeout, log (nil: none) and the fault injector, if any.
func (c Config) rpcConfig(log hclog.Logger) rpc.Config {
	r := rpc.DefaultConfig()
	r.MaxFrameSize = c.MaxFrameSize
	r.PingInterval = c.PingInterval
	r.ReadTimeout = c.ReadTimeout
	r.DefaultCallTimeout = c.AttemptTimeout
	r.Logger = log
	if c.TLS != nil {
		r.ClientTLS = clientTLS(c.TLS)
	}
	if c.faults != nil {
		faults.AttachRPC(&r, c.faults)
	}
	return r
}
