package client

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/lockd/lockd/api"
)

func TestTryAcquireOfHeldLockReturnsErrLockHeld(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	c := newTestClient(t, testConfig(fc.addrs()...))
	a, b := newTestSession(t, c), newTestSession(t, c)
	if _, err := a.TryAcquire(testCtx(t), "l"); err != nil {
		t.Fatal(err)
	}
	_, err := b.TryAcquire(testCtx(t), "l")
	if !errors.Is(err, ErrLockHeld) {
		t.Fatalf("got %v, want ErrLockHeld", err)
	}
	if len(fc.waitersOf("l")) != 0 {
		t.Fatal("a TryAcquire was queued")
	}
}

func TestAcquireWaitsInFIFOOrderAndGetsPushedGrants(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	c := newTestClient(t, testConfig(fc.addrs()...))
	a, b, d := newTestSession(t, c), newTestSession(t, c), newTestSession(t, c)
	la, err := a.Acquire(testCtx(t), "q")
	if err != nil {
		t.Fatal(err)
	}
	rb := goAcquire(testCtx(t), b, "q")
	fc.waitUntil(t, "b queued", func(fc *fakeCluster) bool { return len(fc.lockInfoLocked("q").Waiters) == 1 })
	rd := goAcquire(testCtx(t), d, "q")
	fc.waitUntil(t, "d queued", func(fc *fakeCluster) bool { return len(fc.lockInfoLocked("q").Waiters) == 2 })
	if got := fc.waitersOf("q"); !slices.Equal(got, []uint64{b.ID(), d.ID()}) {
		t.Fatalf("queue %v, want [%d %d]", got, b.ID(), d.ID())
	}
	if err := la.Release(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	gb := waitAcquire(t, rb)
	if gb.err != nil {
		t.Fatal(gb.err)
	}
	if got := fc.waitersOf("q"); !slices.Equal(got, []uint64{d.ID()}) {
		t.Fatalf("after the first grant the queue is %v, want [%d]", got, d.ID())
	}
	if gb.l.Token() <= la.Token() {
		t.Fatalf("token %d not above the previous holder's %d", gb.l.Token(), la.Token())
	}
	if err := gb.l.Release(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	gd := waitAcquire(t, rd)
	if gd.err != nil {
		t.Fatal(gd.err)
	}
	if gd.l.Token() <= gb.l.Token() {
		t.Fatalf("token %d not above the previous holder's %d", gd.l.Token(), gb.l.Token())
	}
	if !closed(la.Lost()) || !closed(gb.l.Lost()) || closed(gd.l.Lost()) {
		t.Fatal("Lost must be closed for the released locks only")
	}
}

func TestCancelledAcquireLeavesTheQueue(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	c := newTestClient(t, testConfig(fc.addrs()...))
	a, b := newTestSession(t, c), newTestSession(t, c)
	if _, err := a.Acquire(testCtx(t), "q"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	rb := goAcquire(ctx, b, "q")
	waitQueued(t, b, "q")
	cancel()
	if r := waitAcquire(t, rb); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", r.err)
	}
	if w := fc.waitersOf("q"); len(w) != 0 {
		t.Fatalf("queue %v after a cancelled Acquire, want empty", w)
	}
	if n := fc.appliedOf(api.MsgCancelWait); n != 1 {
		t.Fatalf("%d CancelWaits applied, want 1", n)
	}
}

// The grant is applied just before the CancelWait: the client must find
// it and release it, so no grant is left behind.
func TestCancelledAcquireReleasesAGrantThatRacedTheCancel(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	c := newTestClient(t, testConfig(fc.addrs()...))
	a, b := newTestSession(t, c), newTestSession(t, c)
	if _, err := a.Acquire(testCtx(t), "q"); err != nil {
		t.Fatal(err)
	}
	fc.set(func(fc *fakeCluster) {
		fc.beforeCancel = func() { fc.releaseAs(a.ID(), "q") } // grants b, pushes Granted
	})
	ctx, cancel := context.WithCancel(testCtx(t))
	rb := goAcquire(ctx, b, "q")
	waitQueued(t, b, "q")
	cancel()
	if r := waitAcquire(t, rb); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", r.err)
	}
	info, err := c.GetLock(testCtx(t), "q")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Holders) != 0 || len(info.Waiters) != 0 {
		t.Fatalf("lock %+v left behind by a cancelled Acquire", info)
	}
	rs := fc.writesOf(api.MsgRelease)
	if len(rs) != 1 || rs[0].Session != b.ID() {
		t.Fatalf("releases %+v, want one by session %d", rs, b.ID())
	}
}

