package fsm

import (
	"reflect"
	"testing"
	"time"

	"github.com/lockd/lockd/locks"
	"github.com/lockd/lockd/sessions"
)

func TestOpenSessionUsesEntryIndexAndClampsTTL(t *testing.T) {
	cfg := DefaultConfig().Sessions
	cases := []struct {
		name string
		ttl  time.Duration
		want time.Duration
	}{
		{"default", 0, cfg.DefaultTTL},
		{"below min", time.Millisecond, cfg.MinTTL},
		{"above max", time.Hour, cfg.MaxTTL},
		{"in range", 20 * time.Second, 20 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newFSMHarness(t)
			h.index = 6
			res, evs := h.cmd(Command{Type: CmdOpenSession}, OpenSessionBody{TTL: int64(c.ttl)})
			h.mustOK(res)
			if res.Session != 7 || res.TTL != int64(c.want) || res.Duplicate ||
				!reflect.DeepEqual(evs, []Event{SessionOpened{Session: 7, TTL: int64(c.want)}}) {
				t.Fatalf("open = %+v %v, want session 7 with TTL %v", res, evs, c.want)
			}
			info, ok := h.f.Session(7)
			if !ok || info.TTL != c.want || info.OpenedAt != h.now {
				t.Fatalf("session info %+v %v", info, ok)
			}
		})
	}
}

func TestOpenSessionWithSameKeyReturnsSameSession(t *testing.T) {
	h := newFSMHarness(t)
	first := h.open("client-A", 5*time.Second)
	res, evs := h.cmd(Command{Type: CmdOpenSession}, OpenSessionBody{Key: "client-A", TTL: int64(5 * time.Second)})
	if res.Err != nil || res.Session != first || !res.Duplicate || len(evs) != 0 {
		t.Fatalf("retried open = %+v %v, want session %d, duplicate, no event", res, evs, first)
	}
	if n := len(h.f.Sessions()); n != 1 {
		t.Fatalf("%d sessions, want 1", n)
	}
}

// TestLockReleasedWhenSessionExpires: expiry ends the session, frees its
// locks and grants the next waiter with the expiry entry's index as token.
// Reference: Chubby §2.8.
func TestLockReleasedWhenSessionExpires(t *testing.T) {
	h := newFSMHarness(t)
	s1, s2 := h.open("", 0), h.open("", 0)
	tok := h.hold(s1, "a", locks.Exclusive)
	res, _ := h.acquire(s2, "a", locks.Exclusive, true, 0)
	if !res.Queued || res.Position != 1 {
		t.Fatalf("waiter: %+v", res)
	}
	res, evs := h.expire(s1)
	h.mustOK(res)
	idx := h.index
	want := []Event{
		SessionExpired{Session: s1},
		Lost{Session: s1, Name: "a", Token: tok, Reason: locks.LostExpired},
		Granted{Session: s2, Name: "a", Mode: locks.Exclusive, Token: idx},
		HolderChanged{Name: "a", Revision: idx, Holders: []locks.Holder{{Session: s2, Mode: locks.Exclusive, Token: idx,
			Value: []byte("v"), AcquiredAt: h.now}}},
	}
	if !reflect.DeepEqual(evs, want) {
		t.Fatalf("events\n%+v\nwant\n%+v", evs, want)
	}
	if !h.f.CheckToken("a", idx) || h.f.CheckToken("a", tok) {
		t.Fatal("CheckToken does not follow the new holder")
	}
	if _, ok := h.f.Session(s1); ok {
		t.Fatal("expired session still open")
	}
	wantErr(t, func() Result { r, _ := h.acquire(s1, "b", locks.Shared, false, 0); return r }(), sessions.ErrSessionExpired)
}

func TestCloseSessionFreesLocksAtOnceAndRepeatsSucceed(t *testing.T) {
	h := newFSMHarness(t)
	s1, s2 := h.open("", 0), h.open("", 0)
	h.acquire(s1, "a", locks.Exclusive, false, 30*time.Second)
	h.acquire(s2, "a", locks.Exclusive, true, 0)
	res, evs := h.cmd(Command{Type: CmdCloseSession, Session: s1}, nil)
	h.mustOK(res)
	if len(evs) != 4 || evs[0] != (SessionClosed{Session: s1}) || evs[1].(Lost).Reason != locks.LostClosed ||
		evs[2].(Granted).Session != s2 {
		t.Fatalf("events %+v, want SessionClosed, Lost(closed), Granted, HolderChanged", evs)
	}
	before := h.state()
	res, evs = h.cmd(Command{Type: CmdCloseSession, Session: s1}, nil)
	if res.Err != nil || !res.Duplicate || len(evs) != 0 {
		t.Fatalf("repeated close = %+v %v, want OK duplicate", res, evs)
	}
	h.unchanged(before, "repeated close")
	if _, ok := h.f.NextLockDeadline(); ok {
		t.Fatal("close left a lock-delay")
	}
}

