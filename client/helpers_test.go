package client

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// testConfig returns a Config for tests: fast backoff, fixed jitter seed.
func testConfig(endpoints ...string) Config {
	cfg := DefaultConfig()
	cfg.Endpoints = endpoints
	cfg.BackoffBase = 2 * time.Millisecond
	cfg.BackoffMax = 20 * time.Millisecond
	cfg.DialTimeout = time.Second
	cfg.AttemptTimeout = 3 * time.Second
	cfg.RequestTimeout = 15 * time.Second
	cfg.seed = 1
	return cfg
}

func newTestClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// testCtx bounds a test's calls so that a bug fails instead of hanging.
func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newTestSession(t testing.TB, c *Client, opts ...SessionOption) *Session {
	t.Helper()
	s, err := c.NewSession(testCtx(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// closed reports whether ch is closed, without waiting.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// waitClosed waits for ch to close, failing the test after 10s.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not closed within 10s", what)
	}
}

// acquireResult is an Acquire run on its own goroutine.
type acquireResult struct {
	l   *Lock
	err error
}

func goAcquire(ctx context.Context, s *Session, name string, opts ...LockOption) <-chan acquireResult {
	ch := make(chan acquireResult, 1)
	go func() {
		l, err := s.Acquire(ctx, name, opts...)
		ch <- acquireResult{l, err}
	}()
	return ch
}

func waitAcquire(t *testing.T, ch <-chan acquireResult) acquireResult {
	t.Helper()
	return waitResult(t, ch, "Acquire")
}

// waitResult waits for what a goroutine running call sends on ch; if
// nothing comes within 15 s the test fails.
func waitResult[T any](t *testing.T, ch <-chan T, call string) T {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(15 * time.Second):
		t.Fatalf("%s did not return within 15s", call)
	}
	var zero T
	return zero
}

// waitQueued waits until s's Acquire of name was answered Queued and waits
// for its grant.
func waitQueued(t *testing.T, s *Session, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		w := s.waiters[name]
		s.mu.Unlock()
		if w != nil {
			waitClosed(t, w.queued, "queued")
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Acquire of %s in progress", name)
		}
		runtime.Gosched()
	}
}
