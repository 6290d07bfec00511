package rpc

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockd/lockd/internal/syncbuf"
)

func TestSilentConnectionIsClosedAfterReadTimeout(t *testing.T) {
	logs := &syncbuf.Buffer{}
	cfg := testConfig(logs)
	cfg.ReadTimeout = 50 * time.Millisecond
	cfg.PingInterval = 10 * time.Millisecond
	_, addr := startServer(t, cfg, KindClient)
	nc := rawDial(t, addr, KindClient, "") // never sends a frame
	waitClosedByServer(t, nc)
	waitLog(t, logs, "i/o timeout")
}

// countConn counts the frames of one type the dial side writes.
type countConn struct {
	net.Conn
	pings atomic.Int64
	seen  chan struct{}
}

func (c *countConn) Write(p []byte) (int, error) {
	if len(p) >= headerLen && MsgType(p[4]) == TypePing {
		c.pings.Add(1)
		select {
		case c.seen <- struct{}{}:
		default:
		}
	}
	return c.Conn.Write(p)
}

func TestPingsKeepAnIdleConnectionAlive(t *testing.T) {
	cfg := testConfig(nil)
	cfg.ReadTimeout = 200 * time.Millisecond
	cfg.PingInterval = 5 * time.Millisecond
	s, addr := startServer(t, cfg, KindClient)
	registerEcho(t, s)
	cc := &countConn{seen: make(chan struct{}, 1)}
	dialer := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, network, addr)
		cc.Conn = nc
		return cc, err
	}
	c := dial(t, addr, KindClient, cfg, WithDialer(dialer))
	start := time.Now()
	// Idle (apart from pings) for well over the read timeout on both sides.
	for time.Since(start) < 3*cfg.ReadTimeout {
		<-cc.seen
	}
	if err := c.Call(context.Background(), typEcho, echoReq{N: 1}, nil); err != nil {
		t.Fatalf("after %v idle with %d pings: %v", time.Since(start), cc.pings.Load(), err)
	}
}

func TestReaderThatStallsIsDisconnectedAfterWriteTimeout(t *testing.T) {
	logs := &syncbuf.Buffer{}
	cfg := testConfig(logs)
	cfg.SendQueueLen = 1000
	cfg.MaxQueueBytes = 64 << 20 // the write timeout, not the byte budget, must end it
	cfg.WriteTimeout = 50 * time.Millisecond
	s, addr := startServer(t, cfg, KindClient)
	conns := make(chan *Conn, 1)
	s.OnConnect(func(c *Conn) { conns <- c })
	rawDial(t, addr, KindClient, "") // never reads
	c := <-conns
	payload := make([]byte, 64<<10)
	// 25 MiB: more than loopback socket buffers hold.
	for range 400 {
		if err := c.Push(typEvent, payload); err != nil {
			break
		}
	}
	<-c.Done()
	var ne net.Error
	if !errors.As(c.Err(), &ne) || !ne.Timeout() {
		t.Fatalf("got %v, want a write timeout", c.Err())
	}
	waitLog(t, logs, "i/o timeout")
}
