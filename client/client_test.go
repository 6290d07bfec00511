package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/internal/faults"
	"github.com/lockd/lockd/rpc"
)

func TestConfigValidate(t *testing.T) {
	ok := testConfig("127.0.0.1:1")
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"no endpoints", func(c *Config) { c.Endpoints = nil }},
		{"empty endpoint", func(c *Config) { c.Endpoints = []string{""} }},
		{"endpoint without port", func(c *Config) { c.Endpoints = []string{"localhost"} }},
		{"endpoint with empty port", func(c *Config) { c.Endpoints = []string{"localhost:"} }},
		{"endpoint not host:port", func(c *Config) { c.Endpoints = []string{"http://127.0.0.1:7001"} }},
		{"dial timeout", func(c *Config) { c.DialTimeout = -1 }},
		{"request timeout", func(c *Config) { c.RequestTimeout = -1 }},
		{"attempt timeout", func(c *Config) { c.AttemptTimeout = -1 }},
		{"backoff order", func(c *Config) { c.BackoffMax = c.BackoffBase / 2 }},
		{"ttl", func(c *Config) { c.SessionTTL = -time.Second }},
		{"grace", func(c *Config) { c.Grace = -time.Second }},
		{"frame size", func(c *Config) { c.MaxFrameSize = 100 }},
		{"ping", func(c *Config) { c.PingInterval = c.ReadTimeout }},
		{"read timeout", func(c *Config) { c.ReadTimeout = -time.Second }},
	} {
		cfg := ok
		tc.edit(&cfg)
		if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Validate = %v, want ErrInvalidConfig", tc.name, err)
		}
	}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New without endpoints: %v, want ErrInvalidConfig", err)
	}
	c, err := New(Config{Endpoints: []string{"127.0.0.1:1"}}) // zero fields take defaults
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
}

func TestBackoffDelaysGrowWithinBoundsAndAreSeeded(t *testing.T) {
	a := newBackoff(10*time.Millisecond, 80*time.Millisecond, 42)
	b := newBackoff(10*time.Millisecond, 80*time.Millisecond, 42)
	for n := 0; n < 20; n++ {
		da, db := a.delay(n), b.delay(n)
		if da != db {
			t.Fatalf("same seed, round %d: %v vs %v", n, da, db)
		}
		ceil := min(10*time.Millisecond<<min(n, 10), 80*time.Millisecond)
		if da < 5*time.Millisecond || da > ceil {
			t.Fatalf("round %d: delay %v outside [5ms, %v]", n, da, ceil)
		}
	}
}

func TestCallsFailWithErrNoEndpointWhenNothingAnswers(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	addr := fc.addrs()[0]
	fc.stopNode(0)
	c := newTestClient(t, testConfig(addr))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := c.conns.get(testCtx(t)); !errors.Is(err, ErrNoEndpoint) {
		t.Fatalf("one round of attempts: %v, want ErrNoEndpoint", err)
	}
	if _, err := c.NewSession(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("NewSession: %v, want its deadline", err)
	}
}

func TestCloseStopsEveryGoroutine(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	base := runtime.NumGoroutine()
	c, err := New(testConfig(fc.addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	s := newTestSession(t, c)
	l, err := s.Acquire(testCtx(t), "g")
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Election("obs").Observe(context.Background()) // ends with the Client
	waiter := newTestSession(t, c)
	rw := goAcquire(context.Background(), waiter, "g")
	fc.waitUntil(t, "waiter queued", func(fc *fakeCluster) bool { return len(fc.lockInfoLocked("g").Waiters) == 1 })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if r := waitAcquire(t, rw); r.err == nil {
		t.Fatal("a waiting Acquire succeeded after Close")
	}
	if !closed(s.Done()) || !closed(l.Lost()) {
		t.Fatal("Close must end sessions locally")
	}
	if _, err := c.NewSession(testCtx(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("NewSession after Close: %v, want ErrClosed", err)
	}
	// The server side notices the closed connections asynchronously.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before New:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
	}
}

func TestGivingUpReportsTheLastCause(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	fc.set(func(fc *fakeCluster) { fc.openErr = &api.Error{Code: api.CodeNoQuorum} })
	c := newTestClient(t, testConfig(fc.addrs()...))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := c.NewSession(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("got %v, want the deadline and ErrNoQuorum", err)
	}
	if c.retries.Load() == 0 {
		t.Fatal("NoQuorum was not retried")
	}
}

// Callers queued behind a failed round of dials share its answer rather
// than each dialing every endpoint again.
func TestConcurrentCallersShareAFailedRound(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepts atomic.Int64
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			_ = nc.Close() // the handshake fails: the endpoint is unusable
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	cfg := testConfig(ln.Addr().String())
	cfg.BackoffBase, cfg.BackoffMax = time.Minute, time.Minute
	c := newTestClient(t, cfg)
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.conns.get(testCtx(t)); !errors.Is(err, ErrNoEndpoint) {
				t.Errorf("get: %v, want ErrNoEndpoint", err)
			}
		}()
	}
	wg.Wait()
	if n := accepts.Load(); n != 1 {
		t.Fatalf("%d dials for 32 concurrent callers, want 1", n)
	}
}

