package server

import (
	"testing"
	"time"

	"github.com/lockd/lockd/api"
)

// Leases and lock-delays against steps of the wall clock (NTP, an
// operator): the leader times sessions on its monotonic clock and stamps
// commands with replicated time advanced by real elapsed time (stamp.go),
// so a step of the wall clock, on the leader or on a new leader whose
// wall clock is off, expires nothing early and delays nothing late.
// Real time passes only where a test calls Advance; StepWall and
// StepNodeWall move wall clocks alone.

// sessionOpen reports whether the cluster still holds session id open.
func sessionOpen(t *testing.T, cl *svcClient, id uint64) bool {
	t.Helper()
	err := cl.call(api.MsgGetSession, &api.GetSessionRequest{Session: id}, nil)
	switch code := codeOf(t, err); code {
	case api.CodeOK:
		return true
	case api.CodeUnknownSession:
		return false
	default:
		t.Fatalf("get session %d: code %d (%v)", id, code, err)
		return false
	}
}

// expectSessionExpiresIn checks that session id, whose lease has left of
// real time to run on the leader, is still open 100 ms before then (after
// two scans) and expires within 100 ms after.
func expectSessionExpiresIn(t *testing.T, c *svcCluster, cl *svcClient, id uint64, left time.Duration) {
	t.Helper()
	c.clock.Advance(left - 100*time.Millisecond)
	c.waitScans(2)
	if !sessionOpen(t, cl, id) {
		t.Fatalf("session %d expired before its lease ran out", id)
	}
	c.clock.Advance(200 * time.Millisecond)
	svcWait(t, "the session's expiry once its lease ran out", 10*time.Second, func() bool {
		return !sessionOpen(t, cl, id)
	})
}

// grantedPush reports whether cl heard a grant of name.
func grantedPush(cl *svcClient, name string) bool {
	for _, g := range pushesOf[api.GrantedEvent](cl, api.PushGranted) {
		if g.Name == name {
			return true
		}
	}
	return false
}

// expectLockDelayEndsIn checks that the lock-delay on name, with left of
// real time to run, still holds 10 ms before then (after two scans: the
// waiter on cl is neither granted nor told) and ends within 10 ms after.
func expectLockDelayEndsIn(t *testing.T, c *svcCluster, cl *svcClient, name string, left time.Duration) {
	t.Helper()
	c.clock.Advance(left - 10*time.Millisecond)
	c.waitScans(2)
	var in api.LockInfo
	cl.must(api.MsgGetLock, &api.GetLockRequest{Name: name}, &in)
	if len(in.Holders) != 0 || grantedPush(cl, name) {
		t.Fatalf("lock %s granted during its lock-delay: %+v", name, in)
	}
	c.clock.Advance(20 * time.Millisecond)
	svcWait(t, "the grant once the lock-delay is over", 10*time.Second, func() bool { return grantedPush(cl, name) })
}

// delayAfterExpiry opens a session with a 1 s TTL on cl that holds name
// with lock-delay delay, queues waiter's session behind it, lets 2 s of
// real time pass so the holder expires, and returns the end of the delay
// (replicated time) once the leader applied the expiry.
func delayAfterExpiry(t *testing.T, c *svcCluster, cl *svcClient, waiter *svcClient, waiterSession uint64, name string, delay time.Duration) int64 {
	t.Helper()
	holder := cl.open(time.Second)
	if _, err := cl.call2(api.MsgAcquire, &api.AcquireRequest{Write: cl.write(holder), Name: name, Mode: api.ModeExclusive,
		LockDelay: int64(delay)}); err != nil {
		t.Fatal(err)
	}
	if q, err := waiter.acquire(waiterSession, name, true); err != nil || !q.Queued {
		t.Fatal(q, err)
	}
	c.clock.Advance(2 * time.Second)
	var in api.LockInfo
	svcWait(t, "the holder's expiry", 10*time.Second, func() bool {
		waiter.must(api.MsgGetLock, &api.GetLockRequest{Name: name}, &in)
		return len(in.Holders) == 0 && in.DelayUntil > 0
	})
	if len(in.Waiters) != 1 || in.Waiters[0].Session != waiterSession {
		t.Fatalf("lock during its delay: %+v", in)
	}
	return in.DelayUntil
}

