package client

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lockd/lockd/rpc"
)

// connector owns the Client's one connection, which it keeps pointed at
// the leader: it dials endpoints in turn, follows NotLeader hints, runs
// the Client's attach step on every new connection before handing it out,
// and signals each new connection by closing and replacing a channel.
type connector struct {
	cfg       Config
	rpc       rpc.Config // cfg.rpcConfig: every connection's configuration
	log       hclog.Logger
	bo        *backoff
	ctx       context.Context // the Client's lifetime
	stop      <-chan struct{} // ctx.Done()
	onPush    func(conn *rpc.ClientConn, typ rpc.MsgType, body rpc.Body)
	onConnect func(ctx context.Context, conn *rpc.ClientConn) error
	// shortestTTL returns the shortest TTL of the open sessions, 0 if none.
	shortestTTL func() time.Duration

	sem chan struct{} // one token: one goroutine establishes at a time

	mu      sync.Mutex
	conn    *rpc.ClientConn // Invariant: nil, or attached by onConnect
	hint    string          // leader address from the last NotLeader, "" if none
	next    int             // next endpoint to try
	changed chan struct{}   // closed and replaced when conn is replaced
	// retired connections are no longer used for new calls but stay open
	// for AttemptTimeout so that calls in flight on them get their answers.
	retired map[*rpc.ClientConn]*time.Timer
	// failedAt and failErr record the last round that found no endpoint.
	failedAt time.Time
	failErr  error
}

func newConnector(ctx context.Context, cfg Config, log hclog.Logger, bo *backoff) *connector {
	return &connector{cfg: cfg, rpc: cfg.rpcConfig(log), log: log, bo: bo, ctx: ctx, stop: ctx.Done(), sem: make(chan struct{}, 1), changed: make(chan struct{}), retired: map[*rpc.ClientConn]*time.Timer{}}
}

// current returns the connection if it is open, and the channel closed at
// the next change of connection.
func (c *connector) current() (*rpc.ClientConn, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil && c.conn.Err() != nil {
		c.conn = nil
	}
	return c.conn, c.changed
}

// get returns the open connection, or makes one round of attempts to
// establish a new one: the last leader hint first, then every endpoint.
func (c *connector) get(ctx context.Context) (*rpc.ClientConn, error) {
	if conn, _ := c.current(); conn != nil {
		return conn, nil
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.stop:
		return nil, ErrClosed
	}
	defer func() { <-c.sem }()
	if conn, _ := c.current(); conn != nil {
		return conn, nil // another caller established it meanwhile
	}
	c.mu.Lock()
	failedAt, failErr := c.failedAt, c.failErr
	c.mu.Unlock()
	if failErr != nil && time.Since(failedAt) < c.cfg.BackoffBase {
		// A round just failed: callers that queued behind it share its
		// answer instead of dialing every endpoint again at once.
		return nil, failErr
	}
	conn, err := c.establish(ctx)
	c.mu.Lock()
	if errors.Is(err, ErrNoEndpoint) {
		c.failedAt, c.failErr = time.Now(), err
	} else {
		c.failErr = nil
	}
	c.mu.Unlock()
	return conn, err
}

