package peer

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/rpc"
)

// errSenderStopped ends a snapshot transfer whose sender was told to stop.
var errSenderStopped = errors.New("peer: sender stopped")

// peerSender owns the connection to one peer. It only moves bytes.
type peerSender struct {
	t    *Transport
	id   consensus.NodeID
	addr string
	q    chan consensus.Message
	stop chan struct{}
	done chan struct{}
	once sync.Once
	// live is the open connection, for Send's fast path; nil while down.
	live atomic.Pointer[rpc.ClientConn]
}

// signalStop tells the sender to stop; it exits on its own.
func (p *peerSender) signalStop() { p.once.Do(func() { close(p.stop) }) }

// exited reports whether the sender's goroutine has ended.
func (p *peerSender) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// close stops the sender and waits for it to exit.
func (p *peerSender) close() {
	p.signalStop()
	<-p.done
}

const (
	minBackoff = 20 * time.Millisecond
	maxBackoff = 1 * time.Second
)

func (p *peerSender) run() {
	defer close(p.done)
	var conn *rpc.ClientConn
	defer func() {
		p.live.Store(nil)
		if conn != nil {
			_ = conn.Close()
		}
	}()
	backoff := minBackoff
	for {
		var m consensus.Message
		select {
		case m = <-p.q:
		case <-p.stop:
			return
		}
		if conn == nil {
			c, err := p.dial()
			if err != nil {
				p.unreachable(m)
				p.t.log.Debug("dial peer failed", "peer", p.id, "addr", p.addr, "error", err, "backoff", backoff)
				if !p.wait(backoff) {
					return
				}
				backoff = min(backoff*2, maxBackoff)
				continue
			}
			conn, backoff = c, minBackoff
			p.live.Store(c)
		}
		if err := p.send(conn, m); err != nil {
			p.unreachable(m)
			if !errors.Is(err, rpc.ErrQueueFull) {
				p.live.Store(nil)
				_ = conn.Close()
				conn = nil
			}
		}
	}
}

// dial connects to the peer and introduces this node (intro.go); a
// connection the peer refuses, or whose answer this node refuses, is
// closed and the dial fails.
func (p *peerSender) dial() (*rpc.ClientConn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.t.cfg.HandshakeTimeout)
	defer cancel()
	conn, err := rpc.Dial(ctx, p.addr, rpc.KindPeer, p.t.cfg)
	if err != nil {
		return nil, err
	}
	if err := p.t.introduce(ctx, conn, p.id, p.addr); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return conn, nil
}

func (p *peerSender) send(conn *rpc.ClientConn, m consensus.Message) error {
	if m.Type != consensus.MsgSnap || m.Snapshot == nil {
		w := toWire(m)
		return conn.Send(msgRaft, &w)
	}
	err := p.sendSnapshot(conn, m)
	if s := p.t.stepper(); s != nil {
		s.ReportSnapshot(p.id, err != nil)
	}
	if err != nil {
		p.t.log.Warn("snapshot transfer failed", "peer", p.id, "index", m.Snapshot.Meta.Index, "error", err)
	}
	return err
}

// sendSnapshot streams a snapshot in chunks, each acknowledged, so a broken
// connection ends the transfer cleanly and the next attempt starts afresh.
func (p *peerSender) sendSnapshot(conn *rpc.ClientConn, m consensus.Message) error {
	w := toWire(m)
	size := rpc.MaxChunkData(p.t.cfg.MaxFrameSize) / 2
	sum := checksum(m.Snapshot.Data)
	for _, c := range rpc.SplitChunks(m.Snapshot.Data, size) {
		ctx, cancel := context.WithTimeout(context.Background(), p.t.cfg.DefaultCallTimeout)
		var ack bool
		crc := checksum(c.Data)
		err := conn.Call(ctx, msgSnapChunk, &snapChunk{Msg: w, Chunk: c, CRC: &crc, Sum: &sum}, &ack)
		cancel()
		if err != nil {
			return err
		}
		select {
		case <-p.stop:
			return errSenderStopped
		default:
		}
	}
	return nil
}

func (p *peerSender) unreachable(m consensus.Message) {
	if s := p.t.stepper(); s != nil {
		if m.Type == consensus.MsgSnap {
			s.ReportSnapshot(p.id, true)
		}
		s.ReportUnreachable(p.id)
	}
}

// wait sleeps for d unless the sender is stopped, draining the queue so
// stale messages do not pile up while the peer is down.
func (p *peerSender) wait(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
			return true
		case <-p.stop:
			return false
		case m := <-p.q:
			if m.Type == consensus.MsgSnap {
				if s := p.t.stepper(); s != nil {
					s.ReportSnapshot(p.id, true)
				}
			}
		}
	}
}