func TestZeroConfigFieldsTakeDefaults(t *testing.T) {
	got := Config{Endpoints: []string{"x:1"}}.withDefaults()
	want := DefaultConfig()
	if got.MaxFrameSize != want.MaxFrameSize || got.PingInterval != want.PingInterval || got.ReadTimeout != want.ReadTimeout ||
		got.RequestTimeout != want.RequestTimeout || got.SessionTTL != want.SessionTTL || got.clock == nil {
		t.Fatalf("withDefaults = %+v", got)
	}
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
	if d, r := DefaultConfig(), rpc.DefaultConfig(); d.MaxFrameSize != r.MaxFrameSize || d.PingInterval != r.PingInterval || d.ReadTimeout != r.ReadTimeout {
		t.Fatalf("client transport defaults %+v differ from rpc's %+v", d, r)
	}
}

// TestTransportFieldsConfigureTheConnections: the Config's transport
// fields, AttemptTimeout and the logger reach the rpc configuration every
// connection is dialed with.
func TestTransportFieldsConfigureTheConnections(t *testing.T) {
	cfg := testConfig("x:1")
	cfg.MaxFrameSize = 64 << 10
	cfg.PingInterval = 2 * time.Second
	cfg.ReadTimeout = 7 * time.Second
	log := hclog.NewNullLogger()
	r := cfg.withDefaults().rpcConfig(log)
	if r.MaxFrameSize != 64<<10 || r.PingInterval != 2*time.Second || r.ReadTimeout != 7*time.Second ||
		r.DefaultCallTimeout != cfg.AttemptTimeout || r.Logger != log {
		t.Fatalf("rpcConfig = %+v", r)
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestMaxFrameSizeBoundsRequests: a request larger than MaxFrameSize fails
// on the client, before it is sent, and is not retried.
func TestMaxFrameSizeBoundsRequests(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	cfg := testConfig(fc.addrs()...)
	cfg.MaxFrameSize = 4 << 10
	c := newTestClient(t, cfg)
	s := newTestSession(t, c)
	_, err := s.Acquire(testCtx(t), "big", WithValue(make([]byte, 8<<10)))
	if !errors.Is(err, rpc.ErrFrameTooLarge) {
		t.Fatalf("Acquire with an 8 KiB value: %v, want rpc.ErrFrameTooLarge", err)
	}
	if _, err := s.Acquire(testCtx(t), "small", WithValue(make([]byte, 1<<10))); err != nil {
		t.Fatalf("Acquire with a 1 KiB value: %v", err)
	}
}

func TestAttachClientTakesOnlyAConfigPointer(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("AttachClient accepted a Config value")
		}
	}()
	faults.AttachClient(testConfig("x:1"), faults.New())
}

// TestLostConnectionsAreRetriedWhateverBrokeThem: a connection that breaks
// under a request (here cut by a fault injector, which fails it as any
// broken connection fails) is retryable by its class, rpc.ErrConnLost, and
// not by what broke it.
func TestLostConnectionsAreRetriedWhateverBrokeThem(t *testing.T) {
	if !retryable(fmt.Errorf("%w: %w", rpc.ErrConnLost, faults.ErrBlocked)) ||
		!retryable(fmt.Errorf("%w: %w", rpc.ErrConnLost, io.EOF)) {
		t.Fatal("a lost connection is not retryable")
	}
	if retryable(faults.ErrBlocked) {
		t.Fatal("retryable tests for the fault injector's own error")
	}
	if !retryable(fmt.Errorf("%w: rpc: dial x: %w", ErrNoEndpoint, faults.ErrBlocked)) {
		t.Fatal("a failed round of dials is not retryable")
	}
}
