package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lockd/lockd/api"
)

// leaseFixture is a client on a fake clock with one session (TTL 3s, so a
// keep-alive every second, and a grace of 3s) holding one lock.
type leaseFixture struct {
	fc    *fakeCluster
	clk   *fakeClock
	c     *Client
	s     *Session
	l     *Lock
	start time.Time
}

func newLeaseFixture(t *testing.T) *leaseFixture {
	t.Helper()
	fc := newFakeCluster(t, 1, 0)
	clk := newFakeClock()
	cfg := testConfig(fc.addrs()...)
	cfg.clock = clk
	c := newTestClient(t, cfg)
	s := newTestSession(t, c, WithTTL(3*time.Second))
	l, err := s.Acquire(testCtx(t), "held")
	if err != nil {
		t.Fatal(err)
	}
	return &leaseFixture{fc: fc, clk: clk, c: c, s: s, l: l, start: clk.Now()}
}

// stepUntil advances the fake clock timer by timer until the session
// leaves state from, and returns the new state.
func (f *leaseFixture) stepUntil(t *testing.T, from SessionState) SessionState {
	t.Helper()
	for i := 0; i < 1000; i++ {
		ch := f.s.StateChanged()
		if st := f.s.State(); st != from {
			return st
		}
		if at, ok := f.clk.waitArmedOr(t, ch); ok {
			f.clk.advanceTo(at)
		}
	}
	t.Fatalf("session still %v after 1000 timer steps", from)
	return 0
}

func TestSessionKeepAliveRenewsEveryThirdOfTTL(t *testing.T) {
	f := newLeaseFixture(t)
	start := f.clk.Now()
	for i := 0; i < 9; i++ { // 9 s of fake time: three TTLs
		f.clk.step(t)
	}
	if st := f.s.State(); st != SessionSafe {
		t.Fatalf("state %v after keep-alives, want safe", st)
	}
	if got := f.clk.Now().Sub(start); got != 9*time.Second {
		t.Fatalf("9 timer steps took %v of fake time, want 9s (one keep-alive per TTL/3)", got)
	}
	f.fc.waitUntil(t, "9 keep-alives", func(fc *fakeCluster) bool { return fc.keepAlives >= 8 })
}

func TestSessionInJeopardyBecomesSafeWhenAKeepAliveIsConfirmed(t *testing.T) {
	f := newLeaseFixture(t)
	f.fc.set(func(fc *fakeCluster) { fc.keepAliveErr = &api.Error{Code: api.CodeNoQuorum} })
	ch := f.s.StateChanged()
	if st := f.stepUntil(t, SessionSafe); st != SessionJeopardy {
		t.Fatalf("state %v, want jeopardy", st)
	}
	if !closed(ch) {
		t.Fatal("StateChanged not closed by the change")
	}
	if closed(f.l.Lost()) || closed(f.s.Done()) {
		t.Fatal("jeopardy must not close Lost or Done")
	}
	f.fc.set(func(fc *fakeCluster) { fc.keepAliveErr = nil })
	if st := f.stepUntil(t, SessionJeopardy); st != SessionSafe {
		t.Fatalf("state %v, want safe again", st)
	}
	if closed(f.l.Lost()) || closed(f.s.Done()) {
		t.Fatal("a session that recovered lost its lock")
	}
	if err := f.l.Release(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

func TestSessionInJeopardyExpiresWhenGraceRunsOut(t *testing.T) {
	f := newLeaseFixture(t)
	f.fc.set(func(fc *fakeCluster) { fc.keepAliveErr = &api.Error{Code: api.CodeNoQuorum} })
	if st := f.stepUntil(t, SessionSafe); st != SessionJeopardy {
		t.Fatalf("state %v, want jeopardy", st)
	}
	entered := f.clk.Now()
	if st := f.stepUntil(t, SessionJeopardy); st != SessionExpired {
		t.Fatalf("state %v, want expired", st)
	}
	if got := f.clk.Now().Sub(entered); got != 3750*time.Millisecond {
		t.Fatalf("expired %v after entering jeopardy, want the rest of the lease and the grace (0.75s+3s)", got)
	}
	if !closed(f.s.Done()) || !closed(f.l.Lost()) {
		t.Fatal("Done and Lost must close on expiry")
	}
	if _, err := f.s.Acquire(testCtx(t), "other"); !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("Acquire on an expired session: %v, want ErrSessionExpired", err)
	}
}

func TestJeopardyStartsJeopardyAfterOfTheLeaseCountedFromTheSend(t *testing.T) {
	f := newLeaseFixture(t)
	opened := f.clk.Now() // the open was sent at this fake time
	f.fc.set(func(fc *fakeCluster) { fc.keepAliveErr = &api.Error{Code: api.CodeNoQuorum} })
	f.stepUntil(t, SessionSafe)
	if got := f.clk.Now().Sub(opened); got != 2250*time.Millisecond {
		t.Fatalf("jeopardy %v after the open was sent, want JeopardyAfter of the TTL (2.25s)", got)
	}
}

func TestKeepAliveListingTheSessionExpiredEndsIt(t *testing.T) {
	f := newLeaseFixture(t)
	f.fc.set(func(fc *fakeCluster) { fc.sessions[f.s.ID()].ended = true }) // no push
	if st := f.stepUntil(t, SessionSafe); st != SessionExpired {
		t.Fatalf("state %v, want expired", st)
	}
	if !closed(f.l.Lost()) {
		t.Fatal("Lost not closed")
	}
}

func TestPushedSessionExpiredEndsTheSession(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	c := newTestClient(t, testConfig(fc.addrs()...))
	s := newTestSession(t, c)
	l, err := s.Acquire(testCtx(t), "x")
	if err != nil {
		t.Fatal(err)
	}
	fc.expire(s.ID())
	waitClosed(t, s.Done(), "Done after a pushed expiry")
	waitClosed(t, l.Lost(), "Lost after a pushed expiry")
	if !errors.Is(s.Err(), ErrSessionExpired) || s.State() != SessionExpired {
		t.Fatalf("state %v err %v, want expired", s.State(), s.Err())
	}
}

func TestWaitStateReturnsTheNextState(t *testing.T) {
	f := newLeaseFixture(t)
	f.fc.set(func(fc *fakeCluster) { fc.keepAliveErr = &api.Error{Code: api.CodeNoQuorum} })
	got := make(chan SessionState, 1)
	go func() {
		st, _ := f.s.WaitState(testCtx(t), SessionSafe)
		got <- st
	}()
	f.stepUntil(t, SessionSafe)
	select {
	case st := <-got:
		if st != SessionJeopardy {
			t.Fatalf("WaitState returned %v, want jeopardy", st)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitState did not return")
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	cancel()
	if _, err := f.s.WaitState(ctx, SessionJeopardy); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitState with a cancelled ctx: %v", err)
	}
}

func TestSessionCloseReleasesItsLocksOnTheServer(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	c := newTestClient(t, testConfig(fc.addrs()...))
	s := newTestSession(t, c)
	l, err := s.Acquire(testCtx(t), "c")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if !closed(s.Done()) || !closed(l.Lost()) || s.State() != SessionClosed {
		t.Fatal("Close must end the session and its locks")
	}
	info, err := c.GetLock(testCtx(t), "c")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Holders) != 0 {
		t.Fatalf("holders %+v after Close", info.Holders)
	}
	if _, err := s.Acquire(testCtx(t), "c"); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("Acquire after Close: %v, want ErrSessionClosed", err)
	}
}

