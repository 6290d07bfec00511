package rpc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lockd/lockd/internal/syncbuf"
)

func TestCallRoundTrip(t *testing.T) {
	s, addr := startServer(t, testConfig(nil), KindClient)
	registerEcho(t, s)
	c := dial(t, addr, KindClient, testConfig(nil))
	var resp echoResp
	if err := c.Call(context.Background(), typEcho, echoReq{N: 21, Text: "hi"}, &resp); err != nil {
		t.Fatal(err)
	}
	if resp != (echoResp{N: 42, Text: "hi"}) {
		t.Fatalf("got %+v", resp)
	}
	if err := c.Call(context.Background(), typEcho, echoReq{N: 1}, nil); err != nil {
		t.Fatalf("call discarding the response: %v", err)
	}
}

func TestManyConcurrentCallsOnOneConnection(t *testing.T) {
	s, addr := startServer(t, testConfig(nil), KindClient)
	registerEcho(t, s)
	c := dial(t, addr, KindClient, testConfig(nil))
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				n := g*1000 + i
				var resp echoResp
				if err := c.Call(context.Background(), typEcho, echoReq{N: n, Text: fmt.Sprint(n)}, &resp); err != nil {
					errs <- err
					return
				}
				if resp.N != 2*n || resp.Text != fmt.Sprint(n) {
					errs <- fmt.Errorf("request %d got %+v", n, resp)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestResponsesMayArriveOutOfOrder(t *testing.T) {
	s, addr := startServer(t, testConfig(nil), KindClient)
	release := make(chan struct{})
	entered := make(chan struct{})
	err := Register(s, typBlock, func(ctx context.Context, _ *Conn, r *echoReq) (any, error) {
		if r.N == 1 {
			close(entered)
			<-release
		}
		return echoResp{N: r.N}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, addr, KindClient, testConfig(nil))
	first := make(chan error, 1)
	go func() {
		var resp echoResp
		err := c.Call(context.Background(), typBlock, echoReq{N: 1}, &resp)
		if err == nil && resp.N != 1 {
			err = fmt.Errorf("first call got %+v", resp)
		}
		first <- err
	}()
	<-entered
	// The second request is answered while the first is still running.
	var resp echoResp
	if err := c.Call(context.Background(), typBlock, echoReq{N: 2}, &resp); err != nil || resp.N != 2 {
		t.Fatalf("second call: %+v %v", resp, err)
	}
	select {
	case err := <-first:
		t.Fatalf("first call finished before release: %v", err)
	default:
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
}

func TestCallDeadlineCancelsTheHandler(t *testing.T) {
	s, addr := startServer(t, testConfig(nil), KindClient)
	handlerSaw := make(chan error, 1)
	err := s.Handle(typBlock, func(ctx context.Context, _ *Conn, _ MsgType, _ Body) (any, error) {
		<-ctx.Done()
		handlerSaw <- ctx.Err()
		return nil, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, addr, KindClient, testConfig(nil))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := c.Call(ctx, typBlock, 1, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	// The cancel frame reaches the handler: it returns without any
	// server-side timeout.
	if err := <-handlerSaw; !errors.Is(err, context.Canceled) {
		t.Fatalf("handler saw %v", err)
	}
	// The connection is still usable afterwards.
	registerEcho(t, s)
	if err := c.Call(context.Background(), typEcho, echoReq{N: 1}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestCallWithoutDeadlineGetsTheDefault(t *testing.T) {
	s, addr := startServer(t, testConfig(nil), KindClient)
	err := s.Handle(typBlock, func(ctx context.Context, _ *Conn, _ MsgType, _ Body) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(nil)
	cfg.DefaultCallTimeout = 20 * time.Millisecond
	c := dial(t, addr, KindClient, cfg)
	if err := c.Call(context.Background(), typBlock, 1, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
}

type lockHeldError struct{}

func (lockHeldError) Error() string   { return "locks: lock held" }
func (lockHeldError) RPCCode() uint32 { return 104 }

func TestRemoteErrorsCarryCodes(t *testing.T) {
	s, addr := startServer(t, testConfig(nil), KindClient)
	err := Register(s, typFail, func(_ context.Context, _ *Conn, r *echoReq) (any, error) {
		switch r.N {
		case 1:
			return nil, Errorf(123, "no such %s", "session")
		case 2:
			return nil, fmt.Errorf("acquire: %w", lockHeldError{})
		case 3:
			return nil, context.Canceled
		default:
			return nil, errors.New("disk on fire")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, addr, KindClient, testConfig(nil))
	cases := []struct {
		n    int
		code uint32
		msg  string
	}{
		{1, 123, "no such session"},
		{2, 104, "acquire: locks: lock held"},
		{3, CodeCanceled, "context canceled"},
		{4, CodeInternal, "disk on fire"},
	}
	for _, tc := range cases {
		err := c.Call(context.Background(), typFail, echoReq{N: tc.n}, nil)
		var re *RemoteError
		if !errors.As(err, &re) {
			t.Fatalf("case %d: got %v, want *RemoteError", tc.n, err)
		}
		if re.Code != tc.code || re.Message != tc.msg {
			t.Errorf("case %d: got %d %q, want %d %q", tc.n, re.Code, re.Message, tc.code, tc.msg)
		}
	}
	if c.Err() != nil {
		t.Fatalf("remote errors closed the connection: %v", c.Err())
	}
}

func TestCallWaitsForAnInFlightSlot(t *testing.T) {
	s, addr := startServer(t, testConfig(nil), KindClient)
	entered := make(chan int, 8)
	release := make(chan struct{})
	err := Register(s, typBlock, func(_ context.Context, _ *Conn, r *echoReq) (any, error) {
		entered <- r.N
		<-release
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(nil)
	cfg.MaxInFlight = 2
	c := dial(t, addr, KindClient, cfg)
	done := make(chan error, 2)
	for n := range 2 {
		go func() { done <- c.Call(context.Background(), typBlock, echoReq{N: n}, nil) }()
	}
	<-entered
	<-entered
	// A third call cannot get a slot; it times out without reaching the
	// server.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := c.Call(ctx, typBlock, echoReq{N: 3}, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third call: got %v", err)
	}
	close(release)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	select {
	case n := <-entered:
		t.Fatalf("request %d reached the handler beyond the limit", n)
	default:
	}
	if err := c.Call(context.Background(), typBlock, echoReq{N: 4}, nil); err != nil {
		t.Fatalf("after slots freed: %v", err)
	}
}

func TestServerEnforcesInFlightLimit(t *testing.T) {
	logs := &syncbuf.Buffer{}
	cfg := testConfig(logs)
	cfg.MaxInFlight = 2
	s, addr := startServer(t, cfg, KindClient)
	release := make(chan struct{})
	defer close(release)
	err := s.Handle(typBlock, func(ctx context.Context, _ *Conn, _ MsgType, _ Body) (any, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	nc := rawDial(t, addr, KindClient, "")
	body := mustEncode(t, 1)
	for id := uint64(1); id <= 3; id++ {
		if _, err := nc.Write(rawFrame(typBlock, id, body)); err != nil {
			t.Fatal(err)
		}
	}
	waitClosedByServer(t, nc)
	waitLog(t, logs, "too many requests in flight")
}

func TestLostConnectionFailsPendingCalls(t *testing.T) {
	s, addr := startServer(t, testConfig(nil), KindClient)
	entered := make(chan *Conn, 1)
	err := s.Handle(typBlock, func(ctx context.Context, c *Conn, _ MsgType, _ Body) (any, error) {
		entered <- c
		<-ctx.Done()
		return nil, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, addr, KindClient, testConfig(nil))
	done := make(chan error, 1)
	go func() { done <- c.Call(context.Background(), typBlock, 1, nil) }()
	sc := <-entered
	_ = sc.Close()
	if err := <-done; !errors.Is(err, ErrConnLost) {
		t.Fatalf("pending call: got %v, want ErrConnLost", err)
	}
	if err := c.Call(context.Background(), typBlock, 1, nil); !errors.Is(err, ErrConnLost) {
		t.Fatalf("call after loss: got %v, want ErrConnLost", err)
	}
}

func TestLocalCloseFailsPendingCallsWithErrClosed(t *testing.T) {
	s, addr := startServer(t, testConfig(nil), KindClient)
	entered := make(chan struct{}, 1)
	err := s.Handle(typBlock, func(ctx context.Context, _ *Conn, _ MsgType, _ Body) (any, error) {
		entered <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, addr, KindClient, testConfig(nil))
	done := make(chan error, 1)
	go func() { done <- c.Call(context.Background(), typBlock, 1, nil) }()
	<-entered
	_ = c.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v, want ErrClosed", err)
	}
	if err := c.Send(typRaft, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after close: got %v", err)
	}
}

func TestServerCloseEndsConnectionsAndHandlers(t *testing.T) {
	s, addr := startServer(t, testConfig(nil), KindClient)
	entered := make(chan struct{}, 1)
	err := s.Handle(typBlock, func(ctx context.Context, _ *Conn, _ MsgType, _ Body) (any, error) {
		entered <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, addr, KindClient, testConfig(nil))
	done := make(chan error, 1)
	go func() { done <- c.Call(context.Background(), typBlock, 1, nil) }()
	<-entered
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrConnLost) {
		t.Fatalf("got %v, want ErrConnLost", err)
	}
	if _, err := Dial(context.Background(), addr, KindClient, testConfig(nil)); err == nil {
		t.Fatal("dial after server close succeeded")
	}
}

func TestCallRejectsReservedTypes(t *testing.T) {
	_, addr := startServer(t, testConfig(nil), KindClient)
	c := dial(t, addr, KindClient, testConfig(nil))
	for _, typ := range []MsgType{0, TypeResponse, TypePing, 0xff} {
		if err := c.Call(context.Background(), typ, 1, nil); !errors.Is(err, ErrBadType) {
			t.Errorf("type %d: got %v", typ, err)
		}
	}
}

func TestShutdownFinishesRunningRequestsAndRefusesNewOnes(t *testing.T) {
	s, addr := startServer(t, testConfig(nil), KindClient)
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	err := Register(s, typBlock, func(_ context.Context, _ *Conn, r *echoReq) (any, error) {
		if r.N == 1 {
			entered <- struct{}{}
			<-release
		}
		return echoResp{N: r.N}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, addr, KindClient, testConfig(nil))
	first := make(chan error, 1)
	go func() {
		var resp echoResp
		err := c.Call(context.Background(), typBlock, echoReq{N: 1}, &resp)
		if err == nil && resp.N != 1 {
			err = fmt.Errorf("got %+v", resp)
		}
		first <- err
	}()
	<-entered
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	// Once draining, a new request is refused with CodeShuttingDown; retry
	// until the server has started draining.
	var re *RemoteError
	for {
		err := c.Call(context.Background(), typBlock, echoReq{N: 2}, nil)
		if errors.As(err, &re) {
			break
		}
		if err != nil {
			t.Fatalf("new request during shutdown: %v", err)
		}
	}
	if re.Code != CodeShuttingDown {
		t.Fatalf("code %d, want CodeShuttingDown", re.Code)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("running request was not answered: %v", err)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	<-c.Done()
}
