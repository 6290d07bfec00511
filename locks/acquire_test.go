package locks

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAcquireFreeLockGrantsWithEntryIndexAsToken(t *testing.T) {
	h := newHarness(t)
	h.index = 41
	res, eff, err := h.acquire(1, "jobs/a", Exclusive, false, 0)
	if err != nil || !res.Granted || res.Token != 42 {
		t.Fatalf("got %+v %v, want granted with token 42", res, err)
	}
	if len(eff.Grants) != 0 {
		t.Fatalf("immediate grant also reported as Grant: %+v", eff.Grants)
	}
	if len(eff.Changes) != 1 || eff.Changes[0].Revision != 42 || eff.Changes[0].Holders[0].Session != 1 {
		t.Fatalf("changes = %+v, want one at revision 42 held by 1", eff.Changes)
	}
	info := h.tb.Get("jobs/a")
	if info.Holders[0].AcquiredAt != h.now || string(info.Holders[0].Value) != "v1" || info.Revision != 42 {
		t.Fatalf("info = %+v", info)
	}
}

func TestTryAcquireOfHeldLockFailsAndChangesNothing(t *testing.T) {
	cases := []struct {
		name  string
		setup func(h *harness)
		mode  Mode
	}{
		{"exclusive held, exclusive try", func(h *harness) { h.hold(1, "x", Exclusive) }, Exclusive},
		{"exclusive held, shared try", func(h *harness) { h.hold(1, "x", Exclusive) }, Shared},
		{"shared held, exclusive try", func(h *harness) { h.hold(1, "x", Shared) }, Exclusive},
		{"shared held with exclusive waiter, shared try", func(h *harness) {
			h.hold(1, "x", Shared)
			h.wait(2, "x", Exclusive, 0)
		}, Shared},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			c.setup(h)
			before := h.snapshot()
			if _, _, err := h.acquire(9, "x", c.mode, false, 0); !errors.Is(err, ErrLockHeld) {
				t.Fatalf("err = %v, want ErrLockHeld", err)
			}
			h.unchanged(before, "failed try")
		})
	}
}

func TestSharedHoldersCoexist(t *testing.T) {
	h := newHarness(t)
	t1 := h.hold(1, "s", Shared)
	t2 := h.hold(2, "s", Shared)
	if got := h.holders("s"); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("holders %v", got)
	}
	if !h.tb.CheckToken("s", t1) || !h.tb.CheckToken("s", t2) {
		t.Fatal("a shared holder's token does not check")
	}
}

// TestWaitersAreGrantedInFIFOOrder: each release grants exactly the head,
// with the release entry's index as token. Reference: Chubby §2.4.
func TestWaitersAreGrantedInFIFOOrder(t *testing.T) {
	h := newHarness(t)
	tok := h.hold(1, "q", Exclusive)
	for s := uint64(2); s <= 4; s++ {
		h.wait(s, "q", Exclusive, 0)
	}
	holder := uint64(1)
	for next := uint64(2); next <= 4; next++ {
		eff, err := h.release(holder, "q", tok)
		if err != nil {
			t.Fatal(err)
		}
		if len(eff.Grants) != 1 || eff.Grants[0] != (Grant{Session: next, Name: "q", Mode: Exclusive, Token: h.index}) {
			t.Fatalf("release by %d: grants %+v, want only %d at %d", holder, eff.Grants, next, h.index)
		}
		if eff.Grants[0].Token <= tok {
			t.Fatalf("token %d not above previous %d", eff.Grants[0].Token, tok)
		}
		holder, tok = next, eff.Grants[0].Token
	}
	if _, err := h.release(4, "q", tok); err != nil {
		t.Fatal(err)
	}
	if h.tb.Len() != 0 {
		t.Fatal("free lock with no waiters kept in the table")
	}
}

func TestSharedRunAtHeadIsGrantedTogether(t *testing.T) {
	h := newHarness(t)
	tok := h.hold(1, "m", Exclusive)
	h.wait(2, "m", Shared, 0)
	h.wait(3, "m", Shared, 0)
	h.wait(4, "m", Exclusive, 0)
	h.wait(5, "m", Shared, 0)
	eff, _ := h.release(1, "m", tok)
	if len(eff.Grants) != 2 || eff.Grants[0].Session != 2 || eff.Grants[1].Session != 3 ||
		eff.Grants[0].Token != h.index || eff.Grants[1].Token != h.index {
		t.Fatalf("grants %+v, want 2 and 3 at %d", eff.Grants, h.index)
	}
	if len(eff.Changes) != 1 || len(eff.Changes[0].Holders) != 2 {
		t.Fatalf("changes %+v, want one with two holders", eff.Changes)
	}
	if got := h.waiters("m"); !slices.Equal(got, []uint64{4, 5}) {
		t.Fatalf("waiters %v, want [4 5]: shared 5 must not pass exclusive 4", got)
	}
	h.release(2, "m", eff.Grants[0].Token)
	eff, _ = h.release(3, "m", eff.Grants[1].Token)
	if len(eff.Grants) != 1 || eff.Grants[0].Session != 4 {
		t.Fatalf("grants %+v, want 4", eff.Grants)
	}
}

func TestNoBargingPastQueuedExclusiveWaiter(t *testing.T) {
	h := newHarness(t)
	h.hold(1, "b", Shared)
	h.wait(2, "b", Exclusive, 0)
	res, _, err := h.acquire(3, "b", Shared, true, 0)
	if err != nil || res.Granted || res.Position != 2 {
		t.Fatalf("shared behind exclusive waiter: %+v %v, want queued at 2", res, err)
	}
}

