package client

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/lockd/lockd/api"
)

// The holder is told before the cluster could grant its lock to anyone
// else: a lock taken with lock-delay 0 on a session whose keep-alives stop
// being answered has its Context cancelled (cause ErrJeopardy) before the
// earliest moment a leader whose clock runs MaxClockRateDifference fast
// could expire the session, counted from when the leader received the last
// keep-alive it answered. Lost stays open: the lock is not known lost.
func TestLockContextIsCancelledBeforeTheEarliestExpiry(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	clk := newFakeClock()
	cfg := testConfig(fc.addrs()...)
	cfg.clock = clk
	c := newTestClient(t, cfg)
	ttl := 3 * time.Second
	var mu sync.Mutex
	received := clk.Now() // the open: the server's lease starts no earlier
	fc.set(func(fc *fakeCluster) {
		fc.keepAliveHook = func() {
			fc.mu.Lock()
			answered := fc.keepAliveErr == nil
			fc.mu.Unlock()
			if answered {
				mu.Lock()
				received = clk.Now()
				mu.Unlock()
			}
		}
	})
	s := newTestSession(t, c, WithTTL(ttl))
	l, err := s.Acquire(testCtx(t), "held", WithLockDelay(0))
	if err != nil {
		t.Fatal(err)
	}
	if l.Context().Err() != nil {
		t.Fatal("Context cancelled while the session is safe")
	}
	for i := 0; i < 4; i++ { // a few answered keep-alives first
		clk.step(t)
	}
	fc.set(func(fc *fakeCluster) { fc.keepAliveErr = &api.Error{Code: api.CodeNoQuorum} })
	for i := 0; l.Context().Err() == nil; i++ {
		if i > 1000 {
			t.Fatal("Context not cancelled after 1000 timer steps")
		}
		if at, ok := clk.waitArmedOr(t, l.Context().Done()); ok {
			clk.advanceTo(at)
		}
	}
	told := clk.Now()
	mu.Lock()
	last := received
	mu.Unlock()
	// The leader's TTL, on a clock 1% fast, from the receipt; lock-delay 0.
	earliestGrant := last.Add(time.Duration(float64(ttl) / (1 + MaxClockRateDifference)))
	if !told.Before(earliestGrant) {
		t.Fatalf("told at %v after the last answered keep-alive, not before the earliest grant at %v",
			told.Sub(last), earliestGrant.Sub(last))
	}
	if ee := s.EarliestExpiry(); ee.After(earliestGrant) || !told.Before(ee) {
		t.Fatalf("EarliestExpiry %v after the last receipt: want after the signal (%v) and at most %v",
			ee.Sub(last), told.Sub(last), earliestGrant.Sub(last))
	}
	if cause := context.Cause(l.Context()); !errors.Is(cause, ErrJeopardy) {
		t.Fatalf("cause %v, want ErrJeopardy", cause)
	}
	if closed(l.Lost()) {
		t.Fatal("Lost closed at jeopardy: the lock is not known lost")
	}
	if st := s.State(); st != SessionJeopardy {
		t.Fatalf("state %v, want jeopardy", st)
	}
}

// Context ends with the hold too: a Release cancels it with the release's
// cause, and a lock acquired on a session already in jeopardy starts
// cancelled.
func TestLockContextEndsWithTheHold(t *testing.T) {
	f := newLeaseFixture(t)
	if err := f.l.Release(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if cause := context.Cause(f.l.Context()); !errors.Is(cause, ErrFenced) {
		t.Fatalf("cause after Release %v, want ErrFenced (released)", cause)
	}
	f.fc.set(func(fc *fakeCluster) { fc.keepAliveErr = &api.Error{Code: api.CodeNoQuorum} })
	if st := f.stepUntil(t, SessionSafe); st != SessionJeopardy {
		t.Fatalf("state %v, want jeopardy", st)
	}
	l, err := f.s.Acquire(testCtx(t), "late", WithLockDelay(0))
	if err != nil {
		t.Fatal(err)
	}
	if cause := context.Cause(l.Context()); !errors.Is(cause, ErrJeopardy) {
		t.Fatalf("lock taken in jeopardy: cause %v, want ErrJeopardy", cause)
	}
}
