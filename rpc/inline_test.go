package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Tests of the writer role: requests (Call) and responses (serveRequest)
// are written by their own goroutine when the writer is idle; everything
// else goes through writeLoop; and no frame is ever left in the queue
// with nobody to write it.

// withLink runs fn on the dial side's link before its goroutines start.
func withLink(fn func(*link)) DialOption {
	return func(o *dialOptions) { o.link = fn }
}

// parkWriteLoop stops a link's writeLoop from ever taking the writer role
// (until the test ends), so only inline writers can write; they never
// hand off to writeLoop either, since it would not take over.
func parkWriteLoop(t testing.TB) func(*link) {
	return func(l *link) {
		park := make(chan struct{})
		l.parkWriteLoop = park
		l.inlineBatches = 0
		t.Cleanup(func() { close(park) })
	}
}

// hookConn is a net.Conn whose writes first go through a hook (armed
// after the handshake). The hook can block, or fail the write.
type hookConn struct {
	net.Conn
	hook   atomic.Pointer[func(p []byte) error]
	closed chan struct{}
	once   sync.Once
}

func newHookConn(nc net.Conn) *hookConn { return &hookConn{Conn: nc, closed: make(chan struct{})} }

func (h *hookConn) Write(p []byte) (int, error) {
	if fn := h.hook.Load(); fn != nil {
		if err := (*fn)(p); err != nil {
			return 0, err
		}
	}
	return h.Conn.Write(p)
}

func (h *hookConn) Close() error {
	h.once.Do(func() { close(h.closed) })
	return h.Conn.Close()
}

func (h *hookConn) setHook(fn func(p []byte) error) { h.hook.Store(&fn) }

// dialHooked dials addr through a hookConn, which it returns too.
func dialHooked(t testing.TB, addr string, kind Kind, cfg Config, opts ...DialOption) (*ClientConn, *hookConn) {
	t.Helper()
	var hc *hookConn
	dialer := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		hc = newHookConn(nc)
		return hc, nil
	}
	c := dial(t, addr, kind, cfg, append(opts, WithDialer(dialer))...)
	return c, hc
}

// quietConfig has no pings, so that the only frames written are the
// test's own.
func quietConfig() Config {
	cfg := testConfig(nil)
	cfg.PingInterval = 0
	cfg.ReadTimeout = 0
	return cfg
}

