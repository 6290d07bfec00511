package rpc

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lockd/lockd/internal/syncbuf"
)

// A request keeps its in-flight slot until the writer takes up its
// answer, so a client that pipelines requests and never reads is cut at
// MaxInFlight instead of piling up answers. Before, the slot was freed
// when the handler returned, and such a client was never cut.
func TestAnswersNotWrittenKeepTheirInFlightSlots(t *testing.T) {
	cfg := testConfig(nil)
	cfg.MaxInFlight = 2
	s, ln := servePipes(t, cfg, KindClient)
	// Answers larger than the write buffer: the writer blocks on the
	// first one it takes up, as nobody reads the pipe.
	big := make([]byte, 2*cfg.WriteBufferSize)
	entered := make(chan struct{}, 8)
	if err := Register(s, typEcho, func(context.Context, *Conn, *echoReq) (any, error) {
		entered <- struct{}{}
		return big, nil
	}); err != nil {
		t.Fatal(err)
	}
	conns := make(chan *Conn, 1)
	s.OnConnect(func(c *Conn) { conns <- c })
	nc := dialPipe(t, ln, "")
	pipeHandshake(t, nc, KindClient, "")
	c := <-conns
	handlersRunning := func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.requests)
	}
	// One request at a time, each sent only when the previous handler
	// has returned: never two handlers at once. The writer frees the slot
	// of the answer it is writing; the next two answers, queued behind
	// it, hold both slots, so the fourth request is one too many.
	body := mustEncode(t, echoReq{N: 1})
	for id := uint64(1); id <= 6; id++ {
		if _, err := nc.Write(rawFrame(typEcho, id, body)); err != nil {
			break // cut
		}
		select {
		case <-entered:
		case <-c.Done():
		}
		for handlersRunning() > 0 && c.Err() == nil {
			time.Sleep(time.Millisecond) // polls a condition; no timing is assumed
		}
	}
	waitDone(t, c)
	if !errors.Is(c.Err(), ErrTooManyInFlight) {
		t.Fatalf("closed with %v, want ErrTooManyInFlight", c.Err())
	}
}

