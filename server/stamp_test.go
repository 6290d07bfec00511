package server

import (
	"sync/atomic"
	"testing"
	"time"
)

// newTestStamps returns a stampClock on node n1 of a fresh fake clock,
// with the applied time it reads.
func newTestStamps() (*stampClock, *fakeClock, *atomic.Int64) {
	fc := newFakeClock()
	applied := new(atomic.Int64)
	return newStampClock(fc.node("n1"), applied), fc, applied
}

// The first leader of a fresh cluster (nothing applied yet) starts
// replicated time at its wall clock: there is no earlier time to
// continue.
func TestFirstStampOfAFreshClusterIsTheLeadersWallClock(t *testing.T) {
	sc, fc, _ := newTestStamps()
	fc.StepNodeWall("n1", time.Hour)
	sc.takeOffice()
	if got, want := sc.stamp(), fc.Now().Add(time.Hour).UnixNano(); got != want {
		t.Fatalf("first stamp %d, want the wall clock %d", got, want)
	}
}

// While a node leads, its stamps advance by the real time elapsed on its
// monotonic clock; steps of its wall clock change nothing.
func TestStampsAdvanceByMonotonicTimeOnly(t *testing.T) {
	sc, fc, applied := newTestStamps()
	applied.Store(1_000)
	sc.takeOffice()
	if got := sc.stamp(); got != 1_000 {
		t.Fatalf("stamp on taking office %d, want the applied time 1000", got)
	}
	fc.StepWall(time.Hour)
	if got := sc.stamp(); got != 1_000 {
		t.Fatalf("stamp after a +1 h wall step %d, want 1000", got)
	}
	fc.StepWall(-2 * time.Hour)
	fc.Advance(5 * time.Second)
	if got, want := sc.stamp(), 1_000+int64(5*time.Second); got != want || sc.now() != want {
		t.Fatalf("stamp after a −2 h wall step and 5 s %d (now %d), want %d", got, sc.now(), want)
	}
}

// A node taking office continues from the applied time, whatever it
// stamped in an earlier term and however long it was away: stamps do not
// leap by the time it did not lead.
func TestStampsContinueFromAppliedTimeOnTakingOffice(t *testing.T) {
	sc, fc, applied := newTestStamps()
	applied.Store(1_000)
	sc.takeOffice()
	sc.leaveOffice()
	fc.Advance(time.Hour)
	applied.Store(2_000) // what the other leader stamped meanwhile
	if got := sc.stamp(); got != 2_000 {
		t.Fatalf("stamp out of office %d, want the applied time 2000", got)
	}
	sc.takeOffice()
	fc.Advance(time.Second)
	if got, want := sc.stamp(), 2_000+int64(time.Second); got != want {
		t.Fatalf("stamp a second into the new term %d, want %d", got, want)
	}
}

// An earlier leader's entry applied after this node took office, with a
// later stamp, moves the clock up to it; stamps never go backwards.
func TestStampsCatchUpWithALaterAppliedTimeAndNeverGoBack(t *testing.T) {
	sc, fc, applied := newTestStamps()
	applied.Store(1_000)
	sc.takeOffice()
	fc.Advance(10)
	if got := sc.stamp(); got != 1_010 {
		t.Fatalf("stamp %d, want 1010", got)
	}
	applied.Store(5_000)
	if got := sc.stamp(); got != 5_000 {
		t.Fatalf("stamp after a later applied time %d, want 5000", got)
	}
	fc.Advance(7)
	if got := sc.stamp(); got != 5_007 {
		t.Fatalf("stamp %d, want 5007: the clock continues from the applied time", got)
	}
	last := sc.stamp()
	for i := 0; i < 100; i++ {
		if i%10 == 0 {
			fc.StepWall(-time.Hour)
		}
		fc.Advance(time.Duration(i % 3))
		if got := sc.stamp(); got < last {
			t.Fatalf("stamp went back from %d to %d", last, got)
		} else {
			last = got
		}
	}
}
