package fsm

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/lockd/lockd/locks"
	"github.com/lockd/lockd/sessions"
)

// The invariants hold after every one of many random commands (opens,
// acquires with and without waiting, releases, expiries, ticks, replays).
func TestInvariantsHoldUnderRandomCommands(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		r := rand.New(rand.NewPCG(seed, 11))
		h := newFSMHarness(t)
		var replay [][]byte
		held := 0
		for step := 0; step < 400; step++ {
			h.raw(randomCommand(r, h, &replay))
			if err := h.f.CheckInvariants(); err != nil {
				t.Fatalf("seed %d step %d: %v", seed, step, err)
			}
			for _, l := range h.f.Locks() {
				held += len(l.Holders) + len(l.Waiters)
			}
		}
		if held == 0 {
			t.Fatalf("seed %d: no lock was ever held; the check proves nothing", seed)
		}
	}
}

// Negative control: each invariant, broken on purpose in otherwise good
// state, is reported.
func TestCheckStateCatchesEachBrokenInvariant(t *testing.T) {
	good := func() ([]sessions.Info, []locks.Info) {
		return []sessions.Info{{ID: 3}, {ID: 5}, {ID: 7}}, []locks.Info{
			{Name: "x", Revision: 8, Holders: []locks.Holder{{Session: 3, Mode: locks.Exclusive, Token: 8}},
				Waiters: []locks.Waiter{{Session: 5, Mode: locks.Shared, QueuedIndex: 9}}},
			{Name: "y", Revision: 9, Holders: []locks.Holder{{Session: 5, Mode: locks.Shared, Token: 6}, {Session: 7, Mode: locks.Shared, Token: 9}}},
		}
	}
	// counts derives the per-session index from the locks, as the table does,
	// unless a test breaks it.
	counts := func(ls []locks.Info) func(uint64, string) (int, bool) {
		return func(s uint64, name string) (int, bool) {
			n, has := 0, false
			for _, l := range ls {
				for _, id := range sessionsOf(l) {
					if id == s {
						n++
						has = has || l.Name == name
					}
				}
			}
			return n, has
		}
	}
	ss, ls := good()
	if err := CheckState(10, ss, ls, counts(ls)); err != nil {
		t.Fatalf("good state: %v", err)
	}
	breaks := map[string]func(ss []sessions.Info, ls []locks.Info) ([]sessions.Info, []locks.Info, uint64){
		"session above the applied index": func(ss []sessions.Info, ls []locks.Info) ([]sessions.Info, []locks.Info, uint64) {
			return append(ss, sessions.Info{ID: 11}), ls, 10
		},
		"holder's session not open": func(ss []sessions.Info, ls []locks.Info) ([]sessions.Info, []locks.Info, uint64) {
			return ss[1:], ls, 10
		},
		"two exclusive holders": func(ss []sessions.Info, ls []locks.Info) ([]sessions.Info, []locks.Info, uint64) {
			ls[0].Holders = append(ls[0].Holders, locks.Holder{Session: 7, Mode: locks.Exclusive, Token: 8})
			return ss, ls, 10
		},
		"a waiter twice": func(ss []sessions.Info, ls []locks.Info) ([]sessions.Info, []locks.Info, uint64) {
			ls[0].Waiters = append(ls[0].Waiters, ls[0].Waiters[0])
			return ss, ls, 10
		},
		"a holder also waiting": func(ss []sessions.Info, ls []locks.Info) ([]sessions.Info, []locks.Info, uint64) {
			ls[0].Waiters = append(ls[0].Waiters, locks.Waiter{Session: 3, QueuedIndex: 9})
			return ss, ls, 10
		},
		"tokens going down": func(ss []sessions.Info, ls []locks.Info) ([]sessions.Info, []locks.Info, uint64) {
			ls[1].Holders[0].Token, ls[1].Holders[1].Token = 9, 6
			return ss, ls, 10
		},
		"token above the revision": func(ss []sessions.Info, ls []locks.Info) ([]sessions.Info, []locks.Info, uint64) {
			ls[0].Holders[0].Token = 9
			return ss, ls, 10
		},
		"a waiter that could hold": func(ss []sessions.Info, ls []locks.Info) ([]sessions.Info, []locks.Info, uint64) {
			ls[0].Holders = nil
			return ss, ls, 10
		},
		"an empty lock kept": func(ss []sessions.Info, ls []locks.Info) ([]sessions.Info, []locks.Info, uint64) {
			ls[1].Holders = nil
			return ss, ls, 10
		},
		"waiter queued in the future": func(ss []sessions.Info, ls []locks.Info) ([]sessions.Info, []locks.Info, uint64) {
			ls[0].Waiters[0].QueuedIndex = 12
			return ss, ls, 10
		},
	}
	for name, brk := range breaks {
		t.Run(name, func(t *testing.T) {
			ss, ls, index := brk(good())
			if err := CheckState(index, ss, ls, counts(ls)); !errors.Is(err, ErrBrokenInvariant) {
				t.Fatalf("got %v, want ErrBrokenInvariant", err)
			}
		})
	}
	t.Run("per-session count disagreeing", func(t *testing.T) {
		ss, ls := good()
		wrong := func(s uint64, name string) (int, bool) { n, has := counts(ls)(s, name); return n + 1, has }
		if err := CheckState(10, ss, ls, wrong); !errors.Is(err, ErrBrokenInvariant) {
			t.Fatalf("got %v, want ErrBrokenInvariant", err)
		}
	})
}