// within fails the test if ch does not deliver in a generous bound (a
// guard against hangs, not a synchronisation).
func within[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func boundedCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestCallAndResponseAreWrittenInlineWithoutWriteLoop(t *testing.T) {
	s, addr := startServer(t, quietConfig(), KindClient)
	registerEcho(t, s)
	s.OnConnect(func(c *Conn) { parkWriteLoop(t)(c.link) })
	c := dial(t, addr, KindClient, quietConfig(), withLink(parkWriteLoop(t)))
	// Neither side's writeLoop ever runs: the request can only be written
	// by the calling goroutine and the response by the handler's.
	for i := range 20 {
		var resp echoResp
		if err := c.Call(boundedCtx(t), typEcho, echoReq{N: i, Text: "x"}, &resp); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if resp.N != 2*i {
			t.Fatalf("call %d: got %+v", i, resp)
		}
	}
}

func TestConcurrentInlineWritersStrandNothing(t *testing.T) {
	// With writeLoop parked on both sides (and so no hand-off), every
	// frame must be written by whichever caller holds the role: a frame
	// whose producer found the role taken is written by the holder before
	// it lets go, or nobody would ever write it and its call would hang.
	s, addr := startServer(t, quietConfig(), KindClient)
	registerEcho(t, s)
	s.OnConnect(func(c *Conn) { parkWriteLoop(t)(c.link) })
	c := dial(t, addr, KindClient, quietConfig(), withLink(parkWriteLoop(t)))
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for g := range 32 {
		wg.Go(func() {
			for i := range 100 {
				n := g*1000 + i
				var resp echoResp
				if err := c.Call(boundedCtx(t), typEcho, echoReq{N: n}, &resp); err != nil {
					errs <- fmt.Errorf("call %d: %w", n, err)
					return
				}
				if resp.N != 2*n {
					errs <- fmt.Errorf("call %d: got %+v", n, resp)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestQueuedFramesAreNotWrittenInline(t *testing.T) {
	s, addr := startServer(t, quietConfig(), KindPeer)
	got := make(chan event, 10)
	err := Register(s, typRaft, func(_ context.Context, _ *Conn, e *event) (any, error) {
		got <- *e
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	registerEcho(t, s)
	park := make(chan struct{})
	c := dial(t, addr, KindPeer, quietConfig(), withLink(func(l *link) { l.parkWriteLoop = park }))
	if err := c.Send(typRaft, event{Seq: 1}); err != nil {
		t.Fatal(err)
	}
	// Send returned and writeLoop is parked: the frame must still be in
	// the queue (Send never writes on the caller's goroutine).
	c.q.mu.Lock()
	queued, writing := len(c.q.frames), c.q.writing
	c.q.mu.Unlock()
	if queued != 1 || writing {
		t.Fatalf("after Send: %d frames queued, writing %v; want 1, false", queued, writing)
	}
	close(park)
	if e := within(t, got, "the send after unparking writeLoop"); e.Seq != 1 {
		t.Fatalf("got %+v", e)
	}
	if err := c.Call(boundedCtx(t), typEcho, echoReq{N: 1}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestInlineWriterWritesEarlierQueuedFramesFirst(t *testing.T) {
	s, addr := startServer(t, quietConfig(), KindPeer)
	var mu sync.Mutex
	var seen []int
	err := Register(s, typRaft, func(_ context.Context, _ *Conn, e *event) (any, error) {
		mu.Lock()
		seen = append(seen, e.Seq)
		mu.Unlock()
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = Register(s, typEcho, func(_ context.Context, _ *Conn, r *echoReq) (any, error) {
		// One-way frames are handled on the reader before the next
		// frame is read, so those sent before this request are in.
		mu.Lock()
		defer mu.Unlock()
		return echoResp{N: len(seen)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, addr, KindPeer, quietConfig(), withLink(parkWriteLoop(t)))
	barrier := make(chan struct{})
	for i := range 5 {
		if err := c.Send(typRaft, event{Seq: i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.q.put(outFrame{barrier: barrier}, false); err != nil {
		t.Fatal(err)
	}
	var resp echoResp
	if err := c.Call(boundedCtx(t), typEcho, echoReq{}, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.N != 5 {
		t.Fatalf("the request overtook queued sends: server had seen %d of 5", resp.N)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, seq := range seen {
		if seq != i {
			t.Fatalf("sends out of order: %v", seen)
		}
	}
	select {
	case <-barrier:
	default:
		t.Fatal("the inline writer passed a barrier without closing it")
	}
}

func TestInlineWriterHandsOffToWriteLoop(t *testing.T) {
	s, addr := startServer(t, quietConfig(), KindPeer)
	registerEcho(t, s)
	got := make(chan event, 1)
	err := Register(s, typRaft, func(_ context.Context, _ *Conn, e *event) (any, error) {
		got <- *e
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	missed := make(chan struct{}, 1)
	c, hc := dialHooked(t, addr, KindPeer, quietConfig(), withLink(func(l *link) {
		l.inlineBatches = 1
		l.claimMissed = func() { missed <- struct{}{} }
	}))

	entered := make(chan struct{})
	release := make(chan struct{})
	callDone := make(chan error, 1)
	var writes atomic.Int32
	hc.setHook(func([]byte) error {
		switch writes.Add(1) {
		case 1: // the caller flushing its request
			close(entered)
			<-release
		case 2: // must be writeLoop: the caller has returned
			select {
			case err := <-callDone:
				callDone <- err
			case <-time.After(10 * time.Second):
				return errors.New("the calling goroutine was kept writing others' frames")
			}
		}
		return nil
	})
	go func() { callDone <- c.Call(boundedCtx(t), typEcho, echoReq{N: 1}, nil) }()
	within(t, entered, "the inline write")
	// Queued while the caller holds the role: after its one batch the
	// caller must hand this to writeLoop instead of writing it.
	if err := c.Send(typRaft, event{Seq: 7}); err != nil {
		t.Fatal(err)
	}
	// writeLoop, woken by the Send, found the role held and went back to
	// sleep: only the hand-off can wake it again.
	within(t, missed, "writeLoop to find the role held")
	close(release)
	if e := within(t, got, "the send written by writeLoop"); e.Seq != 7 {
		t.Fatalf("got %+v", e)
	}
	if err := within(t, callDone, "the call"); err != nil {
		t.Fatal(err)
	}
	if n := writes.Load(); n != 2 {
		t.Fatalf("%d writes, want 2", n)
	}
}

func TestInlineWriteErrorFailsTheConnection(t *testing.T) {
	s, addr := startServer(t, quietConfig(), KindClient)
	registerEcho(t, s)
	c, hc := dialHooked(t, addr, KindClient, quietConfig(), withLink(parkWriteLoop(t)))
	injected := errors.New("injected write failure")
	hc.setHook(func([]byte) error { return injected })
	err := c.Call(boundedCtx(t), typEcho, echoReq{N: 1}, nil)
	if !errors.Is(err, ErrConnLost) || !errors.Is(err, injected) {
		t.Fatalf("call: got %v, want ErrConnLost wrapping the write error", err)
	}
	within(t, c.Done(), "the connection to close")
	if c.Err() != err {
		t.Fatalf("Err() = %v, call returned %v: want the connection's error", c.Err(), err)
	}
	if err2 := c.Call(boundedCtx(t), typEcho, echoReq{N: 1}, nil); err2 != err {
		t.Fatalf("call after close: got %v, want %v", err2, err)
	}
	if err2 := c.Send(typEcho, echoReq{}); err2 != err {
		t.Fatalf("send after close: got %v, want %v", err2, err)
	}
}

// hookListener wraps accepted connections in hookConns.
type hookListener struct {
	net.Listener
	conns chan *hookConn
}

func (l *hookListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	hc := newHookConn(nc)
	l.conns <- hc
	return hc, nil
}

func TestInlineResponseWriteErrorFailsTheServerConnection(t *testing.T) {
	s, err := NewServer(quietConfig(), KindClient)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	registerEcho(t, s)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hl := &hookListener{Listener: ln, conns: make(chan *hookConn, 1)}
	go func() { _ = s.Serve(hl) }()
	conns := make(chan *Conn, 1)
	s.OnConnect(func(c *Conn) {
		parkWriteLoop(t)(c.link)
		conns <- c
	})
	c := dial(t, ln.Addr().String(), KindClient, quietConfig())
	hc := within(t, hl.conns, "the accepted connection")
	sc := within(t, conns, "the server connection")
	injected := errors.New("injected response write failure")
	hc.setHook(func([]byte) error { return injected })
	callErr := c.Call(boundedCtx(t), typEcho, echoReq{N: 1}, nil)
	if !errors.Is(callErr, ErrConnLost) {
		t.Fatalf("call: got %v, want ErrConnLost", callErr)
	}
	within(t, sc.Done(), "the server connection to close")
	if !errors.Is(sc.Err(), ErrConnLost) || !errors.Is(sc.Err(), injected) {
		t.Fatalf("server connection: got %v, want ErrConnLost wrapping the write error", sc.Err())
	}
}

func TestCloseDuringABlockedInlineWrite(t *testing.T) {
	s, addr := startServer(t, quietConfig(), KindClient)
	registerEcho(t, s)
	c, hc := dialHooked(t, addr, KindClient, quietConfig(), withLink(parkWriteLoop(t)))
	entered := make(chan struct{}, 1)
	var afterClose atomic.Int32
	hc.setHook(func([]byte) error {
		select {
		case <-hc.closed:
			afterClose.Add(1)
			return net.ErrClosed
		default:
		}
		entered <- struct{}{}
		<-hc.closed // a socket stalled until it is closed
		return net.ErrClosed
	})
	const callers = 8
	errs := make(chan error, callers)
	for range callers {
		go func() { errs <- c.Call(boundedCtx(t), typEcho, echoReq{N: 1}, nil) }()
	}
	within(t, entered, "an inline write to block")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for range callers {
		if err := within(t, errs, "a call to return"); !errors.Is(err, ErrClosed) {
			t.Fatalf("call: got %v, want ErrClosed", err)
		}
	}
	if err := c.Call(boundedCtx(t), typEcho, echoReq{N: 1}, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after close: got %v", err)
	}
	if n := afterClose.Load(); n != 0 {
		t.Fatalf("%d writes started after Close", n)
	}
}

func TestFaultsBlockDuringABlockedInlineWrite(t *testing.T) {
	s, addr := startServer(t, quietConfig(), KindPeer)
	registerEcho(t, s)
	faults := NewFaults()
	cfg := quietConfig()
	cfg.Faults = faults
	c, hc := dialHooked(t, addr, KindPeer, cfg, withLink(parkWriteLoop(t)))
	entered := make(chan struct{})
	hc.setHook(func([]byte) error {
		close(entered)
		<-hc.closed
		return net.ErrClosed
	})
	callErr := make(chan error, 1)
	go func() { callErr <- c.Call(boundedCtx(t), typEcho, echoReq{N: 1}, nil) }()
	within(t, entered, "the inline write to block")
	faults.Block(addr)
	err := within(t, callErr, "the call")
	if !errors.Is(err, ErrPartitioned) || err != c.Err() {
		t.Fatalf("call: got %v, want the connection's error %v (ErrPartitioned)", err, c.Err())
	}
}

func TestCloseWhileInlineWritersHammer(t *testing.T) {
	for round := range 20 {
		s, addr := startServer(t, quietConfig(), KindClient)
		registerEcho(t, s)
		c := dial(t, addr, KindClient, quietConfig())
		var wg sync.WaitGroup
		started := make(chan struct{}, 16)
		for range 16 {
			wg.Go(func() {
				started <- struct{}{}
				for {
					err := c.Call(boundedCtx(t), typEcho, echoReq{N: 1}, nil)
					if err == nil {
						continue
					}
					if !errors.Is(err, ErrClosed) && !errors.Is(err, ErrConnLost) {
						t.Errorf("round %d: %v", round, err)
					}
					return
				}
			})
		}
		for range 16 {
			<-started
		}
		if round%2 == 0 {
			_ = c.Close()
		} else {
			_ = s.Close() // the server's inline writers see their socket close
		}
		wg.Wait()
		_ = c.Close()
		_ = s.Close()
	}
}

// TestMixedTrafficEveryFrameOnceInOrder hammers one connection with
// inline requests and responses, queued one-way sends and queued pushes
// at once, and checks that every frame arrives exactly once and in each
// producer's order.
func TestMixedTrafficEveryFrameOnceInOrder(t *testing.T) {
	for _, batches := range []int{1, maxInlineBatches, 0} {
		t.Run(fmt.Sprintf("inlineBatches=%d", batches), func(t *testing.T) {
			testMixedTraffic(t, batches)
		})
	}
}

type mixedMsg struct {
	P   int // producer
	Seq int // per producer, across its sends and calls
}

func testMixedTraffic(t *testing.T, batches int) {
	const producers, perProducer = 12, 300
	cfg := quietConfig()
	cfg.SendQueueLen = producers * perProducer // no drops
	cfg.PushQueueLen = producers * perProducer
	cfg.NodeID = "n2"
	s, addr := startServer(t, cfg, KindPeer)
	s.OnConnect(func(c *Conn) { c.inlineBatches = batches })

	var mu sync.Mutex
	next := make([]int, producers) // next seq the server expects from each producer
	var errs []error
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	// One-way sends are handled in arrival order on the reader.
	err := Register(s, typRaft, func(_ context.Context, _ *Conn, m *mixedMsg) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		if m.Seq != next[m.P] {
			errs = append(errs, fmt.Errorf("producer %d: send %d arrived, expected %d", m.P, m.Seq, next[m.P]))
		}
		next[m.P] = m.Seq + 1
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A request is read after every earlier frame of its producer, and
	// its producer sends nothing more until it is answered. Each one
	// pushes an event (queued) before its response (inline).
	err = Register(s, typEcho, func(_ context.Context, c *Conn, m *mixedMsg) (any, error) {
		mu.Lock()
		if m.Seq != next[m.P] {
			errs = append(errs, fmt.Errorf("producer %d: call %d arrived, expected %d", m.P, m.Seq, next[m.P]))
		}
		next[m.P] = m.Seq + 1
		mu.Unlock()
		if err := c.Push(typEvent, *m); err != nil {
			return nil, err
		}
		return *m, nil
	})
	if err != nil {
		t.Fatal(err)
	}

	pushNext := make([]int, producers)
	var pushes atomic.Int64
	var calls atomic.Int64
	allPushed := make(chan struct{}, 1)
	ccfg := quietConfig()
	ccfg.SendQueueLen = producers * perProducer
	ccfg.PushQueueLen = producers * perProducer
	c := dial(t, addr, KindPeer, ccfg,
		withLink(func(l *link) { l.inlineBatches = batches }),
		WithPushHandler(func(typ MsgType, b Body) {
			var m mixedMsg
			if typ != typEvent || b.Decode(&m) != nil {
				fail(fmt.Errorf("bad push of type %d", typ))
				return
			}
			// Pushes for one producer come in call order (seq rises).
			if m.Seq < pushNext[m.P] {
				fail(fmt.Errorf("producer %d: push %d after %d", m.P, m.Seq, pushNext[m.P]))
			}
			pushNext[m.P] = m.Seq + 1
			if pushes.Add(1) == calls.Load() && calls.Load() > 0 {
				select {
				case allPushed <- struct{}{}:
				default:
				}
			}
		}))

	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for seq := range perProducer {
				m := mixedMsg{P: p, Seq: seq}
				if (seq+p)%3 == 0 {
					var resp mixedMsg
					if err := c.Call(boundedCtx(t), typEcho, m, &resp); err != nil {
						fail(fmt.Errorf("producer %d call %d: %w", p, seq, err))
						return
					}
					if resp != m {
						fail(fmt.Errorf("producer %d call %d: answer %+v", p, seq, resp))
					}
					continue
				}
				if err := c.Send(typRaft, m); err != nil {
					fail(fmt.Errorf("producer %d send %d: %w", p, seq, err))
					return
				}
			}
		})
	}
	wg.Wait()
	// Count the calls made, then wait for their pushes.
	var wantCalls int64
	for p := range producers {
		for seq := range perProducer {
			if (seq+p)%3 == 0 {
				wantCalls++
			}
		}
	}
	calls.Store(wantCalls)
	if pushes.Load() < wantCalls {
		within(t, allPushed, "every push")
	}
	if n := pushes.Load(); n != wantCalls {
		t.Errorf("%d pushes arrived, want %d", n, wantCalls)
	}
	// One last call per producer flushes every send before it.
	for p := range producers {
		m := mixedMsg{P: p, Seq: perProducer}
		if err := c.Call(boundedCtx(t), typEcho, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, err := range errs {
		t.Error(err)
	}
	for p, n := range next {
		if n != perProducer+1 {
			t.Errorf("producer %d: server saw %d frames, want %d", p, n, perProducer+1)
		}
	}
}