// Reference: the issue "Leases that survive clock steps". A +1 h step of
// the leader's wall clock expires no session: the lease runs out after
// its TTL of real time since the last keep-alive, not at the next scan.
func TestWallClockStepForwardExpiresNoSessionEarly(t *testing.T) {
	c := newSvcCluster(t, 3, nil)
	cl := dialClient(t, c.leader().ClientAddr())
	const ttl = 10 * time.Second
	s := cl.open(ttl)
	c.clock.StepWall(time.Hour)
	c.waitScans(2)
	if !sessionOpen(t, cl, s) {
		t.Fatal("a +1 h step of the wall clock expired the session at once")
	}
	c.clock.Advance(ttl - time.Second)
	var ka api.KeepAliveResponse
	cl.must(api.MsgKeepAlive, &api.KeepAliveRequest{Sessions: []uint64{s}}, &ka)
	if len(ka.Expired) != 0 || len(ka.TTLs) != 1 || ka.TTLs[0] != int64(ttl) {
		t.Fatalf("keep-alive after the step: %+v", ka)
	}
	expectSessionExpiresIn(t, c, cl, s, ttl)
}

// A −1 h step of the leader's wall clock delays no expiry: a session not
// kept alive expires once its TTL of real time has passed, not an hour
// later; one kept alive after the step lasts exactly its TTL.
func TestWallClockStepBackwardDelaysNoSessionExpiry(t *testing.T) {
	c := newSvcCluster(t, 3, nil)
	cl := dialClient(t, c.leader().ClientAddr())
	const ttl = 5 * time.Second
	idle, kept := cl.open(ttl), cl.open(ttl)
	c.clock.StepWall(-time.Hour)
	c.clock.Advance(3 * time.Second)
	var ka api.KeepAliveResponse
	cl.must(api.MsgKeepAlive, &api.KeepAliveRequest{Sessions: []uint64{kept}}, &ka)
	if len(ka.Expired) != 0 {
		t.Fatalf("keep-alive of a session within its lease: %+v", ka)
	}
	expectSessionExpiresIn(t, c, cl, idle, ttl-3*time.Second)
	// 2.1 s after the keep-alive, and another step back.
	c.clock.StepWall(-time.Hour)
	expectSessionExpiresIn(t, c, cl, kept, ttl-2100*time.Millisecond)
}

// Steps of the wall clock do not move the time of the replicated state:
// command stamps advance by the real time elapsed, whatever the wall
// clock says.
func TestWallClockStepsDoNotMoveReplicatedTime(t *testing.T) {
	c := newSvcCluster(t, 3, nil)
	lead := c.leader()
	cl := dialClient(t, lead.ClientAddr())
	s := cl.open(time.Minute)
	stampOf := func(name string) int64 {
		t.Helper()
		if g, err := cl.acquire(s, name, false); err != nil || !g.Granted {
			t.Fatal(g, err)
		}
		return lead.app.lastTime.Load()
	}
	before := stampOf("before")
	c.clock.StepWall(time.Hour)
	if got := stampOf("after-forward-step"); got != before {
		t.Fatalf("replicated time moved by %v across a +1 h wall step with no real time passing", time.Duration(got-before))
	}
	c.clock.StepWall(-2 * time.Hour)
	c.clock.Advance(3 * time.Second)
	if got := stampOf("after-backward-step"); got != before+int64(3*time.Second) {
		t.Fatalf("replicated time moved by %v across a −2 h wall step and 3 s of real time, want 3s", time.Duration(got-before))
	}
}

// A lock-delay lasts its real duration despite a +1 h step of the
// leader's wall clock during it: the waiter is granted after the delay,
// not at the next scan.
func TestLockDelayLastsItsRealDurationDespiteWallStepForward(t *testing.T) {
	testLockDelayDespiteWallStep(t, time.Hour)
}

