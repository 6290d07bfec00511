package server

import "time"

// Clock is a node's time as two readings that move independently, as the
// host's do: Now is the wall clock, which NTP or an operator may step by
// any amount in either direction; Monotonic only counts elapsed time and
// is never stepped.
//
// The server times everything leader-local with Monotonic (session
// deadlines, expiry retries, backup retention) and advances the stamps of
// commands by it (stamp.go). It reads Now for one thing only: the first
// stamp of a fresh cluster, when there is no replicated time to continue.
// A step of the wall clock therefore changes nothing a client can see.
//
// Tests inject a fake whose wall clock they can step alone.
type Clock interface {
	// Now returns the wall time.
	Now() time.Time
	// Monotonic returns the time elapsed since an origin fixed for this
	// Clock: never negative, never decreasing, unaffected by steps of
	// Now. Readings of different Clocks (of different nodes, or of one
	// node before and after a restart) are not comparable.
	Monotonic() time.Duration
}

// SystemClock returns the host's clock: Now is time.Now, Monotonic the
// monotonic reading that time.Now carries, counted from this call.
func SystemClock() Clock { return FuncClock(time.Now) }

// FuncClock returns the Clock of a function that tells the time: Now is
// now(), Monotonic is now() minus the first reading, taken here. Go
// subtracts the monotonic readings of two times that both carry one, as
// time.Now's do, so FuncClock(time.Now) is the system clock. For times
// without one (time.Unix, or a test's fake wall clock) Monotonic is the
// wall difference: both readings move together, a step of the wall clock
// is a step of the monotonic one, and now must never go backwards. That
// suits a fake that only moves forward; a test that steps the wall clock
// alone needs a Clock of its own.
func FuncClock(now func() time.Time) Clock {
	return funcClock{now: now, origin: now()}
}

type funcClock struct {
	now    func() time.Time
	origin time.Time
}

func (c funcClock) Now() time.Time { return c.now() }

func (c funcClock) Monotonic() time.Duration { return max(c.now().Sub(c.origin), 0) }
