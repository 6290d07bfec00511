package rpc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// link is what both ends of a connection share after the handshake: the
// socket, the outbound queue and its writer, and the close bookkeeping.
// Conn (server side) and ClientConn (dial side) add their own reader loop
// on top.
//
// Writing to the socket is a role, not a goroutine. Whoever holds it
// (outQueue.writing) owns bw, takes the queue until it is empty, writes,
// flushes and only then lets go. writeLoop takes the role when woken by a
// queued frame; a goroutine that sends a request (Call) or a response
// (serveRequest) queues its frame and, if the role is free, takes it and
// writes on the spot, sparing the hop to writeLoop on every message. See
// enqueueInline and holdWriter.
type link struct {
	nc       net.Conn
	cfg      Config
	codec    *Codec
	log      hclog.Logger
	kind     Kind
	remoteID string
	q        *outQueue
	bw       *bufio.Writer // belongs to the holder of the writer role
	faults   *Faults
	onClose  func() // optional, run once by fail

	// inlineBatches bounds the batches an inline writer writes before
	// handing the role to writeLoop (maxInlineBatches; tests change it).
	inlineBatches int
	// parkWriteLoop, if set before writeLoop starts, holds writeLoop
	// back until it is closed (tests: prove who wrote).
	parkWriteLoop chan struct{}
	// claimMissed, if set before writeLoop starts, is called when
	// writeLoop woke but found the role held (tests).
	claimMissed func()

	done      chan struct{} // closed by fail
	closeOnce sync.Once
	err       error // set once, before done is closed
	wg        sync.WaitGroup
}

// maxInlineBatches is how many batches a goroutine that took the writer
// role inline writes before it hands the rest to writeLoop: enough for
// its own frame and what arrived meanwhile, not so many that a caller is
// kept writing other goroutines' traffic.
const maxInlineBatches = 4

func newLink(nc net.Conn, cfg Config, codec *Codec, kind Kind, remoteID string, log hclog.Logger) *link {
	return &link{
		nc:            nc,
		cfg:           cfg,
		codec:         codec,
		log:           log,
		kind:          kind,
		remoteID:      remoteID,
		q:             newOutQueue(cfg.SendQueueLen),
		bw:            bufio.NewWriterSize(deadlineWriter{nc, cfg.WriteTimeout}, cfg.WriteBufferSize),
		faults:        cfg.Faults,
		inlineBatches: maxInlineBatches,
		done:          make(chan struct{}),
	}
}

// fail closes the link once. cause nil or ErrClosed means a local Close;
// anything else is logged and recorded as ErrConnLost wrapping the cause.
func (l *link) fail(cause error) {
	l.closeOnce.Do(func() {
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
		if l.faults != nil {
			l.faults.forget(l)
		}
	})
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

// Kind is the connection kind agreed in the handshake.
func (l *link) Kind() Kind { return l.kind }

// enqueue encodes v as a frame body and queues it.
func (l *link) enqueue(typ MsgType, id uint64, v any, bounded bool) error {
	body, err := l.codec.Encode(v)
	if err != nil {
		return err
	}
	if len(body) > l.cfg.MaxFrameSize {
		return ErrFrameTooLarge
	}
	return l.enqueueRaw(typ, id, body, bounded)
}

// enqueueRaw queues a frame for the writer and returns without writing:
// for frames whose sender must never block on the socket (one-way sends,
// pushes, pings, pongs, cancels).
func (l *link) enqueueRaw(typ MsgType, id uint64, body []byte, bounded bool) error {
	var f outFrame
	putHeader(&f.hdr, typ, id, len(body))
	f.body = body
	if err := l.q.put(f, bounded); err != nil {
		if errors.Is(err, ErrClosed) {
			return l.closedErr()
		}
		return err
	}
	return nil
}

// enqueueInline queues a request or response frame (unbounded, like
// enqueueRaw with bounded false) and, if nobody holds the writer role,
// takes it and writes on the calling goroutine: this frame, everything
// queued before it and whatever is queued meanwhile, up to
// l.inlineBatches batches. If the role is held, the holder writes the
// frame, or hands it to writeLoop, before it lets go. The caller may therefore block on the socket
// (each write bounded by WriteTimeout). A write error fails the link, as
// in writeLoop, and the connection's error is returned.
func (l *link) enqueueInline(typ MsgType, id uint64, body []byte) error {
	var f outFrame
	putHeader(&f.hdr, typ, id, len(body))
	f.body = body
	claimed, err := l.q.putClaim(f)
	if err != nil {
		return l.closedErr()
	}
	if !claimed {
		return nil
	}
	if err := l.holdWriter(l.inlineBatches); err != nil {
		l.fail(err)
		return l.closedErr()
	}
	return nil
}

// closedErr is the error for an operation on a closed link.
func (l *link) closedErr() error {
	<-l.done
	return l.err
}

// writeLoop takes the writer role whenever a queued frame wakes it and
// nobody else holds the role (if someone does, that holder writes the
// frame). It moves bytes and nothing else.
func (l *link) writeLoop() {
	defer l.wg.Done()
	if l.parkWriteLoop != nil {
		select {
		case <-l.parkWriteLoop:
		case <-l.done:
			return
		}
	}
	for {
		select {
		case <-l.q.wake:
		case <-l.done:
			return
		}
		if !l.q.claim() {
			// The holder writes whatever woke us.
			if l.claimMissed != nil {
				l.claimMissed()
			}
			continue
		}
		if err := l.holdWriter(0); err != nil {
			l.fail(err)
			return
		}
	}
}

// holdWriter is run by the holder of the writer role. It takes and
// writes batches until the queue is empty and bw is flushed, then
// releases the role; take does the last check and the release under the
// queue's lock, so a frame queued at any moment is either in a batch this
// holder writes or finds the role free. With maxBatches > 0 it stops
// after that many batches, flushes and hands the role to writeLoop.
//
// On a write error it returns the error still holding the role (nobody
// touches bw again); the caller fails the link. After the link closes it
// releases the role without writing anything more.
func (l *link) holdWriter(maxBatches int) error {
	bw := l.bw
	for n := 0; ; {
		if maxBatches > 0 && n >= maxBatches {
			if err := bw.Flush(); err != nil {
				return err
			}
			l.q.handoff()
			return nil
		}
		batch, released := l.q.take(bw.Buffered() == 0)
		if released {
			return nil
		}
		if len(batch) == 0 {
			// Flush only when nothing is waiting; more may be queued
			// during the flush, so look again before releasing.
			if err := bw.Flush(); err != nil {
				return err
			}
			continue
		}
		n++
		for i := range batch {
			if b := batch[i].barrier; b != nil {
				if err := bw.Flush(); err != nil {
					return err
				}
				close(b)
				continue
			}
			if _, err := bw.Write(batch[i].hdr[:]); err != nil {
				return err
			}
			if _, err := bw.Write(batch[i].body); err != nil {
				return err
			}
		}
	}
}

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
	if l.q.put(outFrame{barrier: b}, false) != nil {
		return
	}
	select {
	case <-b:
	case <-l.done:
	case <-ctx.Done():
	}
}
