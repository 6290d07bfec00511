package locks

import (
	"fmt"
	"maps"
	"slices"
)

// Every command below is applied by the entry at index, at time now (the
// leader's stamp, unix nanoseconds). A command that returns an error changed
// nothing. Grants made by a command carry its index as their fencing token.

// Acquire grants the lock at once if it is free of conflicting holders, no
// waiter is queued (FIFO: no barging) and no lock-delay is running;
// otherwise it queues the request (Wait) or fails with ErrLockHeld.
func (t *Table) Acquire(index uint64, now int64, req AcquireRequest) (AcquireResult, Effects, error) {
	if err := t.ValidateName(req.Name); err != nil {
		return AcquireResult{}, Effects{}, err
	}
	if !req.Mode.valid() {
		return AcquireResult{}, Effects{}, fmt.Errorf("%w: %v", ErrInvalidMode, req.Mode)
	}
	if err := t.validateValue(req.Value); err != nil {
		return AcquireResult{}, Effects{}, err
	}
	if req.LockDelay < 0 || req.LockDelay > t.cfg.MaxLockDelay {
		return AcquireResult{}, Effects{}, fmt.Errorf("%w: %v not in [0, %v]", ErrInvalidLockDelay, req.LockDelay, t.cfg.MaxLockDelay)
	}
	grantable := true
	if l, ok := t.locks[req.Name]; ok {
		switch h, waiting := l.role(req.Session); {
		case h >= 0:
			return AcquireResult{}, Effects{}, fmt.Errorf("%w: session %d on %q", ErrAlreadyHolder, req.Session, req.Name)
		case waiting:
			return AcquireResult{}, Effects{}, fmt.Errorf("%w: session %d on %q", ErrAlreadyWaiting, req.Session, req.Name)
		}
		grantable = l.grantableAfterPromote(now, req.Mode)
		if !grantable && !req.Wait {
			if l.delayUntil > now {
				return AcquireResult{}, Effects{}, fmt.Errorf("%w: %q in lock-delay until %d", ErrLockHeld, req.Name, l.delayUntil)
			}
			return AcquireResult{}, Effects{}, fmt.Errorf("%w: %q", ErrLockHeld, req.Name)
		}
		if !grantable {
			if n := l.waitersAfterPromote(now); n >= t.cfg.MaxWaitersPerLock {
				return AcquireResult{}, Effects{}, fmt.Errorf("%w: %q has %d waiters, the limit is %d",
					ErrTooManyWaiters, req.Name, n, t.cfg.MaxWaitersPerLock)
			}
		}
	}

	var eff Effects
	l := t.lookupOrCreate(req.Name)
	changed := t.promote(l, index, now, &eff)
	t.link(req.Session, req.Name)
	var res AcquireResult
	if grantable {
		l.holders = append(l.holders, Holder{Session: req.Session, Mode: req.Mode, Token: index,
			Value: req.Value, AcquiredAt: now, LockDelay: req.LockDelay})
		l.revision = index
		changed = true
		res = AcquireResult{Granted: true, Token: index}
	} else {
		l.waiters.push(Waiter{Session: req.Session, Mode: req.Mode, Value: req.Value,
			LockDelay: req.LockDelay, QueuedAt: now, QueuedIndex: index})
		res = AcquireResult{Position: l.waiters.Len()}
	}
	if changed {
		eff.Changes = append(eff.Changes, l.change())
	}
	return res, eff, nil
}

// grantableAfterPromote reports whether a new request in mode m would be
// granted at time now, counting the waiters that a lock-delay ending by now
// lets through first. It changes nothing.
func (l *lock) grantableAfterPromote(now int64, m Mode) bool {
	if l.delayUntil != 0 && now < l.delayUntil {
		return false
	}
	k := headRun(l.holders, &l.waiters)
	if l.waiters.Len() > k {
		return false
	}
	switch {
	case k > 0:
		head, _ := l.waiters.front()
		return m == Shared && head.Mode == Shared
	case len(l.holders) > 0:
		return m == Shared && l.holders[0].Mode == Shared
	}
	return true
}

// waitersAfterPromote returns how many waiters the queue would hold at
// time now once a lock-delay that ended by now let its head run through. It
// changes nothing.
func (l *lock) waitersAfterPromote(now int64) int {
	if l.delayUntil != 0 && now < l.delayUntil {
		return l.waiters.Len()
	}
	return l.waiters.Len() - headRun(l.holders, &l.waiters)
}

// Release frees the session's hold of the lock. The token must be the one
// the hold was granted with, so a stale or repeated release cannot free a
// newer holder. The waiters it lets through are granted.
func (t *Table) Release(index uint64, now int64, session uint64, name string, token uint64) (Effects, error) {
	l, ok := t.locks[name]
	if !ok {
		return Effects{}, fmt.Errorf("%w: %q is free", ErrNotHolder, name)
	}
	h, _ := l.role(session)
	if h < 0 || l.holders[h].Token != token {
		return Effects{}, fmt.Errorf("%w: session %d token %d on %q", ErrNotHolder, session, token, name)
	}
	l.holders = slices.Delete(l.holders, h, h+1)
	t.unlink(session, name)
	l.revision = index
	var eff Effects
	t.promote(l, index, now, &eff)
	eff.Changes = append(eff.Changes, l.change())
	t.dropIfIdle(l)
	return eff, nil
}