// establish makes one round of attempts. Each NotLeader hint is tried next;
// the round ends after every endpoint was tried once (plus the hints).
func (c *connector) establish(ctx context.Context) (*rpc.ClientConn, error) {
	c.mu.Lock()
	queue := make([]string, 0, len(c.cfg.Endpoints)+1)
	if c.hint != "" {
		queue = append(queue, c.hint)
	}
	for i := range c.cfg.Endpoints {
		queue = append(queue, c.cfg.Endpoints[(c.next+i)%len(c.cfg.Endpoints)])
	}
	c.next = (c.next + 1) % len(c.cfg.Endpoints)
	c.mu.Unlock()

	var failed []EndpointError
	hops := 0
	for len(queue) > 0 {
		addr := queue[0]
		queue = queue[1:]
		conn, err := c.attempt(ctx, addr)
		if err == nil {
			c.publish(conn)
			c.log.Debug("connected", "addr", addr)
			return conn, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		select {
		case <-c.stop:
			return nil, ErrClosed
		default:
		}
		failed = append(failed, EndpointError{Addr: addr, Err: err})
		c.log.Debug("endpoint not usable", "addr", addr, "error", err)
		c.mu.Lock()
		if c.hint == addr {
			c.hint = ""
		}
		if hint, ok := notLeaderHint(err); ok && hint != "" && hint != addr && hops < len(c.cfg.Endpoints)+2 {
			hops++
			c.hint = hint
			queue = append([]string{hint}, queue...)
		}
		c.mu.Unlock()
	}
	return nil, &UnreachableError{Endpoints: failed}
}

// attempt makes one connection attempt: it dials addr, then attaches the
// open sessions to the new connection. While sessions are open, the two
// steps share one deadline, attemptTimeout from the attempt's start, so
// that a node which handshakes just inside it and then hangs the attach
// costs the round that share and not twice it; each step keeps its own
// bound as well (dialTimeout, attachTimeout), whichever is sooner.
func (c *connector) attempt(ctx context.Context, addr string) (*rpc.ClientConn, error) {
	if d := c.attemptTimeout(); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	conn, err := c.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	if err := c.attach(ctx, conn); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return conn, nil
}

// minStepTimeout is the least time a connection attempt, and each of its
// steps (the dial, the attach), gets while sessions are open, unless its
// own timeout is shorter still.
const minStepTimeout = 100 * time.Millisecond

// stepTimeout bounds a connection attempt, or one of its steps, whose own
// timeout is limit: while sessions are open, also by the shortest session
// TTL divided by the number of endpoints (ZooKeeper's rule), so that one
// unanswering endpoint cannot use up a lease that another could still
// renew.
func (c *connector) stepTimeout(limit time.Duration) time.Duration {
	if ttl := c.shortestTTL(); ttl > 0 {
		limit = min(limit, max(ttl/time.Duration(len(c.cfg.Endpoints)), minStepTimeout))
	}
	return limit
}

// attemptTimeout bounds a whole connection attempt, the dial and the
// attach together, while sessions are open: stepTimeout of the two steps'
// own timeouts added up. It is 0 when no session is open: then only each
// step's own timeout bounds the attempt.
func (c *connector) attemptTimeout() time.Duration {
	if c.shortestTTL() <= 0 {
		return 0
	}
	return c.stepTimeout(c.cfg.DialTimeout + c.cfg.AttemptTimeout)
}

// dialTimeout bounds the dial (TCP and handshake) of one connection
// attempt: DialTimeout, cut by stepTimeout.
func (c *connector) dialTimeout() time.Duration { return c.stepTimeout(c.cfg.DialTimeout) }

// attachTimeout bounds the attach step on a new connection:
// AttemptTimeout, cut by stepTimeout.
func (c *connector) attachTimeout() time.Duration { return c.stepTimeout(c.cfg.AttemptTimeout) }

// attach runs the Client's attach step (onConnect) on a new connection,
// bounded by attachTimeout: a node that handshakes and then does not
// answer costs no more than one that does not answer the dial.
func (c *connector) attach(ctx context.Context, conn *rpc.ClientConn) error {
	actx, cancel := context.WithTimeout(ctx, c.attachTimeout())
	defer cancel()
	return c.onConnect(actx, conn)
}

func (c *connector) dial(ctx context.Context, addr string) (*rpc.ClientConn, error) {
	dctx, cancel := context.WithTimeout(ctx, c.dialTimeout())
	defer cancel()
	var self atomic.Pointer[rpc.ClientConn]
	conn, err := rpc.Dial(dctx, addr, rpc.KindClient, c.rpc, c.dialOptions(rpc.WithPushHandler(func(typ rpc.MsgType, body rpc.Body) {
		c.onPush(self.Load(), typ, body)
	}))...)
	if err != nil {
		return nil, tlsError(addr, c.cfg.TLS, err)
	}
	self.Store(conn)
	return conn, nil
}

// dialPlain dials addr without a push handler, for one-off requests.
func (c *connector) dialPlain(ctx context.Context, addr string) (*rpc.ClientConn, error) {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	conn, err := rpc.Dial(dctx, addr, rpc.KindClient, c.rpc, c.dialOptions()...)
	if err != nil {
		return nil, tlsError(addr, c.cfg.TLS, err)
	}
	return conn, nil
}

// dialOptions adds the injected TCP dialer, if any, to opts.
func (c *connector) dialOptions(opts ...rpc.DialOption) []rpc.DialOption {
	if c.cfg.dialer != nil {
		opts = append(opts, rpc.WithDialer(c.cfg.dialer))
	}
	return opts
}

func (c *connector) publish(conn *rpc.ClientConn) {
	c.mu.Lock()
	old := c.conn
	c.conn = conn
	close(c.changed)
	c.changed = make(chan struct{})
	if old != nil && old != conn {
		c.retireLocked(old)
	}
	c.mu.Unlock()
}

// retireLocked closes conn once the calls in flight on it had their time.
// The caller holds c.mu.
func (c *connector) retireLocked(conn *rpc.ClientConn) {
	if _, ok := c.retired[conn]; ok || conn.Err() != nil {
		return
	}
	c.retired[conn] = time.AfterFunc(c.cfg.AttemptTimeout, func() {
		c.mu.Lock()
		delete(c.retired, conn)
		c.mu.Unlock()
		_ = conn.Close()
	})
}

// retire stops using conn for new calls (a LeaderChanged push said its
// node no longer leads) without cutting the calls in flight on it.
func (c *connector) retire(conn *rpc.ClientConn, hint string) {
	if conn == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if hint != "" && hint != conn.Addr() {
		c.hint = hint
	}
	if c.conn == conn {
		c.conn = nil
		close(c.changed)
		c.changed = make(chan struct{})
	}
	c.retireLocked(conn)
}

// invalidate drops conn if it is the current connection, remembering hint
// (a leader address, or "" to move on to the next endpoint).
func (c *connector) invalidate(conn *rpc.ClientConn, hint string) {
	if conn == nil {
		return
	}
	c.mu.Lock()
	if hint != "" && hint != conn.Addr() {
		c.hint = hint
	} else if c.hint == conn.Addr() {
		c.hint = ""
	}
	if c.conn == conn {
		c.conn = nil
		close(c.changed)
		c.changed = make(chan struct{})
	}
	c.mu.Unlock()
	_ = conn.Close()
}

// maintain reconnects in the background whenever the connection is gone
// and wanted reports that sessions or observers need one, so that they are
// re-attached promptly after a leader change. It returns when stop closes.
func (c *connector) maintain(wanted func() bool) {
	ctx := c.ctx
	for failures := 0; ; {
		conn, changed := c.current()
		if conn != nil {
			failures = 0
			select {
			case <-conn.Done():
			case <-changed:
			case <-c.stop:
				return
			}
			continue
		}
		if !wanted() {
			select {
			case <-changed:
			case <-c.stop:
				return
			}
			continue
		}
		actx, acancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
		_, err := c.get(actx)
		acancel()
		if err == nil {
			continue
		}
		if errors.Is(err, ErrClosed) || ctx.Err() != nil {
			return
		}
		if c.bo.sleep(ctx, failures, c.stop) != nil {
			return
		}
		failures++
	}
}

// close closes the current and the retired connections.
func (c *connector) close() {
	c.mu.Lock()
	conns := make([]*rpc.ClientConn, 0, len(c.retired)+1)
	if c.conn != nil {
		conns = append(conns, c.conn)
	}
	for conn, t := range c.retired {
		t.Stop()
		conns = append(conns, conn)
	}
	c.conn = nil
	c.retired = map[*rpc.ClientConn]*time.Timer{}
	c.mu.Unlock()
	for _, conn := range conns {
		_ = conn.Close()
	}
}
