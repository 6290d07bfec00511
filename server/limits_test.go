package server

import (
	"errors"
	"testing"
	"time"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/server/fsm"
)

// The leader refuses a session beyond MaxSessions with CodeLimitExceeded,
// but answers a retried open of an existing session, and accepts a new
// one once a session closed.
func TestOpenBeyondMaxSessionsIsRefused(t *testing.T) {
	c := newSvcCluster(t, 3, func(cfg *Config) { cfg.MaxSessions = 2 })
	cl := dialClient(t, c.leader().ClientAddr())
	first := cl.open(time.Minute)
	cl.open(time.Minute)

	var r api.OpenSessionResponse
	err := cl.call(api.MsgOpenSession, &api.OpenSessionRequest{Key: "third", TTL: int64(time.Minute)}, &r)
	wantCode(t, err, api.CodeLimitExceeded)

	// A follower does not judge the limit: it sends the client to the
	// leader, whose state is the one that counts.
	lead := c.leader()
	for _, s := range c.servers {
		if s == nil || s == lead {
			continue
		}
		svcWait(t, "the follower applies both sessions", 10*time.Second, func() bool {
			var n int
			s.app.read(func(f *fsm.Machine) { n, _ = f.SessionCount("") })
			return n == 2
		})
		fcl := dialClient(t, s.ClientAddr())
		err := fcl.callRaw(api.MsgOpenSession, &api.OpenSessionRequest{Key: "third", TTL: int64(time.Minute)}, &r)
		wantCode(t, err, api.CodeNotLeader)
		break
	}

	// The retry of an open that was applied: same key, same session.
	key := "retried"
	cl.must(api.MsgCloseSession, &api.CloseSessionRequest{Session: first}, nil)
	cl.must(api.MsgOpenSession, &api.OpenSessionRequest{Key: key, TTL: int64(time.Minute)}, &r)
	var again api.OpenSessionResponse
	cl.must(api.MsgOpenSession, &api.OpenSessionRequest{Key: key, TTL: int64(time.Minute)}, &again)
	if again.Session != r.Session {
		t.Fatalf("retried open at the limit got session %d, want %d", again.Session, r.Session)
	}
}

// The leader refuses a session's lock beyond MaxLocksPerSession, counting
// held and queued locks, but not a repeated acquire of one it already
// holds, and another session is not affected.
func TestAcquireBeyondMaxLocksPerSessionIsRefused(t *testing.T) {
	c := newSvcCluster(t, 3, func(cfg *Config) { cfg.MaxLocksPerSession = 2 })
	cl := dialClient(t, c.leader().ClientAddr())
	s1, s2 := cl.open(time.Minute), cl.open(time.Minute)
	if _, err := cl.acquire(s2, "b", false); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.acquire(s1, "a", false); err != nil {
		t.Fatal(err)
	}
	if r, err := cl.acquire(s1, "b", true); err != nil || !r.Queued {
		t.Fatalf("queue for b: %+v %v", r, err)
	}
	_, err := cl.acquire(s1, "c", false)
	wantCode(t, err, api.CodeLimitExceeded)
	// Already holds a: not refused by the limit (the FSM answers it).
	_, err = cl.acquire(s1, "a", false)
	wantCode(t, err, api.CodeAlreadyHolder)
	if _, err := cl.acquire(s2, "c", false); err != nil {
		t.Fatalf("another session's acquire: %v", err)
	}
}

// A waiting acquire beyond the lock table's MaxWaitersPerLock is refused
// by the state machine with CodeLimitExceeded on every replica alike; a
// try-acquire still gets CodeLockHeld, and once a waiter leaves another
// may queue.
func TestWaitBeyondMaxWaitersPerLockIsRefused(t *testing.T) {
	c := newSvcCluster(t, 3, func(cfg *Config) { cfg.FSM.Locks.MaxWaitersPerLock = 1 })
	cl := dialClient(t, c.leader().ClientAddr())
	s1, s2, s3 := cl.open(time.Minute), cl.open(time.Minute), cl.open(time.Minute)
	if _, err := cl.acquire(s1, "w", false); err != nil {
		t.Fatal(err)
	}
	if r, err := cl.acquire(s2, "w", true); err != nil || !r.Queued {
		t.Fatalf("first waiter: %+v %v", r, err)
	}
	_, err := cl.acquire(s3, "w", true)
	wantCode(t, err, api.CodeLimitExceeded)
	_, err = cl.acquire(s3, "w", false)
	wantCode(t, err, api.CodeLockHeld)
	cl.must(api.MsgCancelWait, &api.CancelWaitRequest{Write: cl.write(s2), Name: "w"}, nil)
	if r, err := cl.acquire(s3, "w", true); err != nil || !r.Queued || r.Position != 1 {
		t.Fatalf("waiter after a cancel: %+v %v", r, err)
	}
}

func TestNegativeLimitsAreRefused(t *testing.T) {
	for i, tweak := range []func(*Config){
		func(c *Config) { c.MaxSessions, c.MaxLocksPerSession = 0, 0 }, // no limits: valid
		func(c *Config) { c.MaxSessions = -1 },
		func(c *Config) { c.MaxLocksPerSession = -1 },
	} {
		cfg := DefaultConfig()
		cfg.ID, cfg.DataDir, cfg.ClientAddr, cfg.PeerAddr = "n1", t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
		cfg.InitialCluster = map[string]string{"n1": "127.0.0.1:1"}
		tweak(&cfg)
		err := cfg.Validate()
		if valid := i == 0; valid != (err == nil) || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
			t.Fatalf("case %d: Validate: %v", i, err)
		}
	}
}
