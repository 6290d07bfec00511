package rpc

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// link is what both ends of a connection share after the handshake: the
// socket, the outbound queue with its writer goroutine, and the close
// bookkeeping. Conn (server side) and ClientConn (dial side) add their own
// reader loop on top.
type link struct {
	nc       net.Conn
	cfg      Config
	codec    *Codec
	log      hclog.Logger
	kind     Kind
	remoteID string
	tlsState *tls.ConnectionState // nil without TLS; fixed after the handshake
	q        *outQueue
	// wpool gives the writer its buffer while it writes; wdst is the
	// socket under the buffer (made once, not at every write).
	wpool   *sync.Pool
	wdst    io.Writer
	onClose func() // optional, run once by fail
	// freeSlot, if set, is run by the writer as it takes up the answer to
	// a request, before any byte of it is written (the server's
	// in-flight slots; see Conn.dispatch).
	freeSlot func()
	// forgetFaults removes the link from the fault injector it registered
	// with (see registerFaults); nil if none. Atomic: an injector may cut
	// the link (fail) while it is being registered.
	forgetFaults atomic.Pointer[func()]

	done      chan struct{} // closed by fail
	closeOnce sync.Once
	err       error // set once, before done is closed
	wg        sync.WaitGroup
}

func newLink(nc net.Conn, cfg Config, codec *Codec, kind Kind, remoteID string, log hclog.Logger) *link {
	var st *tls.ConnectionState
	if tc, ok := nc.(*tls.Conn); ok {
		s := tc.ConnectionState()
		st = &s
	}
	return &link{
		tlsState: st,
		nc:       nc,
		cfg:      cfg,
		codec:    codec,
		log:      log,
		kind:     kind,
		remoteID: remoteID,
		q:        newOutQueue(cfg.SendQueueLen, cfg.queueBudget()),
		wpool:    writeBufferPool(cfg.WriteBufferSize),
		wdst:     deadlineWriter{nc, cfg.WriteTimeout},
		done:     make(chan struct{}),
	}
}

// fail closes the link once. cause nil or ErrClosed means a local Close;
// anything else is logged and recorded as ErrConnLost wrapping the cause.
func (l *link) fail(cause error) { l.failFirst(cause) }

// failFirst is fail, reporting whether this call closed the link.
func (l *link) failFirst(cause error) (first bool) {
	l.closeOnce.Do(func() {
		first = true
		switch {
		case cause == nil || errors.Is(cause, ErrClosed):
			l.err = ErrClosed
		case errors.Is(cause, ErrConnLost):
			l.err = cause
		default:
			l.err = fmt.Errorf("%w: %w", ErrConnLost, cause)
		}
		if cause != nil && !errors.Is(cause, ErrClosed) {
			if isEOF(cause) {
				l.log.Debug("connection closed by remote", "remote", l.nc.RemoteAddr().String(), "peer", l.remoteID)
			} else {
				l.log.Warn("closing connection", "remote", l.nc.RemoteAddr().String(), "peer", l.remoteID, "kind", l.kind.String(), "reason", cause)
			}
		}
		l.q.close()
		if l.onClose != nil {
			l.onClose() // before the socket closes, so the remote sees a consistent server
		}
		_ = l.nc.Close()
		close(l.done)
		if forget := l.forgetFaults.Load(); forget != nil {
			(*forget)()
		}
	})
	return first
}

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)
}

// Err returns why the connection closed: nil while it is open, ErrClosed
// after a local Close, an error wrapping ErrConnLost otherwise.
func (l *link) Err() error {
	select {
	case <-l.done:
		return l.err
	default:
		return nil
	}
}

// Done is closed when the connection closes.
func (l *link) Done() <-chan struct{} { return l.done }

// RemoteAddr is the other side's network address.
func (l *link) RemoteAddr() net.Addr { return l.nc.RemoteAddr() }

// RemoteID is the node id the other side sent in its handshake.
func (l *link) RemoteID() string { return l.remoteID }

// TLSState is the connection's TLS state (its verified peer certificates
// among it), or nil for a connection without TLS.
// The caller must not modify it.
func (l *link) TLSState() *tls.ConnectionState { return l.tlsState }

// Kind is the connection kind agreed in the handshake.
func (l *link) Kind() Kind { return l.kind }