func TestCancelWaitOfExclusiveHeadLetsSharedWaitersIn(t *testing.T) {
	h := newHarness(t)
	h.hold(1, "c", Shared)
	h.wait(2, "c", Exclusive, 0)
	h.wait(3, "c", Shared, 0)
	eff, err := h.tb.CancelWait(h.next(), h.now, 2, "c")
	h.checkInvariants()
	if err != nil || len(eff.Grants) != 1 || eff.Grants[0].Session != 3 || len(eff.Changes) != 1 {
		t.Fatalf("cancel: %+v %v, want 3 granted", eff, err)
	}
	if got := h.holders("c"); !slices.Equal(got, []uint64{1, 3}) {
		t.Fatalf("holders %v", got)
	}
	before := h.snapshot()
	if _, err := h.tb.CancelWait(h.next(), h.now, 2, "c"); !errors.Is(err, ErrNotWaiting) {
		t.Fatalf("second cancel: %v, want ErrNotWaiting", err)
	}
	if _, err := h.tb.CancelWait(h.next(), h.now, 2, "nope"); !errors.Is(err, ErrNotWaiting) {
		t.Fatalf("cancel on free lock: %v, want ErrNotWaiting", err)
	}
	h.unchanged(before, "failed cancel")
}

func TestCancelLastWaiterDropsIdleLock(t *testing.T) {
	h := newHarness(t)
	tok := h.hold(1, "d", Exclusive)
	h.wait(2, "d", Exclusive, 0)
	if eff, err := h.tb.CancelWait(h.next(), h.now, 2, "d"); err != nil || len(eff.Changes) != 0 {
		t.Fatalf("cancel: %+v %v, want no change of holders", eff, err)
	}
	h.release(1, "d", tok)
	if h.tb.Len() != 0 || len(h.tb.SessionLocks(2)) != 0 {
		t.Fatal("lock or session index kept after everything left")
	}
}

func TestSecondAcquireBySameSessionIsRefused(t *testing.T) {
	h := newHarness(t)
	h.hold(1, "r", Exclusive)
	h.wait(2, "r", Shared, 0)
	before := h.snapshot()
	for _, c := range []struct {
		s    uint64
		want error
	}{{1, ErrAlreadyHolder}, {2, ErrAlreadyWaiting}} {
		for _, wait := range []bool{false, true} {
			if _, _, err := h.acquire(c.s, "r", Shared, wait, 0); !errors.Is(err, c.want) {
				t.Fatalf("session %d wait=%v: %v, want %v", c.s, wait, err, c.want)
			}
		}
	}
	h.unchanged(before, "refused re-acquire")
}

func TestInvalidAcquireIsRefusedAndChangesNothing(t *testing.T) {
	cfg := DefaultConfig()
	cases := []struct {
		name string
		req  AcquireRequest
		want error
	}{
		{"empty name", AcquireRequest{Name: "", Mode: Exclusive}, ErrInvalidName},
		{"over-long name", AcquireRequest{Name: strings.Repeat("n", cfg.MaxNameLen+1), Mode: Exclusive}, ErrInvalidName},
		{"NUL in name", AcquireRequest{Name: "a\x00b", Mode: Exclusive}, ErrInvalidName},
		{"not UTF-8", AcquireRequest{Name: "a\xffb", Mode: Exclusive}, ErrInvalidName},
		{"over-large value", AcquireRequest{Name: "a", Mode: Exclusive, Value: make([]byte, cfg.MaxValueLen+1)}, ErrValueTooLarge},
		{"mode zero", AcquireRequest{Name: "a"}, ErrInvalidMode},
		{"mode three", AcquireRequest{Name: "a", Mode: 3}, ErrInvalidMode},
		{"negative delay", AcquireRequest{Name: "a", Mode: Shared, LockDelay: -1}, ErrInvalidLockDelay},
		{"delay over max", AcquireRequest{Name: "a", Mode: Shared, LockDelay: cfg.MaxLockDelay + 1}, ErrInvalidLockDelay},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			h.hold(1, "a", Shared)
			before := h.snapshot()
			c.req.Session = 2
			if _, _, err := h.tb.Acquire(h.next(), h.now, c.req); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			h.unchanged(before, "invalid acquire")
		})
	}
	// The limits themselves are accepted.
	h := newHarness(t)
	_, _, err := h.tb.Acquire(h.next(), h.now, AcquireRequest{Session: 1, Name: strings.Repeat("n", cfg.MaxNameLen),
		Mode: Exclusive, Value: make([]byte, cfg.MaxValueLen), LockDelay: cfg.MaxLockDelay})
	if err != nil {
		t.Fatalf("acquire at the limits: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		mut  func(*Config)
		ok   bool
	}{
		{"default", func(*Config) {}, true},
		{"zero name", func(c *Config) { c.MaxNameLen = 0 }, false},
		{"negative value", func(c *Config) { c.MaxValueLen = -1 }, false},
		{"negative delay", func(c *Config) { c.MaxLockDelay = -time.Second }, false},
		{"negative freed", func(c *Config) { c.MaxFreed = -1 }, false},
		{"zero freed", func(c *Config) { c.MaxFreed = 0 }, true},
		{"zero waiters", func(c *Config) { c.MaxWaitersPerLock = 0 }, false},
		{"one waiter", func(c *Config) { c.MaxWaitersPerLock = 1 }, true},
	}
	for _, c := range cases {
		cfg := DefaultConfig()
		c.mut(&cfg)
		if err := cfg.Validate(); (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
			t.Errorf("%s: %v", c.name, err)
		}
		if _, err := New(cfg); (err == nil) != c.ok {
			t.Errorf("%s: New %v", c.name, err)
		}
	}
}