func TestReleaseOfALockTheServerDroppedIsFenced(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	c := newTestClient(t, testConfig(fc.addrs()...))
	s := newTestSession(t, c)
	l, err := s.Acquire(testCtx(t), "f")
	if err != nil {
		t.Fatal(err)
	}
	fc.releaseAs(s.ID(), "f") // gone on the server, no push
	err = l.Release(testCtx(t))
	if !errors.Is(err, ErrFenced) || !errors.Is(err, ErrNotHolder) {
		t.Fatalf("got %v, want ErrFenced (= ErrNotHolder)", err)
	}
	if !closed(l.Lost()) {
		t.Fatal("Lost not closed after a fenced release")
	}
}

func TestReleaseTwiceReturnsNil(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	c := newTestClient(t, testConfig(fc.addrs()...))
	s := newTestSession(t, c)
	l, err := s.Acquire(testCtx(t), "r")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Release(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(testCtx(t)); err != nil {
		t.Fatalf("second release: %v", err)
	}
	if n := fc.appliedOf(api.MsgRelease); n != 1 {
		t.Fatalf("%d releases applied, want 1", n)
	}
	if !closed(l.Lost()) {
		t.Fatal("Lost not closed after Release")
	}
}

func TestPushedLostClosesLost(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	c := newTestClient(t, testConfig(fc.addrs()...))
	s := newTestSession(t, c)
	l, err := s.Acquire(testCtx(t), "p")
	if err != nil {
		t.Fatal(err)
	}
	fc.set(func(fc *fakeCluster) {
		fc.pushSessionLocked(s.ID(), api.PushLost, &api.LostEvent{Session: s.ID(), Name: "p", Token: l.Token() + 1})
		fc.pushSessionLocked(s.ID(), api.PushLost, &api.LostEvent{Session: s.ID(), Name: "p", Token: l.Token()})
	})
	waitClosed(t, l.Lost(), "Lost after a pushed loss")
	if !errors.Is(l.Err(), ErrFenced) {
		t.Fatalf("Err %v, want ErrFenced", l.Err())
	}
	if s.State() != SessionSafe {
		t.Fatalf("session %v after losing one lock, want safe", s.State())
	}
}

func TestWaitingAcquireFindsAGrantMadeWhileDisconnected(t *testing.T) {
	fc := newFakeCluster(t, 2, 0)
	ca := newTestClient(t, testConfig(fc.addrs()...))
	cb := newTestClient(t, testConfig(fc.addrs()...))
	a, b := newTestSession(t, ca), newTestSession(t, cb)
	if _, err := a.Acquire(testCtx(t), "w"); err != nil {
		t.Fatal(err)
	}
	rb := goAcquire(testCtx(t), b, "w")
	fc.waitUntil(t, "b queued", func(fc *fakeCluster) bool { return len(fc.lockInfoLocked("w").Waiters) == 1 })
	// The leader dies; node 1 takes over; the grant happens before b's
	// client is attached anywhere, so its push reaches nobody.
	fc.stopNode(0)
	fc.set(func(fc *fakeCluster) { fc.leader = 1 })
	fc.releaseAs(a.ID(), "w")
	r := waitAcquire(t, rb)
	if r.err != nil {
		t.Fatal(r.err)
	}
	info, err := cb.GetLock(testCtx(t), "w")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Holders) != 1 || info.Holders[0].Session != b.ID() || info.Holders[0].Token != r.l.Token() {
		t.Fatalf("holders %+v, want session %d with token %d", info.Holders, b.ID(), r.l.Token())
	}
}

func TestCheckToken(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	c := newTestClient(t, testConfig(fc.addrs()...))
	s := newTestSession(t, c)
	l, err := s.Acquire(testCtx(t), "t")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		token uint64
		want  bool
	}{{l.Token(), true}, {l.Token() - 1, false}, {l.Token() + 1, false}} {
		ok, err := c.CheckToken(testCtx(t), "t", tc.token)
		if err != nil || ok != tc.want {
			t.Fatalf("CheckToken(%d) = %v, %v; want %v", tc.token, ok, err, tc.want)
		}
	}
}

