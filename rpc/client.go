package rpc

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// PushHandler receives frames the server pushes on a dial-side
// connection, in order, on one goroutine owned by the connection. It may
// take its time, but while it runs later pushes wait in a queue of
// PushQueueLen; when that overflows the connection is closed with
// ErrSlowConsumer. Hand long work off rather than doing it here.
type PushHandler func(typ MsgType, body Body)

// DialOption adjusts one Dial.
type DialOption func(*dialOptions)

type dialOptions struct {
	push   PushHandler
	dialer func(ctx context.Context, network, addr string) (net.Conn, error)
}

// WithPushHandler installs the handler for server-pushed frames. Without
// one, a pushed frame closes the connection with ErrUnknownType.
func WithPushHandler(fn PushHandler) DialOption {
	return func(o *dialOptions) { o.push = fn }
}

// WithDialer replaces the TCP dialer (tests wrap connections with it).
func WithDialer(fn func(ctx context.Context, network, addr string) (net.Conn, error)) DialOption {
	return func(o *dialOptions) { o.dialer = fn }
}

// ClientConn is the dial side of a connection: multiplexed calls,
// one-way sends, and received pushes. Safe for concurrent use.
type ClientConn struct {
	*link
	addr   string
	nextID atomic.Uint64
	slots  chan struct{} // one token per request in flight

	mu      sync.Mutex
	pending map[uint64]chan frame // cap 1; Invariant: len(pending) <= len(slots)

	pushes chan frame
	push   PushHandler
}

// Dial connects to addr, runs the handshake for the given kind and
// returns the connection. ctx bounds the dial and the handshake (as does
// cfg.HandshakeTimeout).
func Dial(ctx context.Context, addr string, kind Kind, cfg Config, opts ...DialOption) (*ClientConn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if kind != KindPeer && kind != KindClient {
		return nil, fmt.Errorf("%w: %d", ErrBadKind, kind)
	}
	if kind == KindPeer && cfg.NodeID == "" {
		return nil, fmt.Errorf("%w: a peer connection needs Config.NodeID", ErrBadNodeID)
	}
	var o dialOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.dialer == nil {
		var d net.Dialer
		o.dialer = d.DialContext
	}
	if cfg.faults != nil {
		if err := cfg.faults.Blocked(addr); err != nil {
			return nil, fmt.Errorf("rpc: dial %s: %w", addr, err) // as an unreachable address fails
		}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.HandshakeTimeout)
	defer cancel()
	nc, err := o.dialer(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("rpc: dial %s: %w", addr, err)
	}
	var tc *tls.Conn
	if cfg.TLS != nil || cfg.ClientTLS != nil {
		if d, ok := ctx.Deadline(); ok {
			_ = nc.SetDeadline(d)
		}
		if tc, err = dialTLS(ctx, nc, addr, cfg); err != nil {
			_ = nc.Close()
			return nil, err
		}
		nc = tc
	}
	remoteID, err := clientHandshake(ctx, nc, kind, cfg.NodeID)
	if err == nil {
		err = verifyIdentity(cfg, tc, remoteID)
	}
	if err != nil {
		_ = nc.Close()
		return nil, err
	}
	log := cfg.logger().Named("rpc-client").With("addr", addr)
	c := &ClientConn{
		link:    newLink(nc, cfg, codecFor(cfg.MaxDepth), kind, remoteID, log),
		addr:    addr,
		slots:   make(chan struct{}, cfg.MaxInFlight),
		pending: make(map[uint64]chan frame),
		push:    o.push,
	}
	if err := c.registerFaults(remoteID, addr); err != nil {
		return nil, fmt.Errorf("rpc: dial %s: %w", addr, err)
	}
	if o.push != nil {
		c.pushes = make(chan frame, cfg.PushQueueLen)
		// Not in wg: a push handler may call Close, which waits on wg.
		// The loop ends when the reader closes c.pushes.
		go c.pushLoop()
	}
	c.wg.Add(2)
	if cfg.PingInterval > 0 {
		c.wg.Add(1)
		go c.pingLoop()
	}
	go c.writeLoop()
	go c.readLoop()
	return c, nil
}

func clientHandshake(ctx context.Context, nc net.Conn, kind Kind, id string) (string, error) {
	if d, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(d)
	}
	if kind == KindClient && id == "" {
		id = anonymousClientID
	}
	// Closing the socket unblocks the handshake if ctx is cancelled early.
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	err := writeHello(nc, hello{version: ProtocolVersion, b: uint8(kind), id: id})
	var h hello
	if err == nil {
		h, err = readHello(nc)
	} else {
		err = fmt.Errorf("rpc: handshake: %w", err)
	}
	if !stop() {
		return "", fmt.Errorf("rpc: handshake: %w", ctx.Err())
	}
	if err != nil {
		return "", err
	}
	if err := replyError(h); err != nil {
		return "", err
	}
	_ = nc.SetDeadline(time.Time{})
	return h.id, nil
}

