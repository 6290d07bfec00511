package server

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/sessions"
)

// Reference: Chubby §2.8 — a session whose lease runs out on the leader
// expires: its locks are released, the next waiter is granted, and the
// session's connection hears Lost and SessionExpired. Time is the injected
// clock; the FSM's time comes from the leader's stamps.
func TestSessionExpiryReleasesLocksAndGrantsNextWaiter(t *testing.T) {
	c := newSvcCluster(t, 3, nil)
	lead := c.leader()
	a, b := dialClient(t, lead.ClientAddr()), dialClient(t, lead.ClientAddr())
	sa := a.open(2 * time.Second)
	sb := b.open(60 * time.Second)
	g, err := a.acquire(sa, "exp", false)
	if err != nil || !g.Granted {
		t.Fatal(g, err)
	}
	if q, err := b.acquire(sb, "exp", true); err != nil || !q.Queued {
		t.Fatal(q, err)
	}
	c.clock.Advance(1500 * time.Millisecond)
	// Not yet: the lease has 0.5 s left; after two scans a still holds.
	c.waitScans(2)
	var in api.LockInfo
	b.must(api.MsgGetLock, &api.GetLockRequest{Name: "exp"}, &in)
	if len(in.Holders) != 1 || in.Holders[0].Session != sa {
		t.Fatalf("lock before the deadline: %+v", in)
	}
	c.clock.Advance(time.Second)
	// The pushes travel on two connections, in no particular order between
	// them: wait for each.
	svcWait(t, "the waiter's grant and the expired session's pushes", 10*time.Second, func() bool {
		return len(pushesOf[api.GrantedEvent](b, api.PushGranted)) == 1 &&
			len(pushesOf[api.SessionExpiredEvent](a, api.PushSessionExpired)) >= 1 &&
			len(pushesOf[api.LostEvent](a, api.PushLost)) >= 1
	})
	if got := pushesOf[api.SessionExpiredEvent](a, api.PushSessionExpired); len(got) != 1 || got[0].Session != sa {
		t.Fatalf("expiry pushes %+v", got)
	}
	lost := pushesOf[api.LostEvent](a, api.PushLost)
	if len(lost) != 1 || lost[0].Name != "exp" || lost[0].Token != g.Token || lost[0].Reason != "expired" {
		t.Fatalf("lost pushes %+v", lost)
	}
	err = a.call(api.MsgGetSession, &api.GetSessionRequest{Session: sa}, nil)
	wantCode(t, err, api.CodeUnknownSession)
	_, err = a.acquire(sa, "other", false)
	wantCode(t, err, api.CodeSessionExpired)
	var ka api.KeepAliveResponse
	a.must(api.MsgKeepAlive, &api.KeepAliveRequest{Sessions: []uint64{sa}}, &ka)
	if len(ka.Expired) != 1 || ka.Expired[0] != sa {
		t.Fatalf("keep-alive of the expired session: %+v", ka)
	}
}