func TestOpenSessionRetryReusesTheIdempotencyKey(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	fc.set(func(fc *fakeCluster) { fc.dropOpens = 1 })
	c := newTestClient(t, testConfig(fc.addrs()...))
	s := newTestSession(t, c)
	fc.set(func(fc *fakeCluster) {
		if fc.applied[api.MsgOpenSession] != 2 {
			t.Errorf("%d opens received, want the original and one retry", fc.applied[api.MsgOpenSession])
		}
		if len(fc.keys) != 1 || fc.nextSess != 1 || s.ID() != 1 {
			t.Errorf("%d keys, %d sessions, id %d: the retry opened another session", len(fc.keys), fc.nextSess, s.ID())
		}
	})
}

// A keep-alive the leader never answers must not delay jeopardy past the
// lease: its attempt is cut at the lease end, however long AttemptTimeout.
func TestHangingKeepAliveDoesNotDelayJeopardy(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	fc.set(func(fc *fakeCluster) { fc.keepAliveHook = func() { <-release } })
	cfg := testConfig(fc.addrs()...)
	cfg.AttemptTimeout = time.Hour
	cfg.RequestTimeout = time.Hour
	c := newTestClient(t, cfg)
	s := newTestSession(t, c, WithTTL(300*time.Millisecond))
	st, err := s.WaitState(testCtx(t), SessionSafe)
	if err != nil || st != SessionJeopardy {
		t.Fatalf("WaitState = %v, %v; want jeopardy at the lease end, not after the hour-long attempt", st, err)
	}
}

// A session with a shorter TTL than the others gets its keep-alives on its
// own schedule: it never falls into jeopardy while the leader answers.
func TestShorterTTLSessionJoiningIsRenewedInTime(t *testing.T) {
	f := newLeaseFixture(t) // TTL 3s: keep-alives every second
	short := newTestSession(t, f.c, WithTTL(300*time.Millisecond))
	for i := 0; i < 40; i++ { // 4 s of fake time at least
		f.clk.step(t)
		if st := short.State(); st != SessionSafe {
			t.Fatalf("step %d: short session %v, want safe", i, st)
		}
	}
}

// A waiting Acquire re-checking a lock while the cluster is unreachable
// returns as soon as its session expires, not when its retries run out.
func TestWaitingAcquireEndsWithItsSessionWhileTheClusterIsUnreachable(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	clk := newFakeClock()
	cfg := testConfig(fc.addrs()...)
	cfg.clock = clk
	cfg.RequestTimeout = time.Hour
	c := newTestClient(t, cfg)
	a := newTestSession(t, c, WithTTL(3*time.Second))
	b := newTestSession(t, c, WithTTL(3*time.Second))
	if _, err := a.Acquire(testCtx(t), "w"); err != nil {
		t.Fatal(err)
	}
	rb := goAcquire(testCtx(t), b, "w")
	waitQueued(t, b, "w")
	fc.stopNode(0)
	for i := 0; b.State() != SessionExpired; i++ {
		if i > 10000 {
			t.Fatalf("session %v after 10000 timer steps", b.State())
		}
		if at, ok := clk.waitArmedOr(t, b.StateChanged()); ok {
			clk.advanceTo(at)
		}
	}
	if r := waitAcquire(t, rb); !errors.Is(r.err, ErrSessionExpired) {
		t.Fatalf("Acquire returned %v, want ErrSessionExpired", r.err)
	}
}