// Addr is the address this connection was dialed to.
func (c *ClientConn) Addr() string { return c.addr }

// Close closes the connection; pending calls fail with ErrClosed. It
// waits for the connection's reader, writer and pinger to stop (not for a
// push handler that is still running).
func (c *ClientConn) Close() error {
	c.fail(ErrClosed)
	c.wg.Wait()
	return nil
}

// Call sends req as a request of type typ and decodes the response into
// resp (a pointer, or nil to discard it). Every call has a deadline: ctx's,
// or cfg.DefaultCallTimeout if ctx has none. Call waits for an in-flight
// slot first (MaxInFlight per connection).
//
// Errors: a *RemoteError if the handler failed (use errors.As); ctx's
// error if it ended first (the server is told to cancel); ErrClosed or an
// error wrapping ErrConnLost if the connection went away.
func (c *ClientConn) Call(ctx context.Context, typ MsgType, req, resp any) error {
	if !typ.user() {
		return fmt.Errorf("%w: %d", ErrBadType, typ)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.DefaultCallTimeout)
		defer cancel()
	}
	body, err := c.codec.Encode(req)
	if err != nil {
		return err
	}
	if len(body) > c.cfg.MaxFrameSize {
		return fmt.Errorf("%w: request of %d bytes", ErrFrameTooLarge, len(body))
	}
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return c.err
	}
	id := c.nextID.Add(1)
	ch := make(chan frame, 1)
	c.mu.Lock()
	c.pending[id] = ch
	c.mu.Unlock()
	// The slot and the pending entry are released by the reader when the
	// answer arrives, even if this call has given up by then: the server
	// counts the request until it answers.
	if err := c.enqueueRaw(typ, id, body, classFree); err != nil {
		return err
	}
	var f frame
	select {
	case f = <-ch:
	case <-ctx.Done():
		_ = c.enqueueRaw(TypeCancel, id, nil, classFree)
		return ctx.Err()
	case <-c.done:
		select {
		case f = <-ch: // answered just before the close
		default:
			return c.err
		}
	}
	if f.typ == TypeError {
		var we wireError
		if err := c.codec.Decode(f.body, &we); err != nil {
			c.fail(err)
			return err
		}
		return &RemoteError{Code: we.Code, Message: we.Message}
	}
	if resp == nil {
		return nil
	}
	if err := c.codec.Decode(f.body, resp); err != nil {
		c.fail(err)
		return err
	}
	return nil
}

// Send queues a one-way message and returns without waiting for it to be
// written or handled (the Raft peer transport: fire and forget). Frames
// queued together are written with one syscall. If SendQueueLen frames
// are already waiting, or v would take the bytes queued past
// MaxQueueBytes, Send drops v and returns an error wrapping ErrQueueFull;
// the connection stays up.
func (c *ClientConn) Send(typ MsgType, v any) error {
	if !typ.user() {
		return fmt.Errorf("%w: %d", ErrBadType, typ)
	}
	return c.enqueue(typ, 0, v, classBounded)
}

func (c *ClientConn) readLoop() {
	defer c.wg.Done()
	br := bufio.NewReaderSize(c.nc, readChunk)
	var hdr [headerLen]byte
	for {
		f, err := c.readFrame(br, &hdr)
		if err == nil {
			err = c.dispatch(f)
		}
		if err != nil {
			c.fail(err)
			if c.pushes != nil {
				close(c.pushes)
			}
			return
		}
	}
}

func (c *ClientConn) dispatch(f frame) error {
	switch {
	case f.typ == TypeResponse, f.typ == TypeError:
		c.mu.Lock()
		ch, ok := c.pending[f.id]
		delete(c.pending, f.id)
		c.mu.Unlock()
		if !ok {
			return fmt.Errorf("%w: answer to unknown request %d", ErrProtocol, f.id)
		}
		<-c.slots
		ch <- f // capacity 1, sent once
		return nil
	case f.typ == TypePong:
		return nil
	case f.typ.user() && c.push != nil:
		select {
		case c.pushes <- f:
			return nil
		default:
			return fmt.Errorf("%w: %d pushes waiting for the push handler", ErrSlowConsumer, cap(c.pushes))
		}
	}
	return fmt.Errorf("%w: 0x%02x from the server", ErrUnknownType, byte(f.typ))
}

func (c *ClientConn) pushLoop() {
	for f := range c.pushes {
		c.push(f.typ, Body{b: f.body, codec: c.codec})
	}
}

func (c *ClientConn) pingLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := c.enqueueRaw(TypePing, 0, nil, classFree); err != nil && !errors.Is(err, ErrQueueFull) {
				return
			}
		case <-c.done:
			return
		}
	}
}