// A dial side that keeps to MaxInFlight never trips the server's count,
// although the server now frees a slot only as the answer is written.
func TestCallsAtTheInFlightLimitNeverTripTheServer(t *testing.T) {
	cfg := testConfig(nil)
	cfg.MaxInFlight = 4
	s, addr := startServer(t, cfg, KindClient)
	registerEcho(t, s)
	c := dial(t, addr, KindClient, cfg)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				var r echoResp
				if err := c.Call(context.Background(), typEcho, echoReq{N: g*1000 + i}, &r); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// Answers count in bytes: a client that pipelines large reads and does not
// read the answers is cut once MaxQueueBytes are queued, long before
// MaxInFlight answers of a megabyte pile up.
func TestSlowReaderOfAnswersIsCutAtTheByteBudget(t *testing.T) {
	logs := &syncbuf.Buffer{}
	cfg := testConfig(logs) // a queue budget of 8 MiB, MaxInFlight 256
	s, ln := servePipes(t, cfg, KindClient)
	big := bytes.Repeat([]byte{7}, 1<<20)
	if err := Register(s, typEcho, func(context.Context, *Conn, *echoReq) (any, error) { return big, nil }); err != nil {
		t.Fatal(err)
	}
	conns := make(chan *Conn, 1)
	s.OnConnect(func(c *Conn) { conns <- c })
	nc := dialPipe(t, ln, "")
	pipeHandshake(t, nc, KindClient, "")
	c := <-conns
	go func() {
		body := mustEncode(t, echoReq{})
		for id := uint64(1); id <= 40; id++ {
			if _, err := nc.Write(rawFrame(typEcho, id, body)); err != nil {
				return
			}
		}
	}()
	waitDone(t, c)
	if !errors.Is(c.Err(), ErrSlowConsumer) {
		t.Fatalf("closed with %v, want ErrSlowConsumer", c.Err())
	}
	waitLog(t, logs, "slow reader: ")
	if got := s.Stats().CutSlowReader; got != 1 {
		t.Fatalf("CutSlowReader %d, want 1", got)
	}
	// Measured by the queue's own count: the answers held, the one the
	// writer is blocked on included, never passed the budget.
	if hw, budget := c.q.highWater(), int64(cfg.queueBudget()); hw > budget || hw < budget-int64(len(big))-2*headerLen {
		t.Fatalf("queue held at most %d bytes, want the budget %d nearly full and never passed", hw, budget)
	}
}

// Pushes count in bytes too, not only in frames: 64 KiB events to a
// client that does not read are cut near 8 MiB, not at 8,192 events
// (512 MiB).
func TestSlowReaderOfPushesIsCutAtTheByteBudget(t *testing.T) {
	cfg := testConfig(nil)
	s, ln := servePipes(t, cfg, KindClient)
	conns := make(chan *Conn, 1)
	s.OnConnect(func(c *Conn) { conns <- c })
	nc := dialPipe(t, ln, "")
	pipeHandshake(t, nc, KindClient, "")
	c := <-conns
	payload := bytes.Repeat([]byte{1}, 64<<10)
	body := mustEncode(t, payload)
	// Every push fits but the one that would pass the budget; the one the
	// writer is blocked on (larger than its buffer, so written straight
	// to the pipe, which nobody reads) counts too.
	frame := headerLen + len(body)
	want := cfg.queueBudget()/frame + 1
	var err error
	n := 0
	for ; n < 1000 && err == nil; n++ {
		err = c.Push(typEvent, payload)
	}
	if !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("after %d pushes of 64 KiB: %v, want ErrSlowConsumer", n, err)
	}
	if n != want {
		t.Fatalf("cut at push %d of 64 KiB, want at push %d (budget %d, frames of %d bytes)", n, want, cfg.queueBudget(), frame)
	}
	if !strings.Contains(err.Error(), "slow reader") {
		t.Fatalf("error %q does not say slow reader", err)
	}
	<-c.Done()
	if got := s.Stats().CutSlowReader; got != 1 {
		t.Fatalf("CutSlowReader %d, want 1", got)
	}
	if hw, budget := c.q.highWater(), int64(cfg.queueBudget()); hw != int64((want-1)*frame) || hw > budget {
		t.Fatalf("queue held at most %d bytes, want the budget %d nearly full and never passed", hw, budget)
	}
}

// The dial side's one-way Send also keeps to the byte budget: it drops
// with ErrQueueFull and keeps the connection.
func TestSendBeyondTheByteBudgetDropsAndKeepsTheConnection(t *testing.T) {
	s, addr := startServer(t, testConfig(nil), KindPeer)
	got := make(chan []byte, 100)
	if err := Register(s, typRaft, func(_ context.Context, _ *Conn, b *[]byte) (any, error) {
		got <- *b
		return nil, nil
	}); err != nil {
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
	cfg.MaxFrameSize = 16 << 10
	cfg.MaxQueueBytes = 64 << 10
	cfg.PingInterval = 0
	cfg.ReadTimeout = 0
	c := dial(t, addr, KindPeer, cfg, WithDialer(dialer))
	sc.stall()
	msg := make([]byte, 10<<10)
	if err := c.Send(typRaft, msg); err != nil {
		t.Fatal(err)
	}
	<-sc.enter // the writer holds message 0 and is blocked
	sent := 1
	var err error
	for ; sent < 100; sent++ {
		if err = c.Send(typRaft, msg); err != nil {
			break
		}
	}
	// Message 0 sits in the write buffer, written (uncounted); the
	// writer is blocked flushing it. 6 × 10 KiB fit in 64 KiB behind it.
	if !errors.Is(err, ErrQueueFull) || sent != 7 {
		sc.resume()
		t.Fatalf("send %d: %v, want ErrQueueFull at send 7", sent, err)
	}
	if hw, budget := c.q.highWater(), int64(cfg.MaxQueueBytes); hw > budget {
		t.Fatalf("queue held %d bytes, budget %d", hw, budget)
	}
	if c.Err() != nil {
		t.Fatalf("connection closed: %v", c.Err())
	}
	sc.resume()
	for range sent {
		<-got
	}
	if err := c.Send(typRaft, msg); err != nil {
		t.Fatalf("after the queue drained: %v", err)
	}
}
