package locks

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestReleaseIsCheckedAgainstHolderAndToken(t *testing.T) {
	cases := []struct {
		name    string
		session uint64
		lock    string
		token   func(tok uint64) uint64
	}{
		{"not a holder", 2, "x", func(tok uint64) uint64 { return tok }},
		{"a waiter", 3, "x", func(tok uint64) uint64 { return tok }},
		{"stale token", 1, "x", func(tok uint64) uint64 { return tok - 1 }},
		{"future token", 1, "x", func(tok uint64) uint64 { return tok + 1 }},
		{"free lock", 1, "free", func(tok uint64) uint64 { return tok }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			h.index = 10
			tok := h.hold(1, "x", Exclusive)
			h.wait(3, "x", Exclusive, 0)
			before := h.snapshot()
			if _, err := h.release(c.session, c.lock, c.token(tok)); !errors.Is(err, ErrNotHolder) {
				t.Fatalf("err = %v, want ErrNotHolder", err)
			}
			h.unchanged(before, "refused release")
		})
	}
}

// TestStaleReleaseCannotFreeNewerHolder: a release repeated after the lock
// passed on, even by the same session holding it again, frees nothing.
func TestStaleReleaseCannotFreeNewerHolder(t *testing.T) {
	h := newHarness(t)
	old := h.hold(1, "x", Exclusive)
	h.wait(2, "x", Exclusive, 0)
	if _, err := h.release(1, "x", old); err != nil {
		t.Fatal(err)
	}
	h.wait(1, "x", Exclusive, 0) // 1 queues again behind 2
	if _, err := h.release(1, "x", old); !errors.Is(err, ErrNotHolder) {
		t.Fatalf("repeated release: %v, want ErrNotHolder", err)
	}
	eff, _ := h.release(2, "x", h.tb.Get("x").Holders[0].Token)
	if len(eff.Grants) != 1 || eff.Grants[0].Session != 1 {
		t.Fatalf("grants %+v", eff.Grants)
	}
	if _, err := h.release(1, "x", old); !errors.Is(err, ErrNotHolder) {
		t.Fatalf("stale token of the same session: %v, want ErrNotHolder", err)
	}
	if got := h.holders("x"); !slices.Equal(got, []uint64{1}) {
		t.Fatalf("holders %v, want [1]", got)
	}
}

// TestLockReleasedWhenSessionExpires: expiry frees the holds and waits of
// the session and grants the next waiter with the expiry entry's index.
// Reference: Chubby §2.8 (sessions and KeepAlives).
func TestLockReleasedWhenSessionExpires(t *testing.T) {
	h := newHarness(t)
	tokA := h.hold(1, "a", Exclusive)
	h.hold(1, "b", Shared)
	h.wait(2, "a", Exclusive, 0)
	h.hold(3, "c", Exclusive)
	h.wait(1, "c", Exclusive, 0)
	h.wait(4, "c", Exclusive, 0)
	eff := h.end(1, LostExpired)
	expiry := h.index
	if len(eff.Lost) != 2 || eff.Lost[0] != (Lost{Session: 1, Name: "a", Token: tokA, Reason: LostExpired}) ||
		eff.Lost[1].Name != "b" {
		t.Fatalf("lost %+v, want a then b", eff.Lost)
	}
	if len(eff.Grants) != 1 || eff.Grants[0] != (Grant{Session: 2, Name: "a", Mode: Exclusive, Token: expiry}) {
		t.Fatalf("grants %+v, want 2 on a at %d", eff.Grants, expiry)
	}
	if len(eff.Changes) != 2 || eff.Changes[0].Name != "a" || eff.Changes[1].Name != "b" || len(eff.Changes[1].Holders) != 0 {
		t.Fatalf("changes %+v, want a (new holder) and b (free)", eff.Changes)
	}
	if got := h.waiters("c"); !slices.Equal(got, []uint64{4}) {
		t.Fatalf("waiters of c %v, want [4]", got)
	}
	if len(h.tb.SessionLocks(1)) != 0 {
		t.Fatal("expired session still indexed")
	}
	if got := h.end(1, LostExpired); len(got.Lost)+len(got.Grants)+len(got.Changes) != 0 {
		t.Fatalf("second release of the session did something: %+v", got)
	}
}

func TestClosedSessionFreesItsLocksWithoutDelay(t *testing.T) {
	h := newHarness(t)
	h.acquire(1, "a", Exclusive, false, 30*time.Second)
	h.wait(2, "a", Exclusive, 0)
	eff := h.end(1, LostClosed)
	if len(eff.Lost) != 1 || eff.Lost[0].Reason != LostClosed || len(eff.Grants) != 1 || eff.Grants[0].Session != 2 {
		t.Fatalf("effects %+v, want lost (closed) and 2 granted at once", eff)
	}
	if _, ok := h.tb.NextDeadline(); ok {
		t.Fatal("closing set a lock-delay")
	}
}