// TestLockDelayHoldsLockUntilTick: after an expiry the lock grants nothing
// until its lock-delay ends; the Tick at the deadline grants the waiter
// with the Tick's index. Reference: Chubby §2.4.
func TestLockDelayHoldsLockUntilTick(t *testing.T) {
	h := newFSMHarness(t)
	s1, s2 := h.open("", 0), h.open("", 0)
	h.acquire(s1, "a", locks.Exclusive, false, 5*time.Second)
	h.acquire(s2, "a", locks.Exclusive, true, 0)
	_, evs := h.expire(s1)
	for _, e := range evs {
		if _, ok := e.(Granted); ok {
			t.Fatalf("granted during lock-delay: %+v", evs)
		}
	}
	end, ok := h.f.NextLockDeadline()
	if !ok || end != h.now+int64(5*time.Second) {
		t.Fatalf("NextLockDeadline = %d %v", end, ok)
	}
	h.now = end - 1
	if _, evs := h.cmd(Command{Type: CmdTick}, nil); len(evs) != 0 {
		t.Fatalf("early tick: %+v", evs)
	}
	h.now = end
	_, evs = h.cmd(Command{Type: CmdTick}, nil)
	if len(evs) != 2 || evs[0] != (Granted{Session: s2, Name: "a", Mode: locks.Exclusive, Token: h.index}) {
		t.Fatalf("tick at deadline: %+v, want s2 granted at %d", evs, h.index)
	}
}

func TestSharedAndExclusiveAreGrantedInFIFOOrder(t *testing.T) {
	h := newFSMHarness(t)
	s := []uint64{h.open("", 0), h.open("", 0), h.open("", 0), h.open("", 0), h.open("", 0)}
	tok := h.hold(s[0], "m", locks.Exclusive)
	h.acquire(s[1], "m", locks.Shared, true, 0)
	h.acquire(s[2], "m", locks.Shared, true, 0)
	h.acquire(s[3], "m", locks.Exclusive, true, 0)
	h.acquire(s[4], "m", locks.Shared, true, 0)
	_, evs := h.release(s[0], "m", tok)
	var granted []uint64
	for _, e := range evs {
		if g, ok := e.(Granted); ok {
			granted = append(granted, g.Session)
			if g.Token != h.index {
				t.Fatalf("token %d, want %d", g.Token, h.index)
			}
		}
	}
	if !reflect.DeepEqual(granted, []uint64{s[1], s[2]}) {
		t.Fatalf("granted %v, want the shared run %v", granted, s[1:3])
	}
	info := h.f.Lock("m")
	if len(info.Waiters) != 2 || info.Waiters[0].Session != s[3] || info.Waiters[1].Session != s[4] {
		t.Fatalf("waiters %+v", info.Waiters)
	}
	r1, _ := h.release(s[1], "m", info.Holders[0].Token)
	_, evs = h.release(s[2], "m", info.Holders[1].Token)
	h.mustOK(r1)
	if len(evs) != 2 || evs[0].(Granted).Session != s[3] {
		t.Fatalf("after shared run: %+v, want exclusive s3", evs)
	}
}

func TestTokensStrictlyIncreaseAcrossLocks(t *testing.T) {
	h := newFSMHarness(t)
	s1, s2 := h.open("", 0), h.open("", 0)
	var last uint64
	for i, name := range []string{"a", "b", "c", "a", "b"} {
		s := []uint64{s1, s2}[i%2]
		h.cmd(Command{Type: CmdNoop}, nil)
		tok := h.hold(s, name, locks.Exclusive)
		if tok <= last {
			t.Fatalf("token %d on %q after %d", tok, name, last)
		}
		last = tok
		h.release(s, name, tok)
	}
}

func TestCancelWaitAndProclaim(t *testing.T) {
	h := newFSMHarness(t)
	s1, s2 := h.open("", 0), h.open("", 0)
	tok := h.hold(s1, "leader", locks.Exclusive)
	h.acquire(s2, "leader", locks.Exclusive, true, 0)
	res, evs := h.write(s2, CmdCancelWait, CancelWaitBody{Name: "leader"})
	h.mustOK(res)
	if len(evs) != 0 || len(h.f.Lock("leader").Waiters) != 0 {
		t.Fatalf("cancel: %+v, lock %+v", evs, h.f.Lock("leader"))
	}
	res, evs = h.write(s1, CmdProclaim, ProclaimBody{Name: "leader", Token: tok, Value: []byte("10.0.0.7:8080")})
	h.mustOK(res)
	hc, ok := evs[0].(HolderChanged)
	if len(evs) != 1 || !ok || hc.Revision != h.index || string(hc.Holders[0].Value) != "10.0.0.7:8080" {
		t.Fatalf("proclaim events %+v", evs)
	}
	if in := h.f.Lock("leader"); in.Revision != h.index || string(in.Holders[0].Value) != "10.0.0.7:8080" {
		t.Fatalf("lock %+v", in)
	}
	if locksOf := h.f.SessionLocks(s1); len(locksOf) != 1 || locksOf[0].Name != "leader" {
		t.Fatalf("SessionLocks = %+v", locksOf)
	}
}