// The caller gives up while its TryAcquire is applied but not yet
// answered: the grant it cannot know about is found and released.
func TestAcquireCancelledBeforeItsAnswerLeavesNoGrant(t *testing.T) {
	for _, wait := range []bool{false, true} {
		fc := newFakeCluster(t, 1, 0)
		c := newTestClient(t, testConfig(fc.addrs()...))
		s := newTestSession(t, c)
		ctx, cancel := context.WithCancel(testCtx(t))
		fc.set(func(fc *fakeCluster) {
			fc.afterApply = func(reqCtx context.Context, typ api.MsgType) {
				if typ == api.MsgAcquire {
					cancel()
					<-reqCtx.Done() // the client gave up on the request
				}
			}
		})
		var err error
		if wait {
			_, err = s.Acquire(ctx, "u")
		} else {
			_, err = s.TryAcquire(ctx, "u")
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("wait=%v: got %v, want context.Canceled", wait, err)
		}
		info, err := c.GetLock(testCtx(t), "u")
		if err != nil {
			t.Fatal(err)
		}
		if len(info.Holders) != 0 || len(info.Waiters) != 0 {
			t.Fatalf("wait=%v: lock %+v left behind", wait, info)
		}
		if n := fc.appliedOf(api.MsgRelease); n != 1 {
			t.Fatalf("wait=%v: %d releases applied, want 1", wait, n)
		}
	}
}

// Every attempt of an Acquire is applied-or-kept but never answered, so
// the call runs out of RequestTimeout while the caller's own ctx is still
// fine: the grant the caller never learnt of is released all the same.
func TestAcquireThatRunsOutOfRequestTimeoutLeavesNoGrant(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	fc.set(func(fc *fakeCluster) {
		fc.afterApply = func(reqCtx context.Context, typ api.MsgType) {
			if typ == api.MsgAcquire {
				<-reqCtx.Done() // the answer never leaves before the client gives up
			}
		}
	})
	cfg := testConfig(fc.addrs()...)
	cfg.AttemptTimeout = 50 * time.Millisecond
	cfg.RequestTimeout = 300 * time.Millisecond
	c := newTestClient(t, cfg)
	s := newTestSession(t, c)
	_, err := s.Acquire(context.Background(), "v")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the request deadline", err)
	}
	info, err := c.GetLock(testCtx(t), "v")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Holders) != 0 || len(info.Waiters) != 0 {
		t.Fatalf("lock %+v left behind", info)
	}
	if n := fc.appliedOf(api.MsgAcquire); n != 1 {
		t.Fatalf("acquire applied %d times, want 1", n)
	}
}

// A node catching up on its log can push, late, the grant of an earlier
// hold of the same lock by the same session. A waiting Acquire must not
// take that old token: the grant that ends its wait has a token above the
// entry that queued it. (Found by the nemesis suite, seeds 2 and 5.)
func TestWaitingAcquireIgnoresALatePushOfAnEarlierGrant(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	c := newTestClient(t, testConfig(fc.addrs()...))
	a, b := newTestSession(t, c), newTestSession(t, c)
	// b holds and releases the lock once: its grant token is "old".
	lb, err := b.Acquire(testCtx(t), "q")
	if err != nil {
		t.Fatal(err)
	}
	old := lb.Token()
	if err := lb.Release(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	la, err := a.Acquire(testCtx(t), "q")
	if err != nil {
		t.Fatal(err)
	}
	rb := goAcquire(testCtx(t), b, "q")
	fc.waitUntil(t, "b queued", func(fc *fakeCluster) bool { return len(fc.lockInfoLocked("q").Waiters) == 1 })
	// The stale push arrives while b waits; nothing must come of it.
	fc.mu.Lock()
	fc.pushSessionLocked(b.ID(), api.PushGranted, &api.GrantedEvent{Session: b.ID(), Name: "q", Token: old, Mode: api.ModeExclusive})
	fc.mu.Unlock()
	if err := la.Release(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	g := waitAcquire(t, rb)
	if g.err != nil {
		t.Fatal(g.err)
	}
	if g.l.Token() <= la.Token() || g.l.Token() == old {
		t.Fatalf("acquire returned token %d; the old grant was %d and the previous holder's %d", g.l.Token(), old, la.Token())
	}
	if err := g.l.Release(testCtx(t)); err != nil {
		t.Fatalf("release of the returned token: %v", err)
	}
}