// TestLockDelayHoldsGrantsUntilTick: a lock whose holder expired grants
// nothing before now+delay, and the Tick at the deadline grants the head
// waiter with the Tick's index. Reference: Chubby §2.4 (lock-delay).
func TestLockDelayHoldsGrantsUntilTick(t *testing.T) {
	h := newHarness(t)
	const delay = 5 * time.Second
	h.acquire(1, "a", Exclusive, false, delay)
	h.wait(2, "a", Exclusive, 0)
	eff := h.end(1, LostExpired)
	end := h.now + int64(delay)
	if len(eff.Grants) != 0 || len(eff.Lost) != 1 {
		t.Fatalf("expiry under delay: %+v, want lost without grant", eff)
	}
	if at, ok := h.tb.NextDeadline(); !ok || at != end {
		t.Fatalf("NextDeadline = %d %v, want %d", at, ok, end)
	}
	h.now = end - 1
	before := h.snapshot()
	if eff := h.tick(); len(eff.Grants) != 0 {
		t.Fatalf("tick before the deadline granted %+v", eff.Grants)
	}
	h.unchanged(before, "early tick")
	if _, _, err := h.acquire(3, "a", Shared, false, 0); !errors.Is(err, ErrLockHeld) {
		t.Fatalf("try during delay: %v, want ErrLockHeld", err)
	}
	h.now = end
	eff = h.tick()
	if len(eff.Grants) != 1 || eff.Grants[0] != (Grant{Session: 2, Name: "a", Mode: Exclusive, Token: h.index}) {
		t.Fatalf("tick at deadline: grants %+v, want 2 at %d", eff.Grants, h.index)
	}
	if _, ok := h.tb.NextDeadline(); ok {
		t.Fatal("delay still pending after tick")
	}
}

func TestLockDelayOnFreeLockBlocksTryAndEndsWithoutTick(t *testing.T) {
	h := newHarness(t)
	h.acquire(1, "a", Exclusive, false, time.Second)
	h.end(1, LostExpired)
	if h.tb.Len() != 1 || h.tb.Get("a").DelayUntil != h.now+int64(time.Second) {
		t.Fatalf("delayed free lock not kept: %+v", h.tb.Get("a"))
	}
	h.now += int64(time.Second) - 1
	if _, _, err := h.acquire(2, "a", Exclusive, false, 0); !errors.Is(err, ErrLockHeld) {
		t.Fatalf("try during delay: %v", err)
	}
	// Past the deadline an Acquire succeeds even before the Tick arrives.
	h.now++
	h.hold(2, "a", Exclusive)
	if _, ok := h.tb.NextDeadline(); ok {
		t.Fatal("delay kept after the lock was granted")
	}
	// A free lock whose delay ends with nobody waiting is dropped by Tick.
	h.acquire(3, "z", Exclusive, false, time.Second)
	h.end(3, LostExpired)
	h.now += int64(time.Second)
	h.tick()
	if info := h.tb.Get("z"); info.DelayUntil != 0 || h.tb.Len() != 1 || info.Revision == 0 {
		t.Fatalf("z after tick: %+v, len %d", info, h.tb.Len())
	}
}

func TestAcquireAfterDelayEndsLetsQueuedWaitersGoFirst(t *testing.T) {
	h := newHarness(t)
	h.acquire(1, "a", Exclusive, false, time.Second)
	h.wait(2, "a", Exclusive, 0)
	h.end(1, LostExpired)
	h.now += int64(time.Second)
	// No Tick yet: the Acquire finds the delay over, grants waiter 2 first
	// and queues itself.
	res, eff, err := h.acquire(3, "a", Exclusive, true, 0)
	if err != nil || res.Granted || res.Position != 1 || len(eff.Grants) != 1 || eff.Grants[0].Session != 2 {
		t.Fatalf("got %+v %+v %v, want 2 granted and 3 queued", res, eff, err)
	}
	// And a try in the same situation fails without changing anything.
	h2 := newHarness(t)
	h2.acquire(1, "a", Exclusive, false, time.Second)
	h2.wait(2, "a", Exclusive, 0)
	h2.end(1, LostExpired)
	h2.now += int64(time.Second)
	before := h2.snapshot()
	if _, _, err := h2.acquire(3, "a", Exclusive, false, 0); !errors.Is(err, ErrLockHeld) {
		t.Fatalf("try: %v, want ErrLockHeld", err)
	}
	h2.unchanged(before, "failed try after delay")
}

func TestSharedHolderExpiryDelaysOnlyNewGrants(t *testing.T) {
	h := newHarness(t)
	h.acquire(1, "s", Shared, false, 2*time.Second)
	h.hold(2, "s", Shared)
	h.end(1, LostExpired)
	if got := h.holders("s"); !slices.Equal(got, []uint64{2}) {
		t.Fatalf("holders %v, want [2]", got)
	}
	if _, _, err := h.acquire(3, "s", Shared, false, 0); !errors.Is(err, ErrLockHeld) {
		t.Fatalf("shared try during delay: %v, want ErrLockHeld", err)
	}
}

