package rpc

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// Requests one after another run on one goroutine: the worker waits for
// the next request instead of exiting.
func TestWorkerPoolReusesAnIdleWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newWorkerPool(time.Second)
		defer p.close()
		ran := 0
		for range 100 {
			p.run(func() { ran++ })
			synctest.Wait() // the worker is back waiting for work
		}
		if ran != 100 || p.started.Load() != 1 {
			t.Fatalf("ran %d requests on %d goroutines, want 100 on 1", ran, p.started.Load())
		}
	})
}

// Requests that overlap each get a worker; none waits for another.
func TestWorkerPoolStartsAWorkerWhenNoneIsIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newWorkerPool(time.Second)
		defer p.close()
		release := make(chan struct{})
		for range 3 {
			p.run(func() { <-release })
		}
		synctest.Wait()
		if p.started.Load() != 3 {
			t.Fatalf("3 blocked requests started %d workers", p.started.Load())
		}
		close(release)
	})
}

// A worker idle for longer than the idle time exits; the next request
// starts a new one.
func TestWorkerPoolIdleWorkerExits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newWorkerPool(time.Second)
		defer p.close()
		p.run(func() {})
		time.Sleep(999 * time.Millisecond)
		p.run(func() {}) // still there
		time.Sleep(1001 * time.Millisecond)
		synctest.Wait()
		p.run(func() {})
		synctest.Wait()
		if p.started.Load() != 2 {
			t.Fatalf("started %d workers, want 2 (one reused, one after the idle exit)", p.started.Load())
		}
	})
}

// close waits for a running handler and ends idle workers at once.
func TestWorkerPoolCloseWaitsForRunningHandlers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newWorkerPool(time.Hour)
		p.run(func() {}) // becomes idle
		done := false
		p.run(func() { time.Sleep(time.Minute); done = true })
		synctest.Wait()
		p.close()
		if !done {
			t.Fatal("close returned before the running handler ended")
		}
	})
}

// Over a real connection, calls one after another reuse the server's
// request goroutines rather than starting one per request.
func TestServerReusesRequestGoroutines(t *testing.T) {
	s, addr := startServer(t, testConfig(nil), KindClient)
	registerEcho(t, s)
	c := dial(t, addr, KindClient, testConfig(nil))
	workersStarted := func(s *Server) int64 {
		conns := s.Conns()
		if len(conns) != 1 {
			t.Fatalf("%d connections", len(conns))
		}
		return conns[0].workers.started.Load()
	}
	const calls = 200
	for i := range calls {
		var resp echoResp
		if err := c.Call(context.Background(), typEcho, echoReq{N: i}, &resp); err != nil {
			t.Fatal(err)
		}
	}
	// A worker not yet back from queueing its answer when the next
	// request arrives means one more goroutine, so allow some.
	if n := workersStarted(s); n > calls/4 {
		t.Fatalf("%d sequential calls started %d request goroutines", calls, n)
	}
}
