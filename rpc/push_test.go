package rpc

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
)

type event struct {
	Seq  int
	Lock string
}

func TestServerPushesArriveInOrder(t *testing.T) {
	s, addr := startServer(t, testConfig(nil), KindClient)
	err := Register(s, typSubscribe, func(_ context.Context, c *Conn, r *echoReq) (any, error) {
		for i := range r.N {
			if err := c.Push(typEvent, event{Seq: i, Lock: "jobs/nightly"}); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan event, 100)
	c := dial(t, addr, KindClient, testConfig(nil), WithPushHandler(func(typ MsgType, b Body) {
		var e event
		if typ != typEvent || b.Decode(&e) != nil {
			e.Seq = -1
		}
		got <- e
	}))
	if err := c.Call(context.Background(), typSubscribe, echoReq{N: 100}, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if e := <-got; e.Seq != i || e.Lock != "jobs/nightly" {
			t.Fatalf("push %d: got %+v", i, e)
		}
	}
}

func TestPushRejectsReservedTypes(t *testing.T) {
	s, addr := startServer(t, testConfig(nil), KindClient)
	conns := make(chan *Conn, 1)
	s.OnConnect(func(c *Conn) { conns <- c })
	dial(t, addr, KindClient, testConfig(nil))
	c := <-conns
	if err := c.Push(TypeResponse, 1); !errors.Is(err, ErrBadType) {
		t.Fatalf("got %v, want ErrBadType", err)
	}
}

func TestSlowPushReaderIsDisconnected(t *testing.T) {
	// The dial side never reads: the server's writer blocks, its queue
	// fills, and Push disconnects instead of blocking.
	cfg := testConfig(nil)
	cfg.SendQueueLen = 4
	s, addr := startServer(t, cfg, KindClient)
	conns := make(chan *Conn, 1)
	s.OnConnect(func(c *Conn) { conns <- c })
	rawDial(t, addr, KindClient, "")
	c := <-conns
	payload := bytes.Repeat([]byte{1}, 64<<10)
	var err error
	for i := 0; i < 100_000 && err == nil; i++ {
		err = c.Push(typEvent, payload)
	}
	if !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("got %v, want ErrSlowConsumer", err)
	}
	<-c.Done()
	if !errors.Is(c.Err(), ErrSlowConsumer) {
		t.Fatalf("connection error %v", c.Err())
	}
}

func TestSlowPushHandlerClosesTheClientConnection(t *testing.T) {
	s, addr := startServer(t, testConfig(nil), KindClient)
	conns := make(chan *Conn, 1)
	s.OnConnect(func(c *Conn) { conns <- c })
	cfg := testConfig(nil)
	cfg.PushQueueLen = 1
	block := make(chan struct{})
	defer close(block)
	cc := dial(t, addr, KindClient, cfg, WithPushHandler(func(MsgType, Body) { <-block }))
	sc := <-conns
	// The first push occupies the handler, the second the queue, the
	// third overflows.
	for i := range 3 {
		if err := sc.Push(typEvent, i); err != nil {
			t.Fatal(err)
		}
	}
	<-cc.Done()
	if !errors.Is(cc.Err(), ErrSlowConsumer) {
		t.Fatalf("got %v, want ErrSlowConsumer", cc.Err())
	}
}

func TestPushHandlerMayCloseItsConnection(t *testing.T) {
	s, addr := startServer(t, testConfig(nil), KindClient)
	conns := make(chan *Conn, 1)
	s.OnConnect(func(c *Conn) { conns <- c })
	var cc *ClientConn
	ready := make(chan struct{})
	closed := make(chan struct{})
	cc = dial(t, addr, KindClient, testConfig(nil), WithPushHandler(func(MsgType, Body) {
		<-ready
		_ = cc.Close()
		close(closed)
	}))
	close(ready)
	if err := (<-conns).Push(typEvent, 1); err != nil {
		t.Fatal(err)
	}
	<-closed
	if !errors.Is(cc.Err(), ErrClosed) {
		t.Fatalf("got %v", cc.Err())
	}
}

func TestOneWaySendsArriveInOrder(t *testing.T) {
	scfg := testConfig(nil)
	scfg.NodeID = "n2"
	s, addr := startServer(t, scfg, KindPeer)
	got := make(chan event, 1000)
	err := Register(s, typRaft, func(_ context.Context, c *Conn, e *event) (any, error) {
		if c.RemoteID() != "n1" {
			e.Seq = -1
		}
		got <- *e
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, addr, KindPeer, testConfig(nil))
	for i := range 1000 {
		if err := c.Send(typRaft, event{Seq: i}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 1000 {
		if e := <-got; e.Seq != i {
			t.Fatalf("message %d: got %+v", i, e)
		}
	}
}

// stallConn is a net.Conn whose writes block while stalled.
type stallConn struct {
	net.Conn
	mu    sync.Mutex
	gate  chan struct{} // non-nil while stalled
	enter chan struct{} // receives when a write starts blocking
}

func (s *stallConn) Write(p []byte) (int, error) {
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		select {
		case s.enter <- struct{}{}:
		default:
		}
		<-gate
	}
	return s.Conn.Write(p)
}

func (s *stallConn) stall() {
	s.mu.Lock()
	s.gate = make(chan struct{})
	s.mu.Unlock()
}

func (s *stallConn) resume() {
	s.mu.Lock()
	close(s.gate)
	s.gate = nil
	s.mu.Unlock()
}

func TestSendWithFullQueueDropsAndKeepsTheConnection(t *testing.T) {
	s, addr := startServer(t, testConfig(nil), KindPeer)
	got := make(chan int, 100)
	err := Register(s, typRaft, func(_ context.Context, _ *Conn, n *int) (any, error) {
		got <- *n
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sc := &stallConn{enter: make(chan struct{}, 1)}
	dialer := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, network, addr)
		sc.Conn = nc
		return sc, err
	}
	cfg := testConfig(nil)
	cfg.SendQueueLen = 8
	cfg.PingInterval = 0 // no pings in the queue
	cfg.ReadTimeout = 0
	c := dial(t, addr, KindPeer, cfg, WithDialer(dialer))
	sc.stall()
	if err := c.Send(typRaft, 0); err != nil {
		t.Fatal(err)
	}
	<-sc.enter // the writer holds message 0 and is blocked
	for i := 1; i <= 8; i++ {
		if err := c.Send(typRaft, i); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if err := c.Send(typRaft, 9); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("send 9: got %v, want ErrQueueFull", err)
	}
	if c.Err() != nil {
		t.Fatalf("connection closed: %v", c.Err())
	}
	sc.resume()
	for want := range 9 {
		if n := <-got; n != want {
			t.Fatalf("got message %d, want %d", n, want)
		}
	}
	// Message 9 was dropped; the queue has drained and takes more.
	if err := c.Send(typRaft, 10); err != nil {
		t.Fatal(err)
	}
	if n := <-got; n != 10 {
		t.Fatalf("got message %d, want 10", n)
	}
}