// Reference: Chubby §2.4 — after a holder's session expires, its lock
// stays ungrantable for the lock-delay; the leader's tick ends it.
func TestLockDelayHonouredAfterExpiry(t *testing.T) {
	c := newSvcCluster(t, 3, nil)
	lead := c.leader()
	a, b := dialClient(t, lead.ClientAddr()), dialClient(t, lead.ClientAddr())
	sa, sb := a.open(time.Second), b.open(time.Minute)
	if _, err := a.call2(api.MsgAcquire, &api.AcquireRequest{Write: a.write(sa), Name: "delayed", Mode: api.ModeExclusive,
		LockDelay: int64(5 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if q, err := b.acquire(sb, "delayed", true); err != nil || !q.Queued {
		t.Fatal(q, err)
	}
	c.clock.Advance(2 * time.Second)
	var in api.LockInfo
	svcWait(t, "the expiry", 10*time.Second, func() bool {
		b.must(api.MsgGetLock, &api.GetLockRequest{Name: "delayed"}, &in)
		return len(in.Holders) == 0 && in.DelayUntil > 0
	})
	if len(in.Waiters) != 1 || in.Waiters[0].Session != sb {
		t.Fatalf("lock during its delay: %+v", in)
	}
	// The delay counts from the expiry's stamp, in replicated time: stop
	// 10 ms short of it.
	if left := time.Duration(in.DelayUntil - replicatedNow(c.leader())); left <= 0 || left > 5*time.Second {
		t.Fatalf("delay ends in %v, want within 5 s", left)
	} else {
		c.clock.Advance(left - 10*time.Millisecond)
	}
	// Let the leader scan twice at this time: it must not end the delay.
	c.waitScans(2)
	b.must(api.MsgGetLock, &api.GetLockRequest{Name: "delayed"}, &in)
	if len(in.Holders) != 0 || len(pushesOf[api.GrantedEvent](b, api.PushGranted)) != 0 {
		t.Fatalf("lock granted during its delay: %+v", in)
	}
	c.clock.Advance(20 * time.Millisecond)
	svcWait(t, "the grant after the delay", 10*time.Second, func() bool {
		return len(pushesOf[api.GrantedEvent](b, api.PushGranted)) == 1
	})
}

// KeepAlive renews many sessions in one request and names the unknown.
func TestKeepAliveRenewsManySessions(t *testing.T) {
	c := newSvcCluster(t, 3, nil)
	cl := dialClient(t, c.leader().ClientAddr())
	var ids []uint64
	for i := 0; i < 5; i++ {
		ids = append(ids, cl.open(2*time.Second))
	}
	for round := 0; round < 4; round++ {
		c.clock.Advance(1500 * time.Millisecond)
		var r api.KeepAliveResponse
		cl.must(api.MsgKeepAlive, &api.KeepAliveRequest{Sessions: append(append([]uint64(nil), ids...), 777777)}, &r)
		if len(r.Expired) != 1 || r.Expired[0] != 777777 || len(r.TTLs) != len(ids)+1 || r.TTLs[0] != int64(2*time.Second) {
			t.Fatalf("round %d: %+v", round, r)
		}
	}
	var ls api.ListSessionsResponse
	cl.must(api.MsgListSessions, &api.ListSessionsRequest{}, &ls)
	if len(ls.Sessions) != len(ids) {
		t.Fatalf("%d sessions open after 6 s of keep-alives on 2 s leases, want %d", len(ls.Sessions), len(ids))
	}
}

// Reference: Chubby §2.9 — a new leader gives every session a fresh lease,
// so a session kept alive across a failover keeps its locks.
func TestSessionSurvivesLeaderFailoverWhenKeptAlive(t *testing.T) {
	c := newSvcCluster(t, 3, nil)
	old := c.leader()
	cl := dialClient(t, old.ClientAddr())
	s := cl.open(3 * time.Second)
	idle := cl.open(3 * time.Second) // never kept alive
	g, err := cl.acquire(s, "survivor", false)
	if err != nil || !g.Granted {
		t.Fatal(g, err)
	}
	watch := dialClient(t, c.follower().ClientAddr())
	c.clock.Advance(2 * time.Second)
	c.stop(old.ID())
	nl := c.leader()
	svcWait(t, "a leader-changed push", 10*time.Second, func() bool {
		for _, ev := range pushesOf[api.LeaderChangedEvent](watch, api.PushLeaderChanged) {
			if ev.Leader == nl.ID() && ev.LeaderAddr == nl.ClientAddr() {
				return true
			}
		}
		return false
	})
	cl2 := dialClient(t, nl.ClientAddr())
	for i := 0; i < 3; i++ {
		c.clock.Advance(2 * time.Second) // past the old deadline, within each fresh one
		var r api.KeepAliveResponse
		cl2.must(api.MsgKeepAlive, &api.KeepAliveRequest{Sessions: []uint64{s}}, &r)
		if len(r.Expired) != 0 {
			t.Fatalf("session expired across the failover: %+v", r)
		}
	}
	var ok api.CheckTokenResponse
	cl2.must(api.MsgCheckToken, &api.CheckTokenRequest{Name: "survivor", Token: g.Token}, &ok)
	if !ok.Current {
		t.Fatal("the lock was lost across the failover")
	}
	// The new leader expires the session nobody kept alive.
	svcWait(t, "the idle session's expiry on the new leader", 10*time.Second, func() bool {
		return codeOf(t, cl2.call(api.MsgGetSession, &api.GetSessionRequest{Session: idle}, nil)) == api.CodeUnknownSession
	})
}

// The lease table stays cheap with 50,000 sessions: renewals move
// entries in the heap, and due pops exactly the passed deadlines in order.
func TestLeaseTableExpiresInDeadlineOrder(t *testing.T) {
	lt := newLeaseTable()
	gen := lt.deactivate()
	r := rand.New(rand.NewPCG(7, 11))
	const n = 50000
	ds := make([]sessions.Deadline, n)
	for i := range ds {
		ds[i] = sessions.Deadline{ID: sessions.ID(i + 1), At: int64(r.IntN(1_000_000))}
	}
	if !lt.activate(gen, ds) {
		t.Fatal("activate refused the current generation")
	}
	// Renew every even session far into the future.
	var ids []uint64
	var ats []time.Duration
	for i := 2; i <= n; i += 2 {
		ids, ats = append(ids, uint64(i)), append(ats, 5_000_000)
	}
	if ok, cur := lt.renew(gen, ids, ats); !cur || len(ok) != len(ids) || !ok[0] {
		t.Fatal("renew failed")
	}
	got := lt.due(1_000_000, n)
	if len(got) != n/2 {
		t.Fatalf("%d sessions due, want %d", len(got), n/2)
	}
	last := int64(-1)
	for _, id := range got {
		if id%2 == 0 {
			t.Fatalf("renewed session %d expired", id)
		}
		if at := ds[id-1].At; at < last {
			t.Fatalf("due out of deadline order")
		} else {
			last = at
		}
	}
	// An expiring session cannot be renewed; a new generation forgets all.
	if ok, _ := lt.renew(gen, []uint64{got[0]}, []time.Duration{9_000_000}); ok[0] {
		t.Fatal("renewed a session whose expiry is under way")
	}
	if lt.deactivate(); lt.len() != 0 || lt.isActive() {
		t.Fatal("deactivate kept leases")
	}
	if _, cur := lt.renew(gen, ids, ats); cur {
		t.Fatal("renew of an old generation succeeded")
	}
}

// waitScans waits until the current leader's lease scan has run n more
// times (starting over if leadership moves meanwhile).
func (c *svcCluster) waitScans(n uint64) {
	c.t.Helper()
	lead := c.leader()
	from := lead.scans.Load()
	svcWait(c.t, "leader scans", 10*time.Second, func() bool {
		if !lead.node.IsLeader() {
			lead = c.leader()
			from = lead.scans.Load()
		}
		return lead.scans.Load() >= from+n
	})
}