func TestProclaimReplacesValueOfHolder(t *testing.T) {
	h := newHarness(t)
	tok := h.hold(1, "leader", Exclusive)
	eff, err := h.tb.Proclaim(h.next(), 1, "leader", tok, []byte("10.0.0.7:80"))
	if err != nil || len(eff.Changes) != 1 || eff.Changes[0].Revision != h.index ||
		string(eff.Changes[0].Holders[0].Value) != "10.0.0.7:80" {
		t.Fatalf("proclaim: %+v %v", eff, err)
	}
	if info := h.tb.Get("leader"); string(info.Holders[0].Value) != "10.0.0.7:80" || info.Revision != h.index || info.Holders[0].Token != tok {
		t.Fatalf("info %+v", info)
	}
	before := h.snapshot()
	for _, c := range []struct {
		s     uint64
		name  string
		tok   uint64
		value []byte
		want  error
	}{
		{2, "leader", tok, nil, ErrNotHolder},
		{1, "leader", tok + 1, nil, ErrNotHolder},
		{1, "other", tok, nil, ErrNotHolder},
		{1, "leader", tok, make([]byte, DefaultConfig().MaxValueLen+1), ErrValueTooLarge},
	} {
		if _, err := h.tb.Proclaim(h.next(), c.s, c.name, c.tok, c.value); !errors.Is(err, c.want) {
			t.Fatalf("proclaim %+v: %v, want %v", c, err, c.want)
		}
	}
	h.unchanged(before, "refused proclaim")
}

func TestCheckTokenAcceptsOnlyCurrentHolders(t *testing.T) {
	h := newHarness(t)
	t1 := h.hold(1, "a", Shared)
	t2 := h.hold(2, "a", Shared)
	h.release(1, "a", t1)
	if h.tb.CheckToken("a", t1) || !h.tb.CheckToken("a", t2) || h.tb.CheckToken("a", 0) || h.tb.CheckToken("b", t2) {
		t.Fatal("CheckToken wrong")
	}
}

func TestRevisionSurvivesLockBeingDropped(t *testing.T) {
	h := newHarness(t)
	tok := h.hold(1, "e", Exclusive)
	h.release(1, "e", tok)
	freedAt := h.index
	if info := h.tb.Get("e"); len(info.Holders) != 0 || info.Revision != freedAt {
		t.Fatalf("free lock info %+v, want revision %d", info, freedAt)
	}
	// A new holder moves the revision on.
	h.hold(2, "e", Exclusive)
	if info := h.tb.Get("e"); info.Revision != h.index || info.Revision <= freedAt {
		t.Fatalf("re-acquired lock revision %d, want %d", info.Revision, h.index)
	}
	// Waiters joining do not change the revision.
	rev := h.index
	h.wait(3, "e", Exclusive, 0)
	if info := h.tb.Get("e"); info.Revision != rev {
		t.Fatalf("revision %d after a waiter joined, want %d", info.Revision, rev)
	}
}

func TestFreedRevisionsAreBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxFreed = 2
	tb, _ := New(cfg)
	h := &harness{t: t, tb: tb}
	for _, n := range []string{"a", "b", "a", "c"} {
		tok := h.hold(1, n, Exclusive)
		h.release(1, n, tok)
	}
	// Records: b@4, a@6 (a@2 was evicted while a's later record lived), c@8.
	if tb.Get("a").Revision != 6 || tb.Get("c").Revision != 8 || tb.Get("b").Revision != 0 {
		t.Fatalf("a %d b %d c %d, want 6 0 8", tb.Get("a").Revision, tb.Get("b").Revision, tb.Get("c").Revision)
	}
}

// TestObserverThatReconnectsSeesEveryChange: an election observer that saw
// revision R learns of a later change whether the lock is held, re-held
// or free when it asks.
func TestObserverThatReconnectsSeesEveryChange(t *testing.T) {
	h := newHarness(t)
	if _, _, ok := h.tb.Leader("e"); ok {
		t.Fatal("leader of a free lock")
	}
	tok := h.hold(1, "e", Exclusive)
	leader, rev, ok := h.tb.Leader("e")
	if !ok || leader.Session != 1 || leader.Token != tok || string(leader.Value) != "v1" || rev != tok {
		t.Fatalf("leader %+v rev %d %v", leader, rev, ok)
	}
	if _, changed := h.tb.ChangedSince("e", rev); changed {
		t.Fatal("no change reported as a change")
	}
	h.tb.Proclaim(h.next(), 1, "e", tok, []byte("new"))
	if in, changed := h.tb.ChangedSince("e", rev); !changed || string(in.Holders[0].Value) != "new" {
		t.Fatalf("proclaim not seen: %+v %v", in, changed)
	}
	_, rev, _ = h.tb.Leader("e")
	h.release(1, "e", tok)
	if in, changed := h.tb.ChangedSince("e", rev); !changed || len(in.Holders) != 0 {
		t.Fatalf("release not seen: %+v %v", in, changed)
	}
	// Held and released again while the observer was away: the revision
	// still moved.
	_, freedRev, _ := h.tb.Leader("e")
	t2 := h.hold(2, "e", Exclusive)
	h.release(2, "e", t2)
	if _, changed := h.tb.ChangedSince("e", freedRev); !changed {
		t.Fatal("a whole tenure missed by a reconnecting observer")
	}
}
