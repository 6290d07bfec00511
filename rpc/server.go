package rpc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// HandlerFunc handles one frame of type typ from c. For a request (the
// dial side used Call) the returned value is encoded as the response, or
// the error is sent as a RemoteError (its code from *RemoteError or Coder,
// else CodeInternal). For a one-way frame (Send) the result is dropped.
//
// Requests on one connection run concurrently, each on its own goroutine,
// up to MaxInFlight; ctx is cancelled when the caller gives up or the
// connection closes. One-way frames are handled in order on the
// connection's reader goroutine: such a handler must hand its work off
// quickly, or it holds back the whole connection.
//
// A handler that returns an error wrapping ErrDecode (as Body.Decode
// does) makes the server close the connection: the peer sent a body that
// does not fit the message type.
type HandlerFunc func(ctx context.Context, c *Conn, typ MsgType, body Body) (any, error)

// Register installs a handler for typ that decodes the body into a new Req
// first. A body that does not decode closes the connection.
func Register[Req any](s *Server, typ MsgType, fn func(ctx context.Context, c *Conn, req *Req) (any, error)) error {
	return s.Handle(typ, func(ctx context.Context, c *Conn, _ MsgType, body Body) (any, error) {
		req := new(Req)
		if err := body.Decode(req); err != nil {
			return nil, err
		}
		return fn(ctx, c, req)
	})
}

// Server accepts connections of one kind and dispatches their frames to
// handlers by message type.
type Server struct {
	cfg   Config
	kind  Kind
	log   hclog.Logger
	codec *Codec

	mu        sync.RWMutex
	routes    map[MsgType]HandlerFunc
	listeners map[net.Listener]struct{}
	conns     map[*Conn]struct{}
	// handshaking holds accepted sockets still in their handshake, so
	// that Close need not wait HandshakeTimeout for them.
	handshaking map[net.Conn]struct{}
	onConnect   func(*Conn)
	closed      bool
	draining    bool // Shutdown began: new requests are refused
	// admitted counts the connections that hold a place (admitLocked):
	// from accept until their handshake fails or their link closes;
	// perSource counts them by remote IP. Invariant: admitted is the sum
	// of perSource.
	admitted  int
	perSource map[string]int

	stats      serverStats
	refusedLog logLimiter

	handlers sync.WaitGroup // running request handlers
	running  sync.WaitGroup // accept loops and per-connection goroutines
}

// NewServer returns a Server for connections of the given kind.
func NewServer(cfg Config, kind Kind) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if kind != KindPeer && kind != KindClient {
		return nil, fmt.Errorf("%w: %d", ErrBadKind, kind)
	}
	return &Server{
		cfg:         cfg,
		kind:        kind,
		log:         cfg.logger().Named("rpc-server").With("kind", kind.String()),
		codec:       codecFor(cfg.MaxDepth),
		routes:      make(map[MsgType]HandlerFunc),
		listeners:   make(map[net.Listener]struct{}),
		conns:       make(map[*Conn]struct{}),
		handshaking: make(map[net.Conn]struct{}),
		perSource:   make(map[string]int),
		refusedLog:  logLimiter{interval: time.Second, now: time.Now},
	}, nil
}

// Handle installs fn for message type typ (1..MaxUserType), replacing any
// previous handler. Frames of a type without a handler close their
// connection with ErrUnknownType.
func (s *Server) Handle(typ MsgType, fn HandlerFunc) error {
	if !typ.user() {
		return fmt.Errorf("%w: %d", ErrBadType, typ)
	}
	if fn == nil {
		return fmt.Errorf("rpc: nil handler for type %d", typ)
	}
	s.mu.Lock()
	s.routes[typ] = fn
	s.mu.Unlock()
	return nil
}

// OnConnect installs a callback run for every connection after its
// handshake, before its first frame is read. It must not block.
func (s *Server) OnConnect(fn func(*Conn)) {
	s.mu.Lock()
	s.onConnect = fn
	s.mu.Unlock()
}

func (s *Server) handler(typ MsgType) HandlerFunc {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.routes[typ]
}

// Listen listens on addr (TCP) and serves it in the background until
// Close. It returns the bound address (useful with port 0).
func (s *Server) Listen(addr string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("rpc: listen %s: %w", addr, err)
	}
	if err := s.track(ln); err != nil {
		_ = ln.Close()
		return nil, err
	}
	go func() {
		if err := s.serve(ln); err != nil && !errors.Is(err, ErrClosed) {
			s.log.Error("listener stopped", "addr", ln.Addr().String(), "error", err)
		}
	}()
	return ln.Addr(), nil
}

// Serve accepts connections on ln until Close. It returns ErrClosed after
// Close, or the listener's error.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.track(ln); err != nil {
		return err
	}
	return s.serve(ln)
}

func (s *Server) track(ln net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.listeners[ln] = struct{}{}
	s.running.Add(1)
	return nil
}

