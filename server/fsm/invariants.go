package fsm

import (
	"errors"
	"fmt"

	"github.com/lockd/lockd/locks"
	"github.com/lockd/lockd/sessions"
)

// ErrBrokenInvariant: CheckInvariants found the state inconsistent. Only a
// bug in lockd produces it; tests and fuzzers call CheckInvariants after
// every step.
var ErrBrokenInvariant = errors.New("fsm: broken invariant")

// CheckInvariants checks the whole state and returns the first broken
// invariant (wrapping ErrBrokenInvariant). It reads the state only; call
// it under the same lock as any other query.
func (f *Machine) CheckInvariants() error {
	return CheckState(f.index, f.Sessions(), f.Locks(), f.SessionLockCount)
}

// CheckState checks state given as queries return it, at applied index
// index: the invariants of CheckInvariants.
//
//   - no session ID above the applied index (an ID is its opening index);
//   - every lock in the table has a holder, a waiter or a lock-delay;
//   - one exclusive holder, or any number of shared ones;
//   - every holder and waiter belongs to an open session, and no session
//     appears twice among a lock's holders and waiters together;
//   - fencing tokens and queue indexes are not zero, never above the
//     lock's revision (tokens) or the applied index, and holders' tokens
//     never decrease in grant order;
//   - with no lock-delay, the first waiter could not hold alongside the
//     holders (else it would have been granted);
//   - the per-session lock count (lockCount) agrees with the locks.
func CheckState(index uint64, ss []sessions.Info, ls []locks.Info, lockCount func(session uint64, name string) (int, bool)) error {
	open := make(map[uint64]bool, len(ss))
	for _, s := range ss {
		if uint64(s.ID) == 0 || uint64(s.ID) > index {
			return fmt.Errorf("%w: session %d with applied index %d", ErrBrokenInvariant, s.ID, index)
		}
		open[uint64(s.ID)] = true
	}
	perSession := map[uint64]int{}
	for _, l := range ls {
		if err := checkLock(index, l, open); err != nil {
			return err
		}
		for _, h := range l.Holders {
			perSession[h.Session]++
		}
		for _, w := range l.Waiters {
			perSession[w.Session]++
		}
		for _, s := range sessionsOf(l) {
			if _, has := lockCount(s, l.Name); !has {
				return fmt.Errorf("%w: session %d is in lock %q but its index lacks it", ErrBrokenInvariant, s, l.Name)
			}
		}
	}
	for s := range open {
		if n, _ := lockCount(s, ""); n != perSession[s] {
			return fmt.Errorf("%w: session %d counts %d locks, the locks name it %d times", ErrBrokenInvariant, s, n, perSession[s])
		}
	}
	return nil
}

func sessionsOf(l locks.Info) []uint64 {
	out := make([]uint64, 0, len(l.Holders)+len(l.Waiters))
	for _, h := range l.Holders {
		out = append(out, h.Session)
	}
	for _, w := range l.Waiters {
		out = append(out, w.Session)
	}
	return out
}

func checkLock(index uint64, l locks.Info, open map[uint64]bool) error {
	broken := func(format string, args ...any) error {
		return fmt.Errorf("%w: lock %q: %s", ErrBrokenInvariant, l.Name, fmt.Sprintf(format, args...))
	}
	if len(l.Holders) == 0 && len(l.Waiters) == 0 && l.DelayUntil == 0 {
		return broken("kept with no holder, waiter or delay")
	}
	if l.Revision > index {
		return broken("revision %d above applied index %d", l.Revision, index)
	}
	seen := map[uint64]bool{}
	for _, s := range sessionsOf(l) {
		if !open[s] {
			return broken("names session %d, which is not open", s)
		}
		if seen[s] {
			return broken("names session %d twice", s)
		}
		seen[s] = true
	}
	var last uint64
	for i, h := range l.Holders {
		if h.Mode == locks.Exclusive && len(l.Holders) > 1 {
			return broken("an exclusive holder among %d", len(l.Holders))
		}
		if h.Token == 0 || h.Token > l.Revision || h.Token < last {
			return broken("holder %d token %d (previous %d, revision %d)", i, h.Token, last, l.Revision)
		}
		last = h.Token
	}
	for i, w := range l.Waiters {
		if w.QueuedIndex == 0 || w.QueuedIndex > index {
			return broken("waiter %d queued at index %d (applied %d)", i, w.QueuedIndex, index)
		}
	}
	if len(l.Waiters) > 0 && l.DelayUntil == 0 {
		head := l.Waiters[0]
		compatible := len(l.Holders) == 0 ||
			(head.Mode == locks.Shared && l.Holders[0].Mode == locks.Shared)
		if compatible {
			return broken("first waiter (session %d) could hold but waits", head.Session)
		}
	}
	return nil
}