// A lock-delay lasts its real duration despite a −1 h step of the
// leader's wall clock during it: it ends on time, not an hour late.
func TestLockDelayLastsItsRealDurationDespiteWallStepBackward(t *testing.T) {
	testLockDelayDespiteWallStep(t, -time.Hour)
}

func testLockDelayDespiteWallStep(t *testing.T, step time.Duration) {
	c := newSvcCluster(t, 3, nil)
	lead := c.leader()
	a, b := dialClient(t, lead.ClientAddr()), dialClient(t, lead.ClientAddr())
	sb := b.open(time.Minute)
	const delay = 5 * time.Second
	until := delayAfterExpiry(t, c, a, b, sb, "delayed", delay)
	c.clock.StepWall(step)
	c.waitScans(2)
	if grantedPush(b, "delayed") {
		t.Fatalf("a %v step of the wall clock ended the lock-delay", step)
	}
	left := time.Duration(until - replicatedNow(c.leader()))
	if left <= 0 || left > delay {
		t.Fatalf("lock-delay ends in %v of replicated time, want within %v", left, delay)
	}
	expectLockDelayEndsIn(t, c, b, "delayed", left)
}

// A new leader whose wall clock is an hour ahead continues the replicated
// time: its first stamp does not leap, its sessions get their full TTL of
// real time, and a lock-delay begun under the old leader ends after its
// real duration, not at the new leader's first scan.
func TestNewLeaderWithWallClockHourAheadContinuesReplicatedTime(t *testing.T) {
	testNewLeaderWithWallClockOff(t, time.Hour)
}

// A new leader whose wall clock is an hour behind continues the
// replicated time: its stamps advance with real time (they do not stall
// at the last applied one), and a lock-delay begun under the old leader
// ends after its real duration, not an hour late.
func TestNewLeaderWithWallClockHourBehindContinuesReplicatedTime(t *testing.T) {
	testNewLeaderWithWallClockOff(t, -time.Hour)
}

func testNewLeaderWithWallClockOff(t *testing.T, off time.Duration) {
	c := newSvcCluster(t, 3, nil)
	old := c.leader()
	target := c.follower()
	c.clock.StepNodeWall(target.ID(), off)
	a, b := dialClient(t, old.ClientAddr()), dialClient(t, old.ClientAddr())
	sb := b.open(time.Minute)
	idle := a.open(5 * time.Second) // never kept alive
	const delay = 30 * time.Second
	until := delayAfterExpiry(t, c, a, b, sb, "delayed", delay)
	svcWait(t, "the target to apply the expiry", 10*time.Second, func() bool {
		return target.app.lastTime.Load() == old.app.lastTime.Load()
	})
	last := old.app.lastTime.Load()

	a.must(api.MsgTransferLeader, &api.TransferLeaderRequest{ID: target.ID()}, nil)
	if nl := c.leader(); nl != target {
		t.Fatalf("leader after transfer is %s, want %s", nl.ID(), target.ID())
	}
	// No real time passed: the new leader's first stamp is the last
	// applied one.
	if g, err := b.acquire(sb, "probe", false); err != nil || !g.Granted {
		t.Fatal(g, err)
	}
	if got := target.app.lastTime.Load(); got != last {
		t.Fatalf("the new leader's first stamp is %v from the last applied one, want 0", time.Duration(got-last))
	}
	// Its sessions last their TTL of real time from its election.
	expectSessionExpiresIn(t, c, a, idle, 5*time.Second)
	// 5.1 s of real time passed since the expiry's stamp; the rest of the
	// delay is still to run. (More is left only if a spurious election
	// came in between: replicated time does not run between leaders.)
	left := time.Duration(until - replicatedNow(target))
	if want := delay - 5*time.Second - 100*time.Millisecond; left < want || left > delay {
		t.Fatalf("on the new leader the lock-delay ends in %v, want %v", left, want)
	}
	expectLockDelayEndsIn(t, c, b, "delayed", left)
}