func (s *Server) serve(ln net.Listener) error {
	defer s.running.Done()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.RLock()
			closed := s.closed || s.draining
			s.mu.RUnlock()
			if closed {
				return ErrClosed
			}
			// Retry what the runtime marks temporary (EMFILE and the
			// like), as net/http does.
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "error", err, "delay", backoff)
				t := time.NewTimer(backoff)
				<-t.C
				continue
			}
			return fmt.Errorf("rpc: accept: %w", err)
		}
		backoff = 0
		src := sourceOf(nc.RemoteAddr())
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = nc.Close()
			return ErrClosed
		}
		if reason := s.admitLocked(src); reason != "" {
			s.mu.Unlock()
			s.refuse(nc, src, reason)
			continue
		}
		s.running.Add(1)
		s.handshaking[nc] = struct{}{}
		s.mu.Unlock()
		go s.accept(nc, src)
	}
}

// accept runs the handshake, then the connection's reader and writer. The
// connection's place (admitLocked) is given back before its socket closes,
// so a remote that sees the close may connect again at once.
func (s *Server) accept(nc net.Conn, src string) {
	defer s.running.Done()
	raw := nc
	remoteID, nc, err := s.handshake(nc)
	s.mu.Lock()
	delete(s.handshaking, raw)
	if err != nil {
		s.leaveLocked(src)
	}
	s.mu.Unlock()
	if err != nil {
		s.stats.handshakesFailed.Add(1)
		s.log.Info("handshake failed", "remote", nc.RemoteAddr().String(), "error", err)
		_ = nc.Close()
		return
	}
	// Only now, after the handshake, do the connection's buffers exist:
	// the queue here, the read buffer in readLoop, and the write buffer,
	// taken from a pool by writeLoop while it has frames to write.
	ctx, cancel := context.WithCancel(context.Background())
	c := &Conn{
		link:     newLink(nc, s.cfg, s.codec, s.kind, remoteID, s.log),
		srv:      s,
		ctx:      ctx,
		cancel:   cancel,
		requests: make(map[uint64]context.CancelFunc),
		workers:  newWorkerPool(workerIdle),
	}
	c.freeSlot = func() { c.inflight.Add(-1) }
	s.mu.Lock()
	if s.closed {
		s.leaveLocked(src)
		s.mu.Unlock()
		cancel()
		_ = nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	onConnect := s.onConnect
	c.onClose = func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.leaveLocked(src)
		s.mu.Unlock()
	}
	s.mu.Unlock()
	_ = c.registerFaults(remoteID, nc.RemoteAddr().String()) // a blocked key closes c
	if onConnect != nil {
		onConnect(c)
	}
	c.wg.Add(2)
	go c.writeLoop()
	go c.readLoop()
	c.wg.Wait()
	c.workers.close() // handlers see their context cancelled
}

// handshake runs the TLS handshake (with Config.TLS) and the lockd
// hello on an accepted connection, all within HandshakeTimeout. It
// returns the remote's node id and the connection to use from then on
// (the TLS one, with TLS).
func (s *Server) handshake(nc net.Conn) (string, net.Conn, error) {
	deadline := time.Now().Add(s.cfg.HandshakeTimeout)
	_ = nc.SetDeadline(deadline)
	defer func() { _ = nc.SetDeadline(time.Time{}) }()
	var tc *tls.Conn
	if s.cfg.TLS != nil {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		var err error
		tc, err = s.serverTLS(ctx, nc)
		cancel()
		if err != nil {
			return "", nc, err
		}
		nc = tc
	}
	h, err := readHello(nc)
	var status uint8
	switch {
	case errors.Is(err, ErrBadMagic):
		status = statusBadMagic
	case err != nil:
		return "", nc, err
	default:
		status, err = judgeHello(h, s.kind)
	}
	if err == nil {
		if err = verifyIdentity(s.cfg, tc, h.id); err != nil {
			status = statusUnauthenticated
		}
	}
	if err == nil && s.cfg.faults != nil {
		if ferr := s.cfg.faults.Blocked(h.id, nc.RemoteAddr().String()); ferr != nil {
			status, err = statusRefused, ferr
		}
	}
	if werr := writeHello(nc, hello{version: ProtocolVersion, b: status, id: s.cfg.NodeID}); werr != nil && err == nil {
		err = fmt.Errorf("rpc: handshake reply: %w", werr)
	}
	return h.id, nc, err
}

// Conns returns the open connections.
func (s *Server) Conns() []*Conn {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// startRequest accounts for a new request handler; it reports false once
// Shutdown has begun.
func (s *Server) startRequest() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.draining {
		return false
	}
	s.handlers.Add(1)
	return true
}

// Shutdown stops accepting connections, answers new requests with
// CodeShuttingDown, waits for running request handlers to finish and
// their answers to be queued (or for ctx to end), then closes like Close.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	for ln := range s.listeners {
		_ = ln.Close()
	}
	s.mu.Unlock()
	drained := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(drained)
	}()
	var err error
	select {
	case <-drained:
		// Let the writers flush the last answers before closing.
		for _, c := range s.Conns() {
			c.drainWrites(ctx)
		}
	case <-ctx.Done():
		err = ctx.Err()
	}
	_ = s.Close()
	return err
}

// Close stops accepting, closes every connection (cancelling running
// handlers) and waits until all of the server's goroutines have returned.
// A handler that ignores its context delays Close.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for ln := range s.listeners {
		_ = ln.Close()
	}
	for nc := range s.handshaking {
		_ = nc.Close()
	}
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.fail(ErrClosed)
	}
	s.running.Wait()
	s.handlers.Wait()
	return nil
}
