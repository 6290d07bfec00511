package fsm

import (
	"strings"
	"testing"
	"time"

	"github.com/lockd/lockd/locks"
	"github.com/lockd/lockd/sessions"
)

// badFixture: s1 holds "held" (token tok), s2 waits for it, s3 expired,
// s4 closed.
type badFixture struct {
	h              *fsmHarness
	s1, s2, s3, s4 uint64
	tok            uint64
}

func newBadFixture(t *testing.T) *badFixture {
	h := newFSMHarness(t)
	f := &badFixture{h: h}
	f.s1, f.s2, f.s3, f.s4 = h.open("k1", 0), h.open("", 0), h.open("", 0), h.open("", 0)
	f.tok = h.hold(f.s1, "held", locks.Exclusive)
	h.acquire(f.s2, "held", locks.Exclusive, true, 0)
	h.mustOK(func() Result { r, _ := h.expire(f.s3); return r }())
	h.mustOK(func() Result { r, _ := h.cmd(Command{Type: CmdCloseSession, Session: f.s4}, nil); return r }())
	return f
}

// TestBadInputGetsTypedErrorAndChangesNothing: every refused command gets
// its typed error and code, pushes no event, and leaves sessions (with
// their dedup windows) and locks byte-for-byte as they were.
func TestBadInputGetsTypedErrorAndChangesNothing(t *testing.T) {
	long := strings.Repeat("n", DefaultConfig().Locks.MaxNameLen+1)
	big := make([]byte, DefaultConfig().Locks.MaxValueLen+1)
	acq := func(name string, mode locks.Mode, value []byte, delay time.Duration) AcquireBody {
		return AcquireBody{Name: name, Mode: mode, Value: value, LockDelay: int64(delay)}
	}
	cases := []struct {
		name string
		data func(f *badFixture) []byte
		want error
	}{
		{"undecodable bytes", func(*badFixture) []byte { return []byte{0xc1, 0x02, 0x03} }, ErrBadCommand},
		{"not a command", func(f *badFixture) []byte { b, _ := f.h.c.Encode(Command{}, nil); return b[:len(b)-1] }, ErrBadCommand},
		{"unknown type", func(f *badFixture) []byte { return f.h.encode(Command{Type: 77}, nil) }, ErrBadCommand},
		{"acquire without body", func(f *badFixture) []byte {
			return f.h.encode(f.h.writeCmd(f.s1, CmdAcquire), nil)
		}, ErrBadCommand},
		{"acquire with wrong body", func(f *badFixture) []byte {
			return f.h.encode(f.h.writeCmd(f.s1, CmdAcquire), 42)
		}, ErrBadCommand},
		{"open with wrong body", func(f *badFixture) []byte {
			return f.h.encode(Command{Type: CmdOpenSession}, "nope")
		}, ErrBadCommand},
		{"open with over-long key", func(f *badFixture) []byte {
			return f.h.encode(Command{Type: CmdOpenSession}, OpenSessionBody{Key: strings.Repeat("k", 200)})
		}, sessions.ErrInvalidKey},
		{"unknown session", func(f *badFixture) []byte {
			return f.h.encode(f.h.writeCmd(999, CmdAcquire), acq("x", locks.Shared, nil, 0))
		}, sessions.ErrUnknownSession},
		{"expired session", func(f *badFixture) []byte {
			return f.h.encode(f.h.writeCmd(f.s3, CmdAcquire), acq("x", locks.Shared, nil, 0))
		}, sessions.ErrSessionExpired},
		{"closed session", func(f *badFixture) []byte {
			return f.h.encode(f.h.writeCmd(f.s4, CmdAcquire), acq("x", locks.Shared, nil, 0))
		}, sessions.ErrSessionClosed},
		{"expire unknown session", func(f *badFixture) []byte {
			return f.h.encode(Command{Type: CmdExpireSession, Session: 999}, nil)
		}, sessions.ErrUnknownSession},
		{"expire expired session", func(f *badFixture) []byte {
			return f.h.encode(Command{Type: CmdExpireSession, Session: f.s3}, nil)
		}, sessions.ErrSessionExpired},
		{"close expired session", func(f *badFixture) []byte {
			return f.h.encode(Command{Type: CmdCloseSession, Session: f.s3}, nil)
		}, sessions.ErrSessionExpired},
		{"empty name", func(f *badFixture) []byte {
			return f.h.encode(f.h.writeCmd(f.s1, CmdAcquire), acq("", locks.Shared, nil, 0))
		}, locks.ErrInvalidName},
		{"over-long name", func(f *badFixture) []byte {
			return f.h.encode(f.h.writeCmd(f.s1, CmdAcquire), acq(long, locks.Shared, nil, 0))
		}, locks.ErrInvalidName},
		{"NUL in name", func(f *badFixture) []byte {
			return f.h.encode(f.h.writeCmd(f.s1, CmdAcquire), acq("a\x00", locks.Shared, nil, 0))
		}, locks.ErrInvalidName},
		{"over-large value", func(f *badFixture) []byte {
			return f.h.encode(f.h.writeCmd(f.s1, CmdAcquire), acq("x", locks.Shared, big, 0))
		}, locks.ErrValueTooLarge},
		{"invalid mode", func(f *badFixture) []byte {
			return f.h.encode(f.h.writeCmd(f.s1, CmdAcquire), acq("x", 0, nil, 0))
		}, locks.ErrInvalidMode},
		{"lock-delay over 60s", func(f *badFixture) []byte {
			return f.h.encode(f.h.writeCmd(f.s1, CmdAcquire), acq("x", locks.Shared, nil, 61*time.Second))
		}, locks.ErrInvalidLockDelay},
		{"negative lock-delay", func(f *badFixture) []byte {
			return f.h.encode(f.h.writeCmd(f.s1, CmdAcquire), acq("x", locks.Shared, nil, -time.Second))
		}, locks.ErrInvalidLockDelay},
		{"holder acquires again", func(f *badFixture) []byte {
			return f.h.encode(f.h.writeCmd(f.s1, CmdAcquire), acq("held", locks.Exclusive, nil, 0))
		}, locks.ErrAlreadyHolder},
		{"waiter acquires again", func(f *badFixture) []byte {
			return f.h.encode(f.h.writeCmd(f.s2, CmdAcquire), AcquireBody{Name: "held", Mode: locks.Exclusive, Wait: true})
		}, locks.ErrAlreadyWaiting},
		{"release by non-holder", func(f *badFixture) []byte {
			return f.h.encode(f.h.writeCmd(f.s2, CmdRelease), ReleaseBody{Name: "held", Token: f.tok})
		}, locks.ErrNotHolder},
		{"release with stale token", func(f *badFixture) []byte {
			return f.h.encode(f.h.writeCmd(f.s1, CmdRelease), ReleaseBody{Name: "held", Token: f.tok - 1})
		}, locks.ErrNotHolder},
		{"release of free lock", func(f *badFixture) []byte {
			return f.h.encode(f.h.writeCmd(f.s1, CmdRelease), ReleaseBody{Name: "free", Token: f.tok})
		}, locks.ErrNotHolder},
		{"cancel by non-waiter", func(f *badFixture) []byte {
			return f.h.encode(f.h.writeCmd(f.s1, CmdCancelWait), CancelWaitBody{Name: "held"})
		}, locks.ErrNotWaiting},
		{"proclaim by non-holder", func(f *badFixture) []byte {
			return f.h.encode(f.h.writeCmd(f.s2, CmdProclaim), ProclaimBody{Name: "held", Token: f.tok})
		}, locks.ErrNotHolder},
		{"proclaim over-large value", func(f *badFixture) []byte {
			return f.h.encode(f.h.writeCmd(f.s1, CmdProclaim), ProclaimBody{Name: "held", Token: f.tok, Value: big})
		}, locks.ErrValueTooLarge},
		{"forgotten sequence number", func(f *badFixture) []byte {
			// s1's acquire was seq 1, answered; seq 1 is below the mark 2 only
			// once the client says so.
			return f.h.encode(Command{Type: CmdRelease, Session: f.s1, Seq: 1, LowestUnanswered: 2},
				ReleaseBody{Name: "held", Token: f.tok})
		}, sessions.ErrResponseForgotten},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newBadFixture(t)
			data := c.data(f)
			before := f.h.state()
			res, evs := f.h.raw(data)
			wantErr(t, res, c.want)
			if len(evs) != 0 {
				t.Fatalf("refused command pushed events %+v", evs)
			}
			f.h.unchanged(before, c.name)
		})
	}
}

func TestTryAcquireOfHeldLockIsRefused(t *testing.T) {
	f := newBadFixture(t)
	s5 := f.h.open("", 0)
	before := f.h.state()
	res, evs := f.h.acquire(s5, "held", locks.Shared, false, 0)
	wantErr(t, res, locks.ErrLockHeld)
	if len(evs) != 0 {
		t.Fatalf("events %+v", evs)
	}
	f.h.unchanged(before, "refused try")
}
