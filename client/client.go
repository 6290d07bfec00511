package client

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/rpc"
)

// Client is a connection to a lockd cluster: it finds the leader, keeps
// its sessions alive with one background keep-alive loop, and routes the
// server's pushes to sessions, locks and observers. Safe for concurrent
// use. Close it when done.
type Client struct {
	cfg   Config
	log   hclog.Logger
	clk   clock
	bo    *backoff
	conns *connector

	ctx    context.Context // ends when Close begins
	cancel context.CancelFunc
	wg     sync.WaitGroup // background goroutines
	kick   chan struct{}  // cap 1: wakes the keep-alive loop

	retries atomic.Uint64 // attempts repeated by do (for tests and debugging)

	mu        sync.Mutex
	closed    bool
	sessions  map[uint64]*Session // live sessions (safe or in jeopardy)
	observers map[*observer]struct{}
}

// New returns a Client for the cluster at cfg.Endpoints. It does not
// connect yet: the first call does, and fails if no endpoint answers.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	log = log.Named("client")
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		cfg:       cfg,
		log:       log,
		clk:       cfg.clock,
		bo:        newBackoff(cfg.BackoffBase, cfg.BackoffMax, cfg.seed),
		ctx:       ctx,
		cancel:    cancel,
		kick:      make(chan struct{}, 1),
		sessions:  make(map[uint64]*Session),
		observers: make(map[*observer]struct{}),
	}
	c.conns = newConnector(ctx, cfg, log, c.bo)
	c.conns.onPush = c.onPush
	c.conns.onConnect = c.attach
	c.conns.shortestTTL = c.shortestTTL
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		c.conns.maintain(c.wantsConn)
	}()
	go func() {
		defer c.wg.Done()
		c.keepAliveLoop()
	}()
	return c, nil
}

// Close stops the Client's goroutines and closes its connection. Sessions
// still open end locally (Done closes, their locks' Lost close) but are not
// closed on the server, which expires them after their TTL: close them
// with Session.Close first to free their locks at once.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	live := make([]*Session, 0, len(c.sessions))
	for _, s := range c.sessions {
		live = append(live, s)
	}
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	c.conns.close()
	for _, s := range live {
		s.end(SessionClosed, ErrClosed)
	}
	return nil
}

// wantsConn reports whether anything needs a connection in the
// background: a live session or an observer.
func (c *Client) wantsConn() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sessions) > 0 || len(c.observers) > 0
}

func (c *Client) addSession(s *Session) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	c.sessions[s.id] = s
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return nil
}

func (c *Client) removeSession(s *Session) {
	c.mu.Lock()
	if c.sessions[s.id] == s {
		delete(c.sessions, s.id)
	}
	c.mu.Unlock()
}

func (c *Client) session(id uint64) *Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessions[id]
}

// shortestTTL is the shortest TTL among live sessions, 0 if there are none.
func (c *Client) shortestTTL() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ttl time.Duration
	for _, s := range c.sessions {
		if ttl == 0 || s.ttl < ttl {
			ttl = s.ttl
		}
	}
	return ttl
}

func (c *Client) liveSessions() []*Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Session, 0, len(c.sessions))
	for _, s := range c.sessions {
		out = append(out, s)
	}
	return out
}

// attach runs on every new connection before it is used: it binds the
// live sessions' events to it. A follower answers NotLeader, which makes
// the connector follow the hint. A session the leader no longer knows ends.
func (c *Client) attach(ctx context.Context, conn *rpc.ClientConn) error {
	live := c.liveSessions()
	if len(live) == 0 {
		return nil
	}
	req := &api.AttachRequest{Sessions: make([]uint64, len(live)), Secrets: make([][]byte, len(live))}
	for i, s := range live {
		req.Sessions[i], req.Secrets[i] = s.id, s.secret
	}
	err := c.callOn(ctx, conn, api.MsgAttach, req, nil)
	if err == nil || !sessionGone(err) {
		return err
	}
	// One of them is gone: attach one by one to find which.
	for _, s := range live {
		err := c.callOn(ctx, conn, api.MsgAttach, s.attachRequest(), nil)
		switch {
		case err == nil:
		case sessionGone(err):
			s.noteError(err)
		default:
			return err
		}
	}
	return nil
}

// sessionGone reports whether err says the session no longer exists.
func sessionGone(err error) bool {
	return errors.Is(err, ErrSessionExpired) || errors.Is(err, ErrUnknownSession) || errors.Is(err, ErrSessionClosed)
}

// onPush runs on a connection's push goroutine: it decodes the event and
// hands it to its session or observers without blocking.
func (c *Client) onPush(conn *rpc.ClientConn, typ rpc.MsgType, body rpc.Body) {
	var err error
	switch api.PushType(typ) {
	case api.PushGranted:
		var ev api.GrantedEvent
		if err = body.Decode(&ev); err == nil {
			if s := c.session(ev.Session); s != nil {
				s.onGranted(ev.Name, ev.Token)
			}
		}
	case api.PushLost:
		var ev api.LostEvent
		if err = body.Decode(&ev); err == nil {
			if s := c.session(ev.Session); s != nil {
				s.onLost(ev.Name, ev.Token)
			}
		}
	case api.PushSessionExpired:
		var ev api.SessionExpiredEvent
		if err = body.Decode(&ev); err == nil {
			if s := c.session(ev.Session); s != nil {
				s.end(SessionExpired, ErrSessionExpired)
			}
		}
	case api.PushLeaderChanged:
		var ev api.LeaderChangedEvent
		if err = body.Decode(&ev); err == nil && conn != nil && ev.LeaderAddr != conn.Addr() {
			c.log.Debug("leader changed", "leader", ev.Leader, "addr", ev.LeaderAddr, "term", ev.Term)
			c.conns.retire(conn, ev.LeaderAddr)
		}
	case api.PushHolderChanged:
		var ev api.HolderChangedEvent
		if err = body.Decode(&ev); err == nil {
			c.onHolderChanged(ev)
		}
	default:
		c.log.Warn("unknown push", "type", typ)
	}
	if err != nil {
		c.log.Warn("undecodable push", "type", typ, "error", err)
	}
}
