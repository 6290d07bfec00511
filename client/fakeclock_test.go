package client

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when a test advances it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  map[*fakeTimer]struct{}
	armed   chan struct{} // closed and replaced when a timer is armed
	stopped bool
}

type fakeTimer struct {
	clk *fakeClock
	at  time.Time
	ch  chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Unix(1_700_000_000, 0), timers: map[*fakeTimer]struct{}{}, armed: make(chan struct{})}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) NewTimer(d time.Duration) timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &fakeTimer{clk: f, at: f.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- f.now
		return t
	}
	f.timers[t] = struct{}{}
	close(f.armed)
	f.armed = make(chan struct{})
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	_, ok := t.clk.timers[t]
	delete(t.clk.timers, t)
	return ok
}

// waitArmed blocks until at least one timer is pending (the loop under
// test is parked on it) and returns the earliest deadline.
func (f *fakeClock) waitArmed(t *testing.T) time.Time {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		var first time.Time
		for tm := range f.timers {
			if first.IsZero() || tm.at.Before(first) {
				first = tm.at
			}
		}
		armed := f.armed
		f.mu.Unlock()
		if !first.IsZero() {
			return first
		}
		select {
		case <-armed:
		case <-deadline.C:
			t.Fatal("fake clock: no timer armed within 10s")
		}
	}
}

// step waits for a pending timer and moves time to its deadline, firing it.
func (f *fakeClock) step(t *testing.T) {
	t.Helper()
	at := f.waitArmed(t)
	f.advanceTo(at)
}

// advanceTo moves time to at (never back) and fires every due timer.
func (f *fakeClock) advanceTo(at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if at.After(f.now) {
		f.now = at
	}
	for tm := range f.timers {
		if !tm.at.After(f.now) {
			delete(f.timers, tm)
			tm.ch <- f.now
		}
	}
}

// waitArmedOr is waitArmed that also returns (zero, false) once ch closes.
func (f *fakeClock) waitArmedOr(t *testing.T, ch <-chan struct{}) (time.Time, bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		var first time.Time
		for tm := range f.timers {
			if first.IsZero() || tm.at.Before(first) {
				first = tm.at
			}
		}
		armed := f.armed
		f.mu.Unlock()
		if !first.IsZero() {
			return first, true
		}
		select {
		case <-armed:
		case <-ch:
			return time.Time{}, false
		case <-deadline.C:
			t.Fatal("fake clock: no timer armed within 10s")
		}
	}
}
