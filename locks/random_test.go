package locks

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// op is one randomly chosen command.
type op struct {
	kind    int // 0 acquire, 1 release, 2 cancel, 3 end, 4 tick
	session uint64
	name    string
	mode    Mode
	wait    bool
	delay   time.Duration
	token   uint64
	reason  LostReason
	advance int64
}

// randomOp picks a command, mostly a plausible one, sometimes a wrong one.
func randomOp(r *rand.Rand, tb *Table, live []uint64) op {
	o := op{
		session: live[r.IntN(len(live))],
		name:    fmt.Sprintf("l%d", r.IntN(4)),
		advance: int64(r.IntN(3)) * int64(500*time.Millisecond),
	}
	switch k := r.IntN(20); {
	case k < 8:
		o.kind, o.mode, o.wait = 0, Mode(1+r.IntN(2)), r.IntN(3) > 0
		o.delay = time.Duration(r.IntN(3)) * time.Second
	case k < 13:
		o.kind = 1
		if info := tb.Get(o.name); len(info.Holders) > 0 && r.IntN(5) > 0 {
			hd := info.Holders[r.IntN(len(info.Holders))]
			o.session, o.token = hd.Session, hd.Token
		} else {
			o.token = uint64(r.IntN(50))
		}
	case k < 15:
		o.kind = 2
		if info := tb.Get(o.name); len(info.Waiters) > 0 {
			o.session = info.Waiters[r.IntN(len(info.Waiters))].Session
		}
	case k < 17:
		o.kind, o.reason = 3, LostReason(1+r.IntN(2))
	default:
		o.kind = 4
	}
	return o
}

func (o op) apply(tb *Table, index uint64, now int64) (AcquireResult, Effects, error) {
	switch o.kind {
	case 0:
		return tb.Acquire(index, now, AcquireRequest{Session: o.session, Name: o.name, Mode: o.mode, Wait: o.wait, LockDelay: o.delay})
	case 1:
		eff, err := tb.Release(index, now, o.session, o.name, o.token)
		return AcquireResult{}, eff, err
	case 2:
		eff, err := tb.CancelWait(index, now, o.session, o.name)
		return AcquireResult{}, eff, err
	case 3:
		return AcquireResult{}, tb.ReleaseSession(index, now, o.session, o.reason), nil
	}
	return AcquireResult{}, tb.Tick(index, now), nil
}

// TestRandomCommandsKeepInvariants drives the table with seeded random
// commands and checks after each one: the table invariants; every grant's
// token is the entry's index; tokens of one lock strictly increase from one
// exclusive holder to the next and never decrease; every Grant turns a
// waiter into a holder, once; a refused command changes nothing; and a
// table restored from a snapshot at any point behaves identically from then
// on.
func TestRandomCommandsKeepInvariants(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { runRandom(t, seed, 400) })
	}
}

func runRandom(t *testing.T, seed uint64, steps int) {
	runRandomWith(t, seed, steps, DefaultConfig().MaxWaitersPerLock)
}

// runRandomWith runs the random commands with at most maxWaiters waiters
// per lock and returns how many Acquires the limit refused.
func runRandomWith(t *testing.T, seed uint64, steps, maxWaiters int) (refused int) {
	r := rand.New(rand.NewPCG(seed, 99))
	h := newLimitedHarness(t, maxWaiters)
	var shadow *Table // restored copy, compared from the restore on
	live := []uint64{1, 2, 3, 4, 5}
	nextSession := uint64(6)
	lastToken := map[string]uint64{}
	for step := 0; step < steps; step++ {
		o := randomOp(r, h.tb, live)
		h.now += o.advance
		index := h.next()
		before := h.snapshot()
		prev := map[string]Info{}
		for _, in := range h.tb.List() {
			prev[in.Name] = in
		}
		res, eff, err := o.apply(h.tb, index, h.now)
		h.checkInvariants()
		if shadow != nil {
			sres, seff, serr := o.apply(shadow, index, h.now)
			if !reflect.DeepEqual(res, sres) || !reflect.DeepEqual(eff, seff) || fmt.Sprint(err) != fmt.Sprint(serr) {
				t.Fatalf("seed %d step %d: restored table diverged on %+v:\n%+v %+v %v\n%+v %+v %v", seed, step, o, res, eff, err, sres, seff, serr)
			}
		}
		if errors.Is(err, ErrTooManyWaiters) {
			if o.kind != 0 || !o.wait || len(prev[o.name].Waiters) < maxWaiters {
				t.Fatalf("seed %d step %d: %+v refused with %d waiters queued: %v", seed, step, o, len(prev[o.name].Waiters), err)
			}
			refused++
		} else if err == nil && o.kind == 0 && !res.Granted && len(h.tb.Get(o.name).Waiters) > maxWaiters {
			t.Fatalf("seed %d step %d: %+v queued beyond %d waiters", seed, step, o, maxWaiters)
		}
		if err != nil {
			if !errors.Is(err, ErrLockHeld) && !errors.Is(err, ErrTooManyWaiters) && !errors.Is(err, ErrNotHolder) && !errors.Is(err, ErrNotWaiting) &&
				!errors.Is(err, ErrAlreadyHolder) && !errors.Is(err, ErrAlreadyWaiting) {
				t.Fatalf("seed %d step %d: unexpected error %v", seed, step, err)
			}
			h.unchanged(before, fmt.Sprintf("seed %d step %d refused %+v", seed, step, o))
			continue
		}
		granted := eff.Grants
		if res.Granted {
			granted = append(granted, Grant{Session: o.session, Name: o.name, Token: res.Token})
		}
		for _, g := range eff.Grants {
			if !isWaiter(prev[g.Name], g.Session) {
				t.Fatalf("seed %d step %d: grant %+v to a session that was not waiting", seed, step, g)
			}
		}
		seen := map[string]bool{}
		for _, g := range granted {
			key := fmt.Sprint(g.Session, g.Name)
			if seen[key] {
				t.Fatalf("seed %d step %d: %s granted twice", seed, step, key)
			}
			seen[key] = true
			if g.Token != index {
				t.Fatalf("seed %d step %d: token %d, want entry index %d", seed, step, g.Token, index)
			}
			in := h.tb.Get(g.Name)
			exclusive := len(in.Holders) == 1 && in.Holders[0].Mode == Exclusive
			if g.Token < lastToken[g.Name] || (exclusive && g.Token == lastToken[g.Name]) {
				t.Fatalf("seed %d step %d: token %d on %q after %d", seed, step, g.Token, g.Name, lastToken[g.Name])
			}
			lastToken[g.Name] = g.Token
		}
		if o.kind == 3 {
			for i, s := range live {
				if s == o.session {
					live[i] = nextSession
					nextSession++
				}
			}
		}
		if shadow == nil && step == steps/2 {
			shadow, _ = New(h.tb.Config())
			snap := h.snapshot()
			if err := shadow.Restore(snap); err != nil {
				t.Fatal(err)
			}
			again, _ := shadow.Snapshot()
			if !bytes.Equal(snap, again) {
				t.Fatalf("seed %d: restored snapshot differs", seed)
			}
		}
	}
	if shadow != nil {
		a, _ := shadow.Snapshot()
		if !bytes.Equal(a, h.snapshot()) {
			t.Fatalf("seed %d: restored table ended in another state", seed)
		}
	}
	return refused
}

func isWaiter(in Info, session uint64) bool {
	for _, w := range in.Waiters {
		if w.Session == session {
			return true
		}
	}
	return false
}
