package rpc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Conn is the server side of one accepted connection. Handlers receive it
// to learn who is calling and to push events to a client.
type Conn struct {
	*link
	srv    *Server
	ctx    context.Context // cancelled when the connection closes
	cancel context.CancelFunc

	mu       sync.Mutex
	requests map[uint64]context.CancelFunc // running handlers; Invariant: len(requests) <= inflight
	// inflight counts the requests read whose answer the writer has not
	// yet taken up: running handlers and queued answers. Incremented by
	// the reader, decremented by the writer (link.freeSlot).
	// Invariant: inflight <= cfg.MaxInFlight.
	inflight atomic.Int64
	workers  *workerPool // run this connection's request handlers
}

// Push sends a one-way message (an event) to the dial side. It never
// blocks: if SendQueueLen frames are already waiting, or the push would
// take the bytes queued for the writer past MaxQueueBytes, the other side
// is not keeping up and the connection is closed with ErrSlowConsumer.
func (c *Conn) Push(typ MsgType, v any) error {
	if !typ.user() {
		return fmt.Errorf("%w: %d", ErrBadType, typ)
	}
	err := c.enqueue(typ, 0, v, classBounded)
	if errors.Is(err, ErrQueueFull) {
		err = c.cutSlowReader(err)
	}
	return err
}

// cutSlowReader closes the connection because its outbound queue refused
// a frame (err from the queue), counts the cut, and returns the error it
// closed with, which wraps ErrSlowConsumer.
func (c *Conn) cutSlowReader(err error) error {
	if errors.Is(err, errQueueFrames) {
		err = fmt.Errorf("%w: slow reader: %d pushes queued", ErrSlowConsumer, c.cfg.SendQueueLen)
	} else {
		err = fmt.Errorf("%w: slow reader: %d bytes queued, budget %d", ErrSlowConsumer, c.q.queued(), c.q.maxBytes)
	}
	if c.failFirst(err) {
		c.srv.stats.cutSlowReader.Add(1)
	}
	return err
}

// Close closes the connection. Handlers still running see their context
// cancelled; their responses are dropped.
func (c *Conn) Close() error {
	c.fail(ErrClosed)
	return nil
}

// readLoop reads frames and dispatches them. It runs on its own goroutine
// and returns when the connection closes.
func (c *Conn) readLoop() {
	defer c.wg.Done()
	defer c.cancel()
	br := bufio.NewReaderSize(c.nc, readBufferSize)
	var hdr [headerLen]byte
	for {
		f, err := c.readFrame(br, &hdr)
		if err != nil {
			c.fail(err)
			return
		}
		if err := c.dispatch(f); err != nil {
			c.fail(err)
			return
		}
	}
}

func (c *Conn) dispatch(f frame) error {
	switch {
	case f.typ == TypePing:
		if err := c.enqueueRaw(TypePong, f.id, nil, classBounded); errors.Is(err, ErrQueueFull) {
			return c.cutSlowReader(err)
		}
		return nil
	case f.typ == TypeCancel:
		c.mu.Lock()
		cancel := c.requests[f.id]
		c.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		return nil
	case !f.typ.user():
		return fmt.Errorf("%w: 0x%02x from the dial side", ErrUnknownType, byte(f.typ))
	}
	h := c.srv.handler(f.typ)
	if h == nil {
		return fmt.Errorf("%w: no handler for %d", ErrUnknownType, f.typ)
	}
	body := Body{b: f.body, codec: c.codec}
	if f.id == 0 {
		// One-way: handled in order on this goroutine.
		if _, err := h(c.ctx, c, f.typ, body); err != nil {
			if errors.Is(err, ErrDecode) || errors.Is(err, ErrTooDeep) {
				return err
			}
			c.log.Debug("one-way handler failed", "type", f.typ, "error", err)
		}
		return nil
	}
	c.mu.Lock()
	if _, dup := c.requests[f.id]; dup {
		c.mu.Unlock()
		return fmt.Errorf("%w: duplicate request id %d", ErrProtocol, f.id)
	}
	// A request holds its slot until the writer takes up its answer, so
	// MaxInFlight bounds the answers queued as well as the handlers
	// running. The dial side frees its slot only when the answer arrives,
	// after the writer freed ours, so it never exceeds the limit here.
	if c.inflight.Load() >= int64(c.cfg.MaxInFlight) {
		c.mu.Unlock()
		return fmt.Errorf("%w: limit %d", ErrTooManyInFlight, c.cfg.MaxInFlight)
	}
	if !c.srv.startRequest() {
		c.mu.Unlock()
		rbody, _ := c.codec.Encode(wireError{Code: CodeShuttingDown, Message: "rpc: server shutting down"})
		if err := c.enqueueRaw(TypeError, f.id, rbody, classAnswer); errors.Is(err, ErrQueueFull) {
			return c.cutSlowReader(err)
		}
		return nil
	}
	c.inflight.Add(1)
	ctx, cancel := context.WithCancel(c.ctx)
	c.requests[f.id] = cancel
	c.mu.Unlock()
	c.workers.run(func() { c.serveRequest(ctx, h, f.typ, f.id, body) })
	return nil
}

// serveRequest runs one request's handler and queues its answer.
func (c *Conn) serveRequest(ctx context.Context, h HandlerFunc, typ MsgType, id uint64, body Body) {
	defer c.srv.handlers.Done()
	resp, herr := h(ctx, c, typ, body)
	if errors.Is(herr, ErrDecode) || errors.Is(herr, ErrTooDeep) {
		c.fail(herr)
		return
	}
	var rbody []byte
	rtyp := TypeResponse
	if herr == nil {
		var err error
		if rbody, err = c.codec.Encode(resp); err == nil && len(rbody) > c.cfg.MaxFrameSize {
			err = fmt.Errorf("%w: response of %d bytes", ErrFrameTooLarge, len(rbody))
		}
		if err != nil {
			c.log.Error("cannot encode response", "type", typ, "error", err)
			herr = err
		}
	}
	if herr != nil {
		rtyp = TypeError
		rbody, _ = c.codec.Encode(toWireError(herr)) // a struct of a uint and a string always encodes
	}
	// The handler is done: a cancel for id has nothing left to stop. The
	// in-flight slot stays taken until the writer takes up the answer.
	c.mu.Lock()
	cancel := c.requests[id]
	delete(c.requests, id)
	c.mu.Unlock()
	cancel()
	if err := c.enqueueFrame(rtyp, id, rbody, classAnswer, true); errors.Is(err, ErrQueueFull) {
		_ = c.cutSlowReader(err)
	}
}

func toWireError(err error) wireError {
	var re *RemoteError
	if errors.As(err, &re) {
		return wireError{Code: re.Code, Message: re.Message}
	}
	var coder Coder
	if errors.As(err, &coder) {
		return wireError{Code: coder.RPCCode(), Message: err.Error()}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return wireError{Code: CodeCanceled, Message: err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return wireError{Code: CodeDeadlineExceeded, Message: err.Error()}
	}
	return wireError{Code: CodeInternal, Message: err.Error()}
}
