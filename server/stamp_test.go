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
	sc.takeOffice(1)
	if got, want := sc.stamp(), fc.Now().Add(time.Hour).UnixNano(); got != want {
		t.Fatalf("first stamp %d, want the wall clock %d", got, want)
	}
}

// While a node leads, its stamps advance by the real time elapsed on its
// monotonic clock; steps of its wall clock change nothing.
func TestStampsAdvanceByMonotonicTimeOnly(t *testing.T) {
	sc, fc, applied := newTestStamps()
	applied.Store(1_000)
	sc.takeOffice(1)
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
	sc.takeOffice(1)
	sc.leaveOffice()
	fc.Advance(time.Hour)
	applied.Store(2_000) // what the other leader stamped meanwhile
	if got := sc.stamp(); got != 2_000 {
		t.Fatalf("stamp out of office %d, want the applied time 2000", got)
	}
	sc.takeOffice(1)
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
	sc.takeOffice(1)
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

// A node that takes office with nothing applied starts from its wall
// clock, provisionally: once its read index confirms it leads (and the
// earlier terms' entries are applied), it continues from their time, so
// a wall clock an hour ahead does not carry over. In a fresh cluster,
// where nothing else was stamped, the wall clock stays.
func TestProvisionalStartFromTheWallClockGivesWayToTheAppliedTime(t *testing.T) {
	sc, fc, applied := newTestStamps()
	fc.StepNodeWall("n1", time.Hour)
	sc.takeOffice(1)
	wall := fc.Now().Add(time.Hour).UnixNano()
	if got := sc.stamp(); got != wall {
		t.Fatalf("provisional stamp %d, want the wall clock %d", got, wall)
	}
	earlier := fc.Now().Add(-time.Minute).UnixNano() // what earlier leaders stamped
	applied.Store(earlier)
	sc.confirmed(2) // another office: changes nothing
	if got := sc.stamp(); got != wall {
		t.Fatalf("stamp after another office's confirmation %d, want %d", got, wall)
	}
	sc.confirmed(1)
	fc.Advance(time.Second)
	if got, want := sc.stamp(), earlier+int64(time.Second); got != want {
		t.Fatalf("stamp a second after confirmation %d, want the applied time plus 1s, %d", got, want)
	}

	fresh, fc2, _ := newTestStamps()
	fresh.takeOffice(1)
	fresh.confirmed(1)
	fc2.Advance(time.Second)
	if got, want := fresh.stamp(), fc2.Now().UnixNano(); got != want {
		t.Fatalf("fresh cluster's stamp after confirmation %d, want the wall clock %d", got, want)
	}
}