// CancelWait removes the session's queued Acquire. The waiters behind it may
// then be granted (a cancelled exclusive head lets shared ones join shared
// holders).
func (t *Table) CancelWait(index uint64, now int64, session uint64, name string) (Effects, error) {
	l, ok := t.locks[name]
	if !ok {
		return Effects{}, fmt.Errorf("%w: session %d on %q", ErrNotWaiting, session, name)
	}
	if _, ok := l.waiters.remove(session); !ok {
		return Effects{}, fmt.Errorf("%w: session %d on %q", ErrNotWaiting, session, name)
	}
	t.unlink(session, name)
	var eff Effects
	if t.promote(l, index, now, &eff) {
		eff.Changes = append(eff.Changes, l.change())
	}
	t.dropIfIdle(l)
	return eff, nil
}

// Proclaim replaces the value of the session's hold (an election leader
// announcing a new identity). The token must match the hold.
func (t *Table) Proclaim(index uint64, session uint64, name string, token uint64, value []byte) (Effects, error) {
	if err := t.validateValue(value); err != nil {
		return Effects{}, err
	}
	l, ok := t.locks[name]
	if !ok {
		return Effects{}, fmt.Errorf("%w: %q is free", ErrNotHolder, name)
	}
	h, _ := l.role(session)
	if h < 0 || l.holders[h].Token != token {
		return Effects{}, fmt.Errorf("%w: session %d token %d on %q", ErrNotHolder, session, token, name)
	}
	l.holders[h].Value = value
	l.revision = index
	return Effects{Changes: []Change{l.change()}}, nil
}

// ReleaseSession removes every hold and wait of a session that ended. If it
// expired, each lock it held stays ungrantable until now + that hold's
// lock-delay; if it was closed, its locks are freed at once. It reports the
// lost holds, the grants it made and the changed locks, by lock name.
func (t *Table) ReleaseSession(index uint64, now int64, session uint64, reason LostReason) Effects {
	if reason != LostExpired && reason != LostClosed {
		panic(fmt.Sprintf("locks: release session with reason %d", reason))
	}
	var eff Effects
	for _, name := range slices.Sorted(maps.Keys(t.bySession[session])) {
		l := t.locks[name]
		h, waiting := l.role(session)
		changed := false
		switch {
		case waiting:
			l.waiters.remove(session)
		case h >= 0:
			hd := l.holders[h]
			l.holders = slices.Delete(l.holders, h, h+1)
			eff.Lost = append(eff.Lost, Lost{Session: session, Name: name, Token: hd.Token, Reason: reason})
			if reason == LostExpired && hd.LockDelay > 0 {
				t.setDelay(l, addDuration(now, int64(hd.LockDelay)))
			}
			l.revision = index
			changed = true
		default:
			panic(fmt.Sprintf("locks: session %d indexed on %q but not there", session, name))
		}
		t.unlink(session, name)
		if t.promote(l, index, now, &eff) {
			changed = true
		}
		if changed {
			eff.Changes = append(eff.Changes, l.change())
		}
		t.dropIfIdle(l)
	}
	return eff
}

// Tick ends every lock-delay that is over by now and grants the waiters it
// held back. The leader proposes it at NextDeadline.
func (t *Table) Tick(index uint64, now int64) Effects {
	var eff Effects
	for _, name := range slices.Sorted(maps.Keys(t.delayed)) {
		l := t.locks[name]
		if l.delayUntil > now {
			continue
		}
		if t.promote(l, index, now, &eff) {
			eff.Changes = append(eff.Changes, l.change())
		}
		t.dropIfIdle(l)
	}
	return eff
}

// promote ends a lock-delay that is over and grants the run of waiters at
// the head of the queue that is compatible with the holders: one exclusive
// waiter, or every consecutive shared one. It reports whether it granted.
func (t *Table) promote(l *lock, index uint64, now int64, eff *Effects) bool {
	if l.delayUntil != 0 {
		if now < l.delayUntil {
			return false
		}
		l.delayUntil = 0
		delete(t.delayed, l.name)
	}
	k := headRun(l.holders, &l.waiters)
	if k == 0 {
		return false
	}
	for range k {
		w := l.waiters.popFront()
		l.holders = append(l.holders, Holder{Session: w.Session, Mode: w.Mode, Token: index,
			Value: w.Value, AcquiredAt: now, LockDelay: w.LockDelay})
		eff.Grants = append(eff.Grants, Grant{Session: w.Session, Name: l.name, Mode: w.Mode, Token: index})
	}
	l.revision = index
	return true
}

// headRun returns how many waiters at the head of the queue could hold
// together with holders. It walks only that run (the waiters it would
// grant), never the rest of the queue.
func headRun(holders []Holder, waiters *waitQueue) int {
	head, ok := waiters.front()
	if !ok || !compatible(holders, head.Mode) {
		return 0
	}
	if head.Mode == Exclusive {
		return 1
	}
	n := 0
	for w := range waiters.all() {
		if w.Mode != Shared {
			break
		}
		n++
	}
	return n
}

func (l *lock) change() Change {
	return Change{Name: l.name, Revision: l.revision, Holders: cloneHolders(l.holders)}
}

// addDuration returns now + d, saturating instead of overflowing.
func addDuration(now, d int64) int64 {
	const maxInt64 = 1<<63 - 1
	if d > 0 && now > maxInt64-d {
		return maxInt64
	}
	return now + d
}
