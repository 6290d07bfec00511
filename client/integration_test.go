package client

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockd/lockd/internal/faults"
	"github.com/lockd/lockd/server"
)

func integrationConfig(c *testCluster) Config {
	cfg := testConfig(c.endpoints()...)
	cfg.SessionTTL = 5 * time.Second
	return cfg
}

// Reference: Chubby §2.8 (fail-overs) — a session and its locks outlive a
// master fail-over when the client reconnects within the lease.
func TestIntegrationLockSurvivesLeaderFailoverWithItsToken(t *testing.T) {
	tc := newTestCluster(t, 3)
	c := newTestClient(t, integrationConfig(tc))
	s := newTestSession(t, c)
	l, err := s.Acquire(testCtx(t), "jobs/nightly", WithValue([]byte("me")))
	if err != nil {
		t.Fatal(err)
	}
	old := tc.leader()
	tc.stop(old)
	if now := tc.leader(); now == old {
		t.Fatalf("leader still %s", now)
	}
	ok, err := c.CheckToken(testCtx(t), "jobs/nightly", l.Token())
	if err != nil || !ok {
		t.Fatalf("CheckToken after failover = %v, %v; want true", ok, err)
	}
	info, err := c.GetLock(testCtx(t), "jobs/nightly")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Holders) != 1 || info.Holders[0].Session != s.ID() || info.Holders[0].Token != l.Token() {
		t.Fatalf("holders %+v, want session %d token %d", info.Holders, s.ID(), l.Token())
	}
	// The new leader renews the session: a keep-alive is confirmed.
	if !c.sendKeepAlive(c.liveSessions()) {
		t.Fatal("keep-alive not confirmed by the new leader")
	}
	if st := s.State(); st != SessionSafe || closed(l.Lost()) {
		t.Fatalf("session %v, lost %v after failover; want safe and held", st, closed(l.Lost()))
	}
	if err := l.Release(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

func TestIntegrationWaiterGetsTheGrantAcrossLeaderFailover(t *testing.T) {
	tc := newTestCluster(t, 3)
	ca := newTestClient(t, integrationConfig(tc))
	cb := newTestClient(t, integrationConfig(tc))
	a, b := newTestSession(t, ca), newTestSession(t, cb)
	la, err := a.Acquire(testCtx(t), "q")
	if err != nil {
		t.Fatal(err)
	}
	rb := goAcquire(testCtx(t), b, "q")
	waitWaiters(t, ca, "q", 1)
	old := tc.leader()
	tc.stop(old)
	tc.leader()
	if err := la.Release(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	r := waitAcquire(t, rb)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.l.Token() <= la.Token() {
		t.Fatalf("token %d not above the previous holder's %d", r.l.Token(), la.Token())
	}
	ok, err := cb.CheckToken(testCtx(t), "q", r.l.Token())
	if err != nil || !ok {
		t.Fatalf("CheckToken = %v, %v", ok, err)
	}
}

// waitWaiters waits until name has n waiters (polling the cluster; the
// bound fails the test).
func waitWaiters(t *testing.T, c *Client, name string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := c.GetLock(testCtx(t), name)
		if err == nil && len(info.Waiters) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lock %s: waiters %+v (err %v), want %d", name, info.Waiters, err, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Connections to the leader are cut again and again while a client loops
// on Acquire and Release: answers are lost with the connections and the
// requests are retried, yet none is applied twice (a twice-applied Acquire
// would answer ErrAlreadyHolder, a twice-applied Release ErrNotHolder).
func TestIntegrationRetriedWritesAreNeverAppliedTwice(t *testing.T) {
	tc := newTestCluster(t, 3)
	cfg := integrationConfig(tc)
	inj := faults.New()
	faults.AttachClient(&cfg, inj)
	c := newTestClient(t, cfg)
	s := newTestSession(t, c)
	lead := tc.leader()

	stop := make(chan struct{})
	cuts := make(chan int, 1)
	var pairs atomic.Int64
	go func() {
		n := 0
		defer func() { cuts <- n }()
		for last := int64(0); ; {
			select {
			case <-stop:
				return
			default:
			}
			if p := pairs.Load(); p > last+3 { // cut every few pairs
				last = p
				inj.Block(lead)
				inj.Unblock(lead)
				n++
			}
			time.Sleep(time.Millisecond)
		}
	}()
	var prev uint64
	for i := 0; i < 60; i++ {
		l, err := s.Acquire(testCtx(t), "dedup")
		if err != nil {
			t.Fatalf("pair %d acquire: %v", i, err)
		}
		if l.Token() <= prev {
			t.Fatalf("token %d after %d", l.Token(), prev)
		}
		prev = l.Token()
		if err := l.Release(testCtx(t)); err != nil {
			t.Fatalf("pair %d release: %v", i, err)
		}
		pairs.Add(1)
	}
	close(stop)
	n := <-cuts
	if n == 0 || c.retries.Load() == 0 {
		t.Fatalf("%d cuts, %d retries: the test did not exercise retries", n, c.retries.Load())
	}
	t.Logf("%d connection cuts, %d retried attempts", n, c.retries.Load())
	info, err := c.GetLock(testCtx(t), "dedup")
	if err != nil || len(info.Holders) != 0 {
		t.Fatalf("lock left %+v (%v)", info, err)
	}
	if errors.Is(s.Err(), ErrSessionExpired) {
		t.Fatal("session expired")
	}
}

// The client is cut off from every node: its session goes into jeopardy
// at the end of its lease (locks not yet reported lost), the leader
// expires it, and when the client reaches the cluster again it learns the
// session expired and closes Lost.
func TestIntegrationCutOffClientGoesThroughJeopardyToExpiry(t *testing.T) {
	tc := newTestCluster(t, 3)
	cfg := integrationConfig(tc)
	inj := faults.New()
	faults.AttachClient(&cfg, inj)
	cfg.Grace = time.Minute // expiry must come from the cluster's answer
	c := newTestClient(t, cfg)
	s := newTestSession(t, c, WithTTL(time.Second))
	l, err := s.Acquire(testCtx(t), "cut")
	if err != nil {
		t.Fatal(err)
	}
	watcher := newTestClient(t, integrationConfig(tc))
	for _, id := range tc.ids() {
		inj.Block(id)
	}
	if st, err := s.WaitState(testCtx(t), SessionSafe); err != nil || st != SessionJeopardy {
		t.Fatalf("WaitState = %v, %v; want jeopardy", st, err)
	}
	if closed(l.Lost()) {
		t.Fatal("Lost closed in jeopardy")
	}
	// Wait until the leader has expired the session.
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := watcher.GetSession(testCtx(t), s.ID())
		if errors.Is(err, ErrSessionExpired) || errors.Is(err, ErrUnknownSession) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("session not expired by the cluster: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, id := range tc.ids() {
		inj.Unblock(id)
	}
	if st, err := s.WaitState(testCtx(t), SessionJeopardy); err != nil || st != SessionExpired {
		t.Fatalf("WaitState = %v, %v; want expired", st, err)
	}
	waitClosed(t, l.Lost(), "Lost after expiry")
	if ok, err := watcher.CheckToken(testCtx(t), "cut", l.Token()); err != nil || ok {
		t.Fatalf("CheckToken of the expired holder = %v, %v; want false", ok, err)
	}
}

func TestIntegrationClientGivenOnlyAFollowerFindsTheLeader(t *testing.T) {
	tc := newTestCluster(t, 3)
	lead := tc.leader()
	follower := "n1"
	if lead == follower {
		follower = "n2"
	}
	c := newTestClient(t, testConfig(tc.cfgs[follower].ClientAddr))
	s := newTestSession(t, c)
	if _, err := s.TryAcquire(testCtx(t), "f"); err != nil {
		t.Fatal(err)
	}
	conn, _ := c.conns.current()
	if conn == nil || conn.Addr() != tc.cfgs[lead].ClientAddr {
		t.Fatalf("connected to %v, want the leader at %s", conn, tc.cfgs[lead].ClientAddr)
	}
}

func TestIntegrationObserverSeesChangesAcrossLeaderFailover(t *testing.T) {
	tc := newTestCluster(t, 3)
	cl := newTestClient(t, integrationConfig(tc))
	co := newTestClient(t, integrationConfig(tc))
	e := newTestSession(t, cl).Election("e")
	if err := e.Campaign(testCtx(t), []byte("one")); err != nil {
		t.Fatal(err)
	}
	ch := newTestSession(t, co).Election("e").Observe(testCtx(t))
	if li := nextInfo(t, ch); string(li.Value) != "one" {
		t.Fatalf("observed %q, want one", li.Value)
	}
	tc.stop(tc.leader())
	tc.leader()
	if err := e.Proclaim(testCtx(t), []byte("two")); err != nil {
		t.Fatal(err)
	}
	if li := nextInfo(t, ch); string(li.Value) != "two" {
		t.Fatalf("observed %q after failover, want two", li.Value)
	}
}

// Acquire+release pairs run on while the leader is stopped under them:
// each write in flight is retried on the new leader with its sequence
// number and applied once.
func TestIntegrationPairsAcrossALeaderStopApplyOnce(t *testing.T) {
	tc := newTestCluster(t, 3)
	c := newTestClient(t, integrationConfig(tc))
	s := newTestSession(t, c)
	stopped := make(chan struct{})
	var prev uint64
	for i := 0; i < 40; i++ {
		if i == 10 {
			go func() {
				defer close(stopped)
				tc.stop(tc.leader())
			}()
		}
		l, err := s.Acquire(testCtx(t), "ha")
		if err != nil {
			t.Fatalf("pair %d acquire: %v", i, err)
		}
		if l.Token() <= prev {
			t.Fatalf("pair %d: token %d after %d", i, l.Token(), prev)
		}
		prev = l.Token()
		if err := l.Release(testCtx(t)); err != nil {
			t.Fatalf("pair %d release: %v", i, err)
		}
	}
	<-stopped
	tc.leader()
	info, err := c.GetLock(testCtx(t), "ha")
	if err != nil || len(info.Holders) != 0 {
		t.Fatalf("lock left %+v (%v)", info, err)
	}
}

// Reference: Chubby §2.4 (lock-delay). An election's lock keeps the
// lock-delay its candidates chose: when the leader's session expires, a
// waiting candidate wins at once with the default (none), and with
// DefaultLockDelay chosen only once that has passed. Time is the server's injected
// clock, which only the test moves; the clients' clocks stand still, so no
// keep-alive renews a lease behind the test's back.
func TestIntegrationCandidateWinsAtLeaderExpiryOnlyAfterTheChosenLockDelay(t *testing.T) {
	srvClk := newFakeClock()
	tc := newTestClusterWith(t, 1, func(cfg *server.Config) { cfg.Clock = server.FuncClock(srvClk.Now) })
	frozen := func() Config {
		cfg := integrationConfig(tc)
		cfg.clock = newFakeClock()
		return cfg
	}
	a := newTestSession(t, newTestClient(t, frozen()), WithTTL(2*time.Second))
	cb := newTestClient(t, frozen())
	b := newTestSession(t, cb, WithTTL(time.Minute))
	fast, safe := a.Election("fast"), a.Election("safe", WithElectionLockDelay(DefaultLockDelay))
	for _, e := range []*Election{fast, safe} {
		if err := e.Campaign(testCtx(t), []byte("a")); err != nil {
			t.Fatal(err)
		}
	}
	oldToken := fast.Lock().Token()
	bFast := goCampaign(testCtx(t), b.Election("fast"), "b")
	bSafe := goCampaign(testCtx(t), b.Election("safe", WithElectionLockDelay(DefaultLockDelay)), "b")
	waitWaiters(t, cb, "fast", 1)
	waitWaiters(t, cb, "safe", 1)

	expiredAt := srvClk.Now().Add(3 * time.Second) // past a's lease, within b's
	srvClk.advanceTo(expiredAt)
	if err := waitCampaign(t, bFast); err != nil {
		t.Fatalf("campaign on the election with the default (no lock-delay): %v", err)
	}
	li, err := b.Election("fast").Leader(testCtx(t))
	if err != nil || li.Session != b.ID() || li.Token <= oldToken {
		t.Fatalf("leader of fast = %+v, %v; want session %d with a token above %d", li, err, b.ID(), oldToken)
	}
	// The same expiry put the other election's lock into its delay.
	info, err := cb.GetLock(testCtx(t), "safe")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Holders) != 0 || len(info.Waiters) != 1 || !info.DelayUntil.Equal(expiredAt.Add(DefaultLockDelay)) {
		t.Fatalf("safe after the expiry: %+v; want no holder, b waiting, delay until %v", info, expiredAt.Add(DefaultLockDelay))
	}
	srvClk.advanceTo(expiredAt.Add(DefaultLockDelay))
	if err := waitCampaign(t, bSafe); err != nil {
		t.Fatalf("campaign on the election with DefaultLockDelay: %v", err)
	}
}

// An election's lock-delay has a lock's range: the server refuses one
// outside 0..60 s with ErrInvalidLockDelay, and Campaign returns it. Its
// message says so once, then what was out of range.
func TestIntegrationElectionLockDelayOutsideItsRangeIsRefused(t *testing.T) {
	tc := newTestCluster(t, 1)
	s := newTestSession(t, newTestClient(t, integrationConfig(tc)))
	for _, d := range []time.Duration{-time.Nanosecond, 60*time.Second + time.Nanosecond} {
		err := s.Election("bad", WithElectionLockDelay(d)).Campaign(testCtx(t), []byte("v"))
		if !errors.Is(err, ErrInvalidLockDelay) {
			t.Errorf("Campaign with lock-delay %v: %v, want ErrInvalidLockDelay", d, err)
		}
		if want := fmt.Sprintf("lockd: invalid lock delay: %v not in [0, 1m0s]", d); err == nil || err.Error() != want {
			t.Errorf("Campaign with lock-delay %v: error %q, want %q", d, err, want)
		}
	}
	if err := s.Election("max", WithElectionLockDelay(60*time.Second)).Campaign(testCtx(t), []byte("v")); err != nil {
		t.Errorf("Campaign with lock-delay 60s: %v", err)
	}
}

// goCampaign runs e.Campaign on its own goroutine.
func goCampaign(ctx context.Context, e *Election, value string) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- e.Campaign(ctx, []byte(value)) }()
	return ch
}

// waitCampaign waits for a goCampaign's result; the bound fails the test.
func waitCampaign(t *testing.T, ch <-chan error) error {
	t.Helper()
	return waitResult(t, ch, "Campaign")
}
