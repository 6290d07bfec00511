package client

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"

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
	// Grace is how long a session in jeopardy (its local lease ran out)
	// keeps looking for the leader before it is declared expired. Zero
	// means the session's TTL.
	Grace time.Duration
	// FailFast makes a call give up at once, with the round's
	// *UnreachableError, when a few rounds of attempts in a row (about
	// 100 ms) found every endpoint failing permanently (refused, not
	// resolvable, not a lockd client port: EndpointError.Permanent),
	// instead of retrying until its deadline. Off by default: a node
	// restarting refuses connections for a moment, which a long-running
	// service should ride out. Command-line tools set it.
	FailFast bool
	// RPC configures the connections (frame limits, pings, timeouts). If
	// its MaxFrameSize is zero it is taken as unset: rpc.DefaultConfig(),
	// keeping only its Faults and Logger.
	RPC rpc.Config

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
	return Config{
		DialTimeout:    2 * time.Second,
		RequestTimeout: 30 * time.Second,
		AttemptTimeout: 6 * time.Second,
		BackoffBase:    25 * time.Millisecond,
		BackoffMax:     time.Second,
		SessionTTL:     10 * time.Second,
		RPC:            rpc.DefaultConfig(),
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
	if c.RPC.MaxFrameSize == 0 { // an unset RPC config: defaults, keeping the hooks
		faults, logger := c.RPC.Faults, c.RPC.Logger
		c.RPC = d.RPC
		c.RPC.Faults, c.RPC.Logger = faults, logger
	}
	if c.RPC.DefaultCallTimeout == 0 {
		c.RPC.DefaultCallTimeout = c.AttemptTimeout
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
	if err := c.RPC.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}