func TestTimeNeverRunsBackwards(t *testing.T) {
	h := newFSMHarness(t)
	s := h.open("", 0)
	late := h.now
	h.mustOK(func() Result { r, _ := h.cmd(Command{Type: CmdNoop, Time: late - 500}, nil); return r }())
	if h.f.Time() != late {
		t.Fatalf("time %d, want %d", h.f.Time(), late)
	}
	res, _ := h.cmd(Command{Type: CmdAcquire, Session: s, Seq: 1, LowestUnanswered: 1, Time: late - 100},
		AcquireBody{Name: "a", Mode: locks.Exclusive})
	h.mustOK(res)
	if at := h.f.Lock("a").Holders[0].AcquiredAt; at != late {
		t.Fatalf("acquired at %d, want the last applied time %d", at, late)
	}
}

func TestNoopAndEmptyEntriesAdvanceOnlyTheIndex(t *testing.T) {
	h := newFSMHarness(t)
	h.open("", 0)
	before := h.state()
	for _, data := range [][]byte{nil, h.encode(Command{Type: CmdNoop}, nil)} {
		res, evs := h.raw(data)
		if res.Err != nil || len(evs) != 0 || h.f.AppliedIndex() != h.index {
			t.Fatalf("no-op: %+v %v, applied %d", res, evs, h.f.AppliedIndex())
		}
	}
	h.unchanged(before, "no-op")
}

func TestEntryAtOrBelowAppliedIndexIsIgnored(t *testing.T) {
	h := newFSMHarness(t)
	h.open("", 0)
	before, applied := h.state(), h.f.AppliedIndex()
	data := h.encode(Command{Type: CmdOpenSession}, OpenSessionBody{})
	for _, idx := range []uint64{applied, applied - 1, 0} {
		res, evs := h.f.Apply(idx, data)
		if len(evs) != 0 {
			t.Fatal("events from an ignored entry")
		}
		wantErr(t, res, ErrEntryApplied)
	}
	h.unchanged(before, "stale entry")
	if h.f.AppliedIndex() != applied {
		t.Fatal("applied index moved")
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Sessions.MinTTL = 0
	cfg.Locks.MaxNameLen = 0
	if _, err := New(cfg); err == nil {
		t.Fatal("New accepted a bad config")
	}
}

// TestElectionCampaignProclaimResignObserve runs an election on a lock:
// two candidates campaign, the first leads, proclaims, resigns, and the
// second takes over; an observer following revisions sees each change.
func TestElectionCampaignProclaimResignObserve(t *testing.T) {
	h := newFSMHarness(t)
	a, b := h.open("", 0), h.open("", 0)
	campaign := func(s uint64, addr string) Result {
		r, _ := h.write(s, CmdAcquire, AcquireBody{Name: "billing-leader", Mode: locks.Exclusive, Wait: true, Value: []byte(addr)})
		h.mustOK(r)
		return r
	}
	ra := campaign(a, "10.0.0.7:8080")
	rb := campaign(b, "10.0.0.8:8080")
	if !ra.Granted || !rb.Queued {
		t.Fatalf("campaigns %+v %+v", ra, rb)
	}
	leader, seen, ok := h.f.locks.Leader("billing-leader")
	if !ok || leader.Session != a || string(leader.Value) != "10.0.0.7:8080" || leader.Token != ra.Token {
		t.Fatalf("leader %+v", leader)
	}
	res, evs := h.write(a, CmdProclaim, ProclaimBody{Name: "billing-leader", Token: ra.Token, Value: []byte("10.0.0.7:9090")})
	h.mustOK(res)
	if in, changed := h.f.ChangedSince("billing-leader", seen); !changed || in.Revision != evs[0].(HolderChanged).Revision {
		t.Fatalf("observer missed the proclaim: %+v", in)
	}
	_, seen, _ = h.f.locks.Leader("billing-leader")
	_, evs = h.release(a, "billing-leader", ra.Token) // resign
	if len(evs) != 2 || evs[0].(Granted).Session != b {
		t.Fatalf("resign events %+v", evs)
	}
	hc := evs[1].(HolderChanged)
	if hc.Holders[0].Session != b || string(hc.Holders[0].Value) != "10.0.0.8:8080" || hc.Revision != h.index {
		t.Fatalf("HolderChanged %+v", hc)
	}
	if _, changed := h.f.ChangedSince("billing-leader", seen); !changed {
		t.Fatal("observer missed the new leader")
	}
}