// enqueue encodes v as a frame body and queues it.
func (l *link) enqueue(typ MsgType, id uint64, v any, class frameClass) error {
	body, err := l.codec.Encode(v)
	if err != nil {
		return err
	}
	if len(body) > l.cfg.MaxFrameSize {
		return ErrFrameTooLarge
	}
	return l.enqueueRaw(typ, id, body, class)
}

func (l *link) enqueueRaw(typ MsgType, id uint64, body []byte, class frameClass) error {
	return l.enqueueFrame(typ, id, body, class, false)
}

// enqueueFrame queues a frame; slot marks the answer to a request whose
// in-flight slot the writer frees.
func (l *link) enqueueFrame(typ MsgType, id uint64, body []byte, class frameClass, slot bool) error {
	f := outFrame{body: body, slot: slot}
	putHeader(&f.hdr, typ, id, len(body))
	if err := l.q.put(f, class); err != nil {
		if errors.Is(err, ErrClosed) {
			return l.closedErr()
		}
		return err
	}
	return nil
}

// closedErr is the error for an operation on a closed link.
func (l *link) closedErr() error {
	<-l.done
	return l.err
}

// writeLoop is the only goroutine that writes to the socket. It moves
// bytes and nothing else.
//
// It holds a write buffer only while it has frames to write: an idle
// connection gives its buffer back to a pool shared by the connections,
// so thousands of idle connections do not each hold WriteBufferSize.
func (l *link) writeLoop() {
	defer l.wg.Done()
	var bw *bufio.Writer
	defer func() { putWriteBuffer(l.wpool, bw) }()
	for {
		batch := l.q.take()
		if len(batch) == 0 {
			if bw != nil && bw.Buffered() > 0 {
				if err := l.flush(bw); err != nil {
					l.fail(err)
					return
				}
				continue // more may have been queued during the flush
			}
			putWriteBuffer(l.wpool, bw)
			bw = nil
			select {
			case <-l.q.wake:
			case <-l.done:
				return
			}
			continue
		}
		if bw == nil {
			bw = getWriteBuffer(l.wpool, l.wdst, l.cfg.WriteBufferSize)
		}
		for i := range batch {
			// Free an answer's in-flight slot before writing it: once its
			// first byte may reach the remote, the remote may send its next
			// request at once (reuse the slot of a request it sees
			// answered). Its bytes stay counted until they are written
			// (copied into bw or onto the socket): the frame the writer is
			// blocked on counts against the budget like those behind it.
			if batch[i].slot && l.freeSlot != nil {
				l.freeSlot()
			}
			if b := batch[i].barrier; b != nil {
				if err := l.flush(bw); err != nil {
					l.fail(err)
					return
				}
				close(b)
				continue
			}
			if _, err := bw.Write(batch[i].hdr[:]); err != nil {
				l.fail(err)
				return
			}
			if _, err := bw.Write(batch[i].body); err != nil {
				l.fail(err)
				return
			}
			l.q.release(&batch[i])
		}
	}
}

func (l *link) flush(bw *bufio.Writer) error { return bw.Flush() }

// deadlineWriter gives every write to the socket its own deadline, so
// WriteTimeout bounds a stall, not the length of a large batch.
type deadlineWriter struct {
	nc      net.Conn
	timeout time.Duration
}

func (w deadlineWriter) Write(p []byte) (int, error) {
	_ = w.nc.SetWriteDeadline(time.Now().Add(w.timeout))
	return w.nc.Write(p)
}

// readFrame reads the next frame under the read deadline.
func (l *link) readFrame(br *bufio.Reader, hdr *[headerLen]byte) (frame, error) {
	if l.cfg.ReadTimeout > 0 {
		_ = l.nc.SetReadDeadline(time.Now().Add(l.cfg.ReadTimeout))
	}
	return readFrame(br, hdr, l.cfg.MaxFrameSize, l.cfg.MaxDepth)
}

// drainWrites waits until every frame queued before the call has been
// written and flushed, or the link or ctx is done.
func (l *link) drainWrites(ctx context.Context) {
	b := make(chan struct{})
	if l.q.put(outFrame{barrier: b}, classFree) != nil {
		return
	}
	select {
	case <-b:
	case <-l.done:
	case <-ctx.Done():
	}
}
